//! Conversations survive the process: `almanac ask` stores each turn through the service layer,
//! and a `kill -9` in the middle of an answer keeps the finished turns and the partial answer,
//! marked interrupted when the store is next opened.

mod support;

use std::io::Read;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use almanac_core::{ConversationStore, MessageStatus};
use support::Library;

#[test]
fn kill_9_during_an_answer_keeps_finished_turns_and_marks_the_cut_one_interrupted() {
    let lib = Library::new();
    let facts = support::fixtures().join("facts");
    lib.ok(&["ingest", facts.to_str().unwrap()]);

    // A finished turn, stored as a new conversation.
    let first = lib.ask_json("Who designed the Zorvath Bridge?");
    let conversation = first["conversation_id"]
        .as_str()
        .expect("conversation_id")
        .to_owned();
    let first_answer = first["answer"].as_str().unwrap().to_owned();
    assert!(!first_answer.is_empty());

    // A long answer in the same conversation, killed while it streams.
    // Killed when dropped: an assertion failing before the kill below leaves nothing running.
    let mut child = support::Running(
        lib.command(&[
            "ask",
            "--conversation",
            &conversation,
            "--max-tokens",
            "400",
            "Write a long story, at least five paragraphs, about a dragon who learns to bake bread.",
        ])
        // The portable kernels, several times slower: on a quiet machine the fast ones finished
        // the story (the loop guard ends it early) before the kill below.
        .env("ALMANAC_CPU_ISA", "scalar")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("almanac runs"),
    );
    let printed = Arc::new(Mutex::new(Vec::<u8>::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let printed = printed.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                printed.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut streaming_since = None;
    loop {
        assert!(
            Instant::now() < deadline,
            "no answer streamed within two minutes"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "almanac finished before it could be killed: {}",
            String::from_utf8_lossy(&printed.lock().unwrap())
        );
        let len = printed.lock().unwrap().len();
        if len > 0 && streaming_since.is_none() {
            streaming_since = Some(Instant::now());
        }
        // Long enough for several periodic writes of the partial answer.
        if streaming_since.is_some_and(|t| t.elapsed() > Duration::from_millis(2500)) && len > 40 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success());
    reader.join().unwrap();
    let printed = String::from_utf8_lossy(&printed.lock().unwrap()).into_owned();

    let store = ConversationStore::open(&lib.path().join("conversations.sqlite")).unwrap();
    assert_eq!(store.recovered(), 1, "the cut-off answer is found at open");
    let c = store.get(conversation.parse().unwrap()).unwrap();
    let roles: Vec<&str> = c.messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);

    let (q1, a1, q2, a2) = (
        &c.messages[0],
        &c.messages[1],
        &c.messages[2],
        &c.messages[3],
    );
    assert_eq!(q1.text, "Who designed the Zorvath Bridge?");
    assert_eq!(a1.status, MessageStatus::Done);
    assert_eq!(a1.text, first_answer, "the finished answer is intact");
    assert!(!a1.interrupted);
    assert!(a1.stop_reason.is_some() && a1.timings.is_some());
    let passages = a1.retrieval.as_ref().unwrap()["passages"]
        .as_array()
        .unwrap();
    assert!(passages[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("zorvath-bridge.md"));

    assert!(q2.text.starts_with("Write a long story"));
    assert_eq!(a2.status, MessageStatus::Interrupted);
    assert!(a2.interrupted);
    assert!(a2.stop_reason.is_none(), "no done was stored");
    assert!(
        a2.text.len() >= 20,
        "most of the partial answer is kept (stored {:?}, printed {:?})",
        a2.text,
        printed
    );
    assert!(
        printed.trim_start().starts_with(a2.text.trim_start()),
        "the stored partial answer is what was streamed: stored {:?}, printed {:?}",
        a2.text,
        printed
    );
    let json = serde_json::to_value(a2).unwrap();
    assert_eq!(json["interrupted"], true);
    drop(store);

    // The conversation goes on after the crash, with the interrupted turn as history.
    let next = lib.ok(&[
        "ask",
        "--json",
        "--conversation",
        &conversation,
        "--max-tokens",
        "16",
        "Thanks!",
    ]);
    let next: serde_json::Value = serde_json::from_str(&next).unwrap();
    assert_eq!(next["conversation_id"], conversation.as_str());
    let store = ConversationStore::open(&lib.path().join("conversations.sqlite")).unwrap();
    assert_eq!(store.recovered(), 0);
    let c = store.get(conversation.parse().unwrap()).unwrap();
    assert_eq!(c.messages.len(), 6);
    assert_eq!(c.messages[3].status, MessageStatus::Interrupted);
    assert_eq!(c.messages[5].status, MessageStatus::Done);
}

#[test]
fn ask_stores_a_conversation_titled_after_the_question() {
    let lib = Library::new();
    let out = lib.ok(&[
        "ask",
        "--json",
        "--max-tokens",
        "8",
        "What is   the Drovana\ncheese?",
    ]);
    let out: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = out["conversation_id"].as_str().unwrap();
    let store = ConversationStore::open(&lib.path().join("conversations.sqlite")).unwrap();
    let list = store.list(None).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, id);
    assert_eq!(list[0].title, "What is the Drovana cheese?");
    assert_eq!(list[0].message_count, 2);
    drop(store);

    // A conversation that does not exist is refused, one line naming it.
    let bad = lib.run(&["ask", "--conversation", "999", "hello"]);
    assert!(!bad.status.success());
    let errors = support::error_lines(&bad);
    assert_eq!(
        errors,
        ["error: no conversation 999"],
        "{}",
        support::stderr(&bad)
    );
}
