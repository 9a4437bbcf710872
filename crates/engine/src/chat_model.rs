//! A Llama-architecture GGUF model ready to chat: weights (candle's `quantized_llama`), its
//! tokenizer and chat template, and the generation loop.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::{ModelWeights, MAX_SEQ_LEN};

use crate::chat_template::{ChatMessage, ChatTemplate};
use crate::error::{one_line, Error, Result};
use crate::generation::{CancelFlag, Generation, GenerationParams, StopReason};
use crate::gguf_metadata as md;
use crate::model_file;
use crate::sampling::TokenSampler;
use crate::stop_strings::{Filtered, StopStringFilter};
use crate::text_stream::IncrementalDecoder;
use crate::tokenizer::GgufTokenizer;

/// Prompt tokens per forward pass while prefilling: bounds the attention matrix's memory.
const PREFILL_CHUNK: usize = 512;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// A Jinja chat template to use instead of the one in the GGUF file.
    pub chat_template: Option<String>,
    /// A smaller context window than the model's.
    pub context_length: Option<usize>,
}

pub struct ChatModel {
    path: PathBuf,
    /// As loaded: no KV cache and no cached attention masks. Cloning it is cheap (tensors are
    /// shared), and each generation starts from a clone because candle caches one mask per
    /// (prompt length, position) and never frees them: over a long session with many prompt
    /// lengths that cache would grow without bound.
    pristine: ModelWeights,
    weights: ModelWeights,
    tokenizer: GgufTokenizer,
    /// `Err` holds why the file's own template could not be compiled.
    template: std::result::Result<Option<ChatTemplate>, String>,
    context_length: usize,
    device: Device,
}

impl std::fmt::Debug for ChatModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatModel")
            .field("path", &self.path)
            .field("context_length", &self.context_length)
            .field("tokenizer", &self.tokenizer)
            .finish_non_exhaustive()
    }
}

