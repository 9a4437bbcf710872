//! Turns generated token ids into text deltas that are always whole UTF-8 characters.
//!
//! Byte-level and byte-fallback tokens can end in the middle of a character. Each step decodes
//! a short window of recent tokens and emits only what grew past the previous decode, holding
//! back while the text ends in U+FFFD (an incomplete sequence). `tokenizers`' own `DecodeStream`
//! works the same way but cannot hand back what it holds when generation ends, so we keep this.

use crate::error::Result;
use crate::tokenizer::GgufTokenizer;

#[derive(Default)]
pub(crate) struct IncrementalDecoder {
    ids: Vec<u32>,
    /// Start of the window that is decoded each step.
    prefix_offset: usize,
    /// End of the tokens whose text has been emitted.
    read_offset: usize,
}

impl IncrementalDecoder {
    pub(crate) fn push(&mut self, tokenizer: &GgufTokenizer, id: u32) -> Result<String> {
        self.ids.push(id);
        let prefix = tokenizer.decode(&self.ids[self.prefix_offset..self.read_offset])?;
        let full = tokenizer.decode(&self.ids[self.prefix_offset..])?;
        if full.len() > prefix.len()
            && !full.ends_with('\u{fffd}')
            && full.is_char_boundary(prefix.len())
            && full.starts_with(&prefix)
        {
            let delta = full[prefix.len()..].to_string();
            self.prefix_offset = self.read_offset;
            self.read_offset = self.ids.len();
            return Ok(delta);
        }
        Ok(String::new())
    }

    /// Whatever is still held back, replacement characters included; call once at the end.
    pub(crate) fn finish(&mut self, tokenizer: &GgufTokenizer) -> Result<String> {
        let prefix = tokenizer.decode(&self.ids[self.prefix_offset..self.read_offset])?;
        let full = tokenizer.decode(&self.ids[self.prefix_offset..])?;
        self.prefix_offset = self.ids.len();
        self.read_offset = self.ids.len();
        Ok(match full.get(prefix.len()..) {
            Some(rest) if full.starts_with(&prefix) => rest.to_string(),
            _ => String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(tokenizer: &GgufTokenizer, ids: &[u32]) -> (Vec<String>, String) {
        let mut decoder = IncrementalDecoder::default();
        let deltas = ids
            .iter()
            .map(|&id| decoder.push(tokenizer, id).unwrap())
            .filter(|d| !d.is_empty())
            .collect();
        (deltas, decoder.finish(tokenizer).unwrap())
    }

    #[test]
    fn characters_split_across_byte_level_tokens_are_emitted_whole() {
        let tokenizer = crate::test_support::smollm_tokenizer();
        let text = "안녕하세요 🙂👍🏽 naïve 🇰🇷 done";
        let ids = tokenizer.encode_without_bos(text, false).unwrap();
        let split = ids
            .iter()
            .filter(|&&id| tokenizer.token_piece(id).unwrap().contains('\u{fffd}'))
            .count();
        assert!(
            split >= 4,
            "the text should have tokens holding part of a character"
        );
        let (deltas, rest) = stream(&tokenizer, &ids);
        assert_eq!(rest, "");
        assert!(deltas.iter().all(|d| !d.contains('\u{fffd}')), "{deltas:?}");
        assert_eq!(deltas.concat(), text);
        assert!(deltas.len() >= 6, "{deltas:?}");
    }

    #[test]
    fn an_unfinished_character_is_held_then_flushed() {
        let tokenizer = crate::test_support::smollm_tokenizer();
        let ids = tokenizer.encode_without_bos("ok 🦩🦩", false).unwrap();
        // Stop right after the first token that leaves a character unfinished.
        let cut = (1..=ids.len())
            .find(|&n| tokenizer.decode(&ids[..n]).unwrap().ends_with('\u{fffd}'))
            .expect("the flamingo emoji spans several tokens");
        let (deltas, rest) = stream(&tokenizer, &ids[..cut]);
        assert_eq!(deltas.concat(), "ok");
        assert!(
            rest.starts_with(' ') && rest.ends_with('\u{fffd}'),
            "{rest:?}"
        );
    }
}
