//! The conversation store on a real SQLite file: CRUD, search, export, durability settings,
//! migrations, and recovery of answers cut off by a crash.

use almanac_core::{ConversationStore, FinishedAnswer, MessageStatus, SCHEMA_VERSION};
use serde_json::json;

fn store_in(dir: &tempfile::TempDir) -> ConversationStore {
    ConversationStore::open(&dir.path().join("conversations.sqlite")).unwrap()
}

fn retrieval() -> serde_json::Value {
    json!({"used": true, "reason": null, "query": "q", "library_chunks": 3, "candidates": 2,
        "min_similarity": 0.2, "elapsed_ms": 1.5, "passages": [
        {"n": 1, "title": "Zorvath Bridge", "path": "/docs/zorvath-bridge.md", "heading": "History",
         "line_start": 3, "line_end": 4, "snippet": "<b>Zorvath</b>", "text": "t", "score": 0.03,
         "bm25": 1.0, "bm25_rank": 1, "vector": 0.8, "vector_rank": 1},
        {"n": 2, "title": "Garden", "path": "/docs/garden.md", "heading": "",
         "line_start": 7, "line_end": 7, "snippet": "", "text": "t", "score": 0.01,
         "bm25": null, "bm25_rank": null, "vector": 0.3, "vector_rank": 2}]})
}

fn evidence() -> serde_json::Value {
    json!([{"n": 1, "text": "It is 412 metres long.", "location": "Structure (line 9)", "line_start": 9, "line_end": 9}])
}

/// A finished question and answer in `conversation`.
fn turn(store: &ConversationStore, conversation: i64, question: &str, answer: &str) -> i64 {
    let ids = store.begin_turn(conversation, question).unwrap();
    store.save_retrieval(ids.answer, &retrieval()).unwrap();
    store.save_evidence(ids.answer, &evidence()).unwrap();
    store
        .finish_answer(
            conversation,
            ids.answer,
            &FinishedAnswer {
                text: answer,
                cited: &[1],
                attributed: &[1, 2],
                sentences: json!([{"text": answer, "sources": [1, 2], "score": 0.9, "supported": true}]),
                timings: json!({"tokens": 3, "total_ms": 10.0}),
                stop_reason: "end_of_turn",
            },
        )
        .unwrap();
    ids.answer
}

#[test]
fn create_list_search_rename_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    let a = store.create_conversation("Bridges").unwrap();
    turn(
        &store,
        a,
        "Who designed the Zorvath Bridge?",
        "Ilsa Marenko designed it [1].",
    );
    std::thread::sleep(std::time::Duration::from_millis(5));
    let b = store.create_conversation("Cheese").unwrap();
    turn(&store, b, "How long is Drovana aged?", "Nine months [1].");

    let list = store.list(None).unwrap();
    assert_eq!(
        list.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        [b.to_string(), a.to_string()]
    );
    assert_eq!(list[0].message_count, 2);
    assert!(list[0].updated_at >= list[0].created_at);

    // Activity moves a conversation to the top.
    std::thread::sleep(std::time::Duration::from_millis(5));
    turn(&store, a, "How long is it?", "412 metres.");
    assert_eq!(store.list(None).unwrap()[0].id, a.to_string());

    let ids = |q: &str| {
        store
            .list(Some(q))
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids("bridge"), [a.to_string()], "title, case-insensitive");
    assert_eq!(ids("NINE MONTHS"), [b.to_string()], "answer text");
    assert_eq!(ids("412"), [a.to_string()]);
    assert!(ids("nowhere").is_empty());
    assert_eq!(ids("%"), Vec::<String>::new(), "LIKE wildcards are literal");
    assert_eq!(ids("  ").len(), 2, "a blank query is no filter");

    let renamed = store.rename(a, "Bridge questions").unwrap();
    assert_eq!(renamed.title, "Bridge questions");
    assert_eq!(store.rename(999, "x").unwrap_err().code(), "not_found");

    let c = store.get(a).unwrap();
    assert_eq!(c.messages.len(), 4);
    assert_eq!(c.messages[1].cited.as_deref(), Some(&[1][..]));
    assert_eq!(c.messages[1].retrieval.as_ref().unwrap(), &retrieval());
    assert_eq!(c.messages[1].evidence.as_ref().unwrap(), &evidence());
    assert_eq!(c.messages[1].attributed.as_deref(), Some(&[1, 2][..]));
    assert_eq!(
        c.messages[1].sentences.as_ref().unwrap()[0]["supported"],
        true
    );
    assert_eq!(c.messages[1].stop_reason.as_deref(), Some("end_of_turn"));
    assert_eq!(c.messages[1].status, MessageStatus::Done);
    let history = store.history(a).unwrap();
    assert_eq!(history.len(), 4);
    assert_eq!(history[0].role, "user");
    assert_eq!(history[3].content, "412 metres.");

    store.delete(a).unwrap();
    assert_eq!(store.get(a).unwrap_err().code(), "not_found");
    assert!(
        store.messages(a).unwrap().is_empty(),
        "messages go with their conversation"
    );
    assert_eq!(store.delete(a).unwrap_err().code(), "not_found");
    assert_eq!(store.list(None).unwrap().len(), 1);
    // Ids are never reused.
    let c = store.create_conversation("New").unwrap();
    assert!(c > b);
}

