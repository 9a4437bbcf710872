//! The first cited answer: made-up facts the model cannot know are ingested; for each question the file
//! holding the fact must be source [1] and the greedy answer must contain the fact.

mod support;

use support::{fixtures, Library};

#[test]
fn answers_made_up_facts_from_the_right_file() {
    let library = Library::new();
    let folder = fixtures().join("facts");
    library.ok(&["ingest", folder.to_str().unwrap()]);
    let cases: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("facts-questions.json")).unwrap(),
    )
    .unwrap();
    assert!(cases.len() >= 6);

    let mut failures = Vec::new();
    for case in &cases {
        let (file, question, expect) = (
            case["file"].as_str().unwrap(),
            case["question"].as_str().unwrap(),
            case["expect"].as_str().unwrap(),
        );
        let answer = library.ask_json(question);
        let first = answer["sources"][0]["path"].as_str().unwrap_or("");
        let text = answer["answer"].as_str().unwrap();
        assert_eq!(
            answer["retrieval"]["used"], true,
            "{question}: retrieval not used: {answer}"
        );
        if !first.ends_with(&format!("/{file}")) {
            failures.push(format!(
                "{question}: source [1] is {first}, expected {file}"
            ));
        }
        if !text.contains(expect) {
            failures.push(format!("{question}: answer {text:?} lacks {expect:?}"));
        }
        // The evidence quotes the fact whatever the model wrote.
        let quote = &answer["evidence"][0];
        if !quote["text"].as_str().unwrap_or("").contains(expect) || quote["n"] != 1 {
            failures.push(format!("{question}: top evidence {quote} lacks {expect:?}"));
        }
        assert!(answer["timings"]["ttft_ms"].as_f64().unwrap() > 0.0);
        assert!(answer["timings"]["tokens"].as_u64().unwrap() > 0);
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn ask_json_has_the_documented_shape() {
    let library = Library::new();
    library.ok(&[
        "ingest",
        fixtures().join("facts/drovana-cheese.md").to_str().unwrap(),
    ]);
    let answer = library.ask_json("How long is Drovana cheese aged?");
    for key in [
        "answer",
        "sources",
        "retrieval",
        "timings",
        "cited",
        "stop_reason",
        "evidence",
        "attributed",
        "sentences",
    ] {
        assert!(answer.get(key).is_some(), "missing {key}: {answer}");
    }
    let quote = &answer["evidence"][0];
    for key in ["n", "text", "location", "score", "line_start", "line_end"] {
        assert!(quote.get(key).is_some(), "evidence lacks {key}: {quote}");
    }
    assert!(
        quote["text"].as_str().unwrap().contains("19 months"),
        "{quote}"
    );
    assert!(
        quote["location"].as_str().unwrap().contains("line 5"),
        "{quote}"
    );
    let source = &answer["sources"][0];
    for key in ["n", "title", "path", "snippet", "score", "bm25", "vector"] {
        assert!(source.get(key).is_some(), "source lacks {key}: {source}");
    }
    assert_eq!(source["n"], 1);
    assert_eq!(source["title"], "Drovana cheese");
    for key in ["used", "candidates", "library_chunks"] {
        assert!(
            answer["retrieval"].get(key).is_some(),
            "retrieval lacks {key}"
        );
    }
    let timings = &answer["timings"];
    for key in ["retrieval_ms", "ttft_ms", "tokens_per_s", "total_ms"] {
        assert!(timings[key].as_f64().is_some(), "timings lack {key}");
    }
    let count = |key: &str| {
        timings[key]
            .as_u64()
            .unwrap_or_else(|| panic!("timings lack a whole {key}: {timings}"))
    };
    assert!(
        count("tokens") > 0 && count("prompt_tokens") > 0,
        "{timings}"
    );
    // The prompt tokens reused from the previous prompt are part of the prompt.
    assert!(
        count("cached_tokens") <= count("prompt_tokens"),
        "{timings}"
    );
}

#[test]
fn plain_ask_streams_the_answer_then_numbered_sources() {
    let library = Library::new();
    library.ok(&["ingest", fixtures().join("facts").to_str().unwrap()]);
    let out = library.ok(&[
        "ask",
        "Which research ship did Captain Meriel Varkel command?",
    ]);
    let sources_at = out
        .find("\nSources (")
        .unwrap_or_else(|| panic!("no sources section: {out}"));
    let evidence_at = out
        .find("\nEvidence (quoted from the sources):\n")
        .unwrap_or_else(|| panic!("no evidence section: {out}"));
    assert!(evidence_at < sources_at, "{out}");
    assert!(out[..evidence_at].contains("Tessaly Dawn"), "{out}");
    assert!(
        out[evidence_at..sources_at]
            .contains("[1] \"Captain Meriel Varkel commanded the research ship Tessaly Dawn.\""),
        "{out}"
    );
    let first = out[sources_at..].lines().nth(2).unwrap();
    assert!(
        first.starts_with("[1] Captain Meriel Varkel — ") && first.contains("captain-varkel.md"),
        "{first}"
    );
    assert!(out.contains("score "), "{out}");
}

#[test]
fn retrieval_reports_why_it_was_not_used() {
    let library = Library::new();
    let out = library.ok(&["ask", "--max-tokens", "8", "Hello!"]);
    assert!(
        out.contains("Retrieval: not used (the library is empty)"),
        "{out}"
    );

    library.ok(&[
        "ingest",
        fixtures().join("facts/garden-plan.md").to_str().unwrap(),
    ]);
    let answer = library
        .ask_json("What is the boiling point of liquid nitrogen on Neptune's moons in kelvin?");
    assert_eq!(answer["retrieval"]["used"], false, "{answer}");
    assert!(
        answer["retrieval"]["reason"]
            .as_str()
            .unwrap()
            .contains("threshold"),
        "{answer}"
    );
    assert_eq!(answer["sources"].as_array().unwrap().len(), 0);
}

#[test]
fn reingesting_unchanged_files_skips_them_and_changed_files_replace_their_passages() {
    let library = Library::new();
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("note.md");
    std::fs::write(
        &file,
        "# Note\n\nThe vault code of the Pemberly archive is 4417.\n",
    )
    .unwrap();
    library.ok(&["ingest", folder.path().to_str().unwrap()]);
    let again = library.run(&["ingest", folder.path().to_str().unwrap()]);
    assert!(
        support::stderr(&again).contains("indexed 0 files (0 chunks), 1 unchanged"),
        "{}",
        support::stderr(&again)
    );

    std::fs::write(
        &file,
        "# Note\n\nThe vault code of the Pemberly archive is now 9023.\n",
    )
    .unwrap();
    library.ok(&["ingest", folder.path().to_str().unwrap()]);
    let answer = library.ask_json("What is the vault code of the Pemberly archive?");
    let sources = answer["sources"].as_array().unwrap();
    assert_eq!(
        sources.len(),
        1,
        "the old version's passage must be gone: {answer}"
    );
    assert!(
        sources[0]["snippet"].as_str().unwrap().contains("9023")
            || answer["answer"].as_str().unwrap().contains("9023"),
        "{answer}"
    );
    assert_eq!(library.documents().len(), 1);
}

#[test]
fn chat_keeps_the_conversation_and_retrieves_for_follow_ups() {
    let library = Library::new();
    library.ok(&["ingest", fixtures().join("facts").to_str().unwrap()]);
    let out = support::output_with_stdin(
        library.command(&["chat", "--max-tokens", "48"]),
        b"Who designed the Zorvath Bridge?\nHow long is it?\n/quit\n",
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    let text = support::stdout(&out);
    let answers: Vec<&str> = text.split("almanac> ").skip(1).collect();
    assert_eq!(answers.len(), 2, "{text}");
    assert!(answers[0].contains("Quorne"), "{}", answers[0]);
    // The follow-up names no bridge: retrieval must still find the bridge's file through the conversation.
    assert!(answers[1].contains("zorvath-bridge.md"), "{}", answers[1]);
}

/// `almanac eval qa` on the first questions of the built-in "after the cutoff" set: the model cannot
/// know its made-up facts, retrieval finds the document holding each, and the report is written.
#[test]
fn eval_qa_answers_after_the_cutoff_only_with_retrieval() {
    let library = Library::new();
    let text = library.ok(&["eval", "qa", "--limit", "3", "--max-tokens", "48", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["kind"], "qa", "{report}");
    assert_eq!(report["questions"], 3);
    let (with, without) = (&report["with_retrieval"], &report["without_retrieval"]);
    assert_eq!(with["retrieval_hit_rate"], 1.0, "{report}");
    assert!(without["retrieval_hit_rate"].is_null());
    assert_eq!(
        without["contains_answer"], 0.0,
        "the model cannot know these: {report}"
    );
    assert!(
        with["contains_answer"].as_f64().unwrap() > 0.0,
        "with the documents it answers: {report}"
    );
    assert!(
        with["evidence_holds_answer"].as_f64().unwrap() >= 2.0 / 3.0,
        "{report}"
    );
    for key in ["exact_match", "f1", "citation_precision", "cited_questions"] {
        assert!(with.get(key).is_some(), "with_retrieval lacks {key}");
    }
    let reports = library.path().join("eval/reports");
    let names: Vec<String> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for ext in ["json", "md", "svg"] {
        assert!(
            names
                .iter()
                .any(|n| n.ends_with(&format!("-qa-after-cutoff.{ext}"))),
            "{names:?}"
        );
    }
    assert!(
        !library.path().join("library").exists(),
        "the user's library is never touched"
    );
}
