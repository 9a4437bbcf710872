//! The ingestion queue and each file's status, in SQLite (`library/queue.sqlite`), so that a
//! restart or a crash resumes where it stopped and the UI and `almanac library status` show every
//! file: queued, indexed, or failed with its reason. Also the folders the library follows.
//!
//! The catalog (almanac-indexes) stays the truth about what is searchable; this file records what
//! was asked for and what happened. A file is marked indexed only after its document is stored,
//! so a crash in between leaves it queued, and the next run finds it unchanged by content hash.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::{Error, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS folders (
    path     TEXT PRIMARY KEY,
    added_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    path         TEXT PRIMARY KEY,
    status       TEXT NOT NULL CHECK (status IN ('queued', 'indexed', 'failed')),
    error        TEXT,
    size         INTEGER,
    mtime_ns     INTEGER,
    content_hash TEXT,
    added_at     INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    seq          INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_status ON files(status, seq);
";

/// One file the library knows of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileStatus {
    pub path: String,
    /// "queued", "indexed" or "failed".
    pub status: String,
    pub error: Option<String>,
    /// When the file first came into the library (Unix seconds); kept across re-indexing and renames.
    pub added_at: i64,
    pub updated_at: i64,
}

/// Size and modification time as last indexed: when both are unchanged the file is not read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub size: u64,
    pub mtime_ns: i64,
}

impl Stamp {
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i64);
        Stamp {
            size: meta.len(),
            mtime_ns,
        }
    }
}

