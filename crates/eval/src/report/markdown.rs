//! A report as a Markdown page, its chart linked beside it.

use std::fmt::Write;

use super::Report;
use crate::mcq::McqReport;
use crate::qa::QaReport;

pub fn render(report: &Report, chart_file: &str) -> String {
    let mut md = format!("# {}\n\n![chart]({chart_file})\n\n", report.title());
    match report {
        Report::Mcq(r) => mcq(&mut md, r),
        Report::Qa(r) => qa(&mut md, r),
    }
    md
}

fn mcq(md: &mut String, r: &McqReport) {
    let _ = writeln!(
        md,
        "Accuracy **{:.4}** on {} questions ({} correct); the mean over {} subjects is {:.4}; \
         chance is {:.2}. Prompts: {} examples from each subject's dev questions, the answer \
         letter scored by its log-probability; context window {} tokens ({} prompts dropped \
         examples to fit). Picks: A {}, B {}, C {}, D {}. Data: `{}`. Finished {}, {:.0} s of scoring.\n",
        r.accuracy,
        r.questions,
        r.correct,
        r.subjects.len(),
        r.macro_accuracy,
        r.chance,
        r.shots,
        r.context_length,
        r.cropped,
        r.picked[0],
        r.picked[1],
        r.picked[2],
        r.picked[3],
        r.data,
        r.finished_at,
        r.seconds
    );
    md.push_str("| category | subjects | questions | accuracy | mean of subjects |\n|---|---:|---:|---:|---:|\n");
    for c in &r.categories {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.4} | {:.4} |",
            c.category, c.subjects, c.questions, c.accuracy, c.macro_accuracy
        );
    }
    md.push_str(
        "\n| subject | category | questions | correct | accuracy |\n|---|---|---:|---:|---:|\n",
    );
    for s in &r.subjects {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.4} |",
            s.subject, s.category, s.questions, s.correct, s.accuracy
        );
    }
}

fn qa(md: &mut String, r: &QaReport) {
    let _ = writeln!(
        md,
        "{} questions, each answered greedily (at most {} tokens) without retrieval and with it, \
         over a library of the set's {} documents. Set: `{}`. Finished {}, {:.0} s.\n",
        r.questions, r.max_tokens, r.documents, r.set, r.finished_at, r.seconds
    );
    md.push_str("| | without retrieval | with retrieval | gain |\n|---|---:|---:|---:|\n");
    let (w, o) = (&r.with_retrieval, &r.without_retrieval);
    let _ = writeln!(
        md,
        "| exact match | {:.3} | {:.3} | {:+.3} |",
        o.exact_match, w.exact_match, r.gain.exact_match
    );
    let _ = writeln!(md, "| F1 | {:.3} | {:.3} | {:+.3} |", o.f1, w.f1, r.gain.f1);
    let _ = writeln!(
        md,
        "| answer holds a gold answer | {:.3} | {:.3} | {:+.3} |",
        o.contains_answer, w.contains_answer, r.gain.contains_answer
    );
    let _ = writeln!(
        md,
        "| gold document among the sources | | {} | |",
        optional(w.retrieval_hit_rate)
    );
    let _ = writeln!(
        md,
        "| cited passages holding the answer | | {} ({} answers cited) | |",
        optional(w.citation_precision),
        w.cited_questions
    );
    let _ = writeln!(
        md,
        "| quoted evidence holds the answer | | {} | |",
        optional(w.evidence_holds_answer)
    );
    md.push('\n');
    md.push_str(NOTES);
}

fn optional(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".into(), |v| format!("{v:.3}"))
}

const NOTES: &str = "Exact match and F1 as SQuAD's evaluation script computes them (lower case, \
punctuation and articles removed), the best over the gold answers, after the answer's citation marks \
are removed; a chat model answers in sentences, so \"answer holds a gold answer\" (whole words, same \
normalisation) says more.\n";
