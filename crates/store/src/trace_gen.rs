//! A synthetic chain-of-custody data set for load and query tests
//! (`celltrail trace generate`): N autologous CAR-T patients across twelve
//! hospitals and two preparation centres, each with a realistic chain —
//! apheresis, a courier at 2–8 °C with a minute-by-minute logger, four
//! process steps with equipment and material lots, in-process and release
//! tests (a few out of specification, retested after investigation), two
//! bags, QP release with an electronic signature, storage, a dry shipper
//! back with its logger (a few excursions), the two-person bedside check (a
//! few wrong bags caught), infusion, and the spare bag wasted or returned.
//!
//! The events are the ones the commands append, with the same payloads, so
//! every projection and the ledger see what real use would give them; the
//! generator writes them directly (the commands would re-check a password
//! with argon2 for every signature) and keeps its choices reproducible from
//! a seed.

use celltrail_core::trace::{example_car_t_specs, Spec};
use celltrail_ledger::NewEvent;
use serde::Serialize;

use crate::error::StoreResult;
use crate::projection::SignaturePayload;
use crate::service::{self, signature_manifest_hash, Actor, OrgInput, UserInput, When};
use crate::trace::{self as tr, *};
use crate::Store;

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenOptions {
    pub patients: u32,
    /// Logger readings per shipment (one a minute).
    pub readings_per_log: u32,
    pub seed: u64,
}

/// What was generated and how long it took.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GenReport {
    pub patients: u32,
    pub ledger_events: u64,
    pub readings: u64,
    pub lineage_edges: u64,
    pub seconds: f64,
    /// (ledger events + readings) per second.
    pub rows_per_second: f64,
}

const HOSPITALS: u32 = 12;
/// Patients written together, stage by stage.
const CHUNK: u32 = 50;
const CENTRES: u32 = 2;
pub const GEN_PASSWORD: &str = "CellTrail-Generated-2026";

/// A small deterministic generator (SplitMix64): the data set depends on
/// the seed alone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// True with probability `p` per mille.
    fn permille(&mut self, p: u64) -> bool {
        self.next() % 1000 < p
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }
}

fn hospital(i: u32) -> String {
    format!("org-gen-h{i:02}")
}
fn centre(i: u32) -> String {
    format!("org-gen-c{i}")
}

struct Staff {
    pi: Actor,
    nurse: Actor,
    nurse2: Actor,
}

struct Maker {
    operator: Actor,
    qa: Actor,
    qp: Actor,
    process: String,
}

fn ev(
    a: &Actor,
    stream: String,
    kind: &str,
    payload: impl Serialize,
    time: &str,
    reason: &str,
) -> StoreResult<NewEvent> {
    Ok(NewEvent {
        stream,
        kind: kind.to_string(),
        payload: serde_json::to_value(payload)?,
        actor: a.user_id.clone(),
        org: a.org_id.clone(),
        time: time.to_string(),
        reason: reason.to_string(),
    })
}

/// Registers a generated organisation unless it is there already.
async fn ensure_org(store: &dyn Store, input: OrgInput, when: &When) -> StoreResult<()> {
    let id = input.id.clone().unwrap_or_default();
    if store.organisation(&id).await?.is_none() {
        service::register_org(store, &Actor::system(), &input, "generated data set", when).await?;
    }
    Ok(())
}

async fn gen_user(
    store: &dyn Store,
    when: &When,
    org_id: String,
    name: String,
    role: &str,
) -> StoreResult<Actor> {
    let u = match store.user_by_username(&name).await? {
        Some(u) => u,
        None => {
            service::create_user(
                store,
                &Actor::system(),
                &UserInput {
                    org_id,
                    username: name.clone(),
                    display_name: format!("{name} (generated)"),
                    email: String::new(),
                    roles: vec![role.to_string()],
                    password: GEN_PASSWORD.into(),
                },
                "generated data set",
                when,
            )
            .await?
        }
    };
    service::load_actor(store, &u.id).await
}

