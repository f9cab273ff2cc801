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
    /// The set as stored: bit `1 << n` for the n-th scope of [`Scope::ALL`].
    pub fn bits(self) -> u8 {
        self.0
    }
    /// The set from its stored bits; `None` when a bit names no scope.
    pub fn from_bits(b: u8) -> Option<Scopes> {
        (b >> Scope::ALL.len() == 0).then_some(Scopes(b))
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
    "consent_timeline_invalid",
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
pub enum Change {
    /// A signed consent: from its day, exactly these scopes.
    Grant(Scopes),
    /// A withdrawal: from its day, these scopes no longer.
    Withdraw(Scopes),
}

/// One subject's consent over time: the changes in day order and the
/// scopes in force from each change's day.
///
/// Stored compactly as text, one entry per change in the order recorded:
/// `YYYY-MM-DD`, `g` (grant) or `w` (withdrawal), the scopes as a decimal
/// bit set, `;` — e.g. `2026-07-01g61;2026-09-01w8;`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    /// Changes in day order (stable within a day: later changes win).
    changes: Vec<(i32, Change)>,
    /// The scopes in force from each change's day.
    states: Vec<(i32, Scopes)>,
}

impl Timeline {
    pub fn push(&mut self, on: NaiveDate, c: Change) {
        self.push_day(day(on), c);
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

    /// Every change with its day, in day order.
    pub fn entries(&self) -> Vec<(NaiveDate, Change)> {
        self.changes
            .iter()
            .filter_map(|(d, c)| NaiveDate::from_num_days_from_ce_opt(*d).map(|d| (d, *c)))
            .collect()
    }

    /// The day of the latest change, if any.
    pub fn last_day(&self) -> Option<NaiveDate> {
        self.changes
            .last()
            .and_then(|(d, _)| NaiveDate::from_num_days_from_ce_opt(*d))
    }

    /// The scopes in force on a day (none before the first consent).
    pub fn scopes_at(&self, on: NaiveDate) -> Scopes {
        self.at(day(on))
    }

    /// One entry of the compact form, as the store appends it.
    pub fn entry(on: NaiveDate, c: Change) -> String {
        let (k, s) = match c {
            Change::Grant(s) => ('g', s),
            Change::Withdraw(s) => ('w', s),
        };
        format!("{}{k}{};", on.format("%Y-%m-%d"), s.0)
    }

    /// Reads the compact form. Any malformed entry is an error, never a
    /// panic.
    pub fn parse(text: &str) -> Result<Timeline, ConsentError> {
        let mut t = Timeline::default();
        for item in text.split(';').filter(|x| !x.is_empty()) {
            let (d, c) = parse_entry(item).ok_or_else(bad_timeline)?;
            t.push_day(d, c);
        }
        Ok(t)
    }

    fn push_day(&mut self, d: i32, c: Change) {
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
}

fn bad_timeline() -> ConsentError {
    refuse("consent_timeline_invalid", "timeline")
}

/// One entry of the compact form: `YYYY-MM-DD`, `g` or `w`, decimal bits.
fn parse_entry(item: &str) -> Option<(i32, Change)> {
    let b = item.as_bytes();
    if b.len() < 12 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: &[u8]| -> Option<u32> {
        r.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let d = civil_day(num(&b[..4])? as i32, num(&b[5..7])?, num(&b[8..10])?)?;
    let bits = num(&b[11..]).filter(|n| b.len() <= 14 && *n >> Scope::ALL.len() == 0)? as u8;
    let c = match b[10] {
        b'g' => Change::Grant(Scopes(bits)),
        b'w' => Change::Withdraw(Scopes(bits)),
        _ => return None,
    };
    Some((d, c))
}

/// The day number of a Gregorian date, counted as chrono's
/// `num_days_from_ce` counts (0001-01-01 is day 1), or `None` for a date
/// that does not exist. The civil-from-days arithmetic of H. Hinnant's
/// "chrono-compatible low-level date algorithms", in integers only, so the
/// consent check reads a stored date without a date library call.
fn civil_day(y: i32, m: u32, d: u32) -> Option<i32> {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if d == 0 || d > days_in_month || y < 1 {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i32 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // Days since 1970-01-01, moved to chrono's count from 0001-01-01 = 1.
    Some(era * 146_097 + doe - 719_468 + 719_163)
}

fn apply(cur: Scopes, c: Change) -> Scopes {
    match c {
        Change::Grant(s) => s,
        Change::Withdraw(s) => cur.without(s),
    }
}

/// The consent check for one use on one day: every export and data-sharing
/// path builds one `Gate` and asks it about each subject's timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gate {
    scope: Scope,
    day: i32,
}

impl Gate {
    pub fn new(scope: Scope, on: NaiveDate) -> Gate {
        Gate {
            scope,
            day: day(on),
        }
    }

    /// Did the subject whose timeline this is permit the use on the day?
    #[inline]
    pub fn permits(&self, t: &Timeline) -> bool {
        t.at(self.day).contains(self.scope)
    }

    /// The same check on a timeline's compact text, read in place: entries
    /// in day order (the usual case) are folded without building the
    /// timeline; a back-dated entry falls back to [`Timeline::parse`].
    pub fn permits_compact(&self, text: &str) -> Result<bool, ConsentError> {
        let mut cur = Scopes::NONE;
        let mut last = i32::MIN;
        for item in text.split(';').filter(|x| !x.is_empty()) {
            let (d, c) = parse_entry(item).ok_or_else(bad_timeline)?;
            if d < last {
                return Ok(self.permits(&Timeline::parse(text)?));
            }
            last = d;
            if d <= self.day {
                cur = apply(cur, c);
            }
        }
        Ok(cur.contains(self.scope))
    }

    pub fn scope(&self) -> Scope {
        self.scope
    }
}

/// The consent timelines of a set of subjects, ready to be checked.
#[derive(Clone, Debug, Default)]
pub struct ConsentIndex {
    subjects: HashMap<String, Timeline>,
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
        self.timeline_mut(subject).push(on, Change::Grant(scopes));
    }

    /// A withdrawal of `scopes` (all of them for a whole withdrawal) from `on`.
    pub fn withdraw(&mut self, subject: &str, on: NaiveDate, scopes: Scopes) {
        self.timeline_mut(subject)
            .push(on, Change::Withdraw(scopes));
    }

    pub fn insert(&mut self, subject: &str, t: Timeline) {
        self.subjects.insert(subject.to_string(), t);
    }

    fn timeline_mut(&mut self, subject: &str) -> &mut Timeline {
        if !self.subjects.contains_key(subject) {
            self.subjects
                .insert(subject.to_string(), Timeline::default());
        }
        self.subjects.get_mut(subject).expect("inserted above")
    }

    pub fn timeline(&self, subject: &str) -> Option<&Timeline> {
        self.subjects.get(subject)
    }

    /// The scopes a subject permitted on a day (none before the first
    /// consent, none for an unknown subject).
    pub fn scopes(&self, subject: &str, on: NaiveDate) -> Scopes {
        self.subjects
            .get(subject)
            .map_or(Scopes::NONE, |t| t.scopes_at(on))
    }

    /// The consent check: did `subject` permit `scope` on `on`?
    #[inline]
    pub fn check(&self, subject: &str, scope: Scope, on: NaiveDate) -> bool {
        self.permits(&Gate::new(scope, on), subject)
    }

    /// The gate's answer for a subject of this index (no for unknown ones).
    #[inline]
    pub fn permits(&self, gate: &Gate, subject: &str) -> bool {
        self.subjects.get(subject).is_some_and(|t| gate.permits(t))
    }

    pub fn len(&self) -> usize {
        self.subjects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subjects.is_empty()
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
        let g = Gate::new(Scope::StudyData, d("2026-07-15"));
        assert!(ix.permits(&g, "s1"));
        assert!(!ix.permits(&Gate::new(Scope::StudyData, d("2026-08-15")), "s1"));
        // The compact text holds the same timeline, whatever order the
        // entries were recorded in.
        let text = [
            Timeline::entry(d("2026-01-10"), Change::Grant(all)),
            Timeline::entry(
                d("2026-05-01"),
                Change::Withdraw(Scopes::NONE.with(Scope::GeneticAnalysis)),
            ),
            Timeline::entry(
                d("2026-07-01"),
                Change::Grant(Scopes::NONE.with(Scope::StudyData)),
            ),
            Timeline::entry(d("2026-08-01"), Change::Withdraw(Scopes::all())),
            Timeline::entry(
                d("2026-03-01"),
                Change::Withdraw(Scopes::NONE.with(Scope::CommercialUse)),
            ),
        ]
        .concat();
        assert_eq!(&text[..14], "2026-01-10g127");
        assert_eq!(Some(&Timeline::parse(&text).unwrap()), ix.timeline("s1"));
        let entries = ix.timeline("s1").unwrap().entries();
        assert_eq!(entries.len(), 5);
        assert_eq!(
            entries[1],
            (
                d("2026-03-01"),
                Change::Withdraw(Scopes::NONE.with(Scope::CommercialUse))
            )
        );
    }

    #[test]
    fn civil_days_count_as_chrono_does() {
        for (y, m, dd) in [
            (1, 1, 1),
            (1970, 1, 1),
            (2000, 2, 29),
            (2026, 12, 31),
            (9999, 12, 31),
            (1900, 3, 1),
        ] {
            let want = NaiveDate::from_ymd_opt(y, m, dd)
                .unwrap()
                .num_days_from_ce();
            assert_eq!(civil_day(y, m, dd), Some(want), "{y}-{m}-{dd}");
        }
        assert_eq!(civil_day(1900, 2, 29), None);
        assert_eq!(civil_day(2026, 4, 31), None);
        assert_eq!(civil_day(2026, 13, 1), None);
        assert_eq!(civil_day(0, 1, 1), None);
    }

    proptest::proptest! {
        /// Every day of four centuries numbers as chrono numbers it.
        #[test]
        fn civil_day_agrees_with_chrono(n in 0i64..146_097) {
            let date = d("2000-01-01") + chrono::Duration::days(n);
            proptest::prop_assert_eq!(
                civil_day(date.year(), date.month(), date.day()),
                Some(date.num_days_from_ce())
            );
        }
    }

    #[test]
    fn malformed_timelines_are_errors() {
        for bad in [
            "2026-13-01g1;",
            "2026-01-01x1;",
            "2026-01-01g;",
            "2026-01-01g128;",
            "2026-01",
            "中文中文中文中文中文g1;",
            "2026-01-01g-1;",
        ] {
            assert_eq!(
                Timeline::parse(bad).unwrap_err().code,
                "consent_timeline_invalid",
                "{bad}"
            );
        }
        assert_eq!(Timeline::parse("").unwrap(), Timeline::default());
    }

    proptest::proptest! {
        /// The parser never panics, and what it accepts round-trips.
        #[test]
        fn timeline_parser_never_panics(s in "\\PC{0,40}") {
            let _ = Timeline::parse(&s);
            let _ = Gate::new(Scope::StudyData, d("2026-01-01")).permits_compact(&s);
        }

        /// Near-valid entries (digits and separators in the right places)
        /// never panic either.
        #[test]
        fn near_valid_timelines_never_panic(s in "([0-9]{4}-[0-9]{2}-[0-9]{2}[gwx][0-9]{0,4};){0,4}") {
            let _ = Timeline::parse(&s);
            let _ = Gate::new(Scope::StudyData, d("2026-01-01")).permits_compact(&s);
        }

        /// A timeline written entry by entry reads back equal, and the
        /// state on any day is the fold of the changes up to that day.
        #[test]
        fn timeline_round_trips(changes in proptest::collection::vec((0i64..400, proptest::bool::ANY, 0u8..128), 0..12), probe in 0i64..420) {
            let base = d("2026-01-01");
            let mut t = Timeline::default();
            let mut text = String::new();
            for (offset, grant, bits) in &changes {
                let on = base + chrono::Duration::days(*offset);
                let c = if *grant { Change::Grant(Scopes(*bits)) } else { Change::Withdraw(Scopes(*bits)) };
                t.push(on, c);
                text.push_str(&Timeline::entry(on, c));
            }
            proptest::prop_assert_eq!(&Timeline::parse(&text).unwrap(), &t);
            let on = base + chrono::Duration::days(probe);
            let mut sorted: Vec<(i64, usize)> = changes.iter().enumerate().map(|(i, c)| (c.0, i)).collect();
            sorted.sort();
            let mut want = Scopes::NONE;
            for (offset, i) in sorted {
                if offset <= probe {
                    let (_, grant, bits) = changes[i];
                    want = if grant { Scopes(bits) } else { want.without(Scopes(bits)) };
                }
            }
            proptest::prop_assert_eq!(t.scopes_at(on), want);
            for scope in Scope::ALL {
                let g = Gate::new(*scope, on);
                proptest::prop_assert_eq!(g.permits_compact(&text).unwrap(), g.permits(&t));
            }
        }
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
        assert_eq!(Scopes::from_bits(s.bits()), Some(s));
        assert_eq!(Scopes::from_bits(128), None);
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
