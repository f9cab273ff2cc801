//! Pages of stored events for the paged whole-ledger walk, and the
//! PostgreSQL source that streams them with `COPY … TO STDOUT (FORMAT
//! binary)`.
//!
//! A page keeps its events' hashes and bodies in one buffer and hands the
//! walk byte ranges into it. On PostgreSQL each page of events, and of seal
//! entries, is one binary COPY of a range of positions: no aggregate text is
//! built on the server and decoded and copied again here (the binary format is the one PostgreSQL's
//! documentation of `COPY` describes: a signature, flags and a header
//! extension, then per row a field count and length-prefixed fields, then a
//! trailer of -1).

use std::collections::VecDeque;
use std::ops::Range;

use celltrail_ledger::Seal;

use crate::error::{StoreError, StoreResult};

/// One page of events: `(pos, hash range, body range)` into `text`.
#[derive(Default)]
pub(crate) struct EventPage {
    text: Vec<u8>,
    pub rows: VecDeque<(i64, Range<usize>, Range<usize>)>,
}

impl EventPage {
    pub fn clear(&mut self) {
        self.text.clear();
        self.rows.clear();
    }

    pub fn push(&mut self, pos: i64, hash: &[u8], body: &[u8]) {
        let h = self.text.len();
        self.text.extend_from_slice(hash);
        let b = self.text.len();
        self.text.extend_from_slice(body);
        self.rows
            .push_back((pos, h..h + hash.len(), b..b + body.len()));
    }

    /// The text at `range`: a stored hash or body.
    pub fn str(&self, range: Range<usize>) -> StoreResult<&str> {
        let bytes = self.text.get(range).unwrap_or_default();
        std::str::from_utf8(bytes).map_err(|e| {
            StoreError::internal("ledger_page_unreadable", format!("events page: {e}"))
        })
    }
}

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// PostgreSQL writes no header extension; a larger one than this is not a
/// server's.
const MAX_HEADER_EXTENSION: usize = 1 << 16;

/// A row's fields as the binary COPY format gives them (`None` for NULL).
type Fields<'a> = [Option<&'a [u8]>];

/// The binary COPY format, read as bytes arrive in chunks of any size, for
/// rows of a known number of fields.
pub(crate) struct CopyParser {
    fields: usize,
    /// Bytes of a row (or of the header) not complete yet.
    pending: Vec<u8>,
    header: bool,
    ended: bool,
}

impl CopyParser {
    pub fn new(fields: usize) -> Self {
        CopyParser {
            fields,
            pending: Vec::new(),
            header: false,
            ended: false,
        }
    }

