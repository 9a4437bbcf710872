//! A model file's bytes through the whole load path (header walk, candle's reader, config,
//! tokenizer, chat template, weights), then a prompt and one decoding step through the CPU kernels
//! (the unsafe SIMD code, so that an AddressSanitizer build sees its reads): any input must end in
//! `Ok` or an `Err`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Byte-level, this is about 20 tokens: prefill tiles with a partial last tile of tokens.
const PROMPT: &str = "hello world, hello fuzz!";

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
        let Ok(mut model) = almanac_engine::ChatModel::load(path, &options) else {
            return;
        };
        let _ = model.render_chat(&[almanac_engine::ChatMessage::user("hi")], true);
        let Ok(mut ids) = model.tokenizer().encode(PROMPT, true) else {
            return;
        };
        // The prompt (many tokens per matmul), then its best next token on its own (the
        // one-token path, after the cached prompt).
        if let Ok(logits) = model.next_token_logits(&ids) {
            let best = (0..logits.len())
                .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
                .unwrap_or(0);
            ids.push(best as u32);
            let _ = model.next_token_logits(&ids);
        }
    });
});
