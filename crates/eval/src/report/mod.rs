//! Finished runs as files in `eval/reports/` of the data directory: the report as JSON, a Markdown
//! page and an SVG chart, under one name (`20261205-142233-mmlu-5-shot`); listed newest first.

mod chart;
mod markdown;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::mcq::McqReport;
use crate::qa::QaReport;

/// A finished evaluation of either kind; its JSON carries `"kind": "mcq"` or `"kind": "qa"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Report {
    Mcq(McqReport),
    Qa(QaReport),
}

impl Report {
    /// One line saying what was measured.
    pub fn title(&self) -> String {
        match self {
            Report::Mcq(r) => format!(
                "{} {}-shot, {}{}",
                r.benchmark,
                r.shots,
                r.model,
                r.limit
                    .map(|n| format!(", first {n} questions per subject"))
                    .unwrap_or_default()
            ),
            Report::Qa(r) => format!(
                "Question answering with and without retrieval: {}, {}",
                set_name(&r.set),
                r.model
            ),
        }
    }

    /// The figure that sums it up: accuracy, or F1 with retrieval.
    pub fn headline(&self) -> String {
        match self {
            Report::Mcq(r) => format!("accuracy {:.4} on {} questions", r.accuracy, r.questions),
            Report::Qa(r) => format!(
                "F1 {:.3} with retrieval, {:.3} without ({:+.3})",
                r.with_retrieval.f1, r.without_retrieval.f1, r.gain.f1
            ),
        }
    }

    fn finished_at(&self) -> &str {
        match self {
            Report::Mcq(r) => &r.finished_at,
            Report::Qa(r) => &r.finished_at,
        }
    }

    fn slug(&self) -> String {
        match self {
            Report::Mcq(r) => format!("{}-{}-shot", r.benchmark.to_lowercase(), r.shots),
            Report::Qa(r) => {
                let name: String = set_name(&r.set)
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_lowercase()
                        } else {
                            '-'
                        }
                    })
                    .collect();
                format!("qa-{name}")
            }
        }
    }
}

/// A question set's name: its file's, or its folder's for a file called `set.jsonl`.
fn set_name(set_file: &str) -> String {
    let set = Path::new(set_file);
    let name = match set.file_stem().and_then(|s| s.to_str()) {
        Some("set") | None => set.parent().and_then(|p| p.file_name()),
        Some(_) => set.file_stem(),
    };
    name.unwrap_or_default().to_string_lossy().into_owned()
}

/// Where one report's files are.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SavedReport {
    pub name: String,
    pub json: PathBuf,
    pub markdown: PathBuf,
    pub chart: PathBuf,
}

/// A report in the list: what the UI shows before opening one.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReportSummary {
    pub name: String,
    /// "mcq" or "qa".
    pub kind: String,
    pub title: String,
    pub headline: String,
    pub finished_at: String,
}

/// Writes `report` as JSON, Markdown and SVG into `dir`.
pub fn save(dir: &Path, report: &Report) -> Result<SavedReport> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let stamp = chrono::DateTime::parse_from_rfc3339(report.finished_at())
        .map(|t| t.format("%Y%m%d-%H%M%S").to_string())
        .unwrap_or_else(|_| chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string());
    let mut name = format!("{stamp}-{}", report.slug());
    // Two runs finishing in the same second keep both reports.
    let mut n = 2;
    while dir.join(format!("{name}.json")).exists() {
        name = format!("{stamp}-{}-{n}", report.slug());
        n += 1;
    }
    let saved = SavedReport {
        json: dir.join(format!("{name}.json")),
        markdown: dir.join(format!("{name}.md")),
        chart: dir.join(format!("{name}.svg")),
        name,
    };
    chart::write(&saved.chart, report)?;
    let chart_file = format!("{}.svg", saved.name);
    write(&saved.markdown, &markdown::render(report, &chart_file))?;
    // The JSON last: a report is listed once its JSON exists, so the others are there by then.
    let json = serde_json::to_string_pretty(report).expect("reports serialise");
    write(&saved.json, &json)?;
    Ok(saved)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(Error::io(path))
}

/// The reports in `dir`, newest first (names start with the time they finished).
pub fn list(dir: &Path) -> Result<Vec<ReportSummary>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io(dir))?;
        if let Some(name) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_suffix(".json"))
        {
            names.push(name.to_string());
        }
    }
    names.sort_by(|a, b| b.cmp(a));
    names
        .into_iter()
        .filter_map(|name| {
            // A file that is not a report (or one from a future version) is left out, not fatal.
            let report = load(dir, &name).ok()?;
            Some(ReportSummary {
                kind: match report {
                    Report::Mcq(_) => "mcq".into(),
                    Report::Qa(_) => "qa".into(),
                },
                title: report.title(),
                headline: report.headline(),
                finished_at: report.finished_at().to_string(),
                name,
            })
        })
        .map(Ok)
        .collect()
}

/// Checks that `name` is a report's name and nothing else (no path), as a front end passes it.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::argument(
            "name",
            format!("{name:?} is not a report name"),
        ))
    }
}

pub fn load(dir: &Path, name: &str) -> Result<Report> {
    check_name(name)?;
    let path = dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
    serde_json::from_str(&text).map_err(|e| Error::data(&path, e.to_string()))
}

/// A report's Markdown or SVG text.
pub fn read_file(dir: &Path, name: &str, extension: &str) -> Result<String> {
    check_name(name)?;
    if !matches!(extension, "md" | "svg" | "json") {
        return Err(Error::argument(
            "format",
            format!("{extension:?}: expected md, svg or json"),
        ));
    }
    let path = dir.join(format!("{name}.{extension}"));
    std::fs::read_to_string(&path).map_err(Error::io(&path))
}

#[cfg(test)]
mod tests;
