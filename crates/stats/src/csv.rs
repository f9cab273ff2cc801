//! A reader of report-event CSV: `report_id,product,event[,stratum]`.
//!
//! Fields follow RFC 4180: separated by commas, records ended by LF or CRLF,
//! a field may be quoted with `"` (a quote inside doubled), and a quoted
//! field may hold commas and line breaks. A first record whose fields are the
//! column names `report_id,product,event[,stratum]` (any case) is taken as a
//! header; otherwise every record is data. Unquoted fields are trimmed of
//! spaces and tabs; blank lines are skipped; a UTF-8 byte-order mark is
//! ignored. Names may be any UTF-8 (Chinese product names included).
//!
//! The reader never panics: anything else is a [`CsvError`] with a stable
//! code (the message is `error.<code>` in the catalogue) and the 1-based
//! line where the record starts.

use crate::counts::Rows;
use serde::Serialize;
use std::io::Read;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CsvError {
    /// Stable code; the message is `error.<code>`.
    pub code: &'static str,
    /// 1-based line of the file (0 for the file as a whole).
    pub line: usize,
    /// The column at fault, if one is.
    pub column: Option<&'static str>,
}

impl std::fmt::Display for CsvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.column {
            Some(c) => write!(f, "{} at line {} (column {c})", self.code, self.line),
            None => write!(f, "{} at line {}", self.code, self.line),
        }
    }
}

impl std::error::Error for CsvError {}

pub const ERROR_CODES: &[&str] = &[
    "signal_csv_empty",
    "signal_csv_columns",
    "signal_csv_empty_field",
    "signal_csv_quote",
    "signal_csv_utf8",
    "signal_csv_stratum_conflict",
    "signal_csv_io",
];

const COLUMNS: [&str; 4] = ["report_id", "product", "event", "stratum"];

fn err(code: &'static str, line: usize, column: Option<&'static str>) -> CsvError {
    CsvError { code, line, column }
}

/// Reads all of `reader` and parses it with [`parse`].
pub fn read<R: Read>(mut reader: R) -> Result<Rows, CsvError> {
    let mut buf = Vec::new();
    reader
        .read_to_end(&mut buf)
        .map_err(|_| err("signal_csv_io", 0, None))?;
    parse(&buf)
}

/// One field: borrowed when unquoted, owned when quotes had to be undone.
enum Field<'a> {
    Borrowed(&'a str),
    Owned(String),
}

impl Field<'_> {
    fn as_str(&self) -> &str {
        match self {
            Field::Borrowed(s) => s,
            Field::Owned(s) => s,
        }
    }
}

/// Cursor over the bytes, tracking the line.
struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Scanner<'a> {
    /// Reads one record into `out`. Returns false at the end of input.
    fn record(&mut self, out: &mut Vec<Field<'a>>) -> Result<bool, CsvError> {
        out.clear();
        if self.pos >= self.bytes.len() {
            return Ok(false);
        }
        let start_line = self.line;
        loop {
            // One field; spaces before an opening quote are dropped.
            let mut q = self.pos;
            while matches!(self.bytes.get(q), Some(b' ' | b'\t')) {
                q += 1;
            }
            if self.bytes.get(q) == Some(&b'"') {
                self.pos = q + 1;
                let mut owned = String::new();
                let mut seg = self.pos;
                loop {
                    match self.bytes.get(self.pos) {
                        None => return Err(err("signal_csv_quote", start_line, None)),
                        Some(b'"') => {
                            if self.bytes.get(self.pos + 1) == Some(&b'"') {
                                owned.push_str(&self.text[seg..self.pos + 1]);
                                self.pos += 2;
                                seg = self.pos;
                            } else {
                                owned.push_str(&self.text[seg..self.pos]);
                                self.pos += 1;
                                break;
                            }
                        }
                        Some(b'\n') => {
                            self.line += 1;
                            self.pos += 1;
                        }
                        Some(_) => self.pos += 1,
                    }
                }
                // Only spaces may follow the closing quote.
                while matches!(self.bytes.get(self.pos), Some(b' ' | b'\t')) {
                    self.pos += 1;
                }
                out.push(Field::Owned(owned));
            } else {
                let s = self.pos;
                while let Some(&b) = self.bytes.get(self.pos) {
                    if b == b',' || b == b'\n' || b == b'\r' {
                        break;
                    }
                    if b == b'"' {
                        return Err(err("signal_csv_quote", start_line, None));
                    }
                    self.pos += 1;
                }
                let field = self.text[s..self.pos].trim_matches(|c| c == ' ' || c == '\t');
                out.push(Field::Borrowed(field));
            }
            match self.bytes.get(self.pos) {
                None => return Ok(true),
                Some(b',') => self.pos += 1,
                Some(b'\r') if self.bytes.get(self.pos + 1) == Some(&b'\n') => {
                    self.pos += 2;
                    self.line += 1;
                    return Ok(true);
                }
                Some(b'\n') => {
                    self.pos += 1;
                    self.line += 1;
                    return Ok(true);
                }
                // A bare CR, or anything after a closing quote.
                Some(_) => return Err(err("signal_csv_quote", start_line, None)),
            }
        }
    }
}

