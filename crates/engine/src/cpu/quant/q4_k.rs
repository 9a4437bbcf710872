//! Q4_K weights: 256-value super-blocks of eight 32-value sub-blocks, each with a 6-bit scale and
//! a 6-bit min: w = d * scale * q - dmin * min, q in 0..16. Byte layout identical to GGML's
//! block_q4_K (144 bytes): f16 d, f16 dmin, scales[12] (packed 6-bit scales and mins), qs[128]
//! (chunk j of 32 bytes holds sub-block 2j in its low nibbles and 2j+1 in its high nibbles).
//! Multiplied with Q8_K activations.

use super::kquant::Format;
#[cfg(target_arch = "aarch64")]
use super::kquant::NeonGemm;
use super::q8_k::{read_f16, BlockQ8K, QK_K};

/// The activation format and its quantizer, under the names every weight module uses.
#[allow(unused_imports)]
pub(crate) use super::q8_k::{quantize_acts, BlockQ8K as ActBlock};

pub(crate) const BLOCK_BYTES: usize = 144;
pub(super) const SCALES: usize = 4;
pub(super) const QS: usize = 16;

/// Unpacks the 12 scale bytes into (scales, mins), 8 six-bit values each, as little-endian u64s
/// of one byte per sub-block. Sub-blocks 0..4 keep their values in the low 6 bits of bytes 0..4
/// (scales) and 4..8 (mins); sub-blocks 4..8 keep their low 4 bits in the nibbles of bytes 8..12
/// and their top 2 bits in the spare high bits of bytes 0..8.
#[inline(always)]
pub(crate) fn unpack_scales(packed: &[u8]) -> (u64, u64) {
    let word = |i: usize| u32::from_le_bytes(packed[4 * i..4 * i + 4].try_into().unwrap());
    let (a, b, c) = (word(0), word(1), word(2));
    const LOW6: u32 = 0x3f3f_3f3f;
    const LOW4: u32 = 0x0f0f_0f0f;
    const LOW2: u32 = 0x0303_0303;
    let scales_lo = a & LOW6;
    let mins_lo = b & LOW6;
    let scales_hi = (c & LOW4) | (((a >> 6) & LOW2) << 4);
    let mins_hi = ((c >> 4) & LOW4) | (((b >> 6) & LOW2) << 4);
    (
        u64::from(scales_lo) | (u64::from(scales_hi) << 32),
        u64::from(mins_lo) | (u64::from(mins_hi) << 32),
    )
}

/// Dequantizes `out.len()` values (whole blocks) from `w`.
pub(crate) fn dequantize_row(w: &[u8], out: &mut [f32]) {
    assert_eq!(out.len() % QK_K, 0, "Q4_K rows are whole 256-value blocks");
    for (block, y) in w.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(QK_K)) {
        let d = read_f16(block, 0);
        let dmin = read_f16(block, 2);
        let (scales, mins) = unpack_scales(&block[SCALES..QS]);
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
                y[l] = d1 * f32::from(q[l] & 0xf) - m1;
                y[l + 32] = d2 * f32::from(q[l] >> 4) - m2;
            }
        }
    }
}

/// Q4_K's kernels, for `kquant::gemm` and `kquant::gemm_to`.
pub(crate) struct Q4K;

impl Format for Q4K {
    const BLOCK_BYTES: usize = BLOCK_BYTES;
    #[cfg(target_arch = "x86_64")]
    type Avx2 = avx2::Q4KAvx2;
    #[cfg(target_arch = "x86_64")]
    type Avx512 = avx512::Q4KAvx512;
    #[cfg(target_arch = "aarch64")]
    const NEON: NeonGemm = super::kquant_neon::gemm::<{ super::kquant_neon::Q4K }>;

