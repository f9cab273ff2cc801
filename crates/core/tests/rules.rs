//! The rules engine on published cases: each profile describes a product
//! whose classification a regulator has published, and names that source.
//! Plus the engine's own properties: citations, determinism, dates,
//! unanswered questions, and what lint refuses.

use celltrail_core::rules::{builtin_sources, lint, Engine, PackSource, Profile};
use chrono::NaiveDate;
use serde_json::{json, Value};

fn engine() -> Engine {
    Engine::compile(&builtin_sources()).expect("built-in packs compile")
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn classify(e: &Engine, profile: Value, as_of: &str) -> Value {
    let p = Profile::from_json(&profile).expect("valid profile");
    e.report_json(&e.evaluate(&p, day(as_of), None))
}

/// An autologous CAR-T cell product: T cells transduced with a lentiviral
/// vector, infused intravenously against a haematological malignancy.
fn car_t() -> Value {
    json!({
        "cell_origin": "autologous", "material": "immune_cells", "manipulation": "substantial",
        "homologous_use": false, "genetic_modification": "integrating_vector", "in_vivo": false,
        "combined_with_device": false, "combined_with_other_article": false, "systemic_effect": true,
        "same_surgical_procedure": false, "regenerate_repair_replace_tissue": false,
        "serious_condition": true, "purpose": "marketed",
        "first_in_human": false, "paediatric": false, "life_threatening_no_alternative": false
    })
}

/// An in-vivo AAV gene therapy.
fn aav() -> Value {
    json!({
        "cell_origin": "none", "material": "viral_vector", "manipulation": "substantial",
        "homologous_use": false, "genetic_modification": "non_integrating_vector", "in_vivo": true,
        "combined_with_device": false, "combined_with_other_article": false, "systemic_effect": true,
        "same_surgical_procedure": false, "regenerate_repair_replace_tissue": false,
        "serious_condition": true, "purpose": "marketed",
        "first_in_human": false, "paediatric": false, "life_threatening_no_alternative": false
    })
}

fn with(base: Value, changes: Value) -> Value {
    let mut v = base;
    for (k, x) in changes.as_object().expect("object") {
        v[k] = x.clone();
    }
    v
}

/// An unmodified cell or tissue product; the caller sets the rest.
fn cells(changes: Value) -> Value {
    with(
        json!({
            "cell_origin": "autologous", "material": "somatic_cells", "manipulation": "minimal",
            "homologous_use": true, "genetic_modification": "none", "in_vivo": false,
            "combined_with_device": false, "combined_with_other_article": false, "systemic_effect": false,
            "same_surgical_procedure": false, "regenerate_repair_replace_tissue": false,
            "serious_condition": false, "purpose": "marketed",
            "first_in_human": false, "paediatric": false, "life_threatening_no_alternative": false
        }),
        changes,
    )
}

fn value<'a>(report: &'a Value, jurisdiction: &str, key: &str) -> &'a Value {
    &report["results"][jurisdiction][key]["value"]
}

// ---- United States

#[test]
fn us_car_t_is_a_351_biologic_with_15_years_of_follow_up() {
    // Tisagenlecleucel (Kymriah), the first CAR-T licensed by FDA under a
    // BLA (approval letter, 2017-08-30); lentiviral vectors integrate, and
    // the LTFU guidance (2020) recommends up to 15 years for them.
    let r = classify(&engine(), car_t(), "2026-11-23");
    assert_eq!(value(&r, "US", "tier"), "351_biologic");
    assert_eq!(value(&r, "US", "ltfu_years"), 15);
    assert_eq!(value(&r, "US", "rmat_eligible"), true);
}

#[test]
fn us_aav_gene_therapy_is_351_with_5_years_of_follow_up() {
    // Onasemnogene abeparvovec (Zolgensma), AAV9, licensed as a biologic in
    // 2019; the LTFU guidance (2020) recommends up to 5 years for AAV.
    let r = classify(&engine(), aav(), "2026-11-23");
    assert_eq!(value(&r, "US", "tier"), "351_biologic");
    assert_eq!(value(&r, "US", "ltfu_years"), 5);
}

#[test]
fn us_gene_edited_cells_are_followed_15_years() {
    // Exagamglogene autotemcel (Casgevy), CRISPR-edited autologous CD34+
    // cells, licensed under a BLA in 2023; genome editing: up to 15 years
    // (LTFU guidance 2020).
    let r = classify(
        &engine(),
        with(
            car_t(),
            json!({"material": "hsc", "genetic_modification": "gene_editing"}),
        ),
        "2026-11-23",
    );
    assert_eq!(value(&r, "US", "tier"), "351_biologic");
    assert_eq!(value(&r, "US", "ltfu_years"), 15);
}

#[test]
fn us_amniotic_membrane_covering_the_eye_is_a_361_hctp() {
    // FDA, "Regulatory Considerations for HCT/Ps: Minimal Manipulation and
    // Homologous Use" (July 2020): amniotic membrane preserved as sheets is
    // minimally manipulated (example 10-2a), and placed on the ocular
    // surface as a cover is homologous use (example 19-4c).
    let r = classify(
        &engine(),
        cells(json!({"cell_origin": "allogeneic", "material": "tissue"})),
        "2026-11-23",
    );
    assert_eq!(value(&r, "US", "tier"), "361_hctp");
    assert_eq!(value(&r, "US", "rmat_eligible"), false);
    assert_eq!(value(&r, "US", "ltfu_years"), 0);
}

