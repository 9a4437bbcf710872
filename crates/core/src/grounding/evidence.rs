//! Quoted evidence: the sentences and table rows of the prompt's passages that best answer the
//! question, ranked by words and meaning, quoted with where they stand.

use serde::Serialize;

use super::terms::{self, Bm25, Term, TermKind};
use super::{cosine, Grounding, Unit};
use crate::Passage;

/// How evidence is ranked. The defaults were chosen on the questions over real documents in
/// `tests/fixtures/evidence-questions.json` (`almanac bench grounding --tune`, which also reports
/// how the choice does on the half of the questions it was not chosen on; docs/BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EvidenceWeights {
    /// Share of the score from words (BM25, normalised by the best sentence's); the rest is the
    /// embedding similarity to the question.
    pub lexical: f64,
    /// Added when a sentence holds the kind of answer the question asks for (a number for "how
    /// many", a name for "who") that the question itself does not state.
    pub answer_kind_bonus: f64,
    /// Added for the passage's rank: `rank_prior / n` for source `n`.
    pub rank_prior: f64,
    /// Added to a form field whose label the question names and whose value it does not
    /// ("Cashier: Emily Rodriguez" for "Who was the cashier?").
    pub form_field: f64,
    /// How much a question's number, name or unit found in a sentence counts beside a plain word.
    pub number: f64,
    pub name: f64,
    pub unit: f64,
}

impl Default for EvidenceWeights {
    fn default() -> EvidenceWeights {
        EvidenceWeights {
            lexical: 0.7,
            answer_kind_bonus: 0.0,
            rank_prior: 0.04,
            form_field: 0.3,
            number: 1.0,
            name: 1.0,
            unit: 1.5,
        }
    }
}

impl EvidenceWeights {
    fn of(&self, kind: TermKind) -> f64 {
        match kind {
            TermKind::Number => self.number,
            TermKind::Name => self.name,
            TermKind::Unit => self.unit,
            TermKind::Word => 1.0,
        }
    }
}

/// The score of a sentence that only repeats the question's words is multiplied by this.
const ECHO_PENALTY: f64 = 0.5;
/// Quotes scoring below this share of the best one are left out.
const KEEP_SHARE: f64 = 0.75;

/// A quote from one of the prompt's passages, with where it stands in its document.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evidence {
    /// The source number of its passage (`[n]`).
    pub n: usize,
    /// The sentence or row as the passage has it (runs of whitespace made one space).
    pub text: String,
    pub title: String,
    pub path: String,
    /// Where it stands, as a person reads it: `page 3`, `row 14`, `Install > Linux (lines 5-6)`.
    pub location: String,
    /// Where to open it: `path#page=N`, `path:LINE`, the path, or a web page's URL.
    pub open: String,
    /// The document lines it spans (of the converted text for PDF, DOCX, HTML and EPUB).
    pub line_start: usize,
    pub line_end: usize,
    pub page: Option<u32>,
    /// The CSV data row (1-based, header not counted), first and last (the same).
    pub rows: Option<(u64, u64)>,
    /// How well it answers the question: the two parts below combined, plus small bonuses for
    /// the kind of answer asked for and the passage's rank.
    pub score: f64,
    /// BM25 over the passages' sentences, as a share of the best sentence's (0 to 1).
    pub lexical: f64,
    /// Cosine similarity of its embedding to the question's.
    pub semantic: f64,
}

/// What kind of answer a question asks for, from its first words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wants {
    Number,
    Name,
    Anything,
}

