//! NDJSON export that an inspector can verify with no database.
//!
//! One JSON object per line, its `"type"` member first:
//!
//! ```text
//! {"type":"header","format":"celltrail-ledger-export","version":2,"exported_at":"2026-05-01T08:00:00.000Z"}
//! {"type":"key","org":…,"key_id":…,"alg":"ed25519","public_key":…}
//! {"type":"event","hash":…,"body":{"actor":…,"alg":"sha256",…}}
//! {"type":"seal","stream":…,"first_seq":…,"last_seq":…,"last_hash":…,"org":…,"key_id":…,"alg":"ed25519","checkpoint":…}
//! {"type":"checkpoint","org":…,"n":…,"key_id":…,"alg":"ed25519","seals":…,"digest":…,"signature":…}
//! ```
//!
//! The header comes first, then the keys, then events in ledger order with
//! each seal right after the event it ends on and each checkpoint after the
//! last seal it signs (see [`crate::verify`]).
//!
//! An event's `body` is its stored canonical body embedded byte for byte, so
//! `jq .body.payload` reads it and the hash is taken over exactly those
//! bytes; reformatting a body is a change like any other. A stored body that
//! is not a JSON object (only a damaged row can be) is written as a JSON
//! string instead, as version 1 wrote every body. Version 1 files, whose
//! bodies are strings and whose seals are each signed on their own
//! (`"signature"` instead of `"checkpoint"`), are still read.
//!
//! The keys in a file vouch only for the file itself: whoever rewrites the
//! whole file can also add a key of their own. An inspector who knows the
//! organisations' published keys should use [`verify_reader_with_keys`].

use std::borrow::Cow;
use std::io::{self, BufRead, Write};

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::event::Event;
use crate::seal::{Checkpoint, OrgKey, Seal};
use crate::verify::{Break, Summary, Verifier};

/// The `format` named in the header line.
pub const EXPORT_FORMAT: &str = "celltrail-ledger-export";
/// The `version` written in the header line.
pub const EXPORT_VERSION: u32 = 2;
/// The versions a reader accepts: 1 (seals signed one by one) and 2 (checkpoints).
pub const EXPORT_VERSIONS_READ: [u32; 2] = [1, 2];

/// One line of an export, as written.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExportLine {
    Header {
        format: String,
        version: u32,
        exported_at: String,
    },
    Key(OrgKey),
    Event {
        hash: String,
        /// The stored body: embedded as it is when it is a JSON object,
        /// else as a JSON string (see the module docs).
        body: Box<RawValue>,
    },
    Seal(Seal),
    Checkpoint(Checkpoint),
}

impl ExportLine {
    /// The header line for an export made at `exported_at` (RFC 3339).
    pub fn header(exported_at: &str) -> Self {
        ExportLine::Header {
            format: EXPORT_FORMAT.to_string(),
            version: EXPORT_VERSION,
            exported_at: exported_at.to_string(),
        }
    }

    /// The line carrying a stored event.
    pub fn event(ev: &Event) -> Self {
        Self::stored_event(ev.hash.clone(), ev.body.clone())
    }

    /// The line carrying an event as stored: its hash and body text.
    pub fn stored_event(hash: String, body: String) -> Self {
        let body = if embeddable(&body) {
            RawValue::from_string(body).expect("checked to be JSON")
        } else {
            serde_json::value::to_raw_value(&body).expect("a string serialises")
        };
        ExportLine::Event { hash, body }
    }
}

/// Whether a body can be embedded byte for byte: a JSON object with
/// nothing around it, so that a reader takes back exactly these bytes (and
/// a body starting with `"` is always the string form).
fn embeddable(body: &str) -> bool {
    body.starts_with('{')
        && body.ends_with('}')
        && serde_json::from_str::<&RawValue>(body).is_ok_and(|raw| raw.get().len() == body.len())
}

/// The stored body text an event line carries.
fn body_text(raw: &RawValue) -> Result<Cow<'_, str>, serde_json::Error> {
    let text = raw.get();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text).map(Cow::Owned)
    } else if text.starts_with('{') {
        Ok(Cow::Borrowed(text))
    } else {
        Err(serde::de::Error::custom(
            "body must be a JSON object or a string",
        ))
    }
}

/// Writes one line (JSON and a newline). Wrap files in a `BufWriter`.
pub fn write_line<W: Write + ?Sized>(w: &mut W, line: &ExportLine) -> io::Result<()> {
    serde_json::to_writer(&mut *w, line).map_err(io::Error::from)?;
    w.write_all(b"\n")
}

