//! A file's bytes as each text format the library reads (plain text, source code, Markdown, CSV,
//! local HTML): encoding detection (BOMs, UTF-8, a guess among legacy encodings) and each format's
//! reader, through the parser worker's function with the default limits. See common/documents.rs
//! for which panics are findings.
#![no_main]

#[path = "common/documents.rs"]
mod documents;

use almanac_documents::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for (name, format) in [
        ("fuzz.txt", Format::Text),
        ("fuzz.rs", Format::Code),
        ("fuzz.md", Format::Markdown),
        ("fuzz.csv", Format::Csv),
        ("fuzz.html", Format::Html),
    ] {
        if let Some(Ok(document)) = documents::parse(name, format, data) {
            documents::check(&document);
        }
    }
});
