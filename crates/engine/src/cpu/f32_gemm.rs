//! Dense f32 matrix products for the BERT embedder: `out[t][j] (+)= sum_k x[t][k] * w[j][k]
//! (+ bias[j])`, with `w` packed once into panels of 32 output columns so the inner loop reads one
//! contiguous 128-byte line of weights per step and broadcasts one input value per row.
//!
//! The AVX-512 tile is 12 rows x 32 columns (24 zmm accumulators), the AVX2 one 3 x 32 (12 ymm),
//! the NEON one 3 x 32 (24 of the 32 q registers);
//! rows are walked in blocks that stay in L2 while every panel passes over them. The caller splits
//! work between threads; one call runs on one thread.

use crate::cpu::Isa;

/// Output columns per panel.
pub(crate) const PANEL: usize = 32;
/// Rows of `x` per block: their `k` values stay in L2 while the panels pass.
const ROW_BLOCK: usize = 96;

/// A matrix of `n` output columns over `k` inputs, packed: panel `p` holds columns
/// `32p..32p+32`, for each `kk` their 32 weights side by side (zero beyond `n`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Panels {
    n: usize,
    k: usize,
    data: Vec<f32>,
}

impl Panels {
    /// Packs a row-major `n x k` matrix (one row per output column, as PyTorch's Linear stores it).
    pub(crate) fn from_rows(w: &[f32], n: usize, k: usize) -> Panels {
        assert_eq!(w.len(), n * k, "weight matrix is not {n} x {k}");
        let mut panels = Panels::default();
        panels.pack(n, k, |j, kk| w[j * k + kk]);
        panels
    }

    /// Repacks in place (reusing the buffer) from `get(column, kk)`.
    pub(crate) fn pack(&mut self, n: usize, k: usize, get: impl Fn(usize, usize) -> f32) {
        self.n = n;
        self.k = k;
        let count = n.div_ceil(PANEL);
        self.data.clear();
        self.data.resize(count * k * PANEL, 0.0);
        for p in 0..count {
            let panel = &mut self.data[p * k * PANEL..][..k * PANEL];
            for c in 0..PANEL.min(n - p * PANEL) {
                let j = p * PANEL + c;
                for kk in 0..k {
                    panel[kk * PANEL + c] = get(j, kk);
                }
            }
        }
    }

    fn panel(&self, p: usize) -> &[f32] {
        &self.data[p * self.k * PANEL..][..self.k * PANEL]
    }
}

/// `rows` rows of `k` values, row `t` starting at `data[t * stride]`.
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    pub data: &'a [f32],
    pub stride: usize,
    pub rows: usize,
}

/// How results reach `out`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Write {
    Store,
    /// Added to what `out` holds (a residual connection).
    Add,
}

/// `out[t * out_stride + j] (+)= x[t] . w[j] + bias[j]` for every row `t` and column `j < w.n()`.
pub(crate) fn gemm(
    isa: Isa,
    x: Rows,
    w: &Panels,
    bias: Option<&[f32]>,
    write: Write,
    out: &mut [f32],
    out_stride: usize,
) {
    if x.rows == 0 || w.n == 0 {
        return;
    }
    assert!(
        x.data.len() >= (x.rows - 1) * x.stride + w.k,
        "gemm: input too short"
    );
    assert!(
        out.len() >= (x.rows - 1) * out_stride + w.n && out_stride >= w.n,
        "gemm: output too short"
    );
    assert!(bias.is_none_or(|b| b.len() >= w.n), "gemm: bias too short");
    assert!(x.stride >= w.k, "gemm: input rows overlap");
    match isa {
        // SAFETY: the `Isa` values imply the CPU features (cpu::detect); bounds checked above.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => unsafe { avx512::gemm(x, w, bias, write, out, out_stride) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2::gemm(x, w, bias, write, out, out_stride) },
        #[cfg(target_arch = "aarch64")]
        Isa::Neon | Isa::NeonDotprod => unsafe { neon::gemm(x, w, bias, write, out, out_stride) },
        Isa::Scalar => gemm_scalar(x, w, bias, write, out, out_stride),
    }
}

