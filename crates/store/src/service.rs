//! Commands on the registry: the one place where requests become ledger
//! events. Each command checks the actor's permission and organisation,
//! validates input into typed values, enforces the workflow's order of steps
//! (21 CFR 11.10(f)), verifies electronic signatures, and appends the events.
//! The web API, the UI, the CLI and the demo loader all go through here.

use std::str::FromStr;

use celltrail_core::access::{has_permission, role_allowed_in, OrgType, Permission, Role};
use celltrail_core::calendar::{CalendarError, WorkCalendar};
use celltrail_core::uscc::Uscc;
use celltrail_core::workflow::{self, Action, ProjectKind, ProjectState, SignatureMeaning};
use celltrail_ledger::{canonical::canonicalize, sha256_hex, NewEvent};
use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use crate::auth::{hash_password, verify_password};
use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::projection::*;
use crate::{new_id, Store};

/// GB/T 2260 province-level divisions: code, Chinese, English. `00` stands
/// for national bodies.
pub const PROVINCES: &[(&str, &str, &str)] = &[
    ("00", "全国", "National"),
    ("11", "北京市", "Beijing"),
    ("12", "天津市", "Tianjin"),
    ("13", "河北省", "Hebei"),
    ("14", "山西省", "Shanxi"),
    ("15", "内蒙古自治区", "Inner Mongolia"),
    ("21", "辽宁省", "Liaoning"),
    ("22", "吉林省", "Jilin"),
    ("23", "黑龙江省", "Heilongjiang"),
    ("31", "上海市", "Shanghai"),
    ("32", "江苏省", "Jiangsu"),
    ("33", "浙江省", "Zhejiang"),
    ("34", "安徽省", "Anhui"),
    ("35", "福建省", "Fujian"),
    ("36", "江西省", "Jiangxi"),
    ("37", "山东省", "Shandong"),
    ("41", "河南省", "Henan"),
    ("42", "湖北省", "Hubei"),
    ("43", "湖南省", "Hunan"),
    ("44", "广东省", "Guangdong"),
    ("45", "广西壮族自治区", "Guangxi"),
    ("46", "海南省", "Hainan"),
    ("50", "重庆市", "Chongqing"),
    ("51", "四川省", "Sichuan"),
    ("52", "贵州省", "Guizhou"),
    ("53", "云南省", "Yunnan"),
    ("54", "西藏自治区", "Tibet"),
    ("61", "陕西省", "Shaanxi"),
    ("62", "甘肃省", "Gansu"),
    ("63", "青海省", "Qinghai"),
    ("64", "宁夏回族自治区", "Ningxia"),
    ("65", "新疆维吾尔自治区", "Xinjiang"),
    ("71", "台湾省", "Taiwan"),
    ("81", "香港特别行政区", "Hong Kong"),
    ("82", "澳门特别行政区", "Macao"),
];

pub fn province(code: &str) -> Option<(&'static str, &'static str)> {
    PROVINCES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, zh, en)| (*zh, *en))
}

/// Hospital grades of the Chinese three-tier, three-class system (三级甲等 …).
pub const GRADES: &[&str] = &["3A", "3B", "3C", "2A", "2B", "2C", "1A", "1B", "1C"];

/// Qualification kinds an organisation can hold.
pub const QUALIFICATION_KINDS: &[&str] = &[
    "practice_licence",
    "gcp_site",
    "stem_cell_filing",
    "biosafety_lab",
    "drug_manufacturing_licence",
    "cnas_accreditation",
    "ethics_committee_filing",
];

/// Therapy categories of filed technologies and studies.
pub const CATEGORIES: &[&str] = &[
    "car_t",
    "tcr_t",
    "til",
    "nk",
    "msc",
    "ipsc_derived",
    "esc_derived",
    "hsc",
    "gene_therapy",
    "oncolytic_virus",
    "tissue_engineered",
    "other",
];

/// Who is acting: a signed-in user, an API token's owner, or the system.
#[derive(Clone, Debug, Serialize)]
pub struct Actor {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub org_id: String,
    pub org_type: OrgType,
    pub province_code: String,
    pub roles: Vec<Role>,
    /// An API token narrows what its owner may do to these permissions.
    pub scopes: Option<Vec<Permission>>,
}

pub const SYSTEM_ORG: &str = "org-platform";

impl Actor {
    /// The platform's own actor for bootstrap and migrations of data.
    pub fn system() -> Actor {
        Actor {
            user_id: "system".into(),
            username: "system".into(),
            display_name: "CellTrail system".into(),
            org_id: SYSTEM_ORG.into(),
            org_type: OrgType::Platform,
            province_code: "00".into(),
            roles: vec![Role::PlatformAdmin],
            scopes: None,
        }
    }

    pub fn can(&self, p: Permission) -> bool {
        has_permission(&self.roles, p) && self.scopes.as_ref().is_none_or(|s| s.contains(&p))
    }

    pub fn require(&self, p: Permission) -> StoreResult<()> {
        if self.can(p) {
            Ok(())
        } else {
            Err(StoreError::forbidden(
                "permission_denied",
                format!("missing permission {}", p.as_str()),
            )
            .with_arg("permission", p.as_str()))
        }
    }

