//! The k-shot prompts, laid out as the benchmarks' reference code does, so the scores compare with
//! the figures model cards quote.
//!
//! MMLU: Hendrycks et al.'s `evaluate.py` (`gen_prompt`, `format_example`): a header naming the
//! subject with underscores as spaces, then each example as the question, the options as `A. …`
//! lines and `Answer: X`, a blank line after each; the test question ends with `Answer:`. Texts
//! as in the file (not trimmed, as there).
//!
//! KMMLU: lm-evaluation-harness's `kmmlu/default/_default_kmmlu_yaml` (the task the KMMLU paper's
//! authors added to the harness): no header; `doc_to_text` is `{{question.strip()}}\nA. {{A}}\nB.
//! {{B}}\nC. {{C}}\nD. {{D}}\n정답：` (a full-width colon), the target joined by the harness's
//! default delimiter, a space, and examples separated by a blank line. The harness draws the
//! examples from dev at random; here they are the dev file's first k, as for MMLU.

use super::data::{Format, Question};

pub const LETTERS: [&str; 4] = ["A", "B", "C", "D"];

/// What ends every question: the answer letter follows it after a space.
pub fn answer_cue(format: Format) -> &'static str {
    match format {
        Format::Mmlu => "Answer:",
        Format::Kmmlu => "정답：",
    }
}

/// The whole prompt for `question` after `shots`; the model's next token is the answer letter.
pub fn build(format: Format, subject: &str, shots: &[Question], question: &Question) -> String {
    let mut prompt = header(format, subject);
    for shot in shots {
        push_question(&mut prompt, format, shot);
        prompt.push(' ');
        prompt.push_str(LETTERS[shot.answer]);
        prompt.push_str("\n\n");
    }
    push_question(&mut prompt, format, question);
    prompt
}

fn header(format: Format, subject: &str) -> String {
    match format {
        Format::Mmlu => format!(
            "The following are multiple choice questions (with answers) about {}.\n\n",
            subject.replace('_', " ")
        ),
        Format::Kmmlu => String::new(),
    }
}

fn push_question(prompt: &mut String, format: Format, q: &Question) {
    match format {
        Format::Mmlu => prompt.push_str(&q.question),
        Format::Kmmlu => prompt.push_str(q.question.trim()),
    }
    for (letter, choice) in LETTERS.iter().zip(&q.choices) {
        prompt.push('\n');
        prompt.push_str(letter);
        prompt.push_str(". ");
        prompt.push_str(choice);
    }
    prompt.push('\n');
    prompt.push_str(answer_cue(format));
}
