//! Ethics review (伦理审查): who may sit on a committee, which route a
//! submission takes, when a meeting may decide, how votes become a decision,
//! and when an approval needs continuing review or lapses.
//!
//! The rules follow the measures on ethics review of life-science and medical
//! research involving humans (《涉及人的生命科学和医学研究伦理审查办法》,
//! 国卫科教发〔2023〕4号, issued 2023-02-18, cited as "the 2023 measures"). Every
//! outcome carries the articles it rests on ([`Basis`]), so the screen can
//! show why a route or a refusal applies.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::i18n::Lang;
use crate::{pick, string_enum};

/// The instrument cited by this module.
pub const MEASURES_2023: &str = "cn.ethics2023";

/// A provision a conclusion rests on: instrument id, article, and a short
/// statement of what it says, in both languages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Basis {
    pub instrument: &'static str,
    pub article: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
}

impl Basis {
    pub fn text(&self, lang: Lang) -> &'static str {
        pick(lang, self.zh, self.en)
    }
}

const fn basis(article: &'static str, zh: &'static str, en: &'static str) -> Basis {
    Basis {
        instrument: MEASURES_2023,
        article,
        zh,
        en,
    }
}

pub const BASIS_COMPOSITION: Basis = basis(
    "第七条",
    "委员从生命科学、医学、生命伦理学、法学等领域的专家和非本机构的社会人士中遴选，不少于7人，应有不同性别的委员。",
    "Members are drawn from experts in life sciences, medicine, bioethics and law and from lay people outside the institution; at least 7, of both sexes.",
);
pub const BASIS_DECISION: Basis = basis(
    "第三章 审查决定",
    "审查决定须经超过全体委员二分之一同意；不同意见应记录在案。",
    "A decision needs the agreement of more than half of all members; dissenting opinions are recorded.",
);
pub const BASIS_RECUSAL: Basis = basis(
    "第三章 利益冲突回避",
    "与研究存在利益冲突的委员应当回避。",
    "A member with a conflict of interest in the research withdraws from its review.",
);
pub const BASIS_SIMPLIFIED: Basis = basis(
    "第三章 简易程序",
    "不大于最小风险的研究、对已批准方案的较小修改且不影响风险受益比、已批准研究的跟踪审查、多机构研究中参与机构对牵头机构审查意见的确认，可适用简易程序，由主任委员指定两名以上委员审查。",
    "Research of no more than minimal risk, minor amendments that leave the risk-benefit balance unchanged, continuing review of approved research, and a participating institution's confirmation of the lead institution's opinion may take the simplified procedure, by two or more members the chair designates.",
);
pub const BASIS_SIMPLIFIED_TO_MEETING: Basis = basis(
    "第三章 简易程序（转入会议审查）",
    "简易程序中有否定意见、委员意见不一致或委员要求会议审查的，转入会议审查。",
    "A simplified review turns into a meeting review when an opinion is negative, the reviewers disagree, or a reviewer asks for a meeting.",
);
pub const BASIS_EXEMPTION: Basis = basis(
    "第三十二条",
    "使用人的信息数据或生物样本、不对人体造成伤害、不涉及敏感个人信息或商业利益的特定研究，可免除伦理审查。",
    "Research that uses human data or samples in listed ways, harms no one and involves no sensitive personal information or commercial interest may be exempt from ethics review.",
);
pub const BASIS_MEETING: Basis = basis(
    "第三章 会议审查",
    "伦理审查一般采取会议审查的方式。",
    "Ethics review is as a rule held at a meeting of the committee.",
);
pub const BASIS_CONTINUING: Basis = basis(
    "第三章 跟踪审查",
    "对已批准的研究进行跟踪审查，间隔不超过12个月。",
    "Approved research is reviewed again at intervals of no more than 12 months.",
);
pub const BASIS_MULTICENTRE: Basis = basis(
    "第三章 多机构研究",
    "多机构研究可建立伦理审查协作机制，参与机构可对牵头机构的审查意见进行确认。",
    "Multi-institution research may rely on cooperative review: participating institutions may confirm the lead institution's opinion.",
);
pub const BASIS_SPECIAL: Basis = Basis {
    instrument: "cn.celltrail_grading",
    article: "第五条 伦理审查路径",
    zh: "高风险技术在本机构会议审查后，由专门的专家伦理委员会审查。",
    en: "A high-risk technology is reviewed by a special expert ethics committee after the institution's own full meeting.",
};

// ---------------------------------------------------------------------------
// Committees
// ---------------------------------------------------------------------------

/// A member's field (第七条: life sciences, medicine, bioethics, law, and
/// lay people from outside the institution).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expertise {
    Scientific,
    Medical,
    Ethics,
    Legal,
    Lay,
}

string_enum!(Expertise, "expertise", {
    Scientific => "scientific",
    Medical => "medical",
    Ethics => "ethics",
    Legal => "legal",
    Lay => "lay",
});

