//! llama.cpp as a child process (scripts/reference/llamacpp.py, run by the Python of
//! scripts/reference/setup.sh's venv): one JSON request per line in, one JSON reply per line out,
//! so the model stays loaded and its runs can alternate with ours.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

const SCRIPT: &str = include_str!("../../../../scripts/reference/llamacpp.py");

/// Where setup.sh puts the venv, looked for from the working directory and from the binary's
/// (target/release/almanac sits beside target/reference-venv).
pub fn default_python() -> PathBuf {
    let relative = Path::new("reference-venv/bin/python");
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

/// One generation as llama.cpp timed it (the definitions of `generation::Run`).
#[derive(Debug, Clone, Deserialize)]
pub struct ReferenceRun {
    pub prefill_s: f64,
    pub decode_s: f64,
    pub generated: usize,
    pub end_of_turn: bool,
    pub follow_up_ttft_s: Option<f64>,
    pub follow_up_cached: Option<usize>,
}

#[derive(Deserialize)]
struct Reply {
    error: Option<String>,
    reference: Option<String>,
    system_info: Option<String>,
    runs: Option<Vec<ReferenceRun>>,
    peak_rss_kib: Option<u64>,
}

pub struct Reference {
    child: Child,
    /// `None` once closed, which ends the script.
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    python: PathBuf,
    /// The build, e.g. "llama.cpp b11549 (xllamacpp 2026.10.11549)".
    pub build: String,
    /// llama_print_system_info: the instruction sets it uses.
    pub system_info: String,
    /// VmHWM of the reference process after its latest run.
    pub peak_rss_kib: u64,
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
                    "starting {} for the llama.cpp reference (create it with scripts/reference/setup.sh, \
                     or pass --python or --no-reference)",
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
            system_info: String::new(),
            peak_rss_kib: 0,
        };
        let info = reference.request(&serde_json::json!({"mode": "info"}))?;
        reference.build = info.reference.unwrap_or_default();
        reference.system_info = info.system_info.unwrap_or_default();
        Ok(reference)
    }

    /// One generation from an empty cache, then (with `follow_up`) the time to the first token of
    /// `follow_up` reusing that cache up to the longest common prefix.
    pub fn run(
        &mut self,
        model: &Path,
        prompt_ids: &[u32],
        follow_up: &[u32],
        threads: usize,
        context: usize,
        decode_tokens: usize,
    ) -> Result<ReferenceRun> {
        let reply = self.request(&serde_json::json!({
            "mode": "bench", "model": model, "prompt_ids": prompt_ids, "follow_up_ids": follow_up,
            "threads": threads, "n_ctx": context, "runs": 1, "decode_tokens": decode_tokens,
        }))?;
        self.peak_rss_kib = reply.peak_rss_kib.unwrap_or(self.peak_rss_kib);
        match reply.runs.and_then(|runs| runs.into_iter().next()) {
            Some(run) => Ok(run),
            None => bail!("the llama.cpp reference returned no run"),
        }
    }

    fn request(&mut self, request: &serde_json::Value) -> Result<Reply> {
        let died = |python: &Path| {
            format!(
                "the llama.cpp reference ({}) stopped answering",
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
            .with_context(|| format!("the llama.cpp reference answered {:?}", line.trim()))?;
        match reply.error {
            Some(error) => bail!("llama.cpp reference: {error} (or pass --no-reference)"),
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
