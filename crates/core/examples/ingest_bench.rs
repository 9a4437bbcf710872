//! Ingestion figures for docs/BENCHMARKS.md: PDF pages per second, chunks and embeddings per
//! second, and the time to re-scan an unchanged folder of small files.
//!
//! `cargo run --release -p almanac-core --example ingest_bench -- [DOCS_DIR] [FILES]`
//! (DOCS_DIR defaults to ../shared/data/ingest-docs, FILES to 10000). Prints a Markdown section.

use std::path::{Path, PathBuf};
use std::time::Instant;

use almanac_core::{Assistant, Paths};
use almanac_documents::{parse_file, Format, Limits};

/// The allocator of the `almanac` and desktop binaries, so the figures are theirs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let docs = args.first().map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ingest-docs")
    });
    let files: usize = args
        .get(1)
        .map(|f| f.parse())
        .transpose()?
        .unwrap_or(10_000);

    // 1. PDF text layers, in this process.
    let pdfs: Vec<PathBuf> = walk(&docs)
        .into_iter()
        .filter(|p| Format::for_path(p) == Some(Format::Pdf))
        .collect();
    let started = Instant::now();
    let mut pages = 0u32;
    for pdf in &pdfs {
        if let Ok(doc) = parse_file(pdf, &Limits::default()) {
            pages += doc.pages.unwrap_or(0);
        }
    }
    let pdf_s = started.elapsed().as_secs_f64();

    // 2. The whole mixed folder into a scratch library: parse, chunk, embed, store, commit.
    let scratch = tempfile::tempdir()?;
    let assistant = Assistant::open(Paths::new(Some(scratch.path().join("mixed"))))?;
    let started = Instant::now();
    let report = assistant.ingest(std::slice::from_ref(&docs), &mut |_| {})?;
    let mixed_s = started.elapsed().as_secs_f64();

    // Embeddings alone, batches of 32 chunk-sized texts.
    let texts: Vec<String> = (0..256)
        .map(|i| format!("Passage {i}: the depot shipped {} crates of tin to the harbour on a grey morning, and the clerk wrote it down in the ledger with care.", i * 7))
        .collect();
    let started = Instant::now();
    for batch in texts.chunks(32) {
        let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
        assistant.embedder().embed(&refs)?;
    }
    let embed_s = started.elapsed().as_secs_f64();
    drop(assistant);

    // 3. A folder of small files: first ingestion, then a re-scan with nothing changed.
    let folder = scratch.path().join("small");
    std::fs::create_dir_all(&folder)?;
    for i in 0..files {
        std::fs::write(
            folder.join(format!("note-{i:05}.txt")),
            format!("Note {i}: shelf {} holds box {}.\n", i % 97, i),
        )?;
    }
    let assistant = Assistant::open(Paths::new(Some(scratch.path().join("small-lib"))))?;
    let started = Instant::now();
    let first = assistant.add_folders(std::slice::from_ref(&folder), &mut |_| {})?;
    let first_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let again = assistant.sync(&mut |_| {})?;
    let rescan_s = started.elapsed().as_secs_f64();
    assert_eq!(again.unchanged, files);
    // Adding the same folder again (what `library add DIR` does a second time) walks it too.
    let started = Instant::now();
    let readd = assistant.add_folders(std::slice::from_ref(&folder), &mut |_| {})?;
    let readd_s = started.elapsed().as_secs_f64();
    assert_eq!(readd.unchanged, files);

    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("## Ingestion (issue 5)\n");
    println!(
        "`cargo run --release -p almanac-core --example ingest_bench`, {cpus} CPUs, {}.\n",
        chrono::Utc::now().format("%Y-%m-%d")
    );
    println!("| what | figure |\n|---|---|");
    println!(
        "| PDF text layer ({} files, {pages} pages, in-process) | {:.1} pages/s |",
        pdfs.len(),
        f64::from(pages) / pdf_s
    );
    println!(
        "| mixed folder ({} files indexed, {} failed, {} chunks; parse in-process, chunk, embed, store) | {:.1} chunks/s ({mixed_s:.1} s) |",
        report.indexed,
        report.failed.len(),
        report.chunks,
        report.chunks as f64 / mixed_s
    );
    println!(
        "| embeddings alone (MiniLM, batches of 32) | {:.1} embeddings/s |",
        texts.len() as f64 / embed_s
    );
    println!(
        "| {files} small files, first ingestion | {first_s:.1} s ({:.0} files/s) |",
        first.indexed as f64 / first_s
    );
    println!("| the same folder re-scanned (`library sync`), nothing changed | {rescan_s:.2} s |");
    println!("| the same folder added again (`library add`), nothing changed | {readd_s:.2} s |");
    Ok(())
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}
