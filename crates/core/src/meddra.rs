//! The user's licensed MedDRA terminology, read from the ASCII files of a
//! MedDRA distribution (the `MedAscii` folder), so that the codes entered
//! on adverse events can be checked and each code's preferred term (PT)
//! and system organ classes (SOC) known.
//!
//! MedDRA is licensed by its maintenance organisation: CellTrail ships no
//! MedDRA data. Each site points CellTrail at its own copy.
//!
//! Two files are read, both `$`-delimited without header, each record
//! ending in `$` (layout as in the MedDRA distribution file format
//! document):
//!
//! - `llt.asc`: `llt_code$llt_name$pt_code$llt_whoart_code$llt_harts_code$
//!   llt_costart_sym$llt_icd9_code$llt_icd9cm_code$llt_icd10_code$
//!   llt_currency$llt_jart_code$` — currency `Y` (current) or `N`. Every PT
//!   is also listed here as an LLT whose `llt_code` equals its `pt_code`.
//! - `mdhier.asc`: `pt_code$hlt_code$hlgt_code$soc_code$pt_name$hlt_name$
//!   hlgt_name$soc_name$soc_abbrev$null_field$pt_soc_code$primary_soc_fg$`
//!   — one record per path from a PT up to a SOC; `primary_soc_fg` is `Y`
//!   on the paths through the PT's primary SOC.
//!
//! Text may be UTF-8 or Latin-1 (older distributions); a line that is not
//! valid UTF-8 is read as Latin-1, so no byte sequence makes reading fail.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

/// Codes of [`MeddraError`].
pub const ERROR_CODES: &[&str] = &[
    "meddra_files_missing",
    "meddra_file_unreadable",
    "meddra_line_invalid",
    "meddra_code_duplicate",
    "meddra_pt_unknown",
    "meddra_code_unknown",
    "meddra_code_not_current",
];

/// File names inside the distribution folder (matched without case).
const LLT_FILE: &str = "llt.asc";
const MDHIER_FILE: &str = "mdhier.asc";
const RELEASE_FILE: &str = "meddra_release.asc";

/// A problem reading the terminology or checking a code. `file` and
/// `line` (1-based) name the record at fault; both are empty/0 for a code
/// check and `line` is 0 for a whole-file problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code} {file}:{line}")]
pub struct MeddraError {
    pub code: &'static str,
    pub file: String,
    pub line: usize,
}

impl MeddraError {
    fn new(code: &'static str, file: &str, line: usize) -> Self {
        MeddraError {
            code,
            file: file.to_string(),
            line,
        }
    }

    /// Stable machine code; the message is the catalogue entry `error.<code>`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Named arguments for the catalogue message: `file`, `line`.
    pub fn args(&self) -> Vec<(&'static str, String)> {
        vec![("file", self.file.clone()), ("line", self.line.to_string())]
    }
}

/// A code resolved against the terminology.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Coding {
    pub llt_code: String,
    pub llt_name: String,
    /// Whether the LLT is current (`llt_currency` `Y`).
    pub current: bool,
    pub pt_code: String,
    pub pt_name: String,
    /// The PT's primary SOC, when `mdhier.asc` marks one.
    pub primary_soc: Option<String>,
    /// Every SOC the PT sits under, primary first, then in file order.
    pub socs: Vec<String>,
}

impl Coding {
    /// Whether the PT sits under the SOC (primary or secondary).
    pub fn in_soc(&self, soc: &str) -> bool {
        let soc = soc.trim();
        self.socs.iter().any(|s| s == soc)
    }
}

#[derive(Clone, Debug)]
struct Llt {
    name: String,
    pt_code: String,
    current: bool,
}

#[derive(Clone, Debug, Default)]
struct PtHier {
    name: String,
    primary_soc: Option<String>,
    socs: Vec<String>,
}

/// A loaded MedDRA version.
#[derive(Clone, Debug)]
pub struct Terminology {
    llts: HashMap<String, Llt>,
    pts: HashMap<String, PtHier>,
    /// The MedDRA version (first field of `meddra_release.asc`), if known.
    pub version: Option<String>,
}

