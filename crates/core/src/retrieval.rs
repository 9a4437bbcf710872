//! Finding the passages a question needs: hybrid search, then a relevance threshold.

use std::time::Instant;

use almanac_engine::Embedder;
use almanac_indexes::{snippet_to_plain, Hit, Index, SearchMode, SearchQuery};
use serde::Serialize;

use crate::{Result, Settings};

/// Ranked candidates fetched per ranking before fusion.
const CANDIDATES_PER_RANKING: usize = 50;

/// What retrieval did for one question, shown with every answer.
#[derive(Debug, Clone, Serialize)]
pub struct Retrieval {
    /// Whether any passage went into the prompt.
    pub used: bool,
    /// Why not, when `used` is false.
    pub reason: Option<String>,
    /// The query that was searched (the question, or the question with the previous one for follow-ups).
    pub query: String,
    /// Chunks in the library when the search ran.
    pub library_chunks: usize,
    /// Fused candidates the search returned before the threshold.
    pub candidates: usize,
    pub min_similarity: f32,
    pub passages: Vec<Passage>,
    pub elapsed_ms: f64,
}

/// One numbered source in the prompt, with every score that ranked it.
#[derive(Debug, Clone, Serialize)]
pub struct Passage {
    pub n: usize,
    pub title: String,
    pub path: String,
    pub heading: String,
    /// Lines of the document's text (the file's own lines for text, Markdown and code; lines of
    /// the converted text for PDF, DOCX, HTML and EPUB).
    pub line_start: usize,
    pub line_end: usize,
    /// The PDF page the passage is on.
    pub page: Option<u32>,
    /// CSV data rows (1-based, header not counted), first and last.
    pub rows: Option<(u64, u64)>,
    /// The passage's lines are lines of text converted from the file (PDF, DOCX, HTML, EPUB).
    pub converted: bool,
    /// The best sentences of the passage, plain text.
    pub snippet: String,
    /// The same with the query's terms marked `<b>…</b>` and everything else HTML-escaped.
    pub snippet_html: String,
    pub text: String,
    /// The document's modification date (YYYY-MM-DD), when known.
    pub date: Option<String>,
    /// Reciprocal-rank-fusion score: the ranking that ordered the sources.
    pub score: f32,
    pub bm25: Option<f32>,
    pub bm25_rank: Option<usize>,
    pub vector: Option<f32>,
    pub vector_rank: Option<usize>,
}

impl Passage {
    /// Where to open the passage: `path#page=N` for a PDF page, `path:LINE` for a file's own lines,
    /// the path alone for converted text and tables.
    pub fn open_at(&self) -> String {
        match (self.page, self.rows, self.converted) {
            (Some(page), _, _) => format!("{}#page={page}", self.path),
            (None, None, false) => format!("{}:{}", self.path, self.line_start),
            _ => self.path.clone(),
        }
    }

    fn from_hit(n: usize, hit: Hit) -> Passage {
        Passage {
            n,
            title: hit.title,
            path: hit.document_path,
            heading: hit.heading,
            line_start: hit.line_start,
            line_end: hit.line_end,
            page: hit
                .location
                .strip_prefix("page:")
                .and_then(|p| p.parse().ok()),
            rows: hit.location.strip_prefix("rows:").and_then(|r| {
                let (a, b) = r.split_once('-')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            }),
            converted: hit.location == "converted" || hit.location.starts_with("page:"),
            snippet: snippet_to_plain(&hit.snippet),
            snippet_html: hit.snippet,
            text: hit.text,
            date: hit
                .modified
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(|d| d.format("%Y-%m-%d").to_string()),
            score: hit.fused,
            bm25: hit.bm25,
            bm25_rank: hit.bm25_rank,
            vector: hit.vector,
            vector_rank: hit.vector_rank,
        }
    }

    /// Where in its document the passage is, as a person reads it: `page 3`, `rows 10-24`,
    /// `Install > Linux (lines 5-9)`, or the heading path alone for converted text.
    pub fn location(&self) -> String {
        if let Some(page) = self.page {
            return format!("page {page}");
        }
        if let Some((a, b)) = self.rows {
            return if a == b {
                format!("row {a}")
            } else {
                format!("rows {a}-{b}")
            };
        }
        if self.converted && !self.heading.is_empty() {
            return self.heading.clone();
        }
        let lines = if self.line_start == self.line_end {
            format!("line {}", self.line_start)
        } else {
            format!("lines {}-{}", self.line_start, self.line_end)
        };
        if self.heading.is_empty() {
            lines
        } else {
            format!("{} ({lines})", self.heading)
        }
    }
}

pub fn retrieve(
    index: &Index,
    embedder: &Embedder,
    settings: &Settings,
    query: &str,
) -> Result<Retrieval> {
    let started = Instant::now();
    let library_chunks = index.stats()?.chunks;
    let mut retrieval = Retrieval {
        used: false,
        reason: None,
        query: query.to_owned(),
        library_chunks,
        candidates: 0,
        min_similarity: settings.min_similarity,
        passages: Vec::new(),
        elapsed_ms: 0.0,
    };
    if library_chunks == 0 || settings.sources == 0 {
        retrieval.reason = Some(
            if library_chunks == 0 {
                "the library is empty"
            } else {
                "sources are turned off (sources = 0)"
            }
            .into(),
        );
        return Ok(retrieval);
    }
    let embedding = embedder.embed(&[query])?.pop().unwrap_or_default();
    let hits = index.search(&SearchQuery {
        text: query,
        embedding: Some(&embedding),
        limit: settings.sources * 4,
        candidates: CANDIDATES_PER_RANKING,
        mode: SearchMode::Hybrid,
        ..SearchQuery::default()
    })?;
    retrieval.candidates = hits.len();
    let relevant = hits
        .into_iter()
        // An exact match (quoted phrase, rare identifier, named title or file) stays even when
        // the embedding finds it dissimilar: that is the case it exists for.
        .filter(|h| h.exact || h.vector.unwrap_or(0.0) >= settings.min_similarity);
    retrieval.passages = relevant
        .take(settings.sources)
        .enumerate()
        .map(|(i, h)| Passage::from_hit(i + 1, h))
        .collect();
    retrieval.used = !retrieval.passages.is_empty();
    if !retrieval.used {
        retrieval.reason = Some(format!(
            "no passage reached the similarity threshold of {}",
            settings.min_similarity
        ));
    }
    retrieval.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(retrieval)
}
