//! Clinical safety over HTTP: ASTCT grading (live, for the form), adverse
//! events with their versions and expedited reports, E2B(R3) export and
//! import, the reporting-clock dashboard, the national database and its
//! signals, and long-term follow-up. The pages are in
//! [`crate::safety_pages`].

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use celltrail_core::safety as csf;
use celltrail_core::Lang;
use celltrail_store::safety as sf;
use celltrail_store::service::When;
use celltrail_store::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::{fail, parse_body, ApiResult};
use crate::error::ApiError;
use crate::i18n::L;
use crate::session::Auth;
use crate::SharedState;

type St = State<SharedState>;

fn store(st: &SharedState) -> &dyn celltrail_store::Store {
    st.store.as_ref()
}

fn invalid(lang: Lang, code: &'static str, field: &str, detail: String) -> ApiError {
    ApiError::new(lang, StoreError::invalid(code, field, detail))
}

fn safety_error(lang: Lang, prefix: &str, e: csf::SafetyError) -> ApiError {
    ApiError::new(lang, sf::safety_error(e, prefix))
}

/// One grading observation as JSON, as the API's query and the form give
/// it: blank is absent (`Ok(None)`), a number where `numbers` names the key
/// (whole numbers as integers, except the temperature and the age), true
/// for a ticked flag, text otherwise; `Err` with the text for a number that
/// does not parse.
pub fn observation(
    key: &str,
    raw: &str,
    numbers: &[&str],
    flags: &[&str],
) -> Result<Option<Value>, String> {
    let v = raw.trim();
    if v.is_empty() {
        return Ok(None);
    }
    Ok(Some(if numbers.contains(&key) {
        match v.parse::<f64>() {
            Ok(n) if n.fract() == 0.0 && key != "temperature_c" && key != "age_years" => {
                json!(n as i64)
            }
            Ok(n) => json!(n),
            Err(_) => return Err(v.to_string()),
        }
    } else if flags.contains(&key) {
        json!(matches!(v, "1" | "true" | "on" | "yes"))
    } else {
        json!(v)
    }))
}

/// A grade with each deciding criterion in the request's language.
#[derive(Serialize)]
pub struct GradeOut {
    pub grade: u8,
    pub deciding: Vec<String>,
    pub deciding_text: Vec<String>,
}

pub fn grade_out(g: csf::Grade, lang: Lang) -> GradeOut {
    GradeOut {
        deciding_text: g
            .deciding
            .iter()
            .map(|d| csf::deciding_label(d, lang))
            .collect(),
        grade: g.grade,
        deciding: g.deciding,
    }
}

/// Query values of a grading request: empty strings count as absent, so a
/// half-filled form still asks.
fn grade_query<T: serde::de::DeserializeOwned>(
    lang: Lang,
    q: &std::collections::BTreeMap<String, String>,
    prefix: &str,
    numbers: &[&str],
    flags: &[&str],
) -> Result<T, ApiError> {
    let mut obj = serde_json::Map::new();
    for (k, v) in q {
        let k = k.strip_prefix(prefix).unwrap_or(k);
        match observation(k, v, numbers, flags) {
            Ok(Some(value)) => {
                obj.insert(k.to_string(), value);
            }
            Ok(None) => {}
            Err(text) => return Err(invalid(lang, "grade_input_invalid", k, text)),
        }
    }
    serde_json::from_value(Value::Object(obj)).map_err(|e| {
        let msg = e.to_string();
        let field = msg
            .split('`')
            .nth(1)
            .unwrap_or(prefix.trim_end_matches('_'))
            .to_string();
        invalid(lang, "grade_input_invalid", &field, msg)
    })
}

/// `GET /api/v1/safety/grade/crs?temperature_c=…&hypotension=…&hypoxia=…`
pub async fn grade_crs(
    L(lang): L,
    Query(q): Query<std::collections::BTreeMap<String, String>>,
) -> ApiResult<GradeOut> {
    let input: csf::CrsInput =
        grade_query(lang, &q, "crs_", &["temperature_c"], &["fever_masked"])?;
    csf::grade_crs(&input)
        .map(|g| Json(grade_out(g, lang)))
        .map_err(|e| safety_error(lang, "crs", e))
}

