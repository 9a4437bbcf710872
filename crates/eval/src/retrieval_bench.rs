//! `almanac bench retrieval`: a library of many passages built from a BEIR corpus repeated with
//! variation; ingestion throughput, hybrid query latency (query embedding included), vector recall@10
//! against exact search, size on disk and peak memory.
//!
//! Embedding 100,000 passages with MiniLM on two cores takes hours, so only the corpus itself is
//! embedded by the model (once; the vectors are kept in the work folder for later runs); each further
//! copy of a passage gets its sentences rotated and its base vector moved by a fixed random offset
//! (cosine about 0.94 to the original), which keeps the copies distinct neighbours, as paraphrases
//! would be. Embedding throughput is measured on the model directly.

use std::path::{Path, PathBuf};
use std::time::Instant;

use almanac_engine::Embedder;
use almanac_indexes::{ChunkDraft, ChunkInput, DocumentInput, Index, SearchMode, SearchQuery};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::retrieval::BeirData;
use crate::{Error, Result};

/// Passages stored per document (one catalog transaction each).
const PASSAGES_PER_DOCUMENT: usize = 10;
/// Documents between commits while ingesting.
const COMMIT_EVERY: usize = 2_500;
/// Length of the random offset given to each copy's vector (the base vector has length 1).
const VARIATION: f32 = 0.35;
const EMBED_BATCH: usize = 32;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub passages: usize,
    pub queries: usize,
    /// Passages embedded to measure embedding throughput.
    pub embed_sample: usize,
    /// Keeps the base vectors and the library.
    pub work: PathBuf,
    /// Query the library already in `work` when it holds `passages` passages, instead of
    /// building it again (no ingestion figures then).
    pub reuse: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// UTC, YYYY-MM-DD.
    pub date: String,
    pub passages: usize,
    pub base_passages: usize,
    pub documents: usize,
    pub embed_sample: usize,
    pub embeddings_per_s: f64,
    pub base_embedding_seconds: Option<f64>,
    /// `None` when an existing library was reused.
    pub ingest_seconds: Option<f64>,
    pub passages_per_s: Option<f64>,
    pub queries: usize,
    pub hybrid_p50_ms: f64,
    pub hybrid_p99_ms: f64,
    pub query_embedding_p50_ms: f64,
    pub query_embedding_p99_ms: f64,
    /// Each ranking alone (no query embedding, no fusion).
    pub bm25_p50_ms: f64,
    pub dense_p50_ms: f64,
    pub dense_recall_at_10: f64,
    pub index_bytes: u64,
    pub peak_rss_bytes: Option<u64>,
    pub threads: usize,
}

/// Roughly normal (sum of four uniforms), mean 0.
fn normalish(rng: &mut fastrand::Rng) -> f32 {
    (0..4).map(|_| rng.f32() - 0.5).sum()
}

