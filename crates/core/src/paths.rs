use std::path::{Path, PathBuf};

/// Where a library lives and where the (shared) models are.
///
/// Libraries are per data directory (`--data-dir`, `ALMANAC_DATA_DIR`) so a user or a test can keep
/// several; models are large and shared by all of them (`ALMANAC_MODELS_DIR`, else the user's default
/// data directory), matching scripts/install-models.sh.
#[derive(Debug, Clone)]
pub struct Paths {
    pub data_dir: PathBuf,
    pub models_dir: PathBuf,
}

impl Paths {
    pub fn new(data_dir: Option<PathBuf>) -> Paths {
        let data_dir = data_dir
            .or_else(|| non_empty_env("ALMANAC_DATA_DIR"))
            .unwrap_or_else(Self::default_data_dir);
        let models_dir = non_empty_env("ALMANAC_MODELS_DIR")
            .unwrap_or_else(|| Self::default_data_dir().join("models"));
        Paths {
            data_dir,
            models_dir,
        }
    }

    /// `${XDG_DATA_HOME:-~/.local/share}/almanac` on Linux, the platform's equivalent elsewhere.
    pub fn default_data_dir() -> PathBuf {
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("almanac")
    }

    pub fn library_dir(&self) -> PathBuf {
        self.data_dir.join("library")
    }

    /// Conversations (SQLite).
    pub fn conversations_file(&self) -> PathBuf {
        self.data_dir.join("conversations.sqlite")
    }

    /// Chat models imported from elsewhere on disk (referenced, not copied).
    pub fn imported_models_file(&self) -> PathBuf {
        self.data_dir.join("imported-models.json")
    }

    pub fn settings_file(&self) -> PathBuf {
        self.data_dir.join("settings.json")
    }

    pub fn resolve_model(&self, configured: &Path) -> PathBuf {
        if configured.is_absolute() {
            configured.to_path_buf()
        } else {
            self.models_dir.join(configured)
        }
    }
}

fn non_empty_env(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Writes `bytes` beside `path`, flushes them to disk and renames the file into place, so a crash
/// leaves either the old file or the new one, never half of one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> crate::Result<()> {
    use std::io::Write;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    let partial = path.with_file_name(name);
    let mut file = std::fs::File::create(&partial).map_err(crate::Error::io(&partial))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(crate::Error::io(&partial))?;
    std::fs::rename(&partial, path).map_err(crate::Error::io(path))?;
    if let Some(dir) = path.parent() {
        // The rename itself is durable once the directory is synced (best effort: not every
        // platform can open a directory).
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}
