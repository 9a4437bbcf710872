//! The Hugging Face hub's HTTP API, the two calls a download needs (the same paths the
//! `huggingface_hub` library uses, so a mirror named by `HF_ENDPOINT` works too):
//!
//! - `GET /api/models/{repo}/revision/{revision}?blobs=true`: the commit the revision points at and
//!   every file with its size and, for LFS files, `lfs.sha256` and `lfs.size`;
//! - `GET /{repo}/resolve/{commit}/{file}`: the bytes (the hub redirects to its CDN, which answers
//!   `Range` requests), pinned to that commit so a resumed transfer gets the same file.
//!
//! `HF_TOKEN` is sent as a bearer token to the endpoint only: ureq drops it on redirects, so the
//! CDN never sees it.

use std::io::Read;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A file in a repository at a revision (a branch, tag or commit).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RepoFile {
    pub repo: String,
    pub revision: String,
    pub file: String,
}

impl RepoFile {
    pub fn new(repo: &str, file: &str) -> RepoFile {
        RepoFile {
            repo: repo.into(),
            revision: "main".into(),
            file: file.into(),
        }
    }

    /// The name the file gets in the models folder: its last path segment.
    pub fn local_name(&self) -> &str {
        self.file.rsplit('/').next().unwrap_or(&self.file)
    }

    /// Refuses what is not `owner/name`, a path inside the repository ending in `.gguf`, or a
    /// revision with odd characters.
    pub fn check(&self) -> Result<()> {
        check_repo(&self.repo)?;
        let segments: Vec<&str> = self.file.split('/').collect();
        let bad_segment = |s: &&str| {
            s.is_empty()
                || *s == "."
                || *s == ".."
                || s.chars().any(|c| c.is_control() || c == '\\')
        };
        if self.file.len() > 255 || segments.iter().any(bad_segment) {
            return Err(Error::invalid(
                "file",
                format!("{:?} is not a file path inside a repository", self.file),
            ));
        }
        if !self.local_name().to_ascii_lowercase().ends_with(".gguf") {
            return Err(Error::invalid(
                "file",
                format!("{} is not a .gguf file", self.file),
            ));
        }
        if self.revision.is_empty()
            || self.revision.len() > 100
            || !self
                .revision
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(Error::invalid(
                "revision",
                format!("{:?} is not a branch, tag or commit", self.revision),
            ));
        }
        Ok(())
    }
}

/// `owner/name`, each of ASCII letters, digits, `.`, `_` and `-`.
pub fn check_repo(repo: &str) -> Result<()> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 96
            && p != "."
            && p != ".."
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    match repo.split_once('/') {
        Some((owner, name)) if part_ok(owner) && part_ok(name) => Ok(()),
        _ => Err(Error::invalid(
            "repo",
            format!("{repo:?} is not a repository name like owner/name"),
        )),
    }
}

/// What the hub says about a file: its size and sha256 (from the LFS metadata) and the commit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RemoteFile {
    pub size: u64,
    pub sha256: String,
    pub commit: String,
}

#[derive(Deserialize)]
struct ModelInfo {
    sha: Option<String>,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(Deserialize)]
struct Sibling {
    rfilename: String,
    lfs: Option<Lfs>,
}

#[derive(Deserialize)]
struct Lfs {
    sha256: String,
    size: u64,
}

/// A client of one endpoint.
pub struct Hub {
    endpoint: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// An open transfer: its body from byte `start` on.
pub(crate) struct Transfer {
    pub start: u64,
    pub body: Box<dyn Read + Send>,
    pub url: String,
}

impl Hub {
    /// `HF_ENDPOINT` (else the Hugging Face hub) and `HF_TOKEN`, as the official clients read them.
    pub fn from_env() -> Hub {
        let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Hub::new(
            var("HF_ENDPOINT").as_deref().unwrap_or(DEFAULT_ENDPOINT),
            var("HF_TOKEN"),
        )
    }

