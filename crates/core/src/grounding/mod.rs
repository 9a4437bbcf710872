//! Grounding an answer in its passages, whatever the model wrote: the sentences (and table rows)
//! of the passages in the prompt that best answer the question ([`evidence`]), and for each
//! sentence of the answer the passages that support it ([`attribution`]).
//!
//! Both compare sentences, by their words (BM25 over the passages' sentences, the question's
//! numbers, names and units weighed) and by their meaning (the library's embedder). The passages'
//! sentences are cut and embedded once, in one batch, before generation ([`Grounding::new`]), and
//! the answer's sentences after it.

mod attribution;
mod evidence;
pub mod measure;
mod sentences;
mod terms;

use almanac_engine::Embedder;

pub use attribution::{AnsweredSentence, Attribution, Support, Thresholds};
pub use evidence::{Evidence, EvidenceWeights};

use crate::{Passage, Result};
use terms::{Bm25, Term};

/// One quotable piece of a passage: a sentence, or a table row.
#[derive(Debug, Clone)]
struct Unit {
    /// Index of its passage in the prompt's passages.
    passage: usize,
    /// Its text as it stands in the passage, whitespace made single spaces.
    text: String,
    /// The document lines it spans.
    line_start: usize,
    line_end: usize,
    /// The CSV data row, for a table passage.
    row: Option<u64>,
    terms: Vec<Term>,
}

/// The passages of one prompt, cut into units with their words and vectors, and the question's.
pub struct Grounding<'a> {
    passages: &'a [Passage],
    units: Vec<Unit>,
    vectors: Vec<Vec<f32>>,
    bm25: Bm25,
    question: Vec<Term>,
    question_text: String,
    question_vector: Vec<f32>,
}

impl<'a> Grounding<'a> {
    /// Cuts the passages into units and embeds them (the question, as a query, apart). `query` is
    /// what retrieval searched: the question itself, or with the previous one for a follow-up
    /// ("how long is it?"), which names the subject; `question` says what kind of answer is asked.
    pub fn new(
        embedder: &Embedder,
        question: &str,
        query: &str,
        passages: &'a [Passage],
    ) -> Result<Grounding<'a>> {
        let units: Vec<Unit> = passages
            .iter()
            .enumerate()
            .flat_map(|(i, p)| units_of(i, p))
            .collect();
        let texts: Vec<&str> = units.iter().map(|u| u.text.as_str()).collect();
        let (vectors, question_vector) = if units.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            (embedder.embed(&texts)?, embedder.embed_query(query)?)
        };
        let unit_terms: Vec<Vec<Term>> = units.iter().map(|u| u.terms.clone()).collect();
        Ok(Grounding {
            passages,
            bm25: Bm25::new(&unit_terms),
            units,
            vectors,
            question: terms::terms(query),
            question_text: question.to_owned(),
            question_vector,
        })
    }

    /// The passages' sentences and rows that best answer the question, best first, at most `limit`.
    pub fn evidence(&self, limit: usize) -> Vec<Evidence> {
        evidence::rank(self, limit, &EvidenceWeights::default())
    }

    /// [`Grounding::evidence`] ranked with other weights (for tuning them).
    pub fn evidence_with(&self, limit: usize, weights: &EvidenceWeights) -> Vec<Evidence> {
        evidence::rank(self, limit, weights)
    }

    /// Each sentence of `answer` with the passages that support it.
    pub fn attribute(&self, embedder: &Embedder, answer: &str) -> Result<Attribution> {
        attribution::attribute(self, embedder, answer)
    }
}

/// The units of one passage: its rows for a table, its sentences otherwise.
fn units_of(index: usize, passage: &Passage) -> Vec<Unit> {
    let text = &passage.text;
    let ranges = if passage.rows.is_some() {
        sentences::line_ranges(text)
    } else {
        sentences::sentence_ranges(text)
    };
    ranges
        .into_iter()
        .map(|(s, e)| {
            // The chunk's first line is `line_start`, even when the chunk starts inside it.
            let first = passage.line_start + text[..s].matches('\n').count();
            let last = first + text[s..e].matches('\n').count();
            let quoted = sentences::one_line(&text[s..e]);
            Unit {
                passage: index,
                terms: terms::terms(&quoted),
                text: quoted,
                line_start: first,
                line_end: last,
                row: passage
                    .rows
                    .map(|(first_row, _)| first_row + (first - passage.line_start) as u64),
            }
        })
        .filter(|u| !u.terms.is_empty())
        .collect()
}

/// Cosine of two unit-length vectors.
fn cosine(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x * y) as f64).sum()
}
