//! The safety screens: the safety desk (adverse events with their clocks,
//! overdue reports per institution and sponsor, priority flags), the
//! adverse-event form with live ASTCT grading, one adverse event with its
//! versions and reports, the signals of the national database (sortable
//! table and plot), and long-term follow-up with completeness per centre.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use celltrail_core::safety as csf;
use celltrail_core::Lang;
use celltrail_store::safety as sf;
use celltrail_store::service::When;
use serde_json::Value;

use crate::ethics_pages::{after, field, org_name, Fields};
use crate::i18n::{Labels, L};
use crate::pages::{page_error, render, PageCtx};
use crate::safety::{ClockView, SignalQuery};
use crate::session::Auth;
use crate::SharedState;

/// The live-grading script of the adverse-event form (same origin, so the
/// content security policy allows it).
pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/safety.js"),
    )
}

fn short(s: &str) -> String {
    s.chars().take(16).collect::<String>().replace('T', " ")
}

/// An adverse event as the desk lists it.
#[derive(Clone)]
pub struct AeLine {
    pub id: String,
    pub term: String,
    pub product: String,
    pub site: String,
    pub patient: String,
    pub onset: String,
    pub serious: bool,
    pub seriousness: String,
    pub crs: String,
    pub icans: String,
    pub kind: String,
    pub kind_label: String,
    pub clocks: Vec<(String, String, String, String)>,
    pub malignancy: bool,
    pub version: i64,
    pub national: bool,
}

fn seriousness_text(l: Labels, list: &str) -> String {
    list.split(',')
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse::<csf::Seriousness>().ok())
        .map(|s| s.label(l.0))
        .collect::<Vec<_>>()
        .join(if l.is_zh() { "、" } else { ", " })
}

fn kind_label(l: Labels, k: &str) -> String {
    k.parse::<csf::ReportKind>()
        .map(|k| k.label(l.0).to_string())
        .unwrap_or_else(|_| k.to_string())
}

fn clock_lines(l: Labels, r: &sf::AeRow) -> Vec<(String, String, String, String)> {
    r.clocks(When::now().today)
        .into_iter()
        .map(|(kind, due, status)| {
            (
                l.t(&format!("safety.clock.{kind}")).to_string(),
                due.to_string(),
                status.as_str().to_string(),
                status.label(l.0).to_string(),
            )
        })
        .collect()
}

async fn ae_line(st: &SharedState, l: Labels, r: &sf::AeRow, code: &str) -> AeLine {
    AeLine {
        id: r.id.clone(),
        term: r.term.clone(),
        product: r.product.clone(),
        site: org_name(st, l, &r.site_id).await,
        patient: code.to_string(),
        onset: r.onset.clone(),
        serious: r.serious == 1,
        seriousness: seriousness_text(l, &r.seriousness),
        crs: r.crs_grade.map(|g| g.to_string()).unwrap_or_default(),
        icans: r.icans_grade.map(|g| g.to_string()).unwrap_or_default(),
        kind: r.report_kind.clone(),
        kind_label: kind_label(l, &r.report_kind),
        clocks: clock_lines(l, r),
        malignancy: r.malignancy == 1,
        version: r.version,
        national: r.national_id.is_some(),
    }
}

/// (organisation, expedited, open, due soon, overdue, on time, late)
type ClockRow = (String, u32, u32, u32, u32, u32, u32);

async fn clock_rows(st: &SharedState, l: Labels, list: &[sf::ClockSummary]) -> Vec<ClockRow> {
    let mut out = Vec::new();
    for c in list {
        out.push((
            org_name(st, l, &c.org_id).await,
            c.expedited,
            c.open,
            c.due_soon,
            c.overdue,
            c.sent_on_time,
            c.sent_late,
        ));
    }
    out
}

