//! ICH E2B(R3) individual case safety reports (ICSRs) as HL7 v3 XML.
//!
//! [`write_batch`] builds the message the ICH E2B(R3) Implementation Guide
//! (IG) specifies: an `MCCI_IN200100UV01` batch wrapper (N.1) around one
//! `PORR_IN049016UV` message (N.2.r) per case, each holding a
//! `controlActProcess` whose `investigationEvent` is the case. [`write_xml`]
//! wraps a single case. [`read_xml`] reads every case of such a batch (or of
//! a bare `PORR_IN049016UV` message) back into [`Icsr`] values. Element
//! paths, identifier roots and code systems follow the IG and the ICH
//! reference instances; the ICH OID root is `2.16.840.1.113883.3.989.2.1`
//! (`.3.n` identifier namespaces, `.1.n` code lists). Comments name the IG
//! data elements.
//!
//! Carried: C.1.1–C.1.5, C.1.7, C.1.8.1, C.2.r (given and family name,
//! organisation, country, qualification), C.3.1–C.3.2, C.5 (registration
//! number, study name, sponsor study number), D.1, D.1.1.4, D.2.2, D.5,
//! D.9.1, E.i (native-language term and its language, MedDRA version and
//! LLT, the six seriousness criteria, start, end, outcome), G.k (role,
//! product name, batch/lot, start date, causality assessments) and H.1.
//! Other elements of an imported message are skipped. Three required
//! elements the model does not hold are written with fixed values: C.1.6.1
//! "additional documents available" is `false` (no documents travel with
//! the message), C.1.8.2 "first sender" is derived from C.3.1 (1 regulator
//! when the sender is a regulatory authority, otherwise 2 other), and
//! C.1.9.1 "other case identifiers" is null flavour `NI`.
//!
//! Rules of the house:
//!
//! * A case is only read, or written by [`write_checked`], when it holds
//!   the minimum case of ICH E2D §5.1 and the IG (an identifiable patient,
//!   an identifiable reporter, a reaction, a suspect or interacting
//!   product); see [`minimum_case`].
//! * XML 1.0 (§2.2) cannot carry most C0 control characters, nor U+FFFE and
//!   U+FFFF. [`validate`] (and so [`write_checked`] and [`read_xml`])
//!   refuses a string holding one with `e2b_char_invalid` and the element's
//!   number, so that what is exported is exactly what was recorded; the
//!   unchecked [`write_xml`] leaves such characters out rather than emit
//!   XML no parser accepts. Tabs, line feeds and carriage returns are kept
//!   (written as character references where XML would normalise them).
//! * The reader is a small XML 1.0 parser of its own: documents with a
//!   document type declaration are refused (no DTDs, so no entity
//!   expansion), nesting is limited to [`MAX_DEPTH`], and no input makes it
//!   panic. Every error carries a stable code, the element at fault and the
//!   line.
//! * Round trip: for a case that passes [`validate`] and [`minimum_case`],
//!   `read_xml(&write_xml(c))?[0] == *c`, and exporting that again gives
//!   the same bytes. C.1.2 is carried to the second. `reporters[0]` is the
//!   primary source for regulatory purposes (C.2.r.5); on import the
//!   flagged source is moved to the front.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------
// The case
// ---------------------------------------------------------------------------

/// One individual case safety report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Icsr {
    /// C.1.1 sender's (case) safety report unique identifier.
    pub safety_report_id: String,
    /// C.1.8.1 worldwide unique case identification number.
    pub worldwide_case_id: String,
    /// C.1.2 date of creation, written as `YYYYMMDDHHMMSS`.
    pub created: NaiveDateTime,
    /// C.1.3 type of report: 1 spontaneous, 2 report from study, 3 other,
    /// 4 not available to sender (unknown).
    pub report_type: u8,
    /// C.1.4 date report was first received from source.
    pub first_received: NaiveDate,
    /// C.1.5 date of most recent information for this report.
    pub most_recent: NaiveDate,
    /// C.1.7 does this case fulfil the local criteria for an expedited
    /// report?
    pub expedited: bool,
    /// C.3 information on the sender.
    pub sender: Sender,
    /// C.2.r primary sources; the first is the primary source for
    /// regulatory purposes (C.2.r.5).
    pub reporters: Vec<Reporter>,
    /// D patient characteristics.
    pub patient: Patient,
    /// E.i reactions / events.
    pub reactions: Vec<Reaction>,
    /// G.k drugs.
    pub drugs: Vec<Drug>,
    /// H.1 case narrative.
    pub narrative: String,
    /// C.5 study identification.
    pub study: Option<Study>,
}

/// C.3 the sender of the report.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Sender {
    /// C.3.1 sender type: 1 pharmaceutical company, 2 regulatory authority,
    /// 3 health professional, 4 regional pharmacovigilance centre, 5 WHO
    /// collaborating centre for international drug monitoring, 6 other,
    /// 7 patient / consumer.
    pub sender_type: u8,
    /// C.3.2 sender's organisation.
    pub organisation: String,
}

/// C.2.r one primary source of the report.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reporter {
    /// C.2.r.1.2 reporter's given name.
    pub given_name: Option<String>,
    /// C.2.r.1.4 reporter's family name.
    pub family_name: Option<String>,
    /// C.2.r.2.1 reporter's organisation.
    pub organisation: Option<String>,
    /// C.2.r.3 reporter's country code, ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// C.2.r.4 qualification: 1 physician, 2 pharmacist, 3 other health
    /// professional, 4 lawyer, 5 consumer or other non-health professional.
    pub qualification: Option<u8>,
}

/// D the patient.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct Patient {
    /// D.1 patient (name or initials).
    pub initials: Option<String>,
    /// D.1.1.4 patient record number: investigation (study subject) number.
    pub study_subject_id: Option<String>,
    /// D.2.2 age at time of onset of reaction / event.
    pub age: Option<Age>,
    /// D.5 sex: 1 male, 2 female (ISO 5218 codes as E2B uses them).
    pub sex: Option<u8>,
    /// D.9.1 date of death.
    pub death_date: Option<NaiveDate>,
}

/// D.2.2a/b an age with its unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Age {
    /// D.2.2a the number, finite and not negative.
    pub value: f64,
    /// D.2.2b the UCUM unit: `10.a` decade, `a` year, `mo` month, `wk`
    /// week, `d` day, `h` hour.
    pub unit: String,
}

/// E.i one reaction or event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    /// E.i.1.1a reaction / event as reported by the primary source in the
    /// native language.
    pub term: String,
    /// E.i.1.1b its language: an ISO 639 code of two or three letters,
    /// optionally with subtags (the IG asks for ISO 639-2 alpha-3 such as
    /// `zho`, `eng`; the ICH reference instance writes `JA`); empty when
    /// not given.
    pub language: String,
    /// E.i.2.1a MedDRA version, e.g. `27.0`.
    pub meddra_version: Option<String>,
    /// E.i.2.1b MedDRA lowest level term code (eight digits).
    pub meddra_llt: Option<String>,
    /// E.i.3.2a–f seriousness criteria.
    pub seriousness: Seriousness,
    /// E.i.4 date of start of reaction / event.
    pub start: Option<NaiveDate>,
    /// E.i.5 date of end of reaction / event.
    pub end: Option<NaiveDate>,
    /// E.i.7 outcome at the time of last observation (E2B(R3) code list):
    /// 0 unknown, 1 recovered / resolved, 2 recovering / resolving, 3 not
    /// recovered / not resolved / ongoing, 4 recovered / resolved with
    /// sequelae, 5 fatal.
    pub outcome: Option<u8>,
}

/// E.i.3.2 seriousness criteria at event level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Seriousness {
    /// E.i.3.2a results in death.
    pub death: bool,
    /// E.i.3.2b life threatening.
    pub life_threatening: bool,
    /// E.i.3.2c caused / prolonged hospitalisation.
    pub hospitalisation: bool,
    /// E.i.3.2d disabling / incapacitating.
    pub disability: bool,
    /// E.i.3.2e congenital anomaly / birth defect.
    pub congenital_anomaly: bool,
    /// E.i.3.2f other medically important condition.
    pub other_important: bool,
}

/// G.k one drug.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Drug {
    /// G.k.1 characterisation of drug role: 1 suspect, 2 concomitant,
    /// 3 interacting, 4 drug not administered.
    pub role: u8,
    /// G.k.2.2 medicinal product name as reported by the primary source.
    pub name: String,
    /// G.k.4.r.7 batch / lot number.
    pub batch: Option<String>,
    /// G.k.4.r.4 date of start of drug.
    pub start: Option<NaiveDate>,
    /// G.k.9.i.2.r assessments of relatedness of this drug to reactions.
    pub assessments: Vec<Assessment>,
}

/// G.k.9.i.2.r one assessment of relatedness of a drug to a reaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// G.k.9.i.1 which reaction (index into [`Icsr::reactions`]).
    pub reaction_index: usize,
    /// G.k.9.i.2.r.1 source of assessment, e.g. `Investigator`.
    pub source: String,
    /// G.k.9.i.2.r.2 method of assessment, e.g. `Global introspection`.
    pub method: String,
    /// G.k.9.i.2.r.3 result of assessment, e.g. `Related`.
    pub result: String,
}

/// C.5 study identification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Study {
    /// C.5.2 study name.
    pub name: String,
    /// C.5.3 sponsor study number.
    pub sponsor_number: Option<String>,
    /// C.5.1.r.1 study registration number (the first).
    pub registration: Option<String>,
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a report cannot be written or read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}")]
pub struct E2bError {
    /// Stable code; the message is `error.<code>`.
    pub code: &'static str,
    /// The data element at fault, e.g. `E.i.7 #2` (the number after `#`
    /// counts repeats from 1), or an element name for structural faults.
    pub field: Option<String>,
    /// For `e2b_minimum_case`: which of [`MINIMUM_ITEMS`] are missing.
    pub missing: Vec<&'static str>,
    /// 1-based line of the XML document, when reading.
    pub line: Option<usize>,
}

/// Every code an [`E2bError`] can carry.
pub const ERROR_CODES: &[&str] = &[
    "e2b_xml_malformed",
    "e2b_xml_too_deep",
    "e2b_xml_doctype",
    "e2b_root_invalid",
    "e2b_batch_empty",
    "e2b_element_missing",
    "e2b_code_invalid",
    "e2b_date_invalid",
    "e2b_date_partial",
    "e2b_value_invalid",
    "e2b_reference_invalid",
    "e2b_char_invalid",
    "e2b_minimum_case",
];

/// The four parts of the minimum case, in the order they are reported;
/// the catalogue names each as `e2b.minimum.<item>`.
pub const MINIMUM_ITEMS: &[&str] = &["patient", "reporter", "reaction", "suspect_drug"];

impl E2bError {
    fn new(code: &'static str, field: impl Into<String>) -> Self {
        E2bError {
            code,
            field: Some(field.into()),
            missing: Vec::new(),
            line: None,
        }
    }

    fn at_line(code: &'static str, line: usize) -> Self {
        E2bError {
            code,
            field: None,
            missing: Vec::new(),
            line: Some(line),
        }
    }

    /// Sets the line when none is known yet.
    fn or_line(mut self, line: usize) -> Self {
        self.line.get_or_insert(line);
        self
    }

    /// Stable code; the message is `error.<code>`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Named arguments for the catalogue message: `field`, `missing` (the
    /// item codes joined by `, `) and `line`, each when known.
    pub fn args(&self) -> Vec<(&'static str, String)> {
        let mut a = Vec::new();
        if let Some(f) = &self.field {
            a.push(("field", f.clone()));
        }
        if !self.missing.is_empty() {
            a.push(("missing", self.missing.join(", ")));
        }
        if let Some(l) = self.line {
            a.push(("line", l.to_string()));
        }
        a
    }

    /// The missing parts of the minimum case in words of `lang`, from the
    /// catalogue keys `e2b.minimum.<item>`.
    pub fn missing_text(&self, lang: crate::Lang) -> String {
        let cat = crate::i18n::catalog();
        let words: Vec<String> = self
            .missing
            .iter()
            .map(|m| cat.get(lang, &format!("e2b.minimum.{m}")).to_string())
            .collect();
        words.join(crate::pick(lang, "、", ", "))
    }
}

type Result<T> = std::result::Result<T, E2bError>;

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

fn present(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !blank(s))
}

/// Whether the patient is identifiable: ICH E2D §5.1 and the IG's minimum
/// case accept any one of initials (D.1), a patient or subject number
/// (D.1.1.x), age (D.2.2) or sex (D.5). Date of birth and age group also
/// qualify but are not carried here.
fn patient_identifiable(p: &Patient) -> bool {
    present(&p.initials) || present(&p.study_subject_id) || p.age.is_some() || p.sex.is_some()
}

/// Whether a primary source is identifiable: ICH E2D §5.1 accepts a name
/// (C.2.r.1), the reporter's organisation or address (C.2.r.2) or the
/// qualification (C.2.r.4). A country code alone does not identify a
/// reporter.
fn reporter_identifiable(r: &Reporter) -> bool {
    present(&r.given_name)
        || present(&r.family_name)
        || present(&r.organisation)
        || r.qualification.is_some()
}

/// The minimum case of ICH E2D §5.1 ("an identifiable reporter, an
/// identifiable patient, an adverse reaction and a suspect product"),
/// which the E2B(R3) IG makes the floor of every ICSR: a report lacking
/// any part is refused with `e2b_minimum_case` and the parts missing, in
/// the order of [`MINIMUM_ITEMS`]. A reaction needs a reported term
/// (E.i.1.1a) or a MedDRA code (E.i.2.1b); the product must be suspect or
/// interacting (G.k.1 = 1 or 3) and named (G.k.2.2).
pub fn minimum_case(case: &Icsr) -> Result<()> {
    let mut missing = Vec::new();
    if !patient_identifiable(&case.patient) {
        missing.push("patient");
    }
    if !case.reporters.iter().any(reporter_identifiable) {
        missing.push("reporter");
    }
    if !case
        .reactions
        .iter()
        .any(|r| !blank(&r.term) || present(&r.meddra_llt))
    {
        missing.push("reaction");
    }
    if !case
        .drugs
        .iter()
        .any(|d| matches!(d.role, 1 | 3) && !blank(&d.name))
    {
        missing.push("suspect_drug");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(E2bError {
            code: "e2b_minimum_case",
            field: None,
            missing,
            line: None,
        })
    }
}

/// Whether XML 1.0 (§2.2, production `Char`) can carry the character.
fn xml_char(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

fn check_chars(s: &str, field: &str) -> Result<()> {
    if s.chars().all(xml_char) {
        Ok(())
    } else {
        Err(E2bError::new("e2b_char_invalid", field))
    }
}

fn check_opt(s: &Option<String>, field: &str) -> Result<()> {
    match s {
        Some(s) => check_chars(s, field),
        None => Ok(()),
    }
}

fn check_required(s: &str, field: &str) -> Result<()> {
    check_chars(s, field)?;
    if blank(s) {
        return Err(E2bError::new("e2b_element_missing", field));
    }
    Ok(())
}

fn check_code(v: u8, range: std::ops::RangeInclusive<u8>, field: &str) -> Result<()> {
    if range.contains(&v) {
        Ok(())
    } else {
        Err(E2bError::new("e2b_code_invalid", field))
    }
}

/// Years outside 1–9999 cannot be written in the four digits of an HL7
/// timestamp.
fn check_date(d: NaiveDate, field: &str) -> Result<()> {
    if (1..=9999).contains(&d.year()) {
        Ok(())
    } else {
        Err(E2bError::new("e2b_date_invalid", field))
    }
}

/// The UCUM units of the ICH age-unit list for D.2.2b: decade (`10.a`),
/// year, month, week, day, hour.
const AGE_UNITS: &[&str] = &["10.a", "a", "mo", "wk", "d", "h"];

fn is_meddra_code(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit())
}

/// MedDRA versions are written `27.0`; `15` also occurs in the ICH
/// reference instance.
fn is_meddra_version(s: &str) -> bool {
    let mut parts = s.splitn(2, '.');
    let major = parts.next().unwrap_or("");
    let minor = parts.next();
    let digits = |p: &str| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
    digits(major) && minor.is_none_or(digits)
}