#[test]
fn export_markdown_has_turns_and_numbered_sources() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    let a = store.create_conversation("Bridge questions").unwrap();
    turn(
        &store,
        a,
        "Who designed the Zorvath Bridge?",
        "Ilsa Marenko designed it [1].",
    );
    let failed = store.begin_turn(a, "And then?").unwrap();
    store
        .fail_answer(failed.answer, "Half", &almanac_core::Error::EmptyQuestion)
        .unwrap();
    let md = store.export_markdown(a).unwrap();
    assert!(md.starts_with("# Bridge questions\n"), "{md}");
    assert!(
        md.contains("## Question\n\nWho designed the Zorvath Bridge?\n"),
        "{md}"
    );
    assert!(
        md.contains("## Answer\n\nIlsa Marenko designed it [1].\n"),
        "{md}"
    );
    assert!(
        md.contains("1. Zorvath Bridge — `/docs/zorvath-bridge.md` — History — lines 3–4 (cited; attributed by Almanac)"),
        "{md}"
    );
    assert!(
        md.contains("Evidence:\n\n> [1] It is 412 metres long. (Structure (line 9))\n"),
        "{md}"
    );
    assert!(
        md.contains("2. Garden — `/docs/garden.md` — line 7 (attributed by Almanac)\n"),
        "{md}"
    );
    assert!(
        md.contains("Half\n\n_(failed: the question is empty)_"),
        "{md}"
    );
    assert_eq!(store.export_markdown(77).unwrap_err().code(), "not_found");
}

#[test]
fn survives_reopening_with_durable_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conversations.sqlite");
    let a;
    {
        let store = ConversationStore::open(&path).unwrap();
        a = store.create_conversation("Kept").unwrap();
        turn(&store, a, "Q?", "A.");
    }
    let store = ConversationStore::open(&path).unwrap();
    assert_eq!(store.recovered(), 0);
    let c = store.get(a).unwrap();
    assert_eq!(c.title, "Kept");
    assert_eq!(c.messages.len(), 2);
    assert_eq!(c.messages[1].text, "A.");
    drop(store);

    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version as usize, SCHEMA_VERSION);
    // The store's own connection sets synchronous = FULL and foreign keys; a second connection
    // shows the cascade is declared.
    let fk: i64 = conn
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_list('messages') WHERE \"table\" = 'conversations' AND on_delete = 'CASCADE'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
}

