//! NEON: a 32-bit lane per row. A 16-byte load of a packed chunk holds four bytes of each of four
//! rows, which is what `sdot` multiplies against a broadcast of the token's four activation
//! bytes: one instruction, four rows, sixteen multiply-adds, and each lane ends a block holding
//! one row's integer dot product (as `vpdpbusd` does on AVX-512). Without the dot-product
//! extension, `LaneDots` gets the same integers from widening multiplies. A tile is 8 rows (half
//! a group) x up to 4 tokens, as the AVX2 kernel's.
//!
//! Every quant fits a signed byte (4-bit and Q5_1 ones are 0..31, Q8_0 ones -128..127), so no
//! kind needs the unsigned-times-signed corrections of the x86 kernels except Q4_0's `-8 *
//! sum(a)`, which the scalar reference applies the same way.

// Token loops index several per-token arrays (accumulators, sums) in step.
#![allow(clippy::needless_range_loop)]

use super::{act_block_bytes, act_qs_offset, byte_quants, format, has_min, Problem, Q4_0};
use crate::cpu::quant::neon::{broadcast4, f16x4_to_f32, LaneDots};
use crate::cpu::quant::packed::GROUP_ROWS;
use crate::cpu::quant::OutTile;
use std::arch::aarch64::*;

const MAX_TOKENS: usize = 4;
const HALF: usize = GROUP_ROWS / 2;

/// # Safety
/// `p` must have passed `check`.
#[target_feature(enable = "neon")]
pub(super) unsafe fn gemm<const KIND: u8>(p: &Problem, out: OutTile) {
    unsafe { run::<KIND, false>(p, out) }
}

/// # Safety
/// The CPU must have the dot-product extension; `p` must have passed `check`.
#[target_feature(enable = "neon,dotprod")]
pub(super) unsafe fn gemm_dotprod<const KIND: u8>(p: &Problem, out: OutTile) {
    unsafe { run::<KIND, true>(p, out) }
}

/// Inlined into the entry points above, so that it compiles with their target features.
#[inline(always)]
unsafe fn run<const KIND: u8, const DOT: bool>(p: &Problem, out: OutTile) {
    let group_bytes = p.blocks_per_row * format(KIND).group_block_bytes();
    for group in 0..p.n_rows.div_ceil(GROUP_ROWS) {
        let w = unsafe { p.w.as_ptr().add(group * group_bytes) };
        for half in 0..2 {
            let row0 = group * GROUP_ROWS + half * HALF;
            if row0 >= p.n_rows {
                break;
            }
            let rows = (p.n_rows - row0).min(HALF);
            let mut t = 0;
            unsafe {
                while t + MAX_TOKENS <= p.n_tok {
                    tile::<KIND, MAX_TOKENS, DOT>(p, w, half, t, row0, rows, out);
                    t += MAX_TOKENS;
                }
                let left = p.n_tok - t;
                if left & 2 != 0 {
                    tile::<KIND, 2, DOT>(p, w, half, t, row0, rows, out);
                    t += 2;
                }
                if left & 1 != 0 {
                    tile::<KIND, 1, DOT>(p, w, half, t, row0, rows, out);
                }
            }
        }
    }
}

/// Tokens `t0..t0 + T` against half `half` of the group at `w`.
#[inline(always)]
unsafe fn tile<const KIND: u8, const T: usize, const DOT: bool>(
    p: &Problem,
    w: *const u8,
    half: usize,
    t0: usize,
    row0: usize,
    rows: usize,
    out: OutTile,
) {
    let fmt = format(KIND);
    let gbb = fmt.group_block_bytes();
    let bpr = p.blocks_per_row;
    let abb = act_block_bytes(KIND);
    let token_stride = bpr * abb;
    let first = t0 * bpr;
    // SAFETY (whole body): `check` validated every length read below; the output tile holds
    // rows `row0..row0 + rows` of tokens `t0..t0 + T`.
    unsafe {
        let acts = p.acts.as_ptr().add(t0 * token_stride + act_qs_offset(KIND));
        let nibble_mask = vdupq_n_u8(0x0F);
        let mut acc = [[vdupq_n_f32(0.0); 2]; T];

        for b in 0..bpr {
            let gb = w.add(b * gbb);
            let quants = gb.add(half * 32);
            let a = acts.add(b * abb);
            let mut dots = [[LaneDots::new(); 2]; T];
            if byte_quants(KIND) {
                for c in 0..8 {
                    let wc = [0, 16].map(|q| vld1q_s8(quants.add(64 * c + q).cast()));
                    for t in 0..T {
                        let at = broadcast4(a.add(t * token_stride + 4 * c));
                        for q in 0..2 {
                            dots[t][q].add::<DOT>(wc[q], at);
                        }
                    }
                }
            } else {
                for c in 0..4 {
                    let v = [0, 16].map(|q| vld1q_u8(quants.add(64 * c + q)));
                    let lo = v.map(|v| vreinterpretq_s8_u8(vandq_u8(v, nibble_mask)));
                    let hi = v.map(|v| vreinterpretq_s8_u8(vshrq_n_u8::<4>(v)));
                    for t in 0..T {
                        let a_lo = broadcast4(a.add(t * token_stride + 4 * c));
                        let a_hi = broadcast4(a.add(t * token_stride + 16 + 4 * c));
                        for q in 0..2 {
                            dots[t][q].add::<DOT>(lo[q], a_lo);
                            dots[t][q].add::<DOT>(hi[q], a_hi);
                        }
                    }
                }
            }
            let scales = gb.add(fmt.scales_offset() + half * 2 * HALF);
            let d_w = [f16x4_to_f32(scales), f16x4_to_f32(scales.add(8))];
            for t in 0..T {
                let ab = first + t * bpr + b;
                let d_a = vdupq_n_f32(*p.d.get_unchecked(ab));
                for q in 0..2 {
                    let mut isum = dots[t][q].finish::<DOT>();
                    if KIND == Q4_0 {
                        isum = vaddq_s32(isum, vdupq_n_s32(-8 * *p.sums.get_unchecked(ab)));
                    }
                    let scale = vmulq_f32(d_w[q], d_a);
                    acc[t][q] = vfmaq_f32(acc[t][q], vcvtq_f32_s32(isum), scale);
                }
            }
            if has_min(KIND) {
                let mins = scales.add(2 * GROUP_ROWS);
                let m_w = [f16x4_to_f32(mins), f16x4_to_f32(mins.add(8))];
                for t in 0..T {
                    let s_a = vdupq_n_f32(*p.s.get_unchecked(first + t * bpr + b));
                    for q in 0..2 {
                        acc[t][q] = vfmaq_f32(acc[t][q], m_w[q], s_a);
                    }
                }
            }
        }

        for (t, v) in acc.iter().enumerate() {
            let dst = out.ptr_at(t0 + t, row0);
            if rows == HALF {
                vst1q_f32(dst, v[0]);
                vst1q_f32(dst.add(4), v[1]);
            } else {
                let mut lanes = [0f32; HALF];
                vst1q_f32(lanes.as_mut_ptr(), v[0]);
                vst1q_f32(lanes.as_mut_ptr().add(4), v[1]);
                std::ptr::copy_nonoverlapping(lanes.as_ptr(), dst, rows);
            }
        }
    }
}
