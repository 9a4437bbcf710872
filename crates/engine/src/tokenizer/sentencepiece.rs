//! SentencePiece vocabularies (`tokenizer.ggml.model = "llama"`: Llama 2, TinyLlama, Mistral v0.1).
//!
//! GGUF keeps pieces and scores, not merges. As HF's `SentencePieceExtractor` does, merges are
//! derived from the scores: every split of a piece into two pieces that are themselves in the
//! vocabulary is a merge, ranked by the score of the merged piece. BPE with byte fallback over
//! those merges reproduces SentencePiece's (and llama.cpp's) highest-score-first merging.

use std::collections::HashMap;

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::{NormalizerWrapper, Tokenizer};

use super::byte_level::token_ids;
use super::vocab::GgufVocab;
use crate::error::{Error, Result};

/// SentencePiece's stand-in for a space.
const SPACE: &str = "\u{2581}";

pub(crate) fn build(vocab: &GgufVocab) -> Result<Tokenizer> {
    let ids = token_ids(&vocab.tokens);
    let merges = merges_from_scores(&vocab.tokens, &vocab.scores, &ids);
    let unk = vocab.tokens[vocab.unk.unwrap_or(0) as usize].clone();
    let bpe = BPE::builder()
        .vocab_and_merges(
            ids.into_iter().collect::<tokenizers::models::bpe::Vocab>(),
            merges,
        )
        .unk_token(unk)
        .fuse_unk(true)
        .byte_fallback(true)
        .build()
        .map_err(|e| Error::Tokenizer(format!("cannot build the SentencePiece model: {e}")))?;
    let mut tokenizer = Tokenizer::new(bpe);

    let replace = |from: &str, to: &str| {
        Replace::new(from, to)
            .map_err(|e| Error::Tokenizer(format!("cannot build a replace step: {e}")))
    };
    // The normalizer runs on each stretch of text between special tokens, so the prefix space is
    // added at the start and after every special token, as llama.cpp does.
    let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
    if vocab.add_space_prefix {
        normalizers.push(Prepend::new(SPACE.to_string()).into());
    }
    normalizers.push(replace(" ", SPACE)?.into());
    tokenizer
        .with_normalizer(Some(NormalizerSequence::new(normalizers)))
        .map_err(|e| Error::Tokenizer(format!("cannot set the normalizer: {e}")))?;

    let mut decoders: Vec<DecoderWrapper> = vec![
        replace(SPACE, " ")?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if vocab.add_space_prefix {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    tokenizer.with_decoder(Some(DecoderSequence::new(decoders)));
    Ok(tokenizer)
}

/// A piece's text with `▁` turned back into spaces.
pub(crate) fn unescape(piece: &str) -> String {
    piece.replace(SPACE, " ")
}

/// Every (left, right) split of each piece into two known pieces, best merged score first.
/// Ties keep vocabulary order, then the order of the parts' ids, as HF's extractor does.
pub(crate) fn merges_from_scores(
    tokens: &[String],
    scores: &[f32],
    ids: &HashMap<String, u32>,
) -> Vec<(String, String)> {
    let mut merges: Vec<(String, String, f32)> = Vec::new();
    for (index, (piece, &score)) in tokens.iter().zip(scores).enumerate() {
        // A repeated piece text would add its merges twice and lower their rank.
        if ids.get(piece) != Some(&(index as u32)) {
            continue;
        }
        let mut local: Vec<(u32, u32, &str, &str)> = piece
            .char_indices()
            .skip(1)
            .filter_map(|(at, _)| {
                let (left, right) = piece.split_at(at);
                Some((*ids.get(left)?, *ids.get(right)?, left, right))
            })
            .collect();
        local.sort_by_key(|&(l, r, _, _)| (l, r));
        merges.extend(
            local
                .into_iter()
                .map(|(_, _, l, r)| (l.to_string(), r.to_string(), score)),
        );
    }
    // Stable sort: equal scores stay in the order built above.
    merges.sort_by(|a, b| b.2.total_cmp(&a.2));
    merges.into_iter().map(|(l, r, _)| (l, r)).collect()
}
