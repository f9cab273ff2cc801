//! Organisations, roles and permissions, in one place.
//!
//! Every organisation on the platform has one [`OrgType`]; a user holds one
//! or more [`Role`]s inside their organisation, each allowed only in some
//! organisation types ([`role_allowed_in`]); a role grants a fixed set of
//! [`Permission`]s ([`permissions`]). [`matrix_markdown`] renders the whole
//! matrix for the documentation.

use crate::i18n::Lang;
use crate::{pick, string_enum};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt::Write as _;
use std::str::FromStr;

/// The kind of organisation (机构类型).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgType {
    MedicalInstitution,
    PreparationCentre,
    EthicsCommittee,
    Regulator,
    VerificationLab,
    Sponsor,
    Payer,
    Platform,
}

string_enum!(OrgType, "org_type", {
    MedicalInstitution => "medical_institution",
    PreparationCentre => "preparation_centre",
    EthicsCommittee => "ethics_committee",
    Regulator => "regulator",
    VerificationLab => "verification_lab",
    Sponsor => "sponsor",
    Payer => "payer",
    Platform => "platform",
});

impl OrgType {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            OrgType::MedicalInstitution => pick(lang, "医疗机构", "Medical institution"),
            OrgType::PreparationCentre => pick(lang, "细胞制备中心", "Cell preparation centre"),
            OrgType::EthicsCommittee => pick(lang, "伦理委员会", "Ethics committee"),
            OrgType::Regulator => pick(lang, "监管部门", "Regulator"),
            OrgType::VerificationLab => pick(
                lang,
                "第三方验证机构",
                "Third-party verification laboratory",
            ),
            OrgType::Sponsor => pick(lang, "申办者", "Sponsor"),
            OrgType::Payer => pick(lang, "支付方", "Payer"),
            OrgType::Platform => pick(lang, "平台运营", "Platform operator"),
        }
    }
}

/// A user's role inside their organisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    PlatformAdmin,
    OrgAdmin,
    ResearchOffice,
    Investigator,
    EthicsSecretary,
    EthicsMember,
    RegulatorReviewer,
    RegulatorOfficer,
    QualityAssurance,
    LabAnalyst,
    SponsorManager,
    PayerAnalyst,
    Inspector,
    ProcessOperator,
    QualifiedPerson,
    ClinicalNurse,
}

string_enum!(Role, "role", {
    PlatformAdmin => "platform_admin",
    OrgAdmin => "org_admin",
    ResearchOffice => "research_office",
    Investigator => "investigator",
    EthicsSecretary => "ethics_secretary",
    EthicsMember => "ethics_member",
    RegulatorReviewer => "regulator_reviewer",
    RegulatorOfficer => "regulator_officer",
    QualityAssurance => "quality_assurance",
    LabAnalyst => "lab_analyst",
    SponsorManager => "sponsor_manager",
    PayerAnalyst => "payer_analyst",
    Inspector => "inspector",
    ProcessOperator => "process_operator",
    QualifiedPerson => "qualified_person",
    ClinicalNurse => "clinical_nurse",
});

impl Role {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Role::PlatformAdmin => pick(lang, "平台管理员", "Platform administrator"),
            Role::OrgAdmin => pick(lang, "机构管理员", "Organisation administrator"),
            Role::ResearchOffice => pick(lang, "科研管理部门", "Research office"),
            Role::Investigator => pick(lang, "研究者", "Investigator"),
            Role::EthicsSecretary => pick(lang, "伦理委员会秘书", "Ethics committee secretary"),
            Role::EthicsMember => pick(lang, "伦理委员会委员", "Ethics committee member"),
            Role::RegulatorReviewer => pick(lang, "监管审评人员", "Regulatory reviewer"),
            Role::RegulatorOfficer => pick(lang, "监管决定人员", "Regulatory officer"),
            Role::QualityAssurance => pick(lang, "质量保证人员", "Quality assurance"),
            Role::LabAnalyst => pick(lang, "检验分析人员", "Laboratory analyst"),
            Role::SponsorManager => pick(lang, "申办者项目经理", "Sponsor manager"),
            Role::PayerAnalyst => pick(lang, "支付方分析人员", "Payer analyst"),
            Role::Inspector => pick(lang, "检查员", "Inspector"),
            Role::ProcessOperator => pick(lang, "制备操作人员", "Process operator"),
            Role::QualifiedPerson => pick(lang, "质量受权人", "Qualified person (QP)"),
            Role::ClinicalNurse => pick(lang, "临床护士", "Clinical nurse"),
        }
    }
}

