//! The chain of identity and custody over HTTP: the JSON API under
//! `/api/v1/trace` (people, collection, shipments and logger files,
//! manufacture, tests and release, bedside and administration, halts,
//! chain views, genealogy, recall, FHIR) and unit labels. The pages are in
//! [`crate::trace_pages`].

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use celltrail_core::isbt::Din;
use celltrail_core::Lang;
use celltrail_store::error::StoreError;
use celltrail_store::service::{Actor, When};
use celltrail_store::trace as tr;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{fail, parse_body, ApiResult};
use crate::error::ApiError;
use crate::i18n::L;
use crate::session::Auth;
use crate::SharedState;

type St = State<SharedState>;

fn store(st: &SharedState) -> &dyn celltrail_store::Store {
    st.store.as_ref()
}

/// A JSON body into a command's input (the `reason` member is not used by
/// commands that take their reason inside the input).
fn body<T: serde::de::DeserializeOwned>(lang: Lang, bytes: &[u8]) -> Result<T, ApiError> {
    parse_body::<T>(lang, bytes).map(|(t, _)| t)
}

/// A JSON command: the body parsed into the store's input, the store's
/// command run as the caller, its result as JSON (`id`: the path's record).
macro_rules! command {
    ($name:ident, $input:ty, $out:ty, $f:path) => {
        pub async fn $name(
            State(st): St,
            L(lang): L,
            Extension(auth): Extension<Auth>,
            b: Bytes,
        ) -> ApiResult<$out> {
            let input: $input = body(lang, &b)?;
            $f(store(&st), &auth.actor, &input, &When::now())
                .await
                .map(Json)
                .map_err(fail(lang))
        }
    };
    ($name:ident, $input:ty, $out:ty, $f:path, id) => {
        pub async fn $name(
            State(st): St,
            L(lang): L,
            Extension(auth): Extension<Auth>,
            Path(id): Path<String>,
            b: Bytes,
        ) -> ApiResult<$out> {
            let input: $input = body(lang, &b)?;
            $f(store(&st), &auth.actor, &id, &input, &When::now())
                .await
                .map(Json)
                .map_err(fail(lang))
        }
    };
}

command!(
    register_person,
    tr::PersonInput,
    tr::PersonRow,
    tr::register_person
);
command!(collect, tr::CollectInput, tr::UnitRow, tr::collect);
command!(dispatch, tr::DispatchInput, tr::ShipmentRow, tr::dispatch);
command!(
    register_equipment,
    tr::EquipmentInput,
    tr::EquipmentRow,
    tr::register_equipment
);
command!(register_lot, tr::LotInput, tr::LotRow, tr::register_lot);
command!(register_bank, tr::BankInput, tr::BankRow, tr::register_bank);
command!(start_batch, tr::BatchInput, tr::BatchRow, tr::start_batch);
command!(receive, tr::ReceiveInput, tr::ShipmentRow, tr::receive, id);
command!(
    record_step,
    tr::StepInput,
    Vec<tr::StepRow>,
    tr::record_step,
    id
);
command!(
    record_test,
    tr::TestInput,
    tr::TestOutcome,
    tr::record_test,
    id
);
command!(
    close_deviation,
    tr::CloseDeviationInput,
    tr::BatchRow,
    tr::close_deviation,
    id
);
command!(
    make_units,
    tr::MakeUnitsInput,
    Vec<tr::UnitRow>,
    tr::make_units,
    id
);
command!(
    release_batch,
    tr::ReleaseInput,
    tr::BatchRow,
    tr::release_batch,
    id
);
command!(
    bedside,
    tr::BedsideInput,
    tr::BedsideOutcome,
    tr::bedside_check,
    id
);
command!(
    administer,
    tr::AdministerInput,
    tr::UnitRow,
    tr::administer,
    id
);

