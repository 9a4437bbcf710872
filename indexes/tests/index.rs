use std::collections::HashSet;
use std::fs;
use std::path::Path;

use almanac_indexes::{
    chunk_text, snippet_to_plain, ChunkDraft, ChunkInput, ChunkingOptions, DocumentInput, Error,
    Fusion, Hit, Index, Repair, SearchMode, SearchQuery, SourceText, TextKind, WordCounter, RRF_K,
};

const DIM: usize = 8;

/// Coordinates uniform in [-1, 1).
fn random_vector(rng: &mut fastrand::Rng, dim: usize) -> Vec<f32> {
    (0..dim).map(|_| rng.f32() * 2.0 - 1.0).collect()
}

fn doc(path: &str, title: &str) -> DocumentInput {
    DocumentInput {
        path: path.into(),
        title: title.into(),
        content_hash: format!("hash-of-{path}"),
        modified: Some(1_700_000_000),
    }
}

fn chunk(heading: &str, text: &str, line: usize, embedding: Vec<f32>) -> ChunkInput {
    ChunkInput {
        draft: ChunkDraft {
            heading: heading.into(),
            text: text.into(),
            line_start: line,
            line_end: line + 1,
            location: String::new(),
        },
        embedding,
    }
}

/// Axis-aligned unit vector, a little tilted towards the next axis.
fn axis(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[i % DIM] = 1.0;
    v[(i + 1) % DIM] = 0.1;
    v
}

fn bm25<'a>(text: &'a str) -> SearchQuery<'a> {
    SearchQuery {
        text,
        mode: SearchMode::Bm25,
        ..SearchQuery::default()
    }
}

fn dense(embedding: &[f32]) -> SearchQuery<'_> {
    SearchQuery {
        embedding: Some(embedding),
        mode: SearchMode::Dense,
        ..SearchQuery::default()
    }
}

fn ids(hits: &[Hit]) -> Vec<u64> {
    hits.iter().map(|h| h.chunk_id).collect()
}

const FACTS: [&str; 6] = [
    "The walrus is a large flippered marine mammal of the Arctic.",
    "Penguins are flightless birds living almost exclusively in the Southern Hemisphere.",
    "Zanzibarite is a rare mineral named after the island where it was first described.",
    "Rust is a systems programming language focused on safety and speed.",
    "The Arctic Ocean is the smallest and shallowest of the five oceans.",
    "Sourdough bread is leavened by wild yeast and lactic acid bacteria.",
];

/// Six one-chunk documents: a0.md .. a5.md, chunk i embedded along axis i.
fn small_library(dir: &Path) -> Index {
    let mut index = Index::open(dir, DIM).unwrap();
    for (i, fact) in FACTS.iter().enumerate() {
        let path = format!("/lib/a{i}.md");
        index
            .upsert_document(
                &doc(&path, &format!("Note {i}")),
                vec![chunk("Facts", fact, 3, axis(i))],
            )
            .unwrap();
    }
    index.commit().unwrap();
    index
}

#[test]
fn bm25_finds_an_exact_rare_term_and_marks_it() {
    let dir = tempfile::tempdir().unwrap();
    let index = small_library(dir.path());
    let hits = index.search(&bm25("What is zanzibarite?")).unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    let h = &hits[0];
    assert_eq!(h.document_path, "/lib/a2.md");
    assert_eq!(h.title, "Note 2");
    assert_eq!(h.heading, "Facts");
    assert_eq!((h.line_start, h.line_end), (3, 4));
    assert_eq!(h.modified, Some(1_700_000_000));
    assert_eq!(h.bm25_rank, Some(1));
    assert!(h.bm25.unwrap() > 0.0);
    assert_eq!((h.vector, h.vector_rank), (None, None));
    assert!(h.snippet.contains("<b>Zanzibarite</b>"), "{}", h.snippet);
    assert_eq!(snippet_to_plain(&h.snippet), FACTS[2]);
}

#[test]
fn bm25_ranks_by_term_weight_and_stems() {
    let dir = tempfile::tempdir().unwrap();
    let index = small_library(dir.path());
    // "oceans" stems to "ocean"; "arctic" appears in two chunks, "shallowest" in one.
    let hits = index.search(&bm25("shallowest arctic oceans")).unwrap();
    assert_eq!(hits[0].document_path, "/lib/a4.md");
    assert_eq!(hits[1].document_path, "/lib/a0.md");
    assert_eq!(hits.len(), 2);
    assert!(hits[0].bm25.unwrap() > hits[1].bm25.unwrap());
    assert_eq!((hits[0].bm25_rank, hits[1].bm25_rank), (Some(1), Some(2)));
}

#[test]
fn query_syntax_and_punctuation_never_fail() {
    let dir = tempfile::tempdir().unwrap();
    let index = small_library(dir.path());
    for q in [
        "what's \"rust\": a language?",
        "title:(walrus AND -penguin) OR [bread",
        "+++ --- *** ::: \\ / ) ( } {",
        "",
        "?!",
        "penguins' \"southern hemisphere\"~2^3",
    ] {
        let hits = index.search(&bm25(q)).unwrap();
        assert!(hits.len() <= 6, "{q}");
    }
    let hits = index.search(&bm25("title:(walrus AND -penguin)")).unwrap();
    // No operators: "penguin" is a term like any other, so both documents match.
    let paths: HashSet<&str> = hits.iter().map(|h| h.document_path.as_str()).collect();
    assert!(
        paths.contains("/lib/a0.md") && paths.contains("/lib/a1.md"),
        "{paths:?}"
    );
}

#[test]
fn question_words_do_not_match_everything() {
    let dir = tempfile::tempdir().unwrap();
    let index = small_library(dir.path());
    let hits = index
        .search(&bm25(
            "What is the thing that they call a walrus, and where is it?",
        ))
        .unwrap();
    assert_eq!(
        hits.iter()
            .map(|h| h.document_path.as_str())
            .collect::<Vec<_>>(),
        ["/lib/a0.md"]
    );
    assert!(
        !hits[0].snippet.contains("<b>is</b>"),
        "{}",
        hits[0].snippet
    );
    // A query of nothing but stop words still searches them.
    let hits = index.search(&bm25("The Who")).unwrap();
    assert!(!hits.is_empty());
}

#[test]
fn title_and_heading_terms_are_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::open(dir.path(), DIM).unwrap();
    index
        .upsert_document(
            &doc("/t/title.md", "Kayaks"),
            vec![chunk("", "A note about boats.", 1, axis(0))],
        )
        .unwrap();
    index
        .upsert_document(
            &doc("/t/heading.md", "Misc"),
            vec![chunk("Canoes > Paddles", "Some text.", 1, axis(1))],
        )
        .unwrap();
    index
        .upsert_document(
            &doc("/t/other.md", "Other"),
            vec![chunk("", "Nothing here.", 1, axis(2))],
        )
        .unwrap();
    index.commit().unwrap();
    let paths = |q: &str| {
        index
            .search(&bm25(q))
            .unwrap()
            .into_iter()
            .map(|h| h.document_path)
            .collect::<Vec<_>>()
    };
    assert_eq!(paths("kayak"), ["/t/title.md"]);
    assert_eq!(paths("paddles"), ["/t/heading.md"]);
    // the snippet falls back to the text's beginning when the match is not in the body
    assert_eq!(
        index.search(&bm25("kayak")).unwrap()[0].snippet,
        "A note about boats."
    );
}

