//! Temperature logs from shipping data loggers, and excursions out of a
//! product's range.
//!
//! Loggers export CSV in many dialects. [`parse_csv`] reads the common ones:
//! a header naming a time column (or a date and a time column) and a
//! temperature column, separated by commas, semicolons or tabs; decimal
//! commas where the separator is a semicolon or tab; °C or °F (by the
//! header); times as `YYYY-MM-DD HH:MM[:SS]`, ISO 8601 with `T` and an
//! optional `Z`, or `DD/MM/YYYY HH:MM[:SS]`. It never panics: anything else
//! is a [`LogError`] naming the line and the column.

use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;

/// One reading of a logger.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Reading {
    pub time: NaiveDateTime,
    pub celsius: f64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code} at line {line}")]
pub struct LogError {
    /// Stable code; the message is `error.<code>`.
    pub code: &'static str,
    /// 1-based line of the file.
    pub line: usize,
    pub column: Option<String>,
}

pub const ERROR_CODES: &[&str] = &[
    "logger_empty",
    "logger_header_missing",
    "logger_time_invalid",
    "logger_value_invalid",
    "logger_out_of_order",
];

fn err(code: &'static str, line: usize, column: Option<&str>) -> LogError {
    LogError {
        code,
        line,
        column: column.map(str::to_string),
    }
}

fn parse_time(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim().trim_end_matches('Z');
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%d/%m/%Y %H:%M:%S",
        "%d/%m/%Y %H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t);
        }
    }
    None
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    ["%Y-%m-%d", "%d/%m/%Y", "%Y/%m/%d"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
}

/// Reads a logger's CSV export into readings in time order.
pub fn parse_csv(text: &str) -> Result<Vec<Reading>, LogError> {
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty());
    let (header_line, header) = lines.next().ok_or(err("logger_empty", 1, None))?;
    let sep = [';', '\t', ',']
        .into_iter()
        .find(|c| header.contains(*c))
        .ok_or(err("logger_header_missing", header_line, None))?;
    let decimal_comma = sep != ',';
    let cols: Vec<String> = header
        .split(sep)
        .map(|c| c.trim().trim_matches('"').to_lowercase())
        .collect();
    let find = |words: &[&str]| {
        cols.iter()
            .position(|c| words.iter().any(|w| c.contains(w)))
    };
    let temp = find(&["temp", "°c", "°f", "温度"]).ok_or(err(
        "logger_header_missing",
        header_line,
        Some("temperature"),
    ))?;
    let fahrenheit =
        cols[temp].contains("°f") || cols[temp].contains("(f)") || cols[temp].ends_with(" f");
    let stamp = find(&["timestamp", "date/time", "datetime", "date time", "时间"]);
    let (date_col, time_col) = match stamp {
        Some(i) => (i, None),
        None => {
            // A lone "time" column holds the whole date and time.
            let d = find(&["date", "日期"])
                .or_else(|| find(&["time"]))
                .ok_or(err("logger_header_missing", header_line, Some("time")))?;
            let t = cols
                .iter()
                .enumerate()
                .position(|(i, c)| i != d && c.contains("time"));
            match t {
                Some(t) => (d, Some(t)),
                None => (d, None),
            }
        }
    };
    let mut out: Vec<Reading> = Vec::new();
    for (n, line) in lines {
        let cells: Vec<&str> = line
            .split(sep)
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        let cell = |i: usize| cells.get(i).copied().unwrap_or("");
        let time = match time_col {
            None => parse_time(cell(date_col)),
            Some(t) => parse_time(&format!("{} {}", cell(date_col), cell(t))).or_else(|| {
                parse_date(cell(date_col)).and_then(|d| {
                    chrono::NaiveTime::parse_from_str(cell(t), "%H:%M:%S")
                        .or_else(|_| chrono::NaiveTime::parse_from_str(cell(t), "%H:%M"))
                        .ok()
                        .map(|tm| d.and_time(tm))
                })
            }),
        }
        .ok_or(err("logger_time_invalid", n, Some(cols[date_col].as_str())))?;
        let raw = cell(temp);
        let raw = if decimal_comma {
            raw.replace(',', ".")
        } else {
            raw.to_string()
        };
        let v: f64 = raw
            .trim_end_matches(['°', 'C', 'F', 'c', 'f'])
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && (-273.15..=1000.0).contains(v))
            .ok_or(err("logger_value_invalid", n, Some(cols[temp].as_str())))?;
        let celsius = if fahrenheit {
            (v - 32.0) * 5.0 / 9.0
        } else {
            v
        };
        if out.last().is_some_and(|r| r.time > time) {
            return Err(err("logger_out_of_order", n, None));
        }
        out.push(Reading { time, celsius });
    }
    if out.is_empty() {
        return Err(err("logger_empty", header_line + 1, None));
    }
    Ok(out)
}

