//! Asking and regenerating: the turn is stored before generation starts, the partial answer is
//! written as it grows, and the finished one (or the error) when the run ends.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::events::RunEvent;
use super::runs::AnswerSlot;
use super::store::FinishedAnswer;
use super::{validate, App, ErrorBody};
use crate::{Answer, AnswerEvent, ChatMessage, Error, Result, StopReason};

/// How often the growing answer is written to the store while it streams.
pub const PARTIAL_WRITE_INTERVAL: Duration = Duration::from_millis(500);

/// Per-question options from the UI.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskOptions {
    /// Also search the web through the configured provider (URLs written in the question are
    /// fetched either way). Without a provider configured, `web: true` is refused with
    /// `web_unavailable` rather than silently answered without it.
    #[serde(default)]
    pub web: Option<bool>,
}

/// The question of a run, with its history and whether to search the web.
struct Asked<'a> {
    question: &'a str,
    history: &'a [ChatMessage],
    web: bool,
}

/// How a run ended (its events said the same).
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_id: String,
    /// The model that wrote the answer (as `started` named it).
    pub model: String,
    pub conversation_id: String,
    pub message_id: String,
    /// The finished answer (also when stopped early), `None` when the run failed.
    pub answer: Option<Answer>,
    /// Set when the run ended with an `error` event.
    pub error: Option<ErrorBody>,
}

impl App {
    /// Asks `text` in the conversation `conversation_id` (a new one, titled after the question,
    /// when `None`), with the conversation's stored turns as history. Emits `started`, `sources`,
    /// `token`…, then `done` or `error`; stores the question and the answer. See the module
    /// documentation for when it returns `Err`.
    pub fn ask(
        &self,
        conversation_id: Option<&str>,
        text: &str,
        options: &AskOptions,
        on_event: &mut dyn FnMut(RunEvent),
    ) -> Result<RunOutcome> {
        let question = validate::text("text", text, validate::MAX_TEXT_BYTES)?;
        let web = options.web == Some(true);
        if web && self.assistant.settings().web_search_url.is_none() {
            return Err(Error::WebUnavailable);
        }
        let existing = conversation_id
            .map(|id| validate::id("conversation_id", id))
            .transpose()?;
        let slot = self.runs.begin_answer()?;
        let conversation = match existing {
            Some(id) => {
                if !self.store.exists(id)? {
                    return Err(Error::not_found(format!("no conversation {id}")));
                }
                id
            }
            None => self.store.create_conversation(&title_from(question))?,
        };
        let history = self.store.history(conversation)?;
        let turn = self.store.begin_turn(conversation, question)?;
        let asked = Asked {
            question,
            history: &history,
            web,
        };
        Ok(self.run_answer(slot, conversation, turn.answer, &asked, on_event))
    }

    /// Answers the conversation's last question again, replacing its last answer.
    pub fn regenerate(
        &self,
        conversation_id: &str,
        on_event: &mut dyn FnMut(RunEvent),
    ) -> Result<RunOutcome> {
        let conversation = validate::id("conversation_id", conversation_id)?;
        let slot = self.runs.begin_answer()?;
        let (question, history, answer) = self.store.begin_regeneration(conversation)?;
        let asked = Asked {
            question: &question,
            history: &history,
            web: false,
        };
        Ok(self.run_answer(slot, conversation, answer, &asked, on_event))
    }

    /// The model an answer is written by now: the local GGUF's file name, or the endpoint's model.
    fn answer_model(&self) -> String {
        let settings = self.assistant.settings();
        match &settings.backend {
            crate::Backend::Local => self
                .paths()
                .resolve_model(&settings.chat_model)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            crate::Backend::Openai { model, .. } => model.clone(),
        }
    }

