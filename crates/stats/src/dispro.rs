//! Frequentist and BCPNN disproportionality measures of one 2×2 table.
//!
//! For a product and an event among N reports:
//!
//! |               | event | other events |
//! |---------------|-------|--------------|
//! | product       | a     | b            |
//! | other products| c     | d            |
//!
//! with a = n11, a + b = n1. (reports naming the product), a + c = n.1
//! (reports naming the event) and N = a + b + c + d.
//!
//! - PRR = [a/(a+b)] / [c/(c+d)] with the 95% interval
//!   exp(ln PRR ± 1.96 · √(1/a − 1/(a+b) + 1/c − 1/(c+d))) (Evans, Waller &
//!   Davis 2001, Pharmacoepidemiol Drug Saf 10:483).
//! - ROR = ad/bc with exp(ln ROR ± 1.96 · √(1/a + 1/b + 1/c + 1/d))
//!   (van Puijenbroek et al. 2002, Pharmacoepidemiol Drug Saf 11:3; Woolf's
//!   interval as in Rothman's Modern Epidemiology).
//! - Yates-corrected chi-squared N (|ad − bc| − N/2)² / [(a+b)(c+d)(a+c)(b+d)],
//!   where the correction never moves a cell past its expected value (so a
//!   table with |ad − bc| < N/2 scores 0), the form SciPy's
//!   `chi2_contingency(correction=True)` uses.
//! - BCPNN information component with the shrinkage of Norén et al. 2006
//!   (Stat Med 25:3740), as the Uppsala Monitoring Centre uses it:
//!   IC = log2((n + ½)/(E + ½)), and IC025 = log2 of the 2.5% quantile of
//!   Gamma(shape n + ½, rate E + ½). The R packages vigicaen (`ic_tail`) and
//!   pvda (`ic`) compute the same exact gamma quantile; the closed-form
//!   approximation IC − 3.3(n+½)^−½ − 2(n+½)^−3/2 is not used.
//!
//! No continuity correction is added to zero cells. A measure that is
//! undefined for a table (a zero denominator, a zero inside a logarithm)
//! comes back as `None` — in JSON `null` — never as an infinity or NaN.

/// The 2×2 table of one pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Table {
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub d: f64,
}

impl Table {
    /// From the pair count `n`, the product's and the event's report counts
    /// and the number of reports.
    pub fn from_margins(n: u32, n_product: u32, n_event: u32, n_reports: u32) -> Table {
        let a = n as f64;
        let b = n_product as f64 - a;
        let c = n_event as f64 - a;
        let d = n_reports as f64 - n_product as f64 - n_event as f64 + a;
        Table { a, b, c, d }
    }

    pub fn total(&self) -> f64 {
        self.a + self.b + self.c + self.d
    }
}

/// A point estimate with its two-sided 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Estimate {
    pub value: Option<f64>,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// z for a two-sided 95% interval, Φ⁻¹(0.975).
pub fn z975() -> f64 {
    // Computed once from the normal quantile (1.959963984540054).
    static Z: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *Z.get_or_init(|| crate::special::normal_quantile(0.975))
}

fn log_interval(value: f64, se: f64) -> Estimate {
    let v = finite(value).filter(|v| *v > 0.0);
    let se = finite(se).filter(|s| *s >= 0.0);
    match (v, se) {
        (Some(v), Some(se)) => {
            let l = v.ln();
            let z = z975();
            Estimate {
                value: Some(v),
                lo: finite((l - z * se).exp()),
                hi: finite((l + z * se).exp()),
            }
        }
        _ => Estimate {
            value: finite(value),
            lo: None,
            hi: None,
        },
    }
}

/// Proportional reporting ratio and its 95% interval.
pub fn prr(t: &Table) -> Estimate {
    let n1 = t.a + t.b;
    let n0 = t.c + t.d;
    if t.a <= 0.0 || n1 <= 0.0 || n0 <= 0.0 || t.c <= 0.0 {
        // With c = 0 the ratio is infinite; without a, zero: neither has an
        // interval on the log scale.
        let v = if n1 > 0.0 && n0 > 0.0 && t.c > 0.0 {
            finite((t.a / n1) / (t.c / n0))
        } else {
            None
        };
        return Estimate {
            value: v,
            lo: None,
            hi: None,
        };
    }
    let value = (t.a / n1) / (t.c / n0);
    let var = 1.0 / t.a - 1.0 / n1 + 1.0 / t.c - 1.0 / n0;
    log_interval(value, var.max(0.0).sqrt())
}

