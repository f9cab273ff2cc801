//! Clinical safety: grading, seriousness, causality, reporting clocks and long-term follow-up.
//!
//! Pure rules with no storage behind them:
//!
//! * [`grade_crs`] and [`grade_icans`] — cytokine release syndrome and immune
//!   effector cell-associated neurotoxicity syndrome graded by the ASTCT
//!   consensus (Lee DW et al., *Biol Blood Marrow Transplant* 2019;25:625–638),
//!   with every criterion that reached the grade in [`Grade::deciding`].
//! * [`Seriousness`] (ICH E2A II.B), [`Causality`] (the WHO-UMC system),
//!   [`Expectedness`], [`Outcome`] (ICH E2B(R3) E.i.7) and [`Severity`]
//!   (CTCAE grades 1–5).
//! * [`expedited_clock`] and [`clock_status`] — the expedited reporting
//!   deadlines of ICH E2A III.A and of the CDE's 2018
//!   《药物临床试验期间安全性数据快速报告标准和程序》, which uses the same figures.
//! * [`is_malignancy`] — a new malignancy after CAR-T cells is flagged for
//!   priority review.
//! * [`ltfu_plan`], [`ltfu_schedule`], [`visit_status`],
//!   [`follow_up_status`] and [`completeness`] — long-term follow-up after a
//!   gene therapy product (FDA guidance *Long Term Follow-up After
//!   Administration of Human Gene Therapy Products*, January 2020).
//!
//! Labels of every value and of every `deciding` entry exist in both
//! languages, in code ([`Hypotension::label`] …) and in the message
//! catalogue (`safety.<kind>.<value>`, `safety.deciding.<domain>.<value>`).

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::{pick, string_enum, Lang};

/// Serialises a `string_enum!` type as its stable string, and reads exactly
/// that string back (no trimming, no case folding).
macro_rules! serde_as_str {
    ($ty:ident) => {
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $ty::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s.as_ref())
                    .ok_or_else(|| {
                        serde::de::Error::custom(crate::UnknownValue::new(
                            stringify!($ty),
                            s.as_ref(),
                        ))
                    })
            }
        }
    };
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// An input the safety rules cannot work with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{code}")]
pub struct SafetyError {
    /// Stable code; the message is `error.<code>`.
    pub code: &'static str,
    /// The input field at fault (its JSON name).
    pub field: Option<&'static str>,
    /// The rejected value as text, when there was one.
    pub value: Option<String>,
}

impl SafetyError {
    fn new(code: &'static str, field: &'static str, value: Option<String>) -> Self {
        SafetyError {
            code,
            field: Some(field),
            value: value.map(|v| v.chars().take(32).collect()),
        }
    }

    /// Stable error code; the message is `error.<code>`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Named arguments for the catalogue message: `field` and, when there
    /// was a value, `value`.
    pub fn args(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(f) = self.field {
            out.push(("field", f.to_string()));
        }
        if let Some(v) = &self.value {
            out.push(("value", v.clone()));
        }
        out
    }
}

/// Every code a [`SafetyError`] can carry.
pub const ERROR_CODES: &[&str] = &[
    "grade_temperature_range",
    "grade_ice_score_missing",
    "grade_ice_score_range",
    "grade_capd_score_missing",
    "grade_capd_score_range",
    "grade_age_range",
    "severity_range",
];

// ---------------------------------------------------------------------------
// CRS and ICANS grading (ASTCT 2019)
// ---------------------------------------------------------------------------

/// Hypotension in CRS grading, by the support it needs (ASTCT CRS table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hypotension {
    None,
    /// Grade 2: not requiring vasopressors.
    NoVasopressor,
    /// Grade 3: one vasopressor, with or without vasopressin.
    OneVasopressor,
    /// Grade 4: multiple vasopressors, vasopressin not counted.
    MultipleVasopressors,
}

string_enum!(Hypotension, "hypotension", {
    None => "none",
    NoVasopressor => "no_vasopressor",
    OneVasopressor => "one_vasopressor",
    MultipleVasopressors => "multiple_vasopressors",
});
serde_as_str!(Hypotension);

impl Hypotension {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Hypotension::None => pick(lang, "无低血压", "No hypotension"),
            Hypotension::NoVasopressor => pick(
                lang,
                "低血压，无需血管活性药物",
                "Hypotension not requiring vasopressors",
            ),
            Hypotension::OneVasopressor => pick(
                lang,
                "低血压，需一种血管活性药物（联用或不联用血管加压素）",
                "Hypotension requiring one vasopressor (with or without vasopressin)",
            ),
            Hypotension::MultipleVasopressors => pick(
                lang,
                "低血压，需多种血管活性药物（不含血管加压素）",
                "Hypotension requiring multiple vasopressors (excluding vasopressin)",
            ),
        }
    }

    fn grade(self) -> u8 {
        match self {
            Hypotension::None => 0,
            Hypotension::NoVasopressor => 2,
            Hypotension::OneVasopressor => 3,
            Hypotension::MultipleVasopressors => 4,
        }
    }
}

/// Hypoxia in CRS grading, by the oxygen support it needs. Low flow is
/// ≤ 6 L/min, high flow > 6 L/min (ASTCT CRS table, footnote).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hypoxia {
    None,
    /// Grade 2: low-flow nasal cannula or blow-by.
    LowFlow,
    /// Grade 3: high-flow nasal cannula, facemask, non-rebreather or Venturi mask.
    HighFlow,
    /// Grade 4: CPAP, BiPAP, intubation and mechanical ventilation.
    PositivePressure,
}

string_enum!(Hypoxia, "hypoxia", {
    None => "none",
    LowFlow => "low_flow",
    HighFlow => "high_flow",
    PositivePressure => "positive_pressure",
});
serde_as_str!(Hypoxia);

impl Hypoxia {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Hypoxia::None => pick(lang, "无低氧血症", "No hypoxia"),
            Hypoxia::LowFlow => pick(
                lang,
                "低氧血症，需低流量鼻导管（≤6 L/min）或吹氧",
                "Hypoxia requiring low-flow nasal cannula (≤ 6 L/min) or blow-by oxygen",
            ),
            Hypoxia::HighFlow => pick(
                lang,
                "低氧血症，需高流量鼻导管（>6 L/min）、面罩、非重复吸入面罩或文丘里面罩",
                "Hypoxia requiring high-flow nasal cannula (> 6 L/min), facemask, non-rebreather or Venturi mask",
            ),
            Hypoxia::PositivePressure => pick(
                lang,
                "低氧血症，需正压通气（CPAP、BiPAP、气管插管及机械通气）",
                "Hypoxia requiring positive pressure (CPAP, BiPAP, intubation and mechanical ventilation)",
            ),
        }
    }

    fn grade(self) -> u8 {
        match self {
            Hypoxia::None => 0,
            Hypoxia::LowFlow => 2,
            Hypoxia::HighFlow => 3,
            Hypoxia::PositivePressure => 4,
        }
    }
}

/// Level of consciousness in ICANS grading, not attributable to any other
/// cause such as sedation (ASTCT ICANS tables, adults and children).
///
/// `AwakensSpontaneously` is the table's grade 1 row (a drowsy patient who
/// wakes by themself); `Awake` is a patient with no depressed consciousness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Consciousness {
    Awake,
    /// Grade 1.
    AwakensSpontaneously,
    /// Grade 2.
    AwakensToVoice,
    /// Grade 3: awakens only to tactile stimulus.
    AwakensToTactile,
    /// Grade 4: unarousable, or needs vigorous or repetitive tactile
    /// stimuli to arouse; stupor or coma.
    Unarousable,
}

string_enum!(Consciousness, "consciousness", {
    Awake => "awake",
    AwakensSpontaneously => "awakens_spontaneously",
    AwakensToVoice => "awakens_to_voice",
    AwakensToTactile => "awakens_to_tactile",
    Unarousable => "unarousable",
});
serde_as_str!(Consciousness);

impl Consciousness {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Consciousness::Awake => pick(lang, "清醒", "Awake and alert"),
            Consciousness::AwakensSpontaneously => {
                pick(lang, "嗜睡，可自行觉醒", "Drowsy, awakens spontaneously")
            }
            Consciousness::AwakensToVoice => pick(lang, "呼唤可唤醒", "Awakens to voice"),
            Consciousness::AwakensToTactile => {
                pick(lang, "仅触觉刺激可唤醒", "Awakens only to tactile stimulus")
            }
            Consciousness::Unarousable => pick(
                lang,
                "无法唤醒，或需强烈或反复触觉刺激方可唤醒；木僵或昏迷",
                "Unarousable, or requires vigorous or repetitive tactile stimuli to arouse; stupor or coma",
            ),
        }
    }

    fn grade(self) -> u8 {
        match self {
            Consciousness::Awake => 0,
            Consciousness::AwakensSpontaneously => 1,
            Consciousness::AwakensToVoice => 2,
            Consciousness::AwakensToTactile => 3,
            Consciousness::Unarousable => 4,
        }
    }
}

/// Seizures in ICANS grading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Seizure {
    None,
    /// Grade 3: any clinical seizure, focal or generalised, that resolves
    /// rapidly, or non-convulsive seizures on EEG that resolve with
    /// intervention.
    Resolved,
    /// Grade 4: life-threatening prolonged seizure (> 5 min), or repetitive
    /// clinical or electrical seizures without return to baseline between.
    ProlongedOrRepetitive,
}

string_enum!(Seizure, "seizure", {
    None => "none",
    Resolved => "resolved",
    ProlongedOrRepetitive => "prolonged_or_repetitive",
});
serde_as_str!(Seizure);

impl Seizure {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Seizure::None => pick(lang, "无癫痫发作", "No seizure"),
            Seizure::Resolved => pick(
                lang,
                "局灶性或全面性临床癫痫发作且迅速缓解，或脑电图示非惊厥性发作经干预后缓解",
                "Clinical seizure, focal or generalised, that resolves rapidly, or non-convulsive seizures on EEG that resolve with intervention",
            ),
            Seizure::ProlongedOrRepetitive => pick(
                lang,
                "危及生命的癫痫持续发作（>5分钟），或反复临床或脑电发作且发作间期未恢复至基线",
                "Life-threatening prolonged seizure (> 5 min), or repetitive clinical or electrical seizures without return to baseline in between",
            ),
        }
    }

    fn grade(self) -> u8 {
        match self {
            Seizure::None => 0,
            Seizure::Resolved => 3,
            Seizure::ProlongedOrRepetitive => 4,
        }
    }
}

/// Motor findings in ICANS grading. Tremor and myoclonus are graded by
/// CTCAE and do not count here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Motor {
    None,
    /// Grade 4: deep focal motor weakness such as hemiparesis or paraparesis.
    DeepFocalWeakness,
}

string_enum!(Motor, "motor", {
    None => "none",
    DeepFocalWeakness => "deep_focal_weakness",
});
serde_as_str!(Motor);

impl Motor {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Motor::None => pick(lang, "无局灶性运动无力", "No focal motor weakness"),
            Motor::DeepFocalWeakness => pick(
                lang,
                "深度局灶性运动无力，如偏瘫或下肢轻瘫",
                "Deep focal motor weakness such as hemiparesis or paraparesis",
            ),
        }
    }

    fn grade(self) -> u8 {
        match self {
            Motor::None => 0,
            Motor::DeepFocalWeakness => 4,
        }
    }
}

/// Raised intracranial pressure or cerebral oedema in ICANS grading.
/// Intracranial haemorrhage, with or without oedema, is excluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CerebralEdema {
    None,
    /// Grade 3: focal or local oedema on neuroimaging.
    Focal,
    /// Grade 4: diffuse cerebral oedema on neuroimaging, decerebrate or
    /// decorticate posturing, sixth cranial nerve palsy, papilloedema or
    /// Cushing's triad.
    Diffuse,
}

string_enum!(CerebralEdema, "cerebral_edema", {
    None => "none",
    Focal => "focal",
    Diffuse => "diffuse",
});
serde_as_str!(CerebralEdema);

