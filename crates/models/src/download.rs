//! A download into the models folder that survives interruptions and is verified before use.
//!
//! The bytes go to `NAME.part` beside the final file, with `NAME.part.json` recording what they
//! are (repository, file, commit, size, sha256). A later pull of the same file whose hub metadata
//! still matches the sidecar continues from the part's length with a `Range` request (the part is
//! hashed first, so the sha256 covers every byte); anything else starts over. Only a complete file
//! whose sha256 matches the hub's LFS metadata is renamed to `NAME` (a `.gguf`, which is what the
//! app lists), so a model is never seen half-written. The part is locked while a pull writes it,
//! so two pulls of one file cannot interleave.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::hub::{Hub, RemoteFile, RepoFile};

/// How far a download is.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Progress {
    /// Bytes of the file on disk, including those kept from an earlier attempt.
    pub downloaded: u64,
    pub total: u64,
    /// Bytes this attempt started from (non-zero when resumed).
    pub resumed_from: u64,
    /// This attempt's transfer rate.
    pub bytes_per_second: f64,
    pub seconds_left: Option<f64>,
}

/// A finished pull.
#[derive(Debug, Clone, Serialize)]
pub struct Pulled {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub resumed_from: u64,
    /// The file was already in the models folder; nothing was transferred.
    pub already_present: bool,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Sidecar {
    repo: String,
    file: String,
    commit: String,
    size: u64,
    sha256: String,
}

/// Paths of a download's final file, part and sidecar.
pub struct Destination {
    pub target: PathBuf,
    pub part: PathBuf,
    pub sidecar: PathBuf,
}

impl Destination {
    pub fn new(models_dir: &Path, local_name: &str) -> Destination {
        Destination {
            target: models_dir.join(local_name),
            part: models_dir.join(format!("{local_name}.part")),
            sidecar: models_dir.join(format!("{local_name}.part.json")),
        }
    }

