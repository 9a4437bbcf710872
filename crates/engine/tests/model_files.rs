//! Loading errors for missing, foreign, truncated, corrupt and hostile GGUF files (one test per
//! crafted kind: each a one-line error naming the file, never a panic or a huge allocation), and
//! a tiny generated Llama model for the template and generation paths.

mod common;

use std::io::{Read, Write};

use candle_core::quantized::QTensor;
use candle_core::Device;

use almanac_engine::gguf_file::{self, Value};
use almanac_engine::{
    CancelFlag, ChatMessage, ChatModel, Error, GenerationParams, LoadOptions, StopReason,
};
use common::raw_gguf::{hostile_files, RawGguf};

fn load(path: &std::path::Path) -> Result<ChatModel, Error> {
    ChatModel::load(path, &LoadOptions::default())
}

fn one_line_naming(err: &Error, path: &std::path::Path) -> String {
    let message = err.to_string();
    assert!(!message.contains('\n'), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    message
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nothing-here.gguf");
    let err = load(&path).unwrap_err();
    assert!(matches!(err, Error::ModelNotFound { .. }), "{err}");
    let message = one_line_naming(&err, &path);
    assert!(message.ends_with("does not exist"), "{message}");
}

#[test]
fn wrong_magic_and_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    std::fs::write(&path, b"PK\x03\x04 this is a zip, not a model").unwrap();
    let err = load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "model file {} is not a GGUF file: bad magic",
            path.display()
        )
    );

    std::fs::write(&path, b"").unwrap();
    let err = load(&path).unwrap_err();
    assert!(matches!(err, Error::NotGguf { .. }), "{err}");
}

/// The first `len` bytes of the real model.
fn truncated_copy(dir: &std::path::Path, len: u64) -> std::path::PathBuf {
    let mut source = std::fs::File::open(common::chat_model_path())
        .unwrap()
        .take(len);
    let path = dir.join("truncated.gguf");
    let mut out = std::fs::File::create(&path).unwrap();
    std::io::copy(&mut source, &mut out).unwrap();
    out.flush().unwrap();
    path
}

#[test]
fn truncated_in_the_tensor_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = truncated_copy(dir.path(), 40_000_000);
    let err = load(&path).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    let message = one_line_naming(&err, &path);
    assert!(message.contains("is truncated"), "{message}");
}

#[test]
fn truncated_in_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = truncated_copy(dir.path(), 100_000);
    let err = load(&path).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    one_line_naming(&err, &path);
}

#[test]
fn corrupt_header_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.gguf");
    let mut bytes = b"GGUF".to_vec();
    bytes.extend(3u32.to_le_bytes());
    bytes.extend(0u64.to_le_bytes()); // no tensors
    bytes.extend(1u64.to_le_bytes()); // one metadata entry
    bytes.extend(3u64.to_le_bytes());
    bytes.extend(b"key");
    bytes.extend(99u32.to_le_bytes()); // no such value type
    bytes.extend([0u8; 16]);
    std::fs::write(&path, bytes).unwrap();
    let err = load(&path).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    one_line_naming(&err, &path);
}

#[test]
fn foreign_architecture_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bert.gguf");
    common::write_tiny_gguf(&path, "bert", None);
    let err = load(&path).unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedArchitecture { .. }),
        "{err}"
    );
    let message = one_line_naming(&err, &path);
    assert!(message.contains("\"bert\""), "{message}");
}

#[test]
fn missing_chat_template_and_configured_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    common::write_tiny_gguf(&path, "llama", None);
    let model = load(&path).unwrap();
    assert_eq!(model.context_length(), 128);
    let err = model
        .render_chat(&[ChatMessage::user("hi")], true)
        .unwrap_err();
    assert!(matches!(err, Error::NoChatTemplate { .. }), "{err}");
    one_line_naming(&err, &path);

    let opts = LoadOptions {
        chat_template: Some(
            "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}".into(),
        ),
        context_length: Some(100_000),
        ..Default::default()
    };
    let model = ChatModel::load(&path, &opts).unwrap();
    assert_eq!(
        model.context_length(),
        128,
        "never above the model's own window"
    );
    assert_eq!(
        model.render_chat(&[ChatMessage::user("hi")], true).unwrap(),
        "[user]hi"
    );
}

