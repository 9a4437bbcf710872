//! The service layer with the real models, a real library and a real conversation store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use almanac_core::{AnswerEvent, App, AskOptions, LibraryEvent, MessageStatus, Paths, RunEvent};
use serde_json::{json, Value};

fn models_dir() -> PathBuf {
    let dir = std::env::var_os("ALMANAC_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".local/share/almanac/models")
        });
    assert!(
        dir.join("SmolLM2-135M-Instruct.Q4_1.gguf").is_file(),
        "default models missing in {}: run scripts/install-models.sh",
        dir.display()
    );
    dir
}

fn open(dir: &tempfile::TempDir) -> App {
    App::open(Paths {
        data_dir: dir.path().to_path_buf(),
        models_dir: models_dir(),
    })
    .unwrap()
}

fn facts() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/facts")
        .canonicalize()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn collect_ask(app: &App, conversation: Option<&str>, text: &str) -> Vec<Value> {
    let mut events = Vec::new();
    app.ask(conversation, text, &AskOptions::default(), &mut |e| {
        events.push(serde_json::to_value(&e).unwrap())
    })
    .unwrap();
    events
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect()
}

#[test]
fn add_ask_follow_up_regenerate_and_store() {
    let dir = tempfile::tempdir().unwrap();
    let app = open(&dir);
    app.put_settings(&json!({"max_answer_tokens": 40})).unwrap();

    let mut events = Vec::new();
    let report = app
        .add_documents(&[facts()], &mut |e: LibraryEvent| {
            events.push(serde_json::to_value(&e).unwrap())
        })
        .unwrap()
        .expect("finished");
    assert_eq!(report.indexed, 8);
    let k = kinds(&events);
    assert_eq!(k[0], "planned");
    assert_eq!(*k.last().unwrap(), "finished");
    assert_eq!(k.iter().filter(|e| **e == "indexing").count(), 8);
    assert_eq!(events.last().unwrap()["indexed"], 8);
    let docs = app.list_documents().unwrap();
    assert_eq!(docs.len(), 8);
    assert!(docs.iter().all(|d| d.status == "indexed"));

    let events = collect_ask(&app, None, "Who designed the Zorvath Bridge?");
    let k = kinds(&events);
    assert_eq!(&k[..3], ["started", "sources", "evidence"]);
    assert_eq!(*k.last().unwrap(), "done");
    assert_eq!(
        k.iter().filter(|e| **e == "done" || **e == "error").count(),
        1
    );
    let cid = events[0]["conversation_id"].as_str().unwrap().to_owned();
    let passages = &events[1]["retrieval"]["passages"];
    assert!(passages[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("zorvath-bridge.md"));
    assert!(passages[0]["snippet_html"]
        .as_str()
        .unwrap()
        .contains("<b>"));
    assert!(!passages[0]["snippet"].as_str().unwrap().contains("<b>"));
    // Evidence: the designer's sentence, quoted from source [1] with its own line.
    let quote = &events[2]["evidence"][0];
    assert!(
        quote["text"].as_str().unwrap().contains("Ilsabet Quorne"),
        "{quote}"
    );
    assert_eq!(quote["n"], 1);
    assert_eq!(quote["line_start"], 7, "{quote}");
    let done = events.last().unwrap();
    assert!(
        done["attributed"].is_array() && done["sentences"].is_array(),
        "{done}"
    );
    assert!(
        done["timings"]["evidence_ms"].as_f64().unwrap() > 0.0,
        "{done}"
    );

    let follow = collect_ask(&app, Some(&cid), "When was it finished?");
    assert_eq!(follow[0]["conversation_id"], cid.as_str());
    // The follow-up's retrieval used the previous question (history from the store).
    assert!(follow[1]["retrieval"]["query"]
        .as_str()
        .unwrap()
        .contains("Zorvath"));

    let mut regen = Vec::new();
    let outcome = app
        .regenerate(&cid, &mut |e| regen.push(serde_json::to_value(&e).unwrap()))
        .unwrap();
    assert!(outcome.error.is_none());
    let c = app.get_conversation(&cid).unwrap();
    assert_eq!(c.messages.len(), 4);
    assert_eq!(c.messages[3].id, outcome.message_id);
    assert_eq!(c.messages[3].status, MessageStatus::Done);
    assert_eq!(
        c.messages[1].evidence.as_ref().unwrap(),
        &events[2]["evidence"]
    );
    assert!(c.messages[1].sentences.is_some());
    assert_eq!(c.title, "Who designed the Zorvath Bridge?");
    assert!(app
        .export_conversation(&cid)
        .unwrap()
        .contains("zorvath-bridge.md"));

    let out = dir.path().join("export.md");
    let md = app
        .export_conversation_to(&cid, out.to_str().unwrap())
        .unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), md);
    assert_eq!(
        app.export_conversation_to(&cid, "/tmp/x.sh")
            .unwrap_err()
            .code(),
        "invalid_argument"
    );
    assert_eq!(
        app.export_conversation_to(&cid, "relative.md")
            .unwrap_err()
            .code(),
        "invalid_argument"
    );
    drop(app);

    // Reopened: everything is there.
    let app = open(&dir);
    assert_eq!(app.get_conversation(&cid).unwrap().messages.len(), 4);
    assert_eq!(app.list_documents().unwrap().len(), 8);
}

