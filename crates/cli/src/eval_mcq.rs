//! `almanac eval mcq`: MMLU / KMMLU accuracy of the chat model, k-shot.

use std::path::PathBuf;

use almanac_core::{Paths, Settings};
use almanac_engine::{ChatModel, LoadOptions};
use almanac_eval::mcq::{self, Format, McqOptions, Outcome};
use almanac_eval::report::{self, Report};
use almanac_eval::EvalDir;
use anyhow::{Context, Result};

use crate::eval_terminal::{print_saved, with_progress, write_json_lines};

#[derive(clap::Args)]
pub struct McqArgs {
    /// The benchmark's folder, holding dev/ and test/ (e.g. MMLU's data/ as its authors publish it)
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, value_enum, default_value = "mmlu")]
    pub format: FormatArg,
    /// Examples from the subject's dev questions before each test question
    #[arg(long, default_value_t = 5)]
    pub shots: usize,
    /// Only these subjects, as in the file names (comma-separated)
    #[arg(long, value_delimiter = ',')]
    pub subjects: Vec<String>,
    /// Only the first N test questions of each subject
    #[arg(long)]
    pub limit: Option<usize>,
    /// The chat model file (default: the `chat_model` setting)
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Also write every question's pick and letter log-probabilities here (JSON Lines)
    #[arg(long, value_name = "FILE")]
    pub records: Option<PathBuf>,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    Mmlu,
    Kmmlu,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Mmlu => Format::Mmlu,
            FormatArg::Kmmlu => Format::Kmmlu,
        }
    }
}

pub fn run(paths: Paths, args: McqArgs) -> Result<()> {
    let settings = Settings::load(&paths.settings_file())?;
    let model_path = paths.resolve_model(args.model.as_deref().unwrap_or(&settings.chat_model));
    let mut model = ChatModel::load(
        &model_path,
        &LoadOptions {
            context_length: Some(settings.context_length),
            ..Default::default()
        },
    )
    .with_context(|| format!("loading {}", model_path.display()))?;
    let options = McqOptions {
        data: std::path::absolute(&args.data).unwrap_or(args.data.clone()),
        format: args.format.into(),
        shots: args.shots,
        subjects: args.subjects.clone(),
        limit: args.limit,
    };
    let eval_dir = EvalDir::in_data_dir(&paths.data_dir);
    let log = mcq::log_path(&eval_dir.runs(), &options, &model);

    let outcome = with_progress("questions", 28, "", |cancel, on_progress| {
        Ok(mcq::run(&mut model, &options, &log, cancel, on_progress)?)
    })?;
    let (report, results) = match outcome {
        Outcome::Finished { report, results } => (*report, results),
        Outcome::Stopped { done, total } => {
            anyhow::bail!(
                "stopped after {done} of {total} questions; the same command resumes from there ({})",
                log.display()
            )
        }
    };
    if let Some(path) = &args.records {
        write_json_lines(path, &results)?;
    }
    let report = Report::Mcq(report);
    let saved = report::save(&eval_dir.reports(), &report)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let Report::Mcq(report) = &report else {
        unreachable!()
    };
    println!(
        "{} {}-shot, {} on {} questions: accuracy {:.4} (macro over {} subjects {:.4}; chance {:.2}) in {:.0} s",
        report.benchmark,
        report.shots,
        report.model,
        report.questions,
        report.accuracy,
        report.subjects.len(),
        report.macro_accuracy,
        report.chance,
        report.seconds
    );
    for c in &report.categories {
        println!(
            "  {:32} {:.4}  ({} questions, {} subjects)",
            c.category, c.accuracy, c.questions, c.subjects
        );
    }
    for s in &report.subjects {
        println!(
            "    {:44} {:.4}  ({}/{})",
            s.subject, s.accuracy, s.correct, s.questions
        );
    }
    print_saved(&saved);
    Ok(())
}
