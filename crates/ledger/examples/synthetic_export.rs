//! Writes a synthetic export shaped like one large institution's ledger, for
//! whole-command benchmarks of `celltrail ledger verify --file`:
//! clinical-research filings (about eight payload fields each) in commands
//! of two events over 2,000 streams, sealed as the store seals them (one
//! checkpoint per 1,000 events).
//!
//!   cargo run --release -p celltrail-ledger --example synthetic_export -- OUT [EVENTS]

use std::collections::HashMap;
use std::io::{BufWriter, Write};

use celltrail_ledger::export::{write_line, ExportLine};
use celltrail_ledger::{CheckpointDigest, Event, NewEvent, OrgSigner, GENESIS_HASH};
use serde_json::json;

const BATCH: u64 = 2;
const CHECKPOINT_EVENTS: u64 = 1_000;
const STREAMS: u64 = 2_000;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = args.next().expect("usage: synthetic_export OUT [EVENTS]");
    let events: u64 = args.next().map_or(200_000, |n| n.parse().expect("EVENTS"));
    let org = "org:ruijin-hospital";
    let signer = OrgSigner::from_secret_hex(org, &"5a".repeat(32)).expect("key");
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&out)?);
    write_line(&mut w, &ExportLine::header("2026-11-23T00:00:00.000Z"))?;
    write_line(&mut w, &ExportLine::Key(signer.public()))?;
    let mut heads: HashMap<String, (u64, String)> = HashMap::new();
    let (mut n, mut digest) = (1, CheckpointDigest::new());
    for b in 0..events / BATCH {
        let stream = format!("project:prj-{:06}", b % STREAMS);
        let (mut seq, mut hash) = heads
            .get(&stream)
            .cloned()
            .unwrap_or((0, GENESIS_HASH.to_string()));
        let first = seq + 1;
        for i in 0..BATCH {
            let k = b * BATCH + i;
            let ne = NewEvent {
                stream: stream.clone(),
                kind: "crf.submitted".to_string(),
                payload: json!({
                    "protocol": format!("CT-2026-{:04}", b % STREAMS),
                    "site": format!("SH-RJ-{:02}", k % 7),
                    "subject": format!("SUBJ-{:05}", k % 4_000),
                    "visit": format!("Day {}", (k % 12) * 7),
                    "form": "adverse_event",
                    "term": "细胞因子释放综合征 Cytokine release syndrome",
                    "grade": k % 5,
                    "serious": k % 9 == 4,
                }),
                actor: format!("user:investigator-{}", k % 40),
                org: org.to_string(),
                time: "2026-11-23T08:00:00.000Z".to_string(),
                reason: "visit data entry".to_string(),
            };
            let ev = Event::chain(ne, seq, &hash).expect("event");
            seq = ev.seq;
            hash = ev.hash.clone();
            write_line(&mut w, &ExportLine::event(&ev))?;
        }
        let entry = signer.entry(&stream, first, seq, &hash, n);
        digest.add(&entry);
        write_line(&mut w, &ExportLine::Seal(entry))?;
        if ((b + 1) * BATCH).is_multiple_of(CHECKPOINT_EVENTS) || b + 1 == events / BATCH {
            let full = std::mem::take(&mut digest);
            write_line(&mut w, &ExportLine::Checkpoint(signer.checkpoint(n, full)))?;
            n += 1;
        }
        heads.insert(stream, (seq, hash));
    }
    w.flush()
}
