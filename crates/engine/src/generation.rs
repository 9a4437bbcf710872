//! What a caller asks of a generation and what it gets back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How to pick tokens and when to stop. The default is greedy decoding of up to 512 tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerationParams {
    pub max_tokens: usize,
    /// 0 (or below 1e-7) means greedy argmax.
    pub temperature: f64,
    pub top_p: Option<f64>,
    pub top_k: Option<usize>,
    /// 1.0 turns the penalty off.
    pub repeat_penalty: f32,
    /// How many of the most recent tokens (prompt included) the penalty looks at.
    pub repeat_last_n: usize,
    pub seed: u64,
    /// Generation stops before any of these strings; they are never emitted.
    pub stop: Vec<String>,
}

impl Default for GenerationParams {
    fn default() -> Self {
        GenerationParams {
            max_tokens: 512,
            temperature: 0.0,
            top_p: None,
            top_k: None,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 299_792_458,
            stop: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model produced an end-of-turn token.
    EndOfTurn,
    /// The text reached one of `GenerationParams::stop`.
    StopString,
    /// `max_tokens` tokens were generated.
    MaxTokens,
    /// The context window is full.
    ContextFull,
    /// The caller's `CancelFlag` was raised.
    Cancelled,
    /// The answer began repeating one span of text verbatim (a loop); `Generation::text` keeps
    /// what came before the repetition and the span once.
    Repetition,
}

/// The outcome of one `generate` call. `text` is exactly the concatenation of the deltas, except
/// after a `Repetition` stop: then it is the part of them kept, without the repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    pub text: String,
    pub stop_reason: StopReason,
    pub prompt_tokens: usize,
    /// Prompt tokens whose key/value state was reused from the previous generation (the longest
    /// common prefix with it) instead of being computed again.
    #[serde(default)]
    pub cached_tokens: usize,
    pub generated_tokens: usize,
    /// From the call to the first sampled token.
    pub time_to_first_token: Duration,
    /// Time spent evaluating the prompt.
    pub prefill: Duration,
    /// Time spent on all later forward passes and sampling.
    pub decode: Duration,
}

/// A flag another thread raises to stop a generation at the next token.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// Lowers the flag so it can be used again.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_greedy_without_penalty() {
        let p = GenerationParams::default();
        assert_eq!(p.temperature, 0.0);
        assert_eq!(p.repeat_penalty, 1.0);
        assert_eq!(p.max_tokens, 512);
        assert!(p.stop.is_empty());
    }

    #[test]
    fn stop_reason_serialises_snake_case() {
        assert_eq!(
            serde_json::to_string(&StopReason::EndOfTurn).unwrap(),
            "\"end_of_turn\""
        );
        assert_eq!(
            serde_json::to_string(&StopReason::ContextFull).unwrap(),
            "\"context_full\""
        );
        assert_eq!(
            serde_json::to_string(&StopReason::Repetition).unwrap(),
            "\"repetition\""
        );
    }

    #[test]
    fn cancel_flag_is_shared_between_clones() {
        let flag = CancelFlag::new();
        let other = flag.clone();
        assert!(!other.is_cancelled());
        flag.cancel();
        assert!(other.is_cancelled());
        other.reset();
        assert!(!flag.is_cancelled());
    }
}