/// Something a user may do. The string form (`as_str`, serde) is dotted,
/// e.g. `project.submit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    OrgRead,
    OrgManage,
    UserManage,
    ProjectRead,
    ProjectDraft,
    ProjectSubmit,
    ProjectReview,
    ProjectFile,
    ProjectSuspend,
    ProjectComplete,
    LedgerVerify,
    LedgerExport,
    AuditRead,
    TokenManage,
    EthicsRead,
    EthicsSubmit,
    EthicsManage,
    EthicsReview,
    ExpertPoolManage,
    ConsentRecord,
    DataExport,
    TraceRead,
    TraceRecord,
    TraceQuality,
    TraceRelease,
    TraceHalt,
    IdentityRead,
    SafetyRead,
    SafetyReport,
    SignalRead,
}

string_enum!(Permission, "permission", {
    OrgRead => "org.read",
    OrgManage => "org.manage",
    UserManage => "user.manage",
    ProjectRead => "project.read",
    ProjectDraft => "project.draft",
    ProjectSubmit => "project.submit",
    ProjectReview => "project.review",
    ProjectFile => "project.file",
    ProjectSuspend => "project.suspend",
    ProjectComplete => "project.complete",
    LedgerVerify => "ledger.verify",
    LedgerExport => "ledger.export",
    AuditRead => "audit.read",
    TokenManage => "token.manage",
    EthicsRead => "ethics.read",
    EthicsSubmit => "ethics.submit",
    EthicsManage => "ethics.manage",
    EthicsReview => "ethics.review",
    ExpertPoolManage => "expert_pool.manage",
    ConsentRecord => "consent.record",
    DataExport => "data.export",
    TraceRead => "trace.read",
    TraceRecord => "trace.record",
    TraceQuality => "trace.quality",
    TraceRelease => "trace.release",
    TraceHalt => "trace.halt",
    IdentityRead => "identity.read",
    SafetyRead => "safety.read",
    SafetyReport => "safety.report",
    SignalRead => "signal.read",
});

