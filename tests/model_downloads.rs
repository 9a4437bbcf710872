//! `almanac models pull` against a Hugging Face-style hub on 127.0.0.1 (support/hf_server.rs): the
//! real download code, a real kill mid-transfer, real checksums, a real file-size limit. Part of
//! the `serve` test binary (no link of its own); the API and the web UI's pull are in serve.rs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::hf_server::{HfServer, HubFile, Repo};
use crate::support::{self, Library};

pub const TINY: &str = "tiny-llama32-q4_k.gguf";

pub fn tiny_bytes() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../engine/tests/fixtures/llama3")
        .join(TINY);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A models folder of its own, holding (a link to) the installed embedder.
pub fn models_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(
        support::models_dir().join("all-MiniLM-L6-v2"),
        dir.path().join("all-MiniLM-L6-v2"),
    )
    .expect("link the embedder");
    dir
}

/// Files in the models folder other than the embedder.
fn leftovers(models: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(models)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "all-MiniLM-L6-v2")
        .collect();
    names.sort();
    names
}

fn pull_command(library: &Library, models: &Path, hub: &HfServer, args: &[&str]) -> Command {
    let mut cmd = library.command(&["models", "pull"]);
    cmd.args(args)
        .env("ALMANAC_MODELS_DIR", models)
        .env("HF_ENDPOINT", hub.endpoint())
        .env_remove("HF_TOKEN");
    cmd
}

/// The one `error:` line of a failed run.
fn one_error(out: &Output, what: &str) -> String {
    assert!(!out.status.success(), "{what}: should fail");
    let errors = support::error_lines(out);
    assert_eq!(
        errors.len(),
        1,
        "{what}: one error line, got stderr:\n{}",
        support::stderr(out)
    );
    errors[0].clone()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

#[test]
fn a_pull_killed_mid_transfer_resumes_with_a_range_request_and_is_verified() {
    let bytes = tiny_bytes();
    let mut file = HubFile::new(TINY, bytes.clone());
    file.stall_after = Some(400_000);
    let hub = HfServer::one_file("test-org/tiny-GGUF", file);
    let library = Library::new();
    let models = tempfile::tempdir().unwrap();
    let part = models.path().join(format!("{TINY}.part"));

    // First run: the server stalls after 400,000 bytes; the process is killed while it waits.
    let mut child = pull_command(&library, models.path(), &hub, &["test-org/tiny-GGUF", TINY])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("almanac runs");
    let started = Instant::now();
    while std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0) < 400_000 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the part never reached 400,000 bytes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = std::fs::metadata(&part).unwrap().len();
    assert_eq!(kept, 400_000);
    assert!(models.path().join(format!("{TINY}.part.json")).is_file());
    assert!(
        !models.path().join(TINY).exists(),
        "no model before it is complete"
    );

    // Second run: continues from the part with a Range request and verifies the whole file.
    let out = pull_command(&library, models.path(), &hub, &["test-org/tiny-GGUF", TINY])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", support::stderr(&out));
    let ranged: Vec<_> = hub
        .seen()
        .into_iter()
        .filter(|s| s.path.contains("/resolve/"))
        .collect();
    assert_eq!(ranged.len(), 2, "{ranged:?}");
    assert_eq!(ranged[0].range, None);
    assert_eq!(ranged[1].range.as_deref(), Some("bytes=400000-"));
    assert!(
        ranged[1].path.contains(crate::hf_server::COMMIT),
        "pinned to the commit"
    );
    let stdout = support::stdout(&out);
    assert!(
        stdout.contains("sha256") && stdout.contains(&sha256(&bytes)),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(models.path().join(TINY)).unwrap(),
        bytes,
        "the resumed file is the hub's file"
    );
    assert_eq!(leftovers(models.path()), vec![TINY.to_owned()]);

    // A third pull finds it there; rm removes it.
    let again = pull_command(&library, models.path(), &hub, &["test-org/tiny-GGUF", TINY])
        .output()
        .unwrap();
    assert!(support::stdout(&again).contains("already downloaded"));
    let rm = library
        .command(&["models", "rm", TINY])
        .env("ALMANAC_MODELS_DIR", models.path())
        .output()
        .unwrap();
    assert!(rm.status.success(), "{}", support::stderr(&rm));
    assert!(leftovers(models.path()).is_empty());
}