/// Organisations, staff, processes, equipment; idempotent per database
/// (an existing generated world is reused).
async fn world(store: &dyn Store, when: &When) -> StoreResult<(Vec<Staff>, Vec<Maker>)> {
    if store
        .organisation(crate::service::SYSTEM_ORG)
        .await?
        .is_none()
    {
        service::bootstrap(store, "admin", GEN_PASSWORD, when).await?;
    }
    let org = |id: String, ty: &str, i: u32| OrgInput {
        id: Some(id.clone()),
        org_type: ty.into(),
        name_zh: format!("生成数据机构 {id}"),
        name_en: format!("Generated organisation {id}"),
        uscc: None,
        province_code: ["31", "11", "44", "12", "46", "43"][(i % 6) as usize].into(),
        city_zh: String::new(),
        city_en: String::new(),
        grade: (ty == "medical_institution").then(|| "3A".to_string()),
        address_zh: String::new(),
        address_en: String::new(),
    };
    let mut staff = Vec::new();
    for i in 0..HOSPITALS {
        let id = hospital(i);
        ensure_org(store, org(id.clone(), "medical_institution", i), when).await?;
        staff.push(Staff {
            pi: gen_user(
                store,
                when,
                id.clone(),
                format!("gen.h{i}.pi"),
                "investigator",
            )
            .await?,
            nurse: gen_user(
                store,
                when,
                id.clone(),
                format!("gen.h{i}.nurse"),
                "clinical_nurse",
            )
            .await?,
            nurse2: gen_user(
                store,
                when,
                id.clone(),
                format!("gen.h{i}.nurse2"),
                "clinical_nurse",
            )
            .await?,
        });
    }
    let mut makers = Vec::new();
    for i in 0..CENTRES {
        let id = centre(i);
        ensure_org(store, org(id.clone(), "preparation_centre", i), when).await?;
        let qa = gen_user(
            store,
            when,
            id.clone(),
            format!("gen.c{i}.qa"),
            "quality_assurance",
        )
        .await?;
        let process = format!("PROC-GEN-C{i}");
        if tr::process(store, &process).await?.is_none() {
            tr::define_process(
                store,
                &qa,
                &ProcessInput {
                    id: Some(process.clone()),
                    technology_id: None,
                    name: format!("CD19 CAR-T (generated, centre {i})"),
                    specs: example_car_t_specs(),
                    reason: None,
                },
                when,
            )
            .await?;
            for e in 0..3 {
                tr::register_equipment(
                    store,
                    &qa,
                    &EquipmentInput {
                        id: Some(format!("EQ-GEN-C{i}-{e}")),
                        name: format!("equipment {e}"),
                        kind: ["cell_separator", "biosafety_cabinet", "incubator"][e].into(),
                        calibrated_until: "2099-12-31".into(),
                    },
                    when,
                )
                .await?;
            }
        }
        makers.push(Maker {
            operator: gen_user(
                store,
                when,
                id.clone(),
                format!("gen.c{i}.operator"),
                "process_operator",
            )
            .await?,
            qp: gen_user(
                store,
                when,
                id.clone(),
                format!("gen.c{i}.qp"),
                "qualified_person",
            )
            .await?,
            qa,
            process,
        });
    }
    Ok((staff, makers))
}

/// Minutes after 2024-01-01T00:00 as a ledger time and a logger time.
fn stamp(minutes: i64) -> (String, String) {
    let t = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
        .unwrap_or_default()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        + chrono::Duration::minutes(minutes);
    (
        t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        t.format("%Y-%m-%dT%H:%M:%S").to_string(),
    )
}

