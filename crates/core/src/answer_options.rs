//! What one request may change about an answer beyond its question and history: whether to
//! retrieve at all, where to search, the system text, and how to sample. Front ends that expose
//! per-request knobs (the OpenAI-compatible API of `almanac serve`) fill these; the UI's questions
//! use the defaults, which follow the settings.

use std::path::PathBuf;

use almanac_engine::GenerationParams;

use crate::Settings;

/// Per-answer choices; the default is the settings' behaviour (retrieval on, the whole library).
#[derive(Debug, Clone)]
pub struct AnswerOptions {
    /// Search the library (and the web when `web`). Off: the model answers from the conversation
    /// alone and no sources are returned.
    pub retrieval: bool,
    /// Also search the web through the configured provider.
    pub web: bool,
    /// Only passages of documents this scope admits are used.
    pub scope: Option<Scope>,
    /// Replaces the settings' system prompt (the source instructions are still added).
    pub system_prompt: Option<String>,
    pub sampling: Sampling,
}

impl Default for AnswerOptions {
    fn default() -> Self {
        AnswerOptions {
            retrieval: true,
            web: false,
            scope: None,
            system_prompt: None,
            sampling: Sampling::default(),
        }
    }
}

/// Part of the library: documents under a folder, or a list of document paths (both: either).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub folder: Option<PathBuf>,
    pub documents: Vec<String>,
}

impl Scope {
    /// Whether a document (its library path) is in scope.
    pub fn admits(&self, document_path: &str) -> bool {
        self.folder
            .as_ref()
            .is_some_and(|f| std::path::Path::new(document_path).starts_with(f))
            || self.documents.iter().any(|d| d == document_path)
    }
}

/// Sampling overrides; `None` keeps the setting.
#[derive(Debug, Clone, Default)]
pub struct Sampling {
    pub max_tokens: Option<usize>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: Option<u64>,
    /// Generation stops before any of these (never emitted).
    pub stop: Vec<String>,
}

impl Sampling {
    /// The generation parameters: the settings, with these overrides applied.
    pub fn params(&self, settings: &Settings) -> GenerationParams {
        GenerationParams {
            max_tokens: self.max_tokens.unwrap_or(settings.max_answer_tokens),
            temperature: self.temperature.unwrap_or(settings.temperature),
            top_p: self.top_p.or(settings.top_p),
            top_k: settings.top_k,
            repeat_penalty: settings.repeat_penalty as f32,
            seed: self.seed.unwrap_or(settings.seed),
            stop: self.stop.clone(),
            ..GenerationParams::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_admits_folder_contents_and_listed_documents() {
        let scope = Scope {
            folder: Some(PathBuf::from("/lib/notes")),
            documents: vec!["/elsewhere/a.md".into()],
        };
        assert!(scope.admits("/lib/notes/x.md"));
        assert!(scope.admits("/lib/notes/sub/y.md"));
        assert!(!scope.admits("/lib/notes-old/x.md"));
        assert!(scope.admits("/elsewhere/a.md"));
        assert!(!scope.admits("/elsewhere/b.md"));
    }

    #[test]
    fn overrides_replace_settings_only_where_given() {
        let settings = Settings::default();
        let params = Sampling {
            max_tokens: Some(7),
            stop: vec!["END".into()],
            ..Sampling::default()
        }
        .params(&settings);
        assert_eq!(params.max_tokens, 7);
        assert_eq!(params.temperature, settings.temperature);
        assert_eq!(params.seed, settings.seed);
        assert_eq!(params.stop, vec!["END".to_string()]);
    }
}
