//! Retrieval evaluation on BEIR-format data (corpus.jsonl, queries.jsonl, qrels/<split>.tsv), scored the
//! way pytrec_eval scores it: nDCG@10 with linear gains, recall@100, MRR@10, averaged over judged queries.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use almanac_engine::Embedder;
pub use almanac_indexes::Index;
use almanac_indexes::{
    chunk_context, ChunkDraft, ChunkInput, DocumentInput, FieldWeights, Fusion, SearchMode,
    SearchQuery,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Documents embedded per batch; sorted by length first so padding wastes little.
const EMBED_BATCH: usize = 32;

pub struct BeirData {
    /// The qrels file scored against: `qrels/<split>.tsv`.
    pub split: String,
    pub corpus: Vec<BeirDocument>,
    pub queries: HashMap<String, String>,
    /// query id → (document id → relevance)
    pub qrels: HashMap<String, HashMap<String, i64>>,
}

#[derive(Deserialize)]
pub struct BeirDocument {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(default)]
    pub title: String,
    pub text: String,
}

#[derive(Deserialize)]
struct BeirQuery {
    #[serde(rename = "_id")]
    id: String,
    text: String,
}

impl BeirData {
    pub fn load(dir: &Path, split: &str) -> Result<BeirData> {
        let corpus = read_jsonl::<BeirDocument>(&dir.join("corpus.jsonl"))?;
        let queries = read_jsonl::<BeirQuery>(&dir.join("queries.jsonl"))?
            .into_iter()
            .map(|q| (q.id, q.text))
            .collect();
        let qrels_path = dir.join("qrels").join(format!("{split}.tsv"));
        let text = std::fs::read_to_string(&qrels_path).map_err(Error::io(&qrels_path))?;
        let mut qrels: HashMap<String, HashMap<String, i64>> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let fields: Vec<&str> = line.split('\t').collect();
            if i == 0 && fields.first() == Some(&"query-id") {
                continue;
            }
            let bad = || {
                Error::data(
                    &qrels_path,
                    format!("line {}: expected query-id, corpus-id, score", i + 1),
                )
            };
            let [query, doc, score] = fields[..] else {
                return Err(bad());
            };
            let score = score.trim().parse().map_err(|_| bad())?;
            qrels
                .entry(query.to_owned())
                .or_default()
                .insert(doc.to_owned(), score);
        }
        Ok(BeirData {
            split: split.to_owned(),
            corpus,
            queries,
            qrels,
        })
    }
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::data(path, format!("line {}: {e}", i + 1)))
        })
        .collect()
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Scores {
    pub ndcg_at_10: f64,
    pub recall_at_100: f64,
    pub mrr_at_10: f64,
}

/// nDCG@k, recall@k and reciprocal rank@k of one ranked list against its judgements.
pub fn score_query(ranked: &[String], judged: &HashMap<String, i64>) -> Scores {
    let gain = |doc: &String| judged.get(doc).copied().unwrap_or(0).max(0) as f64;
    let dcg: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, d)| gain(d) / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<f64> = judged.values().map(|&r| r.max(0) as f64).collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, g)| g / (i as f64 + 2.0).log2())
        .sum();
    let relevant = judged.values().filter(|&&r| r > 0).count();
    let found = ranked.iter().take(100).filter(|d| gain(d) > 0.0).count();
    let first = ranked.iter().take(10).position(|d| gain(d) > 0.0);
    Scores {
        ndcg_at_10: if idcg > 0.0 { dcg / idcg } else { 0.0 },
        recall_at_100: if relevant > 0 {
            found as f64 / relevant as f64
        } else {
            0.0
        },
        mrr_at_10: first.map_or(0.0, |p| 1.0 / (p as f64 + 1.0)),
    }
}

#[derive(Debug, Serialize)]
pub struct EvalReport {
    pub dataset: PathBuf,
    pub split: String,
    pub mode: String,
    /// The embedding model's name (for every mode: the library was built with it).
    pub embedder: String,
    pub documents: usize,
    pub queries: usize,
    pub scores: Scores,
    /// Seconds spent indexing in this run (0 when a reused library already held the corpus).
    pub index_seconds: f64,
    /// Mean time a query, its embedding included (once for all modes).
    pub query_ms_mean: f64,
    /// query id → ranked document ids (top 100)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<HashMap<String, Vec<String>>>,
}

