//! The demo's safety data: adverse events at East China Hospital in the
//! multi-centre CD19 CAR-T study (a grade 3 CRS reported in time with its
//! follow-up, an ICANS, a SUSAR whose report is overdue, a T-cell lymphoma
//! flagged for priority review), cases in the national database with the
//! sponsor's E2B(R3) batch (duplicates included), and long-term follow-up
//! of patients treated since 2021 (visits kept, missed, a patient lost, a
//! death, a new malignancy).
//!
//! Logins: `sjh.office` reports and follows up, `huashen.manager` is the
//! sponsor, `nhc.officer` reads the national database and its signals.

use celltrail_core::e2b;
use celltrail_store::safety as sf;
use celltrail_store::service::When;
use celltrail_store::trace as tr;
use celltrail_store::{Store, StoreResult};
use chrono::{Duration, NaiveDate};
use serde_json::json;

use crate::demo::{actor, day};

const SPONSOR: &str = "org-sponsor-huashen";
const NATIONAL: &str = "org-nhc";
const PRODUCT: &str = "CD19 CAR-T 细胞注射液（HS-CART19）";

fn at(d: NaiveDate) -> When {
    When::at(d, 2, 30)
}

fn event(
    project: &str,
    subject: &str,
    term: &str,
    onset: NaiveDate,
    aware: NaiveDate,
) -> sf::AeInput {
    sf::AeInput {
        project_id: project.into(),
        subject_id: Some(subject.into()),
        patient_id: None,
        unit_id: None,
        sponsor_id: Some(SPONSOR.into()),
        product: PRODUCT.into(),
        product_class: "car_t".into(),
        sex: None,
        age_years: None,
        term: term.into(),
        meddra_code: None,
        meddra_version: None,
        onset: onset.to_string(),
        aware: aware.to_string(),
        resolved: None,
        seriousness: Vec::new(),
        severity: 2,
        crs: None,
        icans: None,
        expectedness: "expected".into(),
        causality: "probable".into(),
        outcome: "recovering".into(),
        narrative: String::new(),
        reason: None,
        coding: None,
    }
}