/// One line of text: UTF-8 when valid, else Latin-1 (each byte one char).
fn decode(line: &[u8]) -> String {
    match std::str::from_utf8(line) {
        Ok(s) => s.to_string(),
        Err(_) => line.iter().map(|&b| b as char).collect(),
    }
}

/// The non-blank lines of a file as (1-based line number, fields).
fn records(data: &[u8]) -> impl Iterator<Item = (usize, Vec<String>)> + '_ {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    data.split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, raw)| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let text = decode(raw);
            if text.trim().is_empty() {
                return None;
            }
            let fields = text.split('$').map(|f| f.trim().to_string()).collect();
            Some((i + 1, fields))
        })
}

/// MedDRA codes are 8 digits; any non-empty run of ASCII digits (at most
/// 12) is accepted so that test files and future versions read.
fn is_code(s: &str) -> bool {
    !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn flag(s: &str) -> Option<bool> {
    match s {
        "Y" | "y" => Some(true),
        "N" | "n" => Some(false),
        _ => None,
    }
}

impl Terminology {
    /// Reads the contents of `llt.asc` and `mdhier.asc`.
    pub fn parse(llt: &[u8], mdhier: &[u8]) -> Result<Terminology, MeddraError> {
        let mut llts: HashMap<String, Llt> = HashMap::new();
        let mut lines: Vec<(usize, String)> = Vec::new();
        for (line, f) in records(llt) {
            let bad = || MeddraError::new("meddra_line_invalid", LLT_FILE, line);
            // Fields up to llt_currency (index 9) must be present.
            if f.len() < 10 || !is_code(&f[0]) || f[1].is_empty() || !is_code(&f[2]) {
                return Err(bad());
            }
            let current = flag(&f[9]).ok_or_else(bad)?;
            if llts.contains_key(&f[0]) {
                return Err(MeddraError::new("meddra_code_duplicate", LLT_FILE, line));
            }
            lines.push((line, f[0].clone()));
            llts.insert(
                f[0].clone(),
                Llt {
                    name: f[1].clone(),
                    pt_code: f[2].clone(),
                    current,
                },
            );
        }
        // Every LLT's PT must itself be listed as an LLT.
        for (line, code) in &lines {
            if !llts.contains_key(&llts[code].pt_code) {
                return Err(MeddraError::new("meddra_pt_unknown", LLT_FILE, *line));
            }
        }

        let mut pts: HashMap<String, PtHier> = HashMap::new();
        for (line, f) in records(mdhier) {
            let bad = || MeddraError::new("meddra_line_invalid", MDHIER_FILE, line);
            // Fields up to primary_soc_fg (index 11) must be present.
            if f.len() < 12 || !f[..4].iter().all(|c| is_code(c)) || f[4].is_empty() {
                return Err(bad());
            }
            let primary = flag(&f[11]).ok_or_else(bad)?;
            let (pt, soc) = (&f[0], &f[3]);
            let entry = pts.entry(pt.clone()).or_default();
            if entry.name.is_empty() {
                entry.name = f[4].clone();
            }
            if primary {
                match &entry.primary_soc {
                    Some(p) if p != soc => return Err(bad()),
                    _ => entry.primary_soc = Some(soc.clone()),
                }
            }
            if !entry.socs.contains(soc) {
                entry.socs.push(soc.clone());
            }
        }
        for h in pts.values_mut() {
            if let Some(p) = &h.primary_soc {
                if let Some(i) = h.socs.iter().position(|s| s == p) {
                    let s = h.socs.remove(i);
                    h.socs.insert(0, s);
                }
            }
        }
        Ok(Terminology {
            llts,
            pts,
            version: None,
        })
    }

    /// Reads a distribution folder: `llt.asc` and `mdhier.asc` (names
    /// matched without case), and the version from `meddra_release.asc`
    /// when present.
    pub fn load_dir(dir: &Path) -> Result<Terminology, MeddraError> {
        let shown = dir.display().to_string();
        let entries = std::fs::read_dir(dir)
            .map_err(|_| MeddraError::new("meddra_files_missing", &shown, 0))?;
        let mut found: HashMap<String, std::path::PathBuf> = HashMap::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_lowercase();
            if [LLT_FILE, MDHIER_FILE, RELEASE_FILE].contains(&name.as_str()) {
                found.insert(name, e.path());
            }
        }
        let read = |name: &str| -> Result<Vec<u8>, MeddraError> {
            let path = found
                .get(name)
                .ok_or_else(|| MeddraError::new("meddra_files_missing", name, 0))?;
            std::fs::read(path).map_err(|_| MeddraError::new("meddra_file_unreadable", name, 0))
        };
        let llt = read(LLT_FILE)?;
        let mdhier = read(MDHIER_FILE)?;
        let mut t = Terminology::parse(&llt, &mdhier)?;
        if found.contains_key(RELEASE_FILE) {
            let data = read(RELEASE_FILE)?;
            t.version = records(&data)
                .next()
                .and_then(|(_, f)| f.into_iter().next())
                .filter(|v| !v.is_empty());
        }
        Ok(t)
    }

    /// The code's LLT, its PT and the PT's SOCs.
    pub fn lookup(&self, code: &str) -> Option<Coding> {
        let code = code.trim();
        let llt = self.llts.get(code)?;
        let hier = self.pts.get(&llt.pt_code);
        let pt_name = match hier {
            Some(h) => h.name.clone(),
            None => self
                .llts
                .get(&llt.pt_code)
                .map(|p| p.name.clone())
                .unwrap_or_default(),
        };
        Some(Coding {
            llt_code: code.to_string(),
            llt_name: llt.name.clone(),
            current: llt.current,
            pt_code: llt.pt_code.clone(),
            pt_name,
            primary_soc: hier.and_then(|h| h.primary_soc.clone()),
            socs: hier.map(|h| h.socs.clone()).unwrap_or_default(),
        })
    }

    /// A code for an adverse event: known and current, else
    /// `meddra_code_unknown` or `meddra_code_not_current`.
    pub fn check(&self, code: &str) -> Result<Coding, MeddraError> {
        let c = self
            .lookup(code)
            .ok_or_else(|| MeddraError::new("meddra_code_unknown", "", 0))?;
        if !c.current {
            return Err(MeddraError::new("meddra_code_not_current", "", 0));
        }
        Ok(c)
    }

    /// Number of LLTs (PTs included).
    pub fn len(&self) -> usize {
        self.llts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.llts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safety::MALIGNANCY_SOC;
    use proptest::prelude::*;

    // Hand-made files in the layout of the MedDRA distribution file format
    // document. All codes and names are made up except the neoplasms SOC
    // code (MALIGNANCY_SOC); nothing here is MedDRA content.
    // PT 90000001 has LLTs 90000011, 90000012 (current) and 90000013
    // (non-current). PT 90000002 sits under SOC 91000002 (secondary) and
    // the neoplasms SOC (primary), through two HLTs under the latter.
    const LLT: &str = "\
90000001$Test pyrexia term$90000001$$$$$$$Y$$
90000011$Test fever term$90000001$$$$$$$Y$$\r
90000012$Test high temperature$90000001$$$$$$$Y$$
90000013$Test old fever word$90000001$$$$$$$N$$

90000002$Test lump term$90000002$$$$$$$Y$$
";
    const MDHIER: &str = "\
90000001$92000001$93000001$91000001$Test pyrexia term$Test HLT A$Test HLGT A$Test SOC general$TGEN$$91000001$Y$
90000002$92000002$93000002$91000002$Test lump term$Test HLT B$Test HLGT B$Test SOC skin$TSKN$$91000002$N$
90000002$92000003$93000003$10029104$Test lump term$Test HLT C$Test HLGT C$Neoplasms benign, malignant and unspecified (incl cysts and polyps)$NEO$$10029104$Y$
90000002$92000004$93000003$10029104$Test lump term$Test HLT D$Test HLGT C$Neoplasms benign, malignant and unspecified (incl cysts and polyps)$NEO$$10029104$Y$
";

    fn term() -> Terminology {
        Terminology::parse(LLT.as_bytes(), MDHIER.as_bytes()).unwrap()
    }

    #[test]
    fn lookups() {
        let t = term();
        // Five records in the hand-made llt.asc above.
        assert_eq!(t.len(), 5);
        assert!(!t.is_empty());
        let c = t.lookup(" 90000012 ").unwrap();
        assert_eq!(c.llt_name, "Test high temperature");
        assert!(c.current);
        assert_eq!(c.pt_code, "90000001");
        assert_eq!(c.pt_name, "Test pyrexia term");
        assert_eq!(c.primary_soc.as_deref(), Some("91000001"));
        assert_eq!(c.socs, vec!["91000001"]);
        // A line ending in CRLF reads like the others.
        assert_eq!(t.lookup("90000011").unwrap().llt_name, "Test fever term");
        // The PT is its own LLT.
        let pt = t.lookup("90000002").unwrap();
        assert_eq!(pt.llt_code, pt.pt_code);
        // Primary SOC first although the secondary one comes first in the
        // file; the neoplasms SOC listed once despite two HLT paths.
        assert_eq!(pt.primary_soc.as_deref(), Some(MALIGNANCY_SOC));
        assert_eq!(pt.socs, vec![MALIGNANCY_SOC, "91000002"]);
        assert!(pt.in_soc(MALIGNANCY_SOC));
        assert!(pt.in_soc("91000002"));
        assert!(!pt.in_soc("91000001"));
        assert!(!c.in_soc(MALIGNANCY_SOC));
        assert!(t.lookup("99999999").is_none());
        assert!(t.lookup("").is_none());
    }

    #[test]
    fn check_codes() {
        let t = term();
        assert_eq!(t.check("90000011").unwrap().pt_code, "90000001");
        let e = t.check("90000013").unwrap_err();
        assert_eq!(e.code(), "meddra_code_not_current");
        assert_eq!((e.file.as_str(), e.line), ("", 0));
        // The non-current LLT is still known to lookup.
        assert!(!t.lookup("90000013").unwrap().current);
        assert_eq!(t.check("12345678").unwrap_err().code, "meddra_code_unknown");
        assert_eq!(t.check("abc").unwrap_err().code, "meddra_code_unknown");
    }

    #[test]
    fn line_errors_name_file_and_line() {
        let short = format!("{LLT}90000003$Too few$90000003$\n");
        let e = Terminology::parse(short.as_bytes(), MDHIER.as_bytes()).unwrap_err();
        // The blank line counts: the appended record is on line 7.
        assert_eq!(e, MeddraError::new("meddra_line_invalid", "llt.asc", 7));
        assert_eq!(
            e.args(),
            vec![("file", "llt.asc".to_string()), ("line", "7".to_string())]
        );

        let hier = format!("{MDHIER}90000001$92000001$93000001$91000001$x$\n");
        let e = Terminology::parse(LLT.as_bytes(), hier.as_bytes()).unwrap_err();
        assert_eq!(e, MeddraError::new("meddra_line_invalid", "mdhier.asc", 5));

        let flag = LLT.replace("$N$$", "$X$$");
        let e = Terminology::parse(flag.as_bytes(), MDHIER.as_bytes()).unwrap_err();
        assert_eq!(e, MeddraError::new("meddra_line_invalid", "llt.asc", 4));

        let dup = format!("{LLT}90000011$Again$90000001$$$$$$$Y$$\n");
        let e = Terminology::parse(dup.as_bytes(), MDHIER.as_bytes()).unwrap_err();
        assert_eq!(e, MeddraError::new("meddra_code_duplicate", "llt.asc", 7));

        let orphan = format!("{LLT}90000021$Orphan$90000009$$$$$$$Y$$\n");
        let e = Terminology::parse(orphan.as_bytes(), MDHIER.as_bytes()).unwrap_err();
        assert_eq!(e, MeddraError::new("meddra_pt_unknown", "llt.asc", 7));
    }

    #[test]
    fn latin1_names_read() {
        // 0xE8 is "è" in Latin-1 and not valid UTF-8 on its own.
        let mut llt = b"90000001$Fi\xE8vre test$90000001$$$$$$$Y$$\n".to_vec();
        llt.extend_from_slice("90000011$Fièvre UTF-8$90000001$$$$$$$Y$$\n".as_bytes());
        let t = Terminology::parse(&llt, b"").unwrap();
        assert_eq!(t.lookup("90000001").unwrap().llt_name, "Fièvre test");
        assert_eq!(t.lookup("90000011").unwrap().llt_name, "Fièvre UTF-8");
        // No mdhier record: the PT name comes from llt.asc, no SOCs.
        let c = t.lookup("90000011").unwrap();
        assert_eq!(c.pt_name, "Fièvre test");
        assert!(c.socs.is_empty() && c.primary_soc.is_none());
    }

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("celltrail-meddra-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn load_dir_upper_case_names() {
        let d = temp_dir("upper");
        std::fs::write(d.join("LLT.ASC"), LLT).unwrap();
        std::fs::write(d.join("MDHIER.ASC"), MDHIER).unwrap();
        std::fs::write(d.join("other.asc"), "ignored").unwrap();
        let t = Terminology::load_dir(&d).unwrap();
        assert_eq!(t.len(), 5);
        assert_eq!(t.version, None);
        assert_eq!(
            t.check("90000002").unwrap().primary_soc.as_deref(),
            Some(MALIGNANCY_SOC)
        );

        std::fs::write(d.join("MedDRA_Release.asc"), "99.1$English$$\n").unwrap();
        assert_eq!(
            Terminology::load_dir(&d).unwrap().version.as_deref(),
            Some("99.1")
        );

        std::fs::remove_file(d.join("MDHIER.ASC")).unwrap();
        let e = Terminology::load_dir(&d).unwrap_err();
        assert_eq!(e, MeddraError::new("meddra_files_missing", "mdhier.asc", 0));
        std::fs::remove_dir_all(&d).unwrap();

        let e = Terminology::load_dir(&d).unwrap_err();
        assert_eq!(e.code, "meddra_files_missing");
    }

    #[test]
    fn error_codes_listed_and_catalogued() {
        let cat = crate::i18n::EN_TXT;
        for code in ERROR_CODES {
            let key = format!("error.{code} =");
            assert!(cat.lines().any(|l| l.starts_with(&key)), "{code}");
            assert!(
                crate::i18n::ZH_CN_TXT.lines().any(|l| l.starts_with(&key)),
                "{code}"
            );
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            llt in proptest::collection::vec(any::<u8>(), 0..400),
            hier in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            if let Err(e) = Terminology::parse(&llt, &hier) {
                prop_assert!(ERROR_CODES.contains(&e.code));
            }
        }

        #[test]
        fn near_valid_text_never_panics(
            llt in "([0-9]{1,3}|Y|N|x|\\$|\n|\r){0,80}",
            hier in "([0-9]{1,3}|Y|N|x|\\$|\n){0,80}",
            code in "[0-9]{0,3}",
        ) {
            match Terminology::parse(llt.as_bytes(), hier.as_bytes()) {
                Ok(t) => {
                    if let Some(c) = t.lookup(&code) {
                        prop_assert_eq!(t.check(&code).is_ok(), c.current);
                        if let Some(p) = &c.primary_soc {
                            prop_assert_eq!(&c.socs[0], p);
                        }
                    }
                }
                Err(e) => prop_assert!(ERROR_CODES.contains(&e.code)),
            }
        }
    }
}
