//! Quantizing activations to 8 bits, 32 values per block with one scale `d = max|x| / 127`,
//! rounding half to even (as GGML's AVX code does). The AVX2 and NEON versions give the same
//! bytes as the scalar one: the same multiply, rounding and clamp per value.

use crate::cpu::Isa;

/// Quantizes 32 values into `qs`; returns the scale and the sum of the quants.
pub(crate) fn quantize_block(isa: Isa, x: &[f32], qs: &mut [i8; 32]) -> (f32, i32) {
    let x: &[f32; 32] = x.try_into().expect("a block is 32 values");
    match isa {
        Isa::Scalar => quantize_block_scalar(x, qs),
        // SAFETY: non-scalar `Isa` values imply AVX2 (see `cpu::detect`).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Avx512Vnni => unsafe { quantize_block_avx2(x, qs) },
        // SAFETY: every aarch64 `Isa` above Scalar has NEON (see `cpu::detect`).
        #[cfg(target_arch = "aarch64")]
        Isa::Neon | Isa::NeonDotprod => unsafe { quantize_block_neon(x, qs) },
    }
}

fn inverse_scale(amax: f32) -> (f32, f32) {
    let d = amax / 127.0;
    (d, if d != 0.0 { 1.0 / d } else { 0.0 })
}

fn quantize_block_scalar(x: &[f32; 32], qs: &mut [i8; 32]) -> (f32, i32) {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let (d, id) = inverse_scale(amax);
    let mut sum = 0;
    for (q, v) in qs.iter_mut().zip(x) {
        *q = (v * id).round_ties_even().clamp(-127.0, 127.0) as i8;
        sum += *q as i32;
    }
    (d, sum)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn quantize_block_avx2(x: &[f32; 32], qs: &mut [i8; 32]) -> (f32, i32) {
    use std::arch::x86_64::*;
    let v: [__m256; 4] = std::array::from_fn(|i| _mm256_loadu_ps(x.as_ptr().add(8 * i)));
    let sign = _mm256_set1_ps(-0.0);
    let abs = |v: __m256| _mm256_andnot_ps(sign, v);
    let m = _mm256_max_ps(
        _mm256_max_ps(abs(v[0]), abs(v[1])),
        _mm256_max_ps(abs(v[2]), abs(v[3])),
    );
    let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
    let (d, id) = inverse_scale(amax);
    let (id, lo, hi) = (
        _mm256_set1_ps(id),
        _mm256_set1_ps(-127.0),
        _mm256_set1_ps(127.0),
    );
    let q: [__m256i; 4] = std::array::from_fn(|i| {
        let r = _mm256_round_ps(
            _mm256_mul_ps(v[i], id),
            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC,
        );
        _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(r, lo), hi))
    });
    let total = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    let total = _mm_add_epi32(
        _mm256_castsi256_si128(total),
        _mm256_extracti128_si256(total, 1),
    );
    let total = _mm_add_epi32(total, _mm_shuffle_epi32(total, 0b01_00_11_10));
    let sum = _mm_cvtsi128_si32(_mm_add_epi32(
        total,
        _mm_shuffle_epi32(total, 0b10_11_00_01),
    ));
    // The packs work within 128-bit lanes; the permute puts the 32 bytes back in order.
    let bytes = _mm256_packs_epi16(
        _mm256_packs_epi32(q[0], q[1]),
        _mm256_packs_epi32(q[2], q[3]),
    );
    let bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(qs.as_mut_ptr() as *mut __m256i, bytes);
    (d, sum)
}

#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn quantize_block_neon(x: &[f32; 32], qs: &mut [i8; 32]) -> (f32, i32) {
    use std::arch::aarch64::*;
    let v: [float32x4_t; 8] = std::array::from_fn(|i| vld1q_f32(x.as_ptr().add(4 * i)));
    let mut m = vabsq_f32(v[0]);
    for v in &v[1..] {
        m = vmaxq_f32(m, vabsq_f32(*v));
    }
    let (d, id) = inverse_scale(vmaxvq_f32(m));
    let (id, lo, hi) = (vdupq_n_f32(id), vdupq_n_f32(-127.0), vdupq_n_f32(127.0));
    // frintn rounds ties to even; the conversion of the (integral) result is then exact.
    let q: [int32x4_t; 8] = std::array::from_fn(|i| {
        let r = vrndnq_f32(vmulq_f32(v[i], id));
        vcvtq_s32_f32(vminq_f32(vmaxq_f32(r, lo), hi))
    });
    let mut total = q[0];
    for q in &q[1..] {
        total = vaddq_s32(total, *q);
    }
    let halves: [int16x8_t; 4] =
        std::array::from_fn(|i| vcombine_s16(vmovn_s32(q[2 * i]), vmovn_s32(q[2 * i + 1])));
    let ptr = qs.as_mut_ptr();
    vst1q_s8(ptr, vcombine_s8(vmovn_s16(halves[0]), vmovn_s16(halves[1])));
    vst1q_s8(
        ptr.add(16),
        vcombine_s8(vmovn_s16(halves[2]), vmovn_s16(halves[3])),
    );
    (d, vaddvq_s32(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks() -> Vec<[f32; 32]> {
        let mut rng = fastrand::Rng::with_seed(5);
        let mut blocks: Vec<[f32; 32]> = (0..500)
            .map(|_| {
                let scale = 10f32.powf(rng.f32() * 8.0 - 4.0);
                std::array::from_fn(|_| (rng.f32() - 0.5) * scale)
            })
            .collect();
        blocks.push([0.0; 32]);
        // Exact halves between two steps, which the rounding mode decides.
        blocks.push(std::array::from_fn(|i| {
            if i == 0 {
                127.0
            } else {
                i as f32 - 15.5
            }
        }));
        blocks
    }

    #[test]
    fn every_value_is_within_half_a_step_and_the_sum_matches() {
        for x in blocks() {
            let mut qs = [0i8; 32];
            let (d, sum) = quantize_block(Isa::Scalar, &x, &mut qs);
            assert_eq!(sum, qs.iter().map(|&q| q as i32).sum::<i32>());
            for (q, v) in qs.iter().zip(&x) {
                assert!(
                    (*q as f32 * d - v).abs() <= d * 0.5000001,
                    "{q} * {d} vs {v}"
                );
            }
        }
        let mut qs = [0i8; 32];
        let halves: [f32; 32] =
            std::array::from_fn(|i| if i == 0 { 127.0 } else { i as f32 - 15.5 });
        quantize_block(Isa::Scalar, &halves, &mut qs);
        assert_eq!((qs[1], qs[2], qs[31]), (-14, -14, 16), "ties go to even");
    }

    #[test]
    fn every_isa_gives_the_scalar_bytes() {
        for x in blocks() {
            let mut want = [0i8; 32];
            let expected = quantize_block(Isa::Scalar, &x, &mut want);
            for isa in Isa::all_supported() {
                let mut got = [0i8; 32];
                assert_eq!(quantize_block(isa, &x, &mut got), expected, "{isa:?}");
                assert_eq!(got, want, "{isa:?}");
            }
        }
    }
}
