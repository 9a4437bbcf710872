//! ONNX Runtime as a child process (scripts/reference/onnx_embed.py, run by the Python of
//! scripts/reference/setup-onnx.sh's venv): one JSON request per line in, one JSON reply per line
//! out, so the model stays loaded and its runs can alternate with ours.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::Deserialize;

use super::python_script::{venv_python, ScriptProcess};

const SCRIPT: &str = include_str!("../../../../scripts/reference/onnx_embed.py");

/// Where setup-onnx.sh puts the venv, looked for from the working directory and from the
/// binary's (target/release/almanac sits beside target/onnx-reference-venv).
pub fn default_python() -> PathBuf {
    venv_python("onnx-reference-venv")
}

#[derive(Deserialize)]
struct Reply {
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
    process: ScriptProcess,
    /// e.g. "onnxruntime 1.32.0, fp32 ONNX all-MiniLM-L6-v2 ...".
    pub build: String,
}

impl Reference {
    pub fn start(python: &Path) -> Result<Reference> {
        let process = ScriptProcess::start(
            python,
            SCRIPT,
            "the ONNX Runtime reference",
            "scripts/reference/setup-onnx.sh",
        )?;
        let mut reference = Reference {
            process,
            build: String::new(),
        };
        let info: Reply = reference
            .process
            .request(&serde_json::json!({"mode": "info"}))?;
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
        let reply: Reply = self.process.request(&serde_json::json!({
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
}
