//! Query-embedding latency, one text at a time: `Embedder::embed` (which runs a single text on one
//! thread) against candle's default use of every core (the same text in a batch of its own run
//! inside the global thread pool), alternating query by query so both see the same machine load.
//! `cargo run --release -p almanac-engine --example embed_latency -- MODEL_DIR QUERIES_JSONL [N]`

use std::time::Instant;

use almanac_engine::Embedder;

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let embedder = Embedder::load(std::path::Path::new(&args[1]))?;
    let n: usize = args.get(3).map_or(Ok(300), |s| s.parse())?;
    let queries: Vec<String> = std::fs::read_to_string(&args[2])?
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .take(n)
        .collect();
    let (mut default, mut one) = (Vec::new(), Vec::new());
    let tokens: usize = queries.iter().map(|q| embedder.count_tokens(q)).sum();
    for q in &queries {
        let t = Instant::now();
        embedder.embed_on_all_threads(q)?;
        default.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        embedder.embed(&[q])?;
        one.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "{} queries, {:.1} tokens on average",
        queries.len(),
        tokens as f64 / queries.len() as f64
    );
    for (name, v) in [
        ("all threads", &mut default),
        ("one thread (the default)", &mut one),
    ] {
        let p50 = percentile(v, 0.5);
        println!("{name}: p50 {p50:.1} ms, p99 {:.1} ms", percentile(v, 0.99));
    }
    Ok(())
}
