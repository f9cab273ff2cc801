//! `celltrail`: serve the platform, load the demo, migrate, verify and export
//! the ledger, and administer organisations, users and filings.

mod config;
mod demo;
mod demo_ethics;
mod demo_safety;
mod demo_trace;
mod safety_cmd;

use std::io::{BufReader, Write};
use std::process::ExitCode;

use celltrail_core::calendar::WorkCalendar;
use celltrail_store::service::{self, Actor, When};
use celltrail_store::{DynStore, OrgFilter, ProjectFilter};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use config::Config;

#[derive(Parser)]
#[command(
    name = "celltrail",
    version,
    about = "CellTrail: cell and gene therapy governance, end to end (细胞治疗全链条监管平台)"
)]
struct Cli {
    /// Configuration file (`key = "value"` lines); environment variables
    /// CELLTRAIL_* override it, flags override both.
    #[arg(long, global = true, env = "CELLTRAIL_CONFIG")]
    config: Option<String>,
    /// Database URL: sqlite://FILE or postgres://…
    #[arg(long, global = true)]
    database: Option<String>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Language of messages: zh-CN or en.
    #[arg(long, global = true, env = "CELLTRAIL_LANG", default_value = "en")]
    lang: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the web application and API.
    Serve(ServeArgs),
    /// Load realistic synthetic data into an embedded database and serve it.
    Demo(DemoArgs),
    /// Apply database migrations.
    Migrate,
    /// Verify, export or replay the ledger.
    #[command(subcommand)]
    Ledger(LedgerCmd),
    /// Organisations.
    #[command(subcommand)]
    Org(OrgCmd),
    /// Users.
    #[command(subcommand)]
    User(UserCmd),
    /// Filings (technologies and clinical research projects).
    #[command(subcommand)]
    Filing(FilingCmd),
    /// The working-day calendar (embedded, or CELLTRAIL_CALENDAR / calendar_file).
    #[command(subcommand)]
    Calendar(CalendarCmd),
    /// Classify a therapy profile in China, the US, the EU, Japan and the UK.
    Classify(ClassifyArgs),
    /// Rule packs.
    #[command(subcommand)]
    Rules(RulesCmd),
    /// ISBT 128 Donation Identification Numbers.
    #[command(subcommand)]
    Isbt(IsbtCmd),
    /// Chain of identity and custody.
    #[command(subcommand)]
    Trace(TraceCmd),
    /// Grade CRS or ICANS by the ASTCT consensus from a JSON file of
    /// observations; prints {"grade", "deciding"}.
    #[command(subcommand)]
    Grade(safety_cmd::GradeCmd),
    /// Signal detection over a CSV of report_id,product,event[,stratum]:
    /// PRR, ROR, Yates chi-squared, BCPNN IC and MGPS (EBGM, EB05, EB95).
    Signal(SignalArgs),
    /// Load public adverse-event data for analysis.
    #[command(subcommand)]
    Import(ImportCmd),
    /// Clinical safety data sets.
    #[command(subcommand)]
    Safety(SafetyCmd),
    /// The user's licensed MedDRA terminology (`meddra_dir` /
    /// CELLTRAIL_MEDDRA, or --dir).
    #[command(subcommand)]
    Meddra(MeddraCmd),
}

#[derive(Subcommand)]
enum MeddraCmd {
    /// A code's lowest level term, preferred term and system organ classes;
    /// exits 1 for an unknown or non-current code.
    Lookup {
        code: String,
        /// The MedDRA ASCII folder (MedAscii).
        #[arg(long)]
        dir: Option<String>,
    },
}

#[derive(Args)]
struct SignalArgs {
    /// The CSV file (`-` for standard input).
    #[arg(long)]
    input: String,
    /// Sum expected counts over the strata of the fourth column instead of
    /// using the whole table's margins.
    #[arg(long)]
    unstratified: bool,
}

#[derive(Subcommand)]
enum ImportCmd {
    /// The FDA's FAERS quarterly ASCII extract (a folder with the
    /// $-delimited DEMO, DRUG and REAC files): suspect drugs and reactions
    /// of the latest version of each case, into the reference data the
    /// signals page can analyse (source `faers`).
    Faers {
        dir: String,
        /// Also write the rows as CSV for `celltrail signal`.
        #[arg(long)]
        csv: Option<String>,
        /// Only write the CSV; do not touch the database.
        #[arg(long)]
        no_database: bool,
    },
}

#[derive(Subcommand)]
enum SafetyCmd {
    /// Write a synthetic CSV of report-event rows with planted signals
    /// (for benchmarks and tests of `celltrail signal`).
    Generate {
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        #[arg(long, default_value_t = 20_240_601)]
        seed: u64,
        #[arg(long, default_value_t = 4000)]
        products: usize,
        #[arg(long, default_value_t = 2000)]
        events: usize,
        /// Leave out the stratum column.
        #[arg(long)]
        no_strata: bool,
        #[arg(long)]
        out: String,
    },
}

