//! `almanac eval qa`: each question of a set answered without and with retrieval, scored.

use std::path::PathBuf;

use almanac_core::Paths;
use almanac_eval::qa::{self, Builtin, Outcome, QaOptions, QaSet};
use almanac_eval::report::{self, Report};
use almanac_eval::EvalDir;
use anyhow::Result;

use crate::eval_terminal::{print_saved, with_progress, write_json_lines};

#[derive(clap::Args)]
pub struct QaArgs {
    /// A question set (JSON Lines: question, answers, documents relative to the file; see
    /// crates/eval/README.md); default: the built-in "after the cutoff" set
    #[arg(long, value_name = "FILE")]
    pub set: Option<PathBuf>,
    /// Only the first N questions
    #[arg(long)]
    pub limit: Option<usize>,
    /// Most tokens in each answer
    #[arg(long, default_value_t = QaOptions::default().max_tokens)]
    pub max_tokens: usize,
    /// Also write every answer with its scores here (JSON Lines)
    #[arg(long, value_name = "FILE")]
    pub records: Option<PathBuf>,
    /// Print the report as JSON (with `with_retrieval` and `without_retrieval`)
    #[arg(long)]
    pub json: bool,
}

pub fn run(paths: Paths, args: QaArgs) -> Result<()> {
    let eval_dir = EvalDir::in_data_dir(&paths.data_dir);
    let set_file = match &args.set {
        Some(file) => file.clone(),
        None => Builtin::write_to(&eval_dir.builtin_sets().join(Builtin::NAME))?,
    };
    let set_file = std::path::absolute(&set_file).unwrap_or(set_file);
    let set = QaSet::load(&set_file)?;
    let assistant = qa::open_for_set(&paths, &set)?;
    let options = QaOptions {
        max_tokens: args.max_tokens,
        limit: args.limit,
    };
    let log = qa::log_path(&eval_dir.runs(), &set, &options, &assistant);

    let outcome = with_progress("answers", 18, "indexing", |cancel, on_progress| {
        Ok(qa::run(
            &assistant,
            &set,
            &options,
            &log,
            cancel,
            on_progress,
        )?)
    })?;
    let (report, records) = match outcome {
        Outcome::Finished { report, records } => (*report, records),
        Outcome::Stopped { done, total } => anyhow::bail!(
            "stopped after {done} of {total} answers; the same command resumes from there ({})",
            log.display()
        ),
    };
    if let Some(path) = &args.records {
        write_json_lines(path, &records)?;
    }
    let report = Report::Qa(report);
    let saved = report::save(&eval_dir.reports(), &report)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let Report::Qa(r) = &report else {
        unreachable!()
    };
    println!(
        "{}: {} questions over {} documents",
        report.title(),
        r.questions,
        r.documents
    );
    let (w, o) = (&r.with_retrieval, &r.without_retrieval);
    println!("                      without   with    gain");
    println!(
        "  exact match         {:.3}    {:.3}   {:+.3}",
        o.exact_match, w.exact_match, r.gain.exact_match
    );
    println!(
        "  F1                  {:.3}    {:.3}   {:+.3}",
        o.f1, w.f1, r.gain.f1
    );
    println!(
        "  holds the answer    {:.3}    {:.3}   {:+.3}",
        o.contains_answer, w.contains_answer, r.gain.contains_answer
    );
    let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
    println!(
        "  gold document among the sources: {}",
        opt(w.retrieval_hit_rate)
    );
    println!(
        "  cited passages holding the answer: {} ({} answers cited)",
        opt(w.citation_precision),
        w.cited_questions
    );
    println!(
        "  quoted evidence holding the answer: {}",
        opt(w.evidence_holds_answer)
    );
    print_saved(&saved);
    Ok(())
}