#[test]
fn an_answer_left_streaming_becomes_interrupted_with_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conversations.sqlite");
    let (a, ids);
    {
        let store = ConversationStore::open(&path).unwrap();
        a = store.create_conversation("Cut").unwrap();
        turn(&store, a, "First?", "Done.");
        ids = store.begin_turn(a, "Second?").unwrap();
        store.save_retrieval(ids.answer, &retrieval()).unwrap();
        store.save_partial(ids.answer, "Once upon a").unwrap();
        let c = store.get(a).unwrap();
        assert_eq!(c.messages[3].status, MessageStatus::Streaming);
        // Dropped without finishing: as after a crash.
    }
    let store = ConversationStore::open(&path).unwrap();
    assert_eq!(store.recovered(), 1);
    let c = store.get(a).unwrap();
    let cut = &c.messages[3];
    assert_eq!(cut.status, MessageStatus::Interrupted);
    assert!(cut.interrupted);
    assert_eq!(cut.text, "Once upon a");
    assert!(cut.retrieval.is_some());
    assert_eq!(serde_json::to_value(cut).unwrap()["interrupted"], true);
    assert_eq!(c.messages[1].status, MessageStatus::Done);
    // The interrupted answer is history for the next question.
    assert_eq!(store.history(a).unwrap().len(), 4);
    // A late partial write cannot revive it.
    store.save_partial(ids.answer, "changed").unwrap();
    assert_eq!(store.get(a).unwrap().messages[3].text, "Once upon a");
}

#[test]
fn regeneration_replaces_the_last_answer() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir);
    let a = store.create_conversation("R").unwrap();
    turn(&store, a, "One?", "1.");
    let old = turn(&store, a, "Two?", "2.");
    let (question, history, new) = store.begin_regeneration(a).unwrap();
    assert_eq!(question, "Two?");
    assert_eq!(history.len(), 2, "the turns before the question");
    assert_ne!(new, old);
    let c = store.get(a).unwrap();
    assert_eq!(c.messages.len(), 4);
    assert_eq!(c.messages[3].id, new.to_string());
    assert_eq!(c.messages[3].status, MessageStatus::Streaming);
    // While it streams it cannot be regenerated again.
    assert_eq!(store.begin_regeneration(a).unwrap_err().code(), "conflict");
    let empty = store.create_conversation("E").unwrap();
    assert_eq!(
        store.begin_regeneration(empty).unwrap_err().code(),
        "conflict"
    );
    assert_eq!(
        store.begin_regeneration(4242).unwrap_err().code(),
        "not_found"
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conversations.sqlite");
    drop(ConversationStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let e = ConversationStore::open(&path).err().unwrap();
    assert_eq!(e.code(), "storage");
    assert!(e.to_string().contains("newer"), "{e}");
}

#[test]
fn a_store_from_before_grounding_is_migrated_and_keeps_its_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conversations.sqlite");
    {
        // Schema version 1, as stores were written before evidence and attribution existed.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE conversations (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL,
                 created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
             CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT,
                 conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
                 role TEXT NOT NULL, text TEXT NOT NULL, created_at TEXT NOT NULL,
                 status TEXT NOT NULL DEFAULT 'done', retrieval TEXT, cited TEXT, timings TEXT,
                 stop_reason TEXT, error TEXT);
             INSERT INTO conversations VALUES (1, 'Old', 't', 't');
             INSERT INTO messages (conversation_id, role, text, created_at, cited)
                 VALUES (1, 'user', 'Q?', 't', NULL), (1, 'assistant', 'A.', 't', '[1]');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = ConversationStore::open(&path).unwrap();
    let c = store.get(1).unwrap();
    assert_eq!(c.messages[1].text, "A.");
    assert_eq!(c.messages[1].cited.as_deref(), Some(&[1][..]));
    assert!(c.messages[1].evidence.is_none() && c.messages[1].sentences.is_none());
    // New answers in the migrated store keep theirs.
    let answer = turn(&store, 1, "Again?", "B.");
    let c = store.get(1).unwrap();
    let stored = c
        .messages
        .iter()
        .find(|m| m.id == answer.to_string())
        .unwrap();
    assert_eq!(stored.evidence.as_ref().unwrap(), &evidence());
}
