//! The two backends. `backend!` writes the whole `Store` implementation once
//! for each sqlx driver, so SQLite and PostgreSQL run the same statements
//! (`$n` parameters work on both); only connection set-up, migrations and a
//! row-locking clause differ.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use celltrail_ledger::export::{write_line, ExportLine};
use celltrail_ledger::{
    Checkpoint, CheckpointDigest, Event, NewEvent, OrgKey, OrgSigner, Seal, Summary, Verifier,
    GENESIS_HASH,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Column, Row};

use crate::error::{StoreError, StoreResult};
use crate::event_page::{CopyLedger, EventPage};
use crate::model::*;
use crate::projection::{self, Op, Val, READ_MODEL_TABLES};
use crate::{now_rfc3339, Backend, Store, VerifyOutcome};

/// Rows per page when walking the ledger (a page of events is one text of
/// about 15 MB). Unit tests use a tiny page so that their small ledgers
/// cross page boundaries.
#[cfg(not(test))]
const PAGE: i64 = 20000;
#[cfg(test)]
const PAGE: i64 = 2;

type Migration = (i64, &'static str, &'static [&'static str]);

const SQLITE_MIGRATIONS: &[Migration] = &[
    (
        1,
        "init",
        &[
            include_str!("../migrations/sqlite/0001_init.sql"),
            include_str!("../migrations/common.sql"),
        ],
    ),
    (
        2,
        "org_search",
        &[include_str!("../migrations/sqlite/0002_org_search.sql")],
    ),
    (
        3,
        "totp",
        &[include_str!("../migrations/sqlite/0003_totp.sql")],
    ),
    (
        4,
        "checkpoints",
        &[include_str!("../migrations/sqlite/0004_checkpoints.sql")],
    ),
    (
        5,
        "ethics",
        &[include_str!("../migrations/0005_ethics.sql")],
    ),
    (6, "trace", &[include_str!("../migrations/0006_trace.sql")]),
    (
        7,
        "safety",
        &[include_str!("../migrations/0007_safety.sql")],
    ),
];

const PG_MIGRATIONS: &[Migration] = &[
    (
        1,
        "init",
        &[
            include_str!("../migrations/postgres/0001_init.sql"),
            include_str!("../migrations/common.sql"),
        ],
    ),
    (
        2,
        "org_search",
        &[include_str!("../migrations/postgres/0002_org_search.sql")],
    ),
    (
        3,
        "totp",
        &[include_str!("../migrations/postgres/0003_totp.sql")],
    ),
    (
        4,
        "checkpoints",
        &[include_str!("../migrations/postgres/0004_checkpoints.sql")],
    ),
    (
        5,
        "ethics",
        &[include_str!("../migrations/0005_ethics.sql")],
    ),
    (6, "trace", &[include_str!("../migrations/0006_trace.sql")]),
    (
        7,
        "safety",
        &[include_str!("../migrations/0007_safety.sql")],
    ),
];

/// Splits a migration file into statements (no `;` inside literals here).
fn statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Walk item: the ledger in the order the verifier needs, borrowed from the
/// page or row being walked.
pub(crate) enum Item<'a> {
    Event { body: &'a str, hash: &'a str },
    Seal(&'a Seal),
    Checkpoint(&'a Checkpoint),
}

/// Which of the three ledger tables a walk takes from next.
pub(crate) enum Next {
    Event,
    Seal,
    Checkpoint,
}

/// Given the positions at the head of each table's rows (`None` when it
/// has no more), the one to take next: the smallest position, and at one
/// position events before seal entries before checkpoints.
pub(crate) fn next_in_ledger(
    event: Option<i64>,
    seal: Option<i64>,
    cp: Option<i64>,
) -> Option<Next> {
    [
        event.map(|p| (p, 0u8)),
        seal.map(|p| (p, 1u8)),
        cp.map(|p| (p, 2u8)),
    ]
    .into_iter()
    .flatten()
    .min()
    .map(|(_, rank)| match rank {
        0 => Next::Event,
        1 => Next::Seal,
        _ => Next::Checkpoint,
    })
}

/// `(id, pos, stream, first_seq, last_seq, last_hash, org, key_id, alg, signature, checkpoint)`
type SealPageRow = (
    i64,
    i64,
    String,
    u64,
    u64,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<u64>,
);
/// `(pos, org, n, key_id, alg, seals, digest, signature)`
type CheckpointPageRow = (i64, String, u64, String, String, u64, String, String);

/// The queries for one page of a ledger table: the rows after a position
/// (`$1`, with tie-breakers `$2` and `$3`) up to event position `$4`, at
/// most `$5` of them, aggregated into one text: framed events
/// ([`split_event_page`]), or a JSON array of arrays. An aggregate need not
/// keep its input's order (and sorting inside it costs a temporary tree),
/// so the walk puts each page in order itself. Every page query takes the
/// same five parameters. Events and seal entries are read this way on
/// SQLite only (an in-memory database: a file is read in place); PostgreSQL
/// reads them by COPY ([`crate::event_page`]). Checkpoints, a few per
/// thousand events, are read this way on both.
///
/// Events, the bulk of a ledger, are framed rather than escaped:
/// `<pos> <hash bytes> <body bytes> <hash><body>` per event.
const SQLITE_EVENTS_PAGE: &str = "SELECT COALESCE(group_concat(pos || ' ' || octet_length(hash) || ' ' || octet_length(body), ' '), ''), COALESCE(group_concat(hash, ''), ''), COALESCE(group_concat(body, ''), '') FROM (SELECT pos, hash, body FROM events WHERE pos > $1 AND $2 = $2 AND $3 = $3 AND pos <= $4 ORDER BY pos LIMIT $5)";
const SQLITE_SEALS_PAGE: &str = "SELECT COALESCE(json_group_array(json_array(id, pos, stream, first_seq, last_seq, last_hash, org, key_id, alg, signature, checkpoint)), '[]') FROM (SELECT * FROM seals WHERE (pos > $1 OR (pos = $1 AND id > $3)) AND $2 = $2 AND pos <= $4 ORDER BY pos, id LIMIT $5)";

/// A page of checkpoints in each dialect (see [`SQLITE_EVENTS_PAGE`]).
fn checkpoints_page_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SELECT COALESCE(json_group_array(json_array(pos, org, n, key_id, alg, seals, digest, signature)), '[]') FROM (SELECT * FROM checkpoints WHERE (pos > $1 OR (pos = $1 AND (org > $2 OR (org = $2 AND n > $3)))) AND pos <= $4 ORDER BY pos, org, n LIMIT $5)",
        Backend::Postgres => "SELECT COALESCE(json_agg(json_build_array(pos, org, n, key_id, alg, seals, digest, signature))::text, '[]') FROM (SELECT * FROM checkpoints WHERE (pos > $1 OR (pos = $1 AND (org > $2 OR (org = $2 AND n > $3)))) AND pos <= $4 ORDER BY pos, org, n LIMIT $5) t",
    }
}

/// Splits a page of events given as three aggregates over the same rows:
/// `meta` holds `<pos> <hash bytes> <body bytes>` per row (space
/// separated), `hashes` and `bodies` the texts run together in that order.
/// The byte counts come from the database, so no stored text can shift the
/// framing; every byte of both texts must be accounted for.
fn split_event_page<'a>(
    meta: &str,
    hashes: &'a str,
    bodies: &'a str,
) -> Result<Vec<(i64, &'a str, &'a str)>, String> {
    let mut out = Vec::new();
    let mut numbers = meta.split(' ').filter(|n| !n.is_empty());
    let (mut h, mut b) = (0usize, 0usize);
    while let Some(pos) = numbers.next() {
        let mut next = || -> Result<usize, String> {
            let n = numbers.next().ok_or("truncated frame")?;
            n.parse().map_err(|_| format!("bad frame number {n:?}"))
        };
        let (hash_len, body_len) = (next()?, next()?);
        let pos: i64 = pos.parse().map_err(|_| format!("bad position {pos:?}"))?;
        let hash = hashes.get(h..h + hash_len).ok_or("hash beyond the page")?;
        let body = bodies.get(b..b + body_len).ok_or("body beyond the page")?;
        out.push((pos, hash, body));
        h += hash_len;
        b += body_len;
    }
    if h != hashes.len() || b != bodies.len() {
        return Err("page texts longer than their frames".into());
    }
    Ok(out)
}

/// An organisation's open checkpoint is signed inside the append that
/// brings its waiting events to this many; quieter organisations are
/// signed by [`Store::checkpoint`] (the server calls it every second).
pub const CHECKPOINT_EVENTS: i64 = 1000;

fn seal_row<R: Row>(r: &R) -> StoreResult<Seal>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Seal {
        stream: r.try_get("stream")?,
        first_seq: r.try_get::<i64, _>("first_seq")? as u64,
        last_seq: r.try_get::<i64, _>("last_seq")? as u64,
        last_hash: r.try_get("last_hash")?,
        org: r.try_get("org")?,
        key_id: r.try_get("key_id")?,
        alg: r.try_get("alg")?,
        signature: r.try_get("signature")?,
        checkpoint: r.try_get::<Option<i64>, _>("checkpoint")?.map(|n| n as u64),
    })
}

pub struct SqliteStore {
    pool: sqlx::SqlitePool,
    /// The database file, read in place by whole-ledger walks
    /// ([`crate::sqlite_walk`]); `None` for an in-memory database.
    file: Option<std::path::PathBuf>,
    write: tokio::sync::Mutex<()>,
    signers: Mutex<HashMap<String, Arc<OrgSigner>>>,
    /// Bumped after every committed append or replay (see `Store::generation`).
    generation: std::sync::atomic::AtomicU64,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| {
                StoreError::invalid("database_url_invalid", "database_url", e.to_string())
            })?
            .create_if_missing(true)
            .journal_mode(if memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            // FULL: with NORMAL a committed WAL transaction can be lost on power failure.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            // Reads through a memory map of up to 256 MB instead of a read()
            // per page: whole-ledger walks and public lookups copy less.
            // Writes still go through the WAL.
            .pragma("mmap_size", "268435456")
            .foreign_keys(true);
        let file = (!memory).then(|| opts.get_filename().to_path_buf());
        let pool = SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { 8 })
            .connect_with(opts)
            .await?;
        Ok(SqliteStore {
            pool,
            file,
            write: tokio::sync::Mutex::new(()),
            signers: Mutex::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
        })
    }
}

