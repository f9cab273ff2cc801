//! Storage and story tests, each run on SQLite and (when
//! CELLTRAIL_TEST_PG_URL is set) PostgreSQL.

use celltrail_core::calendar::WorkCalendar;
use celltrail_ledger::{BreakKind, NewEvent};
use celltrail_store::service::{
    self, ActInput, Actor, OrgInput, ProjectInput, QualificationInput, SignInput, UserInput, When,
};
use celltrail_store::testkit::{backends, TestBackend};
use celltrail_store::{projection, DynStore, ProjectFilter};
use chrono::NaiveDate;
use serde_json::json;
use std::time::Duration;

const PW: &str = "correct horse battery staple";

fn ev(stream: &str, n: u32, org: &str) -> NewEvent {
    NewEvent {
        stream: stream.into(),
        kind: "user.password_set".into(),
        payload: json!({"id": format!("u{n}"), "note": format!("event {n} with 中文 and \"quotes\"")}),
        actor: "tester".into(),
        org: org.into(),
        time: "2026-05-01T08:00:00.000Z".into(),
        reason: "test".into(),
    }
}

/// Three streams, several sealed batches each, every entry signed by one
/// checkpoint.
async fn seed_ledger(store: &DynStore) {
    for batch in 0..3 {
        let mut events = Vec::new();
        for s in ["user:a", "user:b", "user:c"] {
            for i in 0..3 {
                events.push(ev(s, batch * 10 + i, "org-x"));
            }
        }
        store.append(events).await.unwrap();
    }
    assert_eq!(store.checkpoint(Duration::ZERO).await.unwrap(), 1);
}

async fn expect_break(b: &TestBackend, stream: &str, seq: u64, kinds: &[BreakKind]) {
    let outcome = b.store.verify().await.unwrap();
    let brk = outcome.expect_err("tampering must be detected");
    assert_eq!(brk.stream, stream, "{}: {brk}", b.name);
    assert_eq!(brk.seq, seq, "{}: {brk}", b.name);
    assert!(
        kinds.contains(&brk.kind),
        "{}: unexpected kind {brk}",
        b.name
    );
}

#[tokio::test]
async fn appended_ledger_verifies_and_exports_on_every_backend() {
    for b in backends().await {
        seed_ledger(&b.store).await;
        let s = b
            .store
            .verify()
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{}: {e}", b.name));
        assert_eq!(
            (s.events, s.streams, s.seals, s.checkpoints, s.pending),
            (27, 3, 9, 1, 0),
            "{}",
            b.name
        );
        let head = b.store.stream_head("user:a").await.unwrap().unwrap();
        assert_eq!(head.0, 9);
        // Offline copy verifies with no database.
        let mut buf = Vec::new();
        b.store.export(&mut buf).await.unwrap();
        let s2 = celltrail_ledger::export::verify_reader(std::io::Cursor::new(&buf)).unwrap();
        assert_eq!(s2.events, 27, "{}", b.name);
        // One changed byte in the copy is caught too.
        let text = String::from_utf8(buf).unwrap();
        let tampered = text.replacen("event 11 with", "event 12 with", 1);
        assert_ne!(text, tampered);
        assert!(
            celltrail_ledger::export::verify_reader(std::io::Cursor::new(tampered.as_bytes()))
                .is_err()
        );
    }
}

#[tokio::test]
async fn changed_byte_is_caught_with_stream_and_seq() {
    for b in backends().await {
        seed_ledger(&b.store).await;
        let n = b.tamper("UPDATE events SET body = REPLACE(body, 'event 1 with', 'event 7 with') WHERE stream = 'user:b' AND seq = 2").await;
        assert_eq!(n, 1);
        expect_break(&b, "user:b", 2, &[BreakKind::HashMismatch]).await;
    }
}

#[tokio::test]
async fn deleted_event_is_caught() {
    for b in backends().await {
        seed_ledger(&b.store).await;
        assert_eq!(
            b.tamper("DELETE FROM events WHERE stream = 'user:c' AND seq = 5")
                .await,
            1
        );
        // The break names the sequence number that is missing.
        expect_break(&b, "user:c", 5, &[BreakKind::SequenceGap]).await;
    }
}

#[tokio::test]
async fn deleted_last_event_is_caught_by_its_seal() {
    for b in backends().await {
        seed_ledger(&b.store).await;
        assert_eq!(
            b.tamper("DELETE FROM events WHERE stream = 'user:a' AND seq = 9")
                .await,
            1
        );
        expect_break(&b, "user:a", 9, &[BreakKind::SealOutOfOrder]).await;
    }
}

