//! Clinical safety: adverse events and their versions, expedited reports as
//! ICH E2B(R3) messages, the national adverse-event database with its
//! deduplication, reference data for signal detection, and long-term
//! follow-up.
//!
//! Streams: `ae:{id}` (one adverse event: its versions and the reports
//! sent), `national:{case id}` (a case in the national database),
//! `ltfu:{id}` (one subject's long-term follow-up), `reference:{source}`
//! (loads of public reference data). The pure rules — grading,
//! seriousness, causality, clocks, schedules — live in
//! `celltrail_core::safety`; the E2B message in `celltrail_core::e2b`.

use std::collections::BTreeSet;

use celltrail_core::access::{OrgType, Permission};
use celltrail_core::e2b;
use celltrail_core::safety::{
    self as sf, Causality, ClockStatus, Expectedness, Outcome, ReportKind, Seriousness,
};
use celltrail_ledger::sha256_hex;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{StoreError, StoreResult};
use crate::projection::{one, ot, parse_enum, payload, rows, t, Op, Val};
use crate::service::{iso_date, optional, required, Actor, When};
use crate::{new_id, Store};

pub const AE_REPORTED: &str = "safety.ae_reported";
pub const AE_FOLLOWED_UP: &str = "safety.ae_followed_up";
pub const REPORT_SENT: &str = "safety.report_sent";
pub const NATIONAL_SUBMITTED: &str = "safety.national_submitted";
pub const REFERENCE_LOADED: &str = "safety.reference_loaded";
pub const LTFU_ENROLLED: &str = "safety.ltfu_enrolled";
pub const LTFU_VISIT: &str = "safety.ltfu_visit";
pub const LTFU_ENDED: &str = "safety.ltfu_ended";

/// Every event kind of this module (the projection dispatches on these).
pub const KINDS: &[&str] = &[
    AE_REPORTED,
    AE_FOLLOWED_UP,
    REPORT_SENT,
    NATIONAL_SUBMITTED,
    REFERENCE_LOADED,
    LTFU_ENROLLED,
    LTFU_VISIT,
    LTFU_ENDED,
];

/// Product classes an adverse event or a follow-up names.
pub const PRODUCT_CLASSES: &[&str] = &[
    "car_t",
    "tcr_t",
    "til",
    "nk",
    "msc",
    "ipsc_derived",
    "gene_therapy",
    "other",
];

/// Classes whose later malignancies raise the priority flag: the 2024
/// boxed warning on T-cell malignancies covers the BCMA- and CD19-directed
/// genetically modified autologous T-cell immunotherapies.
pub fn malignancy_watch(product_class: &str) -> bool {
    matches!(product_class, "car_t" | "tcr_t")
}

pub fn ae_stream(id: &str) -> String {
    format!("ae:{id}")
}
pub fn national_stream(case_id: &str) -> String {
    format!("national:{case_id}")
}
pub fn ltfu_stream(id: &str) -> String {
    format!("ltfu:{id}")
}

// ---------------------------------------------------------------- payloads

/// A grade as stored: the grade and the criteria that decided it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GradeRec {
    pub grade: u8,
    pub deciding: Vec<String>,
}

/// One version of an adverse event, whole: what the reporter said and what
/// CellTrail derived from it (grades, the reporting clock, the flag).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AeRecord {
    pub id: String,
    /// The worldwide unique case id (E2B C.1.8.1), kept across versions.
    pub case_id: String,
    pub version: u32,
    pub site_id: String,
    pub sponsor_id: Option<String>,
    pub project_id: String,
    pub subject_id: Option<String>,
    pub patient_id: Option<String>,
    /// The site's pseudonym of the patient (subject code or person id).
    pub subject_code: String,
    pub unit_id: Option<String>,
    pub product: String,
    pub product_class: String,
    pub batch: Option<String>,
    pub sex: Option<String>,
    pub age_years: Option<f64>,
    pub term: String,
    pub term_language: String,
    pub meddra_code: Option<String>,
    pub meddra_version: Option<String>,
    /// The code's terms from the user's MedDRA terminology, when loaded.
    #[serde(default)]
    pub meddra: Option<MeddraTerms>,
    pub onset: String,
    pub aware: String,
    pub resolved: Option<String>,
    pub seriousness: Vec<String>,
    pub severity: u8,
    pub crs_input: Option<Value>,
    pub crs: Option<GradeRec>,
    pub icans_input: Option<Value>,
    pub icans: Option<GradeRec>,
    pub expectedness: String,
    pub causality: String,
    pub related: bool,
    pub outcome: String,
    pub narrative: String,
    pub reporter_name: String,
    pub reporter_qualification: u8,
    pub report_kind: String,
    pub initial_due: Option<String>,
    pub follow_up_due: Option<String>,
    pub malignancy: bool,
}

impl AeRecord {
    pub fn serious(&self) -> bool {
        !self.seriousness.is_empty()
    }
}

/// A MedDRA code's terms as recorded with the version.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MeddraTerms {
    pub llt_name: String,
    pub pt_code: String,
    pub pt_name: String,
    pub socs: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReportSent {
    pub ae_id: String,
    pub kind: String,
    pub version: u32,
    pub recipient_id: String,
    pub sent_on: String,
    pub due: Option<String>,
    pub on_time: bool,
    pub sha256: String,
}

