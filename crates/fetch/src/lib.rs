//! Web pages into text, safely: a guarded fetcher (address guard, redirects checked hop by hop,
//! timeouts, a size cap on decoded bytes, robots.txt), readable-text extraction (HTML, plain text,
//! PDF; hidden text dropped) and web search providers.
//!
//! Knows nothing of the library or the model: it returns [`Page`]s and [`SearchResult`]s.

mod chrome;
mod client;
mod dns;
mod error;
pub mod extract;
mod guard;
mod search;

pub use client::{parse_url, FetchConfig, FetchOptions, Fetcher, Page, ROBOTS_AGENT};
pub use dns::{Lookup, StaticLookup, SystemLookup};
pub use error::{Error, Result};
pub use guard::{refusal_reason, AddressGuard, AllowRule};
pub use search::{SearchProvider, SearchResult, Searxng};
pub use url::Url;

/// The URLs written in a question (http and https only), in order, each once; trailing
/// punctuation that ends a sentence is not part of the URL.
pub fn urls_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let start = match (word.find("http://"), word.find("https://")) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => continue,
        };
        let candidate = word[start..]
            .trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '>', '"', '\'']);
        if let Ok(url) = Url::parse(candidate) {
            if url.host().is_some() && !out.iter().any(|u| u == url.as_str()) {
                out.push(url.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_in_questions() {
        assert_eq!(
            super::urls_in("What does https://a.example/x say? And (http://b.example:8080/y?q=1)."),
            vec!["https://a.example/x", "http://b.example:8080/y?q=1"]
        );
        assert!(super::urls_in("no links, ftp://x.example/ or www.example.org").is_empty());
    }
}
