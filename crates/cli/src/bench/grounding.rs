//! `almanac bench grounding`: how far answers can be trusted whatever the model writes. Sentence
//! attribution on the labelled sentences (precision, recall, unsupported sentences flagged), and
//! quoted evidence on questions over real documents (how often the top quote holds the answer when
//! the right document's passage is source [1]); with `--answers`, the model's own answers beside it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use almanac_core::grounding::measure::{self, AttributionScores, LabelledSet};
use almanac_core::{Assistant, CancelFlag, EvidenceWeights, Grounding, Paths, Thresholds};
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
    /// Also measure evidence found from this many candidate sentences (the best by words, the
    /// only ones embedded before the first token), comma-separated; 0 means every sentence
    #[arg(long, value_delimiter = ',')]
    candidates: Vec<usize>,
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
    /// Other strings that answer the question as well.
    #[serde(default)]
    also_expect: Vec<String>,
    /// Other documents holding the same text.
    #[serde(default)]
    also_files: Vec<PathBuf>,
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
    tuning: Option<Tuning>,
    per_format: Vec<(String, usize, usize)>,
    evidence_ms: f64,
    by_candidates: Vec<CandidateRun>,
}

/// Passages with more sentences than this are "long" in the candidates figures.
const LONG_PASSAGES: usize = 48;

/// Evidence found from a number of candidate sentences (0: all of them).
#[derive(Default)]
struct CandidateRun {
    candidates: usize,
    /// Top quotes holding the answer, and the mean time to find them, over all questions.
    hits: usize,
    ms: f64,
    /// The same over the questions whose passages have over `LONG_PASSAGES` sentences.
    long: usize,
    long_hits: usize,
    long_ms: f64,
}

impl CandidateRun {
    fn label(&self) -> String {
        match self.candidates {
            0 => "all".into(),
            k => k.to_string(),
        }
    }
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
    let measured = measure::measure(&assistant.embedder(), &set)?;
    let defaults = Thresholds::default();
    let scores = measure::score(&measured, &defaults);
    println!(
        "attribution, {} labelled sentences, defaults {defaults:?}:",
        set.sentence_count()
    );
    print_attribution(&scores);
    let mut held_out = None;
    if args.tune {
        let (best, best_scores) = measure::tune(&measured);
        println!("best on this set: {best:?}");
        print_attribution(&best_scores);
        // Chosen on each half of the sentences, scored on the other half.
        let halves: Vec<Vec<measure::Measured>> = (0..2)
            .map(|h| measured.iter().skip(h).step_by(2).cloned().collect())
            .collect();
        let (on_even, _) = measure::tune(&halves[0]);
        let (on_odd, _) = measure::tune(&halves[1]);
        let a = measure::score(&halves[1], &on_even);
        let b = measure::score(&halves[0], &on_odd);
        let pr = (
            ratio(a.correct + b.correct, a.attributed + b.attributed),
            ratio(a.correct + b.correct, a.labelled + b.labelled),
        );
        println!(
            "held out (chosen on one half, scored on the other): precision {:.3}, recall {:.3}",
            pr.0, pr.1
        );
        held_out = Some(pr);
    }

    let evidence = evidence_run(&assistant, &args, args.tune)?;
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
    if let Some(t) = &evidence.tuning {
        println!(
            "best evidence weights on these questions: {:?}: top quote holds the answer in {} of {}; chosen on one half and scored on the other: {} of {}",
            t.best, t.best_hits, t.cases, t.held_out_hits, t.cases
        );
    }

