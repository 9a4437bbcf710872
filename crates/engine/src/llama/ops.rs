//! The small vector operations of a Llama forward pass besides the matrix products: RMS norm,
//! SwiGLU, a residual add, softmax and the dot/axpy of attention. Each is written once as plain
//! Rust the compiler can vectorise, and compiled twice: for the baseline CPU and for AVX2+FMA,
//! picked at run time (a release binary is built for a baseline x86-64).

use crate::cpu::Isa;

/// Defines `pub(crate) fn $name(isa, args..)` that runs `$body` compiled for AVX2+FMA when the
/// CPU has it, else for the baseline.
macro_rules! multiversion {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        // Kernels take their buffers and shapes as plain arguments, however many: no struct on the
        // hot path.
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        pub(crate) fn $name(isa: Isa, $($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn generic($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
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

/// `value` rounded to the nearest f16 (ties to even), kept as f32: llama.cpp's f16 key/value
/// cache and attention inputs, in a form the compiler vectorises. Exact for f16's normal range;
/// smaller magnitudes keep a little more precision than a real f16 would.
#[inline(always)]
pub(crate) fn round_f16(value: f32) -> f32 {
    let bits = value.to_bits();
    let rounded = bits.wrapping_add(0xfff + ((bits >> 13) & 1)) & !0x1fff;
    f32::from_bits(rounded)
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

/// Queries scored together: they share every load of a key.
pub(crate) const QUERY_BLOCK: usize = 4;

/// Scores of `M` queries (rows of `head_dim` in `q`) against `padded` positions of transposed
/// keys, eight positions at a time, into `M` rows of `padded` in `scores`.
#[inline(always)]
fn score_block<const M: usize>(
    q: &[f32],
    head_dim: usize,
    keys_t: &[f32],
    stride: usize,
    padded: usize,
    scale: f32,
    scores: &mut [f32],
) {
    for j0 in (0..padded).step_by(8) {
        let mut acc = [[0f32; 8]; M];
        for d in 0..head_dim {
            let k: &[f32; 8] = keys_t[d * stride + j0..][..8].try_into().unwrap();
            for (i, acc) in acc.iter_mut().enumerate() {
                let qd = q[i * head_dim + d];
                for jj in 0..8 {
                    acc[jj] += qd * k[jj];
                }
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            for jj in 0..8 {
                scores[i * padded + j0 + jj] = acc[jj] * scale;
            }
        }
    }
}

/// `out[i] += Σ_j p[i][j] · V[j]` for `M` rows of probabilities over `n` positions.
#[inline(always)]
fn weigh_values<const M: usize>(
    probs: &[f32],
    padded: usize,
    values: &[f32],
    head_dim: usize,
    n: usize,
    out: &mut [f32],
) {
    for (j, v) in values.chunks_exact(head_dim).take(n).enumerate() {
        for i in 0..M {
            let p = probs[i * padded + j];
            for (o, &x) in out[i * head_dim..(i + 1) * head_dim].iter_mut().zip(v) {
                *o += p * x;
            }
        }
    }
}

multiversion! {
    /// Causal attention of up to `QUERY_BLOCK` queries (rows of `head_dim` in `q`) that share one
    /// key/value head: query i sees the first `lens[i]` positions. `keys_t` holds the keys
    /// transposed (`head_dim` rows, `stride` apart), `values` one row per position. Writes
    /// `softmax(q·K / sqrt(d)) · V` into `out` (shaped like `q`); `scores` holds at least
    /// `QUERY_BLOCK * stride` values.
    fn attend_block(
        q: &[f32],
        lens: &[usize],
        keys_t: &[f32],
        stride: usize,
        values: &[f32],
        scale: f32,
        scores: &mut [f32],
        out: &mut [f32],
    ) {
        let m = lens.len();
        let head_dim = q.len() / m;
        let max_len = lens.iter().copied().max().unwrap_or(0);
        let padded = max_len.next_multiple_of(8);
        match m {
            1 => score_block::<1>(q, head_dim, keys_t, stride, padded, scale, scores),
            2 => score_block::<2>(q, head_dim, keys_t, stride, padded, scale, scores),
            3 => score_block::<3>(q, head_dim, keys_t, stride, padded, scale, scores),
            _ => score_block::<4>(q, head_dim, keys_t, stride, padded, scale, scores),
        }
        for (i, &len) in lens.iter().enumerate() {
            let row = &mut scores[i * padded..(i + 1) * padded];
            let (seen, unseen) = row.split_at_mut(len);
            let max = seen.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            for s in seen.iter_mut() {
                *s = exp(*s - max);
            }
            let mut lanes = [0f32; 8];
            let chunks = seen.chunks_exact(8);
            let tail: f32 = chunks.remainder().iter().sum();
            for c in chunks {
                for k in 0..8 {
                    lanes[k] += c[k];
                }
            }
            let inverse = 1.0 / (lanes.iter().sum::<f32>() + tail);
            for s in seen.iter_mut() {
                *s *= inverse;
            }
            unseen.fill(0.0);
        }
        out.fill(0.0);
        match m {
            1 => weigh_values::<1>(scores, padded, values, head_dim, max_len, out),
            2 => weigh_values::<2>(scores, padded, values, head_dim, max_len, out),
            3 => weigh_values::<3>(scores, padded, values, head_dim, max_len, out),
            _ => weigh_values::<4>(scores, padded, values, head_dim, max_len, out),
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
    fn f16_rounding_matches_the_half_crate_in_the_normal_range() {
        let mut x = 6.2e-5f32;
        while x < 60_000.0 {
            for v in [x, -x, x * 1.000_37] {
                assert_eq!(round_f16(v), half::f16::from_f32(v).to_f32(), "{v}");
            }
            x *= 1.013;
        }
        assert_eq!(round_f16(0.0), 0.0);
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

    /// softmax(q·K/sqrt(d))·V in f64, the plain way.
    fn reference(q: &[f32], keys: &[f32], values: &[f32], len: usize, head_dim: usize) -> Vec<f64> {
        let scale = 1.0 / (head_dim as f64).sqrt();
        let raw: Vec<f64> = keys
            .chunks(head_dim)
            .take(len)
            .map(|k| k.iter().zip(q).map(|(a, b)| (a * b) as f64).sum::<f64>() * scale)
            .collect();
        let max = raw.iter().cloned().fold(f64::MIN, f64::max);
        let weights: Vec<f64> = raw.iter().map(|s| (s - max).exp()).collect();
        let total: f64 = weights.iter().sum();
        (0..head_dim)
            .map(|d| {
                (0..len)
                    .map(|r| weights[r] / total * values[r * head_dim + d] as f64)
                    .sum()
            })
            .collect()
    }

    #[test]
    fn blocked_attention_matches_a_plain_softmax_on_every_isa() {
        let head_dim = 12;
        let stride = 24;
        let positions = 19;
        let keys: Vec<f32> = (0..positions * head_dim)
            .map(|i| (i as f32 * 0.11).cos())
            .collect();
        let values: Vec<f32> = (0..positions * head_dim)
            .map(|i| (i as f32 * 0.05).sin() * 3.0)
            .collect();
        // Transposed, with stale garbage past the positions a query may see.
        let mut keys_t = vec![1e4f32; head_dim * stride];
        for p in 0..positions {
            for d in 0..head_dim {
                keys_t[d * stride + p] = keys[p * head_dim + d];
            }
        }
        let queries: Vec<f32> = (0..4 * head_dim).map(|i| (i as f32 * 0.37).sin()).collect();
        let scale = 1.0 / (head_dim as f32).sqrt();
        for isa in isas() {
            for lens in [vec![1], vec![7, 8], vec![16, 17, 3], vec![19, 18, 17, 9]] {
                let m = lens.len();
                let q = &queries[..m * head_dim];
                let mut scores = vec![f32::NAN; QUERY_BLOCK * stride];
                let mut out = vec![f32::NAN; m * head_dim];
                let seen = *lens.iter().max().unwrap();
                attend_block(
                    isa,
                    q,
                    &lens,
                    &keys_t,
                    stride,
                    &values[..seen * head_dim],
                    scale,
                    &mut scores,
                    &mut out,
                );
                for (i, &len) in lens.iter().enumerate() {
                    let expected = reference(
                        &q[i * head_dim..(i + 1) * head_dim],
                        &keys,
                        &values,
                        len,
                        head_dim,
                    );
                    for (o, e) in out[i * head_dim..(i + 1) * head_dim].iter().zip(&expected) {
                        assert!(
                            (*o as f64 - e).abs() < 1e-5,
                            "{isa:?} {lens:?} query {i}: {o} vs {e}"
                        );
                    }
                }
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
