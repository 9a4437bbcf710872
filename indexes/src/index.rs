//! The library index: one directory holding the catalog and the two search indexes derived from it.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::chunking::ChunkDraft;
use crate::error::{Error, Result};
use crate::fault::{self, Step};
use crate::text::{FieldWeights, TextIndex, SNIPPET_CHARS};
use crate::vectors::{HnswParams, VectorIndex};

/// Reciprocal rank fusion constant: a hit at rank r (1-based) in a ranking scores 1 / (RRF_K + r).
pub const RRF_K: f32 = 60.0;

/// How the BM25 and vector rankings are combined in [`SearchMode::Hybrid`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Fusion {
    /// Reciprocal rank fusion: `Σ 1 / (k + rank)` over the rankings (1-based ranks).
    Rrf { k: f32 },
    /// Normalised convex combination (Bruch et al. 2023): each ranking's scores are min-max scaled
    /// to 0..=1 over its candidates (a chunk missing from a ranking gets 0 there), then
    /// `alpha * vector + (1 - alpha) * bm25`.
    Convex { alpha: f32 },
    /// Convex, weighted by the question's script: [`CJK_ALPHA`] when most of its letters are
    /// Chinese, Japanese or Korean (BM25 over character bigrams is the stronger ranking there),
    /// else [`ALPHA`].
    ByScript,
}

impl Default for Fusion {
    fn default() -> Self {
        DEFAULT_FUSION
    }
}

impl Fusion {
    /// The fusion a query with this text is searched with (`ByScript` made concrete).
    pub fn for_query(self, text: &str) -> Fusion {
        match self {
            Fusion::ByScript if crate::tokenizer::mostly_cjk(text) => {
                Fusion::Convex { alpha: CJK_ALPHA }
            }
            Fusion::ByScript => Fusion::Convex { alpha: ALPHA },
            chosen => chosen,
        }
    }
}

/// The default fusion: convex, its weight by the question's script.
pub const DEFAULT_FUSION: Fusion = Fusion::ByScript;
/// The vector weight, chosen on BEIR SciFact's train split (docs/decisions/0002-retrieval-tuning.md).
pub const ALPHA: f32 = 0.5;
/// The vector weight for CJK questions: the largest share of BM25 that still lets a passage found
/// by its meaning alone (no word of the question in it) among the first sources; 0.2 scored higher
/// on the Korean set but loses those (docs/decisions/0010-multilingual-embedder.md).
pub const CJK_ALPHA: f32 = 0.4;
/// Default number of candidates taken from each ranking before fusion.
pub const DEFAULT_CANDIDATES: usize = 50;
/// Default number of hits returned.
pub const DEFAULT_LIMIT: usize = 10;
/// Upper bound on candidates per ranking, whatever the query asks.
const MAX_CANDIDATES: usize = 1000;

const CATALOG_FILE: &str = "catalog.sqlite";
const TEXT_DIR: &str = "text";
const VECTOR_DIR: &str = "vectors";

/// A document's row id in the catalog. Stable across re-indexing of the same path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DocumentId(pub i64);

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A document as the caller describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DocumentInput {
    /// Canonical source path or URL; the unique key.
    pub path: String,
    pub title: String,
    /// Whatever the caller uses to tell whether the source changed (e.g. a SHA-256 of the bytes).
    pub content_hash: String,
    /// Source modification time, Unix seconds.
    pub modified: Option<i64>,
}

/// A chunk with its embedding (of [`crate::chunk_context`] of the chunk, by convention).
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkInput {
    pub draft: ChunkDraft,
    pub embedding: Vec<f32>,
}

/// A document as the catalog holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentInfo {
    pub id: DocumentId,
    pub path: String,
    pub title: String,
    pub content_hash: String,
    pub modified: Option<i64>,
    pub chunk_count: usize,
    /// When the current version was stored, Unix seconds.
    pub indexed_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexStats {
    pub documents: usize,
    pub chunks: usize,
    pub dim: usize,
    /// Points in the vector graph, removed ones (tombstones) included.
    pub vector_points: usize,
    pub vector_tombstones: usize,
    /// Chunks visible to full-text search (as of the last commit).
    pub text_chunks: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SearchMode {
    /// BM25 and vector rankings fused with reciprocal rank fusion. Without a query embedding this is
    /// BM25 alone; with text that has no searchable terms it is vector search alone.
    #[default]
    Hybrid,
    /// Full-text BM25 only.
    Bm25,
    /// Vector (cosine) only; needs `embedding`.
    Dense,
}

#[derive(Debug, Clone, Copy)]
pub struct SearchQuery<'a> {
    /// The user's words. No query syntax: punctuation, quotes, colons and operators are just text.
    pub text: &'a str,
    /// The query's embedding, from the same model as the chunks' (any scale: cosine is used).
    pub embedding: Option<&'a [f32]>,
    /// Hits returned (0 returns none).
    pub limit: usize,
    /// Candidates taken from each ranking before fusion (0 means [`DEFAULT_CANDIDATES`]; raised to
    /// `limit`, capped at 1000).
    pub candidates: usize,
    pub mode: SearchMode,
    /// How hybrid search combines the two rankings.
    pub fusion: Fusion,
    /// Weights of the full-text fields in the BM25 score.
    pub weights: FieldWeights,
    /// Put exact matches (quoted phrase, rare identifier, named title or file) first ([`Hit::exact`]).
    pub exact_first: bool,
}

