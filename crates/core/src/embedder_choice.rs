//! The embedding model a new library starts with. English-only all-MiniLM-L6-v2 is the default;
//! a library whose first documents are mostly Chinese, Japanese or Korean is built with the
//! multilingual model instead, because on the Korean retrieval set MiniLM's vectors find almost
//! nothing (dense nDCG@10 0.06 against 0.77; docs/decisions/0010-multilingual-embedder.md).
//! The choice is made only while the library is empty, before anything is embedded, so it never
//! costs a re-embedding; `auto_embedder: false` in the settings turns it off.

use std::path::{Path, PathBuf};

/// The multilingual model's folder in the models directory (scripts/install-multilingual-model.sh).
pub const MULTILINGUAL_EMBEDDER: &str = "multilingual-e5-small";

/// Files read to judge a batch's script: spread over the batch, so one folder of English notes
/// first does not decide for a mostly Korean library.
const SAMPLED_FILES: usize = 8;
/// Characters of each sampled file looked at.
const SAMPLED_CHARS: usize = 20_000;

/// Up to [`SAMPLED_FILES`] of `files`, evenly spaced.
pub fn sample(files: &[PathBuf]) -> Vec<&Path> {
    if files.len() <= SAMPLED_FILES {
        return files.iter().map(PathBuf::as_path).collect();
    }
    (0..SAMPLED_FILES)
        .map(|i| files[i * files.len() / SAMPLED_FILES].as_path())
        .collect()
}

/// Whether most letters of these texts (the first [`SAMPLED_CHARS`] of each) are Han, kana or
/// Hangul.
pub fn mostly_cjk<'a>(texts: impl IntoIterator<Item = &'a str>) -> bool {
    let (mut cjk, mut letters) = (0usize, 0usize);
    for text in texts {
        let head = text
            .char_indices()
            .nth(SAMPLED_CHARS)
            .map_or(text, |(at, _)| &text[..at]);
        let (c, l) = almanac_indexes::cjk_letters(head);
        cjk += c;
        letters += l;
    }
    letters > 0 && 2 * cjk >= letters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_japanese_and_chinese_count_english_does_not() {
        assert!(mostly_cjk([
            "Llama 3.1은 15조 개의 토큰으로 사전 학습되었다."
        ]));
        assert!(mostly_cjk(["東京は日本の首都です。", "北京是中国的首都。"]));
        assert!(!mostly_cjk([
            "The observatory was founded in 1911 (한국어 한 줄)."
        ]));
        assert!(!mostly_cjk(["", "1234 5678 —"]));
        // Letters, not bytes: one Korean paragraph outweighs a short English title.
        assert!(mostly_cjk([
            "README",
            "대한민국의 수도는 서울이며 인구는 약 천만 명이다."
        ]));
    }

    #[test]
    fn samples_spread_over_the_batch() {
        let files: Vec<PathBuf> = (0..100).map(|i| PathBuf::from(format!("{i:03}"))).collect();
        let picked = sample(&files);
        assert_eq!(picked.len(), SAMPLED_FILES);
        assert_eq!(picked[0], Path::new("000"));
        assert!(picked.last().unwrap() >= &Path::new("080"));
        assert_eq!(sample(&files[..3]).len(), 3);
    }
}
