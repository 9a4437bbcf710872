//! Which option the model picks: after a prompt ending in the answer cue (`Answer:`), the
//! log-probability of each answer letter as the next token, as Hendrycks et al.'s evaluation
//! (the top log-probabilities of " A" … " D") and lm-evaluation-harness (the log-likelihood of the
//! continuation " A" … " D") score it. The letter follows the cue after a space, and byte-level
//! BPE vocabularies such as SmolLM2's hold each of " A", " B", " C", " D" as one token (the space
//! is part of the token: "Answer: A" is "Answer", ":", " A"), so one forward pass scores all four.

use almanac_engine::GgufTokenizer;

use crate::error::{Error, Result};

use super::prompt::LETTERS;

/// The token ids of " A", " B", " C", " D".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LetterTokens(pub [u32; 4]);

impl LetterTokens {
    /// The letters' ids; a vocabulary that splits " A" into several tokens is refused (scoring
    /// it would need a pass per option).
    pub fn of(tokenizer: &GgufTokenizer, model: &str) -> Result<LetterTokens> {
        let mut ids = [0; 4];
        for (slot, letter) in ids.iter_mut().zip(LETTERS) {
            let text = format!(" {letter}");
            match tokenizer.encode_without_bos(&text, false)?.as_slice() {
                [id] => *slot = *id,
                other => {
                    return Err(Error::Model {
                        model: model.to_string(),
                        message: format!(
                            "{text:?} is {} tokens, not one: multiple-choice scoring needs one token per answer letter",
                            other.len()
                        ),
                    })
                }
            }
        }
        Ok(LetterTokens(ids))
    }
}

/// The model's pick and each letter's log-probability (over the whole vocabulary).
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// 0 for A … 3 for D: the letter with the highest logit, the first on a tie.
    pub choice: usize,
    pub logprobs: [f64; 4],
}

pub fn score(logits: &[f32], letters: LetterTokens) -> Scored {
    // log-softmax in f64: the shared normaliser does not change the order, only the figures shown.
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let log_sum = logits
        .iter()
        .map(|&l| (l as f64 - max).exp())
        .sum::<f64>()
        .ln()
        + max;
    let logprobs = letters.0.map(|id| logits[id as usize] as f64 - log_sum);
    let mut choice = 0;
    for i in 1..4 {
        if logits[letters.0[i] as usize] > logits[letters.0[choice] as usize] {
            choice = i;
        }
    }
    Scored { choice, logprobs }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_highest_letter_and_the_first_on_a_tie() {
        let letters = LetterTokens([1, 3, 5, 7]);
        let mut logits = vec![0.0f32; 8];
        logits[5] = 2.0;
        logits[0] = 9.0; // not a letter: ignored
        let scored = score(&logits, letters);
        assert_eq!(scored.choice, 2);
        let total: f64 = logits.iter().map(|&l| (l as f64).exp()).sum();
        assert!((scored.logprobs[2] - (2.0 - total.ln())).abs() < 1e-9);
        logits[7] = 2.0;
        assert_eq!(
            score(&logits, letters).choice,
            2,
            "a tie goes to the earlier letter"
        );
    }
}
