//! `almanac bench retrieval`: retrieval at scale; prints the figures and writes them into a Markdown
//! file's "Retrieval at scale" section.

use std::path::{Path, PathBuf};

use almanac_core::bench::{run, BenchOptions, BenchReport};
use almanac_core::eval::BeirData;
use almanac_core::{load_embedder, Paths, Settings};
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
    /// Write the figures into this Markdown file's "Retrieval at scale" section
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// A line on the machine, for the Markdown section
    #[arg(long, default_value = "")]
    machine: String,
}

pub fn retrieval(paths: Paths, args: RetrievalArgs) -> Result<()> {
    let settings = Settings::load(&paths.settings_file())?;
    let embedder = load_embedder(&paths, &settings)?;
    let data = BeirData::load(&args.beir, "test")?;
    let scratch = tempfile::tempdir().context("creating a scratch folder")?;
    let work = args.work.clone().unwrap_or_else(|| scratch.path().to_path_buf());
    let options = BenchOptions { passages: args.passages, queries: args.queries, embed_sample: args.embed_sample, work };
    let mut last = String::new();
    let report = run(&data, &embedder, &options, &mut |stage, done, total| {
        let line = format!("{stage}: {}/{}", done, total);
        if line != last {
            eprintln!("{line}");
            last = line;
        }
    })?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(file) = &args.markdown {
        write_section(file, &section(&report, &args))?;
    }
    Ok(())
}

const HEADING: &str = "## Retrieval at scale";

fn section(r: &BenchReport, args: &RetrievalArgs) -> String {
    let date = &r.date;
    let mb = |b: u64| b as f64 / 1e6;
    format!(
        "{HEADING}\n\n\
`almanac bench retrieval --beir {beir} --passages {n}` ({date}; {machine}{threads} threads seen). \
{n} passages in {docs} documents of 10: the {base} SciFact abstracts, then copies with their sentences \
rotated and their MiniLM vector moved by a fixed random offset (cosine about 0.94 to the original; \
embedding every copy with the model would take hours on two cores). Hybrid search with the default \
settings (BM25 and vectors, 50 candidates each, fused), {q} SciFact questions.\n\n\
| what | figure |\n|---|---|\n\
| embedding (all-MiniLM-L6-v2, {sample} abstracts, batches of 32) | {eps:.1} passages/s |\n\
| ingestion into the index (catalog, tantivy, hnsw; vectors given) | {pps:.0} passages/s ({secs:.0} s) |\n\
| hybrid query, query embedding included: p50 / p99 | {p50:.1} ms / {p99:.1} ms |\n\
| of which embedding the query (p50) | {qe:.1} ms |\n\
| vector recall@10 against exact search | {recall:.3} |\n\
| library on disk | {size:.0} MB |\n\
| peak resident memory of the whole run | {rss} |\n",
        beir = args.beir.display(),
        n = r.passages,
        docs = r.documents,
        base = r.base_passages,
        machine = if args.machine.is_empty() { String::new() } else { format!("{}, ", args.machine) },
        threads = r.threads,
        q = r.queries,
        sample = r.embed_sample,
        eps = r.embeddings_per_s,
        pps = r.passages_per_s,
        secs = r.ingest_seconds,
        p50 = r.hybrid_p50_ms,
        p99 = r.hybrid_p99_ms,
        qe = r.query_embedding_p50_ms,
        recall = r.dense_recall_at_10,
        size = mb(r.index_bytes),
        rss = r.peak_rss_bytes.map_or("unknown".into(), |b| format!("{:.0} MB", mb(b))),
    )
}

/// Replaces the section (from its heading to the next `## ` heading) or appends it.
fn write_section(file: &Path, section: &str) -> Result<()> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let out = match text.find(HEADING) {
        Some(start) => {
            let after = start + HEADING.len();
            let end = text[after..].find("\n## ").map_or(text.len(), |i| after + i + 1);
            format!("{}{}\n{}", &text[..start], section, &text[end..])
        }
        None => format!("{}\n{}", text.trim_end(), format_args!("\n{section}")),
    };
    std::fs::write(file, out.trim_end().to_owned() + "\n").with_context(|| format!("writing {}", file.display()))
}
