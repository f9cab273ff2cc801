//! Dynamic consent (动态知情同意): what each subject permits, from when, and
//! the one check every export and data-sharing path asks.
//!
//! A subject's consent is a timeline. Each signed consent (to a version of
//! the study's consent document) sets the scopes the subject permits from
//! its day on; each withdrawal, whole or partial, removes scopes from its
//! day on. [`ConsentIndex::check`] answers "did this subject permit this use
//! on this day?" in a hash lookup and, for past days, a binary search.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::i18n::Lang;
use crate::{pick, string_enum};

/// A use of a subject's data or samples that consent may grant or refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    StudyData,
    SecondaryResearch,
    BiobankStorage,
    GeneticAnalysis,
    Recontact,
    ShareInstitutions,
    CommercialUse,
}

string_enum!(Scope, "consent_scope", {
    StudyData => "study_data",
    SecondaryResearch => "secondary_research",
    BiobankStorage => "biobank_storage",
    GeneticAnalysis => "genetic_analysis",
    Recontact => "recontact",
    ShareInstitutions => "share_institutions",
    CommercialUse => "commercial_use",
});

impl Scope {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Scope::StudyData => pick(lang, "本研究使用数据", "Use of data for this study"),
            Scope::SecondaryResearch => pick(lang, "用于其他研究", "Secondary research"),
            Scope::BiobankStorage => pick(lang, "样本库保存", "Biobank storage"),
            Scope::GeneticAnalysis => pick(lang, "基因分析", "Genetic analysis"),
            Scope::Recontact => pick(lang, "再次联系", "Recontact"),
            Scope::ShareInstitutions => {
                pick(lang, "与其他机构共享", "Sharing with other institutions")
            }
            Scope::CommercialUse => pick(lang, "商业用途", "Commercial use"),
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of scopes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    pub const NONE: Scopes = Scopes(0);

    pub fn all() -> Scopes {
        Scope::ALL.iter().copied().collect()
    }
    pub fn contains(self, s: Scope) -> bool {
        self.0 & s.bit() != 0
    }
    pub fn with(self, s: Scope) -> Scopes {
        Scopes(self.0 | s.bit())
    }
    pub fn without(self, other: Scopes) -> Scopes {
        Scopes(self.0 & !other.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL
            .iter()
            .copied()
            .filter(move |s| self.contains(*s))
    }
    /// Parses a list of scope names.
    pub fn parse<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Scopes, crate::UnknownValue> {
        names
            .into_iter()
            .try_fold(Scopes::NONE, |acc, n| Ok(acc.with(n.parse::<Scope>()?)))
    }
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Scope::as_str).collect()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Scopes {
        iter.into_iter().fold(Scopes::NONE, Scopes::with)
    }
}

impl Serialize for Scopes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Scopes, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        Scopes::parse(names.iter().map(String::as_str)).map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    PaperScanned,
    EConsent,
}

string_enum!(Method, "consent_method", {
    PaperScanned => "paper_scanned",
    EConsent => "e_consent",
});

impl Method {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Method::PaperScanned => pick(lang, "纸质签署（扫描件）", "Paper, scanned"),
            Method::EConsent => pick(lang, "电子知情同意", "Electronic consent"),
        }
    }
}

/// Age of adulthood (民法典 第十七条: 18 years).
pub const ADULT_AGE: u32 = 18;
/// From this age a minor has limited capacity and gives their own assent
/// beside the guardian's consent (民法典 第十九条: 8 years and older).
pub const ASSENT_AGE: u32 = 8;

/// What a subject's signed consent records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentTerms {
    pub version: u32,
    pub signed_on: NaiveDate,
    pub method: Method,
    /// The staff member who obtained consent.
    pub obtained_by: String,
    /// The subject's age in whole years on the day of signing.
    pub age_years: u32,
    /// Whether the subject (or guardian) can read the document; if not, an
    /// impartial witness signs.
    pub can_read: bool,
    pub witness: Option<String>,
    /// Guardian who consents for a minor.
    pub guardian: Option<String>,
    /// The minor's own assent (8 years and older).
    pub assent: Option<bool>,
    pub scopes: Scopes,
}

/// Why a consent record cannot be accepted: a stable code (`error.<code>`)
/// and the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code} ({field})")]
pub struct ConsentError {
    pub code: &'static str,
    pub field: &'static str,
}