    /// Takes the next chunk of the stream; each complete row goes to `row`.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        row: &mut dyn FnMut(&Fields<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        if self.pending.is_empty() {
            let used = self.parse(chunk, row)?;
            self.pending.extend_from_slice(&chunk[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.pending);
            buf.extend_from_slice(chunk);
            let used = self.parse(&buf, row)?;
            buf.drain(..used);
            self.pending = buf;
        }
        Ok(())
    }

    /// The stream has ended: it must have ended with the trailer.
    pub fn finish(&self) -> Result<(), String> {
        if !self.ended || !self.pending.is_empty() {
            return Err("the copy stream ended inside a row".into());
        }
        Ok(())
    }

    /// Parses what is complete in `buf`; returns how many bytes it used.
    fn parse(
        &mut self,
        buf: &[u8],
        row: &mut dyn FnMut(&Fields<'_>) -> Result<(), String>,
    ) -> Result<usize, String> {
        let mut at = 0;
        if !self.header {
            let Some(fixed) = buf.get(..SIGNATURE.len() + 8) else {
                return Ok(0);
            };
            if &fixed[..SIGNATURE.len()] != SIGNATURE {
                return Err("not a binary copy stream".into());
            }
            // Bits 0-15 are format-critical (a reader must stop at one it
            // does not know), bit 16 says OIDs are included; 17-31 are
            // ignored.
            let flags = be_u32(&fixed[11..15]);
            if flags & 0x1_ffff != 0 {
                return Err(format!("copy header flags {flags:#x}"));
            }
            let ext = be_u32(&fixed[15..19]) as usize;
            if ext > MAX_HEADER_EXTENSION {
                return Err(format!("a copy header extension of {ext} bytes"));
            }
            let end = fixed.len() + ext;
            if buf.len() < end {
                return Ok(0);
            }
            self.header = true;
            at = end;
        }
        let mut fields: Vec<Option<&[u8]>> = Vec::with_capacity(self.fields);
        loop {
            if at == buf.len() {
                return Ok(at);
            }
            if self.ended {
                return Err("data after the copy trailer".into());
            }
            let Some(count) = buf.get(at..at + 2) else {
                return Ok(at);
            };
            let count = i16::from_be_bytes([count[0], count[1]]);
            if count == -1 {
                self.ended = true;
                at += 2;
                continue;
            }
            if usize::try_from(count).ok() != Some(self.fields) {
                return Err(format!(
                    "a copy row of {count} fields instead of {}",
                    self.fields
                ));
            }
            let mut end = at + 2;
            fields.clear();
            for _ in 0..self.fields {
                let Some(len) = buf.get(end..end + 4) else {
                    return Ok(at);
                };
                let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
                end += 4;
                if len == -1 {
                    fields.push(None);
                    continue;
                }
                let len = usize::try_from(len).map_err(|_| format!("a field of length {len}"))?;
                let Some(bytes) = buf.get(end..end + len) else {
                    return Ok(at);
                };
                fields.push(Some(bytes));
                end += len;
            }
            row(&fields)?;
            at = end;
        }
    }
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// A bigint field that counts (a sequence number, a checkpoint number).
fn count(field: Option<&[u8]>) -> Result<u64, String> {
    let n = int8(field)?;
    u64::try_from(n).map_err(|_| format!("negative count {n}"))
}

/// A bigint field.
fn int8(field: Option<&[u8]>) -> Result<i64, String> {
    let bytes: [u8; 8] = field
        .ok_or("a null in the ledger")?
        .try_into()
        .map_err(|_| "a number that is not a bigint".to_string())?;
    Ok(i64::from_be_bytes(bytes))
}

/// A text field.
fn text(field: Option<&[u8]>) -> Result<String, String> {
    let bytes = field.ok_or("a null in the ledger")?;
    String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())
}

