//! Seal entries signed by checkpoints: an honest mixed ledger verifies, and
//! tampering with entries or checkpoints is reported at the right place.

mod common;

use std::io::Cursor;

use celltrail_ledger::export::verify_reader;
use celltrail_ledger::{
    checkpoint_message, sha256_hex, Break, BreakKind, Checkpoint, OrgSigner, Summary,
};
use common::{filing, Item, Ledger};
use ed25519_dalek::Signer;

const A: &str = "org:ruijin";
const B: &str = "org:nmpa";

fn signers() -> (OrgSigner, OrgSigner) {
    (
        OrgSigner::from_secret_hex(A, &"41".repeat(32)).expect("key"),
        OrgSigner::from_secret_hex(B, &"42".repeat(32)).expect("key"),
    )
}

/// Two organisations appending to shared streams, their checkpoints
/// interleaved with each other and with a lone-signed seal:
/// A: study:1 1..=2, site:1 1, study:1 3 → checkpoint A#1 (3 entries);
/// B: study:1 4 (lone seal); B: study:2 1..=2 → checkpoint B#1 (1 entry);
/// A: study:2 3, study:1 5..=6 → checkpoint A#2 (2 entries).
fn ledger() -> Ledger {
    let (a, b) = signers();
    let mut l = Ledger::new(vec![a.public(), b.public()]);
    l.append_pending(&a, vec![filing("study:1", A, 1), filing("study:1", A, 2)]);
    l.append_pending(&a, vec![filing("site:1", A, 3)]);
    l.append_pending(&a, vec![filing("study:1", A, 4)]);
    assert_eq!(l.checkpoint(&a), Some(1));
    l.append(&b, vec![filing("study:1", B, 5)]);
    l.append_pending(&b, vec![filing("study:2", B, 6), filing("study:2", B, 7)]);
    assert_eq!(l.checkpoint(&b), Some(1));
    l.append_pending(&a, vec![filing("study:2", A, 8)]);
    l.append_pending(&a, vec![filing("study:1", A, 9), filing("study:1", A, 10)]);
    assert_eq!(l.checkpoint(&a), Some(2));
    l
}

fn broken(l: &Ledger) -> Break {
    l.verify().expect_err("tampering must be detected")
}

fn assert_break(b: &Break, stream: &str, seq: u64, kind: BreakKind) {
    assert_eq!(
        (b.stream.as_str(), b.seq, b.kind),
        (stream, seq, kind),
        "{b}"
    );
}

fn checkpoint_mut<'a>(l: &'a mut Ledger, org: &str, n: u64) -> &'a mut Checkpoint {
    l.items
        .iter_mut()
        .find_map(|it| match it {
            Item::Checkpoint(c) if c.org == org && c.n == n => Some(c),
            _ => None,
        })
        .expect("checkpoint exists")
}

fn checkpoint_pos(l: &Ledger, org: &str, n: u64) -> usize {
    l.items
        .iter()
        .position(|it| matches!(it, Item::Checkpoint(c) if c.org == org && c.n == n))
        .expect("checkpoint exists")
}