impl Expertise {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Expertise::Scientific => pick(lang, "生命科学", "Life sciences"),
            Expertise::Medical => pick(lang, "医学", "Medicine"),
            Expertise::Ethics => pick(lang, "生命伦理学", "Bioethics"),
            Expertise::Legal => pick(lang, "法学", "Law"),
            Expertise::Lay => pick(lang, "社会人士", "Lay member"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
}

string_enum!(Sex, "sex", { Female => "female", Male => "male" });

impl Sex {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Sex::Female => pick(lang, "女", "Female"),
            Sex::Male => pick(lang, "男", "Male"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Chair,
    ViceChair,
    Member,
}

string_enum!(MemberRole, "member_role", {
    Chair => "chair",
    ViceChair => "vice_chair",
    Member => "member",
});

impl MemberRole {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            MemberRole::Chair => pick(lang, "主任委员", "Chair"),
            MemberRole::ViceChair => pick(lang, "副主任委员", "Vice-chair"),
            MemberRole::Member => pick(lang, "委员", "Member"),
        }
    }
}

/// A sitting member of a committee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub sex: Sex,
    pub expertise: Expertise,
    /// Not employed by the committee's institution (非本机构).
    pub external: bool,
    pub role: MemberRole,
}

/// Something a committee, a meeting or a vote falls short of: a stable code
/// (its message is `error.<code>`) and the arguments of that message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub args: Vec<(&'static str, String)>,
    pub basis: Basis,
}

impl Finding {
    fn new(code: &'static str, basis: Basis) -> Finding {
        Finding {
            code,
            args: Vec::new(),
            basis,
        }
    }
    fn arg(mut self, k: &'static str, v: impl ToString) -> Finding {
        self.args.push((k, v.to_string()));
        self
    }
}

/// Every code a finding of this module can carry (each has a catalogue
/// message `error.<code>`).
pub const FINDING_CODES: &[&str] = &[
    "committee_too_small",
    "committee_lacks_expertise",
    "committee_lay_member_internal",
    "committee_lacks_external",
    "committee_single_sex",
    "committee_chair_count",
    "committee_invalid",
    "quorum_not_met",
    "quorum_lacks_lay",
    "quorum_lacks_external",
    "vote_not_member",
    "vote_by_recused",
    "vote_by_absent",
    "vote_duplicate",
];

/// The least number of members (第七条).
pub const MIN_MEMBERS: usize = 7;

/// Checks a committee's sitting members against 第七条. An empty result means
/// the committee is validly composed; otherwise every shortfall is listed.
pub fn check_composition(members: &[Member]) -> Vec<Finding> {
    let mut out = Vec::new();
    if members.len() < MIN_MEMBERS {
        out.push(
            Finding::new("committee_too_small", BASIS_COMPOSITION)
                .arg("count", members.len())
                .arg("min", MIN_MEMBERS),
        );
    }
    for needed in [
        Expertise::Scientific,
        Expertise::Medical,
        Expertise::Legal,
        Expertise::Lay,
    ] {
        if !members.iter().any(|m| m.expertise == needed) {
            out.push(
                Finding::new("committee_lacks_expertise", BASIS_COMPOSITION)
                    .arg("expertise", needed.as_str()),
            );
        }
    }
    if members
        .iter()
        .any(|m| m.expertise == Expertise::Lay && !m.external)
    {
        out.push(Finding::new(
            "committee_lay_member_internal",
            BASIS_COMPOSITION,
        ));
    }
    if !members.iter().any(|m| m.external) {
        out.push(Finding::new("committee_lacks_external", BASIS_COMPOSITION));
    }
    let women = members.iter().filter(|m| m.sex == Sex::Female).count();
    if women == 0 || women == members.len() {
        out.push(Finding::new("committee_single_sex", BASIS_COMPOSITION));
    }
    match members
        .iter()
        .filter(|m| m.role == MemberRole::Chair)
        .count()
    {
        1 => {}
        n => out.push(Finding::new("committee_chair_count", BASIS_COMPOSITION).arg("count", n)),
    }
    out
}

// ---------------------------------------------------------------------------
// Submissions and routes
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionType {
    Initial,
    Amendment,
    ContinuingReview,
    SeriousAdverseEvent,
    ProtocolDeviation,
    Closure,
}

string_enum!(SubmissionType, "submission_type", {
    Initial => "initial",
    Amendment => "amendment",
    ContinuingReview => "continuing_review",
    SeriousAdverseEvent => "serious_adverse_event",
    ProtocolDeviation => "protocol_deviation",
    Closure => "closure",
});

