//! Language of a request, and the page context templates render with.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use celltrail_core::access::{OrgType, Role};
use celltrail_core::i18n::{catalog, Lang};
use celltrail_core::workflow::{Action, ProjectState, SignatureMeaning};
use std::convert::Infallible;
use std::str::FromStr;

pub const LANG_COOKIE: &str = "ct_lang";

/// Cookie value by name from the Cookie header(s).
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// `?lang=` wins, then the language cookie, then Accept-Language.
pub fn lang_of(headers: &HeaderMap, query: Option<&str>) -> Lang {
    if let Some(q) = query {
        for pair in q.split('&') {
            if let Some(("lang", v)) = pair.split_once('=') {
                if let Some(l) = Lang::from_code(v) {
                    return l;
                }
            }
        }
    }
    if let Some(l) = cookie(headers, LANG_COOKIE).and_then(|c| Lang::from_code(&c)) {
        return l;
    }
    let accept = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Lang::negotiate(accept)
}

/// Extractor for the request's language.
pub struct L(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for L {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(L(lang_of(&parts.headers, parts.uri.query())))
    }
}

pub fn t(lang: Lang, key: &str) -> &'static str {
    catalog().get(lang, key)
}

/// Labels for domain codes, in one language.
#[derive(Clone, Copy, Debug)]
pub struct Labels(pub Lang);

impl Labels {
    pub fn t(&self, key: &str) -> &'static str {
        t(self.0, key)
    }
    /// A message with its one `{name}` placeholder filled in.
    pub fn fmt1(&self, key: &str, name: &str, value: &str) -> String {
        celltrail_core::i18n::catalog().format(self.0, key, &[(name, value)])
    }
    pub fn state(&self, s: &str) -> String {
        ProjectState::from_str(s)
            .map(|v| v.label(self.0).to_string())
            .unwrap_or_else(|_| s.to_string())
    }
    pub fn action(&self, s: &str) -> &'static str {
        let key = format!("action.{s}");
        t(self.0, &key)
    }
    pub fn meaning(&self, s: &str) -> String {
        SignatureMeaning::from_str(s)
            .map(|v| v.label(self.0).to_string())
            .unwrap_or_else(|_| s.to_string())
    }
    pub fn org_type(&self, s: &str) -> String {
        OrgType::from_str(s)
            .map(|v| v.label(self.0).to_string())
            .unwrap_or_else(|_| s.to_string())
    }
    pub fn role(&self, s: &str) -> String {
        Role::from_str(s)
            .map(|v| v.label(self.0).to_string())
            .unwrap_or_else(|_| s.to_string())
    }
    /// The message under `prefix` + `s`, e.g. `api.op.` + an operation id.
    pub fn prefixed(&self, prefix: &str, s: &str) -> &'static str {
        t(self.0, &format!("{prefix}{s}"))
    }
    pub fn kind(&self, s: &str) -> &'static str {
        t(self.0, &format!("kind.{s}"))
    }
    pub fn category(&self, s: &str) -> &'static str {
        t(self.0, &format!("category.{s}"))
    }
    pub fn qualification(&self, s: &str) -> &'static str {
        t(self.0, &format!("qual.{s}"))
    }
    pub fn grade(&self, s: &str) -> &'static str {
        t(self.0, &format!("grade.{}", s.to_lowercase()))
    }
    pub fn deadline_kind(&self, s: &str) -> &'static str {
        t(self.0, &format!("deadline.{s}"))
    }
    pub fn province(&self, code: &str) -> String {
        match celltrail_store::service::province(code) {
            Some((zh, en)) => if self.0 == Lang::Zh { zh } else { en }.to_string(),
            None => code.to_string(),
        }
    }
    /// A ledger time (RFC 3339 UTC) as China Standard Time for people:
    /// `2026-05-01 16:00:00 (UTC+8)`. Unparseable input is shown as it is.
    pub fn time(&self, rfc3339: &str) -> String {
        match chrono::DateTime::parse_from_rfc3339(rfc3339) {
            Ok(t) => {
                let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
                format!(
                    "{} (UTC+8)",
                    t.with_timezone(&cst).format("%Y-%m-%d %H:%M:%S")
                )
            }
            Err(_) => rfc3339.to_string(),
        }
    }
    /// Province, then the city when it adds something (not for the
    /// municipalities, whose city is the province).
    pub fn region(&self, province_code: &str, city_zh: &str, city_en: &str) -> String {
        let province = self.province(province_code);
        let city = self.pick(city_zh, city_en);
        let same =
            city.is_empty() || province.starts_with(city) || city.starts_with(province.as_str());
        if same {
            province
        } else {
            format!("{province} · {city}")
        }
    }
    /// Picks the Chinese or English variant of a bilingual field.
    pub fn pick<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        match self.0 {
            Lang::Zh if !zh.is_empty() => zh,
            Lang::En if !en.is_empty() => en,
            _ if !zh.is_empty() => zh,
            _ => en,
        }
    }
    pub fn code(&self) -> &'static str {
        self.0.code()
    }
    pub fn is_zh(&self) -> bool {
        self.0 == Lang::Zh
    }
}

/// Every action label exists (used by the catalogue completeness test).
pub fn action_keys() -> Vec<String> {
    Action::ALL
        .iter()
        .map(|a| format!("action.{}", a.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_the_city_only_when_it_adds_something() {
        // GB/T 2260: 12 is Tianjin (a municipality), 46 is Hainan.
        let zh = Labels(Lang::Zh);
        let en = Labels(Lang::En);
        assert_eq!(zh.region("12", "天津市", "Tianjin"), "天津市");
        assert_eq!(en.region("12", "天津市", "Tianjin"), "Tianjin");
        assert_eq!(en.region("46", "琼海市", "Qionghai"), "Hainan · Qionghai");
        assert_eq!(zh.region("46", "琼海市", "Qionghai"), "海南省 · 琼海市");
        assert_eq!(en.region("31", "", ""), "Shanghai");
    }
}
