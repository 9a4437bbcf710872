//! The element-wise steps of the BERT forward pass: LayerNorm, GELU (with erf), softmax, mean
//! pooling. Written as plain loops without branches in the body, so the compiler vectorises them;
//! each is compiled a second time with AVX-512 or AVX2 enabled and chosen by `Isa` at run time.

use crate::cpu::Isa;

/// Instantiates `$body` (a function of the given arguments) once per instruction set, with
/// `#[target_feature]`, and a dispatcher named `$name`.
macro_rules! per_isa {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$doc])*
        pub(crate) fn $name(isa: Isa, $($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) { body($($arg),*) }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) { body($($arg),*) }
            match isa {
                // SAFETY: the `Isa` values imply these CPU features (cpu::detect).
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512Vnni => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => unsafe { avx2($($arg),*) },
                _ => body($($arg),*),
            }
        }
    };
}

/// e^x to about 2e-7 relative: x = n ln 2 + r with |r| <= ln 2 / 2, e^r by its Taylor
/// polynomial to degree 6, 2^n through the exponent bits.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(((n as i32 + 127) << 23) as u32)
}

/// erf(x) to 1.5e-7 absolute (Abramowitz and Stegun 7.1.26).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152 + t * 1.061_405_4))));
    (1.0 - poly * exp(-a * a)).copysign(x)
}

per_isa! {
    /// GELU as BERT defines it: x/2 (1 + erf(x / sqrt 2)).
    fn gelu(values: &mut [f32]) {
        for v in values.iter_mut() {
            *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

per_isa! {
    /// Each row of `width` values normalised to mean 0 and variance 1, then scaled and shifted.
    fn layer_norm(rows: &mut [f32], width: usize, weight: &[f32], bias: &[f32], eps: f32) {
        for row in rows.chunks_exact_mut(width) {
            let mean = row.iter().sum::<f32>() / width as f32;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / width as f32;
            let inv = 1.0 / (var + eps).sqrt();
            for ((v, w), b) in row.iter_mut().zip(weight).zip(bias) {
                *v = (*v - mean) * inv * w + b;
            }
        }
    }
}

per_isa! {
    /// Each row of `width` scores (of which the first `len` are used) into probabilities.
    fn softmax_rows(rows: &mut [f32], width: usize, len: usize) {
        for row in rows.chunks_exact_mut(width) {
            let row = &mut row[..len];
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let mut sum = 0.0;
            for v in row.iter_mut() {
                *v = exp(*v - max);
                sum += *v;
            }
            let inv = 1.0 / sum;
            row.iter_mut().for_each(|v| *v *= inv);
        }
    }
}

/// The mean of `rows` (each `width` values), L2-normalised: sentence-transformers' mean pooling
/// over a sequence without padding.
pub(crate) fn mean_pool_normalised(rows: &[f32], width: usize) -> Vec<f32> {
    let mut mean = vec![0f64; width];
    let count = (rows.len() / width).max(1);
    for row in rows.chunks_exact(width) {
        mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64);
    }
    let norm = mean.iter().map(|m| m * m).sum::<f64>().sqrt() / count as f64;
    let scale = 1.0 / (count as f64 * norm.max(1e-12));
    mean.iter().map(|m| (m * scale) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_erf_are_accurate_over_their_range() {
        for i in -8000..8000 {
            let x = i as f32 / 100.0;
            let want = (x as f64).exp();
            assert!(((exp(x) as f64 - want) / want).abs() < 5e-7, "exp({x})");
        }
        // erf from its series for small x and a known value.
        assert!((erf(0.5) - 0.520_499_9).abs() < 3e-7);
        assert!((erf(-1.0) + 0.842_700_8).abs() < 3e-7);
        assert!((erf(3.0) - 0.999_977_9).abs() < 3e-7);
        assert!(erf(0.0).abs() < 3e-7);
    }

    #[test]
    fn every_isa_computes_the_same_steps() {
        let mut rng = fastrand::Rng::with_seed(3);
        let values: Vec<f32> = (0..3 * 40).map(|_| rng.f32() * 8.0 - 4.0).collect();
        let weight: Vec<f32> = (0..40).map(|_| rng.f32()).collect();
        let bias: Vec<f32> = (0..40).map(|_| rng.f32()).collect();
        let run = |isa| {
            let (mut g, mut n, mut s) = (values.clone(), values.clone(), values.clone());
            gelu(isa, &mut g);
            layer_norm(isa, &mut n, 40, &weight, &bias, 1e-12);
            softmax_rows(isa, &mut s, 40, 33);
            (g, n, s)
        };
        let (g, n, s) = run(Isa::Scalar);
        for (v, x) in g.iter().zip(&values) {
            let x = *x as f64;
            let want = 0.5 * x * (1.0 + libm_erf(x / 2f64.sqrt()));
            assert!((*v as f64 - want).abs() < 1e-6, "gelu({x})");
        }
        let row = &n[..40];
        let mean: f32 = row
            .iter()
            .zip(&weight)
            .zip(&bias)
            .map(|((v, w), b)| (v - b) / w)
            .sum::<f32>()
            / 40.0;
        assert!(mean.abs() < 1e-4);
        assert!((s[..33].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(s[33..40], values[33..40], "scores past len are left alone");
        for isa in Isa::all_supported() {
            let (g2, n2, s2) = run(isa);
            for (a, b) in g
                .iter()
                .chain(&n)
                .chain(&s)
                .zip(g2.iter().chain(&n2).chain(&s2))
            {
                assert!((a - b).abs() < 1e-5, "{isa:?}");
            }
        }
    }

    /// erf by its Taylor series, for the test (|x| < 3).
    fn libm_erf(x: f64) -> f64 {
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn pooling_averages_then_normalises() {
        // Rows (1, 0) and (3, 8): mean (2, 4), normalised (1, 2) / sqrt 5.
        let v = mean_pool_normalised(&[1.0, 0.0, 3.0, 8.0], 2);
        assert!((v[0] - 0.447_213_6).abs() < 1e-6 && (v[1] - 0.894_427_2).abs() < 1e-6);
    }
}
