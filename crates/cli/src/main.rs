//! The `almanac` command line: ingest documents, ask questions, chat.

mod bench;
mod chat;
mod eval;
mod eval_mcq;
mod eval_qa;
mod eval_terminal;
mod models;
mod output;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use almanac_cli::{allow_hosts, backend, serve};
use almanac_core::{App, AskOptions, Assistant, IngestEvent, Paths, RunEvent};
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use eval::Mode;
use indicatif::{ProgressBar, ProgressStyle};

/// See docs/decisions/0003-embedding-speed.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Let the web fetcher reach this host or CIDR range although the address guard refuses it by
    /// default (loopback, private networks…); repeatable. ALMANAC_FETCH_ALLOW (comma-separated)
    /// and the `web_allow` setting add to it
    #[arg(long = "allow-host", global = true, value_name = "HOST_OR_CIDR")]
    allow_host: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Add files or folders to the library: text, Markdown, HTML, PDF, DOCX, EPUB, CSV and
    /// source code (unchanged files are skipped; files left queued by an earlier run are resumed)
    Ingest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Ask one question; streams the answer, then lists the numbered sources. The question and
    /// answer are stored as a new conversation (or added to --conversation)
    Ask {
        /// Print one JSON object with the answer, sources, retrieval and timings instead
        #[arg(long)]
        json: bool,
        /// Continue this stored conversation (its turns are the history)
        #[arg(long, value_name = "ID")]
        conversation: Option<String>,
        /// Also search the web (the SearxNG instance in the `web_search_url` setting) and rank its
        /// best pages with the library's passages. URLs in the question are fetched either way
        #[arg(long)]
        web: bool,
        #[command(flatten)]
        answer: AnswerOptions,
        #[command(flatten)]
        backend: backend::BackendArgs,
        #[arg(required = true, num_args = 1..)]
        question: Vec<String>,
    },
    /// Fetch a web page and print its title, date and readable text (kept in the web cache)
    Fetch {
        url: String,
        /// Fetch even if the site's robots.txt disallows it (for a URL you chose yourself)
        #[arg(long)]
        ignore_robots: bool,
        /// Also add the page to the library, so every question searches it
        #[arg(long)]
        pin: bool,
        /// Print one JSON object instead
        #[arg(long)]
        json: bool,
    },
    /// An interactive conversation in the terminal, with the same retrieval
    Chat {
        #[command(flatten)]
        answer: AnswerOptions,
        #[command(flatten)]
        backend: backend::BackendArgs,
        /// Continue this stored conversation instead of starting a new one
        #[arg(long, value_name = "ID")]
        conversation: Option<String>,
    },
    /// Serve the web UI and the HTTP API (ui/README.md) on 127.0.0.1
    Serve(serve::ServeArgs),
    /// List the documents in the library, or manage it
    Library {
        #[command(subcommand)]
        action: Option<LibraryCommand>,
    },
    /// Follow the library's folders: index new and changed files, remove deleted ones, until Ctrl-C
    Watch {
        /// Debounce: wait this long after the last change before indexing, milliseconds
        #[arg(long, default_value_t = 1000)]
        debounce_ms: u64,
    },
    /// Chat models: the catalogue, downloading from Hugging Face (or HF_ENDPOINT), removing
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// The generation endpoint's API key in the OS keyring (for `backend.api_key_from: "keyring"`)
    #[command(subcommand)]
    BackendKey(backend::KeyCommand),
    /// Measure quality
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Measure speed beside a reference implementation; figures printed, optionally kept in a file
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(Subcommand)]
enum LibraryCommand {
    /// Add folders (remembered: `sync` and `watch` follow them) or files, and index them
    Add {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Every file with its status: queued, indexed, or failed with the reason
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Resume the queue, index new and changed files in the followed folders, remove deleted ones
    Sync,
    /// Re-embed every chunk with another embedding model (a folder in the models directory, e.g.
    /// multilingual-e5-small, or a path) and switch the library to it; resumes a change cut short
    Embedder { model: PathBuf },
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
        /// Keep the ingested corpus in this library folder and reuse it on later runs (for
        /// tuning); default: a scratch folder removed afterwards
        #[arg(long, value_name = "DIR")]
        library: Option<PathBuf>,
        /// The embedding model (a folder name in the models directory, or a path); default: the
        /// `embedding_model` setting
        #[arg(long, value_name = "MODEL")]
        embedder: Option<PathBuf>,
        #[command(flatten)]
        tuning: eval::Tuning,
    },
    /// A chat model's multiple-choice accuracy on MMLU or KMMLU, k-shot, scored by the
    /// log-probability of the answer letter; per subject, category and overall. Ctrl-C stops it
    /// and the same command resumes it
    Mcq(eval_mcq::McqArgs),
    /// Each question of a set answered without and with retrieval over the set's documents:
    /// exact match and F1 (SQuAD), retrieval hit rate, citation precision, evidence. Default set:
    /// the built-in "after the cutoff" one. Ctrl-C stops it and the same command resumes it
    Qa(eval_qa::QaArgs),
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
    /// The chat model for this run: a GGUF file, or a name in the models folder (default: the
    /// `chat_model` setting)
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
}

