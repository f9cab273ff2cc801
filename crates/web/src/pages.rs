//! Server-rendered pages for signed-in users, the login flow, and the
//! language switch. Forms post back here; every post checks the session's
//! CSRF token, and errors come back on the same page in the user's language.

use std::str::FromStr;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use celltrail_core::i18n::Lang;
use celltrail_core::workflow::ProjectState;
use celltrail_store::error::StoreError;
use celltrail_store::service::{self, scope_projects, ActInput, ProjectInput, SignInput, When};
use celltrail_store::{LoginAttempt, OrgFilter, Organisation, Project, ProjectFilter, User};
use serde::Deserialize;

use crate::api::{
    project_view, qualification_views, stream_history, HistoryEntry, ProjectView, QualificationView,
};
use crate::i18n::{lang_of, Labels, LANG_COOKIE};
use crate::session::{error_page, session_cookie, start_session, Auth};
use crate::SharedState;

/// What every page's layout needs.
pub struct PageCtx {
    pub l: Labels,
    pub user: Option<Badge>,
    pub csrf: String,
    /// Current path and query, for the language switch to return to.
    pub here: String,
    pub title: &'static str,
}

pub struct Badge {
    pub name: String,
    pub org_id: String,
    pub roles: Vec<String>,
}

impl PageCtx {
    pub fn new(lang: Lang, auth: Option<&Auth>, uri: &Uri, title_key: &str) -> PageCtx {
        let l = Labels(lang);
        PageCtx {
            l,
            user: auth.map(|a| Badge {
                name: a.actor.display_name.clone(),
                org_id: a.actor.org_id.clone(),
                roles: a.actor.roles.iter().map(|r| l.role(r.as_str())).collect(),
            }),
            csrf: auth.map(|a| a.csrf().to_string()).unwrap_or_default(),
            here: uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into()),
            title: l.t(title_key),
        }
    }
    pub fn t(&self, key: &str) -> &'static str {
        self.l.t(key)
    }
    pub fn other_lang(&self) -> &'static str {
        if self.l.is_zh() {
            "en"
        } else {
            "zh-CN"
        }
    }
    pub fn switch_href(&self) -> String {
        format!(
            "/lang/{}?next={}",
            self.other_lang(),
            urlencoding::encode(&self.here)
        )
    }
}

/// Renders a page with a status other than 200 (a form shown again with
/// its error).
pub fn render_status<T: Template>(t: &T, status: StatusCode) -> Response {
    let mut resp = render(t);
    if resp.status() == StatusCode::OK {
        *resp.status_mut() = status;
    }
    resp
}

pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(s) => Html(s).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

pub(crate) fn page_error(lang: Lang, e: StoreError) -> Response {
    error_page(lang, crate::error::status_of(e.kind, e.code), &e)
}

/// Only same-site paths may be redirect targets: `//host` and `/\\host`
/// would leave the site (no open redirect, OWASP ASVS 5.1.5).
pub fn safe_next(next: Option<&str>, default: &str) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => default.to_string(),
    }
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/app.css"),
    )
}

pub async fn not_found(headers: HeaderMap, uri: Uri) -> Response {
    let lang = lang_of(&headers, uri.query());
    let e = StoreError::not_found("route_not_found", uri.path().to_string());
    if uri.path().starts_with("/api/") {
        crate::ApiError::new(lang, e).into_response()
    } else {
        error_page(lang, StatusCode::NOT_FOUND, &e)
    }
}

// ---------------------------------------------------------------- home, lang, login

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    ctx: PageCtx,
    counts: Vec<(String, u64)>,
    institutions: u64,
}

