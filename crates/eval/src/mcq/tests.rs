//! The tiny fixtures in tests/fixtures (written for these tests, in the benchmarks' layouts)
//! through the real default model.

use std::path::PathBuf;
use std::sync::Mutex;

use almanac_engine::{CancelFlag, ChatModel, LoadOptions};

use super::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The default chat model, loaded once for every test here.
fn model() -> std::sync::MutexGuard<'static, ChatModel> {
    static MODEL: std::sync::OnceLock<Mutex<ChatModel>> = std::sync::OnceLock::new();
    MODEL
        .get_or_init(|| {
            let dir = std::env::var_os("ALMANAC_MODELS_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                        .join(".local/share/almanac/models")
                });
            let path = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
            Mutex::new(
                ChatModel::load(&path, &LoadOptions::default())
                    .expect("the default model: run scripts/install-models.sh"),
            )
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

const MMLU_PROMPT: &str = "The following are multiple choice questions (with answers) about world capitals.\n\n\
What is the capital of France?\nA. Berlin\nB. Paris\nC. Rome\nD. Madrid\nAnswer: B\n\n\
Which city is the capital of Japan, an island nation?\nA. Tokyo\nB. Osaka\nC. Kyoto\nD. Nagoya\nAnswer: A\n\n \
Which of these is the capital of Spain?\nA. Madrid\nB. Paris\nC. Athens\nD. Oslo\nAnswer:";

const KMMLU_PROMPT: &str = "대한민국의 수도는?\nA. 부산\nB. 서울\nC. 대구\nD. 인천\n정답： B\n\n\
한글을 만든 왕은?\nA. 세종대왕\nB. 태조\nC. 정조\nD. 광해군\n정답： A\n\n\
일본의 수도는?\nA. 도쿄\nB. 오사카\nC. 교토\nD. 나고야\n정답：";

#[test]
fn mmlu_prompt_is_hendrycks_layout_byte_for_byte() {
    let subjects = data::load(&fixture("mmlu"), Format::Mmlu, &[]).unwrap();
    assert_eq!(subjects.len(), 1);
    let s = &subjects[0];
    assert_eq!(s.name, "world_capitals");
    assert_eq!(
        s.test.iter().map(|q| q.answer).collect::<Vec<_>>(),
        [2, 0, 3]
    );
    assert_eq!(
        s.test[2].question,
        "The capital of Canada is \"which\" city?"
    );
    let prompt = prompt::build(Format::Mmlu, &s.name, &s.dev, &s.test[1]);
    assert_eq!(prompt, MMLU_PROMPT);
    // 0-shot: the header, then the question.
    assert_eq!(
        prompt::build(Format::Mmlu, &s.name, &[], &s.test[0]),
        "The following are multiple choice questions (with answers) about world capitals.\n\n\
         What is the capital of Italy?\nA. Madrid\nB. Lisbon\nC. Rome\nD. Vienna\nAnswer:"
    );
}

#[test]
fn kmmlu_prompt_is_the_harness_layout_with_columns_read_by_name() {
    let subjects = data::load(&fixture("kmmlu"), Format::Kmmlu, &[]).unwrap();
    let s = &subjects[0];
    assert_eq!(s.name, "Korean-Trivia");
    assert_eq!(s.dev[0].answer, 1);
    // The test file orders its columns otherwise: answer last, Category first.
    assert_eq!(s.test[1].choices, ["1", "2", "3", "4"].map(String::from));
    assert_eq!(s.test.iter().map(|q| q.answer).collect::<Vec<_>>(), [0, 2]);
    assert_eq!(
        prompt::build(Format::Kmmlu, &s.name, &s.dev, &s.test[0]),
        KMMLU_PROMPT
    );
}

#[test]
fn the_answer_letter_is_one_token_after_the_cue() {
    let model = model();
    let letters = LetterTokens::of(model.tokenizer(), "SmolLM2").unwrap();
    // llama.cpp b11549 tokenizes " A", " B", " C", " D" to these with this model's vocabulary.
    assert_eq!(letters.0, [330, 389, 340, 422]);
    for prompt in [MMLU_PROMPT, KMMLU_PROMPT] {
        let ids = model.tokenizer().encode(prompt, false).unwrap();
        for (letter, id) in ["A", "B", "C", "D"].iter().zip(letters.0) {
            let with = model
                .tokenizer()
                .encode(&format!("{prompt} {letter}"), false)
                .unwrap();
            assert_eq!(
                with[..ids.len()],
                ids[..],
                "the prompt's tokens stay as they are"
            );
            assert_eq!(with[ids.len()..], [id], "{letter:?} follows as one token");
        }
    }
}

#[test]
fn scores_each_question_by_the_letter_logits_and_resumes_a_stopped_run() {
    let mut model = model();
    let dir = tempfile::tempdir().unwrap();
    let options = McqOptions {
        data: fixture("mmlu"),
        format: Format::Mmlu,
        shots: 2,
        subjects: vec![],
        limit: None,
    };
    let log = log_path(dir.path(), &options, &model);

    // The expected picks, straight from the logits of the expected prompts.
    let subjects = data::load(&options.data, options.format, &[]).unwrap();
    let s = &subjects[0];
    let expected: Vec<usize> = s
        .test
        .iter()
        .map(|q| {
            let ids = model
                .tokenizer()
                .encode(&prompt::build(Format::Mmlu, &s.name, &s.dev, q), false)
                .unwrap();
            let logits = model.next_token_logits(&ids).unwrap();
            let letters = [330usize, 389, 340, 422];
            (0..4).fold(0, |best, i| {
                if logits[letters[i]] > logits[letters[best]] {
                    i
                } else {
                    best
                }
            })
        })
        .collect();

    // Stopped after the first question: the log keeps it.
    let cancel = CancelFlag::default();
    let mut seen = Vec::new();
    let outcome = run(&mut model, &options, &log, &cancel, &mut |p| {
        seen.push(p.clone());
        cancel.cancel();
    })
    .unwrap();
    assert!(matches!(outcome, Outcome::Stopped { done: 1, total: 3 }));
    assert_eq!(seen.len(), 1);
    assert!(seen[0].seconds_left.is_some());
    assert!(log.exists());

    let mut progress = Vec::new();
    let Outcome::Finished { report, results } = run(
        &mut model,
        &options,
        &log,
        &CancelFlag::default(),
        &mut |p| progress.push(p.done),
    )
    .unwrap() else {
        panic!("not finished");
    };
    assert_eq!(progress, [2, 3], "resumed after the first question");
    assert!(!log.exists(), "a finished run leaves nothing to resume");
    assert_eq!(
        results.iter().map(|r| r.choice).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        results.iter().map(|r| r.shots).collect::<Vec<_>>(),
        [2, 2, 2]
    );
    let correct = expected
        .iter()
        .zip([2, 0, 3])
        .filter(|(c, a)| **c == *a)
        .count();
    assert_eq!(report.correct, correct);
    assert_eq!(report.questions, 3);
    assert!((report.accuracy - correct as f64 / 3.0).abs() < 1e-12);
    assert_eq!(report.subjects[0].category, "other");
    assert_eq!(report.picked.iter().sum::<usize>(), 3);
    for r in &results {
        let p: f64 = r.logprobs.iter().map(|l| l.exp()).sum();
        assert!(
            p > 0.0 && p <= 1.0 + 1e-9,
            "letter probabilities are a share of the vocabulary's"
        );
    }

    // The same command gives the same picks again.
    let Outcome::Finished { results: again, .. } = run(
        &mut model,
        &options,
        &log,
        &CancelFlag::default(),
        &mut |_| {},
    )
    .unwrap() else {
        panic!("not finished");
    };
    assert_eq!(again.iter().map(|r| r.choice).collect::<Vec<_>>(), expected);
}

/// CI's small reference check: llama.cpp's picks on 20 MMLU questions (fixtures/mmlu-llamacpp).
#[test]
fn picks_what_llama_cpp_picks() {
    #[derive(serde::Deserialize)]
    struct Reference {
        shots: usize,
        letters: [u32; 4],
        questions: Vec<Case>,
    }
    #[derive(serde::Deserialize)]
    struct Case {
        subject: String,
        index: usize,
        letter_logits: [f64; 4],
        margin: f64,
    }
    /// Below this gap between its best two letters llama.cpp's pick is a near-tie, which small
    /// numeric differences may flip (the threshold of the engine's llama.cpp parity test).
    const NEAR_TIE: f64 = 0.1;
    /// The most a gap between two letters may differ from llama.cpp's.
    const GAP_TOLERANCE: f64 = 0.2;

    let dir = fixture("mmlu-llamacpp");
    let reference: Reference =
        serde_json::from_str(&std::fs::read_to_string(dir.join("llamacpp.json")).unwrap()).unwrap();
    let mut model = model();
    assert_eq!(
        LetterTokens::of(model.tokenizer(), "model").unwrap().0,
        reference.letters
    );
    let options = McqOptions {
        data: dir,
        format: Format::Mmlu,
        shots: reference.shots,
        subjects: vec![],
        limit: None,
    };
    let runs = tempfile::tempdir().unwrap();
    let log = log_path(runs.path(), &options, &model);
    let Outcome::Finished { results, .. } = run(
        &mut model,
        &options,
        &log,
        &CancelFlag::default(),
        &mut |_| {},
    )
    .unwrap() else {
        panic!("not finished");
    };
    assert_eq!(results.len(), reference.questions.len());
    let mut failures = Vec::new();
    for case in &reference.questions {
        let ours = results
            .iter()
            .find(|r| r.subject == case.subject && r.index == case.index)
            .unwrap();
        let theirs = (0..4).fold(0, |best, i| {
            if case.letter_logits[i] > case.letter_logits[best] {
                i
            } else {
                best
            }
        });
        if case.margin > NEAR_TIE && ours.choice != theirs {
            failures.push(format!(
                "{} {}: ours {}, llama.cpp {} (margin {:.3})",
                case.subject, case.index, ours.choice, theirs, case.margin
            ));
        }
        for i in 0..4 {
            let gap = ours.logprobs[i] - ours.logprobs[theirs];
            let reference_gap = case.letter_logits[i] - case.letter_logits[theirs];
            if (gap - reference_gap).abs() > GAP_TOLERANCE {
                failures.push(format!(
                    "{} {}: letter {i} is {gap:.3} from llama.cpp's pick, llama.cpp says {reference_gap:.3}",
                    case.subject, case.index
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