fn gemm_scalar(
    x: Rows,
    w: &Panels,
    bias: Option<&[f32]>,
    write: Write,
    out: &mut [f32],
    out_stride: usize,
) {
    for p in 0..w.n.div_ceil(PANEL) {
        let panel = w.panel(p);
        let cols = PANEL.min(w.n - p * PANEL);
        for t in 0..x.rows {
            let xt = &x.data[t * x.stride..][..w.k];
            let mut acc = [0f32; PANEL];
            for (kk, &v) in xt.iter().enumerate() {
                for (a, &wv) in acc.iter_mut().zip(&panel[kk * PANEL..][..PANEL]) {
                    *a += v * wv;
                }
            }
            let o = &mut out[t * out_stride + p * PANEL..][..cols];
            for c in 0..cols {
                let value = acc[c] + bias.map_or(0.0, |b| b[p * PANEL + c]);
                o[c] = if write == Write::Add {
                    o[c] + value
                } else {
                    value
                };
            }
        }
    }
}

/// A SIMD tile kernel: `(x, x_stride, panel, k, sums)` writes the dot products of its rows of `x`
/// (as many as its constant says) with the panel's 32 columns into `sums`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
type TileFn<const MR: usize> =
    unsafe fn(*const f32, usize, *const f32, usize, &mut [[f32; PANEL]; MR]);