pub async fn home(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    auth: Option<Extension<Auth>>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    // The public home page counts only what the public may see, in workflow order.
    let mut counts: Vec<(String, u64)> = st
        .store
        .project_counts()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|(s, _)| {
            matches!(
                s.as_str(),
                "filed" | "suspended" | "terminated" | "completed"
            )
        })
        .collect();
    counts.sort_by_key(|(s, _)| state_order(s));
    let institutions = st
        .store
        .organisation_count("medical_institution")
        .await
        .unwrap_or(0);
    render(&HomePage {
        ctx: PageCtx::new(lang, auth.as_ref().map(|a| &a.0), &uri, "home.title"),
        counts,
        institutions,
    })
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn switch_lang(
    State(st): State<SharedState>,
    Path(code): Path<String>,
    uri: Uri,
) -> Response {
    let next = axum::extract::Query::<NextQuery>::try_from_uri(&uri)
        .ok()
        .and_then(|q| q.0.next);
    let target = safe_next(next.as_deref(), "/");
    let Some(lang) = Lang::from_code(&code) else {
        return page_error(Lang::Zh, StoreError::invalid("lang_invalid", "code", code));
    };
    let secure = if st.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax{secure}",
        lang.code()
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to(&target)).into_response()
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    ctx: PageCtx,
    next: String,
    username: String,
    error: Option<String>,
}

pub async fn login_form(headers: HeaderMap, uri: Uri) -> Response {
    let lang = lang_of(&headers, uri.query());
    let next = axum::extract::Query::<NextQuery>::try_from_uri(&uri)
        .ok()
        .and_then(|q| q.0.next);
    render(&LoginPage {
        ctx: PageCtx::new(lang, None, &uri, "login.title"),
        next: safe_next(next.as_deref(), "/app"),
        username: String::new(),
        error: None,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    /// One-time code, for users who enrolled a second factor.
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: Option<String>,
}

fn client_ip(headers: &HeaderMap) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "local".to_string())
}

/// An argon2id hash of a random secret, verified against when the user name
/// is unknown.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let secret = celltrail_store::auth::random_hex(16)
            .unwrap_or_else(|_| "unknown-user-placeholder".into());
        celltrail_store::auth::hash_password(&secret).unwrap_or_default()
    })
}

/// Checks a user name and password; records the attempt; throttles.
pub async fn check_login(
    st: &SharedState,
    username: &str,
    password: &str,
    code: &str,
    ip: &str,
) -> Result<User, StoreError> {
    let username = username.trim().to_lowercase();
    let now = crate::session::now_secs();
    let (max, window) = (st.config.login_max_failures, st.config.login_window_secs);
    let user_key = format!("u:{username}");
    let ip_key = format!("ip:{ip}");
    let blocked = {
        let mut l = st.limiter.lock().expect("limiter");
        l.blocked(&user_key, now, max, window) || l.blocked(&ip_key, now, max * 4, window)
    };
    let record = |user_id: Option<String>, success: bool, detail: &str| LoginAttempt {
        username: username.clone(),
        user_id,
        success,
        ip: ip.to_string(),
        detail: detail.to_string(),
        at: celltrail_store::now_rfc3339(),
    };
    if blocked {
        st.store
            .record_login(&record(None, false, "throttled"))
            .await?;
        return Err(
            StoreError::unauthenticated("login_throttled", "too many failed attempts")
                .with_arg("minutes", (window / 60).to_string()),
        );
    }
    let user = st.store.user_by_username(&username).await?;
    let ok = match &user {
        Some(u) if u.active => match st.store.password_hash(&u.id).await? {
            Some(h) => celltrail_store::auth::verify_password(&h, password),
            None => false,
        },
        _ => {
            // Same work for unknown users, so timing does not reveal them.
            let _ = celltrail_store::auth::verify_password(dummy_hash(), password);
            false
        }
    };
    // The second factor, for users who enrolled one (RFC 6238).
    let mut second_factor = "password";
    if let (true, Some(u)) = (ok, &user) {
        if let Some((secret, last)) = st.store.totp(&u.id).await? {
            second_factor = "password+totp";
            let key = celltrail_core::totp::base32_decode(&secret).unwrap_or_default();
            let step = celltrail_core::totp::verify(&key, code, now, last);
            let accepted = match step {
                Some(step) => st.store.use_totp_step(&u.id, step).await?,
                None => false,
            };
            if !accepted {
                {
                    let mut l = st.limiter.lock().expect("limiter");
                    l.fail(&user_key, now);
                    l.fail(&ip_key, now);
                }
                let (code_name, detail) = if code.trim().is_empty() {
                    ("totp_required", "one-time code missing")
                } else {
                    ("totp_invalid", "wrong or used one-time code")
                };
                st.store
                    .record_login(&record(Some(u.id.clone()), false, detail))
                    .await?;
                return Err(StoreError::unauthenticated(code_name, detail).with_field("code"));
            }
        }
    }
    if !ok {
        {
            let mut l = st.limiter.lock().expect("limiter");
            l.fail(&user_key, now);
            l.fail(&ip_key, now);
        }
        st.store
            .record_login(&record(user.map(|u| u.id), false, "bad credentials"))
            .await?;
        return Err(StoreError::unauthenticated(
            "login_failed",
            "wrong user name or password",
        ));
    }
    let user = user.expect("checked above");
    st.limiter.lock().expect("limiter").clear(&user_key);
    st.store
        .record_login(&record(Some(user.id.clone()), true, second_factor))
        .await?;
    Ok(user)
}

