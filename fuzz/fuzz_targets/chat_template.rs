//! A chat template from a model file compiled and rendered as a model load and every prompt do
//! (`ChatTemplate::new`, `render`): minijinja's sandbox with our fuel and output limit. Any template
//! must end in `Ok` or an `Err` within the fuzzer's time and memory limits, never a panic.
//!
//! Input (text): the template, then messages separated by a line `%%` (roles cycle through system,
//! user, assistant); the byte count picks `add_generation_prompt`.
#![no_main]

use almanac_engine::{ChatMessage, ChatTemplate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let mut parts = input.split("\n%%\n");
    let Some(source) = parts.next() else {
        return;
    };
    let roles = ["system", "user", "assistant"];
    let messages: Vec<ChatMessage> = parts
        .enumerate()
        .map(|(i, content)| ChatMessage::new(roles[i % roles.len()], content))
        .collect();
    let Ok(template) = ChatTemplate::new(source, "<|begin_of_text|>", "<|eot_id|>") else {
        return;
    };
    let _ = template.render(&messages, data.len() % 2 == 0);
    let _ = template.render(&[ChatMessage::user("hi")], true);
});
