//! Ethics review and dynamic consent: events, how they change the read
//! models, the commands that append them, and the reads screens use.
//!
//! Streams: `committee:{id}` (constitution and membership), `expert:{id}`,
//! `submission:{id}` (submission, documents, reviewers, opinions, decision),
//! `meeting:{id}`, `reliance:{id}`, `subject:{id}` (enrolment, consent,
//! withdrawal). The pure rules — composition, routes, quorum, tally, lapse
//! dates, expert assignment, consent timelines — live in
//! `celltrail_core::{ethics, consent}`; this module applies them to stored
//! records.

use std::str::FromStr;

use celltrail_core::access::{OrgType, Permission};
use celltrail_core::consent::{
    self as cs, Change, ConsentIndex, ConsentTerms, Gate, Method, SampleDisposition, Scope, Scopes,
    Timeline, VersionTerms,
};
use celltrail_core::ethics::{
    self as et, Decision, Expertise, Member, MemberRole, Route, RouteFacts, Sex, SubmissionType,
};
use celltrail_core::workflow::SignatureMeaning;
use celltrail_ledger::sha256_hex;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{StoreError, StoreResult};
use crate::projection::{ot, payload, rows, t, Op, SignaturePayload, Val};
use crate::service::{
    check_reason, check_signature, iso_date, optional, reason_text, required, visible_project,
    Actor, SignInput, When,
};
use crate::{new_id, Store};

pub const COMMITTEE_CONSTITUTED: &str = "committee.constituted";
pub const MEMBER_APPOINTED: &str = "committee.member_appointed";
pub const MEMBER_LEFT: &str = "committee.member_left";
pub const EXPERT_REGISTERED: &str = "expert.registered";
pub const EXPERT_INTEREST_DECLARED: &str = "expert.interest_declared";
pub const SUBMITTED: &str = "ethics.submitted";
pub const DOCUMENT_ADDED: &str = "ethics.document_added";
pub const REVIEWERS_ASSIGNED: &str = "ethics.reviewers_assigned";
pub const OPINION_GIVEN: &str = "ethics.opinion_given";
pub const REFERRED_TO_MEETING: &str = "ethics.referred_to_meeting";
pub const DECIDED: &str = "ethics.decided";
pub const MEETING_SCHEDULED: &str = "meeting.scheduled";
pub const MEETING_ATTENDANCE: &str = "meeting.attendance_recorded";
pub const MEETING_ITEM_VOTED: &str = "meeting.item_voted";
pub const RELIANCE_PROPOSED: &str = "reliance.proposed";
pub const RELIANCE_MOVED: &str = "reliance.moved";
pub const SUBJECT_ENROLLED: &str = "subject.enrolled";
pub const CONSENT_SIGNED: &str = "consent.signed";
pub const CONSENT_WITHDRAWN: &str = "consent.withdrawn";

/// Every event kind of this module (the projection dispatches on these).
pub const KINDS: &[&str] = &[
    COMMITTEE_CONSTITUTED,
    MEMBER_APPOINTED,
    MEMBER_LEFT,
    EXPERT_REGISTERED,
    EXPERT_INTEREST_DECLARED,
    SUBMITTED,
    DOCUMENT_ADDED,
    REVIEWERS_ASSIGNED,
    OPINION_GIVEN,
    REFERRED_TO_MEETING,
    DECIDED,
    MEETING_SCHEDULED,
    MEETING_ATTENDANCE,
    MEETING_ITEM_VOTED,
    RELIANCE_PROPOSED,
    RELIANCE_MOVED,
    SUBJECT_ENROLLED,
    CONSENT_SIGNED,
    CONSENT_WITHDRAWN,
];

/// Document kinds of a submission.
pub const DOCUMENT_KINDS: &[&str] = &[
    "protocol",
    "investigator_brochure",
    "consent_form",
    "assent_form",
    "recruitment_material",
    "cv",
    "insurance",
    "other",
];

/// Statuses a submission moves through (its read model's `status`).
pub const SUBMISSION_STATUSES: &[&str] = &[
    "submitted",
    "in_review",
    "meeting",
    "meeting_pending",
    "decided",
];
/// Statuses of a meeting, of a subject, kinds of reviewer, reasons an
/// expert is left out, and where a site's approval stands.
pub const MEETING_STATUSES: &[&str] = &["scheduled", "held"];
pub const SUBJECT_STATUSES: &[&str] = &["enrolled", "active", "withdrawn"];
pub const REVIEWER_KINDS: &[&str] = &["member", "expert"];
pub const EXCLUSION_REASONS: &[&str] = &[
    "affiliated_with_site",
    "affiliated_with_sponsor",
    "declared_interest",
];
pub const APPROVAL_STATUSES: &[&str] = &["current", "due_soon", "lapsed", "none"];

/// Committee kinds.
pub const COMMITTEE_KINDS: &[&str] = &["institutional", "regional", "special_expert"];

/// Days a committee has to decide once a submission is accepted (the 2023
/// measures: an opinion within 30 days).
pub const DECISION_DAYS: i64 = 30;