#[test]
fn dense_search_ranks_the_nearest_vector_first() {
    let dir = tempfile::tempdir().unwrap();
    let index = small_library(dir.path());
    for i in 0..FACTS.len() {
        let mut q = axis(i);
        q[(i + 3) % DIM] += 0.05; // a bit off, and scaled: cosine ignores length
        let q: Vec<f32> = q.iter().map(|x| x * 3.0).collect();
        let hits = index.search(&dense(&q)).unwrap();
        assert_eq!(hits[0].document_path, format!("/lib/a{i}.md"));
        assert_eq!(hits[0].vector_rank, Some(1));
        assert!(hits[0].vector.unwrap() > 0.99);
        assert_eq!(hits.len(), FACTS.len());
        let sims: Vec<f32> = hits.iter().map(|h| h.vector.unwrap()).collect();
        assert!(sims.windows(2).all(|w| w[0] >= w[1]), "{sims:?}");
        assert!(hits.iter().all(|h| h.bm25.is_none()));
    }
}

#[test]
fn hybrid_fusion_follows_reciprocal_rank_fusion() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::open(dir.path(), 2).unwrap();
    // BM25 for "heron": A (three times), B (once). Vectors against q = [1, 0]: C, B, A, D.
    let docs = [
        ("/h/A.md", "heron heron heron by the lake", [1.0, 1.0]),
        ("/h/B.md", "a heron and a duck", [1.0, 0.5]),
        ("/h/C.md", "swans on a pond", [1.0, 0.1]),
        ("/h/D.md", "nothing to do with birds", [0.0, 1.0]),
    ];
    for (path, text, v) in docs {
        index
            .upsert_document(&doc(path, "Birds"), vec![chunk("", text, 1, v.to_vec())])
            .unwrap();
    }
    index.commit().unwrap();
    let q = [1.0f32, 0.0];
    let rrf = Fusion::Rrf { k: RRF_K };
    let hits = index
        .search(&SearchQuery {
            text: "heron",
            embedding: Some(&q),
            fusion: rrf,
            ..Default::default()
        })
        .unwrap();
    let order: Vec<&str> = hits.iter().map(|h| h.document_path.as_str()).collect();
    // A: 1/61 + 1/63 = 0.0322664; B: 1/62 + 1/62 = 0.0322581; C: 1/61; D: 1/64.
    assert_eq!(order, ["/h/A.md", "/h/B.md", "/h/C.md", "/h/D.md"]);
    let ranks: Vec<(Option<usize>, Option<usize>)> =
        hits.iter().map(|h| (h.bm25_rank, h.vector_rank)).collect();
    assert_eq!(
        ranks,
        [
            (Some(1), Some(3)),
            (Some(2), Some(2)),
            (None, Some(1)),
            (None, Some(4))
        ]
    );
    let expect = [1.0 / 61.0 + 1.0 / 63.0, 2.0 / 62.0, 1.0 / 61.0, 1.0 / 64.0];
    for (h, e) in hits.iter().zip(expect) {
        assert!(
            (h.fused - e).abs() < 1e-6,
            "{} {} vs {e}",
            h.document_path,
            h.fused
        );
    }
    // Every hit has its cosine similarity, ranked or not.
    assert!(hits.iter().all(|h| h.vector.is_some()));
    // limit applies after fusion
    let two = index
        .search(&SearchQuery {
            text: "heron",
            embedding: Some(&q),
            limit: 2,
            fusion: rrf,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&two), ids(&hits[..2]));
    // Hybrid without an embedding is BM25 alone; with no terms, vectors alone.
    let text_only = index
        .search(&SearchQuery {
            text: "heron",
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        text_only
            .iter()
            .map(|h| h.document_path.as_str())
            .collect::<Vec<_>>(),
        ["/h/A.md", "/h/B.md"]
    );
    let vec_only = index
        .search(&SearchQuery {
            text: "??",
            embedding: Some(&q),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(vec_only[0].document_path, "/h/C.md");
}

#[test]
fn fused_ties_are_broken_by_chunk_id() {
    // X is first for BM25 and second for vectors, Y the reverse: both score 1/61 + 1/62 exactly.
    let order_for = |x_first: bool| {
        let dir = tempfile::tempdir().unwrap();
        let mut index = Index::open(dir.path(), 2).unwrap();
        let x = (
            doc("/x", "x"),
            vec![chunk("", "otter otter otter", 1, vec![0.0, 1.0])],
        );
        let y = (
            doc("/y", "y"),
            vec![chunk("", "an otter", 1, vec![1.0, 0.0])],
        );
        let (a, b) = if x_first { (x, y) } else { (y, x) };
        index.upsert_document(&a.0, a.1).unwrap();
        index.upsert_document(&b.0, b.1).unwrap();
        index.commit().unwrap();
        let q = [1.0f32, 0.0];
        let hits = index
            .search(&SearchQuery {
                text: "otter",
                embedding: Some(&q),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].fused, hits[1].fused);
        assert!(hits[0].chunk_id < hits[1].chunk_id);
        hits.iter()
            .map(|h| h.document_path.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(order_for(true), ["/x", "/y"]);
    assert_eq!(order_for(false), ["/y", "/x"]);
}

#[test]
fn upsert_replaces_the_previous_version_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = small_library(dir.path());
    let old = index.search(&bm25("walrus")).unwrap();
    assert_eq!(old.len(), 1);
    let old_id = old[0].chunk_id;
    let before = index.document_by_path("/lib/a0.md").unwrap().unwrap();

    let new_doc = DocumentInput {
        content_hash: "v2".into(),
        ..doc("/lib/a0.md", "Note 0, revised")
    };
    let id = index
        .upsert_document(
            &new_doc,
            vec![
                chunk("", "Narwhals have a long tusk.", 1, axis(0)),
                chunk("", "They live in the Arctic.", 2, axis(7)),
            ],
        )
        .unwrap();
    assert_eq!(id, before.id, "the document keeps its id");
    // Before commit the old chunk is already gone from every ranking.
    assert!(index.search(&bm25("walrus")).unwrap().is_empty());
    assert!(!ids(&index.search(&dense(&axis(0))).unwrap()).contains(&old_id));
    index.commit().unwrap();
    assert!(index.search(&bm25("walrus")).unwrap().is_empty());
    let narwhal = index.search(&bm25("narwhals")).unwrap();
    assert_eq!(narwhal.len(), 1);
    assert_eq!(narwhal[0].title, "Note 0, revised");
    let near = index.search(&dense(&axis(0))).unwrap();
    assert_eq!(near[0].chunk_id, narwhal[0].chunk_id);
    assert!(!ids(&near).contains(&old_id));

    let info = index.document_by_path("/lib/a0.md").unwrap().unwrap();
    assert_eq!(
        (
            info.chunk_count,
            info.content_hash.as_str(),
            info.title.as_str()
        ),
        (2, "v2", "Note 0, revised")
    );
    let stats = index.stats().unwrap();
    assert_eq!(
        (stats.documents, stats.chunks, stats.text_chunks),
        (6, 7, 7)
    );
    assert_eq!((stats.vector_points, stats.vector_tombstones), (8, 1));
}

#[test]
fn new_chunks_reach_bm25_at_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = small_library(dir.path());
    let mut v = axis(5);
    v[0] = 0.5;
    index
        .upsert_document(
            &doc("/lib/new.md", "New"),
            vec![chunk("", "Capybaras are large rodents.", 1, v.clone())],
        )
        .unwrap();
    assert!(
        index.search(&bm25("capybaras")).unwrap().is_empty(),
        "documented: BM25 sees additions at commit"
    );
    assert_eq!(
        index.search(&dense(&v)).unwrap()[0].document_path,
        "/lib/new.md"
    );
    index.commit().unwrap();
    assert_eq!(index.search(&bm25("capybaras")).unwrap().len(), 1);
}

#[test]
fn remove_document_removes_it_from_all_stores() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = small_library(dir.path());
    assert!(index.remove_document("/lib/a3.md").unwrap());
    assert!(!index.remove_document("/lib/a3.md").unwrap());
    assert!(!index.remove_document("/lib/never.md").unwrap());
    assert!(index.document_by_path("/lib/a3.md").unwrap().is_none());
    assert!(index.search(&bm25("rust programming")).unwrap().is_empty());
    assert!(index
        .search(&dense(&axis(3)))
        .unwrap()
        .iter()
        .all(|h| h.document_path != "/lib/a3.md"));
    index.commit().unwrap();
    assert!(index.search(&bm25("rust programming")).unwrap().is_empty());
    let docs = index.documents().unwrap();
    assert_eq!(
        docs.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(),
        [
            "/lib/a0.md",
            "/lib/a1.md",
            "/lib/a2.md",
            "/lib/a4.md",
            "/lib/a5.md"
        ]
    );
    let stats = index.stats().unwrap();
    assert_eq!(
        (stats.documents, stats.chunks, stats.text_chunks),
        (5, 5, 5)
    );
}

#[test]
fn documents_without_chunks_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::open(dir.path(), DIM).unwrap();
    index
        .upsert_document(&doc("/empty.txt", "Empty"), Vec::new())
        .unwrap();
    index.commit().unwrap();
    let info = index.document_by_path("/empty.txt").unwrap().unwrap();
    assert_eq!(info.chunk_count, 0);
    assert_eq!(info.content_hash, "hash-of-/empty.txt");
    assert!(info.indexed_at > 1_600_000_000);
    assert!(index.search(&dense(&axis(0))).unwrap().is_empty());
    drop(index);
    let index = Index::open(dir.path(), DIM).unwrap();
    assert_eq!(index.stats().unwrap().documents, 1);
    assert_eq!(index.open_report().vectors, Repair::Loaded);
}

