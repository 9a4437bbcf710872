//! Who may talk to the server, and the headers every response carries.
//!
//! - Host: an IP literal or `localhost`, with this server's port. A DNS-rebinding page reaches us
//!   under its own host name, so it is refused. When listening on one address, only that address
//!   (and `localhost` for a loopback one) is accepted.
//! - Origin: when present it must be this server's own (`http://` + an accepted host). Browsers
//!   send it on every cross-origin request and on same-origin POST/PUT/PATCH/DELETE.
//! - `Sec-Fetch-Site: cross-site` on a state-changing request is refused too.
//! - CORS: closed by default. Origins named with `--cors-origin` may call the OpenAI-compatible
//!   API (`/v1`) from their pages (preflight answered here, `Access-Control-Allow-Origin` echoed);
//!   the UI's own API (`/api`) stays same-origin whatever the setting.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;

/// The desktop window's Content Security Policy, sent with everything served.
pub const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; connect-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

pub struct HostGuard {
    ip: IpAddr,
    port: u16,
    /// Origins (`scheme://host[:port]`, lower case) whose pages may call `/v1`.
    cors_origins: Vec<String>,
}

/// Whether the path belongs to the OpenAI-compatible API.
pub fn is_openai_path(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

impl HostGuard {
    pub fn new(local: SocketAddr) -> HostGuard {
        HostGuard {
            ip: local.ip(),
            port: local.port(),
            cors_origins: Vec::new(),
        }
    }

    /// Opens `/v1` to these origins' pages.
    pub fn with_cors_origins(mut self, origins: &[String]) -> HostGuard {
        self.cors_origins = origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|o| !o.is_empty())
            .collect();
        self
    }

    fn cors_allows(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        self.cors_origins.contains(&origin)
    }

    /// Whether `host` (a Host header value, or an Origin's host part) names this server.
    pub fn accepts(&self, host: &str) -> bool {
        let Some((name, port)) = split_host_port(host) else {
            return false;
        };
        if port != self.port {
            return false;
        }
        if name.eq_ignore_ascii_case("localhost") {
            return self.ip.is_loopback() || self.ip.is_unspecified();
        }
        let Ok(ip) = name.parse::<IpAddr>() else {
            return false; // a DNS name: possibly a rebinding attack
        };
        if self.ip.is_unspecified() {
            true
        } else if self.ip.is_loopback() {
            ip.is_loopback()
        } else {
            ip == self.ip
        }
    }

    fn accepts_origin(&self, origin: &str) -> bool {
        origin
            .strip_prefix("http://")
            .is_some_and(|host| !host.contains('/') && self.accepts(host))
    }
}

/// "127.0.0.1:8080" → ("127.0.0.1", 8080); "[::1]:8080" → ("::1", 8080). A missing port is
/// refused (browsers always send it for a non-default port, and we never listen on 80).
fn split_host_port(host: &str) -> Option<(&str, u16)> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        (ip, after.strip_prefix(':')?)
    } else {
        let (name, port) = host.rsplit_once(':')?;
        if name.contains(':') {
            return None; // an IPv6 address must be in brackets
        }
        (name, port)
    };
    if name.is_empty() || port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((name, port.parse().ok()?))
}

fn header<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

pub async fn check(State(guard): State<Arc<HostGuard>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host =
        header(headers, &header::HOST).or_else(|| request.uri().authority().map(|a| a.as_str()));
    let refusal = match host {
        None => Some(ApiError::forbidden(
            "forbidden_host",
            "the request has no Host header",
        )),
        Some(h) if !guard.accepts(h) => Some(ApiError::forbidden(
            "forbidden_host",
            format!(
                "Host {:?} is not this server; open it by its address, e.g. http://127.0.0.1:{}",
                clip(h),
                guard.port
            ),
        )),
        _ => None,
    };
    let openai = is_openai_path(request.uri().path());
    let cors_origin = header(headers, &header::ORIGIN)
        .filter(|o| openai && !guard.accepts_origin(o) && guard.cors_allows(o))
        .map(|o| HeaderValue::from_str(o).expect("a header value"));
    if let (None, Some(origin), &Method::OPTIONS) = (&refusal, &cors_origin, request.method()) {
        return preflight(origin.clone());
    }
    let refusal = refusal.or_else(|| match header(headers, &header::ORIGIN) {
        Some(_) if cors_origin.is_some() => None,
        Some(origin) if !guard.accepts_origin(origin) => Some(ApiError::forbidden(
            "forbidden_origin",
            format!("requests from {:?} are not accepted", clip(origin)),
        )),
        _ => None,
    });
    let refusal = refusal.or_else(|| {
        let cross_site = headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
        (cross_site && cors_origin.is_none() && is_state_changing(request.method())).then(|| {
            ApiError::forbidden("forbidden_origin", "cross-site requests are not accepted")
        })
    });
    let mut response = match refusal {
        Some(e) => e.into_response(),
        None => next.run(request).await,
    };
    let h = response.headers_mut();
    if let Some(origin) = cors_origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The answer to a CORS preflight from an allowed origin.
fn preflight(origin: HeaderValue) -> Response {
    let mut response = axum::http::StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    response
}

fn clip(s: &str) -> String {
    s.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(addr: &str) -> HostGuard {
        HostGuard::new(addr.parse().unwrap())
    }

    #[test]
    fn loopback_server_accepts_its_own_names_only() {
        let g = guard("127.0.0.1:5000");
        assert!(g.accepts("127.0.0.1:5000"));
        assert!(g.accepts("localhost:5000"));
        assert!(g.accepts("LOCALHOST:5000"));
        assert!(!g.accepts("127.0.0.1:5001"));
        assert!(!g.accepts("127.0.0.1"));
        assert!(!g.accepts("evil.example:5000"));
        assert!(!g.accepts("127.0.0.1.nip.io:5000"));
        assert!(!g.accepts("192.168.1.2:5000"));
        assert!(!g.accepts(""));
        assert!(g.accepts_origin("http://127.0.0.1:5000"));
        assert!(!g.accepts_origin("https://127.0.0.1:5000"));
        assert!(!g.accepts_origin("http://evil.example:5000"));
        assert!(!g.accepts_origin("null"));
    }

    #[test]
    fn ipv6_and_specific_addresses() {
        let g = guard("[::1]:7000");
        assert!(g.accepts("[::1]:7000"));
        assert!(!g.accepts("::1:7000"));
        let g = guard("192.168.1.2:7000");
        assert!(g.accepts("192.168.1.2:7000"));
        assert!(!g.accepts("localhost:7000"));
        let g = guard("0.0.0.0:7000");
        assert!(g.accepts("10.0.0.5:7000"));
        assert!(!g.accepts("anything.example:7000"));
    }

    #[test]
    fn cors_is_closed_unless_an_origin_is_named() {
        let g = guard("127.0.0.1:7000");
        assert!(!g.cors_allows("http://editor.example:3000"));
        let g = guard("127.0.0.1:7000").with_cors_origins(&["http://Editor.example:3000/".into()]);
        assert!(g.cors_allows("http://editor.example:3000"));
        assert!(!g.cors_allows("http://editor.example:3001"));
        assert!(!g.cors_allows("https://editor.example:3000"));
        assert!(
            is_openai_path("/v1/models") && !is_openai_path("/v10") && !is_openai_path("/api/ask")
        );
    }
}
