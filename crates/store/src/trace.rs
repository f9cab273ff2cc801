//! Chain of identity and custody: events, how they change the read models,
//! the commands that append them, and the reads (chain view, genealogy,
//! recall list, FHIR export).
//!
//! Streams: `person:{id}`, `collection:{id}`, `unit:{id}`, `shipment:{id}`,
//! `process:{id}`, `equipment:{id}`, `lot:{id}`, `bank:{id}`, `batch:{id}`;
//! a halt of a technology goes on the technology's own `project:{id}`
//! stream. The pure rules — specifications, custody gaps, the bedside
//! check, the genealogy drawing, FHIR — live in `celltrail_core::trace`.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use celltrail_core::access::{OrgType, Permission};
use celltrail_core::coldchain::{self, Range};
use celltrail_core::isbt;
use celltrail_core::trace::{
    self as tr, CollectionKind, Eligibility, Expected, Graph, Limit, Scans, Shipper, Spec, Stage,
    Verdict,
};
use celltrail_core::workflow::SignatureMeaning;
use celltrail_ledger::sha256_hex;
use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::verify_password;
use crate::error::{StoreError, StoreResult};
use crate::projection::{
    one, ot, parse_enum, payload, project_stream, rows, t, Op, SignaturePayload, Val,
};
use crate::service::{
    check_signature, iso_date, optional, reason_text, required, Actor, SignInput, When,
};
use crate::{new_id, Store};

pub const PERSON_REGISTERED: &str = "trace.person_registered";
pub const COLLECTED: &str = "trace.collected";
pub const SHIPMENT_DISPATCHED: &str = "trace.shipment_dispatched";
pub const SHIPMENT_RECEIVED: &str = "trace.shipment_received";
pub const LOG_IMPORTED: &str = "trace.log_imported";
pub const UNIT_ASSESSED: &str = "trace.unit_assessed";
pub const PROCESS_DEFINED: &str = "trace.process_defined";
pub const EQUIPMENT_REGISTERED: &str = "trace.equipment_registered";
pub const LOT_REGISTERED: &str = "trace.lot_registered";
pub const BANK_REGISTERED: &str = "trace.bank_registered";
pub const BATCH_STARTED: &str = "trace.batch_started";
pub const STEP_RECORDED: &str = "trace.step_recorded";
pub const TEST_RECORDED: &str = "trace.test_recorded";
pub const DEVIATION_OPENED: &str = "trace.deviation_opened";
pub const DEVIATION_CLOSED: &str = "trace.deviation_closed";
pub const UNITS_MADE: &str = "trace.units_made";
pub const BATCH_RELEASED: &str = "trace.batch_released";
pub const UNIT_STORED: &str = "trace.unit_stored";
pub const BEDSIDE_CHECKED: &str = "trace.bedside_checked";
pub const ADMINISTERED: &str = "trace.administered";
pub const UNIT_WASTED: &str = "trace.unit_wasted";
pub const UNIT_RETURNED: &str = "trace.unit_returned";
pub const HALTED: &str = "trace.halted";
pub const HALT_LIFTED: &str = "trace.halt_lifted";

/// Every event kind of this module (the projection dispatches on these).
pub const KINDS: &[&str] = &[
    PERSON_REGISTERED,
    COLLECTED,
    SHIPMENT_DISPATCHED,
    SHIPMENT_RECEIVED,
    LOG_IMPORTED,
    UNIT_ASSESSED,
    PROCESS_DEFINED,
    EQUIPMENT_REGISTERED,
    LOT_REGISTERED,
    BANK_REGISTERED,
    BATCH_STARTED,
    STEP_RECORDED,
    TEST_RECORDED,
    DEVIATION_OPENED,
    DEVIATION_CLOSED,
    UNITS_MADE,
    BATCH_RELEASED,
    UNIT_STORED,
    BEDSIDE_CHECKED,
    ADMINISTERED,
    UNIT_WASTED,
    UNIT_RETURNED,
    HALTED,
    HALT_LIFTED,
];

/// What QA or a regulator can halt.
pub const HALT_KINDS: &[&str] = &["batch", "bank", "process", "technology", "lot"];
/// Person kinds, unit statuses, wastage reasons.
pub const PERSON_KINDS: &[&str] = &["patient", "donor"];
pub const UNIT_STATUSES: &[&str] = &[
    "collected",
    "consumed",
    "quarantine",
    "released",
    "on_hold",
    "administered",
    "wasted",
    "returned",
    "rejected",
];
pub const WASTE_REASONS: &[&str] = &[
    "expired",
    "damaged",
    "temperature_excursion",
    "patient_not_eligible",
    "patient_died",
    "out_of_specification",
    "recalled",
    "other",
];
/// Hours a unit may be in transit before the open hand-off is a custody gap.
pub const MAX_TRANSIT_HOURS: i64 = 72;
/// Minutes a matched bedside check stays good for administration.
pub const BEDSIDE_WINDOW_MINUTES: i64 = 120;

pub fn person_stream(id: &str) -> String {
    format!("person:{id}")
}
pub fn unit_stream(id: &str) -> String {
    format!("unit:{id}")
}
pub fn batch_stream(id: &str) -> String {
    format!("batch:{id}")
}
pub fn shipment_stream(id: &str) -> String {
    format!("shipment:{id}")
}
/// The stream a halt of this kind of target is signed on.
pub fn target_stream(kind: &str, id: &str) -> String {
    match kind {
        "technology" => project_stream(id),
        k => format!("{k}:{id}"),
    }
}

