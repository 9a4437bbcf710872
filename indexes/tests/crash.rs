//! A writer killed with SIGKILL at random points (mid-upsert, mid-commit, mid-repair on open), or
//! stopped at each named step of the commit protocol (`fault::arm`), never leaves a library that
//! fails to open, whose three stores disagree, or whose derived indexes are stamped with another
//! generation than the catalog's after the open. The writers are this test binary itself, re-run
//! with `ALMANAC_CRASH_WRITER` / `ALMANAC_FAULT_WRITER` set, so no helper binary has to be built.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use almanac_indexes::fault::{self, Step};
use almanac_indexes::{
    ChunkDraft, ChunkInput, DocumentInput, Index, Repair, SearchMode, SearchQuery,
};

const DIM: usize = 32;
const RUNS: usize = 24;
const WORDS: [&str; 12] = [
    "walrus",
    "harbour",
    "valve",
    "lighthouse",
    "pickle",
    "config",
    "report",
    "quarterly",
    "river",
    "granite",
    "lamp",
    "otter",
];

/// Coordinates uniform in [-1, 1), shifted off zero so no vector is all zeros.
fn random_vector(rng: &mut fastrand::Rng) -> Vec<f32> {
    (0..DIM).map(|_| rng.f32() * 2.0 - 1.0 + 1e-3).collect()
}

/// The writer: upserts, removes and commits in a loop until killed.
#[test]
fn crash_writer_loop() {
    let Some(dir) = std::env::var_os("ALMANAC_CRASH_WRITER") else {
        return;
    };
    let seed: u64 = std::env::var("ALMANAC_CRASH_SEED")
        .unwrap()
        .parse()
        .unwrap();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut index = Index::open(Path::new(&dir), DIM).unwrap();
    for op in 0.. {
        let path = format!("doc-{}", rng.u64(..300));
        if rng.u64(..6) == 0 {
            index.remove_document(&path).unwrap();
        } else {
            let chunks = (0..1 + rng.u64(..8))
                .map(|i| {
                    let text: Vec<&str> =
                        (0..12).map(|_| WORDS[rng.usize(..WORDS.len())]).collect();
                    let draft = ChunkDraft {
                        heading: String::new(),
                        text: text.join(" "),
                        line_start: i as usize + 1,
                        line_end: i as usize + 1,
                        location: String::new(),
                    };
                    ChunkInput {
                        draft,
                        embedding: random_vector(&mut rng),
                    }
                })
                .collect();
            let doc = DocumentInput {
                path: path.clone(),
                title: format!("Title {path}"),
                content_hash: format!("{op}"),
                modified: None,
            };
            index.upsert_document(&doc, chunks).unwrap();
        }
        if op % 7 == 6 {
            index.commit().unwrap();
        }
    }
}

#[test]
fn killed_writer_leaves_an_openable_consistent_library() {
    if std::env::var_os("ALMANAC_CRASH_WRITER").is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = fastrand::Rng::with_seed(0xC0FFEE);
    let mut reports = Vec::new();
    for run in 0..RUNS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_writer_loop",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("ALMANAC_CRASH_WRITER", dir.path())
            .env("ALMANAC_CRASH_SEED", run.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150 + rng.u64(..650)));
        let still_running = child.try_wait().unwrap().is_none();
        child.kill().unwrap(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        assert!(
            still_running,
            "run {run}: the writer stopped by itself: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        let index = Index::open(dir.path(), DIM)
            .unwrap_or_else(|e| panic!("run {run}: reopening failed: {e}"));
        let sets = index.chunk_id_sets().unwrap();
        assert_eq!(
            sets.catalog, sets.text,
            "run {run}: catalog and full-text index disagree"
        );
        assert_eq!(
            sets.catalog, sets.vectors,
            "run {run}: catalog and vector index disagree"
        );
        let stats = index.stats().unwrap();
        assert_eq!(stats.text_chunks, sets.catalog.len(), "run {run}");
        assert_stamped(&index, &format!("run {run}"));
        // Both indexes answer, and only with chunks the catalog has.
        let q: Vec<f32> = random_vector(&mut fastrand::Rng::with_seed(run as u64));
        let hits = index
            .search(&SearchQuery {
                text: "walrus harbour",
                embedding: Some(&q),
                mode: SearchMode::Hybrid,
                limit: 20,
                ..Default::default()
            })
            .unwrap();
        assert!(
            hits.iter()
                .all(|h| sets.catalog.binary_search(&h.chunk_id).is_ok()),
            "run {run}"
        );
        assert_eq!(hits.is_empty(), sets.catalog.is_empty(), "run {run}");
        reports.push(format!(
            "{run}: {} chunks, {:?}",
            sets.catalog.len(),
            index.open_report()
        ));
    }
    eprintln!("{}", reports.join("\n"));
}

