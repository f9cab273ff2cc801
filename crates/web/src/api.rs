//! JSON API under `/api/v1`. Handlers parse input into typed values and call
//! the command layer (`celltrail_store::service`); all access checks beyond
//! the route's permission happen there.

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::{Extension, Json};
use celltrail_core::access::{permissions, Role};
use celltrail_core::i18n::Lang;
use celltrail_core::workflow::{self, Action, ProjectState};
use celltrail_store::auth::{random_hex, secret_digest};
use celltrail_store::error::StoreError;
use celltrail_store::service::{
    self, scope_projects, visible_project, ActInput, OrgInput, ProjectInput, QualificationInput,
    UserInput, When,
};
use celltrail_store::{
    new_id, now_rfc3339, ApiToken, OrgFilter, Organisation, Project, ProjectFilter, Qualification,
    SignatureRecord,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::i18n::L;
use crate::session::{permission_from_str, Auth};
use crate::SharedState;

pub type ApiResult<T> = Result<Json<T>, ApiError>;

/// The most rows one list call returns; page with `offset`.
pub const MAX_PAGE: u32 = 1000;

pub fn fail(lang: Lang) -> impl Fn(StoreError) -> ApiError {
    move |e| ApiError::new(lang, e)
}

/// Pulls the field name out of a serde error message (`unknown field `x``).
fn serde_field(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(msg[start..start + len].to_string())
}

/// Parses a JSON body into `T`, taking the top-level `reason` (the reason for
/// change every write carries) out first. Errors name the field at fault.
pub fn parse_body<T: DeserializeOwned>(lang: Lang, bytes: &[u8]) -> Result<(T, String), ApiError> {
    let bad = |code: &'static str, field: Option<String>, detail: String| {
        let mut e = StoreError::invalid(code, "body", detail);
        e.field = field.or(Some("body".into()));
        ApiError::new(lang, e)
    };
    let mut value: Value =
        serde_json::from_slice(bytes).map_err(|e| bad("body_not_json", None, e.to_string()))?;
    let reason = match value.as_object_mut() {
        Some(obj) => match obj.remove("reason") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s,
            Some(_) => {
                return Err(bad(
                    "field_type_invalid",
                    Some("reason".into()),
                    "reason must be a string".into(),
                ))
            }
        },
        None => {
            return Err(bad(
                "body_not_object",
                None,
                "expected a JSON object".into(),
            ))
        }
    };
    let parsed = serde_json::from_value(value).map_err(|e| {
        let msg = e.to_string();
        let code = if msg.starts_with("unknown field") {
            "field_unknown"
        } else if msg.starts_with("missing field") {
            "field_required"
        } else {
            "field_type_invalid"
        };
        bad(code, serde_field(&msg), msg)
    })?;
    Ok((parsed, reason))
}

/// Parses the query string into `T` with a JSON error on bad input.
pub fn parse_query<T: DeserializeOwned + Default>(lang: Lang, uri: &Uri) -> Result<T, ApiError> {
    match uri.query() {
        None | Some("") => Ok(T::default()),
        Some(_) => axum::extract::Query::<T>::try_from_uri(uri)
            .map(|q| q.0)
            .map_err(|e| {
                let msg = e.body_text();
                ApiError::new(
                    lang,
                    StoreError::invalid("query_invalid", "query", msg.clone())
                        .with_field(&serde_field(&msg).unwrap_or_else(|| "query".into())),
                )
            }),
    }
}

#[derive(Serialize)]
pub struct Me {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub organisation: Option<Organisation>,
    pub roles: Vec<String>,
    pub permissions: Vec<&'static str>,
    /// Send this in `X-CSRF-Token` on API writes made with the session cookie.
    pub csrf_token: Option<String>,
}

