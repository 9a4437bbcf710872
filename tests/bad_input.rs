//! Bad input gets a one-line error naming the file or the limit, and nothing already indexed is lost.

mod support;

use std::path::Path;

use support::{error_lines, fixtures, stderr, Library};

/// A library with the facts indexed, and its document list, to compare after each failure.
fn indexed_library() -> (Library, Vec<String>) {
    let library = Library::new();
    library.ok(&["ingest", fixtures().join("facts").to_str().unwrap()]);
    let documents = library.documents();
    assert_eq!(documents.len(), 8);
    (library, documents)
}

/// Still all there and still searchable.
fn assert_library_intact(library: &Library, documents: &[String]) {
    assert_eq!(library.documents(), documents);
    let answer = library.sources_json("Who designed the Zorvath Bridge?");
    assert!(
        answer["sources"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("zorvath-bridge.md"),
        "{answer}"
    );
}

fn assert_one_error_line_mentioning(out: &std::process::Output, needles: &[&str]) {
    assert!(!out.status.success(), "should fail");
    let errors = error_lines(out);
    assert!(!errors.is_empty(), "no error line: {}", stderr(out));
    let line = &errors[0];
    for needle in needles {
        assert!(
            line.contains(needle),
            "error line {line:?} does not mention {needle:?}"
        );
    }
}

#[test]
fn missing_gguf_names_the_file() {
    let (library, documents) = indexed_library();
    library.write_settings(&serde_json::json!({"chat_model": "/nonexistent/model.gguf"}));
    let out = library.run(&["ask", "Who designed the Zorvath Bridge?"]);
    assert_one_error_line_mentioning(&out, &["/nonexistent/model.gguf", "not found"]);
    std::fs::remove_file(library.path().join("settings.json")).unwrap();
    assert_library_intact(&library, &documents);
}

#[test]
fn corrupt_gguf_names_the_file() {
    let (library, documents) = indexed_library();
    let bad = library.path().join("corrupt.gguf");
    std::fs::write(&bad, b"this is not a model at all, just some text").unwrap();
    library.write_settings(&serde_json::json!({"chat_model": bad}));
    let out = library.run(&["ask", "Who designed the Zorvath Bridge?"]);
    assert_one_error_line_mentioning(&out, &[bad.to_str().unwrap()]);

    // A real GGUF cut short: the header is fine, the tensor data is not all there.
    let real =
        std::fs::read(support::models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    std::fs::write(&bad, &real[..real.len() / 2]).unwrap();
    let out = library.run(&["ask", "Who designed the Zorvath Bridge?"]);
    assert_one_error_line_mentioning(&out, &[bad.to_str().unwrap(), "truncated"]);
    std::fs::remove_file(library.path().join("settings.json")).unwrap();
    assert_library_intact(&library, &documents);
}

#[test]
fn truncated_safetensors_names_the_file() {
    let (library, documents) = indexed_library();
    let broken = library.path().join("broken-embedder");
    std::fs::create_dir(&broken).unwrap();
    let source = support::models_dir().join("all-MiniLM-L6-v2");
    for name in ["config.json", "tokenizer.json"] {
        std::fs::copy(source.join(name), broken.join(name)).unwrap();
    }
    let weights = std::fs::read(source.join("model.safetensors")).unwrap();
    std::fs::write(
        broken.join("model.safetensors"),
        &weights[..weights.len() / 3],
    )
    .unwrap();
    library.write_settings(&serde_json::json!({"embedding_model": broken}));
    let out = library.run(&["ask", "Who designed the Zorvath Bridge?"]);
    assert_one_error_line_mentioning(&out, &["model.safetensors"]);
    std::fs::remove_file(library.path().join("settings.json")).unwrap();
    assert_library_intact(&library, &documents);
}

#[test]
fn empty_folder_is_an_error_naming_it() {
    let (library, documents) = indexed_library();
    let empty = tempfile::tempdir().unwrap();
    let out = library.run(&["ingest", empty.path().to_str().unwrap()]);
    assert_one_error_line_mentioning(
        &out,
        &[
            empty.path().to_str().unwrap(),
            "no .txt or .md or .html or .pdf",
        ],
    );
    assert_library_intact(&library, &documents);
}

#[test]
fn legacy_encoded_file_is_read_and_the_others_are_still_indexed() {
    let (library, documents) = indexed_library();
    let folder = tempfile::tempdir().unwrap();
    // Not UTF-8: windows-1252 (Latin-1) text, detected and decoded instead of refused.
    std::fs::write(
        folder.path().join("latin1.txt"),
        b"Caf\xe9 cr\xe8me: the Quillbrook caf\xe9 serves cr\xe8me br\xfbl\xe9e.",
    )
    .unwrap();
    std::fs::write(
        folder.path().join("good.txt"),
        "The Ostrander lighthouse keeper was Tobiah Wrenfield.\n",
    )
    .unwrap();
    library.ok(&["ingest", folder.path().to_str().unwrap()]);
    let mut expected = documents.clone();
    let listed = library.documents();
    assert_eq!(
        listed.len(),
        expected.len() + 2,
        "both files are indexed: {listed:?}"
    );
    expected.retain(|d| listed.contains(d));
    assert_eq!(expected, documents, "nothing indexed before was lost");
    let answer = library.sources_json("Quillbrook crème brûlée");
    let top = &answer["sources"][0];
    assert!(
        top["path"].as_str().unwrap().ends_with("latin1.txt"),
        "{answer}"
    );
    assert!(
        top["snippet"].as_str().unwrap().contains("crème brûlée"),
        "{answer}"
    );
    assert_library_intact_except_count(&library);
}

fn assert_library_intact_except_count(library: &Library) {
    let answer = library.sources_json("Who designed the Zorvath Bridge?");
    assert!(
        answer["sources"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("zorvath-bridge.md"),
        "{answer}"
    );
}

#[test]
fn binary_and_oversized_files_are_refused_by_name() {
    let (library, documents) = indexed_library();
    let folder = tempfile::tempdir().unwrap();
    let binary = folder.path().join("image.txt");
    std::fs::write(&binary, [0x89u8, b'P', b'N', b'G', 0, 0, 0, 13]).unwrap();
    let out = library.run(&["ingest", binary.to_str().unwrap()]);
    assert_one_error_line_mentioning(&out, &["image.txt", "binary"]);

    library.write_settings(&serde_json::json!({"max_document_bytes": 1000}));
    let big = folder.path().join("big.md");
    std::fs::write(&big, "word ".repeat(400)).unwrap();
    let out = library.run(&["ingest", big.to_str().unwrap()]);
    assert_one_error_line_mentioning(&out, &["big.md", "2000 bytes", "1000-byte limit"]);
    std::fs::remove_file(library.path().join("settings.json")).unwrap();
    assert_library_intact(&library, &documents);
}

#[test]
fn question_longer_than_the_context_names_the_limit() {
    let (library, documents) = indexed_library();
    let question = "Tell me about bridges and rivers and towns. ".repeat(400);
    let out = library.run(&["ask", &question]);
    assert_one_error_line_mentioning(&out, &["context window is 2048 tokens"]);
    assert_library_intact(&library, &documents);
}

#[test]
fn malformed_settings_name_the_file_and_field() {
    let library = Library::new();
    std::fs::write(
        library.path().join("settings.json"),
        r#"{"sources": "four"}"#,
    )
    .unwrap();
    let out = library.run(&["library"]);
    assert_one_error_line_mentioning(&out, &["settings.json", "invalid type"]);
    std::fs::write(library.path().join("settings.json"), r#"{"sourcez": 4}"#).unwrap();
    let out = library.run(&["library"]);
    assert_one_error_line_mentioning(&out, &["settings.json", "sourcez"]);
    assert!(Path::new(library.path()).join("settings.json").exists());
}

#[test]
fn malformed_pinned_date_names_the_variable() {
    let (library, documents) = indexed_library();
    let out = library
        .command(&["ask", "Who designed the bridge?"])
        .env("ALMANAC_TODAY", "5 December")
        .output()
        .unwrap();
    assert_one_error_line_mentioning(&out, &["ALMANAC_TODAY", "\"5 December\"", "YYYY-MM-DD"]);
    assert_library_intact(&library, &documents);
}
