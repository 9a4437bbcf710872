//! Full-text tokenization for mixed English and CJK (Korean, Chinese, Japanese) text.
//!
//! Runs of letters and digits outside CJK scripts are words, as in tantivy's `SimpleTokenizer`
//! (then lower-cased and English-stemmed). Runs of Hangul, kana and Han characters, which are not
//! split into words by spaces the way English is (Korean particles attach to nouns: 주제로, 주제도),
//! become overlapping character bigrams (주제, 제로), a single character when the run is one long; a
//! query then matches a document that shares the noun but not the particle. A script change splits a
//! token (`MMLU는` → `mmlu`, `는`; `57개의` → `57`, `개의`).
//!
//! Identifiers are kept whole and split: words joined by `_`, `.`, `-` or `::` and CamelCase words
//! (`parse_config_file`, `os.path`, `XK-4471`, `parseConfigFile`) give one term of the parts joined
//! (`parseconfigfile`, `xk4471`), so the spellings meet, then each part (`parse`, `config`, `file`),
//! the first part at the whole identifier's position so that phrases over the parts line up.

use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, Stemmer, StopWordFilter, TextAnalyzer, Token,
    TokenStream, Tokenizer,
};

/// The name the schema refers to; registered on the index at every open.
pub(crate) const NAME: &str = "almanac_mixed_v2";

/// Dropped from queries (not from the index): Lucene's English list plus the words questions are
/// made of. A query made only of these keeps them.
const QUERY_STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with", "what", "which", "who", "whom", "whose", "when",
    "where", "why", "how", "do", "does", "did", "i", "me", "my", "you", "your", "we", "our", "us",
    "he", "she", "him", "her", "its", "them", "am", "were", "been", "has", "have", "had", "can",
    "could", "would", "should", "tell", "please", "s", "t",
];