impl SubmissionType {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            SubmissionType::Initial => pick(lang, "初始审查", "Initial review"),
            SubmissionType::Amendment => pick(lang, "修正案审查", "Amendment"),
            SubmissionType::ContinuingReview => pick(lang, "跟踪审查", "Continuing review"),
            SubmissionType::SeriousAdverseEvent => {
                pick(lang, "严重不良事件审查", "Serious adverse event")
            }
            SubmissionType::ProtocolDeviation => pick(lang, "方案偏离审查", "Protocol deviation"),
            SubmissionType::Closure => pick(lang, "结题审查", "Closure"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// 会议审查.
    FullCommittee,
    /// 简易程序.
    Simplified,
    /// 免除伦理审查.
    Exempt,
    /// Full meeting, then a special expert ethics committee.
    SpecialExpertCommittee,
}

string_enum!(Route, "ethics_route", {
    FullCommittee => "full_committee",
    Simplified => "simplified",
    Exempt => "exempt",
    SpecialExpertCommittee => "special_expert_committee",
});

impl Route {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Route::FullCommittee => pick(lang, "会议审查", "Full committee meeting"),
            Route::Simplified => pick(lang, "简易程序审查", "Simplified review"),
            Route::Exempt => pick(lang, "免除伦理审查", "Exempt from review"),
            Route::SpecialExpertCommittee => {
                pick(lang, "专门专家伦理委员会审查", "Special expert committee")
            }
        }
    }

    /// Whether the route decides at a meeting of the committee.
    pub fn needs_meeting(self) -> bool {
        matches!(self, Route::FullCommittee | Route::SpecialExpertCommittee)
    }
}

/// Grounds for exemption (第三十二条), each a use of existing data or
/// samples that harms no one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExemptionGround {
    PublicData,
    AnonymisedData,
    ExistingSamplesWithinConsent,
    BiobankCellLines,
}

string_enum!(ExemptionGround, "exemption_ground", {
    PublicData => "public_data",
    AnonymisedData => "anonymised_data",
    ExistingSamplesWithinConsent => "existing_samples_within_consent",
    BiobankCellLines => "biobank_cell_lines",
});

/// What a submission says about itself that decides its route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteFacts {
    /// The rules engine's `ethics_route` for the study (CN grading pack),
    /// with the id of the deciding rule, where a classification was saved.
    pub rules_route: Option<(String, String)>,
    /// The investigator declares no more than minimal risk.
    pub minimal_risk: bool,
    /// An amendment the investigator declares minor, leaving the
    /// risk-benefit balance unchanged.
    pub minor_amendment: bool,
    /// The study administers an intervention to people (every cell or gene
    /// therapy study does); exemption is then impossible.
    pub intervention: bool,
    /// A claimed ground for exemption.
    pub exemption: Option<ExemptionGround>,
    /// Sensitive personal information or commercial interest is involved.
    pub sensitive_or_commercial: bool,
    /// A participating site confirming a lead committee's opinion.
    pub reliance_confirmation: bool,
    /// For a serious adverse event: unexpected and at least possibly related
    /// to the product, or fatal.
    pub unexpected_related_or_fatal: bool,
    /// For continuing review: new risks since the last approval.
    pub new_risk: bool,
}

/// The route of a submission and every provision it rests on, the deciding
/// one first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteDecision {
    pub route: Route,
    pub basis: Vec<Basis>,
    /// The rule of the rules engine the route follows, if one did.
    pub rule: Option<String>,
}

fn decided(route: Route, basis: Vec<Basis>) -> RouteDecision {
    RouteDecision {
        route,
        basis,
        rule: None,
    }
}

/// The route a submission takes.
///
/// * Initial review follows the rules engine's grade where one was saved:
///   high risk goes to the special expert committee (after a full meeting),
///   medium risk to a full meeting, low risk to the simplified procedure.
///   Without a grade, minimal risk declared takes the simplified procedure.
/// * Exemption (第三十二条) needs a listed ground, no intervention on people,
///   and no sensitive information or commercial interest.
/// * Minor amendments, continuing review without new risk, and a
///   participating site's confirmation take the simplified procedure
///   (the simplified procedure); an amendment to high-risk research is never minor here.
/// * A serious adverse event that is unexpected and related, or fatal, goes
///   to a meeting; others, deviations and closures take the simplified
///   procedure.
pub fn route(kind: SubmissionType, facts: &RouteFacts) -> RouteDecision {
    let graded = facts
        .rules_route
        .as_ref()
        .and_then(|(r, rule)| r.parse::<Route>().ok().map(|r| (r, rule.clone())));
    let high = matches!(graded, Some((Route::SpecialExpertCommittee, _)));
    if facts.reliance_confirmation && !high {
        return decided(Route::Simplified, vec![BASIS_SIMPLIFIED, BASIS_MULTICENTRE]);
    }
    match kind {
        SubmissionType::Initial => {
            if facts.exemption.is_some() && !facts.intervention && !facts.sensitive_or_commercial {
                return decided(Route::Exempt, vec![BASIS_EXEMPTION]);
            }
            match graded {
                Some((Route::SpecialExpertCommittee, rule)) => RouteDecision {
                    route: Route::SpecialExpertCommittee,
                    basis: vec![BASIS_SPECIAL, BASIS_MEETING],
                    rule: Some(rule),
                },
                Some((Route::FullCommittee, rule)) => RouteDecision {
                    route: Route::FullCommittee,
                    basis: vec![BASIS_MEETING],
                    rule: Some(rule),
                },
                Some((Route::Simplified, rule)) if facts.minimal_risk => RouteDecision {
                    route: Route::Simplified,
                    basis: vec![BASIS_SIMPLIFIED],
                    rule: Some(rule),
                },
                Some((_, rule)) => RouteDecision {
                    // Graded low, but the investigator does not claim minimal
                    // risk: the committee meets.
                    route: Route::FullCommittee,
                    basis: vec![BASIS_MEETING],
                    rule: Some(rule),
                },
                None if facts.minimal_risk => decided(Route::Simplified, vec![BASIS_SIMPLIFIED]),
                None => decided(Route::FullCommittee, vec![BASIS_MEETING]),
            }
        }
        SubmissionType::Amendment => {
            if facts.minor_amendment && !high {
                decided(Route::Simplified, vec![BASIS_SIMPLIFIED])
            } else if high {
                decided(
                    Route::SpecialExpertCommittee,
                    vec![BASIS_SPECIAL, BASIS_MEETING],
                )
            } else {
                decided(Route::FullCommittee, vec![BASIS_MEETING])
            }
        }
        SubmissionType::ContinuingReview => {
            if facts.new_risk {
                decided(Route::FullCommittee, vec![BASIS_MEETING, BASIS_CONTINUING])
            } else {
                decided(Route::Simplified, vec![BASIS_SIMPLIFIED, BASIS_CONTINUING])
            }
        }
        SubmissionType::SeriousAdverseEvent => {
            if facts.unexpected_related_or_fatal {
                decided(Route::FullCommittee, vec![BASIS_MEETING])
            } else {
                decided(Route::Simplified, vec![BASIS_SIMPLIFIED])
            }
        }
        SubmissionType::ProtocolDeviation | SubmissionType::Closure => {
            decided(Route::Simplified, vec![BASIS_SIMPLIFIED])
        }
    }
}

