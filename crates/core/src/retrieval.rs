//! Finding the passages a question needs: hybrid search, then a relevance threshold. With web
//! pages for the question, the web cache is searched the same way and its ranking is fused with
//! the library's.

use std::time::Instant;

use almanac_engine::Embedder;
use almanac_indexes::{snippet_to_plain, Hit, Index, SearchMode, SearchQuery};
use serde::Serialize;

use crate::web::{CachedPage, WebReport};
use crate::{Result, Scope, Settings};

/// Ranked candidates fetched per ranking before fusion.
const CANDIDATES_PER_RANKING: usize = 50;

/// What retrieval did for one question, shown with every answer. The one shape every front end
/// reads: `ask --json`, the `sources` event of `almanac serve` and of the desktop, the stored turn.
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
    pub min_similarity: f64,
    pub elapsed_ms: f64,
    pub passages: Vec<Passage>,
    /// Web pages fetched for the question (none when the question had no URL and web was off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web: Option<WebReport>,
}

/// One numbered source in the prompt, with every score that ranked it. Scores are f32 in the
/// index and are widened here through their shortest decimal form, so JSON shows 0.2, never
/// 0.20000000298023224, whichever serializer (serde_json text or `Value`) carries them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Passage {
    pub n: usize,
    pub title: String,
    /// The document's path; for a web page, its URL.
    pub path: String,
    /// A web page's URL (after redirects); `None` for a library document.
    pub url: Option<String>,
    /// When a web page was fetched (RFC 3339, UTC).
    pub fetched_at: Option<String>,
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
    /// Where in its document the passage is, as a person reads it ([`Passage::location`]):
    /// `page 3`, `rows 10-24`, `Install > Linux (lines 5-9)`. Filled when the passage is built,
    /// so every front end (CLI `--json`, `almanac serve`, the desktop) gets the same string.
    pub location: String,
    /// Where to open it ([`Passage::open_at`]): `path#page=N`, `path:LINE`, the path, or the URL.
    pub open: String,
    /// The best sentences of the passage, plain text.
    pub snippet: String,
    /// The same with the query's terms marked `<b>…</b>` and everything else HTML-escaped.
    pub snippet_html: String,
    pub text: String,
    /// The document's modification date, or the publication date a web page states (YYYY-MM-DD).
    pub date: Option<String>,
    /// Reciprocal-rank-fusion score within its own index (library or web cache).
    pub score: f64,
    pub bm25: Option<f64>,
    pub bm25_rank: Option<usize>,
    pub vector: Option<f64>,
    pub vector_rank: Option<usize>,
}

