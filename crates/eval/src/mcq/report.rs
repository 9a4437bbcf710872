//! Accuracy per subject, per category and over everything, from the per-question results.

use serde::{Deserialize, Serialize};

use super::categories::category;
use super::data::Format;
use super::QuestionResult;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct McqReport {
    pub format: Format,
    /// "MMLU" or "KMMLU".
    pub benchmark: String,
    /// The model file's name.
    pub model: String,
    pub shots: usize,
    /// The context window prompts had to fit (examples dropped from the end otherwise).
    pub context_length: usize,
    /// Test questions per subject (the first N of each file), or all.
    pub limit: Option<usize>,
    pub data: String,
    pub questions: usize,
    pub correct: usize,
    /// Correct over all questions (each question weighs the same), as Hendrycks et al. and
    /// lm-evaluation-harness report it.
    pub accuracy: f64,
    /// The mean of the subjects' accuracies (each subject weighs the same).
    pub macro_accuracy: f64,
    /// Four options: 0.25 by guessing.
    pub chance: f64,
    pub subjects: Vec<SubjectScore>,
    pub categories: Vec<CategoryScore>,
    /// How often the model picked A, B, C and D (a model that always says "A" shows here).
    pub picked: [usize; 4],
    /// Questions whose prompt held fewer than `shots` examples, to fit the context window.
    pub cropped: usize,
    /// Time spent scoring, over every session of a resumed run.
    pub seconds: f64,
    pub finished_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubjectScore {
    pub subject: String,
    pub category: String,
    pub questions: usize,
    pub correct: usize,
    pub accuracy: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CategoryScore {
    pub category: String,
    pub subjects: usize,
    pub questions: usize,
    pub correct: usize,
    pub accuracy: f64,
    pub macro_accuracy: f64,
}

pub(crate) struct Header {
    pub format: Format,
    pub model: String,
    pub shots: usize,
    pub context_length: usize,
    pub limit: Option<usize>,
    pub data: String,
}

/// The report over `results`, grouped by subject in the order the subjects are listed.
pub(crate) fn summarise(
    header: Header,
    subjects: &[String],
    results: &[QuestionResult],
) -> McqReport {
    let format = header.format;
    let subject_scores: Vec<SubjectScore> = subjects
        .iter()
        .map(|subject| {
            let mine = results.iter().filter(|r| &r.subject == subject);
            let (questions, correct) = mine.fold((0, 0), |(n, c), r| {
                (n + 1, c + usize::from(r.choice == r.answer))
            });
            SubjectScore {
                subject: subject.clone(),
                category: category(format, subject).to_string(),
                questions,
                correct,
                accuracy: ratio(correct, questions),
            }
        })
        .filter(|s| s.questions > 0)
        .collect();
    let mut names: Vec<&str> = subject_scores.iter().map(|s| s.category.as_str()).collect();
    names.sort();
    names.dedup();
    let categories = names
        .into_iter()
        .map(|name| {
            let members: Vec<&SubjectScore> = subject_scores
                .iter()
                .filter(|s| s.category == name)
                .collect();
            let questions = members.iter().map(|s| s.questions).sum();
            let correct = members.iter().map(|s| s.correct).sum();
            CategoryScore {
                category: name.to_string(),
                subjects: members.len(),
                questions,
                correct,
                accuracy: ratio(correct, questions),
                macro_accuracy: mean(members.iter().map(|s| s.accuracy)),
            }
        })
        .collect();
    let questions = results.len();
    let correct = results.iter().filter(|r| r.choice == r.answer).count();
    let mut picked = [0; 4];
    for r in results {
        picked[r.choice] += 1;
    }
    McqReport {
        format,
        benchmark: format.name().into(),
        model: header.model,
        shots: header.shots,
        context_length: header.context_length,
        limit: header.limit,
        data: header.data,
        questions,
        correct,
        accuracy: ratio(correct, questions),
        macro_accuracy: mean(subject_scores.iter().map(|s| s.accuracy)),
        chance: 0.25,
        subjects: subject_scores,
        categories,
        picked,
        cropped: results.iter().filter(|r| r.shots < header.shots).count(),
        seconds: results.iter().map(|r| r.seconds).sum(),
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}