#[derive(Subcommand)]
enum TraceCmd {
    /// Generate a synthetic data set of N patients with realistic chains
    /// (collection, couriers with logger files, manufacture, tests, release,
    /// bedside, infusion) into the database; repeat to add more.
    Generate {
        #[arg(long, default_value_t = 100)]
        patients: u32,
        /// Logger readings per shipment (one a minute).
        #[arg(long, default_value_t = 900)]
        readings: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum IsbtCmd {
    /// Print the ISO 7064 Mod 37-2 check character of a 13-character DIN.
    CheckChar { din: String },
    /// Check a DIN with its check character (or its barcode flags); exits
    /// non-zero with the reason when the DIN, its flags or its check
    /// character is wrong.
    Validate { input: String },
    /// Write the DIN's Code 128 barcode (`=`, the DIN, the check flags) as
    /// SVG, with the eye-readable DIN and check character beneath.
    Barcode {
        din: String,
        /// Output file; standard output when omitted.
        #[arg(long)]
        out: Option<String>,
        /// A Data Matrix symbol instead of Code 128.
        #[arg(long)]
        datamatrix: bool,
    },
    /// What a product code means, from the user's copy of the licensed ISBT
    /// 128 product description code database (`--products FILE`, or
    /// `isbt_products_file` / CELLTRAIL_ISBT_PRODUCTS); exits 1 when the
    /// file does not hold the code.
    Product {
        code: String,
        #[arg(long)]
        products: Option<String>,
    },
    /// Write a product label (Chinese and English, Code 128 and Data
    /// Matrix) as PDF or SVG, by the output file's extension.
    Label {
        #[arg(long)]
        din: String,
        /// ISBT 128 product code, e.g. S1295A00.
        #[arg(long)]
        product_code: Option<String>,
        #[arg(long)]
        zh: String,
        #[arg(long)]
        en: String,
        /// Extra lines (expiry, storage), repeatable.
        #[arg(long)]
        note: Vec<String>,
        #[arg(long)]
        out: String,
    },
}

#[derive(clap::Args)]
struct ClassifyArgs {
    /// The profile: a JSON file (see `data/rules/README.md` for the fields).
    #[arg(long)]
    profile: String,
    /// The day the rules are read as of (YYYY-MM-DD); today if omitted.
    #[arg(long)]
    as_of: Option<String>,
    /// A region whose own pack replaces the national rules it covers.
    #[arg(long)]
    region: Option<String>,
    /// Rule pack files to use instead of the built-in packs.
    #[arg(long = "pack")]
    packs: Vec<String>,
}

#[derive(Subcommand)]
enum RulesCmd {
    /// Check rule packs (the built-in ones when no file is given); exits
    /// non-zero with file and line for every problem.
    Lint { files: Vec<String> },
}

#[derive(Subcommand)]
enum CalendarCmd {
    /// The deadline N working days after a date (counting starts the next day).
    Deadline {
        /// Start date, YYYY-MM-DD.
        from: String,
        /// Working days.
        days: u32,
    },
    /// The years the calendar covers, with the notice each comes from.
    Years,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long)]
    bind: Option<String>,
}

#[derive(Args)]
struct DemoArgs {
    #[arg(long)]
    bind: Option<String>,
    /// Load the data and exit.
    #[arg(long)]
    no_serve: bool,
    /// Extra synthetic institutions and projects for load tests
    /// (`--scale 10000` adds 10,000 institutions and 100,000 projects).
    #[arg(long, default_value_t = 0)]
    scale: u32,
}

#[derive(Subcommand)]
enum LedgerCmd {
    /// Recompute every hash and signature; exit 1 at the first break.
    Verify {
        /// Verify an exported NDJSON file instead of the database.
        #[arg(long)]
        file: Option<String>,
        /// With --file: trust only these public keys (from `ledger keys`,
        /// obtained separately from the export), not the keys the file carries.
        #[arg(long, requires = "file")]
        trusted_keys: Option<String>,
    },
    /// Write the organisations' public keys as JSON, to hand to inspectors
    /// separately from exports.
    Keys {
        #[arg(long)]
        out: String,
    },
    /// Write the ledger (events, seals, public keys) as NDJSON.
    Export {
        #[arg(long)]
        out: String,
    },
    /// Rebuild every read model from the events.
    Replay,
}

#[derive(Subcommand)]
enum OrgCmd {
    /// List organisations.
    List {
        #[arg(long)]
        q: Option<String>,
        #[arg(long)]
        org_type: Option<String>,
    },
    /// Show one organisation with its qualifications.
    Show { id: String },
    /// Register an organisation from a JSON file (fields of POST /api/v1/organisations).
    Add {
        #[arg(long)]
        file: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// List users.
    List {
        #[arg(long)]
        org: Option<String>,
    },
    /// Remove a user's second factor (lost authenticator); they enrol again
    /// at the next sign-in. Recorded in the login audit.
    ResetTotp {
        username: String,
        /// Why (recorded).
        #[arg(long)]
        reason: String,
    },
    /// Create the platform organisation and its administrator on an empty database.
    Bootstrap {
        #[arg(long, default_value = "admin")]
        username: String,
        /// Password (at least 12 characters); read from CELLTRAIL_ADMIN_PASSWORD if omitted.
        #[arg(long, env = "CELLTRAIL_ADMIN_PASSWORD")]
        password: String,
    },
}

#[derive(Subcommand)]
enum FilingCmd {
    /// List filings.
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        org: Option<String>,
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Show a filing by id or filing number, with its audit trail.
    Show { id: String },
}

#[derive(Debug)]
struct CliError {
    code: &'static str,
    message: String,
    exit: u8,
}

impl From<celltrail_store::StoreError> for CliError {
    fn from(e: celltrail_store::StoreError) -> Self {
        CliError {
            code: e.code,
            message: e.to_string(),
            exit: 2,
        }
    }
}

fn io_err(e: std::io::Error) -> CliError {
    CliError {
        code: "io_error",
        message: e.to_string(),
        exit: 2,
    }
}

type CliResult<T> = Result<T, CliError>;

fn print<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T) -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value)
                .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        );
    } else {
        println!("{}", human(value));
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    config::init_tracing(&cfg);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let json = cli.json;
    match runtime.block_on(run(cli, cfg)) {
        Ok(code) => code,
        Err(e) => {
            if json {
                let body = serde_json::json!({"error": {"code": e.code, "message": e.message}});
                println!("{body}");
            } else {
                eprintln!("error[{}]: {}", e.code, e.message);
            }
            ExitCode::from(e.exit)
        }
    }
}

