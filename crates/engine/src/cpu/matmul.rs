//! The face the Llama forward uses: `QMatrix` (a weight matrix in the layout its kernels want)
//! times `Activations` (inputs quantized once for a weight family), split over a `ThreadPool`.
//!
//! ```ignore
//! let mut acts = Activations::new();
//! acts.quantize(wq.ty(), &x, n_tok, dim, &pool)?;   // once for Q, K and V
//! wq.matmul(&pool, &acts, &mut q)?;                  // q: n_tok x wq.rows(), row-major
//! wk.matmul(&pool, &acts, &mut k)?;
//! ```

use super::pool::ThreadPool;
use super::quant::float_gemm::{self, FloatWeights};
use super::quant::packed::{AlignedBytes, GROUP_ROWS};
use super::quant::q8_k::{BlockQ8K, QK_K};
use super::quant::{
    kquant, q4_0, q4_1, q4_k, q5_0, q5_1, q5_k, q6_k, q8_0, q8_k, ActFamily, ActsQ8_0, ActsQ8_1,
    BlockQ8_0, BlockQ8_1, OutTile, WeightType, QK8,
};
use super::Isa;
use crate::error::{Error, Result};

/// A weight matrix: `rows` output features by `cols` inputs (GGUF `ne[0]`).
pub(crate) struct QMatrix {
    ty: WeightType,
    rows: usize,
    cols: usize,
    /// Q4_0/Q4_1/Q8_0: the packed row groups (`quant::packed`), Q5_0 widened to Q8_0 and
    /// Q5_1 to bytes first; F32/F16 and the K-quants: GGML's rows as is.
    data: AlignedBytes,
}

impl QMatrix {
    /// Takes `rows` rows of GGML blocks (a GGUF tensor's bytes) and repacks them for the kernels.
    pub(crate) fn new(ty: WeightType, rows: usize, cols: usize, bytes: Vec<u8>) -> Result<QMatrix> {
        let row_bytes = ty.row_bytes(cols).ok_or_else(|| {
            Error::Inference(format!("a {ty:?} matrix cannot have {cols} columns"))
        })?;
        if bytes.len() != rows * row_bytes {
            return Err(Error::Inference(format!(
                "a {rows}x{cols} {ty:?} matrix needs {} bytes, got {}",
                rows * row_bytes,
                bytes.len()
            )));
        }
        let blocks_per_row = cols / ty.block_len();
        let data = match ty {
            WeightType::F32 | WeightType::F16 => AlignedBytes::from_slice(&bytes),
            WeightType::Q4_0 => q4_0::FORMAT.pack(&bytes, rows, blocks_per_row),
            WeightType::Q4_1 => q4_1::FORMAT.pack(&bytes, rows, blocks_per_row),
            WeightType::Q8_0 => q8_0::FORMAT.pack(&bytes, rows, blocks_per_row),
            WeightType::Q5_0 => q8_0::FORMAT.pack(&q5_0::to_q8_0(&bytes), rows, blocks_per_row),
            WeightType::Q5_1 => q5_1::FORMAT.pack(&q5_1::widen(&bytes), rows, blocks_per_row),
            // The K-quant kernels read GGML's rows as they are.
            WeightType::Q4K | WeightType::Q5K | WeightType::Q6K => AlignedBytes::from_slice(&bytes),
        };
        Ok(QMatrix {
            ty,
            rows,
            cols,
            data,
        })
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    pub(crate) fn ty(&self) -> WeightType {
        self.ty
    }

    /// Decodes row `r` into `out` (`cols` values), e.g. for a token embedding lookup.
    pub(crate) fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        assert!(r < self.rows, "row {r} of a {}-row matrix", self.rows);
        assert_eq!(out.len(), self.cols, "output must hold one row");
        let bytes = self.data.as_slice();
        let mut packed = |format: super::quant::packed::PackedFormat,
                          decode: fn(&[u8], &mut [f32])| {
            let mut block = [0u8; 64];
            let block = &mut block[..format.block_bytes()];
            for (b, values) in out.chunks_exact_mut(QK8).enumerate() {
                format.unpack_block(bytes, self.cols / QK8, r, b, block);
                decode(block, values);
            }
        };
        match self.ty {
            WeightType::F32 => {
                out.copy_from_slice(&self.f32_weights()[r * self.cols..][..self.cols])
            }
            WeightType::F16 => {
                for (v, bits) in out.iter_mut().zip(&self.f16_weights()[r * self.cols..]) {
                    *v = super::quant::f16_bits_to_f32(*bits);
                }
            }
            WeightType::Q4_0 => packed(q4_0::FORMAT, q4_0::dequantize_row),
            WeightType::Q4_1 => packed(q4_1::FORMAT, q4_1::dequantize_row),
            WeightType::Q8_0 | WeightType::Q5_0 => packed(q8_0::FORMAT, q8_0::dequantize_row),
            WeightType::Q5_1 => packed(q5_1::FORMAT, q5_1::dequantize_widened_row),
            WeightType::Q4K | WeightType::Q5K | WeightType::Q6K => {
                let row_bytes = self.cols / QK_K * self.ty.block_bytes();
                let row = &bytes[r * row_bytes..][..row_bytes];
                match self.ty {
                    WeightType::Q4K => q4_k::dequantize_row(row, out),
                    WeightType::Q5K => q5_k::dequantize_row(row, out),
                    _ => q6_k::dequantize_row(row, out),
                }
            }
        }
    }