#[test]
fn tiny_model_generates_within_its_limits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    common::write_tiny_gguf(&path, "llama", Some("{{ messages[0].content }}"));
    let mut model = ChatModel::load(
        &path,
        &LoadOptions {
            context_length: Some(40),
            ..Default::default()
        },
    )
    .unwrap();
    let prompt = model
        .render_chat(&[ChatMessage::user("hello there")], true)
        .unwrap();
    assert_eq!(prompt, "hello there");

    let params = GenerationParams {
        max_tokens: 1000,
        temperature: 1.0,
        seed: 3,
        ..Default::default()
    };
    let mut text = String::new();
    let generation = model
        .generate(&prompt, &params, &CancelFlag::default(), &mut |d| {
            text.push_str(d)
        })
        .unwrap();
    assert_eq!(text, generation.text);
    assert!(
        matches!(
            generation.stop_reason,
            StopReason::ContextFull | StopReason::EndOfTurn
        ),
        "{generation:?}"
    );
    if generation.stop_reason == StopReason::ContextFull {
        assert_eq!(generation.prompt_tokens + generation.generated_tokens, 40);
    }
}

/// Loads `bytes` as a model file and returns the error, which must be one line naming the file
/// and containing `expected`.
fn refused(bytes: &[u8], expected: &str) -> Error {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.gguf");
    std::fs::write(&path, bytes).unwrap();
    let err = load(&path).unwrap_err();
    let message = one_line_naming(&err, &path);
    assert!(
        message.contains(expected),
        "expected {expected:?}: {message}"
    );
    err
}

#[test]
fn hostile_alignment_zero_and_not_a_power_of_two() {
    let file = RawGguf::new(0, 1).kv_u32("general.alignment", 0).padded(64);
    refused(&file.0, "general.alignment is 0");
    let file = RawGguf::new(0, 1)
        .kv_u32("general.alignment", 48)
        .padded(64);
    refused(&file.0, "general.alignment is 48");
}

#[test]
fn hostile_string_length_of_2_pow_63() {
    let file = RawGguf::new(0, 1)
        .string("general.name")
        .u32(8)
        .u64(1 << 63)
        .padded(64);
    let err = refused(&file.0, "claims 9223372036854775808 bytes");
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    // The same length as a key.
    let file = RawGguf::new(0, 1).u64(1 << 63).padded(64);
    refused(&file.0, "metadata key 0 is 9223372036854775808 bytes long");
}

#[test]
fn hostile_array_length_of_2_pow_40() {
    let file = RawGguf::new(0, 1)
        .string("tokenizer.ggml.scores")
        .u32(9)
        .u32(6)
        .u64(1 << 40)
        .padded(64);
    refused(&file.0, "claims 1099511627776 elements");
}

#[test]
fn hostile_arrays_nested_20000_deep() {
    let mut file = RawGguf::new(0, 1).string("general.deep").u32(9);
    for _ in 0..20_000 {
        file = file.u32(9).u64(1);
    }
    let file = file.u32(4).u64(1).u32(7);
    refused(&file.0, "nests arrays more than");
}

#[test]
fn hostile_2_pow_62_metadata_entries_and_tensors() {
    refused(&RawGguf::new(0, 1 << 62).padded(64).0, "declares");
    refused(&RawGguf::new(1 << 62, 0).padded(64).0, "declares");
}

