//! Storage for CellTrail.
//!
//! One [`Store`] trait, two backends: SQLite (embedded default, WAL with
//! `synchronous=FULL`) and PostgreSQL (production). Both are generated from the
//! same code by the `backend!` macro in [`sql`], so a query cannot drift
//! between them; only the migrations differ where SQL dialects do.
//!
//! The ledger tables (`events`, `seals`, `streams`, `org_keys`) are the source
//! of truth. Every other table that screens read is a projection written by
//! [`projection`] in the same transaction as the events it derives from, and
//! rebuilt from the events by [`Store::replay`].

pub mod auth;
pub mod error;
pub mod ethics;
mod event_page;
pub mod model;
pub mod projection;
pub mod safety;
pub mod service;
mod sql;
mod sqlite_walk;
pub mod testkit;
pub mod trace;
pub mod trace_gen;

use std::io::Write;
use std::sync::Arc;

use async_trait::async_trait;
use celltrail_ledger::{Event, NewEvent, OrgKey, Summary};

pub use error::{StoreError, StoreResult};
pub use model::*;
pub use sql::{PgStore, SqliteStore, CHECKPOINT_EVENTS};

/// Which database a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The result of verifying a whole ledger: a summary, or the first break.
pub type VerifyOutcome = Result<Summary, celltrail_ledger::Break>;

/// Everything CellTrail keeps. Implemented once per backend.
#[async_trait]
pub trait Store: Send + Sync {
    fn backend(&self) -> Backend;

    /// A counter this process bumps after every committed write to the
    /// ledger (and replay): in-memory caches rebuild when it moves. Writes
    /// by other processes do not move it; caches also expire by age.
    fn generation(&self) -> u64;

    /// Applies pending migrations; returns how many were applied.
    async fn migrate(&self) -> StoreResult<u32>;

    // ---- ledger ----
    /// Chains, seals (one seal entry per stream touched, joining the acting
    /// organisation's open checkpoint) and projects the batch in one
    /// transaction. Nothing is acknowledged before the commit is durable.
    /// The checkpoint is signed in the same transaction once it holds
    /// [`CHECKPOINT_EVENTS`] events, else by [`Store::checkpoint`].
    async fn append(&self, batch: Vec<NewEvent>) -> StoreResult<Vec<Event>>;
    /// Signs the open checkpoint of every organisation whose oldest waiting
    /// seal entry is at least `older_than` old (`Duration::ZERO`: all);
    /// returns how many checkpoints were signed.
    async fn checkpoint(&self, older_than: std::time::Duration) -> StoreResult<u64>;
    /// The organisation's signing key, created on first use.
    async fn ensure_org_key(&self, org: &str) -> StoreResult<OrgKey>;
    async fn org_keys(&self) -> StoreResult<Vec<OrgKey>>;
    async fn stream_head(&self, stream: &str) -> StoreResult<Option<(u64, String)>>;
    async fn stream_events(&self, stream: &str) -> StoreResult<Vec<Event>>;
    async fn event_count(&self) -> StoreResult<u64>;
    /// Recomputes every hash and signature; the outer error is a database
    /// failure, the inner one the first break in the chain. Seal entries
    /// still waiting for their checkpoint are counted in `pending`.
    async fn verify(&self) -> StoreResult<VerifyOutcome>;
    /// Signs every waiting checkpoint, then writes the NDJSON export
    /// (header, keys, events, seals and checkpoints) up to that point.
    async fn export(&self, out: &mut (dyn Write + Send)) -> StoreResult<Summary>;
    /// Rebuilds every read model from the events; returns events applied.
    async fn replay(&self) -> StoreResult<u64>;
    /// A deterministic text dump of every read model (for replay tests).
    async fn dump_read_models(&self) -> StoreResult<String>;

    // ---- read models ----
    async fn organisation(&self, id: &str) -> StoreResult<Option<Organisation>>;
    async fn organisations(&self, filter: &OrgFilter) -> StoreResult<Vec<Organisation>>;
    async fn qualifications(&self, org_id: &str) -> StoreResult<Vec<Qualification>>;
    async fn user(&self, id: &str) -> StoreResult<Option<User>>;
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    async fn users(&self, org_id: Option<&str>) -> StoreResult<Vec<User>>;
    async fn project(&self, id: &str) -> StoreResult<Option<Project>>;
    async fn project_by_filing_number(&self, number: &str) -> StoreResult<Option<Project>>;
    /// A filing with its institution and the regulator's signatures, in one
    /// query (the public lookup's hot path).
    async fn public_filing(&self, number: &str) -> StoreResult<Option<PublicFiling>>;
    /// An institution with its qualifications and public projects, in one
    /// query (the public institution page).
    async fn public_institution(&self, id: &str) -> StoreResult<Option<PublicInstitution>>;
    async fn projects(&self, filter: &ProjectFilter) -> StoreResult<Vec<Project>>;
    async fn project_counts(&self) -> StoreResult<Vec<(String, u64)>>;
    /// Active organisations of one type.
    async fn organisation_count(&self, org_type: &str) -> StoreResult<u64>;
    async fn signatures(&self, stream: &str) -> StoreResult<Vec<SignatureRecord>>;
    /// The highest filing sequence issued under a filing-number prefix.
    async fn max_filing_seq(&self, prefix: &str) -> StoreResult<u32>;

