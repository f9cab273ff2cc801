//! Ethics review and dynamic consent stories, each run on SQLite and (when
//! CELLTRAIL_TEST_PG_URL is set) PostgreSQL.

use base64::Engine as _;
use celltrail_core::consent::VersionTerms;
use celltrail_core::consent::{Scope, Scopes};
use celltrail_core::ethics::{RouteFacts, Vote};
use celltrail_store::ethics::{self as e, *};
use celltrail_store::service::{self, load_actor, Actor, ProjectInput, SignInput, When};
use celltrail_store::testkit::{backends, org_input, test_user};
use celltrail_store::DynStore;
use chrono::NaiveDate;
use serde_json::json;

const PW: &str = "correct horse battery staple";

fn org(id: &str, org_type: &str) -> celltrail_store::service::OrgInput {
    org_input(id, org_type, "43")
}

async fn user(store: &DynStore, org: &str, username: &str, role: &str) -> Actor {
    test_user(store.as_ref(), org, username, role).await
}

fn day(s: &str) -> When {
    When::at(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap(), 9, 0)
}

fn sign(a: &Actor, hash: &str) -> Option<SignInput> {
    Some(SignInput {
        username: a.username.clone(),
        password: PW.into(),
        meaning: "approved".into(),
        record_hash: hash.into(),
    })
}

fn doc(kind: &str, lang: &str, version: &str, text: &str) -> DocumentInput {
    DocumentInput {
        doc_kind: kind.into(),
        lang: lang.into(),
        version: version.into(),
        filename: format!("{kind}-{lang}-{version}.pdf"),
        media_type: "application/pdf".into(),
        content_b64: base64::engine::general_purpose::STANDARD.encode(text),
    }
}

struct Committee {
    secretary: Actor,
    chair: Actor,
    members: Vec<String>,
}

/// An ethics committee for a hospital, with seven members shaped as the
/// 2023 measures ask (第七条): life sciences, medicine, bioethics, law, an
/// outside lay person, both sexes. The chair is linked to a user account.
async fn committee(store: &DynStore, id: &str, hospital: &str, when: &When) -> Committee {
    let sys = Actor::system();
    service::register_org(
        store.as_ref(),
        &sys,
        &org(id, "ethics_committee"),
        "test",
        when,
    )
    .await
    .unwrap();
    let secretary = user(store, id, &format!("{id}.sec"), "ethics_secretary").await;
    let chair = user(store, id, &format!("{id}.chair"), "ethics_member").await;
    e::constitute_committee(
        store.as_ref(),
        &secretary,
        id,
        &ConstituteInput {
            institution_id: Some(hospital.into()),
            kind: "institutional".into(),
        },
        "组建",
        when,
    )
    .await
    .unwrap();
    let roster = [
        (
            "周主任",
            "male",
            "medical",
            false,
            "chair",
            Some(chair.user_id.clone()),
        ),
        ("李医生", "female", "medical", false, "vice_chair", None),
        ("王研究员", "female", "scientific", false, "member", None),
        ("赵研究员", "male", "scientific", false, "member", None),
        ("钱教授", "female", "ethics", true, "member", None),
        ("孙律师", "male", "legal", true, "member", None),
        ("吴女士", "female", "lay", true, "member", None),
    ];
    let mut view = None;
    for (name, sex, expertise, external, role, uid) in roster.clone() {
        view = Some(
            e::appoint_member(
                store.as_ref(),
                &secretary,
                id,
                &MemberInput {
                    name: name.into(),
                    sex: sex.into(),
                    expertise: expertise.into(),
                    external,
                    role: role.into(),
                    user_id: uid,
                    appointed_on: "2026-01-01".into(),
                },
                "任命",
                when,
            )
            .await
            .unwrap(),
        );
    }
    let view = view.unwrap();
    assert!(view.findings.is_empty(), "{:?}", view.findings);
    Committee {
        secretary,
        chair,
        // In roster order: [3] is a scientist, [6] the lay member.
        members: roster
            .iter()
            .map(|r| {
                view.members
                    .iter()
                    .find(|m| m.name == r.0)
                    .unwrap()
                    .id
                    .clone()
            })
            .collect(),
    }
}

async fn head(store: &DynStore, submission: &str) -> String {
    store
        .stream_head(&submission_stream(submission))
        .await
        .unwrap()
        .unwrap()
        .1
}

fn votes(members: &[String], yes: usize, other: &str) -> Vec<Vote> {
    members
        .iter()
        .enumerate()
        .map(|(i, m)| Vote {
            member: m.clone(),
            decision: Some(if i < yes { "approve" } else { other }.parse().unwrap()),
            opinion: String::new(),
        })
        .collect()
}