#[test]
fn us_autologous_fat_graft_in_the_same_operation_is_excepted() {
    // FDA, "Same Surgical Procedure Exception under 21 CFR 1271.15(b)"
    // (2017): adipose tissue removed and re-implanted into the same patient
    // in the same operation, only rinsed and sized, is excepted.
    let r = classify(
        &engine(),
        cells(json!({"material": "tissue", "same_surgical_procedure": true})),
        "2026-11-23",
    );
    assert_eq!(value(&r, "US", "tier"), "excepted");
}

#[test]
fn us_enzymatically_digested_adipose_cells_are_351() {
    // FDA minimal-manipulation guidance (2017): stromal vascular fraction
    // obtained by enzymatic digestion of adipose tissue is more than
    // minimally manipulated, even when returned in the same operation.
    let r = classify(
        &engine(),
        cells(
            json!({"material": "adult_stem_cells", "manipulation": "substantial", "same_surgical_procedure": true, "homologous_use": false}),
        ),
        "2026-11-23",
    );
    assert_eq!(value(&r, "US", "tier"), "351_biologic");
}

#[test]
fn us_unrelated_cord_blood_for_haematopoietic_reconstitution_is_351() {
    // 21 CFR 1271.10(a)(4): a systemic effect in an unrelated allogeneic
    // recipient fails the fourth criterion; FDA licenses HPC, Cord Blood
    // under BLAs (e.g. Hemacord, 2011).
    let r = classify(
        &engine(),
        cells(
            json!({"cell_origin": "allogeneic", "material": "hsc", "systemic_effect": true, "serious_condition": true}),
        ),
        "2026-11-23",
    );
    assert_eq!(value(&r, "US", "tier"), "351_biologic");
    assert_eq!(value(&r, "US", "rmat_eligible"), true);
}

#[test]
fn us_autologous_activated_immune_cells_are_351() {
    // Sipuleucel-T (Provenge): autologous cells activated ex vivo with a
    // fusion protein, licensed under a BLA (2010): combined with another
    // article and more than minimally manipulated.
    let r = classify(
        &engine(),
        cells(
            json!({"material": "immune_cells", "manipulation": "substantial", "homologous_use": false, "combined_with_other_article": true, "systemic_effect": true, "serious_condition": true}),
        ),
        "2026-11-23",
    );
    assert_eq!(value(&r, "US", "tier"), "351_biologic");
}

#[test]
fn us_oncolytic_virus_is_351_and_not_rmat() {
    // Talimogene laherparepvec (Imlygic), a modified HSV-1, licensed as a
    // biologic (BLA, 2015); not a cell or tissue product.
    let r = classify(
        &engine(),
        with(aav(), json!({"material": "oncolytic_virus"})),
        "2026-11-23",
    );
    assert_eq!(value(&r, "US", "tier"), "351_biologic");
    assert_eq!(value(&r, "US", "rmat_eligible"), false);
}

#[test]
fn us_rules_do_not_apply_before_they_took_effect() {
    // RMAT designation came with the 21st Century Cures Act (2016-12-13) and
    // the LTFU guidance is of January 2020: before those days neither rule
    // fires, and the report says no rule decided.
    let r = classify(&engine(), car_t(), "2015-06-01");
    assert_eq!(value(&r, "US", "tier"), "351_biologic");
    assert_eq!(value(&r, "US", "rmat_eligible"), &Value::Null);
    assert_eq!(value(&r, "US", "ltfu_years"), &Value::Null);
}

// ---- European Union

#[test]
fn eu_car_t_is_a_gtmp() {
    // Kymriah EPAR (2018): an ATMP, gene therapy medicinal product; cells
    // genetically modified fall to GTMP under Art 2(5) of Reg 1394/2007.
    let r = classify(&engine(), car_t(), "2026-11-23");
    assert_eq!(value(&r, "EU", "atmp"), "GTMP");
}

#[test]
fn eu_aav_is_a_gtmp() {
    // Glybera (alipogene tiparvovec, AAV1) EPAR (2012), the first GTMP
    // authorised in the EU; Zolgensma EPAR (2020).
    let r = classify(&engine(), aav(), "2026-11-23");
    assert_eq!(value(&r, "EU", "atmp"), "GTMP");
}

#[test]
fn eu_gene_modified_stem_cells_are_a_gtmp_not_a_tep() {
    // Strimvelis EPAR (2016): autologous CD34+ cells transduced with a
    // retroviral vector: GTMP (Art 2(5) puts GTMP before sCTMP and TEP).
    let r = classify(
        &engine(),
        with(
            car_t(),
            json!({"material": "hsc", "regenerate_repair_replace_tissue": true}),
        ),
        "2026-11-23",
    );
    assert_eq!(value(&r, "EU", "atmp"), "GTMP");
}