/// A pseudonymised case in the national database.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NationalCase {
    pub id: String,
    pub case_id: String,
    pub version: u32,
    pub product: String,
    pub product_class: String,
    pub patient_key: String,
    pub sex: Option<String>,
    pub age_group: Option<String>,
    pub year: String,
    pub onset: String,
    pub events: Vec<String>,
    pub serious: bool,
    pub fatal: bool,
    pub malignancy: bool,
    /// The earlier case this one repeats (found at submission), if any.
    pub duplicate_of: Option<String>,
    /// Where it came from: `site` (an adverse event of this platform) or
    /// `e2b` (an imported ICSR), and the E2B message's SHA-256 if any.
    pub source: String,
    pub sha256: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReferenceLoaded {
    pub source: String,
    pub files: Vec<(String, String)>,
    pub reports: u64,
    pub rows: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VisitRec {
    pub number: u32,
    pub kind: String,
    pub due: String,
    pub window_start: String,
    pub window_end: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LtfuEnrolled {
    pub id: String,
    pub site_id: String,
    pub project_id: String,
    pub subject_id: Option<String>,
    pub patient_id: Option<String>,
    pub subject_code: String,
    pub product: String,
    pub product_class: String,
    pub years: u32,
    pub visit_years: u32,
    pub start_on: String,
    pub visits: Vec<VisitRec>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LtfuVisit {
    pub id: String,
    pub number: u32,
    pub done_on: String,
    /// alive | dead | unknown
    pub vital: String,
    pub new_malignancy: bool,
    pub note: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LtfuEnded {
    pub id: String,
    /// died | withdrawn | completed
    pub status: String,
    pub on: String,
}

// ---------------------------------------------------------------- projection

fn oi(v: Option<u8>) -> Val {
    Val::OptInt(v.map(i64::from))
}

fn ae_row_ops(ev: &celltrail_ledger::Event, r: &AeRecord) -> StoreResult<Vec<Op>> {
    let record = serde_json::to_string(r)?;
    let args = vec![
        t(&r.id),
        t(&r.case_id),
        t(&r.site_id),
        ot(&r.sponsor_id),
        t(&r.project_id),
        ot(&r.subject_id),
        ot(&r.patient_id),
        ot(&r.unit_id),
        t(&r.product),
        t(&r.product_class),
        t(&r.term),
        t(&r.onset),
        t(&r.aware),
        Val::Text(r.seriousness.join(",")),
        Val::Int(r.serious() as i64),
        Val::Int(r.severity as i64),
        oi(r.crs.as_ref().map(|g| g.grade)),
        oi(r.icans.as_ref().map(|g| g.grade)),
        t(&r.expectedness),
        t(&r.causality),
        Val::Int(r.related as i64),
        t(&r.outcome),
        t(&r.report_kind),
        ot(&r.initial_due),
        ot(&r.follow_up_due),
        Val::Int(r.malignancy as i64),
        Val::Int(r.version as i64),
        Val::Text(record.clone()),
        t(&ev.time),
    ];
    let row = if r.version == 1 {
        Op {
            sql: "INSERT INTO adverse_events (id, case_id, site_id, sponsor_id, project_id, subject_id, patient_id, unit_id, product, product_class, term, onset, aware, seriousness, serious, severity, crs_grade, icans_grade, expectedness, causality, related, outcome, report_kind, initial_due, follow_up_due, malignancy, version, record, reported_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$29)",
            args,
        }
    } else {
        Op {
            sql: "UPDATE adverse_events SET case_id=$2, site_id=$3, sponsor_id=$4, project_id=$5, subject_id=$6, patient_id=$7, unit_id=$8, product=$9, product_class=$10, term=$11, onset=$12, aware=$13, seriousness=$14, serious=$15, severity=$16, crs_grade=$17, icans_grade=$18, expectedness=$19, causality=$20, related=$21, outcome=$22, report_kind=$23, initial_due=$24, follow_up_due=$25, malignancy=$26, version=$27, record=$28, updated_at=$29 WHERE id=$1",
            args,
        }
    };
    Ok(vec![
        row,
        Op {
            sql: "INSERT INTO ae_versions (ae_id, version, record, reason, by_user, at) VALUES ($1,$2,$3,$4,$5,$6)",
            args: vec![
                t(&r.id),
                Val::Int(r.version as i64),
                Val::Text(record),
                t(&ev.reason),
                t(&ev.actor),
                t(&ev.time),
            ],
        },
    ])
}

/// The SQL operations an event of this module implies.
pub fn project(ev: &celltrail_ledger::Event) -> StoreResult<Vec<Op>> {
    let ops = match ev.kind.as_str() {
        AE_REPORTED | AE_FOLLOWED_UP => {
            let r: AeRecord = payload(ev)?;
            ae_row_ops(ev, &r)?
        }
        REPORT_SENT => {
            let p: ReportSent = payload(ev)?;
            let column = if p.kind == "initial" {
                "UPDATE adverse_events SET initial_sent = COALESCE(initial_sent, $2) WHERE id = $1"
            } else {
                "UPDATE adverse_events SET follow_up_sent = COALESCE(follow_up_sent, $2) WHERE id = $1"
            };
            vec![
                Op {
                    sql: "INSERT INTO ae_reports (ae_id, seq, kind, version, recipient_id, sent_on, due, on_time, sha256, by_user) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
                    args: vec![
                        t(&p.ae_id),
                        Val::Int(ev.seq as i64),
                        t(&p.kind),
                        Val::Int(p.version as i64),
                        t(&p.recipient_id),
                        t(&p.sent_on),
                        ot(&p.due),
                        Val::Int(p.on_time as i64),
                        t(&p.sha256),
                        t(&ev.actor),
                    ],
                },
                Op {
                    sql: column,
                    args: vec![t(&p.ae_id), t(&p.sent_on)],
                },
            ]
        }
        NATIONAL_SUBMITTED => {
            let c: NationalCase = payload(ev)?;
            let stratum = stratum_of(&c);
            let mut ops = vec![
                Op {
                    sql: "DELETE FROM national_report_events WHERE report_id = $1",
                    args: vec![t(&c.id)],
                },
                Op {
                    sql: "DELETE FROM national_reports WHERE id = $1",
                    args: vec![t(&c.id)],
                },
                Op {
                    sql: "INSERT INTO national_reports (id, case_id, org_id, product, product_class, patient_key, sex, age_group, year, onset, serious, fatal, malignancy, version, duplicate_of, received_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
                    args: vec![
                        t(&c.id),
                        t(&c.case_id),
                        t(&ev.org),
                        t(&c.product),
                        t(&c.product_class),
                        t(&c.patient_key),
                        ot(&c.sex),
                        ot(&c.age_group),
                        t(&c.year),
                        t(&c.onset),
                        Val::Int(c.serious as i64),
                        Val::Int(c.fatal as i64),
                        Val::Int(c.malignancy as i64),
                        Val::Int(c.version as i64),
                        ot(&c.duplicate_of),
                        t(&ev.time),
                    ],
                },
                Op {
                    sql: "UPDATE adverse_events SET national_id = $2 WHERE case_id = $3",
                    args: vec![t(&c.id), t(&c.id), t(&c.case_id)],
                },
            ];
            let events: BTreeSet<&String> = c.events.iter().collect();
            for e in events {
                ops.push(Op {
                    sql: "INSERT INTO national_report_events (report_id, product, event, stratum) VALUES ($1,$2,$3,$4)",
                    args: vec![t(&c.id), t(&c.product), t(e), t(&stratum)],
                });
            }
            ops
        }
        REFERENCE_LOADED => Vec::new(),
        LTFU_ENROLLED => {
            let p: LtfuEnrolled = payload(ev)?;
            let mut ops = vec![Op {
                sql: "INSERT INTO ltfu_enrolments (id, site_id, project_id, subject_id, patient_id, subject_code, product, product_class, years, visit_years, start_on, status, enrolled_at, head_seq) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,'active',$12,$13)",
                args: vec![
                    t(&p.id),
                    t(&p.site_id),
                    t(&p.project_id),
                    ot(&p.subject_id),
                    ot(&p.patient_id),
                    t(&p.subject_code),
                    t(&p.product),
                    t(&p.product_class),
                    Val::Int(p.years as i64),
                    Val::Int(p.visit_years as i64),
                    t(&p.start_on),
                    t(&ev.time),
                    Val::Int(ev.seq as i64),
                ],
            }];
            for v in &p.visits {
                ops.push(Op {
                    sql: "INSERT INTO ltfu_visits (enrolment_id, number, kind, due, window_start, window_end, new_malignancy, note) VALUES ($1,$2,$3,$4,$5,$6,0,'')",
                    args: vec![
                        t(&p.id),
                        Val::Int(v.number as i64),
                        t(&v.kind),
                        t(&v.due),
                        t(&v.window_start),
                        t(&v.window_end),
                    ],
                });
            }
            ops
        }
        LTFU_VISIT => {
            let p: LtfuVisit = payload(ev)?;
            let mut ops = vec![
                Op {
                    sql: "UPDATE ltfu_visits SET done_on=$3, vital=$4, new_malignancy=$5, note=$6 WHERE enrolment_id=$1 AND number=$2",
                    args: vec![
                        t(&p.id),
                        Val::Int(p.number as i64),
                        t(&p.done_on),
                        t(&p.vital),
                        Val::Int(p.new_malignancy as i64),
                        t(&p.note),
                    ],
                },
                Op {
                    sql: "UPDATE ltfu_enrolments SET head_seq=$2 WHERE id=$1",
                    args: vec![t(&p.id), Val::Int(ev.seq as i64)],
                },
            ];
            if p.new_malignancy {
                ops.push(Op {
                    sql: "UPDATE ltfu_enrolments SET malignancy_on = COALESCE(malignancy_on, $2) WHERE id=$1",
                    args: vec![t(&p.id), t(&p.done_on)],
                });
            }
            if p.vital == "dead" {
                ops.push(Op {
                    sql: "UPDATE ltfu_enrolments SET status='died', died_on=COALESCE(died_on, $2) WHERE id=$1",
                    args: vec![t(&p.id), t(&p.done_on)],
                });
            }
            ops
        }
        LTFU_ENDED => {
            let p: LtfuEnded = payload(ev)?;
            let sql = match p.status.as_str() {
                "died" => {
                    "UPDATE ltfu_enrolments SET status=$2, died_on=$3, head_seq=$4 WHERE id=$1"
                }
                "withdrawn" => {
                    "UPDATE ltfu_enrolments SET status=$2, withdrawn_on=$3, head_seq=$4 WHERE id=$1"
                }
                _ => "UPDATE ltfu_enrolments SET status=$2, head_seq=$4 WHERE id=$1 AND $3 <> ''",
            };
            vec![Op {
                sql,
                args: vec![t(&p.id), t(&p.status), t(&p.on), Val::Int(ev.seq as i64)],
            }]
        }
        other => {
            return Err(StoreError::internal(
                "event_kind_unknown",
                format!("{} seq {}: unknown event kind {other}", ev.stream, ev.seq),
            ))
        }
    };
    Ok(ops)
}

/// The stratum a national case counts in: sex, age group and year.
pub fn stratum_of(c: &NationalCase) -> String {
    format!(
        "{}|{}|{}",
        c.sex.as_deref().unwrap_or("u"),
        c.age_group.as_deref().unwrap_or("u"),
        c.year
    )
}

/// Age groups of the national database's strata (ICH E2B(R3) D.2.3 age
/// group boundaries: neonate, infant, child, adolescent, adult, elderly).
pub fn age_group(age_years: Option<f64>) -> Option<String> {
    let a = age_years?;
    if !a.is_finite() || a < 0.0 {
        return None;
    }
    Some(
        match a {
            a if a < 28.0 / 365.25 => "neonate",
            a if a < 2.0 => "infant",
            a if a < 12.0 => "child",
            a if a < 18.0 => "adolescent",
            a if a < 65.0 => "adult",
            _ => "elderly",
        }
        .to_string(),
    )
}

// ---------------------------------------------------------------- rows

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AeRow {
    pub id: String,
    pub case_id: String,
    pub site_id: String,
    pub sponsor_id: Option<String>,
    pub project_id: String,
    pub subject_id: Option<String>,
    pub patient_id: Option<String>,
    pub unit_id: Option<String>,
    pub product: String,
    pub product_class: String,
    pub term: String,
    pub onset: String,
    pub aware: String,
    pub seriousness: String,
    pub serious: i64,
    pub severity: i64,
    pub crs_grade: Option<i64>,
    pub icans_grade: Option<i64>,
    pub expectedness: String,
    pub causality: String,
    pub related: i64,
    pub outcome: String,
    pub report_kind: String,
    pub initial_due: Option<String>,
    pub follow_up_due: Option<String>,
    pub initial_sent: Option<String>,
    pub follow_up_sent: Option<String>,
    pub malignancy: i64,
    pub national_id: Option<String>,
    pub version: i64,
    pub reported_at: String,
    pub updated_at: String,
}

const AE_COLS: &str = "id, case_id, site_id, sponsor_id, project_id, subject_id, patient_id, unit_id, product, product_class, term, onset, aware, seriousness, serious, severity, crs_grade, icans_grade, expectedness, causality, related, outcome, report_kind, initial_due, follow_up_due, initial_sent, follow_up_sent, malignancy, national_id, version, reported_at, updated_at";

impl AeRow {
    /// Where the initial and follow-up reports stand on a day.
    pub fn clocks(&self, today: NaiveDate) -> Vec<(&'static str, NaiveDate, ClockStatus)> {
        let mut out = Vec::new();
        for (kind, due, sent) in [
            ("initial", &self.initial_due, &self.initial_sent),
            ("follow_up", &self.follow_up_due, &self.follow_up_sent),
        ] {
            if let Some(d) = due.as_deref().and_then(|d| d.parse::<NaiveDate>().ok()) {
                let s = sent.as_deref().and_then(|d| d.parse::<NaiveDate>().ok());
                out.push((kind, d, sf::clock_status(d, s, today)));
            }
        }
        out
    }

    /// Is any report of this event overdue on the day?
    pub fn overdue(&self, today: NaiveDate) -> bool {
        self.clocks(today)
            .iter()
            .any(|(_, _, s)| matches!(s, ClockStatus::Overdue))
    }
}

pub async fn ae(store: &dyn Store, id: &str) -> StoreResult<Option<AeRow>> {
    one::<AeRow>(
        store,
        &format!("SELECT {AE_COLS} FROM adverse_events WHERE id = $1"),
        vec![t(id)],
    )
    .await
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VersionRow {
    pub version: i64,
    pub record: String,
    pub reason: String,
    pub by_user: String,
    pub at: String,
}

impl VersionRow {
    pub fn record(&self) -> StoreResult<AeRecord> {
        serde_json::from_str(&self.record)
            .map_err(|e| StoreError::internal("read_model_invalid", e.to_string()))
    }
}

pub async fn versions(store: &dyn Store, ae_id: &str) -> StoreResult<Vec<VersionRow>> {
    rows(
        store
            .select(
                "SELECT version, record, reason, by_user, at FROM ae_versions WHERE ae_id = $1 ORDER BY version",
                vec![t(ae_id)],
            )
            .await?,
    )
}

/// The latest version of an adverse event, whole.
pub async fn latest_record(store: &dyn Store, ae_id: &str) -> StoreResult<AeRecord> {
    versions(store, ae_id)
        .await?
        .pop()
        .ok_or_else(|| StoreError::not_found("ae_not_found", ae_id.to_string()))?
        .record()
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReportRow {
    pub seq: i64,
    pub kind: String,
    pub version: i64,
    pub recipient_id: String,
    pub sent_on: String,
    pub due: Option<String>,
    pub on_time: i64,
    pub sha256: String,
    pub by_user: String,
}

pub async fn reports(store: &dyn Store, ae_id: &str) -> StoreResult<Vec<ReportRow>> {
    rows(
        store
            .select(
                "SELECT seq, kind, version, recipient_id, sent_on, due, on_time, sha256, by_user FROM ae_reports WHERE ae_id = $1 ORDER BY seq",
                vec![t(ae_id)],
            )
            .await?,
    )
}

// ---------------------------------------------------------------- checks

/// A grading error as a store error, its field under `prefix` (`crs`,
/// `icans`), so the API, the form and the command name the same field.
pub fn safety_error(e: sf::SafetyError, prefix: &str) -> StoreError {
    let field = match e.field {
        Some(f) => format!("{prefix}.{f}"),
        None => prefix.to_string(),
    };
    let mut err = StoreError::invalid(e.code, &field, e.to_string());
    for (k, v) in e.args() {
        err = err.with_arg(k, v);
    }
    err
}

/// May the actor see this adverse event? Its site, its sponsor, a
/// regulator with jurisdiction over the site, the platform.
async fn sees_ae(store: &dyn Store, actor: &Actor, r: &AeRow) -> StoreResult<bool> {
    crate::trace::sees_any(store, actor, &ae_orgs(r)).await
}

/// The organisations an adverse event belongs to: its site and sponsor.
fn ae_orgs(r: &AeRow) -> Vec<&str> {
    let mut orgs = vec![r.site_id.as_str()];
    orgs.extend(r.sponsor_id.as_deref());
    orgs
}

/// The rows of a list the actor may see, each by the organisations it
/// belongs to (answers cached per organisation list).
async fn visible_rows<T>(
    store: &dyn Store,
    actor: &Actor,
    all: Vec<T>,
    orgs: impl Fn(&T) -> Vec<&str>,
) -> StoreResult<Vec<T>> {
    let mut seen: std::collections::HashMap<Vec<String>, bool> = Default::default();
    let mut out = Vec::new();
    for r in all {
        let key: Vec<String> = orgs(&r).into_iter().map(String::from).collect();
        let ok = match seen.get(&key) {
            Some(v) => *v,
            None => {
                let refs: Vec<&str> = key.iter().map(String::as_str).collect();
                let v = crate::trace::sees_any(store, actor, &refs).await?;
                seen.insert(key, v);
                v
            }
        };
        if ok {
            out.push(r);
        }
    }
    Ok(out)
}

/// An adverse event the actor may see (else `ae_not_found`).
pub async fn visible_ae(store: &dyn Store, actor: &Actor, id: &str) -> StoreResult<AeRow> {
    actor.require(Permission::SafetyRead)?;
    let not_found = || StoreError::not_found("ae_not_found", id.to_string());
    let r = ae(store, id.trim()).await?.ok_or_else(not_found)?;
    if sees_ae(store, actor, &r).await? {
        Ok(r)
    } else {
        Err(not_found())
    }
}

/// The adverse events the actor may see, newest awareness first.
pub async fn aes(store: &dyn Store, actor: &Actor) -> StoreResult<Vec<AeRow>> {
    actor.require(Permission::SafetyRead)?;
    let all: Vec<AeRow> = rows(
        store
            .select(
                &format!("SELECT {AE_COLS} FROM adverse_events ORDER BY aware DESC, id"),
                vec![],
            )
            .await?,
    )?;
    visible_rows(store, actor, all, ae_orgs).await
}

// ---------------------------------------------------------------- report

/// What a reporter enters for an adverse event (and again, whole, for each
/// follow-up).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AeInput {
    pub project_id: String,
    /// The study subject (ethics module), if the patient is enrolled.
    #[serde(default)]
    pub subject_id: Option<String>,
    /// The pseudonymous patient of the chain of custody, if any.
    #[serde(default)]
    pub patient_id: Option<String>,
    /// The product unit given (its DIN-based id), if known.
    #[serde(default)]
    pub unit_id: Option<String>,
    #[serde(default)]
    pub sponsor_id: Option<String>,
    pub product: String,
    pub product_class: String,
    #[serde(default)]
    pub sex: Option<String>,
    #[serde(default)]
    pub age_years: Option<f64>,
    pub term: String,
    #[serde(default)]
    pub meddra_code: Option<String>,
    #[serde(default)]
    pub meddra_version: Option<String>,
    pub onset: String,
    /// The day the site first knew of the event (day 0 of the clocks).
    pub aware: String,
    #[serde(default)]
    pub resolved: Option<String>,
    #[serde(default)]
    pub seriousness: Vec<String>,
    pub severity: u8,
    #[serde(default)]
    pub crs: Option<Value>,
    #[serde(default)]
    pub icans: Option<Value>,
    pub expectedness: String,
    pub causality: String,
    pub outcome: String,
    #[serde(default)]
    pub narrative: String,
    /// Why this version is made (required for a follow-up).
    #[serde(default)]
    pub reason: Option<String>,
    /// The MedDRA coding of `meddra_code`, when the caller checked it
    /// against the user's terminology.
    #[serde(skip)]
    pub coding: Option<celltrail_core::meddra::Coding>,
}

/// The reported term's language as ISO 639-2 (E2B(R3) E.i.1.1b).
fn term_language(term: &str) -> &'static str {
    if term.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
        "zho"
    } else {
        "eng"
    }
}

fn grade_of<T: serde::de::DeserializeOwned>(
    field: &str,
    v: &Option<Value>,
    grade: impl Fn(&T) -> Result<sf::Grade, sf::SafetyError>,
) -> StoreResult<(Option<Value>, Option<GradeRec>)> {
    let Some(v) = v.as_ref().filter(|v| !v.is_null()) else {
        return Ok((None, None));
    };
    let input: T = serde_json::from_value(v.clone())
        .map_err(|e| StoreError::invalid("grade_input_invalid", field, e.to_string()))?;
    let g = grade(&input).map_err(|e| safety_error(e, field))?;
    Ok((
        Some(v.clone()),
        Some(GradeRec {
            grade: g.grade,
            deciding: g.deciding,
        }),
    ))
}

/// Checks an input and derives the record of one version (id, case id,
/// version and site filled by the caller).
async fn build_record(
    store: &dyn Store,
    actor: &Actor,
    input: &AeInput,
    when: &When,
) -> StoreResult<AeRecord> {
    let project_id = required("project_id", &input.project_id, 64)?;
    let subject_id = optional("subject_id", &input.subject_id, 64)?;
    let patient_id = optional("patient_id", &input.patient_id, 64)?;
    let mut subject_code = None;
    match &subject_id {
        Some(s) => {
            let sub = crate::ethics::subject(store, s)
                .await?
                .filter(|r| r.site_id == actor.org_id && r.project_id == project_id)
                .ok_or_else(|| StoreError::invalid("subject_not_found", "subject_id", s.clone()))?;
            subject_code = Some(sub.code);
        }
        None => {
            crate::service::visible_project(store, actor, &project_id).await?;
        }
    }
    if let Some(p) = &patient_id {
        let person = crate::trace::person(store, p)
            .await?
            .filter(|r| r.institution_id == actor.org_id)
            .ok_or_else(|| StoreError::invalid("person_not_found", "patient_id", p.clone()))?;
        subject_code.get_or_insert(person.id);
    }
    let subject_code = subject_code.ok_or_else(|| {
        StoreError::invalid(
            "ae_patient_required",
            "subject_id",
            "a study subject or a patient",
        )
    })?;
    let unit_id = optional("unit_id", &input.unit_id, 80)?;
    let mut batch = None;
    if let Some(u) = &unit_id {
        let unit = crate::trace::unit(store, u)
            .await?
            .filter(|r| r.site_id == actor.org_id || r.custodian.as_deref() == Some(&actor.org_id))
            .ok_or_else(|| StoreError::invalid("unit_not_found", "unit_id", u.clone()))?;
        batch = unit.batch_id;
    }
    let sponsor_id = optional("sponsor_id", &input.sponsor_id, 64)?;
    if let Some(s) = &sponsor_id {
        let org = store.organisation(s).await?;
        if org.map(|o| o.org_type).as_deref() != Some(OrgType::Sponsor.as_str()) {
            return Err(StoreError::invalid(
                "sponsor_not_found",
                "sponsor_id",
                s.clone(),
            ));
        }
    }
    let product = required("product", &input.product, 200)?;
    let product_class = input.product_class.trim().to_string();
    if !PRODUCT_CLASSES.contains(&product_class.as_str()) {
        return Err(StoreError::invalid(
            "product_class_invalid",
            "product_class",
            product_class,
        ));
    }
    let sex = optional("sex", &input.sex, 8)?;
    if let Some(s) = &sex {
        if s != "male" && s != "female" {
            return Err(StoreError::invalid("sex_invalid", "sex", s.clone()));
        }
    }
    if let Some(a) = input.age_years {
        if !a.is_finite() || !(0.0..=130.0).contains(&a) {
            return Err(StoreError::invalid(
                "age_invalid",
                "age_years",
                a.to_string(),
            ));
        }
    }
    let term = required("term", &input.term, 250)?;
    let meddra_code = optional("meddra_code", &input.meddra_code, 16)?;
    if let Some(c) = &meddra_code {
        if c.len() != 8 || !c.chars().all(|c| c.is_ascii_digit()) {
            return Err(StoreError::invalid(
                "meddra_code_invalid",
                "meddra_code",
                c.clone(),
            ));
        }
    }
    let meddra_version = optional("meddra_version", &input.meddra_version, 8)?;
    let onset = iso_date("onset", &input.onset)?;
    let aware = iso_date("aware", &input.aware)?;
    if onset > when.today {
        return Err(StoreError::invalid(
            "date_in_future",
            "onset",
            onset.to_string(),
        ));
    }
    if aware > when.today {
        return Err(StoreError::invalid(
            "date_in_future",
            "aware",
            aware.to_string(),
        ));
    }
    if aware < onset {
        return Err(StoreError::invalid(
            "ae_aware_before_onset",
            "aware",
            aware.to_string(),
        ));
    }
    let resolved = match optional("resolved", &input.resolved, 10)? {
        Some(r) => {
            let d = iso_date("resolved", &r)?;
            if d < onset {
                return Err(StoreError::invalid(
                    "ae_resolved_before_onset",
                    "resolved",
                    r,
                ));
            }
            Some(d.to_string())
        }
        None => None,
    };
    let mut seriousness = Vec::new();
    for s in &input.seriousness {
        let c: Seriousness = parse_enum("seriousness", s, "seriousness_invalid")?;
        if !seriousness.contains(&c) {
            seriousness.push(c);
        }
    }
    seriousness.sort_by_key(|c| Seriousness::ALL.iter().position(|x| x == c));
    if !(1..=5).contains(&input.severity) {
        return Err(StoreError::invalid(
            "severity_invalid",
            "severity",
            input.severity.to_string(),
        ));
    }
    let expectedness: Expectedness =
        parse_enum("expectedness", &input.expectedness, "expectedness_invalid")?;
    let causality: Causality = parse_enum("causality", &input.causality, "causality_invalid")?;
    let outcome: Outcome = parse_enum("outcome", &input.outcome, "outcome_invalid")?;
    let fatal = seriousness.contains(&Seriousness::Death);
    if fatal != (outcome == Outcome::Fatal) && (input.severity == 5) != fatal {
        return Err(StoreError::invalid(
            "ae_death_inconsistent",
            "outcome",
            outcome.as_str(),
        ));
    }
    let (crs_input, crs) = grade_of::<sf::CrsInput>("crs", &input.crs, sf::grade_crs)?;
    let (icans_input, icans) = grade_of::<sf::IcansInput>("icans", &input.icans, sf::grade_icans)?;
    let narrative = input.narrative.trim().to_string();
    if narrative.chars().count() > 20000 {
        return Err(
            StoreError::invalid("field_too_long", "narrative", "too long").with_arg("max", "20000"),
        );
    }
    let related = causality.is_related();
    let clock = sf::expedited_clock(&sf::ClockInput {
        serious: !seriousness.is_empty(),
        fatal_or_life_threatening: fatal || seriousness.contains(&Seriousness::LifeThreatening),
        expectedness,
        related,
        aware,
    });
    let meddra = match (&input.coding, &meddra_code) {
        (Some(c), Some(code)) if &c.llt_code == code => Some(MeddraTerms {
            llt_name: c.llt_name.clone(),
            pt_code: c.pt_code.clone(),
            pt_name: c.pt_name.clone(),
            socs: c.socs.clone(),
        }),
        _ => None,
    };
    let in_neoplasms = meddra
        .as_ref()
        .is_some_and(|m| m.socs.iter().any(|s| s == sf::MALIGNANCY_SOC));
    let malignancy = malignancy_watch(&product_class)
        && (in_neoplasms || sf::is_malignancy(&term, meddra_code.as_deref()));
    Ok(AeRecord {
        id: String::new(),
        case_id: String::new(),
        version: 0,
        site_id: actor.org_id.clone(),
        sponsor_id,
        project_id,
        subject_id,
        patient_id,
        subject_code,
        unit_id,
        product,
        product_class,
        batch,
        sex,
        age_years: input.age_years,
        term_language: term_language(&term).into(),
        term,
        meddra_code,
        meddra_version,
        meddra,
        onset: onset.to_string(),
        aware: aware.to_string(),
        resolved,
        seriousness: seriousness.iter().map(|s| s.as_str().to_string()).collect(),
        severity: input.severity,
        crs_input,
        crs,
        icans_input,
        icans,
        expectedness: expectedness.as_str().into(),
        causality: causality.as_str().into(),
        related,
        outcome: outcome.as_str().into(),
        narrative,
        reporter_name: actor.display_name.clone(),
        reporter_qualification: 1,
        report_kind: clock.kind.as_str().into(),
        initial_due: clock.initial_due.map(|d| d.to_string()),
        follow_up_due: clock.follow_up_due.map(|d| d.to_string()),
        malignancy,
    })
}

fn require_site(actor: &Actor) -> StoreResult<()> {
    actor.require(Permission::SafetyReport)?;
    if actor.org_type != OrgType::MedicalInstitution {
        return Err(StoreError::forbidden(
            "ae_site_required",
            "adverse events are reported by the medical institution that treats the patient",
        ));
    }
    Ok(())
}

/// Reports an adverse event at the actor's institution (version 1).
pub async fn report_ae(
    store: &dyn Store,
    actor: &Actor,
    input: &AeInput,
    when: &When,
) -> StoreResult<AeRow> {
    require_site(actor)?;
    let mut r = build_record(store, actor, input, when).await?;
    r.id = new_id("ae");
    r.case_id = format!("CN-{}-{}", actor.org_id, r.id);
    r.version = 1;
    let reason = crate::service::reason_text(
        input.reason.as_deref(),
        "不良事件首次报告 / adverse event first reported",
    );
    let id = r.id.clone();
    let ev = actor.event(ae_stream(&id), AE_REPORTED, &r, when, &reason)?;
    crate::trace::append_read(store, vec![ev], ae(store, &id), &id).await
}

/// A follow-up: the whole event again as a new version, with the reason
/// for the change. Earlier versions stay as they were. Reporting clocks
/// keep their first due dates; an event that becomes reportable later
/// starts its clock on the new version's day of awareness.
pub async fn follow_up_ae(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    input: &AeInput,
    when: &When,
) -> StoreResult<AeRow> {
    require_site(actor)?;
    let row = visible_ae(store, actor, id).await?;
    if row.site_id != actor.org_id {
        return Err(StoreError::forbidden(
            "ae_site_required",
            "only the reporting institution adds follow-ups",
        ));
    }
    let reason = crate::service::check_reason(input.reason.as_deref().unwrap_or(""))?;
    let prev = latest_record(store, &row.id).await?;
    let mut r = build_record(store, actor, input, when).await?;
    if r.project_id != prev.project_id || r.subject_code != prev.subject_code {
        return Err(StoreError::invalid(
            "ae_subject_changed",
            "subject_id",
            "a follow-up concerns the same study and patient",
        ));
    }
    r.id = prev.id.clone();
    r.case_id = prev.case_id.clone();
    r.version = prev.version + 1;
    if prev.report_kind != ReportKind::NotExpedited.as_str() {
        // The clock already running keeps its dates; a stricter kind
        // (15 → 7 days) takes the earlier of the two.
        let earlier = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b).clone()),
            (a, b) => a.clone().or(b.clone()),
        };
        if r.report_kind == ReportKind::NotExpedited.as_str() {
            r.report_kind = prev.report_kind.clone();
            r.initial_due = prev.initial_due.clone();
            r.follow_up_due = prev.follow_up_due.clone();
        } else {
            r.initial_due = earlier(&prev.initial_due, &r.initial_due);
            r.follow_up_due = earlier(&prev.follow_up_due, &r.follow_up_due);
        }
    }
    let ev = actor.event(ae_stream(&r.id), AE_FOLLOWED_UP, &r, when, &reason)?;
    crate::trace::append_read(store, vec![ev], ae(store, &r.id), &r.id).await
}