impl ChatModel {
    pub fn load(path: &Path, opts: &LoadOptions) -> Result<ChatModel> {
        let model_file::CheckedGguf {
            content,
            mut reader,
        } = model_file::open(path)?;
        model_file::require_llama(path, &content)?;
        check_hyperparameters(path, &content)?;
        let tokenizer = GgufTokenizer::from_gguf(&content)?;

        let bos = tokenizer.bos_token().unwrap_or_default().to_string();
        let eos = tokenizer.eos_token().unwrap_or_default().to_string();
        let template = match &opts.chat_template {
            Some(source) => Ok(Some(ChatTemplate::new(source, &bos, &eos)?)),
            None => match md::string(&content, "tokenizer.chat_template") {
                Some(source) => ChatTemplate::new(source, &bos, &eos)
                    .map(Some)
                    .map_err(|e| e.to_string()),
                None => Ok(None),
            },
        };

        let model_window = md::integer(&content, "llama.context_length").map(|n| n as usize);
        let context_length = match opts.context_length {
            Some(0) => {
                return Err(Error::InvalidParams(
                    "context_length must be at least 1".into(),
                ))
            }
            configured => [model_window, configured, Some(MAX_SEQ_LEN)]
                .into_iter()
                .flatten()
                .min(),
        }
        .unwrap_or(MAX_SEQ_LEN);

        let device = Device::Cpu;
        let weights =
            ModelWeights::from_gguf(content, &mut reader, &device).map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                detail: format!("cannot load the weights: {}", one_line(e)),
            })?;
        Ok(ChatModel {
            path: path.to_path_buf(),
            pristine: weights.clone(),
            weights,
            tokenizer,
            template,
            context_length,
            device,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    /// The smallest of the model's trained window, the configured one and candle's `MAX_SEQ_LEN`.
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// The conversation as a prompt, through the model's chat template.
    pub fn render_chat(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String> {
        self.chat_template()?
            .render(messages, add_generation_prompt)
    }

    /// Like `render_chat`, with extra template variables (`date_string`, `tools`, ...).
    pub fn render_chat_with(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String> {
        self.chat_template()?
            .render_with(messages, add_generation_prompt, extra)
    }

    fn chat_template(&self) -> Result<&ChatTemplate> {
        match &self.template {
            Ok(Some(template)) => Ok(template),
            Ok(None) => Err(Error::NoChatTemplate {
                path: self.path.clone(),
            }),
            Err(reason) => Err(Error::ChatTemplate(format!(
                "the template in {} is unusable: {reason}",
                self.path.display()
            ))),
        }
    }

    /// Tokens of a rendered prompt as `generate` will see it (special tokens parsed, BOS added
    /// if the model asks for it). Falls back to the byte length, an upper bound, if encoding fails.
    pub fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer
            .encode(text, true)
            .map(|ids| ids.len())
            .unwrap_or(text.len())
    }

    /// Generates a reply to a rendered prompt, streaming text deltas to `on_delta`.
    pub fn generate(
        &mut self,
        prompt: &str,
        params: &GenerationParams,
        cancel: &CancelFlag,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<Generation> {
        let prompt_ids = self.tokenizer.encode(prompt, true)?;
        self.generate_from_tokens(&prompt_ids, params, cancel, on_delta)
    }

    /// `generate` for a prompt that is already tokenized.
    pub fn generate_from_tokens(
        &mut self,
        prompt_ids: &[u32],
        params: &GenerationParams,
        cancel: &CancelFlag,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<Generation> {
        let started = Instant::now();
        let mut sampler = TokenSampler::new(params)?;
        self.check_prompt(prompt_ids)?;

        let mut run = Run::new(prompt_ids.len());
        if params.max_tokens == 0 {
            return Ok(run.finish(StopReason::MaxTokens));
        }
        if cancel.is_cancelled() {
            return Ok(run.finish(StopReason::Cancelled));
        }
        let Some(mut logits) = self.prefill(prompt_ids, cancel)? else {
            return Ok(run.finish(StopReason::Cancelled));
        };
        run.prefill = started.elapsed();
        let decode_started = Instant::now();

        let end_of_turn = self.tokenizer.end_of_turn_ids().to_vec();
        let mut history = prompt_ids.to_vec();
        let mut detokenizer = IncrementalDecoder::default();
        let mut stops = StopStringFilter::new(&params.stop);

        let reason = loop {
            let next = sampler.sample(&logits, &history)?;
            if run.generated == 0 {
                run.time_to_first_token = started.elapsed();
            }
            if end_of_turn.contains(&next) {
                break StopReason::EndOfTurn;
            }
            run.generated += 1;
            history.push(next);
            let delta = detokenizer.push(&self.tokenizer, next)?;
            if matches!(run.emit(stops.push(&delta), on_delta), Filtered::Stop(_)) {
                break StopReason::StopString;
            }
            if run.generated >= params.max_tokens {
                break StopReason::MaxTokens;
            }
            if history.len() >= self.context_length {
                break StopReason::ContextFull;
            }
            if cancel.is_cancelled() {
                break StopReason::Cancelled;
            }
            logits = self.forward(&[next], history.len() - 1)?;
        };

        let mut reason = reason;
        if reason != StopReason::StopString {
            // Release what was held back: an incomplete character, a possible stop-string start.
            let rest = detokenizer.finish(&self.tokenizer)?;
            if let Filtered::Stop(_) = run.emit(stops.push(&rest), on_delta) {
                reason = StopReason::StopString;
            } else {
                let held = stops.finish();
                run.emit(Filtered::Emit(held), on_delta);
            }
        }
        run.decode = decode_started.elapsed();
        Ok(run.finish(reason))
    }

    /// Logits for the token after each prefix of `continuation`: row i follows
    /// `prompt_ids + continuation[..i]`. For comparing with another implementation step by step.
    pub fn teacher_forced_logits(
        &mut self,
        prompt_ids: &[u32],
        continuation: &[u32],
    ) -> Result<Vec<Vec<f32>>> {
        self.check_prompt(prompt_ids)?;
        self.check_ids(continuation)?;
        if prompt_ids.len() + continuation.len() > self.context_length {
            return Err(Error::ContextOverflow {
                tokens: prompt_ids.len() + continuation.len(),
                limit: self.context_length,
            });
        }
        let never = CancelFlag::default();
        let mut logits = self
            .prefill(prompt_ids, &never)?
            .ok_or_else(|| Error::Inference("prefill stopped".into()))?;
        let mut rows = Vec::with_capacity(continuation.len());
        for (i, &token) in continuation.iter().enumerate() {
            rows.push(logits.flatten_all()?.to_vec1::<f32>()?);
            if i + 1 < continuation.len() {
                logits = self.forward(&[token], prompt_ids.len() + i)?;
            }
        }
        Ok(rows)
    }

    /// Logits for the token that follows `ids`, from a fresh cache.
    pub fn next_token_logits(&mut self, ids: &[u32]) -> Result<Vec<f32>> {
        self.check_prompt(ids)?;
        let never = CancelFlag::default();
        let logits = self
            .prefill(ids, &never)?
            .ok_or_else(|| Error::Inference("prefill stopped".into()))?;
        Ok(logits.flatten_all()?.to_vec1::<f32>()?)
    }

    fn check_prompt(&self, ids: &[u32]) -> Result<()> {
        if ids.is_empty() {
            return Err(Error::InvalidParams("the prompt has no tokens".into()));
        }
        if ids.len() >= self.context_length {
            return Err(Error::ContextOverflow {
                tokens: ids.len(),
                limit: self.context_length,
            });
        }
        self.check_ids(ids)
    }

    fn check_ids(&self, ids: &[u32]) -> Result<()> {
        let vocab = self.tokenizer.vocab_size();
        match ids.iter().find(|&&id| id as usize >= vocab) {
            Some(id) => Err(Error::InvalidParams(format!(
                "token id {id} is outside the vocabulary of {vocab}"
            ))),
            None => Ok(()),
        }
    }

    /// Runs the prompt in chunks from a fresh model state (empty KV cache, no cached masks);
    /// `None` if cancelled between chunks.
    fn prefill(&mut self, ids: &[u32], cancel: &CancelFlag) -> Result<Option<Tensor>> {
        self.weights = self.pristine.clone();
        let mut logits = None;
        for (i, chunk) in ids.chunks(PREFILL_CHUNK).enumerate() {
            if i > 0 && cancel.is_cancelled() {
                return Ok(None);
            }
            logits = Some(self.forward(chunk, i * PREFILL_CHUNK)?);
        }
        Ok(logits)
    }

    fn forward(&mut self, ids: &[u32], position: usize) -> Result<Tensor> {
        let input = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        Ok(self.weights.forward(&input, position)?.squeeze(0)?)
    }
}

/// Counters and output of one generation.
struct Run {
    text: String,
    prompt_tokens: usize,
    generated: usize,
    time_to_first_token: Duration,
    prefill: Duration,
    decode: Duration,
}

impl Run {
    fn new(prompt_tokens: usize) -> Run {
        Run {
            text: String::new(),
            prompt_tokens,
            generated: 0,
            time_to_first_token: Duration::ZERO,
            prefill: Duration::ZERO,
            decode: Duration::ZERO,
        }
    }

    /// Sends the emittable text on and keeps a copy, so `text` is exactly the deltas joined.
    fn emit(&mut self, filtered: Filtered, on_delta: &mut dyn FnMut(&str)) -> Filtered {
        let text = match &filtered {
            Filtered::Emit(text) | Filtered::Stop(text) => text,
        };
        if !text.is_empty() {
            self.text.push_str(text);
            on_delta(text);
        }
        filtered
    }

    fn finish(self, stop_reason: StopReason) -> Generation {
        Generation {
            text: self.text,
            stop_reason,
            prompt_tokens: self.prompt_tokens,
            cached_tokens: 0,
            generated_tokens: self.generated,
            time_to_first_token: self.time_to_first_token,
            prefill: self.prefill,
            decode: self.decode,
        }
    }
}

/// Candle divides by these and indexes with them; a bad file must fail here, not panic there.
fn check_hyperparameters(
    path: &Path,
    content: &candle_core::quantized::gguf_file::Content,
) -> Result<()> {
    let corrupt = |detail: String| Error::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let get =
        |key: &str| md::integer(content, key).ok_or_else(|| corrupt(format!("{key} is missing")));
    let heads = get("llama.attention.head_count")?;
    let kv_heads = get("llama.attention.head_count_kv")?;
    let embedding = get("llama.embedding_length")?;
    let rope_dim = get("llama.rope.dimension_count")?;
    get("llama.block_count")?;
    if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 {
        return Err(corrupt(format!(
            "{heads} attention heads cannot share {kv_heads} key/value heads"
        )));
    }
    if embedding == 0 || embedding % heads != 0 || rope_dim == 0 || rope_dim > embedding / heads {
        return Err(corrupt(format!(
            "embedding length {embedding}, {heads} heads and rope dimension {rope_dim} do not fit together"
        )));
    }
    let epsilon = content
        .metadata
        .get("llama.attention.layer_norm_rms_epsilon")
        .and_then(md::value_as_f32);
    if epsilon.is_none() {
        return Err(corrupt(
            "llama.attention.layer_norm_rms_epsilon is missing".into(),
        ));
    }
    Ok(())
}
