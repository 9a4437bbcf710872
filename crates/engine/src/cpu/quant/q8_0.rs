//! Q8_0 weights (GGML `block_q8_0`: f16 `d`, 32 i8 `qs`; value `qs[i] * d`), and the Q8_0
//! activation format that Q4_0 and Q8_0 weights are multiplied with.

use super::int8_gemm::{self, Problem};
use super::packed::PackedFormat;
use super::{act_quant, block_bytes_of, read_f16, ActsQ8_0, BlockQ8_0, OutTile, QK8};
use crate::cpu::Isa;
use half::f16;

pub(crate) const FORMAT: PackedFormat = int8_gemm::format(int8_gemm::Q8_0);

/// Decodes a row of GGML blocks into `out.len()` values.
pub(crate) fn dequantize_row(w: &[u8], out: &mut [f32]) {
    for (block, values) in w
        .chunks_exact(FORMAT.block_bytes())
        .zip(out.chunks_exact_mut(QK8))
    {
        let d = read_f16(block, 0);
        for (v, q) in values.iter_mut().zip(&block[2..]) {
            *v = *q as i8 as f32 * d;
        }
    }
}

/// Quantizes `x` (a whole number of blocks) to Q8_0 activation blocks, with each block's scale
/// as f32 in `d` and the sum of its quants in `sums`.
pub(crate) fn quantize_acts(
    isa: Isa,
    x: &[f32],
    blocks: &mut [BlockQ8_0],
    d: &mut [f32],
    sums: &mut [i32],
) {
    for (((values, block), d), sum) in x.chunks_exact(QK8).zip(blocks).zip(d).zip(sums) {
        let (scale, quant_sum) = act_quant::quantize_block(isa, values, &mut block.qs);
        block.d = f16::from_f32(scale);
        *d = block.d.to_f32();
        *sum = quant_sum;
    }
}

/// `out[t][r] = dot(row r, token t)` over packed weights (see `int8_gemm`).
pub(crate) fn gemm(
    isa: Isa,
    w: &[u8],
    n_rows: usize,
    acts: ActsQ8_0,
    blocks_per_row: usize,
    n_tok: usize,
    out: OutTile,
) {
    let problem = Problem {
        w,
        n_rows,
        blocks_per_row,
        acts: block_bytes_of(acts.blocks),
        d: acts.d,
        sums: acts.sums,
        s: &[],
        n_tok,
    };
    int8_gemm::gemm::<{ int8_gemm::Q8_0 }>(isa, &problem, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dequantize_scales_signed_quants() {
        let mut block = vec![0u8; 34];
        block[..2].copy_from_slice(&f16::from_f32(0.5).to_bits().to_le_bytes());
        block[2] = (-128i8) as u8;
        block[3] = 127;
        block[33] = (-3i8) as u8;
        let mut out = [9f32; 32];
        dequantize_row(&block, &mut out);
        assert_eq!((out[0], out[1], out[2], out[31]), (-64.0, 63.5, 0.0, -1.5));
    }

    #[test]
    fn activation_sums_and_scales_match_the_blocks() {
        let x: Vec<f32> = (0..64).map(|i| ((i * 37) % 23) as f32 - 11.0).collect();
        let (mut blocks, mut d, mut sums) =
            (vec![BlockQ8_0::default(); 2], vec![0.0; 2], vec![0; 2]);
        quantize_acts(Isa::Scalar, &x, &mut blocks, &mut d, &mut sums);
        for i in 0..2 {
            assert_eq!(d[i], blocks[i].d.to_f32());
            assert_eq!(sums[i], blocks[i].qs.iter().map(|&q| q as i32).sum::<i32>());
        }
    }
}
