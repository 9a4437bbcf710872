//! Words as the sentence scorers compare them: lower-cased, long words cut to a common stem,
//! function words dropped, and each word's kind (number, name, unit) for weighting.

use std::collections::HashMap;

/// Longer words are compared by their first letters only, so "designed", "designer" and
/// "design" meet; a crude stemmer that needs no language.
const STEM_CHARS: usize = 6;

/// What a question's word is, for how much a sentence that repeats it is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermKind {
    /// Has a digit: a year, an amount, a model number. Matched exactly.
    Number,
    /// A capitalised word inside the text, or an identifier (`XK-4471`, `parse_config`, `camelCase`).
    Name,
    /// A unit of measure or time (`km`, `minutes`, `%`).
    Unit,
    Word,
}

impl TermKind {
    /// How much more a sentence's word of this kind tells whether a passage supports it: a name
    /// or number the passage lacks is a different claim.
    pub fn weight(self) -> f64 {
        match self {
            TermKind::Number => 3.0,
            TermKind::Name => 2.0,
            TermKind::Unit => 1.5,
            TermKind::Word => 1.0,
        }
    }
}

/// One word of a text, as compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub key: String,
    pub kind: TermKind,
}

/// The content words of `text`, in order (repeats kept).
pub fn terms(text: &str) -> Vec<Term> {
    let mut out = Vec::new();
    let mut first = true;
    for raw in raw_words(text) {
        let lower = raw.to_lowercase();
        let kind = kind_of(raw, &lower, first);
        first = raw.ends_with(['.', '?', '!']);
        let word = lower.trim_matches(|c: char| !c.is_alphanumeric() && c != '%');
        if word.is_empty() || (kind == TermKind::Word && is_stopword(word)) {
            continue;
        }
        // An identifier keeps its joined form and also yields its parts.
        if word.contains(['-', '_', '.', '/']) && kind != TermKind::Number {
            out.push(Term {
                key: word.to_owned(),
                kind,
            });
            for part in word.split(|c: char| !c.is_alphanumeric()) {
                if !part.is_empty() && !is_stopword(part) {
                    out.push(Term {
                        key: stem(part),
                        kind: part_kind(part, kind),
                    });
                }
            }
            continue;
        }
        out.push(Term {
            key: if kind == TermKind::Number {
                word.replace(',', "")
            } else {
                stem(word)
            },
            kind,
        });
    }
    out
}

/// Whitespace-separated words, with punctuation that cannot be part of a word split off, but
/// joining characters (`-`, `_`, `.`, `/`, `,` between digits) kept inside.
fn raw_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '(' | ')'
                    | '['
                    | ']'
                    | '{'
                    | '}'
                    | '"'
                    | '“'
                    | '”'
                    | ';'
                    | ':'
                    | '*'
                    | '|'
                    | '`'
                    | '='
                    | '<'
                    | '>'
                    | '—'
                    | '–'
            )
    })
    .filter(|w| !w.is_empty())
}

fn kind_of(raw: &str, lower: &str, sentence_start: bool) -> TermKind {
    let core = raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '%');
    if core.chars().any(|c| c.is_ascii_digit()) {
        let letters = core.chars().filter(|c| c.is_alphabetic()).count();
        // "2024", "19", "3.5", "1,200", "12km" are numbers; "XK-4471" and "Quillon-7" are names.
        return if letters <= 2 {
            TermKind::Number
        } else {
            TermKind::Name
        };
    }
    let trimmed = lower.trim_matches(|c: char| !c.is_alphanumeric() && c != '%');
    if is_unit(trimmed) {
        return TermKind::Unit;
    }
    let identifier = core.contains('_')
        || core.chars().skip(1).any(|c| c.is_uppercase())
        || (core.contains('-') && core.chars().next().is_some_and(char::is_uppercase));
    let capitalised = core.chars().next().is_some_and(char::is_uppercase);
    if identifier || (capitalised && !sentence_start && !is_stopword(trimmed)) {
        TermKind::Name
    } else {
        TermKind::Word
    }
}

