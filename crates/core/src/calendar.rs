//! The Chinese working-day calendar (工作日历), shipped as data.
//!
//! Mainland China's working days are Monday to Friday, except the days off
//! of the statutory holidays, plus the weekend days that the State Council
//! General Office turns into working days to lengthen the breaks (调休上班).
//! Each year's days are published in one notice, 《国务院办公厅关于XXXX年
//! 部分节假日安排的通知》, usually in October or November of the year before.
//!
//! The data lives in `data/calendar/cn-holidays.json` at the repository
//! root; [`WorkCalendar::embedded`] compiles it in, and a server may load a
//! newer file with [`WorkCalendar::from_json`] at start-up without a rebuild.
//!
//! Deadlines counted in working days refuse to guess: when the count would
//! run into a year without a notice, the result is
//! [`CalendarError::NotCovered`].

use crate::i18n::Lang;
use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The calendar data compiled into the crate.
pub const EMBEDDED_JSON: &str = include_str!("../../../data/calendar/cn-holidays.json");

/// Years a notice key may name.
const MIN_YEAR: i32 = 1949;
const MAX_YEAR: i32 = 9998;

/// A calendar file that cannot be used, or a count the data cannot answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The text is not JSON of the expected shape.
    #[error("calendar data is not valid: {message}")]
    Json { message: String },
    /// A key of `years` is not a four-digit year.
    #[error("calendar key {key:?} under \"years\" is not a year")]
    InvalidYear { key: String },
    /// A required text field is missing or empty.
    #[error("calendar {year}: field {field} is missing or empty")]
    MissingField { year: i32, field: String },
    /// A date is not written as `YYYY-MM-DD`.
    #[error("calendar {year}: field {field} has {value:?}, expected a date YYYY-MM-DD")]
    InvalidDate {
        year: i32,
        field: String,
        value: String,
    },
    /// A date lies outside the notice's year and the years next to it.
    #[error(
        "calendar {year}: field {field} has {date}, outside the years this notice can arrange"
    )]
    DateOutOfRange {
        year: i32,
        field: String,
        date: NaiveDate,
    },
    /// A date is both a day off and an adjusted working day.
    #[error("calendar {year}: {date} is listed both as a day off and as a working day")]
    Conflict { year: i32, date: NaiveDate },
    /// A date is listed twice in the same role.
    #[error("calendar {year}: {date} is listed more than once")]
    Duplicate { year: i32, date: NaiveDate },
    /// An adjusted working day that is not a Saturday or Sunday.
    #[error("calendar {year}: adjusted working day {date} is not a Saturday or Sunday")]
    WorkDayNotWeekend { year: i32, date: NaiveDate },
    /// The data has no notice for a year the question needs.
    #[error("the working-day calendar has no holiday notice for {year}")]
    NotCovered { year: i32 },
}

impl CalendarError {
    /// Stable machine code; the message is the catalogue entry `error.<code>`.
    pub fn code(&self) -> &'static str {
        match self {
            CalendarError::Json { .. } => "calendar_json",
            CalendarError::InvalidYear { .. } => "calendar_year_invalid",
            CalendarError::MissingField { .. } => "calendar_field_missing",
            CalendarError::InvalidDate { .. } => "calendar_date_invalid",
            CalendarError::DateOutOfRange { .. } => "calendar_date_out_of_range",
            CalendarError::Conflict { .. } => "calendar_date_conflict",
            CalendarError::Duplicate { .. } => "calendar_date_duplicate",
            CalendarError::WorkDayNotWeekend { .. } => "calendar_work_day_not_weekend",
            CalendarError::NotCovered { .. } => "calendar_not_covered",
        }
    }

    /// Named arguments for the catalogue message.
    pub fn args(&self) -> Vec<(&'static str, String)> {
        match self {
            CalendarError::Json { message } => vec![("message", message.clone())],
            CalendarError::InvalidYear { key } => vec![("key", key.clone())],
            CalendarError::MissingField { year, field } => {
                vec![("year", year.to_string()), ("field", field.clone())]
            }
            CalendarError::InvalidDate { year, field, value } => vec![
                ("year", year.to_string()),
                ("field", field.clone()),
                ("value", value.clone()),
            ],
            CalendarError::DateOutOfRange { year, field, date } => vec![
                ("year", year.to_string()),
                ("field", field.clone()),
                ("date", date.to_string()),
            ],
            CalendarError::Conflict { year, date }
            | CalendarError::Duplicate { year, date }
            | CalendarError::WorkDayNotWeekend { year, date } => {
                vec![("year", year.to_string()), ("date", date.to_string())]
            }
            CalendarError::NotCovered { year } => vec![("year", year.to_string())],
        }
    }
}

