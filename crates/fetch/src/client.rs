//! The fetcher: one reqwest client (rustls, no proxy unless configured, timeouts, no automatic
//! redirects) behind the address guard, with robots.txt and a size cap on decoded bytes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use serde::Serialize;
use url::Url;

use crate::dns::{GuardedResolver, Lookup, SystemLookup};
use crate::extract::{extract, BodyKind};
use crate::{AddressGuard, AllowRule, Error, Result};

/// The name robots.txt rules are matched against, and the start of the User-Agent header.
pub const ROBOTS_AGENT: &str = "Almanac";

/// How the fetcher behaves; the defaults are the safe ones.
#[derive(Clone)]
pub struct FetchConfig {
    pub guard: AddressGuard,
    /// Name resolution (the system's by default; tests map names to loopback with their own).
    pub lookup: Arc<dyn Lookup>,
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of an answer.
    pub read_timeout: Duration,
    /// Longest time for one fetch, redirects and body included.
    pub total_timeout: Duration,
    /// Most bytes of a body after decompression.
    pub max_bytes: u64,
    pub max_redirects: usize,
    /// An explicit proxy URL; `None` connects directly (the system proxy is never used silently).
    /// Through a proxy the proxy resolves names, so only the URL's own host is checked.
    pub proxy: Option<String>,
    pub respect_robots: bool,
    pub user_agent: String,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            guard: AddressGuard::new(),
            lookup: Arc::new(SystemLookup),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(15),
            total_timeout: Duration::from_secs(30),
            max_bytes: 5 * 1024 * 1024,
            max_redirects: 5,
            proxy: None,
            respect_robots: true,
            user_agent: format!(
                "{ROBOTS_AGENT}/{} (local assistant; fetches pages its user asked about)",
                env!("CARGO_PKG_VERSION")
            ),
        }
    }
}

/// Per-fetch choices.
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchOptions {
    /// Skip robots.txt: only for a URL the user typed and chose to fetch anyway.
    pub ignore_robots: bool,
}

/// A fetched page, reduced to its readable text.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// The URL asked for.
    pub requested_url: String,
    /// The URL the text came from, after redirects.
    pub url: String,
    pub title: String,
    pub text: String,
    /// The publication date the page states (YYYY-MM-DD), when it states one.
    pub published: Option<String>,
    pub fetched_at: DateTime<Utc>,
    pub content_type: String,
}

/// A body as it arrived, before extraction.
struct RawBody {
    url: Url,
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

enum Robots {
    AllowAll,
    DisallowAll,
    Rules(Box<texting_robots::Robot>),
}

struct Inner {
    config: FetchConfig,
    client: reqwest::Client,
    runtime: Arc<tokio::runtime::Runtime>,
    robots: Mutex<HashMap<String, Arc<Robots>>>,
}

/// Cheap to clone; blocking methods (it runs its own small async runtime), safe to share.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

impl Fetcher {
    pub fn new(config: FetchConfig) -> Result<Fetcher> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("almanac-fetch")
            .enable_all()
            .build()
            .map_err(|e| Error::Setup(e.to_string()))?;
        Fetcher::with_runtime(config, Arc::new(runtime))
    }

