//! NEON kernels for the K-quants (Q4_K, Q5_K, Q6_K) against Q8_K activations.
//!
//! A row tile's blocks are first decoded (`prepare`) into one signed byte per quant in value
//! order plus their integer scales, once per token block of `for_each_tile`; the tiles then
//! only multiply: per 32- (Q4_K, Q5_K) or 16-value (Q6_K) group a byte dot product (`sdot`, or
//! widening multiplies without the dot-product extension), times the group's scale, summed into
//! the block's integer dot product. That integer is exact, so the float steps after it can be the
//! scalar reference's own, per block and in block order: the NEON results are bit-identical to
//! scalar ones (the x86 kernels, which keep f32 lanes across blocks, are not, and are tested
//! against a bound instead).

// Rows and tokens index several arrays each (scales, sums, accumulators).
#![allow(clippy::needless_range_loop)]

use super::neon::dot16;
use super::q4_k::unpack_scales;
use super::q8_k::{for_each_tile, read_f16, with_scratch, BlockQ8K, QK_K};
use super::{q4_k, q5_k, q6_k};
use std::arch::aarch64::*;

/// Which K-quant a kernel instance handles (a const parameter, so each is compiled apart).
pub(crate) const Q4K: u8 = 0;
pub(crate) const Q5K: u8 = 1;
pub(crate) const Q6K: u8 = 2;

const fn block_bytes(kind: u8) -> usize {
    match kind {
        Q4K => q4_k::BLOCK_BYTES,
        Q5K => q5_k::BLOCK_BYTES,
        _ => q6_k::BLOCK_BYTES,
    }
}

/// Values per scaled group: Q4_K and Q5_K scale 32-value sub-blocks, Q6_K 16-value groups.
const fn group_len(kind: u8) -> usize {
    if kind == Q6K {
        16
    } else {
        32
    }
}

/// Rows and tokens of the largest tile.
const MAX_ROWS: usize = 2;
const MAX_TOKENS: usize = 4;

/// One block decoded for the tiles.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Prepared {
    /// The quants in value order: 0..32 for Q4_K and Q5_K, q - 32 (-32..32) for Q6_K.
    q: [i8; QK_K],
    /// Each group's scale (8 for Q4_K and Q5_K, 16 for Q6_K).
    scales: [i32; 16],
    /// Q4_K and Q5_K: each sub-block's min.
    mins: [i16; 8],
    d: f32,
    dmin: f32,
}

/// Calls `$kernel::<KIND, rows, toks>` for a runtime tile shape.
macro_rules! dispatch {
    ($kernel:ident, $kind:ident, $rows:expr, $toks:expr, $args:expr) => {{
        let (a, bpr, o, ldo, c) = $args;
        match ($rows, $toks) {
            (1, 1) => $kernel::<$kind, 1, 1>(a, bpr, o, ldo, c),
            (1, 2) => $kernel::<$kind, 1, 2>(a, bpr, o, ldo, c),
            (1, 3) => $kernel::<$kind, 1, 3>(a, bpr, o, ldo, c),
            (1, 4) => $kernel::<$kind, 1, 4>(a, bpr, o, ldo, c),
            (2, 1) => $kernel::<$kind, 2, 1>(a, bpr, o, ldo, c),
            (2, 2) => $kernel::<$kind, 2, 2>(a, bpr, o, ldo, c),
            (2, 3) => $kernel::<$kind, 2, 3>(a, bpr, o, ldo, c),
            (2, 4) => $kernel::<$kind, 2, 4>(a, bpr, o, ldo, c),
            (rows, toks) => unreachable!("no {rows}x{toks} tile"),
        }
    }};
}

/// `out[t * ldo + r] = dot(row r, token t)`, as `kquant::gemm_to`.
///
/// # Safety
/// As `kquant::gemm_to` (arguments checked by `check_gemm_args`); with `dotprod` the CPU must have the
/// dot-product extension.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm<const KIND: u8>(
    dotprod: bool,
    w: &[u8],
    row_bytes: usize,
    n_rows: usize,
    acts: &[BlockQ8K],
    blocks_per_row: usize,
    n_tok: usize,
    out: *mut f32,
    ldo: usize,
) {
    let (w, acts) = (w.as_ptr(), acts.as_ptr());
    let cache_bytes = MAX_ROWS * blocks_per_row * std::mem::size_of::<Prepared>();
    with_scratch(cache_bytes, |scratch| {
        let cache = scratch.cast::<Prepared>();
        for_each_tile(
            n_rows,
            n_tok,
            MAX_ROWS,
            MAX_TOKENS,
            blocks_per_row,
            |r0, rows| unsafe {
                prepare::<KIND>(
                    w.add(r0 * row_bytes),
                    row_bytes,
                    rows,
                    blocks_per_row,
                    cache,
                )
            },
            |r0, rows, t0, toks| unsafe {
                let args = (
                    acts.add(t0 * blocks_per_row),
                    blocks_per_row,
                    out.add(t0 * ldo + r0),
                    ldo,
                    cache.cast_const(),
                );
                if dotprod {
                    dispatch!(tile_dotprod, KIND, rows, toks, args)
                } else {
                    dispatch!(tile_neon, KIND, rows, toks, args)
                }
            },
        );
    });
}

