//! The small vector operations of a Llama forward pass besides the matrix products: RMS norm,
//! SwiGLU, a residual add, softmax and the dot/axpy of attention. Each is written once as plain
//! Rust the compiler can vectorise, and compiled twice: for the baseline CPU and for AVX2+FMA,
//! picked at run time (a release binary is built for a baseline x86-64).

use crate::cpu::Isa;

/// Defines `pub(crate) fn $name(isa, args..)` that runs `$body` compiled for AVX2+FMA when the
/// CPU has it, else for the baseline.
macro_rules! multiversion {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        pub(crate) fn $name(isa: Isa, $($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn generic($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                generic($($arg),*)
            }
            match isa {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `Isa` above Scalar is only ever detected on CPUs with AVX2 and FMA.
                Isa::Avx2 | Isa::Avx512Vnni => unsafe { avx2($($arg),*) },
                _ => generic($($arg),*),
            }
        }
    };
}

/// e^x to about 2e-7 relative error, in a form the compiler vectorises (libm's `expf` is a call
/// per element): 2^n by building the float's exponent bits, e^f by a degree-6 polynomial.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding 1.5 * 2^23 rounds to an integer and leaves it in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let f = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + f * (1.0
            + f * (0.5
                + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0))))));
    let exponent = (shifted.to_bits() as i32 - ROUND.to_bits() as i32 + 127) << 23;
    p * f32::from_bits(exponent as u32)
}

#[inline(always)]
pub(crate) fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

multiversion! {
    /// `out[r] = x[r] / rms(x[r]) * weight` for each `weight.len()`-long row of `x`. The mean
    /// square is summed in f64, as ggml does.
    fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
        let dim = weight.len();
        for (row, out) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
            let sum: f64 = row.iter().map(|&v| (v as f64) * (v as f64)).sum();
            let scale = (1.0 / (sum / dim as f64 + eps as f64).sqrt()) as f32;
            for ((o, &v), &w) in out.iter_mut().zip(row).zip(weight) {
                *o = v * scale * w;
            }
        }
    }
}

multiversion! {
    /// SwiGLU: `gate = silu(gate) * up`.
    fn silu_mul(gate: &mut [f32], up: &[f32]) {
        for (g, &u) in gate.iter_mut().zip(up) {
            *g = *g / (1.0 + exp(-*g)) * u;
        }
    }
}

multiversion! {
    /// The residual connection: `x += delta`.
    fn add_assign(x: &mut [f32], delta: &[f32]) {
        for (a, &b) in x.iter_mut().zip(delta) {
            *a += b;
        }
    }
}

multiversion! {
    /// Causal attention of one query against `keys`/`values` (`n_keys` rows of `head_dim`):
    /// `out = softmax(q·K / sqrt(d)) · V`. `scores` holds at least `n_keys` values.
    fn attend(
        q: &[f32],
        keys: &[f32],
        values: &[f32],
        scale: f32,
        scores: &mut [f32],
        out: &mut [f32],
    ) {
        let head_dim = q.len();
        let n_keys = keys.len() / head_dim;
        let scores = &mut scores[..n_keys];
        let mut max = f32::NEG_INFINITY;
        for (s, k) in scores.iter_mut().zip(keys.chunks_exact(head_dim)) {
            *s = dot_lanes(q, k) * scale;
            max = max.max(*s);
        }
        let mut sum = 0.0;
        for s in scores.iter_mut() {
            *s = exp(*s - max);
            sum += *s;
        }
        out.fill(0.0);
        for (&s, v) in scores.iter().zip(values.chunks_exact(head_dim)) {
            for (o, &x) in out.iter_mut().zip(v) {
                *o += s * x;
            }
        }
        let inv = 1.0 / sum;
        for o in out.iter_mut() {
            *o *= inv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn isas() -> Vec<Isa> {
        let mut isas = vec![Isa::Scalar];
        if crate::cpu::isa() != Isa::Scalar {
            isas.push(crate::cpu::isa());
        }
        isas
    }

    #[test]
    fn fast_exp_is_close_to_libm_over_the_softmax_range() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let relative = ((exp(x) - x.exp()) / x.exp()).abs();
            worst = worst.max(relative);
            x += 0.013;
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) < 1e-37 && exp(-1000.0) >= 0.0);
    }

    #[test]
    fn attention_matches_a_plain_softmax_on_every_isa() {
        let head_dim = 12;
        let n_keys = 7;
        let q: Vec<f32> = (0..head_dim).map(|i| (i as f32 * 0.37).sin()).collect();
        let keys: Vec<f32> = (0..n_keys * head_dim)
            .map(|i| (i as f32 * 0.11).cos())
            .collect();
        let values: Vec<f32> = (0..n_keys * head_dim)
            .map(|i| (i as f32 * 0.05).sin() * 3.0)
            .collect();
        let scale = 1.0 / (head_dim as f32).sqrt();
        let raw: Vec<f64> = keys
            .chunks(head_dim)
            .map(|k| k.iter().zip(&q).map(|(a, b)| (a * b) as f64).sum::<f64>() * scale as f64)
            .collect();
        let max = raw.iter().cloned().fold(f64::MIN, f64::max);
        let weights: Vec<f64> = raw.iter().map(|s| (s - max).exp()).collect();
        let total: f64 = weights.iter().sum();
        let expected: Vec<f64> = (0..head_dim)
            .map(|d| {
                (0..n_keys)
                    .map(|r| weights[r] / total * values[r * head_dim + d] as f64)
                    .sum()
            })
            .collect();
        for isa in isas() {
            let mut scores = vec![0.0; n_keys];
            let mut out = vec![0.0; head_dim];
            attend(isa, &q, &keys, &values, scale, &mut scores, &mut out);
            for (o, e) in out.iter().zip(&expected) {
                assert!((*o as f64 - e).abs() < 1e-5, "{isa:?}: {o} vs {e}");
            }
        }
    }

    #[test]
    fn rms_norm_and_swiglu_on_every_isa() {
        let x = [3.0, 4.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        let w = [1.0, 2.0, 1.0, 1.0];
        for isa in isas() {
            let mut out = [0.0; 8];
            rms_norm(isa, &x, &w, 0.0, &mut out);
            // rms of the first row is 2.5.
            assert_eq!(&out[..4], &[1.2, 3.2, 0.0, 0.0]);
            assert_eq!(&out[4..], &[1.0, 2.0, 1.0, 1.0]);
            let mut gate = [0.0, 2.0, -3.0];
            silu_mul(isa, &mut gate, &[1.0, 1.0, 2.0]);
            let silu = |v: f32| v / (1.0 + (-v).exp());
            for (g, e) in gate.iter().zip([0.0, silu(2.0), 2.0 * silu(-3.0)]) {
                assert!((g - e).abs() < 1e-6);
            }
        }
    }
}