/// One holiday of a notice: its name, its days off and its adjusted
/// working days.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    pub name_zh: String,
    pub name_en: String,
    pub days_off: Vec<NaiveDate>,
    pub work_days: Vec<NaiveDate>,
}

impl Holiday {
    /// The holiday's name in one language (Chinese if the English is empty).
    pub fn name(&self, lang: Lang) -> &str {
        match lang {
            Lang::En if !self.name_en.is_empty() => &self.name_en,
            _ => &self.name_zh,
        }
    }
}

/// One year's notice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub year: i32,
    /// Title, e.g. 国务院办公厅关于2026年部分节假日安排的通知.
    pub notice: String,
    /// Document number, e.g. 国办发明电〔2025〕7号 (empty if not recorded).
    pub number: String,
    /// Date of publication.
    pub published: NaiveDate,
    /// Where the text was read.
    pub references: Vec<String>,
    pub holidays: Vec<Holiday>,
}

/// What kind of day a date is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    /// Monday to Friday, no holiday.
    Workday,
    /// Saturday or Sunday, no arrangement.
    Weekend,
    /// A day off of a statutory holiday break.
    Holiday,
    /// A Saturday or Sunday turned into a working day (调休上班).
    AdjustedWorkday,
}

impl DayKind {
    pub fn is_working(self) -> bool {
        matches!(self, DayKind::Workday | DayKind::AdjustedWorkday)
    }
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    source: String,
    years: BTreeMap<String, RawYear>,
}

#[derive(Deserialize)]
struct RawYear {
    #[serde(default)]
    notice: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    published: String,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    holidays: Vec<RawHoliday>,
}

#[derive(Deserialize)]
struct RawHoliday {
    #[serde(default)]
    name_zh: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    days_off: Vec<String>,
    #[serde(default)]
    work_days: Vec<String>,
}

/// Where a listed date came from: index of the notice (by year) and of the
/// holiday inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mark {
    year: i32,
    holiday: usize,
    off: bool,
}

/// Chinese working-day calendar built from holiday notices.
#[derive(Clone, Debug, Default)]
pub struct WorkCalendar {
    source: String,
    notices: BTreeMap<i32, Notice>,
    marks: HashMap<NaiveDate, Mark>,
}

fn parse_date(year: i32, field: &str, value: &str) -> Result<NaiveDate, CalendarError> {
    let v = value.trim();
    let bad = || CalendarError::InvalidDate {
        year,
        field: field.to_string(),
        value: value.chars().take(40).collect(),
    };
    if v.len() != 10 || !v.is_ascii() {
        return Err(bad());
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| bad())
}

