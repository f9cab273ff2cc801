//! Filing workflow (备案流程) for biomedical new technologies/products and
//! for clinical research projects.
//!
//! Modelled on the State Council's Decree 818, 《生物医学新技术临床研究和临床
//! 转化应用管理条例》 (effective 2026-05-01): an institution drafts and submits
//! a filing, the competent health authority checks it for completeness and
//! accepts (受理) or returns (退回) it, then decides and records it as filed
//! (备案). A filed project can be suspended (暂停) and resumed, terminated
//! (终止) or, by the institution, completed (完成).
//!
//! ```text
//! Draft ─Submit→ Submitted ─Accept→ Accepted ─File→ Filed ─Complete→ Completed
//!                 │   ↑                │                 │  ↑
//!            Return   Submit      Return           Suspend  Resume
//!                 ↓   │                ↓                 ↓  │
//!                Returned ←────────────┘              Suspended
//!                                         Filed | Suspended ─Terminate→ Terminated
//! ```

use crate::access::Permission;
use crate::i18n::Lang;
use crate::{pick, string_enum};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Working days the authority has to check a submission for completeness
/// (形式审查) before accepting or returning it. The clock starts on Submit.
///
/// A product decision of this platform; Decree 818's implementing rules may
/// set another figure — change it here.
pub const COMPLETENESS_CHECK_WORKING_DAYS: u32 = 5;

/// Working days for the filing decision once a submission is accepted. The
/// clock starts on Accept.
///
/// Basis: the 30-working-day review channel that NMPA proposed in 2025 for
/// class-1 innovative biologics including stem-cell and other cell and gene
/// therapy products (《关于优化创新药临床试验审评审批有关事项的公告（征求意见稿）》,
/// listed in seed 001; DOMAIN.md "Rules and figures"). Change it here if the
/// implementing rules of Decree 818 fix another period.
pub const FILING_DECISION_WORKING_DAYS: u32 = 30;

/// What is being filed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectKind {
    /// A biomedical new technology or product for clinical translational use.
    Technology,
    /// A clinical research project.
    ClinicalResearch,
}

string_enum!(ProjectKind, "project_kind", {
    Technology => "technology",
    ClinicalResearch => "clinical_research",
});

impl ProjectKind {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            ProjectKind::Technology => pick(lang, "新技术/产品", "Technology or product"),
            ProjectKind::ClinicalResearch => pick(lang, "临床研究", "Clinical research"),
        }
    }

    /// The letter used in filing numbers: `T` or `C`.
    pub fn letter(self) -> char {
        match self {
            ProjectKind::Technology => 'T',
            ProjectKind::ClinicalResearch => 'C',
        }
    }

    /// The kind a filing-number letter stands for.
    pub fn from_letter(c: char) -> Option<ProjectKind> {
        match c.to_ascii_uppercase() {
            'T' => Some(ProjectKind::Technology),
            'C' => Some(ProjectKind::ClinicalResearch),
            _ => None,
        }
    }
}

/// Where a filing stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectState {
    Draft,
    Submitted,
    Returned,
    Accepted,
    Filed,
    Suspended,
    Terminated,
    Completed,
}

string_enum!(ProjectState, "project_state", {
    Draft => "draft",
    Submitted => "submitted",
    Returned => "returned",
    Accepted => "accepted",
    Filed => "filed",
    Suspended => "suspended",
    Terminated => "terminated",
    Completed => "completed",
});

impl ProjectState {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            ProjectState::Draft => pick(lang, "草稿", "Draft"),
            ProjectState::Submitted => pick(lang, "已提交", "Submitted"),
            ProjectState::Returned => pick(lang, "已退回", "Returned"),
            ProjectState::Accepted => pick(lang, "已受理", "Accepted"),
            ProjectState::Filed => pick(lang, "已备案", "Filed"),
            ProjectState::Suspended => pick(lang, "已暂停", "Suspended"),
            ProjectState::Terminated => pick(lang, "已终止", "Terminated"),
            ProjectState::Completed => pick(lang, "已完成", "Completed"),
        }
    }

    /// Terminated and Completed admit no further action.
    pub fn is_final(self) -> bool {
        matches!(self, ProjectState::Terminated | ProjectState::Completed)
    }

    /// The actions allowed from this state, in declaration order.
    pub fn allowed_actions(self) -> Vec<Action> {
        Action::ALL
            .iter()
            .copied()
            .filter(|a| transition(self, *a).is_ok())
            .collect()
    }
}

/// A step of the workflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Submit,
    Return,
    Accept,
    File,
    Suspend,
    Resume,
    Terminate,
    Complete,
}

string_enum!(Action, "action", {
    Submit => "submit",
    Return => "return",
    Accept => "accept",
    File => "file",
    Suspend => "suspend",
    Resume => "resume",
    Terminate => "terminate",
    Complete => "complete",
});