impl CerebralEdema {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            CerebralEdema::None => pick(
                lang,
                "无颅内压增高或脑水肿",
                "No raised intracranial pressure or cerebral oedema",
            ),
            CerebralEdema::Focal => pick(
                lang,
                "神经影像示局灶性或局部水肿",
                "Focal or local oedema on neuroimaging",
            ),
            CerebralEdema::Diffuse => pick(
                lang,
                "神经影像示弥漫性脑水肿；去大脑或去皮质强直；展神经麻痹；视乳头水肿；或库欣三联征",
                "Diffuse cerebral oedema on neuroimaging; decerebrate or decorticate posturing; sixth cranial nerve palsy; papilloedema; or Cushing's triad",
            ),
        }
    }

    fn grade(self) -> u8 {
        match self {
            CerebralEdema::None => 0,
            CerebralEdema::Focal => 3,
            CerebralEdema::Diffuse => 4,
        }
    }
}

/// The findings CRS is graded from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrsInput {
    /// Highest temperature, °C, not attributable to any other cause.
    pub temperature_c: f64,
    pub hypotension: Hypotension,
    pub hypoxia: Hypoxia,
    /// Antipyretic or anti-cytokine therapy (tocilizumab, steroids) has been
    /// given: fever is no longer required and the grade is driven by
    /// hypotension and hypoxia (ASTCT CRS table, footnote).
    #[serde(default)]
    pub fever_masked: bool,
}

/// The findings ICANS is graded from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcansInput {
    /// ICE score 0–10, for adults and children aged 12 or more.
    pub ice_score: Option<u8>,
    pub consciousness: Consciousness,
    pub seizure: Seizure,
    pub motor: Motor,
    pub cerebral_edema: CerebralEdema,
    /// Age in years; unknown is graded as an adult.
    pub age_years: Option<f64>,
    /// Cornell Assessment of Pediatric Delirium 0–32, for children under 12.
    pub capd_score: Option<u8>,
}

/// A grade and the criteria that reached it, as `domain:value` entries
/// (e.g. `hypoxia:high_flow`); [`deciding_label`] gives their sentences.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Grade {
    pub grade: u8,
    pub deciding: Vec<String>,
}

/// Fever threshold of the ASTCT CRS grading, °C (≥).
pub const FEVER_C: f64 = 38.0;
/// Temperatures outside this range (°C) are refused as implausible.
pub const TEMPERATURE_RANGE_C: (f64, f64) = (25.0, 45.0);
/// Below this age (years) ICANS uses the CAPD instead of the ICE score.
pub const CAPD_BELOW_AGE: f64 = 12.0;
/// Highest ICE and CAPD scores.
pub const ICE_MAX: u8 = 10;
pub const CAPD_MAX: u8 = 32;
/// Ages outside 0 to this many years are refused.
pub const AGE_MAX: f64 = 130.0;

/// Every entry [`grade_crs`] and [`grade_icans`] can put in `deciding`.
pub const DECIDING_ENTRIES: &[&str] = &[
    "fever:absent",
    "fever:present",
    "fever:masked",
    "hypotension:no_vasopressor",
    "hypotension:one_vasopressor",
    "hypotension:multiple_vasopressors",
    "hypoxia:low_flow",
    "hypoxia:high_flow",
    "hypoxia:positive_pressure",
    "ice_score:10",
    "ice_score:7_9",
    "ice_score:3_6",
    "ice_score:0_2",
    "ice_score:unarousable",
    "capd_score:0",
    "capd_score:1_8",
    "capd_score:9_32",
    "capd_score:unable",
    "consciousness:awakens_spontaneously",
    "consciousness:awakens_to_voice",
    "consciousness:awakens_to_tactile",
    "consciousness:unarousable",
    "seizure:resolved",
    "seizure:prolonged_or_repetitive",
    "motor:deep_focal_weakness",
    "cerebral_edema:focal",
    "cerebral_edema:diffuse",
];

/// The worst of the graded findings, with every finding that reaches it.
fn worst(findings: &[(u8, String)]) -> Grade {
    let grade = findings.iter().map(|f| f.0).max().unwrap_or(0);
    Grade {
        grade,
        deciding: findings
            .iter()
            .filter(|f| f.0 == grade)
            .map(|f| f.1.clone())
            .collect(),
    }
}

/// Grades CRS by the ASTCT consensus: fever ≥ 38.0 °C is required (unless
/// masked by antipyretic or anti-cytokine therapy), and the grade is the
/// more severe of hypotension and hypoxia. Without fever and without
/// masking the answer is grade 0 with `fever:absent`. The temperature is
/// compared as given, not rounded.
pub fn grade_crs(input: &CrsInput) -> Result<Grade, SafetyError> {
    let t = input.temperature_c;
    if !t.is_finite() || t < TEMPERATURE_RANGE_C.0 || t > TEMPERATURE_RANGE_C.1 {
        return Err(SafetyError::new(
            "grade_temperature_range",
            "temperature_c",
            Some(format!("{t}")),
        ));
    }
    let fever = t >= FEVER_C;
    if !fever && !input.fever_masked {
        return Ok(Grade {
            grade: 0,
            deciding: vec!["fever:absent".to_string()],
        });
    }
    let mut findings = Vec::new();
    if input.hypotension != Hypotension::None {
        findings.push((
            input.hypotension.grade(),
            format!("hypotension:{}", input.hypotension),
        ));
    }
    if input.hypoxia != Hypoxia::None {
        findings.push((input.hypoxia.grade(), format!("hypoxia:{}", input.hypoxia)));
    }
    if findings.is_empty() {
        return Ok(if fever {
            Grade {
                grade: 1,
                deciding: vec!["fever:present".to_string()],
            }
        } else {
            Grade {
                grade: 0,
                deciding: vec!["fever:masked".to_string()],
            }
        });
    }
    Ok(worst(&findings))
}

/// Grades ICANS by the ASTCT consensus: the worst of the encephalopathy
/// score, level of consciousness, seizure, motor findings and raised
/// intracranial pressure / cerebral oedema.
///
/// Adults and children aged 12 or more use the ICE score (10 → none,
/// 7–9 → 1, 3–6 → 2, 0–2 → 3); children under 12 use the CAPD (0 → none,
/// 1–8 → 1, ≥ 9 → 3). An unarousable patient cannot perform either
/// assessment, which is grade 4 whatever score was entered. A missing score
/// for a patient who is not unarousable is an error; so is any score or age
/// out of range, whether or not it would be used.
pub fn grade_icans(input: &IcansInput) -> Result<Grade, SafetyError> {
    if let Some(a) = input.age_years {
        if !a.is_finite() || !(0.0..=AGE_MAX).contains(&a) {
            return Err(SafetyError::new(
                "grade_age_range",
                "age_years",
                Some(format!("{a}")),
            ));
        }
    }
    if let Some(s) = input.ice_score.filter(|s| *s > ICE_MAX) {
        return Err(SafetyError::new(
            "grade_ice_score_range",
            "ice_score",
            Some(s.to_string()),
        ));
    }
    if let Some(s) = input.capd_score.filter(|s| *s > CAPD_MAX) {
        return Err(SafetyError::new(
            "grade_capd_score_range",
            "capd_score",
            Some(s.to_string()),
        ));
    }
    let child = input.age_years.is_some_and(|a| a < CAPD_BELOW_AGE);
    let unarousable = input.consciousness == Consciousness::Unarousable;
    let score: (u8, &str) = if child {
        if unarousable {
            (4, "capd_score:unable")
        } else {
            match input.capd_score {
                None => {
                    return Err(SafetyError::new(
                        "grade_capd_score_missing",
                        "capd_score",
                        None,
                    ))
                }
                Some(0) => (0, "capd_score:0"),
                Some(1..=8) => (1, "capd_score:1_8"),
                Some(_) => (3, "capd_score:9_32"),
            }
        }
    } else if unarousable {
        (4, "ice_score:unarousable")
    } else {
        match input.ice_score {
            None => {
                return Err(SafetyError::new(
                    "grade_ice_score_missing",
                    "ice_score",
                    None,
                ))
            }
            Some(10) => (0, "ice_score:10"),
            Some(7..=9) => (1, "ice_score:7_9"),
            Some(3..=6) => (2, "ice_score:3_6"),
            Some(_) => (3, "ice_score:0_2"),
        }
    };
    let mut findings = vec![(score.0, score.1.to_string())];
    let c = input.consciousness;
    if c != Consciousness::Awake {
        findings.push((c.grade(), format!("consciousness:{c}")));
    }
    if input.seizure != Seizure::None {
        findings.push((input.seizure.grade(), format!("seizure:{}", input.seizure)));
    }
    if input.motor != Motor::None {
        findings.push((input.motor.grade(), format!("motor:{}", input.motor)));
    }
    if input.cerebral_edema != CerebralEdema::None {
        findings.push((
            input.cerebral_edema.grade(),
            format!("cerebral_edema:{}", input.cerebral_edema),
        ));
    }
    Ok(worst(&findings))
}

/// The sentence for one `deciding` entry in a language: the catalogue entry
/// `safety.deciding.<domain>.<value>`, or the entry itself when unknown.
pub fn deciding_label(entry: &str, lang: Lang) -> String {
    let key = format!("safety.deciding.{}", entry.replace(':', "."));
    crate::i18n::catalog()
        .lookup(lang, &key)
        .unwrap_or(entry)
        .to_string()
}

// ---------------------------------------------------------------------------
// Seriousness, causality, expectedness, outcome, severity
// ---------------------------------------------------------------------------

/// The seriousness criteria of ICH E2A II.B (and 《药物临床试验质量管理规范》
/// 2020, 第十一条).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Seriousness {
    Death,
    LifeThreatening,
    /// Inpatient hospitalisation or prolongation of existing hospitalisation.
    Hospitalisation,
    /// Persistent or significant disability or incapacity.
    Disability,
    /// Congenital anomaly or birth defect.
    CongenitalAnomaly,
    /// Other important medical event, by medical and scientific judgement.
    OtherImportant,
}

string_enum!(Seriousness, "seriousness", {
    Death => "death",
    LifeThreatening => "life_threatening",
    Hospitalisation => "hospitalisation",
    Disability => "disability",
    CongenitalAnomaly => "congenital_anomaly",
    OtherImportant => "other_important",
});
serde_as_str!(Seriousness);

impl Seriousness {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Seriousness::Death => pick(lang, "导致死亡", "Results in death"),
            Seriousness::LifeThreatening => pick(lang, "危及生命", "Is life-threatening"),
            Seriousness::Hospitalisation => pick(
                lang,
                "导致住院或住院时间延长",
                "Requires inpatient hospitalisation or prolongs existing hospitalisation",
            ),
            Seriousness::Disability => pick(
                lang,
                "导致永久或显著的残疾或功能丧失",
                "Results in persistent or significant disability or incapacity",
            ),
            Seriousness::CongenitalAnomaly => pick(
                lang,
                "导致先天性异常或出生缺陷",
                "Is a congenital anomaly or birth defect",
            ),
            Seriousness::OtherImportant => {
                pick(lang, "其他重要医学事件", "Other important medical event")
            }
        }
    }

    /// Death or life-threatening: the criteria that shorten the expedited
    /// clock to 7 days.
    pub fn is_fatal_or_life_threatening(self) -> bool {
        matches!(self, Seriousness::Death | Seriousness::LifeThreatening)
    }
}

/// Causality by the WHO-UMC system for standardised case causality
/// assessment (the six categories China's ADR monitoring also uses:
/// 肯定、很可能、可能、可能无关、待评价、无法评价).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Causality {
    Certain,
    /// Probable / likely.
    Probable,
    Possible,
    Unlikely,
    /// Conditional / unclassified: more data are needed or under examination.
    Conditional,
    /// Unassessable / unclassifiable: information insufficient or
    /// contradictory and cannot be supplemented.
    Unassessable,
}

string_enum!(Causality, "causality", {
    Certain => "certain",
    Probable => "probable",
    Possible => "possible",
    Unlikely => "unlikely",
    Conditional => "conditional",
    Unassessable => "unassessable",
});
serde_as_str!(Causality);