#[test]
fn failed_pulls_say_why_in_one_line_and_leave_no_file() {
    let bytes = tiny_bytes();
    let mut wrong_sha = HubFile::new("wrong-sha.gguf", bytes.clone());
    wrong_sha.sha256 = sha256(b"something else");
    let mut huge = HubFile::new("huge.gguf", bytes.clone());
    huge.size = 1 << 52; // 4 PiB: more than any disk here has free
    let hub = HfServer::start(HashMap::from([
        (
            "test-org/files".to_owned(),
            Repo {
                files: vec![
                    wrong_sha,
                    huge,
                    HubFile::new(TINY, bytes.clone()),
                    HubFile::new("README.md", b"# not a model".to_vec()),
                ],
                token: None,
            },
        ),
        (
            "test-org/gated".to_owned(),
            Repo {
                files: vec![HubFile::new(TINY, bytes.clone())],
                token: Some("hf_test_token".into()),
            },
        ),
    ]));
    let library = Library::new();
    let models = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        pull_command(&library, models.path(), &hub, args)
            .output()
            .unwrap()
    };

    let cases: [(&[&str], &str); 7] = [
        (&["no-such/repo", TINY], "repository no-such/repo not found"),
        // The real hub's answer for a missing or private repository: 401 with X-Error-Code.
        (&["hidden/repo", TINY], "repository hidden/repo not found"),
        (
            &["test-org/files", "missing.gguf"],
            "missing.gguf is not in repository test-org/files",
        ),
        (
            &["test-org/gated", TINY],
            "repository test-org/gated is gated (HTTP 401): set HF_TOKEN",
        ),
        (
            &["test-org/files", "wrong-sha.gguf"],
            "differs from the hub's",
        ),
        (&["test-org/files", "huge.gguf"], "not enough disk space in"),
        (
            &["no-such-model"],
            "no catalogue model named \"no-such-model\"",
        ),
    ];
    for (args, expected) in cases {
        let line = one_error(&run(args), &format!("{args:?}"));
        assert!(line.contains(expected), "{args:?}: {line}");
        assert!(
            leftovers(models.path()).is_empty(),
            "{args:?} left {:?}",
            leftovers(models.path())
        );
    }
    let line = one_error(&run(&["test-org/files", "README.md"]), "README");
    assert!(line.contains("is not a .gguf file"), "{line}");

    // With the token the gated repository gives its file, and the token went to the hub.
    let out = pull_command(&library, models.path(), &hub, &["test-org/gated", TINY])
        .env("HF_TOKEN", "hf_test_token")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", support::stderr(&out));
    assert_eq!(leftovers(models.path()), vec![TINY.to_owned()]);
    std::fs::remove_file(models.path().join(TINY)).unwrap();

    // A full disk while writing: the file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored so the write
    // fails with EFBIG as on a full file system) stops the part at 300,000 bytes.
    let mut cmd = pull_command(&library, models.path(), &hub, &["test-org/files", TINY]);
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 300_000,
                rlim_max: 300_000,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let line = one_error(&cmd.output().unwrap(), "file size limit");
    assert!(
        line.contains(&format!("{TINY}.part")) && line.contains("File too large"),
        "{line}"
    );
    assert!(
        leftovers(models.path()).is_empty(),
        "{:?}",
        leftovers(models.path())
    );
}