pub struct PgStore {
    pool: sqlx::PgPool,
    write: tokio::sync::Mutex<()>,
    signers: Mutex<HashMap<String, Arc<OrgSigner>>>,
    /// Bumped after every committed append or replay (see `Store::generation`).
    generation: std::sync::atomic::AtomicU64,
}

impl PgStore {
    /// Connects; with `schema`, every connection uses that search path (tests
    /// run each in a schema of their own).
    pub async fn connect(url: &str, schema: Option<&str>) -> StoreResult<Self> {
        let mut opts = PgConnectOptions::from_str(url)
            .map_err(|e| {
                StoreError::invalid("database_url_invalid", "database_url", e.to_string())
            })?
            .options([("synchronous_commit", "on")]);
        if let Some(schema) = schema {
            opts = opts.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        Ok(PgStore {
            pool,
            write: tokio::sync::Mutex::new(()),
            signers: Mutex::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }
}

impl SqliteStore {
    pub fn pool(&self) -> &sqlx::SqlitePool {
        &self.pool
    }

    /// The file a whole-ledger walk reads in place, if any.
    fn walk_file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }
}

impl PgStore {
    /// PostgreSQL is walked through the pool, page by page.
    fn walk_file(&self) -> Option<&std::path::Path> {
        None
    }
}

/// Where the paged walk of an in-memory SQLite database has got to: the
/// last event's position, the last seal entry's (position, id), up to
/// event position `upto`.
struct PagedSource {
    upto: i64,
    events_after: i64,
    seals_after: (i64, i64),
}

impl SqliteStore {
    fn event_source(&self, upto: i64) -> PagedSource {
        PagedSource {
            upto,
            events_after: 0,
            seals_after: (-1, 0),
        }
    }

    /// Refills `page` with the next page of events; `false` when no more come.
    async fn next_event_page(
        &self,
        source: &mut PagedSource,
        page: &mut EventPage,
    ) -> StoreResult<bool> {
        let (meta, hashes, bodies): (String, String, String) = sqlx::query_as(SQLITE_EVENTS_PAGE)
            .bind(source.events_after)
            .bind("")
            .bind(0i64)
            .bind(source.upto)
            .bind(PAGE)
            .fetch_one(&self.pool)
            .await?;
        let mut rows = split_event_page(&meta, &hashes, &bodies).map_err(|e| {
            StoreError::internal("ledger_page_unreadable", format!("events page: {e}"))
        })?;
        rows.sort_by_key(|r| r.0);
        page.clear();
        for (pos, hash, body) in &rows {
            source.events_after = *pos;
            page.push(*pos, hash.as_bytes(), body.as_bytes());
        }
        Ok((rows.len() as i64) >= PAGE)
    }

    /// Appends the next page of seal entries to `out`; `false` when no more come.
    async fn next_seal_page(
        &self,
        source: &mut PagedSource,
        out: &mut VecDeque<(i64, Seal)>,
    ) -> StoreResult<bool> {
        let after = source.seals_after;
        let mut rows: Vec<SealPageRow> = self
            .ledger_page(
                SQLITE_SEALS_PAGE,
                "seals",
                (after.0, "", after.1),
                source.upto,
            )
            .await?;
        rows.sort_by_key(|r| (r.1, r.0));
        let more = (rows.len() as i64) >= PAGE;
        for (
            id,
            pos,
            stream,
            first_seq,
            last_seq,
            last_hash,
            org,
            key_id,
            alg,
            signature,
            checkpoint,
        ) in rows
        {
            source.seals_after = (pos, id);
            let seal = Seal {
                stream,
                first_seq,
                last_seq,
                last_hash,
                org,
                key_id,
                alg,
                signature,
                checkpoint,
            };
            out.push_back((pos, seal));
        }
        Ok(more)
    }
}

impl PgStore {
    fn event_source(&self, upto: i64) -> CopyLedger {
        CopyLedger::new(&self.pool, upto)
    }

    async fn next_event_page(
        &self,
        source: &mut CopyLedger,
        page: &mut EventPage,
    ) -> StoreResult<bool> {
        source.next_events(page, PAGE).await
    }

    async fn next_seal_page(
        &self,
        source: &mut CopyLedger,
        out: &mut VecDeque<(i64, Seal)>,
    ) -> StoreResult<bool> {
        source.next_seals(out, PAGE).await
    }
}

/// Runs a blocking whole-ledger walk from async code: on a multi-threaded
/// runtime the worker hands its other tasks on while it reads; elsewhere
/// (a single-threaded test or command) it simply runs.
fn run_walk<T>(walk: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(walk),
        _ => walk(),
    }
}

fn split_roles(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

/// The public institution page in one round trip; the JSON functions differ
/// between the two databases.
const SQLITE_PUBLIC_INSTITUTION: &str = "SELECT o.*, \
 (SELECT json_group_array(json_object('id', q.id, 'org_id', q.org_id, 'kind', q.kind, 'number', q.number, 'issuer_zh', q.issuer_zh, 'issuer_en', q.issuer_en, 'valid_from', q.valid_from, 'valid_to', q.valid_to, 'recorded_at', q.recorded_at)) \
    FROM (SELECT * FROM qualifications WHERE org_id = o.id AND revoked = 0 ORDER BY kind, valid_from, id) q) AS quals_json, \
 (SELECT json_group_array(json_object('filing_number', p.filing_number, 'kind', p.kind, 'title_zh', p.title_zh, 'title_en', p.title_en, 'category', p.category, 'state', p.state, 'filed_at', p.filed_at)) \
    FROM (SELECT * FROM projects WHERE org_id = o.id AND state IN ('filed','suspended','terminated','completed') ORDER BY updated_at DESC, id LIMIT 500) p) AS projects_json \
 FROM organisations o WHERE o.id = $1";

const PG_PUBLIC_INSTITUTION: &str = "SELECT o.*, \
 (SELECT COALESCE(json_agg(json_build_object('id', q.id, 'org_id', q.org_id, 'kind', q.kind, 'number', q.number, 'issuer_zh', q.issuer_zh, 'issuer_en', q.issuer_en, 'valid_from', q.valid_from, 'valid_to', q.valid_to, 'recorded_at', q.recorded_at) ORDER BY q.kind, q.valid_from, q.id), '[]'::json)::text \
    FROM qualifications q WHERE q.org_id = o.id AND q.revoked = 0) AS quals_json, \
 (SELECT COALESCE(json_agg(json_build_object('filing_number', p.filing_number, 'kind', p.kind, 'title_zh', p.title_zh, 'title_en', p.title_en, 'category', p.category, 'state', p.state, 'filed_at', p.filed_at) ORDER BY p.updated_at DESC, p.id), '[]'::json)::text \
    FROM (SELECT * FROM projects WHERE org_id = o.id AND state IN ('filed','suspended','terminated','completed') ORDER BY updated_at DESC, id LIMIT 500) p) AS projects_json \
 FROM organisations o WHERE o.id = $1";

/// A qualification as the institution query returns it in JSON.
#[derive(serde::Deserialize)]
struct QualJson {
    id: String,
    org_id: String,
    kind: String,
    number: String,
    issuer_zh: String,
    issuer_en: String,
    valid_from: String,
    valid_to: Option<String>,
    recorded_at: String,
}

fn parse_institution_json(
    quals: &str,
    projects: &str,
) -> StoreResult<(Vec<Qualification>, Vec<PublicProjectRow>)> {
    let quals: Vec<QualJson> = serde_json::from_str(quals)?;
    let projects: Vec<PublicProjectRow> = serde_json::from_str(projects)?;
    let quals = quals
        .into_iter()
        .map(|q| Qualification {
            id: q.id,
            org_id: q.org_id,
            kind: q.kind,
            number: q.number,
            issuer_zh: q.issuer_zh,
            issuer_en: q.issuer_en,
            valid_from: q.valid_from,
            valid_to: q.valid_to,
            revoked: false,
            recorded_at: q.recorded_at,
        })
        .collect();
    Ok((quals, projects))
}

macro_rules! backend {
    ($ty:ident, $db:ty, $backend:expr, $migrations:expr, $for_update:expr, $institution_sql:expr) => {
        impl $ty {
            async fn run_ops(
                tx: &mut sqlx::Transaction<'_, $db>,
                ops: Vec<Op>,
            ) -> StoreResult<()> {
                for op in ops {
                    let mut q = sqlx::query(op.sql);
                    for a in op.args {
                        q = match a {
                            Val::Text(s) => q.bind(s),
                            Val::OptText(o) => q.bind(o),
                            Val::OptInt(o) => q.bind(o),
                            Val::Int(i) => q.bind(i),
                        };
                    }
                    q.execute(&mut **tx).await?;
                }
                Ok(())
            }

            async fn query_rows(
                &self,
                sql: &str,
                args: Vec<Val>,
            ) -> StoreResult<Vec<<$db as sqlx::Database>::Row>> {
                let mut q = sqlx::query(sql);
                for a in args {
                    q = match a {
                        Val::Text(s) => q.bind(s),
                        Val::OptText(o) => q.bind(o),
                            Val::OptInt(o) => q.bind(o),
                        Val::Int(i) => q.bind(i),
                    };
                }
                Ok(q.fetch_all(&self.pool).await?)
            }

            fn org_row(r: &<$db as sqlx::Database>::Row) -> StoreResult<Organisation> {
                Self::org_row_prefixed(r, "")
            }

            /// An organisation from columns named with a prefix (joins).
            fn org_row_prefixed(r: &<$db as sqlx::Database>::Row, p: &str) -> StoreResult<Organisation> {
                let c = |name: &str| format!("{p}{name}");
                Ok(Organisation {
                    id: r.try_get(c("id").as_str())?,
                    org_type: r.try_get(c("org_type").as_str())?,
                    name_zh: r.try_get(c("name_zh").as_str())?,
                    name_en: r.try_get(c("name_en").as_str())?,
                    uscc: r.try_get(c("uscc").as_str())?,
                    province_code: r.try_get(c("province_code").as_str())?,
                    city_zh: r.try_get(c("city_zh").as_str())?,
                    city_en: r.try_get(c("city_en").as_str())?,
                    grade: r.try_get(c("grade").as_str())?,
                    address_zh: r.try_get(c("address_zh").as_str())?,
                    address_en: r.try_get(c("address_en").as_str())?,
                    active: r.try_get::<i64, _>(c("active").as_str())? != 0,
                    created_at: r.try_get(c("created_at").as_str())?,
                    updated_at: r.try_get(c("updated_at").as_str())?,
                })
            }

            fn qual_row(r: &<$db as sqlx::Database>::Row) -> StoreResult<Qualification> {
                Ok(Qualification {
                    id: r.try_get("id")?,
                    org_id: r.try_get("org_id")?,
                    kind: r.try_get("kind")?,
                    number: r.try_get("number")?,
                    issuer_zh: r.try_get("issuer_zh")?,
                    issuer_en: r.try_get("issuer_en")?,
                    valid_from: r.try_get("valid_from")?,
                    valid_to: r.try_get("valid_to")?,
                    revoked: r.try_get::<i64, _>("revoked")? != 0,
                    recorded_at: r.try_get("recorded_at")?,
                })
            }

            fn user_row(r: &<$db as sqlx::Database>::Row) -> StoreResult<User> {
                Ok(User {
                    id: r.try_get("id")?,
                    org_id: r.try_get("org_id")?,
                    username: r.try_get("username")?,
                    display_name: r.try_get("display_name")?,
                    email: r.try_get("email")?,
                    roles: split_roles(&r.try_get::<String, _>("roles")?),
                    active: r.try_get::<i64, _>("active")? != 0,
                    created_at: r.try_get("created_at")?,
                })
            }

            fn project_row(r: &<$db as sqlx::Database>::Row) -> StoreResult<Project> {
                Ok(Project {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    org_id: r.try_get("org_id")?,
                    title_zh: r.try_get("title_zh")?,
                    title_en: r.try_get("title_en")?,
                    summary_zh: r.try_get("summary_zh")?,
                    summary_en: r.try_get("summary_en")?,
                    category: r.try_get("category")?,
                    pi_name: r.try_get("pi_name")?,
                    state: r.try_get("state")?,
                    filing_number: r.try_get("filing_number")?,
                    submitted_at: r.try_get("submitted_at")?,
                    deadline: r.try_get("deadline")?,
                    deadline_kind: r.try_get("deadline_kind")?,
                    deadline_provisional: r.try_get::<i64, _>("deadline_provisional")? != 0,
                    filed_at: r.try_get("filed_at")?,
                    last_reason: r.try_get("last_reason")?,
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                    head_seq: r.try_get::<i64, _>("head_seq")? as u64,
                })
            }

            fn token_row(r: &<$db as sqlx::Database>::Row) -> StoreResult<ApiToken> {
                Ok(ApiToken {
                    id: r.try_get("id")?,
                    token_hash: r.try_get("token_hash")?,
                    user_id: r.try_get("user_id")?,
                    name: r.try_get("name")?,
                    scopes: split_roles(&r.try_get::<String, _>("scopes")?),
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            }

            async fn signer(&self, org: &str) -> StoreResult<Arc<OrgSigner>> {
                if let Some(s) = self.signers.lock().expect("signer cache").get(org) {
                    return Ok(s.clone());
                }
                let row = sqlx::query(
                    "SELECT s.secret_hex FROM org_keys k JOIN org_key_secrets s ON s.key_id = k.key_id WHERE k.org = $1 ORDER BY k.created_at DESC, k.key_id LIMIT 1",
                )
                .bind(org)
                .fetch_optional(&self.pool)
                .await?;
                let signer = match row {
                    Some(r) => OrgSigner::from_secret_hex(org, &r.try_get::<String, _>("secret_hex")?)?,
                    None => {
                        let signer = OrgSigner::generate(org)?;
                        let key = signer.public();
                        let mut tx = self.pool.begin().await?;
                        sqlx::query("INSERT INTO org_keys (key_id, org, alg, public_key, created_at) VALUES ($1,$2,$3,$4,$5)")
                            .bind(&key.key_id)
                            .bind(&key.org)
                            .bind(&key.alg)
                            .bind(&key.public_key)
                            .bind(now_rfc3339())
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("INSERT INTO org_key_secrets (key_id, secret_hex) VALUES ($1,$2)")
                            .bind(&key.key_id)
                            .bind(signer.secret_hex())
                            .execute(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        signer
                    }
                };
                let signer = Arc::new(signer);
                self.signers
                    .lock()
                    .expect("signer cache")
                    .insert(org.to_string(), signer.clone());
                Ok(signer)
            }

            /// One page of a ledger table as a single JSON text (see
            /// [`SQLITE_EVENTS_PAGE`]): one row per page instead of one per
            /// record spares the driver's per-row cost on a full walk.
            async fn ledger_page<T: serde::de::DeserializeOwned>(
                &self,
                sql: &'static str,
                what: &str,
                after: (i64, &str, i64),
                upto: i64,
            ) -> StoreResult<Vec<T>> {
                let text: String = sqlx::query_scalar(sql)
                    .bind(after.0)
                    .bind(after.1)
                    .bind(after.2)
                    .bind(upto)
                    .bind(PAGE)
                    .fetch_one(&self.pool)
                    .await?;
                serde_json::from_str(&text).map_err(|e| {
                    StoreError::internal("ledger_page_unreadable", format!("{what} page: {e}"))
                })
            }

            /// Walks the ledger up to event position `upto` in position
            /// order: each seal right after the last event it covers, each
            /// checkpoint after the last seal it signs.
            async fn walk(&self, upto: i64, mut f: impl FnMut(Item<'_>) -> StoreResult<bool> + Send) -> StoreResult<()> {
                // A file that cannot be opened apart (for instance a
                // read-only directory without the WAL index) is read
                // through the pool.
                match self.walk_file().and_then(|file| crate::sqlite_walk::open(file).ok()) {
                    Some(conn) => run_walk(|| crate::sqlite_walk::walk(&conn, upto, &mut f)),
                    None => self.walk_paged(upto, f).await,
                }
            }

            /// [`Self::walk`] through the pool, a page of each table at a
            /// time (PostgreSQL, an in-memory SQLite database, and the
            /// test that compares both walks).
            async fn walk_paged(&self, upto: i64, mut f: impl FnMut(Item<'_>) -> StoreResult<bool> + Send) -> StoreResult<()> {
                // Per source: rows after (pos, tie) in (pos, tie) order; at one
                // position, events come before seals before checkpoints. The
                // events of a page stay in its text, walked by byte ranges.
                let mut events = self.event_source(upto);
                let mut evs = EventPage::default();
                let mut seals: VecDeque<(i64, Seal)> = VecDeque::new();
                let mut cps: VecDeque<(i64, Checkpoint)> = VecDeque::new();
                let mut cp_after = (-1i64, String::new(), 0i64);
                let (mut ev_done, mut seal_done, mut cp_done) = (false, false, false);
                loop {
                    if evs.rows.is_empty() && !ev_done {
                        ev_done = !self.next_event_page(&mut events, &mut evs).await?;
                    }
                    if seals.is_empty() && !seal_done {
                        seal_done = !self.next_seal_page(&mut events, &mut seals).await?;
                    }
                    if cps.is_empty() && !cp_done {
                        let mut rows: Vec<CheckpointPageRow> = self.ledger_page(checkpoints_page_sql($backend), "checkpoints", (cp_after.0, &cp_after.1, cp_after.2), upto).await?;
                        rows.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
                        cp_done = (rows.len() as i64) < PAGE;
                        for (pos, org, n, key_id, alg, seals, digest, signature) in rows {
                            cp_after = (pos, org.clone(), n as i64);
                            let cp = Checkpoint { org, n, key_id, alg, seals, digest, signature };
                            cps.push_back((pos, cp));
                        }
                    }
                    let next = next_in_ledger(
                        evs.rows.front().map(|e| e.0),
                        seals.front().map(|s| s.0),
                        cps.front().map(|c| c.0),
                    );
                    let go_on = match next {
                        None => return Ok(()),
                        Some(Next::Event) => {
                            let (_, h, b) = evs.rows.pop_front().expect("front checked");
                            f(Item::Event { body: evs.str(b)?, hash: evs.str(h)? })?
                        }
                        Some(Next::Seal) => {
                            let (_, seal) = seals.pop_front().expect("front checked");
                            f(Item::Seal(&seal))?
                        }
                        Some(Next::Checkpoint) => {
                            let (_, cp) = cps.pop_front().expect("front checked");
                            f(Item::Checkpoint(&cp))?
                        }
                    };
                    if !go_on {
                        return Ok(());
                    }
                }
            }

            /// The position of the last event now in the ledger.
            async fn last_pos(&self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(pos) FROM events")
                    .fetch_one(&self.pool)
                    .await?
                    .unwrap_or(0))
            }

            /// Signs the organisation's open checkpoint `n` over its entries
            /// (in ledger order), if any wait, and opens `n + 1`. The caller
            /// holds the organisation's `seal_pending` row.
            async fn sign_checkpoint(
                tx: &mut sqlx::Transaction<'_, $db>,
                signer: &OrgSigner,
                n: i64,
            ) -> StoreResult<bool> {
                let rows = sqlx::query("SELECT stream, first_seq, last_seq, last_hash, org, key_id, alg, signature, checkpoint, pos FROM seals WHERE org = $1 AND checkpoint = $2 ORDER BY pos, id")
                    .bind(signer.org())
                    .bind(n)
                    .fetch_all(&mut **tx)
                    .await?;
                let Some(last) = rows.last() else {
                    return Ok(false);
                };
                let pos: i64 = last.try_get("pos")?;
                let mut digest = CheckpointDigest::new();
                for r in &rows {
                    digest.add(&seal_row(r)?);
                }
                let cp = signer.checkpoint(n as u64, digest);
                sqlx::query("INSERT INTO checkpoints (org, n, key_id, alg, seals, digest, signature, pos, signed_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)")
                    .bind(&cp.org)
                    .bind(n)
                    .bind(&cp.key_id)
                    .bind(&cp.alg)
                    .bind(cp.seals as i64)
                    .bind(&cp.digest)
                    .bind(&cp.signature)
                    .bind(pos)
                    .bind(now_rfc3339())
                    .execute(&mut **tx)
                    .await?;
                sqlx::query("UPDATE seal_pending SET n = $2, entries = 0, events = 0 WHERE org = $1")
                    .bind(signer.org())
                    .bind(n + 1)
                    .execute(&mut **tx)
                    .await?;
                Ok(true)
            }

            /// Signs the open checkpoint of every organisation whose oldest
            /// waiting entry was written at or before `cutoff` (RFC 3339;
            /// None: every waiting one). The caller holds the write lock.
            async fn checkpoint_locked(&self, cutoff: Option<&str>) -> StoreResult<u64> {
                let orgs: Vec<String> = match cutoff {
                    Some(cutoff) => sqlx::query_scalar("SELECT org FROM seal_pending WHERE entries > 0 AND since <= $1 ORDER BY org")
                        .bind(cutoff)
                        .fetch_all(&self.pool)
                        .await?,
                    None => sqlx::query_scalar("SELECT org FROM seal_pending WHERE entries > 0 ORDER BY org")
                        .fetch_all(&self.pool)
                        .await?,
                };
                let mut signed = 0;
                for org in orgs {
                    let signer = self.signer(&org).await?;
                    let mut tx = self.pool.begin().await?;
                    let open: Option<(i64, i64)> = sqlx::query_as(concat!("SELECT n, entries FROM seal_pending WHERE org = $1", $for_update))
                        .bind(&org)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let Some((n, entries)) = open {
                        if entries > 0 && Self::sign_checkpoint(&mut tx, &signer, n).await? {
                            signed += 1;
                        }
                    }
                    tx.commit().await?;
                }
                Ok(signed)
            }
        }

        #[async_trait]
        impl Store for $ty {
            fn backend(&self) -> Backend {
                $backend
            }

            fn generation(&self) -> u64 {
                self.generation.load(std::sync::atomic::Ordering::Acquire)
            }

            async fn migrate(&self) -> StoreResult<u32> {
                sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
                    .execute(&self.pool)
                    .await?;
                let mut applied = 0;
                for (version, name, files) in $migrations {
                    let mut tx = self.pool.begin().await?;
                    if $backend == Backend::Postgres {
                        // One migrating connection per database at a time:
                        // extensions are per database, shared by schemas.
                        sqlx::query("SELECT pg_advisory_xact_lock(7242026)")
                            .execute(&mut *tx)
                            .await?;
                    }
                    let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                        .bind(*version)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if done.is_some() {
                        continue;
                    }
                    for file in files.iter() {
                        for stmt in statements(file) {
                            sqlx::query(&stmt).execute(&mut *tx).await?;
                        }
                    }
                    sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1,$2,$3)")
                        .bind(*version)
                        .bind(*name)
                        .bind(now_rfc3339())
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    applied += 1;
                }
                Ok(applied)
            }

            async fn append(&self, batch: Vec<NewEvent>) -> StoreResult<Vec<Event>> {
                let Some(first) = batch.first() else {
                    return Ok(Vec::new());
                };
                let org = first.org.clone();
                if batch.iter().any(|e| e.org != org) {
                    return Err(StoreError::invalid(
                        "ledger_batch_mixed_orgs",
                        "org",
                        "one batch is sealed by one organisation",
                    ));
                }
                let signer = self.signer(&org).await?;
                let _guard = self.write.lock().await;
                let mut tx = self.pool.begin().await?;
                let mut heads: HashMap<String, (u64, String, u64, i64)> = HashMap::new();
                let mut order: Vec<String> = Vec::new();
                let mut out = Vec::with_capacity(batch.len());
                for ne in batch {
                    let (prev_seq, prev_hash) = match heads.get(&ne.stream) {
                        Some((s, h, _, _)) => (*s, h.clone()),
                        None => {
                            let row = sqlx::query(concat!("SELECT head_seq, head_hash FROM streams WHERE stream = $1", $for_update))
                                .bind(&ne.stream)
                                .fetch_optional(&mut *tx)
                                .await?;
                            match row {
                                Some(r) => (r.try_get::<i64, _>("head_seq")? as u64, r.try_get::<String, _>("head_hash")?),
                                None => (0, GENESIS_HASH.to_string()),
                            }
                        }
                    };
                    let ev = Event::chain(ne, prev_seq, &prev_hash)?;
                    let pos: i64 = sqlx::query_scalar("INSERT INTO events (stream, seq, kind, org, time, body, hash) VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING pos")
                        .bind(&ev.stream)
                        .bind(ev.seq as i64)
                        .bind(&ev.kind)
                        .bind(&ev.org)
                        .bind(&ev.time)
                        .bind(&ev.body)
                        .bind(&ev.hash)
                        .fetch_one(&mut *tx)
                        .await?;
                    Self::run_ops(&mut tx, projection::project(&ev)?).await?;
                    match heads.get_mut(&ev.stream) {
                        Some(h) => {
                            h.0 = ev.seq;
                            h.1 = ev.hash.clone();
                            h.3 = pos;
                        }
                        None => {
                            order.push(ev.stream.clone());
                            heads.insert(ev.stream.clone(), (ev.seq, ev.hash.clone(), ev.seq, pos));
                        }
                    }
                    out.push(ev);
                }
                // The organisation's open checkpoint: created on its first
                // append, then locked so its entries and signature agree.
                sqlx::query("INSERT INTO seal_pending (org, n, entries, events, since) VALUES ($1, (SELECT COALESCE(MAX(n), 0) + 1 FROM checkpoints WHERE org = $1), 0, 0, $2) ON CONFLICT (org) DO NOTHING")
                    .bind(&org)
                    .bind(now_rfc3339())
                    .execute(&mut *tx)
                    .await?;
                let (n, entries, events): (i64, i64, i64) = sqlx::query_as(concat!("SELECT n, entries, events FROM seal_pending WHERE org = $1", $for_update))
                    .bind(&org)
                    .fetch_one(&mut *tx)
                    .await?;
                for stream in &order {
                    let (last_seq, last_hash, first_seq, pos) = &heads[stream];
                    let seal = signer.entry(stream, *first_seq, *last_seq, last_hash, n as u64);
                    sqlx::query("INSERT INTO seals (stream, first_seq, last_seq, last_hash, org, key_id, alg, checkpoint, pos) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)")
                        .bind(&seal.stream)
                        .bind(seal.first_seq as i64)
                        .bind(seal.last_seq as i64)
                        .bind(&seal.last_hash)
                        .bind(&seal.org)
                        .bind(&seal.key_id)
                        .bind(&seal.alg)
                        .bind(n)
                        .bind(*pos)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("INSERT INTO streams (stream, head_seq, head_hash) VALUES ($1,$2,$3) ON CONFLICT (stream) DO UPDATE SET head_seq = excluded.head_seq, head_hash = excluded.head_hash")
                        .bind(stream)
                        .bind(*last_seq as i64)
                        .bind(last_hash)
                        .execute(&mut *tx)
                        .await?;
                }
                let events = events + out.len() as i64;
                if events >= CHECKPOINT_EVENTS {
                    Self::sign_checkpoint(&mut tx, &signer, n).await?;
                } else {
                    let since = if entries == 0 { Some(now_rfc3339()) } else { None };
                    sqlx::query("UPDATE seal_pending SET entries = $2, events = $3, since = COALESCE($4, since) WHERE org = $1")
                        .bind(&org)
                        .bind(entries + order.len() as i64)
                        .bind(events)
                        .bind(since)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                self.generation.fetch_add(1, std::sync::atomic::Ordering::Release);
                Ok(out)
            }

            async fn ensure_org_key(&self, org: &str) -> StoreResult<OrgKey> {
                Ok(self.signer(org).await?.public())
            }

            async fn org_keys(&self) -> StoreResult<Vec<OrgKey>> {
                let rows = sqlx::query("SELECT key_id, org, alg, public_key FROM org_keys ORDER BY org, created_at, key_id")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(OrgKey {
                            key_id: r.try_get("key_id")?,
                            org: r.try_get("org")?,
                            alg: r.try_get("alg")?,
                            public_key: r.try_get("public_key")?,
                        })
                    })
                    .collect()
            }

            async fn stream_head(&self, stream: &str) -> StoreResult<Option<(u64, String)>> {
                let row = sqlx::query("SELECT head_seq, head_hash FROM streams WHERE stream = $1")
                    .bind(stream)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| Ok((r.try_get::<i64, _>("head_seq")? as u64, r.try_get("head_hash")?)))
                    .transpose()
            }

            async fn stream_events(&self, stream: &str) -> StoreResult<Vec<Event>> {
                let rows = sqlx::query("SELECT body, hash FROM events WHERE stream = $1 ORDER BY seq")
                    .bind(stream)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        let body: String = r.try_get("body")?;
                        let hash: String = r.try_get("hash")?;
                        Ok(Event::from_stored(&body, &hash)?)
                    })
                    .collect()
            }

            async fn event_count(&self) -> StoreResult<u64> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n as u64)
            }

            async fn verify(&self) -> StoreResult<VerifyOutcome> {
                let mut v = Verifier::new();
                let upto = self.last_pos().await?;
                for k in self.org_keys().await? {
                    v.add_key(&k)?;
                }
                let mut broken = None;
                self.walk(upto, |item| {
                    let r = match item {
                        Item::Event { body, hash } => v.event(body, hash),
                        Item::Seal(s) => v.seal(s),
                        Item::Checkpoint(c) => v.checkpoint(c),
                    };
                    match r {
                        Ok(()) => Ok(true),
                        Err(b) => {
                            broken = Some(b);
                            Ok(false)
                        }
                    }
                })
                .await?;
                Ok(match broken {
                    Some(b) => Err(b),
                    None => v.finish_pending(),
                })
            }

            async fn checkpoint(&self, older_than: Duration) -> StoreResult<u64> {
                let cutoff = (!older_than.is_zero()).then(|| {
                    chrono::Duration::from_std(older_than)
                        .ok()
                        .and_then(|d| chrono::Utc::now().checked_sub_signed(d))
                        .map(|at| at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                        // Older than any date: nothing qualifies.
                        .unwrap_or_default()
                });
                let _guard = self.write.lock().await;
                let signed = self.checkpoint_locked(cutoff.as_deref()).await?;
                if signed > 0 {
                    self.generation.fetch_add(1, std::sync::atomic::Ordering::Release);
                }
                Ok(signed)
            }

            async fn export(&self, out: &mut (dyn Write + Send)) -> StoreResult<Summary> {
                let io = |e: std::io::Error| StoreError::internal("export_io_error", e.to_string());
                // Sign every waiting entry and fix the end of the copy under
                // the write lock, so everything it holds is signed.
                let upto = {
                    let _guard = self.write.lock().await;
                    self.checkpoint_locked(None).await?;
                    self.last_pos().await?
                };
                write_line(&mut *out, &ExportLine::header(&now_rfc3339())).map_err(io)?;
                let keys = self.org_keys().await?;
                for k in &keys {
                    write_line(&mut *out, &ExportLine::Key(k.clone())).map_err(io)?;
                }
                let mut summary = Summary::default();
                let mut streams = std::collections::HashSet::new();
                self.walk(upto, |item| {
                    match item {
                        Item::Event { body, hash } => {
                            summary.events += 1;
                            if let Ok(ev) = Event::from_stored(body, hash) {
                                streams.insert(ev.stream);
                            }
                            write_line(&mut *out, &ExportLine::stored_event(hash.to_string(), body.to_string())).map_err(io)?;
                        }
                        Item::Seal(s) => {
                            summary.seals += 1;
                            write_line(&mut *out, &ExportLine::Seal(s.clone())).map_err(io)?;
                        }
                        Item::Checkpoint(c) => {
                            summary.checkpoints += 1;
                            write_line(&mut *out, &ExportLine::Checkpoint(c.clone())).map_err(io)?;
                        }
                    }
                    Ok(true)
                })
                .await?;
                summary.streams = streams.len() as u64;
                out.flush().map_err(io)?;
                Ok(summary)
            }

            async fn replay(&self) -> StoreResult<u64> {
                let _guard = self.write.lock().await;
                let mut tx = self.pool.begin().await?;
                for (table, _) in READ_MODEL_TABLES {
                    sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *tx).await?;
                }
                let mut after: i64 = 0;
                let mut n = 0u64;
                loop {
                    let rows = sqlx::query("SELECT pos, body, hash FROM events WHERE pos > $1 ORDER BY pos LIMIT $2")
                        .bind(after)
                        .bind(PAGE)
                        .fetch_all(&mut *tx)
                        .await?;
                    let done = (rows.len() as i64) < PAGE;
                    for r in rows {
                        after = r.try_get("pos")?;
                        let body: String = r.try_get("body")?;
                        let hash: String = r.try_get("hash")?;
                        let ev = Event::from_stored(&body, &hash)?;
                        Self::run_ops(&mut tx, projection::project(&ev)?).await?;
                        n += 1;
                    }
                    if done {
                        break;
                    }
                }
                tx.commit().await?;
                self.generation.fetch_add(1, std::sync::atomic::Ordering::Release);
                Ok(n)
            }

            async fn dump_read_models(&self) -> StoreResult<String> {
                let mut out = String::new();
                for (table, key) in READ_MODEL_TABLES {
                    out.push_str(&format!("## {table}\n"));
                    let rows = sqlx::query(&format!("SELECT * FROM {table} ORDER BY {key}"))
                        .fetch_all(&self.pool)
                        .await?;
                    for r in rows {
                        let mut cells = Vec::new();
                        for (i, c) in r.columns().iter().enumerate() {
                            let v = match r.try_get::<Option<String>, _>(i) {
                                Ok(s) => s.unwrap_or_else(|| "NULL".into()),
                                Err(_) => r
                                    .try_get::<Option<i64>, _>(i)?
                                    .map(|n| n.to_string())
                                    .unwrap_or_else(|| "NULL".into()),
                            };
                            cells.push(format!("{}={v}", c.name()));
                        }
                        out.push_str(&cells.join("|"));
                        out.push('\n');
                    }
                }
                Ok(out)
            }

            async fn organisation(&self, id: &str) -> StoreResult<Option<Organisation>> {
                let rows = self.query_rows("SELECT * FROM organisations WHERE id = $1", vec![Val::Text(id.into())]).await?;
                rows.first().map(Self::org_row).transpose()
            }

            async fn organisations(&self, f: &OrgFilter) -> StoreResult<Vec<Organisation>> {
                let mut sql = String::from("SELECT * FROM organisations WHERE 1=1");
                let mut args = Vec::new();
                if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| crate::looks_like_uscc(q)) {
                    // A Unified Social Credit Code: an indexed exact match.
                    args.push(Val::Text(q.to_uppercase()));
                    sql.push_str(&format!(" AND uscc = ${}", args.len()));
                } else if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
                    // Names through the trigram index (FTS5 on SQLite,
                    // pg_trgm on PostgreSQL); an ESCAPE clause only when the
                    // query holds LIKE wildcards, since it turns the index off.
                    let needs_escape = q.contains(['%', '_', '\\']);
                    let pattern = if needs_escape { like_pattern(q) } else { format!("%{}%", q.to_lowercase()) };
                    args.push(Val::Text(pattern));
                    let escape = if needs_escape { " ESCAPE '\\'" } else { "" };
                    sql.push_str(&format!(" AND id IN (SELECT id FROM org_search WHERE text LIKE ${}{escape})", args.len()));
                }
                if let Some(t) = &f.org_type {
                    args.push(Val::Text(t.clone()));
                    sql.push_str(&format!(" AND org_type = ${}", args.len()));
                }
                if let Some(p) = &f.province_code {
                    args.push(Val::Text(p.clone()));
                    sql.push_str(&format!(" AND province_code = ${}", args.len()));
                }
                args.push(Val::Int(f.limit.unwrap_or(100) as i64));
                args.push(Val::Int(f.offset.unwrap_or(0) as i64));
                sql.push_str(&format!(" ORDER BY province_code, name_en, id LIMIT ${} OFFSET ${}", args.len() - 1, args.len()));
                let rows = self.query_rows(&sql, args).await?;
                rows.iter().map(Self::org_row).collect()
            }

            async fn qualifications(&self, org_id: &str) -> StoreResult<Vec<Qualification>> {
                let rows = self
                    .query_rows("SELECT * FROM qualifications WHERE org_id = $1 ORDER BY kind, valid_from, id", vec![Val::Text(org_id.into())])
                    .await?;
                rows.iter().map(Self::qual_row).collect()
            }

            async fn user(&self, id: &str) -> StoreResult<Option<User>> {
                let rows = self.query_rows("SELECT * FROM users WHERE id = $1", vec![Val::Text(id.into())]).await?;
                rows.first().map(Self::user_row).transpose()
            }

            async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
                let rows = self.query_rows("SELECT * FROM users WHERE username = $1", vec![Val::Text(username.into())]).await?;
                rows.first().map(Self::user_row).transpose()
            }

            async fn users(&self, org_id: Option<&str>) -> StoreResult<Vec<User>> {
                let rows = match org_id {
                    Some(o) => self.query_rows("SELECT * FROM users WHERE org_id = $1 ORDER BY username", vec![Val::Text(o.into())]).await?,
                    None => self.query_rows("SELECT * FROM users ORDER BY username", vec![]).await?,
                };
                rows.iter().map(Self::user_row).collect()
            }

            async fn project(&self, id: &str) -> StoreResult<Option<Project>> {
                let rows = self.query_rows("SELECT * FROM projects WHERE id = $1", vec![Val::Text(id.into())]).await?;
                rows.first().map(Self::project_row).transpose()
            }

            async fn project_by_filing_number(&self, number: &str) -> StoreResult<Option<Project>> {
                let rows = self
                    .query_rows("SELECT * FROM projects WHERE filing_number = $1", vec![Val::Text(number.trim().to_uppercase())])
                    .await?;
                rows.first().map(Self::project_row).transpose()
            }

            async fn public_filing(&self, number: &str) -> StoreResult<Option<PublicFiling>> {
                // One round trip: the project, its institution, and the
                // regulator's signatures (accept, file, terminate).
                let rows = self
                    .query_rows(
                        "SELECT p.*, o.id AS o_id, o.org_type AS o_org_type, o.name_zh AS o_name_zh, o.name_en AS o_name_en, o.uscc AS o_uscc, o.province_code AS o_province_code, o.city_zh AS o_city_zh, o.city_en AS o_city_en, o.grade AS o_grade, o.address_zh AS o_address_zh, o.address_en AS o_address_en, o.active AS o_active, o.created_at AS o_created_at, o.updated_at AS o_updated_at, s.seq AS s_seq, s.action AS s_action, s.meaning AS s_meaning, s.record_hash AS s_record_hash, s.manifest_hash AS s_manifest_hash, s.user_id AS s_user_id, s.printed_name AS s_printed_name, s.org_id AS s_org_id, s.signed_at AS s_signed_at FROM projects p JOIN organisations o ON o.id = p.org_id LEFT JOIN signatures s ON s.stream = 'project:' || p.id AND s.action IN ('accept', 'file', 'terminate') WHERE p.filing_number = $1 ORDER BY s.seq",
                        vec![Val::Text(number.trim().to_uppercase())],
                    )
                    .await?;
                let Some(first) = rows.first() else { return Ok(None) };
                let project = Self::project_row(first)?;
                let organisation = Self::org_row_prefixed(first, "o_")?;
                let mut signatures = Vec::new();
                for r in &rows {
                    let Some(seq) = r.try_get::<Option<i64>, _>("s_seq")? else { continue };
                    signatures.push(SignatureRecord {
                        stream: format!("project:{}", project.id),
                        seq: seq as u64,
                        action: r.try_get::<Option<String>, _>("s_action")?.unwrap_or_default(),
                        meaning: r.try_get::<Option<String>, _>("s_meaning")?.unwrap_or_default(),
                        record_hash: r.try_get::<Option<String>, _>("s_record_hash")?.unwrap_or_default(),
                        manifest_hash: r.try_get::<Option<String>, _>("s_manifest_hash")?.unwrap_or_default(),
                        user_id: r.try_get::<Option<String>, _>("s_user_id")?.unwrap_or_default(),
                        printed_name: r.try_get::<Option<String>, _>("s_printed_name")?.unwrap_or_default(),
                        org_id: r.try_get::<Option<String>, _>("s_org_id")?.unwrap_or_default(),
                        signed_at: r.try_get::<Option<String>, _>("s_signed_at")?.unwrap_or_default(),
                    });
                }
                Ok(Some(PublicFiling { project, organisation, signatures }))
            }

            async fn public_institution(&self, id: &str) -> StoreResult<Option<PublicInstitution>> {
                let rows = self.query_rows($institution_sql, vec![Val::Text(id.into())]).await?;
                let Some(r) = rows.first() else { return Ok(None) };
                let organisation = Self::org_row(r)?;
                let (qualifications, projects) = parse_institution_json(&r.try_get::<String, _>("quals_json")?, &r.try_get::<String, _>("projects_json")?)?;
                Ok(Some(PublicInstitution { organisation, qualifications, projects }))
            }

            async fn projects(&self, f: &ProjectFilter) -> StoreResult<Vec<Project>> {
                let mut sql = String::from("SELECT * FROM projects WHERE 1=1");
                let mut args = Vec::new();
                if let Some(o) = &f.org_id {
                    args.push(Val::Text(o.clone()));
                    sql.push_str(&format!(" AND org_id = ${}", args.len()));
                }
                if let Some(s) = &f.state {
                    args.push(Val::Text(s.clone()));
                    sql.push_str(&format!(" AND state = ${}", args.len()));
                }
                if let Some(k) = &f.kind {
                    args.push(Val::Text(k.clone()));
                    sql.push_str(&format!(" AND kind = ${}", args.len()));
                }
                if let Some(p) = &f.province_code {
                    args.push(Val::Text(p.clone()));
                    sql.push_str(&format!(" AND org_id IN (SELECT id FROM organisations WHERE province_code = ${})", args.len()));
                }
                if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
                    args.push(Val::Text(like_pattern(q)));
                    let a = args.len();
                    sql.push_str(&format!(" AND (LOWER(title_zh) LIKE ${a} ESCAPE '\\' OR LOWER(title_en) LIKE ${a} ESCAPE '\\' OR LOWER(COALESCE(filing_number, '')) LIKE ${a} ESCAPE '\\')"));
                }
                if f.public_only {
                    sql.push_str(" AND state IN ('filed','suspended','terminated','completed')");
                }
                args.push(Val::Int(f.limit.unwrap_or(100) as i64));
                args.push(Val::Int(f.offset.unwrap_or(0) as i64));
                sql.push_str(&format!(" ORDER BY updated_at DESC, id LIMIT ${} OFFSET ${}", args.len() - 1, args.len()));
                let rows = self.query_rows(&sql, args).await?;
                rows.iter().map(Self::project_row).collect()
            }

            async fn project_counts(&self) -> StoreResult<Vec<(String, u64)>> {
                let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM projects GROUP BY state ORDER BY state")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("state")?, r.try_get::<i64, _>("n")? as u64)))
                    .collect()
            }

            async fn organisation_count(&self, org_type: &str) -> StoreResult<u64> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM organisations WHERE org_type = $1 AND active = 1")
                    .bind(org_type)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n as u64)
            }

            async fn signatures(&self, stream: &str) -> StoreResult<Vec<SignatureRecord>> {
                let rows = self.query_rows("SELECT * FROM signatures WHERE stream = $1 ORDER BY seq", vec![Val::Text(stream.into())]).await?;
                rows.iter()
                    .map(|r| {
                        Ok(SignatureRecord {
                            stream: r.try_get("stream")?,
                            seq: r.try_get::<i64, _>("seq")? as u64,
                            action: r.try_get("action")?,
                            meaning: r.try_get("meaning")?,
                            record_hash: r.try_get("record_hash")?,
                            manifest_hash: r.try_get("manifest_hash")?,
                            user_id: r.try_get("user_id")?,
                            printed_name: r.try_get("printed_name")?,
                            org_id: r.try_get("org_id")?,
                            signed_at: r.try_get("signed_at")?,
                        })
                    })
                    .collect()
            }

            async fn max_filing_seq(&self, prefix: &str) -> StoreResult<u32> {
                let rows = self
                    .query_rows(
                        "SELECT filing_number FROM projects WHERE filing_number LIKE $1 ESCAPE '\\' ORDER BY LENGTH(filing_number) DESC, filing_number DESC LIMIT 1",
                        vec![Val::Text(format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")))],
                    )
                    .await?;
                let Some(r) = rows.first() else { return Ok(0) };
                let number: String = r.try_get("filing_number")?;
                Ok(number
                    .rsplit('-')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0))
            }

            async fn select(&self, sql: &str, args: Vec<Val>) -> StoreResult<Vec<serde_json::Map<String, serde_json::Value>>> {
                use sqlx::Column as _;
                let rows = self.query_rows(sql, args).await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let mut m = serde_json::Map::new();
                    for (i, c) in r.columns().iter().enumerate() {
                        let v = match r.try_get::<Option<i64>, _>(i) {
                            Ok(Some(n)) => serde_json::Value::from(n),
                            Ok(None) => serde_json::Value::Null,
                            Err(_) => match r.try_get::<Option<String>, _>(i)? {
                                Some(t) => serde_json::Value::String(t),
                                None => serde_json::Value::Null,
                            },
                        };
                        m.insert(c.name().to_string(), v);
                    }
                    out.push(m);
                }
                Ok(out)
            }

            async fn put_blob(&self, sha256: &str, media_type: &str, content_b64: &str) -> StoreResult<()> {
                sqlx::query("INSERT INTO blobs (sha256, media_type, content_b64, stored_at) VALUES ($1,$2,$3,$4) ON CONFLICT (sha256) DO NOTHING")
                    .bind(sha256)
                    .bind(media_type)
                    .bind(content_b64)
                    .bind(now_rfc3339())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn blob(&self, sha256: &str) -> StoreResult<Option<(String, String)>> {
                let rows = self.query_rows("SELECT media_type, content_b64 FROM blobs WHERE sha256 = $1", vec![Val::Text(sha256.into())]).await?;
                rows.first().map(|r| Ok((r.try_get("media_type")?, r.try_get("content_b64")?))).transpose()
            }

            async fn set_subject_link(&self, token_hash: &str, subject_id: &str) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("UPDATE subject_links SET revoked_at = $2 WHERE subject_id = $1 AND revoked_at IS NULL")
                    .bind(subject_id)
                    .bind(now_rfc3339())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO subject_links (token_hash, subject_id, created_at, revoked_at) VALUES ($1,$2,$3,NULL)")
                    .bind(token_hash)
                    .bind(subject_id)
                    .bind(now_rfc3339())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn subject_by_link(&self, token_hash: &str) -> StoreResult<Option<String>> {
                let rows = self.query_rows("SELECT subject_id FROM subject_links WHERE token_hash = $1 AND revoked_at IS NULL", vec![Val::Text(token_hash.into())]).await?;
                rows.first().map(|r| Ok(r.try_get("subject_id")?)).transpose()
            }

            async fn analyze(&self) -> StoreResult<()> {
                for (table, _) in READ_MODEL_TABLES {
                    sqlx::query(&format!("ANALYZE {table}")).execute(&self.pool).await?;
                }
                Ok(())
            }

            async fn put_identity(&self, person_id: &str, salt: &str, data: &str, wristband: &str) -> StoreResult<()> {
                sqlx::query("INSERT INTO person_identities (person_id, salt, data, wristband, stored_at) VALUES ($1,$2,$3,$4,$5)")
                    .bind(person_id)
                    .bind(salt)
                    .bind(data)
                    .bind(wristband)
                    .bind(now_rfc3339())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn put_reference_rows(&self, source: &str, rows: &[(String, String, String, String)]) -> StoreResult<u64> {
                const PER: usize = 200;
                let mut tx = self.pool.begin().await?;
                let mut n = 0u64;
                for chunk in rows.chunks(PER) {
                    let values: Vec<String> = (0..chunk.len())
                        .map(|i| format!("(${},${},${},${},${})", 5 * i + 1, 5 * i + 2, 5 * i + 3, 5 * i + 4, 5 * i + 5))
                        .collect();
                    let sql = format!(
                        "INSERT INTO reference_reports (source, report_id, product, event, stratum) VALUES {} ON CONFLICT DO NOTHING",
                        values.join(",")
                    );
                    let mut q = sqlx::query(&sql);
                    for (report, product, event, stratum) in chunk {
                        q = q.bind(source).bind(report).bind(product).bind(event).bind(stratum);
                    }
                    n += q.execute(&mut *tx).await?.rows_affected();
                }
                tx.commit().await?;
                Ok(n)
            }

            async fn identity(&self, person_id: &str) -> StoreResult<Option<(String, String, String)>> {
                let rows = self.query_rows("SELECT salt, data, wristband FROM person_identities WHERE person_id = $1", vec![Val::Text(person_id.into())]).await?;
                rows.first().map(|r| Ok((r.try_get("salt")?, r.try_get("data")?, r.try_get("wristband")?))).transpose()
            }

            async fn set_password_hash(&self, user_id: &str, hash: &str) -> StoreResult<()> {
                sqlx::query("INSERT INTO credentials (user_id, password_hash, updated_at) VALUES ($1,$2,$3) ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at")
                    .bind(user_id)
                    .bind(hash)
                    .bind(now_rfc3339())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn password_hash(&self, user_id: &str) -> StoreResult<Option<String>> {
                Ok(sqlx::query_scalar("SELECT password_hash FROM credentials WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn totp(&self, user_id: &str) -> StoreResult<Option<(String, Option<i64>)>> {
                let row = sqlx::query("SELECT totp_secret, totp_last_step FROM credentials WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(r) = row else { return Ok(None) };
                let secret: Option<String> = r.try_get("totp_secret")?;
                Ok(secret.map(|s| (s, r.try_get::<Option<i64>, _>("totp_last_step").ok().flatten())))
            }

            async fn set_totp(&self, user_id: &str, secret: Option<&str>) -> StoreResult<()> {
                sqlx::query("UPDATE credentials SET totp_secret = $2, totp_last_step = NULL, updated_at = $3 WHERE user_id = $1")
                    .bind(user_id)
                    .bind(secret)
                    .bind(now_rfc3339())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn use_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool> {
                // Only a later step than the last one used: a code is good once,
                // even when two logins race.
                let r = sqlx::query("UPDATE credentials SET totp_last_step = $2 WHERE user_id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)")
                    .bind(user_id)
                    .bind(step)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn record_login(&self, a: &LoginAttempt) -> StoreResult<()> {
                sqlx::query("INSERT INTO login_audit (username, user_id, success, ip, detail, at) VALUES ($1,$2,$3,$4,$5,$6)")
                    .bind(&a.username)
                    .bind(&a.user_id)
                    .bind(a.success as i64)
                    .bind(&a.ip)
                    .bind(&a.detail)
                    .bind(&a.at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn login_attempts(&self, limit: u32) -> StoreResult<Vec<LoginAttempt>> {
                let rows = sqlx::query("SELECT username, user_id, success, ip, detail, at FROM login_audit ORDER BY id DESC LIMIT $1")
                    .bind(limit as i64)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(LoginAttempt {
                            username: r.try_get("username")?,
                            user_id: r.try_get("user_id")?,
                            success: r.try_get::<i64, _>("success")? != 0,
                            ip: r.try_get("ip")?,
                            detail: r.try_get("detail")?,
                            at: r.try_get("at")?,
                        })
                    })
                    .collect()
            }

            async fn create_session(&self, s: &SessionRow) -> StoreResult<()> {
                sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf, created_at, last_seen) VALUES ($1,$2,$3,$4,$5)")
                    .bind(&s.id_hash)
                    .bind(&s.user_id)
                    .bind(&s.csrf)
                    .bind(s.created_at)
                    .bind(s.last_seen)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn session(&self, id_hash: &str) -> StoreResult<Option<SessionRow>> {
                let row = sqlx::query("SELECT id_hash, user_id, csrf, created_at, last_seen FROM sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| {
                    Ok(SessionRow {
                        id_hash: r.try_get("id_hash")?,
                        user_id: r.try_get("user_id")?,
                        csrf: r.try_get("csrf")?,
                        created_at: r.try_get("created_at")?,
                        last_seen: r.try_get("last_seen")?,
                    })
                })
                .transpose()
            }

            async fn touch_session(&self, id_hash: &str, now: i64) -> StoreResult<()> {
                sqlx::query("UPDATE sessions SET last_seen = $2 WHERE id_hash = $1")
                    .bind(id_hash)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn create_token(&self, t: &ApiToken) -> StoreResult<()> {
                sqlx::query("INSERT INTO api_tokens (id, token_hash, user_id, name, scopes, created_at, expires_at, revoked_at) VALUES ($1,$2,$3,$4,$5,$6,$7,NULL)")
                    .bind(&t.id)
                    .bind(&t.token_hash)
                    .bind(&t.user_id)
                    .bind(&t.name)
                    .bind(t.scopes.join(","))
                    .bind(&t.created_at)
                    .bind(&t.expires_at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
                let rows = self.query_rows("SELECT * FROM api_tokens WHERE token_hash = $1", vec![Val::Text(token_hash.into())]).await?;
                rows.first().map(Self::token_row).transpose()
            }

            async fn tokens(&self, user_id: &str) -> StoreResult<Vec<ApiToken>> {
                let rows = self.query_rows("SELECT * FROM api_tokens WHERE user_id = $1 ORDER BY created_at, id", vec![Val::Text(user_id.into())]).await?;
                rows.iter().map(Self::token_row).collect()
            }

            async fn revoke_token(&self, id: &str, user_id: &str, at: &str) -> StoreResult<bool> {
                let r = sqlx::query("UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL")
                    .bind(id)
                    .bind(user_id)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() > 0)
            }
        }
    };
}

backend!(
    SqliteStore,
    sqlx::Sqlite,
    Backend::Sqlite,
    SQLITE_MIGRATIONS,
    "",
    SQLITE_PUBLIC_INSTITUTION
);
backend!(
    PgStore,
    sqlx::Postgres,
    Backend::Postgres,
    PG_MIGRATIONS,
    " FOR UPDATE",
    PG_PUBLIC_INSTITUTION
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_pages_split_by_byte_counts_not_by_content() {
        // A body holding what looks like a frame, and multi-byte text.
        let body = "{\"a\":\"7 64 2 x\",\"b\":\"细胞\"}";
        let meta = format!("7 3 {} 8 1 2", body.len());
        let bodies = format!("{body}{{}}");
        assert_eq!(
            split_event_page(&meta, "abcz", &bodies).unwrap(),
            vec![(7, "abc", body), (8, "z", "{}")]
        );
        assert_eq!(split_event_page("", "", "").unwrap(), vec![]);
        for (meta, hashes, bodies) in [
            ("7 3", "abc", ""),
            ("7 3 99", "abc", "{}"),
            ("x 1 1", "a", "b"),
            ("7 1 1", "a", "bc"),
            ("1 1 2", "a", "细"),
            ("1 1 1", "ab", "c"),
        ] {
            assert!(split_event_page(meta, hashes, bodies).is_err(), "{meta}");
        }
    }

    /// Builds, on `$pool`, the schema up to version 3 and a ledger written
    /// the way it was written then (one signed seal per stream per append),
    /// then lets `$store` apply the later migrations and checks that the old
    /// seals verify, that new appends join checkpoints beside them, and that
    /// an export of the mixed ledger verifies offline.
    macro_rules! old_ledger_story {
        ($store:expr, $pool:expr, $migrations:expr) => {{
            let store = $store;
            let pool = $pool;
            sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
                .execute(pool)
                .await
                .unwrap();
            for (version, name, files) in &$migrations[..3] {
                for file in files.iter() {
                    for stmt in statements(file) {
                        sqlx::query(&stmt).execute(pool).await.unwrap();
                    }
                }
                sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1,$2,$3)")
                    .bind(*version)
                    .bind(*name)
                    .bind("2026-06-01T00:00:00.000Z")
                    .execute(pool)
                    .await
                    .unwrap();
            }
            let signer = OrgSigner::generate("org-old").unwrap();
            let key = signer.public();
            sqlx::query("INSERT INTO org_keys (key_id, org, alg, public_key, created_at) VALUES ($1,$2,$3,$4,$5)")
                .bind(&key.key_id)
                .bind(&key.org)
                .bind(&key.alg)
                .bind(&key.public_key)
                .bind("2026-06-01T00:00:00.000Z")
                .execute(pool)
                .await
                .unwrap();
            sqlx::query("INSERT INTO org_key_secrets (key_id, secret_hex) VALUES ($1,$2)")
                .bind(&key.key_id)
                .bind(signer.secret_hex())
                .execute(pool)
                .await
                .unwrap();
            let mut heads: HashMap<String, (u64, String)> = HashMap::new();
            for (i, stream) in ["user:old-1", "user:old-2", "user:old-1"].iter().enumerate() {
                let (seq, prev) = heads.get(*stream).cloned().unwrap_or((0, GENESIS_HASH.to_string()));
                let ne = NewEvent {
                    stream: stream.to_string(),
                    kind: "user.password_set".into(),
                    payload: serde_json::json!({"id": format!("u{i}")}),
                    actor: "tester".into(),
                    org: "org-old".into(),
                    time: "2026-06-01T08:00:00.000Z".into(),
                    reason: "written before checkpoints".into(),
                };
                let ev = Event::chain(ne, seq, &prev).unwrap();
                let pos: i64 = sqlx::query_scalar("INSERT INTO events (stream, seq, kind, org, time, body, hash) VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING pos")
                    .bind(&ev.stream)
                    .bind(ev.seq as i64)
                    .bind(&ev.kind)
                    .bind(&ev.org)
                    .bind(&ev.time)
                    .bind(&ev.body)
                    .bind(&ev.hash)
                    .fetch_one(pool)
                    .await
                    .unwrap();
                let seal = signer.seal(&ev.stream, ev.seq, ev.seq, &ev.hash);
                sqlx::query("INSERT INTO seals (stream, first_seq, last_seq, last_hash, org, key_id, alg, signature, pos) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)")
                    .bind(&seal.stream)
                    .bind(seal.first_seq as i64)
                    .bind(seal.last_seq as i64)
                    .bind(&seal.last_hash)
                    .bind(&seal.org)
                    .bind(&seal.key_id)
                    .bind(&seal.alg)
                    .bind(seal.signature.as_deref().unwrap())
                    .bind(pos)
                    .execute(pool)
                    .await
                    .unwrap();
                sqlx::query("INSERT INTO streams (stream, head_seq, head_hash) VALUES ($1,$2,$3) ON CONFLICT (stream) DO UPDATE SET head_seq = excluded.head_seq, head_hash = excluded.head_hash")
                    .bind(&ev.stream)
                    .bind(ev.seq as i64)
                    .bind(&ev.hash)
                    .execute(pool)
                    .await
                    .unwrap();
                heads.insert(ev.stream.clone(), (ev.seq, ev.hash.clone()));
            }
            assert_eq!(store.migrate().await.unwrap(), ($migrations.len() - 3) as u32);
            let s = store.verify().await.unwrap().unwrap();
            assert_eq!((s.events, s.seals, s.checkpoints, s.pending), (3, 3, 0, 0));
            let mut next = Vec::new();
            for stream in ["user:old-1", "user:new"] {
                next.push(NewEvent {
                    stream: stream.to_string(),
                    kind: "user.password_set".into(),
                    payload: serde_json::json!({"id": "u9"}),
                    actor: "tester".into(),
                    org: "org-old".into(),
                    time: "2026-12-01T08:00:00.000Z".into(),
                    reason: "written with checkpoints".into(),
                });
            }
            store.append(next).await.unwrap();
            assert_eq!(store.checkpoint(Duration::ZERO).await.unwrap(), 1);
            let s = store.verify().await.unwrap().unwrap();
            assert_eq!((s.events, s.seals, s.checkpoints, s.pending), (5, 5, 1, 0));
            let mut buf = Vec::new();
            store.export(&mut buf).await.unwrap();
            let s = celltrail_ledger::export::verify_reader(std::io::Cursor::new(buf)).unwrap();
            assert_eq!((s.events, s.seals, s.checkpoints), (5, 5, 1));
        }};
    }

    #[tokio::test]
    async fn sqlite_ledger_from_before_checkpoints_verifies_after_migrating() {
        let dir = std::env::temp_dir().join("celltrail-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!(
            "sqlite://{}",
            dir.join(format!("{}.db", crate::new_id("old"))).display()
        );
        let store = SqliteStore::connect(&url).await.unwrap();
        old_ledger_story!(&store, store.pool(), SQLITE_MIGRATIONS);
    }

    #[tokio::test]
    async fn postgres_ledger_from_before_checkpoints_verifies_after_migrating() {
        let Some(url) = std::env::var(crate::testkit::PG_ENV)
            .ok()
            .filter(|u| !u.is_empty())
        else {
            eprintln!(
                "note: {} unset; PostgreSQL variant not run",
                crate::testkit::PG_ENV
            );
            return;
        };
        let url = crate::testkit::postgres_schema_url(&url).await;
        let store = PgStore::connect(&url, None).await.unwrap();
        old_ledger_story!(&store, store.pool(), PG_MIGRATIONS);
    }

    /// What a walk gives, item by item, as text: events with their hash and
    /// body, seal entries and checkpoints whole.
    fn describe(item: Item<'_>) -> String {
        match item {
            Item::Event { body, hash } => format!("event {hash} {body}"),
            Item::Seal(s) => format!("seal {s:?}"),
            Item::Checkpoint(c) => format!("checkpoint {c:?}"),
        }
    }

    /// Everything one walk of `store` gives up to `upto`, described: read in
    /// place (`paged` false) or through the pool.
    async fn walked(store: &SqliteStore, upto: i64, paged: bool) -> Vec<String> {
        let mut items = Vec::new();
        let record = |item: Item<'_>| {
            items.push(describe(item));
            Ok(true)
        };
        if paged {
            store.walk_paged(upto, record).await.unwrap();
        } else {
            store.walk(upto, record).await.unwrap();
        }
        items
    }

    /// The SQLite file's ledger read in place gives the same items in the
    /// same order as the paged walk through the pool (2-row pages here),
    /// for a ledger of three organisations with old-style entries beside
    /// checkpoints, pending entries, and a walk that stops early; and an
    /// in-memory database, which has no file, is walked by pages.
    #[tokio::test]
    async fn sqlite_file_walk_matches_the_paged_walk() {
        let dir = std::env::temp_dir().join("celltrail-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.db", crate::new_id("walk")));
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        assert_eq!(store.walk_file(), Some(path.as_path()));
        for round in 0..5u32 {
            let batch = (0..7u32)
                .map(|k| NewEvent {
                    stream: format!("user:o{}-{}", round % 3, k % 4),
                    kind: "user.password_set".into(),
                    payload: serde_json::json!({"id": format!("u{k}"), "note": "细胞 \"quoted\"\n"}),
                    actor: "tester".into(),
                    org: format!("org-{}", round % 3),
                    time: "2026-12-07T08:00:00.000Z".into(),
                    reason: format!("round {round}"),
                })
                .collect();
            store.append(batch).await.unwrap();
            // Sign after some rounds only: the last round's entries wait.
            if round % 2 == 1 {
                store.checkpoint(Duration::ZERO).await.unwrap();
            }
        }
        let upto = store.last_pos().await.unwrap();
        let direct = walked(&store, upto, false).await;
        let paged = walked(&store, upto, true).await;
        let kinds = |items: &[String], k: &str| items.iter().filter(|i| i.starts_with(k)).count();
        assert_eq!(kinds(&direct, "event "), 35);
        assert!(kinds(&direct, "checkpoint ") >= 3, "{direct:#?}");
        assert!(kinds(&direct, "seal ") > kinds(&direct, "checkpoint "));
        assert_eq!(direct, paged);
        // A walk told to stop stops, at the same place.
        let mut first = Vec::new();
        store
            .walk(upto, |item| {
                first.push(describe(item));
                Ok(first.len() < 10)
            })
            .await
            .unwrap();
        assert_eq!(first, paged[..10]);
        // Part of the ledger: nothing after `upto`.
        let mut part = 0;
        store
            .walk(7, |item| {
                if let Item::Event { .. } = item {
                    part += 1;
                }
                Ok(true)
            })
            .await
            .unwrap();
        assert_eq!(part, 7);
        let s = store.verify().await.unwrap().unwrap();
        assert_eq!((s.events, s.pending > 0), (35, true));

        // Rows moved out of the ledger's positions by hand are read, or
        // left out, alike by both walks: the same break either way.
        for sql in [
            "UPDATE events SET pos = 0 WHERE pos = 1",
            "UPDATE seals SET pos = -1 WHERE id = 2",
            "UPDATE seals SET pos = -7 WHERE id = 3",
            "UPDATE checkpoints SET pos = -1 WHERE n = 1 AND org = 'org-1'",
        ] {
            sqlx::query(sql).execute(store.pool()).await.unwrap();
        }
        assert_eq!(
            walked(&store, upto, false).await,
            walked(&store, upto, true).await
        );
        assert!(store.verify().await.unwrap().is_err());
        // A negative count cannot be read by either walk.
        sqlx::query("UPDATE seals SET checkpoint = -1 WHERE id = 4")
            .execute(store.pool())
            .await
            .unwrap();
        assert!(store.walk(upto, |_| Ok(true)).await.is_err());
        assert!(store.walk_paged(upto, |_| Ok(true)).await.is_err());

        let memory = SqliteStore::connect("sqlite::memory:").await.unwrap();
        memory.migrate().await.unwrap();
        assert_eq!(memory.walk_file(), None);
        let batch = (0..3)
            .map(|k| NewEvent {
                stream: format!("user:m{k}"),
                kind: "user.password_set".into(),
                payload: serde_json::json!({"id": k}),
                actor: "tester".into(),
                org: "org-m".into(),
                time: "2026-12-07T08:00:00.000Z".into(),
                reason: "in memory".into(),
            })
            .collect();
        memory.append(batch).await.unwrap();
        let s = memory.verify().await.unwrap().unwrap();
        assert_eq!(s.events, 3);
    }

    /// Every migration file is listed, once, in version order, for both
    /// backends, and both backends have the same versions.
    #[test]
    fn every_migration_file_is_listed_in_order() {
        for (dir, list) in [("sqlite", SQLITE_MIGRATIONS), ("postgres", PG_MIGRATIONS)] {
            let path = format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR"));
            // A migration is a backend's own file, or one file both run
            // (in `migrations/` itself; `common.sql` is part of 0001).
            let shared = format!("{}/migrations", env!("CARGO_MANIFEST_DIR"));
            let mut files: Vec<String> = std::fs::read_dir(&path)
                .unwrap()
                .chain(std::fs::read_dir(&shared).unwrap())
                .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .filter(|n| n.ends_with(".sql") && n != "common.sql")
                .collect();
            files.sort();
            let versions: Vec<i64> = list.iter().map(|(v, _, _)| *v).collect();
            let want: Vec<i64> = (1..=files.len() as i64).collect();
            assert_eq!(versions, want, "{dir}: {files:?}");
            for (f, (v, name, _)) in files.iter().zip(list.iter()) {
                assert_eq!(f, &format!("{v:04}_{name}.sql"), "{dir}");
            }
        }
    }
}
