//! Faults of the disk (docs/decisions/0017-disk-faults.md): the data directory on a real,
//! size-limited tmpfs that fills up (real ENOSPC) or turns read-only, while documents are
//! ingested, the indexes commit and a conversation is written. Each fault ends the command with one
//! `error:` line naming the file and what happened; once the disk has room again (or is writable),
//! the library opens consistent, holds everything committed before the fault, and the interrupted
//! work completes.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use crate::support::http::Server;
use crate::support::{self, Library};
use crate::tmpfs::with_tmpfs;

/// The default chat model, as scripts/install-models.sh installs it.
const SMALL_MODEL: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

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
                failed_in.push(format!("headroom {headroom}: {line}"));
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
        let in_commit =
            |line: &String| line.contains("vector index") || line.contains("full-text index");
        assert!(
            failed_in.iter().any(in_commit) && failed_in.iter().any(|l| !in_commit(l)),
            "the disk should have filled both before and during an index commit: {failed_in:?}"
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

/// A stand-in for ui/dist: `almanac serve` needs a folder to serve.
fn ui_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><title>Almanac</title>",
    )
    .unwrap();
    dir
}

/// One answer through the UI API: its `started` event and how it ended (`done`, `error`, or the
/// refusal's `{code, message}` with the HTTP status).
fn ask(server: &Server, conversation: Option<&str>, text: &str) -> (Option<Value>, Value) {
    let (response, events) = server.events(
        "/api/ask",
        &json!({"conversation_id": conversation, "text": text, "options": {}}),
    );
    if response.status != 200 {
        let mut refusal = response.json();
        refusal["status"] = json!(response.status);
        return (None, refusal);
    }
    let started = events.iter().find(|e| e["event"] == "started").cloned();
    (started, events.last().cloned().expect("a terminal event"))
}

fn answers(server: &Server, conversation: &str) -> Vec<Value> {
    let c = server
        .get(&format!("/api/conversations/{conversation}"))
        .json();
    c["messages"].as_array().unwrap().clone()
}

/// `almanac serve` holds the library, its conversations and the chat model while the disk fills
/// up and the model file is cut short. The loaded weights are in memory, so the cut file changes
/// nothing for the running server; the question written to a full disk ends in one error naming
/// conversations.sqlite and "the disk is full"; the turns stored before stay as they were, and
/// with room again the same conversation goes on. A new process refuses the cut model file in one
/// line naming it.
#[test]
fn a_full_disk_during_a_conversation_write_and_a_model_cut_while_loaded() {
    with_tmpfs("disk_faults::conversation", TMPFS_BYTES, |fs| {
        let model_dir = tempfile::tempdir().unwrap();
        let model = model_dir.path().join("chat.gguf");
        std::fs::copy(support::models_dir().join(SMALL_MODEL), &model).unwrap();
        let library = Library::new_in(fs.path());
        library.write_settings(&json!({"chat_model": model, "max_answer_tokens": 160}));
        library.ok(&[
            "ingest",
            support::fixtures().join("facts").to_str().unwrap(),
        ]);
        let ui = ui_dir();
        let server = Server::start_with(library, ui.path());

        let (started, end) = ask(&server, None, "Who designed the Zorvath Bridge?");
        assert_eq!(end["event"], "done", "{end}");
        let conversation = started.unwrap()["conversation_id"]
            .as_str()
            .unwrap()
            .to_owned();

        // The model file cut to half while loaded: the server answers from the weights it holds.
        let full_len = std::fs::metadata(&model).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&model)
            .unwrap()
            .set_len(full_len / 2)
            .unwrap();
        let (_, end) = ask(&server, Some(&conversation), "How long is the bridge?");
        assert_eq!(end["event"], "done", "{end}");
        let stored = answers(&server, &conversation);
        assert_eq!(stored.len(), 4);

        // No room at all (the question's row fails), then a little (the growing answer's fails,
        // or the whole turn fits): each ends in `done` or one clear storage error.
        let mut failures = Vec::new();
        for headroom in [0, 12 << 10, 48 << 10] {
            let before = answers(&server, &conversation);
            fs.fill_leaving(headroom);
            let (_, end) = ask(
                &server,
                Some(&conversation),
                "Write a long story, at least five paragraphs, about the bridge and its designer.",
            );
            fs.unfill();
            if end["event"] == "done" {
                continue;
            }
            let message = end["message"].as_str().unwrap_or_default();
            assert!(
                end["code"] == "storage"
                    && message.contains("conversations.sqlite")
                    && message.contains("the disk is full")
                    && !message.contains('\n'),
                "headroom {headroom}: {end}"
            );
            failures.push(end.clone());
            let after = answers(&server, &conversation);
            assert_eq!(
                after[..before.len()],
                before[..],
                "the stored turns changed"
            );
        }
        eprintln!("conversation writes on a full disk: {failures:#?}");
        assert!(
            !failures.is_empty(),
            "no conversation write met the full disk"
        );
        let (_, end) = ask(
            &server,
            Some(&conversation),
            "Who designed the Zorvath Bridge?",
        );
        assert_eq!(end["event"], "done", "{end}");
        let mut server = server;
        let _ = server.child.kill();
        let _ = server.child.wait();
        let library = &server.lib;

        // A new process meets the cut file: one line naming it.
        let out = library.run(&["ask", "Who designed the Zorvath Bridge?"]);
        let errors = support::error_lines(&out);
        assert!(!out.status.success());
        assert_eq!(errors.len(), 1, "{}", support::stderr(&out));
        assert!(
            errors[0].contains(model.to_str().unwrap()) && errors[0].contains("truncated"),
            "{errors:?}"
        );
        // The store opens, the answer cut by the full disk marked as such, the others kept.
        let restored = model_dir.path().join("restored.gguf");
        std::fs::copy(support::models_dir().join(SMALL_MODEL), &restored).unwrap();
        std::fs::rename(&restored, &model).unwrap();
        let asked: Value = serde_json::from_str(&library.ok(&[
            "ask",
            "--json",
            "--conversation",
            &conversation,
            "--max-tokens",
            "8",
            "And when did it open?",
        ]))
        .unwrap();
        assert_eq!(asked["conversation_id"], conversation.as_str());
    });
}