/// An event line's members other than `type`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventLine<'a> {
    #[serde(borrow)]
    hash: Cow<'a, str>,
    #[serde(borrow)]
    body: &'a RawValue,
}

/// A header line's members other than `type`.
#[derive(Deserialize)]
struct HeaderLine {
    format: String,
    version: u32,
    #[serde(rename = "exported_at")]
    _exported_at: IgnoredAny,
}

/// Just the `type` of a line whose members come in another order.
#[derive(Deserialize)]
struct TypeOnly<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

/// An event line whose members come in another order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnyOrderEventLine<'a> {
    #[serde(rename = "type")]
    _type: IgnoredAny,
    #[serde(borrow)]
    hash: Cow<'a, str>,
    #[serde(borrow)]
    body: &'a RawValue,
}

/// One parsed line, borrowing from the line buffer where it can.
enum Line<'a> {
    Header(HeaderLine),
    Key(OrgKey),
    Event(EventLine<'a>),
    Seal(Seal),
    Checkpoint(Checkpoint),
}

const TYPES: [&str; 5] = ["header", "key", "event", "seal", "checkpoint"];

/// Parses one line. As written, a line starts `{"type":"<type>",`: the
/// `type` member is then overwritten in the buffer so the rest parses
/// straight into its struct, with no intermediate buffering. Lines whose
/// members come in another order take a slower, equally strict path.
fn parse_line(line: &mut [u8]) -> Result<Line<'_>, String> {
    const PREFIX: &[u8] = b"{\"type\":\"";
    if let Some(rest) = line.strip_prefix(PREFIX) {
        let close = rest.iter().position(|b| *b == b'"').unwrap_or(rest.len());
        let kind = TYPES.iter().position(|t| t.as_bytes() == &rest[..close]);
        if let (Some(kind), Some(b',')) = (kind, rest.get(close + 1).copied()) {
            // `{"type":"seal","stream":…}` → `{"stream":…}` from the comma on.
            let at = PREFIX.len() + close + 1;
            line[at] = b'{';
            let tail: &[u8] = &line[at..];
            return parse_as(TYPES[kind], tail).map_err(|e| e.to_string());
        }
    }
    let text = std::str::from_utf8(line).map_err(|e| format!("not UTF-8: {e}"))?;
    let kind = serde_json::from_str::<TypeOnly<'_>>(text)
        .map_err(|e| format!("not an export line: {e}"))?
        .kind
        .into_owned();
    if kind == "event" {
        let ev: AnyOrderEventLine<'_> =
            serde_json::from_str(text).map_err(|e| format!("not an export line: {e}"))?;
        return Ok(Line::Event(EventLine {
            hash: ev.hash,
            body: ev.body,
        }));
    }
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not an export line: {e}"))?;
    if let Some(members) = value.as_object_mut() {
        members.remove("type");
    }
    let text = value.to_string();
    match kind.as_str() {
        "header" => from_text(&text).map(Line::Header),
        "key" => from_text(&text).map(Line::Key),
        "seal" => from_text(&text).map(Line::Seal),
        "checkpoint" => from_text(&text).map(Line::Checkpoint),
        other => Err(format!("unknown line type {other:?}")),
    }
}

fn from_text<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| format!("not an export line: {e}"))
}

fn parse_as<'a>(kind: &str, tail: &'a [u8]) -> Result<Line<'a>, String> {
    let err = |e: serde_json::Error| format!("not an export line: {e}");
    Ok(match kind {
        "header" => Line::Header(serde_json::from_slice(tail).map_err(err)?),
        "key" => Line::Key(serde_json::from_slice(tail).map_err(err)?),
        "event" => Line::Event(serde_json::from_slice(tail).map_err(err)?),
        "seal" => Line::Seal(serde_json::from_slice(tail).map_err(err)?),
        _ => Line::Checkpoint(serde_json::from_slice(tail).map_err(err)?),
    })
}

/// Why an export file did not verify.
#[derive(thiserror::Error, Debug)]
pub enum VerifyFileError {
    /// The file is well-formed but the ledger in it is broken.
    #[error("ledger broken: {0}")]
    Break(Break),
    /// The file itself is malformed at a 1-based line number.
    #[error("line {line}: {message}")]
    Parse { line: u64, message: String },
}

/// Verifies an export using the keys it carries.
pub fn verify_reader<R: BufRead>(r: R) -> Result<Summary, VerifyFileError> {
    verify_lines(r, None)
}