/// Generates `opt.patients` chains; `progress(done)` is called after each
/// patient. Patient numbers continue after any already generated.
pub async fn generate(
    store: &dyn Store,
    opt: &GenOptions,
    progress: &mut dyn FnMut(u32),
) -> StoreResult<GenReport> {
    let setup = When::at(
        chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default(),
        0,
        0,
    );
    let (staff, makers) = world(store, &setup).await?;
    let first: u32 = store
        .select(
            "SELECT COUNT(*) AS n FROM trace_people WHERE id LIKE 'pn-gen-%'",
            vec![],
        )
        .await?
        .first()
        .and_then(|m| m.get("n").and_then(serde_json::Value::as_i64))
        .unwrap_or(0) as u32;
    let start = std::time::Instant::now();
    let (events0, readings0) = (
        store.event_count().await?,
        count(store, "temperature_readings").await?,
    );
    let mut rng = Rng(opt.seed ^ u64::from(first).wrapping_mul(0x2545_F491_4F6C_DD1D));
    // Patients go in chunks, each stage of a chunk in one append per
    // organisation: fewer durable commits, the same events in the same
    // order within every stream.
    let mut k = 0;
    while k < opt.patients {
        let chunk: Vec<u32> = (k..opt.patients.min(k + CHUNK))
            .map(|x| first + x)
            .collect();
        let mut plans = Vec::new();
        let mut early: [Vec<NewEvent>; 3] = Default::default();
        for &n in &chunk {
            let (plan, stages) = patient_early(
                store,
                &staff[(n % HOSPITALS) as usize],
                &makers[(n % CENTRES) as usize],
                n,
                n == first,
                opt,
                &mut rng,
            )
            .await?;
            for (all, st) in early.iter_mut().zip(stages) {
                all.extend(st);
            }
            plans.push(plan);
        }
        for stage in early {
            append_by_org(store, stage).await?;
        }
        let mut late: [Vec<NewEvent>; 3] = Default::default();
        for (plan, &n) in plans.iter().zip(&chunk) {
            let stages = patient_late(
                store,
                &staff[(n % HOSPITALS) as usize],
                &makers[(n % CENTRES) as usize],
                plan,
                opt,
                &mut rng,
            )
            .await?;
            for (all, st) in late.iter_mut().zip(stages) {
                all.extend(st);
            }
        }
        for stage in late {
            append_by_org(store, stage).await?;
        }
        k += chunk.len() as u32;
        progress(k);
    }
    store.checkpoint(std::time::Duration::ZERO).await?;
    // A bulk load ends with fresh planner statistics, as bulk loaders do:
    // without them PostgreSQL may scan `lineage` for a genealogy step.
    store.analyze().await?;
    let seconds = start.elapsed().as_secs_f64();
    let ledger_events = store.event_count().await? - events0;
    let readings = count(store, "temperature_readings").await? - readings0;
    Ok(GenReport {
        patients: opt.patients,
        ledger_events,
        readings,
        lineage_edges: count(store, "lineage").await?,
        seconds,
        rows_per_second: (ledger_events + readings) as f64 / seconds.max(1e-9),
    })
}

/// Appends a stage's events, one batch per organisation (a batch is sealed
/// by one organisation), keeping their order within each organisation. A
/// stage never holds two organisations' events on one stream.
async fn append_by_org(store: &dyn Store, events: Vec<NewEvent>) -> StoreResult<()> {
    let mut by_org: std::collections::BTreeMap<String, Vec<NewEvent>> = Default::default();
    for e in events {
        by_org.entry(e.org.clone()).or_default().push(e);
    }
    for (_, batch) in by_org {
        store.append(batch).await?;
    }
    Ok(())
}

async fn count(store: &dyn Store, table: &str) -> StoreResult<u64> {
    Ok(store
        .select(&format!("SELECT COUNT(*) AS n FROM {table}"), vec![])
        .await?
        .first()
        .and_then(|m| m.get("n").and_then(serde_json::Value::as_i64))
        .unwrap_or(0) as u64)
}