/// Decodes the blocks of `rows` rows into `cache[b * rows + r]`.
///
/// # Safety
/// `w` must hold `rows` rows of `blocks_per_row` blocks, `row_bytes` apart; `cache` room for
/// `rows * blocks_per_row` entries.
unsafe fn prepare<const KIND: u8>(
    w: *const u8,
    row_bytes: usize,
    rows: usize,
    blocks_per_row: usize,
    cache: *mut Prepared,
) {
    for b in 0..blocks_per_row {
        for r in 0..rows {
            unsafe {
                let block = std::slice::from_raw_parts(
                    w.add(r * row_bytes + b * block_bytes(KIND)),
                    block_bytes(KIND),
                );
                let p = &mut *cache.add(b * rows + r);
                match KIND {
                    Q4K => decode_q4k(block, p),
                    Q5K => decode_q5k(block, p),
                    _ => decode_q6k(block, p),
                }
            }
        }
    }
}

/// Scales, mins, d and dmin of a Q4_K or Q5_K block (the same fields at the same offsets).
fn decode_scales_and_mins(block: &[u8], p: &mut Prepared) {
    let (scales, mins) = unpack_scales(&block[q4_k::SCALES..q4_k::SCALES + 12]);
    for j in 0..8 {
        p.scales[j] = i32::from((scales >> (8 * j)) as u8);
        p.mins[j] = i16::from((mins >> (8 * j)) as u8);
    }
    p.d = read_f16(block, 0);
    p.dmin = read_f16(block, 2);
}

fn decode_q4k(block: &[u8], p: &mut Prepared) {
    decode_scales_and_mins(block, p);
    // SAFETY: 128 bytes of quants at QS; 256 bytes of `p.q`.
    unsafe {
        let (qs, q) = (block.as_ptr().add(q4_k::QS), p.q.as_mut_ptr());
        for j in 0..4 {
            for h in 0..2 {
                let v = vld1q_u8(qs.add(32 * j + 16 * h));
                let at = 64 * j + 16 * h;
                vst1q_s8(
                    q.add(at),
                    vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))),
                );
                vst1q_s8(q.add(at + 32), vreinterpretq_s8_u8(vshrq_n_u8::<4>(v)));
            }
        }
    }
}

fn decode_q5k(block: &[u8], p: &mut Prepared) {
    decode_scales_and_mins(block, p);
    // SAFETY: 32 bytes of high bits at QH, 128 of low nibbles at QS; 256 bytes of `p.q`.
    unsafe {
        let (qs, q) = (block.as_ptr().add(q5_k::QS), p.q.as_mut_ptr());
        let qh = [0, 16].map(|h| vld1q_u8(block.as_ptr().add(q5_k::QH + h)));
        let sixteen = vdupq_n_u8(16);
        // Bit `bit` of each qh byte, as 16 where set.
        let high = |h: usize, bit: usize| vandq_u8(vtstq_u8(qh[h], vdupq_n_u8(1 << bit)), sixteen);
        for j in 0..4 {
            for h in 0..2 {
                let v = vld1q_u8(qs.add(32 * j + 16 * h));
                let at = 64 * j + 16 * h;
                let lo = vorrq_u8(vandq_u8(v, vdupq_n_u8(0x0f)), high(h, 2 * j));
                let hi = vorrq_u8(vshrq_n_u8::<4>(v), high(h, 2 * j + 1));
                vst1q_s8(q.add(at), vreinterpretq_s8_u8(lo));
                vst1q_s8(q.add(at + 32), vreinterpretq_s8_u8(hi));
            }
        }
    }
}

