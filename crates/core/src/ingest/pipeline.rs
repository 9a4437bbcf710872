//! The stages of an ingestion run, each on its own thread so that both cores stay busy:
//!
//! 1. parse threads read, hash and parse files (in worker processes), a few ahead;
//! 2. the chunking thread cuts each document into chunks and gathers documents into batches,
//!    handing a batch over as soon as the embedder is free (or once it is large);
//! 3. the embedding thread embeds a batch on the embedder's thread pool;
//! 4. the calling thread stores each embedded document (one catalog transaction each), marks it
//!    indexed in the queue, commits the search indexes now and then, and reports events.
//!
//! So the next batch is parsed and cut while one embeds, and embeds while the one before is stored
//! and committed. Crash-safety is the calling thread's, as before: a file is marked indexed only
//! after its document is durably in the catalog, and the channels between the stages are bounded,
//! so a kill loses at most the work in flight, which the queue still holds as queued.

use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use almanac_indexes::{chunk_context, ChunkInput, DocumentInput};

use super::progress::Progress;
use super::{drafts, write_lock, EmbedderTokens, Ingest, IngestReport, Parsed, Pending};
use crate::queue::Stamp;
use crate::{Error, IngestEvent, Result};

/// Chunks embedded in one `Embedder::embed` call: large enough to keep the matrix products
/// efficient, small enough for progress to move often.
const EMBED_BATCH: usize = 32;
/// A batch waits for the embedder to be free until it holds this many chunks.
const BATCH_MAX: usize = 4 * EMBED_BATCH;
/// Parsed documents waiting to be chunked at most.
const PARSE_AHEAD: usize = 8;
/// Messages waiting for the storing thread at most (a batch and its progress).
const STORE_AHEAD: usize = 16;
/// The search indexes are committed after this many documents, or this long, and at the end.
const COMMIT_EVERY_DOCS: usize = 256;
const COMMIT_EVERY: Duration = Duration::from_secs(30);
/// How long the chunking thread waits for another parsed document while the embedder is busy.
const GATHER_WAIT: Duration = Duration::from_millis(20);

/// What the storing (calling) thread is told.
enum ToStore {
    /// A file's content is as indexed: nothing to embed.
    Unchanged {
        key: String,
        stamp: Stamp,
        hash: String,
    },
    /// A file could not be read or parsed.
    Unparsed { key: String, error: String },
    /// A document was cut into this many chunks and waits to be embedded.
    Chunked { key: String, chunks: usize },
    /// This many more chunks were embedded.
    Embedded(usize),
    /// Documents with one vector per chunk, in order.
    Ready(Vec<Pending>, Vec<Vec<f32>>),
    /// Embedding failed: the run stops.
    EmbedFailed(Error),
}

