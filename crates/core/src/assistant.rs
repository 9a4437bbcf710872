//! The assistant: one library, one embedder, one chat model (loaded on first question).
//!
//! Shared by every front end at once (`&self` everywhere): searches read the index while an ingestion
//! writes it document by document, and one answer is generated at a time.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use almanac_engine::{
    CancelFlag, ChatMessage, ChatModel, Embedder, GenerationParams, LoadOptions, StopReason,
};
use almanac_indexes::Index;
use serde::Serialize;

use crate::prompt::PromptParts;
use crate::retrieval::{retrieve, Retrieval};
use crate::{
    cited_sources, ingest, AnswerEvent, Error, IngestEvent, IngestReport, Parser, Paths, Queue,
    Result, Settings,
};

pub struct Assistant {
    paths: Paths,
    settings: RwLock<Settings>,
    embedder: Embedder,
    index: RwLock<Index>,
    chat: Mutex<Option<ChatModel>>,
    queue: Queue,
    parser: Parser,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub retrieval_ms: f64,
    pub prompt_tokens: usize,
    /// From the question to the first streamed text, retrieval and prompt processing included.
    pub ttft_ms: f64,
    pub tokens: usize,
    pub tokens_per_s: f64,
    pub total_ms: f64,
}

/// A finished answer with everything that produced it.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub answer: String,
    pub retrieval: Retrieval,
    pub cited: Vec<usize>,
    pub stop_reason: StopReason,
    pub timings: Timings,
}

impl Assistant {
    /// Opens (or creates) the library in the data directory and loads the embedding model.
    pub fn open(paths: Paths) -> Result<Assistant> {
        let settings = Settings::load(&paths.settings_file())?;
        let embedder = load_embedder(&paths, &settings)?;
        let index = Index::open(&paths.library_dir(), embedder.dim())?;
        let queue = Queue::open(&paths.library_dir().join("queue.sqlite"))?;
        Ok(Assistant {
            queue,
            parser: Parser::detect(),
            paths,
            settings: RwLock::new(settings),
            embedder,
            index: RwLock::new(index),
            chat: Mutex::new(None),
        })
    }

    /// A copy of the current settings.
    pub fn settings(&self) -> Settings {
        read(&self.settings).clone()
    }

    /// Changes the settings for this process (not saved; see [`Assistant::save_settings`]). A
    /// changed chat model or context length takes effect at the next question.
    pub fn update_settings(&self, change: impl FnOnce(&mut Settings)) {
        let mut settings = write(&self.settings);
        let before = (
            settings.chat_model.clone(),
            settings.context_length,
            settings.chat_template.clone(),
        );
        change(&mut settings);
        if before
            != (
                settings.chat_model.clone(),
                settings.context_length,
                settings.chat_template.clone(),
            )
        {
            *lock(&self.chat) = None;
        }
    }

    /// Writes the current settings to `settings.json` (to a temporary file first, then renamed).
    pub fn save_settings(&self) -> Result<()> {
        read(&self.settings).save(&self.paths.settings_file())
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// The library index, for reading (listing, searching, statistics).
    pub fn index(&self) -> RwLockReadGuard<'_, Index> {
        read(&self.index)
    }

