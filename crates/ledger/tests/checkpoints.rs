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
    // Version 1 wrote each body as a JSON string.
    let text: String = String::from_utf8(l.export())
        .expect("utf8")
        .replacen(r#""version":2"#, r#""version":1"#, 1)
        .lines()
        .map(|line| match line.find(r#","body":"#) {
            Some(at) if line.starts_with(r#"{"type":"event""#) => {
                let body = &line[at + 8..line.len() - 1];
                format!("{},\"body\":{}}}\n", &line[..at], serde_json::json!(body))
            }
            _ => format!("{line}\n"),
        })
        .collect();
    assert!(text.contains(r#""body":"{\"actor\""#), "{text}");
    let s = verify_reader(Cursor::new(text.as_bytes())).expect("v1 verifies");
    assert_eq!((s.events, s.seals, s.checkpoints), (2, 1, 0));
    let v3 = text.replacen(r#""version":1"#, r#""version":3"#, 1);
    assert!(verify_reader(Cursor::new(v3.as_bytes())).is_err());
}

#[test]
fn bodies_are_embedded_as_json_and_read_back_byte_for_byte() {
    let l = ledger();
    let text = String::from_utf8(l.export()).expect("utf8");
    let event_line = text
        .lines()
        .find(|line| line.starts_with(r#"{"type":"event""#))
        .expect("an event line");
    // An inspector's JSON tool reads the payload directly.
    let v: serde_json::Value = serde_json::from_str(event_line).expect("json");
    assert_eq!(v["body"]["payload"]["term"], "Cytokine release syndrome");
    assert_eq!(v["body"]["alg"], "sha256");
    // The embedded bytes are the hashed bytes: the line holds the hash of
    // exactly the text between `"body":` and the closing brace.
    let body = &event_line[event_line.find(r#""body":"#).expect("body") + 7..event_line.len() - 1];
    assert_eq!(
        sha256_hex(body.as_bytes()),
        v["hash"].as_str().expect("hash")
    );

    // Reformatting a body (here one space after a colon) is a change.
    let spaced = text.replacen(r#""kind":"ae.reported""#, r#""kind": "ae.reported""#, 1);
    match verify_reader(Cursor::new(spaced)) {
        Err(celltrail_ledger::export::VerifyFileError::Break(b)) => {
            assert_eq!(b.kind, BreakKind::HashMismatch, "{b}")
        }
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
}

#[test]
fn lines_with_members_in_another_order_still_verify() {
    // Another tool may write `type` last; such lines take the slow path.
    let l = ledger();
    let text = String::from_utf8(l.export()).expect("utf8");
    let moved: Vec<String> = text
        .lines()
        .map(|line| {
            let close = line[9..].find('"').expect("type") + 9;
            let kind = &line[9..close];
            format!(
                "{{{},\"type\":\"{kind}\"}}",
                &line[close + 2..line.len() - 1]
            )
        })
        .collect();
    assert!(moved[0].starts_with(r#"{"format":"#), "{}", moved[0]);
    let s = verify_reader(Cursor::new(moved.join("\n"))).expect("verifies");
    assert_eq!((s.events, s.seals, s.checkpoints), (10, 7, 3));
    // And the slow path is as strict: an unknown member in an event line.
    let mut extra = moved.clone();
    let i = extra
        .iter()
        .position(|l| l.ends_with(r#""type":"event"}"#))
        .expect("event");
    extra[i] = extra[i].replacen('{', r#"{"note":"x","#, 1);
    assert!(verify_reader(Cursor::new(extra.join("\n"))).is_err());
}

#[test]
fn a_damaged_body_that_is_not_an_object_travels_as_a_string() {
    // Only a damaged row has such a body; the export still carries it, and
    // verification reports it rather than the file failing to parse.
    use celltrail_ledger::export::{write_line, ExportLine};
    let (a, _) = signers();
    let mut out = Vec::new();
    write_line(&mut out, &ExportLine::header("2026-11-23T00:00:00.000Z")).expect("write");
    write_line(&mut out, &ExportLine::Key(a.public())).expect("write");
    let body = "not json at all \"quoted\"".to_string();
    let line = ExportLine::stored_event(sha256_hex(body.as_bytes()), body);
    write_line(&mut out, &line).expect("write");
    let text = String::from_utf8(out).expect("utf8");
    assert!(
        text.contains(r#""body":"not json at all \"quoted\"""#),
        "{text}"
    );
    match verify_reader(Cursor::new(text)) {
        Err(celltrail_ledger::export::VerifyFileError::Break(b)) => {
            assert_eq!(b.kind, BreakKind::BodyInvalid, "{b}")
        }
        other => panic!("expected an invalid body, got {other:?}"),
    }
}