pub async fn load(store: &dyn Store) -> StoreResult<()> {
    let office = actor(store, "sjh.office").await?;
    let pi = actor(store, "sjh.pi").await?;
    let sponsor = actor(store, "huashen.manager").await?;
    let subjects = sf::reportable_patients(store, &office).await?;
    let subject = |code: &str| {
        subjects
            .iter()
            .find(|p| p.kind == "subject" && p.code == code)
            .cloned()
            .ok_or_else(|| {
                celltrail_store::StoreError::internal("demo_subject_missing", code.to_string())
            })
    };
    let s1 = subject("SJ-001")?;
    let project = s1.project_id.clone().unwrap_or_default();
    let today = When::now().today;

    // 1. Grade 3 CRS, life-threatening and unexpected in its severity: a
    //    7-day SUSAR sent on day 3, its follow-up on day 12.
    let onset = day(2026, 8, 30);
    let mut crs = event(&project, &s1.id, "Cytokine release syndrome", onset, onset);
    crs.sex = Some("female".into());
    crs.age_years = Some(34.0);
    crs.seriousness = vec!["life_threatening".into(), "hospitalisation".into()];
    crs.severity = 3;
    crs.crs = Some(
        json!({"temperature_c": 39.6, "hypotension": "one_vasopressor", "hypoxia": "high_flow"}),
    );
    crs.expectedness = "unexpected".into();
    crs.narrative = "输注后第 3 天高热 39.6 °C，去甲肾上腺素维持血压，经鼻高流量吸氧；予托珠单抗及地塞米松。Day 3 after infusion: fever 39.6 °C, norepinephrine for blood pressure, high-flow nasal oxygen; tocilizumab and dexamethasone given.".into();
    let a1 = sf::report_ae(store, &office, &crs, &at(onset + Duration::days(1))).await?;
    sf::send_report(
        store,
        &office,
        &a1.id,
        &sf::SendInput {
            kind: "initial".into(),
            recipient_id: NATIONAL.into(),
            sent_on: Some((onset + Duration::days(3)).to_string()),
        },
        &at(onset + Duration::days(3)),
    )
    .await?;
    let mut fu = crs.clone();
    fu.outcome = "recovered".into();
    fu.resolved = Some((onset + Duration::days(9)).to_string());
    fu.reason = Some("随访：CRS 于第 9 天缓解 / follow-up: CRS resolved on day 9".into());
    sf::follow_up_ae(store, &office, &a1.id, &fu, &at(onset + Duration::days(10))).await?;
    sf::send_report(
        store,
        &office,
        &a1.id,
        &sf::SendInput {
            kind: "follow_up".into(),
            recipient_id: NATIONAL.into(),
            sent_on: Some((onset + Duration::days(12)).to_string()),
        },
        &at(onset + Duration::days(12)),
    )
    .await?;
    sf::submit_national(store, &office, &a1.id, &at(onset + Duration::days(12))).await?;

    // 2. ICANS grade 2 (ICE 5), expected: serious but not expedited.
    let s2 = subject("SJ-002")?;
    let onset2 = day(2026, 9, 8);
    let mut icans = event(
        &project,
        &s2.id,
        "Immune effector cell-associated neurotoxicity syndrome",
        onset2,
        onset2,
    );
    icans.sex = Some("male".into());
    icans.age_years = Some(52.0);
    icans.seriousness = vec!["hospitalisation".into()];
    icans.icans = Some(
        json!({"ice_score": 5, "consciousness": "awakens_to_voice", "seizure": "none", "motor": "none", "cerebral_edema": "none", "age_years": 52}),
    );
    icans.outcome = "recovered".into();
    icans.resolved = Some((onset2 + Duration::days(4)).to_string());
    let a2 = sf::report_ae(store, &office, &icans, &at(onset2 + Duration::days(1))).await?;
    sf::submit_national(store, &office, &a2.id, &at(onset2 + Duration::days(2))).await?;

    // 3. Prolonged pancytopenia, unexpected: a 15-day SUSAR not yet sent,
    //    so overdue on the desk.
    let s3 = subject("SJ-003")?;
    let aware3 = today - Duration::days(20);
    let mut pan = event(
        &project,
        &s3.id,
        "Pancytopenia",
        aware3 - Duration::days(1),
        aware3,
    );
    pan.sex = Some("female".into());
    pan.age_years = Some(27.0);
    pan.seriousness = vec!["hospitalisation".into()];
    pan.severity = 4;
    pan.expectedness = "unexpected".into();
    pan.causality = "possible".into();
    pan.outcome = "not_recovered".into();
    sf::report_ae(store, &office, &pan, &at(aware3)).await?;

    // 4. T-cell lymphoma ten months after the CAR-T product: flagged for
    //    priority review; its 15-day clock is open.
    let s4 = subject("SJ-004")?;
    let aware4 = today - Duration::days(3);
    let mut lym = event(
        &project,
        &s4.id,
        "T-cell lymphoma",
        aware4 - Duration::days(2),
        aware4,
    );
    lym.sex = Some("male".into());
    lym.age_years = Some(61.0);
    lym.seriousness = vec!["other_important".into(), "hospitalisation".into()];
    lym.severity = 4;
    lym.expectedness = "unexpected".into();
    lym.causality = "possible".into();
    lym.outcome = "not_recovered".into();
    lym.narrative = "肿瘤组织检出 CAR 转基因，已送检整合位点分析。CAR transgene detected in the tumour; integration-site analysis requested.".into();
    sf::report_ae(store, &office, &lym, &at(aware4)).await?;

    // The sponsor's E2B(R3) batch of cases from other sites; three of them
    // are sent twice (same worldwide case id), one repeats case 1 above.
    let xml = sponsor_batch(&a1.case_id);
    sf::import_e2b(store, &sponsor, &xml, &at(day(2026, 10, 15))).await?;

    // Long-term follow-up of patients treated since 2021.
    follow_up(store, &pi, &office, &project, today).await?;
    Ok(())
}