// ---------------------------------------------------------------- E2B

fn e2b_date(s: &str) -> Option<NaiveDate> {
    s.parse().ok()
}

/// The adverse event's version as an ICH E2B(R3) case.
pub fn icsr_of(r: &AeRecord, sender: &str, created: chrono::NaiveDateTime) -> e2b::Icsr {
    let seriousness = |c: Seriousness| r.seriousness.iter().any(|s| s == c.as_str());
    let outcome: Option<Outcome> = r.outcome.parse().ok();
    let reaction = e2b::Reaction {
        term: r.term.clone(),
        language: r.term_language.clone(),
        meddra_version: r.meddra_version.clone(),
        meddra_llt: r.meddra_code.clone(),
        seriousness: e2b::Seriousness {
            death: seriousness(Seriousness::Death),
            life_threatening: seriousness(Seriousness::LifeThreatening),
            hospitalisation: seriousness(Seriousness::Hospitalisation),
            disability: seriousness(Seriousness::Disability),
            congenital_anomaly: seriousness(Seriousness::CongenitalAnomaly),
            other_important: seriousness(Seriousness::OtherImportant),
        },
        start: e2b_date(&r.onset),
        end: r.resolved.as_deref().and_then(e2b_date),
        outcome: outcome.map(|o| o.e2b_code()),
    };
    let mut narrative = r.narrative.clone();
    for (name, g) in [("CRS", &r.crs), ("ICANS", &r.icans)] {
        if let Some(g) = g {
            if !narrative.is_empty() {
                narrative.push('\n');
            }
            narrative.push_str(&format!(
                "{name} grade {} (ASTCT 2019): {}",
                g.grade,
                g.deciding.join(", ")
            ));
        }
    }
    e2b::Icsr {
        safety_report_id: format!("{}-v{}", r.case_id, r.version),
        worldwide_case_id: r.case_id.clone(),
        created,
        report_type: 2,
        first_received: e2b_date(&r.aware).unwrap_or(created.date()),
        most_recent: created.date(),
        expedited: r.report_kind != ReportKind::NotExpedited.as_str(),
        sender: e2b::Sender {
            sender_type: 3,
            organisation: sender.to_string(),
        },
        reporters: vec![e2b::Reporter {
            given_name: None,
            family_name: Some(r.reporter_name.clone()),
            organisation: Some(sender.to_string()),
            country: Some("CN".into()),
            qualification: Some(r.reporter_qualification),
        }],
        patient: e2b::Patient {
            initials: None,
            study_subject_id: Some(r.subject_code.clone()),
            age: r.age_years.map(|a| e2b::Age {
                value: a,
                unit: "a".into(),
            }),
            sex: r.sex.as_deref().map(|s| if s == "male" { 1 } else { 2 }),
            death_date: if r.outcome == Outcome::Fatal.as_str() {
                r.resolved.as_deref().and_then(e2b_date)
            } else {
                None
            },
        },
        reactions: vec![reaction],
        drugs: vec![e2b::Drug {
            role: 1,
            name: r.product.clone(),
            batch: r.batch.clone(),
            start: None,
            assessments: vec![e2b::Assessment {
                reaction_index: 0,
                source: "investigator".into(),
                method: "WHO-UMC".into(),
                result: r.causality.clone(),
            }],
        }],
        narrative,
        study: Some(e2b::Study {
            name: r.project_id.clone(),
            sponsor_number: None,
            registration: None,
        }),
    }
}