impl Permission {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Permission::OrgRead => pick(lang, "查看机构", "View organisations"),
            Permission::OrgManage => pick(lang, "管理机构", "Manage organisations"),
            Permission::UserManage => pick(lang, "管理用户", "Manage users"),
            Permission::ProjectRead => pick(lang, "查看项目", "View projects"),
            Permission::ProjectDraft => pick(lang, "起草项目", "Draft projects"),
            Permission::ProjectSubmit => pick(lang, "提交备案", "Submit filings"),
            Permission::ProjectReview => pick(lang, "审核备案", "Review filings"),
            Permission::ProjectFile => pick(lang, "作出备案决定", "Decide filings"),
            Permission::ProjectSuspend => pick(
                lang,
                "暂停、恢复或终止项目",
                "Suspend, resume or terminate projects",
            ),
            Permission::ProjectComplete => pick(lang, "结束项目", "Complete projects"),
            Permission::LedgerVerify => pick(lang, "验证账本", "Verify the ledger"),
            Permission::LedgerExport => pick(lang, "导出账本", "Export the ledger"),
            Permission::AuditRead => pick(lang, "查看审计记录", "View the audit trail"),
            Permission::TokenManage => pick(lang, "管理接口令牌", "Manage API tokens"),
            Permission::EthicsRead => pick(lang, "查看伦理审查", "View ethics reviews"),
            Permission::EthicsSubmit => pick(lang, "提交伦理审查", "Submit for ethics review"),
            Permission::EthicsManage => pick(
                lang,
                "管理伦理委员会与会议",
                "Manage ethics committees and meetings",
            ),
            Permission::EthicsReview => pick(lang, "审查与表决", "Review and vote"),
            Permission::ExpertPoolManage => pick(lang, "管理专家库", "Manage the expert pool"),
            Permission::ConsentRecord => {
                pick(lang, "登记受试者与知情同意", "Record subjects and consent")
            }
            Permission::DataExport => pick(lang, "导出研究数据", "Export research data"),
            Permission::TraceRead => pick(lang, "查看追溯链", "View the chain of custody"),
            Permission::TraceRecord => pick(
                lang,
                "登记采集、交接、制备与输注",
                "Record collection, hand-offs, manufacture and infusion",
            ),
            Permission::TraceQuality => pick(
                lang,
                "登记质量检验、偏差与细胞库",
                "Record quality tests, deviations and cell banks",
            ),
            Permission::TraceRelease => {
                pick(lang, "放行批次（质量受权人）", "Release batches (QP)")
            }
            Permission::TraceHalt => pick(lang, "叫停与恢复", "Halt and release from halt"),
            Permission::IdentityRead => pick(
                lang,
                "查看患者与供者身份信息",
                "View patient and donor identity",
            ),
            Permission::SafetyRead => pick(
                lang,
                "查看不良事件与长期随访",
                "View adverse events and long-term follow-up",
            ),
            Permission::SafetyReport => pick(
                lang,
                "报告不良事件、快速报告与随访",
                "Report adverse events, expedited reports and follow-up",
            ),
            Permission::SignalRead => pick(
                lang,
                "查看全国不良事件数据库与信号",
                "View the national adverse-event database and signals",
            ),
        }
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Permission::from_str(&s).map_err(serde::de::Error::custom)
    }
}

/// Whether a role may be held by a member of an organisation of this type.
pub fn role_allowed_in(role: Role, org: OrgType) -> bool {
    use OrgType as O;
    match role {
        Role::OrgAdmin => true,
        Role::PlatformAdmin => org == O::Platform,
        Role::ResearchOffice | Role::Investigator => org == O::MedicalInstitution,
        Role::EthicsSecretary | Role::EthicsMember => org == O::EthicsCommittee,
        Role::RegulatorReviewer | Role::RegulatorOfficer | Role::Inspector => org == O::Regulator,
        Role::QualityAssurance => org == O::PreparationCentre,
        Role::LabAnalyst => org == O::VerificationLab,
        Role::SponsorManager => org == O::Sponsor,
        Role::PayerAnalyst => org == O::Payer,
        Role::ProcessOperator | Role::QualifiedPerson => org == O::PreparationCentre,
        Role::ClinicalNurse => org == O::MedicalInstitution,
    }
}

/// The roles a member of an organisation of this type may hold.
pub fn roles_allowed_in(org: OrgType) -> Vec<Role> {
    Role::ALL
        .iter()
        .copied()
        .filter(|r| role_allowed_in(*r, org))
        .collect()
}

use Permission as P;

