//! Verification throughput over a realistic ledger (see `support`): 100,000
//! clinical research filings across 2,000 streams, appended as commands of
//! two events each, as people make them. Sealed the way the store seals
//! (each append's seal is an entry of the organisation's next checkpoint,
//! signed every 1,000 events), and, as the baseline in the same run, one
//! signature per stream per append (the export-version-1 way).

mod support;

use std::hint::black_box;
use std::io::Cursor;
use std::time::Duration;

use celltrail_ledger::export::{verify_reader, write_line, ExportLine};
use celltrail_ledger::{OrgKey, Verifier};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use support::Item;

const EVENTS: u64 = 100_000;
/// The baseline signs every append: a shorter ledger keeps its run short.
const LONE_EVENTS: u64 = 10_000;

fn ledger(events: u64, checkpoints: bool) -> (OrgKey, Vec<Item>) {
    let signer = support::signer();
    let mut items = Vec::with_capacity((events + events / support::BATCH) as usize);
    support::ledger(&signer, events, checkpoints, |it| items.push(it));
    (signer.public(), items)
}

fn verify_items(key: &OrgKey, items: &[Item]) {
    let mut v = Verifier::new();
    v.add_key(key).expect("key");
    for it in items {
        let ok = match it {
            Item::Event(e) => v.event(black_box(&e.body), black_box(&e.hash)),
            Item::Seal(s) => v.seal(s),
            Item::Checkpoint(c) => v.checkpoint(c),
        }
        .is_ok();
        assert!(ok);
    }
    black_box(v.finish().expect("intact"));
}

fn bench(c: &mut Criterion) {
    let (key, items) = ledger(EVENTS, true);
    let (lone_key, lone_items) = ledger(LONE_EVENTS, false);
    let mut export = Vec::new();
    write_line(&mut export, &ExportLine::header("2026-05-01T08:00:00.000Z")).expect("write");
    write_line(&mut export, &ExportLine::Key(key.clone())).expect("write");
    for it in &items {
        let line = match it {
            Item::Event(e) => ExportLine::event(e),
            Item::Seal(s) => ExportLine::Seal(s.clone()),
            Item::Checkpoint(c) => ExportLine::Checkpoint(c.clone()),
        };
        write_line(&mut export, &line).expect("write");
    }

    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(EVENTS));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));

    // The hot path alone: Verifier::event over every event.
    g.bench_function("verifier_event", |b| {
        b.iter(|| {
            let mut v = Verifier::new();
            for it in &items {
                if let Item::Event(e) = it {
                    let ok = v.event(black_box(&e.body), black_box(&e.hash)).is_ok();
                    assert!(ok);
                }
            }
            black_box(v.summary())
        })
    });

    // Events, 50,000 checkpoint entries, 100 checkpoint signatures, finish().
    g.bench_function("verifier_checkpointed", |b| {
        b.iter(|| verify_items(&key, &items))
    });

    // An inspector's run over the NDJSON export, parsing included.
    g.bench_function("verify_reader_export", |b| {
        b.iter(|| black_box(verify_reader(Cursor::new(&export)).expect("intact")))
    });
    g.finish();

    // The baseline: one signature per stream per append.
    let mut g = c.benchmark_group("verify_lone_seals");
    g.throughput(Throughput::Elements(LONE_EVENTS));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("verifier_lone_seals", |b| {
        b.iter(|| verify_items(&lone_key, &lone_items))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