/// The default model served by the test hub under another name: a pull, `--use`, and a question.
pub fn smollm_hub_file() -> (String, Vec<u8>) {
    let bytes = std::fs::read(support::models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf"))
        .expect("the default model");
    ("SmolLM2-135M-Pulled-Q4_1.gguf".to_owned(), bytes)
}

#[test]
fn a_pulled_model_is_chosen_and_answers() {
    let (name, bytes) = smollm_hub_file();
    let hub = HfServer::one_file("test-org/SmolLM2-GGUF", HubFile::new(&name, bytes));
    let library = Library::new();
    let models = models_folder();
    let out = pull_command(
        &library,
        models.path(),
        &hub,
        &["test-org/SmolLM2-GGUF", &name, "--use"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", support::stderr(&out));
    assert!(support::stdout(&out).contains(&format!("chat model set to {name}")));
    let mut ask = library.command(&["ask", "--json", "--max-tokens", "12", "Say hello."]);
    ask.env("ALMANAC_MODELS_DIR", models.path());
    let out = ask.output().unwrap();
    assert!(out.status.success(), "{}", support::stderr(&out));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        !answer["answer"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .is_empty(),
        "{answer}"
    );
    assert_eq!(
        answer["model"].as_str(),
        Some(PathBuf::from(&name).to_str().unwrap()),
        "the answer records the model that wrote it: {answer}"
    );

    // Not enough memory: refused before loading, naming what it needs.
    let mut ask = library.command(&["ask", "--max-tokens", "4", "Say hello."]);
    ask.env("ALMANAC_MODELS_DIR", models.path())
        .env("ALMANAC_MEMORY_AVAILABLE", "50000000");
    let line = one_error(&ask.output().unwrap(), "no memory");
    assert!(
        line.contains(&name) && line.contains("needs") && line.contains("only 48 MiB is free"),
        "{line}"
    );
}

#[test]
fn the_api_pulls_with_progress_cancels_chooses_and_removes() {
    use crate::support::http::Server;
    let (name, bytes) = smollm_hub_file();
    let mut slow = HubFile::new(TINY, tiny_bytes());
    slow.throttle = Some(Duration::from_millis(100));
    let hub = HfServer::start(HashMap::from([
        (
            "test-org/SmolLM2-GGUF".to_owned(),
            Repo {
                files: vec![HubFile::new(&name, bytes)],
                token: None,
            },
        ),
        (
            "test-org/slow".to_owned(),
            Repo {
                files: vec![slow],
                token: None,
            },
        ),
    ]));
    let models = models_folder();
    std::os::unix::fs::symlink(
        support::models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf"),
        models.path().join("SmolLM2-135M-Instruct.Q4_1.gguf"),
    )
    .unwrap();
    let ui = crate::ui_dir();
    let server = Server::start_with_env(
        Library::new(),
        ui.path(),
        &[],
        &[
            ("ALMANAC_MODELS_DIR", models.path().to_str().unwrap()),
            ("HF_ENDPOINT", &hub.endpoint()),
        ],
    );

    // The catalogue: every entry with its memory verdict and a speed scaled from a measurement.
    let catalogue = server.get("/api/models/catalogue").json();
    let entries = catalogue["models"].as_array().unwrap();
    assert!(entries.len() >= 7, "{catalogue}");
    assert!(
        catalogue["measured"]["decode_tokens_per_second"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    for e in entries {
        assert!(
            ["fits", "tight", "too_large"].contains(&e["verdict"].as_str().unwrap()),
            "{e}"
        );
        assert!(e["memory_bytes"].as_u64().unwrap() > e["size_bytes"].as_u64().unwrap());
        assert!(
            e["speed"]["decode_tokens_per_second"].as_f64().unwrap() > 0.0,
            "{e}"
        );
        assert_eq!(e["downloaded"], false);
    }
    let speed = |n: &str| {
        entries.iter().find(|e| e["name"] == n).unwrap()["speed"]["prefill_tokens_per_second"]
            .as_f64()
            .unwrap()
    };
    assert!(speed("llama-3.1-8b-q4_k_m") < speed("llama-3.2-1b-q4_k_m"));

    // A refused request, and a hub error arriving as the stream's error event.
    let (response, _) = server.events("/api/models/pull", &serde_json::json!({"url": "x"}));
    assert_eq!(response.status, 400);
    let (_, events) = server.events(
        "/api/models/pull",
        &serde_json::json!({"repo": "no-such/repo", "file": TINY}),
    );
    assert_eq!(events.last().unwrap()["code"], "not_found", "{events:?}");

    // A pull: started, progress, done; the model is then available.
    let (response, events) = server.events(
        "/api/models/pull",
        &serde_json::json!({"repo": "test-org/SmolLM2-GGUF", "file": name}),
    );
    assert_eq!(response.status, 200);
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"started"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"done"), "{events:?}");
    let last_progress = events.iter().rfind(|e| e["event"] == "progress").unwrap();
    assert_eq!(last_progress["downloaded"], last_progress["total"]);
    let available = server.get("/api/models").json()["available"].clone();
    assert!(available
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["path"].as_str().unwrap().ends_with(&name)));

    // Chosen for chat: the conversation keeps its earlier answer, each answer names its model.
    let (_, first) = server.events(
        "/api/ask",
        &serde_json::json!({"text": "Say hello.", "options": {}}),
    );
    assert_eq!(
        first[0]["model"], "SmolLM2-135M-Instruct.Q4_1.gguf",
        "{first:?}"
    );
    let conversation = first[0]["conversation_id"].as_str().unwrap().to_owned();
    let settings = server.json(
        "PUT",
        "/api/settings",
        &serde_json::json!({"chat_model": name}),
    );
    assert_eq!(settings.status, 200, "{}", settings.text());
    let (_, second) = server.events(
        "/api/ask",
        &serde_json::json!({"conversation_id": conversation, "text": "And goodbye?"}),
    );
    assert_eq!(second[0]["model"], name.as_str(), "{second:?}");
    assert_eq!(second.last().unwrap()["event"], "done", "{second:?}");
    let stored = server
        .get(&format!("/api/conversations/{conversation}"))
        .json();
    let answers: Vec<&serde_json::Value> = stored["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .collect();
    assert_eq!(answers.len(), 2, "{stored}");
    assert_eq!(answers[0]["model"], "SmolLM2-135M-Instruct.Q4_1.gguf");
    assert_eq!(answers[1]["model"], name.as_str());

    // The model in use cannot be removed; another can.
    let refused = server.delete(&format!("/api/models?name={name}"));
    assert_eq!(refused.error().0, 409);
    server.json(
        "PUT",
        "/api/settings",
        &serde_json::json!({"chat_model": "SmolLM2-135M-Instruct.Q4_1.gguf"}),
    );
    assert_eq!(
        server.delete(&format!("/api/models?name={name}")).status,
        204
    );
    assert!(!models.path().join(&name).exists());

    // Cancel: the slow pull stops and leaves nothing behind.
    let host = server.host();
    let origin = server.origin();
    let body = serde_json::json!({"repo": "test-org/slow", "file": TINY}).to_string();
    let mut stream = server.open(
        "POST",
        "/api/models/pull",
        &[
            ("Host", &host),
            ("Content-Type", "application/json"),
            ("Origin", &origin),
        ],
        Some(body.as_bytes()),
    );
    let started = stream.next_event().unwrap();
    let pull_id = started["pull_id"].as_str().unwrap().to_owned();
    let progress = stream.next_event().unwrap();
    assert_eq!(progress["event"], "progress", "{progress}");
    let busy = server.events(
        "/api/models/pull",
        &serde_json::json!({"repo": "test-org/slow", "file": TINY}),
    );
    assert_eq!(busy.0.status, 409);
    let cancel = server.json(
        "POST",
        &format!("/api/models/pulls/{pull_id}/cancel"),
        &serde_json::json!({}),
    );
    assert_eq!(cancel.status, 204, "{}", cancel.text());
    let mut last = progress;
    while let Some(event) = stream.next_event() {
        last = event;
    }
    assert_eq!(last["event"], "error");
    assert_eq!(last["code"], "cancelled", "{last}");
    assert!(!models.path().join(format!("{TINY}.part")).exists());
    assert!(!models.path().join(TINY).exists());
}

#[test]
fn a_broken_connection_keeps_the_part_and_the_next_pull_resumes() {
    let bytes = tiny_bytes();
    let mut file = HubFile::new(TINY, bytes.clone());
    file.cut_after = Some(300_000);
    let hub = HfServer::one_file("test-org/tiny-GGUF", file);
    let library = Library::new();
    let models = tempfile::tempdir().unwrap();
    let run = || {
        pull_command(&library, models.path(), &hub, &["test-org/tiny-GGUF", TINY])
            .output()
            .unwrap()
    };
    let line = one_error(&run(), "cut connection");
    assert!(
        line.contains(&format!("broke off at 300000 of {} bytes", bytes.len()))
            && line.contains("pull again to resume"),
        "{line}"
    );
    assert_eq!(
        leftovers(models.path()),
        vec![format!("{TINY}.part"), format!("{TINY}.part.json")],
        "the part is kept, and it is not a model"
    );
    let out = run();
    assert!(out.status.success(), "{}", support::stderr(&out));
    let ranges: Vec<_> = hub.seen().into_iter().filter_map(|s| s.range).collect();
    assert_eq!(ranges, vec!["bytes=300000-".to_owned()]);
    assert_eq!(std::fs::read(models.path().join(TINY)).unwrap(), bytes);
    assert_eq!(leftovers(models.path()), vec![TINY.to_owned()]);
}
