//! A tokenizer rebuilt from GGUF metadata with the `tokenizers` crate, aiming at the same ids as
//! llama.cpp's `llama_tokenize`.

mod byte_level;
mod pre_tokenizer;
mod sentencepiece;
mod vocab;

use candle_core::quantized::gguf_file::Content;
use tokenizers::{AddedToken, Tokenizer};

use crate::error::{Error, Result};
pub use vocab::TokenType;
use vocab::{GgufVocab, VocabModel};

/// Texts of tokens that end an assistant turn in the chat formats we know. llama.cpp treats the
/// same set as end-of-generation when the vocabulary has them.
const END_OF_TURN_TEXTS: &[&str] = &[
    "<|im_end|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end_of_text|>",
    "<|endoftext|>",
    "<|end|>",
    "<end_of_turn>",
    "<EOT>",
    "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>",
];

pub struct GgufTokenizer {
    /// Control tokens in text become their ids.
    parsing_special: Tokenizer,
    /// Control tokens in text are ordinary text.
    literal: Tokenizer,
    pieces: Vec<String>,
    types: Vec<TokenType>,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    end_of_turn: Vec<u32>,
}

impl std::fmt::Debug for GgufTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufTokenizer")
            .field("vocab_size", &self.pieces.len())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("add_bos", &self.add_bos)
            .field("end_of_turn", &self.end_of_turn)
            .finish()
    }
}

fn tokenizer_error(err: impl std::fmt::Display) -> Error {
    Error::Tokenizer(crate::error::one_line(err))
}

impl GgufTokenizer {
    pub fn from_gguf(content: &Content) -> Result<Self> {
        let mut vocab = GgufVocab::from_gguf(content)?;
        // As llama.cpp does, an end-of-turn marker stored as an ordinary token is a control token.
        for (text, ty) in vocab.tokens.iter().zip(vocab.types.iter_mut()) {
            if END_OF_TURN_TEXTS.contains(&text.as_str()) {
                *ty = TokenType::Control;
            }
        }
        let mut parsing_special = match vocab.model {
            VocabModel::BytePair => byte_level::build(&vocab)?,
            VocabModel::SentencePiece => sentencepiece::build(&vocab)?,
        };
        // Control and unknown tokens are special (matched only when asked); user-defined ones
        // are always matched, as llama.cpp does.
        let added: Vec<AddedToken> = vocab
            .tokens
            .iter()
            .zip(&vocab.types)
            .filter(|(text, ty)| ty.is_added() && !text.is_empty())
            .map(|(text, ty)| {
                AddedToken::from(text.clone(), *ty != TokenType::UserDefined).normalized(false)
            })
            .collect();
        let (special, user): (Vec<AddedToken>, Vec<AddedToken>) =
            added.into_iter().partition(|t| t.special);
        parsing_special.add_special_tokens(&special);
        parsing_special.add_tokens(&user);
        let mut literal = parsing_special.clone();
        literal.set_encode_special_tokens(true);

        let llama3_family = matches!(
            vocab.pre.as_deref(),
            Some("llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "pixtral")
        );
        let add_bos = vocab
            .add_bos
            .unwrap_or(vocab.model == VocabModel::SentencePiece || llama3_family)
            && vocab.bos.is_some();

        let mut end_of_turn: Vec<u32> = vocab
            .eos
            .into_iter()
            .chain(vocab.extra_end_ids.iter().copied())
            .collect();
        for (id, text) in vocab.tokens.iter().enumerate() {
            if END_OF_TURN_TEXTS.contains(&text.as_str()) {
                end_of_turn.push(id as u32);
            }
        }
        end_of_turn.sort_unstable();
        end_of_turn.dedup();

        Ok(GgufTokenizer {
            parsing_special,
            literal,
            bos: vocab.bos,
            eos: vocab.eos,
            add_bos,
            end_of_turn,
            pieces: vocab.tokens,
            types: vocab.types,
        })
    }

    /// Tokens for `text`, with BOS first when the model asks for it (`tokenizer.ggml.add_bos_token`)
    /// and the text does not already begin with it. `parse_special`: whether control-token texts
    /// such as `<|im_end|>` become their ids (true) or are tokenized as plain text (false).
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>> {
        let mut ids = self.encode_without_bos(text, parse_special)?;
        if let (true, Some(bos)) = (self.add_bos, self.bos) {
            if ids.first() != Some(&bos) {
                ids.insert(0, bos);
            }
        }
        Ok(ids)
    }

    /// Tokens for `text` and nothing else: llama.cpp's `tokenize(text, add_special=false, parse_special)`.
    pub fn encode_without_bos(&self, text: &str, parse_special: bool) -> Result<Vec<u32>> {
        let tokenizer = if parse_special {
            &self.parsing_special
        } else {
            &self.literal
        };
        let encoding = tokenizer
            .encode_fast(text, false)
            .map_err(tokenizer_error)?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Text of `ids`, leaving out control tokens (as llama.cpp's detokenizer does by default).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.check_ids(ids)?;
        self.parsing_special
            .decode(ids, true)
            .map_err(tokenizer_error)
    }

    /// Text of `ids` with control tokens written out.
    pub fn decode_with_special(&self, ids: &[u32]) -> Result<String> {
        self.check_ids(ids)?;
        self.parsing_special
            .decode(ids, false)
            .map_err(tokenizer_error)
    }

    fn check_ids(&self, ids: &[u32]) -> Result<()> {
        match ids.iter().find(|&&id| id as usize >= self.pieces.len()) {
            Some(id) => Err(Error::Tokenizer(format!(
                "token id {id} is outside the vocabulary of {} tokens",
                self.pieces.len()
            ))),
            None => Ok(()),
        }
    }

    /// What one token stands for: the text of a control token, else its decoded text (which
    /// may be a lone U+FFFD when the token is part of a multi-byte character).
    pub fn token_piece(&self, id: u32) -> Option<String> {
        let ty = *self.types.get(id as usize)?;
        if ty.is_added() {
            return self.pieces.get(id as usize).cloned();
        }
        self.parsing_special.decode(&[id], false).ok()
    }

    /// The token as stored in the GGUF vocabulary (byte-level or SentencePiece form).
    pub fn raw_token(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize).map(String::as_str)
    }

    pub fn token_type(&self, id: u32) -> Option<TokenType> {
        self.types.get(id as usize).copied()
    }

    pub fn vocab_size(&self) -> usize {
        self.pieces.len()
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    pub fn bos_token(&self) -> Option<&str> {
        self.bos.and_then(|id| self.raw_token(id))
    }

    pub fn eos_token(&self) -> Option<&str> {
        self.eos.and_then(|id| self.raw_token(id))
    }

    /// Whether `encode` puts BOS first.
    pub fn adds_bos(&self) -> bool {
        self.add_bos
    }

    /// Ids that end an assistant turn: EOS, EOT/EOM, and control tokens such as `<|im_end|>`.
    pub fn end_of_turn_ids(&self) -> &[u32] {
        &self.end_of_turn
    }

    /// Texts that `encode(.., parse_special = true)` turns into a single control, unknown or
    /// user-defined token, longest first. Untrusted text should have these neutralised before it
    /// goes into a prompt.
    pub fn special_token_strings(&self) -> Vec<String> {
        let mut texts: Vec<String> = self
            .pieces
            .iter()
            .zip(&self.types)
            .filter(|(text, ty)| ty.is_added() && !text.is_empty())
            .map(|(text, _)| text.clone())
            .collect();
        texts.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        texts.dedup();
        texts
    }
}

#[cfg(test)]
mod tests;
