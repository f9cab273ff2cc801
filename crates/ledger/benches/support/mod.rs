//! A synthetic ledger shaped like one large institution's, shared by the
//! verification benchmark and the `synthetic_export` example: clinical
//! research filings (about eight payload fields each) in commands of two
//! events over 2,000 streams, sealed as the store seals them (entries of a
//! checkpoint per 1,000 events) or, as a baseline, one signature per stream
//! per append (the export-version-1 way).

use std::collections::HashMap;

use celltrail_ledger::{
    Checkpoint, CheckpointDigest, Event, NewEvent, OrgSigner, Seal, GENESIS_HASH,
};
use serde_json::json;

/// Events per append (one command).
pub const BATCH: u64 = 2;
/// Events per checkpoint.
pub const CHECKPOINT_EVENTS: u64 = 1_000;
pub const STREAMS: u64 = 2_000;
pub const ORG: &str = "org:ruijin-hospital";

pub enum Item {
    Event(Event),
    Seal(Seal),
    Checkpoint(Checkpoint),
}

pub fn signer() -> OrgSigner {
    OrgSigner::from_secret_hex(ORG, &"5a".repeat(32)).expect("key")
}

fn filing(stream: &str, b: u64, k: u64) -> NewEvent {
    NewEvent {
        stream: stream.to_string(),
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
        org: ORG.to_string(),
        time: "2026-11-23T08:00:00.000Z".to_string(),
        reason: "visit data entry".to_string(),
    }
}

/// Hands `events` filings, their seals and checkpoints to `sink` in ledger
/// order; with `checkpoints` false, each seal is signed on its own.
pub fn ledger(signer: &OrgSigner, events: u64, checkpoints: bool, mut sink: impl FnMut(Item)) {
    let mut heads: HashMap<String, (u64, String)> = HashMap::new();
    let (mut n, mut digest) = (1, CheckpointDigest::new());
    let appends = events / BATCH;
    for b in 0..appends {
        let stream = format!("project:prj-{:06}", b % STREAMS);
        let (mut seq, mut hash) = heads
            .get(&stream)
            .cloned()
            .unwrap_or((0, GENESIS_HASH.to_string()));
        let first = seq + 1;
        for i in 0..BATCH {
            let ev = Event::chain(filing(&stream, b, b * BATCH + i), seq, &hash).expect("event");
            seq = ev.seq;
            hash = ev.hash.clone();
            sink(Item::Event(ev));
        }
        if checkpoints {
            let entry = signer.entry(&stream, first, seq, &hash, n);
            digest.add(&entry);
            sink(Item::Seal(entry));
            if ((b + 1) * BATCH).is_multiple_of(CHECKPOINT_EVENTS) || b + 1 == appends {
                sink(Item::Checkpoint(
                    signer.checkpoint(n, std::mem::take(&mut digest)),
                ));
                n += 1;
            }
        } else {
            sink(Item::Seal(signer.seal(&stream, first, seq, &hash)));
        }
        heads.insert(stream, (seq, hash));
    }
}
