//! The assistant: one library, one embedder, one chat model (loaded on first question).
//!
//! Shared by every front end at once (`&self` everywhere): searches read the index while an ingestion
//! writes it document by document, and one answer is generated at a time.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use almanac_engine::{
    CancelFlag, ChatMessage, ChatModel, Embedder, LoadOptions, OpenAiEndpoint, StopReason,
};
use almanac_indexes::Index;
use serde::Serialize;
use sha2::Digest;

use crate::grounding::{AnsweredSentence, Evidence, Grounding};
use crate::library_embedder::{self, open_library_index, ReembedProgress};
use crate::lock;
use crate::prompt::PromptParts;
use crate::retrieval::{retrieve, Retrieval, WebPages};
use crate::web::{CachedPage, WebCache, WebFailure, WebReport};
use crate::{
    cited_sources, ingest, AnswerEvent, AnswerOptions, Backend, Error, IngestEvent, IngestReport,
    Parser, Paths, Queue, Result, Scope, Settings,
};

pub struct Assistant {
    paths: Paths,
    settings: RwLock<Settings>,
    /// Swapped when a change of embedding model switches the library (`change_embedder`).
    embedder: RwLock<Arc<Embedder>>,
    index: RwLock<Index>,
    chat: Mutex<Option<ChatModel>>,
    queue: Queue,
    parser: Parser,
    web: WebCache,
    /// Endpoints (URL and model) whose chat template refused a system message after the first:
    /// they get the sources inside the question from then on, without asking twice.
    sources_in_question: Mutex<std::collections::HashSet<(String, String)>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub retrieval_ms: f64,
    pub prompt_tokens: usize,
    /// Of `prompt_tokens`, those whose state the model reused from the previous prompt (the prefix
    /// the two share: system text and earlier turns) instead of computing them again.
    pub cached_tokens: usize,
    /// From the question to the first streamed text, retrieval and prompt processing included.
    pub ttft_ms: f64,
    pub tokens: usize,
    pub tokens_per_s: f64,
    pub total_ms: f64,
    /// Finding the quoted evidence (before generation, so part of `ttft_ms`).
    pub evidence_ms: f64,
    /// Matching the answer's sentences to the passages (after generation).
    pub attribution_ms: f64,
}

/// Quotes of evidence given with an answer, at most.
const EVIDENCE_QUOTES: usize = 3;

/// A finished answer with everything that produced it.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub answer: String,
    pub retrieval: Retrieval,
    /// The sources the model cited as `[n]`.
    pub cited: Vec<usize>,
    /// The passages' sentences that best answer the question (see [`Grounding`]).
    pub evidence: Vec<Evidence>,
    /// The sources Almanac attributed the answer's sentences to, and the sentences.
    pub attributed: Vec<usize>,
    pub sentences: Vec<AnsweredSentence>,
    pub stop_reason: StopReason,
    pub timings: Timings,
}

impl Assistant {
    /// Opens (or creates) the library in the data directory and loads the embedding model.
    pub fn open(paths: Paths) -> Result<Assistant> {
        let settings = Settings::load(&paths.settings_file())?;
        let embedder = load_embedder(&paths, &settings)?;
        let index = open_library_index(&paths.library_dir(), &embedder)?;
        let queue = Queue::open(&paths.library_dir().join("queue.sqlite"))?;
        let paths_data_dir = paths.data_dir.clone();
        Ok(Assistant {
            queue,
            parser: Parser::detect(),
            paths,
            settings: RwLock::new(settings),
            embedder: RwLock::new(Arc::new(embedder)),
            index: RwLock::new(index),
            chat: Mutex::new(None),
            web: WebCache::new(&paths_data_dir),
            sources_in_question: Mutex::new(Default::default()),
        })
    }

    /// A copy of the current settings.
    pub fn settings(&self) -> Settings {
        read(&self.settings).clone()
    }

