//! Verification throughput over a realistic ledger: 100,000 clinical
//! research filings (about eight payload fields each) across 2,000 streams,
//! appended as commands of two events each, as people make them. Sealed
//! the way the store seals (each append's seals are entries of the
//! organisation's next checkpoint, signed every 1,000 events), and, as the
//! baseline in the same run, one signature per stream per append (the
//! export-version-1 way).

use std::collections::HashMap;
use std::hint::black_box;
use std::io::Cursor;
use std::time::Duration;

use celltrail_ledger::export::{verify_reader, write_line, ExportLine};
use celltrail_ledger::{
    Checkpoint, CheckpointDigest, Event, NewEvent, OrgKey, OrgSigner, Seal, Verifier, GENESIS_HASH,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;

const EVENTS: u64 = 100_000;
/// Events per append (one command).
const BATCH: u64 = 2;
/// Events per checkpoint.
const CHECKPOINT_EVENTS: u64 = 1_000;
const STREAMS: u64 = 2_000;
/// The baseline signs every append: a shorter ledger keeps its run short.
const LONE_EVENTS: u64 = 10_000;

enum Item {
    Event { body: String, hash: String },
    Seal(Seal),
    Checkpoint(Checkpoint),
}

fn filing(stream: &str, n: u64) -> NewEvent {
    NewEvent {
        stream: stream.to_string(),
        kind: "crf.submitted".to_string(),
        payload: json!({
            "protocol": "CT-2026-0042",
            "site": format!("DE-BER-{:02}", n % 7),
            "subject": format!("SUBJ-{:05}", n % 4_000),
            "visit": format!("Day {}", (n % 12) * 7),
            "form": "adverse_event",
            "term": "Cytokine release syndrome",
            "grade": n % 5,
            "serious": n % 9 == 4,
        }),
        actor: format!("user:investigator-{}", n % 40),
        org: "org:charite-berlin".to_string(),
        time: "2026-05-01T08:00:00.000Z".to_string(),
        reason: "visit data entry".to_string(),
    }
}

/// `events` filings in appends of [`BATCH`]; with `checkpoints`, sealed as
/// checkpoint entries, else each seal signed alone.
fn ledger(events: u64, checkpoints: bool) -> (OrgKey, Vec<Item>) {
    let signer = OrgSigner::from_secret_hex("org:charite-berlin", &"5a".repeat(32)).expect("key");
    let mut heads: HashMap<String, (u64, String)> = HashMap::new();
    let mut items = Vec::with_capacity((events + events / BATCH) as usize);
    let (mut n, mut digest) = (1, CheckpointDigest::new());
    for b in 0..events / BATCH {
        let stream = format!("study:CT-2026-{:04}", b % STREAMS);
        let (mut seq, mut hash) = heads
            .get(&stream)
            .cloned()
            .unwrap_or((0, GENESIS_HASH.to_string()));
        let first = seq + 1;
        for i in 0..BATCH {
            let ev = Event::chain(filing(&stream, b * BATCH + i), seq, &hash).expect("event");
            seq = ev.seq;
            hash = ev.hash.clone();
            items.push(Item::Event {
                body: ev.body,
                hash: ev.hash,
            });
        }
        if checkpoints {
            let entry = signer.entry(&stream, first, seq, &hash, n);
            digest.add(&entry);
            items.push(Item::Seal(entry));
            if ((b + 1) * BATCH).is_multiple_of(CHECKPOINT_EVENTS) {
                let full = std::mem::take(&mut digest);
                items.push(Item::Checkpoint(signer.checkpoint(n, full)));
                n += 1;
            }
        } else {
            items.push(Item::Seal(signer.seal(&stream, first, seq, &hash)));
        }
        heads.insert(stream, (seq, hash));
    }
    (signer.public(), items)
}

fn verify_items(key: &OrgKey, items: &[Item]) {
    let mut v = Verifier::new();
    v.add_key(key).expect("key");
    for it in items {
        let ok = match it {
            Item::Event { body, hash } => v.event(black_box(body), black_box(hash)),
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
            Item::Event { body, hash } => ExportLine::stored_event(hash.clone(), body.clone()),
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
                if let Item::Event { body, hash } = it {
                    let ok = v.event(black_box(body), black_box(hash)).is_ok();
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
