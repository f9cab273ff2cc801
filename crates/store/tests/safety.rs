//! Clinical safety stories, each run on SQLite and (when
//! CELLTRAIL_TEST_PG_URL is set) PostgreSQL: a CAR-T patient with grade 3
//! cytokine release syndrome, expedited reports sent in time and late, the
//! E2B(R3) round trip into the national database with deduplication, and
//! long-term follow-up over simulated years.

use celltrail_store::safety::{self as sf, *};
use celltrail_store::service::{self, Actor, When};
use celltrail_store::testkit::{backends, ethics_world, org_input, test_user, EthicsWorld};
use celltrail_store::Store;
use chrono::NaiveDate;
use serde_json::json;

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn at(d: &str) -> When {
    When::at(day(d), 10, 0)
}

fn code<T: std::fmt::Debug>(r: Result<T, celltrail_store::StoreError>) -> &'static str {
    r.expect_err("expected an error").code
}

struct World {
    e: EthicsWorld,
    investigator: Actor,
    sponsor: Actor,
    national: Actor,
    provincial: Actor,
}

async fn world(store: &dyn Store) -> World {
    let e = ethics_world(store).await;
    let t = at("2026-06-01");
    for (id, ty, prov) in [
        ("org-sp", "sponsor", "31"),
        ("org-nmpa", "regulator", "00"),
        ("org-bj", "regulator", "11"),
    ] {
        service::register_org(
            store,
            &Actor::system(),
            &org_input(id, ty, prov),
            "test",
            &t,
        )
        .await
        .unwrap();
    }
    World {
        investigator: test_user(store, "org-h", "h.inv", "investigator").await,
        sponsor: test_user(store, "org-sp", "sp.mgr", "sponsor_manager").await,
        national: test_user(store, "org-nmpa", "nmpa.officer", "regulator_officer").await,
        provincial: test_user(store, "org-bj", "bj.officer", "regulator_officer").await,
        e,
    }
}

fn crs_event(w: &World, subject: usize) -> AeInput {
    AeInput {
        project_id: w.e.project_id.clone(),
        subject_id: Some(w.e.subjects[subject].clone()),
        patient_id: None,
        unit_id: None,
        sponsor_id: Some("org-sp".into()),
        product: "CD19 CAR-T (ZJ-CART19)".into(),
        product_class: "car_t".into(),
        sex: Some("female".into()),
        age_years: Some(54.0),
        term: "细胞因子释放综合征".into(),
        meddra_code: Some("10052015".into()),
        meddra_version: Some("27.1".into()),
        onset: "2026-07-03".into(),
        aware: "2026-07-03".into(),
        resolved: None,
        seriousness: vec!["hospitalisation".into(), "life_threatening".into()],
        severity: 3,
        // 39.4 °C, one vasopressor, high-flow oxygen: ASTCT grade 3 (Lee et
        // al. 2019, Table 5: hypotension needing a vasopressor with or
        // without vasopressin, and/or hypoxia needing high-flow cannula).
        crs: Some(json!({"temperature_c": 39.4, "hypotension": "one_vasopressor", "hypoxia": "high_flow"})),
        icans: None,
        expectedness: "unexpected".into(),
        causality: "probable".into(),
        outcome: "recovering".into(),
        narrative: "Day 3 after infusion: fever, hypotension needing norepinephrine, high-flow oxygen; tocilizumab given.".into(),
        reason: None,
        coding: None,
    }
}

