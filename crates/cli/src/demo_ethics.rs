//! The demo's ethics review and consent: four committees with their
//! members, an expert pool, a multi-centre CAR-T study reviewed by the lead
//! committee and relied on by two sites (a third declines and reviews it
//! itself), subjects with their consents, an amendment that brings a new
//! consent version and re-consent tasks, withdrawals, a simplified review,
//! and a review still open past its 30 days. Every step goes through the
//! same commands as the API.

use base64::Engine as _;
use celltrail_core::consent::{Scope, VersionTerms};
use celltrail_core::ethics::{RouteFacts, Vote};
use celltrail_store::ethics::{self as e};
use celltrail_store::service::{self, Actor, ProjectInput, SignInput, When};
use celltrail_store::{Store, StoreResult};
use chrono::{Duration, NaiveDate};

use crate::demo::{actor, day, demo_profile, DEMO_PASSWORD};

fn at(d: NaiveDate, h: u32) -> When {
    When::at(d, h, 0)
}

fn doc(kind: &str, lang: &str, version: &str, text: &str) -> e::DocumentInput {
    e::DocumentInput {
        doc_kind: kind.into(),
        lang: lang.into(),
        version: version.into(),
        filename: format!("{kind}_{version}_{lang}.txt"),
        media_type: "text/plain; charset=utf-8".into(),
        content_b64: base64::engine::general_purpose::STANDARD.encode(text),
    }
}

fn sign(a: &Actor, hash: String) -> Option<SignInput> {
    Some(SignInput {
        username: a.username.clone(),
        password: DEMO_PASSWORD.into(),
        meaning: "approved".into(),
        record_hash: hash,
    })
}

async fn head(store: &dyn Store, submission: &str) -> StoreResult<String> {
    Ok(store
        .stream_head(&e::submission_stream(submission))
        .await?
        .map(|(_, h)| h)
        .unwrap_or_default())
}

/// (name, sex, field, from outside, role, linked user)
type Seat = (
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static str,
    Option<&'static str>,
);

struct Committee {
    id: &'static str,
    institution: Option<&'static str>,
    kind: &'static str,
    secretary: &'static str,
    seats: [Seat; 7],
}

const COMMITTEES: &[Committee] = &[
    Committee {
        id: "org-sh-shenjiang-ec",
        institution: Some("org-sh-shenjiang"),
        kind: "institutional",
        secretary: "shec.secretary",
        seats: [
            (
                "沈涛",
                "male",
                "medical",
                false,
                "chair",
                Some("shec.chair"),
            ),
            (
                "钱敏",
                "female",
                "medical",
                false,
                "vice_chair",
                Some("shec.member"),
            ),
            ("黄静", "female", "scientific", false, "member", None),
            ("朱海", "male", "scientific", false, "member", None),
            ("罗岚", "female", "ethics", true, "member", None),
            ("梁正", "male", "legal", true, "member", None),
            ("宋婉", "female", "lay", true, "member", None),
        ],
    },
    Committee {
        id: "org-sh-pujiang-ec",
        institution: Some("org-sh-pujiang-child"),
        kind: "institutional",
        secretary: "pjec.secretary",
        seats: [
            (
                "韩雪",
                "female",
                "medical",
                false,
                "chair",
                Some("pjec.chair"),
            ),
            ("唐宇", "male", "medical", false, "vice_chair", None),
            ("曾琳", "female", "scientific", false, "member", None),
            ("邓博", "male", "scientific", false, "member", None),
            ("许诺", "female", "ethics", true, "member", None),
            ("傅衡", "male", "legal", true, "member", None),
            ("程月", "female", "lay", true, "member", None),
        ],
    },
    Committee {
        id: "org-hu-regional-ec",
        institution: None,
        kind: "regional",
        secretary: "hrec.secretary",
        seats: [
            (
                "谭青",
                "female",
                "medical",
                true,
                "chair",
                Some("hrec.chair"),
            ),
            ("贺军", "male", "medical", true, "vice_chair", None),
            ("易兰", "female", "scientific", true, "member", None),
            ("龙飞", "male", "scientific", true, "member", None),
            ("向晴", "female", "ethics", true, "member", None),
            ("石磊", "male", "legal", true, "member", None),
            ("舒雅", "female", "lay", true, "member", None),
        ],
    },
    Committee {
        id: "org-tj-haihe-ec",
        institution: Some("org-tj-haihe"),
        kind: "institutional",
        secretary: "thec.secretary",
        seats: [
            (
                "冯立",
                "male",
                "medical",
                false,
                "chair",
                Some("thec.chair"),
            ),
            ("于洁", "female", "medical", false, "vice_chair", None),
            ("任远", "male", "scientific", false, "member", None),
            ("袁芳", "female", "scientific", false, "member", None),
            ("白雪", "female", "ethics", true, "member", None),
            ("韦东", "male", "legal", true, "member", None),
            ("卢阿姨", "female", "lay", true, "member", None),
        ],
    },
];

