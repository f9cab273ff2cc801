//! The demo's chains of identity and custody: East China Hospital collects,
//! the Zhangjiang preparation centre makes CD19 CAR-T cells, and the bags
//! come back for the bedside. Five patients show each way a chain can go —
//! infused, waiting at the bedside, held by an out-of-specification test,
//! held by a temperature excursion, lost in transit — and an allogeneic MSC
//! line shows cell banks, a halted material lot and its recall list.
//!
//! Wristbands of the demo patients: `SJH-MRN-0001` … `SJH-MRN-0005`. The
//! bag waiting at the bedside (patient 2) has DIN `W0307 26 100201`.

use celltrail_core::trace::{Limit, Scans, Spec};
use celltrail_store::service::{Actor, SignInput, When};
use celltrail_store::trace as tr;
use celltrail_store::{Store, StoreResult};
use chrono::NaiveDate;

use crate::demo::{actor, day, DEMO_PASSWORD};

const HOSPITAL: &str = "org-sh-shenjiang";
const CENTRE: &str = "org-sh-zhangjiang-prep";
/// FIN of the hospital's apheresis unit and of the centre (synthetic).
const FIN_H: &str = "W0306";
const FIN_C: &str = "W0307";

fn at(d: NaiveDate, h: u32, m: u32) -> When {
    When::at(d, h, m)
}

fn sign(a: &Actor, meaning: &str, hash: String) -> Option<SignInput> {
    Some(SignInput {
        username: a.username.clone(),
        password: DEMO_PASSWORD.into(),
        meaning: meaning.into(),
        record_hash: hash,
    })
}

async fn head(store: &dyn Store, stream: &str) -> StoreResult<String> {
    Ok(store
        .stream_head(stream)
        .await?
        .map(|(_, h)| h)
        .unwrap_or_default())
}

const RELEASE_RESULTS: &[(&str, &str)] = &[
    ("sterility", "no_growth"),
    ("mycoplasma", "negative"),
    ("endotoxin", "0.6"),
    ("viability", "88.4"),
    ("identity", "car_positive"),
    ("potency", "2210"),
    ("cd3_purity", "96.8"),
    ("transduction_efficiency", "41.2"),
    ("vector_copy_number", "1.7"),
    ("rcl", "not_detected"),
];

struct People {
    pi: Actor,
    nurse: Actor,
    operator: Actor,
    qa: Actor,
    qp: Actor,
}

struct Made {
    bags: Vec<String>,
}

/// Collection at the hospital and courier to the centre; `receive` false
/// leaves the shipment open (a custody gap once 72 hours pass).
async fn collect_and_ship(
    store: &dyn Store,
    p: &People,
    patient: &str,
    n: u32,
    tech: &str,
    d: NaiveDate,
    receive: bool,
) -> StoreResult<tr::UnitRow> {
    let unit = tr::collect(
        store,
        &p.pi,
        &tr::CollectInput {
            donor_id: patient.into(),
            patient_id: None,
            din: format!("{FIN_H}2600{n:02}01"),
            product_code: Some("S1001V00".into()),
            kind: "apheresis".into(),
            eligibility: "autologous_only".into(),
            project_id: Some(tech.into()),
            range_min: None,
            range_max: None,
        },
        &at(d, 8, 30),
    )
    .await?;
    let ship = tr::dispatch(
        store,
        &p.pi,
        &tr::DispatchInput {
            to_org: CENTRE.into(),
            shipper: "2_8c".into(),
            courier: "顺丰医药冷链 SF Cold Chain".into(),
            logger_id: Some(format!("TL-{n:04}")),
            unit_ids: vec![unit.id.clone()],
        },
        &at(d, 11, 0),
    )
    .await?;
    if receive {
        tr::receive(
            store,
            &p.operator,
            &ship.id,
            &tr::ReceiveInput {
                condition: "外包装完好，温度记录仪在位 / intact, logger in place".into(),
            },
            &at(d, 15, 40),
        )
        .await?;
        let log = format!(
            "Date Time,Temperature (°C)\n{d} 11:00,5.1\n{d} 12:00,4.6\n{d} 13:00,4.2\n{d} 14:00,4.4\n{d} 15:00,4.9\n{d} 15:40,5.3\n"
        );
        tr::import_log(store, &p.operator, &ship.id, &log, &at(d, 16, 0)).await?;
    }
    Ok(unit)
}

