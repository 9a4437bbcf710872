//! hnsw_rs insertion mode and level scale against exact search (hnsw_rs issue #32: parallel insert
//! can leave points unreachable). Clustered 384-d unit vectors (like sentence embeddings: topics with
//! spread), M = 24, ef_construction = 200, ef_search = 96, as the index uses; recall@10 of 300
//! queries near the data. `N=<points>` (default 20000).
//! `cargo run --release -p almanac-indexes --example hnsw_insert`
use std::collections::HashSet;
use std::time::Instant;

use hnsw_rs::prelude::{Distance, Hnsw};

/// `1 - dot` on unit vectors, clamped (the index's UnitCosine; hnsw_rs's DistDot asserts on rounding).
#[derive(Default, Clone, Copy)]
struct UnitCosine;
impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>()).clamp(0.0, 2.0)
    }
}

const DIM: usize = 384;

/// A random unit vector, each coordinate roughly normal (sum of four uniforms).
fn random_unit(rng: &mut fastrand::Rng) -> Vec<f32> {
    let mut v: Vec<f32> = (0..DIM)
        .map(|_| (0..4).map(|_| rng.f32() - 0.5).sum())
        .collect();
    normalise(&mut v);
    v
}

fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
}

/// Points around `centers` topics, each `spread` away from its topic.
fn clustered(
    rng: &mut fastrand::Rng,
    n: usize,
    centers: &[Vec<f32>],
    spread: f32,
) -> Vec<Vec<f32>> {
    (0..n)
        .map(|_| {
            let c = &centers[rng.usize(..centers.len())];
            let noise = random_unit(rng);
            let mut v: Vec<f32> = c.iter().zip(&noise).map(|(a, b)| a + spread * b).collect();
            normalise(&mut v);
            v
        })
        .collect()
}

fn main() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut rng = fastrand::Rng::with_seed(42);
    let centers: Vec<Vec<f32>> = (0..n / 50).map(|_| random_unit(&mut rng)).collect();
    let data = clustered(&mut rng, n, &centers, 0.8);
    let queries = clustered(&mut rng, 300, &centers, 0.8);
    let truth: Vec<HashSet<usize>> = queries
        .iter()
        .map(|q| {
            let mut s: Vec<(usize, f32)> = data
                .iter()
                .enumerate()
                .map(|(i, v)| (i, v.iter().zip(q).map(|(a, b)| a * b).sum()))
                .collect();
            s.select_nth_unstable_by(9, |a, b| b.1.total_cmp(&a.1));
            s[..10].iter().map(|p| p.0).collect()
        })
        .collect();
    println!(
        "{n} clustered {DIM}-d points, {} threads",
        std::thread::available_parallelism().map_or(1, |p| p.get())
    );
    for (parallel, level_scale) in [(false, 1.0), (true, 1.0), (false, 0.5)] {
        let hnsw: Hnsw<f32, UnitCosine> = Hnsw::new(24, n, 16, 200, UnitCosine);
        let mut hnsw = hnsw;
        if level_scale != 1.0 {
            hnsw.modify_level_scale(level_scale);
        }
        let started = Instant::now();
        if parallel {
            let refs: Vec<(&[f32], usize)> = data
                .iter()
                .enumerate()
                .map(|(i, v)| (v.as_slice(), i))
                .collect();
            hnsw.parallel_insert_slice(&refs);
        } else {
            for (i, v) in data.iter().enumerate() {
                hnsw.insert_slice((v, i));
            }
        }
        let insert = started.elapsed().as_secs_f64();
        let mut found = 0;
        let mut unreachable = 0;
        for (q, t) in queries.iter().zip(&truth) {
            let got: HashSet<usize> = hnsw.search(q, 10, 96).iter().map(|h| h.d_id).collect();
            found += got.intersection(t).count();
        }
        // A point that is not its own nearest neighbour when searched for is unreachable.
        for (i, v) in data.iter().enumerate().step_by(20) {
            if !hnsw.search(v, 1, 96).iter().any(|h| h.d_id == i) {
                unreachable += 1;
            }
        }
        println!(
            "{} insert, level scale {level_scale}: {:.0} points/s, recall@10 {:.4}, {} of {} sampled points not found by their own vector",
            if parallel { "parallel" } else { "serial" },
            n as f64 / insert,
            found as f64 / (queries.len() * 10) as f64,
            unreachable,
            n.div_ceil(20)
        );
    }
}
