//! `almanac bench retrieval`: retrieval at scale; prints the figures and, with `--write FILE`, keeps
//! them in that Markdown file's retrieval section.

use std::path::PathBuf;

use almanac_core::{load_embedder, Paths, Settings};
use almanac_eval::retrieval::BeirData;
use almanac_eval::retrieval_bench::{self as bench, BenchOptions, BenchReport};
use anyhow::{Context, Result};

#[derive(clap::Args)]
pub struct RetrievalArgs {
    /// BEIR folder whose corpus is repeated (with variation) up to --passages
    #[arg(long)]
    beir: PathBuf,
    /// Passages in the library
    #[arg(long, default_value_t = 100_000)]
    passages: usize,
    /// Questions timed (from the BEIR queries)
    #[arg(long, default_value_t = 300)]
    queries: usize,
    /// Passages embedded to measure embedding throughput
    #[arg(long, default_value_t = 256)]
    embed_sample: usize,
    /// Work folder: keeps the corpus's vectors between runs and the built library (default: a
    /// scratch folder)
    #[arg(long)]
    work: Option<PathBuf>,
    /// Query the library already in --work when it holds --passages passages instead of building
    /// it again (no ingestion figures then; not allowed with --write)
    #[arg(long, requires = "work", conflicts_with = "write")]
    reuse: bool,
    /// Also write the figures into this Markdown file's retrieval section (docs/BENCHMARKS.md)
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
}

pub fn run(data_dir: Option<PathBuf>, args: RetrievalArgs) -> Result<()> {
    let paths = Paths::new(data_dir);
    let machine = crate::bench::machine_description();
    let settings = Settings::load(&paths.settings_file())?;
    let embedder = load_embedder(&paths, &settings)?;
    let data = BeirData::load(&args.beir, "test")?;
    let scratch = tempfile::tempdir().context("creating a scratch folder")?;
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| scratch.path().to_path_buf());
    let options = BenchOptions {
        passages: args.passages,
        queries: args.queries,
        embed_sample: args.embed_sample,
        work,
        reuse: args.reuse,
    };
    let mut last = String::new();
    let report = bench::run(&data, &embedder, &options, &mut |stage, done, total| {
        let line = format!("{stage}: {}/{}", done, total);
        if line != last {
            eprintln!("{line}");
            last = line;
        }
    })?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(file) = &args.write {
        crate::bench::write_section(file, "retrieval", &section(&report, &args, &machine))?;
    }
    Ok(())
}

const HEADING: &str = "## Retrieval at scale";

fn section(r: &BenchReport, args: &RetrievalArgs, machine: &str) -> String {
    let date = &r.date;
    let mb = |b: u64| b as f64 / 1e6;
    format!(
        "{HEADING}\n\n\
`almanac bench retrieval --beir {beir} --passages {n}` ({date}; {machine}; {build} build). \
{n} passages in {docs} documents of 10: the {base} SciFact abstracts, then copies with their sentences \
rotated and their MiniLM vector moved by a fixed random offset (cosine about 0.94 to the original; \
embedding every copy with the model would take hours on two cores). Hybrid search with the default \
settings (BM25 and vectors, 50 candidates each, fused), {q} SciFact questions.\n\n\
| what | figure | target (issue 6) |\n|---|---|---|\n\
| embedding (all-MiniLM-L6-v2, {sample} abstracts, batches of 32) | {eps:.1} passages/s | |\n\
| ingestion into the index (catalog, tantivy, hnsw; vectors given) | {pps:.0} passages/s ({secs:.0} s) | |\n\
| hybrid query, query embedding included: p50 / p99 | {p50:.1} ms / {p99:.1} ms | ≤ 30 / ≤ 100 ms |\n\
| of which embedding the query (one thread): p50 / p99 | {qe:.1} ms / {qe99:.1} ms | |\n\
| BM25 alone / vectors alone, without the query embedding (p50) | {bm25:.1} ms / {dense:.1} ms | |\n\
| vector recall@10 against exact search | {recall:.3} | ≥ 0.95 |\n\
| library on disk | {size:.0} MB | |\n\
| peak resident memory of the whole run (with the exact-search copy of the vectors) | {rss} | |\n",
        beir = args.beir.display(),
        n = r.passages,
        docs = r.documents,
        base = r.base_passages,
        machine = machine,
        build = if cfg!(debug_assertions) { "debug" } else { "release" },
        q = r.queries,
        sample = r.embed_sample,
        eps = r.embeddings_per_s,
        pps = r.passages_per_s.unwrap_or(0.0),
        secs = r.ingest_seconds.unwrap_or(0.0),
        p50 = r.hybrid_p50_ms,
        p99 = r.hybrid_p99_ms,
        qe = r.query_embedding_p50_ms,
        qe99 = r.query_embedding_p99_ms,
        bm25 = r.bm25_p50_ms,
        dense = r.dense_p50_ms,
        recall = r.dense_recall_at_10,
        size = mb(r.index_bytes),
        rss = r.peak_rss_bytes.map_or("unknown".into(), |b| format!("{:.0} MB", mb(b))),
    )
}