impl Default for SearchQuery<'_> {
    fn default() -> Self {
        SearchQuery {
            text: "",
            embedding: None,
            limit: DEFAULT_LIMIT,
            candidates: DEFAULT_CANDIDATES,
            mode: SearchMode::Hybrid,
            fusion: Fusion::default(),
            weights: FieldWeights::default(),
            exact_first: true,
        }
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub chunk_id: u64,
    pub document_path: String,
    pub title: String,
    pub heading: String,
    pub text: String,
    pub line_start: usize,
    pub line_end: usize,
    /// The chunk's [`ChunkDraft::location`] as stored.
    pub location: String,
    /// The document's modification time (Unix seconds), if the caller gave one.
    pub modified: Option<i64>,
    /// HTML: the best passage of about 200 characters with query terms wrapped in `<b>`…`</b>` and
    /// everything else escaped (`&`, `<`, `>`, `"`, `'`), so it can be inserted as markup as is.
    /// When no query term occurs in the text it is the text's beginning (escaped, "…" if cut).
    /// [`snippet_to_plain`] turns it back into plain text.
    pub snippet: String,
    /// BM25 score, when the chunk was among the BM25 candidates.
    pub bm25: Option<f32>,
    /// 1-based rank in the BM25 candidates.
    pub bm25_rank: Option<usize>,
    /// Cosine similarity to the query embedding (1 = same direction); present for every hit when
    /// the query had an embedding, whether or not the chunk was among the vector candidates.
    pub vector: Option<f32>,
    /// 1-based rank in the vector candidates.
    pub vector_rank: Option<usize>,
    /// The fused score (see [`Fusion`]; for RRF the sum over the rankings of 1 / (k + rank)); hits
    /// are sorted by it (ties: lower chunk id first).
    pub fused: f32,
    /// The chunk holds a quoted phrase or a rare identifier of the question, or the question names
    /// its document's title or file name: such hits come first, whatever their fused score.
    #[serde(default)]
    pub exact: bool,
}

/// What opening did to a derived index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Repair {
    /// Stamped with the catalog's generation (and holding as many chunks): trusted as stored,
    /// without comparing chunk ids.
    Loaded,
    /// Stamped with an older generation (`from`; `None`: no stamp, an index from before
    /// generations), e.g. after a crash between a catalog change and `commit()`: its chunk ids were
    /// diffed against the catalog, `added`/`removed` chunks brought it in line, and it was
    /// re-stamped.
    Repaired {
        from: Option<u64>,
        added: usize,
        removed: usize,
    },
    /// Built again from the catalog: missing, damaged, another catalog's, stamped with a generation
    /// the catalog never reached, or mostly stale.
    Rebuilt { reason: String, chunks: usize },
}

/// The catalog's generation and the stamps of the derived indexes as stored on disk; see
/// [`Index::generations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generations {
    pub catalog: u64,
    /// The committed full-text index's stamp (`None`: none).
    pub text: Option<u64>,
    /// The vector manifest's stamp (`None`: none).
    pub vectors: Option<u64>,
}

/// Chunk ids per store; see [`Index::chunk_id_sets`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkIdSets {
    pub catalog: Vec<u64>,
    pub text: Vec<u64>,
    pub vectors: Vec<u64>,
}

/// A change of embedding model under way (see [`Index::begin_embedder_change`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedderChange {
    /// The model the chunks are being re-embedded with, and its dimension.
    pub name: String,
    pub dim: usize,
    /// Chunks that have their new vector, of all chunks.
    pub done: usize,
    pub total: usize,
}

/// A chunk waiting for its new vector: embed [`crate::chunk_context`]`(title, heading, text)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkToEmbed {
    pub id: u64,
    pub title: String,
    pub heading: String,
    pub text: String,
}

/// What [`Index::open`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenReport {
    /// The catalog's generation.
    pub generation: u64,
    pub text: Repair,
    pub vectors: Repair,
}