fn e2b_error(e: e2b::E2bError) -> StoreError {
    let mut err = StoreError::invalid(
        e.code,
        e.field.as_deref().unwrap_or("xml"),
        format!("{e:?}"),
    );
    for (k, v) in e.args() {
        err = err.with_arg(k, v);
    }
    err
}

/// The E2B(R3) message of the adverse event's latest version.
pub async fn e2b_xml(store: &dyn Store, actor: &Actor, id: &str) -> StoreResult<String> {
    let row = visible_ae(store, actor, id).await?;
    let r = latest_record(store, &row.id).await?;
    let created = chrono::NaiveDateTime::parse_from_str(
        &row.updated_at[..19.min(row.updated_at.len())],
        "%Y-%m-%dT%H:%M:%S",
    )
    .map_err(|e| StoreError::internal("read_model_invalid", e.to_string()))?;
    let case = icsr_of(&r, &row.site_id, created);
    e2b::write_checked(&case).map_err(e2b_error)
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SendInput {
    /// initial | follow_up
    pub kind: String,
    /// The regulator or sponsor the report went to.
    pub recipient_id: String,
    /// The day it was sent (today when omitted).
    #[serde(default)]
    pub sent_on: Option<String>,
}

/// Records an expedited report sent: the E2B(R3) message of the latest
/// version is built, checked for the minimum case, kept by its SHA-256,
/// and the event says whether it went within its clock.
pub async fn send_report(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    input: &SendInput,
    when: &When,
) -> StoreResult<ReportRow> {
    require_site(actor)?;
    let row = visible_ae(store, actor, id).await?;
    if row.site_id != actor.org_id {
        return Err(StoreError::forbidden(
            "ae_site_required",
            "only the reporting institution sends its reports",
        ));
    }
    let kind = input.kind.trim();
    let due = match kind {
        "initial" => row.initial_due.clone(),
        "follow_up" => row.follow_up_due.clone(),
        _ => return Err(StoreError::invalid("report_kind_invalid", "kind", kind)),
    };
    let recipient = required("recipient_id", &input.recipient_id, 64)?;
    let org = store
        .organisation(&recipient)
        .await?
        .ok_or_else(|| StoreError::invalid("recipient_not_found", "recipient_id", &recipient))?;
    if org.org_type != OrgType::Regulator.as_str() && org.org_type != OrgType::Sponsor.as_str() {
        return Err(StoreError::invalid(
            "recipient_not_found",
            "recipient_id",
            &recipient,
        ));
    }
    let sent_on = match optional("sent_on", &input.sent_on, 10)? {
        Some(s) => iso_date("sent_on", &s)?,
        None => when.today,
    };
    if sent_on > when.today {
        return Err(StoreError::invalid(
            "date_in_future",
            "sent_on",
            sent_on.to_string(),
        ));
    }
    if sent_on < row.aware.parse().unwrap_or(sent_on) {
        return Err(StoreError::invalid(
            "report_before_awareness",
            "sent_on",
            sent_on.to_string(),
        ));
    }
    let xml = e2b_xml(store, actor, &row.id).await?;
    let sha = sha256_hex(xml.as_bytes());
    use base64::Engine as _;
    store
        .put_blob(
            &sha,
            "application/hl7-v3+xml",
            &base64::engine::general_purpose::STANDARD.encode(xml.as_bytes()),
        )
        .await?;
    let on_time = due
        .as_deref()
        .and_then(|d| d.parse::<NaiveDate>().ok())
        .is_none_or(|d| sent_on <= d);
    let p = ReportSent {
        ae_id: row.id.clone(),
        kind: kind.to_string(),
        version: row.version as u32,
        recipient_id: recipient,
        sent_on: sent_on.to_string(),
        due,
        on_time,
        sha256: sha,
    };
    let reason = if kind == "initial" {
        "快速报告（首次） / expedited report sent (initial)"
    } else {
        "快速报告（随访） / expedited report sent (follow-up)"
    };
    let ev = actor.event(ae_stream(&row.id), REPORT_SENT, &p, when, reason)?;
    let done = store.append(vec![ev]).await?;
    let seq = done.last().map(|e| e.seq as i64).unwrap_or(0);
    reports(store, &row.id)
        .await?
        .into_iter()
        .find(|r| r.seq == seq)
        .ok_or_else(|| StoreError::internal("projection_missing", row.id.clone()))
}

// ---------------------------------------------------------------- national database

/// The event term counted in the national database: the MedDRA code when
/// the reporter gave one, else the term in lower case with its spaces
/// folded.
pub fn event_key(term: &str, meddra: Option<&str>) -> String {
    match meddra {
        Some(c) if !c.trim().is_empty() => format!("meddra:{}", c.trim()),
        _ => term
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase(),
    }
}

/// A patient's key in the national database: the SHA-256 of the site and
/// the site's own pseudonym, so the same patient reported twice by the
/// same site meets itself and nobody can read who it is.
pub fn patient_key(site: &str, subject_code: &str) -> String {
    sha256_hex(format!("celltrail-patient\u{1f}{site}\u{1f}{subject_code}").as_bytes())
}

/// Days within which two reports of the same patient, product and event
/// are taken for one case.
pub const DUPLICATE_ONSET_DAYS: i64 = 3;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NationalRow {
    pub id: String,
    pub case_id: String,
    pub org_id: String,
    pub product: String,
    pub product_class: String,
    pub patient_key: String,
    pub sex: Option<String>,
    pub age_group: Option<String>,
    pub year: String,
    pub onset: String,
    pub serious: i64,
    pub fatal: i64,
    pub malignancy: i64,
    pub version: i64,
    pub duplicate_of: Option<String>,
    pub received_at: String,
}

const NATIONAL_COLS: &str = "id, case_id, org_id, product, product_class, patient_key, sex, age_group, year, onset, serious, fatal, malignancy, version, duplicate_of, received_at";

/// An earlier case this one repeats: same patient and product, an event
/// in common, onsets at most [`DUPLICATE_ONSET_DAYS`] apart, another case
/// id, itself not a duplicate.
async fn find_duplicate(store: &dyn Store, c: &NationalCase) -> StoreResult<Option<String>> {
    let candidates: Vec<NationalRow> = rows(
        store
            .select(
                &format!("SELECT {NATIONAL_COLS} FROM national_reports WHERE patient_key = $1 AND product = $2 AND case_id <> $3 AND duplicate_of IS NULL ORDER BY received_at, id"),
                vec![t(&c.patient_key), t(&c.product), t(&c.case_id)],
            )
            .await?,
    )?;
    let onset: Option<NaiveDate> = c.onset.parse().ok();
    for cand in candidates {
        let close = match (onset, cand.onset.parse::<NaiveDate>().ok()) {
            (Some(a), Some(b)) => (a - b).num_days().abs() <= DUPLICATE_ONSET_DAYS,
            _ => false,
        };
        if !close {
            continue;
        }
        let events: BTreeSet<String> = store
            .select(
                "SELECT event FROM national_report_events WHERE report_id = $1",
                vec![t(&cand.id)],
            )
            .await?
            .into_iter()
            .filter_map(|m| m.get("event").and_then(Value::as_str).map(String::from))
            .collect();
        if c.events.iter().any(|e| events.contains(e)) {
            return Ok(Some(cand.id));
        }
    }
    Ok(None)
}

/// Appends a case to the national database: a later version of a case id
/// replaces the earlier one; a repeat of another case is kept but marked.
async fn put_national(
    store: &dyn Store,
    actor: &Actor,
    mut c: NationalCase,
    when: &When,
    reason: &str,
) -> StoreResult<NationalRow> {
    let same_case: Vec<NationalRow> = rows(
        store
            .select(
                &format!("SELECT {NATIONAL_COLS} FROM national_reports WHERE case_id = $1 ORDER BY received_at, id"),
                vec![t(&c.case_id)],
            )
            .await?,
    )?;
    match same_case.iter().find(|e| e.org_id == actor.org_id) {
        Some(e) => {
            // A later version from the same sender replaces the earlier.
            if i64::from(c.version) <= e.version {
                c.version = e.version as u32 + 1;
            }
            c.id = e.id.clone();
            c.duplicate_of = e.duplicate_of.clone();
        }
        None => {
            c.id = new_id("nr");
            // The same worldwide case id from another sender is the same
            // case (ICH E2B(R3) C.1.8.1 stays with a case across senders).
            c.duplicate_of = match same_case.iter().find(|e| e.duplicate_of.is_none()) {
                Some(first) => Some(first.id.clone()),
                None => find_duplicate(store, &c).await?,
            };
        }
    }
    let ev = actor.event(
        national_stream(&c.case_id),
        NATIONAL_SUBMITTED,
        &c,
        when,
        reason,
    )?;
    let sql = format!("SELECT {NATIONAL_COLS} FROM national_reports WHERE id = $1");
    let read = one::<NationalRow>(store, &sql, vec![t(&c.id)]);
    crate::trace::append_read(store, vec![ev], read, &c.id).await
}

/// The site submits its adverse event, pseudonymised, to the national
/// database (again after each follow-up: the latest version counts).
pub async fn submit_national(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    when: &When,
) -> StoreResult<NationalRow> {
    require_site(actor)?;
    let row = visible_ae(store, actor, id).await?;
    if row.site_id != actor.org_id {
        return Err(StoreError::forbidden(
            "ae_site_required",
            "only the reporting institution submits its cases",
        ));
    }
    let r = latest_record(store, &row.id).await?;
    let year = r.onset.get(..4).unwrap_or("0000").to_string();
    let c = NationalCase {
        id: String::new(),
        case_id: r.case_id.clone(),
        version: r.version,
        product: r.product.trim().to_lowercase(),
        product_class: r.product_class.clone(),
        patient_key: patient_key(&r.site_id, &r.subject_code),
        sex: r.sex.clone(),
        age_group: age_group(r.age_years),
        year,
        onset: r.onset.clone(),
        events: vec![event_key(&r.term, r.meddra_code.as_deref())],
        serious: r.serious(),
        fatal: r.outcome == Outcome::Fatal.as_str(),
        malignancy: r.malignancy,
        duplicate_of: None,
        source: "site".into(),
        sha256: None,
    };
    put_national(
        store,
        actor,
        c,
        when,
        "报送全国不良事件数据库（假名化） / submitted to the national adverse-event database (pseudonymised)",
    )
    .await
}

/// Imports ICH E2B(R3) messages into the national database: each case is
/// checked for the minimum case, pseudonymised like a site's submission,
/// and deduplicated. Returns the national rows written.
pub async fn import_e2b(
    store: &dyn Store,
    actor: &Actor,
    xml: &str,
    when: &When,
) -> StoreResult<Vec<NationalRow>> {
    actor.require(Permission::SafetyReport)?;
    let cases = e2b::read_xml(xml).map_err(e2b_error)?;
    let sha = sha256_hex(xml.as_bytes());
    let mut out = Vec::new();
    for case in cases {
        e2b::minimum_case(&case).map_err(e2b_error)?;
        let Some(drug) = case.drugs.iter().find(|d| d.role == 1 || d.role == 3) else {
            continue;
        };
        let pseudonym = case
            .patient
            .study_subject_id
            .clone()
            .or(case.patient.initials.clone())
            .unwrap_or_else(|| case.worldwide_case_id.clone());
        let onset = case
            .reactions
            .iter()
            .filter_map(|r| r.start)
            .min()
            .unwrap_or(case.first_received);
        let age_years = case
            .patient
            .age
            .as_ref()
            .and_then(|a| match a.unit.as_str() {
                "a" => Some(a.value),
                "mo" => Some(a.value / 12.0),
                "wk" => Some(a.value * 7.0 / 365.25),
                "d" => Some(a.value / 365.25),
                _ => None,
            });
        let c = NationalCase {
            id: String::new(),
            case_id: case.worldwide_case_id.clone(),
            version: 1,
            product: drug.name.trim().to_lowercase(),
            product_class: "other".into(),
            patient_key: patient_key(&actor.org_id, &pseudonym),
            sex: case.patient.sex.and_then(|s| match s {
                1 => Some("male".to_string()),
                2 => Some("female".to_string()),
                _ => None,
            }),
            age_group: age_group(age_years),
            year: onset.year().to_string(),
            onset: onset.to_string(),
            events: case
                .reactions
                .iter()
                .map(|r| event_key(&r.term, r.meddra_llt.as_deref()))
                .collect(),
            serious: case.reactions.iter().any(|r| {
                let s = &r.seriousness;
                s.death
                    || s.life_threatening
                    || s.hospitalisation
                    || s.disability
                    || s.congenital_anomaly
                    || s.other_important
            }),
            fatal: case.patient.death_date.is_some()
                || case.reactions.iter().any(|r| r.outcome == Some(5)),
            malignancy: case
                .reactions
                .iter()
                .any(|r| sf::is_malignancy(&r.term, r.meddra_llt.as_deref())),
            duplicate_of: None,
            source: "e2b".into(),
            sha256: Some(sha.clone()),
        };
        out.push(
            put_national(
                store,
                actor,
                c,
                when,
                "E2B(R3) 个例安全性报告导入 / ICH E2B(R3) case imported",
            )
            .await?,
        );
    }
    Ok(out)
}

fn require_signal(actor: &Actor) -> StoreResult<()> {
    actor.require(Permission::SignalRead)?;
    if !(actor.is_platform()
        || (actor.org_type == OrgType::Regulator && actor.province_code == "00"))
    {
        return Err(StoreError::forbidden(
            "signal_national_only",
            "the national database is read by the national regulator",
        ));
    }
    Ok(())
}

/// The national database's cases (the national regulator and the platform).
pub async fn national_reports(store: &dyn Store, actor: &Actor) -> StoreResult<Vec<NationalRow>> {
    require_signal(actor)?;
    rows(
        store
            .select(
                &format!(
                    "SELECT {NATIONAL_COLS} FROM national_reports ORDER BY received_at DESC, id"
                ),
                vec![],
            )
            .await?,
    )
}

/// Report-event rows for signal detection: the national database's cases
/// that are not duplicates, and, when asked, a loaded reference source.
pub async fn signal_rows(
    store: &dyn Store,
    actor: &Actor,
    reference: Option<&str>,
) -> StoreResult<Vec<(String, String, String, String)>> {
    require_signal(actor)?;
    let mut out = Vec::new();
    let national = store
        .select(
            "SELECT e.report_id, e.product, e.event, e.stratum FROM national_report_events e JOIN national_reports r ON r.id = e.report_id WHERE r.duplicate_of IS NULL ORDER BY e.report_id, e.product, e.event",
            vec![],
        )
        .await?;
    let reference_rows = match reference {
        Some(src) => {
            store
                .select(
                    "SELECT report_id, product, event, stratum FROM reference_reports WHERE source = $1 ORDER BY report_id, product, event",
                    vec![t(src)],
                )
                .await?
        }
        None => Vec::new(),
    };
    let text = |m: &Map<String, Value>, k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    for (prefix, set) in [("", national), ("ref:", reference_rows)] {
        for m in set {
            out.push((
                format!("{prefix}{}", text(&m, "report_id")),
                text(&m, "product"),
                text(&m, "event"),
                text(&m, "stratum"),
            ));
        }
    }
    Ok(out)
}

/// Loads reference report-event rows (e.g. FAERS) outside the ledger and
/// records the load, with the files' SHA-256, as a ledger event.
pub async fn load_reference(
    store: &dyn Store,
    actor: &Actor,
    source: &str,
    files: Vec<(String, String)>,
    rows: &[(String, String, String, String)],
    when: &When,
) -> StoreResult<u64> {
    require_signal(actor)?;
    let source = required("source", source, 32)?;
    let n = store.put_reference_rows(&source, rows).await?;
    let reports: BTreeSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let ev = actor.event(
        format!("reference:{source}"),
        REFERENCE_LOADED,
        ReferenceLoaded {
            source: source.clone(),
            files,
            reports: reports.len() as u64,
            rows: n,
        },
        when,
        "载入公开参考数据 / public reference data loaded",
    )?;
    store.append(vec![ev]).await?;
    Ok(n)
}

// ---------------------------------------------------------------- dashboards

/// Expedited reporting per institution or sponsor on a day.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ClockSummary {
    pub org_id: String,
    pub expedited: u32,
    pub open: u32,
    pub due_soon: u32,
    pub overdue: u32,
    pub sent_on_time: u32,
    pub sent_late: u32,
}