/// The AVX2 and NEON paths' loops: rows in blocks of `ROW_BLOCK`, each block walked across every
/// panel in tiles of up to `MR` rows, computed by `tiles[rows - 1]`; the bias is added to the
/// tile's sums here, and they are stored or added to `out`.
///
/// # Safety
/// The CPU must have the tile kernels' target features; bounds as checked by `gemm`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
unsafe fn by_tiles<const MR: usize>(
    x: Rows,
    w: &Panels,
    bias: Option<&[f32]>,
    write: Write,
    out: &mut [f32],
    out_stride: usize,
    tiles: [TileFn<MR>; MR],
) {
    for block in (0..x.rows).step_by(ROW_BLOCK) {
        let block_end = (block + ROW_BLOCK).min(x.rows);
        for p in 0..w.n.div_ceil(PANEL) {
            let panel = w.panel(p).as_ptr();
            let cols = PANEL.min(w.n - p * PANEL);
            let mut t = block;
            while t < block_end {
                let rows = MR.min(block_end - t);
                let xs = x.data[t * x.stride..].as_ptr();
                let mut sums = [[0f32; PANEL]; MR];
                unsafe { tiles[rows - 1](xs, x.stride, panel, w.k, &mut sums) };
                for (r, values) in sums.iter().enumerate().take(rows) {
                    let o = &mut out[(t + r) * out_stride + p * PANEL..][..cols];
                    for c in 0..cols {
                        let v = values[c] + bias.map_or(0.0, |b| b[p * PANEL + c]);
                        o[c] = if write == Write::Add { o[c] + v } else { v };
                    }
                }
                t += rows;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Panels, Rows, Write, PANEL, ROW_BLOCK};
    use std::arch::x86_64::*;

    const MR: usize = 12;

    /// # Safety
    /// AVX-512F and FMA must be available; bounds as checked by `super::gemm`.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) unsafe fn gemm(
        x: Rows,
        w: &Panels,
        bias: Option<&[f32]>,
        write: Write,
        out: &mut [f32],
        out_stride: usize,
    ) {
        let add = write == Write::Add;
        for block in (0..x.rows).step_by(ROW_BLOCK) {
            let block_end = (block + ROW_BLOCK).min(x.rows);
            for p in 0..w.n.div_ceil(PANEL) {
                let panel = w.panel(p).as_ptr();
                let cols = PANEL.min(w.n - p * PANEL);
                let bias = bias.map(|b| b.as_ptr().add(p * PANEL));
                let mut t = block;
                while t < block_end {
                    let rows = MR.min(block_end - t);
                    let xs = x.data.as_ptr().add(t * x.stride);
                    let o = out.as_mut_ptr().add(t * out_stride + p * PANEL);
                    let args = (xs, x.stride, panel, w.k, o, out_stride, cols, bias, add);
                    match rows {
                        12 => tile::<12>(args),
                        11 => tile::<11>(args),
                        10 => tile::<10>(args),
                        9 => tile::<9>(args),
                        8 => tile::<8>(args),
                        7 => tile::<7>(args),
                        6 => tile::<6>(args),
                        5 => tile::<5>(args),
                        4 => tile::<4>(args),
                        3 => tile::<3>(args),
                        2 => tile::<2>(args),
                        _ => tile::<1>(args),
                    }
                    t += rows;
                }
            }
        }
    }

    type TileArgs = (
        *const f32,
        usize,
        *const f32,
        usize,
        *mut f32,
        usize,
        usize,
        Option<*const f32>,
        bool,
    );

    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn tile<const R: usize>(
        (x, x_stride, panel, k, out, out_stride, cols, bias, add): TileArgs,
    ) {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        for kk in 0..k {
            let w0 = _mm512_loadu_ps(panel.add(kk * PANEL));
            let w1 = _mm512_loadu_ps(panel.add(kk * PANEL + 16));
            for (r, acc) in acc.iter_mut().enumerate() {
                let v = _mm512_set1_ps(*x.add(r * x_stride + kk));
                acc[0] = _mm512_fmadd_ps(v, w0, acc[0]);
                acc[1] = _mm512_fmadd_ps(v, w1, acc[1]);
            }
        }
        let lanes = |n: usize| -> __mmask16 {
            if n >= 16 {
                0xffff
            } else {
                ((1u32 << n) - 1) as __mmask16
            }
        };
        let masks = [lanes(cols), lanes(cols.saturating_sub(16))];
        for (r, acc) in acc.iter().enumerate() {
            let o = out.add(r * out_stride);
            for half in 0..2 {
                let m = masks[half];
                let mut v = acc[half];
                if let Some(b) = bias {
                    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b.add(16 * half)));
                }
                if add {
                    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, o.add(16 * half)));
                }
                _mm512_mask_storeu_ps(o.add(16 * half), m, v);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Panels, Rows, Write, PANEL};
    use std::arch::x86_64::*;

    const MR: usize = 3;

    /// # Safety
    /// AVX2 and FMA must be available; bounds as checked by `super::gemm`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn gemm(
        x: Rows,
        w: &Panels,
        bias: Option<&[f32]>,
        write: Write,
        out: &mut [f32],
        out_stride: usize,
    ) {
        let tiles = [tile::<1> as super::TileFn<MR>, tile::<2>, tile::<3>];
        super::by_tiles(x, w, bias, write, out, out_stride, tiles);
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile<const R: usize>(
        x: *const f32,
        x_stride: usize,
        panel: *const f32,
        k: usize,
        out: &mut [[f32; PANEL]; MR],
    ) {
        let mut acc = [[_mm256_setzero_ps(); 4]; R];
        for kk in 0..k {
            let w = [0, 8, 16, 24].map(|c| _mm256_loadu_ps(panel.add(kk * PANEL + c)));
            for (r, acc) in acc.iter_mut().enumerate() {
                let v = _mm256_set1_ps(*x.add(r * x_stride + kk));
                for q in 0..4 {
                    acc[q] = _mm256_fmadd_ps(v, w[q], acc[q]);
                }
            }
        }
        for (row, acc) in out.iter_mut().zip(&acc) {
            for (q, lanes) in acc.iter().enumerate() {
                _mm256_storeu_ps(row.as_mut_ptr().add(8 * q), *lanes);
            }
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::{Panels, Rows, Write, PANEL};
    use std::arch::aarch64::*;

    const MR: usize = 3;

    /// # Safety
    /// Bounds as checked by `super::gemm` (NEON is part of every aarch64 CPU).
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn gemm(
        x: Rows,
        w: &Panels,
        bias: Option<&[f32]>,
        write: Write,
        out: &mut [f32],
        out_stride: usize,
    ) {
        let tiles = [tile::<1> as super::TileFn<MR>, tile::<2>, tile::<3>];
        super::by_tiles(x, w, bias, write, out, out_stride, tiles);
    }

    #[target_feature(enable = "neon")]
    #[inline]
    unsafe fn tile<const R: usize>(
        x: *const f32,
        x_stride: usize,
        panel: *const f32,
        k: usize,
        out: &mut [[f32; PANEL]; MR],
    ) {
        let mut acc = [[vdupq_n_f32(0.0); PANEL / 4]; R];
        for kk in 0..k {
            for q in 0..PANEL / 4 {
                let w = vld1q_f32(panel.add(kk * PANEL + 4 * q));
                for (r, acc) in acc.iter_mut().enumerate() {
                    acc[q] = vfmaq_n_f32(acc[q], w, *x.add(r * x_stride + kk));
                }
            }
        }
        for (row, acc) in out.iter_mut().zip(&acc) {
            for (q, lanes) in acc.iter().enumerate() {
                vst1q_f32(row.as_mut_ptr().add(4 * q), *lanes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(x: &[f32], rows: usize, k: usize, w: &[f32], n: usize, bias: &[f32]) -> Vec<f64> {
        let mut out = vec![0f64; rows * n];
        for t in 0..rows {
            for j in 0..n {
                out[t * n + j] = (0..k)
                    .map(|kk| x[t * k + kk] as f64 * w[j * k + kk] as f64)
                    .sum::<f64>()
                    + bias[j] as f64;
            }
        }
        out
    }

    #[test]
    fn every_isa_matches_a_float64_product_at_odd_shapes() {
        let mut rng = fastrand::Rng::with_seed(7);
        for (rows, n, k) in [
            (1, 32, 8),
            (13, 45, 33),
            (100, 64, 384),
            (25, 7, 5),
            (97, 96, 17),
        ] {
            let x: Vec<f32> = (0..rows * k).map(|_| rng.f32() - 0.5).collect();
            let w: Vec<f32> = (0..n * k).map(|_| rng.f32() - 0.5).collect();
            let bias: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
            let expected = reference(&x, rows, k, &w, n, &bias);
            let panels = Panels::from_rows(&w, n, k);
            for isa in Isa::all_supported() {
                // A wider output row than needed: columns beyond n must stay untouched.
                let stride = n + 3;
                let mut out = vec![1.0f32; rows * stride];
                let input = Rows {
                    data: &x,
                    stride: k,
                    rows,
                };
                gemm(
                    isa,
                    input,
                    &panels,
                    Some(&bias),
                    Write::Add,
                    &mut out,
                    stride,
                );
                for t in 0..rows {
                    for j in 0..stride {
                        let got = out[t * stride + j] as f64;
                        let want = if j < n {
                            expected[t * n + j] + 1.0
                        } else {
                            1.0
                        };
                        assert!(
                            (got - want).abs() < 1e-4 * (k as f64).sqrt(),
                            "{isa:?} {rows}x{n}x{k} at ({t},{j}): {got} vs {want}"
                        );
                    }
                }
                gemm(isa, input, &panels, None, Write::Store, &mut out, stride);
                let got = out[(rows - 1) * stride + n - 1] as f64;
                let want = expected[rows * n - 1] - bias[n - 1] as f64;
                assert!(
                    (got - want).abs() < 1e-4 * (k as f64).sqrt(),
                    "{isa:?} store"
                );
            }
        }
    }
}
