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
    let started = std::time::Instant::now();
    let rows = if input == "-" {
        celltrail_stats::csv::read(std::io::stdin().lock())
    } else {
        // Read whole, in one allocation of the file's size.
        celltrail_stats::csv::parse(&std::fs::read(input).map_err(io_err)?)
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
    if rows.is_empty() {
        return Err(catalogue_error(lang, "signal_no_rows", &[]));
    }
    let read = started.elapsed();
    let counts = celltrail_stats::counts::count(&rows, stratified);
    let counted = started.elapsed();
    let analysis = celltrail_stats::signal::analyse_counts(&rows, &counts, &opts)
        .map_err(|e| catalogue_error(lang, e.code, &[("field", e.field.to_string())]));
    if std::env::var_os("CELLTRAIL_TIMINGS").is_some() {
        eprintln!(
            "read {:.2} s, count {:.2} s, fit and statistics {:.2} s",
            read.as_secs_f64(),
            (counted - read).as_secs_f64(),
            (started.elapsed() - counted).as_secs_f64()
        );
    }
    analysis
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

/// The quarter's DEMO, DRUG and REAC files in a folder (any case,
/// `.txt`), by the prefix FAERS gives them.
fn faers_files(dir: &str) -> CliResult<[std::path::PathBuf; 3]> {
    let mut found: [Option<std::path::PathBuf>; 3] = [None, None, None];
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let path = entry.map_err(io_err)?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_uppercase())
            .unwrap_or_default();
        if !name.ends_with(".TXT") {
            continue;
        }
        for (i, prefix) in ["DEMO", "DRUG", "REAC"].iter().enumerate() {
            if name.starts_with(prefix) && found[i].is_none() {
                found[i] = Some(path.clone());
            }
        }
    }
    match found {
        [Some(a), Some(b), Some(c)] => Ok([a, b, c]),
        _ => Err(CliError {
            code: "faers_files_missing",
            message: format!("{dir}: a FAERS quarter needs its DEMO, DRUG and REAC .txt files"),
            exit: 2,
        }),
    }
}

/// Loads a FAERS quarterly extract: rows into the reference data (unless
/// there is no store) and, when asked, into a CSV for `celltrail signal`.
/// Progress goes to standard error as a bar over the bytes of the three
/// files.
pub async fn import_faers(
    store: Option<&dyn celltrail_store::Store>,
    dir: &str,
    csv: Option<&str>,
    lang: Lang,
    progress: bool,
) -> CliResult<serde_json::Value> {
    use celltrail_stats::faers;
    let paths = faers_files(dir)?;
    let mut data = Vec::new();
    let mut files = Vec::new();
    for p in &paths {
        let bytes = std::fs::read(p).map_err(io_err)?;
        files.push((
            p.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            celltrail_ledger::sha256_hex(&bytes),
        ));
        data.push(bytes);
    }
    let total: u64 = data.iter().map(|d| d.len() as u64).sum::<u64>().max(1);
    let mut last = u64::MAX;
    let mut bar = |seen: u64| {
        if !progress {
            return;
        }
        let pct = seen * 100 / total;
        if pct != last {
            last = pct;
            let done = (pct / 2) as usize;
            eprint!(
                "\r[{}{}] {pct:>3}%",
                "#".repeat(done),
                " ".repeat(50 - done.min(50))
            );
        }
    };
    let opts = faers::Options {
        product: faers::ProductName::DrugName,
        strata: faers::Strata {
            sex: true,
            age_group: true,
            year: true,
        },
    };
    let rows = faers::read(
        faers::Input {
            name: &files[0].0,
            reader: &data[0][..],
        },
        faers::Input {
            name: &files[1].0,
            reader: &data[1][..],
        },
        faers::Input {
            name: &files[2].0,
            reader: &data[2][..],
        },
        &opts,
        &mut bar,
    )
    .map_err(|e| {
        let mut err = catalogue_error(lang, e.code, &[("line", e.line.to_string())]);
        err.message = format!("{}:{}: {}", e.file, e.line, err.message);
        err
    })?;
    if progress {
        eprintln!();
    }
    let mut tuples = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        let r = rows.report[i];
        let stratum = rows
            .report_stratum
            .get(r as usize)
            .map(|s| rows.strata.name(*s).to_string())
            .unwrap_or_default();
        tuples.push((
            rows.reports.name(r).to_string(),
            rows.products.name(rows.product[i]).to_string(),
            rows.events.name(rows.event[i]).to_string(),
            stratum,
        ));
    }
    if let Some(path) = csv {
        let f = std::fs::File::create(path).map_err(io_err)?;
        let mut w = std::io::BufWriter::new(f);
        use std::io::Write as _;
        let quote = |s: &str| {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        writeln!(w, "report_id,product,event,stratum").map_err(io_err)?;
        for (r, p, e, st) in &tuples {
            writeln!(w, "{},{},{},{}", quote(r), quote(p), quote(e), quote(st)).map_err(io_err)?;
        }
        w.flush().map_err(io_err)?;
    }
    let stored = match store {
        Some(s) => {
            celltrail_store::safety::load_reference(
                s,
                &celltrail_store::service::Actor::system(),
                "faers",
                files.clone(),
                &tuples,
                &celltrail_store::service::When::now(),
            )
            .await?
        }
        None => 0,
    };
    Ok(serde_json::json!({
        "dir": dir,
        "files": files,
        "reports": rows.reports.len(),
        "rows": tuples.len(),
        "stored": stored,
    }))
}