    /// Changes the settings for this process (not saved; see [`Assistant::save_settings`]). A
    /// changed chat model or context length takes effect at the next question.
    pub fn update_settings(&self, change: impl FnOnce(&mut Settings)) {
        let mut settings = write(&self.settings);
        let before = (
            settings.chat_model.clone(),
            settings.context_length,
            settings.chat_template.clone(),
        );
        change(&mut settings);
        if before
            != (
                settings.chat_model.clone(),
                settings.context_length,
                settings.chat_template.clone(),
            )
        {
            *lock(&self.chat) = None;
        }
    }

    /// Writes the current settings to `settings.json` (to a temporary file first, then renamed).
    pub fn save_settings(&self) -> Result<()> {
        read(&self.settings).save(&self.paths.settings_file())
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The embedding model of the library (the one its vectors come from).
    pub fn embedder(&self) -> Arc<Embedder> {
        read(&self.embedder).clone()
    }

    /// Moves the library to the embedding model `model` (a folder name in the models directory,
    /// or a path): every chunk is re-embedded with it, batch by batch, while questions are still
    /// answered from the old vectors; then the library switches to the new vectors at once, the
    /// `embedding_model` setting is saved and the web cache (vectors of the old model) emptied.
    /// A change cut short (even by SIGKILL) resumes where it stopped when asked again; an open
    /// that finds the setting already saved finishes it. `false`: the library already uses it.
    pub fn change_embedder(
        &self,
        model: &std::path::Path,
        on_progress: &mut dyn FnMut(ReembedProgress),
    ) -> Result<bool> {
        let mut settings = self.settings();
        settings.embedding_model = model.to_path_buf();
        let new = Arc::new(load_embedder(&self.paths, &settings)?);
        let current = self.embedder();
        let pending = self.index().embedder_change()?;
        if new.name() == current.name() && new.dim() == current.dim() {
            if pending.is_some() {
                // A change to another model begun and abandoned: its stored vectors are dropped.
                self.index_mut()
                    .begin_embedder_change(current.name(), current.dim())?;
            }
            return Ok(false);
        }
        loop {
            library_embedder::reembed(&self.index, &new, on_progress, &|| false)?;
            // Saved before the switch: an open that finds it finishes the switch (a crash between
            // the two leaves the setting naming the new model and every new vector stored).
            self.update_settings(|s| s.embedding_model = model.to_path_buf());
            self.save_settings()?;
            let mut index = self.index_mut();
            if library_embedder::switch(&mut index)? {
                *write(&self.embedder) = new.clone();
                break;
            }
            // Documents came in between the last batch and the switch: embed them too.
        }
        self.web.clear()?;
        Ok(true)
    }

    /// The library index, for reading (listing, searching, statistics).
    pub fn index(&self) -> RwLockReadGuard<'_, Index> {
        read(&self.index)
    }