fn main() {
    // The parser worker (see almanac_core::Parser): started by this program itself, before any
    // argument parsing or library opening.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "parse-worker")
    {
        std::process::exit(almanac_core::run_parse_worker());
    }
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {}", error_line(&e));
        std::process::exit(1);
    }
}

/// The error and its causes on one line, each cause only if the line does not say it already
/// (library errors often end with their source's text).
fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string().replace('\n', " ");
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn run(cli: Cli) -> Result<()> {
    if let Command::Eval(EvalCommand::Retrieval {
        beir,
        mode,
        split,
        json,
        run_out,
        library,
        embedder,
        tuning,
    }) = &cli.command
    {
        let request = eval::Request {
            beir,
            mode: *mode,
            split,
            json: *json,
            run_out: run_out.as_deref(),
            library: library.as_deref(),
            embedder: embedder.as_deref(),
            tuning: tuning.clone(),
        };
        return eval::retrieval(Paths::new(cli.data_dir.clone()), request);
    }
    if let Command::Eval(EvalCommand::Mcq(_) | EvalCommand::Qa(_)) = &cli.command {
        let paths = Paths::new(cli.data_dir);
        return match cli.command {
            Command::Eval(EvalCommand::Mcq(args)) => eval_mcq::run(paths, args),
            Command::Eval(EvalCommand::Qa(args)) => eval_qa::run(paths, args),
            _ => unreachable!(),
        };
    }
    if let Command::Bench(command) = cli.command {
        return bench::run(cli.data_dir, command);
    }
    let paths = Paths::new(cli.data_dir);
    let allow = cli.allow_host;
    match cli.command {
        Command::Serve(args) => serve::run(paths, args, &allow),
        Command::BackendKey(command) => backend::run_key(&paths, command),
        Command::Models(command) => models::run(&paths, command),
        Command::Fetch {
            url,
            ignore_robots,
            pin,
            json,
        } => {
            let assistant = Assistant::open(paths)?;
            allow_hosts(&assistant, &allow);
            fetch(&assistant, &url, ignore_robots, pin, json)
        }
        Command::Ingest { paths: files } => ingest(&Assistant::open(paths)?, &files),
        Command::Library { action: None } => output::print_library(&Assistant::open(paths)?),
        Command::Library {
            action: Some(LibraryCommand::Add { paths: files }),
        } => {
            let assistant = Assistant::open(paths)?;
            let report = assistant.add_folders(&files, &mut progress())?;
            finish_ingest(&report, &assistant)
        }
        Command::Library {
            action: Some(LibraryCommand::Sync),
        } => {
            let assistant = Assistant::open(paths)?;
            let report = assistant.sync(&mut progress())?;
            finish_ingest(&report, &assistant)
        }
        Command::Library {
            action: Some(LibraryCommand::Embedder { model }),
        } => change_embedder(&Assistant::open(paths)?, &model),
        Command::Library {
            action: Some(LibraryCommand::Status { json }),
        } => output::print_status(&Assistant::open(paths)?, json),
        Command::Watch { debounce_ms } => watch(&Assistant::open(paths)?, debounce_ms),
        Command::Ask {
            json,
            conversation,
            web,
            answer,
            backend,
            question,
        } => {
            let app = Arc::new(App::open(paths)?);
            apply(app.assistant(), &answer);
            backend.apply(app.assistant())?;
            allow_hosts(app.assistant(), &allow);
            let options = AskOptions { web: Some(web) };
            ask(
                &app,
                conversation.as_deref(),
                &question.join(" "),
                &options,
                json,
            )
        }
        Command::Chat {
            answer,
            backend,
            conversation,
        } => {
            let app = Arc::new(App::open(paths)?);
            apply(app.assistant(), &answer);
            backend.apply(app.assistant())?;
            allow_hosts(app.assistant(), &allow);
            chat::run(&app, conversation)
        }
        Command::Eval(_) | Command::Bench(_) => {
            unreachable!("handled above: measuring needs no library")
        }
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
        if let Some(model) = &options.model {
            // A path from the working folder; a bare name stays one in the models folder.
            settings.chat_model = match std::path::absolute(model) {
                Ok(path) if path.exists() => path,
                _ => model.clone(),
            };
        }
    });
}