/// The library index in one directory: `catalog.sqlite` (source of truth), `text/` (tantivy) and
/// `vectors/` (hnsw_rs dump). One `Index` per directory at a time (a second gets
/// [`Error::Locked`]). `Index` is `Send + Sync`: share it behind an `RwLock` (searches take `&self`).
///
/// Durability: each [`upsert_document`](Index::upsert_document) / [`remove_document`](Index::remove_document)
/// is one durable SQLite transaction that also advances the catalog's generation. The search
/// indexes are batched: changes show in vector search and removals vanish from all search at once,
/// but new chunks reach BM25 search, and both derived indexes reach the disk (stamped with the
/// generation they hold), only at [`commit`](Index::commit). Commit after a batch, not after each
/// document: it writes the whole vector graph when points were added. Anything not committed is
/// recovered from the catalog on the next open (a derived index whose stamp is behind is diffed).
pub struct Index {
    dir: PathBuf,
    dim: usize,
    catalog: Mutex<Catalog>,
    text: TextIndex,
    vectors: VectorIndex,
    report: OpenReport,
}

fn check_vector(field: &str, v: &[f32], dim: usize) -> Result<()> {
    if v.len() != dim {
        return Err(Error::InvalidInput(format!(
            "{field}: expected {dim} values, got {}",
            v.len()
        )));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::InvalidInput(format!(
            "{field}: value {i} is not finite"
        )));
    }
    if v.iter().all(|&x| x == 0.0) {
        return Err(Error::InvalidInput(format!(
            "{field}: all zeros (no direction for cosine similarity)"
        )));
    }
    Ok(())
}

fn cosine(a: &[f32], b: &[f32]) -> Option<f32> {
    if a.len() != b.len() {
        return None;
    }
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    (na > 0.0 && nb > 0.0).then(|| (dot / (na.sqrt() * nb.sqrt())) as f32)
}

impl Index {
    /// Opens the index in `dir`, creating it if needed, for `dim`-dimensional embeddings.
    ///
    /// Errors name the directory or file: `dim` differs from the stored one, the catalog is damaged
    /// or in use. Derived indexes that are missing, stale or damaged are repaired or rebuilt from the
    /// catalog instead (see [`Index::open_report`]).
    pub fn open(dir: &Path, dim: usize) -> Result<Index> {
        Self::open_with(dir, dim, HnswParams::default())
    }

