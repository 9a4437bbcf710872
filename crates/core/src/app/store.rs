//! Conversations in SQLite (`conversations.sqlite` in the data directory).
//!
//! Durability: WAL with `synchronous = FULL`, so every committed write (a question, a finished
//! answer, a periodic partial answer) survives a crash or power loss. An answer row is written with
//! status `streaming` before generation starts and updated as it goes; one still `streaming` when
//! the store is opened was cut off by a crash or kill and becomes `interrupted`, keeping the text
//! written so far. Only one process should open a data directory's store at a time: the
//! [`crate::App`] opens the library first, whose catalog lock already guarantees that.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;

use crate::{ChatMessage, Error, Result};

/// Schema migrations, applied in order; `PRAGMA user_version` is how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: conversations and their messages.
    "CREATE TABLE conversations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        title TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        text TEXT NOT NULL,
        created_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'done'
            CHECK (status IN ('streaming', 'done', 'interrupted', 'error')),
        retrieval TEXT,
        cited TEXT,
        timings TEXT,
        stop_reason TEXT,
        error TEXT
    );
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
    CREATE INDEX conversations_by_update ON conversations(updated_at);",
    // 2: an answer's quoted evidence, and Almanac's attribution of its sentences to sources.
    "ALTER TABLE messages ADD COLUMN evidence TEXT;
    ALTER TABLE messages ADD COLUMN attributed TEXT;
    ALTER TABLE messages ADD COLUMN sentences TEXT;",
    // 3: the model that wrote an answer (a GGUF file name, or an endpoint's model name).
    "ALTER TABLE messages ADD COLUMN model TEXT;",
];

/// How long a writer waits for another connection's lock before giving up.
const BUSY_TIMEOUT_MS: u64 = 5000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Being generated (or cut off, until the store is next opened).
    Streaming,
    Done,
    /// Cut off by a crash or kill before `done` was stored.
    Interrupted,
    Error,
}

impl MessageStatus {
    fn parse(s: &str) -> MessageStatus {
        match s {
            "streaming" => MessageStatus::Streaming,
            "interrupted" => MessageStatus::Interrupted,
            "error" => MessageStatus::Error,
            _ => MessageStatus::Done,
        }
    }
}

/// A conversation in the list (ids are strings in JSON).
#[derive(Debug, Clone, Serialize)]
pub struct ConversationSummary {
    pub id: String,
    pub title: String,
    pub created_at: String,
    pub updated_at: String,
    pub message_count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    pub id: String,
    pub title: String,
    pub created_at: String,
    pub updated_at: String,
    pub messages: Vec<Message>,
}

/// A stored message. Answers also carry what produced them.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub id: String,
    /// "user" or "assistant".
    pub role: String,
    pub text: String,
    pub created_at: String,
    pub status: MessageStatus,
    /// The model that wrote an answer (absent for questions and for answers stored before
    /// answers recorded it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The `sources` event's `retrieval` object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrieval: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cited: Option<Vec<usize>>,
    /// The `evidence` event's list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Value>,
    /// The `done` event's `attributed` and `sentences`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributed: Option<Vec<usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sentences: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// True for an answer cut off by a crash or kill (no `done` was stored).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// `{code, message}` when the answer failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

/// What a finished answer stores besides its text.
#[derive(Debug, Clone)]
pub struct FinishedAnswer<'a> {
    pub text: &'a str,
    pub cited: &'a [usize],
    pub attributed: &'a [usize],
    pub sentences: Value,
    pub timings: Value,
    pub stop_reason: &'a str,
}

/// The ids of a turn written before generation starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnIds {
    pub question: i64,
    pub answer: i64,
}

pub struct ConversationStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    recovered: usize,
}