    pub fn is_platform(&self) -> bool {
        self.org_type == OrgType::Platform
    }

    /// May this actor manage the given organisation's records?
    fn manages(&self, org_id: &str) -> bool {
        self.is_platform() || self.org_id == org_id
    }

    /// A regulator sees projects in its province; a national one sees all.
    pub fn has_jurisdiction(&self, province_code: &str) -> bool {
        self.is_platform()
            || (self.org_type == OrgType::Regulator
                && (self.province_code == "00" || self.province_code == province_code))
    }

    pub(crate) fn event(
        &self,
        stream: String,
        kind: &str,
        payload: impl Serialize,
        when: &When,
        reason: &str,
    ) -> StoreResult<NewEvent> {
        Ok(NewEvent {
            stream,
            kind: kind.to_string(),
            payload: serde_json::to_value(payload)?,
            actor: self.user_id.clone(),
            org: self.org_id.clone(),
            time: when.now.clone(),
            reason: reason.to_string(),
        })
    }
}

/// Builds the actor for a user from the read models.
pub async fn load_actor(store: &dyn Store, user_id: &str) -> StoreResult<Actor> {
    let user = store
        .user(user_id)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| {
            StoreError::unauthenticated("user_inactive", "user unknown or deactivated")
        })?;
    let org = store.organisation(&user.org_id).await?.ok_or_else(|| {
        StoreError::internal(
            "org_missing",
            format!("organisation {} missing", user.org_id),
        )
    })?;
    let org_type = OrgType::from_str(&org.org_type)
        .map_err(|_| StoreError::internal("org_type_unknown", org.org_type.clone()))?;
    Ok(Actor {
        user_id: user.id,
        username: user.username,
        display_name: user.display_name,
        org_id: org.id,
        org_type,
        province_code: org.province_code,
        roles: user
            .roles
            .iter()
            .filter_map(|r| Role::from_str(r).ok())
            .collect(),
        scopes: None,
    })
}

/// The moment a command happens: ledger time (UTC) and the calendar date in
/// China Standard Time that deadlines count from.
#[derive(Clone, Debug)]
pub struct When {
    pub now: String,
    pub today: NaiveDate,
}

impl When {
    pub fn now() -> When {
        let utc = chrono::Utc::now();
        When {
            now: utc.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            today: (utc + Duration::hours(8)).date_naive(),
        }
    }

    /// A fixed moment (the demo's backdated history, tests).
    pub fn at(date: NaiveDate, hour: u32, minute: u32) -> When {
        When {
            now: format!(
                "{}T{:02}:{:02}:00.000Z",
                date.format("%Y-%m-%d"),
                hour.min(23),
                minute.min(59)
            ),
            today: date,
        }
    }
}

pub(crate) fn required(field: &str, value: &str, max_chars: usize) -> StoreResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(StoreError::invalid("field_required", field, "required"));
    }
    if v.chars().count() > max_chars {
        return Err(StoreError::invalid("field_too_long", field, "too long")
            .with_arg("max", max_chars.to_string()));
    }
    Ok(v.to_string())
}

pub(crate) fn optional(
    field: &str,
    value: &Option<String>,
    max_chars: usize,
) -> StoreResult<Option<String>> {
    match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => required(field, v, max_chars).map(Some),
    }
}

pub(crate) fn iso_date(field: &str, value: &str) -> StoreResult<NaiveDate> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        StoreError::invalid(
            "date_invalid",
            field,
            format!("not a YYYY-MM-DD date: {value}"),
        )
    })
}

pub(crate) fn reason_text(reason: Option<&str>, default: &str) -> String {
    reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or(default)
        .to_string()
}

pub(crate) fn check_reason(reason: &str) -> StoreResult<String> {
    required("reason", reason, 2000)
}

// ---------------------------------------------------------------- orgs

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgInput {
    #[serde(default)]
    pub id: Option<String>,
    pub org_type: String,
    pub name_zh: String,
    pub name_en: String,
    #[serde(default)]
    pub uscc: Option<String>,
    pub province_code: String,
    #[serde(default)]
    pub city_zh: String,
    #[serde(default)]
    pub city_en: String,
    #[serde(default)]
    pub grade: Option<String>,
    #[serde(default)]
    pub address_zh: String,
    #[serde(default)]
    pub address_en: String,
}

