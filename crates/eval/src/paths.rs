use std::path::{Path, PathBuf};

/// Where evaluations keep their files in a data directory: `eval/runs/` (the logs of runs not yet
/// finished, to resume), `eval/reports/` (each finished run's JSON, Markdown and SVG chart),
/// `eval/libraries/` and `eval/sets/` (for `eval qa`).
#[derive(Debug, Clone)]
pub struct EvalDir(PathBuf);

impl EvalDir {
    pub fn in_data_dir(data_dir: &Path) -> EvalDir {
        EvalDir(data_dir.join("eval"))
    }

    pub fn runs(&self) -> PathBuf {
        self.0.join("runs")
    }

    pub fn reports(&self) -> PathBuf {
        self.0.join("reports")
    }

    /// The libraries `eval qa` builds from question sets' documents (one data directory each).
    pub fn libraries(&self) -> PathBuf {
        self.0.join("libraries")
    }

    /// Where the built-in question sets are written out.
    pub fn builtin_sets(&self) -> PathBuf {
        self.0.join("sets")
    }
}
