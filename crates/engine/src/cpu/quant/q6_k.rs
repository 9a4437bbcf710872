//! Q6_K weights: 256-value super-blocks of sixteen 16-value groups, each with an i8 scale:
//! w = d * scale * (q - 32), q in 0..64. Byte layout identical to GGML's block_q6_K (210 bytes):
//! ql[128] (low 4 bits), qh[64] (high 2 bits), i8 scales[16], f16 d. Each 128-value half h uses
//! ql[64h..64h+64] and qh[32h..32h+32]; its quarter k (32 values, l in 0..32) takes the low
//! (k < 2) or high (k >= 2) nibble of ql[64h + 32(k & 1) + l] and bits 2k..2k+2 of qh[32h + l].
//! Multiplied with Q8_K activations.

use super::kquant::Format;
#[cfg(target_arch = "aarch64")]
use super::kquant::NeonGemm;
use super::q8_k::{read_f16, BlockQ8K, QK_K};

/// The activation format and its quantizer, under the names every weight module uses.
#[allow(unused_imports)]
pub(crate) use super::q8_k::{quantize_acts, BlockQ8K as ActBlock};

pub(crate) const BLOCK_BYTES: usize = 210;
pub(super) const QH: usize = 128;
pub(super) const SCALES: usize = 192;
pub(super) const D: usize = 208;

/// The block's 256 quants, offset removed (q - 32, in -32..32), in value order.
#[inline]
fn decode(block: &[u8]) -> [i8; QK_K] {
    let mut q = [0i8; QK_K];
    for (h, q) in q.chunks_exact_mut(128).enumerate() {
        let ql = &block[64 * h..64 * h + 64];
        let qh = &block[QH + 32 * h..QH + 32 * h + 32];
        let (q01, q23) = q.split_at_mut(64);
        let (q0, q1) = q01.split_at_mut(32);
        let (q2, q3) = q23.split_at_mut(32);
        for l in 0..32 {
            let (low, high, hb) = (ql[l], ql[l + 32], qh[l]);
            q0[l] = ((low & 0xf) | ((hb & 3) << 4)) as i8 - 32;
            q1[l] = ((high & 0xf) | (((hb >> 2) & 3) << 4)) as i8 - 32;
            q2[l] = ((low >> 4) | (((hb >> 4) & 3) << 4)) as i8 - 32;
            q3[l] = ((high >> 4) | ((hb >> 6) << 4)) as i8 - 32;
        }
    }
    q
}

/// Dequantizes `out.len()` values (whole blocks) from `w`.
pub(crate) fn dequantize_row(w: &[u8], out: &mut [f32]) {
    assert_eq!(out.len() % QK_K, 0, "Q6_K rows are whole 256-value blocks");
    for (block, y) in w.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(QK_K)) {
        let d = read_f16(block, D);
        let q = decode(block);
        for ((y, q), &scale) in y
            .chunks_exact_mut(16)
            .zip(q.chunks_exact(16))
            .zip(&block[SCALES..D])
        {
            let scale = d * f32::from(scale as i8);
            for (y, &q) in y.iter_mut().zip(q) {
                *y = scale * f32::from(q);
            }
        }
    }
}

/// Q6_K's kernels, for `kquant::gemm` and `kquant::gemm_to`.
pub(crate) struct Q6K;

impl Format for Q6K {
    const BLOCK_BYTES: usize = BLOCK_BYTES;
    #[cfg(target_arch = "x86_64")]
    type Avx2 = avx2::Q6KAvx2;
    #[cfg(target_arch = "x86_64")]
    type Avx512 = avx512::Q6KAvx512;
    #[cfg(target_arch = "aarch64")]
    const NEON: NeonGemm = super::kquant_neon::gemm::<{ super::kquant_neon::Q6K }>;