/// Manufacture over nine days; `viability` decides the release test.
async fn manufacture(
    store: &dyn Store,
    p: &People,
    process: &str,
    unit: &tr::UnitRow,
    n: u32,
    d: NaiveDate,
    viability: &str,
) -> StoreResult<Made> {
    let b = tr::start_batch(
        store,
        &p.operator,
        &tr::BatchInput {
            process_id: process.into(),
            input_units: vec![unit.id.clone()],
            cell_bank_id: None,
            site_id: None,
        },
        &at(d, 17, 0),
    )
    .await?;
    let steps = [
        (
            "T 细胞分选与激活 / T-cell selection and activation",
            "EQ-ZJ-SEP-01",
            vec!["LOT-ZJ-BEAD-2609"],
            1,
        ),
        (
            "慢病毒转导 / lentiviral transduction",
            "EQ-ZJ-BSC-02",
            vec!["LOT-ZJ-LV-2608"],
            2,
        ),
        (
            "扩增培养 / expansion",
            "EQ-ZJ-INC-03",
            vec!["LOT-ZJ-MED-2610"],
            6,
        ),
        (
            "收获、洗涤与制剂 / harvest, wash, formulation",
            "EQ-ZJ-SEP-01",
            vec!["LOT-ZJ-CRYO-2607"],
            8,
        ),
    ];
    for (name, eq, lots, offset) in steps {
        tr::record_step(
            store,
            &p.operator,
            &b.id,
            &tr::StepInput {
                step: name.into(),
                equipment_id: Some(eq.into()),
                lots: lots.into_iter().map(String::from).collect(),
                passages: 0,
            },
            &at(d + chrono::Days::new(offset), 10, 0),
        )
        .await?;
    }
    let test_day = d + chrono::Days::new(9);
    tr::record_test(
        store,
        &p.qa,
        &b.id,
        &tr::TestInput {
            test: "cell_count".into(),
            stage: "in_process".into(),
            value: "3.1e9".into(),
        },
        &at(test_day, 9, 0),
    )
    .await?;
    for (test, value) in RELEASE_RESULTS {
        let v = if *test == "viability" {
            viability
        } else {
            value
        };
        let r = tr::record_test(
            store,
            &p.qa,
            &b.id,
            &tr::TestInput {
                test: (*test).into(),
                stage: "release".into(),
                value: v.into(),
            },
            &at(test_day, 14, 0),
        )
        .await?;
        if r.deviation_id.is_some() {
            return Ok(Made { bags: Vec::new() });
        }
    }
    let bags = tr::make_units(
        store,
        &p.operator,
        &b.id,
        &tr::MakeUnitsInput {
            units: (1..=2)
                .map(|i| tr::MadeInput {
                    din: format!("{FIN_C}2610{n:02}0{i}"),
                    product_code: Some("S2001V00".into()),
                    expires_on: "2030-12-31".into(),
                })
                .collect(),
            location: format!("液氮罐 LN2-T1 / 架 R{n} / 盒 B1"),
            range_min: None,
            range_max: None,
        },
        &at(test_day, 16, 0),
    )
    .await?;
    let stream = tr::batch_stream(&b.id);
    let h = head(store, &stream).await?;
    tr::release_batch(
        store,
        &p.qp,
        &b.id,
        &tr::ReleaseInput {
            signature: sign(&p.qp, "approved", h),
        },
        &at(test_day + chrono::Days::new(1), 9, 30),
    )
    .await?;
    Ok(Made {
        bags: bags.into_iter().map(|u| u.id).collect(),
    })
}

/// Ships the bags back in a dry shipper with the given log.
async fn ship_back(
    store: &dyn Store,
    p: &People,
    bags: &[String],
    d: NaiveDate,
    log: &str,
) -> StoreResult<()> {
    let ship = tr::dispatch(
        store,
        &p.operator,
        &tr::DispatchInput {
            to_org: HOSPITAL.into(),
            shipper: "dry_shipper".into(),
            courier: "生物样本专线 BioCourier".into(),
            logger_id: Some("DS-LOG-17".into()),
            unit_ids: bags.to_vec(),
        },
        &at(d, 8, 0),
    )
    .await?;
    tr::receive(
        store,
        &p.nurse,
        &ship.id,
        &tr::ReceiveInput {
            condition: "干式罐完好，液氮充足 / dry shipper intact, charged".into(),
        },
        &at(d, 13, 0),
    )
    .await?;
    tr::import_log(store, &p.nurse, &ship.id, log, &at(d, 13, 20)).await?;
    Ok(())
}

