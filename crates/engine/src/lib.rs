//! Almanac's inference engine: Llama-architecture GGUF chat models on candle (tokenizer and chat
//! template rebuilt from the file's metadata, sampling, streaming) and BERT-family sentence
//! embeddings.
//!
//! ```no_run
//! use almanac_engine::{CancelFlag, ChatMessage, ChatModel, Embedder, GenerationParams, LoadOptions};
//! # fn main() -> almanac_engine::Result<()> {
//! let mut model = ChatModel::load("SmolLM2-135M-Instruct.Q4_1.gguf".as_ref(), &LoadOptions::default())?;
//! let prompt = model.render_chat(&[ChatMessage::user("What is the capital of France?")], true)?;
//! let params = GenerationParams { max_tokens: 64, stop: vec!["\n\n".into()], ..Default::default() };
//! let reply = model.generate(&prompt, &params, &CancelFlag::default(), &mut |delta| print!("{delta}"))?;
//! println!("\n{:?} after {} tokens", reply.stop_reason, reply.generated_tokens);
//!
//! let embedder = Embedder::load("all-MiniLM-L6-v2".as_ref())?;
//! let vectors = embedder.embed(&["first passage", "second passage"])?;
//! assert_eq!(vectors[0].len(), embedder.dim());
//! # Ok(())
//! # }
//! ```

mod bert;
mod chat_model;
mod chat_template;
mod cpu;
mod embedder;
mod error;
mod generation;
mod gguf_header;
mod gguf_metadata;
mod llama;
mod model_file;
mod remote;
mod repetition;
mod sampling;
mod stop_strings;
mod text_stream;
mod tokenizer;

pub use candle_core::quantized::gguf_file;
pub use chat_model::{ChatModel, LoadOptions};
pub use chat_template::{ChatMessage, ChatTemplate};
#[doc(hidden)]
pub use cpu::bench::run_matmul_bench;
pub use embedder::Embedder;
pub use error::{Error, Result};
pub use generation::{CancelFlag, Generation, GenerationParams, StopReason};
pub use model_file::read_checked_header;
pub use remote::OpenAiEndpoint;
pub use tokenizer::{GgufTokenizer, TokenType};

/// The longest context a chat model is given, whatever its file allows: the key/value cache is
/// sized for it (reserved up front and backed by memory only as it fills).
pub const MAX_CONTEXT_LENGTH: usize = 4096;

/// The instruction set the inference kernels use on this CPU: "avx512", "avx2" or "scalar"
/// (`ALMANAC_CPU_ISA` may force a lower one).
pub fn kernel_isa() -> &'static str {
    cpu::isa().name()
}

/// For examples/kquant_bench.rs only; not part of the API.
#[doc(hidden)]
pub use cpu::quant::kquant_bench::gemm_gflops as __kquant_gemm_gflops;

/// The loaded models are meant to be shared across threads (behind a mutex for `ChatModel`,
/// whose generation needs `&mut`).
#[allow(dead_code)]
fn assert_thread_safe() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ChatModel>();
    send_sync::<Embedder>();
    send_sync::<GgufTokenizer>();
    send_sync::<CancelFlag>();
    send_sync::<Generation>();
}

#[cfg(test)]
pub(crate) mod test_support {
    //! The real chat model's tokenizer, for unit tests that need a full vocabulary.
    use std::path::PathBuf;

    pub(crate) fn chat_model_path() -> PathBuf {
        let dir = match std::env::var_os("ALMANAC_MODELS_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".local/share/almanac/models"),
        };
        let path = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
        assert!(
            path.exists(),
            "{} is missing: run scripts/install-models.sh",
            path.display()
        );
        path
    }

    pub(crate) fn smollm_tokenizer() -> crate::GgufTokenizer {
        let checked = crate::model_file::open(&chat_model_path()).unwrap();
        crate::GgufTokenizer::from_gguf(&checked.content).unwrap()
    }
}
