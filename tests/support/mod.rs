//! Shared by the end-to-end tests: the real `almanac` binary, the real models, a scratch data directory.
#![allow(dead_code)]

pub mod http;
pub mod web_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The installed default models; tests fail (never skip) when they are missing.
pub fn models_dir() -> PathBuf {
    let dir = std::env::var_os("ALMANAC_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dirs_data_dir().join("almanac/models"));
    assert!(
        dir.join("SmolLM2-135M-Instruct.Q4_1.gguf").is_file()
            && dir.join("all-MiniLM-L6-v2/model.safetensors").is_file(),
        "default models missing in {}: run scripts/install-models.sh",
        dir.display()
    );
    dir
}

fn dirs_data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".local/share")
        })
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// A scratch library: its own data directory, the shared models.
pub struct Library {
    pub dir: tempfile::TempDir,
    models: PathBuf,
}

/// The date every test's `almanac` is told it is (`ALMANAC_TODAY`): the date is part of the
/// prompt, and the small model's greedy answers change with it (see tests/e2e_facts.rs).
pub const TEST_TODAY: &str = "2026-12-05";

impl Library {
    pub fn new() -> Library {
        Library {
            dir: tempfile::tempdir().expect("temp dir"),
            models: models_dir(),
        }
    }

    /// A scratch library whose data directory is inside `parent` (a tmpfs of the disk-fault tests).
    pub fn new_in(parent: &Path) -> Library {
        Library {
            dir: tempfile::tempdir_in(parent).expect("temp dir"),
            models: models_dir(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `almanac ARGS` against this library.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_almanac"));
        self.configure(&mut cmd);
        cmd.args(args);
        cmd
    }

    pub fn configure(&self, cmd: &mut Command) {
        cmd.env("ALMANAC_DATA_DIR", self.path())
            .env("ALMANAC_MODELS_DIR", &self.models)
            .env("ALMANAC_TODAY", TEST_TODAY)
            .env_remove("RUST_LOG")
            .env_remove("ALMANAC_API_KEY")
            .env_remove("ALMANAC_CORS_ORIGINS");
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("almanac runs")
    }

    /// Runs and asserts success, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "almanac {args:?} failed: {}\n{}",
            stderr(&out),
            stdout(&out)
        );
        stdout(&out)
    }

    pub fn ask_json(&self, question: &str) -> serde_json::Value {
        let text = self.ok(&["ask", "--json", question]);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("ask --json printed invalid JSON ({e}): {text}"))
    }

    /// `ask --json` with a one-token answer, for tests where only the retrieved sources count.
    pub fn sources_json(&self, question: &str) -> serde_json::Value {
        let text = self.ok(&["ask", "--json", "--max-tokens", "1", question]);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("ask --json printed invalid JSON ({e}): {text}"))
    }

    pub fn write_settings(&self, json: &serde_json::Value) {
        std::fs::write(self.path().join("settings.json"), json.to_string())
            .expect("write settings");
    }

    /// Documents in the library, as `almanac library` lists them.
    pub fn documents(&self) -> Vec<String> {
        self.ok(&["library"])
            .lines()
            .filter(|l| l.contains(" chunks "))
            .map(str::to_owned)
            .collect()
    }
}

/// A child process that is killed and reaped when dropped, so a failing assertion leaves nothing
/// running (scripts/test.sh fails on a process a test left).
pub struct Running(pub std::process::Child);

impl std::ops::Deref for Running {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `cmd` with `input` on its standard input (closed after it) and waits for its output.
pub fn output_with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("almanac runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `error: ...` lines a failed command printed: each must be one line naming the problem.
pub fn error_lines(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(str::to_owned)
        .collect()
}
