//! Llama 3.2's structure, exactly as llama.cpp runs it: tiny random-weight GGUF files (rope_freqs with
//! llama3 scaling factors, tied or untied output, grouped-query attention from 1 to 8 heads per
//! key-value head, Q8_0 and Q4_K weights) and llama.cpp's logits for a few prompts on each, written by
//! scripts/reference/make_llama3_fixtures.py (see tests/fixtures/llama3/README.md).

use std::path::{Path, PathBuf};

use almanac_engine::{ChatModel, LoadOptions};
use serde::Deserialize;

/// The largest difference allowed between our logits and llama.cpp's, as a share of the spread
/// (max - min) of llama.cpp's logits for that prompt. Both sides quantize activations to 8 bits
/// and sum in different orders, so small differences are expected; reading these files without
/// their rope factors moves the long prompts' logits by 6 to 11 % of the spread.
const TOLERANCE: f32 = 0.02;

#[derive(Deserialize)]
struct Fixture {
    reference: String,
    files: Vec<FileCase>,
}

#[derive(Deserialize)]
struct FileCase {
    file: String,
    prompts: Vec<PromptCase>,
}

#[derive(Deserialize)]
struct PromptCase {
    ids: Vec<u32>,
    logits: Vec<f32>,
    without_rope_freqs_max_diff: f32,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/llama3")
}

fn fixture() -> Fixture {
    let path = fixtures_dir().join("llamacpp-logits.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn spread(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::MIN, f32::max);
    let min = logits.iter().copied().fold(f32::MAX, f32::min);
    max - min
}

/// Index of the largest logit and its margin over the second largest.
fn top(logits: &[f32]) -> (usize, f32) {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    (order[0], logits[order[0]] - logits[order[1]])
}

/// What differs from llama.cpp on one prompt, if anything.
fn compare(ours: &[f32], theirs: &[f32]) -> Option<String> {
    if ours.len() != theirs.len() {
        return Some(format!(
            "{} logits, llama.cpp has {}",
            ours.len(),
            theirs.len()
        ));
    }
    let allowed = TOLERANCE * spread(theirs);
    let (worst_at, worst) = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .enumerate()
        .fold(
            (0, 0.0f32),
            |best, (i, d)| if d > best.1 { (i, d) } else { best },
        );
    let (their_top, margin) = top(theirs);
    let (our_top, _) = top(ours);
    let mut problems = Vec::new();
    if worst > allowed {
        problems.push(format!(
            "max |diff| {worst:.3} at token {worst_at} (ours {:.3}, llama.cpp {:.3}) > {allowed:.3} \
             ({:.1} % of the spread)",
            ours[worst_at],
            theirs[worst_at],
            100.0 * worst / spread(theirs)
        ));
    }
    // A near-tie may go either way within the tolerance.
    if our_top != their_top && margin > allowed {
        problems.push(format!(
            "argmax {our_top}, llama.cpp's {their_top} (its margin {margin:.3})"
        ));
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

fn check_file(name: &str) {
    let fixture = fixture();
    let case = fixture
        .files
        .iter()
        .find(|f| f.file == name)
        .unwrap_or_else(|| panic!("{name} is not in the fixture"));
    // The fixture must be able to catch a missing rope scaling: its longest prompt moves by more
    // than the tolerance when the rope factors are ignored.
    let longest = case.prompts.iter().max_by_key(|p| p.ids.len()).unwrap();
    assert!(
        longest.without_rope_freqs_max_diff > 2.0 * TOLERANCE * spread(&longest.logits),
        "{name}: the fixture's prompts are too short to show the rope factors"
    );

    let mut model = ChatModel::load(&fixtures_dir().join(name), &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let failures: Vec<String> = case
        .prompts
        .iter()
        .filter_map(|prompt| {
            let ours = model
                .next_token_logits(&prompt.ids)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            compare(&ours, &prompt.logits)
                .map(|problem| format!("prompt of {} tokens: {problem}", prompt.ids.len()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{name} differs from {}:\n  {}",
        fixture.reference,
        failures.join("\n  ")
    );
}

#[test]
fn tied_gqa4_q8_0_matches_llama_cpp() {
    check_file("tiny-llama32-q8_0.gguf");
}

#[test]
fn tied_gqa4_q4_k_matches_llama_cpp() {
    check_file("tiny-llama32-q4_k.gguf");
}

#[test]
fn untied_gqa8_q4_k_matches_llama_cpp() {
    check_file("tiny-llama32-untied-gqa8-q4_k.gguf");
}

#[test]
fn gqa1_head_dim_64_q8_0_matches_llama_cpp() {
    check_file("tiny-llama32-gqa1-hd64-q8_0.gguf");
}

#[test]
fn the_comparison_catches_a_wrong_argmax_and_a_large_difference() {
    let theirs = [0.0, 10.0, 2.0, -10.0];
    assert_eq!(compare(&theirs, &theirs), None);
    // Within 2 % of the spread (20): fine.
    assert_eq!(compare(&[0.3, 10.0, 2.0, -10.0], &theirs), None);
    let off = compare(&[0.0, 10.0, 11.0, -10.0], &theirs).unwrap();
    assert!(
        off.contains("max |diff|") && off.contains("argmax 2"),
        "{off}"
    );
}
