//! Helpers for tests that run the same story on every backend.
//!
//! SQLite always runs, on a fresh file. PostgreSQL runs when
//! `CELLTRAIL_TEST_PG_URL` is set, each test in a schema of its own; when the
//! variable is set and the server is unreachable the test fails, it never
//! skips silently.

use std::sync::Arc;

use crate::{DynStore, PgStore, SqliteStore, Store};

pub const PG_ENV: &str = "CELLTRAIL_TEST_PG_URL";

/// `t_<unix seconds>_<random>`: the test script drops schemas of runs more
/// than a day old by the time in the name.
fn schema_name() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("t_{secs}_{}", crate::new_id("x").trim_start_matches("x-"))
}

/// Every backend this run tests: SQLite always, PostgreSQL when configured.
pub async fn backends() -> Vec<TestBackend> {
    let mut out = vec![sqlite_backend().await];
    match postgres_backend().await {
        Some(pg) => out.push(pg),
        None => eprintln!("note: {PG_ENV} unset; PostgreSQL variant not run"),
    }
    out
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

/// A store under test plus a raw connection for tampering with it, the way
/// an attacker with database access would.
pub struct TestBackend {
    pub name: &'static str,
    pub store: DynStore,
    raw: Raw,
    /// How to connect again: the URL and, on PostgreSQL, the schema.
    reconnect: (String, Option<String>),
}

impl TestBackend {
    /// A second store on the same database, as a restarted process would
    /// open it (no cached keys, no in-memory state).
    pub async fn reopen(&self) -> DynStore {
        let (url, schema) = &self.reconnect;
        let store: DynStore = match &self.raw {
            Raw::Sqlite(_) => Arc::new(SqliteStore::connect(url).await.expect("reopen sqlite")),
            Raw::Pg(_) => Arc::new(
                PgStore::connect(url, schema.as_deref())
                    .await
                    .expect("reopen postgres"),
            ),
        };
        store.migrate().await.expect("migrate");
        store
    }

    /// Runs SQL behind the store's back; returns rows affected.
    pub async fn tamper(&self, sql: &str) -> u64 {
        match &self.raw {
            Raw::Sqlite(p) => sqlx::query(sql)
                .execute(p)
                .await
                .expect("tamper sqlite")
                .rows_affected(),
            Raw::Pg(p) => sqlx::query(sql)
                .execute(p)
                .await
                .expect("tamper postgres")
                .rows_affected(),
        }
    }

    /// Inserts already-chained events as plain rows in one transaction, with
    /// no projection and no seal: the baseline the append benchmark compares
    /// against.
    pub async fn insert_plain(&self, rows: &[celltrail_ledger::Event]) {
        const SQL: &str = "INSERT INTO events (stream, seq, kind, org, time, body, hash) VALUES ($1,$2,$3,$4,$5,$6,$7)";
        match &self.raw {
            Raw::Sqlite(p) => {
                let mut tx = p.begin().await.expect("begin");
                for e in rows {
                    sqlx::query(SQL)
                        .bind(&e.stream)
                        .bind(e.seq as i64)
                        .bind(&e.kind)
                        .bind(&e.org)
                        .bind(&e.time)
                        .bind(&e.body)
                        .bind(&e.hash)
                        .execute(&mut *tx)
                        .await
                        .expect("insert");
                }
                tx.commit().await.expect("commit");
            }
            Raw::Pg(p) => {
                let mut tx = p.begin().await.expect("begin");
                for e in rows {
                    sqlx::query(SQL)
                        .bind(&e.stream)
                        .bind(e.seq as i64)
                        .bind(&e.kind)
                        .bind(&e.org)
                        .bind(&e.time)
                        .bind(&e.body)
                        .bind(&e.hash)
                        .execute(&mut *tx)
                        .await
                        .expect("insert");
                }
                tx.commit().await.expect("commit");
            }
        }
    }

    /// Runs a query returning one text column.
    pub async fn scalar(&self, sql: &str) -> String {
        match &self.raw {
            Raw::Sqlite(p) => sqlx::query_scalar(sql)
                .fetch_one(p)
                .await
                .expect("scalar sqlite"),
            Raw::Pg(p) => sqlx::query_scalar(sql)
                .fetch_one(p)
                .await
                .expect("scalar postgres"),
        }
    }
}

pub async fn sqlite_backend() -> TestBackend {
    let dir = std::env::temp_dir().join("celltrail-tests");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{}.db", crate::new_id("t")));
    let url = format!("sqlite://{}", path.display());
    let store = SqliteStore::connect(&url).await.expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    let raw = Raw::Sqlite(store.pool().clone());
    TestBackend {
        name: "sqlite",
        store: Arc::new(store),
        raw,
        reconnect: (url, None),
    }
}

pub async fn postgres_backend() -> Option<TestBackend> {
    let url = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty())?;
    let schema = schema_name();
    let admin = PgStore::connect(&url, None)
        .await
        .unwrap_or_else(|e| panic!("{PG_ENV} is set but PostgreSQL is unreachable: {e}"));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(admin.pool())
        .await
        .unwrap_or_else(|e| panic!("create schema on {PG_ENV}: {e}"));
    admin.pool().close().await;
    let store = PgStore::connect(&url, Some(&schema))
        .await
        .unwrap_or_else(|e| panic!("{PG_ENV}: {e}"));
    store.migrate().await.expect("migrate postgres");
    let raw = Raw::Pg(store.pool().clone());
    Some(TestBackend {
        name: "postgres",
        store: Arc::new(store),
        raw,
        reconnect: (url, Some(schema)),
    })
}

/// Creates a fresh schema and returns a URL whose connections use it, for
/// tests that hand a database URL to the `celltrail` command.
pub async fn postgres_schema_url(url: &str) -> String {
    let schema = schema_name();
    let admin = PgStore::connect(url, None)
        .await
        .unwrap_or_else(|e| panic!("{PG_ENV} is set but PostgreSQL is unreachable: {e}"));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(admin.pool())
        .await
        .unwrap_or_else(|e| panic!("create schema: {e}"));
    admin.pool().close().await;
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}
