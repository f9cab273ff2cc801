//! Verifying the ledger from the database against verifying its export
//! offline, side by side in one run, on a ledger shaped like one large
//! institution's: 100,000 clinical-research filings on 2,000 studies, a seal
//! entry per two events, a checkpoint per 1,000 events (as the store signs
//! them). PostgreSQL runs when CELLTRAIL_TEST_PG_URL is set.
//!
//! `cargo bench -p celltrail-store --bench verify`

use std::io::Cursor;
use std::time::Duration;

use celltrail_store::testkit::{hospital_ledger, postgres_backend, sqlite_backend, TestBackend};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const EVENTS: u64 = 100_000;

fn bench_backend(c: &mut Criterion, rt: &tokio::runtime::Runtime, b: TestBackend) {
    let mut export = Vec::new();
    rt.block_on(async {
        hospital_ledger(b.store.as_ref(), EVENTS).await.unwrap();
        b.store.export(&mut export).await.unwrap();
        let s = b.store.verify().await.unwrap().unwrap();
        assert_eq!(
            (s.events, s.checkpoints, s.pending),
            (EVENTS, EVENTS / 1_000, 0)
        );
    });
    let mut group = c.benchmark_group(format!("verify_{}", b.name));
    group.throughput(Throughput::Elements(EVENTS));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("store_verify", |bch| {
        bch.iter(|| rt.block_on(b.store.verify()).unwrap().unwrap())
    });
    group.bench_function("export_verify_reader", |bch| {
        bch.iter(|| celltrail_ledger::export::verify_reader(Cursor::new(&export)).unwrap())
    });
    group.finish();
}

fn verify(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sqlite = rt.block_on(sqlite_backend());
    bench_backend(c, &rt, sqlite);
    if let Some(pg) = rt.block_on(postgres_backend()) {
        bench_backend(c, &rt, pg);
    }
}

criterion_group!(benches, verify);
criterion_main!(benches);