#[derive(Template)]
#[template(path = "safety_home.html")]
struct HomePage {
    ctx: PageCtx,
    aes: Vec<AeLine>,
    flagged: Vec<AeLine>,
    sites: Vec<ClockRow>,
    sponsors: Vec<ClockRow>,
    can_report: bool,
    can_signal: bool,
}

pub async fn safety_home(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    uri: Uri,
) -> Response {
    let l = Labels(lang);
    let s = st.store.as_ref();
    let list = match sf::aes(s, &auth.actor).await {
        Ok(v) => v,
        Err(e) => return page_error(lang, e),
    };
    let mut aes = Vec::new();
    let mut flagged = Vec::new();
    for r in &list {
        let code = sf::latest_record(s, &r.id)
            .await
            .map(|rec| rec.subject_code)
            .unwrap_or_default();
        let line = ae_line(&st, l, r, &code).await;
        if r.malignancy == 1 {
            flagged.push(line.clone());
        }
        aes.push(line);
    }
    let (sites, sponsors) = sf::clock_dashboard(s, &auth.actor, When::now().today)
        .await
        .unwrap_or_default();
    render(&HomePage {
        ctx: PageCtx::new(lang, Some(&auth), &uri, "safety.title"),
        sites: clock_rows(&st, l, &sites).await,
        sponsors: clock_rows(&st, l, &sponsors).await,
        aes,
        flagged,
        can_report: auth
            .actor
            .can(celltrail_core::access::Permission::SafetyReport),
        can_signal: auth
            .actor
            .can(celltrail_core::access::Permission::SignalRead),
    })
}

/// (value, label) of a select.
type Choice = (String, String);

fn choices<T: Copy>(
    all: &[T],
    s: impl Fn(T) -> &'static str,
    label: impl Fn(T) -> &'static str,
) -> Vec<Choice> {
    all.iter()
        .map(|v| (s(*v).to_string(), label(*v).to_string()))
        .collect()
}

#[derive(Template)]
#[template(path = "safety_ae_new.html")]
struct NewPage {
    ctx: PageCtx,
    patients: Vec<Choice>,
    classes: Vec<Choice>,
    seriousness: Vec<Choice>,
    hypotension: Vec<Choice>,
    hypoxia: Vec<Choice>,
    consciousness: Vec<Choice>,
    seizure: Vec<Choice>,
    motor: Vec<Choice>,
    edema: Vec<Choice>,
    expectedness: Vec<Choice>,
    causality: Vec<Choice>,
    outcome: Vec<Choice>,
    sponsors: Vec<Choice>,
    today: String,
}

pub async fn ae_new(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    uri: Uri,
) -> Response {
    let l = Labels(lang);
    let s = st.store.as_ref();
    let patients = match sf::reportable_patients(s, &auth.actor).await {
        Ok(p) => p,
        Err(e) => return page_error(lang, e),
    };
    let mut titles: std::collections::HashMap<String, String> = Default::default();
    let mut choices_ = Vec::new();
    for p in patients {
        let Some(project) = p.project_id else {
            continue;
        };
        if !titles.contains_key(&project) {
            let title = match s.project(&project).await {
                Ok(Some(x)) => l.pick(&x.title_zh, &x.title_en).to_string(),
                _ => project.clone(),
            };
            titles.insert(project.clone(), title);
        }
        choices_.push((
            format!("{}|{}:{}", project, p.kind, p.id),
            format!("{} · {}", p.code, titles[&project]),
        ));
    }
    let patients = choices_;
    let sponsors = s
        .organisations(&celltrail_store::OrgFilter {
            org_type: Some("sponsor".into()),
            ..Default::default()
        })
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|o| (o.id.clone(), l.pick(&o.name_zh, &o.name_en).to_string()))
        .collect();
    render(&NewPage {
        ctx: PageCtx::new(lang, Some(&auth), &uri, "safety.new_title"),
        patients,
        classes: sf::PRODUCT_CLASSES
            .iter()
            .map(|c| (c.to_string(), l.t(&format!("safety.class.{c}")).to_string()))
            .collect(),
        seriousness: choices(csf::Seriousness::ALL, |v| v.as_str(), |v| v.label(lang)),
        hypotension: choices(csf::Hypotension::ALL, |v| v.as_str(), |v| v.label(lang)),
        hypoxia: choices(csf::Hypoxia::ALL, |v| v.as_str(), |v| v.label(lang)),
        consciousness: choices(csf::Consciousness::ALL, |v| v.as_str(), |v| v.label(lang)),
        seizure: choices(csf::Seizure::ALL, |v| v.as_str(), |v| v.label(lang)),
        motor: choices(csf::Motor::ALL, |v| v.as_str(), |v| v.label(lang)),
        edema: choices(csf::CerebralEdema::ALL, |v| v.as_str(), |v| v.label(lang)),
        expectedness: choices(csf::Expectedness::ALL, |v| v.as_str(), |v| v.label(lang)),
        causality: choices(csf::Causality::ALL, |v| v.as_str(), |v| v.label(lang)),
        outcome: choices(csf::Outcome::ALL, |v| v.as_str(), |v| v.label(lang)),
        sponsors,
        today: When::now().today.to_string(),
    })
}