fn wants(question: &str) -> Wants {
    let q = question.to_lowercase();
    let q = q.trim_start();
    const NUMBER: &[&str] = &[
        "how many",
        "how much",
        "how long",
        "how old",
        "how far",
        "how tall",
        "how big",
        "how high",
        "how large",
        "how often",
        "how fast",
        "how heavy",
        "how wide",
        "how deep",
        "when",
        "what year",
        "which year",
        "in what year",
        "in which year",
        "what date",
        "what time",
        "at what",
        "by how",
    ];
    // Nouns that name a quantity: "what was the total", "the commission file number".
    const QUANTITY: &[&str] = &[
        "total",
        "price",
        "cost",
        "amount",
        "number",
        "percentage",
        "percent",
        "rate",
        "fee",
        "population",
        "length",
        "distance",
        "weight",
        "height",
        "age",
        "year",
        "date",
        "count",
        "size",
        "speed",
        "temperature",
        "accuracy",
        "score",
        "version",
        "capacity",
        "duration",
    ];
    const NAME: &[&str] = &["who", "whom", "whose", "which"];
    let words: Vec<&str> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if NUMBER.iter().any(|p| q.starts_with(p))
        || q.contains(" how many ")
        || q.contains(" how much ")
        || words.iter().any(|w| QUANTITY.contains(w))
    {
        Wants::Number
    } else if NAME.iter().any(|p| words.first() == Some(p)) {
        Wants::Name
    } else {
        Wants::Anything
    }
}

/// The `limit` units that share the most of the question's words (BM25, default weights), the
/// ones evidence is chosen from; units with no word in common follow in passage order, so a
/// question worded unlike its passages still gets source [1]'s sentences.
pub(super) fn candidates(
    units: &[Unit],
    bm25: &Bm25,
    question: &[Term],
    limit: usize,
) -> Vec<usize> {
    let w = EvidenceWeights::default();
    let mut order: Vec<(f64, usize)> = units
        .iter()
        .enumerate()
        .map(|(i, u)| (bm25.score(question, &u.terms, |k| w.of(k)), i))
        .collect();
    // Stable: equal scores keep passage order.
    order.sort_by(|a, b| b.0.total_cmp(&a.0));
    order.into_iter().take(limit).map(|(_, i)| i).collect()
}