    /// The reference: integer dot products per 16-value group, d applied per block.
    fn block_dot(block: &[u8], a: &BlockQ8K) -> f32 {
        let q = decode(block);
        let mut sumi = 0i32;
        for ((q, a), &scale) in q
            .chunks_exact(16)
            .zip(a.qs.chunks_exact(16))
            .zip(&block[SCALES..D])
        {
            let group: i32 = q
                .iter()
                .zip(a)
                .map(|(&q, &a)| i32::from(q) * i32::from(a))
                .sum();
            sumi += i32::from(scale as i8) * group;
        }
        a.d * read_f16(block, D) * sumi as f32
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! Quants unpacked unsigned (0..64) for maddubs; the -32 offset is applied once per block as
    //! 32 * sum(scale * group sum of activations), from the activations' group sums.

    use super::super::kquant_x86::{Avx2, Kernel, Prepared};
    use super::super::q4_k::avx2::hsum;
    use super::*;
    use std::arch::x86_64::*;

    /// Q6_K for the shared driver (`kquant_x86::gemm`).
    pub(crate) struct Q6KAvx2;

    impl Kernel for Q6KAvx2 {
        type Simd = Avx2;
        const BLOCK_BYTES: usize = BLOCK_BYTES;
        type Scales = BlockScales;
        type Quants = [__m256i; 8];

        /// Vector p holds values 32p..32p+32 (quarter p % 4 of half p / 4), one byte each in 0..64.
        #[target_feature(enable = "avx2,fma,f16c")]
        #[inline]
        unsafe fn unpack(block: *const u8) -> [__m256i; 8] {
            let (m4, m30) = (_mm256_set1_epi8(0x0f), _mm256_set1_epi8(0x30));
            let mut quants = [_mm256_setzero_si256(); 8];
            for (h, half) in quants.chunks_exact_mut(4).enumerate() {
                let (ql0, ql1, qh) = unsafe {
                    (
                        _mm256_loadu_si256(block.add(64 * h).cast()),
                        _mm256_loadu_si256(block.add(64 * h + 32).cast()),
                        _mm256_loadu_si256(block.add(QH + 32 * h).cast()),
                    )
                };
                // Quarter k: the low (k < 2) or high nibbles of ql0 or ql1, bits 2k, 2k+1 of qh to
                // bits 4, 5.
                let quarters = [
                    (ql0, _mm256_slli_epi16(qh, 4)),
                    (ql1, _mm256_slli_epi16(qh, 2)),
                    (_mm256_srli_epi16(ql0, 4), qh),
                    (_mm256_srli_epi16(ql1, 4), _mm256_srli_epi16(qh, 2)),
                ];
                for (q, &(low, high)) in half.iter_mut().zip(&quarters) {
                    *q = _mm256_or_si256(_mm256_and_si256(low, m4), _mm256_and_si256(high, m30));
                }
            }
            quants
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        #[inline]
        unsafe fn block_scales(block: *const u8) -> BlockScales {
            let all = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(block.add(SCALES).cast()) });
            let halves = [
                _mm256_permute2x128_si256(all, all, 0x00),
                _mm256_permute2x128_si256(all, all, 0x11),
            ];
            let mut pairs = [_mm256_setzero_si256(); 8];
            for (p, v) in (0i8..).zip(pairs.iter_mut()) {
                let (a, b) = (4 * (p % 4), 4 * (p % 4) + 2);
                let lo = _mm_setr_epi8(
                    a,
                    a + 1,
                    a,
                    a + 1,
                    a,
                    a + 1,
                    a,
                    a + 1,
                    a,
                    a + 1,
                    a,
                    a + 1,
                    a,
                    a + 1,
                    a,
                    a + 1,
                );
                let hi = _mm_setr_epi8(
                    b,
                    b + 1,
                    b,
                    b + 1,
                    b,
                    b + 1,
                    b,
                    b + 1,
                    b,
                    b + 1,
                    b,
                    b + 1,
                    b,
                    b + 1,
                    b,
                    b + 1,
                );
                *v = _mm256_shuffle_epi8(halves[(p / 4) as usize], _mm256_setr_m128i(lo, hi));
            }
            let d = unsafe { block.add(D).cast::<u16>().read_unaligned() };
            BlockScales {
                pairs,
                all,
                d: _mm256_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(d)))),
            }
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
            let m30 = _mm256_set1_epi8(0x30);
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
                let mut sumi = [[_mm256_setzero_si256(); T]; R];
                if CACHED {
                    for p in 0..8 {
                        for r in 0..R {
                            let q = prepared(r).quants[p];
                            for t in 0..T {
                                let a = unsafe {
                                    _mm256_loadu_si256(act(t).qs.as_ptr().add(32 * p).cast())
                                };
                                let prod =
                                    _mm256_madd_epi16(_mm256_maddubs_epi16(q, a), sc[r].pairs[p]);
                                sumi[r][t] = _mm256_add_epi32(sumi[r][t], prod);
                            }
                        }
                    }
                } else {
                    // Straight-line unpacking of a half's four quarters: a loop over k with shifts
                    // chosen per k compiled to branches in the decode tiles.
                    for h in 0..2 {
                        for r in 0..R {
                            let (ql0, ql1, qh) = unsafe {
                                (
                                    _mm256_loadu_si256(block(r).add(64 * h).cast()),
                                    _mm256_loadu_si256(block(r).add(64 * h + 32).cast()),
                                    _mm256_loadu_si256(block(r).add(QH + 32 * h).cast()),
                                )
                            };
                            let quarters = [
                                (ql0, _mm256_slli_epi16(qh, 4)),
                                (ql1, _mm256_slli_epi16(qh, 2)),
                                (_mm256_srli_epi16(ql0, 4), qh),
                                (_mm256_srli_epi16(ql1, 4), _mm256_srli_epi16(qh, 2)),
                            ];
                            for (k, &(low, high)) in quarters.iter().enumerate() {
                                let q = _mm256_or_si256(
                                    _mm256_and_si256(low, m4),
                                    _mm256_and_si256(high, m30),
                                );
                                for t in 0..T {
                                    let a = unsafe {
                                        _mm256_loadu_si256(
                                            act(t).qs.as_ptr().add(128 * h + 32 * k).cast(),
                                        )
                                    };
                                    let p = _mm256_madd_epi16(
                                        _mm256_maddubs_epi16(q, a),
                                        sc[r].pairs[4 * h + k],
                                    );
                                    sumi[r][t] = _mm256_add_epi32(sumi[r][t], p);
                                }
                            }
                        }
                    }
                }
                for t in 0..T {
                    let a = act(t);
                    let da = _mm256_set1_ps(a.d);
                    let bsums = unsafe { _mm256_loadu_si256(a.bsums.as_ptr().cast()) };
                    for r in 0..R {
                        let offset = _mm256_slli_epi32(_mm256_madd_epi16(sc[r].all, bsums), 5);
                        let s = _mm256_cvtepi32_ps(_mm256_sub_epi32(sumi[r][t], offset));
                        acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(s, sc[r].d), da, acc[r][t]);
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

    #[derive(Clone, Copy)]
    pub(crate) struct BlockScales {
        /// Per quarter p (32 values): group 2p's scale in lanes 0..8, group 2p+1's in 8..16.
        pairs: [__m256i; 8],
        /// All 16 scales as i16, for the offset correction.
        all: __m256i,
        d: __m256,
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    //! As the AVX2 path with 64-byte vectors (two quarters, four groups per vector) and VNNI's
    //! vpdpwssd applying the scales while it accumulates; the -32 offset enters in f32 with one
    //! FMA per row and token: (-32 * d * each group's scale) x (d_act * the group's sum).

    use super::super::kquant_x86::{dpwssd, Avx512, Kernel, Prepared};
    use super::super::q4_k::avx512::{token_sums, TokenSums};
    use super::*;
    use std::arch::x86_64::*;

    /// Q6_K for the shared driver (`kquant_x86::gemm`).
    pub(crate) struct Q6KAvx512;

    impl Kernel for Q6KAvx512 {
        type Simd = Avx512;
        const BLOCK_BYTES: usize = BLOCK_BYTES;
        type Scales = BlockScales;
        type Quants = [__m512i; 4];

        /// A block's quants one byte each in 0..64, 64 values per vector: vector 2h + c holds
        /// quarters 2c and 2c+1 of half h.
        #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
        #[inline]
        unsafe fn unpack(block: *const u8) -> [__m512i; 4] {
            let (m4, m30) = (_mm512_set1_epi8(0x0f), _mm512_set1_epi8(0x30));
            let mut quants = [_mm512_setzero_si512(); 4];
            for (h, pair) in quants.chunks_exact_mut(2).enumerate() {
                // ql[64h..64h+64]: quarters 0 and 1 in the low nibbles, 2 and 3 in the high.
                let ql = unsafe { _mm512_loadu_si512(block.add(64 * h).cast()) };
                let qh = unsafe { _mm256_loadu_si256(block.add(QH + 32 * h).cast()) };
                let high01 = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_slli_epi16(qh, 4)),
                    _mm256_slli_epi16(qh, 2),
                    1,
                );
                let high23 =
                    _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
                pair[0] = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(high01, m30));
                pair[1] = _mm512_or_si512(
                    _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                    _mm512_and_si512(high23, m30),
                );
            }
            quants
        }

        #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
        #[inline]
        unsafe fn block_scales(block: *const u8) -> BlockScales {
            let all = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(block.add(SCALES).cast()) });
            let all512 = _mm512_castsi256_si512(all);
            let mut quads = [_mm512_setzero_si512(); 4];
            for (i, v) in (0i16..).zip(quads.iter_mut()) {
                let g = 4 * i;
                let idx = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_setr_m128i(
                        _mm_set1_epi16(g),
                        _mm_set1_epi16(g + 1),
                    )),
                    _mm256_setr_m128i(_mm_set1_epi16(g + 2), _mm_set1_epi16(g + 3)),
                    1,
                );
                *v = _mm512_permutexvar_epi16(idx, all512);
            }
            let d = unsafe { block.add(D).cast::<u16>().read_unaligned() };
            let d = _mm512_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(d))));
            let scales = _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(all));
            let offsets = _mm512_mul_ps(scales, _mm512_mul_ps(d, _mm512_set1_ps(-32.0)));
            BlockScales { quads, offsets, d }
        }

        // Rows and tokens index several arrays each (scales, sums, accumulators).
        #[allow(clippy::needless_range_loop)]
        #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
        unsafe fn tile<const R: usize, const T: usize, const CACHED: bool>(
            w: *const u8,
            row_bytes: usize,
            acts: *const BlockQ8K,
            blocks_per_row: usize,
            out: *mut f32,
            ldo: usize,
            cached: *const Prepared<Self>,
        ) {
            let mut acc = [[_mm512_setzero_ps(); T]; R];
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
                let mut unpacked = [[_mm512_setzero_si512(); 4]; R];
                if !CACHED {
                    for (r, unpacked) in unpacked.iter_mut().enumerate() {
                        *unpacked = unsafe { Self::unpack(block(r)) };
                    }
                }
                let mut sumi = [[_mm512_setzero_si512(); T]; R];
                // 64 values at a time: i = 2h + c covers quarters 2c, 2c+1 of half h.
                for i in 0..4 {
                    for r in 0..R {
                        let q = if !CACHED {
                            unpacked[r][i]
                        } else {
                            prepared(r).quants[i]
                        };
                        for t in 0..T {
                            let a = unsafe {
                                _mm512_loadu_si512(act(t).qs.as_ptr().add(64 * i).cast())
                            };
                            let p = _mm512_maddubs_epi16(q, a);
                            sumi[r][t] = dpwssd(sumi[r][t], p, sc[r].quads[i]);
                        }
                    }
                }
                for r in 0..R {
                    for t in 0..T {
                        let dd = _mm512_mul_ps(sc[r].d, ts[t].d);
                        let x = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi[r][t]), dd, acc[r][t]);
                        acc[r][t] = _mm512_fmadd_ps(sc[r].offsets, ts[t].sums, x);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                for (t, &v) in acc.iter().enumerate() {
                    unsafe { *out.add(t * ldo + r) = _mm512_reduce_add_ps(v) };
                }
            }
        }
    }

    #[derive(Clone, Copy)]
    pub(crate) struct BlockScales {
        /// Per 64 values (half h, quarters 2c and 2c+1, i = 2h + c): the 4 group scales, one per
        /// 128-bit lane.
        quads: [__m512i; 4],
        /// -32 * d * scale for each 16-value group.
        offsets: __m512,
        d: __m512,
    }
}