fn opt(f: &Fields, name: &str) -> Option<String> {
    Some(field(f, name).trim().to_string()).filter(|s| !s.is_empty())
}

/// The grading observations a form section holds, or none when it is left
/// blank.
fn section(
    f: &Fields,
    prefix: &str,
    keys: &[&str],
    numbers: &[&str],
    flags: &[&str],
) -> Option<Value> {
    let mut obj = serde_json::Map::new();
    for k in keys {
        // A number that does not parse is left out: the grading then names
        // the observation as missing.
        if let Ok(Some(v)) =
            crate::safety::observation(k, field(f, &format!("{prefix}{k}")), numbers, flags)
        {
            obj.insert(k.to_string(), v);
        }
    }
    let blank = obj.is_empty()
        || obj
            .iter()
            .all(|(k, v)| v.as_str() == Some("none") || (k == "age_years"));
    (!blank).then_some(Value::Object(obj))
}

pub fn form_input(f: &Fields) -> sf::AeInput {
    let (project, who) = field(f, "patient").split_once('|').unwrap_or(("", ""));
    let (kind, id) = who.split_once(':').unwrap_or(("", ""));
    sf::AeInput {
        project_id: project.to_string(),
        subject_id: (kind == "subject").then(|| id.to_string()),
        patient_id: (kind == "patient").then(|| id.to_string()),
        unit_id: opt(f, "unit_id"),
        sponsor_id: opt(f, "sponsor_id"),
        product: field(f, "product").into(),
        product_class: field(f, "product_class").into(),
        sex: opt(f, "sex"),
        age_years: field(f, "age_years").trim().parse().ok(),
        term: field(f, "term").into(),
        meddra_code: opt(f, "meddra_code"),
        meddra_version: opt(f, "meddra_version"),
        onset: field(f, "onset").into(),
        aware: field(f, "aware").into(),
        resolved: opt(f, "resolved"),
        seriousness: f
            .iter()
            .filter(|(k, _)| k == "seriousness")
            .map(|(_, v)| v.clone())
            .collect(),
        severity: field(f, "severity").trim().parse().unwrap_or(0),
        crs: section(
            f,
            "crs_",
            &["temperature_c", "hypotension", "hypoxia", "fever_masked"],
            &["temperature_c"],
            &["fever_masked"],
        ),
        icans: section(
            f,
            "icans_",
            &[
                "ice_score",
                "consciousness",
                "seizure",
                "motor",
                "cerebral_edema",
                "age_years",
                "capd_score",
            ],
            &["ice_score", "age_years", "capd_score"],
            &[],
        ),
        expectedness: field(f, "expectedness").into(),
        causality: field(f, "causality").into(),
        outcome: field(f, "outcome").into(),
        narrative: field(f, "narrative").into(),
        reason: opt(f, "reason"),
        coding: None,
    }
}

