//! The chain-of-custody screens: the traceability desk (units, custody
//! alerts, halts, lookup by chain of identity), one chain from collection
//! to bedside, a batch with its tests and the QP's release, genealogy with
//! the recall list, and the bedside two-person check.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use celltrail_core::access::Permission;
use celltrail_core::trace::{test_label, Scans};
use celltrail_core::Lang;
use celltrail_store::service::{SignInput, When};
use celltrail_store::trace as tr;

use crate::ethics_pages::{after, field, finding_text, org_name, Fields};
use crate::i18n::{Labels, L};
use crate::pages::{page_error, render, PageCtx};
use crate::session::Auth;
use crate::trace::{batch_view, node_labels, BatchView, GenealogyQuery};
use crate::SharedState;

/// A unit as the lists show it.
pub struct UnitLine {
    pub id: String,
    pub din: String,
    pub product_code: String,
    pub coi: String,
    pub kind: String,
    pub status: String,
    pub status_label: String,
    pub holder: String,
    pub location: String,
    pub patient: String,
    pub updated: String,
    /// What the product code means, from the configured product file.
    pub description: String,
}

fn status_label(l: Labels, s: &str) -> String {
    l.t(&format!("unit.status.{s}")).to_string()
}

async fn unit_line(st: &SharedState, l: Labels, u: &tr::UnitRow) -> UnitLine {
    UnitLine {
        id: u.id.clone(),
        din: u.din.clone(),
        product_code: u.product_code.clone().unwrap_or_default(),
        coi: u.coi.clone(),
        kind: l.t(&format!("unit.kind.{}", u.kind)).to_string(),
        status: u.status.clone(),
        status_label: status_label(l, &u.status),
        holder: match &u.custodian {
            Some(c) => org_name(st, l, c).await,
            None => l.t("trace.in_transit").to_string(),
        },
        location: u.location.clone().unwrap_or_default(),
        patient: u.patient_id.clone().unwrap_or_default(),
        updated: u
            .updated_at
            .chars()
            .take(16)
            .collect::<String>()
            .replace('T', " "),
        description: match (&st.config.isbt_products, &u.product_code) {
            (Some(t), Some(pc)) => t
                .describe(pc)
                .map(|p| p.description.clone())
                .unwrap_or_default(),
            _ => String::new(),
        },
    }
}

#[derive(Template)]
#[template(path = "trace_home.html")]
struct HomePage {
    ctx: PageCtx,
    units: Vec<UnitLine>,
    alerts: Vec<(String, String, String, i64)>,
    halts: Vec<(String, String, String, String)>,
}

pub async fn trace_home(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    uri: Uri,
) -> Response {
    let l = Labels(lang);
    let s = st.store.as_ref();
    let units = match tr::units_of_org(s, &auth.actor, 200).await {
        Ok(u) => u,
        Err(e) => return page_error(lang, e),
    };
    let mut lines = Vec::new();
    for u in &units {
        lines.push(unit_line(&st, l, u).await);
    }
    let alerts = tr::custody_alerts(s, &auth.actor, &When::now())
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|g| {
            let text = l.t(&format!("gap.{}", g.code)).to_string();
            (g.unit_id, g.shipment_id, text, g.hours)
        })
        .collect();
    let halts = tr::halts(s, &auth.actor)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|h| h.active == 1)
        .map(|h| {
            let kind = l.t(&format!("halt.kind.{}", h.target_kind)).to_string();
            (
                kind,
                h.target_id,
                h.reason,
                h.halted_at.chars().take(10).collect(),
            )
        })
        .collect();
    render(&HomePage {
        ctx: PageCtx::new(lang, Some(&auth), &uri, "trace.title"),
        units: lines,
        alerts,
        halts,
    })
}

/// Lookup: a chain-of-identity id, or a DIN / unit id leading to its chain.
pub async fn trace_lookup(
    State(st): State<SharedState>,
    L(_lang): L,
    Extension(auth): Extension<Auth>,
    Query(q): Query<GenealogyQuery>,
) -> Response {
    let key: String = q
        .node
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let key = key.trim_start_matches('=').to_string();
    if let Ok(u) = tr::visible_unit(st.store.as_ref(), &auth.actor, &key).await {
        return Redirect::to(&format!("/app/trace/chains/{}", u.coi)).into_response();
    }
    // A DIN (with or without its check character or barcode flags).
    let din = celltrail_core::isbt::validate(&key)
        .map(|v| v.din)
        .or_else(|_| celltrail_core::isbt::Din::parse(&key));
    if let Ok(din) = din {
        let din = din.as_string();
        if let Ok(rows) = st
            .store
            .select(
                "SELECT id FROM units WHERE din = $1 ORDER BY created_at LIMIT 1",
                vec![celltrail_store::projection::Val::Text(din)],
            )
            .await
        {
            if let Some(id) = rows
                .first()
                .and_then(|r| r.get("id"))
                .and_then(|v| v.as_str())
            {
                if let Ok(u) = tr::visible_unit(st.store.as_ref(), &auth.actor, id).await {
                    return Redirect::to(&format!("/app/trace/chains/{}", u.coi)).into_response();
                }
            }
        }
    }
    Redirect::to(&format!("/app/trace/chains/{key}")).into_response()
}

