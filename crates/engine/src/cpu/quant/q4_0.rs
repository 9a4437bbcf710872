//! Q4_0 weights (GGML `block_q4_0`: f16 `d`, 16 bytes of nibbles; value `(q - 8) * d`, element
//! `i < 16` in the low nibble of byte `i`, element `16 + i` in its high nibble). Multiplied with
//! Q8_0 activations (`q8_0::quantize_acts`).

use super::int8_gemm::{self, Problem};
use super::packed::PackedFormat;
use super::{block_bytes_of, read_f16, ActsQ8_0, OutTile, QK8};
use crate::cpu::Isa;

pub(crate) const FORMAT: PackedFormat = int8_gemm::format(int8_gemm::Q4_0);

/// Decodes a row of GGML blocks into `out.len()` values.
pub(crate) fn dequantize_row(w: &[u8], out: &mut [f32]) {
    for (block, values) in w
        .chunks_exact(FORMAT.block_bytes())
        .zip(out.chunks_exact_mut(QK8))
    {
        let d = read_f16(block, 0);
        for (i, byte) in block[2..].iter().enumerate() {
            values[i] = ((byte & 15) as i32 - 8) as f32 * d;
            values[16 + i] = ((byte >> 4) as i32 - 8) as f32 * d;
        }
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
    int8_gemm::gemm::<{ int8_gemm::Q4_0 }>(isa, &problem, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    #[test]
    fn dequantize_centres_nibbles_on_eight() {
        let mut block = vec![0u8; 18];
        block[..2].copy_from_slice(&f16::from_f32(2.0).to_bits().to_le_bytes());
        block[2] = 0xF0; // element 0 = 0, element 16 = 15
        block[17] = 0x8A; // element 15 = 10, element 31 = 8
        let mut out = [9f32; 32];
        dequantize_row(&block, &mut out);
        assert_eq!(
            (out[0], out[16], out[15], out[31], out[1]),
            (-16.0, 14.0, 4.0, 0.0, -16.0)
        );
    }
}