const READ_ONLY: &[Permission] = &[P::ProjectRead, P::OrgRead];
const RESEARCH_OFFICE: &[Permission] = &[
    P::ProjectRead,
    P::ProjectDraft,
    P::ProjectSubmit,
    P::ProjectComplete,
    P::OrgRead,
    P::EthicsRead,
    P::EthicsSubmit,
    P::ConsentRecord,
    P::DataExport,
    P::TraceRead,
    P::TraceRecord,
    P::IdentityRead,
    P::SafetyRead,
    P::SafetyReport,
];
const INVESTIGATOR: &[Permission] = &[
    P::ProjectRead,
    P::ProjectDraft,
    P::OrgRead,
    P::EthicsRead,
    P::EthicsSubmit,
    P::ConsentRecord,
    P::TraceRead,
    P::TraceRecord,
    P::IdentityRead,
    P::SafetyRead,
    P::SafetyReport,
];
const CLINICAL_NURSE: &[Permission] = &[
    P::ProjectRead,
    P::OrgRead,
    P::TraceRead,
    P::TraceRecord,
    P::IdentityRead,
    P::SafetyRead,
];
const PROCESS_OPERATOR: &[Permission] = &[P::ProjectRead, P::OrgRead, P::TraceRead, P::TraceRecord];
const QUALITY_ASSURANCE: &[Permission] = &[
    P::ProjectRead,
    P::OrgRead,
    P::TraceRead,
    P::TraceRecord,
    P::TraceQuality,
    P::TraceHalt,
];
const QUALIFIED_PERSON: &[Permission] = &[
    P::ProjectRead,
    P::OrgRead,
    P::TraceRead,
    P::TraceQuality,
    P::TraceRelease,
    P::TraceHalt,
];
const SPONSOR_MANAGER: &[Permission] =
    &[P::ProjectRead, P::OrgRead, P::SafetyRead, P::SafetyReport];
const ETHICS_SECRETARY: &[Permission] =
    &[P::ProjectRead, P::OrgRead, P::EthicsRead, P::EthicsManage];
const ETHICS_MEMBER: &[Permission] = &[P::ProjectRead, P::OrgRead, P::EthicsRead, P::EthicsReview];
const REGULATOR_REVIEWER: &[Permission] = &[
    P::EthicsRead,
    P::ProjectRead,
    P::ProjectReview,
    P::OrgRead,
    P::AuditRead,
    P::LedgerVerify,
    P::TraceRead,
    P::SafetyRead,
    P::SignalRead,
];
const REGULATOR_OFFICER: &[Permission] = &[
    P::EthicsRead,
    P::ExpertPoolManage,
    P::ProjectRead,
    P::ProjectReview,
    P::OrgRead,
    P::AuditRead,
    P::LedgerVerify,
    P::ProjectFile,
    P::ProjectSuspend,
    P::LedgerExport,
    P::TraceRead,
    P::TraceHalt,
    P::SafetyRead,
    P::SignalRead,
];
const INSPECTOR: &[Permission] = &[
    P::EthicsRead,
    P::ProjectRead,
    P::OrgRead,
    P::AuditRead,
    P::LedgerVerify,
    P::LedgerExport,
    P::TraceRead,
    P::SafetyRead,
    P::SignalRead,
];
const ORG_ADMIN: &[Permission] = &[
    P::OrgRead,
    P::OrgManage,
    P::UserManage,
    P::TokenManage,
    P::ProjectRead,
];
const PLATFORM_ADMIN: &[Permission] = &[
    P::EthicsRead,
    P::ExpertPoolManage,
    P::OrgRead,
    P::OrgManage,
    P::UserManage,
    P::TokenManage,
    P::AuditRead,
    P::LedgerVerify,
    P::LedgerExport,
    P::ProjectRead,
    P::TraceRead,
    P::SafetyRead,
    P::SignalRead,
];

/// The permissions a role grants.
pub fn permissions(role: Role) -> &'static [Permission] {
    match role {
        Role::ResearchOffice => RESEARCH_OFFICE,
        Role::Investigator => INVESTIGATOR,
        Role::RegulatorReviewer => REGULATOR_REVIEWER,
        Role::RegulatorOfficer => REGULATOR_OFFICER,
        Role::Inspector => INSPECTOR,
        Role::OrgAdmin => ORG_ADMIN,
        Role::PlatformAdmin => PLATFORM_ADMIN,
        Role::EthicsSecretary => ETHICS_SECRETARY,
        Role::EthicsMember => ETHICS_MEMBER,
        Role::QualityAssurance => QUALITY_ASSURANCE,
        Role::QualifiedPerson => QUALIFIED_PERSON,
        Role::ProcessOperator => PROCESS_OPERATOR,
        Role::ClinicalNurse => CLINICAL_NURSE,
        Role::SponsorManager => SPONSOR_MANAGER,
        Role::LabAnalyst | Role::PayerAnalyst => READ_ONLY,
    }
}