/// (chunk id, snippet, BM25 rank, vector rank, fused score bits) of each hit of four queries.
type Snapshot = Vec<Vec<(u64, String, Option<usize>, Option<usize>, u32)>>;

fn snapshot(index: &Index) -> Snapshot {
    let queries: [(&str, Vec<f32>); 4] = [
        ("arctic walrus", axis(0)),
        ("zanzibarite mineral", axis(4)),
        ("bread", axis(5)),
        ("flightless birds", axis(2)),
    ];
    queries
        .iter()
        .map(|(t, e)| {
            index
                .search(&SearchQuery {
                    text: t,
                    embedding: Some(e),
                    ..Default::default()
                })
                .unwrap()
                .into_iter()
                .map(|h| {
                    (
                        h.chunk_id,
                        h.snippet,
                        h.bm25_rank,
                        h.vector_rank,
                        h.fused.to_bits(),
                    )
                })
                .collect()
        })
        .collect()
}

#[test]
fn reopening_gives_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let index = small_library(dir.path());
    let before = snapshot(&index);
    let stats = index.stats().unwrap();
    drop(index);
    let index = Index::open(dir.path(), DIM).unwrap();
    assert_eq!(index.open_report().text, Repair::Loaded);
    assert_eq!(index.open_report().vectors, Repair::Loaded);
    assert_eq!(snapshot(&index), before);
    assert_eq!(index.stats().unwrap(), stats);
    // and a document added after reopening gets a fresh chunk id
    drop(index);
    let mut index = Index::open(dir.path(), DIM).unwrap();
    index
        .upsert_document(&doc("/lib/z.md", "Z"), vec![chunk("", "zebra", 1, axis(6))])
        .unwrap();
    index.commit().unwrap();
    let z = index.search(&bm25("zebra")).unwrap();
    assert!(before.iter().flatten().all(|(id, ..)| *id != z[0].chunk_id));
    // A graph that was loaded, grown and dumped again loads again.
    drop(index);
    let index = Index::open(dir.path(), DIM).unwrap();
    assert_eq!(index.open_report().vectors, Repair::Loaded);
    assert_eq!(
        index.search(&dense(&axis(6))).unwrap()[0].chunk_id,
        z[0].chunk_id
    );
    assert_eq!(index.stats().unwrap().vector_points, 7);
    // Only the newest dump is kept.
    assert_eq!(vector_files(dir.path()).len(), 2);
}

#[test]
fn a_second_index_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path(), DIM).unwrap();
    let err = Index::open(dir.path(), DIM)
        .err()
        .expect("second open must fail");
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
    drop(index);
    Index::open(dir.path(), DIM).unwrap();
}

fn vector_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir.join("vectors"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".hnsw."))
        .collect();
    v.sort();
    v
}

#[test]
fn a_deleted_vector_dump_is_rebuilt_from_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let before = snapshot(&small_library(dir.path()));
    fs::remove_dir_all(dir.path().join("vectors")).unwrap();
    let index = Index::open(dir.path(), DIM).unwrap();
    assert!(
        matches!(
            index.open_report().vectors,
            Repair::Rebuilt { chunks: 6, .. }
        ),
        "{:?}",
        index.open_report()
    );
    assert_eq!(index.open_report().text, Repair::Loaded);
    assert_eq!(snapshot(&index), before);
    drop(index);
    // the rebuilt dump was written: the next open just loads it
    let index = Index::open(dir.path(), DIM).unwrap();
    assert_eq!(index.open_report().vectors, Repair::Loaded);
}

