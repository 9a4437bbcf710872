//! The tokenizer part of GGUF metadata (`tokenizer.ggml.*`), read and checked once.

use candle_core::quantized::gguf_file::{Content, Value};

use crate::error::{Error, Result};
use crate::gguf_metadata as md;

/// llama.cpp's `llama_token_type`, as stored in `tokenizer.ggml.token_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl TokenType {
    fn from_gguf(code: i64) -> TokenType {
        match code {
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            // 0 ("undefined") and 1 are ordinary tokens.
            _ => TokenType::Normal,
        }
    }

    /// Tokens that llama.cpp cuts out of the text before BPE runs.
    pub fn is_added(self) -> bool {
        matches!(
            self,
            TokenType::Unknown | TokenType::Control | TokenType::UserDefined
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VocabModel {
    /// `tokenizer.ggml.model = "gpt2"`: byte-level BPE with explicit merges.
    BytePair,
    /// `tokenizer.ggml.model = "llama"`: SentencePiece pieces with scores.
    SentencePiece,
}

#[derive(Debug, Clone)]
pub(crate) struct GgufVocab {
    pub model: VocabModel,
    pub pre: Option<String>,
    pub tokens: Vec<String>,
    pub types: Vec<TokenType>,
    pub scores: Vec<f32>,
    pub merges: Vec<String>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub unk: Option<u32>,
    pub extra_end_ids: Vec<u32>,
    /// `tokenizer.ggml.add_bos_token` when present; the default depends on the model kind.
    pub add_bos: Option<bool>,
    pub add_space_prefix: bool,
}

fn strings(values: &[Value], key: &str) -> Result<Vec<String>> {
    values
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(Error::Tokenizer(format!(
                "{key} holds a value that is not a string"
            ))),
        })
        .collect()
}

impl GgufVocab {
    pub(crate) fn from_gguf(content: &Content) -> Result<GgufVocab> {
        let model = match md::string(content, "tokenizer.ggml.model") {
            Some("gpt2") => VocabModel::BytePair,
            Some("llama") => VocabModel::SentencePiece,
            Some(other) => return Err(Error::UnsupportedTokenizerModel(other.to_string())),
            None => {
                return Err(Error::Tokenizer(
                    "the model file has no tokenizer (tokenizer.ggml.model is missing)".into(),
                ))
            }
        };
        let tokens = md::array(content, "tokenizer.ggml.tokens")
            .ok_or_else(|| Error::Tokenizer("tokenizer.ggml.tokens is missing".into()))
            .and_then(|v| strings(v, "tokenizer.ggml.tokens"))?;
        if tokens.is_empty() || tokens.len() > u32::MAX as usize {
            return Err(Error::Tokenizer(format!(
                "tokenizer.ggml.tokens has an unusable size {}",
                tokens.len()
            )));
        }
        let n = tokens.len();
        let types = match md::array(content, "tokenizer.ggml.token_type") {
            Some(values) if values.len() == n => values
                .iter()
                .map(|v| TokenType::from_gguf(md::value_as_i64(v).unwrap_or(1)))
                .collect(),
            Some(values) => {
                return Err(Error::Tokenizer(format!(
                    "tokenizer.ggml.token_type has {} entries but there are {n} tokens",
                    values.len()
                )))
            }
            None => vec![TokenType::Normal; n],
        };
        let scores = match md::array(content, "tokenizer.ggml.scores") {
            Some(values) if values.len() == n => values
                .iter()
                .map(|v| md::value_as_f32(v).unwrap_or(0.0))
                .collect(),
            Some(values) => {
                return Err(Error::Tokenizer(format!(
                    "tokenizer.ggml.scores has {} entries but there are {n} tokens",
                    values.len()
                )))
            }
            None => Vec::new(),
        };
        let merges = match md::array(content, "tokenizer.ggml.merges") {
            Some(values) => strings(values, "tokenizer.ggml.merges")?,
            None => Vec::new(),
        };
        if model == VocabModel::BytePair && merges.is_empty() {
            return Err(Error::Tokenizer(
                "tokenizer.ggml.merges is missing for a gpt2 tokenizer".into(),
            ));
        }
        if model == VocabModel::SentencePiece && scores.is_empty() {
            return Err(Error::Tokenizer(
                "tokenizer.ggml.scores is missing for a llama tokenizer".into(),
            ));
        }
        let id = |key: &str| {
            md::integer(content, key)
                .filter(|&id| (id as usize) < n)
                .map(|id| id as u32)
        };
        let mut extra_end_ids: Vec<u32> =
            ["tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"]
                .iter()
                .filter_map(|key| id(key))
                .collect();
        extra_end_ids.dedup();
        // llama.cpp's default: SentencePiece models add a prefix space, byte-level ones do not.
        let spm = model == VocabModel::SentencePiece;
        Ok(GgufVocab {
            pre: md::string(content, "tokenizer.ggml.pre").map(str::to_string),
            bos: id("tokenizer.ggml.bos_token_id"),
            eos: id("tokenizer.ggml.eos_token_id"),
            unk: id("tokenizer.ggml.unknown_token_id"),
            add_bos: md::boolean(content, "tokenizer.ggml.add_bos_token"),
            add_space_prefix: md::boolean(content, "tokenizer.ggml.add_space_prefix")
                .unwrap_or(spm),
            model,
            tokens,
            types,
            scores,
            merges,
            extra_end_ids,
        })
    }
}
