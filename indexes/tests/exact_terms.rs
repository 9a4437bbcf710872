//! Exact terms win over the embedding: a quoted phrase, a rare identifier, a document's title or its
//! file name named in the question finds that passage first in hybrid search, even though vector
//! search alone ranks it near the bottom. The embeddings are made up so that it does: the passage
//! points away from the question, a dozen distractors point at it and share its words.

use almanac_indexes::{ChunkDraft, ChunkInput, DocumentInput, Hit, Index, SearchMode, SearchQuery};

const DIM: usize = 8;

fn embedding(axis: usize, tilt: f32) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[axis] = 1.0;
    v[(axis + 1) % DIM] = tilt;
    v
}

/// The question's embedding; distractors lie close to it, targets far from it.
fn question() -> Vec<f32> {
    embedding(0, 0.0)
}

fn add(index: &mut Index, path: &str, title: &str, text: &str, embedding: Vec<f32>) {
    let doc = DocumentInput {
        path: path.into(),
        title: title.into(),
        content_hash: path.into(),
        modified: None,
    };
    let draft = ChunkDraft {
        heading: String::new(),
        text: text.into(),
        line_start: 1,
        line_end: 1,
        location: String::new(),
    };
    index
        .upsert_document(&doc, vec![ChunkInput { draft, embedding }])
        .unwrap();
}

const DISTRACTORS: [&str; 12] = [
    "Red wine and red grapes: the wine is red, the vinegar is malt vinegar, not wine.",
    "Vinegar from wine, red or white; red wine is not vinegar until it sours.",
    "The XK-4417 and the ZT-4471 pumps replaced the XK series; model 4471 ran hot.",
    "Pressure valves of the XK range (XK-100, XK-200) and part 4471 of the ZT catalogue.",
    "The harbour lighthouse needs restoration; a plan for the harbour was drafted.",
    "Restoration of the lighthouse lamp, the harbour wall plan and the harbour cranes.",
    "A quarterly report for 2024 is due; the report covers each quarterly meeting.",
    "Report on 2024: quarterly figures, a quarterly summary, a report appendix.",
    "Plan the lighthouse visit: harbour tours, restoration talks, lighthouse museum.",
    "Wine vinegar substitutes: lemon juice or cider; red wine pairings and red vinegar.",
    "Config files: parse them, then config the parser; file parsing for configs.",
    "Summary of plans: the restoration plan, the lighthouse plan, the harbour plan.",
];

fn library() -> (tempfile::TempDir, Index) {
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::open(dir.path(), DIM).unwrap();
    for (i, text) in DISTRACTORS.iter().enumerate() {
        add(
            &mut index,
            &format!("/notes/distractor-{i}.txt"),
            &format!("Note {i}"),
            text,
            embedding(0, 0.05 * i as f32),
        );
    }
    add(
        &mut index,
        "/recipes/pickles.md",
        "Pickles",
        "Grandma's pickles need red wine vinegar and dill.",
        embedding(4, 0.0),
    );
    add(
        &mut index,
        "/parts/valves.md",
        "Valves",
        "The XK-4471 valve regulates boiler pressure.",
        embedding(5, 0.0),
    );
    add(
        &mut index,
        "/plans/p17.md",
        "Harbour Lighthouse Restoration Plan",
        "Budget approved in March; work starts in spring.",
        embedding(6, 0.0),
    );
    add(
        &mut index,
        "/finance/quarterly_report_2024.md",
        "Finance notes",
        "Revenue grew by four percent.",
        embedding(7, 0.0),
    );
    add(
        &mut index,
        "/code/loader.rs",
        "Loader",
        "fn parse_config_file(path) reads the settings.",
        embedding(3, 0.0),
    );
    index.commit().unwrap();
    (dir, index)
}

fn search(index: &Index, text: &str, mode: SearchMode) -> Vec<Hit> {
    let q = question();
    let embedding = (mode != SearchMode::Bm25).then_some(q.as_slice());
    index
        .search(&SearchQuery {
            text,
            embedding,
            mode,
            limit: 20,
            candidates: 50,
            ..Default::default()
        })
        .unwrap()
}

fn rank(hits: &[Hit], path: &str) -> Option<usize> {
    hits.iter()
        .position(|h| h.document_path == path)
        .map(|i| i + 1)
}

/// Vector search alone puts `path` low; hybrid search puts it first, marked exact.
fn assert_found_first(index: &Index, question: &str, path: &str) {
    let dense = search(index, question, SearchMode::Dense);
    let dense_rank = rank(&dense, path).unwrap_or(usize::MAX);
    assert!(
        dense_rank > 10,
        "{question:?}: vector search already ranks {path} {dense_rank}"
    );
    let hybrid = search(index, question, SearchMode::Hybrid);
    let paths: Vec<&str> = hybrid.iter().map(|h| h.document_path.as_str()).collect();
    assert_eq!(
        paths.first(),
        Some(&path),
        "{question:?}: hybrid ranking {paths:?}"
    );
    assert!(hybrid[0].exact, "{question:?}: first hit not marked exact");
    let bm25 = search(index, question, SearchMode::Bm25);
    assert_eq!(rank(&bm25, path), Some(1), "{question:?}: BM25 ranking");
}

#[test]
fn quoted_phrase() {
    let (_dir, index) = library();
    assert_found_first(
        &index,
        r#"Which recipe uses "red wine vinegar"?"#,
        "/recipes/pickles.md",
    );
    // Curly quotes too.
    assert_found_first(
        &index,
        "Which recipe uses \u{201C}red wine vinegar\u{201D}?",
        "/recipes/pickles.md",
    );
    // Unquoted, the words alone do not single it out.
    let hybrid = search(
        &index,
        "Which recipe uses red wine vinegar?",
        SearchMode::Hybrid,
    );
    assert!(!hybrid[0].exact);
}

#[test]
fn identifier() {
    let (_dir, index) = library();
    assert_found_first(&index, "What does the XK-4471 do?", "/parts/valves.md");
    assert_found_first(
        &index,
        "where is parse_config_file defined",
        "/code/loader.rs",
    );
    assert_found_first(
        &index,
        "where is parseConfigFile defined",
        "/code/loader.rs",
    );
}

#[test]
fn title() {
    let (_dir, index) = library();
    assert_found_first(
        &index,
        "When does the harbour lighthouse restoration plan start?",
        "/plans/p17.md",
    );
}

#[test]
fn file_name() {
    let (_dir, index) = library();
    assert_found_first(
        &index,
        "What is in quarterly_report_2024?",
        "/finance/quarterly_report_2024.md",
    );
    assert_found_first(
        &index,
        "What does the quarterly report 2024 say?",
        "/finance/quarterly_report_2024.md",
    );
}
