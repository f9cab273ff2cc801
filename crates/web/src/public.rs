//! The public face, with no login: a patient or family checks a provider's
//! qualifications and a project's filing before treatment (NHC notice of
//! 2025-12: treatment only in medical institutions, check the approval first).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use celltrail_store::error::StoreError;
use celltrail_store::service::When;
use celltrail_store::{OrgFilter, Organisation, Project, PublicProjectRow};
use serde::{Deserialize, Serialize};

use crate::api::{fail, parse_query, qualification_views, ApiResult, QualificationView};
use crate::i18n::L;
use crate::pages::{render, PageCtx};
use crate::session::{error_page, Auth};
use crate::SharedState;

/// Organisation types the public search lists: places that treat or make.
pub const PUBLIC_TYPES: &[&str] = &["medical_institution", "preparation_centre"];

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub number: Option<String>,
    #[serde(default)]
    pub province_code: Option<String>,
}

#[derive(Serialize, Clone)]
pub struct PublicOrg {
    pub id: String,
    pub org_type: String,
    pub name_zh: String,
    pub name_en: String,
    pub uscc: Option<String>,
    pub province_code: String,
    pub city_zh: String,
    pub city_en: String,
    pub grade: Option<String>,
}

impl From<Organisation> for PublicOrg {
    fn from(o: Organisation) -> Self {
        PublicOrg {
            id: o.id,
            org_type: o.org_type,
            name_zh: o.name_zh,
            name_en: o.name_en,
            uscc: o.uscc,
            province_code: o.province_code,
            city_zh: o.city_zh,
            city_en: o.city_en,
            grade: o.grade,
        }
    }
}

#[derive(Serialize, Clone)]
pub struct PublicProject {
    pub filing_number: String,
    pub kind: String,
    pub title_zh: String,
    pub title_en: String,
    pub category: String,
    pub state: String,
    pub filed_at: Option<String>,
    pub institution_id: String,
}

/// The calendar date of a ledger time in China Standard Time (UTC+8), the
/// date people in China know the filing by.
fn cst_date(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => (t.with_timezone(&chrono::Utc) + chrono::Duration::hours(8))
            .format("%Y-%m-%d")
            .to_string(),
        Err(_) => rfc3339.chars().take(10).collect(),
    }
}

impl PublicProject {
    /// The public view of a project row; None while it has no filing number.
    fn from_row(p: PublicProjectRow, institution_id: &str) -> Option<Self> {
        Some(PublicProject {
            filing_number: p.filing_number?,
            kind: p.kind,
            title_zh: p.title_zh,
            title_en: p.title_en,
            category: p.category,
            state: p.state,
            filed_at: p.filed_at.map(|f| cst_date(&f)),
            institution_id: institution_id.to_string(),
        })
    }

    fn from(p: Project) -> Option<Self> {
        let row = PublicProjectRow {
            filing_number: p.filing_number,
            kind: p.kind,
            title_zh: p.title_zh,
            title_en: p.title_en,
            category: p.category,
            state: p.state,
            filed_at: p.filed_at,
        };
        Self::from_row(row, &p.org_id)
    }
}

pub async fn search(
    st: &SharedState,
    q: &str,
    province: Option<String>,
) -> Result<Vec<PublicOrg>, StoreError> {
    let q = q.trim();
    if q.is_empty() {
        return Ok(Vec::new());
    }
    if q.chars().count() > 100 {
        return Err(StoreError::invalid("field_too_long", "q", "too long").with_arg("max", "100"));
    }
    let province = province.filter(|p| !p.is_empty());
    let orgs = if celltrail_store::looks_like_uscc(q) {
        // A Unified Social Credit Code: the database's exact-match index.
        let filter = OrgFilter {
            q: Some(q.to_string()),
            province_code: province,
            limit: Some(50),
            ..Default::default()
        };
        st.store
            .organisations(&filter)
            .await?
            .into_iter()
            .filter(|o| o.active && PUBLIC_TYPES.contains(&o.org_type.as_str()))
            .collect()
    } else {
        st.directory
            .search(&st.store, PUBLIC_TYPES, q, province.as_deref(), 50)
            .await?
    };
    Ok(orgs.into_iter().map(PublicOrg::from).collect())
}

#[derive(Serialize)]
pub struct PublicOrgDetail {
    #[serde(flatten)]
    pub org: PublicOrg,
    pub qualifications: Vec<QualificationView>,
    pub projects: Vec<PublicProject>,
}

pub async fn org_detail(st: &SharedState, id: &str) -> Result<PublicOrgDetail, StoreError> {
    let not_found = || StoreError::not_found("org_not_found", id.to_string());
    let inst = st
        .store
        .public_institution(id)
        .await?
        .filter(|i| PUBLIC_TYPES.contains(&i.organisation.org_type.as_str()))
        .ok_or_else(not_found)?;
    Ok(PublicOrgDetail {
        org: inst.organisation.into(),
        qualifications: qualification_views(inst.qualifications, &When::now().today.to_string()),
        projects: inst
            .projects
            .into_iter()
            .filter_map(|p| PublicProject::from_row(p, id))
            .collect(),
    })
}

#[derive(Serialize)]
pub struct PublicProjectDetail {
    #[serde(flatten)]
    pub project: PublicProject,
    pub institution: PublicOrg,
    /// The regulator's electronic signatures on the filing (21 CFR 11.50:
    /// printed name, time and meaning are shown with the record).
    pub signatures: Vec<PublicSignature>,
}