    fn with_runtime(config: FetchConfig, runtime: Arc<tokio::runtime::Runtime>) -> Result<Fetcher> {
        // rustls with ring, installed once for the process (a second install is refused harmlessly).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let resolver = GuardedResolver {
            guard: config.guard.clone(),
            lookup: config.lookup.clone(),
        };
        let mut builder = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .timeout(config.total_timeout)
            .dns_resolver(Arc::new(resolver))
            .no_proxy();
        if let Some(proxy) = &config.proxy {
            builder = builder.proxy(
                reqwest::Proxy::all(proxy)
                    .map_err(|e| Error::Setup(format!("proxy {proxy}: {e}")))?,
            );
        }
        let client = builder.build().map_err(|e| Error::Setup(e.to_string()))?;
        Ok(Fetcher {
            inner: Arc::new(Inner {
                config,
                client,
                runtime,
                robots: Mutex::default(),
            }),
        })
    }

    pub fn config(&self) -> &FetchConfig {
        &self.inner.config
    }

    /// The same fetcher with one more allow-list entry (e.g. the search instance the user configured).
    pub fn also_allowing(&self, rule: AllowRule) -> Result<Fetcher> {
        let mut config = self.inner.config.clone();
        config.guard = config.guard.also_allowing(rule);
        Fetcher::with_runtime(config, self.inner.runtime.clone())
    }

    /// Fetches `url` and extracts its readable text.
    pub fn fetch(&self, url: &str, options: FetchOptions) -> Result<Page> {
        let parsed = parse_url(url)?;
        let fetched_at = Utc::now();
        let raw = self
            .inner
            .runtime
            .block_on(self.page_body(parsed, options))?;
        to_page(url, raw, fetched_at)
    }

    /// Fetches several pages at once; one result per URL, in order.
    pub fn fetch_all(&self, urls: &[String], options: FetchOptions) -> Vec<Result<Page>> {
        let fetched_at = Utc::now();
        let raws = self
            .inner
            .runtime
            .block_on(futures_util::future::join_all(urls.iter().map(
                |u| async move {
                    let parsed = parse_url(u)?;
                    self.page_body(parsed, options).await
                },
            )));
        urls.iter()
            .zip(raws)
            .map(|(u, raw)| to_page(u, raw?, fetched_at))
            .collect()
    }

    /// GETs a JSON document (a search API's answer), through the same guard and limits.
    pub fn get_json(&self, url: &Url) -> Result<serde_json::Value> {
        let raw = self.inner.runtime.block_on(self.get(
            url.clone(),
            false,
            self.inner.config.max_bytes,
            true,
        ))?;
        if !(200..300).contains(&raw.status) {
            return Err(Error::Status {
                url: raw.url.to_string(),
                status: raw.status,
            });
        }
        serde_json::from_slice(&raw.body).map_err(|e| Error::Request {
            url: raw.url.to_string(),
            message: format!("the answer is not valid JSON: {e}"),
        })
    }

    async fn page_body(&self, url: Url, options: FetchOptions) -> Result<RawBody> {
        let robots = self.inner.config.respect_robots && !options.ignore_robots;
        let raw = self
            .get(url, robots, self.inner.config.max_bytes, false)
            .await?;
        if !(200..300).contains(&raw.status) {
            return Err(Error::Status {
                url: raw.url.to_string(),
                status: raw.status,
            });
        }
        Ok(raw)
    }

    /// GET with the redirects followed by hand, each hop checked by the guard (and robots.txt)
    /// before anything is sent to it; the whole fetch within the total timeout.
    /// `any_type`: read the body whatever its Content-Type (robots.txt, API answers).
    async fn get(&self, url: Url, robots: bool, cap: u64, any_type: bool) -> Result<RawBody> {
        let total = self.inner.config.total_timeout;
        let started = url.to_string();
        tokio::time::timeout(total, self.get_following(url, robots, cap, any_type))
            .await
            .unwrap_or_else(|_| {
                Err(Error::Timeout {
                    url: started,
                    what: format!("not finished within {} s", total.as_secs_f64()),
                })
            })
    }

    async fn get_following(
        &self,
        mut url: Url,
        robots: bool,
        cap: u64,
        any_type: bool,
    ) -> Result<RawBody> {
        let config = &self.inner.config;
        for _ in 0..=config.max_redirects {
            config.guard.check_url(&url)?;
            if robots {
                self.check_robots(&url).await?;
            }
            let response = self
                .inner
                .client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| request_error(&url, e, config))?;
            let status = response.status();
            if status.is_redirection() {
                let next = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| url.join(l).ok())
                    .ok_or_else(|| Error::BadRedirect {
                        url: url.to_string(),
                    })?;
                url = next;
                continue;
            }
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            if status.is_success() && !any_type {
                // Refuse unread types before their bodies are downloaded.
                if BodyKind::from_content_type(&content_type).is_none() {
                    return Err(Error::UnsupportedType {
                        url: url.to_string(),
                        content_type,
                    });
                }
            }
            let body = read_capped(&url, response, cap, config).await?;
            return Ok(RawBody {
                url,
                status: status.as_u16(),
                content_type,
                body,
            });
        }
        Err(Error::TooManyRedirects {
            url: url.to_string(),
            limit: config.max_redirects,
        })
    }

    /// robots.txt of the URL's origin, fetched once per origin (RFC 9309: 4xx allows everything,
    /// 5xx disallows everything).
    async fn check_robots(&self, url: &Url) -> Result<()> {
        let origin = url.origin().ascii_serialization();
        let cached = lock(&self.inner.robots).get(&origin).cloned();
        let robots = match cached {
            Some(r) => r,
            None => {
                let robots_url = url.join("/robots.txt").map_err(|e| Error::InvalidUrl {
                    url: url.to_string(),
                    reason: e.to_string(),
                })?;
                let rules =
                    match Box::pin(self.get_following(robots_url, false, 512 * 1024, true)).await {
                        Ok(raw) if (200..300).contains(&raw.status) => {
                            match texting_robots::Robot::new(ROBOTS_AGENT, &raw.body) {
                                Ok(robot) => Robots::Rules(Box::new(robot)),
                                Err(_) => Robots::AllowAll,
                            }
                        }
                        Ok(raw) if (400..500).contains(&raw.status) => Robots::AllowAll,
                        Ok(_) => Robots::DisallowAll,
                        Err(e) => return Err(e),
                    };
                let rules = Arc::new(rules);
                lock(&self.inner.robots).insert(origin.clone(), rules.clone());
                rules
            }
        };
        let allowed = match robots.as_ref() {
            Robots::AllowAll => true,
            Robots::DisallowAll => false,
            Robots::Rules(robot) => robot.allowed(url.as_str()),
        };
        if allowed {
            Ok(())
        } else {
            Err(Error::RobotsDisallowed {
                url: url.to_string(),
                origin,
            })
        }
    }
}

