//! The SQLite catalog: documents and chunks with their embeddings. The source of truth.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use crate::chunking::ChunkDraft;
use crate::error::{Error, Result};
use crate::hash::new_instance_id;

const SCHEMA_VERSION: &str = "1";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    path         TEXT NOT NULL UNIQUE,
    title        TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    modified     INTEGER,
    indexed_at   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal     INTEGER NOT NULL,
    heading     TEXT NOT NULL,
    text        TEXT NOT NULL,
    line_start  INTEGER NOT NULL,
    line_end    INTEGER NOT NULL,
    embedding   BLOB NOT NULL,
    location    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(document_id, ordinal);
CREATE TABLE IF NOT EXISTS reembedded (
    chunk_id  INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    embedding BLOB NOT NULL
);
";

/// `meta` keys of the embedding model: the one whose vectors the chunks hold, and the one they are
/// being re-embedded with (JSON `{"name", "dim"}`) while a change is under way.
const META_EMBEDDER: &str = "embedder";
const META_EMBEDDER_CHANGE: &str = "embedder_change";

pub(crate) struct Catalog {
    conn: Connection,
    path: PathBuf,
    /// Identifies this catalog; the derived indexes record it so that a catalog replaced under them
    /// (chunk ids start again at 1) is noticed.
    pub(crate) instance_id: String,
    /// `meta.generation`: advanced by one in the same transaction as every change to documents or
    /// chunks. The derived indexes are stamped with the generation they hold.
    generation: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ChangeTarget {
    name: String,
    dim: usize,
}

/// A document row.
#[derive(Debug, Clone)]
pub(crate) struct DocumentRow {
    pub id: i64,
    pub path: String,
    pub title: String,
    pub content_hash: String,
    pub modified: Option<i64>,
    pub indexed_at: i64,
    pub chunk_count: usize,
}

/// A chunk joined with its document, as search hits need it.
#[derive(Debug, Clone)]
pub(crate) struct ChunkRow {
    pub id: u64,
    pub path: String,
    pub title: String,
    pub modified: Option<i64>,
    pub heading: String,
    pub text: String,
    pub line_start: usize,
    pub line_end: usize,
    pub embedding: Vec<f32>,
    pub location: String,
}

/// What an upsert changed.
pub(crate) struct Upserted {
    pub document_id: i64,
    pub removed: Vec<u64>,
    pub added: Vec<u64>,
    /// The catalog's generation after the change (the one before is this minus one).
    pub generation: u64,
}

/// What a remove changed.
pub(crate) struct Removed {
    pub removed: Vec<u64>,
    pub generation: u64,
}

/// Advances `meta.generation` inside `tx`; returns the new value.
fn advance_generation(tx: &rusqlite::Transaction) -> rusqlite::Result<u64> {
    let g: i64 = tx.query_row(
        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation' RETURNING CAST(value AS INTEGER)",
        [],
        |r| r.get(0),
    )?;
    Ok(g as u64)
}

pub(crate) fn encode_embedding(v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

pub(crate) fn decode_embedding(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Deletes a document's chunks and returns their ids (the other stores drop them by id).
fn delete_chunks(tx: &rusqlite::Transaction, document: i64) -> rusqlite::Result<Vec<u64>> {
    let removed = tx
        .prepare("SELECT id FROM chunks WHERE document_id = ?1")?
        .query_map([document], |r| r.get::<_, i64>(0))?
        .map(|id| id.map(|id| id as u64))
        .collect::<rusqlite::Result<Vec<u64>>>()?;
    tx.execute("DELETE FROM chunks WHERE document_id = ?1", [document])?;
    Ok(removed)
}

fn to_usize(v: i64) -> usize {
    usize::try_from(v).unwrap_or(0)
}

impl Catalog {
    /// Opens or creates the catalog at `path` and takes an exclusive lock on it for the lifetime of
    /// the connection (a second `Index` on the same directory gets `Error::Locked`).
    pub(crate) fn open(path: &Path, dim: usize) -> Result<Catalog> {
        let err = |e| Error::catalog(path, e);
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_millis(200)).map_err(err)?;
        // Exclusive locking mode before WAL: no shared-memory index, and the lock is held once taken.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Damaged {
                path: path.into(),
                message: format!("cannot use WAL journal (got {mode})"),
            });
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        // Catalogs made before chunks had a location get the column (additive: older builds still
        // read and write them).
        let has_location: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('chunks') WHERE name = 'location'",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        if has_location == 0 {
            conn.execute_batch("ALTER TABLE chunks ADD COLUMN location TEXT NOT NULL DEFAULT ''")
                .map_err(err)?;
        }