#[tokio::test]
async fn car_t_crs_grade_3_with_expedited_clocks_on_every_backend() {
    for b in backends().await {
        let s = b.store.as_ref();
        let w = world(s).await;
        let ae = report_ae(s, &w.investigator, &crs_event(&w, 0), &at("2026-07-04"))
            .await
            .unwrap();
        assert_eq!(ae.crs_grade, Some(3), "{:?}", b.store.backend());
        assert_eq!(ae.serious, 1);
        // A life-threatening, unexpected, related event is a 7-day SUSAR:
        // ICH E2A III.A.2(a) — initial report within 7 calendar days of
        // first knowledge, follow-up within 8 more days.
        assert_eq!(ae.report_kind, "susar_7");
        assert_eq!(ae.initial_due.as_deref(), Some("2026-07-10"));
        assert_eq!(ae.follow_up_due.as_deref(), Some("2026-07-18"));
        let rec = latest_record(s, &ae.id).await.unwrap();
        assert!(rec
            .crs
            .as_ref()
            .unwrap()
            .deciding
            .iter()
            .any(|d| d.starts_with("hypotension")));

        // Sent in time: initial on day 5.
        let sent = send_report(
            s,
            &w.investigator,
            &ae.id,
            &SendInput {
                kind: "initial".into(),
                recipient_id: "org-nmpa".into(),
                sent_on: Some("2026-07-08".into()),
            },
            &at("2026-07-08"),
        )
        .await
        .unwrap();
        assert_eq!(sent.on_time, 1);
        // The stored message is the E2B(R3) XML of the version sent.
        let (media, b64) = s.blob(&sent.sha256).await.unwrap().unwrap();
        assert_eq!(media, "application/hl7-v3+xml");
        use base64::Engine as _;
        let xml = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap();
        let cases = celltrail_core::e2b::read_xml(&xml).unwrap();
        assert_eq!(cases[0].worldwide_case_id, ae.case_id);
        assert!(cases[0].reactions[0].seriousness.life_threatening);

        // The follow-up is late: sent on day 17, due day 15.
        let mut fu = crs_event(&w, 0);
        fu.outcome = "recovered".into();
        fu.resolved = Some("2026-07-12".into());
        fu.reason = Some("CRS resolved after tocilizumab".into());
        let v2 = follow_up_ae(s, &w.investigator, &ae.id, &fu, &at("2026-07-13"))
            .await
            .unwrap();
        assert_eq!(v2.version, 2);
        assert_eq!(v2.initial_due, ae.initial_due, "the clock keeps its dates");
        // A follow-up needs its reason for change.
        let mut no_reason = fu.clone();
        no_reason.reason = None;
        assert_eq!(
            code(follow_up_ae(s, &w.investigator, &ae.id, &no_reason, &at("2026-07-13")).await),
            "field_required"
        );
        let late = send_report(
            s,
            &w.investigator,
            &ae.id,
            &SendInput {
                kind: "follow_up".into(),
                recipient_id: "org-nmpa".into(),
                sent_on: Some("2026-07-20".into()),
            },
            &at("2026-07-20"),
        )
        .await
        .unwrap();
        assert_eq!(late.on_time, 0);
        assert_eq!(late.version, 2);

        // The versions stay: version 1 is readable as it was.
        let vs = versions(s, &ae.id).await.unwrap();
        assert_eq!(vs.len(), 2);
        assert_eq!(vs[0].record().unwrap().outcome, "recovering");
        assert_eq!(vs[1].reason, "CRS resolved after tocilizumab");

        // Another SUSAR not yet sent is overdue on the dashboard.
        let mut other = crs_event(&w, 1);
        other.seriousness = vec!["hospitalisation".into()];
        other.crs = None;
        other.term = "Pancytopenia".into();
        other.meddra_code = None;
        other.onset = "2026-07-20".into();
        other.aware = "2026-07-21".into();
        let ae2 = report_ae(s, &w.investigator, &other, &at("2026-07-21"))
            .await
            .unwrap();
        // Not fatal or life-threatening: 15 calendar days (ICH E2A III.A.2(b)).
        assert_eq!(ae2.report_kind, "susar_15");
        assert_eq!(ae2.initial_due.as_deref(), Some("2026-08-05"));
        let row = sf::ae(s, &ae2.id).await.unwrap().unwrap();
        assert!(!row.overdue(day("2026-08-05")));
        assert!(row.overdue(day("2026-08-06")));
        let (sites, sponsors) = clock_dashboard(s, &w.investigator, day("2026-08-06"))
            .await
            .unwrap();
        assert_eq!(sites.len(), 1);
        assert_eq!(sites[0].overdue, 1);
        assert_eq!(sites[0].sent_on_time, 1);
        assert_eq!(sites[0].sent_late, 1);
        assert_eq!(sponsors[0].org_id, "org-sp");
        assert_eq!(sponsors[0].overdue, 1);

        // Who sees what: the sponsor and the national regulator see both;
        // another province's regulator sees neither.
        assert_eq!(aes(s, &w.sponsor).await.unwrap().len(), 2);
        assert_eq!(aes(s, &w.national).await.unwrap().len(), 2);
        assert!(aes(s, &w.provincial).await.unwrap().is_empty());
        assert_eq!(
            code(visible_ae(s, &w.provincial, &ae.id).await),
            "ae_not_found"
        );
        // The sponsor does not report for the site.
        assert_eq!(
            code(report_ae(s, &w.sponsor, &crs_event(&w, 0), &at("2026-07-04")).await),
            "ae_site_required"
        );

        // Replay rebuilds the same read models; the ledger verifies.
        let before = s.dump_read_models().await.unwrap();
        s.replay().await.unwrap();
        assert_eq!(before, s.dump_read_models().await.unwrap());
        s.checkpoint(std::time::Duration::ZERO).await.unwrap();
        assert!(s.verify().await.unwrap().is_ok());
    }
}

