//! CellTrail numerics for adverse-event signal detection.
//!
//! - [`csv`] reads report-event rows (`report_id,product,event[,stratum]`)
//!   and [`faers`] the FDA FAERS quarterly extract; both give interned
//!   [`counts::Rows`].
//! - [`counts`] makes report-level pair counts and expected counts,
//!   optionally stratified.
//! - [`dispro`] has PRR, ROR, Yates chi-squared and the BCPNN IC;
//!   [`mgps`] DuMouchel's gamma-Poisson shrinker (hyperparameter fit, EBGM,
//!   EB05, EB95); [`special`] the special functions under them.
//! - [`signal::analyse`] does it all and serialises to the JSON of
//!   `celltrail signal --json`; [`signal::rules`] are the signal rules.
//! - [`generate`] makes deterministic synthetic rows for tests and benches.

// `!(x > 0.0)` is written on purpose throughout: it is true for NaN too.
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::nonminimal_bool)]
// Expected values are kept digit for digit as the peer library printed them.
#![allow(clippy::excessive_precision)]

pub mod counts;
pub mod csv;
pub mod dispro;
pub mod faers;
pub mod generate;
pub mod mgps;
pub mod signal;
pub mod special;

/// Every error code of this crate; each has the message `error.<code>`.
pub fn error_codes() -> impl Iterator<Item = &'static str> {
    csv::ERROR_CODES
        .iter()
        .chain(signal::ERROR_CODES)
        .chain(faers::ERROR_CODES)
        .copied()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    fn catalogue(text: &str) -> HashMap<String, String> {
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once(" = "))
            .map(|(k, v)| (k.trim().to_string(), v.to_string()))
            .collect()
    }

    fn placeholders(v: &str) -> BTreeSet<String> {
        v.split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}'))
            .map(|(p, _)| p.to_string())
            .collect()
    }

    #[test]
    fn every_error_and_rule_has_a_message_in_both_languages() {
        let en = catalogue(include_str!("../../core/messages/en.txt"));
        let zh = catalogue(include_str!("../../core/messages/zh-CN.txt"));
        let keys = crate::error_codes().map(|c| format!("error.{c}")).chain(
            crate::signal::rules()
                .iter()
                .map(|r| format!("signal.rule.{}", r.code)),
        );
        for key in keys {
            let e = en
                .get(&key)
                .unwrap_or_else(|| panic!("{key} missing in en"));
            let z = zh
                .get(&key)
                .unwrap_or_else(|| panic!("{key} missing in zh-CN"));
            assert_eq!(placeholders(e), placeholders(z), "{key}");
            assert!(
                z.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{key} has no Chinese"
            );
        }
    }
}
