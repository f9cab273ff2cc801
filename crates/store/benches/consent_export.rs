//! A consent-filtered export of 1,000,000 subject records against the same
//! export unfiltered, side by side in one run (target: at most 1.5 times).
//! Both read the study's subjects from the database and write the same CSV
//! rows; the filtered one is the product's export (`ethics::export_dataset`,
//! the consent check in front of every row). PostgreSQL runs when
//! CELLTRAIL_TEST_PG_URL is set.
//!
//! `cargo bench -p celltrail-store --bench consent_export`

use std::time::Duration;

use celltrail_core::consent::Scope;
use celltrail_store::ethics::{self, DATASET_HEADER};
use celltrail_store::service::{self, load_actor, Actor, OrgInput, ProjectInput, UserInput, When};
use celltrail_store::testkit::{postgres_backend, sqlite_backend, TestBackend};
use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// A million under `cargo bench`; a small run when the test suite runs the
/// bench once to check it works.
fn n() -> i64 {
    if std::env::args().any(|a| a == "--bench") {
        1_000_000
    } else {
        10_000
    }
}

async fn study(b: &TestBackend, n: i64) -> (Actor, String) {
    let store = b.store.as_ref();
    let t = When::at(NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(), 9, 0);
    service::bootstrap(store, "admin", "bench password 123", &t)
        .await
        .unwrap();
    let org = OrgInput {
        id: Some("org-bench".into()),
        org_type: "medical_institution".into(),
        name_zh: "基准医院".into(),
        name_en: "Benchmark hospital".into(),
        uscc: None,
        province_code: "31".into(),
        city_zh: String::new(),
        city_en: String::new(),
        grade: Some("3A".into()),
        address_zh: String::new(),
        address_en: String::new(),
    };
    service::register_org(store, &Actor::system(), &org, "bench", &t)
        .await
        .unwrap();
    let u = service::create_user(
        store,
        &Actor::system(),
        &UserInput {
            org_id: "org-bench".into(),
            username: "bench.office".into(),
            display_name: "Bench".into(),
            email: String::new(),
            roles: vec!["research_office".into()],
            password: "bench password 123".into(),
        },
        "bench",
        &t,
    )
    .await
    .unwrap();
    let actor = load_actor(store, &u.id).await.unwrap();
    let p = service::draft_project(
        store,
        &actor,
        &ProjectInput {
            kind: "clinical_research".into(),
            title_zh: "基准研究".into(),
            title_en: "Benchmark study".into(),
            summary_zh: String::new(),
            summary_en: String::new(),
            category: "car_t".into(),
            pi_name: "Bench".into(),
        },
        "bench",
        &t,
    )
    .await
    .unwrap();
    // One million subjects as the projection writes them: everyone
    // consented to everything (bits 127) on one of 365 days; one in twenty
    // later withdrew wholly.
    let series = match b.name {
        "sqlite" => {
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $N - 1)"
        }
        _ => "WITH n(i) AS (SELECT generate_series(0, $N - 1))",
    }
    .replace("$N", &n.to_string());
    let date = match b.name {
        "sqlite" => "date('2026-01-01', '+' || (i % 365) || ' days')",
        _ => "to_char(DATE '2026-01-01' + (i % 365)::int, 'YYYY-MM-DD')",
    };
    let sql = format!(
        "{series} INSERT INTO subjects (id, project_id, site_id, code, enrolled_on, status, consent_version, scopes, samples, withdrawn_on, timeline, head_seq) \
         SELECT 'sbj-' || i, '{pid}', 'org-bench', 'S-' || i, {date}, CASE WHEN i % 20 = 7 THEN 'withdrawn' ELSE 'active' END, 1, \
         CASE WHEN i % 20 = 7 THEN 0 ELSE 127 END, NULL, NULL, \
         {date} || 'g127;' || CASE WHEN i % 20 = 7 THEN '2026-12-31w127;' ELSE '' END, 1 FROM n",
        pid = p.id
    );
    b.tamper(&sql).await;
    (actor, p.id)
}

fn bench_backend(c: &mut Criterion, rt: &tokio::runtime::Runtime, b: TestBackend) {
    let n = n();
    let (actor, project) = rt.block_on(study(&b, n));
    let when = When::at(NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(), 9, 0);
    let mut g = c.benchmark_group(format!("consent_export_{}", b.name));
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.throughput(Throughput::Elements(n as u64));
    let store = b.store.clone();
    g.bench_function("unfiltered_1m", |bch| {
        bch.iter(|| {
            rt.block_on(async {
                let mut out = Vec::with_capacity(64 << 20);
                out.extend_from_slice(DATASET_HEADER);
                for s in ethics::subjects(store.as_ref(), &project).await.unwrap() {
                    ethics::write_subject(&mut out, &s);
                }
                out.len()
            })
        })
    });
    g.bench_function("filtered_1m", |bch| {
        bch.iter(|| {
            rt.block_on(async {
                let mut out = Vec::with_capacity(64 << 20);
                let count = ethics::export_dataset(
                    store.as_ref(),
                    &actor,
                    &project,
                    Scope::StudyData,
                    &when,
                    &mut out,
                )
                .await
                .unwrap();
                assert_eq!(count.excluded, (n / 20) as u64);
                out.len()
            })
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sqlite = rt.block_on(sqlite_backend());
    bench_backend(c, &rt, sqlite);
    if let Some(pg) = rt.block_on(postgres_backend()) {
        bench_backend(c, &rt, pg);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