/// The stamps on disk equal the catalog's generation, which the open report gives too.
fn assert_stamped(index: &Index, what: &str) {
    let g = index.generations().unwrap();
    assert_eq!(g.text, Some(g.catalog), "{what}: full-text stamp");
    assert_eq!(g.vectors, Some(g.catalog), "{what}: vector stamp");
    assert_eq!(index.open_report().generation, g.catalog, "{what}");
}

/// Words unique to each fault-test document (doc-1's second version gets the last one).
const DOC_WORDS: [&str; 5] = ["walrus", "harbour", "valve", "lighthouse", "pickle"];
const CHUNKS_PER_DOC: usize = 3;

fn fault_doc(k: usize, version: usize) -> (DocumentInput, Vec<ChunkInput>) {
    let word = DOC_WORDS[if version == 0 { k } else { 4 }];
    let chunks = (0..CHUNKS_PER_DOC)
        .map(|j| ChunkInput {
            draft: ChunkDraft {
                heading: String::new(),
                text: format!("the {word} chunk {j} of document {k}"),
                line_start: j + 1,
                line_end: j + 1,
                location: String::new(),
            },
            embedding: random_vector(&mut fastrand::Rng::with_seed(
                (100 * version + 10 * k + j) as u64,
            )),
        })
        .collect();
    let doc = DocumentInput {
        path: format!("doc-{k}"),
        title: format!("Document {k}"),
        content_hash: format!("{version}"),
        modified: None,
    };
    (doc, chunks)
}

/// The fault writer: three documents, commit (generation 3); then, armed to stop at one step,
/// add doc-3, remove doc-0, replace doc-1 (generation 6) and commit.
#[test]
fn fault_writer() {
    let Some(dir) = std::env::var_os("ALMANAC_FAULT_WRITER") else {
        return;
    };
    let step: usize = std::env::var("ALMANAC_FAULT_STEP")
        .unwrap()
        .parse()
        .unwrap();
    let step = Step::ALL[step];
    let mut index = Index::open(Path::new(&dir), DIM).unwrap();
    for k in 0..3 {
        let (doc, chunks) = fault_doc(k, 0);
        index.upsert_document(&doc, chunks).unwrap();
    }
    index.commit().unwrap();
    // CatalogAdvanced: stop in the third change (the first two are applied in memory only).
    fault::arm(step, if step == Step::CatalogAdvanced { 3 } else { 1 });
    let (doc, chunks) = fault_doc(3, 0);
    index.upsert_document(&doc, chunks).unwrap();
    assert!(index.remove_document("doc-0").unwrap());
    let (doc, chunks) = fault_doc(1, 1);
    index.upsert_document(&doc, chunks).unwrap();
    index.commit().unwrap();
    eprintln!("not stopped");
}