/// Every code [`validate`] can return.
pub const ERROR_CODES: &[&str] = &[
    "field_required",
    "consent_guardian_required",
    "consent_assent_required",
    "consent_witness_required",
    "consent_participation_required",
    "consent_scope_not_in_version",
];

fn refuse(code: &'static str, field: &'static str) -> ConsentError {
    ConsentError { code, field }
}

/// Checks that a consent is complete before it counts: a minor needs a
/// guardian (民法典 第十七条), a minor of 8 or older also their own assent
/// (第十九条); a subject who cannot read needs a witness; participation
/// (study data) must be among the scopes; the scopes must be among those the
/// version asks for.
pub fn validate(t: &ConsentTerms, version_asks: Scopes) -> Result<(), ConsentError> {
    if t.obtained_by.trim().is_empty() {
        return Err(refuse("field_required", "obtained_by"));
    }
    if t.age_years < ADULT_AGE && t.guardian.as_deref().is_none_or(|g| g.trim().is_empty()) {
        return Err(refuse("consent_guardian_required", "guardian"));
    }
    if (ASSENT_AGE..ADULT_AGE).contains(&t.age_years) && t.assent != Some(true) {
        return Err(refuse("consent_assent_required", "assent"));
    }
    if !t.can_read && t.witness.as_deref().is_none_or(|w| w.trim().is_empty()) {
        return Err(refuse("consent_witness_required", "witness"));
    }
    if !t.scopes.contains(Scope::StudyData) {
        return Err(refuse("consent_participation_required", "scopes"));
    }
    if !t.scopes.without(version_asks).is_empty() {
        return Err(refuse("consent_scope_not_in_version", "scopes"));
    }
    Ok(())
}

/// The terms of one version of a study's consent document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionTerms {
    pub version: u32,
    /// The scopes the document asks subjects to grant or refuse.
    pub asks: Scopes,
    /// The committee judged the change material (new risks, procedures or
    /// uses) when approving this version.
    pub material_change: bool,
}

/// Whether subjects who signed `old` must consent again to `new`: the new
/// version asks for different permissions or changes something material.
pub fn reconsent_required(old: &VersionTerms, new: &VersionTerms) -> bool {
    new.version > old.version && (new.material_change || new.asks != old.asks)
}

/// What happens to a subject's samples on withdrawal: the subject chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleDisposition {
    Destroy,
    RetainAnonymised,
    Retain,
}

string_enum!(SampleDisposition, "sample_disposition", {
    Destroy => "destroy",
    RetainAnonymised => "retain_anonymised",
    Retain => "retain",
});

impl SampleDisposition {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            SampleDisposition::Destroy => pick(lang, "销毁样本", "Destroy samples"),
            SampleDisposition::RetainAnonymised => pick(lang, "匿名化后保留", "Keep anonymised"),
            SampleDisposition::Retain => pick(lang, "保留样本", "Keep samples"),
        }
    }
}

fn day(d: NaiveDate) -> i32 {
    d.num_days_from_ce()
}

/// One change of a subject's permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    /// A signed consent: from its day, exactly these scopes.
    Grant(Scopes),
    /// A withdrawal: from its day, these scopes no longer.
    Withdraw(Scopes),
}

/// The consent timelines of a set of subjects, ready to be checked.
#[derive(Clone, Debug, Default)]
pub struct ConsentIndex {
    subjects: HashMap<String, Timeline>,
}

#[derive(Clone, Debug, Default)]
struct Timeline {
    /// Changes in day order (stable for one day: later changes win).
    changes: Vec<(i32, Change)>,
    /// The scopes in force from each change's day.
    states: Vec<(i32, Scopes)>,
}

impl Timeline {
    fn push(&mut self, d: i32, c: Change) {
        let at = self.changes.partition_point(|(x, _)| *x <= d);
        self.changes.insert(at, (d, c));
        if at == self.changes.len() - 1 {
            let before = self.states.last().map_or(Scopes::NONE, |s| s.1);
            self.states.push((d, apply(before, c)));
        } else {
            let mut cur = Scopes::NONE;
            self.states = self
                .changes
                .iter()
                .map(|(x, c)| {
                    cur = apply(cur, *c);
                    (*x, cur)
                })
                .collect();
        }
    }

    fn at(&self, d: i32) -> Scopes {
        match self.states.last() {
            None => Scopes::NONE,
            Some((last, s)) if *last <= d => *s,
            Some(_) => {
                let i = self.states.partition_point(|(x, _)| *x <= d);
                if i == 0 {
                    Scopes::NONE
                } else {
                    self.states[i - 1].1
                }
            }
        }
    }
}