pub async fn me(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
) -> ApiResult<Me> {
    let org = st
        .store
        .organisation(&auth.actor.org_id)
        .await
        .map_err(fail(lang))?;
    let mut perms: Vec<&'static str> = Vec::new();
    for r in &auth.actor.roles {
        for p in permissions(*r) {
            if auth.actor.can(*p) && !perms.contains(&p.as_str()) {
                perms.push(p.as_str());
            }
        }
    }
    perms.sort_unstable();
    Ok(Json(Me {
        user_id: auth.actor.user_id.clone(),
        username: auth.actor.username.clone(),
        display_name: auth.actor.display_name.clone(),
        organisation: org,
        roles: auth
            .actor
            .roles
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
        permissions: perms,
        csrf_token: auth.session.as_ref().map(|s| s.csrf.clone()),
    }))
}

pub async fn list_orgs(
    State(st): State<SharedState>,
    L(lang): L,
    uri: Uri,
) -> ApiResult<Vec<Organisation>> {
    let mut f: OrgFilter = parse_query(lang, &uri)?;
    f.limit = Some(f.limit.unwrap_or(100).min(MAX_PAGE));
    Ok(Json(st.store.organisations(&f).await.map_err(fail(lang))?))
}

#[derive(Serialize)]
pub struct QualificationView {
    #[serde(flatten)]
    pub q: Qualification,
    pub expired: bool,
}

pub fn qualification_views(qs: Vec<Qualification>, today: &str) -> Vec<QualificationView> {
    qs.into_iter()
        .map(|q| QualificationView {
            expired: q.expired_on(today),
            q,
        })
        .collect()
}

#[derive(Serialize)]
pub struct OrgView {
    #[serde(flatten)]
    pub org: Organisation,
    pub qualifications: Vec<QualificationView>,
}

pub async fn get_org(
    State(st): State<SharedState>,
    L(lang): L,
    Path(id): Path<String>,
) -> ApiResult<OrgView> {
    let org = st
        .store
        .organisation(&id)
        .await
        .map_err(fail(lang))?
        .ok_or_else(|| ApiError::new(lang, StoreError::not_found("org_not_found", id.clone())))?;
    let quals = st.store.qualifications(&id).await.map_err(fail(lang))?;
    Ok(Json(OrgView {
        org,
        qualifications: qualification_views(quals, &When::now().today.to_string()),
    }))
}

pub async fn create_org(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    body: Bytes,
) -> Result<(StatusCode, Json<Organisation>), ApiError> {
    let (input, reason): (OrgInput, String) = parse_body(lang, &body)?;
    let org = service::register_org(
        st.store.as_ref(),
        &auth.actor,
        &input,
        &reason,
        &When::now(),
    )
    .await
    .map_err(fail(lang))?;
    Ok((StatusCode::CREATED, Json(org)))
}

/// A body that carries only the reason for a change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFields {}