/// Reviewers' opinions in a simplified review: the review stays simplified
/// only when at least two reviewers approve and none dissents or asks for a
/// meeting (the simplified procedure of the 2023 measures).
pub fn simplified_outcome(opinions: &[Decision], meeting_requested: bool) -> Option<Decision> {
    if opinions.len() < 2 || meeting_requested {
        return None;
    }
    let first = opinions[0];
    if !opinions.iter().all(|d| *d == first) {
        return None;
    }
    match first {
        Decision::Approve | Decision::ApproveWithModifications => Some(first),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Meetings, votes and decisions
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    ApproveWithModifications,
    Resubmit,
    Disapprove,
    Suspend,
    Terminate,
}

string_enum!(Decision, "decision", {
    Approve => "approve",
    ApproveWithModifications => "approve_with_modifications",
    Resubmit => "resubmit",
    Disapprove => "disapprove",
    Suspend => "suspend",
    Terminate => "terminate",
});

impl Decision {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Decision::Approve => pick(lang, "批准", "Approve"),
            Decision::ApproveWithModifications => {
                pick(lang, "修改后批准", "Approve with modifications")
            }
            Decision::Resubmit => pick(lang, "修改后再审", "Resubmit"),
            Decision::Disapprove => pick(lang, "不批准", "Disapprove"),
            Decision::Suspend => pick(lang, "暂停研究", "Suspend"),
            Decision::Terminate => pick(lang, "终止研究", "Terminate"),
        }
    }

    /// Whether the research may go on under this decision.
    pub fn approves(self) -> bool {
        matches!(self, Decision::Approve | Decision::ApproveWithModifications)
    }
}

/// The least number of votes a decision needs: more than half of all
/// sitting members (the 2023 measures, chapter 3).
pub fn majority_of(members: usize) -> usize {
    members / 2 + 1
}

/// Checks that a meeting may decide on an item: the committee is validly
/// composed, enough members are present (not counting those recused for
/// the item) for a decision to reach a majority of all members, and a lay
/// member and a member from outside the institution are among them.
pub fn check_quorum(members: &[Member], present: &[&str], recused: &[&str]) -> Vec<Finding> {
    let mut out = check_composition(members);
    if !out.is_empty() {
        out.insert(0, Finding::new("committee_invalid", BASIS_COMPOSITION));
        return out;
    }
    let voting: Vec<&Member> = members
        .iter()
        .filter(|m| present.contains(&m.id.as_str()) && !recused.contains(&m.id.as_str()))
        .collect();
    let needed = majority_of(members.len());
    if voting.len() < needed {
        out.push(
            Finding::new("quorum_not_met", BASIS_DECISION)
                .arg("present", voting.len())
                .arg("needed", needed),
        );
    }
    if !voting.iter().any(|m| m.expertise == Expertise::Lay) {
        out.push(Finding::new("quorum_lacks_lay", BASIS_COMPOSITION));
    }
    if !voting.iter().any(|m| m.external) {
        out.push(Finding::new("quorum_lacks_external", BASIS_COMPOSITION));
    }
    out
}

/// One member's vote on an item; `None` is an abstention.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub member: String,
    pub decision: Option<Decision>,
    #[serde(default)]
    pub opinion: String,
}

/// The tally of an item: the decision carried (if any), votes per option,
/// and the dissenting votes to minute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub decision: Option<Decision>,
    pub needed: usize,
    pub counts: Vec<(Decision, usize)>,
    pub abstentions: usize,
    pub dissent: Vec<Vote>,
}