fn log(start: i64, n: u32, base_c100: i64, excursion: bool, rng: &mut Rng) -> Vec<(String, i64)> {
    let mut out = Vec::with_capacity(n as usize);
    let spike = rng.range(n as i64 / 4, n as i64 / 2);
    for i in 0..n as i64 {
        let jitter = rng.range(-40, 40);
        let mut c = base_c100 + jitter;
        if excursion && (spike..spike + 25).contains(&i) {
            // A dry shipper warming to −100 °C for 25 minutes.
            c = -10_000;
        }
        out.push((stamp(start + i).1, c));
    }
    out
}

fn excursions_of(
    readings: &[(String, i64)],
    range: (Option<i64>, Option<i64>),
) -> (Vec<ExcursionRec>, i64) {
    use celltrail_core::coldchain::{excursions, Range, Reading};
    let rs: Vec<Reading> = readings
        .iter()
        .filter_map(|(t, c)| {
            Some(Reading {
                time: chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").ok()?,
                celsius: *c as f64 / 100.0,
            })
        })
        .collect();
    let range = Range {
        min: range.0.map(|c| c as f64 / 100.0),
        max: range.1.map(|c| c as f64 / 100.0),
    };
    let (ex, total) = excursions(&rs, range);
    (
        ex.iter()
            .map(|e| ExcursionRec {
                start: e.start.format("%Y-%m-%dT%H:%M:%S").to_string(),
                end: e.end.format("%Y-%m-%dT%H:%M:%S").to_string(),
                minutes: e.minutes,
                worst_c100: (e.worst_celsius * 100.0).round() as i64,
            })
            .collect(),
        total,
    )
}

/// What the second half of a patient's chain needs from the first.
struct Plan {
    n: u32,
    pid: String,
    coi: String,
    bid: String,
    bag_dins: [String; 2],
    ids: Vec<String>,
    day0: i64,
}

fn at(day0: i64, min: i64) -> String {
    stamp(day0 + min).0
}