/// An f32 as the f64 with the same shortest decimal form (0.2f32 → 0.2f64).
pub fn widen(x: f32) -> f64 {
    if x.is_finite() {
        x.to_string().parse().unwrap_or(x as f64)
    } else {
        x as f64
    }
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

    /// Fills `location` and `open` from the other fields; called whenever a passage is built.
    fn located(mut self) -> Passage {
        self.location = self.location();
        self.open = match &self.url {
            Some(url) => url.clone(),
            None => self.open_at(),
        };
        self
    }

    fn from_hit(n: usize, hit: Hit) -> Passage {
        Passage {
            n,
            title: hit.title,
            path: hit.document_path,
            url: None,
            fetched_at: None,
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
            score: widen(hit.fused),
            bm25: hit.bm25.map(widen),
            bm25_rank: hit.bm25_rank,
            vector: hit.vector.map(widen),
            vector_rank: hit.vector_rank,
            location: String::new(),
            open: String::new(),
        }
        .located()
    }

    fn from_web_hit(n: usize, hit: Hit, page: Option<&CachedPage>) -> Passage {
        let mut passage = Passage::from_hit(n, hit);
        passage.url = Some(passage.path.clone());
        passage.date = page.and_then(|p| p.published.clone());
        passage.fetched_at = page.map(|p| {
            p.fetched_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        });
        if let Some(p) = page {
            passage.title = p.title.clone();
        }
        passage.located()
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

/// The web pages retrieval searches besides the library: the cache's index and the pages of this
/// question (only those: the cache also holds pages of earlier questions).
pub struct WebPages<'a> {
    pub index: &'a Index,
    pub pages: &'a [CachedPage],
    pub report: WebReport,
}

/// Searches the library (only the documents `scope` admits, when given) and the question's web
/// pages, and keeps the best passages above the similarity threshold.
pub fn retrieve(
    index: &Index,
    web: Option<WebPages<'_>>,
    embedder: &Embedder,
    settings: &Settings,
    query: &str,
    scope: Option<&Scope>,
) -> Result<Retrieval> {
    let started = Instant::now();
    let library_chunks = index.stats()?.chunks;
    let web_pages = web.as_ref().map_or(0, |w| w.pages.len());
    let mut retrieval = Retrieval {
        used: false,
        reason: None,
        query: query.to_owned(),
        library_chunks,
        candidates: 0,
        min_similarity: settings.min_similarity,
        passages: Vec::new(),
        elapsed_ms: 0.0,
        web: web.as_ref().map(|w| w.report.clone()),
    };
    if (library_chunks == 0 && web_pages == 0) || settings.sources == 0 {
        retrieval.reason = Some(
            if settings.sources == 0 {
                "sources are turned off (sources = 0)"
            } else if web.is_some() {
                "the library is empty and no web page could be fetched"
            } else {
                "the library is empty"
            }
            .into(),
        );
        return Ok(retrieval);
    }
    let embedding = embedder.embed_query(query)?;
    let search = SearchQuery {
        text: query,
        embedding: Some(&embedding),
        // A scope filters the hits afterwards, so it needs the deeper candidate list.
        limit: if scope.is_some() {
            CANDIDATES_PER_RANKING
        } else {
            settings.sources * 4
        },
        candidates: CANDIDATES_PER_RANKING,
        mode: SearchMode::Hybrid,
        ..SearchQuery::default()
    };
    let library_hits = if library_chunks > 0 {
        let mut hits = index.search(&search)?;
        if let Some(scope) = scope {
            hits.retain(|h| scope.admits(&h.document_path));
            hits.truncate(settings.sources * 4);
        }
        hits
    } else {
        Vec::new()
    };
    let web_hits: Vec<Hit> = match &web {
        Some(w) if web_pages > 0 => w
            .index
            .search(&SearchQuery {
                limit: CANDIDATES_PER_RANKING,
                ..search
            })?
            .into_iter()
            .filter(|h| w.pages.iter().any(|p| p.url == h.document_path))
            .take(settings.sources * 4)
            .collect(),
        _ => Vec::new(),
    };
    retrieval.candidates = library_hits.len() + web_hits.len();
    // An exact match (quoted phrase, rare identifier, named title or file) stays even when the
    // embedding finds it dissimilar: that is the case it exists for.
    let threshold = |h: &Hit| h.exact || widen(h.vector.unwrap_or(0.0)) >= settings.min_similarity;
    let ranked = fuse_rankings(
        library_hits.into_iter().filter(threshold).collect(),
        web_hits.into_iter().filter(threshold).collect(),
    );
    retrieval.passages = ranked
        .into_iter()
        .take(settings.sources)
        .enumerate()
        .map(|(i, (hit, from_web))| {
            if from_web {
                let page = web
                    .as_ref()
                    .and_then(|w| w.pages.iter().find(|p| p.url == hit.document_path));
                Passage::from_web_hit(i + 1, hit, page)
            } else {
                Passage::from_hit(i + 1, hit)
            }
        })
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

impl Retrieval {
    /// No search at all (turned off for this answer): `reason` says so.
    pub fn off(query: &str, reason: &str) -> Retrieval {
        Retrieval {
            used: false,
            reason: Some(reason.into()),
            query: query.to_owned(),
            library_chunks: 0,
            candidates: 0,
            min_similarity: 0.0,
            elapsed_ms: 0.0,
            passages: Vec::new(),
            web: None,
        }
    }
}

/// Library and web rankings into one, by reciprocal rank fusion over the two (k = 60, as inside
/// each index): the n-th of either list scores 1/(60 + n); a tie (the two lists' n-th) goes to the
/// passage more similar to the question. With only one list its order is kept as it is.
fn fuse_rankings(library: Vec<Hit>, web: Vec<Hit>) -> Vec<(Hit, bool)> {
    let mut all: Vec<(usize, Hit, bool)> = library
        .into_iter()
        .enumerate()
        .map(|(rank, h)| (rank, h, false))
        .chain(web.into_iter().enumerate().map(|(rank, h)| (rank, h, true)))
        .collect();
    all.sort_by(|a, b| {
        a.0.cmp(&b.0).then_with(|| {
            b.1.vector
                .unwrap_or(f32::MIN)
                .total_cmp(&a.1.vector.unwrap_or(f32::MIN))
        })
    });
    all.into_iter().map(|(_, h, web)| (h, web)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_scores_serialise_as_their_decimal_form_through_any_serializer() {
        let retrieval = Retrieval {
            used: true,
            reason: None,
            query: "q".into(),
            library_chunks: 1,
            candidates: 1,
            min_similarity: Settings::default().min_similarity,
            elapsed_ms: 1.0,
            passages: vec![Passage {
                score: widen(0.0328f32),
                vector: Some(widen(0.81f32)),
                bm25: Some(widen(12.3f32)),
                ..Passage::default()
            }],
            web: None,
        };
        // serde_json::to_value is what the desktop's IPC channel uses: f32 fields would widen to
        // 0.20000000298023224 there.
        let value = serde_json::to_value(&retrieval).unwrap();
        assert_eq!(value["min_similarity"], serde_json::json!(0.2));
        let passage = &value["passages"][0];
        assert_eq!(passage["score"], serde_json::json!(0.0328));
        assert_eq!(passage["vector"], serde_json::json!(0.81));
        assert_eq!(passage["bm25"], serde_json::json!(12.3));
        let text = serde_json::to_string(&value).unwrap();
        assert!(!text.contains("0000000"), "{text}");
        assert!(widen(f32::NAN).is_nan());
    }

    fn hit(path: &str, location: &str, heading: &str, lines: (usize, usize)) -> Hit {
        Hit {
            chunk_id: 1,
            document_path: path.into(),
            title: "t".into(),
            heading: heading.into(),
            text: "x".into(),
            line_start: lines.0,
            line_end: lines.1,
            location: location.into(),
            modified: None,
            snippet: "x".into(),
            bm25: None,
            bm25_rank: None,
            vector: Some(0.5),
            vector_rank: Some(1),
            fused: 0.1,
            exact: false,
        }
    }

    #[test]
    fn serialised_passages_carry_location_and_where_to_open() {
        let cases = [
            (
                hit("/d/r.pdf", "page:3", "", (40, 52)),
                "page 3",
                "/d/r.pdf#page=3",
            ),
            (
                hit("/d/t.csv", "rows:10-24", "", (11, 25)),
                "rows 10-24",
                "/d/t.csv",
            ),
            (
                hit("/d/a.md", "", "Install > Linux", (5, 9)),
                "Install > Linux (lines 5-9)",
                "/d/a.md:5",
            ),
            (
                hit("/d/b.docx", "converted", "Intro", (1, 4)),
                "Intro",
                "/d/b.docx",
            ),
        ];
        for (hit, location, open) in cases {
            let value = serde_json::to_value(Passage::from_hit(1, hit)).unwrap();
            assert_eq!(value["location"], location, "{value}");
            assert_eq!(value["open"], open, "{value}");
        }
        let web = Passage::from_web_hit(2, hit("https://n.example/a", "", "News", (3, 4)), None);
        let value = serde_json::to_value(web).unwrap();
        assert_eq!(value["open"], "https://n.example/a");
        assert_eq!(value["location"], "News (lines 3-4)");
    }
}
