//! NDJSON export that an inspector can verify with no database.
//!
//! One JSON object per line, tagged by `"type"`:
//!
//! ```text
//! {"type":"header","format":"celltrail-ledger-export","version":1,"exported_at":"2026-05-01T08:00:00.000Z"}
//! {"type":"key","org":…,"key_id":…,"alg":"ed25519","public_key":…}
//! {"type":"event","hash":…,"body":"<the canonical body, as a JSON string>"}
//! {"type":"seal","stream":…,"first_seq":…,"last_seq":…,"last_hash":…,"org":…,"key_id":…,"alg":"ed25519","checkpoint":…}
//! {"type":"checkpoint","org":…,"n":…,"key_id":…,"alg":"ed25519","seals":…,"digest":…,"signature":…}
//! ```
//!
//! The header comes first, then the keys, then events in ledger order with
//! each seal right after the event it ends on and each checkpoint after the
//! last seal it signs (see [`crate::verify`]). Version 1 files, whose seals
//! are each signed on their own (`"signature"` instead of `"checkpoint"`)
//! and which have no checkpoint lines, are still read.
//!
//! The keys in a file vouch only for the file itself: whoever rewrites the
//! whole file can also add a key of their own. An inspector who knows the
//! organisations' published keys should use [`verify_reader_with_keys`].

use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::seal::{Checkpoint, OrgKey, Seal};
use crate::verify::{Break, Summary, Verifier};

/// The `format` named in the header line.
pub const EXPORT_FORMAT: &str = "celltrail-ledger-export";
/// The `version` written in the header line.
pub const EXPORT_VERSION: u32 = 2;
/// The versions a reader accepts: 1 (seals signed one by one) and 2 (checkpoints).
pub const EXPORT_VERSIONS_READ: [u32; 2] = [1, 2];

/// One line of an export.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
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
        body: String,
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
        ExportLine::Event {
            hash: ev.hash.clone(),
            body: ev.body.clone(),
        }
    }
}

/// Writes one line (JSON and a newline). Wrap files in a `BufWriter`.
pub fn write_line<W: Write + ?Sized>(w: &mut W, line: &ExportLine) -> io::Result<()> {
    serde_json::to_writer(&mut *w, line).map_err(io::Error::from)?;
    w.write_all(b"\n")
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
        let mut bytes = buf.as_slice();
        if let Some(rest) = bytes.strip_suffix(b"\n") {
            bytes = rest;
        }
        if let Some(rest) = bytes.strip_suffix(b"\r") {
            bytes = rest;
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| parse_err(line_no, format!("not UTF-8: {e}")))?;
        let line: ExportLine = serde_json::from_str(text)
            .map_err(|e| parse_err(line_no, format!("not an export line: {e}")))?;
        match line {
            ExportLine::Header {
                format, version, ..
            } => {
                if seen_header {
                    return Err(parse_err(line_no, "a second header".to_string()));
                }
                if format != EXPORT_FORMAT || !EXPORT_VERSIONS_READ.contains(&version) {
                    return Err(parse_err(
                        line_no,
                        format!("unsupported format {format:?} version {version}"),
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
            ExportLine::Key(k) => {
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
            ExportLine::Event { hash, body } => {
                verifier
                    .event(&body, &hash)
                    .map_err(VerifyFileError::Break)?;
            }
            ExportLine::Seal(s) => {
                verifier.seal(&s).map_err(VerifyFileError::Break)?;
            }
            ExportLine::Checkpoint(c) => {
                verifier.checkpoint(&c).map_err(VerifyFileError::Break)?;
            }
        }
    }
    if !seen_header {
        return Err(parse_err(line_no.max(1), "no header line".to_string()));
    }
    verifier.finish().map_err(VerifyFileError::Break)
}

fn parse_err(line: u64, message: String) -> VerifyFileError {
    VerifyFileError::Parse { line, message }
}
