//! all-MiniLM-L6-v2 through `Embedder`: shape, normalisation, similarity, batching, limits and
//! broken model folders.

mod common;

use std::sync::OnceLock;

use almanac_engine::{Embedder, Error};
use common::cosine;

fn embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| Embedder::load(&common::embedder_dir()).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn vectors_have_the_model_dimension_and_unit_length() {
    let e = embedder();
    assert_eq!(e.dim(), 384);
    let vectors = e
        .embed(&["A man is eating food.", "", "Zebras graze."])
        .unwrap();
    assert_eq!(vectors.len(), 3);
    for v in &vectors {
        assert_eq!(v.len(), 384);
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    assert!(e.embed(&[]).unwrap().is_empty());
}

#[test]
fn similar_sentences_are_close_and_unrelated_ones_are_not() {
    let v = embedder()
        .embed(&[
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "The stock market fell.",
        ])
        .unwrap();
    let related = cosine(&v[0], &v[1]);
    let unrelated = cosine(&v[0], &v[2]);
    assert!(related > 0.6, "related {related}");
    assert!(unrelated < 0.2, "unrelated {unrelated}");
}

#[test]
fn padding_and_batching_do_not_change_vectors() {
    let e = embedder();
    let short = "Paris is the capital of France.";
    let long = "The quick brown fox jumps over the lazy dog while the cat watches from the warm windowsill, unimpressed.";
    let alone = e.embed(&[short]).unwrap();
    let batched = e.embed(&[long, short, long]).unwrap();
    assert!(cosine(&alone[0], &batched[1]) > 0.9999);
    assert_eq!(batched[0], batched[2]);
    // A batch size smaller than the input still keeps the order.
    let small_batches = Embedder::load(&common::embedder_dir())
        .unwrap()
        .with_batch_size(1);
    let again = small_batches.embed(&[long, short]).unwrap();
    assert!(cosine(&again[1], &alone[0]) > 0.9999);
    assert!(cosine(&again[0], &batched[0]) > 0.9999);
}

#[test]
fn token_counts_and_truncation() {
    let e = embedder();
    assert_eq!(e.max_tokens(), 256);
    assert_eq!(e.max_text_tokens(), 254);
    assert_eq!(e.count_tokens("hello world"), 2);
    let long = "retrieval ".repeat(400);
    assert!(e.count_tokens(&long) >= 400);
    // Only the first 254 tokens count: extra text beyond that changes nothing.
    let longer = format!("{long} and something entirely different about volcanoes");
    let v = e.embed(&[&long, &longer]).unwrap();
    assert!(cosine(&v[0], &v[1]) > 0.9999);
}

/// The embedder as it was before our own forward pass: candle's BERT over a padded batch, then
/// mean pooling under the attention mask and L2 normalisation.
fn candle_vectors(texts: &[&str]) -> Vec<Vec<f32>> {
    use candle_core::{DType, Device, Tensor};
    use candle_transformers::models::bert::{BertModel, Config};
    let dir = common::embedder_dir();
    let config: Config =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let weights = dir.join("model.safetensors");
    // SAFETY: the model file is not modified while the test runs.
    let vb = unsafe {
        candle_nn::VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &Device::Cpu)
    }
    .unwrap();
    let model = BertModel::load(vb, &config).unwrap();
    let mut tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    tokenizer.with_padding(Some(tokenizers::PaddingParams::default()));
    tokenizer
        .with_truncation(Some(tokenizers::TruncationParams {
            max_length: 256,
            ..Default::default()
        }))
        .unwrap();
    let encodings = tokenizer.encode_batch(texts.to_vec(), true).unwrap();
    let (rows, width) = (encodings.len(), encodings[0].get_ids().len());
    let flat = |f: fn(&tokenizers::Encoding) -> &[u32]| -> Vec<u32> {
        encodings
            .iter()
            .flat_map(|e| f(e).iter().copied())
            .collect()
    };
    let ids = Tensor::from_vec(flat(|e| e.get_ids()), (rows, width), &Device::Cpu).unwrap();
    let mask = Tensor::from_vec(
        flat(|e| e.get_attention_mask()),
        (rows, width),
        &Device::Cpu,
    )
    .unwrap();
    let hidden = model
        .forward(&ids, &ids.zeros_like().unwrap(), Some(&mask))
        .unwrap();
    let mask = mask.to_dtype(DType::F32).unwrap().unsqueeze(2).unwrap();
    let mean = hidden
        .broadcast_mul(&mask)
        .unwrap()
        .sum(1)
        .unwrap()
        .broadcast_div(&mask.sum(1).unwrap())
        .unwrap();
    let vectors = mean.to_vec2::<f32>().unwrap();
    vectors
        .into_iter()
        .map(|v| {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / norm).collect()
        })
        .collect()
}