/// Verifies an export against keys the inspector trusts: every key line in
/// the file must be one of `trusted`, and seals by any other key fail.
pub fn verify_reader_with_keys<R: BufRead>(
    r: R,
    trusted: &[OrgKey],
) -> Result<Summary, VerifyFileError> {
    verify_lines(r, Some(trusted))
}

fn verify_lines<R: BufRead>(
    mut r: R,
    trusted: Option<&[OrgKey]>,
) -> Result<Summary, VerifyFileError> {
    let mut verifier = Verifier::new();
    if let Some(keys) = trusted {
        for k in keys {
            verifier.add_key(k).map_err(|e| VerifyFileError::Parse {
                line: 0,
                message: format!("trusted key {}: {e}", k.key_id),
            })?;
        }
    }
    let mut buf = Vec::with_capacity(1024);
    let mut line_no: u64 = 0;
    let mut seen_header = false;
    loop {
        buf.clear();
        let read = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| parse_err(line_no + 1, format!("read error: {e}")))?;
        if read == 0 {
            break;
        }
        line_no += 1;
        let mut len = buf.len();
        if buf[..len].ends_with(b"\n") {
            len -= 1;
        }
        if buf[..len].ends_with(b"\r") {
            len -= 1;
        }
        if buf[..len].iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // An event line as written goes straight to the verifier. Anything
        // it does not take, and any line written otherwise, is parsed
        // below, which decides (a failed check changes no verifier state).
        if seen_header {
            if let Some((hash, body)) = written_event_line(&buf[..len]) {
                if verifier.event(body, hash).is_ok() {
                    continue;
                }
            }
        }
        let line = parse_line(&mut buf[..len]).map_err(|m| parse_err(line_no, m))?;
        match line {
            Line::Header(h) => {
                if seen_header {
                    return Err(parse_err(line_no, "a second header".to_string()));
                }
                if h.format != EXPORT_FORMAT || !EXPORT_VERSIONS_READ.contains(&h.version) {
                    return Err(parse_err(
                        line_no,
                        format!("unsupported format {:?} version {}", h.format, h.version),
                    ));
                }
                seen_header = true;
            }
            _ if !seen_header => {
                return Err(parse_err(
                    line_no,
                    "the first line must be the header".to_string(),
                ));
            }
            Line::Key(k) => {
                if let Some(keys) = trusted {
                    if !keys.contains(&k) {
                        return Err(parse_err(
                            line_no,
                            format!("key {} of {} is not a trusted key", k.key_id, k.org),
                        ));
                    }
                }
                verifier
                    .add_key(&k)
                    .map_err(|e| parse_err(line_no, e.to_string()))?;
            }
            Line::Event(ev) => {
                let body = body_text(ev.body)
                    .map_err(|e| parse_err(line_no, format!("event body: {e}")))?;
                verifier
                    .event(&body, &ev.hash)
                    .map_err(VerifyFileError::Break)?;
            }
            Line::Seal(s) => {
                verifier.seal(&s).map_err(VerifyFileError::Break)?;
            }
            Line::Checkpoint(c) => {
                verifier.checkpoint(&c).map_err(VerifyFileError::Break)?;
            }
        }
    }
    if !seen_header {
        return Err(parse_err(line_no.max(1), "no header line".to_string()));
    }
    verifier.finish().map_err(VerifyFileError::Break)
}

/// The hash and body of an event line exactly as [`write_line`] writes
/// one with an embedded body: `{"type":"event","hash":"<64>","body":{…}}`.
/// The body is taken as everything between `"body":` and the line's last
/// `}`; only a verifier that accepts it (a whole envelope whose SHA-256 is
/// the hash) makes that reading count.
fn written_event_line(line: &[u8]) -> Option<(&str, &str)> {
    const PREFIX: &[u8] = b"{\"type\":\"event\",\"hash\":\"";
    const MID: &[u8] = b"\",\"body\":";
    let rest = line.strip_prefix(PREFIX)?.strip_suffix(b"}")?;
    let (hash, rest) = rest.split_at_checked(64)?;
    let body = rest.strip_prefix(MID)?;
    // An object from its first byte to its last: whitespace around it would
    // be read into the body here but not by the line's parser.
    if body.first() != Some(&b'{') || body.last() != Some(&b'}') {
        return None;
    }
    Some((
        std::str::from_utf8(hash).ok()?,
        std::str::from_utf8(body).ok()?,
    ))
}

fn parse_err(line: u64, message: String) -> VerifyFileError {
    VerifyFileError::Parse { line, message }
}
