//! `almanac eval retrieval`: retrieval quality on BEIR-format data.

use std::path::{Path, PathBuf};

use almanac_core::eval::{evaluate, BeirData};
use almanac_core::{load_embedder, Paths, SearchMode, Settings};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Mode {
    Bm25,
    Dense,
    Hybrid,
}

impl From<Mode> for SearchMode {
    fn from(mode: Mode) -> SearchMode {
        match mode {
            Mode::Bm25 => SearchMode::Bm25,
            Mode::Dense => SearchMode::Dense,
            Mode::Hybrid => SearchMode::Hybrid,
        }
    }
}

pub fn retrieval(
    paths: Paths,
    beir: &Path,
    mode: Mode,
    split: &str,
    json: bool,
    run_out: Option<&Path>,
) -> Result<()> {
    let settings = Settings::load(&paths.settings_file())?;
    let embedder = load_embedder(&paths, &settings)?;
    let data = BeirData::load(beir, split)?;
    let scratch = tempfile::tempdir().context("creating a scratch library")?;
    let bar = ProgressBar::new(data.corpus.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("indexing {bar:30} {pos}/{len} documents {per_sec}")
            .expect("valid template"),
    );
    let report = evaluate(
        &data,
        beir,
        &embedder,
        scratch.path(),
        mode.into(),
        run_out.is_some(),
        &mut |done, _| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    if let (Some(path), Some(run)) = (run_out, &report.run) {
        std::fs::write(path, serde_json::to_string(run)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if json {
        let mut value = serde_json::to_value(&report)?;
        value
            .as_object_mut()
            .expect("report is an object")
            .remove("run");
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        let s = report.scores;
        println!(
            "{} {} on {} documents, {} queries: nDCG@10 {:.4}  recall@100 {:.4}  MRR@10 {:.4}  (indexing {:.0} s, {:.1} ms a query)",
            PathBuf::from(&report.dataset).display(),
            report.mode,
            report.documents,
            report.queries,
            s.ndcg_at_10,
            s.recall_at_100,
            s.mrr_at_10,
            report.index_seconds,
            report.query_ms_mean
        );
    }
    Ok(())
}
