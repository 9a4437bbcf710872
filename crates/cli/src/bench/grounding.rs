//! `almanac bench grounding`: how far answers can be trusted whatever the model writes. Sentence
//! attribution on the labelled sentences (precision, recall, unsupported sentences flagged), and
//! quoted evidence on questions over real documents (how often the top quote holds the answer when
//! the right document's passage is source [1]); with `--answers`, the model's own answers beside it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use almanac_core::grounding::measure::{self, AttributionScores, LabelledSet};
use almanac_core::{Assistant, CancelFlag, Grounding, Paths, Thresholds};
use anyhow::{Context, Result};
use serde::Deserialize;

use super::{machine_description, write_section};

#[derive(clap::Args)]
pub struct GroundingArgs {
    /// Labelled answer sentences (see the file for its shape)
    #[arg(long, default_value = "crates/core/tests/fixtures/attribution.json")]
    attribution: PathBuf,
    /// Questions over real documents, with the answer each right quote holds
    #[arg(long, default_value = "tests/fixtures/evidence-questions.json")]
    evidence: PathBuf,
    /// Also search the thresholds that do best on the labelled sentences and print them
    #[arg(long)]
    tune: bool,
    /// Also ask the chat model each question and check its answer holds the expected text (slow)
    #[arg(long)]
    answers: bool,
    /// Scratch library for the documents (default: a temporary folder)
    #[arg(long)]
    work: Option<PathBuf>,
    /// Keep the figures in this Markdown file (its "grounding" section)
    #[arg(long)]
    write: Option<PathBuf>,
}

#[derive(Deserialize)]
struct QuestionSet {
    questions: Vec<Question>,
}

#[derive(Deserialize)]
struct Question {
    file: PathBuf,
    format: String,
    question: String,
    expect: String,
}

/// What the evidence run found.
#[derive(Default)]
struct EvidenceScores {
    questions: usize,
    right_first: usize,
    top_holds: usize,
    any_holds: usize,
    answered: Option<(usize, usize)>,
    misses: Vec<String>,
    per_format: Vec<(String, usize, usize)>,
    evidence_ms: f64,
}

pub fn run(_data_dir: Option<PathBuf>, args: GroundingArgs) -> Result<()> {
    let machine = machine_description();
    let started = chrono::Utc::now();
    // A scratch library, removed when `scratch` drops, unless `--work` names one to keep.
    let scratch = tempfile::tempdir().context("creating a scratch folder")?;
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| scratch.path().to_path_buf());
    let paths = Paths::new(Some(work.clone()));
    let assistant = Assistant::open(paths).context("opening the scratch library")?;

    let set = LabelledSet::load(&args.attribution)?;
    let measured = measure::measure(assistant.embedder(), &set)?;
    let defaults = Thresholds::default();
    let scores = measure::score(&measured, &defaults);
    println!(
        "attribution, {} labelled sentences, defaults {defaults:?}:",
        set.sentence_count()
    );
    print_attribution(&scores);
    if args.tune {
        let (best, best_scores) = measure::tune(&measured);
        println!("best on this set: {best:?}");
        print_attribution(&best_scores);
    }

    let evidence = evidence_run(&assistant, &args.evidence, args.answers)?;
    println!(
        "evidence: {} questions, right passage first in {}; of those the top quote holds the answer in {} ({:.1}%), one of the quotes in {}",
        evidence.questions,
        evidence.right_first,
        evidence.top_holds,
        percent(evidence.top_holds, evidence.right_first),
        evidence.any_holds
    );
    for miss in &evidence.misses {
        println!("  miss: {miss}");
    }
    if let Some((right, asked)) = evidence.answered {
        println!("model answers holding the expected text: {right} of {asked}");
    }

    if let Some(file) = &args.write {
        let body = report(
            &machine, &started, &set, &scores, &defaults, &evidence, &args,
        );
        write_section(file, "grounding", &body)?;
        println!("wrote the grounding section of {}", file.display());
    }
    Ok(())
}

fn print_attribution(s: &AttributionScores) {
    println!(
        "  precision {:.3} ({} of {} attributed pairs), recall {:.3} ({} of {} labelled), unsupported flagged {} of {}, supported wrongly flagged {}",
        s.precision, s.correct, s.attributed, s.recall, s.correct, s.labelled, s.flagged, s.unsupported, s.wrongly_flagged
    );
}