/// Whether any of the roles grants the permission.
pub fn has_permission(roles: &[Role], p: Permission) -> bool {
    roles.iter().any(|r| permissions(*r).contains(&p))
}

/// The role × permission matrix and the role × organisation-type matrix as
/// Markdown tables (English labels, with the Chinese in brackets).
pub fn matrix_markdown() -> String {
    let mut out = String::new();
    out.push_str("## Permissions by role (角色权限)\n\n| role |");
    for p in Permission::ALL {
        let _ = write!(out, " `{}` |", p.as_str());
    }
    out.push_str("\n|---|");
    for _ in Permission::ALL {
        out.push_str(":-:|");
    }
    out.push('\n');
    for r in Role::ALL {
        let _ = write!(
            out,
            "| {} ({}) `{}` |",
            r.label(Lang::En),
            r.label(Lang::Zh),
            r.as_str()
        );
        for p in Permission::ALL {
            out.push_str(if permissions(*r).contains(p) {
                " ✓ |"
            } else {
                "   |"
            });
        }
        out.push('\n');
    }
    out.push_str("\n## Roles by organisation type (机构类型可设角色)\n\n| role |");
    for o in OrgType::ALL {
        let _ = write!(out, " {} ({}) |", o.label(Lang::En), o.label(Lang::Zh));
    }
    out.push_str("\n|---|");
    for _ in OrgType::ALL {
        out.push_str(":-:|");
    }
    out.push('\n');
    for r in Role::ALL {
        let _ = write!(out, "| `{}` |", r.as_str());
        for o in OrgType::ALL {
            out.push_str(if role_allowed_in(*r, *o) {
                " ✓ |"
            } else {
                "   |"
            });
        }
        out.push('\n');
    }
    out.push_str("\n## Permissions (权限)\n\n| permission | meaning | 含义 |\n|---|---|---|\n");
    for p in Permission::ALL {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            p.as_str(),
            p.label(Lang::En),
            p.label(Lang::Zh)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::Action;
    use std::collections::BTreeSet;

    fn set(ps: &[Permission]) -> BTreeSet<Permission> {
        ps.iter().copied().collect()
    }

    #[test]
    fn matrix_as_specified() {
        use Permission::*;
        let expect: &[(Role, &[Permission])] = &[
            (
                Role::ResearchOffice,
                &[
                    ProjectRead,
                    ProjectDraft,
                    ProjectSubmit,
                    ProjectComplete,
                    OrgRead,
                    EthicsRead,
                    EthicsSubmit,
                    ConsentRecord,
                    DataExport,
                    TraceRead,
                    TraceRecord,
                    IdentityRead,
                    SafetyRead,
                    SafetyReport,
                ],
            ),
            (
                Role::Investigator,
                &[
                    ProjectRead,
                    ProjectDraft,
                    OrgRead,
                    EthicsRead,
                    EthicsSubmit,
                    ConsentRecord,
                    TraceRead,
                    TraceRecord,
                    IdentityRead,
                    SafetyRead,
                    SafetyReport,
                ],
            ),
            (
                Role::RegulatorReviewer,
                &[
                    ProjectRead,
                    ProjectReview,
                    OrgRead,
                    AuditRead,
                    LedgerVerify,
                    EthicsRead,
                    TraceRead,
                    SafetyRead,
                    SignalRead,
                ],
            ),
            (
                Role::RegulatorOfficer,
                &[
                    ProjectRead,
                    ProjectReview,
                    OrgRead,
                    AuditRead,
                    LedgerVerify,
                    ProjectFile,
                    ProjectSuspend,
                    LedgerExport,
                    EthicsRead,
                    ExpertPoolManage,
                    TraceRead,
                    TraceHalt,
                    SafetyRead,
                    SignalRead,
                ],
            ),
            (
                Role::Inspector,
                &[
                    ProjectRead,
                    OrgRead,
                    AuditRead,
                    LedgerVerify,
                    LedgerExport,
                    EthicsRead,
                    TraceRead,
                    SafetyRead,
                    SignalRead,
                ],
            ),
            (
                Role::OrgAdmin,
                &[OrgRead, OrgManage, UserManage, TokenManage, ProjectRead],
            ),
            (
                Role::PlatformAdmin,
                &[
                    OrgRead,
                    OrgManage,
                    UserManage,
                    TokenManage,
                    AuditRead,
                    LedgerVerify,
                    LedgerExport,
                    ProjectRead,
                    EthicsRead,
                    ExpertPoolManage,
                    TraceRead,
                    SafetyRead,
                    SignalRead,
                ],
            ),
            (
                Role::EthicsSecretary,
                &[ProjectRead, OrgRead, EthicsRead, EthicsManage],
            ),
            (
                Role::EthicsMember,
                &[ProjectRead, OrgRead, EthicsRead, EthicsReview],
            ),
            (
                Role::QualityAssurance,
                &[
                    ProjectRead,
                    OrgRead,
                    TraceRead,
                    TraceRecord,
                    TraceQuality,
                    TraceHalt,
                ],
            ),
            (
                Role::QualifiedPerson,
                &[
                    ProjectRead,
                    OrgRead,
                    TraceRead,
                    TraceQuality,
                    TraceRelease,
                    TraceHalt,
                ],
            ),
            (
                Role::ProcessOperator,
                &[ProjectRead, OrgRead, TraceRead, TraceRecord],
            ),
            (
                Role::ClinicalNurse,
                &[
                    ProjectRead,
                    OrgRead,
                    TraceRead,
                    TraceRecord,
                    IdentityRead,
                    SafetyRead,
                ],
            ),
            (Role::LabAnalyst, &[ProjectRead, OrgRead]),
            (
                Role::SponsorManager,
                &[ProjectRead, OrgRead, SafetyRead, SafetyReport],
            ),
            (Role::PayerAnalyst, &[ProjectRead, OrgRead]),
        ];
        assert_eq!(expect.len(), Role::ALL.len());
        for (role, perms) in expect {
            assert_eq!(set(permissions(*role)), set(perms), "{role}");
            assert_eq!(
                permissions(*role).len(),
                perms.len(),
                "{role} has duplicates"
            );
        }
    }

    #[test]
    fn roles_by_org_type() {
        use OrgType as O;
        let expect: &[(Role, &[OrgType])] = &[
            (Role::ResearchOffice, &[O::MedicalInstitution]),
            (Role::Investigator, &[O::MedicalInstitution]),
            (Role::RegulatorReviewer, &[O::Regulator]),
            (Role::RegulatorOfficer, &[O::Regulator]),
            (Role::Inspector, &[O::Regulator]),
            (Role::EthicsSecretary, &[O::EthicsCommittee]),
            (Role::EthicsMember, &[O::EthicsCommittee]),
            (Role::QualityAssurance, &[O::PreparationCentre]),
            (Role::QualifiedPerson, &[O::PreparationCentre]),
            (Role::ProcessOperator, &[O::PreparationCentre]),
            (Role::ClinicalNurse, &[O::MedicalInstitution]),
            (Role::LabAnalyst, &[O::VerificationLab]),
            (Role::SponsorManager, &[O::Sponsor]),
            (Role::PayerAnalyst, &[O::Payer]),
            (Role::PlatformAdmin, &[O::Platform]),
            (Role::OrgAdmin, O::ALL),
        ];
        assert_eq!(expect.len(), Role::ALL.len());
        for (role, orgs) in expect {
            for o in O::ALL {
                assert_eq!(
                    role_allowed_in(*role, *o),
                    orgs.contains(o),
                    "{role} in {o}"
                );
            }
        }
        assert_eq!(
            roles_allowed_in(O::Regulator),
            vec![
                Role::OrgAdmin,
                Role::RegulatorReviewer,
                Role::RegulatorOfficer,
                Role::Inspector
            ]
        );
    }

    #[test]
    fn has_permission_unions_roles() {
        assert!(!has_permission(&[], Permission::ProjectRead));
        assert!(!has_permission(
            &[Role::Investigator],
            Permission::ProjectSubmit
        ));
        assert!(has_permission(
            &[Role::Investigator, Role::ResearchOffice],
            Permission::ProjectSubmit
        ));
        assert!(has_permission(
            &[Role::RegulatorOfficer],
            Permission::ProjectFile
        ));
        assert!(!has_permission(
            &[Role::RegulatorReviewer],
            Permission::ProjectFile
        ));
    }

    /// Every workflow action can be taken by some role, and the institution
    /// side and the regulator side stay apart.
    #[test]
    fn every_action_has_an_actor() {
        for a in Action::ALL {
            let who: Vec<Role> = Role::ALL
                .iter()
                .copied()
                .filter(|r| permissions(*r).contains(&a.permission()))
                .collect();
            assert!(!who.is_empty(), "{a}");
            let institution = who
                .iter()
                .any(|r| role_allowed_in(*r, OrgType::MedicalInstitution));
            let regulator = who.iter().any(|r| role_allowed_in(*r, OrgType::Regulator));
            assert!(institution != regulator, "{a}: {who:?}");
        }
    }

    #[test]
    fn strings_and_serde() {
        assert_eq!(Permission::ProjectSubmit.as_str(), "project.submit");
        assert_eq!(
            serde_json::to_string(&Permission::LedgerExport).unwrap(),
            "\"ledger.export\""
        );
        assert_eq!(
            serde_json::from_str::<Permission>("\"token.manage\"").unwrap(),
            Permission::TokenManage
        );
        assert!(serde_json::from_str::<Permission>("\"token_manage\"").is_err());
        for p in Permission::ALL {
            assert_eq!(Permission::from_str(p.as_str()), Ok(*p));
        }
        for r in Role::ALL {
            assert_eq!(
                serde_json::to_string(r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
            assert_eq!(Role::from_str(r.as_str()), Ok(*r));
            assert!(!r.label(Lang::Zh).is_empty() && !r.label(Lang::En).is_empty());
        }
        for o in OrgType::ALL {
            assert_eq!(
                serde_json::to_string(o).unwrap(),
                format!("\"{}\"", o.as_str())
            );
            assert_eq!(OrgType::from_str(o.as_str()), Ok(*o));
        }
        assert_eq!(OrgType::PreparationCentre.label(Lang::Zh), "细胞制备中心");
        assert_eq!(OrgType::VerificationLab.label(Lang::Zh), "第三方验证机构");
        assert_eq!(OrgType::Platform.label(Lang::Zh), "平台运营");
    }

    #[test]
    fn markdown_has_every_role_and_permission() {
        let md = matrix_markdown();
        for p in Permission::ALL {
            assert!(md.contains(&format!("`{}`", p.as_str())));
        }
        for r in Role::ALL {
            assert!(md.contains(&format!("`{}`", r.as_str())));
        }
        // Header + separator + one row per role in the first table.
        let first = md.split("\n\n").nth(1).unwrap();
        assert_eq!(first.lines().count(), 2 + Role::ALL.len());
        let cols = first.lines().next().unwrap().matches('|').count();
        for line in first.lines() {
            assert_eq!(line.matches('|').count(), cols, "{line}");
        }
    }
}