/// An ISO 639 language code (two or three letters), optionally with
/// subtags such as `zh-Hans`; empty means not given.
fn is_language(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let mut parts = s.split('-');
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn is_country(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

fn nth(field: &str, i: usize) -> String {
    format!("{field} #{}", i + 1)
}

/// Checks everything the message needs apart from the minimum case:
/// required identifiers (C.1.1, C.1.8.1, C.3.2) present, codes inside
/// their E2B(R3) code lists, dates writable, the age a finite number with
/// an allowed unit, MedDRA codes of eight digits, causality assessments
/// pointing at existing reactions, and no character XML 1.0 cannot carry.
pub fn validate(case: &Icsr) -> Result<()> {
    check_required(&case.safety_report_id, "C.1.1")?;
    check_required(&case.worldwide_case_id, "C.1.8.1")?;
    check_date(case.created.date(), "C.1.2")?;
    check_code(case.report_type, 1..=4, "C.1.3")?;
    check_date(case.first_received, "C.1.4")?;
    check_date(case.most_recent, "C.1.5")?;
    check_code(case.sender.sender_type, 1..=7, "C.3.1")?;
    check_required(&case.sender.organisation, "C.3.2")?;
    for (i, r) in case.reporters.iter().enumerate() {
        check_opt(&r.given_name, &nth("C.2.r.1.2", i))?;
        check_opt(&r.family_name, &nth("C.2.r.1.4", i))?;
        check_opt(&r.organisation, &nth("C.2.r.2.1", i))?;
        if let Some(c) = &r.country {
            if !is_country(c) {
                return Err(E2bError::new("e2b_code_invalid", nth("C.2.r.3", i)));
            }
        }
        if let Some(q) = r.qualification {
            check_code(q, 1..=5, &nth("C.2.r.4", i))?;
        }
    }
    if let Some(s) = &case.study {
        check_chars(&s.name, "C.5.2")?;
        check_opt(&s.sponsor_number, "C.5.3")?;
        check_opt(&s.registration, "C.5.1.r.1 #1")?;
    }
    let p = &case.patient;
    check_opt(&p.initials, "D.1")?;
    check_opt(&p.study_subject_id, "D.1.1.4")?;
    if let Some(a) = &p.age {
        if !a.value.is_finite() || a.value < 0.0 {
            return Err(E2bError::new("e2b_value_invalid", "D.2.2a"));
        }
        if !AGE_UNITS.contains(&a.unit.as_str()) {
            return Err(E2bError::new("e2b_code_invalid", "D.2.2b"));
        }
    }
    if let Some(s) = p.sex {
        check_code(s, 1..=2, "D.5")?;
    }
    if let Some(d) = p.death_date {
        check_date(d, "D.9.1")?;
    }
    for (i, r) in case.reactions.iter().enumerate() {
        check_chars(&r.term, &nth("E.i.1.1a", i))?;
        if !is_language(&r.language) {
            return Err(E2bError::new("e2b_code_invalid", nth("E.i.1.1b", i)));
        }
        if let Some(v) = &r.meddra_version {
            if !is_meddra_version(v) {
                return Err(E2bError::new("e2b_code_invalid", nth("E.i.2.1a", i)));
            }
        }
        if let Some(c) = &r.meddra_llt {
            if !is_meddra_code(c) {
                return Err(E2bError::new("e2b_code_invalid", nth("E.i.2.1b", i)));
            }
        }
        if let Some(d) = r.start {
            check_date(d, &nth("E.i.4", i))?;
        }
        if let Some(d) = r.end {
            check_date(d, &nth("E.i.5", i))?;
        }
        if let Some(o) = r.outcome {
            check_code(o, 0..=5, &nth("E.i.7", i))?;
        }
    }
    for (k, d) in case.drugs.iter().enumerate() {
        check_code(d.role, 1..=4, &nth("G.k.1", k))?;
        check_chars(&d.name, &nth("G.k.2.2", k))?;
        check_opt(&d.batch, &nth("G.k.4.r.7", k))?;
        if let Some(s) = d.start {
            check_date(s, &nth("G.k.4.r.4", k))?;
        }
        for a in &d.assessments {
            if a.reaction_index >= case.reactions.len() {
                return Err(E2bError::new("e2b_reference_invalid", nth("G.k.9.i.1", k)));
            }
            check_chars(&a.source, &nth("G.k.9.i.2.r.1", k))?;
            check_chars(&a.method, &nth("G.k.9.i.2.r.2", k))?;
            check_chars(&a.result, &nth("G.k.9.i.2.r.3", k))?;
        }
    }
    check_chars(&case.narrative, "H.1")?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Identifier roots and code systems (IG Appendix: ICH OIDs)
// ---------------------------------------------------------------------------

/// N.1.2 batch number.
const OID_BATCH: &str = "2.16.840.1.113883.3.989.2.1.3.22";
/// N.1.3 batch sender identifier.
const OID_BATCH_SENDER: &str = "2.16.840.1.113883.3.989.2.1.3.13";
/// N.1.4 batch receiver identifier.
const OID_BATCH_RECEIVER: &str = "2.16.840.1.113883.3.989.2.1.3.14";
/// N.2.r.1 message identifier and C.1.1 safety report identifier.
const OID_REPORT_ID: &str = "2.16.840.1.113883.3.989.2.1.3.1";
/// N.2.r.2 message sender identifier.
const OID_MSG_SENDER: &str = "2.16.840.1.113883.3.989.2.1.3.11";
/// N.2.r.3 message receiver identifier.
const OID_MSG_RECEIVER: &str = "2.16.840.1.113883.3.989.2.1.3.12";
/// C.1.8.1 worldwide unique case identification number.
const OID_WORLDWIDE_ID: &str = "2.16.840.1.113883.3.989.2.1.3.2";
/// C.5.3 sponsor study number.
const OID_SPONSOR_STUDY: &str = "2.16.840.1.113883.3.989.2.1.3.5";
/// C.5.1.r.1 study registration number.
const OID_STUDY_REGISTRATION: &str = "2.16.840.1.113883.3.989.2.1.3.6";
/// D.1.1.4 investigation (subject) number.
const OID_INVESTIGATION_NUMBER: &str = "2.16.840.1.113883.3.989.2.1.3.10";
/// N.1.1 type of messages in batch (1 = ichicsr).
const CS_MESSAGE_TYPE: &str = "2.16.840.1.113883.3.989.2.1.1.1";
/// C.1.3 type of report.
const CS_REPORT_TYPE: &str = "2.16.840.1.113883.3.989.2.1.1.2";
/// C.1.8.2 first sender of this case.
const CS_FIRST_SENDER: &str = "2.16.840.1.113883.3.989.2.1.1.3";
/// D.1.1.x source of the record number (4 = investigation).
const CS_RECORD_SOURCE: &str = "2.16.840.1.113883.3.989.2.1.1.4";
/// C.2.r.4 qualification.
const CS_QUALIFICATION: &str = "2.16.840.1.113883.3.989.2.1.1.6";
/// C.3.1 sender type.
const CS_SENDER_TYPE: &str = "2.16.840.1.113883.3.989.2.1.1.7";
/// E.i.7 outcome of reaction / event.
const CS_OUTCOME: &str = "2.16.840.1.113883.3.989.2.1.1.11";
/// G.k.1 characterisation of drug role.
const CS_DRUG_ROLE: &str = "2.16.840.1.113883.3.989.2.1.1.13";
/// ICH observation codes (age, reaction, seriousness criteria, …).
const CS_OBSERVATION: &str = "2.16.840.1.113883.3.989.2.1.1.19";
/// ICH organizer categories (4 = drug information).
const CS_ORGANIZER: &str = "2.16.840.1.113883.3.989.2.1.1.20";
/// Report relation codes (1 initial report, 2 source report).
const CS_REPORT_RELATION: &str = "2.16.840.1.113883.3.989.2.1.1.22";
/// Investigation characteristics (1 report type, 2 other case ids).
const CS_CHARACTERISTIC: &str = "2.16.840.1.113883.3.989.2.1.1.23";
const CS_MEDDRA: &str = "2.16.840.1.113883.6.163";
const CS_ISO3166: &str = "1.0.3166.1.2.2";
const CS_ISO5218: &str = "1.0.5218";
const OID_HL7_INTERACTION: &str = "2.16.840.1.113883.1.6";
const CS_HL7_TRIGGER: &str = "2.16.840.1.113883.1.18";
const CS_HL7_ACT_CODE: &str = "2.16.840.1.113883.5.4";
const NS_HL7: &str = "urn:hl7-org:v3";
const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// E.i.3.2a–f: the observation code of each seriousness criterion.
const SERIOUSNESS_CODES: [&str; 6] = ["34", "21", "33", "35", "12", "26"];

impl Seriousness {
    fn flags(&self) -> [bool; 6] {
        [
            self.death,
            self.life_threatening,
            self.hospitalisation,
            self.disability,
            self.congenital_anomaly,
            self.other_important,
        ]
    }

    fn set(&mut self, i: usize, v: bool) {
        match i {
            0 => self.death = v,
            1 => self.life_threatening = v,
            2 => self.hospitalisation = v,
            3 => self.disability = v,
            4 => self.congenital_anomaly = v,
            _ => self.other_important = v,
        }
    }
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// A small indenting XML writer; every value passes through the escapes.
struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn start(&mut self, name: &str, attrs: &[(&str, &str)]) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_attr(v, &mut self.out);
            self.out.push('"');
        }
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start(name, attrs);
        self.out.push_str("/>\n");
    }

    fn text(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.start(name, attrs);
        self.out.push('>');
        escape_text(text, &mut self.out);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn el(&mut self, name: &str, attrs: &[(&str, &str)], body: impl FnOnce(&mut Xml)) {
        self.start(name, attrs);
        self.out.push_str(">\n");
        self.depth += 1;
        body(self);
        self.depth -= 1;
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// An HL7 II; an empty extension is written as null flavour `UNK`.
    fn id(&mut self, root: &str, extension: &str) {
        if extension.is_empty() {
            self.empty("id", &[("root", root), ("nullFlavor", "UNK")]);
        } else {
            self.empty("id", &[("root", root), ("extension", extension)]);
        }
    }

    /// An HL7 II of case data: the extension is written even when empty,
    /// so that it reads back as it was.
    fn id_of(&mut self, root: &str, extension: &str) {
        self.empty("id", &[("root", root), ("extension", extension)]);
    }

    fn code(&mut self, code: &str, system: &str, display: &str) {
        self.empty(
            "code",
            &[
                ("code", code),
                ("codeSystem", system),
                ("displayName", display),
            ],
        );
    }
}

/// Character data: `&`, `<` and `>` as entities, CR as a character
/// reference so that XML line-end handling (§2.11) keeps it. Characters
/// XML cannot carry are left out ([`write_checked`] refuses them instead).
fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c if !xml_char(c) => {}
            _ => out.push(c),
        }
    }
}

/// Attribute values: as text, plus `"`, and TAB, LF and CR as character
/// references so that attribute-value normalisation (§3.3.3) keeps them.
fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if !xml_char(c) => {}
            _ => out.push(c),
        }
    }
}