impl Causality {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Causality::Certain => pick(lang, "肯定", "Certain"),
            Causality::Probable => pick(lang, "很可能", "Probable / likely"),
            Causality::Possible => pick(lang, "可能", "Possible"),
            Causality::Unlikely => pick(lang, "可能无关", "Unlikely"),
            Causality::Conditional => pick(lang, "待评价", "Conditional / unclassified"),
            Causality::Unassessable => pick(lang, "无法评价", "Unassessable / unclassifiable"),
        }
    }

    /// Whether the assessment leaves a reasonable possibility of a causal
    /// relationship, so that a serious unexpected case is a suspected
    /// adverse reaction for expedited reporting.
    ///
    /// Certain, probable and possible all rest on a reasonable time
    /// relationship (WHO-UMC criteria), which is ICH E2A's "facts, evidence
    /// or arguments to suggest a causal relationship". Conditional and
    /// unassessable do not exclude one: the CDE's 2018 standard reports a
    /// case whenever either the sponsor or the investigator cannot rule out
    /// relatedness (不能排除与试验药物相关), so they count as related until
    /// reassessed. Only unlikely — a time relationship that makes a link
    /// improbable and other plausible explanations — counts as unrelated.
    pub fn is_related(self) -> bool {
        !matches!(self, Causality::Unlikely)
    }
}

/// Whether a reaction is listed in the reference safety information
/// (investigator's brochure or label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expectedness {
    Expected,
    Unexpected,
}

string_enum!(Expectedness, "expectedness", {
    Expected => "expected",
    Unexpected => "unexpected",
});
serde_as_str!(Expectedness);

impl Expectedness {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Expectedness::Expected => pick(
                lang,
                "预期（已列入参考安全性信息）",
                "Expected (listed in the reference safety information)",
            ),
            Expectedness::Unexpected => pick(lang, "非预期", "Unexpected"),
        }
    }
}

/// Outcome of a reaction at the last observation, ICH E2B(R3) E.i.7.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Recovered,
    Recovering,
    NotRecovered,
    RecoveredWithSequelae,
    Fatal,
    Unknown,
}

string_enum!(Outcome, "outcome", {
    Recovered => "recovered",
    Recovering => "recovering",
    NotRecovered => "not_recovered",
    RecoveredWithSequelae => "recovered_with_sequelae",
    Fatal => "fatal",
    Unknown => "unknown",
});
serde_as_str!(Outcome);

impl Outcome {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Outcome::Recovered => pick(lang, "痊愈", "Recovered / resolved"),
            Outcome::Recovering => pick(lang, "好转", "Recovering / resolving"),
            Outcome::NotRecovered => pick(lang, "未好转", "Not recovered / not resolved / ongoing"),
            Outcome::RecoveredWithSequelae => {
                pick(lang, "痊愈伴后遗症", "Recovered / resolved with sequelae")
            }
            Outcome::Fatal => pick(lang, "死亡", "Fatal"),
            Outcome::Unknown => pick(lang, "不详", "Unknown"),
        }
    }

    /// The E2B(R3) E.i.7 code: 0 unknown, 1–5 as the guide numbers them.
    pub fn e2b_code(self) -> u8 {
        match self {
            Outcome::Recovered => 1,
            Outcome::Recovering => 2,
            Outcome::NotRecovered => 3,
            Outcome::RecoveredWithSequelae => 4,
            Outcome::Fatal => 5,
            Outcome::Unknown => 0,
        }
    }

    /// The outcome an E2B(R3) E.i.7 code stands for.
    pub fn from_e2b_code(code: u8) -> Option<Outcome> {
        Outcome::ALL.iter().copied().find(|o| o.e2b_code() == code)
    }
}

/// Severity as a CTCAE grade, 1 to 5. A newtype rather than an enum so the
/// grade stays a number in storage and JSON; [`Severity::new`] refuses
/// anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "u8")]
pub struct Severity(u8);

impl Severity {
    /// Every grade, mildest first.
    pub const ALL: [Severity; 5] = [
        Severity(1),
        Severity(2),
        Severity(3),
        Severity(4),
        Severity(5),
    ];

    pub fn new(grade: u8) -> Result<Severity, SafetyError> {
        if (1..=5).contains(&grade) {
            Ok(Severity(grade))
        } else {
            Err(SafetyError::new(
                "severity_range",
                "severity",
                Some(grade.to_string()),
            ))
        }
    }

    pub fn grade(self) -> u8 {
        self.0
    }

    /// The CTCAE v5.0 general description of the grade.
    pub fn label(self, lang: Lang) -> &'static str {
        match self.0 {
            1 => pick(lang, "1级：轻度", "Grade 1: mild"),
            2 => pick(lang, "2级：中度", "Grade 2: moderate"),
            3 => pick(
                lang,
                "3级：重度或具有重要医学意义，但不会立即危及生命",
                "Grade 3: severe or medically significant but not immediately life-threatening",
            ),
            4 => pick(
                lang,
                "4级：危及生命，需紧急干预",
                "Grade 4: life-threatening consequences; urgent intervention indicated",
            ),
            _ => pick(
                lang,
                "5级：与不良事件相关的死亡",
                "Grade 5: death related to the adverse event",
            ),
        }
    }
}

impl From<Severity> for u8 {
    fn from(s: Severity) -> u8 {
        s.0
    }
}

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u8::deserialize(d)?;
        Severity::new(n).map_err(|_| serde::de::Error::custom("CTCAE grade must be 1 to 5"))
    }
}

// ---------------------------------------------------------------------------
// Expedited reporting
// ---------------------------------------------------------------------------

/// What the expedited clock needs to know about a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockInput {
    pub serious: bool,
    /// Fatal or life-threatening; implies serious.
    pub fatal_or_life_threatening: bool,
    pub expectedness: Expectedness,
    /// A reasonable possibility of a causal relationship
    /// ([`Causality::is_related`]).
    pub related: bool,
    /// Day 0: the day the sponsor first knew the case qualified.
    pub aware: NaiveDate,
}

impl ClockInput {
    /// The clock input from an assessment.
    pub fn from_assessment(
        criteria: &[Seriousness],
        expectedness: Expectedness,
        causality: Causality,
        aware: NaiveDate,
    ) -> ClockInput {
        ClockInput {
            serious: !criteria.is_empty(),
            fatal_or_life_threatening: criteria.iter().any(|c| c.is_fatal_or_life_threatening()),
            expectedness,
            related: causality.is_related(),
            aware,
        }
    }
}

/// Which expedited report a case needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReportKind {
    /// Fatal or life-threatening SUSAR: within 7 calendar days, complete
    /// within 8 more.
    Susar7,
    /// Other SUSAR: within 15 calendar days.
    Susar15,
    NotExpedited,
}

string_enum!(ReportKind, "report_kind", {
    Susar7 => "susar_7",
    Susar15 => "susar_15",
    NotExpedited => "not_expedited",
});
serde_as_str!(ReportKind);

impl ReportKind {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            ReportKind::Susar7 => pick(
                lang,
                "致死或危及生命的SUSAR：7天内首次报告，随后8天内完善随访信息",
                "Fatal or life-threatening SUSAR: report within 7 days, complete within 8 more",
            ),
            ReportKind::Susar15 => pick(
                lang,
                "其他SUSAR：15天内报告",
                "Other SUSAR: report within 15 days",
            ),
            ReportKind::NotExpedited => pick(lang, "无需快速报告", "Not for expedited reporting"),
        }
    }
}

/// Expedited reporting deadlines of one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    pub kind: ReportKind,
    pub initial_due: Option<NaiveDate>,
    pub follow_up_due: Option<NaiveDate>,
}

/// Calendar days to the initial report of a fatal or life-threatening
/// SUSAR, and the further days to complete it (ICH E2A III.A.2.a; CDE 2018).
pub const SUSAR_FATAL_DAYS: u64 = 7;
pub const SUSAR_FOLLOW_UP_EXTRA_DAYS: u64 = 8;
/// Calendar days to the report of any other SUSAR (ICH E2A III.A.2.b; CDE 2018).
pub const SUSAR_OTHER_DAYS: u64 = 15;

fn add_days(d: NaiveDate, days: u64) -> NaiveDate {
    d.checked_add_days(chrono::Days::new(days))
        .unwrap_or(NaiveDate::MAX)
}

/// The expedited clock of a case. A suspected unexpected serious adverse
/// reaction (serious, unexpected and related) is reported within 7
/// calendar days when fatal or life-threatening, with the complete report
/// 8 days after that, and otherwise within 15 calendar days. Day 0 is the
/// day of first awareness, so the 7-day report of a case known on the 1st
/// is due on the 8th (ICH E2A III.A.2; CDE 2018 《药物临床试验期间安全性数据
/// 快速报告标准和程序》: 申请人首次获知当天为第0天).
pub fn expedited_clock(input: &ClockInput) -> Clock {
    let serious = input.serious || input.fatal_or_life_threatening;
    let susar = serious && input.expectedness == Expectedness::Unexpected && input.related;
    if !susar {
        return Clock {
            kind: ReportKind::NotExpedited,
            initial_due: None,
            follow_up_due: None,
        };
    }
    if input.fatal_or_life_threatening {
        Clock {
            kind: ReportKind::Susar7,
            initial_due: Some(add_days(input.aware, SUSAR_FATAL_DAYS)),
            follow_up_due: Some(add_days(
                input.aware,
                SUSAR_FATAL_DAYS + SUSAR_FOLLOW_UP_EXTRA_DAYS,
            )),
        }
    } else {
        Clock {
            kind: ReportKind::Susar15,
            initial_due: Some(add_days(input.aware, SUSAR_OTHER_DAYS)),
            follow_up_due: None,
        }
    }
}

/// Where a reporting deadline stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClockStatus {
    /// No report is due (the case is not for expedited reporting).
    NotDue,
    /// Not sent, more than [`DUE_SOON_DAYS`] days left.
    Open,
    /// Not sent, due today or within [`DUE_SOON_DAYS`] days.
    DueSoon,
    /// Not sent, past the due date.
    Overdue,
    SentOnTime,
    SentLate,
}

string_enum!(ClockStatus, "clock_status", {
    NotDue => "not_due",
    Open => "open",
    DueSoon => "due_soon",
    Overdue => "overdue",
    SentOnTime => "sent_on_time",
    SentLate => "sent_late",
});
serde_as_str!(ClockStatus);

impl ClockStatus {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            ClockStatus::NotDue => pick(lang, "无需报告", "No report due"),
            ClockStatus::Open => pick(lang, "报告期内", "Open"),
            ClockStatus::DueSoon => pick(lang, "2天内到期", "Due within 2 days"),
            ClockStatus::Overdue => pick(lang, "已逾期", "Overdue"),
            ClockStatus::SentOnTime => pick(lang, "已按时报告", "Sent on time"),
            ClockStatus::SentLate => pick(lang, "逾期报告", "Sent late"),
        }
    }
}

/// An unsent report is "due soon" from this many days before its due date
/// up to and including the due date itself.
pub const DUE_SOON_DAYS: i64 = 2;

/// The status of one deadline: a report sent on or before the due date is
/// on time ("no later than" the day); an unsent one is due soon within
/// [`DUE_SOON_DAYS`] days of the due date (the due date included) and
/// overdue from the day after.
pub fn clock_status(due: NaiveDate, sent: Option<NaiveDate>, today: NaiveDate) -> ClockStatus {
    match sent {
        Some(s) if s <= due => ClockStatus::SentOnTime,
        Some(_) => ClockStatus::SentLate,
        None => {
            let left = (due - today).num_days();
            if left < 0 {
                ClockStatus::Overdue
            } else if left <= DUE_SOON_DAYS {
                ClockStatus::DueSoon
            } else {
                ClockStatus::Open
            }
        }
    }
}

impl Clock {
    /// The status of the initial report: [`ClockStatus::NotDue`] when the
    /// case is not for expedited reporting.
    pub fn status(&self, sent: Option<NaiveDate>, today: NaiveDate) -> ClockStatus {
        match self.initial_due {
            None => ClockStatus::NotDue,
            Some(due) => clock_status(due, sent, today),
        }
    }
}

// ---------------------------------------------------------------------------
// Malignancy after CAR-T
// ---------------------------------------------------------------------------

