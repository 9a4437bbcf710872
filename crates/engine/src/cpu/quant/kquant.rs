//! The entry points Q4_K, Q5_K and Q6_K share: argument checks, the choice of kernel per
//! instruction set, and the scalar reference's loop over rows and tokens. A format module supplies
//! a `Format`: its block size, its scalar `block_dot` and its SIMD kernels.

use super::q8_k::{check_gemm_args, check_out, BlockQ8K};
use crate::cpu::Isa;

/// A NEON kernel instance (`kquant_neon::gemm::<KIND>`), taken as a function because a const
/// parameter can't be computed from a generic `Format`.
#[cfg(target_arch = "aarch64")]
pub(crate) type NeonGemm =
    unsafe fn(bool, &[u8], usize, usize, &[BlockQ8K], usize, usize, *mut f32, usize);

/// A K-quant weight format and its kernels.
pub(crate) trait Format {
    /// Bytes per 256-value block.
    const BLOCK_BYTES: usize;
    /// The scalar reference: one block's contribution to a dot product.
    fn block_dot(block: &[u8], a: &BlockQ8K) -> f32;
    #[cfg(target_arch = "x86_64")]
    type Avx2: super::kquant_x86::Kernel<Simd = super::kquant_x86::Avx2>;
    #[cfg(target_arch = "x86_64")]
    type Avx512: super::kquant_x86::Kernel<Simd = super::kquant_x86::Avx512>;
    #[cfg(target_arch = "aarch64")]
    const NEON: NeonGemm;
}

/// out[t * ldo + r] = dot(row r of `w`, token t of `acts`), for `n_rows` rows `row_bytes` apart
/// and `n_tok` tokens of `blocks_per_row` activation blocks each.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm<F: Format>(
    isa: Isa,
    w: &[u8],
    row_bytes: usize,
    n_rows: usize,
    acts: &[BlockQ8K],
    blocks_per_row: usize,
    n_tok: usize,
    out: &mut [f32],
    ldo: usize,
) {
    check_out(out, n_rows, n_tok, ldo);
    // SAFETY: `out` covers every element written, and the &mut makes them ours alone.
    unsafe {
        gemm_to::<F>(
            isa,
            w,
            row_bytes,
            n_rows,
            acts,
            blocks_per_row,
            n_tok,
            out.as_mut_ptr(),
            ldo,
        )
    }
}

/// As `gemm`, writing through a pointer so that threads can fill disjoint rows of one output.
///
/// # Safety
/// `out.add(t * ldo + r)` must be valid for writes for every `t < n_tok` and `r < n_rows`, and
/// nothing else may access those elements during the call.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_to<F: Format>(
    isa: Isa,
    w: &[u8],
    row_bytes: usize,
    n_rows: usize,
    acts: &[BlockQ8K],
    blocks_per_row: usize,
    n_tok: usize,
    out: *mut f32,
    ldo: usize,
) {
    check_gemm_args(
        F::BLOCK_BYTES,
        w,
        row_bytes,
        n_rows,
        acts,
        blocks_per_row,
        n_tok,
    );
    assert!(
        isa <= crate::cpu::detect(),
        "{isa:?} kernels asked for on a CPU without them"
    );
    // SAFETY (all arms): the weights and activations were bounds-checked above, the output is the
    // caller's promise, and the CPU has the ISA's features (asserted above).
    unsafe {
        match isa {
            Isa::Scalar => {
                scalar_gemm::<F>(w, row_bytes, n_rows, acts, blocks_per_row, n_tok, out, ldo)
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => super::kquant_x86::gemm::<F::Avx2>(
                w,
                row_bytes,
                n_rows,
                acts,
                blocks_per_row,
                n_tok,
                out,
                ldo,
            ),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => super::kquant_x86::gemm::<F::Avx512>(
                w,
                row_bytes,
                n_rows,
                acts,
                blocks_per_row,
                n_tok,
                out,
                ldo,
            ),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon | Isa::NeonDotprod => (F::NEON)(
                isa == Isa::NeonDotprod,
                w,
                row_bytes,
                n_rows,
                acts,
                blocks_per_row,
                n_tok,
                out,
                ldo,
            ),
        }
    }
}

/// The reference: each output the sum of `F::block_dot` over the row's blocks.
///
/// # Safety
/// As `gemm_to`.
#[allow(clippy::too_many_arguments)]
unsafe fn scalar_gemm<F: Format>(
    w: &[u8],
    row_bytes: usize,
    n_rows: usize,
    acts: &[BlockQ8K],
    blocks_per_row: usize,
    n_tok: usize,
    out: *mut f32,
    ldo: usize,
) {
    for t in 0..n_tok {
        let a = &acts[t * blocks_per_row..(t + 1) * blocks_per_row];
        for r in 0..n_rows {
            let row = &w[r * row_bytes..r * row_bytes + blocks_per_row * F::BLOCK_BYTES];
            let dot = row
                .chunks_exact(F::BLOCK_BYTES)
                .zip(a)
                .map(|(b, a)| F::block_dot(b, a))
                .sum();
            // SAFETY: the caller's promise.
            unsafe { *out.add(t * ldo + r) = dot };
        }
    }
}