#[tokio::test]
async fn reordered_pair_is_caught() {
    for b in backends().await {
        seed_ledger(&b.store).await;
        // Swap the stored bodies and hashes of seq 4 and 5 of one stream.
        let p4 = b
            .scalar("SELECT CAST(pos AS TEXT) FROM events WHERE stream = 'user:a' AND seq = 4")
            .await;
        let p5 = b
            .scalar("SELECT CAST(pos AS TEXT) FROM events WHERE stream = 'user:a' AND seq = 5")
            .await;
        b.tamper(&format!("UPDATE events SET pos = -1 WHERE pos = {p4}"))
            .await;
        b.tamper(&format!("UPDATE events SET pos = {p4} WHERE pos = {p5}"))
            .await;
        b.tamper(&format!("UPDATE events SET pos = {p5} WHERE pos = -1"))
            .await;
        // Seq 5 now stands where seq 4 is expected.
        expect_break(&b, "user:a", 4, &[BreakKind::SequenceGap]).await;
    }
}

#[tokio::test]
async fn inserted_unsealed_event_is_caught() {
    for b in backends().await {
        seed_ledger(&b.store).await;
        // A correctly chained event slipped in behind the store's back has no seal.
        let (seq, hash) = b.store.stream_head("user:b").await.unwrap().unwrap();
        let forged = celltrail_ledger::Event::chain(ev("user:b", 99, "org-x"), seq, &hash).unwrap();
        b.tamper(&format!(
            "INSERT INTO events (stream, seq, kind, org, time, body, hash) VALUES ('user:b', {}, 'x', 'org-x', 't', '{}', '{}')",
            forged.seq,
            forged.body.replace('\'', "''"),
            forged.hash
        ))
        .await;
        expect_break(&b, "user:b", 10, &[BreakKind::Unsealed]).await;
    }
}

#[tokio::test]
async fn forged_checkpoint_is_caught() {
    for b in backends().await {
        seed_ledger(&b.store).await;
        let sig = b
            .scalar("SELECT signature FROM checkpoints WHERE org = 'org-x' AND n = 1")
            .await;
        let flipped = format!(
            "{}{}",
            if sig.starts_with('0') { "1" } else { "0" },
            &sig[1..]
        );
        b.tamper(&format!(
            "UPDATE checkpoints SET signature = '{flipped}' WHERE org = 'org-x' AND n = 1"
        ))
        .await;
        // Reported at the last entry the checkpoint signs.
        expect_break(&b, "user:c", 9, &[BreakKind::SealSignatureInvalid]).await;
    }
}

#[tokio::test]
async fn rewritten_seal_entry_fails_its_checkpoint() {
    for b in backends().await {
        seed_ledger(&b.store).await;
        // Someone with write access re-chains the last event of user:c and
        // points its entry at the new hash: chain and entry agree, but the
        // checkpoint signed the old entry.
        let (seq, _) = b.store.stream_head("user:c").await.unwrap().unwrap();
        let prev = b
            .scalar(&format!(
                "SELECT hash FROM events WHERE stream = 'user:c' AND seq = {}",
                seq - 1
            ))
            .await;
        let forged =
            celltrail_ledger::Event::chain(ev("user:c", 77, "org-x"), seq - 1, &prev).unwrap();
        b.tamper(&format!(
            "UPDATE events SET body = '{}', hash = '{}' WHERE stream = 'user:c' AND seq = {seq}",
            forged.body.replace('\'', "''"),
            forged.hash
        ))
        .await;
        b.tamper(&format!(
            "UPDATE seals SET last_hash = '{}' WHERE stream = 'user:c' AND last_seq = {seq}",
            forged.hash
        ))
        .await;
        expect_break(&b, "user:c", 9, &[BreakKind::SealHashMismatch]).await;
    }
}

