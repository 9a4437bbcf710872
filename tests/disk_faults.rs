//! Faults of the disk (docs/decisions/0017-disk-faults.md): the data directory on a real,
//! size-limited tmpfs that fills up (real ENOSPC) or turns read-only, while documents are
//! ingested, the indexes commit and a conversation is written. Each fault ends the command with one
//! `error:` line naming the file and what happened; once the disk has room again (or is writable),
//! the library opens consistent, holds everything committed before the fault, and the interrupted
//! work completes.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::support::{self, Library};
use crate::tmpfs::with_tmpfs;

/// Room for the library of these tests and the filler that takes it away.
const TMPFS_BYTES: u64 = 48 << 20;

/// Free space left when each ingestion starts: from none (the first catalog write fails) to
/// enough for the catalog and queue transactions but not the index files of the commit.
const HEADROOMS: [u64; 6] = [0, 16 << 10, 64 << 10, 160 << 10, 320 << 10, 640 << 10];

fn status(library: &Library) -> Value {
    serde_json::from_str(&library.ok(&["library", "status", "--json"])).unwrap()
}

/// Every document whole: its chunks in the catalog, the full-text index and the vectors.
fn assert_consistent(status: &Value, when: &str) {
    let index = &status["index"];
    assert_eq!(index["chunks"], index["text_chunks"], "{when}: {index}");
    assert_eq!(index["chunks"], index["vectors"], "{when}: {index}");
    for doc in status["documents"].as_array().unwrap() {
        assert!(doc["chunks"].as_u64().unwrap() > 0, "{when}: empty {doc}");
    }
}

/// Path → chunk count of every indexed document.
fn documents(status: &Value) -> BTreeMap<String, u64> {
    status["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap().to_owned(),
                d["chunks"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Nothing committed before is lost (every document there, with its chunks).
fn assert_kept(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, when: &str) {
    for (path, chunks) in before {
        assert_eq!(
            after.get(path),
            Some(chunks),
            "{when}: {path} lost or changed"
        );
    }
}

fn write_documents(folder: &Path, round: usize, count: usize) {
    for i in 0..count {
        let body: String = (0..40)
            .map(|s| {
                format!(
                    "Granary {round}-{i} ledger line {s}: {} sacks of barley and {} of rye went north.",
                    (round * 13 + i * 7 + s) % 97 + 3,
                    (round * 5 + i * 11 + s) % 89 + 2
                )
            })
            .collect::<Vec<_>>()
            .join(" ");
        std::fs::write(
            folder.join(format!("granary-{round:02}-{i}.md")),
            format!("# Granary {round}-{i}\n\n{body}\n"),
        )
        .unwrap();
    }
}

/// The one `error:` line of a failed command, checked to name a file of the library and `cause`.
fn fault_line(out: &std::process::Output, library: &Library, causes: &[&str]) -> String {
    assert!(!out.status.success(), "succeeded: {}", support::stderr(out));
    let errors = support::error_lines(out);
    assert_eq!(errors.len(), 1, "{}", support::stderr(out));
    let line = errors[0].clone();
    assert!(
        line.contains(library.path().to_str().unwrap()),
        "names no file of the library: {line}"
    );
    assert!(
        causes.iter().any(|c| line.contains(c)),
        "does not say {causes:?}: {line}"
    );
    line
}

const FULL: [&str; 2] = ["disk is full", "No space left on device"];
const READ_ONLY: [&str; 1] = ["read-only"];

/// The disk fills up at a different point of each ingestion (catalog, queue, full-text commit,
/// vector dump): each ends in one error line, and with room again the library is whole, keeps all
/// it had, and the same command then indexes the rest.
#[test]
fn a_full_disk_during_ingestion_and_index_commits_loses_nothing_committed() {
    with_tmpfs("disk_faults::full_disk_ingestion", TMPFS_BYTES, |fs| {
        let library = Library::new_in(fs.path());
        let folder = tempfile::tempdir().unwrap();
        write_documents(folder.path(), 0, 3);
        let folder_arg = folder.path().to_str().unwrap();
        library.ok(&["library", "add", folder_arg]);
        let mut committed = documents(&status(&library));
        let mut failed_in = Vec::new();
        for (round, headroom) in HEADROOMS.into_iter().enumerate() {
            write_documents(folder.path(), round + 1, 3);
            fs.fill_leaving(headroom);
            let out = library.run(&["library", "sync"]);
            fs.unfill();
            let when = format!("headroom {headroom}");
            if !out.status.success() {
                let line = fault_line(&out, &library, &FULL);
                failed_in.push(line);
            }
            let after = status(&library);
            assert_consistent(&after, &when);
            assert_kept(&committed, &documents(&after), &when);
            library.ok(&["library", "sync"]);
            let whole = status(&library);
            assert_consistent(&whole, &when);
            assert_eq!(
                whole["index"]["documents"],
                3 * (round as u64 + 2),
                "{when}: {}",
                whole["index"]
            );
            committed = documents(&whole);
        }
        eprintln!("full-disk errors: {failed_in:#?}");
        assert!(
            failed_in.len() >= 3,
            "the disk should have been too full for most rounds: {failed_in:?}"
        );
    });
}

/// A read-only data directory: ingesting and asking each end in one error line naming the file;
/// made writable again, the library and its conversation are as they were and ingestion completes.
#[test]
fn a_read_only_data_directory_refuses_writes_and_loses_nothing() {
    with_tmpfs("disk_faults::read_only", TMPFS_BYTES, |fs| {
        let library = Library::new_in(fs.path());
        let folder = tempfile::tempdir().unwrap();
        write_documents(folder.path(), 0, 3);
        library.ok(&["library", "add", folder.path().to_str().unwrap()]);
        let asked: Value = serde_json::from_str(&library.ok(&[
            "ask",
            "--json",
            "--max-tokens",
            "8",
            "How many sacks of barley went north?",
        ]))
        .unwrap();
        assert_eq!(asked["conversation_id"], "1", "{asked}");
        let committed = documents(&status(&library));

        write_documents(folder.path(), 1, 3);
        fs.read_only();
        let out = library.run(&["library", "sync"]);
        let sync_line = fault_line(&out, &library, &READ_ONLY);
        let out = library.run(&["ask", "--max-tokens", "8", "How much rye?"]);
        let ask_line = fault_line(&out, &library, &READ_ONLY);
        eprintln!("read-only errors:\n{sync_line}\n{ask_line}");
        fs.writable();

        let after = status(&library);
        assert_consistent(&after, "after read-only");
        assert_kept(&committed, &documents(&after), "after read-only");
        library.ok(&["library", "sync"]);
        let whole = status(&library);
        assert_consistent(&whole, "synced");
        assert_eq!(whole["index"]["documents"], 6, "{}", whole["index"]);
        let asked: Value = serde_json::from_str(&library.ok(&[
            "ask",
            "--json",
            "--conversation",
            "1",
            "--max-tokens",
            "8",
            "And how much rye?",
        ]))
        .unwrap();
        assert_eq!(asked["conversation_id"], "1", "{asked}");
    });
}
