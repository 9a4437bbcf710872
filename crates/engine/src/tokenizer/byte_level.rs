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
    // llama.cpp ignores a merge whose parts are not tokens; HF's BPE refuses to build with one.
    let merges: Vec<(String, String)> = vocab
        .merges
        .iter()
        .filter_map(|m| m.split_once(' '))
        .filter(|(a, b)| {
            ids.contains_key(*a) && ids.contains_key(*b) && ids.contains_key(&format!("{a}{b}"))
        })
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
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

/// Token text to id; when a text repeats, the first id wins, as in llama.cpp.
pub(crate) fn token_ids(tokens: &[String]) -> HashMap<String, u32> {
    let mut ids = HashMap::with_capacity(tokens.len());
    for (id, token) in tokens.iter().enumerate() {
        ids.entry(token.clone()).or_insert(id as u32);
    }
    ids
}