#[tokio::test]
async fn checkpoints_are_signed_when_due_and_entries_wait_until_then() {
    for b in backends().await {
        let store = &b.store;
        store
            .append(vec![ev("user:a", 1, "org-x"), ev("user:b", 2, "org-x")])
            .await
            .unwrap();
        store.append(vec![ev("user:a", 3, "org-y")]).await.unwrap();
        // Waiting entries are counted, not refused, on a live database.
        let s = store.verify().await.unwrap().unwrap();
        assert_eq!((s.events, s.seals, s.pending), (3, 0, 3), "{}", b.name);
        // Not yet an hour old: nothing is due.
        assert_eq!(
            store.checkpoint(Duration::from_secs(3600)).await.unwrap(),
            0
        );
        // Due now: one checkpoint per organisation.
        assert_eq!(store.checkpoint(Duration::ZERO).await.unwrap(), 2);
        assert_eq!(store.checkpoint(Duration::ZERO).await.unwrap(), 0);
        let s = store.verify().await.unwrap().unwrap();
        assert_eq!((s.seals, s.checkpoints, s.pending), (3, 2, 0), "{}", b.name);

        // An append that brings org-x's waiting events to CHECKPOINT_EVENTS
        // signs its checkpoint in the same transaction.
        let n = celltrail_store::CHECKPOINT_EVENTS as u32;
        store
            .append((0..n).map(|i| ev("user:c", i, "org-x")).collect())
            .await
            .unwrap();
        let s = store.verify().await.unwrap().unwrap();
        assert_eq!((s.checkpoints, s.pending), (3, 0), "{}", b.name);
        assert_eq!(
            b.scalar("SELECT CAST(MAX(n) AS TEXT) FROM checkpoints WHERE org = 'org-x'")
                .await,
            "2"
        );

        // An export signs what waits first, so the copy holds no unsigned entry.
        store.append(vec![ev("user:a", 9, "org-y")]).await.unwrap();
        let mut buf = Vec::new();
        let exported = store.export(&mut buf).await.unwrap();
        assert_eq!(exported.checkpoints, 4, "{}", b.name);
        let s = celltrail_ledger::export::verify_reader(std::io::Cursor::new(&buf)).unwrap();
        assert_eq!(
            (s.events, s.checkpoints, s.pending),
            (1004, 4, 0),
            "{}",
            b.name
        );
    }
}

#[tokio::test]
async fn entries_left_waiting_by_a_crash_are_signed_after_restart() {
    for b in backends().await {
        // The process that appended is gone before any checkpoint; the next
        // one finds its entries and signs them.
        b.store
            .append(vec![ev("user:a", 1, "org-x")])
            .await
            .unwrap();
        let restarted = b.reopen().await;
        let s = restarted.verify().await.unwrap().unwrap();
        assert_eq!((s.events, s.pending), (1, 1), "{}", b.name);
        assert_eq!(restarted.checkpoint(Duration::ZERO).await.unwrap(), 1);
        let s = restarted.verify().await.unwrap().unwrap();
        assert_eq!((s.events, s.seals, s.pending), (1, 1, 0), "{}", b.name);
    }
}

// ------------------------------------------------------------------ story

fn org_input(id: &str, org_type: &str, province: &str, uscc: Option<&str>) -> OrgInput {
    OrgInput {
        id: Some(id.into()),
        org_type: org_type.into(),
        name_zh: format!("{id} 中文名"),
        name_en: format!("{id} English name"),
        uscc: uscc.map(str::to_string),
        province_code: province.into(),
        city_zh: "上海市".into(),
        city_en: "Shanghai".into(),
        grade: (org_type == "medical_institution").then(|| "3A".to_string()),
        address_zh: String::new(),
        address_en: String::new(),
    }
}

async fn user(store: &DynStore, org: &str, username: &str, role: &str) -> Actor {
    celltrail_store::testkit::test_user(store.as_ref(), org, username, role).await
}

struct World {
    office: Actor,
    officer: Actor,
    other_office: Actor,
    other_regulator: Actor,
}

/// Platform, two hospitals in two provinces, their regulators, and users.
async fn world(store: &DynStore) -> World {
    let t = When::now();
    service::bootstrap(store.as_ref(), "admin", PW, &t)
        .await
        .unwrap();
    let sys = Actor::system();
    // Unified Social Credit Codes published on public business-registration
    // records are checked by the core crate's tests; here the registry must
    // accept a valid one and reject a wrong check character.
    let bad = service::register_org(
        store.as_ref(),
        &sys,
        &org_input(
            "org-bad",
            "medical_institution",
            "31",
            Some("91440300708461136X"),
        ),
        "test",
        &t,
    )
    .await
    .unwrap_err();
    assert!(bad.code.starts_with("uscc_"), "{bad}");
    assert_eq!(bad.field.as_deref(), Some("uscc"));
    service::register_org(
        store.as_ref(),
        &sys,
        &org_input(
            "org-h1",
            "medical_institution",
            "31",
            Some("91440300708461136T"),
        ),
        "test",
        &t,
    )
    .await
    .unwrap();
    service::register_org(
        store.as_ref(),
        &sys,
        &org_input("org-h2", "medical_institution", "12", None),
        "test",
        &t,
    )
    .await
    .unwrap();
    service::register_org(
        store.as_ref(),
        &sys,
        &org_input("org-sh-reg", "regulator", "31", None),
        "test",
        &t,
    )
    .await
    .unwrap();
    service::register_org(
        store.as_ref(),
        &sys,
        &org_input("org-tj-reg", "regulator", "12", None),
        "test",
        &t,
    )
    .await
    .unwrap();
    World {
        office: user(store, "org-h1", "h1.office", "research_office").await,
        officer: user(store, "org-sh-reg", "sh.officer", "regulator_officer").await,
        other_office: user(store, "org-h2", "h2.office", "research_office").await,
        other_regulator: user(store, "org-tj-reg", "tj.officer", "regulator_officer").await,
    }
}

