//! The FDA Adverse Event Reporting System (FAERS) quarterly ASCII extract.
//!
//! A quarter ships `$`-delimited files with a header line, among them
//! `DEMOyyQq.txt` (one line per case version: `primaryid`, `caseid`,
//! `caseversion`, `age`, `age_cod`, `sex`, `fda_dt`, …), `DRUGyyQq.txt` (one
//! line per drug of a report: `primaryid`, `drug_seq`, `role_cod` — PS
//! primary suspect, SS secondary suspect, C concomitant, I interacting —,
//! `drugname`, `prod_ai`, …) and `REACyyQq.txt` (one line per reaction:
//! `primaryid`, `pt`, …), as the extract's ASC_NTS description lays out.
//! Columns are found by their header names (any case), so added or
//! reordered columns do not matter.
//!
//! [`read`] streams the three files in turn and gives report-event [`Rows`]:
//! the report is the `primaryid`; only the latest `caseversion` of each
//! `caseid` is kept (FDA's advice for deduplicating a quarter); the products
//! are the suspect drugs (PS and SS) by normalised `drugname` or, if asked,
//! `prod_ai`; the events are the MedDRA preferred terms `pt`. A stratum can
//! be made of sex, age group and year of `fda_dt`. Bytes that are not UTF-8
//! (the extract is nominally ASCII but carries Latin-1 names) are replaced,
//! not refused. It never panics; errors name the file and the line.

use crate::counts::{FxBuild, Rows};
use serde::Serialize;
use std::collections::HashMap;
use std::io::BufRead;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FaersError {
    /// Stable code; the message is `error.<code>`.
    pub code: &'static str,
    /// The file's name as given to [`read`].
    pub file: String,
    /// 1-based line (0 for the file as a whole).
    pub line: usize,
    /// The column at fault, if one is.
    pub column: Option<&'static str>,
}

impl std::fmt::Display for FaersError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} in {} at line {}", self.code, self.file, self.line)?;
        if let Some(c) = self.column {
            write!(f, " (column {c})")?;
        }
        Ok(())
    }
}

impl std::error::Error for FaersError {}

pub const ERROR_CODES: &[&str] = &[
    "faers_io",
    "faers_empty",
    "faers_header_missing",
    "faers_field_invalid",
];

/// Which drug name makes the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProductName {
    /// `drugname`, the verbatim name as reported.
    #[default]
    DrugName,
    /// `prod_ai`, the active ingredient, falling back to `drugname` when empty.
    ActiveIngredient,
}

/// What the stratum is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Strata {
    pub sex: bool,
    pub age_group: bool,
    pub year: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    pub product: ProductName,
    pub strata: Strata,
}

/// One input file: its name (for errors) and its reader.
pub struct Input<'a, R: BufRead> {
    pub name: &'a str,
    pub reader: R,
}

/// Normalises a drug name: upper case, inner runs of spaces to one, and no
/// trailing full stop.
pub fn normalise_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word.to_uppercase());
    }
    while out.ends_with('.') {
        out.pop();
    }
    out
}

/// The age group of an age in FAERS units (YR, DEC, MON, WK, DY, HR).
pub fn age_group(age: &str, unit: &str) -> &'static str {
    let Ok(v) = age.trim().parse::<f64>() else {
        return "UNK";
    };
    let years = match unit.trim().to_ascii_uppercase().as_str() {
        "YR" | "" => v,
        "DEC" => v * 10.0,
        "MON" => v / 12.0,
        "WK" => v / 52.1775,
        "DY" => v / 365.25,
        "HR" => v / 8766.0,
        _ => return "UNK",
    };
    if !(0.0..150.0).contains(&years) {
        "UNK"
    } else if years < 18.0 {
        "0-17"
    } else if years < 45.0 {
        "18-44"
    } else if years < 65.0 {
        "45-64"
    } else if years < 75.0 {
        "65-74"
    } else {
        "75+"
    }
}

/// Lines of one `$`-delimited file with its header's column positions.
struct Table<'a, R: BufRead> {
    name: &'a str,
    reader: R,
    line: usize,
    buf: Vec<u8>,
    cols: Vec<usize>,
    width: usize,
}

