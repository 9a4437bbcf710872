//! Question sets for `almanac eval qa`: JSON Lines, one question a line:
//!
//! ```json
//! {"id": "mayor", "question": "Who won the 2026 Valdros mayoral election?",
//!  "answers": ["Ines Marchetti-Obi"], "documents": ["documents/valdros-election-2026.md"]}
//! ```
//!
//! `answers`: every acceptable answer (scored against the best); `documents`: the files that hold
//! the answer, relative to the set file (absolute paths also work). The library the questions are
//! asked over holds every document any question names. `id` is optional (default: the line
//! number). The built-in set (`BUILTIN`) is written into the data directory from the binary.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QaItem {
    #[serde(default)]
    pub id: String,
    pub question: String,
    pub answers: Vec<String>,
    pub documents: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct QaSet {
    pub path: PathBuf,
    /// Documents resolved against the set file's folder.
    pub items: Vec<QaItem>,
}

impl QaSet {
    pub fn load(path: &Path) -> Result<QaSet> {
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut items = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut item: QaItem = serde_json::from_str(line)
                .map_err(|e| Error::data(path, format!("line {}: {e}", i + 1)))?;
            if item.id.is_empty() {
                item.id = format!("line-{}", i + 1);
            }
            if item.answers.iter().all(|a| a.trim().is_empty()) {
                return Err(Error::data(
                    path,
                    format!("line {}: \"answers\" holds no answer", i + 1),
                ));
            }
            for doc in &mut item.documents {
                let full = base.join(&*doc);
                if !full.is_file() {
                    return Err(Error::data(
                        path,
                        format!("line {}: document {} is not a file", i + 1, full.display()),
                    ));
                }
                *doc = full.canonicalize().map_err(Error::io(&full))?;
            }
            items.push(item);
        }
        if items.is_empty() {
            return Err(Error::data(path, "no questions"));
        }
        Ok(QaSet {
            path: path.to_path_buf(),
            items,
        })
    }

    /// Every document the questions name, once each, in order of first mention.
    pub fn documents(&self) -> Vec<PathBuf> {
        let mut all: Vec<PathBuf> = Vec::new();
        for doc in self.items.iter().flat_map(|i| &i.documents) {
            if !all.contains(doc) {
                all.push(doc.clone());
            }
        }
        all
    }
}

/// The built-in "after the cutoff" set: made-up facts dated 2025-2026 and the documents holding
/// them (crates/eval/sets/after-cutoff).
pub struct Builtin;

impl Builtin {
    pub const NAME: &'static str = "after-cutoff";
    const FILES: &'static [(&'static str, &'static str)] = &[
        (
            "set.jsonl",
            include_str!("../../sets/after-cutoff/set.jsonl"),
        ),
        (
            "README.md",
            include_str!("../../sets/after-cutoff/README.md"),
        ),
        (
            "documents/kessendra-harbour-tunnel.md",
            include_str!("../../sets/after-cutoff/documents/kessendra-harbour-tunnel.md"),
        ),
        (
            "documents/comet-orrin.md",
            include_str!("../../sets/after-cutoff/documents/comet-orrin.md"),
        ),
        (
            "documents/lumera-fold-3.txt",
            include_str!("../../sets/after-cutoff/documents/lumera-fold-3.txt"),
        ),
        (
            "documents/valdros-election-2026.md",
            include_str!("../../sets/after-cutoff/documents/valdros-election-2026.md"),
        ),
        (
            "documents/tarnwick-marathon-2026.md",
            include_str!("../../sets/after-cutoff/documents/tarnwick-marathon-2026.md"),
        ),
        (
            "documents/sorrel-prize-2025.md",
            include_str!("../../sets/after-cutoff/documents/sorrel-prize-2025.md"),
        ),
    ];

    /// Writes the set under `dir` (files already there with the same text are left alone, so the
    /// library does not re-read them) and returns its set file.
    pub fn write_to(dir: &Path) -> Result<PathBuf> {
        for (name, text) in Self::FILES {
            let path = dir.join(name);
            if std::fs::read_to_string(&path).is_ok_and(|old| old == *text) {
                continue;
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
            }
            std::fs::write(&path, text).map_err(Error::io(&path))?;
        }
        Ok(dir.join("set.jsonl"))
    }
}
