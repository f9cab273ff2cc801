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

    /// The plain baseline of logger readings: the same rows into a scratch
    /// table shaped like `temperature_readings`, in multi-row INSERTs of
    /// `per_statement` rows, one transaction per `per_tx` rows.
    pub async fn insert_plain_readings(
        &self,
        rows: &[(String, String, i64)],
        per_statement: usize,
        per_tx: usize,
    ) {
        const DDL: &str = "CREATE TABLE IF NOT EXISTS plain_readings (shipment_id TEXT NOT NULL, at TEXT NOT NULL, c100 BIGINT NOT NULL, PRIMARY KEY (shipment_id, at))";
        let sql_for = |n: usize| {
            let v: Vec<String> = (0..n)
                .map(|i| format!("(${},${},${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                .collect();
            format!(
                "INSERT INTO plain_readings (shipment_id, at, c100) VALUES {}",
                v.join(",")
            )
        };
        macro_rules! run {
            ($p:expr) => {{
                sqlx::query(DDL).execute($p).await.expect("ddl");
                for tx_rows in rows.chunks(per_tx.max(1)) {
                    let mut tx = $p.begin().await.expect("begin");
                    for chunk in tx_rows.chunks(per_statement.max(1)) {
                        let sql = sql_for(chunk.len());
                        let mut q = sqlx::query(&sql);
                        for (a, b, c) in chunk {
                            q = q.bind(a).bind(b).bind(c);
                        }
                        q.execute(&mut *tx).await.expect("insert");
                    }
                    tx.commit().await.expect("commit");
                }
            }};
        }
        match &self.raw {
            Raw::Sqlite(p) => run!(p),
            Raw::Pg(p) => run!(p),
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

/// An organisation's registration for tests: names from the id, a 3A grade
/// for medical institutions, no credit code.
pub fn org_input(id: &str, org_type: &str, province: &str) -> crate::service::OrgInput {
    crate::service::OrgInput {
        id: Some(id.into()),
        org_type: org_type.into(),
        name_zh: format!("{id} 中文名"),
        name_en: format!("{id} English name"),
        uscc: None,
        province_code: province.into(),
        city_zh: String::new(),
        city_en: String::new(),
        grade: (org_type == "medical_institution").then(|| "3A".to_string()),
        address_zh: String::new(),
        address_en: String::new(),
    }
}

/// A user with one role (password [`WORLD_PASSWORD`]), as an actor.
pub async fn test_user(
    store: &dyn Store,
    org: &str,
    username: &str,
    role: &str,
) -> crate::service::Actor {
    use crate::service::{self, Actor, UserInput, When};
    let u = service::create_user(
        store,
        &Actor::system(),
        &UserInput {
            org_id: org.into(),
            username: username.into(),
            display_name: format!("{username} 姓名"),
            email: String::new(),
            roles: vec![role.into()],
            password: WORLD_PASSWORD.into(),
        },
        "test account",
        &When::now(),
    )
    .await
    .unwrap();
    service::load_actor(store, &u.id).await.unwrap()
}

/// A small ethics world for tests of the layers above the store: a hospital
/// (`org-h`) and its committee (`org-ec`, seven members shaped as the 2023
/// measures ask, the chair with an account), a CAR-T study approved at a
/// meeting with consent version 1, and three subjects: `S-001` permits
/// everything, `S-002` refused sharing with other institutions, `S-003`
/// withdrew wholly.
pub struct EthicsWorld {
    pub office: crate::service::Actor,
    pub secretary: crate::service::Actor,
    pub chair: crate::service::Actor,
    pub project_id: String,
    pub submission_id: String,
    pub meeting_id: String,
    /// Subject ids of S-001, S-002, S-003.
    pub subjects: Vec<String>,
}

pub const WORLD_PASSWORD: &str = "correct horse battery staple";

pub async fn ethics_world(store: &dyn Store) -> EthicsWorld {
    use crate::ethics as e;
    use crate::service::{self, Actor, ProjectInput, SignInput, When};
    use base64::Engine as _;
    let t = When::at(chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(), 9, 0);
    service::bootstrap(store, "admin", WORLD_PASSWORD, &t)
        .await
        .unwrap();
    let sys = Actor::system();
    for (id, ty) in [
        ("org-h", "medical_institution"),
        ("org-ec", "ethics_committee"),
    ] {
        service::register_org(store, &sys, &org_input(id, ty, "31"), "test", &t)
            .await
            .unwrap();
    }
    let office = test_user(store, "org-h", "h.office", "research_office").await;
    let secretary = test_user(store, "org-ec", "ec.sec", "ethics_secretary").await;
    let chair = test_user(store, "org-ec", "ec.chair", "ethics_member").await;
    e::constitute_committee(
        store,
        &secretary,
        "org-ec",
        &e::ConstituteInput {
            institution_id: Some("org-h".into()),
            kind: "institutional".into(),
        },
        "test",
        &t,
    )
    .await
    .unwrap();
    let mut members = Vec::new();
    for (i, (sex, field, external, role)) in [
        ("male", "medical", false, "chair"),
        ("female", "medical", false, "vice_chair"),
        ("female", "scientific", false, "member"),
        ("male", "scientific", false, "member"),
        ("female", "ethics", true, "member"),
        ("male", "legal", true, "member"),
        ("female", "lay", true, "member"),
    ]
    .into_iter()
    .enumerate()
    {
        let v = e::appoint_member(
            store,
            &secretary,
            "org-ec",
            &e::MemberInput {
                name: format!("委员{i}"),
                sex: sex.into(),
                expertise: field.into(),
                external,
                role: role.into(),
                user_id: (i == 0).then(|| chair.user_id.clone()),
                appointed_on: "2026-01-01".into(),
            },
            "test",
            &t,
        )
        .await
        .unwrap();
        members = v.members.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
    }
    let p = service::draft_project(
        store,
        &office,
        &ProjectInput {
            kind: "clinical_research".into(),
            title_zh: "CD19 CAR-T 研究".into(),
            title_en: "CD19 CAR-T study".into(),
            summary_zh: String::new(),
            summary_en: String::new(),
            category: "car_t".into(),
            pi_name: "周明".into(),
        },
        "test",
        &t,
    )
    .await
    .unwrap();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let doc = |kind: &str, lang: &str| e::DocumentInput {
        doc_kind: kind.into(),
        lang: lang.into(),
        version: "1.0".into(),
        filename: format!("{kind}-{lang}.pdf"),
        media_type: "application/pdf".into(),
        content_b64: b64(&format!("{kind} {lang} 1.0")),
    };
    let asks: celltrail_core::consent::Scopes = celltrail_core::consent::Scope::ALL
        .iter()
        .copied()
        .collect();
    let sub = e::submit(
        store,
        &office,
        &p.id,
        &e::SubmissionInput {
            committee_id: "org-ec".into(),
            kind: "initial".into(),
            facts: celltrail_core::ethics::RouteFacts {
                intervention: true,
                ..Default::default()
            },
            consent_version: Some(celltrail_core::consent::VersionTerms {
                version: 1,
                asks,
                material_change: false,
            }),
            lead_id: None,
            documents: vec![
                doc("protocol", "zh-CN"),
                doc("consent_form", "zh-CN"),
                doc("consent_form", "en"),
            ],
        },
        &t,
    )
    .await
    .unwrap();
    let m = e::schedule_meeting(
        store,
        &secretary,
        "org-ec",
        &e::ScheduleInput {
            held_on: "2026-06-10".into(),
            agenda: vec![sub.submission.id.clone()],
        },
        &t,
    )
    .await
    .unwrap();
    e::record_attendance(
        store,
        &secretary,
        &m.meeting.id,
        &e::AttendanceInput {
            present: members.clone(),
            recused: Default::default(),
        },
        &t,
    )
    .await
    .unwrap();
    let head = store
        .stream_head(&e::submission_stream(&sub.submission.id))
        .await
        .unwrap()
        .unwrap()
        .1;
    let decided_on = When::at(chrono::NaiveDate::from_ymd_opt(2026, 6, 10).unwrap(), 9, 0);
    e::vote_item(
        store,
        &chair,
        &m.meeting.id,
        &sub.submission.id,
        &e::VoteInput {
            votes: members
                .iter()
                .map(|id| celltrail_core::ethics::Vote {
                    member: id.clone(),
                    decision: Some(celltrail_core::ethics::Decision::Approve),
                    opinion: String::new(),
                })
                .collect(),
            decide: e::DecideInput {
                review_interval_months: Some(12),
                conditions: String::new(),
                signature: Some(SignInput {
                    username: chair.username.clone(),
                    password: WORLD_PASSWORD.into(),
                    meaning: "approved".into(),
                    record_hash: head,
                }),
            },
        },
        &decided_on,
    )
    .await
    .unwrap();
    let enrol_day = When::at(chrono::NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(), 9, 0);
    let mut subjects = Vec::new();
    for (code, refuse) in [
        ("S-001", ""),
        ("S-002", "share_institutions"),
        ("S-003", ""),
    ] {
        let s = e::enrol_subject(
            store,
            &office,
            &p.id,
            &e::EnrolInput {
                code: code.into(),
                enrolled_on: "2026-07-01".into(),
            },
            &enrol_day,
        )
        .await
        .unwrap();
        e::record_consent(
            store,
            &office,
            &s.id,
            &e::ConsentInput {
                version: 1,
                signed_on: "2026-07-01".into(),
                method: "e_consent".into(),
                age_years: 40,
                can_read: true,
                witness: None,
                guardian: None,
                assent: None,
                scopes: asks
                    .names()
                    .into_iter()
                    .filter(|n| *n != refuse)
                    .map(str::to_string)
                    .collect(),
            },
            &enrol_day,
        )
        .await
        .unwrap();
        subjects.push(s.id);
    }
    e::withdraw_consent(
        store,
        &office,
        &subjects[2],
        &e::WithdrawInput {
            scopes: vec![],
            whole: true,
            samples: Some("destroy".into()),
            reason: "withdrew".into(),
        },
        &When::at(chrono::NaiveDate::from_ymd_opt(2026, 8, 1).unwrap(), 9, 0),
    )
    .await
    .unwrap();
    EthicsWorld {
        office,
        secretary,
        chair,
        project_id: p.id,
        submission_id: sub.submission.id,
        meeting_id: m.meeting.id,
        subjects,
    }
}

/// A small chain-of-custody world: a hospital `org-h` (Shanghai) with a
/// research coordinator and two nurses, a cell preparation centre `org-f`
/// with an operator, QA and the qualified person, a Shanghai regulator, a
/// CAR-T technology filed by the hospital, the centre's process with its
/// release specification, a calibrated incubator, two released lots, and
/// patients `P-A` and `P-B` (wristbands `MRN-A`, `MRN-B`).
pub struct TraceWorld {
    pub coordinator: crate::service::Actor,
    pub nurse: crate::service::Actor,
    pub nurse2: crate::service::Actor,
    pub operator: crate::service::Actor,
    pub qa: crate::service::Actor,
    pub qp: crate::service::Actor,
    pub regulator: crate::service::Actor,
    pub technology_id: String,
    pub process_id: String,
    pub equipment_id: String,
    /// Lentiviral vector lot and culture medium lot.
    pub lots: Vec<String>,
    /// Patient ids of P-A and P-B.
    pub patients: Vec<String>,
}

/// Results that pass `core::trace::example_car_t_specs` at release.
pub const PASSING_RELEASE: &[(&str, &str)] = &[
    ("sterility", "no_growth"),
    ("mycoplasma", "negative"),
    ("endotoxin", "0.8"),
    ("viability", "86.5"),
    ("identity", "car_positive"),
    ("potency", "1840"),
    ("cd3_purity", "97.2"),
    ("transduction_efficiency", "38"),
    ("vector_copy_number", "1.9"),
    ("rcl", "not_detected"),
];

pub async fn trace_world(store: &dyn Store) -> TraceWorld {
    use crate::service::{self, Actor, ProjectInput, When};
    use crate::trace as tr;
    let t = When::at(chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(), 9, 0);
    service::bootstrap(store, "admin", WORLD_PASSWORD, &t)
        .await
        .unwrap();
    let sys = Actor::system();
    for (id, ty) in [
        ("org-h", "medical_institution"),
        ("org-f", "preparation_centre"),
        ("org-reg", "regulator"),
    ] {
        service::register_org(store, &sys, &org_input(id, ty, "31"), "test", &t)
            .await
            .unwrap();
    }
    let coordinator = test_user(store, "org-h", "h.coord", "investigator").await;
    let nurse = test_user(store, "org-h", "h.nurse", "clinical_nurse").await;
    let nurse2 = test_user(store, "org-h", "h.nurse2", "clinical_nurse").await;
    let operator = test_user(store, "org-f", "f.op", "process_operator").await;
    let qa = test_user(store, "org-f", "f.qa", "quality_assurance").await;
    let qp = test_user(store, "org-f", "f.qp", "qualified_person").await;
    let regulator = test_user(store, "org-reg", "reg.officer", "regulator_officer").await;
    let tech = service::draft_project(
        store,
        &coordinator,
        &ProjectInput {
            kind: "technology".into(),
            title_zh: "CD19 CAR-T 细胞治疗技术".into(),
            title_en: "CD19 CAR-T cell therapy".into(),
            summary_zh: String::new(),
            summary_en: String::new(),
            category: "car_t".into(),
            pi_name: "周明".into(),
        },
        "draft",
        &t,
    )
    .await
    .unwrap();
    let process = tr::define_process(
        store,
        &qa,
        &tr::ProcessInput {
            id: None,
            technology_id: Some(tech.id.clone()),
            name: "CD19 CAR-T 自体制备 v1".into(),
            specs: celltrail_core::trace::example_car_t_specs(),
            reason: None,
        },
        &t,
    )
    .await
    .unwrap();
    let eq = tr::register_equipment(
        store,
        &operator,
        &tr::EquipmentInput {
            id: Some("EQ-INC-01".into()),
            name: "CO2 培养箱 01".into(),
            kind: "incubator".into(),
            calibrated_until: "2026-12-31".into(),
        },
        &t,
    )
    .await
    .unwrap();
    let mut lots = Vec::new();
    for (id, material, lot) in [
        ("LOT-LV-2601", "CD19 CAR 慢病毒载体", "LV2601"),
        ("LOT-MED-2603", "T 细胞培养基", "TM2603"),
    ] {
        let l = tr::register_lot(
            store,
            &operator,
            &tr::LotInput {
                id: Some(id.into()),
                material: material.into(),
                supplier: "示例供应商".into(),
                lot: lot.into(),
                expires_on: "2027-06-30".into(),
                status: "released".into(),
            },
            &t,
        )
        .await
        .unwrap();
        lots.push(l.id);
    }
    let mut patients = Vec::new();
    for (name, mrn) in [("患者甲", "MRN-A"), ("患者乙", "MRN-B")] {
        let mut identity = serde_json::Map::new();
        identity.insert("name".into(), name.into());
        identity.insert("birth_date".into(), "1971-05-02".into());
        let p = tr::register_person(
            store,
            &coordinator,
            &tr::PersonInput {
                kind: "patient".into(),
                project_id: Some(tech.id.clone()),
                identity,
                wristband: mrn.into(),
            },
            &t,
        )
        .await
        .unwrap();
        patients.push(p.id);
    }
    TraceWorld {
        coordinator,
        nurse,
        nurse2,
        operator,
        qa,
        qp,
        regulator,
        technology_id: tech.id,
        process_id: process.id,
        equipment_id: eq.id,
        lots,
        patients,
    }
}

/// One event of a ledger shaped like one large institution's (the verify
/// benchmark's): clinical-research visit data on 2,000 studies, two events
/// per study per command.
pub fn hospital_event(k: u64) -> celltrail_ledger::NewEvent {
    const STREAMS: u64 = 2_000;
    celltrail_ledger::NewEvent {
        stream: format!("project:prj-{:06}", (k / 2) % STREAMS),
        // Verification reads every kind alike; this one projects nothing,
        // so loading the ledger stays quick.
        kind: crate::projection::USER_PASSWORD_SET.to_string(),
        payload: serde_json::json!({
            "protocol": format!("CT-2026-{:04}", (k / 2) % STREAMS),
            "site": format!("SH-RJ-{:02}", k % 7),
            "subject": format!("SUBJ-{:05}", k % 4_000),
            "visit": format!("Day {}", (k % 12) * 7),
            "form": "adverse_event",
            "term": "细胞因子释放综合征 Cytokine release syndrome",
            "grade": k % 5,
            "serious": k % 9 == 4,
        }),
        actor: format!("user:investigator-{}", k % 40),
        org: "org:ruijin-hospital".to_string(),
        time: "2026-11-23T08:00:00.000Z".to_string(),
        reason: "visit data entry".to_string(),
    }
}

/// Appends `events` [`hospital_event`]s in commands of 1,000 (a seal entry
/// per two events, a checkpoint per 1,000 events, as the store signs them).
pub async fn hospital_ledger(store: &dyn Store, events: u64) -> crate::error::StoreResult<()> {
    const APPEND: u64 = 1_000;
    let mut k = 0;
    while k < events {
        let end = (k + APPEND).min(events);
        store.append((k..end).map(hospital_event).collect()).await?;
        k = end;
    }
    store.checkpoint(std::time::Duration::ZERO).await?;
    Ok(())
}