    /// The library index, for removing or re-indexing documents.
    pub fn index_mut(&self) -> RwLockWriteGuard<'_, Index> {
        write(&self.index)
    }

    pub fn chat_model_path(&self) -> PathBuf {
        self.paths.resolve_model(&read(&self.settings).chat_model)
    }

    /// Ingests files and folders (see [`crate::discover`]), plus whatever an earlier run left
    /// queued; unchanged files are skipped.
    pub fn ingest(
        &self,
        paths: &[PathBuf],
        on_event: &mut dyn FnMut(IngestEvent),
    ) -> Result<IngestReport> {
        let found = ingest::discover(paths)?;
        self.ingest_found(found, false, on_event)
    }

    /// Ingests files already found by [`crate::discover`]; `force` re-indexes unchanged ones.
    pub fn ingest_found(
        &self,
        found: ingest::Discovered,
        force: bool,
        on_event: &mut dyn FnMut(IngestEvent),
    ) -> Result<IngestReport> {
        self.choose_embedder(&found, on_event)?;
        let settings = self.settings();
        let embedder = self.embedder();
        ingest::Ingest {
            index: &self.index,
            embedder: &embedder,
            settings: &settings,
            parser: &self.parser,
            queue: &self.queue,
        }
        .run(found, force, on_event)
    }

    /// Moves an empty library to the multilingual embedder when these files are mostly Chinese,
    /// Japanese or Korean (`crate::embedder_choice`): nothing is embedded yet, so nothing is
    /// re-embedded. Sampled files that fail to parse are left for the ingestion to report.
    fn choose_embedder(
        &self,
        found: &ingest::Discovered,
        on_event: &mut dyn FnMut(IngestEvent),
    ) -> Result<()> {
        use crate::embedder_choice::{mostly_cjk, sample, MULTILINGUAL_EMBEDDER};
        let settings = self.settings();
        if !settings.auto_embedder
            || found.files.is_empty()
            || self.embedder().name() == MULTILINGUAL_EMBEDDER
            || self.index().stats()?.chunks > 0
            || self.index().embedder_change()?.is_some()
        {
            return Ok(());
        }
        let texts: Vec<String> = sample(&found.files)
            .into_iter()
            .filter_map(|path| self.parser.parse(path, &settings).ok())
            .map(|doc| doc.text)
            .collect();
        if !mostly_cjk(texts.iter().map(String::as_str)) {
            return Ok(());
        }
        let model = std::path::Path::new(MULTILINGUAL_EMBEDDER);
        let installed = self.paths.resolve_model(model).exists();
        if installed {
            self.change_embedder(model, &mut |_| {})?;
        }
        on_event(IngestEvent::EmbedderChosen {
            model: MULTILINGUAL_EMBEDDER.into(),
            installed,
        });
        Ok(())
    }

    /// Remembers folders (the library follows them: see [`Assistant::sync`]) and ingests them.
    pub fn add_folders(
        &self,
        folders: &[PathBuf],
        on_event: &mut dyn FnMut(IngestEvent),
    ) -> Result<IngestReport> {
        let mut canonical = Vec::with_capacity(folders.len());
        for f in folders {
            canonical.push(std::fs::canonicalize(f).map_err(crate::Error::io(f))?);
        }
        let found = ingest::discover(&canonical)?;
        for f in &canonical {
            if f.is_dir() {
                self.queue.add_folder(f)?;
            }
        }
        self.ingest_found(found, false, on_event)
    }

    /// Brings the library in line with its folders: files left queued are indexed, new and changed
    /// files indexed, documents whose files are gone removed.
    pub fn sync(&self, on_event: &mut dyn FnMut(IngestEvent)) -> Result<IngestReport> {
        let folders: Vec<PathBuf> = self
            .queue
            .folders()?
            .into_iter()
            .filter(|f| f.is_dir())
            .collect();
        self.remove_missing(on_event)?;
        let found = if folders.is_empty() {
            ingest::Discovered::default()
        } else {
            match ingest::discover(&folders) {
                Ok(found) => found,
                Err(crate::Error::NothingToIngest { .. }) => ingest::Discovered::default(),
                Err(e) => return Err(e),
            }
        };
        self.ingest_found(found, false, on_event)
    }

    /// Removes documents (and queue entries) whose files no longer exist.
    pub fn remove_missing(&self, on_event: &mut dyn FnMut(IngestEvent)) -> Result<usize> {
        let mut gone = self.known_paths()?;
        gone.retain(|p| !std::path::Path::new(p).exists());
        for path in &gone {
            self.remove_path(path)?;
            on_event(IngestEvent::Removed { path: path.into() });
        }
        if !gone.is_empty() {
            self.index_mut().commit()?;
        }
        Ok(gone.len())
    }

    /// Every path the library knows, indexed or only queued, sorted, each once.
    pub(crate) fn known_paths(&self) -> Result<Vec<String>> {
        let mut paths: Vec<String> = self
            .index()
            .documents()?
            .into_iter()
            .map(|d| d.path)
            .collect();
        paths.extend(self.queue.statuses()?.into_iter().map(|s| s.path));
        paths.sort();
        paths.dedup();
        Ok(paths)
    }

    /// Removes a document from the index and the queue (not committed: call `commit` after a batch).
    pub fn remove_path(&self, path: &str) -> Result<bool> {
        let removed = self.index_mut().remove_document(path)?;
        let forgotten = self.queue.forget(path)?;
        Ok(removed || forgotten)
    }

    /// The ingestion queue and per-file statuses.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// How this process parses documents.
    pub fn parser(&self) -> &Parser {
        &self.parser
    }

    /// Searches the library alone.
    pub fn retrieve(&self, query: &str) -> Result<Retrieval> {
        retrieve(
            &self.index(),
            None,
            &self.embedder(),
            &self.settings(),
            query,
            None,
        )
    }

    /// Searches the library and, when the question names URLs or `web` is on, the web pages for
    /// it (fetched into the web cache first, unless fresh there).
    pub fn retrieve_with_web(&self, question: &str, query: &str, web: bool) -> Result<Retrieval> {
        self.retrieve_scoped(question, query, web, None)
    }

    /// [`Assistant::retrieve_with_web`] over the part of the library `scope` admits.
    pub fn retrieve_scoped(
        &self,
        question: &str,
        query: &str,
        web: bool,
        scope: Option<&Scope>,
    ) -> Result<Retrieval> {
        let settings = self.settings();
        let Some((pages, report)) = self.gather_web(question, query, web, &settings)? else {
            return retrieve(
                &self.index(),
                None,
                &self.embedder(),
                &settings,
                query,
                scope,
            );
        };
        let query = strip_urls(query);
        let embedder = self.embedder();
        self.web.with_index(&embedder, |web_index| {
            let web = WebPages {
                index: web_index,
                pages: &pages,
                report,
            };
            retrieve(
                &self.index(),
                Some(web),
                &embedder,
                &settings,
                &query,
                scope,
            )
        })
    }

    /// The pages for a question: its own URLs, then (web on) the search provider's results.
    fn gather_web(
        &self,
        question: &str,
        query: &str,
        web: bool,
        settings: &Settings,
    ) -> Result<Option<(Vec<CachedPage>, WebReport)>> {
        let mut urls = almanac_fetch::urls_in(question);
        if urls.is_empty() && !web {
            return Ok(None);
        }
        let mut report = WebReport::default();
        if web {
            if settings.web_search_url.is_none() && urls.is_empty() {
                return Err(Error::WebUnavailable);
            }
            if settings.web_search_url.is_some() {
                let search_query = strip_urls(query);
                match self.web.search(settings, &search_query) {
                    Ok(found) => {
                        for url in found {
                            if !urls.contains(&url) {
                                urls.push(url);
                            }
                        }
                    }
                    Err(e) => report.failed.push(WebFailure {
                        url: settings.web_search_url.clone().unwrap_or_default(),
                        error: e.to_string(),
                    }),
                }
                report.searched = Some(search_query);
            }
        }
        self.web
            .gather(&self.embedder(), settings, &urls, &mut report)?;
        let mut pages = Vec::new();
        for url in &report.pages {
            if let Some(page) = self.web.page(url)? {
                pages.push(page);
            }
        }
        Ok(Some((pages, report)))
    }

    /// Fetches one page (the user's URL: `ignore_robots` is theirs to choose), keeps it in the web
    /// cache and returns it.
    pub fn fetch_page(&self, url: &str, ignore_robots: bool) -> Result<almanac_fetch::Page> {
        let settings = self.settings();
        let page = self
            .web
            .fetcher(&settings)?
            .fetch(url, almanac_fetch::FetchOptions { ignore_robots })?;
        self.web.store(&self.embedder(), &settings, &page)?;
        Ok(page)
    }

    /// Adds a fetched page to the library itself (its URL as the document's path), so it is
    /// searched with every question from now on. Returns its chunk count.
    pub fn pin_page(&self, page: &almanac_fetch::Page) -> Result<usize> {
        let settings = self.settings();
        let chunks = crate::web::embed_page(&self.embedder(), &settings, &page.title, &page.text)?;
        let count = chunks.len();
        let modified = page
            .published
            .as_deref()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().timestamp())
            .unwrap_or(page.fetched_at.timestamp());
        let input = almanac_indexes::DocumentInput {
            path: page.url.clone(),
            title: page.title.clone(),
            content_hash: format!("{:x}", sha2::Sha256::digest(page.text.as_bytes())),
            modified: Some(modified),
        };
        let mut index = self.index_mut();
        index.upsert_document(&input, chunks)?;
        index.commit()?;
        Ok(count)
    }

    /// The chat model, loaded if it is not yet; held for as long as the guard lives.
    pub fn chat_model(&self) -> Result<ChatModelGuard<'_>> {
        let mut chat = lock(&self.chat);
        if chat.is_none() {
            let settings = self.settings();
            let path = self.paths.resolve_model(&settings.chat_model);
            if !path.exists() {
                return Err(Error::ModelMissing { path });
            }
            crate::downloads::check_memory(&path, settings.context_length)?;
            let options = LoadOptions {
                chat_template: settings.chat_template,
                context_length: Some(settings.context_length),
                ..Default::default()
            };
            *chat = Some(ChatModel::load(&path, &options)?);
        }
        Ok(ChatModelGuard(chat))
    }

    /// Answers `question` from the library, given the conversation so far (`history`, alternating
    /// user and assistant messages). Emits `Sources`, then `Token`s, then `Done`.
    pub fn ask(
        &self,
        question: &str,
        history: &[ChatMessage],
        cancel: &CancelFlag,
        on_event: &mut dyn FnMut(AnswerEvent),
    ) -> Result<Answer> {
        self.ask_with_web(question, history, false, cancel, on_event)
    }

    /// [`Assistant::ask`], with the web: URLs written in the question are always fetched; `web`
    /// also searches the configured provider and fetches its best results.
    pub fn ask_with_web(
        &self,
        question: &str,
        history: &[ChatMessage],
        web: bool,
        cancel: &CancelFlag,
        on_event: &mut dyn FnMut(AnswerEvent),
    ) -> Result<Answer> {
        let options = AnswerOptions {
            web,
            ..AnswerOptions::default()
        };
        self.answer(question, history, &options, cancel, on_event)
    }

    /// [`Assistant::ask`] with per-answer choices: retrieval off or scoped, web search, the system
    /// prompt and sampling.
    pub fn answer(
        &self,
        question: &str,
        history: &[ChatMessage],
        options: &AnswerOptions,
        cancel: &CancelFlag,
        on_event: &mut dyn FnMut(AnswerEvent),
    ) -> Result<Answer> {
        let question = question.trim();
        if question.is_empty() {
            return Err(Error::EmptyQuestion);
        }
        let started = Instant::now();
        let query = standalone_query(question, history);
        let mut retrieval = if options.retrieval {
            self.retrieve_scoped(question, &query, options.web, options.scope.as_ref())?
        } else {
            Retrieval::off(&query, "retrieval was turned off for this question")
        };
        let today = today()?;
        let settings = self.settings();
        let params = options.sampling.params(&settings);
        let parts = PromptParts {
            system_prompt: options
                .system_prompt
                .as_deref()
                .or(settings.system_prompt.as_deref()),
            today: &today,
            passages: &retrieval.passages,
            history,
            question,
        };
        // The same messages either way: rendered here through the GGUF's template, or sent to
        // the endpoint, whose own template applies.
        let (prepared, passages_used) = match remote_endpoint(&settings.backend)? {
            Some(endpoint) => {
                let fitted = parts.fit_estimated(endpoint.context_length(), params.max_tokens)?;
                let used = fitted.passages_used;
                let fallback = fitted.with_sources_in_question(&parts);
                (Prepared::Remote(endpoint, fitted.messages, fallback), used)
            }
            None => {
                let model = self.chat_model()?;
                let prompt = parts.fit(&model, params.max_tokens)?;
                let used = prompt.passages_used;
                (Prepared::Local(model, prompt.text), used)
            }
        };
        if passages_used < retrieval.passages.len() {
            retrieval.passages.truncate(passages_used);
            retrieval.used = passages_used > 0;
            if !retrieval.used {
                retrieval.reason = Some(
                    "no passage fitted in the model's context window beside the question".into(),
                );
            }
        }
        on_event(AnswerEvent::Sources {
            retrieval: retrieval.clone(),
        });
        let evidence_started = Instant::now();
        let mut grounding = Grounding::new(
            &self.embedder(),
            question,
            &retrieval.query,
            &retrieval.passages,
        )?;
        let evidence = grounding.evidence(EVIDENCE_QUOTES);
        let evidence_ms = evidence_started.elapsed().as_secs_f64() * 1000.0;
        on_event(AnswerEvent::Evidence {
            evidence: evidence.clone(),
        });

        let mut first_token_at = None;
        let mut on_delta = |delta: &str| {
            first_token_at.get_or_insert_with(Instant::now);
            on_event(AnswerEvent::Token {
                text: delta.to_owned(),
            });
        };
        let generation = match prepared {
            Prepared::Remote(endpoint, messages, fallback) => self.generate_remote(
                &endpoint,
                messages,
                fallback,
                &params,
                cancel,
                &mut on_delta,
            )?,
            Prepared::Local(mut model, text) => {
                model.generate(&text, &params, cancel, &mut on_delta)?
            }
        };
        let attribution_started = Instant::now();
        let attribution = grounding.attribute(&self.embedder(), &generation.text)?;
        let attribution_ms = attribution_started.elapsed().as_secs_f64() * 1000.0;
        let total = started.elapsed();
        let decode_s = generation.decode.as_secs_f64();
        let timings = Timings {
            retrieval_ms: retrieval.elapsed_ms,
            prompt_tokens: generation.prompt_tokens,
            cached_tokens: generation.cached_tokens,
            ttft_ms: first_token_at.map_or(total, |t| t - started).as_secs_f64() * 1000.0,
            tokens: generation.generated_tokens,
            tokens_per_s: if decode_s > 0.0 {
                generation.generated_tokens as f64 / decode_s
            } else {
                0.0
            },
            total_ms: total.as_secs_f64() * 1000.0,
            evidence_ms,
            attribution_ms,
        };
        let cited = cited_sources(&generation.text, retrieval.passages.len());
        on_event(AnswerEvent::Done {
            stop_reason: generation.stop_reason,
            cited: cited.clone(),
            attributed: attribution.attributed.clone(),
            sentences: attribution.sentences.clone(),
            timings: timings.clone(),
            text: (generation.stop_reason == StopReason::Repetition)
                .then(|| generation.text.clone()),
        });
        Ok(Answer {
            answer: generation.text,
            retrieval,
            cited,
            evidence,
            attributed: attribution.attributed,
            sentences: attribution.sentences,
            stop_reason: generation.stop_reason,
            timings,
        })
    }
}