/// MedDRA SOC *Neoplasms benign, malignant and unspecified (incl cysts and
/// polyps)*. The SOC also holds benign neoplasms; as a review flag the
/// over-inclusion is accepted.
pub const MALIGNANCY_SOC: &str = "10029104";

/// Whole words (after lower-casing and splitting on anything that is not a
/// letter or digit) that name a malignancy by themselves.
const EN_WORDS: &[&str] = &[
    "cancer",
    "cancers",
    "malignancy",
    "malignancies",
    "metastasis",
    "metastases",
    "metastatic",
    "myelodysplastic",
    "myelodysplasia",
    "myeloproliferative",
    "lymphoproliferative",
    "hodgkin",
    "leukaemic",
    "leukemic",
    "carcinoid",
    // Common abbreviations; "all" is left out as an ordinary word.
    "aml",
    "cml",
    "cll",
    "mds",
    "nhl",
    "dlbcl",
    "ptcl",
    "ctcl",
    "ptld",
];

/// Word endings (singular; a trailing "s" is dropped first) that name a
/// malignancy: "adenocarcinoma", "osteosarcoma", "erythroleukaemia" …
const EN_ENDINGS: &[&str] = &[
    "lymphoma",
    "leukaemia",
    "leukemia",
    "carcinoma",
    "sarcoma",
    "myeloma",
    "melanoma",
    "blastoma",
    "mesothelioma",
    "seminoma",
    "glioma",
];

/// With "malignant", one of these words makes a malignancy ("neoplasm
/// malignant", "malignant pleural effusion"); without one, "malignant" is
/// not enough ("neuroleptic malignant syndrome", "hyperthermia malignant",
/// "malignant hypertension").
const EN_MALIGNANT_WITH: &[&str] = &[
    "neoplasm",
    "neoplasms",
    "neoplasia",
    "tumour",
    "tumours",
    "tumor",
    "tumors",
    "transformation",
    "effusion",
    "ascites",
    "cells",
];

/// Chinese phrases removed before matching, because they contain a
/// malignancy word without meaning one.
const ZH_NOT: &[&str] = &[
    "类白血病",   // leukaemoid reaction
    "假性淋巴瘤", // pseudolymphoma
    "癌胚抗原",   // carcinoembryonic antigen
    "癌抗原",     // cancer antigen (CA-125 …)
    "抗癌",       // anticancer
    "癌前",       // precancerous
    "家族史",     // family history
];

const ZH_WORDS: &[&str] = &[
    "淋巴瘤",
    "白血病",
    "癌",
    "肉瘤",
    "骨髓增生异常",
    "骨髓瘤",
    "黑色素瘤",
    "母细胞瘤",
    "间皮瘤",
    "胶质瘤",
    "精原细胞瘤",
    "淋巴增殖性疾病",
    "骨髓增殖性肿瘤",
    "转移性",
    "转移瘤",
    "霍奇金",
    "恶性肿瘤",
    "恶性病变",
    "恶性转化",
    "恶性血液病",
    "恶性胸腔积液",
    "恶性腹水",
];

fn en_malignant(term: &str) -> bool {
    let lower = term.to_lowercase();
    if lower.contains("family history") {
        return false;
    }
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let named = words.iter().any(|w| {
        if EN_WORDS.contains(w) {
            return true;
        }
        if w.starts_with("pseudo") {
            return false;
        }
        let singular = w.strip_suffix('s').unwrap_or(w);
        EN_ENDINGS.iter().any(|e| singular.ends_with(e))
    });
    named || (words.contains(&"malignant") && words.iter().any(|w| EN_MALIGNANT_WITH.contains(w)))
}

fn zh_malignant(term: &str) -> bool {
    let mut t = term.to_string();
    for not in ZH_NOT {
        t = t.replace(not, " ");
    }
    ZH_WORDS.iter().any(|w| t.contains(w))
}

/// Whether an adverse event term names a malignancy, in English or Chinese,
/// or its MedDRA code is the neoplasms SOC ([`MALIGNANCY_SOC`]).
pub fn is_malignancy(term: &str, meddra_code: Option<&str>) -> bool {
    is_malignancy_in(term, meddra_code, &[])
}

/// [`is_malignancy`], also true when the code is one of `codes` — the
/// user's own list from their MedDRA hierarchy (the PTs under the SOC, or
/// an SMQ).
pub fn is_malignancy_in(term: &str, meddra_code: Option<&str>, codes: &[&str]) -> bool {
    if let Some(code) = meddra_code.map(str::trim).filter(|c| !c.is_empty()) {
        if code == MALIGNANCY_SOC || codes.iter().any(|c| c.trim() == code) {
            return true;
        }
    }
    en_malignant(term) || zh_malignant(term)
}

// ---------------------------------------------------------------------------
// Long-term follow-up
// ---------------------------------------------------------------------------

/// How long a subject is followed, in years after administration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LtfuPlan {
    pub years: u32,
    /// Years with a yearly visit (examination).
    pub visit_years: u32,
    /// Years after those with a yearly contact (phone or questionnaire).
    pub contact_years: u32,
}

/// Years of yearly visits before follow-up turns to yearly contact: FDA
/// LTFU guidance (2020) — for 15 years of follow-up, a minimum of five
/// years of annual examinations, then annual contact for the remaining ten.
pub const LTFU_VISIT_YEARS: u32 = 5;

/// The follow-up plan for a duration: up to [`LTFU_VISIT_YEARS`] years of
/// yearly visits, the rest yearly contact. 15 years (integrating vectors,
/// genome editing) → 5 + 10; 5 years → 5 + 0; 0 → none.
pub fn ltfu_plan(years: u32) -> LtfuPlan {
    let visit_years = years.min(LTFU_VISIT_YEARS);
    LtfuPlan {
        years,
        visit_years,
        contact_years: years - visit_years,
    }
}

/// Visit or contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FollowUpKind {
    Visit,
    Contact,
}

string_enum!(FollowUpKind, "follow_up_kind", {
    Visit => "visit",
    Contact => "contact",
});
serde_as_str!(FollowUpKind);

impl FollowUpKind {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            FollowUpKind::Visit => pick(lang, "随访就诊", "Visit"),
            FollowUpKind::Contact => pick(
                lang,
                "联系随访（电话或问卷）",
                "Contact (phone or questionnaire)",
            ),
        }
    }
}

/// One scheduled visit or contact, with its window (both ends included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledVisit {
    /// 1, 2, 3 … in date order.
    pub number: u32,
    pub kind: FollowUpKind,
    pub due: NaiveDate,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
}

/// Visits in the first year, in months after administration: the FDA's
/// January 2020 guidance on testing retroviral vector-based products for
/// replication-competent retrovirus recommends patient samples at 3, 6 and
/// 12 months, then yearly. Month 12 is the first yearly visit.
pub const EARLY_VISIT_MONTHS: &[u32] = &[3, 6];
/// Window either side of an early visit, days (a scheduling choice: half a
/// month, so the month-3 and month-6 windows never meet).
pub const EARLY_WINDOW_DAYS: u64 = 14;
/// Window either side of a yearly visit or contact, days (a scheduling
/// choice: no guideline fixes it; a month either side is common in
/// long-term follow-up protocols).
pub const YEARLY_WINDOW_DAYS: u64 = 30;

fn visit(number: u32, kind: FollowUpKind, due: NaiveDate, window: u64) -> Option<ScheduledVisit> {
    Some(ScheduledVisit {
        number,
        kind,
        due,
        window_start: due.checked_sub_days(chrono::Days::new(window))?,
        window_end: due.checked_add_days(chrono::Days::new(window))?,
    })
}

/// The schedule of a plan from the day of administration: the early visits
/// of [`EARLY_VISIT_MONTHS`] (when the plan has any visit year), then a
/// visit on each anniversary for `visit_years` years, then a contact on
/// each anniversary for `contact_years` years.
///
/// Anniversaries are counted in calendar months; a day the month lacks
/// becomes its last day (29 February → 28 February), as 民法典 第二百零二条
/// counts periods in months and years. Dates beyond the calendar's end are
/// left out.
pub fn ltfu_schedule(plan: &LtfuPlan, start: NaiveDate) -> Vec<ScheduledVisit> {
    let mut out = Vec::new();
    let mut number = 1;
    let mut push = |months: u32, kind: FollowUpKind, window: u64| -> bool {
        let v = start
            .checked_add_months(Months::new(months))
            .and_then(|due| visit(number, kind, due, window));
        match v {
            Some(v) => {
                out.push(v);
                number += 1;
                true
            }
            None => false,
        }
    };
    if plan.visit_years > 0 {
        for m in EARLY_VISIT_MONTHS {
            if !push(*m, FollowUpKind::Visit, EARLY_WINDOW_DAYS) {
                return out;
            }
        }
    }
    let total = plan.visit_years.saturating_add(plan.contact_years);
    for year in 1..=total {
        let kind = if year <= plan.visit_years {
            FollowUpKind::Visit
        } else {
            FollowUpKind::Contact
        };
        let Some(months) = year.checked_mul(12) else {
            break;
        };
        if !push(months, kind, YEARLY_WINDOW_DAYS) {
            break;
        }
    }
    out
}

/// Where one scheduled visit stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VisitStatus {
    /// Its window has not opened.
    Upcoming,
    /// Inside its window, not yet done.
    DueNow,
    Done,
    /// Its window closed without it being done.
    Missed,
}

string_enum!(VisitStatus, "visit_status", {
    Upcoming => "upcoming",
    DueNow => "due_now",
    Done => "done",
    Missed => "missed",
});
serde_as_str!(VisitStatus);

impl VisitStatus {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            VisitStatus::Upcoming => pick(lang, "未到期", "Upcoming"),
            VisitStatus::DueNow => pick(lang, "窗口期内待完成", "Due now"),
            VisitStatus::Done => pick(lang, "已完成", "Done"),
            VisitStatus::Missed => pick(lang, "已错过", "Missed"),
        }
    }
}

/// A subject's place in long-term follow-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubjectFollowUpStatus {
    Active,
    LostToFollowUp,
    Died,
    Completed,
    Withdrawn,
}

string_enum!(SubjectFollowUpStatus, "follow_up_status", {
    Active => "active",
    LostToFollowUp => "lost_to_follow_up",
    Died => "died",
    Completed => "completed",
    Withdrawn => "withdrawn",
});
serde_as_str!(SubjectFollowUpStatus);

impl SubjectFollowUpStatus {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            SubjectFollowUpStatus::Active => pick(lang, "随访中", "Active"),
            SubjectFollowUpStatus::LostToFollowUp => pick(lang, "失访", "Lost to follow-up"),
            SubjectFollowUpStatus::Died => pick(lang, "死亡", "Died"),
            SubjectFollowUpStatus::Completed => pick(lang, "已完成随访", "Completed"),
            SubjectFollowUpStatus::Withdrawn => pick(lang, "已退出", "Withdrawn"),
        }
    }
}

/// A visit done on or before today counts as done, early or late (a date
/// after today is not yet a fact and is ignored); one not done is upcoming
/// before its window, due during it and missed after it.
pub fn visit_status(
    v: &ScheduledVisit,
    done_on: Option<NaiveDate>,
    today: NaiveDate,
) -> VisitStatus {
    if done_on.is_some_and(|d| d <= today) {
        VisitStatus::Done
    } else if today < v.window_start {
        VisitStatus::Upcoming
    } else if today <= v.window_end {
        VisitStatus::DueNow
    } else {
        VisitStatus::Missed
    }
}

/// Consecutive missed visits or contacts, with nothing done since, after
/// which a subject is lost to follow-up. No guideline fixes the number and
/// protocols differ; two yearly windows missed in a row means more than two
/// years without news, which long-term follow-up cannot leave unflagged.
pub const LOST_AFTER_MISSED: usize = 2;