// ---------------------------------------------------------------- payloads

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CommitteeConstituted {
    pub id: String,
    pub institution_id: Option<String>,
    pub kind: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MemberAppointed {
    pub committee_id: String,
    pub member: Member,
    pub user_id: Option<String>,
    pub appointed_on: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MemberLeft {
    pub committee_id: String,
    pub member_id: String,
    pub left_on: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ExpertRegistered {
    pub id: String,
    pub name: String,
    pub affiliation: String,
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ExpertInterest {
    pub id: String,
    pub org_id: String,
    pub nature: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BasisRef {
    pub instrument: String,
    pub article: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Submitted {
    pub id: String,
    pub project_id: String,
    pub committee_id: String,
    pub site_id: String,
    pub kind: String,
    pub route: String,
    pub rule: Option<String>,
    pub basis: Vec<BasisRef>,
    pub facts: RouteFacts,
    /// The consent document version this submission asks to approve.
    pub consent_version: Option<VersionTerms>,
    /// A participating site's submission relying on a lead review.
    pub lead_id: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DocumentAdded {
    pub submission_id: String,
    pub doc_kind: String,
    pub lang: String,
    pub version: String,
    pub sha256: String,
    pub filename: String,
    pub media_type: String,
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ExclusionRef {
    pub expert: String,
    pub reason: String,
    pub org: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReviewersAssigned {
    pub submission_id: String,
    /// `member` or `expert`.
    pub reviewer_kind: String,
    pub reviewers: Vec<String>,
    /// Experts left out, each with the reason.
    pub excluded: Vec<ExclusionRef>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OpinionGiven {
    pub submission_id: String,
    pub reviewer: String,
    pub opinion: String,
    pub note: String,
    pub meeting_requested: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Decided {
    pub submission_id: String,
    pub decision: String,
    /// `simplified`, `meeting` or `exempt`.
    pub via: String,
    pub meeting_id: Option<String>,
    pub lapses_on: Option<String>,
    pub conditions: String,
    pub consent_version: Option<VersionTerms>,
    pub project_id: String,
    pub signature: SignaturePayload,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MeetingScheduled {
    pub id: String,
    pub committee_id: String,
    pub held_on: String,
    pub agenda: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AttendanceRecorded {
    pub meeting_id: String,
    pub present: Vec<String>,
    /// Per agenda item, the members who withdraw for a conflict of interest.
    pub recused: Vec<(String, Vec<String>)>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ItemVoted {
    pub meeting_id: String,
    pub submission_id: String,
    pub votes: Vec<et::Vote>,
    pub decision: Option<String>,
    pub needed: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RelianceProposed {
    pub id: String,
    pub project_id: String,
    pub lead_submission_id: String,
    pub site_id: String,
    pub committee_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RelianceMoved {
    pub id: String,
    pub to: String,
    pub agreement: Option<String>,
    pub local_considerations: Option<String>,
    pub own_submission_id: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SubjectEnrolled {
    pub id: String,
    pub project_id: String,
    pub site_id: String,
    /// The site's pseudonymous subject code (no identifying data).
    pub code: String,
    pub enrolled_on: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ConsentSigned {
    pub subject_id: String,
    pub project_id: String,
    pub terms: ConsentTerms,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ConsentWithdrawn {
    pub subject_id: String,
    pub project_id: String,
    pub on: String,
    pub scopes: Scopes,
    pub whole: bool,
    pub samples: Option<SampleDisposition>,
    /// `staff` or `subject` (through the personal link).
    pub by: String,
}

// ---------------------------------------------------------------- projection

fn js(v: &impl Serialize) -> StoreResult<Val> {
    Ok(Val::Text(serde_json::to_string(v)?))
}
fn bits(s: Scopes) -> Val {
    Val::Int(i64::from(s.bits()))
}

/// The SQL operations an event of this module implies.
pub fn project(ev: &celltrail_ledger::Event) -> StoreResult<Vec<Op>> {
    let seq = Val::Int(ev.seq as i64);
    let ops = match ev.kind.as_str() {
        COMMITTEE_CONSTITUTED => {
            let p: CommitteeConstituted = payload(ev)?;
            vec![Op {
                sql: "INSERT INTO committees (id, institution_id, kind, constituted_at, head_seq) VALUES ($1,$2,$3,$4,$5)",
                args: vec![t(&p.id), ot(&p.institution_id), t(&p.kind), t(&ev.time), seq],
            }]
        }
        MEMBER_APPOINTED => {
            let p: MemberAppointed = payload(ev)?;
            let m = &p.member;
            vec![
                Op {
                    sql: "DELETE FROM committee_members WHERE committee_id = $1 AND id = $2",
                    args: vec![t(&p.committee_id), t(&m.id)],
                },
                Op {
                    sql: "INSERT INTO committee_members (committee_id, id, name, sex, expertise, external, role, user_id, appointed_on, left_on, active) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,NULL,1)",
                    args: vec![
                        t(&p.committee_id), t(&m.id), t(&m.name), t(m.sex.as_str()),
                        t(m.expertise.as_str()), Val::Int(m.external as i64), t(m.role.as_str()),
                        ot(&p.user_id), t(&p.appointed_on),
                    ],
                },
                committee_touch(&p.committee_id, ev),
            ]
        }
        MEMBER_LEFT => {
            let p: MemberLeft = payload(ev)?;
            vec![
                Op {
                    sql: "UPDATE committee_members SET active = 0, left_on = $3 WHERE committee_id = $1 AND id = $2",
                    args: vec![t(&p.committee_id), t(&p.member_id), t(&p.left_on)],
                },
                committee_touch(&p.committee_id, ev),
            ]
        }
        EXPERT_REGISTERED => {
            let p: ExpertRegistered = payload(ev)?;
            vec![Op {
                sql: "INSERT INTO experts (id, name, affiliation, tags, interests, active, registered_at) VALUES ($1,$2,$3,$4,'',1,$5)",
                args: vec![t(&p.id), t(&p.name), t(&p.affiliation), Val::Text(p.tags.join(",")), t(&ev.time)],
            }]
        }
        EXPERT_INTEREST_DECLARED => {
            let p: ExpertInterest = payload(ev)?;
            vec![Op {
                sql: "UPDATE experts SET interests = CASE WHEN interests = '' THEN $2 ELSE interests || ',' || $2 END WHERE id = $1",
                args: vec![t(&p.id), t(&p.org_id)],
            }]
        }
        SUBMITTED => {
            let p: Submitted = payload(ev)?;
            vec![Op {
                sql: "INSERT INTO submissions (id, project_id, committee_id, site_id, kind, route, rule, basis, facts, consent_version, status, decision, submitted_at, decided_at, lapses_on, lead_id, head_seq) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,'submitted',NULL,$11,NULL,NULL,$12,$13)",
                args: vec![
                    t(&p.id), t(&p.project_id), t(&p.committee_id), t(&p.site_id), t(&p.kind),
                    t(&p.route), ot(&p.rule), js(&p.basis)?, js(&p.facts)?,
                    Val::OptInt(p.consent_version.as_ref().map(|v| v.version as i64)),
                    t(&ev.time), ot(&p.lead_id), seq,
                ],
            }]
        }
        DOCUMENT_ADDED => {
            let p: DocumentAdded = payload(ev)?;
            vec![
                Op {
                    sql: "INSERT INTO submission_documents (submission_id, seq, doc_kind, lang, version, sha256, filename, added_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
                    args: vec![
                        t(&p.submission_id), seq.clone(), t(&p.doc_kind), t(&p.lang), t(&p.version),
                        t(&p.sha256), t(&p.filename), t(&ev.time),
                    ],
                },
                submission_touch(&p.submission_id, ev, None),
            ]
        }
        REVIEWERS_ASSIGNED => {
            let p: ReviewersAssigned = payload(ev)?;
            let mut ops: Vec<Op> = p
                .reviewers
                .iter()
                .map(|r| Op {
                    sql: "INSERT INTO submission_reviewers (submission_id, reviewer, reviewer_kind, opinion, note, assigned_at, answered_at) VALUES ($1,$2,$3,NULL,'',$4,NULL)",
                    args: vec![t(&p.submission_id), t(r), t(&p.reviewer_kind), t(&ev.time)],
                })
                .collect();
            ops.push(submission_touch(&p.submission_id, ev, Some("in_review")));
            ops
        }
        OPINION_GIVEN => {
            let p: OpinionGiven = payload(ev)?;
            vec![
                Op {
                    sql: "UPDATE submission_reviewers SET opinion = $3, note = $4, answered_at = $5 WHERE submission_id = $1 AND reviewer = $2",
                    args: vec![t(&p.submission_id), t(&p.reviewer), t(&p.opinion), t(&p.note), t(&ev.time)],
                },
                submission_touch(&p.submission_id, ev, None),
            ]
        }
        REFERRED_TO_MEETING => {
            let p: crate::projection::IdOnly = payload(ev)?;
            vec![submission_touch(&p.id, ev, Some("meeting_pending"))]
        }
        DECIDED => {
            let p: Decided = payload(ev)?;
            let mut ops = vec![Op {
                sql: "UPDATE submissions SET status = 'decided', decision = $2, decided_at = $3, lapses_on = $4, head_seq = $5 WHERE id = $1",
                args: vec![t(&p.submission_id), t(&p.decision), t(&ev.time), ot(&p.lapses_on), seq],
            }];
            let approves = Decision::from_str(&p.decision).is_ok_and(|d| d.approves());
            if let (true, Some(v)) = (approves, &p.consent_version) {
                ops.push(Op {
                    sql: "INSERT INTO consent_versions (project_id, version, asks, material_change, submission_id, approved_at) VALUES ($1,$2,$3,$4,$5,$6)",
                    args: vec![
                        t(&p.project_id), Val::Int(v.version as i64), bits(v.asks),
                        Val::Int(v.material_change as i64), t(&p.submission_id), t(&ev.time),
                    ],
                });
                // Re-consent tasks for every active subject of the study who
                // signed a version whose terms differ (core::consent).
                ops.push(Op {
                    sql: "INSERT INTO reconsent_tasks (subject_id, version, project_id, created_at, done_at) SELECT s.id, $2, s.project_id, $3, NULL FROM subjects s JOIN consent_versions old ON old.project_id = s.project_id AND old.version = s.consent_version JOIN consent_versions new ON new.project_id = s.project_id AND new.version = $2 WHERE s.project_id = $1 AND s.status = 'active' AND s.consent_version < $2 AND (new.material_change = 1 OR new.asks <> old.asks)",
                    args: vec![t(&p.project_id), Val::Int(v.version as i64), t(&ev.time)],
                });
            }
            ops
        }
        MEETING_SCHEDULED => {
            let p: MeetingScheduled = payload(ev)?;
            let mut ops = vec![Op {
                sql: "INSERT INTO meetings (id, committee_id, held_on, status, agenda, present, minutes, head_seq) VALUES ($1,$2,$3,'scheduled',$4,'[]','',$5)",
                args: vec![t(&p.id), t(&p.committee_id), t(&p.held_on), js(&p.agenda)?, seq],
            }];
            for s in &p.agenda {
                ops.push(Op {
                    sql: "INSERT INTO meeting_items (meeting_id, submission_id, recused, votes, decision) VALUES ($1,$2,'[]','[]',NULL)",
                    args: vec![t(&p.id), t(s)],
                });
                ops.push(submission_touch(s, ev, Some("meeting")));
            }
            ops
        }
        MEETING_ATTENDANCE => {
            let p: AttendanceRecorded = payload(ev)?;
            let mut ops = vec![Op {
                sql:
                    "UPDATE meetings SET status = 'held', present = $2, head_seq = $3 WHERE id = $1",
                args: vec![t(&p.meeting_id), js(&p.present)?, seq],
            }];
            for (s, members) in &p.recused {
                ops.push(Op {
                    sql: "UPDATE meeting_items SET recused = $3 WHERE meeting_id = $1 AND submission_id = $2",
                    args: vec![t(&p.meeting_id), t(s), js(members)?],
                });
            }
            ops
        }
        MEETING_ITEM_VOTED => {
            let p: ItemVoted = payload(ev)?;
            vec![Op {
                sql: "UPDATE meeting_items SET votes = $3, decision = $4 WHERE meeting_id = $1 AND submission_id = $2",
                args: vec![t(&p.meeting_id), t(&p.submission_id), js(&p.votes)?, ot(&p.decision)],
            }]
        }
        RELIANCE_PROPOSED => {
            let p: RelianceProposed = payload(ev)?;
            vec![Op {
                sql: "INSERT INTO reliances (id, project_id, lead_submission_id, site_id, committee_id, status, agreement, local_considerations, proposed_at, settled_at, own_submission_id, head_seq) VALUES ($1,$2,$3,$4,$5,'proposed','','',$6,NULL,NULL,$7)",
                args: vec![t(&p.id), t(&p.project_id), t(&p.lead_submission_id), t(&p.site_id), t(&p.committee_id), t(&ev.time), seq],
            }]
        }
        RELIANCE_MOVED => {
            let p: RelianceMoved = payload(ev)?;
            let settled = matches!(p.to.as_str(), "relied" | "declined").then(|| ev.time.clone());
            vec![Op {
                sql: "UPDATE reliances SET status = $2, agreement = COALESCE($3, agreement), local_considerations = COALESCE($4, local_considerations), settled_at = COALESCE($5, settled_at), own_submission_id = COALESCE($6, own_submission_id), head_seq = $7 WHERE id = $1",
                args: vec![t(&p.id), t(&p.to), ot(&p.agreement), ot(&p.local_considerations), Val::OptText(settled), ot(&p.own_submission_id), seq],
            }]
        }
        SUBJECT_ENROLLED => {
            let p: SubjectEnrolled = payload(ev)?;
            vec![Op {
                sql: "INSERT INTO subjects (id, project_id, site_id, code, enrolled_on, status, consent_version, scopes, samples, withdrawn_on, timeline, head_seq) VALUES ($1,$2,$3,$4,$5,'enrolled',0,0,NULL,NULL,'',$6)",
                args: vec![t(&p.id), t(&p.project_id), t(&p.site_id), t(&p.code), t(&p.enrolled_on), seq],
            }]
        }
        CONSENT_SIGNED => {
            let p: ConsentSigned = payload(ev)?;
            let v = Val::Int(p.terms.version as i64);
            let entry = Timeline::entry(p.terms.signed_on, Change::Grant(p.terms.scopes));
            vec![
                Op {
                    sql: "UPDATE subjects SET status = 'active', consent_version = $2, scopes = $3, timeline = timeline || $4, head_seq = $5 WHERE id = $1",
                    args: vec![t(&p.subject_id), v.clone(), bits(p.terms.scopes), Val::Text(entry), seq],
                },
                Op {
                    sql: "UPDATE reconsent_tasks SET done_at = $3 WHERE subject_id = $1 AND version <= $2 AND done_at IS NULL",
                    args: vec![t(&p.subject_id), v, t(&ev.time)],
                },
            ]
        }
        CONSENT_WITHDRAWN => {
            let p: ConsentWithdrawn = payload(ev)?;
            let status = if p.whole || p.scopes.contains(Scope::StudyData) {
                "withdrawn"
            } else {
                "active"
            };
            let on = NaiveDate::parse_from_str(&p.on, "%Y-%m-%d").map_err(|_| {
                StoreError::internal(
                    "event_payload_invalid",
                    format!("{} seq {}: on", ev.stream, ev.seq),
                )
            })?;
            let entry = Timeline::entry(on, Change::Withdraw(p.scopes));
            vec![Op {
                sql: "UPDATE subjects SET scopes = scopes & ~$2, status = CASE WHEN $3 = 'withdrawn' THEN 'withdrawn' ELSE status END, samples = COALESCE($4, samples), withdrawn_on = CASE WHEN $3 = 'withdrawn' THEN $5 ELSE withdrawn_on END, timeline = timeline || $6, head_seq = $7 WHERE id = $1",
                args: vec![
                    t(&p.subject_id), bits(p.scopes), t(status),
                    Val::OptText(p.samples.map(|s| s.as_str().to_string())), t(&p.on),
                    Val::Text(entry), seq,
                ],
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

fn committee_touch(id: &str, ev: &celltrail_ledger::Event) -> Op {
    Op {
        sql: "UPDATE committees SET head_seq = $2 WHERE id = $1",
        args: vec![t(id), Val::Int(ev.seq as i64)],
    }
}

fn submission_touch(id: &str, ev: &celltrail_ledger::Event, status: Option<&str>) -> Op {
    Op {
        sql: "UPDATE submissions SET status = COALESCE($2, status), head_seq = $3 WHERE id = $1",
        args: vec![
            t(id),
            Val::OptText(status.map(str::to_string)),
            Val::Int(ev.seq as i64),
        ],
    }
}

// ---------------------------------------------------------------- reads

fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(i64::deserialize(d)? != 0)
}

fn json_text<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<T, D::Error> {
    let s = String::deserialize(d)?;
    serde_json::from_str(&s).map_err(serde::de::Error::custom)
}

fn scope_bits<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Scopes, D::Error> {
    let b = i64::deserialize(d)?;
    u8::try_from(b)
        .ok()
        .and_then(Scopes::from_bits)
        .ok_or_else(|| serde::de::Error::custom(format!("scope bits {b}")))
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Committee {
    pub id: String,
    pub institution_id: Option<String>,
    pub kind: String,
    pub constituted_at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MemberRow {
    pub committee_id: String,
    pub id: String,
    pub name: String,
    pub sex: String,
    pub expertise: String,
    #[serde(deserialize_with = "flag")]
    pub external: bool,
    pub role: String,
    pub user_id: Option<String>,
    pub appointed_on: String,
    pub left_on: Option<String>,
    #[serde(deserialize_with = "flag")]
    pub active: bool,
}

impl MemberRow {
    pub fn member(&self) -> StoreResult<Member> {
        let bad = |c: &str| StoreError::internal("read_model_invalid", c.to_string());
        Ok(Member {
            id: self.id.clone(),
            name: self.name.clone(),
            sex: self.sex.parse().map_err(|_| bad("sex"))?,
            expertise: self.expertise.parse().map_err(|_| bad("expertise"))?,
            external: self.external,
            role: self.role.parse().map_err(|_| bad("role"))?,
        })
    }
}

/// The core's view of sitting members, for the composition, quorum and
/// tally rules.
fn members_of(rows: &[MemberRow]) -> StoreResult<Vec<Member>> {
    rows.iter().map(MemberRow::member).collect()
}

/// A finding of the core's rules as a store error with its arguments.
fn with_finding_args(mut e: StoreError, f: &et::Finding) -> StoreError {
    for (k, v) in &f.args {
        e = e.with_arg(k, v.clone());
    }
    e
}

/// A committee with its sitting members and what its composition lacks.
#[derive(Clone, Debug, Serialize)]
pub struct CommitteeView {
    pub committee: Committee,
    pub members: Vec<MemberRow>,
    pub findings: Vec<et::Finding>,
}

pub async fn committee(store: &dyn Store, id: &str) -> StoreResult<Option<CommitteeView>> {
    let Some(c) = rows::<Committee>(
        store
            .select(
                "SELECT id, institution_id, kind, constituted_at FROM committees WHERE id = $1",
                vec![t(id)],
            )
            .await?,
    )?
    .pop() else {
        return Ok(None);
    };
    let members = sitting_members(store, id).await?;
    let core = members_of(&members)?;
    Ok(Some(CommitteeView {
        committee: c,
        findings: et::check_composition(&core),
        members,
    }))
}

async fn sitting_members(store: &dyn Store, committee_id: &str) -> StoreResult<Vec<MemberRow>> {
    rows(
        store
            .select(
                "SELECT * FROM committee_members WHERE committee_id = $1 AND active = 1 ORDER BY CASE role WHEN 'chair' THEN 0 WHEN 'vice_chair' THEN 1 ELSE 2 END, id",
                vec![t(committee_id)],
            )
            .await?,
    )
}

pub async fn committees(store: &dyn Store) -> StoreResult<Vec<Committee>> {
    rows(
        store
            .select(
                "SELECT id, institution_id, kind, constituted_at FROM committees ORDER BY id",
                vec![],
            )
            .await?,
    )
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SubmissionRow {
    pub id: String,
    pub project_id: String,
    pub committee_id: String,
    pub site_id: String,
    pub kind: String,
    pub route: String,
    pub rule: Option<String>,
    #[serde(deserialize_with = "json_text")]
    pub basis: Vec<BasisRef>,
    #[serde(deserialize_with = "json_text")]
    pub facts: RouteFacts,
    pub consent_version: Option<i64>,
    pub status: String,
    pub decision: Option<String>,
    pub submitted_at: String,
    pub decided_at: Option<String>,
    pub lapses_on: Option<String>,
    pub lead_id: Option<String>,
    pub head_seq: i64,
}

impl SubmissionRow {
    /// Days from submission to decision (or to `today` while open).
    pub fn clock_days(&self, today: NaiveDate) -> i64 {
        let day = |s: &str| NaiveDate::parse_from_str(s.get(..10).unwrap_or(""), "%Y-%m-%d").ok();
        let start = day(&self.submitted_at).unwrap_or(today);
        let end = self.decided_at.as_deref().and_then(day).unwrap_or(today);
        (end - start).num_days()
    }

    /// Decided, and the decision lets the research go on.
    pub fn approved(&self) -> bool {
        self.decision
            .as_deref()
            .and_then(|d| d.parse::<Decision>().ok())
            .is_some_and(Decision::approves)
    }

    /// Open longer than the committee's time to decide.
    pub fn overdue(&self, today: NaiveDate) -> bool {
        self.decided_at.is_none() && self.clock_days(today) > DECISION_DAYS
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DocumentRow {
    pub submission_id: String,
    pub seq: i64,
    pub doc_kind: String,
    pub lang: String,
    pub version: String,
    pub sha256: String,
    pub filename: String,
    pub added_at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReviewerRow {
    pub reviewer: String,
    pub reviewer_kind: String,
    pub opinion: Option<String>,
    pub note: String,
    pub assigned_at: String,
    pub answered_at: Option<String>,
}

/// A submission with its documents, reviewers and decision event.
#[derive(Clone, Debug, Serialize)]
pub struct SubmissionView {
    pub submission: SubmissionRow,
    pub documents: Vec<DocumentRow>,
    pub reviewers: Vec<ReviewerRow>,
    /// Experts left out of assignments, each with the reason.
    pub exclusions: Vec<ExclusionRef>,
    pub decision: Option<Decided>,
    pub record_hash: String,
}

impl SubmissionView {
    /// The decision the chair may sign without a meeting, and how it was
    /// reached: approval of an exempt study, or the agreed opinion of a
    /// simplified review that every designated reviewer (two or more) gave
    /// and that no one referred to a meeting. Otherwise why not:
    /// `opinions_outstanding` or `meeting_required`.
    pub fn decision_without_meeting(&self) -> Result<(Decision, &'static str), &'static str> {
        let s = &self.submission;
        match s.route.as_str() {
            "exempt" => Ok((Decision::Approve, "exempt")),
            "simplified" if s.status != "meeting_pending" => {
                let opinions: Vec<Decision> = self
                    .reviewers
                    .iter()
                    .filter_map(|r| r.opinion.as_deref().and_then(|o| o.parse().ok()))
                    .collect();
                if opinions.len() < self.reviewers.len() || self.reviewers.len() < 2 {
                    return Err("opinions_outstanding");
                }
                et::simplified_outcome(&opinions, false)
                    .map(|d| (d, "simplified"))
                    .ok_or("meeting_required")
            }
            _ => Err("meeting_required"),
        }
    }
}

pub async fn submission(store: &dyn Store, id: &str) -> StoreResult<Option<SubmissionView>> {
    let Some(s) = rows::<SubmissionRow>(
        store
            .select("SELECT * FROM submissions WHERE id = $1", vec![t(id)])
            .await?,
    )?
    .pop() else {
        return Ok(None);
    };
    let documents = rows(
        store
            .select(
                "SELECT * FROM submission_documents WHERE submission_id = $1 ORDER BY seq",
                vec![t(id)],
            )
            .await?,
    )?;
    let reviewers = rows(store.select("SELECT reviewer, reviewer_kind, opinion, note, assigned_at, answered_at FROM submission_reviewers WHERE submission_id = $1 ORDER BY assigned_at, reviewer", vec![t(id)]).await?)?;
    let stream = submission_stream(id);
    let events = store.stream_events(&stream).await?;
    let decision = events
        .iter()
        .rev()
        .find(|e| e.kind == DECIDED)
        .map(payload::<Decided>)
        .transpose()?;
    let record_hash = events.last().map(|e| e.hash.clone()).unwrap_or_default();
    let mut exclusions = Vec::new();
    for e in events.iter().filter(|e| e.kind == REVIEWERS_ASSIGNED) {
        exclusions.extend(payload::<ReviewersAssigned>(e)?.excluded);
    }
    Ok(Some(SubmissionView {
        submission: s,
        documents,
        reviewers,
        exclusions,
        decision,
        record_hash,
    }))
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct SubmissionFilter {
    pub committee_id: Option<String>,
    pub project_id: Option<String>,
    pub site_id: Option<String>,
}

pub async fn submissions(
    store: &dyn Store,
    f: &SubmissionFilter,
) -> StoreResult<Vec<SubmissionRow>> {
    let mut sql = String::from("SELECT * FROM submissions WHERE 1=1");
    let mut args = Vec::new();
    for (col, v) in [
        ("committee_id", &f.committee_id),
        ("project_id", &f.project_id),
        ("site_id", &f.site_id),
    ] {
        if let Some(v) = v {
            args.push(t(v));
            sql.push_str(&format!(" AND {col} = ${}", args.len()));
        }
    }
    sql.push_str(" ORDER BY submitted_at, id");
    rows(store.select(&sql, args).await?)
}

pub fn submission_stream(id: &str) -> String {
    format!("submission:{id}")
}
pub fn committee_stream(id: &str) -> String {
    format!("committee:{id}")
}
pub fn meeting_stream(id: &str) -> String {
    format!("meeting:{id}")
}
pub fn subject_stream(id: &str) -> String {
    format!("subject:{id}")
}
pub fn expert_stream(id: &str) -> String {
    format!("expert:{id}")
}
pub fn reliance_stream(id: &str) -> String {
    format!("reliance:{id}")
}

// ---------------------------------------------------------------- committees

fn parse<T: FromStr>(field: &str, v: &str, code: &'static str) -> StoreResult<T> {
    v.trim()
        .parse()
        .map_err(|_| StoreError::invalid(code, field, v.to_string()))
}

/// The ethics committee organisation the actor manages (its secretary), or
/// any committee for a platform administrator.
async fn managed_committee(store: &dyn Store, actor: &Actor, id: &str) -> StoreResult<Committee> {
    actor.require(Permission::EthicsManage)?;
    if actor.org_id != id && !actor.is_platform() {
        return Err(StoreError::forbidden(
            "committee_scope_denied",
            "another committee's records",
        ));
    }
    rows::<Committee>(
        store
            .select(
                "SELECT id, institution_id, kind, constituted_at FROM committees WHERE id = $1",
                vec![t(id)],
            )
            .await?,
    )?
    .pop()
    .ok_or_else(|| StoreError::not_found("committee_not_found", id.to_string()))
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstituteInput {
    #[serde(default)]
    pub institution_id: Option<String>,
    pub kind: String,
}

/// Records what an ethics-committee organisation is for (the institution it
/// serves, or a regional or special expert committee). Its secretary or a
/// platform administrator does this once.
pub async fn constitute_committee(
    store: &dyn Store,
    actor: &Actor,
    committee_id: &str,
    input: &ConstituteInput,
    reason: &str,
    when: &When,
) -> StoreResult<CommitteeView> {
    actor.require(Permission::EthicsManage)?;
    if actor.org_id != committee_id && !actor.is_platform() {
        return Err(StoreError::forbidden(
            "committee_scope_denied",
            "another committee's records",
        ));
    }
    let org = store
        .organisation(committee_id)
        .await?
        .ok_or_else(|| StoreError::not_found("org_not_found", committee_id.to_string()))?;
    if org.org_type != OrgType::EthicsCommittee.as_str() {
        return Err(StoreError::invalid(
            "committee_org_type",
            "committee_id",
            org.org_type,
        ));
    }
    if committee(store, committee_id).await?.is_some() {
        return Err(StoreError::conflict(
            "committee_exists",
            committee_id.to_string(),
        ));
    }
    let kind = input.kind.trim();
    if !COMMITTEE_KINDS.contains(&kind) {
        return Err(StoreError::invalid("committee_kind_invalid", "kind", kind));
    }
    let institution_id = optional("institution_id", &input.institution_id, 64)?;
    if let Some(i) = &institution_id {
        let inst = store.organisation(i).await?;
        if inst.is_none_or(|o| o.org_type != OrgType::MedicalInstitution.as_str()) {
            return Err(StoreError::invalid(
                "institution_invalid",
                "institution_id",
                i.clone(),
            ));
        }
    } else if kind == "institutional" {
        return Err(StoreError::invalid(
            "field_required",
            "institution_id",
            "required",
        ));
    }
    let ev = actor.event(
        committee_stream(committee_id),
        COMMITTEE_CONSTITUTED,
        CommitteeConstituted {
            id: committee_id.to_string(),
            institution_id,
            kind: kind.to_string(),
        },
        when,
        &reason_text(Some(reason), "伦理委员会组建 / committee constituted"),
    )?;
    store.append(vec![ev]).await?;
    committee(store, committee_id)
        .await?
        .ok_or_else(|| StoreError::internal("projection_missing", committee_id.to_string()))
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberInput {
    pub name: String,
    pub sex: String,
    pub expertise: String,
    pub external: bool,
    pub role: String,
    #[serde(default)]
    pub user_id: Option<String>,
    pub appointed_on: String,
}

/// Appoints a member (or re-appoints one with new particulars).
pub async fn appoint_member(
    store: &dyn Store,
    actor: &Actor,
    committee_id: &str,
    input: &MemberInput,
    reason: &str,
    when: &When,
) -> StoreResult<CommitteeView> {
    managed_committee(store, actor, committee_id).await?;
    let sex: Sex = parse("sex", &input.sex, "sex_invalid")?;
    let expertise: Expertise = parse("expertise", &input.expertise, "expertise_invalid")?;
    let role: MemberRole = parse("role", &input.role, "member_role_invalid")?;
    let appointed = iso_date("appointed_on", &input.appointed_on)?;
    let user_id = optional("user_id", &input.user_id, 64)?;
    if let Some(u) = &user_id {
        if store
            .user(u)
            .await?
            .is_none_or(|u| u.org_id != committee_id)
        {
            return Err(StoreError::invalid(
                "member_user_invalid",
                "user_id",
                u.clone(),
            ));
        }
    }
    let member = Member {
        id: new_id("mbr"),
        name: required("name", &input.name, 100)?,
        sex,
        expertise,
        external: input.external,
        role,
    };
    let ev = actor.event(
        committee_stream(committee_id),
        MEMBER_APPOINTED,
        MemberAppointed {
            committee_id: committee_id.to_string(),
            member,
            user_id,
            appointed_on: appointed.to_string(),
        },
        when,
        &reason_text(Some(reason), "委员任命 / member appointed"),
    )?;
    store.append(vec![ev]).await?;
    committee(store, committee_id)
        .await?
        .ok_or_else(|| StoreError::internal("projection_missing", committee_id.to_string()))
}

/// A member leaves (term ended, resigned); the reason is required.
pub async fn remove_member(
    store: &dyn Store,
    actor: &Actor,
    committee_id: &str,
    member_id: &str,
    left_on: &str,
    reason: &str,
    when: &When,
) -> StoreResult<CommitteeView> {
    managed_committee(store, actor, committee_id).await?;
    let reason = check_reason(reason)?;
    let left = iso_date("left_on", left_on)?;
    if !sitting_members(store, committee_id)
        .await?
        .iter()
        .any(|m| m.id == member_id)
    {
        return Err(StoreError::not_found(
            "member_not_found",
            member_id.to_string(),
        ));
    }
    let ev = actor.event(
        committee_stream(committee_id),
        MEMBER_LEFT,
        MemberLeft {
            committee_id: committee_id.to_string(),
            member_id: member_id.to_string(),
            left_on: left.to_string(),
        },
        when,
        &reason,
    )?;
    store.append(vec![ev]).await?;
    committee(store, committee_id)
        .await?
        .ok_or_else(|| StoreError::internal("projection_missing", committee_id.to_string()))
}

// ---------------------------------------------------------------- submissions

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentInput {
    pub doc_kind: String,
    pub lang: String,
    pub version: String,
    pub filename: String,
    #[serde(default = "default_media")]
    pub media_type: String,
    /// The file's bytes, base64.
    pub content_b64: String,
}

fn default_media() -> String {
    "application/pdf".into()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionInput {
    pub committee_id: String,
    pub kind: String,
    #[serde(default)]
    pub facts: RouteFacts,
    #[serde(default)]
    pub consent_version: Option<VersionTerms>,
    #[serde(default)]
    pub lead_id: Option<String>,
    #[serde(default)]
    pub documents: Vec<DocumentInput>,
}

/// The newest saved classification's `ethics_route` of the project, with
/// the deciding rule (CN grading pack), if any.
async fn graded_route(
    store: &dyn Store,
    project_id: &str,
) -> StoreResult<Option<(String, String)>> {
    let events = store
        .stream_events(&crate::projection::project_stream(project_id))
        .await?;
    let Some(ev) = events
        .iter()
        .rev()
        .find(|e| e.kind == crate::projection::PROJECT_CLASSIFIED)
    else {
        return Ok(None);
    };
    let c = &ev.payload["results"]["CN"]["ethics_route"];
    let Some(value) = c["value"].as_str() else {
        return Ok(None);
    };
    let rule = c["basis"][0]["rule"].as_str().unwrap_or_default();
    Ok(Some((value.to_string(), rule.to_string())))
}

/// A document's bytes to store: SHA-256, media type, base64 content.
type Blob = (String, String, String);

fn document_events(
    actor: &Actor,
    submission_id: &str,
    docs: &[DocumentInput],
    when: &When,
) -> StoreResult<(Vec<celltrail_ledger::NewEvent>, Vec<Blob>)> {
    use base64::Engine as _;
    let mut events = Vec::new();
    let mut blobs = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let field = |f: &str| format!("documents[{i}].{f}");
        let kind = d.doc_kind.trim();
        if !DOCUMENT_KINDS.contains(&kind) {
            return Err(StoreError::invalid(
                "document_kind_invalid",
                &field("doc_kind"),
                kind,
            ));
        }
        let lang = d.lang.trim();
        if !["zh-CN", "en"].contains(&lang) {
            return Err(StoreError::invalid(
                "document_lang_invalid",
                &field("lang"),
                lang,
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(d.content_b64.trim())
            .map_err(|_| {
                StoreError::invalid(
                    "document_content_invalid",
                    &field("content_b64"),
                    "not base64",
                )
            })?;
        if bytes.is_empty() {
            return Err(StoreError::invalid(
                "document_content_invalid",
                &field("content_b64"),
                "empty",
            ));
        }
        let sha = sha256_hex(&bytes);
        blobs.push((
            sha.clone(),
            d.media_type.trim().to_string(),
            d.content_b64.trim().to_string(),
        ));
        events.push(actor.event(
            submission_stream(submission_id),
            DOCUMENT_ADDED,
            DocumentAdded {
                submission_id: submission_id.to_string(),
                doc_kind: kind.to_string(),
                lang: lang.to_string(),
                version: required(&field("version"), &d.version, 40)?,
                sha256: sha,
                filename: required(&field("filename"), &d.filename, 200)?,
                media_type: required(&field("media_type"), &d.media_type, 100)?,
                bytes: bytes.len() as u64,
            },
            when,
            "提交审查文件 / document submitted",
        )?);
    }
    Ok((events, blobs))
}

/// Submits a project to an ethics committee. The route follows the
/// project's saved classification and the submission's facts
/// (`core::ethics::route`); the documents' bytes are stored by hash and each
/// version's hash goes into the ledger.
pub async fn submit(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    input: &SubmissionInput,
    when: &When,
) -> StoreResult<SubmissionView> {
    actor.require(Permission::EthicsSubmit)?;
    let (project, _) = visible_project(store, actor, project_id).await?;
    if actor.org_type != OrgType::MedicalInstitution {
        return Err(StoreError::forbidden(
            "institution_required",
            "sites submit",
        ));
    }
    let kind: SubmissionType = parse("kind", &input.kind, "submission_type_invalid")?;
    let committee_id = input.committee_id.trim();
    if committee(store, committee_id).await?.is_none() {
        return Err(StoreError::invalid(
            "committee_not_found",
            "committee_id",
            committee_id,
        ));
    }
    if let Some(lead) = &input.lead_id {
        let lead_row = submission(store, lead)
            .await?
            .filter(|s| s.submission.project_id == project.id);
        if lead_row.is_none() {
            return Err(StoreError::invalid(
                "submission_not_found",
                "lead_id",
                lead.clone(),
            ));
        }
    }
    if let Some(v) = &input.consent_version {
        if v.version == 0 || !v.asks.contains(Scope::StudyData) {
            return Err(StoreError::invalid(
                "consent_version_invalid",
                "consent_version",
                v.version.to_string(),
            ));
        }
        if !input.documents.iter().any(|d| d.doc_kind == "consent_form") {
            return Err(StoreError::invalid(
                "consent_form_required",
                "documents",
                "consent form",
            ));
        }
        let langs: Vec<&str> = input
            .documents
            .iter()
            .filter(|d| d.doc_kind == "consent_form")
            .map(|d| d.lang.trim())
            .collect();
        if !(langs.contains(&"zh-CN") && langs.contains(&"en")) {
            return Err(StoreError::invalid(
                "consent_form_languages",
                "documents",
                "zh-CN and en",
            ));
        }
    }
    let mut facts = input.facts.clone();
    facts.rules_route = graded_route(store, project_id).await?;
    facts.reliance_confirmation = input.lead_id.is_some();
    let decision = et::route(kind, &facts);
    let id = new_id("sub");
    let submitted = Submitted {
        id: id.clone(),
        project_id: project.id.clone(),
        committee_id: committee_id.to_string(),
        site_id: actor.org_id.clone(),
        kind: kind.as_str().to_string(),
        route: decision.route.as_str().to_string(),
        rule: decision.rule.clone(),
        basis: decision
            .basis
            .iter()
            .map(|b| BasisRef {
                instrument: b.instrument.to_string(),
                article: b.article.to_string(),
            })
            .collect(),
        facts,
        consent_version: input.consent_version.clone(),
        lead_id: input.lead_id.clone(),
    };
    let mut batch = vec![actor.event(
        submission_stream(&id),
        SUBMITTED,
        submitted,
        when,
        &format!(
            "{} / {}",
            kind.label(celltrail_core::Lang::Zh),
            kind.label(celltrail_core::Lang::En)
        ),
    )?];
    let (docs, blobs) = document_events(actor, &id, &input.documents, when)?;
    batch.extend(docs);
    for (sha, media, b64) in &blobs {
        store.put_blob(sha, media, b64).await?;
    }
    store.append(batch).await?;
    submission(store, &id)
        .await?
        .ok_or_else(|| StoreError::internal("projection_missing", id))
}

/// A submission the actor may see: the submitting site's, the committee's,
/// a regulator's in jurisdiction (through the project), the platform's.
pub async fn visible_submission(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
) -> StoreResult<SubmissionView> {
    actor.require(Permission::EthicsRead)?;
    let not_found = || StoreError::not_found("submission_not_found", id.to_string());
    let s = submission(store, id).await?.ok_or_else(not_found)?;
    let row = &s.submission;
    if actor.org_id == row.site_id || actor.org_id == row.committee_id || actor.is_platform() {
        return Ok(s);
    }
    if actor.can(Permission::ProjectRead)
        && visible_project(store, actor, &row.project_id).await.is_ok()
    {
        return Ok(s);
    }
    Err(not_found())
}

async fn committee_submission(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
) -> StoreResult<SubmissionView> {
    let s = visible_submission(store, actor, id).await?;
    if actor.org_id != s.submission.committee_id {
        return Err(StoreError::forbidden(
            "committee_scope_denied",
            "another committee's review",
        ));
    }
    if s.submission.status == "decided" {
        return Err(StoreError::conflict("submission_decided", id.to_string()));
    }
    Ok(s)
}

/// The secretary records the members the chair designates for a simplified
/// review (two or more).
pub async fn assign_reviewers(
    store: &dyn Store,
    actor: &Actor,
    submission_id: &str,
    members: &[String],
    when: &When,
) -> StoreResult<SubmissionView> {
    actor.require(Permission::EthicsManage)?;
    let s = committee_submission(store, actor, submission_id).await?;
    if s.submission.route != Route::Simplified.as_str() || s.submission.status == "meeting_pending"
    {
        return Err(StoreError::conflict(
            "route_not_simplified",
            s.submission.route.clone(),
        ));
    }
    if members.len() < 2 {
        return Err(StoreError::invalid(
            "reviewers_too_few",
            "members",
            members.len().to_string(),
        ));
    }
    let sitting = sitting_members(store, &s.submission.committee_id).await?;
    for m in members {
        if !sitting.iter().any(|x| &x.id == m) {
            return Err(StoreError::invalid(
                "member_not_found",
                "members",
                m.clone(),
            ));
        }
    }
    let ev = actor.event(
        submission_stream(submission_id),
        REVIEWERS_ASSIGNED,
        ReviewersAssigned {
            submission_id: submission_id.to_string(),
            reviewer_kind: "member".into(),
            reviewers: members.to_vec(),
            excluded: Vec::new(),
        },
        when,
        "主任委员指定简易程序审查委员 / reviewers designated by the chair",
    )?;
    store.append(vec![ev]).await?;
    visible_submission(store, actor, submission_id).await
}

/// The committee member linked to the acting user.
async fn acting_member(
    store: &dyn Store,
    actor: &Actor,
    committee_id: &str,
) -> StoreResult<MemberRow> {
    sitting_members(store, committee_id)
        .await?
        .into_iter()
        .find(|m| m.user_id.as_deref() == Some(actor.user_id.as_str()))
        .ok_or_else(|| StoreError::forbidden("not_a_member", "the user is not a sitting member"))
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpinionInput {
    pub opinion: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub meeting_requested: bool,
}

/// A designated reviewer's opinion in a simplified review. When every
/// reviewer has answered and they disagree, one is negative, or one asks for
/// a meeting, the submission is referred to a meeting (2023 measures).
pub async fn give_opinion(
    store: &dyn Store,
    actor: &Actor,
    submission_id: &str,
    input: &OpinionInput,
    when: &When,
) -> StoreResult<SubmissionView> {
    actor.require(Permission::EthicsReview)?;
    let s = committee_submission(store, actor, submission_id).await?;
    let me = acting_member(store, actor, &s.submission.committee_id).await?;
    let Some(slot) = s.reviewers.iter().find(|r| r.reviewer == me.id) else {
        return Err(StoreError::forbidden("reviewer_not_assigned", me.id));
    };
    if slot.opinion.is_some() {
        return Err(StoreError::conflict("opinion_already_given", me.id));
    }
    let opinion: Decision = parse("opinion", &input.opinion, "decision_invalid")?;
    let stream = submission_stream(submission_id);
    let mut batch = vec![actor.event(
        stream.clone(),
        OPINION_GIVEN,
        OpinionGiven {
            submission_id: submission_id.to_string(),
            reviewer: me.id.clone(),
            opinion: opinion.as_str().to_string(),
            note: input.note.trim().chars().take(4000).collect(),
            meeting_requested: input.meeting_requested,
        },
        when,
        "简易程序审查意见 / simplified review opinion",
    )?];
    let events = store.stream_events(&stream).await?;
    let mut opinions: Vec<Decision> = Vec::new();
    let mut requested = input.meeting_requested;
    for e in events.iter().filter(|e| e.kind == OPINION_GIVEN) {
        let o: OpinionGiven = payload(e)?;
        requested |= o.meeting_requested;
        opinions.push(parse("opinion", &o.opinion, "decision_invalid")?);
    }
    opinions.push(opinion);
    let all_answered = s.reviewers.iter().filter(|r| r.opinion.is_none()).count() == 1;
    if all_answered && et::simplified_outcome(&opinions, requested).is_none() {
        batch.push(actor.event(
            stream,
            REFERRED_TO_MEETING,
            crate::projection::IdOnly {
                id: submission_id.to_string(),
            },
            when,
            "简易程序转入会议审查 / simplified review referred to a meeting",
        )?);
    }
    store.append(batch).await?;
    visible_submission(store, actor, submission_id).await
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideInput {
    /// Months until continuing review (at most 12; default 12).
    #[serde(default)]
    pub review_interval_months: Option<u32>,
    #[serde(default)]
    pub conditions: String,
    pub signature: Option<SignInput>,
}

fn lapse_for(
    kind: &str,
    decision: Decision,
    months: Option<u32>,
    today: NaiveDate,
) -> Option<String> {
    let renews = matches!(kind, "initial" | "continuing_review");
    (renews && decision.approves()).then(|| {
        et::approval_lapses(today, months.unwrap_or(et::MAX_REVIEW_INTERVAL_MONTHS)).to_string()
    })
}

/// How a decision was reached: the decision, `simplified` / `meeting` /
/// `exempt`, and the meeting where there was one.
struct Outcome<'a> {
    decision: Decision,
    via: &'a str,
    meeting_id: Option<String>,
}

async fn decided_event(
    store: &dyn Store,
    actor: &Actor,
    s: &SubmissionView,
    outcome: Outcome<'_>,
    input: &DecideInput,
    when: &When,
) -> StoreResult<celltrail_ledger::NewEvent> {
    let Outcome {
        decision,
        via,
        meeting_id,
    } = outcome;
    let me = acting_member(store, actor, &s.submission.committee_id).await?;
    if !matches!(me.role.as_str(), "chair" | "vice_chair") {
        return Err(StoreError::forbidden(
            "chair_required",
            "the chair signs decisions",
        ));
    }
    if input
        .review_interval_months
        .is_some_and(|m| m == 0 || m > et::MAX_REVIEW_INTERVAL_MONTHS)
    {
        return Err(StoreError::invalid(
            "review_interval_invalid",
            "review_interval_months",
            "1–12",
        ));
    }
    let stream = submission_stream(&s.submission.id);
    let signature = check_signature(
        store,
        actor,
        &stream,
        "ethics_decide",
        SignatureMeaning::Approved,
        input.signature.as_ref(),
        when,
    )
    .await?;
    let consent_version = if s.submission.consent_version.is_some() {
        let ev = store.stream_events(&stream).await?;
        ev.first()
            .map(payload::<Submitted>)
            .transpose()?
            .and_then(|p| p.consent_version)
    } else {
        None
    };
    actor.event(
        stream,
        DECIDED,
        Decided {
            submission_id: s.submission.id.clone(),
            decision: decision.as_str().to_string(),
            via: via.to_string(),
            meeting_id,
            // An exempt study has no continuing review, so no lapse date.
            lapses_on: if via == "exempt" {
                None
            } else {
                lapse_for(
                    &s.submission.kind,
                    decision,
                    input.review_interval_months,
                    when.today,
                )
            },
            conditions: input.conditions.trim().chars().take(4000).collect(),
            consent_version,
            project_id: s.submission.project_id.clone(),
            signature,
        },
        when,
        &format!(
            "伦理审查决定：{} / ethics decision: {}",
            decision.label(celltrail_core::Lang::Zh),
            decision.label(celltrail_core::Lang::En)
        ),
    )
}

/// The chair signs the decision of a simplified review (once every
/// designated reviewer agreed) or of an exempt submission.
pub async fn decide_without_meeting(
    store: &dyn Store,
    actor: &Actor,
    submission_id: &str,
    input: &DecideInput,
    when: &When,
) -> StoreResult<SubmissionView> {
    actor.require(Permission::EthicsReview)?;
    let s = committee_submission(store, actor, submission_id).await?;
    let (decision, via) = s
        .decision_without_meeting()
        .map_err(|code| StoreError::conflict(code, submission_id.to_string()))?;
    let outcome = Outcome {
        decision,
        via,
        meeting_id: None,
    };
    let ev = decided_event(store, actor, &s, outcome, input, when).await?;
    store.append(vec![ev]).await?;
    visible_submission(store, actor, submission_id).await
}

// ---------------------------------------------------------------- meetings

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MeetingRow {
    pub id: String,
    pub committee_id: String,
    pub held_on: String,
    pub status: String,
    #[serde(deserialize_with = "json_text")]
    pub agenda: Vec<String>,
    #[serde(deserialize_with = "json_text")]
    pub present: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ItemRow {
    pub submission_id: String,
    #[serde(deserialize_with = "json_text")]
    pub recused: Vec<String>,
    #[serde(deserialize_with = "json_text")]
    pub votes: Vec<et::Vote>,
    pub decision: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MeetingView {
    pub meeting: MeetingRow,
    pub items: Vec<ItemRow>,
    /// Per item, what the quorum lacks (empty: the meeting may decide it).
    pub quorum: Vec<(String, Vec<et::Finding>)>,
    pub members: Vec<MemberRow>,
}

pub async fn meeting(store: &dyn Store, id: &str) -> StoreResult<Option<MeetingView>> {
    let Some(m) = rows::<MeetingRow>(
        store
            .select(
                "SELECT id, committee_id, held_on, status, agenda, present FROM meetings WHERE id = $1",
                vec![t(id)],
            )
            .await?,
    )?
    .pop() else {
        return Ok(None);
    };
    let items: Vec<ItemRow> = rows(
        store
            .select(
                "SELECT submission_id, recused, votes, decision FROM meeting_items WHERE meeting_id = $1 ORDER BY submission_id",
                vec![t(id)],
            )
            .await?,
    )?;
    let members = sitting_members(store, &m.committee_id).await?;
    let core = members_of(&members)?;
    let present: Vec<&str> = m.present.iter().map(String::as_str).collect();
    let quorum = items
        .iter()
        .map(|i| {
            let recused: Vec<&str> = i.recused.iter().map(String::as_str).collect();
            (
                i.submission_id.clone(),
                et::check_quorum(&core, &present, &recused),
            )
        })
        .collect();
    Ok(Some(MeetingView {
        meeting: m,
        items,
        quorum,
        members,
    }))
}

pub async fn meetings(store: &dyn Store, committee_id: &str) -> StoreResult<Vec<MeetingRow>> {
    rows(
        store
            .select(
                "SELECT id, committee_id, held_on, status, agenda, present FROM meetings WHERE committee_id = $1 ORDER BY held_on DESC, id",
                vec![t(committee_id)],
            )
            .await?,
    )
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    pub held_on: String,
    pub agenda: Vec<String>,
}

/// Schedules a meeting with its agenda: submissions of this committee whose
/// route needs a meeting, or referred to one, and not yet decided.
pub async fn schedule_meeting(
    store: &dyn Store,
    actor: &Actor,
    committee_id: &str,
    input: &ScheduleInput,
    when: &When,
) -> StoreResult<MeetingView> {
    managed_committee(store, actor, committee_id).await?;
    let held_on = iso_date("held_on", &input.held_on)?;
    if input.agenda.is_empty() {
        return Err(StoreError::invalid("field_required", "agenda", "empty"));
    }
    for s in &input.agenda {
        let v = committee_submission(store, actor, s).await?;
        let needs = Route::from_str(&v.submission.route).is_ok_and(|r| r.needs_meeting())
            || v.submission.status == "meeting_pending";
        if !needs || v.submission.status == "meeting" {
            return Err(StoreError::conflict("agenda_item_invalid", s.clone()).with_field("agenda"));
        }
    }
    let id = new_id("mtg");
    let ev = actor.event(
        meeting_stream(&id),
        MEETING_SCHEDULED,
        MeetingScheduled {
            id: id.clone(),
            committee_id: committee_id.to_string(),
            held_on: held_on.to_string(),
            agenda: input.agenda.clone(),
        },
        when,
        "会议议程 / meeting scheduled",
    )?;
    store.append(vec![ev]).await?;
    meeting(store, &id)
        .await?
        .ok_or_else(|| StoreError::internal("projection_missing", id))
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttendanceInput {
    pub present: Vec<String>,
    /// Submission id → members who withdraw from it.
    #[serde(default)]
    pub recused: std::collections::BTreeMap<String, Vec<String>>,
}

/// Records who attended and who withdraws from which item. A committee
/// whose composition falls short of 第七条 cannot hold a valid meeting.
pub async fn record_attendance(
    store: &dyn Store,
    actor: &Actor,
    meeting_id: &str,
    input: &AttendanceInput,
    when: &When,
) -> StoreResult<MeetingView> {
    let m = meeting(store, meeting_id)
        .await?
        .ok_or_else(|| StoreError::not_found("meeting_not_found", meeting_id.to_string()))?;
    managed_committee(store, actor, &m.meeting.committee_id).await?;
    let core = members_of(&m.members)?;
    let findings = et::check_composition(&core);
    if let Some(f) = findings.first() {
        return Err(StoreError::conflict("committee_invalid", f.code).with_arg("finding", f.code));
    }
    for p in input.present.iter().chain(input.recused.values().flatten()) {
        if !m.members.iter().any(|x| &x.id == p) {
            return Err(StoreError::invalid(
                "member_not_found",
                "present",
                p.clone(),
            ));
        }
    }
    for s in input.recused.keys() {
        if !m.meeting.agenda.contains(s) {
            return Err(StoreError::invalid(
                "agenda_item_invalid",
                "recused",
                s.clone(),
            ));
        }
    }
    let ev = actor.event(
        meeting_stream(meeting_id),
        MEETING_ATTENDANCE,
        AttendanceRecorded {
            meeting_id: meeting_id.to_string(),
            present: input.present.clone(),
            recused: input
                .recused
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        },
        when,
        "会议出席与回避 / attendance and recusals",
    )?;
    store.append(vec![ev]).await?;
    meeting(store, meeting_id)
        .await?
        .ok_or_else(|| StoreError::internal("projection_missing", meeting_id.to_string()))
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteInput {
    pub votes: Vec<et::Vote>,
    #[serde(flatten)]
    pub decide: DecideInput,
}

/// Records the votes on one agenda item; when a decision carries more than
/// half of all members, the chair's signature records it on the submission.
/// Without a quorum nothing is recorded.
pub async fn vote_item(
    store: &dyn Store,
    actor: &Actor,
    meeting_id: &str,
    submission_id: &str,
    input: &VoteInput,
    when: &When,
) -> StoreResult<MeetingView> {
    actor.require(Permission::EthicsReview)?;
    let m = meeting(store, meeting_id)
        .await?
        .ok_or_else(|| StoreError::not_found("meeting_not_found", meeting_id.to_string()))?;
    if actor.org_id != m.meeting.committee_id {
        return Err(StoreError::forbidden(
            "committee_scope_denied",
            "another committee's meeting",
        ));
    }
    let item = m
        .items
        .iter()
        .find(|i| i.submission_id == submission_id)
        .ok_or_else(|| StoreError::not_found("agenda_item_invalid", submission_id.to_string()))?;
    if m.meeting.status != "held" {
        return Err(StoreError::conflict(
            "attendance_required",
            meeting_id.to_string(),
        ));
    }
    if let Some((_, findings)) = m.quorum.iter().find(|(s, _)| s == submission_id) {
        if let Some(f) = findings.first() {
            return Err(with_finding_args(
                StoreError::conflict(f.code, submission_id.to_string()),
                f,
            ));
        }
    }
    let core = members_of(&m.members)?;
    let present: Vec<&str> = m.meeting.present.iter().map(String::as_str).collect();
    let recused: Vec<&str> = item.recused.iter().map(String::as_str).collect();
    let tally = et::tally(&core, &present, &recused, &input.votes)
        .map_err(|f| with_finding_args(StoreError::invalid(f.code, "votes", "vote refused"), &f))?;
    let s = committee_submission(store, actor, submission_id).await?;
    let mut batch = vec![actor.event(
        meeting_stream(meeting_id),
        MEETING_ITEM_VOTED,
        ItemVoted {
            meeting_id: meeting_id.to_string(),
            submission_id: submission_id.to_string(),
            votes: input.votes.clone(),
            decision: tally.decision.map(|d| d.as_str().to_string()),
            needed: tally.needed,
        },
        when,
        "会议表决 / meeting vote",
    )?];
    if let Some(d) = tally.decision {
        batch.push(
            decided_event(
                store,
                actor,
                &s,
                Outcome {
                    decision: d,
                    via: "meeting",
                    meeting_id: Some(meeting_id.to_string()),
                },
                &input.decide,
                when,
            )
            .await?,
        );
    }
    store.append(batch).await?;
    meeting(store, meeting_id)
        .await?
        .ok_or_else(|| StoreError::internal("projection_missing", meeting_id.to_string()))
}

// ---------------------------------------------------------------- consent

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SubjectRow {
    pub id: String,
    pub project_id: String,
    pub site_id: String,
    pub code: String,
    pub enrolled_on: String,
    pub status: String,
    pub consent_version: i64,
    #[serde(deserialize_with = "scope_bits")]
    pub scopes: Scopes,
    pub samples: Option<String>,
    pub withdrawn_on: Option<String>,
    /// The compact consent timeline (`core::consent::Timeline`).
    #[serde(skip_serializing)]
    pub timeline: String,
}

pub async fn subject(store: &dyn Store, id: &str) -> StoreResult<Option<SubjectRow>> {
    Ok(rows::<SubjectRow>(
        store
            .select("SELECT id, project_id, site_id, code, enrolled_on, status, consent_version, scopes, samples, withdrawn_on, timeline FROM subjects WHERE id = $1", vec![t(id)])
            .await?,
    )?
    .pop())
}

pub async fn subjects(store: &dyn Store, project_id: &str) -> StoreResult<Vec<SubjectRow>> {
    rows(
        store
            .select("SELECT id, project_id, site_id, code, enrolled_on, status, consent_version, scopes, samples, withdrawn_on, timeline FROM subjects WHERE project_id = $1 ORDER BY site_id, code", vec![t(project_id)])
            .await?,
    )
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VersionRow {
    pub version: i64,
    #[serde(deserialize_with = "scope_bits")]
    pub asks: Scopes,
    #[serde(deserialize_with = "flag")]
    pub material_change: bool,
    pub submission_id: String,
    pub approved_at: String,
}

pub async fn consent_versions(store: &dyn Store, project_id: &str) -> StoreResult<Vec<VersionRow>> {
    rows(
        store
            .select("SELECT version, asks, material_change, submission_id, approved_at FROM consent_versions WHERE project_id = $1 ORDER BY version", vec![t(project_id)])
            .await?,
    )
}

/// Subjects who still owe a re-consent to a newer approved version.
pub async fn pending_reconsent(
    store: &dyn Store,
    project_id: &str,
) -> StoreResult<Vec<(String, i64)>> {
    let r = store
        .select("SELECT r.subject_id, r.version FROM reconsent_tasks r JOIN subjects s ON s.id = r.subject_id WHERE r.project_id = $1 AND r.done_at IS NULL AND s.status = 'active' ORDER BY r.subject_id, r.version", vec![t(project_id)])
        .await?;
    Ok(r.into_iter()
        .map(|m| {
            (
                m.get("subject_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                m.get("version").and_then(Value::as_i64).unwrap_or_default(),
            )
        })
        .collect())
}

/// The current ethics approval of a project for a site: an approving
/// decision on an initial or continuing review at the site's own committee,
/// or the lead's decision where the site relies on it; not lapsed today.
pub async fn approval_for_site(
    store: &dyn Store,
    project_id: &str,
    site_id: &str,
    today: NaiveDate,
) -> StoreResult<Result<String, &'static str>> {
    let subs = submissions(
        store,
        &SubmissionFilter {
            project_id: Some(project_id.to_string()),
            ..Default::default()
        },
    )
    .await?;
    let relied: Vec<String> = store
        .select("SELECT lead_submission_id FROM reliances WHERE project_id = $1 AND site_id = $2 AND status = 'relied'", vec![t(project_id), t(site_id)])
        .await?
        .into_iter()
        .filter_map(|m| m.get("lead_submission_id").and_then(Value::as_str).map(str::to_string))
        .collect();
    let relied: Vec<&str> = relied.iter().map(String::as_str).collect();
    Ok(covering_approval(&subs, &relied, site_id, today))
}

/// The approval covering a site, from the study's submissions and the lead
/// submissions the site relies on: its own approving decision or the
/// relied-on lead committee's, the newest lapse date first, an exempt study
/// always; or why there is none (`ethics_approval_required`,
/// `ethics_approval_lapsed`).
pub fn covering_approval(
    subs: &[SubmissionRow],
    relied_leads: &[&str],
    site_id: &str,
    today: NaiveDate,
) -> Result<String, &'static str> {
    let lead_committees: Vec<&str> = subs
        .iter()
        .filter(|s| relied_leads.contains(&s.id.as_str()))
        .map(|s| s.committee_id.as_str())
        .collect();
    let covering: Vec<&SubmissionRow> = subs
        .iter()
        .filter(|s| s.site_id == site_id || lead_committees.contains(&s.committee_id.as_str()))
        .filter(|s| s.approved())
        .collect();
    // An exempt study stays approved: exemption has no continuing review.
    if let Some(s) = covering.iter().find(|s| s.route == Route::Exempt.as_str()) {
        return Ok(s.id.clone());
    }
    let newest = covering
        .into_iter()
        .filter(|s| s.lapses_on.is_some())
        .max_by(|a, b| a.lapses_on.cmp(&b.lapses_on));
    match newest {
        None => Err("ethics_approval_required"),
        Some(s) if s.lapses_on.as_deref() < Some(today.to_string().as_str()) => {
            Err("ethics_approval_lapsed")
        }
        Some(s) => Ok(s.id.clone()),
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolInput {
    pub code: String,
    pub enrolled_on: String,
}

/// Enrols a pseudonymous subject at the actor's site. The study needs a
/// current ethics approval covering the site.
pub async fn enrol_subject(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    input: &EnrolInput,
    when: &When,
) -> StoreResult<SubjectRow> {
    actor.require(Permission::ConsentRecord)?;
    if actor.org_type != OrgType::MedicalInstitution {
        return Err(StoreError::forbidden(
            "institution_required",
            "sites enrol subjects",
        ));
    }
    if store.project(project_id).await?.is_none() {
        return Err(StoreError::not_found(
            "project_not_found",
            project_id.to_string(),
        ));
    }
    if let Err(code) = approval_for_site(store, project_id, &actor.org_id, when.today).await? {
        return Err(StoreError::conflict(code, project_id.to_string()));
    }
    let code = required("code", &input.code, 40)?;
    let enrolled = iso_date("enrolled_on", &input.enrolled_on)?;
    let taken = store
        .select(
            "SELECT id FROM subjects WHERE project_id = $1 AND code = $2",
            vec![t(project_id), t(&code)],
        )
        .await?;
    if !taken.is_empty() {
        return Err(StoreError::conflict("subject_code_taken", code).with_field("code"));
    }
    let id = new_id("sbj");
    let ev = actor.event(
        subject_stream(&id),
        SUBJECT_ENROLLED,
        SubjectEnrolled {
            id: id.clone(),
            project_id: project_id.to_string(),
            site_id: actor.org_id.clone(),
            code,
            enrolled_on: enrolled.to_string(),
        },
        when,
        "受试者入组 / subject enrolled",
    )?;
    store.append(vec![ev]).await?;
    subject(store, &id)
        .await?
        .ok_or_else(|| StoreError::internal("projection_missing", id))
}

async fn site_subject(
    store: &dyn Store,
    actor: &Actor,
    subject_id: &str,
) -> StoreResult<SubjectRow> {
    actor.require(Permission::ConsentRecord)?;
    let s = subject(store, subject_id)
        .await?
        .filter(|s| s.site_id == actor.org_id)
        .ok_or_else(|| StoreError::not_found("subject_not_found", subject_id.to_string()))?;
    Ok(s)
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    pub version: u32,
    pub signed_on: String,
    pub method: String,
    pub age_years: u32,
    #[serde(default = "yes")]
    pub can_read: bool,
    #[serde(default)]
    pub witness: Option<String>,
    #[serde(default)]
    pub guardian: Option<String>,
    #[serde(default)]
    pub assent: Option<bool>,
    pub scopes: Vec<String>,
}

fn yes() -> bool {
    true
}

/// Records a subject's signed consent to an approved version.
pub async fn record_consent(
    store: &dyn Store,
    actor: &Actor,
    subject_id: &str,
    input: &ConsentInput,
    when: &When,
) -> StoreResult<SubjectRow> {
    let s = site_subject(store, actor, subject_id).await?;
    if s.status == "withdrawn" {
        return Err(StoreError::conflict(
            "subject_withdrawn",
            subject_id.to_string(),
        ));
    }
    let versions = consent_versions(store, &s.project_id).await?;
    let v = versions
        .iter()
        .find(|v| v.version == input.version as i64)
        .ok_or_else(|| {
            StoreError::invalid(
                "consent_version_not_approved",
                "version",
                input.version.to_string(),
            )
        })?;
    if (input.version as i64) < s.consent_version {
        return Err(StoreError::invalid(
            "consent_version_older",
            "version",
            input.version.to_string(),
        ));
    }
    let terms = ConsentTerms {
        version: input.version,
        signed_on: iso_date("signed_on", &input.signed_on)?,
        method: parse::<Method>("method", &input.method, "consent_method_invalid")?,
        obtained_by: actor.display_name.clone(),
        age_years: input.age_years,
        can_read: input.can_read,
        witness: optional("witness", &input.witness, 100)?,
        guardian: optional("guardian", &input.guardian, 100)?,
        assent: input.assent,
        scopes: Scopes::parse(input.scopes.iter().map(String::as_str))
            .map_err(|e| StoreError::invalid("consent_scope_invalid", "scopes", e.value))?,
    };
    cs::validate(&terms, v.asks).map_err(|e| StoreError::invalid(e.code, e.field, e.code))?;
    // A consent is dated no later than today and no earlier than the last
    // change on record (a later withdrawal cannot be undone by a back-dated
    // signature), so the timeline's entries stay in day order.
    let last = Timeline::parse(&s.timeline)
        .map_err(|e| StoreError::internal(e.code, "subjects.timeline"))?
        .last_day();
    if terms.signed_on > when.today || last.is_some_and(|l| terms.signed_on < l) {
        return Err(StoreError::invalid(
            "consent_date_invalid",
            "signed_on",
            terms.signed_on.to_string(),
        ));
    }
    let ev = actor.event(
        subject_stream(subject_id),
        CONSENT_SIGNED,
        ConsentSigned {
            subject_id: subject_id.to_string(),
            project_id: s.project_id.clone(),
            terms,
        },
        when,
        &format!(
            "签署知情同意（第{}版）/ consent signed (version {})",
            input.version, input.version
        ),
    )?;
    store.append(vec![ev]).await?;
    subject(store, subject_id)
        .await?
        .ok_or_else(|| StoreError::internal("projection_missing", subject_id.to_string()))
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawInput {
    /// Scopes withdrawn; empty with `whole` for a whole withdrawal.
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub whole: bool,
    #[serde(default)]
    pub samples: Option<String>,
    pub reason: String,
}

fn withdrawal(input: &WithdrawInput) -> StoreResult<(Scopes, Option<SampleDisposition>)> {
    let scopes = if input.whole {
        Scopes::all()
    } else {
        Scopes::parse(input.scopes.iter().map(String::as_str))
            .map_err(|e| StoreError::invalid("consent_scope_invalid", "scopes", e.value))?
    };
    if scopes.is_empty() {
        return Err(StoreError::invalid(
            "field_required",
            "scopes",
            "nothing withdrawn",
        ));
    }
    let samples = input
        .samples
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse::<SampleDisposition>("samples", s, "sample_disposition_invalid"))
        .transpose()?;
    let touches_samples =
        scopes.contains(Scope::BiobankStorage) || scopes.contains(Scope::StudyData);
    if touches_samples && samples.is_none() {
        return Err(StoreError::invalid(
            "sample_disposition_required",
            "samples",
            "destroy or retain",
        ));
    }
    Ok((scopes, samples))
}

async fn append_withdrawal(
    store: &dyn Store,
    actor: &Actor,
    s: &SubjectRow,
    input: &WithdrawInput,
    by: &str,
    when: &When,
) -> StoreResult<SubjectRow> {
    let reason = check_reason(&input.reason)?;
    let (scopes, samples) = withdrawal(input)?;
    let ev = actor.event(
        subject_stream(&s.id),
        CONSENT_WITHDRAWN,
        ConsentWithdrawn {
            subject_id: s.id.clone(),
            project_id: s.project_id.clone(),
            on: when.today.to_string(),
            scopes,
            whole: input.whole,
            samples,
            by: by.to_string(),
        },
        when,
        &reason,
    )?;
    store.append(vec![ev]).await?;
    subject(store, &s.id)
        .await?
        .ok_or_else(|| StoreError::internal("projection_missing", s.id.clone()))
}

/// Records a withdrawal the subject made to site staff; it takes effect the
/// same day.
pub async fn withdraw_consent(
    store: &dyn Store,
    actor: &Actor,
    subject_id: &str,
    input: &WithdrawInput,
    when: &When,
) -> StoreResult<SubjectRow> {
    let s = site_subject(store, actor, subject_id).await?;
    append_withdrawal(store, actor, &s, input, "staff", when).await
}

/// A personal link for a subject's own consent page. Returns the token
/// (shown once); only its hash is kept, and a new link replaces the old.
pub async fn issue_subject_link(
    store: &dyn Store,
    actor: &Actor,
    subject_id: &str,
) -> StoreResult<String> {
    site_subject(store, actor, subject_id).await?;
    let mut b = [0u8; 24];
    getrandom::getrandom(&mut b)
        .map_err(|e| StoreError::internal("random_unavailable", e.to_string()))?;
    let token = hex::encode(b);
    store
        .set_subject_link(&sha256_hex(token.as_bytes()), subject_id)
        .await?;
    Ok(token)
}

/// The subject a personal link belongs to.
pub async fn subject_for_link(store: &dyn Store, token: &str) -> StoreResult<SubjectRow> {
    let not_found = || StoreError::not_found("subject_link_invalid", "link");
    if token.len() != 48 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let id = store
        .subject_by_link(&sha256_hex(token.as_bytes()))
        .await?
        .ok_or_else(not_found)?;
    subject(store, &id).await?.ok_or_else(not_found)
}

/// A subject changes their permissions through their personal link: the
/// event is recorded by the site's ledger key, with the subject as actor.
pub async fn withdraw_by_subject(
    store: &dyn Store,
    token: &str,
    input: &WithdrawInput,
    when: &When,
) -> StoreResult<SubjectRow> {
    let s = subject_for_link(store, token).await?;
    let actor = Actor {
        user_id: format!("subject:{}", s.id),
        username: format!("subject:{}", s.code),
        display_name: format!("受试者本人 / the subject ({})", s.code),
        org_id: s.site_id.clone(),
        org_type: OrgType::MedicalInstitution,
        province_code: String::new(),
        roles: Vec::new(),
        scopes: Some(Vec::new()),
    };
    append_withdrawal(store, &actor, &s, input, "subject", when).await
}

/// The consent timelines of a study's subjects.
pub async fn consent_index(store: &dyn Store, project_id: &str) -> StoreResult<ConsentIndex> {
    let r = store
        .select(
            "SELECT id, timeline FROM subjects WHERE project_id = $1",
            vec![t(project_id)],
        )
        .await?;
    let mut ix = ConsentIndex::with_capacity(r.len());
    for m in r {
        let id = m.get("id").and_then(Value::as_str).unwrap_or_default();
        ix.insert(id, timeline_of(&m)?);
    }
    Ok(ix)
}

fn timeline_of(m: &Map<String, Value>) -> StoreResult<Timeline> {
    let text = m
        .get("timeline")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Timeline::parse(text).map_err(|e| StoreError::internal(e.code, "subjects.timeline"))
}

/// A project's export with the actor's right to it checked: the project's
/// institution, or a site of the study for its own subjects.
async fn export_scope(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
) -> StoreResult<Option<String>> {
    actor.require(Permission::DataExport)?;
    let project = store
        .project(project_id)
        .await?
        .ok_or_else(|| StoreError::not_found("project_not_found", project_id.to_string()))?;
    if project.org_id == actor.org_id {
        return Ok(None);
    }
    let mine = store
        .select(
            "SELECT id FROM subjects WHERE project_id = $1 AND site_id = $2 LIMIT 1",
            vec![t(project_id), t(&actor.org_id)],
        )
        .await?;
    if mine.is_empty() {
        return Err(StoreError::not_found(
            "project_not_found",
            project_id.to_string(),
        ));
    }
    Ok(Some(actor.org_id.clone()))
}

/// What a consent-checked export wrote and left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExportCount {
    pub written: u64,
    pub excluded: u64,
}

/// The one consent-checked read every export and data-sharing path uses:
/// the study's subjects the actor may export, each answered by the consent
/// check for `scope` on `on` (`core::consent::Gate`). Returns the subjects
/// who permit the use, and those who do not.
pub async fn gated_subjects(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    scope: Scope,
    on: NaiveDate,
) -> StoreResult<Gated> {
    let site = export_scope(store, actor, project_id).await?;
    let gate = Gate::new(scope, on);
    let mut out = Gated::default();
    for s in subjects(store, project_id).await? {
        if site.as_ref().is_some_and(|x| *x != s.site_id) {
            continue;
        }
        let permits = gate
            .permits_compact(&s.timeline)
            .map_err(|e| StoreError::internal(e.code, "subjects.timeline"))?;
        if permits {
            out.permitted.push(s);
        } else {
            out.refused.push(s);
        }
    }
    Ok(out)
}

/// Subjects split by the consent check.
#[derive(Clone, Debug, Default)]
pub struct Gated {
    pub permitted: Vec<SubjectRow>,
    pub refused: Vec<SubjectRow>,
}

impl Gated {
    pub fn count(&self) -> ExportCount {
        ExportCount {
            written: self.permitted.len() as u64,
            excluded: self.refused.len() as u64,
        }
    }
}

/// The study dataset as CSV (one row per subject), only subjects who permit
/// `scope` today.
pub async fn export_dataset(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    scope: Scope,
    when: &When,
    out: &mut Vec<u8>,
) -> StoreResult<ExportCount> {
    let gated = gated_subjects(store, actor, project_id, scope, when.today).await?;
    out.extend_from_slice(DATASET_HEADER);
    for s in &gated.permitted {
        write_subject(out, s);
    }
    Ok(gated.count())
}

pub const DATASET_HEADER: &[u8] = b"subject,site,enrolled_on,consent_version,scopes\n";

/// One subject's CSV row of the study dataset.
pub fn write_subject(out: &mut Vec<u8>, s: &SubjectRow) {
    cs::write_csv_row(
        out,
        &[
            &s.code,
            &s.site_id,
            &s.enrolled_on,
            &s.consent_version.to_string(),
            &s.scopes.names().join(" "),
        ],
    );
}

/// The study's subjects as a FHIR R5 Bundle of ResearchSubject and Consent
/// resources, for sharing with other institutions: a subject whose consent
/// does not permit sharing today is left out entirely (the count says how
/// many).
pub async fn export_fhir(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    when: &When,
) -> StoreResult<(Value, ExportCount)> {
    let gated = gated_subjects(
        store,
        actor,
        project_id,
        Scope::ShareInstitutions,
        when.today,
    )
    .await?;
    let study = format!("ResearchStudy/{project_id}");
    let date = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
    let mut entries = Vec::new();
    for s in &gated.permitted {
        let timeline = Timeline::parse(&s.timeline)
            .map_err(|e| StoreError::internal(e.code, "subjects.timeline"))?;
        let patient = format!("Patient/{}", s.id);
        let consent_ref = format!("Consent/{}", s.id);
        let events = store.stream_events(&subject_stream(&s.id)).await?;
        if let Some(signed) = events.iter().rev().find(|e| e.kind == CONSENT_SIGNED) {
            let p: ConsentSigned = payload(signed)?;
            let now = timeline.scopes_at(when.today);
            entries.push(serde_json::json!({"resource": cs::fhir_consent(&s.id, &patient, &study, &p.terms, now)}));
        }
        let enrolled = date(&s.enrolled_on).unwrap_or(when.today);
        let withdrawn = s.withdrawn_on.as_deref().and_then(date);
        entries.push(serde_json::json!({"resource": cs::fhir_research_subject(&s.id, &patient, &study, &consent_ref, enrolled, withdrawn)}));
    }
    Ok((
        serde_json::json!({"resourceType": "Bundle", "type": "collection", "timestamp": when.now, "entry": entries}),
        gated.count(),
    ))
}

// ---------------------------------------------------------------- reliance

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RelianceRow {
    pub id: String,
    pub project_id: String,
    pub lead_submission_id: String,
    pub site_id: String,
    pub committee_id: String,
    pub status: String,
    pub agreement: String,
    pub local_considerations: String,
    pub proposed_at: String,
    pub settled_at: Option<String>,
    pub own_submission_id: Option<String>,
}

pub async fn reliances(store: &dyn Store, project_id: &str) -> StoreResult<Vec<RelianceRow>> {
    rows(
        store
            .select(
                "SELECT id, project_id, lead_submission_id, site_id, committee_id, status, agreement, local_considerations, proposed_at, settled_at, own_submission_id FROM reliances WHERE project_id = $1 ORDER BY site_id",
                vec![t(project_id)],
            )
            .await?,
    )
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposeInput {
    pub site_id: String,
    pub committee_id: String,
}

/// The lead institution proposes that a participating site rely on its
/// committee's review (伦理互认). The lead review must be decided and
/// approving.
pub async fn propose_reliance(
    store: &dyn Store,
    actor: &Actor,
    lead_submission_id: &str,
    input: &ProposeInput,
    when: &When,
) -> StoreResult<RelianceRow> {
    actor.require(Permission::EthicsSubmit)?;
    let lead = visible_submission(store, actor, lead_submission_id).await?;
    if lead.submission.site_id != actor.org_id {
        return Err(StoreError::forbidden(
            "institution_action_only",
            "the lead institution proposes",
        ));
    }
    if !lead.submission.approved() {
        return Err(StoreError::conflict(
            "lead_review_not_approved",
            lead_submission_id.to_string(),
        ));
    }
    let site = store.organisation(input.site_id.trim()).await?;
    if site.is_none_or(|o| o.org_type != OrgType::MedicalInstitution.as_str())
        || input.site_id == actor.org_id
    {
        return Err(StoreError::invalid(
            "institution_invalid",
            "site_id",
            input.site_id.clone(),
        ));
    }
    if committee(store, input.committee_id.trim()).await?.is_none() {
        return Err(StoreError::invalid(
            "committee_not_found",
            "committee_id",
            input.committee_id.clone(),
        ));
    }
    let existing = reliances(store, &lead.submission.project_id).await?;
    if existing.iter().any(|r| r.site_id == input.site_id) {
        return Err(
            StoreError::conflict("reliance_exists", input.site_id.clone()).with_field("site_id"),
        );
    }
    let id = new_id("rel");
    let ev = actor.event(
        reliance_stream(&id),
        RELIANCE_PROPOSED,
        RelianceProposed {
            id: id.clone(),
            project_id: lead.submission.project_id.clone(),
            lead_submission_id: lead_submission_id.to_string(),
            site_id: input.site_id.trim().to_string(),
            committee_id: input.committee_id.trim().to_string(),
        },
        when,
        "提议伦理审查互认 / reliance on the lead review proposed",
    )?;
    store.append(vec![ev]).await?;
    reliances(store, &lead.submission.project_id)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| StoreError::internal("projection_missing", id))
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveRelianceInput {
    pub to: String,
    #[serde(default)]
    pub agreement: Option<String>,
    #[serde(default)]
    pub local_considerations: Option<String>,
    #[serde(default)]
    pub reason: String,
}

/// The participating site's committee moves its reliance one step: the
/// agreement signed (its reference), the local context reviewed (the site's
/// considerations), reliance reached, or declined — a declined reliance
/// opens the site's own initial review at that committee.
pub async fn move_reliance(
    store: &dyn Store,
    actor: &Actor,
    reliance_id: &str,
    input: &MoveRelianceInput,
    when: &When,
) -> StoreResult<RelianceRow> {
    actor.require(Permission::EthicsManage)?;
    let r = rows::<RelianceRow>(
        store
            .select("SELECT id, project_id, lead_submission_id, site_id, committee_id, status, agreement, local_considerations, proposed_at, settled_at, own_submission_id FROM reliances WHERE id = $1", vec![t(reliance_id)])
            .await?,
    )?
    .pop()
    .filter(|r| r.committee_id == actor.org_id)
    .ok_or_else(|| StoreError::not_found("reliance_not_found", reliance_id.to_string()))?;
    let from: et::RelianceStatus = parse("status", &r.status, "reliance_status_invalid")?;
    let to: et::RelianceStatus = parse("to", &input.to, "reliance_status_invalid")?;
    if !from.next().contains(&to) {
        return Err(StoreError::conflict(
            "workflow_transition_not_allowed",
            format!("{from} → {to}"),
        )
        .with_field("to")
        .with_arg("action", to.as_str())
        .with_arg("state", from.as_str()));
    }
    let agreement = optional("agreement", &input.agreement, 500)?;
    let local = optional("local_considerations", &input.local_considerations, 4000)?;
    if to == et::RelianceStatus::AgreementSigned && agreement.is_none() {
        return Err(StoreError::invalid(
            "field_required",
            "agreement",
            "the agreement's reference",
        ));
    }
    if to == et::RelianceStatus::LocalReview && local.is_none() {
        return Err(StoreError::invalid(
            "field_required",
            "local_considerations",
            "required",
        ));
    }
    let reason = if to == et::RelianceStatus::Declined {
        check_reason(&input.reason)?
    } else {
        reason_text(
            Some(&input.reason),
            &format!(
                "伦理互认：{} / reliance: {}",
                to.label(celltrail_core::Lang::Zh),
                to.label(celltrail_core::Lang::En)
            ),
        )
    };
    let mut batch = Vec::new();
    let mut own = None;
    if to == et::RelianceStatus::Declined {
        // The site's own review, opened at its committee with the lead's facts.
        let lead = submission(store, &r.lead_submission_id)
            .await?
            .ok_or_else(|| {
                StoreError::internal("submission_missing", r.lead_submission_id.clone())
            })?;
        let mut facts = lead.submission.facts.clone();
        facts.reliance_confirmation = false;
        let routed = et::route(SubmissionType::Initial, &facts);
        let id = new_id("sub");
        batch.push(
            actor.event(
                submission_stream(&id),
                SUBMITTED,
                Submitted {
                    id: id.clone(),
                    project_id: r.project_id.clone(),
                    committee_id: r.committee_id.clone(),
                    site_id: r.site_id.clone(),
                    kind: SubmissionType::Initial.as_str().to_string(),
                    route: routed.route.as_str().to_string(),
                    rule: routed.rule.clone(),
                    basis: routed
                        .basis
                        .iter()
                        .map(|b| BasisRef {
                            instrument: b.instrument.to_string(),
                            article: b.article.to_string(),
                        })
                        .collect(),
                    facts,
                    consent_version: None,
                    lead_id: None,
                },
                when,
                "不予互认，本机构独立审查 / reliance declined: the site's own review",
            )?,
        );
        own = Some(id);
    }
    batch.push(actor.event(
        reliance_stream(reliance_id),
        RELIANCE_MOVED,
        RelianceMoved {
            id: reliance_id.to_string(),
            to: to.as_str().to_string(),
            agreement,
            local_considerations: local,
            own_submission_id: own,
        },
        when,
        &reason,
    )?);
    store.append(batch).await?;
    reliances(store, &r.project_id)
        .await?
        .into_iter()
        .find(|x| x.id == reliance_id)
        .ok_or_else(|| StoreError::internal("projection_missing", reliance_id.to_string()))
}

/// Days saved by reliance on one study: each relying site's days from the
/// lead decision to reliance, against the lead's own review time (open
/// steps counted to `today`).
pub async fn reliance_days_saved(
    store: &dyn Store,
    project_id: &str,
    today: NaiveDate,
) -> StoreResult<i64> {
    let rs = reliances(store, project_id).await?;
    let Some(first) = rs.first() else {
        return Ok(0);
    };
    let Some(lead) = submission(store, &first.lead_submission_id).await? else {
        return Ok(0);
    };
    let day = |s: &str| NaiveDate::parse_from_str(s.get(..10).unwrap_or(""), "%Y-%m-%d").ok();
    let lead_days = lead.submission.clock_days(today);
    let decided = lead
        .submission
        .decided_at
        .as_deref()
        .and_then(day)
        .unwrap_or(today);
    let sites: Vec<(et::RelianceStatus, i64)> = rs
        .iter()
        .filter_map(|r| {
            let s = r.status.parse().ok()?;
            let settled = r.settled_at.as_deref().and_then(day).unwrap_or(today);
            Some((s, (settled - decided).num_days()))
        })
        .collect();
    Ok(et::days_saved(lead_days, &sites))
}

// ---------------------------------------------------------------- expert pool

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ExpertRow {
    pub id: String,
    pub name: String,
    pub affiliation: String,
    pub tags: String,
    pub interests: String,
    #[serde(deserialize_with = "flag")]
    pub active: bool,
    pub open_reviews: i64,
}

/// The pool with each expert's open assignments (reviews not yet answered).
pub async fn experts(store: &dyn Store) -> StoreResult<Vec<ExpertRow>> {
    rows(
        store
            .select(
                "SELECT e.id, e.name, e.affiliation, e.tags, e.interests, e.active, (SELECT COUNT(*) FROM submission_reviewers r WHERE r.reviewer = e.id AND r.answered_at IS NULL) AS open_reviews FROM experts e ORDER BY e.id",
                vec![],
            )
            .await?,
    )
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpertInput {
    pub name: String,
    pub affiliation: String,
    pub tags: Vec<String>,
}

/// Adds an expert to the national or regional pool (platform or regulator).
pub async fn register_expert(
    store: &dyn Store,
    actor: &Actor,
    input: &ExpertInput,
    when: &When,
) -> StoreResult<ExpertRow> {
    actor.require(Permission::ExpertPoolManage)?;
    let affiliation = input.affiliation.trim().to_string();
    if store.organisation(&affiliation).await?.is_none() {
        return Err(StoreError::invalid(
            "org_not_found",
            "affiliation",
            affiliation,
        ));
    }
    let mut tags = Vec::new();
    for tag in &input.tags {
        let tag = tag.trim();
        if !et::EXPERT_TAGS.contains(&tag) {
            return Err(StoreError::invalid("expert_tag_invalid", "tags", tag));
        }
        tags.push(tag.to_string());
    }
    if tags.is_empty() {
        return Err(StoreError::invalid(
            "field_required",
            "tags",
            "at least one",
        ));
    }
    let id = new_id("exp");
    let ev = actor.event(
        expert_stream(&id),
        EXPERT_REGISTERED,
        ExpertRegistered {
            id: id.clone(),
            name: required("name", &input.name, 100)?,
            affiliation,
            tags,
        },
        when,
        "专家入库 / expert added to the pool",
    )?;
    store.append(vec![ev]).await?;
    experts(store)
        .await?
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| StoreError::internal("projection_missing", id))
}

/// Records an expert's declared interest in an organisation (consultancy,
/// shares, grants, family ties); the expert is then never assigned to its
/// submissions.
pub async fn declare_interest(
    store: &dyn Store,
    actor: &Actor,
    expert_id: &str,
    org_id: &str,
    nature: &str,
    when: &When,
) -> StoreResult<ExpertRow> {
    actor.require(Permission::ExpertPoolManage)?;
    if !experts(store).await?.iter().any(|e| e.id == expert_id) {
        return Err(StoreError::not_found(
            "expert_not_found",
            expert_id.to_string(),
        ));
    }
    if store.organisation(org_id.trim()).await?.is_none() {
        return Err(StoreError::invalid(
            "org_not_found",
            "org_id",
            org_id.to_string(),
        ));
    }
    let nature = required("nature", nature, 500)?;
    let ev = actor.event(
        expert_stream(expert_id),
        EXPERT_INTEREST_DECLARED,
        ExpertInterest {
            id: expert_id.to_string(),
            org_id: org_id.trim().to_string(),
            nature: nature.clone(),
        },
        when,
        &format!("利益冲突声明 / conflict-of-interest declaration: {nature}"),
    )?;
    store.append(vec![ev]).await?;
    experts(store)
        .await?
        .into_iter()
        .find(|e| e.id == expert_id)
        .ok_or_else(|| StoreError::internal("projection_missing", expert_id.to_string()))
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignExpertsInput {
    pub tags: Vec<String>,
    pub count: usize,
    #[serde(default)]
    pub sponsor_id: Option<String>,
}

/// Assigns pool experts to a submission (special expert committee reviews):
/// experts affiliated with the site or sponsor, or who declared an interest
/// in either, are excluded and the reasons recorded; the rest are chosen by
/// fewest open reviews (`core::ethics::assign_experts`).
pub async fn assign_pool_experts(
    store: &dyn Store,
    actor: &Actor,
    submission_id: &str,
    input: &AssignExpertsInput,
    when: &When,
) -> StoreResult<SubmissionView> {
    actor.require(Permission::EthicsManage)?;
    let s = committee_submission(store, actor, submission_id).await?;
    if !(1..=9).contains(&input.count) {
        return Err(StoreError::invalid(
            "field_out_of_range",
            "count",
            input.count.to_string(),
        ));
    }
    let pool: Vec<et::Expert> = experts(store)
        .await?
        .into_iter()
        .filter(|e| e.active)
        .map(|e| et::Expert {
            id: e.id,
            name: e.name,
            tags: e
                .tags
                .split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect(),
            affiliation: e.affiliation,
            declared_interests: e
                .interests
                .split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect(),
            open_reviews: e.open_reviews as u32,
        })
        .filter(|e| !s.reviewers.iter().any(|r| r.reviewer == e.id))
        .collect();
    let wanted: Vec<&str> = input.tags.iter().map(String::as_str).collect();
    let (chosen, excluded) = et::assign_experts(
        &pool,
        &s.submission.site_id,
        input.sponsor_id.as_deref(),
        &wanted,
        input.count,
    );
    if chosen.len() < input.count {
        return Err(
            StoreError::conflict("experts_unavailable", chosen.len().to_string())
                .with_arg("found", chosen.len().to_string()),
        );
    }
    let ev = actor.event(
        submission_stream(submission_id),
        REVIEWERS_ASSIGNED,
        ReviewersAssigned {
            submission_id: submission_id.to_string(),
            reviewer_kind: "expert".into(),
            reviewers: chosen,
            excluded: excluded
                .into_iter()
                .map(|x| ExclusionRef {
                    expert: x.expert,
                    reason: x.reason.to_string(),
                    org: x.org,
                })
                .collect(),
        },
        when,
        "从专家库指派专家 / experts assigned from the pool",
    )?;
    store.append(vec![ev]).await?;
    visible_submission(store, actor, submission_id).await
}

// ---------------------------------------------------------------- dashboard

/// Clocks of one route at one committee: decided submissions with their
/// days from submission to decision, and those still open.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct RouteClock {
    pub route: String,
    pub decided: u64,
    pub median_days: Option<i64>,
    pub mean_days: Option<f64>,
    pub max_days: Option<i64>,
    pub open: u64,
    pub overdue: u64,
}

/// An approval and where it stands on its continuing review.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DueReview {
    pub submission_id: String,
    pub project_id: String,
    pub site_id: String,
    pub lapses_on: String,
    pub status: et::ReviewStatus,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Dashboard {
    pub committee_id: String,
    pub routes: Vec<RouteClock>,
    pub reviews: Vec<DueReview>,
}

/// The committee's clocks per route and its approvals by continuing-review
/// status (the newest approval of each study and site), as of `today`.
pub async fn dashboard(
    store: &dyn Store,
    committee_id: &str,
    today: NaiveDate,
) -> StoreResult<Dashboard> {
    let subs = submissions(
        store,
        &SubmissionFilter {
            committee_id: Some(committee_id.to_string()),
            ..Default::default()
        },
    )
    .await?;
    let mut routes = Vec::new();
    for r in Route::ALL {
        let of: Vec<&SubmissionRow> = subs.iter().filter(|s| s.route == r.as_str()).collect();
        let mut days: Vec<i64> = of
            .iter()
            .filter(|s| s.decided_at.is_some())
            .map(|s| s.clock_days(today))
            .collect();
        days.sort_unstable();
        let open: Vec<&&SubmissionRow> = of.iter().filter(|s| s.decided_at.is_none()).collect();
        routes.push(RouteClock {
            route: r.as_str().to_string(),
            decided: days.len() as u64,
            median_days: (!days.is_empty()).then(|| days[(days.len() - 1) / 2]),
            mean_days: (!days.is_empty())
                .then(|| days.iter().sum::<i64>() as f64 / days.len() as f64),
            max_days: days.last().copied(),
            open: open.len() as u64,
            overdue: open.iter().filter(|s| s.overdue(today)).count() as u64,
        });
    }
    let mut newest: std::collections::BTreeMap<(String, String), &SubmissionRow> =
        Default::default();
    for s in subs.iter().filter(|s| s.lapses_on.is_some()) {
        let key = (s.project_id.clone(), s.site_id.clone());
        if newest.get(&key).is_none_or(|x| x.lapses_on < s.lapses_on) {
            newest.insert(key, s);
        }
    }
    let mut reviews: Vec<DueReview> = newest
        .into_values()
        .filter_map(|s| {
            let lapses = s.lapses_on.as_deref()?;
            let d = NaiveDate::parse_from_str(lapses, "%Y-%m-%d").ok()?;
            Some(DueReview {
                submission_id: s.id.clone(),
                project_id: s.project_id.clone(),
                site_id: s.site_id.clone(),
                lapses_on: lapses.to_string(),
                status: et::review_status(d, today),
            })
        })
        .collect();
    reviews.sort_by(|a, b| a.lapses_on.cmp(&b.lapses_on));
    Ok(Dashboard {
        committee_id: committee_id.to_string(),
        routes,
        reviews,
    })
}
