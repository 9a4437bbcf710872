//! Almanac's inference engine: Llama-architecture GGUF chat models on candle (tokenizer and chat
//! template rebuilt from the file's metadata, sampling, streaming) and BERT-family sentence
//! embeddings.

mod chat_model;
mod chat_template;
mod embedder;
mod error;
mod generation;
mod gguf_metadata;
mod model_file;
mod sampling;
mod stop_strings;
mod text_stream;
mod tokenizer;

pub use candle_core::quantized::gguf_file;
pub use chat_model::{ChatModel, LoadOptions};
pub use chat_template::{ChatMessage, ChatTemplate};
pub use embedder::Embedder;
pub use error::{Error, Result};
pub use generation::{CancelFlag, Generation, GenerationParams, StopReason};
pub use tokenizer::{GgufTokenizer, TokenType};

/// The longest context candle's quantized Llama supports.
pub const MAX_CONTEXT_LENGTH: usize = candle_transformers::models::quantized_llama::MAX_SEQ_LEN;
