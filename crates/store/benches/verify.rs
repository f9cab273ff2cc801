//! Verifying the ledger from the database against verifying its export
//! offline, side by side in one run, on a ledger shaped like one large
//! institution's: 100,000 clinical-research filings on 2,000 studies, a seal
//! entry per two events, a checkpoint per 1,000 events (as the store signs
//! them). PostgreSQL runs when CELLTRAIL_TEST_PG_URL is set.
//!
//! `cargo bench -p celltrail-store --bench verify`

use std::io::Cursor;
use std::time::Duration;

use celltrail_ledger::NewEvent;
use celltrail_store::testkit::{postgres_backend, sqlite_backend, TestBackend};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;

const EVENTS: u64 = 100_000;
const STREAMS: u64 = 2_000;
/// Events per append: two per study for 500 studies.
const APPEND: u64 = 1_000;

fn filing(k: u64) -> NewEvent {
    NewEvent {
        stream: format!("project:prj-{:06}", (k / 2) % STREAMS),
        // Verification reads every kind alike; this one projects nothing,
        // so loading the ledger stays quick.
        kind: celltrail_store::projection::USER_PASSWORD_SET.to_string(),
        payload: json!({
            "protocol": format!("CT-2026-{:04}", (k / 2) % STREAMS),
            "site": format!("SH-RJ-{:02}", k % 7),
            "subject": format!("SUBJ-{:05}", k % 4_000),
            "visit": format!("Day {}", (k % 12) * 7),
            "form": "adverse_event",
            "term": "细胞因子释放综合征 Cytokine release syndrome",
            "grade": k % 5,
            "serious": k % 9 == 4,
        }),
        actor: format!("user:investigator-{}", k % 40),
        org: "org:ruijin-hospital".to_string(),
        time: "2026-11-23T08:00:00.000Z".to_string(),
        reason: "visit data entry".to_string(),
    }
}

fn bench_backend(c: &mut Criterion, rt: &tokio::runtime::Runtime, b: TestBackend) {
    let mut export = Vec::new();
    rt.block_on(async {
        for a in 0..EVENTS / APPEND {
            let batch = (a * APPEND..(a + 1) * APPEND).map(filing).collect();
            b.store.append(batch).await.unwrap();
        }
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