fn ts_date(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

fn ts_datetime(t: NaiveDateTime) -> String {
    t.format("%Y%m%d%H%M%S").to_string()
}

/// A name-based (version 5, SHA-1) UUID as RFC 4122 §4.3 defines it.
fn uuid_v5(namespace: &[u8; 16], name: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(namespace);
    h.update(name);
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// RFC 4122 Appendix C name space for ISO OIDs.
const UUID_NS_OID: [u8; 16] = [
    0x6b, 0xa7, 0xb8, 0x12, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
];

/// The instance identifier of reaction or drug `i` of a case: stable for
/// the same C.1.1, so that exporting twice gives the same bytes.
fn local_id(case_id: &str, kind: &str, i: usize) -> String {
    let name = format!("{OID_REPORT_ID}/{case_id}/{kind}/{i}");
    uuid_v5(&UUID_NS_OID, name.as_bytes())
}

fn decimal(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else {
        // Rust prints the shortest decimal that reads back to the same
        // number, without an exponent.
        format!("{v}")
    }
}

/// One ICSR in a batch of its own: batch number N.1.2 = C.1.1, batch and
/// message sender = C.3.2, receiver unknown (null flavour), batch time =
/// C.1.2.
///
/// This writer does not check the case: call [`minimum_case`] and
/// [`validate`] first, or use [`write_checked`]. Whatever it is given, it
/// returns well-formed XML: characters XML 1.0 cannot carry are left out,
/// and an assessment pointing at a reaction that does not exist is not
/// written. A case [`read_xml`] would refuse is refused on import.
pub fn write_xml(case: &Icsr) -> String {
    write_batch(
        std::slice::from_ref(case),
        &case.safety_report_id,
        &case.sender.organisation,
        "",
        case.created,
    )
}

/// [`write_xml`] after [`validate`] and [`minimum_case`]: a case that fails
/// either is refused with the reason instead of written.
pub fn write_checked(case: &Icsr) -> Result<String> {
    validate(case)?;
    minimum_case(case)?;
    Ok(write_xml(case))
}

/// An `MCCI_IN200100UV01` batch (N.1.1 type ichicsr) of one
/// `PORR_IN049016UV` message per case. `batch_id` is N.1.2, `sender_id`
/// N.1.3 and N.2.r.2, `receiver_id` N.1.4 and N.2.r.3 (empty: null
/// flavour `UNK`), `created` N.1.5. Like [`write_xml`] it does not check
/// the cases; [`write_batch_checked`] does.
pub fn write_batch(
    cases: &[Icsr],
    batch_id: &str,
    sender_id: &str,
    receiver_id: &str,
    created: NaiveDateTime,
) -> String {
    let mut w = Xml {
        out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        depth: 0,
    };
    w.el(
        "MCCI_IN200100UV01",
        &[
            ("xmlns", NS_HL7),
            ("xmlns:xsi", NS_XSI),
            ("ITSVersion", "XML_1.0"),
            ("xsi:schemaLocation", "urn:hl7-org:v3 MCCI_IN200100UV01.xsd"),
        ],
        |w| {
            w.id(OID_BATCH, batch_id); // N.1.2
            w.empty("creationTime", &[("value", &ts_datetime(created))]); // N.1.5
            w.empty("responseModeCode", &[("code", "D")]);
            w.empty(
                "interactionId",
                &[
                    ("root", OID_HL7_INTERACTION),
                    ("extension", "MCCI_IN200100UV01"),
                ],
            );
            // N.1.1 type of messages in batch: 1 = ichicsr.
            w.empty("name", &[("code", "1"), ("codeSystem", CS_MESSAGE_TYPE)]);
            for case in cases {
                write_message(w, case, sender_id, receiver_id);
            }
            device(w, "receiver", "RCV", OID_BATCH_RECEIVER, receiver_id); // N.1.4
            device(w, "sender", "SND", OID_BATCH_SENDER, sender_id); // N.1.3
        },
    );
    w.out
}

/// [`write_batch`] after checking the batch identifiers and every case
/// with [`validate`] and [`minimum_case`]; an empty batch is refused with
/// `e2b_batch_empty`.
pub fn write_batch_checked(
    cases: &[Icsr],
    batch_id: &str,
    sender_id: &str,
    receiver_id: &str,
    created: NaiveDateTime,
) -> Result<String> {
    if cases.is_empty() {
        return Err(E2bError::new("e2b_batch_empty", "N.2.r"));
    }
    check_chars(batch_id, "N.1.2")?;
    check_chars(sender_id, "N.1.3")?;
    check_chars(receiver_id, "N.1.4")?;
    check_date(created.date(), "N.1.5")?;
    for case in cases {
        validate(case)?;
        minimum_case(case)?;
    }
    Ok(write_batch(
        cases,
        batch_id,
        sender_id,
        receiver_id,
        created,
    ))
}

fn device(w: &mut Xml, role: &str, type_code: &str, root: &str, id: &str) {
    w.el(role, &[("typeCode", type_code)], |w| {
        w.el(
            "device",
            &[("classCode", "DEV"), ("determinerCode", "INSTANCE")],
            |w| w.id(root, id),
        );
    });
}

fn write_message(w: &mut Xml, case: &Icsr, sender_id: &str, receiver_id: &str) {
    let created = ts_datetime(case.created);
    w.el("PORR_IN049016UV", &[], |w| {
        w.id_of(OID_REPORT_ID, &case.safety_report_id); // N.2.r.1 = C.1.1
        w.empty("creationTime", &[("value", &created)]); // N.2.r.4
        w.empty(
            "interactionId",
            &[
                ("root", OID_HL7_INTERACTION),
                ("extension", "PORR_IN049016UV"),
            ],
        );
        w.empty("processingCode", &[("code", "P")]);
        w.empty("processingModeCode", &[("code", "T")]);
        w.empty("acceptAckCode", &[("code", "AL")]);
        device(w, "receiver", "RCV", OID_MSG_RECEIVER, receiver_id); // N.2.r.3
        device(w, "sender", "SND", OID_MSG_SENDER, sender_id); // N.2.r.2
        w.el(
            "controlActProcess",
            &[("classCode", "CACT"), ("moodCode", "EVN")],
            |w| {
                w.empty(
                    "code",
                    &[("code", "PORR_TE049016UV"), ("codeSystem", CS_HL7_TRIGGER)],
                );
                w.empty("effectiveTime", &[("value", &created)]); // C.1.2
                w.el("subject", &[("typeCode", "SUBJ")], |w| {
                    write_case(w, case);
                });
            },
        );
    });
}

fn write_case(w: &mut Xml, case: &Icsr) {
    w.el(
        "investigationEvent",
        &[("classCode", "INVSTG"), ("moodCode", "EVN")],
        |w| {
            w.id_of(OID_REPORT_ID, &case.safety_report_id); // C.1.1
            w.id_of(OID_WORLDWIDE_ID, &case.worldwide_case_id); // C.1.8.1
            w.empty(
                "code",
                &[("code", "PAT_ADV_EVNT"), ("codeSystem", CS_HL7_ACT_CODE)],
            );
            w.text("text", &[], &case.narrative); // H.1
            w.empty("statusCode", &[("code", "active")]);
            w.el("effectiveTime", &[], |w| {
                w.empty("low", &[("value", &ts_date(case.first_received))]); // C.1.4
            });
            w.empty("availabilityTime", &[("value", &ts_date(case.most_recent))]); // C.1.5
            w.el("component", &[("typeCode", "COMP")], |w| {
                write_assessment(w, case);
            });
            // C.1.6.1 are additional documents available? None travel with
            // the message.
            observation_event(w, "1", "additionalDocumentsAvailable", false);
            // C.1.7 fulfils the local criteria for an expedited report.
            observation_event(w, "23", "localCriteriaForExpedited", case.expedited);
            // C.1.8.2 first sender of this case: 1 regulator, 2 other.
            let first = if case.sender.sender_type == 2 {
                "1"
            } else {
                "2"
            };
            w.el("outboundRelationship", &[("typeCode", "SPRT")], |w| {
                w.el(
                    "relatedInvestigation",
                    &[("classCode", "INVSTG"), ("moodCode", "EVN")],
                    |w| {
                        w.code("1", CS_REPORT_RELATION, "initialReport");
                        control_act_author(w, |w| {
                            w.empty("code", &[("code", first), ("codeSystem", CS_FIRST_SENDER)]);
                        });
                    },
                );
            });
            for (i, r) in case.reporters.iter().enumerate() {
                write_reporter(w, r, i == 0);
            }
            // C.3 sender.
            w.el("subjectOf1", &[("typeCode", "SUBJ")], |w| {
                w.el(
                    "controlActEvent",
                    &[("classCode", "CACT"), ("moodCode", "EVN")],
                    |w| {
                        w.el("author", &[("typeCode", "AUT")], |w| {
                            w.el("assignedEntity", &[("classCode", "ASSIGNED")], |w| {
                                let t = case.sender.sender_type.to_string();
                                w.empty("code", &[("code", &t), ("codeSystem", CS_SENDER_TYPE)]); // C.3.1
                                organisation(w, &case.sender.organisation); // C.3.2
                            });
                        });
                    },
                );
            });
            // C.1.3 type of report.
            characteristic(w, "1", "ichReportType", |w| {
                let t = case.report_type.to_string();
                w.empty(
                    "value",
                    &[
                        ("xsi:type", "CE"),
                        ("code", &t),
                        ("codeSystem", CS_REPORT_TYPE),
                    ],
                );
            });
            // C.1.9.1 other case identifiers in previous transmissions.
            characteristic(w, "2", "otherCaseIds", |w| {
                w.empty("value", &[("xsi:type", "BL"), ("nullFlavor", "NI")]);
            });
        },
    );
}

fn observation_event(w: &mut Xml, code: &str, display: &str, value: bool) {
    w.el("component", &[("typeCode", "COMP")], |w| {
        w.el(
            "observationEvent",
            &[("classCode", "OBS"), ("moodCode", "EVN")],
            |w| {
                w.code(code, CS_OBSERVATION, display);
                w.empty(
                    "value",
                    &[
                        ("xsi:type", "BL"),
                        ("value", if value { "true" } else { "false" }),
                    ],
                );
            },
        );
    });
}

fn characteristic(w: &mut Xml, code: &str, display: &str, value: impl FnOnce(&mut Xml)) {
    w.el("subjectOf2", &[("typeCode", "SUBJ")], |w| {
        w.el(
            "investigationCharacteristic",
            &[("classCode", "OBS"), ("moodCode", "EVN")],
            |w| {
                w.code(code, CS_CHARACTERISTIC, display);
                value(w);
            },
        );
    });
}

fn control_act_author(w: &mut Xml, entity: impl FnOnce(&mut Xml)) {
    w.el("subjectOf2", &[("typeCode", "SUBJ")], |w| {
        w.el(
            "controlActEvent",
            &[("classCode", "CACT"), ("moodCode", "EVN")],
            |w| {
                w.el("author", &[("typeCode", "AUT")], |w| {
                    w.el("assignedEntity", &[("classCode", "ASSIGNED")], entity);
                });
            },
        );
    });
}

/// The organisation of a reporter (C.2.r.2.1) or sender (C.3.2): the
/// inner organisation of `representedOrganization` (the outer one names
/// the department).
fn organisation(w: &mut Xml, name: &str) {
    w.el(
        "representedOrganization",
        &[("classCode", "ORG"), ("determinerCode", "INSTANCE")],
        |w| {
            w.el("assignedEntity", &[("classCode", "ASSIGNED")], |w| {
                w.el(
                    "representedOrganization",
                    &[("classCode", "ORG"), ("determinerCode", "INSTANCE")],
                    |w| w.text("name", &[], name),
                );
            });
        },
    );
}

fn write_reporter(w: &mut Xml, r: &Reporter, primary: bool) {
    w.el("outboundRelationship", &[("typeCode", "SPRT")], |w| {
        if primary {
            // C.2.r.5 primary source for regulatory purposes.
            w.empty("priorityNumber", &[("value", "1")]);
        }
        w.el(
            "relatedInvestigation",
            &[("classCode", "INVSTG"), ("moodCode", "EVN")],
            |w| {
                w.code("2", CS_REPORT_RELATION, "sourceReport");
                control_act_author(w, |w| {
                    let named = r.given_name.is_some() || r.family_name.is_some();
                    if named || r.qualification.is_some() || r.country.is_some() {
                        w.el(
                            "assignedPerson",
                            &[("classCode", "PSN"), ("determinerCode", "INSTANCE")],
                            |w| {
                                if named {
                                    w.el("name", &[], |w| {
                                        if let Some(g) = &r.given_name {
                                            w.text("given", &[], g); // C.2.r.1.2
                                        }
                                        if let Some(f) = &r.family_name {
                                            w.text("family", &[], f); // C.2.r.1.4
                                        }
                                    });
                                }
                                if let Some(q) = r.qualification {
                                    let q = q.to_string();
                                    w.el("asQualifiedEntity", &[("classCode", "QUAL")], |w| {
                                        // C.2.r.4
                                        w.empty(
                                            "code",
                                            &[("code", &q), ("codeSystem", CS_QUALIFICATION)],
                                        );
                                    });
                                }
                                if let Some(c) = &r.country {
                                    w.el("asLocatedEntity", &[("classCode", "LOCE")], |w| {
                                        w.el(
                                            "location",
                                            &[
                                                ("classCode", "COUNTRY"),
                                                ("determinerCode", "INSTANCE"),
                                            ],
                                            // C.2.r.3
                                            |w| {
                                                w.empty(
                                                    "code",
                                                    &[("code", c), ("codeSystem", CS_ISO3166)],
                                                )
                                            },
                                        );
                                    });
                                }
                            },
                        );
                    }
                    if let Some(o) = &r.organisation {
                        organisation(w, o); // C.2.r.2.1
                    }
                });
            },
        );
    });
}

fn obs_value(w: &mut Xml, code: &str, display: &str, value: impl FnOnce(&mut Xml)) {
    w.el("outboundRelationship2", &[("typeCode", "PERT")], |w| {
        w.el(
            "observation",
            &[("classCode", "OBS"), ("moodCode", "EVN")],
            |w| {
                w.code(code, CS_OBSERVATION, display);
                value(w);
            },
        );
    });
}

fn reference(w: &mut Xml, rel: &str, target: &str, class: &str, id: &str) {
    w.el(rel, &[("typeCode", "SUBJ")], |w| {
        w.el(target, &[("classCode", class), ("moodCode", "EVN")], |w| {
            w.empty("id", &[("root", id)]);
        });
    });
}

fn write_assessment(w: &mut Xml, case: &Icsr) {
    let reaction_ids: Vec<String> = (0..case.reactions.len())
        .map(|i| local_id(&case.safety_report_id, "reaction", i))
        .collect();
    let drug_ids: Vec<String> = (0..case.drugs.len())
        .map(|k| local_id(&case.safety_report_id, "drug", k))
        .collect();
    w.el(
        "adverseEventAssessment",
        &[("classCode", "INVSTG"), ("moodCode", "EVN")],
        |w| {
            w.el("subject1", &[("typeCode", "SBJ")], |w| {
                w.el("primaryRole", &[("classCode", "INVSBJ")], |w| {
                    write_patient(w, case, &reaction_ids, &drug_ids);
                });
            });
            for (k, d) in case.drugs.iter().enumerate() {
                // G.k.1 characterisation of drug role.
                w.el("component", &[("typeCode", "COMP")], |w| {
                    w.el(
                        "causalityAssessment",
                        &[("classCode", "OBS"), ("moodCode", "EVN")],
                        |w| {
                            w.code("20", CS_OBSERVATION, "interventionCharacterization");
                            let role = d.role.to_string();
                            w.empty(
                                "value",
                                &[
                                    ("xsi:type", "CE"),
                                    ("code", &role),
                                    ("codeSystem", CS_DRUG_ROLE),
                                ],
                            );
                            reference(w, "subject2", "productUseReference", "SBADM", &drug_ids[k]);
                        },
                    );
                });
            }
            for (k, d) in case.drugs.iter().enumerate() {
                for a in &d.assessments {
                    let Some(reaction_id) = reaction_ids.get(a.reaction_index) else {
                        continue;
                    };
                    // G.k.9.i.2.r relatedness of drug k to reaction i.
                    w.el("component", &[("typeCode", "COMP")], |w| {
                        w.el(
                            "causalityAssessment",
                            &[("classCode", "OBS"), ("moodCode", "EVN")],
                            |w| {
                                w.code("39", CS_OBSERVATION, "causality");
                                w.text("value", &[("xsi:type", "ST")], &a.result); // .3
                                w.el("methodCode", &[], |w| {
                                    w.text("originalText", &[], &a.method); // .2
                                });
                                w.el("author", &[("typeCode", "AUT")], |w| {
                                    w.el("assignedEntity", &[("classCode", "ASSIGNED")], |w| {
                                        w.el("code", &[], |w| {
                                            w.text("originalText", &[], &a.source);
                                            // .1
                                        });
                                    });
                                });
                                reference(
                                    w,
                                    "subject1",
                                    "adverseEffectReference",
                                    "OBS",
                                    reaction_id,
                                );
                                reference(
                                    w,
                                    "subject2",
                                    "productUseReference",
                                    "SBADM",
                                    &drug_ids[k],
                                );
                            },
                        );
                    });
                }
            }
        },
    );
}

fn write_patient(w: &mut Xml, case: &Icsr, reaction_ids: &[String], drug_ids: &[String]) {
    let p = &case.patient;
    w.el(
        "player1",
        &[("classCode", "PSN"), ("determinerCode", "INSTANCE")],
        |w| {
            match &p.initials {
                Some(n) => w.text("name", &[], n), // D.1
                None => w.empty("name", &[("nullFlavor", "UNK")]),
            }
            if let Some(s) = p.sex {
                let s = s.to_string();
                w.empty(
                    "administrativeGenderCode",
                    &[("code", &s), ("codeSystem", CS_ISO5218)],
                ); // D.5
            }
            if let Some(d) = p.death_date {
                w.empty("deceasedTime", &[("value", &ts_date(d))]); // D.9.1
            }
            if let Some(id) = &p.study_subject_id {
                w.el("asIdentifiedEntity", &[("classCode", "IDENT")], |w| {
                    w.id_of(OID_INVESTIGATION_NUMBER, id); // D.1.1.4
                    w.code("4", CS_RECORD_SOURCE, "Investigation");
                });
            }
        },
    );
    if let Some(s) = &case.study {
        w.el("subjectOf1", &[("typeCode", "SBJ")], |w| {
            w.el(
                "researchStudy",
                &[("classCode", "CLNTRL"), ("moodCode", "EVN")],
                |w| {
                    if let Some(n) = &s.sponsor_number {
                        w.id_of(OID_SPONSOR_STUDY, n); // C.5.3
                    }
                    w.text("title", &[], &s.name); // C.5.2
                    if let Some(r) = &s.registration {
                        w.el("authorization", &[("typeCode", "AUTH")], |w| {
                            w.el(
                                "studyRegistration",
                                &[("classCode", "ACT"), ("moodCode", "EVN")],
                                |w| w.id_of(OID_STUDY_REGISTRATION, r), // C.5.1.r.1
                            );
                        });
                    }
                },
            );
        });
    }
    if let Some(a) = &p.age {
        w.el("subjectOf2", &[("typeCode", "SBJ")], |w| {
            w.el(
                "observation",
                &[("classCode", "OBS"), ("moodCode", "EVN")],
                |w| {
                    w.code("3", CS_OBSERVATION, "age");
                    // D.2.2a number, D.2.2b unit.
                    w.empty(
                        "value",
                        &[
                            ("xsi:type", "PQ"),
                            ("value", &decimal(a.value)),
                            ("unit", &a.unit),
                        ],
                    );
                },
            );
        });
    }
    for (i, r) in case.reactions.iter().enumerate() {
        w.el("subjectOf2", &[("typeCode", "SBJ")], |w| {
            w.el(
                "observation",
                &[("classCode", "OBS"), ("moodCode", "EVN")],
                |w| {
                    w.empty("id", &[("root", &reaction_ids[i])]);
                    w.code("29", CS_OBSERVATION, "reaction");
                    if r.start.is_some() || r.end.is_some() {
                        w.el("effectiveTime", &[("xsi:type", "IVL_TS")], |w| {
                            if let Some(d) = r.start {
                                w.empty("low", &[("value", &ts_date(d))]); // E.i.4
                            }
                            if let Some(d) = r.end {
                                w.empty("high", &[("value", &ts_date(d))]); // E.i.5
                            }
                        });
                    }
                    let mut attrs: Vec<(&str, &str)> = vec![("xsi:type", "CE")];
                    if let Some(c) = &r.meddra_llt {
                        attrs.push(("code", c)); // E.i.2.1b
                    }
                    if r.meddra_llt.is_some() || r.meddra_version.is_some() {
                        attrs.push(("codeSystem", CS_MEDDRA));
                    }
                    if let Some(v) = &r.meddra_version {
                        attrs.push(("codeSystemVersion", v)); // E.i.2.1a
                    }
                    w.el("value", &attrs, |w| {
                        // E.i.1.1a term, E.i.1.1b language.
                        if r.language.is_empty() {
                            w.text("originalText", &[], &r.term);
                        } else {
                            w.text("originalText", &[("language", &r.language)], &r.term);
                        }
                    });
                    const NAMES: [&str; 6] = [
                        "resultsInDeath",
                        "isLifeThreatening",
                        "requiresInpatientHospitalization",
                        "resultsInPersistentOrSignificantDisability",
                        "congenitalAnomalyBirthDefect",
                        "otherMedicallyImportantCondition",
                    ];
                    for (j, flag) in r.seriousness.flags().into_iter().enumerate() {
                        // E.i.3.2a–f: true, or null flavour NI as in the ICH
                        // reference instance.
                        obs_value(w, SERIOUSNESS_CODES[j], NAMES[j], |w| {
                            if flag {
                                w.empty("value", &[("xsi:type", "BL"), ("value", "true")]);
                            } else {
                                w.empty("value", &[("xsi:type", "BL"), ("nullFlavor", "NI")]);
                            }
                        });
                    }
                    if let Some(o) = r.outcome {
                        let o = o.to_string();
                        obs_value(w, "27", "outcome", |w| {
                            // E.i.7
                            w.empty(
                                "value",
                                &[("xsi:type", "CE"), ("code", &o), ("codeSystem", CS_OUTCOME)],
                            );
                        });
                    }
                },
            );
        });
    }
    w.el("subjectOf2", &[("typeCode", "SBJ")], |w| {
        w.el(
            "organizer",
            &[("classCode", "CATEGORY"), ("moodCode", "EVN")],
            |w| {
                w.code("4", CS_ORGANIZER, "drugInformation");
                for (k, d) in case.drugs.iter().enumerate() {
                    w.el("component", &[("typeCode", "COMP")], |w| {
                        write_drug(w, d, &drug_ids[k]);
                    });
                }
            },
        );
    });
}

fn write_drug(w: &mut Xml, d: &Drug, id: &str) {
    w.el(
        "substanceAdministration",
        &[("classCode", "SBADM"), ("moodCode", "EVN")],
        |w| {
            w.empty("id", &[("root", id)]);
            w.el("consumable", &[("typeCode", "CSM")], |w| {
                w.el("instanceOfKind", &[("classCode", "INST")], |w| {
                    w.el(
                        "kindOfProduct",
                        &[("classCode", "MMAT"), ("determinerCode", "KIND")],
                        |w| w.text("name", &[], &d.name), // G.k.2.2
                    );
                });
            });
            if d.batch.is_none() && d.start.is_none() {
                return;
            }
            // G.k.4.r dosage and relevant information.
            w.el("outboundRelationship2", &[("typeCode", "COMP")], |w| {
                w.el(
                    "substanceAdministration",
                    &[("classCode", "SBADM"), ("moodCode", "EVN")],
                    |w| {
                        if let Some(s) = d.start {
                            w.el("effectiveTime", &[("xsi:type", "SXPR_TS")], |w| {
                                w.el("comp", &[("xsi:type", "IVL_TS"), ("operator", "A")], |w| {
                                    w.empty("low", &[("value", &ts_date(s))]); // G.k.4.r.4
                                });
                            });
                        }
                        if let Some(b) = &d.batch {
                            w.el("consumable", &[("typeCode", "CSM")], |w| {
                                w.el("instanceOfKind", &[("classCode", "INST")], |w| {
                                    w.el(
                                        "productInstanceInstance",
                                        &[("classCode", "MMAT"), ("determinerCode", "INSTANCE")],
                                        |w| w.text("lotNumberText", &[], b), // G.k.4.r.7
                                    );
                                });
                            });
                        }
                    },
                );
            });
        },
    );
}

// ---------------------------------------------------------------------------
// Reading: a small XML 1.0 parser
// ---------------------------------------------------------------------------

/// Deepest element nesting [`read_xml`] accepts; an ICH ICSR needs about
/// twenty levels.
pub const MAX_DEPTH: usize = 128;

/// One element: its qualified name, attributes (qualified names), child
/// elements, its own character data (all text nodes joined) and the line
/// of its start tag.
#[derive(Debug)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
    line: usize,
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

impl Element {
    fn local(&self) -> &str {
        local(&self.name)
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| local(k) == name)
            .map(|(_, v)| v.as_str())
    }

    fn kids<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.local() == name)
    }

    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.local() == name)
    }

    fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }

    /// Whether the `code` child carries this code in this code system.
    fn has_code(&self, code: &str, system: &str) -> bool {
        self.child("code")
            .is_some_and(|c| c.attr("code") == Some(code) && c.attr("codeSystem") == Some(system))
    }

    /// The character data, unless the element is absent by null flavour.
    fn text_value(&self) -> Option<String> {
        if self.attr("nullFlavor").is_some() {
            None
        } else {
            Some(self.text.clone())
        }
    }
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    line: usize,
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.') || (!c.is_ascii() && xml_char(c))
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == ':' || (!c.is_ascii() && xml_char(c) && !c.is_numeric())
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn malformed(&self) -> E2bError {
        E2bError::at_line("e2b_xml_malformed", self.line)
    }

    /// Moves on by `n` bytes (always a whole number of characters).
    fn bump(&mut self, n: usize) {
        let end = (self.pos + n).min(self.s.len());
        self.line += self.s[self.pos..end]
            .bytes()
            .filter(|b| *b == b'\n')
            .count();
        self.pos = end;
    }

    fn eat(&mut self, p: &str) -> bool {
        if self.rest().starts_with(p) {
            self.bump(p.len());
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        let n = self.rest().len()
            - self
                .rest()
                .trim_start_matches([' ', '\t', '\r', '\n'])
                .len();
        self.bump(n);
    }

    /// The text up to `end`, moving past `end`.
    fn until(&mut self, end: &str) -> Result<&'a str> {
        match self.rest().find(end) {
            Some(i) => {
                let s = &self.rest()[..i];
                self.bump(i + end.len());
                Ok(s)
            }
            None => Err(self.malformed()),
        }
    }

    /// Comments, processing instructions and white space; a document type
    /// declaration is refused.
    fn skip_misc(&mut self) -> Result<()> {
        loop {
            self.skip_ws();
            if self.eat("<!--") {
                self.until("-->")?;
            } else if self.eat("<?") {
                self.until("?>")?;
            } else if self.rest().starts_with("<!DOCTYPE") {
                return Err(E2bError::at_line("e2b_xml_doctype", self.line));
            } else {
                return Ok(());
            }
        }
    }

    fn name(&mut self) -> Result<String> {
        let r = self.rest();
        let mut chars = r.chars();
        match chars.next() {
            Some(c) if is_name_start(c) => {}
            _ => return Err(self.malformed()),
        }
        let n = r
            .char_indices()
            .find(|&(_, c)| !is_name_char(c))
            .map_or(r.len(), |(i, _)| i);
        let name = r[..n].to_string();
        self.bump(n);
        Ok(name)
    }

    /// After `<`: the name and attributes; true when the tag closes itself.
    fn start_tag(&mut self) -> Result<(Element, bool)> {
        let line = self.line;
        let name = self.name()?;
        let mut attrs: Vec<(String, String)> = Vec::new();
        loop {
            let before = self.pos;
            self.skip_ws();
            if self.eat("/>") {
                return Ok((element(name, attrs, line), true));
            }
            if self.eat(">") {
                return Ok((element(name, attrs, line), false));
            }
            if self.pos == before {
                // Attributes must be separated by white space.
                return Err(self.malformed());
            }
            let key = self.name()?;
            self.skip_ws();
            if !self.eat("=") {
                return Err(self.malformed());
            }
            self.skip_ws();
            let quote = match self.rest().chars().next() {
                Some(q @ ('"' | '\'')) => q,
                _ => return Err(self.malformed()),
            };
            self.bump(1);
            let raw = match self.rest().find(quote) {
                Some(i) => &self.rest()[..i],
                None => return Err(self.malformed()),
            };
            if raw.contains('<') {
                return Err(self.malformed());
            }
            let value = decode(raw, true).map_err(|_| self.malformed())?;
            self.bump(raw.len() + 1);
            if attrs.iter().any(|(k, _)| *k == key) {
                return Err(self.malformed());
            }
            attrs.push((key, value));
        }
    }

    fn document(&mut self) -> Result<Element> {
        self.eat("\u{feff}");
        self.skip_misc()?;
        if !self.eat("<") {
            return Err(self.malformed());
        }
        let (root, closed) = self.start_tag()?;
        let root = if closed { root } else { self.content(root)? };
        self.skip_misc()?;
        if self.pos != self.s.len() {
            return Err(self.malformed());
        }
        Ok(root)
    }

    /// The content of `root` up to its end tag, with an explicit stack so
    /// that nesting cannot exhaust the call stack.
    fn content(&mut self, root: Element) -> Result<Element> {
        let mut stack = vec![root];
        loop {
            if self.pos >= self.s.len() {
                return Err(self.malformed());
            }
            if self.eat("</") {
                let name = self.name()?;
                self.skip_ws();
                if !self.eat(">") {
                    return Err(self.malformed());
                }
                let done = match stack.pop() {
                    Some(e) if e.name == name => e,
                    _ => return Err(self.malformed()),
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            } else if self.eat("<!--") {
                self.until("-->")?;
            } else if self.eat("<![CDATA[") {
                let raw = self.until("]]>")?;
                let text = decode_cdata(raw).map_err(|_| self.malformed())?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text);
                }
            } else if self.eat("<?") {
                self.until("?>")?;
            } else if self.rest().starts_with("<!") {
                return Err(self.malformed());
            } else if self.eat("<") {
                let (e, closed) = self.start_tag()?;
                if closed {
                    if let Some(top) = stack.last_mut() {
                        top.children.push(e);
                    }
                } else {
                    if stack.len() >= MAX_DEPTH {
                        return Err(E2bError::at_line("e2b_xml_too_deep", e.line));
                    }
                    stack.push(e);
                }
            } else {
                let n = self.rest().find('<').unwrap_or(self.rest().len());
                let raw = &self.rest()[..n];
                let text = decode(raw, false).map_err(|_| self.malformed())?;
                self.bump(n);
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text);
                }
            }
        }
    }
}