fn fetch(
    assistant: &Assistant,
    url: &str,
    ignore_robots: bool,
    pin: bool,
    json: bool,
) -> Result<()> {
    let page = assistant.fetch_page(url, ignore_robots)?;
    let pinned = if pin {
        Some(assistant.pin_page(&page)?)
    } else {
        None
    };
    let mut stdout = std::io::stdout().lock();
    if json {
        let mut value = serde_json::to_value(&page)?;
        value["pinned_chunks"] = pinned.into();
        serde_json::to_writer_pretty(&mut stdout, &value)?;
        writeln!(stdout)?;
    } else {
        output::print_page(&mut stdout, &page)?;
        if let Some(chunks) = pinned {
            eprintln!("pinned into the library ({chunks} chunks)");
        }
    }
    Ok(())
}

/// A progress bar on stderr with the run's chunks per second and time left, and one `error:` line
/// per file that failed.
fn progress() -> impl FnMut(IngestEvent) {
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} files {prefix} {wide_msg}")
            .expect("valid template"),
    );
    move |event| match event {
        IngestEvent::Planned { files, .. } => {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(files as u64);
        }
        IngestEvent::Indexed { path, .. } | IngestEvent::Unchanged { path } => {
            bar.set_message(path.display().to_string());
            bar.inc(1);
            if bar.position() >= bar.length().unwrap_or(0) {
                bar.finish_and_clear();
            }
        }
        IngestEvent::Failed { error, .. } => {
            bar.suspend(|| eprintln!("error: {error}"));
            bar.inc(1);
            if bar.position() >= bar.length().unwrap_or(0) {
                bar.finish_and_clear();
            }
        }
        IngestEvent::Progress {
            chunks_per_second,
            seconds_left,
            ..
        } => bar.set_prefix(output::ingest_rate(chunks_per_second, seconds_left)),
        IngestEvent::Removed { path } => bar.suspend(|| eprintln!("removed {}", path.display())),
        IngestEvent::EmbedderChosen { model, installed } => {
            eprintln!("{}", output::embedder_choice(&model, installed))
        }
        IngestEvent::Indexing { .. } | IngestEvent::Following { .. } => {}
    }
}

