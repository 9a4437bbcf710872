//! The pipelined run against the same work done one step at a time, with the real embedder.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use almanac_indexes::{chunk_context, Index};

use super::{discover, drafts, EmbedderTokens, Ingest, Parser};
use crate::queue::Queue;
use crate::{load_embedder, IngestEvent, Paths, Settings};

/// A chunk as the catalog holds it: path, heading, text, lines, location, vector.
type StoredChunk = (String, String, String, usize, usize, String, Vec<f32>);

fn fields(c: &StoredChunk) -> (&str, &str, &str, usize, usize, &str) {
    (&c.0, &c.1, &c.2, c.3, c.4, &c.5)
}

/// Markdown files of different lengths, so that batches mix documents and split long ones.
fn write_folder(dir: &Path) {
    for i in 0..6 {
        let sections: String = (0..1 + 2 * i)
            .map(|s| {
                let sentences: String = (0..10)
                    .map(|n| {
                        format!(
                            "Depot {i} ledger {s} line {n} lists {} crates of tin bound for harbour {}. ",
                            (i * 131 + s * 17 + n) % 997,
                            (s + n) % 7
                        )
                    })
                    .collect();
                format!("## Shipment {s}\n\n{sentences}\n\n")
            })
            .collect();
        std::fs::write(
            dir.join(format!("depot-{i}.md")),
            format!("# Depot {i}\n\n{sections}"),
        )
        .unwrap();
    }
    // A file that fails alone, in the middle of the run.
    std::fs::write(dir.join("depot-3b.pdf"), b"not a PDF at all").unwrap();
}

/// Every stored chunk in document and chunk order, read from the catalog after the index is closed
/// (the schema of almanac-indexes' catalog.sqlite).
fn stored_chunks(library: &Path) -> Vec<StoredChunk> {
    let db = rusqlite::Connection::open(library.join("catalog.sqlite")).unwrap();
    let mut query = db
        .prepare(
            "SELECT d.path, c.heading, c.text, c.line_start, c.line_end, c.location, c.embedding
             FROM chunks c JOIN documents d ON d.id = c.document_id ORDER BY d.path, c.ordinal",
        )
        .unwrap();
    let rows = query
        .query_map([], |r| {
            let bytes: Vec<u8> = r.get(6)?;
            let vector = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get::<_, i64>(3)? as usize,
                r.get::<_, i64>(4)? as usize,
                r.get(5)?,
                vector,
            ))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn pipelined_ingestion_stores_what_sequential_steps_make_and_reports_rate_and_time_left() {
    let scratch = tempfile::tempdir().unwrap();
    let folder = scratch.path().join("docs");
    std::fs::create_dir(&folder).unwrap();
    write_folder(&folder);
    let settings = Settings {
        // Small chunks: many of them, so that the run spans several batches.
        chunk_tokens: 64,
        chunk_overlap_tokens: 8,
        ..Settings::default()
    };
    let embedder = load_embedder(&Paths::new(Some(scratch.path().into())), &settings)
        .expect("the default embedder (scripts/install-models.sh)");
    let library = scratch.path().join("library");
    let index = RwLock::new(Index::open(&library, embedder.dim()).unwrap());
    let queue = Queue::open(&library.join("queue.sqlite")).unwrap();
    let ingest = Ingest {
        index: &index,
        embedder: &embedder,
        settings: &settings,
        parser: &Parser::InProcess,
        queue: &queue,
    };
    let mut events = Vec::new();
    let report = ingest
        .run(
            discover(std::slice::from_ref(&folder)).unwrap(),
            false,
            &mut |e| events.push(e),
        )
        .unwrap();
    drop(index);
    assert_eq!((report.indexed, report.failed.len()), (6, 1), "{report:?}");

    // Progress: a rate and a time left while the work goes, the whole count at the end.
    let progress: Vec<(usize, f64, Option<f64>)> = events
        .iter()
        .filter_map(|e| match e {
            IngestEvent::Progress {
                chunks,
                chunks_per_second,
                seconds_left,
            } => Some((*chunks, *chunks_per_second, *seconds_left)),
            _ => None,
        })
        .collect();
    assert!(
        progress
            .iter()
            .any(|&(c, rate, left)| c > 0 && c < report.chunks && rate > 0.0 && left > Some(0.0)),
        "no progress event with a rate and a time left during the run: {progress:?}"
    );
    let &(chunks, rate, left) = progress.last().expect("a progress event");
    assert_eq!((chunks, left), (report.chunks, Some(0.0)));
    assert!(rate > 0.0);
    assert!(
        matches!(events.last(), Some(IngestEvent::Progress { .. })),
        "the last event is the final progress"
    );

    // The same files, one step at a time: parse, chunk, embed each chunk alone.
    let stored = stored_chunks(&library);
    let mut expected = Vec::new();
    let mut files: Vec<PathBuf> = discover(&[folder]).unwrap().files;
    files.retain(|f| f.extension().is_some_and(|e| e == "md"));
    for file in files {
        let key = std::fs::canonicalize(&file)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let doc = Parser::InProcess.parse(&file, &settings).unwrap();
        for d in drafts(&doc, &settings, &EmbedderTokens(&embedder)) {
            let context = chunk_context(&doc.title, &d.heading, &d.text);
            let vector = embedder.embed(&[&context]).unwrap().remove(0);
            expected.push((
                key.clone(),
                d.heading,
                d.text,
                d.line_start,
                d.line_end,
                d.location,
                vector,
            ));
        }
    }
    expected.sort_by(|a, b| a.0.cmp(&b.0)); // stable: chunk order within a document is kept
    assert_eq!(stored.len(), expected.len());
    assert_eq!(stored.len(), report.chunks);
    assert!(report.chunks > 2 * 32, "{} chunks", report.chunks);
    for (got, want) in stored.iter().zip(&expected) {
        assert_eq!(fields(got), fields(want));
        let worst = got
            .6
            .iter()
            .zip(&want.6)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            got.6.len() == want.6.len() && worst <= 1e-6,
            "{} lines {}-{}: vectors differ by {worst}",
            got.0,
            got.3,
            got.4
        );
    }
}