fn apply(cur: Scopes, c: Change) -> Scopes {
    match c {
        Change::Grant(s) => s,
        Change::Withdraw(s) => cur.without(s),
    }
}

impl ConsentIndex {
    pub fn new() -> ConsentIndex {
        ConsentIndex::default()
    }

    pub fn with_capacity(n: usize) -> ConsentIndex {
        ConsentIndex {
            subjects: HashMap::with_capacity(n),
        }
    }

    /// A signed consent: from `on`, the subject permits exactly `scopes`.
    pub fn grant(&mut self, subject: &str, on: NaiveDate, scopes: Scopes) {
        self.timeline(subject).push(day(on), Change::Grant(scopes));
    }

    /// A withdrawal of `scopes` (all of them for a whole withdrawal) from `on`.
    pub fn withdraw(&mut self, subject: &str, on: NaiveDate, scopes: Scopes) {
        self.timeline(subject)
            .push(day(on), Change::Withdraw(scopes));
    }

    fn timeline(&mut self, subject: &str) -> &mut Timeline {
        if !self.subjects.contains_key(subject) {
            self.subjects
                .insert(subject.to_string(), Timeline::default());
        }
        self.subjects.get_mut(subject).expect("inserted above")
    }

    /// The scopes a subject permitted on a day (none before the first
    /// consent, none for an unknown subject).
    pub fn scopes(&self, subject: &str, on: NaiveDate) -> Scopes {
        self.subjects
            .get(subject)
            .map_or(Scopes::NONE, |t| t.at(day(on)))
    }

    /// The consent check: did `subject` permit `scope` on `on`?
    #[inline]
    pub fn check(&self, subject: &str, scope: Scope, on: NaiveDate) -> bool {
        self.scopes(subject, on).contains(scope)
    }

    /// A gate for one use on one day, for exports that check many subjects.
    pub fn gate(&self, scope: Scope, on: NaiveDate) -> Gate<'_> {
        Gate {
            index: self,
            scope,
            day: day(on),
        }
    }

    pub fn len(&self) -> usize {
        self.subjects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subjects.is_empty()
    }
}

/// The consent check fixed to one use and one day. Every export and data
/// sharing path takes a `Gate` and asks it for each subject.
#[derive(Clone, Copy, Debug)]
pub struct Gate<'a> {
    index: &'a ConsentIndex,
    scope: Scope,
    day: i32,
}

impl Gate<'_> {
    #[inline]
    pub fn permits(&self, subject: &str) -> bool {
        self.index
            .subjects
            .get(subject)
            .is_some_and(|t| t.at(self.day).contains(self.scope))
    }

    pub fn scope(&self) -> Scope {
        self.scope
    }
}

/// Appends one CSV record (RFC 4180: fields with a comma, quote or line
/// break are quoted, quotes doubled) and a line feed.
pub fn write_csv_row(out: &mut Vec<u8>, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if f.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
            out.push(b'"');
            for b in f.bytes() {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(f.as_bytes());
        }
    }
    out.push(b'\n');
}

// ---------------------------------------------------------------------------
// FHIR R5
// ---------------------------------------------------------------------------

/// CellTrail's code system for consent scopes (the granular permissions
/// FHIR leaves to implementers).
pub const SCOPE_SYSTEM: &str = "https://celltrail.org/fhir/CodeSystem/consent-scope";

