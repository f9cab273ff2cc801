//! Property tests: honest ledgers always verify (in memory and through an
//! export), any flipped byte is caught at the right event, and the export
//! reader survives arbitrary input.

mod common;

use std::io::Cursor;

use celltrail_ledger::export::verify_reader;
use celltrail_ledger::{BreakKind, NewEvent, OrgSigner, Summary, Verifier};
use common::{Item, Ledger};
use proptest::prelude::*;
use serde_json::{json, Value};

const STREAMS: [&str; 4] = ["study:42", "study:43", "site:\"berlin\"", "consent:s-01/ü"];
const ORGS: [&str; 2] = ["org:berlin", "org:shanghai"];

fn payload() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(1i64 << 53)..=(1i64 << 53)).prop_map(|i| json!(i)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}|\\PC{1,4}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// How an append is sealed.
#[derive(Clone, Copy, Debug)]
enum Sealing {
    /// One signature per stream touched (export version 1).
    Alone,
    /// Entries of the org's open checkpoint, left open.
    Entry,
    /// Entries of the org's open checkpoint, which is then signed.
    EntryThenCheckpoint,
}

type Batch = (usize, Sealing, Vec<(usize, Value)>);

/// Batches of appends: (signing org, sealing, [(stream, payload)]).
fn batches() -> impl Strategy<Value = Vec<Batch>> {
    let sealing = prop_oneof![
        Just(Sealing::Alone),
        Just(Sealing::Entry),
        Just(Sealing::EntryThenCheckpoint)
    ];
    prop::collection::vec(
        (
            0..ORGS.len(),
            sealing,
            prop::collection::vec((0..STREAMS.len(), payload()), 1..6),
        ),
        1..6,
    )
}

/// The ledger the batches make, every open checkpoint signed at the end
/// (as the store does before it exports).
fn build(batches: &[Batch]) -> Ledger {
    let signers: Vec<OrgSigner> = ORGS
        .iter()
        .enumerate()
        .map(|(i, org)| {
            OrgSigner::from_secret_hex(org, &format!("{:02x}", i + 1).repeat(32)).expect("key")
        })
        .collect();
    let mut l = Ledger::new(signers.iter().map(OrgSigner::public).collect());
    for (org, sealing, events) in batches {
        let batch = events
            .iter()
            .map(|(s, p)| NewEvent {
                stream: STREAMS[*s].to_string(),
                kind: "record.updated".to_string(),
                payload: p.clone(),
                actor: "user:alice".to_string(),
                org: ORGS[*org].to_string(),
                time: "2026-05-01T08:00:00.000Z".to_string(),
                reason: "correction".to_string(),
            })
            .collect();
        match sealing {
            Sealing::Alone => l.append(&signers[*org], batch),
            Sealing::Entry => l.append_pending(&signers[*org], batch),
            Sealing::EntryThenCheckpoint => {
                l.append_pending(&signers[*org], batch);
                l.checkpoint(&signers[*org]);
            }
        }
    }
    for signer in &signers {
        l.checkpoint(signer);
    }
    l
}

