//! Every route, once: method, path, the access it needs, and what the API
//! reference says about it. The authorisation middleware and the OpenAPI
//! document both read this table; a test checks it against the router.

use celltrail_core::access::Permission;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user (object checks happen in the command layer).
    SignedIn,
    /// Signed in and holding this permission.
    Perm(Permission),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Page,
    Api,
}

#[derive(Clone, Copy, Debug)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub kind: Kind,
    pub tag: &'static str,
    /// English summary for the API reference (the page shows the localised
    /// `api.<operation>` message).
    pub summary: &'static str,
    pub operation: &'static str,
    /// Name of the request body schema in the OpenAPI document, if any.
    pub body: Option<&'static str>,
}

const fn page(
    method: &'static str,
    path: &'static str,
    access: Access,
    operation: &'static str,
) -> RouteSpec {
    RouteSpec {
        method,
        path,
        access,
        kind: Kind::Page,
        tag: "pages",
        summary: "",
        operation,
        body: None,
    }
}

const fn api(
    method: &'static str,
    path: &'static str,
    access: Access,
    tag: &'static str,
    operation: &'static str,
    summary: &'static str,
    body: Option<&'static str>,
) -> RouteSpec {
    RouteSpec {
        method,
        path,
        access,
        kind: Kind::Api,
        tag,
        summary,
        operation,
        body,
    }
}

use Access::{Perm, Public, SignedIn};
use Permission as P;

