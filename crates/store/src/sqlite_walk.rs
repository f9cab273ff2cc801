//! The whole-ledger walk of an SQLite file, read in place.
//!
//! Verification and export read every event once. Through the pool each
//! page of events is built as one text by the database, copied into the
//! driver's worker thread and again into the caller: three copies of every
//! body before it is hashed. Here a read-only connection of our own steps
//! through the three ledger tables in one read transaction and hands the
//! verifier each stored hash and body where SQLite keeps them, so a body is
//! read once, hashed once and copied never.
//!
//! The walk keeps the order of the paged walk in `sql.rs` (events, then
//! seal entries, then checkpoints at one position; seal entries by id and
//! checkpoints by organisation and number within a position), and a test
//! there checks that both walks give the same items.

use std::path::Path;
use std::time::Duration;

use celltrail_ledger::{Checkpoint, Seal};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, Row, Rows};

use crate::error::{StoreError, StoreResult};
use crate::sql::{next_in_ledger, Item, Next};

fn failed(e: rusqlite::Error) -> StoreError {
    StoreError::internal("ledger_walk_failed", e.to_string())
}

/// A stored text: TEXT as it is; a BLOB (which CellTrail never writes) read
/// as text, a non-UTF-8 byte replaced, so that its hash fails to match and
/// the verifier names the row; NULL as empty; a number as its digits.
fn text<'r>(row: &'r Row<'_>, i: usize) -> StoreResult<std::borrow::Cow<'r, str>> {
    Ok(match row.get_ref(i).map_err(failed)? {
        ValueRef::Text(b) | ValueRef::Blob(b) => match std::str::from_utf8(b) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(b),
        },
        ValueRef::Null => std::borrow::Cow::Borrowed(""),
        ValueRef::Integer(n) => std::borrow::Cow::Owned(n.to_string()),
        ValueRef::Real(x) => std::borrow::Cow::Owned(x.to_string()),
    })
}

/// Refills `into` from a text column, keeping its allocation.
fn fill(into: &mut String, row: &Row<'_>, i: usize) -> StoreResult<()> {
    into.clear();
    into.push_str(&text(row, i)?);
    Ok(())
}

fn count(row: &Row<'_>, i: usize) -> StoreResult<u64> {
    let n: i64 = row.get(i).map_err(failed)?;
    u64::try_from(n)
        .map_err(|_| StoreError::internal("ledger_page_unreadable", format!("negative count {n}")))
}

/// The next seal entry into `seal` (its strings reused); its position.
fn next_seal(rows: &mut Rows<'_>, seal: &mut Seal) -> StoreResult<Option<i64>> {
    let Some(r) = rows.next().map_err(failed)? else {
        return Ok(None);
    };
    fill(&mut seal.stream, r, 1)?;
    seal.first_seq = count(r, 2)?;
    seal.last_seq = count(r, 3)?;
    fill(&mut seal.last_hash, r, 4)?;
    fill(&mut seal.org, r, 5)?;
    fill(&mut seal.key_id, r, 6)?;
    fill(&mut seal.alg, r, 7)?;
    seal.signature = match r.get_ref(8).map_err(failed)? {
        ValueRef::Null => None,
        _ => Some(text(r, 8)?.into_owned()),
    };
    seal.checkpoint = match r.get_ref(9).map_err(failed)? {
        ValueRef::Null => None,
        _ => Some(count(r, 9)?),
    };
    Ok(Some(r.get(0).map_err(failed)?))
}

/// The next checkpoint into `cp` (its strings reused); its position.
fn next_checkpoint(rows: &mut Rows<'_>, cp: &mut Checkpoint) -> StoreResult<Option<i64>> {
    let Some(r) = rows.next().map_err(failed)? else {
        return Ok(None);
    };
    fill(&mut cp.org, r, 1)?;
    cp.n = count(r, 2)?;
    fill(&mut cp.key_id, r, 3)?;
    fill(&mut cp.alg, r, 4)?;
    cp.seals = count(r, 5)?;
    fill(&mut cp.digest, r, 6)?;
    fill(&mut cp.signature, r, 7)?;
    Ok(Some(r.get(0).map_err(failed)?))
}