pub async fn login_submit(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    let next = safe_next(f.next.as_deref(), "/app");
    match check_login(&st, &f.username, &f.password, &f.code, &client_ip(&headers)).await {
        Ok(user) => match start_session(&st, &user.id).await {
            Ok(id) => (
                [(header::SET_COOKIE, session_cookie(&st, &id))],
                Redirect::to(&next),
            )
                .into_response(),
            Err(e) => page_error(lang, e),
        },
        Err(e) => {
            let status = crate::error::status_of(e.kind, e.code);
            let page = LoginPage {
                ctx: PageCtx::new(lang, None, &uri, "login.title"),
                next,
                username: f.username,
                error: Some(crate::error::message(lang, &e)),
            };
            render_status(&page, status)
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    Extension(auth): Extension<Auth>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    if let Err(e) = auth.check_csrf(&f.csrf) {
        return page_error(lang, e);
    }
    if let Some(s) = &auth.session {
        if let Err(e) = st.store.delete_session(&s.id_hash).await {
            return page_error(lang, e);
        }
    }
    (
        [(header::SET_COOKIE, session_cookie(&st, ""))],
        Redirect::to("/"),
    )
        .into_response()
}

// ---------------------------------------------------------------- dashboard and projects

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    ctx: PageCtx,
    counts: Vec<(String, u64)>,
    due: Vec<Project>,
    recent: Vec<Project>,
    today: String,
    can_draft: bool,
}

pub async fn dashboard(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    Extension(auth): Extension<Auth>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    let today = When::now().today.to_string();
    let mut recent = Vec::new();
    let mut due = Vec::new();
    let mut counts: Vec<(String, u64)> = Vec::new();
    if auth
        .actor
        .can(celltrail_core::access::Permission::ProjectRead)
    {
        let all = match st
            .store
            .projects(&scope_projects(
                &auth.actor,
                ProjectFilter {
                    limit: Some(1000),
                    ..Default::default()
                },
            ))
            .await
        {
            Ok(v) => v,
            Err(e) => return page_error(lang, e),
        };
        for p in &all {
            match counts.iter_mut().find(|(s, _)| *s == p.state) {
                Some(c) => c.1 += 1,
                None => counts.push((p.state.clone(), 1)),
            }
        }
        counts.sort_by_key(|(s, _)| state_order(s));
        due = all
            .iter()
            .filter(|p| {
                p.deadline.is_some() && matches!(p.state.as_str(), "submitted" | "accepted")
            })
            .cloned()
            .collect();
        due.sort_by(|a, b| a.deadline.cmp(&b.deadline));
        recent = all.into_iter().take(10).collect();
    }
    let can_draft = auth
        .actor
        .can(celltrail_core::access::Permission::ProjectDraft);
    render(&DashboardPage {
        ctx: PageCtx::new(lang, Some(&auth), &uri, "dashboard.title"),
        counts,
        due,
        recent,
        today,
        can_draft,
    })
}

fn state_order(s: &str) -> usize {
    [
        "draft",
        "submitted",
        "returned",
        "accepted",
        "filed",
        "suspended",
        "terminated",
        "completed",
    ]
    .iter()
    .position(|x| *x == s)
    .unwrap_or(99)
}

#[derive(Deserialize, Default)]
pub struct ProjectsQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    q: Option<String>,
}

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    ctx: PageCtx,
    projects: Vec<Project>,
    states: Vec<&'static str>,
    state: String,
    q: String,
    can_draft: bool,
}

