//! Streaming verification with O(1) memory per stream.
//!
//! Feed order: keys first; then, for each stream, its events in sequence
//! order, each seal right after the event with `seq == seal.last_seq`, and
//! each checkpoint after the last seal entry it covers. Streams may
//! interleave with each other. The first problem found is
//! returned as a [`Break`] naming its stream and sequence number.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::event::HASH_ALG;
use crate::head::{self, HeadRef};
use crate::hexutil::{decode_lower, encode_lower_32};
use crate::seal::{checkpoint_message, Checkpoint, CheckpointDigest, OrgKey, Seal, SIG_ALG};
use crate::LedgerError;

/// The first place where a ledger fails to verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    pub stream: String,
    pub seq: u64,
    pub kind: BreakKind,
    pub detail: String,
}

/// What went wrong at a [`Break`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The stored hash is not the SHA-256 of the stored body.
    HashMismatch,
    /// The body is not a well-formed event envelope.
    BodyInvalid,
    /// The event's seq is not the one after the stream's previous event
    /// (an event is missing, duplicated or out of order). `seq` names the
    /// sequence number that was expected.
    SequenceGap,
    /// The event's `prev_hash` is not the hash of the stream's previous event.
    ChainBroken,
    /// The body names another stream than the one it was stored under.
    StreamMismatch,
    /// The seal's or checkpoint's key is not known (or belongs to another
    /// organisation).
    SealUnknownKey,
    /// The seal's or checkpoint's signature does not verify.
    SealSignatureInvalid,
    /// The seal does not cover exactly the events since the previous seal up
    /// to the stream's current last event, or a checkpoint is not the
    /// organisation's next one after its entries.
    SealOutOfOrder,
    /// The seal's `last_hash` is not the hash of the event it claims to
    /// seal, or a checkpoint's digest or count is not that of its entries.
    SealHashMismatch,
    /// Events at the end of a stream carry no seal, or seal entries carry no
    /// checkpoint signature.
    Unsealed,
}

impl BreakKind {
    /// The snake_case name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakKind::HashMismatch => "hash_mismatch",
            BreakKind::BodyInvalid => "body_invalid",
            BreakKind::SequenceGap => "sequence_gap",
            BreakKind::ChainBroken => "chain_broken",
            BreakKind::StreamMismatch => "stream_mismatch",
            BreakKind::SealUnknownKey => "seal_unknown_key",
            BreakKind::SealSignatureInvalid => "seal_signature_invalid",
            BreakKind::SealOutOfOrder => "seal_out_of_order",
            BreakKind::SealHashMismatch => "seal_hash_mismatch",
            BreakKind::Unsealed => "unsealed",
        }
    }
}

impl fmt::Display for BreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stream {} seq {}: {} ({})",
            self.stream, self.seq, self.kind, self.detail
        )
    }
}

impl std::error::Error for Break {}

impl Break {
    fn new(
        stream: impl Into<String>,
        seq: u64,
        kind: BreakKind,
        detail: impl Into<String>,
    ) -> Self {
        Break {
            stream: stream.into(),
            seq,
            kind,
            detail: detail.into(),
        }
    }
}

/// Counts of what a successful verification covered.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub streams: u64,
    pub events: u64,
    /// Seals whose signature verified, alone or through their checkpoint.
    pub seals: u64,
    /// Checkpoint signatures verified.
    pub checkpoints: u64,
    /// Seal entries still waiting for their checkpoint signature (only
    /// [`Verifier::finish_pending`] lets any remain).
    pub pending: u64,
}

#[derive(Debug)]
struct StreamState {
    last_seq: u64,
    /// Lowercase hex, as stored: later checks compare stored text directly.
    last_hash: [u8; 64],
    sealed_upto: u64,
}

const GENESIS_HEX: &[u8; 64] = match crate::event::GENESIS_HASH.as_bytes().first_chunk() {
    Some(hex) => hex,
    None => panic!("the genesis hash is 64 hex digits"),
};

