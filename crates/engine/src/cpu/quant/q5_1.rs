//! Q5_1 weights (GGML `block_q5_1`: f16 `d`, f16 `m`, then `qh` and `qs` as Q5_0; value
//! `q * d + m`), multiplied with Q8_1 activations (`q4_1::quantize_acts`) as in ggml.
//!
//! At load each block is widened to `d`, `m` and 32 unsigned bytes `q` (0..31), which the
//! integer kernels read like Q8_0's quants and finish like Q4_1 (`int8_gemm::Q5_1`).

use super::int8_gemm::{self, Problem};
use super::packed::PackedFormat;
use super::q5_0::unpack_quants;
use super::{block_bytes_of, read_f16, ActsQ8_1, OutTile, QK8};
use crate::cpu::Isa;

/// Bytes of one GGML block.
pub(crate) const BLOCK_BYTES: usize = 24;

/// The widened blocks' packed layout.
pub(crate) const FORMAT: PackedFormat = int8_gemm::format(int8_gemm::Q5_1);

/// Decodes a row of GGML blocks into `out.len()` values: the reference the widened blocks are
/// tested against (matrices decode their widened form).
#[cfg(test)]
pub(crate) fn dequantize_row(w: &[u8], out: &mut [f32]) {
    for (block, values) in w.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(QK8)) {
        let (d, m) = (read_f16(block, 0), read_f16(block, 2));
        for (v, q) in values
            .iter_mut()
            .zip(unpack_quants(&block[4..8], &block[8..]))
        {
            *v = q as f32 * d + m;
        }
    }
}

/// The widened blocks (`d`, `m`, 32 bytes `q`) of the GGML blocks `w`.
pub(crate) fn widen(w: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(w.len() / BLOCK_BYTES * FORMAT.block_bytes());
    for block in w.chunks_exact(BLOCK_BYTES) {
        out.extend_from_slice(&block[..4]);
        out.extend(unpack_quants(&block[4..8], &block[8..]));
    }
    out
}

/// Decodes a row of widened blocks (`widen`) into `out.len()` values.
pub(crate) fn dequantize_widened_row(w: &[u8], out: &mut [f32]) {
    for (block, values) in w
        .chunks_exact(FORMAT.block_bytes())
        .zip(out.chunks_exact_mut(QK8))
    {
        let (d, m) = (read_f16(block, 0), read_f16(block, 2));
        for (v, &q) in values.iter_mut().zip(&block[4..]) {
            *v = q as f32 * d + m;
        }
    }
}

/// `out[t][r] = dot(row r, token t)` over packed widened weights (see `int8_gemm`).
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
    int8_gemm::gemm::<{ int8_gemm::Q5_1 }>(isa, &problem, out);
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Fixtures from ggml for the Q5 tests (`tests/fixtures/q5/make_fixtures.py`).

    pub(crate) const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/q5");

    pub(crate) fn fixture_bytes(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
    }

    pub(crate) fn fixture_f32(name: &str) -> Vec<f32> {
        fixture_bytes(name)
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }

    pub(crate) fn assert_bits_eq(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "value {i}: {g} vs ggml {w}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn dequantize_matches_ggml_bit_for_bit() {
        let mut out = vec![0f32; 128];
        dequantize_row(&fixture_bytes("q5_1.bin"), &mut out);
        assert_bits_eq(&out, &fixture_f32("q5_1.dequant.f32"));
    }

    #[test]
    fn widened_blocks_dequantize_to_the_same_values() {
        let widened = widen(&fixture_bytes("q5_1.bin"));
        assert_eq!(widened.len(), 4 * 36);
        assert!(widened
            .chunks_exact(36)
            .all(|b| b[4..].iter().all(|&q| q < 32)));
        let mut out = vec![0f32; 128];
        dequantize_widened_row(&widened, &mut out);
        assert_bits_eq(&out, &fixture_f32("q5_1.dequant.f32"));
    }

    #[test]
    fn the_minimum_is_added_to_five_bit_quants() {
        let mut block = vec![0u8; BLOCK_BYTES];
        block[..2].copy_from_slice(&half::f16::from_f32(0.25).to_bits().to_le_bytes());
        block[2..4].copy_from_slice(&half::f16::from_f32(-2.0).to_bits().to_le_bytes());
        block[4..8].copy_from_slice(&(1u32 << 16).to_le_bytes());
        block[8] = 0xF1; // element 0 = 1, element 16 = 15 + 16
        let mut out = [9f32; 32];
        dequantize_row(&block, &mut out);
        assert_eq!((out[0], out[16], out[1]), (-1.75, 5.75, -2.0));
    }
}