fn sign(a: &Actor, meaning: &str, hash: &str) -> Option<SignInput> {
    Some(SignInput {
        username: a.username.clone(),
        password: PW.into(),
        meaning: meaning.into(),
        record_hash: hash.into(),
    })
}

async fn head(store: &DynStore, id: &str) -> String {
    store
        .stream_head(&projection::project_stream(id))
        .await
        .unwrap()
        .unwrap()
        .1
}

async fn act(
    store: &DynStore,
    a: &Actor,
    id: &str,
    action: &str,
    reason: Option<&str>,
    signature: Option<SignInput>,
    when: &When,
) -> Result<celltrail_store::Project, celltrail_store::StoreError> {
    let cal = WorkCalendar::embedded();
    service::act_on_project(
        store.as_ref(),
        a,
        id,
        &ActInput {
            action: action.into(),
            reason: reason.map(str::to_string),
            signature,
        },
        &cal,
        when,
    )
    .await
}

#[tokio::test]
async fn filing_story_on_every_backend() {
    for b in backends().await {
        let store = &b.store;
        let w = world(store).await;
        let t = When::now();
        // Qualifications: an expired licence is flagged.
        let q = service::record_qualification(
            store.as_ref(),
            &Actor::system(),
            "org-h1",
            &QualificationInput {
                kind: "practice_licence".into(),
                number: "PDY-1".into(),
                issuer_zh: String::new(),
                issuer_en: String::new(),
                valid_from: "2020-01-01".into(),
                valid_to: Some("2025-12-31".into()),
            },
            "licence recorded",
            &t,
        )
        .await
        .unwrap();
        assert!(q.expired_on("2026-01-01") && !q.expired_on("2025-12-31"));

        let p = service::draft_project(
            store.as_ref(),
            &w.office,
            &ProjectInput {
                kind: "clinical_research".into(),
                title_zh: "CD19 CAR-T 研究".into(),
                title_en: "CD19 CAR-T study".into(),
                summary_zh: String::new(),
                summary_en: String::new(),
                category: "car_t".into(),
                pi_name: "周明".into(),
            },
            "draft",
            &t,
        )
        .await
        .unwrap();
        assert_eq!(p.state, "draft");

        // Order of steps is enforced (21 CFR 11.10(f)).
        let e = act(store, &w.officer, &p.id, "file", None, None, &t)
            .await
            .unwrap_err();
        assert_eq!(e.code, "workflow_transition_not_allowed", "{}", b.name);
        // Submitting needs the author's signature.
        let e = act(store, &w.office, &p.id, "submit", None, None, &t)
            .await
            .unwrap_err();
        assert_eq!(e.code, "signature_reauth_required");
        let h = head(store, &p.id).await;
        let submit_day = When::at(NaiveDate::from_ymd_opt(2026, 9, 29).unwrap(), 2, 0);
        let p1 = act(
            store,
            &w.office,
            &p.id,
            "submit",
            None,
            sign(&w.office, "authored", &h),
            &submit_day,
        )
        .await
        .unwrap();
        assert_eq!(p1.state, "submitted");
        assert_eq!(p1.deadline_kind.as_deref(), Some("completeness_check"));
        // 2026-09-29 is a Tuesday. By the State Council General Office's
        // notice on the 2026 holidays (国办发明电〔2025〕7号) 1–7 October are
        // days off and Saturday 10 October is worked, so the five working
        // days are 30 Sep, 8, 9, 10 and 12 October.
        assert_eq!(p1.deadline.as_deref(), Some("2026-10-12"));
        assert!(!p1.deadline_provisional);

        // Another institution cannot see it; a regulator elsewhere cannot act.
        let e = act(store, &w.other_office, &p.id, "complete", None, None, &t)
            .await
            .unwrap_err();
        assert_eq!(e.code, "project_not_found");
        let e = act(
            store,
            &w.other_regulator,
            &p.id,
            "return",
            Some("no"),
            None,
            &t,
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, "project_not_found");
        // A research office cannot accept.
        let e = act(store, &w.office, &p.id, "accept", None, None, &t)
            .await
            .unwrap_err();
        assert_eq!(e.code, "permission_denied");

        // Return needs a written reason; then resubmit.
        let e = act(store, &w.officer, &p.id, "return", None, None, &t)
            .await
            .unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("field_required", Some("reason"))
        );
        act(
            store,
            &w.officer,
            &p.id,
            "return",
            Some("缺少伦理批件"),
            None,
            &t,
        )
        .await
        .unwrap();
        let h = head(store, &p.id).await;
        act(
            store,
            &w.office,
            &p.id,
            "submit",
            Some("补正后重新提交"),
            sign(&w.office, "authored", &h),
            &t,
        )
        .await
        .unwrap();

        // Signature checks: wrong password, wrong meaning, stale record, wrong signer.
        let h = head(store, &p.id).await;
        let mut bad = sign(&w.officer, "reviewed", &h);
        bad.as_mut().unwrap().password = "wrong password!!".into();
        assert_eq!(
            act(store, &w.officer, &p.id, "accept", None, bad, &t)
                .await
                .unwrap_err()
                .code,
            "signature_password_invalid"
        );
        assert_eq!(
            act(
                store,
                &w.officer,
                &p.id,
                "accept",
                None,
                sign(&w.officer, "approved", &h),
                &t
            )
            .await
            .unwrap_err()
            .code,
            "signature_meaning_mismatch"
        );
        assert_eq!(
            act(
                store,
                &w.officer,
                &p.id,
                "accept",
                None,
                sign(&w.officer, "reviewed", &"0".repeat(64)),
                &t
            )
            .await
            .unwrap_err()
            .code,
            "signature_record_changed"
        );
        assert_eq!(
            act(
                store,
                &w.officer,
                &p.id,
                "accept",
                None,
                sign(&w.office, "reviewed", &h),
                &t
            )
            .await
            .unwrap_err()
            .code,
            "signature_wrong_signer"
        );
        act(
            store,
            &w.officer,
            &p.id,
            "accept",
            None,
            sign(&w.officer, "reviewed", &h),
            &t,
        )
        .await
        .unwrap();
        let h = head(store, &p.id).await;
        let filed = act(
            store,
            &w.officer,
            &p.id,
            "file",
            None,
            sign(&w.officer, "approved", &h),
            &t,
        )
        .await
        .unwrap();
        assert_eq!(filed.state, "filed");
        let number = filed.filing_number.clone().unwrap();
        assert!(number.starts_with("BMT-31-"), "{number}");
        assert_eq!(
            store
                .project_by_filing_number(&number)
                .await
                .unwrap()
                .unwrap()
                .id,
            p.id
        );
        // The public lookup's single query returns the same record, its
        // institution and the regulator's signatures.
        let pf = store
            .public_filing(&number.to_lowercase())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pf.organisation.id, "org-h1");
        assert_eq!(pf.project, filed);
        let sig_kinds: Vec<(&str, &str)> = pf
            .signatures
            .iter()
            .map(|s| (s.action.as_str(), s.meaning.as_str()))
            .collect();
        assert_eq!(sig_kinds, [("accept", "reviewed"), ("file", "approved")]);
        assert!(store
            .public_filing("BMT-00-0000-C-00000")
            .await
            .unwrap()
            .is_none());
        let inst = store.public_institution("org-h1").await.unwrap().unwrap();
        assert_eq!(
            inst.organisation.uscc.as_deref(),
            Some("91440300708461136T")
        );
        assert_eq!(inst.qualifications, vec![q.clone()]);
        assert_eq!(inst.projects.len(), 1);
        assert_eq!(
            inst.projects[0].filing_number.as_deref(),
            Some(number.as_str())
        );
        assert_eq!(inst.projects[0].title_zh, "CD19 CAR-T 研究");
        assert!(store
            .public_institution("org-none")
            .await
            .unwrap()
            .is_none());

        // The signature is bound to the record hash it was given for.
        let sigs = store
            .signatures(&projection::project_stream(&p.id))
            .await
            .unwrap();
        assert_eq!(
            sigs.iter().map(|s| s.meaning.as_str()).collect::<Vec<_>>(),
            ["authored", "authored", "reviewed", "approved"]
        );
        let last = sigs.last().unwrap();
        assert_eq!(last.record_hash, h);
        assert_eq!(last.printed_name, "sh.officer 姓名");
        let events = store
            .stream_events(&projection::project_stream(&p.id))
            .await
            .unwrap();
        let file_event = events.last().unwrap();
        assert_eq!(file_event.prev_hash, last.record_hash);
        let recomputed = service::signature_manifest_hash(
            &file_event.stream,
            "file",
            "approved",
            &last.user_id,
            &last.printed_name,
            &last.signed_at,
            &last.record_hash,
        )
        .unwrap();
        assert_eq!(recomputed, last.manifest_hash);

        act(
            store,
            &w.officer,
            &p.id,
            "suspend",
            Some("严重不良事件"),
            None,
            &t,
        )
        .await
        .unwrap();
        act(
            store,
            &w.officer,
            &p.id,
            "resume",
            Some("评估完成"),
            None,
            &t,
        )
        .await
        .unwrap();
        let done = act(
            store,
            &w.office,
            &p.id,
            "complete",
            Some("研究完成"),
            None,
            &t,
        )
        .await
        .unwrap();
        assert_eq!(done.state, "completed");
        assert_eq!(
            act(store, &w.officer, &p.id, "suspend", Some("x"), None, &t)
                .await
                .unwrap_err()
                .code,
            "workflow_transition_not_allowed"
        );

        // Scoped listings.
        let mine = store
            .projects(&service::scope_projects(
                &w.other_office,
                ProjectFilter::default(),
            ))
            .await
            .unwrap();
        assert!(mine.is_empty());
        let public = store
            .projects(&ProjectFilter {
                public_only: true,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(public.len(), 1);

        // Every change is in the ledger, and it verifies.
        assert!(b.store.verify().await.unwrap().is_ok(), "{}", b.name);
        // Replay rebuilds identical read models.
        let before = store.dump_read_models().await.unwrap();
        assert!(before.contains("CD19 CAR-T study"));
        store.replay().await.unwrap();
        let after = store.dump_read_models().await.unwrap();
        assert_eq!(before, after, "{}", b.name);
    }
}