    /// The reference: integer dot products per sub-block, scales applied per block.
    fn block_dot(block: &[u8], a: &BlockQ8K) -> f32 {
        let d = read_f16(block, 0);
        let dmin = read_f16(block, 2);
        let (scales, mins) = unpack_scales(&block[SCALES..QS]);
        let mut sumi = 0i32;
        for (j, q) in block[QS..QS + 128].chunks_exact(32).enumerate() {
            let a_lo = &a.qs[64 * j..64 * j + 32];
            let a_hi = &a.qs[64 * j + 32..64 * j + 64];
            let mut lo = 0i32;
            let mut hi = 0i32;
            for l in 0..32 {
                lo += i32::from(q[l] & 0xf) * i32::from(a_lo[l]);
                hi += i32::from(q[l] >> 4) * i32::from(a_hi[l]);
            }
            sumi += i32::from((scales >> (16 * j)) as u8) * lo
                + i32::from((scales >> (16 * j + 8)) as u8) * hi;
        }
        // The mins multiply whole sub-blocks, so the activations' group sums are enough.
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
pub(super) mod avx2 {
    //! Per 32-value sub-block: maddubs (u8 quants x i8 activations, pairs summed to i16), then
    //! madd with the sub-block's scale (pairs summed to i32). A tile of rows x tokens unpacks each
    //! weight chunk once and each activation chunk is read once per row of the tile. With more
    //! than one token tile (prefill) a row tile's quants and scales are unpacked once per token
    //! block into per-thread scratch (`kquant_x86::gemm`), and the tiles only multiply.

    use super::super::kquant_x86::{Avx2, Kernel, Prepared};
    use super::*;
    use std::arch::x86_64::*;

    /// Q4_K for the shared driver (`kquant_x86::gemm`).
    pub(crate) struct Q4KAvx2;

    impl Kernel for Q4KAvx2 {
        type Simd = Avx2;
        const BLOCK_BYTES: usize = BLOCK_BYTES;
        type Scales = BlockScales;
        type Quants = [__m256i; 8];

        /// Vector p holds sub-block p's 32 quants, one byte each.
        #[target_feature(enable = "avx2,fma,f16c")]
        #[inline]
        unsafe fn unpack(block: *const u8) -> [__m256i; 8] {
            let m4 = _mm256_set1_epi8(0x0f);
            let mut quants = [_mm256_setzero_si256(); 8];
            // Chunk j holds sub-block 2j in its low nibbles and 2j+1 in its high nibbles.
            for (j, pair) in quants.chunks_exact_mut(2).enumerate() {
                let q = unsafe { _mm256_loadu_si256(block.add(QS + 32 * j).cast()) };
                pair[0] = _mm256_and_si256(q, m4);
                pair[1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            }
            quants
        }

        #[target_feature(enable = "avx2,fma,f16c")]
        #[inline]
        unsafe fn block_scales(block: *const u8) -> BlockScales {
            let dd = _mm_cvtph_ps(_mm_cvtsi32_si128(unsafe {
                block.cast::<i32>().read_unaligned()
            }));
            let (scales, mins) =
                unpack_scales(unsafe { std::slice::from_raw_parts(block.add(SCALES), 12) });
            let scales16 =
                _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(scales as i64)));
            let mut broadcasts = [_mm256_setzero_si256(); 8];
            for (k, v) in (0i16..).zip(broadcasts.iter_mut()) {
                *v = _mm256_shuffle_epi8(scales16, _mm256_set1_epi16(((2 * k + 1) << 8) | (2 * k)));
            }
            let mins = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(mins as i64)));
            BlockScales {
                scales: broadcasts,
                mins: _mm256_mul_ps(mins, _mm256_broadcastss_ps(_mm_movehdup_ps(dd))),
                d: _mm256_broadcastss_ps(dd),
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
                            let lo = _mm256_and_si256(q, m4);
                            let hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
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

    /// Broadcasts of the 8 scales (one i16 vector per sub-block), dmin * each min, and d.
    #[derive(Clone, Copy)]
    pub(crate) struct BlockScales {
        pub(in crate::cpu::quant) scales: [__m256i; 8],
        pub(in crate::cpu::quant) mins: __m256,
        pub(in crate::cpu::quant) d: __m256,
    }

    /// A token's block: d broadcast, and d times each 32-value sub-block sum.
    #[derive(Clone, Copy)]
    pub(in crate::cpu::quant) struct TokenSums {
        pub(in crate::cpu::quant) d: __m256,
        pub(in crate::cpu::quant) sums: __m256,
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(in crate::cpu::quant) unsafe fn token_sums(a: &BlockQ8K) -> TokenSums {
        let d = _mm256_set1_ps(a.d);
        let bsums = unsafe { _mm256_loadu_si256(a.bsums.as_ptr().cast()) };
        let pairs = _mm256_madd_epi16(bsums, _mm256_set1_epi16(1));
        TokenSums {
            d,
            sums: _mm256_mul_ps(_mm256_cvtepi32_ps(pairs), d),
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(in crate::cpu::quant) fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx512 {
    //! As the AVX2 path with 64-byte vectors: one vector holds two sub-blocks (the low and high
    //! nibbles of a 32-byte chunk), and VNNI's vpdpwssd applies the scales and accumulates in one
    //! instruction. 32 registers allow 4x4 tiles. The mins enter in f32 with one FMA per row and
    //! token: (dmin * min of each 16-value group) x (d_act * the activations' group sum).

    use super::super::kquant_x86::{dpwssd, Avx512, Kernel, Prepared};
    use super::*;
    use std::arch::x86_64::*;

    /// Q4_K for the shared driver (`kquant_x86::gemm`).
    pub(crate) struct Q4KAvx512;

    impl Kernel for Q4KAvx512 {
        type Simd = Avx512;
        const BLOCK_BYTES: usize = BLOCK_BYTES;
        type Scales = BlockScales;
        type Quants = [__m512i; 4];

        /// A block's quants one byte each, 64 values per vector: vector j holds sub-block 2j in its
        /// low half and 2j+1 in its high half.
        #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
        #[inline]
        unsafe fn unpack(block: *const u8) -> [__m512i; 4] {
            let m4 = _mm512_set1_epi8(0x0f);
            let mut quants = [_mm512_setzero_si512(); 4];
            for (j, quants) in quants.iter_mut().enumerate() {
                let q = unsafe { _mm256_loadu_si256(block.add(QS + 32 * j).cast()) };
                let both =
                    _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1);
                *quants = _mm512_and_si512(both, m4);
            }
            quants
        }

        #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
        #[inline]
        unsafe fn block_scales(block: *const u8) -> BlockScales {
            let dd = _mm_cvtph_ps(_mm_cvtsi32_si128(unsafe {
                block.cast::<i32>().read_unaligned()
            }));
            let (scales, mins) =
                unpack_scales(unsafe { std::slice::from_raw_parts(block.add(SCALES), 12) });
            let scales =
                _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_cvtsi64_si128(scales as i64)));
            let mut chunks = [_mm512_setzero_si512(); 4];
            for (j, v) in (0i16..).zip(chunks.iter_mut()) {
                let idx = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_set1_epi16(2 * j)),
                    _mm256_set1_epi16(2 * j + 1),
                    1,
                );
                *v = _mm512_permutexvar_epi16(idx, scales);
            }
            let pairs = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
            let mins16 = _mm_shuffle_epi8(_mm_cvtsi64_si128(mins as i64), pairs);
            let dmin = _mm512_broadcastss_ps(_mm_movehdup_ps(dd));
            BlockScales {
                scales: chunks,
                mins: _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(mins16)), dmin),
                d: _mm512_broadcastss_ps(dd),
            }
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

    /// The tile of the formats with Q4_K's scales and mins (Q4_K, Q5_K), which differ only in
    /// how their quants unpack (`K::unpack`).
    ///
    /// # Safety
    /// As `Kernel::tile`.
    // Rows and tokens index several arrays each (scales, sums, accumulators).
    #[allow(clippy::needless_range_loop)]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(in crate::cpu::quant) unsafe fn scale_min_tile<
        K,
        const R: usize,
        const T: usize,
        const CACHED: bool,
    >(
        w: *const u8,
        row_bytes: usize,
        acts: *const BlockQ8K,
        blocks_per_row: usize,
        out: *mut f32,
        ldo: usize,
        cached: *const Prepared<K>,
    ) where
        K: Kernel<Simd = Avx512, Scales = BlockScales, Quants = [__m512i; 4]>,
    {
        let mut acc = [[_mm512_setzero_ps(); T]; R];
        for b in 0..blocks_per_row {
            let block = |r: usize| unsafe { w.add(r * row_bytes + b * K::BLOCK_BYTES) };
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
                    *sc = unsafe { K::block_scales(block(r)) };
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
                    *unpacked = unsafe { K::unpack(block(r)) };
                }
            }
            let mut sumi = [[_mm512_setzero_si512(); T]; R];
            for j in 0..4 {
                for r in 0..R {
                    let q = if !CACHED {
                        unpacked[r][j]
                    } else {
                        prepared(r).quants[j]
                    };
                    for t in 0..T {
                        let a =
                            unsafe { _mm512_loadu_si512(act(t).qs.as_ptr().add(64 * j).cast()) };
                        let p = _mm512_maddubs_epi16(q, a);
                        sumi[r][t] = dpwssd(sumi[r][t], p, sc[r].scales[j]);
                    }
                }
            }
            for r in 0..R {
                for t in 0..T {
                    let dd = _mm512_mul_ps(sc[r].d, ts[t].d);
                    let x = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi[r][t]), dd, acc[r][t]);
                    acc[r][t] = _mm512_fnmadd_ps(sc[r].mins, ts[t].sums, x);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (t, &v) in acc.iter().enumerate() {
                unsafe { *out.add(t * ldo + r) = _mm512_reduce_add_ps(v) };
            }
        }
    }

    #[derive(Clone, Copy)]
    pub(crate) struct BlockScales {
        /// Per 64-value chunk j: sub-block 2j's scale in the low half, 2j+1's in the high half.
        pub(in crate::cpu::quant) scales: [__m512i; 4],
        /// dmin * min for each 16-value group.
        pub(in crate::cpu::quant) mins: __m512,
        pub(in crate::cpu::quant) d: __m512,
    }

    /// A token's block: d broadcast, and d times each 16-value group sum.
    #[derive(Clone, Copy)]
    pub(in crate::cpu::quant) struct TokenSums {
        pub(in crate::cpu::quant) d: __m512,
        pub(in crate::cpu::quant) sums: __m512,
    }

    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    pub(in crate::cpu::quant) unsafe fn token_sums(a: &BlockQ8K) -> TokenSums {
        let d = _mm512_set1_ps(a.d);
        let bsums = unsafe { _mm256_loadu_si256(a.bsums.as_ptr().cast()) };
        TokenSums {
            d,
            sums: _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(bsums)), d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::kquant::{gemm, gemm_to};
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
    fn unpack_scales_matches_ggml_get_scale_min_k4() {
        let mut rng = Rng::new(4);
        for _ in 0..100 {
            let packed: Vec<u8> = (0..12).map(|_| rng.next_u64() as u8).collect();
            let (scales, mins) = unpack_scales(&packed);
            for j in 0..8 {
                let (sc, m) = if j < 4 {
                    (packed[j] & 63, packed[j + 4] & 63)
                } else {
                    (
                        (packed[j + 4] & 0xf) | ((packed[j - 4] >> 6) << 4),
                        (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4),
                    )
                };
                assert_eq!(
                    ((scales >> (8 * j)) as u8, (mins >> (8 * j)) as u8),
                    (sc, m),
                    "sub-block {j}"
                );
            }
        }
    }

    #[test]
    fn dequantize_matches_ggml() {
        let w = fixture_bytes("q4_k.bin");
        let mut ours = vec![0f32; 512];
        dequantize_row(&w, &mut ours);
        assert_eq!(ours, fixture_f32("q4_k.dequant.f32"));
    }

    #[test]
    fn gemm_matches_ggml_vec_dot_at_every_isa() {
        let w = fixture_bytes("q4_k.bin");
        let expected = fixture_f32("q4_k.dot.f32")[0];
        for isa in Isa::all_supported() {
            let mut out = [0f32];
            gemm::<Q4K>(isa, &w, w.len(), 1, &fixture_acts(), 2, 1, &mut out, 1);
            assert!(
                (out[0] - expected).abs() <= 1e-5 * expected.abs(),
                "{isa:?}: {} vs {expected}",
                out[0]
            );
        }
    }

    #[test]
    fn gemm_to_fills_disjoint_row_ranges_from_two_threads() {
        let mut rng = Rng::new(7);
        let (n_rows, n_tok, blocks_per_row) = (10, 6, 2);
        let row_bytes = blocks_per_row * BLOCK_BYTES;
        let mut w = vec![0u8; n_rows * row_bytes];
        for block in w.chunks_exact_mut(BLOCK_BYTES) {
            random_block(&mut rng, block);
        }
        let (_, acts) = random_acts(&mut rng, n_tok, blocks_per_row * QK_K);
        for isa in Isa::all_supported() {
            let mut whole = vec![0f32; n_tok * n_rows];
            gemm::<Q4K>(
                isa,
                &w,
                row_bytes,
                n_rows,
                &acts,
                blocks_per_row,
                n_tok,
                &mut whole,
                n_rows,
            );
            let mut split = vec![f32::NAN; n_tok * n_rows];
            struct Out(*mut f32);
            // SAFETY: the threads below write disjoint elements.
            unsafe impl Sync for Out {}
            let out = Out(split.as_mut_ptr());
            let out = &out;
            std::thread::scope(|scope| {
                for (r0, rows) in [(0, 3), (3, 7)] {
                    let (w, acts) = (&w[r0 * row_bytes..], &acts);
                    scope.spawn(move || unsafe {
                        let out = out.0.add(r0);
                        gemm_to::<Q4K>(
                            isa,
                            w,
                            row_bytes,
                            rows,
                            acts,
                            blocks_per_row,
                            n_tok,
                            out,
                            n_rows,
                        )
                    });
                }
            });
            assert_eq!(split, whole, "{isa:?}");
        }
    }

    #[test]
    fn gemm_matches_dequantized_dot_at_every_isa() {
        check_gemm_against_dequantized(BLOCK_BYTES, dequantize_row, gemm::<Q4K>, random_block, 41);
    }
}