impl Action {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Action::Submit => pick(lang, "提交", "Submit"),
            Action::Return => pick(lang, "退回", "Return"),
            Action::Accept => pick(lang, "受理", "Accept"),
            Action::File => pick(lang, "备案", "File"),
            Action::Suspend => pick(lang, "暂停", "Suspend"),
            Action::Resume => pick(lang, "恢复", "Resume"),
            Action::Terminate => pick(lang, "终止", "Terminate"),
            Action::Complete => pick(lang, "完成", "Complete"),
        }
    }

    /// Return, Suspend, Resume and Terminate need a reason written by the
    /// actor; the other actions carry a default reason.
    pub fn requires_reason(self) -> bool {
        matches!(
            self,
            Action::Return | Action::Suspend | Action::Resume | Action::Terminate
        )
    }

    /// The meaning of the electronic signature the action needs, if any.
    pub fn signature(self) -> Option<SignatureMeaning> {
        match self {
            Action::Submit => Some(SignatureMeaning::Authored),
            Action::Accept => Some(SignatureMeaning::Reviewed),
            Action::File => Some(SignatureMeaning::Approved),
            Action::Terminate => Some(SignatureMeaning::Responsible),
            _ => None,
        }
    }

    /// The permission an actor needs to take the action.
    pub fn permission(self) -> Permission {
        match self {
            Action::Submit => Permission::ProjectSubmit,
            Action::Return | Action::Accept => Permission::ProjectReview,
            Action::File => Permission::ProjectFile,
            Action::Suspend | Action::Resume | Action::Terminate => Permission::ProjectSuspend,
            Action::Complete => Permission::ProjectComplete,
        }
    }

    /// Working days of the clock the action starts: Submit starts the
    /// completeness check ([`COMPLETENESS_CHECK_WORKING_DAYS`]), Accept the
    /// filing decision ([`FILING_DECISION_WORKING_DAYS`]).
    pub fn deadline_working_days(self) -> Option<u32> {
        match self {
            Action::Submit => Some(COMPLETENESS_CHECK_WORKING_DAYS),
            Action::Accept => Some(FILING_DECISION_WORKING_DAYS),
            _ => None,
        }
    }
}

/// What a signer attests by an electronic signature (签名含义).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureMeaning {
    Authored,
    Reviewed,
    Approved,
    Responsible,
}

string_enum!(SignatureMeaning, "signature_meaning", {
    Authored => "authored",
    Reviewed => "reviewed",
    Approved => "approved",
    Responsible => "responsible",
});

impl SignatureMeaning {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            SignatureMeaning::Authored => pick(lang, "编写", "Authored"),
            SignatureMeaning::Reviewed => pick(lang, "审核", "Reviewed"),
            SignatureMeaning::Approved => pick(lang, "批准", "Approved"),
            SignatureMeaning::Responsible => pick(lang, "负责", "Responsible"),
        }
    }
}

/// A workflow step that is not allowed, or a filing number that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    #[error("action {action} is not allowed in state {from}")]
    NotAllowed { from: ProjectState, action: Action },
    #[error("{value:?} is not a filing number of the form BMT-44-2026-C-00017")]
    InvalidFilingNumber { value: String },
}

impl WorkflowError {
    /// Stable machine code; the message is the catalogue entry `error.<code>`.
    pub fn code(&self) -> &'static str {
        match self {
            WorkflowError::NotAllowed { .. } => "workflow_transition_not_allowed",
            WorkflowError::InvalidFilingNumber { .. } => "filing_number_invalid",
        }
    }

    /// Named arguments for the catalogue message.
    pub fn args(&self) -> Vec<(&'static str, String)> {
        match self {
            WorkflowError::NotAllowed { from, action } => vec![
                ("action", action.as_str().to_string()),
                ("state", from.as_str().to_string()),
            ],
            WorkflowError::InvalidFilingNumber { value } => vec![("value", value.clone())],
        }
    }
}

/// The state an action leads to from `from`, or
/// [`WorkflowError::NotAllowed`].
pub fn transition(from: ProjectState, action: Action) -> Result<ProjectState, WorkflowError> {
    use Action as A;
    use ProjectState as S;
    match (from, action) {
        (S::Draft | S::Returned, A::Submit) => Ok(S::Submitted),
        (S::Submitted | S::Accepted, A::Return) => Ok(S::Returned),
        (S::Submitted, A::Accept) => Ok(S::Accepted),
        (S::Accepted, A::File) => Ok(S::Filed),
        (S::Filed, A::Suspend) => Ok(S::Suspended),
        (S::Suspended, A::Resume) => Ok(S::Filed),
        (S::Filed | S::Suspended, A::Terminate) => Ok(S::Terminated),
        (S::Filed, A::Complete) => Ok(S::Completed),
        _ => Err(WorkflowError::NotAllowed { from, action }),
    }
}