#[derive(Serialize)]
pub struct PublicSignature {
    pub action: String,
    pub meaning: String,
    pub printed_name: String,
    pub signed_at: String,
}

pub async fn project_detail(
    st: &SharedState,
    number: &str,
) -> Result<PublicProjectDetail, StoreError> {
    let not_found =
        || StoreError::not_found("filing_not_found", number.to_string()).with_field("number");
    if number.len() > 64 {
        return Err(not_found());
    }
    let filing = st
        .store
        .public_filing(number)
        .await?
        .ok_or_else(not_found)?;
    let (p, org) = (filing.project, filing.organisation);
    let signatures = filing
        .signatures
        .into_iter()
        .map(|s| PublicSignature {
            action: s.action,
            meaning: s.meaning,
            printed_name: s.printed_name,
            signed_at: s.signed_at,
        })
        .collect();
    let project = PublicProject::from(p).ok_or_else(not_found)?;
    if !matches!(
        project.state.as_str(),
        "filed" | "suspended" | "terminated" | "completed"
    ) {
        return Err(not_found());
    }
    Ok(PublicProjectDetail {
        project,
        institution: org.into(),
        signatures,
    })
}

// ---- JSON

pub async fn api_search(
    State(st): State<SharedState>,
    L(lang): L,
    uri: Uri,
) -> ApiResult<Vec<PublicOrg>> {
    let q: SearchQuery = parse_query(lang, &uri)?;
    Ok(Json(
        search(&st, q.q.as_deref().unwrap_or(""), q.province_code)
            .await
            .map_err(fail(lang))?,
    ))
}

pub async fn api_org(
    State(st): State<SharedState>,
    L(lang): L,
    Path(id): Path<String>,
) -> ApiResult<PublicOrgDetail> {
    Ok(Json(org_detail(&st, &id).await.map_err(fail(lang))?))
}

pub async fn api_project(
    State(st): State<SharedState>,
    L(lang): L,
    Path(number): Path<String>,
) -> ApiResult<PublicProjectDetail> {
    Ok(Json(
        project_detail(&st, &number).await.map_err(fail(lang))?,
    ))
}

// ---- pages

#[derive(Template)]
#[template(path = "public_search.html")]
struct SearchPage {
    ctx: PageCtx,
    q: String,
    number: String,
    searched: bool,
    orgs: Vec<PublicOrg>,
    error: Option<String>,
}

pub async fn search_page(
    State(st): State<SharedState>,
    L(lang): L,
    auth: Option<axum::Extension<Auth>>,
    uri: Uri,
) -> Response {
    let ctx = PageCtx::new(lang, auth.as_ref().map(|a| &a.0), &uri, "public.title");
    let query: SearchQuery = match parse_query(lang, &uri) {
        Ok(q) => q,
        Err(e) => return error_page(lang, e.status, &e.err),
    };
    let number = query.number.clone().unwrap_or_default();
    if !number.trim().is_empty() {
        let target = format!("/public/project/{}", urlencoding::encode(number.trim()));
        return axum::response::Redirect::to(&target).into_response();
    }
    let q = query.q.clone().unwrap_or_default();
    let (orgs, error) = match search(&st, &q, query.province_code.clone()).await {
        Ok(o) => (o, None),
        Err(e) => (Vec::new(), Some(crate::error::message(lang, &e))),
    };
    render(&SearchPage {
        ctx,
        searched: !q.trim().is_empty(),
        q,
        number,
        orgs,
        error,
    })
}

#[derive(Template)]
#[template(path = "public_org.html")]
struct OrgPage {
    ctx: PageCtx,
    d: PublicOrgDetail,
}

pub async fn org_page(
    State(st): State<SharedState>,
    L(lang): L,
    auth: Option<axum::Extension<Auth>>,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    match org_detail(&st, &id).await {
        Ok(d) => render(&OrgPage {
            ctx: PageCtx::new(lang, auth.as_ref().map(|a| &a.0), &uri, "public.org_title"),
            d,
        }),
        Err(e) => error_page(lang, crate::error::status_of(e.kind, e.code), &e),
    }
}

#[derive(Template)]
#[template(path = "public_project.html")]
struct ProjectPage {
    ctx: PageCtx,
    d: PublicProjectDetail,
}

pub async fn project_page(
    State(st): State<SharedState>,
    L(lang): L,
    auth: Option<axum::Extension<Auth>>,
    uri: Uri,
    Path(number): Path<String>,
) -> Response {
    match project_detail(&st, &number).await {
        Ok(d) => render(&ProjectPage {
            ctx: PageCtx::new(
                lang,
                auth.as_ref().map(|a| &a.0),
                &uri,
                "public.project_title",
            ),
            d,
        }),
        Err(e) => error_page(lang, StatusCode::NOT_FOUND, &e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn filing_dates_are_china_standard_time() {
        // 2026-05-01 16:30 UTC is already 2 May in Beijing (UTC+8).
        assert_eq!(super::cst_date("2026-05-01T16:30:00.000Z"), "2026-05-02");
        assert_eq!(super::cst_date("2026-05-01T15:59:59.999Z"), "2026-05-01");
        assert_eq!(super::cst_date("not a time at all"), "not a time");
    }
}