    /// [`Index::open`] with explicit vector graph parameters: `ef_search` applies at once,
    /// `max_nb_connection` and `ef_construction` when the graph is next built from scratch (a loaded
    /// graph keeps the ones it was built with).
    pub fn open_with(dir: &Path, dim: usize, params: HnswParams) -> Result<Index> {
        if dim == 0 {
            return Err(Error::InvalidInput(format!(
                "index {}: dim must be at least 1",
                dir.display()
            )));
        }
        if params.max_nb_connection == 0
            || params.max_nb_connection > 255
            || params.ef_construction == 0
        {
            return Err(Error::InvalidInput(format!(
                "HnswParams: max_nb_connection must be 1..=255 and ef_construction at least 1 (got {} and {})",
                params.max_nb_connection, params.ef_construction
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let catalog = Catalog::open(&dir.join(CATALOG_FILE), dim)?;
        let (text, text_repair) = TextIndex::open(&dir.join(TEXT_DIR), &catalog)?;
        let (vectors, vector_repair) =
            VectorIndex::open(&dir.join(VECTOR_DIR), dim, params, &catalog)?;
        let generation = catalog.generation();
        Ok(Index {
            dir: dir.into(),
            dim,
            catalog: Mutex::new(catalog),
            text,
            vectors,
            report: OpenReport {
                generation,
                text: text_repair,
                vectors: vector_repair,
            },
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// What opening found and did to the derived indexes.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    fn catalog(&self) -> MutexGuard<'_, Catalog> {
        // A panic while holding the lock cannot leave the catalog half-written (SQLite transactions).
        self.catalog
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores a document and its chunks, replacing any previous version of the same path (its old
    /// chunks leave all three stores). The document keeps its id; chunks get new ids. Durable in the
    /// catalog on return; see the type's documentation for when search and disk see it.
    pub fn upsert_document(
        &mut self,
        doc: &DocumentInput,
        chunks: Vec<ChunkInput>,
    ) -> Result<DocumentId> {
        if doc.path.trim().is_empty() {
            return Err(Error::InvalidInput("DocumentInput.path: empty".into()));
        }
        for (i, c) in chunks.iter().enumerate() {
            check_vector(&format!("chunks[{i}].embedding"), &c.embedding, self.dim)?;
        }
        let rows: Vec<(&ChunkDraft, &[f32])> = chunks
            .iter()
            .map(|c| (&c.draft, c.embedding.as_slice()))
            .collect();
        let done = self
            .catalog
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .upsert(
                &doc.path,
                &doc.title,
                &doc.content_hash,
                doc.modified,
                &rows,
            )?;
        fault::reached(Step::CatalogAdvanced);
        let (before, after) = (done.generation - 1, done.generation);
        // Each derived index is advanced to the new generation only once the change is applied to
        // it in full; one that fails stays behind, and its next stamp says so.
        let text = (|| {
            self.text.delete_document(&doc.path, &done.removed)?;
            for (id, c) in done.added.iter().zip(&chunks) {
                self.text.add_chunk(&crate::catalog::ChunkRow {
                    id: *id,
                    path: doc.path.clone(),
                    title: doc.title.clone(),
                    modified: doc.modified,
                    heading: c.draft.heading.clone(),
                    text: c.draft.text.clone(),
                    line_start: c.draft.line_start,
                    line_end: c.draft.line_end,
                    embedding: Vec::new(),
                    location: c.draft.location.clone(),
                })?;
            }
            Ok::<(), Error>(())
        })();
        if text.is_ok() {
            self.text.advance(before, after);
        }
        self.vectors.remove(&done.removed);
        for (id, c) in done.added.iter().zip(&chunks) {
            self.vectors.insert(*id, &c.embedding);
        }
        self.vectors.advance(before, after);
        text?;
        Ok(DocumentId(done.document_id))
    }

    /// Removes a document and its chunks; `false` if the path was not indexed.
    pub fn remove_document(&mut self, path: &str) -> Result<bool> {
        let removed = self
            .catalog
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .remove(path)?;
        let Some(done) = removed else {
            return Ok(false);
        };
        fault::reached(Step::CatalogAdvanced);
        let (before, after) = (done.generation - 1, done.generation);
        self.vectors.remove(&done.removed);
        self.vectors.advance(before, after);
        self.text.delete_document(path, &done.removed)?;
        self.text.advance(before, after);
        Ok(true)
    }

    pub fn document_by_path(&self, path: &str) -> Result<Option<DocumentInfo>> {
        Ok(self.catalog().document_by_path(path)?.map(info))
    }

    /// All documents, by path.
    pub fn documents(&self) -> Result<Vec<DocumentInfo>> {
        Ok(self.catalog().documents()?.into_iter().map(info).collect())
    }

    pub fn stats(&self) -> Result<IndexStats> {
        let (documents, chunks) = self.catalog().counts()?;
        Ok(IndexStats {
            documents,
            chunks,
            dim: self.dim,
            vector_points: self.vectors.points(),
            vector_tombstones: self.vectors.tombstones(),
            text_chunks: self.text.num_docs() as usize,
        })
    }

    /// Makes the full-text and vector indexes agree with the catalog on disk (the catalog itself is
    /// already durable), each stamped with the catalog generation it holds: commits tantivy (and
    /// fsyncs its directory), compacts the vector graph if removed points outnumber live ones, and
    /// writes the vector manifest (with a new dump if points were added). Cheap when nothing changed.
    pub fn commit(&mut self) -> Result<()> {
        let catalog = self.catalog.get_mut().unwrap_or_else(|p| p.into_inner());
        self.text.commit(&catalog.instance_id)?;
        fault::reached(Step::TextCommitted);
        self.vectors.commit(catalog)?;
        Ok(())
    }

    /// The catalog's generation and the stamps the derived indexes carry on disk (re-read from
    /// tantivy's `meta.json` and the vector manifest). After [`Index::open`] or [`Index::commit`]
    /// all three are equal (checked by the crash tests).
    pub fn generations(&self) -> Result<Generations> {
        Ok(Generations {
            catalog: self.catalog().generation(),
            text: self.text.stored_generation()?,
            vectors: self.vectors.stored_generation()?,
        })
    }

    /// The chunk ids each store holds: the catalog's, the committed full-text index's and the vector
    /// graph's live points, each ascending. After [`Index::open`] or [`Index::commit`] all three are
    /// the same (checked by the crash test).
    pub fn chunk_id_sets(&self) -> Result<ChunkIdSets> {
        let catalog = self.catalog().chunk_ids()?;
        let mut text: Vec<u64> = self.text.committed_chunk_ids()?.into_iter().collect();
        text.sort_unstable();
        Ok(ChunkIdSets {
            catalog,
            text,
            vectors: self.vectors.live_ids(),
        })
    }

    /// The embedding model recorded as the one whose vectors the library holds (`None` for a
    /// library made before models were recorded: see [`Index::record_embedder`]).
    pub fn embedder(&self) -> Result<Option<String>> {
        self.catalog().embedder()
    }

    /// Records the model whose vectors the library holds; only where none is recorded yet (the
    /// model of a library is changed with [`Index::begin_embedder_change`]).
    pub fn record_embedder(&mut self, name: &str) -> Result<()> {
        let catalog = self.catalog.get_mut().unwrap_or_else(|p| p.into_inner());
        match catalog.embedder()? {
            None => catalog.set_embedder(name),
            Some(recorded) if recorded == name => Ok(()),
            Some(recorded) => Err(Error::InvalidInput(format!(
                "index {}: its vectors are from {recorded}, not {name}",
                self.dir.display()
            ))),
        }
    }

    /// The change of embedding model under way, if any, with its progress.
    pub fn embedder_change(&self) -> Result<Option<EmbedderChange>> {
        let catalog = self.catalog();
        let Some((name, dim)) = catalog.embedder_change()? else {
            return Ok(None);
        };
        let (done, total) = catalog.reembedded_counts()?;
        Ok(Some(EmbedderChange {
            name,
            dim,
            done,
            total,
        }))
    }

    /// Starts moving the library to another embedding model: every chunk gets a new vector
    /// ([`Index::chunks_to_reembed`], [`Index::store_reembedded`]), kept apart from the vectors
    /// searched now, which stay in use until [`Index::finish_embedder_change`] switches all of them
    /// in one transaction. Durable at each step: a change interrupted (even by SIGKILL) resumes
    /// with the vectors already stored. Beginning again with the same model keeps them; with
    /// another model, drops them.
    pub fn begin_embedder_change(&mut self, name: &str, dim: usize) -> Result<EmbedderChange> {
        if dim == 0 || name.trim().is_empty() {
            return Err(Error::InvalidInput(format!(
                "index {}: an embedder change needs a model name and a dimension of at least 1",
                self.dir.display()
            )));
        }
        self.catalog
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .begin_embedder_change(name, dim)?;
        self.embedder_change()?
            .ok_or_else(|| Error::InvalidInput("embedder change vanished".into()))
    }

    /// Up to `limit` chunks still without a vector from the new model, in id order (chunks stored
    /// during the change are among them).
    pub fn chunks_to_reembed(&self, limit: usize) -> Result<Vec<ChunkToEmbed>> {
        Ok(self
            .catalog()
            .chunks_to_reembed(limit)?
            .into_iter()
            .map(|(id, title, heading, text)| ChunkToEmbed {
                id,
                title,
                heading,
                text,
            })
            .collect())
    }

    /// Stores new-model vectors of chunks (one durable transaction); not searched until the change
    /// is finished.
    pub fn store_reembedded(&mut self, vectors: &[(u64, Vec<f32>)]) -> Result<()> {
        let catalog = self.catalog.get_mut().unwrap_or_else(|p| p.into_inner());
        let Some((_, dim)) = catalog.embedder_change()? else {
            return Err(Error::InvalidInput(format!(
                "index {}: no embedder change under way",
                self.dir.display()
            )));
        };
        for (id, v) in vectors {
            check_vector(&format!("chunk {id}: new embedding"), v, dim)?;
        }
        catalog.store_reembedded(vectors)
    }

    /// Switches the library to the new model once every chunk has its new vector: the catalog in
    /// one transaction (vectors, model, dimension, generation), then the vector graph rebuilt and
    /// written. Its manifest is removed first, so a crash anywhere in between leaves a graph that
    /// the next open rebuilds from whatever vectors the catalog then holds. `false` (nothing
    /// changed) while chunks still wait for their new vector.
    pub fn finish_embedder_change(&mut self) -> Result<bool> {
        let catalog = self.catalog.get_mut().unwrap_or_else(|p| p.into_inner());
        if catalog.embedder_change()?.is_none()
            || catalog.reembedded_counts().map(|(d, t)| d < t)?
        {
            return Ok(false);
        }
        self.vectors.forget_on_disk()?;
        let Some((_, dim)) = catalog.finish_embedder_change()? else {
            // Chunks came in meanwhile: the graph on disk is rewritten unchanged.
            self.vectors.rebuild_as(self.dim, catalog)?;
            return Ok(false);
        };
        fault::reached(Step::CatalogAdvanced);
        self.dim = dim;
        self.vectors.rebuild_as(dim, catalog)?;
        // The full-text index holds the same chunks; only its stamp moves on.
        self.text
            .advance(catalog.generation() - 1, catalog.generation());
        self.text.commit(&catalog.instance_id)?;
        Ok(true)
    }

    /// Rebuilds the vector graph from the catalog now (drops all tombstones) and writes it.
    pub fn rebuild_vectors(&mut self) -> Result<usize> {
        let catalog = self.catalog.get_mut().unwrap_or_else(|p| p.into_inner());
        let n = self.vectors.rebuild(catalog)?;
        self.vectors.commit(catalog)?;
        Ok(n)
    }

    /// Searches; see [`SearchQuery`] and [`Hit`].
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        if let Some(e) = query.embedding {
            check_vector("SearchQuery.embedding", e, self.dim)?;
        }
        if query.mode == SearchMode::Dense && query.embedding.is_none() {
            return Err(Error::InvalidInput(
                "SearchQuery.embedding: required for SearchMode::Dense".into(),
            ));
        }
        let candidates = if query.candidates == 0 {
            DEFAULT_CANDIDATES
        } else {
            query.candidates
        }
        .max(query.limit)
        .min(MAX_CANDIDATES);
        let text_query = self.text.query(query.text, &query.weights);

        let bm25 = match (&text_query, query.mode) {
            (Some(q), SearchMode::Hybrid | SearchMode::Bm25) => self.text.search(q, candidates)?,
            _ => Vec::new(),
        };
        let dense = match (query.embedding, query.mode) {
            (Some(e), SearchMode::Hybrid | SearchMode::Dense) => self.vectors.search(e, candidates),
            _ => Vec::new(),
        };
        let mut fused = fuse(&bm25, &dense, query.fusion.for_query(query.text));
        let mut exact = HashMap::new();
        if let (Some(q), SearchMode::Hybrid | SearchMode::Bm25, true) =
            (&text_query, query.mode, query.exact_first)
        {
            exact = self.text.exact_matches(q, candidates)?;
        }
        if !exact.is_empty() {
            // Exact matches first (most clauses first), then the rest, each by fused score.
            let present: std::collections::HashSet<u64> = fused.iter().map(|f| f.id).collect();
            for &id in exact.keys().filter(|id| !present.contains(id)) {
                fused.push(Fused::unranked(id));
            }
            let count = |id: &u64| exact.get(id).copied().unwrap_or(0);
            fused.sort_by(|a, b| {
                count(&b.id)
                    .cmp(&count(&a.id))
                    .then(b.fused.total_cmp(&a.fused))
                    .then(a.id.cmp(&b.id))
            });
        }
        let top: Vec<Fused> = fused.into_iter().take(query.limit).collect();
        if top.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<u64> = top.iter().map(|f| f.id).collect();
        let mut rows = self.catalog().chunks(&ids)?;
        let snippets = match &text_query {
            Some(q) => Some(self.text.snippet_generator(q)?),
            None => None,
        };
        let mut hits = Vec::with_capacity(top.len());
        for f in top {
            let Some(row) = rows.remove(&f.id) else {
                continue;
            };
            let snippet = match &snippets {
                Some(g) => {
                    let s = g.snippet(&row.text);
                    if s.highlighted().is_empty() {
                        leading_snippet(&row.text)
                    } else {
                        marked_snippet(&row.text, s.fragment_range(), s.highlighted())
                    }
                }
                None => leading_snippet(&row.text),
            };
            let vector = f
                .vector
                .or_else(|| query.embedding.and_then(|e| cosine(e, &row.embedding)));
            hits.push(Hit {
                chunk_id: row.id,
                document_path: row.path,
                title: row.title,
                heading: row.heading,
                text: row.text,
                line_start: row.line_start,
                line_end: row.line_end,
                location: row.location,
                modified: row.modified,
                snippet,
                bm25: f.bm25,
                bm25_rank: f.bm25_rank,
                vector,
                vector_rank: f.vector_rank,
                fused: f.fused,
                exact: exact.contains_key(&f.id),
            });
        }
        Ok(hits)
    }
}

fn info(d: crate::catalog::DocumentRow) -> DocumentInfo {
    DocumentInfo {
        id: DocumentId(d.id),
        path: d.path,
        title: d.title,
        content_hash: d.content_hash,
        modified: d.modified,
        chunk_count: d.chunk_count,
        indexed_at: d.indexed_at,
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Fused {
    id: u64,
    bm25: Option<f32>,
    bm25_rank: Option<usize>,
    vector: Option<f32>,
    vector_rank: Option<usize>,
    fused: f32,
}

impl Fused {
    /// A hit neither ranking holds yet.
    fn unranked(id: u64) -> Fused {
        Fused {
            id,
            bm25: None,
            bm25_rank: None,
            vector: None,
            vector_rank: None,
            fused: 0.0,
        }
    }
}

/// Fusion of two rankings (best first), sorted by fused score, then chunk id.
fn fuse(bm25: &[(u64, f32)], dense: &[(u64, f32)], fusion: Fusion) -> Vec<Fused> {
    let mut acc: HashMap<u64, (Fused, f64)> = HashMap::new();
    // Each ranking's contribution for the hit at 0-based position i with score s.
    let scaled = |scores: &[(u64, f32)]| -> Box<dyn Fn(usize, f32) -> f64> {
        match fusion {
            Fusion::Rrf { k } => {
                let k = f64::from(k);
                Box::new(move |i, _| 1.0 / (k + (i + 1) as f64))
            }
            Fusion::Convex { .. } | Fusion::ByScript => {
                let max = scores.iter().map(|p| p.1).fold(f32::NEG_INFINITY, f32::max);
                let min = scores.iter().map(|p| p.1).fold(f32::INFINITY, f32::min);
                let span = f64::from(max - min);
                Box::new(move |_, s| {
                    if span > 0.0 {
                        f64::from(s - min) / span
                    } else {
                        1.0
                    }
                })
            }
        }
    };
    let (w_bm25, w_dense) = match fusion {
        Fusion::Rrf { .. } => (1.0, 1.0),
        Fusion::Convex { alpha } => (1.0 - f64::from(alpha), f64::from(alpha)),
        Fusion::ByScript => (1.0 - f64::from(ALPHA), f64::from(ALPHA)),
    };
    let part = scaled(bm25);
    for (i, &(id, score)) in bm25.iter().enumerate() {
        let e = acc.entry(id).or_insert_with(|| (Fused::unranked(id), 0.0));
        if e.0.bm25_rank.is_none() {
            e.0.bm25 = Some(score);
            e.0.bm25_rank = Some(i + 1);
            e.1 += w_bm25 * part(i, score);
        }
    }
    let part = scaled(dense);
    for (i, &(id, sim)) in dense.iter().enumerate() {
        let e = acc.entry(id).or_insert_with(|| (Fused::unranked(id), 0.0));
        if e.0.vector_rank.is_none() {
            e.0.vector = Some(sim);
            e.0.vector_rank = Some(i + 1);
            e.1 += w_dense * part(i, sim);
        }
    }
    let mut out: Vec<Fused> = acc
        .into_values()
        .map(|(mut f, score)| {
            f.fused = score as f32;
            f
        })
        .collect();
    out.sort_by(|a, b| b.fused.total_cmp(&a.fused).then(a.id.cmp(&b.id)));
    out
}

fn escape_html(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// The fragment tantivy chose (`range` of `text`, marks relative to it), widened to the whole text
/// when that is short, else over the punctuation right after it, with "…" where text was cut.
fn marked_snippet(
    text: &str,
    range: std::ops::Range<usize>,
    highlighted: &[std::ops::Range<usize>],
) -> String {
    let full = text.trim_end().len();
    if range.start > range.end
        || range.end > text.len()
        || !text.is_char_boundary(range.start)
        || !text.is_char_boundary(range.end)
    {
        return leading_snippet(text);
    }
    let (start, end) = if text[..full].chars().count() <= SNIPPET_CHARS + SNIPPET_CHARS / 5 {
        (0, full)
    } else {
        let tail = text[range.end..]
            .find(char::is_whitespace)
            .map_or(text.len(), |i| range.end + i);
        (range.start, tail.min(full).max(range.end))
    };
    let mut marks: Vec<std::ops::Range<usize>> = highlighted
        .iter()
        .map(|r| r.start + range.start..r.end + range.start)
        .collect();
    marks.sort_by_key(|r| r.start);
    // Overlapping or touching marks (CJK bigrams) become one.
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::with_capacity(marks.len());
    for r in marks {
        match ranges.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => ranges.push(r),
        }
    }
    let mut out = String::with_capacity(end - start + 16);
    if start > 0 {
        out.push('…');
    }
    let mut pos = start;
    for r in ranges {
        let (a, b) = (r.start.max(pos), r.end.min(end));
        if a >= b || !text.is_char_boundary(a) || !text.is_char_boundary(b) {
            continue;
        }
        escape_html(&text[pos..a], &mut out);
        out.push_str("<b>");
        escape_html(&text[a..b], &mut out);
        out.push_str("</b>");
        pos = b;
    }
    escape_html(&text[pos..end], &mut out);
    if end < full {
        out.push('…');
    }
    out
}

/// The first ~200 characters, cut at a word boundary, escaped.
fn leading_snippet(text: &str) -> String {
    let text = text.trim();
    let mut out = String::new();
    match text.char_indices().nth(SNIPPET_CHARS) {
        None => escape_html(text, &mut out),
        Some((cut, _)) => {
            let head = &text[..cut];
            let head = match head.rfind(char::is_whitespace) {
                Some(i) if i > cut / 2 => &head[..i],
                _ => head,
            };
            escape_html(head.trim_end(), &mut out);
            out.push('…');
        }
    }
    out
}

/// Plain text from a [`Hit::snippet`]: the `<b>` marks removed and the escapes undone.
pub fn snippet_to_plain(snippet: &str) -> String {
    snippet
        .replace("<b>", "")
        .replace("</b>", "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn index_is_send_and_sync() {
        assert_send_sync::<Index>();
    }

    #[test]
    fn rrf_orders_by_fused_score_then_id() {
        // bm25: 10, 20, 30 ; dense: 30, 40, 10
        let bm25 = [(10, 9.0), (20, 5.0), (30, 1.0)];
        let dense = [(30, 0.9), (40, 0.8), (10, 0.7)];
        let fused = fuse(&bm25, &dense, Fusion::Rrf { k: RRF_K });
        let ids: Vec<u64> = fused.iter().map(|f| f.id).collect();
        // 10: 1/61 + 1/63; 30: 1/63 + 1/61 (tie, lower id first); 20: 1/62; 40: 1/62 (tie)
        assert_eq!(ids, [10, 30, 20, 40]);
        let f10 = &fused[0];
        assert_eq!((f10.bm25_rank, f10.vector_rank), (Some(1), Some(3)));
        assert!((f10.fused - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-6);
        assert_eq!((fused[3].bm25_rank, fused[3].vector_rank), (None, Some(2)));
    }

    #[test]
    fn convex_fusion_mixes_min_max_scaled_scores() {
        // bm25 scores 10, 6, 2 → 1, 0.5, 0; cosines 0.9, 0.5 → 1, 0.
        let bm25 = [(1, 10.0), (2, 6.0), (3, 2.0)];
        let dense = [(3, 0.9), (4, 0.5)];
        let fused = fuse(&bm25, &dense, Fusion::Convex { alpha: 0.75 });
        let score = |id: u64| fused.iter().find(|f| f.id == id).unwrap().fused;
        assert!((score(1) - 0.25).abs() < 1e-6);
        assert!((score(2) - 0.125).abs() < 1e-6);
        assert!((score(3) - 0.75).abs() < 1e-6);
        assert!(score(4).abs() < 1e-6);
        assert_eq!(fused.iter().map(|f| f.id).collect::<Vec<_>>(), [3, 1, 2, 4]);
        // alpha 0 is BM25 alone.
        let fused = fuse(&bm25, &dense, Fusion::Convex { alpha: 0.0 });
        assert_eq!(fused[0].id, 1);
    }

    #[test]
    fn the_default_fusion_weighs_cjk_questions_towards_bm25() {
        let english = Fusion::default().for_query("Who founded the Hollowmere Observatory?");
        assert_eq!(english, Fusion::Convex { alpha: ALPHA });
        let korean = Fusion::default().for_query("Llama 3.1은 몇 개의 토큰으로 사전 학습되었나?");
        assert_eq!(korean, Fusion::Convex { alpha: CJK_ALPHA });
        assert_eq!(Fusion::default().for_query("東京の人口は?"), korean);
        let chosen = Fusion::Rrf { k: 10.0 };
        assert_eq!(chosen.for_query("서울"), chosen);
        // The weight decides: with 0.5 the chunk both rankings like (3) wins, with 0.4 BM25's
        // favourite (1).
        let bm25 = [(1, 10.0), (3, 4.0), (2, 2.0)];
        let dense = [(3, 0.9), (4, 0.5)];
        assert_eq!(fuse(&bm25, &dense, english)[0].id, 3);
        assert_eq!(fuse(&bm25, &dense, korean)[0].id, 1);
    }

    #[test]
    fn snippets_escape_and_mark() {
        let s = marked_snippet("주제로 x", 0..9, &[0..6, 3..9]);
        assert_eq!(s, "<b>주제로</b> x");
        let s = marked_snippet("a <tag> & rust.", 0..14, &[8..9, 10..14]);
        assert_eq!(s, "a &lt;tag&gt; <b>&amp;</b> <b>rust</b>.");
        assert_eq!(snippet_to_plain(&s), "a <tag> & rust.");
        // A long text: the fragment, widened over trailing punctuation, with ellipses.
        let text = format!(
            "{}needle, here. {}",
            "hay ".repeat(100),
            "straw ".repeat(100)
        );
        let at = text.find("needle").unwrap();
        let marks = [std::ops::Range { start: 8, end: 14 }];
        let s = marked_snippet(&text, at - 8..at + 6, &marks);
        assert_eq!(s, "…hay hay <b>needle</b>,…");
        let long = "word ".repeat(100);
        let lead = leading_snippet(&long);
        assert!(lead.ends_with('…'));
        assert!(lead.chars().count() <= SNIPPET_CHARS + 1);
        assert!(!lead.contains("wor…"));
    }

    #[test]
    fn vectors_are_checked() {
        assert!(check_vector("q", &[1.0, 0.0], 2).is_ok());
        let e = check_vector("chunks[2].embedding", &[1.0], 2)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("chunks[2].embedding") && e.contains("expected 2"),
            "{e}"
        );
        assert!(check_vector("q", &[f32::NAN, 1.0], 2).is_err());
        assert!(check_vector("q", &[0.0, 0.0], 2).is_err());
    }
}
