//! Ledger append in batches against plain INSERTs of the same rows into the
//! same database, side by side in one run (the target: append at least half
//! the plain rate). PostgreSQL runs when CELLTRAIL_TEST_PG_URL is set.
//!
//! `cargo bench -p celltrail-store --bench append`

use std::time::{Duration, Instant};

use celltrail_ledger::{Event, NewEvent, GENESIS_HASH};
use celltrail_store::testkit::{postgres_backend, sqlite_backend, TestBackend};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;

const BATCH: usize = 500;

fn events(stream: &str, n: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|i| NewEvent {
            stream: stream.to_string(),
            kind: "user.password_set".into(),
            payload: json!({"id": format!("usr-{i:08}"), "title": "BCMA CAR-T细胞治疗复发难治多发性骨髓瘤", "category": "car_t", "pi": "周明", "n": i}),
            actor: "usr-bench".into(),
            org: "org-bench".into(),
            time: "2026-05-01T08:00:00.000Z".into(),
            reason: "benchmark".into(),
        })
        .collect()
}

fn bench_backend(c: &mut Criterion, rt: &tokio::runtime::Runtime, b: TestBackend) {
    let mut group = c.benchmark_group(format!("append_{}", b.name));
    group.throughput(Throughput::Elements(BATCH as u64));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    let mut k = 0u64;
    group.bench_function("ledger_append_batch", |bch| {
        bch.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    k += 1;
                    let batch = events(&format!("user:bench-{k}"), BATCH);
                    let start = Instant::now();
                    b.store.append(batch).await.unwrap();
                    total += start.elapsed();
                }
                total
            })
        })
    });
    // Baseline: the same rows (bodies and hashes computed outside the timed
    // part) inserted plainly into the same events table in one transaction.
    group.bench_function("plain_insert_batch", |bch| {
        bch.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    k += 1;
                    let stream = format!("user:plain-{k}");
                    let mut prev = (0u64, GENESIS_HASH.to_string());
                    let mut rows = Vec::with_capacity(BATCH);
                    for e in events(&stream, BATCH) {
                        let ev = Event::chain(e, prev.0, &prev.1).unwrap();
                        prev = (ev.seq, ev.hash.clone());
                        rows.push(ev);
                    }
                    let start = Instant::now();
                    b.insert_plain(&rows).await;
                    total += start.elapsed();
                }
                total
            })
        })
    });
    group.finish();
}

fn append(c: &mut Criterion) {
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

criterion_group!(benches, append);
criterion_main!(benches);