#[derive(Template)]
#[template(path = "trace_chain.html")]
struct ChainPage {
    ctx: PageCtx,
    coi: String,
    units: Vec<UnitLine>,
    /// unit, shipment, from, to, sent, received, condition
    handoffs: Vec<[String; 7]>,
    /// id, shipper, courier, logger, readings, minutes out
    shipments: Vec<(String, String, String, String, i64, i64)>,
    /// shipment, start, end, minutes, worst
    excursions: Vec<(String, String, String, i64, String)>,
    batches: Vec<(String, String, String)>,
    /// step, operator, equipment, lots, when
    steps: Vec<[String; 5]>,
    /// test, stage, value, spec, verdict, when
    tests: Vec<([String; 5], bool)>,
    /// id, test, value, status, disposition
    deviations: Vec<[String; 5]>,
    /// unit, when, first, second, matched, mismatches
    checks: Vec<(String, String, String, String, bool, String)>,
    administrations: Vec<(String, String, String, String)>,
    gaps: Vec<(String, String, String, i64)>,
    halts: Vec<(String, String, String)>,
    first_final: Option<String>,
    can_bedside: bool,
}

async fn user_name(st: &SharedState, id: &str) -> String {
    match st.store.user(id).await {
        Ok(Some(u)) => u.display_name,
        _ => id.to_string(),
    }
}

/// Test results as the chain and batch pages list them: test, stage,
/// value with unit, specification, time; and whether it passed.
fn test_rows(lang: Lang, tests: &[tr::TestRow]) -> Vec<([String; 5], bool)> {
    let l = Labels(lang);
    tests
        .iter()
        .map(|t| {
            (
                [
                    test_label(&t.test, lang),
                    l.t(&format!("stage.{}", t.stage)).to_string(),
                    format!("{} {}", t.value, t.unit),
                    t.spec.clone(),
                    minute(&t.at),
                ],
                t.verdict == "pass",
            )
        })
        .collect()
}

fn minute(t: &str) -> String {
    t.chars().take(16).collect::<String>().replace('T', " ")
}

pub async fn chain_page(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(coi): Path<String>,
    uri: Uri,
) -> Response {
    let l = Labels(lang);
    let c = match tr::chain(st.store.as_ref(), &auth.actor, &coi, &When::now()).await {
        Ok(c) => c,
        Err(e) => return page_error(lang, e),
    };
    let mut units = Vec::new();
    for u in &c.units {
        units.push(unit_line(&st, l, u).await);
    }
    let mut handoffs = Vec::new();
    for h in &c.handoffs {
        handoffs.push([
            h.unit_id.clone(),
            h.shipment_id.clone(),
            format!(
                "{} · {}",
                org_name(&st, l, &h.from_org).await,
                user_name(&st, &h.sent_by).await
            ),
            org_name(&st, l, &h.to_org).await,
            minute(&h.sent_at),
            match (&h.received_at, &h.received_by) {
                (Some(at), Some(by)) => format!("{} · {}", minute(at), user_name(&st, by).await),
                _ => l.t("trace.not_received").to_string(),
            },
            h.condition.clone().unwrap_or_default(),
        ]);
    }
    let shipments = c
        .shipments
        .iter()
        .map(|s| {
            (
                s.id.clone(),
                l.t(&format!("shipper.{}", s.shipper)).to_string(),
                s.courier.clone(),
                s.logger_id.clone().unwrap_or_default(),
                s.readings,
                s.minutes_out,
            )
        })
        .collect();
    let excursions = c
        .excursions
        .iter()
        .map(|e| {
            (
                e.shipment_id.clone(),
                minute(&e.start_at),
                minute(&e.end_at),
                e.minutes,
                format!("{:.1} °C", e.worst_c100 as f64 / 100.0),
            )
        })
        .collect();
    let mut batches = Vec::new();
    for b in &c.batches {
        batches.push((
            b.id.clone(),
            org_name(&st, l, &b.org_id).await,
            l.t(&format!("batch.status.{}", b.status)).to_string(),
        ));
    }
    let mut steps = Vec::new();
    for s in &c.steps {
        steps.push([
            s.step.clone(),
            user_name(&st, &s.operator_id).await,
            s.equipment_id.clone().unwrap_or_default(),
            s.lots.replace(',', ", "),
            minute(&s.at),
        ]);
    }
    let tests = test_rows(lang, &c.tests);
    let deviations = c
        .deviations
        .iter()
        .map(|d| {
            [
                d.id.clone(),
                test_label(&d.test, lang),
                d.value.clone(),
                l.t(&format!("deviation.status.{}", d.status)).to_string(),
                d.note.clone(),
            ]
        })
        .collect();
    let mut checks = Vec::new();
    for k in &c.checks {
        let mism: Vec<String> = serde_json::from_str::<Vec<tr::MismatchRec>>(&k.mismatches)
            .unwrap_or_default()
            .iter()
            .map(|m| {
                format!(
                    "{}: {}",
                    l.t(&format!("scan.{}", m.field)),
                    l.t(&format!("scan.{}", m.code))
                )
            })
            .collect();
        checks.push((
            k.unit_id.clone(),
            minute(&k.at),
            user_name(&st, &k.first_user).await,
            user_name(&st, &k.second_user).await,
            k.matched == 1,
            mism.join("；"),
        ));
    }
    let mut administrations = Vec::new();
    for a in &c.administrations {
        administrations.push((
            a.unit_id.clone(),
            a.patient_id.clone(),
            minute(&a.at),
            user_name(&st, &a.by_user).await,
        ));
    }
    let gaps = c
        .gaps
        .iter()
        .map(|g| {
            (
                g.unit_id.clone(),
                g.shipment_id.clone(),
                l.t(&format!("gap.{}", g.code)).to_string(),
                g.hours,
            )
        })
        .collect();
    let halts = c
        .halts
        .iter()
        .filter(|h| h.active == 1)
        .map(|h| {
            (
                l.t(&format!("halt.kind.{}", h.target_kind)).to_string(),
                h.target_id.clone(),
                h.reason.clone(),
            )
        })
        .collect();
    let first_final = c
        .units
        .iter()
        .find(|u| u.kind == "final")
        .map(|u| u.id.clone());
    render(&ChainPage {
        ctx: PageCtx::new(lang, Some(&auth), &uri, "chain.title"),
        coi: c.coi.clone(),
        units,
        handoffs,
        shipments,
        excursions,
        batches,
        steps,
        tests,
        deviations,
        checks,
        administrations,
        gaps,
        halts,
        first_final,
        can_bedside: auth.actor.can(Permission::TraceRecord)
            && auth.actor.can(Permission::IdentityRead),
    })
}

