//! The built web UI: files under the UI folder only (no `..`, no hidden files, no links out of
//! it), `/` is `index.html`.

use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;
use super::Server;

pub async fn serve(State(server): State<Server>, method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed on {}", uri.path()),
        )
        .into_response();
    }
    let path = uri.path();
    let relative = if path == "/" {
        "index.html"
    } else {
        &path[1..]
    };
    let Some(relative) = clean(relative) else {
        return not_found(path);
    };
    let root = server.ui.clone();
    let file = tokio::task::spawn_blocking(move || -> Option<(Vec<u8>, &'static str)> {
        let root = std::fs::canonicalize(&*root).ok()?;
        let file = std::fs::canonicalize(root.join(&relative)).ok()?;
        if !file.starts_with(&root) || !file.is_file() {
            return None;
        }
        Some((std::fs::read(&file).ok()?, content_type(&relative)))
    })
    .await
    .ok()
    .flatten();
    let Some((bytes, content_type)) = file else {
        if path == "/" {
            return ApiError::new(
                StatusCode::NOT_FOUND,
                "ui_missing",
                "the web UI is not built: run `npm ci && npm run build` in ui/, or pass --ui DIR",
            )
            .into_response();
        }
        return not_found(path);
    };
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Hashed asset names never change; index.html must always be fresh.
    let cache = if relative_is_asset(path) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

fn not_found(path: &str) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("{} not found", path.chars().take(200).collect::<String>()),
    )
    .into_response()
}

fn relative_is_asset(path: &str) -> bool {
    path.starts_with("/assets/")
}

/// A relative path of plain segments: no empty, `.`, `..` or hidden segments, no backslashes or
/// NULs, percent-escapes decoded.
fn clean(relative: &str) -> Option<String> {
    let decoded = percent_decode(relative)?;
    let ok = decoded.split('/').all(|seg| {
        !seg.is_empty() && !seg.starts_with('.') && !seg.contains('\\') && !seg.contains('\0')
    });
    ok.then_some(decoded)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn only_plain_relative_paths() {
        assert_eq!(
            clean("assets/index-abc.js").as_deref(),
            Some("assets/index-abc.js")
        );
        assert_eq!(clean("a%20b.css").as_deref(), Some("a b.css"));
        for bad in [
            "../etc/passwd",
            "assets/../../x",
            "%2e%2e/x",
            ".env",
            "a//b",
            "a\\..\\b",
            "%00",
            "%zz",
        ] {
            assert_eq!(clean(bad), None, "{bad}");
        }
    }
}