/// Products and events of the sponsor's batch, with their weights: a
/// CRS-heavy CAR-T mix, an MSC product with infusion reactions, and one
/// product whose lymphomas stand out.
const BATCH_PRODUCTS: &[&str] = &[
    "阿基仑赛注射液",
    "瑞基奥仑赛注射液",
    "伊基奥仑赛注射液",
    "泽沃基奥仑赛注射液",
    "人脐带间充质干细胞注射液",
];
const BATCH_EVENTS: &[&str] = &[
    "Cytokine release syndrome",
    "Immune effector cell-associated neurotoxicity syndrome",
    "Neutropenia",
    "Thrombocytopenia",
    "Anaemia",
    "Pyrexia",
    "Hypogammaglobulinaemia",
    "Infection",
    "Infusion related reaction",
    "T-cell lymphoma",
];

/// A deterministic synthetic E2B(R3) batch of 240 cases.
fn sponsor_batch(repeat_case: &str) -> String {
    let mut seed: u64 = 0x5eed_2026;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let created = day(2026, 10, 15).and_hms_opt(9, 0, 0).unwrap_or_default();
    let mut cases = Vec::new();
    for i in 0..240u32 {
        let product = next(BATCH_PRODUCTS.len() as u64) as usize;
        let msc = product == 4;
        let mut events: Vec<usize> = Vec::new();
        let k = 1 + next(3) as usize;
        for _ in 0..k {
            let e = if msc {
                [8usize, 5, 2][next(3) as usize]
            } else if product == 3 && next(4) == 0 {
                9
            } else {
                next(8) as usize
            };
            if !events.contains(&e) {
                events.push(e);
            }
        }
        let onset = day(2026, 1, 5) + Duration::days(next(280) as i64);
        let case_id = format!("CN-HUASHEN-2026-{:05}", 1 + i);
        cases.push(case(
            &case_id,
            BATCH_PRODUCTS[product],
            &events,
            onset,
            i,
            created,
        ));
        if i % 80 == 7 {
            // A re-sent copy of the same case from the sponsor's second
            // system: the same worldwide id, caught as one case.
            let again = case(
                &case_id,
                BATCH_PRODUCTS[product],
                &events,
                onset,
                i,
                created,
            );
            cases.push(again);
        }
    }
    // The sponsor's copy of the hospital's CRS case (case 1).
    cases.push(case(
        repeat_case,
        PRODUCT,
        &[0],
        day(2026, 8, 30),
        999,
        created,
    ));
    e2b::write_batch(&cases, "HUASHEN-BATCH-20261015", SPONSOR, NATIONAL, created)
}

fn case(
    case_id: &str,
    product: &str,
    events: &[usize],
    onset: NaiveDate,
    i: u32,
    created: chrono::NaiveDateTime,
) -> e2b::Icsr {
    let serious = events.iter().any(|e| [0usize, 1, 9].contains(e));
    e2b::Icsr {
        safety_report_id: format!("{case_id}-{i}"),
        worldwide_case_id: case_id.into(),
        created,
        report_type: 2,
        first_received: onset + Duration::days(2),
        most_recent: onset + Duration::days(5),
        expedited: serious,
        sender: e2b::Sender {
            sender_type: 1,
            organisation: "华申生物（演示） Huashen Bio (demo)".into(),
        },
        reporters: vec![e2b::Reporter {
            given_name: None,
            family_name: None,
            organisation: Some(format!(
                "研究中心 {:02} / study site {:02}",
                i % 17 + 1,
                i % 17 + 1
            )),
            country: Some("CN".into()),
            qualification: Some(1),
        }],
        patient: e2b::Patient {
            initials: None,
            study_subject_id: Some(format!("HS-{:04}", i)),
            age: Some(e2b::Age {
                value: (18 + (i * 7) % 60) as f64,
                unit: "a".into(),
            }),
            sex: Some(if i.is_multiple_of(2) { 1 } else { 2 }),
            death_date: None,
        },
        reactions: events
            .iter()
            .map(|e| e2b::Reaction {
                term: BATCH_EVENTS[*e].into(),
                language: "eng".into(),
                meddra_version: None,
                meddra_llt: None,
                seriousness: e2b::Seriousness {
                    hospitalisation: [0usize, 1, 9].contains(e),
                    other_important: *e == 9,
                    ..Default::default()
                },
                start: Some(onset),
                end: None,
                outcome: Some(if *e == 9 { 3 } else { 1 }),
            })
            .collect(),
        drugs: vec![e2b::Drug {
            role: 1,
            name: product.into(),
            batch: None,
            start: Some(onset - Duration::days(3)),
            assessments: Vec::new(),
        }],
        narrative: String::new(),
        study: None,
    }
}

