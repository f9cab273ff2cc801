//! Classifying a therapy: `POST /api/v1/classify` and the public wizard at
//! `/classify`, both over the rule packs compiled once at start-up.

use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::Json;
use celltrail_core::rules::schema::{keys, Kind, CONCLUSIONS, FIELDS};
use celltrail_core::rules::Engine;
use celltrail_core::Lang;
use celltrail_store::error::StoreError;
use celltrail_store::service::{self, When};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;

use crate::api::{fail, parse_body, ApiResult};
use crate::i18n::{Labels, L};
use crate::pages::{render, PageCtx};
use crate::session::{error_page, Auth};
use crate::SharedState;

/// The body of `POST /api/v1/classify`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassifyRequest {
    profile: Value,
    #[serde(default)]
    as_of: Option<String>,
    #[serde(default)]
    region: Option<String>,
}

/// Classifies a profile (JSON) as of a day (today when absent), under a
/// region's pack where it has one. Errors name the field at fault.
fn classify(
    engine: &Engine,
    profile: &Value,
    as_of: Option<&str>,
    region: Option<&str>,
) -> Result<celltrail_core::rules::Report, StoreError> {
    let profile = service::profile_of(profile)?;
    let day = match as_of.filter(|d| !d.is_empty()) {
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| StoreError::invalid("date_invalid", "as_of", d.to_string()))?,
        None => When::now().today,
    };
    let region = service::known_region(engine, region)?;
    Ok(engine.evaluate(&profile, day, region))
}

pub async fn api_classify(
    State(st): State<SharedState>,
    L(lang): L,
    body: Bytes,
) -> Result<Response, crate::error::ApiError> {
    let (req, _): (ClassifyRequest, String) = parse_body(lang, &body)?;
    let report = classify(
        &st.rules,
        &req.profile,
        req.as_of.as_deref(),
        req.region.as_deref(),
    )
    .map_err(fail(lang))?;
    // Written straight from the packs' texts, with no intermediate tree.
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        st.rules.report_bytes(&report),
    )
        .into_response())
}

// ---- the wizard

/// One question of the form.
pub struct Question {
    pub name: &'static str,
    pub label: &'static str,
    /// (value, label, selected)
    pub options: Vec<(&'static str, &'static str, bool)>,
    pub answered: bool,
}

/// One basis line of a conclusion.
pub struct BasisView {
    pub rule: String,
    pub instrument: String,
    pub article: String,
    pub effective_from: String,
    pub explain: String,
}

pub struct ConclusionView {
    pub id: String,
    pub label: &'static str,
    /// The value as shown, empty when undecided.
    pub value: String,
    pub needs: Vec<&'static str>,
    pub basis: Vec<BasisView>,
}

pub struct JurisdictionView {
    pub code: &'static str,
    pub label: &'static str,
    pub conclusions: Vec<ConclusionView>,
}

pub struct UpcomingView {
    pub jurisdiction: &'static str,
    pub conclusion: &'static str,
    pub value: String,
    pub status: &'static str,
    pub basis: BasisView,
}

