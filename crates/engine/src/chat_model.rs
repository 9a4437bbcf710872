//! A Llama-architecture GGUF model ready to chat: weights (on Almanac's own CPU kernels, see
//! `llama`), its tokenizer and chat template, the generation loop, and a prompt cache: the keys and
//! values of the last prompt and answer are kept, and the next prompt computes only the tokens
//! after the longest prefix it shares with them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::chat_template::{ChatMessage, ChatTemplate};
use crate::error::{Error, Result};
use crate::generation::{CancelFlag, Generation, GenerationParams, StopReason};
use crate::gguf_metadata as md;
use crate::llama::{KvCache, Llama};
use crate::model_file;
use crate::repetition::find_loop;
use crate::sampling::TokenSampler;
use crate::stop_strings::{Filtered, StopStringFilter};
use crate::text_stream::IncrementalDecoder;
use crate::tokenizer::GgufTokenizer;

/// Prompt tokens per forward pass while prefilling: between chunks a cancel is noticed.
const PREFILL_CHUNK: usize = 512;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// A Jinja chat template to use instead of the one in the GGUF file.
    pub chat_template: Option<String>,
    /// A smaller context window than the model's.
    pub context_length: Option<usize>,
    /// Threads for inference (default: one per physical core).
    pub threads: Option<usize>,
}