/// The reporting clocks of the adverse events the actor sees, per site
/// and per sponsor, as of a day.
pub async fn clock_dashboard(
    store: &dyn Store,
    actor: &Actor,
    today: NaiveDate,
) -> StoreResult<(Vec<ClockSummary>, Vec<ClockSummary>)> {
    let all = aes(store, actor).await?;
    let mut sites: std::collections::BTreeMap<String, ClockSummary> = Default::default();
    let mut sponsors: std::collections::BTreeMap<String, ClockSummary> = Default::default();
    for r in &all {
        if r.report_kind == ReportKind::NotExpedited.as_str() {
            continue;
        }
        let mut keys = vec![(&mut sites, r.site_id.clone())];
        if let Some(s) = &r.sponsor_id {
            keys.push((&mut sponsors, s.clone()));
        }
        for (map, key) in keys {
            let e = map.entry(key.clone()).or_insert_with(|| ClockSummary {
                org_id: key,
                ..Default::default()
            });
            e.expedited += 1;
            for (_, _, s) in r.clocks(today) {
                match s {
                    ClockStatus::NotDue | ClockStatus::Open => e.open += 1,
                    ClockStatus::DueSoon => e.due_soon += 1,
                    ClockStatus::Overdue => e.overdue += 1,
                    ClockStatus::SentOnTime => e.sent_on_time += 1,
                    ClockStatus::SentLate => e.sent_late += 1,
                }
            }
        }
    }
    Ok((
        sites.into_values().collect(),
        sponsors.into_values().collect(),
    ))
}

