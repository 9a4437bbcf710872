//! A writer killed with SIGKILL at random points (mid-upsert, mid-commit, mid-repair on open) never
//! leaves a library that fails to open or whose three stores disagree. The writer is this test binary
//! itself, re-run with `ALMANAC_CRASH_WRITER` set, so no helper binary has to be built.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use almanac_indexes::{ChunkDraft, ChunkInput, DocumentInput, Index, SearchMode, SearchQuery};

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

/// splitmix64
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn vector(&mut self) -> Vec<f32> {
        (0..DIM)
            .map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0 + 1e-3)
            .collect()
    }
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
    let mut rng = Rng(seed);
    let mut index = Index::open(Path::new(&dir), DIM).unwrap();
    for op in 0.. {
        let path = format!("doc-{}", rng.below(300));
        if rng.below(6) == 0 {
            index.remove_document(&path).unwrap();
        } else {
            let chunks = (0..1 + rng.below(8))
                .map(|i| {
                    let text: Vec<&str> = (0..12)
                        .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
                        .collect();
                    let draft = ChunkDraft {
                        heading: String::new(),
                        text: text.join(" "),
                        line_start: i as usize + 1,
                        line_end: i as usize + 1,
                        location: String::new(),
                    };
                    ChunkInput {
                        draft,
                        embedding: rng.vector(),
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
    let mut rng = Rng(0xC0FFEE);
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
        std::thread::sleep(Duration::from_millis(150 + rng.below(650)));
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
        // Both indexes answer, and only with chunks the catalog has.
        let q: Vec<f32> = Rng(run as u64).vector();
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
