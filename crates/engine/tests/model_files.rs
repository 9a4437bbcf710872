//! Loading errors for missing, foreign, truncated and corrupt GGUF files, and a tiny generated
//! Llama model for the template and generation paths.

mod common;

use std::io::{Read, Write};

use almanac_engine::{
    CancelFlag, ChatMessage, ChatModel, Error, GenerationParams, LoadOptions, StopReason,
};

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
