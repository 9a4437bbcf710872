//! Every weight type and instruction set against references computed in f64 from the
//! dequantized weights: one with the very 8-bit activations the kernels used (tight tolerance),
//! one with the original f32 inputs (the quantization error bound).

use super::*;
use crate::cpu::quant::{self, WeightType::*};
use crate::cpu::{detect, isa, ISA_ENV};
use half::f16;

const ALL_TYPES: [WeightType; 7] = [F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0];
const BLOCK_TYPES: [WeightType; 5] = [Q4_0, Q4_1, Q5_0, Q5_1, Q8_0];

/// (rows, cols, tokens): tails of the 16-row groups, 8-row halves and token tiles, and decode.
const SHAPES: [(usize, usize, usize); 8] = [
    (1, 32, 1),
    (5, 64, 3),
    (16, 96, 8),
    (17, 64, 13),
    (40, 160, 1),
    (33, 96, 20),
    (64, 576, 9),
    (8, 32, 2),
];

fn f16_le(v: f32) -> [u8; 2] {
    f16::from_f32(v).to_bits().to_le_bytes()
}

/// A block scale: mostly ordinary, sometimes zero, huge or an f16 subnormal.
fn edge_scale(rng: &mut fastrand::Rng, case: u32) -> [u8; 2] {
    match case {
        0 => f16_le(0.0),
        1 => f16_le(if rng.bool() { 60000.0 } else { -60000.0 }),
        2 => rng.u16(1..1024).to_le_bytes(),
        _ => f16_le((rng.f32() - 0.5) * 0.2),
    }
}

/// GGML bytes of a `rows x cols` matrix, with extreme quants and scales mixed in.
fn random_weights(rng: &mut fastrand::Rng, ty: WeightType, rows: usize, cols: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    match ty {
        F32 => (0..rows * cols).for_each(|_| bytes.extend((rng.f32() - 0.5).to_le_bytes())),
        F16 => (0..rows * cols).for_each(|_| bytes.extend(f16_le(rng.f32() - 0.5))),
        _ => {
            for _ in 0..rows * cols / QK8 {
                let case = rng.u32(0..12);
                bytes.extend(edge_scale(rng, case));
                if ty == Q4_1 || ty == Q5_1 {
                    let m_case = rng.u32(0..12);
                    bytes.extend(edge_scale(rng, m_case));
                }
                // Q5's four `qh` bytes come first; all-ones and all-zero blocks give 31 and 0.
                let qs_len = match ty {
                    Q8_0 => 32,
                    Q5_0 | Q5_1 => 20,
                    _ => 16,
                };
                for _ in 0..qs_len {
                    bytes.push(match case {
                        4 => 0xFF,
                        5 if ty == Q8_0 => 0x80,
                        5 => 0x00,
                        6 if ty == Q8_0 => 0x7F,
                        _ => rng.u8(..),
                    });
                }
            }
        }
    }
    bytes
}

/// Inputs with zero, tiny, outlier and ordinary blocks.
fn random_inputs(rng: &mut fastrand::Rng, n_tok: usize, cols: usize) -> Vec<f32> {
    let mut x = Vec::with_capacity(n_tok * cols);
    for _ in 0..n_tok * cols / QK8 {
        let case = rng.u32(0..10);
        let scale = 10f32.powf(rng.f32() * 3.5 - 2.0);
        for i in 0..QK8 {
            x.push(match case {
                0 => 0.0,
                1 => (rng.f32() - 0.5) * 1e-9,
                2 if i == 7 => -50.0,
                _ => (rng.f32() - 0.5) * scale,
            });
        }
    }
    x
}

fn dequantize_ggml(ty: WeightType, ggml: &[u8], rows: usize, cols: usize) -> Vec<f32> {
    let row_bytes = ty.row_bytes(cols).unwrap();
    let mut out = vec![0f32; rows * cols];
    for (row, values) in ggml.chunks_exact(row_bytes).zip(out.chunks_exact_mut(cols)) {
        match ty {
            F32 => values
                .iter_mut()
                .zip(row.chunks_exact(4))
                .for_each(|(v, b)| *v = f32::from_le_bytes(b.try_into().unwrap())),
            F16 => values
                .iter_mut()
                .zip(row.chunks_exact(2))
                .for_each(|(v, b)| *v = quant::read_f16(b, 0)),
            Q4_0 => q4_0::dequantize_row(row, values),
            Q4_1 => q4_1::dequantize_row(row, values),
            Q5_0 => q5_0::dequantize_row(row, values),
            Q5_1 => q5_1::dequantize_row(row, values),
            Q8_0 => q8_0::dequantize_row(row, values),
            _ => unreachable!(),
        }
    }
    out
}

