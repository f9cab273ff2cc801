//! Chain of identity and custody: the rules that hold for one therapy's
//! journey from donor to bedside, with no storage behind them.
//!
//! * [`Limit`] and [`evaluate`] — a test result against its specification
//!   (out of specification opens a deviation and holds the batch).
//! * [`endotoxin_limit`] — the K/M endotoxin limit of a parenteral product.
//! * [`custody_gaps`] — breaks in the chain of hand-offs of one unit.
//! * [`bedside_check`] — the three scans at the bedside against the record.
//! * [`Graph`] — a genealogy as nodes and edges, drawn as SVG.
//! * [`fhir_product`] and [`fhir_dispense`] — FHIR R5
//!   `BiologicallyDerivedProduct` and `BiologicallyDerivedProductDispense`.
//!
//! The chain-of-identity identifier is the Donation Identification Number
//! given at collection, with its check character: the collection DIN stays
//! with the patient's cells through every product made from them, while
//! each manufactured unit also carries its own DIN.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::code128::xml_escape;
use crate::isbt;
use crate::string_enum;

/// The ISBT 128 root in the HL7 OID registry, used as the identifier system
/// of DINs, and its product-code branch.
pub const ISBT128_SYSTEM: &str = "urn:oid:2.16.840.1.113883.6.18";
pub const ISBT128_PRODUCT_SYSTEM: &str = "urn:oid:2.16.840.1.113883.6.18.2.6";

/// What a collection took.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CollectionKind {
    Apheresis,
    BoneMarrow,
    CordBlood,
    Tissue,
}

string_enum!(CollectionKind, "collection_kind", {
    Apheresis => "apheresis",
    BoneMarrow => "bone_marrow",
    CordBlood => "cord_blood",
    Tissue => "tissue",
});

/// How a shipment keeps its temperature, and the range that implies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shipper {
    /// Liquid-nitrogen dry shipper (vapour phase).
    DryShipper,
    /// Liquid nitrogen dewar.
    Ln2,
    /// Refrigerated 2–8 °C.
    Refrigerated,
    /// Controlled room temperature 15–25 °C (fresh apheresis material).
    Ambient,
}

string_enum!(Shipper, "shipper", {
    DryShipper => "dry_shipper",
    Ln2 => "ln2",
    Refrigerated => "2_8c",
    Ambient => "ambient",
});

impl Shipper {
    /// The range the shipper must hold.
    pub fn range(self) -> crate::coldchain::Range {
        use crate::coldchain::Range;
        match self {
            Shipper::DryShipper | Shipper::Ln2 => Range::LN2_VAPOUR,
            Shipper::Refrigerated => Range::REFRIGERATED,
            Shipper::Ambient => Range {
                min: Some(15.0),
                max: Some(25.0),
            },
        }
    }
}

/// Donor eligibility at collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Eligibility {
    Eligible,
    /// Autologous use, or eligibility not determined but used under urgent
    /// medical need: allowed with a label statement.
    AutologousOnly,
    Ineligible,
}

string_enum!(Eligibility, "eligibility", {
    Eligible => "eligible",
    AutologousOnly => "autologous_only",
    Ineligible => "ineligible",
});

/// Where a test sits in manufacture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    InProcess,
    Release,
}

string_enum!(Stage, "test_stage", {
    InProcess => "in_process",
    Release => "release",
});

/// The tests a cell-therapy batch commonly carries, with their names in
/// both languages. A specification may name other tests too.
pub const TESTS: &[(&str, &str, &str)] = &[
    ("sterility", "无菌检查", "Sterility"),
    ("mycoplasma", "支原体检查", "Mycoplasma"),
    ("endotoxin", "细菌内毒素", "Endotoxin"),
    ("viability", "细胞活率", "Viability"),
    ("identity", "鉴别", "Identity"),
    ("potency", "生物学效力", "Potency"),
    ("cd3_purity", "CD3+ 细胞比例", "CD3+ purity"),
    (
        "transduction_efficiency",
        "转导效率",
        "Transduction efficiency",
    ),
    ("vector_copy_number", "载体拷贝数", "Vector copy number"),
    ("rcl", "复制型慢病毒", "Replication-competent lentivirus"),
    ("cell_count", "活细胞数", "Viable cell count"),
];

