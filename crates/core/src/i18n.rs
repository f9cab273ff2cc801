//! Languages and the message catalogue.
//!
//! Every screen, message and document exists in Simplified Chinese and in
//! English. Messages live in two plain-text files compiled into the crate,
//! `messages/zh-CN.txt` and `messages/en.txt`:
//!
//! ```text
//! # a comment
//! error.uscc_length = 统一社会信用代码应为18位。
//! greeting = 你好，{name}
//! ```
//!
//! One `key = value` per line; the key is everything before the first `=`,
//! trimmed; the value everything after it, trimmed. Blank lines and lines
//! starting with `#` are ignored. `{name}` is a placeholder filled by
//! [`Catalog::format`]. Keys use `a-z`, `0-9`, `.`, `_` and `-`. Both files
//! must hold the same keys with the same placeholders (checked by tests).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

/// A user-interface language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Lang {
    /// Simplified Chinese, the default.
    #[serde(rename = "zh-CN", alias = "zh")]
    Zh,
    /// English.
    #[serde(rename = "en")]
    En,
}

impl Lang {
    /// Both languages, the default first.
    pub const ALL: &'static [Lang] = &[Lang::Zh, Lang::En];

    /// BCP 47 tag: `zh-CN` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The language a tag asks for: any `zh…` tag (zh, zh-CN, zh-Hans,
    /// zh_CN …) is Chinese, any `en…` tag English; case-insensitive.
    pub fn from_code(code: &str) -> Option<Lang> {
        let c = code.trim();
        let primary = c.split(['-', '_']).next().unwrap_or("");
        if primary.eq_ignore_ascii_case("zh") {
            Some(Lang::Zh)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// Picks the language from an `Accept-Language` header (RFC 9110,
    /// 12.5.4): the supported language with the highest quality value wins,
    /// the earlier entry on a tie; `*` stands for a supported language the
    /// header does not name (Chinese first). `q=0` refuses a language. When
    /// nothing acceptable is named the answer is Chinese, or English if the
    /// header refuses Chinese but not English. Never panics.
    pub fn negotiate(accept_language: &str) -> Lang {
        // (language, quality in thousandths); `None` is the wildcard.
        let mut entries: Vec<(Option<Lang>, u16)> = Vec::new();
        for item in accept_language.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            if tag.is_empty() {
                continue;
            }
            let mut q = Some(1000u16);
            for param in parts {
                if let Some((name, value)) = param.split_once('=') {
                    if name.trim().eq_ignore_ascii_case("q") {
                        q = parse_qvalue(value.trim());
                    }
                }
            }
            let Some(q) = q else { continue };
            if tag == "*" {
                entries.push((None, q));
            } else if let Some(lang) = Lang::from_code(tag) {
                entries.push((Some(lang), q));
            }
        }
        let named = |l: Lang| entries.iter().any(|(e, _)| *e == Some(l));
        let wildcard = Lang::ALL.iter().copied().find(|l| !named(*l));
        let mut best: Option<(u16, Lang)> = None;
        for (lang, q) in &entries {
            let Some(lang) = lang.or(wildcard) else {
                continue;
            };
            if *q > 0 && best.is_none_or(|(bq, _)| *q > bq) {
                best = Some((*q, lang));
            }
        }
        if let Some((_, lang)) = best {
            return lang;
        }
        let refused = |l: Lang| entries.iter().any(|(e, q)| *e == Some(l) && *q == 0);
        if refused(Lang::Zh) && !refused(Lang::En) {
            Lang::En
        } else {
            Lang::Zh
        }
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in
/// thousandths; `None` if malformed.
fn parse_qvalue(v: &str) -> Option<u16> {
    let (int, frac) = match v.split_once('.') {
        Some((i, f)) => (i, f),
        None => (v, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        let scale = [100u16, 10, 1][i];
        thousandths += u16::from(b - b'0') * scale;
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Catalogue text compiled into the crate.
pub const ZH_CN_TXT: &str = include_str!("../messages/zh-CN.txt");
pub const EN_TXT: &str = include_str!("../messages/en.txt");

/// Missing keys handed back by [`Catalog::get`] are kept (so the returned
/// text can outlive the caller's key) up to this many, each at most
/// [`MISSING_KEY_MAX_LEN`] bytes; beyond that `get` returns
/// [`MISSING_PLACEHOLDER`].
pub const MISSING_KEYS_KEPT: usize = 1024;
pub const MISSING_KEY_MAX_LEN: usize = 128;
pub const MISSING_PLACEHOLDER: &str = "[?]";

/// A problem found while reading a catalogue file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogProblem {
    pub lang: Lang,
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

/// Messages in both languages.
#[derive(Debug, Default)]
pub struct Catalog {
    zh: HashMap<String, String>,
    en: HashMap<String, String>,
    problems: Vec<CatalogProblem>,
    missing: Mutex<HashSet<&'static str>>,
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

fn parse_file(
    lang: Lang,
    text: &str,
    problems: &mut Vec<CatalogProblem>,
) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut problem = |message: String| {
            problems.push(CatalogProblem {
                lang,
                line: i + 1,
                message,
            })
        };
        let Some((k, v)) = line.split_once('=') else {
            problem(format!("no '=' in {line:?}"));
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if !valid_key(k) {
            problem(format!("key {k:?} may use only a-z 0-9 . _ -"));
            continue;
        }
        if v.is_empty() {
            problem(format!("key {k} has an empty value"));
        }
        if map.insert(k.to_string(), v.to_string()).is_some() {
            problem(format!("key {k} appears more than once"));
        }
    }
    map
}

/// The `{name}` placeholders of a message, sorted.
pub fn placeholders(text: &str) -> BTreeSet<&str> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find(['}', '{']) {
            Some(close) if after[close..].starts_with('}') => {
                let name = &after[..close];
                if is_placeholder_name(name) {
                    out.insert(name);
                }
                rest = &after[close + 1..];
            }
            Some(close) => rest = &after[close..],
            None => break,
        }
    }
    out
}

fn is_placeholder_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Catalog {
    /// Reads the two catalogue files. Lines that cannot be read are skipped
    /// and reported by [`Catalog::problems`].
    pub fn parse(zh_cn: &str, en: &str) -> Catalog {
        let mut problems = Vec::new();
        let zh = parse_file(Lang::Zh, zh_cn, &mut problems);
        let en = parse_file(Lang::En, en, &mut problems);
        Catalog {
            zh,
            en,
            problems,
            missing: Mutex::new(HashSet::new()),
        }
    }

    fn map(&self, lang: Lang) -> &HashMap<String, String> {
        match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        }
    }

    /// Problems found while reading (malformed lines, duplicate keys, empty
    /// values).
    pub fn problems(&self) -> &[CatalogProblem] {
        &self.problems
    }

    /// The message, if the catalogue has it.
    pub fn lookup(&self, lang: Lang, key: &str) -> Option<&str> {
        self.map(lang).get(key).map(String::as_str)
    }

    /// Whether the catalogue has the key in this language.
    pub fn contains(&self, lang: Lang, key: &str) -> bool {
        self.map(lang).contains_key(key)
    }

    /// The message, or the key itself when the catalogue lacks it.
    pub fn get(&self, lang: Lang, key: &str) -> &str {
        match self.lookup(lang, key) {
            Some(v) => v,
            None => self.missing_key(key),
        }
    }

    /// Keeps a missing key so [`Catalog::get`] can hand it back with the
    /// catalogue's lifetime; bounded so untrusted keys cannot grow memory
    /// without limit.
    fn missing_key(&self, key: &str) -> &str {
        if key.len() > MISSING_KEY_MAX_LEN {
            return MISSING_PLACEHOLDER;
        }
        let mut set = match self.missing.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(k) = set.get(key) {
            return k;
        }
        if set.len() >= MISSING_KEYS_KEPT {
            return MISSING_PLACEHOLDER;
        }
        let k: &'static str = Box::leak(key.to_string().into_boxed_str());
        set.insert(k);
        k
    }

    /// The message with its `{name}` placeholders filled from `args`;
    /// placeholders without an argument stay as they are, and a missing key
    /// gives the key itself. Values are inserted once, never re-read.
    pub fn format(&self, lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
        let template = self.lookup(lang, key).unwrap_or(key);
        fill(template, args)
    }

    /// All keys of one language, sorted.
    pub fn keys(&self, lang: Lang) -> Vec<&str> {
        let mut v: Vec<&str> = self.map(lang).keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

/// Fills `{name}` placeholders of a template.
pub fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}');
        let name = close.map(|c| &after[..c]);
        match name {
            Some(n) if is_placeholder_name(n) => {
                match args.iter().find(|(k, _)| *k == n) {
                    Some((_, v)) => out.push_str(v),
                    None => {
                        out.push('{');
                        out.push_str(n);
                        out.push('}');
                    }
                }
                rest = &after[n.len() + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The catalogue compiled into the crate, read once.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog::parse(ZH_CN_TXT, EN_TXT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn codes() {
        assert_eq!(Lang::Zh.code(), "zh-CN");
        assert_eq!(Lang::En.code(), "en");
        for c in ["zh", "zh-CN", "zh-Hans", "zh-hans-cn", "ZH_cn", " zh "] {
            assert_eq!(Lang::from_code(c), Some(Lang::Zh), "{c}");
        }
        for c in ["en", "en-US", "EN-gb", "en_US"] {
            assert_eq!(Lang::from_code(c), Some(Lang::En), "{c}");
        }
        for c in ["", "fr", "zhx", "english", "*", "-"] {
            assert_eq!(Lang::from_code(c), None, "{c}");
        }
        for l in Lang::ALL {
            assert_eq!(Lang::from_code(l.code()), Some(*l));
        }
    }

    #[test]
    fn serde_uses_the_code() {
        assert_eq!(serde_json::to_string(&Lang::Zh).unwrap(), "\"zh-CN\"");
        assert_eq!(serde_json::to_string(&Lang::En).unwrap(), "\"en\"");
        assert_eq!(serde_json::from_str::<Lang>("\"zh\"").unwrap(), Lang::Zh);
        assert_eq!(serde_json::from_str::<Lang>("\"zh-CN\"").unwrap(), Lang::Zh);
    }

    #[test]
    fn negotiation() {
        assert_eq!(Lang::negotiate(""), Lang::Zh);
        assert_eq!(Lang::negotiate("en-US,en;q=0.9"), Lang::En);
        assert_eq!(Lang::negotiate("zh-CN,zh;q=0.9,en;q=0.8"), Lang::Zh);
        assert_eq!(Lang::negotiate("fr-FR, en;q=0.5, zh;q=0.4"), Lang::En);
        assert_eq!(Lang::negotiate("fr-FR, de"), Lang::Zh);
        assert_eq!(Lang::negotiate("en;q=0.2, zh;q=0.8"), Lang::Zh);
        assert_eq!(Lang::negotiate("zh;q=0.2, en;q=0.8"), Lang::En);
        assert_eq!(Lang::negotiate("de, en;q=0.001"), Lang::En);
        // Equal quality: the earlier entry wins.
        assert_eq!(Lang::negotiate("en;q=0.5, zh;q=0.5"), Lang::En);
        // Refusing Chinese without naming English still gives English.
        assert_eq!(Lang::negotiate("zh;q=0, fr"), Lang::En);
        assert_eq!(Lang::negotiate("en;q=0"), Lang::Zh);
        assert_eq!(Lang::negotiate("*"), Lang::Zh);
        assert_eq!(Lang::negotiate("*;q=0.1, en;q=0.5"), Lang::En);
        // The wildcard stands for a language the header does not name.
        assert_eq!(Lang::negotiate("zh;q=0, *"), Lang::En);
        assert_eq!(Lang::negotiate("en;q=0.3, *;q=0.5"), Lang::Zh);
        // Malformed quality values are ignored entries.
        assert_eq!(Lang::negotiate("zh;q=2, en;q=0.3"), Lang::En);
        assert_eq!(Lang::negotiate("zh;q=0.5555, en;q=0.3"), Lang::En);
        assert_eq!(Lang::negotiate("zh;q=abc, en"), Lang::En);
        assert_eq!(Lang::negotiate("EN ; Q=1.000"), Lang::En);
        assert_eq!(Lang::negotiate(",,;;=,;q=,"), Lang::Zh);
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1.0"), Some(1000));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        assert_eq!(parse_qvalue("1.001"), None);
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0.05"), Some(50));
        assert_eq!(parse_qvalue("0.123"), Some(123));
        assert_eq!(parse_qvalue("0.1234"), None);
        assert_eq!(parse_qvalue(".5"), None);
        assert_eq!(parse_qvalue("-0"), None);
        assert_eq!(parse_qvalue("0.-1"), None);
    }

    #[test]
    fn embedded_catalogue_is_clean_and_complete() {
        let cat = catalog();
        assert!(cat.problems().is_empty(), "problems: {:#?}", cat.problems());
        let zh: BTreeSet<&str> = cat.keys(Lang::Zh).into_iter().collect();
        let en: BTreeSet<&str> = cat.keys(Lang::En).into_iter().collect();
        let only_zh: Vec<&&str> = zh.difference(&en).collect();
        let only_en: Vec<&&str> = en.difference(&zh).collect();
        assert!(
            only_zh.is_empty() && only_en.is_empty(),
            "missing from en.txt: {only_zh:?}\nmissing from zh-CN.txt: {only_en:?}"
        );
        let mut mismatched = Vec::new();
        for k in &zh {
            let (a, b) = (cat.get(Lang::Zh, k), cat.get(Lang::En, k));
            assert!(!a.trim().is_empty() && !b.trim().is_empty(), "{k} is empty");
            if placeholders(a) != placeholders(b) {
                mismatched.push(format!(
                    "{k}: zh {:?} vs en {:?}",
                    placeholders(a),
                    placeholders(b)
                ));
            }
        }
        assert!(
            mismatched.is_empty(),
            "placeholders differ: {mismatched:#?}"
        );
    }

    /// Every error this crate can produce has a message in both languages,
    /// and the message uses only arguments the error supplies.
    #[test]
    fn every_error_code_has_a_message() {
        use crate::calendar::CalendarError;
        use crate::uscc::UsccError;
        use crate::workflow::{Action, ProjectState, WorkflowError};
        use chrono::NaiveDate;
        let date = NaiveDate::from_ymd_opt(2026, 2, 14).unwrap_or_default();
        let mut errors: Vec<(&'static str, Vec<(&'static str, String)>)> = Vec::new();
        for e in [
            UsccError::Length {
                expected: 18,
                found: 3,
            },
            UsccError::InvalidChar {
                position: 2,
                found: 'I',
            },
            UsccError::DivisionCode {
                position: 4,
                found: 'A',
            },
            UsccError::CheckChar {
                expected: '1',
                found: '2',
            },
            UsccError::OrgCodeCheck {
                expected: 'X',
                found: '2',
            },
        ] {
            errors.push((e.code(), e.args()));
        }
        for e in [
            CalendarError::Json {
                message: "x".into(),
            },
            CalendarError::InvalidYear { key: "x".into() },
            CalendarError::MissingField {
                year: 2026,
                field: "notice".into(),
            },
            CalendarError::InvalidDate {
                year: 2026,
                field: "f".into(),
                value: "v".into(),
            },
            CalendarError::DateOutOfRange {
                year: 2026,
                field: "f".into(),
                date,
            },
            CalendarError::Conflict { year: 2026, date },
            CalendarError::Duplicate { year: 2026, date },
            CalendarError::WorkDayNotWeekend { year: 2026, date },
            CalendarError::NotCovered { year: 2027 },
        ] {
            errors.push((e.code(), e.args()));
        }
        for e in [
            WorkflowError::NotAllowed {
                from: ProjectState::Draft,
                action: Action::File,
            },
            WorkflowError::InvalidFilingNumber { value: "x".into() },
        ] {
            errors.push((e.code(), e.args()));
        }
        let unknown = crate::UnknownValue::new("role", "x");
        errors.push((unknown.code(), unknown.args()));

        let cat = catalog();
        for (code, args) in errors {
            let key = format!("error.{code}");
            for lang in Lang::ALL {
                let msg = cat.lookup(*lang, &key);
                assert!(msg.is_some(), "{key} missing in {}", lang.code());
                for p in placeholders(msg.unwrap_or("")) {
                    assert!(
                        args.iter().any(|(n, _)| *n == p),
                        "{key} uses {{{p}}} but the error has {args:?}"
                    );
                }
                let a: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
                assert!(
                    !cat.format(*lang, &key, &a).contains('{'),
                    "{key} left a placeholder"
                );
            }
        }
    }

    /// Labels kept in the catalogue for templates agree with `label()`.
    #[test]
    fn catalogue_labels_agree_with_code() {
        use crate::workflow::{Action, ProjectKind};
        let cat = catalog();
        for lang in Lang::ALL {
            for a in Action::ALL {
                assert_eq!(cat.get(*lang, &format!("action.{a}")), a.label(*lang));
            }
            for k in ProjectKind::ALL {
                assert_eq!(cat.get(*lang, &format!("kind.{k}")), k.label(*lang));
            }
        }
    }

    #[test]
    fn parse_reports_problems() {
        let zh = "# c\n\na = 甲\nb 乙\nB = x\nc =\na = again\n d = {x} = y \n";
        let cat = Catalog::parse(zh, "");
        let lines: Vec<usize> = cat.problems().iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![4, 5, 6, 7]);
        assert_eq!(cat.get(Lang::Zh, "a"), "again");
        assert_eq!(cat.get(Lang::Zh, "d"), "{x} = y");
        assert_eq!(cat.get(Lang::Zh, "c"), "");
        assert_eq!(cat.keys(Lang::Zh), vec!["a", "c", "d"]);
        assert!(cat.keys(Lang::En).is_empty());
    }

    #[test]
    fn get_and_format() {
        let cat = Catalog::parse("hi = 你好，{name}！{name}", "hi = Hello, {name}! {other}");
        assert_eq!(
            cat.format(Lang::Zh, "hi", &[("name", "李")]),
            "你好，李！李"
        );
        assert_eq!(
            cat.format(Lang::En, "hi", &[("name", "{other}")]),
            "Hello, {other}! {other}"
        );
        assert_eq!(cat.format(Lang::En, "nope", &[]), "nope");
        assert_eq!(cat.get(Lang::En, "nope.key"), "nope.key");
        assert_eq!(cat.get(Lang::En, "nope.key"), "nope.key");
        let long = "k".repeat(MISSING_KEY_MAX_LEN + 1);
        assert_eq!(cat.get(Lang::En, &long), MISSING_PLACEHOLDER);
        assert_eq!(fill("{a}{b}{", &[("a", "1")]), "1{b}{");
        assert_eq!(fill("{{a}}", &[("a", "1")]), "{1}");
        assert_eq!(fill("{ a }", &[("a", "1")]), "{ a }");
        assert_eq!(fill("价格{}元", &[]), "价格{}元");
    }

    #[test]
    fn missing_keys_are_bounded() {
        let cat = Catalog::parse("", "");
        for i in 0..MISSING_KEYS_KEPT {
            assert_eq!(cat.get(Lang::Zh, &format!("k{i}")), format!("k{i}"));
        }
        assert_eq!(cat.get(Lang::Zh, "k0"), "k0");
        assert_eq!(cat.get(Lang::Zh, "one.more"), MISSING_PLACEHOLDER);
    }

    #[test]
    fn placeholder_sets() {
        let p: Vec<&str> = placeholders("{a} {b_1} {a} { c } {} {d")
            .into_iter()
            .collect();
        assert_eq!(p, vec!["a", "b_1"]);
        let p: Vec<&str> = placeholders("{{x}}").into_iter().collect();
        assert_eq!(p, vec!["x"]);
    }

    proptest! {
        #[test]
        fn negotiate_never_panics(s in any::<String>()) {
            let _ = Lang::negotiate(&s);
            let _ = Lang::from_code(&s);
        }

        #[test]
        fn negotiate_never_panics_on_header_like_input(s in "[a-zA-Z*;=,.0-9 \\-_]{0,60}") {
            let _ = Lang::negotiate(&s);
        }

        #[test]
        fn catalogue_functions_never_panic(text in any::<String>(), key in any::<String>()) {
            let cat = Catalog::parse(&text, &text);
            let _ = cat.format(Lang::Zh, &key, &[("a", "b")]);
            let _ = fill(&text, &[("a", "{b}")]);
            let _ = placeholders(&text);
            let _ = cat.get(Lang::En, &key);
        }
    }
}