/// The subject's status on a day: died (a death on or before today) comes
/// first, then withdrawn; then lost to follow-up when the latest
/// [`LOST_AFTER_MISSED`] visits whose windows have closed were all missed
/// and none was done since; completed when no visit is upcoming or due;
/// otherwise active.
pub fn follow_up_status(
    visits: &[(ScheduledVisit, Option<NaiveDate>)],
    died: Option<NaiveDate>,
    withdrawn: Option<NaiveDate>,
    today: NaiveDate,
) -> SubjectFollowUpStatus {
    if died.is_some_and(|d| d <= today) {
        return SubjectFollowUpStatus::Died;
    }
    if withdrawn.is_some_and(|w| w <= today) {
        return SubjectFollowUpStatus::Withdrawn;
    }
    let mut ordered: Vec<(&ScheduledVisit, VisitStatus)> = visits
        .iter()
        .map(|(v, done)| (v, visit_status(v, *done, today)))
        .collect();
    ordered.sort_by_key(|(v, _)| (v.due, v.number));
    let trailing_missed = ordered
        .iter()
        .filter(|(_, s)| matches!(s, VisitStatus::Done | VisitStatus::Missed))
        .rev()
        .take_while(|(_, s)| *s == VisitStatus::Missed)
        .count();
    if trailing_missed >= LOST_AFTER_MISSED {
        return SubjectFollowUpStatus::LostToFollowUp;
    }
    if ordered
        .iter()
        .all(|(_, s)| matches!(s, VisitStatus::Done | VisitStatus::Missed))
    {
        SubjectFollowUpStatus::Completed
    } else {
        SubjectFollowUpStatus::Active
    }
}

/// How much of the follow-up owed so far has been done.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Completeness {
    /// Visits owed by today: done, or with their window closed.
    pub due: u32,
    pub done: u32,
    pub missed: u32,
    /// `done / due`; 1.0 when nothing is owed yet.
    pub ratio: f64,
}

