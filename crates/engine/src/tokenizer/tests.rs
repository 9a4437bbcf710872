//! Tokenizers built from small hand-made GGUF vocabularies.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::{Content, Value, VersionedMagic};

use super::*;

fn content(entries: Vec<(&str, Value)>) -> Content {
    Content {
        magic: VersionedMagic::GgufV3,
        metadata: entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<HashMap<_, _>>(),
        tensor_infos: HashMap::new(),
        tensor_data_offset: 0,
    }
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::String(s.clone())).collect())
}

// ---------- SentencePiece ("llama") ----------

/// Pieces and scores of a toy SentencePiece model. "bc" outscores "ab", so "abc" must become
/// "a" + "bc" even though "ab" comes first in the text.
fn spm_vocab() -> (Vec<String>, Vec<f32>, Vec<i32>) {
    let mut tokens = vec!["<unk>".to_string(), "<s>".into(), "</s>".into()];
    let mut types = vec![2, 3, 3];
    let mut scores = vec![0.0, 0.0, 0.0];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
        scores.push(0.0);
    }
    let normal: &[(&str, f32)] = &[
        ("\u{2581}", -1.0),
        ("h", -2.0),
        ("e", -2.0),
        ("l", -2.0),
        ("o", -2.0),
        ("w", -2.0),
        ("r", -2.0),
        ("d", -2.0),
        ("a", -2.0),
        ("b", -2.0),
        ("c", -2.0),
        ("he", -3.0),
        ("ll", -3.0),
        ("hell", -4.0),
        ("hello", -5.0),
        ("\u{2581}hello", -6.0),
        ("or", -3.0),
        ("ld", -3.0),
        ("\u{2581}w", -3.5),
        ("\u{2581}wor", -4.5),
        ("\u{2581}world", -5.5),
        ("ab", -9.0),
        ("bc", -1.5),
    ];
    for (piece, score) in normal {
        tokens.push(piece.to_string());
        types.push(1);
        scores.push(*score);
    }
    (tokens, scores, types)
}

fn spm_tokenizer(add_bos: bool) -> GgufTokenizer {
    let (tokens, scores, types) = spm_vocab();
    GgufTokenizer::from_gguf(&content(vec![
        ("tokenizer.ggml.model", Value::String("llama".into())),
        ("tokenizer.ggml.tokens", strings(&tokens)),
        (
            "tokenizer.ggml.scores",
            Value::Array(scores.into_iter().map(Value::F32).collect()),
        ),
        (
            "tokenizer.ggml.token_type",
            Value::Array(types.into_iter().map(Value::I32).collect()),
        ),
        ("tokenizer.ggml.bos_token_id", Value::U32(1)),
        ("tokenizer.ggml.eos_token_id", Value::U32(2)),
        ("tokenizer.ggml.unknown_token_id", Value::U32(0)),
        ("tokenizer.ggml.add_bos_token", Value::Bool(add_bos)),
    ]))
    .unwrap()
}

fn pieces_of(tok: &GgufTokenizer, ids: &[u32]) -> Vec<String> {
    ids.iter()
        .map(|&id| tok.raw_token(id).unwrap().to_string())
        .collect()
}

#[test]
fn sentencepiece_merges_follow_scores_and_prefix_space() {
    let tok = spm_tokenizer(false);
    let ids = tok.encode("hello world", true).unwrap();
    assert_eq!(pieces_of(&tok, &ids), ["\u{2581}hello", "\u{2581}world"]);
    let ids = tok.encode("abc", true).unwrap();
    assert_eq!(pieces_of(&tok, &ids), ["\u{2581}", "a", "bc"]);
}

#[test]
fn sentencepiece_falls_back_to_bytes_and_decodes_them() {
    let tok = spm_tokenizer(false);
    let ids = tok.encode("hello é", true).unwrap();
    assert_eq!(
        pieces_of(&tok, &ids),
        ["\u{2581}hello", "\u{2581}", "<0xC3>", "<0xA9>"]
    );
    assert_eq!(tok.decode(&ids).unwrap(), "hello é");
}