/// The analyzer for indexed text.
pub(crate) fn index_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(MixedScriptTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The index analyzer without whole identifiers (their parts only, at consecutive positions): for
/// the terms of quoted phrases.
pub(crate) fn phrase_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(MixedScriptTokenizer::new(false))
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The index analyzer with query stop words removed before stemming.
pub(crate) fn query_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(MixedScriptTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(
            QUERY_STOP_WORDS.iter().map(|w| w.to_string()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// Whether most of the text's letters are Han, kana or Hangul (`false` without letters).
pub fn mostly_cjk(text: &str) -> bool {
    let (cjk, letters) = cjk_letters(text);
    letters > 0 && 2 * cjk >= letters
}

/// Letters of the text that are CJK, and all its letters.
pub fn cjk_letters(text: &str) -> (usize, usize) {
    text.chars()
        .filter(|c| c.is_alphabetic())
        .fold((0, 0), |(cjk, all), c| {
            (cjk + usize::from(is_cjk(c)), all + 1)
        })
}

/// Hangul, kana, Han ideographs.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{11FF}'     // Hangul Jamo
        | '\u{3040}'..='\u{30FF}'   // Hiragana, Katakana
        | '\u{3130}'..='\u{318F}'   // Hangul compatibility Jamo
        | '\u{31F0}'..='\u{31FF}'   // Katakana phonetic extensions
        | '\u{3400}'..='\u{4DBF}'   // CJK extension A
        | '\u{4E00}'..='\u{9FFF}'   // CJK unified ideographs
        | '\u{A960}'..='\u{A97F}'   // Hangul Jamo extended A
        | '\u{AC00}'..='\u{D7FF}'   // Hangul syllables, Jamo extended B
        | '\u{F900}'..='\u{FAFF}'   // CJK compatibility ideographs
        | '\u{FF66}'..='\u{FF9F}'   // half-width Katakana
        | '\u{20000}'..='\u{2FA1F}' // CJK extensions B.., compatibility supplement
    )
}

/// Splits text into words, CJK bigrams and identifier parts; see the module documentation.
#[derive(Clone)]
pub(crate) struct MixedScriptTokenizer {
    token: Token,
    /// Also emit each compound identifier whole, connectors dropped (`parse_config_file` →
    /// `parseconfigfile`, `XK-4471` → `xk4471`), before its parts.
    compounds: bool,
}

impl MixedScriptTokenizer {
    pub(crate) fn new(compounds: bool) -> Self {
        MixedScriptTokenizer {
            token: Token::default(),
            compounds,
        }
    }
}

impl Default for MixedScriptTokenizer {
    fn default() -> Self {
        Self::new(true)
    }
}

pub(crate) struct MixedScriptStream<'a> {
    text: &'a str,
    pos: usize,
    /// The character at `pos` is the second half of the bigram just emitted.
    in_run: bool,
    compounds: bool,
    /// Parts of the current identifier still to emit (byte ranges), in reverse order.
    /// Each with the position step to take (0: same position as the whole identifier).
    pending: Vec<(usize, usize, usize)>,
    token: &'a mut Token,
}

impl Tokenizer for MixedScriptTokenizer {
    type TokenStream<'a> = MixedScriptStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> MixedScriptStream<'a> {
        self.token.reset();
        MixedScriptStream {
            text,
            pos: 0,
            in_run: false,
            compounds: self.compounds,
            pending: Vec::new(),
            token: &mut self.token,
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && !is_cjk(c)
}

/// Joins the parts of an identifier: `parse_config_file`, `os.path`, `XK-4471`, `std::fs`.
fn connector_len(rest: &str) -> usize {
    if rest.starts_with("::") {
        2
    } else if rest.starts_with(['_', '.', '-']) {
        1
    } else {
        0
    }
}

/// Byte ranges (relative to `word`) of the CamelCase parts of a run of letters and digits:
/// `parseConfig` → `parse`, `Config`; `HTTPServer` → `HTTP`, `Server`. Digits do not split.
fn camel_parts(word: &str, offset: usize, out: &mut Vec<(usize, usize)>) {
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    let mut start = 0;
    for i in 1..chars.len() {
        let (prev, cur) = (chars[i - 1].1, chars[i].1);
        let next_lower = chars.get(i + 1).is_some_and(|&(_, n)| n.is_lowercase());
        if cur.is_uppercase() && (prev.is_lowercase() || (prev.is_uppercase() && next_lower)) {
            out.push((offset + start, offset + chars[i].0));
            start = chars[i].0;
        }
    }
    out.push((offset + start, offset + word.len()));
}

impl MixedScriptStream<'_> {
    fn emit(&mut self, from: usize, to: usize) {
        self.emit_at(from, to, 1);
    }

    fn emit_at(&mut self, from: usize, to: usize, step: usize) {
        self.token.position = self.token.position.wrapping_add(step);
        self.token.offset_from = from;
        self.token.offset_to = to;
        self.token.text.clear();
        self.token.text.push_str(&self.text[from..to]);
    }

    /// The identifier starting at `start`: its end, and its parts (connectors and case changes).
    fn identifier(&self, start: usize) -> (usize, Vec<(usize, usize)>) {
        let mut parts = Vec::new();
        let mut seg = start;
        let mut pos = start;
        loop {
            let len = self.text[pos..]
                .char_indices()
                .find(|&(_, d)| !is_word_char(d))
                .map_or(self.text.len() - pos, |(i, _)| i);
            pos += len;
            camel_parts(&self.text[seg..pos], seg, &mut parts);
            let c = connector_len(&self.text[pos..]);
            if c > 0
                && self.text[pos + c..]
                    .chars()
                    .next()
                    .is_some_and(is_word_char)
            {
                pos += c;
                seg = pos;
            } else {
                return (pos, parts);
            }
        }
    }
}

impl TokenStream for MixedScriptStream<'_> {
    fn advance(&mut self) -> bool {
        if let Some((from, to, step)) = self.pending.pop() {
            self.emit_at(from, to, step);
            return true;
        }
        loop {
            let rest = &self.text[self.pos..];
            let Some((skip, c)) = rest.char_indices().find(|&(_, c)| c.is_alphanumeric()) else {
                self.pos = self.text.len();
                return false;
            };
            if skip > 0 {
                self.in_run = false;
            }
            let start = self.pos + skip;
            if is_cjk(c) {
                let after = start + c.len_utf8();
                match self.text[after..].chars().next().filter(|&d| is_cjk(d)) {
                    Some(d) => {
                        self.emit(start, after + d.len_utf8());
                        self.pos = after;
                        self.in_run = true;
                        return true;
                    }
                    None if self.in_run => {
                        // The last character of a run, already in the previous bigram.
                        self.pos = after;
                        self.in_run = false;
                    }
                    None => {
                        self.emit(start, after);
                        self.pos = after;
                        return true;
                    }
                }
            } else {
                self.in_run = false;
                let (end, parts) = self.identifier(start);
                self.pos = end;
                if parts.len() == 1 {
                    self.emit(start, end);
                    return true;
                }
                // The whole identifier, then its parts; the first part shares its position so that
                // phrases over the parts still line up.
                let whole = self.compounds;
                self.pending = parts
                    .into_iter()
                    .enumerate()
                    .map(|(i, (from, to))| (from, to, usize::from(i > 0 || !whole)))
                    .rev()
                    .collect();
                if whole {
                    // Joined without connectors, so that parse_config_file, parseConfigFile and
                    // parse-config-file are one term.
                    self.emit(start, end);
                    self.token.text.clear();
                    for &(from, to, _) in self.pending.iter().rev() {
                        self.token.text.push_str(&self.text[from..to]);
                    }
                } else {
                    let (from, to, step) = self.pending.pop().expect("two or more parts");
                    self.emit_at(from, to, step);
                }
                return true;
            }
        }
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            let t = stream.token();
            assert!(t.offset_from < t.offset_to && t.offset_to <= text.len());
            out.push(t.text.clone());
        }
        out
    }

    #[test]
    fn english_words_are_lowercased_and_stemmed() {
        let mut a = index_analyzer();
        assert_eq!(
            tokens(&mut a, "Running DOGS, don't stop: C++ v3!"),
            ["run", "dog", "don", "t", "stop", "c", "v3"]
        );
    }

    #[test]
    fn identifiers_are_kept_whole_and_split() {
        let mut a = index_analyzer();
        assert_eq!(
            tokens(&mut a, "call parse_config_file."),
            ["call", "parseconfigfil", "pars", "config", "file"]
        );
        assert_eq!(
            tokens(&mut a, "XK-4471 os.path::join"),
            ["xk4471", "xk", "4471", "ospathjoin", "os", "path", "join"]
        );
        assert_eq!(
            tokens(&mut a, "parseConfigFile HTTPServer"),
            [
                "parseconfigfil",
                "pars",
                "config",
                "file",
                "httpserver",
                "http",
                "server"
            ]
        );
        assert_eq!(tokens(&mut a, "end. Next - x_"), ["end", "next", "x"]);
        let mut p = phrase_analyzer();
        assert_eq!(tokens(&mut p, "XK-4471 a"), ["xk", "4471", "a"]);
        // The first part shares the whole identifier's position; later parts follow it.
        let text = "a xk-4471 b";
        let mut stream = a.token_stream(text);
        let mut got = Vec::new();
        while stream.advance() {
            got.push((stream.token().position, stream.token().text.clone()));
        }
        assert_eq!(
            got,
            [
                (0, "a".into()),
                (1, "xk4471".into()),
                (1, "xk".into()),
                (2, "4471".into()),
                (3, "b".into())
            ]
        );
    }

    #[test]
    fn cjk_runs_become_bigrams_and_scripts_split() {
        let mut a = index_analyzer();
        assert_eq!(tokens(&mut a, "주제로"), ["주제", "제로"]);
        assert_eq!(
            tokens(&mut a, "MMLU는 57개의 주제도"),
            ["mmlu", "는", "57", "개의", "주제", "제도"]
        );
        assert_eq!(tokens(&mut a, "東京 タワー"), ["東京", "タワ", "ワー"]);
        assert_eq!(tokens(&mut a, "가 나"), ["가", "나"]);
        assert_eq!(tokens(&mut a, ""), Vec::<String>::new());
        assert_eq!(tokens(&mut a, "  ... "), Vec::<String>::new());
    }

    #[test]
    fn positions_and_offsets() {
        let mut a = index_analyzer();
        let text = "ab 한국어";
        let mut stream = a.token_stream(text);
        let mut got = Vec::new();
        while stream.advance() {
            let t = stream.token();
            got.push((t.position, &text[t.offset_from..t.offset_to]));
        }
        assert_eq!(got, [(0, "ab"), (1, "한국"), (2, "국어")]);
    }

    #[test]
    fn queries_drop_question_words_but_keep_cjk() {
        let mut q = query_analyzer();
        assert_eq!(tokens(&mut q, "What is the MMLU?"), ["mmlu"]);
        assert_eq!(
            tokens(&mut q, "MMLU는 몇 개의 주제로 되어 있나?"),
            ["mmlu", "는", "몇", "개의", "주제", "제로", "되어", "있나"]
        );
    }
}
