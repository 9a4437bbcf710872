//! Web search providers: a query in, result URLs out. Nothing is contacted unless the user
//! configured a provider.

use serde::Serialize;
use url::Url;

use crate::{AllowRule, Error, Fetcher, Result};

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResult {
    pub url: String,
    pub title: String,
    pub snippet: String,
}

/// A web search service.
pub trait SearchProvider: Send + Sync {
    /// For messages: `searxng (https://search.example)`.
    fn name(&self) -> String;
    /// The best `limit` results for `query`, best first.
    fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchResult>>;
}

/// A SearxNG instance through its JSON API (`/search?q=…&format=json`; the instance must have the
/// `json` format enabled in its settings).
pub struct Searxng {
    base: Url,
    fetcher: Fetcher,
}

impl Searxng {
    /// `base` is the instance's URL, as configured by the user; that host is reachable for the
    /// API calls only (result URLs still go through the guard unchanged).
    pub fn new(base: &str, fetcher: &Fetcher) -> Result<Searxng> {
        let mut base = crate::client::parse_url(base)?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let host = base.host_str().ok_or_else(|| Error::InvalidUrl {
            url: base.to_string(),
            reason: "it has no host".into(),
        })?;
        let rule = AllowRule::parse(host)?;
        Ok(Searxng {
            fetcher: fetcher.also_allowing(rule)?,
            base,
        })
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::Search {
            provider: self.name(),
            message: message.into(),
        }
    }
}

impl SearchProvider for Searxng {
    fn name(&self) -> String {
        format!("searxng at {}", self.base)
    }

    fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchResult>> {
        let mut url = self
            .base
            .join("search")
            .map_err(|e| self.error(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("q", query)
            .append_pair("format", "json");
        let answer = self
            .fetcher
            .get_json(&url)
            .map_err(|e| self.error(e.to_string()))?;
        let results = answer
            .get("results")
            .and_then(|r| r.as_array())
            .ok_or_else(|| self.error("the answer has no \"results\" list"))?;
        let mut out: Vec<SearchResult> = Vec::new();
        for result in results {
            let Some(link) = result.get("url").and_then(|u| u.as_str()) else {
                continue;
            };
            // Only web pages; the same page once.
            let Ok(parsed) = Url::parse(link) else {
                continue;
            };
            if !matches!(parsed.scheme(), "http" | "https") || out.iter().any(|r| r.url == link) {
                continue;
            }
            let text = |key: &str| {
                result
                    .get(key)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned()
            };
            out.push(SearchResult {
                url: link.to_owned(),
                title: text("title"),
                snippet: text("content"),
            });
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }
}
