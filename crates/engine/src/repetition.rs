//! The loop guard: small models under greedy decoding sometimes fall into repeating the same
//! phrase until the token limit ("the award was given to the award to the winner of the award to
//! the winner of ..."). A generation whose last tokens are one span repeated verbatim is stopped,
//! and the answer keeps what came before the repetition and the span once.

/// The longest repeated span looked for, in tokens.
const MAX_PERIOD: usize = 64;
/// How many tokens of verbatim repetition (after the span's first occurrence) make a loop: a phrase
/// of 8 tokens said 5 times, a sentence of 20 said twice. Short enough to stop a loop early, long
/// enough that a table's `| --- | --- |` rule or a repeated word in prose never trips it.
const MIN_REPEATED: usize = 32;

/// Where a loop was found in the generated tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loop {
    /// The length of the repeated span, in tokens.
    pub period: usize,
    /// How many generated tokens to keep: those before the loop and the span once.
    pub keep: usize,
}

/// Looks at the end of `generated` for a span repeated verbatim over at least `MIN_REPEATED`
/// tokens beyond its first occurrence; returns the shortest such span. Called once per token, it
/// costs O(MAX_PERIOD x run length), nothing next to a forward pass.
pub fn find_loop(generated: &[u32]) -> Option<Loop> {
    let n = generated.len();
    (1..=MAX_PERIOD.min(n / 2)).find_map(|period| {
        // Tokens (counted back from the end) that equal the token one period earlier.
        let repeated = (period..n)
            .rev()
            .take_while(|&i| generated[i] == generated[i - period])
            .count();
        (repeated >= MIN_REPEATED.max(period)).then(|| Loop {
            period,
            keep: n - repeated,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phrase_said_over_and_over_is_a_loop_that_keeps_its_first_saying() {
        let mut tokens = vec![1, 2, 3]; // the answer before the loop
        let phrase = [10, 11, 12, 13, 14, 15, 16, 17];
        for _ in 0..5 {
            tokens.extend_from_slice(&phrase);
        }
        let found = find_loop(&tokens).expect("a loop");
        assert_eq!(found.period, 8);
        assert_eq!(
            &tokens[..found.keep],
            &[1, 2, 3, 10, 11, 12, 13, 14, 15, 16, 17]
        );
    }

    #[test]
    fn a_long_sentence_repeated_once_is_a_loop() {
        let sentence: Vec<u32> = (100..140).collect();
        let mut tokens = vec![7, 8];
        tokens.extend_from_slice(&sentence);
        tokens.extend_from_slice(&sentence);
        let found = find_loop(&tokens).expect("a loop");
        assert_eq!((found.period, found.keep), (40, 42));
    }

    #[test]
    fn short_repetitions_and_plain_text_are_not_loops() {
        // A table rule: `| --- |` eight times is 16 tokens of period 2.
        let mut rule = Vec::new();
        for _ in 0..9 {
            rule.extend_from_slice(&[5, 6]);
        }
        assert_eq!(find_loop(&rule), None);
        let prose: Vec<u32> = (0..300).map(|i| (i * 7919 % 1000) as u32).collect();
        assert_eq!(find_loop(&prose), None);
        // A loop that has not yet repeated MIN_REPEATED tokens.
        let mut early = vec![1];
        for _ in 0..3 {
            early.extend_from_slice(&[20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
        }
        assert_eq!(find_loop(&early), None);
    }

    #[test]
    fn one_token_repeated_is_found_with_its_shortest_period() {
        let mut tokens = vec![9; 40];
        tokens.insert(0, 4);
        let found = find_loop(&tokens).expect("a loop");
        assert_eq!((found.period, found.keep), (1, 2));
    }
}
