//! Rotary position embedding as llama.cpp applies it to Llama models ("normal" mode: adjacent pairs
//! (x[2i], x[2i+1]) turn together), with Llama 3's per-frequency factors (`rope_freqs`) and linear
//! scaling. Angles are computed the way ggml does (f32, the frequency advanced by repeated
//! multiplication), so positions far into the context match the reference closely.

pub(crate) struct Rope {
    /// cos and sin per position and pair: `table[(pos * pairs + i) * 2 + {0,1}]`.
    table: Vec<f32>,
    pairs: usize,
}

impl Rope {
    /// `freq_factors`: one divisor per pair (Llama 3's `rope_freqs`), or none.
    pub fn new(
        positions: usize,
        rope_dims: usize,
        base: f32,
        freq_scale: f32,
        freq_factors: Option<&[f32]>,
    ) -> Rope {
        let pairs = rope_dims / 2;
        let theta_scale = base.powf(-2.0 / rope_dims as f32);
        let mut table = Vec::with_capacity(positions * pairs * 2);
        for pos in 0..positions {
            let mut theta = pos as f32;
            for i in 0..pairs {
                let factor = freq_factors.map_or(1.0, |f| f[i]);
                let angle = freq_scale * theta / factor;
                table.push(angle.cos());
                table.push(angle.sin());
                theta *= theta_scale;
            }
        }
        Rope { table, pairs }
    }

    pub fn positions(&self) -> usize {
        self.table.len() / (2 * self.pairs)
    }

    /// Turns the first `2 * pairs` values of each `head_dim`-long head in `x` (one token's heads,
    /// side by side) for position `pos`.
    pub fn apply(&self, x: &mut [f32], head_dim: usize, pos: usize) {
        let angles = &self.table[pos * self.pairs * 2..(pos + 1) * self.pairs * 2];
        for head in x.chunks_exact_mut(head_dim) {
            for (pair, cs) in head.chunks_exact_mut(2).zip(angles.chunks_exact(2)) {
                let (x0, x1) = (pair[0], pair[1]);
                pair[0] = x0 * cs[0] - x1 * cs[1];
                pair[1] = x0 * cs[1] + x1 * cs[0];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_zero_changes_nothing_and_rotation_keeps_length() {
        let rope = Rope::new(16, 4, 10_000.0, 1.0, None);
        let original = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut x = original;
        rope.apply(&mut x, 6, 0);
        assert_eq!(x, original);
        rope.apply(&mut x, 6, 7);
        let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>();
        assert!((norm(&x[..4]) - norm(&original[..4])).abs() < 1e-4);
        assert_eq!(
            &x[4..],
            &original[4..],
            "dimensions past rope_dims pass unchanged"
        );
    }

    #[test]
    fn the_first_pair_turns_by_the_position_and_factors_slow_a_pair() {
        let plain = Rope::new(8, 4, 10_000.0, 1.0, None);
        let mut x = [1.0, 0.0, 1.0, 0.0];
        plain.apply(&mut x, 4, 3);
        assert!((x[0] - 3f32.cos()).abs() < 1e-6 && (x[1] - 3f32.sin()).abs() < 1e-6);
        // Factor 4 on the first pair: it turns a quarter as far; linear scale 0.5 halves it again.
        let slowed = Rope::new(8, 4, 10_000.0, 0.5, Some(&[4.0, 1.0]));
        let mut y = [1.0, 0.0, 1.0, 0.0];
        slowed.apply(&mut y, 4, 3);
        assert!((y[0] - 0.375f32.cos()).abs() < 1e-6);
        assert!((y[1] - 0.375f32.sin()).abs() < 1e-6);
    }
}
