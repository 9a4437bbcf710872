//! An EPUB file's bytes (zip, container, package, chapters in reading order) through the parser worker's function with the default limits. See common/documents.rs
//! for which panics are findings.
#![no_main]

#[path = "common/documents.rs"]
mod documents;

use almanac_documents::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(Ok(document)) = documents::parse("fuzz.epub", Format::Epub, data) {
        documents::check(&document);
    }
});