// ---------------------------------------------------------------- follow-up

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EnrolmentRow {
    pub id: String,
    pub site_id: String,
    pub project_id: String,
    pub subject_id: Option<String>,
    pub patient_id: Option<String>,
    pub subject_code: String,
    pub product: String,
    pub product_class: String,
    pub years: i64,
    pub visit_years: i64,
    pub start_on: String,
    pub status: String,
    pub died_on: Option<String>,
    pub withdrawn_on: Option<String>,
    pub malignancy_on: Option<String>,
    pub enrolled_at: String,
}

const ENROLMENT_COLS: &str = "id, site_id, project_id, subject_id, patient_id, subject_code, product, product_class, years, visit_years, start_on, status, died_on, withdrawn_on, malignancy_on, enrolled_at";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VisitRow {
    pub number: i64,
    pub kind: String,
    pub due: String,
    pub window_start: String,
    pub window_end: String,
    pub done_on: Option<String>,
    pub vital: Option<String>,
    pub new_malignancy: i64,
    pub note: String,
}

impl VisitRow {
    pub fn scheduled(&self) -> Option<sf::ScheduledVisit> {
        Some(sf::ScheduledVisit {
            number: self.number as u32,
            kind: self.kind.parse().ok()?,
            due: self.due.parse().ok()?,
            window_start: self.window_start.parse().ok()?,
            window_end: self.window_end.parse().ok()?,
        })
    }
    pub fn done(&self) -> Option<NaiveDate> {
        self.done_on.as_deref().and_then(|d| d.parse().ok())
    }
    pub fn status(&self, today: NaiveDate) -> Option<sf::VisitStatus> {
        Some(sf::visit_status(&self.scheduled()?, self.done(), today))
    }
}