#[derive(Template)]
#[template(path = "trace_batch.html")]
struct BatchPage {
    ctx: PageCtx,
    v: BatchView,
    process: String,
    maker: String,
    status: String,
    tests: Vec<([String; 5], bool)>,
    blockers: Vec<String>,
    can_release: bool,
    released_by: String,
}

pub async fn batch_page(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let l = Labels(lang);
    let v = match batch_view(&st, &auth.actor, &id).await {
        Ok(v) => v,
        Err(e) => return page_error(lang, e),
    };
    let process = match tr::process(st.store.as_ref(), &v.batch.process_id).await {
        Ok(Some(p)) => p.name,
        _ => v.batch.process_id.clone(),
    };
    let tests = test_rows(lang, &v.tests);
    let blockers = v
        .release_blockers
        .iter()
        .map(|b| match b.split_once(':') {
            Some((k, x)) if k == "missing" || k == "failed" => {
                format!("{}：{}", l.t(&format!("blocker.{k}")), test_label(x, lang))
            }
            Some((k, x)) => format!(
                "{}：{}",
                l.t(&format!("blocker.{k}")),
                l.t(&format!("batch.status.{x}"))
            ),
            None => l.t(&format!("blocker.{b}")).to_string(),
        })
        .collect();
    let released_by = match &v.batch.released_by {
        Some(u) => user_name(&st, u).await,
        None => String::new(),
    };
    render(&BatchPage {
        ctx: PageCtx::new(lang, Some(&auth), &uri, "batch.title"),
        process,
        maker: org_name(&st, l, &v.batch.org_id).await,
        status: l.t(&format!("batch.status.{}", v.batch.status)).to_string(),
        tests,
        blockers,
        can_release: auth.actor.can(Permission::TraceRelease)
            && auth.actor.org_id == v.batch.org_id,
        released_by,
        v,
    })
}

pub async fn batch_release(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    let signature = Some(SignInput {
        username: field(&f, "sign_username").into(),
        password: field(&f, "sign_password").into(),
        meaning: "approved".into(),
        record_hash: field(&f, "record_hash").into(),
    });
    after(
        lang,
        tr::release_batch(
            st.store.as_ref(),
            &auth.actor,
            &id,
            &tr::ReleaseInput { signature },
            &When::now(),
        )
        .await,
        |b| format!("/app/trace/batches/{}", b.id),
    )
}