/// The name of a test in a language (its code when it is not a common one).
pub fn test_label(code: &str, lang: crate::Lang) -> String {
    TESTS
        .iter()
        .find(|t| t.0 == code)
        .map(|t| match lang {
            crate::Lang::Zh => t.1,
            crate::Lang::En => t.2,
        })
        .unwrap_or(code)
        .to_string()
}

/// The acceptance criterion of one test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Limit {
    /// value ≥ min
    AtLeast { min: f64 },
    /// value ≤ max
    AtMost { max: f64 },
    /// value < max (e.g. endotoxin below a limit)
    Below { max: f64 },
    /// min ≤ value ≤ max
    Between { min: f64, max: f64 },
    /// One of the accepted words (e.g. `negative`, `no_growth`).
    OneOf { accepted: Vec<String> },
}

impl Limit {
    /// The criterion as people write it, e.g. `≥ 70`, `< 5`, `negative`.
    pub fn display(&self) -> String {
        match self {
            Limit::AtLeast { min } => format!("≥ {min}"),
            Limit::AtMost { max } => format!("≤ {max}"),
            Limit::Below { max } => format!("< {max}"),
            Limit::Between { min, max } => format!("{min}–{max}"),
            Limit::OneOf { accepted } => accepted.join(" / "),
        }
    }
}

/// One line of a process's specification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub test: String,
    pub stage: String,
    pub limit: Limit,
    #[serde(default)]
    pub unit: String,
}

/// An example release specification of an autologous CD19 CAR-T product,
/// as a process owner might set it (the demo, the tests and the generated
/// data set use it; a real process carries its own). Endotoxin below
/// 5 EU/mL is K/M ([`endotoxin_limit`]) for up to 70 mL given
/// intravenously to a 70 kg adult within an hour.
pub fn example_car_t_specs() -> Vec<Spec> {
    let s = |test: &str, stage: &str, limit: Limit, unit: &str| Spec {
        test: test.into(),
        stage: stage.into(),
        limit,
        unit: unit.into(),
    };
    let words = |w: &str| Limit::OneOf {
        accepted: vec![w.into()],
    };
    vec![
        s(
            "cell_count",
            "in_process",
            Limit::AtLeast { min: 1.0e8 },
            "cells",
        ),
        s("sterility", "release", words("no_growth"), ""),
        s("mycoplasma", "release", words("negative"), ""),
        s("endotoxin", "release", Limit::Below { max: 5.0 }, "EU/mL"),
        s("viability", "release", Limit::AtLeast { min: 70.0 }, "%"),
        s("identity", "release", words("car_positive"), ""),
        s(
            "potency",
            "release",
            Limit::AtLeast { min: 500.0 },
            "pg/mL IFN-γ",
        ),
        s("cd3_purity", "release", Limit::AtLeast { min: 80.0 }, "%"),
        s(
            "transduction_efficiency",
            "release",
            Limit::AtLeast { min: 15.0 },
            "%",
        ),
        s(
            "vector_copy_number",
            "release",
            Limit::AtMost { max: 5.0 },
            "copies/cell",
        ),
        s("rcl", "release", words("not_detected"), ""),
    ]
}

/// A result against its specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    /// Out of specification.
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        }
    }
}

/// Codes of [`ResultError`].
pub const ERROR_CODES: &[&str] = &["result_value_invalid", "result_not_numeric"];

/// A result that cannot be read against its limit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}")]
pub struct ResultError {
    pub code: &'static str,
}

/// Reads a result against a limit. Numbers accept a decimal point or
/// comma; words are compared without case, spaces or hyphens.
pub fn evaluate(limit: &Limit, value: &str) -> Result<Verdict, ResultError> {
    let v = value.trim();
    if v.is_empty() || v.len() > 200 {
        return Err(ResultError {
            code: "result_value_invalid",
        });
    }
    let number = || -> Result<f64, ResultError> {
        v.replace(',', ".")
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .ok_or(ResultError {
                code: "result_not_numeric",
            })
    };
    let pass = match limit {
        Limit::AtLeast { min } => number()? >= *min,
        Limit::AtMost { max } => number()? <= *max,
        Limit::Below { max } => number()? < *max,
        Limit::Between { min, max } => {
            let n = number()?;
            n >= *min && n <= *max
        }
        Limit::OneOf { accepted } => {
            let norm = |s: &str| {
                s.chars()
                    .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
                    .flat_map(char::to_lowercase)
                    .collect::<String>()
            };
            let got = norm(v);
            accepted.iter().any(|a| norm(a) == got)
        }
    };
    Ok(if pass { Verdict::Pass } else { Verdict::Fail })
}

