//! A Python reference script (llama.cpp, ONNX Runtime) as a child process: one JSON request per line
//! in, one JSON reply per line out, so its model stays loaded and its runs can alternate with ours.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The Python of a venv under target/ (`venv`, e.g. "reference-venv"), looked for from the working
/// directory and from the binary's (target/release/almanac sits beside target/VENV); else python3.
pub fn venv_python(venv: &str) -> PathBuf {
    let relative = Path::new(venv).join("bin/python");
    let mut candidates = vec![Path::new("target").join(&relative)];
    if let Some(dir) = std::env::current_exe().ok().and_then(|exe| {
        exe.parent()
            .and_then(Path::parent)
            .map(|target| target.join(&relative))
    }) {
        candidates.push(dir);
    }
    candidates
        .into_iter()
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

pub struct ScriptProcess {
    /// For messages: "the llama.cpp reference".
    name: &'static str,
    child: Child,
    /// `None` once closed, which ends the script.
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    python: PathBuf,
}

impl ScriptProcess {
    /// Runs `script` with `python`; `setup` names what creates its venv, for the error.
    pub fn start(
        python: &Path,
        script: &str,
        name: &'static str,
        setup: &str,
    ) -> Result<ScriptProcess> {
        let mut child = Command::new(python)
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} for {name} (create it with {setup}, or pass --python or \
                     --no-reference)",
                    python.display()
                )
            })?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Ok(ScriptProcess {
            name,
            child,
            stdin: Some(stdin),
            stdout,
            python: python.to_path_buf(),
        })
    }

    /// Sends one request and reads its reply; a reply with `error` is that error.
    pub fn request<R: DeserializeOwned>(&mut self, request: &Value) -> Result<R> {
        let name = self.name;
        let died = |python: &Path| format!("{name} ({}) stopped answering", python.display());
        let stdin = self.stdin.as_mut().expect("open until dropped");
        writeln!(stdin, "{request}")
            .and_then(|()| stdin.flush())
            .with_context(|| died(&self.python))?;
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            bail!("{}", died(&self.python));
        }
        let reply: Value = serde_json::from_str(&line)
            .with_context(|| format!("{name} answered {:?}", line.trim()))?;
        if let Some(error) = reply.get("error").and_then(Value::as_str) {
            bail!("{name}: {error} (or pass --no-reference)");
        }
        serde_json::from_value(reply).with_context(|| format!("{name} answered {:?}", line.trim()))
    }
}

impl Drop for ScriptProcess {
    fn drop(&mut self) {
        // Closing its stdin ends the script's loop; wait so no zombie is left.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