    /// The library index, for removing or re-indexing documents.
    pub fn index_mut(&self) -> RwLockWriteGuard<'_, Index> {
        write(&self.index)
    }

    pub fn chat_model_path(&self) -> PathBuf {
        self.paths.resolve_model(&read(&self.settings).chat_model)
    }

    /// Ingests files and folders (see [`crate::discover`]), plus whatever an earlier run left
    /// queued; unchanged files are skipped.
    pub fn ingest(
        &self,
        paths: &[PathBuf],
        on_event: &mut dyn FnMut(IngestEvent),
    ) -> Result<IngestReport> {
        let found = ingest::discover(paths)?;
        self.ingest_found(found, false, on_event)
    }

    /// Ingests files already found by [`crate::discover`]; `force` re-indexes unchanged ones.
    pub fn ingest_found(
        &self,
        found: ingest::Discovered,
        force: bool,
        on_event: &mut dyn FnMut(IngestEvent),
    ) -> Result<IngestReport> {
        let settings = self.settings();
        ingest::Ingest {
            index: &self.index,
            embedder: &self.embedder,
            settings: &settings,
            parser: &self.parser,
            queue: &self.queue,
        }
        .run(found, force, on_event)
    }

    /// Remembers folders (the library follows them: see [`Assistant::sync`]) and ingests them.
    pub fn add_folders(
        &self,
        folders: &[PathBuf],
        on_event: &mut dyn FnMut(IngestEvent),
    ) -> Result<IngestReport> {
        let mut canonical = Vec::with_capacity(folders.len());
        for f in folders {
            canonical.push(std::fs::canonicalize(f).map_err(crate::Error::io(f))?);
        }
        let found = ingest::discover(&canonical)?;
        for f in &canonical {
            if f.is_dir() {
                self.queue.add_folder(f)?;
            }
        }
        self.ingest_found(found, false, on_event)
    }

    /// Brings the library in line with its folders: files left queued are indexed, new and changed
    /// files indexed, documents whose files are gone removed.
    pub fn sync(&self, on_event: &mut dyn FnMut(IngestEvent)) -> Result<IngestReport> {
        let folders: Vec<PathBuf> = self
            .queue
            .folders()?
            .into_iter()
            .filter(|f| f.is_dir())
            .collect();
        self.remove_missing(on_event)?;
        let found = if folders.is_empty() {
            ingest::Discovered::default()
        } else {
            match ingest::discover(&folders) {
                Ok(found) => found,
                Err(crate::Error::NothingToIngest { .. }) => ingest::Discovered::default(),
                Err(e) => return Err(e),
            }
        };
        self.ingest_found(found, false, on_event)
    }

    /// Removes documents (and queue entries) whose files no longer exist.
    pub fn remove_missing(&self, on_event: &mut dyn FnMut(IngestEvent)) -> Result<usize> {
        let mut gone: Vec<String> = self
            .index()
            .documents()?
            .into_iter()
            .map(|d| d.path)
            .collect();
        gone.extend(self.queue.statuses()?.into_iter().map(|s| s.path));
        gone.sort();
        gone.dedup();
        gone.retain(|p| !std::path::Path::new(p).exists());
        for path in &gone {
            self.remove_path(path)?;
            on_event(IngestEvent::Removed { path: path.into() });
        }
        if !gone.is_empty() {
            self.index_mut().commit()?;
        }
        Ok(gone.len())
    }

    /// Removes a document from the index and the queue (not committed: call `commit` after a batch).
    pub fn remove_path(&self, path: &str) -> Result<bool> {
        let removed = self.index_mut().remove_document(path)?;
        let forgotten = self.queue.forget(path)?;
        Ok(removed || forgotten)
    }

    /// The ingestion queue and per-file statuses.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// How this process parses documents.
    pub fn parser(&self) -> &Parser {
        &self.parser
    }

    pub fn retrieve(&self, query: &str) -> Result<Retrieval> {
        retrieve(&self.index(), &self.embedder, &self.settings(), query)
    }

    /// The chat model, loaded if it is not yet; held for as long as the guard lives.
    pub fn chat_model(&self) -> Result<ChatModelGuard<'_>> {
        let mut chat = lock(&self.chat);
        if chat.is_none() {
            let settings = self.settings();
            let path = self.paths.resolve_model(&settings.chat_model);
            if !path.exists() {
                return Err(Error::ModelMissing { path });
            }
            let options = LoadOptions {
                chat_template: settings.chat_template,
                context_length: Some(settings.context_length),
            };
            *chat = Some(ChatModel::load(&path, &options)?);
        }
        Ok(ChatModelGuard(chat))
    }

    /// Answers `question` from the library, given the conversation so far (`history`, alternating
    /// user and assistant messages). Emits `Sources`, then `Token`s, then `Done`.
    pub fn ask(
        &self,
        question: &str,
        history: &[ChatMessage],
        cancel: &CancelFlag,
        on_event: &mut dyn FnMut(AnswerEvent),
    ) -> Result<Answer> {
        let question = question.trim();
        if question.is_empty() {
            return Err(Error::EmptyQuestion);
        }
        let started = Instant::now();
        let mut retrieval = self.retrieve(&standalone_query(question, history))?;
        let today = chrono::Local::now().format("%Y-%m-%d").to_string();
        let settings = self.settings();
        let mut model = self.chat_model()?;
        let parts = PromptParts {
            system_prompt: settings.system_prompt.as_deref(),
            today: &today,
            passages: &retrieval.passages,
            history,
            question,
        };
        let prompt = parts.fit(&model, settings.max_answer_tokens)?;
        if prompt.passages_used < retrieval.passages.len() {
            retrieval.passages.truncate(prompt.passages_used);
            retrieval.used = prompt.passages_used > 0;
            if !retrieval.used {
                retrieval.reason = Some(
                    "no passage fitted in the model's context window beside the question".into(),
                );
            }
        }
        on_event(AnswerEvent::Sources {
            retrieval: retrieval.clone(),
        });

        let params = GenerationParams {
            max_tokens: settings.max_answer_tokens,
            temperature: settings.temperature,
            top_p: settings.top_p,
            top_k: settings.top_k,
            repeat_penalty: settings.repeat_penalty,
            seed: settings.seed,
            ..GenerationParams::default()
        };
        let mut first_token_at = None;
        let generation = model.generate(&prompt.text, &params, cancel, &mut |delta| {
            first_token_at.get_or_insert_with(Instant::now);
            on_event(AnswerEvent::Token {
                text: delta.to_owned(),
            });
        })?;
        let total = started.elapsed();
        let decode_s = generation.decode.as_secs_f64();
        let timings = Timings {
            retrieval_ms: retrieval.elapsed_ms,
            prompt_tokens: generation.prompt_tokens,
            ttft_ms: first_token_at.map_or(total, |t| t - started).as_secs_f64() * 1000.0,
            tokens: generation.generated_tokens,
            tokens_per_s: if decode_s > 0.0 {
                generation.generated_tokens as f64 / decode_s
            } else {
                0.0
            },
            total_ms: total.as_secs_f64() * 1000.0,
        };
        let cited = cited_sources(&generation.text, retrieval.passages.len());
        on_event(AnswerEvent::Done {
            stop_reason: generation.stop_reason,
            cited: cited.clone(),
            timings: timings.clone(),
        });
        Ok(Answer {
            answer: generation.text,
            retrieval,
            cited,
            stop_reason: generation.stop_reason,
            timings,
        })
    }
}