/// A multi-centre CAR-T study: initial submission at the lead hospital's
/// committee, routed by the saved classification to the special expert
/// committee; a meeting with a recusal decides; three sites are proposed
/// reliance (two rely, one declines and gets its own review); subjects
/// consent; an amendment with a new consent version creates re-consent
/// tasks; a partial and a whole withdrawal; exports honour them; the ledger
/// verifies and replay rebuilds the same read models.
#[tokio::test]
async fn multi_centre_review_reliance_and_dynamic_consent_on_every_backend() {
    let engine =
        celltrail_core::rules::Engine::compile(&celltrail_core::rules::builtin_sources()).unwrap();
    for b in backends().await {
        let store = &b.store;
        let t0 = day("2026-06-01");
        service::bootstrap(store.as_ref(), "admin", PW, &t0)
            .await
            .unwrap();
        let sys = Actor::system();
        for h in ["org-lead", "org-s2", "org-s3", "org-s4"] {
            service::register_org(
                store.as_ref(),
                &sys,
                &org(h, "medical_institution"),
                "test",
                &t0,
            )
            .await
            .unwrap();
        }
        service::register_org(
            store.as_ref(),
            &sys,
            &org("org-sponsor", "sponsor"),
            "test",
            &t0,
        )
        .await
        .unwrap();

        // A committee one member short cannot meet.
        let ec1 = committee(store, "org-ec1", "org-lead", &t0).await;
        let ec2 = committee(store, "org-ec2", "org-s2", &t0).await;
        let ec3 = committee(store, "org-ec3", "org-s3", &t0).await;
        let ec4 = committee(store, "org-ec4", "org-s4", &t0).await;

        let lead = user(store, "org-lead", "lead.office", "research_office").await;
        let s2 = user(store, "org-s2", "s2.office", "research_office").await;
        let s4 = user(store, "org-s4", "s4.office", "research_office").await;
        let p = service::draft_project(
            store.as_ref(),
            &lead,
            &ProjectInput {
                kind: "clinical_research".into(),
                title_zh: "CD19 CAR-T 多中心研究".into(),
                title_en: "CD19 CAR-T multi-centre study".into(),
                summary_zh: String::new(),
                summary_en: String::new(),
                category: "car_t".into(),
                pi_name: "周明".into(),
            },
            "draft",
            &t0,
        )
        .await
        .unwrap();
        // The rules engine grades a genetically modified product high risk
        // (CN grading pack cn.risk.high → cn.ethics.high).
        service::classify_project(
            store.as_ref(),
            &lead,
            &engine,
            &p.id,
            &service::ClassifyInput {
                profile: json!({
                    "cell_origin": "autologous", "material": "immune_cells", "manipulation": "substantial",
                    "homologous_use": false, "genetic_modification": "integrating_vector", "in_vivo": false,
                    "combined_with_device": false, "combined_with_other_article": false, "systemic_effect": true,
                    "same_surgical_procedure": false, "serious_condition": true, "first_in_human": false,
                    "purpose": "research"
                }),
                region: None,
                reason: "classified".into(),
            },
            &t0,
        )
        .await
        .unwrap();

        let v1 = VersionTerms {
            version: 1,
            asks: [
                Scope::StudyData,
                Scope::BiobankStorage,
                Scope::GeneticAnalysis,
                Scope::Recontact,
                Scope::ShareInstitutions,
            ]
            .into_iter()
            .collect(),
            material_change: false,
        };
        let initial = SubmissionInput {
            committee_id: "org-ec1".into(),
            kind: "initial".into(),
            facts: RouteFacts {
                intervention: true,
                ..Default::default()
            },
            consent_version: Some(v1.clone()),
            lead_id: None,
            documents: vec![
                doc("protocol", "zh-CN", "1.0", "方案 1.0"),
                doc("consent_form", "zh-CN", "1.0", "知情同意书 1.0"),
                doc("consent_form", "en", "1.0", "Consent form 1.0"),
            ],
        };
        // A consent version needs the form in both languages.
        let mut one_lang = initial.clone();
        one_lang.documents.pop();
        let err = e::submit(store.as_ref(), &lead, &p.id, &one_lang, &t0)
            .await
            .unwrap_err();
        assert_eq!(err.code, "consent_form_languages", "{}", b.name);
        let sub = e::submit(store.as_ref(), &lead, &p.id, &initial, &t0)
            .await
            .unwrap();
        assert_eq!(
            sub.submission.route, "special_expert_committee",
            "{}",
            b.name
        );
        assert_eq!(sub.submission.rule.as_deref(), Some("cn.ethics.high"));
        assert_eq!(sub.documents.len(), 3);
        // Each document version's SHA-256 is in the ledger and its bytes are
        // kept under it (FIPS 180-4 digest of the text).
        let sha = celltrail_ledger::sha256_hex("方案 1.0".as_bytes());
        assert_eq!(sub.documents[0].sha256, sha);
        assert!(store.blob(&sha).await.unwrap().is_some());

        // Experts from the pool: one works at the site, one declared an
        // interest in the sponsor; both are excluded with the reason.
        let platform = load_actor(
            store.as_ref(),
            &store.user_by_username("admin").await.unwrap().unwrap().id,
        )
        .await
        .unwrap();
        let mut pool = Vec::new();
        for (name, aff, tags) in [
            ("甲专家", "org-lead", vec!["cell_therapy"]),
            ("乙专家", "org-s3", vec!["cell_therapy", "gene_therapy"]),
            ("丙专家", "org-s2", vec!["gene_therapy"]),
            ("丁专家", "org-s4", vec!["ethics"]),
        ] {
            pool.push(
                e::register_expert(
                    store.as_ref(),
                    &platform,
                    &ExpertInput {
                        name: name.into(),
                        affiliation: aff.into(),
                        tags: tags.into_iter().map(String::from).collect(),
                    },
                    &t0,
                )
                .await
                .unwrap()
                .id,
            );
        }
        e::declare_interest(
            store.as_ref(),
            &platform,
            &pool[1],
            "org-sponsor",
            "顾问 / consultancy",
            &t0,
        )
        .await
        .unwrap();
        let assigned = e::assign_pool_experts(
            store.as_ref(),
            &ec1.secretary,
            &sub.submission.id,
            &AssignExpertsInput {
                tags: vec!["cell_therapy".into(), "gene_therapy".into()],
                count: 1,
                sponsor_id: Some("org-sponsor".into()),
            },
            &t0,
        )
        .await
        .unwrap();
        assert_eq!(assigned.reviewers.len(), 1, "{}", b.name);
        assert_eq!(assigned.reviewers[0].reviewer, pool[2]);
        let events = store
            .stream_events(&submission_stream(&sub.submission.id))
            .await
            .unwrap();
        let assign: ReviewersAssigned =
            serde_json::from_value(events.last().unwrap().payload.clone()).unwrap();
        let mut reasons: Vec<(&str, &str)> = assign
            .excluded
            .iter()
            .map(|x| (x.expert.as_str(), x.reason.as_str()))
            .collect();
        reasons.sort();
        let mut want = vec![
            (pool[0].as_str(), "affiliated_with_site"),
            (pool[1].as_str(), "declared_interest"),
        ];
        want.sort();
        assert_eq!(reasons, want, "{}", b.name);

        // The meeting: all seven present, one member recused.
        let t1 = day("2026-06-20");
        let m = e::schedule_meeting(
            store.as_ref(),
            &ec1.secretary,
            "org-ec1",
            &ScheduleInput {
                held_on: "2026-06-20".into(),
                agenda: vec![sub.submission.id.clone()],
            },
            &t1,
        )
        .await
        .unwrap();
        let mut recused = std::collections::BTreeMap::new();
        recused.insert(sub.submission.id.clone(), vec![ec1.members[3].clone()]);
        // Too few present: only three of seven.
        e::record_attendance(
            store.as_ref(),
            &ec1.secretary,
            &m.meeting.id,
            &AttendanceInput {
                present: ec1.members[..3].to_vec(),
                recused: Default::default(),
            },
            &t1,
        )
        .await
        .unwrap();
        let err = e::vote_item(
            store.as_ref(),
            &ec1.chair,
            &m.meeting.id,
            &sub.submission.id,
            &VoteInput {
                votes: vec![],
                decide: DecideInput {
                    review_interval_months: None,
                    conditions: String::new(),
                    signature: None,
                },
            },
            &t1,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, "quorum_not_met", "{}", b.name);
        e::record_attendance(
            store.as_ref(),
            &ec1.secretary,
            &m.meeting.id,
            &AttendanceInput {
                present: ec1.members.clone(),
                recused,
            },
            &t1,
        )
        .await
        .unwrap();
        // The recused member's vote is refused.
        let mut with_recused = votes(&ec1.members, 5, "resubmit");
        let err = e::vote_item(
            store.as_ref(),
            &ec1.chair,
            &m.meeting.id,
            &sub.submission.id,
            &VoteInput {
                votes: with_recused.clone(),
                decide: DecideInput {
                    review_interval_months: None,
                    conditions: String::new(),
                    signature: sign(&ec1.chair, &head(store, &sub.submission.id).await),
                },
            },
            &t1,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, "vote_by_recused", "{}", b.name);
        with_recused.remove(3);
        let hash = head(store, &sub.submission.id).await;
        e::vote_item(
            store.as_ref(),
            &ec1.chair,
            &m.meeting.id,
            &sub.submission.id,
            &VoteInput {
                votes: with_recused,
                decide: DecideInput {
                    review_interval_months: Some(12),
                    conditions: "按方案执行".into(),
                    signature: sign(&ec1.chair, &hash),
                },
            },
            &t1,
        )
        .await
        .unwrap();
        let decided = e::submission(store.as_ref(), &sub.submission.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            decided.submission.decision.as_deref(),
            Some("approve"),
            "{}",
            b.name
        );
        // Approved 2026-06-20 for 12 months: valid through 2027-06-19.
        assert_eq!(decided.submission.lapses_on.as_deref(), Some("2027-06-19"));
        assert_eq!(
            decided.decision.as_ref().unwrap().signature.printed_name,
            ec1.chair.display_name
        );
        assert_eq!(
            e::consent_versions(store.as_ref(), &p.id)
                .await
                .unwrap()
                .len(),
            1
        );

        // Reliance at three sites; the fourth declines and gets its own review.
        let t2 = day("2026-06-25");
        let mut rel = Vec::new();
        for (site, c) in [
            ("org-s2", "org-ec2"),
            ("org-s3", "org-ec3"),
            ("org-s4", "org-ec4"),
        ] {
            rel.push(
                e::propose_reliance(
                    store.as_ref(),
                    &lead,
                    &sub.submission.id,
                    &ProposeInput {
                        site_id: site.into(),
                        committee_id: c.into(),
                    },
                    &t2,
                )
                .await
                .unwrap(),
            );
        }
        let mv = |to: &str| MoveRelianceInput {
            to: to.into(),
            agreement: (to == "agreement_signed").then(|| "互认协议 2026-017".to_string()),
            local_considerations: (to == "local_review")
                .then(|| "本院床位与 ICU 支持已确认".to_string()),
            reason: if to == "declined" {
                "本院需独立评估儿童受试者保护".into()
            } else {
                String::new()
            },
        };
        let t3 = day("2026-06-30");
        for (r, c) in [(&rel[0], &ec2), (&rel[1], &ec3)] {
            // Reliance cannot be reached before the agreement.
            let err = e::move_reliance(store.as_ref(), &c.secretary, &r.id, &mv("relied"), &t3)
                .await
                .unwrap_err();
            assert_eq!(err.code, "workflow_transition_not_allowed", "{}", b.name);
            for to in ["agreement_signed", "local_review", "relied"] {
                e::move_reliance(store.as_ref(), &c.secretary, &r.id, &mv(to), &t3)
                    .await
                    .unwrap();
            }
        }
        // Another committee cannot move this site's reliance.
        let err = e::move_reliance(
            store.as_ref(),
            &ec2.secretary,
            &rel[2].id,
            &mv("declined"),
            &t3,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, "reliance_not_found");
        let declined = e::move_reliance(
            store.as_ref(),
            &ec4.secretary,
            &rel[2].id,
            &mv("declined"),
            &t3,
        )
        .await
        .unwrap();
        let own = declined
            .own_submission_id
            .clone()
            .expect("own review opened");
        let own_view = e::submission(store.as_ref(), &own).await.unwrap().unwrap();
        assert_eq!(
            (
                own_view.submission.committee_id.as_str(),
                own_view.submission.site_id.as_str()
            ),
            ("org-ec4", "org-s4")
        );
        // Lead review took 19 days (06-01 → 06-20); sites relied 10 days
        // after the decision: 9 days saved at each of two sites.
        assert_eq!(
            e::reliance_days_saved(store.as_ref(), &p.id, t3.today)
                .await
                .unwrap(),
            18,
            "{}",
            b.name
        );

        // Enrolment needs an approval covering the site.
        let err = e::enrol_subject(
            store.as_ref(),
            &s4,
            &p.id,
            &EnrolInput {
                code: "S4-001".into(),
                enrolled_on: "2026-07-01".into(),
            },
            &day("2026-07-01"),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, "ethics_approval_required", "{}", b.name);
        let t4 = day("2026-07-01");
        let mut subjects = Vec::new();
        for (who, code) in [
            (&lead, "L-001"),
            (&lead, "L-002"),
            (&lead, "L-003"),
            (&s2, "S2-001"),
        ] {
            subjects.push(
                e::enrol_subject(
                    store.as_ref(),
                    who,
                    &p.id,
                    &EnrolInput {
                        code: code.into(),
                        enrolled_on: "2026-07-01".into(),
                    },
                    &t4,
                )
                .await
                .unwrap(),
            );
        }
        let all_v1: Vec<String> = v1.asks.names().iter().map(|s| s.to_string()).collect();
        let consent = |age: u32, guardian: Option<&str>, assent: Option<bool>| ConsentInput {
            version: 1,
            signed_on: "2026-07-01".into(),
            method: "e_consent".into(),
            age_years: age,
            can_read: true,
            witness: None,
            guardian: guardian.map(str::to_string),
            assent,
            scopes: all_v1.clone(),
        };
        // A 10-year-old: the guardian consents and the child assents
        // (民法典 第十九条).
        let err = e::record_consent(
            store.as_ref(),
            &lead,
            &subjects[2].id,
            &consent(10, Some("家长"), None),
            &t4,
        )
        .await
        .unwrap_err();
        assert_eq!(
            (err.code, err.field.as_deref()),
            ("consent_assent_required", Some("assent"))
        );
        for (i, s) in subjects.iter().enumerate() {
            let who = if s.site_id == "org-s2" { &s2 } else { &lead };
            let c = if i == 2 {
                consent(10, Some("家长"), Some(true))
            } else {
                consent(45, None, None)
            };
            e::record_consent(store.as_ref(), who, &s.id, &c, &t4)
                .await
                .unwrap();
        }
        // Another site cannot record consent for a subject it did not enrol.
        let err = e::record_consent(
            store.as_ref(),
            &s2,
            &subjects[0].id,
            &consent(45, None, None),
            &t4,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, "subject_not_found");

        // An amendment with consent version 2 (commercial use added).
        let v2 = VersionTerms {
            version: 2,
            asks: v1.asks.with(Scope::CommercialUse),
            material_change: false,
        };
        let amend = e::submit(
            store.as_ref(),
            &lead,
            &p.id,
            &SubmissionInput {
                committee_id: "org-ec1".into(),
                kind: "amendment".into(),
                facts: RouteFacts {
                    intervention: true,
                    minor_amendment: true,
                    ..Default::default()
                },
                consent_version: Some(v2.clone()),
                lead_id: None,
                documents: vec![
                    doc("consent_form", "zh-CN", "2.0", "知情同意书 2.0"),
                    doc("consent_form", "en", "2.0", "Consent form 2.0"),
                ],
            },
            &day("2026-08-01"),
        )
        .await
        .unwrap();
        // High-risk research: even a minor amendment goes to the special
        // expert committee.
        assert_eq!(amend.submission.route, "special_expert_committee");
        let t5 = day("2026-08-10");
        let m2 = e::schedule_meeting(
            store.as_ref(),
            &ec1.secretary,
            "org-ec1",
            &ScheduleInput {
                held_on: "2026-08-10".into(),
                agenda: vec![amend.submission.id.clone()],
            },
            &t5,
        )
        .await
        .unwrap();
        e::record_attendance(
            store.as_ref(),
            &ec1.secretary,
            &m2.meeting.id,
            &AttendanceInput {
                present: ec1.members.clone(),
                recused: Default::default(),
            },
            &t5,
        )
        .await
        .unwrap();
        let hash = head(store, &amend.submission.id).await;
        e::vote_item(
            store.as_ref(),
            &ec1.chair,
            &m2.meeting.id,
            &amend.submission.id,
            &VoteInput {
                votes: votes(&ec1.members, 7, "approve"),
                decide: DecideInput {
                    review_interval_months: None,
                    conditions: String::new(),
                    signature: sign(&ec1.chair, &hash),
                },
            },
            &t5,
        )
        .await
        .unwrap();
        // An amendment does not move the approval's lapse date.
        let amended = e::submission(store.as_ref(), &amend.submission.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(amended.submission.lapses_on, None);
        let pending = e::pending_reconsent(store.as_ref(), &p.id).await.unwrap();
        assert_eq!(pending.len(), 4, "{}: {pending:?}", b.name);
        // One subject re-consents to version 2 (commercial use refused).
        let mut c2 = consent(45, None, None);
        c2.version = 2;
        c2.signed_on = "2026-08-15".into();
        e::record_consent(
            store.as_ref(),
            &lead,
            &subjects[0].id,
            &c2,
            &day("2026-08-15"),
        )
        .await
        .unwrap();
        let pending = e::pending_reconsent(store.as_ref(), &p.id).await.unwrap();
        assert_eq!(pending.len(), 3, "{}", b.name);
        assert!(!pending.iter().any(|(s, _)| *s == subjects[0].id));

        // A partial withdrawal (genetic analysis, sharing) by the subject's
        // own link, and a whole withdrawal with samples destroyed.
        let t6 = day("2026-09-01");
        let token = e::issue_subject_link(store.as_ref(), &lead, &subjects[1].id)
            .await
            .unwrap();
        let after = e::withdraw_by_subject(
            store.as_ref(),
            &token,
            &WithdrawInput {
                scopes: vec!["genetic_analysis".into(), "share_institutions".into()],
                whole: false,
                samples: None,
                reason: "不希望基因分析 / no genetic analysis".into(),
            },
            &t6,
        )
        .await
        .unwrap();
        assert_eq!(after.status, "active");
        assert!(!after.scopes.contains(Scope::GeneticAnalysis));
        assert!(after.scopes.contains(Scope::StudyData));
        let err = e::withdraw_consent(
            store.as_ref(),
            &lead,
            &subjects[2].id,
            &WithdrawInput {
                scopes: vec![],
                whole: true,
                samples: None,
                reason: "家长决定退出".into(),
            },
            &t6,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, "sample_disposition_required");
        let gone = e::withdraw_consent(
            store.as_ref(),
            &lead,
            &subjects[2].id,
            &WithdrawInput {
                scopes: vec![],
                whole: true,
                samples: Some("destroy".into()),
                reason: "家长决定退出 / guardian withdrew".into(),
            },
            &t6,
        )
        .await
        .unwrap();
        assert_eq!(
            (gone.status.as_str(), gone.samples.as_deref()),
            ("withdrawn", Some("destroy"))
        );
        assert_eq!(gone.scopes, Scopes::NONE);
        // A consent cannot be back-dated before the withdrawal on record.
        let mut late = consent(45, None, None);
        late.version = 2;
        late.signed_on = "2026-08-20".into();
        let err = e::record_consent(
            store.as_ref(),
            &lead,
            &subjects[1].id,
            &late,
            &day("2026-09-02"),
        )
        .await
        .unwrap_err();
        assert_eq!(
            (err.code, err.field.as_deref()),
            ("consent_date_invalid", Some("signed_on"))
        );
        // A withdrawn subject leaves the re-consent list.
        assert_eq!(
            e::pending_reconsent(store.as_ref(), &p.id)
                .await
                .unwrap()
                .len(),
            2
        );

        // Exports call the consent check: study data leaves out the whole
        // withdrawal; genetic analysis also the partial one.
        let mut csv = Vec::new();
        let n = e::export_dataset(
            store.as_ref(),
            &lead,
            &p.id,
            Scope::StudyData,
            &t6,
            &mut csv,
        )
        .await
        .unwrap();
        assert_eq!((n.written, n.excluded), (3, 1), "{}", b.name);
        let text = String::from_utf8(csv).unwrap();
        assert!(!text.contains("L-003") && text.contains("L-002"), "{text}");
        let mut csv = Vec::new();
        let n = e::export_dataset(
            store.as_ref(),
            &lead,
            &p.id,
            Scope::GeneticAnalysis,
            &t6,
            &mut csv,
        )
        .await
        .unwrap();
        assert_eq!((n.written, n.excluded), (2, 2));
        // Before the withdrawal the same check allowed it: the record of
        // what was permitted stays.
        let ix = e::consent_index(store.as_ref(), &p.id).await.unwrap();
        assert!(ix.check(
            &subjects[1].id,
            Scope::GeneticAnalysis,
            NaiveDate::from_ymd_opt(2026, 8, 31).unwrap()
        ));
        assert!(!ix.check(
            &subjects[1].id,
            Scope::GeneticAnalysis,
            NaiveDate::from_ymd_opt(2026, 9, 1).unwrap()
        ));
        // A participating site exports only its own subjects.
        let mut csv = Vec::new();
        let n = e::export_dataset(store.as_ref(), &s2, &p.id, Scope::StudyData, &t6, &mut csv)
            .await
            .unwrap();
        assert_eq!((n.written, n.excluded), (1, 0));
        // FHIR R5 for sharing: of four subjects, the two who refused sharing
        // (one partly, one wholly) are left out.
        let (bundle, n) = e::export_fhir(store.as_ref(), &lead, &p.id, &t6)
            .await
            .unwrap();
        assert_eq!((n.written, n.excluded), (2, 2), "{}", b.name);
        let kinds: Vec<&str> = bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["resourceType"].as_str().unwrap())
            .collect();
        assert_eq!(kinds.iter().filter(|k| **k == "Consent").count(), 2);
        assert_eq!(kinds.iter().filter(|k| **k == "ResearchSubject").count(), 2);
        let text = bundle.to_string();
        assert!(!text.contains(&subjects[1].id) && !text.contains(&subjects[2].id));

        // Every step is in the ledger; replay rebuilds identical read models.
        store.checkpoint(std::time::Duration::ZERO).await.unwrap();
        assert!(store.verify().await.unwrap().is_ok(), "{}", b.name);
        let before = store.dump_read_models().await.unwrap();
        store.replay().await.unwrap();
        assert_eq!(
            before,
            store.dump_read_models().await.unwrap(),
            "{}",
            b.name
        );
        let withdrawal = store
            .stream_events(&subject_stream(&subjects[1].id))
            .await
            .unwrap();
        let last = withdrawal.last().unwrap();
        assert_eq!(last.actor, format!("subject:{}", subjects[1].id));
        assert_eq!(last.org, "org-lead");
    }
}

