//! The OpenAPI 3.1 document, generated from the route table, and a rendered
//! reference page in both languages.

use askama::Template;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::Json;
use serde_json::{json, Map, Value};

use crate::i18n::lang_of;
use crate::pages::{render, PageCtx};
use crate::routes::{Access, Kind, RouteSpec, ROUTES};

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string", "description": "Stable machine-readable code, e.g. permission_denied, field_required, workflow_transition_not_allowed"},
            "message": {"type": "string", "description": "Message in the request's language (Accept-Language, ?lang=, or the ct_lang cookie)"},
            "field": {"type": "string", "description": "The input field at fault, when there is one"}
        }}}
    })
}

/// The therapy profile, from the rules engine's field list.
fn profile_schema() -> Value {
    use celltrail_core::rules::schema::{Kind, FIELDS};
    let properties: serde_json::Map<String, Value> = FIELDS
        .iter()
        .map(|f| {
            let schema = match f.kind {
                Kind::Enum(values) => json!({"type": "string", "enum": values}),
                _ => json!({"type": "boolean"}),
            };
            (f.name.to_string(), schema)
        })
        .collect();
    json!({"type": "object", "additionalProperties": false, "properties": properties,
        "description": "Any field may be left out; a conclusion that needs it then names the question"})
}

/// An electronic signature: user name and password again, the meaning, and
/// the record hash shown to the signer.
fn signature_schema() -> Value {
    json!({"type": "object", "required": ["username", "password", "meaning", "record_hash"], "properties": {
        "username": {"type": "string"}, "password": {"type": "string"}, "meaning": {"type": "string", "enum": ["approved"]}, "record_hash": {"type": "string", "description": "record_hash of GET /api/v1/submissions/{id}"}}})
}

fn ethics_schemas_a(reason: &Value) -> Value {
    json!({
        "CommitteeConstitute": {"type": "object", "required": ["kind"], "additionalProperties": false, "properties": {
            "institution_id": {"type": "string", "description": "The medical institution the committee serves (required for institutional committees)"},
            "kind": {"type": "string", "enum": celltrail_store::ethics::COMMITTEE_KINDS}, "reason": reason}},
        "MemberAppoint": {"type": "object", "required": ["name", "sex", "expertise", "external", "role", "appointed_on"], "additionalProperties": false, "properties": {
            "name": {"type": "string"}, "sex": {"type": "string", "enum": ["female", "male"]},
            "expertise": {"type": "string", "enum": ["scientific", "medical", "ethics", "legal", "lay"]},
            "external": {"type": "boolean", "description": "Not employed by the committee's institution"},
            "role": {"type": "string", "enum": ["chair", "vice_chair", "member"]},
            "user_id": {"type": "string", "description": "The member's account on the committee, for votes and signatures"},
            "appointed_on": {"type": "string", "format": "date"}, "reason": reason}},
        "MemberLeave": {"type": "object", "required": ["left_on", "reason"], "additionalProperties": false, "properties": {"left_on": {"type": "string", "format": "date"}, "reason": reason}},
        "MeetingSchedule": {"type": "object", "required": ["held_on", "agenda"], "additionalProperties": false, "properties": {
            "held_on": {"type": "string", "format": "date"}, "agenda": {"type": "array", "items": {"type": "string"}, "description": "Submission ids"}}},
        "MeetingAttendance": {"type": "object", "required": ["present"], "additionalProperties": false, "properties": {
            "present": {"type": "array", "items": {"type": "string"}, "description": "Member ids"},
            "recused": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}, "description": "Submission id → members who withdraw for a conflict of interest"}}},
        "MeetingVote": {"type": "object", "required": ["votes"], "additionalProperties": false, "properties": {
            "votes": {"type": "array", "items": {"type": "object", "required": ["member"], "properties": {"member": {"type": "string"}, "decision": {"type": ["string", "null"], "enum": ["approve", "approve_with_modifications", "resubmit", "disapprove", "suspend", "terminate", null]}, "opinion": {"type": "string"}}}},
            "review_interval_months": {"type": "integer", "minimum": 1, "maximum": 12}, "conditions": {"type": "string"}, "signature": signature_schema()}}
    })
}

