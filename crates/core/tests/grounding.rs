//! Grounding with the real embedder: attribution on the labelled sentences, and on the made-up
//! facts library a fixed answer's fact sentence attributed to its document's passage, an invented
//! one flagged unsupported, and the evidence quoting the fact with its lines.

use std::path::PathBuf;

use almanac_core::grounding::measure::{self, LabelledSet};
use almanac_core::{Assistant, Grounding, Paths, Thresholds};

fn models_dir() -> PathBuf {
    std::env::var_os("ALMANAC_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".local/share/almanac/models")
        })
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn facts_library(dir: &tempfile::TempDir) -> Assistant {
    let assistant = Assistant::open(Paths {
        data_dir: dir.path().to_path_buf(),
        models_dir: models_dir(),
    })
    .unwrap();
    assistant
        .ingest(&[fixtures().join("facts")], &mut |_| {})
        .unwrap();
    assistant
}

#[test]
fn labelled_sentences_are_attributed_with_the_measured_precision_and_recall() {
    let dir = tempfile::tempdir().unwrap();
    let assistant = Assistant::open(Paths {
        data_dir: dir.path().to_path_buf(),
        models_dir: models_dir(),
    })
    .unwrap();
    let set = LabelledSet::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/attribution.json"),
    )
    .unwrap();
    assert!(set.sentence_count() >= 50);
    let measured = measure::measure(assistant.embedder(), &set).unwrap();
    let scores = measure::score(&measured, &Thresholds::default());
    // The figures docs/BENCHMARKS.md reports, with a little room for other CPUs' rounding.
    assert!(scores.precision >= 0.9, "{scores:?}");
    assert!(scores.recall >= 0.85, "{scores:?}");
    assert!(scores.flagged * 10 >= scores.unsupported * 8, "{scores:?}");
    // The defaults are the best the grid finds (they were tuned on this set, not guessed).
    let (_, best) = measure::tune(&measured);
    assert!(
        best.f1() - scores.f1() < 0.02,
        "tuned {best:?}, defaults {scores:?}"
    );
}

#[test]
fn a_fixed_answer_on_the_made_up_facts_library() {
    let dir = tempfile::tempdir().unwrap();
    let assistant = facts_library(&dir);
    let question = "Who designed the Zorvath Bridge?";
    let retrieval = assistant.retrieve(question).unwrap();
    let bridge = retrieval
        .passages
        .iter()
        .find(|p| p.path.ends_with("zorvath-bridge.md"))
        .expect("the bridge's passage is among the sources");
    let grounding = Grounding::new(
        assistant.embedder(),
        question,
        question,
        &retrieval.passages,
    )
    .unwrap();

    let evidence = grounding.evidence(3);
    let top = &evidence[0];
    assert!(top.text.contains("Ilsabet Quorne"), "{evidence:?}");
    assert_eq!(top.n, bridge.n);
    // The quote's own line, inside its passage: "The bridge was designed by ..." is line 7.
    assert_eq!((top.line_start, top.line_end), (7, 7), "{top:?}");
    assert!(top.location.contains("History"), "{top:?}");
    assert!(top.open.ends_with("zorvath-bridge.md:7"), "{top:?}");

    let answer = "The Zorvath Bridge was designed by the engineer Ilsabet Quorne [1]. \
                  It was later painted purple by pirates who sailed from Mexico in 1850.";
    let attribution = grounding.attribute(assistant.embedder(), answer).unwrap();
    assert_eq!(attribution.sentences.len(), 2, "{attribution:?}");
    let fact = &attribution.sentences[0];
    assert!(fact.supported, "{attribution:?}");
    assert_eq!(fact.sources[0], bridge.n, "{attribution:?}");
    let invented = &attribution.sentences[1];
    assert!(!invented.supported, "{attribution:?}");
    assert!(invented.sources.is_empty());
    assert_eq!(attribution.attributed, vec![bridge.n]);
}