/// Committee composition and the simplified route, with the errors a user
/// meets.
#[tokio::test]
async fn composition_and_simplified_review_on_every_backend() {
    for b in backends().await {
        let store = &b.store;
        let t0 = day("2026-06-01");
        service::bootstrap(store.as_ref(), "admin", PW, &t0)
            .await
            .unwrap();
        let sys = Actor::system();
        service::register_org(
            store.as_ref(),
            &sys,
            &org("org-h", "medical_institution"),
            "test",
            &t0,
        )
        .await
        .unwrap();
        service::register_org(
            store.as_ref(),
            &sys,
            &org("org-ec", "ethics_committee"),
            "test",
            &t0,
        )
        .await
        .unwrap();
        let sec = user(store, "org-ec", "ec.sec", "ethics_secretary").await;
        let chair = user(store, "org-ec", "ec.chair", "ethics_member").await;
        let member = user(store, "org-ec", "ec.member", "ethics_member").await;
        let err = e::constitute_committee(
            store.as_ref(),
            &sec,
            "org-ec",
            &ConstituteInput {
                institution_id: None,
                kind: "institutional".into(),
            },
            "x",
            &t0,
        )
        .await
        .unwrap_err();
        assert_eq!(
            (err.code, err.field.as_deref()),
            ("field_required", Some("institution_id"))
        );
        e::constitute_committee(
            store.as_ref(),
            &sec,
            "org-ec",
            &ConstituteInput {
                institution_id: Some("org-h".into()),
                kind: "institutional".into(),
            },
            "x",
            &t0,
        )
        .await
        .unwrap();
        let mut ids = Vec::new();
        for (i, (sex, exp, ext, role)) in [
            ("male", "medical", false, "chair"),
            ("female", "medical", false, "member"),
            ("female", "scientific", false, "member"),
            ("male", "scientific", false, "member"),
            ("male", "legal", true, "member"),
            ("female", "lay", true, "member"),
        ]
        .into_iter()
        .enumerate()
        {
            let uid = match i {
                0 => Some(chair.user_id.clone()),
                1 => Some(member.user_id.clone()),
                _ => None,
            };
            let v = e::appoint_member(
                store.as_ref(),
                &sec,
                "org-ec",
                &MemberInput {
                    name: format!("委员{i}"),
                    sex: sex.into(),
                    expertise: exp.into(),
                    external: ext,
                    role: role.into(),
                    user_id: uid,
                    appointed_on: "2026-01-01".into(),
                },
                "任命",
                &t0,
            )
            .await
            .unwrap();
            ids = v.members.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
            // The two members with accounts first: they are the reviewers.
            ids.sort_by_key(|id| !v.members.iter().any(|m| &m.id == id && m.user_id.is_some()));
        }
        // Six members: short of 第七条's seven.
        let v = e::committee(store.as_ref(), "org-ec")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            v.findings.iter().map(|f| f.code).collect::<Vec<_>>(),
            vec!["committee_too_small"],
            "{}",
            b.name
        );
        let err = e::appoint_member(
            store.as_ref(),
            &sec,
            "org-ec",
            &MemberInput {
                name: "x".into(),
                sex: "other".into(),
                expertise: "lay".into(),
                external: true,
                role: "member".into(),
                user_id: None,
                appointed_on: "2026-01-01".into(),
            },
            "任命",
            &t0,
        )
        .await
        .unwrap_err();
        assert_eq!(
            (err.code, err.field.as_deref()),
            ("sex_invalid", Some("sex"))
        );

        let office = user(store, "org-h", "h.office", "research_office").await;
        let p = service::draft_project(
            store.as_ref(),
            &office,
            &ProjectInput {
                kind: "clinical_research".into(),
                title_zh: "间充质干细胞 观察研究".into(),
                title_en: "MSC observational study".into(),
                summary_zh: String::new(),
                summary_en: String::new(),
                category: "msc".into(),
                pi_name: "李华".into(),
            },
            "draft",
            &t0,
        )
        .await
        .unwrap();
        // No grading saved, minimal risk declared: the simplified procedure.
        let sub = e::submit(
            store.as_ref(),
            &office,
            &p.id,
            &SubmissionInput {
                committee_id: "org-ec".into(),
                kind: "initial".into(),
                facts: RouteFacts {
                    minimal_risk: true,
                    intervention: false,
                    ..Default::default()
                },
                consent_version: None,
                lead_id: None,
                documents: vec![doc("protocol", "zh-CN", "1.0", "观察性方案")],
            },
            &t0,
        )
        .await
        .unwrap();
        assert_eq!(sub.submission.route, "simplified", "{}", b.name);
        // A meeting cannot be scheduled for a simplified review, and an
        // invalid committee cannot hold a meeting in any case.
        let err = e::schedule_meeting(
            store.as_ref(),
            &sec,
            "org-ec",
            &ScheduleInput {
                held_on: "2026-06-10".into(),
                agenda: vec![sub.submission.id.clone()],
            },
            &t0,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, "agenda_item_invalid");
        let err = e::assign_reviewers(store.as_ref(), &sec, &sub.submission.id, &ids[..1], &t0)
            .await
            .unwrap_err();
        assert_eq!(err.code, "reviewers_too_few");
        e::assign_reviewers(store.as_ref(), &sec, &sub.submission.id, &ids[..2], &t0)
            .await
            .unwrap();
        let op = |o: &str| OpinionInput {
            opinion: o.into(),
            note: String::new(),
            meeting_requested: false,
        };
        e::give_opinion(
            store.as_ref(),
            &chair,
            &sub.submission.id,
            &op("approve"),
            &t0,
        )
        .await
        .unwrap();
        let err = e::give_opinion(
            store.as_ref(),
            &chair,
            &sub.submission.id,
            &op("approve"),
            &t0,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, "opinion_already_given");
        // The second reviewer disagrees: the review goes to a meeting.
        let v = e::give_opinion(
            store.as_ref(),
            &member,
            &sub.submission.id,
            &op("resubmit"),
            &t0,
        )
        .await
        .unwrap();
        assert_eq!(v.submission.status, "meeting_pending", "{}", b.name);
        let hash = head(store, &sub.submission.id).await;
        let err = e::decide_without_meeting(
            store.as_ref(),
            &chair,
            &sub.submission.id,
            &DecideInput {
                review_interval_months: None,
                conditions: String::new(),
                signature: sign(&chair, &hash),
            },
            &t0,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, "meeting_required");
        let m = e::schedule_meeting(
            store.as_ref(),
            &sec,
            "org-ec",
            &ScheduleInput {
                held_on: "2026-06-10".into(),
                agenda: vec![sub.submission.id.clone()],
            },
            &t0,
        )
        .await
        .unwrap();
        let err = e::record_attendance(
            store.as_ref(),
            &sec,
            &m.meeting.id,
            &AttendanceInput {
                present: ids.clone(),
                recused: Default::default(),
            },
            &t0,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, "committee_invalid", "{}", b.name);

        // A second simplified submission that both reviewers approve: the
        // chair signs the decision; a stale record hash is refused.
        let sub2 = e::submit(
            store.as_ref(),
            &office,
            &p.id,
            &SubmissionInput {
                committee_id: "org-ec".into(),
                kind: "closure".into(),
                facts: RouteFacts::default(),
                consent_version: None,
                lead_id: None,
                documents: vec![],
            },
            &t0,
        )
        .await
        .unwrap();
        let stale = head(store, &sub2.submission.id).await;
        e::assign_reviewers(store.as_ref(), &sec, &sub2.submission.id, &ids[..2], &t0)
            .await
            .unwrap();
        e::give_opinion(
            store.as_ref(),
            &chair,
            &sub2.submission.id,
            &op("approve"),
            &t0,
        )
        .await
        .unwrap();
        e::give_opinion(
            store.as_ref(),
            &member,
            &sub2.submission.id,
            &op("approve"),
            &t0,
        )
        .await
        .unwrap();
        let err = e::decide_without_meeting(
            store.as_ref(),
            &chair,
            &sub2.submission.id,
            &DecideInput {
                review_interval_months: None,
                conditions: String::new(),
                signature: sign(&chair, &stale),
            },
            &t0,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, "signature_record_changed");
        let err = e::decide_without_meeting(
            store.as_ref(),
            &member,
            &sub2.submission.id,
            &DecideInput {
                review_interval_months: None,
                conditions: String::new(),
                signature: sign(&member, &head(store, &sub2.submission.id).await),
            },
            &t0,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, "chair_required");
        let done = e::decide_without_meeting(
            store.as_ref(),
            &chair,
            &sub2.submission.id,
            &DecideInput {
                review_interval_months: None,
                conditions: String::new(),
                signature: sign(&chair, &head(store, &sub2.submission.id).await),
            },
            &t0,
        )
        .await
        .unwrap();
        assert_eq!(
            done.submission.decision.as_deref(),
            Some("approve"),
            "{}",
            b.name
        );
        // A closure does not renew the approval.
        assert_eq!(done.submission.lapses_on, None);
        // Research on anonymised data with no intervention is exempt
        // (第三十二条): confirmed by the chair, it has no lapse date and
        // covers the site.
        let exempt = e::submit(
            store.as_ref(),
            &office,
            &p.id,
            &SubmissionInput {
                committee_id: "org-ec".into(),
                kind: "initial".into(),
                facts: RouteFacts {
                    intervention: false,
                    exemption: Some(celltrail_core::ethics::ExemptionGround::AnonymisedData),
                    ..Default::default()
                },
                consent_version: None,
                lead_id: None,
                documents: vec![],
            },
            &t0,
        )
        .await
        .unwrap();
        assert_eq!(exempt.submission.route, "exempt", "{}", b.name);
        let done = e::decide_without_meeting(
            store.as_ref(),
            &chair,
            &exempt.submission.id,
            &DecideInput {
                review_interval_months: None,
                conditions: String::new(),
                signature: sign(&chair, &head(store, &exempt.submission.id).await),
            },
            &t0,
        )
        .await
        .unwrap();
        assert_eq!(
            (
                done.decision.unwrap().via.as_str(),
                done.submission.lapses_on
            ),
            ("exempt", None)
        );
        let far = chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap();
        assert_eq!(
            e::approval_for_site(store.as_ref(), &p.id, "org-h", far)
                .await
                .unwrap(),
            Ok(exempt.submission.id.clone())
        );
        // The submitting hospital sees its submission; another committee
        // does not.
        assert!(
            e::visible_submission(store.as_ref(), &office, &sub2.submission.id)
                .await
                .is_ok()
        );
    }
}