fn element(name: String, attrs: Vec<(String, String)>, line: usize) -> Element {
    Element {
        name,
        attrs,
        children: Vec::new(),
        text: String::new(),
        line,
    }
}

/// Character data or an attribute value: the five predefined entities and
/// character references, line ends normalised (§2.11), and in attributes
/// TAB, CR and LF turned to spaces (§3.3.3). Characters XML cannot carry
/// are an error.
fn decode(raw: &str, attribute: bool) -> std::result::Result<String, ()> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        match c {
            '&' => {
                let end = rest.find(';').filter(|&i| i <= 10).ok_or(())?;
                let entity = &rest[..end];
                rest = &rest[end + 1..];
                let ch = match entity {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    "quot" => '"',
                    "apos" => '\'',
                    _ => {
                        let n = if let Some(h) = entity.strip_prefix("#x") {
                            if h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                                return Err(());
                            }
                            u32::from_str_radix(h, 16).map_err(|_| ())?
                        } else if let Some(d) = entity.strip_prefix('#') {
                            if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
                                return Err(());
                            }
                            d.parse::<u32>().map_err(|_| ())?
                        } else {
                            return Err(());
                        };
                        char::from_u32(n).filter(|c| xml_char(*c)).ok_or(())?
                    }
                };
                out.push(ch);
            }
            '\r' => {
                rest = rest.strip_prefix('\n').unwrap_or(rest);
                out.push(if attribute { ' ' } else { '\n' });
            }
            '\t' | '\n' if attribute => out.push(' '),
            c if !xml_char(c) => return Err(()),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn decode_cdata(raw: &str) -> std::result::Result<String, ()> {
    if !raw.chars().all(xml_char) {
        return Err(());
    }
    Ok(raw.replace("\r\n", "\n").replace('\r', "\n"))
}

fn parse_document(xml: &str) -> Result<Element> {
    Parser {
        s: xml,
        pos: 0,
        line: 1,
    }
    .document()
}

// ---------------------------------------------------------------------------
// Reading: from the element tree to cases
// ---------------------------------------------------------------------------

/// Reads every ICSR of an `MCCI_IN200100UV01` batch (or of a single
/// `PORR_IN049016UV` message). Each case must pass [`validate`] and
/// [`minimum_case`]; the first that does not refuses the whole batch, with
/// the line of its `investigationEvent`.
pub fn read_xml(xml: &str) -> Result<Vec<Icsr>> {
    let root = parse_document(xml)?;
    let messages: Vec<&Element> = match root.local() {
        "MCCI_IN200100UV01" => root.kids("PORR_IN049016UV").collect(),
        "PORR_IN049016UV" => vec![&root],
        other => {
            let mut e = E2bError::new(
                "e2b_root_invalid",
                other.chars().take(64).collect::<String>(),
            );
            e.line = Some(root.line);
            return Err(e);
        }
    };
    if messages.is_empty() {
        let mut e = E2bError::new("e2b_batch_empty", "N.2.r");
        e.line = Some(root.line);
        return Err(e);
    }
    messages.into_iter().map(read_message).collect()
}

fn missing(field: &str, at: &Element) -> E2bError {
    E2bError::new("e2b_element_missing", field).or_line(at.line)
}

fn required<'a>(parent: &'a Element, path: &[&str], field: &str) -> Result<&'a Element> {
    parent.path(path).ok_or_else(|| missing(field, parent))
}

fn required_attr<'a>(e: &'a Element, attr: &str, field: &str) -> Result<&'a str> {
    e.attr(attr).ok_or_else(|| missing(field, e))
}

/// The `extension` of the first `id` child with this root.
fn id_with_root(e: &Element, root: &str) -> Option<String> {
    e.kids("id")
        .find(|i| i.attr("root") == Some(root))
        .and_then(|i| i.attr("extension"))
        .map(str::to_string)
}

/// The leading digits of an HL7 timestamp (`YYYY[MM[DD[HH[MM[SS]]]]]`),
/// after which only a fraction of a second and a time-zone offset may
/// follow.
fn ts_digits<'a>(v: &'a str, field: &str, at: &Element) -> Result<&'a str> {
    let n = v.bytes().take_while(u8::is_ascii_digit).count();
    let tail = &v[n..];
    let tail_ok = tail
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'+' | b'-'));
    let invalid = || E2bError::new("e2b_date_invalid", field).or_line(at.line);
    if !tail_ok || n > 14 || n % 2 == 1 {
        return Err(invalid());
    }
    if n < 8 {
        return Err(if n == 4 || n == 6 {
            E2bError::new("e2b_date_partial", field).or_line(at.line)
        } else {
            invalid()
        });
    }
    Ok(&v[..n])
}

fn num(d: &str, from: usize, to: usize) -> u32 {
    d.get(from..to).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn read_date(v: &str, field: &str, at: &Element) -> Result<NaiveDate> {
    let d = ts_digits(v, field, at)?;
    NaiveDate::from_ymd_opt(num(d, 0, 4) as i32, num(d, 4, 6), num(d, 6, 8))
        .ok_or_else(|| E2bError::new("e2b_date_invalid", field).or_line(at.line))
}

fn read_datetime(v: &str, field: &str, at: &Element) -> Result<NaiveDateTime> {
    let d = ts_digits(v, field, at)?;
    let date = read_date(v, field, at)?;
    let time = NaiveTime::from_hms_opt(num(d, 8, 10), num(d, 10, 12), num(d, 12, 14))
        .ok_or_else(|| E2bError::new("e2b_date_invalid", field).or_line(at.line))?;
    Ok(date.and_time(time))
}

/// An optional timestamp attribute `value` of element `e`.
fn opt_date(e: Option<&Element>, field: &str) -> Result<Option<NaiveDate>> {
    match e.and_then(|e| e.attr("value").map(|v| (e, v))) {
        Some((e, v)) => read_date(v, field, e).map(Some),
        None => Ok(None),
    }
}

fn read_code(e: &Element, field: &str) -> Result<Option<u8>> {
    match e.attr("code") {
        Some(c) => c
            .trim()
            .parse::<u8>()
            .map(Some)
            .map_err(|_| E2bError::new("e2b_code_invalid", field).or_line(e.line)),
        None => Ok(None),
    }
}

/// An HL7 instance identifier, for matching references.
type InstanceId<'a> = (Option<&'a str>, Option<&'a str>);

fn instance_id(e: &Element) -> Option<InstanceId<'_>> {
    e.child("id")
        .map(|i| (i.attr("root"), i.attr("extension")))
        .filter(|id| id.0.is_some() || id.1.is_some())
}

/// Where each identifier sits; a repeated identifier is an error.
fn index_ids<'a>(
    items: &[(Option<InstanceId<'a>>, &'a Element)],
    field: &str,
) -> Result<Vec<InstanceId<'a>>> {
    let mut seen: Vec<InstanceId<'a>> = Vec::new();
    for (i, (id, e)) in items.iter().enumerate() {
        if let Some(id) = id {
            if seen.contains(id) {
                return Err(E2bError::new("e2b_reference_invalid", nth(field, i)).or_line(e.line));
            }
            seen.push(*id);
        } else {
            seen.push((None, None));
        }
    }
    Ok(seen)
}