#[test]
fn mixed_ledger_verifies_in_memory_and_from_an_export() {
    let l = ledger();
    let expected = Summary {
        streams: 3,
        events: 10,
        seals: 7,
        checkpoints: 3,
        pending: 0,
    };
    assert_eq!(l.verify().expect("intact"), expected);
    let file = l.export();
    let text = String::from_utf8(file.clone()).expect("utf8");
    assert!(text.starts_with(r#"{"type":"header","format":"celltrail-ledger-export","version":2,"#));
    assert_eq!(text.matches(r#""type":"checkpoint""#).count(), 3);
    assert_eq!(verify_reader(Cursor::new(file)).expect("export"), expected);
}

#[test]
fn checkpoint_message_is_canonical_json() {
    // RFC 8785: members sorted by name, no whitespace, integers as written.
    let msg = checkpoint_message("org:\"x\"", 7, "0123456789abcdef", 3, &"ab".repeat(32));
    let text = String::from_utf8(msg).expect("utf8");
    assert_eq!(
        text,
        format!(
            r#"{{"alg":"ed25519","digest":"{}","key_id":"0123456789abcdef","n":7,"org":"org:\"x\"","seals":3}}"#,
            "ab".repeat(32)
        )
    );
}

#[test]
fn a_missing_checkpoint_leaves_its_entries_unsigned() {
    let mut l = ledger();
    let i = checkpoint_pos(&l, A, 2);
    l.items.remove(i);
    // Reported at the first entry that waits for the signature.
    assert_break(&broken(&l), "study:2", 3, BreakKind::Unsealed);
    // A live database may hold such entries for a moment: finish_pending
    // counts them instead.
    let (a, b) = signers();
    let v = common::feed(&[a.public(), b.public()], &l.items).expect("fed");
    let s = v.finish_pending().expect("pending allowed");
    assert_eq!((s.seals, s.checkpoints, s.pending), (5, 2, 2));
}

#[test]
fn a_forged_checkpoint_signature_is_caught() {
    let mut l = ledger();
    let cp = checkpoint_mut(&mut l, A, 1);
    let forger = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let msg = checkpoint_message(&cp.org, cp.n, &cp.key_id, cp.seals, &cp.digest);
    cp.signature = hex::encode(forger.sign(&msg).to_bytes());
    // Reported at the last entry the checkpoint signs.
    assert_break(&broken(&l), "study:1", 3, BreakKind::SealSignatureInvalid);
}

#[test]
fn an_altered_entry_no_longer_matches_its_checkpoint() {
    // Moving where an entry says its batch starts keeps the chain checks
    // happy only if the rest agrees; here the first_seq claims 1..=3 after
    // 1..=2 was sealed, so the entry itself is out of order.
    let mut l = ledger();
    l.seal_mut("study:1", 3).first_seq = 1;
    assert_break(&broken(&l), "study:1", 3, BreakKind::SealOutOfOrder);

    // A rewritten entry hash is caught at the entry.
    let mut l = ledger();
    l.seal_mut("site:1", 1).last_hash = sha256_hex(b"another event");
    assert_break(&broken(&l), "site:1", 1, BreakKind::SealHashMismatch);
}

#[test]
fn a_rechained_tail_with_a_fresh_entry_fails_the_digest() {
    // A forger without A's key rewrites study:1 seq 6 and its entry: the
    // chain and the entry agree, but checkpoint A#2 signed other bytes.
    let mut l = ledger();
    let prev = l.event_mut("study:1", 5).hash.clone();
    let ev = l.event_mut("study:1", 6);
    let mut forged = ev.to_new();
    forged.reason = "back-dated correction".into();
    *ev = celltrail_ledger::Event::chain(forged, 5, &prev).expect("event");
    let new_hash = ev.hash.clone();
    l.seal_mut("study:1", 6).last_hash = new_hash;
    assert_break(&broken(&l), "study:1", 6, BreakKind::SealHashMismatch);
}

#[test]
fn checkpoint_count_number_and_key_are_checked() {
    let mut l = ledger();
    checkpoint_mut(&mut l, B, 1).seals = 2;
    assert_break(&broken(&l), "study:2", 2, BreakKind::SealHashMismatch);

    // A checkpoint renumbered: its entries belong to another number.
    let mut l = ledger();
    checkpoint_mut(&mut l, A, 1).n = 2;
    assert_break(
        &broken(&l),
        "checkpoint org:ruijin#2",
        0,
        BreakKind::SealOutOfOrder,
    );

    // An entry claiming a later checkpoint than the org's next one.
    let mut l = ledger();
    l.seal_mut("site:1", 1).checkpoint = Some(3);
    assert_break(&broken(&l), "site:1", 1, BreakKind::SealOutOfOrder);

    // Signed with the other organisation's key under A's name.
    let mut l = ledger();
    let (_, b) = signers();
    let cp = checkpoint_mut(&mut l, A, 1);
    cp.key_id = b.key_id().to_string();
    assert_break(&broken(&l), "study:1", 3, BreakKind::SealUnknownKey);
}

#[test]
fn a_seal_carries_a_signature_or_a_checkpoint_not_both_nor_neither() {
    let mut l = ledger();
    let s = l.seal_mut("study:1", 4);
    s.checkpoint = Some(1);
    assert_break(&broken(&l), "study:1", 4, BreakKind::SealSignatureInvalid);

    let mut l = ledger();
    l.seal_mut("study:1", 2).checkpoint = None;
    assert_break(&broken(&l), "study:1", 2, BreakKind::SealSignatureInvalid);
}

#[test]
fn version_1_exports_still_verify() {
    // An export written before checkpoints existed: header version 1, seals
    // signed one by one.
    let (a, _) = signers();
    let mut l = Ledger::new(vec![a.public()]);
    l.append(&a, vec![filing("study:9", A, 1), filing("study:9", A, 2)]);
    let text = String::from_utf8(l.export()).expect("utf8").replacen(
        r#""version":2"#,
        r#""version":1"#,
        1,
    );
    let s = verify_reader(Cursor::new(text.as_bytes())).expect("v1 verifies");
    assert_eq!((s.events, s.seals, s.checkpoints), (2, 1, 0));
    let v3 = text.replacen(r#""version":1"#, r#""version":3"#, 1);
    assert!(verify_reader(Cursor::new(v3.as_bytes())).is_err());
}