/// Exclusive use of the loaded chat model.
pub struct ChatModelGuard<'a>(MutexGuard<'a, Option<ChatModel>>);

impl std::ops::Deref for ChatModelGuard<'_> {
    type Target = ChatModel;
    fn deref(&self) -> &ChatModel {
        self.0.as_ref().expect("loaded before the guard was made")
    }
}

impl std::ops::DerefMut for ChatModelGuard<'_> {
    fn deref_mut(&mut self) -> &mut ChatModel {
        self.0.as_mut().expect("loaded before the guard was made")
    }
}

/// A panic elsewhere must not make the library unusable: the data behind these locks stays valid
/// (the index commits through SQLite transactions), so a poisoned lock is simply taken over.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

fn lock<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(|e| e.into_inner())
}

/// The configured embedding model.
pub fn load_embedder(paths: &Paths, settings: &Settings) -> Result<Embedder> {
    let dir = paths.resolve_model(&settings.embedding_model);
    if !dir.exists() {
        return Err(Error::ModelMissing { path: dir });
    }
    Ok(Embedder::load(&dir)?)
}

/// A follow-up ("and when was she born?") is searched together with the previous question, which
/// carries the subject it refers to.
fn standalone_query(question: &str, history: &[ChatMessage]) -> String {
    match history.iter().rev().find(|m| m.role == "user") {
        Some(previous) => format!("{} {}", previous.content.trim(), question),
        None => question.to_owned(),
    }
}