/// The activations the kernels saw, dequantized, and per block the error Q4_1's rounded `s`
/// may add per unit of `|m|`.
fn seen_inputs(acts: &Activations, x: &[f32]) -> (Vec<f64>, Vec<f64>) {
    match acts.family.unwrap() {
        ActFamily::F32 => (
            x.iter().map(|&v| v as f64).collect(),
            vec![0.0; x.len() / QK8 + 1],
        ),
        ActFamily::Q8_0 => {
            let values = acts
                .q8_0
                .iter()
                .flat_map(|b| b.qs.iter().map(move |&q| q as f64 * b.d.to_f32() as f64))
                .collect();
            (values, vec![0.0; acts.q8_0.len()])
        }
        ActFamily::Q8_1 => {
            let values = acts
                .q8_1
                .iter()
                .flat_map(|b| b.qs.iter().map(move |&q| q as f64 * b.d.to_f32() as f64))
                .collect();
            let s_error = acts
                .q8_1
                .iter()
                .map(|b| {
                    let sum: i32 = b.qs.iter().map(|&q| q as i32).sum();
                    (b.s.to_f32() as f64 - b.d.to_f32() as f64 * sum as f64).abs()
                })
                .collect();
            (values, s_error)
        }
        ActFamily::Q8K => unreachable!(),
    }
}

/// The largest error 8-bit quantization may put on one input of a block: half a step, plus
/// the f16 rounding of the scale (relative 2^-11, or half the subnormal spacing) times 127.
fn quantization_error_bound(block: &[f32]) -> f64 {
    let d = block.iter().fold(0f32, |m, v| m.max(v.abs())) as f64 / 127.0;
    d / 2.0 + 127.0 * (d * 2f64.powi(-11)).max(2f64.powi(-25))
}

/// The Q4_1/Q5_1 minimum of every block, as f64 (zero for other types).
fn block_minimums(ty: WeightType, ggml: &[u8]) -> Vec<f64> {
    match ty {
        Q4_1 | Q5_1 => ggml
            .chunks_exact(ty.block_bytes())
            .map(|b| quant::read_f16(b, 2) as f64)
            .collect(),
        _ => vec![0.0; ggml.len()],
    }
}

struct Case {
    rows: usize,
    cols: usize,
    n_tok: usize,
    ggml: Vec<u8>,
    x: Vec<f32>,
    matrix: QMatrix,
    acts: Activations,
}

fn case(
    rng: &mut fastrand::Rng,
    ty: WeightType,
    (rows, cols, n_tok): (usize, usize, usize),
) -> Case {
    let ggml = random_weights(rng, ty, rows, cols);
    let x = random_inputs(rng, n_tok, cols);
    let matrix = QMatrix::new(ty, rows, cols, ggml.clone()).unwrap();
    let mut acts = Activations::new();
    acts.quantize(ty, &x, n_tok, cols, &ThreadPool::new(1))
        .unwrap();
    assert_eq!(
        (matrix.ty(), matrix.rows(), matrix.cols()),
        (ty, rows, cols)
    );
    assert_eq!((acts.n_tok(), acts.cols()), (n_tok, cols));
    Case {
        rows,
        cols,
        n_tok,
        ggml,
        x,
        matrix,
        acts,
    }
}

fn run(c: &Case, isa: Isa, pool: &ThreadPool) -> Vec<f32> {
    let mut y = vec![f32::NAN; c.n_tok * c.rows];
    c.matrix
        .matmul_with_isa(isa, pool, &c.acts, &mut y)
        .unwrap();
    y
}

