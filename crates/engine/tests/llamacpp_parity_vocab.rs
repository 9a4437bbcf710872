//! Tokenizer parity with llama.cpp (through llama-cpp-python) for the two vocabulary kinds that
//! SmolLM2 does not exercise: a SentencePiece vocabulary (`tokenizer.ggml.model = "llama"`, as
//! Llama 2 / TinyLlama / Mistral v0.1) and a Llama-3-style byte-level BPE (`"gpt2"` with
//! `tokenizer.ggml.pre = "llama-bpe"`). Both are small vocab-only GGUF files trained for these
//! tests by scripts/reference/make_vocab_parity_fixtures.py, which also recorded llama.cpp's ids
//! and detokenizations in the JSON fixtures beside them (see tests/fixtures/llamacpp/README.md).

use std::path::{Path, PathBuf};

use almanac_engine::gguf_file;
use almanac_engine::GgufTokenizer;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    gguf: String,
    bos: u32,
    eos: u32,
    add_bos: bool,
    cases: Vec<Case>,
    /// Every 50th line of the text both vocabularies were trained on: long merges, code.
    corpus: Vec<CorpusCase>,
}

/// `ids = tokenize(text, add_bos=False, special=True)`; llama.cpp detokenizes them (special
/// tokens written out) back to `text`, which the script checked.
#[derive(Deserialize)]
struct CorpusCase {
    text: String,
    ids: Vec<u32>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    /// `tokenize(text, add_bos=False, special=True)`
    ids: Vec<u32>,
    /// `tokenize(text, add_bos=True, special=True)`
    ids_bos: Vec<u32>,
    /// `tokenize(text, add_bos=False, special=False)`
    ids_literal: Vec<u32>,
    /// `llama_detokenize(ids, remove_special=false, unparse_special=false)`
    decoded: Detokenized,
    /// `llama_detokenize(ids, remove_special=false, unparse_special=true)`
    decoded_special: Detokenized,
    /// `llama_detokenize(ids_bos, remove_special=true, unparse_special=false)`
    decoded_bos: Detokenized,
    /// The same before llama_detokenize's `clean_spaces` pass, where that pass changed the text.
    #[serde(default)]
    uncleaned: Uncleaned,
}

#[derive(Deserialize, Default)]
struct Uncleaned {
    decoded: Option<Detokenized>,
    decoded_special: Option<Detokenized>,
    decoded_bos: Option<Detokenized>,
}

/// Detokenized bytes: text, or hex where they are not UTF-8.
#[derive(Deserialize, Clone, Debug)]
#[serde(untagged)]
enum Detokenized {
    Text(String),
    Hex { hex: String },
}

impl Detokenized {
    fn matches(&self, ours: &str) -> bool {
        match self {
            Detokenized::Text(text) => text == ours,
            Detokenized::Hex { hex } => {
                let ours_hex: String = ours.bytes().map(|b| format!("{b:02x}")).collect();
                *hex == ours_hex
            }
        }
    }
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/llamacpp")
}

fn regenerate_hint() -> &'static str {
    "generate it with `pip install llama-cpp-python==0.3.36 gguf sentencepiece tokenizers` and \
     `python3 scripts/reference/make_vocab_parity_fixtures.py`"
}

fn load(fixture_name: &str, gguf_name: &str) -> (Fixture, GgufTokenizer) {
    let dir = fixtures_dir();
    let path = dir.join(fixture_name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the llama.cpp parity fixture {} cannot be read ({e}); {}",
            path.display(),
            regenerate_hint()
        )
    });
    let fixture: Fixture =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        fixture.gguf,
        gguf_name,
        "{} names another GGUF",
        path.display()
    );
    assert!(
        fixture.cases.len() >= 100 && fixture.corpus.len() >= 100,
        "{} has only {} cases and {} corpus lines",
        path.display(),
        fixture.cases.len(),
        fixture.corpus.len()
    );
    (fixture, tokenizer(&dir.join(gguf_name)))
}

fn tokenizer(path: &Path) -> GgufTokenizer {
    let mut file = std::fs::File::open(path).unwrap_or_else(|e| {
        panic!(
            "the test vocabulary {} cannot be opened ({e}); {}",
            path.display(),
            regenerate_hint()
        )
    });
    let content = gguf_file::Content::read(&mut file)
        .unwrap_or_else(|e| panic!("{}: not a readable GGUF: {e}", path.display()));
    GgufTokenizer::from_gguf(&content)
        .unwrap_or_else(|e| panic!("{}: no tokenizer: {e}", path.display()))
}

fn pieces(tok: &GgufTokenizer, ids: &[u32]) -> Vec<String> {
    ids.iter()
        .map(|&id| tok.raw_token(id).unwrap_or("?").to_string())
        .collect()
}

fn ids_mismatch(
    tok: &GgufTokenizer,
    what: &str,
    text: &str,
    ours: &[u32],
    theirs: &[u32],
) -> String {
    format!(
        "{what} {text:?}\n   ours:      {ours:?} {:?}\n   llama.cpp: {theirs:?} {:?}",
        pieces(tok, ours),
        pieces(tok, theirs)
    )
}