#[tokio::test]
async fn bad_input_names_the_field_on_every_backend() {
    for b in backends().await {
        let s = b.store.as_ref();
        let w = world(s).await;
        let t = at("2026-07-04");
        let mut i = crs_event(&w, 0);
        i.crs = Some(json!({"temperature_c": 39.4, "hypotension": "lots", "hypoxia": "none"}));
        let e = report_ae(s, &w.investigator, &i, &t).await.unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("grade_input_invalid", Some("crs"))
        );
        let mut i = crs_event(&w, 0);
        i.aware = "2026-07-01".into();
        let e = report_ae(s, &w.investigator, &i, &t).await.unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("ae_aware_before_onset", Some("aware"))
        );
        let mut i = crs_event(&w, 0);
        i.onset = "2026-08-01".into();
        i.aware = "2026-08-01".into();
        let e = report_ae(s, &w.investigator, &i, &t).await.unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("date_in_future", Some("onset"))
        );
        let mut i = crs_event(&w, 0);
        i.causality = "maybe".into();
        let e = report_ae(s, &w.investigator, &i, &t).await.unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("causality_invalid", Some("causality"))
        );
        let mut i = crs_event(&w, 0);
        i.subject_id = None;
        let e = report_ae(s, &w.investigator, &i, &t).await.unwrap_err();
        assert_eq!(e.code, "ae_patient_required");
        let mut i = crs_event(&w, 0);
        i.meddra_code = Some("1234".into());
        let e = report_ae(s, &w.investigator, &i, &t).await.unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("meddra_code_invalid", Some("meddra_code"))
        );
        // Nothing was written by the refused commands.
        assert!(aes(s, &w.investigator).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn national_database_deduplicates_and_imports_e2b_on_every_backend() {
    for b in backends().await {
        let s = b.store.as_ref();
        let w = world(s).await;
        let first = report_ae(s, &w.investigator, &crs_event(&w, 0), &at("2026-07-04"))
            .await
            .unwrap();
        let nr = submit_national(s, &w.investigator, &first.id, &at("2026-07-05"))
            .await
            .unwrap();
        assert_eq!(nr.duplicate_of, None);
        assert_eq!(nr.version, 1);
        // The national database holds no subject code, only the key.
        assert_eq!(nr.patient_key.len(), 64);
        assert!(!nr.patient_key.contains("S-001"));
        // Submitting again after a follow-up replaces the case (version 2).
        let mut fu = crs_event(&w, 0);
        fu.outcome = "recovered".into();
        fu.reason = Some("recovered".into());
        follow_up_ae(s, &w.investigator, &first.id, &fu, &at("2026-07-10"))
            .await
            .unwrap();
        let nr2 = submit_national(s, &w.investigator, &first.id, &at("2026-07-10"))
            .await
            .unwrap();
        assert_eq!((nr2.id.as_str(), nr2.version), (nr.id.as_str(), 2));
        // The same event reported again as a new case a day later: a
        // duplicate of the first (same patient, product, event).
        let mut again = crs_event(&w, 0);
        again.onset = "2026-07-04".into();
        again.aware = "2026-07-04".into();
        let second = report_ae(s, &w.investigator, &again, &at("2026-07-05"))
            .await
            .unwrap();
        let dup = submit_national(s, &w.investigator, &second.id, &at("2026-07-05"))
            .await
            .unwrap();
        assert_eq!(dup.duplicate_of.as_deref(), Some(nr.id.as_str()));
        // Another patient's CRS is its own case.
        let third = report_ae(s, &w.investigator, &crs_event(&w, 1), &at("2026-07-05"))
            .await
            .unwrap();
        let own = submit_national(s, &w.investigator, &third.id, &at("2026-07-05"))
            .await
            .unwrap();
        assert_eq!(own.duplicate_of, None);

        // The sponsor forwards the first case as E2B(R3): the same
        // worldwide case id from another sender is the same case.
        let xml = e2b_xml(s, &w.sponsor, &first.id).await.unwrap();
        let imported = import_e2b(s, &w.sponsor, &xml, &at("2026-07-11"))
            .await
            .unwrap();
        assert_eq!(imported.len(), 1);
        assert_eq!(imported[0].duplicate_of.as_deref(), Some(nr.id.as_str()));
        // Export → import → export gives the same message.
        let cases = celltrail_core::e2b::read_xml(&xml).unwrap();
        assert_eq!(celltrail_core::e2b::write_xml(&cases[0]), xml);
        // A message lacking the minimum case is refused, saying what lacks.
        let mut bare = cases[0].clone();
        bare.drugs.clear();
        let bad = celltrail_core::e2b::write_xml(&bare);
        let e = import_e2b(s, &w.sponsor, &bad, &at("2026-07-11"))
            .await
            .unwrap_err();
        assert_eq!(e.code, "e2b_minimum_case");

        // Signal rows count each case once: duplicates left out.
        let rows = signal_rows(s, &w.national, None).await.unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        // Only the national regulator (and the platform) read them.
        assert_eq!(
            code(signal_rows(s, &w.provincial, None).await),
            "signal_national_only"
        );
        assert_eq!(
            code(signal_rows(s, &w.investigator, None).await),
            "permission_denied"
        );
        let before = s.dump_read_models().await.unwrap();
        s.replay().await.unwrap();
        assert_eq!(before, s.dump_read_models().await.unwrap());
    }
}

#[tokio::test]
async fn long_term_follow_up_over_simulated_years_on_every_backend() {
    for b in backends().await {
        let s = b.store.as_ref();
        let w = world(s).await;
        let enrol = EnrolInput {
            project_id: w.e.project_id.clone(),
            subject_id: Some(w.e.subjects[0].clone()),
            patient_id: None,
            product: "CD19 CAR-T (ZJ-CART19)".into(),
            product_class: "car_t".into(),
            years: Some(15),
            start_on: "2026-07-01".into(),
        };
        let e1 = enrol_ltfu(s, &w.investigator, &enrol, &at("2026-07-02"))
            .await
            .unwrap();
        assert_eq!((e1.years, e1.visit_years), (15, 5));
        let vs = visits(s, &e1.id).await.unwrap();
        // FDA 2020 LTFU guidance: yearly visits for the first five years,
        // then yearly contact to year 15.
        assert_eq!(vs.iter().filter(|v| v.kind == "contact").count(), 10);
        assert_eq!(vs.last().unwrap().due, "2041-07-01");
        assert_eq!(
            code(enrol_ltfu(s, &w.investigator, &enrol, &at("2026-07-02")).await),
            "ltfu_exists"
        );
        // A second patient who stops coming after the first year; no years
        // given: a CAR-T product is followed 15 years (integrating vector,
        // FDA 2020 LTFU guidance), an MSC product needs them said.
        let mut e2i = enrol.clone();
        e2i.subject_id = Some(w.e.subjects[1].clone());
        e2i.years = None;
        let mut msc = e2i.clone();
        msc.product_class = "msc".into();
        msc.product = "UC-MSC".into();
        assert_eq!(
            code(enrol_ltfu(s, &w.investigator, &msc, &at("2026-07-02")).await),
            "ltfu_years_required"
        );
        let e2 = enrol_ltfu(s, &w.investigator, &e2i, &at("2026-07-02"))
            .await
            .unwrap();
        assert_eq!(e2.years, 15);
        let v2 = visits(s, &e2.id).await.unwrap();
        // Patient 1 keeps every visit of the first three years.
        let yearly: Vec<_> = vs
            .iter()
            .filter(|v| v.due.as_str() <= "2029-07-01")
            .collect();
        for v in &yearly {
            let when = at(&v.due);
            record_visit(
                s,
                &w.investigator,
                &e1.id,
                &VisitInput {
                    number: v.number as u32,
                    done_on: v.due.clone(),
                    vital: "alive".into(),
                    new_malignancy: false,
                    note: String::new(),
                },
                &when,
            )
            .await
            .unwrap();
        }
        // Patient 2 comes to the first visit only.
        record_visit(
            s,
            &w.investigator,
            &e2.id,
            &VisitInput {
                number: v2[0].number as u32,
                done_on: v2[0].due.clone(),
                vital: "alive".into(),
                new_malignancy: false,
                note: String::new(),
            },
            &at(&v2[0].due),
        )
        .await
        .unwrap();
        let today = day("2030-01-15");
        // Year 4 (due 2030-07-01) opens its ±30-day window on 2030-06-01:
        // reminded from 30 days before that, not yet in January.
        let soon = reminders(s, &w.investigator, day("2030-05-10"))
            .await
            .unwrap();
        let e1_soon: Vec<_> = soon.iter().filter(|r| r.enrolment_id == e1.id).collect();
        assert_eq!(e1_soon.len(), 1, "{soon:?}");
        assert_eq!(
            (e1_soon[0].due.as_str(), e1_soon[0].status.as_str()),
            ("2030-07-01", "upcoming")
        );
        let open = reminders(s, &w.investigator, day("2030-06-15"))
            .await
            .unwrap();
        assert!(open
            .iter()
            .any(|r| r.enrolment_id == e1.id && r.status == "due_now"));
        assert!(reminders(s, &w.investigator, today)
            .await
            .unwrap()
            .iter()
            .all(|r| r.enrolment_id != e1.id));
        let r1 = subject_status(&e1, &visits(s, &e1.id).await.unwrap(), today);
        let r2 = subject_status(&e2, &visits(s, &e2.id).await.unwrap(), today);
        assert_eq!(r1, celltrail_core::safety::SubjectFollowUpStatus::Active);
        assert_eq!(
            r2,
            celltrail_core::safety::SubjectFollowUpStatus::LostToFollowUp
        );
        let dash = completeness_dashboard(s, &w.investigator, today)
            .await
            .unwrap();
        assert_eq!(dash.len(), 1);
        assert_eq!(dash[0].subjects, 2);
        assert_eq!(dash[0].lost, 1);
        let c = &dash[0].completeness;
        assert_eq!(c.done as usize, yearly.len() + 1);
        assert!(c.missed >= 2);
        // A new malignancy at year 4 and, later, death end the follow-up.
        let y4 = vs.iter().find(|v| v.due.starts_with("2030")).unwrap();
        record_visit(
            s,
            &w.investigator,
            &e1.id,
            &VisitInput {
                number: y4.number as u32,
                done_on: y4.due.clone(),
                vital: "alive".into(),
                new_malignancy: true,
                note: "T-cell lymphoma, CAR transgene tested".into(),
            },
            &at(&y4.due),
        )
        .await
        .unwrap();
        let ended = end_ltfu(
            s,
            &w.investigator,
            &e1.id,
            &EndInput {
                status: "died".into(),
                on: "2031-02-01".into(),
                reason: "death reported by family".into(),
            },
            &at("2031-02-03"),
        )
        .await
        .unwrap();
        assert_eq!(ended.status, "died");
        assert_eq!(ended.malignancy_on.as_deref(), Some(y4.due.as_str()));
        assert_eq!(
            code(
                record_visit(
                    s,
                    &w.investigator,
                    &e1.id,
                    &VisitInput {
                        number: vs.last().unwrap().number as u32,
                        done_on: "2031-02-02".into(),
                        vital: "alive".into(),
                        new_malignancy: false,
                        note: String::new(),
                    },
                    &at("2031-02-03"),
                )
                .await
            ),
            "ltfu_ended"
        );
        let before = s.dump_read_models().await.unwrap();
        s.replay().await.unwrap();
        assert_eq!(before, s.dump_read_models().await.unwrap());
        let _ = sf::PRODUCT_CLASSES;
    }
}

/// A malignancy after a CAR-T product raises the priority flag (FDA 2024
/// boxed warning on T-cell malignancies); the same term after an MSC
/// product does not.
#[tokio::test]
async fn malignancy_after_car_t_is_flagged_on_every_backend() {
    for b in backends().await {
        let s = b.store.as_ref();
        let w = world(s).await;
        let mut i = crs_event(&w, 2);
        i.term = "T-cell lymphoma".into();
        i.meddra_code = None;
        i.crs = None;
        i.seriousness = vec!["other_important".into()];
        let flagged = report_ae(s, &w.investigator, &i, &at("2026-07-04"))
            .await
            .unwrap();
        assert_eq!(flagged.malignancy, 1);
        i.product_class = "msc".into();
        i.product = "UC-MSC".into();
        let plain = report_ae(s, &w.investigator, &i, &at("2026-07-04"))
            .await
            .unwrap();
        assert_eq!(plain.malignancy, 0);
    }
}