pub struct Queue {
    conn: Mutex<Connection>,
    path: PathBuf,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Queue {
    pub fn open(path: &Path) -> Result<Queue> {
        let err = |e: rusqlite::Error| Error::Queue {
            path: path.into(),
            message: almanac_indexes::storage::explain_sqlite(path, &e),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        // NORMAL in WAL mode survives a killed process (only a power cut can lose the last commits,
        // and then the content hash makes the redone work cheap).
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Queue {
            conn: Mutex::new(conn),
            path: path.into(),
        })
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        Error::Queue {
            message: almanac_indexes::storage::explain_sqlite(&self.path, &e),
            path: self.path.clone(),
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add_folder(&self, folder: &Path) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO folders(path, added_at) VALUES (?1, ?2) ON CONFLICT(path) DO NOTHING",
                params![folder.to_string_lossy(), now()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn remove_folder(&self, folder: &Path) -> Result<bool> {
        let n = self
            .conn()
            .execute(
                "DELETE FROM folders WHERE path = ?1",
                [folder.to_string_lossy()],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    pub fn folders(&self) -> Result<Vec<PathBuf>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT path FROM folders ORDER BY path")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.map(|r| r.map(PathBuf::from).map_err(|e| self.err(e)))
            .collect()
    }

    /// Files that need work among `files` (path, stamp now): those not indexed with the same
    /// stamp (or all with `force`) are marked queued, in one transaction. Returns the paths that
    /// were already indexed with this stamp.
    pub fn enqueue(&self, files: &[(String, Stamp)], force: bool) -> Result<Vec<String>> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let mut unchanged = Vec::new();
        {
            let mut get = tx
                .prepare_cached("SELECT status, size, mtime_ns FROM files WHERE path = ?1")
                .map_err(|e| self.err(e))?;
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO files(path, status, added_at, updated_at, seq)
                     VALUES (?1, 'queued', ?2, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM files))
                     ON CONFLICT(path) DO UPDATE SET status = 'queued', error = NULL,
                       updated_at = excluded.updated_at, seq = excluded.seq",
                )
                .map_err(|e| self.err(e))?;
            let t = now();
            for (path, stamp) in files {
                let row: Option<(String, Option<i64>, Option<i64>)> = get
                    .query_row([path], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()
                    .map_err(|e| self.err(e))?;
                let same = matches!(&row, Some((s, Some(size), Some(m)))
                    if s == "indexed" && *size as u64 == stamp.size && *m == stamp.mtime_ns);
                if same && !force {
                    unchanged.push(path.clone());
                } else {
                    put.execute(params![path, t]).map_err(|e| self.err(e))?;
                }
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(unchanged)
    }

    /// The queued files, oldest first.
    pub fn queued(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT path FROM files WHERE status = 'queued' ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.map(|r| r.map_err(|e| self.err(e))).collect()
    }

    pub fn mark_indexed(&self, path: &str, stamp: Stamp, content_hash: &str) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO files(path, status, size, mtime_ns, content_hash, added_at, updated_at, seq)
                 VALUES (?1, 'indexed', ?2, ?3, ?4, ?5, ?5, 0)
                 ON CONFLICT(path) DO UPDATE SET status = 'indexed', error = NULL, size = ?2, mtime_ns = ?3,
                   content_hash = ?4, updated_at = ?5",
                params![path, stamp.size as i64, stamp.mtime_ns, content_hash, now()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn mark_failed(&self, path: &str, error: &str) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO files(path, status, error, added_at, updated_at, seq) VALUES (?1, 'failed', ?2, ?3, ?3, 0)
                 ON CONFLICT(path) DO UPDATE SET status = 'failed', error = ?2, size = NULL, mtime_ns = NULL,
                   updated_at = ?3",
                params![path, error, now()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn forget(&self, path: &str) -> Result<bool> {
        let n = self
            .conn()
            .execute("DELETE FROM files WHERE path = ?1", [path])
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// A renamed file keeps its history (when it was added); its row moves to the new path, queued.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        tx.execute(
            "DELETE FROM files WHERE path = ?2 AND EXISTS (SELECT 1 FROM files WHERE path = ?1)",
            params![from, to],
        )
        .map_err(|e| self.err(e))?;
        tx.execute(
            "UPDATE files SET path = ?2, status = 'queued', error = NULL, size = NULL, mtime_ns = NULL, updated_at = ?3,
               seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM files) WHERE path = ?1",
            params![from, to, now()],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(())
    }

    pub fn status(&self, path: &str) -> Result<Option<FileStatus>> {
        let conn = self.conn();
        conn.query_row(
            "SELECT path, status, error, added_at, updated_at FROM files WHERE path = ?1",
            [path],
            Self::row,
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    pub fn statuses(&self) -> Result<Vec<FileStatus>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT path, status, error, added_at, updated_at FROM files ORDER BY path")
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], Self::row).map_err(|e| self.err(e))?;
        rows.map(|r| r.map_err(|e| self.err(e))).collect()
    }

    fn row(r: &rusqlite::Row) -> rusqlite::Result<FileStatus> {
        Ok(FileStatus {
            path: r.get(0)?,
            status: r.get(1)?,
            error: r.get(2)?,
            added_at: r.get(3)?,
            updated_at: r.get(4)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_survive_reopening_and_unchanged_files_are_not_queued() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("queue.sqlite");
        let stamp = Stamp {
            size: 10,
            mtime_ns: 5,
        };
        {
            let q = Queue::open(&file).unwrap();
            q.add_folder(Path::new("/docs")).unwrap();
            assert!(q
                .enqueue(
                    &[("/docs/a.md".into(), stamp), ("/docs/b.md".into(), stamp)],
                    false
                )
                .unwrap()
                .is_empty());
            q.mark_indexed("/docs/a.md", stamp, "h").unwrap();
        }
        let q = Queue::open(&file).unwrap();
        assert_eq!(q.folders().unwrap(), [PathBuf::from("/docs")]);
        assert_eq!(q.queued().unwrap(), ["/docs/b.md"]);
        let unchanged = q.enqueue(&[("/docs/a.md".into(), stamp)], false).unwrap();
        assert_eq!(unchanged, ["/docs/a.md"]);
        let touched = Stamp {
            size: 10,
            mtime_ns: 6,
        };
        assert!(q
            .enqueue(&[("/docs/a.md".into(), touched)], false)
            .unwrap()
            .is_empty());
        assert_eq!(q.queued().unwrap(), ["/docs/b.md", "/docs/a.md"]);
        q.mark_failed("/docs/b.md", "b.md: binary").unwrap();
        let added = q.status("/docs/a.md").unwrap().unwrap().added_at;
        q.rename("/docs/a.md", "/docs/c.md").unwrap();
        let c = q.status("/docs/c.md").unwrap().unwrap();
        assert_eq!((c.status.as_str(), c.added_at), ("queued", added));
        assert!(q.status("/docs/a.md").unwrap().is_none());
        let b = q.status("/docs/b.md").unwrap().unwrap();
        assert_eq!(
            (b.status.as_str(), b.error.as_deref()),
            ("failed", Some("b.md: binary"))
        );
    }
}
