//! The matmul benchmark behind `examples/matmul_bench.rs`: SmolLM2-135M's matrix shapes at
//! decode (1 token) and prefill (512 tokens), for every instruction set and 1 or 2 threads.

use super::matmul::{Activations, QMatrix};
use super::pool::ThreadPool;
use super::quant::WeightType;
use super::Isa;
use std::time::{Duration, Instant};

/// (name, rows, cols, type, uses per layer (0: once per model), input quantizations per layer)
/// for SmolLM2-135M-Instruct Q4_1: q/k/v share the attention input, gate/up the FFN input.
const SHAPES: [(&str, usize, usize, WeightType, usize, usize); 5] = [
    ("attn_q/o 576x576", 576, 576, WeightType::Q4_1, 2, 2),
    ("attn_k/v 192x576", 192, 576, WeightType::Q4_1, 2, 0),
    ("ffn_gate/up 1536x576", 1536, 576, WeightType::Q4_1, 2, 1),
    ("ffn_down 576x1536", 576, 1536, WeightType::Q4_1, 1, 1),
    ("output 49152x576", 49152, 576, WeightType::Q8_0, 0, 0),
];
const LAYERS: usize = 30;

/// Options: `--isa scalar|avx2|avx512|neon|dotprod` (repeatable), `--threads N` (repeatable),
/// `--tokens N` (repeatable), `--min-time-ms N`.
pub fn run_matmul_bench(args: &[String]) {
    let mut isas = Vec::new();
    let mut threads = Vec::new();
    let mut tokens = Vec::new();
    let mut min_time = Duration::from_millis(300);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = it.next().map(String::as_str).unwrap_or_default();
        match arg.as_str() {
            "--isa" => isas.extend(
                Isa::all_supported()
                    .into_iter()
                    .filter(|i| i.name() == value),
            ),
            "--threads" => threads.push(value.parse().expect("--threads takes a number")),
            "--tokens" => tokens.push(value.parse().expect("--tokens takes a number")),
            "--min-time-ms" => {
                min_time =
                    Duration::from_millis(value.parse().expect("--min-time-ms takes a number"))
            }
            _ => panic!("unknown option {arg}"),
        }
    }
    if isas.is_empty() {
        isas = Isa::all_supported();
    }
    if threads.is_empty() {
        threads = vec![1, 2];
    }
    if tokens.is_empty() {
        tokens = vec![1, 512];
    }
    println!(
        "detected ISA: {}, physical cores: {}",
        super::detect().name(),
        super::pool::physical_cores()
    );
    let mut rng = fastrand_like::Rng(0x9E37_79B9_7F4A_7C15);
    let matrices: Vec<QMatrix> = SHAPES
        .iter()
        .map(|&(_, rows, cols, ty, _, _)| {
            QMatrix::new(ty, rows, cols, random_blocks(&mut rng, ty, rows, cols))
                .expect("valid shape")
        })
        .collect();
    let mut model = None;
    for &n_tok in &tokens {
        for &isa in &isas {
            for &n_threads in &threads {
                let pool = ThreadPool::new(n_threads);
                println!("\n{n_tok} token(s), {}, {n_threads} thread(s)", isa.name());
                let mut model_time = 0f64;
                for (m, &(name, rows, cols, ty, per_layer, quantizes)) in
                    matrices.iter().zip(&SHAPES)
                {
                    if isa == Isa::Scalar && n_tok > 1 && rows * n_tok > 200_000 {
                        println!("  {name:<22} skipped (scalar)");
                        continue;
                    }
                    let x: Vec<f32> = (0..n_tok * cols).map(|_| rng.f32() - 0.5).collect();
                    let mut acts = Activations::new();
                    let mut y = vec![0f32; n_tok * rows];
                    let quantize = time(min_time / 4, || {
                        acts.quantize_with_isa(isa, ty, &x, n_tok, cols, &pool)
                            .unwrap()
                    })
                    .wall;
                    let matmul = time(min_time, || {
                        m.matmul_with_isa(isa, &pool, &acts, &mut y).unwrap()
                    });
                    debug_assert_eq!(
                        (m.rows(), m.cols(), m.ty(), acts.n_tok(), acts.cols()),
                        (rows, cols, ty, n_tok, cols)
                    );
                    let flops = 2.0 * (rows * cols * n_tok) as f64;
                    let bytes = (ty.row_bytes(cols).unwrap() * rows) as f64;
                    println!(
                        "  {name:<22} {:>9.1} us {:>7.1} GFLOP/s {:>6.1} GB/s  cpu/call {:>9.1} us  quantize {:.1} us",
                        matmul.wall * 1e6,
                        flops / matmul.wall / 1e9,
                        bytes / matmul.wall / 1e9,
                        matmul.cpu * 1e6,
                        quantize * 1e6
                    );
                    let matmul = matmul.wall;
                    model_time += if per_layer == 0 {
                        // The output head runs on the last token only.
                        (matmul + quantize) / n_tok as f64
                    } else {
                        (matmul * per_layer as f64 + quantize * quantizes as f64) * LAYERS as f64
                    };
                }
                println!(
                    "  sum of the above for SmolLM2-135M (weights cache-hot): {:.2} ms per batch = {:.0} tok/s",
                    model_time * 1e3,
                    n_tok as f64 / model_time
                );
                let model = model.get_or_insert_with(|| Model::new(&mut rng));
                let pass = time(min_time.max(Duration::from_secs(1)), || {
                    model.pass(isa, &pool, n_tok)
                });
                println!(
                    "  a whole model's matmuls (30 distinct layers, weights streamed): best {:.2} ms = {:.0} tok/s; \
                     cpu {:.2} ms per batch = {:.0} tok/s at {n_threads} x 100% cpu",
                    pass.wall * 1e3,
                    n_tok as f64 / pass.wall,
                    pass.cpu * 1e3,
                    n_tok as f64 * n_threads as f64 / pass.cpu,
                );
            }
        }
    }
}

