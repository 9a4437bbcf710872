//! Single-thread GFLOP/s of the K-quant (Q4_K, Q5_K, Q6_K x Q8_K) gemm kernels at every
//! instruction set this CPU has, for decode (1 token) and prefill (512 tokens).
//!
//! cargo run --release -p almanac-engine --example kquant_bench [seconds per case, default 0.5]
//!
//! K-quant rows are whole 256-value blocks, so SmolLM2's 576-wide inputs can't be K-quants
//! (llama.cpp falls back to other types there); the 576-column shapes run with 768 columns.
//! Two figures per case: per wall-clock second and per second the thread was on a CPU (Linux),
//! which still means something on a machine busy with other work.

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.5);
    // (rows = output features, cols = inputs).
    let shapes = [(576, 768), (1536, 768), (576, 1536), (2048, 2048)];
    println!(
        "{:<6} {:<7} {:>11} {:>6} {:>9} {:>9}",
        "type", "isa", "rows x cols", "n_tok", "wall", "cpu"
    );
    for ty in ["q4_k", "q5_k", "q6_k"] {
        for (rows, cols) in shapes {
            for n_tok in [1, 512] {
                for isa in ["scalar", "avx2", "avx512", "neon", "dotprod"] {
                    // The scalar reference is slow; one prefill shape is enough.
                    if isa == "scalar" && n_tok > 1 && (rows, cols) != (576, 768) {
                        continue;
                    }
                    let gflops =
                        almanac_engine::__kquant_gemm_gflops(ty, isa, rows, cols, n_tok, seconds);
                    if let Some((wall, cpu)) = gflops {
                        let shape = format!("{rows}x{cols}");
                        println!("{ty:<6} {isa:<7} {shape:>11} {n_tok:>6} {wall:>9.1} {cpu:>9.1}");
                    }
                }
            }
        }
    }
}
