//! `almanac eval mcq`: a model's MMLU or KMMLU accuracy, k-shot, scored by the log-probability of
//! the answer letter (see `scoring`), with prompts laid out as the benchmarks' reference code
//! does (see `prompt`).
//!
//! Subjects run in turn and each subject's questions in file order, so consecutive prompts share
//! the header and the k examples: the engine's prompt cache keeps their keys and values and each
//! question computes only its own tokens.

mod categories;
pub mod data;
pub mod prompt;
mod report;
pub mod scoring;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Instant;

use almanac_engine::{CancelFlag, ChatModel};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use categories::category;
pub use data::{Format, Question, Subject};
pub use report::{CategoryScore, McqReport, SubjectScore};
pub use scoring::{LetterTokens, Scored};

use crate::error::{Error, Result};
use crate::progress::{Pace, Progress};
use crate::run_log::RunLog;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct McqOptions {
    /// The folder holding `dev/` and `test/`.
    pub data: PathBuf,
    pub format: Format,
    pub shots: usize,
    /// Only these subjects (as in the file names); empty: all.
    pub subjects: Vec<String>,
    /// Only the first N test questions of each subject.
    pub limit: Option<usize>,
}

/// One scored question, as the run log keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QuestionResult {
    pub subject: String,
    /// The row in the subject's test file, from 0.
    pub index: usize,
    pub answer: usize,
    pub choice: usize,
    /// Log-probabilities of " A" … " D".
    pub logprobs: [f64; 4],
    /// Examples in the prompt: fewer than asked when the prompt had to fit the context window.
    pub shots: usize,
    pub prompt_tokens: usize,
    pub seconds: f64,
}

pub enum Outcome {
    Finished {
        report: Box<McqReport>,
        results: Vec<QuestionResult>,
    },
    /// Cancelled: what was done is in the run log, and the same options resume it.
    Stopped { done: usize, total: usize },
}

/// The most examples a subject can give: MMLU and KMMLU have five dev questions each.
pub fn check_shots(subjects: &[Subject], shots: usize) -> Result<()> {
    match subjects.iter().find(|s| s.dev.len() < shots) {
        Some(s) => Err(Error::argument(
            "shots",
            format!(
                "{shots} examples asked for but {} has {} dev questions",
                s.name,
                s.dev.len()
            ),
        )),
        None => Ok(()),
    }
}

/// The run log for `options` with `model`: one per configuration, under `runs_dir`.
pub fn log_path(runs_dir: &Path, options: &McqOptions, model: &ChatModel) -> PathBuf {
    let hash = Sha256::digest(config(options, model).to_string().as_bytes());
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    runs_dir.join(format!("mcq-{hex}.jsonl"))
}

fn config(options: &McqOptions, model: &ChatModel) -> serde_json::Value {
    let size = std::fs::metadata(model.path())
        .map(|m| m.len())
        .unwrap_or(0);
    serde_json::json!({
        "options": options,
        "model": model.path(),
        "model_bytes": size,
        "context_length": model.context_length(),
    })
}

/// Scores every selected question not already in the log at `log_path`, reporting progress after
/// each; stops between questions when `cancel` is set.
pub fn run(
    model: &mut ChatModel,
    options: &McqOptions,
    log_path: &Path,
    cancel: &CancelFlag,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Outcome> {
    let subjects = data::load(&options.data, options.format, &options.subjects)?;
    check_shots(&subjects, options.shots)?;
    let model_name = model
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let letters = LetterTokens::of(model.tokenizer(), &model_name)?;
    let (mut log, mut results) = RunLog::<QuestionResult>::open(log_path, &config(options, model))?;
    let selected = |s: &Subject| options.limit.map_or(s.test.len(), |n| n.min(s.test.len()));
    let total: usize = subjects.iter().map(selected).sum();
    let pace = Pace::start(results.len());
    let done_before: std::collections::HashSet<(String, usize)> = results
        .iter()
        .map(|r| (r.subject.clone(), r.index))
        .collect();

    for subject in &subjects {
        for (index, question) in subject.test.iter().take(selected(subject)).enumerate() {
            if done_before.contains(&(subject.name.clone(), index)) {
                continue;
            }
            if cancel.is_cancelled() {
                return Ok(Outcome::Stopped {
                    done: results.len(),
                    total,
                });
            }
            let started = Instant::now();
            let (ids, shots) = fitted_prompt(model, options, subject, question)?;
            let logits = model.next_token_logits(&ids)?;
            let scored = scoring::score(&logits, letters);
            let result = QuestionResult {
                subject: subject.name.clone(),
                index,
                answer: question.answer,
                choice: scored.choice,
                logprobs: scored.logprobs,
                shots,
                prompt_tokens: ids.len(),
                seconds: started.elapsed().as_secs_f64(),
            };
            log.append(&result)?;
            results.push(result);
            on_progress(&pace.progress(results.len(), total, &subject.name));
        }
    }
    let names: Vec<String> = subjects.iter().map(|s| s.name.clone()).collect();
    // The log's order is the order of work, which a resumed run changes: sort for the report.
    let order = |r: &QuestionResult| (names.iter().position(|n| n == &r.subject), r.index);
    results.sort_by_key(order);
    let header = report::Header {
        format: options.format,
        model: model_name,
        shots: options.shots,
        context_length: model.context_length(),
        limit: options.limit,
        data: options.data.display().to_string(),
    };
    let report = report::summarise(header, &names, &results);
    log.remove()?;
    Ok(Outcome::Finished {
        report: Box::new(report),
        results,
    })
}

/// The prompt's tokens with as many examples as fit the context window (Hendrycks et al. drop
/// examples from the end the same way when a prompt is too long), and how many that is.
fn fitted_prompt(
    model: &ChatModel,
    options: &McqOptions,
    subject: &Subject,
    question: &Question,
) -> Result<(Vec<u32>, usize)> {
    let mut shots = options.shots;
    loop {
        let text = prompt::build(
            options.format,
            &subject.name,
            &subject.dev[..shots],
            question,
        );
        let ids = model.tokenizer().encode(&text, false)?;
        if ids.len() < model.context_length() {
            return Ok((ids, shots));
        }
        if shots == 0 {
            return Err(Error::argument(
                "question",
                format!(
                    "{} test row {}: {} tokens without examples, over the context window of {}",
                    subject.name,
                    subject.test.iter().position(|q| q == question).unwrap_or(0) + 1,
                    ids.len(),
                    model.context_length()
                ),
            ));
        }
        shots -= 1;
    }
}
