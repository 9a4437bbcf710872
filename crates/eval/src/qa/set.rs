//! Question sets for `almanac eval qa`: JSON Lines, one question a line:
//!
//! ```json
//! {"id": "mayor", "question": "Who won the 2026 Valdros mayoral election?",
//!  "answers": ["Ines Marchetti-Obi"], "documents": ["documents/valdros-election-2026.md"]}
//! ```
//!
//! `answers`: every acceptable answer (scored against the best); `documents`: the files that hold
//! the answer, relative to the set file (absolute paths also work). `id` is optional (default: the
//! line number). A line without a question may add documents that answer none of them, so that
//! retrieval has to find the right one among others as in a real library:
//!
//! ```json
//! {"library": ["distractors/", "notes/other.md"]}
//! ```
//!
//! (a folder adds every file under it). The library the questions are asked over holds every
//! document the set names. The built-in set (`Builtin`) is written into the data directory from
//! the binary.

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

/// A line that adds documents to the library without asking about them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LibraryLine {
    library: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct QaSet {
    pub path: PathBuf,
    /// Documents resolved against the set file's folder.
    pub items: Vec<QaItem>,
    /// Documents in the library that no question names (resolved, folders expanded).
    pub library: Vec<PathBuf>,
}

impl QaSet {
    pub fn load(path: &Path) -> Result<QaSet> {
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut items = Vec::new();
        let mut library = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = |e: serde_json::Error| Error::data(path, format!("line {}: {e}", i + 1));
            let value: serde_json::Value = serde_json::from_str(line).map_err(at)?;
            if value.get("question").is_none() && value.get("library").is_some() {
                let line: LibraryLine = serde_json::from_value(value).map_err(at)?;
                for entry in line.library {
                    add_library_entry(path, i + 1, &base.join(entry), &mut library)?;
                }
                continue;
            }
            let mut item: QaItem = serde_json::from_value(value).map_err(at)?;
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
            library,
        })
    }

    /// Every document of the library, once each: those the questions name in order of first
    /// mention, then the others.
    pub fn documents(&self) -> Vec<PathBuf> {
        let mut all: Vec<PathBuf> = Vec::new();
        for doc in self
            .items
            .iter()
            .flat_map(|i| &i.documents)
            .chain(&self.library)
        {
            if !all.contains(doc) {
                all.push(doc.clone());
            }
        }
        all
    }
}

/// Adds `entry` (a file, or every file under a folder in name order) to `library`.
fn add_library_entry(
    set: &Path,
    line: usize,
    entry: &Path,
    library: &mut Vec<PathBuf>,
) -> Result<()> {
    if entry.is_file() {
        library.push(entry.canonicalize().map_err(Error::io(entry))?);
        return Ok(());
    }
    if !entry.is_dir() {
        return Err(Error::data(
            set,
            format!(
                "line {line}: library entry {} is not a file or folder",
                entry.display()
            ),
        ));
    }
    let mut children: Vec<PathBuf> = std::fs::read_dir(entry)
        .map_err(Error::io(entry))?
        .map(|child| child.map(|c| c.path()).map_err(Error::io(entry)))
        .collect::<Result<_>>()?;
    children.sort();
    for child in children {
        add_library_entry(set, line, &child, library)?;
    }
    Ok(())
}

/// The built-in "after the cutoff" set: made-up facts dated 2025-2026, the documents holding them
/// and distractors that hold near misses (crates/eval/sets/after-cutoff).
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
        (
            "distractors/lumera-fold-2.txt",
            include_str!("../../sets/after-cutoff/distractors/lumera-fold-2.txt"),
        ),
        (
            "distractors/valdros-election-2022.md",
            include_str!("../../sets/after-cutoff/distractors/valdros-election-2022.md"),
        ),
        (
            "distractors/tarnwick-marathon-2025.md",
            include_str!("../../sets/after-cutoff/distractors/tarnwick-marathon-2025.md"),
        ),
        (
            "distractors/lowmere-sea-wall.md",
            include_str!("../../sets/after-cutoff/distractors/lowmere-sea-wall.md"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn library_lines_add_documents_no_question_names() {
        let dir = tempfile::tempdir().unwrap();
        let gold = write(dir.path(), "gold.md", "Ines won.");
        let other = write(dir.path(), "notes/other.md", "Unrelated.");
        let b = write(dir.path(), "distractors/b.txt", "B.");
        let a = write(dir.path(), "distractors/sub/a.txt", "A.");
        let set = write(
            dir.path(),
            "set.jsonl",
            concat!(
                r#"{"library": ["distractors", "notes/other.md", "gold.md"]}"#,
                "\n",
                r#"{"question": "Who won?", "answers": ["Ines"], "documents": ["gold.md"]}"#,
                "\n",
            ),
        );
        let set = QaSet::load(&set).unwrap();
        assert_eq!(set.items.len(), 1, "a library line is not a question");
        let canonical = |p: &PathBuf| p.canonicalize().unwrap();
        assert_eq!(
            set.documents(),
            vec![
                canonical(&gold),
                canonical(&b),
                canonical(&a),
                canonical(&other)
            ],
            "the named documents first, then the library's, each once, folders in name order"
        );
    }

    #[test]
    fn a_bad_library_line_names_the_set_line_and_entry() {
        let dir = tempfile::tempdir().unwrap();
        let missing = write(dir.path(), "set.jsonl", "{\"library\": [\"nowhere\"]}\n");
        let error = QaSet::load(&missing).unwrap_err().to_string();
        assert!(
            error.contains("set.jsonl") && error.contains("line 1"),
            "{error}"
        );
        assert!(
            error.contains("nowhere") && error.contains("not a file or folder"),
            "{error}"
        );

        let unknown = write(
            dir.path(),
            "typo.jsonl",
            "{\"library\": [], \"extra\": 1}\n",
        );
        let error = QaSet::load(&unknown).unwrap_err().to_string();
        assert!(
            error.contains("typo.jsonl") && error.contains("extra"),
            "{error}"
        );
    }
}
