//! Chat models to download: the reviewed catalogue (`catalogue.toml`), a client of the Hugging
//! Face hub's HTTP API (`HF_ENDPOINT`, `HF_TOKEN`), downloads that resume, check the free disk
//! space first and are verified against the hub's sha256 before they enter the models folder, and
//! what a model needs in memory. Knows nothing of the app; `almanac-core` calls it.
//! See docs/decisions/0013-model-downloads.md.

pub mod catalogue;
pub mod download;
pub mod error;
pub mod hub;
pub mod memory;

pub use catalogue::{catalogue, find, CatalogueEntry};
pub use download::{pull, Destination, Progress, Pulled};
pub use error::{Error, Result};
pub use hub::{Hub, RemoteFile, RepoFile, DEFAULT_ENDPOINT};
pub use memory::{available_memory, human_bytes, kv_cache_bytes, verdict, Verdict};

pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