/// The temperatures a product must stay within.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Range {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Range {
    /// Vapour-phase liquid nitrogen for cryopreserved cells: at or below
    /// −150 °C.
    pub const LN2_VAPOUR: Range = Range {
        min: None,
        max: Some(-150.0),
    };
    /// Refrigerated: 2–8 °C.
    pub const REFRIGERATED: Range = Range {
        min: Some(2.0),
        max: Some(8.0),
    };

    pub fn contains(&self, c: f64) -> bool {
        self.min.is_none_or(|m| c >= m) && self.max.is_none_or(|m| c <= m)
    }
}

/// A stretch of readings out of range: from the first reading out to the
/// first reading back in (or the last reading), with the worst value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Excursion {
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    pub minutes: i64,
    /// The reading furthest outside the range.
    pub worst_celsius: f64,
    pub readings: usize,
}

/// The excursions of a log against a range, and the total minutes out.
pub fn excursions(readings: &[Reading], range: Range) -> (Vec<Excursion>, i64) {
    let mut out: Vec<Excursion> = Vec::new();
    let mut open: Option<Excursion> = None;
    let distance = |c: f64| {
        let below = range.min.map_or(0.0, |m| (m - c).max(0.0));
        let above = range.max.map_or(0.0, |m| (c - m).max(0.0));
        below.max(above)
    };
    for r in readings {
        if range.contains(r.celsius) {
            if let Some(mut e) = open.take() {
                e.end = r.time;
                e.minutes = (e.end - e.start).num_minutes();
                out.push(e);
            }
        } else {
            match &mut open {
                Some(e) => {
                    e.readings += 1;
                    e.end = r.time;
                    if distance(r.celsius) > distance(e.worst_celsius) {
                        e.worst_celsius = r.celsius;
                    }
                }
                None => {
                    open = Some(Excursion {
                        start: r.time,
                        end: r.time,
                        minutes: 0,
                        worst_celsius: r.celsius,
                        readings: 1,
                    })
                }
            }
        }
    }
    if let Some(mut e) = open {
        e.minutes = (e.end - e.start).num_minutes();
        out.push(e);
    }
    let total = out.iter().map(|e| e.minutes).sum();
    (out, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    /// Loggers that name one "Time" column carry date and time in it.
    #[test]
    fn lone_time_column() {
        let r = parse_csv("Time,Temp (°C)\n2026-03-10 08:00,-180.5\n2026-03-10T08:05:00Z,-179\n")
            .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].time, t("2026-03-10 08:05"));
        assert_eq!(r[0].celsius, -180.5);
    }

    #[test]
    fn dialects() {
        let a = parse_csv(
            "Timestamp,Temperature (°C)\n2026-07-01 08:00:00,-185.2\n2026-07-01T08:15:00Z,-184.9\n",
        )
        .unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].time, t("2026-07-01 08:15"));
        assert_eq!(a[0].celsius, -185.2);
        // Semicolons, decimal commas, separate date and time, day first.
        let b = parse_csv("\u{feff}\"Date\";\"Time\";\"Temp °C\"\r\n01/07/2026;08:00;4,5\r\n01/07/2026;08:30;9,1\r\n").unwrap();
        assert_eq!(b[1].time, t("2026-07-01 08:30"));
        assert_eq!(b[1].celsius, 9.1);
        // Fahrenheit: 41 °F is 5 °C.
        let c = parse_csv("datetime\ttemperature (°F)\n2026-07-01 08:00\t41\n").unwrap();
        assert!((c[0].celsius - 5.0).abs() < 1e-9);
    }

    #[test]
    fn errors_name_line_and_column() {
        assert_eq!(parse_csv("").unwrap_err().code, "logger_empty");
        assert_eq!(
            parse_csv("a,b\n1,2\n").unwrap_err().code,
            "logger_header_missing"
        );
        let e = parse_csv("Timestamp,Temp\n2026-07-01 08:00,-180\nyesterday,-181\n").unwrap_err();
        assert_eq!((e.code, e.line), ("logger_time_invalid", 3));
        let e = parse_csv("Timestamp,Temp\n2026-07-01 08:00,cold\n").unwrap_err();
        assert_eq!(
            (e.code, e.line, e.column.as_deref()),
            ("logger_value_invalid", 2, Some("temp"))
        );
        let e = parse_csv("Timestamp,Temp\n2026-07-01 09:00,-180\n2026-07-01 08:00,-181\n")
            .unwrap_err();
        assert_eq!((e.code, e.line), ("logger_out_of_order", 3));
        assert_eq!(
            parse_csv("Timestamp,Temp\n").unwrap_err().code,
            "logger_empty"
        );
    }

    /// A dry shipper warming from −185 °C: above −150 °C from 10:00 to
    /// 10:45 (45 minutes, worst −141.5 °C), back at 10:45; a second
    /// excursion from 12:00 to the end of the log at 12:30.
    #[test]
    fn excursions_against_ln2_vapour_range() {
        let csv = "Timestamp,Temperature\n\
            2026-07-01 09:30,-185\n2026-07-01 10:00,-149\n2026-07-01 10:15,-141.5\n\
            2026-07-01 10:30,-148\n2026-07-01 10:45,-160\n2026-07-01 11:00,-180\n\
            2026-07-01 12:00,-120\n2026-07-01 12:30,-110\n";
        let r = parse_csv(csv).unwrap();
        let (ex, total) = excursions(&r, Range::LN2_VAPOUR);
        assert_eq!(ex.len(), 2);
        assert_eq!(
            (ex[0].start, ex[0].end, ex[0].minutes),
            (t("2026-07-01 10:00"), t("2026-07-01 10:45"), 45)
        );
        assert_eq!((ex[0].worst_celsius, ex[0].readings), (-141.5, 3));
        assert_eq!((ex[1].minutes, ex[1].worst_celsius), (30, -110.0));
        assert_eq!(total, 75);
        // 2–8 °C: below and above both count, the worst is the furthest.
        let cold = [
            Reading {
                time: t("2026-07-01 08:00"),
                celsius: 5.0,
            },
            Reading {
                time: t("2026-07-01 08:10"),
                celsius: 1.0,
            },
            Reading {
                time: t("2026-07-01 08:20"),
                celsius: 11.0,
            },
            Reading {
                time: t("2026-07-01 08:30"),
                celsius: 6.0,
            },
        ];
        let (ex, total) = excursions(&cold, Range::REFRIGERATED);
        assert_eq!((ex.len(), total, ex[0].worst_celsius), (1, 20, 11.0));
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,300}") {
            let _ = parse_csv(&s);
        }

        #[test]
        fn near_valid_logs_never_panic(rows in proptest::collection::vec("(2026-0[1-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]|x)[,;\\t](-?[0-9]{1,3}[.,]?[0-9]?|nan|1e999)", 0..20)) {
            let text = format!("Timestamp,Temperature\n{}", rows.join("\n"));
            if let Ok(r) = parse_csv(&text) {
                let (ex, total) = excursions(&r, Range::LN2_VAPOUR);
                proptest::prop_assert!(total >= 0);
                proptest::prop_assert!(ex.iter().all(|e| e.end >= e.start));
            }
        }
    }
}