pub async fn enrolment(store: &dyn Store, id: &str) -> StoreResult<Option<EnrolmentRow>> {
    one::<EnrolmentRow>(
        store,
        &format!("SELECT {ENROLMENT_COLS} FROM ltfu_enrolments WHERE id = $1"),
        vec![t(id)],
    )
    .await
}

pub async fn visits(store: &dyn Store, id: &str) -> StoreResult<Vec<VisitRow>> {
    rows(
        store
            .select(
                "SELECT number, kind, due, window_start, window_end, done_on, vital, new_malignancy, note FROM ltfu_visits WHERE enrolment_id = $1 ORDER BY number",
                vec![t(id)],
            )
            .await?,
    )
}

pub async fn visible_enrolment(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
) -> StoreResult<EnrolmentRow> {
    actor.require(Permission::SafetyRead)?;
    let not_found = || StoreError::not_found("ltfu_not_found", id.to_string());
    let e = enrolment(store, id.trim()).await?.ok_or_else(not_found)?;
    if crate::trace::sees_any(store, actor, &[e.site_id.as_str()]).await? {
        Ok(e)
    } else {
        Err(not_found())
    }
}

/// A subject's follow-up status on a day (lost to follow-up is read from
/// the visits; death, withdrawal and completion are recorded).
pub fn subject_status(
    e: &EnrolmentRow,
    visits: &[VisitRow],
    today: NaiveDate,
) -> sf::SubjectFollowUpStatus {
    let list: Vec<(sf::ScheduledVisit, Option<NaiveDate>)> = visits
        .iter()
        .filter_map(|v| Some((v.scheduled()?, v.done())))
        .collect();
    let died = e.died_on.as_deref().and_then(|d| d.parse().ok());
    let withdrawn = e.withdrawn_on.as_deref().and_then(|d| d.parse().ok());
    sf::follow_up_status(&list, died, withdrawn, today)
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolInput {
    pub project_id: String,
    #[serde(default)]
    pub subject_id: Option<String>,
    #[serde(default)]
    pub patient_id: Option<String>,
    pub product: String,
    pub product_class: String,
    /// Years of follow-up; when omitted, the project's saved classification
    /// (the rules engine's `ltfu_years`) decides, else the product class
    /// ([`class_ltfu_years`]).
    #[serde(default)]
    pub years: Option<u32>,
    /// The day of administration (day 0 of the schedule).
    pub start_on: String,
}

/// The rules engine's follow-up years from the project's latest saved
/// classification, if it drew one.
async fn classified_ltfu_years(store: &dyn Store, project_id: &str) -> StoreResult<Option<u32>> {
    let events = store
        .stream_events(&crate::projection::project_stream(project_id))
        .await?;
    Ok(events
        .iter()
        .rev()
        .find(|e| e.kind == crate::projection::PROJECT_CLASSIFIED)
        .and_then(|e| e.payload["results"]["US"]["ltfu_years"]["value"].as_u64())
        .map(|v| v as u32))
}

/// Follow-up years a product class implies when neither the caller nor a
/// saved classification says: CAR-T and TCR-T cells are made with
/// integrating (lentiviral or gammaretroviral) vectors, which the FDA's
/// 2020 long-term follow-up guidance and CDE's 2021 technical guideline on
/// long-term follow-up of gene therapy products follow for 15 years. Other
/// classes depend on how the product is made (an AAV gene therapy, 5 years;
/// unmodified cells, none), so they need the years or a classification.
pub fn class_ltfu_years(product_class: &str) -> Option<u32> {
    matches!(product_class, "car_t" | "tcr_t").then_some(15)
}

/// Enrols a treated subject in long-term follow-up with the schedule the
/// years imply.
pub async fn enrol_ltfu(
    store: &dyn Store,
    actor: &Actor,
    input: &EnrolInput,
    when: &When,
) -> StoreResult<EnrolmentRow> {
    require_site(actor)?;
    let project_id = required("project_id", &input.project_id, 64)?;
    if input
        .subject_id
        .as_deref()
        .is_none_or(|s| s.trim().is_empty())
    {
        // A subject of a multi-centre study is checked against its site
        // below; a patient outside a study needs the project in view.
        crate::service::visible_project(store, actor, &project_id).await?;
    }
    let subject_id = optional("subject_id", &input.subject_id, 64)?;
    let patient_id = optional("patient_id", &input.patient_id, 64)?;
    let subject_code = match (&subject_id, &patient_id) {
        (Some(s), _) => {
            crate::ethics::subject(store, s)
                .await?
                .filter(|r| r.site_id == actor.org_id && r.project_id == project_id)
                .ok_or_else(|| StoreError::invalid("subject_not_found", "subject_id", s.clone()))?
                .code
        }
        (None, Some(p)) => {
            crate::trace::person(store, p)
                .await?
                .filter(|r| r.institution_id == actor.org_id)
                .ok_or_else(|| StoreError::invalid("person_not_found", "patient_id", p.clone()))?
                .id
        }
        (None, None) => {
            return Err(StoreError::invalid(
                "ae_patient_required",
                "subject_id",
                "a study subject or a patient",
            ))
        }
    };
    let product = required("product", &input.product, 200)?;
    let product_class = input.product_class.trim().to_string();
    if !PRODUCT_CLASSES.contains(&product_class.as_str()) {
        return Err(StoreError::invalid(
            "product_class_invalid",
            "product_class",
            product_class,
        ));
    }
    let years = match input.years {
        Some(y) => y,
        None => match classified_ltfu_years(store, &project_id).await? {
            Some(y) => y,
            None => class_ltfu_years(&product_class).ok_or_else(|| {
                StoreError::invalid(
                    "ltfu_years_required",
                    "years",
                    "no saved classification gives the follow-up years",
                )
            })?,
        },
    };
    if years == 0 || years > 30 {
        return Err(StoreError::invalid(
            "ltfu_years_invalid",
            "years",
            years.to_string(),
        ));
    }
    let start = iso_date("start_on", &input.start_on)?;
    if start > when.today {
        return Err(StoreError::invalid(
            "date_in_future",
            "start_on",
            start.to_string(),
        ));
    }
    let existing = store
        .select(
            "SELECT id FROM ltfu_enrolments WHERE site_id = $1 AND project_id = $2 AND subject_code = $3 AND product = $4",
            vec![t(&actor.org_id), t(&project_id), t(&subject_code), t(&product)],
        )
        .await?;
    if !existing.is_empty() {
        return Err(StoreError::conflict("ltfu_exists", subject_code).with_field("subject_id"));
    }
    let plan = sf::ltfu_plan(years);
    let visits = sf::ltfu_schedule(&plan, start)
        .into_iter()
        .map(|v| VisitRec {
            number: v.number,
            kind: v.kind.as_str().into(),
            due: v.due.to_string(),
            window_start: v.window_start.to_string(),
            window_end: v.window_end.to_string(),
        })
        .collect();
    let id = new_id("lt");
    let ev = actor.event(
        ltfu_stream(&id),
        LTFU_ENROLLED,
        LtfuEnrolled {
            id: id.clone(),
            site_id: actor.org_id.clone(),
            project_id,
            subject_id,
            patient_id,
            subject_code,
            product,
            product_class,
            years: plan.years,
            visit_years: plan.visit_years,
            start_on: start.to_string(),
            visits,
        },
        when,
        &format!("纳入长期随访（{years}年） / enrolled in long-term follow-up ({years} years)"),
    )?;
    crate::trace::append_read(store, vec![ev], enrolment(store, &id), &id).await
}

async fn own_enrolment(store: &dyn Store, actor: &Actor, id: &str) -> StoreResult<EnrolmentRow> {
    require_site(actor)?;
    let e = visible_enrolment(store, actor, id).await?;
    if e.site_id != actor.org_id {
        return Err(StoreError::forbidden(
            "ae_site_required",
            "only the following institution records visits",
        ));
    }
    if e.status != "active" {
        return Err(StoreError::conflict("ltfu_ended", e.status.clone())
            .with_arg("status", e.status.clone()));
    }
    Ok(e)
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VisitInput {
    pub number: u32,
    pub done_on: String,
    /// alive | dead | unknown
    pub vital: String,
    #[serde(default)]
    pub new_malignancy: bool,
    #[serde(default)]
    pub note: String,
}

/// Records a follow-up visit or contact (a death or a new malignancy found
/// at it is captured with it).
pub async fn record_visit(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    input: &VisitInput,
    when: &When,
) -> StoreResult<VisitRow> {
    let e = own_enrolment(store, actor, id).await?;
    let all = visits(store, &e.id).await?;
    let v = all
        .iter()
        .find(|v| v.number == input.number as i64)
        .ok_or_else(|| {
            StoreError::invalid("visit_not_found", "number", input.number.to_string())
        })?;
    if v.done_on.is_some() {
        return Err(
            StoreError::conflict("visit_recorded", input.number.to_string()).with_field("number"),
        );
    }
    let done = iso_date("done_on", &input.done_on)?;
    if done > when.today {
        return Err(StoreError::invalid(
            "date_in_future",
            "done_on",
            done.to_string(),
        ));
    }
    if done < e.start_on.parse().unwrap_or(done) {
        return Err(StoreError::invalid(
            "visit_before_start",
            "done_on",
            done.to_string(),
        ));
    }
    let vital = input.vital.trim();
    if !["alive", "dead", "unknown"].contains(&vital) {
        return Err(StoreError::invalid("vital_invalid", "vital", vital));
    }
    let note = input.note.trim().to_string();
    if note.chars().count() > 4000 {
        return Err(
            StoreError::invalid("field_too_long", "note", "too long").with_arg("max", "4000")
        );
    }
    let p = LtfuVisit {
        id: e.id.clone(),
        number: input.number,
        done_on: done.to_string(),
        vital: vital.to_string(),
        new_malignancy: input.new_malignancy,
        note,
    };
    let reason = format!(
        "长期随访第{n}次记录 / long-term follow-up {n} recorded",
        n = input.number
    );
    let ev = actor.event(ltfu_stream(&e.id), LTFU_VISIT, &p, when, &reason)?;
    store.append(vec![ev]).await?;
    visits(store, &e.id)
        .await?
        .into_iter()
        .find(|v| v.number == input.number as i64)
        .ok_or_else(|| StoreError::internal("projection_missing", e.id.clone()))
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndInput {
    /// died | withdrawn | completed
    pub status: String,
    pub on: String,
    #[serde(default)]
    pub reason: String,
}

/// Ends a follow-up: death, withdrawal of consent, or completion.
pub async fn end_ltfu(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
    input: &EndInput,
    when: &When,
) -> StoreResult<EnrolmentRow> {
    let e = own_enrolment(store, actor, id).await?;
    let status = input.status.trim();
    if !["died", "withdrawn", "completed"].contains(&status) {
        return Err(StoreError::invalid("ltfu_status_invalid", "status", status));
    }
    let on = iso_date("on", &input.on)?;
    if on > when.today {
        return Err(StoreError::invalid("date_in_future", "on", on.to_string()));
    }
    if status == "completed" {
        let open = visits(store, &e.id)
            .await?
            .iter()
            .filter(|v| v.done_on.is_none() && v.due.as_str() > on.to_string().as_str())
            .count();
        if open > 0 {
            return Err(StoreError::conflict("ltfu_not_complete", open.to_string())
                .with_field("status")
                .with_arg("open", open.to_string()));
        }
    }
    let reason = crate::service::check_reason(&input.reason)?;
    let ev = actor.event(
        ltfu_stream(&e.id),
        LTFU_ENDED,
        LtfuEnded {
            id: e.id.clone(),
            status: status.to_string(),
            on: on.to_string(),
        },
        when,
        &reason,
    )?;
    crate::trace::append_read(store, vec![ev], enrolment(store, &e.id), &e.id).await
}

/// One centre's follow-up completeness on a day.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CentreCompleteness {
    pub site_id: String,
    pub subjects: u32,
    pub active: u32,
    pub lost: u32,
    pub died: u32,
    pub malignancies: u32,
    pub completeness: sf::Completeness,
}

/// The follow-up enrolments the actor may see.
pub async fn enrolments(store: &dyn Store, actor: &Actor) -> StoreResult<Vec<EnrolmentRow>> {
    actor.require(Permission::SafetyRead)?;
    let all: Vec<EnrolmentRow> = rows(
        store
            .select(
                &format!(
                    "SELECT {ENROLMENT_COLS} FROM ltfu_enrolments ORDER BY site_id, start_on, id"
                ),
                vec![],
            )
            .await?,
    )?;
    visible_rows(store, actor, all, |e| vec![e.site_id.as_str()]).await
}

/// A scheduled visit and the day it was done, if it was.
type VisitDone = (sf::ScheduledVisit, Option<NaiveDate>);

/// Completeness of follow-up per centre on a day: visits due by then and
/// done, subjects lost, dead, new malignancies.
pub async fn completeness_dashboard(
    store: &dyn Store,
    actor: &Actor,
    today: NaiveDate,
) -> StoreResult<Vec<CentreCompleteness>> {
    let mut by_site: std::collections::BTreeMap<String, (CentreCompleteness, Vec<VisitDone>)> =
        Default::default();
    for e in enrolments(store, actor).await? {
        let vs = visits(store, &e.id).await?;
        let status = subject_status(&e, &vs, today);
        let entry = by_site.entry(e.site_id.clone()).or_insert_with(|| {
            (
                CentreCompleteness {
                    site_id: e.site_id.clone(),
                    subjects: 0,
                    active: 0,
                    lost: 0,
                    died: 0,
                    malignancies: 0,
                    completeness: sf::completeness(&[], today),
                },
                Vec::new(),
            )
        });
        entry.0.subjects += 1;
        match status {
            sf::SubjectFollowUpStatus::Active => entry.0.active += 1,
            sf::SubjectFollowUpStatus::LostToFollowUp => entry.0.lost += 1,
            sf::SubjectFollowUpStatus::Died => entry.0.died += 1,
            _ => {}
        }
        if e.malignancy_on.is_some() {
            entry.0.malignancies += 1;
        }
        let end = e
            .died_on
            .as_deref()
            .or(e.withdrawn_on.as_deref())
            .and_then(|d| d.parse::<NaiveDate>().ok());
        for v in &vs {
            if let Some(s) = v.scheduled() {
                // Visits after a death or withdrawal are not owed.
                if end.is_some_and(|end| s.window_start > end) {
                    continue;
                }
                entry.1.push((s, v.done()));
            }
        }
    }
    Ok(by_site
        .into_values()
        .map(|(mut c, list)| {
            c.completeness = sf::completeness(&list, today);
            c
        })
        .collect())
}

/// The patients a site can report about: its study subjects (with their
/// study) and its registered patients (with the project they came under).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReportablePatient {
    pub kind: String,
    pub id: String,
    pub project_id: Option<String>,
    pub code: String,
}

pub async fn reportable_patients(
    store: &dyn Store,
    actor: &Actor,
) -> StoreResult<Vec<ReportablePatient>> {
    actor.require(Permission::SafetyReport)?;
    let mut out: Vec<ReportablePatient> = rows(
        store
            .select(
                "SELECT 'subject' AS kind, id, project_id, code FROM subjects WHERE site_id = $1 ORDER BY project_id, code",
                vec![t(&actor.org_id)],
            )
            .await?,
    )?;
    out.extend(rows::<ReportablePatient>(
        store
            .select(
                "SELECT 'patient' AS kind, id, project_id, id AS code FROM trace_people WHERE institution_id = $1 AND kind = 'patient' ORDER BY id",
                vec![t(&actor.org_id)],
            )
            .await?,
    )?);
    Ok(out)
}

/// A follow-up visit to remind the site of: open now, or opening within the
/// look-ahead.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Reminder {
    pub enrolment_id: String,
    pub site_id: String,
    pub subject_code: String,
    pub number: i64,
    pub kind: String,
    pub due: String,
    pub window_start: String,
    pub window_end: String,
    /// `due_now` (in its window) or `upcoming`.
    pub status: String,
}