impl ConversationStore {
    /// Opens (or creates) the store, migrates it, and marks answers left `streaming` by a crash
    /// as `interrupted`.
    pub fn open(path: &Path) -> Result<ConversationStore> {
        let err = store_error(path);
        let mut conn = Connection::open(path).map_err(&err)?;
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))
            .map_err(&err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(&err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Store {
                path: path.to_path_buf(),
                message: format!("cannot use write-ahead logging (journal mode is {mode})"),
            });
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(&err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(&err)?;
        migrate(&mut conn, path)?;
        let recovered = conn
            .execute(
                "UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'",
                [],
            )
            .map_err(&err)?;
        Ok(ConversationStore {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            recovered,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Answers found `streaming` (cut off) and marked `interrupted` when the store was opened.
    pub fn recovered(&self) -> usize {
        self.recovered
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        store_error(&self.path)
    }

    pub fn create_conversation(&self, title: &str) -> Result<i64> {
        let now = now();
        let conn = self.conn();
        conn.execute(
            "INSERT INTO conversations (title, created_at, updated_at) VALUES (?1, ?2, ?2)",
            params![title, now],
        )
        .map_err(self.err())?;
        Ok(conn.last_insert_rowid())
    }

    pub fn exists(&self, id: i64) -> Result<bool> {
        self.conn()
            .query_row(
                "SELECT 1 FROM conversations WHERE id = ?1",
                [id],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(self.err())
    }

    /// Newest first (by last activity). `query` matches titles and message text, case-insensitively
    /// for ASCII letters.
    pub fn list(&self, query: Option<&str>) -> Result<Vec<ConversationSummary>> {
        let pattern = query
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(|q| format!("%{}%", escape_like(q)));
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT c.id, c.title, c.created_at, c.updated_at,
                        (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id)
                 FROM conversations c
                 WHERE ?1 IS NULL
                    OR c.title LIKE ?1 ESCAPE '\\'
                    OR EXISTS (SELECT 1 FROM messages m
                               WHERE m.conversation_id = c.id AND m.text LIKE ?1 ESCAPE '\\')
                 ORDER BY c.updated_at DESC, c.id DESC",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([pattern], |r| {
                Ok(ConversationSummary {
                    id: r.get::<_, i64>(0)?.to_string(),
                    title: r.get(1)?,
                    created_at: r.get(2)?,
                    updated_at: r.get(3)?,
                    message_count: r.get::<_, i64>(4)? as usize,
                })
            })
            .map_err(self.err())?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(self.err())
    }

    pub fn summary(&self, id: i64) -> Result<ConversationSummary> {
        self.conn()
            .query_row(
                "SELECT c.id, c.title, c.created_at, c.updated_at,
                        (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id)
                 FROM conversations c WHERE c.id = ?1",
                [id],
                |r| {
                    Ok(ConversationSummary {
                        id: r.get::<_, i64>(0)?.to_string(),
                        title: r.get(1)?,
                        created_at: r.get(2)?,
                        updated_at: r.get(3)?,
                        message_count: r.get::<_, i64>(4)? as usize,
                    })
                },
            )
            .optional()
            .map_err(self.err())?
            .ok_or_else(|| conversation_not_found(id))
    }

    pub fn get(&self, id: i64) -> Result<Conversation> {
        let summary = self.summary(id)?;
        let messages = self.messages(id)?;
        Ok(Conversation {
            id: summary.id,
            title: summary.title,
            created_at: summary.created_at,
            updated_at: summary.updated_at,
            messages,
        })
    }

    pub fn messages(&self, conversation: i64) -> Result<Vec<Message>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, role, text, created_at, status, retrieval, cited, timings, stop_reason, error,
                        evidence, attributed, sentences, model
                 FROM messages WHERE conversation_id = ?1 ORDER BY id",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([conversation], |r| {
                let status = MessageStatus::parse(&r.get::<_, String>(4)?);
                Ok(Message {
                    id: r.get::<_, i64>(0)?.to_string(),
                    role: r.get(1)?,
                    text: r.get(2)?,
                    created_at: r.get(3)?,
                    status,
                    model: r.get(13)?,
                    retrieval: json_column(r.get(5)?),
                    cited: json_column(r.get(6)?).and_then(|v| serde_json::from_value(v).ok()),
                    evidence: json_column(r.get(10)?),
                    attributed: json_column(r.get(11)?)
                        .and_then(|v| serde_json::from_value(v).ok()),
                    sentences: json_column(r.get(12)?),
                    timings: json_column(r.get(7)?),
                    stop_reason: r.get(8)?,
                    interrupted: status == MessageStatus::Interrupted,
                    error: json_column(r.get(9)?),
                })
            })
            .map_err(self.err())?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(self.err())
    }

    /// The conversation as model history: each question with its answer, for answers that have
    /// text (finished, cancelled or interrupted); failed and empty turns are left out.
    pub fn history(&self, conversation: i64) -> Result<Vec<ChatMessage>> {
        Ok(history_of(&self.messages(conversation)?))
    }

    pub fn rename(&self, id: i64, title: &str) -> Result<ConversationSummary> {
        let changed = self
            .conn()
            .execute(
                "UPDATE conversations SET title = ?2 WHERE id = ?1",
                params![id, title],
            )
            .map_err(self.err())?;
        if changed == 0 {
            return Err(conversation_not_found(id));
        }
        self.summary(id)
    }

    /// Deletes the conversation and (cascade) its messages.
    pub fn delete(&self, id: i64) -> Result<()> {
        let changed = self
            .conn()
            .execute("DELETE FROM conversations WHERE id = ?1", [id])
            .map_err(self.err())?;
        if changed == 0 {
            return Err(conversation_not_found(id));
        }
        Ok(())
    }

    /// Writes the question and an empty `streaming` answer in one transaction.
    pub fn begin_turn(&self, conversation: i64, question: &str) -> Result<TurnIds> {
        let now = now();
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err())?;
        let touched = tx
            .execute(
                "UPDATE conversations SET updated_at = ?2 WHERE id = ?1",
                params![conversation, now],
            )
            .map_err(self.err())?;
        if touched == 0 {
            return Err(conversation_not_found(conversation));
        }
        tx.execute(
            "INSERT INTO messages (conversation_id, role, text, created_at, status)
             VALUES (?1, 'user', ?2, ?3, 'done')",
            params![conversation, question, now],
        )
        .map_err(self.err())?;
        let question_id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO messages (conversation_id, role, text, created_at, status)
             VALUES (?1, 'assistant', '', ?2, 'streaming')",
            params![conversation, now],
        )
        .map_err(self.err())?;
        let answer = tx.last_insert_rowid();
        tx.commit().map_err(self.err())?;
        Ok(TurnIds {
            question: question_id,
            answer,
        })
    }

    /// For regenerating: removes the conversation's last answer (if the last message is one) and
    /// writes a new `streaming` answer to its last question. Returns the question's text, the
    /// history before it, and the new answer's id.
    pub fn begin_regeneration(&self, conversation: i64) -> Result<(String, Vec<ChatMessage>, i64)> {
        let messages = self.messages(conversation)?;
        if messages.is_empty() && !self.exists(conversation)? {
            return Err(conversation_not_found(conversation));
        }
        let last_question = messages
            .iter()
            .rposition(|m| m.role == "user")
            .ok_or_else(|| {
                Error::Conflict("the conversation has no question to answer again".into())
            })?;
        if let Some(streaming) = messages
            .iter()
            .find(|m| m.status == MessageStatus::Streaming)
        {
            return Err(Error::Conflict(format!(
                "message {} of this conversation is still being generated",
                streaming.id
            )));
        }
        let question = messages[last_question].text.clone();
        let history = history_of(&messages[..last_question]);
        let now = now();
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err())?;
        for m in &messages[last_question + 1..] {
            tx.execute(
                "DELETE FROM messages WHERE id = ?1",
                [parse_stored_id(&m.id)],
            )
            .map_err(self.err())?;
        }
        tx.execute(
            "UPDATE conversations SET updated_at = ?2 WHERE id = ?1",
            params![conversation, now],
        )
        .map_err(self.err())?;
        tx.execute(
            "INSERT INTO messages (conversation_id, role, text, created_at, status)
             VALUES (?1, 'assistant', '', ?2, 'streaming')",
            params![conversation, now],
        )
        .map_err(self.err())?;
        let answer = tx.last_insert_rowid();
        tx.commit().map_err(self.err())?;
        Ok((question, history, answer))
    }

    pub fn save_retrieval(&self, answer: i64, retrieval: &Value) -> Result<()> {
        self.set_answer_column(answer, "retrieval", &retrieval.to_string())
    }

    /// The model writing the answer, stored when it starts.
    pub fn save_model(&self, answer: i64, model: &str) -> Result<()> {
        self.set_answer_column(answer, "model", model)
    }

    /// The `evidence` event's quotes, stored with the answer as soon as they are found.
    pub fn save_evidence(&self, answer: i64, evidence: &Value) -> Result<()> {
        self.set_answer_column(answer, "evidence", &evidence.to_string())
    }

    /// `column` is one of the names above, never caller input.
    fn set_answer_column(&self, answer: i64, column: &'static str, value: &str) -> Result<()> {
        self.conn()
            .execute(
                &format!("UPDATE messages SET {column} = ?2 WHERE id = ?1"),
                params![answer, value],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// The text generated so far (a kill keeps it).
    pub fn save_partial(&self, answer: i64, text: &str) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE messages SET text = ?2 WHERE id = ?1 AND status = 'streaming'",
                params![answer, text],
            )
            .map_err(self.err())?;
        Ok(())
    }

    pub fn finish_answer(
        &self,
        conversation: i64,
        answer: i64,
        done: &FinishedAnswer,
    ) -> Result<()> {
        let now = now();
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err())?;
        tx.execute(
            "UPDATE messages SET text = ?2, status = 'done', cited = ?3, timings = ?4, stop_reason = ?5,
                attributed = ?6, sentences = ?7
             WHERE id = ?1",
            params![
                answer,
                done.text,
                serde_json::to_string(done.cited).expect("numbers serialise"),
                done.timings.to_string(),
                done.stop_reason,
                serde_json::to_string(done.attributed).expect("numbers serialise"),
                done.sentences.to_string(),
            ],
        )
        .map_err(self.err())?;
        tx.execute(
            "UPDATE conversations SET updated_at = ?2 WHERE id = ?1",
            params![conversation, now],
        )
        .map_err(self.err())?;
        tx.commit().map_err(self.err())
    }

    /// An answer that failed: what was generated before the failure, and the error.
    pub fn fail_answer(&self, answer: i64, partial: &str, error: &Error) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE messages SET text = ?2, status = 'error', error = ?3 WHERE id = ?1",
                params![answer, partial, error.to_json().to_string()],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// The conversation as Markdown: its title, each question and answer, and each answer's
    /// numbered sources with their paths and lines.
    pub fn export_markdown(&self, id: i64) -> Result<String> {
        Ok(crate::app::export::to_markdown(&self.get(id)?))
    }
}