/// Patients treated from 2021 on, followed for 15 years: two keep their
/// visits, one is lost after the second year, one died in 2024, one had a
/// new malignancy found at a yearly visit.
async fn follow_up(
    store: &dyn Store,
    pi: &celltrail_store::service::Actor,
    office: &celltrail_store::service::Actor,
    project: &str,
    today: NaiveDate,
) -> StoreResult<()> {
    let plan: [(&str, NaiveDate, &str); 6] = [
        ("FU-2101", day(2021, 3, 16), "kept"),
        ("FU-2102", day(2021, 9, 2), "lost"),
        ("FU-2201", day(2022, 4, 11), "died"),
        ("FU-2202", day(2022, 11, 23), "malignancy"),
        ("FU-2301", day(2023, 6, 7), "kept"),
        ("FU-2401", day(2024, 2, 19), "late"),
    ];
    for (mrn, start, story) in plan {
        let mut identity = serde_json::Map::new();
        identity.insert("name".into(), format!("随访患者 {mrn}").into());
        identity.insert("record_number".into(), mrn.into());
        let person = tr::register_person(
            store,
            pi,
            &tr::PersonInput {
                kind: "patient".into(),
                project_id: Some(project.into()),
                identity,
                wristband: format!("SJH-{mrn}"),
            },
            &at(start - Duration::days(30)),
        )
        .await?;
        let e = sf::enrol_ltfu(
            store,
            office,
            &sf::EnrolInput {
                project_id: project.into(),
                subject_id: None,
                patient_id: Some(person.id.clone()),
                product: PRODUCT.into(),
                product_class: "car_t".into(),
                years: Some(15),
                start_on: start.to_string(),
            },
            &at(start),
        )
        .await?;
        let visits = sf::visits(store, &e.id).await?;
        for (i, v) in visits.iter().enumerate() {
            let due: NaiveDate = v.due.parse().unwrap_or(today);
            if due > today {
                break;
            }
            let keep = match story {
                "lost" => i < 3,
                "died" => due < day(2024, 5, 1),
                "late" => i != 3,
                _ => true,
            };
            if !keep {
                continue;
            }
            let malignancy = story == "malignancy" && due.format("%Y").to_string() == "2025";
            sf::record_visit(
                store,
                office,
                &e.id,
                &sf::VisitInput {
                    number: v.number as u32,
                    done_on: (due + Duration::days(3)).min(today).to_string(),
                    vital: "alive".into(),
                    new_malignancy: malignancy,
                    note: if malignancy {
                        "外周血检出克隆性 T 细胞，确诊 T 细胞淋巴瘤 / clonal T cells in blood; T-cell lymphoma confirmed".into()
                    } else {
                        String::new()
                    },
                },
                &at((due + Duration::days(3)).min(today)),
            )
            .await?;
        }
        if story == "died" {
            sf::end_ltfu(
                store,
                office,
                &e.id,
                &sf::EndInput {
                    status: "died".into(),
                    on: day(2024, 8, 14).to_string(),
                    reason: "家属告知患者因原发病进展死亡 / family reported death from disease progression".into(),
                },
                &at(day(2024, 8, 20)),
            )
            .await?;
        }
    }
    Ok(())
}
