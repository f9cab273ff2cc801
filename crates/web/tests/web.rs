//! HTTP tests against the real router (no server), on every backend.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use celltrail_core::access::{permissions, OrgType, Role};
use celltrail_core::calendar::WorkCalendar;
use celltrail_core::i18n::{catalog, Lang};
use celltrail_store::service::{self, load_actor, Actor, OrgInput, UserInput, When};
use celltrail_store::testkit::backends;
use celltrail_store::DynStore;
use celltrail_web::routes::{Access, Kind, ROUTES};
use celltrail_web::{app, AppState, WebConfig};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const PW: &str = "correct horse battery staple";

fn org(id: &str, t: &str, province: &str) -> OrgInput {
    OrgInput {
        id: Some(id.into()),
        org_type: t.into(),
        name_zh: format!("{id}医院"),
        name_en: format!("{id} Hospital"),
        uscc: None,
        province_code: province.into(),
        city_zh: String::new(),
        city_en: String::new(),
        grade: None,
        address_zh: String::new(),
        address_en: String::new(),
    }
}

/// One organisation of each type, one user for every role it admits.
async fn world(store: &DynStore) -> Vec<(Role, Actor)> {
    let t = When::now();
    service::bootstrap(store.as_ref(), "admin", PW, &t)
        .await
        .unwrap();
    let sys = Actor::system();
    let types = [
        (OrgType::MedicalInstitution, "org-mi", "31"),
        (OrgType::PreparationCentre, "org-pc", "31"),
        (OrgType::EthicsCommittee, "org-ec", "31"),
        (OrgType::Regulator, "org-reg", "31"),
        (OrgType::VerificationLab, "org-vl", "11"),
        (OrgType::Sponsor, "org-sp", "31"),
        (OrgType::Payer, "org-pa", "46"),
    ];
    for (ty, id, p) in types {
        service::register_org(store.as_ref(), &sys, &org(id, ty.as_str(), p), "test", &t)
            .await
            .unwrap();
    }
    let mut out = Vec::new();
    for role in Role::ALL {
        let org_id = if *role == Role::PlatformAdmin {
            service::SYSTEM_ORG
        } else {
            types
                .iter()
                .find(|(ty, _, _)| celltrail_core::access::role_allowed_in(*role, *ty))
                .map(|(_, id, _)| *id)
                .unwrap()
        };
        let username = format!("u.{}", role.as_str().replace('_', "-"));
        let u = service::create_user(
            store.as_ref(),
            &sys,
            &UserInput {
                org_id: org_id.into(),
                username,
                display_name: format!("{} 用户", role.as_str()),
                email: String::new(),
                roles: vec![role.as_str().into()],
                password: PW.into(),
            },
            "test",
            &t,
        )
        .await
        .unwrap();
        out.push((*role, load_actor(store.as_ref(), &u.id).await.unwrap()));
    }
    out
}

fn state(store: DynStore) -> celltrail_web::SharedState {
    AppState::new(
        store,
        WorkCalendar::embedded(),
        WebConfig {
            secure_cookies: false,
            require_admin_totp: false,
            ..Default::default()
        },
    )
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, String, axum::http::HeaderMap) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).to_string(), headers)
}

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "x-unknown" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

async fn bearer_for(st: &celltrail_web::SharedState, actor: &Actor) -> String {
    // A token with every permission its owner has.
    let scopes: Vec<String> = actor
        .roles
        .iter()
        .flat_map(|r| permissions(*r).iter().map(|p| p.as_str().to_string()))
        .collect();
    let body = celltrail_web::api::TokenBody {
        name: "test".into(),
        scopes,
        expires_in_days: None,
    };
    celltrail_web::api::issue_token(st, actor, &body)
        .await
        .unwrap()
        .secret
}

