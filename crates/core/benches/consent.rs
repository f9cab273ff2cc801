//! The consent check (target: at least 1,000,000 checks per second in
//! process) and a consent-filtered export of 1,000,000 subject records
//! against the same export unfiltered, side by side in one run (target: at
//! most 1.5 times).
//!
//! `cargo bench -p celltrail-core --bench consent`

use celltrail_core::consent::{write_csv_row, Change, ConsentIndex, Gate, Scope, Scopes, Timeline};
use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

/// A million under `cargo bench`; a small run when the test suite runs the
/// bench once to check it works.
fn n() -> usize {
    if std::env::args().any(|a| a == "--bench") {
        1_000_000
    } else {
        10_000
    }
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

/// A synthetic study: every subject consents to everything on one of 365
/// days of 2026; one in 20 later withdraws study data, one in 10 genetic
/// analysis.
fn subjects(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let signed = d(2026, 1, 1) + chrono::Duration::days((i % 365) as i64);
            let mut t = Timeline::entry(signed, Change::Grant(Scopes::all()));
            if i % 20 == 7 {
                t.push_str(&Timeline::entry(
                    signed + chrono::Duration::days(30),
                    Change::Withdraw(Scopes::NONE.with(Scope::StudyData)),
                ));
            }
            if i % 10 == 3 {
                t.push_str(&Timeline::entry(
                    signed + chrono::Duration::days(10),
                    Change::Withdraw(Scopes::NONE.with(Scope::GeneticAnalysis)),
                ));
            }
            (
                format!(
                    "sbj-{:016x}",
                    (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ),
                t,
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let n = n();
    let rows = subjects(n);
    let mut ix = ConsentIndex::with_capacity(n);
    for (id, t) in &rows {
        ix.insert(id, Timeline::parse(t).unwrap());
    }
    // Look subjects up in an order unrelated to insertion.
    let probe: Vec<&str> = (0..n).map(|i| rows[(i * 7_919) % n].0.as_str()).collect();
    let on = d(2027, 1, 1);

    let mut g = c.benchmark_group("consent");
    g.sample_size(10).measurement_time(Duration::from_secs(6));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("check_1m", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for s in &probe {
                n += ix.check(s, Scope::StudyData, on) as usize;
            }
            black_box(n)
        })
    });

    // Exports of one million records: the same CSV rows, written from the
    // stored form (id, site, date, compact timeline), with and without the
    // consent check in front of each.
    let site = "org-site-0001";
    let enrolled = "2026-01-01";
    let mut out = Vec::with_capacity(n * 64);
    g.bench_function("export_unfiltered_1m", |b| {
        b.iter(|| {
            out.clear();
            for (id, t) in &rows {
                write_csv_row(&mut out, &[id, site, enrolled, t]);
            }
            black_box(out.len())
        })
    });
    g.bench_function("export_filtered_1m", |b| {
        b.iter(|| {
            out.clear();
            let gate = Gate::new(Scope::StudyData, on);
            for (id, t) in &rows {
                if gate.permits_compact(t).unwrap() {
                    write_csv_row(&mut out, &[id, site, enrolled, t]);
                }
            }
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