impl Assistant {
    /// Streams the endpoint's answer to `messages`. An endpoint whose chat template refuses the
    /// system message holding the sources (the error comes before any text) gets them inside the
    /// question instead, as the local path does, and keeps getting them that way.
    fn generate_remote(
        &self,
        endpoint: &OpenAiEndpoint,
        messages: Vec<ChatMessage>,
        fallback: Option<Vec<ChatMessage>>,
        params: &almanac_engine::GenerationParams,
        cancel: &CancelFlag,
        on_delta: &mut dyn FnMut(&str),
    ) -> Result<almanac_engine::Generation> {
        let id = (endpoint.base_url.clone(), endpoint.model.clone());
        let Some(fallback) = fallback else {
            return Ok(endpoint.generate_chat(&messages, params, cancel, on_delta)?);
        };
        if lock(&self.sources_in_question).contains(&id) {
            return Ok(endpoint.generate_chat(&fallback, params, cancel, on_delta)?);
        }
        match endpoint.generate_chat(&messages, params, cancel, on_delta) {
            Err(refused @ almanac_engine::Error::BackendTemplate { .. }) => {
                match endpoint.generate_chat(&fallback, params, cancel, on_delta) {
                    Ok(generation) => {
                        lock(&self.sources_in_question).insert(id);
                        Ok(generation)
                    }
                    // Refused either way: the first refusal says what the template objects to.
                    Err(almanac_engine::Error::BackendTemplate { .. }) => Err(refused.into()),
                    Err(other) => Err(other.into()),
                }
            }
            other => Ok(other?),
        }
    }
}

