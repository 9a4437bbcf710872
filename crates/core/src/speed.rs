//! The speed a catalogue model can be expected to answer at on this machine, scaled from one short
//! measurement of the engine on the chat model at hand.
//!
//! The measurement: a fixed 128-token prompt is evaluated from an empty cache (prefill) and 16
//! tokens are decoded greedily, on the loaded model with the engine's threads. Prefill is bound
//! by arithmetic, which grows with the parameter count, so a model with k times the parameters
//! is estimated at 1/k the prefill rate; decoding one token reads every weight once, so it is
//! bound by memory bandwidth and scales with the weights' bytes (the GGUF file's size). Both are
//! rough (cache effects, quantisation kernels of different speeds, a longer context's attention
//! are not modelled) and are shown as estimates. The measurement is kept in `speed.json` in the
//! data directory, per model file (path and size), so it runs once.

use std::path::Path;
use std::time::Duration;

use almanac_engine::{CancelFlag, ChatModel, GenerationParams};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

const PROMPT_TOKENS: usize = 128;
const DECODE_TOKENS: usize = 16;

/// One measurement of the engine on one model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SpeedMeasurement {
    /// The model measured (its path) and what identifies it.
    pub model: String,
    pub model_bytes: u64,
    pub parameters: u64,
    pub threads: usize,
    pub prefill_tokens_per_second: f64,
    pub decode_tokens_per_second: f64,
}

/// What a model is expected to do, from a measurement.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SpeedEstimate {
    pub prefill_tokens_per_second: f64,
    pub decode_tokens_per_second: f64,
    /// The model the estimate is scaled from.
    pub measured_on: String,
}

impl SpeedMeasurement {
    /// Scaled to a model of `parameters` parameters whose weights take `bytes`.
    pub fn estimate(&self, parameters: u64, bytes: u64) -> SpeedEstimate {
        let by_params = self.parameters as f64 / parameters.max(1) as f64;
        let by_bytes = self.model_bytes as f64 / bytes.max(1) as f64;
        SpeedEstimate {
            prefill_tokens_per_second: self.prefill_tokens_per_second * by_params,
            decode_tokens_per_second: self.decode_tokens_per_second * by_bytes,
            measured_on: Path::new(&self.model)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }

    /// Whether this measurement is of `model` as it is now.
    pub fn is_for(&self, model: &Path) -> bool {
        self.model == model.to_string_lossy()
            && std::fs::metadata(model).map(|m| m.len()).ok() == Some(self.model_bytes)
    }
}

/// Measures `model` (its prompt cache is emptied before and after).
pub fn measure(model: &mut ChatModel) -> Result<SpeedMeasurement> {
    let path = model.path().to_path_buf();
    let model_bytes = std::fs::metadata(&path).map_err(Error::io(&path))?.len();
    let parameters = parameter_count(&path)?;
    let text = "The quick brown fox jumps over the lazy dog near the river bank. ".repeat(24);
    let mut ids = model.tokenizer().encode(&text, true)?;
    ids.truncate(PROMPT_TOKENS);
    let params = GenerationParams {
        max_tokens: DECODE_TOKENS,
        temperature: 0.0,
        repeat_penalty: 1.0,
        ..Default::default()
    };
    model.clear_prompt_cache();
    let generation = model.generate_from_tokens(&ids, &params, &CancelFlag::new(), &mut |_| {});
    model.clear_prompt_cache();
    let generation = generation?;
    let rate = |tokens: usize, time: Duration| tokens as f64 / time.as_secs_f64().max(1e-6);
    Ok(SpeedMeasurement {
        model: path.to_string_lossy().into_owned(),
        model_bytes,
        parameters,
        threads: model.threads(),
        prefill_tokens_per_second: rate(generation.prompt_tokens, generation.prefill),
        // The first token comes with the prefill; the rest are decode passes.
        decode_tokens_per_second: rate(
            generation.generated_tokens.saturating_sub(1).max(1),
            generation.decode,
        ),
    })
}

/// The parameter count of a GGUF: the elements of all its tensors.
fn parameter_count(path: &Path) -> Result<u64> {
    let content = almanac_engine::read_checked_header(path)
        .map_err(|e| Error::invalid("path", format!("not a readable GGUF file: {e}")))?;
    Ok(content
        .tensor_infos
        .values()
        .map(|t| t.shape.elem_count() as u64)
        .sum())
}

/// The stored measurement, if it is of `model` as it is now.
pub fn load(file: &Path, model: &Path) -> Option<SpeedMeasurement> {
    let bytes = std::fs::read(file).ok()?;
    let m: SpeedMeasurement = serde_json::from_slice(&bytes).ok()?;
    m.is_for(model).then_some(m)
}

pub fn save(file: &Path, measurement: &SpeedMeasurement) -> Result<()> {
    let json = serde_json::to_vec_pretty(measurement).expect("a measurement serialises");
    crate::paths::write_atomically(file, &json)
}

/// The measurement for the configured local chat model: the stored one, or a new one (loading the
/// model, measuring and storing). `None` when the model cannot be loaded.
pub fn measured(paths: &crate::Paths, settings: &crate::Settings) -> Option<SpeedMeasurement> {
    let model = paths.resolve_model(&settings.chat_model);
    let file = paths.data_dir.join("speed.json");
    if let Some(m) = load(&file, &model) {
        return Some(m);
    }
    let options = almanac_engine::LoadOptions {
        context_length: Some(settings.context_length.min(1024)),
        ..Default::default()
    };
    let mut chat = ChatModel::load(&model, &options).ok()?;
    let m = measure(&mut chat).ok()?;
    let _ = std::fs::create_dir_all(&paths.data_dir);
    let _ = save(&file, &m);
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_prefill_by_parameters_and_decode_by_bytes() {
        let m = SpeedMeasurement {
            model: "/m/small.gguf".into(),
            model_bytes: 100,
            parameters: 1000,
            threads: 2,
            prefill_tokens_per_second: 400.0,
            decode_tokens_per_second: 60.0,
        };
        let e = m.estimate(4000, 300);
        assert_eq!(e.prefill_tokens_per_second, 100.0);
        assert_eq!(e.decode_tokens_per_second, 20.0);
        assert_eq!(e.measured_on, "small.gguf");
    }
}
