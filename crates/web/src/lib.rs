//! CellTrail's HTTP face: the JSON API under `/api/v1`, the bilingual
//! server-rendered UI, the public lookup pages, health and metrics.
//!
//! Every route is declared once in [`routes::ROUTES`] with the access it
//! needs; one middleware ([`session::authorize`]) enforces that table, so
//! the role→permission matrix lives in `celltrail_core::access` and the
//! route→permission map here, and nowhere else.

pub mod api;
pub mod classify;
pub mod directory;
pub mod error;
pub mod ethics;
pub mod ethics_pages;
pub mod i18n;
pub mod letter;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod public;
pub mod routes;
pub mod safety;
pub mod safety_pages;
pub mod safety_signal;
pub mod session;
pub mod trace;
pub mod trace_pages;

use std::sync::{Arc, Mutex};

use axum::routing::{delete, get, post};
pub use axum::Router;

/// Response headers every page and API answer carries (OWASP ASVS 14.4):
/// no MIME sniffing, no framing, no referrer to other sites, and a content
/// security policy that allows only this origin (the pages use no inline
/// scripts or styles).
async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    resp
}
use celltrail_core::calendar::WorkCalendar;
use celltrail_store::DynStore;

pub use error::ApiError;

/// Settings of the web server.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// Secure `__Host-` cookies (on for anything but a loopback demo).
    pub secure_cookies: bool,
    /// Seconds of inactivity that end a session (OWASP ASVS 3.3.2).
    pub session_idle_secs: i64,
    /// Absolute session lifetime in seconds.
    pub session_max_secs: i64,
    /// Failed logins per user name (or address) within the window before
    /// further attempts are refused.
    pub login_max_failures: usize,
    pub login_window_secs: i64,
    /// Administrators (platform and organisation admins) must enrol a second
    /// factor before anything else (OWASP ASVS 2.8, level 2).
    pub require_admin_totp: bool,
    /// The user's copy of the licensed ISBT 128 product description codes,
    /// when configured: units show what their product code means.
    pub isbt_products: Option<Arc<celltrail_core::isbt_products::ProductTable>>,
    /// The user's licensed MedDRA terminology, when configured: codes on
    /// adverse events are checked against it and carry their terms.
    pub meddra: Option<Arc<celltrail_core::meddra::Terminology>>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            secure_cookies: true,
            session_idle_secs: 30 * 60,
            session_max_secs: 12 * 3600,
            login_max_failures: 5,
            login_window_secs: 15 * 60,
            require_admin_totp: true,
            isbt_products: None,
            meddra: None,
        }
    }
}

pub struct AppState {
    pub store: DynStore,
    pub calendar: Arc<WorkCalendar>,
    pub config: WebConfig,
    pub limiter: Mutex<session::LoginLimiter>,
    pub metrics: metrics::Metrics,
    /// In-memory name index for the public search.
    pub directory: Arc<directory::Directory>,
    /// The rule packs, compiled once.
    pub rules: Arc<celltrail_core::rules::Engine>,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    pub fn new(store: DynStore, calendar: WorkCalendar, config: WebConfig) -> SharedState {
        Arc::new(AppState {
            store,
            calendar: Arc::new(calendar),
            config,
            limiter: Mutex::new(session::LoginLimiter::default()),
            metrics: metrics::Metrics::default(),
            directory: Arc::new(directory::Directory::default()),
            rules: Arc::new(
                celltrail_core::rules::Engine::compile(&celltrail_core::rules::builtin_sources())
                    .expect("the built-in rule packs compile (checked by the test suite)"),
            ),
        })
    }
}

