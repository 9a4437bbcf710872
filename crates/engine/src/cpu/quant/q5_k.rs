//! Q5_K weights: as Q4_K with a fifth bit per quant (q in 0..32): w = d * scale * q - dmin * min.
//! Byte layout identical to GGML's block_q5_K (176 bytes): f16 d, f16 dmin, scales[12] (packed as
//! Q4_K's), qh[32] (bit 2j of qh[l] is the high bit of value l of sub-block 2j, bit 2j+1 of
//! sub-block 2j+1), qs[128] (low nibbles as Q4_K). Multiplied with Q8_K activations.

use super::kquant::Format;
#[cfg(target_arch = "aarch64")]
use super::kquant::NeonGemm;
use super::q4_k::unpack_scales;
use super::q8_k::{read_f16, BlockQ8K, QK_K};

/// The activation format and its quantizer, under the names every weight module uses.
#[allow(unused_imports)]
pub(crate) use super::q8_k::{quantize_acts, BlockQ8K as ActBlock};

pub(crate) const BLOCK_BYTES: usize = 176;
pub(super) const SCALES: usize = 4;
pub(super) const QH: usize = 16;
pub(super) const QS: usize = 48;

/// Dequantizes `out.len()` values (whole blocks) from `w`.
pub(crate) fn dequantize_row(w: &[u8], out: &mut [f32]) {
    assert_eq!(out.len() % QK_K, 0, "Q5_K rows are whole 256-value blocks");
    for (block, y) in w.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(QK_K)) {
        let d = read_f16(block, 0);
        let dmin = read_f16(block, 2);
        let (scales, mins) = unpack_scales(&block[SCALES..QH]);
        let qh = &block[QH..QS];
        for (j, (q, y)) in block[QS..]
            .chunks_exact(32)
            .zip(y.chunks_exact_mut(64))
            .enumerate()
        {
            let (d1, m1) = (
                d * (scales >> (16 * j)) as u8 as f32,
                dmin * (mins >> (16 * j)) as u8 as f32,
            );
            let (d2, m2) = (
                d * (scales >> (16 * j + 8)) as u8 as f32,
                dmin * (mins >> (16 * j + 8)) as u8 as f32,
            );
            for l in 0..32 {
                let (high_lo, high_hi) = ((qh[l] >> (2 * j)) & 1, (qh[l] >> (2 * j + 1)) & 1);
                y[l] = d1 * f32::from((q[l] & 0xf) | (high_lo << 4)) - m1;
                y[l + 32] = d2 * f32::from((q[l] >> 4) | (high_hi << 4)) - m2;
            }
        }
    }
}

/// Q5_K's kernels, for `kquant::gemm` and `kquant::gemm_to`.
pub(crate) struct Q5K;

impl Format for Q5K {
    const BLOCK_BYTES: usize = BLOCK_BYTES;
    #[cfg(target_arch = "x86_64")]
    type Avx2 = avx2::Q5KAvx2;
    #[cfg(target_arch = "x86_64")]
    type Avx512 = avx512::Q5KAvx512;
    #[cfg(target_arch = "aarch64")]
    const NEON: NeonGemm = super::kquant_neon::gemm::<{ super::kquant_neon::Q5K }>;