impl<'a, R: BufRead> Table<'a, R> {
    fn open(
        input: Input<'a, R>,
        wanted: &[&'static str],
        optional: &[&'static str],
        progress: &mut dyn FnMut(u64),
        seen: &mut u64,
    ) -> Result<(Self, Vec<Option<usize>>), FaersError> {
        let mut t = Table {
            name: input.name,
            reader: input.reader,
            line: 0,
            buf: Vec::new(),
            cols: Vec::new(),
            width: 0,
        };
        let Some(header) = t.next_line(progress, seen)? else {
            return Err(t.err("faers_empty", 0, None));
        };
        let names: Vec<String> = header
            .split('$')
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect();
        t.width = names.len();
        for w in wanted {
            match names.iter().position(|n| n == w) {
                Some(i) => t.cols.push(i),
                None => return Err(t.err("faers_header_missing", 1, Some(w))),
            }
        }
        let opt = optional
            .iter()
            .map(|w| names.iter().position(|n| n == w))
            .collect();
        Ok((t, opt))
    }

    fn err(&self, code: &'static str, line: usize, column: Option<&'static str>) -> FaersError {
        FaersError {
            code,
            file: self.name.to_string(),
            line,
            column,
        }
    }

    /// The next line, lossily decoded; reports bytes read every 64 KiB.
    fn next_line(
        &mut self,
        progress: &mut dyn FnMut(u64),
        seen: &mut u64,
    ) -> Result<Option<String>, FaersError> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|_| self.err("faers_io", self.line + 1, None))?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        let before = *seen >> 16;
        *seen += n as u64;
        if *seen >> 16 != before {
            progress(*seen);
        }
        let text = String::from_utf8_lossy(&self.buf);
        Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()))
    }
}

fn field<'s>(fields: &[&'s str], i: Option<usize>) -> &'s str {
    i.and_then(|i| fields.get(i))
        .map(|s| s.trim())
        .unwrap_or("")
}

