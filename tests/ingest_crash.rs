//! kill -9 during ingestion, over and over: each restart resumes the queue, and no document is ever
//! half-indexed (its chunks are in the catalog, the full-text index and the vector index, or in
//! none of them).

mod disk_faults;
mod support;
#[path = "support/tmpfs.rs"]
mod tmpfs;

use std::time::Instant;

use serde_json::Value;
use support::{stderr, Library};

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

/// The multilingual model as scripts/install-models.sh installs it.
const MULTILINGUAL: &str = "multilingual-e5-small";

fn embedder_of(status: &Value) -> (String, Option<Value>) {
    let index = &status["index"];
    (
        index["embedder"]["name"].as_str().unwrap().to_owned(),
        Some(index["embedder_change"].clone()).filter(|c| !c.is_null()),
    )
}

/// A library of 1,000 chunks moves from all-MiniLM-L6-v2 to multilingual-e5-small, killed with
/// SIGKILL during the re-embedding: after each kill the library opens, still answers from the old
/// vectors, and reports the change with the progress kept; asked again, the change resumes (never
/// starting over) and switches every chunk; vectors of the two models are never mixed.
#[test]
fn a_killed_embedder_change_resumes_and_switches_every_chunk() {
    let library = Library::new();
    // Short chunks: 1,000 of them embed in seconds.
    library.write_settings(&serde_json::json!({"chunk_tokens": 40, "chunk_overlap_tokens": 0}));
    let folder = tempfile::tempdir().unwrap();
    for i in 0..25 {
        let body: String = (0..40)
            .map(|s| format!("Lighthouse {i} logbook entry {s}: the keeper trimmed {} wicks and saw {} ships pass the northern reef before dawn.\n\n", (i * 7 + s) % 13 + 2, (i * 5 + s) % 9 + 1))
            .collect();
        std::fs::write(
            folder.path().join(format!("lighthouse-{i:02}.md")),
            format!("# Lighthouse {i}\n\n{body}"),
        )
        .unwrap();
    }
    library.ok(&["library", "add", folder.path().to_str().unwrap()]);
    let before = status(&library);
    let chunks = before["index"]["chunks"].as_u64().unwrap();
    assert!(chunks >= 1000, "{}", before["index"]);
    assert_eq!(embedder_of(&before), ("all-MiniLM-L6-v2".to_owned(), None));

    // Kill after a growing delay until a kill lands mid-change: loading the model takes a few
    // seconds on a quiet machine and several times that on a busy one.
    let mut seen_progress = Vec::new();
    for attempt in 1..=10i32 {
        let mut child = library
            .command(&["library", "embedder", MULTILINGUAL])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_secs_f64(
            3.0 * 1.5f64.powi(attempt - 1),
        ));
        let finished = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let status = status(&library);
        assert_whole(&status, attempt as u64);
        match embedder_of(&status) {
            (name, Some(change)) => {
                assert_eq!(name, "all-MiniLM-L6-v2", "{change}");
                assert_eq!(change["name"], MULTILINGUAL);
                assert_eq!(change["total"], chunks);
                let done = change["done"].as_u64().unwrap();
                assert!(
                    seen_progress.last().is_none_or(|&last| done >= last),
                    "progress lost: {seen_progress:?} then {done}"
                );
                seen_progress.push(done);
                // Still answering, from the old model's vectors.
                let answer =
                    library.sources_json("How many wicks did the keeper of lighthouse 3 trim?");
                let passages = answer["sources"].as_array().unwrap();
                assert!(passages.iter().any(|p| p["vector"].is_number()), "{answer}");
                if done > 0 {
                    break;
                }
            }
            // Killed while loading the model, before the change began: try a longer delay.
            (name, None) if !finished => assert_eq!(name, "all-MiniLM-L6-v2"),
            (name, None) => {
                panic!("attempt {attempt}: the change finished before the kill ({name})")
            }
        }
    }
    assert!(
        seen_progress.last().is_some_and(|&d| d > 0 && d < chunks),
        "no kill landed mid-change: {seen_progress:?}"
    );

    // Asked again, the change resumes from the stored vectors and finishes.
    let out = library.ok(&["library", "embedder", MULTILINGUAL]);
    assert!(
        out.contains("re-embedded with multilingual-e5-small"),
        "{out}"
    );
    let after = status(&library);
    assert_eq!(embedder_of(&after), (MULTILINGUAL.to_owned(), None));
    assert_eq!(after["index"]["chunks"], chunks);
    assert_whole(&after, 99);
    let settings: Value = serde_json::from_str(
        &std::fs::read_to_string(library.path().join("settings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(settings["embedding_model"], MULTILINGUAL);
    let answer = library.sources_json("How many wicks did the keeper of lighthouse 3 trim?");
    let top = &answer["sources"][0];
    assert!(
        top["path"].as_str().unwrap().ends_with("lighthouse-03.md"),
        "{top}"
    );

    // Mixing is refused: the library opened with the old model named in the settings says why.
    library.write_settings(&serde_json::json!({"chunk_tokens": 40, "chunk_overlap_tokens": 0, "embedding_model": "all-MiniLM-L6-v2"}));
    let refused = library.run(&["library", "status"]);
    assert!(!refused.status.success());
    let message = support::stderr(&refused);
    assert!(
        message.contains("its vectors are from the embedding model multilingual-e5-small")
            && message.contains("almanac library embedder all-MiniLM-L6-v2"),
        "{message}"
    );
}

/// A Korean question asked of a library of Korean notes and English documents. The Korean notes
/// come first into the empty library, which therefore gets the multilingual model by itself (and
/// keeps it when English documents follow); the passage the question is about is found by its
/// meaning, with no word of the question in it, by the vector half of the search (first there),
/// which BM25 misses altogether. English documents alone, or `auto_embedder: false`, keep the
/// default English model.
#[test]
fn a_korean_question_finds_its_korean_passage_by_meaning() {
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/seed-ko/llm-era-lecture-notes-ko.txt");
    assert!(
        seed.is_file(),
        "Korean seed notes missing at {}",
        seed.display()
    );
    let seed = seed.to_str().unwrap();
    let english = support::fixtures().join("facts");
    let english = english.to_str().unwrap();
    let chosen = "the library uses multilingual-e5-small";

    let english_only = Library::new();
    let out = english_only.run(&["ingest", english]);
    assert!(
        out.status.success() && !stderr(&out).contains(chosen),
        "{}",
        stderr(&out)
    );
    assert_eq!(embedder_of(&status(&english_only)).0, "all-MiniLM-L6-v2");
    let turned_off = Library::new();
    turned_off.write_settings(&serde_json::json!({"auto_embedder": false}));
    let out = turned_off.run(&["ingest", seed]);
    assert!(
        out.status.success() && !stderr(&out).contains(chosen),
        "{}",
        stderr(&out)
    );
    assert_eq!(embedder_of(&status(&turned_off)).0, "all-MiniLM-L6-v2");

    let library = Library::new();
    // Passages of a line or two, so that each is about one thing.
    library.write_settings(&serde_json::json!({"chunk_tokens": 48, "chunk_overlap_tokens": 0}));
    let out = library.run(&["ingest", seed]);
    assert!(
        out.status.success() && stderr(&out).contains(chosen),
        "{}",
        stderr(&out)
    );
    library.ok(&["ingest", english]);
    assert_eq!(
        embedder_of(&status(&library)),
        (MULTILINGUAL.to_owned(), None)
    );
    // "A recurrent network structure that tells what to keep for long from what may soon be
    // forgotten": the notes' line on LSTM (중요한 기억들을 장기 기억으로 빼고, 사소한 기억들을
    // 단기 기억으로 보는 RNN).
    let question = "오래 간직할 것과 금방 잊어도 될 것을 구분하는 순환 신경망 구조";
    let answer = library.sources_json(question);
    let sources = answer["sources"].as_array().unwrap();
    let found = sources
        .iter()
        .position(|p| p["text"].as_str().unwrap().contains("장기 기억"))
        .unwrap_or_else(|| panic!("the LSTM passage is not among the sources: {answer:#}"));
    let passage = &sources[found];
    assert!(
        found < 3,
        "the LSTM passage is source {}: {answer:#}",
        found + 1
    );
    assert!(passage["path"]
        .as_str()
        .unwrap()
        .ends_with("llm-era-lecture-notes-ko.txt"));
    let text = passage["text"].as_str().unwrap();
    for word in question.split_whitespace() {
        assert!(
            !text.split_whitespace().any(|w| w == word),
            "the passage holds {word:?}: {text}"
        );
    }
    assert_eq!(passage["vector_rank"], 1, "{passage:#}");
    assert!(
        passage["bm25_rank"].is_null(),
        "BM25 found it too: {passage:#}"
    );
}
