//! llama.cpp as a child process (scripts/reference/llamacpp.py, run by the Python of
//! scripts/reference/setup.sh's venv): one JSON request per line in, one JSON reply per line out,
//! so the model stays loaded and its runs can alternate with ours.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::Deserialize;

use super::python_script::{venv_python, ScriptProcess};

const SCRIPT: &str = include_str!("../../../../scripts/reference/llamacpp.py");

/// Where setup.sh puts the venv, looked for from the working directory and from the binary's
/// (target/release/almanac sits beside target/reference-venv).
pub fn default_python() -> PathBuf {
    venv_python("reference-venv")
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
    reference: Option<String>,
    system_info: Option<String>,
    runs: Option<Vec<ReferenceRun>>,
    peak_rss_kib: Option<u64>,
}

pub struct Reference {
    process: ScriptProcess,
    /// The build, e.g. "llama.cpp b11549 (xllamacpp 2026.10.11549)".
    pub build: String,
    /// llama_print_system_info: the instruction sets it uses.
    pub system_info: String,
    /// VmHWM of the reference process after its latest run.
    pub peak_rss_kib: u64,
}

impl Reference {
    pub fn start(python: &Path) -> Result<Reference> {
        let process = ScriptProcess::start(
            python,
            SCRIPT,
            "the llama.cpp reference",
            "scripts/reference/setup.sh",
        )?;
        let mut reference = Reference {
            process,
            build: String::new(),
            system_info: String::new(),
            peak_rss_kib: 0,
        };
        let info: Reply = reference
            .process
            .request(&serde_json::json!({"mode": "info"}))?;
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
        let reply: Reply = self.process.request(&serde_json::json!({
            "mode": "bench", "model": model, "prompt_ids": prompt_ids, "follow_up_ids": follow_up,
            "threads": threads, "n_ctx": context, "runs": 1, "decode_tokens": decode_tokens,
        }))?;
        self.peak_rss_kib = reply.peak_rss_kib.unwrap_or(self.peak_rss_kib);
        match reply.runs.and_then(|runs| runs.into_iter().next()) {
            Some(run) => Ok(run),
            None => bail!("the llama.cpp reference returned no run"),
        }
    }
}
