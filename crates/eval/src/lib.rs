//! Evaluation built into Almanac: a model's multiple-choice benchmark scores (MMLU, KMMLU, k-shot,
//! `mcq`), what retrieval adds to answers (`qa`), and the reports (Markdown and an SVG chart) kept
//! in the data directory.

mod error;
pub mod mcq;
mod paths;
mod progress;
pub mod qa;
pub mod report;
mod run_log;
pub mod service;

pub use error::{Error, Result};
pub use paths::EvalDir;
pub use progress::Progress;
pub use run_log::RunLog;