pub async fn projects_page(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    Extension(auth): Extension<Auth>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    let query: ProjectsQuery = axum::extract::Query::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let state = query
        .state
        .clone()
        .filter(|s| ProjectState::from_str(s).is_ok());
    let filter = ProjectFilter {
        state: state.clone(),
        q: query.q.clone(),
        limit: Some(500),
        ..Default::default()
    };
    let projects = match st
        .store
        .projects(&scope_projects(&auth.actor, filter))
        .await
    {
        Ok(p) => p,
        Err(e) => return page_error(lang, e),
    };
    render(&ProjectsPage {
        ctx: PageCtx::new(lang, Some(&auth), &uri, "projects.title"),
        projects,
        states: vec![
            "draft",
            "submitted",
            "returned",
            "accepted",
            "filed",
            "suspended",
            "terminated",
            "completed",
        ],
        state: state.unwrap_or_default(),
        q: query.q.unwrap_or_default(),
        can_draft: auth
            .actor
            .can(celltrail_core::access::Permission::ProjectDraft),
    })
}

#[derive(Template)]
#[template(path = "project_new.html")]
struct ProjectNewPage {
    ctx: PageCtx,
    categories: &'static [&'static str],
    form: ProjectForm,
    error: Option<String>,
    error_field: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct ProjectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    title_zh: String,
    #[serde(default)]
    title_en: String,
    #[serde(default)]
    summary_zh: String,
    #[serde(default)]
    summary_en: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    pi_name: String,
}

pub async fn project_new(
    headers: HeaderMap,
    uri: Uri,
    Extension(auth): Extension<Auth>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    let form = ProjectForm {
        kind: "clinical_research".into(),
        category: "car_t".into(),
        ..Default::default()
    };
    render(&ProjectNewPage {
        ctx: PageCtx::new(lang, Some(&auth), &uri, "project_new.title"),
        categories: service::CATEGORIES,
        form,
        error: None,
        error_field: String::new(),
    })
}

pub async fn project_create(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    Extension(auth): Extension<Auth>,
    Form(f): Form<ProjectForm>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    if let Err(e) = auth.check_csrf(&f.csrf) {
        return page_error(lang, e);
    }
    let input = ProjectInput {
        kind: f.kind.clone(),
        title_zh: f.title_zh.clone(),
        title_en: f.title_en.clone(),
        summary_zh: f.summary_zh.clone(),
        summary_en: f.summary_en.clone(),
        category: f.category.clone(),
        pi_name: f.pi_name.clone(),
    };
    match service::draft_project(
        st.store.as_ref(),
        &auth.actor,
        &input,
        "网页表单创建草稿 / draft created in the web form",
        &When::now(),
    )
    .await
    {
        Ok(p) => Redirect::to(&format!("/app/projects/{}", p.id)).into_response(),
        Err(e) => {
            let status = crate::error::status_of(e.kind, e.code);
            let page = ProjectNewPage {
                ctx: PageCtx::new(lang, Some(&auth), &uri, "project_new.title"),
                categories: service::CATEGORIES,
                error: Some(crate::error::message(lang, &e)),
                error_field: e.field.clone().unwrap_or_default(),
                form: f,
            };
            render_status(&page, status)
        }
    }
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    ctx: PageCtx,
    v: ProjectView,
    history: Vec<HistoryEntry>,
    classifications: Vec<crate::classify::SavedView>,
    error: Option<String>,
}

async fn show_project(
    st: &SharedState,
    lang: Lang,
    uri: &Uri,
    auth: &Auth,
    id: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let v = match project_view(st, &auth.actor, id).await {
        Ok(v) => v,
        Err(e) => return page_error(lang, e),
    };
    // project_view checked access already.
    let history = match stream_history(st, id).await {
        Ok(h) => h,
        Err(e) => return page_error(lang, e),
    };
    let classifications = match crate::classify::saved_views(st, lang, id).await {
        Ok(c) => c,
        Err(e) => return page_error(lang, e),
    };
    let page = ProjectPage {
        ctx: PageCtx::new(lang, Some(auth), uri, "project.title"),
        v,
        history,
        classifications,
        error,
    };
    render_status(&page, status)
}

