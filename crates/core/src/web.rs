//! Web pages for a question: the URLs written in it and, with web search on, the configured
//! provider's results are fetched (in parallel, through almanac-fetch's guard) into the web cache,
//! a second almanac-indexes index under `web/` in the data directory. Retrieval then searches the
//! cache's pages for this question together with the library (see `retrieval.rs`).
//!
//! A page fetched less than `web_cache_max_age_hours` ago is not fetched again. Links found inside
//! pages are never followed: only the user's URLs and the provider's results are fetched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use almanac_engine::Embedder;
use almanac_fetch::{
    AddressGuard, FetchConfig, FetchOptions, Fetcher, Page, SearchProvider, Searxng,
};
use almanac_indexes::{
    chunk_context, chunk_text, ChunkInput, ChunkingOptions, DocumentInput, Index, SourceText,
    TextKind, TokenCounter,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::library_embedder::open_library_index;
use crate::lock;
use crate::{Error, Result, Settings};

/// A page in the web cache, as retrieval shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CachedPage {
    pub url: String,
    pub title: String,
    /// The publication date the page states (YYYY-MM-DD).
    pub published: Option<String>,
    pub fetched_at: DateTime<Utc>,
}

/// What fetching did for one question.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WebReport {
    /// The pages searched with the library (final URLs, after redirects).
    pub pages: Vec<String>,
    /// Pages that could not be fetched, with why: never fatal to the answer.
    pub failed: Vec<WebFailure>,
    /// The query sent to the search provider, when web search ran.
    pub searched: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebFailure {
    pub url: String,
    pub error: String,
}

/// `web/pages.json`: what the index's documents do not hold (title, date, fetch time) and which
/// asked-for URL ended at which page.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PageTable {
    pages: BTreeMap<String, CachedPage>,
    /// Asked-for URL → final URL (after redirects).
    aliases: BTreeMap<String, String>,
}

/// The settings that shape a fetcher: it is rebuilt (and its robots.txt cache dropped) when they change.
#[derive(Debug, Clone, PartialEq)]
struct FetcherKey {
    allow: Vec<String>,
    proxy: Option<String>,
    max_bytes: u64,
    timeout_s: u64,
}

pub struct WebCache {
    dir: PathBuf,
    index: RwLock<Option<Index>>,
    table: Mutex<Option<PageTable>>,
    fetcher: Mutex<Option<(FetcherKey, Fetcher)>>,
}

impl WebCache {
    pub fn new(data_dir: &Path) -> WebCache {
        WebCache {
            dir: data_dir.join("web"),
            index: RwLock::new(None),
            table: Mutex::new(None),
            fetcher: Mutex::new(None),
        }
    }

    fn table_file(&self) -> PathBuf {
        self.dir.join("pages.json")
    }