/// Prefix of filing numbers: biomedical new technology (生物医学新技术).
pub const FILING_PREFIX: &str = "BMT";

/// A filing number, e.g. `BMT-44-2026-C-00017`: prefix, the two-digit
/// province code of GB/T 2260 (44 = Guangdong), the year of filing, `T` for
/// a technology or `C` for clinical research, and a sequence number of at
/// least five digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FilingNumber {
    pub province_code: String,
    pub year: i32,
    pub kind: ProjectKind,
    pub seq: u32,
}

impl fmt::Display for FilingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&filing_number(
            &self.province_code,
            self.year,
            self.kind,
            self.seq,
        ))
    }
}

impl std::str::FromStr for FilingNumber {
    type Err = WorkflowError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_filing_number(s)
    }
}

/// Formats a filing number: `BMT-{province}-{year}-{T|C}-{seq:05}`.
///
/// `province_code` is used as given (trimmed); pass the two-digit GB/T 2260
/// code so the result parses back. Sequence numbers above 99999 get more
/// digits.
pub fn filing_number(province_code: &str, year: i32, kind: ProjectKind, seq: u32) -> String {
    format!(
        "{FILING_PREFIX}-{}-{:04}-{}-{:05}",
        province_code.trim(),
        year,
        kind.letter(),
        seq
    )
}

