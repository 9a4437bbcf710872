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
