//! `almanac eval qa`: what retrieval adds to answers. Each question is answered twice by the same
//! assistant, greedily: without retrieval (the model alone) and with it, over a library of the
//! set's documents. Scored with SQuAD's exact match and F1 (`metrics`), whether the answer holds a
//! gold answer, and with retrieval: whether a gold document is among the sources, whether the
//! passages the model cited hold the answer, and whether Almanac's quoted evidence does.

mod assistant;
pub mod metrics;
pub mod set;

use std::path::{Path, PathBuf};
use std::time::Instant;

use almanac_core::{AnswerOptions, Assistant, CancelFlag, Sampling};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use assistant::open_for_set;
pub use set::{Builtin, QaItem, QaSet};

use crate::error::{Error, Result};
use crate::progress::{Pace, Progress};
use crate::run_log::RunLog;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaOptions {
    /// Most tokens in each answer.
    pub max_tokens: usize,
    /// Only the first N questions.
    pub limit: Option<usize>,
}

impl Default for QaOptions {
    fn default() -> Self {
        QaOptions {
            max_tokens: 96,
            limit: None,
        }
    }
}

/// One question answered one way, as the run log keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QaRecord {
    pub id: String,
    pub retrieval: bool,
    pub question: String,
    pub answer: String,
    pub exact_match: f64,
    pub f1: f64,
    /// A gold answer appears in the answer as whole words.
    pub contains_answer: bool,
    /// With retrieval: the sources' document paths, in rank order.
    pub sources: Vec<String>,
    /// With retrieval: a gold document is among the sources.
    pub gold_retrieved: Option<bool>,
    /// The sources the model cited, and how many of those hold a gold answer.
    pub cited: Vec<usize>,
    pub cited_with_answer: usize,
    /// With retrieval: Almanac's quoted evidence holds a gold answer.
    pub evidence_holds_answer: Option<bool>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QaReport {
    pub set: String,
    pub model: String,
    pub questions: usize,
    pub documents: usize,
    pub max_tokens: usize,
    pub with_retrieval: ModeScores,
    pub without_retrieval: ModeScores,
    /// With minus without.
    pub gain: Gain,
    pub seconds: f64,
    pub finished_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModeScores {
    pub exact_match: f64,
    pub f1: f64,
    /// Share of answers holding a gold answer.
    pub contains_answer: f64,
    /// Share of questions with a gold document among the sources.
    pub retrieval_hit_rate: Option<f64>,
    /// Of the sources the model cited, the share holding a gold answer (`None`: nothing cited).
    pub citation_precision: Option<f64>,
    /// Questions whose answer cited a source.
    pub cited_questions: usize,
    /// Share of questions whose quoted evidence holds a gold answer.
    pub evidence_holds_answer: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Gain {
    pub exact_match: f64,
    pub f1: f64,
    pub contains_answer: f64,
}

pub enum Outcome {
    Finished {
        report: Box<QaReport>,
        records: Vec<QaRecord>,
    },
    Stopped {
        done: usize,
        total: usize,
    },
}

/// The library folder (a data directory of its own) for `set`, under `libraries_dir`: kept, so a
/// second run or a resumed one does not index the documents again.
pub fn library_dir(libraries_dir: &Path, set: &QaSet) -> PathBuf {
    let hash = Sha256::digest(set.path.to_string_lossy().as_bytes());
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    libraries_dir.join(format!("qa-{hex}"))
}

/// The run log for `set` with `options` and the assistant's chat model.
pub fn log_path(
    runs_dir: &Path,
    set: &QaSet,
    options: &QaOptions,
    assistant: &Assistant,
) -> PathBuf {
    let hash = Sha256::digest(config(set, options, assistant).to_string().as_bytes());
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    runs_dir.join(format!("qa-{hex}.jsonl"))
}

fn config(set: &QaSet, options: &QaOptions, assistant: &Assistant) -> serde_json::Value {
    let settings = assistant.settings();
    serde_json::json!({
        "set": set.path,
        "items": set.items,
        "library": set.library,
        "options": options,
        "chat_model": assistant.chat_model_path(),
        "embedding_model": settings.embedding_model,
        "sources": settings.sources,
        "backend": format!("{:?}", settings.backend),
    })
}

/// Indexes the set's documents into the assistant's library (unchanged ones are skipped), then
/// answers every question without and with retrieval, logging each answer as it comes.
pub fn run(
    assistant: &Assistant,
    set: &QaSet,
    options: &QaOptions,
    log_path: &Path,
    cancel: &CancelFlag,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Outcome> {
    let documents = set.documents();
    let ingested = assistant.ingest(&documents, &mut |_| {})?;
    if let Some((path, error)) = ingested.failed.first() {
        return Err(Error::data(path, format!("could not be indexed: {error}")));
    }
    let items: Vec<&QaItem> = set
        .items
        .iter()
        .take(options.limit.unwrap_or(usize::MAX))
        .collect();
    let (mut log, mut records) =
        RunLog::<QaRecord>::open(log_path, &config(set, options, assistant))?;
    let total = items.len() * 2;
    let pace = Pace::start(records.len());
    for retrieval in [false, true] {
        let stage = if retrieval {
            "with retrieval"
        } else {
            "without retrieval"
        };
        for item in &items {
            if records
                .iter()
                .any(|r| r.id == item.id && r.retrieval == retrieval)
            {
                continue;
            }
            if cancel.is_cancelled() {
                return Ok(Outcome::Stopped {
                    done: records.len(),
                    total,
                });
            }
            let record = answer(assistant, item, retrieval, options, cancel)?;
            log.append(&record)?;
            records.push(record);
            on_progress(&pace.progress(records.len(), total, stage));
        }
    }
    let order = |r: &QaRecord| (r.retrieval, items.iter().position(|i| i.id == r.id));
    records.sort_by_key(order);
    let report = summarise(set, options, assistant, documents.len(), &records);
    log.remove()?;
    Ok(Outcome::Finished {
        report: Box::new(report),
        records,
    })
}

fn answer(
    assistant: &Assistant,
    item: &QaItem,
    retrieval: bool,
    options: &QaOptions,
    cancel: &CancelFlag,
) -> Result<QaRecord> {
    let started = Instant::now();
    let answer_options = AnswerOptions {
        retrieval,
        // Greedy: the same command with the same model gives the same answers.
        sampling: Sampling {
            max_tokens: Some(options.max_tokens),
            temperature: Some(0.0),
            seed: Some(0),
            ..Sampling::default()
        },
        ..AnswerOptions::default()
    };
    let answer = assistant.answer(&item.question, &[], &answer_options, cancel, &mut |_| {})?;
    let text = metrics::strip_citations(&answer.answer);
    let passages = &answer.retrieval.passages;
    let sources: Vec<String> = passages.iter().map(|p| p.path.clone()).collect();
    let gold: Vec<String> = item
        .documents
        .iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect();
    let holds = |text: &str| metrics::contains(text, &item.answers);
    let cited_with_answer = answer
        .cited
        .iter()
        .filter(|&&n| passages.iter().any(|p| p.n == n && holds(&p.text)))
        .count();
    Ok(QaRecord {
        id: item.id.clone(),
        retrieval,
        question: item.question.clone(),
        exact_match: metrics::exact_match(&text, &item.answers),
        f1: metrics::f1(&text, &item.answers),
        contains_answer: holds(&text),
        gold_retrieved: retrieval.then(|| sources.iter().any(|s| gold.contains(s))),
        cited: answer.cited.clone(),
        cited_with_answer,
        evidence_holds_answer: retrieval.then(|| answer.evidence.iter().any(|e| holds(&e.text))),
        sources,
        answer: answer.answer,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn summarise(
    set: &QaSet,
    options: &QaOptions,
    assistant: &Assistant,
    documents: usize,
    records: &[QaRecord],
) -> QaReport {
    let scores = |retrieval: bool| {
        let mine: Vec<&QaRecord> = records
            .iter()
            .filter(|r| r.retrieval == retrieval)
            .collect();
        let share = |f: &dyn Fn(&QaRecord) -> f64| {
            if mine.is_empty() {
                0.0
            } else {
                mine.iter().map(|r| f(r)).sum::<f64>() / mine.len() as f64
            }
        };
        let cited: usize = mine.iter().map(|r| r.cited.len()).sum();
        let cited_with: usize = mine.iter().map(|r| r.cited_with_answer).sum();
        ModeScores {
            exact_match: share(&|r| r.exact_match),
            f1: share(&|r| r.f1),
            contains_answer: share(&|r| f64::from(u8::from(r.contains_answer))),
            retrieval_hit_rate: retrieval
                .then(|| share(&|r| f64::from(u8::from(r.gold_retrieved == Some(true))))),
            citation_precision: (cited > 0).then(|| cited_with as f64 / cited as f64),
            cited_questions: mine.iter().filter(|r| !r.cited.is_empty()).count(),
            evidence_holds_answer: retrieval
                .then(|| share(&|r| f64::from(u8::from(r.evidence_holds_answer == Some(true))))),
        }
    };
    let with = scores(true);
    let without = scores(false);
    QaReport {
        set: set.path.display().to_string(),
        model: assistant
            .chat_model_path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        questions: records.iter().filter(|r| r.retrieval).count(),
        documents,
        max_tokens: options.max_tokens,
        gain: Gain {
            exact_match: with.exact_match - without.exact_match,
            f1: with.f1 - without.f1,
            contains_answer: with.contains_answer - without.contains_answer,
        },
        with_retrieval: with,
        without_retrieval: without,
        seconds: records.iter().map(|r| r.seconds).sum(),
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}