#[test]
fn eu_expanded_limbal_stem_cells_for_the_cornea_are_a_tep() {
    // Holoclar EPAR (2015): ex vivo expanded autologous corneal epithelial
    // cells containing stem cells, to repair the cornea: a TEP.
    let r = classify(
        &engine(),
        cells(
            json!({"material": "adult_stem_cells", "manipulation": "substantial", "regenerate_repair_replace_tissue": true}),
        ),
        "2026-11-23",
    );
    assert_eq!(value(&r, "EU", "atmp"), "TEP");
}

#[test]
fn eu_cultured_chondrocytes_are_a_tep() {
    // ChondroCelect EPAR (2009): characterised autologous chondrocytes
    // expanded ex vivo, to repair cartilage: a TEP.
    let r = classify(
        &engine(),
        cells(json!({"manipulation": "substantial", "regenerate_repair_replace_tissue": true})),
        "2026-11-23",
    );
    assert_eq!(value(&r, "EU", "atmp"), "TEP");
}

#[test]
fn eu_chondrocytes_on_a_membrane_are_a_combined_atmp() {
    // MACI EPAR (2013): autologous cultured chondrocytes on a porcine
    // collagen membrane (a medical device): a combined ATMP (Art 2(1)(d)).
    let r = classify(
        &engine(),
        cells(
            json!({"manipulation": "substantial", "regenerate_repair_replace_tissue": true, "combined_with_device": true}),
        ),
        "2026-11-23",
    );
    assert_eq!(value(&r, "EU", "atmp"), "combined_ATMP");
}

#[test]
fn eu_activated_immune_cells_are_an_sctmp() {
    // Provenge EPAR (2013): autologous peripheral blood mononuclear cells
    // activated with a fusion protein, acting immunologically: an sCTMP.
    let r = classify(
        &engine(),
        cells(
            json!({"material": "immune_cells", "manipulation": "substantial", "homologous_use": false, "systemic_effect": true}),
        ),
        "2026-11-23",
    );
    assert_eq!(value(&r, "EU", "atmp"), "sCTMP");
}

#[test]
fn eu_minimally_manipulated_cells_for_the_same_function_are_not_atmps() {
    // Reg 1394/2007 Annex I: cell separation, concentration and
    // cryopreservation are not substantial manipulations; bone marrow
    // concentrate given for haematopoietic reconstitution serves the same
    // essential function: not an ATMP.
    let r = classify(
        &engine(),
        cells(json!({"material": "hsc", "systemic_effect": true})),
        "2026-11-23",
    );
    assert_eq!(value(&r, "EU", "atmp"), "not_ATMP");
    assert_eq!(value(&r, "EU", "hospital_exemption_possible"), false);
}