#[test]
fn sentencepiece_special_tokens_and_bos() {
    let tok = spm_tokenizer(true);
    let ids = tok.encode("<s>hello</s>", true).unwrap();
    // BOS is not doubled; a prefix space follows the special token, as in llama.cpp.
    assert_eq!(pieces_of(&tok, &ids), ["<s>", "\u{2581}hello", "</s>"]);
    let literal = tok.encode_without_bos("<s>", false).unwrap();
    assert!(!literal.contains(&1), "{:?}", pieces_of(&tok, &literal));
    assert_eq!(tok.encode("hello", true).unwrap()[0], 1);
    assert!(tok.adds_bos());
    assert_eq!(tok.end_of_turn_ids(), &[2]);
}

#[test]
fn sentencepiece_decoding_strips_the_prefix_space_of_the_first_token_only() {
    let tok = spm_tokenizer(true);
    let ids = tok.encode("hello world", true).unwrap();
    assert_eq!(
        pieces_of(&tok, &ids),
        ["<s>", "\u{2581}hello", "\u{2581}world"]
    );
    // As llama_detokenize: the first token (here BOS, left out) takes the prefix-space strip.
    assert_eq!(tok.decode(&ids).unwrap(), " hello world");
    assert_eq!(tok.decode(&ids[1..]).unwrap(), "hello world");
    assert_eq!(tok.decode_with_special(&ids).unwrap(), "<s> hello world");
    // Unknown tokens are left out like control tokens unless asked for.
    assert_eq!(tok.decode(&[0, ids[1]]).unwrap(), " hello");
    assert_eq!(
        tok.decode_with_special(&[0, ids[1]]).unwrap(),
        "<unk> hello"
    );
}

// ---------- byte-level BPE ("gpt2") ----------

/// GPT-2's reversible map from bytes to printable characters.
fn byte_alphabet() -> Vec<char> {
    let printable =
        |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let mut next = 256;
    (0..=255u32)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).unwrap()
            } else {
                let c = char::from_u32(next).unwrap();
                next += 1;
                c
            }
        })
        .collect()
}

fn bpe_content(pre: Option<&str>) -> Content {
    let mut tokens = vec![
        "<|endoftext|>".to_string(),
        "<|im_start|>".into(),
        "<|im_end|>".into(),
    ];
    let mut types = vec![3, 3, 3];
    for c in byte_alphabet() {
        tokens.push(c.to_string());
        types.push(1);
    }
    let merges = [
        "h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "1 2",
    ];
    for m in merges {
        tokens.push(m.replace(' ', ""));
        types.push(1);
    }
    let mut entries = vec![
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.tokens", strings(&tokens)),
        (
            "tokenizer.ggml.token_type",
            Value::Array(types.into_iter().map(Value::I32).collect()),
        ),
        ("tokenizer.ggml.merges", strings(&merges.map(String::from))),
        ("tokenizer.ggml.bos_token_id", Value::U32(1)),
        ("tokenizer.ggml.eos_token_id", Value::U32(2)),
        ("tokenizer.ggml.add_bos_token", Value::Bool(false)),
    ];
    if let Some(pre) = pre {
        entries.push(("tokenizer.ggml.pre", Value::String(pre.into())));
    }
    content(entries)
}

fn bpe_tokenizer(pre: Option<&str>) -> GgufTokenizer {
    GgufTokenizer::from_gguf(&bpe_content(pre)).unwrap()
}

