//! How answers, sources and reports look on the terminal and in `--json`.

use std::io::Write;

use almanac_core::{Answer, AnswerEvent, Assistant, IngestReport, RunEvent, StopReason, WebPage};
use anyhow::Result;
use serde_json::{json, Value};

/// Streams answer text as it arrives; evidence and sources are printed after the answer.
pub fn stream_event(out: &mut impl Write, event: &RunEvent) {
    match event {
        RunEvent::Answer(AnswerEvent::Token { text }) => {
            let _ = write!(out, "{text}");
            let _ = out.flush();
        }
        RunEvent::Answer(AnswerEvent::Done {
            stop_reason: StopReason::Repetition,
            ..
        }) => {
            // The terminal cannot take back what it printed: say where the kept answer ends.
            let _ = write!(
                out,
                "\n[stopped: the answer began repeating itself; the repeats are not kept]"
            );
        }
        _ => {}
    }
}

pub fn print_sources(out: &mut impl Write, answer: &Answer) -> Result<()> {
    let retrieval = &answer.retrieval;
    writeln!(out)?;
    for failure in retrieval.web.iter().flat_map(|w| &w.failed) {
        eprintln!("warning: web page not used: {}", failure.error);
    }
    if !retrieval.used {
        writeln!(
            out,
            "\nRetrieval: not used ({})",
            retrieval.reason.as_deref().unwrap_or("no reason given")
        )?;
        return Ok(());
    }
    print_attribution(out, answer)?;
    print_evidence(out, answer)?;
    writeln!(
        out,
        "\nSources ({} of {} candidates, {:.0} ms):",
        retrieval.passages.len(),
        retrieval.candidates,
        retrieval.elapsed_ms
    )?;
    for p in &retrieval.passages {
        let cited = match (
            answer.cited.contains(&p.n),
            answer.attributed.contains(&p.n),
        ) {
            (true, true) => "cited, attributed by Almanac",
            (true, false) => "cited",
            (false, true) => "not cited, attributed by Almanac",
            (false, false) => "not cited",
        };
        match &p.url {
            Some(url) => writeln!(
                out,
                "[{}] {} — {url} — {}fetched {}",
                p.n,
                p.title,
                p.date
                    .as_deref()
                    .map(|d| format!("published {d}, "))
                    .unwrap_or_default(),
                p.fetched_at.as_deref().unwrap_or("?")
            )?,
            None => writeln!(out, "[{}] {} — {} — {}", p.n, p.title, p.open, p.location)?,
        }
        writeln!(
            out,
            "    score {:.4} (bm25 {}, vector {}), {cited}",
            p.score,
            fmt_score(p.bm25),
            fmt_score(p.vector)
        )?;
    }
    Ok(())
}

/// The quotes that best answer the question, each with its source and place.
fn print_evidence(out: &mut impl Write, answer: &Answer) -> Result<()> {
    if answer.evidence.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nEvidence (quoted from the sources):")?;
    for e in &answer.evidence {
        writeln!(out, "[{}] \"{}\"", e.n, e.text)?;
        writeln!(
            out,
            "    {} — {} — score {:.3}",
            e.title, e.location, e.score
        )?;
    }
    Ok(())
}

/// Sentences of the answer that no source supports, and the sources Almanac found for the rest
/// (its own citations, apart from the model's `[n]`).
fn print_attribution(out: &mut impl Write, answer: &Answer) -> Result<()> {
    let unsupported: Vec<&str> = answer
        .sentences
        .iter()
        .filter(|s| !s.supported)
        .map(|s| s.text.as_str())
        .collect();
    if !answer.attributed.is_empty() {
        let list: Vec<String> = answer.attributed.iter().map(|n| format!("[{n}]")).collect();
        writeln!(out, "\nAttributed by Almanac: {}", list.join(" "))?;
    }
    if !unsupported.is_empty() {
        writeln!(out, "\nNot supported by any source:")?;
        for s in unsupported {
            writeln!(out, "  ! {s}")?;
        }
    }
    Ok(())
}

fn fmt_score(score: Option<f64>) -> String {
    score.map_or_else(|| "-".to_owned(), |s| format!("{s:.3}"))
}

/// The `ask --json` object: {"answer", "sources", "retrieval", "evidence", "timings", "cited",
/// "attributed", "sentences", "stop_reason"}. Each source is core's `Passage` as every front end
/// sees it (with `location` and `open`), plus `cited` (by the model) and `attributed` (by Almanac).
pub fn answer_json(answer: &Answer) -> Value {
    let r = &answer.retrieval;
    let sources: Vec<Value> = r
        .passages
        .iter()
        .map(|p| {
            let mut value = serde_json::to_value(p).expect("passage serialises");
            value["cited"] = answer.cited.contains(&p.n).into();
            value["attributed"] = answer.attributed.contains(&p.n).into();
            value
        })
        .collect();
    let mut retrieval = serde_json::to_value(r).expect("retrieval serialises");
    if let Some(map) = retrieval.as_object_mut() {
        map.remove("passages");
    }
    json!({
        "answer": answer.answer,
        "sources": sources,
        "retrieval": retrieval,
        "evidence": answer.evidence,
        "timings": answer.timings,
        "cited": answer.cited,
        "attributed": answer.attributed,
        "sentences": answer.sentences,
        "stop_reason": answer.stop_reason,
    })
}