pub async fn project_page(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    show_project(&st, lang, &uri, &auth, &id, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct ActForm {
    #[serde(default)]
    csrf: String,
    action: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    sign_username: String,
    #[serde(default)]
    sign_password: String,
    #[serde(default)]
    sign_meaning: String,
    #[serde(default)]
    record_hash: String,
}

pub async fn project_act(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<ActForm>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    if let Err(e) = auth.check_csrf(&f.csrf) {
        return page_error(lang, e);
    }
    let signature =
        (!f.sign_password.is_empty() || !f.sign_username.is_empty()).then(|| SignInput {
            username: f.sign_username.clone(),
            password: f.sign_password.clone(),
            meaning: f.sign_meaning.clone(),
            record_hash: f.record_hash.clone(),
        });
    let input = ActInput {
        action: f.action.clone(),
        reason: Some(f.reason.clone()).filter(|r| !r.trim().is_empty()),
        signature,
    };
    match service::act_on_project(
        st.store.as_ref(),
        &auth.actor,
        &id,
        &input,
        &st.calendar,
        &When::now(),
    )
    .await
    {
        Ok(_) => Redirect::to(&format!("/app/projects/{id}")).into_response(),
        Err(e) => {
            let status = crate::error::status_of(e.kind, e.code);
            let msg = crate::error::message(lang, &e);
            show_project(&st, lang, &uri, &auth, &id, Some(msg), status).await
        }
    }
}

// ---------------------------------------------------------------- organisations

#[derive(Template)]
#[template(path = "orgs.html")]
struct OrgsPage {
    ctx: PageCtx,
    orgs: Vec<Organisation>,
    q: String,
}

#[derive(Deserialize, Default)]
pub struct OrgsQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    org_type: Option<String>,
}

pub async fn orgs_page(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    Extension(auth): Extension<Auth>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    let q: OrgsQuery = axum::extract::Query::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let filter = OrgFilter {
        q: q.q.clone(),
        org_type: q.org_type.clone().filter(|t| !t.is_empty()),
        limit: Some(1000),
        ..Default::default()
    };
    match st.store.organisations(&filter).await {
        Ok(orgs) => render(&OrgsPage {
            ctx: PageCtx::new(lang, Some(&auth), &uri, "orgs.title"),
            orgs,
            q: q.q.unwrap_or_default(),
        }),
        Err(e) => page_error(lang, e),
    }
}

#[derive(Template)]
#[template(path = "org.html")]
struct OrgPage {
    ctx: PageCtx,
    org: Organisation,
    quals: Vec<QualificationView>,
    users: Vec<User>,
    projects: Vec<Project>,
    /// May record qualifications (platform, or the organisation's own admin).
    can_manage: bool,
    /// May create users here.
    can_users: bool,
    /// May deactivate the organisation (the platform).
    can_deactivate: bool,
    roles: Vec<&'static str>,
    qual_kinds: &'static [&'static str],
    error: Option<String>,
}