#[test]
fn eu_academic_car_t_may_use_the_hospital_exemption() {
    // ARI-0001 (varnimcabtagene autoleucel), a CAR-T made by Hospital Clínic
    // Barcelona and authorised by the Spanish agency under the hospital
    // exemption (2021): a GTMP prepared non-routinely for individual
    // patients (Art 28(2) of Reg 1394/2007).
    let r = classify(
        &engine(),
        with(car_t(), json!({"purpose": "hospital_exemption"})),
        "2026-11-23",
    );
    assert_eq!(value(&r, "EU", "atmp"), "GTMP");
    assert_eq!(value(&r, "EU", "hospital_exemption_possible"), true);
    // The basis names the ATMP rule it relies on, after its own rule.
    let basis = r["results"]["EU"]["hospital_exemption_possible"]["basis"]
        .as_array()
        .expect("basis");
    let rules: Vec<&str> = basis.iter().map(|b| b["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, ["eu.he.possible", "eu.atmp.gtmp"]);
}

#[test]
fn eu_rules_are_not_law_before_the_regulation_applied() {
    // Reg 1394/2007 applies from 2008-12-30.
    let r = classify(&engine(), car_t(), "2008-12-29");
    assert_eq!(value(&r, "EU", "atmp"), &Value::Null);
    let r = classify(&engine(), car_t(), "2008-12-30");
    assert_eq!(value(&r, "EU", "atmp"), "GTMP");
}

// ---- published cases, as a table

/// One published classification: what source says it, the product as a
/// profile, the day, and the conclusions the source gives.
struct Case {
    source: &'static str,
    profile: Value,
    as_of: &'static str,
    expect: &'static [(&'static str, &'static str, Value)],
}

fn case(
    source: &'static str,
    profile: Value,
    expect: &'static [(&'static str, &'static str, Value)],
) -> Case {
    Case {
        source,
        profile,
        as_of: "2026-11-23",
        expect,
    }
}

fn s(v: &str) -> Value {
    json!(v)
}

/// Cases from the regulators' own example lists.
fn published_cases() -> Vec<Case> {
    let mm_hu = "FDA, Regulatory Considerations for HCT/Ps: Minimal Manipulation and Homologous Use (July 2020), example";
    let cat = "EMA/CAT summaries of scientific recommendations on ATMP classification, adopted";
    vec![
        // United States: minimal manipulation (MM) and homologous use (HU) examples.
        case(leak(format!("{mm_hu} 10-2b: amniotic membrane ground and lyophilised is more than MM")),
            cells(json!({"cell_origin": "allogeneic", "material": "tissue", "manipulation": "substantial"})),
            &[]).expecting(&[("US", "tier", "351_biologic")]),
        case(leak(format!("{mm_hu} 19-4b: amniotic membrane for wound healing is not HU")),
            cells(json!({"cell_origin": "allogeneic", "material": "tissue", "homologous_use": false})),
            &[]).expecting(&[("US", "tier", "351_biologic")]),
        case(leak(format!("{mm_hu} 19-2: a corneal graft for corneal blindness is HU, structural tissue MM")),
            cells(json!({"cell_origin": "allogeneic", "material": "tissue"})),
            &[]).expecting(&[("US", "tier", "361_hctp")]),
        case(leak(format!("{mm_hu} 10-1b and 20-2: bone chips for bony voids are MM and HU")),
            cells(json!({"cell_origin": "allogeneic", "material": "tissue"})),
            &[]).expecting(&[("US", "tier", "361_hctp")]),
        case(leak(format!("{mm_hu} 19-5: autologous pericardium replacing a heart valve is not HU")),
            cells(json!({"material": "tissue", "homologous_use": false})),
            &[]).expecting(&[("US", "tier", "351_biologic")]),
        case(leak(format!("{mm_hu} 19-6a: adipose tissue filling facial voids is HU")),
            cells(json!({"material": "tissue"})),
            &[]).expecting(&[("US", "tier", "361_hctp")]),
        case(leak(format!("{mm_hu} 19-6b: adipose-derived HCT/P for arthritis is not HU")),
            cells(json!({"material": "adult_stem_cells", "homologous_use": false})),
            &[]).expecting(&[("US", "tier", "351_biologic")]),
        case(leak(format!("{mm_hu} 16-1a and 19-1a: selected peripheral blood HPCs for haematopoietic reconstitution, autologous")),
            cells(json!({"material": "hsc", "systemic_effect": true})),
            &[]).expecting(&[("US", "tier", "361_hctp")]),
        case(leak(format!("{mm_hu} 16-1c: cord blood expanded in culture is more than MM")),
            cells(json!({"cell_origin": "allogeneic", "material": "hsc", "manipulation": "substantial", "systemic_effect": true})),
            &[]).expecting(&[("US", "tier", "351_biologic")]),
        case(leak(format!("{mm_hu} 19-1c: cord blood given for cerebral palsy is not HU")),
            cells(json!({"cell_origin": "allogeneic", "material": "hsc", "homologous_use": false, "systemic_effect": true})),
            &[]).expecting(&[("US", "tier", "351_biologic")]),
        case(leak(format!("{mm_hu} 11-1: decellularised adipose matrix is more than MM")),
            cells(json!({"cell_origin": "allogeneic", "material": "tissue", "manipulation": "substantial"})),
            &[]).expecting(&[("US", "tier", "351_biologic")]),
        // European Union: CAT classification recommendations.
        case(leak(format!("{cat} 2019-03-28: rAAV8 carrying human RPGR for X-linked retinitis pigmentosa")),
            aav(), &[]).expecting(&[("EU", "atmp", "GTMP")]),
        case(leak(format!("{cat} 2019-03-28: ex vivo expanded allogeneic bone-marrow MSC for GvHD")),
            cells(json!({"cell_origin": "allogeneic", "material": "msc", "manipulation": "substantial", "homologous_use": false, "systemic_effect": true})),
            &[]).expecting(&[("EU", "atmp", "sCTMP")]),
        case(leak(format!("{cat} 2019-03-28: a DNA plasmid encoding human IL-12 for melanoma")),
            with(aav(), json!({"material": "nucleic_acid"})), &[]).expecting(&[("EU", "atmp", "GTMP")]),
        case(leak(format!("{cat} 2016-10-13: autologous anti-BCMA CAR-T cells")),
            car_t(), &[]).expecting(&[("EU", "atmp", "GTMP")]),
        case(leak(format!("{cat} 2016-10-13: cultured Wharton's-jelly MSC for myocardial repair")),
            cells(json!({"cell_origin": "allogeneic", "material": "msc", "manipulation": "substantial", "regenerate_repair_replace_tissue": true})),
            &[]).expecting(&[("EU", "atmp", "TEP")]),
        case(leak(format!("{cat} 2016-10-13: culture-expanded autologous adipose MSC for cardiac repair")),
            cells(json!({"material": "msc", "manipulation": "substantial", "regenerate_repair_replace_tissue": true})),
            &[]).expecting(&[("EU", "atmp", "TEP")]),
        case(leak(format!("{cat} 2016-10-13: an autologous skin cell suspension for burns")),
            cells(json!({"manipulation": "substantial", "regenerate_repair_replace_tissue": true})),
            &[]).expecting(&[("EU", "atmp", "TEP")]),
        case(leak(format!("{cat} 2016-10-13: recombinant MVA encoding MUC1 and IL-2 for lung cancer (not a vaccine against an infectious disease)")),
            with(aav(), json!({"genetic_modification": "non_integrating_vector"})), &[]).expecting(&[("EU", "atmp", "GTMP")]),
        // United Kingdom: MHRA applies the EU classification examples.
        case("MHRA, ATMP regulation and licensing (gov.uk): EMA classification examples apply in the UK; Kymriah is a GTMP",
            car_t(), &[]).expecting(&[("UK", "atmp", "GTMP"), ("UK", "irp_available", "true")]),
        case("MHRA, as above: Holoclar (expanded limbal stem cells) is a TEP; under the hospital exemption (HMR 2012 reg 171)",
            cells(json!({"material": "adult_stem_cells", "manipulation": "substantial", "regenerate_repair_replace_tissue": true, "purpose": "hospital_exemption"})),
            &[]).expecting(&[("UK", "atmp", "TEP"), ("UK", "hospital_exemption_possible", "true"), ("UK", "irp_available", "false")]),
        case("MHRA, as above: minimally manipulated cells for the same function are not ATMPs",
            cells(json!({"material": "hsc"})), &[]).expecting(&[("UK", "atmp", "not_ATMP")]),
        // Japan: the Act on the Safety of Regenerative Medicine classes.
        case("ASRM Art 2(5) and its Ordinance: iPS-cell-derived cells in clinical research are Class I",
            cells(json!({"material": "ipsc_derived", "manipulation": "substantial", "purpose": "research"})),
            &[]).expecting(&[("JP", "asrm_class", "I"), ("JP", "review_committee", "certified_special_committee")]),
        case("ASRM Art 2(5): gene-transduced cells (CAR-T in clinical research) are Class I",
            with(car_t(), json!({"purpose": "research"})), &[]).expecting(&[("JP", "asrm_class", "I")]),
        case("ASRM Art 2(6): cultured autologous adipose-derived stem cells are Class II",
            cells(json!({"material": "adult_stem_cells", "manipulation": "substantial", "purpose": "research"})),
            &[]).expecting(&[("JP", "asrm_class", "II"), ("JP", "review_committee", "certified_special_committee")]),
        case("ASRM Art 2(7): autologous activated lymphocytes used for their own function are Class III",
            cells(json!({"material": "immune_cells", "manipulation": "substantial", "purpose": "research"})),
            &[]).expecting(&[("JP", "asrm_class", "III"), ("JP", "review_committee", "certified_committee")]),
        case("PMD Act Art 23-26(1): a regenerative medical product seeking approval may get a conditional, time-limited approval of up to 7 years (as HeartSheet did in 2015)",
            cells(json!({"material": "msc", "manipulation": "substantial", "purpose": "registration_trial"})),
            &[]).expecting(&[("JP", "asrm_class", "outside_asrm"), ("JP", "conditional_approval_max_years", "7")]),
        // China: the dual track, and the default grading's factors (seed 000:
        // risk tiers set institution requirements; Tianjin FTZ 2025 grades
        // high, medium and low).
        case("Decree 818 Art 3 and Chapter 2: a hospital's CAR-T clinical research is filed with the NHC; gene modification grades it high",
            with(car_t(), json!({"purpose": "research"})),
            &[]).expecting(&[("CN", "route", "nhc_clinical_research"), ("CN", "risk_tier", "high"), ("CN", "ethics_route", "special_expert_committee")]),
        case("Drug Administration Law Art 19: a registration trial goes to NMPA",
            car_t(), &[]).expecting(&[("CN", "route", "nmpa_drug")]),
        case("Drug Administration Law Art 23: expanded use during a trial is on the drug route",
            with(car_t(), json!({"purpose": "expanded_access"})), &[]).expecting(&[("CN", "route", "nmpa_drug")]),
        case("Stem-cell measures 2015 Art 7: autologous MSC research needs a grade III-A hospital filed for stem-cell research; expansion grades it medium",
            cells(json!({"material": "msc", "manipulation": "substantial", "purpose": "research"})),
            &[]).expecting(&[("CN", "risk_tier", "medium"), ("CN", "ethics_route", "full_committee")]),
        case("Default grading: autologous, minimally manipulated, homologous, local use is low risk; simplified ethics review (2023 measures)",
            cells(json!({"material": "tissue", "purpose": "research"})),
            &[]).expecting(&[("CN", "risk_tier", "low"), ("CN", "ethics_route", "simplified")]),
    ]
}

impl Case {
    fn expecting(mut self, expect: &'static [(&'static str, &'static str, &'static str)]) -> Case {
        self.expect = leak_expect(expect);
        self
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Expected values as JSON: "true"/"false" and numbers as such.
fn leak_expect(
    e: &'static [(&'static str, &'static str, &'static str)],
) -> &'static [(&'static str, &'static str, Value)] {
    let v: Vec<(&str, &str, Value)> = e
        .iter()
        .map(|(j, k, v)| (*j, *k, serde_json::from_str(v).unwrap_or_else(|_| s(v))))
        .collect();
    Box::leak(v.into_boxed_slice())
}