pub const ROUTES: &[RouteSpec] = &[
    page("GET", "/", Public, "home"),
    page("GET", "/login", Public, "login_form"),
    page("POST", "/login", Public, "login"),
    page("POST", "/logout", SignedIn, "logout"),
    page("GET", "/lang/{code}", Public, "switch_lang"),
    page("GET", "/public", Public, "public_search"),
    page("GET", "/public/org/{id}", Public, "public_org"),
    page("GET", "/public/project/{number}", Public, "public_project"),
    page("GET", "/classify", Public, "classify_page"),
    page(
        "POST",
        "/app/orgs/{id}/qualifications/{qid}/revoke",
        Perm(P::OrgManage),
        "qualification_revoke",
    ),
    page("POST", "/app/orgs/{id}/deactivate", Perm(P::OrgManage), "org_deactivate"),
    page(
        "POST",
        "/app/projects/{id}/classify",
        Perm(P::ProjectRead),
        "project_classify",
    ),
    page("GET", "/app", SignedIn, "dashboard"),
    page("GET", "/app/projects", Perm(P::ProjectRead), "projects"),
    page(
        "POST",
        "/app/projects",
        Perm(P::ProjectDraft),
        "project_create",
    ),
    page(
        "GET",
        "/app/projects/new",
        Perm(P::ProjectDraft),
        "project_new",
    ),
    page("GET", "/app/projects/{id}", Perm(P::ProjectRead), "project"),
    page(
        "POST",
        "/app/projects/{id}/act",
        Perm(P::ProjectRead),
        "project_act",
    ),
    page("GET", "/app/orgs", Perm(P::OrgRead), "orgs"),
    page("POST", "/app/orgs", Perm(P::OrgManage), "org_create"),
    page("GET", "/app/orgs/new", Perm(P::OrgManage), "org_new"),
    page("GET", "/app/orgs/{id}", Perm(P::OrgRead), "org"),
    page(
        "POST",
        "/app/orgs/{id}/qualifications",
        Perm(P::OrgManage),
        "org_add_qualification",
    ),
    page(
        "POST",
        "/app/orgs/{id}/users",
        Perm(P::UserManage),
        "org_add_user",
    ),
    page("GET", "/app/ledger", Perm(P::LedgerVerify), "ledger"),
    page("GET", "/app/account", SignedIn, "account"),
    page("POST", "/app/account/totp", SignedIn, "account_totp"),
    page("GET", "/api/docs", Public, "api_docs"),
    page("GET", "/api/openapi.json", Public, "openapi"),
    api(
        "GET",
        "/api/v1/me",
        SignedIn,
        "identity",
        "me",
        "The signed-in user, organisation and permissions",
        None,
    ),
    api(
        "GET",
        "/api/v1/organisations",
        Perm(P::OrgRead),
        "registry",
        "list_orgs",
        "List organisations (filter by q, org_type, province_code)",
        None,
    ),
    api(
        "POST",
        "/api/v1/organisations",
        Perm(P::OrgManage),
        "registry",
        "create_org",
        "Register an organisation (platform administrators)",
        Some("OrgCreate"),
    ),
    api(
        "GET",
        "/api/v1/organisations/{id}",
        Perm(P::OrgRead),
        "registry",
        "get_org",
        "One organisation with its qualifications",
        None,
    ),
    api(
        "PUT",
        "/api/v1/organisations/{id}",
        Perm(P::OrgManage),
        "registry",
        "update_org",
        "Replace an organisation's profile",
        Some("OrgCreate"),
    ),
    api(
        "GET",
        "/api/v1/organisations/{id}/qualifications",
        Perm(P::OrgRead),
        "registry",
        "list_qualifications",
        "Qualifications, with expired ones flagged",
        None,
    ),
    api(
        "POST",
        "/api/v1/organisations/{id}/qualifications",
        Perm(P::OrgManage),
        "registry",
        "create_qualification",
        "Record a qualification or licence",
        Some("QualificationCreate"),
    ),
    api(
        "GET",
        "/api/v1/users",
        Perm(P::UserManage),
        "identity",
        "list_users",
        "Users of the caller's organisation (all, for the platform)",
        None,
    ),
    api(
        "POST",
        "/api/v1/users",
        Perm(P::UserManage),
        "identity",
        "create_user",
        "Create a user with roles",
        Some("UserCreate"),
    ),
    api(
        "GET",
        "/api/v1/projects",
        Perm(P::ProjectRead),
        "filings",
        "list_projects",
        "Projects visible to the caller (filter by state, kind, q)",
        None,
    ),
    api(
        "POST",
        "/api/v1/projects",
        Perm(P::ProjectDraft),
        "filings",
        "create_project",
        "Draft a technology or clinical research project",
        Some("ProjectCreate"),
    ),
    api(
        "GET",
        "/api/v1/projects/{id}",
        Perm(P::ProjectRead),
        "filings",
        "get_project",
        "One project with its signatures and current record hash",
        None,
    ),
    api(
        "GET",
        "/api/v1/projects/{id}/history",
        Perm(P::ProjectRead),
        "filings",
        "project_history",
        "Every ledger event of the project: who, when, what, why",
        None,
    ),
    api(
        "POST",
        "/api/v1/projects/{id}/actions",
        Perm(P::ProjectRead),
        "filings",
        "project_action",
        "Move the project through the filing workflow (signed steps need a signature)",
        Some("ProjectAction"),
    ),
    api(
        "GET",
        "/api/v1/tokens",
        SignedIn,
        "identity",
        "list_tokens",
        "The caller's API tokens",
        None,
    ),
    api(
        "POST",
        "/api/v1/tokens",
        SignedIn,
        "identity",
        "create_token",
        "Create a scoped API token (the secret is shown once)",
        Some("TokenCreate"),
    ),
    api(
        "DELETE",
        "/api/v1/tokens/{id}",
        SignedIn,
        "identity",
        "revoke_token",
        "Revoke an API token",
        None,
    ),
    api(
        "GET",
        "/api/v1/ledger/verify",
        Perm(P::LedgerVerify),
        "ledger",
        "ledger_verify",
        "Recompute every hash and seal; report the first break",
        None,
    ),
    api(
        "GET",
        "/api/v1/audit/logins",
        Perm(P::AuditRead),
        "identity",
        "login_audit",
        "Recent successful and failed logins",
        None,
    ),
    api(
        "GET",
        "/api/v1/public/institutions",
        Public,
        "public",
        "public_search",
        "Search institutions by name or Unified Social Credit Code",
        None,
    ),
    api(
        "GET",
        "/api/v1/public/institutions/{id}",
        Public,
        "public",
        "public_org",
        "An institution's qualifications and filed projects",
        None,
    ),
    api(
        "GET",
        "/api/v1/public/projects/{number}",
        Public,
        "public",
        "public_project",
        "A filed project's status by filing number",
        None,
    ),
    api(
        "POST",
        "/api/v1/organisations/{id}/qualifications/{qid}/revoke",
        Perm(P::OrgManage),
        "registry",
        "revoke_qualification",
        "Revoke a qualification; it stays on record, marked revoked, with the reason in the ledger",
        Some("Reason"),
    ),
    api(
        "POST",
        "/api/v1/organisations/{id}/deactivate",
        Perm(P::OrgManage),
        "registry",
        "deactivate_org",
        "Deactivate an organisation (platform administrators); its record and history stay",
        Some("Reason"),
    ),
    api(
        "POST",
        "/api/v1/projects/{id}/classifications",
        Perm(P::ProjectRead),
        "rules",
        "classify_project",
        "Classify a project's therapy and save the result on its ledger stream (its institution or a reviewing regulator)",
        Some("ProjectClassify"),
    ),
    api(
        "GET",
        "/api/v1/projects/{id}/classifications",
        Perm(P::ProjectRead),
        "rules",
        "project_classifications",
        "Classifications saved on a project, each beside today's reading of the same profile",
        None,
    ),
    api(
        "POST",
        "/api/v1/classify",
        Public,
        "rules",
        "classify",
        "Classify a therapy profile in China, the US, the EU, Japan and the UK, each conclusion with its basis",
        Some("ClassifyRequest"),
    ),
];

/// Routes an administrator without a second factor may still use: enough
/// to enrol one, or to leave.
pub const ENROLMENT_ROUTES: &[&str] = &[
    "/app/account",
    "/app/account/totp",
    "/logout",
    "/api/v1/me",
    "/",
    "/lang/{code}",
];

/// The spec for a matched route.
pub fn find(method: &str, path: &str) -> Option<&'static RouteSpec> {
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}