#[tokio::test]
async fn registry_rejects_bad_input_with_codes_and_fields() {
    for b in backends().await {
        let store = &b.store;
        let w = world(store).await;
        let t = When::now();
        let sys = Actor::system();
        let mut o = org_input("org-x", "medical_institution", "99", None);
        assert_eq!(
            service::register_org(store.as_ref(), &sys, &o, "r", &t)
                .await
                .unwrap_err()
                .code,
            "province_invalid"
        );
        o.province_code = "31".into();
        o.name_zh = "  ".into();
        let e = service::register_org(store.as_ref(), &sys, &o, "r", &t)
            .await
            .unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("field_required", Some("name_zh"))
        );
        o.name_zh = "x".into();
        let e = service::register_org(store.as_ref(), &sys, &o, "", &t)
            .await
            .unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("field_required", Some("reason"))
        );
        // Only the platform registers organisations.
        let e = service::register_org(store.as_ref(), &w.office, &o, "r", &t)
            .await
            .unwrap_err();
        assert_eq!(e.code, "permission_denied");
        // Roles must fit the organisation type.
        let e = service::create_user(
            store.as_ref(),
            &sys,
            &UserInput {
                org_id: "org-h1".into(),
                username: "wrong.role".into(),
                display_name: "x".into(),
                email: String::new(),
                roles: vec!["regulator_officer".into()],
                password: PW.into(),
            },
            "r",
            &t,
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, "role_not_allowed_for_org");
        let e = service::create_user(
            store.as_ref(),
            &sys,
            &UserInput {
                org_id: "org-h1".into(),
                username: "short.pw".into(),
                display_name: "x".into(),
                email: String::new(),
                roles: vec!["investigator".into()],
                password: "elevenchars".into(),
            },
            "r",
            &t,
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, "password_too_short");
        let e = service::create_user(
            store.as_ref(),
            &sys,
            &UserInput {
                org_id: "org-h1".into(),
                username: "h1.office".into(),
                display_name: "x".into(),
                email: String::new(),
                roles: vec!["investigator".into()],
                password: PW.into(),
            },
            "r",
            &t,
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, "username_taken");
        // Nothing of the failed commands reached the ledger.
        assert!(store.organisation("org-x").await.unwrap().is_none());
        assert!(b.store.verify().await.unwrap().is_ok());
    }
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
        /// Any sequence of appended batches verifies, in the database and as
        /// an exported copy.
        #[test]
        fn any_appends_verify(batches in proptest::collection::vec(proptest::collection::vec((0u8..4, any::<u16>(), "[a-z \u{4e00}-\u{4e20}\"\\\\]{0,12}"), 1..6), 1..6)) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let b = celltrail_store::testkit::sqlite_backend().await;
                let mut total = 0u64;
                for batch in &batches {
                    let events: Vec<NewEvent> = batch.iter().map(|(s, n, text)| NewEvent {
                        stream: format!("user:{s}"),
                        kind: "user.password_set".into(),
                        payload: json!({"id": format!("u{n}"), "text": text, "n": n}),
                        actor: "p".into(),
                        org: "org-p".into(),
                        time: "2026-01-01T00:00:00Z".into(),
                        reason: "property".into(),
                    }).collect();
                    total += events.len() as u64;
                    b.store.append(events).await.unwrap();
                }
                let s = b.store.verify().await.unwrap().unwrap();
                assert_eq!(s.events, total);
                let mut buf = Vec::new();
                b.store.export(&mut buf).await.unwrap();
                let s2 = celltrail_ledger::export::verify_reader(std::io::Cursor::new(buf)).unwrap();
                assert_eq!(s2.events, total);
            });
        }
    }
}

