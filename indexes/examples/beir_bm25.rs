//! BM25 nDCG@10 on a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<SPLIT>.tsv), each document
//! chunked like the app does (200 words, 40 overlap; `MAXT=<words>`, `OVERLAP=<words>` change them),
//! chunks ranked, documents by their best chunk. `SPLIT=train` (default test), `TITLE=<weight>` of
//! title matches (default the app's).
//! `cargo run --release -p almanac-indexes --example beir_bm25 -- ../shared/data/beir-scifact`
use std::collections::{HashMap, HashSet};
use std::path::Path;

use almanac_indexes::{
    chunk_text, ChunkInput, ChunkingOptions, DocumentInput, FieldWeights, Index, SearchMode,
    SearchQuery, SourceText, TextKind, WordCounter,
};

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: beir_bm25 <beir folder>");
    let dir = Path::new(&dir);
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut index = Index::open(tmp.path(), 4).unwrap();
    let mut n = 0u64;
    let t = std::time::Instant::now();
    for line in read("corpus.jsonl").lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let (id, title, text) = (
            v["_id"].as_str().unwrap(),
            v["title"].as_str().unwrap_or(""),
            v["text"].as_str().unwrap_or(""),
        );
        let drafts = chunk_text(
            &SourceText {
                title,
                text,
                kind: TextKind::Plain,
            },
            &ChunkingOptions {
                max_tokens: env("MAXT", 200.0) as usize,
                overlap_tokens: env("OVERLAP", 40.0) as usize,
            },
            &WordCounter,
        );
        let chunks = drafts
            .into_iter()
            .map(|draft| {
                n += 1;
                ChunkInput {
                    draft,
                    embedding: vec![1.0, (n % 7) as f32, (n % 11) as f32, (n % 13) as f32],
                }
            })
            .collect();
        let doc = DocumentInput {
            path: id.into(),
            title: title.into(),
            content_hash: String::new(),
            modified: None,
        };
        index.upsert_document(&doc, chunks).unwrap();
    }
    index.commit().unwrap();
    eprintln!("indexed {n} chunks in {:.1?}", t.elapsed());
    let mut qrels: HashMap<String, HashMap<String, f64>> = HashMap::new();
    let split = std::env::var("SPLIT").unwrap_or_else(|_| "test".into());
    for line in read(&format!("qrels/{split}.tsv")).lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        qrels
            .entry(f[0].into())
            .or_default()
            .insert(f[1].into(), f[2].parse().unwrap());
    }
    let weights = FieldWeights {
        title: env("TITLE", FieldWeights::default().title as f64) as f32,
        ..FieldWeights::default()
    };
    let mut total = 0.0;
    let mut count = 0;
    for line in read("queries.jsonl").lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let Some(rel) = qrels.get(v["_id"].as_str().unwrap()) else {
            continue;
        };
        let hits = index
            .search(&SearchQuery {
                text: v["text"].as_str().unwrap(),
                limit: 100,
                candidates: 100,
                mode: SearchMode::Bm25,
                weights,
                ..Default::default()
            })
            .unwrap();
        let mut seen = HashSet::new();
        let docs: Vec<&str> = hits
            .iter()
            .map(|h| h.document_path.as_str())
            .filter(|p| seen.insert(*p))
            .take(10)
            .collect();
        let dcg: f64 = docs
            .iter()
            .enumerate()
            .map(|(i, d)| rel.get(*d).copied().unwrap_or(0.0) / ((i + 2) as f64).log2())
            .sum();
        let mut ideal: Vec<f64> = rel.values().copied().collect();
        ideal.sort_by(|a, b| b.total_cmp(a));
        let idcg: f64 = ideal
            .iter()
            .take(10)
            .enumerate()
            .map(|(i, r)| r / ((i + 2) as f64).log2())
            .sum();
        total += if idcg > 0.0 { dcg / idcg } else { 0.0 };
        count += 1;
    }
    println!(
        "BM25 nDCG@10 = {:.4} over {count} {split} queries (chunks of {} words, title weight {})",
        total / count as f64,
        env("MAXT", 200.0),
        weights.title
    );
}

fn env(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