pub async fn person_identity(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<Value> {
    tr::person_identity(store(&st), &auth.actor, &id)
        .await
        .map(Json)
        .map_err(fail(lang))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogBody {
    csv: String,
}

pub async fn import_log(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult<tr::LogOutcome> {
    let input: LogBody = body(lang, &b)?;
    tr::import_log(store(&st), &auth.actor, &id, &input.csv, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn assess_unit(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult<tr::UnitRow> {
    let (input, reason): (Assess, String) = parse_body(lang, &b)?;
    tr::assess_unit(
        store(&st),
        &auth.actor,
        &id,
        &tr::AssessInput {
            usable: input.usable,
            reason,
        },
        &When::now(),
    )
    .await
    .map(Json)
    .map_err(fail(lang))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assess {
    usable: bool,
}

pub async fn define_process(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    b: Bytes,
) -> ApiResult<tr::ProcessRow> {
    let (mut input, reason): (tr::ProcessInput, String) = parse_body(lang, &b)?;
    input.reason = Some(reason).filter(|r| !r.is_empty());
    tr::define_process(store(&st), &auth.actor, &input, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

/// A batch with its steps, tests, deviations, units, what blocks release,
/// and the record hash a release signature must quote.
#[derive(Serialize)]
pub struct BatchView {
    pub batch: tr::BatchRow,
    pub steps: Vec<tr::StepRow>,
    pub tests: Vec<tr::TestRow>,
    pub deviations: Vec<tr::DeviationRow>,
    pub units: Vec<tr::UnitRow>,
    pub release_blockers: Vec<String>,
    pub record_hash: String,
}

pub async fn batch_view(
    st: &SharedState,
    actor: &Actor,
    id: &str,
) -> Result<BatchView, StoreError> {
    let s = store(st);
    actor.require(celltrail_core::access::Permission::TraceRead)?;
    let b = tr::batch(s, id)
        .await?
        .ok_or_else(|| StoreError::not_found("batch_not_found", id.to_string()))?;
    // The centre making it, the site it is for, or a regulator over either.
    let units = tr::batch_units(s, &b.id).await?;
    let visible = actor.is_platform()
        || actor.org_id == b.org_id
        || b.site_id.as_deref() == Some(actor.org_id.as_str())
        || match units.first() {
            Some(u) => tr::visible_unit(s, actor, &u.id).await.is_ok(),
            None => {
                actor.org_type == celltrail_core::access::OrgType::Regulator
                    && actor.province_code == "00"
            }
        };
    if !visible {
        return Err(StoreError::not_found("batch_not_found", id.to_string()));
    }
    let record_hash = s
        .stream_head(&tr::batch_stream(&b.id))
        .await?
        .map(|(_, h)| h)
        .unwrap_or_default();
    Ok(BatchView {
        steps: tr::steps(s, &b.id).await?,
        tests: tr::tests(s, &b.id).await?,
        deviations: tr::deviations(s, &b.id).await?,
        release_blockers: tr::release_blockers(s, &b).await?,
        units,
        batch: b,
        record_hash,
    })
}

pub async fn get_batch(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<BatchView> {
    batch_view(&st, &auth.actor, &id)
        .await
        .map(Json)
        .map_err(fail(lang))
}

/// A unit with its chain-of-identity id and record hash.
pub async fn get_unit(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
) -> ApiResult<tr::UnitRow> {
    tr::visible_unit(store(&st), &auth.actor, &id)
        .await
        .map(Json)
        .map_err(fail(lang))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreBody {
    location: String,
}

pub async fn store_unit(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult<tr::UnitRow> {
    let input: StoreBody = body(lang, &b)?;
    tr::store_unit(store(&st), &auth.actor, &id, &input.location, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisposeBody {
    #[serde(default)]
    returned: bool,
    reason_code: String,
}

pub async fn dispose(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    b: Bytes,
) -> ApiResult<tr::UnitRow> {
    let (input, reason): (DisposeBody, String) = parse_body(lang, &b)?;
    tr::dispose(
        store(&st),
        &auth.actor,
        &id,
        input.returned,
        &tr::DisposeInput {
            reason_code: input.reason_code,
            reason,
        },
        &When::now(),
    )
    .await
    .map(Json)
    .map_err(fail(lang))
}

#[derive(Deserialize)]
pub struct LabelQuery {
    #[serde(default)]
    format: Option<String>,
}

/// What a unit's label prints: the DIN with both barcodes, the product in
/// both languages, the chain-of-identity id, expiry, storage, and the
/// patient's pseudonym for autologous product.
pub async fn unit_label(
    st: &SharedState,
    actor: &Actor,
    id: &str,
) -> Result<celltrail_core::label::LabelInput, StoreError> {
    let s = store(st);
    let u = tr::visible_unit(s, actor, id).await?;
    let din = Din::parse(&u.din).map_err(|e| StoreError::internal(e.code, u.din.clone()))?;
    let (zh, en) = match &u.batch_id {
        Some(b) => match tr::batch(s, b).await? {
            Some(b) => match tr::process(s, &b.process_id).await? {
                Some(p) => (p.name.clone(), p.name),
                None => (String::new(), String::new()),
            },
            None => (String::new(), String::new()),
        },
        None => (
            "单采原料".to_string(),
            "Apheresis starting material".to_string(),
        ),
    };
    let mut notes = vec![format!("COI {}", u.coi)];
    if let Some(e) = &u.expires_on {
        notes.push(format!("有效期 EXP {e}"));
    }
    let r = u.range();
    notes.push(match (r.min, r.max) {
        (None, Some(max)) => format!("≤ {max} °C"),
        (Some(min), Some(max)) => format!("{min}–{max} °C"),
        (Some(min), None) => format!("≥ {min} °C"),
        _ => String::new(),
    });
    if let Some(p) = &u.patient_id {
        notes.push(format!("仅限 For {p}"));
    }
    Ok(celltrail_core::label::LabelInput {
        din,
        product_code: u.product_code.clone(),
        product_zh: zh,
        product_en: en,
        notes,
    })
}

pub async fn label(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(id): Path<String>,
    Query(q): Query<LabelQuery>,
) -> Result<Response, ApiError> {
    let input = unit_label(&st, &auth.actor, &id)
        .await
        .map_err(fail(lang))?;
    let barcode_err = |e: celltrail_core::code128::BarcodeError| {
        ApiError::new(lang, StoreError::invalid(e.code(), "label", e.code()))
    };
    match q.format.as_deref().unwrap_or("pdf") {
        "svg" => Ok((
            [(header::CONTENT_TYPE, "image/svg+xml")],
            celltrail_core::label::svg(&input).map_err(barcode_err)?,
        )
            .into_response()),
        "pdf" => Ok((
            [(header::CONTENT_TYPE, "application/pdf")],
            celltrail_core::label::pdf(&input).map_err(barcode_err)?,
        )
            .into_response()),
        other => Err(ApiError::new(
            lang,
            StoreError::invalid("format_invalid", "format", other),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaltBody {
    kind: String,
    target_id: String,
    #[serde(default)]
    signature: Option<celltrail_store::service::SignInput>,
    /// Lift the halt (放行) instead of imposing it.
    #[serde(default)]
    lift: bool,
}

pub async fn set_halt(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    b: Bytes,
) -> ApiResult<tr::HaltRow> {
    let (h, reason): (HaltBody, String) = parse_body(lang, &b)?;
    let input = tr::HaltInput {
        kind: h.kind,
        target_id: h.target_id,
        reason,
        signature: h.signature,
    };
    tr::set_halt(store(&st), &auth.actor, &input, !h.lift, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn list_halts(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
) -> ApiResult<Vec<tr::HaltRow>> {
    tr::halts(store(&st), &auth.actor)
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn alerts(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
) -> ApiResult<Vec<tr::UnitGap>> {
    tr::custody_alerts(store(&st), &auth.actor, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn get_chain(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(coi): Path<String>,
) -> ApiResult<tr::ChainView> {
    tr::chain(store(&st), &auth.actor, &coi, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

pub async fn chain_fhir(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Path(coi): Path<String>,
) -> Result<Response, ApiError> {
    let v = tr::export_fhir(store(&st), &auth.actor, &coi, &When::now())
        .await
        .map_err(fail(lang))?;
    Ok((
        [(header::CONTENT_TYPE, "application/fhir+json")],
        serde_json::to_string(&v).unwrap_or_default(),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct GenealogyQuery {
    #[serde(default)]
    pub node: String,
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
}

/// A node's label for drawings: units by DIN, people by pseudonym, users by
/// name, the rest by id.
pub async fn node_labels(
    st: &SharedState,
    g: &celltrail_core::trace::Graph,
) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for n in &g.nodes {
        let (kind, id) = n.split_once(':').unwrap_or(("", n));
        let label = match kind {
            "user" => match st.store.user(id).await {
                Ok(Some(u)) => u.display_name,
                _ => n.clone(),
            },
            "unit" | "batch" | "lot" | "bank" | "equipment" => id.to_string(),
            _ => n.clone(),
        };
        out.insert(n.clone(), label);
    }
    out
}

pub async fn genealogy(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Query(q): Query<GenealogyQuery>,
) -> Result<Response, ApiError> {
    let dir: tr::Direction = q
        .direction
        .as_deref()
        .unwrap_or("backward")
        .parse()
        .map_err(fail(lang))?;
    let g = tr::visible_genealogy(store(&st), &auth.actor, &q.node, dir)
        .await
        .map_err(fail(lang))?;
    match q.format.as_deref().unwrap_or("json") {
        "svg" => {
            let labels = node_labels(&st, &g).await;
            let svg = g.svg(&|n| labels.get(n).cloned().unwrap_or_else(|| n.to_string()));
            Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
        }
        "json" => Ok(Json(g).into_response()),
        other => Err(ApiError::new(
            lang,
            StoreError::invalid("format_invalid", "format", other),
        )),
    }
}

pub async fn recall(
    State(st): St,
    L(lang): L,
    Extension(auth): Extension<Auth>,
    Query(q): Query<GenealogyQuery>,
) -> ApiResult<Vec<tr::RecallLine>> {
    tr::recall(store(&st), &auth.actor, &q.node)
        .await
        .map(Json)
        .map_err(fail(lang))
}
