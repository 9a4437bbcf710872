//! `almanac serve` started for a test, and a small HTTP/1.1 client over a TCP socket: it sends
//! exactly the headers a test names (a forged Host or Origin included) and reads Server-Sent
//! Events as they arrive.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use super::Library;

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub lib: Library,
}

impl Server {
    /// `almanac serve --port 0 --ui UI` on a scratch library; waits for its `listening on` line.
    pub fn start(ui: &Path) -> Server {
        Server::start_with(Library::new(), ui)
    }

    pub fn start_with(lib: Library, ui: &Path) -> Server {
        Server::start_with_args(lib, ui, &[])
    }

    /// [`Server::start_with`], with more arguments to `almanac serve`.
    pub fn start_with_args(lib: Library, ui: &Path, args: &[&str]) -> Server {
        Server::start_with_env(lib, ui, args, &[])
    }

    /// [`Server::start_with_args`], with variables added to the server's environment.
    pub fn start_with_env(lib: Library, ui: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = vec!["serve", "--port", "0", "--ui", ui.to_str().unwrap()];
        command.extend_from_slice(args);
        let mut child = lib
            .command(&command)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("almanac serve starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {} // keep the pipe drained
        });
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("almanac serve prints its URL");
        let port = line
            .strip_prefix("listening on http://127.0.0.1:")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("a port number");
        Server { child, port, lib }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A request with `Host: 127.0.0.1:PORT` and the given extra headers.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        let host = self.host();
        let mut all = vec![("Host", host.as_str())];
        all.extend_from_slice(headers);
        let mut stream = self.open(method, path, &all, body);
        let body = stream.read_all();
        Response {
            status: stream.status,
            headers: stream.headers,
            body,
        }
    }

    pub fn get(&self, path: &str) -> Response {
        self.send("GET", path, &[], None)
    }

    pub fn delete(&self, path: &str) -> Response {
        self.send("DELETE", path, &[], None)
    }

    /// A JSON body, sent as the UI sends it (with this server's Origin).
    pub fn json(&self, method: &str, path: &str, body: &Value) -> Response {
        let origin = self.origin();
        let text = body.to_string();
        self.send(
            method,
            path,
            &[("Content-Type", "application/json"), ("Origin", &origin)],
            Some(text.as_bytes()),
        )
    }

    /// Opens a request and reads only the status and headers; the body is read as it comes.
    pub fn open(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Stream {
        let mut tcp = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(300)))
            .unwrap();
        let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(body) = body {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        tcp.write_all(head.as_bytes()).unwrap();
        if let Some(body) = body {
            // The server may answer (413) before reading all of a large body.
            let _ = tcp.write_all(body);
        }
        let mut reader = BufReader::new(tcp);
        let mut status_line = String::new();
        reader.read_line(&mut status_line).expect("status line");
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"))
            .parse()
            .unwrap();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').unwrap();
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        let find = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let chunked = find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let length = find("content-length").and_then(|v| v.parse().ok());
        Stream {
            status,
            headers,
            body: BufReader::new(Body {
                reader,
                chunked,
                remaining: length,
                chunk_left: 0,
                done: length == Some(0),
            }),
        }
    }

    /// POSTs and reads the whole event stream: every `data:` event, in order.
    pub fn events(&self, path: &str, body: &Value) -> (Response, Vec<Value>) {
        let origin = self.origin();
        let host = self.host();
        let text = body.to_string();
        let mut stream = self.open(
            "POST",
            path,
            &[
                ("Host", &host),
                ("Content-Type", "application/json"),
                ("Origin", &origin),
            ],
            Some(text.as_bytes()),
        );
        let mut events = Vec::new();
        if stream.status == 200 {
            while let Some(e) = stream.next_event() {
                events.push(e);
            }
        }
        let body = stream.read_all();
        (
            Response {
                status: stream.status,
                headers: stream.headers,
                body,
            },
            events,
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }

    /// The `{code, message}` of an error response, checking its shape.
    pub fn error(&self) -> (u16, String, String) {
        let v = self.json();
        let code = v["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no code in {v}"))
            .to_owned();
        let message = v["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message in {v}"))
            .to_owned();
        assert!(!message.contains('\n'), "one-line message: {message:?}");
        (self.status, code, message)
    }
}

/// A response whose body is read as it arrives.
pub struct Stream {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    body: BufReader<Body>,
}

impl Stream {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The next `data:` event (comments and `event:` lines skipped); `None` at the end.
    pub fn next_event(&mut self) -> Option<Value> {
        let mut data = String::new();
        loop {
            let mut line = String::new();
            if self.body.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !data.is_empty() {
                    return Some(
                        serde_json::from_str(&data)
                            .unwrap_or_else(|e| panic!("bad event {data:?}: {e}")),
                    );
                }
                continue;
            }
            if let Some(d) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(d.strip_prefix(' ').unwrap_or(d));
            }
        }
    }

    pub fn read_all(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = self.body.read_to_end(&mut out);
        out
    }
}

struct Body {
    reader: BufReader<TcpStream>,
    chunked: bool,
    remaining: Option<usize>,
    chunk_left: usize,
    done: bool,
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.chunked {
            if self.chunk_left == 0 {
                let mut size = String::new();
                self.reader.read_line(&mut size)?;
                let size =
                    usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                        .map_err(|_| std::io::Error::other(format!("bad chunk size {size:?}")))?;
                if size == 0 {
                    self.done = true;
                    return Ok(0);
                }
                self.chunk_left = size;
            }
            let len = buf.len().min(self.chunk_left);
            let n = self.reader.read(&mut buf[..len])?;
            self.chunk_left -= n;
            if self.chunk_left == 0 {
                let mut crlf = String::new();
                self.reader.read_line(&mut crlf)?;
            }
            return Ok(n);
        }
        match self.remaining {
            Some(0) => Ok(0),
            Some(left) => {
                let len = buf.len().min(left);
                let n = self.reader.read(&mut buf[..len])?;
                self.remaining = Some(left - n);
                Ok(n)
            }
            None => self.reader.read(buf),
        }
    }
}