#[tokio::test]
async fn organisation_search_by_name_and_code_on_every_backend() {
    for b in backends().await {
        let store = &b.store;
        world(store).await;
        let sys = Actor::system();
        let mut o = org_input("org-hx", "medical_institution", "31", None);
        o.name_zh = "申江大学附属华东医院".into();
        o.name_en = "East China Hospital, Shenjiang University".into();
        service::register_org(store.as_ref(), &sys, &o, "test", &When::now())
            .await
            .unwrap();
        let find = |q: &str| {
            let q = q.to_string();
            let store = store.clone();
            async move {
                let f = celltrail_store::OrgFilter {
                    q: Some(q),
                    ..Default::default()
                };
                store
                    .organisations(&f)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|o| o.id)
                    .collect::<Vec<_>>()
            }
        };
        // Two Chinese characters (shorter than a trigram), a longer phrase,
        // English in another case, the code, and LIKE wildcards taken literally.
        assert_eq!(find("华东").await, ["org-hx"], "{}", b.name);
        assert_eq!(find("大学附属华东").await, ["org-hx"]);
        assert_eq!(find("east CHINA").await, ["org-hx"]);
        assert_eq!(find("91440300708461136T").await, ["org-h1"]);
        assert!(find("100%").await.is_empty());
        assert!(find("东华").await.is_empty());
        // Renaming updates the index; replay rebuilds it.
        o.name_zh = "申江大学附属浦东医院".into();
        service::update_org(store.as_ref(), &sys, "org-hx", &o, "renamed", &When::now())
            .await
            .unwrap();
        assert!(find("华东").await.is_empty());
        assert_eq!(find("浦东").await, ["org-hx"]);
        store.replay().await.unwrap();
        assert_eq!(find("浦东").await, ["org-hx"], "{}", b.name);
    }
}