    /// `y = x W^T` for the inputs in `acts` (quantized for this matrix's type family): `y` holds
    /// `acts.n_tok()` rows of `self.rows()` values.
    pub(crate) fn matmul(
        &self,
        pool: &ThreadPool,
        acts: &Activations,
        y: &mut [f32],
    ) -> Result<()> {
        self.matmul_with_isa(super::isa(), pool, acts, y)
    }

    pub(crate) fn matmul_with_isa(
        &self,
        isa: Isa,
        pool: &ThreadPool,
        acts: &Activations,
        y: &mut [f32],
    ) -> Result<()> {
        let family = self.ty.act_family();
        if acts.family != Some(family) || acts.cols != self.cols {
            return Err(Error::Inference(format!(
                "activations quantized as {:?} with {} columns do not fit a {:?} matrix with {}",
                acts.family, acts.cols, self.ty, self.cols
            )));
        }
        let n_tok = acts.n_tok;
        if y.len() != n_tok * self.rows {
            return Err(Error::Inference(format!(
                "matmul output holds {} values, expected {n_tok} x {}",
                y.len(),
                self.rows
            )));
        }
        let plan = Plan::new(self.rows.div_ceil(GROUP_ROWS), n_tok, pool.threads());
        let y_ptr = SharedMut(y.as_mut_ptr());
        pool.run(plan.tasks(), &|task, _thread| {
            let (groups, tokens) = plan.task(task);
            let rows = groups.start * GROUP_ROWS..(groups.end * GROUP_ROWS).min(self.rows);
            // SAFETY: tasks own disjoint (row range x token range) rectangles of `y`, which
            // holds n_tok x self.rows values (checked above).
            let out = unsafe {
                OutTile::from_raw(
                    y_ptr.get().add(tokens.start * self.rows + rows.start),
                    self.rows,
                    tokens.len(),
                    rows.len(),
                )
            };
            self.gemm_part(isa, acts, rows, tokens, out);
        });
        Ok(())
    }

    /// Rows `rows` (starting on a group boundary) against tokens `tokens`.
    fn gemm_part(
        &self,
        isa: Isa,
        acts: &Activations,
        rows: std::ops::Range<usize>,
        tokens: std::ops::Range<usize>,
        out: OutTile,
    ) {
        let n_rows = rows.len();
        let n_tok = tokens.len();
        let bpr = self.cols / self.ty.block_len();
        let packed = |group_block_bytes: usize| {
            let group_bytes = bpr * group_block_bytes;
            &self.data.as_slice()[rows.start / GROUP_ROWS * group_bytes..]
        };
        let blocks = tokens.start * bpr..tokens.end * bpr;
        match self.ty {
            WeightType::Q4_0 => {
                let w = packed(q4_0::FORMAT.group_block_bytes());
                q4_0::gemm(isa, w, n_rows, acts.q8_0(blocks), bpr, n_tok, out)
            }
            WeightType::Q8_0 | WeightType::Q5_0 => {
                let w = packed(q8_0::FORMAT.group_block_bytes());
                q8_0::gemm(isa, w, n_rows, acts.q8_0(blocks), bpr, n_tok, out)
            }
            WeightType::Q4_1 => {
                let w = packed(q4_1::FORMAT.group_block_bytes());
                q4_1::gemm(isa, w, n_rows, acts.q8_1(blocks), bpr, n_tok, out)
            }
            WeightType::Q5_1 => {
                let w = packed(q5_1::FORMAT.group_block_bytes());
                q5_1::gemm(isa, w, n_rows, acts.q8_1(blocks), bpr, n_tok, out)
            }
            WeightType::F32 | WeightType::F16 => {
                let values = rows.start * self.cols..rows.end * self.cols;
                let w = match self.ty {
                    WeightType::F32 => FloatWeights::F32(&self.f32_weights()[values]),
                    _ => FloatWeights::F16(&self.f16_weights()[values]),
                };
                let x = &acts.f32s[tokens.start * self.cols..tokens.end * self.cols];
                float_gemm::gemm(isa, w, self.cols, n_rows, x, n_tok, out)
            }
            WeightType::Q4K | WeightType::Q5K | WeightType::Q6K => {
                let row_bytes = bpr * self.ty.block_bytes();
                let w = &self.data.as_slice()[rows.start * row_bytes..rows.end * row_bytes];
                let acts = &acts.q8k[blocks];
                let gemm_to = match self.ty {
                    WeightType::Q4K => kquant::gemm_to::<q4_k::Q4K>,
                    WeightType::Q5K => kquant::gemm_to::<q5_k::Q5K>,
                    _ => kquant::gemm_to::<q6_k::Q6K>,
                };
                // SAFETY: `out` is this task's own rectangle of the output (see `matmul`).
                unsafe {
                    gemm_to(
                        isa,
                        w,
                        row_bytes,
                        n_rows,
                        acts,
                        bpr,
                        n_tok,
                        out.ptr_at(0, 0),
                        out.ldo(),
                    )
                }
            }
        }
    }

