//! The tantivy BM25 index over chunks, derived from the catalog.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, STRING,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{doc, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, TantivyError, Term};

use crate::catalog::{Catalog, ChunkRow};
use crate::error::{Error, Result};
use crate::index::Repair;
use crate::tokenizer;

const WRITER_MEMORY: usize = 50_000_000;
/// Weights of title and heading matches relative to body matches. Unboosted: on BEIR SciFact
/// (`examples/beir_bm25.rs`) a 2x title boost gave nDCG@10 0.626, 1x 0.665 (the published BEIR BM25
/// figure), 0.5x 0.690; the title is repeated in every chunk of a document, so a boost lifts all
/// of them over chunks whose own text matches.
const TITLE_BOOST: f32 = 1.0;
const HEADING_BOOST: f32 = 1.0;
/// At most this many distinct query terms are used (a pasted page should not make a huge query).
const MAX_QUERY_TERMS: usize = 64;
pub(crate) const SNIPPET_CHARS: usize = 200;

#[derive(Clone, Copy)]
struct Fields {
    chunk_id: Field,
    path: Field,
    title: Field,
    heading: Field,
    body: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |stored: bool| {
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(tokenizer::NAME)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions);
        let o = TextOptions::default().set_indexing_options(indexing);
        if stored {
            o.set_stored()
        } else {
            o
        }
    };
    let chunk_id = b.add_u64_field("chunk_id", NumericOptions::default().set_indexed().set_stored().set_fast());
    let path = b.add_text_field("path", STRING);
    let title = b.add_text_field("title", text(false));
    let heading = b.add_text_field("heading", text(false));
    let body = b.add_text_field("body", text(true));
    (b.build(), Fields { chunk_id, path, title, heading, body })
}

pub(crate) struct TextIndex {
    dir: PathBuf,
    writer: Option<IndexWriter<TantivyDocument>>,
    reader: IndexReader,
    fields: Fields,
    /// Analyses the index's text.
    analyzer: TextAnalyzer,
    /// Same, less stop words: for queries.
    query_analyzer: TextAnalyzer,
    /// Uncommitted changes exist.
    dirty: bool,
    /// Chunks deleted since the last commit: the reader still sees them, search drops them.
    pending_deleted: HashSet<u64>,
}

enum OpenFailure {
    /// Give up: the error goes to the caller.
    Fatal(Error),
    /// Throw the directory away and rebuild from the catalog, for this reason.
    Rebuild(String),
}

impl From<TantivyError> for OpenFailure {
    fn from(e: TantivyError) -> Self {
        OpenFailure::Rebuild(e.to_string())
    }
}

impl TextIndex {
    /// Opens the index in `dir`, then makes it agree with the catalog: adds missing chunks and deletes
    /// ones the catalog no longer has. A missing, damaged or foreign index is rebuilt from scratch.
    pub(crate) fn open(dir: &Path, catalog: &Catalog) -> Result<(TextIndex, Repair)> {
        match Self::open_existing(dir, &catalog.instance_id) {
            Ok(mut ti) => {
                let repair = ti.sync_with(catalog)?;
                Ok((ti, repair))
            }
            Err(OpenFailure::Fatal(e)) => Err(e),
            Err(OpenFailure::Rebuild(reason)) => {
                if dir.exists() {
                    std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                }
                let mut ti = Self::create(dir)?;
                let added = ti.add_all(catalog)?;
                ti.commit(&catalog.instance_id)?;
                Ok((ti, Repair::Rebuilt { reason, chunks: added }))
            }
        }
    }

    fn open_existing(dir: &Path, instance_id: &str) -> std::result::Result<TextIndex, OpenFailure> {
        if !dir.join("meta.json").exists() {
            return Err(OpenFailure::Rebuild("no index yet".into()));
        }
        let index = tantivy::Index::open_in_dir(dir)?;
        let (schema, fields) = schema();
        if index.schema() != schema {
            return Err(OpenFailure::Rebuild("schema changed".into()));
        }
        let damaged = index.validate_checksum()?;
        if !damaged.is_empty() {
            let mut names: Vec<String> = damaged.iter().map(|p| p.display().to_string()).collect();
            names.sort();
            return Err(OpenFailure::Rebuild(format!("damaged files: {}", names.join(", "))));
        }
        let payload = index.load_metas()?.payload;
        if payload.as_deref() != Some(instance_id) {
            return Err(OpenFailure::Rebuild("built for another catalog".into()));
        }
        Self::finish_open(dir, index, fields).map_err(|e| match e {
            TantivyError::LockFailure(..) => OpenFailure::Fatal(Error::Locked { path: dir.into() }),
            other => OpenFailure::Rebuild(other.to_string()),
        })
    }