#[test]
fn a_commit_stopped_at_each_step_recovers_on_open() {
    if std::env::var_os("ALMANAC_FAULT_WRITER").is_some()
        || std::env::var_os("ALMANAC_CRASH_WRITER").is_some()
    {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for (i, step) in Step::ALL.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(&exe)
            .args([
                "--exact",
                "fault_writer",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("ALMANAC_FAULT_WRITER", dir.path())
            .env("ALMANAC_FAULT_STEP", i.to_string())
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(fault::EXIT_CODE),
            "{step:?}: the writer did not stop there: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        let what = format!("{step:?}");
        let index = Index::open(dir.path(), DIM)
            .unwrap_or_else(|e| panic!("{what}: reopening failed: {e}"));
        // The catalog had all three changes (the third one committed just before the stop).
        assert_eq!(index.open_report().generation, 6, "{what}");
        let behind = Repair::Repaired {
            from: Some(3),
            added: 2 * CHUNKS_PER_DOC,
            removed: 2 * CHUNKS_PER_DOC,
        };
        let (text, vectors) = match step {
            Step::CatalogAdvanced => (behind.clone(), behind),
            Step::TextCommitted | Step::VectorFilesWritten | Step::ManifestWritten => {
                (Repair::Loaded, behind)
            }
            Step::ManifestSwitched => (Repair::Loaded, Repair::Loaded),
        };
        assert_eq!(index.open_report().text, text, "{what}");
        assert_eq!(index.open_report().vectors, vectors, "{what}");
        let sets = index.chunk_id_sets().unwrap();
        assert_eq!(sets.catalog.len(), 3 * CHUNKS_PER_DOC, "{what}");
        assert_eq!(
            sets.catalog, sets.text,
            "{what}: catalog and full-text index disagree"
        );
        assert_eq!(
            sets.catalog, sets.vectors,
            "{what}: catalog and vector index disagree"
        );
        assert_stamped(&index, &what);
        // What an interrupted commit left in vectors/ is gone: one dump, no temporary manifest.
        let mut left: Vec<String> = std::fs::read_dir(dir.path().join("vectors"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), 3, "{what}: {left:?}");
        assert!(
            left.contains(&"manifest.json".to_owned()),
            "{what}: {left:?}"
        );

        // Search sees exactly the catalog: doc-3 and doc-1's new version, not doc-0 or doc-1's old one.
        let bm25 = |text: &str| {
            index
                .search(&SearchQuery {
                    text,
                    mode: SearchMode::Bm25,
                    limit: 20,
                    ..Default::default()
                })
                .unwrap()
        };
        for (word, found) in [
            ("lighthouse", true),
            ("pickle", true),
            ("valve", true),
            ("walrus", false),
            ("harbour", false),
        ] {
            let hits = bm25(word);
            assert_eq!(
                hits.len(),
                if found { CHUNKS_PER_DOC } else { 0 },
                "{what}: {word}"
            );
            assert!(
                hits.iter()
                    .all(|h| sets.catalog.binary_search(&h.chunk_id).is_ok()),
                "{what}"
            );
        }
        for (k, version, present) in [(3, 0, true), (1, 1, true), (0, 0, false), (1, 0, false)] {
            let (_, chunks) = fault_doc(k, version);
            let q = &chunks[0].embedding;
            let hits = index
                .search(&SearchQuery {
                    embedding: Some(q),
                    mode: SearchMode::Dense,
                    limit: 1,
                    ..Default::default()
                })
                .unwrap();
            let top = hits[0].text == chunks[0].draft.text;
            assert_eq!(top, present, "{what}: nearest to doc-{k} v{version}");
            assert!(
                sets.catalog.binary_search(&hits[0].chunk_id).is_ok(),
                "{what}"
            );
        }
        drop(index);
        // Repaired and re-stamped: the next open trusts both.
        let index = Index::open(dir.path(), DIM).unwrap();
        assert_eq!(
            (&index.open_report().text, &index.open_report().vectors),
            (&Repair::Loaded, &Repair::Loaded),
            "{what}"
        );
        assert_stamped(&index, &what);
    }
}

/// The embedder-switch writer: three documents, then a change to a model of the same width whose
/// vectors are the old ones negated, stopped right after the catalog switched to them (before the
/// vector graph was rewritten).
#[test]
fn embedder_switch_writer() {
    let Some(dir) = std::env::var_os("ALMANAC_SWITCH_WRITER") else {
        return;
    };
    let mut index = Index::open(Path::new(&dir), DIM).unwrap();
    for k in 0..3 {
        let (doc, chunks) = fault_doc(k, 0);
        index.upsert_document(&doc, chunks).unwrap();
    }
    index.commit().unwrap();
    index.begin_embedder_change("negated", DIM).unwrap();
    // Chunk ids follow the insertion order of the documents' chunks.
    let old: Vec<Vec<f32>> = (0..3)
        .flat_map(|k| fault_doc(k, 0).1)
        .map(|c| c.embedding)
        .collect();
    let waiting = index.chunks_to_reembed(100).unwrap();
    assert_eq!(waiting.len(), old.len());
    let new: Vec<(u64, Vec<f32>)> = waiting
        .iter()
        .zip(&old)
        .map(|(c, v)| (c.id, v.iter().map(|x| -x).collect()))
        .collect();
    index.store_reembedded(&new).unwrap();
    fault::arm(Step::CatalogAdvanced, 1);
    index.finish_embedder_change().unwrap();
    eprintln!("not stopped");
}

/// A switch to new vectors cut short after the catalog transaction: the old graph's chunk ids
/// still match the catalog, so only the manifest removed before the switch makes the next open
/// rebuild the graph from the new vectors instead of trusting the old one.
#[test]
fn an_embedder_switch_cut_short_rebuilds_the_graph_from_the_new_vectors() {
    if std::env::var_os("ALMANAC_SWITCH_WRITER").is_some()
        || std::env::var_os("ALMANAC_FAULT_WRITER").is_some()
        || std::env::var_os("ALMANAC_CRASH_WRITER").is_some()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "embedder_switch_writer",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("ALMANAC_SWITCH_WRITER", dir.path())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(fault::EXIT_CODE),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index = Index::open(dir.path(), DIM).unwrap();
    assert_eq!(index.embedder().unwrap().as_deref(), Some("negated"));
    assert!(
        matches!(index.open_report().vectors, Repair::Rebuilt { .. }),
        "{:?}",
        index.open_report().vectors
    );
    assert_stamped(&index, "after the switch");
    // The closest chunk to a stored chunk's negated vector is that chunk.
    let (_, chunks) = fault_doc(1, 0);
    let query: Vec<f32> = chunks[0].embedding.iter().map(|x| -x).collect();
    let hits = index
        .search(&SearchQuery {
            embedding: Some(&query),
            mode: SearchMode::Dense,
            ..SearchQuery::default()
        })
        .unwrap();
    assert_eq!(hits[0].document_path, "doc-1");
    assert!(hits[0].vector.unwrap() > 0.999, "{:?}", hits[0].vector);
}