/// A fitted prompt and what will answer it: the endpoint gets the messages, or the second layout
/// if its template refuses the first.
enum Prepared<'a> {
    Local(ChatModelGuard<'a>, String),
    Remote(OpenAiEndpoint, Vec<ChatMessage>, Option<Vec<ChatMessage>>),
}

/// The configured OpenAI-compatible endpoint, if answers go to one; its key is read (from the
/// environment or the OS keyring) at each question, so a changed key needs no restart.
pub fn remote_endpoint(backend: &Backend) -> Result<Option<OpenAiEndpoint>> {
    let Backend::Openai {
        base_url,
        model,
        context_length,
        timeout_s,
        ..
    } = backend
    else {
        return Ok(None);
    };
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(Error::InvalidArgument {
            field: "backend.base_url".into(),
            message: format!("backend base_url {base_url:?} is not an http:// or https:// URL"),
        });
    }
    let api_key = crate::backend_key::read(backend)?;
    Ok(Some(OpenAiEndpoint {
        base_url: base_url.clone(),
        model: model.clone(),
        api_key,
        context_length: *context_length,
        connect_timeout: std::time::Duration::from_secs(10),
        read_timeout: std::time::Duration::from_secs(*timeout_s),
    }))
}

/// Exclusive use of the loaded chat model.
pub struct ChatModelGuard<'a>(MutexGuard<'a, Option<ChatModel>>);