/// Every matrix of SmolLM2-135M (random values), to time a forward pass's matmuls with the
/// weights streamed from memory as in real decoding, not re-read from cache.
struct Model {
    layers: Vec<[QMatrix; 7]>,
    output: QMatrix,
    acts: Activations,
    x: Vec<f32>,
    y: Vec<f32>,
}

impl Model {
    fn new(rng: &mut fastrand_like::Rng) -> Model {
        let q4_1 = |rng: &mut fastrand_like::Rng, rows, cols| {
            QMatrix::new(
                WeightType::Q4_1,
                rows,
                cols,
                random_blocks(rng, WeightType::Q4_1, rows, cols),
            )
            .unwrap()
        };
        let layers = (0..LAYERS)
            .map(|_| {
                [
                    q4_1(rng, 576, 576),
                    q4_1(rng, 192, 576),
                    q4_1(rng, 192, 576),
                    q4_1(rng, 576, 576),
                    q4_1(rng, 1536, 576),
                    q4_1(rng, 1536, 576),
                    q4_1(rng, 576, 1536),
                ]
            })
            .collect();
        let output = QMatrix::new(
            WeightType::Q8_0,
            49152,
            576,
            random_blocks(rng, WeightType::Q8_0, 49152, 576),
        )
        .unwrap();
        Model {
            layers,
            output,
            acts: Activations::new(),
            x: Vec::new(),
            y: Vec::new(),
        }
    }

    /// The matmuls (and input quantizations) of one forward pass over `n_tok` tokens.
    fn pass(&mut self, isa: Isa, pool: &ThreadPool, n_tok: usize) {
        self.x.resize(n_tok * 1536, 0.01);
        self.y.resize(n_tok * 49152, 0.0);
        let Model {
            layers,
            output,
            acts,
            x,
            y,
        } = self;
        let mut mul = |m: &QMatrix, acts: &Activations| {
            m.matmul_with_isa(isa, pool, acts, &mut y[..acts.n_tok() * m.rows()])
                .unwrap()
        };
        for [q, k, v, o, gate, up, down] in layers.iter() {
            acts.quantize_with_isa(isa, WeightType::Q4_1, &x[..n_tok * 576], n_tok, 576, pool)
                .unwrap();
            mul(q, acts);
            mul(k, acts);
            mul(v, acts);
            acts.quantize_with_isa(isa, WeightType::Q4_1, &x[..n_tok * 576], n_tok, 576, pool)
                .unwrap();
            mul(o, acts);
            acts.quantize_with_isa(isa, WeightType::Q4_1, &x[..n_tok * 576], n_tok, 576, pool)
                .unwrap();
            mul(gate, acts);
            mul(up, acts);
            acts.quantize_with_isa(isa, WeightType::Q4_1, &x[..n_tok * 1536], n_tok, 1536, pool)
                .unwrap();
            mul(down, acts);
        }
        acts.quantize_with_isa(isa, WeightType::Q8_0, &x[..576], 1, 576, pool)
            .unwrap();
        mul(output, acts);
    }
}

/// Timing of one call: the best wall time of many, and the process CPU time per call. On a
/// busy machine the second is the honest one for long calls (a call that outlasts a scheduler
/// time slice is always interrupted), though it also counts the pool workers' spinning.
struct Timing {
    wall: f64,
    cpu: f64,
}

fn time(min_time: Duration, mut f: impl FnMut()) -> Timing {
    f();
    let started = Instant::now();
    let cpu_started = process_cpu_seconds();
    let mut best = f64::MAX;
    let mut calls = 0;
    while started.elapsed() < min_time || calls == 0 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        calls += 1;
    }
    let cpu = process_cpu_seconds() - cpu_started;
    Timing {
        wall: best,
        cpu: cpu / calls as f64,
    }
}

/// This process's user + system CPU time in seconds (Linux /proc, 10 ms ticks; 0 elsewhere).
fn process_cpu_seconds() -> f64 {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
            Some(fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?)
        });
    ticks.unwrap_or(0.0) / 100.0
}

fn random_blocks(
    rng: &mut fastrand_like::Rng,
    ty: WeightType,
    rows: usize,
    cols: usize,
) -> Vec<u8> {
    let n_blocks = rows * cols / ty.block_len();
    let mut bytes = Vec::with_capacity(n_blocks * ty.block_bytes());
    for _ in 0..n_blocks {
        let scales = if ty == WeightType::Q4_1 { 2 } else { 1 };
        for _ in 0..scales {
            bytes.extend(
                half::f16::from_f32((rng.f32() - 0.5) * 0.02)
                    .to_bits()
                    .to_le_bytes(),
            );
        }
        for _ in 2 * scales..ty.block_bytes() {
            bytes.push(rng.u8());
        }
    }
    bytes
}

/// A tiny xorshift generator: the bench needs noise, not quality, and no dependency.
mod fastrand_like {
    pub(super) struct Rng(pub u64);

    impl Rng {
        pub(super) fn u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        pub(super) fn u8(&mut self) -> u8 {
            (self.u64() >> 56) as u8
        }

        pub(super) fn f32(&mut self) -> f32 {
            (self.u64() >> 40) as f32 / (1u64 << 24) as f32
        }
    }
}