#[derive(Debug)]
struct KnownKey {
    org: String,
    public: [u8; 32],
    key: VerifyingKey,
}

/// The fields verification needs, borrowed from the body where possible.
/// The other members must be present but are skipped unparsed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Head<'a> {
    #[serde(rename = "actor")]
    _actor: IgnoredAny,
    #[serde(borrow)]
    pub(crate) alg: Cow<'a, str>,
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    #[serde(rename = "org")]
    _org: IgnoredAny,
    #[serde(rename = "payload")]
    _payload: IgnoredAny,
    #[serde(borrow)]
    pub(crate) prev_hash: Cow<'a, str>,
    #[serde(rename = "reason")]
    _reason: IgnoredAny,
    pub(crate) seq: u64,
    #[serde(borrow)]
    pub(crate) stream: Cow<'a, str>,
    #[serde(rename = "time")]
    _time: IgnoredAny,
}

/// Where a rejected body claims to sit, read leniently for the report.
#[derive(Deserialize)]
struct Locate {
    stream: Option<String>,
    seq: Option<u64>,
}

/// An organisation's checkpoint whose entries have been seen but whose
/// signature has not.
#[derive(Debug)]
struct OpenCheckpoint {
    n: u64,
    key_id: String,
    digest: CheckpointDigest,
    /// Where its first and last entries end: (stream, seq).
    first: (String, u64),
    last: (String, u64),
}

/// Verifies events and seals fed in ledger order; see the module docs.
#[derive(Debug, Default)]
pub struct Verifier {
    streams: HashMap<String, StreamState>,
    keys: HashMap<String, KnownKey>,
    /// Per organisation: the checkpoint being gathered.
    open: HashMap<String, OpenCheckpoint>,
    /// Per organisation: the number of its last verified checkpoint.
    closed: HashMap<String, u64>,
    events: u64,
    seals: u64,
    checkpoints: u64,
}

