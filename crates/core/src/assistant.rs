//! The assistant: one library, one embedder, one chat model (loaded on first question).

use std::path::PathBuf;
use std::time::Instant;

use almanac_engine::{CancelFlag, ChatMessage, ChatModel, Embedder, GenerationParams, LoadOptions, StopReason};
use almanac_indexes::Index;
use serde::Serialize;

use crate::prompt::PromptParts;
use crate::retrieval::{retrieve, Retrieval};
use crate::{cited_sources, ingest, AnswerEvent, Error, IngestEvent, IngestReport, Paths, Result, Settings};

pub struct Assistant {
    paths: Paths,
    settings: Settings,
    embedder: Embedder,
    index: Index,
    chat: Option<ChatModel>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub retrieval_ms: f64,
    pub prompt_tokens: usize,
    /// From the question to the first streamed text, retrieval and prompt processing included.
    pub ttft_ms: f64,
    pub tokens: usize,
    pub tokens_per_s: f64,
    pub total_ms: f64,
}

/// A finished answer with everything that produced it.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub answer: String,
    pub retrieval: Retrieval,
    pub cited: Vec<usize>,
    pub stop_reason: StopReason,
    pub timings: Timings,
}

impl Assistant {
    /// Opens (or creates) the library in the data directory and loads the embedding model.
    pub fn open(paths: Paths) -> Result<Assistant> {
        let settings = Settings::load(&paths.settings_file())?;
        let embedder = load_embedder(&paths, &settings)?;
        let index = Index::open(&paths.library_dir(), embedder.dim())?;
        Ok(Assistant { paths, settings, embedder, index, chat: None })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    pub fn chat_model_path(&self) -> PathBuf {
        self.paths.resolve_model(&self.settings.chat_model)
    }

    pub fn ingest(&mut self, paths: &[PathBuf], on_event: &mut dyn FnMut(IngestEvent)) -> Result<IngestReport> {
        ingest::ingest(&mut self.index, &self.embedder, &self.settings, paths, on_event)
    }

    pub fn retrieve(&self, query: &str) -> Result<Retrieval> {
        retrieve(&self.index, &self.embedder, &self.settings, query)
    }

    /// Loads the chat model now rather than at the first question.
    pub fn load_chat_model(&mut self) -> Result<&mut ChatModel> {
        if self.chat.is_none() {
            let path = self.chat_model_path();
            if !path.exists() {
                return Err(Error::ModelMissing { path });
            }
            let options = LoadOptions {
                chat_template: self.settings.chat_template.clone(),
                context_length: Some(self.settings.context_length),
            };
            self.chat = Some(ChatModel::load(&path, &options)?);
        }
        Ok(self.chat.as_mut().expect("loaded above"))
    }

    /// Answers `question` from the library, given the conversation so far (`history`, alternating
    /// user and assistant messages). Emits `Sources`, then `Token`s, then `Done`.
    pub fn ask(
        &mut self,
        question: &str,
        history: &[ChatMessage],
        cancel: &CancelFlag,
        on_event: &mut dyn FnMut(AnswerEvent),
    ) -> Result<Answer> {
        let question = question.trim();
        if question.is_empty() {
            return Err(Error::EmptyQuestion);
        }
        let started = Instant::now();
        let mut retrieval = self.retrieve(&standalone_query(question, history))?;
        let today = chrono::Local::now().format("%Y-%m-%d").to_string();
        let settings = self.settings.clone();
        let model = self.load_chat_model()?;
        let parts = PromptParts {
            system_prompt: settings.system_prompt.as_deref(),
            today: &today,
            passages: &retrieval.passages,
            history,
            question,
        };
        let prompt = parts.fit(model, settings.max_answer_tokens)?;
        if prompt.passages_used < retrieval.passages.len() {
            retrieval.passages.truncate(prompt.passages_used);
            retrieval.used = prompt.passages_used > 0;
            if !retrieval.used {
                retrieval.reason = Some("no passage fitted in the model's context window beside the question".into());
            }
        }
        on_event(AnswerEvent::Sources { retrieval: retrieval.clone() });

        let params = GenerationParams {
            max_tokens: settings.max_answer_tokens,
            temperature: settings.temperature,
            top_p: settings.top_p,
            top_k: settings.top_k,
            repeat_penalty: settings.repeat_penalty,
            seed: settings.seed,
            ..GenerationParams::default()
        };
        let mut first_token_at = None;
        let generation = model.generate(&prompt.text, &params, cancel, &mut |delta| {
            first_token_at.get_or_insert_with(Instant::now);
            on_event(AnswerEvent::Token { text: delta.to_owned() });
        })?;
        let total = started.elapsed();
        let decode_s = generation.decode.as_secs_f64();
        let timings = Timings {
            retrieval_ms: retrieval.elapsed_ms,
            prompt_tokens: generation.prompt_tokens,
            ttft_ms: first_token_at.map_or(total, |t| t - started).as_secs_f64() * 1000.0,
            tokens: generation.generated_tokens,
            tokens_per_s: if decode_s > 0.0 { generation.generated_tokens as f64 / decode_s } else { 0.0 },
            total_ms: total.as_secs_f64() * 1000.0,
        };
        let cited = cited_sources(&generation.text, retrieval.passages.len());
        on_event(AnswerEvent::Done { stop_reason: generation.stop_reason, cited: cited.clone(), timings: timings.clone() });
        Ok(Answer { answer: generation.text, retrieval, cited, stop_reason: generation.stop_reason, timings })
    }
}

/// The configured embedding model.
pub fn load_embedder(paths: &Paths, settings: &Settings) -> Result<Embedder> {
    let dir = paths.resolve_model(&settings.embedding_model);
    if !dir.exists() {
        return Err(Error::ModelMissing { path: dir });
    }
    Ok(Embedder::load(&dir)?)
}

/// A follow-up ("and when was she born?") is searched together with the previous question, which
/// carries the subject it refers to.
fn standalone_query(question: &str, history: &[ChatMessage]) -> String {
    match history.iter().rev().find(|m| m.role == "user") {
        Some(previous) => format!("{} {}", previous.content.trim(), question),
        None => question.to_owned(),
    }
}
