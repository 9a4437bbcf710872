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
    /// What each token contributes to decoded text (llama.cpp's `token_to_piece` with special
    /// tokens written out).
    piece_bytes: Vec<Vec<u8>>,
    /// Whether decoding drops one leading space from the first token's piece (SentencePiece
    /// vocabularies, which encode with a prefix space).
    add_space_prefix: bool,
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
        parsing_special
            .add_special_tokens(special)
            .map_err(tokenizer_error)?;
        parsing_special.add_tokens(user).map_err(tokenizer_error)?;
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

        let piece_bytes = piece_bytes(&vocab);

        Ok(GgufTokenizer {
            parsing_special,
            literal,
            bos: vocab.bos,
            eos: vocab.eos,
            add_bos,
            end_of_turn,
            piece_bytes,
            add_space_prefix: vocab.add_space_prefix,
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

    /// Text of `ids`, leaving out control and unknown tokens: llama.cpp's
    /// `llama_detokenize(ids, remove_special = false, unparse_special = false)`, without the
    /// `clean_spaces` pass that it applies to some byte-level vocabularies (and not to the
    /// pieces it prints while generating).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.detokenize(ids, false)
    }

    /// Text of `ids` with control tokens written out (`unparse_special = true`).
    pub fn decode_with_special(&self, ids: &[u32]) -> Result<String> {
        self.detokenize(ids, true)
    }

    /// As llama.cpp: the pieces of the tokens one after the other, where a vocabulary with a
    /// prefix space loses one leading space from the first token's piece, even when that piece
    /// is an empty (left out) control token; then UTF-8, invalid sequences replaced by U+FFFD.
    fn detokenize(&self, ids: &[u32], special: bool) -> Result<String> {
        self.check_ids(ids)?;
        let mut bytes = Vec::new();
        for (n, &id) in ids.iter().enumerate() {
            let id = id as usize;
            let hidden =
                !special && matches!(self.types[id], TokenType::Control | TokenType::Unknown);
            let mut piece: &[u8] = if hidden { &[] } else { &self.piece_bytes[id] };
            if n == 0 && self.add_space_prefix {
                piece = piece.strip_prefix(b" ").unwrap_or(piece);
            }
            bytes.extend_from_slice(piece);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
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

/// llama.cpp's `token_to_piece` for every token (special tokens written out): added tokens are
/// their text; SentencePiece pieces have `▁` turned back into spaces; byte-level pieces are
/// mapped back to bytes; byte tokens (`<0xNN>`) are that byte; unused tokens are nothing.
fn piece_bytes(vocab: &GgufVocab) -> Vec<Vec<u8>> {
    let byte_level = match vocab.model {
        VocabModel::BytePair => byte_level::token_bytes(&vocab.tokens),
        VocabModel::SentencePiece => Vec::new(),
    };
    vocab
        .tokens
        .iter()
        .zip(&vocab.types)
        .enumerate()
        .map(|(id, (text, ty))| match ty {
            TokenType::Control | TokenType::Unknown | TokenType::UserDefined => {
                text.as_bytes().to_vec()
            }
            TokenType::Byte => byte_token_value(text).map(|b| vec![b]).unwrap_or_default(),
            TokenType::Unused => Vec::new(),
            TokenType::Normal => match vocab.model {
                VocabModel::BytePair => byte_level[id].clone(),
                VocabModel::SentencePiece => sentencepiece::unescape(text).into_bytes(),
            },
        })
        .collect()
}

/// The byte of a byte token such as `<0x0A>`.
fn byte_token_value(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests;