fn expected_summary(l: &Ledger) -> Summary {
    let mut streams = std::collections::HashSet::new();
    let mut s = Summary::default();
    for it in &l.items {
        match it {
            Item::Event(e) => {
                s.events += 1;
                streams.insert(e.stream.clone());
            }
            Item::Seal(_) => s.seals += 1,
            Item::Checkpoint(_) => s.checkpoints += 1,
        }
    }
    s.streams = streams.len() as u64;
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn honest_ledgers_verify(batches in batches()) {
        let l = build(&batches);
        let expected = expected_summary(&l);
        prop_assert_eq!(l.verify().expect("in memory"), expected.clone());
        let from_file = verify_reader(Cursor::new(l.export()));
        prop_assert_eq!(from_file.expect("export"), expected);
    }

    #[test]
    fn any_flipped_body_byte_is_caught_at_that_event(
        batches in batches(),
        which in any::<prop::sample::Index>(),
        offset in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let mut l = build(&batches);
        let event_positions: Vec<usize> = l.items.iter().enumerate()
            .filter_map(|(i, it)| matches!(it, Item::Event(_)).then_some(i))
            .collect();
        let target = event_positions[which.index(event_positions.len())];
        let Item::Event(ev) = &mut l.items[target] else { unreachable!() };
        let original = ev.clone();
        let at = offset.index(ev.body.len());
        let mut bytes = ev.body.clone().into_bytes();
        bytes[at] ^= mask;
        // Bytes that no longer form UTF-8 cannot be a &str body; the export
        // reader refuses them (see the file-level property below).
        let Ok(tampered) = String::from_utf8(bytes) else { return Ok(()) };
        ev.body = tampered;

        let mut v = Verifier::new();
        for k in &l.keys {
            v.add_key(k).expect("key");
        }
        let mut failed_at = None;
        for (i, it) in l.items.iter().enumerate() {
            if let Err(b) = common::feed_one(&mut v, it) {
                failed_at = Some((i, b));
                break;
            }
        }
        let (i, b) = failed_at.expect("a flipped byte must be detected");
        prop_assert_eq!(i, target);
        prop_assert_eq!(b.kind, BreakKind::HashMismatch);
        // Flips before the trailing seq/stream members still name the event.
        let tail = original.body.rfind(",\"seq\":").expect("seq member");
        if at < tail {
            prop_assert_eq!(b.stream, original.stream);
            prop_assert_eq!(b.seq, original.seq);
        }
    }

    #[test]
    fn any_flipped_byte_in_event_seal_or_checkpoint_lines_of_an_export_is_caught(
        batches in batches(),
        offset in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let l = build(&batches);
        let mut file = l.export();
        // Skip the header and key lines: the header's timestamp is not
        // signed, and keys vouch only for themselves.
        let skip = 1 + l.keys.len();
        let start = file.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(skip - 1)
            .map(|(i, _)| i + 1).expect("lines");
        let at = start + offset.index(file.len() - start - 1);
        file[at] ^= mask;
        prop_assert!(verify_reader(Cursor::new(file)).is_err());
    }

    #[test]
    fn export_reader_survives_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = verify_reader(Cursor::new(bytes));
    }

    #[test]
    fn export_reader_survives_plausible_lines(
        lines in prop::collection::vec(
            prop_oneof![
                Just(r#"{"type":"header","format":"celltrail-ledger-export","version":1,"exported_at":"x"}"#.to_string()),
                Just(r#"{"type":"event","hash":"00","body":"{}"}"#.to_string()),
                Just(r#"{"type":"seal","stream":"s","first_seq":1,"last_seq":18446744073709551615,"last_hash":"","org":"o","key_id":"k","alg":"ed25519","signature":""}"#.to_string()),
                Just(r#"{"type":"seal","stream":"s","first_seq":1,"last_seq":1,"last_hash":"","org":"o","key_id":"k","alg":"ed25519","checkpoint":1}"#.to_string()),
                Just(r#"{"type":"checkpoint","org":"o","n":1,"key_id":"k","alg":"ed25519","seals":18446744073709551615,"digest":"","signature":""}"#.to_string()),
                Just(r#"{"type":"key","org":"o","key_id":"k","alg":"ed25519","public_key":"0000000000000000000000000000000000000000000000000000000000000000"}"#.to_string()),
                "\\PC{0,40}",
                "\\{\"type\":\"(event|seal|checkpoint|key|header)\"[ -~]{0,60}\\}",
            ],
            0..12,
        )
    ) {
        let _ = verify_reader(Cursor::new(lines.join("\n")));
    }

    #[test]
    fn verifier_survives_arbitrary_events_seals_and_checkpoints(
        body in "\\PC{0,200}",
        hash in "[0-9a-f]{0,70}",
        first in any::<u64>(),
        last in any::<u64>(),
        n in any::<u64>(),
        seals in any::<u64>(),
    ) {
        let mut v = Verifier::new();
        let _ = v.event(&body, &hash);
        let body_hash = celltrail_ledger::sha256_hex(body.as_bytes());
        let _ = v.event(&body, &body_hash);
        let seal = celltrail_ledger::Seal {
            stream: body.clone(), first_seq: first, last_seq: last, last_hash: hash.clone(),
            org: "o".into(), key_id: "k".into(), alg: "ed25519".into(),
            signature: Some(hash.clone()), checkpoint: None,
        };
        let _ = v.seal(&seal);
        let entry = celltrail_ledger::Seal { signature: None, checkpoint: Some(n), ..seal };
        let _ = v.seal(&entry);
        let cp = celltrail_ledger::Checkpoint {
            org: "o".into(), n, key_id: "k".into(), alg: "ed25519".into(), seals,
            digest: hash.clone(), signature: hash,
        };
        let _ = v.checkpoint(&cp);
        let _ = v.finish();
    }
}