fn evidence_run(assistant: &Assistant, file: &Path, answers: bool) -> Result<EvidenceScores> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let set: QuestionSet =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    let mut documents: Vec<PathBuf> = Vec::new();
    for q in &set.questions {
        let path = std::fs::canonicalize(&q.file)
            .with_context(|| format!("{}: {}", file.display(), q.file.display()))?;
        if !documents.contains(&path) {
            documents.push(path);
        }
    }
    let report = assistant.ingest(&documents, &mut |_| {})?;
    if let Some((path, error)) = report.failed.first() {
        anyhow::bail!("{}: could not be indexed: {error}", path.display());
    }

    let mut s = EvidenceScores {
        questions: set.questions.len(),
        answered: answers.then_some((0, 0)),
        ..EvidenceScores::default()
    };
    for q in &set.questions {
        let path = std::fs::canonicalize(&q.file)?;
        let retrieval = assistant.retrieve(&q.question)?;
        let first_ok = retrieval
            .passages
            .first()
            .is_some_and(|p| Path::new(&p.path) == path);
        let t = Instant::now();
        let grounding = Grounding::new(
            assistant.embedder(),
            &q.question,
            &q.question,
            &retrieval.passages,
        )?;
        let quotes = grounding.evidence(3);
        s.evidence_ms += t.elapsed().as_secs_f64() * 1000.0;
        let holds = |text: &str| normalised(text).contains(&normalised(&q.expect));
        let format = match s.per_format.iter_mut().find(|(f, _, _)| *f == q.format) {
            Some(entry) => entry,
            None => {
                s.per_format.push((q.format.clone(), 0, 0));
                s.per_format.last_mut().expect("just pushed")
            }
        };
        if first_ok {
            s.right_first += 1;
            format.1 += 1;
            if quotes.first().is_some_and(|e| holds(&e.text)) {
                s.top_holds += 1;
                format.2 += 1;
            } else {
                s.misses.push(format!(
                    "{:?}: top quote {:?}",
                    q.question,
                    quotes.first().map(|e| e.text.as_str()).unwrap_or("(none)")
                ));
            }
            if quotes.iter().any(|e| holds(&e.text)) {
                s.any_holds += 1;
            }
        } else {
            s.misses.push(format!(
                "{:?}: source [1] is {}",
                q.question,
                retrieval
                    .passages
                    .first()
                    .map(|p| p.path.as_str())
                    .unwrap_or("(none)")
            ));
        }
        if let Some((right, asked)) = &mut s.answered {
            let answer = assistant.ask(&q.question, &[], &CancelFlag::default(), &mut |_| {})?;
            *asked += 1;
            *right += usize::from(holds(&answer.answer));
        }
    }
    Ok(s)
}

/// Lower case, runs of whitespace as one space.
fn normalised(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn percent(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        100.0 * a as f64 / b as f64
    }
}

fn report(
    machine: &str,
    started: &chrono::DateTime<chrono::Utc>,
    set: &LabelledSet,
    s: &AttributionScores,
    t: &Thresholds,
    e: &EvidenceScores,
    args: &GroundingArgs,
) -> String {
    let mut out = String::new();
    out.push_str("## Grounding: quoted evidence and sentence attribution (issue 12)\n\n");
    out.push_str(&format!(
        "`almanac bench grounding --write docs/BENCHMARKS.md`, {}; {machine}. Model-independent: \
         nothing here depends on what the chat model writes.\n\n",
        started.format("%Y-%m-%d %H:%M UTC")
    ));
    out.push_str(&format!(
        "**Sentence attribution** on {} labelled answer sentences in {} prompts (`{}`: verbatim, \
         paraphrased, wrong-number, swapped-name, invented and generic sentences), with the \
         thresholds in the code (lexical weight {}, minimum score {}, margin {}):\n\n",
        set.sentence_count(),
        set.groups.len(),
        args.attribution.display(),
        t.lexical_weight,
        t.min_score,
        t.margin
    ));
    out.push_str("| precision | recall | unsupported sentences flagged | supported sentences wrongly flagged |\n|---|---|---|---|\n");
    out.push_str(&format!(
        "| {:.3} ({} of {} attributions) | {:.3} ({} of {} labelled) | {} of {} | {} of {} |\n\n",
        s.precision,
        s.correct,
        s.attributed,
        s.recall,
        s.correct,
        s.labelled,
        s.flagged,
        s.unsupported,
        s.wrongly_flagged,
        s.sentences - s.unsupported
    ));
    out.push_str("The thresholds were chosen on this same set (`--tune`: best F1 over a grid), so these figures are in-sample.\n\n");
    out.push_str(&format!(
        "**Quoted evidence** on {} questions over real documents (`{}`: PDF, DOCX, HTML, CSV, \
         Markdown from `../shared/data`, all in one library): the right document's passage was \
         source [1] for {}; of those, the top quote holds the answer for **{} ({:.1}%)**, one of \
         the (up to 3) quotes for {}. Finding the evidence took {:.0} ms per question on average.\n\n",
        e.questions,
        args.evidence.display(),
        e.right_first,
        e.top_holds,
        percent(e.top_holds, e.right_first),
        e.any_holds,
        e.evidence_ms / e.questions.max(1) as f64
    ));
    out.push_str("| format | right passage first | top quote holds the answer |\n|---|---|---|\n");
    for (format, first, holds) in &e.per_format {
        out.push_str(&format!("| {format} | {first} | {holds} |\n"));
    }
    if let Some((right, asked)) = e.answered {
        out.push_str(&format!(
            "\nThe default chat model's own answers held the expected text for {right} of {asked} questions.\n"
        ));
    }
    if !e.misses.is_empty() {
        out.push_str("\nMisses:\n\n");
        for m in &e.misses {
            out.push_str(&format!("- {}\n", m.replace('|', "\\|")));
        }
    }
    out
}
