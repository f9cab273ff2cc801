//! Ethics review and consent over HTTP: the JSON API under `/api/v1`
//! (committees, submissions, meetings, reliance, the expert pool, subjects,
//! consent, consent-checked exports) and the decision letters. The pages
//! are in [`crate::ethics_pages`].

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use celltrail_core::consent::Scope;
use celltrail_core::Lang;
use celltrail_store::error::StoreError;
use celltrail_store::ethics::{self as e};
use celltrail_store::service::When;
use serde::{Deserialize, Serialize};

use crate::api::{fail, parse_body, ApiResult};
use crate::error::ApiError;
use crate::i18n::L;
use crate::session::Auth;
use crate::SharedState;

type St = State<SharedState>;

fn store(st: &SharedState) -> &dyn celltrail_store::Store {
    st.store.as_ref()
}

pub async fn list_committees(State(st): St, L(lang): L) -> ApiResult<Vec<e::CommitteeView>> {
    let mut out = Vec::new();
    for c in e::committees(store(&st)).await.map_err(fail(lang))? {
        if let Some(v) = e::committee(store(&st), &c.id).await.map_err(fail(lang))? {
            out.push(v);
        }
    }
    Ok(Json(out))
}

fn committee_missing(id: &str) -> StoreError {
    StoreError::not_found("committee_not_found", id.to_string())
}

pub async fn get_committee(
    State(st): St,
    L(lang): L,
    Path(id): Path<String>,
) -> ApiResult<e::CommitteeView> {
    e::committee(store(&st), &id)
        .await
        .and_then(|c| c.ok_or_else(|| committee_missing(&id)))
        .map(Json)
        .map_err(fail(lang))
}

