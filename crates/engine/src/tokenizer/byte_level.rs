//! Byte-level BPE (`tokenizer.ggml.model = "gpt2"`): GPT-2, SmolLM, Llama 3 and friends.

use std::collections::HashMap;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::Tokenizer;

use super::pre_tokenizer;
use super::vocab::GgufVocab;
use crate::error::{Error, Result};

pub(crate) fn build(vocab: &GgufVocab) -> Result<Tokenizer> {
    let spec = pre_tokenizer::spec_for(vocab.pre.as_deref())?;
    let ids = token_ids(&vocab.tokens);
    let merges = checked_merges(&vocab.merges, &ids)?;
    let bpe = BPE::builder()
        .vocab_and_merges(
            ids.into_iter().collect::<tokenizers::models::bpe::Vocab>(),
            merges,
        )
        .ignore_merges(spec.ignore_merges)
        .build()
        .map_err(|e| Error::Tokenizer(format!("cannot build the BPE model: {e}")))?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer::build(&spec)?));
    tokenizer.with_decoder(Some(ByteLevelDecoder::new(false, false, false)));
    Ok(tokenizer)
}

/// Each merge as its two parts. A merge that is not two tokens joined by a space, or whose
/// parts or result are not tokens, makes the file refused: Hugging Face's BPE refuses such a
/// merge too (llama.cpp keeps it and never applies it), and a converted model never holds one.
fn checked_merges(merges: &[String], ids: &HashMap<String, u32>) -> Result<Vec<(String, String)>> {
    merges
        .iter()
        .enumerate()
        .map(|(i, merge)| {
            let refuse = |why: &str| {
                Error::Tokenizer(format!(
                    "tokenizer.ggml.merges entry {i} {} {why}",
                    shown(merge)
                ))
            };
            let (a, b) = merge
                .split_once(' ')
                .ok_or_else(|| refuse("is not two tokens separated by a space"))?;
            for part in [a, b, &format!("{a}{b}")] {
                if !ids.contains_key(part) {
                    return Err(refuse(&format!(
                        "names {} which is not in the vocabulary",
                        shown(part)
                    )));
                }
            }
            Ok((a.to_string(), b.to_string()))
        })
        .collect()
}

/// A token text from the file for a one-line message: escaped, and cut if long.
fn shown(text: &str) -> String {
    const MAX_CHARS: usize = 40;
    let cut: String = text.chars().take(MAX_CHARS).collect();
    let ellipsis = if cut.len() < text.len() { "…" } else { "" };
    format!("{:?}{ellipsis}", cut)
}

/// GPT-2's map from bytes to the printable characters that byte-level vocabularies store.
fn byte_to_char() -> [char; 256] {
    let printable =
        |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let mut chars = ['\0'; 256];
    let mut next = 256;
    for (b, slot) in chars.iter_mut().enumerate() {
        let b = b as u32;
        *slot = if printable(b) {
            char::from_u32(b)
        } else {
            next += 1;
            char::from_u32(next - 1)
        }
        .expect("byte-level characters are below U+0200");
    }
    chars
}

/// The bytes each byte-level token text stands for (indexed like `tokens`). A text with a
/// character outside the byte alphabet stands for its own UTF-8, as in `tokenizers`' decoder.
pub(crate) fn token_bytes(tokens: &[String]) -> Vec<Vec<u8>> {
    let chars = byte_to_char();
    let bytes: HashMap<char, u8> = chars
        .iter()
        .enumerate()
        .map(|(b, &c)| (c, b as u8))
        .collect();
    tokens
        .iter()
        .map(|text| {
            text.chars()
                .map(|c| bytes.get(&c).copied())
                .collect::<Option<Vec<u8>>>()
                .unwrap_or_else(|| text.as_bytes().to_vec())
        })
        .collect()
}

/// Token text to id; when a text repeats, the first id wins, as in llama.cpp.
pub(crate) fn token_ids(tokens: &[String]) -> HashMap<String, u32> {
    let mut ids = HashMap::with_capacity(tokens.len());
    for (id, token) in tokens.iter().enumerate() {
        ids.entry(token.clone()).or_insert(id as u32);
    }
    ids
}
