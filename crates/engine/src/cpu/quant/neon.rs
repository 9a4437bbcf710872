//! NEON building blocks shared by the aarch64 integer kernels (`int8_gemm::neon`, `kquant_neon`).
//!
//! Every kernel is generic over `DOT`: with it, byte dot products use the Armv8.2 dot-product
//! extension's `sdot`; without it, widening multiplies (`smull`, `smull2`) whose 16-bit products
//! are added pairwise into 32-bit lanes (`sadalp`). Both give the same exact integers, so the
//! float steps after them, and the results, are the same. `vdotq_s32` is still unstable in Rust,
//! hence `sdot` as inline assembly; it lives in a `dotprod` function that LLVM inlines into the
//! `dotprod` entry points (and only those call it).

use std::arch::aarch64::*;

/// `acc` + per 32-bit lane the dot product of its four signed bytes of `a` and `b`.
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: a register-only instruction the enabled target features provide.
    unsafe {
        std::arch::asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

/// Partial sums of the sixteen products `a[i] * b[i]` added to `acc`; only the sum of the four
/// lanes means anything (the K-quant kernels reduce it).
///
/// # Safety
/// With `DOT` the CPU must have the dot-product extension.
#[inline(always)]
pub(crate) unsafe fn dot16<const DOT: bool>(
    acc: int32x4_t,
    a: int8x16_t,
    b: int8x16_t,
) -> int32x4_t {
    if DOT {
        unsafe { sdot(acc, a, b) }
    } else {
        let low = vmull_s8(vget_low_s8(a), vget_low_s8(b));
        vpadalq_s16(vpadalq_s16(acc, low), vmull_high_s8(a, b))
    }
}

/// Four 32-bit lanes, each the dot product of one group of four bytes (one weight row of the
/// packed layout against four activation bytes), accumulated over several steps. Without `DOT`
/// the products are kept as pair sums, rows 0-1 in `lo` and 2-3 in `hi`, until `finish`.
#[derive(Clone, Copy)]
pub(crate) struct LaneDots {
    lo: int32x4_t,
    hi: int32x4_t,
}

impl LaneDots {
    #[inline(always)]
    pub(crate) fn new() -> LaneDots {
        // SAFETY: NEON is part of every aarch64 target.
        unsafe {
            LaneDots {
                lo: vdupq_n_s32(0),
                hi: vdupq_n_s32(0),
            }
        }
    }

    /// Adds, for each lane `i`, the dot product of bytes `4i..4i + 4` of `w` and of `a`.
    ///
    /// # Safety
    /// With `DOT` the CPU must have the dot-product extension.
    #[inline(always)]
    pub(crate) unsafe fn add<const DOT: bool>(&mut self, w: int8x16_t, a: int8x16_t) {
        if DOT {
            self.lo = unsafe { sdot(self.lo, w, a) };
        } else {
            self.lo = vpadalq_s16(self.lo, vmull_s8(vget_low_s8(w), vget_low_s8(a)));
            self.hi = vpadalq_s16(self.hi, vmull_high_s8(w, a));
        }
    }

    /// The four lanes' dot products.
    #[inline(always)]
    pub(crate) fn finish<const DOT: bool>(self) -> int32x4_t {
        if DOT {
            self.lo
        } else {
            // SAFETY: NEON is part of every aarch64 target.
            unsafe { vpaddq_s32(self.lo, self.hi) }
        }
    }
}

/// Four little-endian f16 values at `p` (any alignment) as f32, exactly (`fcvtl` is base
/// Armv8; the intrinsic `vcvt_f32_f16` needs Rust's unstable f16 type).
///
/// # Safety
/// `p` must be valid for reading 8 bytes.
#[inline(always)]
pub(crate) unsafe fn f16x4_to_f32(p: *const u8) -> float32x4_t {
    let half = unsafe { vcreate_u16(p.cast::<u64>().read_unaligned()) };
    let wide: float32x4_t;
    // SAFETY: a register-only instruction of the base aarch64 instruction set.
    unsafe {
        std::arch::asm!(
            "fcvtl {wide:v}.4s, {half:v}.4h",
            wide = lateout(vreg) wide,
            half = in(vreg) half,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    wide
}

/// Four activation bytes at `p` (any alignment) repeated in every 32-bit lane.
///
/// # Safety
/// `p` must be valid for reading 4 bytes.
#[inline(always)]
pub(crate) unsafe fn broadcast4(p: *const u8) -> int8x16_t {
    unsafe { vreinterpretq_s8_s32(vdupq_n_s32(p.cast::<i32>().read_unaligned())) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::{detect, Isa};

    fn bytes(seed: u8) -> [i8; 16] {
        std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(seed) as i8)
    }

    fn lane_dots<const DOT: bool>(w: [i8; 16], a: [i8; 16]) -> [i32; 4] {
        unsafe {
            let mut d = LaneDots::new();
            d.add::<DOT>(vld1q_s8(w.as_ptr()), vld1q_s8(a.as_ptr()));
            d.add::<DOT>(vld1q_s8(a.as_ptr()), vld1q_s8(w.as_ptr()));
            let mut out = [0i32; 4];
            vst1q_s32(out.as_mut_ptr(), d.finish::<DOT>());
            out
        }
    }

    #[test]
    fn lane_dots_are_per_four_bytes_with_and_without_sdot() {
        let (w, mut a) = (bytes(3), bytes(200));
        a[0] = -128;
        let want: [i32; 4] = std::array::from_fn(|lane| {
            (4 * lane..4 * lane + 4)
                .map(|i| 2 * i32::from(w[i]) * i32::from(a[i]))
                .sum()
        });
        assert_eq!(lane_dots::<false>(w, a), want);
        if detect() >= Isa::NeonDotprod {
            assert_eq!(lane_dots::<true>(w, a), want);
        }
    }

    #[test]
    fn f16_conversion_is_exact_for_every_class() {
        let bits: [u16; 8] = [
            0x3c00, 0x8001, 0x7bff, 0x0400, 0xfc00, 0x0000, 0x8000, 0x3555,
        ];
        let raw: Vec<u8> = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
        for half in 0..2 {
            let mut got = [0f32; 4];
            unsafe { vst1q_f32(got.as_mut_ptr(), f16x4_to_f32(raw.as_ptr().add(8 * half))) };
            for (g, &b) in got.iter().zip(&bits[4 * half..]) {
                assert_eq!(g.to_bits(), super::super::f16_bits_to_f32(b).to_bits());
            }
        }
    }
}
