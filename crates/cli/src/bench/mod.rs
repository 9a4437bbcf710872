//! `almanac bench …`: the project's figures, measured on this machine beside a reference and printed;
//! with `--write FILE` also kept in that Markdown file (docs/BENCHMARKS.md), one section per bench.

mod generation;
mod report;
mod retrieval;

use std::path::PathBuf;

use anyhow::Result;

pub use report::{machine_description, write_section};

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Prefill and decode tokens/s of the chat model and the time to first token of a
    /// retrieval-augmented question, side by side with llama.cpp on the same GGUF, prompt and threads
    Generation(generation::GenerationArgs),
    /// Ingestion, hybrid query latency, vector recall against exact search, size and memory of a
    /// library of many passages (a BEIR corpus repeated with variation)
    Retrieval(retrieval::RetrievalArgs),
}

pub fn run(data_dir: Option<PathBuf>, command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Generation(args) => generation::run(data_dir, args),
        BenchCommand::Retrieval(args) => retrieval::run(data_dir, args),
    }
}