#[test]
fn published_cases_classify_as_their_sources_say() {
    let e = engine();
    let cases = published_cases();
    for c in &cases {
        let r = classify(&e, c.profile.clone(), c.as_of);
        for (j, k, want) in c.expect {
            assert_eq!(value(&r, j, k), want, "{j}.{k} for: {}", c.source);
        }
    }
    // With the named tests above, at least 40 published cases in all.
    assert!(cases.len() >= 30, "{}", cases.len());
}

#[test]
fn institution_conditions_follow_the_tier_and_stem_cell_rules() {
    // Stem-cell research adds the stem-cell research filing (2015 measures
    // Art 7) to what the tier asks.
    let e = engine();
    let r = classify(
        &e,
        cells(json!({"material": "msc", "manipulation": "substantial", "purpose": "research"})),
        "2026-11-23",
    );
    let conditions = value(&r, "CN", "institution_conditions");
    assert!(
        conditions
            .as_array()
            .unwrap()
            .contains(&s("stem_cell_research_filing")),
        "{conditions}"
    );
    let r = classify(
        &e,
        cells(json!({"material": "tissue", "purpose": "research"})),
        "2026-11-23",
    );
    assert_eq!(
        value(&r, "CN", "institution_conditions"),
        &json!(["academic_committee", "ethics_committee"])
    );
}