/// Search settings under evaluation (the app's defaults unless tuning).
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    pub fusion: Fusion,
    /// Hybrid is also scored with each of these (for tuning; the query embeddings are shared).
    pub other_fusions: Vec<Fusion>,
    /// Turn off "exact matches first" (for measuring it).
    pub no_exact: bool,
    pub weights: FieldWeights,
    pub keep_run: bool,
}

/// What [`ingest`] did.
#[derive(Debug, Clone, Copy)]
pub struct Ingested {
    /// Documents embedded and stored now (the others were already in the library).
    pub added: usize,
    pub seconds: f64,
}

fn passage_hash(d: &BeirDocument) -> String {
    format!(
        "{:x}",
        Sha256::digest(format!("{}\n{}", d.title, d.text).as_bytes())
    )
}

/// Puts the corpus into `index`, one passage a document (its text in the body, its title in the title
/// field; the embedding is of the title and text, cut by the embedder at its token limit, as the
/// published baselines do). Documents already stored with the same text are skipped, so a library
/// kept between runs (`--library`) is ingested once and an interrupted ingest resumes.
pub fn ingest(
    data: &BeirData,
    embedder: &Embedder,
    index: &mut Index,
    on_progress: &mut dyn FnMut(usize, usize),
) -> Result<Ingested> {
    let started = Instant::now();
    let stored: HashMap<String, String> = index
        .documents()?
        .into_iter()
        .map(|d| (d.path, d.content_hash))
        .collect();
    let mut order: Vec<(usize, String)> = data
        .corpus
        .iter()
        .enumerate()
        .map(|(i, d)| (i, passage_hash(d)))
        .filter(|(i, hash)| stored.get(&data.corpus[*i].id) != Some(hash))
        .collect();
    let context = |d: &BeirDocument| chunk_context(&d.title, "", &d.text);
    order.sort_by_key(|(i, _)| context(&data.corpus[*i]).len());
    let already = data.corpus.len() - order.len();
    let mut done = already;
    for (n, batch) in order.chunks(EMBED_BATCH).enumerate() {
        let texts: Vec<String> = batch
            .iter()
            .map(|(i, _)| context(&data.corpus[*i]))
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let embeddings = embedder.embed(&refs)?;
        for ((i, hash), embedding) in batch.iter().zip(embeddings) {
            let doc = &data.corpus[*i];
            let draft = ChunkDraft {
                heading: String::new(),
                text: doc.text.clone(),
                line_start: 1,
                line_end: doc.text.lines().count().max(1),
                location: String::new(),
            };
            let input = DocumentInput {
                path: doc.id.clone(),
                title: doc.title.clone(),
                content_hash: hash.clone(),
                modified: None,
            };
            index.upsert_document(&input, vec![ChunkInput { draft, embedding }])?;
        }
        done += batch.len();
        on_progress(done, data.corpus.len());
        // Commit now and then so an interrupted ingest keeps its work in the derived indexes too.
        if n % 40 == 39 {
            index.commit()?;
        }
    }
    index.commit()?;
    Ok(Ingested {
        added: order.len(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Scores each of `modes` on the judged queries of `data` against `index` (filled by [`ingest`]);
/// each query is embedded once for all modes. Documents are ranked by their best passage.
pub fn evaluate(
    data: &BeirData,
    dataset: &Path,
    embedder: &Embedder,
    index: &Index,
    modes: &[SearchMode],
    options: &EvalOptions,
    ingested: &Ingested,
) -> Result<Vec<EvalReport>> {
    let mut judged: Vec<(&String, &HashMap<String, i64>)> = data
        .qrels
        .iter()
        .filter(|(q, _)| data.queries.contains_key(*q))
        .collect();
    judged.sort_by_key(|(q, _)| q.as_str());
    let needs_embedding = modes.iter().any(|m| *m != SearchMode::Bm25);
    let mut reports = Vec::with_capacity(modes.len());
    let mut embeddings: Vec<Option<Vec<f32>>> = Vec::with_capacity(judged.len());
    let embed_started = Instant::now();
    for (query_id, _) in &judged {
        let text = data.queries[*query_id].as_str();
        embeddings.push(if needs_embedding {
            Some(embedder.embed_query(text)?)
        } else {
            None
        });
    }
    let embed_seconds = embed_started.elapsed().as_secs_f64();
    let mut runs: Vec<(SearchMode, Fusion)> = modes.iter().map(|&m| (m, options.fusion)).collect();
    runs.extend(
        options
            .other_fusions
            .iter()
            .map(|&f| (SearchMode::Hybrid, f)),
    );
    for (mode, fusion) in runs {
        let mut totals = Scores {
            ndcg_at_10: 0.0,
            recall_at_100: 0.0,
            mrr_at_10: 0.0,
        };
        let mut run = HashMap::new();
        let started = Instant::now();
        for ((query_id, judgements), embedding) in judged.iter().zip(&embeddings) {
            let text = &data.queries[*query_id];
            let hits = index.search(&SearchQuery {
                text,
                embedding: if mode == SearchMode::Bm25 {
                    None
                } else {
                    embedding.as_deref()
                },
                limit: 100,
                candidates: 100,
                mode,
                fusion,
                weights: options.weights,
                exact_first: !options.no_exact,
            })?;
            let mut seen = std::collections::HashSet::new();
            let ranked: Vec<String> = hits
                .into_iter()
                .map(|h| h.document_path)
                .filter(|p| seen.insert(p.clone()))
                .collect();
            let s = score_query(&ranked, judgements);
            totals.ndcg_at_10 += s.ndcg_at_10;
            totals.recall_at_100 += s.recall_at_100;
            totals.mrr_at_10 += s.mrr_at_10;
            if options.keep_run {
                run.insert((*query_id).clone(), ranked);
            }
        }
        let n = judged.len().max(1) as f64;
        let embed_share = if mode == SearchMode::Bm25 {
            0.0
        } else {
            embed_seconds
        };
        reports.push(EvalReport {
            dataset: dataset.to_path_buf(),
            split: data.split.clone(),
            mode: if fusion == options.fusion {
                format!("{mode:?}").to_lowercase()
            } else {
                format!("hybrid {fusion:?}")
            },
            embedder: embedder.name().to_owned(),
            documents: data.corpus.len(),
            queries: judged.len(),
            scores: Scores {
                ndcg_at_10: totals.ndcg_at_10 / n,
                recall_at_100: totals.recall_at_100 / n,
                mrr_at_10: totals.mrr_at_10 / n,
            },
            index_seconds: ingested.seconds,
            query_ms_mean: (started.elapsed().as_secs_f64() + embed_share) * 1000.0 / n,
            run: options.keep_run.then_some(run),
        });
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(pairs: &[(&str, i64)]) -> HashMap<String, i64> {
        pairs.iter().map(|(d, r)| (d.to_string(), *r)).collect()
    }

    fn ranked(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn perfect_ranking_scores_one() {
        let s = score_query(&ranked(&["a", "b", "x"]), &judged(&[("a", 1), ("b", 1)]));
        assert!((s.ndcg_at_10 - 1.0).abs() < 1e-12);
        assert_eq!(s.recall_at_100, 1.0);
        assert_eq!(s.mrr_at_10, 1.0);
    }

    #[test]
    fn matches_hand_computed_trec_eval_figures() {
        // relevant a, b; ranked x, a, y, b: DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3).
        let s = score_query(
            &ranked(&["x", "a", "y", "b"]),
            &judged(&[("a", 1), ("b", 1), ("z", 0)]),
        );
        let expected = (1.0 / 3f64.log2() + 1.0 / 5f64.log2()) / (1.0 + 1.0 / 3f64.log2());
        assert!((s.ndcg_at_10 - expected).abs() < 1e-12, "{}", s.ndcg_at_10);
        assert_eq!(s.mrr_at_10, 0.5);
        let missing = score_query(&ranked(&["x"]), &judged(&[("a", 1), ("b", 1)]));
        assert_eq!(
            (missing.ndcg_at_10, missing.recall_at_100, missing.mrr_at_10),
            (0.0, 0.0, 0.0)
        );
    }
}