/// Counts votes. A vote from a member who is absent, recused or not on the
/// committee, or a second vote from one member, is refused with a finding.
pub fn tally(
    members: &[Member],
    present: &[&str],
    recused: &[&str],
    votes: &[Vote],
) -> Result<Tally, Finding> {
    let mut seen: Vec<&str> = Vec::new();
    for v in votes {
        let m = v.member.as_str();
        if !members.iter().any(|x| x.id == m) {
            return Err(Finding::new("vote_not_member", BASIS_DECISION).arg("member", m));
        }
        if recused.contains(&m) {
            return Err(Finding::new("vote_by_recused", BASIS_RECUSAL).arg("member", m));
        }
        if !present.contains(&m) {
            return Err(Finding::new("vote_by_absent", BASIS_DECISION).arg("member", m));
        }
        if seen.contains(&m) {
            return Err(Finding::new("vote_duplicate", BASIS_DECISION).arg("member", m));
        }
        seen.push(m);
    }
    let needed = majority_of(members.len());
    let mut counts: Vec<(Decision, usize)> = Decision::ALL
        .iter()
        .map(|d| (*d, votes.iter().filter(|v| v.decision == Some(*d)).count()))
        .filter(|(_, n)| *n > 0)
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let decision = counts
        .first()
        .filter(|(_, n)| *n >= needed)
        .map(|(d, _)| *d);
    let dissent = votes
        .iter()
        .filter(|v| decision.is_some() && v.decision.is_some() && v.decision != decision)
        .cloned()
        .collect();
    Ok(Tally {
        decision,
        needed,
        abstentions: votes.iter().filter(|v| v.decision.is_none()).count(),
        counts,
        dissent,
    })
}

// ---------------------------------------------------------------------------
// Continuing review
// ---------------------------------------------------------------------------

/// The longest interval between reviews of approved research, in months
/// (the 2023 measures).
pub const MAX_REVIEW_INTERVAL_MONTHS: u32 = 12;

/// The day an approval granted on `approved` lapses when the committee sets
/// an interval of `months` (at most 12): the day before the same date
/// `months` later (an approval of 2026-03-15 for 12 months runs through
/// 2027-03-14). A date that does not exist in the target month (31st, or
/// 29 February) falls back to the month's last day.
pub fn approval_lapses(approved: NaiveDate, months: u32) -> NaiveDate {
    let months = months.clamp(1, MAX_REVIEW_INTERVAL_MONTHS);
    let total = approved.year() * 12 + approved.month0() as i32 + months as i32;
    let (y, m) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
    let mut d = approved.day();
    let same = loop {
        if let Some(x) = NaiveDate::from_ymd_opt(y, m, d) {
            break x;
        }
        d -= 1;
    };
    // The last day of validity is the day before the anniversary, unless
    // the anniversary was clamped to a month end, which is then the last day.
    if d == approved.day() {
        same.pred_opt().unwrap_or(same)
    } else {
        same
    }
}

/// Where an approval stands on a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    /// More than `REMINDER_DAYS` before the continuing review is due.
    Current,
    /// Due within `REMINDER_DAYS`: the investigator is reminded.
    DueSoon,
    /// The approval has lapsed: no new enrolment or procedures until a
    /// continuing review approves again.
    Lapsed,
}

/// Days before the lapse date when reminders start.
pub const REMINDER_DAYS: i64 = 60;

pub fn review_status(lapses: NaiveDate, today: NaiveDate) -> ReviewStatus {
    if today > lapses {
        ReviewStatus::Lapsed
    } else if (lapses - today).num_days() < REMINDER_DAYS {
        ReviewStatus::DueSoon
    } else {
        ReviewStatus::Current
    }
}

// ---------------------------------------------------------------------------
// Expert pool
// ---------------------------------------------------------------------------

/// An expert of the national or regional pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expert {
    pub id: String,
    pub name: String,
    /// Tags such as `cell_therapy`, `gene_therapy`, `paediatrics`,
    /// `rare_disease`, `law`, `ethics`.
    pub tags: Vec<String>,
    /// The organisation that employs the expert.
    pub affiliation: String,
    /// Organisations the expert has declared an interest in (consultancy,
    /// shares, grants, family ties).
    pub declared_interests: Vec<String>,
    /// Reviews currently assigned and open.
    pub open_reviews: u32,
}

pub const EXPERT_TAGS: &[&str] = &[
    "cell_therapy",
    "gene_therapy",
    "paediatrics",
    "rare_disease",
    "law",
    "ethics",
];

/// Why an expert cannot review a submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exclusion {
    pub expert: String,
    /// `affiliated_with_site`, `affiliated_with_sponsor` or
    /// `declared_interest`.
    pub reason: &'static str,
    pub org: String,
}

