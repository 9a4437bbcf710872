//! `almanac eval retrieval`: retrieval quality on BEIR-format data.

use std::path::{Path, PathBuf};

use almanac_core::{load_embedder, FieldWeights, Fusion, Paths, SearchMode, Settings};
use almanac_eval::retrieval::{evaluate, ingest, BeirData, EvalOptions, EvalReport};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Mode {
    Bm25,
    Dense,
    Hybrid,
    /// All three from one ingest
    All,
}

impl Mode {
    fn search_modes(self) -> Vec<SearchMode> {
        match self {
            Mode::Bm25 => vec![SearchMode::Bm25],
            Mode::Dense => vec![SearchMode::Dense],
            Mode::Hybrid => vec![SearchMode::Hybrid],
            Mode::All => vec![SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid],
        }
    }
}

/// Search settings to try instead of the defaults (for tuning).
#[derive(clap::Args, Clone, Default)]
pub struct Tuning {
    /// Fusion for hybrid: `rrf:K` (reciprocal rank fusion) or `convex:ALPHA` (weight of the
    /// normalised vector score); default: the app's
    #[arg(long, value_parser = parse_fusion)]
    pub fusion: Option<Fusion>,
    /// Also score hybrid with each of these fusions (comma-separated, same syntax as --fusion)
    #[arg(long, value_parser = parse_fusion, value_delimiter = ',')]
    pub also_fusion: Vec<Fusion>,
    /// Do not put exact matches (quoted phrase, rare identifier, named title or file) first
    #[arg(long)]
    pub no_exact: bool,
    /// BM25 weight of title matches (default: the app's)
    #[arg(long)]
    pub title_weight: Option<f32>,
    /// BM25 weight of body matches (default: the app's)
    #[arg(long)]
    pub body_weight: Option<f32>,
    /// BM25 weight of file-name matches (default: the app's)
    #[arg(long)]
    pub file_name_weight: Option<f32>,
}

fn parse_fusion(s: &str) -> std::result::Result<Fusion, String> {
    let (kind, value) = s
        .split_once(':')
        .ok_or_else(|| format!("--fusion {s:?}: expected rrf:K or convex:ALPHA"))?;
    let value: f32 = value
        .parse()
        .map_err(|_| format!("--fusion {s:?}: {value:?} is not a number"))?;
    match kind {
        "rrf" if value >= 0.0 => Ok(Fusion::Rrf { k: value }),
        "convex" if (0.0..=1.0).contains(&value) => Ok(Fusion::Convex { alpha: value }),
        _ => Err(format!(
            "--fusion {s:?}: expected rrf:K (K >= 0) or convex:ALPHA (0..=1)"
        )),
    }
}

pub struct Request<'a> {
    pub beir: &'a Path,
    pub mode: Mode,
    pub split: &'a str,
    pub json: bool,
    pub run_out: Option<&'a Path>,
    /// Keep the ingested library here (reused when it already holds the corpus).
    pub library: Option<&'a Path>,
    /// Instead of the `embedding_model` setting.
    pub embedder: Option<&'a Path>,
    pub tuning: Tuning,
}

pub fn retrieval(paths: Paths, req: Request) -> Result<()> {
    let mut settings = Settings::load(&paths.settings_file())?;
    if let Some(model) = req.embedder {
        settings.embedding_model = model.to_path_buf();
    }
    let embedder = load_embedder(&paths, &settings)?;
    let data = BeirData::load(req.beir, req.split)?;
    if req.run_out.is_some() && matches!(req.mode, Mode::All) {
        bail!("--run-out needs a single --mode (bm25, dense or hybrid)");
    }
    let scratch;
    let library = match req.library {
        Some(dir) => dir.to_path_buf(),
        None => {
            scratch = tempfile::tempdir().context("creating a scratch library")?;
            scratch.path().to_path_buf()
        }
    };
    let mut index = almanac_core::library_embedder::open_library_index(&library, &embedder)?;
    let bar = ProgressBar::new(data.corpus.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("indexing {bar:30} {pos}/{len} documents {per_sec}")
            .expect("valid template"),
    );
    let ingested = ingest(&data, &embedder, &mut index, &mut |done, _| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    let defaults = EvalOptions::default();
    let t = &req.tuning;
    let weights = FieldWeights {
        title: t.title_weight.unwrap_or(defaults.weights.title),
        body: t.body_weight.unwrap_or(defaults.weights.body),
        file_name: t.file_name_weight.unwrap_or(defaults.weights.file_name),
        ..defaults.weights
    };
    let options = EvalOptions {
        fusion: t.fusion.unwrap_or(defaults.fusion),
        weights,
        keep_run: req.run_out.is_some(),
        other_fusions: t.also_fusion.clone(),
        no_exact: t.no_exact,
    };
    let reports = evaluate(
        &data,
        req.beir,
        &embedder,
        &index,
        &req.mode.search_modes(),
        &options,
        &ingested,
    )?;
    if let (Some(path), Some(run)) = (req.run_out, reports.first().and_then(|r| r.run.as_ref())) {
        std::fs::write(path, serde_json::to_string(run)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if req.json {
        let strip = |r: &EvalReport| -> Result<serde_json::Value> {
            let mut value = serde_json::to_value(r)?;
            value
                .as_object_mut()
                .expect("report is an object")
                .remove("run");
            Ok(value)
        };
        let value = match req.mode {
            Mode::All => {
                let mut all = serde_json::Map::new();
                for r in &reports {
                    all.insert(r.mode.clone(), strip(r)?);
                }
                serde_json::Value::Object(all)
            }
            _ => strip(&reports[0])?,
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        for report in &reports {
            let s = report.scores;
            println!(
                "{} ({}) {} with {} on {} documents, {} queries: nDCG@10 {:.4}  recall@100 {:.4}  MRR@10 {:.4}  (indexing {:.0} s, {:.1} ms a query)",
                PathBuf::from(&report.dataset).display(),
                report.split,
                report.mode,
                report.embedder,
                report.documents,
                report.queries,
                s.ndcg_at_10,
                s.recall_at_100,
                s.mrr_at_10,
                report.index_seconds,
                report.query_ms_mean
            );
        }
    }
    Ok(())
}