fn ethics_schemas_b() -> Value {
    json!({
        "EthicsSubmission": {"type": "object", "required": ["committee_id", "kind"], "additionalProperties": false, "properties": {
            "committee_id": {"type": "string"},
            "kind": {"type": "string", "enum": ["initial", "amendment", "continuing_review", "serious_adverse_event", "protocol_deviation", "closure"]},
            "facts": {"type": "object", "description": "What decides the route: minimal_risk, minor_amendment, intervention, exemption, sensitive_or_commercial, unexpected_related_or_fatal, new_risk"},
            "consent_version": {"type": "object", "required": ["version", "asks", "material_change"], "properties": {"version": {"type": "integer", "minimum": 1}, "asks": {"type": "array", "items": {"type": "string", "enum": ["study_data", "secondary_research", "biobank_storage", "genetic_analysis", "recontact", "share_institutions", "commercial_use"]}}, "material_change": {"type": "boolean"}}},
            "lead_id": {"type": "string", "description": "The lead committee's submission this site relies on"},
            "documents": {"type": "array", "items": {"type": "object", "required": ["doc_kind", "lang", "version", "filename", "content_b64"], "properties": {
                "doc_kind": {"type": "string", "enum": celltrail_store::ethics::DOCUMENT_KINDS}, "lang": {"type": "string", "enum": ["zh-CN", "en"]}, "version": {"type": "string"},
                "filename": {"type": "string"}, "media_type": {"type": "string"}, "content_b64": {"type": "string", "contentEncoding": "base64"}}}}}},
        "Reviewers": {"type": "object", "required": ["members"], "additionalProperties": false, "properties": {"members": {"type": "array", "items": {"type": "string"}, "minItems": 2}}},
        "ExpertAssignment": {"type": "object", "required": ["tags", "count"], "additionalProperties": false, "properties": {
            "tags": {"type": "array", "items": {"type": "string", "enum": celltrail_core::ethics::EXPERT_TAGS}}, "count": {"type": "integer", "minimum": 1, "maximum": 9}, "sponsor_id": {"type": "string"}}},
        "Opinion": {"type": "object", "required": ["opinion"], "additionalProperties": false, "properties": {
            "opinion": {"type": "string", "enum": ["approve", "approve_with_modifications", "resubmit", "disapprove", "suspend", "terminate"]}, "note": {"type": "string"}, "meeting_requested": {"type": "boolean"}}},
        "Decision": {"type": "object", "required": ["signature"], "additionalProperties": false, "properties": {
            "review_interval_months": {"type": "integer", "minimum": 1, "maximum": 12}, "conditions": {"type": "string"}, "signature": signature_schema()}}
    })
}

fn ethics_schemas_c(reason: &Value) -> Value {
    json!({
        "RelianceProposal": {"type": "object", "required": ["site_id", "committee_id"], "additionalProperties": false, "properties": {"site_id": {"type": "string"}, "committee_id": {"type": "string"}}},
        "RelianceMove": {"type": "object", "required": ["to"], "additionalProperties": false, "properties": {
            "to": {"type": "string", "enum": ["agreement_signed", "local_review", "relied", "declined"]}, "agreement": {"type": "string"}, "local_considerations": {"type": "string"}, "reason": reason}},
        "ExpertCreate": {"type": "object", "required": ["name", "affiliation", "tags"], "additionalProperties": false, "properties": {
            "name": {"type": "string"}, "affiliation": {"type": "string", "description": "Organisation id"}, "tags": {"type": "array", "items": {"type": "string", "enum": celltrail_core::ethics::EXPERT_TAGS}}}},
        "ExpertInterest": {"type": "object", "required": ["org_id", "nature"], "additionalProperties": false, "properties": {"org_id": {"type": "string"}, "nature": {"type": "string"}}},
        "SubjectEnrol": {"type": "object", "required": ["code", "enrolled_on"], "additionalProperties": false, "properties": {"code": {"type": "string", "description": "The site's pseudonymous subject code"}, "enrolled_on": {"type": "string", "format": "date"}}},
        "ConsentRecord": {"type": "object", "required": ["version", "signed_on", "method", "age_years", "scopes"], "additionalProperties": false, "properties": {
            "version": {"type": "integer"}, "signed_on": {"type": "string", "format": "date"}, "method": {"type": "string", "enum": ["paper_scanned", "e_consent"]},
            "age_years": {"type": "integer", "minimum": 0}, "can_read": {"type": "boolean"}, "witness": {"type": "string"}, "guardian": {"type": "string"}, "assent": {"type": "boolean"},
            "scopes": {"type": "array", "items": {"type": "string", "enum": ["study_data", "secondary_research", "biobank_storage", "genetic_analysis", "recontact", "share_institutions", "commercial_use"]}}}},
        "Withdrawal": {"type": "object", "required": ["reason"], "additionalProperties": false, "properties": {
            "scopes": {"type": "array", "items": {"type": "string"}}, "whole": {"type": "boolean"}, "samples": {"type": "string", "enum": ["destroy", "retain_anonymised", "retain"]}, "reason": reason}}
    })
}

