//! A tokenizer built from GGUF metadata (`GgufTokenizer::from_gguf`, as a model load does after the
//! header checks), then text through it: encode with and without special tokens, decode the ids,
//! decode ids the model might sample. Any input must end in `Ok` or an `Err`, never a panic.
//!
//! Input (text, so seeds are readable and the fuzzer's string mutations apply): a first line
//! `MODEL PRE FLAGS BOS EOS` (model `gpt2` or `llama`, or anything, which must be refused), then
//! sections separated by a line `%%`: tokens one per line (`TYPE<tab>TEXT` sets llama.cpp's token
//! type), merges one per line, and the text to encode.
#![no_main]

use std::collections::HashMap;

use almanac_engine::gguf_file::{Content, Value, VersionedMagic};
use almanac_engine::GgufTokenizer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let mut sections = input.split("\n%%\n");
    let (Some(head), Some(tokens), merges, text) = (
        sections.next(),
        sections.next(),
        sections.next().unwrap_or(""),
        sections.next().unwrap_or(""),
    ) else {
        return;
    };
    let mut head = head.split(' ');
    let model = head.next().unwrap_or("gpt2");
    let pre = head.next().unwrap_or("default");
    let flags: u8 = head.next().and_then(|f| f.parse().ok()).unwrap_or(0);
    let bos: i64 = head.next().and_then(|f| f.parse().ok()).unwrap_or(0);
    let eos: i64 = head.next().and_then(|f| f.parse().ok()).unwrap_or(1);

    let mut texts = Vec::new();
    let mut types = Vec::new();
    for line in tokens.split('\n') {
        match line.split_once('\t') {
            Some((ty, text)) if ty.len() == 1 => {
                types.push(Value::I32(ty.parse().unwrap_or(1)));
                texts.push(Value::String(text.to_string()));
            }
            _ => {
                types.push(Value::I32(1));
                texts.push(Value::String(line.to_string()));
            }
        }
    }
    let scores = (0..texts.len()).map(|i| Value::F32(-(i as f32))).collect();
    let merges = merges
        .split('\n')
        .filter(|m| !m.is_empty())
        .map(|m| Value::String(m.to_string()))
        .collect();

    let mut metadata = HashMap::new();
    let mut set = |key: &str, value: Value| {
        metadata.insert(key.to_string(), value);
    };
    set("tokenizer.ggml.model", Value::String(model.into()));
    if pre != "-" {
        set("tokenizer.ggml.pre", Value::String(pre.into()));
    }
    set("tokenizer.ggml.tokens", Value::Array(texts));
    if flags & 1 != 0 {
        set("tokenizer.ggml.token_type", Value::Array(types));
    }
    if flags & 2 != 0 || model == "llama" {
        set("tokenizer.ggml.scores", Value::Array(scores));
    }
    set("tokenizer.ggml.merges", Value::Array(merges));
    set("tokenizer.ggml.bos_token_id", Value::I64(bos));
    set("tokenizer.ggml.eos_token_id", Value::I64(eos));
    set("tokenizer.ggml.eot_token_id", Value::U32(u32::from(flags)));
    set("tokenizer.ggml.add_bos_token", Value::Bool(flags & 4 != 0));
    set(
        "tokenizer.ggml.add_space_prefix",
        Value::Bool(flags & 8 != 0),
    );
    let content = Content {
        magic: VersionedMagic::GgufV3,
        metadata,
        tensor_infos: HashMap::new(),
        tensor_data_offset: 0,
    };

    let Ok(tokenizer) = GgufTokenizer::from_gguf(&content) else {
        return;
    };
    for parse_special in [true, false] {
        if let Ok(ids) = tokenizer.encode(text, parse_special) {
            let _ = tokenizer.decode(&ids);
            let _ = tokenizer.decode_with_special(&ids);
        }
    }
    // Ids a model samples need not be ones the text produced: every id of the vocabulary and past it.
    let n = tokenizer.vocab_size() as u32;
    let sampled: Vec<u32> = text.bytes().map(|b| u32::from(b) % (n + 2)).collect();
    let _ = tokenizer.decode(&sampled);
    let _ = tokenizer.decode_with_special(&sampled);
    for id in sampled {
        let _ = tokenizer.token_piece(id);
    }
});