/// The whole application.
pub fn app(state: SharedState) -> Router {
    let guarded = Router::new()
        // pages
        .route("/", get(pages::home))
        .route("/login", get(pages::login_form).post(pages::login_submit))
        .route("/logout", post(pages::logout))
        .route("/lang/{code}", get(pages::switch_lang))
        .route("/public", get(public::search_page))
        .route("/public/org/{id}", get(public::org_page))
        .route("/public/project/{number}", get(public::project_page))
        .route("/classify", get(classify::page))
        .route("/app", get(pages::dashboard))
        .route(
            "/app/projects",
            get(pages::projects_page).post(pages::project_create),
        )
        .route("/app/projects/new", get(pages::project_new))
        .route("/app/projects/{id}", get(pages::project_page))
        .route("/app/projects/{id}/act", post(pages::project_act))
        .route("/app/projects/{id}/classify", post(classify::save_form))
        .route("/app/orgs", get(pages::orgs_page).post(pages::org_create))
        .route("/app/orgs/new", get(pages::org_new))
        .route("/app/orgs/{id}", get(pages::org_page))
        .route(
            "/app/orgs/{id}/qualifications",
            post(pages::org_add_qualification),
        )
        .route("/app/orgs/{id}/users", post(pages::org_add_user))
        .route(
            "/app/orgs/{id}/qualifications/{qid}/revoke",
            post(pages::org_revoke_qualification),
        )
        .route("/app/orgs/{id}/deactivate", post(pages::org_deactivate))
        .route("/app/ledger", get(pages::ledger_page))
        .route("/app/account", get(pages::account_page))
        .route("/app/account/totp", post(pages::account_totp))
        .route("/app/ethics", get(ethics_pages::home))
        .route("/app/committees/{id}", get(ethics_pages::committee_page))
        .route(
            "/app/committees/{id}/members",
            post(ethics_pages::committee_appoint),
        )
        .route(
            "/app/committees/{id}/meetings",
            post(ethics_pages::committee_schedule),
        )
        .route("/app/submissions/{id}", get(ethics_pages::submission_page))
        .route(
            "/app/submissions/{id}/reviewers",
            post(ethics_pages::submission_reviewers),
        )
        .route(
            "/app/submissions/{id}/opinion",
            post(ethics_pages::submission_opinion),
        )
        .route(
            "/app/submissions/{id}/decision",
            post(ethics_pages::submission_decide),
        )
        .route("/app/meetings/{id}", get(ethics_pages::meeting_page))
        .route(
            "/app/meetings/{id}/attendance",
            post(ethics_pages::meeting_attendance),
        )
        .route(
            "/app/meetings/{id}/items/{submission}/vote",
            post(ethics_pages::meeting_vote),
        )
        .route(
            "/app/projects/{id}/ethics",
            get(ethics_pages::project_ethics_page),
        )
        .route(
            "/app/subjects/{id}/link",
            post(ethics_pages::subject_link_page),
        )
        .route(
            "/app/subjects/{id}/withdraw",
            post(ethics_pages::subject_withdraw_page),
        )
        .route(
            "/app/projects/{id}/submissions",
            post(ethics_pages::submit_form).layer(axum::extract::DefaultBodyLimit::max(
                4 * ethics_pages::MAX_UPLOAD_BYTES,
            )),
        )
        .route(
            "/app/submissions/{id}/reliances",
            post(ethics_pages::propose_reliance_form),
        )
        .route(
            "/app/reliances/{id}/move",
            post(ethics_pages::move_reliance_form),
        )
        .route(
            "/app/projects/{id}/subjects",
            post(ethics_pages::enrol_form),
        )
        .route(
            "/app/subjects/{id}/consents",
            post(ethics_pages::consent_form),
        )
        .route(
            "/app/experts",
            get(ethics_pages::experts_page).post(ethics_pages::expert_create),
        )
        .route(
            "/app/experts/{id}/interests",
            post(ethics_pages::expert_interest),
        )
        .route(
            "/consent/{token}",
            get(ethics_pages::consent_page).post(ethics_pages::consent_change),
        )
        .route("/api/docs", get(openapi::docs_page))
        .route("/api/openapi.json", get(openapi::document))
        // API
        .route("/api/v1/me", get(api::me))
        .route(
            "/api/v1/organisations",
            get(api::list_orgs).post(api::create_org),
        )
        .route(
            "/api/v1/organisations/{id}",
            get(api::get_org).put(api::update_org),
        )
        .route(
            "/api/v1/organisations/{id}/qualifications",
            get(api::list_qualifications).post(api::create_qualification),
        )
        .route(
            "/api/v1/organisations/{id}/qualifications/{qid}/revoke",
            post(api::revoke_qualification),
        )
        .route(
            "/api/v1/organisations/{id}/deactivate",
            post(api::deactivate_org),
        )
        .route("/api/v1/users", get(api::list_users).post(api::create_user))
        .route(
            "/api/v1/projects",
            get(api::list_projects).post(api::create_project),
        )
        .route("/api/v1/projects/{id}", get(api::get_project))
        .route("/api/v1/projects/{id}/history", get(api::project_history))
        .route(
            "/api/v1/projects/{id}/classifications",
            get(classify::api_list).post(classify::api_save),
        )
        .route("/api/v1/projects/{id}/actions", post(api::project_action))
        .route(
            "/api/v1/tokens",
            get(api::list_tokens).post(api::create_token),
        )
        .route("/api/v1/tokens/{id}", delete(api::revoke_token))
        .route("/api/v1/ledger/verify", get(api::ledger_verify))
        .route("/api/v1/audit/logins", get(api::login_audit))
        .route("/api/v1/public/institutions", get(public::api_search))
        .route("/api/v1/public/institutions/{id}", get(public::api_org))
        .route("/api/v1/public/projects/{number}", get(public::api_project))
        .route("/api/v1/classify", post(classify::api_classify))
        .route("/app/trace", get(trace_pages::trace_home))
        .route("/app/trace/lookup", get(trace_pages::trace_lookup))
        .route("/app/trace/chains/{coi}", get(trace_pages::chain_page))
        .route("/app/trace/batches/{id}", get(trace_pages::batch_page))
        .route(
            "/app/trace/batches/{id}/release",
            post(trace_pages::batch_release),
        )
        .route("/app/trace/genealogy", get(trace_pages::genealogy_page))
        .route(
            "/app/trace/units/{id}/bedside",
            get(trace_pages::bedside_page).post(trace_pages::bedside_submit),
        )
        .route(
            "/app/trace/units/{id}/administer",
            post(trace_pages::administer_submit),
        )
        .route("/api/v1/trace/people", post(trace::register_person))
        .route(
            "/api/v1/trace/people/{id}/identity",
            get(trace::person_identity),
        )
        .route("/api/v1/trace/collections", post(trace::collect))
        .route("/api/v1/trace/shipments", post(trace::dispatch))
        .route("/api/v1/trace/shipments/{id}/receipt", post(trace::receive))
        .route("/api/v1/trace/shipments/{id}/log", post(trace::import_log))
        .route(
            "/api/v1/trace/units/{id}/assessment",
            post(trace::assess_unit),
        )
        .route("/api/v1/trace/processes", post(trace::define_process))
        .route("/api/v1/trace/equipment", post(trace::register_equipment))
        .route("/api/v1/trace/lots", post(trace::register_lot))
        .route("/api/v1/trace/banks", post(trace::register_bank))
        .route("/api/v1/trace/batches", post(trace::start_batch))
        .route("/api/v1/trace/batches/{id}", get(trace::get_batch))
        .route("/api/v1/trace/batches/{id}/steps", post(trace::record_step))
        .route("/api/v1/trace/batches/{id}/tests", post(trace::record_test))
        .route(
            "/api/v1/trace/deviations/{id}/closure",
            post(trace::close_deviation),
        )
        .route("/api/v1/trace/batches/{id}/units", post(trace::make_units))
        .route(
            "/api/v1/trace/batches/{id}/release",
            post(trace::release_batch),
        )
        .route("/api/v1/trace/units/{id}", get(trace::get_unit))
        .route("/api/v1/trace/units/{id}/label", get(trace::label))
        .route("/api/v1/trace/units/{id}/storage", post(trace::store_unit))
        .route("/api/v1/trace/units/{id}/bedside", post(trace::bedside))
        .route(
            "/api/v1/trace/units/{id}/administration",
            post(trace::administer),
        )
        .route("/api/v1/trace/units/{id}/disposal", post(trace::dispose))
        .route(
            "/api/v1/trace/halts",
            get(trace::list_halts).post(trace::set_halt),
        )
        .route("/api/v1/trace/alerts", get(trace::alerts))
        .route("/api/v1/trace/chains/{coi}", get(trace::get_chain))
        .route("/api/v1/trace/chains/{coi}/fhir", get(trace::chain_fhir))
        .route("/api/v1/trace/genealogy", get(trace::genealogy))
        .route("/api/v1/trace/recall", get(trace::recall))
        .route("/app/safety", get(safety_pages::safety_home))
        .route("/app/safety/new", get(safety_pages::ae_new))
        .route("/app/safety/aes", post(safety_pages::ae_create))
        .route("/app/safety/aes/{id}", get(safety_pages::ae_page))
        .route(
            "/app/safety/aes/{id}/report",
            post(safety_pages::ae_send_form),
        )
        .route(
            "/app/safety/aes/{id}/national",
            post(safety_pages::ae_national_form),
        )
        .route("/app/safety/signals", get(safety_pages::signals_page))
        .route("/app/safety/ltfu", get(safety_pages::ltfu_page))
        .route(
            "/app/safety/ltfu/{id}",
            get(safety_pages::ltfu_subject_page),
        )
        .route(
            "/app/safety/ltfu/{id}/visits",
            post(safety_pages::ltfu_visit_form),
        )
        .route("/api/v1/safety/grade/crs", get(safety::grade_crs))
        .route("/api/v1/safety/grade/icans", get(safety::grade_icans))
        .route(
            "/api/v1/safety/aes",
            get(safety::list_aes).post(safety::report_ae),
        )
        .route("/api/v1/safety/aes/{id}", get(safety::get_ae))
        .route(
            "/api/v1/safety/aes/{id}/follow-ups",
            post(safety::follow_up_ae),
        )
        .route("/api/v1/safety/aes/{id}/reports", post(safety::send_report))
        .route("/api/v1/safety/aes/{id}/e2b", get(safety::ae_e2b))
        .route(
            "/api/v1/safety/aes/{id}/national",
            post(safety::submit_national),
        )
        .route("/api/v1/safety/e2b", post(safety::import_e2b))
        .route("/api/v1/safety/clocks", get(safety::clocks))
        .route("/api/v1/safety/national", get(safety::national))
        .route("/api/v1/safety/signals", get(safety::signals))
        .route(
            "/api/v1/safety/ltfu",
            get(safety::ltfu).post(safety::enrol_ltfu),
        )
        .route("/api/v1/safety/ltfu/{id}", get(safety::get_ltfu))
        .route(
            "/api/v1/safety/ltfu/{id}/visits",
            post(safety::record_visit),
        )
        .route("/api/v1/safety/ltfu/{id}/end", post(safety::end_ltfu))
        .route("/api/v1/committees", get(ethics::list_committees))
        .route("/api/v1/committees/{id}", get(ethics::get_committee))
        .route(
            "/api/v1/committees/{id}/constitute",
            post(ethics::constitute_committee),
        )
        .route(
            "/api/v1/committees/{id}/members",
            post(ethics::appoint_member),
        )
        .route(
            "/api/v1/committees/{id}/members/{member}/leave",
            post(ethics::remove_member),
        )
        .route(
            "/api/v1/committees/{id}/dashboard",
            get(ethics::committee_dashboard),
        )
        .route(
            "/api/v1/committees/{id}/meetings",
            post(ethics::schedule_meeting),
        )
        .route("/api/v1/meetings/{id}", get(ethics::get_meeting))
        .route(
            "/api/v1/meetings/{id}/minutes",
            get(ethics::meeting_minutes),
        )
        .route(
            "/api/v1/meetings/{id}/attendance",
            post(ethics::record_attendance),
        )
        .route(
            "/api/v1/meetings/{id}/items/{submission}/vote",
            post(ethics::vote_item),
        )
        .route("/api/v1/projects/{id}/submissions", post(ethics::submit))
        .route(
            "/api/v1/projects/{id}/ethics",
            get(ethics::get_project_ethics),
        )
        .route("/api/v1/submissions/{id}", get(ethics::get_submission))
        .route(
            "/api/v1/submissions/{id}/reviewers",
            post(ethics::assign_reviewers),
        )
        .route(
            "/api/v1/submissions/{id}/experts",
            post(ethics::assign_experts),
        )
        .route(
            "/api/v1/submissions/{id}/opinion",
            post(ethics::give_opinion),
        )
        .route("/api/v1/submissions/{id}/decision", post(ethics::decide))
        .route("/api/v1/submissions/{id}/letter", get(ethics::letter))
        .route(
            "/api/v1/submissions/{id}/reliances",
            post(ethics::propose_reliance),
        )
        .route("/api/v1/reliances/{id}/status", post(ethics::move_reliance))
        .route(
            "/api/v1/experts",
            get(ethics::list_experts).post(ethics::register_expert),
        )
        .route(
            "/api/v1/experts/{id}/interests",
            post(ethics::declare_interest),
        )
        .route("/api/v1/projects/{id}/subjects", post(ethics::enrol))
        .route(
            "/api/v1/subjects/{id}/consents",
            post(ethics::record_consent),
        )
        .route("/api/v1/subjects/{id}/withdrawals", post(ethics::withdraw))
        .route("/api/v1/subjects/{id}/link", post(ethics::issue_link))
        .route(
            "/api/v1/projects/{id}/export/dataset",
            get(ethics::export_dataset),
        )
        .route(
            "/api/v1/projects/{id}/export/fhir",
            get(ethics::export_fhir),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::authorize,
        ));
    Router::new()
        .merge(guarded)
        .route("/healthz", get(metrics::healthz))
        .route("/readyz", get(metrics::readyz))
        .route("/metrics", get(metrics::prometheus))
        .route("/static/app.css", get(pages::stylesheet))
        .route("/static/safety.js", get(safety_pages::script))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// Serves the app until Ctrl-C or SIGTERM; in-flight requests finish first.
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                let mut term =
                    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    {
                        Ok(t) => t,
                        Err(_) => {
                            let _ = ctrl_c.await;
                            return;
                        }
                    };
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            #[cfg(not(unix))]
            {
                let _ = ctrl_c.await;
            }
        })
        .await
}
