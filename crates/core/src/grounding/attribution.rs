//! Sentence attribution: each sentence of an answer is matched to the prompt's passages that
//! support it, by the share of its words a passage holds and by embedding similarity to the
//! passage's best sentence; a sentence whose numbers a passage lacks is never supported by it.
//! These are Almanac's citations, kept apart from the `[n]` the model wrote.

use std::collections::HashSet;

use almanac_engine::Embedder;
use serde::Serialize;

use super::terms::{self, Term};
use super::{cosine, sentences, Grounding};
use crate::Result;

/// How a sentence is judged supported. The defaults were chosen on the labelled set in
/// `crates/core/tests/fixtures/attribution.json` (`almanac bench attribution --tune`; figures
/// in docs/BENCHMARKS.md), not guessed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// Share of the score from word coverage; the rest is embedding similarity.
    pub lexical_weight: f64,
    /// The score a passage needs to support a sentence.
    pub min_score: f64,
    /// Other passages are cited too when they score within this of the best one.
    pub margin: f64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            lexical_weight: 0.5,
            min_score: 0.6,
            margin: 0.05,
        }
    }
}

/// How well one passage supports one sentence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Support {
    /// The source number of the passage.
    pub n: usize,
    /// Share of the sentence's words (weighted by rarity and kind) the passage holds.
    pub coverage: f64,
    /// Cosine similarity of the sentence to the passage's closest sentence.
    pub semantic: f64,
    /// Every number of the sentence stands in the passage.
    pub numbers_agree: bool,
}

impl Thresholds {
    fn score(&self, s: &Support) -> f64 {
        self.lexical_weight * s.coverage + (1.0 - self.lexical_weight) * s.semantic
    }

    /// The passages that support a sentence, best first, and the best score.
    pub fn decide(&self, supports: &[Support]) -> (Vec<usize>, f64) {
        let mut scored: Vec<(f64, usize)> = supports
            .iter()
            .filter(|s| s.numbers_agree)
            .map(|s| (self.score(s), s.n))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let best = supports.iter().map(|s| self.score(s)).fold(0.0, f64::max);
        let Some(&(top, _)) = scored.first() else {
            return (Vec::new(), best);
        };
        let sources = scored
            .iter()
            .filter(|(score, _)| *score >= self.min_score && *score >= top - self.margin)
            .map(|&(_, n)| n)
            .collect();
        (sources, best)
    }
}

/// One sentence of the answer with the passages that support it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AnsweredSentence {
    /// The sentence as the answer has it (runs of whitespace made one space).
    pub text: String,
    /// Source numbers of the passages that support it, best first; empty when none does.
    pub sources: Vec<usize>,
    /// The best passage's support score (0 to 1).
    pub score: f64,
    /// Whether any passage supports it.
    pub supported: bool,
}

/// Almanac's own citations for an answer: its sentences that state something, each matched.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Attribution {
    pub sentences: Vec<AnsweredSentence>,
    /// Every source some sentence is attributed to, in order of first attribution.
    pub attributed: Vec<usize>,
}

/// A sentence with fewer content words than this states nothing to check ("Yes.", "I see.").
const MIN_CLAIM_TERMS: usize = 2;

pub(super) fn attribute(
    g: &mut Grounding<'_>,
    embedder: &Embedder,
    answer: &str,
) -> Result<Attribution> {
    let claims: Vec<String> = sentences::sentence_ranges(answer)
        .into_iter()
        .map(|(s, e)| sentences::one_line(&answer[s..e]))
        .filter(|s| terms::terms(&without_citations(s)).len() >= MIN_CLAIM_TERMS)
        .collect();
    let texts: Vec<&str> = claims.iter().map(String::as_str).collect();
    let supports = g.support(embedder, &texts)?;
    let thresholds = Thresholds::default();
    let mut attribution = Attribution::default();
    for (text, supports) in claims.into_iter().zip(supports) {
        let (sources, score) = thresholds.decide(&supports);
        for &n in &sources {
            if !attribution.attributed.contains(&n) {
                attribution.attributed.push(n);
            }
        }
        attribution.sentences.push(AnsweredSentence {
            text,
            supported: !sources.is_empty(),
            sources,
            score: (score * 10_000.0).round() / 10_000.0,
        });
    }
    Ok(attribution)
}