impl std::ops::Deref for ChatModelGuard<'_> {
    type Target = ChatModel;
    fn deref(&self) -> &ChatModel {
        self.0.as_ref().expect("loaded before the guard was made")
    }
}

impl std::ops::DerefMut for ChatModelGuard<'_> {
    fn deref_mut(&mut self) -> &mut ChatModel {
        self.0.as_mut().expect("loaded before the guard was made")
    }
}

/// A panic elsewhere must not make the library unusable: the data behind these locks stays valid
/// (the index commits through SQLite transactions), so a poisoned lock is simply taken over.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

/// The configured embedding model.
pub fn load_embedder(paths: &Paths, settings: &Settings) -> Result<Embedder> {
    let dir = paths.resolve_model(&settings.embedding_model);
    if !dir.exists() {
        return Err(Error::ModelMissing { path: dir });
    }
    Ok(Embedder::load(&dir)?)
}

/// The text without its URLs: they are fetched, not searched for.
/// Pins the date the model is told it is (`YYYY-MM-DD`). The date is part of the prompt, so a
/// greedy answer can change with it; tests and benchmarks set this to get the same answer any day.
pub const TODAY_ENV: &str = "ALMANAC_TODAY";

/// Today's local date, or the one `ALMANAC_TODAY` names.
fn today() -> Result<String> {
    let Some(pinned) = std::env::var_os(TODAY_ENV).filter(|v| !v.is_empty()) else {
        return Ok(chrono::Local::now().format("%Y-%m-%d").to_string());
    };
    let pinned = pinned.to_string_lossy();
    chrono::NaiveDate::parse_from_str(&pinned, "%Y-%m-%d")
        .map(|date| date.format("%Y-%m-%d").to_string())
        .map_err(|_| Error::InvalidArgument {
            field: TODAY_ENV.into(),
            message: format!("{pinned:?} is not a date of the form YYYY-MM-DD"),
        })
}

fn strip_urls(text: &str) -> String {
    let urls = almanac_fetch::urls_in(text);
    if urls.is_empty() {
        return text.to_owned();
    }
    text.split_whitespace()
        .filter(|w| !w.contains("http://") && !w.contains("https://"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A follow-up ("and when was she born?") is searched together with the previous question, which
/// carries the subject it refers to.
fn standalone_query(question: &str, history: &[ChatMessage]) -> String {
    match history.iter().rev().find(|m| m.role == "user") {
        Some(previous) => format!("{} {}", previous.content.trim(), question),
        None => question.to_owned(),
    }
}
