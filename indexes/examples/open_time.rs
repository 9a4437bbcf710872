//! Time to open an existing library (e.g. the one `almanac bench retrieval --work DIR` leaves in
//! `DIR/library`): `cargo build --workspace --example open_time`, then
//! `target/debug/examples/open_time DIR/library 384 3`. Opens it RUNS times in a row (the first may
//! repair and re-stamp; the later ones show the steady state) and prints each time and report.
use std::path::PathBuf;
use std::time::Instant;

use almanac_indexes::Index;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: open_time DIR DIM [RUNS]"));
    let dim: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .expect("DIM: a number");
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    for run in 1..=runs {
        let started = Instant::now();
        let index = Index::open(&dir, dim).unwrap_or_else(|e| panic!("{e}"));
        let opened = started.elapsed();
        let stats = index.stats().unwrap_or_else(|e| panic!("{e}"));
        println!(
            "open {run}: {:.0} ms, {} chunks, {:?}",
            opened.as_secs_f64() * 1000.0,
            stats.chunks,
            index.open_report()
        );
    }
}