#[test]
fn hostile_tensor_dimensions_that_multiply_past_2_pow_64() {
    let file = RawGguf::new(1, 0)
        .tensor("token_embd.weight", &[1 << 32, 1 << 32, 16], 0, 0)
        .padded(128);
    refused(&file.0, "multiply past 2^64");
    // Elements that fit in 64 bits whose bytes do not.
    let file = RawGguf::new(1, 0)
        .tensor("token_embd.weight", &[1 << 62, 8], 0, 0)
        .padded(128);
    refused(&file.0, "multiply past 2^64");
    let file = RawGguf::new(1, 0)
        .tensor("token_embd.weight", &[1 << 31, 1 << 31, 2], 0, 0)
        .padded(128);
    refused(&file.0, "needs more than 2^64 bytes");
}

#[test]
fn hostile_tensor_larger_than_the_file() {
    // 2^40 f32 values: 4 TiB in a file of a few bytes.
    let file = RawGguf::new(1, 0)
        .tensor("token_embd.weight", &[1 << 20, 1 << 20], 0, 0)
        .padded(128);
    let err = refused(&file.0, "ends at byte");
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
}

#[test]
fn hostile_tensor_offsets_outside_the_file() {
    let file = RawGguf::new(1, 0)
        .tensor("output_norm.weight", &[8], 0, 1 << 40)
        .padded(256);
    refused(&file.0, "ends at byte");
    // Offset plus data start past 2^64.
    let file = RawGguf::new(1, 0)
        .tensor("output_norm.weight", &[8], 0, u64::MAX - 31)
        .padded(256);
    refused(&file.0, "past 2^64 bytes");
    // An offset that breaks the alignment.
    let file = RawGguf::new(1, 0)
        .tensor("output_norm.weight", &[8], 0, 3)
        .padded(256);
    refused(&file.0, "not a multiple of the alignment 32");
    // More dimensions than ggml has.
    let file = RawGguf::new(1, 0)
        .tensor("output_norm.weight", &[1, 1, 1, 1, 8], 0, 0)
        .padded(256);
    refused(&file.0, "has 5 dimensions");
}

#[test]
fn hostile_unknown_tensor_and_metadata_types() {
    let file = RawGguf::new(1, 0)
        .tensor("output_norm.weight", &[8], 99, 0)
        .padded(256);
    refused(&file.0, "unknown type 99");
    let file = RawGguf::new(0, 1).string("general.odd").u32(13).padded(64);
    refused(&file.0, "unknown value type 13");
    let file = RawGguf::new(0, 1)
        .string("general.odd")
        .u32(9)
        .u32(77)
        .u64(1)
        .padded(64);
    refused(&file.0, "array of unknown type 77");
    let file = RawGguf::new(0, 0).padded(64);
    let mut bytes = file.0;
    bytes[4..8].copy_from_slice(&9u32.to_le_bytes());
    refused(&bytes, "GGUF version 9");
}

#[test]
fn hostile_duplicate_key_and_tensor_name() {
    let file = RawGguf::new(0, 2)
        .kv_u32("llama.block_count", 1)
        .kv_u32("llama.block_count", 4000)
        .padded(64);
    refused(&file.0, "metadata key llama.block_count appears twice");
    let file = RawGguf::new(2, 0)
        .tensor("output_norm.weight", &[8], 0, 0)
        .tensor("output_norm.weight", &[8], 0, 32)
        .padded(512);
    refused(&file.0, "tensor output_norm.weight appears twice");
}

/// A real model's header with one metadata entry rewritten by candle's writer.
fn tiny_with(edit: impl FnOnce(&mut Vec<(String, Value)>)) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    common::write_tiny_gguf(&path, "llama", None);
    let mut reader = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let content = gguf_file::Content::read(&mut reader).unwrap();
    let mut metadata: Vec<(String, Value)> = content.metadata.clone().into_iter().collect();
    metadata.sort_by(|a, b| a.0.cmp(&b.0));
    edit(&mut metadata);
    let tensors: Vec<(String, QTensor)> = content
        .tensor_infos
        .keys()
        .map(|name| {
            let t = content.tensor(&mut reader, name, &Device::Cpu).unwrap();
            (name.clone(), t)
        })
        .collect();
    let metadata_refs: Vec<(&str, &Value)> =
        metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut out, &metadata_refs, &tensor_refs).unwrap();
    out.into_inner()
}