fn safety_schemas(reason: &Value) -> Value {
    json!({
        "AdverseEvent": {"type": "object", "required": ["project_id", "product", "product_class", "term", "onset", "aware", "severity", "expectedness", "causality", "outcome"], "additionalProperties": false, "properties": {
            "project_id": {"type": "string"}, "subject_id": {"type": "string", "description": "Study subject (ethics module)"}, "patient_id": {"type": "string", "description": "Pseudonymous patient of the chain of custody"},
            "unit_id": {"type": "string"}, "sponsor_id": {"type": "string"}, "product": {"type": "string"}, "product_class": {"type": "string", "enum": celltrail_store::safety::PRODUCT_CLASSES},
            "sex": {"type": "string", "enum": ["female", "male"]}, "age_years": {"type": "number", "minimum": 0}, "term": {"type": "string"}, "meddra_code": {"type": "string", "pattern": "^[0-9]{8}$"}, "meddra_version": {"type": "string"},
            "onset": {"type": "string", "format": "date"}, "aware": {"type": "string", "format": "date", "description": "Day of first awareness: day 0 of the reporting clock"}, "resolved": {"type": "string", "format": "date"},
            "seriousness": {"type": "array", "items": {"type": "string", "enum": ["death", "life_threatening", "hospitalisation", "disability", "congenital_anomaly", "other_important"]}},
            "severity": {"type": "integer", "minimum": 1, "maximum": 5},
            "crs": {"type": "object", "properties": {"temperature_c": {"type": "number"}, "hypotension": {"type": "string", "enum": ["none", "no_vasopressor", "one_vasopressor", "multiple_vasopressors"]}, "hypoxia": {"type": "string", "enum": ["none", "low_flow", "high_flow", "positive_pressure"]}, "fever_masked": {"type": "boolean"}}},
            "icans": {"type": "object", "properties": {"ice_score": {"type": "integer", "minimum": 0, "maximum": 10}, "consciousness": {"type": "string", "enum": ["awake", "awakens_to_voice", "awakens_to_tactile", "unarousable"]}, "seizure": {"type": "string", "enum": ["none", "resolved", "prolonged_or_repetitive"]}, "motor": {"type": "string", "enum": ["none", "deep_focal_weakness"]}, "cerebral_edema": {"type": "string", "enum": ["none", "focal", "diffuse"]}, "age_years": {"type": "number"}, "capd_score": {"type": "integer", "minimum": 0, "maximum": 32}}},
            "expectedness": {"type": "string", "enum": ["expected", "unexpected"]}, "causality": {"type": "string", "enum": ["certain", "probable", "possible", "unlikely", "conditional", "unassessable"]},
            "outcome": {"type": "string", "enum": ["recovered", "recovering", "not_recovered", "recovered_with_sequelae", "fatal", "unknown"]}, "narrative": {"type": "string"}, "reason": reason}},
        "ReportSend": {"type": "object", "required": ["kind", "recipient_id"], "additionalProperties": false, "properties": {
            "kind": {"type": "string", "enum": ["initial", "follow_up"]}, "recipient_id": {"type": "string"}, "sent_on": {"type": "string", "format": "date"}}},
        "LtfuEnrol": {"type": "object", "required": ["project_id", "product", "product_class", "start_on"], "additionalProperties": false, "properties": {
            "project_id": {"type": "string"}, "subject_id": {"type": "string"}, "patient_id": {"type": "string"}, "product": {"type": "string"},
            "product_class": {"type": "string", "enum": celltrail_store::safety::PRODUCT_CLASSES}, "years": {"type": "integer", "minimum": 1, "maximum": 30}, "start_on": {"type": "string", "format": "date"}}},
        "LtfuVisit": {"type": "object", "required": ["number", "done_on", "vital"], "additionalProperties": false, "properties": {
            "number": {"type": "integer", "minimum": 1}, "done_on": {"type": "string", "format": "date"}, "vital": {"type": "string", "enum": ["alive", "dead", "unknown"]}, "new_malignancy": {"type": "boolean"}, "note": {"type": "string"}}},
        "LtfuEnd": {"type": "object", "required": ["status", "on", "reason"], "additionalProperties": false, "properties": {
            "status": {"type": "string", "enum": ["died", "withdrawn", "completed"]}, "on": {"type": "string", "format": "date"}, "reason": reason}},
    })
}