pub struct ChatModel {
    path: PathBuf,
    weights: Llama,
    /// Keys and values of `cached` (the last prompt and the answer tokens run after it).
    cache: KvCache,
    cached: Vec<u32>,
    tokenizer: GgufTokenizer,
    /// `Err` holds why the file's own template could not be compiled.
    template: std::result::Result<Option<ChatTemplate>, String>,
    context_length: usize,
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
        Self::load_checked(path, model_file::open(path)?, opts)
    }

    /// [`ChatModel::load`] of a file whose header was checked; fails if the file changed since.
    fn load_checked(
        path: &Path,
        checked: model_file::CheckedGguf,
        opts: &LoadOptions,
    ) -> Result<ChatModel> {
        let model_file::CheckedGguf {
            content,
            mut reader,
            opened,
        } = checked;
        model_file::require_llama(path, &content)?;
        let tokenizer = GgufTokenizer::from_gguf(&content).map_err(|e| match e {
            // The tokenizer reads the file's metadata: its errors name the file.
            Error::Tokenizer(detail) => Error::Corrupt {
                path: path.to_path_buf(),
                detail: format!("tokenizer: {detail}"),
            },
            other => Error::Unsupported(format!("{}: {other}", path.display())),
        })?;

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
            configured => [model_window, configured, Some(crate::MAX_CONTEXT_LENGTH)]
                .into_iter()
                .flatten()
                .min(),
        }
        .unwrap_or(crate::MAX_CONTEXT_LENGTH);
        if opts.threads == Some(0) {
            return Err(Error::InvalidParams("threads must be at least 1".into()));
        }
        let threads = opts
            .threads
            .unwrap_or_else(crate::cpu::pool::physical_cores);

        let weights = Llama::load(path, &content, &mut reader, context_length, threads);
        // A read cut short by a truncation is reported as the change it was.
        opened.check(path, reader.get_ref())?;
        let weights = weights?;
        if tokenizer.vocab_size() > weights.vocab_size() {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                detail: format!(
                    "the tokenizer has {} tokens but the embedding table only {}",
                    tokenizer.vocab_size(),
                    weights.vocab_size()
                ),
            });
        }
        Ok(ChatModel {
            path: path.to_path_buf(),
            cache: weights.new_cache(),
            cached: Vec::new(),
            weights,
            tokenizer,
            template,
            context_length,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    /// Threads each forward pass runs on.
    pub fn threads(&self) -> usize {
        self.weights.threads()
    }

    /// The smallest of the model's trained window, the configured one and `MAX_CONTEXT_LENGTH`.
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
        let Some((mut logits, reused)) = self.prefill(prompt_ids, cancel)? else {
            return Ok(run.finish(StopReason::Cancelled));
        };
        run.cached = reused;
        run.prefill = started.elapsed();
        let decode_started = Instant::now();

        let end_of_turn = self.tokenizer.end_of_turn_ids().to_vec();
        let mut history = prompt_ids.to_vec();
        // The answer's length in bytes after each generated token, to cut it back to a loop's start.
        let mut text_after = Vec::new();
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
            text_after.push(run.text.len());
            if let Some(found) = find_loop(&history[prompt_ids.len()..]) {
                // Text still held back (a partial character, a possible stop string) belongs to
                // the repeats, so it is dropped with them.
                run.text.truncate(text_after[found.keep - 1]);
                break StopReason::Repetition;
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
            logits = self.forward(&[next])?;
        };

        let mut reason = reason;
        if !matches!(reason, StopReason::StopString | StopReason::Repetition) {
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
        let (mut logits, _) = self
            .prefill(prompt_ids, &never)?
            .ok_or_else(|| Error::Inference("prefill stopped".into()))?;
        let mut rows = Vec::with_capacity(continuation.len());
        for (i, &token) in continuation.iter().enumerate() {
            let next = match i + 1 < continuation.len() {
                true => Some(self.forward(&[token])?),
                false => None,
            };
            rows.push(std::mem::replace(&mut logits, next.unwrap_or_default()));
        }
        Ok(rows)
    }

    /// Logits for the token that follows `ids`.
    pub fn next_token_logits(&mut self, ids: &[u32]) -> Result<Vec<f32>> {
        self.check_prompt(ids)?;
        let never = CancelFlag::default();
        let (logits, _) = self
            .prefill(ids, &never)?
            .ok_or_else(|| Error::Inference("prefill stopped".into()))?;
        Ok(logits)
    }

    /// Forgets the prompt cache, so the next prompt is computed from its first token.
    pub fn clear_prompt_cache(&mut self) {
        self.cache.truncate(0);
        self.cached.clear();
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

    /// Runs the prompt in chunks after the longest prefix it shares with the cached tokens (at
    /// least its last token runs, for its logits). Returns those logits and how many tokens were
    /// reused; `None` if cancelled between chunks (what was computed stays cached).
    fn prefill(&mut self, ids: &[u32], cancel: &CancelFlag) -> Result<Option<(Vec<f32>, usize)>> {
        let shared = self
            .cached
            .iter()
            .zip(ids)
            .take_while(|(a, b)| a == b)
            .count();
        let reused = shared.min(ids.len() - 1);
        self.cache.truncate(reused);
        self.cached.truncate(reused);
        let mut logits = None;
        for (i, chunk) in ids[reused..].chunks(PREFILL_CHUNK).enumerate() {
            if i > 0 && cancel.is_cancelled() {
                return Ok(None);
            }
            logits = Some(self.forward(chunk)?);
        }
        Ok(logits.map(|logits| (logits, reused)))
    }

    /// The next token's logits after running `ids` on top of the cache.
    fn forward(&mut self, ids: &[u32]) -> Result<Vec<f32>> {
        match self.weights.forward(&mut self.cache, ids) {
            Ok(logits) => {
                self.cached.extend_from_slice(ids);
                Ok(logits)
            }
            Err(err) => {
                // A failed pass may have written part of its keys and values: trust nothing.
                self.clear_prompt_cache();
                Err(err)
            }
        }
    }
}

/// Counters and output of one generation.
struct Run {
    text: String,
    prompt_tokens: usize,
    cached: usize,
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
            cached: 0,
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
            cached_tokens: self.cached,
            generated_tokens: self.generated,
            time_to_first_token: self.time_to_first_token,
            prefill: self.prefill,
            decode: self.decode,
        }
    }
}

#[cfg(test)]
mod changed_while_loading {
    use super::*;

    /// A model file cut short or written over between its header check and the reading of its
    /// tensors is refused in one line naming it, never loaded as a mix (decision 0017).
    #[test]
    fn a_file_cut_short_while_its_tensors_are_read_is_refused() {
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/llama3/tiny-llama32-gqa1-hd64-q8_0.gguf");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.gguf");
        std::fs::copy(&fixture, &path).unwrap();
        let opts = LoadOptions::default();
        assert!(ChatModel::load(&path, &opts).is_ok());

        let checked = model_file::open(&path).unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 1000)
            .unwrap();
        let err = ChatModel::load_checked(&path, checked, &opts).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, Error::ChangedWhileLoading { .. })
                && message.contains(path.to_str().unwrap())
                && message.contains(&format!("{len} bytes when opened, {} now", len - 1000)),
            "{message}"
        );

        // Written over in place, same length: the modification time tells.
        std::fs::copy(&fixture, &path).unwrap();
        let checked = model_file::open(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let bytes = std::fs::read(&fixture).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let err = ChatModel::load_checked(&path, checked, &opts).unwrap_err();
        assert!(matches!(err, Error::ChangedWhileLoading { .. }), "{err}");
    }
}
