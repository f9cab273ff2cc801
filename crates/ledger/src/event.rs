//! Events and the per-stream SHA-256 hash chain.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::canonical::{write_string, write_value};
use crate::hexutil::decode_lower;
use crate::LedgerError;

/// The hash algorithm named in every event body.
pub const HASH_ALG: &str = "sha256";

/// The `prev_hash` of the first event (seq 1) of every stream.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Sequence numbers stay within the integers RFC 8785 can write exactly.
const MAX_SEQ: u64 = 1 << 53;

/// What a caller asks to append.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NewEvent {
    /// The stream (one regulated record), e.g. `study:42`.
    pub stream: String,
    /// What happened, e.g. `project.transitioned`.
    pub kind: String,
    /// The event's data; any JSON value RFC 8785 can canonicalize.
    pub payload: serde_json::Value,
    /// Who did it.
    pub actor: String,
    /// The organisation on whose behalf it was done.
    pub org: String,
    /// When, as RFC 3339 (`2026-05-01T08:00:00.000Z`); the caller provides it.
    pub time: String,
    /// Why: a reason for change is mandatory.
    pub reason: String,
}

/// A chained event as stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub stream: String,
    pub seq: u64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub actor: String,
    pub org: String,
    pub time: String,
    pub reason: String,
    pub prev_hash: String,
    /// Lowercase hex SHA-256 of `body`'s UTF-8 bytes.
    pub hash: String,
    /// The canonical JSON envelope that was hashed: the source of truth.
    pub body: String,
}

/// The envelope as parsed back from a stored body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredBody {
    actor: String,
    alg: String,
    kind: String,
    org: String,
    payload: serde_json::Value,
    prev_hash: String,
    reason: String,
    seq: u64,
    stream: String,
    time: String,
}

impl Event {
    /// Chains `new` after (`prev_seq`, `prev_hash`): `seq = prev_seq + 1`;
    /// `body` is the canonical JSON of
    /// `{"alg":"sha256","actor","kind","org","payload","prev_hash","reason","seq","stream","time"}`;
    /// `hash` is the lowercase hex SHA-256 of `body`.
    pub fn chain(new: NewEvent, prev_seq: u64, prev_hash: &str) -> Result<Event, LedgerError> {
        require_text("stream", &new.stream)?;
        require_text("kind", &new.kind)?;
        require_text("actor", &new.actor)?;
        require_text("org", &new.org)?;
        require_text("reason", &new.reason)?;
        validate_rfc3339(&new.time).map_err(|m| LedgerError::invalid("time", m))?;
        if decode_lower::<32>(prev_hash).is_none() {
            return Err(LedgerError::invalid(
                "prev_hash",
                "must be 64 lowercase hex digits",
            ));
        }
        if prev_seq == 0 && prev_hash != GENESIS_HASH {
            return Err(LedgerError::invalid(
                "prev_hash",
                "the first event of a stream must follow the genesis hash",
            ));
        }
        let seq = prev_seq
            .checked_add(1)
            .filter(|s| *s <= MAX_SEQ)
            .ok_or_else(|| LedgerError::invalid("seq", "sequence number exceeds 2^53"))?;

        // The members in RFC 8785 order (UTF-16 order equals byte order for
        // these ASCII names); each value is written canonically.
        let mut body = String::with_capacity(256);
        body.push_str("{\"actor\":");
        write_string(&mut body, &new.actor);
        body.push_str(",\"alg\":");
        write_string(&mut body, HASH_ALG);
        body.push_str(",\"kind\":");
        write_string(&mut body, &new.kind);
        body.push_str(",\"org\":");
        write_string(&mut body, &new.org);
        body.push_str(",\"payload\":");
        write_value(&mut body, &new.payload, 1)?;
        body.push_str(",\"prev_hash\":");
        write_string(&mut body, prev_hash);
        body.push_str(",\"reason\":");
        write_string(&mut body, &new.reason);
        let _ = write!(body, ",\"seq\":{seq},\"stream\":");
        write_string(&mut body, &new.stream);
        body.push_str(",\"time\":");
        write_string(&mut body, &new.time);
        body.push('}');

        let hash = sha256_hex(body.as_bytes());
        Ok(Event {
            stream: new.stream,
            seq,
            kind: new.kind,
            payload: new.payload,
            actor: new.actor,
            org: new.org,
            time: new.time,
            reason: new.reason,
            prev_hash: prev_hash.to_string(),
            hash,
            body,
        })
    }