/// Runs `COPY (query) TO STDOUT (FORMAT binary)` and hands each row to `row`.
async fn copy_rows(
    pool: &sqlx::PgPool,
    query: &str,
    fields: usize,
    row: &mut (dyn FnMut(&Fields<'_>) -> Result<(), String> + Send),
) -> StoreResult<()> {
    use sqlx::postgres::PgPoolCopyExt;
    let unreadable = |e: String| StoreError::internal("ledger_page_unreadable", e);
    let sql = format!("COPY ({query}) TO STDOUT (FORMAT binary)");
    let mut stream = pool.copy_out_raw(&sql).await?;
    let mut parser = CopyParser::new(fields);
    while let Some(chunk) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
        parser.feed(&chunk?, row).map_err(unreadable)?;
    }
    parser.finish().map_err(unreadable)
}

/// The events and seal entries of a PostgreSQL ledger up to a position,
/// read by binary COPY a range of positions at a time. The server is asked
/// for no order (an `ORDER BY` over a range can make it sort on disk); each
/// page is put in order here, as the paged walk does with its aggregates.
pub(crate) struct CopyLedger {
    pool: sqlx::PgPool,
    upto: i64,
    /// Positions up to here have been read, of events and of seals.
    events_after: i64,
    seals_after: i64,
}

impl CopyLedger {
    /// Events from position 1 and seal entries from position -1 on, as
    /// the paged walk reads them.
    pub fn new(pool: &sqlx::PgPool, upto: i64) -> Self {
        CopyLedger {
            pool: pool.clone(),
            upto,
            events_after: 0,
            seals_after: -2,
        }
    }

    /// The next range of `span` positions after `after`; `None` at the end.
    fn range(after: &mut i64, upto: i64, span: i64) -> Option<(i64, i64)> {
        (*after < upto).then(|| {
            let range = (*after, after.saturating_add(span).min(upto));
            *after = range.1;
            range
        })
    }

    /// After a range with no rows ending at `after`: the position just
    /// before the next one `table` has (or the end), so that a gap in
    /// positions costs one query, not one per range.
    async fn past_gap(&self, table: &str, after: i64) -> StoreResult<i64> {
        let next: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT MIN(pos) FROM {table} WHERE pos > $1 AND pos <= $2"
        ))
        .bind(after)
        .bind(self.upto)
        .fetch_one(&self.pool)
        .await?;
        Ok(next.map_or(self.upto, |p| p - 1))
    }

    /// Refills `page` with the events of the next ranges of `span`
    /// positions that hold any; `false` once the last range has been read.
    pub async fn next_events(&mut self, page: &mut EventPage, span: i64) -> StoreResult<bool> {
        page.clear();
        while page.rows.is_empty() {
            let Some((from, to)) = Self::range(&mut self.events_after, self.upto, span) else {
                break;
            };
            // COPY takes no parameters; both bounds are integers.
            let query =
                format!("SELECT pos, hash, body FROM events WHERE pos > {from} AND pos <= {to}");
            copy_rows(&self.pool, &query, 3, &mut |f| {
                let (hash, body) = (f[1].ok_or("a null hash")?, f[2].ok_or("a null body")?);
                page.push(int8(f[0])?, hash, body);
                Ok(())
            })
            .await?;
            if page.rows.is_empty() {
                self.events_after = self.past_gap("events", self.events_after).await?;
            }
            page.rows.make_contiguous().sort_unstable_by_key(|r| r.0);
        }
        Ok(self.events_after < self.upto)
    }

    /// Refills `out` with the seal entries of the next ranges of `span`
    /// positions that hold any, in (position, id) order, as `(pos, seal)`;
    /// `false` once the last range has been read.
    pub async fn next_seals(
        &mut self,
        out: &mut VecDeque<(i64, Seal)>,
        span: i64,
    ) -> StoreResult<bool> {
        let mut rows: Vec<(i64, i64, Seal)> = Vec::new();
        while rows.is_empty() {
            let Some((from, to)) = Self::range(&mut self.seals_after, self.upto, span) else {
                break;
            };
            let query = format!(
                "SELECT pos, id, stream, first_seq, last_seq, last_hash, org, key_id, alg, signature, checkpoint \
                 FROM seals WHERE pos > {from} AND pos <= {to}"
            );
            copy_rows(&self.pool, &query, 11, &mut |f| {
                let seal = Seal {
                    stream: text(f[2])?,
                    first_seq: count(f[3])?,
                    last_seq: count(f[4])?,
                    last_hash: text(f[5])?,
                    org: text(f[6])?,
                    key_id: text(f[7])?,
                    alg: text(f[8])?,
                    signature: f[9].map(|s| text(Some(s))).transpose()?,
                    checkpoint: f[10].map(|n| count(Some(n))).transpose()?,
                };
                rows.push((int8(f[0])?, int8(f[1])?, seal));
                Ok(())
            })
            .await?;
            if rows.is_empty() {
                self.seals_after = self.past_gap("seals", self.seals_after).await?;
            }
            rows.sort_unstable_by_key(|r| (r.0, r.1));
        }
        out.extend(rows.into_iter().map(|(pos, _, seal)| (pos, seal)));
        Ok(self.seals_after < self.upto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A stream as the documentation of `COPY` lays it out: the signature,
    /// flags 0, a header extension, rows of (int8, text, text), the trailer.
    fn stream(rows: &[(i64, &str, &str)], ext: &[u8]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&(ext.len() as u32).to_be_bytes());
        out.extend_from_slice(ext);
        for (pos, hash, body) in rows {
            out.extend_from_slice(&3i16.to_be_bytes());
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&pos.to_be_bytes());
            for text in [hash, body] {
                out.extend_from_slice(&(text.len() as i32).to_be_bytes());
                out.extend_from_slice(text.as_bytes());
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    fn read_all(bytes: &[u8], chunk: usize) -> Result<Vec<(i64, String, String)>, String> {
        let mut p = CopyParser::new(3);
        let mut page = EventPage::default();
        for c in bytes.chunks(chunk.max(1)) {
            p.feed(c, &mut |f| {
                page.push(int8(f[0])?, f[1].ok_or("null")?, f[2].ok_or("null")?);
                Ok(())
            })?;
        }
        p.finish()?;
        Ok(page
            .rows
            .iter()
            .map(|(pos, h, b)| {
                let s = |r: &Range<usize>| page.str(r.clone()).unwrap().to_string();
                (*pos, s(h), s(b))
            })
            .collect())
    }

    #[test]
    fn reads_rows_in_chunks_of_any_size() {
        let rows = [
            (1, "aa", "{\"seq\":1}"),
            (7, "bb", "{\"细胞\":\"CAR-T\"}"),
            (300_000_000_000, "", ""),
        ];
        let bytes = stream(&rows, b"ext!");
        let want: Vec<(i64, String, String)> = rows
            .iter()
            .map(|(p, h, b)| (*p, h.to_string(), b.to_string()))
            .collect();
        for chunk in [1, 2, 3, 5, 19, 64, bytes.len()] {
            assert_eq!(read_all(&bytes, chunk).unwrap(), want, "chunk {chunk}");
        }
        assert_eq!(read_all(&stream(&[], b""), 4).unwrap(), vec![]);
    }

    #[test]
    fn refuses_what_is_not_a_ledger_copy() {
        let good = stream(&[(1, "aa", "{}")], b"");
        // Cut short, inside the header, a row, or before the trailer.
        for cut in [5, 20, 30, good.len() - 2, good.len() - 1] {
            assert!(read_all(&good[..cut], 3).is_err(), "cut at {cut}");
        }
        let mut bad = good.clone();
        bad[0] = b'X';
        assert!(read_all(&bad, 64).is_err());
        let mut oids = good.clone();
        oids[12] = 1; // flag bit 16 (big-endian)
        assert!(read_all(&oids, 64).is_err());
        let mut critical = good.clone();
        critical[14] = 1; // flag bit 0, format-critical
        assert!(read_all(&critical, 64).is_err());
        let mut ignored = good.clone();
        ignored[11] = 0x80; // flag bit 31, to be ignored
        assert_eq!(read_all(&ignored, 64).unwrap().len(), 1);
        let mut huge = good.clone();
        huge[15..19].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(read_all(&huge, 64).is_err());
        let mut after = good.clone();
        after.push(0);
        assert!(read_all(&after, 64).is_err());
        // A row of two fields, a null, a position that is not 8 bytes.
        let mut two = good.clone();
        two[19..21].copy_from_slice(&2i16.to_be_bytes());
        assert!(read_all(&two, 64).is_err());
        let mut null = good.clone();
        null[19 + 2 + 4 + 8..19 + 2 + 4 + 8 + 4].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(read_all(&null, 64).is_err());
        let mut short_pos = good.clone();
        short_pos[19 + 2..19 + 6].copy_from_slice(&4i32.to_be_bytes());
        assert!(read_all(&short_pos, 64).is_err());
    }

    proptest! {
        /// Any bytes in any chunks: an answer, never a panic.
        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200), chunk in 1usize..40) {
            let mut framed = SIGNATURE.to_vec();
            framed.extend_from_slice(&bytes);
            let _ = read_all(&bytes, chunk);
            let _ = read_all(&framed, chunk);
        }
    }
}