    fn f32_weights(&self) -> &[f32] {
        let bytes = self.data.as_slice();
        // SAFETY: the buffer is 64-byte aligned and holds rows * cols little-endian f32.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast(), bytes.len() / 4) }
    }

    fn f16_weights(&self) -> &[u16] {
        let bytes = self.data.as_slice();
        // SAFETY: as above, for f16 bit patterns.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast(), bytes.len() / 2) }
    }
}

/// How a matmul is cut into pool tasks: ranges of row groups, and for few groups also ranges of
/// tokens, about four tasks per thread so a thread slowed by another process is not waited on.
struct Plan {
    groups: usize,
    n_tok: usize,
    row_chunks: usize,
    tok_chunk: usize,
    tok_chunks: usize,
}

impl Plan {
    /// Token ranges start on multiples of this, the kernels' widest token tile.
    const TOKEN_ALIGN: usize = 8;

    fn new(groups: usize, n_tok: usize, threads: usize) -> Plan {
        let target = if threads > 1 { 4 * threads } else { 1 };
        let row_chunks = groups.min(target).max(1);
        let wanted_tok_chunks = target.div_ceil(row_chunks);
        let tok_chunk = n_tok
            .div_ceil(wanted_tok_chunks)
            .next_multiple_of(Self::TOKEN_ALIGN)
            .max(1);
        Plan {
            groups,
            n_tok,
            row_chunks,
            tok_chunk,
            tok_chunks: n_tok.div_ceil(tok_chunk).max(1),
        }
    }

    fn tasks(&self) -> usize {
        if self.n_tok == 0 {
            0
        } else {
            self.row_chunks * self.tok_chunks
        }
    }

    fn task(&self, i: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let (rc, tc) = (i / self.tok_chunks, i % self.tok_chunks);
        let groups = rc * self.groups / self.row_chunks..(rc + 1) * self.groups / self.row_chunks;
        let tokens = tc * self.tok_chunk..((tc + 1) * self.tok_chunk).min(self.n_tok);
        (groups, tokens)
    }
}

/// A pointer that pool tasks write disjoint parts through.
struct SharedMut<T>(*mut T);

// SAFETY: used only to hand disjoint regions of one buffer to the pool's tasks.
unsafe impl<T> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    fn get(&self) -> *mut T {
        self.0
    }
}

/// Inputs of a matmul in the form one weight family's kernels read: `n_tok` rows of `cols`
/// values, quantized once and reusable for every matrix of that family with `cols` inputs
/// (Q, K and V; gate and up). Buffers are kept between uses, so steady use allocates nothing.
#[derive(Default)]
pub(crate) struct Activations {
    family: Option<ActFamily>,
    n_tok: usize,
    cols: usize,
    q8_0: Vec<BlockQ8_0>,
    q8_1: Vec<BlockQ8_1>,
    /// Per block: the scale as f32.
    d: Vec<f32>,
    /// Per Q8_0 block: the sum of its quants.
    sums: Vec<i32>,
    /// Per Q8_1 block: `s` as f32.
    s: Vec<f32>,
    /// F32/F16 weights: the values as given.
    f32s: Vec<f32>,
    /// K-quant weights: Q8_K blocks.
    q8k: Vec<BlockQ8K>,
}

impl Activations {
    pub(crate) fn new() -> Activations {
        Activations::default()
    }

