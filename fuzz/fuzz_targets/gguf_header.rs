//! A model file's bytes through the whole load path (header walk, candle's reader, config,
//! tokenizer, chat template, weights): any input must end in `Ok` or an `Err`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Loading takes a path: a file per process in $TMPDIR (scripts/fuzz.sh: a scratch folder in
    // memory-backed /dev/shm, removed at the end).
    thread_local! {
        static PATH: std::path::PathBuf =
            std::env::temp_dir().join(format!("almanac-fuzz-{}.gguf", std::process::id()));
    }
    PATH.with(|path| {
        std::fs::write(path, data).unwrap();
        let options = almanac_engine::LoadOptions {
            threads: Some(1),
            ..Default::default()
        };
        if let Ok(model) = almanac_engine::ChatModel::load(path, &options) {
            let _ = model.render_chat(&[almanac_engine::ChatMessage::user("hi")], true);
            let _ = model.tokenizer().encode("hello world", true);
        }
    });
});