fn find_ref(ids: &[InstanceId<'_>], target: Option<&Element>) -> Option<usize> {
    let id = target.and_then(instance_id)?;
    ids.iter().position(|x| *x == id)
}

fn read_message(m: &Element) -> Result<Icsr> {
    let cap = required(m, &["controlActProcess"], "controlActProcess")?;
    let created_el = required(cap, &["effectiveTime"], "C.1.2")?;
    let created = read_datetime(
        required_attr(created_el, "value", "C.1.2")?,
        "C.1.2",
        created_el,
    )?;
    let ev = required(
        cap,
        &["subject", "investigationEvent"],
        "investigationEvent",
    )?;
    let safety_report_id = id_with_root(ev, OID_REPORT_ID).ok_or_else(|| missing("C.1.1", ev))?;
    let worldwide_case_id =
        id_with_root(ev, OID_WORLDWIDE_ID).ok_or_else(|| missing("C.1.8.1", ev))?;
    let narrative = ev.child("text").map(|t| t.text.clone()).unwrap_or_default();
    let low = required(ev, &["effectiveTime", "low"], "C.1.4")?;
    let first_received = read_date(required_attr(low, "value", "C.1.4")?, "C.1.4", low)?;
    let avail = required(ev, &["availabilityTime"], "C.1.5")?;
    let most_recent = read_date(required_attr(avail, "value", "C.1.5")?, "C.1.5", avail)?;

    let expedited = ev
        .kids("component")
        .filter_map(|c| c.child("observationEvent"))
        .find(|o| o.has_code("23", CS_OBSERVATION))
        .and_then(|o| o.child("value"))
        .and_then(|v| v.attr("value"))
        == Some("true");

    let report_type_el = ev
        .kids("subjectOf2")
        .filter_map(|s| s.child("investigationCharacteristic"))
        .find(|c| c.has_code("1", CS_CHARACTERISTIC))
        .and_then(|c| c.child("value"))
        .ok_or_else(|| missing("C.1.3", ev))?;
    let report_type =
        read_code(report_type_el, "C.1.3")?.ok_or_else(|| missing("C.1.3", report_type_el))?;

    let sender_entity = ev
        .kids("subjectOf1")
        .filter_map(|s| s.path(&["controlActEvent", "author", "assignedEntity"]))
        .find(|a| {
            a.child("code")
                .is_some_and(|c| c.attr("codeSystem") == Some(CS_SENDER_TYPE))
        })
        .ok_or_else(|| missing("C.3.1", ev))?;
    let sender_code = required(sender_entity, &["code"], "C.3.1")?;
    let sender = Sender {
        sender_type: read_code(sender_code, "C.3.1")?
            .ok_or_else(|| missing("C.3.1", sender_code))?,
        organisation: read_organisation(sender_entity).unwrap_or_default(),
    };

    let mut reporters: Vec<(bool, Reporter)> = Vec::new();
    for rel in ev.kids("outboundRelationship") {
        let Some(ri) = rel.child("relatedInvestigation") else {
            continue;
        };
        if !ri.has_code("2", CS_REPORT_RELATION) {
            continue;
        }
        let primary = rel.child("priorityNumber").and_then(|p| p.attr("value")) == Some("1");
        let field = nth("C.2.r.4", reporters.len());
        let entity = ri.path(&["subjectOf2", "controlActEvent", "author", "assignedEntity"]);
        reporters.push((primary, read_reporter(entity, &field)?));
    }
    // The primary source for regulatory purposes goes first.
    reporters.sort_by_key(|(primary, _)| !*primary);
    let reporters = reporters.into_iter().map(|(_, r)| r).collect();

    let aea = required(
        ev,
        &["component", "adverseEventAssessment"],
        "adverseEventAssessment",
    )?;
    let role = required(aea, &["subject1", "primaryRole"], "D")?;
    let (mut case, reaction_ids, drug_ids) = read_primary_role(role)?;
    read_causality(aea, &mut case, &reaction_ids, &drug_ids)?;

    let case = Icsr {
        safety_report_id,
        worldwide_case_id,
        created,
        report_type,
        first_received,
        most_recent,
        expedited,
        sender,
        reporters,
        narrative,
        ..case
    };
    validate(&case).map_err(|e| e.or_line(ev.line))?;
    minimum_case(&case).map_err(|e| e.or_line(ev.line))?;
    Ok(case)
}

/// The inner organisation name of `representedOrganization` (C.2.r.2.1,
/// C.3.2).
fn read_organisation(entity: &Element) -> Option<String> {
    entity
        .path(&[
            "representedOrganization",
            "assignedEntity",
            "representedOrganization",
            "name",
        ])
        .and_then(Element::text_value)
}

fn read_reporter(entity: Option<&Element>, field: &str) -> Result<Reporter> {
    let Some(entity) = entity else {
        return Ok(Reporter::default());
    };
    let person = entity.child("assignedPerson");
    let name = person
        .and_then(|p| p.child("name"))
        .filter(|n| n.attr("nullFlavor").is_none());
    let qualification = match person.and_then(|p| p.path(&["asQualifiedEntity", "code"])) {
        Some(c) => read_code(c, field)?,
        None => None,
    };
    Ok(Reporter {
        // C.2.r.1.2 is the first given name; a second is the middle name.
        given_name: name
            .and_then(|n| n.child("given"))
            .and_then(Element::text_value),
        family_name: name
            .and_then(|n| n.child("family"))
            .and_then(Element::text_value),
        organisation: read_organisation(entity),
        country: person
            .and_then(|p| p.path(&["asLocatedEntity", "location", "code"]))
            .and_then(|c| c.attr("code"))
            .map(str::to_string),
        qualification,
    })
}

/// D, E.i and G.k from the `primaryRole`, with the instance identifiers
/// of the reactions and drugs; the parts of [`Icsr`] outside them are
/// placeholders the caller fills in.
fn read_primary_role(role: &Element) -> Result<(Icsr, Vec<InstanceId<'_>>, Vec<InstanceId<'_>>)> {
    let player = required(role, &["player1"], "D.1")?;
    let sex = match player.child("administrativeGenderCode") {
        Some(g) => read_code(g, "D.5")?,
        None => None,
    };
    let study_subject_id = player
        .kids("asIdentifiedEntity")
        .find(|e| e.has_code("4", CS_RECORD_SOURCE))
        .and_then(|e| e.child("id"))
        .and_then(|i| i.attr("extension"))
        .map(str::to_string);
    let mut patient = Patient {
        initials: player.child("name").and_then(Element::text_value),
        study_subject_id,
        age: None,
        sex,
        death_date: opt_date(player.child("deceasedTime"), "D.9.1")?,
    };

    let study = role.path(&["subjectOf1", "researchStudy"]).map(|s| Study {
        name: s
            .child("title")
            .and_then(Element::text_value)
            .unwrap_or_default(),
        sponsor_number: id_with_root(s, OID_SPONSOR_STUDY),
        registration: s
            .kids("authorization")
            .filter_map(|a| a.child("studyRegistration"))
            .find_map(|r| id_with_root(r, OID_STUDY_REGISTRATION)),
    });

    let observations: Vec<&Element> = role
        .kids("subjectOf2")
        .filter_map(|s| s.child("observation"))
        .collect();
    if let Some(o) = observations
        .iter()
        .find(|o| o.has_code("3", CS_OBSERVATION))
    {
        let v = required(o, &["value"], "D.2.2a")?;
        let value: f64 = required_attr(v, "value", "D.2.2a")?
            .trim()
            .parse()
            .map_err(|_| E2bError::new("e2b_value_invalid", "D.2.2a").or_line(v.line))?;
        let unit = required_attr(v, "unit", "D.2.2b")?.to_string();
        patient.age = Some(Age { value, unit });
    }

    let mut reactions = Vec::new();
    let mut reaction_els = Vec::new();
    for o in observations
        .iter()
        .filter(|o| o.has_code("29", CS_OBSERVATION))
    {
        let i = reactions.len();
        reactions.push(read_reaction(o, i)?);
        reaction_els.push((instance_id(o), *o));
    }

    let mut drugs = Vec::new();
    let mut drug_els = Vec::new();
    let organizers = role
        .kids("subjectOf2")
        .filter_map(|s| s.child("organizer"))
        .filter(|o| o.has_code("4", CS_ORGANIZER));
    for org in organizers {
        for sa in org
            .kids("component")
            .filter_map(|c| c.child("substanceAdministration"))
        {
            let k = drugs.len();
            drugs.push(read_drug(sa, k)?);
            drug_els.push((instance_id(sa), sa));
        }
    }
    let reaction_ids = index_ids(&reaction_els, "E.i")?;
    let drug_ids = index_ids(&drug_els, "G.k")?;
    let case = Icsr {
        safety_report_id: String::new(),
        worldwide_case_id: String::new(),
        created: NaiveDateTime::default(),
        report_type: 0,
        first_received: NaiveDate::default(),
        most_recent: NaiveDate::default(),
        expedited: false,
        sender: Sender::default(),
        reporters: Vec::new(),
        patient,
        reactions,
        drugs,
        narrative: String::new(),
        study,
    };
    Ok((case, reaction_ids, drug_ids))
}

fn read_reaction(o: &Element, i: usize) -> Result<Reaction> {
    // E.i.4 / E.i.5 sit in an IVL_TS, or in the IVL_TS part of an SXPR_TS.
    let times: Vec<&Element> = o
        .child("effectiveTime")
        .map(|t| std::iter::once(t).chain(t.kids("comp")).collect())
        .unwrap_or_default();
    let bound = |name: &str| {
        times
            .iter()
            .find_map(|t| t.child(name))
            .filter(|b| b.attr("value").is_some())
    };
    let value = o.child("value");
    let text = value.and_then(|v| v.child("originalText"));
    let mut seriousness = Seriousness::default();
    let mut outcome = None;
    for obs in o
        .kids("outboundRelationship2")
        .filter_map(|r| r.child("observation"))
    {
        if let Some(j) = SERIOUSNESS_CODES
            .iter()
            .position(|c| obs.has_code(c, CS_OBSERVATION))
        {
            let yes = obs.child("value").and_then(|v| v.attr("value")) == Some("true");
            seriousness.set(j, yes);
        } else if obs.has_code("27", CS_OBSERVATION) {
            if let Some(v) = obs.child("value") {
                outcome = read_code(v, &nth("E.i.7", i))?;
            }
        }
    }
    Ok(Reaction {
        term: text.map(|t| t.text.clone()).unwrap_or_default(),
        language: text
            .and_then(|t| t.attr("language"))
            .unwrap_or("")
            .to_string(),
        meddra_version: value
            .and_then(|v| v.attr("codeSystemVersion"))
            .map(str::to_string),
        meddra_llt: value.and_then(|v| v.attr("code")).map(str::to_string),
        seriousness,
        start: opt_date(bound("low"), &nth("E.i.4", i))?,
        end: opt_date(bound("high"), &nth("E.i.5", i))?,
        outcome,
    })
}

fn read_drug(sa: &Element, k: usize) -> Result<Drug> {
    let name = sa
        .path(&["consumable", "instanceOfKind", "kindOfProduct", "name"])
        .and_then(Element::text_value)
        .unwrap_or_default();
    let dosages: Vec<&Element> = sa
        .kids("outboundRelationship2")
        .filter_map(|r| r.child("substanceAdministration"))
        .collect();
    let batch = dosages
        .iter()
        .filter_map(|d| {
            d.path(&[
                "consumable",
                "instanceOfKind",
                "productInstanceInstance",
                "lotNumberText",
            ])
        })
        .find_map(Element::text_value);
    let start_el = dosages
        .iter()
        .filter_map(|d| d.child("effectiveTime"))
        .flat_map(|t| std::iter::once(t).chain(t.kids("comp")))
        .filter_map(|t| t.child("low"))
        .find(|l| l.attr("value").is_some());
    Ok(Drug {
        role: 0,
        name,
        batch,
        start: opt_date(start_el, &nth("G.k.4.r.4", k))?,
        assessments: Vec::new(),
    })
}

/// G.k.1 (causality assessment code 20) and G.k.9.i.2.r (code 39), joined
/// to the drugs and reactions by their instance identifiers.
fn read_causality(
    aea: &Element,
    case: &mut Icsr,
    reaction_ids: &[InstanceId<'_>],
    drug_ids: &[InstanceId<'_>],
) -> Result<()> {
    let mut roles: Vec<Option<u8>> = vec![None; case.drugs.len()];
    for ca in aea
        .kids("component")
        .filter_map(|c| c.child("causalityAssessment"))
    {
        let drug = ca.path(&["subject2", "productUseReference"]);
        if ca.has_code("20", CS_OBSERVATION) {
            let k = find_ref(drug_ids, drug)
                .ok_or_else(|| E2bError::new("e2b_reference_invalid", "G.k.1").or_line(ca.line))?;
            let v = required(ca, &["value"], &nth("G.k.1", k))?;
            roles[k] = read_code(v, &nth("G.k.1", k))?;
        } else if ca.has_code("39", CS_OBSERVATION) {
            let k = find_ref(drug_ids, drug).ok_or_else(|| {
                E2bError::new("e2b_reference_invalid", "G.k.9.i.2.r").or_line(ca.line)
            })?;
            let reaction = ca.path(&["subject1", "adverseEffectReference"]);
            let i = find_ref(reaction_ids, reaction).ok_or_else(|| {
                E2bError::new("e2b_reference_invalid", nth("G.k.9.i.1", k)).or_line(ca.line)
            })?;
            let text = |path: &[&str]| ca.path(path).map(|e| e.text.clone()).unwrap_or_default();
            case.drugs[k].assessments.push(Assessment {
                reaction_index: i,
                source: text(&["author", "assignedEntity", "code", "originalText"]),
                method: text(&["methodCode", "originalText"]),
                result: text(&["value"]),
            });
        }
    }
    for (k, role) in roles.into_iter().enumerate() {
        let line = aea.line;
        case.drugs[k].role = role.ok_or_else(|| missing(&nth("G.k.1", k), aea).or_line(line))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::{catalog, placeholders};
    use crate::Lang;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// A CAR-T case with every carried element, Chinese text and the
    /// characters XML must escape.
    fn rich_case() -> Icsr {
        Icsr {
            safety_report_id: "CN-CELLTRAIL-2026-000123".into(),
            worldwide_case_id: "CN-CELLTRAIL-2026-000123".into(),
            created: d(2026, 3, 14).and_hms_opt(9, 26, 53).unwrap(),
            report_type: 2,
            first_received: d(2026, 3, 10),
            most_recent: d(2026, 3, 12),
            expedited: true,
            sender: Sender {
                sender_type: 1,
                organisation: "细胞治疗有限公司 & Partners <CN>".into(),
            },
            reporters: vec![
                Reporter {
                    given_name: Some("明".into()),
                    family_name: Some("李".into()),
                    organisation: Some("北京协和医院 \"血液科\"".into()),
                    country: Some("CN".into()),
                    qualification: Some(1),
                },
                Reporter {
                    given_name: None,
                    family_name: None,
                    organisation: None,
                    country: Some("CN".into()),
                    qualification: Some(3),
                },
            ],
            patient: Patient {
                initials: Some("ZW".into()),
                study_subject_id: Some("CT-001-0042".into()),
                age: Some(Age {
                    value: 34.5,
                    unit: "a".into(),
                }),
                sex: Some(2),
                death_date: None,
            },
            reactions: vec![
                Reaction {
                    term: "细胞因子释放综合征 3级".into(),
                    language: "zh".into(),
                    meddra_version: Some("27.0".into()),
                    meddra_llt: Some("10052015".into()),
                    seriousness: Seriousness {
                        life_threatening: true,
                        hospitalisation: true,
                        ..Seriousness::default()
                    },
                    start: Some(d(2026, 3, 9)),
                    end: Some(d(2026, 3, 11)),
                    outcome: Some(1),
                },
                Reaction {
                    term: "  neurotoxicity (ICANS) \t grade 2\r\nsee <notes> & 'follow-up'  ".into(),
                    language: "en".into(),
                    meddra_version: None,
                    meddra_llt: None,
                    seriousness: Seriousness::default(),
                    start: Some(d(2026, 3, 10)),
                    end: None,
                    outcome: Some(0),
                },
            ],
            drugs: vec![
                Drug {
                    role: 1,
                    name: "靶向CD19 CAR-T细胞注射液".into(),
                    batch: Some("B2026-0301\tA".into()),
                    start: Some(d(2026, 3, 2)),
                    assessments: vec![
                        Assessment {
                            reaction_index: 0,
                            source: "研究者".into(),
                            method: "全面内省法".into(),
                            result: "肯定有关".into(),
                        },
                        Assessment {
                            reaction_index: 1,
                            source: "Sponsor".into(),
                            method: "WHO-UMC".into(),
                            result: "Probable".into(),
                        },
                    ],
                },
                Drug {
                    role: 2,
                    name: "Tocilizumab".into(),
                    batch: None,
                    start: None,
                    assessments: vec![],
                },
            ],
            narrative: "患者于2026-03-02输注。\n第7天出现发热 > 39 °C，予托珠单抗 & 地塞米松。\r\n\"已缓解\"".into(),
            study: Some(Study {
                name: "CD19 CAR-T 治疗复发难治性B细胞淋巴瘤的I期临床研究".into(),
                sponsor_number: Some("CT-001".into()),
                registration: Some("NCT01234567".into()),
            }),
        }
    }

    /// The ICH E2B(R3) reference instance "literature initial" case
    /// (JP-DSJP-DSJ-2009-98765-1), as republished in a peer E2B(R3)
    /// project's template (docs/e2b/template.xml of donihyun/e2br3), cut to
    /// the elements this module reads plus some it must skip (FDA regional
    /// observations, gestation period, tests, literature reference). The
    /// republished copy lacks the sender block; the C.3 block here is
    /// written to the IG's path with the sender the instance's identifiers
    /// name (DSJP). Its placeholders (a second <given> for the middle
    /// name, a second product <name>) are kept to test that the first is
    /// taken.
    const REFERENCE_INSTANCE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<MCCI_IN200100UV01 ITSVersion="XML_1.0" xsi:schemaLocation="urn:hl7-org:v3 MCCI_IN200100UV01.xsd" xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <id extension="DSJP-B0123456" root="2.16.840.1.113883.3.989.2.1.3.22"/>
  <!-- N.1.2: Batch Number -->
  <creationTime value="20120720100000"/>
  <responseModeCode code="D"/>
  <interactionId extension="MCCI_IN200100UV01" root="2.16.840.1.113883.1.6"/>
  <name code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.1"/>
  <PORR_IN049016UV>
    <id extension="DSJP-B0123456-Lit1" root="2.16.840.1.113883.3.989.2.1.3.1"/>
    <creationTime value="20120720100001+09"/>
    <interactionId extension="PORR_IN049016UV" root="2.16.840.1.113883.1.6"/>
    <processingCode code="P"/>
    <processingModeCode code="T"/>
    <acceptAckCode code="AL"/>
    <receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE"><id extension="ICHTEST" root="2.16.840.1.113883.3.989.2.1.3.12"/></device></receiver>
    <sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE"><id extension="DSJP" root="2.16.840.1.113883.3.989.2.1.3.11"/></device></sender>
    <controlActProcess classCode="CACT" moodCode="EVN">
      <code code="PORR_TE049016UV" codeSystem="2.16.840.1.113883.1.18"/>
      <effectiveTime value="20120720100001+09"/>
      <!-- C.1.2: Date of Creation -->
      <subject typeCode="SUBJ">
        <investigationEvent classCode="INVSTG" moodCode="EVN">
          <id extension="JP-DSJP-DSJ-2009-98765-1" root="2.16.840.1.113883.3.989.2.1.3.1"/>
          <id extension="JP-DSJP-DSJ-2009-98765-1" root="2.16.840.1.113883.3.989.2.1.3.2"/>
          <code code="PAT_ADV_EVNT" codeSystem="2.16.840.1.113883.5.4"/>
          <text>An 81-year-old female patient received Mevalotin (pravastatin sodium) 20mg  for hyperlipidemia since July 2008. The patient experienced interstitial pneumonia on 08 October 2008 (inpatient hospitalization).</text>
          <statusCode code="active"/>
          <effectiveTime>
            <low value="20090622"/>
          </effectiveTime>
          <availabilityTime value="20100412"/>
          <reference typeCode="REFR">
            <document classCode="DOC" moodCode="EVN">
              <code code="2" codeSystem="2.16.840.1.113883.3.989.2.1.1.27"/>
              <bibliographicDesignationText>K. Kudo, et al. (2009) A Case of Heparin-Induced Thrombocytopenia and
Disseminated Intravascular Coagulation during Treatment for Drug-Induced
Pneumonia. Journal of Japanese Respiratory Society, 47: p.316</bibliographicDesignationText>
            </document>
          </reference>
          <component typeCode="COMP">
            <adverseEventAssessment classCode="INVSTG" moodCode="EVN">
              <subject1 typeCode="SBJ">
                <primaryRole classCode="INVSBJ">
                  <player1 classCode="PSN" determinerCode="INSTANCE">
                    <name>T.O.</name>
                    <administrativeGenderCode code="2" codeSystem="1.0.5218"/>
                    <birthTime value="19260412"/>
                  </player1>
                  <subjectOf2 typeCode="SBJ">
                    <observation classCode="OBS" moodCode="EVN">
                      <code code="3" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>
                      <value xsi:type="PQ" value="81" unit="a"/>
                    </observation>
                  </subjectOf2>
                  <subjectOf2 typeCode="SBJ">
                    <observation classCode="OBS" moodCode="EVN">
                      <code code="C17049" codeSystem="2.16.840.1.113883.3.26.1.1"/>
                      <value xsi:type="CE" codeSystem="2.16.840.1.113883.3.26.1.1" nullFlavor="NI"/>
                      <!-- FDA.D.11: Patient Race Code -->
                    </observation>
                  </subjectOf2>
                  <subjectOf2 typeCode="SBJ">
                    <observation classCode="OBS" moodCode="EVN">
                      <code code="7" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>
                      <value xsi:type="PQ" value="59" unit="kg"/>
                    </observation>
                  </subjectOf2>
                  <subjectOf2 typeCode="SBJ">
                    <observation classCode="OBS" moodCode="EVN">
                      <id root="154eb889-958b-45f2-a02f-42d4d6f4657f"/>
                      <code code="29" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>
                      <effectiveTime xsi:type="SXPR_TS">
                        <comp xsi:type="IVL_TS">
                          <low value="20081009"/>
                          <high value="20081201"/>
                        </comp>
                        <comp xsi:type="IVL_TS" operator="A">
                          <width value="54" unit="d"/>
                        </comp>
                      </effectiveTime>
                      <value xsi:type="CE" code="10022617" codeSystem="2.16.840.1.113883.6.163" codeSystemVersion="15">
                        <originalText language="JA">間質性肺炎</originalText>
                      </value>
                      <location typeCode="LOC">
                        <locatedEntity classCode="LOCE">
                          <locatedPlace classCode="COUNTRY" determinerCode="INSTANCE">
                            <code code="JP" codeSystem="1.0.3166.1.2.2"/>
                          </locatedPlace>
                        </locatedEntity>
                      </location>
                      <outboundRelationship2 typeCode="PERT">
                        <observation classCode="OBS" moodCode="EVN">
                          <code code="30" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>
                          <value xsi:type="ED">INTERSTITIAL PNEUMONIA</value>
                        </observation>
                      </outboundRelationship2>
                      <outboundRelationship2 typeCode="PERT">
                        <observation classCode="OBS" moodCode="EVN">
                          <code code="34" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>
                          <value xsi:type="BL" nullFlavor="NI"/>
                        </observation>
                      </outboundRelationship2>
                      <outboundRelationship2 typeCode="PERT">
                        <observation classCode="OBS" moodCode="EVN">
                          <code code="21" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>
                          <value xsi:type="BL" value="true"/>
                        </observation>
                      </outboundRelationship2>
                      <outboundRelationship2 typeCode="PERT">
                        <observation classCode="OBS" moodCode="EVN">
                          <code code="33" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>
                          <value xsi:type="BL" value="true"/>
                        </observation>
                      </outboundRelationship2>
                      <outboundRelationship2 typeCode="PERT">
                        <observation classCode="OBS" moodCode="EVN">
                          <code code="35" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>
                          <value xsi:type="BL" nullFlavor="NI"/>
                        </observation>
                      </outboundRelationship2>
                      <outboundRelationship2 typeCode="PERT">
                        <observation classCode="OBS" moodCode="EVN">
                          <code code="12" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>
                          <value xsi:type="BL" nullFlavor="NI"/>
                        </observation>
                      </outboundRelationship2>
                      <outboundRelationship2 typeCode="PERT">
                        <observation classCode="OBS" moodCode="EVN">
                          <code code="26" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>
                          <value xsi:type="BL" nullFlavor="NI"/>
                        </observation>
                      </outboundRelationship2>
                      <outboundRelationship2 typeCode="PERT">
                        <observation classCode="OBS" moodCode="EVN">
                          <code code="726" codeSystem="2.16.840.1.113883.3.989.5.1.2.2.1.32"/>
                          <value xsi:type="BL" value="true"/>
                          <!-- FDA.E.i.3.2h: Required Intervention -->
                        </observation>
                      </outboundRelationship2>
                      <outboundRelationship2 typeCode="PERT">
                        <observation classCode="OBS" moodCode="EVN">
                          <code code="27" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>
                          <value xsi:type="CE" code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.11"/>
                        </observation>
                      </outboundRelationship2>
                    </observation>
                  </subjectOf2>
                  <subjectOf2 typeCode="SBJ">
                    <organizer classCode="CATEGORY" moodCode="EVN">
                      <code code="3" codeSystem="2.16.840.1.113883.3.989.2.1.1.20"/>
                      <component typeCode="COMP">
                        <observation classCode="OBS" moodCode="EVN">
                          <code code="10006824" codeSystem="2.16.840.1.113883.6.163" codeSystemVersion="15"><originalText/></code>
                          <effectiveTime value="20081010"/>
                          <value xsi:type="IVL_PQ"><center value="4.46" unit="mg/dL"/></value>
                        </observation>
                      </component>
                    </organizer>
                  </subjectOf2>
                  <subjectOf2 typeCode="SBJ">
                    <organizer classCode="CATEGORY" moodCode="EVN">
                      <code code="4" codeSystem="2.16.840.1.113883.3.989.2.1.1.20"/>
                      <component typeCode="COMP">
                        <substanceAdministration classCode="SBADM" moodCode="EVN">
                          <id root="3c91b4d5-e039-4a7a-9c30-67671b0ef9e4"/>
                          <consumable typeCode="CSM">
                            <instanceOfKind classCode="INST">
                              <kindOfProduct classCode="MMAT" determinerCode="KIND">
                                <code code="218901001" codeSystem="TBD-MPID" codeSystemVersion="1.01"/>
                                <name>MEVALOTIN</name>
                                <name>G.k.3.2</name>
                                <ingredient classCode="ACTI">
                                  <quantity><numerator value="20" unit="mg"/><denominator value="1"/></quantity>
                                  <ingredientSubstance classCode="MMAT" determinerCode="KIND"><name>PRAVASTATIN SODIUM</name></ingredientSubstance>
                                </ingredient>
                              </kindOfProduct>
                            </instanceOfKind>
                          </consumable>
                          <inboundRelationship typeCode="RSON">
                            <observation classCode="OBS" moodCode="EVN">
                              <code code="19" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>
                              <value xsi:type="CE" code="10062060" codeSystem="2.16.840.1.113883.6.163" codeSystemVersion="15">
                                <originalText>HYPERLIPIDAEMIA</originalText>
                              </value>
                            </observation>
                          </inboundRelationship>
                        </substanceAdministration>
                      </component>
                    </organizer>
                  </subjectOf2>
                </primaryRole>
              </subject1>
              <component typeCode="COMP">
                <causalityAssessment classCode="OBS" moodCode="EVN">
                  <code code="20" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>
                  <value xsi:type="CE" code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.13"/>
                  <subject2 typeCode="SUBJ">
                    <productUseReference classCode="SBADM" moodCode="EVN">
                      <id root="3c91b4d5-e039-4a7a-9c30-67671b0ef9e4"/>
                    </productUseReference>
                  </subject2>
                </causalityAssessment>
              </component>
              <component typeCode="COMP">
                <causalityAssessment classCode="OBS" moodCode="EVN">
                  <code code="39" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>
                  <value xsi:type="ST">RELATED</value>
                  <methodCode>
                    <originalText>GLOBAL INTROSPECTION</originalText>
                  </methodCode>
                  <author typeCode="AUT">
                    <assignedEntity classCode="ASSIGNED">
                      <code>
                        <originalText>REPORTER</originalText>
                      </code>
                    </assignedEntity>
                  </author>
                  <subject1 typeCode="SUBJ">
                    <adverseEffectReference classCode="OBS" moodCode="EVN">
                      <id root="154eb889-958b-45f2-a02f-42d4d6f4657f"/>
                    </adverseEffectReference>
                  </subject1>
                  <subject2 typeCode="SUBJ">
                    <productUseReference classCode="SBADM" moodCode="EVN">
                      <id root="3c91b4d5-e039-4a7a-9c30-67671b0ef9e4"/>
                    </productUseReference>
                  </subject2>
                </causalityAssessment>
              </component>
            </adverseEventAssessment>
          </component>
          <component typeCode="COMP">
            <observationEvent classCode="OBS" moodCode="EVN">
              <code code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>
              <value xsi:type="BL" value="true"/>
            </observationEvent>
          </component>
          <component typeCode="COMP">
            <observationEvent classCode="OBS" moodCode="EVN">
              <code code="23" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>
              <value xsi:type="BL" value="true"/>
            </observationEvent>
          </component>
          <outboundRelationship typeCode="SPRT">
            <relatedInvestigation classCode="INVSTG" moodCode="EVN">
              <code code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.22"/>
              <subjectOf2 typeCode="SUBJ">
                <controlActEvent classCode="CACT" moodCode="EVN">
                  <author typeCode="AUT">
                    <assignedEntity classCode="ASSIGNED">
                      <code code="2" codeSystem="2.16.840.1.113883.3.989.2.1.1.3"/>
                    </assignedEntity>
                  </author>
                </controlActEvent>
              </subjectOf2>
            </relatedInvestigation>
          </outboundRelationship>
          <outboundRelationship typeCode="SPRT">
            <priorityNumber value="1"/>
            <relatedInvestigation classCode="INVSTG" moodCode="EVN">
              <code code="2" codeSystem="2.16.840.1.113883.3.989.2.1.1.22"/>
              <subjectOf2 typeCode="SUBJ">
                <controlActEvent classCode="CACT" moodCode="EVN">
                  <author typeCode="AUT">
                    <assignedEntity classCode="ASSIGNED">
                      <addr>
                        <streetAddressLine>3-1-1 Maidashi, Higashi-ku</streetAddressLine>
                        <city>Fukuoka</city>
                        <state>Fukuoka</state>
                        <postalCode>812-8582</postalCode>
                      </addr>
                      <assignedPerson classCode="PSN" determinerCode="INSTANCE">
                        <name>
                          <prefix>C.2.r.1.1</prefix>
                          <given>Kyoko</given>
                          <given>C.2.r.1.3</given>
                          <family>Kudo</family>
                        </name>
                        <asQualifiedEntity classCode="QUAL">
                          <code code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.6"/>
                        </asQualifiedEntity>
                        <asLocatedEntity classCode="LOCE">
                          <location classCode="COUNTRY" determinerCode="INSTANCE">
                            <code code="JP" codeSystem="1.0.3166.1.2.2"/>
                          </location>
                        </asLocatedEntity>
                      </assignedPerson>
                      <representedOrganization classCode="ORG" determinerCode="INSTANCE">
                        <name>Respiratory</name>
                        <assignedEntity classCode="ASSIGNED">
                          <representedOrganization classCode="ORG" determinerCode="INSTANCE">
                            <name>Kyushu University</name>
                          </representedOrganization>
                        </assignedEntity>
                      </representedOrganization>
                    </assignedEntity>
                  </author>
                </controlActEvent>
              </subjectOf2>
            </relatedInvestigation>
          </outboundRelationship>
          <subjectOf1 typeCode="SUBJ">
            <controlActEvent classCode="CACT" moodCode="EVN">
              <author typeCode="AUT">
                <assignedEntity classCode="ASSIGNED">
                  <code code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.7"/>
                  <representedOrganization classCode="ORG" determinerCode="INSTANCE">
                    <assignedEntity classCode="ASSIGNED">
                      <representedOrganization classCode="ORG" determinerCode="INSTANCE">
                        <name>DSJP</name>
                      </representedOrganization>
                    </assignedEntity>
                  </representedOrganization>
                </assignedEntity>
              </author>
            </controlActEvent>
          </subjectOf1>
          <subjectOf2 typeCode="SUBJ">
            <investigationCharacteristic classCode="OBS" moodCode="EVN">
              <code code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.23"/>
              <value xsi:type="CE" code="1" codeSystem="2.16.840.1.113883.3.989.2.1.1.2"/>
            </investigationCharacteristic>
          </subjectOf2>
          <subjectOf2 typeCode="SUBJ">
            <investigationCharacteristic classCode="OBS" moodCode="EVN">
              <code code="2" codeSystem="2.16.840.1.113883.3.989.2.1.1.19"/>
              <value xsi:type="CE" codeSystem="2.16.840.1.113883.3.989.5.1.2.2.1.1.1" nullFlavor="NI"/>
              <!-- FDA.C.1.7.1 Local Criteria Report Type -->
            </investigationCharacteristic>
          </subjectOf2>
        </investigationEvent>
      </subject>
    </controlActProcess>
  </PORR_IN049016UV>
  <receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE"><id extension="ICHTEST" root="2.16.840.1.113883.3.989.2.1.3.14"/></device></receiver>
  <sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE"><id extension="DSJP" root="2.16.840.1.113883.3.989.2.1.3.13"/></device></sender>
</MCCI_IN200100UV01>
"#;

    /// Every value read back is the one the ICH reference instance carries
    /// (element numbers in the comments).
    #[test]
    fn reads_the_ich_reference_instance() {
        let cases = read_xml(REFERENCE_INSTANCE).unwrap();
        assert_eq!(cases.len(), 1);
        let c = &cases[0];
        assert_eq!(c.safety_report_id, "JP-DSJP-DSJ-2009-98765-1"); // C.1.1
        assert_eq!(c.worldwide_case_id, "JP-DSJP-DSJ-2009-98765-1"); // C.1.8.1
        assert_eq!(c.created, d(2012, 7, 20).and_hms_opt(10, 0, 1).unwrap()); // C.1.2
        assert_eq!(c.report_type, 1); // C.1.3 spontaneous
        assert_eq!(c.first_received, d(2009, 6, 22)); // C.1.4
        assert_eq!(c.most_recent, d(2010, 4, 12)); // C.1.5
        assert!(c.expedited); // C.1.7
        assert_eq!(c.sender.sender_type, 1); // C.3.1 (fixture's sender block)
        assert_eq!(
            c.reporters,
            vec![Reporter {
                given_name: Some("Kyoko".into()),
                family_name: Some("Kudo".into()),
                organisation: Some("Kyushu University".into()),
                country: Some("JP".into()),
                qualification: Some(1),
            }]
        ); // C.2.r.1.2, C.2.r.1.4, C.2.r.2.1, C.2.r.3, C.2.r.4 physician
        assert_eq!(c.patient.initials.as_deref(), Some("T.O.")); // D.1
        assert_eq!(c.patient.sex, Some(2)); // D.5 female
        assert_eq!(
            c.patient.age,
            Some(Age {
                value: 81.0,
                unit: "a".into()
            })
        ); // D.2.2
        assert_eq!(c.patient.study_subject_id, None);
        assert_eq!(c.patient.death_date, None);
        assert_eq!(c.reactions.len(), 1);
        let r = &c.reactions[0];
        assert_eq!((r.term.as_str(), r.language.as_str()), ("間質性肺炎", "JA")); // E.i.1.1a/b
        assert_eq!(r.meddra_version.as_deref(), Some("15")); // E.i.2.1a
        assert_eq!(r.meddra_llt.as_deref(), Some("10022617")); // E.i.2.1b
        assert_eq!(
            r.seriousness,
            Seriousness {
                life_threatening: true,
                hospitalisation: true,
                ..Seriousness::default()
            }
        ); // E.i.3.2b and c true, the rest NI
        assert_eq!(
            (r.start, r.end),
            (Some(d(2008, 10, 9)), Some(d(2008, 12, 1)))
        ); // E.i.4, E.i.5
        assert_eq!(r.outcome, Some(1)); // E.i.7 recovered / resolved
        assert_eq!(c.drugs.len(), 1);
        let g = &c.drugs[0];
        assert_eq!((g.role, g.name.as_str()), (1, "MEVALOTIN")); // G.k.1 suspect, G.k.2.2
        assert_eq!(
            g.assessments,
            vec![Assessment {
                reaction_index: 0,
                source: "REPORTER".into(),
                method: "GLOBAL INTROSPECTION".into(),
                result: "RELATED".into(),
            }]
        ); // G.k.9.i.2.r.1–3
        assert!(c
            .narrative
            .starts_with("An 81-year-old female patient received Mevalotin")); // H.1
        assert_eq!(c.study, None);
        // Written out and read again, the case is unchanged.
        let again = read_xml(&write_xml(c)).unwrap();
        assert_eq!(&again[0], c);
    }

    #[test]
    fn rich_case_round_trips_byte_for_byte() {
        let c = rich_case();
        let xml = write_checked(&c).unwrap();
        let back = read_xml(&xml).unwrap();
        assert_eq!(back, vec![c.clone()]);
        assert_eq!(write_xml(&back[0]), xml);
        // Escapes: markup characters as entities, CR and attribute TABs as
        // character references (XML 1.0 §2.4, §2.11, §3.3.3).
        assert!(xml.contains("细胞治疗有限公司 &amp; Partners &lt;CN&gt;"));
        assert!(xml.contains("北京协和医院 \"血液科\""));
        assert!(xml.contains("&#13;\n\"已缓解\""));
        assert!(xml.contains("B2026-0301\tA")); // TAB kept raw in text
        assert!(!xml.contains('\r'));
    }

    /// A batch of two cases reads back as both, in order.
    #[test]
    fn batch_of_two() {
        let a = rich_case();
        let mut b = rich_case();
        b.safety_report_id = "CN-CELLTRAIL-2026-000124".into();
        b.study = None;
        b.reporters.reverse();
        let at = d(2026, 3, 15).and_hms_opt(8, 0, 0).unwrap();
        let xml =
            write_batch_checked(&[a.clone(), b.clone()], "B-1", "CELLTRAIL", "CNNMPA", at).unwrap();
        assert_eq!(
            xml,
            write_batch(&[a.clone(), b.clone()], "B-1", "CELLTRAIL", "CNNMPA", at)
        );
        let back = read_xml(&xml).unwrap();
        assert_eq!(back, vec![a, b]);
        assert_eq!(
            write_batch_checked(&[], "B-1", "S", "R", at)
                .unwrap_err()
                .code,
            "e2b_batch_empty"
        );
    }

    fn at<'a>(e: &'a Element, path: &[&str]) -> &'a Element {
        e.path(path)
            .unwrap_or_else(|| panic!("no {path:?} under {}", e.name))
    }

    /// The element paths, identifier roots and code systems of the output
    /// are those of the ICH reference instance (see REFERENCE_INSTANCE)
    /// and the IG's OID table.
    #[test]
    fn output_follows_the_reference_instance_paths() {
        let c = rich_case();
        let root = parse_document(&write_xml(&c)).unwrap();
        assert_eq!(root.name, "MCCI_IN200100UV01");
        assert_eq!(root.attr("xmlns"), Some("urn:hl7-org:v3"));
        assert_eq!(
            at(&root, &["id"]).attr("root"),
            Some("2.16.840.1.113883.3.989.2.1.3.22")
        );
        assert_eq!(
            at(&root, &["name"]).attr("codeSystem"),
            Some("2.16.840.1.113883.3.989.2.1.1.1")
        );
        let msg = at(&root, &["PORR_IN049016UV"]);
        assert_eq!(
            at(msg, &["interactionId"]).attr("extension"),
            Some("PORR_IN049016UV")
        );
        let cap = at(msg, &["controlActProcess"]);
        assert_eq!(at(cap, &["code"]).attr("code"), Some("PORR_TE049016UV"));
        assert_eq!(
            at(cap, &["effectiveTime"]).attr("value"),
            Some("20260314092653")
        );
        let ev = at(cap, &["subject", "investigationEvent"]);
        let ids: Vec<(Option<&str>, Option<&str>)> = ev
            .kids("id")
            .map(|i| (i.attr("root"), i.attr("extension")))
            .collect();
        assert_eq!(
            ids,
            vec![
                (
                    Some("2.16.840.1.113883.3.989.2.1.3.1"),
                    Some("CN-CELLTRAIL-2026-000123")
                ),
                (
                    Some("2.16.840.1.113883.3.989.2.1.3.2"),
                    Some("CN-CELLTRAIL-2026-000123")
                ),
            ]
        );
        assert_eq!(
            at(ev, &["effectiveTime", "low"]).attr("value"),
            Some("20260310")
        );
        assert_eq!(
            at(ev, &["availabilityTime"]).attr("value"),
            Some("20260312")
        );
        let role = at(
            ev,
            &[
                "component",
                "adverseEventAssessment",
                "subject1",
                "primaryRole",
            ],
        );
        assert_eq!(at(role, &["player1", "name"]).text, "ZW");
        assert_eq!(
            at(role, &["player1", "administrativeGenderCode"]).attr("codeSystem"),
            Some("1.0.5218")
        );
        assert_eq!(
            at(role, &["player1", "asIdentifiedEntity", "id"]).attr("root"),
            Some("2.16.840.1.113883.3.989.2.1.3.10")
        );
        let study = at(role, &["subjectOf1", "researchStudy"]);
        assert_eq!(
            at(study, &["id"]).attr("root"),
            Some("2.16.840.1.113883.3.989.2.1.3.5")
        );
        assert_eq!(
            at(study, &["authorization", "studyRegistration", "id"]).attr("root"),
            Some("2.16.840.1.113883.3.989.2.1.3.6")
        );
        let reaction = role
            .kids("subjectOf2")
            .filter_map(|s| s.child("observation"))
            .find(|o| o.has_code("29", "2.16.840.1.113883.3.989.2.1.1.19"))
            .unwrap();
        let v = at(reaction, &["value"]);
        assert_eq!(
            (
                v.attr("code"),
                v.attr("codeSystem"),
                v.attr("codeSystemVersion")
            ),
            (
                Some("10052015"),
                Some("2.16.840.1.113883.6.163"),
                Some("27.0")
            )
        );
        assert_eq!(at(v, &["originalText"]).attr("language"), Some("zh"));
        let lot = role
            .kids("subjectOf2")
            .filter_map(|s| s.child("organizer"))
            .find_map(|o| {
                o.path(&[
                    "component",
                    "substanceAdministration",
                    "outboundRelationship2",
                    "substanceAdministration",
                    "consumable",
                    "instanceOfKind",
                    "productInstanceInstance",
                    "lotNumberText",
                ])
            })
            .unwrap();
        assert_eq!(lot.text, "B2026-0301\tA");
        let role_value = at(
            ev,
            &[
                "component",
                "adverseEventAssessment",
                "component",
                "causalityAssessment",
                "value",
            ],
        );
        assert_eq!(
            role_value.attr("codeSystem"),
            Some("2.16.840.1.113883.3.989.2.1.1.13")
        );
        let reporter = ev
            .kids("outboundRelationship")
            .find(|r| r.child("priorityNumber").is_some())
            .unwrap();
        let person = at(
            reporter,
            &[
                "relatedInvestigation",
                "subjectOf2",
                "controlActEvent",
                "author",
                "assignedEntity",
                "assignedPerson",
            ],
        );
        assert_eq!(
            at(person, &["asQualifiedEntity", "code"]).attr("codeSystem"),
            Some("2.16.840.1.113883.3.989.2.1.1.6")
        );
        assert_eq!(
            at(person, &["asLocatedEntity", "location", "code"]).attr("codeSystem"),
            Some("1.0.3166.1.2.2")
        );
        let sender = at(
            ev,
            &[
                "subjectOf1",
                "controlActEvent",
                "author",
                "assignedEntity",
                "code",
            ],
        );
        assert_eq!(
            sender.attr("codeSystem"),
            Some("2.16.840.1.113883.3.989.2.1.1.7")
        );
        let report_type = ev
            .kids("subjectOf2")
            .find_map(|s| s.path(&["investigationCharacteristic", "value"]))
            .unwrap();
        assert_eq!(
            (report_type.attr("code"), report_type.attr("codeSystem")),
            (Some("2"), Some("2.16.840.1.113883.3.989.2.1.1.2"))
        );
    }

    /// RFC 4122 name-based UUIDs; the vector is the example in the Python
    /// standard library's `uuid` documentation:
    /// uuid5(NAMESPACE_DNS, 'python.org') = 886313e1-3b8a-5372-9b90-0c9aee199e5d.
    #[test]
    fn uuid_v5_matches_the_published_example() {
        let dns = [
            0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4,
            0x30, 0xc8,
        ];
        assert_eq!(
            uuid_v5(&dns, b"python.org"),
            "886313e1-3b8a-5372-9b90-0c9aee199e5d"
        );
        assert_ne!(local_id("A", "reaction", 0), local_id("A", "reaction", 1));
        assert_ne!(local_id("A", "reaction", 0), local_id("A", "drug", 0));
    }

    /// ICH E2D §5.1: a valid case needs an identifiable patient, an
    /// identifiable reporter, a reaction and a suspect product; any one
    /// qualifying descriptor suffices, a reporter's country alone does not.
    #[test]
    fn minimum_case_names_what_is_missing() {
        let mut c = rich_case();
        assert_eq!(minimum_case(&c), Ok(()));
        c.patient = Patient::default();
        c.reporters = vec![Reporter {
            country: Some("CN".into()),
            ..Reporter::default()
        }];
        c.reactions[0].term = " ".into();
        c.reactions[0].meddra_llt = None;
        c.reactions[1].term.clear();
        c.drugs[0].role = 2; // concomitant only
        let e = minimum_case(&c).unwrap_err();
        assert_eq!(e.code(), "e2b_minimum_case");
        assert_eq!(
            e.missing,
            vec!["patient", "reporter", "reaction", "suspect_drug"]
        );
        assert_eq!(
            e.args(),
            vec![(
                "missing",
                "patient, reporter, reaction, suspect_drug".to_string()
            )]
        );
        assert_eq!(
            e.missing_text(Lang::Zh),
            "可识别的患者、可识别的报告者、不良事件或不良反应、怀疑或相互作用药品"
        );
        assert_eq!(write_checked(&c).unwrap_err(), e);
        // One descriptor each is enough.
        c.patient.sex = Some(1);
        c.reporters[0].qualification = Some(5);
        c.reactions[1].meddra_llt = Some("10037660".into());
        c.drugs[1].role = 3; // interacting
        assert_eq!(minimum_case(&c), Ok(()));
        for p in [
            Patient {
                initials: Some("W".into()),
                ..Patient::default()
            },
            Patient {
                study_subject_id: Some("S-1".into()),
                ..Patient::default()
            },
            Patient {
                age: Some(Age {
                    value: 3.0,
                    unit: "mo".into(),
                }),
                ..Patient::default()
            },
        ] {
            c.patient = p;
            assert_eq!(minimum_case(&c), Ok(()));
        }
    }

    /// A document whose case lacks the minimum is refused on import.
    #[test]
    fn import_refuses_a_case_without_the_minimum() {
        let mut c = rich_case();
        c.patient.initials = None;
        c.patient.study_subject_id = None;
        c.patient.age = None;
        let xml = write_xml(&c);
        let stripped = xml.replace(
            "<administrativeGenderCode code=\"2\" codeSystem=\"1.0.5218\"/>",
            "",
        );
        let e = read_xml(&stripped).unwrap_err();
        assert_eq!(
            (e.code, e.missing.clone()),
            ("e2b_minimum_case", vec!["patient"])
        );
        assert!(e.line.is_some());
    }

    fn error_of(xml: &str) -> E2bError {
        read_xml(xml).unwrap_err()
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let e = error_of("<?xml version=\"1.0\"?>\n<a>\n<b></a>");
        assert_eq!((e.code, e.line), ("e2b_xml_malformed", Some(3)));
        assert_eq!(error_of("").code, "e2b_xml_malformed");
        assert_eq!(error_of("<a b=\"1\" b=\"2\"/>").code, "e2b_xml_malformed");
        assert_eq!(error_of("<a>&bogus;</a>").code, "e2b_xml_malformed");
        assert_eq!(error_of("<a>&#1;</a>").code, "e2b_xml_malformed");
        assert_eq!(error_of("<a>\u{1}</a>").code, "e2b_xml_malformed");
        assert_eq!(error_of("<a/><b/>").code, "e2b_xml_malformed");
        let e = error_of("<?xml version=\"1.0\"?>\n<!DOCTYPE a [<!ENTITY x \"y\">]>\n<a>&x;</a>");
        assert_eq!((e.code, e.line), ("e2b_xml_doctype", Some(2)));
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(error_of(&deep).code, "e2b_xml_too_deep");
        let e = error_of("<ichicsr lang=\"en\"/>");
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("e2b_root_invalid", Some("ichicsr"))
        );
        assert_eq!(error_of("<MCCI_IN200100UV01/>").code, "e2b_batch_empty");
    }

    #[test]
    fn the_parser_reads_xml_as_xml_1_0_says() {
        let root = parse_document(
            "\u{feff}<?xml version='1.0'?><!-- c --><r a='x&#9;y\tz' b=\"&lt;&#x4E2D;\"> 1\r\n2\r3 <![CDATA[<&>]]>&amp;<?pi x?><k/></r>\n",
        )
        .unwrap();
        assert_eq!(root.attr("a"), Some("x\ty z")); // §3.3.3: references kept, TAB normalised
        assert_eq!(root.attr("b"), Some("<中"));
        assert_eq!(root.text, " 1\n2\n3 <&>&"); // §2.11 line ends
        assert_eq!(root.children.len(), 1);
        // Prefixed names match by local name.
        let r = parse_document("<hl7:a xmlns:hl7=\"urn:hl7-org:v3\"><hl7:b x:y=\"1\"/></hl7:a>")
            .unwrap();
        assert_eq!(r.local(), "a");
        assert_eq!(r.child("b").and_then(|b| b.attr("y")), Some("1"));
    }

    #[test]
    fn dates_must_be_whole() {
        let xml = write_xml(&rich_case());
        let partial = xml.replace("<low value=\"20260309\"/>", "<low value=\"202603\"/>");
        let e = error_of(&partial);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("e2b_date_partial", Some("E.i.4 #1"))
        );
        let bad = xml.replace(
            "<low value=\"20260310\"/>\n          </effectiveTime>",
            "<low value=\"20260230\"/>\n          </effectiveTime>",
        );
        assert_ne!(bad, xml);
        let e = error_of(&bad);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("e2b_date_invalid", Some("C.1.4"))
        );
        let gone = xml.replace("<availabilityTime value=\"20260312\"/>", "");
        let e = error_of(&gone);
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("e2b_element_missing", Some("C.1.5"))
        );
    }

    #[test]
    fn validation_names_the_element() {
        let check = |f: &dyn Fn(&mut Icsr), code: &str, field: &str| {
            let mut c = rich_case();
            f(&mut c);
            let e = write_checked(&c).unwrap_err();
            assert_eq!((e.code, e.field.as_deref()), (code, Some(field)));
        };
        check(&|c| c.narrative.push('\u{0}'), "e2b_char_invalid", "H.1");
        check(
            &|c| c.reactions[1].term.push('\u{FFFE}'),
            "e2b_char_invalid",
            "E.i.1.1a #2",
        );
        check(
            &|c| c.safety_report_id = "  ".into(),
            "e2b_element_missing",
            "C.1.1",
        );
        check(&|c| c.report_type = 5, "e2b_code_invalid", "C.1.3");
        check(&|c| c.sender.sender_type = 0, "e2b_code_invalid", "C.3.1");
        check(
            &|c| c.reporters[1].qualification = Some(6),
            "e2b_code_invalid",
            "C.2.r.4 #2",
        );
        check(
            &|c| c.reporters[0].country = Some("cn".into()),
            "e2b_code_invalid",
            "C.2.r.3 #1",
        );
        check(&|c| c.patient.sex = Some(0), "e2b_code_invalid", "D.5");
        check(
            &|c| {
                c.patient.age = Some(Age {
                    value: f64::NAN,
                    unit: "a".into(),
                })
            },
            "e2b_value_invalid",
            "D.2.2a",
        );
        check(
            &|c| {
                c.patient.age = Some(Age {
                    value: 3.0,
                    unit: "years".into(),
                })
            },
            "e2b_code_invalid",
            "D.2.2b",
        );
        check(
            &|c| c.reactions[0].outcome = Some(6),
            "e2b_code_invalid",
            "E.i.7 #1",
        );
        check(
            &|c| c.reactions[0].meddra_llt = Some("1002261".into()),
            "e2b_code_invalid",
            "E.i.2.1b #1",
        );
        check(&|c| c.drugs[1].role = 5, "e2b_code_invalid", "G.k.1 #2");
        check(
            &|c| c.drugs[0].assessments[0].reaction_index = 2,
            "e2b_reference_invalid",
            "G.k.9.i.1 #1",
        );
        check(
            &|c| c.first_received = d(10000, 1, 1),
            "e2b_date_invalid",
            "C.1.4",
        );
    }

    /// Every code has a message in both languages, and every placeholder
    /// of those messages is filled by the arguments of a real error.
    #[test]
    fn every_error_has_a_message() {
        let xml = write_xml(&rich_case());
        let mut errors = vec![
            error_of("<a>"),
            error_of(&"<a>".repeat(MAX_DEPTH + 1)),
            error_of("<!DOCTYPE a><a/>"),
            error_of("<ichicsr/>"),
            error_of("<MCCI_IN200100UV01/>"),
            error_of(&xml.replace("<availabilityTime value=\"20260312\"/>", "")),
            error_of(&xml.replace("<low value=\"20260309\"/>", "<low value=\"2026\"/>")),
            error_of(&xml.replace("<low value=\"20260309\"/>", "<low value=\"20261309\"/>")),
            error_of(&xml.replace("value=\"34.5\"", "value=\"many\"")),
        ];
        let mut c = rich_case();
        c.report_type = 9;
        errors.push(write_checked(&c).unwrap_err());
        let mut c = rich_case();
        c.drugs[0].assessments[0].reaction_index = 9;
        errors.push(write_checked(&c).unwrap_err());
        let mut c = rich_case();
        c.narrative = "\u{7}".into();
        errors.push(write_checked(&c).unwrap_err());
        let mut c = rich_case();
        c.reporters.clear();
        errors.push(write_checked(&c).unwrap_err());
        let seen: std::collections::BTreeSet<&str> = errors.iter().map(|e| e.code).collect();
        let all: std::collections::BTreeSet<&str> = ERROR_CODES.iter().copied().collect();
        assert_eq!(seen, all);
        let cat = catalog();
        for e in &errors {
            let args = e.args();
            for lang in [Lang::Zh, Lang::En] {
                let key = format!("error.{}", e.code);
                assert!(cat.contains(lang, &key), "{key} missing in {lang:?}");
                for p in placeholders(cat.get(lang, &key)) {
                    assert!(
                        args.iter().any(|(k, _)| *k == p),
                        "{key}: no {p} in {args:?}"
                    );
                }
            }
        }
        for item in MINIMUM_ITEMS {
            for lang in [Lang::Zh, Lang::En] {
                assert!(cat.contains(lang, &format!("e2b.minimum.{item}")));
            }
        }
    }

    /// The unchecked writer leaves out what XML cannot carry and skips
    /// dangling assessments, so its output always parses; the import then
    /// refuses what does not hold the minimum case.
    #[test]
    fn unchecked_writer_stays_well_formed() {
        let mut c = rich_case();
        c.narrative = "a\u{0}b\u{1b}c\u{FFFF}".into();
        c.sender.organisation.push('\u{8}');
        c.drugs[0].assessments[1].reaction_index = 7;
        let xml = write_xml(&c);
        assert!(xml.contains("<text>abc</text>"));
        let back = read_xml(&xml).unwrap();
        assert_eq!(back[0].narrative, "abc");
        assert_eq!(back[0].drugs[0].assessments.len(), 1);
        c.drugs.clear();
        let e = error_of(&write_xml(&c));
        assert_eq!(
            (e.code, e.missing.clone()),
            ("e2b_minimum_case", vec!["suspect_drug"])
        );
    }

    // ---- properties --------------------------------------------------------

    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::Index;

    /// Any outcome of reading is a known error with a line, or cases that
    /// export and read back unchanged.
    fn check_read(s: &str) -> std::result::Result<(), TestCaseError> {
        match read_xml(s) {
            Ok(cases) => {
                for c in cases {
                    let x = write_checked(&c).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                    prop_assert_eq!(&read_xml(&x).unwrap()[0], &c);
                }
            }
            Err(e) => {
                prop_assert!(ERROR_CODES.contains(&e.code), "{:?}", e);
                prop_assert!(e.line.is_some(), "{:?}", e);
            }
        }
        Ok(())
    }

    fn text() -> impl Strategy<Value = String> {
        "[\\PC\\t\\n\\r&<>\"']{0,10}"
    }

    fn opt_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(text())
    }

    fn date() -> impl Strategy<Value = NaiveDate> {
        (1900i32..2100, 1u32..=12, 1u32..=28)
            .prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap())
    }

    fn reporter() -> impl Strategy<Value = Reporter> {
        (
            opt_text(),
            opt_text(),
            opt_text(),
            proptest::option::of("[A-Z]{2}"),
            proptest::option::of(1u8..=5),
        )
            .prop_map(
                |(given_name, family_name, organisation, country, qualification)| Reporter {
                    given_name,
                    family_name,
                    organisation,
                    country,
                    qualification,
                },
            )
    }

    fn reaction() -> impl Strategy<Value = Reaction> {
        (
            (text(), "(zh|en|ja|zh-Hans|)"),
            proptest::option::of("[0-9]{1,2}\\.[0-9]"),
            proptest::option::of("1[0-9]{7}"),
            any::<[bool; 6]>(),
            (proptest::option::of(date()), proptest::option::of(date())),
            proptest::option::of(0u8..=5),
        )
            .prop_map(
                |((term, language), meddra_version, meddra_llt, flags, (start, end), outcome)| {
                    let mut seriousness = Seriousness::default();
                    for (i, f) in flags.into_iter().enumerate() {
                        seriousness.set(i, f);
                    }
                    Reaction {
                        term,
                        language,
                        meddra_version,
                        meddra_llt,
                        seriousness,
                        start,
                        end,
                        outcome,
                    }
                },
            )
    }

    fn drug() -> impl Strategy<Value = Drug> {
        (
            1u8..=4,
            text(),
            opt_text(),
            proptest::option::of(date()),
            vec((0usize..8, text(), text(), text()), 0..3),
        )
            .prop_map(|(role, name, batch, start, a)| Drug {
                role,
                name,
                batch,
                start,
                assessments: a
                    .into_iter()
                    .map(|(reaction_index, source, method, result)| Assessment {
                        reaction_index,
                        source,
                        method,
                        result,
                    })
                    .collect(),
            })
    }

    fn case() -> impl Strategy<Value = Icsr> {
        let head = (
            (text(), text(), date(), (0u32..24, 0u32..60, 0u32..60)),
            (1u8..=4, date(), date(), any::<bool>()),
            (1u8..=7, text()),
        );
        let patient = (
            opt_text(),
            opt_text(),
            proptest::option::of((0.0f64..150.0, prop::sample::select(AGE_UNITS))),
            proptest::option::of(1u8..=2),
            proptest::option::of(date()),
        );
        let study = proptest::option::of((text(), opt_text(), opt_text()));
        (
            head,
            vec(reporter(), 1..3),
            patient,
            vec(reaction(), 1..4),
            vec(drug(), 1..3),
            text(),
            study,
        )
            .prop_map(
                |(head, mut reporters, p, reactions, mut drugs, narrative, study)| {
                    let (
                        (id, world, created, (h, mi, s)),
                        (report_type, first, recent, expedited),
                        (st, org),
                    ) = head;
                    let (initials, study_subject_id, age, sex, death_date) = p;
                    let mut patient = Patient {
                        initials,
                        study_subject_id,
                        age: age.map(|(value, unit)| Age {
                            value,
                            unit: unit.to_string(),
                        }),
                        sex,
                        death_date,
                    };
                    if !patient_identifiable(&patient) {
                        patient.sex = Some(2);
                    }
                    if !reporters.iter().any(reporter_identifiable) {
                        reporters[0].qualification = Some(1);
                    }
                    drugs[0].role = 1;
                    drugs[0].name.insert(0, 'D');
                    let n = reactions.len();
                    for d in &mut drugs {
                        for a in &mut d.assessments {
                            a.reaction_index %= n;
                        }
                    }
                    let mut c = Icsr {
                        safety_report_id: format!("R{id}"),
                        worldwide_case_id: format!("W{world}"),
                        created: created.and_hms_opt(h, mi, s).unwrap(),
                        report_type,
                        first_received: first,
                        most_recent: recent,
                        expedited,
                        sender: Sender {
                            sender_type: st,
                            organisation: format!("O{org}"),
                        },
                        reporters,
                        patient,
                        reactions,
                        drugs,
                        narrative,
                        study: study.map(|(name, sponsor_number, registration)| Study {
                            name,
                            sponsor_number,
                            registration,
                        }),
                    };
                    if blank(&c.reactions[0].term) && !present(&c.reactions[0].meddra_llt) {
                        c.reactions[0].term.insert(0, 'T');
                    }
                    c
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn generated_cases_round_trip(c in case()) {
            let xml = write_checked(&c).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            let back = read_xml(&xml).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(&back, &vec![c]);
            prop_assert_eq!(write_xml(&back[0]), xml);
        }

        #[test]
        fn unchecked_output_always_parses(
            mut c in case(),
            junk in "[\\x00-\\x1f\u{FFFE}\u{FFFF}a]{0,4}",
            code in any::<u8>(),
            index in any::<usize>(),
        ) {
            c.narrative.push_str(&junk);
            c.safety_report_id.push_str(&junk);
            c.reactions[0].term.push_str(&junk);
            c.report_type = code;
            c.drugs[0].assessments.push(Assessment {
                reaction_index: index,
                source: junk.clone(),
                method: String::new(),
                result: String::new(),
            });
            let xml = write_xml(&c);
            prop_assert!(parse_document(&xml).is_ok());
            check_read(&xml)?;
        }

        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,300}") {
            check_read(&s)?;
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in vec(any::<u8>(), 0..300)) {
            check_read(&String::from_utf8_lossy(&b))?;
        }

        #[test]
        fn markup_soup_never_panics(
            s in "(<[a-zA-Z:]{1,5}( [a-z:]{1,3}=(\"[^\"<]{0,4}\"|'x'))*/?>|</[a-zA-Z:]{1,5} ?>|&[a-z#x0-9]{0,5};?|<!--|-->|<!\\[CDATA\\[|\\]\\]>|<\\?|\\?>|<!DOCTYPE|[a-z \\n\\r]{0,4}|\u{0}|\u{FFFE}){0,40}"
        ) {
            check_read(&s)?;
        }

        #[test]
        fn mutated_documents_never_panic(
            edits in vec((any::<Index>(), 0u8..4, "[\\PC<>&\"/=]{0,6}"), 1..6)
        ) {
            let mut doc: Vec<char> = write_xml(&rich_case()).chars().collect();
            for (at, op, s) in edits {
                let pos = at.index(doc.len() + 1);
                match op {
                    0 => {
                        doc.splice(pos..pos, s.chars());
                    }
                    1 => {
                        let end = (pos + 1 + s.len()).min(doc.len());
                        doc.drain(pos.min(end)..end);
                    }
                    2 => {
                        if let (Some(slot), Some(c)) = (doc.get_mut(pos), s.chars().next()) {
                            *slot = c;
                        }
                    }
                    _ => {
                        let end = (pos + 40).min(doc.len());
                        let copy: Vec<char> = doc[pos.min(end)..end].to_vec();
                        doc.splice(pos.min(end)..pos.min(end), copy);
                    }
                }
            }
            check_read(&doc.into_iter().collect::<String>())?;
        }

        #[test]
        fn mutated_values_never_panic(
            which in vec((any::<Index>(), "[0-9A-Za-z.+\\-]{0,10}"), 1..4)
        ) {
            let mut doc = write_xml(&rich_case());
            for (k, v) in which {
                let starts: Vec<usize> = doc.match_indices("=\"").map(|(i, _)| i + 2).collect();
                let start = starts[k.index(starts.len())];
                let len = doc[start..].find('"').unwrap_or(0);
                doc.replace_range(start..start + len, &v);
            }
            check_read(&doc)?;
        }
    }
}
