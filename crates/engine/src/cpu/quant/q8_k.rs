//! Q8_K: the activation format the K-quant weights (Q4_K, Q5_K, Q6_K) are multiplied with.
//!
//! A block is 256 values: f32 scale `d`, 256 i8 quants and 16 i16 sums of 16 quants each (the
//! K-quant kernels use the sums to apply per-sub-block offsets without touching the quants).
//! Byte layout identical to GGML's block_q8_K (292 bytes).

/// Values per K-quant super-block.
pub(crate) const QK_K: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub(crate) struct BlockQ8K {
    pub(crate) d: f32,
    pub(crate) qs: [i8; QK_K],
    pub(crate) bsums: [i16; QK_K / 16],
}

const _: () = assert!(std::mem::size_of::<BlockQ8K>() == 292);

impl Default for BlockQ8K {
    fn default() -> Self {
        BlockQ8K {
            d: 0.0,
            qs: [0; QK_K],
            bsums: [0; QK_K / 16],
        }
    }
}

/// Quantizes `x` (a multiple of 256 values) into `out` exactly as GGML's quantize_row_q8_K: the
/// value of largest magnitude maps to -127 (so the scale may be negative), ties round to even.
pub(crate) fn quantize_acts(x: &[f32], out: &mut [BlockQ8K]) {
    assert_eq!(
        x.len(),
        out.len() * QK_K,
        "Q8_K quantizes whole 256-value blocks"
    );
    for (values, block) in x.chunks_exact(QK_K).zip(out.iter_mut()) {
        quantize_block(values.try_into().unwrap(), block);
    }
}

fn quantize_block(x: &[f32; QK_K], block: &mut BlockQ8K) {
    // The signed value of largest magnitude (the first one on ties, as GGML).
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax == 0.0 {
        *block = BlockQ8K::default();
        return;
    }
    let iscale = -127.0 / max;
    for (q, &v) in block.qs.iter_mut().zip(x) {
        *q = nearest_int(iscale * v).min(127) as i8;
    }
    for (sum, group) in block.bsums.iter_mut().zip(block.qs.chunks_exact(16)) {
        *sum = group.iter().map(|&q| i16::from(q)).sum();
    }
    block.d = 1.0 / iscale;
}

/// Round to nearest, ties to even, for |x| < 2^22: GGML's trick (adding 1.5 * 2^23 leaves the
/// integer in the low mantissa bits), kept so our quants match its bit for bit and vectorize.
#[inline]
fn nearest_int(x: f32) -> i32 {
    let biased = x + 12_582_912.0;
    (biased.to_bits() as i32 & 0x007f_ffff) - 0x0040_0000
}

/// IEEE half-precision bits to f32 (exact, including subnormals, infinities and NaN).
#[inline]
pub(crate) fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits & 0x8000) << 16;
    let exp = u32::from(bits >> 10) & 0x1f;
    let mant = u32::from(bits & 0x3ff);
    let magnitude = match exp {
        0 => {
            // Zero or subnormal: mant * 2^-24, exact in f32.
            let v = mant as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        0x1f => 0x7f80_0000 | (mant << 13),
        _ => ((exp + 112) << 23) | (mant << 13),
    };
    f32::from_bits(sign | magnitude)
}

/// Reads the little-endian f16 at `bytes[at..at + 2]` as f32.
#[inline]
pub(crate) fn read_f16(bytes: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

/// Activation bytes a token block may span: small enough to stay in L2 (with room for the
/// weights streaming past) while every row tile of the matrix is multiplied with it.
const TOKEN_BLOCK_BYTES: usize = 256 * 1024;

/// Loops over `n_rows x n_tok` in tiles of at most `max_rows x max_tok`. Tokens go in blocks of
/// about TOKEN_BLOCK_BYTES of activations (`blocks_per_row` Q8_K blocks per token); within a
/// block rows are outer, so a row tile's weights stay in L1 while the block's tokens stream past
/// from L2. `prepare(r0, rows)` runs before a row tile's first token tile in each token block,
/// `tile(r0, rows, t0, toks)` for each tile.
pub(crate) fn for_each_tile(
    n_rows: usize,
    n_tok: usize,
    max_rows: usize,
    max_tok: usize,
    blocks_per_row: usize,
    mut prepare: impl FnMut(usize, usize),
    mut tile: impl FnMut(usize, usize, usize, usize),
) {
    let token_bytes = blocks_per_row * std::mem::size_of::<BlockQ8K>();
    let block_tokens = (TOKEN_BLOCK_BYTES / token_bytes.max(1) / max_tok).max(1) * max_tok;
    let mut tb = 0;
    while tb < n_tok {
        let tb_end = n_tok.min(tb + block_tokens);
        let mut r0 = 0;
        while r0 < n_rows {
            let rows = max_rows.min(n_rows - r0);
            prepare(r0, rows);
            let mut t0 = tb;
            while t0 < tb_end {
                let toks = max_tok.min(tb_end - t0);
                tile(r0, rows, t0, toks);
                t0 += toks;
            }
            r0 += rows;
        }
        tb = tb_end;
    }
}

/// Runs `f` with at least `bytes` of 64-byte-aligned scratch memory, kept per thread and reused
/// across calls (the SIMD kernels decode a row tile's block scales into it once for all tokens).
pub(crate) fn with_scratch<R>(bytes: usize, f: impl FnOnce(*mut u8) -> R) -> R {
    #[derive(Clone, Copy)]
    #[repr(C, align(64))]
    struct Line([u8; 64]);
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<Line>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let lines = bytes.div_ceil(64);
        if scratch.len() < lines {
            scratch.resize(lines, Line([0; 64]));
        }
        f(scratch.as_mut_ptr().cast())
    })
}

