//! F32 and F16 weights (GGML's plain row-major layout) against f32 activations. Not on the
//! quantized models' hot path, so a straightforward FMA kernel (AVX2 or NEON): four rows share
//! each load of a token's activations.

use super::{f16_bits_to_f32, OutTile};
use crate::cpu::Isa;

/// Weights of one of the two float types, `n_rows * cols` values.
#[derive(Clone, Copy)]
pub(crate) enum FloatWeights<'a> {
    F32(&'a [f32]),
    /// f16 bit patterns.
    F16(&'a [u16]),
}

impl FloatWeights<'_> {
    fn len(&self) -> usize {
        match self {
            FloatWeights::F32(w) => w.len(),
            FloatWeights::F16(w) => w.len(),
        }
    }

    fn get(&self, i: usize) -> f32 {
        match self {
            FloatWeights::F32(w) => w[i],
            FloatWeights::F16(w) => f16_bits_to_f32(w[i]),
        }
    }
}

/// `out[t][r] = dot(w row r, x row t)`, rows of `cols` values.
pub(crate) fn gemm(
    isa: Isa,
    w: FloatWeights,
    cols: usize,
    n_rows: usize,
    x: &[f32],
    n_tok: usize,
    out: OutTile,
) {
    assert!(w.len() >= n_rows * cols, "weights too short");
    assert!(x.len() >= n_tok * cols, "activations too short");
    assert!(
        out.n_tok() >= n_tok && out.n_rows() >= n_rows,
        "output too small"
    );
    match isa {
        Isa::Scalar => gemm_scalar(w, cols, n_rows, x, n_tok, out),
        // SAFETY: non-scalar `Isa` values imply AVX2/FMA/F16C (see `cpu::detect`); lengths
        // were checked above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Avx512Vnni => unsafe { avx2::gemm(w, cols, n_rows, x, n_tok, out) },
        // SAFETY: lengths were checked above (NEON is part of every aarch64 CPU).
        #[cfg(target_arch = "aarch64")]
        Isa::Neon | Isa::NeonDotprod => unsafe { neon::gemm(w, cols, n_rows, x, n_tok, out) },
    }
}

fn gemm_scalar(w: FloatWeights, cols: usize, n_rows: usize, x: &[f32], n_tok: usize, out: OutTile) {
    for t in 0..n_tok {
        let xt = &x[t * cols..][..cols];
        for r in 0..n_rows {
            let dot = xt
                .iter()
                .enumerate()
                .map(|(k, v)| w.get(r * cols + k) * v)
                .sum();
            out.set(t, r, dot);
        }
    }
}

/// The SIMD paths' loops: rows in groups of up to `ROWS`, each against every token;
/// `dot_rows(r, rows, x_t)` returns the dot products of rows `r..r + rows` with token `x_t`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn by_row_groups(
    cols: usize,
    n_rows: usize,
    x: &[f32],
    n_tok: usize,
    out: OutTile,
    mut dot_rows: impl FnMut(usize, usize, &[f32]) -> [f32; ROWS],
) {
    let mut r = 0;
    while r < n_rows {
        let rows = (n_rows - r).min(ROWS);
        for t in 0..n_tok {
            let dots = dot_rows(r, rows, &x[t * cols..][..cols]);
            for (i, dot) in dots.iter().take(rows).enumerate() {
                out.set(t, r + i, *dot);
            }
        }
        r += rows;
    }
}

/// Rows that share each load of a token's activations in the SIMD paths.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const ROWS: usize = 4;

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{FloatWeights, OutTile, ROWS};
    use std::arch::x86_64::*;

    /// # Safety
    /// AVX2, FMA and F16C must be available; lengths as checked by `super::gemm`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn gemm(
        w: FloatWeights,
        cols: usize,
        n_rows: usize,
        x: &[f32],
        n_tok: usize,
        out: OutTile,
    ) {
        super::by_row_groups(cols, n_rows, x, n_tok, out, |r, rows, x_t| {
            // SAFETY: the CPU features as this function's; lengths as checked by `super::gemm`.
            unsafe { dot_rows(w, cols, r, rows, x_t) }
        });
    }

    /// Dot products of rows `r..r + rows` (at most `ROWS`) with `x`.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn dot_rows(
        w: FloatWeights,
        cols: usize,
        r: usize,
        rows: usize,
        x: &[f32],
    ) -> [f32; ROWS] {
        let mut acc = [_mm256_setzero_ps(); ROWS];
        let body = cols / 8 * 8;
        let mut k = 0;
        while k < body {
            let xv = _mm256_loadu_ps(x.as_ptr().add(k));
            for (i, acc) in acc.iter_mut().enumerate().take(rows) {
                let at = (r + i) * cols + k;
                let wv = match w {
                    FloatWeights::F32(w) => _mm256_loadu_ps(w.as_ptr().add(at)),
                    FloatWeights::F16(w) => {
                        _mm256_cvtph_ps(_mm_loadu_si128(w.as_ptr().add(at) as *const _))
                    }
                };
                *acc = _mm256_fmadd_ps(wv, xv, *acc);
            }
            k += 8;
        }
        let mut dots = [0f32; ROWS];
        for i in 0..rows {
            let mut lanes = [0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), acc[i]);
            dots[i] = lanes.iter().sum::<f32>()
                + (body..cols)
                    .map(|k| w.get((r + i) * cols + k) * x[k])
                    .sum::<f32>();
        }
        dots
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::{FloatWeights, OutTile, ROWS};
    use crate::cpu::quant::neon::f16x4_to_f32;
    use std::arch::aarch64::*;

    /// # Safety
    /// Lengths as checked by `super::gemm`.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn gemm(
        w: FloatWeights,
        cols: usize,
        n_rows: usize,
        x: &[f32],
        n_tok: usize,
        out: OutTile,
    ) {
        super::by_row_groups(cols, n_rows, x, n_tok, out, |r, rows, x_t| {
            // SAFETY: the CPU features as this function's; lengths as checked by `super::gemm`.
            unsafe { dot_rows(w, cols, r, rows, x_t) }
        });
    }

    /// Dot products of rows `r..r + rows` (at most `ROWS`) with `x`, 8 values a step in two
    /// vectors per row.
    #[target_feature(enable = "neon")]
    #[inline]
    unsafe fn dot_rows(
        w: FloatWeights,
        cols: usize,
        r: usize,
        rows: usize,
        x: &[f32],
    ) -> [f32; ROWS] {
        let mut acc = [[vdupq_n_f32(0.0); 2]; ROWS];
        let body = cols / 8 * 8;
        let mut k = 0;
        while k < body {
            let xv = [
                vld1q_f32(x.as_ptr().add(k)),
                vld1q_f32(x.as_ptr().add(k + 4)),
            ];
            for (i, acc) in acc.iter_mut().enumerate().take(rows) {
                for h in 0..2 {
                    let at = (r + i) * cols + k + 4 * h;
                    let wv = match w {
                        FloatWeights::F32(w) => vld1q_f32(w.as_ptr().add(at)),
                        FloatWeights::F16(w) => f16x4_to_f32(w.as_ptr().add(at).cast()),
                    };
                    acc[h] = vfmaq_f32(acc[h], wv, xv[h]);
                }
            }
            k += 8;
        }
        let mut dots = [0f32; ROWS];
        for i in 0..rows {
            dots[i] = vaddvq_f32(vaddq_f32(acc[i][0], acc[i][1]))
                + (body..cols)
                    .map(|k| w.get((r + i) * cols + k) * x[k])
                    .sum::<f32>();
        }
        dots
    }
}
