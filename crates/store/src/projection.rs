//! Event kinds, their payloads, and how each one changes the read models.
//!
//! [`project`] is pure: it turns one ledger event into SQL operations. The
//! backends run them inside the append transaction and again, in order, during
//! replay, so a rebuilt read model equals the live one by construction.

use celltrail_ledger::Event;
use serde::{Deserialize, Serialize};

use crate::error::{StoreError, StoreResult};

pub const ORG_REGISTERED: &str = "org.registered";
pub const ORG_UPDATED: &str = "org.updated";
pub const ORG_DEACTIVATED: &str = "org.deactivated";
pub const QUALIFICATION_RECORDED: &str = "qualification.recorded";
pub const QUALIFICATION_REVOKED: &str = "qualification.revoked";
pub const USER_CREATED: &str = "user.created";
pub const USER_ROLES_CHANGED: &str = "user.roles_changed";
pub const USER_DEACTIVATED: &str = "user.deactivated";
pub const USER_PASSWORD_SET: &str = "user.password_set";
pub const PROJECT_DRAFTED: &str = "project.drafted";
pub const PROJECT_TRANSITIONED: &str = "project.transitioned";
/// A classification by the rules engine saved against a project; read from
/// the project's stream (what the rules said that day), no read model.
pub const PROJECT_CLASSIFIED: &str = "project.classified";

