//! SQuAD's answer metrics, as its official evaluation script (evaluate-v2.0.py) computes them:
//! answers normalised (lower case, ASCII punctuation removed, the articles a/an/the removed, spaces
//! collapsed), exact match, and the F1 of the two token bags, each the best over the gold answers.
//! A chat model answers in sentences, so `contains` adds whether a normalised gold answer appears
//! in the answer as whole words. Citation marks (`[1]`) are no part of an answer and are removed
//! before scoring.

use std::collections::HashMap;

/// SQuAD's `normalize_answer`.
pub fn normalize(text: &str) -> String {
    let lower = text.to_lowercase();
    let no_punctuation: String = lower
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    // `\b(a|an|the)\b`: a whole run of word characters that is an article becomes a space.
    let mut out = String::with_capacity(no_punctuation.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if matches!(word.as_str(), "a" | "an" | "the") {
            out.push(' ');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in no_punctuation.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The answer without the model's citation marks (`[1]`, `[2][3]`).
pub fn strip_citations(answer: &str) -> String {
    let mut out = String::with_capacity(answer.len());
    let mut rest = answer;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && after[digits..].starts_with(']') {
            out.push_str(&rest[..open]);
            rest = &after[digits + 1..];
        } else {
            out.push_str(&rest[..=open]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

pub fn exact_match(prediction: &str, golds: &[String]) -> f64 {
    let p = normalize(prediction);
    best(golds, |g| f64::from(u8::from(normalize(g) == p)))
}

pub fn f1(prediction: &str, golds: &[String]) -> f64 {
    let p = normalize(prediction);
    best(golds, |g| token_f1(&p, &normalize(g)))
}

/// Whether a gold answer's normalised words appear, in order and whole, in the normalised text.
pub fn contains(text: &str, golds: &[String]) -> bool {
    let haystack = format!(" {} ", normalize(text));
    golds.iter().any(|g| {
        let needle = normalize(g);
        !needle.is_empty() && haystack.contains(&format!(" {needle} "))
    })
}

fn best(golds: &[String], score: impl Fn(&String) -> f64) -> f64 {
    golds.iter().map(score).fold(0.0, f64::max)
}

fn token_f1(prediction: &str, gold: &str) -> f64 {
    let p: Vec<&str> = prediction.split_whitespace().collect();
    let g: Vec<&str> = gold.split_whitespace().collect();
    if p.is_empty() || g.is_empty() {
        return f64::from(u8::from(p == g));
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for t in &g {
        *counts.entry(t).or_default() += 1;
    }
    let mut same = 0;
    for t in &p {
        if let Some(n) = counts.get_mut(t) {
            if *n > 0 {
                *n -= 1;
                same += 1;
            }
        }
    }
    if same == 0 {
        return 0.0;
    }
    let precision = same as f64 / p.len() as f64;
    let recall = same as f64 / g.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golds(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn normalises_as_squad_does() {
        assert_eq!(normalize("The  Glass Orchard!"), "glass orchard");
        assert_eq!(normalize("an apple, a pear"), "apple pear");
        assert_eq!(normalize("Theory of the case"), "theory of case");
        assert_eq!(normalize("5,240 mAh"), "5240 mah");
    }

    #[test]
    fn exact_match_and_f1_take_the_best_gold() {
        let g = golds(&["Denver Broncos", "the Broncos"]);
        assert_eq!(exact_match("Broncos", &g), 1.0);
        assert_eq!(exact_match("Denver", &g), 0.0);
        // "Denver" against "denver broncos": precision 1, recall 1/2.
        assert!((f1("Denver", &g) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(f1("Paris", &g), 0.0);
        assert_eq!(f1("", &golds(&[""])), 1.0);
    }

    #[test]
    fn contains_whole_words_and_ignores_citations() {
        let g = golds(&["Hallveig Strand"]);
        assert!(contains("It was discovered by Hallveig Strand [1].", &g));
        assert!(!contains("Hallveig Strandberg found it", &g));
        assert_eq!(
            strip_citations("Strand [1][2] found it [x]."),
            "Strand  found it [x]."
        );
    }
}