#[test]
fn the_cde_draft_is_upcoming_never_law() {
    // CDE's June 2025 scope is a draft for comment: its category appears
    // under "upcoming", and CN.cde_category stays undecided.
    let r = classify(&engine(), car_t(), "2026-11-23");
    assert_eq!(value(&r, "CN", "cde_category"), &Value::Null);
    let upcoming: Vec<&Value> = r["upcoming"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["conclusion"] == "cde_category")
        .collect();
    assert_eq!(upcoming.len(), 1);
    assert_eq!(upcoming[0]["value"], "cell_therapy_genetically_modified");
    assert_eq!(upcoming[0]["status"], "draft");
}

#[test]
fn japan_brought_in_vivo_gene_therapy_in_on_2025_05_31() {
    // Act No. 51 of 2024, in force 2025-05-31: before, in vivo gene therapy
    // without cells was outside the Act; from then, the Act covers it (the
    // class it takes is not yet in the pack, so no class is claimed).
    let e = engine();
    let research_aav = with(aav(), json!({"purpose": "research"}));
    let r = classify(&e, research_aav.clone(), "2025-05-30");
    assert_eq!(value(&r, "JP", "asrm_class"), "outside_asrm");
    let r = classify(&e, research_aav, "2025-05-31");
    assert_eq!(value(&r, "JP", "asrm_class"), &Value::Null);
}

// ---- engine properties

#[test]
fn unanswered_questions_are_named_not_guessed() {
    let r = classify(&engine(), json!({"material": "msc"}), "2026-11-23");
    assert_eq!(value(&r, "US", "tier"), &Value::Null);
    assert_eq!(r["results"]["US"]["tier"]["needs"], json!(["cell_origin"]));
    assert_eq!(
        r["results"]["EU"]["atmp"]["needs"],
        json!(["genetic_modification"])
    );
}

#[test]
fn profiles_with_unknown_fields_or_values_are_refused_with_the_field() {
    let e = Profile::from_json(&json!({"cell_orign": "autologous"})).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        ("profile_field_unknown", "cell_orign")
    );
    let e = Profile::from_json(&json!({"manipulation": "moderate"})).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        ("profile_value_invalid", "manipulation")
    );
    let e = Profile::from_json(&json!({"in_vivo": "yes"})).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        ("profile_value_invalid", "in_vivo")
    );
    assert_eq!(
        Profile::from_json(&json!([1])).unwrap_err().code,
        "profile_invalid"
    );
}

#[test]
fn built_in_packs_pass_lint() {
    assert_eq!(lint(&builtin_sources()), vec![]);
}

fn pack(rules: &str) -> PackSource {
    PackSource {
        file: "test.json".into(),
        text: format!(
            r#"{{
  "pack": "test", "version": "1", "jurisdiction": "US",
  "title": {{"zh": "测试", "en": "Test"}},
  "instruments": [{{"id": "us.test", "title": {{"zh": "测试", "en": "Test"}}}}],
  "rules": [
{rules}
  ]
}}"#
        ),
    }
}

fn rule(id: &str, priority: i32, when: &str, then: &str, extra: &str) -> String {
    format!(
        r#"    {{
      "id": "{id}", "instrument": "us.test", "article": "§1",
      "effective_from": "2020-01-01", "status": "in_force", "priority": {priority},
      "when": {when}, "then": {then},
      "explain": {{"zh": "说明", "en": "Why"}}{extra}
    }}"#
    )
}