/// Opens the SQLite file at `path` for a walk: read-only, in one read
/// transaction (one snapshot of the three tables, whatever is appended
/// meanwhile). The caller walks through the pool instead when this fails.
pub(crate) fn open(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(failed)?;
    // As the pool's connections do: reads through a memory map.
    conn.pragma_update(None, "mmap_size", 268_435_456i64)
        .map_err(failed)?;
    conn.execute_batch("BEGIN").map_err(failed)?;
    // Reads the schema now, so that a file that cannot be read fails here.
    conn.query_row("SELECT COUNT(*) FROM checkpoints WHERE pos < 0", [], |_| {
        Ok(())
    })
    .map_err(failed)?;
    Ok(conn)
}

/// Walks the ledger on `conn` (from [`open`]) up to event position `upto`,
/// in the order the verifier needs, until `f` returns `false`. The rows are
/// those the paged walk reads: events after position 0, seal entries and
/// checkpoints from position -1 on.
pub(crate) fn walk(
    conn: &Connection,
    upto: i64,
    f: &mut dyn FnMut(Item<'_>) -> StoreResult<bool>,
) -> StoreResult<()> {
    let mut ev_stmt = conn
        .prepare("SELECT pos, hash, body FROM events WHERE pos > 0 AND pos <= ?1 ORDER BY pos")
        .map_err(failed)?;
    let mut seal_stmt = conn
        .prepare(
            "SELECT pos, stream, first_seq, last_seq, last_hash, org, key_id, alg, signature, checkpoint \
             FROM seals WHERE (pos > -1 OR (pos = -1 AND id > 0)) AND pos <= ?1 ORDER BY pos, id",
        )
        .map_err(failed)?;
    let mut cp_stmt = conn
        .prepare(
            "SELECT pos, org, n, key_id, alg, seals, digest, signature \
             FROM checkpoints WHERE (pos > -1 OR (pos = -1 AND (org > '' OR (org = '' AND n > 0)))) \
             AND pos <= ?1 ORDER BY pos, org, n",
        )
        .map_err(failed)?;
    let mut evs = ev_stmt.query([upto]).map_err(failed)?;
    let mut seals = seal_stmt.query([upto]).map_err(failed)?;
    let mut cps = cp_stmt.query([upto]).map_err(failed)?;

    let mut seal = Seal {
        stream: String::new(),
        first_seq: 0,
        last_seq: 0,
        last_hash: String::new(),
        org: String::new(),
        key_id: String::new(),
        alg: String::new(),
        signature: None,
        checkpoint: None,
    };
    let mut cp = Checkpoint {
        org: String::new(),
        n: 0,
        key_id: String::new(),
        alg: String::new(),
        seals: 0,
        digest: String::new(),
        signature: String::new(),
    };
    let mut seal_pos = next_seal(&mut seals, &mut seal)?;
    let mut cp_pos = next_checkpoint(&mut cps, &mut cp)?;
    let mut ev = evs.next().map_err(failed)?;
    loop {
        let ev_pos = match ev {
            Some(r) => Some(r.get::<_, i64>(0).map_err(failed)?),
            None => None,
        };
        let go_on = match next_in_ledger(ev_pos, seal_pos, cp_pos) {
            None => return Ok(()),
            Some(Next::Event) => {
                let go_on = {
                    let row = ev.expect("an event is next");
                    let (hash, body) = (text(row, 1)?, text(row, 2)?);
                    f(Item::Event {
                        body: &body,
                        hash: &hash,
                    })?
                };
                ev = evs.next().map_err(failed)?;
                go_on
            }
            Some(Next::Seal) => {
                let go_on = f(Item::Seal(&seal))?;
                seal_pos = next_seal(&mut seals, &mut seal)?;
                go_on
            }
            Some(Next::Checkpoint) => {
                let go_on = f(Item::Checkpoint(&cp))?;
                cp_pos = next_checkpoint(&mut cps, &mut cp)?;
                go_on
            }
        };
        if !go_on {
            return Ok(());
        }
    }
}
