//! The byte-level pre-tokenizers that llama.cpp selects by `tokenizer.ggml.pre`, expressed as
//! `tokenizers` pieces. llama.cpp applies a list of regexes in turn, each splitting every piece
//! produced so far and keeping both matches and the gaps between them; in HF terms that is a
//! `Sequence` of `Split(regex, Isolated)` followed by a `ByteLevel` that only maps bytes.

use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::SplitDelimiterBehavior;

use crate::error::{Error, Result};

const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// How llama.cpp pre-tokenizes for one `tokenizer.ggml.pre` value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PreTokenizerSpec {
    /// Regexes applied one after the other (llama.cpp's `regex_exprs`).
    pub regexes: Vec<&'static str>,
    /// llama.cpp skips BPE merges for a word that is itself a token (Llama 3 family).
    pub ignore_merges: bool,
}

/// Maps a `tokenizer.ggml.pre` name (None when absent) to llama.cpp's regex list.
pub(crate) fn spec_for(pre: Option<&str>) -> Result<PreTokenizerSpec> {
    let spec = |regexes: Vec<&'static str>, ignore_merges| PreTokenizerSpec {
        regexes,
        ignore_merges,
    };
    let name = pre.unwrap_or("default");
    Ok(match name {
        // llama.cpp's fallback when the converter recorded no pre-tokenizer.
        "" | "default" => spec(
            vec![r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"],
            false,
        ),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" => spec(vec![LLAMA3], true),
        "dbrx" | "smaug-bpe" => spec(vec![LLAMA3], false),
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva-7b" => {
            spec(vec![r"\p{N}", GPT2], false)
        }
        "gpt-2" | "gpt2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es"
        | "jina-v2-de" | "a.x-4.0" | "mellum" | "mpt" | "olmo" | "jais" | "exaone4" => {
            spec(vec![GPT2], false)
        }
        "qwen2" | "deepseek-r1-qwen" | "stablelm2" | "megrez" => spec(vec![QWEN2], false),
        "falcon" => spec(
            vec![r"[\p{P}\$\+<=>\^~\|`]+", GPT2, r"[0-9][0-9][0-9]"],
            false,
        ),
        other => return Err(Error::UnsupportedPreTokenizer(other.to_string())),
    })
}

/// Builds `Sequence[Split(r1), Split(r2), ..., ByteLevel(no prefix space, no regex)]`.
pub(crate) fn build(spec: &PreTokenizerSpec) -> Result<PreTokenizerWrapper> {
    let mut steps: Vec<PreTokenizerWrapper> = Vec::with_capacity(spec.regexes.len() + 1);
    for regex in &spec.regexes {
        let split = Split::new(
            SplitPattern::Regex((*regex).to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| {
            Error::Tokenizer(format!(
                "pre-tokenizer regex {regex:?} does not compile: {e}"
            ))
        })?;
        steps.push(split.into());
    }
    steps.push(ByteLevel::new(false, false, false).into());
    Ok(Sequence::new(steps).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};

    fn pieces(pre: &str, text: &str) -> Vec<String> {
        let spec = spec_for(Some(pre)).unwrap();
        let pre_tokenizer = build(&spec).unwrap();
        let mut pretokenized = PreTokenizedString::from(text);
        pre_tokenizer.pre_tokenize(&mut pretokenized).unwrap();
        pretokenized
            .get_splits(OffsetReferential::Original, OffsetType::Byte)
            .into_iter()
            .map(|(s, _, _)| s.to_string())
            .collect()
    }

    #[test]
    fn smollm_splits_every_digit_then_applies_gpt2_rules() {
        // Ġ is the byte-level image of a space.
        assert_eq!(
            pieces("smollm", "Hello world 123"),
            ["Hello", "Ġworld", "Ġ", "1", "2", "3"]
        );
        assert_eq!(pieces("smollm", "I'm ok"), ["I", "'m", "Ġok"]);
    }

    #[test]
    fn gpt2_keeps_number_runs_together_and_trailing_space_apart() {
        assert_eq!(pieces("gpt-2", "abc 123  x"), ["abc", "Ġ123", "Ġ", "Ġx"]);
    }

    #[test]
    fn llama3_groups_digits_by_three_and_newlines() {
        assert_eq!(
            pieces("llama-bpe", "12345\n\nHi"),
            ["123", "45", "ĊĊ", "Hi"]
        );
    }

    #[test]
    fn unknown_pre_tokenizer_is_named_in_the_error() {
        let err = spec_for(Some("martian")).unwrap_err().to_string();
        assert!(err.contains("\"martian\""), "{err}");
    }

    #[test]
    fn absent_pre_tokenizer_uses_llama_cpp_default() {
        assert_eq!(spec_for(None).unwrap().regexes.len(), 4);
    }
}
