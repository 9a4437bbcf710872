//! Speed of the CPU matmul kernels on SmolLM2-135M's shapes, per instruction set and thread
//! count: `cargo run --release -p almanac-engine --example matmul_bench [-- --isa avx512
//! --threads 2 --tokens 1]`. Built for the baseline target (no target-cpu=native), as shipped.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    almanac_engine::run_matmul_bench(&args);
}
