//! What a profile may say and what a pack may conclude: the closed
//! vocabulary that packs are checked against.

/// The kind of values a profile field or a conclusion takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One of a closed set of names.
    Enum(&'static [&'static str]),
    Bool,
    /// A whole number (years, days).
    Int,
    /// A list of names from a closed set (e.g. institution conditions).
    Codes(&'static [&'static str]),
}

/// A profile field: its name and values.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
}

const fn e(name: &'static str, values: &'static [&'static str]) -> Field {
    Field {
        name,
        kind: Kind::Enum(values),
    }
}

const fn b(name: &'static str) -> Field {
    Field {
        name,
        kind: Kind::Bool,
    }
}

/// Every profile field, in a fixed order (a field's index is its slot in a
/// parsed profile). A bool field holds 0 (false) or 1 (true).
pub const FIELDS: &[Field] = &[
    e(
        "cell_origin",
        &["autologous", "allogeneic", "xenogeneic", "none"],
    ),
    e(
        "material",
        &[
            "somatic_cells",
            "adult_stem_cells",
            "msc",
            "hsc",
            "ipsc_derived",
            "esc_derived",
            "immune_cells",
            "tissue",
            "viral_vector",
            "nucleic_acid",
            "oncolytic_virus",
        ],
    ),
    e("manipulation", &["minimal", "substantial"]),
    b("homologous_use"),
    e(
        "genetic_modification",
        &[
            "none",
            "integrating_vector",
            "non_integrating_vector",
            "gene_editing",
            "mrna",
        ],
    ),
    b("in_vivo"),
    b("combined_with_device"),
    b("combined_with_other_article"),
    b("systemic_effect"),
    b("same_surgical_procedure"),
    b("regenerate_repair_replace_tissue"),
    b("serious_condition"),
    b("life_threatening_no_alternative"),
    b("first_in_human"),
    b("paediatric"),
    e(
        "purpose",
        &[
            "research",
            "registration_trial",
            "hospital_exemption",
            "expanded_access",
            "marketed",
        ],
    ),
];

/// The index of a profile field by name.
pub fn field_index(name: &str) -> Option<usize> {
    FIELDS.iter().position(|f| f.name == name)
}

/// The jurisdictions a report covers, in report order.
pub const JURISDICTIONS: &[&str] = &["CN", "US", "EU", "JP", "UK"];

/// A conclusion a pack of a jurisdiction may draw.
#[derive(Clone, Copy, Debug)]
pub struct ConclusionKey {
    pub jurisdiction: &'static str,
    pub name: &'static str,
    pub kind: Kind,
}

const fn c(jurisdiction: &'static str, name: &'static str, kind: Kind) -> ConclusionKey {
    ConclusionKey {
        jurisdiction,
        name,
        kind,
    }
}

/// Institution conditions a risk tier can require.
pub const INSTITUTION_CONDITIONS: &[&str] = &[
    "grade_3a",
    "gcp_site",
    "stem_cell_research_filing",
    "cell_preparation_facility",
    "research_staff_ratio",
    "track_record",
    "academic_committee",
    "ethics_committee",
];

/// Every conclusion key. Within a jurisdiction the order is the order of
/// evaluation: a rule may look at conclusions listed before its own.
pub const CONCLUSIONS: &[ConclusionKey] = &[
    c(
        "CN",
        "route",
        Kind::Enum(&["nhc_clinical_research", "nmpa_drug"]),
    ),
    c(
        "CN",
        "cde_category",
        Kind::Enum(&[
            "cell_therapy_unmodified",
            "cell_therapy_genetically_modified",
            "cell_therapy_gene_edited",
            "gene_therapy",
            "oncolytic_virus",
            "tissue_engineering",
            "not_advanced_therapy",
        ]),
    ),
    c("CN", "risk_tier", Kind::Enum(&["high", "medium", "low"])),
    c(
        "CN",
        "institution_conditions",
        Kind::Codes(INSTITUTION_CONDITIONS),
    ),
    c(
        "CN",
        "ethics_route",
        Kind::Enum(&["full_committee", "simplified", "special_expert_committee"]),
    ),
    c(
        "US",
        "tier",
        Kind::Enum(&["361_hctp", "351_biologic", "excepted"]),
    ),
    c("US", "rmat_eligible", Kind::Bool),
    c("US", "ltfu_years", Kind::Int),
    c(
        "EU",
        "atmp",
        Kind::Enum(&["GTMP", "sCTMP", "TEP", "combined_ATMP", "not_ATMP"]),
    ),
    c("EU", "hospital_exemption_possible", Kind::Bool),
    c(
        "JP",
        "asrm_class",
        Kind::Enum(&["I", "II", "III", "outside_asrm"]),
    ),
    c(
        "JP",
        "review_committee",
        Kind::Enum(&["certified_special_committee", "certified_committee", "none"]),
    ),
    c("JP", "conditional_approval_max_years", Kind::Int),
    c(
        "UK",
        "atmp",
        Kind::Enum(&["GTMP", "sCTMP", "TEP", "combined_ATMP", "not_ATMP"]),
    ),
    c("UK", "irp_available", Kind::Bool),
    c("UK", "hospital_exemption_possible", Kind::Bool),
];

/// The index of a conclusion key of a jurisdiction.
pub fn conclusion_index(jurisdiction: &str, name: &str) -> Option<usize> {
    CONCLUSIONS
        .iter()
        .position(|k| k.jurisdiction == jurisdiction && k.name == name)
}

/// Message-catalogue keys for what the classification screens show, in one
/// place (keys are lower case).
pub mod keys {
    pub fn field(name: &str) -> String {
        format!("rules.field.{name}")
    }

    pub fn value(field: &str, value: &str) -> String {
        format!("rules.value.{field}.{value}")
    }

    pub fn jurisdiction(j: &str) -> String {
        format!("rules.jurisdiction.{}", j.to_lowercase())
    }

    pub fn conclusion(j: &str, name: &str) -> String {
        format!("rules.conclusion.{}.{name}", j.to_lowercase())
    }

    /// A conclusion's enum value, or (for a code list) one of its codes.
    pub fn conclusion_value(value: &str, is_code: bool) -> String {
        if is_code {
            format!("rules.code.{value}")
        } else {
            format!("rules.cvalue.{}", value.to_lowercase())
        }
    }

    pub fn boolean(b: bool) -> &'static str {
        if b {
            "rules.bool.true"
        } else {
            "rules.bool.false"
        }
    }
}

/// Every catalogue key the classification screens can ask for.
pub fn label_keys() -> Vec<String> {
    let mut out = vec![
        keys::boolean(true).to_string(),
        keys::boolean(false).to_string(),
    ];
    for f in FIELDS {
        out.push(keys::field(f.name));
        if let Kind::Enum(values) = f.kind {
            out.extend(values.iter().map(|v| keys::value(f.name, v)));
        }
    }
    for j in JURISDICTIONS {
        out.push(keys::jurisdiction(j));
    }
    for c in CONCLUSIONS {
        out.push(keys::conclusion(c.jurisdiction, c.name));
        match c.kind {
            Kind::Enum(values) => {
                out.extend(values.iter().map(|v| keys::conclusion_value(v, false)))
            }
            Kind::Codes(codes) => out.extend(codes.iter().map(|v| keys::conclusion_value(v, true))),
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}