fn parse_year_key(key: &str) -> Result<i32, CalendarError> {
    let k = key.trim();
    let bad = || CalendarError::InvalidYear {
        key: key.chars().take(40).collect(),
    };
    if k.len() != 4 || !k.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let y: i32 = k.parse().map_err(|_| bad())?;
    if !(MIN_YEAR..=MAX_YEAR).contains(&y) {
        return Err(bad());
    }
    Ok(y)
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

impl WorkCalendar {
    /// Loads calendar data (the format of `data/calendar/cn-holidays.json`).
    ///
    /// Rejects, naming the year and the field: a year key that is not a
    /// year, a missing notice title or publication date, a holiday without a
    /// Chinese name, a malformed date, a date more than one year away from
    /// its notice's year, a date listed twice, a date listed both as a day off
    /// and as a working day, and an adjusted working day that is not a
    /// Saturday or Sunday.
    pub fn from_json(s: &str) -> Result<Self, CalendarError> {
        let raw: RawFile = serde_json::from_str(s).map_err(|e| CalendarError::Json {
            message: e.to_string(),
        })?;
        let mut cal = WorkCalendar {
            source: raw.source,
            notices: BTreeMap::new(),
            marks: HashMap::new(),
        };
        for (key, ry) in raw.years {
            let year = parse_year_key(&key)?;
            if cal.notices.contains_key(&year) {
                // "2026" and " 2026" would both name 2026.
                return Err(CalendarError::InvalidYear { key });
            }
            let missing = |field: &str| CalendarError::MissingField {
                year,
                field: field.to_string(),
            };
            if ry.notice.trim().is_empty() {
                return Err(missing("notice"));
            }
            if ry.published.trim().is_empty() {
                return Err(missing("published"));
            }
            let published = parse_date(year, "published", &ry.published)?;
            let mut holidays = Vec::with_capacity(ry.holidays.len());
            for (hi, rh) in ry.holidays.into_iter().enumerate() {
                if rh.name_zh.trim().is_empty() {
                    return Err(missing(&format!("holidays[{hi}].name_zh")));
                }
                let mut days_off = Vec::with_capacity(rh.days_off.len());
                for (di, v) in rh.days_off.iter().enumerate() {
                    let field = format!("holidays[{hi}].days_off[{di}]");
                    days_off.push(Self::checked_date(year, &field, v)?);
                }
                let mut work_days = Vec::with_capacity(rh.work_days.len());
                for (di, v) in rh.work_days.iter().enumerate() {
                    let field = format!("holidays[{hi}].work_days[{di}]");
                    let d = Self::checked_date(year, &field, v)?;
                    if !is_weekend(d) {
                        return Err(CalendarError::WorkDayNotWeekend { year, date: d });
                    }
                    work_days.push(d);
                }
                for (&d, off) in days_off
                    .iter()
                    .map(|d| (d, true))
                    .chain(work_days.iter().map(|d| (d, false)))
                {
                    let mark = Mark {
                        year,
                        holiday: hi,
                        off,
                    };
                    match cal.marks.get(&d) {
                        Some(m) if m.off == off => {
                            return Err(CalendarError::Duplicate { year, date: d })
                        }
                        Some(_) => return Err(CalendarError::Conflict { year, date: d }),
                        None => {
                            cal.marks.insert(d, mark);
                        }
                    }
                }
                holidays.push(Holiday {
                    name_zh: rh.name_zh.trim().to_string(),
                    name_en: rh.name_en.trim().to_string(),
                    days_off,
                    work_days,
                });
            }
            cal.notices.insert(
                year,
                Notice {
                    year,
                    notice: ry.notice.trim().to_string(),
                    number: ry.number.trim().to_string(),
                    published,
                    references: ry.references,
                    holidays,
                },
            );
        }
        Ok(cal)
    }

    fn checked_date(year: i32, field: &str, v: &str) -> Result<NaiveDate, CalendarError> {
        let d = parse_date(year, field, v)?;
        if (d.year() - year).abs() > 1 {
            return Err(CalendarError::DateOutOfRange {
                year,
                field: field.to_string(),
                date: d,
            });
        }
        Ok(d)
    }

    /// The calendar compiled into the crate (`data/calendar/cn-holidays.json`).
    ///
    /// The embedded file is checked by this crate's tests; should it ever
    /// fail to load, the result is an empty calendar, which covers no year
    /// and so makes every deadline count report [`CalendarError::NotCovered`]
    /// rather than a wrong date.
    pub fn embedded() -> Self {
        Self::from_json(EMBEDDED_JSON).unwrap_or_default()
    }

    /// The `source` note of the data file.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the data holds the notice for `year`.
    pub fn covers(&self, year: i32) -> bool {
        self.notices.contains_key(&year)
    }

    /// Years with a notice, ascending.
    pub fn years(&self) -> Vec<i32> {
        self.notices.keys().copied().collect()
    }

    /// The notice of a year.
    pub fn notice(&self, year: i32) -> Option<&Notice> {
        self.notices.get(&year)
    }

    /// What kind of day `date` is. For a year without a notice this is the
    /// plain weekday rule.
    pub fn day_kind(&self, date: NaiveDate) -> DayKind {
        match self.marks.get(&date) {
            Some(m) if m.off => DayKind::Holiday,
            Some(_) => DayKind::AdjustedWorkday,
            None if is_weekend(date) => DayKind::Weekend,
            None => DayKind::Workday,
        }
    }

    /// Monday to Friday unless a day off; Saturday and Sunday only when an
    /// adjusted working day.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.day_kind(date).is_working()
    }

    fn holiday_of(&self, date: NaiveDate) -> Option<(&Holiday, bool)> {
        let m = self.marks.get(&date)?;
        let h = self.notices.get(&m.year)?.holidays.get(m.holiday)?;
        Some((h, m.off))
    }

    /// The name of the holiday whose break includes `date` as a day off.
    pub fn holiday_name(&self, date: NaiveDate, lang: Lang) -> Option<&str> {
        match self.holiday_of(date)? {
            (h, true) => Some(h.name(lang)),
            (_, false) => None,
        }
    }

    /// For an adjusted working day, the holiday it was moved for.
    pub fn adjusted_for(&self, date: NaiveDate, lang: Lang) -> Option<&str> {
        match self.holiday_of(date)? {
            (h, false) => Some(h.name(lang)),
            (_, true) => None,
        }
    }

    fn require(&self, date: NaiveDate) -> Result<(), CalendarError> {
        if self.covers(date.year()) {
            Ok(())
        } else {
            Err(CalendarError::NotCovered { year: date.year() })
        }
    }

    /// The deadline `n` working days after `start`: counting starts the day
    /// after `start`, and the `n`-th working day is the deadline. With
    /// `n == 0` the deadline is `start` itself.
    ///
    /// Every day counted must lie in a year the data covers, otherwise the
    /// answer is [`CalendarError::NotCovered`] naming the first missing year.
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        let mut d = start;
        let mut left = n;
        while left > 0 {
            d = match d.succ_opt() {
                Some(next) => next,
                None => {
                    return Err(CalendarError::NotCovered {
                        year: d.year().saturating_add(1),
                    })
                }
            };
            self.require(d)?;
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        Ok(d)
    }

    /// Working days after `from` up to and including `to`; zero when `to`
    /// is not after `from`. Every day counted must lie in a covered year.
    pub fn working_days_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<u32, CalendarError> {
        if to <= from {
            return Ok(0);
        }
        let Some(first) = from.succ_opt() else {
            return Ok(0);
        };
        // Check coverage up front so a long span fails before any counting.
        for y in first.year()..=to.year() {
            if !self.covers(y) {
                return Err(CalendarError::NotCovered { year: y });
            }
        }
        let mut count = 0u32;
        let mut d = from;
        while d < to {
            d = match d.succ_opt() {
                Some(next) => next,
                None => break,
            };
            if self.is_working_day(d) {
                count += 1;
            }
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn cal() -> WorkCalendar {
        WorkCalendar::from_json(EMBEDDED_JSON).expect("embedded calendar loads")
    }

    #[test]
    fn embedded_data_loads_and_covers_2024_to_2026() {
        let c = cal();
        assert_eq!(c.years(), vec![2024, 2025, 2026]);
        assert!(c.covers(2025) && c.covers(2026));
        assert!(!c.covers(2023) && !c.covers(2027));
        assert_eq!(WorkCalendar::embedded().years(), c.years());
        let n = c.notice(2026).unwrap();
        assert_eq!(n.notice, "国务院办公厅关于2026年部分节假日安排的通知");
        assert_eq!(n.number, "国办发明电〔2025〕7号");
        assert_eq!(n.published, d("2025-11-04"));
        let n = c.notice(2025).unwrap();
        assert_eq!(n.number, "国办发明电〔2024〕12号");
        assert_eq!(n.published, d("2024-11-12"));
        let n = c.notice(2024).unwrap();
        assert_eq!(n.number, "国办发明电〔2023〕7号");
        assert_eq!(n.published, d("2023-10-25"));
    }

    /// Day counts per notice: 2025 adds one day each to the Spring Festival
    /// and Labour Day under the November 2024 revision of 《全国年节及纪念日放假办法》.
    #[test]
    fn break_lengths_match_the_notices() {
        let c = cal();
        let lens = |y: i32| -> Vec<(String, usize, usize)> {
            c.notice(y)
                .unwrap()
                .holidays
                .iter()
                .map(|h| (h.name_zh.clone(), h.days_off.len(), h.work_days.len()))
                .collect()
        };
        let s = |v: &[(&str, usize, usize)]| -> Vec<(String, usize, usize)> {
            v.iter().map(|(n, a, b)| (n.to_string(), *a, *b)).collect()
        };
        // 国办发明电〔2025〕7号: 元旦 3, 春节 9, 清明 3, 劳动节 5, 端午 3, 中秋 3, 国庆 7.
        assert_eq!(
            lens(2026),
            s(&[
                ("元旦", 3, 1),
                ("春节", 9, 2),
                ("清明节", 3, 0),
                ("劳动节", 5, 1),
                ("端午节", 3, 0),
                ("中秋节", 3, 0),
                ("国庆节", 7, 2)
            ])
        );
        // 国办发明电〔2024〕12号: 元旦 1, 春节 8, 清明 3, 劳动节 5, 端午 3, 国庆·中秋 8.
        assert_eq!(
            lens(2025),
            s(&[
                ("元旦", 1, 0),
                ("春节", 8, 2),
                ("清明节", 3, 0),
                ("劳动节", 5, 1),
                ("端午节", 3, 0),
                ("国庆节、中秋节", 8, 2)
            ])
        );
    }

    #[test]
    fn working_day_rules() {
        let c = cal();
        // An ordinary Wednesday and Saturday.
        assert!(c.is_working_day(d("2026-03-11")));
        assert!(!c.is_working_day(d("2026-03-14")));
        // 2026-02-14 (Saturday) and 2026-02-28 (Saturday) are worked for the
        // Spring Festival (国办发明电〔2025〕7号, item 2).
        assert!(c.is_working_day(d("2026-02-14")));
        assert!(c.is_working_day(d("2026-02-28")));
        assert_eq!(c.day_kind(d("2026-02-14")), DayKind::AdjustedWorkday);
        // 2026-02-23 (Monday) is the last day off.
        assert!(!c.is_working_day(d("2026-02-23")));
        assert_eq!(c.day_kind(d("2026-02-23")), DayKind::Holiday);
        // 2026-09-20 is a working Sunday before National Day.
        assert!(c.is_working_day(d("2026-09-20")));
        // 2025-01-01 (Wednesday) is off; 2025-01-26 (Sunday) is worked.
        assert!(!c.is_working_day(d("2025-01-01")));
        assert!(c.is_working_day(d("2025-01-26")));
        // No notice for 2027: the plain weekday rule.
        assert!(c.is_working_day(d("2027-01-01")));
        assert_eq!(c.day_kind(d("2027-01-02")), DayKind::Weekend);
    }

    #[test]
    fn holiday_names() {
        let c = cal();
        assert_eq!(c.holiday_name(d("2026-02-17"), Lang::Zh), Some("春节"));
        assert_eq!(
            c.holiday_name(d("2026-02-17"), Lang::En),
            Some("Spring Festival")
        );
        assert_eq!(c.holiday_name(d("2026-02-14"), Lang::Zh), None);
        assert_eq!(
            c.adjusted_for(d("2026-02-14"), Lang::En),
            Some("Spring Festival")
        );
        assert_eq!(c.adjusted_for(d("2026-02-17"), Lang::En), None);
        assert_eq!(
            c.holiday_name(d("2025-10-06"), Lang::Zh),
            Some("国庆节、中秋节")
        );
        assert_eq!(c.holiday_name(d("2026-03-11"), Lang::Zh), None);
    }

    /// 国办发明电〔2025〕7号: the Spring Festival break is 2026-02-15 to
    /// 2026-02-23 and Saturday 2026-02-14 is worked, so 2026-02-14 is the last
    /// working day before the festival. A submission that day has its
    /// 5-working-day deadline on Saturday 2026-02-28, the second adjusted
    /// working day: 24, 25, 26, 27 and 28 February.
    #[test]
    fn deadline_across_spring_festival_2026() {
        let c = cal();
        let start = d("2026-02-14");
        assert!(c.is_working_day(start));
        for day in 15..=23 {
            let date = NaiveDate::from_ymd_opt(2026, 2, day).unwrap();
            assert!(!c.is_working_day(date), "{date} is off");
        }
        assert_eq!(c.add_working_days(start, 5), Ok(d("2026-02-28")));
        assert_eq!(c.add_working_days(start, 1), Ok(d("2026-02-24")));
        assert_eq!(c.add_working_days(start, 6), Ok(d("2026-03-02")));
        assert_eq!(c.working_days_between(start, d("2026-02-28")), Ok(5));
        // Friday 2026-02-13 + 1 working day is the adjusted Saturday.
        assert_eq!(c.add_working_days(d("2026-02-13"), 1), Ok(d("2026-02-14")));
    }

    /// National Day week 2026 (10-01 … 10-07) does not count; Saturday
    /// 2026-10-10 does (国办发明电〔2025〕7号, item 7).
    #[test]
    fn deadline_across_national_day_2026() {
        let c = cal();
        // Wed 09-30 → Thu 10-08, Fri 10-09, Sat 10-10, Mon 10-12, Tue 10-13.
        assert_eq!(c.add_working_days(d("2026-09-30"), 5), Ok(d("2026-10-13")));
        assert_eq!(
            c.working_days_between(d("2026-09-30"), d("2026-10-07")),
            Ok(0)
        );
    }

    /// 国办发明电〔2024〕12号: 10-01 … 10-08 off, Saturday 10-11 worked.
    #[test]
    fn deadline_across_national_day_2025() {
        let c = cal();
        assert_eq!(c.add_working_days(d("2025-09-30"), 5), Ok(d("2025-10-14")));
    }

    /// A 30-working-day filing decision started on Thursday 2026-04-30: the
    /// Labour Day break (05-01 … 05-05) is skipped and Saturday 05-09 counts.
    /// May 2026 then has 6–8 (3), 9 (1), 11–15, 18–22, 25–29 (15) = 19
    /// working days; June 1–5 and 8–12 bring 29, and Monday 2026-06-15 is
    /// the 30th.
    #[test]
    fn thirty_working_days_across_labour_day_2026() {
        let c = cal();
        assert_eq!(c.add_working_days(d("2026-04-30"), 30), Ok(d("2026-06-15")));
        assert_eq!(
            c.working_days_between(d("2026-04-30"), d("2026-06-15")),
            Ok(30)
        );
    }

    #[test]
    fn year_boundaries() {
        let c = cal();
        // 2024-12-31 (Tue) → 2025-01-01 off → Jan 2, 3, 6, 7, 8.
        assert_eq!(c.add_working_days(d("2024-12-31"), 5), Ok(d("2025-01-08")));
        // No notice for 2027: never a silent guess.
        assert_eq!(
            c.add_working_days(d("2026-12-30"), 5),
            Err(CalendarError::NotCovered { year: 2027 })
        );
        assert_eq!(
            c.add_working_days(d("2023-12-29"), 1),
            Err(CalendarError::NotCovered { year: 2023 })
        );
        assert_eq!(
            c.working_days_between(d("2026-12-01"), d("2027-01-05")),
            Err(CalendarError::NotCovered { year: 2027 })
        );
        // Counting from the last day of an uncovered year is fine if every
        // counted day is covered.
        assert_eq!(c.add_working_days(d("2023-12-31"), 1), Ok(d("2024-01-02")));
        assert_eq!(
            c.working_days_between(d("2023-12-31"), d("2024-01-02")),
            Ok(1)
        );
        assert_eq!(c.add_working_days(d("2027-06-01"), 0), Ok(d("2027-06-01")));
        assert_eq!(
            c.working_days_between(d("2026-05-01"), d("2026-04-01")),
            Ok(0)
        );
        // The end of chrono's range does not panic.
        assert!(c.add_working_days(NaiveDate::MAX, 1).is_err());
        assert!(c
            .working_days_between(NaiveDate::MIN, NaiveDate::MAX)
            .is_err());
    }

    fn one_year(holidays: &str) -> String {
        format!(
            r#"{{"source":"t","years":{{"2026":{{"notice":"n","number":"x","published":"2025-11-04","holidays":[{holidays}]}}}}}}"#
        )
    }

    #[test]
    fn rejects_bad_files_naming_year_and_field() {
        let e = WorkCalendar::from_json("not json").unwrap_err();
        assert_eq!(e.code(), "calendar_json");

        let e = WorkCalendar::from_json(r#"{"years":{"20x6":{}}}"#).unwrap_err();
        assert_eq!(e, CalendarError::InvalidYear { key: "20x6".into() });

        let e = WorkCalendar::from_json(r#"{"years":{"2026":{"published":"2025-11-04"}}}"#)
            .unwrap_err();
        assert_eq!(
            e,
            CalendarError::MissingField {
                year: 2026,
                field: "notice".into()
            }
        );

        let e = WorkCalendar::from_json(&one_year(
            r#"{"name_zh":"春节","name_en":"","days_off":["2026-02-15","2026-02-30"],"work_days":[]}"#,
        ))
        .unwrap_err();
        assert_eq!(
            e,
            CalendarError::InvalidDate {
                year: 2026,
                field: "holidays[0].days_off[1]".into(),
                value: "2026-02-30".into()
            }
        );
        assert!(e.to_string().contains("2026") && e.to_string().contains("days_off[1]"));

        let e = WorkCalendar::from_json(&one_year(
            r#"{"name_zh":"春节","days_off":["2026-02-14"],"work_days":["2026-02-14"]}"#,
        ))
        .unwrap_err();
        assert_eq!(
            e,
            CalendarError::Conflict {
                year: 2026,
                date: d("2026-02-14")
            }
        );
        assert_eq!(e.code(), "calendar_date_conflict");

        // The same date as a day off of one holiday and a working day of another.
        let e = WorkCalendar::from_json(&one_year(
            r#"{"name_zh":"A","days_off":["2026-02-14"]},{"name_zh":"B","work_days":["2026-02-14"]}"#,
        ))
        .unwrap_err();
        assert_eq!(e.code(), "calendar_date_conflict");

        let e = WorkCalendar::from_json(&one_year(
            r#"{"name_zh":"A","days_off":["2026-02-16","2026-02-16"]}"#,
        ))
        .unwrap_err();
        assert_eq!(e.code(), "calendar_date_duplicate");

        let e = WorkCalendar::from_json(&one_year(r#"{"name_zh":"A","work_days":["2026-02-16"]}"#))
            .unwrap_err();
        assert_eq!(
            e,
            CalendarError::WorkDayNotWeekend {
                year: 2026,
                date: d("2026-02-16")
            }
        );

        let e = WorkCalendar::from_json(&one_year(r#"{"name_zh":"A","days_off":["2029-02-16"]}"#))
            .unwrap_err();
        assert_eq!(e.code(), "calendar_date_out_of_range");

        let e = WorkCalendar::from_json(&one_year(r#"{"name_zh":" ","days_off":[]}"#)).unwrap_err();
        assert_eq!(
            e,
            CalendarError::MissingField {
                year: 2026,
                field: "holidays[0].name_zh".into()
            }
        );

        // Across notices: 2027 may not list a date that 2026 lists.
        let two = r#"{"years":{
            "2026":{"notice":"n","published":"2025-11-04","holidays":[{"name_zh":"A","days_off":["2026-12-31"]}]},
            "2027":{"notice":"m","published":"2026-11-04","holidays":[{"name_zh":"B","days_off":["2026-12-31"]}]}}}"#;
        assert_eq!(
            WorkCalendar::from_json(two).unwrap_err(),
            CalendarError::Duplicate {
                year: 2027,
                date: d("2026-12-31")
            }
        );
    }

    #[test]
    fn a_newer_file_extends_coverage() {
        let text = r#"{"years":{"2026":{"notice":"n","published":"2025-11-04","holidays":[]},
            "2027":{"notice":"m","published":"2026-11-04","holidays":[{"name_zh":"元旦","name_en":"New Year's Day","days_off":["2027-01-01"],"work_days":[]}]}}}"#;
        let c = WorkCalendar::from_json(text).unwrap();
        assert!(c.covers(2027));
        // Thu 2026-12-31 → Fri 2027-01-01 off → Mon 01-04.
        assert_eq!(c.add_working_days(d("2026-12-31"), 1), Ok(d("2027-01-04")));
        assert_eq!(
            c.holiday_name(d("2027-01-01"), Lang::En),
            Some("New Year's Day")
        );
    }

    #[test]
    fn error_args_cover_display_values() {
        let e = CalendarError::NotCovered { year: 2027 };
        assert_eq!(e.code(), "calendar_not_covered");
        assert_eq!(e.args(), vec![("year", "2027".to_string())]);
    }

    proptest! {
        #[test]
        fn from_json_never_panics(s in any::<String>()) {
            let _ = WorkCalendar::from_json(&s);
        }

        #[test]
        fn from_json_never_panics_on_near_valid_input(
            key in "[0-9 x]{3,5}",
            date in "[0-9-]{8,11}",
        ) {
            let text = format!(
                r#"{{"years":{{"{key}":{{"notice":"n","published":"{date}","holidays":[{{"name_zh":"A","days_off":["{date}"],"work_days":["{date}"]}}]}}}}}}"#
            );
            let _ = WorkCalendar::from_json(&text);
        }

        /// Counting n days forward and then counting the days between agree,
        /// the deadline is a working day, and one day less is earlier.
        #[test]
        fn add_and_between_agree(offset in 0i64..1000, n in 1u32..40) {
            let c = cal();
            let start = d("2024-01-01") + chrono::Duration::days(offset);
            match c.add_working_days(start, n) {
                Ok(end) => {
                    prop_assert!(c.is_working_day(end));
                    prop_assert_eq!(c.working_days_between(start, end), Ok(n));
                    let before = c.add_working_days(start, n - 1).unwrap();
                    prop_assert!(before < end);
                }
                Err(e) => prop_assert_eq!(e, CalendarError::NotCovered { year: 2027 }),
            }
        }
    }
}
