//! Criterion benchmarks of the signal pipeline on generated rows: counting,
//! the hyperparameter fit and the whole analysis.
//! `cargo bench -p celltrail-stats --bench signal` (500,000 rows; the test
//! suite runs it once on 20,000). The 10-million-row comparison with the
//! NumPy/SciPy peer is `bench/signal_peer.sh`.

use celltrail_stats::{counts, generate, mgps, signal};
use criterion::{criterion_group, criterion_main, Criterion};

fn bench(c: &mut Criterion) {
    let full = std::env::args().any(|a| a == "--bench");
    let opts = generate::Options {
        rows: if full { 500_000 } else { 20_000 },
        seed: 3,
        ..generate::Options::default()
    };
    let rows = generate::rows(&opts);
    let counted = counts::count(&rows, true);
    let data = mgps::Data::new(counted.pairs.iter().map(|p| (p.n, p.e)), 1);
    let mut g = c.benchmark_group("signal_500k_rows");
    g.sample_size(10);
    g.bench_function("count", |b| b.iter(|| counts::count(&rows, true)));
    g.bench_function("fit", |b| {
        b.iter(|| mgps::fit(&data, &mgps::FitOptions::default()))
    });
    g.bench_function("analyse", |b| {
        b.iter(|| signal::analyse(&rows, &signal::Options::default()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