/// Every difference in token ids, for all cases at once.
fn id_mismatches(fixture: &Fixture, tok: &GgufTokenizer) -> Vec<String> {
    let mut out = Vec::new();
    assert_eq!(tok.bos_id(), Some(fixture.bos), "BOS id");
    assert_eq!(tok.eos_id(), Some(fixture.eos), "EOS id");
    assert_eq!(tok.adds_bos(), fixture.add_bos, "whether BOS is added");
    for case in &fixture.cases {
        let text = &case.text;
        let ours = tok.encode_without_bos(text, true).unwrap();
        if ours != case.ids {
            out.push(ids_mismatch(tok, "special=true:", text, &ours, &case.ids));
        }
        let ours = tok.encode_without_bos(text, false).unwrap();
        if ours != case.ids_literal {
            out.push(ids_mismatch(
                tok,
                "special=false:",
                text,
                &ours,
                &case.ids_literal,
            ));
        }
        // llama.cpp's add_bos puts BOS in front of whatever the text gives, even BOS itself
        // (and warns about the doubled BOS). `encode` does not double it: a prompt rendered with
        // its own BOS text keeps one BOS. Everywhere else the two must agree exactly.
        let mut expected = case.ids_bos.clone();
        if fixture.add_bos && case.ids.first() == Some(&fixture.bos) {
            assert_eq!(
                &case.ids_bos[..2],
                &[fixture.bos, fixture.bos],
                "{text:?}: llama.cpp was expected to double BOS"
            );
            expected.remove(0);
        }
        let ours = tok.encode(text, true).unwrap();
        if ours != expected {
            out.push(ids_mismatch(tok, "add_bos=true:", text, &ours, &expected));
        }
    }
    for case in &fixture.corpus {
        let ours = tok.encode_without_bos(&case.text, true).unwrap();
        if ours != case.ids {
            out.push(ids_mismatch(
                tok,
                "corpus line:",
                &case.text,
                &ours,
                &case.ids,
            ));
        }
    }
    out
}

/// Every difference in decoding, for all cases at once. The reference is llama_detokenize
/// without its `clean_spaces` pass (which llama.cpp applies to byte-level vocabularies such as
/// Llama 3's but not to what it prints while generating, token by token): `decode` must give
/// text that the stream of generated pieces agrees with.
fn decode_mismatches(fixture: &Fixture, tok: &GgufTokenizer) -> Vec<String> {
    let mut out = Vec::new();
    for case in &fixture.cases {
        let checks: [(&str, String, &Detokenized, &Option<Detokenized>); 3] = [
            (
                "decode(ids)",
                tok.decode(&case.ids).unwrap(),
                &case.decoded,
                &case.uncleaned.decoded,
            ),
            (
                "decode_with_special(ids)",
                tok.decode_with_special(&case.ids).unwrap(),
                &case.decoded_special,
                &case.uncleaned.decoded_special,
            ),
            (
                "decode(ids_bos)",
                tok.decode(&case.ids_bos).unwrap(),
                &case.decoded_bos,
                &case.uncleaned.decoded_bos,
            ),
        ];
        for (what, ours, detokenized, uncleaned) in checks {
            let expected = uncleaned.as_ref().unwrap_or(detokenized);
            if !expected.matches(&ours) {
                out.push(format!(
                    "{what} for {:?}\n   ours:      {ours:?}\n   llama.cpp: {expected:?}",
                    case.text
                ));
            }
        }
    }
    for case in &fixture.corpus {
        let ours = tok.decode_with_special(&case.ids).unwrap();
        if ours != case.text {
            out.push(format!(
                "decode_with_special(ids) for corpus line {:?}\n   ours: {ours:?}",
                case.text
            ));
        }
    }
    out
}

fn assert_none(kind: &str, what: &str, fixture: &Fixture, mismatches: Vec<String>) {
    assert!(
        mismatches.is_empty(),
        "{kind}: {} {what} differences from llama.cpp over {} strings:\n{}",
        mismatches.len(),
        fixture.cases.len(),
        mismatches.join("\n")
    );
}

#[test]
fn sentencepiece_ids_match_llama_cpp() {
    let (fixture, tok) = load("spm-parity.json", "spm-vocab.gguf");
    let mismatches = id_mismatches(&fixture, &tok);
    assert_none("SentencePiece", "token id", &fixture, mismatches);
}

#[test]
fn sentencepiece_decoding_matches_llama_cpp() {
    let (fixture, tok) = load("spm-parity.json", "spm-vocab.gguf");
    assert!(
        fixture.cases.iter().all(|c| c.uncleaned.decoded.is_none()
            && c.uncleaned.decoded_special.is_none()
            && c.uncleaned.decoded_bos.is_none()),
        "llama.cpp does not clean spaces for SentencePiece vocabularies"
    );
    let mismatches = decode_mismatches(&fixture, &tok);
    assert_none("SentencePiece", "decoding", &fixture, mismatches);
}

#[test]
fn llama3_ids_match_llama_cpp() {
    let (fixture, tok) = load("llama3-parity.json", "llama3-vocab.gguf");
    let mismatches = id_mismatches(&fixture, &tok);
    assert_none("Llama 3 BPE", "token id", &fixture, mismatches);
}

#[test]
fn llama3_decoding_matches_llama_cpp() {
    let (fixture, tok) = load("llama3-parity.json", "llama3-vocab.gguf");
    let mismatches = decode_mismatches(&fixture, &tok);
    assert_none("Llama 3 BPE", "decoding", &fixture, mismatches);
}