/// Chooses `n` reviewers from the pool for a submission by `site` with
/// `sponsor`, each with at least one of `wanted` tags (all tags if empty).
/// Experts employed by the site or sponsor, or who declared an interest in
/// either, are excluded with the reason (chapter 3 of the 2023 measures). Among the rest, fewest
/// open reviews first, then most matching tags, then id — so work spreads
/// and the same pool gives the same answer.
pub fn assign_experts(
    pool: &[Expert],
    site: &str,
    sponsor: Option<&str>,
    wanted: &[&str],
    n: usize,
) -> (Vec<String>, Vec<Exclusion>) {
    let mut excluded = Vec::new();
    let mut eligible: Vec<(&Expert, usize)> = Vec::new();
    for e in pool {
        let conflicted = [Some(site), sponsor].into_iter().flatten().find_map(|org| {
            if e.affiliation == org {
                Some((
                    if org == site {
                        "affiliated_with_site"
                    } else {
                        "affiliated_with_sponsor"
                    },
                    org,
                ))
            } else if e.declared_interests.iter().any(|i| i == org) {
                Some(("declared_interest", org))
            } else {
                None
            }
        });
        if let Some((reason, org)) = conflicted {
            excluded.push(Exclusion {
                expert: e.id.clone(),
                reason,
                org: org.to_string(),
            });
            continue;
        }
        let matching = e
            .tags
            .iter()
            .filter(|t| wanted.contains(&t.as_str()))
            .count();
        if wanted.is_empty() || matching > 0 {
            eligible.push((e, matching));
        }
    }
    eligible.sort_by(|(a, am), (b, bm)| {
        a.open_reviews
            .cmp(&b.open_reviews)
            .then(bm.cmp(am))
            .then(a.id.cmp(&b.id))
    });
    (
        eligible
            .into_iter()
            .take(n)
            .map(|(e, _)| e.id.clone())
            .collect(),
        excluded,
    )
}

// ---------------------------------------------------------------------------
// Multi-centre reliance (伦理互认)
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelianceStatus {
    Proposed,
    AgreementSigned,
    LocalReview,
    Relied,
    Declined,
}

string_enum!(RelianceStatus, "reliance_status", {
    Proposed => "proposed",
    AgreementSigned => "agreement_signed",
    LocalReview => "local_review",
    Relied => "relied",
    Declined => "declined",
});

impl RelianceStatus {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            RelianceStatus::Proposed => pick(lang, "已提议", "Proposed"),
            RelianceStatus::AgreementSigned => pick(lang, "已签署互认协议", "Agreement signed"),
            RelianceStatus::LocalReview => pick(lang, "本地情况审查中", "Local context review"),
            RelianceStatus::Relied => pick(lang, "已互认", "Reliance reached"),
            RelianceStatus::Declined => pick(lang, "不予互认（独立审查）", "Declined (own review)"),
        }
    }

    /// The statuses a site's reliance may move to from this one.
    pub fn next(self) -> &'static [RelianceStatus] {
        use RelianceStatus as R;
        match self {
            R::Proposed => &[R::AgreementSigned, R::Declined],
            R::AgreementSigned => &[R::LocalReview, R::Declined],
            R::LocalReview => &[R::Relied, R::Declined],
            R::Relied | R::Declined => &[],
        }
    }
}