#[test]
fn cancel_busy_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(open(&dir));
    app.put_settings(&json!({"max_answer_tokens": 400}))
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<RunEvent>();
    let runner = {
        let app = app.clone();
        std::thread::spawn(move || {
            app.ask(
                None,
                "Write a very long story about a lighthouse keeper and the sea.",
                &AskOptions::default(),
                &mut |e| {
                    let _ = tx.send(e);
                },
            )
            .unwrap()
        })
    };
    let mut run_id = None;
    let mut tokens = 0;
    while tokens < 3 {
        match rx.recv_timeout(Duration::from_secs(120)).expect("events") {
            RunEvent::Started { run_id: id, .. } => run_id = Some(id),
            RunEvent::Answer(AnswerEvent::Token { .. }) => tokens += 1,
            RunEvent::Answer(AnswerEvent::Done { .. }) | RunEvent::Error { .. } => {
                panic!("ended before it was cancelled")
            }
            RunEvent::Answer(_) => {}
        }
    }
    assert!(app.is_answering());
    let busy = app.ask(None, "Another?", &AskOptions::default(), &mut |_| {
        panic!("refused: nothing emitted")
    });
    assert_eq!(busy.unwrap_err().code(), "busy");
    app.cancel_run(run_id.as_deref().unwrap()).unwrap();
    let outcome = runner.join().unwrap();
    let answer = outcome.answer.expect("a cancelled answer is an answer");
    assert_eq!(
        serde_json::to_value(answer.stop_reason).unwrap(),
        "cancelled"
    );
    let rest: Vec<RunEvent> = rx.try_iter().collect();
    assert!(matches!(
        rest.last(),
        Some(RunEvent::Answer(AnswerEvent::Done { .. }))
    ));
    let stored = &app
        .get_conversation(&outcome.conversation_id)
        .unwrap()
        .messages[1];
    assert_eq!(stored.stop_reason.as_deref(), Some("cancelled"));
    assert_eq!(stored.text, answer.answer);
    assert!(!app.is_answering());
    assert_eq!(
        app.cancel_run(&outcome.run_id).unwrap_err().code(),
        "not_found"
    );

    // Refusals come before anything is emitted or stored.
    let never = &mut |_: RunEvent| panic!("nothing is emitted for a refused request");
    for (conversation, text, code) in [
        (None, "   ", "invalid_argument"),
        (Some("nope"), "hi", "invalid_argument"),
        (Some("999"), "hi", "not_found"),
    ] {
        let e = app
            .ask(conversation, text, &AskOptions::default(), never)
            .unwrap_err();
        assert_eq!(e.code(), code, "{e}");
    }
    let web = AskOptions { web: Some(true) };
    assert_eq!(
        app.ask(None, "hi", &web, never).unwrap_err().code(),
        "web_unavailable"
    );
    assert_eq!(app.list_conversations(None).unwrap().len(), 1);
}

#[test]
fn documents_settings_models_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let app = open(&dir);
    app.add_documents(&[facts()], &mut |_| {}).unwrap();
    let bridge = format!("{}/zorvath-bridge.md", facts());
    let doc = app.get_document(&bridge, 3, 4).unwrap();
    assert_eq!(doc.text, std::fs::read_to_string(&bridge).unwrap());
    assert_eq!((doc.line_start, doc.line_end), (3, 4));
    assert!(!doc.changed);
    // Never a file outside the library, whatever the caller names.
    for path in [
        "/etc/passwd".to_owned(),
        format!("{}/../Cargo.toml", env!("CARGO_MANIFEST_DIR")),
    ] {
        assert!(app.get_document(&path, 1, 1).is_err(), "{path}");
    }
    assert_eq!(
        app.get_document("/etc/passwd", 1, 1).unwrap_err().code(),
        "not_found"
    );
    assert_eq!(
        app.get_document(&bridge, 0, 1).unwrap_err().code(),
        "invalid_argument"
    );

    let report = app.reindex_document(&bridge).unwrap();
    assert_eq!(report.indexed, 1, "re-indexed even though unchanged");
    app.remove_document(&bridge).unwrap();
    assert_eq!(
        app.remove_document(&bridge).unwrap_err().code(),
        "not_found"
    );
    assert_eq!(app.list_documents().unwrap().len(), 7);

    let e = app.put_settings(&json!({"top_p": 1.5})).unwrap_err();
    assert!(e.to_string().starts_with("top_p: "), "{e}");
    let saved = app
        .put_settings(&json!({"sources": 2, "system_prompt": "Be brief."}))
        .unwrap();
    assert_eq!(saved.sources, 2);
    assert_eq!(app.settings().system_prompt.as_deref(), Some("Be brief."));
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("settings.json")).unwrap())
            .unwrap();
    assert_eq!(file["sources"], 2);

    let models = app.models().unwrap();
    let chat = models.chat.expect("the default chat model");
    assert_eq!(chat.context_length, 2048);
    assert_eq!(models.embedding.unwrap().dim, 384);
    assert!(models.available.iter().any(|m| m.kind == "chat"));

    let tokens = app.tokenize("Hello world").unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[1].piece, "Ġworld");
    assert_eq!(tokens[1].text, " world");
    assert_eq!(tokens[1].bytes, b" world");
    let korean = app.tokenize("계획이 있다").unwrap();
    let bytes: Vec<u8> = korean.iter().flat_map(|t| t.bytes.clone()).collect();
    assert_eq!(String::from_utf8(bytes).unwrap(), "계획이 있다");
    assert!(app.tokenize(&"a".repeat(40 * 1024)).is_err());
    assert!(app.tokenize("").unwrap().is_empty());
}