impl Verifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an organisation key. Adding the same key twice is fine; a
    /// different key under a known key id is refused.
    pub fn add_key(&mut self, key: &OrgKey) -> Result<(), LedgerError> {
        let verifying = key.verifying_key()?;
        let public = verifying.to_bytes();
        if let Some(known) = self.keys.get(&key.key_id) {
            return if known.public == public && known.org == key.org {
                Ok(())
            } else {
                Err(LedgerError::Key(format!(
                    "key id {} is already registered with another key or org",
                    key.key_id
                )))
            };
        }
        self.keys.insert(
            key.key_id.clone(),
            KnownKey {
                org: key.org.clone(),
                public,
                key: verifying,
            },
        );
        Ok(())
    }

    /// Checks one stored event: `sha256(body) == hash`, then that the body's
    /// seq follows the stream's last seq and its `prev_hash` is the stream's
    /// last hash. Allocates nothing on the success path except for a
    /// stream's first event (and a stream name containing JSON escapes).
    pub fn event(&mut self, body: &str, hash: &str) -> Result<(), Break> {
        self.check_event(None, body, hash)
    }

    /// As [`Verifier::event`], for a store that keeps the stream name next
    /// to the body: a body naming another stream is a `StreamMismatch`.
    pub fn event_in_stream(&mut self, stream: &str, body: &str, hash: &str) -> Result<(), Break> {
        self.check_event(Some(stream), body, hash)
    }

    fn check_event(&mut self, expect: Option<&str>, body: &str, hash: &str) -> Result<(), Break> {
        let digest: [u8; 32] = Sha256::digest(body.as_bytes()).into();
        let digest_hex = encode_lower_32(&digest);
        // Fixed-size comparisons, done inline rather than by a call.
        if <&[u8; 64]>::try_from(hash.as_bytes()).ok() != Some(&digest_hex) {
            return Err(hash_mismatch(body, hash, &digest_hex));
        }
        // A canonical body is read by the scanner; anything else by the
        // general parser, which decides (see `head`).
        let parsed: Head<'_>;
        let head = match head::scan(body) {
            Some(h) => h,
            None => {
                parsed = match serde_json::from_str(body) {
                    Ok(h) => h,
                    Err(e) => {
                        return Err(body_invalid(body, &format!("not an event envelope: {e}")))
                    }
                };
                HeadRef {
                    alg: &parsed.alg,
                    prev_hash: &parsed.prev_hash,
                    seq: parsed.seq,
                    stream: &parsed.stream,
                }
            }
        };
        let stream: &str = head.stream;
        if let Some(expected) = expect {
            if stream != expected {
                return Err(Break::new(
                    expected,
                    head.seq,
                    BreakKind::StreamMismatch,
                    format!("stored under stream {expected} but the body names {stream}"),
                ));
            }
        }
        if head.alg != HASH_ALG {
            return Err(Break::new(
                stream,
                head.seq,
                BreakKind::BodyInvalid,
                format!("unsupported hash algorithm {:?}", head.alg),
            ));
        }
        let prev = <&[u8; 64]>::try_from(head.prev_hash.as_bytes()).ok();
        match self.streams.get_mut(stream) {
            Some(st) => {
                let expected = st.last_seq.saturating_add(1);
                if head.seq != expected {
                    return Err(Break::new(
                        stream,
                        expected,
                        BreakKind::SequenceGap,
                        format!("expected seq {expected}, found seq {}", head.seq),
                    ));
                }
                if prev != Some(&st.last_hash) {
                    return Err(chain_broken(&head, st.last_seq));
                }
                st.last_seq = head.seq;
                st.last_hash = digest_hex;
            }
            None => {
                if head.seq != 1 {
                    return Err(Break::new(
                        stream,
                        1,
                        BreakKind::SequenceGap,
                        format!("stream starts at seq {} instead of 1", head.seq),
                    ));
                }
                if prev != Some(GENESIS_HEX) {
                    return Err(chain_broken(&head, 0));
                }
                self.streams.insert(
                    stream.to_string(),
                    StreamState {
                        last_seq: 1,
                        last_hash: digest_hex,
                        sealed_upto: 0,
                    },
                );
            }
        }
        self.events += 1;
        Ok(())
    }

    /// Checks a seal placed right after the event with `seq == seal.last_seq`:
    /// the key is known and belongs to `seal.org`; the seal covers exactly
    /// the events after the previous seal up to the stream's last event;
    /// `last_hash` is that event's hash; the Ed25519 signature over
    /// [`crate::seal_message`] verifies (strictly); or, for an entry of a
    /// checkpoint, adds it to that checkpoint's digest.
    pub fn seal(&mut self, seal: &Seal) -> Result<(), Break> {
        let at = |seq: u64, kind: BreakKind, detail: String| {
            Break::new(seal.stream.as_str(), seq, kind, detail)
        };
        let key = match known_key(&self.keys, &seal.key_id, &seal.org, "seal") {
            Ok(key) => key,
            Err(detail) => return Err(at(seal.last_seq, BreakKind::SealUnknownKey, detail)),
        };
        let Some(st) = self.streams.get_mut(&seal.stream) else {
            return Err(at(
                1,
                BreakKind::SealOutOfOrder,
                "seal for a stream with no events before it".to_string(),
            ));
        };
        let next_unsealed = st.sealed_upto.saturating_add(1);
        if seal.first_seq != next_unsealed || seal.first_seq > seal.last_seq {
            return Err(at(
                next_unsealed,
                BreakKind::SealOutOfOrder,
                format!(
                    "seal covers {}..={} but the first unsealed event is seq {next_unsealed}",
                    seal.first_seq, seal.last_seq
                ),
            ));
        }
        if seal.last_seq != st.last_seq {
            return Err(at(
                st.last_seq.min(seal.last_seq).saturating_add(1),
                BreakKind::SealOutOfOrder,
                format!(
                    "seal ends at seq {} but the stream's last event here is seq {}",
                    seal.last_seq, st.last_seq
                ),
            ));
        }
        if seal.last_hash.as_bytes() != st.last_hash.as_slice() {
            return Err(at(
                seal.last_seq,
                BreakKind::SealHashMismatch,
                format!(
                    "seal names hash {} but seq {} hashes to {}",
                    seal.last_hash,
                    seal.last_seq,
                    String::from_utf8_lossy(&st.last_hash)
                ),
            ));
        }
        if seal.alg != SIG_ALG {
            return Err(at(
                seal.last_seq,
                BreakKind::SealSignatureInvalid,
                format!("unsupported signature algorithm {:?}", seal.alg),
            ));
        }
        match (&seal.signature, seal.checkpoint) {
            (Some(signature), None) => {
                let msg = seal.message();
                if let Err(detail) = check_signature(&key.key, &msg, signature, &seal.key_id) {
                    return Err(at(seal.last_seq, BreakKind::SealSignatureInvalid, detail));
                }
                self.seals += 1;
            }
            (None, Some(n)) => {
                let next = self.closed.get(&seal.org).copied().unwrap_or(0) + 1;
                if n != next {
                    return Err(at(
                        seal.last_seq,
                        BreakKind::SealOutOfOrder,
                        format!(
                            "entry of checkpoint {n} of {}, whose next checkpoint is {next}",
                            seal.org
                        ),
                    ));
                }
                // Looked up by reference: an entry per seal would copy the
                // organisation's name every time.
                if !self.open.contains_key(&seal.org) {
                    self.open.insert(
                        seal.org.clone(),
                        OpenCheckpoint {
                            n,
                            key_id: seal.key_id.clone(),
                            digest: CheckpointDigest::new(),
                            first: (seal.stream.clone(), seal.first_seq),
                            last: (String::new(), 0),
                        },
                    );
                }
                let open = self.open.get_mut(&seal.org).expect("inserted above");
                if open.key_id != seal.key_id {
                    return Err(at(
                        seal.last_seq,
                        BreakKind::SealUnknownKey,
                        format!(
                            "entry names key {} but checkpoint {n} of {} gathers entries of key {}",
                            seal.key_id, seal.org, open.key_id
                        ),
                    ));
                }
                open.digest.add(seal);
                open.last.0.clear();
                open.last.0.push_str(&seal.stream);
                open.last.1 = seal.last_seq;
            }
            _ => {
                return Err(at(
                    seal.last_seq,
                    BreakKind::SealSignatureInvalid,
                    "a seal carries either its own signature or a checkpoint number".to_string(),
                ))
            }
        }
        st.sealed_upto = seal.last_seq;
        Ok(())
    }

    /// Checks a checkpoint placed after the last seal entry it covers: it
    /// is its organisation's next one; its key is known, belongs to the
    /// organisation and is the key its entries name; its count and digest
    /// are those of the entries seen; its signature over
    /// [`checkpoint_message`] verifies (strictly).
    pub fn checkpoint(&mut self, cp: &Checkpoint) -> Result<(), Break> {
        let here = match self.open.get(&cp.org) {
            Some(open) if open.n == cp.n => open.last.clone(),
            _ => (format!("checkpoint {}#{}", cp.org, cp.n), 0),
        };
        let at =
            |kind: BreakKind, detail: String| Break::new(here.0.as_str(), here.1, kind, detail);
        let key = match known_key(&self.keys, &cp.key_id, &cp.org, "checkpoint") {
            Ok(key) => key,
            Err(detail) => return Err(at(BreakKind::SealUnknownKey, detail)),
        };
        let open = match self.open.remove(&cp.org) {
            Some(open) if open.n == cp.n => open,
            other => {
                let next = self.closed.get(&cp.org).copied().unwrap_or(0) + 1;
                if let Some(open) = other {
                    self.open.insert(cp.org.clone(), open);
                }
                return Err(at(
                    BreakKind::SealOutOfOrder,
                    format!(
                        "checkpoint {} of {} covers no entry before it (next expected: {next})",
                        cp.n, cp.org
                    ),
                ));
            }
        };
        if open.key_id != cp.key_id {
            return Err(at(
                BreakKind::SealUnknownKey,
                format!(
                    "checkpoint by key {} but its entries name key {}",
                    cp.key_id, open.key_id
                ),
            ));
        }
        if cp.alg != SIG_ALG {
            return Err(at(
                BreakKind::SealSignatureInvalid,
                format!("unsupported signature algorithm {:?}", cp.alg),
            ));
        }
        let count = open.digest.seals();
        let digest = open.digest.finish();
        if count != cp.seals || digest != cp.digest {
            return Err(at(
                BreakKind::SealHashMismatch,
                format!(
                    "checkpoint {} of {} names {} entries with digest {}, but its {count} entries digest to {digest}",
                    cp.n, cp.org, cp.seals, cp.digest
                ),
            ));
        }
        let msg = checkpoint_message(&cp.org, cp.n, &cp.key_id, cp.seals, &cp.digest);
        if let Err(detail) = check_signature(&key.key, &msg, &cp.signature, &cp.key_id) {
            return Err(at(BreakKind::SealSignatureInvalid, detail));
        }
        self.closed.insert(cp.org.clone(), cp.n);
        self.seals += count;
        self.checkpoints += 1;
        Ok(())
    }

    /// What has been verified so far.
    pub fn summary(&self) -> Summary {
        Summary {
            streams: self.streams.len() as u64,
            events: self.events,
            seals: self.seals,
            checkpoints: self.checkpoints,
            pending: self.open.values().map(|o| o.digest.seals()).sum(),
        }
    }

    /// Ends verification: every stream must be sealed up to its last event
    /// and every seal entry signed by its checkpoint. If several streams or
    /// checkpoints are not, the smallest name is reported.
    pub fn finish(self) -> Result<Summary, Break> {
        self.check_covered()?;
        if let Some((org, open)) = self.open.iter().min_by(|a, b| a.0.cmp(b.0)) {
            return Err(Break::new(
                open.first.0.as_str(),
                open.first.1,
                BreakKind::Unsealed,
                format!(
                    "{} seal entries from here on wait for checkpoint {} of {org}, which is missing",
                    open.digest.seals(),
                    open.n
                ),
            ));
        }
        Ok(self.summary())
    }

    /// As [`Verifier::finish`], but seal entries still waiting for their
    /// checkpoint are counted in [`Summary::pending`] rather than refused:
    /// for a live database, where the newest entries are signed within
    /// moments. Every event must still be covered by a seal or an entry.
    pub fn finish_pending(self) -> Result<Summary, Break> {
        self.check_covered()?;
        Ok(self.summary())
    }

    fn check_covered(&self) -> Result<(), Break> {
        let unsealed = self
            .streams
            .iter()
            .filter(|(_, st)| st.sealed_upto < st.last_seq)
            .min_by(|a, b| a.0.cmp(b.0));
        if let Some((name, st)) = unsealed {
            let first = st.sealed_upto + 1;
            return Err(Break::new(
                name.as_str(),
                first,
                BreakKind::Unsealed,
                format!("events {first}..={} carry no seal", st.last_seq),
            ));
        }
        Ok(())
    }
}