pub(super) fn rank(g: &Grounding<'_>, limit: usize, w: &EvidenceWeights) -> Vec<Evidence> {
    if g.candidates.is_empty() || limit == 0 {
        return Vec::new();
    }
    let lexical: Vec<f64> = g
        .units
        .iter()
        .map(|u| g.bm25.score(&g.question, &u.terms, |k| w.of(k)))
        .collect();
    let best_lexical = lexical.iter().copied().fold(0.0, f64::max);
    let wanted = wants(&g.question_text);
    let question_numbers = terms::numbers(&g.question_text);
    let mut scored: Vec<(f64, f64, f64, &Unit)> = g
        .candidates
        .iter()
        .map(|&i| {
            let (unit, lex) = (&g.units[i], lexical[i]);
            let vector = g.vectors[i].as_deref().expect("candidates are embedded");
            let lex = if best_lexical > 0.0 {
                lex / best_lexical
            } else {
                0.0
            };
            let semantic = cosine(&g.question_vector, vector);
            let mut score = w.lexical * lex + (1.0 - w.lexical) * semantic;
            if holds_wanted(unit, wanted, &g.question, &question_numbers) {
                score += w.answer_kind_bonus;
            }
            if labels_an_answer(&unit.text, &g.question) {
                score += w.form_field;
            }
            // A sentence made only of the question's own words (a title, a heading) answers nothing.
            if unit
                .terms
                .iter()
                .all(|t| g.question.iter().any(|q| q.key == t.key))
            {
                score *= ECHO_PENALTY;
            }
            score += w.rank_prior / (unit.passage + 1) as f64;
            (score, lex, semantic, unit)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let best = scored[0].0;
    let mut out: Vec<Evidence> = Vec::new();
    for (score, lexical, semantic, unit) in scored {
        if out.len() == limit || score < best * KEEP_SHARE {
            break;
        }
        // Overlapping chunks repeat sentences: quote each once.
        if out.iter().any(|e| e.text == unit.text) {
            continue;
        }
        out.push(quote(
            &g.passages[unit.passage],
            unit,
            score,
            lexical,
            semantic,
        ));
    }
    out
}

/// Whether the unit states an answer of the kind asked for that the question does not already say.
fn holds_wanted(
    unit: &Unit,
    wanted: Wants,
    question: &[terms::Term],
    question_numbers: &[String],
) -> bool {
    match wanted {
        Wants::Number => terms::numbers(&unit.text)
            .iter()
            .any(|n| !question_numbers.contains(n)),
        Wants::Name => unit
            .terms
            .iter()
            .any(|t| t.kind == TermKind::Name && !question.iter().any(|q| q.key == t.key)),
        Wants::Anything => false,
    }
}

/// Whether the unit is a form field the question asks about: "Label: value" with a label word
/// the question uses and a value it does not, or, in a line of a form (no sentence), a label word
/// of the question followed by a value with digits that the question lacks ("VIN 1C4RJ…").
fn labels_an_answer(text: &str, question: &[Term]) -> bool {
    let asked = |t: &Term| question.iter().any(|q| q.key == t.key);
    if let Some((label, value)) = text.split_once(": ") {
        let (label, value) = (terms::terms(label), terms::terms(value));
        if label.len() <= 3 && label.iter().any(asked) && value.first().is_some_and(|v| !asked(v)) {
            return true;
        }
    }
    if text.trim_end().ends_with(['.', '?', '!']) {
        return false;
    }
    let words = terms::terms(text);
    words.windows(2).any(|pair| {
        asked(&pair[0])
            && pair[0].kind != TermKind::Number
            && !asked(&pair[1])
            && pair[1].key.chars().any(|c| c.is_ascii_digit())
    })
}

fn quote(passage: &Passage, unit: &Unit, score: f64, lexical: f64, semantic: f64) -> Evidence {
    // The passage's own rules for `location` and `open`, applied to the quote's lines.
    let mut at = passage.clone();
    at.line_start = unit.line_start;
    at.line_end = unit.line_end;
    at.rows = unit.row.map(|r| (r, r));
    let open = match &passage.url {
        Some(url) => url.clone(),
        None => at.open_at(),
    };
    Evidence {
        n: passage.n,
        text: unit.text.clone(),
        title: passage.title.clone(),
        path: passage.path.clone(),
        location: at.location(),
        open,
        line_start: unit.line_start,
        line_end: unit.line_end,
        page: passage.page,
        rows: at.rows,
        score: round(score),
        lexical: round(lexical),
        semantic: round(semantic),
    }
}

/// Four decimals are enough to rank by and keep JSON short.
fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::super::terms::terms;
    use super::{labels_an_answer, wants, Wants};

    #[test]
    fn form_fields_the_question_asks_about() {
        let asked = |q: &str, line: &str| labels_an_answer(line, &terms(q));
        let cashier = "Who was the cashier at TechMart store #0342?";
        assert!(asked(cashier, "Cashier: Emily Rodriguez"));
        assert!(!asked(cashier, "Store #0342 - Downtown SF"));
        assert!(!asked(cashier, "Register: POS-07"));
        let vin = "What is the VIN of Gabriel Diaz's Jeep Grand Cherokee?";
        assert!(asked(
            vin,
            "Email gabriel@contoso.com VIN 1C4RJFBG2NC123456"
        ));
        assert!(!asked(vin, "Policy # POL-2022-555 Model Grand Cherokee"));
        // A sentence is not a form line.
        assert!(!asked(vin, "The VIN 1C4RJFBG2NC123456 was checked."));
    }

    #[test]
    fn question_kinds() {
        assert_eq!(
            wants("How many months is Drovana cheese aged?"),
            Wants::Number
        );
        assert_eq!(wants("When did the bridge open?"), Wants::Number);
        assert_eq!(wants("Who designed the Zorvath Bridge?"), Wants::Name);
        assert_eq!(wants("What is the mascot called?"), Wants::Anything);
        assert_eq!(wants("What was the total on the receipt?"), Wants::Number);
        assert_eq!(
            wants("Which research centre debunked the myth?"),
            Wants::Name
        );
    }
}