fn org_profile(input: &OrgInput) -> StoreResult<(OrgType, OrgProfile)> {
    let org_type = OrgType::from_str(input.org_type.trim())
        .map_err(|_| StoreError::invalid("org_type_invalid", "org_type", input.org_type.clone()))?;
    let uscc = match optional("uscc", &input.uscc, 18)? {
        None => None,
        Some(code) => Some(
            Uscc::parse(&code)
                .map_err(|e| StoreError::invalid(e.code(), "uscc", e.to_string()))?
                .as_str()
                .to_string(),
        ),
    };
    let province_code = input.province_code.trim().to_string();
    if province(&province_code).is_none() {
        return Err(StoreError::invalid(
            "province_invalid",
            "province_code",
            province_code,
        ));
    }
    let grade = optional("grade", &input.grade, 4)?;
    if let Some(g) = &grade {
        if !GRADES.contains(&g.as_str()) {
            return Err(StoreError::invalid("grade_invalid", "grade", g.clone()));
        }
        if org_type != OrgType::MedicalInstitution {
            return Err(StoreError::invalid(
                "grade_not_applicable",
                "grade",
                g.clone(),
            ));
        }
    }
    Ok((
        org_type,
        OrgProfile {
            name_zh: required("name_zh", &input.name_zh, 200)?,
            name_en: required("name_en", &input.name_en, 300)?,
            uscc,
            province_code,
            city_zh: input.city_zh.trim().to_string(),
            city_en: input.city_en.trim().to_string(),
            grade,
            address_zh: input.address_zh.trim().to_string(),
            address_en: input.address_en.trim().to_string(),
        },
    ))
}

pub(crate) fn valid_id(field: &str, id: &str) -> StoreResult<String> {
    let ok = (3..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(id.to_string())
    } else {
        Err(StoreError::invalid("id_invalid", field, id.to_string()))
    }
}

/// Registers an organisation (platform administrators only).
pub async fn register_org(
    store: &dyn Store,
    actor: &Actor,
    input: &OrgInput,
    reason: &str,
    when: &When,
) -> StoreResult<Organisation> {
    actor.require(Permission::OrgManage)?;
    if !actor.is_platform() {
        return Err(StoreError::forbidden(
            "platform_admin_required",
            "only the platform registers organisations",
        ));
    }
    let reason = check_reason(reason)?;
    let (org_type, profile) = org_profile(input)?;
    let id = match &input.id {
        Some(id) => valid_id("id", id.trim())?,
        None => new_id("org"),
    };
    if store.organisation(&id).await?.is_some() {
        return Err(StoreError::conflict("org_exists", id).with_field("id"));
    }
    if let Some(code) = &profile.uscc {
        let dup = store
            .organisations(&OrgFilter {
                q: Some(code.clone()),
                ..Default::default()
            })
            .await?;
        if dup.iter().any(|o| o.uscc.as_deref() == Some(code)) {
            return Err(StoreError::conflict("uscc_taken", code.clone()).with_field("uscc"));
        }
    }
    let payload = OrgRegistered {
        id: id.clone(),
        org_type: org_type.as_str().to_string(),
        profile,
    };
    store
        .append(vec![actor.event(
            org_stream(&id),
            ORG_REGISTERED,
            payload,
            when,
            &reason,
        )?])
        .await?;
    store.ensure_org_key(&id).await?;
    store
        .organisation(&id)
        .await?
        .ok_or_else(|| StoreError::internal("projection_missing", id))
}

/// Replaces an organisation's profile (platform, or the organisation's own admin).
pub async fn update_org(
    store: &dyn Store,
    actor: &Actor,
    org_id: &str,
    input: &OrgInput,
    reason: &str,
    when: &When,
) -> StoreResult<Organisation> {
    let existing = managed_org(store, actor, org_id).await?;
    let reason = check_reason(reason)?;
    let (org_type, profile) = org_profile(input)?;
    if org_type.as_str() != existing.org_type {
        return Err(StoreError::invalid(
            "org_type_immutable",
            "org_type",
            input.org_type.clone(),
        ));
    }
    let payload = OrgUpdated {
        id: org_id.to_string(),
        profile,
    };
    store
        .append(vec![actor.event(
            org_stream(org_id),
            ORG_UPDATED,
            payload,
            when,
            &reason,
        )?])
        .await?;
    visible_org(store, actor, org_id).await
}

/// An organisation whose record the actor may change: organisation-manage
/// permission, and the platform or the organisation's own administrator.
async fn managed_org(store: &dyn Store, actor: &Actor, org_id: &str) -> StoreResult<Organisation> {
    actor.require(Permission::OrgManage)?;
    let org = visible_org(store, actor, org_id).await?;
    if !actor.manages(org_id) {
        return Err(StoreError::forbidden(
            "org_scope_denied",
            "another organisation's record",
        ));
    }
    Ok(org)
}