    /// Removes the part and its sidecar (a cancelled, refused or failed download).
    pub fn discard(&self) {
        let _ = std::fs::remove_file(&self.part);
        let _ = std::fs::remove_file(&self.sidecar);
    }
}

const PROGRESS_EVERY: Duration = Duration::from_millis(250);
const BLOCK: usize = 256 * 1024;

/// Downloads `source` into `models_dir` (created if missing): resumes a matching part, checks the
/// free space for what is left, verifies the sha256, then moves the file into place. `cancel`
/// stops it and removes the part; a broken connection keeps the part for the next pull.
pub fn pull(
    hub: &Hub,
    source: &RepoFile,
    models_dir: &Path,
    cancel: &AtomicBool,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Pulled> {
    source.check()?;
    let dest = Destination::new(models_dir, source.local_name());
    let remote = hub.file_info(source)?;
    if dest.target.is_file() {
        let size = std::fs::metadata(&dest.target)
            .map_err(Error::io(&dest.target))?
            .len();
        if size == remote.size {
            return Ok(Pulled {
                path: dest.target,
                size,
                sha256: remote.sha256,
                resumed_from: 0,
                already_present: true,
            });
        }
        return Err(Error::invalid(
            "file",
            format!(
                "{} already exists with another size ({size} bytes, the hub's is {}); remove it first",
                dest.target.display(),
                remote.size
            ),
        ));
    }
    std::fs::create_dir_all(models_dir).map_err(Error::io(models_dir))?;
    let sidecar = Sidecar {
        repo: source.repo.clone(),
        file: source.file.clone(),
        commit: remote.commit.clone(),
        size: remote.size,
        sha256: remote.sha256.clone(),
    };
    let mut part = open_part(&dest, &sidecar)?;
    let have = part.metadata().map_err(Error::io(&dest.part))?.len();
    let available = fs4::available_space(models_dir).map_err(Error::io(models_dir))?;
    let needed = remote.size - have;
    if needed > available {
        if have == 0 {
            drop(part);
            dest.discard();
        }
        return Err(Error::DiskFull {
            dir: models_dir.to_path_buf(),
            needed,
            available,
        });
    }
    let result = transfer(
        hub,
        source,
        &remote,
        &dest,
        &mut part,
        have,
        cancel,
        on_progress,
    );
    drop(part);
    match result {
        Ok(resumed_from) => {
            std::fs::rename(&dest.part, &dest.target).map_err(Error::io(&dest.target))?;
            let _ = std::fs::remove_file(&dest.sidecar);
            if let Ok(dir) = File::open(models_dir) {
                let _ = dir.sync_all();
            }
            Ok(Pulled {
                path: dest.target,
                size: remote.size,
                sha256: remote.sha256,
                resumed_from,
                already_present: false,
            })
        }
        Err(e) => {
            // What cannot be resumed goes; a broken connection keeps its bytes for the next pull.
            if !matches!(e, Error::Transport { .. } | Error::Http { .. }) {
                dest.discard();
            }
            Err(e)
        }
    }
}

/// Opens (and locks) the part for writing: kept when the sidecar describes the same file at the
/// same commit, otherwise emptied and the sidecar rewritten.
fn open_part(dest: &Destination, sidecar: &Sidecar) -> Result<File> {
    let part = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&dest.part)
        .map_err(Error::io(&dest.part))?;
    if let Err(e) = part.try_lock() {
        return Err(Error::invalid(
            "file",
            format!(
                "{} is being downloaded by another pull ({e})",
                dest.part.display()
            ),
        ));
    }
    let recorded: Option<Sidecar> = std::fs::read(&dest.sidecar)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let len = part.metadata().map_err(Error::io(&dest.part))?.len();
    if recorded.as_ref() != Some(sidecar) || len > sidecar.size {
        part.set_len(0).map_err(Error::io(&dest.part))?;
        let json = serde_json::to_vec_pretty(sidecar).expect("a sidecar serialises");
        std::fs::write(&dest.sidecar, json).map_err(Error::io(&dest.sidecar))?;
    }
    Ok(part)
}

/// Writes the rest of the file into `part` and checks its sha256; returns where it resumed from.
#[allow(clippy::too_many_arguments)]
fn transfer(
    hub: &Hub,
    source: &RepoFile,
    remote: &RemoteFile,
    dest: &Destination,
    part: &mut File,
    have: u64,
    cancel: &AtomicBool,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<u64> {
    let cancelled = || Error::Cancelled {
        file: source.file.clone(),
    };
    let mut hasher = Sha256::new();
    let mut start = 0;
    if have > 0 && have < remote.size {
        hash_prefix(part, &dest.part, have, &mut hasher, cancel).ok_or_else(cancelled)??;
        start = have;
    } else if have == remote.size && remote.size > 0 {
        hash_prefix(part, &dest.part, have, &mut hasher, cancel).ok_or_else(cancelled)??;
        return verify(hasher, remote, source).map(|()| have);
    }
    let mut transfer = if start == remote.size {
        None
    } else {
        Some(hub.open(source, &remote.commit, start)?)
    };
    if let Some(t) = &transfer {
        if t.start != start {
            // The server sent the whole file: start over.
            start = 0;
            hasher = Sha256::new();
            part.set_len(0).map_err(Error::io(&dest.part))?;
        }
    }
    part.seek(SeekFrom::Start(start))
        .map_err(Error::io(&dest.part))?;
    let began = Instant::now();
    let mut done = start;
    let mut last_report = Instant::now() - PROGRESS_EVERY;
    let mut buf = vec![0u8; BLOCK];
    let url = transfer.as_ref().map(|t| t.url.clone()).unwrap_or_default();
    let report = |done: u64, on_progress: &mut dyn FnMut(&Progress)| {
        let secs = began.elapsed().as_secs_f64().max(1e-3);
        let rate = (done - start) as f64 / secs;
        on_progress(&Progress {
            downloaded: done,
            total: remote.size,
            resumed_from: start,
            bytes_per_second: rate,
            seconds_left: (rate > 0.0).then(|| (remote.size - done) as f64 / rate),
        });
    };
    while let Some(t) = transfer.as_mut() {
        if cancel.load(Ordering::Relaxed) {
            return Err(cancelled());
        }
        let n = match t.body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = part.sync_data();
                return Err(broke_off(&url, done, remote.size, &e.to_string()));
            }
        };
        if done + n as u64 > remote.size {
            return Err(Error::Protocol {
                url,
                detail: format!("sent more than the hub's {} bytes", remote.size),
            });
        }
        part.write_all(&buf[..n]).map_err(Error::io(&dest.part))?;
        hasher.update(&buf[..n]);
        done += n as u64;
        if last_report.elapsed() >= PROGRESS_EVERY {
            last_report = Instant::now();
            report(done, on_progress);
        }
    }
    part.sync_all().map_err(Error::io(&dest.part))?;
    if done < remote.size {
        return Err(broke_off(
            &url,
            done,
            remote.size,
            "the server closed the connection",
        ));
    }
    report(done, on_progress);
    verify(hasher, remote, source)?;
    Ok(start)
}

fn broke_off(url: &str, done: u64, total: u64, why: &str) -> Error {
    Error::Transport {
        url: url.into(),
        detail: format!(
            "the transfer broke off at {done} of {total} bytes ({}); pull again to resume",
            crate::one_line(why)
        ),
    }
}

/// Feeds the first `len` bytes of the part to the hasher; `None` when cancelled.
fn hash_prefix(
    part: &mut File,
    path: &Path,
    len: u64,
    hasher: &mut Sha256,
    cancel: &AtomicBool,
) -> Option<Result<()>> {
    if let Err(e) = part.seek(SeekFrom::Start(0)) {
        return Some(Err(Error::io(path)(e)));
    }
    let mut reader = (&*part).take(len);
    let mut buf = vec![0u8; BLOCK];
    loop {
        if cancel.load(Ordering::Relaxed) {
            return None;
        }
        match reader.read(&mut buf) {
            Ok(0) => return Some(Ok(())),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) => return Some(Err(Error::io(path)(e))),
        }
    }
}

fn verify(hasher: Sha256, remote: &RemoteFile, source: &RepoFile) -> Result<()> {
    let actual = format!("{:x}", hasher.finalize());
    if actual != remote.sha256 {
        return Err(Error::Checksum {
            file: source.file.clone(),
            expected: remote.sha256.clone(),
            actual,
        });
    }
    Ok(())
}
