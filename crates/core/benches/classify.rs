//! Profiles classified per second across every built-in pack: with the
//! packs compiled once (as the server and CLI hold them), against a naive
//! evaluator that reads and compiles the packs again for every profile, in
//! the same run.
//!
//! `cargo bench -p celltrail-core --bench classify`

use std::hint::black_box;
use std::time::Duration;

use celltrail_core::rules::schema::{Kind, FIELDS};
use celltrail_core::rules::{builtin_sources, Engine, Profile};
use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};

/// `n` varied profiles: every field answered from a fixed pseudo-random
/// sequence, one in eight left unanswered.
fn profiles(n: usize) -> Vec<Profile> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| {
            let mut m = serde_json::Map::new();
            for f in FIELDS {
                let r = next();
                if r % 8 == 0 {
                    continue;
                }
                let v: Value = match f.kind {
                    Kind::Enum(vs) => json!(vs[(r >> 8) as usize % vs.len()]),
                    _ => json!((r >> 8) & 1 == 1),
                };
                m.insert(f.name.to_string(), v);
            }
            Profile::from_json(&Value::Object(m)).expect("valid")
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
    let engine = Engine::compile(&builtin_sources()).expect("packs");
    let many = profiles(1_000);
    let few = profiles(50);

    let mut g = c.benchmark_group("classify");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(many.len() as u64));
    g.bench_function("compiled_once", |b| {
        b.iter(|| {
            for p in &many {
                black_box(engine.evaluate(black_box(p), as_of, None));
            }
        })
    });
    g.bench_function("compiled_once_with_json_report", |b| {
        b.iter(|| {
            for p in &many {
                black_box(engine.report_json(&engine.evaluate(black_box(p), as_of, None)));
            }
        })
    });
    g.bench_function("compiled_once_with_json_bytes", |b| {
        b.iter(|| {
            for p in &many {
                black_box(engine.report_bytes(&engine.evaluate(black_box(p), as_of, None)));
            }
        })
    });
    g.throughput(Throughput::Elements(few.len() as u64));
    g.bench_function("naive_reread_per_call", |b| {
        b.iter(|| {
            for p in &few {
                let e = Engine::compile(&builtin_sources()).expect("packs");
                black_box(e.evaluate(black_box(p), as_of, None));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