/// A subject's consent as a FHIR R5 `Consent`: base decision `deny`, one
/// `permit` provision per scope granted on `on`, with the period from the
/// signing day; `status` is `inactive` once nothing is permitted.
pub fn fhir_consent(
    id: &str,
    patient_ref: &str,
    study_ref: &str,
    terms: &ConsentTerms,
    permitted: Scopes,
) -> serde_json::Value {
    let provisions: Vec<serde_json::Value> = permitted
        .iter()
        .map(|s| {
            serde_json::json!({
                "period": {"start": terms.signed_on.to_string()},
                "purpose": [{"system": SCOPE_SYSTEM, "code": s.as_str(), "display": s.label(Lang::En)}],
            })
        })
        .collect();
    let mut verification = Vec::new();
    if let Some(w) = &terms.witness {
        verification.push(serde_json::json!({
            "verified": true,
            "verificationType": {"text": "witness"},
            "verifiedBy": {"display": w},
            "verificationDate": [terms.signed_on.to_string()],
        }));
    }
    let mut grantor = vec![serde_json::json!({"reference": patient_ref})];
    if let Some(g) = &terms.guardian {
        grantor.push(serde_json::json!({"display": g}));
    }
    serde_json::json!({
        "resourceType": "Consent",
        "id": id,
        "status": if permitted.is_empty() { "inactive" } else { "active" },
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentcategorycodes", "code": "research", "display": "Research Information Access"}]}],
        "subject": {"reference": patient_ref},
        "date": terms.signed_on.to_string(),
        "grantor": grantor,
        "manager": [{"display": terms.obtained_by}],
        "sourceReference": [{"reference": study_ref, "display": format!("consent document version {}", terms.version)}],
        "verification": verification,
        "decision": "deny",
        "provision": provisions,
    })
}