fn trace_schemas_a(reason: &Value) -> Value {
    let c = json!({"type": ["number", "null"], "description": "°C"});
    let din = json!({"type": "string", "description": "ISBT 128 DIN: 13 characters, or with its check character, or as barcode data (=, DIN, flags)"});
    let pc = json!({"type": "string", "description": "ISBT 128 product code, e.g. S1295A00"});
    let limit = json!({"type": "object", "required": ["kind"], "properties": {
        "kind": {"type": "string", "enum": ["at_least", "at_most", "below", "between", "one_of"]},
        "min": {"type": "number"}, "max": {"type": "number"}, "accepted": {"type": "array", "items": {"type": "string"}}}});
    json!({
        "PersonCreate": {"type": "object", "required": ["kind", "identity", "wristband"], "additionalProperties": false, "properties": {
            "kind": {"type": "string", "enum": celltrail_store::trace::PERSON_KINDS}, "project_id": {"type": "string"},
            "identity": {"type": "object", "description": "Identifying data, kept outside the ledger"}, "wristband": {"type": "string", "description": "The hospital wristband code scanned at the bedside"}}},
        "Collection": {"type": "object", "required": ["donor_id", "din", "kind", "eligibility"], "additionalProperties": false, "properties": {
            "donor_id": {"type": "string"}, "patient_id": {"type": "string", "description": "Recipient; the donor (autologous) when absent"},
            "din": din.clone(), "product_code": pc.clone(), "kind": {"type": "string", "enum": ["apheresis", "bone_marrow", "cord_blood", "tissue"]},
            "eligibility": {"type": "string", "enum": ["eligible", "autologous_only", "ineligible"]}, "project_id": {"type": "string"}, "range_min": c.clone(), "range_max": c.clone()}},
        "Shipment": {"type": "object", "required": ["to_org", "shipper", "courier", "unit_ids"], "additionalProperties": false, "properties": {
            "to_org": {"type": "string"}, "shipper": {"type": "string", "enum": ["dry_shipper", "ln2", "2_8c", "ambient"]}, "courier": {"type": "string"},
            "logger_id": {"type": "string"}, "unit_ids": {"type": "array", "items": {"type": "string"}, "minItems": 1}}},
        "Receipt": {"type": "object", "required": ["condition"], "additionalProperties": false, "properties": {"condition": {"type": "string"}}},
        "LoggerFile": {"type": "object", "required": ["csv"], "additionalProperties": false, "properties": {"csv": {"type": "string", "description": "The data logger's CSV export (comma, semicolon or tab; °C or °F)"}}},
        "Assessment": {"type": "object", "required": ["usable", "reason"], "additionalProperties": false, "properties": {"usable": {"type": "boolean"}, "reason": reason}},
        "Process": {"type": "object", "required": ["name", "specs"], "additionalProperties": false, "properties": {
            "id": {"type": "string", "description": "Revise this process"}, "technology_id": {"type": "string"}, "name": {"type": "string"},
            "specs": {"type": "array", "items": {"type": "object", "required": ["test", "stage", "limit"], "properties": {
                "test": {"type": "string"}, "stage": {"type": "string", "enum": ["in_process", "release"]}, "limit": limit, "unit": {"type": "string"}}}},
            "reason": reason}},
        "Equipment": {"type": "object", "required": ["name", "kind", "calibrated_until"], "additionalProperties": false, "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}, "kind": {"type": "string"}, "calibrated_until": {"type": "string", "format": "date"}}},
        "Lot": {"type": "object", "required": ["material", "supplier", "lot", "expires_on", "status"], "additionalProperties": false, "properties": {
            "id": {"type": "string"}, "material": {"type": "string"}, "supplier": {"type": "string"}, "lot": {"type": "string"},
            "expires_on": {"type": "string", "format": "date"}, "status": {"type": "string", "enum": ["released", "quarantine", "rejected"]}}},
        "CellBank": {"type": "object", "required": ["kind", "cell_line", "passage", "passage_limit", "vials"], "additionalProperties": false, "properties": {
            "id": {"type": "string"}, "kind": {"type": "string", "enum": ["master", "working"]}, "parent_id": {"type": "string"}, "donor_id": {"type": "string"},
            "cell_line": {"type": "string"}, "passage": {"type": "integer", "minimum": 0}, "passage_limit": {"type": "integer", "minimum": 1}, "vials": {"type": "integer", "minimum": 1}}}
    })
}

fn trace_schemas_b(reason: &Value) -> Value {
    json!({
        "BatchStart": {"type": "object", "required": ["process_id"], "additionalProperties": false, "properties": {
            "process_id": {"type": "string"}, "input_units": {"type": "array", "items": {"type": "string"}}, "cell_bank_id": {"type": "string"}, "site_id": {"type": "string"}}},
        "Step": {"type": "object", "required": ["step"], "additionalProperties": false, "properties": {
            "step": {"type": "string"}, "equipment_id": {"type": "string"}, "lots": {"type": "array", "items": {"type": "string"}}, "passages": {"type": "integer", "minimum": 0, "maximum": 20}}},
        "TestResult": {"type": "object", "required": ["test", "stage", "value"], "additionalProperties": false, "properties": {
            "test": {"type": "string", "description": "A test of the process specification, e.g. sterility, mycoplasma, endotoxin, viability, cd3_purity, vector_copy_number"},
            "stage": {"type": "string", "enum": ["in_process", "release"]}, "value": {"type": "string"}}},
        "DeviationClosure": {"type": "object", "required": ["disposition", "note"], "additionalProperties": false, "properties": {
            "disposition": {"type": "string", "enum": ["continue", "reject"]}, "note": {"type": "string"}}},
        "UnitsMade": {"type": "object", "required": ["units", "location"], "additionalProperties": false, "properties": {
            "units": {"type": "array", "items": {"type": "object", "required": ["din", "expires_on"], "properties": {"din": {"type": "string"}, "product_code": {"type": "string"}, "expires_on": {"type": "string", "format": "date"}}}},
            "location": {"type": "string"}, "range_min": {"type": ["number", "null"]}, "range_max": {"type": ["number", "null"]}}},
        "Release": {"type": "object", "required": ["signature"], "additionalProperties": false, "properties": {"signature": signature_schema()}},
        "Storage": {"type": "object", "required": ["location"], "additionalProperties": false, "properties": {"location": {"type": "string"}}},
        "Bedside": {"type": "object", "required": ["scans", "second"], "additionalProperties": false, "properties": {
            "scans": {"type": "object", "required": ["wristband", "coi", "bag"], "properties": {"wristband": {"type": "string"}, "coi": {"type": "string"}, "bag": {"type": "string"}}},
            "second": {"type": "object", "required": ["username", "password"], "description": "The second person re-enters their credentials", "properties": {"username": {"type": "string"}, "password": {"type": "string"}}}}},
        "Administration": {"type": "object", "required": ["check_id"], "additionalProperties": false, "properties": {"check_id": {"type": "string"}, "note": {"type": "string"}}},
        "Disposal": {"type": "object", "required": ["reason_code", "reason"], "additionalProperties": false, "properties": {
            "returned": {"type": "boolean"}, "reason_code": {"type": "string", "enum": celltrail_store::trace::WASTE_REASONS}, "reason": reason}},
        "Halt": {"type": "object", "required": ["kind", "target_id", "reason", "signature"], "additionalProperties": false, "properties": {
            "kind": {"type": "string", "enum": celltrail_store::trace::HALT_KINDS}, "target_id": {"type": "string"}, "lift": {"type": "boolean", "description": "Lift the halt (放行)"},
            "reason": reason, "signature": signature_schema()}}
    })
}

fn schemas() -> Value {
    let reason = json!({"type": "string", "description": "Reason for change, recorded in the ledger with the event"});
    let mut out = json!({
        "Error": error_schema(),
        "OrgCreate": {"type": "object", "required": ["org_type", "name_zh", "name_en", "province_code", "reason"], "additionalProperties": false, "properties": {
            "id": {"type": "string"}, "org_type": {"type": "string", "enum": ["medical_institution", "preparation_centre", "ethics_committee", "regulator", "verification_lab", "sponsor", "payer", "platform"]},
            "name_zh": {"type": "string"}, "name_en": {"type": "string"}, "uscc": {"type": "string", "description": "Unified Social Credit Code (GB 32100-2015), 18 characters with check character"},
            "province_code": {"type": "string", "description": "GB/T 2260 two-digit code; 00 for national bodies"}, "city_zh": {"type": "string"}, "city_en": {"type": "string"},
            "grade": {"type": "string", "enum": ["3A", "3B", "3C", "2A", "2B", "2C", "1A", "1B", "1C"]}, "address_zh": {"type": "string"}, "address_en": {"type": "string"}, "reason": reason}},
        "QualificationCreate": {"type": "object", "required": ["kind", "number", "valid_from", "reason"], "additionalProperties": false, "properties": {
            "kind": {"type": "string", "enum": celltrail_store::service::QUALIFICATION_KINDS}, "number": {"type": "string"}, "issuer_zh": {"type": "string"}, "issuer_en": {"type": "string"},
            "valid_from": {"type": "string", "format": "date"}, "valid_to": {"type": "string", "format": "date"}, "reason": reason}},
        "UserCreate": {"type": "object", "required": ["org_id", "username", "display_name", "roles", "password", "reason"], "additionalProperties": false, "properties": {
            "org_id": {"type": "string"}, "username": {"type": "string"}, "display_name": {"type": "string"}, "email": {"type": "string"},
            "roles": {"type": "array", "items": {"type": "string"}}, "password": {"type": "string", "minLength": 12}, "reason": reason}},
        "ProjectCreate": {"type": "object", "required": ["kind", "title_zh", "title_en", "category", "pi_name"], "additionalProperties": false, "properties": {
            "kind": {"type": "string", "enum": ["technology", "clinical_research"]}, "title_zh": {"type": "string"}, "title_en": {"type": "string"},
            "summary_zh": {"type": "string"}, "summary_en": {"type": "string"}, "category": {"type": "string", "enum": celltrail_store::service::CATEGORIES}, "pi_name": {"type": "string"}, "reason": reason}},
        "ProjectAction": {"type": "object", "required": ["action"], "additionalProperties": false, "properties": {
            "action": {"type": "string", "enum": ["submit", "return", "accept", "file", "suspend", "resume", "terminate", "complete"]},
            "reason": reason,
            "signature": {"type": "object", "required": ["username", "password", "meaning", "record_hash"], "description": "Electronic signature (21 CFR 11.50/11.200): user name and password again, the meaning, and the record_hash shown by GET /api/v1/projects/{id}", "properties": {
                "username": {"type": "string"}, "password": {"type": "string"}, "meaning": {"type": "string", "enum": ["authored", "reviewed", "approved", "responsible"]}, "record_hash": {"type": "string"}}}}},
        "ClassifyRequest": {"type": "object", "required": ["profile"], "additionalProperties": false, "properties": {
            "profile": profile_schema(),
            "as_of": {"type": "string", "format": "date", "description": "The day the rules are read as of; today if absent"},
            "region": {"type": "string", "description": "A region whose own pack replaces the national rules it covers"}}},
        "Reason": {"type": "object", "required": ["reason"], "additionalProperties": false, "properties": {"reason": reason.clone()}},
        "ProjectClassify": {"type": "object", "required": ["profile"], "additionalProperties": false, "properties": {
            "profile": profile_schema(),
            "region": {"type": "string", "description": "A region whose own pack replaces the national rules it covers"},
            "reason": reason.clone()}},
        "TokenCreate": {"type": "object", "required": ["name", "scopes"], "additionalProperties": false, "properties": {
            "name": {"type": "string"}, "scopes": {"type": "array", "items": {"type": "string"}}, "expires_in_days": {"type": "integer", "minimum": 0, "maximum": 3650}}}
    });
    for more in [
        ethics_schemas_a(&reason),
        ethics_schemas_b(),
        ethics_schemas_c(&reason),
        trace_schemas_a(&reason),
        trace_schemas_b(&reason),
        safety_schemas(&reason),
    ] {
        if let (Some(all), Value::Object(m)) = (out.as_object_mut(), more) {
            all.extend(m);
        }
    }
    out
}

fn operation(r: &RouteSpec) -> Value {
    let mut op = Map::new();
    op.insert("operationId".into(), json!(r.operation));
    op.insert("summary".into(), json!(r.summary));
    op.insert("tags".into(), json!([r.tag]));
    let params: Vec<Value> = r
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    if !params.is_empty() {
        op.insert("parameters".into(), json!(params));
    }
    if let Some(body) = r.body {
        op.insert("requestBody".into(), json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}}}));
    }
    let err = json!({"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let mut responses = Map::new();
    let ok = if r.method == "POST" && r.body.is_some() && !r.path.ends_with("/actions") {
        "201"
    } else if r.method == "DELETE" {
        "204"
    } else {
        "200"
    };
    responses.insert(
        ok.into(),
        json!({"description": "Success", "content": {"application/json": {}}}),
    );
    responses.insert("4XX".into(), err.clone());
    responses.insert("5XX".into(), err);
    op.insert("responses".into(), Value::Object(responses));
    match r.access {
        Access::Public => {
            op.insert("security".into(), json!([]));
        }
        Access::SignedIn => {
            op.insert("x-permission".into(), json!(null));
        }
        Access::Perm(p) => {
            op.insert("x-permission".into(), json!(p.as_str()));
        }
    }
    Value::Object(op)
}

/// The whole document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for r in ROUTES.iter().filter(|r| r.kind == Kind::Api) {
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method.to_lowercase()] = operation(r);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "CellTrail API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Cell and gene therapy chain-of-governance platform. Every write is a signed, hash-chained ledger event with a reason for change.",
                 "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "API token created at POST /api/v1/tokens"},
                "session": {"type": "apiKey", "in": "cookie", "name": "__Host-ct_session", "description": "Browser session; writes also need the X-CSRF-Token header"}
            }
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(build())
}

#[derive(Template)]
#[template(path = "api_docs.html")]
struct DocsPage {
    ctx: PageCtx,
    routes: Vec<DocRow>,
}

struct DocRow {
    method: &'static str,
    path: &'static str,
    operation: &'static str,
    permission: String,
}

pub async fn docs_page(headers: HeaderMap, uri: Uri) -> Response {
    let lang = lang_of(&headers, uri.query());
    let ctx = PageCtx::new(lang, None, &uri, "api.title");
    let routes = ROUTES
        .iter()
        .filter(|r| r.kind == Kind::Api)
        .map(|r| DocRow {
            method: r.method,
            path: r.path,
            operation: r.operation,
            permission: match r.access {
                Access::Public => ctx.t("api.public").to_string(),
                Access::SignedIn => ctx.t("api.signed_in").to_string(),
                Access::Perm(p) => p.as_str().to_string(),
            },
        })
        .collect();
    render(&DocsPage { ctx, routes })
}