impl Grounding<'_> {
    /// For each sentence, how well each passage supports it (the model's `[n]` marks ignored).
    pub fn support(
        &mut self,
        embedder: &Embedder,
        sentences: &[&str],
    ) -> Result<Vec<Vec<Support>>> {
        if sentences.is_empty() {
            return Ok(Vec::new());
        }
        self.embed_all(embedder)?;
        let cleaned: Vec<String> = sentences.iter().map(|s| without_citations(s)).collect();
        let texts: Vec<&str> = cleaned.iter().map(String::as_str).collect();
        // Claims search the passages' sentences: queries to a model trained with prompts.
        let vectors = embedder.embed_queries(&texts)?;
        let passage_keys: Vec<HashSet<&str>> = (0..self.passages.len())
            .map(|i| {
                self.units
                    .iter()
                    .filter(|u| u.passage == i)
                    .flat_map(|u| u.terms.iter().map(|t| t.key.as_str()))
                    .collect()
            })
            .collect();
        let passage_numbers: Vec<Vec<String>> = self
            .passages
            .iter()
            .map(|p| terms::numbers(&p.text))
            .collect();
        Ok(cleaned
            .iter()
            .zip(&vectors)
            .map(|(sentence, vector)| {
                let words = unique(terms::terms(sentence));
                let numbers = terms::numbers(sentence);
                self.passages
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let semantic = self
                            .units
                            .iter()
                            .zip(&self.vectors)
                            .filter(|(u, _)| u.passage == i)
                            .filter_map(|(_, v)| v.as_deref())
                            .map(|v| cosine(vector, v))
                            .fold(0.0, f64::max);
                        Support {
                            n: p.n,
                            coverage: self.coverage(&words, &passage_keys[i]),
                            semantic,
                            numbers_agree: numbers.iter().all(|n| passage_numbers[i].contains(n)),
                        }
                    })
                    .collect()
            })
            .collect())
    }

    /// The share of the sentence's words found in the passage, each weighted by its rarity among
    /// the passages' sentences and by its kind (numbers and names count more).
    fn coverage(&self, words: &[Term], passage: &HashSet<&str>) -> f64 {
        let weight = |t: &Term| self.bm25.idf(&t.key) * t.kind.weight();
        let total: f64 = words.iter().map(weight).sum();
        if total == 0.0 {
            return 0.0;
        }
        let found: f64 = words
            .iter()
            .filter(|t| passage.contains(t.key.as_str()))
            .map(weight)
            .sum();
        found / total
    }
}

fn unique(mut words: Vec<Term>) -> Vec<Term> {
    let mut seen = HashSet::new();
    words.retain(|t| seen.insert(t.key.clone()));
    words
}

/// The sentence without the model's `[n]` / `[1, 2]` marks, which are not part of the claim.
fn without_citations(sentence: &str) -> String {
    let mut out = String::with_capacity(sentence.len());
    let mut rest = sentence;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        match after.find(']') {
            Some(close)
                if !after[..close].is_empty()
                    && after[..close]
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == ',' || c == ' ') =>
            {
                out.push_str(&rest[..open]);
                rest = &after[close + 1..];
            }
            _ => {
                out.push_str(&rest[..open + 1]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citation_marks_are_not_words() {
        assert_eq!(
            without_citations("It opened in 1931 [1, 2]."),
            "It opened in 1931 ."
        );
        assert_eq!(without_citations("see [link] [3]"), "see [link] ");
    }

    #[test]
    fn a_passage_lacking_the_numbers_never_supports() {
        let t = Thresholds::default();
        let supports = [
            Support {
                n: 1,
                coverage: 0.9,
                semantic: 0.9,
                numbers_agree: false,
            },
            Support {
                n: 2,
                coverage: 0.8,
                semantic: 0.8,
                numbers_agree: true,
            },
            Support {
                n: 3,
                coverage: 0.1,
                semantic: 0.2,
                numbers_agree: true,
            },
        ];
        assert_eq!(t.decide(&supports).0, vec![2]);
        let weak = [Support {
            n: 1,
            coverage: 0.1,
            semantic: 0.1,
            numbers_agree: true,
        }];
        assert!(t.decide(&weak).0.is_empty());
    }
}