/// A classification saved against a project shows what the rules said on
/// that day beside what they say now. Decree 818 took effect on 2026-05-01:
/// a CAR-T research project classified in April 2026 had no route under it;
/// read again in November 2026 it is new-technology clinical research.
#[tokio::test]
async fn saved_classifications_show_then_and_now_on_every_backend() {
    let engine =
        celltrail_core::rules::Engine::compile(&celltrail_core::rules::builtin_sources()).unwrap();
    for b in backends().await {
        let store = &b.store;
        let w = world(store).await;
        let p = service::draft_project(
            store.as_ref(),
            &w.office,
            &ProjectInput {
                kind: "clinical_research".into(),
                title_zh: "CD19 CAR-T 研究".into(),
                title_en: "CD19 CAR-T study".into(),
                summary_zh: String::new(),
                summary_en: String::new(),
                category: "car_t".into(),
                pi_name: "周明".into(),
            },
            "draft",
            &When::now(),
        )
        .await
        .unwrap();
        let input = service::ClassifyInput {
            profile: json!({
                "cell_origin": "autologous", "material": "immune_cells", "manipulation": "substantial",
                "homologous_use": false, "genetic_modification": "integrating_vector", "in_vivo": false,
                "combined_with_device": false, "combined_with_other_article": false, "systemic_effect": true,
                "same_surgical_procedure": false, "serious_condition": true, "first_in_human": false,
                "purpose": "research"
            }),
            region: None,
            reason: "classified at filing".into(),
        };
        let april = When::at(NaiveDate::from_ymd_opt(2026, 4, 15).unwrap(), 10, 0);
        let then =
            service::classify_project(store.as_ref(), &w.office, &engine, &p.id, &input, &april)
                .await
                .unwrap();
        assert_eq!(
            then.results["CN"]["route"]["value"],
            serde_json::Value::Null,
            "{}",
            b.name
        );
        assert_eq!(then.upcoming[0]["conclusion"], "route");
        assert_eq!(then.results["US"]["tier"]["value"], "351_biologic");

        // Another institution cannot classify (nor see) the project.
        let e = service::classify_project(
            store.as_ref(),
            &w.other_office,
            &engine,
            &p.id,
            &input,
            &april,
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, "project_not_found", "{}", b.name);
        // A bad profile is refused with the field named.
        let bad = service::ClassifyInput {
            profile: json!({"material": "stardust"}),
            ..input.clone()
        };
        let e = service::classify_project(store.as_ref(), &w.office, &engine, &p.id, &bad, &april)
            .await
            .unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("profile_value_invalid", Some("profile.material"))
        );

        let november = When::at(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), 10, 0);
        let saved = service::project_classifications(store.as_ref(), &engine, &p.id, &november)
            .await
            .unwrap();
        assert_eq!(saved.len(), 1, "{}", b.name);
        assert_eq!(saved[0].then.as_of, "2026-04-15");
        assert_eq!(saved[0].now.as_of, "2026-11-23");
        assert_eq!(
            saved[0].now.results["CN"]["route"]["value"],
            "nhc_clinical_research"
        );
        assert!(
            saved[0].changed.contains(&"CN.route".to_string()),
            "{:?}",
            saved[0].changed
        );
        assert!(!saved[0].changed.contains(&"US.tier".to_string()));
        // The record is a ledger event: the chain still verifies.
        assert!(store.verify().await.unwrap().is_ok());
    }
}

