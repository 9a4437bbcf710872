//! Timing of the K-quant gemm kernels for examples/kquant_bench.rs (the kernels are
//! crate-private, so the example reaches them through this one hidden function).

use super::q8_k::{quantize_acts, BlockQ8K, QK_K};
use super::{kquant, q4_k, q5_k, q6_k};
use crate::cpu::{detect, Isa};
use std::time::Instant;

type Gemm = fn(Isa, &[u8], usize, usize, &[BlockQ8K], usize, usize, &mut [f32], usize);

/// GFLOP/s (2 * rows * cols * n_tok per call), per wall-clock second and per second this thread
/// was on a CPU (Linux; the wall figure elsewhere), of one `weight_type` ("q4_k", "q5_k", "q6_k") gemm
/// over a `rows x cols` matrix of random blocks and `n_tok` tokens, single-threaded, at `isa`
/// (`Isa::from_name`: "scalar", "avx2", "avx512", "neon", "dotprod"), repeated for at least
/// `min_seconds`. None when the CPU lacks the ISA, the type is unknown or `cols` is not a
/// multiple of 256.
pub fn gemm_gflops(
    weight_type: &str,
    isa: &str,
    rows: usize,
    cols: usize,
    n_tok: usize,
    min_seconds: f64,
) -> Option<(f64, f64)> {
    let (block_bytes, gemm): (usize, Gemm) = match weight_type {
        "q4_k" => (q4_k::BLOCK_BYTES, kquant::gemm::<q4_k::Q4K>),
        "q5_k" => (q5_k::BLOCK_BYTES, kquant::gemm::<q5_k::Q5K>),
        "q6_k" => (q6_k::BLOCK_BYTES, kquant::gemm::<q6_k::Q6K>),
        _ => return None,
    };
    let isa = Isa::from_name(isa)?;
    if isa > detect() || !cols.is_multiple_of(QK_K) {
        return None;
    }
    let blocks_per_row = cols / QK_K;
    let row_bytes = blocks_per_row * block_bytes;
    // Random bytes with small positive f16 scales (exponent bits kept low), so no inf/NaN.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut w: Vec<u8> = (0..rows * row_bytes).map(|_| next() as u8).collect();
    let d_at: &[usize] = match weight_type {
        "q6_k" => &[208],
        _ => &[0, 2],
    };
    for block in w.chunks_exact_mut(block_bytes) {
        for &at in d_at {
            block[at..at + 2].copy_from_slice(&(0x1c00 + (next() % 0x800) as u16).to_le_bytes());
        }
    }
    let x: Vec<f32> = (0..n_tok * cols)
        .map(|_| (next() % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let mut acts = vec![BlockQ8K::default(); n_tok * blocks_per_row];
    quantize_acts(&x, &mut acts);
    let mut out = vec![0f32; n_tok * rows];
    gemm(
        isa,
        &w,
        row_bytes,
        rows,
        &acts,
        blocks_per_row,
        n_tok,
        &mut out,
        rows,
    );
    let start = Instant::now();
    let cpu_start = thread_cpu_seconds();
    let mut calls = 0u64;
    while calls == 0 || start.elapsed().as_secs_f64() < min_seconds {
        gemm(
            isa,
            &w,
            row_bytes,
            rows,
            &acts,
            blocks_per_row,
            n_tok,
            &mut out,
            rows,
        );
        calls += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = match (cpu_start, thread_cpu_seconds()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => seconds,
    };
    let gflop = 2.0 * (rows * cols * n_tok) as f64 * calls as f64 / 1e9;
    Some((gflop / seconds, gflop / cpu_seconds))
}

/// This thread's time on a CPU so far (the scheduler's nanosecond count), so figures taken on a
/// machine shared with other work still say what the kernel does per second it actually runs.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(nanos as f64 / 1e9)
}