fn part_kind(part: &str, whole: TermKind) -> TermKind {
    if part.chars().all(|c| c.is_ascii_digit()) {
        TermKind::Number
    } else {
        whole
    }
}

/// A crude stem: a common English inflection taken off a longer word ("founded", "connects",
/// "months"), then the first [`STEM_CHARS`] characters. Words of other languages keep their
/// first characters, which is still better than whole-word matching.
pub fn stem(word: &str) -> String {
    let mut base = word;
    if word.chars().count() > 4 {
        for suffix in ["ing", "ed", "s"] {
            if let Some(rest) = word.strip_suffix(suffix) {
                if rest.chars().count() >= 4 && !rest.ends_with('s') {
                    base = rest;
                    break;
                }
            }
        }
    }
    base.chars().take(STEM_CHARS).collect()
}

/// The numbers a text states ("1,200" and "1200" are the same number), for checking that a
/// sentence's numbers stand in its source.
pub fn numbers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let joins = (c == ',' || c == '.')
            && !current.is_empty()
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        if c.is_ascii_digit() {
            current.push(c);
        } else if joins {
            if c == '.' {
                current.push('.');
            }
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn is_unit(word: &str) -> bool {
    const UNITS: &[&str] = &[
        "%",
        "percent",
        "km",
        "kilometre",
        "kilometres",
        "kilometer",
        "kilometers",
        "m",
        "metre",
        "metres",
        "meter",
        "meters",
        "cm",
        "mm",
        "mi",
        "mile",
        "miles",
        "ft",
        "feet",
        "foot",
        "inch",
        "inches",
        "kg",
        "kilogram",
        "kilograms",
        "g",
        "gram",
        "grams",
        "lb",
        "lbs",
        "pound",
        "pounds",
        "tonne",
        "tonnes",
        "tons",
        "l",
        "litre",
        "litres",
        "liter",
        "liters",
        "ml",
        "mph",
        "kmh",
        "km/h",
        "w",
        "kw",
        "mw",
        "watt",
        "watts",
        "v",
        "volt",
        "volts",
        "mah",
        "wh",
        "kwh",
        "hz",
        "mhz",
        "ghz",
        "gb",
        "mb",
        "kb",
        "tb",
        "°c",
        "°f",
        "celsius",
        "fahrenheit",
        "degrees",
        "second",
        "seconds",
        "minute",
        "minutes",
        "hour",
        "hours",
        "day",
        "days",
        "week",
        "weeks",
        "month",
        "months",
        "year",
        "years",
        "decade",
        "decades",
        "century",
        "centuries",
        "usd",
        "eur",
        "gbp",
        "dollars",
        "euros",
        "won",
        "yen",
    ];
    UNITS.contains(&word)
}

/// English function words and question words: they say nothing about which sentence answers.
pub fn is_stopword(word: &str) -> bool {
    const STOP: &[&str] = &[
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "into",
        "about",
        "than",
        "then",
        "so",
        "not",
        "no",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "done",
        "has",
        "have",
        "had",
        "having",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "many",
        "much",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "he",
        "him",
        "his",
        "she",
        "her",
        "they",
        "them",
        "their",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "any",
        "all",
        "some",
        "each",
        "also",
        "according",
        "tell",
        "please",
        "name",
        "called",
        "s",
        "t",
        "de",
        "la",
        "le",
    ];
    STOP.contains(&word)
}

/// BM25 over a small set of texts (the sentences of the passages in one prompt): inverse
/// document frequencies and the average length, for scoring one text against a question.
pub struct Bm25 {
    idf: HashMap<String, f64>,
    average_len: f64,
}

const K1: f64 = 1.2;
const B: f64 = 0.75;

impl Bm25 {
    pub fn new(texts: &[Vec<Term>]) -> Bm25 {
        let mut df: HashMap<&str, usize> = HashMap::new();
        for text in texts {
            let mut seen: Vec<&str> = text.iter().map(|t| t.key.as_str()).collect();
            seen.sort_unstable();
            seen.dedup();
            for key in seen {
                *df.entry(key).or_default() += 1;
            }
        }
        let n = texts.len() as f64;
        let idf = df
            .into_iter()
            .map(|(k, d)| {
                let d = d as f64;
                (k.to_owned(), (1.0 + (n - d + 0.5) / (d + 0.5)).ln())
            })
            .collect();
        let total: usize = texts.iter().map(Vec::len).sum();
        Bm25 {
            idf,
            average_len: (total as f64 / n.max(1.0)).max(1.0),
        }
    }

    /// The inverse document frequency of a word; one absent from every text counts as the rarest.
    pub fn idf(&self, key: &str) -> f64 {
        self.idf.get(key).copied().unwrap_or_else(|| self.max_idf())
    }

    fn max_idf(&self) -> f64 {
        self.idf.values().copied().fold(0.0, f64::max).max(1.0)
    }

    /// BM25 of `text` for the question's words, each weighted by `weight` of its kind (a repeated
    /// question word counts once).
    pub fn score(&self, question: &[Term], text: &[Term], weight: impl Fn(TermKind) -> f64) -> f64 {
        let len = text.len() as f64;
        let mut seen = Vec::new();
        let mut score = 0.0;
        for q in question {
            if seen.contains(&&q.key) {
                continue;
            }
            seen.push(&q.key);
            let tf = text.iter().filter(|t| t.key == q.key).count() as f64;
            if tf == 0.0 {
                continue;
            }
            let saturation = tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / self.average_len));
            score += weight(q.kind) * self.idf(&q.key) * saturation;
        }
        score
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<(String, TermKind)> {
        terms(text).into_iter().map(|t| (t.key, t.kind)).collect()
    }

    #[test]
    fn kinds_of_words() {
        let got = keys("Who designed the Zorvath Bridge in 1931, for 163 minutes?");
        assert_eq!(
            got,
            vec![
                ("design".into(), TermKind::Word),
                ("zorvat".into(), TermKind::Name),
                ("bridge".into(), TermKind::Name),
                ("1931".into(), TermKind::Number),
                ("163".into(), TermKind::Number),
                ("minute".into(), TermKind::Unit),
            ]
        );
        // An identifier yields itself and its parts; a capital at the start is no name.
        let got = keys("Battery of the Quillon-7 lasts");
        assert!(
            got.contains(&("quillon-7".into(), TermKind::Name)),
            "{got:?}"
        );
        assert!(got.contains(&("7".into(), TermKind::Number)), "{got:?}");
        assert_eq!(got[0], ("batter".into(), TermKind::Word));
    }

    #[test]
    fn inflections_meet() {
        for (a, b) in [
            ("founded", "found"),
            ("connects", "connected"),
            ("minutes", "minute"),
            ("designer", "design"),
            ("batteries", "battery"),
            ("process", "processes"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} {b}");
        }
        assert_ne!(stem("string"), stem("str"));
    }

    #[test]
    fn numbers_are_read_whole() {
        assert_eq!(
            numbers("It cost 1,200 won in 2024 (3.5%)."),
            vec!["1200", "2024", "3.5"]
        );
    }

    #[test]
    fn bm25_prefers_the_rarer_matching_word() {
        let texts: Vec<Vec<Term>> = [
            "the bridge opened in 1931",
            "the bridge is long",
            "a bridge of stone",
        ]
        .iter()
        .map(|t| terms(t))
        .collect();
        let bm25 = Bm25::new(&texts);
        let q = terms("When did the bridge open in 1931?");
        assert!(
            bm25.score(&q, &texts[0], TermKind::weight)
                > bm25.score(&q, &texts[1], TermKind::weight)
        );
        assert_eq!(
            bm25.score(&terms("nothing here"), &texts[1], TermKind::weight),
            0.0
        );
    }
}