async fn constitute(store: &dyn Store, c: &Committee, when: &When) -> StoreResult<Vec<String>> {
    let sec = actor(store, c.secretary).await?;
    e::constitute_committee(
        store,
        &sec,
        c.id,
        &e::ConstituteInput {
            institution_id: c.institution.map(str::to_string),
            kind: c.kind.into(),
        },
        "依据《涉及人的生命科学和医学研究伦理审查办法》组建 / constituted under the 2023 measures",
        when,
    )
    .await?;
    let mut ids = Vec::new();
    for (name, sex, field, external, role, user) in c.seats {
        let user_id = match user {
            Some(u) => Some(actor(store, u).await?.user_id),
            None => None,
        };
        let v = e::appoint_member(
            store,
            &sec,
            c.id,
            &e::MemberInput {
                name: name.into(),
                sex: sex.into(),
                expertise: field.into(),
                external,
                role: role.into(),
                user_id,
                appointed_on: "2026-01-01".into(),
            },
            "换届任命 / appointed for the 2026–2030 term",
            when,
        )
        .await?;
        ids.push(
            v.members
                .iter()
                .find(|m| m.name == name)
                .map(|m| m.id.clone())
                .unwrap_or_default(),
        );
    }
    Ok(ids)
}

/// A meeting that decides one submission: everyone present, `recused`
/// withdrawn, all others voting for `decision` except one.
async fn meeting_decides(
    store: &dyn Store,
    c: &Committee,
    members: &[String],
    submission: &str,
    recused: Option<usize>,
    when: &When,
) -> StoreResult<()> {
    let sec = actor(store, c.secretary).await?;
    let chair = actor(store, c.seats[0].5.unwrap_or_default()).await?;
    let m = e::schedule_meeting(
        store,
        &sec,
        c.id,
        &e::ScheduleInput {
            held_on: when.today.to_string(),
            agenda: vec![submission.to_string()],
        },
        when,
    )
    .await?;
    let mut rec = std::collections::BTreeMap::new();
    if let Some(i) = recused {
        rec.insert(submission.to_string(), vec![members[i].clone()]);
    }
    e::record_attendance(
        store,
        &sec,
        &m.meeting.id,
        &e::AttendanceInput {
            present: members.to_vec(),
            recused: rec,
        },
        when,
    )
    .await?;
    let votes: Vec<Vote> = members
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != recused)
        .map(|(i, m)| Vote {
            member: m.clone(),
            decision: Some(
                if i == 2 {
                    "approve_with_modifications"
                } else {
                    "approve"
                }
                .parse()
                .unwrap_or(celltrail_core::ethics::Decision::Approve),
            ),
            opinion: if i == 2 {
                "建议补充长期随访计划 / add a long-term follow-up plan".into()
            } else {
                String::new()
            },
        })
        .collect();
    e::vote_item(
        store,
        &chair,
        &m.meeting.id,
        submission,
        &e::VoteInput {
            votes,
            decide: e::DecideInput {
                review_interval_months: Some(12),
                conditions: "严格按批准方案执行；严重不良事件 24 小时内报告。Follow the approved protocol; report serious adverse events within 24 hours.".into(),
                signature: sign(&chair, head(store, submission).await?),
            },
        },
        when,
    )
    .await?;
    Ok(())
}