/// The endotoxin limit of a parenteral product, K/M: K is the threshold
/// pyrogenic dose (5 EU per kg per hour for intravenous products, 0.2 for
/// intrathecal ones — USP <85>, Chinese Pharmacopoeia general chapter 1143),
/// M the largest dose given in one hour per kg of body weight (mL/kg/h).
/// The result is in EU per mL; `None` when M is not positive.
pub fn endotoxin_limit(k_eu_per_kg: f64, dose_ml: f64, weight_kg: f64, hours: f64) -> Option<f64> {
    if !(dose_ml > 0.0 && weight_kg > 0.0 && hours > 0.0) {
        return None;
    }
    // Doses given over less than an hour count as given in one hour.
    let m = dose_ml / weight_kg / hours.max(1.0);
    Some(k_eu_per_kg / m)
}

/// One hand-off of a unit from one custodian to the next.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Handoff {
    pub from: String,
    pub to: String,
    pub sent_at: NaiveDateTime,
    pub received_at: Option<NaiveDateTime>,
    /// The organisation that acknowledged receipt (the `to` one, normally).
    pub received_by_org: Option<String>,
}

/// A break in the chain of custody.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// `unacknowledged` (sent, no receipt within the allowed time),
    /// `custodian_mismatch` (sent by an organisation that did not hold the
    /// unit), `wrong_receiver` (received by another organisation than the
    /// addressee), `receipt_before_send`.
    pub code: &'static str,
    /// Index of the hand-off at fault.
    pub handoff: usize,
    /// Hours the unit has been unaccounted for (unacknowledged gaps).
    pub hours: i64,
}

pub const GAP_CODES: &[&str] = &[
    "unacknowledged",
    "custodian_mismatch",
    "wrong_receiver",
    "receipt_before_send",
];

/// The gaps in one unit's chain: `origin` held it first; hand-offs are in
/// the order they were sent. A hand-off still open after `max_transit_hours`
/// at `now` is a gap.
pub fn custody_gaps(
    origin: &str,
    handoffs: &[Handoff],
    now: NaiveDateTime,
    max_transit_hours: i64,
) -> Vec<Gap> {
    let mut gaps = Vec::new();
    let mut holder = Some(origin.to_string());
    for (i, h) in handoffs.iter().enumerate() {
        if holder.as_deref() != Some(h.from.as_str()) {
            gaps.push(Gap {
                code: "custodian_mismatch",
                handoff: i,
                hours: 0,
            });
        }
        match (h.received_at, &h.received_by_org) {
            (Some(r), by) => {
                if r < h.sent_at {
                    gaps.push(Gap {
                        code: "receipt_before_send",
                        handoff: i,
                        hours: 0,
                    });
                }
                let by = by.clone().unwrap_or_else(|| h.to.clone());
                if by != h.to {
                    gaps.push(Gap {
                        code: "wrong_receiver",
                        handoff: i,
                        hours: 0,
                    });
                }
                holder = Some(by);
            }
            (None, _) => {
                let hours = (now - h.sent_at).num_hours();
                if hours > max_transit_hours {
                    gaps.push(Gap {
                        code: "unacknowledged",
                        handoff: i,
                        hours,
                    });
                }
                holder = None;
            }
        }
    }
    gaps
}

/// What the record says the bedside must find.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Expected {
    /// The patient's wristband code (the hospital's record number).
    pub wristband: String,
    /// The chain-of-identity identifier: collection DIN + check character.
    pub coi: String,
    /// The bag's own DIN (13 characters).
    pub din: String,
}

/// What the two people scanned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scans {
    pub wristband: String,
    pub coi: String,
    /// The bag's DIN barcode (`=` + DIN + flags) or its eye-readable DIN
    /// with the check character.
    pub bag: String,
}