/// Completeness on a day. A visit still inside its window is not yet owed.
pub fn completeness(
    visits: &[(ScheduledVisit, Option<NaiveDate>)],
    today: NaiveDate,
) -> Completeness {
    let (mut done, mut missed) = (0u32, 0u32);
    for (v, d) in visits {
        match visit_status(v, *d, today) {
            VisitStatus::Done => done += 1,
            VisitStatus::Missed => missed += 1,
            VisitStatus::Upcoming | VisitStatus::DueNow => {}
        }
    }
    let due = done + missed;
    Completeness {
        due,
        done,
        missed,
        ratio: if due == 0 {
            1.0
        } else {
            f64::from(done) / f64::from(due)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    fn crs(t: f64, hp: Hypotension, hx: Hypoxia) -> CrsInput {
        CrsInput {
            temperature_c: t,
            hypotension: hp,
            hypoxia: hx,
            fever_masked: false,
        }
    }

    fn graded(i: &CrsInput) -> (u8, Vec<String>) {
        let g = grade_crs(i).expect("valid CRS input");
        (g.grade, g.deciding)
    }

    fn adult(ice: Option<u8>) -> IcansInput {
        IcansInput {
            ice_score: ice,
            consciousness: Consciousness::Awake,
            seizure: Seizure::None,
            motor: Motor::None,
            cerebral_edema: CerebralEdema::None,
            age_years: Some(45.0),
            capd_score: None,
        }
    }

    fn child(age: f64, capd: Option<u8>) -> IcansInput {
        IcansInput {
            age_years: Some(age),
            capd_score: capd,
            ice_score: None,
            ..adult(None)
        }
    }

    fn icans(i: &IcansInput) -> (u8, Vec<String>) {
        let g = grade_icans(i).expect("valid ICANS input");
        (g.grade, g.deciding)
    }

    fn v(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|s| s.to_string()).collect()
    }

    // ---- CRS ----

    /// Every row of the ASTCT CRS Consensus Grading table (Lee DW et al.,
    /// Biol Blood Marrow Transplant 2019;25:625–638): fever with no
    /// hypotension and no hypoxia is grade 1; hypotension not requiring
    /// vasopressors and/or low-flow oxygen grade 2; one vasopressor and/or
    /// high-flow oxygen grade 3; multiple vasopressors and/or positive
    /// pressure grade 4.
    #[test]
    fn crs_table_rows() {
        use Hypotension as P;
        use Hypoxia as X;
        let rows = [
            (P::None, X::None, 1, v(&["fever:present"])),
            (
                P::NoVasopressor,
                X::None,
                2,
                v(&["hypotension:no_vasopressor"]),
            ),
            (P::None, X::LowFlow, 2, v(&["hypoxia:low_flow"])),
            (
                P::OneVasopressor,
                X::None,
                3,
                v(&["hypotension:one_vasopressor"]),
            ),
            (P::None, X::HighFlow, 3, v(&["hypoxia:high_flow"])),
            (
                P::MultipleVasopressors,
                X::None,
                4,
                v(&["hypotension:multiple_vasopressors"]),
            ),
            (
                P::None,
                X::PositivePressure,
                4,
                v(&["hypoxia:positive_pressure"]),
            ),
        ];
        for (hp, hx, grade, deciding) in rows {
            assert_eq!(graded(&crs(39.0, hp, hx)), (grade, deciding), "{hp} {hx}");
        }
    }

    /// Lee 2019, CRS table footnote: "CRS grade is determined by the more
    /// severe event … e.g. a patient with temperature of 39.5 °C,
    /// hypotension requiring 1 vasopressor, and hypoxia requiring low-flow
    /// nasal cannula is classified as grade 3 CRS."
    #[test]
    fn crs_worked_example_and_ties() {
        let i = crs(39.5, Hypotension::OneVasopressor, Hypoxia::LowFlow);
        assert_eq!(graded(&i), (3, v(&["hypotension:one_vasopressor"])));
        // Both criteria at the same grade are both deciding (the table's
        // "and/or"): one vasopressor with high-flow oxygen is grade 3 by each.
        let i = crs(39.5, Hypotension::OneVasopressor, Hypoxia::HighFlow);
        assert_eq!(
            graded(&i),
            (3, v(&["hypotension:one_vasopressor", "hypoxia:high_flow"]))
        );
        let i = crs(38.2, Hypotension::NoVasopressor, Hypoxia::LowFlow);
        assert_eq!(
            graded(&i),
            (2, v(&["hypotension:no_vasopressor", "hypoxia:low_flow"]))
        );
        let i = crs(
            40.1,
            Hypotension::MultipleVasopressors,
            Hypoxia::PositivePressure,
        );
        assert_eq!(
            graded(&i),
            (
                4,
                v(&[
                    "hypotension:multiple_vasopressors",
                    "hypoxia:positive_pressure"
                ])
            )
        );
    }

    /// Lee 2019: "Fever is defined as temperature ≥ 38 °C"; without it (and
    /// without antipyretic or anti-cytokine therapy) there is no CRS grade,
    /// whatever the blood pressure or oxygen.
    #[test]
    fn crs_fever_threshold() {
        assert_eq!(
            graded(&crs(37.9, Hypotension::None, Hypoxia::None)),
            (0, v(&["fever:absent"]))
        );
        assert_eq!(
            graded(&crs(
                37.9,
                Hypotension::MultipleVasopressors,
                Hypoxia::PositivePressure
            )),
            (0, v(&["fever:absent"]))
        );
        assert_eq!(
            graded(&crs(38.0, Hypotension::None, Hypoxia::None)),
            (1, v(&["fever:present"]))
        );
        assert_eq!(
            graded(&crs(38.0, Hypotension::NoVasopressor, Hypoxia::None)),
            (2, v(&["hypotension:no_vasopressor"]))
        );
    }

    /// Lee 2019, CRS table footnote: "In patients who have CRS then receive
    /// antipyretic or anticytokine therapy such as tocilizumab or steroids,
    /// fever is no longer required to grade subsequent CRS severity. In
    /// this case, CRS grading is driven by hypotension and/or hypoxia."
    #[test]
    fn crs_masked_fever() {
        let mut i = crs(36.8, Hypotension::None, Hypoxia::HighFlow);
        i.fever_masked = true;
        assert_eq!(graded(&i), (3, v(&["hypoxia:high_flow"])));
        i.hypoxia = Hypoxia::None;
        i.hypotension = Hypotension::NoVasopressor;
        assert_eq!(graded(&i), (2, v(&["hypotension:no_vasopressor"])));
        // Driven by hypotension and hypoxia only: with neither, no grade.
        i.hypotension = Hypotension::None;
        assert_eq!(graded(&i), (0, v(&["fever:masked"])));
        // A fever that is still there still counts.
        i.temperature_c = 38.4;
        assert_eq!(graded(&i), (1, v(&["fever:present"])));
    }

    #[test]
    fn crs_temperature_refused() {
        for t in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            24.9,
            45.1,
            -40.0,
            100.4,
        ] {
            let e = grade_crs(&crs(t, Hypotension::None, Hypoxia::None)).expect_err("refused");
            assert_eq!(e.code(), "grade_temperature_range", "{t}");
            assert_eq!(e.field, Some("temperature_c"));
        }
        for t in [25.0, 45.0] {
            assert!(
                grade_crs(&crs(t, Hypotension::None, Hypoxia::None)).is_ok(),
                "{t}"
            );
        }
    }

    #[test]
    fn crs_json_shape() {
        let i: CrsInput = serde_json::from_str(
            r#"{"temperature_c":39.5,"hypotension":"one_vasopressor","hypoxia":"low_flow"}"#,
        )
        .expect("reads");
        assert!(!i.fever_masked);
        let g = grade_crs(&i).expect("grades");
        assert_eq!(
            serde_json::to_string(&g).expect("writes"),
            r#"{"grade":3,"deciding":["hypotension:one_vasopressor"]}"#
        );
        for bad in [
            r#"{"temperature_c":39.5,"hypotension":"one_vasopressor","hypoxia":"low_flow","x":1}"#,
            r#"{"temperature_c":39.5,"hypotension":"One_vasopressor","hypoxia":"low_flow"}"#,
            r#"{"temperature_c":39.5,"hypotension":" none","hypoxia":"low_flow"}"#,
            r#"{"temperature_c":"39.5","hypotension":"none","hypoxia":"none"}"#,
            r#"{"hypotension":"none","hypoxia":"none"}"#,
        ] {
            assert!(serde_json::from_str::<CrsInput>(bad).is_err(), "{bad}");
        }
    }

    // ---- ICANS ----

    /// ASTCT ICANS Consensus Grading for Adults (Lee 2019): ICE 7–9 grade 1,
    /// 3–6 grade 2, 0–2 grade 3, 0 with the patient unarousable grade 4;
    /// an ICE score of 10 is no ICANS.
    #[test]
    fn icans_ice_rows() {
        let expect = [
            (10, 0, "ice_score:10"),
            (9, 1, "ice_score:7_9"),
            (8, 1, "ice_score:7_9"),
            (7, 1, "ice_score:7_9"),
            (6, 2, "ice_score:3_6"),
            (5, 2, "ice_score:3_6"),
            (4, 2, "ice_score:3_6"),
            (3, 2, "ice_score:3_6"),
            (2, 3, "ice_score:0_2"),
            (1, 3, "ice_score:0_2"),
            (0, 3, "ice_score:0_2"),
        ];
        for (score, grade, entry) in expect {
            assert_eq!(
                icans(&adult(Some(score))),
                (grade, v(&[entry])),
                "ICE {score}"
            );
        }
        let mut i = adult(Some(0));
        i.consciousness = Consciousness::Unarousable;
        assert_eq!(
            icans(&i),
            (
                4,
                v(&["ice_score:unarousable", "consciousness:unarousable"])
            )
        );
        // Unarousable needs no score: the test cannot be performed.
        i.ice_score = None;
        assert_eq!(icans(&i).0, 4);
    }

    /// The other rows of the adult table (Lee 2019): depressed level of
    /// consciousness 1–4; seizure grade 3 (resolves rapidly) or 4
    /// (prolonged > 5 min or repetitive); deep focal motor weakness grade 4;
    /// focal oedema grade 3, diffuse oedema grade 4.
    #[test]
    fn icans_other_domains() {
        let base = adult(Some(10));
        let cases: [(IcansInput, u8, &str); 9] = [
            (
                IcansInput {
                    consciousness: Consciousness::AwakensSpontaneously,
                    ..base.clone()
                },
                1,
                "consciousness:awakens_spontaneously",
            ),
            (
                IcansInput {
                    consciousness: Consciousness::AwakensToVoice,
                    ..base.clone()
                },
                2,
                "consciousness:awakens_to_voice",
            ),
            (
                IcansInput {
                    consciousness: Consciousness::AwakensToTactile,
                    ..base.clone()
                },
                3,
                "consciousness:awakens_to_tactile",
            ),
            (
                IcansInput {
                    seizure: Seizure::Resolved,
                    ..base.clone()
                },
                3,
                "seizure:resolved",
            ),
            (
                IcansInput {
                    seizure: Seizure::ProlongedOrRepetitive,
                    ..base.clone()
                },
                4,
                "seizure:prolonged_or_repetitive",
            ),
            (
                IcansInput {
                    motor: Motor::DeepFocalWeakness,
                    ..base.clone()
                },
                4,
                "motor:deep_focal_weakness",
            ),
            (
                IcansInput {
                    cerebral_edema: CerebralEdema::Focal,
                    ..base.clone()
                },
                3,
                "cerebral_edema:focal",
            ),
            (
                IcansInput {
                    cerebral_edema: CerebralEdema::Diffuse,
                    ..base.clone()
                },
                4,
                "cerebral_edema:diffuse",
            ),
            (base.clone(), 0, "ice_score:10"),
        ];
        for (input, grade, entry) in cases {
            assert_eq!(icans(&input), (grade, v(&[entry])), "{entry}");
        }
    }

    /// Lee 2019, adult ICANS table notes: "a patient with an ICE score of 3
    /// who has a generalized seizure is classified as grade 3 ICANS", and
    /// "a patient with an ICE score of 0 may be classified as grade 3 ICANS
    /// if awake with global aphasia, but … grade 4 ICANS if unarousable."
    #[test]
    fn icans_worked_examples() {
        let i = IcansInput {
            seizure: Seizure::Resolved,
            ..adult(Some(3))
        };
        assert_eq!(icans(&i), (3, v(&["seizure:resolved"])));
        assert_eq!(icans(&adult(Some(0))), (3, v(&["ice_score:0_2"])));
        let i = IcansInput {
            consciousness: Consciousness::Unarousable,
            ..adult(Some(0))
        };
        assert_eq!(icans(&i).0, 4);
        // Ties list every domain at the grade.
        let i = IcansInput {
            seizure: Seizure::Resolved,
            cerebral_edema: CerebralEdema::Focal,
            ..adult(Some(2))
        };
        assert_eq!(
            icans(&i),
            (
                3,
                v(&["ice_score:0_2", "seizure:resolved", "cerebral_edema:focal"])
            )
        );
    }

    /// ASTCT ICANS Consensus Grading for Children (Lee 2019): children
    /// under 12 are assessed with the CAPD — grade 1 and 2 CAPD 1–8, grade 3
    /// CAPD ≥ 9, grade 4 unable to perform the CAPD; grade 2 differs from 1
    /// only by consciousness (awakens to voice). The ICE assessment is for
    /// adults and children aged 12 or more.
    #[test]
    fn icans_children() {
        assert_eq!(icans(&child(11.9, Some(0))), (0, v(&["capd_score:0"])));
        assert_eq!(icans(&child(11.9, Some(1))), (1, v(&["capd_score:1_8"])));
        assert_eq!(icans(&child(6.0, Some(8))), (1, v(&["capd_score:1_8"])));
        assert_eq!(icans(&child(6.0, Some(9))), (3, v(&["capd_score:9_32"])));
        assert_eq!(icans(&child(0.5, Some(32))), (3, v(&["capd_score:9_32"])));
        let i = IcansInput {
            consciousness: Consciousness::AwakensToVoice,
            ..child(6.0, Some(5))
        };
        assert_eq!(icans(&i), (2, v(&["consciousness:awakens_to_voice"])));
        let i = IcansInput {
            consciousness: Consciousness::Unarousable,
            ..child(3.0, None)
        };
        assert_eq!(
            icans(&i),
            (4, v(&["capd_score:unable", "consciousness:unarousable"]))
        );
        // At 12 the ICE score applies, not the CAPD.
        let mut i = child(12.0, Some(20));
        i.ice_score = Some(8);
        assert_eq!(icans(&i), (1, v(&["ice_score:7_9"])));
        let e = grade_icans(&child(12.0, Some(20))).expect_err("needs ICE");
        assert_eq!(
            (e.code(), e.field),
            ("grade_ice_score_missing", Some("ice_score"))
        );
        let mut i = child(11.9, None);
        i.ice_score = Some(10);
        let e = grade_icans(&i).expect_err("needs CAPD");
        assert_eq!(
            (e.code(), e.field),
            ("grade_capd_score_missing", Some("capd_score"))
        );
        // Unknown age is graded as an adult.
        let i = IcansInput {
            age_years: None,
            ..adult(Some(7))
        };
        assert_eq!(icans(&i).0, 1);
    }

    #[test]
    fn icans_errors() {
        let e = grade_icans(&adult(None)).expect_err("missing");
        assert_eq!(
            (e.code(), e.field),
            ("grade_ice_score_missing", Some("ice_score"))
        );
        let e = grade_icans(&adult(Some(11))).expect_err("range");
        assert_eq!(
            (e.code(), e.value.as_deref()),
            ("grade_ice_score_range", Some("11"))
        );
        let e = grade_icans(&child(5.0, Some(33))).expect_err("range");
        assert_eq!(e.code(), "grade_capd_score_range");
        // A score out of range is refused even when the other tool is used.
        let mut i = adult(Some(10));
        i.capd_score = Some(200);
        assert_eq!(
            grade_icans(&i).expect_err("range").code(),
            "grade_capd_score_range"
        );
        for a in [f64::NAN, -1.0, 130.5, f64::INFINITY] {
            let e = grade_icans(&IcansInput {
                age_years: Some(a),
                ..adult(Some(10))
            })
            .expect_err("age");
            assert_eq!(
                (e.code(), e.field),
                ("grade_age_range", Some("age_years")),
                "{a}"
            );
        }
    }

    #[test]
    fn icans_json_shape() {
        let i: IcansInput = serde_json::from_str(
            r#"{"ice_score":3,"consciousness":"awake","seizure":"resolved","motor":"none","cerebral_edema":"none"}"#,
        )
        .expect("reads");
        assert_eq!(i.age_years, None);
        assert_eq!(i.capd_score, None);
        assert_eq!(
            serde_json::to_value(grade_icans(&i).expect("grades")).expect("json"),
            serde_json::json!({"grade": 3, "deciding": ["seizure:resolved"]})
        );
        assert!(serde_json::from_str::<IcansInput>(
            r#"{"ice_score":3,"consciousness":"awake","seizure":"resolved","motor":"none","cerebral_edema":"none","gcs":15}"#
        )
        .is_err());
        assert!(serde_json::from_str::<IcansInput>(
            r#"{"ice_score":300,"consciousness":"awake","seizure":"none","motor":"none","cerebral_edema":"none"}"#
        )
        .is_err());
    }

    #[test]
    fn deciding_labels() {
        assert_eq!(
            deciding_label("hypoxia:high_flow", Lang::En),
            "Hypoxia requiring high-flow nasal cannula (> 6 L/min), facemask, non-rebreather or Venturi mask (grade 3)"
        );
        assert_eq!(
            deciding_label("ice_score:0_2", Lang::Zh),
            "ICE 评分 0 至 2 分（3级）"
        );
        assert_eq!(deciding_label("nope:x", Lang::En), "nope:x");
    }

    fn worse_crs(i: &CrsInput, which: u8, step: f64) -> CrsInput {
        let mut w = i.clone();
        match which {
            0 => w.temperature_c = (w.temperature_c + step).min(45.0),
            1 => {
                let k = Hypotension::ALL
                    .iter()
                    .position(|h| *h == w.hypotension)
                    .unwrap_or(0);
                w.hypotension = Hypotension::ALL[(k + 1).min(3)];
            }
            2 => {
                let k = Hypoxia::ALL
                    .iter()
                    .position(|h| *h == w.hypoxia)
                    .unwrap_or(0);
                w.hypoxia = Hypoxia::ALL[(k + 1).min(3)];
            }
            _ => w.fever_masked = true,
        }
        w
    }

    fn worse_icans(i: &IcansInput, which: u8, step: u8) -> IcansInput {
        fn up<T: Copy + PartialEq>(all: &[T], x: T) -> T {
            let k = all.iter().position(|a| *a == x).unwrap_or(0);
            all[(k + 1).min(all.len() - 1)]
        }
        let mut w = i.clone();
        match which {
            0 => w.ice_score = w.ice_score.map(|s| s.saturating_sub(step)),
            1 => w.capd_score = w.capd_score.map(|s| s.saturating_add(step).min(CAPD_MAX)),
            2 => w.consciousness = up(Consciousness::ALL, w.consciousness),
            3 => w.seizure = up(Seizure::ALL, w.seizure),
            4 => w.motor = up(Motor::ALL, w.motor),
            _ => w.cerebral_edema = up(CerebralEdema::ALL, w.cerebral_edema),
        }
        w
    }

    fn crs_input() -> impl Strategy<Value = CrsInput> {
        (25.0f64..45.0, 0usize..4, 0usize..4, any::<bool>()).prop_map(|(t, a, b, m)| CrsInput {
            temperature_c: t,
            hypotension: Hypotension::ALL[a],
            hypoxia: Hypoxia::ALL[b],
            fever_masked: m,
        })
    }

    fn icans_input() -> impl Strategy<Value = IcansInput> {
        (
            0u8..=10,
            0u8..=32,
            0usize..5,
            0usize..3,
            0usize..2,
            0usize..3,
            proptest::option::of(0.0f64..130.0),
        )
            .prop_map(|(ice, capd, c, s, m, e, age)| IcansInput {
                ice_score: Some(ice),
                consciousness: Consciousness::ALL[c],
                seizure: Seizure::ALL[s],
                motor: Motor::ALL[m],
                cerebral_edema: CerebralEdema::ALL[e],
                age_years: age,
                capd_score: Some(capd),
            })
    }

    fn well_formed(g: &Grade) -> bool {
        g.grade <= 4
            && !g.deciding.is_empty()
            && g.deciding
                .iter()
                .all(|e| DECIDING_ENTRIES.contains(&e.as_str()))
    }

    proptest! {
        /// Worsening any CRS finding never lowers the grade.
        #[test]
        fn crs_is_monotone(i in crs_input(), which in 0u8..4, step in 0.0f64..5.0) {
            let g = grade_crs(&i).expect("in range");
            let w = grade_crs(&worse_crs(&i, which, step)).expect("in range");
            prop_assert!(w.grade >= g.grade, "{i:?} -> {w:?} from {g:?}");
            prop_assert!(well_formed(&g) && well_formed(&w));
        }

        /// Worsening any ICANS domain never lowers the grade.
        #[test]
        fn icans_is_monotone(i in icans_input(), which in 0u8..6, step in 0u8..12) {
            let g = grade_icans(&i).expect("in range");
            let w = grade_icans(&worse_icans(&i, which, step)).expect("in range");
            prop_assert!(w.grade >= g.grade, "{i:?} -> {w:?} from {g:?}");
            prop_assert!(well_formed(&g) && well_formed(&w));
        }

        #[test]
        fn grading_never_panics(
            t in any::<f64>(), a in 0usize..4, b in 0usize..4, m in any::<bool>(),
            ice in any::<Option<u8>>(), capd in any::<Option<u8>>(),
            age in any::<Option<f64>>(), c in 0usize..5,
        ) {
            let r = grade_crs(&CrsInput {
                temperature_c: t,
                hypotension: Hypotension::ALL[a],
                hypoxia: Hypoxia::ALL[b],
                fever_masked: m,
            });
            if let Ok(g) = r { prop_assert!(well_formed(&g)); }
            let r = grade_icans(&IcansInput {
                ice_score: ice,
                consciousness: Consciousness::ALL[c],
                seizure: Seizure::None,
                motor: Motor::None,
                cerebral_edema: CerebralEdema::None,
                age_years: age,
                capd_score: capd,
            });
            match r {
                Ok(g) => prop_assert!(well_formed(&g)),
                Err(e) => prop_assert!(ERROR_CODES.contains(&e.code())),
            }
        }

        /// Reading any text as grading input never panics.
        #[test]
        fn inputs_from_any_text(s in "\\PC{0,200}") {
            let _ = serde_json::from_str::<CrsInput>(&s);
            let _ = serde_json::from_str::<IcansInput>(&s);
            let _ = serde_json::from_str::<ClockInput>(&s);
            let _ = serde_json::from_str::<Severity>(&s);
            let _ = deciding_label(&s, Lang::Zh);
        }

        #[test]
        fn inputs_from_near_json(
            t in "(-?[0-9]{1,3}(\\.[0-9]{1,2})?|1e999|null|\"x\")",
            hp in "(none|no_vasopressor|one_vasopressor|multiple_vasopressors|x)",
            c in "(awake|awakens_to_voice|unarousable|x)",
            n in "(-1|0|7|10|11|256|null)",
        ) {
            let j = format!(r#"{{"temperature_c":{t},"hypotension":"{hp}","hypoxia":"none"}}"#);
            if let Ok(i) = serde_json::from_str::<CrsInput>(&j) { let _ = grade_crs(&i); }
            let j = format!(r#"{{"ice_score":{n},"consciousness":"{c}","seizure":"none","motor":"none","cerebral_edema":"none","age_years":{t},"capd_score":{n}}}"#);
            if let Ok(i) = serde_json::from_str::<IcansInput>(&j) { let _ = grade_icans(&i); }
        }

        #[test]
        fn malignancy_never_panics(s in "\\PC{0,80}", code in proptest::option::of("\\PC{0,12}")) {
            let _ = is_malignancy(&s, code.as_deref());
        }

        #[test]
        fn schedule_never_panics(years in 0u32..40, days in -800_000i32..3_000_000) {
            if let Some(start) = NaiveDate::from_num_days_from_ce_opt(days) {
                let s = ltfu_schedule(&ltfu_plan(years), start);
                prop_assert!(s.windows(2).all(|w| w[0].due < w[1].due));
                prop_assert!(s.iter().all(|v| v.window_start <= v.due && v.due <= v.window_end));
            }
        }
    }

    // ---- seriousness, causality, outcome, severity ----

    /// WHO-UMC causality categories: certain, probable and possible rest on
    /// a reasonable time relationship; unlikely is "improbable" with other
    /// plausible explanations. CDE 2018 (and ICH E2A III.A.1): a case is
    /// reported when either party cannot rule out relatedness, so
    /// conditional and unassessable count as related.
    #[test]
    fn causality_related() {
        let related: Vec<Causality> = Causality::ALL
            .iter()
            .copied()
            .filter(|c| c.is_related())
            .collect();
        assert_eq!(
            related,
            vec![
                Causality::Certain,
                Causality::Probable,
                Causality::Possible,
                Causality::Conditional,
                Causality::Unassessable
            ]
        );
    }

    /// ICH E2B(R3) E.i.7 "Outcome of reaction/event at the time of last
    /// observation": 1 recovered/resolved, 2 recovering/resolving, 3 not
    /// recovered/not resolved/ongoing, 4 recovered/resolved with sequelae,
    /// 5 fatal, 0 unknown (R2 numbered unknown 6; R3 and the HL7 value set
    /// derived from it use 0).
    #[test]
    fn outcome_codes() {
        let codes: Vec<(Outcome, u8)> = Outcome::ALL.iter().map(|o| (*o, o.e2b_code())).collect();
        assert_eq!(
            codes,
            vec![
                (Outcome::Recovered, 1),
                (Outcome::Recovering, 2),
                (Outcome::NotRecovered, 3),
                (Outcome::RecoveredWithSequelae, 4),
                (Outcome::Fatal, 5),
                (Outcome::Unknown, 0)
            ]
        );
        for o in Outcome::ALL {
            assert_eq!(Outcome::from_e2b_code(o.e2b_code()), Some(*o));
        }
        assert_eq!(Outcome::from_e2b_code(6), None);
        assert_eq!(Outcome::from_e2b_code(7), None);
    }

    /// CTCAE v5.0: grades 1 (mild) to 5 (death related to the AE); there is
    /// no grade 0 or 6.
    #[test]
    fn severity_grades() {
        for g in 1..=5u8 {
            assert_eq!(Severity::new(g).map(Severity::grade), Ok(g));
        }
        for g in [0u8, 6, 255] {
            let e = Severity::new(g).expect_err("refused");
            assert_eq!((e.code(), e.field), ("severity_range", Some("severity")));
        }
        assert_eq!(serde_json::to_string(&Severity::ALL[2]).expect("json"), "3");
        assert_eq!(
            serde_json::from_str::<Severity>("4").ok(),
            Severity::new(4).ok()
        );
        assert!(serde_json::from_str::<Severity>("6").is_err());
        assert!(serde_json::from_str::<Severity>("\"3\"").is_err());
    }

    /// ICH E2A II.B: death and life-threatening are the criteria of the
    /// 7-day report.
    #[test]
    fn seriousness_strings() {
        let fatal: Vec<&str> = Seriousness::ALL
            .iter()
            .filter(|s| s.is_fatal_or_life_threatening())
            .map(|s| s.as_str())
            .collect();
        assert_eq!(fatal, vec!["death", "life_threatening"]);
        assert_eq!(
            serde_json::to_string(&Seriousness::Hospitalisation).expect("json"),
            "\"hospitalisation\""
        );
        assert_eq!(
            serde_json::from_str::<Causality>("\"unassessable\"").ok(),
            Some(Causality::Unassessable)
        );
        assert_eq!(
            "susar_7".parse::<ReportKind>().ok(),
            Some(ReportKind::Susar7)
        );
    }

    // ---- expedited clocks ----

    fn case(fatal: bool, aware: NaiveDate) -> ClockInput {
        ClockInput {
            serious: true,
            fatal_or_life_threatening: fatal,
            expectedness: Expectedness::Unexpected,
            related: true,
            aware,
        }
    }

    /// ICH E2A III.A.2.a and CDE 2018 《药物临床试验期间安全性数据快速报告标准和
    /// 程序》: a fatal or life-threatening SUSAR is reported no later than 7
    /// calendar days after first knowledge (day 0), completed within 8
    /// additional days; III.A.2.b: other SUSARs no later than 15 days.
    #[test]
    fn clocks_cross_month_ends() {
        let c = expedited_clock(&case(true, d(2026, 1, 28)));
        assert_eq!(c.kind, ReportKind::Susar7);
        assert_eq!(c.initial_due, Some(d(2026, 2, 4)));
        assert_eq!(c.follow_up_due, Some(d(2026, 2, 12)));
        // A leap February.
        let c = expedited_clock(&case(true, d(2028, 2, 25)));
        assert_eq!(c.initial_due, Some(d(2028, 3, 3)));
        assert_eq!(c.follow_up_due, Some(d(2028, 3, 11)));
        // A year end.
        let c = expedited_clock(&case(false, d(2026, 12, 20)));
        assert_eq!(c.kind, ReportKind::Susar15);
        assert_eq!(c.initial_due, Some(d(2027, 1, 4)));
        assert_eq!(c.follow_up_due, None);
        let c = expedited_clock(&case(false, d(2027, 2, 14)));
        assert_eq!(c.initial_due, Some(d(2027, 3, 1)));
    }

    /// ICH E2A III.A: expedited reporting is for reactions that are both
    /// serious and unexpected and suspected of being related.
    #[test]
    fn not_expedited() {
        let aware = d(2026, 5, 1);
        let mut i = case(false, aware);
        i.serious = false;
        assert_eq!(expedited_clock(&i).kind, ReportKind::NotExpedited);
        let mut i = case(true, aware);
        i.expectedness = Expectedness::Expected;
        assert_eq!(expedited_clock(&i).kind, ReportKind::NotExpedited);
        let mut i = case(true, aware);
        i.related = false;
        let c = expedited_clock(&i);
        assert_eq!(
            (c.kind, c.initial_due, c.follow_up_due),
            (ReportKind::NotExpedited, None, None)
        );
        assert_eq!(c.status(None, aware), ClockStatus::NotDue);
        // Fatal implies serious (ICH E2A II.B lists death first).
        let mut i = case(true, aware);
        i.serious = false;
        assert_eq!(expedited_clock(&i).kind, ReportKind::Susar7);
        let i = ClockInput::from_assessment(
            &[Seriousness::Hospitalisation, Seriousness::LifeThreatening],
            Expectedness::Unexpected,
            Causality::Possible,
            aware,
        );
        assert_eq!(expedited_clock(&i).kind, ReportKind::Susar7);
        let i =
            ClockInput::from_assessment(&[], Expectedness::Unexpected, Causality::Certain, aware);
        assert_eq!(expedited_clock(&i).kind, ReportKind::NotExpedited);
    }

    /// "No later than 7 calendar days" (ICH E2A III.A.2.a): a report on the
    /// due day is on time, the day after late.
    #[test]
    fn clock_statuses() {
        let due = d(2026, 2, 4);
        assert_eq!(clock_status(due, None, d(2026, 1, 30)), ClockStatus::Open);
        assert_eq!(clock_status(due, None, d(2026, 2, 1)), ClockStatus::Open);
        assert_eq!(clock_status(due, None, d(2026, 2, 2)), ClockStatus::DueSoon);
        assert_eq!(clock_status(due, None, d(2026, 2, 4)), ClockStatus::DueSoon);
        assert_eq!(clock_status(due, None, d(2026, 2, 5)), ClockStatus::Overdue);
        assert_eq!(
            clock_status(due, Some(d(2026, 2, 4)), d(2026, 3, 1)),
            ClockStatus::SentOnTime
        );
        assert_eq!(
            clock_status(due, Some(d(2026, 1, 28)), d(2026, 1, 28)),
            ClockStatus::SentOnTime
        );
        assert_eq!(
            clock_status(due, Some(d(2026, 2, 5)), d(2026, 2, 5)),
            ClockStatus::SentLate
        );
        let c = expedited_clock(&case(true, d(2026, 1, 28)));
        assert_eq!(c.status(None, d(2026, 2, 3)), ClockStatus::DueSoon);
    }

    // ---- malignancy ----

    /// Terms that name malignancies, as MedDRA preferred terms (all under SOC
    /// 10029104) and their usual Chinese renderings.
    #[test]
    fn malignancy_terms() {
        for t in [
            "T-cell lymphoma",
            "Peripheral T-cell lymphoma unspecified",
            "Acute myeloid leukaemia",
            "Acute myeloid leukemia",
            "Myelodysplastic syndrome",
            "Squamous cell carcinoma of skin",
            "Adenocarcinoma of colon",
            "Kaposi's sarcoma",
            "Plasma cell myeloma",
            "Malignant melanoma",
            "Neoplasm malignant",
            "Second primary malignancy",
            "Hodgkin's disease",
            "Non-Hodgkin's lymphoma",
            "Metastases to liver",
            "Glioblastoma",
            "Post transplant lymphoproliferative disorder",
            "Lung cancer",
            "AML",
            "T细胞淋巴瘤",
            "急性髓系白血病",
            "恶性肿瘤",
            "肺癌",
            "骨肉瘤",
            "骨髓增生异常综合征",
            "多发性骨髓瘤",
        ] {
            assert!(is_malignancy(t, None), "{t}");
        }
    }

    /// MedDRA terms outside SOC 10029104 that look like malignancies:
    /// Lymphocyte count decreased (Investigations), Tumour lysis syndrome
    /// (Metabolism and nutrition disorders), Neuroleptic malignant syndrome
    /// and Myelomalacia (Nervous system disorders), Hyperthermia malignant
    /// (General disorders), Leukaemoid reaction (Blood and lymphatic system
    /// disorders), Sarcoidosis and Pseudolymphoma (Immune system / Skin),
    /// Carcinoembryonic antigen increased (Investigations).
    #[test]
    fn not_malignancy_terms() {
        for t in [
            "Lymphocyte count decreased",
            "Lymphopenia",
            "Tumour lysis syndrome",
            "Neuroleptic malignant syndrome",
            "Hyperthermia malignant",
            "Malignant hypertension",
            "Leukaemoid reaction",
            "Pseudolymphoma",
            "Myelomalacia",
            "Sarcoidosis",
            "Carcinoembryonic antigen increased",
            "Cytokine release syndrome",
            "Family history of cancer",
            "All other conditions",
            "",
            "淋巴细胞计数降低",
            "肿瘤溶解综合征",
            "类白血病反应",
            "癌胚抗原升高",
            "抗精神病药恶性综合征",
            "恶性高热",
        ] {
            assert!(!is_malignancy(t, None), "{t}");
        }
    }

    #[test]
    fn malignancy_codes() {
        assert!(is_malignancy("Event", Some("10029104")));
        assert!(is_malignancy("Event", Some(" 10029104 ")));
        assert!(!is_malignancy("Pyrexia", Some("10037660")));
        assert!(!is_malignancy("Pyrexia", Some("")));
        // The user's list from their MedDRA hierarchy (here the PT
        // "T-cell lymphoma", 10042971, entered under another name).
        assert!(is_malignancy_in(
            "新发事件",
            Some("10042971"),
            &["10042971", "10028533"]
        ));
        assert!(!is_malignancy_in(
            "新发事件",
            Some("10037660"),
            &["10042971"]
        ));
    }

    // ---- long-term follow-up ----

    /// FDA, Long Term Follow-up After Administration of Human Gene Therapy
    /// Products (January 2020): up to 15 years for integrating vectors and
    /// genome editing, up to 5 years for AAV; for 15 years, five years of
    /// yearly visits then ten of yearly contact.
    #[test]
    fn plans() {
        let p = |visit_years, contact_years, years| LtfuPlan {
            years,
            visit_years,
            contact_years,
        };
        assert_eq!(ltfu_plan(15), p(5, 10, 15));
        assert_eq!(ltfu_plan(5), p(5, 0, 5));
        assert_eq!(ltfu_plan(3), p(3, 0, 3));
        assert_eq!(ltfu_plan(0), p(0, 0, 0));
        assert!(ltfu_schedule(&ltfu_plan(0), d(2026, 3, 10)).is_empty());
    }

    /// Early samples at 3 and 6 months (FDA 2020 guidance on RCR testing of
    /// retroviral vector-based products: 3, 6 and 12 months, then yearly),
    /// then anniversaries; ±30 days for yearly windows, ±14 for early ones.
    #[test]
    fn schedule_of_fifteen_years() {
        let s = ltfu_schedule(&ltfu_plan(15), d(2026, 3, 10));
        assert_eq!(s.len(), 17);
        let numbers: Vec<u32> = s.iter().map(|v| v.number).collect();
        assert_eq!(numbers, (1..=17).collect::<Vec<u32>>());
        assert_eq!((s[0].kind, s[0].due), (FollowUpKind::Visit, d(2026, 6, 10)));
        assert_eq!(
            (s[0].window_start, s[0].window_end),
            (d(2026, 5, 27), d(2026, 6, 24))
        );
        assert_eq!(s[1].due, d(2026, 9, 10));
        assert_eq!((s[2].kind, s[2].due), (FollowUpKind::Visit, d(2027, 3, 10)));
        // 30 days either side of 10 March 2027 (February has 28 days).
        assert_eq!(
            (s[2].window_start, s[2].window_end),
            (d(2027, 2, 8), d(2027, 4, 9))
        );
        assert_eq!((s[6].kind, s[6].due), (FollowUpKind::Visit, d(2031, 3, 10)));
        assert_eq!(
            (s[7].kind, s[7].due),
            (FollowUpKind::Contact, d(2032, 3, 10))
        );
        assert_eq!(
            (s[16].kind, s[16].due),
            (FollowUpKind::Contact, d(2041, 3, 10))
        );
        let visits = s.iter().filter(|v| v.kind == FollowUpKind::Visit).count();
        assert_eq!(visits, 7);
    }

    /// 民法典 第二百零二条: a period counted in months or years ends on the
    /// corresponding day of the last month, or its last day when it has no
    /// such day — 29 February falls on 28 February in common years.
    #[test]
    fn schedule_from_29_february() {
        let s = ltfu_schedule(&ltfu_plan(5), d(2024, 2, 29));
        let dues: Vec<NaiveDate> = s.iter().map(|v| v.due).collect();
        assert_eq!(
            dues,
            vec![
                d(2024, 5, 29),
                d(2024, 8, 29),
                d(2025, 2, 28),
                d(2026, 2, 28),
                d(2027, 2, 28),
                d(2028, 2, 29),
                d(2029, 2, 28)
            ]
        );
        let s = ltfu_schedule(&ltfu_plan(1), d(2025, 11, 30));
        assert_eq!(s[0].due, d(2026, 2, 28));
        assert!(ltfu_schedule(&ltfu_plan(15), NaiveDate::MAX).is_empty());
    }

    fn yearly(number: u32, due: NaiveDate) -> ScheduledVisit {
        visit(number, FollowUpKind::Visit, due, YEARLY_WINDOW_DAYS).expect("in calendar")
    }

    /// The window includes both ends (due ± 30 days).
    #[test]
    fn visit_statuses() {
        let v = yearly(3, d(2027, 3, 10));
        assert_eq!(visit_status(&v, None, d(2027, 2, 7)), VisitStatus::Upcoming);
        assert_eq!(visit_status(&v, None, d(2027, 2, 8)), VisitStatus::DueNow);
        assert_eq!(visit_status(&v, None, d(2027, 4, 9)), VisitStatus::DueNow);
        assert_eq!(visit_status(&v, None, d(2027, 4, 10)), VisitStatus::Missed);
        assert_eq!(
            visit_status(&v, Some(d(2027, 5, 1)), d(2027, 5, 2)),
            VisitStatus::Done
        );
    }

    #[test]
    fn subject_statuses() {
        let s = ltfu_schedule(&ltfu_plan(5), d(2026, 3, 10));
        let with = |done: &[bool]| -> Vec<(ScheduledVisit, Option<NaiveDate>)> {
            s.iter()
                .enumerate()
                .map(|(k, v)| (*v, done.get(k).copied().unwrap_or(false).then_some(v.due)))
                .collect()
        };
        let today = d(2029, 6, 1); // after year 3's window
                                   // Month 3, 6 and years 1–3 done.
        let all = with(&[true, true, true, true, true]);
        assert_eq!(
            follow_up_status(&all, None, None, today),
            SubjectFollowUpStatus::Active
        );
        // Years 2 and 3 missed in a row, nothing since.
        let lost = with(&[true, true, true, false, false]);
        assert_eq!(
            follow_up_status(&lost, None, None, today),
            SubjectFollowUpStatus::LostToFollowUp
        );
        // One missed is not lost.
        let one = with(&[true, true, true, true, false]);
        assert_eq!(
            follow_up_status(&one, None, None, today),
            SubjectFollowUpStatus::Active
        );
        // Missed twice, then back at year 4.
        let back = with(&[true, true, true, false, false, true]);
        assert_eq!(
            follow_up_status(&back, None, None, d(2030, 3, 20)),
            SubjectFollowUpStatus::Active
        );
        // Death and withdrawal, on or before today, come first.
        assert_eq!(
            follow_up_status(&lost, Some(d(2029, 1, 1)), None, today),
            SubjectFollowUpStatus::Died
        );
        assert_eq!(
            follow_up_status(&all, Some(d(2030, 1, 1)), Some(d(2028, 1, 1)), today),
            SubjectFollowUpStatus::Withdrawn
        );
        assert_eq!(
            follow_up_status(&all, None, Some(d(2030, 1, 1)), today),
            SubjectFollowUpStatus::Active
        );
        // Everything done, and the last window over.
        let done = with(&[true; 7]);
        assert_eq!(
            follow_up_status(&done, None, None, d(2031, 6, 1)),
            SubjectFollowUpStatus::Completed
        );
        assert_eq!(
            follow_up_status(&[], None, None, today),
            SubjectFollowUpStatus::Completed
        );
    }

    #[test]
    fn completeness_counts() {
        let s = ltfu_schedule(&ltfu_plan(5), d(2026, 3, 10));
        let rows: Vec<(ScheduledVisit, Option<NaiveDate>)> = s
            .iter()
            .enumerate()
            .map(|(k, v)| {
                (
                    *v,
                    [true, true, false, true]
                        .get(k)
                        .copied()
                        .unwrap_or(false)
                        .then_some(v.due),
                )
            })
            .collect();
        // 2028-03-20: month 3, month 6, year 1 and year 2 owed (year 2 done
        // on its due day), year 1 missed.
        let c = completeness(&rows, d(2028, 3, 20));
        assert_eq!((c.due, c.done, c.missed), (4, 3, 1));
        assert!((c.ratio - 0.75).abs() < 1e-12);
        // Early visits done; the year-2 record dated in the future is not
        // counted yet.
        let c = completeness(&rows, d(2026, 9, 30));
        assert_eq!((c.due, c.done, c.missed), (2, 2, 0));
        let c = completeness(&rows, d(2026, 3, 11));
        assert_eq!((c.due, c.done, c.missed), (0, 0, 0));
        let c = completeness(&[], d(2026, 3, 11));
        assert_eq!((c.due, c.ratio), (0, 1.0));
    }

    // ---- catalogue ----

    /// Every label in code has the same text in the catalogue, in both
    /// languages; every deciding entry and every error code has a message.
    #[test]
    fn catalogue_has_every_label() {
        let cat = crate::i18n::catalog();
        let mut labels: Vec<(String, Lang, &'static str)> = Vec::new();
        macro_rules! each {
            ($ty:ident, $kind:literal) => {
                for x in $ty::ALL {
                    for lang in Lang::ALL {
                        labels.push((
                            format!("safety.{}.{}", $kind, x.as_str()),
                            *lang,
                            x.label(*lang),
                        ));
                    }
                }
            };
        }
        each!(Hypotension, "hypotension");
        each!(Hypoxia, "hypoxia");
        each!(Consciousness, "consciousness");
        each!(Seizure, "seizure");
        each!(Motor, "motor");
        each!(CerebralEdema, "cerebral_edema");
        each!(Seriousness, "seriousness");
        each!(Causality, "causality");
        each!(Expectedness, "expectedness");
        each!(Outcome, "outcome");
        each!(ReportKind, "report_kind");
        each!(ClockStatus, "clock_status");
        each!(FollowUpKind, "follow_up_kind");
        each!(VisitStatus, "visit_status");
        each!(SubjectFollowUpStatus, "follow_up_status");
        for s in Severity::ALL {
            for lang in Lang::ALL {
                labels.push((
                    format!("safety.severity.{}", s.grade()),
                    *lang,
                    s.label(*lang),
                ));
            }
        }
        for (key, lang, text) in &labels {
            assert_eq!(
                cat.lookup(*lang, key),
                Some(*text),
                "{key} ({})",
                lang.code()
            );
        }
        for entry in DECIDING_ENTRIES {
            for lang in Lang::ALL {
                let label = deciding_label(entry, *lang);
                assert_ne!(label, *entry, "{entry} has no {} sentence", lang.code());
            }
        }
        let samples = [
            SafetyError::new(
                "grade_temperature_range",
                "temperature_c",
                Some("51".into()),
            ),
            SafetyError::new("grade_ice_score_missing", "ice_score", None),
            SafetyError::new("grade_ice_score_range", "ice_score", Some("11".into())),
            SafetyError::new("grade_capd_score_missing", "capd_score", None),
            SafetyError::new("grade_capd_score_range", "capd_score", Some("40".into())),
            SafetyError::new("grade_age_range", "age_years", Some("-1".into())),
            SafetyError::new("severity_range", "severity", Some("6".into())),
        ];
        let codes: Vec<&str> = samples.iter().map(SafetyError::code).collect();
        assert_eq!(codes, ERROR_CODES);
        for e in &samples {
            let key = format!("error.{}", e.code());
            let args = e.args();
            let a: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
            for lang in Lang::ALL {
                let msg = cat
                    .lookup(*lang, &key)
                    .unwrap_or_else(|| panic!("{key} missing"));
                for p in crate::i18n::placeholders(msg) {
                    assert!(a.iter().any(|(k, _)| *k == p), "{key} uses {{{p}}}");
                }
                assert!(!cat.format(*lang, &key, &a).contains('{'), "{key}");
            }
        }
    }
}