/// Reads the user's product description code file, with errors worded
/// from the catalogue.
fn load_products(
    path: &str,
    lang: celltrail_core::Lang,
) -> CliResult<celltrail_core::isbt_products::ProductTable> {
    let text = std::fs::read_to_string(path).map_err(io_err)?;
    celltrail_core::isbt_products::ProductTable::parse(&text).map_err(|e| CliError {
        code: e.code,
        message: format!(
            "{path}: {}",
            celltrail_core::i18n::catalog().format(
                lang,
                &format!("error.{}", e.code),
                &[("line", &e.line.to_string())]
            )
        ),
        exit: 2,
    })
}

/// Reads the user's MedDRA ASCII folder, with errors worded from the
/// catalogue.
fn load_meddra(dir: &str) -> CliResult<celltrail_core::meddra::Terminology> {
    celltrail_core::meddra::Terminology::load_dir(std::path::Path::new(dir)).map_err(|e| {
        let args = e.args();
        let a: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        CliError {
            code: e.code,
            message: format!(
                "{dir}: {}",
                celltrail_core::i18n::catalog().format(
                    celltrail_core::Lang::En,
                    &format!("error.{}", e.code),
                    &a
                )
            ),
            exit: 2,
        }
    })
}

async fn open_store(url: &str) -> CliResult<DynStore> {
    Ok(celltrail_store::open(url).await?)
}

fn calendar(cfg: &Config) -> CliResult<WorkCalendar> {
    match &cfg.calendar_file {
        None => Ok(WorkCalendar::embedded()),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(io_err)?;
            WorkCalendar::from_json(&text).map_err(|e| CliError {
                code: "calendar_invalid",
                message: format!("{path}: {e}"),
                exit: 2,
            })
        }
    }
}

