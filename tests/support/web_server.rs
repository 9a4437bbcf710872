//! A small real HTTP/1.1 server on 127.0.0.1 (or [::1]) for the web tests: each request's path is
//! recorded (so a test can assert that nothing arrived), and a handler picks the reply.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server sends back for one request.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Waits this long before answering (a slow server).
    pub delay: Duration,
    /// Sends this many more bytes of `filler` after `body`, without a Content-Length.
    pub stream_bytes: usize,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            delay: Duration::ZERO,
            stream_bytes: 0,
        }
    }

    pub fn html(body: &str) -> Reply {
        Reply::new(200, "text/html; charset=utf-8", body)
    }

    pub fn redirect(location: &str) -> Reply {
        let mut reply = Reply::new(302, "text/plain", "moved");
        reply.headers.push(("Location".into(), location.into()));
        reply
    }

    pub fn not_found() -> Reply {
        Reply::new(404, "text/plain", "not found")
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = dyn Fn(&str) -> Reply + Send + Sync;

pub struct WebServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

impl WebServer {
    /// Listens on 127.0.0.1 on a free port.
    pub fn start(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> WebServer {
        WebServer::start_on("127.0.0.1:0", handler).expect("bind 127.0.0.1")
    }

    /// Listens on `addr` (e.g. "[::1]:0"); `None` when that address cannot be bound here.
    pub fn start_on(
        addr: &str,
        handler: impl Fn(&str) -> Reply + Send + Sync + 'static,
    ) -> Option<WebServer> {
        let listener = TcpListener::bind(addr).ok()?;
        let addr = listener.local_addr().ok()?;
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (handler, seen) = (handler.clone(), seen.clone());
                std::thread::spawn(move || serve(stream, &*handler, &seen));
            }
        });
        Some(WebServer { addr, requests })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, handler: &Handler, seen: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                break;
            }
        }
        seen.lock().unwrap().push(path.clone());
        let reply = handler(&path);
        std::thread::sleep(reply.delay);
        let mut head = format!("HTTP/1.1 {} X\r\n", reply.status);
        for (name, value) in &reply.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let streaming = reply.stream_bytes > 0;
        if streaming {
            head.push_str("Connection: close\r\n\r\n");
        } else {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
        }
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&reply.body).is_err() {
            return;
        }
        if streaming {
            let block = vec![b'a'; 64 * 1024];
            let mut left = reply.stream_bytes;
            while left > 0 {
                let n = left.min(block.len());
                if writer.write_all(&block[..n]).is_err() {
                    return; // the client stopped reading
                }
                left -= n;
            }
            return;
        }
    }
}