/// One scan that does not agree with the record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// `wristband`, `coi` or `bag`.
    pub field: &'static str,
    /// `scan_unreadable` (the scan is not a valid identifier: a bad check
    /// character, a misread) or `scan_mismatch` (valid, but another
    /// patient's or another bag's).
    pub code: &'static str,
}

/// Checks the three scans against the record. An empty list means the bag
/// is this patient's; anything else blocks administration.
pub fn bedside_check(expected: &Expected, scans: &Scans) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let wb = scans.wristband.trim();
    if wb.is_empty() || wb.len() > 64 {
        out.push(Mismatch {
            field: "wristband",
            code: "scan_unreadable",
        });
    } else if !wb.eq_ignore_ascii_case(expected.wristband.trim()) {
        out.push(Mismatch {
            field: "wristband",
            code: "scan_mismatch",
        });
    }
    let din_of = |s: &str| isbt::validate(s).map(|v| v.din.as_string());
    match din_of(&scans.coi) {
        Err(_) => out.push(Mismatch {
            field: "coi",
            code: "scan_unreadable",
        }),
        Ok(d) if Some(d.as_str()) != expected.coi.get(..13) => out.push(Mismatch {
            field: "coi",
            code: "scan_mismatch",
        }),
        Ok(_) => {}
    }
    match din_of(&scans.bag) {
        Err(_) => out.push(Mismatch {
            field: "bag",
            code: "scan_unreadable",
        }),
        Ok(d) if d != expected.din => out.push(Mismatch {
            field: "bag",
            code: "scan_mismatch",
        }),
        Ok(_) => {}
    }
    out
}

/// A genealogy: what one thing came from, or what came from it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Graph {
    /// Node ids are `kind:id` (`donor:…`, `unit:…`, `batch:…`, `lot:…`,
    /// `bank:…`, `equipment:…`, `user:…`, `patient:…`).
    pub nodes: Vec<String>,
    /// (parent, child, relation)
    pub edges: Vec<(String, String, String)>,
}

/// Order of node kinds inside one column of a drawing.
const KIND_ORDER: &[&str] = &[
    "donor",
    "patient",
    "bank",
    "lot",
    "equipment",
    "user",
    "batch",
    "unit",
];

impl Graph {
    /// The kind of a node id (`unit` for `unit:…`).
    pub fn kind(node: &str) -> &str {
        node.split_once(':').map_or(node, |(k, _)| k)
    }