/// The registered key `key_id`, if it belongs to `org`; the error is the
/// detail to report about the `what` (a seal or a checkpoint) naming it.
fn known_key<'k>(
    keys: &'k HashMap<String, KnownKey>,
    key_id: &str,
    org: &str,
    what: &str,
) -> Result<&'k KnownKey, String> {
    let Some(key) = keys.get(key_id) else {
        return Err(format!("{what} by unknown key {key_id:?} of {org}"));
    };
    if key.org != org {
        return Err(format!(
            "key {key_id} belongs to {}, but the {what} claims {org}",
            key.org
        ));
    }
    Ok(key)
}

/// Checks a hex Ed25519 signature strictly; the error is the detail to report.
fn check_signature(
    key: &VerifyingKey,
    msg: &[u8],
    signature: &str,
    key_id: &str,
) -> Result<(), String> {
    let Some(sig) = decode_lower::<64>(signature) else {
        return Err("signature is not 128 lowercase hex digits".to_string());
    };
    key.verify_strict(msg, &Signature::from_bytes(&sig))
        .map_err(|e| format!("signature by key {key_id} does not verify: {e}"))
}

#[cold]
fn hash_mismatch(body: &str, hash: &str, digest_hex: &[u8; 64]) -> Break {
    let (stream, seq) = locate(body);
    Break::new(
        stream,
        seq,
        BreakKind::HashMismatch,
        format!(
            "stored hash {hash:?} but the body hashes to {}",
            String::from_utf8_lossy(digest_hex)
        ),
    )
}