#[test]
fn vectors_match_candles_bert_on_short_long_and_truncated_texts() {
    let mut rng = fastrand::Rng::with_seed(11);
    let words = [
        "retrieval",
        "Zorvath",
        "bridge",
        "diffusion",
        "tensor",
        "cerebral",
        "white",
        "matter",
        "the",
        "of",
        "in",
        "résumé",
        "naïve",
        "42",
        "3.5%",
        "(MRI)",
        "co-operation",
        "über",
        "東京",
        "и",
    ];
    let mut paragraph = |n: usize| -> String {
        (0..n)
            .map(|_| words[rng.usize(..words.len())])
            .collect::<Vec<_>>()
            .join(" ")
    };
    let texts: Vec<String> = vec![
        String::new(),
        "a".into(),
        "Who designed the Zorvath Bridge?".into(),
        paragraph(12),
        paragraph(60),
        paragraph(180),
        paragraph(400),
    ];
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let expected = candle_vectors(&refs);
    let batch = embedder().embed(&refs).unwrap();
    for (i, (ours, theirs)) in batch.iter().zip(&expected).enumerate() {
        let similarity = cosine(ours, theirs);
        assert!(
            similarity >= 0.9999,
            "text {i}: cosine {similarity} to candle's vector"
        );
        let alone = &embedder().embed(&[refs[i]]).unwrap()[0];
        assert!(cosine(alone, theirs) >= 0.9999, "text {i} alone");
    }
    // One thread gives the same vectors as several.
    let one_thread = Embedder::load(&common::embedder_dir())
        .unwrap()
        .with_threads(1);
    let again = one_thread.embed(&refs).unwrap();
    for (a, b) in again.iter().zip(&batch) {
        assert!(cosine(a, b) > 0.99999);
    }
}

fn copy_model_dir(to: &std::path::Path) {
    for name in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(common::embedder_dir().join(name), to.join(name)).unwrap();
    }
}

#[test]
fn truncated_safetensors_is_named() {
    let dir = tempfile::tempdir().unwrap();
    copy_model_dir(dir.path());
    let weights = dir.path().join("model.safetensors");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&weights)
        .unwrap();
    file.set_len(50_000_000).unwrap();
    let err = Embedder::load(dir.path()).unwrap_err();
    assert!(matches!(err, Error::EmbeddingModel { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&weights.display().to_string()),
        "{message}"
    );
    assert!(message.contains("truncated"), "{message}");
    assert!(!message.contains('\n'));

    std::fs::write(&weights, b"garbage").unwrap();
    let message = Embedder::load(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains("model.safetensors") && message.contains("truncated"),
        "{message}"
    );
}

#[test]
fn missing_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    copy_model_dir(dir.path());
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let message = Embedder::load(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains("tokenizer.json") && message.contains("missing"),
        "{message}"
    );

    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    let message = Embedder::load(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains("config.json") && message.contains("missing"),
        "{message}"
    );

    let message = Embedder::load(&dir.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(message.contains("does not exist"), "{message}");
}

/// multilingual-e5-small as scripts/install-multilingual-model.sh converts it: Almanac's forward
/// pass and tokenizer.json against the float64 NumPy forward pass of the converted weights that
/// scripts/reference/multilingual_e5.py wrote (prompted texts in Korean, Japanese, Chinese and
/// English, NFKC-normalised input, a text truncated at 512 tokens), and the prompts applied.
#[test]
fn multilingual_e5_matches_its_numpy_reference_and_applies_its_prompts() {
    #[derive(serde::Deserialize)]
    struct Reference {
        texts: Vec<ReferenceText>,
    }
    #[derive(serde::Deserialize)]
    struct ReferenceText {
        text: String,
        tokens: usize,
        vector: Vec<f32>,
    }
    let dir = common::require(common::models_dir().join("multilingual-e5-small"));
    let e5 = Embedder::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (e5.name(), e5.dim(), e5.max_tokens()),
        ("multilingual-e5-small", 384, 512)
    );
    assert_eq!(e5.prompts(), ("query: ", "passage: "));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/multilingual-e5/reference.json");
    let reference: Reference =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // The stored texts carry their prompt; embedded here through the matching call.
    let (queries, passages): (Vec<&ReferenceText>, Vec<&ReferenceText>) = reference
        .texts
        .iter()
        .partition(|t| t.text.starts_with("query: "));
    let strip = |t: &&ReferenceText, prompt: &str| t.text.strip_prefix(prompt).unwrap().to_owned();
    let query_texts: Vec<String> = queries.iter().map(|t| strip(t, "query: ")).collect();
    let passage_texts: Vec<String> = passages.iter().map(|t| strip(t, "passage: ")).collect();
    let query_vectors = e5
        .embed_queries(&query_texts.iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap();
    let passage_vectors = e5
        .embed(&passage_texts.iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap();
    for (expected, got) in queries
        .iter()
        .chain(&passages)
        .zip(query_vectors.iter().chain(&passage_vectors))
    {
        let similarity = cosine(&expected.vector, got);
        assert!(
            similarity >= 0.9999,
            "{:?} ({} tokens): cosine {similarity}",
            expected.text,
            expected.tokens
        );
    }
    // One question alone (the caller's thread) gives the batch's vector.
    let alone = e5.embed_query(&query_texts[0]).unwrap();
    assert!(cosine(&alone, &query_vectors[0]) >= 0.9999);
    // The same text as a question is another input: the prompts are really applied.
    assert!(
        cosine(
            &e5.embed_query(&passage_texts[1]).unwrap(),
            &passage_vectors[1]
        ) < 0.999
    );
}