#[derive(Template)]
#[template(path = "classify.html")]
struct ClassifyPage {
    ctx: PageCtx,
    questions: Vec<Question>,
    as_of: String,
    results: Option<(String, Vec<JurisdictionView>, Vec<UpcomingView>)>,
    error: Option<String>,
    /// Signed in and classifying a project: where to save, and the answers
    /// to carry as hidden fields.
    save: Option<(String, Vec<(&'static str, String)>)>,
}

pub async fn page(
    State(st): State<SharedState>,
    L(lang): L,
    auth: Option<axum::Extension<Auth>>,
    uri: Uri,
) -> Response {
    let ctx = PageCtx::new(lang, auth.as_ref().map(|a| &a.0), &uri, "classify.title");
    let auth = auth.map(|a| a.0);
    let query: HashMap<String, String> = match uri.query() {
        None | Some("") => HashMap::new(),
        Some(_) => match axum::extract::Query::try_from_uri(&uri) {
            Ok(q) => q.0,
            Err(_) => {
                let e = StoreError::invalid("query_invalid", "query", "bad query string");
                return error_page(lang, axum::http::StatusCode::BAD_REQUEST, &e);
            }
        },
    };
    let l = Labels(lang);
    let profile = profile_from(&query);
    let questions = FIELDS
        .iter()
        .map(|f| {
            let current = query.get(f.name).map(String::as_str).unwrap_or("");
            let mut options = vec![("", l.t("rules.unanswered"), current.is_empty())];
            match f.kind {
                Kind::Enum(values) => {
                    for v in values {
                        options.push((*v, l.t(&keys::value(f.name, v)), current == *v));
                    }
                }
                _ => {
                    options.push(("true", l.t(keys::boolean(true)), current == "true"));
                    options.push(("false", l.t(keys::boolean(false)), current == "false"));
                }
            }
            Question {
                name: f.name,
                label: l.t(&keys::field(f.name)),
                answered: !current.is_empty(),
                options,
            }
        })
        .collect();
    let as_of = query.get("as_of").cloned().unwrap_or_default();
    let asked = !query.is_empty();
    let (results, error) = if asked {
        match classify(
            &st.rules,
            &profile,
            Some(as_of.as_str()),
            query.get("region").map(String::as_str),
        ) {
            Ok(report) => (
                Some(views(&st.rules, lang, &st.rules.report_json(&report))),
                None,
            ),
            Err(e) => (None, Some(crate::error::message(lang, &e))),
        }
    } else {
        (None, None)
    };
    let save = match (query.get("project"), &auth) {
        (Some(project), Some(_)) if results.is_some() => Some((
            project.clone(),
            FIELDS
                .iter()
                .filter_map(|f| {
                    let v = query.get(f.name).filter(|v| !v.is_empty())?;
                    Some((f.name, v.clone()))
                })
                .collect(),
        )),
        _ => None,
    };
    render(&ClassifyPage {
        ctx,
        questions,
        as_of: if as_of.is_empty() {
            When::now().today.to_string()
        } else {
            as_of
        },
        results,
        error,
        save,
    })
}

/// The profile the answered questions of a form or query give; bools come
/// as "true"/"false", other names are not profile fields and are ignored.
fn profile_from(answers: &HashMap<String, String>) -> Value {
    let mut profile = serde_json::Map::new();
    for f in FIELDS {
        if let Some(v) = answers.get(f.name).filter(|v| !v.is_empty()) {
            let value = match (f.kind, v.as_str()) {
                (Kind::Bool, "true") => Value::Bool(true),
                (Kind::Bool, "false") => Value::Bool(false),
                _ => Value::String(v.clone()),
            };
            profile.insert(f.name.to_string(), value);
        }
    }
    Value::Object(profile)
}

/// A report as the page shows it, in jurisdiction and evaluation order.
fn views(
    engine: &Engine,
    lang: Lang,
    report: &Value,
) -> (String, Vec<JurisdictionView>, Vec<UpcomingView>) {
    let l = Labels(lang);
    let basis = |b: &Value| BasisView {
        rule: b["rule"].as_str().unwrap_or("").to_string(),
        instrument: b["instrument"]
            .as_str()
            .and_then(|id| engine.instruments.get(id))
            .map(|t| l.pick(&t.zh, &t.en).to_string())
            .unwrap_or_default(),
        article: b["article"].as_str().unwrap_or("").to_string(),
        effective_from: b["effective_from"].as_str().unwrap_or("").to_string(),
        explain: b["explain"][if lang == Lang::Zh { "zh" } else { "en" }]
            .as_str()
            .unwrap_or("")
            .to_string(),
    };
    let shown = |j: &str, name: &str, v: &Value| value_label(lang, j, name, v);
    let mut jurisdictions = Vec::new();
    for j in celltrail_core::rules::schema::JURISDICTIONS {
        let Some(conclusions) = report["results"][*j].as_object() else {
            continue;
        };
        let mut cs = Vec::new();
        for k in CONCLUSIONS.iter().filter(|k| k.jurisdiction == *j) {
            let Some(c) = conclusions.get(k.name) else {
                continue;
            };
            cs.push(ConclusionView {
                id: format!("{}-{}", j.to_lowercase(), k.name),
                label: l.t(&keys::conclusion(j, k.name)),
                value: shown(j, k.name, &c["value"]),
                needs: c["needs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|f| l.t(&keys::field(f)))
                    .collect(),
                basis: c["basis"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(basis)
                    .collect(),
            });
        }
        jurisdictions.push(JurisdictionView {
            code: j,
            label: l.t(&keys::jurisdiction(j)),
            conclusions: cs,
        });
    }
    let upcoming = report["upcoming"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            let j = u["jurisdiction"].as_str().unwrap_or("");
            let name = u["conclusion"].as_str().unwrap_or("");
            UpcomingView {
                jurisdiction: l.t(&keys::jurisdiction(j)),
                conclusion: l.t(&keys::conclusion(j, name)),
                value: shown(j, name, &u["value"]),
                status: if u["status"] == "draft" {
                    l.t("classify.status.draft")
                } else {
                    l.t("classify.status.in_force")
                },
                basis: basis(&u["basis"][0]),
            }
        })
        .collect();
    (
        report["as_of"].as_str().unwrap_or("").to_string(),
        jurisdictions,
        upcoming,
    )
}

/// A conclusion's value as shown in `lang` (empty when undecided).
pub fn value_label(lang: Lang, j: &str, name: &str, v: &Value) -> String {
    let l = Labels(lang);
    let Some(k) = CONCLUSIONS
        .iter()
        .find(|k| k.jurisdiction == j && k.name == name)
    else {
        return v.to_string();
    };
    match (k.kind, v) {
        (_, Value::Null) => String::new(),
        (Kind::Bool, Value::Bool(b)) => l.t(keys::boolean(*b)).to_string(),
        (Kind::Enum(_), Value::String(s)) => l.t(&keys::conclusion_value(s, false)).to_string(),
        (Kind::Codes(_), Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|c| l.t(&keys::conclusion_value(c, true)))
            .collect::<Vec<_>>()
            .join(lang_separator(lang)),
        _ => v.to_string(),
    }
}

fn lang_separator(lang: Lang) -> &'static str {
    if lang == Lang::Zh {
        "、"
    } else {
        ", "
    }
}

// ---- classifications saved against a project

pub async fn api_save(
    State(st): State<SharedState>,
    L(lang): L,
    axum::Extension(auth): axum::Extension<Auth>,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: Bytes,
) -> Result<(axum::http::StatusCode, Json<service::Classification>), crate::error::ApiError> {
    let (mut input, reason): (service::ClassifyInput, String) = parse_body(lang, &body)?;
    input.reason = reason;
    let record = service::classify_project(
        st.store.as_ref(),
        &auth.actor,
        &st.rules,
        &id,
        &input,
        &When::now(),
    )
    .await
    .map_err(fail(lang))?;
    Ok((axum::http::StatusCode::CREATED, Json(record)))
}

pub async fn api_list(
    State(st): State<SharedState>,
    L(lang): L,
    axum::Extension(auth): axum::Extension<Auth>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ApiResult<Vec<service::SavedClassification>> {
    service::visible_project(st.store.as_ref(), &auth.actor, &id)
        .await
        .map_err(fail(lang))?;
    service::project_classifications(st.store.as_ref(), &st.rules, &id, &When::now())
        .await
        .map(Json)
        .map_err(fail(lang))
}

/// The wizard's "save to project" form.
pub async fn save_form(
    State(st): State<SharedState>,
    L(lang): L,
    axum::Extension(auth): axum::Extension<Auth>,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    if let Err(e) = auth.check_csrf(form.get("csrf").map(String::as_str).unwrap_or("")) {
        return crate::pages::page_error(lang, e);
    }
    let input = service::ClassifyInput {
        profile: profile_from(&form),
        region: form.get("region").cloned(),
        reason: form.get("reason").cloned().unwrap_or_default(),
    };
    match service::classify_project(
        st.store.as_ref(),
        &auth.actor,
        &st.rules,
        &id,
        &input,
        &When::now(),
    )
    .await
    {
        Ok(_) => axum::response::Redirect::to(&format!("/app/projects/{id}#classifications"))
            .into_response(),
        Err(e) => crate::pages::page_error(lang, e),
    }
}

/// A saved classification as the project page shows it: each conclusion
/// then and now.
pub struct SavedView {
    pub time: String,
    pub as_of: String,
    pub reason: String,
    /// (jurisdiction · conclusion, then, now, changed)
    pub rows: Vec<(String, String, String, bool)>,
}

pub async fn saved_views(
    st: &SharedState,
    lang: Lang,
    project_id: &str,
) -> Result<Vec<SavedView>, StoreError> {
    let l = Labels(lang);
    let saved =
        service::project_classifications(st.store.as_ref(), &st.rules, project_id, &When::now())
            .await?;
    Ok(saved
        .into_iter()
        .map(|s| SavedView {
            time: l.time(&s.time),
            as_of: s.then.as_of.clone(),
            reason: s.reason.clone(),
            rows: CONCLUSIONS
                .iter()
                .map(|k| {
                    let then = value_label(
                        lang,
                        k.jurisdiction,
                        k.name,
                        &s.then.results[k.jurisdiction][k.name]["value"],
                    );
                    let now = value_label(
                        lang,
                        k.jurisdiction,
                        k.name,
                        &s.now.results[k.jurisdiction][k.name]["value"],
                    );
                    let dash = |v: String| if v.is_empty() { "—".to_string() } else { v };
                    let (then, now) = (dash(then), dash(now));
                    let label = format!(
                        "{} · {}",
                        l.t(&keys::jurisdiction(k.jurisdiction)),
                        l.t(&keys::conclusion(k.jurisdiction, k.name))
                    );
                    let changed = s
                        .changed
                        .iter()
                        .any(|c| *c == format!("{}.{}", k.jurisdiction, k.name));
                    (label, then, now, changed)
                })
                .collect(),
        })
        .collect())
}