/// Checks the slices a K-quant gemm reads, so its unsafe tiles stay in bounds.
pub(crate) fn check_gemm_args(
    block_bytes: usize,
    w: &[u8],
    row_bytes: usize,
    n_rows: usize,
    acts: &[BlockQ8K],
    blocks_per_row: usize,
    n_tok: usize,
) {
    assert!(
        n_rows >= 1 && n_tok >= 1,
        "gemm needs at least one row and one token"
    );
    assert!(
        row_bytes >= blocks_per_row * block_bytes,
        "row_bytes too small for blocks_per_row"
    );
    assert!(
        w.len() >= (n_rows - 1) * row_bytes + blocks_per_row * block_bytes,
        "weights too short"
    );
    assert!(
        acts.len() >= n_tok * blocks_per_row,
        "activations too short"
    );
}

/// Checks that `out` holds `n_tok` rows of `n_rows` results `ldo` apart.
pub(crate) fn check_out(out: &[f32], n_rows: usize, n_tok: usize, ldo: usize) {
    assert!(n_tok >= 1, "gemm needs at least one token");
    assert!(
        ldo >= n_rows && out.len() >= (n_tok - 1) * ldo + n_rows,
        "output too short"
    );
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Shared by the K-quant tests: fixtures from ggml, random data, reference dot products.

    use super::*;
    use crate::cpu::Isa;

    pub(crate) const FIXTURES: &str =
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kquants");

    pub(crate) fn fixture_bytes(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
    }

    pub(crate) fn fixture_f32(name: &str) -> Vec<f32> {
        fixture_bytes(name)
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }

    /// The fixture activations quantized by ggml's quantize_row_q8_K.
    pub(crate) fn fixture_acts() -> Vec<BlockQ8K> {
        blocks_from_bytes(&fixture_bytes("acts.q8_k.bin"))
    }

    pub(crate) fn blocks_from_bytes(bytes: &[u8]) -> Vec<BlockQ8K> {
        bytes
            .chunks_exact(292)
            .map(|b| BlockQ8K {
                d: f32::from_le_bytes(b[..4].try_into().unwrap()),
                qs: std::array::from_fn(|i| b[4 + i] as i8),
                bsums: std::array::from_fn(|i| {
                    i16::from_le_bytes([b[260 + 2 * i], b[261 + 2 * i]])
                }),
            })
            .collect()
    }

    /// A small deterministic generator (xorshift), so failures reproduce.
    pub(crate) struct Rng(u64);

    impl Rng {
        pub(crate) fn new(seed: u64) -> Rng {
            Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
        }
        pub(crate) fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.next_u64() % n
        }
        /// Uniform in [-1, 1).
        pub(crate) fn unit(&mut self) -> f32 {
            (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }
    }

    /// f16 bits for a block scale: mostly ordinary values, sometimes zero, the largest finite
    /// f16, a subnormal or a negative value, so edge cases reach every kernel.
    pub(crate) fn random_f16(rng: &mut Rng) -> u16 {
        match rng.below(10) {
            0 => 0,
            1 => 0x7bff,                           // 65504
            2 => 0x0001 + rng.below(0x3ff) as u16, // subnormal
            3 => 0x8000 | (0x2000 + rng.below(0x1000) as u16),
            _ => 0x1c00 + rng.below(0x1400) as u16, // about 2^-8 .. 2^-3
        }
    }

    /// Random bytes, where a quarter of the blocks are all-ones or all-zeros (extreme quants).
    pub(crate) fn random_quant_bytes(rng: &mut Rng, out: &mut [u8]) {
        let fill = match rng.below(8) {
            0 => Some(0xff),
            1 => Some(0x00),
            _ => None,
        };
        for b in out.iter_mut() {
            *b = fill.unwrap_or_else(|| rng.next_u64() as u8);
        }
    }

    /// Activations for `n_tok` tokens of `cols` values each, with varied magnitudes per block
    /// (and an all-zero block now and then).
    pub(crate) fn random_acts(
        rng: &mut Rng,
        n_tok: usize,
        cols: usize,
    ) -> (Vec<f32>, Vec<BlockQ8K>) {
        let mut x = vec![0f32; n_tok * cols];
        for block in x.chunks_exact_mut(QK_K) {
            let magnitude = match rng.below(8) {
                0 => 0.0,
                1 => 1e-3,
                2 => 100.0,
                _ => 1.0,
            };
            for v in block.iter_mut() {
                *v = rng.unit() * magnitude;
            }
        }
        let mut blocks = vec![BlockQ8K::default(); x.len() / QK_K];
        quantize_acts(&x, &mut blocks);
        (x, blocks)
    }

    pub(crate) fn dequantize_acts(blocks: &[BlockQ8K]) -> Vec<f32> {
        blocks
            .iter()
            .flat_map(|b| b.qs.iter().map(move |&q| b.d * f32::from(q)))
            .collect()
    }

    /// Checks `gemm` at every ISA this CPU runs (on aarch64: bit for bit the scalar results)
    /// against f64 dot products of the dequantized weights with (a) the dequantized Q8_K
    /// activations: only f32 rounding separates them, so the bound is 1e-5 of the sum of
    /// |w*a| terms; (b) the original f32 activations: the
    /// Q8_K rounding error is at most half a step (|d|/2) per value, so the bound is
    /// sum over blocks of sum|w| * |d|/2, plus the same 1e-5 slack.
    #[allow(clippy::type_complexity)]
    pub(crate) fn check_gemm_against_dequantized(
        block_bytes: usize,
        dequantize_row: fn(&[u8], &mut [f32]),
        gemm: fn(Isa, &[u8], usize, usize, &[BlockQ8K], usize, usize, &mut [f32], usize),
        random_block: fn(&mut Rng, &mut [u8]),
        seed: u64,
    ) {
        let mut rng = Rng::new(seed);
        for &(n_rows, n_tok, blocks_per_row) in &[
            (1, 1, 1),
            (7, 1, 3),
            (5, 6, 2),
            (9, 5, 1),
            (4, 4, 2),
            (13, 11, 2),
            (3, 17, 1),
            // More tokens than one token block of for_each_tile (112 tokens at 8 blocks).
            (5, 117, 8),
        ] {
            let cols = blocks_per_row * QK_K;
            // Rows padded by a few bytes, as a caller with aligned rows would pass them.
            let row_bytes = blocks_per_row * block_bytes + 3;
            let mut w = vec![0u8; n_rows * row_bytes];
            for row in w.chunks_exact_mut(row_bytes) {
                for block in row[..blocks_per_row * block_bytes].chunks_exact_mut(block_bytes) {
                    random_block(&mut rng, block);
                }
            }
            let wf: Vec<Vec<f32>> = w
                .chunks_exact(row_bytes)
                .map(|row| {
                    let mut f = vec![0f32; cols];
                    dequantize_row(&row[..blocks_per_row * block_bytes], &mut f);
                    f
                })
                .collect();
            let (x, acts) = random_acts(&mut rng, n_tok, cols);
            let xq = dequantize_acts(&acts);
            let ldo = n_rows + 2;
            let mut scalar_bits = Vec::new();
            for isa in Isa::all_supported() {
                let mut out = vec![f32::NAN; (n_tok - 1) * ldo + n_rows];
                gemm(
                    isa,
                    &w,
                    row_bytes,
                    n_rows,
                    &acts,
                    blocks_per_row,
                    n_tok,
                    &mut out,
                    ldo,
                );
                // The NEON kernels do the scalar reference's float steps in its order.
                let bits: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
                if isa == Isa::Scalar {
                    scalar_bits = bits;
                } else if cfg!(target_arch = "aarch64") {
                    assert_eq!(
                        bits, scalar_bits,
                        "{isa:?} {n_rows}x{n_tok}x{blocks_per_row} differs from scalar"
                    );
                }
                for t in 0..n_tok {
                    for (r, wr) in wf.iter().enumerate() {
                        let a = &xq[t * cols..(t + 1) * cols];
                        let xf = &x[t * cols..(t + 1) * cols];
                        let exact: f64 = wr
                            .iter()
                            .zip(a)
                            .map(|(&w, &a)| f64::from(w) * f64::from(a))
                            .sum();
                        let magnitude: f64 = wr
                            .iter()
                            .zip(a)
                            .map(|(&w, &a)| (f64::from(w) * f64::from(a)).abs())
                            .sum();
                        let got = f64::from(out[t * ldo + r]);
                        let tight = 1e-5 * magnitude + 1e-30;
                        assert!(
                            (got - exact).abs() <= tight,
                            "{isa:?} {n_rows}x{n_tok}x{blocks_per_row} row {r} tok {t}: {got} vs {exact} (bound {tight})"
                        );
                        let f32_dot: f64 = wr
                            .iter()
                            .zip(xf)
                            .map(|(&w, &x)| f64::from(w) * f64::from(x))
                            .sum();
                        let mut loose = tight;
                        for b in 0..blocks_per_row {
                            let wsum: f64 = wr[b * QK_K..(b + 1) * QK_K]
                                .iter()
                                .map(|w| f64::from(w.abs()))
                                .sum();
                            loose += wsum * f64::from(acts[t * blocks_per_row + b].d.abs()) * 0.5;
                        }
                        assert!(
                            (got - f32_dot).abs() <= loose * 1.0001,
                            "{isa:?} vs f32 activations row {r} tok {t}: {got} vs {f32_dot} (bound {loose})"
                        );
                    }
                }
                // Padding between ldo and n_rows is never written.
                for t in 0..n_tok - 1 {
                    assert!(out[t * ldo + n_rows..(t + 1) * ldo]
                        .iter()
                        .all(|v| v.is_nan()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn quantize_matches_ggml_bit_for_bit() {
        let x = fixture_f32("acts.f32");
        let mut ours = vec![BlockQ8K::default(); x.len() / QK_K];
        quantize_acts(&x, &mut ours);
        assert_eq!(ours, fixture_acts());
    }

    #[test]
    fn quantize_maps_largest_magnitude_to_minus_127_and_sums_groups() {
        let mut x = [0.5f32; QK_K];
        x[3] = -2.0;
        x[17] = 1.0;
        let mut out = [BlockQ8K::default()];
        quantize_acts(&x, &mut out);
        assert_eq!(out[0].qs[3], -127);
        assert_eq!(out[0].d, 1.0 / 63.5);
        assert_eq!(out[0].qs[17], 64); // 63.5 rounds to even
        assert_eq!(out[0].qs[0], 32); // 31.75
        assert_eq!(out[0].bsums[0], -127 + 15 * 32);
        assert_eq!(out[0].bsums[1], 64 + 15 * 32);
    }

    #[test]
    fn tiles_cover_every_row_and_token_once_with_the_row_tile_prepared() {
        // 8 blocks per token: token blocks of 112 tokens, so 250 tokens take three.
        let (n_rows, n_tok) = (10, 250);
        let mut seen = vec![0u8; n_rows * n_tok];
        let prepared = std::cell::Cell::new(None);
        let prepares = std::cell::Cell::new(0);
        for_each_tile(
            n_rows,
            n_tok,
            4,
            4,
            8,
            |r0, rows| {
                prepared.set(Some((r0, rows)));
                prepares.set(prepares.get() + 1);
            },
            |r0, rows, t0, toks| {
                assert_eq!(prepared.get(), Some((r0, rows)));
                assert!(rows <= 4 && toks <= 4);
                for r in r0..r0 + rows {
                    for t in t0..t0 + toks {
                        seen[t * n_rows + r] += 1;
                    }
                }
            },
        );
        assert!(seen.iter().all(|&n| n == 1));
        assert_eq!(
            prepares.get(),
            3 * 3,
            "three row tiles in each of three token blocks"
        );
    }

    #[test]
    fn all_zero_block_quantizes_to_zero() {
        let mut out = [BlockQ8K {
            d: 1.0,
            qs: [1; QK_K],
            bsums: [1; 16],
        }];
        quantize_acts(&[0.0; QK_K], &mut out);
        assert_eq!(out[0], BlockQ8K::default());
    }

    #[test]
    fn f16_conversion_covers_every_class() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x83ff), -1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14));
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
    }
}
