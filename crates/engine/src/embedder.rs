//! Sentence embeddings from a BERT-family model (safetensors + tokenizer.json), as
//! sentence-transformers computes them: mean of the token vectors under the attention mask,
//! then L2 normalisation. Models trained with prompts (multilingual-e5: "query: " and
//! "passage: ") name them in `config_sentence_transformers.json`; questions and stored texts
//! get their own (`embed_queries`, `embed`).

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use tokenizers::{Tokenizer, TruncationParams};

use crate::bert::{BertConfig, BertWeights, Scratch};
use crate::cpu::pool::ThreadPool;
use crate::cpu::{self, Isa};
use crate::error::{one_line, Error, Result};

/// sentence-transformers' usual limit when the model folder does not say.
const DEFAULT_MAX_TOKENS: usize = 256;
/// Most texts in one forward pass.
const DEFAULT_BATCH_SIZE: usize = 32;
/// Tokens per forward pass: enough rows for the matrix products to run at full speed, few enough
/// for the buffers to stay small (the intermediate activations are 4 x 1536 x this many bytes).
const TOKENS_PER_PASS: usize = 2048;
const MIN_TOKENS_PER_PASS: usize = 128;

pub struct Embedder {
    /// The model folder's name (what a library records as the model that built its vectors).
    name: String,
    /// Put before each question and each stored text (empty for models trained without).
    prompts: Prompts,
    model: BertWeights,
    isa: Isa,
    /// Truncates to `max_tokens`; no padding (sequences are never padded).
    tokenizer: Tokenizer,
    /// No truncation, for counting.
    counting_tokenizer: Tokenizer,
    dim: usize,
    max_tokens: usize,
    batch_size: usize,
    /// The threads of batch embedding; one caller at a time.
    pool: Mutex<ThreadPool>,
    /// One per pool thread, reused from call to call.
    scratch: Vec<Mutex<Scratch>>,
    /// A single text (a question) runs on the caller's thread alone: its matrices are too small
    /// for a second thread to pay for waking it, which on a busy machine costs more than it
    /// saves (docs/decisions/0003-embedding-speed.md).
    question_scratch: Mutex<Scratch>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("dim", &self.dim)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

fn unusable(path: &Path, detail: impl Into<String>) -> Error {
    Error::EmbeddingModel {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => unusable(path, "the file is missing"),
        _ => unusable(path, format!("cannot read it: {e}")),
    })?;
    serde_json::from_str(&text).map_err(|e| unusable(path, format!("bad JSON: {}", one_line(e))))
}

#[derive(serde::Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

/// `config_sentence_transformers.json`: sentence-transformers' prompts by name.
#[derive(serde::Deserialize)]
struct SentenceTransformersConfig {
    #[serde(default)]
    prompts: std::collections::HashMap<String, String>,
}

/// The prompts of a model trained with them; sentence-transformers' names for them vary
/// ("query"/"passage" for e5, "query"/"document" elsewhere).
#[derive(Debug, Clone, Default)]
struct Prompts {
    query: String,
    passage: String,
}

