//! Quantized weight formats (byte layouts identical to GGML's) and their matmul kernels.
//!
//! Minimal version from the K-quants branch; the kernels branch's quant/mod.rs supersedes it.

pub(crate) mod kquant_bench;
pub(crate) mod q4_k;
pub(crate) mod q5_k;
pub(crate) mod q6_k;
pub(crate) mod q8_k;