    /// Rebuilds an Event from the stored body and hash by parsing the body.
    /// The hash is carried along unchecked; verification is the
    /// [`crate::Verifier`]'s job.
    pub fn from_stored(body: &str, hash: &str) -> Result<Event, LedgerError> {
        let b: StoredBody = serde_json::from_str(body)?;
        if b.alg != HASH_ALG {
            return Err(LedgerError::invalid(
                "alg",
                format!("unsupported hash algorithm {:?}", b.alg),
            ));
        }
        Ok(Event {
            stream: b.stream,
            seq: b.seq,
            kind: b.kind,
            payload: b.payload,
            actor: b.actor,
            org: b.org,
            time: b.time,
            reason: b.reason,
            prev_hash: b.prev_hash,
            hash: hash.to_string(),
            body: body.to_string(),
        })
    }

    /// The event as it was asked for, e.g. to re-chain it elsewhere.
    pub fn to_new(&self) -> NewEvent {
        NewEvent {
            stream: self.stream.clone(),
            kind: self.kind.clone(),
            payload: self.payload.clone(),
            actor: self.actor.clone(),
            org: self.org.clone(),
            time: self.time.clone(),
            reason: self.reason.clone(),
        }
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn require_text(field: &'static str, value: &str) -> Result<(), LedgerError> {
    if value.trim().is_empty() {
        Err(LedgerError::invalid(field, "must not be empty"))
    } else {
        Ok(())
    }
}

/// Checks the RFC 3339 shape `YYYY-MM-DDTHH:MM:SS(.f+)?(Z|+HH:MM|-HH:MM)`
/// and the ranges of each field (days per month, leap years, second 60 for
/// a leap second as RFC 3339 section 5.6 allows).
pub fn validate_rfc3339(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let bad = |why: &str| Err(format!("{s:?} is not an RFC 3339 timestamp: {why}"));
    if b.len() < 20 {
        return bad("too short");
    }
    let digits = |from: usize, len: usize| -> Option<u32> {
        let part = b.get(from..from + len)?;
        part.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let sep = |at: usize, c: u8| b.get(at) == Some(&c);
    let (Some(year), Some(month), Some(day)) = (digits(0, 4), digits(5, 2), digits(8, 2)) else {
        return bad("date must be YYYY-MM-DD");
    };
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T')) {
        return bad("date must be YYYY-MM-DD followed by T");
    }
    let (Some(hour), Some(minute), Some(second)) = (digits(11, 2), digits(14, 2), digits(17, 2))
    else {
        return bad("time must be HH:MM:SS");
    };
    if !(sep(13, b':') && sep(16, b':')) {
        return bad("time must be HH:MM:SS");
    }
    if !(1..=12).contains(&month) {
        return bad("month out of range");
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > days_in_month {
        return bad("day out of range");
    }
    if hour > 23 || minute > 59 || second > 60 {
        return bad("time of day out of range");
    }
    let mut i = 19;
    if sep(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start || i - start > 9 {
            return bad("fraction must have 1 to 9 digits");
        }
    }
    match b.get(i..) {
        Some(b"Z") => Ok(()),
        Some([sign, _, _, b':', _, _]) if *sign == b'+' || *sign == b'-' => {
            match (digits(i + 1, 2), digits(i + 4, 2)) {
                (Some(h), Some(m)) if h <= 23 && m <= 59 => Ok(()),
                _ => bad("offset must be +HH:MM or -HH:MM"),
            }
        }
        _ => bad("must end in Z or an offset +HH:MM/-HH:MM"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::canonicalize;
    use serde_json::json;

    fn sample() -> NewEvent {
        NewEvent {
            stream: "study:42".into(),
            kind: "consent.recorded".into(),
            payload: json!({"subject": "S-001", "version": 3, "dose_ml": 12.5, "notes": "line\nbreak \"quoted\""}),
            actor: "user:alice".into(),
            org: "org:berlin-01".into(),
            time: "2026-05-01T08:00:00.000Z".into(),
            reason: "initial consent".into(),
        }
    }

    #[test]
    fn body_is_canonical_and_hashed() {
        let ev = Event::chain(sample(), 0, GENESIS_HASH).expect("chain");
        assert_eq!(ev.seq, 1);
        let parsed: serde_json::Value = serde_json::from_str(&ev.body).expect("json");
        assert_eq!(canonicalize(&parsed).expect("canonical"), ev.body);
        assert_eq!(parsed["alg"], "sha256");
        assert_eq!(parsed["seq"], 1);
        assert_eq!(parsed["prev_hash"], GENESIS_HASH);
        assert_eq!(ev.hash, sha256_hex(ev.body.as_bytes()));
        assert!(ev
            .body
            .starts_with("{\"actor\":\"user:alice\",\"alg\":\"sha256\",\"kind\":"));
        let ev2 = Event::chain(sample(), 1, &ev.hash).expect("chain");
        assert_eq!(ev2.seq, 2);
        assert_eq!(ev2.prev_hash, ev.hash);
    }

    #[test]
    fn from_stored_round_trips() {
        let ev = Event::chain(sample(), 0, GENESIS_HASH).expect("chain");
        let back = Event::from_stored(&ev.body, &ev.hash).expect("parse");
        assert_eq!(back, ev);
        assert!(Event::from_stored("{", &ev.hash).is_err());
        assert!(Event::from_stored(&ev.body.replace("sha256", "md5"), &ev.hash).is_err());
        let extra = ev.body.replacen('{', "{\"extra\":1,", 1);
        assert!(Event::from_stored(&extra, &ev.hash).is_err());
    }

    /// NIST FIPS 180-2 Appendix B.1 / well-known SHA-256 test vector "abc".
    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn validation() {
        let field_of = |r: Result<Event, LedgerError>| match r {
            Err(LedgerError::Invalid { field, .. }) => field,
            other => panic!("expected Invalid, got {other:?}"),
        };
        for (field, mutate) in [
            (
                "stream",
                (|n: &mut NewEvent| n.stream.clear()) as fn(&mut NewEvent),
            ),
            ("kind", |n| n.kind = " ".into()),
            ("actor", |n| n.actor.clear()),
            ("org", |n| n.org.clear()),
            ("reason", |n| n.reason = "\t".into()),
            ("time", |n| n.time = "yesterday".into()),
        ] {
            let mut n = sample();
            mutate(&mut n);
            assert_eq!(field_of(Event::chain(n, 0, GENESIS_HASH)), field);
        }
        assert_eq!(field_of(Event::chain(sample(), 0, "abc")), "prev_hash");
        assert_eq!(
            field_of(Event::chain(sample(), 0, &"a".repeat(64))),
            "prev_hash"
        );
        assert_eq!(
            field_of(Event::chain(sample(), 3, &"A".repeat(64))),
            "prev_hash"
        );
        assert_eq!(
            field_of(Event::chain(sample(), u64::MAX, &"a".repeat(64))),
            "seq"
        );
        assert_eq!(
            field_of(Event::chain(sample(), 1 << 53, &"a".repeat(64))),
            "seq"
        );
        let mut big = sample();
        big.payload = json!({"n": u64::MAX});
        assert!(matches!(
            Event::chain(big, 0, GENESIS_HASH),
            Err(LedgerError::Canonical(_))
        ));
    }

    #[test]
    fn payload_nesting_stays_readable() {
        let nested = |levels: usize| {
            let mut v = json!("leaf");
            for _ in 0..levels {
                v = json!({ "x": v });
            }
            v
        };
        let mut ok = sample();
        ok.payload = nested(crate::canonical::MAX_NESTING - 1);
        let ev = Event::chain(ok, 0, GENESIS_HASH).expect("126 levels inside the envelope");
        assert_eq!(
            Event::from_stored(&ev.body, &ev.hash).expect("reads back"),
            ev
        );
        let mut deep = sample();
        deep.payload = nested(crate::canonical::MAX_NESTING);
        assert!(matches!(
            Event::chain(deep, 0, GENESIS_HASH),
            Err(LedgerError::Canonical(_))
        ));
    }

    #[test]
    fn rfc3339_shapes() {
        for ok in [
            "2026-05-01T08:00:00Z",
            "2026-05-01T08:00:00.000Z",
            "2026-05-01T08:00:00.123456789Z",
            "2024-02-29T23:59:60Z",
            "2026-12-31T00:00:00+08:00",
            "2026-01-01T00:00:00.5-05:30",
        ] {
            assert!(validate_rfc3339(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "2026-05-01",
            "2026-05-01 08:00:00Z",
            "2026-05-01T08:00:00",
            "2026-13-01T08:00:00Z",
            "2026-00-01T08:00:00Z",
            "2025-02-29T08:00:00Z",
            "2100-02-29T08:00:00Z",
            "2026-04-31T08:00:00Z",
            "2026-05-01T24:00:00Z",
            "2026-05-01T08:60:00Z",
            "2026-05-01T08:00:61Z",
            "2026-05-01T08:00:00.Z",
            "2026-05-01T08:00:00.1234567890Z",
            "2026-05-01T08:00:00+8:00",
            "2026-05-01T08:00:00+24:00",
            "2026-05-01T08:00:00ZZ",
            "2026-05-01T08:00:00z",
            "2026-05-01t08:00:00Z",
            "2026-05-01T08:00:00Z ",
            "２026-05-01T08:00:00Z",
            "2026-05-01T08:00:00+08:00:00",
        ] {
            assert!(validate_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