        let get = |key: &str| -> Result<Option<String>> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(|e| Error::catalog(path, e))
        };
        let version = get("schema_version")?;
        let stored_dim = get("dim")?;
        let instance = get("instance_id")?;
        let instance_id = match (version, stored_dim, instance) {
            (None, None, None) => {
                let id = new_instance_id();
                let tx = conn.unchecked_transaction().map_err(err)?;
                for (k, v) in [
                    ("schema_version", SCHEMA_VERSION.to_owned()),
                    ("dim", dim.to_string()),
                    ("instance_id", id.clone()),
                    ("generation", "0".to_owned()),
                ] {
                    tx.execute(
                        "INSERT INTO meta(key, value) VALUES (?1, ?2)",
                        params![k, v],
                    )
                    .map_err(err)?;
                }
                tx.commit().map_err(err)?;
                id
            }
            (Some(v), Some(d), Some(id)) => {
                if v != SCHEMA_VERSION {
                    return Err(Error::Damaged {
                        path: path.into(),
                        message: format!("unknown catalog schema version {v} (this build knows {SCHEMA_VERSION})"),
                    });
                }
                let stored: usize = d.parse().map_err(|_| Error::Damaged {
                    path: path.into(),
                    message: format!("meta.dim is not a number: {d:?}"),
                })?;
                if stored != dim {
                    let dir = path
                        .parent()
                        .map(PathBuf::from)
                        .unwrap_or_else(|| path.into());
                    return Err(Error::DimensionMismatch {
                        path: dir,
                        stored,
                        requested: dim,
                    });
                }
                id
            }
            _ => {
                return Err(Error::Damaged {
                    path: path.into(),
                    message: "meta table is incomplete".into(),
                })
            }
        };
        // A write, so that the exclusive lock is taken now rather than at the first upsert.
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('last_opened', strftime('%s','now'))
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [],
        )
        .map_err(err)?;
        // Catalogs made before generations start at 0 (their derived indexes carry no stamp, so
        // they are diffed once and stamped).
        conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', '0')",
            [],
        )
        .map_err(err)?;
        let generation: String = get("generation")?.unwrap_or_default();
        let generation: u64 = generation.parse().map_err(|_| Error::Damaged {
            path: path.into(),
            message: format!("meta.generation is not a number: {generation:?}"),
        })?;
        Ok(Catalog {
            conn,
            path: path.into(),
            instance_id,
            generation,
        })
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The embedding model recorded as the one that made the chunks' vectors.
    pub(crate) fn embedder(&self) -> Result<Option<String>> {
        self.meta(META_EMBEDDER)
    }

    pub(crate) fn set_embedder(&mut self, name: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![META_EMBEDDER, name],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The model the chunks are being re-embedded with, if a change is under way.
    pub(crate) fn embedder_change(&self) -> Result<Option<(String, usize)>> {
        let Some(json) = self.meta(META_EMBEDDER_CHANGE)? else {
            return Ok(None);
        };
        let target: ChangeTarget = serde_json::from_str(&json).map_err(|e| Error::Damaged {
            path: self.path.clone(),
            message: format!("meta.{META_EMBEDDER_CHANGE} is not valid: {e}"),
        })?;
        Ok(Some((target.name, target.dim)))
    }

    /// Starts re-embedding with `name` (`dim`-dimensional), keeping the vectors already made for it
    /// by an interrupted run; a change to another model is abandoned.
    pub(crate) fn begin_embedder_change(&mut self, name: &str, dim: usize) -> Result<()> {
        let same = self
            .embedder_change()?
            .is_some_and(|(n, d)| n == name && d == dim);
        let p = self.path.clone();
        let err = |e| Error::catalog(&p, e);
        let tx = self.conn.transaction().map_err(err)?;
        if !same {
            tx.execute("DELETE FROM reembedded", []).map_err(err)?;
        }
        let target = serde_json::to_string(&ChangeTarget {
            name: name.to_owned(),
            dim,
        })
        .unwrap_or_default();
        tx.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![META_EMBEDDER_CHANGE, target],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// (chunks re-embedded, all chunks) of the change under way.
    pub(crate) fn reembedded_counts(&self) -> Result<(usize, usize)> {
        self.conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM reembedded), (SELECT COUNT(*) FROM chunks)",
                [],
                |r| Ok((to_usize(r.get(0)?), to_usize(r.get(1)?))),
            )
            .map_err(|e| self.err(e))
    }

    /// Up to `limit` chunks not yet re-embedded, in id order: (id, title, heading, text).
    pub(crate) fn chunks_to_reembed(
        &self,
        limit: usize,
    ) -> Result<Vec<(u64, String, String, String)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT c.id, d.title, c.heading, c.text FROM chunks c JOIN documents d ON d.id = c.document_id
                 WHERE NOT EXISTS (SELECT 1 FROM reembedded r WHERE r.chunk_id = c.id) ORDER BY c.id LIMIT ?1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// Stores new vectors of chunks, in one transaction (chunks removed meanwhile are skipped).
    pub(crate) fn store_reembedded(&mut self, vectors: &[(u64, Vec<f32>)]) -> Result<()> {
        let p = self.path.clone();
        let err = |e| Error::catalog(&p, e);
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO reembedded(chunk_id, embedding) SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM chunks WHERE id = ?1)
                     ON CONFLICT(chunk_id) DO UPDATE SET embedding = excluded.embedding",
                )
                .map_err(err)?;
            for (id, v) in vectors {
                stmt.execute(params![*id as i64, encode_embedding(v)])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Switches every chunk to its new vector and records the new model and dimension, in one
    /// transaction that advances the generation; `None` (nothing changed) while some chunk still
    /// lacks a new vector.
    pub(crate) fn finish_embedder_change(&mut self) -> Result<Option<(String, usize)>> {
        let Some((name, dim)) = self.embedder_change()? else {
            return Ok(None);
        };
        let p = self.path.clone();
        let err = |e| Error::catalog(&p, e);
        let tx = self.conn.transaction().map_err(err)?;
        let missing: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM reembedded r WHERE r.chunk_id = c.id)",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        if missing > 0 {
            return Ok(None);
        }
        tx.execute(
            "UPDATE chunks SET embedding = (SELECT r.embedding FROM reembedded r WHERE r.chunk_id = chunks.id)",
            [],
        )
        .map_err(err)?;
        tx.execute("DELETE FROM reembedded", []).map_err(err)?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'dim'",
            [dim.to_string()],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![META_EMBEDDER, name],
        )
        .map_err(err)?;
        tx.execute("DELETE FROM meta WHERE key = ?1", [META_EMBEDDER_CHANGE])
            .map_err(err)?;
        let generation = advance_generation(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        self.generation = generation;
        Ok(Some((name, dim)))
    }

    /// The generation of the committed catalog.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of chunks (a cheap check beside a trusted stamp).
    pub(crate) fn chunk_count(&self) -> Result<usize> {
        self.counts().map(|(_, chunks)| chunks)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Calls `f(id, embedding)` for each chunk (all, in id order, or those in `only`).
    pub(crate) fn for_each_embedding(
        &self,
        only: Option<&[u64]>,
        f: &mut dyn FnMut(u64, Vec<f32>) -> Result<()>,
    ) -> Result<()> {
        match only {
            None => {
                let mut stmt = self
                    .conn
                    .prepare("SELECT id, embedding FROM chunks ORDER BY id")
                    .map_err(|e| self.err(e))?;
                let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
                while let Some(row) = rows.next().map_err(|e| self.err(e))? {
                    let id: i64 = row.get(0).map_err(|e| self.err(e))?;
                    let blob: Vec<u8> = row.get(1).map_err(|e| self.err(e))?;
                    f(id as u64, decode_embedding(&blob))?;
                }
            }
            Some(ids) => {
                let mut stmt = self
                    .conn
                    .prepare_cached("SELECT embedding FROM chunks WHERE id = ?1")
                    .map_err(|e| self.err(e))?;
                for &id in ids {
                    let blob: Option<Vec<u8>> = stmt
                        .query_row([id as i64], |r| r.get(0))
                        .optional()
                        .map_err(|e| self.err(e))?;
                    if let Some(blob) = blob {
                        f(id, decode_embedding(&blob))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        Error::catalog(&self.path, e)
    }

    /// Replaces the document at `path` (keeping its id) and all its chunks, in one transaction.
    pub(crate) fn upsert(
        &mut self,
        path: &str,
        title: &str,
        content_hash: &str,
        modified: Option<i64>,
        chunks: &[(&ChunkDraft, &[f32])],
    ) -> Result<Upserted> {
        let now = unix_now();
        let p = self.path.clone();
        let err = |e| Error::catalog(&p, e);
        let tx = self.conn.transaction().map_err(err)?;
        let existing: Option<i64> = tx
            .query_row("SELECT id FROM documents WHERE path = ?1", [path], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)?;
        let mut removed = Vec::new();
        let document_id = match existing {
            Some(id) => {
                removed = delete_chunks(&tx, id).map_err(err)?;
                tx.execute(
                    "UPDATE documents SET title = ?2, content_hash = ?3, modified = ?4, indexed_at = ?5 WHERE id = ?1",
                    params![id, title, content_hash, modified, now],
                )
                .map_err(err)?;
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO documents(path, title, content_hash, modified, indexed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![path, title, content_hash, modified, now],
                )
                .map_err(err)?;
                tx.last_insert_rowid()
            }
        };
        let mut added = Vec::with_capacity(chunks.len());
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO chunks(document_id, ordinal, heading, text, line_start, line_end, embedding, location)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(err)?;
            for (ordinal, (draft, embedding)) in chunks.iter().enumerate() {
                stmt.execute(params![
                    document_id,
                    ordinal as i64,
                    draft.heading,
                    draft.text,
                    draft.line_start as i64,
                    draft.line_end as i64,
                    encode_embedding(embedding),
                    draft.location,
                ])
                .map_err(err)?;
                added.push(tx.last_insert_rowid() as u64);
            }
        }
        let generation = advance_generation(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        self.generation = generation;
        Ok(Upserted {
            document_id,
            removed,
            added,
            generation,
        })
    }

    /// Removes a document and its chunks; the removed chunk ids and the new generation, or `None` if
    /// there was no such path (nothing changes, the generation stays).
    pub(crate) fn remove(&mut self, path: &str) -> Result<Option<Removed>> {
        let p = self.path.clone();
        let err = |e| Error::catalog(&p, e);
        let tx = self.conn.transaction().map_err(err)?;
        let id: Option<i64> = tx
            .query_row("SELECT id FROM documents WHERE path = ?1", [path], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)?;
        let Some(id) = id else { return Ok(None) };
        let removed = delete_chunks(&tx, id).map_err(err)?;
        tx.execute("DELETE FROM documents WHERE id = ?1", [id])
            .map_err(err)?;
        let generation = advance_generation(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        self.generation = generation;
        Ok(Some(Removed {
            removed,
            generation,
        }))
    }

    const DOCUMENT_SELECT: &'static str =
        "SELECT d.id, d.path, d.title, d.content_hash, d.modified, d.indexed_at,
            (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.id) FROM documents d";

    fn document_row(r: &rusqlite::Row) -> rusqlite::Result<DocumentRow> {
        Ok(DocumentRow {
            id: r.get(0)?,
            path: r.get(1)?,
            title: r.get(2)?,
            content_hash: r.get(3)?,
            modified: r.get(4)?,
            indexed_at: r.get(5)?,
            chunk_count: to_usize(r.get(6)?),
        })
    }

    pub(crate) fn document_by_path(&self, path: &str) -> Result<Option<DocumentRow>> {
        let sql = format!("{} WHERE d.path = ?1", Self::DOCUMENT_SELECT);
        self.conn
            .query_row(&sql, [path], Self::document_row)
            .optional()
            .map_err(|e| self.err(e))
    }

    pub(crate) fn documents(&self) -> Result<Vec<DocumentRow>> {
        let sql = format!("{} ORDER BY d.path", Self::DOCUMENT_SELECT);
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], Self::document_row)
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// (documents, chunks)
    pub(crate) fn counts(&self) -> Result<(usize, usize)> {
        self.conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM chunks)",
                [],
                |r| Ok((to_usize(r.get(0)?), to_usize(r.get(1)?))),
            )
            .map_err(|e| self.err(e))
    }

    /// All chunk ids, ascending.
    pub(crate) fn chunk_ids(&self) -> Result<Vec<u64>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM chunks ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, i64>(0))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(|e| self.err(e))? as u64);
        }
        Ok(out)
    }

    /// Calls `f` for each chunk (all of them, or those in `only`), in id order, without holding them
    /// all in memory.
    pub(crate) fn for_each_chunk(
        &self,
        only: Option<&[u64]>,
        f: &mut dyn FnMut(ChunkRow) -> Result<()>,
    ) -> Result<()> {
        let sql = "SELECT c.id, d.path, d.title, d.modified, c.heading, c.text, c.line_start, c.line_end, c.embedding, c.location
                   FROM chunks c JOIN documents d ON d.id = c.document_id";
        match only {
            None => {
                let mut stmt = self
                    .conn
                    .prepare(&format!("{sql} ORDER BY c.id"))
                    .map_err(|e| self.err(e))?;
                let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
                while let Some(row) = rows.next().map_err(|e| self.err(e))? {
                    f(Self::chunk_row(row).map_err(|e| self.err(e))?)?;
                }
            }
            Some(ids) => {
                let mut stmt = self
                    .conn
                    .prepare_cached(&format!("{sql} WHERE c.id = ?1"))
                    .map_err(|e| self.err(e))?;
                for &id in ids {
                    let row = stmt
                        .query_row([id as i64], Self::chunk_row)
                        .optional()
                        .map_err(|e| self.err(e))?;
                    if let Some(row) = row {
                        f(row)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The chunks with these ids that exist.
    pub(crate) fn chunks(&self, ids: &[u64]) -> Result<HashMap<u64, ChunkRow>> {
        let mut out = HashMap::with_capacity(ids.len());
        self.for_each_chunk(Some(ids), &mut |row| {
            out.insert(row.id, row);
            Ok(())
        })?;
        Ok(out)
    }

    fn chunk_row(r: &rusqlite::Row) -> rusqlite::Result<ChunkRow> {
        let blob: Vec<u8> = r.get(8)?;
        Ok(ChunkRow {
            id: r.get::<_, i64>(0)? as u64,
            path: r.get(1)?,
            title: r.get(2)?,
            modified: r.get(3)?,
            heading: r.get(4)?,
            text: r.get(5)?,
            line_start: to_usize(r.get(6)?),
            line_end: to_usize(r.get(7)?),
            embedding: decode_embedding(&blob),
            location: r.get(9)?,
        })
    }
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