pub(crate) async fn visible_org(
    store: &dyn Store,
    _actor: &Actor,
    org_id: &str,
) -> StoreResult<Organisation> {
    store
        .organisation(org_id)
        .await?
        .ok_or_else(|| StoreError::not_found("org_not_found", org_id.to_string()))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualificationInput {
    pub kind: String,
    pub number: String,
    #[serde(default)]
    pub issuer_zh: String,
    #[serde(default)]
    pub issuer_en: String,
    pub valid_from: String,
    #[serde(default)]
    pub valid_to: Option<String>,
}

pub async fn record_qualification(
    store: &dyn Store,
    actor: &Actor,
    org_id: &str,
    input: &QualificationInput,
    reason: &str,
    when: &When,
) -> StoreResult<Qualification> {
    managed_org(store, actor, org_id).await?;
    let reason = check_reason(reason)?;
    let kind = input.kind.trim();
    if !QUALIFICATION_KINDS.contains(&kind) {
        return Err(StoreError::invalid(
            "qualification_kind_invalid",
            "kind",
            kind.to_string(),
        ));
    }
    let from = iso_date("valid_from", &input.valid_from)?;
    let to = match optional("valid_to", &input.valid_to, 10)? {
        Some(t) => Some(iso_date("valid_to", &t)?),
        None => None,
    };
    if to.is_some_and(|t| t < from) {
        return Err(StoreError::invalid(
            "date_range_invalid",
            "valid_to",
            "ends before it starts",
        ));
    }
    let id = new_id("qual");
    let payload = QualificationRecorded {
        id: id.clone(),
        org_id: org_id.to_string(),
        kind: kind.to_string(),
        number: required("number", &input.number, 100)?,
        issuer_zh: input.issuer_zh.trim().to_string(),
        issuer_en: input.issuer_en.trim().to_string(),
        valid_from: from.to_string(),
        valid_to: to.map(|t| t.to_string()),
    };
    store
        .append(vec![actor.event(
            org_stream(org_id),
            QUALIFICATION_RECORDED,
            payload,
            when,
            &reason,
        )?])
        .await?;
    store
        .qualifications(org_id)
        .await?
        .into_iter()
        .find(|q| q.id == id)
        .ok_or_else(|| StoreError::internal("projection_missing", id))
}

/// Revokes a recorded qualification (a licence withdrawn, a filing
/// cancelled). The record stays, marked revoked, with the reason in the
/// ledger; the public page stops showing it.
pub async fn revoke_qualification(
    store: &dyn Store,
    actor: &Actor,
    org_id: &str,
    qualification_id: &str,
    reason: &str,
    when: &When,
) -> StoreResult<Qualification> {
    managed_org(store, actor, org_id).await?;
    let reason = check_reason(reason)?;
    let find = |qs: Vec<Qualification>| qs.into_iter().find(|q| q.id == qualification_id);
    let q = find(store.qualifications(org_id).await?).ok_or_else(|| {
        StoreError::not_found("qualification_not_found", qualification_id.to_string())
    })?;
    if q.revoked {
        return Err(StoreError::conflict(
            "qualification_already_revoked",
            qualification_id.to_string(),
        ));
    }
    store
        .append(vec![actor.event(
            org_stream(org_id),
            QUALIFICATION_REVOKED,
            IdOnly { id: q.id.clone() },
            when,
            &reason,
        )?])
        .await?;
    find(store.qualifications(org_id).await?)
        .ok_or_else(|| StoreError::internal("projection_missing", q.id))
}

/// Deactivates an organisation (closed, merged, or struck off): its record
/// and history stay; it leaves the public search and its users can no
/// longer act for it. Platform administrators only.
pub async fn deactivate_org(
    store: &dyn Store,
    actor: &Actor,
    org_id: &str,
    reason: &str,
    when: &When,
) -> StoreResult<Organisation> {
    actor.require(Permission::OrgManage)?;
    if !actor.is_platform() {
        return Err(StoreError::forbidden(
            "platform_admin_required",
            "only the platform deactivates an organisation",
        ));
    }
    let org = visible_org(store, actor, org_id).await?;
    if !org.active {
        return Err(StoreError::conflict(
            "org_already_inactive",
            org_id.to_string(),
        ));
    }
    let reason = check_reason(reason)?;
    store
        .append(vec![actor.event(
            org_stream(org_id),
            ORG_DEACTIVATED,
            IdOnly {
                id: org_id.to_string(),
            },
            when,
            &reason,
        )?])
        .await?;
    store
        .organisation(org_id)
        .await?
        .ok_or_else(|| StoreError::internal("projection_missing", org_id.to_string()))
}

// ---------------------------------------------------------------- users

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    pub org_id: String,
    pub username: String,
    pub display_name: String,
    #[serde(default)]
    pub email: String,
    pub roles: Vec<String>,
    pub password: String,
}