    pub fn new(endpoint: &str, token: Option<String>) -> Hub {
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .user_agent(concat!("almanac/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Hub {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            token,
            agent,
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn get(&self, url: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        let request = self.agent.get(url);
        match &self.token {
            Some(token) => request.header("Authorization", &format!("Bearer {token}")),
            None => request,
        }
    }

    /// The file's size, sha256 and the commit `source.revision` points at.
    pub fn file_info(&self, source: &RepoFile) -> Result<RemoteFile> {
        source.check()?;
        let url = format!(
            "{}/api/models/{}/revision/{}?blobs=true",
            self.endpoint,
            source.repo,
            encode(&source.revision)
        );
        let mut response = self.get(&url).call().map_err(|e| transport(&url, &e))?;
        self.check_status(&response, &url, source)?;
        let info: ModelInfo = response
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_json()
            .map_err(|e| Error::Protocol {
                url: url.clone(),
                detail: crate::one_line(&e.to_string()),
            })?;
        let sibling = info
            .siblings
            .into_iter()
            .find(|s| s.rfilename == source.file)
            .ok_or_else(|| Error::FileNotFound {
                repo: source.repo.clone(),
                revision: source.revision.clone(),
                file: source.file.clone(),
            })?;
        let lfs = sibling.lfs.ok_or_else(|| Error::NoChecksum {
            repo: source.repo.clone(),
            file: source.file.clone(),
        })?;
        let sha256 = lfs.sha256.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::Protocol {
                url,
                detail: format!("{:?} is not a sha256", lfs.sha256),
            });
        }
        Ok(RemoteFile {
            size: lfs.size,
            sha256,
            commit: info.sha.unwrap_or_else(|| source.revision.clone()),
        })
    }

    /// Opens the file at `commit` from byte `from` (a `Range` request when `from` > 0). A server
    /// that ignores the range answers 200 and the transfer starts at 0.
    pub(crate) fn open(&self, source: &RepoFile, commit: &str, from: u64) -> Result<Transfer> {
        let file_path: Vec<String> = source.file.split('/').map(encode).collect();
        let url = format!(
            "{}/{}/resolve/{}/{}",
            self.endpoint,
            source.repo,
            encode(commit),
            file_path.join("/")
        );
        let mut request = self.get(&url);
        if from > 0 {
            request = request.header("Range", &format!("bytes={from}-"));
        }
        let response = request.call().map_err(|e| transport(&url, &e))?;
        let status = response.status().as_u16();
        self.check_status(&response, &url, source)?;
        let start = match status {
            200 => 0,
            206 => content_range_start(&response).ok_or_else(|| Error::Protocol {
                url: url.clone(),
                detail: "206 without a Content-Range".into(),
            })?,
            other => return Err(Error::Http { url, status: other }),
        };
        if start != 0 && start != from {
            return Err(Error::Protocol {
                url,
                detail: format!("asked for bytes from {from}, got them from {start}"),
            });
        }
        Ok(Transfer {
            start,
            body: Box::new(response.into_body().into_reader()),
            url,
        })
    }

    /// A failure status as the hub means it. The hub names the reason in `X-Error-Code` (it
    /// answers 401, not 404, for a repository that does not exist or is private, so that a
    /// stranger cannot tell the two apart); without it the status alone decides.
    fn check_status(
        &self,
        response: &ureq::http::Response<ureq::Body>,
        url: &str,
        source: &RepoFile,
    ) -> Result<()> {
        let status = response.status().as_u16();
        if (200..=299).contains(&status) {
            return Ok(());
        }
        let code = response
            .headers()
            .get("x-error-code")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let repo_not_found = || Error::RepoNotFound {
            repo: source.repo.clone(),
            endpoint: self.endpoint.clone(),
        };
        let file_not_found = || Error::FileNotFound {
            repo: source.repo.clone(),
            revision: source.revision.clone(),
            file: source.file.clone(),
        };
        let gated = || Error::Gated {
            repo: source.repo.clone(),
            status,
            hint: if self.token.is_some() {
                "HF_TOKEN was refused; accept the model's licence on its page with that account"
            } else {
                "set HF_TOKEN to a token of an account that accepted its licence"
            },
        };
        Err(match (code, status) {
            ("RepoNotFound", _) => repo_not_found(),
            ("GatedRepo", _) => gated(),
            ("EntryNotFound" | "RevisionNotFound", _) => file_not_found(),
            (_, 401 | 403) => gated(),
            (_, 404) if url.contains("/api/models/") => repo_not_found(),
            (_, 404) => file_not_found(),
            _ => Error::Http {
                url: url.into(),
                status,
            },
        })
    }
}

fn content_range_start(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    let value = response.headers().get("content-range")?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes ")?;
    range.split('-').next()?.trim().parse().ok()
}

fn transport(url: &str, e: &ureq::Error) -> Error {
    let detail = match e {
        ureq::Error::ConnectionFailed => "could not connect".to_owned(),
        ureq::Error::Timeout(_) => "timed out".to_owned(),
        other => crate::one_line(&other.to_string()),
    };
    Error::Transport {
        url: url.into(),
        detail,
    }
}

/// Percent-encodes one path segment (everything but unreserved characters).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_names() {
        assert!(check_repo("bartowski/Llama-3.2-3B-Instruct-GGUF").is_ok());
        for bad in ["noslash", "a/b/c", "../x", "a/..", "a b/c", "/x"] {
            assert!(check_repo(bad).is_err(), "{bad}");
        }
        let ok = RepoFile::new("a/b", "sub/Model Q4.gguf");
        assert!(ok.check().is_ok());
        assert_eq!(ok.local_name(), "Model Q4.gguf");
        for bad in ["../x.gguf", "a//b.gguf", "x.bin", "a\\b.gguf"] {
            assert!(RepoFile::new("a/b", bad).check().is_err(), "{bad}");
        }
        assert_eq!(encode("Model Q4.gguf"), "Model%20Q4.gguf");
    }
}
