//! A Hugging Face-style hub on 127.0.0.1 for the model download tests: the two endpoints a pull
//! uses, as the real hub shapes them:
//!
//! - `GET /api/models/{owner}/{name}/revision/{rev}?blobs=true`: `sha` (the commit) and `siblings`
//!   with `rfilename`, `size` and `lfs: {sha256, size, pointerSize}`;
//! - `GET /{owner}/{name}/resolve/{rev}/{file}`: the bytes, with `Range: bytes=N-` answered 206.
//!
//! A gated repository answers 401 without `Authorization: Bearer TOKEN`; an unknown one 404. A
//! file can be listed with a wrong sha256 or size, or told to stall after some bytes (the test then
//! kills the client mid-transfer). Every request is recorded with its Range header.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

#[derive(Clone)]
pub struct HubFile {
    pub name: String,
    pub bytes: Arc<Vec<u8>>,
    /// What the metadata says (the real values unless a test changes them).
    pub sha256: String,
    pub size: u64,
    /// Send this many bytes of a full (not ranged) transfer, then hold the connection open.
    pub stall_after: Option<usize>,
    /// Send 16 KiB at a time with this pause between (a slow link, for cancelling).
    pub throttle: Option<Duration>,
    /// Send this many bytes of a full transfer, then close the connection (a broken link).
    pub cut_after: Option<usize>,
}

impl HubFile {
    pub fn new(name: &str, bytes: Vec<u8>) -> HubFile {
        let sha256 = format!("{:x}", Sha256::digest(&bytes));
        HubFile {
            name: name.into(),
            size: bytes.len() as u64,
            bytes: Arc::new(bytes),
            sha256,
            stall_after: None,
            throttle: None,
            cut_after: None,
        }
    }
}

#[derive(Clone, Default)]
pub struct Repo {
    pub files: Vec<HubFile>,
    /// The token a gated repository wants.
    pub token: Option<String>,
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
    pub authorization: Option<String>,
}

pub struct HfServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl HfServer {
    /// A hub holding one ungated repository with one file.
    pub fn one_file(repo: &str, file: HubFile) -> HfServer {
        let repo_files = Repo {
            files: vec![file],
            token: None,
        };
        HfServer::start(HashMap::from([(repo.to_owned(), repo_files)]))
    }

    pub fn start(repos: HashMap<String, Repo>) -> HfServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let repos = Arc::new(repos);
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (repos, log) = (repos.clone(), log.clone());
                std::thread::spawn(move || serve(stream, &repos, &log));
            }
        });
        HfServer { addr, seen }
    }

    /// The value for `HF_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, repos: &HashMap<String, Repo>, log: &Mutex<Vec<Seen>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let seen = Seen {
        path: target.clone(),
        range: headers.get("range").cloned(),
        authorization: headers.get("authorization").cloned(),
    };
    log.lock().unwrap().push(seen.clone());
    let mut out = stream;
    let path = target.split('?').next().unwrap_or("/");
    let reply = |out: &mut TcpStream, status: &str, kind: &str, body: &[u8]| {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = out.write_all(head.as_bytes());
        let _ = out.write_all(body);
    };
    let not_found = |out: &mut TcpStream| {
        reply(
            out,
            "404 Not Found",
            "application/json",
            br#"{"error":"Repository not found"}"#,
        )
    };
    // As the real hub answers for a repository that does not exist or is private.
    let hidden = |out: &mut TcpStream| {
        let body = br#"{"error":"Repository Not Found"}"#;
        let head = format!(
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nX-Error-Code: RepoNotFound\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = out.write_all(head.as_bytes());
        let _ = out.write_all(body);
    };
    let (repo_name, rest) = if let Some(api) = path.strip_prefix("/api/models/") {
        match api.split_once("/revision/") {
            Some((repo, _rev)) => (repo.to_owned(), None),
            None => return not_found(&mut out),
        }
    } else {
        let trimmed = path.trim_start_matches('/');
        let mut parts = trimmed.splitn(5, '/');
        let (Some(owner), Some(name), Some("resolve"), Some(_rev), Some(file)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return not_found(&mut out);
        };
        (format!("{owner}/{name}"), Some(file.replace("%20", " ")))
    };
    let Some(repo) = repos.get(&repo_name) else {
        if repo_name.starts_with("hidden/") {
            return hidden(&mut out);
        }
        return not_found(&mut out);
    };
    if let Some(token) = &repo.token {
        if seen.authorization.as_deref() != Some(&format!("Bearer {token}")) {
            let body = br#"{"error":"Access to model is restricted. You must have access to it and be authenticated to access it."}"#;
            let head = format!(
                "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nX-Error-Code: GatedRepo\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = out.write_all(head.as_bytes());
            let _ = out.write_all(body);
            return;
        }
    }
    let Some(file_name) = rest else {
        let siblings: Vec<serde_json::Value> = repo
            .files
            .iter()
            .map(|f| {
                serde_json::json!({
                    "rfilename": f.name,
                    "size": f.size,
                    "blobId": "b".repeat(40),
                    "lfs": {"sha256": f.sha256, "size": f.size, "pointerSize": 134}
                })
            })
            .collect();
        let body = serde_json::json!({
            "_id": "x", "id": repo_name, "sha": COMMIT, "private": false,
            "gated": if repo.token.is_some() { serde_json::json!("manual") } else { serde_json::json!(false) },
            "siblings": siblings,
        });
        return reply(
            &mut out,
            "200 OK",
            "application/json",
            body.to_string().as_bytes(),
        );
    };
    let Some(file) = repo.files.iter().find(|f| f.name == file_name) else {
        return reply(
            &mut out,
            "404 Not Found",
            "application/json",
            br#"{"error":"Entry not found"}"#,
        );
    };
    let start = seen
        .range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    let total = file.bytes.len();
    let body = &file.bytes[start.unwrap_or(0).min(total)..];
    let head = match start {
        Some(from) => format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {from}-{}/{total}\r\nContent-Length: {}\r\nX-Repo-Commit: {COMMIT}\r\nConnection: close\r\n\r\n",
            total - 1,
            body.len()
        ),
        None => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {total}\r\nAccept-Ranges: bytes\r\nX-Repo-Commit: {COMMIT}\r\nX-Linked-Etag: \"{}\"\r\nConnection: close\r\n\r\n",
            file.sha256
        ),
    };
    if out.write_all(head.as_bytes()).is_err() {
        return;
    }
    match (start, file.stall_after) {
        _ if file.throttle.is_some() => {
            for block in body.chunks(16 * 1024) {
                if out.write_all(block).is_err() {
                    return; // the client went away
                }
                std::thread::sleep(file.throttle.unwrap());
            }
        }
        _ if start.is_none() && file.cut_after.is_some() => {
            let cut = file.cut_after.unwrap().min(body.len());
            let _ = out.write_all(&body[..cut]);
            let _ = out.flush();
            let _ = out.shutdown(std::net::Shutdown::Both);
        }
        (None, Some(cut)) => {
            let _ = out.write_all(&body[..cut.min(body.len())]);
            let _ = out.flush();
            // Hold the connection until the client goes away (the test kills it).
            std::thread::sleep(Duration::from_secs(120));
        }
        _ => {
            let _ = out.write_all(body);
        }
    }
}