/// `prev_hash` does not match: a malformed value is a bad body, a
/// well-formed one a broken chain.
#[cold]
fn chain_broken(head: &HeadRef<'_>, last_seq: u64) -> Break {
    if decode_lower::<32>(head.prev_hash).is_none() {
        return Break::new(
            head.stream,
            head.seq,
            BreakKind::BodyInvalid,
            "prev_hash is not 64 lowercase hex digits",
        );
    }
    let detail = if last_seq == 0 {
        "the first event's prev_hash is not the genesis hash".to_string()
    } else {
        format!(
            "prev_hash {} is not the hash of seq {last_seq}",
            head.prev_hash
        )
    };
    Break::new(head.stream, head.seq, BreakKind::ChainBroken, detail)
}

#[cold]
fn body_invalid(body: &str, why: &str) -> Break {
    let (stream, seq) = locate(body);
    Break::new(stream, seq, BreakKind::BodyInvalid, why)
}

/// Best effort at naming where a rejected body claims to be: parse it
/// leniently, else scan the text for the `"seq":` and `"stream":` members
/// (they come last in a canonical body). Unknown parts are "" and 0.
fn locate(body: &str) -> (String, u64) {
    if let Ok(Locate {
        stream: Some(stream),
        seq: Some(seq),
    }) = serde_json::from_str::<Locate>(body)
    {
        return (stream, seq);
    }
    let seq = body
        .rfind("\"seq\":")
        .and_then(|i| body.get(i + 6..))
        .and_then(|rest| {
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            rest.get(..end)?.parse().ok()
        })
        .unwrap_or(0);
    let stream = body
        .rfind("\"stream\":\"")
        .and_then(|i| body.get(i + 9..))
        .and_then(|rest| {
            // `rest` starts at the opening quote; find the closing one.
            let mut escaped = false;
            let end = rest.char_indices().skip(1).find_map(|(j, c)| match c {
                _ if escaped => {
                    escaped = false;
                    None
                }
                '\\' => {
                    escaped = true;
                    None
                }
                '"' => Some(j),
                _ => None,
            })?;
            serde_json::from_str::<String>(rest.get(..=end)?).ok()
        })
        .unwrap_or_default();
    (stream, seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_salvages_broken_bodies() {
        let body =
            r#"{"actor":"a","payload":{"x":[1,2},"seq":17,"stream":"study:\"9\"","time":"t"}"#;
        assert_eq!(locate(body), ("study:\"9\"".to_string(), 17));
        assert_eq!(locate("garbage"), (String::new(), 0));
        assert_eq!(locate(r#"{"seq":"#), (String::new(), 0));
        assert_eq!(locate(r#""stream":"abc"#), (String::new(), 0));
        assert_eq!(locate(r#"{"seq":3,"stream":"s"}"#), ("s".to_string(), 3));
    }

    #[test]
    fn display_names_stream_and_seq() {
        let b = Break::new("study:42", 7, BreakKind::HashMismatch, "x");
        assert_eq!(b.to_string(), "stream study:42 seq 7: hash_mismatch (x)");
        assert_eq!(
            serde_json::to_value(&b).expect("json")["kind"],
            "hash_mismatch"
        );
        assert_eq!(
            serde_json::to_value(BreakKind::SealOutOfOrder).expect("json"),
            "seal_out_of_order"
        );
    }
}