pub async fn create_user(
    store: &dyn Store,
    actor: &Actor,
    input: &UserInput,
    reason: &str,
    when: &When,
) -> StoreResult<User> {
    actor.require(Permission::UserManage)?;
    let org = visible_org(store, actor, input.org_id.trim()).await?;
    if !actor.manages(&org.id) {
        return Err(StoreError::forbidden(
            "org_scope_denied",
            "another organisation's users",
        ));
    }
    let reason = check_reason(reason)?;
    let org_type = OrgType::from_str(&org.org_type)
        .map_err(|_| StoreError::internal("org_type_unknown", org.org_type.clone()))?;
    let username = input.username.trim().to_lowercase();
    let ok = (3..=64).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !ok {
        return Err(StoreError::invalid(
            "username_invalid",
            "username",
            username,
        ));
    }
    if store.user_by_username(&username).await?.is_some() {
        return Err(StoreError::conflict("username_taken", username).with_field("username"));
    }
    if input.roles.is_empty() {
        return Err(StoreError::invalid(
            "roles_required",
            "roles",
            "at least one role",
        ));
    }
    let mut roles = Vec::new();
    for r in &input.roles {
        let role = Role::from_str(r.trim())
            .map_err(|_| StoreError::invalid("role_invalid", "roles", r.clone()))?;
        if !role_allowed_in(role, org_type) {
            return Err(
                StoreError::invalid("role_not_allowed_for_org", "roles", r.clone())
                    .with_arg("role", role.as_str())
                    .with_arg("org_type", org_type.as_str()),
            );
        }
        if role == Role::PlatformAdmin && !actor.is_platform() {
            return Err(StoreError::forbidden(
                "platform_admin_required",
                "only the platform grants platform roles",
            ));
        }
        roles.push(role.as_str().to_string());
    }
    let hash = hash_password(&input.password)?;
    let id = new_id("usr");
    let created = UserCreated {
        id: id.clone(),
        org_id: org.id.clone(),
        username,
        display_name: required("display_name", &input.display_name, 100)?,
        email: input.email.trim().to_string(),
        roles,
    };
    let stream = user_stream(&id);
    store
        .append(vec![
            actor.event(stream.clone(), USER_CREATED, created, when, &reason)?,
            actor.event(
                stream,
                USER_PASSWORD_SET,
                IdOnly { id: id.clone() },
                when,
                "initial password",
            )?,
        ])
        .await?;
    store.set_password_hash(&id, &hash).await?;
    store
        .user(&id)
        .await?
        .ok_or_else(|| StoreError::internal("projection_missing", id))
}

// ---------------------------------------------------------------- projects

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectInput {
    pub kind: String,
    pub title_zh: String,
    pub title_en: String,
    #[serde(default)]
    pub summary_zh: String,
    #[serde(default)]
    pub summary_en: String,
    pub category: String,
    pub pi_name: String,
}

pub async fn draft_project(
    store: &dyn Store,
    actor: &Actor,
    input: &ProjectInput,
    reason: &str,
    when: &When,
) -> StoreResult<Project> {
    actor.require(Permission::ProjectDraft)?;
    if actor.org_type != OrgType::MedicalInstitution {
        return Err(StoreError::forbidden(
            "institution_required",
            "projects are filed by medical institutions",
        ));
    }
    let kind = ProjectKind::from_str(input.kind.trim())
        .map_err(|_| StoreError::invalid("project_kind_invalid", "kind", input.kind.clone()))?;
    let category = input.category.trim();
    if !CATEGORIES.contains(&category) {
        return Err(StoreError::invalid(
            "category_invalid",
            "category",
            category.to_string(),
        ));
    }
    let id = new_id("prj");
    let payload = ProjectDrafted {
        id: id.clone(),
        kind: kind.as_str().to_string(),
        org_id: actor.org_id.clone(),
        title_zh: required("title_zh", &input.title_zh, 300)?,
        title_en: required("title_en", &input.title_en, 400)?,
        summary_zh: input.summary_zh.trim().to_string(),
        summary_en: input.summary_en.trim().to_string(),
        category: category.to_string(),
        pi_name: required("pi_name", &input.pi_name, 100)?,
    };
    let reason = reason_text(Some(reason), "创建草稿 / draft created");
    store
        .append(vec![actor.event(
            project_stream(&id),
            PROJECT_DRAFTED,
            payload,
            when,
            &reason,
        )?])
        .await?;
    store
        .project(&id)
        .await?
        .ok_or_else(|| StoreError::internal("projection_missing", id))
}

/// A project the actor may see: its own institution's, or any in a
/// regulator's jurisdiction. Others get `project_not_found` (no existence leak).
pub async fn visible_project(
    store: &dyn Store,
    actor: &Actor,
    id: &str,
) -> StoreResult<(Project, Organisation)> {
    actor.require(Permission::ProjectRead)?;
    let not_found = || StoreError::not_found("project_not_found", id.to_string());
    let project = store.project(id).await?.ok_or_else(not_found)?;
    let org = store
        .organisation(&project.org_id)
        .await?
        .ok_or_else(|| StoreError::internal("org_missing", project.org_id.clone()))?;
    if actor.org_id == project.org_id || actor.has_jurisdiction(&org.province_code) {
        Ok((project, org))
    } else {
        Err(not_found())
    }
}

/// Filter that limits a listing to what the actor may see.
pub fn scope_projects(actor: &Actor, mut filter: ProjectFilter) -> ProjectFilter {
    if actor.is_platform() || (actor.org_type == OrgType::Regulator && actor.province_code == "00")
    {
        return filter;
    }
    if actor.org_type == OrgType::Regulator {
        filter.province_code = Some(actor.province_code.clone());
    } else {
        filter.org_id = Some(actor.org_id.clone());
    }
    filter
}