#[test]
fn lint_names_file_line_and_code() {
    // An unknown profile field, on the rule's own line.
    let src = pack(&rule(
        "r.a",
        1,
        r#"{"field": "colour", "is": "red"}"#,
        r#"{"tier": "361_hctp"}"#,
        "",
    ));
    let problems = lint(&[src]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        (
            problems[0].file.as_str(),
            problems[0].line,
            problems[0].code
        ),
        ("test.json", 7, "rule_field_unknown")
    );

    // A missing translation.
    let src = pack(
        &rule("r.b", 1, "true", r#"{"tier": "361_hctp"}"#, "")
            .replace(r#""en": "Why""#, r#""en": " ""#),
    );
    assert_eq!(lint(&[src])[0].code, "rule_translation_missing");

    // A missing citation.
    let src = pack(
        &rule("r.c", 1, "true", r#"{"tier": "361_hctp"}"#, "")
            .replace(r#""article": "§1""#, r#""article": """#),
    );
    assert_eq!(lint(&[src])[0].code, "rule_citation_missing");

    // A member the format does not know, with the line serde found it on.
    let src = pack(&rule(
        "r.d",
        1,
        "true",
        r#"{"tier": "361_hctp"}"#,
        r#", "colour": "red""#,
    ));
    let p = &lint(&[src])[0];
    assert_eq!((p.code, p.line), ("pack_invalid", 10));

    // A conclusion value outside its set.
    let src = pack(&rule("r.e", 1, "true", r#"{"tier": "tier_9"}"#, ""));
    assert_eq!(lint(&[src])[0].code, "rule_conclusion_value_invalid");
}

#[test]
fn lint_finds_rules_that_contradict_each_other() {
    // Same priority, overlapping dates, different tiers, and a profile
    // (minimal manipulation, autologous) for which both hold.
    let a = rule(
        "r.minimal",
        5,
        r#"{"field": "manipulation", "is": "minimal"}"#,
        r#"{"tier": "361_hctp"}"#,
        "",
    );
    let b = rule(
        "r.autologous",
        5,
        r#"{"field": "cell_origin", "is": "autologous"}"#,
        r#"{"tier": "351_biologic"}"#,
        "",
    );
    let problems = lint(&[pack(&format!("{a},\n{b}"))]);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        (problems[0].code, problems[0].line),
        ("rules_contradict", 7)
    );
    assert!(
        problems[0].message.contains("r.autologous"),
        "{}",
        problems[0].message
    );

    // Disjoint conditions, different priorities, or dates that do not
    // overlap are not contradictions.
    let b = rule(
        "r.substantial",
        5,
        r#"{"field": "manipulation", "is": "substantial"}"#,
        r#"{"tier": "351_biologic"}"#,
        "",
    );
    assert_eq!(lint(&[pack(&format!("{a},\n{b}"))]), vec![]);
    let b = rule(
        "r.lower",
        4,
        r#"{"field": "cell_origin", "is": "autologous"}"#,
        r#"{"tier": "351_biologic"}"#,
        "",
    );
    assert_eq!(lint(&[pack(&format!("{a},\n{b}"))]), vec![]);
    let a_old = rule(
        "r.old",
        5,
        r#"{"field": "manipulation", "is": "minimal"}"#,
        r#"{"tier": "361_hctp"}"#,
        r#", "effective_to": "2020-06-30""#,
    );
    let b_new = rule(
        "r.new",
        5,
        r#"{"field": "cell_origin", "is": "autologous"}"#,
        r#"{"tier": "351_biologic"}"#,
        "",
    )
    .replace("2020-01-01", "2020-07-01");
    assert_eq!(lint(&[pack(&format!("{a_old},\n{b_new}"))]), vec![]);
}

#[test]
fn drafts_are_upcoming_and_never_law() {
    let law = rule("r.law", 1, "true", r#"{"tier": "351_biologic"}"#, "");
    let draft =
        rule("r.draft", 9, "true", r#"{"tier": "361_hctp"}"#, "").replace("in_force", "draft");
    let later = rule("r.later", 8, "true", r#"{"tier": "excepted"}"#, "")
        .replace("2020-01-01", "2030-01-01");
    let e = Engine::compile(&[pack(&format!("{law},\n{draft},\n{later}"))]).expect("compiles");
    let report = e.report_json(&e.evaluate(&Profile::empty(), day("2026-11-23"), None));
    assert_eq!(report["results"]["US"]["tier"]["value"], "351_biologic");
    let upcoming: Vec<(&str, &str)> = report["upcoming"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["basis"][0]["rule"].as_str().unwrap(),
                u["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(upcoming, [("r.draft", "draft"), ("r.later", "in_force")]);
    // On 2030-01-01 the later rule is law and outranks the other.
    let report = e.report_json(&e.evaluate(&Profile::empty(), day("2030-01-01"), None));
    assert_eq!(report["results"]["US"]["tier"]["value"], "excepted");
}

// ---- properties over any profile and day

mod props {
    use super::*;
    use celltrail_core::rules::schema::{Kind, FIELDS};
    use proptest::prelude::*;

    /// Any profile: each field answered with one of its values, or (unless
    /// `complete`) not.
    fn answers(complete: bool) -> impl Strategy<Value = Value> {
        let fields: Vec<BoxedStrategy<Option<Value>>> = FIELDS
            .iter()
            .map(|f| {
                let values: Vec<Value> = match f.kind {
                    Kind::Enum(vs) => vs.iter().map(|v| json!(v)).collect(),
                    _ => vec![json!(true), json!(false)],
                };
                let one = proptest::sample::select(values);
                if complete {
                    one.prop_map(Some).boxed()
                } else {
                    proptest::option::of(one).boxed()
                }
            })
            .collect();
        fields.prop_map(|answers| {
            let mut m = serde_json::Map::new();
            for (f, a) in FIELDS.iter().zip(answers) {
                if let Some(a) = a {
                    m.insert(f.name.to_string(), a);
                }
            }
            Value::Object(m)
        })
    }

    fn profile() -> impl Strategy<Value = Value> {
        answers(false)
    }

    fn any_day() -> impl Strategy<Value = NaiveDate> {
        // 2000-01-01 .. 2035-12-31
        (0i64..13_149).prop_map(|d| day("2000-01-01") + chrono::Duration::days(d))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn every_conclusion_cites_rules_in_force_that_day(p in profile(), as_of in any_day()) {
            let e = engine();
            let profile = Profile::from_json(&p).expect("valid");
            let report = e.report_json(&e.evaluate(&profile, as_of, None));
            for (_, conclusions) in report["results"].as_object().unwrap() {
                for (_, c) in conclusions.as_object().unwrap() {
                    if c["value"].is_null() {
                        continue;
                    }
                    let basis = c["basis"].as_array().unwrap();
                    prop_assert!(!basis.is_empty(), "{c}");
                    for b in basis {
                        prop_assert!(!b["instrument"].as_str().unwrap().is_empty());
                        prop_assert!(!b["article"].as_str().unwrap().is_empty());
                        let rule = e.rules().iter().find(|r| r.id == b["rule"]).unwrap();
                        prop_assert!(rule.in_force_on(as_of), "{} cited on {as_of}", rule.id);
                    }
                }
            }
            for u in report["upcoming"].as_array().unwrap() {
                let rule = e.rules().iter().find(|r| r.id == u["basis"][0]["rule"]).unwrap();
                prop_assert!(!rule.in_force_on(as_of), "{} is law, not upcoming", rule.id);
            }
        }

        #[test]
        fn reports_are_deterministic(p in profile(), as_of in any_day()) {
            let profile = Profile::from_json(&p).expect("valid");
            let a = engine().report_json(&engine().evaluate(&profile, as_of, None));
            let b = engine().report_json(&engine().evaluate(&profile, as_of, None));
            prop_assert_eq!(a, b);
        }

        #[test]
        fn a_fully_answered_profile_leaves_no_question(p in answers(true), as_of in any_day()) {
            let profile = Profile::from_json(&p).expect("valid");
            let report = engine().report_json(&engine().evaluate(&profile, as_of, None));
            prop_assert!(!report.to_string().contains("\"needs\""), "{report}");
        }

        #[test]
        fn profile_parser_never_panics(text in "\\PC{0,200}") {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                let _ = Profile::from_json(&v);
            }
        }
    }
}

#[test]
fn every_field_value_and_conclusion_has_a_label_in_both_languages() {
    use celltrail_core::i18n::catalog;
    use celltrail_core::Lang;
    let missing: Vec<String> = celltrail_core::rules::schema::label_keys()
        .into_iter()
        .filter(|k| !catalog().contains(Lang::Zh, k) || !catalog().contains(Lang::En, k))
        .collect();
    assert_eq!(missing, Vec::<String>::new());
}

#[test]
fn a_regional_pack_replaces_the_national_rules_it_covers() {
    // A region's own grading (as Tianjin FTZ issued one in 2025) replaces
    // the national risk_tier rules for profiles classified under it, while
    // every conclusion it does not draw still comes from the national packs.
    let regional = PackSource {
        file: "tianjin.json".into(),
        text: r#"{
  "pack": "cn.tianjin_ftz", "version": "1", "jurisdiction": "CN", "region": "tianjin_ftz",
  "title": {"zh": "天津自贸区分类分级（测试）", "en": "Tianjin FTZ grading (test)"},
  "instruments": [{"id": "cn.tianjin2025", "title": {"zh": "天津自贸区标准", "en": "Tianjin FTZ standard"}}],
  "rules": [{
    "id": "tj.risk.all_medium", "instrument": "cn.tianjin2025", "article": "第一条",
    "effective_from": "2025-11-18", "status": "in_force", "priority": 1,
    "when": true, "then": {"risk_tier": "medium"},
    "explain": {"zh": "测试：一律中风险。", "en": "Test: everything is medium risk."}
  }]
}"#
        .into(),
    };
    let mut sources = builtin_sources();
    sources.push(regional);
    let e = Engine::compile(&sources).expect("compiles");
    assert_eq!(
        e.regions(),
        vec![("CN".to_string(), "tianjin_ftz".to_string())]
    );
    let p = Profile::from_json(&with(car_t(), json!({"purpose": "research"}))).unwrap();
    let national = e.report_json(&e.evaluate(&p, day("2026-11-23"), None));
    let tianjin = e.report_json(&e.evaluate(&p, day("2026-11-23"), Some("tianjin_ftz")));
    assert_eq!(value(&national, "CN", "risk_tier"), "high");
    assert_eq!(value(&tianjin, "CN", "risk_tier"), "medium");
    assert_eq!(
        tianjin["results"]["CN"]["risk_tier"]["basis"][0]["rule"],
        "tj.risk.all_medium"
    );
    // What follows from the tier follows the region's tier.
    assert_eq!(value(&tianjin, "CN", "ethics_route"), "full_committee");
    assert_eq!(value(&tianjin, "CN", "route"), "nhc_clinical_research");
    assert_eq!(value(&tianjin, "US", "tier"), "351_biologic");
    // And lint does not weigh the region's rules against the nation's.
    assert_eq!(lint(&sources), vec![]);
}
