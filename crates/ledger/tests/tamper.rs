//! Tampering with a sealed multi-stream ledger is detected at the right
//! stream and sequence number.

mod common;

use std::io::Cursor;

use celltrail_ledger::export::{verify_reader, verify_reader_with_keys, VerifyFileError};
use celltrail_ledger::{
    seal_message, sha256_hex, Break, BreakKind, OrgKey, OrgSigner, Summary, Verifier,
};
use common::{filing, rechain, Item, Ledger};
use ed25519_dalek::Signer;

const A: &str = "org:berlin";
const B: &str = "org:shanghai";

fn signers() -> (OrgSigner, OrgSigner) {
    (
        OrgSigner::from_secret_hex(A, &"11".repeat(32)).expect("key"),
        OrgSigner::from_secret_hex(B, &"22".repeat(32)).expect("key"),
    )
}

/// Three streams, four batches, two organisations:
/// study:42 1..=3 (A), 4..=6 (A), 7..=8 (B);
/// site:berlin 1..=2 (A); study:43 1..=4 (B), 5..=6 (A).
fn ledger() -> Ledger {
    let (a, b) = signers();
    let mut l = Ledger::new(vec![a.public(), b.public()]);
    l.append(
        &a,
        vec![
            filing("study:42", A, 1),
            filing("site:berlin", A, 2),
            filing("study:42", A, 3),
            filing("site:berlin", A, 4),
            filing("study:42", A, 5),
        ],
    );
    l.append(&b, (0..4).map(|i| filing("study:43", B, 10 + i)).collect());
    l.append(
        &a,
        vec![
            filing("study:43", A, 20),
            filing("study:42", A, 21),
            filing("study:42", A, 22),
            filing("study:43", A, 23),
            filing("study:42", A, 24),
        ],
    );
    l.append(
        &b,
        vec![filing("study:42", B, 30), filing("study:42", B, 31)],
    );
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

#[test]
fn intact_ledger_verifies() {
    let l = ledger();
    let expected = Summary {
        streams: 3,
        events: 16,
        seals: 6,
        ..Summary::default()
    };
    assert_eq!(l.verify().expect("intact"), expected);
    assert_eq!(
        verify_reader(Cursor::new(l.export())).expect("intact export"),
        expected
    );
    let (a, b) = signers();
    let trusted = [a.public(), b.public()];
    assert_eq!(
        verify_reader_with_keys(Cursor::new(l.export()), &trusted).expect("trusted"),
        expected
    );
}

#[test]
fn changed_byte_in_body_is_a_hash_mismatch() {
    let mut l = ledger();
    let ev = l.event_mut("study:42", 5);
    let at = ev.body.find("Cytokine").expect("payload text") + 1;
    let mut bytes = ev.body.clone().into_bytes();
    bytes[at] = b'Y';
    ev.body = String::from_utf8(bytes).expect("ascii edit");
    assert_break(&broken(&l), "study:42", 5, BreakKind::HashMismatch);
}

#[test]
fn changed_byte_that_breaks_the_json_is_still_located() {
    let mut l = ledger();
    let ev = l.event_mut("study:43", 2);
    ev.body = ev.body.replacen("\"grade\":", "\"grade\"!", 1);
    assert_break(&broken(&l), "study:43", 2, BreakKind::HashMismatch);
}

#[test]
fn deleted_middle_event_is_a_sequence_gap() {
    let mut l = ledger();
    let i = l.pos("study:42", 2);
    l.items.remove(i);
    assert_break(&broken(&l), "study:42", 2, BreakKind::SequenceGap);

    let mut l = ledger();
    let i = l.pos("study:43", 5);
    l.items.remove(i);
    assert_break(&broken(&l), "study:43", 5, BreakKind::SequenceGap);
}

#[test]
fn deleted_first_event_is_a_sequence_gap() {
    let mut l = ledger();
    let i = l.pos("site:berlin", 1);
    l.items.remove(i);
    assert_break(&broken(&l), "site:berlin", 1, BreakKind::SequenceGap);
}

#[test]
fn deleted_last_event_of_a_stream_is_a_seal_out_of_order() {
    let mut l = ledger();
    let i = l.pos("study:42", 8);
    l.items.remove(i);
    assert_break(&broken(&l), "study:42", 8, BreakKind::SealOutOfOrder);

    let mut l = ledger();
    let i = l.pos("site:berlin", 2);
    l.items.remove(i);
    assert_break(&broken(&l), "site:berlin", 2, BreakKind::SealOutOfOrder);
}

#[test]
fn deleted_last_event_of_a_batch_is_a_seal_out_of_order() {
    let mut l = ledger();
    let i = l.pos("study:42", 6);
    l.items.remove(i);
    assert_break(&broken(&l), "study:42", 6, BreakKind::SealOutOfOrder);
}

#[test]
fn swapped_adjacent_events_break_at_the_first_displaced_seq() {
    let mut l = ledger();
    let (i, j) = (l.pos("study:43", 2), l.pos("study:43", 3));
    assert_eq!(j, i + 1, "adjacent in the ledger");
    l.items.swap(i, j);
    assert_break(&broken(&l), "study:43", 2, BreakKind::SequenceGap);

    // Swapping two events of different streams changes nothing a verifier
    // may rely on: streams are independent chains.
    let mut l = ledger();
    let (i, j) = (l.pos("study:42", 1), l.pos("site:berlin", 1));
    l.items.swap(i, j);
    assert!(l.verify().is_ok());
}

#[test]
fn inserted_forged_event_with_recomputed_hash_breaks_the_chain() {
    // The forger inserts a new seq 3, correctly linked to seq 2 and hashed,
    // and renumbers (and re-hashes) the events after it; the original seq 3,
    // now seq 4, still points at seq 2.
    let mut l = ledger();
    let prev = l.event_mut("study:42", 2).hash.clone();
    let mut forged_new = l.event_mut("study:42", 2).to_new();
    forged_new.payload = serde_json::json!({"subject": "SUBJ-99999", "note": "backdated"});
    let forged = celltrail_ledger::Event::chain(forged_new, 2, &prev).expect("forge");
    let mut renumbered = Vec::new();
    for it in &l.items {
        match it {
            Item::Event(e) if e.stream == "study:42" && e.seq >= 3 => {
                renumbered.push(Item::Event(rechain(e, e.seq + 1, &e.prev_hash)));
            }
            other => renumbered.push(other.clone()),
        }
    }
    l.items = renumbered;
    let i = l.pos("study:42", 4);
    l.items.insert(i, Item::Event(forged));
    assert_break(&broken(&l), "study:42", 4, BreakKind::ChainBroken);
}

#[test]
fn rewritten_event_with_recomputed_hash_breaks_the_chain() {
    let mut l = ledger();
    let ev = l.event_mut("study:43", 3);
    let mut new = ev.to_new();
    new.payload["grade"] = serde_json::json!(0);
    *ev = celltrail_ledger::Event::chain(new, 2, &ev.prev_hash.clone()).expect("forge");
    assert_break(&broken(&l), "study:43", 4, BreakKind::ChainBroken);
}

#[test]
fn rewritten_and_rechained_tail_fails_the_seal() {
    // Re-chaining everything after the edit keeps the chain consistent, but
    // the batch's seal no longer matches its last hash.
    let mut l = ledger();
    let mut prev = l.event_mut("study:42", 1).hash.clone();
    for seq in 2..=8 {
        let ev = l.event_mut("study:42", seq);
        let mut new = ev.to_new();
        if seq == 2 {
            new.reason = "quietly edited".to_string();
        }
        *ev = celltrail_ledger::Event::chain(new, seq - 1, &prev).expect("forge");
        prev = ev.hash.clone();
    }
    assert_break(&broken(&l), "study:42", 3, BreakKind::SealHashMismatch);
}

#[test]
fn seal_signed_by_another_key_claiming_the_orgs_key_id_is_invalid() {
    let mut l = ledger();
    let forger = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let seal = l.seal_mut("study:43", 4);
    let msg = seal_message(
        &seal.stream,
        seal.first_seq,
        seal.last_seq,
        &seal.last_hash,
        &seal.org,
        &seal.key_id,
    );
    seal.signature = Some(hex::encode(forger.sign(&msg).to_bytes()));
    assert_break(&broken(&l), "study:43", 4, BreakKind::SealSignatureInvalid);
}

#[test]
fn seal_with_a_flipped_signature_byte_is_invalid() {
    let mut l = ledger();
    let seal = l.seal_mut("study:42", 6);
    let mut sig = hex::decode(seal.signature.as_deref().expect("signed")).expect("hex");
    sig[10] ^= 0x01;
    seal.signature = Some(hex::encode(sig));
    assert_break(&broken(&l), "study:42", 6, BreakKind::SealSignatureInvalid);
}

#[test]
fn seal_over_altered_fields_is_invalid() {
    // Moving a valid signature onto other claims: the org's real key, but a
    // first_seq the signature was not made for.
    let mut l = ledger();
    let (a, _) = signers();
    let good = a.seal("study:42", 4, 6, &l.event_mut("study:42", 6).hash.clone());
    let seal = l.seal_mut("study:42", 6);
    assert_eq!(*seal, good);
    seal.signature = a.seal("study:42", 1, 6, &seal.last_hash).signature;
    assert_break(&broken(&l), "study:42", 6, BreakKind::SealSignatureInvalid);
}

#[test]
fn seal_by_unknown_key_is_reported() {
    let l = ledger();
    let (a, _) = signers();
    // The verifier only knows org A's key; the first seal by B is on study:43.
    let err = common::verify_items(&[a.public()], &l.items).expect_err("unknown key");
    assert_break(&err, "study:43", 4, BreakKind::SealUnknownKey);

    // A seal by a key nobody registered, under the org's name.
    let mut l = ledger();
    let stranger = OrgSigner::from_secret_hex(A, &"33".repeat(32)).expect("key");
    let seal = l.seal_mut("site:berlin", 2);
    *seal = stranger.seal(&seal.stream, seal.first_seq, seal.last_seq, &seal.last_hash);
    assert_break(&broken(&l), "site:berlin", 2, BreakKind::SealUnknownKey);
}

#[test]
fn seal_claiming_another_org_is_reported() {
    let mut l = ledger();
    let seal = l.seal_mut("site:berlin", 2);
    seal.org = B.to_string();
    assert_break(&broken(&l), "site:berlin", 2, BreakKind::SealUnknownKey);
}

#[test]
fn seal_with_wrong_last_hash_is_reported() {
    let mut l = ledger();
    let seal = l.seal_mut("study:43", 6);
    seal.last_hash = sha256_hex(b"not the event");
    assert_break(&broken(&l), "study:43", 6, BreakKind::SealHashMismatch);
}

#[test]
fn missing_or_misplaced_seals_are_reported() {
    // The final seal of study:42 removed: its last batch is unsealed.
    let mut l = ledger();
    let i = l.seal_pos("study:42", 8);
    l.items.remove(i);
    assert_break(&broken(&l), "study:42", 7, BreakKind::Unsealed);

    // A middle seal removed: the next seal does not start where sealing stopped.
    let mut l = ledger();
    let i = l.seal_pos("study:42", 3);
    l.items.remove(i);
    assert_break(&broken(&l), "study:42", 1, BreakKind::SealOutOfOrder);

    // A seal placed before the event it ends on.
    let mut l = ledger();
    let i = l.seal_pos("study:43", 4);
    let seal = l.items.remove(i);
    let j = l.pos("study:43", 4);
    l.items.insert(j, seal);
    assert_break(&broken(&l), "study:43", 4, BreakKind::SealOutOfOrder);

    // A duplicated seal.
    let mut l = ledger();
    let i = l.seal_pos("site:berlin", 2);
    let seal = l.items[i].clone();
    l.items.insert(i, seal);
    assert_break(&broken(&l), "site:berlin", 3, BreakKind::SealOutOfOrder);
}

#[test]
fn duplicated_event_is_a_sequence_gap() {
    let mut l = ledger();
    let i = l.pos("study:43", 2);
    let dup = l.items[i].clone();
    l.items.insert(i + 1, dup);
    assert_break(&broken(&l), "study:43", 3, BreakKind::SequenceGap);
}

#[test]
fn stored_hash_not_matching_is_a_hash_mismatch() {
    let mut l = ledger();
    let ev = l.event_mut("study:43", 5);
    ev.hash = ev.hash.to_uppercase();
    assert_break(&broken(&l), "study:43", 5, BreakKind::HashMismatch);
}

#[test]
fn body_under_the_wrong_stream_is_a_stream_mismatch() {
    let l = ledger();
    let mut v = Verifier::new();
    let Item::Event(e) = &l.items[l.pos("study:42", 1)] else {
        unreachable!()
    };
    let err = v
        .event_in_stream("study:99", &e.body, &e.hash)
        .expect_err("wrong stream");
    assert_eq!(err.kind, BreakKind::StreamMismatch);
    assert_eq!((err.stream.as_str(), err.seq), ("study:99", 1));
    assert!(v.event_in_stream("study:42", &e.body, &e.hash).is_ok());
}

#[test]
fn hashed_garbage_is_body_invalid() {
    let mut v = Verifier::new();
    for body in [
        "not json",
        "{}",
        r#"{"seq":1,"stream":"s"}"#,
        r#"{"actor":"a","alg":"md5","kind":"k","org":"o","payload":null,"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","reason":"r","seq":1,"stream":"s","time":"t"}"#,
        r#"{"actor":"a","alg":"sha256","kind":"k","org":"o","payload":null,"prev_hash":"00","reason":"r","seq":1,"stream":"s","time":"t"}"#,
        r#"{"actor":"a","alg":"sha256","extra":1,"kind":"k","org":"o","payload":null,"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","reason":"r","seq":1,"stream":"s","time":"t"}"#,
    ] {
        let err = v.event(body, &sha256_hex(body.as_bytes())).expect_err(body);
        assert_eq!(err.kind, BreakKind::BodyInvalid, "{body}");
    }
}

#[test]
fn deeply_nested_input_does_not_crash() {
    let deep_payload = format!(
        r#"{{"actor":"a","alg":"sha256","kind":"k","org":"o","payload":{}1{},"prev_hash":"{}","reason":"r","seq":1,"stream":"s","time":"t"}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000),
        celltrail_ledger::GENESIS_HASH
    );
    // The verifier skips the payload without recursing, so it neither
    // overflows the stack nor needs to refuse the event; reading the event
    // back in full is refused by serde_json's depth limit.
    let mut v = Verifier::new();
    assert!(v
        .event(&deep_payload, &sha256_hex(deep_payload.as_bytes()))
        .is_ok());
    assert!(celltrail_ledger::Event::from_stored(&deep_payload, "00").is_err());
    let file = format!(
        "{}\n{}\n",
        r#"{"type":"header","format":"celltrail-ledger-export","version":1,"exported_at":"x"}"#,
        "[".repeat(100_000)
    );
    assert!(matches!(
        verify_reader(Cursor::new(file)),
        Err(VerifyFileError::Parse { line: 2, .. })
    ));
}

#[test]
fn conflicting_keys_are_refused() {
    let (a, b) = signers();
    let mut v = Verifier::new();
    v.add_key(&a.public()).expect("key");
    v.add_key(&a.public()).expect("same key again");
    let mut clash = a.public();
    clash.org = B.to_string();
    assert!(v.add_key(&clash).is_err());
    let mut wrong_id = b.public();
    wrong_id.key_id = a.public().key_id;
    assert!(v.add_key(&wrong_id).is_err());
}

#[test]
fn export_tampering_and_parse_errors_name_the_line() {
    let l = ledger();
    let text = String::from_utf8(l.export()).expect("utf8");
    let lines: Vec<&str> = text.lines().collect();

    // A hash in the file edited: the break names the event.
    let Item::Event(e) = &l.items[l.pos("study:43", 3)] else {
        unreachable!()
    };
    let edited = text.replacen(&e.hash, &sha256_hex(b"x"), 1);
    match verify_reader(Cursor::new(edited)) {
        Err(VerifyFileError::Break(b)) => assert_break(&b, "study:43", 3, BreakKind::HashMismatch),
        other => panic!("expected a break, got {other:?}"),
    }

    let parse_line = |input: String| match verify_reader(Cursor::new(input)) {
        Err(VerifyFileError::Parse { line, .. }) => line,
        other => panic!("expected a parse error, got {other:?}"),
    };
    let mut garbled = lines.clone();
    garbled[4] = "{\"type\":\"event\",\"hash\":";
    assert_eq!(parse_line(garbled.join("\n")), 5);
    assert_eq!(parse_line(lines[1..].join("\n")), 1, "no header");
    assert_eq!(parse_line(String::new()), 1, "empty file");
    let mut twice = lines.clone();
    twice.insert(3, lines[0]);
    assert_eq!(parse_line(twice.join("\n")), 4, "second header");
    let wrong_version = text.replacen("\"version\":2", "\"version\":9", 1);
    assert_eq!(parse_line(wrong_version), 1);
    let mut bytes = text.clone().into_bytes();
    let at = text.find("Cytokine").expect("payload");
    bytes[at] = 0xff;
    let line_of_at = text[..at].matches('\n').count() as u64 + 1;
    match verify_reader(Cursor::new(bytes)) {
        Err(VerifyFileError::Parse { line, .. }) => assert_eq!(line, line_of_at),
        other => panic!("expected a parse error, got {other:?}"),
    }

    // Event lines that start as written but are not: judged as any line
    // is (a member too many, a string body, another member order).
    let at = lines
        .iter()
        .position(|l| l.starts_with("{\"type\":\"event\""))
        .expect("an event line");
    let event = lines[at];
    let mut extra = lines.clone();
    let with_extra = format!("{},\"note\":1}}", &event[..event.len() - 1]);
    extra[at] = &with_extra;
    assert_eq!(
        parse_line(extra.join("\n")),
        at as u64 + 1,
        "unknown member"
    );
    let (head, body) = event.split_once(",\"body\":").expect("body member");
    let body = &body[..body.len() - 1];
    let as_string = format!(
        "{head},\"body\":{}}}",
        serde_json::to_string(body).expect("json")
    );
    let reordered = format!("{{\"body\":{body},{}}}", &head[1..]);
    // A body stored with a trailing space, embedded with the space outside
    // the object: the line's body is the object alone, whose hash differs.
    let spaced_body = format!("{body} ");
    let spaced = format!(
        "{{\"type\":\"event\",\"hash\":\"{}\",\"body\":{spaced_body}}}",
        sha256_hex(spaced_body.as_bytes())
    );
    let mut with_space = lines.clone();
    with_space[at] = &spaced;
    match verify_reader(Cursor::new(with_space.join("\n"))) {
        Err(VerifyFileError::Break(b)) => assert_eq!(b.kind, BreakKind::HashMismatch),
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
    for other_form in [as_string, reordered] {
        let mut same = lines.clone();
        same[at] = &other_form;
        assert!(
            verify_reader(Cursor::new(same.join("\n"))).is_ok(),
            "{other_form}"
        );
    }

    // Blank lines and CRLF endings are tolerated.
    let crlf = lines.join("\r\n") + "\r\n\r\n";
    assert!(verify_reader(Cursor::new(crlf)).is_ok());

    // An export re-signed with a key the inspector does not trust.
    let (a, _) = signers();
    match verify_reader_with_keys(Cursor::new(text.clone()), &[a.public()]) {
        Err(VerifyFileError::Parse { line, .. }) => assert_eq!(line, 3),
        other => panic!("expected an untrusted key, got {other:?}"),
    }
    let bad_trusted = OrgKey {
        key_id: "00".to_string(),
        ..a.public()
    };
    assert!(verify_reader_with_keys(Cursor::new(text), &[bad_trusted]).is_err());
}