impl Prompts {
    fn read(dir: &Path) -> Result<Prompts> {
        let path = dir.join("config_sentence_transformers.json");
        if !path.is_file() {
            return Ok(Prompts::default());
        }
        let mut config: SentenceTransformersConfig = read_json(&path)?;
        let mut take = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| config.prompts.remove(*n))
                .unwrap_or_default()
        };
        Ok(Prompts {
            query: take(&["query"]),
            passage: take(&["passage", "document"]),
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Embedder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`; batches use one
    /// thread per physical core.
    pub fn load(dir: &Path) -> Result<Embedder> {
        if !dir.is_dir() {
            return Err(unusable(dir, "the folder does not exist"));
        }
        let config_path = dir.join("config.json");
        let config: BertConfig = read_json(&config_path)?;
        if let Some(why) = config.unsupported() {
            return Err(unusable(&config_path, why));
        }
        let max_tokens = match dir.join("sentence_bert_config.json") {
            p if p.is_file() => read_json::<SentenceBertConfig>(&p)?.max_seq_length,
            _ => None,
        }
        .unwrap_or(DEFAULT_MAX_TOKENS)
        .min(config.max_position_embeddings)
        .max(2);

        let tokenizer_path = dir.join("tokenizer.json");
        if !tokenizer_path.is_file() {
            return Err(unusable(&tokenizer_path, "the file is missing"));
        }
        let mut counting_tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| unusable(&tokenizer_path, format!("bad tokenizer: {}", one_line(e))))?;
        counting_tokenizer.with_padding(None);
        let mut tokenizer = counting_tokenizer.clone();
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| unusable(&tokenizer_path, format!("cannot truncate: {}", one_line(e))))?;
        counting_tokenizer
            .with_truncation(None)
            .map_err(|e| unusable(&tokenizer_path, one_line(e)))?;

        let prompts = Prompts::read(dir)?;
        let weights_path = dir.join("model.safetensors");
        check_safetensors(&weights_path)?;
        let dim = config.hidden_size;
        let model = BertWeights::load(&weights_path, config).map_err(|e| {
            unusable(
                &weights_path,
                format!("cannot load BERT weights: {}", one_line(e)),
            )
        })?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Embedder {
            name,
            prompts,
            model,
            isa: cpu::isa(),
            tokenizer,
            counting_tokenizer,
            dim,
            max_tokens,
            batch_size: DEFAULT_BATCH_SIZE,
            pool: Mutex::new(ThreadPool::new(1)),
            scratch: Vec::new(),
            question_scratch: Mutex::new(Scratch::default()),
        }
        .with_threads(cpu::pool::physical_cores()))
    }

    /// Most texts per forward pass.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Threads that embed a batch (at least one; a single text always uses one).
    pub fn with_threads(mut self, threads: usize) -> Self {
        let threads = threads.max(1);
        self.pool = Mutex::new(ThreadPool::new(threads));
        self.scratch = (0..threads)
            .map(|_| Mutex::new(Scratch::default()))
            .collect();
        self
    }

    pub fn threads(&self) -> usize {
        self.scratch.len()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The model's name: its folder's (`all-MiniLM-L6-v2`, `multilingual-e5-small`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The prompts put before questions and stored texts ("query: ", "passage: " for e5; empty
    /// for models trained without).
    pub fn prompts(&self) -> (&str, &str) {
        (&self.prompts.query, &self.prompts.passage)
    }

    /// Longest input in tokens, [CLS] and [SEP] included; longer texts are truncated.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Longest text, in `count_tokens` units, that is embedded whole (after its prompt).
    pub fn max_text_tokens(&self) -> usize {
        let prompt = match self.prompts.passage.as_str() {
            "" => 0,
            p => self.count_tokens(p),
        };
        self.max_tokens.saturating_sub(2 + prompt).max(1)
    }

    /// Tokens of `text` without [CLS]/[SEP]; falls back to the byte length if encoding fails.
    pub fn count_tokens(&self, text: &str) -> usize {
        self.counting_tokenizer
            .encode_fast(text, false)
            .map(|e| e.get_ids().len())
            .unwrap_or(text.len())
    }

    /// One unit-length vector per text, in order, for texts that are stored and searched for
    /// (passages, sentences of passages); with the model's passage prompt.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed_with(&self.prompts.passage, texts)
    }

    /// One unit-length vector per text, for texts that search (questions, claims to check);
    /// with the model's query prompt.
    pub fn embed_queries(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed_with(&self.prompts.query, texts)
    }

    /// The vector of one question (see [`Embedder::embed_queries`]).
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.embed_queries(&[text])?.pop().unwrap_or_default())
    }

    fn embed_with(&self, prompt: &str, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        match texts {
            [] => Ok(Vec::new()),
            [text] => {
                let ids = self.token_ids(prompt, text)?;
                let run = |scratch: &mut Scratch| self.model.embed(self.isa, &[ids], scratch);
                // A second question at the same moment gets buffers of its own.
                Ok(match self.question_scratch.try_lock() {
                    Ok(mut scratch) => run(&mut scratch),
                    Err(_) => run(&mut Scratch::default()),
                })
            }
            _ => self.embed_on_pool(prompt, texts),
        }
    }

    /// One text on every thread of the pool, for comparison (examples/embed_latency.rs).
    #[doc(hidden)]
    pub fn embed_on_all_threads(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self
            .embed_on_pool(&self.prompts.passage, &[text])?
            .pop()
            .unwrap_or_default())
    }

    fn token_ids(&self, prompt: &str, text: &str) -> Result<Vec<u32>> {
        let encoding = if prompt.is_empty() {
            self.tokenizer.encode_fast(text, true)
        } else {
            self.tokenizer.encode_fast(format!("{prompt}{text}"), true)
        }
        .map_err(|e| Error::Tokenizer(one_line(e)))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Tokenises the texts and runs forward passes of similar-length texts on the pool's
    /// threads, each pass taken by whichever thread is free.
    fn embed_on_pool(&self, prompt: &str, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let pool = lock(&self.pool);
        let threads = pool.threads();
        let ids: Vec<Mutex<Result<Vec<u32>>>> =
            texts.iter().map(|_| Mutex::new(Ok(Vec::new()))).collect();
        let per_task = texts.len().div_ceil(4 * threads).max(1);
        pool.run(texts.len().div_ceil(per_task), &|task, _| {
            for i in task * per_task..((task + 1) * per_task).min(texts.len()) {
                *lock(&ids[i]) = self.token_ids(prompt, texts[i]);
            }
        });
        let ids = ids
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
            .collect::<Result<Vec<_>>>()?;

        let passes = plan_passes(&ids, threads, self.batch_size);
        let vectors: Vec<Mutex<Vec<Vec<f32>>>> =
            passes.iter().map(|_| Mutex::new(Vec::new())).collect();
        pool.run(passes.len(), &|pass, thread| {
            let sequences: Vec<Vec<u32>> = passes[pass].iter().map(|&i| ids[i].clone()).collect();
            let mut scratch = lock(&self.scratch[thread]);
            *lock(&vectors[pass]) = self.model.embed(self.isa, &sequences, &mut scratch);
        });
        let mut out = vec![Vec::new(); texts.len()];
        for (pass, vectors) in passes.iter().zip(vectors) {
            let vectors = vectors.into_inner().unwrap_or_else(PoisonError::into_inner);
            for (&i, vector) in pass.iter().zip(vectors) {
                out[i] = vector;
            }
        }
        Ok(out)
    }
}

/// Splits a call's texts into forward passes of even token counts (longest texts placed first,
/// each into the lightest pass with room): a multiple of the thread count, at least two per thread
/// when there is enough text, each near `TOKENS_PER_PASS` tokens at most and `batch_size` texts.
/// Sequences are not padded, so mixing lengths in a pass costs nothing.
fn plan_passes(ids: &[Vec<u32>], threads: usize, batch_size: usize) -> Vec<Vec<usize>> {
    let total: usize = ids.iter().map(Vec::len).sum();
    let count = (threads * total.div_ceil(threads * TOKENS_PER_PASS).max(2))
        .min(total.div_ceil(MIN_TOKENS_PER_PASS).max(threads))
        .max(ids.len().div_ceil(batch_size))
        .min(ids.len())
        .max(1);
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
    let mut passes: Vec<(usize, Vec<usize>)> = vec![(0, Vec::new()); count];
    for i in order {
        let (tokens, pass) = passes
            .iter_mut()
            .filter(|(_, pass)| pass.len() < batch_size)
            .min_by_key(|(tokens, _)| *tokens)
            .expect("count * batch_size >= texts");
        *tokens += ids[i].len();
        pass.push(i);
    }
    passes.into_iter().map(|(_, pass)| pass).collect()
}

/// Checks the safetensors header and that all tensor data lies inside the file, so a truncated
/// download is reported as such rather than as a failed memory map.
fn check_safetensors(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => unusable(path, "the file is missing"),
        _ => unusable(path, format!("cannot read it: {e}")),
    })?;
    let file_len = file
        .metadata()
        .map_err(|e| unusable(path, e.to_string()))?
        .len();
    let mut len_bytes = [0u8; 8];
    if file_len < 8 || file.read_exact(&mut len_bytes).is_err() {
        return Err(unusable(
            path,
            "the file is truncated: no safetensors header",
        ));
    }
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > file_len - 8 {
        return Err(unusable(
            path,
            format!("the file is truncated or not safetensors: header of {header_len} bytes, file of {file_len}"),
        ));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|e| unusable(path, e.to_string()))?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| unusable(path, format!("corrupt safetensors header: {}", one_line(e))))?;
    let data_end = header
        .iter()
        .filter(|(name, _)| name.as_str() != "__metadata__")
        .filter_map(|(_, info)| info.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    let needed = 8 + header_len + data_end;
    if needed > file_len {
        return Err(unusable(
            path,
            format!(
                "the file is truncated: tensor data needs {needed} bytes, the file has {file_len}"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lengths(lens: &[usize]) -> Vec<Vec<u32>> {
        lens.iter().map(|&n| vec![0; n]).collect()
    }

    #[test]
    fn passes_cover_every_text_once_and_balance_tokens() {
        let ids = lengths(&[250; 32]);
        let passes = plan_passes(&ids, 2, 32);
        assert_eq!(passes.len(), 4);
        let mut seen: Vec<usize> = passes.concat();
        seen.sort();
        assert_eq!(seen, (0..32).collect::<Vec<_>>());
        assert!(passes.iter().all(|p| p.len() == 8));

        // 32 one-line texts on 2 threads: 4 passes, none empty, sizes even.
        let ids = lengths(&(0..32).map(|i| 10 + i % 20).collect::<Vec<_>>());
        let passes = plan_passes(&ids, 2, 32);
        assert_eq!(passes.len(), 4);
        let tokens: Vec<usize> = passes
            .iter()
            .map(|p| p.iter().map(|&i| ids[i].len()).sum())
            .collect();
        assert!(
            tokens.iter().max().unwrap() - tokens.iter().min().unwrap() <= 29,
            "{tokens:?}"
        );

        // The batch size caps texts per pass; a tiny call is one pass per text at most.
        assert!(plan_passes(&lengths(&[5; 100]), 1, 8)
            .iter()
            .all(|p| p.len() <= 8));
        assert_eq!(plan_passes(&lengths(&[7, 7]), 4, 32).len(), 2);
        assert_eq!(
            plan_passes(&lengths(&[250; 1000]), 2, 32).len(),
            2 * 250_000usize.div_ceil(2 * TOKENS_PER_PASS)
        );
    }
}