pub async fn revoke_qualification(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path((id, qid)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<celltrail_store::Qualification> {
    let (_, reason): (NoFields, String) = parse_body(lang, &body)?;
    service::revoke_qualification(
        st.store.as_ref(),
        &auth.actor,
        &id,
        &qid,
        &reason,
        &When::now(),
    )
    .await
    .map(Json)
    .map_err(fail(lang))
}

pub async fn deactivate_org(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Organisation> {
    let (_, reason): (NoFields, String) = parse_body(lang, &body)?;
    service::deactivate_org(st.store.as_ref(), &auth.actor, &id, &reason, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn update_org(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Organisation> {
    let (input, reason): (OrgInput, String) = parse_body(lang, &body)?;
    Ok(Json(
        service::update_org(
            st.store.as_ref(),
            &auth.actor,
            &id,
            &input,
            &reason,
            &When::now(),
        )
        .await
        .map_err(fail(lang))?,
    ))
}

pub async fn list_qualifications(
    State(st): State<SharedState>,
    L(lang): L,
    Path(id): Path<String>,
) -> ApiResult<Vec<QualificationView>> {
    if st
        .store
        .organisation(&id)
        .await
        .map_err(fail(lang))?
        .is_none()
    {
        return Err(ApiError::new(
            lang,
            StoreError::not_found("org_not_found", id),
        ));
    }
    let quals = st.store.qualifications(&id).await.map_err(fail(lang))?;
    Ok(Json(qualification_views(
        quals,
        &When::now().today.to_string(),
    )))
}

pub async fn create_qualification(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Qualification>), ApiError> {
    let (input, reason): (QualificationInput, String) = parse_body(lang, &body)?;
    let q = service::record_qualification(
        st.store.as_ref(),
        &auth.actor,
        &id,
        &input,
        &reason,
        &When::now(),
    )
    .await
    .map_err(fail(lang))?;
    Ok((StatusCode::CREATED, Json(q)))
}

pub async fn list_users(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
) -> ApiResult<Vec<celltrail_store::User>> {
    let org = if auth.actor.is_platform() {
        None
    } else {
        Some(auth.actor.org_id.as_str())
    };
    Ok(Json(st.store.users(org).await.map_err(fail(lang))?))
}

pub async fn create_user(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    body: Bytes,
) -> Result<(StatusCode, Json<celltrail_store::User>), ApiError> {
    let (input, reason): (UserInput, String) = parse_body(lang, &body)?;
    let u = service::create_user(
        st.store.as_ref(),
        &auth.actor,
        &input,
        &reason,
        &When::now(),
    )
    .await
    .map_err(fail(lang))?;
    Ok((StatusCode::CREATED, Json(u)))
}

pub async fn list_projects(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    uri: Uri,
) -> ApiResult<Vec<Project>> {
    let mut f: ProjectFilter = parse_query(lang, &uri)?;
    f.limit = Some(f.limit.unwrap_or(100).min(MAX_PAGE));
    if let Some(s) = &f.state {
        ProjectState::from_str(s).map_err(|_| {
            ApiError::new(
                lang,
                StoreError::invalid("state_invalid", "state", s.clone()),
            )
        })?;
    }
    let f = scope_projects(&auth.actor, f);
    Ok(Json(st.store.projects(&f).await.map_err(fail(lang))?))
}

pub async fn create_project(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    body: Bytes,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    let (input, reason): (ProjectInput, String) = parse_body(lang, &body)?;
    let p = service::draft_project(
        st.store.as_ref(),
        &auth.actor,
        &input,
        &reason,
        &When::now(),
    )
    .await
    .map_err(fail(lang))?;
    Ok((StatusCode::CREATED, Json(p)))
}

#[derive(Serialize)]
pub struct ProjectView {
    #[serde(flatten)]
    pub project: Project,
    pub institution: InstitutionRef,
    /// Hash of the record as now displayed: a signature must quote it.
    pub record_hash: String,
    pub deadline_overdue: bool,
    pub signatures: Vec<SignatureRecord>,
    /// Actions the caller may take now, with the signature meaning each needs.
    pub actions: Vec<ActionView>,
}

#[derive(Serialize)]
pub struct InstitutionRef {
    pub id: String,
    pub name_zh: String,
    pub name_en: String,
    pub province_code: String,
}

#[derive(Serialize, Clone)]
pub struct ActionView {
    pub action: &'static str,
    pub signature_meaning: Option<&'static str>,
    pub reason_required: bool,
}

/// Actions the actor may take on the project in its current state.
pub fn allowed_actions(
    actor: &service::Actor,
    project: &Project,
    province_code: &str,
) -> Vec<ActionView> {
    let Ok(state) = ProjectState::from_str(&project.state) else {
        return Vec::new();
    };
    Action::ALL
        .iter()
        .filter(|a| workflow::transition(state, **a).is_ok())
        .filter(|a| actor.can(a.permission()))
        .filter(|a| match a {
            Action::Submit | Action::Complete => actor.org_id == project.org_id,
            _ => {
                actor.org_type == celltrail_core::access::OrgType::Regulator
                    && actor.has_jurisdiction(province_code)
            }
        })
        .map(|a| ActionView {
            action: a.as_str(),
            signature_meaning: a.signature().map(|m| m.as_str()),
            reason_required: a.requires_reason(),
        })
        .collect()
}

pub async fn project_view(
    st: &SharedState,
    actor: &service::Actor,
    id: &str,
) -> Result<ProjectView, StoreError> {
    let (project, org) = visible_project(st.store.as_ref(), actor, id).await?;
    let stream = celltrail_store::projection::project_stream(id);
    let record_hash = st
        .store
        .stream_head(&stream)
        .await?
        .map(|(_, h)| h)
        .unwrap_or_default();
    let signatures = st.store.signatures(&stream).await?;
    let today = When::now().today.to_string();
    let deadline_overdue = project
        .deadline
        .as_deref()
        .is_some_and(|d| d < today.as_str())
        && matches!(project.state.as_str(), "submitted" | "accepted");
    let actions = allowed_actions(actor, &project, &org.province_code);
    Ok(ProjectView {
        institution: InstitutionRef {
            id: org.id,
            name_zh: org.name_zh,
            name_en: org.name_en,
            province_code: org.province_code,
        },
        project,
        record_hash,
        deadline_overdue,
        signatures,
        actions,
    })
}

pub async fn get_project(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<ProjectView> {
    Ok(Json(
        project_view(&st, &auth.actor, &id)
            .await
            .map_err(fail(lang))?,
    ))
}

#[derive(Serialize)]
pub struct HistoryEntry {
    pub seq: u64,
    pub kind: String,
    pub time: String,
    pub actor: String,
    pub actor_name: String,
    pub org: String,
    pub reason: String,
    pub payload: Value,
    pub hash: String,
    pub prev_hash: String,
}

/// The project's audit trail, after checking the actor may see it.
pub async fn history(
    st: &SharedState,
    actor: &service::Actor,
    id: &str,
) -> Result<Vec<HistoryEntry>, StoreError> {
    visible_project(st.store.as_ref(), actor, id).await?;
    stream_history(st, id).await
}

/// The project's audit trail; the caller has checked access (the project
/// page does so through [`project_view`]). Each actor's name is read once.
pub async fn stream_history(st: &SharedState, id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
    let events = st
        .store
        .stream_events(&celltrail_store::projection::project_stream(id))
        .await?;
    let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let actor_name = match names.get(&e.actor) {
            Some(n) => n.clone(),
            None => {
                let n = match st.store.user(&e.actor).await? {
                    Some(u) => u.display_name,
                    None => e.actor.clone(),
                };
                names.insert(e.actor.clone(), n.clone());
                n
            }
        };
        out.push(HistoryEntry {
            seq: e.seq,
            kind: e.kind,
            time: e.time,
            actor: e.actor,
            actor_name,
            org: e.org,
            reason: e.reason,
            payload: e.payload,
            hash: e.hash,
            prev_hash: e.prev_hash,
        });
    }
    Ok(out)
}

pub async fn project_history(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<Vec<HistoryEntry>> {
    Ok(Json(
        history(&st, &auth.actor, &id).await.map_err(fail(lang))?,
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ActBody {
    pub action: String,
    #[serde(default)]
    pub signature: Option<service::SignInput>,
}

pub async fn project_action(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<ProjectView> {
    let (b, reason): (ActBody, String) = parse_body(lang, &body)?;
    let input = ActInput {
        action: b.action,
        reason: Some(reason).filter(|r| !r.trim().is_empty()),
        signature: b.signature,
    };
    service::act_on_project(
        st.store.as_ref(),
        &auth.actor,
        &id,
        &input,
        &st.calendar,
        &When::now(),
    )
    .await
    .map_err(fail(lang))?;
    Ok(Json(
        project_view(&st, &auth.actor, &id)
            .await
            .map_err(fail(lang))?,
    ))
}

pub async fn list_tokens(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
) -> ApiResult<Vec<ApiToken>> {
    Ok(Json(
        st.store
            .tokens(&auth.actor.user_id)
            .await
            .map_err(fail(lang))?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    pub name: String,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

#[derive(Serialize)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: ApiToken,
    /// The bearer secret. Shown once; only its hash is stored.
    pub secret: String,
}

/// Creates an API token for the caller, scoped to a subset of the caller's
/// permissions.
pub async fn issue_token(
    st: &SharedState,
    actor: &service::Actor,
    body: &TokenBody,
) -> Result<CreatedToken, StoreError> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(StoreError::invalid(
            "field_required",
            "name",
            "1 to 100 characters",
        ));
    }
    if body.scopes.is_empty() {
        return Err(StoreError::invalid(
            "scopes_required",
            "scopes",
            "at least one permission",
        ));
    }
    let mut scopes = Vec::new();
    for s in &body.scopes {
        let p = permission_from_str(s.trim())
            .ok_or_else(|| StoreError::invalid("scope_invalid", "scopes", s.clone()))?;
        if !actor.can(p) {
            return Err(
                StoreError::forbidden("scope_exceeds_permissions", s.clone())
                    .with_field("scopes")
                    .with_arg("permission", p.as_str()),
            );
        }
        scopes.push(p.as_str().to_string());
    }
    let expires_at = match body.expires_in_days {
        Some(0) | None => None,
        Some(d) if d > 3650 => {
            return Err(StoreError::invalid(
                "field_out_of_range",
                "expires_in_days",
                d.to_string(),
            ))
        }
        Some(d) => Some(
            (chrono::Utc::now() + chrono::Duration::days(d as i64))
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string(),
        ),
    };
    let secret = format!("ct_{}", random_hex(32)?);
    let token = ApiToken {
        id: new_id("tok"),
        token_hash: secret_digest(&secret),
        user_id: actor.user_id.clone(),
        name: name.to_string(),
        scopes,
        created_at: now_rfc3339(),
        expires_at,
        revoked_at: None,
    };
    st.store.create_token(&token).await?;
    Ok(CreatedToken { token, secret })
}

pub async fn create_token(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    if auth.via_token {
        return Err(ApiError::new(
            lang,
            StoreError::forbidden("token_cannot_mint_tokens", "sign in to create tokens"),
        ));
    }
    let (b, _): (TokenBody, String) = parse_body(lang, &body)?;
    // Session-authenticated admins got past the enrolment check already;
    // nobody mints an administrator's token without a second factor.
    if st.config.require_admin_totp
        && crate::pages::is_admin(&auth.actor)
        && st
            .store
            .totp(&auth.actor.user_id)
            .await
            .map_err(fail(lang))?
            .is_none()
    {
        return Err(ApiError::new(
            lang,
            StoreError::forbidden(
                "totp_enrolment_required",
                "administrators enrol a second factor first",
            ),
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(
            issue_token(&st, &auth.actor, &b)
                .await
                .map_err(fail(lang))?,
        ),
    ))
}

pub async fn revoke_token(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let done = st
        .store
        .revoke_token(&id, &auth.actor.user_id, &now_rfc3339())
        .await
        .map_err(fail(lang))?;
    if done {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            lang,
            StoreError::not_found("token_not_found", id),
        ))
    }
}

pub async fn ledger_verify(State(st): State<SharedState>, L(lang): L) -> ApiResult<Value> {
    let outcome = st.store.verify().await.map_err(fail(lang))?;
    Ok(Json(match outcome {
        Ok(summary) => json!({"ok": true, "summary": summary}),
        Err(b) => json!({"ok": false, "break": b}),
    }))
}

pub async fn login_audit(
    State(st): State<SharedState>,
    L(lang): L,
) -> ApiResult<Vec<celltrail_store::LoginAttempt>> {
    Ok(Json(
        st.store.login_attempts(200).await.map_err(fail(lang))?,
    ))
}

/// Role names an organisation type admits (for forms).
pub fn roles_for(org_type: celltrail_core::access::OrgType) -> Vec<Role> {
    Role::ALL
        .iter()
        .copied()
        .filter(|r| celltrail_core::access::role_allowed_in(*r, org_type))
        .collect()
}