fn ln2_log(d: NaiveDate, excursion: bool) -> String {
    let mut s = String::from("Date Time,Temperature (°C)\n");
    let temps: &[(u32, u32, f64)] = if excursion {
        &[
            (8, 0, -186.0),
            (9, 0, -184.2),
            (10, 0, -171.5),
            (10, 30, -146.3),
            (10, 50, -131.8),
            (11, 10, -152.0),
            (12, 0, -176.9),
            (13, 0, -182.4),
        ]
    } else {
        &[
            (8, 0, -188.1),
            (9, 0, -187.4),
            (10, 0, -186.0),
            (11, 0, -185.2),
            (12, 0, -184.9),
            (13, 0, -184.0),
        ]
    };
    for (h, m, c) in temps {
        s.push_str(&format!("{d} {h:02}:{m:02},{c}\n"));
    }
    s
}

pub async fn load(store: &dyn Store) -> StoreResult<()> {
    let p = People {
        pi: actor(store, "sjh.pi").await?,
        nurse: actor(store, "sjh.nurse").await?,
        operator: actor(store, "zj.operator").await?,
        qa: actor(store, "zj.qa").await?,
        qp: actor(store, "zj.qp").await?,
    };
    let nurse2 = actor(store, "sjh.nurse2").await?;
    let tech = store
        .projects(&celltrail_store::ProjectFilter {
            org_id: Some(HOSPITAL.into()),
            limit: Some(500),
            ..Default::default()
        })
        .await?
        .into_iter()
        .find(|x| x.category == "car_t")
        .map(|x| x.id)
        .ok_or_else(|| celltrail_store::StoreError::internal("demo_project_missing", "car_t"))?;
    let t0 = day(2026, 8, 20);
    let process = tr::define_process(
        store,
        &p.qa,
        &tr::ProcessInput {
            id: Some("PROC-ZJ-CD19-V3".into()),
            technology_id: Some(tech.clone()),
            name: "CD19 CAR-T 细胞制剂 / CD19 CAR-T cells (v3)".into(),
            specs: celltrail_core::trace::example_car_t_specs(),
            reason: Some("演示数据：工艺规程 v3 / demo data: process v3".into()),
        },
        &at(t0, 9, 0),
    )
    .await?;
    for (id, name, kind) in [
        (
            "EQ-ZJ-SEP-01",
            "细胞分选系统 01 / cell separation system 01",
            "cell_separator",
        ),
        (
            "EQ-ZJ-BSC-02",
            "生物安全柜 02 / biosafety cabinet 02",
            "biosafety_cabinet",
        ),
        (
            "EQ-ZJ-INC-03",
            "CO2 培养箱 03 / CO2 incubator 03",
            "incubator",
        ),
    ] {
        tr::register_equipment(
            store,
            &p.operator,
            &tr::EquipmentInput {
                id: Some(id.into()),
                name: name.into(),
                kind: kind.into(),
                calibrated_until: "2027-06-30".into(),
            },
            &at(t0, 9, 30),
        )
        .await?;
    }
    for (id, material, lot) in [
        (
            "LOT-ZJ-BEAD-2609",
            "CD3/CD28 磁珠 / CD3/CD28 beads",
            "BD2609",
        ),
        (
            "LOT-ZJ-LV-2608",
            "CD19 CAR 慢病毒载体 / CD19 CAR lentiviral vector",
            "LV2608",
        ),
        (
            "LOT-ZJ-MED-2610",
            "无血清 T 细胞培养基 / serum-free T-cell medium",
            "TM2610",
        ),
        (
            "LOT-ZJ-CRYO-2607",
            "冻存液 / cryopreservation medium",
            "CS2607",
        ),
        (
            "LOT-ZJ-MSCMED-2609",
            "间充质干细胞培养基 / MSC medium",
            "MM2609",
        ),
    ] {
        tr::register_lot(
            store,
            &p.operator,
            &tr::LotInput {
                id: Some(id.into()),
                material: material.into(),
                supplier: "示例供应商 Example Supplier".into(),
                lot: lot.into(),
                expires_on: "2027-12-31".into(),
                status: "released".into(),
            },
            &at(t0, 10, 0),
        )
        .await?;
    }
    let mut patients = Vec::new();
    for (i, name) in [
        "演示患者一",
        "演示患者二",
        "演示患者三",
        "演示患者四",
        "演示患者五",
    ]
    .iter()
    .enumerate()
    {
        let mut identity = serde_json::Map::new();
        identity.insert("name".into(), format!("{name} (synthetic)").into());
        identity.insert("birth_year".into(), (1960 + 7 * i as i64).into());
        let person = tr::register_person(
            store,
            &p.pi,
            &tr::PersonInput {
                kind: "patient".into(),
                project_id: Some(tech.clone()),
                identity,
                wristband: format!("SJH-MRN-{:04}", i + 1),
            },
            &at(t0, 11, 0),
        )
        .await?;
        patients.push(person.id);
    }

    // Patient 1: the whole chain, infused.
    let d1 = day(2026, 9, 1);
    let u1 = collect_and_ship(store, &p, &patients[0], 1, &tech, d1, true).await?;
    let m1 = manufacture(store, &p, &process.id, &u1, 1, d1, "88.4").await?;
    ship_back(
        store,
        &p,
        &m1.bags,
        day(2026, 9, 12),
        &ln2_log(day(2026, 9, 12), false),
    )
    .await?;
    let check = tr::bedside_check(
        store,
        &p.nurse,
        &m1.bags[0],
        &tr::BedsideInput {
            scans: Scans {
                wristband: "SJH-MRN-0001".into(),
                coi: u1.coi.clone(),
                bag: format!("={}00", &m1.bags[0][..13]),
            },
            second: tr::SecondPerson {
                username: nurse2.username.clone(),
                password: DEMO_PASSWORD.into(),
            },
        },
        &at(day(2026, 9, 14), 9, 0),
    )
    .await?;
    tr::administer(
        store,
        &p.nurse,
        &m1.bags[0],
        &tr::AdministerInput {
            check_id: check.check_id,
            note: "回输 15 分钟，生命体征平稳 / infused over 15 min, vital signs stable".into(),
        },
        &at(day(2026, 9, 14), 9, 20),
    )
    .await?;

    // Patient 2: released and at the hospital, waiting for the bedside.
    let d2 = day(2026, 10, 20);
    let u2 = collect_and_ship(store, &p, &patients[1], 2, &tech, d2, true).await?;
    let m2 = manufacture(store, &p, &process.id, &u2, 2, d2, "91.0").await?;
    ship_back(
        store,
        &p,
        &m2.bags,
        day(2026, 10, 31),
        &ln2_log(day(2026, 10, 31), false),
    )
    .await?;

    // Patient 3: viability out of specification; the batch is on hold.
    let d3 = day(2026, 10, 25);
    let u3 = collect_and_ship(store, &p, &patients[2], 3, &tech, d3, true).await?;
    manufacture(store, &p, &process.id, &u3, 3, d3, "61.5").await?;

    // Patient 4: the dry shipper warmed above −150 °C for 40 minutes.
    let d4 = day(2026, 10, 5);
    let u4 = collect_and_ship(store, &p, &patients[3], 4, &tech, d4, true).await?;
    let m4 = manufacture(store, &p, &process.id, &u4, 4, d4, "86.0").await?;
    ship_back(
        store,
        &p,
        &m4.bags,
        day(2026, 10, 16),
        &ln2_log(day(2026, 10, 16), true),
    )
    .await?;

    // Patient 5: the apheresis bag left the hospital and was never received.
    collect_and_ship(store, &p, &patients[4], 5, &tech, day(2026, 11, 2), false).await?;

    // Allogeneic umbilical-cord MSC: master and working banks, one batch,
    // and a recalled medium lot halted by QA.
    let msc = tr::define_process(
        store,
        &p.qa,
        &tr::ProcessInput {
            id: Some("PROC-ZJ-UCMSC-V2".into()),
            technology_id: None,
            name: "脐带间充质干细胞 / umbilical-cord MSC (v2)".into(),
            specs: vec![
                Spec {
                    test: "viability".into(),
                    stage: "release".into(),
                    limit: Limit::AtLeast { min: 80.0 },
                    unit: "%".into(),
                },
                Spec {
                    test: "sterility".into(),
                    stage: "release".into(),
                    limit: Limit::OneOf {
                        accepted: vec!["no_growth".into()],
                    },
                    unit: String::new(),
                },
            ],
            reason: None,
        },
        &at(t0, 12, 0),
    )
    .await?;
    tr::register_bank(
        store,
        &p.qa,
        &tr::BankInput {
            id: Some("MCB-UCMSC-01".into()),
            kind: "master".into(),
            parent_id: None,
            donor_id: None,
            cell_line: "脐带间充质干细胞 UC-MSC".into(),
            passage: 2,
            passage_limit: 8,
            vials: 120,
        },
        &at(t0, 13, 0),
    )
    .await?;
    tr::register_bank(
        store,
        &p.qa,
        &tr::BankInput {
            id: Some("WCB-UCMSC-01".into()),
            kind: "working".into(),
            parent_id: Some("MCB-UCMSC-01".into()),
            donor_id: None,
            cell_line: "脐带间充质干细胞 UC-MSC".into(),
            passage: 2,
            passage_limit: 8,
            vials: 300,
        },
        &at(t0, 14, 0),
    )
    .await?;
    let dm = day(2026, 9, 20);
    let b = tr::start_batch(
        store,
        &p.operator,
        &tr::BatchInput {
            process_id: msc.id.clone(),
            input_units: vec![],
            cell_bank_id: Some("WCB-UCMSC-01".into()),
            site_id: Some(HOSPITAL.into()),
        },
        &at(dm, 9, 0),
    )
    .await?;
    tr::record_step(
        store,
        &p.operator,
        &b.id,
        &tr::StepInput {
            step: "扩增至 P6 / expansion to P6".into(),
            equipment_id: Some("EQ-ZJ-INC-03".into()),
            lots: vec!["LOT-ZJ-MSCMED-2609".into()],
            passages: 2,
        },
        &at(dm, 10, 0),
    )
    .await?;
    for (test, value) in [("viability", "94.2"), ("sterility", "no_growth")] {
        tr::record_test(
            store,
            &p.qa,
            &b.id,
            &tr::TestInput {
                test: test.into(),
                stage: "release".into(),
                value: value.into(),
            },
            &at(dm + chrono::Days::new(12), 9, 0),
        )
        .await?;
    }
    tr::make_units(
        store,
        &p.operator,
        &b.id,
        &tr::MakeUnitsInput {
            units: (1..=3)
                .map(|i| tr::MadeInput {
                    din: format!("{FIN_C}2630010{i}"),
                    product_code: Some("S3001V00".into()),
                    expires_on: "2030-06-30".into(),
                })
                .collect(),
            location: "液氮罐 LN2-T2 / 架 R1".into(),
            range_min: None,
            range_max: None,
        },
        &at(dm + chrono::Days::new(12), 14, 0),
    )
    .await?;
    let h = head(store, &tr::batch_stream(&b.id)).await?;
    tr::release_batch(
        store,
        &p.qp,
        &b.id,
        &tr::ReleaseInput {
            signature: sign(&p.qp, "approved", h),
        },
        &at(dm + chrono::Days::new(13), 9, 0),
    )
    .await?;
    // One MSC bag goes to the hospital before the medium lot is recalled.
    let shipped = tr::dispatch(
        store,
        &p.operator,
        &tr::DispatchInput {
            to_org: HOSPITAL.into(),
            shipper: "dry_shipper".into(),
            courier: "生物样本专线 BioCourier".into(),
            logger_id: None,
            unit_ids: vec![format!("{FIN_C}26300101S3001V00")],
        },
        &at(dm + chrono::Days::new(14), 8, 0),
    )
    .await?;
    tr::receive(
        store,
        &p.nurse,
        &shipped.id,
        &tr::ReceiveInput {
            condition: "intact".into(),
        },
        &at(dm + chrono::Days::new(14), 12, 0),
    )
    .await?;
    let h = head(store, "lot:LOT-ZJ-MSCMED-2609").await?;
    tr::set_halt(
        store,
        &p.qa,
        &tr::HaltInput {
            kind: "lot".into(),
            target_id: "LOT-ZJ-MSCMED-2609".into(),
            reason: "供应商召回通知：该批培养基内毒素超标，停用并追溯 / supplier recall: endotoxin above limit in this medium lot; stop use and trace".into(),
            signature: sign(&p.qa, "responsible", h),
        },
        true,
        &at(day(2026, 11, 10), 9, 0),
    )
    .await?;
    Ok(())
}
