//! The recommended chat models: `catalogue.toml` at the crate's root, read at compile time and
//! checked by this module's tests (names unique, files GGUF, shapes present).

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::hub::RepoFile;

/// One downloadable model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CatalogueEntry {
    /// What `almanac models pull NAME` takes, e.g. "llama-3.2-3b-q4_k_m".
    pub name: String,
    pub title: String,
    /// The Hugging Face repository, "owner/name".
    pub repo: String,
    /// The GGUF file inside it; also its name in the models folder.
    pub file: String,
    pub quantisation: String,
    pub size_bytes: u64,
    pub licence: String,
    pub parameters: u64,
    /// The model's trained context window.
    pub context_length: usize,
    pub layers: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    model: Vec<CatalogueEntry>,
}

const CATALOGUE_TOML: &str = include_str!("../catalogue.toml");

/// Every entry, in the file's order (smallest first).
pub fn catalogue() -> &'static [CatalogueEntry] {
    static ENTRIES: OnceLock<Vec<CatalogueEntry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        toml::from_str::<CatalogueFile>(CATALOGUE_TOML)
            .expect("catalogue.toml is checked by the tests")
            .model
    })
}

/// The entry called `name` (case-insensitive).
pub fn find(name: &str) -> Result<&'static CatalogueEntry> {
    catalogue()
        .iter()
        .find(|e| e.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| Error::UnknownModel { name: name.into() })
}

impl CatalogueEntry {
    pub fn source(&self) -> RepoFile {
        RepoFile {
            repo: self.repo.clone(),
            revision: "main".into(),
            file: self.file.clone(),
        }
    }

    /// Bytes of the key/value cache for `context` positions (the engine's cache is f32).
    pub fn kv_cache_bytes(&self, context: usize) -> u64 {
        crate::memory::kv_cache_bytes(self.layers, self.kv_heads, self.head_dim, context)
    }

    /// Memory to load and answer with a `context`-position window (capped at the model's own):
    /// the weights plus the key/value cache.
    pub fn memory_bytes(&self, context: usize) -> u64 {
        self.size_bytes + self.kv_cache_bytes(context.min(self.context_length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_well_formed() {
        let entries = catalogue();
        assert!(entries.len() >= 7);
        for (i, e) in entries.iter().enumerate() {
            assert!(
                entries[..i].iter().all(|o| o.name != e.name),
                "duplicate name {}",
                e.name
            );
            assert!(e.file.ends_with(".gguf"), "{}: not a GGUF file", e.name);
            assert!(
                crate::hub::check_repo(&e.repo).is_ok(),
                "{}: bad repo",
                e.name
            );
            assert!(e.size_bytes > 100_000_000 && e.parameters > 100_000_000);
            assert!(e.layers > 0 && e.kv_heads > 0 && e.head_dim > 0 && e.context_length >= 2048);
        }
        for wanted in [
            "Llama 3.2 1B",
            "Llama 3.2 3B",
            "Llama 3.1 8B",
            "SmolLM2 360M",
            "SmolLM2 1.7B",
        ] {
            assert!(
                entries
                    .iter()
                    .any(|e| e.title.starts_with(wanted) && e.quantisation == "Q4_K_M"),
                "{wanted} at Q4_K_M"
            );
        }
        assert!(entries.iter().any(|e| e.quantisation == "Q8_0"));
    }

    #[test]
    fn memory_is_weights_plus_kv_cache() {
        let e = find("LLAMA-3.2-3B-Q4_K_M").unwrap();
        // 2 x 28 layers x 8 heads x 128 x 2048 positions x 4 bytes = 448 MiB.
        assert_eq!(e.kv_cache_bytes(2048), 469_762_048);
        assert_eq!(e.memory_bytes(2048), e.size_bytes + 469_762_048);
        assert!(matches!(find("nope"), Err(Error::UnknownModel { .. })));
    }
}