fn decode_q6k(block: &[u8], p: &mut Prepared) {
    for (s, &b) in p.scales.iter_mut().zip(&block[q6_k::SCALES..q6_k::D]) {
        *s = i32::from(b as i8);
    }
    p.d = read_f16(block, q6_k::D);
    // SAFETY: 128 bytes of low nibbles at 0, 64 of high bits at QH; 256 bytes of `p.q`.
    unsafe {
        let q = p.q.as_mut_ptr();
        let (m4, m2, offset) = (vdupq_n_u8(0x0f), vdupq_n_u8(3), vdupq_n_s8(32));
        for half in 0..2 {
            let ql = block.as_ptr().add(64 * half);
            let qh = block.as_ptr().add(q6_k::QH + 32 * half);
            for h in 0..2 {
                let low = vld1q_u8(ql.add(16 * h));
                let high = vld1q_u8(ql.add(32 + 16 * h));
                let hb = vld1q_u8(qh.add(16 * h));
                let quarters = [
                    vorrq_u8(vandq_u8(low, m4), vshlq_n_u8::<4>(vandq_u8(hb, m2))),
                    vorrq_u8(
                        vandq_u8(high, m4),
                        vshlq_n_u8::<4>(vandq_u8(vshrq_n_u8::<2>(hb), m2)),
                    ),
                    vorrq_u8(
                        vshrq_n_u8::<4>(low),
                        vshlq_n_u8::<4>(vandq_u8(vshrq_n_u8::<4>(hb), m2)),
                    ),
                    vorrq_u8(vshrq_n_u8::<4>(high), vshlq_n_u8::<4>(vshrq_n_u8::<6>(hb))),
                ];
                for (k, v) in quarters.into_iter().enumerate() {
                    let signed = vsubq_s8(vreinterpretq_s8_u8(v), offset);
                    vst1q_s8(q.add(128 * half + 32 * k + 16 * h), signed);
                }
            }
        }
    }
}

/// The tile kernel for CPUs without the dot-product extension.
#[target_feature(enable = "neon")]
unsafe fn tile_neon<const KIND: u8, const R: usize, const T: usize>(
    acts: *const BlockQ8K,
    blocks_per_row: usize,
    out: *mut f32,
    ldo: usize,
    cache: *const Prepared,
) {
    unsafe { tile::<KIND, R, T, false>(acts, blocks_per_row, out, ldo, cache) }
}

/// The tile kernel with `sdot`.
#[target_feature(enable = "neon,dotprod")]
unsafe fn tile_dotprod<const KIND: u8, const R: usize, const T: usize>(
    acts: *const BlockQ8K,
    blocks_per_row: usize,
    out: *mut f32,
    ldo: usize,
    cache: *const Prepared,
) {
    unsafe { tile::<KIND, R, T, true>(acts, blocks_per_row, out, ldo, cache) }
}

/// `R` prepared rows x `T` tokens; inlined into the two entry points above so that it compiles
/// with their target features.
#[inline(always)]
unsafe fn tile<const KIND: u8, const R: usize, const T: usize, const DOT: bool>(
    acts: *const BlockQ8K,
    blocks_per_row: usize,
    out: *mut f32,
    ldo: usize,
    cache: *const Prepared,
) {
    let group = group_len(KIND);
    // The scalar reference sums its block values with `Iterator::sum`, which starts at -0.0.
    let mut acc = [[-0.0f32; T]; R];
    for b in 0..blocks_per_row {
        // SAFETY: `prepare` filled `blocks_per_row * R` entries; `check_gemm_args` checked that
        // `T` tokens of `blocks_per_row` activation blocks exist.
        let prepared: [&Prepared; R] = std::array::from_fn(|r| unsafe { &*cache.add(b * R + r) });
        let act: [&BlockQ8K; T] =
            std::array::from_fn(|t| unsafe { &*acts.add(t * blocks_per_row + b) });
        let mut isum = [[vdupq_n_s32(0); T]; R];
        for g in 0..QK_K / group {
            for r in 0..R {
                let q = prepared[r].q.as_ptr().add(g * group);
                let scale = prepared[r].scales[g];
                for t in 0..T {
                    let a = act[t].qs.as_ptr().add(g * group);
                    let mut part = vdupq_n_s32(0);
                    for c in 0..group / 16 {
                        part = dot16::<DOT>(part, vld1q_s8(q.add(16 * c)), vld1q_s8(a.add(16 * c)));
                    }
                    isum[r][t] = vmlaq_n_s32(isum[r][t], part, scale);
                }
            }
        }
        // The block's value exactly as the scalar `block_dot` computes it.
        for t in 0..T {
            let a = act[t];
            // Sums of the activations over each 32-value sub-block (pairs of 16-value sums).
            let pairs = vpaddq_s16(
                vld1q_s16(a.bsums.as_ptr()),
                vld1q_s16(a.bsums.as_ptr().add(8)),
            );
            for r in 0..R {
                let p = prepared[r];
                let sumi = vaddvq_s32(isum[r][t]);
                let value = if KIND == Q6K {
                    a.d * p.d * sumi as f32
                } else {
                    let mins = vld1q_s16(p.mins.as_ptr());
                    let summ = vaddvq_s32(vmlal_high_s16(
                        vmull_s16(vget_low_s16(pairs), vget_low_s16(mins)),
                        pairs,
                        mins,
                    ));
                    a.d * (p.d * sumi as f32 - p.dmin * summ as f32)
                };
                acc[r][t] += value;
            }
        }
    }
    for r in 0..R {
        for t in 0..T {
            // SAFETY: the caller's output covers `T` tokens of `R` rows at `ldo`.
            unsafe { *out.add(t * ldo + r) = acc[r][t] };
        }
    }
}