/// `library embedder MODEL`: re-embeds with a progress bar (chunks/s, time left).
fn change_embedder(assistant: &Assistant, model: &std::path::Path) -> Result<()> {
    let from = assistant.embedder().name().to_owned();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "re-embedding {bar:30} {pos}/{len} chunks {per_sec} ({eta} left)",
        )
        .expect("valid template"),
    );
    let changed = assistant.change_embedder(model, &mut |p| {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
    })?;
    bar.finish_and_clear();
    let to = assistant.embedder();
    if changed {
        let chunks = assistant.index().stats()?.chunks;
        println!(
            "library re-embedded with {} ({} dimensions, was {from}): {chunks} chunks",
            to.name(),
            to.dim()
        );
    } else {
        println!(
            "the library already uses {} ({} dimensions)",
            to.name(),
            to.dim()
        );
    }
    Ok(())
}

fn ingest(assistant: &Assistant, paths: &[PathBuf]) -> Result<()> {
    let report = assistant.ingest(paths, &mut progress())?;
    finish_ingest(&report, assistant)
}

fn watch(assistant: &Assistant, debounce_ms: u64) -> Result<()> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
    let folders = assistant.queue().folders()?;
    if folders.is_empty() {
        anyhow::bail!("the library follows no folders; add one with `almanac library add DIR`");
    }
    eprintln!("watching {} folders (Ctrl-C to stop)", folders.len());
    let mut on_event = progress();
    assistant.watch(
        std::time::Duration::from_millis(debounce_ms),
        &stop,
        &mut |event| {
            match &event {
                IngestEvent::Indexed { path, chunks } => {
                    eprintln!("indexed {} ({chunks} chunks)", path.display())
                }
                IngestEvent::Failed { .. }
                | IngestEvent::Removed { .. }
                | IngestEvent::EmbedderChosen { .. } => {}
                IngestEvent::Following { path } => {
                    return eprintln!("following {}", path.display());
                }
                _ => return,
            }
            on_event(event)
        },
    )?;
    Ok(())
}

fn finish_ingest(report: &almanac_core::IngestReport, assistant: &Assistant) -> Result<()> {
    output::print_ingest_report(report, assistant)?;
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

/// Asks one question through the service layer, so the turn is stored like the app's.
fn ask(
    app: &Arc<App>,
    conversation: Option<&str>,
    question: &str,
    options: &AskOptions,
    json: bool,
) -> Result<()> {
    let current = cancel_on_ctrl_c(app);
    let mut stdout = std::io::stdout().lock();
    let outcome = app.ask(conversation, question, options, &mut |event| {
        if let RunEvent::Started { run_id, .. } = &event {
            *current.lock().unwrap_or_else(|e| e.into_inner()) = Some(run_id.clone());
        }
        if !json {
            output::stream_event(&mut stdout, &event);
        }
    })?;
    if let Some(error) = outcome.error {
        anyhow::bail!("{}", error.message);
    }
    let answer = outcome
        .answer
        .expect("a run without an error has an answer");
    if json {
        let mut value = output::answer_json(&answer);
        value["conversation_id"] = outcome.conversation_id.into();
        value["message_id"] = outcome.message_id.into();
        value["model"] = outcome.model.into();
        serde_json::to_writer_pretty(&mut stdout, &value)?;
        writeln!(stdout)?;
    } else {
        output::print_sources(&mut stdout, &answer)?;
        eprintln!("(conversation {})", outcome.conversation_id);
    }
    Ok(())
}

/// The first Ctrl-C stops the answer being generated (whose run id goes into the returned slot);
/// the partial answer is kept.
fn cancel_on_ctrl_c(app: &Arc<App>) -> Arc<Mutex<Option<String>>> {
    let current: Arc<Mutex<Option<String>>> = Arc::default();
    let (app, slot) = (app.clone(), current.clone());
    let _ = ctrlc::set_handler(move || {
        if let Some(run) = slot.lock().unwrap_or_else(|e| e.into_inner()).as_deref() {
            let _ = app.cancel_run(run);
        }
    });
    current
}