fn history_of(messages: &[Message]) -> Vec<ChatMessage> {
    let mut history = Vec::new();
    let mut question: Option<&Message> = None;
    for m in messages {
        if m.role == "user" {
            question = Some(m);
        } else if let Some(q) = question.take() {
            if !m.text.trim().is_empty() && m.status != MessageStatus::Streaming {
                history.push(ChatMessage::user(q.text.clone()));
                history.push(ChatMessage::assistant(m.text.clone()));
            }
        }
    }
    history
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let err = store_error(path);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(&err)?;
    if version as usize > MIGRATIONS.len() {
        return Err(Error::Store {
            path: path.to_path_buf(),
            message: format!(
                "schema version {version} is newer than this Almanac knows ({}); use a newer Almanac",
                MIGRATIONS.len()
            ),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(&err)?;
        tx.execute_batch(sql).map_err(&err)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(&err)?;
        tx.commit().map_err(&err)?;
    }
    Ok(())
}

/// The schema version this code writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

fn store_error(path: &Path) -> impl Fn(rusqlite::Error) -> Error {
    let path = path.to_path_buf();
    move |e| Error::Store {
        path: path.clone(),
        message: almanac_indexes::storage::explain_sqlite(&path, &e),
    }
}

fn conversation_not_found(id: i64) -> Error {
    Error::not_found(format!("no conversation {id}"))
}

fn parse_stored_id(id: &str) -> i64 {
    id.parse().expect("stored ids are integers")
}

fn json_column(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn escape_like(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// RFC 3339 in UTC with milliseconds: sorts as text in time order.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
