//! AVX-512 VNNI: a zmm lane per row of a 16-row group; `vpdpbusd` multiplies a chunk's four
//! unsigned weight bytes by a broadcast of the token's four activation bytes in every lane.
//! Tiles of up to `MAX_TOKENS` tokens reuse each unpacked weight chunk.
//!
//! `vpdpbusd` wants unsigned weights: 4-bit and Q5_1 quants already are; Q8_0 weights are
//! flipped to `w + 128` and the accumulator starts at `-128 * sum(a)` (Q4_0's starts at
//! `-8 * sum(a)`).

// Token loops index several per-token arrays (accumulators, sums) in step.
#![allow(clippy::needless_range_loop)]

use super::{act_block_bytes, act_qs_offset, byte_quants, format, has_min, Problem, Q4_0, Q8_0};
use crate::cpu::quant::packed::GROUP_ROWS;
use crate::cpu::quant::OutTile;
use std::arch::x86_64::*;

const MAX_TOKENS: usize = 8;

/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C; `p` must have passed `check`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn gemm<const KIND: u8>(p: &Problem, out: OutTile) {
    let group_bytes = p.blocks_per_row * format(KIND).group_block_bytes();
    for group in 0..p.n_rows.div_ceil(GROUP_ROWS) {
        let row0 = group * GROUP_ROWS;
        let rows = (p.n_rows - row0).min(GROUP_ROWS);
        let w = p.w.as_ptr().add(group * group_bytes);
        let mut t = 0;
        while t + MAX_TOKENS <= p.n_tok {
            tile::<KIND, MAX_TOKENS>(p, w, t, row0, rows, out);
            t += MAX_TOKENS;
        }
        let left = p.n_tok - t;
        if left & 4 != 0 {
            tile::<KIND, 4>(p, w, t, row0, rows, out);
            t += 4;
        }
        if left & 2 != 0 {
            tile::<KIND, 2>(p, w, t, row0, rows, out);
            t += 2;
        }
        if left & 1 != 0 {
            tile::<KIND, 1>(p, w, t, row0, rows, out);
        }
    }
}

/// Tokens `t0..t0 + T` against the group at `w` (rows `row0..row0 + rows` of the output).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
unsafe fn tile<const KIND: u8, const T: usize>(
    p: &Problem,
    w: *const u8,
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
    // Short tiles split each dot product over two accumulators to shorten the dependency chain.
    let split = T <= 2;
    let nibble_mask = _mm512_set1_epi8(0x0F);
    let sign_flip = _mm512_set1_epi8(-128);
    let mut acc = [_mm512_setzero_ps(); T];

    for b in 0..bpr {
        let gb = w.add(b * gbb);
        let a = acts.add(b * abb);
        // Four activation bytes of token `t`, in every lane.
        macro_rules! bcast {
            ($t:expr, $byte:expr) => {
                _mm512_set1_epi32((a.add($t * token_stride + $byte) as *const i32).read_unaligned())
            };
        }
        let mut isum = [_mm512_setzero_si512(); T];
        let mut isum2 = [_mm512_setzero_si512(); T];
        if !has_min(KIND) {
            let bias = if KIND == Q4_0 { -8 } else { -128 };
            for (t, s) in isum.iter_mut().enumerate() {
                *s = _mm512_set1_epi32(bias * *p.sums.get_unchecked(first + t * bpr + b));
            }
        }
        if byte_quants(KIND) {
            for c in 0..8 {
                let mut wc = _mm512_loadu_si512(gb.add(64 * c) as *const _);
                if KIND == Q8_0 {
                    wc = _mm512_xor_si512(wc, sign_flip);
                }
                for t in 0..T {
                    if split && c % 2 == 1 {
                        isum2[t] = _mm512_dpbusd_epi32(isum2[t], wc, bcast!(t, 4 * c));
                    } else {
                        isum[t] = _mm512_dpbusd_epi32(isum[t], wc, bcast!(t, 4 * c));
                    }
                }
            }
        } else {
            for c in 0..4 {
                let v = _mm512_loadu_si512(gb.add(64 * c) as *const _);
                let lo = _mm512_and_si512(v, nibble_mask);
                let hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble_mask);
                for t in 0..T {
                    isum[t] = _mm512_dpbusd_epi32(isum[t], lo, bcast!(t, 4 * c));
                    if split {
                        isum2[t] = _mm512_dpbusd_epi32(isum2[t], hi, bcast!(t, 16 + 4 * c));
                    } else {
                        isum[t] = _mm512_dpbusd_epi32(isum[t], hi, bcast!(t, 16 + 4 * c));
                    }
                }
            }
        }
        let scales = gb.add(fmt.scales_offset());
        let d_w = _mm512_cvtph_ps(_mm256_loadu_si256(scales as *const _));
        for t in 0..T {
            let total = if split {
                _mm512_add_epi32(isum[t], isum2[t])
            } else {
                isum[t]
            };
            let d_a = *p.d.get_unchecked(first + t * bpr + b);
            let scale = _mm512_mul_ps(d_w, _mm512_set1_ps(d_a));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), scale, acc[t]);
        }
        if has_min(KIND) {
            let m_w = _mm512_cvtph_ps(_mm256_loadu_si256(scales.add(2 * GROUP_ROWS) as *const _));
            for t in 0..T {
                let s_a = *p.s.get_unchecked(first + t * bpr + b);
                acc[t] = _mm512_fmadd_ps(m_w, _mm512_set1_ps(s_a), acc[t]);
            }
        }
    }

    let mask: __mmask16 = ((1u32 << rows) - 1) as u16;
    for (t, v) in acc.iter().enumerate() {
        _mm512_mask_storeu_ps(out.ptr_at(t0 + t, row0), mask, *v);
    }
}