#[test]
fn a_corrupted_vector_dump_is_rebuilt_from_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let before = snapshot(&small_library(dir.path()));
    let files = vector_files(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    // Flip one byte in the middle of each file (data, graph): a checksum mismatch, no panic.
    for f in &files {
        let mut bytes = fs::read(f).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x5a;
        fs::write(f, bytes).unwrap();
    }
    let index = Index::open(dir.path(), DIM).unwrap();
    match &index.open_report().vectors {
        Repair::Rebuilt { reason, chunks } => {
            assert_eq!(*chunks, 6);
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(&index), before);
    drop(index);

    // Truncated graph file.
    let graph = vector_files(dir.path())
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".hnsw.graph"))
        .unwrap();
    let bytes = fs::read(&graph).unwrap();
    fs::write(&graph, &bytes[..bytes.len() / 3]).unwrap();
    let index = Index::open(dir.path(), DIM).unwrap();
    assert!(matches!(
        index.open_report().vectors,
        Repair::Rebuilt { .. }
    ));
    assert_eq!(snapshot(&index), before);
    drop(index);

    // A damaged manifest.
    fs::write(dir.path().join("vectors/manifest.json"), b"{ not json").unwrap();
    let index = Index::open(dir.path(), DIM).unwrap();
    assert!(matches!(
        index.open_report().vectors,
        Repair::Rebuilt { .. }
    ));
    assert_eq!(snapshot(&index), before);
}

#[test]
fn a_stale_index_catches_up_with_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = small_library(dir.path());
    // Catalog changes that never reach commit (a crash, or a forgotten commit).
    index
        .upsert_document(
            &doc("/lib/late.md", "Late"),
            vec![chunk("", "Axolotls regrow limbs.", 1, axis(6))],
        )
        .unwrap();
    index.remove_document("/lib/a5.md").unwrap();
    drop(index);
    let index = Index::open(dir.path(), DIM).unwrap();
    assert_eq!(
        index.open_report().vectors,
        Repair::Repaired {
            from: Some(6),
            added: 1,
            removed: 1
        }
    );
    assert_eq!(
        index.open_report().text,
        Repair::Repaired {
            from: Some(6),
            added: 1,
            removed: 1
        }
    );
    assert_eq!(
        index.search(&bm25("axolotls")).unwrap()[0].document_path,
        "/lib/late.md"
    );
    assert!(index.search(&bm25("sourdough")).unwrap().is_empty());
    let mut v = axis(6);
    v[7] = 0.0;
    assert_eq!(
        index.search(&dense(&v)).unwrap()[0].document_path,
        "/lib/late.md"
    );
    assert!(index
        .search(&dense(&axis(5)))
        .unwrap()
        .iter()
        .all(|h| h.document_path != "/lib/a5.md"));
    let stats = index.stats().unwrap();
    assert_eq!(
        (
            stats.chunks,
            stats.text_chunks,
            stats.vector_points - stats.vector_tombstones
        ),
        (6, 6, 6)
    );
}

#[test]
fn a_damaged_or_missing_text_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let before = snapshot(&small_library(dir.path()));
    // Damage every segment file.
    for entry in fs::read_dir(dir.path().join("text")).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") && !name.starts_with('.') {
            let mut bytes = fs::read(&p).unwrap();
            if bytes.is_empty() {
                continue;
            }
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
            fs::write(&p, bytes).unwrap();
        }
    }
    let index = Index::open(dir.path(), DIM).unwrap();
    assert!(
        matches!(index.open_report().text, Repair::Rebuilt { chunks: 6, .. }),
        "{:?}",
        index.open_report()
    );
    assert_eq!(snapshot(&index), before);
    drop(index);

    fs::remove_dir_all(dir.path().join("text")).unwrap();
    let index = Index::open(dir.path(), DIM).unwrap();
    assert!(matches!(
        index.open_report().text,
        Repair::Rebuilt { chunks: 6, .. }
    ));
    assert_eq!(snapshot(&index), before);
    drop(index);

    fs::write(dir.path().join("text/meta.json"), b"garbage").unwrap();
    let index = Index::open(dir.path(), DIM).unwrap();
    assert!(matches!(index.open_report().text, Repair::Rebuilt { .. }));
    assert_eq!(snapshot(&index), before);
}

#[test]
fn derived_indexes_of_another_catalog_are_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    drop(small_library(dir.path()));
    // A new, empty catalog under old derived indexes: chunk ids would start at 1 again.
    for f in ["catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"] {
        let _ = fs::remove_file(dir.path().join(f));
    }
    let mut index = Index::open(dir.path(), DIM).unwrap();
    assert!(
        matches!(index.open_report().text, Repair::Rebuilt { chunks: 0, .. }),
        "{:?}",
        index.open_report()
    );
    assert!(matches!(
        index.open_report().vectors,
        Repair::Rebuilt { chunks: 0, .. }
    ));
    assert!(index.search(&bm25("walrus")).unwrap().is_empty());
    index
        .upsert_document(
            &doc("/n.md", "N"),
            vec![chunk("", "fresh start", 1, axis(0))],
        )
        .unwrap();
    index.commit().unwrap();
    let hits = index
        .search(&SearchQuery {
            text: "walrus fresh",
            embedding: Some(&axis(0)),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].document_path, "/n.md");
}

