//! Embedding quality: dense-only retrieval on BEIR SciFact (test split) must reach nDCG@10 within 0.03 of
//! the published all-MiniLM-L6-v2 figure (0.645), through the real embedder and the real vector index.

mod support;

use std::path::Path;

use support::Library;

const PUBLISHED_NDCG_AT_10: f64 = 0.645;

#[test]
fn dense_retrieval_on_scifact_matches_the_published_figure() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/beir-scifact");
    assert!(
        data.join("corpus.jsonl").is_file(),
        "SciFact data missing at {}",
        data.display()
    );
    let library = Library::new();
    let out = library.ok(&[
        "eval",
        "retrieval",
        "--beir",
        data.to_str().unwrap(),
        "--mode",
        "dense",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["documents"], 5183);
    assert_eq!(report["queries"], 300);
    let ndcg = report["scores"]["ndcg_at_10"].as_f64().unwrap();
    eprintln!(
        "SciFact dense nDCG@10 = {ndcg:.4} (published {PUBLISHED_NDCG_AT_10}); report: {report}"
    );
    assert!(
        (ndcg - PUBLISHED_NDCG_AT_10).abs() <= 0.03,
        "nDCG@10 {ndcg:.4} is not within 0.03 of {PUBLISHED_NDCG_AT_10}"
    );
}
