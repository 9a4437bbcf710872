//! Q4_1 weights (GGML `block_q4_1`: f16 `d`, f16 `m`, 16 bytes of nibbles; value `q * d + m`,
//! nibble order as Q4_0), and the Q8_1 activation format they are multiplied with.

use super::int8_gemm::{self, Problem};
use super::packed::PackedFormat;
use super::{act_quant, block_bytes_of, read_f16, ActsQ8_1, BlockQ8_1, OutTile, QK8};
use crate::cpu::Isa;
use half::f16;

pub(crate) const FORMAT: PackedFormat = int8_gemm::format(int8_gemm::Q4_1);

/// Decodes a row of GGML blocks into `out.len()` values.
pub(crate) fn dequantize_row(w: &[u8], out: &mut [f32]) {
    for (block, values) in w
        .chunks_exact(FORMAT.block_bytes())
        .zip(out.chunks_exact_mut(QK8))
    {
        let (d, m) = (read_f16(block, 0), read_f16(block, 2));
        for (i, byte) in block[4..].iter().enumerate() {
            values[i] = (byte & 15) as f32 * d + m;
            values[16 + i] = (byte >> 4) as f32 * d + m;
        }
    }
}

/// Quantizes `x` (a whole number of blocks) to Q8_1 activation blocks (GGML's: `s` is the
/// unrounded scale times the sum of the quants), with `d` and `s` as f32 beside them.
pub(crate) fn quantize_acts(
    isa: Isa,
    x: &[f32],
    blocks: &mut [BlockQ8_1],
    d: &mut [f32],
    s: &mut [f32],
) {
    for (((values, block), d), s) in x.chunks_exact(QK8).zip(blocks).zip(d).zip(s) {
        let (scale, sum) = act_quant::quantize_block(isa, values, &mut block.qs);
        block.d = f16::from_f32(scale);
        block.s = f16::from_f32(sum as f32 * scale);
        *d = block.d.to_f32();
        *s = block.s.to_f32();
    }
}

/// `out[t][r] = dot(row r, token t)` over packed weights (see `int8_gemm`).
pub(crate) fn gemm(
    isa: Isa,
    w: &[u8],
    n_rows: usize,
    acts: ActsQ8_1,
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
        sums: &[],
        s: acts.s,
        n_tok,
    };
    int8_gemm::gemm::<{ int8_gemm::Q4_1 }>(isa, &problem, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dequantize_adds_the_minimum() {
        let mut block = vec![0u8; 20];
        block[..2].copy_from_slice(&f16::from_f32(0.5).to_bits().to_le_bytes());
        block[2..4].copy_from_slice(&f16::from_f32(-1.0).to_bits().to_le_bytes());
        block[4] = 0xF3; // element 0 = 3, element 16 = 15
        let mut out = [9f32; 32];
        dequantize_row(&block, &mut out);
        assert_eq!((out[0], out[16], out[1]), (0.5, 6.5, -1.0));
    }

    #[test]
    fn s_is_the_scale_times_the_quant_sum() {
        let x: Vec<f32> = (0..32).map(|i| i as f32 * 0.25 - 3.0).collect();
        let (mut blocks, mut d, mut s) = (vec![BlockQ8_1::default()], vec![0.0], vec![0.0]);
        quantize_acts(Isa::Scalar, &x, &mut blocks, &mut d, &mut s);
        let sum: i32 = blocks[0].qs.iter().map(|&q| q as i32).sum();
        assert!((s[0] - sum as f32 * d[0]).abs() <= s[0].abs() * 2e-3);
        assert_eq!(s[0], blocks[0].s.to_f32());
    }
}
