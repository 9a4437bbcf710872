//! Chat models from the hub: what to pull (a catalogue name or a repository file), the pull itself
//! (through `almanac-models`, into the models folder), the catalogue as a front end shows it (with
//! the memory verdict and the speed estimate), removing a model, and the memory check that runs
//! before a chat model is loaded. Needs no library, so `almanac models` works while the app runs.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use almanac_engine::gguf_file::{Content, Value as GgufValue};
use almanac_models::{CatalogueEntry, Hub, RepoFile, Verdict};
use serde::Serialize;
use serde_json::Value;

use crate::speed::{SpeedEstimate, SpeedMeasurement};
use crate::{Error, Paths, Result};

pub use almanac_models::{human_bytes, Progress as PullProgress, Pulled};

/// What to pull.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// A catalogue entry, by name.
    Catalogue(String),
    /// Any GGUF file of a repository.
    Repo(RepoFile),
}

impl ModelSource {
    /// `NAME` or `REPO FILE` (the command line's words).
    pub fn from_args(args: &[String]) -> Result<ModelSource> {
        match args {
            [name] => Ok(ModelSource::Catalogue(name.clone())),
            [repo, file] => Ok(ModelSource::Repo(RepoFile::new(repo, file))),
            _ => Err(Error::invalid(
                "model",
                "give a catalogue name, or a repository and a file (REPO FILE)",
            )),
        }
    }

    /// `{"name": ...}` or `{"repo": ..., "file": ..., "revision"?: ...}`; nothing else.
    pub fn from_json(value: &Value) -> Result<ModelSource> {
        let object = value
            .as_object()
            .ok_or_else(|| Error::invalid("body", "must be a JSON object"))?;
        if let Some(key) = object
            .keys()
            .find(|k| !["name", "repo", "file", "revision"].contains(&k.as_str()))
        {
            return Err(Error::invalid(key, "is not a field of a pull request"));
        }
        let text = |key: &str| -> Result<Option<String>> {
            match object.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.len() <= 255 => Ok(Some(s.clone())),
                Some(Value::String(_)) => Err(Error::invalid(key, "is longer than 255 bytes")),
                Some(_) => Err(Error::invalid(key, "must be a string")),
            }
        };
        match (
            text("name")?,
            text("repo")?,
            text("file")?,
            text("revision")?,
        ) {
            (Some(name), None, None, None) => Ok(ModelSource::Catalogue(name)),
            (None, Some(repo), Some(file), revision) => {
                let mut source = RepoFile::new(&repo, &file);
                if let Some(revision) = revision {
                    source.revision = revision;
                }
                Ok(ModelSource::Repo(source))
            }
            _ => Err(Error::invalid(
                "name",
                "give either name (a catalogue model) or repo and file",
            )),
        }
    }

    /// The repository file to download, checked.
    pub fn resolve(&self) -> Result<RepoFile> {
        let source = match self {
            ModelSource::Catalogue(name) => almanac_models::find(name)?.source(),
            ModelSource::Repo(source) => source.clone(),
        };
        source.check()?;
        Ok(source)
    }
}

/// Downloads `source` into the models folder from the hub that `HF_ENDPOINT` names (with
/// `HF_TOKEN`); see `almanac_models::pull`.
pub fn pull(
    paths: &Paths,
    source: &RepoFile,
    cancel: &AtomicBool,
    on_progress: &mut dyn FnMut(&PullProgress),
) -> Result<Pulled> {
    let hub = Hub::from_env();
    Ok(almanac_models::pull(
        &hub,
        source,
        &paths.models_dir,
        cancel,
        on_progress,
    )?)
}

/// A catalogue entry as the models view shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogueModel {
    #[serde(flatten)]
    pub entry: CatalogueEntry,
    /// Its file is in the models folder.
    pub downloaded: bool,
    pub path: String,
    /// Bytes of an interrupted download waiting to be resumed.
    pub partial_bytes: u64,
    /// The context the memory figure is for: the setting, capped at the model's window.
    pub context_length: usize,
    /// Weights plus key/value cache at that context.
    pub memory_bytes: u64,
    pub available_memory_bytes: Option<u64>,
    pub verdict: Verdict,
    pub speed: Option<SpeedEstimate>,
}

/// The catalogue for a machine with `available_memory` free, at `context_length`, with speeds
/// scaled from `measured` (when there is a measurement).
pub fn catalogue(
    paths: &Paths,
    context_length: usize,
    available_memory: Option<u64>,
    measured: Option<&SpeedMeasurement>,
) -> Vec<CatalogueModel> {
    almanac_models::catalogue()
        .iter()
        .map(|entry| {
            let dest = almanac_models::Destination::new(&paths.models_dir, &entry.file);
            let context = context_length.min(entry.context_length);
            let memory_bytes = entry.memory_bytes(context);
            CatalogueModel {
                downloaded: dest.target.is_file(),
                path: dest.target.to_string_lossy().into_owned(),
                partial_bytes: std::fs::metadata(&dest.part).map(|m| m.len()).unwrap_or(0),
                context_length: context,
                memory_bytes,
                available_memory_bytes: available_memory,
                verdict: almanac_models::verdict(memory_bytes, available_memory),
                speed: measured.map(|m| m.estimate(entry.parameters, entry.size_bytes)),
                entry: entry.clone(),
            }
        })
        .collect()
}

