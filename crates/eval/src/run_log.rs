//! What a long evaluation has done so far, one JSON line per item after a header with its
//! configuration, appended and flushed as each item finishes: a run cut short (Ctrl-C, a kill, a
//! crash) starts again where it stopped. A log written for another configuration is set aside, and
//! a torn last line (killed mid-write) is dropped.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Serialize, Deserialize)]
struct Header {
    config: serde_json::Value,
}

pub struct RunLog<R> {
    path: PathBuf,
    file: File,
    _records: PhantomData<R>,
}

impl<R: Serialize + DeserializeOwned> RunLog<R> {
    /// Opens the log at `path` for `config`, returning the items it already holds.
    pub fn open(path: &Path, config: &serde_json::Value) -> Result<(RunLog<R>, Vec<R>)> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        }
        let records = match File::open(path) {
            Ok(file) => read_records(BufReader::new(file), config),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(path)(e)),
        };
        let (records, lines) = records.unwrap_or_default();
        // Rewritten from what was understood, so appends follow a whole line.
        let mut text = serde_json::to_string(&Header {
            config: config.clone(),
        })
        .expect("a JSON value serialises");
        text.push('\n');
        for line in lines {
            text.push_str(&line);
            text.push('\n');
        }
        std::fs::write(path, text).map_err(Error::io(path))?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(Error::io(path))?;
        Ok((
            RunLog {
                path: path.to_path_buf(),
                file,
                _records: PhantomData,
            },
            records,
        ))
    }

    pub fn append(&mut self, record: &R) -> Result<()> {
        let mut line = serde_json::to_string(record).expect("records serialise");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(Error::io(&self.path))
    }

    /// The run is over and its report written: nothing left to resume.
    pub fn remove(self) -> Result<()> {
        std::fs::remove_file(&self.path).map_err(Error::io(&self.path))
    }
}

/// The records and their lines, or `None` if the log belongs to another configuration.
fn read_records<R: DeserializeOwned>(
    reader: impl BufRead,
    config: &serde_json::Value,
) -> Option<(Vec<R>, Vec<String>)> {
    let mut lines = reader.lines();
    let header: Header = serde_json::from_str(&lines.next()?.ok()?).ok()?;
    if &header.config != config {
        return None;
    }
    let mut records = Vec::new();
    let mut kept = Vec::new();
    for line in lines {
        let Ok(line) = line else { break };
        let Ok(record) = serde_json::from_str(&line) else {
            break;
        };
        records.push(record);
        kept.push(line);
    }
    Some((records, kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_whole_lines_of_the_same_configuration_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs/log.jsonl");
        let config = serde_json::json!({"shots": 5});
        let (mut log, done) = RunLog::<u32>::open(&path, &config).unwrap();
        assert!(done.is_empty());
        log.append(&1).unwrap();
        log.append(&2).unwrap();
        drop(log);
        // A kill mid-write leaves half a line.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"tor").unwrap();
        drop(file);

        let (mut log, done) = RunLog::<u32>::open(&path, &config).unwrap();
        assert_eq!(done, vec![1, 2]);
        log.append(&3).unwrap();
        drop(log);
        let (_, done) = RunLog::<u32>::open(&path, &config).unwrap();
        assert_eq!(done, vec![1, 2, 3]);

        let (log, done) = RunLog::<u32>::open(&path, &serde_json::json!({"shots": 0})).unwrap();
        assert!(done.is_empty(), "another configuration starts afresh");
        log.remove().unwrap();
        assert!(!path.exists());
    }
}
