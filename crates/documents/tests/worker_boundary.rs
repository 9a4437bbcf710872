//! A parser panic stays inside the worker process: a PDF whose font names an encoding that
//! pdf-extract does not know makes it panic ("unexpected encoding"); parsed in a worker it becomes
//! that file's one-line error, and the next file parses as before.
//!
//! No test harness: this binary is also the worker it starts (with the argument `parse-worker`),
//! as the `almanac` binary is for the app.

use std::time::Duration;

use almanac_documents::worker::{parse_in_worker, run_child, WorkerCommand};
use almanac_documents::{parse_file, Limits};

fn main() {
    if std::env::args().nth(1).as_deref() == Some("parse-worker") {
        std::process::exit(run_child());
    }
    a_parser_panic_becomes_the_files_error_and_the_next_file_parses();
    println!("worker_boundary: ok");
}

/// A one-page PDF whose only font has `/Encoding /AlmanacUnknownEncoding`.
fn pdf_with_unknown_font_encoding() -> Vec<u8> {
    let content = "BT /F1 12 Tf 72 712 Td (Hello from the boundary) Tj ET";
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".to_string(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /AlmanacUnknownEncoding >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        pdf.extend(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

fn worker() -> WorkerCommand {
    WorkerCommand {
        program: std::env::current_exe().unwrap(),
        args: vec!["parse-worker".into()],
        memory_limit: 2 << 30,
        timeout: Duration::from_secs(60),
    }
}

fn a_parser_panic_becomes_the_files_error_and_the_next_file_parses() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = dir.path().join("unknown-encoding.pdf");
    std::fs::write(&hostile, pdf_with_unknown_font_encoding()).unwrap();
    let plain = dir.path().join("after.txt");
    std::fs::write(&plain, "The worker after the panic still reads this line.").unwrap();

    // In this process the parser panics: the worker is what keeps it from crossing over.
    std::panic::set_hook(Box::new(|_| {}));
    let in_process = std::panic::catch_unwind(|| parse_file(&hostile, &Limits::default()));
    let _ = std::panic::take_hook();
    assert!(
        in_process.is_err(),
        "pdf-extract no longer panics on this file; find another panicking input: {in_process:?}"
    );

    let err = parse_in_worker(&worker(), &hostile, &Limits::default()).unwrap_err();
    let message = err.to_string();
    assert!(!message.contains('\n'), "{message}");
    assert!(
        message.contains(&hostile.display().to_string()),
        "{message}"
    );
    assert!(message.contains("parser failed"), "{message}");
    assert!(message.contains("unexpected encoding"), "{message}");
    assert_eq!(err.code(), "parser_failed", "{message}");

    let doc = parse_in_worker(&worker(), &plain, &Limits::default()).unwrap();
    assert!(doc.text.contains("still reads this line"), "{}", doc.text);
}