async fn show_org(
    st: &SharedState,
    lang: Lang,
    uri: &Uri,
    auth: &Auth,
    id: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    use celltrail_core::access::{OrgType, Permission};
    let org = match st.store.organisation(id).await {
        Ok(Some(o)) => o,
        Ok(None) => {
            return page_error(lang, StoreError::not_found("org_not_found", id.to_string()))
        }
        Err(e) => return page_error(lang, e),
    };
    let quals = match st.store.qualifications(id).await {
        Ok(q) => qualification_views(q, &When::now().today.to_string()),
        Err(e) => return page_error(lang, e),
    };
    let own = auth.actor.is_platform() || auth.actor.org_id == id;
    let can_users = own && auth.actor.can(Permission::UserManage);
    let can_manage = own && auth.actor.can(Permission::OrgManage);
    let users = if can_users {
        st.store.users(Some(id)).await.unwrap_or_default()
    } else {
        Vec::new()
    };
    let projects = if auth.actor.can(Permission::ProjectRead) {
        let f = scope_projects(
            &auth.actor,
            ProjectFilter {
                org_id: Some(id.to_string()),
                limit: Some(500),
                ..Default::default()
            },
        );
        st.store
            .projects(&f)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.org_id == id)
            .collect()
    } else {
        Vec::new()
    };
    let roles = OrgType::from_str(&org.org_type)
        .map(|t| {
            crate::api::roles_for(t)
                .into_iter()
                .filter(|r| {
                    auth.actor.is_platform() || *r != celltrail_core::access::Role::PlatformAdmin
                })
                .map(|r| r.as_str())
                .collect()
        })
        .unwrap_or_default();
    let can_deactivate =
        org.active && auth.actor.is_platform() && auth.actor.can(Permission::OrgManage);
    let page = OrgPage {
        ctx: PageCtx::new(lang, Some(auth), uri, "org.title"),
        org,
        quals,
        users,
        projects,
        can_manage,
        can_users,
        can_deactivate,
        roles,
        qual_kinds: service::QUALIFICATION_KINDS,
        error,
    };
    render_status(&page, status)
}

pub async fn org_page(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    show_org(&st, lang, &uri, &auth, &id, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct QualificationForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    issuer_zh: String,
    #[serde(default)]
    issuer_en: String,
    #[serde(default)]
    valid_from: String,
    #[serde(default)]
    valid_to: String,
    #[serde(default)]
    reason: String,
}

/// Records a qualification from the organisation page.
pub async fn org_add_qualification(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<QualificationForm>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    if let Err(e) = auth.check_csrf(&f.csrf) {
        return page_error(lang, e);
    }
    let input = service::QualificationInput {
        kind: f.kind,
        number: f.number,
        issuer_zh: f.issuer_zh,
        issuer_en: f.issuer_en,
        valid_from: f.valid_from,
        valid_to: Some(f.valid_to).filter(|v| !v.trim().is_empty()),
    };
    let result = service::record_qualification(
        st.store.as_ref(),
        &auth.actor,
        &id,
        &input,
        &f.reason,
        &When::now(),
    )
    .await
    .map(|_| ());
    org_form_outcome(&st, lang, &uri, &auth, &id, result).await
}

/// A form that only carries the reason for a change.
#[derive(Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub async fn org_revoke_qualification(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    Extension(auth): Extension<Auth>,
    Path((id, qid)): Path<(String, String)>,
    Form(f): Form<ReasonForm>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    if let Err(e) = auth.check_csrf(&f.csrf) {
        return page_error(lang, e);
    }
    let result = service::revoke_qualification(
        st.store.as_ref(),
        &auth.actor,
        &id,
        &qid,
        &f.reason,
        &When::now(),
    )
    .await
    .map(|_| ());
    org_form_outcome(&st, lang, &uri, &auth, &id, result).await
}

pub async fn org_deactivate(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<ReasonForm>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    if let Err(e) = auth.check_csrf(&f.csrf) {
        return page_error(lang, e);
    }
    let result =
        service::deactivate_org(st.store.as_ref(), &auth.actor, &id, &f.reason, &When::now())
            .await
            .map(|_| ());
    org_form_outcome(&st, lang, &uri, &auth, &id, result).await
}

/// After a form on the organisation page: back to the page, or the page
/// again with the error in the user's language.
async fn org_form_outcome(
    st: &SharedState,
    lang: Lang,
    uri: &Uri,
    auth: &Auth,
    id: &str,
    result: Result<(), StoreError>,
) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/app/orgs/{id}")).into_response(),
        Err(e) => {
            let status = crate::error::status_of(e.kind, e.code);
            let message = crate::error::message(lang, &e);
            show_org(st, lang, uri, auth, id, Some(message), status).await
        }
    }
}

#[derive(Deserialize)]
pub struct UserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    reason: String,
}