fn unit(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

fn passage_text(title: &str, text: &str) -> String {
    almanac_indexes::chunk_context(title, "", text)
}

/// The base vectors, from `cache` when it holds this corpus's, else from the model (then cached).
fn base_vectors(
    data: &BeirData,
    embedder: &Embedder,
    cache: &Path,
) -> Result<(Vec<Vec<f32>>, Option<f64>)> {
    let mut hasher = Sha256::new();
    for d in &data.corpus {
        hasher.update(d.id.as_bytes());
        hasher.update(d.text.as_bytes());
    }
    let key = format!("{:x}-{}", hasher.finalize(), embedder.dim());
    if let Ok(bytes) = std::fs::read(cache) {
        if let Some((head, body)) = bytes.split_first_chunk::<80>() {
            if head.starts_with(&key.as_bytes()[..key.len().min(80)])
                && body.len() == data.corpus.len() * embedder.dim() * 4
            {
                let floats: Vec<f32> = body
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                return Ok((
                    floats.chunks(embedder.dim()).map(<[f32]>::to_vec).collect(),
                    None,
                ));
            }
        }
    }
    let started = Instant::now();
    let texts: Vec<String> = data
        .corpus
        .iter()
        .map(|d| passage_text(&d.title, &d.text))
        .collect();
    let mut vectors = Vec::with_capacity(texts.len());
    for batch in texts.chunks(EMBED_BATCH * 8) {
        let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
        vectors.extend(embedder.embed(&refs)?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut out = Vec::with_capacity(80 + vectors.len() * embedder.dim() * 4);
    let mut head = key.into_bytes();
    head.resize(80, b' ');
    out.extend_from_slice(&head);
    for v in &vectors {
        for x in v {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    std::fs::write(cache, out).map_err(Error::io(cache))?;
    Ok((vectors, Some(seconds)))
}

fn dir_size(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The benchmark's passages: passage `p` is a copy of corpus document `p % N`, varied by `p / N`.
struct Passages<'a> {
    data: &'a BeirData,
    base: &'a [Vec<f32>],
    dim: usize,
}

impl Passages<'_> {
    fn text(&self, p: usize) -> String {
        let doc = &self.data.corpus[p % self.base.len()];
        let copy = p / self.base.len();
        if copy == 0 {
            return doc.text.clone();
        }
        let sentences: Vec<&str> = doc.text.split_inclusive(". ").collect();
        let k = copy % sentences.len().max(1);
        format!("{}{}", sentences[k..].concat(), sentences[..k].concat())
    }

    fn vector(&self, p: usize) -> Vec<f32> {
        let mut v = self.base[p % self.base.len()].clone();
        if p >= self.base.len() {
            let mut rng = fastrand::Rng::with_seed(p as u64);
            let mut offset: Vec<f32> = (0..self.dim).map(|_| normalish(&mut rng)).collect();
            unit(&mut offset);
            v.iter_mut()
                .zip(&offset)
                .for_each(|(x, o)| *x += VARIATION * o);
            unit(&mut v);
        }
        v
    }
}

/// Builds the library from scratch; returns the seconds it took.
fn build_library(
    library: &Path,
    passages: &Passages,
    count: usize,
    on_progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<f64> {
    if library.exists() {
        std::fs::remove_dir_all(library).map_err(Error::io(library))?;
    }
    let mut index = Index::open(library, passages.dim)?;
    let started = Instant::now();
    for d in 0..count.div_ceil(PASSAGES_PER_DOCUMENT) {
        let first = d * PASSAGES_PER_DOCUMENT;
        let last = (first + PASSAGES_PER_DOCUMENT).min(count);
        let chunks = (first..last)
            .map(|p| ChunkInput {
                draft: ChunkDraft {
                    heading: String::new(),
                    text: passages.text(p),
                    line_start: p - first + 1,
                    line_end: p - first + 1,
                    location: String::new(),
                },
                embedding: passages.vector(p),
            })
            .collect();
        let input = DocumentInput {
            path: format!("bench/{d:06}"),
            title: passages.data.corpus[first % passages.base.len()]
                .title
                .clone(),
            content_hash: d.to_string(),
            modified: None,
        };
        index.upsert_document(&input, chunks)?;
        if d % COMMIT_EVERY == COMMIT_EVERY - 1 {
            index.commit()?;
        }
        if d % 100 == 0 {
            on_progress("ingesting", last, count);
        }
    }
    index.commit()?;
    Ok(started.elapsed().as_secs_f64())
}

/// Runs the benchmark; `on_progress(stage, done, total)`.
pub fn run(
    data: &BeirData,
    embedder: &Embedder,
    options: &BenchOptions,
    on_progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<BenchReport> {
    if data.corpus.is_empty() {
        return Err(Error::argument("beir", "the corpus is empty"));
    }
    std::fs::create_dir_all(&options.work).map_err(Error::io(&options.work))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());

    // Embedding throughput, on the model itself.
    let sample: Vec<String> = data
        .corpus
        .iter()
        .take(options.embed_sample)
        .map(|d| passage_text(&d.title, &d.text))
        .collect();
    let started = Instant::now();
    for batch in sample.chunks(EMBED_BATCH) {
        let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
        embedder.embed(&refs)?;
    }
    let embeddings_per_s = sample.len() as f64 / started.elapsed().as_secs_f64().max(1e-9);
    on_progress("embedding throughput", sample.len(), sample.len());

    let (base, base_embedding_seconds) =
        base_vectors(data, embedder, &options.work.join("base-vectors.bin"))?;
    let dim = embedder.dim();
    let passages = Passages {
        data,
        base: &base,
        dim,
    };

    let library = options.work.join("library");
    let documents = options.passages.div_ceil(PASSAGES_PER_DOCUMENT);
    let reusable = options.reuse
        && library.is_dir()
        && Index::open(&library, dim)?.stats()?.chunks == options.passages;
    let ingest_seconds = if reusable {
        on_progress("reusing the library", options.passages, options.passages);
        None
    } else {
        Some(build_library(
            &library,
            &passages,
            options.passages,
            on_progress,
        )?)
    };
    let index = Index::open(&library, dim)?;
    let index_bytes = dir_size(&library);
    let vectors: Vec<f32> = (0..options.passages)
        .flat_map(|p| passages.vector(p))
        .collect();

    // Queries: hybrid latency with the query's embedding, and dense recall against exact search.
    let mut query_texts: Vec<&String> = data.queries.values().collect();
    query_texts.sort();
    query_texts.truncate(options.queries);
    let mut latencies = Vec::with_capacity(query_texts.len());
    let mut embed_latencies = Vec::with_capacity(query_texts.len());
    let mut bm25_latencies = Vec::with_capacity(query_texts.len());
    let mut dense_latencies = Vec::with_capacity(query_texts.len());
    let (mut found, mut wanted) = (0usize, 0usize);
    for (i, text) in query_texts.iter().enumerate() {
        let started = Instant::now();
        let q = embedder.embed_query(text)?;
        embed_latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        let hits = index.search(&SearchQuery {
            text,
            embedding: Some(&q),
            limit: 10,
            ..Default::default()
        })?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        debug_assert!(hits.len() <= 10);

        // Each ranking alone, to show where the time goes.
        let started = Instant::now();
        index.search(&SearchQuery {
            text,
            limit: 10,
            mode: SearchMode::Bm25,
            ..Default::default()
        })?;
        bm25_latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        let dense = index.search(&SearchQuery {
            text,
            embedding: Some(&q),
            limit: 10,
            mode: SearchMode::Dense,
            ..Default::default()
        })?;
        dense_latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        let got: std::collections::HashSet<usize> = dense
            .iter()
            .filter_map(|h| {
                let d: usize = h.document_path.strip_prefix("bench/")?.parse().ok()?;
                Some(d * PASSAGES_PER_DOCUMENT + h.line_start - 1)
            })
            .collect();
        let mut exact: Vec<(usize, f32)> = vectors
            .chunks_exact(dim)
            .enumerate()
            .map(|(p, v)| (p, v.iter().zip(&q).map(|(a, b)| a * b).sum()))
            .collect();
        let k = 10.min(exact.len());
        exact.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
        found += exact[..k].iter().filter(|(p, _)| got.contains(p)).count();
        wanted += k;
        on_progress("querying", i + 1, query_texts.len());
    }
    for l in [
        &mut latencies,
        &mut embed_latencies,
        &mut bm25_latencies,
        &mut dense_latencies,
    ] {
        l.sort_by(f64::total_cmp);
    }
    Ok(BenchReport {
        date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        passages: options.passages,
        base_passages: base.len(),
        documents,
        embed_sample: sample.len(),
        embeddings_per_s,
        base_embedding_seconds,
        ingest_seconds,
        passages_per_s: ingest_seconds.map(|s| options.passages as f64 / s.max(1e-9)),
        queries: query_texts.len(),
        hybrid_p50_ms: percentile(&latencies, 0.5),
        hybrid_p99_ms: percentile(&latencies, 0.99),
        query_embedding_p50_ms: percentile(&embed_latencies, 0.5),
        query_embedding_p99_ms: percentile(&embed_latencies, 0.99),
        bm25_p50_ms: percentile(&bm25_latencies, 0.5),
        dense_p50_ms: percentile(&dense_latencies, 0.5),
        dense_recall_at_10: found as f64 / wanted.max(1) as f64,
        index_bytes,
        peak_rss_bytes: peak_rss(),
        threads,
    })
}