/// Days ahead the reminders look.
pub const REMINDER_DAYS: i64 = 30;

/// Visits of active follow-ups that are in their window on the day, or
/// whose window opens within [`REMINDER_DAYS`], earliest first.
pub async fn reminders(
    store: &dyn Store,
    actor: &Actor,
    today: NaiveDate,
) -> StoreResult<Vec<Reminder>> {
    let horizon = today + chrono::Duration::days(REMINDER_DAYS);
    let mut out = Vec::new();
    for e in enrolments(store, actor).await? {
        if e.status != "active" {
            continue;
        }
        for v in visits(store, &e.id).await? {
            let Some(s) = v.scheduled() else { continue };
            if v.done_on.is_some() || s.window_end < today || s.window_start > horizon {
                continue;
            }
            out.push(Reminder {
                enrolment_id: e.id.clone(),
                site_id: e.site_id.clone(),
                subject_code: e.subject_code.clone(),
                number: v.number,
                kind: v.kind.clone(),
                status: if s.window_start <= today {
                    "due_now"
                } else {
                    "upcoming"
                }
                .into(),
                due: v.due.clone(),
                window_start: v.window_start.clone(),
                window_end: v.window_end.clone(),
            });
        }
    }
    out.sort_by(|a, b| a.due.cmp(&b.due).then(a.enrolment_id.cmp(&b.enrolment_id)));
    Ok(out)
}