// ---------------------------------------------------------------- payloads

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PersonRegistered {
    pub id: String,
    pub kind: String,
    pub institution_id: String,
    pub project_id: Option<String>,
    pub identity_sha256: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Collected {
    pub id: String,
    pub coi: String,
    pub unit_id: String,
    pub din: String,
    pub product_code: Option<String>,
    pub donor_id: String,
    pub patient_id: Option<String>,
    pub site_id: String,
    pub project_id: Option<String>,
    pub kind: String,
    pub eligibility: String,
    pub range_min: Option<i64>,
    pub range_max: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ShipmentDispatched {
    pub id: String,
    pub from_org: String,
    pub to_org: String,
    pub shipper: String,
    pub courier: String,
    pub logger_id: Option<String>,
    pub unit_ids: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ShipmentReceived {
    pub id: String,
    pub org: String,
    pub unit_ids: Vec<String>,
    pub condition: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ExcursionRec {
    pub start: String,
    pub end: String,
    pub minutes: i64,
    pub worst_c100: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LogImported {
    pub shipment_id: String,
    pub sha256: String,
    pub range_min: Option<i64>,
    pub range_max: Option<i64>,
    /// (time, hundredths of °C)
    pub readings: Vec<(String, i64)>,
    pub excursions: Vec<ExcursionRec>,
    pub minutes_out: i64,
    /// Units put on hold by the excursion.
    pub affected_units: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UnitAssessed {
    pub unit_id: String,
    pub usable: bool,
    pub status: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ProcessDefined {
    pub id: String,
    pub org_id: String,
    pub technology_id: Option<String>,
    pub name: String,
    pub specs: Vec<Spec>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EquipmentRegistered {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub kind: String,
    pub calibrated_until: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LotRegistered {
    pub id: String,
    pub org_id: String,
    pub material: String,
    pub supplier: String,
    pub lot: String,
    pub expires_on: String,
    pub status: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BankRegistered {
    pub id: String,
    pub org_id: String,
    pub kind: String,
    pub parent_id: Option<String>,
    pub donor_id: Option<String>,
    pub cell_line: String,
    pub passage: i64,
    pub passage_limit: i64,
    pub vials: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BatchStarted {
    pub id: String,
    pub org_id: String,
    pub process_id: String,
    pub technology_id: Option<String>,
    pub coi: Option<String>,
    pub patient_id: Option<String>,
    pub site_id: Option<String>,
    pub input_units: Vec<String>,
    pub cell_bank_id: Option<String>,
    pub passage: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StepRecorded {
    pub batch_id: String,
    pub step: String,
    pub operator_id: String,
    pub equipment_id: Option<String>,
    pub lots: Vec<String>,
    pub passages: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TestRecorded {
    pub batch_id: String,
    pub test: String,
    pub stage: String,
    pub value: String,
    pub unit: String,
    pub spec: String,
    pub verdict: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DeviationOpened {
    pub id: String,
    pub batch_id: String,
    pub test: String,
    pub value: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DeviationClosed {
    pub id: String,
    pub batch_id: String,
    pub disposition: String,
    pub note: String,
    /// The batch status after closing.
    pub batch_status: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MadeUnit {
    pub id: String,
    pub din: String,
    pub product_code: Option<String>,
    pub expires_on: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UnitsMade {
    pub batch_id: String,
    pub maker_id: String,
    pub coi: String,
    pub patient_id: Option<String>,
    pub site_id: String,
    pub range_min: Option<i64>,
    pub range_max: Option<i64>,
    pub location: String,
    pub units: Vec<MadeUnit>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BatchReleased {
    pub batch_id: String,
    pub unit_ids: Vec<String>,
    pub signature: SignaturePayload,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UnitStored {
    pub unit_id: String,
    pub location: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MismatchRec {
    pub field: String,
    pub code: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BedsideChecked {
    pub id: String,
    pub unit_id: String,
    pub patient_id: String,
    pub first_user: String,
    pub second_user: String,
    pub matched: bool,
    pub mismatches: Vec<MismatchRec>,
    /// What was scanned for the chain of identity and the bag (not the
    /// wristband, which is identifying).
    pub scanned_coi: String,
    pub scanned_bag: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Administered {
    pub unit_id: String,
    pub patient_id: String,
    pub check_id: String,
    pub note: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UnitDisposed {
    pub unit_id: String,
    pub reason_code: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Halt {
    pub kind: String,
    pub target_id: String,
    pub signature: SignaturePayload,
}

// ---------------------------------------------------------------- projection

fn node(kind: &str, id: &str) -> Val {
    Val::Text(format!("{kind}:{id}"))
}

fn edge(parent: Val, child: Val, relation: &'static str) -> Op {
    Op {
        sql:
            "INSERT INTO lineage (parent, child, relation) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING",
        args: vec![parent, child, Val::Text(relation.into())],
    }
}

fn unit_status(id: &str, status: &str, ev: &celltrail_ledger::Event) -> Op {
    Op {
        sql: "UPDATE units SET status = $2, updated_at = $3 WHERE id = $1",
        args: vec![t(id), t(status), t(&ev.time)],
    }
}

fn signature_op(ev: &celltrail_ledger::Event, action: &str, s: &SignaturePayload) -> Op {
    Op {
        sql: "INSERT INTO signatures (stream, seq, action, meaning, record_hash, manifest_hash, user_id, printed_name, org_id, signed_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
        args: vec![
            t(&ev.stream),
            Val::Int(ev.seq as i64),
            t(action),
            t(&s.meaning),
            t(&s.record_hash),
            t(&s.manifest_hash),
            t(&s.user_id),
            t(&s.printed_name),
            t(&s.org_id),
            t(&s.signed_at),
        ],
    }
}

fn oi(v: Option<i64>) -> Val {
    Val::OptInt(v)
}

/// Logger readings go in multi-row INSERTs of at most this many rows (a
/// log holds hundreds to thousands; one statement per reading costs a
/// round trip each).
const READINGS_PER_INSERT: usize = 200;

/// `INSERT … VALUES ($1,$2,$3),($4,$5,$6)…` for `n` readings, built once
/// per size.
static READINGS_INSERT: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    (0..=READINGS_PER_INSERT)
        .map(|n| {
            let values: Vec<String> = (0..n)
                .map(|i| format!("(${},${},${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
                .collect();
            format!(
                "INSERT INTO temperature_readings (shipment_id, at, c100) VALUES {} ON CONFLICT DO NOTHING",
                values.join(",")
            )
        })
        .collect()
});

fn readings_insert(n: usize) -> &'static str {
    READINGS_INSERT[n.min(READINGS_PER_INSERT)].as_str()
}

/// The SQL operations an event of this module implies.
pub fn project(ev: &celltrail_ledger::Event) -> StoreResult<Vec<Op>> {
    let ops = match ev.kind.as_str() {
        PERSON_REGISTERED => {
            let p: PersonRegistered = payload(ev)?;
            vec![Op {
                sql: "INSERT INTO trace_people (id, kind, institution_id, project_id, identity_sha256, registered_at) VALUES ($1,$2,$3,$4,$5,$6)",
                args: vec![t(&p.id), t(&p.kind), t(&p.institution_id), ot(&p.project_id), t(&p.identity_sha256), t(&ev.time)],
            }]
        }
        COLLECTED => {
            let p: Collected = payload(ev)?;
            vec![
                Op {
                    sql: "INSERT INTO collections (id, coi, unit_id, donor_id, patient_id, site_id, project_id, kind, eligibility, collected_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
                    args: vec![
                        t(&p.id), t(&p.coi), t(&p.unit_id), t(&p.donor_id), ot(&p.patient_id),
                        t(&p.site_id), ot(&p.project_id), t(&p.kind), t(&p.eligibility), t(&ev.time),
                    ],
                },
                Op {
                    sql: "INSERT INTO units (id, din, product_code, coi, kind, patient_id, site_id, maker_id, batch_id, status, custodian, in_transit, location, range_min, range_max, expires_on, created_at, updated_at) VALUES ($1,$2,$3,$4,'collection',$5,$6,NULL,NULL,'collected',$6,0,NULL,$7,$8,NULL,$9,$9)",
                    args: vec![
                        t(&p.unit_id), t(&p.din), ot(&p.product_code), t(&p.coi), ot(&p.patient_id),
                        t(&p.site_id), oi(p.range_min), oi(p.range_max), t(&ev.time),
                    ],
                },
                edge(node("donor", &p.donor_id), node("unit", &p.unit_id), "collected"),
                edge(node("user", &ev.actor), node("unit", &p.unit_id), "collected_by"),
            ]
        }
        SHIPMENT_DISPATCHED => {
            let p: ShipmentDispatched = payload(ev)?;
            let mut ops = vec![Op {
                sql: "INSERT INTO shipments (id, from_org, to_org, shipper, courier, logger_id, dispatched_at, received_at, status, readings, minutes_out, log_sha256) VALUES ($1,$2,$3,$4,$5,$6,$7,NULL,'in_transit',0,0,NULL)",
                args: vec![t(&p.id), t(&p.from_org), t(&p.to_org), t(&p.shipper), t(&p.courier), ot(&p.logger_id), t(&ev.time)],
            }];
            for u in &p.unit_ids {
                ops.push(Op {
                    sql: "INSERT INTO shipment_units (shipment_id, unit_id) VALUES ($1,$2)",
                    args: vec![t(&p.id), t(u)],
                });
                ops.push(Op {
                    sql: "INSERT INTO handoffs (unit_id, shipment_id, from_org, to_org, sent_by, sent_at, received_by, received_org, received_at, condition) VALUES ($1,$2,$3,$4,$5,$6,NULL,NULL,NULL,NULL)",
                    args: vec![t(u), t(&p.id), t(&p.from_org), t(&p.to_org), t(&ev.actor), t(&ev.time)],
                });
                ops.push(Op {
                    sql: "UPDATE units SET in_transit = 1, custodian = NULL, updated_at = $2 WHERE id = $1",
                    args: vec![t(u), t(&ev.time)],
                });
                ops.push(edge(node("user", &ev.actor), node("unit", u), "shipped_by"));
            }
            ops
        }
        SHIPMENT_RECEIVED => {
            let p: ShipmentReceived = payload(ev)?;
            let mut ops = vec![Op {
                sql: "UPDATE shipments SET status = 'received', received_at = $2 WHERE id = $1",
                args: vec![t(&p.id), t(&ev.time)],
            }];
            for u in &p.unit_ids {
                ops.push(Op {
                    sql: "UPDATE handoffs SET received_by = $3, received_org = $4, received_at = $5, condition = $6 WHERE unit_id = $1 AND shipment_id = $2",
                    args: vec![t(u), t(&p.id), t(&ev.actor), t(&p.org), t(&ev.time), t(&p.condition)],
                });
                ops.push(Op {
                    sql: "UPDATE units SET in_transit = 0, custodian = $2, updated_at = $3 WHERE id = $1",
                    args: vec![t(u), t(&p.org), t(&ev.time)],
                });
                ops.push(edge(
                    node("user", &ev.actor),
                    node("unit", u),
                    "received_by",
                ));
            }
            ops
        }
        LOG_IMPORTED => {
            let p: LogImported = payload(ev)?;
            let mut ops = vec![Op {
                sql: "UPDATE shipments SET readings = $2, minutes_out = $3, log_sha256 = $4 WHERE id = $1",
                args: vec![t(&p.shipment_id), Val::Int(p.readings.len() as i64), Val::Int(p.minutes_out), t(&p.sha256)],
            }];
            for chunk in p.readings.chunks(READINGS_PER_INSERT) {
                let mut args = Vec::with_capacity(chunk.len() * 3);
                for (at, c) in chunk {
                    args.extend([t(&p.shipment_id), t(at), Val::Int(*c)]);
                }
                ops.push(Op {
                    sql: readings_insert(chunk.len()),
                    args,
                });
            }
            for e in &p.excursions {
                ops.push(Op {
                    sql: "INSERT INTO excursions (shipment_id, start_at, end_at, minutes, worst_c100) VALUES ($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING",
                    args: vec![t(&p.shipment_id), t(&e.start), t(&e.end), Val::Int(e.minutes), Val::Int(e.worst_c100)],
                });
            }
            for u in &p.affected_units {
                ops.push(unit_status(u, "on_hold", ev));
            }
            ops
        }
        UNIT_ASSESSED => {
            let p: UnitAssessed = payload(ev)?;
            vec![unit_status(&p.unit_id, &p.status, ev)]
        }
        PROCESS_DEFINED => {
            let p: ProcessDefined = payload(ev)?;
            vec![
                Op { sql: "DELETE FROM processes WHERE id = $1", args: vec![t(&p.id)] },
                Op {
                    sql: "INSERT INTO processes (id, org_id, technology_id, name, specs, defined_at) VALUES ($1,$2,$3,$4,$5,$6)",
                    args: vec![t(&p.id), t(&p.org_id), ot(&p.technology_id), t(&p.name), Val::Text(serde_json::to_string(&p.specs)?), t(&ev.time)],
                },
            ]
        }
        EQUIPMENT_REGISTERED => {
            let p: EquipmentRegistered = payload(ev)?;
            vec![
                Op { sql: "DELETE FROM equipment WHERE id = $1", args: vec![t(&p.id)] },
                Op {
                    sql: "INSERT INTO equipment (id, org_id, name, kind, calibrated_until) VALUES ($1,$2,$3,$4,$5)",
                    args: vec![t(&p.id), t(&p.org_id), t(&p.name), t(&p.kind), t(&p.calibrated_until)],
                },
            ]
        }
        LOT_REGISTERED => {
            let p: LotRegistered = payload(ev)?;
            vec![
                Op { sql: "DELETE FROM material_lots WHERE id = $1", args: vec![t(&p.id)] },
                Op {
                    sql: "INSERT INTO material_lots (id, org_id, material, supplier, lot, expires_on, status) VALUES ($1,$2,$3,$4,$5,$6,$7)",
                    args: vec![t(&p.id), t(&p.org_id), t(&p.material), t(&p.supplier), t(&p.lot), t(&p.expires_on), t(&p.status)],
                },
            ]
        }
        BANK_REGISTERED => {
            let p: BankRegistered = payload(ev)?;
            let mut ops = vec![Op {
                sql: "INSERT INTO cell_banks (id, org_id, kind, parent_id, donor_id, cell_line, passage, passage_limit, vials, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
                args: vec![
                    t(&p.id), t(&p.org_id), t(&p.kind), ot(&p.parent_id), ot(&p.donor_id), t(&p.cell_line),
                    Val::Int(p.passage), Val::Int(p.passage_limit), Val::Int(p.vials), t(&ev.time),
                ],
            }];
            if let Some(parent) = &p.parent_id {
                ops.push(edge(node("bank", parent), node("bank", &p.id), "derived"));
            }
            if let Some(d) = &p.donor_id {
                ops.push(edge(node("donor", d), node("bank", &p.id), "source"));
            }
            ops
        }
        BATCH_STARTED => {
            let p: BatchStarted = payload(ev)?;
            let mut ops = vec![Op {
                sql: "INSERT INTO batches (id, org_id, process_id, technology_id, coi, patient_id, site_id, cell_bank_id, passage, status, started_at, released_at, released_by) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,'in_process',$10,NULL,NULL)",
                args: vec![
                    t(&p.id), t(&p.org_id), t(&p.process_id), ot(&p.technology_id), ot(&p.coi),
                    ot(&p.patient_id), ot(&p.site_id), ot(&p.cell_bank_id), Val::Int(p.passage), t(&ev.time),
                ],
            }];
            for u in &p.input_units {
                ops.push(unit_status(u, "consumed", ev));
                ops.push(Op {
                    sql: "UPDATE units SET batch_id = $2 WHERE id = $1",
                    args: vec![t(u), t(&p.id)],
                });
                ops.push(edge(node("unit", u), node("batch", &p.id), "input"));
            }
            if let Some(b) = &p.cell_bank_id {
                ops.push(Op {
                    sql: "UPDATE cell_banks SET vials = vials - 1 WHERE id = $1",
                    args: vec![t(b)],
                });
                ops.push(edge(node("bank", b), node("batch", &p.id), "cell_bank"));
            }
            ops
        }
        STEP_RECORDED => {
            let p: StepRecorded = payload(ev)?;
            let mut ops = vec![
                Op {
                    sql: "INSERT INTO batch_steps (batch_id, seq, step, operator_id, equipment_id, lots, passages, at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
                    args: vec![
                        t(&p.batch_id), Val::Int(ev.seq as i64), t(&p.step), t(&p.operator_id), ot(&p.equipment_id),
                        Val::Text(p.lots.join(",")), Val::Int(p.passages), t(&ev.time),
                    ],
                },
                Op {
                    sql: "UPDATE batches SET passage = passage + $2 WHERE id = $1",
                    args: vec![t(&p.batch_id), Val::Int(p.passages)],
                },
                edge(node("user", &p.operator_id), node("batch", &p.batch_id), "operator"),
            ];
            if let Some(e) = &p.equipment_id {
                ops.push(edge(
                    node("equipment", e),
                    node("batch", &p.batch_id),
                    "equipment",
                ));
            }
            for l in &p.lots {
                ops.push(edge(node("lot", l), node("batch", &p.batch_id), "material"));
            }
            ops
        }
        TEST_RECORDED => {
            let p: TestRecorded = payload(ev)?;
            vec![
                Op {
                    sql: "INSERT INTO qc_results (batch_id, seq, test, stage, value, unit, spec, verdict, analyst_id, at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
                    args: vec![
                        t(&p.batch_id), Val::Int(ev.seq as i64), t(&p.test), t(&p.stage), t(&p.value),
                        t(&p.unit), t(&p.spec), t(&p.verdict), t(&ev.actor), t(&ev.time),
                    ],
                },
                edge(node("user", &ev.actor), node("batch", &p.batch_id), "tested_by"),
            ]
        }
        DEVIATION_OPENED => {
            let p: DeviationOpened = payload(ev)?;
            vec![
                Op {
                    sql: "INSERT INTO deviations (id, batch_id, test, value, opened_at, status, disposition, closed_at, note) VALUES ($1,$2,$3,$4,$5,'open',NULL,NULL,'')",
                    args: vec![t(&p.id), t(&p.batch_id), t(&p.test), t(&p.value), t(&ev.time)],
                },
                Op {
                    sql: "UPDATE batches SET status = 'on_hold' WHERE id = $1",
                    args: vec![t(&p.batch_id)],
                },
            ]
        }
        DEVIATION_CLOSED => {
            let p: DeviationClosed = payload(ev)?;
            let mut ops = vec![
                Op {
                    sql: "UPDATE deviations SET status = 'closed', disposition = $2, closed_at = $3, note = $4 WHERE id = $1",
                    args: vec![t(&p.id), t(&p.disposition), t(&ev.time), t(&p.note)],
                },
                Op {
                    sql: "UPDATE batches SET status = $2 WHERE id = $1",
                    args: vec![t(&p.batch_id), t(&p.batch_status)],
                },
            ];
            if p.batch_status == "rejected" {
                ops.push(Op {
                    sql: "UPDATE units SET status = 'rejected', updated_at = $2 WHERE batch_id = $1 AND kind = 'final'",
                    args: vec![t(&p.batch_id), t(&ev.time)],
                });
            }
            ops
        }
        UNITS_MADE => {
            let p: UnitsMade = payload(ev)?;
            let mut ops = Vec::new();
            for u in &p.units {
                ops.push(Op {
                    sql: "INSERT INTO units (id, din, product_code, coi, kind, patient_id, site_id, maker_id, batch_id, status, custodian, in_transit, location, range_min, range_max, expires_on, created_at, updated_at) VALUES ($1,$2,$3,$4,'final',$5,$6,$7,$8,'quarantine',$7,0,$9,$10,$11,$12,$13,$13)",
                    args: vec![
                        t(&u.id), t(&u.din), ot(&u.product_code), t(&p.coi), ot(&p.patient_id), t(&p.site_id),
                        t(&p.maker_id), t(&p.batch_id), t(&p.location), oi(p.range_min), oi(p.range_max),
                        t(&u.expires_on), t(&ev.time),
                    ],
                });
                ops.push(edge(
                    node("batch", &p.batch_id),
                    node("unit", &u.id),
                    "made",
                ));
            }
            ops
        }
        BATCH_RELEASED => {
            let p: BatchReleased = payload(ev)?;
            let mut ops = vec![
                Op {
                    sql: "UPDATE batches SET status = 'released', released_at = $2, released_by = $3 WHERE id = $1",
                    args: vec![t(&p.batch_id), t(&ev.time), t(&p.signature.user_id)],
                },
                edge(node("user", &p.signature.user_id), node("batch", &p.batch_id), "released_by"),
                signature_op(ev, "batch_release", &p.signature),
            ];
            for u in &p.unit_ids {
                ops.push(unit_status(u, "released", ev));
            }
            ops
        }
        UNIT_STORED => {
            let p: UnitStored = payload(ev)?;
            vec![Op {
                sql: "UPDATE units SET location = $2, updated_at = $3 WHERE id = $1",
                args: vec![t(&p.unit_id), t(&p.location), t(&ev.time)],
            }]
        }
        BEDSIDE_CHECKED => {
            let p: BedsideChecked = payload(ev)?;
            vec![Op {
                sql: "INSERT INTO bedside_checks (id, unit_id, patient_id, first_user, second_user, matched, mismatches, at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
                args: vec![
                    t(&p.id), t(&p.unit_id), t(&p.patient_id), t(&p.first_user), t(&p.second_user),
                    Val::Int(p.matched as i64), Val::Text(serde_json::to_string(&p.mismatches)?), t(&ev.time),
                ],
            }]
        }
        ADMINISTERED => {
            let p: Administered = payload(ev)?;
            vec![
                Op {
                    sql: "INSERT INTO administrations (unit_id, patient_id, check_id, by_user, at, note) VALUES ($1,$2,$3,$4,$5,$6)",
                    args: vec![t(&p.unit_id), t(&p.patient_id), t(&p.check_id), t(&ev.actor), t(&ev.time), t(&p.note)],
                },
                unit_status(&p.unit_id, "administered", ev),
                edge(node("unit", &p.unit_id), node("patient", &p.patient_id), "administered"),
                edge(node("user", &ev.actor), node("unit", &p.unit_id), "administered_by"),
            ]
        }
        UNIT_WASTED => {
            let p: UnitDisposed = payload(ev)?;
            vec![unit_status(&p.unit_id, "wasted", ev)]
        }
        UNIT_RETURNED => {
            let p: UnitDisposed = payload(ev)?;
            vec![unit_status(&p.unit_id, "returned", ev)]
        }
        HALTED => {
            let p: Halt = payload(ev)?;
            vec![
                Op {
                    sql: "DELETE FROM halts WHERE target_kind = $1 AND target_id = $2",
                    args: vec![t(&p.kind), t(&p.target_id)],
                },
                Op {
                    sql: "INSERT INTO halts (target_kind, target_id, active, org_id, halted_at, reason, lifted_at) VALUES ($1,$2,1,$3,$4,$5,NULL)",
                    args: vec![t(&p.kind), t(&p.target_id), t(&ev.org), t(&ev.time), t(&ev.reason)],
                },
                signature_op(ev, "halt", &p.signature),
            ]
        }
        HALT_LIFTED => {
            let p: Halt = payload(ev)?;
            vec![
                Op {
                    sql: "UPDATE halts SET active = 0, lifted_at = $3 WHERE target_kind = $1 AND target_id = $2",
                    args: vec![t(&p.kind), t(&p.target_id), t(&ev.time)],
                },
                signature_op(ev, "halt_lifted", &p.signature),
            ]
        }
        other => {
            return Err(StoreError::internal(
                "event_kind_unknown",
                other.to_string(),
            ));
        }
    };
    Ok(ops)
}

// ---------------------------------------------------------------- rows

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UnitRow {
    pub id: String,
    pub din: String,
    pub product_code: Option<String>,
    pub coi: String,
    pub kind: String,
    pub patient_id: Option<String>,
    pub site_id: String,
    pub maker_id: Option<String>,
    pub batch_id: Option<String>,
    pub status: String,
    pub custodian: Option<String>,
    pub in_transit: i64,
    pub location: Option<String>,
    pub range_min: Option<i64>,
    pub range_max: Option<i64>,
    pub expires_on: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl UnitRow {
    pub fn range(&self) -> Range {
        Range {
            min: self.range_min.map(|c| c as f64 / 100.0),
            max: self.range_max.map(|c| c as f64 / 100.0),
        }
    }
}

const UNIT_COLS: &str = "id, din, product_code, coi, kind, patient_id, site_id, maker_id, batch_id, status, custodian, in_transit, location, range_min, range_max, expires_on, created_at, updated_at";

pub async fn unit(store: &dyn Store, id: &str) -> StoreResult<Option<UnitRow>> {
    one(
        store,
        &format!("SELECT {UNIT_COLS} FROM units WHERE id = $1"),
        vec![t(id)],
    )
    .await
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BatchRow {
    pub id: String,
    pub org_id: String,
    pub process_id: String,
    pub technology_id: Option<String>,
    pub coi: Option<String>,
    pub patient_id: Option<String>,
    pub site_id: Option<String>,
    pub cell_bank_id: Option<String>,
    pub passage: i64,
    pub status: String,
    pub started_at: String,
    pub released_at: Option<String>,
    pub released_by: Option<String>,
}

pub async fn batch(store: &dyn Store, id: &str) -> StoreResult<Option<BatchRow>> {
    one(store, "SELECT id, org_id, process_id, technology_id, coi, patient_id, site_id, cell_bank_id, passage, status, started_at, released_at, released_by FROM batches WHERE id = $1", vec![t(id)]).await
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ProcessRow {
    pub id: String,
    pub org_id: String,
    pub technology_id: Option<String>,
    pub name: String,
    pub specs: String,
    pub defined_at: String,
}

impl ProcessRow {
    pub fn specs(&self) -> StoreResult<Vec<Spec>> {
        serde_json::from_str(&self.specs)
            .map_err(|e| StoreError::internal("read_model_invalid", e.to_string()))
    }
}

pub async fn process(store: &dyn Store, id: &str) -> StoreResult<Option<ProcessRow>> {
    one(
        store,
        "SELECT id, org_id, technology_id, name, specs, defined_at FROM processes WHERE id = $1",
        vec![t(id)],
    )
    .await
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BankRow {
    pub id: String,
    pub org_id: String,
    pub kind: String,
    pub parent_id: Option<String>,
    pub donor_id: Option<String>,
    pub cell_line: String,
    pub passage: i64,
    pub passage_limit: i64,
    pub vials: i64,
    pub created_at: String,
}

pub async fn bank(store: &dyn Store, id: &str) -> StoreResult<Option<BankRow>> {
    one(store, "SELECT id, org_id, kind, parent_id, donor_id, cell_line, passage, passage_limit, vials, created_at FROM cell_banks WHERE id = $1", vec![t(id)]).await
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LotRow {
    pub id: String,
    pub org_id: String,
    pub material: String,
    pub supplier: String,
    pub lot: String,
    pub expires_on: String,
    pub status: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EquipmentRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub kind: String,
    pub calibrated_until: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PersonRow {
    pub id: String,
    pub kind: String,
    pub institution_id: String,
    pub project_id: Option<String>,
    pub identity_sha256: String,
    pub registered_at: String,
}

pub async fn person(store: &dyn Store, id: &str) -> StoreResult<Option<PersonRow>> {
    one(store, "SELECT id, kind, institution_id, project_id, identity_sha256, registered_at FROM trace_people WHERE id = $1", vec![t(id)]).await
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ShipmentRow {
    pub id: String,
    pub from_org: String,
    pub to_org: String,
    pub shipper: String,
    pub courier: String,
    pub logger_id: Option<String>,
    pub dispatched_at: String,
    pub received_at: Option<String>,
    pub status: String,
    pub readings: i64,
    pub minutes_out: i64,
    pub log_sha256: Option<String>,
}

pub async fn shipment(store: &dyn Store, id: &str) -> StoreResult<Option<ShipmentRow>> {
    one(store, "SELECT id, from_org, to_org, shipper, courier, logger_id, dispatched_at, received_at, status, readings, minutes_out, log_sha256 FROM shipments WHERE id = $1", vec![t(id)]).await
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HandoffRow {
    pub unit_id: String,
    pub shipment_id: String,
    pub from_org: String,
    pub to_org: String,
    pub sent_by: String,
    pub sent_at: String,
    pub received_by: Option<String>,
    pub received_org: Option<String>,
    pub received_at: Option<String>,
    pub condition: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StepRow {
    pub batch_id: String,
    pub seq: i64,
    pub step: String,
    pub operator_id: String,
    pub equipment_id: Option<String>,
    pub lots: String,
    pub passages: i64,
    pub at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TestRow {
    pub batch_id: String,
    pub seq: i64,
    pub test: String,
    pub stage: String,
    pub value: String,
    pub unit: String,
    pub spec: String,
    pub verdict: String,
    pub analyst_id: String,
    pub at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DeviationRow {
    pub id: String,
    pub batch_id: String,
    pub test: String,
    pub value: String,
    pub opened_at: String,
    pub status: String,
    pub disposition: Option<String>,
    pub closed_at: Option<String>,
    pub note: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CheckRow {
    pub id: String,
    pub unit_id: String,
    pub patient_id: String,
    pub first_user: String,
    pub second_user: String,
    pub matched: i64,
    pub mismatches: String,
    pub at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AdministrationRow {
    pub unit_id: String,
    pub patient_id: String,
    pub check_id: String,
    pub by_user: String,
    pub at: String,
    pub note: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HaltRow {
    pub target_kind: String,
    pub target_id: String,
    pub active: i64,
    pub org_id: String,
    pub halted_at: String,
    pub reason: String,
    pub lifted_at: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ExcursionRow {
    pub shipment_id: String,
    pub start_at: String,
    pub end_at: String,
    pub minutes: i64,
    pub worst_c100: i64,
}

// ---------------------------------------------------------------- checks

/// Where an actor may look: its own organisation's records, a regulator's
/// province (or all, for a national one), everything for the platform.
pub(crate) async fn sees_any(store: &dyn Store, actor: &Actor, orgs: &[&str]) -> StoreResult<bool> {
    if actor.is_platform() || orgs.contains(&actor.org_id.as_str()) {
        return Ok(true);
    }
    if actor.org_type == OrgType::Regulator {
        for o in orgs {
            if let Some(org) = store.organisation(o).await? {
                if actor.has_jurisdiction(&org.province_code) {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// A unit the actor may see (else `unit_not_found`).
pub async fn visible_unit(store: &dyn Store, actor: &Actor, id: &str) -> StoreResult<UnitRow> {
    actor.require(Permission::TraceRead)?;
    let u = unit(store, id.trim())
        .await?
        .ok_or_else(|| StoreError::not_found("unit_not_found", id.to_string()))?;
    let mut orgs = vec![u.site_id.as_str()];
    if let Some(m) = &u.maker_id {
        orgs.push(m);
    }
    if let Some(c) = &u.custodian {
        orgs.push(c);
    }
    let batch_org = match &u.batch_id {
        Some(b) => batch(store, b).await?.map(|b| b.org_id),
        None => None,
    };
    if let Some(b) = &batch_org {
        orgs.push(b);
    }
    // Everyone the unit was shipped to or from has held it.
    let shipped: Vec<String> = store
        .select(
            "SELECT from_org, to_org FROM handoffs WHERE unit_id = $1",
            vec![t(&u.id)],
        )
        .await?
        .into_iter()
        .flat_map(|m| {
            m.into_iter()
                .filter_map(|(_, v)| v.as_str().map(String::from))
                .collect::<Vec<_>>()
        })
        .collect();
    orgs.extend(shipped.iter().map(String::as_str));
    if !sees_any(store, actor, &orgs).await? {
        return Err(StoreError::not_found("unit_not_found", id.to_string()));
    }
    Ok(u)
}

async fn own_batch(store: &dyn Store, actor: &Actor, id: &str) -> StoreResult<BatchRow> {
    let b = batch(store, id.trim())
        .await?
        .ok_or_else(|| StoreError::not_found("batch_not_found", id.to_string()))?;
    if b.org_id != actor.org_id && !actor.is_platform() {
        return Err(StoreError::not_found("batch_not_found", id.to_string()));
    }
    Ok(b)
}

/// Everything a batch depends on that can be halted.
async fn batch_targets(store: &dyn Store, b: &BatchRow) -> StoreResult<Vec<(String, String)>> {
    let mut out = vec![
        ("batch".to_string(), b.id.clone()),
        ("process".to_string(), b.process_id.clone()),
    ];
    if let Some(tid) = &b.technology_id {
        out.push(("technology".into(), tid.clone()));
    }
    let mut bank_id = b.cell_bank_id.clone();
    while let Some(id) = bank_id {
        out.push(("bank".into(), id.clone()));
        bank_id = bank(store, &id).await?.and_then(|k| k.parent_id);
    }
    for r in store
        .select(
            "SELECT lots FROM batch_steps WHERE batch_id = $1",
            vec![t(&b.id)],
        )
        .await?
    {
        if let Some(Value::String(l)) = r.get("lots") {
            for lot in l.split(',').filter(|x| !x.is_empty()) {
                out.push(("lot".into(), lot.to_string()));
            }
        }
    }
    Ok(out)
}

/// The halt record of one target (in force or lifted), if it ever had one.
async fn halt_of(store: &dyn Store, kind: &str, id: &str) -> StoreResult<Option<HaltRow>> {
    one(store, "SELECT target_kind, target_id, active, org_id, halted_at, reason, lifted_at FROM halts WHERE target_kind = $1 AND target_id = $2", vec![t(kind), t(id)]).await
}

/// Fails with `halted` when any of the targets is under an active halt.
async fn ensure_not_halted(store: &dyn Store, targets: &[(String, String)]) -> StoreResult<()> {
    for (kind, id) in targets {
        if let Some(h) = halt_of(store, kind, id).await?.filter(|h| h.active == 1) {
            return Err(StoreError::conflict(
                "halted",
                format!("{kind} {id} is halted: {}", h.reason),
            )
            .with_field(kind)
            .with_arg("kind", kind.clone())
            .with_arg("id", id.clone()));
        }
    }
    Ok(())
}

async fn unit_targets(store: &dyn Store, u: &UnitRow) -> StoreResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    if let Some(b) = &u.batch_id {
        if let Some(b) = batch(store, b).await? {
            out = batch_targets(store, &b).await?;
        }
    }
    if let Some(p) = one::<Map<String, Value>>(
        store,
        "SELECT project_id FROM collections WHERE unit_id = $1",
        vec![t(&u.id)],
    )
    .await?
    .and_then(|m| {
        m.get("project_id")
            .and_then(Value::as_str)
            .map(String::from)
    }) {
        out.push(("technology".into(), p));
    }
    Ok(out)
}

/// The unit, held by the actor's organisation and not in transit.
async fn held_unit(store: &dyn Store, actor: &Actor, id: &str) -> StoreResult<UnitRow> {
    let u = visible_unit(store, actor, id).await?;
    if u.in_transit != 0 {
        return Err(StoreError::conflict("unit_in_transit", u.id.clone()).with_field("unit_id"));
    }
    if u.custodian.as_deref() != Some(actor.org_id.as_str()) {
        return Err(StoreError::conflict(
            "unit_not_in_custody",
            format!(
                "{} is held by {}",
                u.id,
                u.custodian.clone().unwrap_or_default()
            ),
        )
        .with_field("unit_id"));
    }
    Ok(u)
}

fn c100(c: Option<f64>) -> Option<i64> {
    c.map(|v| (v * 100.0).round() as i64)
}

fn din_input(field: &str, din: &str) -> StoreResult<isbt::Din> {
    let compact: String = din.chars().filter(|c| !c.is_whitespace()).collect();
    let r = if compact.len() == 13 {
        isbt::Din::parse(&compact.to_ascii_uppercase())
    } else {
        isbt::validate(&compact).map(|v| v.din)
    };
    r.map_err(|e| {
        e.args().into_iter().fold(
            StoreError::invalid(e.code, field, compact.clone()),
            |err, (k, v)| err.with_arg(k, v),
        )
    })
}

fn product_code_input(field: &str, code: &Option<String>) -> StoreResult<Option<String>> {
    code.as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            isbt::product_code(c).map_err(|e| {
                e.args()
                    .into_iter()
                    .fold(StoreError::invalid(e.code, field, c), |err, (k, v)| {
                        err.with_arg(k, v)
                    })
            })
        })
        .transpose()
}

fn unit_id_of(din: &isbt::Din, product_code: &Option<String>) -> String {
    format!(
        "{}{}",
        din.as_string(),
        product_code.clone().unwrap_or_default()
    )
}

/// Appends a command's events, then reads back the record they changed
/// (`read` is lazy: it runs after the append). A projection that did not
/// write the record is an internal error.
pub(crate) async fn append_read<T>(
    store: &dyn Store,
    events: Vec<celltrail_ledger::NewEvent>,
    read: impl std::future::Future<Output = StoreResult<Option<T>>>,
    id: &str,
) -> StoreResult<T> {
    store.append(events).await?;
    read.await?
        .ok_or_else(|| StoreError::internal("projection_missing", id.to_string()))
}

// ---------------------------------------------------------------- people

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonInput {
    pub kind: String,
    #[serde(default)]
    pub project_id: Option<String>,
    /// Identifying data (name, identity document, birth date …), stored
    /// apart from the ledger.
    pub identity: Map<String, Value>,
    /// The hospital wristband code (record number) scanned at the bedside.
    pub wristband: String,
}

/// Registers a patient or donor under a pseudonym; the identity goes to the
/// separate table, the ledger gets its salted SHA-256.
pub async fn register_person(
    store: &dyn Store,
    actor: &Actor,
    input: &PersonInput,
    when: &When,
) -> StoreResult<PersonRow> {
    actor.require(Permission::TraceRecord)?;
    actor.require(Permission::IdentityRead)?;
    if actor.org_type != OrgType::MedicalInstitution {
        return Err(StoreError::forbidden(
            "person_institution_required",
            "patients and donors are registered by their medical institution",
        ));
    }
    let kind = input.kind.trim();
    if !PERSON_KINDS.contains(&kind) {
        return Err(StoreError::invalid("person_kind_invalid", "kind", kind));
    }
    let project_id = optional("project_id", &input.project_id, 64)?;
    if let Some(p) = &project_id {
        crate::service::visible_project(store, actor, p).await?;
    }
    let wristband = required("wristband", &input.wristband, 64)?;
    let data = serde_json::to_string(&input.identity)?;
    if input.identity.is_empty() || data.len() > 4000 {
        return Err(StoreError::invalid(
            "identity_invalid",
            "identity",
            "1–4000 bytes of JSON",
        ));
    }
    let id = new_id("pn");
    let salt = new_id("salt");
    let identity_sha256 = sha256_hex(format!("{salt}{data}").as_bytes());
    store.put_identity(&id, &salt, &data, &wristband).await?;
    let ev = actor.event(
        person_stream(&id),
        PERSON_REGISTERED,
        PersonRegistered {
            id: id.clone(),
            kind: kind.to_string(),
            institution_id: actor.org_id.clone(),
            project_id,
            identity_sha256,
        },
        when,
        "受者/供者登记（假名） / patient or donor registered under a pseudonym",
    )?;
    append_read(store, vec![ev], person(store, &id), &id).await
}

/// A person's identifying record: identity.read at their institution only.
pub async fn person_identity(store: &dyn Store, actor: &Actor, id: &str) -> StoreResult<Value> {
    actor.require(Permission::IdentityRead)?;
    let p = person(store, id)
        .await?
        .filter(|p| p.institution_id == actor.org_id)
        .ok_or_else(|| StoreError::not_found("person_not_found", id.to_string()))?;
    let (salt, data, wristband) = store
        .identity(&p.id)
        .await?
        .ok_or_else(|| StoreError::not_found("identity_missing", id.to_string()))?;
    let intact = sha256_hex(format!("{salt}{data}").as_bytes()) == p.identity_sha256;
    Ok(serde_json::json!({
        "person_id": p.id,
        "identity": serde_json::from_str::<Value>(&data)?,
        "wristband": wristband,
        "matches_ledger": intact,
    }))
}

// ---------------------------------------------------------------- collection

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectInput {
    pub donor_id: String,
    /// The recipient; the donor for autologous use when omitted.
    #[serde(default)]
    pub patient_id: Option<String>,
    pub din: String,
    #[serde(default)]
    pub product_code: Option<String>,
    pub kind: String,
    pub eligibility: String,
    #[serde(default)]
    pub project_id: Option<String>,
    /// Storage range of the collected material in °C (default 2–8 °C).
    #[serde(default)]
    pub range_min: Option<f64>,
    #[serde(default)]
    pub range_max: Option<f64>,
}

/// Records a collection at the actor's institution: the collection DIN with
/// its check character becomes the chain-of-identity identifier.
pub async fn collect(
    store: &dyn Store,
    actor: &Actor,
    input: &CollectInput,
    when: &When,
) -> StoreResult<UnitRow> {
    actor.require(Permission::TraceRecord)?;
    let donor = person(store, input.donor_id.trim())
        .await?
        .filter(|p| p.institution_id == actor.org_id)
        .ok_or_else(|| {
            StoreError::invalid("person_not_found", "donor_id", input.donor_id.clone())
        })?;
    let patient_id = match optional("patient_id", &input.patient_id, 64)? {
        None => Some(donor.id.clone()),
        Some(p) => Some(
            person(store, &p)
                .await?
                .filter(|r| r.institution_id == actor.org_id && r.kind == "patient")
                .ok_or_else(|| StoreError::invalid("person_not_found", "patient_id", p.clone()))?
                .id,
        ),
    };
    let kind: CollectionKind = parse_enum("kind", &input.kind, "collection_kind_invalid")?;
    let eligibility: Eligibility =
        parse_enum("eligibility", &input.eligibility, "eligibility_invalid")?;
    let autologous = patient_id.as_deref() == Some(donor.id.as_str());
    if eligibility == Eligibility::Ineligible
        || (eligibility == Eligibility::AutologousOnly && !autologous)
    {
        return Err(StoreError::invalid(
            "donor_not_eligible",
            "eligibility",
            eligibility.as_str(),
        ));
    }
    let din = din_input("din", &input.din)?;
    let product_code = product_code_input("product_code", &input.product_code)?;
    let unit_id = unit_id_of(&din, &product_code);
    if unit(store, &unit_id).await?.is_some() {
        return Err(StoreError::conflict("unit_exists", unit_id).with_field("din"));
    }
    let project_id = optional("project_id", &input.project_id, 64)?;
    if let Some(p) = &project_id {
        crate::service::visible_project(store, actor, p).await?;
        ensure_not_halted(store, &[("technology".into(), p.clone())]).await?;
    }
    let (range_min, range_max) = match (input.range_min, input.range_max) {
        (None, None) => (Some(2.0), Some(8.0)),
        r => r,
    };
    let coi = format!("{}{}", din.as_string(), din.check_char());
    let id = new_id("col");
    let ev = actor.event(
        format!("collection:{id}"),
        COLLECTED,
        Collected {
            id: id.clone(),
            coi,
            unit_id: unit_id.clone(),
            din: din.as_string(),
            product_code,
            donor_id: donor.id,
            patient_id,
            site_id: actor.org_id.clone(),
            project_id,
            kind: kind.as_str().into(),
            eligibility: eligibility.as_str().into(),
            range_min: c100(range_min),
            range_max: c100(range_max),
        },
        when,
        &format!("采集 {} / collection ({})", kind.as_str(), kind.as_str()),
    )?;
    append_read(store, vec![ev], unit(store, &unit_id), &unit_id).await
}

// ---------------------------------------------------------------- shipments

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchInput {
    pub to_org: String,
    pub shipper: String,
    pub courier: String,
    #[serde(default)]
    pub logger_id: Option<String>,
    pub unit_ids: Vec<String>,
}

/// The sender's half of a hand-off: units held here leave in one shipment.
/// Final product leaves only once released.
pub async fn dispatch(
    store: &dyn Store,
    actor: &Actor,
    input: &DispatchInput,
    when: &When,
) -> StoreResult<ShipmentRow> {
    actor.require(Permission::TraceRecord)?;
    let shipper: Shipper = parse_enum("shipper", &input.shipper, "shipper_invalid")?;
    let courier = required("courier", &input.courier, 100)?;
    let logger_id = optional("logger_id", &input.logger_id, 64)?;
    let to = store
        .organisation(input.to_org.trim())
        .await?
        .filter(|o| o.active)
        .ok_or_else(|| StoreError::invalid("org_not_found", "to_org", input.to_org.clone()))?;
    if to.id == actor.org_id {
        return Err(StoreError::invalid("shipment_to_self", "to_org", to.id));
    }
    if input.unit_ids.is_empty() || input.unit_ids.len() > 500 {
        return Err(StoreError::invalid(
            "field_required",
            "unit_ids",
            "1–500 units",
        ));
    }
    let mut ids = BTreeSet::new();
    for id in &input.unit_ids {
        let u = held_unit(store, actor, id).await?;
        let ok = match u.kind.as_str() {
            "collection" => u.status == "collected",
            _ => matches!(u.status.as_str(), "released" | "returned"),
        };
        if !ok {
            return Err(StoreError::conflict(
                "unit_not_shippable",
                format!("{} is {}", u.id, u.status),
            )
            .with_field("unit_ids")
            .with_arg("status", u.status.clone()));
        }
        ensure_not_halted(store, &unit_targets(store, &u).await?).await?;
        ids.insert(u.id);
    }
    let id = new_id("shp");
    let ev = actor.event(
        shipment_stream(&id),
        SHIPMENT_DISPATCHED,
        ShipmentDispatched {
            id: id.clone(),
            from_org: actor.org_id.clone(),
            to_org: to.id.clone(),
            shipper: shipper.as_str().into(),
            courier,
            logger_id,
            unit_ids: ids.into_iter().collect(),
        },
        when,
        &format!(
            "发运交接至 {} / handed off for shipment to {}",
            to.name_zh, to.name_en
        ),
    )?;
    append_read(store, vec![ev], shipment(store, &id), &id).await
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiveInput {
    /// `intact`, or what was wrong with the package.
    pub condition: String,
}

/// The receiver's half: the addressee acknowledges the whole shipment.
pub async fn receive(
    store: &dyn Store,
    actor: &Actor,
    shipment_id: &str,
    input: &ReceiveInput,
    when: &When,
) -> StoreResult<ShipmentRow> {
    actor.require(Permission::TraceRecord)?;
    let s = shipment(store, shipment_id)
        .await?
        .filter(|s| s.to_org == actor.org_id || s.from_org == actor.org_id || actor.is_platform())
        .ok_or_else(|| StoreError::not_found("shipment_not_found", shipment_id.to_string()))?;
    if s.to_org != actor.org_id {
        return Err(StoreError::forbidden(
            "receiver_mismatch",
            "only the addressee acknowledges receipt",
        ));
    }
    if s.status != "in_transit" {
        return Err(StoreError::conflict("shipment_received", s.id));
    }
    let condition = required("condition", &input.condition, 500)?;
    let units = shipment_unit_ids(store, &s.id).await?;
    let ev = actor.event(
        shipment_stream(&s.id),
        SHIPMENT_RECEIVED,
        ShipmentReceived {
            id: s.id.clone(),
            org: actor.org_id.clone(),
            unit_ids: units,
            condition,
        },
        when,
        "接收确认 / receipt acknowledged",
    )?;
    append_read(store, vec![ev], shipment(store, &s.id), &s.id).await
}

async fn shipment_unit_ids(store: &dyn Store, id: &str) -> StoreResult<Vec<String>> {
    Ok(store
        .select(
            "SELECT unit_id FROM shipment_units WHERE shipment_id = $1 ORDER BY unit_id",
            vec![t(id)],
        )
        .await?
        .into_iter()
        .filter_map(|m| m.get("unit_id").and_then(Value::as_str).map(String::from))
        .collect())
}

/// What an imported log found.
#[derive(Clone, Debug, Serialize)]
pub struct LogOutcome {
    pub readings: usize,
    pub range: Range,
    pub excursions: Vec<ExcursionRec>,
    pub minutes_out: i64,
    pub affected_units: Vec<String>,
}

/// Imports a data-logger CSV for a shipment, by its sender or receiver:
/// readings are checked against the strictest range of the units on board
/// (the shipper's range when units carry none); every excursion is listed
/// with its minutes out of range, and the units are put on hold.
pub async fn import_log(
    store: &dyn Store,
    actor: &Actor,
    shipment_id: &str,
    csv: &str,
    when: &When,
) -> StoreResult<LogOutcome> {
    actor.require(Permission::TraceRecord)?;
    let s = shipment(store, shipment_id)
        .await?
        .filter(|s| s.to_org == actor.org_id || s.from_org == actor.org_id || actor.is_platform())
        .ok_or_else(|| StoreError::not_found("shipment_not_found", shipment_id.to_string()))?;
    if s.log_sha256.is_some() {
        return Err(StoreError::conflict("log_already_imported", s.id));
    }
    if csv.len() > 8 * 1024 * 1024 {
        return Err(StoreError::invalid(
            "logger_too_large",
            "csv",
            "at most 8 MiB",
        ));
    }
    let readings = coldchain::parse_csv(csv).map_err(|e| {
        StoreError::invalid(e.code, "csv", format!("line {}", e.line))
            .with_arg("line", e.line.to_string())
    })?;
    let unit_ids = shipment_unit_ids(store, &s.id).await?;
    let mut range = Shipper::from_str(&s.shipper)
        .map(Shipper::range)
        .unwrap_or(Range::REFRIGERATED);
    let mut from_units: Option<Range> = None;
    let mut units = Vec::new();
    for id in &unit_ids {
        if let Some(u) = unit(store, id).await? {
            let r = u.range();
            if r.min.is_some() || r.max.is_some() {
                let acc = from_units.get_or_insert(r);
                acc.min = match (acc.min, r.min) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                acc.max = match (acc.max, r.max) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            units.push(u);
        }
    }
    if let Some(r) = from_units {
        range = r;
    }
    let (exc, minutes_out) = coldchain::excursions(&readings, range);
    let fmt = |t: NaiveDateTime| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let excursions: Vec<ExcursionRec> = exc
        .iter()
        .map(|e| ExcursionRec {
            start: fmt(e.start),
            end: fmt(e.end),
            minutes: e.minutes,
            worst_c100: (e.worst_celsius * 100.0).round() as i64,
        })
        .collect();
    let affected_units: Vec<String> = if excursions.is_empty() {
        Vec::new()
    } else {
        units
            .iter()
            .filter(|u| matches!(u.status.as_str(), "collected" | "released"))
            .map(|u| u.id.clone())
            .collect()
    };
    let sha = sha256_hex(csv.as_bytes());
    use base64::Engine as _;
    store
        .put_blob(
            &sha,
            "text/csv",
            &base64::engine::general_purpose::STANDARD.encode(csv.as_bytes()),
        )
        .await?;
    let p = LogImported {
        shipment_id: s.id.clone(),
        sha256: sha,
        range_min: c100(range.min),
        range_max: c100(range.max),
        readings: readings
            .iter()
            .map(|r| (fmt(r.time), (r.celsius * 100.0).round() as i64))
            .collect(),
        excursions: excursions.clone(),
        minutes_out,
        affected_units: affected_units.clone(),
    };
    let reason = if excursions.is_empty() {
        "温度记录导入，无偏离 / temperature log imported, in range".to_string()
    } else {
        format!("温度偏离 {minutes_out} 分钟，相关单位暂停使用 / temperature excursion of {minutes_out} min, units on hold")
    };
    let ev = actor.event(shipment_stream(&s.id), LOG_IMPORTED, p, when, &reason)?;
    store.append(vec![ev]).await?;
    Ok(LogOutcome {
        readings: readings.len(),
        range,
        excursions,
        minutes_out,
        affected_units,
    })
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssessInput {
    pub usable: bool,
    pub reason: String,
}

/// QA's decision on a unit on hold after an excursion: usable (back to its
/// status before) or not (wasted).
pub async fn assess_unit(
    store: &dyn Store,
    actor: &Actor,
    unit_id: &str,
    input: &AssessInput,
    when: &When,
) -> StoreResult<UnitRow> {
    actor.require(Permission::TraceQuality)?;
    let u = visible_unit(store, actor, unit_id).await?;
    let responsible = u.custodian.as_deref() == Some(actor.org_id.as_str())
        || u.maker_id.as_deref() == Some(actor.org_id.as_str());
    if !responsible {
        return Err(StoreError::forbidden(
            "unit_scope_denied",
            "the holder or maker assesses",
        ));
    }
    if u.status != "on_hold" {
        return Err(StoreError::conflict("unit_not_on_hold", u.id));
    }
    let reason = crate::service::check_reason(&input.reason)?;
    let status = match (input.usable, u.kind.as_str()) {
        (false, _) => "wasted",
        (true, "collection") => "collected",
        (true, _) => "released",
    };
    let ev = actor.event(
        unit_stream(&u.id),
        UNIT_ASSESSED,
        UnitAssessed {
            unit_id: u.id.clone(),
            usable: input.usable,
            status: status.into(),
        },
        when,
        &reason,
    )?;
    append_read(store, vec![ev], unit(store, &u.id), &u.id).await
}

// ---------------------------------------------------------------- master data

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessInput {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub technology_id: Option<String>,
    pub name: String,
    pub specs: Vec<Spec>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Defines (or revises) a manufacturing process with its specification.
pub async fn define_process(
    store: &dyn Store,
    actor: &Actor,
    input: &ProcessInput,
    when: &When,
) -> StoreResult<ProcessRow> {
    actor.require(Permission::TraceQuality)?;
    require_centre(actor)?;
    let name = required("name", &input.name, 200)?;
    let technology_id = optional("technology_id", &input.technology_id, 64)?;
    if let Some(t) = &technology_id {
        if store.project(t).await?.is_none() {
            return Err(StoreError::invalid(
                "project_not_found",
                "technology_id",
                t.clone(),
            ));
        }
    }
    if input.specs.is_empty() || input.specs.len() > 100 {
        return Err(StoreError::invalid("specs_invalid", "specs", "1–100 tests"));
    }
    let mut seen = BTreeSet::new();
    for (i, s) in input.specs.iter().enumerate() {
        let field = format!("specs[{i}]");
        if s.test.trim().is_empty() || s.test.len() > 64 {
            return Err(StoreError::invalid("specs_invalid", &field, "test"));
        }
        let _: Stage = parse_enum(&field, &s.stage, "test_stage_invalid")?;
        if !seen.insert((s.test.clone(), s.stage.clone())) {
            return Err(StoreError::invalid(
                "specs_duplicate",
                &field,
                s.test.clone(),
            ));
        }
        let ok = match &s.limit {
            Limit::AtLeast { min } => min.is_finite(),
            Limit::AtMost { max } | Limit::Below { max } => max.is_finite(),
            Limit::Between { min, max } => min.is_finite() && max.is_finite() && min <= max,
            Limit::OneOf { accepted } => !accepted.is_empty(),
        };
        if !ok {
            return Err(StoreError::invalid("specs_invalid", &field, "limit"));
        }
    }
    let id = match optional("id", &input.id, 64)? {
        // A new process under the caller's own code, or a revision of one
        // of the centre's own.
        Some(id) => match process(store, &id).await? {
            Some(p) if p.org_id != actor.org_id => {
                return Err(StoreError::not_found("process_not_found", id));
            }
            _ => id,
        },
        None => new_id("proc"),
    };
    let ev = actor.event(
        format!("process:{id}"),
        PROCESS_DEFINED,
        ProcessDefined {
            id: id.clone(),
            org_id: actor.org_id.clone(),
            technology_id,
            name,
            specs: input.specs.clone(),
        },
        when,
        &reason_text(
            input.reason.as_deref(),
            "工艺与质量标准 / process and specification defined",
        ),
    )?;
    append_read(store, vec![ev], process(store, &id), &id).await
}

fn require_centre(actor: &Actor) -> StoreResult<()> {
    if actor.org_type != OrgType::PreparationCentre && !actor.is_platform() {
        return Err(StoreError::forbidden(
            "preparation_centre_required",
            "manufacturing records belong to a cell preparation centre",
        ));
    }
    Ok(())
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EquipmentInput {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    pub kind: String,
    pub calibrated_until: String,
}

pub async fn register_equipment(
    store: &dyn Store,
    actor: &Actor,
    input: &EquipmentInput,
    when: &When,
) -> StoreResult<EquipmentRow> {
    actor.require(Permission::TraceRecord)?;
    require_centre(actor)?;
    let id = optional("id", &input.id, 64)?.unwrap_or_else(|| new_id("eq"));
    let p = EquipmentRegistered {
        id: id.clone(),
        org_id: actor.org_id.clone(),
        name: required("name", &input.name, 200)?,
        kind: required("kind", &input.kind, 64)?,
        calibrated_until: iso_date("calibrated_until", &input.calibrated_until)?.to_string(),
    };
    let ev = actor.event(
        format!("equipment:{id}"),
        EQUIPMENT_REGISTERED,
        &p,
        when,
        "设备登记/校准 / equipment registered or calibrated",
    )?;
    store.append(vec![ev]).await?;
    one(
        store,
        "SELECT id, org_id, name, kind, calibrated_until FROM equipment WHERE id = $1",
        vec![t(&id)],
    )
    .await?
    .ok_or_else(|| StoreError::internal("projection_missing", id))
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LotInput {
    #[serde(default)]
    pub id: Option<String>,
    pub material: String,
    pub supplier: String,
    pub lot: String,
    pub expires_on: String,
    /// `released` (usable), `quarantine`, `rejected`.
    pub status: String,
}

pub async fn register_lot(
    store: &dyn Store,
    actor: &Actor,
    input: &LotInput,
    when: &When,
) -> StoreResult<LotRow> {
    actor.require(Permission::TraceRecord)?;
    require_centre(actor)?;
    let status = input.status.trim();
    if !["released", "quarantine", "rejected"].contains(&status) {
        return Err(StoreError::invalid("lot_status_invalid", "status", status));
    }
    let id = optional("id", &input.id, 64)?.unwrap_or_else(|| new_id("lot"));
    let p = LotRegistered {
        id: id.clone(),
        org_id: actor.org_id.clone(),
        material: required("material", &input.material, 200)?,
        supplier: required("supplier", &input.supplier, 200)?,
        lot: required("lot", &input.lot, 64)?,
        expires_on: iso_date("expires_on", &input.expires_on)?.to_string(),
        status: status.into(),
    };
    let ev = actor.event(
        format!("lot:{id}"),
        LOT_REGISTERED,
        &p,
        when,
        "物料批次登记 / material lot registered",
    )?;
    append_read(store, vec![ev], lot(store, &id), &id).await
}

pub async fn lot(store: &dyn Store, id: &str) -> StoreResult<Option<LotRow>> {
    one(store, "SELECT id, org_id, material, supplier, lot, expires_on, status FROM material_lots WHERE id = $1", vec![t(id)]).await
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankInput {
    #[serde(default)]
    pub id: Option<String>,
    /// `master` or `working` (from a master bank).
    pub kind: String,
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default)]
    pub donor_id: Option<String>,
    pub cell_line: String,
    /// Passage at banking; a working bank adds its passages to the master's.
    pub passage: i64,
    pub passage_limit: i64,
    pub vials: i64,
}

/// Banks cells: a master bank from a donor or line, a working bank from a
/// master; a working bank's passage may not pass the master's limit.
pub async fn register_bank(
    store: &dyn Store,
    actor: &Actor,
    input: &BankInput,
    when: &When,
) -> StoreResult<BankRow> {
    actor.require(Permission::TraceQuality)?;
    require_centre(actor)?;
    let kind = input.kind.trim();
    if !["master", "working"].contains(&kind) {
        return Err(StoreError::invalid("bank_kind_invalid", "kind", kind));
    }
    if input.passage < 0 || input.passage_limit < 1 || input.vials < 1 || input.vials > 100_000 {
        return Err(StoreError::invalid(
            "bank_numbers_invalid",
            "passage",
            "passage ≥ 0, limit ≥ 1, vials 1–100000",
        ));
    }
    let parent_id = optional("parent_id", &input.parent_id, 64)?;
    let (passage, limit) = match (kind, &parent_id) {
        ("working", Some(pid)) => {
            let m = bank(store, pid)
                .await?
                .filter(|b| b.org_id == actor.org_id && b.kind == "master")
                .ok_or_else(|| StoreError::invalid("bank_not_found", "parent_id", pid.clone()))?;
            ensure_not_halted(store, &[("bank".into(), m.id.clone())]).await?;
            (
                m.passage + input.passage,
                m.passage_limit.min(input.passage_limit),
            )
        }
        ("working", None) => {
            return Err(StoreError::invalid(
                "field_required",
                "parent_id",
                "required",
            ))
        }
        _ => (input.passage, input.passage_limit),
    };
    if passage > limit {
        return Err(
            StoreError::invalid("passage_limit_exceeded", "passage", passage.to_string())
                .with_arg("limit", limit.to_string()),
        );
    }
    let donor_id = optional("donor_id", &input.donor_id, 64)?;
    let id = optional("id", &input.id, 64)?.unwrap_or_else(|| new_id("bank"));
    let p = BankRegistered {
        id: id.clone(),
        org_id: actor.org_id.clone(),
        kind: kind.into(),
        parent_id,
        donor_id,
        cell_line: required("cell_line", &input.cell_line, 200)?,
        passage,
        passage_limit: limit,
        vials: input.vials,
    };
    let ev = actor.event(
        format!("bank:{id}"),
        BANK_REGISTERED,
        &p,
        when,
        "细胞库建库 / cell bank established",
    )?;
    append_read(store, vec![ev], bank(store, &id), &id).await
}

// ---------------------------------------------------------------- batches

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchInput {
    pub process_id: String,
    /// Autologous: the collection units received here.
    #[serde(default)]
    pub input_units: Vec<String>,
    /// Allogeneic: one vial of a working (or master) bank.
    #[serde(default)]
    pub cell_bank_id: Option<String>,
    /// Allogeneic: the site the product is made for.
    #[serde(default)]
    pub site_id: Option<String>,
}

pub async fn start_batch(
    store: &dyn Store,
    actor: &Actor,
    input: &BatchInput,
    when: &When,
) -> StoreResult<BatchRow> {
    actor.require(Permission::TraceRecord)?;
    require_centre(actor)?;
    let proc = process(store, input.process_id.trim())
        .await?
        .filter(|p| p.org_id == actor.org_id)
        .ok_or_else(|| {
            StoreError::invalid("process_not_found", "process_id", input.process_id.clone())
        })?;
    let mut targets = vec![("process".to_string(), proc.id.clone())];
    if let Some(t) = &proc.technology_id {
        targets.push(("technology".into(), t.clone()));
    }
    let cell_bank_id = optional("cell_bank_id", &input.cell_bank_id, 64)?;
    let mut coi = None;
    let mut patient_id = None;
    let mut site_id = optional("site_id", &input.site_id, 64)?;
    let mut passage = 0;
    let mut inputs = BTreeSet::new();
    for id in &input.input_units {
        let u = held_unit(store, actor, id).await?;
        if u.kind != "collection" || u.status != "collected" {
            return Err(StoreError::conflict(
                "unit_not_usable",
                format!("{} is {}", u.id, u.status),
            )
            .with_field("input_units"));
        }
        if coi.as_ref().is_some_and(|c| c != &u.coi) {
            return Err(StoreError::invalid("coi_mixed", "input_units", u.id));
        }
        coi = Some(u.coi.clone());
        patient_id = u.patient_id.clone();
        site_id = Some(u.site_id.clone());
        targets.extend(unit_targets(store, &u).await?);
        inputs.insert(u.id);
    }
    if let Some(b) = &cell_bank_id {
        let k = bank(store, b)
            .await?
            .filter(|k| k.org_id == actor.org_id)
            .ok_or_else(|| StoreError::invalid("bank_not_found", "cell_bank_id", b.clone()))?;
        if k.vials < 1 {
            return Err(StoreError::conflict("bank_empty", k.id).with_field("cell_bank_id"));
        }
        passage = k.passage;
        let mut bid = Some(k.id.clone());
        while let Some(id) = bid {
            targets.push(("bank".into(), id.clone()));
            bid = bank(store, &id).await?.and_then(|x| x.parent_id);
        }
    }
    if inputs.is_empty() == cell_bank_id.is_none() {
        return Err(StoreError::invalid(
            "batch_input_invalid",
            "input_units",
            "collection units or one cell bank",
        ));
    }
    let site =
        site_id.ok_or_else(|| StoreError::invalid("field_required", "site_id", "required"))?;
    ensure_not_halted(store, &targets).await?;
    let id = new_id("bat");
    let coi = coi.unwrap_or_else(|| id.clone());
    let ev = actor.event(
        batch_stream(&id),
        BATCH_STARTED,
        BatchStarted {
            id: id.clone(),
            org_id: actor.org_id.clone(),
            process_id: proc.id.clone(),
            technology_id: proc.technology_id.clone(),
            coi: Some(coi),
            patient_id,
            site_id: Some(site),
            input_units: inputs.into_iter().collect(),
            cell_bank_id,
            passage,
        },
        when,
        &format!("批次开始：{} / batch started: {}", proc.name, proc.name),
    )?;
    append_read(store, vec![ev], batch(store, &id), &id).await
}

/// A batch the actor's centre makes, open for work (not halted, not on
/// hold, not finished).
async fn open_batch(store: &dyn Store, actor: &Actor, id: &str) -> StoreResult<BatchRow> {
    let b = own_batch(store, actor, id).await?;
    ensure_not_halted(store, &batch_targets(store, &b).await?).await?;
    match b.status.as_str() {
        "in_process" => Ok(b),
        "on_hold" => Err(StoreError::conflict("batch_on_hold", b.id)),
        _ => Err(StoreError::conflict("batch_closed", b.id.clone()).with_arg("status", b.status)),
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepInput {
    pub step: String,
    #[serde(default)]
    pub equipment_id: Option<String>,
    #[serde(default)]
    pub lots: Vec<String>,
    /// Passages this step adds (expansion).
    #[serde(default)]
    pub passages: i64,
}

/// A process step by the operator signed in: the equipment must be in
/// calibration, each material lot released, in date and not halted, and
/// the cells' passage within the bank's limit.
pub async fn record_step(
    store: &dyn Store,
    actor: &Actor,
    batch_id: &str,
    input: &StepInput,
    when: &When,
) -> StoreResult<Vec<StepRow>> {
    actor.require(Permission::TraceRecord)?;
    let b = open_batch(store, actor, batch_id).await?;
    let step = required("step", &input.step, 200)?;
    if !(0..=20).contains(&input.passages) {
        return Err(StoreError::invalid("passages_invalid", "passages", "0–20"));
    }
    let equipment_id = optional("equipment_id", &input.equipment_id, 64)?;
    if let Some(e) = &equipment_id {
        let eq: EquipmentRow = one(
            store,
            "SELECT id, org_id, name, kind, calibrated_until FROM equipment WHERE id = $1",
            vec![t(e)],
        )
        .await?
        .filter(|q: &EquipmentRow| q.org_id == actor.org_id)
        .ok_or_else(|| StoreError::invalid("equipment_not_found", "equipment_id", e.clone()))?;
        if eq.calibrated_until.as_str() < when.today.to_string().as_str() {
            return Err(StoreError::conflict("equipment_out_of_calibration", eq.id)
                .with_field("equipment_id")
                .with_arg("until", eq.calibrated_until));
        }
    }
    let mut lots = BTreeSet::new();
    for l in &input.lots {
        let r = lot(store, l.trim())
            .await?
            .filter(|r| r.org_id == actor.org_id)
            .ok_or_else(|| StoreError::invalid("lot_not_found", "lots", l.clone()))?;
        if r.status != "released" {
            return Err(StoreError::conflict("lot_not_released", r.id).with_field("lots"));
        }
        if r.expires_on.as_str() < when.today.to_string().as_str() {
            return Err(StoreError::conflict("lot_expired", r.id).with_field("lots"));
        }
        ensure_not_halted(store, &[("lot".into(), r.id.clone())]).await?;
        lots.insert(r.id);
    }
    if let Some(k) = &b.cell_bank_id {
        if let Some(k) = bank(store, k).await? {
            if b.passage + input.passages > k.passage_limit {
                return Err(StoreError::conflict(
                    "passage_limit_exceeded",
                    format!(
                        "passage {} > limit {}",
                        b.passage + input.passages,
                        k.passage_limit
                    ),
                )
                .with_field("passages")
                .with_arg("limit", k.passage_limit.to_string()));
            }
        }
    }
    let ev = actor.event(
        batch_stream(&b.id),
        STEP_RECORDED,
        StepRecorded {
            batch_id: b.id.clone(),
            step: step.clone(),
            operator_id: actor.user_id.clone(),
            equipment_id,
            lots: lots.into_iter().collect(),
            passages: input.passages,
        },
        when,
        &format!("工序：{step} / process step: {step}"),
    )?;
    store.append(vec![ev]).await?;
    steps(store, &b.id).await
}

pub async fn steps(store: &dyn Store, batch_id: &str) -> StoreResult<Vec<StepRow>> {
    rows(store.select("SELECT batch_id, seq, step, operator_id, equipment_id, lots, passages, at FROM batch_steps WHERE batch_id = $1 ORDER BY seq", vec![t(batch_id)]).await?)
}

pub async fn tests(store: &dyn Store, batch_id: &str) -> StoreResult<Vec<TestRow>> {
    rows(store.select("SELECT batch_id, seq, test, stage, value, unit, spec, verdict, analyst_id, at FROM qc_results WHERE batch_id = $1 ORDER BY seq", vec![t(batch_id)]).await?)
}

pub async fn deviations(store: &dyn Store, batch_id: &str) -> StoreResult<Vec<DeviationRow>> {
    rows(store.select("SELECT id, batch_id, test, value, opened_at, status, disposition, closed_at, note FROM deviations WHERE batch_id = $1 ORDER BY opened_at, id", vec![t(batch_id)]).await?)
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestInput {
    pub test: String,
    pub stage: String,
    pub value: String,
}

/// What a recorded result did.
#[derive(Clone, Debug, Serialize)]
pub struct TestOutcome {
    pub verdict: Verdict,
    pub spec: String,
    pub deviation_id: Option<String>,
}

/// A test result against the process specification; out of specification
/// opens a deviation and puts the batch on hold, in the same append.
pub async fn record_test(
    store: &dyn Store,
    actor: &Actor,
    batch_id: &str,
    input: &TestInput,
    when: &When,
) -> StoreResult<TestOutcome> {
    actor.require(Permission::TraceQuality)?;
    let b = open_batch(store, actor, batch_id).await?;
    let stage: Stage = parse_enum("stage", &input.stage, "test_stage_invalid")?;
    let proc = process(store, &b.process_id)
        .await?
        .ok_or_else(|| StoreError::internal("process_missing", b.process_id.clone()))?;
    let specs = proc.specs()?;
    let spec = specs
        .iter()
        .find(|s| s.test == input.test.trim() && s.stage == stage.as_str())
        .ok_or_else(|| StoreError::invalid("test_not_in_spec", "test", input.test.clone()))?;
    let value = input.value.trim().to_string();
    let verdict = tr::evaluate(&spec.limit, &value)
        .map_err(|e| StoreError::invalid(e.code, "value", value.clone()))?;
    let mut batch_events = vec![actor.event(
        batch_stream(&b.id),
        TEST_RECORDED,
        TestRecorded {
            batch_id: b.id.clone(),
            test: spec.test.clone(),
            stage: stage.as_str().into(),
            value: value.clone(),
            unit: spec.unit.clone(),
            spec: spec.limit.display(),
            verdict: verdict.as_str().into(),
        },
        when,
        &format!("检验结果 {} / test result {}", spec.test, spec.test),
    )?];
    let mut deviation_id = None;
    if verdict == Verdict::Fail {
        let id = new_id("dev");
        batch_events.push(actor.event(
            batch_stream(&b.id),
            DEVIATION_OPENED,
            DeviationOpened {
                id: id.clone(),
                batch_id: b.id.clone(),
                test: spec.test.clone(),
                value,
            },
            when,
            &format!(
                "检验不合格（{}），批次暂停 / out of specification ({}), batch on hold",
                spec.limit.display(),
                spec.limit.display()
            ),
        )?);
        deviation_id = Some(id);
    }
    store.append(batch_events).await?;
    Ok(TestOutcome {
        verdict,
        spec: spec.limit.display(),
        deviation_id,
    })
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseDeviationInput {
    /// `continue` (investigated: e.g. a laboratory error, a valid retest
    /// follows) or `reject` (the batch is rejected).
    pub disposition: String,
    pub note: String,
}

pub async fn close_deviation(
    store: &dyn Store,
    actor: &Actor,
    deviation_id: &str,
    input: &CloseDeviationInput,
    when: &When,
) -> StoreResult<BatchRow> {
    actor.require(Permission::TraceQuality)?;
    let d: DeviationRow = one(store, "SELECT id, batch_id, test, value, opened_at, status, disposition, closed_at, note FROM deviations WHERE id = $1", vec![t(deviation_id.trim())])
        .await?
        .ok_or_else(|| StoreError::not_found("deviation_not_found", deviation_id.to_string()))?;
    let b = own_batch(store, actor, &d.batch_id).await?;
    if d.status != "open" {
        return Err(StoreError::conflict("deviation_closed", d.id));
    }
    let disposition = input.disposition.trim();
    if !["continue", "reject"].contains(&disposition) {
        return Err(StoreError::invalid(
            "disposition_invalid",
            "disposition",
            disposition,
        ));
    }
    let note = crate::service::check_reason(&input.note).map_err(|e| e.with_field("note"))?;
    let others_open = deviations(store, &b.id)
        .await?
        .iter()
        .any(|x| x.status == "open" && x.id != d.id);
    let batch_status = match (disposition, others_open) {
        ("reject", _) => "rejected",
        (_, true) => "on_hold",
        _ => "in_process",
    };
    let ev = actor.event(
        batch_stream(&b.id),
        DEVIATION_CLOSED,
        DeviationClosed {
            id: d.id.clone(),
            batch_id: b.id.clone(),
            disposition: disposition.into(),
            note: note.clone(),
            batch_status: batch_status.into(),
        },
        when,
        &note,
    )?;
    append_read(store, vec![ev], batch(store, &b.id), &b.id).await
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MadeInput {
    pub din: String,
    #[serde(default)]
    pub product_code: Option<String>,
    pub expires_on: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MakeUnitsInput {
    pub units: Vec<MadeInput>,
    /// Cryostorage location (tank / rack / box / position).
    pub location: String,
    #[serde(default)]
    pub range_min: Option<f64>,
    #[serde(default)]
    pub range_max: Option<f64>,
}

/// Fills the final product into labelled units, in quarantine until the
/// QP releases the batch. Default range: vapour-phase LN2 (≤ −150 °C).
pub async fn make_units(
    store: &dyn Store,
    actor: &Actor,
    batch_id: &str,
    input: &MakeUnitsInput,
    when: &When,
) -> StoreResult<Vec<UnitRow>> {
    actor.require(Permission::TraceRecord)?;
    let b = open_batch(store, actor, batch_id).await?;
    if input.units.is_empty() || input.units.len() > 200 {
        return Err(StoreError::invalid(
            "field_required",
            "units",
            "1–200 units",
        ));
    }
    let mut made = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, m) in input.units.iter().enumerate() {
        let din = din_input(&format!("units[{i}].din"), &m.din)?;
        let pc = product_code_input(&format!("units[{i}].product_code"), &m.product_code)?;
        let id = unit_id_of(&din, &pc);
        if !ids.insert(id.clone()) || unit(store, &id).await?.is_some() {
            return Err(
                StoreError::conflict("unit_exists", id).with_field(&format!("units[{i}].din"))
            );
        }
        made.push(MadeUnit {
            id,
            din: din.as_string(),
            product_code: pc,
            expires_on: iso_date(&format!("units[{i}].expires_on"), &m.expires_on)?.to_string(),
        });
    }
    let (rmin, rmax) = match (input.range_min, input.range_max) {
        (None, None) => (Range::LN2_VAPOUR.min, Range::LN2_VAPOUR.max),
        r => r,
    };
    let location = required("location", &input.location, 200)?;
    let ev = actor.event(
        batch_stream(&b.id),
        UNITS_MADE,
        UnitsMade {
            batch_id: b.id.clone(),
            maker_id: actor.org_id.clone(),
            coi: b.coi.clone().unwrap_or_else(|| b.id.clone()),
            patient_id: b.patient_id.clone(),
            site_id: b.site_id.clone().unwrap_or_default(),
            range_min: c100(rmin),
            range_max: c100(rmax),
            location,
            units: made.clone(),
        },
        when,
        "成品分装、贴签、待放行 / final product filled and labelled, in quarantine",
    )?;
    store.append(vec![ev]).await?;
    batch_units(store, &b.id).await
}

pub async fn batch_units(store: &dyn Store, batch_id: &str) -> StoreResult<Vec<UnitRow>> {
    rows(
        store
            .select(
                &format!("SELECT {UNIT_COLS} FROM units WHERE batch_id = $1 AND kind = 'final' ORDER BY id"),
                vec![t(batch_id)],
            )
            .await?,
    )
}

/// What still stands in the way of release (empty when the QP may sign).
pub async fn release_blockers(store: &dyn Store, b: &BatchRow) -> StoreResult<Vec<String>> {
    let mut out = Vec::new();
    if b.status != "in_process" {
        out.push(format!("status:{}", b.status));
    }
    if deviations(store, &b.id)
        .await?
        .iter()
        .any(|d| d.status == "open")
    {
        out.push("deviation_open".into());
    }
    let proc = process(store, &b.process_id)
        .await?
        .ok_or_else(|| StoreError::internal("process_missing", b.process_id.clone()))?;
    let results = tests(store, &b.id).await?;
    for s in proc.specs()?.iter().filter(|s| s.stage == "release") {
        let latest = results
            .iter()
            .rev()
            .find(|r| r.test == s.test && r.stage == "release");
        match latest {
            None => out.push(format!("missing:{}", s.test)),
            Some(r) if r.verdict != "pass" => out.push(format!("failed:{}", s.test)),
            Some(_) => {}
        }
    }
    if batch_units(store, &b.id).await?.is_empty() {
        out.push("no_units".into());
    }
    Ok(out)
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseInput {
    pub signature: Option<SignInput>,
}

/// The qualified person (质量受权人) releases the batch with an electronic
/// signature: every release test passed on its latest result, no open
/// deviation, nothing halted.
pub async fn release_batch(
    store: &dyn Store,
    actor: &Actor,
    batch_id: &str,
    input: &ReleaseInput,
    when: &When,
) -> StoreResult<BatchRow> {
    actor.require(Permission::TraceRelease)?;
    let b = own_batch(store, actor, batch_id).await?;
    ensure_not_halted(store, &batch_targets(store, &b).await?).await?;
    let blockers = release_blockers(store, &b).await?;
    if !blockers.is_empty() {
        return Err(StoreError::conflict("release_blocked", blockers.join(", "))
            .with_arg("blockers", blockers.join(", ")));
    }
    let stream = batch_stream(&b.id);
    let signature = check_signature(
        store,
        actor,
        &stream,
        "batch_release",
        SignatureMeaning::Approved,
        input.signature.as_ref(),
        when,
    )
    .await?;
    let unit_ids = batch_units(store, &b.id)
        .await?
        .into_iter()
        .filter(|u| u.status == "quarantine")
        .map(|u| u.id)
        .collect();
    let ev = actor.event(
        stream,
        BATCH_RELEASED,
        BatchReleased {
            batch_id: b.id.clone(),
            unit_ids,
            signature,
        },
        when,
        "质量受权人放行 / released by the qualified person",
    )?;
    append_read(store, vec![ev], batch(store, &b.id), &b.id).await
}

/// Moves a unit to a cryostorage location (tank / rack / box / position).
pub async fn store_unit(
    store: &dyn Store,
    actor: &Actor,
    unit_id: &str,
    location: &str,
    when: &When,
) -> StoreResult<UnitRow> {
    actor.require(Permission::TraceRecord)?;
    let u = held_unit(store, actor, unit_id).await?;
    let location = required("location", location, 200)?;
    let ev = actor.event(
        unit_stream(&u.id),
        UNIT_STORED,
        UnitStored {
            unit_id: u.id.clone(),
            location: location.clone(),
        },
        when,
        &format!("存放位置：{location} / stored at {location}"),
    )?;
    append_read(store, vec![ev], unit(store, &u.id), &u.id).await
}

// ---------------------------------------------------------------- bedside

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondPerson {
    pub username: String,
    pub password: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BedsideInput {
    pub scans: Scans,
    pub second: SecondPerson,
}

/// The second person at the bedside re-enters their credentials; they must
/// be another active user of the same institution allowed to record.
async fn second_person(store: &dyn Store, actor: &Actor, s: &SecondPerson) -> StoreResult<Actor> {
    let name = s.username.trim().to_lowercase();
    if name.is_empty() {
        return Err(StoreError::invalid(
            "second_person_required",
            "second.username",
            "required",
        ));
    }
    if name == actor.username {
        return Err(StoreError::invalid(
            "second_person_same",
            "second.username",
            "two different people verify",
        ));
    }
    let invalid = || {
        StoreError::unauthenticated("second_person_invalid", "user name or password")
            .with_field("second.password")
    };
    let user = store.user_by_username(&name).await?.ok_or_else(invalid)?;
    let hash = store.password_hash(&user.id).await?.ok_or_else(invalid)?;
    if !verify_password(&hash, &s.password) {
        return Err(invalid());
    }
    let other = crate::service::load_actor(store, &user.id).await?;
    if other.org_id != actor.org_id || !other.can(Permission::TraceRecord) {
        return Err(StoreError::forbidden(
            "second_person_not_permitted",
            "the second person must be qualified staff of this institution",
        )
        .with_field("second.username"));
    }
    Ok(other)
}

/// The bedside check's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct BedsideOutcome {
    pub check_id: String,
    pub matched: bool,
    pub mismatches: Vec<MismatchRec>,
}

/// Two people scan the patient's wristband, the chain-of-identity label and
/// the bag. The check is recorded whatever it finds — a mismatch is part of
/// the record — and only a match opens administration.
pub async fn bedside_check(
    store: &dyn Store,
    actor: &Actor,
    unit_id: &str,
    input: &BedsideInput,
    when: &When,
) -> StoreResult<BedsideOutcome> {
    actor.require(Permission::TraceRecord)?;
    actor.require(Permission::IdentityRead)?;
    let u = held_unit(store, actor, unit_id).await?;
    let second = second_person(store, actor, &input.second).await?;
    let patient = u
        .patient_id
        .clone()
        .ok_or_else(|| StoreError::conflict("unit_without_patient", u.id.clone()))?;
    let (_, _, wristband) = store
        .identity(&patient)
        .await?
        .ok_or_else(|| StoreError::conflict("identity_missing", patient.clone()))?;
    let coi = u.coi.clone();
    let mismatches: Vec<MismatchRec> = tr::bedside_check(
        &Expected {
            wristband,
            coi,
            din: u.din.clone(),
        },
        &input.scans,
    )
    .into_iter()
    .map(|m| MismatchRec {
        field: m.field.into(),
        code: m.code.into(),
    })
    .collect();
    let matched = mismatches.is_empty();
    let id = new_id("chk");
    let cut = |s: &str| s.trim().chars().take(64).collect::<String>();
    let ev = actor.event(
        unit_stream(&u.id),
        BEDSIDE_CHECKED,
        BedsideChecked {
            id: id.clone(),
            unit_id: u.id.clone(),
            patient_id: patient,
            first_user: actor.user_id.clone(),
            second_user: second.user_id.clone(),
            matched,
            mismatches: mismatches.clone(),
            scanned_coi: cut(&input.scans.coi),
            scanned_bag: cut(&input.scans.bag),
        },
        when,
        if matched {
            "床旁双人核对一致 / bedside two-person check matched"
        } else {
            "床旁核对不一致，禁止输注 / bedside check mismatch, administration blocked"
        },
    )?;
    store.append(vec![ev]).await?;
    Ok(BedsideOutcome {
        check_id: id,
        matched,
        mismatches,
    })
}

pub async fn checks(store: &dyn Store, unit_id: &str) -> StoreResult<Vec<CheckRow>> {
    rows(store.select("SELECT id, unit_id, patient_id, first_user, second_user, matched, mismatches, at FROM bedside_checks WHERE unit_id = $1 ORDER BY at, id", vec![t(unit_id)]).await?)
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdministerInput {
    pub check_id: String,
    #[serde(default)]
    pub note: String,
}

fn ledger_time(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f").ok()
}

/// Records the infusion: the unit is released, held here, in date, not
/// halted, and its latest bedside check is the one named, matched, and at
/// most [`BEDSIDE_WINDOW_MINUTES`] old.
pub async fn administer(
    store: &dyn Store,
    actor: &Actor,
    unit_id: &str,
    input: &AdministerInput,
    when: &When,
) -> StoreResult<UnitRow> {
    actor.require(Permission::TraceRecord)?;
    let u = held_unit(store, actor, unit_id).await?;
    if u.status != "released" {
        return Err(StoreError::conflict("unit_not_released", u.id.clone())
            .with_arg("status", u.status.clone()));
    }
    if u.expires_on
        .as_deref()
        .is_some_and(|e| e < when.today.to_string().as_str())
    {
        return Err(StoreError::conflict("unit_expired", u.id.clone()));
    }
    ensure_not_halted(store, &unit_targets(store, &u).await?).await?;
    let all = checks(store, &u.id).await?;
    let last = all.last().ok_or_else(|| {
        StoreError::conflict("bedside_check_required", u.id.clone()).with_field("check_id")
    })?;
    if last.id != input.check_id.trim() || last.matched == 0 {
        return Err(
            StoreError::conflict("bedside_check_required", u.id.clone()).with_field("check_id")
        );
    }
    let (Some(at), Some(now)) = (ledger_time(&last.at), ledger_time(&when.now)) else {
        return Err(StoreError::internal("time_invalid", last.at.clone()));
    };
    if (now - at).num_minutes() > BEDSIDE_WINDOW_MINUTES || now < at {
        return Err(StoreError::conflict("bedside_check_stale", u.id.clone())
            .with_field("check_id")
            .with_arg("minutes", BEDSIDE_WINDOW_MINUTES.to_string()));
    }
    let ev = actor.event(
        unit_stream(&u.id),
        ADMINISTERED,
        Administered {
            unit_id: u.id.clone(),
            patient_id: last.patient_id.clone(),
            check_id: last.id.clone(),
            note: input.note.trim().chars().take(2000).collect(),
        },
        when,
        "输注 / administered",
    )?;
    append_read(store, vec![ev], unit(store, &u.id), &u.id).await
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisposeInput {
    pub reason_code: String,
    pub reason: String,
}

/// Wastage (`wasted`) or a return to the maker (`returned`, then shipped
/// back) of a unit held here that was not administered.
pub async fn dispose(
    store: &dyn Store,
    actor: &Actor,
    unit_id: &str,
    returned: bool,
    input: &DisposeInput,
    when: &When,
) -> StoreResult<UnitRow> {
    actor.require(Permission::TraceRecord)?;
    let u = held_unit(store, actor, unit_id).await?;
    if matches!(u.status.as_str(), "administered" | "wasted" | "consumed") {
        return Err(
            StoreError::conflict("unit_closed", u.id.clone()).with_arg("status", u.status.clone())
        );
    }
    let code = input.reason_code.trim();
    if !WASTE_REASONS.contains(&code) {
        return Err(StoreError::invalid(
            "waste_reason_invalid",
            "reason_code",
            code,
        ));
    }
    let reason = crate::service::check_reason(&input.reason)?;
    let ev = actor.event(
        unit_stream(&u.id),
        if returned { UNIT_RETURNED } else { UNIT_WASTED },
        UnitDisposed {
            unit_id: u.id.clone(),
            reason_code: code.into(),
        },
        when,
        &reason,
    )?;
    append_read(store, vec![ev], unit(store, &u.id), &u.id).await
}

// ---------------------------------------------------------------- halt

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaltInput {
    pub kind: String,
    pub target_id: String,
    pub reason: String,
    pub signature: Option<SignInput>,
}

/// Halts (叫停) or lifts a halt on (放行) a batch, a cell bank, a process,
/// a material lot or a whole technology. QA halts its own centre's records;
/// a regulator halts within its jurisdiction, technologies included. Both
/// directions are signed ledger events on the target's own stream.
pub async fn set_halt(
    store: &dyn Store,
    actor: &Actor,
    input: &HaltInput,
    halt: bool,
    when: &When,
) -> StoreResult<HaltRow> {
    actor.require(Permission::TraceHalt)?;
    let kind = input.kind.trim();
    if !HALT_KINDS.contains(&kind) {
        return Err(StoreError::invalid("halt_kind_invalid", "kind", kind));
    }
    let id = input.target_id.trim().to_string();
    let owner: Option<String> = match kind {
        "batch" => batch(store, &id).await?.map(|b| b.org_id),
        "bank" => bank(store, &id).await?.map(|b| b.org_id),
        "process" => process(store, &id).await?.map(|p| p.org_id),
        "lot" => lot(store, &id).await?.map(|l| l.org_id),
        _ => store.project(&id).await?.map(|p| p.org_id),
    };
    let owner = owner.ok_or_else(|| {
        StoreError::not_found("halt_target_not_found", id.clone()).with_field("target_id")
    })?;
    let allowed = match actor.org_type {
        OrgType::Regulator | OrgType::Platform => sees_any(store, actor, &[owner.as_str()]).await?,
        _ => kind != "technology" && owner == actor.org_id,
    };
    if !allowed {
        return Err(StoreError::forbidden(
            "halt_scope_denied",
            "outside the actor's remit",
        ));
    }
    let reason = crate::service::check_reason(&input.reason)?;
    let active = halt_of(store, kind, &id).await?;
    let is_active = active.as_ref().is_some_and(|h| h.active == 1);
    if halt && is_active {
        return Err(StoreError::conflict("already_halted", id));
    }
    if !halt && !is_active {
        return Err(StoreError::conflict("not_halted", id));
    }
    let stream = target_stream(kind, &id);
    let signature = check_signature(
        store,
        actor,
        &stream,
        if halt { "halt" } else { "halt_lifted" },
        SignatureMeaning::Responsible,
        input.signature.as_ref(),
        when,
    )
    .await?;
    let ev = actor.event(
        stream,
        if halt { HALTED } else { HALT_LIFTED },
        Halt {
            kind: kind.into(),
            target_id: id.clone(),
            signature,
        },
        when,
        &reason,
    )?;
    append_read(store, vec![ev], halt_of(store, kind, &id), &id).await
}

pub async fn halts(store: &dyn Store, actor: &Actor) -> StoreResult<Vec<HaltRow>> {
    actor.require(Permission::TraceRead)?;
    let all: Vec<HaltRow> = rows(store.select("SELECT target_kind, target_id, active, org_id, halted_at, reason, lifted_at FROM halts ORDER BY halted_at DESC", vec![]).await?)?;
    if actor.is_platform() || actor.org_type == OrgType::Regulator {
        return Ok(all);
    }
    Ok(all
        .into_iter()
        .filter(|h| h.org_id == actor.org_id || h.active == 1)
        .collect())
}

// ---------------------------------------------------------------- reads

/// Everything about one chain of identity, from collection to bedside.
#[derive(Clone, Debug, Serialize)]
pub struct ChainView {
    pub coi: String,
    pub units: Vec<UnitRow>,
    pub handoffs: Vec<HandoffRow>,
    pub shipments: Vec<ShipmentRow>,
    pub excursions: Vec<ExcursionRow>,
    pub batches: Vec<BatchRow>,
    pub steps: Vec<StepRow>,
    pub tests: Vec<TestRow>,
    pub deviations: Vec<DeviationRow>,
    pub checks: Vec<CheckRow>,
    pub administrations: Vec<AdministrationRow>,
    pub gaps: Vec<UnitGap>,
    pub halts: Vec<HaltRow>,
}

#[derive(Clone, Debug, Serialize)]
pub struct UnitGap {
    pub unit_id: String,
    pub code: String,
    pub shipment_id: String,
    pub hours: i64,
}

fn handoff_of(h: &HandoffRow) -> Option<tr::Handoff> {
    Some(tr::Handoff {
        from: h.from_org.clone(),
        to: h.to_org.clone(),
        sent_at: ledger_time(&h.sent_at)?,
        received_at: h.received_at.as_deref().and_then(ledger_time),
        received_by_org: h.received_org.clone(),
    })
}

/// The custody gaps of units from their hand-offs (in the order sent).
fn gaps_of(
    units: &[UnitRow],
    handoffs: &[HandoffRow],
    now: NaiveDateTime,
    origin_of: &dyn Fn(&UnitRow) -> String,
) -> Vec<UnitGap> {
    let mut by_unit: BTreeMap<&str, Vec<&HandoffRow>> = BTreeMap::new();
    for h in handoffs {
        by_unit.entry(h.unit_id.as_str()).or_default().push(h);
    }
    let mut out = Vec::new();
    for u in units {
        let Some(hs) = by_unit.get(u.id.as_str()) else {
            continue;
        };
        let chain: Vec<tr::Handoff> = hs.iter().filter_map(|h| handoff_of(h)).collect();
        for g in tr::custody_gaps(&origin_of(u), &chain, now, MAX_TRANSIT_HOURS) {
            out.push(UnitGap {
                unit_id: u.id.clone(),
                code: g.code.into(),
                shipment_id: hs
                    .get(g.handoff)
                    .map(|h| h.shipment_id.clone())
                    .unwrap_or_default(),
                hours: g.hours,
            });
        }
    }
    out
}

fn origin(u: &UnitRow) -> String {
    match u.kind.as_str() {
        "collection" => u.site_id.clone(),
        _ => u.maker_id.clone().unwrap_or_default(),
    }
}

fn in_list(col: &str, n: usize, start: usize) -> String {
    let params: Vec<String> = (0..n).map(|i| format!("${}", start + i)).collect();
    format!(
        "{col} IN ({})",
        if params.is_empty() {
            "NULL".to_string()
        } else {
            params.join(",")
        }
    )
}

/// The whole chain of one chain-of-identity identifier (collection DIN with
/// its check character, or a batch id for allogeneic product).
pub async fn chain(
    store: &dyn Store,
    actor: &Actor,
    coi: &str,
    when: &When,
) -> StoreResult<ChainView> {
    actor.require(Permission::TraceRead)?;
    let coi = coi.trim().to_ascii_uppercase();
    let units: Vec<UnitRow> = rows(
        store
            .select(
                &format!("SELECT {UNIT_COLS} FROM units WHERE coi = $1 ORDER BY created_at, id"),
                vec![t(&coi)],
            )
            .await?,
    )?;
    let mut orgs: Vec<String> = Vec::new();
    for u in &units {
        orgs.push(u.site_id.clone());
        orgs.extend(u.maker_id.clone());
        orgs.extend(u.custodian.clone());
    }
    let org_refs: Vec<&str> = orgs.iter().map(String::as_str).collect();
    if units.is_empty() || !sees_any(store, actor, &org_refs).await? {
        return Err(StoreError::not_found("chain_not_found", coi));
    }
    let ids: Vec<Val> = units.iter().map(|u| t(&u.id)).collect();
    let handoffs: Vec<HandoffRow> = rows(
        store
            .select(
                &format!("SELECT unit_id, shipment_id, from_org, to_org, sent_by, sent_at, received_by, received_org, received_at, condition FROM handoffs WHERE {} ORDER BY sent_at, unit_id", in_list("unit_id", ids.len(), 1)),
                ids.clone(),
            )
            .await?,
    )?;
    let ship_ids: BTreeSet<String> = handoffs.iter().map(|h| h.shipment_id.clone()).collect();
    let sv: Vec<Val> = ship_ids.iter().map(|s| t(s)).collect();
    let shipments: Vec<ShipmentRow> = rows(store.select(&format!("SELECT id, from_org, to_org, shipper, courier, logger_id, dispatched_at, received_at, status, readings, minutes_out, log_sha256 FROM shipments WHERE {} ORDER BY dispatched_at", in_list("id", sv.len(), 1)), sv.clone()).await?)?;
    let excursions: Vec<ExcursionRow> = rows(store.select(&format!("SELECT shipment_id, start_at, end_at, minutes, worst_c100 FROM excursions WHERE {} ORDER BY start_at", in_list("shipment_id", sv.len(), 1)), sv).await?)?;
    let batch_ids: BTreeSet<String> = units.iter().filter_map(|u| u.batch_id.clone()).collect();
    let mut batches = Vec::new();
    let (mut st, mut te, mut de) = (Vec::new(), Vec::new(), Vec::new());
    let mut halts_all = Vec::new();
    for b in &batch_ids {
        if let Some(row) = batch(store, b).await? {
            for (k, id) in batch_targets(store, &row).await? {
                if let Some(h) = halt_of(store, &k, &id).await? {
                    if !halts_all.contains(&h) {
                        halts_all.push(h);
                    }
                }
            }
            batches.push(row);
        }
        st.extend(steps(store, b).await?);
        te.extend(tests(store, b).await?);
        de.extend(deviations(store, b).await?);
    }
    let checks_all: Vec<CheckRow> = rows(store.select(&format!("SELECT id, unit_id, patient_id, first_user, second_user, matched, mismatches, at FROM bedside_checks WHERE {} ORDER BY at, id", in_list("unit_id", ids.len(), 1)), ids.clone()).await?)?;
    let administrations: Vec<AdministrationRow> = rows(store.select(&format!("SELECT unit_id, patient_id, check_id, by_user, at, note FROM administrations WHERE {} ORDER BY at", in_list("unit_id", ids.len(), 1)), ids).await?)?;
    let now = ledger_time(&when.now).unwrap_or_default();
    let gaps = gaps_of(&units, &handoffs, now, &origin);
    Ok(ChainView {
        coi,
        units,
        handoffs,
        shipments,
        excursions,
        batches,
        steps: st,
        tests: te,
        deviations: de,
        checks: checks_all,
        administrations,
        gaps,
        halts: halts_all,
    })
}

/// Open custody gaps across what the actor holds or ships: hand-offs sent
/// by or to the actor's organisation still unacknowledged after
/// [`MAX_TRANSIT_HOURS`].
pub async fn custody_alerts(
    store: &dyn Store,
    actor: &Actor,
    when: &When,
) -> StoreResult<Vec<UnitGap>> {
    actor.require(Permission::TraceRead)?;
    let open: Vec<HandoffRow> = rows(store.select("SELECT unit_id, shipment_id, from_org, to_org, sent_by, sent_at, received_by, received_org, received_at, condition FROM handoffs WHERE received_at IS NULL ORDER BY sent_at", vec![]).await?)?;
    let now = ledger_time(&when.now).unwrap_or_default();
    let mut out = Vec::new();
    for h in open {
        if !(actor.is_platform()
            || h.from_org == actor.org_id
            || h.to_org == actor.org_id
            || actor.org_type == OrgType::Regulator
                && sees_any(store, actor, &[h.from_org.as_str(), h.to_org.as_str()]).await?)
        {
            continue;
        }
        if let Some(x) = handoff_of(&h) {
            for g in tr::custody_gaps(&x.from, std::slice::from_ref(&x), now, MAX_TRANSIT_HOURS) {
                out.push(UnitGap {
                    unit_id: h.unit_id.clone(),
                    code: g.code.into(),
                    shipment_id: h.shipment_id.clone(),
                    hours: g.hours,
                });
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- genealogy

/// `forward`: everything made from a node, down to the patients exposed;
/// `backward`: everything behind a node (materials, steps' equipment and
/// people, banks, donors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

impl FromStr for Direction {
    type Err = StoreError;
    fn from_str(s: &str) -> StoreResult<Self> {
        match s.trim() {
            "forward" => Ok(Direction::Forward),
            "backward" => Ok(Direction::Backward),
            other => Err(StoreError::invalid("direction_invalid", "direction", other)),
        }
    }
}

/// Node kinds a genealogy may start from.
pub const NODE_KINDS: &[&str] = &[
    "donor",
    "unit",
    "batch",
    "lot",
    "bank",
    "equipment",
    "user",
    "patient",
];

/// Generations a genealogy walks at most (a chain has about six).
const MAX_GENERATIONS: usize = 64;

/// The reachable part of the lineage graph from one node, in one direction,
/// a generation at a time: each step is one indexed lookup of the frontier
/// (`lineage`'s primary key forward, `lineage_child` backward), so its cost
/// follows the size of the answer, not of the table, and no query planner
/// has to guess how deep a recursive query goes. Nodes seen once are not
/// walked again, so a cycle could not loop.
pub async fn genealogy(store: &dyn Store, start: &str, dir: Direction) -> StoreResult<Graph> {
    let from = match dir {
        Direction::Forward => "parent",
        Direction::Backward => "child",
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    seen.insert(start.to_string());
    let mut edges: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut frontier = vec![start.to_string()];
    for _ in 0..MAX_GENERATIONS {
        if frontier.is_empty() {
            break;
        }
        let mut next = Vec::new();
        for chunk in frontier.chunks(500) {
            let sql = format!(
                "SELECT parent, child, relation FROM lineage WHERE {}",
                in_list(from, chunk.len(), 1)
            );
            for m in store
                .select(&sql, chunk.iter().map(|n| t(n)).collect())
                .await?
            {
                let get = |k: &str| m.get(k).and_then(Value::as_str).map(String::from);
                let (Some(p), Some(c), Some(r)) = (get("parent"), get("child"), get("relation"))
                else {
                    continue;
                };
                let other = match dir {
                    Direction::Forward => c.clone(),
                    Direction::Backward => p.clone(),
                };
                if seen.insert(other.clone()) {
                    next.push(other);
                }
                edges.insert((p, c, r));
            }
        }
        frontier = next;
    }
    Ok(Graph {
        nodes: seen.into_iter().collect(),
        edges: edges.into_iter().collect(),
    })
}

/// Checks the start node's form and that the actor may see it, then walks.
pub async fn visible_genealogy(
    store: &dyn Store,
    actor: &Actor,
    start: &str,
    dir: Direction,
) -> StoreResult<Graph> {
    actor.require(Permission::TraceRead)?;
    let start = start.trim();
    let (kind, id) = start
        .split_once(':')
        .filter(|(k, id)| NODE_KINDS.contains(k) && !id.is_empty() && id.len() <= 64)
        .ok_or_else(|| StoreError::invalid("node_invalid", "node", start.to_string()))?;
    let owner: Vec<String> = match kind {
        "unit" => {
            visible_unit(store, actor, id).await?;
            vec![]
        }
        "batch" => batch(store, id)
            .await?
            .map(|b| b.org_id)
            .into_iter()
            .collect(),
        "lot" => lot(store, id)
            .await?
            .map(|l| l.org_id)
            .into_iter()
            .collect(),
        "bank" => bank(store, id)
            .await?
            .map(|b| b.org_id)
            .into_iter()
            .collect(),
        "donor" | "patient" => person(store, id)
            .await?
            .map(|p| p.institution_id)
            .into_iter()
            .collect(),
        "equipment" => one::<EquipmentRow>(
            store,
            "SELECT id, org_id, name, kind, calibrated_until FROM equipment WHERE id = $1",
            vec![t(id)],
        )
        .await?
        .map(|e| e.org_id)
        .into_iter()
        .collect(),
        _ => store
            .user(id)
            .await?
            .map(|u| u.org_id)
            .into_iter()
            .collect(),
    };
    if kind != "unit" {
        let refs: Vec<&str> = owner.iter().map(String::as_str).collect();
        if owner.is_empty() || !sees_any(store, actor, &refs).await? {
            return Err(StoreError::not_found("node_not_found", start.to_string()));
        }
    }
    genealogy(store, start, dir).await
}

/// One line of a recall list: a unit made from the recalled thing, where it
/// is, and the patient who received it (if any).
#[derive(Clone, Debug, Serialize)]
pub struct RecallLine {
    pub unit_id: String,
    pub din: String,
    pub product_code: Option<String>,
    pub coi: String,
    pub status: String,
    pub custodian: Option<String>,
    pub location: Option<String>,
    pub site_id: String,
    pub patient_id: Option<String>,
    pub administered_at: Option<String>,
    /// `quarantine_now` (not yet given: stop it), `notify_patient` (given:
    /// follow the patient up), `none` (already wasted, rejected or used up).
    pub action: String,
}

/// The recall list of a lot, bank, donor, batch or unit: every final unit
/// downstream, with what to do about each.
pub async fn recall(store: &dyn Store, actor: &Actor, start: &str) -> StoreResult<Vec<RecallLine>> {
    let g = visible_genealogy(store, actor, start, Direction::Forward).await?;
    let unit_ids: Vec<Val> = g
        .nodes
        .iter()
        .filter_map(|n| n.strip_prefix("unit:"))
        .map(t)
        .collect();
    if unit_ids.is_empty() {
        return Ok(Vec::new());
    }
    let n = unit_ids.len();
    let units: Vec<UnitRow> = rows(store.select(&format!("SELECT {UNIT_COLS} FROM units WHERE kind = 'final' AND {} ORDER BY site_id, id", in_list("id", n, 1)), unit_ids.clone()).await?)?;
    let adm: Vec<AdministrationRow> = rows(store.select(&format!("SELECT unit_id, patient_id, check_id, by_user, at, note FROM administrations WHERE {}", in_list("unit_id", n, 1)), unit_ids).await?)?;
    Ok(units
        .into_iter()
        .map(|u| {
            let a = adm.iter().find(|a| a.unit_id == u.id);
            let action = match (a, u.status.as_str()) {
                (Some(_), _) => "notify_patient",
                (None, "wasted" | "rejected" | "consumed") => "none",
                _ => "quarantine_now",
            };
            RecallLine {
                din: u.din.clone(),
                product_code: u.product_code.clone(),
                coi: u.coi.clone(),
                status: u.status.clone(),
                custodian: u.custodian.clone(),
                location: u.location.clone(),
                site_id: u.site_id.clone(),
                patient_id: a.map(|a| a.patient_id.clone()).or(u.patient_id.clone()),
                administered_at: a.map(|a| a.at.clone()),
                action: action.into(),
                unit_id: u.id,
            }
        })
        .collect())
}

// ---------------------------------------------------------------- FHIR

/// The chain as a FHIR R5 Bundle: one `BiologicallyDerivedProduct` per unit
/// (final units name their collection units as parents) and one
/// `BiologicallyDerivedProductDispense` per unit given or checked at the
/// bedside.
pub async fn export_fhir(
    store: &dyn Store,
    actor: &Actor,
    coi: &str,
    when: &When,
) -> StoreResult<Value> {
    let c = chain(store, actor, coi, when).await?;
    let mut entries = Vec::new();
    let collection_ids: Vec<String> = c
        .units
        .iter()
        .filter(|u| u.kind == "collection")
        .map(|u| u.id.clone())
        .collect();
    let donor_of: BTreeMap<String, String> = rows::<Map<String, Value>>(
        store
            .select(
                "SELECT unit_id, donor_id, collected_at FROM collections WHERE coi = $1",
                vec![t(&c.coi)],
            )
            .await?,
    )?
    .into_iter()
    .filter_map(|m| {
        Some((
            m.get("unit_id")?.as_str()?.to_string(),
            m.get("donor_id")?.as_str()?.to_string(),
        ))
    })
    .collect();
    for u in &c.units {
        let parents: &[String] = if u.kind == "final" {
            &collection_ids
        } else {
            &[]
        };
        let r = tr::fhir_product(&tr::ProductFacts {
            id: &u.id,
            din: &u.din,
            product_code: u.product_code.as_deref(),
            coi: &c.coi,
            parent_ids: parents,
            maker_org: u.maker_id.as_deref(),
            available: u.status == "released",
            expires: u.expires_on.as_deref(),
            collected_at: (u.kind == "collection").then_some(u.created_at.as_str()),
            donor_id: donor_of.get(&u.id).map(String::as_str),
            range: u.range(),
        });
        entries.push(
            serde_json::json!({"fullUrl": format!("urn:celltrail:unit:{}", u.id), "resource": r}),
        );
    }
    for u in c.units.iter().filter(|u| u.kind == "final") {
        let last = c.checks.iter().rev().find(|k| k.unit_id == u.id);
        let adm = c.administrations.iter().find(|a| a.unit_id == u.id);
        if last.is_none() && adm.is_none() && u.status != "returned" {
            continue;
        }
        let status = match (adm, u.status.as_str()) {
            (Some(_), _) => "issued",
            (None, "returned") => "returned",
            (None, _) if last.is_some_and(|k| k.matched == 0) => "unfulfilled",
            _ => "allocated",
        };
        let performers: Vec<(String, String)> = last
            .map(|k| {
                vec![
                    ("first verifier".to_string(), k.first_user.clone()),
                    ("second verifier".to_string(), k.second_user.clone()),
                ]
            })
            .unwrap_or_default();
        let id = format!("dispense-{}", u.id);
        let r = tr::fhir_dispense(&tr::DispenseFacts {
            id: &id,
            product_id: &u.id,
            patient_id: u.patient_id.as_deref().unwrap_or(""),
            status,
            matched: last.map(|k| k.matched == 1),
            performers: &performers,
            prepared: None,
            handed_over: adm.map(|a| a.at.as_str()),
            note: None,
        });
        entries.push(serde_json::json!({"fullUrl": format!("urn:celltrail:dispense:{}", u.id), "resource": r}));
    }
    Ok(serde_json::json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": when.now,
        "entry": entries,
    }))
}

/// The day of a ledger time (for pages).
pub fn day_of(time: &str) -> Option<NaiveDate> {
    ledger_time(time).map(|t| t.date())
}

/// The units an organisation deals with — held, made or to be given there;
/// for a regulator, those of the sites it oversees — most recently changed
/// first (a working list, at most `limit`).
pub async fn units_of_org(
    store: &dyn Store,
    actor: &Actor,
    limit: i64,
) -> StoreResult<Vec<UnitRow>> {
    actor.require(Permission::TraceRead)?;
    let limit = Val::Int(limit.clamp(1, 1000));
    let cols = UNIT_COLS
        .split(", ")
        .map(|c| format!("u.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (sql, args) = if actor.is_platform()
        || (actor.org_type == OrgType::Regulator && actor.province_code == "00")
    {
        (
            format!("SELECT {cols} FROM units u ORDER BY u.updated_at DESC, u.id LIMIT $1"),
            vec![limit],
        )
    } else if actor.org_type == OrgType::Regulator {
        (
            format!("SELECT {cols} FROM units u JOIN organisations o ON o.id = u.site_id WHERE o.province_code = $1 ORDER BY u.updated_at DESC, u.id LIMIT $2"),
            vec![t(&actor.province_code), limit],
        )
    } else {
        (
            format!("SELECT {cols} FROM units u WHERE u.custodian = $1 OR u.site_id = $1 OR u.maker_id = $1 ORDER BY u.updated_at DESC, u.id LIMIT $2"),
            vec![t(&actor.org_id), limit],
        )
    };
    rows(store.select(&sql, args).await?)
}
