//! Measuring grounding against sets written by hand: sentence attribution on labelled sentences
//! (precision, recall, and the thresholds that do best), for `almanac bench grounding` and tests.

use std::path::Path;

use almanac_engine::Embedder;
use serde::{Deserialize, Serialize};

use super::attribution::{Support, Thresholds};
use super::Grounding;
use crate::{Error, Passage, Result};

/// Answer sentences labelled with the sources that support them, in groups that each stand for
/// one prompt's numbered passages.
#[derive(Debug, Clone, Deserialize)]
pub struct LabelledSet {
    pub groups: Vec<LabelledGroup>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LabelledGroup {
    /// Source `n` is `passages[n - 1]`.
    pub passages: Vec<String>,
    pub sentences: Vec<LabelledSentence>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LabelledSentence {
    pub text: String,
    /// The sources that support it; empty when none does.
    pub sources: Vec<usize>,
    #[serde(default)]
    pub kind: String,
}

impl LabelledSet {
    pub fn load(path: &Path) -> Result<LabelledSet> {
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::invalid(path.display().to_string(), e.to_string()))
    }

    pub fn sentence_count(&self) -> usize {
        self.groups.iter().map(|g| g.sentences.len()).sum()
    }
}

/// One labelled sentence with how well each passage of its group supports it.
#[derive(Debug, Clone)]
pub struct Measured {
    pub supports: Vec<Support>,
    pub gold: Vec<usize>,
}

/// Embeds every group and scores each sentence against its group's passages (the slow part,
/// done once; thresholds are then tried on the result).
pub fn measure(embedder: &Embedder, set: &LabelledSet) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    for group in &set.groups {
        let passages: Vec<Passage> = group
            .passages
            .iter()
            .enumerate()
            .map(|(i, text)| Passage {
                n: i + 1,
                text: text.clone(),
                line_start: 1,
                line_end: text.lines().count().max(1),
                ..Passage::default()
            })
            .collect();
        let mut grounding = Grounding::new(embedder, "", "", &passages)?;
        let texts: Vec<&str> = group.sentences.iter().map(|s| s.text.as_str()).collect();
        for (supports, sentence) in grounding
            .support(embedder, &texts)?
            .into_iter()
            .zip(&group.sentences)
        {
            out.push(Measured {
                supports,
                gold: sentence.sources.clone(),
            });
        }
    }
    Ok(out)
}

/// How attribution did on a labelled set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct AttributionScores {
    pub sentences: usize,
    /// (sentence, source) pairs attributed, and of those, labelled correct.
    pub attributed: usize,
    pub correct: usize,
    /// Labelled (sentence, source) pairs.
    pub labelled: usize,
    pub precision: f64,
    pub recall: f64,
    /// Sentences no source supports, and of those, flagged unsupported.
    pub unsupported: usize,
    pub flagged: usize,
    /// Supported sentences wrongly flagged unsupported.
    pub wrongly_flagged: usize,
}

impl AttributionScores {
    pub fn f1(&self) -> f64 {
        if self.precision + self.recall == 0.0 {
            0.0
        } else {
            2.0 * self.precision * self.recall / (self.precision + self.recall)
        }
    }
}

/// Scores `thresholds` on measured sentences.
pub fn score(measured: &[Measured], thresholds: &Thresholds) -> AttributionScores {
    let mut s = AttributionScores {
        sentences: measured.len(),
        ..AttributionScores::default()
    };
    for m in measured {
        let (predicted, _) = thresholds.decide(&m.supports);
        s.attributed += predicted.len();
        s.correct += predicted.iter().filter(|n| m.gold.contains(n)).count();
        s.labelled += m.gold.len();
        if m.gold.is_empty() {
            s.unsupported += 1;
            s.flagged += usize::from(predicted.is_empty());
        } else if predicted.is_empty() {
            s.wrongly_flagged += 1;
        }
    }
    s.precision = ratio(s.correct, s.attributed);
    s.recall = ratio(s.correct, s.labelled);
    s
}

/// The thresholds with the best F1 of precision and recall on `measured` (ties: higher
/// precision), over a grid of lexical weights, minimum scores and margins.
pub fn tune(measured: &[Measured]) -> (Thresholds, AttributionScores) {
    let mut best: Option<(Thresholds, AttributionScores)> = None;
    for w in 0..=10 {
        for m in 0..=60 {
            for margin in [0.0, 0.025, 0.05, 0.1, 0.2] {
                let t = Thresholds {
                    lexical_weight: w as f64 / 10.0,
                    min_score: 0.3 + m as f64 * 0.01,
                    margin,
                };
                let s = score(measured, &t);
                let better = match &best {
                    None => true,
                    Some((_, b)) => (s.f1(), s.precision) > (b.f1() + 1e-12, b.precision),
                };
                if better {
                    best = Some((t, s));
                }
            }
        }
    }
    best.expect("the grid is not empty")
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}
