//! Picks the next token from logits with candle's `LogitsProcessor`: greedy at temperature 0,
//! otherwise seeded sampling with optional top-k / top-p, after an optional repeat penalty.

use candle_core::Tensor;
use candle_transformers::generation::{LogitsProcessor, Sampling};

use crate::error::{Error, Result};
use crate::generation::GenerationParams;

/// Below this temperature sampling is greedy (candle uses the same threshold).
const GREEDY_BELOW: f64 = 1e-7;

pub(crate) struct TokenSampler {
    processor: LogitsProcessor,
    repeat_penalty: f32,
    repeat_last_n: usize,
}

impl TokenSampler {
    pub(crate) fn new(params: &GenerationParams) -> Result<Self> {
        validate(params)?;
        let temperature = params.temperature;
        let sampling = if temperature < GREEDY_BELOW {
            Sampling::ArgMax
        } else {
            match (params.top_k, params.top_p) {
                (None, None) => Sampling::All { temperature },
                (Some(k), None) => Sampling::TopK { k, temperature },
                (None, Some(p)) => Sampling::TopP { p, temperature },
                (Some(k), Some(p)) => Sampling::TopKThenTopP { k, p, temperature },
            }
        };
        Ok(TokenSampler {
            processor: LogitsProcessor::from_sampling(params.seed, sampling),
            repeat_penalty: params.repeat_penalty,
            repeat_last_n: params.repeat_last_n,
        })
    }

    /// `logits`: one row over the vocabulary. `history`: every token so far, prompt included.
    pub(crate) fn sample(&mut self, logits: &[f32], history: &[u32]) -> Result<u32> {
        let logits = Tensor::new(logits, &candle_core::Device::Cpu)?;
        let logits = if self.repeat_penalty != 1.0 && self.repeat_last_n > 0 {
            let start = history.len().saturating_sub(self.repeat_last_n);
            candle_transformers::utils::apply_repeat_penalty(
                &logits,
                self.repeat_penalty,
                &history[start..],
            )?
        } else {
            logits
        };
        Ok(self.processor.sample(&logits)?)
    }
}

fn validate(params: &GenerationParams) -> Result<()> {
    let bad = |what: String| Err(Error::InvalidParams(what));
    if !params.temperature.is_finite() || params.temperature < 0.0 {
        return bad(format!(
            "temperature must be 0 or more, got {}",
            params.temperature
        ));
    }
    if let Some(p) = params.top_p {
        if !(p > 0.0 && p <= 1.0) {
            return bad(format!("top_p must be in (0, 1], got {p}"));
        }
    }
    if params.top_k == Some(0) {
        return bad("top_k must be at least 1".into());
    }
    if !params.repeat_penalty.is_finite() || params.repeat_penalty <= 0.0 {
        return bad(format!(
            "repeat_penalty must be above 0, got {}",
            params.repeat_penalty
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits(values: &[f32]) -> Vec<f32> {
        values.to_vec()
    }

    #[test]
    fn temperature_zero_is_argmax() {
        let mut s = TokenSampler::new(&GenerationParams::default()).unwrap();
        assert_eq!(s.sample(&logits(&[0.1, 3.0, 2.9]), &[]).unwrap(), 1);
    }

    #[test]
    fn repeat_penalty_can_change_the_greedy_choice() {
        let params = GenerationParams {
            repeat_penalty: 2.0,
            repeat_last_n: 4,
            ..Default::default()
        };
        let mut s = TokenSampler::new(&params).unwrap();
        assert_eq!(s.sample(&logits(&[0.1, 3.0, 2.9]), &[1]).unwrap(), 2);
        // Token 1 is outside the last 4 tokens, so it is not penalised.
        assert_eq!(
            s.sample(&logits(&[0.1, 3.0, 2.9]), &[1, 0, 0, 0, 0])
                .unwrap(),
            1
        );
    }

    #[test]
    fn same_seed_same_samples() {
        let params = GenerationParams {
            temperature: 1.0,
            seed: 7,
            ..Default::default()
        };
        let draw = |params: &GenerationParams| {
            let mut s = TokenSampler::new(params).unwrap();
            (0..50)
                .map(|_| s.sample(&logits(&[1.0, 1.1, 0.9, 1.05]), &[]).unwrap())
                .collect::<Vec<_>>()
        };
        let a = draw(&params);
        assert_eq!(a, draw(&params));
        assert!(
            a.iter().any(|&t| t != a[0]),
            "sampling at temperature 1 should vary: {a:?}"
        );
        assert_ne!(
            a,
            draw(&GenerationParams {
                seed: 8,
                ..params.clone()
            })
        );
    }

    #[test]
    fn top_k_one_is_greedy_even_when_sampling() {
        let params = GenerationParams {
            temperature: 5.0,
            top_k: Some(1),
            ..Default::default()
        };
        let mut s = TokenSampler::new(&params).unwrap();
        for _ in 0..20 {
            assert_eq!(s.sample(&logits(&[1.0, 1.2, 0.9]), &[]).unwrap(), 1);
        }
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        let params = GenerationParams {
            temperature: 1.0,
            top_p: Some(0.5),
            ..Default::default()
        };
        let mut s = TokenSampler::new(&params).unwrap();
        for _ in 0..20 {
            assert_eq!(s.sample(&logits(&[5.0, 0.0, 0.0]), &[]).unwrap(), 0);
        }
    }

    #[test]
    fn bad_parameters_are_rejected() {
        for params in [
            GenerationParams {
                temperature: -1.0,
                ..Default::default()
            },
            GenerationParams {
                temperature: f64::NAN,
                ..Default::default()
            },
            GenerationParams {
                top_p: Some(0.0),
                ..Default::default()
            },
            GenerationParams {
                top_p: Some(1.5),
                ..Default::default()
            },
            GenerationParams {
                top_k: Some(0),
                ..Default::default()
            },
            GenerationParams {
                repeat_penalty: 0.0,
                ..Default::default()
            },
        ] {
            assert!(TokenSampler::new(&params).is_err(), "{params:?}");
        }
    }
}
