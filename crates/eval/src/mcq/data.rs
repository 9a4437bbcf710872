//! MMLU and KMMLU as their authors publish them: one CSV per subject and split, in `dev/` (the
//! k-shot examples) and `test/` (the questions scored).
//!
//! MMLU (Hendrycks et al.): `dev/<subject>_dev.csv`, `test/<subject>_test.csv`, no header, columns
//! question, A, B, C, D, answer letter. KMMLU (HAERAE-HUB): `dev/<Subject>-dev.csv`,
//! `test/<Subject>-test.csv` with a header naming `question`, `answer` (1-4), `A`, `B`, `C`, `D`
//! among others, read by name because the files do not agree on the order (math's last two
//! columns are swapped).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Mmlu,
    Kmmlu,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Mmlu => "MMLU",
            Format::Kmmlu => "KMMLU",
        }
    }

    /// The file of `subject`'s `split` ("dev" or "test").
    fn file(self, dir: &Path, subject: &str, split: &str) -> PathBuf {
        let name = match self {
            Format::Mmlu => format!("{subject}_{split}.csv"),
            Format::Kmmlu => format!("{subject}-{split}.csv"),
        };
        dir.join(split).join(name)
    }

    /// The subject a test file holds, from its name.
    fn subject_of(self, file_name: &str) -> Option<&str> {
        match self {
            Format::Mmlu => file_name.strip_suffix("_test.csv"),
            Format::Kmmlu => file_name.strip_suffix("-test.csv"),
        }
    }
}

/// One four-option question; `answer` is 0 for A … 3 for D.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub question: String,
    pub choices: [String; 4],
    pub answer: usize,
}

#[derive(Debug, Clone)]
pub struct Subject {
    /// As in the file names: `abstract_algebra`, `Accounting`, `korean-history`.
    pub name: String,
    /// The k-shot examples, in file order.
    pub dev: Vec<Question>,
    pub test: Vec<Question>,
}

/// The subjects in `dir` (every test file, sorted by name, or only those named), each with its
/// dev examples and its test questions.
pub fn load(dir: &Path, format: Format, only: &[String]) -> Result<Vec<Subject>> {
    let test_dir = dir.join("test");
    let entries = std::fs::read_dir(&test_dir).map_err(Error::io(&test_dir))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io(&test_dir))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if let Some(subject) = format.subject_of(&file_name) {
            names.push(subject.to_string());
        }
    }
    names.sort();
    if names.is_empty() {
        return Err(Error::data(
            &test_dir,
            format!(
                "no {} test files (e.g. {})",
                format.name(),
                example_name(format)
            ),
        ));
    }
    if let Some(unknown) = only.iter().find(|s| !names.contains(s)) {
        return Err(Error::argument(
            "subjects",
            format!("{unknown:?} is not a subject in {}", test_dir.display()),
        ));
    }
    names
        .into_iter()
        .filter(|name| only.is_empty() || only.contains(name))
        .map(|name| {
            let dev = read_questions(&format.file(dir, &name, "dev"), format)?;
            let test = read_questions(&format.file(dir, &name, "test"), format)?;
            Ok(Subject { name, dev, test })
        })
        .collect()
}

fn example_name(format: Format) -> &'static str {
    match format {
        Format::Mmlu => "test/anatomy_test.csv",
        Format::Kmmlu => "test/Accounting-test.csv",
    }
}

/// Every row of one CSV file as a question.
pub fn read_questions(path: &Path, format: Format) -> Result<Vec<Question>> {
    let file = std::fs::File::open(path).map_err(Error::io(path))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(format == Format::Kmmlu)
        .flexible(false)
        .from_reader(std::io::BufReader::new(file));
    let columns = match format {
        Format::Mmlu => Columns::MMLU,
        Format::Kmmlu => {
            let header = reader
                .headers()
                .map_err(|e| Error::data(path, format!("header: {e}")))?;
            Columns::by_name(header, path)?
        }
    };
    let mut questions = Vec::new();
    for (i, record) in reader.records().enumerate() {
        // The line a user sees in an editor: 1-based, after the header if there is one.
        let line = i + 1 + usize::from(format == Format::Kmmlu);
        let record = record.map_err(|e| Error::data(path, format!("row {line}: {e}")))?;
        let field = |index: usize| -> Result<String> {
            record.get(index).map(str::to_string).ok_or_else(|| {
                Error::data(path, format!("row {line}: only {} columns", record.len()))
            })
        };
        let answer_text = field(columns.answer)?;
        let answer = parse_answer(format, answer_text.trim()).ok_or_else(|| {
            Error::data(
                path,
                format!(
                    "row {line}: answer {answer_text:?} is not {}",
                    answer_kinds(format)
                ),
            )
        })?;
        questions.push(Question {
            question: field(columns.question)?,
            choices: [
                field(columns.choices[0])?,
                field(columns.choices[1])?,
                field(columns.choices[2])?,
                field(columns.choices[3])?,
            ],
            answer,
        });
    }
    Ok(questions)
}

fn parse_answer(format: Format, text: &str) -> Option<usize> {
    match format {
        Format::Mmlu => ["A", "B", "C", "D"].iter().position(|l| *l == text),
        Format::Kmmlu => match text.parse::<usize>() {
            Ok(n @ 1..=4) => Some(n - 1),
            _ => None,
        },
    }
}

fn answer_kinds(format: Format) -> &'static str {
    match format {
        Format::Mmlu => "one of A, B, C, D",
        Format::Kmmlu => "one of 1, 2, 3, 4",
    }
}

/// Where each field is in a row.
struct Columns {
    question: usize,
    choices: [usize; 4],
    answer: usize,
}

impl Columns {
    const MMLU: Columns = Columns {
        question: 0,
        choices: [1, 2, 3, 4],
        answer: 5,
    };

    fn by_name(header: &csv::StringRecord, path: &Path) -> Result<Columns> {
        let find = |name: &str| {
            header
                .iter()
                .position(|h| h.trim() == name)
                .ok_or_else(|| Error::data(path, format!("the header has no {name:?} column")))
        };
        Ok(Columns {
            question: find("question")?,
            choices: [find("A")?, find("B")?, find("C")?, find("D")?],
            answer: find("answer")?,
        })
    }
}
