//! What the document targets share: a file's bytes through `almanac_documents::parse_bytes`, the
//! function the parser worker process runs (`parse_file` reads the file, then calls it), with the
//! default limits, and panics treated the way the worker treats them.
//!
//! The worker runs the parser under `catch_unwind` and reports a panic as that file's one-line
//! `parser_failed` error, because third-party parsers (pdf-extract, lopdf, zip, quick-xml, csv,
//! scraper) panic on some inputs and we cannot fix them in place. So a panic raised in a
//! dependency's source (a registry crate) is contained here too, and listed once per place on
//! stderr. A panic anywhere else (our crates, or the standard library, where a caller we cannot see
//! may be ours) is a finding and aborts, as libFuzzer's own hook does. Stack overflows, aborts,
//! hangs (`-timeout`) and runaway memory (`-rss_limit_mb`, `-malloc_limit_mb`) are findings whoever
//! causes them: the worker would survive them only as a dead process.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Mutex, Once};

use almanac_documents::{parse_bytes, Document, Format, Limits, Result};

fn in_dependency(file: &str) -> bool {
    file.contains("/.cargo/registry/") || file.contains("/.cargo/git/")
}

fn contain_dependency_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // libfuzzer-sys's hook (print, then abort), kept for the panics that are findings.
        let fuzzer_hook = std::panic::take_hook();
        let seen = Mutex::new(HashSet::new());
        std::panic::set_hook(Box::new(move |info| {
            let file = info.location().map(|l| l.to_string()).unwrap_or_default();
            if !in_dependency(&file) {
                fuzzer_hook(info);
                return;
            }
            if seen
                .lock()
                .map(|mut s| s.insert(file.clone()))
                .unwrap_or(false)
            {
                let payload = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                eprintln!("contained panic (parser_failed in the app) at {file}: {payload}");
            }
        }));
    });
}

/// Parses `bytes` as a file of `format` named `name`; `None` for a contained dependency panic.
pub fn parse(name: &str, format: Format, bytes: &[u8]) -> Option<Result<Document>> {
    contain_dependency_panics();
    let path = Path::new(name);
    catch_unwind(AssertUnwindSafe(|| {
        parse_bytes(path, format, bytes, &Limits::default())
    }))
    .ok()
}

/// What a parsed document promises the chunker and the library: each section is a piece of the
/// text that starts at a line the text has.
pub fn check(document: &Document) {
    let lines = document.text.lines().count().max(1);
    for section in &document.sections {
        assert!(document.text.contains(&section.text), "{section:?}");
        assert!(
            section.first_line >= 1 && section.first_line <= lines + 1,
            "section starts at line {} of {lines}",
            section.first_line
        );
    }
}