/// The electronic signature a person gives at the moment of a signed action:
/// both parts of the credential again (21 CFR 11.200(a)), the meaning, and the
/// hash of the record as displayed to them.
#[derive(Clone, Debug, Deserialize)]
pub struct SignInput {
    pub username: String,
    pub password: String,
    pub meaning: String,
    pub record_hash: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ActInput {
    pub action: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub signature: Option<SignInput>,
}

/// Counts `n` working days after `start`; where the calendar lacks the year,
/// counts weekdays only and says the result is provisional.
pub fn deadline_after(calendar: &WorkCalendar, start: NaiveDate, n: u32) -> (NaiveDate, bool) {
    match calendar.add_working_days(start, n) {
        Ok(d) => (d, false),
        Err(CalendarError::NotCovered { .. }) | Err(_) => {
            let mut d = start;
            let mut left = n;
            while left > 0 {
                d = d.succ_opt().unwrap_or(d);
                if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
                    left -= 1;
                }
            }
            (d, true)
        }
    }
}

/// Manifest hash of an electronic signature: SHA-256 of the canonical JSON
/// of what was signed, by whom, when, and with which meaning.
pub fn signature_manifest_hash(
    stream: &str,
    action: &str,
    meaning: &str,
    user_id: &str,
    printed_name: &str,
    signed_at: &str,
    record_hash: &str,
) -> StoreResult<String> {
    let v = serde_json::json!({
        "stream": stream, "action": action, "meaning": meaning, "user_id": user_id,
        "printed_name": printed_name, "signed_at": signed_at, "record_hash": record_hash,
    });
    Ok(sha256_hex(canonicalize(&v)?.as_bytes()))
}

/// Moves a project one step through the filing workflow.
pub async fn act_on_project(
    store: &dyn Store,
    actor: &Actor,
    project_id: &str,
    input: &ActInput,
    calendar: &WorkCalendar,
    when: &When,
) -> StoreResult<Project> {
    let action = Action::from_str(input.action.trim())
        .map_err(|_| StoreError::invalid("action_invalid", "action", input.action.clone()))?;
    let (project, org) = visible_project(store, actor, project_id).await?;
    actor.require(action.permission())?;
    let institution_side = matches!(action, Action::Submit | Action::Complete);
    if institution_side && actor.org_id != project.org_id {
        return Err(StoreError::forbidden(
            "institution_action_only",
            "only the filing institution does this",
        ));
    }
    let competent_regulator =
        actor.org_type == OrgType::Regulator && actor.has_jurisdiction(&org.province_code);
    if !institution_side && !competent_regulator {
        return Err(StoreError::forbidden(
            "regulator_action_only",
            "only the competent regulator does this",
        ));
    }
    let from = ProjectState::from_str(&project.state)
        .map_err(|_| StoreError::internal("state_unknown", project.state.clone()))?;
    let to = workflow::transition(from, action).map_err(|_| {
        StoreError::conflict(
            "workflow_transition_not_allowed",
            format!("{} from {}", action.as_str(), from.as_str()),
        )
        .with_field("action")
        .with_arg("action", action.as_str())
        .with_arg("state", from.as_str())
    })?;
    let reason = if action.requires_reason() {
        check_reason(input.reason.as_deref().unwrap_or(""))?
    } else {
        reason_text(
            input.reason.as_deref(),
            &format!(
                "{} / {} — {}",
                action.label(celltrail_core::Lang::Zh),
                action.label(celltrail_core::Lang::En),
                actor.display_name
            ),
        )
    };
    let stream = project_stream(project_id);
    let signature = match action.signature() {
        None => None,
        Some(meaning) => Some(
            check_signature(
                store,
                actor,
                &stream,
                action.as_str(),
                meaning,
                input.signature.as_ref(),
                when,
            )
            .await?,
        ),
    };
    let (deadline, deadline_kind, provisional) = match action.deadline_working_days() {
        Some(n) => {
            let (d, provisional) = deadline_after(calendar, when.today, n);
            let kind = match action {
                Action::Submit => "completeness_check",
                _ => "filing_decision",
            };
            (Some(d.to_string()), Some(kind.to_string()), provisional)
        }
        None => (None, None, false),
    };
    let filing_number = if action == Action::File {
        let kind = ProjectKind::from_str(&project.kind)
            .map_err(|_| StoreError::internal("kind_unknown", project.kind.clone()))?;
        let year = when.today.year();
        let sample = workflow::filing_number(&org.province_code, year, kind, 0);
        let prefix = sample
            .rsplit_once('-')
            .map(|(p, _)| format!("{p}-"))
            .unwrap_or(sample);
        let next = store.max_filing_seq(&prefix).await? + 1;
        Some(workflow::filing_number(
            &org.province_code,
            year,
            kind,
            next,
        ))
    } else {
        None
    };
    let payload = ProjectTransitioned {
        id: project_id.to_string(),
        action: action.as_str().to_string(),
        from: from.as_str().to_string(),
        to: to.as_str().to_string(),
        deadline,
        deadline_kind,
        deadline_provisional: provisional,
        filing_number,
        signature,
    };
    store
        .append(vec![actor.event(
            stream,
            PROJECT_TRANSITIONED,
            payload,
            when,
            &reason,
        )?])
        .await?;
    store
        .project(project_id)
        .await?
        .ok_or_else(|| StoreError::internal("projection_missing", project_id.to_string()))
}

