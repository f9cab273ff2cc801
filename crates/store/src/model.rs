//! Read-model rows and filters, as screens and the API see them.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Organisation {
    pub id: String,
    pub org_type: String,
    pub name_zh: String,
    pub name_en: String,
    pub uscc: Option<String>,
    /// GB/T 2260 two-digit province code ("00" for national bodies).
    pub province_code: String,
    pub city_zh: String,
    pub city_en: String,
    /// Hospital grade, e.g. `3A` (三级甲等).
    pub grade: Option<String>,
    pub address_zh: String,
    pub address_en: String,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Qualification {
    pub id: String,
    pub org_id: String,
    /// `practice_licence`, `gcp_site`, `stem_cell_filing`, `biosafety_lab`,
    /// `drug_manufacturing_licence`, `cnas_accreditation`, …
    pub kind: String,
    pub number: String,
    pub issuer_zh: String,
    pub issuer_en: String,
    pub valid_from: String,
    pub valid_to: Option<String>,
    pub revoked: bool,
    pub recorded_at: String,
}

impl Qualification {
    /// Expired on `today` (ISO date): its validity ended before that day.
    pub fn expired_on(&self, today: &str) -> bool {
        self.valid_to.as_deref().is_some_and(|to| to < today)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub id: String,
    pub org_id: String,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub roles: Vec<String>,
    pub active: bool,
    pub created_at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Project {
    pub id: String,
    pub kind: String,
    pub org_id: String,
    pub title_zh: String,
    pub title_en: String,
    pub summary_zh: String,
    pub summary_en: String,
    /// e.g. `car_t`, `msc`, `ipsc_derived`, `gene_therapy`, `til`, `tcr_t`, `nk`.
    pub category: String,
    pub pi_name: String,
    pub state: String,
    pub filing_number: Option<String>,
    pub submitted_at: Option<String>,
    /// ISO date of the running deadline, if a clock runs.
    pub deadline: Option<String>,
    pub deadline_kind: Option<String>,
    /// True when the deadline was counted without an official holiday
    /// calendar for its year (weekends only).
    pub deadline_provisional: bool,
    pub filed_at: Option<String>,
    pub last_reason: String,
    pub created_at: String,
    pub updated_at: String,
    /// Sequence of the last event on the project's stream.
    pub head_seq: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SignatureRecord {
    pub stream: String,
    pub seq: u64,
    pub action: String,
    pub meaning: String,
    /// Hash of the record as the signer saw it (the stream head before the
    /// signed action); the signature cannot be moved to another record.
    pub record_hash: String,
    /// SHA-256 of the canonical signature manifest.
    pub manifest_hash: String,
    pub user_id: String,
    pub printed_name: String,
    pub org_id: String,
    pub signed_at: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OrgFilter {
    /// Matches Chinese or English name (substring, case-insensitive) or an
    /// exact Unified Social Credit Code.
    pub q: Option<String>,
    pub org_type: Option<String>,
    pub province_code: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProjectFilter {
    pub org_id: Option<String>,
    pub state: Option<String>,
    pub kind: Option<String>,
    /// Institutions in this province (regulators' jurisdiction).
    pub province_code: Option<String>,
    pub q: Option<String>,
    /// Only projects visible to the public (filed and later).
    pub public_only: bool,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LoginAttempt {
    pub username: String,
    pub user_id: Option<String>,
    pub success: bool,
    pub ip: String,
    pub detail: String,
    pub at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SessionRow {
    /// SHA-256 of the session id; the id itself is only in the cookie.
    pub id_hash: String,
    pub user_id: String,
    pub csrf: String,
    /// Unix seconds.
    pub created_at: i64,
    pub last_seen: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ApiToken {
    pub id: String,
    /// SHA-256 of the secret; the secret is shown once at creation.
    #[serde(skip_serializing)]
    pub token_hash: String,
    pub user_id: String,
    pub name: String,
    /// Permission strings (`project.read`, …) the token may use; a subset of
    /// its owner's.
    pub scopes: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// What the public lookup shows for a filing number.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PublicFiling {
    pub project: Project,
    pub organisation: Organisation,
    /// Signatures on accept, file and terminate, in order.
    pub signatures: Vec<SignatureRecord>,
}

/// A filed project as the public institution page lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PublicProjectRow {
    pub filing_number: Option<String>,
    pub kind: String,
    pub title_zh: String,
    pub title_en: String,
    pub category: String,
    pub state: String,
    pub filed_at: Option<String>,
}

/// What the public page shows of an institution, read in one query.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PublicInstitution {
    pub organisation: Organisation,
    /// Qualifications in force or expired (revoked ones are left out).
    pub qualifications: Vec<Qualification>,
    /// Filed, suspended, terminated and completed projects, newest first.
    pub projects: Vec<PublicProjectRow>,
}
