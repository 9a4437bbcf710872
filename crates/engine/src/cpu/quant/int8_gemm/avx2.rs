//! AVX2: a ymm lane per row of half a group (8 rows); `vpmaddubsw` multiplies a chunk's four
//! unsigned weight bytes by a broadcast of the token's four activation bytes, in 16-bit pairs.
//!
//! For 4-bit weights the eight chunks of a block add up in 16 bits without overflow
//! (8 * 2 * 15 * 128 < 32768) before one `vpmaddwd` widens them; signed Q8_0 weights use the
//! `sign` trick (`|w| * sign(a, w)`) and widen after every chunk, as do Q5_1's unsigned bytes
//! (eight chunks of `2 * 31 * 128` would overflow 16 bits).

// Token loops index several per-token arrays (accumulators, sums) in step.
#![allow(clippy::needless_range_loop)]

use super::{act_block_bytes, act_qs_offset, format, has_min, Problem, Q4_0, Q5_1, Q8_0};
use crate::cpu::quant::packed::GROUP_ROWS;
use crate::cpu::quant::OutTile;
use std::arch::x86_64::*;

const MAX_TOKENS: usize = 4;
const HALF: usize = GROUP_ROWS / 2;

/// # Safety
/// The CPU must support AVX2, FMA and F16C; `p` must have passed `check`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn gemm<const KIND: u8>(p: &Problem, out: OutTile) {
    let group_bytes = p.blocks_per_row * format(KIND).group_block_bytes();
    for group in 0..p.n_rows.div_ceil(GROUP_ROWS) {
        let w = p.w.as_ptr().add(group * group_bytes);
        for half in 0..2 {
            let row0 = group * GROUP_ROWS + half * HALF;
            if row0 >= p.n_rows {
                break;
            }
            let rows = (p.n_rows - row0).min(HALF);
            let mut t = 0;
            while t + MAX_TOKENS <= p.n_tok {
                tile::<KIND, MAX_TOKENS>(p, w, half, t, row0, rows, out);
                t += MAX_TOKENS;
            }
            let left = p.n_tok - t;
            if left & 2 != 0 {
                tile::<KIND, 2>(p, w, half, t, row0, rows, out);
                t += 2;
            }
            if left & 1 != 0 {
                tile::<KIND, 1>(p, w, half, t, row0, rows, out);
            }
        }
    }
}

/// Tokens `t0..t0 + T` against half `half` of the group at `w`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn tile<const KIND: u8, const T: usize>(
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
    let acts = p.acts.as_ptr().add(t0 * token_stride + act_qs_offset(KIND));
    let first = t0 * bpr;
    let nibble_mask = _mm256_set1_epi8(0x0F);
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); T];

    for b in 0..bpr {
        let gb = w.add(b * gbb);
        let quants = gb.add(half * 32);
        let a = acts.add(b * abb);
        // Four activation bytes of token `t`, in every lane.
        macro_rules! bcast {
            ($t:expr, $byte:expr) => {
                _mm256_set1_epi32((a.add($t * token_stride + $byte) as *const i32).read_unaligned())
            };
        }
        let mut isum = [_mm256_setzero_si256(); T];
        if KIND == Q8_0 {
            for c in 0..8 {
                let wc = _mm256_loadu_si256(quants.add(64 * c) as *const _);
                let magnitude = _mm256_sign_epi8(wc, wc);
                for t in 0..T {
                    let pairs =
                        _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(bcast!(t, 4 * c), wc));
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(pairs, ones));
                }
            }
        } else if KIND == Q5_1 {
            for c in 0..8 {
                let wc = _mm256_loadu_si256(quants.add(64 * c) as *const _);
                for t in 0..T {
                    let pairs = _mm256_maddubs_epi16(wc, bcast!(t, 4 * c));
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(pairs, ones));
                }
            }
        } else {
            let mut pairs = [_mm256_setzero_si256(); T];
            for c in 0..4 {
                let v = _mm256_loadu_si256(quants.add(64 * c) as *const _);
                let lo = _mm256_and_si256(v, nibble_mask);
                let hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble_mask);
                for t in 0..T {
                    pairs[t] =
                        _mm256_add_epi16(pairs[t], _mm256_maddubs_epi16(lo, bcast!(t, 4 * c)));
                    pairs[t] =
                        _mm256_add_epi16(pairs[t], _mm256_maddubs_epi16(hi, bcast!(t, 16 + 4 * c)));
                }
            }
            for t in 0..T {
                isum[t] = _mm256_madd_epi16(pairs[t], ones);
                if KIND == Q4_0 {
                    let sum = *p.sums.get_unchecked(first + t * bpr + b);
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_set1_epi32(-8 * sum));
                }
            }
        }
        let scales = gb.add(fmt.scales_offset() + half * 2 * HALF);
        let d_w = _mm256_cvtph_ps(_mm_loadu_si128(scales as *const _));
        for t in 0..T {
            let d_a = *p.d.get_unchecked(first + t * bpr + b);
            let scale = _mm256_mul_ps(d_w, _mm256_set1_ps(d_a));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), scale, acc[t]);
        }
        if has_min(KIND) {
            let m_w = _mm256_cvtph_ps(_mm_loadu_si128(scales.add(2 * GROUP_ROWS) as *const _));
            for t in 0..T {
                let s_a = *p.s.get_unchecked(first + t * bpr + b);
                acc[t] = _mm256_fmadd_ps(m_w, _mm256_set1_ps(s_a), acc[t]);
            }
        }
    }

    for (t, v) in acc.iter().enumerate() {
        let dst = out.ptr_at(t0 + t, row0);
        if rows == HALF {
            _mm256_storeu_ps(dst, *v);
        } else {
            let mut lanes = [0f32; HALF];
            _mm256_storeu_ps(lanes.as_mut_ptr(), *v);
            std::ptr::copy_nonoverlapping(lanes.as_ptr(), dst, rows);
        }
    }
}