/// Reporting odds ratio and its 95% interval.
pub fn ror(t: &Table) -> Estimate {
    if t.a <= 0.0 || t.b <= 0.0 || t.c <= 0.0 || t.d <= 0.0 {
        let v = if t.b > 0.0 && t.c > 0.0 {
            finite(t.a * t.d / (t.b * t.c))
        } else {
            None
        };
        return Estimate {
            value: v,
            lo: None,
            hi: None,
        };
    }
    let value = (t.a * t.d) / (t.b * t.c);
    let se = (1.0 / t.a + 1.0 / t.b + 1.0 / t.c + 1.0 / t.d).sqrt();
    log_interval(value, se)
}

/// Yates-corrected chi-squared of the table (1 degree of freedom); `None`
/// when a margin is empty.
pub fn chi2_yates(t: &Table) -> Option<f64> {
    let n = t.total();
    let r1 = t.a + t.b;
    let r0 = t.c + t.d;
    let c1 = t.a + t.c;
    let c0 = t.b + t.d;
    let den = r1 * r0 * c1 * c0;
    if den.is_nan() || den <= 0.0 || n.is_nan() || n <= 0.0 {
        return None;
    }
    let diff = ((t.a * t.d - t.b * t.c).abs() - 0.5 * n).max(0.0);
    // N · diff² / den, ordered so that large tables do not overflow.
    finite(n * (diff / r1) * (diff / r0) / (c1 * c0))
}

/// BCPNN information component log2((n + ½)/(E + ½)).
pub fn ic(n: f64, e: f64) -> Option<f64> {
    if n.is_nan() || n < 0.0 || e.is_nan() || e < 0.0 {
        return None;
    }
    finite(((n + 0.5) / (e + 0.5)).log2())
}