#[test]
fn byte_level_merges_and_special_tokens() {
    let tok = bpe_tokenizer(Some("smollm"));
    let ids = tok.encode("hello world<|im_end|>", true).unwrap();
    assert_eq!(pieces_of(&tok, &ids), ["hello", "Ġworld", "<|im_end|>"]);
    assert_eq!(tok.decode(&ids).unwrap(), "hello world");
    assert_eq!(
        tok.decode_with_special(&ids).unwrap(),
        "hello world<|im_end|>"
    );

    let literal = tok.encode("<|im_end|>", false).unwrap();
    assert!(literal.len() > 1 && !literal.contains(&2), "{literal:?}");
    assert_eq!(tok.decode(&literal).unwrap(), "<|im_end|>");
}

#[test]
fn byte_level_digits_depend_on_the_pre_tokenizer() {
    // smollm splits digits one by one, so the "12" merge never applies; gpt-2 keeps the run.
    let smollm = bpe_tokenizer(Some("smollm"));
    assert_eq!(
        pieces_of(&smollm, &smollm.encode("12", true).unwrap()),
        ["1", "2"]
    );
    let gpt2 = bpe_tokenizer(Some("gpt-2"));
    assert_eq!(pieces_of(&gpt2, &gpt2.encode("12", true).unwrap()), ["12"]);
}

#[test]
fn byte_level_round_trips_multibyte_text() {
    let tok = bpe_tokenizer(Some("smollm"));
    let text = "안녕 🙂 naïve\n\t  x";
    let ids = tok.encode(text, true).unwrap();
    assert_eq!(tok.decode(&ids).unwrap(), text);
    // A byte of a multi-byte character on its own is not valid UTF-8.
    assert_eq!(tok.token_piece(ids[0]).unwrap(), "\u{fffd}");
}

#[test]
fn end_of_turn_and_special_strings() {
    let tok = bpe_tokenizer(Some("smollm"));
    assert_eq!(tok.end_of_turn_ids(), &[0, 2]);
    assert_eq!(
        tok.special_token_strings(),
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    );
    assert_eq!(tok.token_piece(2).as_deref(), Some("<|im_end|>"));
    assert_eq!(tok.token_piece(99_999), None);
    assert!(tok.decode(&[99_999]).is_err());
}

#[test]
fn unknown_pre_tokenizer_and_model_are_errors() {
    let err = GgufTokenizer::from_gguf(&bpe_content(Some("martian"))).unwrap_err();
    assert!(
        err.to_string().contains("pre-tokenizer \"martian\""),
        "{err}"
    );
    let err = GgufTokenizer::from_gguf(&content(vec![(
        "tokenizer.ggml.model",
        Value::String("t5".into()),
    )]))
    .unwrap_err();
    assert!(err.to_string().contains("\"t5\""), "{err}");
}

#[test]
fn sentencepiece_byte_fallback_streams_whole_characters() {
    let tok = spm_tokenizer(false);
    let ids = tok.encode("hello é world", true).unwrap();
    let mut decoder = crate::text_stream::IncrementalDecoder::default();
    let mut deltas: Vec<String> = ids
        .iter()
        .map(|&id| decoder.push(&tok, id).unwrap())
        .collect();
    deltas.push(decoder.finish(&tok).unwrap());
    assert!(deltas.iter().all(|d| !d.contains('\u{fffd}')), "{deltas:?}");
    assert_eq!(deltas.concat(), "hello é world");
}

#[test]
fn end_of_turn_markers_stored_as_normal_tokens_become_control() {
    let mut c = bpe_content(Some("smollm"));
    // An older conversion that typed every token as normal.
    let n = match c.metadata.get("tokenizer.ggml.tokens") {
        Some(Value::Array(tokens)) => tokens.len(),
        _ => unreachable!(),
    };
    c.metadata.insert(
        "tokenizer.ggml.token_type".into(),
        Value::Array(vec![Value::I32(1); n]),
    );
    let tok = GgufTokenizer::from_gguf(&c).unwrap();
    assert_eq!(tok.end_of_turn_ids(), &[0, 2]);
    assert_eq!(tok.encode("hi<|im_end|>", true).unwrap().last(), Some(&2));
    assert_eq!(tok.special_token_strings(), ["<|endoftext|>", "<|im_end|>"]);
}