/// Reads a quarter's DEMO, DRUG and REAC files into report-event rows.
/// `progress` is called with the total bytes read so far.
pub fn read<D: BufRead, G: BufRead, R: BufRead>(
    demo: Input<'_, D>,
    drug: Input<'_, G>,
    reac: Input<'_, R>,
    opts: &Options,
    progress: &mut dyn FnMut(u64),
) -> Result<Rows, FaersError> {
    let mut seen = 0u64;
    // DEMO: the latest version of each case, and its stratum.
    let (mut t, opt) = Table::open(
        demo,
        &["primaryid", "caseid", "caseversion"],
        &["sex", "age", "age_cod", "fda_dt"],
        progress,
        &mut seen,
    )?;
    let mut latest: HashMap<u64, (u64, u64, String), FxBuild> = HashMap::default();
    while let Some(l) = t.next_line(progress, &mut seen)? {
        if l.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split('$').collect();
        let num = |k: usize, name: &'static str| -> Result<u64, FaersError> {
            field(&f, Some(t.cols[k]))
                .parse::<u64>()
                .map_err(|_| t.err("faers_field_invalid", t.line, Some(name)))
        };
        let pid = num(0, "primaryid")?;
        let cid = num(1, "caseid")?;
        let ver = num(2, "caseversion")?;
        let mut parts: Vec<&str> = Vec::new();
        if opts.strata.sex {
            parts.push(match field(&f, opt[0]).to_ascii_uppercase().as_str() {
                "M" => "M",
                "F" => "F",
                _ => "UNK",
            });
        }
        if opts.strata.age_group {
            parts.push(age_group(field(&f, opt[1]), field(&f, opt[2])));
        }
        let dt = field(&f, opt[3]);
        let year = if dt.len() >= 4
            && dt.is_char_boundary(4)
            && dt[..4].bytes().all(|b| b.is_ascii_digit())
        {
            &dt[..4]
        } else {
            "UNK"
        };
        if opts.strata.year {
            parts.push(year);
        }
        let stratum = parts.join("|");
        let e = latest.entry(cid).or_insert((ver, pid, stratum.clone()));
        if (ver, pid) > (e.0, e.1) {
            *e = (ver, pid, stratum);
        }
    }
    let keep: HashMap<u64, String, FxBuild> =
        latest.into_values().map(|(_, pid, s)| (pid, s)).collect();

    // DRUG: suspect products of the kept reports.
    let (mut t, opt) = Table::open(
        drug,
        &["primaryid", "role_cod", "drugname"],
        &["prod_ai"],
        progress,
        &mut seen,
    )?;
    let mut products: HashMap<u64, Vec<String>, FxBuild> = HashMap::default();
    while let Some(l) = t.next_line(progress, &mut seen)? {
        if l.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split('$').collect();
        let pid = field(&f, Some(t.cols[0]))
            .parse::<u64>()
            .map_err(|_| t.err("faers_field_invalid", t.line, Some("primaryid")))?;
        if !keep.contains_key(&pid) {
            continue;
        }
        let role = field(&f, Some(t.cols[1])).to_ascii_uppercase();
        if role != "PS" && role != "SS" {
            continue;
        }
        let mut name = field(&f, Some(t.cols[2]));
        if opts.product == ProductName::ActiveIngredient {
            let ai = field(&f, opt[0]);
            if !ai.is_empty() {
                name = ai;
            }
        }
        let name = normalise_name(name);
        if name.is_empty() {
            continue;
        }
        let list = products.entry(pid).or_default();
        if !list.contains(&name) {
            list.push(name);
        }
    }

    // REAC: one row per (suspect product, preferred term).
    let (mut t, _) = Table::open(reac, &["primaryid", "pt"], &[], progress, &mut seen)?;
    let mut rows = Rows::new();
    let with_strata = opts.strata.sex || opts.strata.age_group || opts.strata.year;
    while let Some(l) = t.next_line(progress, &mut seen)? {
        if l.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split('$').collect();
        let pid = field(&f, Some(t.cols[0]))
            .parse::<u64>()
            .map_err(|_| t.err("faers_field_invalid", t.line, Some("primaryid")))?;
        let (Some(stratum), Some(list)) = (keep.get(&pid), products.get(&pid)) else {
            continue;
        };
        let pt = field(&f, Some(t.cols[1]));
        if pt.is_empty() {
            continue;
        }
        let id = pid.to_string();
        for p in list {
            let s = with_strata.then_some(stratum.as_str());
            // A report's stratum comes from its one DEMO line: no conflict.
            let _ = rows.push(&id, p, pt, s);
        }
    }
    progress(seen);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = "primaryid$caseid$caseversion$i_f_code$event_dt$mfr_dt$init_fda_dt$fda_dt$rept_cod$auth_num$mfr_num$mfr_sndr$lit_ref$age$age_cod$age_grp$sex$e_sub$wt$wt_cod$rept_dt$to_mfr$occp_cod$reporter_country$occr_country\r\n\
1000011$100001$1$I$20230101$$20230105$20230105$EXP$$$$$34$YR$A$F$Y$$$20230105$N$MD$US$US\r\n\
1000012$100001$2$F$20230101$$20230105$20230310$EXP$$$$$34$YR$A$F$Y$$$20230310$N$MD$US$US\r\n\
1000021$100002$1$I$$$20230201$20230201$PER$$$$$780$MON$E$M$Y$$$20230201$N$CN$CN$CN\r\n";
    const DRUG: &str = "primaryid$caseid$drug_seq$role_cod$drugname$prod_ai$val_vbm$route\n\
1000011$100001$1$PS$Kymriah.$TISAGENLECLEUCEL$1$INTRAVENOUS\n\
1000012$100001$1$PS$ kymriah $TISAGENLECLEUCEL$1$INTRAVENOUS\n\
1000012$100001$2$C$ACETAMINOPHEN$ACETAMINOPHEN$1$ORAL\n\
1000021$100002$1$SS$阿基仑赛注射液$AXICABTAGENE CILOLEUCEL$1$INTRAVENOUS\n";
    const REAC: &str = "primaryid$caseid$pt$drug_rec_act\n\
1000011$100001$Pyrexia$\n\
1000012$100001$Cytokine release syndrome$\n\
1000012$100001$Pyrexia$\n\
1000021$100002$Neurotoxicity$\n";

    fn run(opts: Options) -> Result<Rows, FaersError> {
        let mut calls = 0;
        let r = read(
            Input {
                name: "DEMO23Q1.txt",
                reader: DEMO.as_bytes(),
            },
            Input {
                name: "DRUG23Q1.txt",
                reader: DRUG.as_bytes(),
            },
            Input {
                name: "REAC23Q1.txt",
                reader: REAC.as_bytes(),
            },
            &opts,
            &mut |_| calls += 1,
        );
        assert!(calls >= 1);
        r
    }

    #[test]
    fn keeps_latest_version_and_suspect_drugs() {
        let rows = run(Options {
            product: ProductName::DrugName,
            strata: Strata {
                sex: true,
                age_group: true,
                year: true,
            },
        })
        .unwrap();
        let got: Vec<(String, String, String)> = (0..rows.len())
            .map(|i| {
                (
                    rows.reports.name(rows.report[i]).to_string(),
                    rows.products.name(rows.product[i]).to_string(),
                    rows.events.name(rows.event[i]).to_string(),
                )
            })
            .collect();
        // Case 100001 version 1 (primaryid 1000011) is superseded; the
        // concomitant acetaminophen is not a suspect.
        assert_eq!(
            got,
            vec![
                (
                    "1000012".into(),
                    "KYMRIAH".into(),
                    "Cytokine release syndrome".into()
                ),
                ("1000012".into(), "KYMRIAH".into(), "Pyrexia".into()),
                (
                    "1000021".into(),
                    "阿基仑赛注射液".into(),
                    "Neurotoxicity".into()
                ),
            ]
        );
        let strata: Vec<&str> = rows.strata.names().collect();
        // 780 months = 65 years.
        assert_eq!(strata, vec!["F|18-44|2023", "M|65-74|2023"]);
    }

    #[test]
    fn active_ingredient_names_the_product() {
        let rows = run(Options {
            product: ProductName::ActiveIngredient,
            ..Options::default()
        })
        .unwrap();
        let names: Vec<&str> = rows.products.names().collect();
        assert_eq!(names, vec!["TISAGENLECLEUCEL", "AXICABTAGENE CILOLEUCEL"]);
        assert!(!rows.has_strata());
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let bad_demo = "primaryid$caseid$caseversion\n1$2$x\n";
        let e = read(
            Input {
                name: "DEMO.txt",
                reader: bad_demo.as_bytes(),
            },
            Input {
                name: "DRUG.txt",
                reader: DRUG.as_bytes(),
            },
            Input {
                name: "REAC.txt",
                reader: REAC.as_bytes(),
            },
            &Options::default(),
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(
            (e.code, e.file.as_str(), e.line, e.column),
            ("faers_field_invalid", "DEMO.txt", 2, Some("caseversion"))
        );
        let e = read(
            Input {
                name: "DEMO.txt",
                reader: DEMO.as_bytes(),
            },
            Input {
                name: "DRUG.txt",
                reader: "primaryid$drugname\n".as_bytes(),
            },
            Input {
                name: "REAC.txt",
                reader: REAC.as_bytes(),
            },
            &Options::default(),
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(
            (e.code, e.line, e.column),
            ("faers_header_missing", 1, Some("role_cod"))
        );
        let e = read(
            Input {
                name: "DEMO.txt",
                reader: DEMO.as_bytes(),
            },
            Input {
                name: "DRUG.txt",
                reader: DRUG.as_bytes(),
            },
            Input {
                name: "REAC.txt",
                reader: "".as_bytes(),
            },
            &Options::default(),
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!((e.code, e.file.as_str()), ("faers_empty", "REAC.txt"));
        assert!(ERROR_CODES.contains(&e.code));
    }

    #[test]
    fn age_groups_follow_the_units() {
        assert_eq!(age_group("17", "YR"), "0-17");
        assert_eq!(age_group("5", "DEC"), "45-64");
        assert_eq!(age_group("400", "WK"), "0-17");
        assert_eq!(age_group("x", "YR"), "UNK");
        assert_eq!(age_group("30", "??"), "UNK");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(demo in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
                        drug in "[0-9$A-Za-z\n ]{0,120}", reac in "[0-9$a-z\n中]{0,120}") {
            let mut d = b"primaryid$caseid$caseversion$sex$age$age_cod$fda_dt\n".to_vec();
            d.extend_from_slice(&demo);
            let _ = read(
                Input { name: "d", reader: &d[..] },
                Input { name: "g", reader: format!("primaryid$role_cod$drugname\n{drug}").as_bytes() },
                Input { name: "r", reader: format!("primaryid$pt\n{reac}").as_bytes() },
                &Options { strata: Strata { sex: true, age_group: true, year: true }, ..Options::default() },
                &mut |_| {},
            );
            let _ = read(
                Input { name: "d", reader: &demo[..] },
                Input { name: "g", reader: drug.as_bytes() },
                Input { name: "r", reader: reac.as_bytes() },
                &Options::default(),
                &mut |_| {},
            );
        }
    }
}