#[test]
fn a_different_dimension_is_an_error_naming_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    drop(Index::open(dir.path(), DIM).unwrap());
    let err = Index::open(dir.path(), 384)
        .err()
        .expect("dim mismatch must fail");
    assert!(
        matches!(
            err,
            Error::DimensionMismatch {
                stored: DIM,
                requested: 384,
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.path().display().to_string()) && msg.contains("8") && msg.contains("384"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
    // The index is untouched.
    assert!(Index::open(dir.path(), DIM).is_ok());
}

#[test]
fn a_damaged_catalog_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    drop(small_library(dir.path()));
    let catalog = dir.path().join("catalog.sqlite");
    let _ = fs::remove_file(dir.path().join("catalog.sqlite-wal"));
    fs::write(&catalog, vec![0x42u8; 8192]).unwrap();
    let err = Index::open(dir.path(), DIM)
        .err()
        .expect("damaged catalog must fail");
    assert!(matches!(err, Error::Damaged { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&catalog.display().to_string()),
        "{err}"
    );
}

#[test]
fn bad_input_is_refused_without_changing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = small_library(dir.path());
    let e = index.upsert_document(
        &doc("/lib/a0.md", "x"),
        vec![
            chunk("", "ok", 1, axis(0)),
            chunk("", "short", 1, vec![1.0; 3]),
        ],
    );
    let msg = e.unwrap_err().to_string();
    assert!(
        msg.contains("chunks[1].embedding") && msg.contains("expected 8"),
        "{msg}"
    );
    let e = index.upsert_document(
        &doc("/lib/a0.md", "x"),
        vec![chunk("", "nan", 1, vec![f32::NAN; DIM])],
    );
    assert!(e.unwrap_err().to_string().contains("chunks[0].embedding"));
    let e = index.upsert_document(
        &doc("/lib/a0.md", "x"),
        vec![chunk("", "zero", 1, vec![0.0; DIM])],
    );
    assert!(e.unwrap_err().to_string().contains("chunks[0].embedding"));
    let e = index.upsert_document(&doc("  ", "x"), vec![]);
    assert!(e.unwrap_err().to_string().contains("DocumentInput.path"));
    // a0 is unchanged
    assert_eq!(index.search(&bm25("walrus")).unwrap().len(), 1);
    assert_eq!(index.stats().unwrap().chunks, 6);

    let e = index.search(&SearchQuery {
        mode: SearchMode::Dense,
        text: "walrus",
        ..Default::default()
    });
    assert!(e.unwrap_err().to_string().contains("SearchQuery.embedding"));
    let short = [1.0f32; 3];
    let e = index.search(&SearchQuery {
        embedding: Some(&short),
        ..Default::default()
    });
    assert!(e.unwrap_err().to_string().contains("SearchQuery.embedding"));
    assert!(Index::open(&dir.path().join("other"), 0).is_err());
    assert!(index
        .search(&SearchQuery {
            text: "walrus",
            limit: 0,
            ..Default::default()
        })
        .unwrap()
        .is_empty());
}

#[test]
fn many_removed_chunks_are_compacted_at_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::open(dir.path(), DIM).unwrap();
    let mut rng = fastrand::Rng::with_seed(11);
    let big: Vec<ChunkInput> = (0..1100)
        .map(|i| {
            chunk(
                "",
                &format!("chunk number {i}"),
                i + 1,
                random_vector(&mut rng, DIM),
            )
        })
        .collect();
    index.upsert_document(&doc("/big.txt", "Big"), big).unwrap();
    index.commit().unwrap();
    let small: Vec<ChunkInput> = (0..10)
        .map(|i| {
            chunk(
                "",
                &format!("piece {i}"),
                i + 1,
                random_vector(&mut rng, DIM),
            )
        })
        .collect();
    let keep = small[3].embedding.clone();
    index
        .upsert_document(&doc("/big.txt", "Big"), small)
        .unwrap();
    let s = index.stats().unwrap();
    assert_eq!((s.vector_points, s.vector_tombstones), (1110, 1100));
    // Searching through 1100 tombstones still returns the 10 live chunks, nearest first.
    let hits = index
        .search(&SearchQuery {
            embedding: Some(&keep),
            mode: SearchMode::Dense,
            limit: 20,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(hits.len(), 10);
    assert!(hits[0].text == "piece 3");
    index.commit().unwrap();
    let s = index.stats().unwrap();
    assert_eq!(
        (s.vector_points, s.vector_tombstones, s.chunks),
        (10, 0, 10)
    );
    drop(index);
    let index = Index::open(dir.path(), DIM).unwrap();
    assert_eq!(index.open_report().vectors, Repair::Loaded);
    assert_eq!(index.search(&dense(&keep)).unwrap()[0].text, "piece 3");
}

#[test]
fn dense_recall_at_10_through_the_index_matches_exact_search() {
    let dim = 32;
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::open(dir.path(), dim).unwrap();
    let mut rng = fastrand::Rng::with_seed(2024);
    let vectors: Vec<Vec<f32>> = (0..2500).map(|_| random_vector(&mut rng, dim)).collect();
    let chunks: Vec<ChunkInput> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| chunk("", &format!("c{i}"), i + 1, v.clone()))
        .collect();
    index
        .upsert_document(&doc("/random.txt", "Random"), chunks)
        .unwrap();
    let texts: Vec<String> = (0..2500).map(|i| format!("c{i}")).collect();
    let cos = |a: &[f32], b: &[f32]| {
        let d: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        d / (a.iter().map(|x| x * x).sum::<f32>().sqrt()
            * b.iter().map(|x| x * x).sum::<f32>().sqrt())
    };
    let queries = 60;
    let mut found = 0;
    for _ in 0..queries {
        let q = random_vector(&mut rng, dim);
        let mut exact: Vec<(usize, f32)> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (i, cos(&q, v)))
            .collect();
        exact.sort_by(|a, b| b.1.total_cmp(&a.1));
        let truth: HashSet<&str> = exact[..10]
            .iter()
            .map(|(i, _)| texts[*i].as_str())
            .collect();
        let hits = index
            .search(&SearchQuery {
                embedding: Some(&q),
                mode: SearchMode::Dense,
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(hits.len(), 10);
        found += hits
            .iter()
            .filter(|h| truth.contains(h.text.as_str()))
            .count();
        // reported similarity is the true cosine
        let top = &hits[0];
        let i: usize = top.text[1..].parse().unwrap();
        assert!((top.vector.unwrap() - cos(&q, &vectors[i])).abs() < 1e-4);
    }
    let recall = found as f64 / (queries * 10) as f64;
    assert!(recall >= 0.95, "recall@10 = {recall}");
}

#[test]
fn korean_questions_find_their_passages() {
    // Korean attaches particles to nouns (주제로, 주제도, 토큰으로): words alone would rarely match.
    let text = "# 대형 언어 모델 노트\n\n\
## 용어\n\n\
MMLU(Massive Multitask Language Understanding)는 57개의 주제도 된 약 1만 6천 개의 객관식 문제 모음이다.\n\
GQA는 추론 속도를 높이기 위한 어텐션 방식이다.\n\
토큰은 모델이 읽는 텍스트의 최소 단위이다.\n\n\
## Llama 3.1\n\n\
Llama 3.1은 공개적으로 이용 가능한 자료로부터 약 15조 개의 토큰 데이터로 사전 훈련되었다.\n\
사전 훈련 데이터는 2023년 12월 기준이다.\n\n\
## 학습 방법\n\n\
지도 미세 조정(SFT)과 인간 피드백 강화 학습(RLHF)으로 사람의 선호에 맞춘다.\n";
    let drafts = chunk_text(
        &SourceText {
            title: "LLM 노트",
            text,
            kind: TextKind::Markdown,
        },
        &ChunkingOptions {
            max_tokens: 60,
            overlap_tokens: 10,
        },
        &WordCounter,
    );
    assert_eq!(drafts.len(), 3, "{drafts:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::open(dir.path(), DIM).unwrap();
    let chunks = drafts
        .into_iter()
        .enumerate()
        .map(|(i, draft)| ChunkInput {
            draft,
            embedding: axis(i),
        })
        .collect();
    index
        .upsert_document(&doc("/notes/llm-ko.md", "LLM 노트"), chunks)
        .unwrap();
    // Some English noise that shares no Korean.
    for (i, fact) in FACTS.iter().enumerate() {
        index
            .upsert_document(
                &doc(&format!("/lib/a{i}.md"), "Note"),
                vec![chunk("", fact, 1, axis(i))],
            )
            .unwrap();
    }
    index.commit().unwrap();

    let hits = index
        .search(&bm25("MMLU는 몇 개의 주제로 되어 있나?"))
        .unwrap();
    assert_eq!(hits[0].heading, "대형 언어 모델 노트 > 용어", "{hits:?}");
    assert!(hits[0].text.contains("57개의 주제도"));
    assert!(
        hits[0].snippet.contains("<b>MMLU</b>") && hits[0].snippet.contains("<b>주제</b>"),
        "{}",
        hits[0].snippet
    );

    let hits = index
        .search(&bm25("Llama 3.1은 몇 개의 토큰으로 사전 학습되었나?"))
        .unwrap();
    assert_eq!(
        hits[0].heading, "대형 언어 모델 노트 > Llama 3.1",
        "{hits:?}"
    );
    assert!(hits[0].text.contains("15조"));
}

/// A Japanese note (written for this test): no spaces, particles attached to nouns.
const JAPANESE: &str = "# 霧ヶ峰天文台の案内\n\n\
## 歴史\n\n\
霧ヶ峰天文台は一九六二年に地元の教師たちによって建てられた。最初の観測は彗星の記録だった。\n\n\
## 望遠鏡\n\n\
主鏡の口径は一・二メートルで、ドームは冬の間も毎晩開かれる。観測室には暖房がない。\n\n\
## 見学\n\n\
見学は毎月第二土曜日に行われ、予約は電話でのみ受け付けている。\n";

/// A Chinese note (written for this test): no spaces between words.
const CHINESE: &str = "# 青石镇图书馆简介\n\n\
## 建馆\n\n\
青石镇图书馆建于一九八七年，最初设在一座旧粮仓里。\n\n\
## 馆藏\n\n\
图书馆现有藏书约四万册，其中地方志和手抄本最为珍贵。\n\n\
## 开放时间\n\n\
周一闭馆，其余每天上午九点到晚上八点开放，借书证免费办理。\n";

#[test]
fn korean_japanese_and_chinese_questions_find_their_documents() {
    // The real Korean lecture notes of ../shared/data/seed-ko, beside a Japanese and a Chinese note and
    // English noise: each question, phrased unlike its passage, must rank its own document first and
    // the passage holding the answer among the first three.
    let seed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/seed-ko/llm-era-lecture-notes-ko.txt");
    let korean = fs::read_to_string(&seed).unwrap_or_else(|e| panic!("{}: {e}", seed.display()));
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::open(dir.path(), DIM).unwrap();
    let documents = [
        (
            "/notes/llm-era-lecture-notes-ko.txt",
            "대언어모델 시대",
            korean.as_str(),
            TextKind::Plain,
        ),
        (
            "/notes/kirigamine.md",
            "霧ヶ峰天文台の案内",
            JAPANESE,
            TextKind::Markdown,
        ),
        (
            "/notes/qingshi.md",
            "青石镇图书馆简介",
            CHINESE,
            TextKind::Markdown,
        ),
    ];
    for (path, title, text, kind) in documents {
        let drafts = chunk_text(
            &SourceText { title, text, kind },
            &ChunkingOptions {
                max_tokens: 60,
                overlap_tokens: 10,
            },
            &WordCounter,
        );
        assert!(drafts.len() >= 3, "{path}: {} chunks", drafts.len());
        let chunks = drafts
            .into_iter()
            .enumerate()
            .map(|(i, draft)| ChunkInput {
                draft,
                embedding: axis(i),
            })
            .collect();
        index.upsert_document(&doc(path, title), chunks).unwrap();
    }
    for (i, fact) in FACTS.iter().enumerate() {
        index
            .upsert_document(
                &doc(&format!("/lib/a{i}.md"), "Note"),
                vec![chunk("", fact, 1, axis(i))],
            )
            .unwrap();
    }
    index.commit().unwrap();

    let cases = [
        // The two questions ../shared/data/seed-ko/SOURCE.md names.
        (
            "MMLU는 몇 개의 주제로 되어 있나?",
            "/notes/llm-era-lecture-notes-ko.txt",
            "57",
        ),
        (
            "Llama 3.1은 몇 개의 토큰으로 사전 학습되었나?",
            "/notes/llm-era-lecture-notes-ko.txt",
            "15조",
        ),
        (
            "霧ヶ峰天文台の主鏡の口径はどれくらいですか？",
            "/notes/kirigamine.md",
            "一・二メートル",
        ),
        (
            "天文台の見学はいつできますか？",
            "/notes/kirigamine.md",
            "第二土曜日",
        ),
        ("青石镇图书馆有多少藏书？", "/notes/qingshi.md", "四万册"),
        ("图书馆是哪一年建的？", "/notes/qingshi.md", "一九八七年"),
    ];
    for (question, path, answer) in cases {
        let hits = index.search(&bm25(question)).unwrap();
        let top = hits.first().unwrap_or_else(|| panic!("{question}: no hit"));
        assert_eq!(top.document_path, path, "{question}: {hits:?}");
        // The answer's passage must be among the first three, inside the four passages a prompt gets
        // by default. (In the Korean notes, "Llama 3.1 … 사전 학습" also opens the model card's
        // introduction, which BM25 ranks a hair above the "15조" passage.)
        let rank = hits
            .iter()
            .position(|h| h.document_path == path && h.text.contains(answer));
        assert!(
            rank.is_some_and(|r| r < 3),
            "{question}: the passage with {answer} is at {rank:?}: {hits:?}"
        );
    }
}

#[test]
fn chunk_location_is_stored_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut index = Index::open(dir.path(), DIM).unwrap();
        let mut c = chunk("", "The invoice total is on the second page.", 40, axis(0));
        c.draft.location = "page:2".into();
        index
            .upsert_document(&doc("/d/report.pdf", "Report"), vec![c])
            .unwrap();
        index.commit().unwrap();
    }
    let index = Index::open(dir.path(), DIM).unwrap();
    let hits = index.search(&bm25("invoice total")).unwrap();
    assert_eq!(hits[0].location, "page:2");
    assert_eq!((hits[0].line_start, hits[0].line_end), (40, 41));
}

#[test]
fn a_catalog_without_the_location_column_gets_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut index = Index::open(dir.path(), DIM).unwrap();
        index
            .upsert_document(
                &doc("/d/a.md", "A"),
                vec![chunk("", "Walruses live in the Arctic.", 1, axis(1))],
            )
            .unwrap();
        index.commit().unwrap();
    }
    {
        // As an older build left it: the same table without `location`.
        let conn = rusqlite::Connection::open(dir.path().join("catalog.sqlite")).unwrap();
        conn.execute_batch(
            "CREATE TABLE c2 AS SELECT id, document_id, ordinal, heading, text, line_start, line_end, embedding FROM chunks;
             DROP TABLE chunks; ALTER TABLE c2 RENAME TO chunks;",
        )
        .unwrap();
    }
    let index = Index::open(dir.path(), DIM).unwrap();
    let hits = index.search(&bm25("walruses")).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].location, "");
}