/// A quantile of the IC's credibility distribution: log2 of the `prob`
/// quantile of Gamma(n + ½, rate E + ½). IC025 is `prob = 0.025`.
pub fn ic_quantile(n: f64, e: f64, prob: f64) -> Option<f64> {
    if n.is_nan() || n < 0.0 || e.is_nan() || e < 0.0 {
        return None;
    }
    let x = crate::special::gamma_quantile(prob, n + 0.5) / (e + 0.5);
    finite(x.log2())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn close(got: Option<f64>, want: f64, tol: f64) {
        let g = got.expect("a value");
        assert!((g - want).abs() <= tol * want.abs(), "got {g}, want {want}");
    }

    #[test]
    fn prr_matches_open_ebgm_hand_values() {
        // openEBGM tests/testthat/testA_Counts.R, data frame `hand`
        // (10 reports): PRR to 4 decimals.
        let cases = [
            (1, 3, 2, 2.3333), // product_A, event_1
            (1, 3, 3, 1.1667), // product_A, event_2
            (1, 3, 5, 0.5833), // product_A, event_3
            (2, 5, 3, 2.0),    // product_B, event_2
            (3, 5, 5, 1.5),    // product_B, event_3
            (1, 2, 2, 4.0),    // product_C, event_1
            (1, 2, 5, 1.0),    // product_C, event_3
        ];
        for (n, np, ne, want) in cases {
            let t = Table::from_margins(n, np, ne, 10);
            let got = prr(&t).value.unwrap();
            assert!((got - want).abs() < 5e-5, "{n} {np} {ne}: {got}");
        }
    }

    #[test]
    fn prr_and_ror_intervals_match_scipy() {
        // scipy.stats.contingency.relative_risk(a, a+b, c, c+d) and
        // odds_ratio([[a, b], [c, d]], kind="sample"), SciPy 1.17.1: the
        // Katz log interval is the PRR interval, Woolf's the ROR interval.
        let t = Table {
            a: 25.0,
            b: 175.0,
            c: 300.0,
            d: 9500.0,
        };
        let p = prr(&t);
        close(p.value, 4.083333333333333, 1e-14);
        close(p.lo, 2.783433786679652, 1e-13);
        close(p.hi, 5.990302765923165, 1e-13);
        let r = ror(&t);
        close(r.value, 4.523809523809524, 1e-14);
        close(r.lo, 2.92947033143908, 1e-13);
        close(r.hi, 6.9858541962623475, 1e-13);

        let t = Table {
            a: 3.0,
            b: 7.0,
            c: 40.0,
            d: 950.0,
        };
        let p = prr(&t);
        close(p.value, 7.424999999999999, 1e-14);
        close(p.lo, 2.7473066211543986, 1e-13);
        close(p.hi, 20.067153981099676, 1e-13);
        let r = ror(&t);
        close(r.value, 10.178571428571429, 1e-14);
        close(r.lo, 2.5377442424515877, 1e-13);
        close(r.hi, 40.82496360092009, 1e-13);
    }

    #[test]
    fn chi2_matches_scipy() {
        // scipy.stats.contingency.chi2_contingency(table, correction=True).
        let t = Table {
            a: 25.0,
            b: 175.0,
            c: 300.0,
            d: 9500.0,
        };
        close(chi2_yates(&t), 52.572012704903074, 1e-13);
        let t = Table {
            a: 3.0,
            b: 7.0,
            c: 40.0,
            d: 950.0,
        };
        close(chi2_yates(&t), 10.517804714786562, 1e-13);
        // |ad − bc| < N/2: SciPy reports 0.
        let t = Table {
            a: 1.0,
            b: 0.0,
            c: 5.0,
            d: 4.0,
        };
        assert_eq!(chi2_yates(&t), Some(0.0));
    }

    #[test]
    fn ic_matches_gamma_quantile_form() {
        // IC and IC025 = log2(qgamma(0.025, n + 0.5, rate = E + 0.5)) as
        // vigicaen's ic_tail test states it; the numbers are SciPy's
        // (numpy.log2(scipy.stats.gamma.ppf(0.025, n + .5, scale=1/(E + .5)))).
        close(ic(25.0, 6.5), 1.8650704199138914, 1e-14);
        close(ic_quantile(25.0, 6.5, 0.025), 1.2440948972890267, 1e-12);
        close(ic(3.0, 0.43), 1.9120523007242975, 1e-14);
        close(ic_quantile(3.0, 0.43, 0.025), -0.13839105511762004, 1e-11);
        close(ic_quantile(1.0, 0.6, 0.025), -3.3497682913901263, 1e-12);
        // n = E gives IC = 0 (pvda's test of ic(1, 1)).
        assert_eq!(ic(1.0, 1.0), Some(0.0));
    }

    #[test]
    fn zero_cells_give_none_not_infinity() {
        // Every report with the event names the product: c = 0.
        let t = Table {
            a: 4.0,
            b: 6.0,
            c: 0.0,
            d: 90.0,
        };
        assert_eq!(prr(&t), Estimate::default());
        assert_eq!(ror(&t), Estimate::default());
        // Every report names the product: c + d = 0, no margin.
        let t = Table::from_margins(3, 10, 3, 10);
        assert_eq!(chi2_yates(&t), None);
        assert_eq!(prr(&t).value, None);
        // d = 0: ROR is 0 but has no log interval.
        let t = Table {
            a: 2.0,
            b: 3.0,
            c: 4.0,
            d: 0.0,
        };
        assert_eq!(
            ror(&t),
            Estimate {
                value: Some(0.0),
                lo: None,
                hi: None
            }
        );
        // b = 0: PRR is defined, as SciPy gives 1.8 (1.0034…, 3.2289…).
        let t = Table {
            a: 1.0,
            b: 0.0,
            c: 5.0,
            d: 4.0,
        };
        close(prr(&t).lo, 1.0034442222671072, 1e-13);
        assert_eq!(ror(&t).value, None);
    }

    proptest::proptest! {
        #[test]
        fn measures_are_finite_or_none(n in 0u32..50, b in 0u32..50, c in 0u32..50, d in 0u32..50) {
            let t = Table::from_margins(n, n + b, n + c, n + b + c + d);
            for v in [prr(&t).value, prr(&t).lo, ror(&t).hi, chi2_yates(&t), ic(n as f64, 0.3)] {
                proptest::prop_assert!(v.is_none_or(f64::is_finite));
            }
        }
    }
}