    /// Each node's column: 0 for nodes with no parent in the graph, else one
    /// more than its deepest parent (the lineage is acyclic; a cycle, which
    /// the store never writes, is cut after as many rounds as nodes).
    pub fn depths(&self) -> HashMap<&str, usize> {
        let mut depth: HashMap<&str, usize> = self.nodes.iter().map(|n| (n.as_str(), 0)).collect();
        for _ in 0..self.nodes.len() {
            let mut changed = false;
            for (a, b, _) in &self.edges {
                let (Some(&da), Some(&db)) = (depth.get(a.as_str()), depth.get(b.as_str())) else {
                    continue;
                };
                if db < da + 1 {
                    depth.insert(b.as_str(), da + 1);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        // A node with no parent (a lot, a machine, a person) sits just
        // before the first thing it went into, not at the far left.
        let has_parent: std::collections::HashSet<&str> =
            self.edges.iter().map(|(_, b, _)| b.as_str()).collect();
        for n in &self.nodes {
            if has_parent.contains(n.as_str()) {
                continue;
            }
            let first_child = self
                .edges
                .iter()
                .filter(|(a, _, _)| a == n)
                .filter_map(|(_, b, _)| depth.get(b.as_str()).copied())
                .min();
            if let Some(c) = first_child {
                depth.insert(n.as_str(), c.saturating_sub(1));
            }
        }
        depth
    }

    /// Draws the graph left to right by generation, each node labelled with
    /// `label(node)` and coloured by kind, edges as lines with the relation
    /// as their title. Deterministic for the same input.
    pub fn svg(&self, label: &dyn Fn(&str) -> String) -> String {
        let depths = self.depths();
        let mut columns: BTreeMap<usize, Vec<&String>> = BTreeMap::new();
        for n in &self.nodes {
            columns
                .entry(depths.get(n.as_str()).copied().unwrap_or(0))
                .or_default()
                .push(n);
        }
        let rank = |n: &str| {
            KIND_ORDER
                .iter()
                .position(|k| *k == Graph::kind(n))
                .unwrap_or(KIND_ORDER.len())
        };
        let (w, h, gap_x, gap_y) = (170.0_f32, 34.0_f32, 40.0_f32, 14.0_f32);
        let mut pos: HashMap<&str, (f32, f32)> = HashMap::new();
        for (ci, (_, nodes)) in columns.iter_mut().enumerate() {
            nodes.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
            for (ri, n) in nodes.iter().enumerate() {
                let x = 10.0 + ci as f32 * (w + gap_x);
                let y = 10.0 + ri as f32 * (h + gap_y);
                pos.insert(n.as_str(), (x, y));
            }
        }
        let width = 20.0 + columns.len() as f32 * (w + gap_x);
        let rows = columns.values().map(Vec::len).max().unwrap_or(0);
        let height = 20.0 + rows as f32 * (h + gap_y);
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\">"
        );
        for (a, b, rel) in &self.edges {
            if let (Some(p), Some(q)) = (pos.get(a.as_str()), pos.get(b.as_str())) {
                s.push_str(&format!(
                    "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#7a869a\" stroke-width=\"1\"><title>{}</title></line>",
                    p.0 + w,
                    p.1 + h / 2.0,
                    q.0,
                    q.1 + h / 2.0,
                    xml_escape(rel)
                ));
            }
        }
        for n in &self.nodes {
            let Some((x, y)) = pos.get(n.as_str()) else {
                continue;
            };
            let fill = match Graph::kind(n) {
                "patient" | "donor" => "#fde2e1",
                "unit" => "#e3f1ff",
                "batch" => "#e6f6e6",
                "lot" | "bank" => "#fff4d6",
                _ => "#f0f0f0",
            };
            s.push_str(&format!(
                "<g class=\"node\" data-node=\"{}\"><rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" rx=\"4\" fill=\"{fill}\" stroke=\"#445\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
                xml_escape(n),
                x + 6.0,
                y + h / 2.0 + 4.0,
                xml_escape(&label(n).chars().take(28).collect::<String>())
            ));
        }
        s.push_str("</svg>");
        s
    }
}

/// A unit as FHIR R5 `BiologicallyDerivedProduct`.
pub struct ProductFacts<'a> {
    pub id: &'a str,
    pub din: &'a str,
    pub product_code: Option<&'a str>,
    pub coi: &'a str,
    pub parent_ids: &'a [String],
    pub maker_org: Option<&'a str>,
    pub available: bool,
    pub expires: Option<&'a str>,
    pub collected_at: Option<&'a str>,
    pub donor_id: Option<&'a str>,
    pub range: crate::coldchain::Range,
}

/// Builds the FHIR R5 resource of a unit: the DIN and the chain-of-identity
/// identifier under the ISBT 128 OID, the product code, parents, status
/// (`available` while released and not used), storage range in °C.
pub fn fhir_product(f: &ProductFacts) -> Value {
    let mut r = json!({
        "resourceType": "BiologicallyDerivedProduct",
        "id": f.id,
        "productCategory": {"system": "http://hl7.org/fhir/product-category", "code": "cells"},
        "identifier": [
            {"system": ISBT128_SYSTEM, "value": f.din, "type": {"text": "DIN"}},
        ],
        "biologicalSourceEvent": {"system": ISBT128_SYSTEM, "value": f.coi},
        "productStatus": {
            "system": "http://hl7.org/fhir/biologicallyderived-product-status",
            "code": if f.available { "available" } else { "unavailable" }
        },
    });
    if let Some(pc) = f.product_code {
        r["productCode"] = json!({"coding": [{"system": ISBT128_PRODUCT_SYSTEM, "code": pc}]});
        if pc.len() == 8 {
            r["division"] = json!(&pc[6..]);
        }
    }
    if !f.parent_ids.is_empty() {
        r["parent"] = Value::Array(
            f.parent_ids
                .iter()
                .map(|p| json!({"reference": format!("BiologicallyDerivedProduct/{p}")}))
                .collect(),
        );
    }
    if let Some(m) = f.maker_org {
        r["processingFacility"] = json!([{"reference": format!("Organization/{m}")}]);
    }
    if let Some(e) = f.expires {
        r["expirationDate"] = json!(e);
    }
    if f.collected_at.is_some() || f.donor_id.is_some() {
        let mut c = json!({});
        if let Some(d) = f.donor_id {
            c["source"] = json!({"reference": format!("Patient/{d}")});
        }
        if let Some(t) = f.collected_at {
            c["collectedDateTime"] = json!(t);
        }
        r["collection"] = c;
    }
    let mut range = json!({});
    if let Some(lo) = f.range.min {
        range["low"] = json!({"value": lo, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"});
    }
    if let Some(hi) = f.range.max {
        range["high"] = json!({"value": hi, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"});
    }
    r["storageTempRequirements"] = range;
    r
}

/// A dispense to a patient as FHIR R5 `BiologicallyDerivedProductDispense`:
/// status `issued` once handed over (`returned` for a return), the match
/// status from the bedside check, the two verifiers as performers.
pub struct DispenseFacts<'a> {
    pub id: &'a str,
    pub product_id: &'a str,
    pub patient_id: &'a str,
    pub status: &'a str,
    pub matched: Option<bool>,
    pub performers: &'a [(String, String)],
    pub prepared: Option<&'a str>,
    pub handed_over: Option<&'a str>,
    pub note: Option<&'a str>,
}

pub fn fhir_dispense(f: &DispenseFacts) -> Value {
    let mut r = json!({
        "resourceType": "BiologicallyDerivedProductDispense",
        "id": f.id,
        "status": f.status,
        "originRelationshipType": {"text": "autologous or allogeneic per product"},
        "product": {"reference": format!("BiologicallyDerivedProduct/{}", f.product_id)},
        "patient": {"reference": format!("Patient/{}", f.patient_id)},
    });
    if let Some(m) = f.matched {
        r["matchStatus"] = json!({"text": if m { "matched: wristband, chain of identity and bag" } else { "mismatch: administration blocked" }});
    }
    if !f.performers.is_empty() {
        r["performer"] = Value::Array(
            f.performers
                .iter()
                .map(|(function, who)| json!({"function": {"text": function}, "actor": {"reference": format!("Practitioner/{who}")}}))
                .collect(),
        );
    }
    if let Some(p) = f.prepared {
        r["preparedDate"] = json!(p);
    }
    if let Some(h) = f.handed_over {
        r["whenHandedOver"] = json!(h);
    }
    if let Some(n) = f.note {
        r["note"] = json!([{"text": n}]);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(d: u32, h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 3, d)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
    }

    #[test]
    fn limits_read_numbers_and_words() {
        let viab = Limit::AtLeast { min: 70.0 };
        assert_eq!(evaluate(&viab, "82.5"), Ok(Verdict::Pass));
        assert_eq!(evaluate(&viab, "70"), Ok(Verdict::Pass));
        assert_eq!(evaluate(&viab, "69,9"), Ok(Verdict::Fail));
        assert_eq!(
            evaluate(&viab, "high").unwrap_err().code,
            "result_not_numeric"
        );
        let endo = Limit::Below { max: 5.0 };
        assert_eq!(evaluate(&endo, "5"), Ok(Verdict::Fail));
        assert_eq!(evaluate(&endo, "4.99"), Ok(Verdict::Pass));
        let vcn = Limit::Between { min: 0.5, max: 5.0 };
        assert_eq!(evaluate(&vcn, "5.1"), Ok(Verdict::Fail));
        let ster = Limit::OneOf {
            accepted: vec!["no_growth".into(), "negative".into()],
        };
        assert_eq!(evaluate(&ster, "No growth"), Ok(Verdict::Pass));
        assert_eq!(evaluate(&ster, "growth"), Ok(Verdict::Fail));
        assert_eq!(
            evaluate(&ster, " ").unwrap_err().code,
            "result_value_invalid"
        );
        assert_eq!(
            evaluate(&endo, "NaN").unwrap_err().code,
            "result_not_numeric"
        );
        assert_eq!(
            evaluate(&endo, "inf").unwrap_err().code,
            "result_not_numeric"
        );
    }

    /// USP <85> and ChP 1143: endotoxin limit = K/M with K = 5 EU/kg/h for
    /// intravenous use. A 70 kg adult given 70 mL within the hour has
    /// M = 1 mL/kg/h, so the limit is 5 EU/mL; the same dose given
    /// intrathecally (K = 0.2) allows 0.2 EU/mL. 10 mL in a 70 kg adult:
    /// M = 1/7 mL/kg, limit 35 EU/mL.
    #[test]
    fn endotoxin_k_over_m() {
        assert_eq!(endotoxin_limit(5.0, 70.0, 70.0, 0.5), Some(5.0));
        assert_eq!(endotoxin_limit(0.2, 70.0, 70.0, 1.0), Some(0.2));
        let l = endotoxin_limit(5.0, 10.0, 70.0, 1.0).unwrap();
        assert!((l - 35.0).abs() < 1e-9);
        // Over two hours M halves and the limit doubles.
        assert_eq!(endotoxin_limit(5.0, 70.0, 70.0, 2.0), Some(10.0));
        assert_eq!(endotoxin_limit(5.0, 0.0, 70.0, 1.0), None);
    }

    fn hand(from: &str, to: &str, s: NaiveDateTime, r: Option<NaiveDateTime>) -> Handoff {
        Handoff {
            from: from.into(),
            to: to.into(),
            sent_at: s,
            received_at: r,
            received_by_org: r.map(|_| to.to_string()),
        }
    }

    #[test]
    fn custody_gaps_found() {
        let ok = vec![
            hand("hosp", "courier", at(1, 8), Some(at(1, 9))),
            hand("courier", "factory", at(1, 9), Some(at(1, 20))),
        ];
        assert!(custody_gaps("hosp", &ok, at(5, 0), 48).is_empty());
        // Sent, never acknowledged: a gap once 48 hours pass, not before.
        let open = vec![hand("hosp", "courier", at(1, 8), None)];
        assert!(custody_gaps("hosp", &open, at(2, 8), 48).is_empty());
        let g = custody_gaps("hosp", &open, at(3, 9), 48);
        assert_eq!(g[0].code, "unacknowledged");
        assert_eq!(g[0].hours, 49);
        // The factory ships on what the courier still holds on record.
        let jump = vec![
            hand("hosp", "courier", at(1, 8), Some(at(1, 9))),
            hand("factory", "hosp", at(2, 8), Some(at(2, 9))),
        ];
        let g = custody_gaps("hosp", &jump, at(5, 0), 48);
        assert_eq!(g[0].code, "custodian_mismatch");
        assert_eq!(g[0].handoff, 1);
        let mut wrong = hand("hosp", "factory", at(1, 8), Some(at(1, 7)));
        wrong.received_by_org = Some("other".into());
        let codes: Vec<_> = custody_gaps("hosp", &[wrong], at(5, 0), 48)
            .iter()
            .map(|g| g.code)
            .collect();
        assert_eq!(codes, vec!["receipt_before_send", "wrong_receiver"]);
    }

    /// DINs from ISBT 128 ST-001's examples: G123417654321 has check
    /// character A; the Red Book's G123498654321 has H (flags 77).
    #[test]
    fn bedside_scans() {
        let exp = Expected {
            wristband: "MRN-00042".into(),
            coi: "G123498654321H".into(),
            din: "G123417654321".into(),
        };
        let good = Scans {
            wristband: "mrn-00042".into(),
            coi: "G123498654321H".into(),
            bag: "=G12341765432100".into(),
        };
        // Flags 00 carry no check; the eye-readable form with "A" also reads.
        assert!(bedside_check(&exp, &good).is_empty());
        let eye = Scans {
            bag: "G1234 17 654321 A".into(),
            ..good.clone()
        };
        assert!(bedside_check(&exp, &eye).is_empty());
        // Another patient's bag (valid DIN, check char B? computed) blocks.
        let other = isbt::check_char("G123417654322").unwrap();
        let wrong_bag = Scans {
            bag: format!("G123417654322{other}"),
            ..good.clone()
        };
        assert_eq!(
            bedside_check(&exp, &wrong_bag),
            vec![Mismatch {
                field: "bag",
                code: "scan_mismatch"
            }]
        );
        // A misread check character is unreadable, not a match.
        let misread = Scans {
            coi: "G123498654321A".into(),
            wristband: "MRN-00043".into(),
            ..good
        };
        let m = bedside_check(&exp, &misread);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].field, "wristband");
        assert_eq!(m[1].code, "scan_unreadable");
    }

    #[test]
    fn graph_draws_every_node() {
        let g = Graph {
            nodes: vec![
                "donor:D1".into(),
                "unit:U1".into(),
                "batch:B1".into(),
                "patient:P1".into(),
                "lot:L<1>".into(),
            ],
            edges: vec![
                ("donor:D1".into(), "unit:U1".into(), "collected".into()),
                ("unit:U1".into(), "batch:B1".into(), "input".into()),
                ("lot:L<1>".into(), "batch:B1".into(), "material".into()),
            ],
        };
        let d = g.depths();
        assert_eq!(
            (
                d["donor:D1"],
                d["unit:U1"],
                d["batch:B1"],
                d["lot:L<1>"],
                d["patient:P1"]
            ),
            (0, 1, 2, 1, 0)
        );
        let s = g.svg(&|n| n.to_string());
        assert_eq!(s.matches("class=\"node\"").count(), 5);
        assert_eq!(s.matches("<line").count(), 3);
        assert!(s.contains("lot:L&lt;1&gt;"));
        assert_eq!(s, g.svg(&|n| n.to_string()));
    }

    #[test]
    fn fhir_resources_carry_isbt_identifiers() {
        let p = fhir_product(&ProductFacts {
            id: "u1",
            din: "G123417654321",
            product_code: Some("S1295A00"),
            coi: "G123498654321H",
            parent_ids: &["u0".to_string()],
            maker_org: Some("org-f"),
            available: true,
            expires: Some("2027-01-01"),
            collected_at: None,
            donor_id: None,
            range: crate::coldchain::Range::LN2_VAPOUR,
        });
        assert_eq!(p["resourceType"], "BiologicallyDerivedProduct");
        assert_eq!(p["productCode"]["coding"][0]["code"], "S1295A00");
        assert_eq!(p["division"], "00");
        assert_eq!(p["storageTempRequirements"]["high"]["value"], -150.0);
        assert!(p["storageTempRequirements"].get("low").is_none());
        assert_eq!(p["parent"][0]["reference"], "BiologicallyDerivedProduct/u0");
        let d = fhir_dispense(&DispenseFacts {
            id: "d1",
            product_id: "u1",
            patient_id: "p1",
            status: "issued",
            matched: Some(true),
            performers: &[("verifier".into(), "n1".into())],
            prepared: None,
            handed_over: Some("2026-03-10T09:00:00Z"),
            note: None,
        });
        assert_eq!(d["status"], "issued");
        assert_eq!(d["performer"][0]["actor"]["reference"], "Practitioner/n1");
    }

    #[test]
    fn enums_round_trip() {
        for s in Shipper::ALL {
            assert_eq!(s.as_str().parse::<Shipper>().unwrap(), *s);
        }
        assert_eq!(Shipper::Refrigerated.range().max, Some(8.0));
        assert!(Shipper::Ln2.range().contains(-196.0));
        assert!(!Shipper::DryShipper.range().contains(-120.0));
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            /// Results and scans are typed by people and scanners: no input
            /// panics, and a bag scan that is not this bag's DIN never passes.
            #[test]
            fn results_and_scans_never_panic(
                value in "\\PC{0,40}",
                min in -1e6f64..1e6,
                wristband in "\\PC{0,30}",
                coi in "[A-Z0-9= ]{0,20}",
                bag in "[A-Z0-9= ]{0,20}",
            ) {
                for limit in [
                    Limit::AtLeast { min },
                    Limit::Below { max: min },
                    Limit::Between { min, max: min + 1.0 },
                    Limit::OneOf { accepted: vec![value.clone()] },
                ] {
                    let _ = evaluate(&limit, &value);
                }
                let exp = Expected {
                    wristband: "MRN-1".into(),
                    coi: "G123498654321H".into(),
                    din: "G123417654321".into(),
                };
                let m = bedside_check(&exp, &Scans { wristband, coi, bag: bag.clone() });
                let bag_ok = isbt::validate(&bag).map(|v| v.din.as_string() == exp.din).unwrap_or(false);
                prop_assert_eq!(m.iter().any(|x| x.field == "bag"), !bag_ok);
            }
        }
    }
}