/// A subject's participation as a FHIR R5 `ResearchSubject`.
pub fn fhir_research_subject(
    id: &str,
    patient_ref: &str,
    study_ref: &str,
    consent_ref: &str,
    enrolled: NaiveDate,
    withdrawn: Option<NaiveDate>,
) -> serde_json::Value {
    let state = |code: &str, display: &str, start: NaiveDate| {
        serde_json::json!({
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/research-subject-state-type", "code": "Enrollment", "display": "Enrollment status"}]},
            "subjectState": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/research-subject-state", "code": code, "display": display}]},
            "startDate": start.to_string(),
        })
    };
    let mut progress = vec![state("on-study", "On-study", enrolled)];
    let mut period = serde_json::json!({"start": enrolled.to_string()});
    if let Some(w) = withdrawn {
        progress.push(state("withdrawn", "Withdrawn", w));
        period["end"] = serde_json::json!(w.to_string());
    }
    serde_json::json!({
        "resourceType": "ResearchSubject",
        "id": id,
        "status": "active",
        "progress": progress,
        "period": period,
        "study": {"reference": study_ref},
        "subject": {"reference": patient_ref},
        "consent": [{"reference": consent_ref}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn terms(age: u32) -> ConsentTerms {
        ConsentTerms {
            version: 1,
            signed_on: d("2026-06-01"),
            method: Method::EConsent,
            obtained_by: "Dr Li".into(),
            age_years: age,
            can_read: true,
            witness: None,
            guardian: None,
            assent: None,
            scopes: Scopes::NONE.with(Scope::StudyData),
        }
    }

    #[test]
    fn guardians_assent_and_witnesses() {
        let asks = Scopes::all();
        assert!(validate(&terms(18), asks).is_ok());
        // 民法典 第十七条: under 18 a guardian consents.
        let e = validate(&terms(17), asks).unwrap_err();
        assert_eq!((e.code, e.field), ("consent_guardian_required", "guardian"));
        // 民法典 第十九条 / 第二十条: from 8 the minor assents too; under 8
        // the guardian alone.
        let mut t = terms(8);
        t.guardian = Some("Parent".into());
        assert_eq!(
            validate(&t, asks).unwrap_err().code,
            "consent_assent_required"
        );
        t.assent = Some(true);
        assert!(validate(&t, asks).is_ok());
        let mut t = terms(7);
        t.guardian = Some("Parent".into());
        assert!(validate(&t, asks).is_ok());
        let mut t = terms(40);
        t.can_read = false;
        assert_eq!(
            validate(&t, asks).unwrap_err().code,
            "consent_witness_required"
        );
        t.witness = Some("Nurse Wang".into());
        assert!(validate(&t, asks).is_ok());
        let mut t = terms(40);
        t.scopes = Scopes::NONE.with(Scope::Recontact);
        assert_eq!(
            validate(&t, asks).unwrap_err().code,
            "consent_participation_required"
        );
        let t = terms(40);
        assert_eq!(
            validate(&t, Scopes::NONE.with(Scope::Recontact))
                .unwrap_err()
                .code,
            "consent_scope_not_in_version"
        );
    }

    #[test]
    fn timeline_of_grants_and_withdrawals() {
        let mut ix = ConsentIndex::new();
        let all = Scopes::all();
        ix.grant("s1", d("2026-01-10"), all);
        ix.withdraw(
            "s1",
            d("2026-05-01"),
            Scopes::NONE.with(Scope::GeneticAnalysis),
        );
        assert!(!ix.check("s1", Scope::StudyData, d("2026-01-09")));
        assert!(ix.check("s1", Scope::GeneticAnalysis, d("2026-04-30")));
        assert!(!ix.check("s1", Scope::GeneticAnalysis, d("2026-05-01")));
        assert!(ix.check("s1", Scope::StudyData, d("2026-05-01")));
        // Re-consent to a version that asks for less.
        ix.grant("s1", d("2026-07-01"), Scopes::NONE.with(Scope::StudyData));
        assert!(!ix.check("s1", Scope::Recontact, d("2026-07-02")));
        // A back-dated withdrawal recorded late still lands in order.
        ix.withdraw(
            "s1",
            d("2026-03-01"),
            Scopes::NONE.with(Scope::CommercialUse),
        );
        assert!(!ix.check("s1", Scope::CommercialUse, d("2026-03-02")));
        assert!(ix.check("s1", Scope::CommercialUse, d("2026-02-28")));
        assert!(!ix.check("s1", Scope::GeneticAnalysis, d("2026-06-01")));
        // Whole withdrawal.
        ix.withdraw("s1", d("2026-08-01"), Scopes::all());
        assert!(ix.scopes("s1", d("2026-08-01")).is_empty());
        assert!(!ix.check("nobody", Scope::StudyData, d("2026-08-01")));
        let g = ix.gate(Scope::StudyData, d("2026-07-15"));
        assert!(g.permits("s1"));
        assert!(!ix.gate(Scope::StudyData, d("2026-08-15")).permits("s1"));
    }

    #[test]
    fn reconsent_when_terms_change() {
        let v = |n, asks: &[Scope], material| VersionTerms {
            version: n,
            asks: asks.iter().copied().collect(),
            material_change: material,
        };
        use Scope::*;
        let v1 = v(1, &[StudyData, BiobankStorage], false);
        assert!(!reconsent_required(
            &v1,
            &v(2, &[StudyData, BiobankStorage], false)
        ));
        assert!(reconsent_required(
            &v1,
            &v(2, &[StudyData, BiobankStorage, GeneticAnalysis], false)
        ));
        assert!(reconsent_required(
            &v1,
            &v(2, &[StudyData, BiobankStorage], true)
        ));
        assert!(!reconsent_required(&v(2, &[StudyData], true), &v1));
    }

    #[test]
    fn csv_rows_quote_per_rfc_4180() {
        // RFC 4180 §2.6–2.7: quote fields holding commas, quotes or line
        // breaks; double the quotes inside.
        let mut out = Vec::new();
        write_csv_row(&mut out, &["a", "b,c", "say \"hi\"", "x\ny"]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a,\"b,c\",\"say \"\"hi\"\"\",\"x\ny\"\n"
        );
    }

    #[test]
    fn scopes_round_trip() {
        let s = Scopes::parse(["genetic_analysis", "study_data"]).unwrap();
        assert_eq!(s.names(), vec!["study_data", "genetic_analysis"]);
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Scopes>(&j).unwrap(), s);
        assert!(Scopes::parse(["everything"]).is_err());
    }

    #[test]
    fn fhir_r5_shapes() {
        let mut t = terms(10);
        t.guardian = Some("Parent".into());
        t.assent = Some(true);
        let permitted = Scopes::NONE.with(Scope::StudyData).with(Scope::Recontact);
        let c = fhir_consent("c1", "Patient/p1", "ResearchStudy/r1", &t, permitted);
        // R5 Consent: decision is deny|permit (R5 Consent.decision) and
        // nested provisions are exceptions to it.
        assert_eq!(c["decision"], "deny");
        assert_eq!(c["provision"].as_array().unwrap().len(), 2);
        assert_eq!(c["status"], "active");
        assert_eq!(c["grantor"].as_array().unwrap().len(), 2);
        let c = fhir_consent("c1", "Patient/p1", "ResearchStudy/r1", &t, Scopes::NONE);
        assert_eq!(c["status"], "inactive");
        let r = fhir_research_subject(
            "rs1",
            "Patient/p1",
            "ResearchStudy/r1",
            "Consent/c1",
            d("2026-06-01"),
            Some(d("2026-09-01")),
        );
        assert_eq!(
            r["progress"][1]["subjectState"]["coding"][0]["code"],
            "withdrawn"
        );
        assert_eq!(r["period"]["end"], "2026-09-01");
    }
}