/// Creates a user of the organisation from its page.
pub async fn org_add_user(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<UserForm>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    if let Err(e) = auth.check_csrf(&f.csrf) {
        return page_error(lang, e);
    }
    let input = service::UserInput {
        org_id: id.clone(),
        username: f.username,
        display_name: f.display_name,
        email: f.email,
        roles: vec![f.role],
        password: f.password,
    };
    let result = service::create_user(
        st.store.as_ref(),
        &auth.actor,
        &input,
        &f.reason,
        &When::now(),
    )
    .await
    .map(|_| ());
    org_form_outcome(&st, lang, &uri, &auth, &id, result).await
}

#[derive(Template)]
#[template(path = "org_new.html")]
struct OrgNewPage {
    ctx: PageCtx,
    form: OrgForm,
    org_types: Vec<&'static str>,
    provinces: Vec<(&'static str, String)>,
    grades: &'static [&'static str],
    error: Option<String>,
    error_field: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct OrgForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    org_type: String,
    #[serde(default)]
    name_zh: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    uscc: String,
    #[serde(default)]
    province_code: String,
    #[serde(default)]
    city_zh: String,
    #[serde(default)]
    city_en: String,
    #[serde(default)]
    grade: String,
    #[serde(default)]
    address_zh: String,
    #[serde(default)]
    address_en: String,
    #[serde(default)]
    reason: String,
}

fn org_new_page(
    lang: Lang,
    uri: &Uri,
    auth: &Auth,
    form: OrgForm,
    error: Option<&StoreError>,
) -> Response {
    let l = Labels(lang);
    let page = OrgNewPage {
        ctx: PageCtx::new(lang, Some(auth), uri, "org_new.title"),
        form,
        org_types: celltrail_core::access::OrgType::ALL
            .iter()
            .filter(|t| **t != celltrail_core::access::OrgType::Platform)
            .map(|t| t.as_str())
            .collect(),
        provinces: service::PROVINCES
            .iter()
            .map(|(c, _, _)| (*c, l.province(c)))
            .collect(),
        grades: service::GRADES,
        error: error.map(|e| crate::error::message(lang, e)),
        error_field: error.and_then(|e| e.field.clone()).unwrap_or_default(),
    };
    let status = error.map_or(StatusCode::OK, |e| crate::error::status_of(e.kind, e.code));
    render_status(&page, status)
}

pub async fn org_new(headers: HeaderMap, uri: Uri, Extension(auth): Extension<Auth>) -> Response {
    let lang = lang_of(&headers, uri.query());
    let form = OrgForm {
        org_type: "medical_institution".into(),
        province_code: "31".into(),
        ..Default::default()
    };
    org_new_page(lang, &uri, &auth, form, None)
}

pub async fn org_create(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    Extension(auth): Extension<Auth>,
    Form(f): Form<OrgForm>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    if let Err(e) = auth.check_csrf(&f.csrf) {
        return page_error(lang, e);
    }
    let blank = |s: &str| Some(s.to_string()).filter(|v| !v.trim().is_empty());
    let input = service::OrgInput {
        id: None,
        org_type: f.org_type.clone(),
        name_zh: f.name_zh.clone(),
        name_en: f.name_en.clone(),
        uscc: blank(&f.uscc),
        province_code: f.province_code.clone(),
        city_zh: f.city_zh.clone(),
        city_en: f.city_en.clone(),
        grade: blank(&f.grade),
        address_zh: f.address_zh.clone(),
        address_en: f.address_en.clone(),
    };
    match service::register_org(
        st.store.as_ref(),
        &auth.actor,
        &input,
        &f.reason,
        &When::now(),
    )
    .await
    {
        Ok(org) => Redirect::to(&format!("/app/orgs/{}", org.id)).into_response(),
        Err(e) => org_new_page(lang, &uri, &auth, f, Some(&e)),
    }
}

// ---------------------------------------------------------------- ledger

#[derive(Template)]
#[template(path = "ledger.html")]
struct LedgerPage {
    ctx: PageCtx,
    ok: bool,
    events: u64,
    streams: u64,
    seals: u64,
    checkpoints: u64,
    pending: u64,
    broken: String,
}