    /// The reference: integer dot products per sub-block, scales applied per block.
    fn block_dot(block: &[u8], a: &BlockQ8K) -> f32 {
        let d = read_f16(block, 0);
        let dmin = read_f16(block, 2);
        let (scales, mins) = unpack_scales(&block[SCALES..QH]);
        let qh = &block[QH..QS];
        let mut sumi = 0i32;
        for (j, q) in block[QS..QS + 128].chunks_exact(32).enumerate() {
            let a_lo = &a.qs[64 * j..64 * j + 32];
            let a_hi = &a.qs[64 * j + 32..64 * j + 64];
            let mut lo = 0i32;
            let mut hi = 0i32;
            for l in 0..32 {
                let q_lo = (q[l] & 0xf) | (((qh[l] >> (2 * j)) & 1) << 4);
                let q_hi = (q[l] >> 4) | (((qh[l] >> (2 * j + 1)) & 1) << 4);
                lo += i32::from(q_lo) * i32::from(a_lo[l]);
                hi += i32::from(q_hi) * i32::from(a_hi[l]);
            }
            sumi += i32::from((scales >> (16 * j)) as u8) * lo
                + i32::from((scales >> (16 * j + 8)) as u8) * hi;
        }
        let summ: i32 = (0..8)
            .map(|k| {
                i32::from((mins >> (8 * k)) as u8)
                    * (i32::from(a.bsums[2 * k]) + i32::from(a.bsums[2 * k + 1]))
            })
            .sum();
        a.d * (d * sumi as f32 - dmin * summ as f32)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! Q4_K's AVX2 kernel with the fifth bit ORed into each unpacked quant.

    use super::super::kquant_x86::{Avx2, Kernel, Prepared};
    use super::super::q4_k::avx2::{hsum, token_sums, BlockScales, Q4KAvx2, TokenSums};
    use super::*;
    use std::arch::x86_64::*;

    /// Q5_K for the shared driver (`kquant_x86::gemm`).
    pub(crate) struct Q5KAvx2;

    impl Kernel for Q5KAvx2 {
        type Simd = Avx2;
        const BLOCK_BYTES: usize = BLOCK_BYTES;
        type Scales = BlockScales;
        type Quants = [__m256i; 8];

        /// Vector p holds sub-block p's 32 quants, one byte each, fifth bit (bit p of qh) included.
        #[target_feature(enable = "avx2,fma,f16c")]
        #[inline]
        unsafe fn unpack(block: *const u8) -> [__m256i; 8] {
            let (m4, bit4) = (_mm256_set1_epi8(0x0f), _mm256_set1_epi8(0x10));
            // qh shifted right by 2j: bits 0 and 1 of each byte are chunk j's fifth bits.
            let mut qh = unsafe { _mm256_loadu_si256(block.add(QH).cast()) };
            let mut quants = [_mm256_setzero_si256(); 8];
            for (j, pair) in quants.chunks_exact_mut(2).enumerate() {
                let q = unsafe { _mm256_loadu_si256(block.add(QS + 32 * j).cast()) };
                let high_lo = _mm256_and_si256(_mm256_slli_epi16(qh, 4), bit4);
                let high_hi = _mm256_and_si256(_mm256_slli_epi16(qh, 3), bit4);
                qh = _mm256_srli_epi16(qh, 2);
                pair[0] = _mm256_or_si256(_mm256_and_si256(q, m4), high_lo);
                pair[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), high_hi);
            }
            quants
        }

        /// The scales and mins are packed as Q4_K's.
        #[target_feature(enable = "avx2,fma,f16c")]
        #[inline]
        unsafe fn block_scales(block: *const u8) -> BlockScales {
            unsafe { Q4KAvx2::block_scales(block) }
        }

        // Rows and tokens index several arrays each (scales, sums, accumulators).
        #[allow(clippy::needless_range_loop)]
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn tile<const R: usize, const T: usize, const CACHED: bool>(
            w: *const u8,
            row_bytes: usize,
            acts: *const BlockQ8K,
            blocks_per_row: usize,
            out: *mut f32,
            ldo: usize,
            cached: *const Prepared<Self>,
        ) {
            let m4 = _mm256_set1_epi8(0x0f);
            let bit4 = _mm256_set1_epi8(0x10);
            let mut acc = [[_mm256_setzero_ps(); T]; R];
            for b in 0..blocks_per_row {
                let block = |r: usize| unsafe { w.add(r * row_bytes + b * BLOCK_BYTES) };
                let act = |t: usize| unsafe { &*acts.add(t * blocks_per_row + b) };
                // Loops, not closures, around intrinsics: closures don't inherit the target
                // features.
                // SAFETY: these structs are plain vectors, for which all-zero bytes are valid.
                let mut decoded: [BlockScales; R] = [unsafe { std::mem::zeroed() }; R];
                // SAFETY (cached): prepare_blocks filled blocks_per_row x R entries for this row
                // tile.
                let prepared = |r: usize| unsafe { &*cached.add(b * R + r) };
                if !CACHED {
                    for (r, sc) in decoded.iter_mut().enumerate() {
                        *sc = unsafe { Self::block_scales(block(r)) };
                    }
                }
                let sc: [&BlockScales; R] = std::array::from_fn(|r| {
                    if !CACHED {
                        &decoded[r]
                    } else {
                        &prepared(r).scales
                    }
                });
                let mut ts: [TokenSums; T] = [unsafe { std::mem::zeroed() }; T];
                for (t, ts) in ts.iter_mut().enumerate() {
                    *ts = unsafe { token_sums(act(t)) };
                }
                let mut sumi = [[_mm256_setzero_si256(); T]; R];
                // qh shifted right by 2j: bits 0 and 1 of each byte are the chunk's high bits.
                let mut qh = [_mm256_setzero_si256(); R];
                for (r, qh) in qh.iter_mut().enumerate() {
                    *qh = unsafe { _mm256_loadu_si256(block(r).add(QH).cast()) };
                }
                if CACHED {
                    for p in 0..8 {
                        for r in 0..R {
                            let q = prepared(r).quants[p];
                            for t in 0..T {
                                let a = unsafe {
                                    _mm256_loadu_si256(act(t).qs.as_ptr().add(32 * p).cast())
                                };
                                let prod =
                                    _mm256_madd_epi16(_mm256_maddubs_epi16(q, a), sc[r].scales[p]);
                                sumi[r][t] = _mm256_add_epi32(sumi[r][t], prod);
                            }
                        }
                    }
                } else {
                    for j in 0..4 {
                        for r in 0..R {
                            let q = unsafe { _mm256_loadu_si256(block(r).add(QS + 32 * j).cast()) };
                            let high_lo = _mm256_and_si256(_mm256_slli_epi16(qh[r], 4), bit4);
                            let high_hi = _mm256_and_si256(_mm256_slli_epi16(qh[r], 3), bit4);
                            qh[r] = _mm256_srli_epi16(qh[r], 2);
                            let lo = _mm256_or_si256(_mm256_and_si256(q, m4), high_lo);
                            let hi = _mm256_or_si256(
                                _mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                high_hi,
                            );
                            for t in 0..T {
                                let a = act(t).qs.as_ptr();
                                let (a_lo, a_hi) = unsafe {
                                    (
                                        _mm256_loadu_si256(a.add(64 * j).cast()),
                                        _mm256_loadu_si256(a.add(64 * j + 32).cast()),
                                    )
                                };
                                let p_lo = _mm256_madd_epi16(
                                    _mm256_maddubs_epi16(lo, a_lo),
                                    sc[r].scales[2 * j],
                                );
                                let p_hi = _mm256_madd_epi16(
                                    _mm256_maddubs_epi16(hi, a_hi),
                                    sc[r].scales[2 * j + 1],
                                );
                                sumi[r][t] =
                                    _mm256_add_epi32(sumi[r][t], _mm256_add_epi32(p_lo, p_hi));
                            }
                        }
                    }
                }
                for r in 0..R {
                    for t in 0..T {
                        let dd = _mm256_mul_ps(sc[r].d, ts[t].d);
                        let x = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[r][t]), dd, acc[r][t]);
                        acc[r][t] = _mm256_fnmadd_ps(sc[r].mins, ts[t].sums, x);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                for (t, &v) in acc.iter().enumerate() {
                    unsafe { *out.add(t * ldo + r) = hsum(v) };
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    //! Q4_K's AVX-512 VNNI kernel with the fifth bit ORed into each unpacked quant.

    use super::super::kquant_x86::{Avx512, Kernel, Prepared};
    use super::super::q4_k::avx512::{scale_min_tile, BlockScales, Q4KAvx512};
    use super::*;
    use std::arch::x86_64::*;

    /// Q5_K for the shared driver (`kquant_x86::gemm`).
    pub(crate) struct Q5KAvx512;

    impl Kernel for Q5KAvx512 {
        type Simd = Avx512;
        const BLOCK_BYTES: usize = BLOCK_BYTES;
        type Scales = BlockScales;
        type Quants = [__m512i; 4];

        /// A block's quants one byte each, 64 values per vector: vector j holds sub-block 2j in its
        /// low half and 2j+1 in its high half, fifth bits (bits 2j, 2j+1 of qh) included.
        #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
        #[inline]
        unsafe fn unpack(block: *const u8) -> [__m512i; 4] {
            let (m4, bit4) = (_mm512_set1_epi8(0x0f), _mm512_set1_epi8(0x10));
            // qh shifted right by 2j: bits 0 and 1 of each byte are chunk j's fifth bits.
            let mut qh = unsafe { _mm256_loadu_si256(block.add(QH).cast()) };
            let mut quants = [_mm512_setzero_si512(); 4];
            for (j, quants) in quants.iter_mut().enumerate() {
                let q = unsafe { _mm256_loadu_si256(block.add(QS + 32 * j).cast()) };
                let both =
                    _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1);
                let high = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_slli_epi16(qh, 4)),
                    _mm256_slli_epi16(qh, 3),
                    1,
                );
                qh = _mm256_srli_epi16(qh, 2);
                *quants = _mm512_or_si512(_mm512_and_si512(both, m4), _mm512_and_si512(high, bit4));
            }
            quants
        }

        /// The scales and mins are packed as Q4_K's.
        #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
        #[inline]
        unsafe fn block_scales(block: *const u8) -> BlockScales {
            unsafe { Q4KAvx512::block_scales(block) }
        }

        #[inline(always)]
        unsafe fn tile<const R: usize, const T: usize, const CACHED: bool>(
            w: *const u8,
            row_bytes: usize,
            acts: *const BlockQ8K,
            blocks_per_row: usize,
            out: *mut f32,
            ldo: usize,
            cached: *const Prepared<Self>,
        ) {
            // SAFETY: the caller's promise.
            unsafe {
                scale_min_tile::<Self, R, T, CACHED>(
                    w,
                    row_bytes,
                    acts,
                    blocks_per_row,
                    out,
                    ldo,
                    cached,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::kquant::gemm;
    use super::super::q8_k::test_support::*;
    use super::*;
    use crate::cpu::Isa;

    /// A random block: any scales, mins and quants, edge-case f16 d and dmin.
    fn random_block(rng: &mut Rng, block: &mut [u8]) {
        random_quant_bytes(rng, &mut block[4..]);
        block[0..2].copy_from_slice(&random_f16(rng).to_le_bytes());
        block[2..4].copy_from_slice(&random_f16(rng).to_le_bytes());
    }

    #[test]
    fn dequantize_matches_ggml() {
        let w = fixture_bytes("q5_k.bin");
        let mut ours = vec![0f32; 512];
        dequantize_row(&w, &mut ours);
        assert_eq!(ours, fixture_f32("q5_k.dequant.f32"));
    }

    #[test]
    fn gemm_matches_ggml_vec_dot_at_every_isa() {
        let w = fixture_bytes("q5_k.bin");
        let expected = fixture_f32("q5_k.dot.f32")[0];
        for isa in Isa::all_supported() {
            let mut out = [0f32];
            gemm::<Q5K>(isa, &w, w.len(), 1, &fixture_acts(), 2, 1, &mut out, 1);
            assert!(
                (out[0] - expected).abs() <= 1e-5 * expected.abs(),
                "{isa:?}: {} vs {expected}",
                out[0]
            );
        }
    }

    #[test]
    fn gemm_matches_dequantized_dot_at_every_isa() {
        check_gemm_against_dequantized(BLOCK_BYTES, dequantize_row, gemm::<Q5K>, random_block, 51);
    }
}
