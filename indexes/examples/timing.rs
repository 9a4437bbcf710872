//! Rough timings of the vector and full-text paths: `cargo run --release -p almanac-indexes --example timing -- 5000 384`
use std::time::Instant;

use almanac_indexes::{ChunkDraft, ChunkInput, DocumentInput, Index, SearchMode, SearchQuery};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(5000);
    let dim = args.get(1).copied().unwrap_or(384);
    let per_doc = 50;
    let mut state = 1u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let words = [
        "alpha", "beta", "gamma", "delta", "river", "mountain", "index", "model", "answer",
        "source",
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut index = Index::open(dir.path(), dim).unwrap();
    let t = Instant::now();
    for d in 0..n.div_ceil(per_doc) {
        let chunks: Vec<ChunkInput> = (0..per_doc)
            .map(|i| {
                let text: Vec<&str> = (0..120)
                    .map(|k| words[(d * 7 + i * 3 + k * k) % words.len()])
                    .collect();
                ChunkInput {
                    draft: ChunkDraft {
                        heading: String::new(),
                        text: format!("{} w{d}x{i}", text.join(" ")),
                        line_start: i + 1,
                        line_end: i + 1,
                        location: String::new(),
                    },
                    embedding: (0..dim).map(|_| rnd()).collect(),
                }
            })
            .collect();
        let doc = DocumentInput {
            path: format!("/d/{d}.txt"),
            title: format!("Doc {d}"),
            content_hash: String::new(),
            modified: None,
        };
        index.upsert_document(&doc, chunks).unwrap();
    }
    let upsert = t.elapsed();
    let t = Instant::now();
    index.commit().unwrap();
    let commit = t.elapsed();
    println!(
        "{n} chunks, dim {dim}: upsert {:.2?} ({:.0} chunks/s), commit {:.2?}",
        upsert,
        n as f64 / upsert.as_secs_f64(),
        commit
    );
    drop(index);
    let t = Instant::now();
    let index = Index::open(dir.path(), dim).unwrap();
    println!("reopen {:.2?} {:?}", t.elapsed(), index.open_report());
    let mut lat = Vec::new();
    for q in 0..200 {
        let e: Vec<f32> = (0..dim).map(|_| rnd()).collect();
        let text = format!("river model w{}x3 answer?", q % 50);
        let t = Instant::now();
        let hits = index
            .search(&SearchQuery {
                text: &text,
                embedding: Some(&e),
                mode: SearchMode::Hybrid,
                ..Default::default()
            })
            .unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(!hits.is_empty());
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "hybrid search p50 {:.2} ms, p99 {:.2} ms",
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100]
    );
    fn size(p: &std::path::Path) -> u64 {
        std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| {
                if e.file_type().unwrap().is_dir() {
                    size(&e.path())
                } else {
                    e.metadata().unwrap().len()
                }
            })
            .sum()
    }
    println!("on disk: {:.1} MB", size(dir.path()) as f64 / 1e6);
}