fn is_blank(fields: &[Field<'_>]) -> bool {
    fields.len() == 1 && matches!(&fields[0], Field::Borrowed(s) if s.is_empty())
}

fn is_header(fields: &[Field<'_>]) -> bool {
    (fields.len() == 3 || fields.len() == 4)
        && fields
            .iter()
            .zip(COLUMNS)
            .all(|(f, c)| f.as_str().trim().eq_ignore_ascii_case(c))
}

/// Parses report-event CSV into interned [`Rows`].
pub fn parse(bytes: &[u8]) -> Result<Rows, CsvError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            return Err(err("signal_csv_utf8", line, None));
        }
    };
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sc = Scanner {
        text: body,
        bytes: body.as_bytes(),
        pos: 0,
        line: 1,
    };
    let mut rows = Rows::new();
    let mut fields: Vec<Field<'_>> = Vec::with_capacity(4);
    let mut width: Option<usize> = None;
    let mut first = true;
    loop {
        let line = sc.line;
        if !sc.record(&mut fields)? {
            break;
        }
        if is_blank(&fields) {
            continue;
        }
        if first {
            first = false;
            if is_header(&fields) {
                width = Some(fields.len());
                continue;
            }
        }
        let w = *width.get_or_insert(fields.len());
        if fields.len() != w || !(w == 3 || w == 4) {
            return Err(err("signal_csv_columns", line, None));
        }
        for (f, name) in fields.iter().zip(COLUMNS) {
            if f.as_str().is_empty() {
                return Err(err("signal_csv_empty_field", line, Some(name)));
            }
        }
        let stratum = if w == 4 {
            Some(fields[3].as_str())
        } else {
            None
        };
        rows.push(
            fields[0].as_str(),
            fields[1].as_str(),
            fields[2].as_str(),
            stratum,
        )
        .map_err(|_| err("signal_csv_stratum_conflict", line, Some("stratum")))?;
    }
    if rows.is_empty() {
        return Err(err("signal_csv_empty", 0, None));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(rows: &Rows, i: usize) -> (String, String, String) {
        (
            rows.reports.name(rows.report[i]).to_string(),
            rows.products.name(rows.product[i]).to_string(),
            rows.events.name(rows.event[i]).to_string(),
        )
    }

    #[test]
    fn reads_header_quotes_crlf_and_chinese_names() {
        let text = "\u{feff}Report_ID,Product,Event\r\n\
                    1,\"阿司匹林, 肠溶片\",恶心\r\n\
                    \r\n\
                    2 , \"say \"\"hi\"\"\" ,\"multi\nline\"\r\n";
        let rows = parse(text.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            names(&rows, 0),
            ("1".into(), "阿司匹林, 肠溶片".into(), "恶心".into())
        );
        assert_eq!(
            names(&rows, 1),
            ("2".into(), "say \"hi\"".into(), "multi\nline".into())
        );
        assert!(!rows.has_strata());
    }

    #[test]
    fn headerless_with_strata() {
        let rows = parse(b"r1,a,x,F\nr1,a,y,F\nr2,b,x,M").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows.strata.len(), 2);
        assert_eq!(rows.report_stratum, vec![0, 1]);
    }

    #[test]
    fn errors_carry_code_line_and_column() {
        let cases: [(&[u8], &str, usize, Option<&str>); 8] = [
            (b"", "signal_csv_empty", 0, None),
            (b"report_id,product,event\n", "signal_csv_empty", 0, None),
            (b"1,a,x\n2,b\n", "signal_csv_columns", 2, None),
            (b"1,a\n", "signal_csv_columns", 1, None),
            (
                b"report_id,product,event\n1,,x\n",
                "signal_csv_empty_field",
                2,
                Some("product"),
            ),
            (b"1,a,x\n2,\"b,x\n", "signal_csv_quote", 2, None),
            (b"1,a,x\n2,b\xff,x\n", "signal_csv_utf8", 2, None),
            (
                b"1,a,x,F\n1,a,y,M\n",
                "signal_csv_stratum_conflict",
                2,
                Some("stratum"),
            ),
        ];
        for (input, code, line, column) in cases {
            let e = parse(input).unwrap_err();
            assert_eq!(
                (e.code, e.line, e.column),
                (code, line, column),
                "{input:?}"
            );
            assert!(ERROR_CODES.contains(&e.code));
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn never_panics_on_csvish_text(s in "[a-c,\"\r\n 中\t]{0,80}") {
            if let Err(e) = parse(s.as_bytes()) {
                proptest::prop_assert!(ERROR_CODES.contains(&e.code));
            }
        }

        #[test]
        fn quoted_fields_round_trip(p in "[^\u{0}]{1,20}", e in "[a-z中文,\" ]{1,10}") {
            let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
            let text = format!("1,{},{}\n", q(&p), q(&e));
            let rows = parse(text.as_bytes()).unwrap();
            proptest::prop_assert_eq!(rows.products.name(0), p.as_str());
            proptest::prop_assert_eq!(rows.events.name(0), e.as_str());
        }
    }
}
