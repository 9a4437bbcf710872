//! Retrieval quality on BEIR SciFact (test split), through the real embedder and the real indexes, all
//! three modes from one ingest (the embedding of 5,183 abstracts is the cost): the targets
//! with default settings are BM25 nDCG@10 >= 0.665 (the published BEIR figure), dense >= 0.62
//! (all-MiniLM-L6-v2 is published at 0.645) and hybrid >= 0.70.

mod support;

use std::path::Path;

use support::Library;

#[test]
fn scifact_bm25_dense_and_hybrid_reach_their_targets() {
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
        "--split",
        "test",
        "--mode",
        "all",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    eprintln!("SciFact test split: {report:#}");
    for (mode, target) in [("bm25", 0.665), ("dense", 0.62), ("hybrid", 0.70)] {
        let r = &report[mode];
        assert_eq!(r["documents"], 5183, "{mode}");
        assert_eq!(r["queries"], 300, "{mode}");
        assert_eq!(r["split"], "test", "{mode}");
        let ndcg = r["scores"]["ndcg_at_10"].as_f64().unwrap();
        assert!(
            ndcg >= target,
            "{mode}: nDCG@10 {ndcg:.4} is below the target {target}"
        );
    }
}
