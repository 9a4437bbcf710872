//! The prompts `almanac bench generation` measures: retrieval-augmented questions of an exact token
//! count (system text, sources from the demo library, the question, through the model's chat
//! template), and the follow-up question of the same conversation, whose prompt starts with the
//! whole first prompt so a prompt cache can reuse it.

use almanac_engine::{ChatMessage, ChatModel};
use anyhow::{bail, Context, Result};

/// The demo library, quoted as sources (repeated as often as a long prompt needs).
const LIBRARY: [(&str, &str); 3] = [
    (
        "hollowmere-observatory.md",
        include_str!("../../../../demo/hollowmere-observatory.md"),
    ),
    (
        "tidewater-cooperative.txt",
        include_str!("../../../../demo/tidewater-cooperative.txt"),
    ),
    (
        "using-almanac.md",
        include_str!("../../../../demo/using-almanac.md"),
    ),
];
const INSTRUCTIONS: &str = "You are Almanac, an assistant that answers from the user's own documents. \
    Answer the question using only the sources below, and cite each source you use as [n].\n\nSources:\n";
pub const QUESTION: &str = "When was the Tidewater Bicycle Cooperative set up, and by whom?";
const ANSWER: &str =
    "The sources say the Tidewater Bicycle Cooperative was set up by its members [2].";
const FOLLOW_UP: &str = "And what does the library say about the Hollowmere Observatory?";
/// Stands for the sources while the template is rendered, so the prompt can be cut around them.
const MARK: &str = "\u{e000}";

pub struct BenchPrompt {
    /// The first question's prompt: exactly the asked number of tokens.
    pub first: Vec<u32>,
    /// `first`, then the rest of the conversation: an answer, the follow-up question and the
    /// assistant's turn.
    pub follow_up: Vec<u32>,
}

/// The sources text: the library quoted file by file, numbered, repeated until it has at least
/// `min_chars` characters.
fn sources(min_chars: usize) -> String {
    let mut text = String::new();
    let mut n = 0;
    while text.len() < min_chars {
        for (name, body) in LIBRARY {
            n += 1;
            text.push_str(&format!("[{n}] {name}\n{}\n\n", body.trim()));
        }
    }
    text
}

/// `variant` opens the system text, so each run's first prompt differs from the previous run's
/// conversation after a few tokens and a prompt cache cannot make a first turn look fast.
fn conversation(variant: usize, with_answer: bool) -> Vec<ChatMessage> {
    let mut messages = vec![
        ChatMessage::new(
            "system",
            format!("Conversation {variant}. {INSTRUCTIONS}{MARK}"),
        ),
        ChatMessage::new("user", QUESTION),
    ];
    if with_answer {
        messages.push(ChatMessage::new("assistant", ANSWER));
        messages.push(ChatMessage::new("user", FOLLOW_UP));
    }
    messages
}

/// A prompt of exactly `tokens` tokens: the rendered text before the sources, as many source tokens
/// as fit, the rendered text after them.
pub fn build(model: &ChatModel, tokens: usize, variant: usize) -> Result<BenchPrompt> {
    let tokenizer = model.tokenizer();
    let first_text = model
        .render_chat(&conversation(variant, false), true)
        .context("rendering the bench prompt with the model's chat template")?;
    let (before, after) = first_text
        .split_once(MARK)
        .context("the chat template dropped the system message")?;
    let head = tokenizer.encode(before, true)?;
    let tail = tokenizer.encode(after, false)?;
    let Some(room) = tokens.checked_sub(head.len() + tail.len()) else {
        bail!(
            "a prompt of {tokens} tokens cannot hold the {} tokens of instructions and question",
            head.len() + tail.len()
        );
    };
    // Four characters a token is generous for English text; check rather than trust it.
    let source_ids = tokenizer.encode(&sources(room * 4 + 64), false)?;
    if source_ids.len() < room {
        bail!(
            "the demo library gave {} source tokens, {room} wanted",
            source_ids.len()
        );
    }
    let first: Vec<u32> = [&head[..], &source_ids[..room], &tail[..]].concat();

    let both_text = model.render_chat(&conversation(variant, true), true)?;
    let continuation = both_text.strip_prefix(&first_text).with_context(|| {
        "the chat template renders the first turn differently once a second follows".to_string()
    })?;
    let follow_up = [&first[..], &tokenizer.encode(continuation, false)?[..]].concat();
    Ok(BenchPrompt { first, follow_up })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_repeat_the_library_until_long_enough() {
        let short = sources(10);
        assert!(short.starts_with("[1] hollowmere-observatory.md\n"));
        assert!(short.contains("[3] using-almanac.md"));
        assert!(!short.contains("[4]"));
        let long = sources(short.len() * 2 + 1);
        assert!(long.contains("[7] hollowmere-observatory.md"));
        assert!(long.len() > short.len() * 2);
    }
}
