//! How answers, sources and reports look on the terminal and in `--json`.

use std::io::Write;

use almanac_core::{Answer, Assistant, IngestReport, RunEvent};
use anyhow::Result;
use serde_json::{json, Value};

/// Streams answer text as it arrives; sources are printed after the answer.
pub fn stream_event(out: &mut impl Write, event: &RunEvent) {
    if let RunEvent::Token { text } = event {
        let _ = write!(out, "{text}");
        let _ = out.flush();
    }
}

pub fn print_sources(out: &mut impl Write, answer: &Answer) -> Result<()> {
    let retrieval = &answer.retrieval;
    writeln!(out)?;
    if !retrieval.used {
        writeln!(
            out,
            "\nRetrieval: not used ({})",
            retrieval.reason.as_deref().unwrap_or("no reason given")
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "\nSources ({} of {} candidates, {:.0} ms):",
        retrieval.passages.len(),
        retrieval.candidates,
        retrieval.elapsed_ms
    )?;
    for p in &retrieval.passages {
        let cited = if answer.cited.contains(&p.n) {
            "cited"
        } else {
            "not cited"
        };
        writeln!(out, "[{}] {} — {} — {}", p.n, p.title, p.path, p.location())?;
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

fn fmt_score(score: Option<f32>) -> String {
    score.map_or_else(|| "-".to_owned(), |s| format!("{s:.3}"))
}

/// The `ask --json` object: {"answer", "sources", "retrieval", "timings", "cited", "stop_reason"}.
pub fn answer_json(answer: &Answer) -> Value {
    let r = &answer.retrieval;
    let sources: Vec<Value> = r
        .passages
        .iter()
        .map(|p| {
            json!({
                "n": p.n, "title": p.title, "path": p.path, "heading": p.heading,
                "location": p.location(), "line_start": p.line_start, "line_end": p.line_end,
                "snippet": p.snippet, "snippet_html": p.snippet_html, "date": p.date, "score": p.score,
                "bm25": p.bm25, "bm25_rank": p.bm25_rank, "vector": p.vector, "vector_rank": p.vector_rank,
                "cited": answer.cited.contains(&p.n),
            })
        })
        .collect();
    json!({
        "answer": answer.answer,
        "sources": sources,
        "retrieval": {
            "used": r.used, "reason": r.reason, "query": r.query, "candidates": r.candidates,
            "library_chunks": r.library_chunks, "min_similarity": r.min_similarity, "elapsed_ms": r.elapsed_ms,
        },
        "timings": answer.timings,
        "cited": answer.cited,
        "stop_reason": answer.stop_reason,
    })
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
