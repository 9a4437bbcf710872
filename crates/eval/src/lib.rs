//! Evaluation built into Almanac: a model's multiple-choice benchmark scores (MMLU, KMMLU, k-shot,
//! `mcq`), what retrieval adds to answers (`qa`), and the reports (Markdown and an SVG chart) kept
//! in the data directory; retrieval quality on BEIR data (`retrieval`) and the retrieval benchmark
//! at library scale (`retrieval_bench`).

mod error;
pub mod mcq;
mod paths;
mod progress;
pub mod qa;
pub mod report;
pub mod retrieval;
pub mod retrieval_bench;
mod run_log;
pub mod service;

pub use error::{Error, Result};
pub use paths::EvalDir;
pub use progress::Progress;
pub use run_log::RunLog;
