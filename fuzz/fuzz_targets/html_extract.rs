//! Any bytes as an HTML page through extraction (decoding, hidden text, chrome, readability).
#![no_main]

use almanac_fetch::extract::{extract, BodyKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = extract(
        "https://fuzz.example/page",
        BodyKind::Html,
        "text/html",
        data,
    );
});
