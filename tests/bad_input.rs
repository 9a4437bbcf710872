//! Bad input gets a one-line error naming the file or the limit, and nothing already indexed is lost.

mod support;
// The crafted model files of the engine's tests (std only).
#[path = "../crates/engine/tests/common/raw_gguf.rs"]
mod raw_gguf;

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

/// Runs `cmd` to its end and returns its output with its peak resident memory (`wait4`'s
/// `ru_maxrss`, KiB), so a huge allocation shows even when the process survives it.
// The child is reaped by `wait4` itself, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn output_and_peak_rss(mut cmd: std::process::Command) -> (std::process::Output, i64) {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("almanac runs");
    let mut stdout_pipe = child.stdout.take().unwrap();
    let stdout_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stdout_pipe.read_to_end(&mut bytes).map(|_| bytes)
    });
    let mut stderr = Vec::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    let stdout = stdout_reader.join().unwrap().unwrap();
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid, and the child is ours and not yet reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4");
    let output = std::process::Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout,
        stderr,
    };
    (output, usage.ru_maxrss)
}

/// Each crafted model file of the hardening issue (alignment 0, lengths of 2^63 and 2^40, deep
/// nesting, wrapping dimensions, offsets outside the file, unknown types, a duplicate key, a
/// vocabulary of 0 or 2^32 tokens, merges naming missing tokens...) given to `almanac ask --model
/// FILE`: one line naming the file, exit status 1 (no panic, abort or signal), under 1 GiB.
#[test]
fn hostile_model_files_are_refused_by_ask_in_one_line() {
    let library = Library::new();
    for (i, hostile) in raw_gguf::hostile_files().into_iter().enumerate() {
        let path = library.path().join(format!("hostile-{i}.gguf"));
        std::fs::write(&path, &hostile.bytes).unwrap();
        let cmd = library.command(&[
            "ask",
            "--model",
            path.to_str().unwrap(),
            "Who designed the Zorvath Bridge?",
        ]);
        let (out, peak_kib) = output_and_peak_rss(cmd);
        let kind = hostile.kind;
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{kind}: {:?} {err}", out.status);
        assert_eq!(err.lines().count(), 1, "{kind}: {err}");
        assert_one_error_line_mentioning(&out, &[path.to_str().unwrap(), hostile.expected]);
        assert!(
            peak_kib < 1 << 20,
            "{kind}: peak resident memory {peak_kib} KiB"
        );
    }
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
