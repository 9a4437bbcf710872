//! A BERT checkpoint (Hugging Face `config.json` + `model.safetensors`) read into the packed
//! layout of `cpu::f32_gemm`: the query, key and value matrices joined into one, the attention
//! scale folded into the query rows.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::cpu::f32_gemm::Panels;

/// The fields of `config.json` the forward pass needs.
#[derive(Clone, Debug, serde::Deserialize)]
pub(crate) struct BertConfig {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f32,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
}

fn default_eps() -> f32 {
    1e-12
}

fn default_act() -> String {
    "gelu".into()
}

impl BertConfig {
    pub(crate) fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Why this configuration cannot run here, if it cannot.
    pub(crate) fn unsupported(&self) -> Option<String> {
        if self.hidden_act != "gelu" {
            return Some(format!(
                "hidden_act {:?} is not supported (only \"gelu\")",
                self.hidden_act
            ));
        }
        if let Some(kind) = self
            .position_embedding_type
            .as_deref()
            .filter(|k| *k != "absolute")
        {
            return Some(format!(
                "position_embedding_type {kind:?} is not supported (only \"absolute\")"
            ));
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Some(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        None
    }
}

pub(crate) struct Layer {
    pub qkv: Panels,
    pub qkv_bias: Vec<f32>,
    pub attention_out: Panels,
    pub attention_out_bias: Vec<f32>,
    pub attention_norm: (Vec<f32>, Vec<f32>),
    pub intermediate: Panels,
    pub intermediate_bias: Vec<f32>,
    pub output: Panels,
    pub output_bias: Vec<f32>,
    pub output_norm: (Vec<f32>, Vec<f32>),
}

pub(crate) struct BertWeights {
    pub config: BertConfig,
    word_embeddings: Vec<f32>,
    vocab_size: usize,
    pub position_embeddings: Vec<f32>,
    /// Token type 0's embedding (sentence embedders feed one segment).
    pub token_type_row: Vec<f32>,
    pub embeddings_norm: (Vec<f32>, Vec<f32>),
    pub layers: Vec<Layer>,
}

impl BertWeights {
    /// Reads every tensor the forward pass needs from `path`, converting F16/BF16 to f32; the
    /// error is one line naming the tensor.
    pub(crate) fn load(path: &Path, config: BertConfig) -> Result<BertWeights, String> {
        let tensors =
            candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| e.to_string())?;
        let mut tensors = Tensors { map: tensors };
        let h = config.hidden_size;
        let word_embeddings = tensors.matrix("embeddings.word_embeddings.weight", None, h)?;
        let vocab_size = word_embeddings.len() / h;
        let positions = tensors.matrix("embeddings.position_embeddings.weight", None, h)?;
        if positions.len() / h < config.max_position_embeddings {
            return Err(format!(
                "embeddings.position_embeddings.weight has {} rows, config.json says max_position_embeddings {}",
                positions.len() / h,
                config.max_position_embeddings
            ));
        }
        let token_types = tensors.matrix("embeddings.token_type_embeddings.weight", None, h)?;
        let embeddings_norm = tensors.norm("embeddings.LayerNorm", h)?;
        let scale = 1.0 / (config.head_size() as f32).sqrt();
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}.");
                let mut qkv = Vec::with_capacity(3 * h * h);
                let mut qkv_bias = Vec::with_capacity(3 * h);
                for (name, factor) in [("query", scale), ("key", 1.0), ("value", 1.0)] {
                    let w =
                        tensors.matrix(&format!("{p}attention.self.{name}.weight"), Some(h), h)?;
                    let b = tensors.vector(&format!("{p}attention.self.{name}.bias"), h)?;
                    qkv.extend(w.iter().map(|v| v * factor));
                    qkv_bias.extend(b.iter().map(|v| v * factor));
                }
                let inter = config.intermediate_size;
                Ok(Layer {
                    qkv: Panels::from_rows(&qkv, 3 * h, h),
                    qkv_bias,
                    attention_out: tensors.panels(
                        &format!("{p}attention.output.dense.weight"),
                        h,
                        h,
                    )?,
                    attention_out_bias: tensors
                        .vector(&format!("{p}attention.output.dense.bias"), h)?,
                    attention_norm: tensors.norm(&format!("{p}attention.output.LayerNorm"), h)?,
                    intermediate: tensors.panels(
                        &format!("{p}intermediate.dense.weight"),
                        inter,
                        h,
                    )?,
                    intermediate_bias: tensors
                        .vector(&format!("{p}intermediate.dense.bias"), inter)?,
                    output: tensors.panels(&format!("{p}output.dense.weight"), h, inter)?,
                    output_bias: tensors.vector(&format!("{p}output.dense.bias"), h)?,
                    output_norm: tensors.norm(&format!("{p}output.LayerNorm"), h)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(BertWeights {
            config,
            word_embeddings,
            vocab_size,
            position_embeddings: positions,
            token_type_row: token_types[..h].to_vec(),
            embeddings_norm,
            layers,
        })
    }

    /// The embedding of token `id` (the unknown-token row 0 for ids past the vocabulary, which a
    /// tokenizer built for this model never produces).
    pub(crate) fn word_row(&self, id: u32) -> &[f32] {
        let h = self.config.hidden_size;
        let id = if (id as usize) < self.vocab_size {
            id as usize
        } else {
            0
        };
        &self.word_embeddings[id * h..][..h]
    }
}

struct Tensors {
    map: HashMap<String, Tensor>,
}

impl Tensors {
    /// The tensor `name`, also found under the "bert." prefix some exports use, as f32 values.
    fn values(&mut self, name: &str) -> Result<(Vec<usize>, Vec<f32>), String> {
        let tensor = self
            .map
            .remove(name)
            .or_else(|| self.map.remove(&format!("bert.{name}")))
            .ok_or_else(|| format!("tensor {name} is missing"))?;
        let shape = tensor.dims().to_vec();
        let values = tensor
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| format!("tensor {name}: {e}"))?;
        Ok((shape, values))
    }

    /// A 2-D tensor with `cols` columns (and `rows` rows when given), row-major.
    fn matrix(&mut self, name: &str, rows: Option<usize>, cols: usize) -> Result<Vec<f32>, String> {
        let (shape, values) = self.values(name)?;
        match shape[..] {
            [r, c] if c == cols && rows.is_none_or(|rows| rows == r) => Ok(values),
            _ => Err(format!(
                "tensor {name} has shape {shape:?}, expected [{}, {cols}]",
                rows.map_or("rows".into(), |r| r.to_string())
            )),
        }
    }

    fn panels(&mut self, name: &str, rows: usize, cols: usize) -> Result<Panels, String> {
        Ok(Panels::from_rows(
            &self.matrix(name, Some(rows), cols)?,
            rows,
            cols,
        ))
    }

    fn vector(&mut self, name: &str, len: usize) -> Result<Vec<f32>, String> {
        let (shape, values) = self.values(name)?;
        if shape != [len] {
            return Err(format!(
                "tensor {name} has shape {shape:?}, expected [{len}]"
            ));
        }
        Ok(values)
    }

    /// LayerNorm's weight and bias (also under the old names gamma and beta).
    fn norm(&mut self, prefix: &str, len: usize) -> Result<(Vec<f32>, Vec<f32>), String> {
        let weight = self
            .vector(&format!("{prefix}.weight"), len)
            .or_else(|_| self.vector(&format!("{prefix}.gamma"), len))?;
        let bias = self
            .vector(&format!("{prefix}.bias"), len)
            .or_else(|_| self.vector(&format!("{prefix}.beta"), len))?;
        Ok((weight, bias))
    }
}