    if let Some(file) = &args.write {
        let attribution = AttributionReport {
            set: &set,
            scores: &scores,
            thresholds: &defaults,
            held_out,
        };
        let body = report(&machine, &started, &attribution, &evidence, &args);
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

fn evidence_run(assistant: &Assistant, args: &GroundingArgs, tune: bool) -> Result<EvidenceScores> {
    let (file, answers) = (args.evidence.as_path(), args.answers);
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let set: QuestionSet =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    let mut documents: Vec<PathBuf> = Vec::new();
    for q in &set.questions {
        for f in std::iter::once(&q.file).chain(&q.also_files) {
            let path = std::fs::canonicalize(f)
                .with_context(|| format!("{}: {}", file.display(), f.display()))?;
            if !documents.contains(&path) {
                documents.push(path);
            }
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
    let mut retrievals = Vec::new();
    for q in &set.questions {
        retrievals.push(assistant.retrieve(&q.question)?);
    }
    let mut cases = Vec::new();
    for (q, retrieval) in set.questions.iter().zip(&retrievals) {
        let mut right_files = vec![std::fs::canonicalize(&q.file)?];
        for other in &q.also_files {
            right_files.push(std::fs::canonicalize(other)?);
        }
        let first_ok = retrieval
            .passages
            .first()
            .is_some_and(|p| right_files.iter().any(|f| Path::new(&p.path) == f));
        let t = Instant::now();
        let grounding = Grounding::new(
            &assistant.embedder(),
            &q.question,
            &q.question,
            &retrieval.passages,
        )?;
        let quotes = grounding.evidence(3);
        s.evidence_ms += t.elapsed().as_secs_f64() * 1000.0;
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
            if quotes.first().is_some_and(|e| q.holds(&e.text)) {
                s.top_holds += 1;
                format.2 += 1;
            } else {
                s.misses
                    .push(format!("{:?}: quotes {}", q.question, shown(&quotes)));
            }
            if quotes.iter().any(|e| q.holds(&e.text)) {
                s.any_holds += 1;
            }
            cases.push((q, grounding));
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
            *right += usize::from(q.holds(&answer.answer));
        }
    }
    if tune {
        s.tuning = Some(tune_weights(&cases));
    }
    // Questions whose passages have more sentences than any candidate count tried: where the
    // number of candidates changes what is embedded before the first token.
    let long: Vec<bool> = cases
        .iter()
        .map(|(_, g)| g.sentence_count() > LONG_PASSAGES)
        .collect();
    let long_count = long.iter().filter(|l| **l).count();
    for &k in &args.candidates {
        let limit = if k == 0 { usize::MAX } else { k };
        let mut c = CandidateRun {
            candidates: k,
            ..CandidateRun::default()
        };
        for ((q, g), &is_long) in cases.iter().zip(&long) {
            let started = Instant::now();
            let g = Grounding::with_candidates(
                &assistant.embedder(),
                &q.question,
                &q.question,
                g.passages(),
                limit,
            )?;
            let hit = g.evidence(1).first().is_some_and(|e| q.holds(&e.text));
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            c.hits += usize::from(hit);
            c.ms += ms / cases.len() as f64;
            if is_long {
                c.long_hits += usize::from(hit);
                c.long_ms += ms / long_count as f64;
            }
        }
        c.long = long_count;
        println!(
            "evidence from {} candidates: top quote holds the answer in {} of {}, {:.0} ms per question; on the {} with over {LONG_PASSAGES} sentences: {} hold it, {:.0} ms",
            c.label(),
            c.hits,
            cases.len(),
            c.ms,
            c.long,
            c.long_hits,
            c.long_ms
        );
        s.by_candidates.push(c);
    }
    Ok(s)
}

impl Question {
    /// Whether `text` holds the answer (one of the expected strings).
    fn holds(&self, text: &str) -> bool {
        let text = normalised(text);
        std::iter::once(&self.expect)
            .chain(&self.also_expect)
            .any(|e| text.contains(&normalised(e)))
    }
}

fn shown(quotes: &[almanac_core::Evidence]) -> String {
    if quotes.is_empty() {
        return "(none)".into();
    }
    quotes
        .iter()
        .map(|e| {
            format!(
                "{:?} (score {:.3}, words {:.2}, meaning {:.2})",
                e.text, e.score, e.lexical, e.semantic
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The weights with the most top quotes holding the answer, over a grid: chosen on all questions,
/// and (for an honest figure) on each half of them, scored on the other half.
fn tune_weights(cases: &[(&Question, Grounding<'_>)]) -> Tuning {
    let hits = |w: &EvidenceWeights, half: Option<usize>| -> usize {
        cases
            .iter()
            .enumerate()
            .filter(|(i, _)| half.is_none_or(|h| i % 2 == h))
            .filter(|(_, (q, g))| {
                g.evidence_with(1, w)
                    .first()
                    .is_some_and(|e| q.holds(&e.text))
            })
            .count()
    };
    let mut grid = Vec::new();
    for lexical in [0.3, 0.4, 0.5, 0.6, 0.7, 0.8] {
        for answer_kind_bonus in [0.0, 0.05, 0.1, 0.15, 0.2] {
            for rank_prior in [0.0, 0.04, 0.08] {
                for number in [1.0, 1.5, 3.0] {
                    for name in [1.0, 2.0] {
                        for form_field in [0.0, 0.1, 0.2, 0.3] {
                            grid.push(EvidenceWeights {
                                lexical,
                                answer_kind_bonus,
                                rank_prior,
                                form_field,
                                number,
                                name,
                                unit: 1.5,
                            });
                        }
                    }
                }
            }
        }
    }
    // Ties go to the first in grid order, never to the defaults, so the held-out figure does not
    // lean on weights chosen with all the questions.
    let best_on = |half: Option<usize>| -> EvidenceWeights {
        let mut best = (0, grid[0]);
        for w in &grid {
            let h = hits(w, half);
            if h > best.0 {
                best = (h, *w);
            }
        }
        best.1
    };
    let best = best_on(None);
    let (even, odd) = (best_on(Some(0)), best_on(Some(1)));
    Tuning {
        best,
        best_hits: hits(&best, None),
        held_out_hits: hits(&even, Some(1)) + hits(&odd, Some(0)),
        cases: cases.len(),
    }
}

/// What `--tune` found for the evidence weights.
struct Tuning {
    best: EvidenceWeights,
    best_hits: usize,
    /// Top quotes holding the answer on each half with the weights chosen on the other half.
    held_out_hits: usize,
    cases: usize,
}

/// Lower case, runs of whitespace as one space.
fn normalised(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn percent(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        100.0 * a as f64 / b as f64
    }
}

/// What the attribution run found, for the report.
struct AttributionReport<'a> {
    set: &'a LabelledSet,
    scores: &'a AttributionScores,
    thresholds: &'a Thresholds,
    /// Precision and recall with thresholds chosen on the other half of the sentences.
    held_out: Option<(f64, f64)>,
}

fn report(
    machine: &str,
    started: &chrono::DateTime<chrono::Utc>,
    a: &AttributionReport<'_>,
    e: &EvidenceScores,
    args: &GroundingArgs,
) -> String {
    let (set, s, t, held_out) = (a.set, a.scores, a.thresholds, a.held_out);
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
    out.push_str("The thresholds were checked on this same set (`--tune`: no point of the grid has a better F1), so these figures are in-sample");
    match held_out {
        Some((p, r)) => out.push_str(&format!(
            "; chosen on one half of the sentences and scored on the other, precision {p:.3} and recall {r:.3}.\n\n"
        )),
        None => out.push_str(".\n\n"),
    }
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
    if let Some(t) = &e.tuning {
        out.push_str(&format!(
            "\nThe ranking weights in the code were chosen on these questions (`--tune`, a grid): \
             {} of {} top quotes hold the answer with them; chosen on one half of the questions \
             and scored on the other half, {} of {} ({:.1}%), the figure to expect on new questions.\n",
            t.best_hits,
            t.cases,
            t.held_out_hits,
            t.cases,
            percent(t.held_out_hits, t.cases)
        ));
    }
    if let Some(first) = e.by_candidates.first() {
        out.push_str(&format!(
            "\nOnly the {} sentences sharing the most words with the question are embedded before \
             the first token (the rest when the answer is attributed, after it has streamed). \
             Evidence from that many candidates against other numbers, on the {} questions whose \
             right passage is source [1], {} of them with over {LONG_PASSAGES} sentences in their \
             passages (`--candidates`):\n\n\
             | candidates | top quote holds the answer | ms per question | long passages: holds | long passages: ms |\n|---|---|---|---|---|\n",
            almanac_core::grounding::EVIDENCE_CANDIDATES,
            e.right_first,
            first.long
        ));
        for c in &e.by_candidates {
            out.push_str(&format!(
                "| {} | {} | {:.0} | {} | {:.0} |\n",
                c.label(),
                c.hits,
                c.ms,
                c.long_hits,
                c.long_ms
            ));
        }
    }
    if let Some((right, asked)) = e.answered {
        out.push_str(&format!(
            "\nThe default chat model's own answers (the prompt and generation as they are on this \
             branch) held the expected text for {right} of {asked} questions ({:.1}%).\n",
            percent(right, asked)
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