    pub(crate) fn n_tok(&self) -> usize {
        self.n_tok
    }

    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    /// Prepares `x` (`n_tok` rows of `cols` values) for matrices of type `for_ty`'s family.
    pub(crate) fn quantize(
        &mut self,
        for_ty: WeightType,
        x: &[f32],
        n_tok: usize,
        cols: usize,
        pool: &ThreadPool,
    ) -> Result<()> {
        self.quantize_with_isa(super::isa(), for_ty, x, n_tok, cols, pool)
    }

    pub(crate) fn quantize_with_isa(
        &mut self,
        isa: Isa,
        for_ty: WeightType,
        x: &[f32],
        n_tok: usize,
        cols: usize,
        pool: &ThreadPool,
    ) -> Result<()> {
        if x.len() != n_tok * cols {
            return Err(Error::Inference(format!(
                "{} inputs are not {n_tok} x {cols}",
                x.len()
            )));
        }
        let family = for_ty.act_family();
        self.family = None;
        match family {
            ActFamily::F32 => {
                self.f32s.clear();
                self.f32s.extend_from_slice(x);
            }
            ActFamily::Q8_0 | ActFamily::Q8_1 => {
                if !cols.is_multiple_of(QK8) {
                    return Err(Error::Inference(format!(
                        "{cols} inputs are not a whole number of blocks"
                    )));
                }
                self.quantize_q8(isa, family, x, n_tok, cols, pool);
            }
            ActFamily::Q8K => {
                if !cols.is_multiple_of(QK_K) {
                    return Err(Error::Inference(format!(
                        "{cols} inputs are not a whole number of {QK_K}-value blocks"
                    )));
                }
                self.q8k.resize(n_tok * cols / QK_K, BlockQ8K::default());
                q8_k::quantize_acts(x, &mut self.q8k);
            }
        }
        self.family = Some(family);
        self.n_tok = n_tok;
        self.cols = cols;
        Ok(())
    }

    fn quantize_q8(
        &mut self,
        isa: Isa,
        family: ActFamily,
        x: &[f32],
        n_tok: usize,
        cols: usize,
        pool: &ThreadPool,
    ) {
        let bpr = cols / QK8;
        let n_blocks = n_tok * bpr;
        self.d.resize(n_blocks, 0.0);
        let is_q8_0 = family == ActFamily::Q8_0;
        if is_q8_0 {
            self.q8_0.resize(n_blocks, BlockQ8_0::default());
            self.sums.resize(n_blocks, 0);
        } else {
            self.q8_1.resize(n_blocks, BlockQ8_1::default());
            self.s.resize(n_blocks, 0.0);
        }
        let per_task = n_tok.div_ceil(2 * pool.threads()).max(1);
        let (q8_0, q8_1) = (
            SharedMut(self.q8_0.as_mut_ptr()),
            SharedMut(self.q8_1.as_mut_ptr()),
        );
        let (d, sums, s) = (
            SharedMut(self.d.as_mut_ptr()),
            SharedMut(self.sums.as_mut_ptr()),
            SharedMut(self.s.as_mut_ptr()),
        );
        pool.run(n_tok.div_ceil(per_task), &|task, _thread| {
            let tokens = task * per_task..((task + 1) * per_task).min(n_tok);
            let blocks = tokens.start * bpr..tokens.end * bpr;
            let x = &x[tokens.start * cols..tokens.end * cols];
            // SAFETY: each task takes a disjoint range of blocks of the buffers sized above.
            unsafe {
                let d = std::slice::from_raw_parts_mut(d.get().add(blocks.start), blocks.len());
                if is_q8_0 {
                    let out =
                        std::slice::from_raw_parts_mut(q8_0.get().add(blocks.start), blocks.len());
                    let sums =
                        std::slice::from_raw_parts_mut(sums.get().add(blocks.start), blocks.len());
                    q8_0::quantize_acts(isa, x, out, d, sums);
                } else {
                    let out =
                        std::slice::from_raw_parts_mut(q8_1.get().add(blocks.start), blocks.len());
                    let s = std::slice::from_raw_parts_mut(s.get().add(blocks.start), blocks.len());
                    q4_1::quantize_acts(isa, x, out, d, s);
                }
            }
        });
    }

    fn q8_0(&self, blocks: std::ops::Range<usize>) -> ActsQ8_0<'_> {
        ActsQ8_0 {
            blocks: &self.q8_0[blocks.clone()],
            d: &self.d[blocks.clone()],
            sums: &self.sums[blocks],
        }
    }

    fn q8_1(&self, blocks: std::ops::Range<usize>) -> ActsQ8_1<'_> {
        ActsQ8_1 {
            blocks: &self.q8_1[blocks.clone()],
            d: &self.d[blocks.clone()],
            s: &self.s[blocks],
        }
    }
}

#[cfg(test)]
mod tests;