    fn create(dir: &Path) -> Result<TextIndex> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let (schema, fields) = schema();
        let index = tantivy::Index::create_in_dir(dir, schema).map_err(|e| Error::text(dir, e))?;
        Self::finish_open(dir, index, fields).map_err(|e| Error::text(dir, e))
    }

    fn finish_open(dir: &Path, index: tantivy::Index, fields: Fields) -> tantivy::Result<TextIndex> {
        let analyzer = tokenizer::index_analyzer();
        index.tokenizers().register(tokenizer::NAME, analyzer.clone());
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(TextIndex {
            dir: dir.into(),
            writer: Some(writer),
            reader,
            fields,
            analyzer,
            query_analyzer: tokenizer::query_analyzer(),
            dirty: false,
            pending_deleted: HashSet::new(),
        })
    }

    fn err(&self, e: TantivyError) -> Error {
        Error::text(&self.dir, e)
    }

    fn writer(&self) -> Result<&IndexWriter<TantivyDocument>> {
        self.writer.as_ref().ok_or_else(|| Error::Text {
            path: self.dir.clone(),
            source: TantivyError::InvalidArgument("writer is closed".into()),
        })
    }

    /// Adds the chunks the catalog has and this index lacks, deletes the ones it has and the catalog
    /// lacks, and commits if anything changed.
    fn sync_with(&mut self, catalog: &Catalog) -> Result<Repair> {
        let (present, duplicates) = self.committed_ids().map_err(|e| self.err(e))?;
        if duplicates {
            // Cannot happen through this crate; start over rather than guess.
            self.writer()?.delete_all_documents().map_err(|e| self.err(e))?;
            let added = self.add_all(catalog)?;
            self.commit(&catalog.instance_id)?;
            return Ok(Repair::Rebuilt { reason: "duplicate chunk ids".into(), chunks: added });
        }
        let wanted: Vec<u64> = catalog.chunk_ids()?;
        let wanted_set: HashSet<u64> = wanted.iter().copied().collect();
        let missing: Vec<u64> = wanted.iter().copied().filter(|id| !present.contains(id)).collect();
        let extra: Vec<u64> = present.iter().copied().filter(|id| !wanted_set.contains(id)).collect();
        if missing.is_empty() && extra.is_empty() {
            return Ok(Repair::Loaded);
        }
        for &id in &extra {
            self.writer()?.delete_term(Term::from_field_u64(self.fields.chunk_id, id));
        }
        catalog.for_each_chunk(Some(&missing), &mut |row| self.add_chunk(&row))?;
        self.dirty = true;
        self.commit(&catalog.instance_id)?;
        Ok(Repair::Repaired { added: missing.len(), removed: extra.len() })
    }

    fn add_all(&mut self, catalog: &Catalog) -> Result<usize> {
        let mut n = 0;
        catalog.for_each_chunk(None, &mut |row| {
            n += 1;
            self.add_chunk(&row)
        })?;
        self.dirty = true;
        Ok(n)
    }

    /// Chunk ids of the committed documents, and whether any id occurs twice.
    fn committed_ids(&self) -> tantivy::Result<(HashSet<u64>, bool)> {
        let searcher = self.reader.searcher();
        let mut ids = HashSet::new();
        let mut total = 0usize;
        for segment in searcher.segment_readers() {
            let column = segment.fast_fields().u64("chunk_id")?;
            for doc in segment.doc_ids_alive() {
                if let Some(id) = column.first(doc) {
                    ids.insert(id);
                    total += 1;
                }
            }
        }
        let duplicates = total != ids.len();
        Ok((ids, duplicates))
    }

    /// Live documents in the committed index.
    pub(crate) fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub(crate) fn add_chunk(&mut self, row: &ChunkRow) -> Result<()> {
        let f = self.fields;
        let document = doc!(
            f.chunk_id => row.id,
            f.path => row.path.as_str(),
            f.title => row.title.as_str(),
            f.heading => row.heading.as_str(),
            f.body => row.text.as_str(),
        );
        self.writer()?.add_document(document).map_err(|e| self.err(e))?;
        self.dirty = true;
        Ok(())
    }

    /// Deletes every chunk of `path`; `ids` are the chunk ids going away (hidden from search until
    /// the next commit makes the deletion visible).
    pub(crate) fn delete_document(&mut self, path: &str, ids: &[u64]) -> Result<()> {
        self.writer()?.delete_term(Term::from_field_text(self.fields.path, path));
        self.pending_deleted.extend(ids.iter().copied());
        self.dirty = true;
        Ok(())
    }

    pub(crate) fn commit(&mut self, instance_id: &str) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let dir = self.dir.clone();
        let writer = self.writer.as_mut().ok_or_else(|| Error::Text {
            path: dir.clone(),
            source: TantivyError::InvalidArgument("writer is closed".into()),
        })?;
        let mut prepared = writer.prepare_commit().map_err(|e| Error::text(&dir, e))?;
        prepared.set_payload(instance_id);
        prepared.commit().map_err(|e| Error::text(&dir, e))?;
        self.reader.reload().map_err(|e| Error::text(&dir, e))?;
        self.pending_deleted.clear();
        self.dirty = false;
        Ok(())
    }

    /// Distinct analysed terms of the query text, in order of first appearance, stop words left out
    /// unless there is nothing else.
    fn query_terms(&self, text: &str) -> Vec<String> {
        let terms = Self::terms(&self.query_analyzer, text);
        if terms.is_empty() {
            Self::terms(&self.analyzer, text)
        } else {
            terms
        }
    }

    fn terms(analyzer: &TextAnalyzer, text: &str) -> Vec<String> {
        let mut analyzer = analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut seen = HashSet::new();
        let mut terms = Vec::new();
        while stream.advance() {
            let t = stream.token().text.clone();
            if !t.is_empty() && seen.insert(t.clone()) {
                terms.push(t);
                if terms.len() == MAX_QUERY_TERMS {
                    break;
                }
            }
        }
        terms
    }

    /// Any term of the text in the title, heading or body; no query syntax (questions carry '?',
    /// quotes, colons and the like, and must never fail to parse). `None` when the text has no terms.
    pub(crate) fn query(&self, text: &str) -> Option<BooleanQuery> {
        let terms = self.query_terms(text);
        if terms.is_empty() {
            return None;
        }
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(terms.len() * 3);
        for t in &terms {
            for (field, boost) in [(f.title, TITLE_BOOST), (f.heading, HEADING_BOOST), (f.body, 1.0)] {
                let q = TermQuery::new(Term::from_field_text(field, t), IndexRecordOption::WithFreqs);
                let q: Box<dyn Query> = if boost == 1.0 { Box::new(q) } else { Box::new(BoostQuery::new(Box::new(q), boost)) };
                clauses.push((Occur::Should, q));
            }
        }
        Some(BooleanQuery::new(clauses))
    }

    /// The best `n` chunks for the query, as (chunk id, BM25 score), best first.
    pub(crate) fn search(&self, query: &BooleanQuery, n: usize) -> Result<Vec<(u64, f32)>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        let fetch = n + self.pending_deleted.len().min(n * 4);
        let top = searcher
            .search(query, &TopDocs::with_limit(fetch).order_by_score())
            .map_err(|e| self.err(e))?;
        let mut columns = HashMap::new();
        let mut out = Vec::with_capacity(n);
        for (score, addr) in top {
            let column = match columns.entry(addr.segment_ord) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(
                    searcher.segment_reader(addr.segment_ord).fast_fields().u64("chunk_id").map_err(|e| self.err(e))?,
                ),
            };
            let Some(id) = column.first(addr.doc_id) else { continue };
            if self.pending_deleted.contains(&id) {
                continue;
            }
            out.push((id, score));
            if out.len() == n {
                break;
            }
        }
        Ok(out)
    }

    /// Snippet maker for the body field (it marks nothing when no term occurs in the index).
    pub(crate) fn snippet_generator(&self, query: &BooleanQuery) -> Result<SnippetGenerator> {
        let searcher = self.reader.searcher();
        let mut generator = SnippetGenerator::create(&searcher, query, self.fields.body).map_err(|e| self.err(e))?;
        generator.set_max_num_chars(SNIPPET_CHARS);
        Ok(generator)
    }
}

impl Drop for TextIndex {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            // Let background merges finish so the directory is quiet (and unlocked) when we return.
            let _ = writer.wait_merging_threads();
        }
    }
}