/// `almanac fetch`: the page's title, URL, dates, then its text.
pub fn print_page(out: &mut impl Write, page: &WebPage) -> Result<()> {
    writeln!(out, "{}", page.title)?;
    writeln!(out, "{}", page.url)?;
    if let Some(date) = &page.published {
        writeln!(out, "published {date}")?;
    }
    writeln!(
        out,
        "fetched {}\n",
        page.fetched_at.format("%Y-%m-%dT%H:%M:%SZ")
    )?;
    writeln!(out, "{}", page.text)?;
    Ok(())
}

/// "24.1 chunks/s, 2 minutes left" for the ingestion progress bar.
pub fn ingest_rate(chunks_per_second: f64, seconds_left: Option<f64>) -> String {
    let left = match seconds_left {
        Some(s) if s.is_finite() && s >= 0.0 => format!(
            "{} left",
            indicatif::HumanDuration(std::time::Duration::from_secs_f64(s))
        ),
        _ => "estimating the time left".into(),
    };
    format!("{chunks_per_second:.1} chunks/s, {left}")
}

/// Why a new library is (or would be) built with the multilingual embedder.
pub fn embedder_choice(model: &str, installed: bool) -> String {
    if installed {
        format!("most of these documents are Chinese, Japanese or Korean: the library uses {model}")
    } else {
        format!(
            "most of these documents are Chinese, Japanese or Korean, but {model} is not installed \
             (scripts/install-multilingual-model.sh): the library stays on the English embedder"
        )
    }
}

pub fn print_ingest_report(report: &IngestReport, assistant: &Assistant) -> Result<()> {
    let stats = assistant.index().stats()?;
    eprintln!(
        "indexed {} files ({} chunks), {} unchanged, {} failed; library: {} documents, {} chunks",
        report.indexed,
        report.chunks,
        report.unchanged,
        report.failed.len(),
        stats.documents,
        stats.chunks
    );
    if !report.skipped.is_empty() {
        eprintln!(
            "skipped {} files of unsupported types:",
            report.skipped.len()
        );
        for path in &report.skipped {
            eprintln!("  {}", path.display());
        }
    }
    Ok(())
}

/// `library status`: every file with its status, then the index's agreement (catalog chunks,
/// full-text chunks, live vectors).
pub fn print_status(assistant: &Assistant, json: bool) -> Result<()> {
    let files = assistant.queue().statuses()?;
    let stats = assistant.index().stats()?;
    let documents = assistant.index().documents()?;
    let embedder = assistant.embedder();
    let change = assistant.index().embedder_change()?;
    if json {
        let docs: Vec<Value> = documents
            .iter()
            .map(|d| json!({"path": d.path, "title": d.title, "chunks": d.chunk_count}))
            .collect();
        let value = json!({
            "folders": assistant.queue().folders()?,
            "files": files,
            "documents": docs,
            "index": {
                "documents": stats.documents,
                "chunks": stats.chunks,
                "text_chunks": stats.text_chunks,
                "vectors": stats.vector_points - stats.vector_tombstones,
                "embedder": {"name": embedder.name(), "dim": embedder.dim()},
                "embedder_change": change,
            },
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    for folder in assistant.queue().folders()? {
        println!("following {}", folder.display());
    }
    for f in &files {
        match &f.error {
            Some(e) => println!("{:<8} {}  ({e})", f.status, f.path),
            None => println!("{:<8} {}", f.status, f.path),
        }
    }
    let count = |s: &str| files.iter().filter(|f| f.status == s).count();
    println!(
        "{} indexed, {} queued, {} failed; library: {} documents, {} chunks",
        count("indexed"),
        count("queued"),
        count("failed"),
        stats.documents,
        stats.chunks
    );
    println!(
        "embedder: {} ({} dimensions)",
        embedder.name(),
        embedder.dim()
    );
    if let Some(c) = change {
        println!(
            "changing to {}: {} of {} chunks re-embedded (`almanac library embedder {}` resumes it)",
            c.name, c.done, c.total, c.name
        );
    }
    Ok(())
}

pub fn print_library(assistant: &Assistant) -> Result<()> {
    let documents = assistant.index().documents()?;
    if documents.is_empty() {
        println!(
            "The library in {} is empty; add documents with `almanac ingest PATH`.",
            assistant.paths().data_dir.display()
        );
    }
    for doc in documents {
        println!(
            "{:>4} chunks  {}  ({})",
            doc.chunk_count, doc.title, doc.path
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ingest_rate;

    #[test]
    fn ingest_rate_says_chunks_per_second_and_the_time_left() {
        assert_eq!(
            ingest_rate(24.06, Some(125.0)),
            "24.1 chunks/s, 2 minutes left"
        );
        assert_eq!(
            ingest_rate(0.0, None),
            "0.0 chunks/s, estimating the time left"
        );
    }
}
