//! The x86 gemm driver Q4_K, Q5_K and Q6_K share on AVX2 and AVX-512: tiles of rows x tokens over
//! `for_each_tile`, and with more than one token tile (prefill) each row tile's blocks unpacked
//! once per token block into per-thread scratch, so the tiles only multiply.
//!
//! A format supplies, per instruction set, a `Kernel`: its block size, how a block's quants and
//! scales unpack for its tiles, and the tile. The instruction set (`Simd`) supplies the tile
//! height and compiles the unpacking loop with its features, so the format's `#[inline]`
//! `#[target_feature]` pieces inline into it.

use super::q8_k::{for_each_tile, with_scratch, BlockQ8K};

/// Tokens per tile at most (every x86 K-quant tile: 4 token accumulators per row).
const MAX_TOK: usize = 4;

/// An instruction set the K-quant kernels run on.
pub(crate) trait Simd {
    /// Rows per tile for `n_tok` tokens.
    fn max_rows(n_tok: usize) -> usize;

    /// Unpacks the blocks of `rows` rows into `cache[b * rows + r]`.
    ///
    /// # Safety
    /// The CPU has this instruction set; `w` holds `rows` rows `row_bytes` apart of
    /// `blocks_per_row` blocks each; `cache` is valid for `rows * blocks_per_row` writes.
    unsafe fn prepare_blocks<K: Kernel<Simd = Self>>(
        w: *const u8,
        row_bytes: usize,
        rows: usize,
        blocks_per_row: usize,
        cache: *mut Prepared<K>,
    );
}

/// AVX2 + FMA + F16C.
pub(crate) struct Avx2;