    /// The fetcher for the current settings (allow-list from the settings and `ALMANAC_FETCH_ALLOW`).
    pub fn fetcher(&self, settings: &Settings) -> Result<Fetcher> {
        let mut allow = settings.web_allow.clone();
        if let Ok(env) = std::env::var("ALMANAC_FETCH_ALLOW") {
            allow.extend(
                env.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty()),
            );
        }
        let key = FetcherKey {
            allow,
            proxy: settings.web_proxy.clone(),
            max_bytes: settings.web_max_page_bytes,
            timeout_s: settings.web_timeout_s,
        };
        let mut slot = lock(&self.fetcher);
        if let Some((k, f)) = slot.as_ref() {
            if *k == key {
                return Ok(f.clone());
            }
        }
        let total = std::time::Duration::from_secs(key.timeout_s.max(1));
        let config = FetchConfig {
            guard: AddressGuard::from_strings(&key.allow)?,
            proxy: key.proxy.clone(),
            max_bytes: key.max_bytes,
            total_timeout: total,
            read_timeout: total.min(FetchConfig::default().read_timeout),
            connect_timeout: total.min(FetchConfig::default().connect_timeout),
            ..FetchConfig::default()
        };
        let fetcher = Fetcher::new(config)?;
        *slot = Some((key, fetcher.clone()));
        Ok(fetcher)
    }

    /// Runs `f` with the cache's index, opening (or creating) it on first use. A cache whose
    /// vectors come from another embedding model than `embedder` is emptied (it is a cache: the
    /// pages are fetched again when asked for).
    pub fn with_index<T>(
        &self,
        embedder: &Embedder,
        f: impl FnOnce(&mut Index) -> Result<T>,
    ) -> Result<T> {
        let mut guard = self.index.write().unwrap_or_else(|e| e.into_inner());
        let stale = guard.as_ref().is_some_and(|index| {
            index.dim() != embedder.dim()
                || index.embedder().ok().flatten().as_deref() != Some(embedder.name())
        });
        if stale {
            *guard = None;
        }
        if guard.is_none() {
            std::fs::create_dir_all(&self.dir).map_err(Error::io(&self.dir))?;
            let dir = self.dir.join("index");
            let index = match open_library_index(&dir, embedder) {
                Err(Error::EmbedderMismatch { .. }) => {
                    std::fs::remove_dir_all(&dir).map_err(Error::io(&dir))?;
                    self.with_table(|t| *t = PageTable::default())?;
                    self.save_table()?;
                    open_library_index(&dir, embedder)?
                }
                other => other?,
            };
            *guard = Some(index);
        }
        f(guard.as_mut().expect("opened above"))
    }

    /// Empties the cache (after the library changed its embedding model): pages and their index.
    pub fn clear(&self) -> Result<()> {
        let mut guard = self.index.write().unwrap_or_else(|e| e.into_inner());
        *guard = None;
        let dir = self.dir.join("index");
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&dir)(e)),
        }
        self.with_table(|t| *t = PageTable::default())?;
        self.save_table()
    }

    fn with_table<T>(&self, f: impl FnOnce(&mut PageTable) -> T) -> Result<T> {
        let mut guard = lock(&self.table);
        if guard.is_none() {
            let file = self.table_file();
            let table = match std::fs::read_to_string(&file) {
                Ok(text) => serde_json::from_str(&text).unwrap_or_default(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => PageTable::default(),
                Err(e) => return Err(Error::io(&file)(e)),
            };
            *guard = Some(table);
        }
        Ok(f(guard.as_mut().expect("loaded above")))
    }

    fn save_table(&self) -> Result<()> {
        let json = self.with_table(|t| serde_json::to_vec_pretty(t).expect("table serialises"))?;
        std::fs::create_dir_all(&self.dir).map_err(Error::io(&self.dir))?;
        crate::paths::write_atomically(&self.table_file(), &json)
    }

    /// The cached page an asked-for URL led to, if it was fetched within `max_age_hours`.
    pub fn fresh(&self, url: &str, max_age_hours: u64) -> Result<Option<CachedPage>> {
        self.with_table(|t| {
            let final_url = t
                .aliases
                .get(url)
                .cloned()
                .unwrap_or_else(|| url.to_owned());
            t.pages.get(&final_url).cloned().filter(|p| {
                Utc::now() - p.fetched_at < chrono::Duration::hours(max_age_hours as i64)
            })
        })
    }

    pub fn page(&self, url: &str) -> Result<Option<CachedPage>> {
        self.with_table(|t| t.pages.get(url).cloned())
    }

    /// Chunks, embeds and stores a fetched page (replacing an older copy), and records it.
    pub fn store(
        &self,
        embedder: &Embedder,
        settings: &Settings,
        page: &Page,
    ) -> Result<CachedPage> {
        let chunks = embed_page(embedder, settings, &page.title, &page.text)?;
        let input = DocumentInput {
            path: page.url.clone(),
            title: page.title.clone(),
            content_hash: format!("{:x}", Sha256::digest(page.text.as_bytes())),
            modified: Some(page.fetched_at.timestamp()),
        };
        self.with_index(embedder, |index| {
            index.upsert_document(&input, chunks)?;
            Ok(index.commit()?)
        })?;
        let cached = CachedPage {
            url: page.url.clone(),
            title: page.title.clone(),
            published: page.published.clone(),
            fetched_at: page.fetched_at,
        };
        self.with_table(|t| {
            t.pages.insert(page.url.clone(), cached.clone());
            t.aliases
                .insert(page.requested_url.clone(), page.url.clone());
        })?;
        self.save_table()?;
        Ok(cached)
    }

    /// Makes sure every URL's page is in the cache and fresh; fetches those that are not, all at
    /// once. Returns the final URLs of the pages now available, and the failures.
    pub fn gather(
        &self,
        embedder: &Embedder,
        settings: &Settings,
        urls: &[String],
        report: &mut WebReport,
    ) -> Result<()> {
        let mut stale = Vec::new();
        for url in urls {
            match self.fresh(url, settings.web_cache_max_age_hours)? {
                Some(page) => push_once(&mut report.pages, page.url),
                None => stale.push(url.clone()),
            }
        }
        if stale.is_empty() {
            return Ok(());
        }
        let fetcher = self.fetcher(settings)?;
        for (url, result) in stale
            .iter()
            .zip(fetcher.fetch_all(&stale, FetchOptions::default()))
        {
            match result
                .map_err(Error::from)
                .and_then(|page| self.store(embedder, settings, &page))
            {
                Ok(page) => push_once(&mut report.pages, page.url),
                Err(e) => report.failed.push(WebFailure {
                    url: url.clone(),
                    error: e.to_string(),
                }),
            }
        }
        Ok(())
    }

    /// The configured search provider's best result URLs for `query`.
    pub fn search(&self, settings: &Settings, query: &str) -> Result<Vec<String>> {
        let base = settings
            .web_search_url
            .as_deref()
            .ok_or(Error::WebUnavailable)?;
        let provider = Searxng::new(base, &self.fetcher(settings)?)?;
        Ok(provider
            .search(query, settings.web_results)?
            .into_iter()
            .map(|r| r.url)
            .collect())
    }
}

fn push_once(list: &mut Vec<String>, url: String) {
    if !list.contains(&url) {
        list.push(url);
    }
}

struct EmbedderTokens<'a>(&'a Embedder);

impl TokenCounter for EmbedderTokens<'_> {
    fn count_tokens(&self, text: &str) -> usize {
        self.0.count_tokens(text)
    }
}

/// The same chunking and embedding as library documents, so both rank on the same footing.
pub(crate) fn embed_page(
    embedder: &Embedder,
    settings: &Settings,
    title: &str,
    text: &str,
) -> Result<Vec<ChunkInput>> {
    let options = ChunkingOptions {
        max_tokens: settings.chunk_tokens,
        overlap_tokens: settings.chunk_overlap_tokens,
    };
    let source = SourceText {
        title,
        text,
        kind: TextKind::Plain,
    };
    let drafts = chunk_text(&source, &options, &EmbedderTokens(embedder));
    let mut chunks = Vec::with_capacity(drafts.len());
    for batch in drafts.chunks(32) {
        let contexts: Vec<String> = batch
            .iter()
            .map(|d| chunk_context(title, &d.heading, &d.text))
            .collect();
        let refs: Vec<&str> = contexts.iter().map(String::as_str).collect();
        let embeddings = embedder.embed(&refs)?;
        chunks.extend(
            batch
                .iter()
                .cloned()
                .zip(embeddings)
                .map(|(draft, embedding)| ChunkInput { draft, embedding }),
        );
    }
    Ok(chunks)
}
