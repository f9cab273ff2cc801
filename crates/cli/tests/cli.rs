//! The `celltrail` command as an operator and an inspector use it.

mod common;

use std::process::Command;

use serde_json::Value;

fn celltrail(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_celltrail"))
        .args(args)
        .env_remove("CELLTRAIL_DATABASE_URL")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Demo data on a database URL; both backends get the same data.
fn demo_urls() -> Vec<String> {
    let dir = common::tempdir("cli");
    let mut urls = vec![format!("sqlite://{}/demo.db", dir.display())];
    if let Ok(pg) = std::env::var("CELLTRAIL_TEST_PG_URL") {
        if !pg.is_empty() {
            urls.push(celltrail_store_schema_url(&pg));
        }
    }
    urls
}

/// A fresh PostgreSQL schema for this test, as a URL whose connections use it.
fn celltrail_store_schema_url(pg: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(celltrail_store::testkit::postgres_schema_url(pg))
}

#[test]
fn demo_loads_verifies_exports_and_catches_tampering_on_every_backend() {
    for url in demo_urls() {
        let (code, out, err) = celltrail(&["--json", "demo", "--no-serve", "--database", &url]);
        assert_eq!(code, 0, "{url}: {err}");
        let report: Value = serde_json::from_str(&out).unwrap();
        assert!(report["organisations"].as_u64().unwrap() >= 20, "{out}");
        assert!(report["projects"].as_u64().unwrap() >= 30, "{out}");
        let states: Vec<&str> = report["projects_by_state"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[0].as_str().unwrap())
            .collect();
        for s in [
            "draft",
            "submitted",
            "returned",
            "accepted",
            "filed",
            "suspended",
            "terminated",
            "completed",
        ] {
            assert!(
                states.contains(&s),
                "{url}: no project in state {s}: {states:?}"
            );
        }
        // Loading again changes nothing.
        let (code, out2, _) = celltrail(&["--json", "demo", "--no-serve", "--database", &url]);
        assert_eq!(code, 0);
        let again: Value = serde_json::from_str(&out2).unwrap();
        assert_eq!(again["loaded_now"], false);
        assert_eq!(again["events"], report["events"]);

        let (code, out, _) = celltrail(&["--json", "ledger", "verify", "--database", &url]);
        assert_eq!(code, 0, "{out}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["summary"]["events"], report["events"]);

        let (code, out, _) = celltrail(&["ledger", "replay", "--database", &url]);
        assert_eq!(code, 0, "{out}");

        let file = common::tempdir("export").join("ledger.ndjson");
        let f = file.to_str().unwrap();
        let (code, _, err) = celltrail(&["ledger", "export", "--out", f, "--database", &url]);
        assert_eq!(code, 0, "{err}");
        let (code, out, _) = celltrail(&["ledger", "verify", "--file", f]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("ledger intact"), "{out}");

        // An inspector's copy with one reason rewritten fails, naming stream and seq.
        let text = std::fs::read_to_string(&file).unwrap();
        let tampered = text.replacen(
            "demo data: draft prepared by the research office",
            "demo data: draft prepared by the research offices",
            1,
        );
        assert_ne!(text, tampered);
        std::fs::write(&file, tampered).unwrap();
        let (code, out, _) = celltrail(&["--json", "ledger", "verify", "--file", f]);
        assert_eq!(code, 1, "{out}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["ok"], false);
        assert!(
            v["break"]["stream"]
                .as_str()
                .unwrap()
                .starts_with("project:"),
            "{out}"
        );
        assert_eq!(v["break"]["seq"], 1);
    }
}

#[test]
fn commands_speak_json_and_fail_with_codes() {
    let dir = common::tempdir("cli2");
    let url = format!("sqlite://{}/x.db", dir.display());
    let (code, out, _) = celltrail(&["--json", "migrate", "--database", &url]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["migrated"],
        true
    );
    let (code, out, _) = celltrail(&[
        "--json",
        "user",
        "bootstrap",
        "--password",
        "short",
        "--database",
        &url,
    ]);
    assert_eq!(code, 2);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["error"]["code"],
        "password_too_short"
    );
    let (code, _, _) = celltrail(&[
        "--json",
        "user",
        "bootstrap",
        "--password",
        "a long enough password",
        "--database",
        &url,
    ]);
    assert_eq!(code, 0);
    let (code, out, _) = celltrail(&[
        "--json",
        "user",
        "reset-totp",
        "nobody",
        "--reason",
        "lost phone",
        "--database",
        &url,
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["error"]["code"],
        "user_not_found"
    );
    let (code, out, _) = celltrail(&[
        "--json",
        "user",
        "reset-totp",
        "admin",
        "--reason",
        "lost phone",
        "--database",
        &url,
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = celltrail(&["--json", "org", "show", "org-nope", "--database", &url]);
    assert_eq!(code, 1);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["error"]["code"],
        "org_not_found"
    );
    let (code, _, err) = celltrail(&["migrate", "--database", "mysql://nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("database_url_invalid"), "{err}");
    let (code, _, _) = celltrail(&["ledger", "verify", "--file", "/nonexistent/file.ndjson"]);
    assert_ne!(code, 0);
}

/// The holiday calendar is data: a newer file is used without a rebuild.
#[test]
fn calendar_file_replaces_the_embedded_calendar() {
    // Embedded data ends with 2026: a count into 2027 is refused, not guessed.
    let (code, out, _) = celltrail(&["--json", "calendar", "deadline", "2026-12-30", "5"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["error"]["code"],
        "calendar_not_covered"
    );
    // State Council notice 国办发明电〔2025〕7号: 1–7 October 2026 off, 10 October worked.
    let (code, out, _) = celltrail(&["--json", "calendar", "deadline", "2026-09-29", "5"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["deadline"],
        "2026-10-12"
    );
    // A file with a (synthetic, test-only) 2027 entry extends the calendar.
    let mut data: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../data/calendar/cn-holidays.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut y2027 = data["years"]["2026"].clone();
    y2027["notice"] = "test-only calendar for 2027".into();
    y2027["holidays"] = serde_json::json!([{"name_zh": "元旦", "name_en": "New Year's Day", "days_off": ["2027-01-01"], "work_days": []}]);
    data["years"]["2027"] = y2027;
    let file = common::tempdir("cal").join("cal.json");
    std::fs::write(&file, serde_json::to_string(&data).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_celltrail"))
        .args(["--json", "calendar", "deadline", "2026-12-30", "5"])
        .env("CELLTRAIL_CALENDAR", &file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // 31 Dec, then 4–7 January 2027 (1 January off, 2–3 a weekend).
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["deadline"],
        "2027-01-07"
    );
}

/// Nothing acknowledged is lost when the server dies mid-flight: every draft
/// the API answered 201 for is in the database after `kill -9`, and the
/// ledger still verifies.
#[test]
fn acknowledged_records_survive_kill_9() {
    let dir = common::tempdir("crash");
    let url = format!("sqlite://{}/crash.db", dir.display());
    let (code, _, err) = celltrail(&["demo", "--no-serve", "--database", &url]);
    assert_eq!(code, 0, "{err}");
    let port = common::free_port();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_celltrail"))
        .args([
            "serve",
            "--database",
            &url,
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .env("CELLTRAIL_SECURE_COOKIES", "false")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    common::wait_http(
        &format!("{base}/healthz"),
        std::time::Duration::from_secs(60),
    );
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let login = agent.post(&format!("{base}/login")).send_form(&[
        ("username", "sjh.office"),
        ("password", common::DEMO_PASSWORD),
        ("next", "/app"),
    ]);
    let resp = match login {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let cookie = resp
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let me: Value = agent
        .get(&format!("{base}/api/v1/me"))
        .set("cookie", &cookie)
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_string();
    // Writers in flight while the process is killed.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (agent, base, cookie, csrf, acked) = (
            agent.clone(),
            base.clone(),
            cookie.clone(),
            csrf.clone(),
            acked.clone(),
        );
        writers.push(std::thread::spawn(move || {
            for i in 0..1000 {
                let body = serde_json::json!({"kind": "clinical_research", "title_zh": format!("崩溃测试 {w}-{i}"), "title_en": format!("crash test {w}-{i}"), "category": "msc", "pi_name": "周明", "reason": "durability test"});
                match agent.post(&format!("{base}/api/v1/projects")).set("cookie", &cookie).set("x-csrf-token", &csrf).send_json(body) {
                    Ok(r) if r.status() == 201 => {
                        let v: Value = r.into_json().unwrap();
                        acked.lock().unwrap().push(v["id"].as_str().unwrap().to_string());
                    }
                    _ => return,
                }
            }
        }));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    server.kill().unwrap();
    server.wait().unwrap();
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 5,
        "only {} drafts acknowledged before the kill",
        acked.len()
    );
    let (code, out, _) = celltrail(&[
        "--json",
        "filing",
        "list",
        "--state",
        "draft",
        "--limit",
        "1000000",
        "--database",
        &url,
    ]);
    assert_eq!(code, 0);
    let listed: Vec<String> = serde_json::from_str::<Vec<Value>>(&out)
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    for id in &acked {
        assert!(
            listed.contains(id),
            "acknowledged draft {id} lost ({} acknowledged, {} listed)",
            acked.len(),
            listed.len()
        );
    }
    let (code, out, _) = celltrail(&["ledger", "verify", "--database", &url]);
    assert_eq!(code, 0, "{out}");
}

/// An inspector who holds the institutions' public keys from a separate
/// channel is not fooled by an export re-signed with other keys.
#[test]
fn offline_verification_with_trusted_keys() {
    let dir = common::tempdir("keys");
    let a = format!("sqlite://{}/a.db", dir.display());
    let b = format!("sqlite://{}/b.db", dir.display());
    for url in [&a, &b] {
        let (code, _, err) = celltrail(&["demo", "--no-serve", "--database", url]);
        assert_eq!(code, 0, "{err}");
    }
    let export = dir.join("a.ndjson");
    let keys_a = dir.join("a-keys.json");
    let keys_b = dir.join("b-keys.json");
    let (e, ka, kb) = (
        export.to_str().unwrap(),
        keys_a.to_str().unwrap(),
        keys_b.to_str().unwrap(),
    );
    assert_eq!(
        celltrail(&["ledger", "export", "--out", e, "--database", &a]).0,
        0
    );
    assert_eq!(
        celltrail(&["ledger", "keys", "--out", ka, "--database", &a]).0,
        0
    );
    assert_eq!(
        celltrail(&["ledger", "keys", "--out", kb, "--database", &b]).0,
        0
    );
    let (code, out, _) = celltrail(&["ledger", "verify", "--file", e, "--trusted-keys", ka]);
    assert_eq!(code, 0, "{out}");
    // Database b has the same organisations with other keys: the copy from a
    // does not verify against them.
    let (code, out, _) = celltrail(&[
        "--json",
        "ledger",
        "verify",
        "--file",
        e,
        "--trusted-keys",
        kb,
    ]);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["code"], "ledger_file_invalid", "{out}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a trusted key"),
        "{out}"
    );
}

/// `celltrail classify` and `celltrail rules lint` as a newcomer runs them.
#[test]
fn classify_and_lint_from_the_command_line() {
    let dir = common::tempdir("rules");
    // Zolgensma's profile (AAV9 in vivo, licensed as a biologic in 2019):
    // 351 with up to 5 years of follow-up (FDA LTFU guidance, 2020).
    let profile = dir.join("aav.json");
    std::fs::write(
        &profile,
        r#"{"cell_origin":"none","material":"viral_vector","manipulation":"substantial","homologous_use":false,"genetic_modification":"non_integrating_vector","in_vivo":true,"combined_with_device":false,"combined_with_other_article":false,"systemic_effect":true,"same_surgical_procedure":false,"serious_condition":true,"first_in_human":false,"purpose":"marketed"}"#,
    )
    .unwrap();
    let p = profile.to_str().unwrap();
    let (code, out, err) = celltrail(&[
        "--json",
        "classify",
        "--profile",
        p,
        "--as-of",
        "2026-11-23",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["results"]["US"]["tier"]["value"], "351_biologic");
    assert_eq!(v["results"]["US"]["ltfu_years"]["value"], 5);
    assert_eq!(v["results"]["EU"]["atmp"]["value"], "GTMP");
    let (code, out, _) = celltrail(&["classify", "--profile", p, "--as-of", "2026-11-23"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("US ltfu_years") && out.contains("us.ltfu2020"),
        "{out}"
    );

    // A bad value is refused with the field named.
    std::fs::write(&profile, r#"{"material":"stardust"}"#).unwrap();
    let (code, out, _) = celltrail(&["--json", "classify", "--profile", p]);
    assert_eq!(code, 2);
    assert!(
        out.contains("profile_value_invalid") && out.contains("material"),
        "{out}"
    );

    // The built-in packs lint clean; a broken pack names file and line.
    let (code, out, _) = celltrail(&["rules", "lint"]);
    assert_eq!(code, 0, "{out}");
    let pack = dir.join("bad.json");
    std::fs::write(&pack, "{\n  \"pack\": \"x\",\n  \"colour\": 1\n}\n").unwrap();
    let (code, out, _) = celltrail(&["rules", "lint", pack.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        out.contains("bad.json:3:") && out.contains("pack_invalid"),
        "{out}"
    );
}

/// `celltrail isbt`: the worked example of the UK Blood Transfusion
/// Services guidelines (Red Book, Annex 2: G123 498 654 321 → check
/// character H, barcode flags 77), and the reasons a wrong input fails.
#[test]
fn isbt_check_character_and_validation() {
    let (code, out, _) = celltrail(&["isbt", "check-char", "G123498654321"]);
    assert_eq!((code, out.trim()), (0, "H"));
    let (code, out, _) = celltrail(&["isbt", "validate", "G123 498 654 321 H"]);
    assert_eq!(code, 0, "{out}");
    let (code, _, _) = celltrail(&["isbt", "validate", "=G12349865432177"]);
    assert_eq!(code, 0);
    // Two digits swapped: caught, with the right check character named.
    let (code, _, err) = celltrail(&["isbt", "validate", "G123498654312H"]);
    assert_eq!(code, 1);
    assert!(err.contains("din_check_char_mismatch"), "{err}");
    // Flags that carry another check value.
    let (code, _, err) = celltrail(&["isbt", "validate", "=G12349865432178"]);
    assert_eq!(code, 1);
    assert!(err.contains("din_flag_check_mismatch"), "{err}");
    // A malformed DIN, in Chinese.
    let (code, _, err) = celltrail(&["--lang", "zh-CN", "isbt", "validate", "G1234X8654321H"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("din_year_invalid") && err.contains("年份"),
        "{err}"
    );
    // The barcode reads back to "=", the DIN and its check flags (77).
    let (code, svg, _) = celltrail(&["isbt", "barcode", "G123498654321"]);
    assert_eq!(code, 0);
    assert_eq!(
        celltrail_core::code128::decode_svg(&svg, 2).unwrap(),
        "=G12349865432177"
    );
    assert!(svg.contains("G1234 98 654321 H"), "{svg}");
    let (code, svg, _) = celltrail(&["isbt", "barcode", "G123498654321", "--datamatrix"]);
    assert_eq!(code, 0);
    let symbol = celltrail_core::datamatrix::read_svg(&svg, 6, 16).unwrap();
    assert_eq!(
        celltrail_core::datamatrix::decode(&symbol).unwrap(),
        "=G12349865432177"
    );
    // A label as PDF: both barcodes read back from the printed bars.
    let pdf_path = std::env::temp_dir().join(format!("celltrail-label-{}.pdf", std::process::id()));
    let (code, _, err) = celltrail(&[
        "isbt",
        "label",
        "--din",
        "G123417654321",
        "--product-code",
        "S1295A00",
        "--zh",
        "CD19 CAR-T 细胞注射液",
        "--en",
        "CD19 CAR-T cells",
        "--out",
        pdf_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let pdf = std::fs::read(&pdf_path).unwrap();
    let (linear, matrix) =
        celltrail_core::label::read_back(&celltrail_core::pdf::extract_rects(&pdf));
    assert_eq!(linear, vec!["=G12341765432170", "=<S1295A00"]);
    assert_eq!(matrix.as_deref(), Some("=G12341765432170=<S1295A00"));
    let _ = std::fs::remove_file(pdf_path);
    let (code, _, err) = celltrail(&[
        "isbt",
        "label",
        "--din",
        "G123417654321",
        "--product-code",
        "S12A5A00",
        "--zh",
        "细胞",
        "--en",
        "cells",
        "--out",
        "/dev/null",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("product_code_invalid"), "{err}");
    let (code, out, _) = celltrail(&["--json", "isbt", "check-char", "G123498654321"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["check_char"], "H");
}

/// `trace generate` loads synthetic chains (here five patients with short
/// logger files), reports what it wrote, and the ledger verifies after.
#[test]
fn trace_generate_writes_chains_the_ledger_verifies() {
    let dir = common::tempdir("trace-gen");
    let db = format!("sqlite://{}/gen.db", dir.display());
    let (code, out, err) = celltrail(&[
        "--json",
        "--database",
        &db,
        "trace",
        "generate",
        "--patients",
        "5",
        "--readings",
        "12",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["patients"], 5);
    assert_eq!(v["readings"], 5 * 2 * 12);
    assert!(v["ledger_events"].as_u64().unwrap() >= 5 * 25, "{v}");
    let (code, out, err) = celltrail(&["--database", &db, "ledger", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// `isbt product` reads the user's product code file (a tab-separated
/// export with a code and a description column) and says what a code
/// means; without a file it says so; a malformed file names its line.
#[test]
fn isbt_product_reads_the_users_code_file() {
    let dir = common::tempdir("isbt-products");
    let file = dir.join("pdc.tsv");
    std::fs::write(
        &file,
        "Product Code\tProduct Description\nS1295\tApheresis cells, description written for this test\n",
    )
    .unwrap();
    let f = file.display().to_string();
    let (code, out, err) = celltrail(&["isbt", "product", "S1295A00", "--products", &f]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("S1295") && out.contains("written for this test"),
        "{out}"
    );
    let (code, _, err) = celltrail(&["isbt", "product", "S1296A00", "--products", &f]);
    assert_eq!(code, 1);
    assert!(err.contains("product_code_unknown"), "{err}");
    let (code, _, err) = celltrail(&["isbt", "product", "S1295A00"]);
    assert_eq!(code, 2);
    assert!(err.contains("products_file_required"), "{err}");
    std::fs::write(&file, "PDC,Name\nS1295,a\n1234,b\n").unwrap();
    let (code, _, err) = celltrail(&[
        "--lang",
        "zh-CN",
        "isbt",
        "product",
        "S1295",
        "--products",
        &f,
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("products_code_invalid") && err.contains("第 3 行"),
        "{err}"
    );
}

/// `celltrail grade crs|icans --input FILE --json` as the safety issue
/// specifies it, with values from the ASTCT consensus (Lee et al., Biol
/// Blood Marrow Transplant 2019): fever with hypoxia needing high-flow
/// oxygen is grade 3; an adult with ICE 6 and a resolved seizure is grade 3
/// (the seizure decides); a child of 8 is graded by CAPD, 9 or more grade 3.
#[test]
fn grade_crs_and_icans_from_files() {
    let dir = common::tempdir("grade");
    let crs = dir.join("crs.json");
    std::fs::write(
        &crs,
        r#"{"temperature_c": 38.9, "hypotension": "none", "hypoxia": "high_flow"}"#,
    )
    .unwrap();
    let (code, out, err) = celltrail(&["grade", "crs", "--input", crs.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["grade"], 3);
    assert_eq!(v["deciding"], serde_json::json!(["hypoxia:high_flow"]));
    let icans = dir.join("icans.json");
    std::fs::write(
        &icans,
        r#"{"ice_score": 6, "consciousness": "awake", "seizure": "resolved", "motor": "none", "cerebral_edema": "none", "age_years": 45}"#,
    )
    .unwrap();
    let (code, out, err) = celltrail(&[
        "grade",
        "icans",
        "--input",
        icans.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["grade"], 3);
    assert_eq!(v["deciding"], serde_json::json!(["seizure:resolved"]));
    let child = dir.join("child.json");
    std::fs::write(
        &child,
        r#"{"capd_score": 12, "consciousness": "awake", "seizure": "none", "motor": "none", "cerebral_edema": "none", "age_years": 8}"#,
    )
    .unwrap();
    let (code, out, _) = celltrail(&[
        "grade",
        "icans",
        "--input",
        child.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["grade"], 3);
    // A child without a CAPD score: refused with a code, in Chinese when asked.
    std::fs::write(
        &child,
        r#"{"consciousness": "awake", "seizure": "none", "motor": "none", "cerebral_edema": "none", "age_years": 8}"#,
    )
    .unwrap();
    let (code, out, _) = celltrail(&[
        "--lang",
        "zh-CN",
        "grade",
        "icans",
        "--input",
        child.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["code"], "grade_capd_score_missing");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("CAPD"),
        "{out}"
    );
}

/// `celltrail signal --input FILE --json` prints the fields the issue
/// names; the generator's planted pair stands out, and a malformed line is
/// refused with its number.
#[test]
fn signal_detection_from_a_generated_file() {
    let dir = common::tempdir("signal");
    let csv = dir.join("reports.csv");
    let (code, out, err) = celltrail(&[
        "--json",
        "safety",
        "generate",
        "--rows",
        "60000",
        "--products",
        "60",
        "--events",
        "40",
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let generated: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(generated["rows"], 60000);
    let planted = &generated["planted"][0];
    let (code, out, err) = celltrail(&["signal", "--input", csv.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    for k in ["alpha1", "beta1", "alpha2", "beta2", "p"] {
        assert!(v["hyperparameters"][k].is_number(), "{k}");
    }
    let pairs = v["pairs"].as_array().unwrap();
    for k in [
        "product",
        "event",
        "n",
        "e",
        "prr",
        "prr_lo",
        "prr_hi",
        "ror",
        "ror_lo",
        "ror_hi",
        "chi2_yates",
        "ic",
        "ic025",
        "ebgm",
        "eb05",
        "eb95",
    ] {
        assert!(pairs[0].get(k).is_some(), "{k} missing");
    }
    let hit = pairs
        .iter()
        .find(|p| p["product"] == planted["product"] && p["event"] == planted["event"])
        .expect("planted pair");
    assert!(hit["eb05"].as_f64().unwrap() >= 2.0, "{hit}");
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "report_id,product,event\nr1,p1,e1\nr2,p1\n").unwrap();
    let (code, out, _) = celltrail(&["signal", "--input", bad.to_str().unwrap(), "--json"]);
    assert_ne!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["code"], "signal_csv_columns");
    assert!(
        v["error"]["message"].as_str().unwrap().contains(":3:"),
        "{out}"
    );
}

/// `celltrail import faers DIR` on a hand-made quarter in the layout of the
/// FDA's ASCII extract (ASC_NTS: `$`-delimited DEMO, DRUG and REAC files
/// with header lines): only the latest version of a case counts, only
/// suspect drugs (PS, SS) are products, and the rows reach both the CSV and
/// the database's reference data.
#[test]
fn import_faers_quarter_keeps_latest_versions_and_suspect_drugs() {
    let dir = common::tempdir("faers");
    let q = dir.join("q1");
    std::fs::create_dir_all(&q).unwrap();
    std::fs::write(
        q.join("DEMO26Q1.txt"),
        "primaryid$caseid$caseversion$i_f_code$event_dt$mfr_dt$init_fda_dt$fda_dt$rept_cod$auth_num$mfr_num$mfr_sndr$lit_ref$age$age_cod$age_grp$sex$e_sub$wt$wt_cod$rept_dt$to_mfr$occp_cod$reporter_country$occr_country\n\
         1001$1001$1$I$20251201$$20260105$20260105$EXP$$$$$54$YR$$F$Y$$$20260105$$MD$US$US\n\
         1002$1001$2$F$20251201$$20260105$20260210$EXP$$$$$54$YR$$F$Y$$$20260210$$MD$US$US\n\
         2001$2001$1$I$20260101$$20260115$20260115$EXP$$$$$8$YR$$M$Y$$$20260115$$MD$US$US\n",
    )
    .unwrap();
    std::fs::write(
        q.join("DRUG26Q1.txt"),
        "primaryid$caseid$drug_seq$role_cod$drugname$prod_ai$val_vbm$route\n\
         1001$1001$1$PS$Yescarta$AXICABTAGENE CILOLEUCEL$1$INTRAVENOUS\n\
         1002$1001$1$PS$Yescarta$AXICABTAGENE CILOLEUCEL$1$INTRAVENOUS\n\
         1002$1001$2$C$Tocilizumab$TOCILIZUMAB$1$INTRAVENOUS\n\
         2001$2001$1$PS$Kymriah$TISAGENLECLEUCEL$1$INTRAVENOUS\n\
         2001$2001$2$SS$Cyclophosphamide$CYCLOPHOSPHAMIDE$1$INTRAVENOUS\n",
    )
    .unwrap();
    std::fs::write(
        q.join("REAC26Q1.txt"),
        "primaryid$caseid$pt$drug_rec_act\n\
         1001$1001$Cytokine release syndrome$\n\
         1002$1001$Cytokine release syndrome$\n\
         1002$1001$T-cell lymphoma$\n\
         2001$2001$Neurotoxicity$\n",
    )
    .unwrap();
    let csv = dir.join("faers.csv");
    let db = format!("sqlite://{}/faers.db", dir.display());
    let (code, out, err) = celltrail(&[
        "--json",
        "import",
        "faers",
        q.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
        "--database",
        &db,
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    // Case 1001 counts as its version 2 (report 1002): Yescarta × two
    // events; case 2001: two suspect drugs × one event. Tocilizumab is
    // concomitant and left out.
    assert_eq!(v["reports"], 2, "{out}");
    assert_eq!(v["rows"], 4, "{out}");
    assert_eq!(v["stored"], 4, "{out}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.contains("1002,YESCARTA,Cytokine release syndrome"),
        "{text}"
    );
    assert!(!text.contains("1001,"), "{text}");
    assert!(!text.to_uppercase().contains("TOCILIZUMAB"), "{text}");
    // The load is in the ledger, which still verifies.
    let (code, _, err) = celltrail(&["ledger", "verify", "--database", &db]);
    assert_eq!(code, 0, "{err}");
    // The CSV feeds `celltrail signal`.
    let (code, out, err) = celltrail(&["signal", "--input", csv.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["pairs"].as_array().unwrap().len(), 4, "{out}");
}

/// `celltrail meddra lookup CODE --dir DIR` on a made-up folder in the
/// MedDRA ASCII layout (no licensed content): the terms of a known code, and
/// exit 1 with a code for an unknown one.
#[test]
fn meddra_lookup_reads_the_users_terminology() {
    let dir = common::tempdir("meddra");
    std::fs::write(
        dir.join("LLT.ASC"),
        "90000001$Made-up PT$90000001$$$$$$$Y$$\n90000002$Made-up LLT$90000001$$$$$$$Y$$\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("MDHIER.ASC"),
        "90000001$91000001$92000001$98000001$Made-up PT$Made-up HLT$Made-up HLGT$Made-up SOC$Mdup$$98000001$Y$\n",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let (code, out, err) = celltrail(&["--json", "meddra", "lookup", "90000002", "--dir", d]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["pt_code"], "90000001");
    assert_eq!(v["socs"], serde_json::json!(["98000001"]));
    let (code, out, _) = celltrail(&["--json", "meddra", "lookup", "90000009", "--dir", d]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["code"], "meddra_code_unknown");
}