/// The first half of one patient's chain, in stages of one organisation
/// each: registration, collection and courier (hospital); receipt and log
/// (centre); manufacture to filled bags (centre).
#[allow(clippy::too_many_arguments)]
async fn patient_early(
    store: &dyn Store,
    h: &Staff,
    m: &Maker,
    n: u32,
    first_of_run: bool,
    opt: &GenOptions,
    rng: &mut Rng,
) -> StoreResult<(Plan, [Vec<NewEvent>; 3])> {
    let day0 = i64::from(n / 20) * 1440 + i64::from(n % 20) * 20;
    let t = |min: i64| at(day0, min);
    let pid = format!("pn-gen-{n:07}");
    let fin = format!("X{:04}", n % 10_000);
    // DINs: 13 characters, unique per patient (sequence, then year).
    let year = format!("{:02}", 24 + (n / 100_000) % 70);
    let seq = n % 100_000;
    let col_din = format!("{fin}{year}{:06}", seq * 10);
    let bag_dins = [
        format!("{fin}{year}{:06}", seq * 10 + 1),
        format!("{fin}{year}{:06}", seq * 10 + 2),
    ];
    let din = celltrail_core::isbt::Din::parse(&col_din)
        .map_err(|e| crate::StoreError::internal(e.code, col_din.clone()))?;
    let coi = format!("{col_din}{}", din.check_char());
    let col_unit = format!("{col_din}S1001V00");
    let site = h.pi.org_id.clone();
    let maker = m.operator.org_id.clone();
    let identity = format!("{{\"name\":\"generated {n}\"}}");
    let salt = format!("salt-gen-{n}");
    store
        .put_identity(&pid, &salt, &identity, &format!("GEN-MRN-{n:07}"))
        .await?;

    let ship1 = format!("shp-gen-{n:07}-a");
    let r1 = log(day0 + 150, opt.readings_per_log, 450, false, rng);
    let (x1, out1) = excursions_of(&r1, (Some(200), Some(800)));
    let s1 = vec![
        ev(
            &h.pi,
            person_stream(&pid),
            PERSON_REGISTERED,
            PersonRegistered {
                id: pid.clone(),
                kind: "patient".into(),
                institution_id: site.clone(),
                project_id: None,
                identity_sha256: celltrail_ledger::sha256_hex(
                    format!("{salt}{identity}").as_bytes(),
                ),
            },
            &t(0),
            "受者登记（假名） / patient registered under a pseudonym",
        )?,
        ev(
            &h.pi,
            format!("collection:col-gen-{n:07}"),
            COLLECTED,
            Collected {
                id: format!("col-gen-{n:07}"),
                coi: coi.clone(),
                unit_id: col_unit.clone(),
                din: col_din.clone(),
                product_code: Some("S1001V00".into()),
                donor_id: pid.clone(),
                patient_id: Some(pid.clone()),
                site_id: site.clone(),
                project_id: None,
                kind: "apheresis".into(),
                eligibility: "autologous_only".into(),
                range_min: Some(200),
                range_max: Some(800),
            },
            &t(60),
            "采集 apheresis / collection (apheresis)",
        )?,
        ev(
            &h.pi,
            shipment_stream(&ship1),
            SHIPMENT_DISPATCHED,
            ShipmentDispatched {
                id: ship1.clone(),
                from_org: site.clone(),
                to_org: maker.clone(),
                shipper: "2_8c".into(),
                courier: "generated courier".into(),
                logger_id: Some(format!("TL-{n}")),
                unit_ids: vec![col_unit.clone()],
            },
            &t(150),
            "发运交接 / handed off for shipment",
        )?,
    ];
    let s2 = vec![
        ev(
            &m.operator,
            shipment_stream(&ship1),
            SHIPMENT_RECEIVED,
            ShipmentReceived {
                id: ship1.clone(),
                org: maker.clone(),
                unit_ids: vec![col_unit.clone()],
                condition: "intact".into(),
            },
            &t(150 + i64::from(opt.readings_per_log)),
            "接收确认 / receipt acknowledged",
        )?,
        ev(
            &m.operator,
            shipment_stream(&ship1),
            LOG_IMPORTED,
            LogImported {
                shipment_id: ship1.clone(),
                sha256: celltrail_ledger::sha256_hex(format!("log-a-{n}").as_bytes()),
                range_min: Some(200),
                range_max: Some(800),
                readings: r1,
                excursions: x1,
                minutes_out: out1,
                affected_units: vec![],
            },
            &t(160 + i64::from(opt.readings_per_log)),
            "温度记录导入 / temperature log imported",
        )?,
    ];

    // Manufacture: start, four steps, tests (a few out of specification and
    // retested), two bags.
    let bid = format!("bat-gen-{n:07}");
    let bs = batch_stream(&bid);
    let d = 2 * 1440;
    let lot = |kind: &str, every: u32| format!("LOT-GEN-{kind}-{}", n / every);
    let mut b = vec![ev(
        &m.operator,
        bs.clone(),
        BATCH_STARTED,
        BatchStarted {
            id: bid.clone(),
            org_id: maker.clone(),
            process_id: m.process.clone(),
            technology_id: None,
            coi: Some(coi.clone()),
            patient_id: Some(pid.clone()),
            site_id: Some(site.clone()),
            input_units: vec![col_unit.clone()],
            cell_bank_id: None,
            passage: 0,
        },
        &t(d),
        "批次开始 / batch started",
    )?];
    for (lt, every) in [("BEAD", 40), ("LV", 50), ("MED", 30), ("CRYO", 60)] {
        let l = lot(lt, every);
        if n.is_multiple_of(every) || (first_of_run && tr::lot(store, &l).await?.is_none()) {
            b.push(ev(
                &m.operator,
                format!("lot:{l}"),
                LOT_REGISTERED,
                LotRegistered {
                    id: l.clone(),
                    org_id: maker.clone(),
                    material: lt.to_lowercase(),
                    supplier: "generated".into(),
                    lot: l.clone(),
                    expires_on: "2099-12-31".into(),
                    status: "released".into(),
                },
                &t(d),
                "物料批次登记 / material lot registered",
            )?);
        }
    }
    for (i, (step, lt, every)) in [
        ("selection and activation", "BEAD", 40),
        ("lentiviral transduction", "LV", 50),
        ("expansion", "MED", 30),
        ("harvest and formulation", "CRYO", 60),
    ]
    .into_iter()
    .enumerate()
    {
        b.push(ev(
            &m.operator,
            bs.clone(),
            STEP_RECORDED,
            StepRecorded {
                batch_id: bid.clone(),
                step: step.into(),
                operator_id: m.operator.user_id.clone(),
                equipment_id: Some(format!(
                    "EQ-GEN-{}-{}",
                    if maker.ends_with('0') { "C0" } else { "C1" },
                    i % 3
                )),
                lots: vec![lot(lt, every)],
                passages: 0,
            },
            &t(d + 60 * (i as i64 + 1) * 24),
            "工序 / process step",
        )?);
    }
    let test_t = t(d + 9 * 1440);
    // Results for every test of the specification, read against it as
    // `record_test` reads them; a few viabilities fall out of specification,
    // are investigated and retested.
    let oos = rng.permille(40);
    let value = |test: &str, rng: &mut Rng| -> String {
        match test {
            "cell_count" => format!("{}e9", rng.range(12, 40) as f64 / 10.0),
            "viability" if oos => format!("{:.1}", rng.range(550, 690) as f64 / 10.0),
            "viability" => format!("{:.1}", rng.range(760, 960) as f64 / 10.0),
            "endotoxin" => format!("{:.2}", rng.range(10, 200) as f64 / 100.0),
            "cd3_purity" => format!("{:.1}", rng.range(900, 995) as f64 / 10.0),
            "transduction_efficiency" => format!("{:.1}", rng.range(200, 600) as f64 / 10.0),
            "vector_copy_number" => format!("{:.2}", rng.range(80, 350) as f64 / 100.0),
            "potency" => format!("{}", rng.range(900, 4000)),
            "identity" => "car_positive".into(),
            "sterility" => "no_growth".into(),
            "mycoplasma" => "negative".into(),
            _ => "not_detected".into(),
        }
    };
    let result = |spec: &Spec, value: String| -> StoreResult<TestRecorded> {
        let verdict = celltrail_core::trace::evaluate(&spec.limit, &value)
            .map_err(|e| crate::StoreError::internal(e.code, value.clone()))?;
        Ok(TestRecorded {
            batch_id: bid.clone(),
            test: spec.test.clone(),
            stage: spec.stage.clone(),
            value,
            unit: spec.unit.clone(),
            spec: spec.limit.display(),
            verdict: verdict.as_str().into(),
        })
    };
    for spec in example_car_t_specs() {
        let r = result(&spec, value(&spec.test, rng))?;
        let failed = r.verdict == "fail";
        b.push(ev(
            &m.qa,
            bs.clone(),
            TEST_RECORDED,
            &r,
            &test_t,
            "检验结果 / test result",
        )?);
        if failed {
            let dev = format!("dev-gen-{n:07}");
            let later = t(d + 10 * 1440);
            b.push(ev(
                &m.qa,
                bs.clone(),
                DEVIATION_OPENED,
                DeviationOpened {
                    id: dev.clone(),
                    batch_id: bid.clone(),
                    test: spec.test.clone(),
                    value: r.value.clone(),
                },
                &test_t,
                "检验不合格，批次暂停 / out of specification, batch on hold",
            )?);
            b.push(ev(
                &m.qa,
                bs.clone(),
                DEVIATION_CLOSED,
                DeviationClosed {
                    id: dev,
                    batch_id: bid.clone(),
                    disposition: "continue".into(),
                    note: "计数仪加样错误，复检 / counter loading error; retest".into(),
                    batch_status: "in_process".into(),
                },
                &later,
                "计数仪加样错误，复检 / counter loading error; retest",
            )?);
            let retest = result(&spec, format!("{:.1}", rng.range(760, 950) as f64 / 10.0))?;
            b.push(ev(
                &m.qa,
                bs.clone(),
                TEST_RECORDED,
                &retest,
                &later,
                "复检结果 / retest result",
            )?);
        }
    }
    let bags: Vec<MadeUnit> = bag_dins
        .iter()
        .map(|x| MadeUnit {
            id: format!("{x}S2001V00"),
            din: x.clone(),
            product_code: Some("S2001V00".into()),
            expires_on: "2099-12-31".into(),
        })
        .collect();
    b.push(ev(
        &m.operator,
        bs.clone(),
        UNITS_MADE,
        UnitsMade {
            batch_id: bid.clone(),
            maker_id: maker.clone(),
            coi: coi.clone(),
            patient_id: Some(pid.clone()),
            site_id: site.clone(),
            range_min: None,
            range_max: Some(-15000),
            location: format!("LN2-{}/R{}", n % 8, n % 40),
            units: bags.clone(),
        },
        &t(d + 10 * 1440 + 120),
        "成品分装 / final units filled",
    )?);

    let ids: Vec<String> = bags.iter().map(|u| u.id.clone()).collect();
    Ok((
        Plan {
            n,
            pid,
            coi,
            bid,
            bag_dins,
            ids,
            day0,
        },
        [s1, s2, b],
    ))
}