#[derive(Template)]
#[template(path = "trace_genealogy.html")]
struct GenealogyPage {
    ctx: PageCtx,
    node: String,
    forward: bool,
    svg: String,
    nodes: Vec<(String, String)>,
    /// line, site, action, status, holder
    recall: Vec<(tr::RecallLine, String, String, String, String)>,
}

pub async fn genealogy_page(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Query(q): Query<GenealogyQuery>,
    uri: Uri,
) -> Response {
    let l = Labels(lang);
    let forward = q.direction.as_deref() == Some("forward");
    let dir = if forward {
        tr::Direction::Forward
    } else {
        tr::Direction::Backward
    };
    let g = match tr::visible_genealogy(st.store.as_ref(), &auth.actor, &q.node, dir).await {
        Ok(g) => g,
        Err(e) => return page_error(lang, e),
    };
    let labels = node_labels(&st, &g).await;
    let svg = g.svg(&|n| labels.get(n).cloned().unwrap_or_else(|| n.to_string()));
    let nodes = g
        .nodes
        .iter()
        .map(|n| {
            let kind = celltrail_core::trace::Graph::kind(n);
            (
                l.t(&format!("node.{kind}")).to_string(),
                labels.get(n).cloned().unwrap_or_else(|| n.clone()),
            )
        })
        .collect();
    let mut recall = Vec::new();
    if forward {
        for line in tr::recall(st.store.as_ref(), &auth.actor, &q.node)
            .await
            .unwrap_or_default()
        {
            let site = org_name(&st, l, &line.site_id).await;
            let action = l.t(&format!("recall.{}", line.action)).to_string();
            let status = status_label(l, &line.status);
            let holder = match &line.custodian {
                Some(c) => org_name(&st, l, c).await,
                None => l.t("trace.in_transit").to_string(),
            };
            recall.push((line, site, action, status, holder));
        }
    }
    render(&GenealogyPage {
        ctx: PageCtx::new(lang, Some(&auth), &uri, "genealogy.title"),
        node: q.node.clone(),
        forward,
        svg,
        nodes,
        recall,
    })
}

#[derive(Template)]
#[template(path = "trace_bedside.html")]
struct BedsidePage {
    ctx: PageCtx,
    unit: UnitLine,
    /// The check just made: matched, its id, the mismatch texts.
    result: Option<(bool, String, Vec<String>)>,
    administered: bool,
}

async fn bedside_render(
    st: &SharedState,
    lang: Lang,
    auth: &Auth,
    uri: &Uri,
    id: &str,
    result: Option<(bool, String, Vec<String>)>,
) -> Response {
    let l = Labels(lang);
    let u = match tr::visible_unit(st.store.as_ref(), &auth.actor, id).await {
        Ok(u) => u,
        Err(e) => return page_error(lang, e),
    };
    let administered = u.status == "administered";
    render(&BedsidePage {
        ctx: PageCtx::new(lang, Some(auth), uri, "bedside.title"),
        unit: unit_line(st, l, &u).await,
        result,
        administered,
    })
}

pub async fn bedside_page(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    bedside_render(&st, lang, &auth, &uri, &id, None).await
}

pub async fn bedside_submit(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    uri: Uri,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    let l = Labels(lang);
    let input = tr::BedsideInput {
        scans: Scans {
            wristband: field(&f, "wristband").into(),
            coi: field(&f, "coi").into(),
            bag: field(&f, "bag").into(),
        },
        second: tr::SecondPerson {
            username: field(&f, "second_username").into(),
            password: field(&f, "second_password").into(),
        },
    };
    match tr::bedside_check(st.store.as_ref(), &auth.actor, &id, &input, &When::now()).await {
        Ok(o) => {
            let texts = o
                .mismatches
                .iter()
                .map(|m| {
                    format!(
                        "{}: {}",
                        l.t(&format!("scan.{}", m.field)),
                        l.t(&format!("scan.{}", m.code))
                    )
                })
                .collect();
            bedside_render(
                &st,
                lang,
                &auth,
                &uri,
                &id,
                Some((o.matched, o.check_id, texts)),
            )
            .await
        }
        Err(e) => {
            let text = finding_text(
                lang,
                e.code,
                &e.args
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.clone()))
                    .collect::<Vec<_>>(),
            );
            bedside_render(
                &st,
                lang,
                &auth,
                &uri,
                &id,
                Some((false, String::new(), vec![text])),
            )
            .await
        }
    }
}

pub async fn administer_submit(
    State(st): State<SharedState>,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    if let Err(err) = auth.check_csrf(field(&f, "csrf")) {
        return page_error(lang, err);
    }
    let input = tr::AdministerInput {
        check_id: field(&f, "check_id").into(),
        note: field(&f, "note").into(),
    };
    after(
        lang,
        tr::administer(st.store.as_ref(), &auth.actor, &id, &input, &When::now()).await,
        |u| format!("/app/trace/units/{}/bedside", u.id),
    )
}