    // ---- security records (not regulated data, not in the ledger) ----
    /// Rows of a read-model query as JSON objects, by column name (integers
    /// as numbers, texts as strings). The same SQL runs on both backends.
    async fn select(
        &self,
        sql: &str,
        args: Vec<projection::Val>,
    ) -> StoreResult<Vec<serde_json::Map<String, serde_json::Value>>>;
    /// Stores a document's bytes (base64) under their SHA-256; the ledger
    /// holds the hash. Storing the same content twice is a no-op.
    async fn put_blob(&self, sha256: &str, media_type: &str, content_b64: &str) -> StoreResult<()>;
    async fn blob(&self, sha256: &str) -> StoreResult<Option<(String, String)>>;
    /// A subject's personal link (hash of the token); replaces earlier links.
    async fn set_subject_link(&self, token_hash: &str, subject_id: &str) -> StoreResult<()>;
    async fn subject_by_link(&self, token_hash: &str) -> StoreResult<Option<String>>;
    /// Refreshes the query planner's statistics of the read models (after a
    /// bulk load; on PostgreSQL autovacuum does it in the normal course).
    async fn analyze(&self) -> StoreResult<()>;
    /// A patient's or donor's identifying record (JSON), its salt and the
    /// wristband code, kept outside the ledger; the ledger holds
    /// SHA-256(salt ‖ data) only.
    async fn put_identity(
        &self,
        person_id: &str,
        salt: &str,
        data: &str,
        wristband: &str,
    ) -> StoreResult<()>;
    /// Public reference report-event rows (e.g. FAERS) for signal
    /// detection, outside the ledger; returns how many were new.
    async fn put_reference_rows(
        &self,
        source: &str,
        rows: &[(String, String, String, String)],
    ) -> StoreResult<u64>;
    async fn identity(&self, person_id: &str) -> StoreResult<Option<(String, String, String)>>;
    async fn set_password_hash(&self, user_id: &str, hash: &str) -> StoreResult<()>;
    async fn password_hash(&self, user_id: &str) -> StoreResult<Option<String>>;
    /// The TOTP secret (base32) and the last step used, once enrolled.
    async fn totp(&self, user_id: &str) -> StoreResult<Option<(String, Option<i64>)>>;
    async fn set_totp(&self, user_id: &str, secret: Option<&str>) -> StoreResult<()>;
    /// Marks a step used; false when it is not later than the last one.
    async fn use_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool>;
    async fn record_login(&self, attempt: &LoginAttempt) -> StoreResult<()>;
    async fn login_attempts(&self, limit: u32) -> StoreResult<Vec<LoginAttempt>>;
    async fn create_session(&self, s: &SessionRow) -> StoreResult<()>;
    async fn session(&self, id_hash: &str) -> StoreResult<Option<SessionRow>>;
    async fn touch_session(&self, id_hash: &str, now: i64) -> StoreResult<()>;
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()>;
    async fn create_token(&self, t: &ApiToken) -> StoreResult<()>;
    async fn token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiToken>>;
    async fn tokens(&self, user_id: &str) -> StoreResult<Vec<ApiToken>>;
    async fn revoke_token(&self, id: &str, user_id: &str, at: &str) -> StoreResult<bool>;
}

pub type DynStore = Arc<dyn Store>;

/// Opens a store from a URL (`sqlite://path`, `sqlite::memory:`, `postgres://…`)
/// and applies migrations.
pub async fn open(url: &str) -> StoreResult<DynStore> {
    let store: DynStore = if url.starts_with("sqlite:") {
        Arc::new(SqliteStore::connect(url).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Arc::new(PgStore::connect(url, None).await?)
    } else {
        return Err(StoreError::invalid(
            "database_url_invalid",
            "database_url",
            format!("unsupported database URL scheme: {url}"),
        ));
    };
    store.migrate().await?;
    Ok(store)
}

/// Does a search term have the shape of a Unified Social Credit Code (18
/// letters or digits)? Such terms take the exact-match index on the code.
pub fn looks_like_uscc(q: &str) -> bool {
    q.len() == 18 && q.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Current time as the ledger writes it: RFC 3339, UTC, milliseconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// A random identifier: a prefix and 16 hex characters (64 bits).
pub fn new_id(prefix: &str) -> String {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).expect("operating system random source");
    format!("{prefix}-{}", hex::encode(b))
}
