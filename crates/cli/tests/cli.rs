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
