//! Chain-of-custody ingest and genealogy at scale, on SQLite and (when
//! CELLTRAIL_TEST_PG_URL is set) PostgreSQL, each in one run:
//!
//! 1. `trace_gen::generate` loads N patients' chains through the ledger
//!    (hash chain, seals, projections, lineage, logger readings);
//! 2. the same number of rows go in as plain INSERTs side by side — the
//!    ledger events pre-chained into `events`, the readings into a scratch
//!    table — and the ingest rate is given as a ratio to them;
//! 3. genealogy queries in both directions from random bags (backward) and
//!    random material lots and donors (forward): p50, p99 and the slowest.
//!
//! `CELLTRAIL_TRACE_PATIENTS` (default 200) and `CELLTRAIL_TRACE_READINGS`
//! (readings per logger file, default 900); 5,500 patients × 1,800
//! readings is ~10 million custody and temperature rows.
//!
//! `CELLTRAIL_TEST_PG_URL=… CELLTRAIL_TRACE_PATIENTS=5500 cargo bench -p celltrail-store --bench trace_ingest`

use std::time::{Duration, Instant};

use celltrail_ledger::{Event, NewEvent, GENESIS_HASH};
use celltrail_store::testkit::{postgres_backend, sqlite_backend, TestBackend};
use celltrail_store::trace::{genealogy, Direction};
use celltrail_store::trace_gen::{generate, GenOptions};
use serde_json::json;

fn env(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// A small deterministic generator for the samples.
fn lcg(x: &mut u64) -> u64 {
    *x = x
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *x >> 33
}

async fn run(b: TestBackend, patients: u32, readings: u32) {
    let s = b.store.as_ref();
    println!("\n== {} ==", b.name);
    let opt = GenOptions {
        patients,
        readings_per_log: readings,
        seed: 1,
    };
    let mut last = Instant::now();
    let report = generate(s, &opt, &mut |done| {
        if last.elapsed() > Duration::from_secs(30) {
            eprintln!("  {done}/{patients} patients");
            last = Instant::now();
        }
    })
    .await
    .expect("generate");
    let rows = report.ledger_events + report.readings;
    println!(
        "ingest: {} patients, {} ledger events + {} readings = {} rows in {:.1} s → {:.0} rows/s",
        patients,
        report.ledger_events,
        report.readings,
        rows,
        report.seconds,
        report.rows_per_second
    );

    // Plain INSERTs of the same number of rows: events with bodies and
    // hashes computed beforehand (500 a transaction, as a stage of the
    // generator commits), readings in the generator's multi-row statements.
    let events: Vec<Event> = {
        let mut out = Vec::with_capacity(report.ledger_events as usize);
        let mut prev = (0u64, GENESIS_HASH.to_string());
        for i in 0..report.ledger_events {
            let e = NewEvent {
                stream: format!("plain:{}", i / 20),
                kind: "trace.step_recorded".into(),
                payload: json!({"batch_id": format!("bat-plain-{i}"), "step": "expansion", "operator_id": "usr-x", "equipment_id": "EQ-1", "lots": ["LOT-1"], "passages": 0}),
                actor: "usr-x".into(),
                org: "org-x".into(),
                time: "2026-05-01T08:00:00.000Z".into(),
                reason: "plain baseline".into(),
            };
            if i % 20 == 0 {
                prev = (0, GENESIS_HASH.to_string());
            }
            let ev = Event::chain(e, prev.0, &prev.1).expect("chain");
            prev = (ev.seq, ev.hash.clone());
            out.push(ev);
        }
        out
    };
    let rows_r: Vec<(String, String, i64)> = (0..report.readings)
        .map(|i| {
            (
                format!("shp-plain-{}", i / u64::from(readings)),
                format!("2026-05-01T{:06}", i % u64::from(readings)),
                -18_500 + (i % 80) as i64,
            )
        })
        .collect();
    let start = Instant::now();
    for chunk in events.chunks(500) {
        b.insert_plain(chunk).await;
    }
    b.insert_plain_readings(&rows_r, 200, (readings as usize) * 50)
        .await;
    let plain = start.elapsed().as_secs_f64();
    let plain_rate = rows as f64 / plain;
    println!(
        "plain INSERT of the same {} rows: {:.1} s → {:.0} rows/s; ingest / plain = {:.2}",
        rows,
        plain,
        plain_rate,
        report.rows_per_second / plain_rate
    );

    // Genealogy: backward from random bags, forward from random lots and
    // donors, each query the nodes and edges both.
    let bags: Vec<String> = s
        .select("SELECT id FROM units WHERE kind = 'final'", vec![])
        .await
        .expect("bags")
        .into_iter()
        .filter_map(|m| m.get("id").and_then(|v| v.as_str()).map(String::from))
        .collect();
    let lots: Vec<String> = s
        .select("SELECT id FROM material_lots", vec![])
        .await
        .expect("lots")
        .into_iter()
        .filter_map(|m| m.get("id").and_then(|v| v.as_str()).map(String::from))
        .collect();
    let donors: Vec<String> = s
        .select("SELECT id FROM trace_people", vec![])
        .await
        .expect("people")
        .into_iter()
        .filter_map(|m| m.get("id").and_then(|v| v.as_str()).map(String::from))
        .collect();
    let full = std::env::args().any(|a| a == "--bench");
    let samples = env("CELLTRAIL_TRACE_QUERIES", if full { 1000 } else { 20 }) as usize;
    let mut x = 42u64;
    for (label, dir, pick) in [
        ("backward from a bag", Direction::Backward, 0),
        ("forward from a material lot", Direction::Forward, 1),
        ("forward from a donor", Direction::Forward, 2),
    ] {
        let mut times = Vec::with_capacity(samples);
        let mut nodes = 0usize;
        for _ in 0..samples {
            let node = match pick {
                0 => format!("unit:{}", bags[lcg(&mut x) as usize % bags.len()]),
                1 => format!("lot:{}", lots[lcg(&mut x) as usize % lots.len()]),
                _ => format!("donor:{}", donors[lcg(&mut x) as usize % donors.len()]),
            };
            let t = Instant::now();
            let g = genealogy(s, &node, dir).await.expect("genealogy");
            times.push(t.elapsed());
            nodes += g.nodes.len();
        }
        times.sort();
        println!(
            "genealogy {label}: {} queries, {:.0} nodes each on average; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            samples,
            nodes as f64 / samples as f64,
            pct(&times, 0.5),
            pct(&times, 0.99),
            pct(&times, 1.0)
        );
    }
}

fn main() {
    // Under `cargo bench` the sizes above; when the test suite runs the
    // bench once to check that it works, a few patients.
    let full = std::env::args().any(|a| a == "--bench");
    let patients = env("CELLTRAIL_TRACE_PATIENTS", if full { 200 } else { 8 });
    let readings = env("CELLTRAIL_TRACE_READINGS", if full { 900 } else { 20 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    // CELLTRAIL_TRACE_BACKENDS=sqlite or =postgres runs one of them.
    let only = std::env::var("CELLTRAIL_TRACE_BACKENDS").unwrap_or_default();
    rt.block_on(async {
        if only.is_empty() || only.contains("sqlite") {
            run(sqlite_backend().await, patients, readings).await;
        }
        if only.is_empty() || only.contains("postgres") {
            if let Some(pg) = postgres_backend().await {
                run(pg, patients, readings).await;
            }
        }
    });
}