async fn run(cli: Cli, mut cfg: Config) -> CliResult<ExitCode> {
    if let Some(db) = &cli.database {
        cfg.database_url = db.clone();
    }
    let json = cli.json;
    let cli_lang = cli.lang.clone();
    match cli.cmd {
        Cmd::Serve(a) => {
            let store = open_store(&cfg.database_url).await?;
            serve(store, &cfg, a.bind.unwrap_or(cfg.bind.clone())).await?;
        }
        Cmd::Demo(a) => {
            if cli.database.is_none()
                && std::env::var("CELLTRAIL_DATABASE_URL").is_err()
                && cfg.from_file.is_none()
            {
                cfg.database_url = "sqlite://celltrail-demo.db".into();
            }
            let store = open_store(&cfg.database_url).await?;
            let cal = calendar(&cfg)?;
            let report = demo::load(store.as_ref(), &cal, a.scale).await?;
            store_checkpoint(&store).await?;
            print(json, &report, demo::DemoReport::human);
            if !a.no_serve {
                // The demo runs on loopback over plain HTTP, and lets the demo
                // administrator explore without an authenticator app.
                cfg.secure_cookies = false;
                cfg.require_admin_totp = false;
                serve(store, &cfg, a.bind.unwrap_or(cfg.bind.clone())).await?;
            }
        }
        Cmd::Migrate => {
            let store = celltrail_store::open(&cfg.database_url).await?;
            let n = store.event_count().await?;
            print(
                json,
                &serde_json::json!({"migrated": true, "backend": store.backend().as_str(), "events": n}),
                |_| {
                    format!(
                        "migrations applied ({}); {n} events in the ledger",
                        store.backend().as_str()
                    )
                },
            );
        }
        Cmd::Ledger(LedgerCmd::Keys { out }) => {
            let store = open_store(&cfg.database_url).await?;
            let keys = store.org_keys().await?;
            let text = serde_json::to_string_pretty(&keys).map_err(|e| CliError {
                code: "serialization_error",
                message: e.to_string(),
                exit: 2,
            })?;
            std::fs::write(&out, text + "\n").map_err(io_err)?;
            print(
                json,
                &serde_json::json!({"out": out, "keys": keys.len()}),
                |_| format!("wrote {} public keys to {out}", keys.len()),
            );
        }
        Cmd::Ledger(LedgerCmd::Verify { file, trusted_keys }) => {
            let (outcome, source) = match file {
                Some(path) => {
                    let f = std::fs::File::open(&path).map_err(io_err)?;
                    let reader = BufReader::with_capacity(1 << 20, f);
                    let r = match &trusted_keys {
                        None => celltrail_ledger::export::verify_reader(reader),
                        Some(k) => {
                            let text = std::fs::read_to_string(k).map_err(io_err)?;
                            let keys: Vec<celltrail_ledger::OrgKey> = serde_json::from_str(&text)
                                .map_err(|e| CliError {
                                code: "keys_file_invalid",
                                message: format!("{k}: {e}"),
                                exit: 2,
                            })?;
                            celltrail_ledger::export::verify_reader_with_keys(reader, &keys)
                        }
                    };
                    let outcome = r.map_err(|e| match e {
                        celltrail_ledger::export::VerifyFileError::Break(b) => Ok(b),
                        other => Err(other.to_string()),
                    });
                    match outcome {
                        Ok(s) => (Ok(s), path),
                        Err(Ok(b)) => (Err(b), path),
                        Err(Err(msg)) => {
                            return Err(CliError {
                                code: "ledger_file_invalid",
                                message: msg,
                                exit: 1,
                            })
                        }
                    }
                }
                None => {
                    let store = open_store(&cfg.database_url).await?;
                    (store.verify().await?, "database".to_string())
                }
            };
            match outcome {
                Ok(s) => {
                    print(
                        json,
                        &serde_json::json!({"ok": true, "source": source, "summary": s}),
                        |_| {
                            let mut line = format!(
                                "ledger intact ({source}): {} events in {} streams, {} seals verified under {} checkpoints",
                                s.events, s.streams, s.seals, s.checkpoints
                            );
                            if s.pending > 0 {
                                line.push_str(&format!(
                                    "; {} newest seal entries await their checkpoint signature (the server signs within a second)",
                                    s.pending
                                ));
                            }
                            line
                        },
                    );
                }
                Err(b) => {
                    print(
                        json,
                        &serde_json::json!({"ok": false, "source": source, "break": b}),
                        |_| format!("LEDGER BROKEN ({source}): {b}"),
                    );
                    return Ok(ExitCode::from(1));
                }
            }
        }
        Cmd::Ledger(LedgerCmd::Export { out }) => {
            let store = open_store(&cfg.database_url).await?;
            let tmp = format!("{out}.partial");
            let file = std::fs::File::create(&tmp).map_err(io_err)?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
            let s = store.export(&mut w).await?;
            w.flush().map_err(io_err)?;
            w.into_inner()
                .map_err(|e| io_err(e.into_error()))?
                .sync_all()
                .map_err(io_err)?;
            std::fs::rename(&tmp, &out).map_err(io_err)?;
            print(json, &serde_json::json!({"out": out, "summary": s}), |_| {
                format!(
                    "exported {} events, {} seals, {} checkpoints to {out}",
                    s.events, s.seals, s.checkpoints
                )
            });
        }
        Cmd::Ledger(LedgerCmd::Replay) => {
            let store = open_store(&cfg.database_url).await?;
            let n = store.replay().await?;
            print(json, &serde_json::json!({"replayed": n}), |_| {
                format!("read models rebuilt from {n} events")
            });
        }
        Cmd::Org(OrgCmd::List { q, org_type }) => {
            let store = open_store(&cfg.database_url).await?;
            let orgs = store
                .organisations(&OrgFilter {
                    q,
                    org_type,
                    limit: Some(1000),
                    ..Default::default()
                })
                .await?;
            print(json, &orgs, |orgs| {
                orgs.iter()
                    .map(|o| {
                        format!(
                            "{:<28} {:<20} {:<3} {}  {}",
                            o.id, o.org_type, o.province_code, o.name_zh, o.name_en
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Cmd::Org(OrgCmd::Show { id }) => {
            let store = open_store(&cfg.database_url).await?;
            let org = store.organisation(&id).await?.ok_or(CliError {
                code: "org_not_found",
                message: id.clone(),
                exit: 1,
            })?;
            let quals = store.qualifications(&id).await?;
            let today = When::now().today.to_string();
            let v = serde_json::json!({"organisation": org, "qualifications": quals});
            print(json, &v, |_| {
                let mut s = format!(
                    "{} / {} ({}, {})\n",
                    org.name_zh, org.name_en, org.org_type, org.province_code
                );
                for q in &quals {
                    let flag = if q.expired_on(&today) {
                        "  EXPIRED"
                    } else {
                        ""
                    };
                    s.push_str(&format!(
                        "  {:<28} {:<28} {} – {}{flag}\n",
                        q.kind,
                        q.number,
                        q.valid_from,
                        q.valid_to.clone().unwrap_or_default()
                    ));
                }
                s
            });
        }
        Cmd::Org(OrgCmd::Add { file, reason }) => {
            let store = open_store(&cfg.database_url).await?;
            let text = std::fs::read_to_string(&file).map_err(io_err)?;
            let input: service::OrgInput = serde_json::from_str(&text).map_err(|e| CliError {
                code: "body_invalid",
                message: format!("{file}: {e}"),
                exit: 2,
            })?;
            let org = service::register_org(
                store.as_ref(),
                &Actor::system(),
                &input,
                &reason,
                &When::now(),
            )
            .await?;
            store_checkpoint(&store).await?;
            print(json, &org, |o| {
                format!("registered {} ({})", o.id, o.name_zh)
            });
        }
        Cmd::User(UserCmd::List { org }) => {
            let store = open_store(&cfg.database_url).await?;
            let users = store.users(org.as_deref()).await?;
            print(json, &users, |us| {
                us.iter()
                    .map(|u| {
                        format!(
                            "{:<24} {:<28} {:<20} {}",
                            u.username,
                            u.org_id,
                            u.roles.join(","),
                            u.display_name
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Cmd::User(UserCmd::ResetTotp { username, reason }) => {
            if reason.trim().is_empty() {
                return Err(CliError {
                    code: "field_required",
                    message: "--reason is required".into(),
                    exit: 2,
                });
            }
            let store = open_store(&cfg.database_url).await?;
            let user = store.user_by_username(&username).await?.ok_or(CliError {
                code: "user_not_found",
                message: username.clone(),
                exit: 1,
            })?;
            store.set_totp(&user.id, None).await?;
            store
                .record_login(&celltrail_store::LoginAttempt {
                    username: user.username.clone(),
                    user_id: Some(user.id.clone()),
                    success: false,
                    ip: "cli".into(),
                    detail: format!("second factor reset by an operator: {}", reason.trim()),
                    at: celltrail_store::now_rfc3339(),
                })
                .await?;
            print(
                json,
                &serde_json::json!({"reset": true, "username": username}),
                |_| {
                    format!(
                        "second factor of {username} removed; they enrol again at the next sign-in"
                    )
                },
            );
        }
        Cmd::User(UserCmd::Bootstrap { username, password }) => {
            let store = open_store(&cfg.database_url).await?;
            let created =
                service::bootstrap(store.as_ref(), &username, &password, &When::now()).await?;
            store_checkpoint(&store).await?;
            print(
                json,
                &serde_json::json!({"created": created.is_some(), "username": username}),
                |_| match &created {
                    Some(_) => format!("platform administrator {username} created"),
                    None => "platform already bootstrapped; nothing changed".into(),
                },
            );
        }
        Cmd::Filing(FilingCmd::List { state, org, limit }) => {
            let store = open_store(&cfg.database_url).await?;
            let ps = store
                .projects(&ProjectFilter {
                    state,
                    org_id: org,
                    limit: Some(limit),
                    ..Default::default()
                })
                .await?;
            print(json, &ps, |ps| {
                ps.iter()
                    .map(|p| {
                        format!(
                            "{:<22} {:<10} {:<22} {}",
                            p.id,
                            p.state,
                            p.filing_number.clone().unwrap_or_default(),
                            p.title_zh
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Cmd::Filing(FilingCmd::Show { id }) => {
            let store = open_store(&cfg.database_url).await?;
            let p = match store.project(&id).await? {
                Some(p) => Some(p),
                None => store.project_by_filing_number(&id).await?,
            }
            .ok_or(CliError {
                code: "project_not_found",
                message: id.clone(),
                exit: 1,
            })?;
            let stream = celltrail_store::projection::project_stream(&p.id);
            let events = store.stream_events(&stream).await?;
            let sigs = store.signatures(&stream).await?;
            let v = serde_json::json!({"project": p, "signatures": sigs, "events": events.iter().map(|e| serde_json::json!({"seq": e.seq, "kind": e.kind, "time": e.time, "actor": e.actor, "reason": e.reason, "hash": e.hash})).collect::<Vec<_>>()});
            print(json, &v, |_| {
                let mut s = format!("{} [{}] {}\n", p.id, p.state, p.title_zh);
                for e in &events {
                    s.push_str(&format!(
                        "  #{:<3} {} {:<22} {:<26} {}\n",
                        e.seq, e.time, e.kind, e.actor, e.reason
                    ));
                }
                for g in &sigs {
                    s.push_str(&format!(
                        "  signed: {} ({}) {} on record {}\n",
                        g.printed_name, g.meaning, g.signed_at, g.record_hash
                    ));
                }
                s
            });
        }
        Cmd::Calendar(CalendarCmd::Deadline { from, days }) => {
            let cal = calendar(&cfg)?;
            let start =
                chrono::NaiveDate::parse_from_str(&from, "%Y-%m-%d").map_err(|_| CliError {
                    code: "date_invalid",
                    message: format!("not a YYYY-MM-DD date: {from}"),
                    exit: 2,
                })?;
            let deadline = cal.add_working_days(start, days).map_err(|e| CliError {
                code: e.code(),
                message: e.to_string(),
                exit: 1,
            })?;
            print(
                json,
                &serde_json::json!({"from": from, "working_days": days, "deadline": deadline.to_string()}),
                |_| deadline.to_string(),
            );
        }
        Cmd::Calendar(CalendarCmd::Years) => {
            let cal = calendar(&cfg)?;
            let years: Vec<serde_json::Value> = cal
                .years()
                .into_iter()
                .map(|y| {
                    let n = cal.notice(y);
                    serde_json::json!({
                        "year": y,
                        "notice": n.map(|n| n.notice.clone()),
                        "number": n.map(|n| n.number.clone()),
                        "published": n.map(|n| n.published.to_string()),
                    })
                })
                .collect();
            print(json, &years, |ys| {
                ys.iter()
                    .map(|y| {
                        format!(
                            "{} {} {}",
                            y["year"],
                            y["notice"].as_str().unwrap_or(""),
                            y["number"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Cmd::Classify(a) => {
            let sources = rule_sources(&a.packs)?;
            let engine =
                celltrail_core::rules::Engine::compile(&sources).map_err(|problems| CliError {
                    code: "rules_invalid",
                    message: problems
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n"),
                    exit: 2,
                })?;
            let text = std::fs::read_to_string(&a.profile).map_err(io_err)?;
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| CliError {
                code: "profile_invalid",
                message: format!("{}: {e}", a.profile),
                exit: 2,
            })?;
            let profile =
                celltrail_core::rules::Profile::from_json(&value).map_err(|e| CliError {
                    code: e.code,
                    message: format!("{}: {e}", a.profile),
                    exit: 2,
                })?;
            let as_of = match &a.as_of {
                Some(d) => {
                    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| CliError {
                        code: "date_invalid",
                        message: format!("--as-of {d:?} is not YYYY-MM-DD"),
                        exit: 2,
                    })?
                }
                None => celltrail_store::service::When::now().today,
            };
            let report = engine.evaluate(&profile, as_of, a.region.as_deref());
            let out = engine.report_json(&report);
            print(json, &out, classify_human);
        }
        Cmd::Trace(TraceCmd::Generate {
            patients,
            readings,
            seed,
        }) => {
            let store = open_store(&cfg.database_url).await?;
            let opt = celltrail_store::trace_gen::GenOptions {
                patients,
                readings_per_log: readings.clamp(2, 100_000),
                seed,
            };
            // Called after each chunk of patients.
            let mut progress = |done: u32| {
                if !json {
                    eprint!("\r{done}/{patients} patients");
                }
            };
            let report =
                celltrail_store::trace_gen::generate(store.as_ref(), &opt, &mut progress).await?;
            if !json {
                eprintln!();
            }
            print(
                json,
                &serde_json::to_value(&report).unwrap_or_default(),
                |v| {
                    format!(
                    "{} patients: {} ledger events and {} logger readings in {:.1} s ({:.0} rows/s); {} lineage edges in the database",
                    v["patients"], v["ledger_events"], v["readings"], v["seconds"].as_f64().unwrap_or(0.0),
                    v["rows_per_second"].as_f64().unwrap_or(0.0), v["lineage_edges"]
                )
                },
            );
        }
        Cmd::Meddra(MeddraCmd::Lookup { code, dir }) => {
            let dir = dir.or(cfg.meddra_dir.clone()).ok_or_else(|| CliError {
                code: "meddra_files_missing",
                message: "no MedDRA folder: give --dir DIR or set meddra_dir".into(),
                exit: 2,
            })?;
            let terms = load_meddra(&dir)?;
            let lang = safety_cmd::lang_of(&cli_lang);
            match terms.check(&code) {
                Ok(c) => print(json, &c, |c| {
                    format!(
                        "{} {} → PT {} {}; SOC {}",
                        c.llt_code,
                        c.llt_name,
                        c.pt_code,
                        c.pt_name,
                        c.socs.join(", ")
                    )
                }),
                Err(e) => {
                    return Err(CliError {
                        code: e.code,
                        message: celltrail_core::i18n::catalog().format(
                            lang,
                            &format!("error.{}", e.code),
                            &[("file", e.file.as_str()), ("line", &e.line.to_string())],
                        ),
                        exit: 1,
                    })
                }
            }
        }
        Cmd::Grade(c) => {
            let lang = safety_cmd::lang_of(&cli_lang);
            let (g, words) = safety_cmd::grade(&c, lang)?;
            print(json, &g, |g| {
                let mut s = format!("grade {}", g.grade);
                for w in &words {
                    s.push_str(&format!("\n  {w}"));
                }
                s
            });
        }
        Cmd::Signal(a) => {
            let lang = safety_cmd::lang_of(&cli_lang);
            let analysis = safety_cmd::signal(&a.input, !a.unstratified, lang)?;
            if json {
                // One line: a national database gives millions of pairs.
                let out = std::io::stdout().lock();
                let mut w = std::io::BufWriter::with_capacity(1 << 20, out);
                serde_json::to_writer(&mut w, &analysis)
                    .map_err(|e| io_err(std::io::Error::other(e)))?;
                writeln!(w).map_err(io_err)?;
                w.flush().map_err(io_err)?;
                // The process ends here: freeing millions of names one by
                // one would only cost time.
                std::mem::forget(analysis);
            } else {
                println!("{}", safety_cmd::signal_human(&analysis));
            }
        }
        Cmd::Safety(SafetyCmd::Generate {
            rows,
            seed,
            products,
            events,
            no_strata,
            out,
        }) => {
            let opts = celltrail_stats::generate::Options {
                rows,
                seed,
                products: products.max(1),
                events: events.max(1),
                strata: !no_strata,
            };
            let file = std::fs::File::create(&out).map_err(io_err)?;
            let written = celltrail_stats::generate::write_csv(
                &opts,
                std::io::BufWriter::with_capacity(1 << 20, file),
            )
            .map_err(io_err)?;
            let planted = celltrail_stats::generate::planted(&opts);
            let v = serde_json::json!({
                "out": out,
                "rows": written,
                "planted": planted.iter().map(|p| serde_json::json!({"product": p.product, "event": p.event, "share": p.share})).collect::<Vec<_>>(),
            });
            print(json, &v, |v| {
                format!(
                    "{} rows written to {}",
                    v["rows"],
                    v["out"].as_str().unwrap_or("")
                )
            });
        }
        Cmd::Import(ImportCmd::Faers {
            dir,
            csv,
            no_database,
        }) => {
            let lang = safety_cmd::lang_of(&cli_lang);
            let store = if no_database {
                None
            } else {
                Some(open_store(&cfg.database_url).await?)
            };
            let report =
                safety_cmd::import_faers(store.as_deref(), &dir, csv.as_deref(), lang, !json)
                    .await?;
            if let Some(s) = &store {
                store_checkpoint(s).await?;
            }
            print(json, &report, |r| {
                format!(
                    "{} reports, {} report-event rows ({} new in the database) from {}",
                    r["reports"],
                    r["rows"],
                    r["stored"],
                    r["dir"].as_str().unwrap_or("")
                )
            });
        }
        Cmd::Isbt(c) => {
            let lang = if cli_lang.starts_with("zh") {
                celltrail_core::Lang::Zh
            } else {
                celltrail_core::Lang::En
            };
            let din_error = |e: celltrail_core::isbt::DinError| {
                let args = e.args();
                let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
                CliError {
                    code: e.code,
                    message: celltrail_core::i18n::catalog().format(
                        lang,
                        &format!("error.{}", e.code),
                        &args,
                    ),
                    exit: 1,
                }
            };
            let barcode_error = |code: &'static str| CliError {
                code,
                message: celltrail_core::i18n::catalog().format(
                    lang,
                    &format!("error.{code}"),
                    &[],
                ),
                exit: 1,
            };
            match c {
                IsbtCmd::Product { code, products } => {
                    let path = products
                        .or(cfg.isbt_products_file.clone())
                        .ok_or(CliError {
                        code: "products_file_required",
                        message:
                            "no product code file: give --products FILE or set isbt_products_file"
                                .into(),
                        exit: 2,
                    })?;
                    let table = load_products(&path, lang)?;
                    if celltrail_core::isbt_products::description_code(&code).is_none() {
                        // Not a code's shape: the shape check says where.
                        celltrail_core::isbt::product_code(&code).map_err(din_error)?;
                    }
                    match table.describe(&code) {
                        Some(p) => print(json, &serde_json::to_value(p).unwrap_or_default(), |v| {
                            format!(
                                "{}  {}",
                                v["code"].as_str().unwrap_or(""),
                                v["description"].as_str().unwrap_or("")
                            )
                        }),
                        None => {
                            return Err(CliError {
                                code: "product_code_unknown",
                                message: format!("{code}: not in {path}"),
                                exit: 1,
                            })
                        }
                    }
                }
                IsbtCmd::CheckChar { din } => {
                    let k = celltrail_core::isbt::check_char(&din).map_err(din_error)?;
                    print(
                        json,
                        &serde_json::json!({"din": din, "check_char": k.to_string()}),
                        |_| k.to_string(),
                    );
                }
                IsbtCmd::Barcode {
                    din,
                    out,
                    datamatrix,
                } => {
                    let compact: String = din.split_whitespace().collect::<String>().to_uppercase();
                    let d = celltrail_core::isbt::Din::parse(&compact).map_err(din_error)?;
                    let data = format!("={}{}", d.as_string(), d.check_flags());
                    let svg = if datamatrix {
                        let symbol = celltrail_core::datamatrix::encode(&data)
                            .map_err(|e| barcode_error(e.code()))?;
                        celltrail_core::datamatrix::svg(&symbol, 6)
                    } else {
                        celltrail_core::code128::svg(&data, 2, 80, &d.eye_readable())
                            .map_err(|e| barcode_error(e.code()))?
                    };
                    match out {
                        Some(path) => std::fs::write(&path, svg).map_err(io_err)?,
                        None => println!("{svg}"),
                    }
                }
                IsbtCmd::Label {
                    din,
                    product_code,
                    zh,
                    en,
                    note,
                    out,
                } => {
                    let compact: String = din.split_whitespace().collect::<String>().to_uppercase();
                    let input = celltrail_core::label::LabelInput {
                        din: celltrail_core::isbt::Din::parse(&compact).map_err(din_error)?,
                        product_code: product_code
                            .as_deref()
                            .map(celltrail_core::isbt::product_code)
                            .transpose()
                            .map_err(din_error)?,
                        product_zh: zh,
                        product_en: en,
                        notes: note,
                    };
                    let unencodable =
                        |e: celltrail_core::code128::BarcodeError| barcode_error(e.code());
                    let bytes = if out.to_lowercase().ends_with(".svg") {
                        celltrail_core::label::svg(&input)
                            .map_err(unencodable)?
                            .into_bytes()
                    } else {
                        celltrail_core::label::pdf(&input).map_err(unencodable)?
                    };
                    std::fs::write(&out, bytes).map_err(io_err)?;
                }
                IsbtCmd::Validate { input } => {
                    let v = celltrail_core::isbt::validate(&input).map_err(din_error)?;
                    print(json, &v, |v| format!("ok {}", v.din.eye_readable()));
                }
            }
        }
        Cmd::Rules(RulesCmd::Lint { files }) => {
            let sources = rule_sources(&files)?;
            let problems = celltrail_core::rules::lint(&sources);
            print(
                json,
                &serde_json::json!({"ok": problems.is_empty(), "packs": sources.len(), "problems": problems}),
                |_| {
                    if problems.is_empty() {
                        format!("{} rule packs: no problems", sources.len())
                    } else {
                        problems
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("\n")
                    }
                },
            );
            if !problems.is_empty() {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Rule packs from files, or the built-in packs when none are named.
fn rule_sources(files: &[String]) -> CliResult<Vec<celltrail_core::rules::PackSource>> {
    if files.is_empty() {
        return Ok(celltrail_core::rules::builtin_sources());
    }
    files
        .iter()
        .map(|f| {
            Ok(celltrail_core::rules::PackSource {
                file: f.clone(),
                text: std::fs::read_to_string(f).map_err(io_err)?,
            })
        })
        .collect()
}

/// A classification report as lines: jurisdiction, conclusion, value and
/// the articles it rests on.
fn classify_human(report: &serde_json::Value) -> String {
    let mut lines = vec![format!("as of {}", report["as_of"].as_str().unwrap_or(""))];
    // In report order: jurisdictions, then conclusions as they are drawn.
    for key in celltrail_core::rules::schema::CONCLUSIONS {
        let (jurisdiction, name) = (key.jurisdiction, key.name);
        let c = &report["results"][jurisdiction][name];
        if c.is_null() {
            continue;
        }
        let value = match c["needs"].as_array() {
            Some(needs) => {
                let needs: Vec<&str> = needs.iter().filter_map(|n| n.as_str()).collect();
                format!("? answer: {}", needs.join(", "))
            }
            None => c["value"].to_string(),
        };
        let basis: Vec<String> = c["basis"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| {
                let instrument = b["instrument"].as_str().unwrap_or("");
                format!("{instrument} {}", b["article"].as_str().unwrap_or(""))
            })
            .collect();
        lines.push(format!(
            "{jurisdiction} {name:<30} {value:<28} {}",
            basis.join("; ")
        ));
    }
    for u in report["upcoming"].as_array().into_iter().flatten() {
        lines.push(format!(
            "upcoming ({}): {} {} = {}",
            u["status"].as_str().unwrap_or(""),
            u["jurisdiction"].as_str().unwrap_or(""),
            u["conclusion"].as_str().unwrap_or(""),
            u["value"]
        ));
    }
    lines.join("\n")
}

async fn serve(store: DynStore, cfg: &Config, bind: String) -> CliResult<()> {
    let cal = calendar(cfg)?;
    let isbt_products = match &cfg.isbt_products_file {
        Some(path) => Some(std::sync::Arc::new(load_products(
            path,
            celltrail_core::Lang::En,
        )?)),
        None => None,
    };
    let meddra = match &cfg.meddra_dir {
        Some(dir) => Some(std::sync::Arc::new(load_meddra(dir)?)),
        None => None,
    };
    let web_cfg = celltrail_web::WebConfig {
        secure_cookies: cfg.secure_cookies,
        require_admin_totp: cfg.require_admin_totp,
        isbt_products,
        meddra,
        ..Default::default()
    };
    let state = celltrail_web::AppState::new(store, cal, web_cfg);
    // The public name index, built before the first search.
    state
        .directory
        .warm(&state.store, celltrail_web::public::PUBLIC_TYPES)
        .await?;
    let listener = tokio::net::TcpListener::bind(&bind).await.map_err(io_err)?;
    // Seal entries a previous process left waiting, then keep signing
    // checkpoints while serving, and once more after the last request.
    store_checkpoint(&state.store).await?;
    let sealer = tokio::spawn(sealer(state.store.clone()));
    eprintln!("CellTrail listening on http://{bind}/");
    let served = axum_serve(listener, celltrail_web::app(state.clone())).await;
    sealer.abort();
    store_checkpoint(&state.store).await?;
    served
}

/// How often the server signs waiting checkpoints. Entries at least this old
/// are signed at each tick, so none waits much longer than twice this.
const SEAL_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Signs the open checkpoints of the organisations that appended, every
/// [`SEAL_EVERY`]. A failed round is reported and retried at the next tick.
async fn sealer(store: DynStore) {
    let mut tick = tokio::time::interval(SEAL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = store.checkpoint(SEAL_EVERY).await {
            eprintln!("checkpoint signing failed (retrying): {e}");
        }
    }
}

/// Signs every waiting checkpoint now (after a command that wrote).
async fn store_checkpoint(store: &DynStore) -> CliResult<()> {
    store.checkpoint(std::time::Duration::ZERO).await?;
    Ok(())
}

async fn axum_serve(
    listener: tokio::net::TcpListener,
    app: celltrail_web::Router,
) -> CliResult<()> {
    celltrail_web::serve(listener, app).await.map_err(io_err)
}