#[test]
fn every_type_and_isa_matches_the_dequantized_reference() {
    let mut rng = fastrand::Rng::with_seed(11);
    let single = ThreadPool::new(1);
    for ty in ALL_TYPES {
        for shape in SHAPES {
            let c = case(&mut rng, ty, shape);
            let w = dequantize_ggml(ty, &c.ggml, c.rows, c.cols);
            let (seen, s_error) = seen_inputs(&c.acts, &c.x);
            let minimums = block_minimums(ty, &c.ggml);
            let bpr = c.cols / QK8;
            for isa in Isa::all_supported() {
                let y = run(&c, isa, &single);
                for t in 0..c.n_tok {
                    for r in 0..c.rows {
                        let (mut same, mut magnitude, mut exact, mut loose_tol) =
                            (0f64, 0f64, 0f64, 0f64);
                        let mut s_tol = 0f64;
                        for k in 0..c.cols {
                            let (wk, xk, sk) = (
                                w[r * c.cols + k] as f64,
                                c.x[t * c.cols + k] as f64,
                                seen[t * c.cols + k],
                            );
                            same += wk * sk;
                            magnitude += (wk * sk).abs();
                            exact += wk * xk;
                        }
                        if ty != F32 && ty != F16 {
                            for b in 0..bpr {
                                let block = &c.x[t * c.cols + b * QK8..][..QK8];
                                let w_abs: f64 = (0..QK8)
                                    .map(|i| (w[r * c.cols + b * QK8 + i] as f64).abs())
                                    .sum();
                                loose_tol += w_abs * quantization_error_bound(block);
                                s_tol += minimums[r * bpr + b].abs() * s_error[t * bpr + b];
                            }
                        }
                        let got = y[t * c.rows + r] as f64;
                        let tol = 1e-5 * magnitude + 2.0 * s_tol + 1e-30;
                        assert!(
                            (got - same).abs() <= tol,
                            "{ty:?} {isa:?} {shape:?} t={t} r={r}: {got} vs {same} (tolerance {tol})"
                        );
                        let tol = tol + loose_tol * 1.01;
                        assert!(
                            (got - exact).abs() <= tol,
                            "{ty:?} {isa:?} {shape:?} t={t} r={r}: {got} vs f32 {exact} (tolerance {tol})"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn vector_paths_match_scalar_bit_for_bit_on_quantized_types() {
    let mut rng = fastrand::Rng::with_seed(12);
    let single = ThreadPool::new(1);
    for ty in BLOCK_TYPES {
        for shape in SHAPES {
            let c = case(&mut rng, ty, shape);
            let scalar: Vec<u32> = run(&c, Isa::Scalar, &single)
                .iter()
                .map(|v| v.to_bits())
                .collect();
            for isa in Isa::all_supported() {
                let got: Vec<u32> = run(&c, isa, &single).iter().map(|v| v.to_bits()).collect();
                assert_eq!(got, scalar, "{ty:?} {isa:?} {shape:?}");
            }
        }
    }
}

#[test]
fn splitting_over_threads_changes_no_bit() {
    let mut rng = fastrand::Rng::with_seed(13);
    let pools = [ThreadPool::new(1), ThreadPool::new(2), ThreadPool::new(3)];
    for ty in ALL_TYPES {
        for shape in [(200, 64, 1), (40, 96, 70), (17, 32, 5)] {
            let c = case(&mut rng, ty, shape);
            for isa in Isa::all_supported() {
                let expected = run(&c, isa, &pools[0]);
                for pool in &pools[1..] {
                    assert_eq!(
                        run(&c, isa, pool),
                        expected,
                        "{ty:?} {isa:?} {shape:?} {} threads",
                        pool.threads()
                    );
                }
            }
            // Quantizing on several threads gives the same activations too.
            let mut acts = Activations::new();
            acts.quantize(ty, &c.x, c.n_tok, c.cols, &pools[2]).unwrap();
            assert_eq!(
                (acts.q8_0.clone(), acts.q8_1.clone(), acts.d.clone()),
                (c.acts.q8_0.clone(), c.acts.q8_1.clone(), c.acts.d.clone())
            );
        }
    }
}

#[test]
fn dequantize_row_undoes_the_packing() {
    let mut rng = fastrand::Rng::with_seed(14);
    for ty in ALL_TYPES {
        let c = case(&mut rng, ty, (21, 96, 1));
        let expected = dequantize_ggml(ty, &c.ggml, c.rows, c.cols);
        let mut row = vec![0f32; c.cols];
        for r in 0..c.rows {
            c.matrix.dequantize_row(r, &mut row);
            let want = &expected[r * c.cols..][..c.cols];
            assert!(
                row.iter()
                    .zip(want)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{ty:?} row {r}"
            );
        }
    }
}

/// ggml's own Q5 blocks and activation blocks (`tests/fixtures/q5`): our activations are the
/// same bytes, and our product is ggml's `vec_dot` up to float summation order.
#[test]
fn q5_products_match_ggml_vec_dot() {
    use crate::cpu::quant::q5_1::test_support::{fixture_bytes, fixture_f32};
    let x = fixture_f32("acts.f32");
    let pool = ThreadPool::new(1);
    for (ty, name, acts_name) in [
        (Q5_0, "q5_0", "acts.q8_0.bin"),
        (Q5_1, "q5_1", "acts.q8_1.bin"),
    ] {
        let matrix = QMatrix::new(ty, 1, x.len(), fixture_bytes(&format!("{name}.bin"))).unwrap();
        let mut acts = Activations::new();
        acts.quantize(ty, &x, 1, x.len(), &pool).unwrap();
        let ours = match ty {
            Q5_0 => quant::block_bytes_of(&acts.q8_0).to_vec(),
            _ => quant::block_bytes_of(&acts.q8_1).to_vec(),
        };
        assert_eq!(ours, fixture_bytes(acts_name), "{ty:?} activations");
        let want = fixture_f32(&format!("{name}.dot.f32"))[0];
        let w = fixture_f32(&format!("{name}.dequant.f32"));
        let magnitude: f32 = w.iter().zip(&x).map(|(a, b)| (a * b).abs()).sum();
        for isa in Isa::all_supported() {
            let mut y = [0f32];
            matrix.matmul_with_isa(isa, &pool, &acts, &mut y).unwrap();
            assert!(
                (y[0] - want).abs() <= 1e-5 * magnitude,
                "{ty:?} {isa:?}: {} vs ggml {want}",
                y[0]
            );
        }
    }
}

#[test]
fn requantizing_fewer_tokens_reuses_the_buffers() {
    let mut rng = fastrand::Rng::with_seed(15);
    let pool = ThreadPool::new(2);
    let c = case(&mut rng, Q4_1, (48, 128, 6));
    let mut expected = vec![0f32; 6 * 48];
    c.matrix.matmul(&pool, &c.acts, &mut expected).unwrap();
    let mut acts = Activations::new();
    acts.quantize(Q4_1, &c.x, 6, 128, &pool).unwrap();
    let capacity = acts.q8_1.capacity();
    acts.quantize(Q4_1, &c.x[..128], 1, 128, &pool).unwrap();
    assert_eq!(acts.q8_1.capacity(), capacity);
    let mut y = vec![0f32; 48];
    c.matrix.matmul(&pool, &acts, &mut y).unwrap();
    assert_eq!(y[..], expected[..48]);
}

#[test]
fn mismatched_inputs_are_errors() {
    let mut rng = fastrand::Rng::with_seed(16);
    let pool = ThreadPool::new(1);
    let c = case(&mut rng, Q4_0, (16, 64, 2));
    let q4_1_acts = case(&mut rng, Q4_1, (16, 64, 2)).acts;
    assert!(c.matrix.matmul(&pool, &q4_1_acts, &mut [0f32; 32]).is_err());
    assert!(c.matrix.matmul(&pool, &c.acts, &mut [0f32; 31]).is_err());
    // Q8_0 weights share Q4_0's activations.
    let q8 = QMatrix::new(Q8_0, 3, 64, random_weights(&mut rng, Q8_0, 3, 64)).unwrap();
    assert!(q8.matmul(&pool, &c.acts, &mut [0f32; 6]).is_ok());
    assert!(QMatrix::new(Q4_0, 16, 64, vec![0; 16 * 36 - 1]).is_err());
    assert!(QMatrix::new(Q4_0, 16, 48, vec![0; 16 * 27]).is_err());
    assert!(Activations::new()
        .quantize(Q8_0, &[0.0; 48], 1, 48, &pool)
        .is_err());
}

/// Run in a child process with `ALMANAC_CPU_ISA=scalar` by the test below.
#[test]
fn scalar_override_probe() {
    if std::env::var(ISA_ENV).as_deref() != Ok("scalar") {
        return;
    }
    assert_eq!(isa(), Isa::Scalar);
    // F32 sums round differently per path, so the result shows which path `matmul` took.
    let mut rng = fastrand::Rng::with_seed(17);
    let c = case(&mut rng, F32, (16, 576, 3));
    let pool = ThreadPool::new(2);
    let mut y = vec![0f32; 3 * 16];
    c.matrix.matmul(&pool, &c.acts, &mut y).unwrap();
    assert_eq!(y, run(&c, Isa::Scalar, &pool));
    if detect() > Isa::Scalar {
        assert_ne!(
            y,
            run(&c, detect(), &pool),
            "the vector path rounds differently"
        );
    }
    println!("probe ran the scalar path");
}

#[test]
fn the_isa_override_forces_the_scalar_path_through_matmul() {
    if std::env::var_os(ISA_ENV).is_some() {
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "cpu::matmul::tests::scalar_override_probe",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ISA_ENV, "scalar")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("probe ran the scalar path"), "{stdout}");
}

#[test]
fn plans_cover_every_row_group_and_token_once() {
    for (groups, n_tok, threads) in [
        (36, 1, 2),
        (12, 512, 2),
        (1, 3, 4),
        (3072, 1, 2),
        (5, 70, 3),
        (2, 1, 1),
    ] {
        let plan = Plan::new(groups, n_tok, threads);
        let mut seen = vec![0u8; groups * n_tok];
        for task in 0..plan.tasks() {
            let (g, t) = plan.task(task);
            assert!(t.start % Plan::TOKEN_ALIGN == 0);
            for gi in g {
                for ti in t.clone() {
                    seen[gi * n_tok + ti] += 1;
                }
            }
        }
        assert!(
            seen.iter().all(|&s| s == 1),
            "{groups} groups, {n_tok} tokens, {threads} threads"
        );
        let token_ranges = n_tok.div_ceil(Plan::TOKEN_ALIGN);
        assert!(threads == 1 || plan.tasks() >= threads.min(groups * token_ranges));
    }
}
