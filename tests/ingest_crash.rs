//! kill -9 during ingestion, over and over: each restart resumes the queue, and no document is ever
//! half-indexed (its chunks are in the catalog, the full-text index and the vector index, or in
//! none of them).

mod support;

use std::time::Instant;

use serde_json::Value;
use support::Library;

const FILES: usize = 16;
const RUNS: u64 = 20;

fn status(library: &Library) -> Value {
    serde_json::from_str(&library.ok(&["library", "status", "--json"])).unwrap()
}

fn assert_whole(status: &Value, run: u64) {
    let index = &status["index"];
    assert_eq!(index["chunks"], index["text_chunks"], "run {run}: {index}");
    assert_eq!(index["chunks"], index["vectors"], "run {run}: {index}");
    for doc in status["documents"].as_array().unwrap() {
        assert!(
            doc["chunks"].as_u64().unwrap() > 0,
            "run {run}: empty document {doc}"
        );
    }
}

#[test]
fn killed_ingestion_resumes_and_never_half_indexes() {
    let library = Library::new();
    let folder = tempfile::tempdir().unwrap();
    let write = |i: usize, round: u64| {
        let body: String = (0..30)
            .map(|s| {
                format!(
                    "Depot {i} shipment {s} of round {round} carried {} crates of tin.",
                    (i * 31 + s) * 17
                )
            })
            .collect::<Vec<_>>()
            .join(" ");
        std::fs::write(
            folder.path().join(format!("depot-{i:02}.md")),
            format!("# Depot {i}\n\n{body}\n"),
        )
        .unwrap();
    };
    for i in 0..FILES {
        write(i, 0);
    }
    // Kill moments spread over start-up, parsing, embedding and storing.
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    // How long one uninterrupted pass over every file takes on this machine (start-up included), so
    // that the kills below land during the work however fast or loaded the machine is.
    let probe = Library::new();
    let started = Instant::now();
    probe.ok(&["library", "add", folder.path().to_str().unwrap()]);
    let full_pass = started.elapsed();
    let mut resumed_with_work = 0;
    for run in 0..RUNS {
        let args: Vec<&str> = if run == 0 {
            vec!["library", "add", folder.path().to_str().unwrap()]
        } else {
            vec!["library", "sync"]
        };
        let mut child = library
            .command(&args)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let fraction = 0.15 + rng.f64() * 0.8;
        std::thread::sleep(full_pass.mul_f64(fraction));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let status = status(&library);
        assert_whole(&status, run);
        let queued = status["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["status"] == "queued")
            .count();
        if queued > 0 {
            resumed_with_work += 1;
        }
        // New work for the next run: every file changes, so each run has a whole pass to interrupt.
        for i in 0..FILES {
            write(i, run + 1);
        }
    }
    assert!(
        resumed_with_work >= 5,
        "the kills should often land mid-queue (only {resumed_with_work} did)"
    );
    library.ok(&["library", "sync"]);
    let status = status(&library);
    assert_whole(&status, RUNS);
    assert_eq!(status["index"]["documents"], FILES as u64, "{status}");
    let files = status["files"].as_array().unwrap();
    assert_eq!(files.len(), FILES);
    assert!(files.iter().all(|f| f["status"] == "indexed"), "{status}");
}
