//! `almanac bench …`: the project's figures, measured on this machine beside a reference and printed;
//! with `--write FILE` also kept in that Markdown file (docs/BENCHMARKS.md), one section per bench.

mod generation;
mod generation_prompts;
mod grounding;
mod ingestion;
mod llamacpp_reference;
mod onnx_reference;
mod python_script;
mod report;
mod retrieval;

use std::path::PathBuf;

use anyhow::Result;

pub use report::{machine_description, print_and_write, write_section};

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Prefill and decode tokens/s of the chat model at 512 and 1,536 prompt tokens, and the time to
    /// first token of a first and a follow-up question, side by side with llama.cpp on the same GGUF,
    /// prompt ids and threads
    Generation(generation::GenerationArgs),
    /// Embeddings per second of the embedding model on files of texts (one a line; default: the
    /// SciFact abstracts and claims), side by side with ONNX Runtime on the same texts and threads
    Ingestion(ingestion::IngestionArgs),
    /// Ingestion, hybrid query latency, vector recall against exact search, size and memory of a
    /// library of many passages (a BEIR corpus repeated with variation)
    Retrieval(retrieval::RetrievalArgs),
    /// Sentence attribution on labelled answer sentences (precision, recall) and quoted evidence on
    /// questions over real documents (how often the top quote holds the answer)
    Grounding(grounding::GroundingArgs),
}

pub fn run(data_dir: Option<PathBuf>, command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Generation(args) => generation::run(data_dir, args),
        BenchCommand::Ingestion(args) => ingestion::run(data_dir, args),
        BenchCommand::Retrieval(args) => retrieval::run(data_dir, args),
        BenchCommand::Grounding(args) => grounding::run(data_dir, args),
    }
}
