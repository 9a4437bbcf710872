//! `almanac serve` over real HTTP: the real binary on port 0, the real models, a scratch library.
//! Each endpoint of ui/README.md, the order and end of event streams, cancel and `busy`,
//! validation errors, Host/Origin refusal, security headers, and the body limit.

#[path = "support/hf_server.rs"]
mod hf_server;
mod model_downloads;
mod support;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::http::Server;
use support::{fixtures, Library};

const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; connect-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

/// A stand-in for ui/dist (the tests of the built UI are in ui/e2e/).
fn ui_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><title>Almanac</title><script type=\"module\" src=\"/assets/app.js\"></script>",
    )
    .unwrap();
    std::fs::write(dir.path().join("assets/app.js"), "console.log('ui');").unwrap();
    std::fs::write(dir.path().join(".secret"), "hidden").unwrap();
    dir
}

fn facts() -> PathBuf {
    fixtures().join("facts").canonicalize().unwrap()
}

fn event_names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect()
}

/// Adds the facts folder and checks the ingestion stream.
fn ingest_facts(server: &Server) -> Vec<Value> {
    let (response, events) = server.events("/api/library", &json!({"paths": [facts()]}));
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(response
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    let names = event_names(&events);
    assert_eq!(
        names.first().map(String::as_str),
        Some("planned"),
        "{names:?}"
    );
    assert_eq!(events[0]["files"], 8);
    assert_eq!(
        names.last().map(String::as_str),
        Some("finished"),
        "{names:?}"
    );
    assert_eq!(
        names
            .iter()
            .filter(|n| *n == "finished" || *n == "error")
            .count(),
        1
    );
    assert_eq!(names.iter().filter(|n| *n == "indexing").count(), 8);
    assert_eq!(
        names.iter().filter(|n| *n == "indexed").count(),
        8,
        "{events:?}"
    );
    let finished = events.last().unwrap();
    assert_eq!(finished["indexed"], 8);
    assert_eq!(finished["failed"], 0);
    events
}

/// An answer stream: started first, sources then evidence once before any token, exactly one
/// terminal event last.
fn check_answer_stream(events: &[Value]) -> (&Value, String, &Value) {
    let names = event_names(events);
    assert_eq!(names[0], "started", "{names:?}");
    assert_eq!(names[1], "sources", "{names:?}");
    assert_eq!(names.iter().filter(|n| *n == "sources").count(), 1);
    let tokens_from = if names.get(2).map(String::as_str) == Some("evidence") {
        assert!(events[2]["evidence"].is_array(), "{:?}", events[2]);
        3
    } else {
        // A run that failed before evidence (an error right after sources).
        2
    };
    assert_eq!(
        names.iter().filter(|n| *n == "evidence").count(),
        tokens_from - 2
    );
    let terminal: Vec<_> = names
        .iter()
        .filter(|n| *n == "done" || *n == "error")
        .collect();
    assert_eq!(terminal.len(), 1, "{names:?}");
    assert!(matches!(names.last().unwrap().as_str(), "done" | "error"));
    assert!(
        names[tokens_from..names.len() - 1]
            .iter()
            .all(|n| n == "token"),
        "{names:?}"
    );
    let started = &events[0];
    for key in ["run_id", "conversation_id", "message_id"] {
        assert!(started[key].is_string(), "{key} is a string id: {started}");
    }
    let text: String = events
        .iter()
        .filter(|e| e["event"] == "token")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    (started, text, events.last().unwrap())
}

/// A `done` event's timings: every figure there, the token counts whole numbers, the cached part of
/// the prompt never more than the prompt.
fn check_timings(done: &Value) {
    let timings = &done["timings"];
    for key in ["retrieval_ms", "ttft_ms", "tokens_per_s", "total_ms"] {
        assert!(timings[key].is_number(), "{key} in {done}");
    }
    let count = |key: &str| {
        timings[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} is a whole number in {done}"))
    };
    assert!(count("tokens") > 0, "{done}");
    assert!(count("prompt_tokens") > 0, "{done}");
    assert!(count("cached_tokens") <= count("prompt_tokens"), "{done}");
}

fn set(server: &Server, settings: Value) {
    let r = server.json("PUT", "/api/settings", &settings);
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn serves_the_ui_with_security_headers_and_nothing_outside_it() {
    let ui = ui_dir();
    let server = Server::start(ui.path());
    let index = server.get("/");
    assert_eq!(index.status, 200);
    assert!(index
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(index.text().contains("<title>Almanac</title>"));
    assert_eq!(index.header("content-security-policy"), Some(CSP));
    assert_eq!(index.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(index.header("x-frame-options"), Some("DENY"));
    let js = server.get("/assets/app.js");
    assert_eq!(js.status, 200);
    assert!(js
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    for bad in [
        "/.secret",
        "/../Cargo.toml",
        "/assets/%2e%2e/%2e%2e/Cargo.toml",
        "/assets/..%2f..%2fCargo.toml",
        "/nope.js",
    ] {
        let r = server.get(bad);
        assert_eq!(r.status, 404, "{bad}: {}", r.text());
        assert!(!r.text().contains("hidden") && !r.text().contains("[workspace]"));
    }
    let (status, code, _) = server.get("/api/nope").error();
    assert_eq!((status, code.as_str()), (404, "not_found"));
    let (status, code, _) = server.send("PUT", "/api/models", &[], None).error();
    assert_eq!((status, code.as_str()), (405, "method_not_allowed"));
    // API answers carry the same headers.
    let settings = server.get("/api/settings");
    assert_eq!(settings.header("content-security-policy"), Some(CSP));
    assert_eq!(settings.header("x-content-type-options"), Some("nosniff"));
}

#[test]
fn refuses_foreign_hosts_and_origins() {
    let ui = ui_dir();
    let server = Server::start(ui.path());
    let port = server.port;
    let host_status = |host: &str| {
        let mut s = server.open("GET", "/api/settings", &[("Host", host)], None);
        let body = String::from_utf8_lossy(&s.read_all()).into_owned();
        (s.status, body)
    };
    for bad in [
        format!("evil.example:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        "127.0.0.1".to_owned(),
    ] {
        let (status, body) = host_status(&bad);
        assert_eq!(status, 403, "{bad}: {body}");
        assert!(body.contains("forbidden_host"), "{body}");
    }
    assert_eq!(host_status(&format!("localhost:{port}")).0, 200);
    assert_eq!(host_status(&format!("127.0.0.1:{port}")).0, 200);
    // No Host header at all.
    let mut s = server.open("GET", "/", &[], None);
    s.read_all();
    assert!(s.status == 403 || s.status == 400, "{}", s.status);

    let host = server.host();
    let tokenize = |headers: &[(&str, &str)]| {
        let mut all = vec![
            ("Host", host.as_str()),
            ("Content-Type", "application/json"),
        ];
        all.extend_from_slice(headers);
        let mut s = server.open("POST", "/api/tokenize", &all, Some(br#"{"text":"hi"}"#));
        let body = String::from_utf8_lossy(&s.read_all()).into_owned();
        (s.status, body)
    };
    let (status, body) = tokenize(&[("Origin", "http://evil.example")]);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("forbidden_origin"));
    assert_eq!(tokenize(&[("Origin", "null")]).0, 403);
    assert_eq!(
        tokenize(&[("Origin", &format!("https://127.0.0.1:{port}"))]).0,
        403
    );
    assert_eq!(tokenize(&[("Sec-Fetch-Site", "cross-site")]).0, 403);
    let (status, body) = tokenize(&[
        ("Origin", &server.origin()),
        ("Sec-Fetch-Site", "same-origin"),
    ]);
    assert_eq!(status, 200, "{body}");
    // A foreign origin cannot delete either.
    let mut s = server.open(
        "DELETE",
        "/api/conversations/1",
        &[("Host", &host), ("Origin", "http://evil.example")],
        None,
    );
    s.read_all();
    assert_eq!(s.status, 403);
}

#[test]
fn validates_every_request() {
    let ui = ui_dir();
    let server = Server::start(ui.path());
    let origin = server.origin();
    let post_raw = |path: &str, content_type: &str, body: &[u8]| {
        server.send(
            "POST",
            path,
            &[("Content-Type", content_type), ("Origin", &origin)],
            Some(body),
        )
    };

    let (status, code, message) = post_raw("/api/ask", "application/json", b"{\"text\": ").error();
    assert_eq!((status, code.as_str()), (400, "bad_json"), "{message}");
    let (status, code, message) = server.json("POST", "/api/ask", &json!({"text": 5})).error();
    assert_eq!((status, code.as_str()), (400, "invalid_argument"));
    assert!(message.starts_with("text: "), "{message}");
    let (_, _, message) = server
        .json("POST", "/api/ask", &json!({"question": "hi"}))
        .error();
    assert!(message.contains("question"), "{message}");
    let (_, _, message) = server
        .json("POST", "/api/ask", &json!({"conversation_id": null}))
        .error();
    assert!(message.contains("text"), "{message}");
    let (status, code, message) = server
        .json("POST", "/api/ask", &json!({"text": "   "}))
        .error();
    assert_eq!(
        (status, code.as_str()),
        (400, "invalid_argument"),
        "{message}"
    );
    let long = "x".repeat(33 * 1024);
    let (status, _, message) = server
        .json("POST", "/api/ask", &json!({"text": long}))
        .error();
    assert_eq!(status, 400);
    assert!(message.contains("32768"), "{message}");
    let (status, code, _) = server
        .json(
            "POST",
            "/api/ask",
            &json!({"text": "hi", "conversation_id": "abc"}),
        )
        .error();
    assert_eq!((status, code.as_str()), (400, "invalid_argument"));
    let (status, code, _) = server
        .json(
            "POST",
            "/api/ask",
            &json!({"text": "hi", "conversation_id": "4242"}),
        )
        .error();
    assert_eq!((status, code.as_str()), (404, "not_found"));
    let (status, code, _) = server
        .json(
            "POST",
            "/api/ask",
            &json!({"text": "hi", "options": {"web": true}}),
        )
        .error();
    assert_eq!((status, code.as_str()), (400, "web_unavailable"));
    let (status, code, _) = post_raw("/api/tokenize", "text/plain", br#"{"text":"hi"}"#).error();
    assert_eq!((status, code.as_str()), (415, "unsupported_media_type"));

    // The body limit: 1 MiB.
    let huge = format!("{{\"text\": \"{}\"}}", "y".repeat(1024 * 1024 + 10));
    let (status, code, _) = post_raw("/api/tokenize", "application/json", huge.as_bytes()).error();
    assert_eq!((status, code.as_str()), (413, "too_large"));

    // Conversations and runs that do not exist.
    assert_eq!(server.get("/api/conversations/77").error().0, 404);
    assert_eq!(
        server.get("/api/conversations/x%20y").error().1,
        "invalid_argument"
    );
    assert_eq!(server.delete("/api/conversations/77").error().0, 404);
    let (status, code, _) = server
        .json("PATCH", "/api/conversations/77", &json!({"title": "t"}))
        .error();
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert_eq!(
        server
            .json("POST", "/api/runs/r99/cancel", &json!({}))
            .error()
            .0,
        404
    );
    assert_eq!(
        server
            .json("POST", "/api/conversations/77/regenerate", &json!({}))
            .error()
            .0,
        404
    );
    assert_eq!(
        server
            .get("/api/conversations?q=".to_owned().as_str())
            .status,
        200
    );
    let q = "q".repeat(300);
    assert_eq!(
        server.get(&format!("/api/conversations?q={q}")).error().1,
        "invalid_argument"
    );

    // Documents: only library documents are readable, and only by absolute plain paths.
    let (status, code, message) = server
        .get("/api/document?path=/etc/passwd&line_start=1&line_end=2")
        .error();
    assert_eq!((status, code.as_str()), (404, "not_found"), "{message}");
    assert!(message.contains("not in the library"));
    assert_eq!(
        server
            .get("/api/document?path=etc/passwd&line_start=1&line_end=2")
            .error()
            .0,
        400
    );
    assert_eq!(
        server
            .get("/api/document?path=/a/../etc/passwd&line_start=1&line_end=2")
            .error()
            .0,
        400
    );
    assert_eq!(
        server
            .get("/api/document?path=/etc/passwd&line_start=x&line_end=2")
            .error()
            .0,
        400
    );
    assert_eq!(
        server
            .get("/api/document?line_start=1&line_end=2")
            .error()
            .0,
        400
    );
    let (status, _, message) = server
        .json("POST", "/api/library", &json!({"paths": ["relative/dir"]}))
        .error();
    assert_eq!(status, 400);
    assert!(message.starts_with("paths[0]: "), "{message}");
    assert_eq!(
        server
            .json("POST", "/api/library", &json!({"paths": []}))
            .error()
            .0,
        400
    );
    assert_eq!(
        server
            .json("POST", "/api/library", &json!({"paths": ["/no/such/dir"]}))
            .error()
            .0,
        400
    );
    assert_eq!(
        server.delete("/api/library?path=/not/indexed.md").error().0,
        404
    );
    assert_eq!(
        server
            .json(
                "POST",
                "/api/library/reindex",
                &json!({"path": "/not/indexed.md"})
            )
            .error()
            .0,
        404
    );

    // Settings: the field and its limits are named; nothing is stored.
    let (status, code, message) = server
        .json("PUT", "/api/settings", &json!({"temperature": 7}))
        .error();
    assert_eq!((status, code.as_str()), (400, "invalid_argument"));
    assert!(
        message.starts_with("temperature: must be a number from 0 to 2"),
        "{message}"
    );
    let (_, _, message) = server
        .json("PUT", "/api/settings", &json!({"sources": "four"}))
        .error();
    assert!(message.starts_with("sources: "), "{message}");
    let (_, _, message) = server
        .json("PUT", "/api/settings", &json!({"unknown_knob": 1}))
        .error();
    assert!(message.starts_with("unknown_knob: "), "{message}");
    assert_eq!(server.get("/api/settings").json()["temperature"], 0.0);
    assert!(!server.lib.path().join("settings.json").exists());

    // Model import: only loadable GGUF files.
    let fake = server.lib.path().join("fake.gguf");
    std::fs::write(&fake, b"GGUF not really").unwrap();
    let (status, code, message) = server
        .json("POST", "/api/models/import", &json!({"path": fake}))
        .error();
    assert_eq!(
        (status, code.as_str()),
        (400, "invalid_argument"),
        "{message}"
    );
    let (status, _, message) = server
        .json(
            "POST",
            "/api/models/import",
            &json!({"path": "/etc/passwd"}),
        )
        .error();
    assert_eq!(status, 400, "{message}");
    assert!(message.contains(".gguf"), "{message}");
    let (status, _, _) = server
        .json(
            "POST",
            "/api/tokenize",
            &json!({"text": "z".repeat(40_000)}),
        )
        .error();
    assert_eq!(status, 400);
}

#[test]
fn library_documents_endpoints() {
    let ui = ui_dir();
    let server = Server::start(ui.path());
    assert_eq!(server.get("/api/library").json(), json!([]));
    ingest_facts(&server);
    let docs = server.get("/api/library").json();
    let docs = docs.as_array().unwrap();
    assert_eq!(docs.len(), 8);
    assert!(docs
        .iter()
        .all(|d| d["status"] == "indexed" && d["chunks"].as_u64().unwrap() > 0));
    let bridge = facts().join("zorvath-bridge.md");
    let bridge_str = bridge.to_str().unwrap();

    // Adding the same folder again: every file unchanged.
    let (_, events) = server.events("/api/library", &json!({"paths": [facts()]}));
    assert_eq!(
        event_names(&events)
            .iter()
            .filter(|n| *n == "unchanged")
            .count(),
        8
    );
    assert_eq!(events.last().unwrap()["unchanged"], 8);

    let doc = server.get(&format!(
        "/api/document?path={bridge_str}&line_start=3&line_end=4"
    ));
    assert_eq!(doc.status, 200, "{}", doc.text());
    let doc = doc.json();
    assert_eq!(doc["path"], bridge_str);
    assert_eq!(doc["line_start"], 3);
    assert_eq!(doc["line_end"], 4);
    assert_eq!(
        doc["text"].as_str().unwrap(),
        std::fs::read_to_string(&bridge).unwrap()
    );
    assert!(doc["title"].as_str().unwrap().contains("Zorvath"));

    let reindex = server.json("POST", "/api/library/reindex", &json!({"path": bridge_str}));
    assert_eq!(reindex.status, 200, "{}", reindex.text());
    assert_eq!(reindex.json()["indexed"], 1);

    let removed = server.delete(&format!("/api/library?path={bridge_str}"));
    assert_eq!(removed.status, 204, "{}", removed.text());
    assert_eq!(
        server.get("/api/library").json().as_array().unwrap().len(),
        7
    );
    assert_eq!(
        server
            .delete(&format!("/api/library?path={bridge_str}"))
            .error()
            .0,
        404
    );
    assert_eq!(
        server
            .get(&format!(
                "/api/document?path={bridge_str}&line_start=1&line_end=1"
            ))
            .error()
            .0,
        404,
        "a removed document is no longer readable"
    );

    // A file that fails is listed as failed with its error; the rest go on.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.md"), "# Good\n\nThe quokka smiles.\n").unwrap();
    // Binary under a text extension (no byte-order mark: FF FE would make it UTF-16 text).
    std::fs::write(
        dir.path().join("bad.txt"),
        [0x00u8, 0x01, 0x02, 0x00, 0x9c, 0x00, 0x00, 0x07],
    )
    .unwrap();
    std::fs::write(dir.path().join("image.png"), [0x89u8, b'P', b'N', b'G']).unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    let (_, events) = server.events("/api/library", &json!({"paths": [dir_path]}));
    let names = event_names(&events);
    assert_eq!(names.first().unwrap(), "planned");
    assert_eq!(
        events[0]["skipped"].as_array().unwrap().len(),
        1,
        "{events:?}"
    );
    assert!(names.contains(&"failed".to_owned()) && names.contains(&"indexed".to_owned()));
    assert_eq!(events.last().unwrap()["failed"], 1);
    let docs = server.get("/api/library").json();
    let bad = docs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"].as_str().unwrap().ends_with("bad.txt"))
        .expect("the failed file is listed");
    assert_eq!(bad["status"], "failed");
    assert!(bad["error"].as_str().unwrap().contains("bad.txt"));
}

#[test]
fn ask_streams_stores_and_manages_conversations() {
    let ui = ui_dir();
    let server = Server::start(ui.path());
    ingest_facts(&server);
    set(&server, json!({"max_answer_tokens": 48}));

    let (response, events) = server.events("/api/ask", &json!({"conversation_id": null, "text": "Who designed the Zorvath Bridge?", "options": {}}));
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(response
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    let (started, text, done) = check_answer_stream(&events);
    assert_eq!(done["event"], "done", "{done}");
    assert!(!text.is_empty());
    let retrieval = &events[1]["retrieval"];
    assert_eq!(retrieval["used"], true);
    let first = &retrieval["passages"][0];
    assert!(
        first["path"]
            .as_str()
            .unwrap()
            .ends_with("/zorvath-bridge.md"),
        "{first}"
    );
    assert!(
        first["snippet_html"].as_str().unwrap().contains("<b>"),
        "snippet_html is HTML with marks: {first}"
    );
    assert!(
        !first["snippet"].as_str().unwrap().contains("<b>"),
        "snippet is plain text, as in ask --json: {first}"
    );
    assert_eq!(retrieval["min_similarity"], json!(0.2));
    // Where the passage is and where to open it, in the Passage itself (as in `ask --json`).
    let (a, b) = (&first["line_start"], &first["line_end"]);
    let lines = if a == b {
        format!("line {a}")
    } else {
        format!("lines {a}-{b}")
    };
    let heading = first["heading"].as_str().unwrap();
    assert!(!heading.is_empty(), "the History section: {first}");
    assert_eq!(first["location"], format!("{heading} ({lines})"), "{first}");
    assert_eq!(
        first["open"],
        format!("{}:{a}", first["path"].as_str().unwrap()),
        "{first}"
    );
    assert_eq!(
        first["url"],
        Value::Null,
        "a library passage has no URL: {first}"
    );
    for key in [
        "score",
        "bm25",
        "vector",
        "line_start",
        "line_end",
        "heading",
        "title",
        "text",
    ] {
        assert!(!first[key].is_null() || key == "bm25", "{key} in {first}");
    }
    check_timings(done);
    let id = started["conversation_id"].as_str().unwrap().to_owned();

    // Stored as streamed.
    let c = server.get(&format!("/api/conversations/{id}")).json();
    assert_eq!(c["id"], id.as_str());
    assert_eq!(c["title"], "Who designed the Zorvath Bridge?");
    let messages = c["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["id"], started["message_id"]);
    assert_eq!(messages[1]["text"].as_str().unwrap(), text);
    assert_eq!(messages[1]["stop_reason"], done["stop_reason"]);
    assert_eq!(messages[1]["cited"], done["cited"]);
    assert_eq!(messages[1]["timings"], done["timings"]);
    assert_eq!(messages[1]["retrieval"], *retrieval);
    assert!(messages[1].get("interrupted").is_none());

    // A follow-up in the same conversation, then regenerate it.
    let (_, events) = server.events(
        "/api/ask",
        &json!({"conversation_id": id, "text": "How long is it?"}),
    );
    let (started2, _, done2) = check_answer_stream(&events);
    assert_eq!(started2["conversation_id"], id.as_str());
    check_timings(done2);
    let (response, events) =
        server.events(&format!("/api/conversations/{id}/regenerate"), &json!({}));
    assert_eq!(response.status, 200, "{}", response.text());
    let (started3, text3, done3) = check_answer_stream(&events);
    check_timings(done3);
    assert_ne!(started3["message_id"], started2["message_id"]);
    let messages = server.get(&format!("/api/conversations/{id}")).json()["messages"].clone();
    let messages = messages.as_array().unwrap();
    assert_eq!(messages.len(), 4, "regenerate replaces the last answer");
    assert_eq!(messages[3]["id"], started3["message_id"]);
    assert_eq!(messages[3]["text"].as_str().unwrap(), text3);

    // List, search, rename, export, delete.
    let (_, events) = server.events("/api/ask", &json!({"text": "What is Drovana cheese?"}));
    let other = check_answer_stream(&events).0["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = server.get("/api/conversations").json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [other.as_str(), id.as_str()], "newest first");
    assert_eq!(list[1]["message_count"], 4);
    let has = |q: &str, id: &str| {
        let found = server.get(&format!("/api/conversations?q={q}")).json();
        found.as_array().unwrap().iter().any(|c| c["id"] == id)
    };
    assert!(has("zorvath", &id), "titles are searched");
    assert!(has("ZORVATH", &id), "case-insensitively");
    assert!(has("how%20long", &id), "message text is searched");
    assert!(has("drovana", &other) && !has("how%20long%20is%20it", &other));
    assert_eq!(
        server.get("/api/conversations?q=nothing-like-this").json(),
        json!([])
    );
    let renamed = server.json(
        "PATCH",
        &format!("/api/conversations/{id}"),
        &json!({"title": "  Bridge\nquestions "}),
    );
    assert_eq!(renamed.status, 200, "{}", renamed.text());
    assert_eq!(renamed.json()["title"], "Bridge questions");
    let (status, code, _) = server
        .json(
            "PATCH",
            &format!("/api/conversations/{id}"),
            &json!({"title": "x".repeat(201)}),
        )
        .error();
    assert_eq!((status, code.as_str()), (400, "invalid_argument"));
    let export = server.get(&format!("/api/conversations/{id}/export"));
    assert_eq!(export.status, 200);
    assert!(export
        .header("content-type")
        .unwrap()
        .starts_with("text/markdown"));
    let md = export.text();
    assert!(md.starts_with("# Bridge questions\n"), "{md}");
    assert!(
        md.contains("## Question\n\nWho designed the Zorvath Bridge?"),
        "{md}"
    );
    assert!(md.contains("## Answer"), "{md}");
    assert!(
        md.contains("1. ") && md.contains("zorvath-bridge.md`"),
        "{md}"
    );
    assert_eq!(
        server.delete(&format!("/api/conversations/{id}")).status,
        204
    );
    assert_eq!(
        server.get(&format!("/api/conversations/{id}")).error().0,
        404
    );
    assert_eq!(
        server
            .get("/api/conversations")
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn cancel_stops_the_answer_and_a_second_ask_is_busy() {
    let ui = ui_dir();
    let server = Server::start(ui.path());
    set(&server, json!({"max_answer_tokens": 400}));
    let origin = server.origin();
    let host = server.host();
    let body = json!({"text": "Write a very long story, at least ten paragraphs, about a lighthouse keeper."}).to_string();
    let mut stream = server.open(
        "POST",
        "/api/ask",
        &[
            ("Host", &host),
            ("Content-Type", "application/json"),
            ("Origin", &origin),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(stream.status, 200);
    let started = stream.next_event().unwrap();
    assert_eq!(started["event"], "started");
    let run = started["run_id"].as_str().unwrap().to_owned();
    let mut events = vec![started.clone()];
    // Wait for a few tokens.
    while events.iter().filter(|e| e["event"] == "token").count() < 3 {
        let e = stream.next_event().expect("tokens before the end");
        assert_ne!(
            e["event"], "done",
            "finished before it could be cancelled: {e}"
        );
        events.push(e);
    }
    // One answer at a time.
    let (status, code, message) = server
        .json("POST", "/api/ask", &json!({"text": "Another question"}))
        .error();
    assert_eq!((status, code.as_str()), (409, "busy"), "{message}");
    let cid = started["conversation_id"].as_str().unwrap();
    assert_eq!(
        server
            .json(
                "POST",
                &format!("/api/conversations/{cid}/regenerate"),
                &json!({})
            )
            .error()
            .1,
        "busy"
    );

    let cancel = server.json("POST", &format!("/api/runs/{run}/cancel"), &json!({}));
    assert_eq!(cancel.status, 204, "{}", cancel.text());
    while let Some(e) = stream.next_event() {
        events.push(e);
    }
    let (_, text, done) = check_answer_stream(&events);
    assert_eq!(done["event"], "done");
    assert_eq!(done["stop_reason"], "cancelled");
    assert!(done["timings"]["tokens"].as_u64().unwrap() < 400);
    let rest = stream.read_all();
    assert!(
        String::from_utf8_lossy(&rest).trim().is_empty(),
        "nothing after the terminal event"
    );

    let c = server.get(&format!("/api/conversations/{cid}")).json();
    let answer = &c["messages"][1];
    assert_eq!(answer["stop_reason"], "cancelled");
    assert_eq!(
        answer["text"].as_str().unwrap(),
        text,
        "what was generated is stored"
    );
    assert_eq!(answer["status"], "done");
    // The run is over: cancelling it again finds nothing; a new question is accepted.
    assert_eq!(
        server
            .json("POST", &format!("/api/runs/{run}/cancel"), &json!({}))
            .error()
            .0,
        404
    );
    set(&server, json!({"max_answer_tokens": 8}));
    let (response, events) = server.events("/api/ask", &json!({"text": "Hello"}));
    assert_eq!(response.status, 200);
    check_answer_stream(&events);
}

#[test]
fn models_settings_and_tokens() {
    let ui = ui_dir();
    let server = Server::start(ui.path());
    let models = server.get("/api/models").json();
    let name = models["chat"]["name"].as_str().unwrap().to_lowercase();
    assert!(name.contains("smollm2"), "{models}");
    assert_eq!(models["chat"]["context_length"], 2048);
    assert_eq!(models["embedding"]["dim"], 384);
    let available = models["available"].as_array().unwrap();
    assert!(available
        .iter()
        .any(|m| m["kind"] == "chat" && m["path"].as_str().unwrap().ends_with(".gguf")));
    assert!(available.iter().any(|m| m["kind"] == "embedding"));

    let settings = server.get("/api/settings").json();
    for key in [
        "context_length",
        "max_answer_tokens",
        "temperature",
        "top_p",
        "top_k",
        "repeat_penalty",
        "seed",
        "system_prompt",
        "sources",
        "min_similarity",
        "chat_model",
        "embedding_model",
    ] {
        assert!(settings.get(key).is_some(), "{key} in {settings}");
    }
    // The UI sends everything back with its changes.
    let mut changed = settings.clone();
    changed["temperature"] = json!(0.5);
    changed["top_k"] = json!(40);
    changed["system_prompt"] = json!("Answer briefly.");
    let stored = server.json("PUT", "/api/settings", &changed);
    assert_eq!(stored.status, 200, "{}", stored.text());
    assert_eq!(stored.json(), changed);
    assert_eq!(server.get("/api/settings").json(), changed);
    let on_disk: Value = serde_json::from_str(
        &std::fs::read_to_string(server.lib.path().join("settings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(on_disk["temperature"], 0.5);
    assert_eq!(on_disk["system_prompt"], "Answer briefly.");
    assert_eq!(on_disk["backend"], json!({"kind": "local"}));

    // A remote backend: its URL checked; the key is only ever the name of a variable.
    let bad = server.json(
        "PUT",
        "/api/settings",
        &json!({"backend": {"kind": "openai", "base_url": "ftp://gpu-box/v1"}}),
    );
    assert_eq!(bad.error().0, 400, "{}", bad.text());
    assert!(bad.text().contains("backend.base_url"), "{}", bad.text());
    let bad = server.json(
        "PUT",
        "/api/settings",
        &json!({"backend": {"kind": "openai", "base_url": "http://gpu-box:8000/v1", "api_key": "sk-1"}}),
    );
    assert_eq!(bad.error().0, 400, "a key is not a setting: {}", bad.text());
    assert_eq!(
        bad.json()["field"],
        "backend.api_key",
        "the refusal names its field for the form: {}",
        bad.text()
    );
    let bad = server.json(
        "PUT",
        "/api/settings",
        &json!({"backend": {"kind": "openai", "base_url": "http://gpu-box:8000/v1", "context_length": 100}}),
    );
    assert_eq!(
        bad.json()["field"],
        "backend.context_length",
        "{}",
        bad.text()
    );
    let remote = json!({"kind": "openai", "base_url": "http://gpu-box:8000/v1", "model": "llama-3-8b",
        "context_length": 8192, "api_key_from": "env", "api_key_env": "ALMANAC_TEST_UNSET_KEY",
        "timeout_s": 120});
    let stored = server.json("PUT", "/api/settings", &json!({"backend": remote}));
    assert_eq!(stored.status, 200, "{}", stored.text());
    assert_eq!(stored.json()["backend"], remote);
    // The answering model is the endpoint's, and where its key comes from is said (not the key).
    let models = server.get("/api/models").json();
    assert_eq!(
        models["chat"],
        json!({"backend": "openai", "path": "http://gpu-box:8000/v1", "name": "llama-3-8b",
            "context_length": 8192, "trained_context_length": null}),
        "{models}"
    );
    assert_eq!(
        models["backend"],
        json!({"kind": "openai", "base_url": "http://gpu-box:8000/v1", "model": "llama-3-8b",
            "context_length": 8192, "timeout_s": 120,
            "key": {"source": "env", "env": "ALMANAC_TEST_UNSET_KEY", "present": false}}),
        "{models}"
    );
    let listed = server.get("/v1/models").json();
    assert_eq!(listed["data"][0]["id"], "llama-3-8b", "{listed}");
    assert_eq!(
        listed["data"][0]["almanac"],
        json!({"kind": "chat", "context_length": 8192,
            "backend": {"kind": "openai", "base_url": "http://gpu-box:8000/v1"}}),
        "{listed}"
    );
    // A key goes into the keyring only for an endpoint that reads it from there.
    let refused = server.json("PUT", "/api/backend/key", &json!({"key": "sk-1"}));
    assert_eq!(refused.error().0, 400, "{}", refused.text());
    assert_eq!(refused.json()["field"], "backend.api_key_from");
    set(&server, json!({"backend": {"kind": "local"}}));
    let models = server.get("/api/models").json();
    assert_eq!(models["backend"], json!({"kind": "local"}));
    assert_eq!(models["chat"]["backend"], "local");
    let listed = server.get("/v1/models").json();
    assert_eq!(
        listed["data"][0]["almanac"]["backend"],
        json!({"kind": "local"})
    );

    let tokens = server.json("POST", "/api/tokenize", &json!({"text": "계획이 있다"}));
    assert_eq!(tokens.status, 200, "{}", tokens.text());
    let tokens = tokens.json()["tokens"].as_array().unwrap().clone();
    assert!(tokens.len() > 3, "{tokens:?}");
    let bytes: Vec<u8> = tokens
        .iter()
        .flat_map(|t| {
            t["bytes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_u64().unwrap() as u8)
        })
        .collect();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "계획이 있다",
        "the bytes add up to the text"
    );
    assert!(tokens
        .iter()
        .all(|t| t["id"].is_u64() && t["piece"].is_string() && t["text"].is_string()));
    assert!(
        tokens
            .iter()
            .any(|t| t["text"].as_str().unwrap().contains('\u{fffd}')),
        "partial characters show as U+FFFD"
    );
    let hello = server
        .json("POST", "/api/tokenize", &json!({"text": " Almanac"}))
        .json();
    assert_eq!(
        hello["tokens"][0]["piece"].as_str().unwrap().chars().next(),
        Some('Ġ')
    );

    // Importing a real GGUF (a copy elsewhere on disk) makes it available and choosable.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy-of-smollm2.gguf");
    let original = Path::new(models["chat"]["path"].as_str().unwrap());
    std::fs::copy(original, &copy).unwrap();
    let imported = server.json("POST", "/api/models/import", &json!({"path": copy}));
    assert_eq!(imported.status, 200, "{}", imported.text());
    let models = server.get("/api/models").json();
    assert!(models["available"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["path"] == copy.to_str().unwrap()));
    let mut choose = server.get("/api/settings").json();
    choose["chat_model"] = json!(copy);
    assert_eq!(server.json("PUT", "/api/settings", &choose).status, 200);
    assert_eq!(
        server.get("/api/models").json()["chat"]["path"],
        copy.to_str().unwrap()
    );
}

#[test]
fn evaluation_starts_shows_progress_and_lists_its_report() {
    let ui = ui_dir();
    let server = Server::start(ui.path());
    assert_eq!(server.get("/api/eval/status").json()["state"], "idle");
    assert_eq!(server.get("/api/eval/reports").json(), json!([]));
    let refused = server.json(
        "POST",
        "/api/eval/start",
        &json!({"kind": "mcq", "data": "relative"}),
    );
    let (status, code, _) = refused.error();
    assert_eq!((status, code.as_str()), (400, "invalid_argument"));
    assert_eq!(refused.json()["field"], "data");
    assert_eq!(
        server.get("/api/eval/reports/..%2Fx").error().1,
        "invalid_argument"
    );

    // The tiny MMLU-layout fixture of crates/eval: three questions, two examples each.
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../eval/tests/fixtures/mmlu")
        .canonicalize()
        .unwrap();
    let started = server.json(
        "POST",
        "/api/eval/start",
        &json!({"kind": "mcq", "data": data, "format": "mmlu", "shots": 2}),
    );
    assert_eq!(started.status, 200, "{}", started.text());
    assert_eq!(started.json()["state"], "running");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        let status = server.get("/api/eval/status").json();
        if status["state"] != "running" {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "{status}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(status["state"], "finished", "{status}");
    assert_eq!(status["kind"], "mcq");
    assert_eq!(status["progress"]["done"], 3);
    assert_eq!(status["progress"]["total"], 3);
    let name = status["report"].as_str().unwrap();
    let list = server.get("/api/eval/reports").json();
    assert_eq!(list[0]["name"], name, "{list}");
    assert_eq!(list[0]["kind"], "mcq");
    let view = server.get(&format!("/api/eval/reports/{name}")).json();
    assert_eq!(view["report"]["questions"], 3);
    assert_eq!(view["report"]["kind"], "mcq");
    assert!(view["svg"].as_str().unwrap().starts_with("<svg"));
    assert!(view["markdown"]
        .as_str()
        .unwrap()
        .contains("| world_capitals |"));
    assert_eq!(
        server.json("POST", "/api/eval/stop", &json!({})).json()["state"],
        "finished"
    );
}

#[test]
fn a_refused_library_or_missing_model_is_a_clear_error() {
    // Without a chat model, a question still gets its stream: started, then an error event.
    let lib = Library::new();
    lib.write_settings(&json!({"chat_model": "missing-model.gguf"}));
    let ui = ui_dir();
    let server = Server::start_with(lib, ui.path());
    let (response, events) = server.events("/api/ask", &json!({"text": "Hello?"}));
    assert_eq!(response.status, 200);
    let names = event_names(&events);
    assert_eq!(names.first().unwrap(), "started");
    assert_eq!(names.last().unwrap(), "error", "{events:?}");
    assert_eq!(
        names
            .iter()
            .filter(|n| *n == "error" || *n == "done")
            .count(),
        1
    );
    assert_eq!(events.last().unwrap()["code"], "model_missing");
    let cid = events[0]["conversation_id"].as_str().unwrap();
    let c = server.get(&format!("/api/conversations/{cid}")).json();
    assert_eq!(c["messages"][1]["status"], "error");
    assert_eq!(c["messages"][1]["error"]["code"], "model_missing");
}

/// Waits (generously: this is not a timing test) until `found` finds something in the library.
fn poll_library(server: &Server, what: &str, found: impl Fn(&[Value]) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    loop {
        let docs = server.get("/api/library").json();
        if found(docs.as_array().unwrap()) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} never showed; the library: {docs}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

fn doc<'a>(docs: &'a [Value], path: &Path) -> Option<&'a Value> {
    docs.iter().find(|d| d["path"] == path.to_str().unwrap())
}

/// Waits for the changes stream to report `event` for `path` (other events are passed over).
fn wait_for_change(changes: &std::sync::mpsc::Receiver<Value>, event: &str, path: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match changes.recv_timeout(left) {
            Ok(e) if e["event"] == event && e["path"] == path.to_str().unwrap() => return,
            Ok(e) => seen.push(e),
            Err(_) => break,
        }
    }
    panic!("no {event} event for {}; seen: {seen:?}", path.display());
}

/// The paths of the passages retrieved for a question (one token of answer).
fn source_paths(server: &Server, question: &str) -> Vec<String> {
    let (_, events) = server.events(
        "/api/ask",
        &json!({"conversation_id": null, "text": question, "options": {}}),
    );
    let sources = events.iter().find(|e| e["event"] == "sources").unwrap();
    sources["retrieval"]["passages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap().to_owned())
        .collect()
}

/// The folders the library remembers are followed while the server runs: a file created, changed
/// or deleted there shows in the library, in the changes stream and in retrieval, without being
/// added again.
#[test]
fn follows_remembered_folders_while_running() {
    let ui = ui_dir();
    let server = Server::start(ui.path());
    set(&server, json!({"max_answer_tokens": 1}));
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().canonicalize().unwrap();
    let harbour = dir.join("harbour.md");
    std::fs::write(
        &harbour,
        "# Harbour\n\nThe harbour master keeps a blue ledger.\n",
    )
    .unwrap();

    let host = server.host();
    let mut stream = server.open("GET", "/api/library/changes", &[("Host", &host)], None);
    assert_eq!(stream.status, 200);
    assert_eq!(
        stream.next_event(),
        Some(json!({"event": "watching", "active": true}))
    );
    let (tx, changes) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        while let Some(e) = stream.next_event() {
            if tx.send(e).is_err() {
                break;
            }
        }
    });

    let (_, events) = server.events("/api/library", &json!({"paths": [dir]}));
    assert_eq!(events.last().unwrap()["indexed"], 1, "{events:?}");
    // The watcher takes up the newly remembered folder on its own.
    wait_for_change(&changes, "following", &dir);

    // Created.
    let lantern = dir.join("lantern.md");
    std::fs::write(
        &lantern,
        "# Lantern\n\nThe Orlimbic lantern was forged by the smith Tavaro Nesk in 1872.\n",
    )
    .unwrap();
    poll_library(&server, "the new file", |docs| {
        doc(docs, &lantern).is_some_and(|d| d["status"] == "indexed")
    });
    wait_for_change(&changes, "indexed", &lantern);
    let found = source_paths(&server, "Who forged the Orlimbic lantern?");
    assert_eq!(
        found.first(),
        Some(&lantern.to_str().unwrap().to_owned()),
        "{found:?}"
    );

    // Changed: the note grows into several chunks, one of them holding a new fact.
    let before = server.get("/api/library").json();
    let chunks = |docs: &[Value]| doc(docs, &harbour).map(|d| d["chunks"].as_u64().unwrap());
    assert_eq!(chunks(before.as_array().unwrap()), Some(1), "{before}");
    let mut grown = String::from("# Harbour\n\nThe harbour master keeps a blue ledger.\n");
    for i in 1..=6 {
        grown.push_str(&format!("\n## Year {i}\n\n"));
        for j in 0..12 {
            grown.push_str(&format!("In month {j} of year {i} the tides were logged and the nets were mended on the quay. "));
        }
        grown.push('\n');
    }
    grown.push_str("\n## Arrivals\n\nThe ledger records the schooner Quenwick Vale arriving from the north in 1903.\n");
    std::fs::write(&harbour, grown).unwrap();
    poll_library(&server, "the changed file", |docs| {
        chunks(docs).is_some_and(|n| n > 1)
    });
    let found = source_paths(&server, "When did the schooner Quenwick Vale arrive?");
    assert_eq!(
        found.first(),
        Some(&harbour.to_str().unwrap().to_owned()),
        "{found:?}"
    );

    // Deleted.
    std::fs::remove_file(&lantern).unwrap();
    poll_library(&server, "the removal", |docs| doc(docs, &lantern).is_none());
    wait_for_change(&changes, "removed", &lantern);
    let found = source_paths(&server, "Who forged the Orlimbic lantern?");
    assert!(
        !found.contains(&lantern.to_str().unwrap().to_owned()),
        "{found:?}"
    );
}

// --- the OpenAI-compatible API, driven by OpenAI's own Python client ------------------------------

/// The python of the venv holding OpenAI's client (scripts/reference/setup-openai.sh makes it
/// when missing; tests fail, never skip, without it).
fn openai_python() -> &'static Path {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let out = std::process::Command::new(root.join("scripts/reference/setup-openai.sh"))
            .output()
            .expect("scripts/reference/setup-openai.sh runs");
        assert!(
            out.status.success(),
            "setup-openai.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

/// Runs a scenario of tests/openai/client.py against the server; returns what the client saw.
fn openai_client(server: &Server, scenario: &str, args: &[&str]) -> Value {
    let script = fixtures().join("../openai/client.py");
    let out = std::process::Command::new(openai_python())
        .arg(script)
        .arg(format!("{}/v1", server.origin()))
        .arg(scenario)
        .args(args)
        .output()
        .expect("the OpenAI client runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client.py {scenario} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("client.py printed {stdout:?}: {e}"))
}

/// The chat model's and the embedder's ids, from `GET /v1/models`.
fn model_ids(server: &Server) -> (String, String) {
    let models = openai_client(server, "models", &[]);
    let ids: Vec<&str> = models
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["SmolLM2-135M-Instruct.Q4_1", "all-MiniLM-L6-v2"],
        "{models}"
    );
    (ids[0].to_owned(), ids[1].to_owned())
}

/// `{"error": {message, type, code, param}}`: the shape every OpenAI refusal has.
fn openai_error<'a>(case: &str, seen: &'a Value, status: u64, code: &str) -> &'a Value {
    assert_eq!(seen["status"], status, "{case}: {seen}");
    let error = &seen["body"];
    // OpenAI's client hands over the `error` object itself as the body.
    let error = if error.get("error").is_some() {
        &error["error"]
    } else {
        error
    };
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        !message.is_empty() && !message.contains('\n'),
        "{case}: {seen}"
    );
    assert!(error["type"].is_string(), "{case}: {seen}");
    assert_eq!(error["code"], code, "{case}: {seen}");
    assert!(error.get("param").is_some(), "{case}: {seen}");
    error
}

fn ends_with(passage: &Value, file: &str) -> bool {
    passage["path"]
        .as_str()
        .is_some_and(|p| p.ends_with(&format!("/{file}")))
}

#[test]
fn openai_client_gets_cited_answers_with_sources() {
    let ui = ui_dir();
    let server = Server::start(ui.path());
    ingest_facts(&server);
    let (chat, _) = model_ids(&server);
    let cheese = facts().join("drovana-cheese.md");
    let seen = openai_client(&server, "answers", &[&chat, cheese.to_str().unwrap()]);

    let whole = &seen["whole"];
    let text = whole["content"].as_str().unwrap();
    assert!(text.contains("Quorne"), "the made-up fact: {whole}");
    assert_eq!(whole["object"], "chat.completion");
    assert_eq!(whole["role"], "assistant");
    assert_eq!(whole["model"], chat.as_str());
    let extension = &whole["almanac"];
    assert_eq!(extension["retrieval"]["used"], true, "{whole}");
    let sources = extension["sources"].as_array().unwrap();
    assert!(ends_with(&sources[0], "zorvath-bridge.md"), "{whole}");
    assert_eq!(sources[0]["n"], 1);
    // `cited` lists exactly the [n] the text carries.
    let cited: Vec<u64> = extension["cited"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    for n in 1..=sources.len() as u64 {
        assert_eq!(
            cited.contains(&n),
            text.contains(&format!("[{n}]")),
            "[{n}] in {text:?} vs cited {cited:?}"
        );
    }
    // The evidence quotes the fact from source [1]; the sentence stating it is attributed to [1].
    assert_eq!(extension["evidence"][0]["n"], 1, "{whole}");
    assert!(
        extension["evidence"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Quorne"),
        "{whole}"
    );
    assert!(
        extension["attributed"]
            .as_array()
            .unwrap()
            .contains(&json!(1)),
        "{whole}"
    );
    let usage = &whole["usage"];
    let (prompt, completion) = (
        usage["prompt_tokens"].as_u64().unwrap(),
        usage["completion_tokens"].as_u64().unwrap(),
    );
    assert!(prompt > 50 && completion > 0 && completion <= 48, "{usage}");
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), prompt + completion);

    // Streamed: the same greedy answer in chunks, sources in the first, citations in the last.
    let streamed = &seen["streamed"];
    assert_eq!(streamed["objects"], json!(["chat.completion.chunk"]));
    assert_eq!(streamed["content"], whole["content"], "{streamed}");
    assert_eq!(streamed["finish_reason"], whole["finish_reason"]);
    assert_eq!(
        streamed["usage"], whole["usage"],
        "include_usage: {streamed}"
    );
    let extensions = streamed["almanac"].as_array().unwrap();
    assert!(
        ends_with(&extensions[0]["sources"][0], "zorvath-bridge.md"),
        "{streamed}"
    );
    assert_eq!(
        extensions.last().unwrap()["cited"],
        extension["cited"],
        "{streamed}"
    );
    assert_eq!(
        extensions[1]["evidence"], extension["evidence"],
        "{streamed}"
    );
    assert_eq!(
        extensions.last().unwrap()["attributed"],
        extension["attributed"],
        "{streamed}"
    );

    // Retrieval off: no sources, and it says why.
    let off = &seen["no_retrieval"]["almanac"];
    assert_eq!(off["sources"], json!([]), "{off}");
    assert_eq!(off["retrieval"]["used"], false);
    assert!(
        off["retrieval"]["reason"]
            .as_str()
            .unwrap()
            .contains("turned off"),
        "{off}"
    );
    assert_eq!(seen["no_retrieval"]["finish_reason"], "length");
    assert_eq!(seen["no_retrieval"]["usage"]["completion_tokens"], 8);

    // Sampling: one seed, one text; a stop string ends the answer before it.
    let seeded = seen["seeded"].as_array().unwrap();
    assert_eq!(seeded[0], seeded[1]);
    let stopped = &seen["stopped"];
    assert!(
        !stopped["content"].as_str().unwrap().contains("Quorne"),
        "{stopped}"
    );
    assert_eq!(
        stopped["almanac"]["stop_reason"], "stop_string",
        "{stopped}"
    );
    assert_eq!(stopped["finish_reason"], "stop");

    // Restricted to another document: the bridge's file is never a source.
    let scoped = seen["scoped_elsewhere"]["almanac"]["sources"]
        .as_array()
        .unwrap();
    assert!(
        scoped.iter().all(|p| ends_with(p, "drovana-cheese.md")),
        "{scoped:?}"
    );
}

#[test]
fn openai_embeddings_errors_queue_and_disconnect() {
    let ui = ui_dir();
    let server = Server::start_with_args(
        Library::new(),
        ui.path(),
        &["--queue-size", "1", "--queue-wait-secs", "1"],
    );
    let (chat, embedder) = model_ids(&server);

    // Embeddings: almanac's own embedder, unit vectors, base64 and float alike.
    let texts = [
        "Who designed the Zorvath Bridge?",
        "Drovana cheese is aged.",
    ];
    let seen = openai_client(&server, "embeddings", &[&embedder, texts[0], texts[1]]);
    assert_eq!(seen["model"], embedder.as_str());
    let own = almanac_engine::Embedder::load(&support::models_dir().join("all-MiniLM-L6-v2"))
        .unwrap()
        .embed(&texts)
        .unwrap();
    let vector = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let single = vector(&seen["single"]);
    let many: Vec<Vec<f64>> = seen["many"]
        .as_array()
        .unwrap()
        .iter()
        .map(vector)
        .collect();
    assert_eq!(seen["indexes"], json!([0, 1]));
    for (got, want) in [(&single, &own[0]), (&many[0], &own[0]), (&many[1], &own[1])] {
        assert_eq!(got.len(), 384);
        let norm = got.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
        let diff = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - *b as f64).abs())
            .fold(0.0, f64::max);
        assert!(
            diff < 1e-5,
            "differs from almanac's own embedding by {diff}"
        );
    }
    assert!(seen["usage"]["prompt_tokens"].as_u64().unwrap() > 5);

    // Every refusal in OpenAI's shape with OpenAI's status.
    let seen = openai_client(&server, "errors", &[&chat, &embedder]);
    openai_error(
        "unknown model",
        &seen["unknown_model"],
        404,
        "model_not_found",
    );
    openai_error(
        "embedder as chat model",
        &seen["embedder_as_chat_model"],
        404,
        "model_not_found",
    );
    openai_error(
        "unknown embedding model",
        &seen["unknown_embedding_model"],
        404,
        "model_not_found",
    );
    let e = openai_error(
        "too many messages",
        &seen["too_many_messages"],
        400,
        "too_many_messages",
    );
    assert_eq!(e["param"], "messages");
    let e = openai_error(
        "context window",
        &seen["context_window"],
        400,
        "context_length_exceeded",
    );
    assert!(e["message"].as_str().unwrap().contains("2048"), "{e}");
    for case in ["max_tokens_zero", "max_tokens_huge"] {
        let e = openai_error(case, &seen[case], 400, "invalid_value");
        assert_eq!(e["param"], "max_tokens", "{e}");
    }
    openai_error(
        "body over the limit",
        &seen["body_over_limit"],
        413,
        "request_too_large",
    );
    let malformed = server.send(
        "POST",
        "/v1/chat/completions",
        &[("Content-Type", "application/json")],
        Some(b"{\"model\": \"x\", \"messages\": ["),
    );
    let malformed = json!({"status": malformed.status, "body": malformed.json()});
    openai_error("malformed JSON", &malformed, 400, "invalid_json");

    // One generation at a time: with a long answer streaming, the next request waits its second
    // in line and is refused with 503 + Retry-After; the UI's question is refused as busy.
    let host = server.host();
    let long = json!({
        "model": chat, "stream": true, "max_tokens": 1500,
        "messages": [{"role": "user", "content": "Write a very long story, at least ten paragraphs, about a lighthouse keeper."}],
        "almanac": {"retrieval": false},
    })
    .to_string();
    let mut stream = server.open(
        "POST",
        "/v1/chat/completions",
        &[("Host", &host), ("Content-Type", "application/json")],
        Some(long.as_bytes()),
    );
    assert_eq!(stream.status, 200);
    assert!(stream
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    let first = stream.next_event().unwrap();
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["almanac"]["sources"], json!([]));
    let busy = server.send(
        "POST",
        "/v1/chat/completions",
        &[("Content-Type", "application/json")],
        Some(
            long.replace("\"stream\":true", "\"stream\":false")
                .as_bytes(),
        ),
    );
    assert_eq!(busy.header("retry-after"), Some("1"), "{}", busy.text());
    let busy = json!({"status": busy.status, "body": busy.json()});
    openai_error("queue", &busy, 503, "server_busy");
    let (status, code, _) = server
        .json("POST", "/api/ask", &json!({"text": "Another question"}))
        .error();
    assert_eq!((status, code.as_str()), (409, "busy"));
    drop(stream);
    wait_for_status(&server, |s| {
        s["completions"]["cancelled"] == 1 && s["queue"]["generating"] == false
    });

    // A client of OpenAI's library that leaves mid-stream stops its answer: the server counts it
    // as cancelled (the engine's stop reason), and the model is free again.
    let seen = openai_client(&server, "disconnect", &[&chat]);
    assert_eq!(seen["content_chunks"], 3);
    let status = wait_for_status(&server, |s| {
        s["completions"]["cancelled"] == 2 && s["queue"]["generating"] == false
    });
    assert_eq!(status["completions"]["refused"], 1, "{status}");

    // So does one that stops waiting for a whole (not streamed) answer.
    let seen = openai_client(&server, "abandon", &[&chat]);
    assert_eq!(seen["timed_out"], true);
    let status = wait_for_status(&server, |s| {
        s["completions"]["cancelled"] == 3 && s["queue"]["generating"] == false
    });
    assert_eq!(status["completions"]["finished"], 0, "{status}");
}

/// Polls `GET /v1/almanac/status` until `done` holds (30 s at most).
fn wait_for_status(server: &Server, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let status = server.get("/v1/almanac/status").json();
        if done(&status) {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server never got there: {status}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn openai_api_key_and_cors() {
    // Any bind but loopback needs a key: refused at start, in one line.
    let lib = Library::new();
    let out = lib.run(&["serve", "--host", "0.0.0.0", "--port", "0"]);
    assert!(!out.status.success());
    let errors = support::error_lines(&out);
    assert_eq!(errors.len(), 1, "{}", support::stderr(&out));
    assert!(errors[0].contains("--api-key"), "{errors:?}");

    let ui = ui_dir();
    let server = Server::start_with_args(
        lib,
        ui.path(),
        &[
            "--api-key",
            "s3cret-key",
            "--cors-origin",
            "http://editor.example:3000",
        ],
    );
    let seen = openai_client(&server, "auth", &["s3cret-key"]);
    openai_error("wrong key", &seen["wrong_key"], 401, "invalid_api_key");
    assert_eq!(seen["right_key"]["status"], 200, "{seen}");
    // The UI on this machine needs no key.
    assert_eq!(server.get("/api/settings").status, 200);

    // CORS: the named origin may call /v1 (preflight and the request); others, and /api, not.
    let preflight = |origin: &str, path: &str| {
        server.send(
            "OPTIONS",
            path,
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "authorization, content-type",
                ),
            ],
            None,
        )
    };
    let ok = preflight("http://editor.example:3000", "/v1/chat/completions");
    assert_eq!(ok.status, 204);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("http://editor.example:3000")
    );
    assert!(ok
        .header("access-control-allow-headers")
        .unwrap()
        .contains("authorization"));
    assert_eq!(
        preflight("http://evil.example:3000", "/v1/chat/completions").status,
        403
    );
    assert_eq!(
        preflight("http://editor.example:3000", "/api/ask").status,
        403
    );
    let models = server.send(
        "GET",
        "/v1/models",
        &[
            ("Origin", "http://editor.example:3000"),
            ("Authorization", "Bearer s3cret-key"),
        ],
        None,
    );
    assert_eq!(models.status, 200, "{}", models.text());
    assert_eq!(
        models.header("access-control-allow-origin"),
        Some("http://editor.example:3000")
    );
}

// --- a remote generation backend: llama.cpp's llama-server on loopback --------------------------

/// llama.cpp's llama-server (scripts/reference/setup-llama-server.sh installs the pinned build
/// when missing; tests fail, never skip, without it).
fn llama_server_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new(root.join("scripts/reference/setup-llama-server.sh"))
        .output()
        .expect("scripts/reference/setup-llama-server.sh runs");
    assert!(
        out.status.success(),
        "setup-llama-server.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running llama-server serving the default GGUF with an API key; killed when dropped.
struct LlamaServer(std::process::Child);

impl LlamaServer {
    fn start(key: &str) -> (LlamaServer, String) {
        LlamaServer::start_with(key, &[])
    }

    /// [`LlamaServer::start`] with more arguments to llama-server.
    fn start_with(key: &str, args: &[&str]) -> (LlamaServer, String) {
        let port = free_port();
        let model = support::models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
        let child = std::process::Command::new(llama_server_binary())
            .args(["-m", model.to_str().unwrap(), "--host", "127.0.0.1"])
            .args(["--port", &port.to_string(), "-c", "4096", "-np", "1"])
            .args(["--api-key", key])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("llama-server starts");
        let server = LlamaServer(child);
        // Ready once /health answers 200 (503 while the model loads).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            if health_status(port).as_deref() == Some("200") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "llama-server did not become ready"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        (server, format!("http://127.0.0.1:{port}/v1"))
    }
}

/// The status code of `GET /health`, if anything answers.
fn health_status(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    reply.split_whitespace().nth(1).map(str::to_owned)
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A failed `almanac ask` printed exactly one error line, naming the endpoint and `what`.
fn one_backend_error(out: &std::process::Output, url: &str, what: &str) {
    assert!(!out.status.success(), "{}", support::stdout(out));
    let lines = support::error_lines(out);
    assert_eq!(lines.len(), 1, "{}", support::stderr(out));
    assert!(
        lines[0].contains(&format!("{url}/chat/completions")) && lines[0].contains(what),
        "{what} in {lines:?}"
    );
    assert_eq!(
        support::stderr(out).trim().lines().count(),
        1,
        "{}",
        support::stderr(out)
    );
}

/// Each stored message of a conversation: role, status, text.
fn conversation_messages(lib: &support::Library, id: &str) -> Vec<(String, String, String)> {
    let store =
        almanac_core::ConversationStore::open(&lib.path().join("conversations.sqlite")).unwrap();
    let c = store.get(id.parse().unwrap()).unwrap();
    c.messages
        .iter()
        .map(|m| (m.role.clone(), format!("{:?}", m.status), m.text.clone()))
        .collect()
}

#[test]
fn remote_backend_answers_with_almanacs_sources_and_fails_clearly() {
    const KEY: &str = "remote-test-key";
    // Children (almanac ask, almanac serve) read the endpoint's key from here.
    std::env::set_var("ALMANAC_BACKEND_KEY", KEY);
    let (llama, url) = LlamaServer::start(KEY);
    let lib = support::Library::new();
    lib.ok(&["ingest", facts().to_str().unwrap()]);
    let question = "Who designed the Zorvath Bridge?";

    // `ask --json` through the endpoint: Almanac's sources, the endpoint's words.
    let text = lib.ok(&[
        "ask",
        "--json",
        "--max-tokens",
        "48",
        "--backend-url",
        &url,
        "--backend-model",
        "smollm",
        question,
    ]);
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert!(
        answer["sources"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("/zorvath-bridge.md"),
        "{answer}"
    );
    assert!(
        answer["answer"].as_str().unwrap().contains("Quorne"),
        "the made-up fact from the source, through llama-server: {answer}"
    );
    assert!(
        answer["timings"]["prompt_tokens"].as_u64().unwrap() > 100,
        "the sources were sent: {answer}"
    );
    assert!(
        answer["timings"]["tokens"].as_u64().unwrap() > 0,
        "{answer}"
    );
    let conversation = answer["conversation_id"].as_str().unwrap().to_owned();
    let before = conversation_messages(&lib, &conversation);
    assert_eq!(before.len(), 2);

    // A wrong key: the endpoint's 401, in one line.
    let out = lib
        .command(&[
            "ask",
            "--backend-url",
            &url,
            "--conversation",
            &conversation,
            question,
        ])
        .env("ALMANAC_BACKEND_KEY", "wrong")
        .output()
        .unwrap();
    one_backend_error(&out, &url, "HTTP 401");

    // The UI's API through the endpoint: sources first, then the streamed answer.
    let ui = ui_dir();
    {
        let server =
            Server::start_with_args(support::Library::new(), ui.path(), &["--backend-url", &url]);
        ingest_facts(&server);
        set(&server, json!({"max_answer_tokens": 48}));
        let (response, events) = server.events(
            "/api/ask",
            &json!({"conversation_id": null, "text": question, "options": {}}),
        );
        assert_eq!(response.status, 200, "{}", response.text());
        let (_, text, done) = check_answer_stream(&events);
        assert_eq!(done["event"], "done", "{done}");
        assert!(text.contains("Quorne"), "{text}");
        assert!(
            events.iter().filter(|e| e["event"] == "token").count() > 1,
            "streamed: {events:?}"
        );
        assert!(
            ends_with(&events[1]["retrieval"]["passages"][0], "zorvath-bridge.md"),
            "{}",
            events[1]
        );
        // Cancel reaches the endpoint's stream: the answer stops early and keeps what came.
        set(&server, json!({"max_answer_tokens": 400}));
        let (host, origin) = (server.host(), server.origin());
        let body = json!({"text": "Write a very long story, at least ten paragraphs, about a lighthouse keeper."}).to_string();
        let headers = [
            ("Host", host.as_str()),
            ("Content-Type", "application/json"),
            ("Origin", origin.as_str()),
        ];
        let mut stream = server.open("POST", "/api/ask", &headers, Some(body.as_bytes()));
        let started = stream.next_event().unwrap();
        let run = started["run_id"].as_str().unwrap().to_owned();
        let mut events = vec![started];
        while events.iter().filter(|e| e["event"] == "token").count() < 3 {
            let e = stream.next_event().expect("tokens before the end");
            assert_ne!(
                e["event"], "done",
                "finished before it could be cancelled: {e}"
            );
            events.push(e);
        }
        let cancel = server.json("POST", &format!("/api/runs/{run}/cancel"), &json!({}));
        assert_eq!(cancel.status, 204, "{}", cancel.text());
        while let Some(e) = stream.next_event() {
            events.push(e);
        }
        let (_, _, done) = check_answer_stream(&events);
        assert_eq!(done["stop_reason"], "cancelled", "{done}");
        assert!(done["timings"]["tokens"].as_u64().unwrap() < 400, "{done}");
    }

    // A listener that accepts and never answers: the configured timeout, in one line.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/v1", silent.local_addr().unwrap());
    lib.write_settings(
        &json!({"backend": {"kind": "openai", "base_url": silent_url, "timeout_s": 2}}),
    );
    let started = std::time::Instant::now();
    let out = lib.run(&["ask", "--conversation", &conversation, question]);
    one_backend_error(&out, &silent_url, "timed out");
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    drop(silent);

    // A stopped server: refused, in one line.
    drop(llama);
    let out = lib.run(&[
        "ask",
        "--backend-url",
        &url,
        "--conversation",
        &conversation,
        question,
    ]);
    one_backend_error(&out, &url, "refused");

    // The conversation kept its answered turn through every failure.
    let after = conversation_messages(&lib, &conversation);
    assert_eq!(after[..2], before[..], "{after:?}");
    assert_eq!(before[1].1, "Done", "{before:?}");
    // Each failed turn is stored as the question and an answer marked failed, nothing invented.
    assert_eq!(after.len(), 2 + 2 * 3, "{after:?}");
    for turn in after[2..].chunks(2) {
        assert_eq!(turn[0].2, question, "{after:?}");
        assert_eq!(turn[1].1, "Error", "{after:?}");
    }
}

// --- the endpoint's key in the OS keyring, and a template that refuses late system messages ----

/// A private D-Bus session with gnome-keyring's Secret Service, its keyring unlocked, in a scratch
/// home: the OS keyring of a desktop session, without touching the machine's own. Both daemons
/// are killed when dropped.
struct PrivateKeyring {
    bus: std::process::Child,
    keyring: std::process::Child,
    address: String,
    home: tempfile::TempDir,
}

impl PrivateKeyring {
    fn start() -> PrivateKeyring {
        use std::io::{BufRead, Write};
        use std::process::{Command, Stdio};
        let home = tempfile::tempdir().unwrap();
        let runtime = home.path().join("run");
        std::fs::create_dir(&runtime).unwrap();
        let mut bus = Command::new("dbus-daemon")
            .args(["--config-file=/usr/share/dbus-1/session.conf", "--nofork"])
            .arg("--print-address=1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon starts (scripts/install-system-packages.sh installs dbus)");
        let mut address = String::new();
        std::io::BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_owned();
        assert!(address.starts_with("unix:"), "bus address {address:?}");
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("HOME", home.path())
            .env("XDG_RUNTIME_DIR", &runtime)
            .env_remove("XDG_DATA_HOME")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon starts (scripts/install-system-packages.sh installs it)");
        // --unlock reads the login keyring's password from standard input, up to its end.
        let mut stdin = keyring.stdin.take().unwrap();
        stdin.write_all(b"test-login-password").unwrap();
        drop(stdin);
        let started = PrivateKeyring {
            bus,
            keyring,
            address,
            home,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !started.secrets_on_the_bus() {
            assert!(
                std::time::Instant::now() < deadline,
                "gnome-keyring took no name on the bus"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        started
    }

    fn secrets_on_the_bus(&self) -> bool {
        let out = std::process::Command::new("dbus-send")
            .args(["--session", "--print-reply", "--dest=org.freedesktop.DBus"])
            .args(["/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner"])
            .arg("string:org.freedesktop.secrets")
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output()
            .expect("dbus-send runs");
        String::from_utf8_lossy(&out.stdout).contains("boolean true")
    }

    /// The environment a program of this session has.
    fn env(&self) -> [(&str, &str); 1] {
        [("DBUS_SESSION_BUS_ADDRESS", self.address.as_str())]
    }

    /// Every byte the keyring keeps on disk.
    fn files_on_disk(&self) -> Vec<u8> {
        let dir = self.home.path().join(".local/share/keyrings");
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("the keyring is on disk") {
            bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        bytes
    }
}

impl Drop for PrivateKeyring {
    fn drop(&mut self) {
        for child in [&mut self.keyring, &mut self.bus] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A ChatML template (SmolLM2's own layout) that, like Mistral's and Llama 2's, raises an error
/// for a system message anywhere but first.
const TEMPLATE_REFUSING_LATE_SYSTEM: &str = r#"{%- for message in messages -%}
{%- if message['role'] == 'system' and not loop.first -%}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/... after an optional first system message') }}{%- endif -%}
{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}
"#;

/// Words that only the Zorvath Bridge source holds (not the question): its made-up designer, or
/// its header (`[1] The Zorvath Bridge — zorvath-bridge.md, … — date`), which the small model
/// copies when the sources come inside the question: its title followed by the header's dash, or
/// its file name.
fn from_the_source(text: &str) -> bool {
    text.contains("Quorne")
        || text.contains("zorvath-bridge.md")
        || text.contains("Zorvath Bridge — ")
}

#[test]
fn a_remote_backend_takes_its_key_from_the_os_keyring_and_its_sources_where_its_template_allows() {
    const KEY: &str = "keyring-test-key-7f3a";
    let keyring = PrivateKeyring::start();
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("refuses-late-system.jinja");
    std::fs::write(&template, TEMPLATE_REFUSING_LATE_SYSTEM).unwrap();
    let (_llama, url) = LlamaServer::start_with(
        KEY,
        &[
            "--jinja",
            "--chat-template-file",
            template.to_str().unwrap(),
        ],
    );
    let lib = Library::new();
    lib.write_settings(&json!({"backend": {"kind": "openai", "base_url": url,
        "model": "smollm-remote", "api_key_from": "keyring"}, "max_answer_tokens": 48}));

    // The command line stores the key (from standard input) and says whether there is one.
    let key_command = |args: &[&str], input: &str| {
        let mut cmd = lib.command(args);
        cmd.envs(keyring.env());
        support::output_with_stdin(cmd, input.as_bytes())
    };
    let out = key_command(&["backend-key", "status"], "");
    assert_eq!(
        support::stdout(&out).trim(),
        "none",
        "{}",
        support::stderr(&out)
    );
    let out = key_command(&["backend-key", "set"], "wrong-key\n");
    assert!(out.status.success(), "{}", support::stderr(&out));
    let out = key_command(&["backend-key", "status"], "");
    assert_eq!(
        support::stdout(&out).trim(),
        "stored",
        "{}",
        support::stderr(&out)
    );

    let ui = ui_dir();
    let server = Server::start_with_env(lib, ui.path(), &[], &keyring.env());
    ingest_facts(&server);
    let question = "Who designed the Zorvath Bridge?";

    // Both model lists name the endpoint's model, and which backend answers.
    let models = server.get("/api/models").json();
    assert_eq!(models["chat"]["name"], "smollm-remote", "{models}");
    assert_eq!(models["chat"]["path"], url.as_str(), "{models}");
    assert_eq!(
        models["backend"]["key"],
        json!({"source": "keyring", "present": true}),
        "{models}"
    );
    let listed = server.get("/v1/models").json();
    assert_eq!(listed["data"][0]["id"], "smollm-remote", "{listed}");
    assert_eq!(
        listed["data"][0]["almanac"]["backend"],
        json!({"kind": "openai", "base_url": url}),
        "{listed}"
    );

    // The wrong key from the keyring reaches the endpoint: its 401, one line naming it.
    let (response, events) = server.events(
        "/api/ask",
        &json!({"conversation_id": null, "text": question, "options": {}}),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let last = events.last().unwrap();
    assert_eq!(last["event"], "error", "{events:?}");
    let message = last["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{url}/chat/completions")) && message.contains("HTTP 401"),
        "{message}"
    );

    // The right key, stored through the UI's API, never into settings.json.
    let stored = server.json("PUT", "/api/backend/key", &json!({"key": KEY}));
    assert_eq!(stored.status, 200, "{}", stored.text());
    assert_eq!(
        stored.json()["key"],
        json!({"source": "keyring", "present": true})
    );
    let bad = server.json("PUT", "/api/backend/key", &json!({"key": "has space"}));
    assert_eq!(bad.json()["field"], "key", "{}", bad.text());

    // The template refuses the system message holding the sources: they come inside the
    // question instead, so the answer still cites the made-up fact from them.
    let (response, events) = server.events(
        "/api/ask",
        &json!({"conversation_id": null, "text": question, "options": {}}),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let (_, text, done) = check_answer_stream(&events);
    assert_eq!(done["event"], "done", "{events:?}");
    assert!(
        from_the_source(&text),
        "the answer uses the source it was sent: {text}"
    );
    assert!(
        done["timings"]["prompt_tokens"].as_u64().unwrap() > 100,
        "the sources were sent: {done}"
    );
    assert!(
        ends_with(&events[1]["retrieval"]["passages"][0], "zorvath-bridge.md"),
        "{}",
        events[1]
    );
    // And so through /v1, named by the endpoint's model.
    let completion = server.json(
        "POST",
        "/v1/chat/completions",
        &json!({"model": "smollm-remote", "max_tokens": 48,
            "messages": [{"role": "user", "content": question}]}),
    );
    assert_eq!(completion.status, 200, "{}", completion.text());
    let completion = completion.json();
    assert_eq!(completion["model"], "smollm-remote", "{completion}");
    assert!(
        from_the_source(
            completion["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
        ),
        "{completion}"
    );
    assert!(
        ends_with(&completion["almanac"]["sources"][0], "zorvath-bridge.md"),
        "{completion}"
    );
    let local_id = server.json(
        "POST",
        "/v1/chat/completions",
        &json!({"model": "SmolLM2-135M-Instruct.Q4_1",
            "messages": [{"role": "user", "content": question}]}),
    );
    assert_eq!(
        local_id.status,
        404,
        "only the answering model is served: {}",
        local_id.text()
    );

    let settings = std::fs::read_to_string(server.lib.path().join("settings.json")).unwrap();
    assert!(
        !settings.contains(KEY) && !settings.contains("wrong-key"),
        "{settings}"
    );
    let on_disk = keyring.files_on_disk();
    assert!(
        !on_disk.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
        "the keyring keeps the key encrypted"
    );

    // Removed: the next question says so in one line, before anything is sent.
    let removed = server.delete("/api/backend/key");
    assert_eq!(removed.status, 200, "{}", removed.text());
    assert_eq!(removed.json()["key"]["present"], false);
    let (_, events) = server.events(
        "/api/ask",
        &json!({"conversation_id": null, "text": question, "options": {}}),
    );
    let last = events.last().unwrap();
    assert_eq!(last["event"], "error", "{events:?}");
    assert_eq!(last["code"], "keyring", "{last}");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("no API key stored for this endpoint"),
        "{last}"
    );
}