impl Simd for Avx2 {
    fn max_rows(n_tok: usize) -> usize {
        // 2x4 keeps the 8 integer accumulators and the unpacked weights in 16 registers;
        // a single token (decode) gets 4 rows per activation load instead.
        if n_tok == 1 {
            4
        } else {
            2
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn prepare_blocks<K: Kernel<Simd = Self>>(
        w: *const u8,
        row_bytes: usize,
        rows: usize,
        blocks_per_row: usize,
        cache: *mut Prepared<K>,
    ) {
        // SAFETY: the caller's promise.
        unsafe { prepare_blocks::<K>(w, row_bytes, rows, blocks_per_row, cache) }
    }
}

/// AVX-512 F/BW/VL + VNNI (and AVX2's features).
pub(crate) struct Avx512;

impl Simd for Avx512 {
    fn max_rows(_n_tok: usize) -> usize {
        // 32 registers hold 4x4 tiles.
        4
    }

    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn prepare_blocks<K: Kernel<Simd = Self>>(
        w: *const u8,
        row_bytes: usize,
        rows: usize,
        blocks_per_row: usize,
        cache: *mut Prepared<K>,
    ) {
        // SAFETY: the caller's promise.
        unsafe { prepare_blocks::<K>(w, row_bytes, rows, blocks_per_row, cache) }
    }
}

/// One K-quant format's kernel on one instruction set.
pub(crate) trait Kernel: Sized {
    type Simd: Simd;
    /// Bytes per 256-value block.
    const BLOCK_BYTES: usize;
    /// A block's scales as the tile uses them.
    type Scales: Copy;
    /// A block's quants one byte each, as the tile uses them.
    type Quants: Copy;

    /// # Safety
    /// The CPU has `Simd`'s features; `block` points to `BLOCK_BYTES` readable bytes.
    unsafe fn unpack(block: *const u8) -> Self::Quants;

    /// # Safety
    /// As `unpack`.
    unsafe fn block_scales(block: *const u8) -> Self::Scales;

    /// out[t * ldo + r] = dot(row r of `w`, token t of `acts`) for an R x T tile, the rows'
    /// blocks read from `cached[b * R + r]` when CACHED (else from `w`).
    ///
    /// # Safety
    /// The CPU has `Simd`'s features; `w` holds R rows `row_bytes` apart of `blocks_per_row`
    /// blocks, `acts` T tokens of `blocks_per_row` blocks, `out` the R x T outputs `ldo` apart
    /// (written by no one else), and when CACHED `cached` the R rows' prepared blocks.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize, const T: usize, const CACHED: bool>(
        w: *const u8,
        row_bytes: usize,
        acts: *const BlockQ8K,
        blocks_per_row: usize,
        out: *mut f32,
        ldo: usize,
        cached: *const Prepared<Self>,
    );
}

/// A block unpacked for the tiles: its scales and its quants one byte each.
pub(crate) struct Prepared<K: Kernel> {
    pub(crate) scales: K::Scales,
    pub(crate) quants: K::Quants,
}

/// `Simd::prepare_blocks`' loop, inlined into each instruction set's copy so that the format's
/// unpacking inlines there too.
///
/// # Safety
/// As `Simd::prepare_blocks`.
#[inline(always)]
unsafe fn prepare_blocks<K: Kernel>(
    w: *const u8,
    row_bytes: usize,
    rows: usize,
    blocks_per_row: usize,
    cache: *mut Prepared<K>,
) {
    for b in 0..blocks_per_row {
        for r in 0..rows {
            // SAFETY: the caller's promise.
            unsafe {
                let block = w.add(r * row_bytes + b * K::BLOCK_BYTES);
                let quants = K::unpack(block);
                let scales = K::block_scales(block);
                cache.add(b * rows + r).write(Prepared { scales, quants });
            }
        }
    }
}

/// Selects the tile instantiation `$kernel::tile::<R, T, CACHED>` for a runtime `rows x toks`
/// tile (rows <= 4, toks <= 4) and whether the row tile was unpacked ahead (`cached`), passing the
/// remaining arguments through. CACHED is a constant so each variant compiles without the other's
/// branches and spills.
macro_rules! dispatch_tile {
    ($kernel:ident, $rows:expr, $toks:expr, $cached:expr, $($arg:expr),* $(,)?) => {
        match ($rows, $toks, $cached) {
            (1, 1, false) => $kernel::tile::<1, 1, false>($($arg),*),
            (1, 1, true) => $kernel::tile::<1, 1, true>($($arg),*),
            (1, 2, false) => $kernel::tile::<1, 2, false>($($arg),*),
            (1, 2, true) => $kernel::tile::<1, 2, true>($($arg),*),
            (1, 3, false) => $kernel::tile::<1, 3, false>($($arg),*),
            (1, 3, true) => $kernel::tile::<1, 3, true>($($arg),*),
            (1, 4, false) => $kernel::tile::<1, 4, false>($($arg),*),
            (1, 4, true) => $kernel::tile::<1, 4, true>($($arg),*),
            (2, 1, false) => $kernel::tile::<2, 1, false>($($arg),*),
            (2, 1, true) => $kernel::tile::<2, 1, true>($($arg),*),
            (2, 2, false) => $kernel::tile::<2, 2, false>($($arg),*),
            (2, 2, true) => $kernel::tile::<2, 2, true>($($arg),*),
            (2, 3, false) => $kernel::tile::<2, 3, false>($($arg),*),
            (2, 3, true) => $kernel::tile::<2, 3, true>($($arg),*),
            (2, 4, false) => $kernel::tile::<2, 4, false>($($arg),*),
            (2, 4, true) => $kernel::tile::<2, 4, true>($($arg),*),
            (3, 1, false) => $kernel::tile::<3, 1, false>($($arg),*),
            (3, 1, true) => $kernel::tile::<3, 1, true>($($arg),*),
            (3, 2, false) => $kernel::tile::<3, 2, false>($($arg),*),
            (3, 2, true) => $kernel::tile::<3, 2, true>($($arg),*),
            (3, 3, false) => $kernel::tile::<3, 3, false>($($arg),*),
            (3, 3, true) => $kernel::tile::<3, 3, true>($($arg),*),
            (3, 4, false) => $kernel::tile::<3, 4, false>($($arg),*),
            (3, 4, true) => $kernel::tile::<3, 4, true>($($arg),*),
            (4, 1, false) => $kernel::tile::<4, 1, false>($($arg),*),
            (4, 1, true) => $kernel::tile::<4, 1, true>($($arg),*),
            (4, 2, false) => $kernel::tile::<4, 2, false>($($arg),*),
            (4, 2, true) => $kernel::tile::<4, 2, true>($($arg),*),
            (4, 3, false) => $kernel::tile::<4, 3, false>($($arg),*),
            (4, 3, true) => $kernel::tile::<4, 3, true>($($arg),*),
            (4, 4, false) => $kernel::tile::<4, 4, false>($($arg),*),
            (4, 4, true) => $kernel::tile::<4, 4, true>($($arg),*),
            (rows, toks, _) => unreachable!("no {rows}x{toks} tile"),
        }
    };
}

/// out[t * ldo + r] = dot(row r of `w`, token t of `acts`), for `n_rows` rows `row_bytes` apart
/// and `n_tok` tokens of `blocks_per_row` activation blocks each.
///
/// # Safety
/// The arguments passed `q8_k::check_gemm_args` for `K::BLOCK_BYTES`, the CPU has `K::Simd`'s
/// features, and `out` is as `gemm_to`'s in the format modules.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm<K: Kernel>(
    w: &[u8],
    row_bytes: usize,
    n_rows: usize,
    acts: &[BlockQ8K],
    blocks_per_row: usize,
    n_tok: usize,
    out: *mut f32,
    ldo: usize,
) {
    let max_rows = K::Simd::max_rows(n_tok);
    let (w, acts) = (w.as_ptr(), acts.as_ptr());
    // More than one token tile: unpack each row tile's quants and scales once, for all of them.
    let cached = n_tok > MAX_TOK;
    let cache_bytes = if cached {
        max_rows * blocks_per_row * std::mem::size_of::<Prepared<K>>()
    } else {
        0
    };
    with_scratch(cache_bytes, |scratch| {
        let cache = if cached {
            scratch.cast::<Prepared<K>>()
        } else {
            std::ptr::null_mut()
        };
        let prepare = |r0: usize, rows: usize| {
            if cached {
                // SAFETY: the row tile is within the checked weights, the scratch holds
                // max_rows * blocks_per_row entries (64-byte aligned), and the CPU has the ISA.
                unsafe {
                    K::Simd::prepare_blocks::<K>(
                        w.add(r0 * row_bytes),
                        row_bytes,
                        rows,
                        blocks_per_row,
                        cache,
                    )
                };
            }
        };
        for_each_tile(
            n_rows,
            n_tok,
            max_rows,
            MAX_TOK,
            blocks_per_row,
            prepare,
            // SAFETY: the tile is within the checked weights, activations and output, and was
            // prepared just before when cached.
            |r0, rows, t0, toks| unsafe {
                dispatch_tile!(
                    K,
                    rows,
                    toks,
                    cached,
                    w.add(r0 * row_bytes),
                    row_bytes,
                    acts.add(t0 * blocks_per_row),
                    blocks_per_row,
                    out.add(t0 * ldo + r0),
                    ldo,
                    cache,
                )
            },
        );
    });
}

/// acc + the pairwise sums of a * b (i16 lanes into i32 lanes): AVX-512 VNNI's vpdpwssd, written
/// as assembly because LLVM, tuning for a baseline CPU, splits the intrinsic back into
/// vpmaddwd + vpaddd (two instructions on the busiest ports instead of one).
#[target_feature(enable = "avx512f,avx512vnni")]
#[inline]
pub(crate) fn dpwssd(
    acc: std::arch::x86_64::__m512i,
    a: std::arch::x86_64::__m512i,
    b: std::arch::x86_64::__m512i,
) -> std::arch::x86_64::__m512i {
    let mut acc = acc;
    // SAFETY: a register-only instruction the enabled target features provide.
    unsafe {
        std::arch::asm!(
            "vpdpwssd {acc}, {a}, {b}",
            acc = inout(zmm_reg) acc,
            a = in(zmm_reg) a,
            b = in(zmm_reg) b,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}
