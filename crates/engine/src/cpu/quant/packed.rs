//! The row-interleaved layout `QMatrix` keeps Q4_0/Q4_1/Q8_0 weights (and Q5_0/Q5_1 ones,
//! widened to a byte per quant first) in, so that one 64-byte load feeds sixteen rows of the
//! integer kernels.
//!
//! Rows are taken in groups of 16 (the last group padded with zero rows). A group stores its
//! row blocks block by block; for block `b` it holds
//!   * the quants: chunk `c` (bytes `4c..4c+4` of each row's GGML `qs`) of rows 0..16 is 64
//!     contiguous bytes at `64 * c`, row `r`'s four bytes at `64 * c + 4 * r`;
//!   * then the scales: 16 f16 `d` (one per row), and for Q4_1/Q5_1 16 f16 `m` after them.
//!
//! A 4-bit chunk holds elements `4c..4c+4` in its low nibbles and `16+4c..` in its high ones
//! (GGML's order), an 8-bit chunk elements `4c..4c+4`: a 32-bit broadcast of the matching four
//! activation bytes lines up with every row at once. An AVX2 kernel reads the first or second
//! 32 bytes of a chunk for rows 0..8 or 8..16.

/// Rows per interleaved group.
pub(crate) const GROUP_ROWS: usize = 16;

/// The shape of one GGML block family in the packed layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PackedFormat {
    /// Bytes of quants per row block (GGML `qs`).
    pub qs_bytes: usize,
    /// f16 fields before `qs` in a GGML block (`d`, or `d` and `m`).
    pub n_scales: usize,
}

impl PackedFormat {
    /// Bytes of one GGML block.
    pub(crate) const fn block_bytes(self) -> usize {
        2 * self.n_scales + self.qs_bytes
    }

    /// Bytes of one block of a whole group.
    pub(crate) const fn group_block_bytes(self) -> usize {
        GROUP_ROWS * self.block_bytes()
    }

    /// Offset of the scales inside a group block.
    pub(crate) const fn scales_offset(self) -> usize {
        GROUP_ROWS * self.qs_bytes
    }

    pub(crate) fn packed_len(self, rows: usize, blocks_per_row: usize) -> usize {
        rows.div_ceil(GROUP_ROWS) * blocks_per_row * self.group_block_bytes()
    }

    /// Repacks `rows` rows of `blocks_per_row` GGML blocks each.
    pub(crate) fn pack(self, ggml: &[u8], rows: usize, blocks_per_row: usize) -> AlignedBytes {
        assert_eq!(ggml.len(), rows * blocks_per_row * self.block_bytes());
        let mut packed = AlignedBytes::zeroed(self.packed_len(rows, blocks_per_row));
        let out = packed.as_mut_slice();
        for row in 0..rows {
            for b in 0..blocks_per_row {
                let block =
                    &ggml[(row * blocks_per_row + b) * self.block_bytes()..][..self.block_bytes()];
                let (group, lane) = (row / GROUP_ROWS, row % GROUP_ROWS);
                let base = (group * blocks_per_row + b) * self.group_block_bytes();
                let qs = &block[2 * self.n_scales..];
                for c in 0..self.qs_bytes / 4 {
                    let at = base + (c * GROUP_ROWS + lane) * 4;
                    out[at..at + 4].copy_from_slice(&qs[4 * c..4 * c + 4]);
                }
                for s in 0..self.n_scales {
                    let at = base + self.scales_offset() + (s * GROUP_ROWS + lane) * 2;
                    out[at..at + 2].copy_from_slice(&block[2 * s..2 * s + 2]);
                }
            }
        }
        packed
    }

    /// Rebuilds the GGML block `b` of `row` from the packed bytes.
    pub(crate) fn unpack_block(
        self,
        packed: &[u8],
        blocks_per_row: usize,
        row: usize,
        b: usize,
        block: &mut [u8],
    ) {
        let (group, lane) = (row / GROUP_ROWS, row % GROUP_ROWS);
        let base = (group * blocks_per_row + b) * self.group_block_bytes();
        for s in 0..self.n_scales {
            let at = base + self.scales_offset() + (s * GROUP_ROWS + lane) * 2;
            block[2 * s..2 * s + 2].copy_from_slice(&packed[at..at + 2]);
        }
        let qs = &mut block[2 * self.n_scales..];
        for c in 0..self.qs_bytes / 4 {
            let at = base + (c * GROUP_ROWS + lane) * 4;
            qs[4 * c..4 * c + 4].copy_from_slice(&packed[at..at + 4]);
        }
    }
}

/// A byte buffer aligned to a cache line, so the kernels' 64-byte loads do not straddle two.
pub(crate) struct AlignedBytes {
    lines: Vec<CacheLine>,
    len: usize,
}

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct CacheLine([u8; 64]);

impl AlignedBytes {
    pub(crate) fn zeroed(len: usize) -> AlignedBytes {
        AlignedBytes {
            lines: vec![CacheLine([0; 64]); len.div_ceil(64)],
            len,
        }
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> AlignedBytes {
        let mut aligned = AlignedBytes::zeroed(bytes.len());
        aligned.as_mut_slice().copy_from_slice(bytes);
        aligned
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `lines` holds at least `len` initialised bytes.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast(), self.len) }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpack_returns_every_packed_block_and_padding_rows_are_zero() {
        let format = PackedFormat {
            qs_bytes: 16,
            n_scales: 2,
        };
        let (rows, bpr) = (19, 3);
        let ggml: Vec<u8> = (0..rows * bpr * format.block_bytes())
            .map(|i| (i * 7 + i / 251) as u8)
            .collect();
        let packed = format.pack(&ggml, rows, bpr);
        assert_eq!(packed.as_slice().len(), 2 * bpr * 16 * 20);
        assert_eq!(packed.as_slice().as_ptr() as usize % 64, 0);
        let mut block = vec![0u8; format.block_bytes()];
        for row in 0..rows {
            for b in 0..bpr {
                format.unpack_block(packed.as_slice(), bpr, row, b, &mut block);
                assert_eq!(block, ggml[(row * bpr + b) * 20..][..20]);
            }
        }
        format.unpack_block(packed.as_slice(), bpr, 31, 2, &mut block);
        assert!(block.iter().all(|&v| v == 0));
    }

    #[test]
    fn a_chunk_is_sixteen_rows_of_four_bytes() {
        let format = PackedFormat {
            qs_bytes: 32,
            n_scales: 1,
        };
        let mut ggml = vec![0u8; 16 * 34];
        ggml[5 * 34 + 2 + 9] = 42; // row 5, qs byte 9 = chunk 2, byte 1
        ggml[5 * 34] = 0x11; // row 5's d
        let packed = format.pack(&ggml, 16, 1);
        let bytes = packed.as_slice();
        assert_eq!(bytes[64 * 2 + 4 * 5 + 1], 42);
        assert_eq!(bytes[16 * 32 + 2 * 5], 0x11);
    }
}