pub async fn load(store: &dyn Store, rules: &celltrail_core::rules::Engine) -> StoreResult<()> {
    let t0 = at(day(2026, 1, 6), 1);
    let mut seats = Vec::new();
    for c in COMMITTEES {
        seats.push(constitute(store, c, &t0).await?);
    }
    // The expert pool, kept by the national regulator.
    let nhc = actor(store, "nhc.officer").await?;
    let mut experts = Vec::new();
    for (name, aff, tags) in [
        (
            "方教授 Prof. Fang",
            "org-bj-yanjing",
            &["cell_therapy", "gene_therapy"][..],
        ),
        ("古教授 Prof. Gu", "org-sh-shenjiang", &["cell_therapy"][..]),
        (
            "柯研究员 Ke",
            "org-gd-zhujiang",
            &["gene_therapy", "rare_disease"][..],
        ),
        (
            "黎主任 Li",
            "org-sc-jincheng",
            &["paediatrics", "rare_disease"][..],
        ),
        ("闻律师 Wen", "org-cn-verify-lab", &["law"][..]),
        (
            "阮教授 Ruan",
            "org-js-taihu",
            &["ethics", "cell_therapy"][..],
        ),
    ] {
        let x = e::register_expert(
            store,
            &nhc,
            &e::ExpertInput {
                name: name.into(),
                affiliation: aff.into(),
                tags: tags.iter().map(|t| t.to_string()).collect(),
            },
            &t0,
        )
        .await?;
        experts.push(x.id);
    }
    e::declare_interest(
        store,
        &nhc,
        &experts[0],
        "org-sponsor-huashen",
        "担任申办者科学顾问 / scientific adviser to the sponsor",
        &t0,
    )
    .await?;

    // The multi-centre CAR-T study led by East China Hospital.
    let office = actor(store, "sjh.office").await?;
    let d = day(2026, 6, 2);
    let p = service::draft_project(
        store,
        &office,
        &ProjectInput {
            kind: "clinical_research".into(),
            title_zh: "CD19 CAR-T 细胞治疗复发难治 B 细胞急性淋巴细胞白血病多中心研究".into(),
            title_en: "CD19 CAR-T cells for relapsed or refractory B-cell acute lymphoblastic leukaemia: a multi-centre study".into(),
            summary_zh: "牵头单位：申江大学附属华东医院；参与单位：浦江儿童医学中心、湘江医院、海河血液病医院。演示数据。".into(),
            summary_en: "Lead: East China Hospital; sites: Pujiang Children's, Xiangjiang, Haihe. Synthetic demo record.".into(),
            category: "car_t".into(),
            pi_name: "周明".into(),
        },
        "demo data: multi-centre study drafted",
        &at(d, 1),
    )
    .await?;
    if let Some(profile) = demo_profile("car_t") {
        service::classify_project(
            store,
            &office,
            rules,
            &p.id,
            &service::ClassifyInput {
                profile,
                region: None,
                reason: "demo data: classified before ethics submission".into(),
            },
            &at(d, 2),
        )
        .await?;
    }
    let v1 = VersionTerms {
        version: 1,
        asks: [
            Scope::StudyData,
            Scope::SecondaryResearch,
            Scope::BiobankStorage,
            Scope::GeneticAnalysis,
            Scope::Recontact,
            Scope::ShareInstitutions,
        ]
        .into_iter()
        .collect(),
        material_change: false,
    };
    let lead = e::submit(
        store,
        &office,
        &p.id,
        &e::SubmissionInput {
            committee_id: "org-sh-shenjiang-ec".into(),
            kind: "initial".into(),
            facts: RouteFacts {
                intervention: true,
                ..Default::default()
            },
            consent_version: Some(v1.clone()),
            lead_id: None,
            documents: vec![
                doc(
                    "protocol",
                    "zh-CN",
                    "1.0",
                    "CD19 CAR-T 多中心研究方案 第1.0版（演示）",
                ),
                doc(
                    "investigator_brochure",
                    "en",
                    "3.2",
                    "Investigator's brochure, CD19 CAR-T, edition 3.2 (demo)",
                ),
                doc("consent_form", "zh-CN", "1.0", "知情同意书 第1.0版（演示）"),
                doc(
                    "consent_form",
                    "en",
                    "1.0",
                    "Informed consent form version 1.0 (demo)",
                ),
                doc(
                    "assent_form",
                    "zh-CN",
                    "1.0",
                    "儿童知情赞同书 第1.0版（演示）",
                ),
            ],
        },
        &at(d + Duration::days(1), 1),
    )
    .await?;
    let shec = &COMMITTEES[0];
    let shec_sec = actor(store, shec.secretary).await?;
    e::assign_pool_experts(
        store,
        &shec_sec,
        &lead.submission.id,
        &e::AssignExpertsInput {
            tags: vec![
                "cell_therapy".into(),
                "gene_therapy".into(),
                "paediatrics".into(),
            ],
            count: 2,
            sponsor_id: Some("org-sponsor-huashen".into()),
        },
        &at(d + Duration::days(2), 1),
    )
    .await?;
    // Decided at the meeting of 2026-06-20; member 4 withdraws (consults
    // for the sponsor).
    meeting_decides(
        store,
        shec,
        &seats[0],
        &lead.submission.id,
        Some(3),
        &at(day(2026, 6, 20), 6),
    )
    .await?;

    // Reliance at three sites; Haihe declines and reviews itself.
    let t = at(day(2026, 6, 24), 2);
    let mut rel = Vec::new();
    for (site, committee) in [
        ("org-sh-pujiang-child", "org-sh-pujiang-ec"),
        ("org-hu-xiangjiang", "org-hu-regional-ec"),
        ("org-tj-haihe", "org-tj-haihe-ec"),
    ] {
        rel.push(
            e::propose_reliance(
                store,
                &office,
                &lead.submission.id,
                &e::ProposeInput {
                    site_id: site.into(),
                    committee_id: committee.into(),
                },
                &t,
            )
            .await?,
        );
    }
    for (i, r) in rel.iter().enumerate().take(2) {
        let sec = actor(store, COMMITTEES[1 + i].secretary).await?;
        let mv = |to: &str, agreement: Option<&str>, local: Option<&str>| e::MoveRelianceInput {
            to: to.into(),
            agreement: agreement.map(str::to_string),
            local_considerations: local.map(str::to_string),
            reason: String::new(),
        };
        let base = day(2026, 6, 26) + Duration::days(i as i64 * 3);
        e::move_reliance(
            store,
            &sec,
            &r.id,
            &mv(
                "agreement_signed",
                Some(["沪伦互认协议 2026-031", "湘伦互认协议 2026-007"][i]),
                None,
            ),
            &at(base, 2),
        )
        .await?;
        e::move_reliance(store, &sec, &r.id, &mv("local_review", None, Some(["儿科床位、PICU 支持与儿童赞同流程已确认。Paediatric beds, PICU support and the child assent process confirmed.", "本院细胞治疗病房与 CRS 处置能力已确认。Cell therapy ward and CRS management capacity confirmed."][i])), &at(base + Duration::days(1), 2)).await?;
        e::move_reliance(
            store,
            &sec,
            &r.id,
            &mv("relied", None, None),
            &at(base + Duration::days(2), 2),
        )
        .await?;
    }
    let thec_sec = actor(store, COMMITTEES[3].secretary).await?;
    let declined = e::move_reliance(
        store,
        &thec_sec,
        &rel[2].id,
        &e::MoveRelianceInput {
            to: "declined".into(),
            agreement: None,
            local_considerations: None,
            reason: "本院为血液病专科医院，需独立评估成人受试者 CRS 分级处置方案。As a haematology hospital we review the adult CRS management plan ourselves.".into(),
        },
        &at(day(2026, 6, 27), 3),
    )
    .await?;
    if let Some(own) = &declined.own_submission_id {
        meeting_decides(
            store,
            &COMMITTEES[3],
            &seats[3],
            own,
            None,
            &at(day(2026, 7, 15), 6),
        )
        .await?;
    }

    // Subjects and consent.
    let pj = actor(store, "pjc.office").await?;
    let xj = actor(store, "xiangjiang.office").await?;
    let hh = actor(store, "haihe.office").await?;
    let all_v1: Vec<String> = v1.asks.names().iter().map(|s| s.to_string()).collect();
    let mut enrolled = Vec::new();
    // (site actor, code, age, refuses)
    let plan: [(&Actor, &str, u32, &[&str]); 9] = [
        (&office, "SJ-001", 34, &[]),
        (&office, "SJ-002", 52, &["secondary_research"]),
        (&office, "SJ-003", 27, &[]),
        (&office, "SJ-004", 61, &["share_institutions"]),
        (&pj, "PJ-001", 9, &[]),
        (&pj, "PJ-002", 15, &["genetic_analysis"]),
        (&pj, "PJ-003", 6, &[]),
        (&xj, "XJ-001", 44, &[]),
        (&hh, "HH-001", 38, &[]),
    ];
    for (i, (who, code, age, refuses)) in plan.iter().enumerate() {
        let when = at(day(2026, 7, 20) + Duration::days(i as i64 * 4), 2);
        let s = e::enrol_subject(
            store,
            who,
            &p.id,
            &e::EnrolInput {
                code: code.to_string(),
                enrolled_on: when.today.to_string(),
            },
            &when,
        )
        .await?;
        let minor = *age < 18;
        e::record_consent(
            store,
            who,
            &s.id,
            &e::ConsentInput {
                version: 1,
                signed_on: when.today.to_string(),
                method: if i % 3 == 0 {
                    "paper_scanned"
                } else {
                    "e_consent"
                }
                .into(),
                age_years: *age,
                can_read: *code != "SJ-004",
                witness: (*code == "SJ-004")
                    .then(|| "公正见证人 王护士 / impartial witness Nurse Wang".to_string()),
                guardian: minor.then(|| "监护人（父母）/ parent".to_string()),
                assent: (minor && *age >= 8).then_some(true),
                scopes: all_v1
                    .iter()
                    .filter(|x| !refuses.contains(&x.as_str()))
                    .cloned()
                    .collect(),
            },
            &when,
        )
        .await?;
        enrolled.push((s.id, *who));
    }

    // Amendment: version 2 adds 15-year follow-up and integration-site
    // analysis; a material change, so every active subject re-consents.
    let v2 = VersionTerms {
        version: 2,
        asks: v1.asks.with(Scope::CommercialUse),
        material_change: true,
    };
    let amend = e::submit(
        store,
        &office,
        &p.id,
        &e::SubmissionInput {
            committee_id: "org-sh-shenjiang-ec".into(),
            kind: "amendment".into(),
            facts: RouteFacts {
                intervention: true,
                ..Default::default()
            },
            consent_version: Some(v2),
            lead_id: None,
            documents: vec![
                doc(
                    "protocol",
                    "zh-CN",
                    "2.0",
                    "方案第2.0版：增加15年长期随访与整合位点分析（演示）",
                ),
                doc("consent_form", "zh-CN", "2.0", "知情同意书 第2.0版（演示）"),
                doc(
                    "consent_form",
                    "en",
                    "2.0",
                    "Informed consent form version 2.0 (demo)",
                ),
            ],
        },
        &at(day(2026, 9, 1), 2),
    )
    .await?;
    meeting_decides(
        store,
        shec,
        &seats[0],
        &amend.submission.id,
        None,
        &at(day(2026, 9, 18), 6),
    )
    .await?;
    for (sid, who) in enrolled.iter().take(3) {
        let when = at(day(2026, 10, 8), 3);
        e::record_consent(
            store,
            who,
            sid,
            &e::ConsentInput {
                version: 2,
                signed_on: when.today.to_string(),
                method: "e_consent".into(),
                age_years: 40,
                can_read: true,
                witness: None,
                guardian: None,
                assent: None,
                scopes: vec![
                    "study_data".into(),
                    "biobank_storage".into(),
                    "genetic_analysis".into(),
                    "recontact".into(),
                    "share_institutions".into(),
                ],
            },
            &when,
        )
        .await?;
    }
    // A partial withdrawal (genetic analysis) and a whole withdrawal.
    e::withdraw_consent(
        store,
        &office,
        &enrolled[2].0,
        &e::WithdrawInput {
            scopes: vec!["genetic_analysis".into()],
            whole: false,
            samples: None,
            reason: "受试者不再同意基因分析 / no longer agrees to genetic analysis".into(),
        },
        &at(day(2026, 10, 20), 3),
    )
    .await?;
    e::withdraw_consent(
        store,
        &xj,
        &enrolled[7].0,
        &e::WithdrawInput {
            scopes: vec![],
            whole: true,
            samples: Some("destroy".into()),
            reason: "受试者因搬迁退出研究 / moved away and withdrew".into(),
        },
        &at(day(2026, 11, 2), 3),
    )
    .await?;

    // A low-risk observational MSC study: simplified review.
    let msc = service::draft_project(
        store,
        &office,
        &ProjectInput {
            kind: "clinical_research".into(),
            title_zh: "间充质干细胞治疗后膝骨关节炎患者的生活质量观察研究".into(),
            title_en: "Quality of life after MSC treatment for knee osteoarthritis: an observational study".into(),
            summary_zh: "仅收集问卷与病历数据，不施加干预。演示数据。".into(),
            summary_en: "Questionnaires and records only; no intervention. Synthetic demo record.".into(),
            category: "msc".into(),
            pi_name: "李华".into(),
        },
        "demo data: observational study drafted",
        &at(day(2026, 9, 20), 2),
    )
    .await?;
    let obs = e::submit(
        store,
        &office,
        &msc.id,
        &e::SubmissionInput {
            committee_id: "org-sh-shenjiang-ec".into(),
            kind: "initial".into(),
            facts: RouteFacts {
                minimal_risk: true,
                intervention: false,
                ..Default::default()
            },
            consent_version: None,
            lead_id: None,
            documents: vec![doc("protocol", "zh-CN", "1.0", "观察性研究方案（演示）")],
        },
        &at(day(2026, 9, 21), 2),
    )
    .await?;
    e::assign_reviewers(
        store,
        &shec_sec,
        &obs.submission.id,
        &seats[0][..2],
        &at(day(2026, 9, 22), 2),
    )
    .await?;
    let chair = actor(store, "shec.chair").await?;
    let member = actor(store, "shec.member").await?;
    for (who, h) in [(&chair, 2), (&member, 3)] {
        e::give_opinion(
            store,
            who,
            &obs.submission.id,
            &e::OpinionInput {
                opinion: "approve".into(),
                note: "不大于最小风险 / no more than minimal risk".into(),
                meeting_requested: false,
            },
            &at(day(2026, 9, 25), h),
        )
        .await?;
    }
    e::decide_without_meeting(
        store,
        &chair,
        &obs.submission.id,
        &e::DecideInput {
            review_interval_months: Some(12),
            conditions: String::new(),
            signature: sign(&chair, head(store, &obs.submission.id).await?),
        },
        &at(day(2026, 9, 26), 2),
    )
    .await?;

    // An iPSC study still awaiting review (past its 30 days).
    let ipsc = service::draft_project(
        store,
        &office,
        &ProjectInput {
            kind: "clinical_research".into(),
            title_zh: "iPSC 来源多巴胺能神经前体细胞治疗帕金森病首次人体研究".into(),
            title_en:
                "iPSC-derived dopaminergic progenitors for Parkinson's disease: first in human"
                    .into(),
            summary_zh: "演示数据。".into(),
            summary_en: "Synthetic demo record.".into(),
            category: "ipsc_derived".into(),
            pi_name: "周明".into(),
        },
        "demo data: drafted",
        &at(day(2026, 10, 8), 2),
    )
    .await?;
    if let Some(profile) = demo_profile("ipsc_derived") {
        service::classify_project(
            store,
            &office,
            rules,
            &ipsc.id,
            &service::ClassifyInput {
                profile,
                region: None,
                reason: "demo data: classified".into(),
            },
            &at(day(2026, 10, 8), 3),
        )
        .await?;
    }
    e::submit(
        store,
        &office,
        &ipsc.id,
        &e::SubmissionInput {
            committee_id: "org-sh-shenjiang-ec".into(),
            kind: "initial".into(),
            facts: RouteFacts {
                intervention: true,
                ..Default::default()
            },
            consent_version: None,
            lead_id: None,
            documents: vec![doc(
                "protocol",
                "zh-CN",
                "1.0",
                "iPSC 首次人体研究方案（演示）",
            )],
        },
        &at(day(2026, 10, 10), 2),
    )
    .await?;
    Ok(())
}