/// Deletes a downloaded chat model (a catalogue name or a `.gguf` file name in the models folder)
/// and any unfinished download of it. `current` (the configured chat model) is refused.
pub fn remove(paths: &Paths, name: &str, current: &Path) -> Result<PathBuf> {
    let file = match almanac_models::find(name) {
        Ok(entry) => entry.file.clone(),
        Err(_) => name.to_owned(),
    };
    let plain = !file.is_empty()
        && !file.contains(['/', '\\'])
        && file != ".."
        && file.to_ascii_lowercase().ends_with(".gguf");
    if !plain {
        return Err(Error::invalid(
            "name",
            format!("{name:?} is neither a catalogue model nor a .gguf file in the models folder"),
        ));
    }
    let dest = almanac_models::Destination::new(&paths.models_dir, &file);
    let partial = dest.part.exists();
    if !dest.target.is_file() && !partial {
        return Err(Error::NotFound {
            what: format!("no model {file} in {}", paths.models_dir.display()),
        });
    }
    let same = |a: &Path, b: &Path| {
        a == b
            || std::fs::canonicalize(a)
                .ok()
                .is_some_and(|a| std::fs::canonicalize(b).ok() == Some(a))
    };
    if dest.target.is_file() && same(&dest.target, current) {
        return Err(Error::Conflict(format!(
            "{file} is the chat model in use; choose another chat model first"
        )));
    }
    dest.discard();
    if dest.target.is_file() {
        std::fs::remove_file(&dest.target).map_err(Error::io(&dest.target))?;
    }
    Ok(dest.target)
}

/// What a GGUF chat model needs in memory to answer with `context` positions: its weights (the
/// file) and its key/value cache. `None` where the header lacks the shape.
pub fn memory_needed(path: &Path, content: &Content, context: usize) -> Option<(u64, u64)> {
    let meta = |key: &str| -> Option<u64> {
        match *content.metadata.get(key)? {
            GgufValue::U32(v) => Some(v.into()),
            GgufValue::U64(v) => Some(v),
            GgufValue::I32(v) => u64::try_from(v).ok(),
            _ => None,
        }
    };
    let layers = meta("llama.block_count")?;
    let heads = meta("llama.attention.head_count")?;
    let kv_heads = meta("llama.attention.head_count_kv").unwrap_or(heads);
    let head_dim = meta("llama.attention.key_length")
        .or_else(|| Some(meta("llama.embedding_length")? / heads.max(1)))?;
    let weights = std::fs::metadata(path).ok()?.len();
    let kv = almanac_models::kv_cache_bytes(
        layers as usize,
        kv_heads as usize,
        head_dim as usize,
        context,
    );
    Some((weights, kv))
}

/// Refuses to load a chat model that would not fit in the memory free now (`MemAvailable`).
/// `ALMANAC_MEMORY_AVAILABLE` (bytes) stands in for the system's figure, for tests.
pub fn check_memory(path: &Path, context: usize) -> Result<()> {
    let Some(available) = available_memory() else {
        return Ok(());
    };
    // The loader reports a missing, unreadable or hostile file.
    let Ok(content) = almanac_engine::read_checked_header(path) else {
        return Ok(());
    };
    let trained = match content.metadata.get("llama.context_length") {
        Some(GgufValue::U32(v)) => *v as usize,
        Some(GgufValue::U64(v)) => *v as usize,
        _ => context,
    };
    let context = context.min(trained).min(almanac_engine::MAX_CONTEXT_LENGTH);
    let Some((weights, kv)) = memory_needed(path, &content, context) else {
        return Ok(());
    };
    if weights + kv > available {
        let human = almanac_models::human_bytes;
        return Err(Error::NotEnoughMemory {
            message: format!(
                "{} needs {} of memory (weights {} + key/value cache {} for a {context}-token context) but only {} is free; choose a smaller model or a shorter context_length",
                path.display(),
                human(weights + kv),
                human(weights),
                human(kv),
                human(available)
            ),
        });
    }
    Ok(())
}

/// Free memory: `ALMANAC_MEMORY_AVAILABLE` if set (tests), else the system's `MemAvailable`.
pub fn available_memory() -> Option<u64> {
    match std::env::var("ALMANAC_MEMORY_AVAILABLE") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().ok(),
        _ => almanac_models::available_memory(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_from_args_and_json() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            ModelSource::from_args(&args(&["llama-3.2-1b-q4_k_m"])).unwrap(),
            ModelSource::Catalogue("llama-3.2-1b-q4_k_m".into())
        );
        let repo = ModelSource::from_args(&args(&["a/b", "m.gguf"])).unwrap();
        assert_eq!(repo.resolve().unwrap(), RepoFile::new("a/b", "m.gguf"));
        assert!(ModelSource::from_args(&args(&[])).is_err());
        let json = serde_json::json!({"repo": "a/b", "file": "x.gguf", "revision": "v1"});
        let ModelSource::Repo(source) = ModelSource::from_json(&json).unwrap() else {
            panic!("a repo source")
        };
        assert_eq!(source.revision, "v1");
        for bad in [
            serde_json::json!({"name": "x", "repo": "a/b"}),
            serde_json::json!({"repo": "a/b"}),
            serde_json::json!({"name": 3}),
            serde_json::json!({"name": "x", "url": "y"}),
            serde_json::json!([]),
        ] {
            assert!(ModelSource::from_json(&bad).is_err(), "{bad}");
        }
        assert!(ModelSource::Catalogue("nope".into()).resolve().is_err());
        assert!(ModelSource::Repo(RepoFile::new("a/b", "../x.gguf"))
            .resolve()
            .is_err());
    }
}