pub async fn ledger_page(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    Extension(auth): Extension<Auth>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    match st.store.verify().await {
        Ok(Ok(s)) => render(&LedgerPage {
            ctx: PageCtx::new(lang, Some(&auth), &uri, "ledger.title"),
            ok: true,
            events: s.events,
            streams: s.streams,
            seals: s.seals,
            checkpoints: s.checkpoints,
            pending: s.pending,
            broken: String::new(),
        }),
        Ok(Err(b)) => render(&LedgerPage {
            ctx: PageCtx::new(lang, Some(&auth), &uri, "ledger.title"),
            ok: false,
            events: 0,
            streams: 0,
            seals: 0,
            checkpoints: 0,
            pending: 0,
            broken: b.to_string(),
        }),
        Err(e) => page_error(lang, e),
    }
}

// ---------------------------------------------------------------- account and second factor

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    ctx: PageCtx,
    enrolled: bool,
    must_enrol: bool,
    secret: String,
    uri: String,
    error: Option<String>,
}

/// Whether the actor holds an administrator role that needs a second factor.
pub fn is_admin(actor: &service::Actor) -> bool {
    use celltrail_core::access::Role;
    actor
        .roles
        .iter()
        .any(|r| matches!(r, Role::PlatformAdmin | Role::OrgAdmin))
}

async fn show_account(
    st: &SharedState,
    lang: Lang,
    uri: &Uri,
    auth: &Auth,
    error: Option<String>,
    secret: Option<String>,
    status: StatusCode,
) -> Response {
    let enrolled = match st.store.totp(&auth.actor.user_id).await {
        Ok(t) => t.is_some(),
        Err(e) => return page_error(lang, e),
    };
    let secret = match secret {
        Some(s) => s,
        None => match celltrail_store::auth::random_hex(20) {
            Ok(h) => celltrail_core::totp::base32_encode(&hex_bytes(&h)),
            Err(e) => return page_error(lang, e),
        },
    };
    let account = format!("{}@{}", auth.actor.username, auth.actor.org_id);
    let page = AccountPage {
        ctx: PageCtx::new(lang, Some(auth), uri, "account.title"),
        enrolled,
        must_enrol: !enrolled && is_admin(&auth.actor) && st.config.require_admin_totp,
        uri: celltrail_core::totp::otpauth_uri("CellTrail", &account, &secret),
        secret,
        error,
    };
    render_status(&page, status)
}

fn hex_bytes(h: &str) -> Vec<u8> {
    (0..h.len() / 2)
        .filter_map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok())
        .collect()
}

pub async fn account_page(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    Extension(auth): Extension<Auth>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    show_account(&st, lang, &uri, &auth, None, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct TotpForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    code: String,
}

/// Enrols a second factor: the user proves the app holds the secret by
/// entering its current code.
pub async fn account_totp(
    State(st): State<SharedState>,
    headers: HeaderMap,
    uri: Uri,
    Extension(auth): Extension<Auth>,
    Form(f): Form<TotpForm>,
) -> Response {
    let lang = lang_of(&headers, uri.query());
    if let Err(e) = auth.check_csrf(&f.csrf) {
        return page_error(lang, e);
    }
    let Some(key) = celltrail_core::totp::base32_decode(&f.secret).filter(|k| k.len() >= 16) else {
        let e = StoreError::invalid(
            "totp_secret_invalid",
            "secret",
            "not a base32 secret of 128 bits or more",
        );
        return show_account(
            &st,
            lang,
            &uri,
            &auth,
            Some(crate::error::message(lang, &e)),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let Some(step) = celltrail_core::totp::verify(&key, &f.code, crate::session::now_secs(), None)
    else {
        let e = StoreError::invalid("totp_invalid", "code", "wrong one-time code");
        return show_account(
            &st,
            lang,
            &uri,
            &auth,
            Some(crate::error::message(lang, &e)),
            Some(f.secret),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let secret = celltrail_core::totp::base32_encode(&key);
    let saved = async {
        st.store
            .set_totp(&auth.actor.user_id, Some(&secret))
            .await?;
        st.store.use_totp_step(&auth.actor.user_id, step).await
    };
    match saved.await {
        Ok(_) => Redirect::to("/app/account").into_response(),
        Err(e) => page_error(lang, e),
    }
}
