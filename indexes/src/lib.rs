//! Almanac's library index: chunking, a SQLite chunk catalog, a tantivy BM25 index and an hnsw_rs
//! cosine index over the same chunk ids, hybrid fusion, snippets, persistence under one directory.
//!
//! The catalog is the source of truth; the two search indexes are derived from it and are repaired
//! or rebuilt from it when they are missing, stale or damaged. See `README.md` in this crate.
//!
//! This crate computes no embeddings (callers pass vectors) and reads no source files (callers pass
//! text). It never prints.

mod catalog;
mod chunking;
mod error;
#[doc(hidden)]
pub mod fault;
mod hash;
mod index;
mod stamp;
pub mod storage;
mod text;
mod tokenizer;
mod vectors;

pub use chunking::{
    chunk_context, chunk_text, ChunkDraft, ChunkingOptions, SourceText, TextKind, TokenCounter,
    WordCounter,
};
pub use error::{Error, Result};
pub use index::{
    snippet_to_plain, ChunkIdSets, ChunkInput, ChunkToEmbed, DocumentId, DocumentInfo,
    DocumentInput, EmbedderChange, Fusion, Generations, Hit, Index, IndexStats, OpenReport, Repair,
    SearchMode, SearchQuery, ALPHA, CJK_ALPHA, DEFAULT_CANDIDATES, DEFAULT_FUSION, DEFAULT_LIMIT,
    RRF_K,
};
pub use text::FieldWeights;
pub use tokenizer::{cjk_letters, mostly_cjk};
pub use vectors::HnswParams;
