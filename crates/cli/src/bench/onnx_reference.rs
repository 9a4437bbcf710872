//! ONNX Runtime as a child process (scripts/reference/onnx_embed.py, run by the Python of
//! scripts/reference/setup-onnx.sh's venv): one JSON request per line in, one JSON reply per line
//! out, so the model stays loaded and its runs can alternate with ours.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

const SCRIPT: &str = include_str!("../../../../scripts/reference/onnx_embed.py");

/// Where setup-onnx.sh puts the venv, looked for from the working directory and from the
/// binary's (target/release/almanac sits beside target/onnx-reference-venv).
pub fn default_python() -> PathBuf {
    let relative = Path::new("onnx-reference-venv/bin/python");
    let mut candidates = vec![Path::new("target").join(relative)];
    if let Some(dir) = std::env::current_exe().ok().and_then(|exe| {
        exe.parent()
            .and_then(Path::parent)
            .map(|target| target.join(relative))
    }) {
        candidates.push(dir);
    }
    candidates
        .into_iter()
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

#[derive(Deserialize)]
struct Reply {
    error: Option<String>,
    reference: Option<String>,
    seconds: Option<f64>,
    count: Option<usize>,
    sample: Option<Vec<Vec<f32>>>,
}

/// One timed pass over a file: seconds, texts, and the vectors of its first lines.
pub struct ReferenceRun {
    pub seconds: f64,
    pub count: usize,
    pub sample: Vec<Vec<f32>>,
}

pub struct Reference {
    child: Child,
    /// `None` once closed, which ends the script.
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    python: PathBuf,
    /// e.g. "onnxruntime 1.32.0, fp32 ONNX all-MiniLM-L6-v2 ...".
    pub build: String,
}

impl Reference {
    pub fn start(python: &Path) -> Result<Reference> {
        let mut child = Command::new(python)
            .arg("-c")
            .arg(SCRIPT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} for the ONNX Runtime reference (create it with \
                     scripts/reference/setup-onnx.sh, or pass --python or --no-reference)",
                    python.display()
                )
            })?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut reference = Reference {
            child,
            stdin: Some(stdin),
            stdout,
            python: python.to_path_buf(),
            build: String::new(),
        };
        let info = reference.request(&serde_json::json!({"mode": "info"}))?;
        reference.build = info.reference.unwrap_or_default();
        Ok(reference)
    }

    /// Embeds every non-blank line of `texts` in batches of `batch` on `threads` threads.
    pub fn run(
        &mut self,
        texts: &Path,
        threads: usize,
        batch: usize,
        sample: usize,
    ) -> Result<ReferenceRun> {
        let reply = self.request(&serde_json::json!({
            "mode": "embed", "texts": texts, "threads": threads, "batch": batch, "sample": sample,
        }))?;
        match (reply.seconds, reply.count) {
            (Some(seconds), Some(count)) => Ok(ReferenceRun {
                seconds,
                count,
                sample: reply.sample.unwrap_or_default(),
            }),
            _ => bail!("the ONNX Runtime reference returned no timing"),
        }
    }

    fn request(&mut self, request: &serde_json::Value) -> Result<Reply> {
        let died = |python: &Path| {
            format!(
                "the ONNX Runtime reference ({}) stopped answering",
                python.display()
            )
        };
        let stdin = self.stdin.as_mut().expect("open until dropped");
        writeln!(stdin, "{request}")
            .and_then(|()| stdin.flush())
            .with_context(|| died(&self.python))?;
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            bail!("{}", died(&self.python));
        }
        let reply: Reply = serde_json::from_str(&line)
            .with_context(|| format!("the ONNX Runtime reference answered {:?}", line.trim()))?;
        match reply.error {
            Some(error) => bail!("ONNX Runtime reference: {error} (or pass --no-reference)"),
            None => Ok(reply),
        }
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        // Closing its stdin ends the script's loop; wait so no zombie is left.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