/// `GET /api/v1/safety/grade/icans?ice_score=…&consciousness=…&…`
pub async fn grade_icans(
    L(lang): L,
    Query(q): Query<std::collections::BTreeMap<String, String>>,
) -> ApiResult<GradeOut> {
    let input: csf::IcansInput = grade_query(
        lang,
        &q,
        "icans_",
        &["ice_score", "age_years", "capd_score"],
        &[],
    )?;
    csf::grade_icans(&input)
        .map(|g| Json(grade_out(g, lang)))
        .map_err(|e| safety_error(lang, "icans", e))
}

/// Checks an event's MedDRA code against the user's terminology when one
/// is configured (without one only the code's shape is checked), and
/// attaches the code's terms.
pub fn code_event(st: &SharedState, input: &mut sf::AeInput) -> Result<(), StoreError> {
    let code = input
        .meddra_code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let (Some(t), Some(code)) = (&st.config.meddra, code) else {
        return Ok(());
    };
    let coding = t
        .check(code)
        .map_err(|e| StoreError::invalid(e.code, "meddra_code", code.to_string()))?;
    if input.meddra_version.is_none() {
        input.meddra_version = t.version.clone();
    }
    input.coding = Some(coding);
    Ok(())
}

pub async fn report_ae(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    b: Bytes,
) -> ApiResult<sf::AeRow> {
    let (mut input, reason): (sf::AeInput, String) = parse_body(lang, &b)?;
    input.reason = Some(reason).filter(|r| !r.is_empty());
    code_event(&st, &mut input).map_err(fail(lang))?;
    sf::report_ae(store(&st), &auth.actor, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn follow_up_ae(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult<sf::AeRow> {
    let (mut input, reason): (sf::AeInput, String) = parse_body(lang, &b)?;
    input.reason = Some(reason).filter(|r| !r.is_empty());
    code_event(&st, &mut input).map_err(fail(lang))?;
    sf::follow_up_ae(store(&st), &auth.actor, &id, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn list_aes(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
) -> ApiResult<Vec<sf::AeRow>> {
    sf::aes(store(&st), &auth.actor)
        .await
        .map(Json)
        .map_err(fail(lang))
}

/// One adverse event: the row, every version, the reports sent and where
/// its clocks stand today.
#[derive(Serialize)]
pub struct AeView {
    pub ae: sf::AeRow,
    pub record: sf::AeRecord,
    pub versions: Vec<sf::VersionRow>,
    pub reports: Vec<sf::ReportRow>,
    pub clocks: Vec<ClockView>,
}

#[derive(Serialize)]
pub struct ClockView {
    pub kind: &'static str,
    pub due: String,
    pub status: String,
}

pub async fn ae_view(st: &SharedState, auth: &Auth, id: &str) -> Result<AeView, StoreError> {
    let s = store(st);
    let ae = sf::visible_ae(s, &auth.actor, id).await?;
    let today = When::now().today;
    Ok(AeView {
        record: sf::latest_record(s, &ae.id).await?,
        versions: sf::versions(s, &ae.id).await?,
        reports: sf::reports(s, &ae.id).await?,
        clocks: ae
            .clocks(today)
            .into_iter()
            .map(|(kind, due, status)| ClockView {
                kind,
                due: due.to_string(),
                status: status.as_str().to_string(),
            })
            .collect(),
        ae,
    })
}

pub async fn get_ae(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<AeView> {
    ae_view(&st, &auth, &id).await.map(Json).map_err(fail(lang))
}

pub async fn send_report(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult<sf::ReportRow> {
    let (input, _): (sf::SendInput, String) = parse_body(lang, &b)?;
    sf::send_report(store(&st), &auth.actor, &id, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn submit_national(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<sf::NationalRow> {
    sf::submit_national(store(&st), &auth.actor, &id, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

/// The E2B(R3) message of the latest version.
pub async fn ae_e2b(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> Response {
    match sf::e2b_xml(store(&st), &auth.actor, &id).await {
        Ok(xml) => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/xml; charset=utf-8".to_string(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{id}-e2b.xml\""),
                ),
            ],
            xml,
        )
            .into_response(),
        Err(e) => ApiError::new(lang, e).into_response(),
    }
}

/// `POST /api/v1/safety/e2b`: an E2B(R3) batch as the body (XML).
pub async fn import_e2b(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    b: Bytes,
) -> ApiResult<Vec<sf::NationalRow>> {
    let xml = std::str::from_utf8(&b)
        .map_err(|e| invalid(lang, "e2b_not_utf8", "body", e.to_string()))?;
    sf::import_e2b(store(&st), &auth.actor, xml, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayQuery {
    #[serde(default)]
    pub on: Option<String>,
}

fn day_of(lang: Lang, q: &DayQuery) -> Result<chrono::NaiveDate, ApiError> {
    match q.on.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(d) => d
            .parse()
            .map_err(|_| invalid(lang, "date_invalid", "on", d.to_string())),
        None => Ok(When::now().today),
    }
}

pub async fn clocks(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Query(q): Query<DayQuery>,
) -> ApiResult<Value> {
    let today = day_of(lang, &q)?;
    let (sites, sponsors) = sf::clock_dashboard(store(&st), &auth.actor, today)
        .await
        .map_err(fail(lang))?;
    Ok(Json(
        json!({"on": today.to_string(), "sites": sites, "sponsors": sponsors}),
    ))
}

pub async fn national(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
) -> ApiResult<Vec<sf::NationalRow>> {
    sf::national_reports(store(&st), &auth.actor)
        .await
        .map(Json)
        .map_err(fail(lang))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalQuery {
    /// A loaded reference source to analyse with the national data
    /// (`faers`).
    #[serde(default)]
    pub reference: Option<String>,
    /// Expected counts stratified by sex, age group and year.
    #[serde(default)]
    pub stratified: Option<String>,
}

impl SignalQuery {
    pub fn stratified(&self) -> bool {
        matches!(self.stratified.as_deref(), Some("1" | "true" | "on"))
    }
    pub fn reference(&self) -> Option<&str> {
        self.reference
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// Disproportionality over the national database (and a reference
/// source when asked): MGPS, PRR, ROR, chi-squared and BCPNN IC.
pub async fn signal_analysis(
    st: &SharedState,
    auth: &Auth,
    q: &SignalQuery,
) -> Result<celltrail_stats::signal::Analysis, StoreError> {
    let rows = sf::signal_rows(store(st), &auth.actor, q.reference()).await?;
    crate::safety_signal::analyse(&rows, q.stratified())
}

pub async fn signals(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Query(q): Query<SignalQuery>,
) -> ApiResult<celltrail_stats::signal::Analysis> {
    signal_analysis(&st, &auth, &q)
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn enrol_ltfu(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    b: Bytes,
) -> ApiResult<sf::EnrolmentRow> {
    let (input, _): (sf::EnrolInput, String) = parse_body(lang, &b)?;
    sf::enrol_ltfu(store(&st), &auth.actor, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

/// Follow-up enrolments with their status today, and completeness per
/// centre.
pub async fn ltfu(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Query(q): Query<DayQuery>,
) -> ApiResult<Value> {
    let today = day_of(lang, &q)?;
    let s = store(&st);
    let list = sf::enrolments(s, &auth.actor).await.map_err(fail(lang))?;
    let mut out = Vec::new();
    for e in list {
        let vs = sf::visits(s, &e.id).await.map_err(fail(lang))?;
        let status = sf::subject_status(&e, &vs, today);
        out.push(json!({"enrolment": e, "status": status.as_str()}));
    }
    let centres = sf::completeness_dashboard(s, &auth.actor, today)
        .await
        .map_err(fail(lang))?;
    let reminders = sf::reminders(s, &auth.actor, today)
        .await
        .map_err(fail(lang))?;
    Ok(Json(
        json!({"on": today.to_string(), "enrolments": out, "centres": centres, "reminders": reminders}),
    ))
}

pub async fn get_ltfu(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<Value> {
    let s = store(&st);
    let e = sf::visible_enrolment(s, &auth.actor, &id)
        .await
        .map_err(fail(lang))?;
    let vs = sf::visits(s, &e.id).await.map_err(fail(lang))?;
    let today = When::now().today;
    let status = sf::subject_status(&e, &vs, today);
    let visits: Vec<Value> = vs
        .iter()
        .map(|v| json!({"visit": v, "status": v.status(today).map(|s| s.as_str())}))
        .collect();
    Ok(Json(
        json!({"enrolment": e, "status": status.as_str(), "visits": visits}),
    ))
}

pub async fn record_visit(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult<sf::VisitRow> {
    let (input, _): (sf::VisitInput, String) = parse_body(lang, &b)?;
    sf::record_visit(store(&st), &auth.actor, &id, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn end_ltfu(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult<sf::EnrolmentRow> {
    let (mut input, reason): (sf::EndInput, String) = parse_body(lang, &b)?;
    if input.reason.trim().is_empty() {
        input.reason = reason;
    }
    sf::end_ltfu(store(&st), &auth.actor, &id, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}
