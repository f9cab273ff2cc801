//! The rule-pack file format (JSON), read strictly.
//!
//! ```json
//! {
//!   "pack": "us", "version": "2026.1", "jurisdiction": "US",
//!   "title": {"zh": "…", "en": "…"},
//!   "instruments": [{"id": "us.21cfr1271", "title": {"zh": "…", "en": "…"}}],
//!   "rules": [{
//!     "id": "us.tier.361", "instrument": "us.21cfr1271", "article": "§1271.10(a)",
//!     "effective_from": "2005-05-25", "status": "in_force", "priority": 10,
//!     "when": {"all": [{"field": "manipulation", "is": "minimal"}, …]},
//!     "then": {"tier": "361_hctp"},
//!     "explain": {"zh": "…", "en": "…"}
//!   }]
//! }
//! ```
//!
//! A condition is `true`, `{"all": [...]}`, `{"any": [...]}`, `{"not": …}`,
//! `{"field": F, "is": V}`, `{"field": F, "in": [V, …]}`, or the same with
//! `"conclusion"` naming a conclusion of the same jurisdiction drawn before
//! the rule's own. A regional pack names the `region` it serves and, for
//! every conclusion it draws, replaces the national pack's rules.

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;

/// Text in both languages.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub zh: String,
    pub en: String,
}

/// A regulation, guidance or draft the rules cite.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instrument {
    pub id: String,
    pub title: Text,
    #[serde(default)]
    pub url: Option<String>,
}

/// Whether a rule is law.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    InForce,
    Draft,
    Repealed,
}

/// One rule as written in a pack.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    pub instrument: String,
    pub article: String,
    pub effective_from: NaiveDate,
    /// The last day the rule is in force, if it has one.
    #[serde(default)]
    pub effective_to: Option<NaiveDate>,
    pub status: Status,
    /// Among rules drawing the same conclusion, the highest priority whose
    /// condition holds decides.
    #[serde(default)]
    pub priority: i32,
    pub when: Value,
    pub then: serde_json::Map<String, Value>,
    pub explain: Text,
}

/// A whole pack file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackSpec {
    pub pack: String,
    pub version: String,
    pub jurisdiction: String,
    #[serde(default)]
    pub region: Option<String>,
    pub title: Text,
    pub instruments: Vec<Instrument>,
    pub rules: Vec<RuleSpec>,
}

/// A pack file read from disk or from the packs built into the binary.
#[derive(Clone, Debug)]
pub struct PackSource {
    /// Where it came from, for messages (a path or `builtin:<name>`).
    pub file: String,
    pub text: String,
}

/// A problem in a pack, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PackProblem {
    pub file: String,
    /// 1-based; 0 when the problem concerns the set of packs as a whole.
    pub line: usize,
    pub code: &'static str,
    pub message: String,
}

impl std::fmt::Display for PackProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {} ({})",
            self.file, self.line, self.message, self.code
        )
    }
}

impl PackSource {
    /// Parses the file; a syntax or shape error names its line.
    pub fn parse(&self) -> Result<PackSpec, PackProblem> {
        serde_json::from_str(&self.text).map_err(|e| PackProblem {
            file: self.file.clone(),
            line: e.line(),
            code: "pack_invalid",
            message: e.to_string(),
        })
    }

    /// The line on which rule `id` is declared (its `"id"` member), or 1.
    pub fn line_of_rule(&self, id: &str) -> usize {
        let quoted = format!("\"{id}\"");
        self.text
            .lines()
            .position(|l| l.contains("\"id\"") && l.contains(&quoted))
            .map_or(1, |i| i + 1)
    }

    pub fn problem(&self, line: usize, code: &'static str, message: String) -> PackProblem {
        PackProblem {
            file: self.file.clone(),
            line,
            code,
            message,
        }
    }
}

/// The packs built into CellTrail (`data/rules/*.json`).
pub const BUILTIN: &[(&str, &str)] = &[
    ("cn.json", include_str!("../../../../data/rules/cn.json")),
    (
        "cn-grading.json",
        include_str!("../../../../data/rules/cn-grading.json"),
    ),
    ("us.json", include_str!("../../../../data/rules/us.json")),
    ("eu.json", include_str!("../../../../data/rules/eu.json")),
    ("jp.json", include_str!("../../../../data/rules/jp.json")),
    ("uk.json", include_str!("../../../../data/rules/uk.json")),
];

/// The built-in packs as sources.
pub fn builtin_sources() -> Vec<PackSource> {
    BUILTIN
        .iter()
        .map(|(name, text)| PackSource {
            file: format!("builtin:data/rules/{name}"),
            text: (*text).to_string(),
        })
        .collect()
}
