use super::*;
use crate::mcq::{CategoryScore, Format, SubjectScore};
use crate::qa::{Gain, ModeScores};

fn mcq_report() -> Report {
    Report::Mcq(McqReport {
        format: Format::Mmlu,
        benchmark: "MMLU".into(),
        model: "model.gguf".into(),
        shots: 5,
        context_length: 2048,
        limit: Some(10),
        data: "/data/mmlu".into(),
        questions: 20,
        correct: 9,
        accuracy: 0.45,
        macro_accuracy: 0.45,
        chance: 0.25,
        subjects: vec![
            SubjectScore {
                subject: "abstract_algebra".into(),
                category: "STEM".into(),
                questions: 10,
                correct: 3,
                accuracy: 0.3,
            },
            SubjectScore {
                subject: "world_religions".into(),
                category: "humanities".into(),
                questions: 10,
                correct: 6,
                accuracy: 0.6,
            },
        ],
        categories: vec![CategoryScore {
            category: "STEM".into(),
            subjects: 1,
            questions: 10,
            correct: 3,
            accuracy: 0.3,
            macro_accuracy: 0.3,
        }],
        picked: [5, 5, 5, 5],
        cropped: 0,
        seconds: 12.0,
        finished_at: "2026-12-05T12:00:00Z".into(),
    })
}

fn qa_report() -> Report {
    let scores = |f1, hit: Option<f64>| ModeScores {
        exact_match: 0.0,
        f1,
        contains_answer: f1,
        retrieval_hit_rate: hit,
        citation_precision: hit,
        cited_questions: 1,
        evidence_holds_answer: hit,
    };
    Report::Qa(QaReport {
        set: "/sets/after-cutoff/set.jsonl".into(),
        model: "model.gguf".into(),
        questions: 8,
        documents: 6,
        max_tokens: 96,
        with_retrieval: scores(0.5, Some(1.0)),
        without_retrieval: scores(0.1, None),
        gain: Gain {
            exact_match: 0.0,
            f1: 0.4,
            contains_answer: 0.4,
        },
        seconds: 30.0,
        finished_at: "2026-12-05T12:30:00Z".into(),
    })
}

#[test]
fn saves_json_markdown_and_chart_and_lists_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mcq = save(dir.path(), &mcq_report()).unwrap();
    assert_eq!(mcq.name, "20261205-120000-mmlu-5-shot");
    let again = save(dir.path(), &mcq_report()).unwrap();
    assert_eq!(
        again.name, "20261205-120000-mmlu-5-shot-2",
        "the same second keeps both"
    );
    let qa = save(dir.path(), &qa_report()).unwrap();
    assert_eq!(qa.name, "20261205-123000-qa-after-cutoff");

    let markdown = std::fs::read_to_string(&mcq.markdown).unwrap();
    assert!(
        markdown.contains("![chart](20261205-120000-mmlu-5-shot.svg)"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| abstract_algebra | STEM | 10 | 3 | 0.3000 |"),
        "{markdown}"
    );
    let svg = std::fs::read_to_string(&mcq.chart).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    for text in [
        "abstract algebra",
        "world religions",
        "all questions",
        "0.450",
        "chance (0.25)",
    ] {
        assert!(svg.contains(text), "the chart lacks {text:?}");
    }
    let svg = std::fs::read_to_string(&qa.chart).unwrap();
    for text in [
        "with retrieval",
        "without retrieval",
        "gold document retrieved",
        "0.500",
    ] {
        assert!(svg.contains(text), "the chart lacks {text:?}");
    }
    let markdown = std::fs::read_to_string(&qa.markdown).unwrap();
    assert!(
        markdown.contains("| F1 | 0.100 | 0.500 | +0.400 |"),
        "{markdown}"
    );

    let listed = list(dir.path()).unwrap();
    let names: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [qa.name.as_str(), again.name.as_str(), mcq.name.as_str()]
    );
    assert_eq!(listed[0].kind, "qa");
    assert_eq!(load(dir.path(), &mcq.name).unwrap(), mcq_report());
    let json: serde_json::Value =
        serde_json::from_str(&read_file(dir.path(), &qa.name, "json").unwrap()).unwrap();
    assert_eq!(json["kind"], "qa");
    assert!(
        json["with_retrieval"]["f1"].is_number() && json["without_retrieval"]["f1"].is_number()
    );
}

#[test]
fn refuses_names_that_are_paths() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["../secret", "a/b", "", "x.json"] {
        assert!(read_file(dir.path(), name, "md").is_err(), "{name:?}");
    }
    assert!(read_file(dir.path(), "fine-name", "exe").is_err());
    assert!(list(&dir.path().join("missing")).unwrap().is_empty());
}
