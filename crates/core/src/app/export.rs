//! A conversation as a Markdown document a person can keep: the title, each question and answer,
//! and under each answer its numbered sources with their paths and lines.

use std::fmt::Write;

use serde_json::Value;

use super::store::{Conversation, MessageStatus};

pub fn to_markdown(c: &Conversation) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", one_line(&c.title));
    let _ = writeln!(
        out,
        "_Almanac conversation, started {}, last updated {}._\n",
        c.created_at, c.updated_at
    );
    for m in &c.messages {
        if m.role == "user" {
            let _ = writeln!(out, "## Question\n\n{}\n", m.text.trim_end());
            continue;
        }
        let _ = writeln!(out, "## Answer\n");
        if !m.text.trim().is_empty() {
            let _ = writeln!(out, "{}\n", m.text.trim_end());
        }
        match m.status {
            MessageStatus::Interrupted => {
                let _ = writeln!(
                    out,
                    "_(interrupted: the answer was cut off before it finished)_\n"
                );
            }
            MessageStatus::Streaming => {
                let _ = writeln!(out, "_(still being generated when exported)_\n");
            }
            MessageStatus::Error => {
                let message = m
                    .error
                    .as_ref()
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error");
                let _ = writeln!(out, "_(failed: {})_\n", one_line(message));
            }
            MessageStatus::Done => {
                if m.stop_reason.as_deref() == Some("cancelled") {
                    let _ = writeln!(out, "_(stopped before the end)_\n");
                }
            }
        }
        write_evidence(&mut out, m.evidence.as_ref());
        write_sources(
            &mut out,
            m.retrieval.as_ref(),
            m.cited.as_deref().unwrap_or(&[]),
            m.attributed.as_deref().unwrap_or(&[]),
        );
    }
    out
}

/// The quotes that answered the question, each with its source number and place.
fn write_evidence(out: &mut String, evidence: Option<&Value>) {
    let quotes = evidence
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if quotes.is_empty() {
        return;
    }
    let _ = writeln!(out, "Evidence:\n");
    for q in quotes {
        let text = |key: &str| q.get(key).and_then(Value::as_str).unwrap_or("");
        let n = q.get("n").and_then(Value::as_u64).unwrap_or(0);
        let _ = writeln!(
            out,
            "> [{n}] {} ({})",
            one_line(text("text")),
            one_line(text("location"))
        );
    }
    out.push('\n');
}

fn write_sources(
    out: &mut String,
    retrieval: Option<&Value>,
    cited: &[usize],
    attributed: &[usize],
) {
    let Some(retrieval) = retrieval else { return };
    let passages = retrieval
        .get("passages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if passages.is_empty() {
        if let Some(reason) = retrieval.get("reason").and_then(Value::as_str) {
            let _ = writeln!(out, "_Sources: none ({})._\n", one_line(reason));
        }
        return;
    }
    let _ = writeln!(out, "Sources:\n");
    for p in passages {
        let n = p.get("n").and_then(Value::as_u64).unwrap_or(0) as usize;
        let text = |key: &str| p.get(key).and_then(Value::as_str).unwrap_or("");
        let number = |key: &str| p.get(key).and_then(Value::as_u64).unwrap_or(0);
        let (start, end) = (number("line_start"), number("line_end"));
        let lines = if start == end {
            format!("line {start}")
        } else {
            format!("lines {start}–{end}")
        };
        let heading = match text("heading") {
            "" => String::new(),
            h => format!(" — {}", one_line(h)),
        };
        let mark = match (cited.contains(&n), attributed.contains(&n)) {
            (true, true) => " (cited; attributed by Almanac)",
            (true, false) => " (cited)",
            (false, true) => " (attributed by Almanac)",
            (false, false) => "",
        };
        let _ = writeln!(
            out,
            "{n}. {} — `{}`{heading} — {lines}{mark}",
            one_line(text("title")),
            one_line(text("path"))
        );
    }
    out.push('\n');
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
