//! The integer GEMM behind Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 weights, over the packed layout
//! (`packed.rs`) against 8-bit activations: per 32-value block an exact integer dot product, then,
//! per row and token, `acc = fma(isum, d_w * d_a, acc)` (and for the types with a minimum
//! `acc = fma(m_w, s_a, acc)`), in block order. Every instruction set does exactly these float
//! operations in this order, so all paths give bit-identical results.
//!
//! * Q4_0: `isum = sum(q * a) - 8 * sum(a)` with `q` the unsigned nibble.
//! * Q4_1: `isum = sum(q * a)`; the minimum enters through `s_a = d_a * sum(a)`.
//! * Q8_0: `isum = sum(w * a)`; Q5_0 weights are packed as Q8_0 (signed bytes -16..15).
//! * Q5_1: `isum = sum(q * a)` with `q` an unsigned byte 0..31 (unpacked from the 5 bits at
//!   load), the minimum as for Q4_1.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;

use super::packed::{PackedFormat, GROUP_ROWS};
use super::{read_f16, OutTile, QK8};
use crate::cpu::Isa;

/// Which weight format a kernel instance handles (a const parameter, so each is compiled apart).
pub(crate) const Q4_0: u8 = 0;
pub(crate) const Q4_1: u8 = 1;
pub(crate) const Q8_0: u8 = 2;
pub(crate) const Q5_1: u8 = 3;

/// Whether a kind's blocks carry a minimum `m` (and take Q8_1 activations).
pub(crate) const fn has_min(kind: u8) -> bool {
    kind == Q4_1 || kind == Q5_1
}

/// Whether a kind stores one byte per quant (otherwise two nibbles per byte).
pub(crate) const fn byte_quants(kind: u8) -> bool {
    kind == Q8_0 || kind == Q5_1
}

pub(crate) const fn format(kind: u8) -> PackedFormat {
    match kind {
        Q4_0 => PackedFormat {
            qs_bytes: 16,
            n_scales: 1,
        },
        Q4_1 => PackedFormat {
            qs_bytes: 16,
            n_scales: 2,
        },
        Q5_1 => PackedFormat {
            qs_bytes: 32,
            n_scales: 2,
        },
        _ => PackedFormat {
            qs_bytes: 32,
            n_scales: 1,
        },
    }
}

/// Bytes of one activation block (GGML Q8_1 for the kinds with a minimum, Q8_0 otherwise) and
/// where its quants start.
pub(crate) const fn act_block_bytes(kind: u8) -> usize {
    if has_min(kind) {
        36
    } else {
        34
    }
}

pub(crate) const fn act_qs_offset(kind: u8) -> usize {
    if has_min(kind) {
        4
    } else {
        2
    }
}

/// One multiplication: `n_rows` packed rows against `n_tok` rows of activation blocks.
#[derive(Clone, Copy)]
pub(crate) struct Problem<'a> {
    /// Whole groups of packed rows (`ceil(n_rows / 16)` of them).
    pub w: &'a [u8],
    /// Rows to compute (the rest of the last group is padding).
    pub n_rows: usize,
    pub blocks_per_row: usize,
    /// `n_tok * blocks_per_row` activation blocks, raw GGML bytes.
    pub acts: &'a [u8],
    /// Each activation block's scale as f32.
    pub d: &'a [f32],
    /// Each activation block's `sum(qs)` (Q8_0 activations; empty for Q8_1 ones).
    pub sums: &'a [i32],
    /// Each activation block's `s` as f32 (Q8_1 activations; empty otherwise).
    pub s: &'a [f32],
    pub n_tok: usize,
}

impl Problem<'_> {
    fn check<const KIND: u8>(&self, out: &OutTile) {
        let fmt = format(KIND);
        let n_blocks = self.n_tok * self.blocks_per_row;
        assert!(
            self.w.len() >= fmt.packed_len(self.n_rows, self.blocks_per_row),
            "weights too short"
        );
        assert!(
            self.acts.len() >= n_blocks * act_block_bytes(KIND),
            "activations too short"
        );
        assert!(self.d.len() >= n_blocks, "activation scales too short");
        if has_min(KIND) {
            assert!(self.s.len() >= n_blocks, "activation sums too short");
        } else {
            assert!(self.sums.len() >= n_blocks, "activation sums too short");
        }
        assert!(
            out.n_tok() >= self.n_tok && out.n_rows() >= self.n_rows,
            "output too small"
        );
    }
}

/// `out[t][r] = dot(row r, token t)` for the weight format `KIND`.
pub(crate) fn gemm<const KIND: u8>(isa: Isa, p: &Problem, out: OutTile) {
    p.check::<KIND>(&out);
    if p.n_rows == 0 || p.n_tok == 0 {
        return;
    }
    match isa {
        Isa::Scalar => gemm_scalar::<KIND>(p, out),
        // SAFETY: `Isa` values other than Scalar are only produced for CPUs that have the
        // features (see `cpu::detect`), and `check` validated every length the kernels read.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2::gemm::<KIND>(p, out) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => unsafe { avx512::gemm::<KIND>(p, out) },
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => unsafe { neon::gemm::<KIND>(p, out) },
        #[cfg(target_arch = "aarch64")]
        Isa::NeonDotprod => unsafe { neon::gemm_dotprod::<KIND>(p, out) },
    }
}

/// The reference: one row and token at a time.
fn gemm_scalar<const KIND: u8>(p: &Problem, out: OutTile) {
    let fmt = format(KIND);
    let gbb = fmt.group_block_bytes();
    let (abb, qoff) = (act_block_bytes(KIND), act_qs_offset(KIND));
    for r in 0..p.n_rows {
        let (group, lane) = (r / GROUP_ROWS, r % GROUP_ROWS);
        let row_blocks = &p.w[group * p.blocks_per_row * gbb..][..p.blocks_per_row * gbb];
        for t in 0..p.n_tok {
            let mut acc = 0f32;
            for b in 0..p.blocks_per_row {
                let gb = &row_blocks[b * gbb..][..gbb];
                let ab = t * p.blocks_per_row + b;
                let a = &p.acts[ab * abb + qoff..][..QK8];
                let a = |i: usize| a[i] as i8 as i32;
                let mut isum = 0i32;
                for c in 0..fmt.qs_bytes / 4 {
                    for i in 0..4 {
                        let byte = gb[(c * GROUP_ROWS + lane) * 4 + i];
                        if KIND == Q8_0 {
                            isum += byte as i8 as i32 * a(4 * c + i);
                        } else if KIND == Q5_1 {
                            isum += byte as i32 * a(4 * c + i);
                        } else {
                            isum += (byte & 15) as i32 * a(4 * c + i)
                                + (byte >> 4) as i32 * a(16 + 4 * c + i);
                        }
                    }
                }
                if KIND == Q4_0 {
                    isum -= 8 * p.sums[ab];
                }
                let d_w = read_f16(gb, fmt.scales_offset() + 2 * lane);
                acc = (isum as f32).mul_add(d_w * p.d[ab], acc);
                if has_min(KIND) {
                    let m_w = read_f16(gb, fmt.scales_offset() + 2 * (GROUP_ROWS + lane));
                    acc = m_w.mul_add(p.s[ab], acc);
                }
            }
            out.set(t, r, acc);
        }
    }
}