impl Ingest<'_> {
    /// Runs the stages over `work` (queued files) until every file has an outcome.
    pub(super) fn process(
        &self,
        work: Vec<String>,
        force: bool,
        report: &mut IngestReport,
        on_event: &mut dyn FnMut(IngestEvent),
    ) -> Result<()> {
        if work.is_empty() {
            return Ok(());
        }
        let mut progress = Progress::new(&work);
        let parse_threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 4)
            .min(work.len());
        let jobs = Mutex::new(VecDeque::from(work));
        let (parsed_tx, parsed_rx) = sync_channel::<Parsed>(PARSE_AHEAD);
        // No room: a batch is handed over only when the embedding thread waits for one.
        let (batch_tx, batch_rx) = sync_channel::<Vec<Pending>>(0);
        let (store_tx, store_rx) = sync_channel::<ToStore>(STORE_AHEAD);
        std::thread::scope(|scope| -> Result<()> {
            for _ in 0..parse_threads {
                let tx = parsed_tx.clone();
                let jobs = &jobs;
                scope.spawn(move || loop {
                    let Some(key) = jobs.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
                    else {
                        break;
                    };
                    if tx.send(self.parse_one(key, force)).is_err() {
                        break;
                    }
                });
            }
            drop(parsed_tx);
            let to_store = store_tx.clone();
            scope.spawn(move || self.chunk_stage(parsed_rx, batch_tx, to_store));
            scope.spawn(move || self.embed_stage(batch_rx, store_tx));
            let result = self.store_stage(&store_rx, &mut progress, report, on_event);
            // On an error the other stages stop at their next send.
            drop(store_rx);
            result
        })?;
        write_lock(self.index).commit()?;
        if let Some(event) = progress.event(true) {
            on_event(event);
        }
        Ok(())
    }

    /// Cuts parsed documents into chunks and hands them to the embedding thread in batches.
    fn chunk_stage(
        &self,
        parsed: Receiver<Parsed>,
        batches: SyncSender<Vec<Pending>>,
        store: SyncSender<ToStore>,
    ) {
        let mut pending: Vec<Pending> = Vec::new();
        let mut chunks = 0usize;
        loop {
            // While a batch waits, the next document is awaited only briefly, so that the batch
            // goes the moment the embedder is free; otherwise as long as it takes.
            let next = if pending.is_empty() {
                parsed.recv().map_err(|_| RecvTimeoutError::Disconnected)
            } else {
                parsed.recv_timeout(GATHER_WAIT)
            };
            match next {
                Ok(Parsed::Document {
                    key,
                    stamp,
                    hash,
                    modified,
                    doc,
                }) => {
                    let drafts = drafts(&doc, self.settings, &EmbedderTokens(self.embedder));
                    let message = ToStore::Chunked {
                        key: key.clone(),
                        chunks: drafts.len(),
                    };
                    if store.send(message).is_err() {
                        return;
                    }
                    chunks += drafts.len();
                    let input = DocumentInput {
                        path: key.clone(),
                        title: doc.title,
                        content_hash: hash,
                        modified,
                    };
                    pending.push(Pending {
                        key,
                        stamp,
                        input,
                        drafts,
                    });
                }
                Ok(Parsed::Unchanged { key, stamp, hash }) => {
                    if store.send(ToStore::Unchanged { key, stamp, hash }).is_err() {
                        return;
                    }
                }
                Ok(Parsed::Failed { key, error }) => {
                    if store.send(ToStore::Unparsed { key, error }).is_err() {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if chunks >= BATCH_MAX {
                if batches.send(std::mem::take(&mut pending)).is_err() {
                    return;
                }
                chunks = 0;
            } else if !pending.is_empty() {
                match batches.try_send(std::mem::take(&mut pending)) {
                    Ok(()) => chunks = 0,
                    Err(TrySendError::Full(batch)) => pending = batch,
                    Err(TrySendError::Disconnected(_)) => return,
                }
            }
        }
        if !pending.is_empty() {
            let _ = batches.send(pending);
        }
    }

    /// Embeds each batch's chunks (with their document's title and heading), `EMBED_BATCH` at a
    /// time, and passes the batch on with its vectors.
    fn embed_stage(&self, batches: Receiver<Vec<Pending>>, store: SyncSender<ToStore>) {
        for batch in batches {
            let contexts: Vec<String> = batch
                .iter()
                .flat_map(|p| {
                    p.drafts
                        .iter()
                        .map(|d| chunk_context(&p.input.title, &d.heading, &d.text))
                })
                .collect();
            let mut vectors = Vec::with_capacity(contexts.len());
            for texts in contexts.chunks(EMBED_BATCH) {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                match self.embedder.embed(&refs) {
                    Ok(v) => vectors.extend(v),
                    Err(e) => {
                        let _ = store.send(ToStore::EmbedFailed(e.into()));
                        return;
                    }
                }
                if store.send(ToStore::Embedded(texts.len())).is_err() {
                    return;
                }
            }
            if store.send(ToStore::Ready(batch, vectors)).is_err() {
                return;
            }
        }
    }

    /// Records every file's outcome, storing embedded documents, until the other stages are done.
    fn store_stage(
        &self,
        messages: &Receiver<ToStore>,
        progress: &mut Progress,
        report: &mut IngestReport,
        on_event: &mut dyn FnMut(IngestEvent),
    ) -> Result<()> {
        let mut since_commit = 0usize;
        let mut last_commit = Instant::now();
        for message in messages {
            match message {
                ToStore::Unchanged { key, stamp, hash } => {
                    progress.parsed(&key, 0);
                    self.queue.mark_indexed(&key, stamp, &hash)?;
                    report.unchanged += 1;
                    on_event(IngestEvent::Unchanged { path: key.into() });
                }
                ToStore::Unparsed { key, error } => {
                    progress.parsed(&key, 0);
                    self.fail(&key, error, report, on_event)?;
                }
                ToStore::Chunked { key, chunks } => {
                    progress.parsed(&key, chunks);
                    on_event(IngestEvent::Indexing { path: key.into() });
                }
                ToStore::Embedded(chunks) => progress.embedded(chunks),
                ToStore::Ready(batch, vectors) => {
                    since_commit += self.store(batch, vectors, report, on_event)?;
                }
                ToStore::EmbedFailed(e) => return Err(e),
            }
            if let Some(event) = progress.event(false) {
                on_event(event);
            }
            if since_commit >= COMMIT_EVERY_DOCS
                || (since_commit > 0 && last_commit.elapsed() >= COMMIT_EVERY)
            {
                write_lock(self.index).commit()?;
                (since_commit, last_commit) = (0, Instant::now());
            }
        }
        Ok(())
    }

    /// Stores each document of an embedded batch. Returns how many were stored.
    fn store(
        &self,
        batch: Vec<Pending>,
        vectors: Vec<Vec<f32>>,
        report: &mut IngestReport,
        on_event: &mut dyn FnMut(IngestEvent),
    ) -> Result<usize> {
        let mut vectors = vectors.into_iter();
        let stored = batch.len();
        for p in batch {
            let chunks: Vec<ChunkInput> = p
                .drafts
                .into_iter()
                .map(|draft| ChunkInput {
                    draft,
                    embedding: vectors.next().expect("one vector per chunk"),
                })
                .collect();
            let count = chunks.len();
            let result = write_lock(self.index).upsert_document(&p.input, chunks);
            match result {
                Ok(_) => {
                    self.queue
                        .mark_indexed(&p.key, p.stamp, &p.input.content_hash)?;
                    report.indexed += 1;
                    report.chunks += count;
                    on_event(IngestEvent::Indexed {
                        path: p.key.into(),
                        chunks: count,
                    });
                }
                Err(e) => self.fail(&p.key, e.to_string(), report, on_event)?,
            }
        }
        Ok(stored)
    }
}
