//! Browser test: the demo as a newcomer sees it, in headless Chromium driven
//! through WebDriver (Debian's chromium and chromium-driver). A research
//! office files a project, a regulator approves it with electronic
//! signatures, the public finds it, and the language switch works.
//! Screenshots land in the target directory for a person to look at.

mod common;

use std::time::Duration;

use common::{free_port, tempdir, Proc};
use serde_json::{json, Value};

struct Driver {
    base: String,
    session: String,
}

impl Driver {
    fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let resp = ureq::post(&url).send_json(body);
        match resp {
            Ok(r) => r.into_json::<Value>().unwrap()["value"].clone(),
            Err(ureq::Error::Status(code, r)) => panic!(
                "webdriver {path}: {code} {}",
                r.into_string().unwrap_or_default()
            ),
            Err(e) => panic!("webdriver {path}: {e}"),
        }
    }
    fn try_get(&self, path: &str) -> Option<Value> {
        let url = format!("{}/session/{}{}", self.base, self.session, path);
        let r = ureq::get(&url).call().ok()?;
        Some(r.into_json::<Value>().ok()?["value"].clone())
    }
    fn get(&self, path: &str) -> Value {
        self.try_get(path)
            .unwrap_or_else(|| panic!("webdriver GET {path} failed"))
    }
    /// Waits until the URL ends with `suffix` (navigation after a click).
    fn wait_url(&self, suffix: &str) {
        for _ in 0..100 {
            if self.url().ends_with(suffix) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("url {} does not end with {suffix}", self.url());
    }
    /// Waits until the element's text equals `want` (the page may still be
    /// loading, or an element may go stale while it navigates).
    fn wait_text(&self, css: &str, want: &str) {
        let mut last = String::new();
        for _ in 0..100 {
            if let Some(t) = self.try_text(css) {
                if t == want {
                    return;
                }
                last = t;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{css}: expected {want:?}, last saw {last:?}");
    }
    /// Waits until the element's text starts with `want`.
    fn wait_text_prefix(&self, css: &str, want: &str) {
        let mut last = String::new();
        for _ in 0..100 {
            if let Some(t) = self.try_text(css) {
                if t.starts_with(want) {
                    return;
                }
                last = t;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{css}: expected {want:?}…, last saw {last:?}");
    }
    /// Waits until the URL contains `part`.
    fn wait_url_contains(&self, part: &str) {
        for _ in 0..100 {
            if self.url().contains(part) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("url {} does not contain {part}", self.url());
    }
    fn try_text(&self, css: &str) -> Option<String> {
        let url = format!("{}/session/{}/element", self.base, self.session);
        let v: Value = ureq::post(&url)
            .send_json(json!({"using": "css selector", "value": css}))
            .ok()?
            .into_json()
            .ok()?;
        let id = v["value"]
            .as_object()?
            .values()
            .next()?
            .as_str()?
            .to_string();
        Some(
            self.try_get(&format!("/element/{id}/text"))?
                .as_str()?
                .to_string(),
        )
    }
    fn go(&self, url: &str) {
        self.post("/url", json!({"url": url}));
    }
    fn url(&self) -> String {
        self.get("/url").as_str().unwrap().to_string()
    }
    fn find(&self, css: &str) -> String {
        for _ in 0..50 {
            let url = format!("{}/session/{}/element", self.base, self.session);
            if let Ok(r) =
                ureq::post(&url).send_json(json!({"using": "css selector", "value": css}))
            {
                let v: Value = r.into_json().unwrap();
                if let Some(obj) = v["value"].as_object() {
                    if let Some(id) = obj.values().next().and_then(|v| v.as_str()) {
                        return id.to_string();
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("element not found: {css}\npage: {}", self.get("/source"));
    }
    fn click(&self, css: &str) {
        let id = self.find(css);
        self.post(&format!("/element/{id}/click"), json!({}));
    }
    fn type_in(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.post(&format!("/element/{id}/clear"), json!({}));
        self.post(&format!("/element/{id}/value"), json!({"text": text}));
    }
    /// Chooses a file for an `<input type=file>` (WebDriver: the path as keys).
    fn upload(&self, css: &str, path: &std::path::Path) {
        let id = self.find(css);
        self.post(
            &format!("/element/{id}/value"),
            json!({"text": path.display().to_string()}),
        );
    }
    fn text(&self, css: &str) -> String {
        for _ in 0..100 {
            if let Some(t) = self.try_text(css) {
                return t;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no text for {css}");
    }
    fn screenshot(&self, name: &str) {
        use base64_decode::decode;
        let png = self.get("/screenshot");
        let bytes = decode(png.as_str().unwrap());
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }
    /// Answers questions of the classification wizard: (field, value).
    fn answer(&self, answers: &[(&str, &str)]) {
        for (q, v) in answers {
            self.click(&format!("#q-{q} option[value={v}]"));
        }
    }
    fn login(&self, base: &str, user: &str) {
        self.go(&format!("{base}/login"));
        self.type_in("#username", user);
        self.type_in("#password", common::DEMO_PASSWORD);
        self.click("#login-submit");
        self.wait_url("/app");
    }
    fn sign_action(&self, action: &str, user: &str) {
        let form = format!("#act-{action}");
        self.type_in(&format!("{form} input[name=sign_username]"), user);
        self.type_in(
            &format!("{form} input[name=sign_password]"),
            common::DEMO_PASSWORD,
        );
        self.click(&format!("{form} button[type=submit]"));
    }
}

/// Minimal standard base64 decoding for screenshots.
mod base64_decode {
    pub fn decode(s: &str) -> Vec<u8> {
        let val = |c: u8| -> Option<u32> {
            match c {
                b'A'..=b'Z' => Some((c - b'A') as u32),
                b'a'..=b'z' => Some((c - b'a' + 26) as u32),
                b'0'..=b'9' => Some((c - b'0' + 52) as u32),
                b'+' => Some(62),
                b'/' => Some(63),
                _ => None,
            }
        };
        let mut out = Vec::with_capacity(s.len() * 3 / 4);
        let (mut acc, mut bits) = (0u32, 0);
        for c in s.bytes().filter_map(val) {
            acc = (acc << 6) | c;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        out
    }
}

/// The demo server and a Chromium session driven through chromedriver.
struct Session {
    base: String,
    d: Driver,
    _server: Proc,
    _chromedriver: Proc,
}

fn start(name: &str) -> Session {
    let tmp = tempdir(name);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = Proc::spawn(
        env!("CARGO_BIN_EXE_celltrail"),
        &[
            "demo",
            "--database",
            &format!("sqlite://{}/demo.db", tmp.display()),
            "--bind",
            &format!("127.0.0.1:{port}"),
        ],
    );
    common::wait_http(&format!("{base}/healthz"), Duration::from_secs(300));

    let driver_port = free_port();
    let _chromedriver = Proc::spawn("chromedriver", &[&format!("--port={driver_port}")]);
    let wd = format!("http://127.0.0.1:{driver_port}");
    common::wait_http(&format!("{wd}/status"), Duration::from_secs(30));
    let profile = tmp.join("profile");
    let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
        "binary": "/usr/bin/chromium",
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 format!("--user-data-dir={}", profile.display()), "--window-size=1280,1100", "--lang=zh-CN"],
        "prefs": {"intl.accept_languages": "zh-CN,zh"}
    }}}});
    let created: Value = ureq::post(&format!("{wd}/session"))
        .send_json(caps)
        .expect("start chromium")
        .into_json()
        .unwrap();
    let session = created["value"]["sessionId"].as_str().unwrap().to_string();
    Session {
        base,
        d: Driver {
            base: wd.clone(),
            session,
        },
        _server,
        _chromedriver,
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.d.base, self.d.session)).call();
    }
}

#[test]
fn file_approve_lookup_and_switch_language_in_chromium() {
    let s = start("browser");
    let (base, d) = (&s.base, &s.d);

    // The landing page.
    d.go(base);
    d.screenshot("01-home-zh");

    // A hospital research office drafts and submits a filing (signed: authored).
    d.login(base, "sjh.office");
    d.go(&format!("{base}/app/projects/new"));
    d.type_in("#title_zh", "浏览器测试：CD19 CAR-T 治疗难治性狼疮肾炎");
    d.type_in(
        "#title_en",
        "Browser test: CD19 CAR-T for refractory lupus nephritis",
    );
    d.type_in("#pi_name", "周明");
    d.click("#project-submit");
    d.wait_text("#project-state", "草稿");
    let project_url = d.url();
    // Classify the therapy from the project and keep the result on its record.
    d.click("#classify-project");
    d.answer(&[
        ("cell_origin", "autologous"),
        ("material", "immune_cells"),
        ("manipulation", "substantial"),
        ("homologous_use", "false"),
        ("genetic_modification", "integrating_vector"),
        ("first_in_human", "false"),
        ("purpose", "research"),
    ]);
    d.click("#classify-submit");
    d.wait_text("#c-cn-risk_tier .value", "高风险");
    d.type_in("#save-reason", "备案前分类");
    d.click("#save-submit");
    d.wait_url("#classifications");
    assert!(
        d.text("#classifications + p + h3").contains("备案前分类"),
        "{}",
        d.text("#classifications + p + h3")
    );
    d.screenshot("02a-project-classified-zh");
    d.sign_action("submit", "sjh.office");
    d.wait_text("#project-state", "已提交");
    d.click("#logout");
    d.wait_url("/");

    // A wrong password signs nothing.
    d.login(base, "sh.officer");
    d.go(&project_url);
    d.type_in("#act-accept input[name=sign_username]", "sh.officer");
    d.type_in("#act-accept input[name=sign_password]", "not the password");
    d.click("#act-accept button[type=submit]");
    assert!(
        d.text(".error").contains("密码错误"),
        "{}",
        d.text(".error")
    );
    assert_eq!(d.text("#project-state"), "已提交");

    // The regulator accepts (reviewed) and files (approved) it.
    d.sign_action("accept", "sh.officer");
    d.wait_text("#project-state", "已受理");
    d.sign_action("file", "sh.officer");
    d.wait_text("#project-state", "已备案");
    let number = d.text("#project-filing-number");
    assert!(
        number.starts_with("BMT-31-2026-C-") || number.starts_with("BMT-31-"),
        "{number}"
    );
    let signers = d.text("#signatures");
    assert!(
        signers.contains("沈卫 Shen Wei") && signers.contains("批准"),
        "{signers}"
    );
    d.screenshot("02-project-signed-zh");
    d.click("#logout");
    d.wait_url("/");

    // Anyone finds it on the public page without signing in.
    d.go(&format!("{base}/public"));
    d.type_in("#number", &number);
    d.click("#filing-submit");
    d.wait_text("#filing-number", &number);
    d.wait_text("#project-state", "已备案");
    let public_sigs = d.text("#signatures");
    assert!(
        public_sigs.contains("沈卫 Shen Wei") && public_sigs.contains("批准"),
        "{public_sigs}"
    );
    d.screenshot("03-public-filing-zh");

    // The visible switch turns the page into English and stays there.
    d.click("#lang-switch");
    d.wait_text("#project-state", "Filed");
    d.screenshot("04-public-filing-en");
    d.go(&format!("{base}/public?q=Tianjin"));
    assert!(
        d.text("#results")
            .contains("Haihe Hospital of Blood Diseases"),
        "{}",
        d.text("#results")
    );
    d.screenshot("05-public-search-en");

    // The classification wizard: describe a lentiviral CAR-T for clinical
    // research, leave "first use in humans" unanswered, and read the tree.
    d.go(&format!("{base}/classify"));
    d.answer(&[
        ("cell_origin", "autologous"),
        ("material", "immune_cells"),
        ("manipulation", "substantial"),
        ("homologous_use", "false"),
        ("genetic_modification", "integrating_vector"),
        ("purpose", "research"),
    ]);
    d.click("#classify-submit");
    d.wait_text("#c-eu-atmp .value", "Gene therapy medicinal product (GTMP)");
    assert_eq!(d.text("#c-us-ltfu_years .value"), "15");
    assert!(
        d.text("#c-cn-route .value").contains("NHC"),
        "{}",
        d.text("#c-cn-route")
    );
    assert_eq!(d.text("#c-cn-risk_tier .value"), "High");
    // A question left open is asked where a deciding rule needs it.
    assert!(
        d.text("#c-us-rmat_eligible .needs")
            .contains("For a serious condition"),
        "{}",
        d.text("#c-us-rmat_eligible")
    );
    d.screenshot("06-classify-en");
}

/// A committee meets on the demo's iPSC study: the secretary schedules the
/// meeting and records attendance, the chair records the votes and signs;
/// then a subject withdraws one permission on their own consent page.
#[test]
fn committee_meeting_and_subject_consent_page_in_chromium() {
    let s = start("browser-ethics");
    let (base, d) = (&s.base, &s.d);

    // The secretary sees the committee, its composition and its clocks.
    d.login(base, "shec.secretary");
    d.go(&format!("{base}/app/committees/org-sh-shenjiang-ec"));
    assert!(
        d.text("#composition-ok").contains("符合"),
        "{}",
        d.text("#composition-ok")
    );
    assert!(
        d.text("#clocks").contains("专门专家伦理委员会审查"),
        "{}",
        d.text("#clocks")
    );
    d.screenshot("10-committee-zh");
    d.click("#schedule-meeting button[type=submit]");
    d.wait_text("#meeting-status", "已安排");
    let meeting_url = d.url();
    for i in 1..=7 {
        d.click(&format!("#attendance > label:nth-of-type({i}) input"));
    }
    d.click("#attendance button[type=submit]");
    d.wait_text("#meeting-status", "已召开");
    assert!(
        d.text(".quorum-ok").contains("法定人数"),
        "{}",
        d.text(".quorum-ok")
    );
    d.click("#logout");
    d.wait_url("/");

    // The chair records seven votes and signs; more than half of all
    // members approve, so the decision stands.
    d.login(base, "shec.chair");
    d.go(&meeting_url);
    for i in 1..=7 {
        let v = if i == 7 {
            "approve_with_modifications"
        } else {
            "approve"
        };
        d.click(&format!(
            "form.vote > label:nth-of-type({i}) option[value={v}]"
        ));
    }
    d.type_in("form.vote input[name=sign_username]", "shec.chair");
    d.type_in("form.vote input[name=sign_password]", common::DEMO_PASSWORD);
    d.click("form.vote button[type=submit]");
    d.wait_text(".item-decision strong", "批准");
    d.screenshot("11-meeting-decided-zh");
    d.click(".item h3 a");
    assert!(
        d.text("#decision").contains("批准"),
        "{}",
        d.text("#decision")
    );
    assert!(
        d.text("#decision-signature").contains("沈涛 Shen Tao"),
        "{}",
        d.text("#decision-signature")
    );
    assert!(
        d.text("#route-basis")
            .contains("涉及人的生命科学和医学研究伦理审查办法"),
        "{}",
        d.text("#route-basis")
    );
    d.screenshot("12-submission-decided-zh");
    d.click("#logout");
    d.wait_url("/");

    // The study's research office issues a subject's personal link.
    d.login(base, "sjh.office");
    d.go(&format!("{base}/app/projects?q=多中心研究"));
    d.click("#project-list tbody tr:first-child a");
    d.click("#project-ethics-link");
    assert!(
        d.text("#reliances").contains("已互认"),
        "{}",
        d.text("#reliances")
    );
    assert!(
        d.text("#reconsent-pending").contains("尚未签署最新"),
        "{}",
        d.text("#reconsent-pending")
    );
    d.screenshot("13-study-ethics-zh");
    // A continuing review with its progress report, uploaded from the page:
    // no new risks, so the simplified procedure; the file's SHA-256 is on
    // record.
    let report =
        std::env::temp_dir().join(format!("celltrail-progress-{}.txt", std::process::id()));
    std::fs::write(&report, "年度进展报告 2026 / annual progress report 2026").unwrap();
    let ethics_url = d.url();
    d.click("#submit-review select[name=committee_id] option[value=org-sh-shenjiang-ec]");
    d.click("#submit-review select[name=kind] option[value=continuing_review]");
    d.click("#submit-review select[name=kind_1] option[value=other]");
    d.upload("#submit-review input[name=file_1]", &report);
    d.click("#submit-review button[type=submit]");
    d.wait_text("#submission-status", "已提交");
    assert!(
        d.text("#submission-route").contains("简易程序审查"),
        "{}",
        d.text("#submission-route")
    );
    let sha =
        celltrail_ledger::sha256_hex("年度进展报告 2026 / annual progress report 2026".as_bytes());
    assert!(
        d.text("#documents").contains(&sha),
        "{}",
        d.text("#documents")
    );
    d.screenshot("13b-continuing-review-submitted-zh");
    d.go(&ethics_url);
    d.click("#subject-SJ-001 .issue-link");
    let link = d.text("#subject-link a");
    assert!(link.starts_with("/consent/"), "{link}");
    d.click("#logout");
    d.wait_url("/");

    // The subject, not signed in, withdraws recontact.
    d.go(&format!("{base}{link}"));
    assert_eq!(d.text("#subject-code"), "SJ-001");
    assert!(
        d.text(".perm-recontact").contains("同意"),
        "{}",
        d.text(".perm-recontact")
    );
    d.screenshot("14-consent-page-zh");
    d.click("#withdraw input[value=recontact]");
    d.type_in("#withdraw textarea[name=reason]", "不希望再被联系");
    d.click("#withdraw-submit");
    d.wait_text("#consent-done", "您的变更已记录，自今天起生效。");
    assert!(
        d.text(".perm-recontact").contains("不同意"),
        "{}",
        d.text(".perm-recontact")
    );
    assert!(
        d.text("#consent-history").contains("撤回"),
        "{}",
        d.text("#consent-history")
    );
    d.click("#lang-switch");
    d.wait_text(
        "#consent-history tr:last-child td:nth-child(2)",
        "Withdrawn",
    );
    d.screenshot("15-consent-page-en");
}

#[test]
fn bedside_check_blocks_the_wrong_bag_and_records_the_infusion_in_chromium() {
    let s = start("browser-trace");
    let (base, d) = (&s.base, &s.d);

    // The nurse opens the traceability desk: units, custody gaps, halts.
    d.login(base, "sjh.nurse");
    d.click("#nav-trace");
    d.wait_url("/app/trace");
    assert!(
        d.text("#alerts").contains("超时未签收"),
        "{}",
        d.text("#alerts")
    );
    assert!(
        d.text("#halts").contains("LOT-ZJ-MSCMED-2609"),
        "{}",
        d.text("#halts")
    );
    d.screenshot("20-trace-desk-zh");

    // Patient 2's bag, found by its DIN as printed on the label.
    d.type_in("#trace-lookup input[name=node]", "W0307 26 100201");
    d.click("#trace-lookup button[type=submit]");
    d.wait_text("#chain-units tbody tr:nth-child(2) .badge", "已放行");
    let coi = d.text("#coi");
    assert_eq!(coi.len(), 14, "{coi}");
    d.screenshot("21-chain-zh");
    d.click(".bedside-link");
    d.wait_url("/bedside");
    let bedside = d.url();

    // The bag in hand is patient 1's spare: the check blocks the infusion.
    let scan = |bag: &str| {
        d.type_in("#scan-wristband", "SJH-MRN-0002");
        d.type_in("#scan-coi", &coi);
        d.type_in("#scan-bag", bag);
        d.type_in("#second-username", "sjh.nurse2");
        d.type_in("#second-password", common::DEMO_PASSWORD);
        d.click("#verify");
    };
    scan("=W03072610010200");
    d.wait_text(
        "#bedside-blocked li",
        "产品袋: 与记录不符（另一患者或另一袋）",
    );
    assert!(d.try_text("#administer").is_none());
    d.screenshot("22-bedside-blocked-zh");

    // With the right bag all three match and the infusion is recorded.
    d.go(&bedside);
    scan("=W03072610020100");
    d.wait_text("#bedside-matched", "三项一致：可以输注。");
    d.screenshot("23-bedside-matched-zh");
    d.click("#administer");
    d.wait_text("#administered", "已记录输注。");
    assert!(d.text("#unit-status").contains("已输注"));

    // Both checks stay on the chain's record, the blocked one first.
    d.go(&format!("{base}/app/trace/chains/{coi}"));
    let checks = d.text("#checks");
    assert!(
        checks.contains("不符，已阻止") && checks.contains("一致"),
        "{checks}"
    );
    d.click("#genealogy-link");
    d.wait_url("direction=backward");
    assert!(
        d.text("#graph").contains("LOT-ZJ-LV-2608"),
        "{}",
        d.text("#graph")
    );
    d.screenshot("24-genealogy-zh");

    // QA of the centre reads the recalled MSC medium lot's recall list, in
    // English: three bags, one already at the hospital.
    d.click("#logout");
    d.wait_url("/");
    d.login(base, "zj.qa");
    d.click("#lang-switch");
    d.go(&format!(
        "{base}/app/trace/genealogy?node=lot:LOT-ZJ-MSCMED-2609&direction=forward"
    ));
    let recall = d.text("#recall");
    assert!(recall.contains("Quarantine now"), "{recall}");
    assert_eq!(recall.matches("Quarantine now").count(), 3, "{recall}");
    d.screenshot("25-recall-en");
}

/// The safety desk as a research office and a national regulator use it:
/// the malignancy flag and the overdue report on the desk, the adverse-event
/// form grading CRS and ICANS live as observations are entered (ASTCT
/// consensus, Lee et al. 2019), the saved report with its 7-day clock, the
/// national signals with the planted lymphoma pair, and follow-up
/// completeness with a patient lost.
#[test]
fn adverse_event_form_grades_live_and_signals_show_in_chromium() {
    let s = start("browser-safety");
    let (base, d) = (&s.base, &s.d);
    let set = |css: &str, value: &str| {
        d.post(
            "/execute/sync",
            json!({"script": "var e = document.querySelector(arguments[0]); e.value = arguments[1]; e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true}));", "args": [css, value]}),
        );
    };

    d.login(base, "sjh.office");
    d.click("#nav-safety");
    d.wait_url("/app/safety");
    assert!(d.text("#malignancy-flags").contains("T-cell lymphoma"));
    assert!(d.text("#aes").contains("已逾期"), "{}", d.text("#aes"));
    d.screenshot("30-safety-desk-zh");

    d.click("#report-ae");
    d.wait_url("/app/safety/new");
    // 39.4 °C and one vasopressor: grade 3, decided by the hypotension.
    set("#crs-temperature", "39.4");
    set("#crs-hypotension", "one_vasopressor");
    d.wait_text_prefix("#crs-grade", "分级 3");
    assert!(
        d.text("#crs-grade").contains("血管活性药"),
        "{}",
        d.text("#crs-grade")
    );
    // Now positive-pressure ventilation as well: grade 4.
    set("#crs-hypoxia", "positive_pressure");
    d.wait_text_prefix("#crs-grade", "分级 4");
    // ICE 5 in an adult, awakens to voice: ICANS grade 2.
    set("#ae-age", "58");
    set("#icans-ice", "5");
    set("#icans-consciousness", "awakens_to_voice");
    d.wait_text_prefix("#icans-grade", "分级 2");
    d.post(
        "/execute/sync",
        json!({"script": "document.querySelector('#crs-section').scrollIntoView();", "args": []}),
    );
    d.screenshot("31-ae-form-live-grade-zh");
    set("#ae-product", "CD19 CAR-T 细胞注射液（HS-CART19）");
    set("#ae-term", "Cytokine release syndrome");
    let today = d.post(
        "/execute/sync",
        json!({"script": "return document.querySelector('#ae-onset').max;", "args": []}),
    );
    let today = today.as_str().unwrap().to_string();
    set("#ae-onset", &today);
    set("#ae-aware", &today);
    d.click("#ser-life_threatening");
    set("#ae-severity", "4");
    set("#ae-expectedness", "unexpected");
    set("#ae-causality", "probable");
    set("#ae-outcome", "not_recovered");
    d.click("#ae-submit");
    d.wait_url_contains("/app/safety/aes/");
    assert!(
        d.text("#ae-crs").starts_with("分级 4"),
        "{}",
        d.text("#ae-crs")
    );
    assert!(
        d.text("#ae-icans").starts_with("分级 2"),
        "{}",
        d.text("#ae-icans")
    );
    assert!(d.text("#ae-kind").contains("7"), "{}", d.text("#ae-kind"));
    let clocks = d.text("#ae-clocks");
    assert!(
        clocks.contains("报告期内") || clocks.contains("2天内到期"),
        "{clocks}"
    );
    d.screenshot("32-ae-page-zh");

    // The national regulator's signals: the sponsor batch's lymphomas after
    // one product meet EB05 >= 2.
    d.click("#logout");
    d.wait_url("/");
    d.login(base, "nhc.officer");
    d.go(&format!("{base}/app/safety/signals"));
    let table = d.text("#signals");
    let row = table
        .lines()
        .find(|l| l.contains("t-cell lymphoma"))
        .unwrap_or_else(|| panic!("{table}"))
        .to_string();
    assert!(row.contains("EB05"), "{row}");
    assert!(d.text("#signal-plot").contains("t-cell lymphoma"));
    d.screenshot("33-signals-zh");
    d.click("#lang-switch");
    d.wait_text_prefix("h1", "National adverse-event database");
    d.screenshot("34-signals-en");

    // Follow-up completeness: one patient lost, one died.
    d.go(&format!("{base}/app/safety/ltfu"));
    let centres = d.text("#ltfu-centres");
    assert!(centres.contains("East China Hospital"), "{centres}");
    assert!(d.text("#ltfu-enrolments").contains("Lost to follow-up"));
    d.screenshot("35-ltfu-en");
}