pub(crate) async fn check_signature(
    store: &dyn Store,
    actor: &Actor,
    stream: &str,
    action: &str,
    meaning: SignatureMeaning,
    sign: Option<&SignInput>,
    when: &When,
) -> StoreResult<SignaturePayload> {
    let sign = sign.ok_or_else(|| {
        StoreError::unauthenticated(
            "signature_reauth_required",
            "this step needs an electronic signature",
        )
        .with_field("signature")
        .with_arg("meaning", meaning.as_str())
    })?;
    if sign.meaning.trim() != meaning.as_str() {
        return Err(StoreError::invalid(
            "signature_meaning_mismatch",
            "signature.meaning",
            sign.meaning.clone(),
        )
        .with_arg("meaning", meaning.as_str()));
    }
    if sign.username.trim().to_lowercase() != actor.username {
        return Err(StoreError::unauthenticated(
            "signature_wrong_signer",
            "the signer must be the signed-in user",
        )
        .with_field("signature.username"));
    }
    let stored = store.password_hash(&actor.user_id).await?;
    if !stored.is_some_and(|h| verify_password(&h, &sign.password)) {
        return Err(StoreError::unauthenticated(
            "signature_password_invalid",
            "password does not match",
        )
        .with_field("signature.password"));
    }
    let (_, head_hash) = store
        .stream_head(stream)
        .await?
        .ok_or_else(|| StoreError::internal("stream_missing", stream.to_string()))?;
    if sign.record_hash.trim() != head_hash {
        return Err(StoreError::conflict(
            "signature_record_changed",
            "the record changed since it was displayed; review it again",
        )
        .with_field("signature.record_hash"));
    }
    let manifest_hash = signature_manifest_hash(
        stream,
        action,
        meaning.as_str(),
        &actor.user_id,
        &actor.display_name,
        &when.now,
        &head_hash,
    )?;
    Ok(SignaturePayload {
        meaning: meaning.as_str().to_string(),
        user_id: actor.user_id.clone(),
        printed_name: actor.display_name.clone(),
        org_id: actor.org_id.clone(),
        signed_at: when.now.clone(),
        record_hash: head_hash,
        manifest_hash,
    })
}

/// Creates the platform organisation and its first administrator on an empty
/// database. Idempotent: does nothing when the platform exists.
pub async fn bootstrap(
    store: &dyn Store,
    admin_username: &str,
    admin_password: &str,
    when: &When,
) -> StoreResult<Option<User>> {
    // Check the password before writing anything, so a refused password
    // leaves no platform without its administrator.
    hash_password(admin_password)?;
    let has_admin = store
        .users(Some(SYSTEM_ORG))
        .await?
        .iter()
        .any(|u| u.active && u.roles.iter().any(|r| r == Role::PlatformAdmin.as_str()));
    if has_admin {
        return Ok(None);
    }
    let system = Actor::system();
    if store.organisation(SYSTEM_ORG).await?.is_none() {
        register_platform(store, &system, when).await?;
    }
    let user = create_user(
        store,
        &system,
        &UserInput {
            org_id: SYSTEM_ORG.into(),
            username: admin_username.into(),
            display_name: "Platform Administrator".into(),
            email: String::new(),
            roles: vec!["platform_admin".into()],
            password: admin_password.into(),
        },
        "platform bootstrap",
        when,
    )
    .await?;
    Ok(Some(user))
}

async fn register_platform(
    store: &dyn Store,
    system: &Actor,
    when: &When,
) -> StoreResult<Organisation> {
    let input = OrgInput {
        id: Some(SYSTEM_ORG.into()),
        org_type: "platform".into(),
        name_zh: "CellTrail 平台运营".into(),
        name_en: "CellTrail platform operations".into(),
        uscc: None,
        province_code: "00".into(),
        city_zh: String::new(),
        city_en: String::new(),
        grade: None,
        address_zh: String::new(),
        address_en: String::new(),
    };
    register_org(store, system, &input, "platform bootstrap", when).await
}

/// What to classify a project with.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyInput {
    pub profile: serde_json::Value,
    #[serde(default)]
    pub region: Option<String>,
    /// The reason for the record (filled from the request's `reason`).
    #[serde(skip)]
    pub reason: String,
}

/// What a saved classification records: the profile, the day and region it
/// was read as of, the packs and their versions, and each conclusion with
/// the rules it rests on (explanations stay in the packs).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Classification {
    pub project_id: String,
    pub as_of: String,
    #[serde(default)]
    pub region: Option<String>,
    pub profile: serde_json::Value,
    /// (pack, version) of every pack used.
    pub packs: Vec<(String, String)>,
    /// `{"CN": {"route": {"value", "basis": [{rule, instrument, article, effective_from}], "needs"?}}}`
    pub results: serde_json::Value,
    pub upcoming: serde_json::Value,
}

