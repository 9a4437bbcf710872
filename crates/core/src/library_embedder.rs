//! Which embedding model a library's vectors come from: recorded in its catalog, checked at every
//! open (vectors of two models are never mixed), and changed by re-embedding every chunk.
//!
//! A change keeps the library answering from the old vectors (and the old model for questions)
//! until every chunk has its new vector; then the catalog switches all of them in one transaction
//! (`Index::finish_embedder_change`). The new vectors are stored batch by batch, so a change killed
//! half way resumes where it stopped; the `embedding_model` setting is saved only once all of them
//! are stored, and an open that finds the setting already naming the new model finishes the switch.

use std::path::Path;

use almanac_engine::Embedder;
use almanac_indexes::{chunk_context, EmbedderChange, Error as IndexError, Index};

use crate::{Error, Result};

/// Chunks embedded and stored per step of a change (one catalog transaction each).
pub const REEMBED_BATCH: usize = 64;

/// Opens the library in `dir` for `embedder`: records the model in a library that has none yet,
/// finishes a change to this model whose vectors are all stored, and refuses a library whose
/// vectors come from another model.
pub fn open_library_index(dir: &Path, embedder: &Embedder) -> Result<Index> {
    let mut index = match Index::open(dir, embedder.dim()) {
        // A change to a model of another width, interrupted after the setting was saved: opened
        // at the width it has, to finish below.
        Err(IndexError::DimensionMismatch { stored, .. }) => Index::open(dir, stored)?,
        other => other?,
    };
    match index.embedder()? {
        None if index.dim() == embedder.dim() => index.record_embedder(embedder.name())?,
        Some(name) if name == embedder.name() && index.dim() == embedder.dim() => {}
        recorded => {
            let change = index.embedder_change()?;
            let finishing = change.as_ref().is_some_and(|c| {
                c.name == embedder.name() && c.dim == embedder.dim() && c.done == c.total
            });
            if !(finishing && index.finish_embedder_change()?) {
                return Err(Error::EmbedderMismatch {
                    library: dir.to_path_buf(),
                    recorded: recorded.unwrap_or_else(|| format!("of {} dimensions", index.dim())),
                    configured: embedder.name().to_owned(),
                });
            }
        }
    }
    Ok(index)
}

/// Progress of a change: chunks with their new vector, of all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ReembedProgress {
    pub done: usize,
    pub total: usize,
}

/// Re-embeds every chunk of the library behind `index` with `new` (resuming a change to the same
/// model), reporting progress after each batch; the old vectors stay searched until the last
/// chunk has its new one. Locks the index for writing only to store a batch. Returns `true` once
/// every chunk is re-embedded (then call [`switch`]), `false` if `cancel` said stop first.
pub fn reembed(
    index: &std::sync::RwLock<Index>,
    new: &Embedder,
    on_progress: &mut dyn FnMut(ReembedProgress),
    cancel: &dyn Fn() -> bool,
) -> Result<bool> {
    let change = write(index).begin_embedder_change(new.name(), new.dim())?;
    on_progress(progress(&change));
    loop {
        if cancel() {
            return Ok(false);
        }
        let batch = read(index).chunks_to_reembed(REEMBED_BATCH)?;
        if batch.is_empty() {
            return Ok(true);
        }
        let texts: Vec<String> = batch
            .iter()
            .map(|c| chunk_context(&c.title, &c.heading, &c.text))
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = new.embed(&refs)?;
        let rows: Vec<(u64, Vec<f32>)> = batch.iter().map(|c| c.id).zip(vectors).collect();
        let mut index = write(index);
        index.store_reembedded(&rows)?;
        if let Some(change) = index.embedder_change()? {
            on_progress(progress(&change));
        }
    }
}

/// Switches the library to the re-embedded vectors (see [`reembed`]); `false` if chunks stored
/// meanwhile still wait for theirs (run [`reembed`] again).
pub fn switch(index: &mut Index) -> Result<bool> {
    Ok(index.finish_embedder_change()?)
}

fn progress(change: &EmbedderChange) -> ReembedProgress {
    ReembedProgress {
        done: change.done,
        total: change.total,
    }
}

fn read(lock: &std::sync::RwLock<Index>) -> std::sync::RwLockReadGuard<'_, Index> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write(lock: &std::sync::RwLock<Index>) -> std::sync::RwLockWriteGuard<'_, Index> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