pub async fn constitute_committee(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<e::CommitteeView> {
    let (input, reason): (e::ConstituteInput, String) = parse_body(lang, &body)?;
    e::constitute_committee(store(&st), &auth.actor, &id, &input, &reason, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn appoint_member(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<e::CommitteeView> {
    let (input, reason): (e::MemberInput, String) = parse_body(lang, &body)?;
    e::appoint_member(store(&st), &auth.actor, &id, &input, &reason, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaveBody {
    left_on: String,
}

pub async fn remove_member(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path((id, member)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<e::CommitteeView> {
    let (input, reason): (LeaveBody, String) = parse_body(lang, &body)?;
    e::remove_member(
        store(&st),
        &auth.actor,
        &id,
        &member,
        &input.left_on,
        &reason,
        &When::now(),
    )
    .await
    .map(Json)
    .map_err(fail(lang))
}

pub async fn committee_dashboard(
    State(st): St,
    L(lang): L,
    Path(id): Path<String>,
) -> ApiResult<e::Dashboard> {
    if e::committee(store(&st), &id)
        .await
        .map_err(fail(lang))?
        .is_none()
    {
        return Err(ApiError::new(lang, committee_missing(&id)));
    }
    e::dashboard(store(&st), &id, When::now().today)
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn submit(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(project): Path<String>,
    body: Bytes,
) -> ApiResult<e::SubmissionView> {
    let (input, _): (e::SubmissionInput, String) = parse_body(lang, &body)?;
    e::submit(store(&st), &auth.actor, &project, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

/// Where a site's ethics approval of the study stands today.
#[derive(Serialize)]
pub struct SiteApproval {
    pub site_id: String,
    /// `current`, `due_soon` (continuing review within 60 days), `lapsed`,
    /// or `none` (no approval covers the site).
    pub status: String,
    pub lapses_on: Option<String>,
    /// The approving submission: the site's own or the lead it relies on.
    pub submission_id: Option<String>,
}

/// Everything about a study's ethics review and consent at a glance.
#[derive(Serialize)]
pub struct ProjectEthics {
    pub approvals: Vec<SiteApproval>,
    pub submissions: Vec<e::SubmissionRow>,
    pub reliances: Vec<e::RelianceRow>,
    pub days_saved_by_reliance: i64,
    pub consent_versions: Vec<e::VersionRow>,
    pub subjects: Vec<e::SubjectRow>,
    /// (subject id, version still to consent to)
    pub pending_reconsent: Vec<(String, i64)>,
}

pub async fn project_ethics(
    st: &SharedState,
    auth: &Auth,
    id: &str,
) -> Result<ProjectEthics, StoreError> {
    let s = store(st);
    celltrail_store::service::visible_project(s, &auth.actor, id).await?;
    let mut subjects = e::subjects(s, id).await?;
    let project = s.project(id).await?;
    // A participating site sees its own subjects; the study's institution
    // and regulators all of them.
    if project.is_some_and(|p| p.org_id != auth.actor.org_id)
        && auth.actor.org_type == celltrail_core::access::OrgType::MedicalInstitution
    {
        subjects.retain(|x| x.site_id == auth.actor.org_id);
    }
    let visible: Vec<&str> = subjects.iter().map(|x| x.id.as_str()).collect();
    let pending = e::pending_reconsent(s, id)
        .await?
        .into_iter()
        .filter(|(sid, _)| visible.contains(&sid.as_str()))
        .collect();
    let submissions = e::submissions(
        s,
        &e::SubmissionFilter {
            project_id: Some(id.to_string()),
            ..Default::default()
        },
    )
    .await?;
    let reliances = e::reliances(s, id).await?;
    let today = When::now().today;
    let mut sites: Vec<String> = submissions.iter().map(|x| x.site_id.clone()).collect();
    sites.extend(reliances.iter().map(|r| r.site_id.clone()));
    sites.sort();
    sites.dedup();
    let mut approvals = Vec::new();
    for site in sites {
        let relied: Vec<&str> = reliances
            .iter()
            .filter(|r| r.site_id == site && r.status == "relied")
            .map(|r| r.lead_submission_id.as_str())
            .collect();
        let (status, lapses_on, submission_id) =
            match e::covering_approval(&submissions, &relied, &site, today) {
                Ok(sub) => {
                    let lapses = submissions
                        .iter()
                        .find(|x| x.id == sub)
                        .and_then(|x| x.lapses_on.clone());
                    let status = lapses
                        .as_deref()
                        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                        .map(|d| celltrail_core::ethics::review_status(d, today));
                    let code = match status {
                        Some(celltrail_core::ethics::ReviewStatus::DueSoon) => "due_soon",
                        Some(celltrail_core::ethics::ReviewStatus::Lapsed) => "lapsed",
                        _ => "current",
                    };
                    (code, lapses, Some(sub))
                }
                Err("ethics_approval_lapsed") => ("lapsed", None, None),
                Err(_) => ("none", None, None),
            };
        approvals.push(SiteApproval {
            site_id: site,
            status: status.to_string(),
            lapses_on,
            submission_id,
        });
    }
    Ok(ProjectEthics {
        approvals,
        submissions,
        reliances,
        days_saved_by_reliance: e::reliance_days_saved(s, id, today).await?,
        consent_versions: e::consent_versions(s, id).await?,
        pending_reconsent: pending,
        subjects,
    })
}

pub async fn get_project_ethics(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<ProjectEthics> {
    project_ethics(&st, &auth, &id)
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn get_submission(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<e::SubmissionView> {
    e::visible_submission(store(&st), &auth.actor, &id)
        .await
        .map(Json)
        .map_err(fail(lang))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewersBody {
    members: Vec<String>,
}

pub async fn assign_reviewers(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<e::SubmissionView> {
    let (input, _): (ReviewersBody, String) = parse_body(lang, &body)?;
    e::assign_reviewers(store(&st), &auth.actor, &id, &input.members, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn assign_experts(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<e::SubmissionView> {
    let (input, _): (e::AssignExpertsInput, String) = parse_body(lang, &body)?;
    e::assign_pool_experts(store(&st), &auth.actor, &id, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn give_opinion(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<e::SubmissionView> {
    let (input, _): (e::OpinionInput, String) = parse_body(lang, &body)?;
    e::give_opinion(store(&st), &auth.actor, &id, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn decide(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<e::SubmissionView> {
    let (input, _): (e::DecideInput, String) = parse_body(lang, &body)?;
    e::decide_without_meeting(store(&st), &auth.actor, &id, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

#[derive(Deserialize)]
pub struct LetterQuery {
    #[serde(default)]
    lang: Option<String>,
}

impl LetterQuery {
    /// The document's language: `?lang=` when given, else the request's.
    fn lang_or(&self, request: Lang) -> Lang {
        match self.lang.as_deref() {
            Some("en") => Lang::En,
            Some("zh-CN") | Some("zh") => Lang::Zh,
            _ => request,
        }
    }
}

/// The decision letter as PDF, in the language asked for (`?lang=zh-CN` or
/// `en`; the request's language otherwise).
pub async fn letter(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Query(q): Query<LetterQuery>,
) -> Result<Response, ApiError> {
    let letter_lang = q.lang_or(lang);
    let bytes = crate::letter::decision_letter(&st, &auth.actor, &id, letter_lang)
        .await
        .map_err(fail(lang))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "inline; filename=\"decision-{id}-{}.pdf\"",
                    letter_lang.code()
                ),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// The minutes of a meeting as PDF (`?lang=zh-CN` or `en`).
pub async fn meeting_minutes(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Query(q): Query<LetterQuery>,
) -> Result<Response, ApiError> {
    let doc_lang = q.lang_or(lang);
    let bytes = crate::letter::minutes(&st, &auth.actor, &id, doc_lang)
        .await
        .map_err(fail(lang))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"minutes-{id}-{}.pdf\"", doc_lang.code()),
            ),
        ],
        bytes,
    )
        .into_response())
}

pub async fn propose_reliance(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<e::RelianceRow> {
    let (input, _): (e::ProposeInput, String) = parse_body(lang, &body)?;
    e::propose_reliance(store(&st), &auth.actor, &id, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn move_reliance(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<e::RelianceRow> {
    let (mut input, reason): (e::MoveRelianceInput, String) = parse_body(lang, &body)?;
    input.reason = reason;
    e::move_reliance(store(&st), &auth.actor, &id, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn schedule_meeting(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<e::MeetingView> {
    let (input, _): (e::ScheduleInput, String) = parse_body(lang, &body)?;
    e::schedule_meeting(store(&st), &auth.actor, &id, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn get_meeting(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<e::MeetingView> {
    visible_meeting(&st, &auth.actor, &id)
        .await
        .map(Json)
        .map_err(fail(lang))
}

/// A meeting is seen by its committee, regulators and the platform.
pub async fn visible_meeting(
    st: &SharedState,
    a: &celltrail_store::service::Actor,
    id: &str,
) -> Result<e::MeetingView, StoreError> {
    let not_found = || StoreError::not_found("meeting_not_found", id.to_string());
    let m = e::meeting(store(st), id).await?.ok_or_else(not_found)?;
    let allowed = a.org_id == m.meeting.committee_id
        || a.is_platform()
        || a.org_type == celltrail_core::access::OrgType::Regulator;
    if allowed {
        Ok(m)
    } else {
        Err(not_found())
    }
}

pub async fn record_attendance(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<e::MeetingView> {
    let (input, _): (e::AttendanceInput, String) = parse_body(lang, &body)?;
    e::record_attendance(store(&st), &auth.actor, &id, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn vote_item(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path((id, submission)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<e::MeetingView> {
    let (input, _): (e::VoteInput, String) = parse_body(lang, &body)?;
    e::vote_item(
        store(&st),
        &auth.actor,
        &id,
        &submission,
        &input,
        &When::now(),
    )
    .await
    .map(Json)
    .map_err(fail(lang))
}

pub async fn list_experts(State(st): St, L(lang): L) -> ApiResult<Vec<e::ExpertRow>> {
    e::experts(store(&st)).await.map(Json).map_err(fail(lang))
}

pub async fn register_expert(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    body: Bytes,
) -> ApiResult<e::ExpertRow> {
    let (input, _): (e::ExpertInput, String) = parse_body(lang, &body)?;
    e::register_expert(store(&st), &auth.actor, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterestBody {
    org_id: String,
    nature: String,
}

pub async fn declare_interest(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<e::ExpertRow> {
    let (input, _): (InterestBody, String) = parse_body(lang, &body)?;
    e::declare_interest(
        store(&st),
        &auth.actor,
        &id,
        &input.org_id,
        &input.nature,
        &When::now(),
    )
    .await
    .map(Json)
    .map_err(fail(lang))
}

pub async fn enrol(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(project): Path<String>,
    body: Bytes,
) -> ApiResult<e::SubjectRow> {
    let (input, _): (e::EnrolInput, String) = parse_body(lang, &body)?;
    e::enrol_subject(store(&st), &auth.actor, &project, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn record_consent(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<e::SubjectRow> {
    let (input, _): (e::ConsentInput, String) = parse_body(lang, &body)?;
    e::record_consent(store(&st), &auth.actor, &id, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn withdraw(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<e::SubjectRow> {
    let (mut input, reason): (e::WithdrawInput, String) = parse_body(lang, &body)?;
    input.reason = reason;
    e::withdraw_consent(store(&st), &auth.actor, &id, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

#[derive(Serialize)]
pub struct LinkIssued {
    /// The subject's personal page; shown once, only its hash is kept.
    pub url: String,
}

pub async fn issue_link(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<LinkIssued> {
    e::issue_subject_link(store(&st), &auth.actor, &id)
        .await
        .map(|token| {
            Json(LinkIssued {
                url: format!("/consent/{token}"),
            })
        })
        .map_err(fail(lang))
}

#[derive(Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    scope: Option<String>,
}

/// The study dataset as CSV, only subjects whose consent permits the use
/// (`scope`, default `study_data`) today.
pub async fn export_dataset(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let scope: Scope = q
        .scope
        .as_deref()
        .unwrap_or("study_data")
        .parse()
        .map_err(|_| {
            ApiError::new(
                lang,
                StoreError::invalid("consent_scope_invalid", "scope", "unknown"),
            )
        })?;
    let mut out = Vec::new();
    let n = e::export_dataset(store(&st), &auth.actor, &id, scope, &When::now(), &mut out)
        .await
        .map_err(fail(lang))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}-{}.csv\"", scope.as_str()),
            ),
            (
                header::HeaderName::from_static("x-consent-excluded"),
                n.excluded.to_string(),
            ),
        ],
        out,
    )
        .into_response())
}

/// The study's subjects as a FHIR R5 Bundle (Consent, ResearchSubject) for
/// sharing with other institutions: subjects who refused sharing are left
/// out.
pub async fn export_fhir(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (bundle, n) = e::export_fhir(store(&st), &auth.actor, &id, &When::now())
        .await
        .map_err(fail(lang))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/fhir+json".to_string()),
            (
                header::HeaderName::from_static("x-consent-excluded"),
                n.excluded.to_string(),
            ),
        ],
        bundle.to_string(),
    )
        .into_response())
}
