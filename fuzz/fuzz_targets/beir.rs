//! A BEIR data set (corpus.jsonl, queries.jsonl, qrels/test.tsv) through `BeirData::load`, the
//! reader `almanac eval` and `almanac bench retrieval` use: any files must load or give an error,
//! never a panic.
//!
//! Input: the three files separated by NUL bytes (any bytes: a file that is not UTF-8 is an error).
#![no_main]

use almanac_eval::retrieval::BeirData;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    thread_local! {
        // One folder per fuzzing process, in $TMPDIR (scripts/fuzz.sh: a scratch folder it removes).
        static DIR: tempfile::TempDir = tempfile::Builder::new()
            .prefix("almanac-fuzz-beir")
            .tempdir()
            .unwrap();
    }
    let mut parts = data.split(|&b| b == b'\x00');
    let (corpus, queries, qrels) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    DIR.with(|dir| {
        let dir = dir.path();
        std::fs::create_dir_all(dir.join("qrels")).unwrap();
        std::fs::write(dir.join("corpus.jsonl"), corpus).unwrap();
        std::fs::write(dir.join("queries.jsonl"), queries).unwrap();
        std::fs::write(dir.join("qrels/test.tsv"), qrels).unwrap();
        let _ = BeirData::load(dir, "test");
    });
});