/// A revoked licence and a deactivated institution stay on record, each
/// change with its reason in the ledger; the public page stops showing them.
#[tokio::test]
async fn revocation_and_deactivation_keep_the_record_on_every_backend() {
    for b in backends().await {
        let store = &b.store;
        let w = world(store).await;
        let sys = Actor::system();
        let t = When::now();
        let q = service::record_qualification(
            store.as_ref(),
            &sys,
            "org-h2",
            &QualificationInput {
                kind: "gcp_site".into(),
                number: "GCP-2024-0099".into(),
                issuer_zh: "国家药监局".into(),
                issuer_en: "NMPA".into(),
                valid_from: "2024-01-01".into(),
                valid_to: None,
            },
            "certificate recorded",
            &t,
        )
        .await
        .unwrap();
        let shown = |inst: Option<celltrail_store::PublicInstitution>| {
            inst.map(|i| i.qualifications.iter().any(|x| x.id == q.id))
                .unwrap_or(false)
        };
        assert!(
            shown(store.public_institution("org-h2").await.unwrap()),
            "{}",
            b.name
        );

        // Another hospital's office may not touch it; a reason is required.
        let e = service::revoke_qualification(
            store.as_ref(),
            &w.office,
            "org-h2",
            &q.id,
            "wrong org",
            &t,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(e.code, "org_scope_denied" | "permission_denied"),
            "{e}"
        );
        let e = service::revoke_qualification(store.as_ref(), &sys, "org-h2", &q.id, " ", &t)
            .await
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("reason"));

        let r = service::revoke_qualification(
            store.as_ref(),
            &sys,
            "org-h2",
            &q.id,
            "GCP 资格被注销 / certificate cancelled",
            &t,
        )
        .await
        .unwrap();
        assert!(r.revoked, "{}", b.name);
        assert!(
            !shown(store.public_institution("org-h2").await.unwrap()),
            "{}",
            b.name
        );
        let e = service::revoke_qualification(store.as_ref(), &sys, "org-h2", &q.id, "again", &t)
            .await
            .unwrap_err();
        assert_eq!(e.code, "qualification_already_revoked");

        // Only the platform deactivates an institution.
        let e = service::deactivate_org(store.as_ref(), &w.officer, "org-h2", "closing", &t)
            .await
            .unwrap_err();
        assert!(
            matches!(e.code, "platform_admin_required" | "permission_denied"),
            "{e}"
        );
        let o = service::deactivate_org(
            store.as_ref(),
            &sys,
            "org-h2",
            "机构注销 / institution closed",
            &t,
        )
        .await
        .unwrap();
        assert!(!o.active);
        let e = service::deactivate_org(store.as_ref(), &sys, "org-h2", "again", &t)
            .await
            .unwrap_err();
        assert_eq!(e.code, "org_already_inactive");

        // Both changes are events with their reasons; the chain verifies.
        let events = store
            .stream_events(&projection::org_stream("org-h2"))
            .await
            .unwrap();
        let kinds: Vec<(&str, &str)> = events
            .iter()
            .map(|e| (e.kind.as_str(), e.reason.as_str()))
            .collect();
        assert!(
            kinds.contains(&(
                "qualification.revoked",
                "GCP 资格被注销 / certificate cancelled"
            )),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&("org.deactivated", "机构注销 / institution closed")),
            "{kinds:?}"
        );
        assert!(store.verify().await.unwrap().is_ok());
    }
}