pub async fn ae_create(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    let mut input = form_input(&f);
    if let Err(e) = crate::safety::code_event(&st, &mut input) {
        return page_error(lang, e);
    }
    after(
        lang,
        sf::report_ae(st.store.as_ref(), &auth.actor, &input, &When::now()).await,
        |r| format!("/app/safety/aes/{}", r.id),
    )
}

/// One version as the history lists it.
pub struct VersionLine {
    pub version: i64,
    pub at: String,
    pub by: String,
    pub reason: String,
    pub outcome: String,
    pub severity: u8,
}

#[derive(Template)]
#[template(path = "safety_ae.html")]
struct AePage {
    ctx: PageCtx,
    line: AeLine,
    rec: sf::AeRecord,
    crs_text: Vec<String>,
    icans_text: Vec<String>,
    causality: String,
    expectedness: String,
    outcome: String,
    versions: Vec<VersionLine>,
    reports: Vec<(String, String, String, bool, String, i64)>,
    recipients: Vec<Choice>,
    can_report: bool,
    clocks: Vec<ClockView>,
}

pub async fn ae_page(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let l = Labels(lang);
    let view = match crate::safety::ae_view(&st, &auth, &id).await {
        Ok(v) => v,
        Err(e) => return page_error(lang, e),
    };
    let s = st.store.as_ref();
    let line = ae_line(&st, l, &view.ae, &view.record.subject_code).await;
    let texts = |g: &Option<sf::GradeRec>| {
        g.as_ref()
            .map(|g| {
                g.deciding
                    .iter()
                    .map(|d| csf::deciding_label(d, lang))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut versions = Vec::new();
    for v in &view.versions {
        let rec = v.record().ok();
        let by = match s.user(&v.by_user).await {
            Ok(Some(u)) => u.display_name,
            _ => v.by_user.clone(),
        };
        versions.push(VersionLine {
            version: v.version,
            at: short(&v.at),
            by,
            reason: v.reason.clone(),
            outcome: rec
                .as_ref()
                .and_then(|r| r.outcome.parse::<csf::Outcome>().ok())
                .map(|o| o.label(lang).to_string())
                .unwrap_or_default(),
            severity: rec.map(|r| r.severity).unwrap_or(0),
        });
    }
    let mut reports = Vec::new();
    for r in &view.reports {
        reports.push((
            l.t(&format!("safety.clock.{}", r.kind)).to_string(),
            r.sent_on.clone(),
            org_name(&st, l, &r.recipient_id).await,
            r.on_time == 1,
            r.sha256.clone(),
            r.version,
        ));
    }
    let mut recipients = Vec::new();
    for ty in ["regulator", "sponsor"] {
        for o in s
            .organisations(&celltrail_store::OrgFilter {
                org_type: Some(ty.into()),
                ..Default::default()
            })
            .await
            .unwrap_or_default()
        {
            recipients.push((o.id.clone(), l.pick(&o.name_zh, &o.name_en).to_string()));
        }
    }
    let rec = view.record;
    render(&AePage {
        ctx: PageCtx::new(lang, Some(&auth), &uri, "safety.ae_title"),
        crs_text: texts(&rec.crs),
        icans_text: texts(&rec.icans),
        causality: rec
            .causality
            .parse::<csf::Causality>()
            .map(|c| c.label(lang).to_string())
            .unwrap_or_default(),
        expectedness: rec
            .expectedness
            .parse::<csf::Expectedness>()
            .map(|c| c.label(lang).to_string())
            .unwrap_or_default(),
        outcome: rec
            .outcome
            .parse::<csf::Outcome>()
            .map(|c| c.label(lang).to_string())
            .unwrap_or_default(),
        can_report: auth.actor.org_id == view.ae.site_id
            && auth
                .actor
                .can(celltrail_core::access::Permission::SafetyReport),
        clocks: view.clocks,
        line,
        rec,
        versions,
        reports,
        recipients,
    })
}

pub async fn ae_send_form(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    let input = sf::SendInput {
        kind: field(&f, "kind").into(),
        recipient_id: field(&f, "recipient_id").into(),
        sent_on: opt(&f, "sent_on"),
    };
    after(
        lang,
        sf::send_report(st.store.as_ref(), &auth.actor, &id, &input, &When::now()).await,
        |_| format!("/app/safety/aes/{id}"),
    )
}

pub async fn ae_national_form(
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
        sf::submit_national(st.store.as_ref(), &auth.actor, &id, &When::now()).await,
        |_| format!("/app/safety/aes/{id}"),
    )
}

// ---------------------------------------------------------------- signals

#[derive(Template)]
#[template(path = "safety_signals.html")]
struct SignalsPage {
    ctx: PageCtx,
    analysis: celltrail_stats::signal::Analysis,
    rows: Vec<SignalLine>,
    plot: String,
    stratified: bool,
    reference: String,
    reports: usize,
    duplicates: usize,
    /// The fit's estimates disagree or leave the allowed range.
    unreliable: bool,
}

/// A pair as the table shows it: figures rounded for reading, the signal
/// rules each meets.
pub struct SignalLine {
    pub product: String,
    pub event: String,
    pub n: u64,
    pub e: String,
    pub prr: String,
    pub prr_ci: String,
    pub ror: String,
    pub ror_ci: String,
    pub chi2: String,
    pub ic: String,
    pub ic025: String,
    pub ebgm: String,
    pub eb05: String,
    pub eb95: String,
    pub flags: Vec<&'static str>,
}

pub async fn signals_page(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Query(q): Query<SignalQuery>,
    uri: Uri,
) -> Response {
    let analysis = match crate::safety::signal_analysis(&st, &auth, &q).await {
        Ok(a) => a,
        Err(e) => return page_error(lang, e),
    };
    let national = sf::national_reports(st.store.as_ref(), &auth.actor)
        .await
        .unwrap_or_default();
    let rows = crate::safety_signal::lines(&analysis);
    let plot = crate::safety_signal::plot_svg(&analysis, lang);
    render(&SignalsPage {
        ctx: PageCtx::new(lang, Some(&auth), &uri, "signal.title"),
        rows,
        plot,
        stratified: q.stratified(),
        reference: q.reference().unwrap_or("").to_string(),
        reports: national.len(),
        duplicates: national.iter().filter(|r| r.duplicate_of.is_some()).count(),
        unreliable: analysis.fit.as_ref().is_some_and(|f| !f.consistent),
        analysis,
    })
}

// ---------------------------------------------------------------- follow-up

/// (id, subject, product, years, start, status key, status label, site)
type EnrolmentLine = (String, String, String, i64, String, String, String, String);

#[derive(Template)]
#[template(path = "safety_ltfu.html")]
struct LtfuPage {
    ctx: PageCtx,
    reminders: Vec<(sf::Reminder, String, String)>,
    centres: Vec<(String, sf::CentreCompleteness, String)>,
    enrolments: Vec<EnrolmentLine>,
}

fn status_label(lang: Lang, s: csf::SubjectFollowUpStatus) -> String {
    s.label(lang).to_string()
}

pub async fn ltfu_page(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    uri: Uri,
) -> Response {
    let l = Labels(lang);
    let s = st.store.as_ref();
    let today = When::now().today;
    let list = match sf::enrolments(s, &auth.actor).await {
        Ok(v) => v,
        Err(e) => return page_error(lang, e),
    };
    let mut enrolments = Vec::new();
    for e in list {
        let vs = sf::visits(s, &e.id).await.unwrap_or_default();
        let status = sf::subject_status(&e, &vs, today);
        enrolments.push((
            e.id.clone(),
            e.subject_code.clone(),
            e.product.clone(),
            e.years,
            e.start_on.clone(),
            status.as_str().to_string(),
            status_label(lang, status),
            org_name(&st, l, &e.site_id).await,
        ));
    }
    let mut centres = Vec::new();
    for c in sf::completeness_dashboard(s, &auth.actor, today)
        .await
        .unwrap_or_default()
    {
        let pct = format!("{:.0}%", c.completeness.ratio * 100.0);
        centres.push((org_name(&st, l, &c.site_id).await, c, pct));
    }
    let reminders = sf::reminders(s, &auth.actor, today)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            let kind = l.t(&format!("ltfu.kind.{}", r.kind)).to_string();
            let status = l.t(&format!("ltfu.reminder.{}", r.status)).to_string();
            (r, kind, status)
        })
        .collect();
    render(&LtfuPage {
        ctx: PageCtx::new(lang, Some(&auth), &uri, "ltfu.title"),
        reminders,
        centres,
        enrolments,
    })
}

