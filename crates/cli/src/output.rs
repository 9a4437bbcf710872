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
        writeln!(
            out,
            "[{}] {} — {} — {}",
            p.n,
            p.title,
            p.open_at(),
            p.location()
        )?;
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
                "page": p.page, "rows": p.rows, "open": p.open_at(),
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

/// `library status`: every file with its status, then the index's agreement (catalog chunks,
/// full-text chunks, live vectors).
pub fn print_status(assistant: &Assistant, json: bool) -> Result<()> {
    let files = assistant.queue().statuses()?;
    let stats = assistant.index().stats()?;
    let documents = assistant.index().documents()?;
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