/// The second half, once the bags are on record: QP release signed over
/// the batch record as it stands, storage and the dry shipper back
/// (centre); receipt, log, bedside and infusion (hospital); QA's ruling on
/// bags caught by an excursion (centre).
async fn patient_late(
    store: &dyn Store,
    h: &Staff,
    m: &Maker,
    p: &Plan,
    opt: &GenOptions,
    rng: &mut Rng,
) -> StoreResult<[Vec<NewEvent>; 3]> {
    let Plan {
        n,
        pid,
        coi,
        bid,
        bag_dins,
        ids,
        day0,
    } = p;
    let (n, day0) = (*n, *day0);
    let t = |min: i64| at(day0, min);
    let site = h.pi.org_id.clone();
    let maker = m.operator.org_id.clone();
    let bs = batch_stream(bid);
    let d = 2 * 1440;
    let (_, record_hash) = store.stream_head(&bs).await?.unwrap_or_default();
    let rel_t = t(d + 11 * 1440);
    let signature = SignaturePayload {
        meaning: "approved".into(),
        user_id: m.qp.user_id.clone(),
        printed_name: m.qp.display_name.clone(),
        org_id: maker.clone(),
        signed_at: rel_t.clone(),
        manifest_hash: signature_manifest_hash(
            &bs,
            "batch_release",
            "approved",
            &m.qp.user_id,
            &m.qp.display_name,
            &rel_t,
            &record_hash,
        )?,
        record_hash,
    };
    let ship2 = format!("shp-gen-{n:07}-b");
    let back = d + 12 * 1440;
    let excursion = rng.permille(30);
    let r2 = log(back, opt.readings_per_log, -18_500, excursion, rng);
    let (x2, out2) = excursions_of(&r2, (None, Some(-15_000)));
    let affected = if x2.is_empty() { vec![] } else { ids.clone() };
    let s4 = vec![
        ev(
            &m.qp,
            bs.clone(),
            BATCH_RELEASED,
            BatchReleased {
                batch_id: bid.clone(),
                unit_ids: ids.clone(),
                signature,
            },
            &rel_t,
            "质量受权人放行 / released by the qualified person",
        )?,
        ev(
            &m.operator,
            unit_stream(&ids[0]),
            UNIT_STORED,
            UnitStored {
                unit_id: ids[0].clone(),
                location: format!("LN2-{}/R{}/B{}", n % 8, n % 40, n % 9),
            },
            &rel_t,
            "入库 / stored",
        )?,
        ev(
            &m.operator,
            shipment_stream(&ship2),
            SHIPMENT_DISPATCHED,
            ShipmentDispatched {
                id: ship2.clone(),
                from_org: maker.clone(),
                to_org: site.clone(),
                shipper: "dry_shipper".into(),
                courier: "generated courier".into(),
                logger_id: Some(format!("DS-{n}")),
                unit_ids: ids.clone(),
            },
            &t(back),
            "发运交接 / handed off for shipment",
        )?,
    ];
    let mut s5 = vec![
        ev(
            &h.nurse,
            shipment_stream(&ship2),
            SHIPMENT_RECEIVED,
            ShipmentReceived {
                id: ship2.clone(),
                org: site.clone(),
                unit_ids: ids.clone(),
                condition: "intact".into(),
            },
            &t(back + i64::from(opt.readings_per_log)),
            "接收确认 / receipt acknowledged",
        )?,
        ev(
            &h.nurse,
            shipment_stream(&ship2),
            LOG_IMPORTED,
            LogImported {
                shipment_id: ship2.clone(),
                sha256: celltrail_ledger::sha256_hex(format!("log-b-{n}").as_bytes()),
                range_min: None,
                range_max: Some(-15_000),
                readings: r2,
                excursions: x2,
                minutes_out: out2,
                affected_units: affected.clone(),
            },
            &t(back + i64::from(opt.readings_per_log) + 10),
            "温度记录导入 / temperature log imported",
        )?,
    ];
    let bedside = back + i64::from(opt.readings_per_log) + 24 * 60;
    let mut s6 = Vec::new();
    if excursion {
        // QA at the centre rules the bags out; the chain ends here.
        for u in ids.iter() {
            s6.push(ev(
                &m.qa,
                unit_stream(u),
                UNIT_ASSESSED,
                UnitAssessed {
                    unit_id: u.clone(),
                    usable: false,
                    status: "wasted".into(),
                },
                &t(bedside),
                "温度偏离，不可使用 / excursion, not usable",
            )?);
        }
    } else {
        let chk = |id: String, matched: bool, bag: &str| BedsideChecked {
            id,
            unit_id: ids[0].clone(),
            patient_id: pid.clone(),
            first_user: h.nurse.user_id.clone(),
            second_user: h.nurse2.user_id.clone(),
            matched,
            mismatches: if matched {
                vec![]
            } else {
                vec![MismatchRec {
                    field: "bag".into(),
                    code: "scan_mismatch".into(),
                }]
            },
            scanned_coi: coi.clone(),
            scanned_bag: bag.to_string(),
        };
        if rng.permille(10) {
            s5.push(ev(
                &h.nurse,
                unit_stream(&ids[0]),
                BEDSIDE_CHECKED,
                chk(format!("chk-gen-{n:07}-x"), false, "=X99992499999900"),
                &t(bedside - 5),
                "床旁核对不一致，禁止输注 / bedside check mismatch, administration blocked",
            )?);
        }
        let check_id = format!("chk-gen-{n:07}");
        s5.push(ev(
            &h.nurse,
            unit_stream(&ids[0]),
            BEDSIDE_CHECKED,
            chk(check_id.clone(), true, &format!("={}00", bag_dins[0])),
            &t(bedside),
            "床旁双人核对一致 / bedside two-person check matched",
        )?);
        s5.push(ev(
            &h.nurse,
            unit_stream(&ids[0]),
            ADMINISTERED,
            Administered {
                unit_id: ids[0].clone(),
                patient_id: pid.clone(),
                check_id,
                note: String::new(),
            },
            &t(bedside + 20),
            "输注 / administered",
        )?);
        let spare = if rng.permille(500) {
            UNIT_WASTED
        } else {
            UNIT_RETURNED
        };
        s5.push(ev(
            &h.nurse,
            unit_stream(&ids[1]),
            spare,
            UnitDisposed {
                unit_id: ids[1].clone(),
                reason_code: "patient_not_eligible".into(),
            },
            &t(bedside + 3 * 1440),
            "第二剂未使用 / second dose not used",
        )?);
    }
    Ok([s4, s5, s6])
}
