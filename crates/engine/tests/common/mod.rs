//! Shared by the integration tests: where the real models are, one shared loaded chat model,
//! and tiny hand-made GGUF files.
#![allow(dead_code)]

pub mod raw_gguf;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use almanac_engine::gguf_file::{self, Value};
use almanac_engine::{ChatModel, LoadOptions};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

pub const CHAT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const EMBEDDER_DIR: &str = "all-MiniLM-L6-v2";

/// `$ALMANAC_MODELS_DIR`, else `~/.local/share/almanac/models` (as scripts/install-models.sh).
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ALMANAC_MODELS_DIR") {
        return PathBuf::from(dir);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".local/share")
        });
    data.join("almanac/models")
}

pub fn require(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-models.sh (or set ALMANAC_MODELS_DIR)",
        path.display()
    );
    path
}

pub fn chat_model_path() -> PathBuf {
    require(models_dir().join(CHAT_MODEL_FILE))
}

pub fn embedder_dir() -> PathBuf {
    require(models_dir().join(EMBEDDER_DIR))
}

/// One SmolLM2 per test binary; tests take turns, which also keeps the 2 cores from thrashing.
pub fn chat_model() -> MutexGuard<'static, ChatModel> {
    static MODEL: OnceLock<Mutex<ChatModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let model = ChatModel::load(&chat_model_path(), &LoadOptions::default())
                .unwrap_or_else(|e| panic!("loading the chat model failed: {e}"));
            Mutex::new(model)
        })
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// GPT-2's reversible map from bytes to printable characters.
pub fn byte_alphabet() -> Vec<char> {
    let printable =
        |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let mut next = 256;
    (0..=255u32)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).unwrap()
            } else {
                let c = char::from_u32(next).unwrap();
                next += 1;
                c
            }
        })
        .collect()
}

/// Writes a tiny random Llama-shaped GGUF (1 layer, 8 wide, byte-level vocabulary of 259
/// tokens) with the given architecture name and optional chat template.
pub fn write_tiny_gguf(path: &Path, architecture: &str, chat_template: Option<&str>) {
    let mut tokens: Vec<String> = vec![
        "<|endoftext|>".into(),
        "<|im_start|>".into(),
        "<|im_end|>".into(),
    ];
    let mut types = vec![3i32, 3, 3];
    for c in byte_alphabet() {
        tokens.push(c.to_string());
        types.push(1);
    }
    let merges = vec!["h e".to_string()];
    tokens.push("he".into());
    types.push(1);
    let vocab = tokens.len();
    let (emb, heads, kv_heads, ff) = (8usize, 2usize, 1usize, 16usize);
    let head_dim = emb / heads;

    let strings = |v: &[String]| Value::Array(v.iter().map(|s| Value::String(s.clone())).collect());
    let mut metadata: Vec<(String, Value)> = vec![
        (
            "general.architecture".into(),
            Value::String(architecture.into()),
        ),
        (format!("{architecture}.context_length"), Value::U32(128)),
        (
            format!("{architecture}.embedding_length"),
            Value::U32(emb as u32),
        ),
        (format!("{architecture}.block_count"), Value::U32(1)),
        (
            format!("{architecture}.feed_forward_length"),
            Value::U32(ff as u32),
        ),
        (
            format!("{architecture}.attention.head_count"),
            Value::U32(heads as u32),
        ),
        (
            format!("{architecture}.attention.head_count_kv"),
            Value::U32(kv_heads as u32),
        ),
        (
            format!("{architecture}.rope.dimension_count"),
            Value::U32(head_dim as u32),
        ),
        (
            format!("{architecture}.attention.layer_norm_rms_epsilon"),
            Value::F32(1e-5),
        ),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("smollm".into())),
        ("tokenizer.ggml.tokens".into(), strings(&tokens)),
        (
            "tokenizer.ggml.token_type".into(),
            Value::Array(types.into_iter().map(Value::I32).collect()),
        ),
        ("tokenizer.ggml.merges".into(), strings(&merges)),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(false)),
    ];
    if let Some(template) = chat_template {
        metadata.push((
            "tokenizer.chat_template".into(),
            Value::String(template.into()),
        ));
    }

    let device = Device::Cpu;
    let random = |shape: &[usize]| {
        let t = Tensor::randn(0f32, 0.5, shape, &device).unwrap();
        QTensor::quantize(&t, GgmlDType::F32).unwrap()
    };
    let ones = |n: usize| {
        QTensor::quantize(
            &Tensor::ones(n, candle_core::DType::F32, &device).unwrap(),
            GgmlDType::F32,
        )
        .unwrap()
    };
    let tensors: Vec<(String, QTensor)> = vec![
        ("token_embd.weight".into(), random(&[vocab, emb])),
        ("output_norm.weight".into(), ones(emb)),
        ("blk.0.attn_norm.weight".into(), ones(emb)),
        ("blk.0.ffn_norm.weight".into(), ones(emb)),
        ("blk.0.attn_q.weight".into(), random(&[emb, emb])),
        (
            "blk.0.attn_k.weight".into(),
            random(&[kv_heads * head_dim, emb]),
        ),
        (
            "blk.0.attn_v.weight".into(),
            random(&[kv_heads * head_dim, emb]),
        ),
        ("blk.0.attn_output.weight".into(), random(&[emb, emb])),
        ("blk.0.ffn_gate.weight".into(), random(&[ff, emb])),
        ("blk.0.ffn_up.weight".into(), random(&[ff, emb])),
        ("blk.0.ffn_down.weight".into(), random(&[emb, ff])),
    ];

    let metadata_refs: Vec<(&str, &Value)> =
        metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &metadata_refs, &tensor_refs).unwrap();
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>()
        / (a.iter().map(|x| x * x).sum::<f32>().sqrt()
            * b.iter().map(|x| x * x).sum::<f32>().sqrt())
}