/// (number, kind label, due, window, done, vital, malignancy, note, status key, status label)
type VisitLine = (
    i64,
    String,
    String,
    String,
    String,
    String,
    bool,
    String,
    String,
    String,
);

#[derive(Template)]
#[template(path = "safety_ltfu_subject.html")]
struct LtfuSubjectPage {
    ctx: PageCtx,
    e: sf::EnrolmentRow,
    status: String,
    status_label: String,
    visits: Vec<VisitLine>,
    open: Vec<(i64, String)>,
    can_record: bool,
    today: String,
}

pub async fn ltfu_subject_page(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let l = Labels(lang);
    let s = st.store.as_ref();
    let e = match sf::visible_enrolment(s, &auth.actor, &id).await {
        Ok(e) => e,
        Err(err) => return page_error(lang, err),
    };
    let today = When::now().today;
    let vs = sf::visits(s, &e.id).await.unwrap_or_default();
    let status = sf::subject_status(&e, &vs, today);
    let visits = vs
        .iter()
        .map(|v| {
            let st = v.status(today);
            (
                v.number,
                l.t(&format!("ltfu.kind.{}", v.kind)).to_string(),
                v.due.clone(),
                format!("{} – {}", v.window_start, v.window_end),
                v.done_on.clone().unwrap_or_default(),
                v.vital
                    .as_deref()
                    .map(|x| l.t(&format!("ltfu.vital.{x}")).to_string())
                    .unwrap_or_default(),
                v.new_malignancy == 1,
                v.note.clone(),
                st.map(|s| s.as_str().to_string()).unwrap_or_default(),
                st.map(|s| s.label(lang).to_string()).unwrap_or_default(),
            )
        })
        .collect();
    let open = vs
        .iter()
        .filter(|v| v.done_on.is_none() && v.window_start.as_str() <= today.to_string().as_str())
        .map(|v| (v.number, format!("{} · {}", v.number, v.due)))
        .collect();
    render(&LtfuSubjectPage {
        ctx: PageCtx::new(lang, Some(&auth), &uri, "ltfu.subject_title"),
        can_record: auth.actor.org_id == e.site_id
            && e.status == "active"
            && auth
                .actor
                .can(celltrail_core::access::Permission::SafetyReport),
        status: status.as_str().to_string(),
        status_label: status_label(lang, status),
        today: today.to_string(),
        e,
        visits,
        open,
    })
}

pub async fn ltfu_visit_form(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    let input = sf::VisitInput {
        number: field(&f, "number").trim().parse().unwrap_or(0),
        done_on: field(&f, "done_on").into(),
        vital: field(&f, "vital").into(),
        new_malignancy: field(&f, "new_malignancy") == "on",
        note: field(&f, "note").into(),
    };
    after(
        lang,
        sf::record_visit(st.store.as_ref(), &auth.actor, &id, &input, &When::now()).await,
        |_| format!("/app/safety/ltfu/{id}"),
    )
}
