//! Q5_0 weights (GGML `block_q5_0`: f16 `d`, 4 bytes `qh` (bit `i` of the little-endian u32 is
//! element `i`'s fifth bit), 16 bytes of nibbles in Q4_0's order; value `(q - 16) * d`).
//!
//! At load each block is widened to a Q8_0 block of the same values (`q - 16` as i8, same `d`),
//! so Q5_0 matrices run on the Q8_0 kernels with Q8_0 activations, as in ggml.

use super::{q8_0, QK8};

/// Bytes of one GGML block.
pub(crate) const BLOCK_BYTES: usize = 22;

/// The 32 five-bit quants (0..31) of a block's `qh` and `qs` bytes (shared with Q5_1).
pub(crate) fn unpack_quants(qh: &[u8], qs: &[u8]) -> [u8; QK8] {
    let high = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
    let fifth = |i: usize| ((high >> i) & 1) as u8 * 16;
    std::array::from_fn(|i| {
        if i < 16 {
            (qs[i] & 15) | fifth(i)
        } else {
            (qs[i - 16] >> 4) | fifth(i)
        }
    })
}

/// Decodes a row of GGML blocks into `out.len()` values: the reference the widened blocks are
/// tested against (matrices decode their widened form).
#[cfg(test)]
pub(crate) fn dequantize_row(w: &[u8], out: &mut [f32]) {
    for (block, values) in w.chunks_exact(BLOCK_BYTES).zip(out.chunks_exact_mut(QK8)) {
        let d = super::read_f16(block, 0);
        for (v, q) in values
            .iter_mut()
            .zip(unpack_quants(&block[2..6], &block[6..]))
        {
            *v = (q as i32 - 16) as f32 * d;
        }
    }
}

/// The GGML Q8_0 blocks holding the same values as the Q5_0 blocks `w`.
pub(crate) fn to_q8_0(w: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(w.len() / BLOCK_BYTES * q8_0::FORMAT.block_bytes());
    for block in w.chunks_exact(BLOCK_BYTES) {
        out.extend_from_slice(&block[..2]);
        out.extend(unpack_quants(&block[2..6], &block[6..]).map(|q| (q as i8 - 16) as u8));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::quant::q5_1::test_support::*;

    #[test]
    fn dequantize_matches_ggml_bit_for_bit() {
        let mut out = vec![0f32; 128];
        dequantize_row(&fixture_bytes("q5_0.bin"), &mut out);
        assert_bits_eq(&out, &fixture_f32("q5_0.dequant.f32"));
    }

    #[test]
    fn the_fifth_bit_comes_from_qh_and_values_centre_on_sixteen() {
        let mut block = vec![0u8; BLOCK_BYTES];
        block[..2].copy_from_slice(&half::f16::from_f32(0.5).to_bits().to_le_bytes());
        // Elements 0, 17 and 31 get the fifth bit.
        block[2..6].copy_from_slice(&(1u32 | 1 << 17 | 1 << 31).to_le_bytes());
        block[6] = 0xF3; // element 0 = 3 (+16), element 16 = 15
        block[6 + 1] = 0x20; // element 1 = 0, element 17 = 2 (+16)
        block[6 + 15] = 0xFF; // element 15 = 15, element 31 = 15 (+16)
        let mut out = [9f32; 32];
        dequantize_row(&block, &mut out);
        assert_eq!(
            (out[0], out[16], out[1], out[17], out[15], out[31], out[2]),
            (1.5, -0.5, -8.0, 1.0, -0.5, 7.5, -8.0)
        );
    }

    #[test]
    fn widened_blocks_dequantize_to_the_same_values() {
        let ggml = fixture_bytes("q5_0.bin");
        let mut widened = vec![0f32; 128];
        q8_0::dequantize_row(&to_q8_0(&ggml), &mut widened);
        assert_bits_eq(&widened, &fixture_f32("q5_0.dequant.f32"));
    }
}
