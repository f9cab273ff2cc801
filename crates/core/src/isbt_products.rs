//! The ISBT 128 product description codes, from the user's own copy of the
//! licensed database.
//!
//! ICCBBA licenses the database that says what each product description
//! code means (`S1295` …); CellTrail does not ship it. A user who holds a
//! licence exports it as text and points CellTrail at the file; without one
//! CellTrail checks a product code's shape only ([`crate::isbt::product_code`])
//! and shows no description.
//!
//! The file is a table with a header line, separated by tabs, commas or
//! semicolons (fields may be quoted). The header names a code column (its
//! name contains `code`, e.g. `Product Code` or `PDC`) and a description
//! column (`desc…` or `name`); a class column (`class` or `category`) is
//! read when present. A code is a letter and four digits — a product code's
//! first five characters — or a whole eight-character product code, whose
//! first five are kept. Blank lines are skipped. [`ProductTable::parse`]
//! never panics: anything else is a [`ProductFileError`] naming the line.

use std::collections::BTreeMap;

use serde::Serialize;

/// One product description code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Product {
    pub code: String,
    pub description: String,
    pub class: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code} at line {line}")]
pub struct ProductFileError {
    /// Stable code; the message is `error.<code>`.
    pub code: &'static str,
    /// 1-based line of the file.
    pub line: usize,
}

pub const ERROR_CODES: &[&str] = &[
    "products_empty",
    "products_header_missing",
    "products_code_invalid",
    "products_duplicate",
];

/// The product description codes a file holds, by code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProductTable {
    entries: BTreeMap<String, Product>,
}

fn err(code: &'static str, line: usize) -> ProductFileError {
    ProductFileError { code, line }
}

/// Splits one line at `sep`, honouring double quotes (`""` inside quotes is
/// a quote).
fn fields(line: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            c if c == sep && !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|f| f.trim().to_string()).collect()
}

/// The five-character product description code of `code` (a PDC, or a
/// whole product code), upper-cased; `None` when it has another shape.
pub fn description_code(code: &str) -> Option<String> {
    let c = code.trim().to_ascii_uppercase();
    let b = c.as_bytes();
    let ok = (b.len() == 5 || b.len() == 8)
        && b[0].is_ascii_uppercase()
        && b[1..5].iter().all(u8::is_ascii_digit)
        && b[5..]
            .iter()
            .all(|x| x.is_ascii_uppercase() || x.is_ascii_digit());
    ok.then(|| c[..5].to_string())
}

impl ProductTable {
    pub fn parse(text: &str) -> Result<ProductTable, ProductFileError> {
        let text = text.trim_start_matches('\u{feff}');
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
            .filter(|(_, l)| !l.trim().is_empty());
        let (hl, header) = lines.next().ok_or(err("products_empty", 1))?;
        let sep = ['\t', ';', ',']
            .into_iter()
            .find(|c| header.contains(*c))
            .ok_or(err("products_header_missing", hl))?;
        let cols: Vec<String> = fields(header, sep)
            .iter()
            .map(|c| c.to_lowercase())
            .collect();
        let find = |words: &[&str]| {
            cols.iter()
                .position(|c| words.iter().any(|w| c.contains(w)))
        };
        let code_col = find(&["code", "pdc"]).ok_or(err("products_header_missing", hl))?;
        let desc_col = cols
            .iter()
            .enumerate()
            .position(|(i, c)| i != code_col && (c.contains("desc") || c.contains("name")))
            .ok_or(err("products_header_missing", hl))?;
        let class_col = find(&["class", "category"]).filter(|i| *i != code_col && *i != desc_col);
        let mut entries = BTreeMap::new();
        for (n, line) in lines {
            let f = fields(line, sep);
            let get = |i: usize| f.get(i).map(String::as_str).unwrap_or("");
            let code = description_code(get(code_col)).ok_or(err("products_code_invalid", n))?;
            let description: String = get(desc_col).chars().take(500).collect();
            if description.is_empty() {
                return Err(err("products_code_invalid", n));
            }
            let class = class_col
                .map(|i| get(i).chars().take(100).collect::<String>())
                .filter(|c| !c.is_empty());
            let p = Product {
                code: code.clone(),
                description,
                class,
            };
            if entries.insert(code, p).is_some() {
                return Err(err("products_duplicate", n));
            }
        }
        if entries.is_empty() {
            return Err(err("products_empty", hl));
        }
        Ok(ProductTable { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What a product code (or description code) means, when the file says.
    pub fn describe(&self, product_code: &str) -> Option<&Product> {
        self.entries.get(&description_code(product_code)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Codes of the shape ST-001 gives (a letter, four digits; a whole
    /// product code adds the collection type and division), descriptions
    /// written here for the test.
    const FILE: &str = "Product Code\tProduct Description\tClass\n\
        S1295\tApheresis mononuclear cells, test description\tCellular therapy\n\
        \"S1296\"\t\"Cryopreserved cells, \"\"test\"\" description\"\tCellular therapy\n";

    #[test]
    fn reads_a_tab_separated_export() {
        let t = ProductTable::parse(FILE).unwrap();
        assert_eq!(t.len(), 2);
        let p = t.describe("s1295a00").unwrap();
        assert_eq!(p.code, "S1295");
        assert_eq!(p.class.as_deref(), Some("Cellular therapy"));
        assert_eq!(
            t.describe("S1296").unwrap().description,
            "Cryopreserved cells, \"test\" description"
        );
        assert!(t.describe("S9999A00").is_none());
        assert!(t.describe("bad").is_none());
    }

    #[test]
    fn reports_the_line_at_fault() {
        let e = |text: &str| ProductTable::parse(text).unwrap_err();
        assert_eq!(e(""), err("products_empty", 1));
        assert_eq!(e("just words\n"), err("products_header_missing", 1));
        assert_eq!(
            e("code,colour\nS1295,red\n"),
            err("products_header_missing", 1)
        );
        assert_eq!(
            e("PDC;Name\nS1295;a\n12345;b\n"),
            err("products_code_invalid", 3)
        );
        assert_eq!(
            e("PDC,Name\nS1295,a\n\nS1295A00,b\n"),
            err("products_duplicate", 4)
        );
        assert_eq!(e("PDC,Name\n"), err("products_empty", 1));
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,300}") {
            let _ = ProductTable::parse(&s);
        }

        #[test]
        fn rows_of_the_right_shape_read_back(codes in proptest::collection::btree_set("[A-Z][0-9]{4}", 1..20)) {
            let mut text = String::from("Code,Description\n");
            for c in &codes {
                text.push_str(&format!("{c},desc {c}\n"));
            }
            let t = ProductTable::parse(&text).unwrap();
            prop_assert_eq!(t.len(), codes.len());
            for c in &codes {
                let want = format!("desc {c}");
                prop_assert_eq!(t.describe(&format!("{c}V00")).map(|p| p.description.as_str()), Some(want.as_str()));
            }
        }
    }
}