fn set(metadata: &mut [(String, Value)], key: &str, value: Value) {
    metadata.iter_mut().find(|(k, _)| k == key).unwrap().1 = value;
}

#[test]
fn hostile_vocabulary_of_0_tokens_and_of_2_pow_32() {
    let empty = tiny_with(|m| {
        set(m, "tokenizer.ggml.tokens", Value::Array(vec![]));
        set(m, "tokenizer.ggml.token_type", Value::Array(vec![]));
    });
    refused(&empty, "tokenizer.ggml.tokens has an unusable size 0");
    // 2^32 tokens cannot be written; the header that claims them is refused by its length.
    let claimed = RawGguf::new(0, 1)
        .string("tokenizer.ggml.tokens")
        .u32(9)
        .u32(8)
        .u64(1 << 32)
        .padded(4096);
    refused(&claimed.0, "claims 4294967296 elements");
    // A vocabulary larger than the embedding table, whose ids would index past it.
    let larger = tiny_with(|m| {
        for key in ["tokenizer.ggml.tokens", "tokenizer.ggml.token_type"] {
            let Some((_, Value::Array(items))) = m.iter_mut().find(|(k, _)| k == key) else {
                panic!("{key}")
            };
            let extra = if key.ends_with("tokens") {
                Value::String("zz".into())
            } else {
                Value::I32(1)
            };
            items.push(extra);
        }
    });
    refused(&larger, "the embedding table only");
}

/// The tiny model with `tokenizer.ggml.merges` replaced by `merges`.
fn tiny_with_merges(merges: &[&str]) -> Vec<u8> {
    tiny_with(|m| {
        set(
            m,
            "tokenizer.ggml.merges",
            Value::Array(
                merges
                    .iter()
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            ),
        )
    })
}

#[test]
fn hostile_merges_naming_missing_tokens() {
    // llama.cpp keeps such merges and never applies them; Hugging Face's BPE refuses them, and
    // no converted model holds one (the default model's 48,900 merges all name tokens).
    refused(
        &tiny_with_merges(&["h e", "qq zz"]),
        r#"tokenizer.ggml.merges entry 1 "qq zz" names "qq" which is not in the vocabulary"#,
    );
    // Both parts are tokens but their join is not.
    refused(
        &tiny_with_merges(&["e h"]),
        r#"entry 0 "e h" names "eh" which is not in the vocabulary"#,
    );
    refused(
        &tiny_with_merges(&["h e", "nospace"]),
        r#"entry 1 "nospace" is not two tokens separated by a space"#,
    );
    // A hostile merge text stays on one line and is cut.
    let long = format!("h\nline {}", "x".repeat(10_000));
    let err = refused(
        &tiny_with_merges(&[&long]),
        "which is not in the vocabulary",
    );
    assert!(err.to_string().len() < 400, "{err}");

    let bytes = tiny_with_merges(&["h e"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("merges.gguf");
    std::fs::write(&path, bytes).unwrap();
    let model = load(&path).unwrap();
    let ids = model.tokenizer().encode("hello", false).unwrap();
    assert_eq!(model.tokenizer().decode(&ids).unwrap(), "hello");
    // "h e" merges: "he" is one token.
    assert_eq!(ids.len(), "hello".len() - 1, "{ids:?}");
}

#[test]
fn token_ids_past_the_vocabulary_are_ignored() {
    // Token ids in the metadata that point past the vocabulary are ignored, not indexed.
    let bytes = tiny_with(|m| set(m, "tokenizer.ggml.eos_token_id", Value::U32(u32::MAX)));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eos.gguf");
    std::fs::write(&path, bytes).unwrap();
    load(&path).unwrap();
}

#[test]
fn every_hostile_kind_of_the_issue_is_refused() {
    // The same files tests/bad_input.rs gives to `almanac ask --model FILE`.
    for hostile in hostile_files() {
        eprintln!("{}", hostile.kind);
        refused(&hostile.bytes, hostile.expected);
    }
}