#[cfg(test)]
mod tests {
    use super::super::kquant::gemm;
    use super::super::q8_k::test_support::*;
    use super::*;
    use crate::cpu::Isa;

    /// A random block: any quants and scales (i8 -128 included), edge-case f16 d.
    fn random_block(rng: &mut Rng, block: &mut [u8]) {
        random_quant_bytes(rng, &mut block[..D]);
        block[D..D + 2].copy_from_slice(&random_f16(rng).to_le_bytes());
    }

    #[test]
    fn dequantize_matches_ggml() {
        let w = fixture_bytes("q6_k.bin");
        let mut ours = vec![0f32; 512];
        dequantize_row(&w, &mut ours);
        assert_eq!(ours, fixture_f32("q6_k.dequant.f32"));
    }

    #[test]
    fn gemm_matches_ggml_vec_dot_at_every_isa() {
        let w = fixture_bytes("q6_k.bin");
        let expected = fixture_f32("q6_k.dot.f32")[0];
        for isa in Isa::all_supported() {
            let mut out = [0f32];
            gemm::<Q6K>(isa, &w, w.len(), 1, &fixture_acts(), 2, 1, &mut out, 1);
            assert!(
                (out[0] - expected).abs() <= 1e-5 * expected.abs(),
                "{isa:?}: {} vs {expected}",
                out[0]
            );
        }
    }

    #[test]
    fn gemm_matches_dequantized_dot_at_every_isa() {
        check_gemm_against_dequantized(BLOCK_BYTES, dequantize_row, gemm::<Q6K>, random_block, 61);
    }
}
