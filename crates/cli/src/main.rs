//! The `almanac` command line: ingest documents, ask questions, chat.

mod chat;
mod eval;
mod output;

use std::io::Write;
use std::path::PathBuf;

use almanac_core::{Assistant, CancelFlag, IngestEvent, Paths};
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use eval::Mode;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(
    name = "almanac",
    version,
    about = "Local, private, retrieval-augmented chat over your documents"
)]
struct Cli {
    /// Library and settings directory (default: the user's data directory, e.g. ~/.local/share/almanac)
    #[arg(long, global = true, env = "ALMANAC_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Add .txt and .md files, or folders of them, to the library (unchanged files are skipped)
    Ingest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Ask one question; streams the answer, then lists the numbered sources
    Ask {
        /// Print one JSON object with the answer, sources, retrieval and timings instead
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        answer: AnswerOptions,
        #[arg(required = true, num_args = 1..)]
        question: Vec<String>,
    },
    /// An interactive conversation in the terminal, with the same retrieval
    Chat {
        #[command(flatten)]
        answer: AnswerOptions,
    },
    /// List the documents in the library
    Library,
    /// Measure quality
    #[command(subcommand)]
    Eval(EvalCommand),
}

#[derive(Subcommand)]
enum EvalCommand {
    /// nDCG@10, recall@100 and MRR@10 on a BEIR-format dataset, indexed into a scratch library
    Retrieval {
        /// Folder with corpus.jsonl, queries.jsonl and qrels/
        #[arg(long)]
        beir: PathBuf,
        #[arg(long, value_enum, default_value = "hybrid")]
        mode: Mode,
        /// The qrels file to score against: qrels/<split>.tsv
        #[arg(long, default_value = "test")]
        split: String,
        #[arg(long)]
        json: bool,
        /// Also write the ranked run (query id → document ids) as JSON to this file
        #[arg(long)]
        run_out: Option<PathBuf>,
    },
}

/// Per-run overrides of the settings file.
#[derive(Args, Clone)]
struct AnswerOptions {
    /// Most passages put into the prompt
    #[arg(long)]
    sources: Option<usize>,
    /// Most tokens in the answer
    #[arg(long)]
    max_tokens: Option<usize>,
    /// 0 is greedy decoding
    #[arg(long)]
    temperature: Option<f64>,
    #[arg(long)]
    seed: Option<u64>,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    if let Command::Eval(EvalCommand::Retrieval {
        beir,
        mode,
        split,
        json,
        run_out,
    }) = &cli.command
    {
        return eval::retrieval(
            Paths::new(cli.data_dir.clone()),
            beir,
            *mode,
            split,
            *json,
            run_out.as_deref(),
        );
    }
    let assistant = Assistant::open(Paths::new(cli.data_dir))?;
    match cli.command {
        Command::Ingest { paths } => ingest(&assistant, &paths),
        Command::Ask {
            json,
            answer,
            question,
        } => {
            apply(&assistant, &answer);
            ask(&assistant, &question.join(" "), json)
        }
        Command::Chat { answer } => {
            apply(&assistant, &answer);
            chat::run(&assistant)
        }
        Command::Library => output::print_library(&assistant),
        Command::Eval(_) => unreachable!("handled above: evaluation needs no library"),
    }
}

fn apply(assistant: &Assistant, options: &AnswerOptions) {
    assistant.update_settings(|settings| {
        if let Some(n) = options.sources {
            settings.sources = n;
        }
        if let Some(n) = options.max_tokens {
            settings.max_answer_tokens = n;
        }
        if let Some(t) = options.temperature {
            settings.temperature = t;
        }
        if let Some(s) = options.seed {
            settings.seed = s;
        }
    });
}

fn ingest(assistant: &Assistant, paths: &[PathBuf]) -> Result<()> {
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} files {wide_msg}")
            .expect("valid template"),
    );
    let report = assistant.ingest(paths, &mut |event| match event {
        IngestEvent::Planned { files, .. } => {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(files as u64);
        }
        IngestEvent::Indexed { path, .. } | IngestEvent::Unchanged { path } => {
            bar.set_message(path.display().to_string());
            bar.inc(1);
        }
        IngestEvent::Failed { error, .. } => {
            bar.suspend(|| eprintln!("error: {error}"));
            bar.inc(1);
        }
    })?;
    bar.finish_and_clear();
    output::print_ingest_report(&report, assistant)?;
    if report.failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} of {} files could not be indexed (see above)",
            report.failed.len(),
            report.failed.len() + report.indexed + report.unchanged
        )
    }
}

fn ask(assistant: &Assistant, question: &str, json: bool) -> Result<()> {
    let cancel = CancelFlag::default();
    cancel_on_ctrl_c(&cancel);
    let mut stdout = std::io::stdout().lock();
    let answer = assistant.ask(question, &[], &cancel, &mut |event| {
        if !json {
            output::stream_event(&mut stdout, &event);
        }
    })?;
    if json {
        serde_json::to_writer_pretty(&mut stdout, &output::answer_json(&answer))?;
        writeln!(stdout)?;
    } else {
        output::print_sources(&mut stdout, &answer)?;
    }
    Ok(())
}

/// The first Ctrl-C stops the answer being generated; the partial answer is kept.
fn cancel_on_ctrl_c(cancel: &CancelFlag) {
    let cancel = cancel.clone();
    let _ = ctrlc::set_handler(move || cancel.cancel());
}
