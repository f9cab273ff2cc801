//! The ethics review and consent screens: the review desk, a committee, a
//! submission, a meeting, a study's ethics and consent, and the subject's
//! own consent page (no staff login, a personal link).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use celltrail_core::consent::{Change, SampleDisposition, Scope, Timeline};
use celltrail_core::ethics::{Decision, Expertise, MemberRole, Route, Sex, SubmissionType};
use celltrail_core::Lang;
use celltrail_store::error::StoreError;
use celltrail_store::ethics as e;
use celltrail_store::service::{visible_project, SignInput, When};

use crate::i18n::{Labels, L};
use crate::pages::{page_error, render, PageCtx};
use crate::session::Auth;
use crate::SharedState;

pub(crate) type Fields = Vec<(String, String)>;
/// A (value, label) choice of a select.
type Choices = Vec<(&'static str, &'static str)>;
/// An expert as the pool page lists them: id, name, affiliation, tags,
/// declared interests, open reviews.
type ExpertLine = (String, String, String, Vec<&'static str>, Vec<String>, i64);

pub(crate) fn field<'a>(f: &'a Fields, name: &str) -> &'a str {
    f.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn all(f: &Fields, name: &str) -> Vec<String> {
    f.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

fn signature(f: &Fields) -> Option<SignInput> {
    let username = field(f, "sign_username");
    (!username.is_empty()).then(|| SignInput {
        username: username.to_string(),
        password: field(f, "sign_password").to_string(),
        meaning: "approved".into(),
        record_hash: field(f, "record_hash").to_string(),
    })
}

/// The record a form acts on: the path's id, or, where a page's one form
/// serves several records (path id `_`), the id the form names in `name`.
fn named(id: String, f: &Fields, name: &str) -> String {
    if id == "_" {
        field(f, name).to_string()
    } else {
        id
    }
}

/// After a form's command: to the page `to` names on success, the error
/// page otherwise.
pub(crate) fn after<T>(
    lang: Lang,
    r: celltrail_store::StoreResult<T>,
    to: impl FnOnce(&T) -> String,
) -> Response {
    match r {
        Ok(v) => Redirect::to(&to(&v)).into_response(),
        Err(err) => page_error(lang, err),
    }
}

/// A finding or error as the catalogue words it.
pub fn finding_text(lang: Lang, code: &str, args: &[(&str, String)]) -> String {
    let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    celltrail_core::i18n::catalog().format(lang, &format!("error.{code}"), &args)
}

pub(crate) async fn org_name(st: &SharedState, l: Labels, id: &str) -> String {
    match st.store.organisation(id).await {
        Ok(Some(o)) => l.pick(&o.name_zh, &o.name_en).to_string(),
        _ => id.to_string(),
    }
}

async fn project_title(st: &SharedState, l: Labels, id: &str) -> String {
    match st.store.project(id).await {
        Ok(Some(p)) => l.pick(&p.title_zh, &p.title_en).to_string(),
        _ => id.to_string(),
    }
}

fn route_label(lang: Lang, r: &str) -> String {
    r.parse::<Route>()
        .map(|r| r.label(lang).to_string())
        .unwrap_or_else(|_| r.to_string())
}

fn kind_label(lang: Lang, k: &str) -> String {
    k.parse::<SubmissionType>()
        .map(|k| k.label(lang).to_string())
        .unwrap_or_else(|_| k.to_string())
}

fn decision_label(lang: Lang, d: &str) -> String {
    d.parse::<Decision>()
        .map(|d| d.label(lang).to_string())
        .unwrap_or_else(|_| d.to_string())
}

/// One submission as a row of a queue.
pub struct SubmissionLine {
    pub id: String,
    pub project: String,
    pub site: String,
    pub kind: String,
    pub route: String,
    pub status: String,
    pub decision: String,
    pub days: i64,
    pub overdue: bool,
}

async fn lines(st: &SharedState, lang: Lang, subs: &[e::SubmissionRow]) -> Vec<SubmissionLine> {
    let l = Labels(lang);
    let today = When::now().today;
    let mut out = Vec::new();
    for s in subs.iter().rev() {
        out.push(SubmissionLine {
            id: s.id.clone(),
            project: project_title(st, l, &s.project_id).await,
            site: org_name(st, l, &s.site_id).await,
            kind: kind_label(lang, &s.kind),
            route: route_label(lang, &s.route),
            status: l.t(&format!("submission.status.{}", s.status)).to_string(),
            decision: s
                .decision
                .as_deref()
                .map(|d| decision_label(lang, d))
                .unwrap_or_default(),
            days: s.clock_days(today),
            overdue: s.overdue(today),
        });
    }
    out
}

// ---------------------------------------------------------------- desk

#[derive(Template)]
#[template(path = "ethics_home.html")]
struct HomePage {
    ctx: PageCtx,
    committees: Vec<(String, String, String, usize, Vec<String>)>,
    queue: Vec<SubmissionLine>,
    /// Per committee and route with decisions or open submissions.
    clocks: Vec<(String, ClockLine)>,
}

pub async fn home(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    uri: Uri,
) -> Response {
    let ctx = PageCtx::new(lang, Some(&auth), &uri, "ethics.title");
    let l = Labels(lang);
    let store = st.store.as_ref();
    let mut committees = Vec::new();
    let list = match e::committees(store).await {
        Ok(c) => c,
        Err(err) => return page_error(lang, err),
    };
    for c in list {
        if let Ok(Some(v)) = e::committee(store, &c.id).await {
            let findings = v
                .findings
                .iter()
                .map(|f| finding_text(lang, f.code, &f.args))
                .collect();
            committees.push((
                c.id.clone(),
                org_name(&st, l, &c.id).await,
                l.t(&format!("committee.kind.{}", c.kind)).to_string(),
                v.members.len(),
                findings,
            ));
        }
    }
    // The caller's queue: a committee's own submissions, a site's own.
    let a = &auth.actor;
    let filter = match a.org_type {
        celltrail_core::access::OrgType::EthicsCommittee => e::SubmissionFilter {
            committee_id: Some(a.org_id.clone()),
            ..Default::default()
        },
        celltrail_core::access::OrgType::MedicalInstitution => e::SubmissionFilter {
            site_id: Some(a.org_id.clone()),
            ..Default::default()
        },
        _ => e::SubmissionFilter::default(),
    };
    let subs = e::submissions(store, &filter).await.unwrap_or_default();
    let queue = lines(&st, lang, &subs).await;
    let today = When::now().today;
    let mut clocks = Vec::new();
    for (id, name, _, _, _) in &committees {
        if let Ok(d) = e::dashboard(store, id, today).await {
            for c in d.routes.iter().filter(|c| c.decided + c.open > 0) {
                clocks.push((name.clone(), clock_line(lang, c)));
            }
        }
    }
    render(&HomePage {
        ctx,
        committees,
        queue,
        clocks,
    })
}

// ---------------------------------------------------------------- committee

pub struct MemberLine {
    pub name: String,
    pub role: String,
    pub expertise: String,
    pub sex: String,
    pub external: bool,
    pub since: String,
}

pub struct ClockLine {
    pub route: String,
    pub decided: u64,
    pub median: String,
    pub mean: String,
    pub max: String,
    pub open: u64,
    pub overdue: u64,
}

fn clock_line(lang: Lang, c: &e::RouteClock) -> ClockLine {
    let days = |d: Option<i64>| d.map(|d| d.to_string()).unwrap_or_else(|| "—".into());
    ClockLine {
        route: route_label(lang, &c.route),
        decided: c.decided,
        median: days(c.median_days),
        mean: c
            .mean_days
            .map(|d| format!("{d:.1}"))
            .unwrap_or_else(|| "—".into()),
        max: days(c.max_days),
        open: c.open,
        overdue: c.overdue,
    }
}

#[derive(Template)]
#[template(path = "committee.html")]
struct CommitteePage {
    ctx: PageCtx,
    id: String,
    name: String,
    kind: String,
    institution: String,
    members: Vec<MemberLine>,
    findings: Vec<String>,
    clocks: Vec<ClockLine>,
    /// (submission, project, lapses on, status label, status code)
    reviews: Vec<(String, String, String, String, String)>,
    queue: Vec<SubmissionLine>,
    /// (id, date, status)
    meetings: Vec<(String, String, String)>,
    /// Submissions that can go on a meeting's agenda: (id, label)
    schedulable: Vec<(String, String)>,
    can_manage: bool,
    expertise: Vec<(&'static str, &'static str)>,
    roles: Vec<(&'static str, &'static str)>,
    sexes: Vec<(&'static str, &'static str)>,
    today: String,
}

pub async fn committee_page(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let l = Labels(lang);
    let store = st.store.as_ref();
    let v = match e::committee(store, &id).await {
        Ok(Some(v)) => v,
        Ok(None) => return page_error(lang, StoreError::not_found("committee_not_found", id)),
        Err(err) => return page_error(lang, err),
    };
    let today = When::now().today;
    let dash = match e::dashboard(store, &id, today).await {
        Ok(d) => d,
        Err(err) => return page_error(lang, err),
    };
    let subs = e::submissions(
        store,
        &e::SubmissionFilter {
            committee_id: Some(id.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_default();
    let schedulable = {
        let mut out = Vec::new();
        for s in subs.iter().filter(|s| {
            s.decided_at.is_none()
                && s.status != "meeting"
                && (s.route.parse::<Route>().is_ok_and(|r| r.needs_meeting())
                    || s.status == "meeting_pending")
        }) {
            out.push((
                s.id.clone(),
                format!(
                    "{} · {} · {}",
                    project_title(&st, l, &s.project_id).await,
                    kind_label(lang, &s.kind),
                    route_label(lang, &s.route)
                ),
            ));
        }
        out
    };
    let mut reviews = Vec::new();
    for r in &dash.reviews {
        let code = serde_json::to_value(r.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        reviews.push((
            r.submission_id.clone(),
            project_title(&st, l, &r.project_id).await,
            r.lapses_on.clone(),
            l.t(&format!("review.status.{code}")).to_string(),
            code,
        ));
    }
    let page = CommitteePage {
        ctx: PageCtx::new(lang, Some(&auth), &uri, "committee.title"),
        name: org_name(&st, l, &id).await,
        kind: l
            .t(&format!("committee.kind.{}", v.committee.kind))
            .to_string(),
        institution: match &v.committee.institution_id {
            Some(i) => org_name(&st, l, i).await,
            None => String::new(),
        },
        members: v
            .members
            .iter()
            .map(|m| MemberLine {
                name: m.name.clone(),
                role: m
                    .role
                    .parse::<MemberRole>()
                    .map(|r| r.label(lang))
                    .unwrap_or("")
                    .to_string(),
                expertise: m
                    .expertise
                    .parse::<Expertise>()
                    .map(|x| x.label(lang))
                    .unwrap_or("")
                    .to_string(),
                sex: m
                    .sex
                    .parse::<Sex>()
                    .map(|x| x.label(lang))
                    .unwrap_or("")
                    .to_string(),
                external: m.external,
                since: m.appointed_on.clone(),
            })
            .collect(),
        findings: v
            .findings
            .iter()
            .map(|f| finding_text(lang, f.code, &f.args))
            .collect(),
        clocks: dash.routes.iter().map(|c| clock_line(lang, c)).collect(),
        reviews,
        queue: lines(&st, lang, &subs).await,
        meetings: e::meetings(store, &id)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let status = l.t(&format!("meeting.status.{}", m.status)).to_string();
                (m.id, m.held_on, status)
            })
            .collect(),
        schedulable,
        can_manage: auth.actor.org_id == id
            && auth
                .actor
                .can(celltrail_core::access::Permission::EthicsManage),
        expertise: Expertise::ALL
            .iter()
            .map(|x| (x.as_str(), x.label(lang)))
            .collect(),
        roles: MemberRole::ALL
            .iter()
            .map(|x| (x.as_str(), x.label(lang)))
            .collect(),
        sexes: Sex::ALL
            .iter()
            .map(|x| (x.as_str(), x.label(lang)))
            .collect(),
        today: today.to_string(),
        id,
    };
    render(&page)
}

pub async fn committee_appoint(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    let input = e::MemberInput {
        name: field(&f, "name").into(),
        sex: field(&f, "sex").into(),
        expertise: field(&f, "expertise").into(),
        external: field(&f, "external") == "on",
        role: field(&f, "role").into(),
        user_id: Some(field(&f, "user_id").to_string()).filter(|u| !u.is_empty()),
        appointed_on: field(&f, "appointed_on").into(),
    };
    after(
        lang,
        e::appoint_member(
            st.store.as_ref(),
            &auth.actor,
            &id,
            &input,
            field(&f, "reason"),
            &When::now(),
        )
        .await,
        |_| format!("/app/committees/{id}"),
    )
}

pub async fn committee_schedule(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    let input = e::ScheduleInput {
        held_on: field(&f, "held_on").into(),
        agenda: all(&f, "agenda"),
    };
    after(
        lang,
        e::schedule_meeting(st.store.as_ref(), &auth.actor, &id, &input, &When::now()).await,
        |m| format!("/app/meetings/{}", m.meeting.id),
    )
}

// ---------------------------------------------------------------- submission

pub struct BasisLine {
    pub instrument: String,
    pub article: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "submission.html")]
struct SubmissionPage {
    ctx: PageCtx,
    s: e::SubmissionRow,
    project: String,
    committee: String,
    site: String,
    kind: String,
    route: String,
    status: String,
    basis: Vec<BasisLine>,
    documents: Vec<e::DocumentRow>,
    /// (reviewer, kind, opinion label)
    reviewers: Vec<(String, String, String)>,
    /// (expert, reason label, organisation)
    exclusions: Vec<(String, String, String)>,
    decision: Option<(String, e::Decided)>,
    record_hash: String,
    /// The signed-in member may give an opinion.
    can_opine: bool,
    /// The signed-in chair may sign a decision without a meeting now.
    can_decide: Option<String>,
    /// (member id, name) of sitting members, for designating reviewers.
    designate: Vec<(String, String)>,
    decisions: Vec<(&'static str, &'static str)>,
}

/// The texts of the 2023 measures (and CellTrail's grading) the route cites.
fn basis_text(lang: Lang, article: &str) -> String {
    use celltrail_core::ethics as et;
    for b in [
        et::BASIS_COMPOSITION,
        et::BASIS_DECISION,
        et::BASIS_RECUSAL,
        et::BASIS_SIMPLIFIED,
        et::BASIS_SIMPLIFIED_TO_MEETING,
        et::BASIS_EXEMPTION,
        et::BASIS_MEETING,
        et::BASIS_CONTINUING,
        et::BASIS_MULTICENTRE,
        et::BASIS_SPECIAL,
    ] {
        if b.article == article {
            return b.text(lang).to_string();
        }
    }
    String::new()
}

pub async fn submission_page(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let l = Labels(lang);
    let store = st.store.as_ref();
    let v = match e::visible_submission(store, &auth.actor, &id).await {
        Ok(v) => v,
        Err(err) => return page_error(lang, err),
    };
    let s = v.submission.clone();
    let sitting = e::committee(store, &s.committee_id)
        .await
        .ok()
        .flatten()
        .map(|c| c.members)
        .unwrap_or_default();
    let me = sitting
        .iter()
        .find(|m| m.user_id.as_deref() == Some(auth.actor.user_id.as_str()));
    let undecided = s.decided_at.is_none();
    let can_opine = undecided
        && me.is_some_and(|m| {
            v.reviewers
                .iter()
                .any(|r| r.reviewer == m.id && r.opinion.is_none())
        });
    let chair = me.is_some_and(|m| matches!(m.role.as_str(), "chair" | "vice_chair"));
    let can_decide = if undecided && chair {
        v.decision_without_meeting()
            .ok()
            .map(|(d, _)| d.as_str().to_string())
    } else {
        None
    };
    let name_of = |rid: &str| {
        sitting
            .iter()
            .find(|m| m.id == rid)
            .map(|m| m.name.clone())
            .unwrap_or_else(|| rid.to_string())
    };
    let pool = e::experts(store).await.unwrap_or_default();
    let expert_name = |id: &str| {
        pool.iter()
            .find(|p| p.id == id)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let mut reviewers = Vec::new();
    for r in &v.reviewers {
        let name = if r.reviewer_kind == "expert" {
            expert_name(&r.reviewer)
        } else {
            name_of(&r.reviewer)
        };
        reviewers.push((
            name,
            l.t(&format!("reviewer.kind.{}", r.reviewer_kind))
                .to_string(),
            r.opinion
                .as_deref()
                .map(|o| decision_label(lang, o))
                .unwrap_or_else(|| l.t("reviewer.pending").to_string()),
        ));
    }
    let mut exclusions = Vec::new();
    for x in &v.exclusions {
        exclusions.push((
            expert_name(&x.expert),
            l.t(&format!("exclusion.{}", x.reason)).to_string(),
            org_name(&st, l, &x.org).await,
        ));
    }
    let page = SubmissionPage {
        ctx: PageCtx::new(lang, Some(&auth), &uri, "submission.title"),
        exclusions,
        project: project_title(&st, l, &s.project_id).await,
        committee: org_name(&st, l, &s.committee_id).await,
        site: org_name(&st, l, &s.site_id).await,
        kind: kind_label(lang, &s.kind),
        route: route_label(lang, &s.route),
        status: l.t(&format!("submission.status.{}", s.status)).to_string(),
        basis: s
            .basis
            .iter()
            .map(|b| BasisLine {
                instrument: crate::letter::instrument_title(&st, lang, &b.instrument),
                article: b.article.clone(),
                text: basis_text(lang, &b.article),
            })
            .collect(),
        documents: v.documents.clone(),
        reviewers,
        decision: v
            .decision
            .clone()
            .map(|d| (decision_label(lang, &d.decision), d)),
        record_hash: v.record_hash.clone(),
        can_opine,
        can_decide,
        designate: if undecided
            && s.route == "simplified"
            && v.reviewers.is_empty()
            && auth.actor.org_id == s.committee_id
            && auth
                .actor
                .can(celltrail_core::access::Permission::EthicsManage)
        {
            sitting
                .iter()
                .map(|m| (m.id.clone(), m.name.clone()))
                .collect()
        } else {
            Vec::new()
        },
        decisions: Decision::ALL
            .iter()
            .map(|d| (d.as_str(), d.label(lang)))
            .collect(),
        s,
    };
    render(&page)
}

pub async fn submission_reviewers(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    after(
        lang,
        e::assign_reviewers(
            st.store.as_ref(),
            &auth.actor,
            &id,
            &all(&f, "member"),
            &When::now(),
        )
        .await,
        |_| format!("/app/submissions/{id}"),
    )
}

pub async fn submission_opinion(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    let input = e::OpinionInput {
        opinion: field(&f, "opinion").into(),
        note: field(&f, "note").into(),
        meeting_requested: field(&f, "meeting_requested") == "on",
    };
    after(
        lang,
        e::give_opinion(st.store.as_ref(), &auth.actor, &id, &input, &When::now()).await,
        |_| format!("/app/submissions/{id}"),
    )
}

fn decide_input(f: &Fields) -> e::DecideInput {
    e::DecideInput {
        review_interval_months: field(f, "review_interval_months").parse().ok(),
        conditions: field(f, "conditions").into(),
        signature: signature(f),
    }
}

pub async fn submission_decide(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    after(
        lang,
        e::decide_without_meeting(
            st.store.as_ref(),
            &auth.actor,
            &id,
            &decide_input(&f),
            &When::now(),
        )
        .await,
        |_| format!("/app/submissions/{id}"),
    )
}

// ---------------------------------------------------------------- meeting

pub struct ItemLine {
    pub submission: String,
    pub label: String,
    pub quorum: Vec<String>,
    /// (member name, vote label)
    pub votes: Vec<(String, String)>,
    pub decision: String,
    pub decided: bool,
    /// (member id, name, recused)
    pub recusable: Vec<(String, String, bool)>,
    pub record_hash: String,
}

#[derive(Template)]
#[template(path = "meeting.html")]
struct MeetingPage {
    ctx: PageCtx,
    id: String,
    committee_id: String,
    committee: String,
    held_on: String,
    status: String,
    /// (member id, name, role label, present)
    members: Vec<(String, String, String, bool)>,
    items: Vec<ItemLine>,
    can_manage: bool,
    can_vote: bool,
    decisions: Vec<(&'static str, &'static str)>,
}

pub async fn meeting_page(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let l = Labels(lang);
    let m = match crate::ethics::visible_meeting(&st, &auth.actor, &id).await {
        Ok(m) => m,
        Err(err) => return page_error(lang, err),
    };
    let name_of = |mid: &str| {
        m.members
            .iter()
            .find(|x| x.id == mid)
            .map(|x| x.name.clone())
            .unwrap_or_else(|| mid.to_string())
    };
    let mut items = Vec::new();
    for i in &m.items {
        let sub = e::submission(st.store.as_ref(), &i.submission_id)
            .await
            .ok()
            .flatten();
        let label = match &sub {
            Some(s) => format!(
                "{} · {} · {}",
                project_title(&st, l, &s.submission.project_id).await,
                kind_label(lang, &s.submission.kind),
                route_label(lang, &s.submission.route)
            ),
            None => i.submission_id.clone(),
        };
        let quorum = m
            .quorum
            .iter()
            .find(|(s, _)| *s == i.submission_id)
            .map(|(_, f)| {
                f.iter()
                    .map(|x| finding_text(lang, x.code, &x.args))
                    .collect()
            })
            .unwrap_or_default();
        items.push(ItemLine {
            submission: i.submission_id.clone(),
            label,
            quorum,
            votes: i
                .votes
                .iter()
                .map(|v| {
                    (
                        name_of(&v.member),
                        v.decision
                            .map(|d| d.label(lang).to_string())
                            .unwrap_or_else(|| l.t("vote.abstain").to_string()),
                    )
                })
                .collect(),
            decision: i
                .decision
                .as_deref()
                .map(|d| decision_label(lang, d))
                .unwrap_or_default(),
            decided: sub
                .as_ref()
                .is_some_and(|s| s.submission.decided_at.is_some()),
            recusable: m
                .members
                .iter()
                .map(|x| (x.id.clone(), x.name.clone(), i.recused.contains(&x.id)))
                .collect(),
            record_hash: sub.map(|s| s.record_hash).unwrap_or_default(),
        });
    }
    let me_chair = m.members.iter().any(|x| {
        x.user_id.as_deref() == Some(auth.actor.user_id.as_str())
            && matches!(x.role.as_str(), "chair" | "vice_chair")
    });
    let page = MeetingPage {
        ctx: PageCtx::new(lang, Some(&auth), &uri, "meeting.title"),
        committee: org_name(&st, l, &m.meeting.committee_id).await,
        committee_id: m.meeting.committee_id.clone(),
        held_on: m.meeting.held_on.clone(),
        status: l
            .t(&format!("meeting.status.{}", m.meeting.status))
            .to_string(),
        members: m
            .members
            .iter()
            .map(|x| {
                (
                    x.id.clone(),
                    x.name.clone(),
                    x.role
                        .parse::<MemberRole>()
                        .map(|r| r.label(lang))
                        .unwrap_or("")
                        .to_string(),
                    m.meeting.present.contains(&x.id),
                )
            })
            .collect(),
        items,
        can_manage: auth.actor.org_id == m.meeting.committee_id
            && auth
                .actor
                .can(celltrail_core::access::Permission::EthicsManage),
        can_vote: me_chair && m.meeting.status == "held",
        decisions: Decision::ALL
            .iter()
            .map(|d| (d.as_str(), d.label(lang)))
            .collect(),
        id,
    };
    render(&page)
}

pub async fn meeting_attendance(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    // Recusals arrive as `recused` = "<submission>|<member>".
    let mut recused: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in all(&f, "recused") {
        if let Some((s, m)) = r.split_once('|') {
            recused
                .entry(s.to_string())
                .or_default()
                .push(m.to_string());
        }
    }
    let input = e::AttendanceInput {
        present: all(&f, "present"),
        recused,
    };
    after(
        lang,
        e::record_attendance(st.store.as_ref(), &auth.actor, &id, &input, &When::now()).await,
        |_| format!("/app/meetings/{id}"),
    )
}

pub async fn meeting_vote(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path((id, submission)): Path<(String, String)>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    // Votes arrive as `vote_<member>` = decision, or empty to abstain; a
    // member absent from the form did not vote.
    let votes = f
        .iter()
        .filter_map(|(k, v)| {
            let member = k.strip_prefix("vote_")?;
            Some(celltrail_core::ethics::Vote {
                member: member.to_string(),
                decision: v.parse().ok(),
                opinion: String::new(),
            })
        })
        .collect();
    let input = e::VoteInput {
        votes,
        decide: decide_input(&f),
    };
    after(
        lang,
        e::vote_item(
            st.store.as_ref(),
            &auth.actor,
            &id,
            &submission,
            &input,
            &When::now(),
        )
        .await,
        |_| format!("/app/meetings/{id}"),
    )
}

// ---------------------------------------------------------------- study

pub struct SubjectLine {
    pub id: String,
    pub code: String,
    pub site: String,
    pub status: String,
    pub status_code: String,
    pub version: i64,
    pub scopes: Vec<&'static str>,
    pub samples: String,
    pub reconsent: bool,
    pub mine: bool,
}

#[derive(Template)]
#[template(path = "project_ethics.html")]
struct ProjectEthicsPage {
    ctx: PageCtx,
    id: String,
    title: String,
    queue: Vec<SubmissionLine>,
    /// (site, committee, status label, agreement, local considerations, own review)
    reliances: Vec<(String, String, String, String, String, Option<String>)>,
    days_saved: i64,
    /// (version, asks labels, material change, approved at)
    versions: Vec<(i64, Vec<&'static str>, bool, String)>,
    subjects: Vec<SubjectLine>,
    pending: usize,
    scopes: Vec<(&'static str, &'static str)>,
    dispositions: Vec<(&'static str, &'static str)>,
    link: Option<(String, String)>,
    can_export: bool,
    any_mine: bool,
    forms: StudyForms,
    /// (site, status label, status code, lapses on)
    approvals: Vec<(String, String, String, String)>,
}

/// What the study page offers the signed-in user to do.
#[derive(Default)]
pub struct StudyForms {
    /// Submit for review: committees (id, name).
    pub committees: Vec<(String, String)>,
    pub kinds: Vec<(&'static str, &'static str)>,
    pub grounds: Vec<(&'static str, &'static str)>,
    pub doc_kinds: Vec<(&'static str, &'static str)>,
    pub can_submit: bool,
    /// The lead's approved initial review this institution may propose for
    /// reliance, with the medical institutions to propose it to.
    pub lead: Option<String>,
    pub institutions: Vec<(String, String)>,
    /// Reliances the signed-in committee moves: (id, site, next statuses).
    pub my_reliances: Vec<(String, String, Choices)>,
    /// Enrol and record consent at the signed-in site.
    pub can_consent: bool,
    pub versions: Vec<i64>,
    pub today: String,
}

async fn show_project_ethics(
    st: &SharedState,
    lang: Lang,
    auth: &Auth,
    uri: &Uri,
    id: &str,
    link: Option<(String, String)>,
) -> Response {
    let l = Labels(lang);
    let pe = match crate::ethics::project_ethics(st, auth, id).await {
        Ok(p) => p,
        Err(err) => return page_error(lang, err),
    };
    let mut reliances = Vec::new();
    for r in &pe.reliances {
        let status = r
            .status
            .parse::<celltrail_core::ethics::RelianceStatus>()
            .map(|s| s.label(lang).to_string())
            .unwrap_or_else(|_| r.status.clone());
        reliances.push((
            org_name(st, l, &r.site_id).await,
            org_name(st, l, &r.committee_id).await,
            status,
            r.agreement.clone(),
            r.local_considerations.clone(),
            r.own_submission_id.clone(),
        ));
    }
    let pending: Vec<&str> = pe
        .pending_reconsent
        .iter()
        .map(|(s, _)| s.as_str())
        .collect();
    let mut subjects = Vec::new();
    for s in &pe.subjects {
        subjects.push(SubjectLine {
            id: s.id.clone(),
            code: s.code.clone(),
            site: org_name(st, l, &s.site_id).await,
            status: l.t(&format!("subject.status.{}", s.status)).to_string(),
            status_code: s.status.clone(),
            version: s.consent_version,
            scopes: s.scopes.iter().map(|x| x.label(lang)).collect(),
            samples: s
                .samples
                .as_deref()
                .and_then(|x| x.parse::<SampleDisposition>().ok())
                .map(|x| x.label(lang).to_string())
                .unwrap_or_default(),
            reconsent: pending.contains(&s.id.as_str()),
            mine: s.site_id == auth.actor.org_id,
        });
    }
    let page = ProjectEthicsPage {
        ctx: PageCtx::new(lang, Some(auth), uri, "project_ethics.title"),
        id: id.to_string(),
        title: project_title(st, l, id).await,
        queue: lines(st, lang, &pe.submissions).await,
        reliances,
        days_saved: pe.days_saved_by_reliance,
        versions: pe
            .consent_versions
            .iter()
            .map(|v| {
                (
                    v.version,
                    v.asks.iter().map(|x| x.label(lang)).collect(),
                    v.material_change,
                    l.time(&v.approved_at),
                )
            })
            .collect(),
        pending: pe.pending_reconsent.len(),
        subjects,
        scopes: Scope::ALL
            .iter()
            .map(|x| (x.as_str(), x.label(lang)))
            .collect(),
        dispositions: SampleDisposition::ALL
            .iter()
            .map(|x| (x.as_str(), x.label(lang)))
            .collect(),
        link,
        can_export: auth
            .actor
            .can(celltrail_core::access::Permission::DataExport),
        any_mine: pe.subjects.iter().any(|s| s.site_id == auth.actor.org_id),
        forms: study_forms(st, lang, auth, &pe).await,
        approvals: {
            let mut out = Vec::new();
            for a in &pe.approvals {
                out.push((
                    org_name(st, l, &a.site_id).await,
                    l.t(&format!("approval.{}", a.status)).to_string(),
                    a.status.clone(),
                    a.lapses_on.clone().unwrap_or_default(),
                ));
            }
            out
        },
    };
    render(&page)
}

async fn study_forms(
    st: &SharedState,
    lang: Lang,
    auth: &Auth,
    pe: &crate::ethics::ProjectEthics,
) -> StudyForms {
    use celltrail_core::access::{OrgType, Permission};
    use celltrail_core::ethics::{ExemptionGround, RelianceStatus};
    let l = Labels(lang);
    let a = &auth.actor;
    let store = st.store.as_ref();
    let mut f = StudyForms {
        today: When::now().today.to_string(),
        ..Default::default()
    };
    let site = a.org_type == OrgType::MedicalInstitution;
    if site && a.can(Permission::EthicsSubmit) {
        f.can_submit = true;
        for c in e::committees(store).await.unwrap_or_default() {
            let name = org_name(st, l, &c.id).await;
            f.committees.push((c.id, name));
        }
        f.kinds = SubmissionType::ALL
            .iter()
            .map(|k| (k.as_str(), k.label(lang)))
            .collect();
        f.grounds = ExemptionGround::ALL
            .iter()
            .map(|g| (g.as_str(), l.t(&format!("exemption.{}", g.as_str()))))
            .collect();
        f.doc_kinds = e::DOCUMENT_KINDS
            .iter()
            .map(|k| (*k, l.t(&format!("doc.{k}"))))
            .collect();
        f.lead = pe
            .submissions
            .iter()
            .filter(|s| s.site_id == a.org_id && s.kind == "initial" && s.approved())
            .map(|s| s.id.clone())
            .next_back();
        if f.lead.is_some() {
            let orgs = store
                .organisations(&celltrail_store::OrgFilter {
                    org_type: Some(OrgType::MedicalInstitution.as_str().into()),
                    limit: Some(500),
                    ..Default::default()
                })
                .await
                .unwrap_or_default();
            f.institutions = orgs
                .into_iter()
                .filter(|o| o.id != a.org_id && !pe.reliances.iter().any(|r| r.site_id == o.id))
                .map(|o| {
                    let name = l.pick(&o.name_zh, &o.name_en).to_string();
                    (o.id, name)
                })
                .collect();
        }
    }
    if a.org_type == OrgType::EthicsCommittee && a.can(Permission::EthicsManage) {
        for r in pe.reliances.iter().filter(|r| r.committee_id == a.org_id) {
            let next = r
                .status
                .parse::<RelianceStatus>()
                .map(|s| {
                    s.next()
                        .iter()
                        .map(|n| (n.as_str(), n.label(lang)))
                        .collect()
                })
                .unwrap_or_default();
            f.my_reliances
                .push((r.id.clone(), org_name(st, l, &r.site_id).await, next));
        }
    }
    f.can_consent = site && a.can(Permission::ConsentRecord);
    f.versions = pe.consent_versions.iter().map(|v| v.version).collect();
    f
}

pub async fn project_ethics_page(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    show_project_ethics(&st, lang, &auth, &uri, &id, None).await
}

/// Issues a subject's personal link and shows it once on the study page.
pub async fn subject_link_page(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    uri: Uri,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    let store = st.store.as_ref();
    let subject = match e::subject(store, &id).await {
        Ok(Some(s)) => s,
        Ok(None) => return page_error(lang, StoreError::not_found("subject_not_found", id)),
        Err(err) => return page_error(lang, err),
    };
    if let Err(err) = visible_project(store, &auth.actor, &subject.project_id).await {
        return page_error(lang, err);
    }
    match e::issue_subject_link(store, &auth.actor, &id).await {
        Ok(token) => {
            let link = (subject.code.clone(), format!("/consent/{token}"));
            show_project_ethics(&st, lang, &auth, &uri, &subject.project_id, Some(link)).await
        }
        Err(err) => page_error(lang, err),
    }
}

fn withdraw_input(f: &Fields) -> e::WithdrawInput {
    e::WithdrawInput {
        scopes: all(f, "scope"),
        whole: field(f, "whole") == "on",
        samples: Some(field(f, "samples").to_string()).filter(|s| !s.is_empty()),
        reason: field(f, "reason").to_string(),
    }
}

pub async fn subject_withdraw_page(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    // The study page's form names the subject in a field.
    let id = named(id, &f, "subject");
    after(
        lang,
        e::withdraw_consent(
            st.store.as_ref(),
            &auth.actor,
            &id,
            &withdraw_input(&f),
            &When::now(),
        )
        .await,
        |s| format!("/app/projects/{}/ethics", s.project_id),
    )
}

// ---------------------------------------------------------------- subject

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    ctx: PageCtx,
    token: String,
    code: String,
    study: String,
    site: String,
    status: String,
    withdrawn: bool,
    /// (scope, label, granted now)
    scopes: Vec<(&'static str, &'static str, bool)>,
    /// (day, change label, scopes)
    history: Vec<(String, String, Vec<&'static str>)>,
    dispositions: Vec<(&'static str, &'static str)>,
    done: bool,
    error: Option<String>,
}

async fn show_consent(
    st: &SharedState,
    lang: Lang,
    uri: &Uri,
    token: &str,
    done: bool,
    error: Option<String>,
) -> Response {
    let l = Labels(lang);
    let s = match e::subject_for_link(st.store.as_ref(), token).await {
        Ok(s) => s,
        Err(err) => return page_error(lang, err),
    };
    let timeline = Timeline::parse(&s.timeline).unwrap_or_default();
    let now = timeline.scopes_at(When::now().today);
    let history = timeline
        .entries()
        .into_iter()
        .map(|(day, change)| {
            let (key, scopes) = match change {
                Change::Grant(x) => ("consent.granted", x),
                Change::Withdraw(x) => ("consent.withdrawn", x),
            };
            let labels = scopes.iter().map(|sc| sc.label(lang)).collect();
            (day.to_string(), l.t(key).to_string(), labels)
        })
        .collect();
    let page = ConsentPage {
        ctx: PageCtx::new(lang, None, uri, "consent.title"),
        token: token.to_string(),
        code: s.code.clone(),
        study: project_title(st, l, &s.project_id).await,
        site: org_name(st, l, &s.site_id).await,
        status: l.t(&format!("subject.status.{}", s.status)).to_string(),
        withdrawn: s.status == "withdrawn",
        scopes: Scope::ALL
            .iter()
            .map(|x| (x.as_str(), x.label(lang), now.contains(*x)))
            .collect(),
        history,
        dispositions: SampleDisposition::ALL
            .iter()
            .map(|x| (x.as_str(), x.label(lang)))
            .collect(),
        done,
        error,
    };
    render(&page)
}

pub async fn consent_page(
    State(st): State<SharedState>,
    L(lang): L,
    uri: Uri,
    Path(token): Path<String>,
) -> Response {
    let done = uri.query().is_some_and(|q| q.contains("done=1"));
    show_consent(&st, lang, &uri, &token, done, None).await
}

/// The subject withdraws permissions, in part or whole, through their link.
/// The link itself is the secret a cross-site form cannot know.
pub async fn consent_change(
    State(st): State<SharedState>,
    L(lang): L,
    uri: Uri,
    Path(token): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    match e::withdraw_by_subject(st.store.as_ref(), &token, &withdraw_input(&f), &When::now()).await
    {
        Ok(_) => Redirect::to(&format!("/consent/{token}?done=1")).into_response(),
        Err(err) if err.kind == celltrail_store::error::ErrorKind::Invalid => {
            let args: Vec<(&str, String)> = err
                .args
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            let msg = finding_text(lang, err.code, &args);
            show_consent(&st, lang, &uri, &token, false, Some(msg)).await
        }
        Err(err) => page_error(lang, err),
    }
}

// ---------------------------------------------------------------- forms

/// Files larger than this are refused by the submission form.
pub const MAX_UPLOAD_BYTES: usize = 25 * 1024 * 1024;

/// The study page's "submit for ethics review" form (multipart: the fields,
/// and up to four documents each with its kind, language and version).
pub async fn submit_form(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    mut multipart: axum::extract::Multipart,
) -> Response {
    use base64::Engine as _;
    let mut fields: Fields = Vec::new();
    let mut files: Vec<(String, String, Vec<u8>)> = Vec::new();
    loop {
        let part = match multipart.next_field().await {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(_) => {
                return page_error(
                    lang,
                    StoreError::invalid("document_content_invalid", "documents", "upload"),
                )
            }
        };
        let name = part.name().unwrap_or_default().to_string();
        if let Some(file_name) = part.file_name().map(str::to_string) {
            let media = part
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_string();
            match part.bytes().await {
                Ok(b) if b.is_empty() => {}
                Ok(b) => files.push((name, format!("{file_name}\u{1}{media}"), b.to_vec())),
                Err(_) => {
                    return page_error(
                        lang,
                        StoreError::invalid("document_content_invalid", "documents", "upload"),
                    )
                }
            }
        } else if let Ok(text) = part.text().await {
            fields.push((name, text));
        }
    }
    if let Err(err) = auth.check_csrf(field(&fields, "csrf")) {
        return page_error(lang, err);
    }
    let on = |k: &str| field(&fields, k) == "on";
    let mut documents = Vec::new();
    for (slot, meta, bytes) in files {
        let i = slot.trim_start_matches("file_");
        let (filename, media) = meta.split_once('\u{1}').unwrap_or((&meta, ""));
        documents.push(e::DocumentInput {
            doc_kind: field(&fields, &format!("kind_{i}")).to_string(),
            lang: field(&fields, &format!("lang_{i}")).to_string(),
            version: field(&fields, &format!("version_{i}")).to_string(),
            filename: filename.to_string(),
            media_type: media.to_string(),
            content_b64: base64::engine::general_purpose::STANDARD.encode(bytes),
        });
    }
    let consent_version = match field(&fields, "consent_version").parse::<u32>() {
        Ok(v) if v > 0 => Some(celltrail_core::consent::VersionTerms {
            version: v,
            asks: all(&fields, "asks")
                .iter()
                .filter_map(|s| s.parse::<Scope>().ok())
                .collect(),
            material_change: on("material_change"),
        }),
        _ => None,
    };
    let input = e::SubmissionInput {
        committee_id: field(&fields, "committee_id").to_string(),
        kind: field(&fields, "kind").to_string(),
        facts: celltrail_core::ethics::RouteFacts {
            minimal_risk: on("minimal_risk"),
            minor_amendment: on("minor_amendment"),
            intervention: on("intervention"),
            exemption: field(&fields, "exemption").parse().ok(),
            sensitive_or_commercial: on("sensitive_or_commercial"),
            unexpected_related_or_fatal: on("unexpected_related_or_fatal"),
            new_risk: on("new_risk"),
            ..Default::default()
        },
        consent_version,
        lead_id: None,
        documents,
    };
    after(
        lang,
        e::submit(st.store.as_ref(), &auth.actor, &id, &input, &When::now()).await,
        |v| format!("/app/submissions/{}", v.submission.id),
    )
}

pub async fn propose_reliance_form(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    let input = e::ProposeInput {
        site_id: field(&f, "site_id").into(),
        committee_id: field(&f, "committee_id").into(),
    };
    after(
        lang,
        e::propose_reliance(st.store.as_ref(), &auth.actor, &id, &input, &When::now()).await,
        |r| format!("/app/projects/{}/ethics", r.project_id),
    )
}

pub async fn move_reliance_form(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    let opt = |k: &str| Some(field(&f, k).to_string()).filter(|s| !s.trim().is_empty());
    let input = e::MoveRelianceInput {
        to: field(&f, "to").into(),
        agreement: opt("agreement"),
        local_considerations: opt("local_considerations"),
        reason: field(&f, "reason").into(),
    };
    after(
        lang,
        e::move_reliance(st.store.as_ref(), &auth.actor, &id, &input, &When::now()).await,
        |r| format!("/app/projects/{}/ethics", r.project_id),
    )
}

pub async fn enrol_form(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    let input = e::EnrolInput {
        code: field(&f, "code").into(),
        enrolled_on: field(&f, "enrolled_on").into(),
    };
    after(
        lang,
        e::enrol_subject(st.store.as_ref(), &auth.actor, &id, &input, &When::now()).await,
        |_| format!("/app/projects/{id}/ethics#subjects"),
    )
}

/// Site staff record a signed consent (the study page's form names the
/// subject in a field).
pub async fn consent_form(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    let id = named(id, &f, "subject");
    let opt = |k: &str| Some(field(&f, k).to_string()).filter(|s| !s.trim().is_empty());
    let input = e::ConsentInput {
        version: field(&f, "version").parse().unwrap_or(0),
        signed_on: field(&f, "signed_on").into(),
        method: field(&f, "method").into(),
        age_years: field(&f, "age_years").parse().unwrap_or(0),
        can_read: field(&f, "cannot_read") != "on",
        witness: opt("witness"),
        guardian: opt("guardian"),
        assent: (field(&f, "assent") == "on").then_some(true),
        scopes: all(&f, "scope"),
    };
    match e::record_consent(st.store.as_ref(), &auth.actor, &id, &input, &When::now()).await {
        Ok(s) => {
            Redirect::to(&format!("/app/projects/{}/ethics#subjects", s.project_id)).into_response()
        }
        Err(err) => page_error(lang, err),
    }
}

// ---------------------------------------------------------------- experts

#[derive(Template)]
#[template(path = "experts.html")]
struct ExpertsPage {
    ctx: PageCtx,
    /// (id, name, affiliation, tags, interests, open reviews)
    experts: Vec<ExpertLine>,
    tags: Vec<(&'static str, &'static str)>,
    orgs: Vec<(String, String)>,
    can_manage: bool,
}

fn tag_label(l: Labels, t: &str) -> &'static str {
    l.t(&format!("expert.tag.{t}"))
}

pub async fn experts_page(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    uri: Uri,
) -> Response {
    let l = Labels(lang);
    let pool = match e::experts(st.store.as_ref()).await {
        Ok(p) => p,
        Err(err) => return page_error(lang, err),
    };
    let mut experts = Vec::new();
    for x in pool {
        let mut interests = Vec::new();
        for o in x.interests.split(',').filter(|s| !s.is_empty()) {
            interests.push(org_name(&st, l, o).await);
        }
        experts.push((
            x.id.clone(),
            x.name.clone(),
            org_name(&st, l, &x.affiliation).await,
            x.tags
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|t| tag_label(l, t))
                .collect(),
            interests,
            x.open_reviews,
        ));
    }
    let orgs = st
        .store
        .organisations(&celltrail_store::OrgFilter {
            limit: Some(500),
            ..Default::default()
        })
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|o| {
            let name = l.pick(&o.name_zh, &o.name_en).to_string();
            (o.id, name)
        })
        .collect();
    render(&ExpertsPage {
        ctx: PageCtx::new(lang, Some(&auth), &uri, "experts.title"),
        experts,
        tags: celltrail_core::ethics::EXPERT_TAGS
            .iter()
            .map(|t| (*t, tag_label(l, t)))
            .collect(),
        orgs,
        can_manage: auth
            .actor
            .can(celltrail_core::access::Permission::ExpertPoolManage),
    })
}

pub async fn expert_create(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    let input = e::ExpertInput {
        name: field(&f, "name").into(),
        affiliation: field(&f, "affiliation").into(),
        tags: all(&f, "tag"),
    };
    after(
        lang,
        e::register_expert(st.store.as_ref(), &auth.actor, &input, &When::now()).await,
        |_| "/app/experts".to_string(),
    )
}

pub async fn expert_interest(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    let id = named(id, &f, "expert");
    after(
        lang,
        e::declare_interest(
            st.store.as_ref(),
            &auth.actor,
            &id,
            field(&f, "org_id"),
            field(&f, "nature"),
            &When::now(),
        )
        .await,
        |_| "/app/experts".to_string(),
    )
}