fn to_page(requested: &str, raw: RawBody, fetched_at: DateTime<Utc>) -> Result<Page> {
    let url = raw.url.to_string();
    let kind =
        BodyKind::from_content_type(&raw.content_type).ok_or_else(|| Error::UnsupportedType {
            url: url.clone(),
            content_type: raw.content_type.clone(),
        })?;
    let extracted = extract(&url, kind, &raw.content_type, &raw.body)?;
    Ok(Page {
        requested_url: requested.to_owned(),
        url,
        title: extracted.title,
        text: extracted.text,
        published: extracted.published,
        fetched_at,
        content_type: raw.content_type,
    })
}

pub fn parse_url(url: &str) -> Result<Url> {
    Url::parse(url.trim()).map_err(|e| Error::InvalidUrl {
        url: url.to_owned(),
        reason: e.to_string(),
    })
}

/// Reads the body as it streams (decompressed), stopping as soon as it passes `cap`, whatever the
/// Content-Length said.
async fn read_capped(
    url: &Url,
    response: reqwest::Response,
    cap: u64,
    config: &FetchConfig,
) -> Result<Vec<u8>> {
    let too_large = || Error::TooLarge {
        url: url.to_string(),
        limit: cap,
    };
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| request_error(url, e, config))?;
        if body.len() as u64 + chunk.len() as u64 > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error as one line; a refusal by the resolver comes back as the guard's own error.
fn request_error(url: &Url, e: reqwest::Error, config: &FetchConfig) -> Error {
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    let mut messages = Vec::new();
    while let Some(err) = source {
        if let Some(ours) = err.downcast_ref::<Error>() {
            return ours.clone();
        }
        let text = err.to_string();
        if !messages.iter().any(|m: &String| m.contains(&text)) {
            messages.push(text);
        }
        source = err.source();
    }
    if e.is_timeout() {
        return Error::Timeout {
            url: url.to_string(),
            what: format!(
                "no answer within the connect limit of {} s or the read limit of {} s",
                config.connect_timeout.as_secs_f64(),
                config.read_timeout.as_secs_f64()
            ),
        };
    }
    Error::Request {
        url: url.to_string(),
        message: messages.join(": "),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