/// Days saved by relying on a lead review instead of repeating it: for each
/// site that relied, its days from the lead's decision to reliance, against
/// the lead's own days from submission to decision (what a repeated full
/// review would have taken). Sites that declined save nothing.
pub fn days_saved(lead_review_days: i64, sites: &[(RelianceStatus, i64)]) -> i64 {
    sites
        .iter()
        .filter(|(s, _)| *s == RelianceStatus::Relied)
        .map(|(_, days)| (lead_review_days - days).max(0))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, sex: Sex, e: Expertise, external: bool, role: MemberRole) -> Member {
        Member {
            id: id.into(),
            name: id.into(),
            sex,
            expertise: e,
            external,
            role,
        }
    }

    /// A committee shaped as 第七条 asks: seven members, life sciences,
    /// medicine, bioethics, law and a lay person from outside, both sexes.
    pub(crate) fn valid() -> Vec<Member> {
        use Expertise::*;
        vec![
            m("m1", Sex::Male, Medical, false, MemberRole::Chair),
            m("m2", Sex::Female, Medical, false, MemberRole::ViceChair),
            m("m3", Sex::Female, Scientific, false, MemberRole::Member),
            m("m4", Sex::Male, Scientific, false, MemberRole::Member),
            m("m5", Sex::Female, Ethics, true, MemberRole::Member),
            m("m6", Sex::Male, Legal, true, MemberRole::Member),
            m("m7", Sex::Female, Lay, true, MemberRole::Member),
        ]
    }

    fn codes(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|x| x.code).collect()
    }

    #[test]
    fn composition_of_article_7() {
        assert!(check_composition(&valid()).is_empty());
        // Six members: 第七条 asks for at least 7.
        let six = &valid()[..6];
        let f = check_composition(six);
        assert!(codes(&f).contains(&"committee_too_small"));
        assert!(codes(&f).contains(&"committee_lacks_expertise"));
        // All of one sex.
        let mut men = valid();
        for x in &mut men {
            x.sex = Sex::Male;
        }
        assert_eq!(
            codes(&check_composition(&men)),
            vec!["committee_single_sex"]
        );
        // A lay member employed by the institution does not count as the
        // outside lay person 第七条 names.
        let mut internal = valid();
        internal[6].external = false;
        assert!(codes(&check_composition(&internal)).contains(&"committee_lay_member_internal"));
        // No lawyer.
        let mut nolaw = valid();
        nolaw[5].expertise = Expertise::Medical;
        let f = check_composition(&nolaw);
        assert_eq!(f[0].args, vec![("expertise", "legal".to_string())]);
        // Two chairs.
        let mut two = valid();
        two[1].role = MemberRole::Chair;
        assert_eq!(
            codes(&check_composition(&two)),
            vec!["committee_chair_count"]
        );
    }

    #[test]
    fn quorum_and_majority_of_all_members() {
        let c = valid();
        // The 2023 measures: more than half of all 7 members = 4 votes.
        assert_eq!(majority_of(7), 4);
        assert_eq!(majority_of(8), 5);
        let all: Vec<&str> = c.iter().map(|x| x.id.as_str()).collect();
        assert!(check_quorum(&c, &all, &[]).is_empty());
        // Four present but the lay member absent.
        let f = check_quorum(&c, &["m1", "m2", "m3", "m6"], &[]);
        assert_eq!(codes(&f), vec!["quorum_lacks_lay"]);
        // Five present, two recused: three voters cannot reach 4.
        let f = check_quorum(&c, &["m1", "m2", "m3", "m6", "m7"], &["m2", "m3"]);
        assert_eq!(codes(&f), vec!["quorum_not_met"]);
        // An invalid committee cannot hold a valid meeting at all.
        let f = check_quorum(&c[..6], &all, &[]);
        assert_eq!(f[0].code, "committee_invalid");
    }

    #[test]
    fn tally_needs_majority_of_all_members_and_records_dissent() {
        let c = valid();
        let present = ["m1", "m2", "m3", "m4", "m5", "m7"];
        let v = |id: &str, d: Option<Decision>| Vote {
            member: id.into(),
            decision: d,
            opinion: String::new(),
        };
        use Decision::*;
        // Four of seven approve: carried; the two others are minuted.
        let t = tally(
            &c,
            &present,
            &[],
            &[
                v("m1", Some(Approve)),
                v("m2", Some(Approve)),
                v("m3", Some(Approve)),
                v("m4", Some(Approve)),
                v("m5", Some(Resubmit)),
                v("m7", None),
            ],
        )
        .unwrap();
        assert_eq!(t.decision, Some(Approve));
        assert_eq!(t.dissent.len(), 1);
        assert_eq!(t.abstentions, 1);
        // Three of seven is a majority of those voting but not of all.
        let t = tally(
            &c,
            &present,
            &[],
            &[
                v("m1", Some(Approve)),
                v("m2", Some(Approve)),
                v("m3", Some(Approve)),
                v("m4", Some(Disapprove)),
                v("m5", Some(Resubmit)),
            ],
        )
        .unwrap();
        assert_eq!(t.decision, None);
        assert_eq!(t.needed, 4);
        // A recused member's vote is refused.
        let e = tally(&c, &present, &["m2"], &[v("m2", Some(Approve))]).unwrap_err();
        assert_eq!(e.code, "vote_by_recused");
        let e = tally(&c, &present, &[], &[v("m6", Some(Approve))]).unwrap_err();
        assert_eq!(e.code, "vote_by_absent");
        let e = tally(
            &c,
            &present,
            &[],
            &[v("m1", Some(Approve)), v("m1", Some(Approve))],
        )
        .unwrap_err();
        assert_eq!(e.code, "vote_duplicate");
    }

    fn graded(route: &str) -> RouteFacts {
        RouteFacts {
            rules_route: Some((route.into(), format!("cn.ethics.{route}"))),
            intervention: true,
            ..Default::default()
        }
    }

    #[test]
    fn routes_follow_risk_and_article_30() {
        use SubmissionType::*;
        let r = route(Initial, &graded("special_expert_committee"));
        assert_eq!(r.route, Route::SpecialExpertCommittee);
        assert_eq!(
            r.rule.as_deref(),
            Some("cn.ethics.special_expert_committee")
        );
        assert_eq!(
            route(Initial, &graded("full_committee")).route,
            Route::FullCommittee
        );
        // Low risk in the grading, and minimal risk declared (simplified procedure, first case).
        let mut low = graded("simplified");
        low.minimal_risk = true;
        let r = route(Initial, &low);
        assert_eq!(r.route, Route::Simplified);
        assert_eq!(r.basis[0].article, "第三章 简易程序");
        low.minimal_risk = false;
        assert_eq!(route(Initial, &low).route, Route::FullCommittee);
        // An intervention study can never be exempt (第三十二条).
        let mut ex = graded("full_committee");
        ex.exemption = Some(ExemptionGround::AnonymisedData);
        assert_eq!(route(Initial, &ex).route, Route::FullCommittee);
        ex.intervention = false;
        ex.rules_route = None;
        let r = route(Initial, &ex);
        assert_eq!(r.route, Route::Exempt);
        assert_eq!(r.basis[0].article, "第三十二条");
        ex.sensitive_or_commercial = true;
        assert_eq!(route(Initial, &ex).route, Route::FullCommittee);
        // Minor amendment: simplified (second case), but not for high risk.
        let mut a = graded("full_committee");
        a.minor_amendment = true;
        assert_eq!(route(Amendment, &a).route, Route::Simplified);
        let mut h = graded("special_expert_committee");
        h.minor_amendment = true;
        assert_eq!(route(Amendment, &h).route, Route::SpecialExpertCommittee);
        // Continuing review (third case) unless new risks appeared.
        assert_eq!(route(ContinuingReview, &a).route, Route::Simplified);
        a.new_risk = true;
        assert_eq!(route(ContinuingReview, &a).route, Route::FullCommittee);
        // A participating site's confirmation (fourth case).
        let mut rel = graded("full_committee");
        rel.reliance_confirmation = true;
        let r = route(Initial, &rel);
        assert_eq!(r.route, Route::Simplified);
        assert_eq!(r.basis[1].article, "第三章 多机构研究");
        // A fatal or unexpected related SAE goes to a meeting.
        let mut sae = graded("full_committee");
        assert_eq!(route(SeriousAdverseEvent, &sae).route, Route::Simplified);
        sae.unexpected_related_or_fatal = true;
        assert_eq!(route(SeriousAdverseEvent, &sae).route, Route::FullCommittee);
    }

    #[test]
    fn simplified_review_turns_into_a_meeting() {
        use Decision::*;
        // Two or more reviewers; any disagreement, a
        // negative opinion or a request sends it to a meeting.
        assert_eq!(
            simplified_outcome(&[Approve, Approve], false),
            Some(Approve)
        );
        assert_eq!(simplified_outcome(&[Approve], false), None);
        assert_eq!(simplified_outcome(&[Approve, Resubmit], false), None);
        assert_eq!(simplified_outcome(&[Disapprove, Disapprove], false), None);
        assert_eq!(simplified_outcome(&[Approve, Approve], true), None);
    }

    #[test]
    fn approval_lapses_within_twelve_months() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(approval_lapses(d("2026-03-15"), 12), d("2027-03-14"));
        assert_eq!(approval_lapses(d("2026-01-31"), 1), d("2026-02-28"));
        assert_eq!(approval_lapses(d("2028-02-29"), 12), d("2029-02-28"));
        // An interval longer than 12 months is cut to 12 (the 2023 measures).
        assert_eq!(approval_lapses(d("2026-03-15"), 24), d("2027-03-14"));
        assert_eq!(approval_lapses(d("2026-11-01"), 6), d("2027-04-30"));
        let lapse = d("2027-03-14");
        assert_eq!(review_status(lapse, d("2026-12-01")), ReviewStatus::Current);
        assert_eq!(review_status(lapse, d("2027-02-01")), ReviewStatus::DueSoon);
        assert_eq!(review_status(lapse, d("2027-03-14")), ReviewStatus::DueSoon);
        assert_eq!(review_status(lapse, d("2027-03-15")), ReviewStatus::Lapsed);
    }

    #[test]
    fn experts_with_conflicts_are_excluded_and_work_is_spread() {
        let e = |id: &str, aff: &str, tags: &[&str], open: u32, interests: &[&str]| Expert {
            id: id.into(),
            name: id.into(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            affiliation: aff.into(),
            declared_interests: interests.iter().map(|s| s.to_string()).collect(),
            open_reviews: open,
        };
        let pool = vec![
            e("x1", "org-site", &["cell_therapy"], 0, &[]),
            e("x2", "org-other", &["cell_therapy"], 3, &[]),
            e("x3", "org-uni", &["cell_therapy", "paediatrics"], 1, &[]),
            e("x4", "org-uni", &["law"], 0, &["org-sponsor"]),
            e("x5", "org-sponsor", &["gene_therapy"], 0, &[]),
            e("x6", "org-uni2", &["cell_therapy", "paediatrics"], 1, &[]),
            e("x7", "org-uni3", &["ethics"], 0, &[]),
        ];
        let (chosen, excluded) = assign_experts(
            &pool,
            "org-site",
            Some("org-sponsor"),
            &["cell_therapy", "paediatrics", "gene_therapy"],
            2,
        );
        assert_eq!(chosen, vec!["x3", "x6"]);
        let reasons: Vec<(&str, &str)> = excluded
            .iter()
            .map(|x| (x.expert.as_str(), x.reason))
            .collect();
        assert_eq!(
            reasons,
            vec![
                ("x1", "affiliated_with_site"),
                ("x4", "declared_interest"),
                ("x5", "affiliated_with_sponsor")
            ]
        );
    }

    #[test]
    fn reliance_statuses_and_days_saved() {
        use RelianceStatus::*;
        assert!(Proposed.next().contains(&AgreementSigned));
        assert!(Relied.next().is_empty());
        assert!(!Proposed.next().contains(&Relied));
        // Lead took 40 days; two sites relied within 5 and 12 days, one
        // declined: 35 + 28 days saved.
        assert_eq!(
            days_saved(40, &[(Relied, 5), (Relied, 12), (Declined, 60)]),
            63
        );
    }
}
