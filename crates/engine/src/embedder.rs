//! Sentence embeddings from a BERT-family model (safetensors + tokenizer.json), as
//! sentence-transformers computes them: mean of the token vectors under the attention mask,
//! then L2 normalisation.

use std::path::Path;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::error::{one_line, Error, Result};

/// sentence-transformers' usual limit when the model folder does not say.
const DEFAULT_MAX_TOKENS: usize = 256;
const DEFAULT_BATCH_SIZE: usize = 32;

pub struct Embedder {
    model: BertModel,
    /// Truncates to `max_tokens` and pads each batch to its longest text.
    batch_tokenizer: Tokenizer,
    /// No truncation, for counting.
    counting_tokenizer: Tokenizer,
    dim: usize,
    max_tokens: usize,
    batch_size: usize,
    device: Device,
    /// One thread for a single text (a question): its matrices are too small for candle's
    /// parallel matmul to pay for waking the other threads, which on a busy machine costs more
    /// than it saves (docs/decisions/0003-embedding-speed.md). `None` if the thread could
    /// not be started; the text is then embedded like a batch.
    single_text_pool: Option<rayon::ThreadPool>,
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

impl Embedder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path) -> Result<Embedder> {
        if !dir.is_dir() {
            return Err(unusable(dir, "the folder does not exist"));
        }
        let config: Config = read_json(&dir.join("config.json"))?;
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
        let mut batch_tokenizer = counting_tokenizer.clone();
        let padding = PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..counting_tokenizer
                .get_padding()
                .cloned()
                .unwrap_or_default()
        };
        batch_tokenizer.with_padding(Some(padding));
        batch_tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| unusable(&tokenizer_path, format!("cannot truncate: {}", one_line(e))))?;
        counting_tokenizer.with_padding(None);
        counting_tokenizer
            .with_truncation(None)
            .map_err(|e| unusable(&tokenizer_path, one_line(e)))?;

        let weights_path = dir.join("model.safetensors");
        check_safetensors(&weights_path)?;
        let device = Device::Cpu;
        // SAFETY: the file is memory-mapped read-only; it must not change while loaded, which
        // holds for model files that Almanac installs and never rewrites in place.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&weights_path], DType::F32, &device) }
                .map_err(|e| {
                unusable(
                    &weights_path,
                    format!("not a valid safetensors file: {}", one_line(e)),
                )
            })?;
        let model = BertModel::load(vb, &config).map_err(|e| {
            unusable(
                &weights_path,
                format!("cannot load BERT weights: {}", one_line(e)),
            )
        })?;
        Ok(Embedder {
            model,
            batch_tokenizer,
            counting_tokenizer,
            dim: config.hidden_size,
            max_tokens,
            batch_size: DEFAULT_BATCH_SIZE,
            device,
            single_text_pool: rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .thread_name(|_| "almanac-embed-one".into())
                .build()
                .ok(),
        })
    }

    /// Texts per forward pass.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Longest input in tokens, [CLS] and [SEP] included; longer texts are truncated.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Longest text, in `count_tokens` units, that is embedded whole.
    pub fn max_text_tokens(&self) -> usize {
        self.max_tokens - 2
    }

    /// Tokens of `text` without [CLS]/[SEP]; falls back to the byte length if encoding fails.
    pub fn count_tokens(&self, text: &str) -> usize {
        self.counting_tokenizer
            .encode_fast(text, false)
            .map(|e| e.get_ids().len())
            .unwrap_or(text.len())
    }

    /// One unit-length vector per text, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if let ([_], Some(pool)) = (texts, &self.single_text_pool) {
            return pool.install(|| self.embed_batch(texts));
        }
        // Embedding texts of similar length together wastes less work on padding.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut vectors: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for batch in order.chunks(self.batch_size) {
            let batch_texts: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
            for (&i, vector) in batch.iter().zip(self.embed_batch(&batch_texts)?) {
                vectors[i] = vector;
            }
        }
        Ok(vectors)
    }

    /// One text with candle's default thread use, for comparison (examples/embed_latency.rs).
    #[doc(hidden)]
    pub fn embed_on_all_threads(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.embed_batch(&[text])?.pop().unwrap_or_default())
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let encodings = self
            .batch_tokenizer
            .encode_batch_fast(texts.to_vec(), true)
            .map_err(|e| Error::Tokenizer(one_line(e)))?;
        let rows = encodings.len();
        let width = encodings
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(0);
        let flat = |get: &dyn Fn(&tokenizers::Encoding) -> &[u32]| -> Vec<u32> {
            encodings
                .iter()
                .flat_map(|e| get(e).iter().copied())
                .collect()
        };
        let ids = Tensor::from_vec(flat(&|e| e.get_ids()), (rows, width), &self.device)?;
        let mask = Tensor::from_vec(
            flat(&|e| e.get_attention_mask()),
            (rows, width),
            &self.device,
        )?;
        let type_ids = ids.zeros_like()?;
        let hidden = self.model.forward(&ids, &type_ids, Some(&mask))?;

        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .sqrt()?
            .clamp(1e-12, f64::MAX)?;
        Ok(mean.broadcast_div(&norms)?.to_vec2::<f32>()?)
    }
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
