//! Parity with llama.cpp (b11549, through scripts/reference/llamacpp.py) on SmolLM2-135M-Instruct
//! Q4_1: the same token ids for a wide set of strings, the same rendered chat prompt, and the same
//! greedy choices when both are fed llama.cpp's tokens (teacher forcing), except at near-ties.

mod common;

use std::path::PathBuf;

use almanac_engine::ChatMessage;
use serde::Deserialize;

/// A step whose top-1/top-2 logit gap in llama.cpp is at most this is a near-tie: small
/// numeric differences between the two implementations may pick either token.
const NEAR_TIE: f64 = 0.1;

#[derive(Deserialize)]
struct Fixture {
    model: String,
    tokenize: Vec<TokenizeCase>,
    greedy: Vec<GreedyCase>,
}

#[derive(Deserialize)]
struct TokenizeCase {
    text: String,
    ids: Vec<u32>,
}

#[derive(Deserialize)]
struct GreedyCase {
    messages: Vec<ChatMessage>,
    prompt: String,
    prompt_ids: Vec<u32>,
    tokens: Vec<u32>,
    margins: Vec<f64>,
}

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/llamacpp/smollm2-parity.json")
}

fn fixture() -> Fixture {
    let path = fixture_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the llama.cpp parity fixture {} cannot be read ({e}); generate it with \
             `python=$(scripts/reference/setup.sh)` and \
             `\"$python\" scripts/reference/make_llamacpp_fixture.py <models dir>/{}`",
            path.display(),
            common::CHAT_MODEL_FILE
        )
    });
    let fixture: Fixture =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        fixture.model,
        common::CHAT_MODEL_FILE,
        "the fixture was made from another model"
    );
    assert!(
        fixture.tokenize.len() >= 100,
        "the fixture has only {} tokenize cases",
        fixture.tokenize.len()
    );
    assert!(
        !fixture.greedy.is_empty(),
        "the fixture has no greedy cases"
    );
    fixture
}

#[test]
fn tokenizer_matches_llama_cpp() {
    let fixture = fixture();
    let model = common::chat_model();
    let tok = model.tokenizer();
    let pieces = |ids: &[u32]| -> Vec<String> {
        ids.iter()
            .map(|&id| tok.raw_token(id).unwrap_or("?").to_string())
            .collect()
    };
    let mismatches: Vec<String> = fixture
        .tokenize
        .iter()
        .filter_map(|case| {
            let ours = tok.encode_without_bos(&case.text, true).unwrap();
            (ours != case.ids).then(|| {
                format!(
                    "{:?}\n   ours:      {:?} {:?}\n   llama.cpp: {:?} {:?}",
                    case.text,
                    ours,
                    pieces(&ours),
                    case.ids,
                    pieces(&case.ids)
                )
            })
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} strings tokenize differently from llama.cpp:\n{}",
        mismatches.len(),
        fixture.tokenize.len(),
        mismatches.join("\n")
    );
}

#[test]
fn chat_prompt_and_greedy_choices_match_llama_cpp() {
    let fixture = fixture();
    let mut model = common::chat_model();
    let mut failures = Vec::new();
    for (n, case) in fixture.greedy.iter().enumerate() {
        let prompt = model.render_chat(&case.messages, true).unwrap();
        if prompt != case.prompt {
            failures.push(format!(
                "case {n}: rendered prompt differs\n   ours:   {prompt:?}\n   jinja2: {:?}",
                case.prompt
            ));
            continue;
        }
        // llama.cpp tokenized the prompt with add_bos=False, special=True.
        let prompt_ids = model
            .tokenizer()
            .encode_without_bos(&case.prompt, true)
            .unwrap();
        if prompt_ids != case.prompt_ids {
            failures.push(format!(
                "case {n}: prompt ids differ\n   ours:      {prompt_ids:?}\n   llama.cpp: {:?}",
                case.prompt_ids
            ));
            continue;
        }
        assert_eq!(
            case.tokens.len(),
            case.margins.len(),
            "case {n}: tokens and margins differ in length"
        );
        let rows = model
            .teacher_forced_logits(&case.prompt_ids, &case.tokens)
            .unwrap();
        for (step, ((row, &expected), &margin)) in
            rows.iter().zip(&case.tokens).zip(&case.margins).enumerate()
        {
            let ours = row
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0 as u32;
            if ours != expected && margin > NEAR_TIE {
                failures.push(format!(
                    "case {n} step {step}: we pick {ours} ({:?}, logit {:.3}), llama.cpp picks {expected} ({:?}, our logit {:.3}) with margin {margin:.3}",
                    model.tokenizer().token_piece(ours),
                    row[ours as usize],
                    model.tokenizer().token_piece(expected),
                    row[expected as usize],
                ));
                // Later steps still follow llama.cpp's tokens, so keep checking.
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences from llama.cpp:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
