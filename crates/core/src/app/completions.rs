//! Stateless answers for API clients (the OpenAI-compatible API of `almanac serve`): the caller
//! sends the whole conversation with every request and nothing is stored. They share the one
//! answer slot with the UI's questions, so the model still answers one question at a time.

use super::{validate, App};
use crate::{Answer, AnswerEvent, AnswerOptions, ChatMessage, Error, Result};

/// One stateless question: the turns before it, the question, and the per-answer choices.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    /// Alternating user and assistant messages before the question.
    pub history: Vec<ChatMessage>,
    pub question: String,
    pub options: AnswerOptions,
}

impl App {
    /// Answers `completion` without storing it. `on_event` gets `Sources`, `Token`s and `Done`, and
    /// returns false once nobody listens any more: the generation is then cancelled (the answer
    /// ends with `stop_reason: cancelled`). `Err` before any event is a refusal (bad arguments,
    /// `busy`); after one, the answer failed.
    pub fn complete(
        &self,
        completion: &Completion,
        on_event: &mut dyn FnMut(AnswerEvent) -> bool,
    ) -> Result<Answer> {
        let question = validate::text("question", &completion.question, validate::MAX_TEXT_BYTES)?;
        let options = &completion.options;
        if options.web && self.assistant.settings().web_search_url.is_none() {
            return Err(Error::WebUnavailable);
        }
        if let Some(scope) = &options.scope {
            self.check_scope(scope)?;
        }
        let slot = self.runs.begin_answer()?;
        let mut listening = true;
        self.assistant.answer(
            question,
            &completion.history,
            options,
            &slot.cancel,
            &mut |event| {
                if listening && !on_event(event) {
                    listening = false;
                    slot.cancel.cancel();
                }
            },
        )
    }

    /// A folder must be absolute; listed documents must be in the library.
    fn check_scope(&self, scope: &crate::Scope) -> Result<()> {
        if let Some(folder) = &scope.folder {
            validate::absolute_path("folder", &folder.to_string_lossy())?;
        }
        if scope.documents.len() > validate::MAX_PATHS {
            return Err(Error::invalid(
                "documents",
                format!("more than {} paths", validate::MAX_PATHS),
            ));
        }
        let index = self.assistant.index();
        for path in &scope.documents {
            if index.document_by_path(path)?.is_none() {
                return Err(Error::invalid(
                    "documents",
                    format!("{} is not in the library", validate::clip(path)),
                ));
            }
        }
        Ok(())
    }
}
