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

/// How many units, the best by their words, are embedded for evidence before the first token.
/// Embedding every sentence of long passages took seconds; the evidence found was the same with
/// this many (`almanac bench grounding --candidates`, docs/BENCHMARKS.md).
pub const EVIDENCE_CANDIDATES: usize = 16;

/// The passages of one prompt, cut into units with their words and vectors, and the question's.
pub struct Grounding<'a> {
    passages: &'a [Passage],
    units: Vec<Unit>,
    /// Each unit's embedding once computed: the evidence candidates' in [`Grounding::new`], the
    /// rest only when an answer is attributed (after it has streamed).
    vectors: Vec<Option<Vec<f32>>>,
    /// The units evidence is chosen from, best by words first.
    candidates: Vec<usize>,
    bm25: Bm25,
    question: Vec<Term>,
    question_text: String,
    question_vector: Vec<f32>,
}

impl<'a> Grounding<'a> {
    /// Cuts the passages into units and embeds the question (as a query) and the
    /// [`EVIDENCE_CANDIDATES`] units that share the most of its words. `query` is what retrieval
    /// searched: the question itself, or with the previous one for a follow-up ("how long is
    /// it?"), which names the subject; `question` says what kind of answer is asked.
    pub fn new(
        embedder: &Embedder,
        question: &str,
        query: &str,
        passages: &'a [Passage],
    ) -> Result<Grounding<'a>> {
        Grounding::with_candidates(embedder, question, query, passages, EVIDENCE_CANDIDATES)
    }

    /// [`Grounding::new`] with another number of evidence candidates (for measuring it).
    pub fn with_candidates(
        embedder: &Embedder,
        question: &str,
        query: &str,
        passages: &'a [Passage],
        candidates: usize,
    ) -> Result<Grounding<'a>> {
        let units: Vec<Unit> = passages
            .iter()
            .enumerate()
            .flat_map(|(i, p)| units_of(i, p))
            .collect();
        let unit_terms: Vec<Vec<Term>> = units.iter().map(|u| u.terms.clone()).collect();
        let bm25 = Bm25::new(&unit_terms);
        let question_terms = terms::terms(query);
        let candidates = evidence::candidates(&units, &bm25, &question_terms, candidates);
        let texts: Vec<&str> = candidates.iter().map(|&i| units[i].text.as_str()).collect();
        let mut vectors = vec![None; units.len()];
        let question_vector = if units.is_empty() {
            Vec::new()
        } else {
            for (&i, vector) in candidates.iter().zip(embedder.embed(&texts)?) {
                vectors[i] = Some(vector);
            }
            embedder.embed_query(query)?
        };
        Ok(Grounding {
            passages,
            bm25,
            units,
            vectors,
            candidates,
            question: question_terms,
            question_text: question.to_owned(),
            question_vector,
        })
    }

    /// The passages' sentences and rows that best answer the question, best first, at most `limit`.
    pub fn evidence(&self, limit: usize) -> Vec<Evidence> {
        evidence::rank(self, limit, &EvidenceWeights::default())
    }

    /// How many sentences and rows the passages were cut into.
    pub fn sentence_count(&self) -> usize {
        self.units.len()
    }

    /// The passages it grounds in.
    pub fn passages(&self) -> &'a [Passage] {
        self.passages
    }

    /// [`Grounding::evidence`] ranked with other weights (for tuning them).
    pub fn evidence_with(&self, limit: usize, weights: &EvidenceWeights) -> Vec<Evidence> {
        evidence::rank(self, limit, weights)
    }

    /// Each sentence of `answer` with the passages that support it.
    pub fn attribute(&mut self, embedder: &Embedder, answer: &str) -> Result<Attribution> {
        attribution::attribute(self, embedder, answer)
    }

    /// Embeds the units not embedded yet (attribution compares with every sentence).
    fn embed_all(&mut self, embedder: &Embedder) -> Result<()> {
        let missing: Vec<usize> = (0..self.units.len())
            .filter(|&i| self.vectors[i].is_none())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let texts: Vec<&str> = missing
            .iter()
            .map(|&i| self.units[i].text.as_str())
            .collect();
        for (i, vector) in missing.iter().zip(embedder.embed(&texts)?) {
            self.vectors[*i] = Some(vector);
        }
        Ok(())
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