/// Stream names: one stream per regulated record.
pub fn org_stream(id: &str) -> String {
    format!("org:{id}")
}
pub fn user_stream(id: &str) -> String {
    format!("user:{id}")
}
pub fn project_stream(id: &str) -> String {
    format!("project:{id}")
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OrgProfile {
    pub name_zh: String,
    pub name_en: String,
    pub uscc: Option<String>,
    pub province_code: String,
    pub city_zh: String,
    pub city_en: String,
    pub grade: Option<String>,
    pub address_zh: String,
    pub address_en: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OrgRegistered {
    pub id: String,
    pub org_type: String,
    #[serde(flatten)]
    pub profile: OrgProfile,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OrgUpdated {
    pub id: String,
    #[serde(flatten)]
    pub profile: OrgProfile,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct IdOnly {
    pub id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct QualificationRecorded {
    pub id: String,
    pub org_id: String,
    pub kind: String,
    pub number: String,
    pub issuer_zh: String,
    pub issuer_en: String,
    pub valid_from: String,
    pub valid_to: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UserCreated {
    pub id: String,
    pub org_id: String,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub roles: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UserRolesChanged {
    pub id: String,
    pub roles: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ProjectDrafted {
    pub id: String,
    pub kind: String,
    pub org_id: String,
    pub title_zh: String,
    pub title_en: String,
    pub summary_zh: String,
    pub summary_en: String,
    pub category: String,
    pub pi_name: String,
}

/// An electronic signature (21 CFR 11.50: printed name, date and time,
/// meaning) carried inside the event it signs, bound to the record's hash.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SignaturePayload {
    pub meaning: String,
    pub user_id: String,
    pub printed_name: String,
    pub org_id: String,
    pub signed_at: String,
    pub record_hash: String,
    pub manifest_hash: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ProjectTransitioned {
    pub id: String,
    pub action: String,
    pub from: String,
    pub to: String,
    pub deadline: Option<String>,
    pub deadline_kind: Option<String>,
    pub deadline_provisional: bool,
    pub filing_number: Option<String>,
    pub signature: Option<SignaturePayload>,
}

/// A value bound to a SQL parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
}

/// One SQL statement with `$n` parameters (both backends accept them).
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    pub sql: &'static str,
    pub args: Vec<Val>,
}

pub(crate) fn t(s: &str) -> Val {
    Val::Text(s.to_string())
}
pub(crate) fn ot(s: &Option<String>) -> Val {
    Val::OptText(s.clone())
}

/// Rows of [`crate::Store::select`] as read-model structs (the one reader
/// every capability's tables go through).
pub(crate) fn rows<T: serde::de::DeserializeOwned>(
    rows: Vec<serde_json::Map<String, serde_json::Value>>,
) -> StoreResult<Vec<T>> {
    rows.into_iter()
        .map(|m| {
            serde_json::from_value(serde_json::Value::Object(m))
                .map_err(|e| StoreError::internal("read_model_invalid", e.to_string()))
        })
        .collect()
}

/// The last row of a query, if any.
pub(crate) async fn one<T: serde::de::DeserializeOwned>(
    store: &dyn crate::Store,
    sql: &str,
    args: Vec<Val>,
) -> StoreResult<Option<T>> {
    Ok(rows::<T>(store.select(sql, args).await?)?.pop())
}

/// A closed-set value from input, or `code` naming the field.
pub(crate) fn parse_enum<T: std::str::FromStr>(
    field: &str,
    v: &str,
    code: &'static str,
) -> StoreResult<T> {
    v.trim()
        .parse()
        .map_err(|_| StoreError::invalid(code, field, v.to_string()))
}

pub(crate) fn payload<T: serde::de::DeserializeOwned>(ev: &Event) -> StoreResult<T> {
    serde_json::from_value(ev.payload.clone()).map_err(|e| {
        StoreError::internal(
            "event_payload_invalid",
            format!("{} seq {} ({}): {e}", ev.stream, ev.seq, ev.kind),
        )
    })
}

/// The read-model tables, in the order replay clears them.
pub const READ_MODEL_TABLES: &[(&str, &str)] = &[
    ("organisations", "id"),
    ("qualifications", "id"),
    ("users", "id"),
    ("projects", "id"),
    ("signatures", "stream, seq"),
    ("org_search", "id"),
    ("committees", "id"),
    ("committee_members", "committee_id, id"),
    ("experts", "id"),
    ("submissions", "id"),
    ("submission_documents", "submission_id, seq"),
    ("submission_reviewers", "submission_id, reviewer"),
    ("meetings", "id"),
    ("meeting_items", "meeting_id, submission_id"),
    ("reliances", "id"),
    ("consent_versions", "project_id, version"),
    ("subjects", "id"),
    ("reconsent_tasks", "subject_id, version"),
    ("trace_people", "id"),
    ("collections", "id"),
    ("units", "id"),
    ("handoffs", "unit_id, shipment_id"),
    ("shipments", "id"),
    ("shipment_units", "shipment_id, unit_id"),
    ("temperature_readings", "shipment_id, at"),
    ("excursions", "shipment_id, start_at"),
    ("processes", "id"),
    ("equipment", "id"),
    ("material_lots", "id"),
    ("cell_banks", "id"),
    ("batches", "id"),
    ("batch_steps", "batch_id, seq"),
    ("qc_results", "batch_id, seq"),
    ("deviations", "id"),
    ("bedside_checks", "id"),
    ("administrations", "unit_id"),
    ("halts", "target_kind, target_id"),
    ("lineage", "parent, child, relation"),
    ("adverse_events", "id"),
    ("ae_versions", "ae_id, version"),
    ("ae_reports", "ae_id, seq"),
    ("national_reports", "id"),
    ("national_report_events", "report_id, product, event"),
    ("ltfu_enrolments", "id"),
    ("ltfu_visits", "enrolment_id, number"),
];

/// The text the name search matches: both names, lower-cased.
pub fn org_search_text(p: &OrgProfile) -> String {
    format!("{} {}", p.name_zh, p.name_en).to_lowercase()
}

fn org_search_ops(id: &str, p: &OrgProfile) -> [Op; 2] {
    [
        Op {
            sql: "DELETE FROM org_search WHERE id = $1",
            args: vec![t(id)],
        },
        Op {
            sql: "INSERT INTO org_search (id, text) VALUES ($1, $2)",
            args: vec![t(id), Val::Text(org_search_text(p))],
        },
    ]
}

/// The SQL operations one event implies for the read models.
pub fn project(ev: &Event) -> StoreResult<Vec<Op>> {
    let seq = ev.seq as i64;
    let ops = match ev.kind.as_str() {
        ORG_REGISTERED => {
            let p: OrgRegistered = payload(ev)?;
            let f = &p.profile;
            let mut ops = vec![Op {
                sql: "INSERT INTO organisations (id, org_type, name_zh, name_en, uscc, province_code, city_zh, city_en, grade, address_zh, address_en, active, created_at, updated_at, head_seq) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,1,$12,$12,$13)",
                args: vec![
                    t(&p.id), t(&p.org_type), t(&f.name_zh), t(&f.name_en), ot(&f.uscc),
                    t(&f.province_code), t(&f.city_zh), t(&f.city_en), ot(&f.grade),
                    t(&f.address_zh), t(&f.address_en), t(&ev.time), Val::Int(seq),
                ],
            }];
            ops.extend(org_search_ops(&p.id, f));
            ops
        }
        ORG_UPDATED => {
            let p: OrgUpdated = payload(ev)?;
            let f = &p.profile;
            let mut ops = vec![Op {
                sql: "UPDATE organisations SET name_zh=$2, name_en=$3, uscc=$4, province_code=$5, city_zh=$6, city_en=$7, grade=$8, address_zh=$9, address_en=$10, updated_at=$11, head_seq=$12 WHERE id=$1",
                args: vec![
                    t(&p.id), t(&f.name_zh), t(&f.name_en), ot(&f.uscc), t(&f.province_code),
                    t(&f.city_zh), t(&f.city_en), ot(&f.grade), t(&f.address_zh),
                    t(&f.address_en), t(&ev.time), Val::Int(seq),
                ],
            }];
            ops.extend(org_search_ops(&p.id, f));
            ops
        }
        ORG_DEACTIVATED => {
            let p: IdOnly = payload(ev)?;
            vec![Op {
                sql: "UPDATE organisations SET active=0, updated_at=$2, head_seq=$3 WHERE id=$1",
                args: vec![t(&p.id), t(&ev.time), Val::Int(seq)],
            }]
        }
        QUALIFICATION_RECORDED => {
            let p: QualificationRecorded = payload(ev)?;
            vec![
                Op {
                    sql: "INSERT INTO qualifications (id, org_id, kind, number, issuer_zh, issuer_en, valid_from, valid_to, revoked, recorded_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,0,$9)",
                    args: vec![
                        t(&p.id), t(&p.org_id), t(&p.kind), t(&p.number), t(&p.issuer_zh),
                        t(&p.issuer_en), t(&p.valid_from), ot(&p.valid_to), t(&ev.time),
                    ],
                },
                org_touch(&p.org_id, ev),
            ]
        }
        QUALIFICATION_REVOKED => {
            let p: IdOnly = payload(ev)?;
            vec![Op {
                sql: "UPDATE qualifications SET revoked=1 WHERE id=$1",
                args: vec![t(&p.id)],
            }]
        }
        USER_CREATED => {
            let p: UserCreated = payload(ev)?;
            vec![Op {
                sql: "INSERT INTO users (id, org_id, username, display_name, email, roles, active, created_at) VALUES ($1,$2,$3,$4,$5,$6,1,$7)",
                args: vec![
                    t(&p.id), t(&p.org_id), t(&p.username), t(&p.display_name), t(&p.email),
                    Val::Text(p.roles.join(",")), t(&ev.time),
                ],
            }]
        }
        USER_ROLES_CHANGED => {
            let p: UserRolesChanged = payload(ev)?;
            vec![Op {
                sql: "UPDATE users SET roles=$2 WHERE id=$1",
                args: vec![t(&p.id), Val::Text(p.roles.join(","))],
            }]
        }
        USER_DEACTIVATED => {
            let p: IdOnly = payload(ev)?;
            vec![Op {
                sql: "UPDATE users SET active=0 WHERE id=$1",
                args: vec![t(&p.id)],
            }]
        }
        USER_PASSWORD_SET | PROJECT_CLASSIFIED => Vec::new(),
        PROJECT_DRAFTED => {
            let p: ProjectDrafted = payload(ev)?;
            vec![Op {
                sql: "INSERT INTO projects (id, kind, org_id, title_zh, title_en, summary_zh, summary_en, category, pi_name, state, filing_number, submitted_at, deadline, deadline_kind, deadline_provisional, filed_at, last_reason, created_at, updated_at, head_seq) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,'draft',NULL,NULL,NULL,NULL,0,NULL,$10,$11,$11,$12)",
                args: vec![
                    t(&p.id), t(&p.kind), t(&p.org_id), t(&p.title_zh), t(&p.title_en),
                    t(&p.summary_zh), t(&p.summary_en), t(&p.category), t(&p.pi_name),
                    t(&ev.reason), t(&ev.time), Val::Int(seq),
                ],
            }]
        }
        PROJECT_TRANSITIONED => {
            let p: ProjectTransitioned = payload(ev)?;
            let submitted = (p.action == "submit").then(|| ev.time.clone());
            let filed = (p.action == "file").then(|| ev.time.clone());
            let mut ops = vec![Op {
                sql: "UPDATE projects SET state=$2, filing_number=COALESCE($3, filing_number), submitted_at=COALESCE($4, submitted_at), deadline=$5, deadline_kind=$6, deadline_provisional=$7, filed_at=COALESCE($8, filed_at), last_reason=$9, updated_at=$10, head_seq=$11 WHERE id=$1",
                args: vec![
                    t(&p.id), t(&p.to), ot(&p.filing_number), Val::OptText(submitted),
                    ot(&p.deadline), ot(&p.deadline_kind), Val::Int(p.deadline_provisional as i64),
                    Val::OptText(filed), t(&ev.reason), t(&ev.time), Val::Int(seq),
                ],
            }];
            if let Some(s) = &p.signature {
                ops.push(Op {
                    sql: "INSERT INTO signatures (stream, seq, action, meaning, record_hash, manifest_hash, user_id, printed_name, org_id, signed_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
                    args: vec![
                        t(&ev.stream), Val::Int(seq), t(&p.action), t(&s.meaning),
                        t(&s.record_hash), t(&s.manifest_hash), t(&s.user_id),
                        t(&s.printed_name), t(&s.org_id), t(&s.signed_at),
                    ],
                });
            }
            ops
        }
        k if crate::ethics::KINDS.contains(&k) => return crate::ethics::project(ev),
        k if crate::trace::KINDS.contains(&k) => return crate::trace::project(ev),
        k if crate::safety::KINDS.contains(&k) => return crate::safety::project(ev),
        other => {
            return Err(StoreError::internal(
                "event_kind_unknown",
                format!("{} seq {}: unknown event kind {other}", ev.stream, ev.seq),
            ))
        }
    };
    Ok(ops)
}

fn org_touch(org_id: &str, ev: &Event) -> Op {
    Op {
        sql: "UPDATE organisations SET updated_at=$2, head_seq=$3 WHERE id=$1",
        args: vec![t(org_id), t(&ev.time), Val::Int(ev.seq as i64)],
    }
}
