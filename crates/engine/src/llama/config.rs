//! A Llama model's shape, read from GGUF metadata and checked before anything divides or indexes
//! with it: a bad file must fail here with a one-line error, not panic in the forward pass.

use std::path::Path;

use candle_core::quantized::gguf_file::Content;

use crate::error::{Error, Result};
use crate::gguf_metadata as md;

/// The widest attention head the attention kernel takes (Llama models use 64 or 128).
pub(crate) const MAX_HEAD_DIM: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LlamaConfig {
    pub layers: usize,
    pub dim: usize,
    pub ffn_dim: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Leading dimensions of each head that rotary embedding turns (the rest pass unchanged).
    pub rope_dims: usize,
    pub rope_base: f32,
    /// 1 / the linear rope scaling factor (`llama.rope.scaling.factor` with type linear).
    pub rope_freq_scale: f32,
    pub rms_eps: f32,
}

impl LlamaConfig {
    pub fn from_gguf(path: &Path, content: &Content) -> Result<LlamaConfig> {
        let corrupt = |detail: String| Error::Corrupt {
            path: path.to_path_buf(),
            detail,
        };
        let get = |key: &str| {
            md::integer(content, key)
                .map(|v| v as usize)
                .ok_or_else(|| corrupt(format!("{key} is missing")))
        };
        let heads = get("llama.attention.head_count")?;
        let kv_heads = get("llama.attention.head_count_kv").unwrap_or(heads);
        let dim = get("llama.embedding_length")?;
        let layers = get("llama.block_count")?;
        let ffn_dim = get("llama.feed_forward_length")?;
        if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 {
            return Err(corrupt(format!(
                "{heads} attention heads cannot share {kv_heads} key/value heads"
            )));
        }
        if dim == 0 || dim % heads != 0 || layers == 0 || ffn_dim == 0 {
            return Err(corrupt(format!(
                "embedding length {dim}, {heads} heads, {layers} blocks and feed-forward length {ffn_dim} do not fit together"
            )));
        }
        let head_dim = dim / heads;
        if head_dim > MAX_HEAD_DIM {
            return Err(Error::Unsupported(format!(
                "{}: attention heads of {head_dim} values (at most {MAX_HEAD_DIM})",
                path.display()
            )));
        }
        for key in ["llama.attention.key_length", "llama.attention.value_length"] {
            if let Some(length) = md::integer(content, key) {
                if length as usize != head_dim {
                    return Err(Error::Unsupported(format!(
                        "{}: {key} {length} differs from embedding length / heads ({head_dim})",
                        path.display()
                    )));
                }
            }
        }
        let rope_dims =
            md::integer(content, "llama.rope.dimension_count").map_or(head_dim, |v| v as usize);
        if rope_dims == 0 || rope_dims > head_dim || !rope_dims.is_multiple_of(2) {
            return Err(corrupt(format!(
                "rope dimension {rope_dims} does not fit a head of {head_dim}"
            )));
        }
        let float = |key: &str| content.metadata.get(key).and_then(md::value_as_f32);
        let rms_eps = float("llama.attention.layer_norm_rms_epsilon")
            .ok_or_else(|| corrupt("llama.attention.layer_norm_rms_epsilon is missing".into()))?;
        let rope_base = float("llama.rope.freq_base").unwrap_or(10_000.0);
        let in_range =
            rope_base.is_finite() && rope_base > 1.0 && rms_eps.is_finite() && rms_eps >= 0.0;
        if !in_range {
            return Err(corrupt(format!(
                "rope base {rope_base} or rms epsilon {rms_eps} is out of range"
            )));
        }
        let rope_freq_scale = rope_freq_scale(path, content)?;
        Ok(LlamaConfig {
            layers,
            dim,
            ffn_dim,
            heads,
            kv_heads,
            head_dim,
            rope_dims,
            rope_base,
            rope_freq_scale,
            rms_eps,
        })
    }

    pub fn kv_dim(&self) -> usize {
        self.kv_heads * self.head_dim
    }
}

/// Llama 3's own scaling arrives as the `rope_freqs` tensor (read with the weights); here only the
/// older linear scaling, and a clear refusal of the kinds this engine does not implement.
fn rope_freq_scale(path: &Path, content: &Content) -> Result<f32> {
    let kind = md::string(content, "llama.rope.scaling.type").unwrap_or("none");
    let factor = content
        .metadata
        .get("llama.rope.scaling.factor")
        .and_then(md::value_as_f32)
        .unwrap_or(1.0);
    match kind {
        "none" => Ok(1.0),
        "linear" if factor.is_finite() && factor >= 1.0 => Ok(1.0 / factor),
        "linear" => Err(Error::Corrupt {
            path: path.to_path_buf(),
            detail: format!("llama.rope.scaling.factor {factor} is out of range"),
        }),
        other => Err(Error::Unsupported(format!(
            "{}: rope scaling \"{other}\" is not supported (none, linear and Llama 3's rope_freqs are)",
            path.display()
        ))),
    }
}