impl Classification {
    /// Reads a profile against the packs and keeps the record of it.
    pub fn draw(
        engine: &celltrail_core::rules::Engine,
        project_id: &str,
        profile: &serde_json::Value,
        as_of: chrono::NaiveDate,
        region: Option<&str>,
    ) -> StoreResult<Classification> {
        let parsed = profile_of(profile)?;
        let mut report = engine.report_json(&engine.evaluate(&parsed, as_of, region));
        strip_explanations(&mut report);
        Ok(Classification {
            project_id: project_id.to_string(),
            as_of: as_of.to_string(),
            region: region.map(str::to_string),
            profile: profile.clone(),
            packs: engine.packs.clone(),
            results: report["results"].take(),
            upcoming: report["upcoming"].take(),
        })
    }

    /// The conclusions ("CN.route" …) whose value differs from `other`'s.
    pub fn changed_from(&self, other: &Classification) -> Vec<String> {
        let mut out = Vec::new();
        for (j, conclusions) in self.results.as_object().into_iter().flatten() {
            for (k, c) in conclusions.as_object().into_iter().flatten() {
                if other.results[j][k]["value"] != c["value"] {
                    out.push(format!("{j}.{k}"));
                }
            }
        }
        out
    }
}

/// A therapy profile read strictly; the error names the field at fault as
/// `profile.<field>`.
pub fn profile_of(profile: &serde_json::Value) -> StoreResult<celltrail_core::rules::Profile> {
    celltrail_core::rules::Profile::from_json(profile).map_err(|e| {
        let field = if e.field.is_empty() {
            "profile".to_string()
        } else {
            format!("profile.{}", e.field)
        };
        StoreError::invalid(e.code, "profile", e.message.clone())
            .with_field(&field)
            .with_arg("field", &e.field)
    })
}

/// The region, if one is named, when some pack serves it.
pub fn known_region<'a>(
    engine: &celltrail_core::rules::Engine,
    region: Option<&'a str>,
) -> StoreResult<Option<&'a str>> {
    match region.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) if !engine.regions().iter().any(|(_, known)| known == r) => Err(
            StoreError::invalid("region_unknown", "region", r.to_string()).with_arg("region", r),
        ),
        other => Ok(other),
    }
}

/// Drops the bilingual explanation texts from every basis entry.
fn strip_explanations(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.remove("explain");
            m.values_mut().for_each(strip_explanations);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_explanations),
        _ => {}
    }
}

/// Classifies a project's therapy and saves the result on the project's
/// stream, so a reviewer can later see what the rules said that day. The
/// institution that owns the project (drafting permission) or a regulator
/// who may review it can do so.
pub async fn classify_project(
    store: &dyn Store,
    actor: &Actor,
    engine: &celltrail_core::rules::Engine,
    project_id: &str,
    input: &ClassifyInput,
    when: &When,
) -> StoreResult<Classification> {
    let (profile, region, reason) = (
        &input.profile,
        input.region.as_deref(),
        input.reason.as_str(),
    );
    let (project, _) = visible_project(store, actor, project_id).await?;
    let owner = actor.org_id == project.org_id && actor.can(Permission::ProjectDraft);
    if !owner && !actor.can(Permission::ProjectReview) {
        return Err(StoreError::forbidden(
            "permission_denied",
            "classifying a project needs drafting (its institution) or review permission",
        ));
    }
    let region = region.map(str::trim).filter(|r| !r.is_empty());
    if let Some(r) = region {
        if !engine.regions().iter().any(|(_, known)| known == r) {
            return Err(
                StoreError::invalid("region_unknown", "region", r.to_string())
                    .with_arg("region", r),
            );
        }
    }
    let record = Classification::draw(engine, project_id, profile, when.today, region)?;
    let reason = reason_text(Some(reason), "分类记录 / classification recorded");
    store
        .append(vec![actor.event(
            project_stream(project_id),
            PROJECT_CLASSIFIED,
            &record,
            when,
            &reason,
        )?])
        .await?;
    Ok(record)
}

/// Every classification saved on a project, oldest first, each with what
/// the same profile gives under today's rules. The caller has checked that
/// the actor may see the project.
pub async fn project_classifications(
    store: &dyn Store,
    engine: &celltrail_core::rules::Engine,
    project_id: &str,
    when: &When,
) -> StoreResult<Vec<SavedClassification>> {
    let events = store.stream_events(&project_stream(project_id)).await?;
    let mut out = Vec::new();
    for e in events.into_iter().filter(|e| e.kind == PROJECT_CLASSIFIED) {
        let then: Classification = serde_json::from_value(e.payload.clone())
            .map_err(|err| StoreError::internal("classification_unreadable", err.to_string()))?;
        let now = Classification::draw(
            engine,
            project_id,
            &then.profile,
            when.today,
            then.region.as_deref(),
        )?;
        let changed = now.changed_from(&then);
        out.push(SavedClassification {
            seq: e.seq,
            time: e.time,
            actor: e.actor,
            reason: e.reason,
            then,
            now,
            changed,
        });
    }
    Ok(out)
}

/// A saved classification beside today's reading of the same profile.
#[derive(Clone, Debug, Serialize)]
pub struct SavedClassification {
    pub seq: u64,
    pub time: String,
    pub actor: String,
    pub reason: String,
    pub then: Classification,
    pub now: Classification,
    /// Conclusions ("CN.route" …) that differ between then and now.
    pub changed: Vec<String>,
}