    fn run_answer(
        &self,
        slot: AnswerSlot<'_>,
        conversation: i64,
        answer_id: i64,
        asked: &Asked<'_>,
        on_event: &mut dyn FnMut(RunEvent),
    ) -> RunOutcome {
        let model = self.answer_model();
        let _ = self.store.save_model(answer_id, &model);
        let mut outcome = RunOutcome {
            model: model.clone(),
            run_id: slot.run_id.clone(),
            conversation_id: conversation.to_string(),
            message_id: answer_id.to_string(),
            answer: None,
            error: None,
        };
        on_event(RunEvent::Started {
            run_id: outcome.run_id.clone(),
            conversation_id: outcome.conversation_id.clone(),
            message_id: outcome.message_id.clone(),
            model,
        });
        let mut partial = String::new();
        let mut last_write = Instant::now();
        let result = self.assistant.ask_with_web(
            asked.question,
            asked.history,
            asked.web,
            &slot.cancel,
            &mut |event| match event {
                AnswerEvent::Sources { retrieval } => {
                    // Scores are f64 of their decimal form already: 0.2 stays 0.2 here.
                    let json = serde_json::to_value(&retrieval).expect("retrieval serialises");
                    // A failed write here shows again (and is reported) at the final write.
                    let _ = self.store.save_retrieval(answer_id, &json);
                    on_event(RunEvent::Answer(AnswerEvent::Sources { retrieval }));
                }
                AnswerEvent::Evidence { evidence } => {
                    let json = serde_json::to_value(&evidence).expect("evidence serialises");
                    let _ = self.store.save_evidence(answer_id, &json);
                    on_event(RunEvent::Answer(AnswerEvent::Evidence { evidence }));
                }
                AnswerEvent::Token { text } => {
                    partial.push_str(&text);
                    if last_write.elapsed() >= PARTIAL_WRITE_INTERVAL {
                        let _ = self.store.save_partial(answer_id, &partial);
                        last_write = Instant::now();
                    }
                    on_event(RunEvent::Answer(AnswerEvent::Token { text }));
                }
                // Sent once the answer is stored: a `done` the UI sees is a stored answer.
                AnswerEvent::Done { .. } => {}
            },
        );
        let stored = match result {
            Ok(answer) => {
                let timings = serde_json::to_value(&answer.timings).expect("timings serialise");
                let stop_reason = serde_json::to_value(answer.stop_reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let done = FinishedAnswer {
                    text: &answer.answer,
                    cited: &answer.cited,
                    attributed: &answer.attributed,
                    sentences: serde_json::to_value(&answer.sentences)
                        .expect("sentences serialise"),
                    timings,
                    stop_reason: &stop_reason,
                };
                self.store
                    .finish_answer(conversation, answer_id, &done)
                    .map(|()| answer)
            }
            Err(e) => Err(e),
        };
        match stored {
            Ok(answer) => {
                on_event(RunEvent::Answer(AnswerEvent::Done {
                    stop_reason: answer.stop_reason,
                    cited: answer.cited.clone(),
                    attributed: answer.attributed.clone(),
                    sentences: answer.sentences.clone(),
                    timings: answer.timings.clone(),
                    text: (answer.stop_reason == StopReason::Repetition)
                        .then(|| answer.answer.clone()),
                }));
                outcome.answer = Some(answer);
            }
            Err(e) => {
                let _ = self.store.fail_answer(answer_id, &partial, &e);
                on_event(RunEvent::error(&e));
                outcome.error = Some(ErrorBody::from(&e));
            }
        }
        drop(slot);
        outcome
    }
}

/// A conversation's title: its first question on one line, at most 80 characters.
pub(crate) fn title_from(question: &str) -> String {
    const MAX: usize = 80;
    let line = question.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= MAX {
        return line;
    }
    let cut: String = line.chars().take(MAX - 1).collect();
    // End at a word boundary when there is one in the second half.
    let cut = match cut.rfind(' ') {
        Some(i) if i > MAX / 2 => cut[..i].to_owned(),
        _ => cut,
    };
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::title_from;

    #[test]
    fn titles_from_questions() {
        assert_eq!(
            title_from("  Who designed\nthe bridge? "),
            "Who designed the bridge?"
        );
        let long = "word ".repeat(40);
        let title = title_from(&long);
        assert!(title.chars().count() <= 80, "{title}");
        assert!(title.ends_with("word…"), "{title}");
        let korean = "계".repeat(100);
        assert_eq!(title_from(&korean).chars().count(), 80);
    }
}