/// Reads a filing number (trimmed, case-insensitive). Never panics.
pub fn parse_filing_number(s: &str) -> Result<FilingNumber, WorkflowError> {
    let bad = || WorkflowError::InvalidFilingNumber {
        value: s.chars().take(64).collect(),
    };
    let t = s.trim();
    if t.len() > 40 || !t.is_ascii() {
        return Err(bad());
    }
    let upper = t.to_ascii_uppercase();
    let parts: Vec<&str> = upper.split('-').collect();
    let [prefix, province, year, kind, seq] = parts.as_slice() else {
        return Err(bad());
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if *prefix != FILING_PREFIX
        || province.len() != 2
        || !digits(province)
        || year.len() != 4
        || !digits(year)
        || seq.len() < 5
        || !digits(seq)
        || kind.len() != 1
    {
        return Err(bad());
    }
    let kind = kind
        .chars()
        .next()
        .and_then(ProjectKind::from_letter)
        .ok_or_else(bad)?;
    let year: i32 = year.parse().map_err(|_| bad())?;
    let seq: u32 = seq.parse().map_err(|_| bad())?;
    Ok(FilingNumber {
        province_code: province.to_string(),
        year,
        kind,
        seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    use Action as A;
    use ProjectState as S;

    /// The transitions of the specification, and nothing else.
    const ALLOWED: &[(ProjectState, Action, ProjectState)] = &[
        (S::Draft, A::Submit, S::Submitted),
        (S::Returned, A::Submit, S::Submitted),
        (S::Submitted, A::Return, S::Returned),
        (S::Submitted, A::Accept, S::Accepted),
        (S::Accepted, A::Return, S::Returned),
        (S::Accepted, A::File, S::Filed),
        (S::Filed, A::Suspend, S::Suspended),
        (S::Suspended, A::Resume, S::Filed),
        (S::Filed, A::Terminate, S::Terminated),
        (S::Suspended, A::Terminate, S::Terminated),
        (S::Filed, A::Complete, S::Completed),
    ];

    #[test]
    fn transition_table_is_exhaustive() {
        let mut checked = 0;
        for &from in ProjectState::ALL {
            for &action in Action::ALL {
                let expected = ALLOWED
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == action)
                    .map(|(_, _, to)| *to);
                match (transition(from, action), expected) {
                    (Ok(to), Some(e)) => assert_eq!(to, e, "{from} --{action}-->"),
                    (Err(err), None) => {
                        assert_eq!(err, WorkflowError::NotAllowed { from, action });
                        assert_eq!(err.code(), "workflow_transition_not_allowed");
                    }
                    (got, want) => panic!("{from} --{action}--> {got:?}, expected {want:?}"),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 64);
        assert_eq!(ProjectState::ALL.len(), 8);
        assert_eq!(Action::ALL.len(), 8);
    }

    #[test]
    fn final_states_admit_nothing() {
        for s in ProjectState::ALL {
            assert_eq!(s.is_final(), s.allowed_actions().is_empty(), "{s}");
        }
        assert!(S::Terminated.is_final() && S::Completed.is_final());
        assert_eq!(
            S::Filed.allowed_actions(),
            vec![A::Suspend, A::Terminate, A::Complete]
        );
    }

    #[test]
    fn strings_round_trip_and_match_serde() {
        fn check<T>(all: &[T])
        where
            T: Copy + fmt::Debug + PartialEq + Serialize + FromStr + fmt::Display,
            for<'de> T: Deserialize<'de>,
        {
            for v in all {
                let s = v.to_string();
                assert_eq!(serde_json::to_string(v).unwrap(), format!("\"{s}\""));
                assert_eq!(serde_json::from_str::<T>(&format!("\"{s}\"")).unwrap(), *v);
                assert!(T::from_str(&s).ok() == Some(*v), "{s}");
            }
        }
        check(ProjectKind::ALL);
        check(ProjectState::ALL);
        check(Action::ALL);
        check(SignatureMeaning::ALL);
        assert!(ProjectState::from_str("Filed").is_err());
        let e = Action::from_str("approve").unwrap_err();
        assert_eq!(e.code(), "value_unknown");
        assert_eq!(e.kind, "action");
    }

    #[test]
    fn labels() {
        assert_eq!(S::Accepted.label(Lang::Zh), "已受理");
        assert_eq!(S::Accepted.label(Lang::En), "Accepted");
        assert_eq!(S::Filed.label(Lang::Zh), "已备案");
        assert_eq!(SignatureMeaning::Responsible.label(Lang::Zh), "负责");
        assert_eq!(A::File.label(Lang::Zh), "备案");
        for s in ProjectState::ALL {
            assert!(!s.label(Lang::Zh).is_empty() && !s.label(Lang::En).is_empty());
        }
    }

    #[test]
    fn action_properties() {
        for a in Action::ALL {
            let reason = matches!(a, A::Return | A::Suspend | A::Resume | A::Terminate);
            assert_eq!(a.requires_reason(), reason, "{a}");
        }
        assert_eq!(A::Accept.signature(), Some(SignatureMeaning::Reviewed));
        assert_eq!(A::File.signature(), Some(SignatureMeaning::Approved));
        assert_eq!(
            A::Terminate.signature(),
            Some(SignatureMeaning::Responsible)
        );
        assert_eq!(A::Submit.signature(), Some(SignatureMeaning::Authored));
        assert_eq!(A::Return.signature(), None);
        assert_eq!(A::Submit.permission(), Permission::ProjectSubmit);
        assert_eq!(A::Return.permission(), Permission::ProjectReview);
        assert_eq!(A::Accept.permission(), Permission::ProjectReview);
        assert_eq!(A::File.permission(), Permission::ProjectFile);
        assert_eq!(A::Resume.permission(), Permission::ProjectSuspend);
        assert_eq!(A::Complete.permission(), Permission::ProjectComplete);
        assert_eq!(A::Submit.deadline_working_days(), Some(5));
        assert_eq!(A::Accept.deadline_working_days(), Some(30));
        assert_eq!(A::File.deadline_working_days(), None);
    }

    #[test]
    fn filing_numbers() {
        let n = filing_number("44", 2026, ProjectKind::ClinicalResearch, 17);
        assert_eq!(n, "BMT-44-2026-C-00017");
        let f = parse_filing_number(&n).unwrap();
        assert_eq!(
            f,
            FilingNumber {
                province_code: "44".into(),
                year: 2026,
                kind: ProjectKind::ClinicalResearch,
                seq: 17
            }
        );
        assert_eq!(f.to_string(), n);
        assert_eq!(
            filing_number("11", 2026, ProjectKind::Technology, 123_456),
            "BMT-11-2026-T-123456"
        );
        assert_eq!(parse_filing_number(" bmt-11-2026-t-00001 ").unwrap().seq, 1);
        for bad in [
            "",
            "BMT-44-2026-C-0017",
            "BMT-4-2026-C-00017",
            "BMT-44-26-C-00017",
            "BMT-44-2026-X-00017",
            "BMT-44-2026-CC-00017",
            "XMT-44-2026-C-00017",
            "BMT-44-2026-C-00017-1",
            "BMT-44-2026-C-99999999999",
            "BMT-44-2026-C-+0017",
            "BMT-４４-2026-C-00017",
        ] {
            let e = parse_filing_number(bad).unwrap_err();
            assert_eq!(e.code(), "filing_number_invalid", "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parse_filing_number_never_panics(s in any::<String>()) {
            let _ = parse_filing_number(&s);
        }

        #[test]
        fn filing_numbers_round_trip(
            province in "[0-9]{2}",
            year in 1000i32..=9999,
            tech in any::<bool>(),
            seq in any::<u32>(),
        ) {
            let kind = if tech { ProjectKind::Technology } else { ProjectKind::ClinicalResearch };
            let n = filing_number(&province, year, kind, seq);
            let f = parse_filing_number(&n).unwrap();
            prop_assert_eq!(f.to_string(), n);
            prop_assert_eq!(f, FilingNumber { province_code: province, year, kind, seq });
        }
    }
}