#[tokio::test]
async fn every_route_enforces_its_permission_with_403_and_no_data() {
    for b in backends().await {
        let users = world(&b.store).await;
        let st = state(b.store.clone());
        let app = app(st.clone());
        let mut checked = 0;
        for r in ROUTES {
            let path = concrete(r.path);
            let method = Method::from_bytes(r.method.as_bytes()).unwrap();
            match r.access {
                Access::Public => {}
                Access::SignedIn => {
                    let (status, body, _) = call(
                        &app,
                        Request::builder()
                            .method(method.clone())
                            .uri(&path)
                            .body(Body::empty())
                            .unwrap(),
                    )
                    .await;
                    match r.kind {
                        Kind::Api => {
                            assert_eq!(status, StatusCode::UNAUTHORIZED, "{} {}", r.method, r.path);
                            let v: Value = serde_json::from_str(&body).unwrap();
                            assert_eq!(v["error"]["code"], "authentication_required");
                        }
                        Kind::Page => {
                            assert_eq!(status, StatusCode::SEE_OTHER, "{} {}", r.method, r.path)
                        }
                    }
                    checked += 1;
                }
                Access::Perm(p) => {
                    // Every role that lacks the permission is refused.
                    for (role, actor) in &users {
                        if actor.can(p) {
                            continue;
                        }
                        let token = bearer_for(&st, actor).await;
                        let req = Request::builder()
                            .method(method.clone())
                            .uri(&path)
                            .header(header::AUTHORIZATION, format!("Bearer {token}"))
                            .header(header::CONTENT_TYPE, "application/json")
                            .body(Body::from("{}"))
                            .unwrap();
                        let (status, body, _) = call(&app, req).await;
                        assert_eq!(
                            status,
                            StatusCode::FORBIDDEN,
                            "{} {} as {}",
                            r.method,
                            r.path,
                            role.as_str()
                        );
                        match r.kind {
                            Kind::Api => {
                                let v: Value = serde_json::from_str(&body).unwrap();
                                assert_eq!(v["error"]["code"], "permission_denied");
                                assert_eq!(
                                    v.as_object().unwrap().len(),
                                    1,
                                    "no data besides the error: {body}"
                                );
                            }
                            Kind::Page => {
                                assert!(body.contains("data-code=\"permission_denied\""), "{body}")
                            }
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 100, "only {checked} checks");
    }
}

#[tokio::test]
async fn every_declared_route_is_served() {
    let b = celltrail_store::testkit::sqlite_backend().await;
    let users = world(&b.store).await;
    let st = state(b.store.clone());
    let app = app(st.clone());
    let admin = users
        .iter()
        .find(|(r, _)| *r == Role::PlatformAdmin)
        .unwrap()
        .1
        .clone();
    let token = bearer_for(&st, &admin).await;
    for r in ROUTES {
        let req = Request::builder()
            .method(Method::from_bytes(r.method.as_bytes()).unwrap())
            .uri(concrete(r.path))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let (status, body, _) = call(&app, req).await;
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{} {}",
            r.method,
            r.path
        );
        assert!(
            !body.contains("route_not_found") && !body.contains("route_not_declared"),
            "{} {}: {body}",
            r.method,
            r.path
        );
    }
}

#[tokio::test]
async fn api_errors_are_json_with_code_field_and_language() {
    let b = celltrail_store::testkit::sqlite_backend().await;
    let users = world(&b.store).await;
    let st = state(b.store.clone());
    let app = app(st.clone());
    let office = users
        .iter()
        .find(|(r, _)| *r == Role::ResearchOffice)
        .unwrap()
        .1
        .clone();
    let token = bearer_for(&st, &office).await;
    let post = |body: &str, lang: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/projects")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::ACCEPT_LANGUAGE, lang)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let (s, body, _) = call(&app, post("{not json", "en")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "body_not_json");
    let (_, body, _) = call(&app, post(r#"{"kind":"technology","title_zh":"x","title_en":"x","category":"car_t","pi_name":"p","colour":"red"}"#, "en")).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "field_unknown");
    assert_eq!(v["error"]["field"], "colour");
    let (_, body_en, _) = call(&app, post(r#"{"kind":"technology","title_zh":" ","title_en":"x","category":"car_t","pi_name":"p"}"#, "en-GB,en;q=0.9")).await;
    let (_, body_zh, _) = call(&app, post(r#"{"kind":"technology","title_zh":" ","title_en":"x","category":"car_t","pi_name":"p"}"#, "zh-CN,zh;q=0.9")).await;
    let en: Value = serde_json::from_str(&body_en).unwrap();
    let zh: Value = serde_json::from_str(&body_zh).unwrap();
    assert_eq!(en["error"]["code"], "field_required");
    assert_eq!(en["error"]["field"], "title_zh");
    assert_eq!(
        en["error"]["message"],
        catalog().format(Lang::En, "error.field_required", &[("field", "title_zh")])
    );
    assert_eq!(
        zh["error"]["message"],
        catalog().format(Lang::Zh, "error.field_required", &[("field", "title_zh")])
    );
    assert_ne!(en["error"]["message"], zh["error"]["message"]);
    // A good draft is created with 201.
    let (s, body, _) = call(&app, post(r#"{"kind":"technology","title_zh":"间充质干细胞","title_en":"MSC","category":"msc","pi_name":"p","reason":"first draft"}"#, "en")).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    // Unknown route under /api is JSON too.
    let (s, body, _) = call(
        &app,
        Request::builder()
            .uri("/api/v1/nope")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        "route_not_found"
    );
}

#[tokio::test]
async fn login_sessions_csrf_throttling_and_audit() {
    let b = celltrail_store::testkit::sqlite_backend().await;
    world(&b.store).await;
    let st = state(b.store.clone());
    let app = app(st.clone());
    let login = |user: &str, pw: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "username={user}&password={}&next=%2Fapp",
                urlencoding::encode(pw)
            )))
            .unwrap()
    };
    let (s, _, h) = call(&app, login("u.research-office", PW)).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let cookie = h
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    // Signed in: the dashboard renders; me reports the CSRF token.
    let (s, body, _) = call(
        &app,
        Request::builder()
            .uri("/api/v1/me")
            .header(header::COOKIE, &session)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let me: Value = serde_json::from_str(&body).unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_string();
    // A cookie-authenticated API write without the CSRF header is refused.
    let draft =
        r#"{"kind":"technology","title_zh":"x","title_en":"x","category":"msc","pi_name":"p"}"#;
    let (s, body, _) = call(
        &app,
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/projects")
            .header(header::COOKIE, &session)
            .body(Body::from(draft))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(body.contains("csrf_invalid"));
    let (s, _, _) = call(
        &app,
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/projects")
            .header(header::COOKIE, &session)
            .header("x-csrf-token", &csrf)
            .body(Body::from(draft))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    // Form posts need it too.
    let (s, body, _) = call(
        &app,
        Request::builder()
            .method(Method::POST)
            .uri("/logout")
            .header(header::COOKIE, &session)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("csrf=wrong"))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    // Logout ends the session on the server.
    let (s, _, _) = call(
        &app,
        Request::builder()
            .method(Method::POST)
            .uri("/logout")
            .header(header::COOKIE, &session)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("csrf={csrf}")))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (s, _, _) = call(
        &app,
        Request::builder()
            .uri("/api/v1/me")
            .header(header::COOKIE, &session)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Five failures lock the user name; the sixth try is throttled even with the right password.
    for _ in 0..5 {
        let (s, _, _) = call(&app, login("u.investigator", "wrong password 123")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, body, _) = call(&app, login("u.investigator", PW)).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let audit = b.store.login_attempts(50).await.unwrap();
    assert!(audit
        .iter()
        .any(|a| a.success && a.username == "u.research-office"));
    assert_eq!(
        audit
            .iter()
            .filter(|a| !a.success && a.username == "u.investigator")
            .count(),
        6
    );
}

#[tokio::test]
async fn openapi_document_lists_every_api_route() {
    let doc = celltrail_web::openapi::build();
    assert_eq!(doc["openapi"], "3.1.0");
    for r in ROUTES.iter().filter(|r| r.kind == Kind::Api) {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        assert!(op.is_object(), "{} {} missing", r.method, r.path);
        assert_eq!(op["operationId"], r.operation);
        if let Some(body) = r.body {
            assert!(
                doc["components"]["schemas"][body].is_object(),
                "schema {body}"
            );
        }
    }
}

#[tokio::test]
async fn health_ready_metrics() {
    let b = celltrail_store::testkit::sqlite_backend().await;
    let app = app(state(b.store.clone()));
    let (s, body, _) = call(
        &app,
        Request::builder()
            .uri("/healthz")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "ok\n"));
    let (s, _, _) = call(
        &app,
        Request::builder()
            .uri("/readyz")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body, h) = call(
        &app,
        Request::builder()
            .uri("/metrics")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(h
        .get(header::CONTENT_TYPE)
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    assert!(body.contains("# TYPE celltrail_http_requests_total counter"));
    assert!(
        body.contains("route=\"/readyz\",status=\"200\"} 1"),
        "{body}"
    );
    // Security headers on every answer (OWASP ASVS 14.4).
    assert_eq!(h.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
    assert_eq!(h.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
    let csp = h
        .get(header::CONTENT_SECURITY_POLICY)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    // The language switch only redirects within the site.
    for evil in [
        "//evil.example/x",
        "/\\evil.example",
        "https://evil.example/",
    ] {
        let uri = format!("/lang/en?next={}", urlencoding::encode(evil));
        let (s, _, h) = call(
            &app,
            Request::builder().uri(uri).body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        assert_eq!(h.get(header::LOCATION).unwrap(), "/", "{evil}");
    }
}

/// Every message key the templates and the code use exists in both
/// languages (the core crate's test checks the two files have the same keys).
#[test]
fn every_used_message_key_exists_in_both_languages() {
    let mut used = BTreeSet::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find(".t(\"") {
            rest = &rest[i + 4..];
            let end = rest.find('"').unwrap();
            used.insert(rest[..end].to_string());
        }
    }
    // Keys built from codes at run time.
    for s in [
        "draft",
        "submitted",
        "returned",
        "accepted",
        "filed",
        "suspended",
        "terminated",
        "completed",
    ] {
        used.insert(format!("public.state_explain.{s}"));
    }
    used.extend(celltrail_web::i18n::action_keys());
    for k in ["technology", "clinical_research"] {
        used.insert(format!("kind.{k}"));
    }
    for c in service::CATEGORIES {
        used.insert(format!("category.{c}"));
    }
    for q in service::QUALIFICATION_KINDS {
        used.insert(format!("qual.{q}"));
    }
    for g in service::GRADES {
        used.insert(format!("grade.{}", g.to_lowercase()));
    }
    for d in ["completeness_check", "filing_decision"] {
        used.insert(format!("deadline.{d}"));
    }
    for r in ROUTES.iter().filter(|r| r.kind == Kind::Api) {
        used.insert(format!("api.op.{}", r.operation));
    }
    for k in [
        celltrail_store::projection::ORG_REGISTERED,
        celltrail_store::projection::ORG_UPDATED,
        celltrail_store::projection::ORG_DEACTIVATED,
        celltrail_store::projection::QUALIFICATION_RECORDED,
        celltrail_store::projection::QUALIFICATION_REVOKED,
        celltrail_store::projection::USER_CREATED,
        celltrail_store::projection::USER_ROLES_CHANGED,
        celltrail_store::projection::USER_DEACTIVATED,
        celltrail_store::projection::USER_PASSWORD_SET,
        celltrail_store::projection::PROJECT_DRAFTED,
        celltrail_store::projection::PROJECT_TRANSITIONED,
    ] {
        used.insert(format!("event.{k}"));
    }
    for k in celltrail_store::ethics::KINDS
        .iter()
        .chain(celltrail_store::trace::KINDS)
        .chain(celltrail_store::safety::KINDS)
    {
        used.insert(format!("event.{k}"));
    }
    {
        use celltrail_store::trace as tr;
        let sets: [(&str, &[&str]); 8] = [
            ("unit.status.", tr::UNIT_STATUSES),
            ("unit.kind.", &["collection", "final"]),
            ("halt.kind.", tr::HALT_KINDS),
            ("gap.", celltrail_core::trace::GAP_CODES),
            ("node.", tr::NODE_KINDS),
            (
                "batch.status.",
                &["in_process", "on_hold", "released", "rejected"],
            ),
            ("recall.", &["quarantine_now", "notify_patient", "none"]),
            ("stage.", &["in_process", "release"]),
        ];
        for (prefix, values) in sets {
            for v in values {
                used.insert(format!("{prefix}{v}"));
            }
        }
        for s in celltrail_core::trace::Shipper::ALL {
            used.insert(format!("shipper.{}", s.as_str()));
        }
        for k in [
            "scan.wristband",
            "scan.coi",
            "scan.bag",
            "scan.scan_mismatch",
            "scan.scan_unreadable",
        ] {
            used.insert(k.to_string());
        }
    }
    {
        // The safety pages' labels built from codes.
        for c in celltrail_store::safety::PRODUCT_CLASSES {
            used.insert(format!("safety.class.{c}"));
        }
        for k in ["initial", "follow_up"] {
            used.insert(format!("safety.clock.{k}"));
        }
        for k in celltrail_core::safety::FollowUpKind::ALL {
            used.insert(format!("ltfu.kind.{}", k.as_str()));
        }
        for v in ["alive", "dead", "unknown"] {
            used.insert(format!("ltfu.vital.{v}"));
        }
        for r in ["due_now", "upcoming"] {
            used.insert(format!("ltfu.reminder.{r}"));
        }
        for d in celltrail_core::safety::DECIDING_ENTRIES {
            for lang in [Lang::Zh, Lang::En] {
                assert!(
                    !celltrail_core::safety::deciding_label(d, lang).is_empty(),
                    "{d}"
                );
            }
        }
    }
    {
        use celltrail_store::ethics as e;
        let sets: [(&str, &[&str]); 10] = [
            ("submission.status.", e::SUBMISSION_STATUSES),
            ("meeting.status.", e::MEETING_STATUSES),
            ("subject.status.", e::SUBJECT_STATUSES),
            ("reviewer.kind.", e::REVIEWER_KINDS),
            ("exclusion.", e::EXCLUSION_REASONS),
            ("approval.", e::APPROVAL_STATUSES),
            ("review.status.", &["current", "due_soon", "lapsed"]),
            ("committee.kind.", e::COMMITTEE_KINDS),
            ("doc.", e::DOCUMENT_KINDS),
            ("expert.tag.", celltrail_core::ethics::EXPERT_TAGS),
        ];
        for (prefix, values) in sets {
            for v in values {
                used.insert(format!("{prefix}{v}"));
            }
        }
        for g in celltrail_core::ethics::ExemptionGround::ALL {
            used.insert(format!("exemption.{}", g.as_str()));
        }
    }
    for code in celltrail_core::ethics::FINDING_CODES
        .iter()
        .chain(celltrail_core::consent::ERROR_CODES)
        .chain(celltrail_core::isbt::ERROR_CODES)
        .chain(celltrail_core::coldchain::ERROR_CODES)
        .chain(celltrail_core::trace::ERROR_CODES)
        .chain(celltrail_core::isbt_products::ERROR_CODES)
        .chain(celltrail_core::code128::ERROR_CODES)
        .chain(celltrail_core::safety::ERROR_CODES)
        .chain(celltrail_core::e2b::ERROR_CODES)
        .chain(celltrail_core::meddra::ERROR_CODES)
        .chain(celltrail_stats::csv::ERROR_CODES)
        .chain(celltrail_stats::signal::ERROR_CODES)
        .chain(&["ethics_approval_required", "ethics_approval_lapsed"])
    {
        used.insert(format!("error.{code}"));
    }
    // Every error code a caller can meet (internal failures use error.generic).
    for code in error_codes_in_source() {
        used.insert(format!("error.{code}"));
    }
    let cat = catalog();
    let mut missing = Vec::new();
    for key in &used {
        for lang in [Lang::Zh, Lang::En] {
            if cat.get(lang, key) == key.as_str() {
                missing.push(format!("{}:{key}", lang.code()));
            }
        }
    }
    assert!(missing.is_empty(), "missing message keys: {missing:#?}");
}

/// Error codes passed to the non-internal StoreError constructors in the
/// store and web sources.
fn error_codes_in_source() -> BTreeSet<String> {
    let mut codes = BTreeSet::new();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    for dir in ["store/src", "web/src"] {
        for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for ctor in [
                "invalid(",
                "forbidden(",
                "not_found(",
                "conflict(",
                "unauthenticated(",
            ] {
                let mut rest = text.as_str();
                while let Some(i) = rest.find(ctor) {
                    rest = rest[i + ctor.len()..].trim_start();
                    let Some(lit) = rest.strip_prefix('"') else {
                        continue;
                    };
                    let Some(end) = lit.find('"') else {
                        continue;
                    };
                    let code = &lit[..end];
                    if !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    {
                        codes.insert(code.to_string());
                    }
                }
            }
        }
    }
    assert!(codes.len() > 40, "{codes:?}");
    codes
}

#[tokio::test]
async fn public_lookup_needs_no_login() {
    let b = celltrail_store::testkit::sqlite_backend().await;
    world(&b.store).await;
    let app = app(state(b.store.clone()));
    let (s, body, _) = call(
        &app,
        Request::builder()
            .uri("/api/v1/public/institutions?q=org-mi")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["id"], "org-mi");
    let (s, body, _) = call(
        &app,
        Request::builder()
            .uri("/api/v1/public/projects/BMT-31-2026-C-00001")
            .header(header::ACCEPT_LANGUAGE, "zh-CN")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        "filing_not_found"
    );
    let (s, body, _) = call(
        &app,
        Request::builder()
            .uri("/public?q=org-mi")
            .header(header::ACCEPT_LANGUAGE, "en")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains("org-mi Hospital") && body.contains("lang=\"en\""),
        "{body}"
    );
    let (_, body, _) = call(
        &app,
        Request::builder()
            .uri("/public?q=org-mi")
            .header(header::ACCEPT_LANGUAGE, "zh-CN,zh;q=0.9")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(body.contains("org-mi医院") && body.contains("lang=\"zh-CN\""));
}

async fn session_for(app: &Router, username: &str) -> (String, String) {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "username={username}&password={}",
            urlencoding::encode(PW)
        )))
        .unwrap();
    let (s, _, h) = call(app, req).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "login {username}");
    let cookie = h
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (_, body, _) = call(
        app,
        Request::builder()
            .uri("/api/v1/me")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let csrf = serde_json::from_str::<Value>(&body).unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    (cookie, csrf)
}

fn form(path: &str, cookie: &str, body: String, lang: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::COOKIE, cookie)
        .header(header::ACCEPT_LANGUAGE, lang)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn registry_forms_register_an_institution_record_a_licence_and_add_a_user() {
    for b in backends().await {
        world(&b.store).await;
        let app = app(state(b.store.clone()));
        let (cookie, csrf) = session_for(&app, "admin").await;
        let enc = |s: &str| urlencoding::encode(s).to_string();
        // A wrong check character is refused on the form, in the user's language, naming the field.
        let bad = format!(
            "csrf={csrf}&org_type=medical_institution&name_zh={}&name_en=Test&uscc=91440300708461136X&province_code=46&grade=3A&reason={}",
            enc("乐城测试医院"),
            enc("新机构登记")
        );
        let (s, body, _) = call(&app, form("/app/orgs", &cookie, bad.clone(), "zh-CN")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{}", b.name);
        assert!(
            body.contains("data-field=\"uscc\"") && body.contains("校验"),
            "{body}"
        );
        let good = bad.replace("91440300708461136X", "91440300708461136T");
        let (s, _, h) = call(&app, form("/app/orgs", &cookie, good, "zh-CN")).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let location = h
            .get(header::LOCATION)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let org_id = location.rsplit('/').next().unwrap().to_string();
        // A licence that ended is recorded and flagged on the public page.
        let q = format!("csrf={csrf}&kind=practice_licence&number=PDY-46-001&valid_from=2020-01-01&valid_to=2025-12-31&reason={}", enc("执业许可证登记"));
        let (s, _, _) = call(
            &app,
            form(
                &format!("/app/orgs/{org_id}/qualifications"),
                &cookie,
                q,
                "en",
            ),
        )
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let (_, body, _) = call(
            &app,
            Request::builder()
                .uri(format!("/api/v1/public/institutions/{org_id}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["qualifications"][0]["number"], "PDY-46-001");
        assert_eq!(v["qualifications"][0]["expired"], true);
        // A user for it; a role that does not fit the organisation is refused.
        let u = format!("csrf={csrf}&username=lc.office&display_name={}&role=research_office&password={}&reason={}", enc("林海 Lin Hai"), enc(PW), enc("账号开通"));
        let (s, _, _) = call(
            &app,
            form(&format!("/app/orgs/{org_id}/users"), &cookie, u, "en"),
        )
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let wrong = format!("csrf={csrf}&username=lc.reg&display_name=x&role=regulator_officer&password={}&reason=r", enc(PW));
        let (s, body, _) = call(
            &app,
            form(&format!("/app/orgs/{org_id}/users"), &cookie, wrong, "en"),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("does not belong"), "{body}");
        // The new user signs in; an organisation admin elsewhere cannot add users here.
        session_for(&app, "lc.office").await;
        let (other_cookie, other_csrf) = session_for(&app, "u.org-admin").await;
        let u2 = format!("csrf={other_csrf}&username=intruder&display_name=x&role=investigator&password={}&reason=r", enc(PW));
        let (s, body, _) = call(
            &app,
            form(
                &format!("/app/orgs/{org_id}/users"),
                &other_cookie,
                u2,
                "en",
            ),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        assert!(
            body.contains("cannot change another organisation"),
            "{body}"
        );
        // Every step is in the ledger with its reason.
        let events = b
            .store
            .stream_events(&celltrail_store::projection::org_stream(&org_id))
            .await
            .unwrap();
        let reasons: Vec<&str> = events.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["新机构登记", "执业许可证登记"]);
        assert!(b.store.verify().await.unwrap().is_ok());
    }
}

#[tokio::test]
async fn narrow_tokens_revoked_tokens_and_idle_sessions_are_refused() {
    let b = celltrail_store::testkit::sqlite_backend().await;
    let users = world(&b.store).await;
    let st = AppState::new(
        b.store.clone(),
        WorkCalendar::embedded(),
        WebConfig {
            secure_cookies: false,
            session_idle_secs: -1,
            ..Default::default()
        },
    );
    let app = app(st.clone());
    let office = users
        .iter()
        .find(|(r, _)| *r == Role::ResearchOffice)
        .unwrap()
        .1
        .clone();
    // A token scoped to reading cannot draft, though its owner can.
    let body = celltrail_web::api::TokenBody {
        name: "read only".into(),
        scopes: vec!["project.read".into()],
        expires_in_days: Some(30),
    };
    let token = celltrail_web::api::issue_token(&st, &office, &body)
        .await
        .unwrap();
    let draft =
        r#"{"kind":"technology","title_zh":"x","title_en":"x","category":"msc","pi_name":"p"}"#;
    let post = |secret: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/projects")
            .header(header::AUTHORIZATION, format!("Bearer {secret}"))
            .body(Body::from(draft))
            .unwrap()
    };
    let (s, body_txt, _) = call(&app, post(&token.secret)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        serde_json::from_str::<Value>(&body_txt).unwrap()["error"]["code"],
        "permission_denied"
    );
    let (s, _, _) = call(
        &app,
        Request::builder()
            .uri("/api/v1/projects")
            .header(header::AUTHORIZATION, format!("Bearer {}", token.secret))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // A token cannot hold what its owner lacks.
    let narrow = celltrail_web::api::TokenBody {
        name: "x".into(),
        scopes: vec!["project.file".into()],
        expires_in_days: None,
    };
    let Err(e) = celltrail_web::api::issue_token(&st, &office, &narrow).await else {
        panic!("a token beyond the owner's permissions was issued");
    };
    assert_eq!(e.code, "scope_exceeds_permissions");
    // Revoked: 401 token_invalid. Garbage: 401 too.
    assert!(b
        .store
        .revoke_token(&token.token.id, &office.user_id, "2026-01-01T00:00:00.000Z")
        .await
        .unwrap());
    for secret in [token.secret.as_str(), "ct_not_a_token", ""] {
        let (s, body_txt, _) = call(&app, post(secret)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{secret}");
        assert_eq!(
            serde_json::from_str::<Value>(&body_txt).unwrap()["error"]["code"],
            "token_invalid"
        );
    }
    // With an idle limit already passed, a fresh session is no longer accepted.
    let (cookie, _) = {
        let req = Request::builder()
            .method(Method::POST)
            .uri("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "username=u.research-office&password={}",
                urlencoding::encode(PW)
            )))
            .unwrap();
        let (_, _, h) = call(&app, req).await;
        (
            h.get(header::SET_COOKIE)
                .unwrap()
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_string(),
            (),
        )
    };
    let (s, _, _) = call(
        &app,
        Request::builder()
            .uri("/api/v1/me")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

mod fuzz {
    use celltrail_store::service::{OrgInput, ProjectInput};
    use proptest::prelude::*;

    proptest! {
        /// Request bodies and query strings of any shape get an error, never a panic.
        #[test]
        fn body_and_query_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), text in "\\PC{0,200}") {
            let _ = celltrail_web::api::parse_body::<ProjectInput>(celltrail_core::Lang::En, &bytes);
            let _ = celltrail_web::api::parse_body::<OrgInput>(celltrail_core::Lang::Zh, text.as_bytes());
            let json_ish = format!("{{\"reason\": {text:?}, \"kind\": {text:?}}}");
            let _ = celltrail_web::api::parse_body::<ProjectInput>(celltrail_core::Lang::Zh, json_ish.as_bytes());
            if let Ok(uri) = format!("/api/v1/projects?{}", urlencoding::encode(&text).replace("%3D", "=").replace("%26", "&")).parse::<axum::http::Uri>() {
                let _ = celltrail_web::api::parse_query::<celltrail_store::ProjectFilter>(celltrail_core::Lang::En, &uri);
            }
        }
    }
}

/// Administrators enrol a second factor before anything else; then login
/// asks for a fresh code (RFC 6238), and a used code is refused.
#[tokio::test]
async fn administrators_enrol_and_use_a_second_factor() {
    use celltrail_core::totp;
    for b in backends().await {
        world(&b.store).await;
        let st = AppState::new(
            b.store.clone(),
            WorkCalendar::embedded(),
            WebConfig {
                secure_cookies: false,
                ..Default::default()
            },
        );
        assert!(st.config.require_admin_totp, "on by default");
        let app = app(st.clone());
        let (cookie, csrf) = session_for(&app, "admin").await;
        // Anything but enrolment is closed: pages redirect, the API says why.
        let (s, _, h) = call(
            &app,
            Request::builder()
                .uri("/app/orgs")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(
            (s, h.get(header::LOCATION).unwrap().to_str().unwrap()),
            (StatusCode::SEE_OTHER, "/app/account")
        );
        let (s, body, _) = call(
            &app,
            Request::builder()
                .uri("/api/v1/users")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
            "totp_enrolment_required"
        );
        // Non-administrators are not affected.
        let (office_cookie, _) = session_for(&app, "u.research-office").await;
        let (s, _, _) = call(
            &app,
            Request::builder()
                .uri("/app/projects")
                .header(header::COOKIE, &office_cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        // Enrol: the page shows a key; a wrong code is refused, the right one enrols.
        let (s, page, _) = call(
            &app,
            Request::builder()
                .uri("/app/account")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let start = page.find("id=\"totp-secret\">").unwrap() + "id=\"totp-secret\">".len();
        let secret = page[start..start + page[start..].find('<').unwrap()].to_string();
        let key = totp::base32_decode(&secret).unwrap();
        assert_eq!(key.len(), 20);
        let now = celltrail_web::session::now_secs();
        let wrong = format!("{:06}", (totp::totp(&key, now, 6) + 1) % 1_000_000);
        let (s, _, _) = call(
            &app,
            form(
                "/app/account/totp",
                &cookie,
                format!("csrf={csrf}&secret={secret}&code={wrong}"),
                "en",
            ),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        let code = format!("{:06}", totp::totp(&key, now, 6));
        let (s, _, _) = call(
            &app,
            form(
                "/app/account/totp",
                &cookie,
                format!("csrf={csrf}&secret={secret}&code={code}"),
                "en",
            ),
        )
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        let (s, _, _) = call(
            &app,
            Request::builder()
                .uri("/app/orgs")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{}", b.name);
        // Login now needs a code; the one used at enrolment is spent.
        let login = |code: &str| {
            Request::builder()
                .method(Method::POST)
                .uri("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "username=admin&password={}&code={code}",
                    urlencoding::encode(PW)
                )))
                .unwrap()
        };
        let (s, body, _) = call(&app, login("")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert!(body.contains("6"), "{body}");
        let (s, _, _) = call(&app, login(&code)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "a used code is refused");
        let next = format!("{:06}", totp::totp(&key, now + 30, 6));
        let (s, _, _) = call(&app, login(&next)).await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{}", b.name);
        let audit = b.store.login_attempts(20).await.unwrap();
        assert!(audit
            .iter()
            .any(|a| a.success && a.detail == "password+totp"));
        assert!(audit
            .iter()
            .any(|a| !a.success && a.detail == "one-time code missing"));
    }
}

/// The in-memory directory answers exactly what the database's trigram index
/// answers, and sees a new registration at once.
#[tokio::test]
async fn public_directory_matches_the_database_search() {
    for b in backends().await {
        world(&b.store).await;
        let st = state(b.store.clone());
        let sys = Actor::system();
        for (id, zh, en, p) in [
            (
                "org-d1",
                "申江大学附属华东医院",
                "East China Hospital, Shenjiang University",
                "31",
            ),
            (
                "org-d2",
                "天津海河血液病医院",
                "Haihe Hospital of Blood Diseases",
                "12",
            ),
            (
                "org-d3",
                "华东细胞制备中心",
                "East China Cell Preparation Centre",
                "31",
            ),
        ] {
            let mut o = org(
                id,
                if id == "org-d3" {
                    "preparation_centre"
                } else {
                    "medical_institution"
                },
                p,
            );
            o.name_zh = zh.into();
            o.name_en = en.into();
            service::register_org(b.store.as_ref(), &sys, &o, "test", &When::now())
                .await
                .unwrap();
        }
        let public = celltrail_web::public::PUBLIC_TYPES;
        for (q, province) in [
            ("医院", None),
            ("华东", None),
            ("east china", None),
            ("EAST CHINA", Some("31")),
            ("hospital", Some("12")),
            ("org-mi", None),
            ("zzz", None),
            ("东华", None),
        ] {
            let from_db: Vec<String> = b
                .store
                .organisations(&celltrail_store::OrgFilter {
                    q: Some(q.into()),
                    province_code: province.map(str::to_string),
                    limit: Some(1000),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_iter()
                .filter(|o| o.active && public.contains(&o.org_type.as_str()))
                .map(|o| o.id)
                .collect();
            let from_dir: Vec<String> = st
                .directory
                .search(&b.store, public, q, province, 1000)
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.id)
                .collect();
            assert_eq!(from_dir, from_db, "{}: {q:?}", b.name);
        }
        // A registration moves the store's generation; the next search sees it.
        let before = b.store.generation();
        let mut o = org("org-d4", "medical_institution", "46");
        o.name_zh = "博鳌乐城华东分院".into();
        service::register_org(b.store.as_ref(), &sys, &o, "test", &When::now())
            .await
            .unwrap();
        assert!(b.store.generation() > before);
        let ids: Vec<String> = st
            .directory
            .search(&b.store, public, "华东", None, 50)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.id)
            .collect();
        assert!(ids.contains(&"org-d4".to_string()), "{ids:?}");
    }
}

/// The classification API and the wizard page, without signing in.
#[tokio::test]
async fn classify_api_and_wizard() {
    let b = celltrail_store::testkit::sqlite_backend().await;
    let app = app(state(b.store.clone()));
    let post = |body: &str, lang: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/classify")
            .header(header::ACCEPT_LANGUAGE, lang)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    // A lentiviral CAR-T in a registration trial (Kymriah's profile): 351
    // biologic with 15 years of follow-up (21 CFR 1271.20; FDA LTFU 2020),
    // a GTMP in the EU (Reg 1394/2007 Art 2(5)).
    let car_t = r#"{"cell_origin":"autologous","material":"immune_cells","manipulation":"substantial","homologous_use":false,"genetic_modification":"integrating_vector","combined_with_device":false,"combined_with_other_article":false,"systemic_effect":true,"same_surgical_procedure":false,"serious_condition":true,"first_in_human":false,"purpose":"registration_trial"}"#;
    let (s, body, _) = call(
        &app,
        post(
            &format!(r#"{{"profile":{car_t},"as_of":"2026-11-23"}}"#),
            "en",
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["as_of"], "2026-11-23");
    assert_eq!(v["results"]["US"]["tier"]["value"], "351_biologic");
    assert_eq!(v["results"]["US"]["ltfu_years"]["value"], 15);
    assert_eq!(v["results"]["EU"]["atmp"]["value"], "GTMP");
    assert_eq!(v["results"]["CN"]["route"]["value"], "nmpa_drug");
    assert_eq!(
        v["results"]["US"]["tier"]["basis"][0]["instrument"],
        "us.21cfr1271"
    );

    // Bad input: a field that does not exist, named, in the caller's language.
    let (s, body, _) = call(&app, post(r#"{"profile":{"colour":"red"}}"#, "zh-CN")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "profile_field_unknown");
    assert_eq!(v["error"]["field"], "profile.colour");
    assert_eq!(
        v["error"]["message"],
        catalog().format(
            Lang::Zh,
            "error.profile_field_unknown",
            &[("field", "colour")]
        )
    );
    let (_, body, _) = call(&app, post(r#"{"profile":{},"as_of":"23/11/2026"}"#, "en")).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["error"]["code"].as_str(), v["error"]["field"].as_str()),
        (Some("date_invalid"), Some("as_of"))
    );
    let (_, body, _) = call(&app, post(r#"{"profile":{},"region":"atlantis"}"#, "en")).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "region_unknown");

    // The wizard: an empty form, then the same profile as a query, shown as
    // a tree with the article each conclusion rests on, in Chinese.
    let get = |uri: &str| {
        Request::builder()
            .uri(uri)
            .header(header::ACCEPT_LANGUAGE, "zh-CN")
            .body(Body::empty())
            .unwrap()
    };
    let (s, html, _) = call(&app, get("/classify")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("id=\"q-cell_origin\""), "{html}");
    assert!(!html.contains("id=\"results\""));
    let query = "cell_origin=autologous&material=immune_cells&manipulation=substantial&homologous_use=false&genetic_modification=integrating_vector&combined_with_device=false&combined_with_other_article=false&systemic_effect=true&same_surgical_procedure=false&serious_condition=true&first_in_human=false&purpose=registration_trial&as_of=2026-11-23";
    let (s, html, _) = call(&app, get(&format!("/classify?{query}"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("id=\"c-us-tier\""), "{html}");
    assert!(html.contains("351 类生物制品"), "{html}");
    assert!(html.contains("§1271.20"));
    assert!(html.contains("基因治疗药品（GTMP）"));
    // An unanswered question is named, not guessed.
    let (_, html, _) = call(&app, get("/classify?material=msc&as_of=2026-11-23")).await;
    assert!(html.contains("需要回答"), "{html}");
}

/// A research office saves a classification on its project through the
/// API; the list and the project page show it then and now; another
/// institution gets no data.
#[tokio::test]
async fn classifications_are_saved_on_the_project_record() {
    let b = celltrail_store::testkit::sqlite_backend().await;
    let users = world(&b.store).await;
    let st = state(b.store.clone());
    let app = app(st.clone());
    let office = users
        .iter()
        .find(|(r, _)| *r == Role::ResearchOffice)
        .unwrap()
        .1
        .clone();
    let token = bearer_for(&st, &office).await;
    let req = |method: Method, uri: String, body: String| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let (s, body, _) = call(&app, req(Method::POST, "/api/v1/projects".into(), r#"{"kind":"clinical_research","title_zh":"间充质干细胞研究","title_en":"MSC study","category":"msc","pi_name":"周明","reason":"new study"}"#.into())).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Expanded autologous MSC for research: medium risk under the default
    // grading, full committee review, stem-cell filing (2015 measures Art 7).
    let profile = r#"{"cell_origin":"autologous","material":"msc","manipulation":"substantial","homologous_use":false,"genetic_modification":"none","in_vivo":false,"combined_with_device":false,"combined_with_other_article":false,"systemic_effect":true,"same_surgical_procedure":false,"regenerate_repair_replace_tissue":false,"serious_condition":true,"first_in_human":false,"purpose":"research"}"#;
    let uri = format!("/api/v1/projects/{id}/classifications");
    let (s, body, _) = call(
        &app,
        req(
            Method::POST,
            uri.clone(),
            format!(r#"{{"profile":{profile},"reason":"classified at filing"}}"#),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let saved: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(saved["results"]["CN"]["risk_tier"]["value"], "medium");
    assert_eq!(
        saved["results"]["CN"]["ethics_route"]["value"],
        "full_committee"
    );
    let (s, body, _) = call(&app, req(Method::GET, uri.clone(), String::new())).await;
    assert_eq!(s, StatusCode::OK);
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["changed"], serde_json::json!([]));
    assert_eq!(list[0]["reason"], "classified at filing");
    // The event is on the project's audit trail.
    let (_, body, _) = call(
        &app,
        req(
            Method::GET,
            format!("/api/v1/projects/{id}/history"),
            String::new(),
        ),
    )
    .await;
    assert!(body.contains("project.classified"), "{body}");

    // Users of other organisations that do not regulate it get no data.
    let mut checked = 0;
    for (role, other) in &users {
        let regulator = other.org_type == celltrail_core::access::OrgType::Regulator;
        if other.org_id == office.org_id || regulator || *role == Role::PlatformAdmin {
            continue;
        }
        let t = bearer_for(&st, other).await;
        let r = Request::builder()
            .uri(&uri)
            .header(header::AUTHORIZATION, format!("Bearer {t}"))
            .body(Body::empty())
            .unwrap();
        let (s, body, _) = call(&app, r).await;
        assert!(
            matches!(s, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN),
            "{role:?}: {s} {body}"
        );
        assert!(!body.contains("medium"), "{role:?}: {body}");
        checked += 1;
    }
    assert!(checked > 0);
}

/// Revoking a licence and deactivating an institution through the API: each
/// needs a reason, leaves the record in place, and shows on the page.
#[tokio::test]
async fn revoke_and_deactivate_through_the_api() {
    let b = celltrail_store::testkit::sqlite_backend().await;
    let users = world(&b.store).await;
    let st = state(b.store.clone());
    let app = app(st.clone());
    let admin = users
        .iter()
        .find(|(r, _)| *r == Role::PlatformAdmin)
        .unwrap()
        .1
        .clone();
    let office = users
        .iter()
        .find(|(r, _)| *r == Role::ResearchOffice)
        .unwrap()
        .1
        .clone();
    let token = bearer_for(&st, &admin).await;
    let post = |uri: String, body: &str| {
        Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let org = office.org_id.clone();
    let (s, body, _) = call(
        &app,
        post(
            format!("/api/v1/organisations/{org}/qualifications"),
            r#"{"kind":"gcp_site","number":"GCP-1","valid_from":"2024-01-01","reason":"recorded"}"#,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let qid = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let revoke = format!("/api/v1/organisations/{org}/qualifications/{qid}/revoke");
    let (s, body, _) = call(&app, post(revoke.clone(), "{}")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("\"field\":\"reason\""), "{body}");
    let (s, body, _) = call(
        &app,
        post(revoke.clone(), r#"{"reason":"certificate cancelled"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["revoked"],
        true
    );
    let (s, body, _) = call(&app, post(revoke, r#"{"reason":"again"}"#)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("qualification_already_revoked"));

    // Listed by the public search until it is deactivated, then not.
    let name = b.store.organisation(&org).await.unwrap().unwrap().name_en;
    let search = format!(
        "/api/v1/public/institutions?q={}",
        urlencoding::encode(&name)
    );
    let (_, body, _) = call(
        &app,
        Request::builder().uri(&search).body(Body::empty()).unwrap(),
    )
    .await;
    assert!(body.contains(&org), "{body}");
    let (s, body, _) = call(
        &app,
        post(
            format!("/api/v1/organisations/{org}/deactivate"),
            r#"{"reason":"institution closed"}"#,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["active"],
        false
    );
    let (_, body, _) = call(
        &app,
        Request::builder().uri(&search).body(Body::empty()).unwrap(),
    )
    .await;
    assert!(!body.contains(&org), "{body}");
}

// ---------------------------------------------------------------- ethics

async fn call_bytes(
    app: &Router,
    req: Request<Body>,
) -> (StatusCode, Vec<u8>, axum::http::HeaderMap) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, bytes.to_vec(), headers)
}

fn bearer_get(path: &str, token: &str) -> Request<Body> {
    Request::builder()
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

/// Every export and data-sharing route asks the consent check: one subject
/// withdrew wholly and one refused sharing, and no export shows what they
/// withdrew. A route added under `export_` without being listed here fails
/// the test, and every store export function goes through
/// `ethics::gated_subjects`.
#[tokio::test]
async fn no_export_path_bypasses_the_consent_check() {
    for b in backends().await {
        let w = celltrail_store::testkit::ethics_world(b.store.as_ref()).await;
        let st = state(b.store.clone());
        let app = app(st.clone());
        let token = bearer_for(&st, &w.office).await;
        let subject_code = |i: usize| format!("S-00{}", i + 1);
        let exports: Vec<_> = ROUTES
            .iter()
            .filter(|r| r.operation.starts_with("export_"))
            .collect();
        let tested = ["export_dataset", "export_fhir"];
        assert_eq!(
            exports.iter().map(|r| r.operation).collect::<Vec<_>>(),
            tested,
            "an export route is not covered by this test"
        );
        for r in &exports {
            let path = r.path.replace("{id}", &w.project_id);
            let (status, body, headers) = call(&app, bearer_get(&path, &token)).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            assert!(
                !body.contains(&w.subjects[2]) && !body.contains(&subject_code(2)),
                "{path} leaked the withdrawn subject: {body}"
            );
            let excluded: u64 = headers["x-consent-excluded"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(excluded >= 1, "{path}");
            if r.operation == "export_fhir" {
                // S-002 refused sharing with other institutions.
                assert!(!body.contains(&w.subjects[1]), "{body}");
                assert!(body.contains(&w.subjects[0]), "{body}");
                assert_eq!(excluded, 2);
            } else {
                assert!(
                    body.contains(&subject_code(0)) && body.contains(&subject_code(1)),
                    "{body}"
                );
            }
        }
        // The study's approval at its site, with the lapse date the meeting
        // set (2026-06-10 + 12 months − 1 day) and today's standing.
        let (status, body, _) = call(
            &app,
            bearer_get(&format!("/api/v1/projects/{}/ethics", w.project_id), &token),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["approvals"][0]["site_id"], "org-h");
        assert_eq!(v["approvals"][0]["lapses_on"], "2027-06-09");
        let lapses = chrono::NaiveDate::from_ymd_opt(2027, 6, 9).unwrap();
        let want = serde_json::to_value(celltrail_core::ethics::review_status(
            lapses,
            When::now().today,
        ))
        .unwrap();
        assert_eq!(v["approvals"][0]["status"], want);
        assert_eq!(v["subjects"].as_array().unwrap().len(), 3);
        // Each scope of the dataset export is checked on its own.
        let (_, body, _) = call(
            &app,
            bearer_get(
                &format!(
                    "/api/v1/projects/{}/export/dataset?scope=share_institutions",
                    w.project_id
                ),
                &token,
            ),
        )
        .await;
        assert!(body.contains("S-001") && !body.contains("S-002"), "{body}");
        let (status, body, _) = call(
            &app,
            bearer_get(
                &format!(
                    "/api/v1/projects/{}/export/dataset?scope=everything",
                    w.project_id
                ),
                &token,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (v["error"]["code"].as_str(), v["error"]["field"].as_str()),
            (Some("consent_scope_invalid"), Some("scope"))
        );
    }
    // In the store, every export function reads subjects through the one
    // consent-checked read.
    let src = include_str!("../../store/src/ethics.rs");
    for part in src.split("pub async fn export_").skip(1) {
        let body = &part[..part.find("\n}\n").unwrap()];
        assert!(
            body.contains("gated_subjects("),
            "export_{} does not call gated_subjects",
            &part[..part.find('(').unwrap()]
        );
    }
}

/// The decision letter reads back, in Chinese and in English, with the
/// decision, the lapse date (approved 2026-06-10 for 12 months: valid
/// through 2027-06-09) and the chair's printed name.
#[tokio::test]
async fn decision_letters_in_both_languages() {
    for b in backends().await {
        let w = celltrail_store::testkit::ethics_world(b.store.as_ref()).await;
        let st = state(b.store.clone());
        let app = app(st.clone());
        let token = bearer_for(&st, &w.office).await;
        for (lang, title, decision) in [
            ("zh-CN", "伦理审查决定通知书", "批准"),
            ("en", "Ethics Review Decision Letter", "Approve"),
        ] {
            let (status, pdf, headers) = call_bytes(
                &app,
                bearer_get(
                    &format!("/api/v1/submissions/{}/letter?lang={lang}", w.submission_id),
                    &token,
                ),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&pdf));
            assert_eq!(headers[header::CONTENT_TYPE], "application/pdf");
            let text = celltrail_core::pdf::extract_text(&pdf).unwrap().join("\n");
            assert!(text.contains(title), "{text}");
            assert!(text.contains(decision), "{text}");
            assert!(text.contains("2027-06-09"), "{text}");
            assert!(text.contains(&w.chair.display_name), "{text}");
        }
        // The minutes: seven members present, each vote, the outcome.
        let secretary = bearer_for(&st, &w.secretary).await;
        let (status, pdf, _) = call_bytes(
            &app,
            bearer_get(
                &format!("/api/v1/meetings/{}/minutes?lang=zh-CN", w.meeting_id),
                &secretary,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let text = celltrail_core::pdf::extract_text(&pdf).unwrap().join("\n");
        assert!(
            text.contains("伦理委员会会议纪要")
                && text.contains("委员6: 批准")
                && text.contains("结果: 批准"),
            "{text}"
        );
        // A hospital does not read a committee's minutes.
        let (status, _, _) = call_bytes(
            &app,
            bearer_get(
                &format!("/api/v1/meetings/{}/minutes", w.meeting_id),
                &token,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // No letter before a decision; another hospital sees nothing.
        let (status, body, _) = call(
            &app,
            bearer_get("/api/v1/submissions/sub-missing/letter", &token),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
}

/// The subject's own page: no staff login, a personal link; a withdrawal
/// takes effect at once, and a wrong link shows nothing.
#[tokio::test]
async fn subject_consent_page_by_personal_link() {
    for b in backends().await {
        let w = celltrail_store::testkit::ethics_world(b.store.as_ref()).await;
        let st = state(b.store.clone());
        let app = app(st.clone());
        let token = bearer_for(&st, &w.office).await;
        let (status, body, _) = call(
            &app,
            Request::builder()
                .method(Method::POST)
                .uri(format!("/api/v1/subjects/{}/link", w.subjects[0]))
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let url = serde_json::from_str::<Value>(&body).unwrap()["url"]
            .as_str()
            .unwrap()
            .to_string();
        let (status, page, _) = call(
            &app,
            Request::builder().uri(&url).body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.contains("S-001") && page.contains("您对本研究的知情同意"),
            "{page}"
        );
        let (status, page, _) = call(
            &app,
            Request::builder()
                .uri(format!("{url}?lang=en"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Your consent to this study"), "{page}");
        // Withdrawing biobank storage without saying what happens to the
        // samples is refused on the page, with the reason.
        let form = |body: &str| {
            Request::builder()
                .method(Method::POST)
                .uri(&url)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body.to_string()))
                .unwrap()
        };
        let (status, page, _) = call(&app, form("scope=biobank_storage&reason=no")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.contains("consent-error") && page.contains("样本"),
            "{page}"
        );
        let (status, _, headers) = call(
            &app,
            form("scope=recontact&reason=%E4%B8%8D%E5%B8%8C%E6%9C%9B%E8%A2%AB%E8%81%94%E7%B3%BB"),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(headers[header::LOCATION]
            .to_str()
            .unwrap()
            .ends_with("?done=1"));
        let s = celltrail_store::ethics::subject(b.store.as_ref(), &w.subjects[0])
            .await
            .unwrap()
            .unwrap();
        assert!(!s.scopes.contains(celltrail_core::consent::Scope::Recontact));
        let events = b
            .store
            .stream_events(&celltrail_store::ethics::subject_stream(&w.subjects[0]))
            .await
            .unwrap();
        let last = events.last().unwrap();
        assert_eq!(
            (last.kind.as_str(), last.reason.as_str()),
            ("consent.withdrawn", "不希望被联系")
        );
        // A made-up link finds nothing.
        let (status, page, _) = call(
            &app,
            Request::builder()
                .uri(format!("/consent/{}", "0".repeat(48)))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            page.contains("data-code=\"subject_link_invalid\""),
            "{page}"
        );
    }
}

fn bearer_post(path: &str, token: &str, body: Value) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT_LANGUAGE, "en")
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// The trace API end to end where HTTP adds something: errors name their
/// field, the printed label reads back to the DIN the API was given, the
/// centre cannot see a unit before it is shipped to it, identity stays with
/// the hospital, the genealogy comes as SVG and the chain as FHIR.
#[tokio::test]
async fn trace_api_errors_labels_scope_genealogy_and_fhir() {
    use serde_json::json;
    for b in backends().await {
        let w = celltrail_store::testkit::trace_world(b.store.as_ref()).await;
        let st = state(b.store.clone());
        let app = app(st.clone());
        let coord = bearer_for(&st, &w.coordinator).await;
        let qa = bearer_for(&st, &w.qa).await;
        // A wrong check character is refused with the field named.
        let body = |din: &str| json!({"donor_id": w.patients[0], "din": din, "product_code": "S1001V00", "kind": "apheresis", "eligibility": "autologous_only"});
        let (s, text, _) = call(
            &app,
            bearer_post("/api/v1/trace/collections", &coord, body("G123498654321A")),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], "din_check_char_mismatch");
        assert_eq!(v["error"]["field"], "din");
        // The Red Book's worked DIN with its check character H.
        let (s, text, _) = call(
            &app,
            bearer_post("/api/v1/trace/collections", &coord, body("G123498654321H")),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{text}");
        let unit: Value = serde_json::from_str(&text).unwrap();
        let id = unit["id"].as_str().unwrap().to_string();
        assert_eq!(unit["coi"], "G123498654321H");
        // The label's barcodes read back: ST-001 check flags 77 for this DIN.
        let (s, pdf, h) = call_bytes(
            &app,
            bearer_get(
                &format!("/api/v1/trace/units/{id}/label?format=pdf"),
                &coord,
            ),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h[header::CONTENT_TYPE], "application/pdf");
        let (linear, matrix) =
            celltrail_core::label::read_back(&celltrail_core::pdf::extract_rects(&pdf));
        assert_eq!(
            linear,
            vec!["=G12349865432177".to_string(), "=<S1001V00".to_string()]
        );
        assert_eq!(matrix.as_deref(), Some("=G12349865432177=<S1001V00"));
        // Not yet shipped: the centre does not see it.
        let (s, text, _) = call(&app, bearer_get(&format!("/api/v1/trace/units/{id}"), &qa)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{text}");
        // Identity: the hospital reads it, the centre may not.
        let (s, text, _) = call(
            &app,
            bearer_get(
                &format!("/api/v1/trace/people/{}/identity", w.patients[0]),
                &coord,
            ),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{text}");
        assert!(text.contains("患者甲"));
        let (s, _, _) = call(
            &app,
            bearer_get(
                &format!("/api/v1/trace/people/{}/identity", w.patients[0]),
                &qa,
            ),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // A bedside check with a wrong second password names the field.
        let nurse = bearer_for(&st, &w.nurse).await;
        let (s, text, _) = call(
            &app,
            bearer_post(
                &format!("/api/v1/trace/units/{id}/bedside"),
                &nurse,
                json!({"scans": {"wristband": "MRN-A", "coi": "G123498654321H", "bag": "=G12349865432177"}, "second": {"username": "h.nurse2", "password": "nope"}}),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], "second_person_invalid");
        assert_eq!(v["error"]["field"], "second.password");
        // A halt needs the signer's password again.
        let reg = bearer_for(&st, &w.regulator).await;
        let (s, text, _) = call(
            &app,
            bearer_post(
                "/api/v1/trace/halts",
                &reg,
                json!({"kind": "technology", "target_id": w.technology_id, "reason": "检查"}),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{text}");
        assert!(text.contains("signature_reauth_required"));
        // Genealogy as SVG, and a malformed node named as such.
        let (s, svg, h) = call(
            &app,
            bearer_get(
                &format!("/api/v1/trace/genealogy?node=unit:{id}&direction=backward&format=svg"),
                &coord,
            ),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(h[header::CONTENT_TYPE], "image/svg+xml");
        assert!(
            svg.contains(&format!("data-node=\"donor:{}\"", w.patients[0])),
            "{svg}"
        );
        let (s, text, _) = call(
            &app,
            bearer_get("/api/v1/trace/genealogy?node=nothing", &coord),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(text.contains("\"field\":\"node\""), "{text}");
        // The chain as a FHIR R5 Bundle.
        let (s, text, h) = call(
            &app,
            bearer_get("/api/v1/trace/chains/G123498654321H/fhir", &coord),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{text}");
        assert_eq!(h[header::CONTENT_TYPE], "application/fhir+json");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["entry"][0]["resource"]["resourceType"],
            "BiologicallyDerivedProduct"
        );
        assert_eq!(
            v["entry"][0]["resource"]["identifier"][0]["system"],
            "urn:oid:2.16.840.1.113883.6.18"
        );
    }
}

/// The safety API where HTTP adds something: live grading is public and
/// answers in the request's language, a report's errors name their field,
/// the E2B(R3) message is served as XML and imported back, the clocks
/// dashboard counts an overdue report, and only the national regulator
/// reads the signals.
#[tokio::test]
async fn safety_api_grades_reports_exports_and_signals() {
    use celltrail_store::testkit::{org_input, test_user, trace_world};
    use serde_json::json;
    for b in backends().await {
        let s = b.store.as_ref();
        let w = trace_world(s).await;
        for (id, ty, prov) in [("org-nmpa", "regulator", "00"), ("org-sp", "sponsor", "31")] {
            service::register_org(
                s,
                &Actor::system(),
                &org_input(id, ty, prov),
                "test",
                &When::now(),
            )
            .await
            .unwrap();
        }
        let national = test_user(s, "org-nmpa", "nmpa.officer", "regulator_officer").await;
        let st = state(b.store.clone());
        let app = app(st.clone());
        let coord = bearer_for(&st, &w.coordinator).await;
        let nmpa = bearer_for(&st, &national).await;
        let provincial = bearer_for(&st, &w.regulator).await;

        // 38.5 °C with hypotension needing no vasopressor: ASTCT grade 2
        // (Lee et al. 2019), no login needed; the deciding criterion in
        // Chinese when asked.
        let (status, text, _) = call(
            &app,
            Request::builder()
                .uri("/api/v1/safety/grade/crs?temperature_c=38.5&hypotension=no_vasopressor&hypoxia=none")
                .header(header::ACCEPT_LANGUAGE, "zh-CN")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["grade"], 2);
        assert_eq!(v["deciding"], json!(["hypotension:no_vasopressor"]));
        assert!(
            v["deciding_text"][0].as_str().unwrap().contains('压'),
            "{text}"
        );
        // ICE score 2 in an adult: grade 3 (ASTCT ICANS, ICE 0–2).
        let (status, text, _) = call(
            &app,
            Request::builder()
                .uri("/api/v1/safety/grade/icans?ice_score=2&consciousness=awake&seizure=none&motor=none&cerebral_edema=none&age_years=40")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["grade"], 3);
        // An unknown hypotension value names the field.
        let (status, text, _) = call(
            &app,
            Request::builder()
                .uri("/api/v1/safety/grade/crs?temperature_c=39&hypotension=lots&hypoxia=none")
                .header(header::ACCEPT_LANGUAGE, "en")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], "grade_input_invalid");

        let ae = |aware: &str, crs: Value| {
            json!({"project_id": w.technology_id, "patient_id": w.patients[0], "product": "CD19 CAR-T",
                "product_class": "car_t", "sex": "male", "age_years": 48, "term": "Cytokine release syndrome",
                "onset": aware, "aware": aware, "seriousness": ["life_threatening"], "severity": 3, "crs": crs,
                "expectedness": "unexpected", "causality": "probable", "outcome": "recovering",
                "reason": "reported by the treating physician"})
        };
        let (status, text, _) = call(
            &app,
            bearer_post(
                "/api/v1/safety/aes",
                &coord,
                ae(
                    "2026-03-02",
                    json!({"temperature_c": 99, "hypotension": "none", "hypoxia": "none"}),
                ),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["field"], "crs.temperature_c", "{text}");
        let (status, text, _) = call(
            &app,
            bearer_post(
                "/api/v1/safety/aes",
                &coord,
                ae("2026-03-02", json!({"temperature_c": 39.1, "hypotension": "multiple_vasopressors", "hypoxia": "low_flow"})),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let row: Value = serde_json::from_str(&text).unwrap();
        // Multiple vasopressors: ASTCT grade 4.
        assert_eq!(row["crs_grade"], 4);
        assert_eq!(row["report_kind"], "susar_7");
        let id = row["id"].as_str().unwrap().to_string();
        // Never sent: overdue on the dashboard (due 2026-03-09).
        let (status, text, _) = call(
            &app,
            bearer_get("/api/v1/safety/clocks?on=2026-03-10", &coord),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["sites"][0]["overdue"], 1, "{text}");
        // The E2B(R3) message as XML, read back by the importer.
        let (status, xml, h) = call(
            &app,
            bearer_get(&format!("/api/v1/safety/aes/{id}/e2b"), &coord),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{xml}");
        assert!(h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/xml"));
        assert!(xml.contains("PORR_IN049016UV"), "{xml}");
        let cases = celltrail_core::e2b::read_xml(&xml).unwrap();
        assert_eq!(cases[0].worldwide_case_id, row["case_id"].as_str().unwrap());
        // Submitted; the national regulator sees it and its signals, a
        // provincial one may not read the national database.
        let (status, text, _) = call(
            &app,
            bearer_post(
                &format!("/api/v1/safety/aes/{id}/national"),
                &coord,
                json!({}),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let (status, text, _) = call(&app, bearer_get("/api/v1/safety/national", &nmpa)).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert_eq!(
            serde_json::from_str::<Value>(&text)
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let (status, text, _) = call(&app, bearer_get("/api/v1/safety/signals", &nmpa)).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["pairs"][0]["n"], 1, "{text}");
        assert!(v["hyperparameters"]["alpha1"].is_number(), "{text}");
        let (status, text, _) = call(&app, bearer_get("/api/v1/safety/signals", &provincial)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    }
}

/// With the user's MedDRA terminology configured, an adverse event's code
/// is checked against it: an unknown or non-current code is refused naming
/// the field, a known one carries its terms, and a code under the SOC
/// "Neoplasms benign, malignant and unspecified" (10029104) raises the
/// malignancy flag after a CAR-T product even when the reported words do
/// not. The terminology files are made up in MedDRA's ASCII layout (llt.asc,
/// mdhier.asc); no licensed content is used.
#[tokio::test]
async fn meddra_codes_are_checked_against_the_loaded_terminology() {
    use celltrail_store::testkit::trace_world;
    use serde_json::json;
    let llt = "90000001$Made-up proliferation PT$90000001$$$$$$$Y$$\n\
               90000002$Made-up proliferation, nodal$90000001$$$$$$$Y$$\n\
               90000003$Made-up proliferation (old wording)$90000001$$$$$$$N$$\n\
               90000010$Made-up fever PT$90000010$$$$$$$Y$$\n";
    let mdhier = "90000001$91000001$92000001$10029104$Made-up proliferation PT$Made-up HLT$Made-up HLGT$Neoplasms benign, malignant and unspecified (incl cysts and polyps)$Neopl$$10029104$Y$\n\
                  90000010$91000010$92000010$98000010$Made-up fever PT$Made-up HLT 2$Made-up HLGT 2$Made-up general SOC$Genrl$$98000010$Y$\n";
    let terms =
        celltrail_core::meddra::Terminology::parse(llt.as_bytes(), mdhier.as_bytes()).unwrap();
    let term = "Unusual nodal proliferation";
    assert!(!celltrail_core::safety::is_malignancy(term, None));
    for b in backends().await {
        let w = trace_world(b.store.as_ref()).await;
        let st = AppState::new(
            b.store.clone(),
            WorkCalendar::embedded(),
            WebConfig {
                secure_cookies: false,
                require_admin_totp: false,
                meddra: Some(std::sync::Arc::new(terms.clone())),
                ..Default::default()
            },
        );
        let app = app(st.clone());
        let coord = bearer_for(&st, &w.coordinator).await;
        let body = |code: &str| {
            json!({"project_id": w.technology_id, "patient_id": w.patients[1], "product": "CD19 CAR-T",
                "product_class": "car_t", "term": term, "meddra_code": code, "onset": "2026-05-02",
                "aware": "2026-05-03", "seriousness": ["other_important"], "severity": 3,
                "expectedness": "unexpected", "causality": "possible", "outcome": "not_recovered"})
        };
        for (code, want) in [
            ("99999999", "meddra_code_unknown"),
            ("90000003", "meddra_code_not_current"),
        ] {
            let (status, text, _) =
                call(&app, bearer_post("/api/v1/safety/aes", &coord, body(code))).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                (v["error"]["code"].as_str(), v["error"]["field"].as_str()),
                (Some(want), Some("meddra_code")),
                "{text}"
            );
        }
        let (status, text, _) = call(
            &app,
            bearer_post("/api/v1/safety/aes", &coord, body("90000002")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let row: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(row["malignancy"], 1, "{text}");
        let id = row["id"].as_str().unwrap();
        let (_, text, _) = call(
            &app,
            bearer_get(&format!("/api/v1/safety/aes/{id}"), &coord),
        )
        .await;
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["record"]["meddra"]["pt_code"], "90000001", "{text}");
        assert_eq!(
            v["record"]["meddra"]["llt_name"],
            "Made-up proliferation, nodal"
        );
    }
}