/// Copies of the catalog's files (`catalog.sqlite` and any WAL), to put back later.
fn catalog_files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("catalog.sqlite")
        })
        .map(|p| {
            let bytes = fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

#[test]
fn every_change_advances_the_generation_and_commit_stamps_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = small_library(dir.path());
    let g = index.generations().unwrap();
    assert_eq!((g.catalog, g.text, g.vectors), (6, Some(6), Some(6)));
    assert!(!index.remove_document("/lib/none.md").unwrap());
    index
        .upsert_document(
            &doc("/lib/a0.md", "Note 0"),
            vec![chunk("", "Walruses again.", 1, axis(0))],
        )
        .unwrap();
    assert!(index.remove_document("/lib/a1.md").unwrap());
    // Durable in the catalog at once; the derived indexes are stamped at commit.
    assert_eq!(
        index.generations().unwrap(),
        almanac_indexes::Generations {
            catalog: 8,
            text: Some(6),
            vectors: Some(6)
        }
    );
    index.commit().unwrap();
    assert_eq!(
        index.generations().unwrap(),
        almanac_indexes::Generations {
            catalog: 8,
            text: Some(8),
            vectors: Some(8)
        }
    );
    // A commit that only removed points rewrites the manifest alone, tombstones listed in it.
    let files = vector_files(dir.path());
    assert!(index.remove_document("/lib/a2.md").unwrap());
    index.commit().unwrap();
    assert_eq!(vector_files(dir.path()), files);
    drop(index);
    let index = Index::open(dir.path(), DIM).unwrap();
    assert_eq!(
        (&index.open_report().text, &index.open_report().vectors),
        (&Repair::Loaded, &Repair::Loaded)
    );
    assert_eq!(index.open_report().generation, 9);
    let stats = index.stats().unwrap();
    assert_eq!(
        (stats.vector_points, stats.vector_tombstones, stats.chunks),
        (7, 3, 4)
    );
    assert!(index
        .search(&dense(&axis(2)))
        .unwrap()
        .iter()
        .all(|h| h.document_path != "/lib/a2.md"));
    let sets = index.chunk_id_sets().unwrap();
    assert_eq!((&sets.catalog, &sets.catalog), (&sets.text, &sets.vectors));
}

#[test]
fn derived_indexes_ahead_of_the_catalog_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    drop(small_library(dir.path()));
    let saved = catalog_files(dir.path());
    let mut index = Index::open(dir.path(), DIM).unwrap();
    index
        .upsert_document(
            &doc("/lib/late.md", "Late"),
            vec![chunk("", "Axolotls regrow limbs.", 1, axis(6))],
        )
        .unwrap();
    index.remove_document("/lib/a0.md").unwrap();
    index.commit().unwrap();
    drop(index);
    // The catalog loses its last two changes (restored from a copy); the derived indexes hold them.
    for (path, _) in catalog_files(dir.path()) {
        fs::remove_file(path).unwrap();
    }
    for (path, bytes) in &saved {
        fs::write(path, bytes).unwrap();
    }
    let index = Index::open(dir.path(), DIM).unwrap();
    let report = index.open_report();
    assert_eq!(report.generation, 6);
    for repair in [&report.text, &report.vectors] {
        match repair {
            Repair::Rebuilt { reason, chunks: 6 } => {
                assert!(reason.contains("ahead of the catalog"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
    let g = index.generations().unwrap();
    assert_eq!((g.text, g.vectors), (Some(6), Some(6)));
    let sets = index.chunk_id_sets().unwrap();
    assert_eq!((&sets.catalog, &sets.catalog), (&sets.text, &sets.vectors));
    assert!(index.search(&bm25("axolotls")).unwrap().is_empty());
    assert_eq!(
        index.search(&bm25("walrus")).unwrap()[0].document_path,
        "/lib/a0.md"
    );
}

#[test]
fn the_stamp_decides_between_trust_and_diff() {
    let dir = tempfile::tempdir().unwrap();
    drop(small_library(dir.path()));
    let catalog = || rusqlite::Connection::open(dir.path().join("catalog.sqlite")).unwrap();
    // Behind the library's back (never do this: only `Index` may change the catalog), one chunk is
    // swapped for another without advancing the generation.
    {
        let conn = catalog();
        let blob: Vec<u8> = axis(6).iter().flat_map(|x| x.to_le_bytes()).collect();
        conn.execute(
            "INSERT INTO chunks(document_id, ordinal, heading, text, line_start, line_end, embedding)
             SELECT document_id, 1, '', 'Axolotls regrow limbs.', 5, 5, ?1 FROM chunks WHERE text LIKE 'Sourdough%'",
            [blob],
        )
        .unwrap();
        conn.execute("DELETE FROM chunks WHERE text LIKE 'Sourdough%'", [])
            .unwrap();
    }
    // Same generation, same count: both derived indexes are trusted as stored, so no chunk-id diff
    // notices the swap.
    let index = Index::open(dir.path(), DIM).unwrap();
    assert_eq!(
        (&index.open_report().text, &index.open_report().vectors),
        (&Repair::Loaded, &Repair::Loaded)
    );
    let sets = index.chunk_id_sets().unwrap();
    assert_ne!(sets.catalog, sets.text);
    assert_ne!(sets.catalog, sets.vectors);
    drop(index);
    // The generation advanced (as every change through `Index` does): the stamps are behind, the
    // diff runs and brings both in line.
    catalog()
        .execute(
            "UPDATE meta SET value = value + 1 WHERE key = 'generation'",
            [],
        )
        .unwrap();
    let index = Index::open(dir.path(), DIM).unwrap();
    let repaired = Repair::Repaired {
        from: Some(6),
        added: 1,
        removed: 1,
    };
    assert_eq!(
        (&index.open_report().text, &index.open_report().vectors),
        (&repaired, &repaired)
    );
    let sets = index.chunk_id_sets().unwrap();
    assert_eq!((&sets.catalog, &sets.catalog), (&sets.text, &sets.vectors));
    assert_eq!(
        index.search(&bm25("axolotls")).unwrap()[0].text,
        "Axolotls regrow limbs."
    );
    drop(index);
    // A chunk count that disagrees with a current stamp is diffed too (a cheap check).
    catalog()
        .execute("DELETE FROM chunks WHERE text LIKE 'Axolotls%'", [])
        .unwrap();
    let index = Index::open(dir.path(), DIM).unwrap();
    let repaired = Repair::Repaired {
        from: Some(7),
        added: 0,
        removed: 1,
    };
    assert_eq!(
        (&index.open_report().text, &index.open_report().vectors),
        (&repaired, &repaired)
    );
    assert!(index.search(&bm25("axolotls")).unwrap().is_empty());
}

#[test]
fn a_vector_dump_without_a_stamp_is_diffed_once_and_stamped() {
    let dir = tempfile::tempdir().unwrap();
    drop(small_library(dir.path()));
    // As a build before generations wrote it.
    let manifest = dir.path().join("vectors/manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&fs::read(&manifest).unwrap()).unwrap();
    let fields = m.as_object_mut().unwrap();
    assert!(fields.remove("catalog_generation").is_some() && fields.remove("tombstones").is_some());
    fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();
    let index = Index::open(dir.path(), DIM).unwrap();
    assert_eq!(index.open_report().text, Repair::Loaded);
    assert_eq!(
        index.open_report().vectors,
        Repair::Repaired {
            from: None,
            added: 0,
            removed: 0
        }
    );
    assert_eq!(index.generations().unwrap().vectors, Some(6));
    drop(index);
    let index = Index::open(dir.path(), DIM).unwrap();
    assert_eq!(index.open_report().vectors, Repair::Loaded);
}

#[test]
fn a_text_commit_cut_short_after_writing_its_deletions_reopens() {
    let dir = tempfile::tempdir().unwrap();
    drop(small_library(dir.path()));
    let meta = dir.path().join("text/meta.json");
    let before = fs::read(&meta).unwrap();
    let mut index = Index::open(dir.path(), DIM).unwrap();
    assert!(index.remove_document("/lib/a3.md").unwrap());
    index.commit().unwrap();
    drop(index);
    // As if tantivy had written the deletion file and died before replacing meta.json: the repair
    // on open deletes the same chunk at the same opstamp, so it wants the same file name.
    fs::write(&meta, before).unwrap();
    let index = Index::open(dir.path(), DIM).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        index.open_report().text,
        Repair::Repaired {
            from: Some(6),
            added: 0,
            removed: 1
        }
    );
    assert_eq!(index.open_report().vectors, Repair::Loaded);
    let sets = index.chunk_id_sets().unwrap();
    assert_eq!((&sets.catalog, &sets.catalog), (&sets.text, &sets.vectors));
    assert!(index.search(&bm25("rust programming")).unwrap().is_empty());
}

/// Moving a library to another embedding model (here from 8 to 3 dimensions): the old vectors
/// are searched until the switch, progress survives a reopen, chunks stored meanwhile are
/// re-embedded too, and the switch leaves a library that opens at the new dimension with a
/// vector graph of the new vectors; a second change to another model drops the first's work.
#[test]
fn embedder_change_resumes_and_switches_every_vector_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let new_vector = |id: u64| vec![1.0, id as f32, -(id as f32)];
    {
        let mut index = Index::open(dir.path(), DIM).unwrap();
        assert_eq!(index.embedder().unwrap(), None);
        index.record_embedder("old-model").unwrap();
        assert!(
            index.record_embedder("other-model").is_err(),
            "a recorded model is never replaced silently"
        );
        for i in 0..6 {
            index
                .upsert_document(
                    &doc(&format!("/d{i}.md"), &format!("Doc {i}")),
                    vec![chunk("", &format!("text {i}"), 1, axis(i))],
                )
                .unwrap();
        }
        index.commit().unwrap();
        let change = index.begin_embedder_change("new-model", 3).unwrap();
        assert_eq!((change.done, change.total), (0, 6));
        let first: Vec<(u64, Vec<f32>)> = index
            .chunks_to_reembed(4)
            .unwrap()
            .iter()
            .map(|c| (c.id, new_vector(c.id)))
            .collect();
        assert_eq!(first.len(), 4);
        index.store_reembedded(&first).unwrap();
        assert!(
            index
                .store_reembedded(&[(first[0].0, vec![1.0; DIM])])
                .is_err(),
            "new vectors have the new dimension"
        );
        assert!(
            !index.finish_embedder_change().unwrap(),
            "not finished while chunks wait"
        );
        // Until the switch, searches use the old vectors.
        assert_eq!(
            index.search(&dense(&axis(2))).unwrap()[0].document_path,
            "/d2.md"
        );
        // Dropped here without finishing, as a killed process would leave it.
    }
    let mut index = Index::open(dir.path(), DIM).unwrap();
    assert_eq!(index.embedder().unwrap().as_deref(), Some("old-model"));
    let change = index.embedder_change().unwrap().unwrap();
    assert_eq!(
        (change.name.as_str(), change.dim, change.done, change.total),
        ("new-model", 3, 4, 6)
    );
    // Beginning again with the same model keeps the stored vectors; a document stored during the
    // change (with an old-model vector) is waiting too.
    assert_eq!(index.begin_embedder_change("new-model", 3).unwrap().done, 4);
    index
        .upsert_document(
            &doc("/late.md", "Late"),
            vec![chunk("", "late text", 1, axis(7))],
        )
        .unwrap();
    let rest = index.chunks_to_reembed(100).unwrap();
    assert_eq!(rest.len(), 3);
    assert!(rest
        .iter()
        .any(|c| c.title == "Late" && c.text == "late text"));
    let rest: Vec<(u64, Vec<f32>)> = rest.iter().map(|c| (c.id, new_vector(c.id))).collect();
    index.store_reembedded(&rest).unwrap();
    assert!(index.finish_embedder_change().unwrap());
    assert_eq!(index.dim(), 3);
    assert_eq!(index.embedder().unwrap().as_deref(), Some("new-model"));
    assert_eq!(index.embedder_change().unwrap(), None);
    let late_id = rest.iter().map(|(id, _)| *id).max().unwrap();
    assert_eq!(
        index.search(&dense(&new_vector(late_id))).unwrap()[0].document_path,
        "/late.md"
    );
    drop(index);

    // Reopened at the new dimension: the written graph is trusted and holds the new vectors.
    assert!(matches!(
        Index::open(dir.path(), DIM),
        Err(Error::DimensionMismatch { stored: 3, .. })
    ));
    let mut index = Index::open(dir.path(), 3).unwrap();
    assert_eq!(index.open_report().vectors, Repair::Loaded);
    assert_eq!(
        index.search(&dense(&new_vector(late_id))).unwrap()[0].document_path,
        "/late.md"
    );
    let sets = index.chunk_id_sets().unwrap();
    assert_eq!(sets.catalog, sets.vectors);

    // A change to a third model, abandoned for a fourth, starts the fourth from nothing.
    index.begin_embedder_change("third", 3).unwrap();
    let some: Vec<(u64, Vec<f32>)> = index
        .chunks_to_reembed(2)
        .unwrap()
        .iter()
        .map(|c| (c.id, new_vector(c.id)))
        .collect();
    index.store_reembedded(&some).unwrap();
    assert_eq!(index.begin_embedder_change("fourth", 3).unwrap().done, 0);
}
