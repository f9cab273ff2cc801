//! Signal detection over (product, event) pairs: counts, the MGPS fit and
//! every statistic in one call, [`analyse`], and the signal rules as data.
//!
//! The serialised [`Analysis`] is the JSON of `celltrail signal --json`:
//! `{"hyperparameters": {"alpha1", "beta1", "alpha2", "beta2", "p"},
//! "pairs": [{"product", "event", "n", "e", "prr", "prr_lo", "prr_hi", "ror",
//! "ror_lo", "ror_hi", "chi2_yates", "ic", "ic025", "ebgm", "eb05",
//! "eb95"}]}`. A statistic that is undefined for a pair (see
//! [`crate::dispro`]) is `null`, so the output is always valid JSON.

use crate::counts::{count, Counts, Rows};
use crate::dispro::{chi2_yates, ic, ic_quantile, prr, ror, Table};
use crate::mgps::{fit, posterior, Data, Fit, FitOptions, Posterior, Theta};
use serde::Serialize;

/// What [`analyse`] does.
#[derive(Debug, Clone)]
pub struct Options {
    /// Expected counts summed over the rows' strata (when they have any).
    pub stratified: bool,
    /// Truncation point N* of the MGPS likelihood (DuMouchel & Pregibon
    /// 2001; openEBGM's default and recommendation: 1).
    pub n_star: u32,
    pub fit: FitOptions,
    /// Use these hyperparameters instead of fitting them (for instance a
    /// prior fitted once on a larger database).
    pub hyperparameters: Option<Theta>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            stratified: true,
            n_star: 1,
            fit: FitOptions::default(),
            hyperparameters: None,
        }
    }
}

/// Every statistic of one pair; the field names are the JSON's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairStats {
    pub product: String,
    pub event: String,
    pub n: u32,
    pub e: f64,
    pub prr: Option<f64>,
    pub prr_lo: Option<f64>,
    pub prr_hi: Option<f64>,
    pub ror: Option<f64>,
    pub ror_lo: Option<f64>,
    pub ror_hi: Option<f64>,
    pub chi2_yates: Option<f64>,
    pub ic: Option<f64>,
    pub ic025: Option<f64>,
    pub ebgm: Option<f64>,
    pub eb05: Option<f64>,
    pub eb95: Option<f64>,
}

impl PairStats {
    /// A statistic by its JSON name (`n` and `e` included).
    pub fn statistic(&self, name: &str) -> Option<f64> {
        match name {
            "n" => Some(self.n as f64),
            "e" => Some(self.e),
            "prr" => self.prr,
            "prr_lo" => self.prr_lo,
            "prr_hi" => self.prr_hi,
            "ror" => self.ror,
            "ror_lo" => self.ror_lo,
            "ror_hi" => self.ror_hi,
            "chi2_yates" => self.chi2_yates,
            "ic" => self.ic,
            "ic025" => self.ic025,
            "ebgm" => self.ebgm,
            "eb05" => self.eb05,
            "eb95" => self.eb95,
            _ => None,
        }
    }
}

/// The result of [`analyse`].
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub hyperparameters: Theta,
    /// Pairs in order of product name, then event name.
    pub pairs: Vec<PairStats>,
    /// How the hyperparameters were found (None when they were given).
    #[serde(skip)]
    pub fit: Option<Fit>,
    /// Distinct reports.
    #[serde(skip)]
    pub n_reports: u32,
    /// Strata the expected counts were summed over.
    #[serde(skip)]
    pub n_strata: usize,
}

impl Analysis {
    /// The pairs that meet `rule`.
    pub fn signals<'a>(&'a self, rule: &'a Rule) -> impl Iterator<Item = &'a PairStats> + 'a {
        self.pairs.iter().filter(move |p| rule.holds(p))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SignalError {
    /// Stable code; the message is `error.<code>`.
    pub code: &'static str,
    /// The option or field at fault.
    pub field: &'static str,
}

impl std::fmt::Display for SignalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.code, self.field)
    }
}

impl std::error::Error for SignalError {}

pub const ERROR_CODES: &[&str] = &[
    "signal_no_rows",
    "signal_no_pairs",
    "signal_hyperparameters_invalid",
    "signal_fit_failed",
];

/// Counts the rows, fits (or takes) the hyperparameters and computes every
/// statistic of every pair.
pub fn analyse(rows: &Rows, opts: &Options) -> Result<Analysis, SignalError> {
    if rows.is_empty() {
        return Err(SignalError {
            code: "signal_no_rows",
            field: "input",
        });
    }
    let counts = count(rows, opts.stratified);
    analyse_counts(rows, &counts, opts)
}

/// [`analyse`] on counts already made from `rows`.
pub fn analyse_counts(
    rows: &Rows,
    counts: &Counts,
    opts: &Options,
) -> Result<Analysis, SignalError> {
    let (theta, fitted) = match opts.hyperparameters {
        Some(t) if t.is_valid() => (t, None),
        Some(_) => {
            return Err(SignalError {
                code: "signal_hyperparameters_invalid",
                field: "hyperparameters",
            })
        }
        None => {
            let data = Data::new(counts.pairs.iter().map(|p| (p.n, p.e)), opts.n_star);
            if data.is_empty() {
                return Err(SignalError {
                    code: "signal_no_pairs",
                    field: "n_star",
                });
            }
            let f = fit(&data, &opts.fit).ok_or(SignalError {
                code: "signal_fit_failed",
                field: "hyperparameters",
            })?;
            if !f.theta.is_valid() {
                return Err(SignalError {
                    code: "signal_fit_failed",
                    field: "hyperparameters",
                });
            }
            (f.theta, Some(f))
        }
    };

    // Posteriors once per distinct (n, E).
    let mut keys: Vec<(u32, u64)> = counts.pairs.iter().map(|p| (p.n, p.e.to_bits())).collect();
    keys.sort_unstable();
    keys.dedup();
    let post = par_map(&keys, |&(n, eb)| posterior(&theta, n, f64::from_bits(eb)));

    // Order pairs by names, as a reader expects.
    let mut order: Vec<usize> = (0..counts.pairs.len()).collect();
    let product_rank = rank(rows.products.names());
    let event_rank = rank(rows.events.names());
    order.sort_unstable_by_key(|&i| {
        let p = &counts.pairs[i];
        (
            product_rank[p.product as usize],
            event_rank[p.event as usize],
        )
    });

    let ok = |x: f64| x.is_finite().then_some(x);
    // Every pair's statistics on the available cores (IC025 inverts a
    // gamma distribution per pair).
    let pairs = par_map(&order, |&i| {
        let pc = &counts.pairs[i];
        let t = Table::from_margins(pc.n, pc.n_product, pc.n_event, counts.n_reports);
        let pr = prr(&t);
        let or = ror(&t);
        let k = keys
            .binary_search(&(pc.n, pc.e.to_bits()))
            .expect("every pair's key was collected");
        let Posterior {
            ebgm, eb05, eb95, ..
        } = post[k];
        let n = pc.n as f64;
        PairStats {
            product: rows.products.name(pc.product).to_string(),
            event: rows.events.name(pc.event).to_string(),
            n: pc.n,
            e: pc.e,
            prr: pr.value,
            prr_lo: pr.lo,
            prr_hi: pr.hi,
            ror: or.value,
            ror_lo: or.lo,
            ror_hi: or.hi,
            chi2_yates: chi2_yates(&t),
            ic: ic(n, pc.e),
            ic025: ic_quantile(n, pc.e, 0.025),
            ebgm: ok(ebgm),
            eb05: ok(eb05),
            eb95: ok(eb95),
        }
    });
    Ok(Analysis {
        hyperparameters: theta,
        pairs,
        fit: fitted,
        n_reports: counts.n_reports,
        n_strata: counts.n_strata,
    })
}

/// The rank of each name in sorted (byte) order.
fn rank<'a>(names: impl Iterator<Item = &'a str>) -> Vec<u32> {
    let names: Vec<&str> = names.collect();
    let mut idx: Vec<u32> = (0..names.len() as u32).collect();
    idx.sort_unstable_by_key(|&i| names[i as usize]);
    let mut rank = vec![0u32; names.len()];
    for (r, &i) in idx.iter().enumerate() {
        rank[i as usize] = r as u32;
    }
    rank
}

/// Maps `f` over `items` on the available cores, keeping the order.
fn par_map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync) -> Vec<U> {
    let threads = crate::mgps::worker_count(items.len() * 8);
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(f).collect::<Vec<U>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("posterior worker"))
            .collect()
    })
}

/// How a threshold compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    AtLeast,
    Above,
}

impl Comparison {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::AtLeast => ">=",
            Comparison::Above => ">",
        }
    }
}

/// One condition of a rule: a statistic (by its JSON name) against a value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Threshold {
    pub statistic: &'static str,
    pub comparison: Comparison,
    pub value: f64,
}

impl Threshold {
    pub fn holds(&self, p: &PairStats) -> bool {
        match p.statistic(self.statistic) {
            Some(v) => match self.comparison {
                Comparison::AtLeast => v >= self.value,
                Comparison::Above => v > self.value,
            },
            None => false,
        }
    }
}

/// A signal rule: all its thresholds must hold. Its label is the message
/// `signal.rule.<code>`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rule {
    pub code: &'static str,
    /// Where the rule comes from.
    pub source: &'static str,
    pub thresholds: &'static [Threshold],
}

impl Rule {
    pub fn holds(&self, p: &PairStats) -> bool {
        self.thresholds.iter().all(|t| t.holds(p))
    }
}

const RULES: &[Rule] = &[
    Rule {
        code: "evans_2001",
        source: "Evans SJW, Waller PC, Davis S. Pharmacoepidemiol Drug Saf 2001;10:483-6",
        thresholds: &[
            Threshold {
                statistic: "prr",
                comparison: Comparison::AtLeast,
                value: 2.0,
            },
            Threshold {
                statistic: "chi2_yates",
                comparison: Comparison::AtLeast,
                value: 4.0,
            },
            Threshold {
                statistic: "n",
                comparison: Comparison::AtLeast,
                value: 3.0,
            },
        ],
    },
    Rule {
        code: "ic025_positive",
        source: "Norén GN et al. Stat Med 2006;25:3740-57 (Uppsala Monitoring Centre)",
        thresholds: &[Threshold {
            statistic: "ic025",
            comparison: Comparison::Above,
            value: 0.0,
        }],
    },
    Rule {
        code: "eb05_2",
        source: "Szarfman A, Machado SG, O'Neill RT. Drug Saf 2002;25:381-92 (FDA)",
        thresholds: &[Threshold {
            statistic: "eb05",
            comparison: Comparison::AtLeast,
            value: 2.0,
        }],
    },
];

/// The signal rules a page can show and apply.
pub fn rules() -> &'static [Rule] {
    RULES
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(prr: f64, chi2: f64, n: u32) -> PairStats {
        PairStats {
            product: "p".into(),
            event: "e".into(),
            n,
            e: 1.0,
            prr: Some(prr),
            prr_lo: None,
            prr_hi: None,
            ror: None,
            ror_lo: None,
            ror_hi: None,
            chi2_yates: Some(chi2),
            ic: None,
            ic025: Some(0.0),
            ebgm: None,
            eb05: Some(2.0),
            eb95: None,
        }
    }

    #[test]
    fn rules_apply_their_published_thresholds() {
        let evans = &rules()[0];
        // Evans et al. 2001: PRR ≥ 2, chi-squared ≥ 4 and at least 3 cases.
        assert!(evans.holds(&pair(2.0, 4.0, 3)));
        assert!(!evans.holds(&pair(1.99, 4.0, 3)));
        assert!(!evans.holds(&pair(2.0, 3.99, 3)));
        assert!(!evans.holds(&pair(2.0, 4.0, 2)));
        // IC025 must be above 0; EB05 at least 2.
        assert!(!rules()[1].holds(&pair(2.0, 4.0, 3)));
        assert!(rules()[2].holds(&pair(2.0, 4.0, 3)));
        // A missing statistic never meets a rule.
        let mut p = pair(2.0, 4.0, 3);
        p.prr = None;
        assert!(!evans.holds(&p));
    }

    #[test]
    fn json_has_exactly_the_documented_shape() {
        let mut rows = Rows::new();
        for (r, p, e) in [
            ("1", "a", "x"),
            ("2", "a", "y"),
            ("3", "b", "x"),
            ("4", "b", "y"),
            ("5", "a", "x"),
        ] {
            rows.push(r, p, e, None).unwrap();
        }
        let opts = Options {
            // A fixed valid prior (the values quoted for DuMouchel 1999's FDA
            // SRS fit), so no fit is needed here.
            hyperparameters: Some(Theta::new(0.204, 0.058, 1.415, 1.838, 0.097)),
            ..Options::default()
        };
        let a = analyse(&rows, &opts).unwrap();
        let v = serde_json::to_value(&a).unwrap();
        let obj = v.as_object().unwrap();
        let mut top: Vec<&str> = obj.keys().map(|k| k.as_str()).collect();
        top.sort_unstable();
        assert_eq!(top, ["hyperparameters", "pairs"]);
        let mut hk: Vec<&str> = obj["hyperparameters"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        hk.sort_unstable();
        assert_eq!(hk, ["alpha1", "alpha2", "beta1", "beta2", "p"]);
        let first = obj["pairs"][0].as_object().unwrap();
        let mut fields: Vec<&str> = first.keys().map(|k| k.as_str()).collect();
        fields.sort_unstable();
        let mut want = vec![
            "product",
            "event",
            "n",
            "e",
            "prr",
            "prr_lo",
            "prr_hi",
            "ror",
            "ror_lo",
            "ror_hi",
            "chi2_yates",
            "ic",
            "ic025",
            "ebgm",
            "eb05",
            "eb95",
        ];
        want.sort_unstable();
        assert_eq!(fields, want);
        // a–x: 2 of 3 reports with a, 2 of 3 with x, N = 5; E = 3·3/5.
        assert_eq!(first["product"], "a");
        assert_eq!(first["event"], "x");
        assert_eq!(first["n"], 2);
        assert!((first["e"].as_f64().unwrap() - 1.8).abs() < 1e-15);
    }

    #[test]
    fn undefined_statistics_serialise_as_null() {
        // One product in every report: c + d = 0, so PRR and chi-squared
        // have no value.
        let mut rows = Rows::new();
        rows.push("1", "a", "x", None).unwrap();
        rows.push("2", "a", "y", None).unwrap();
        let opts = Options {
            hyperparameters: Some(Theta::new(0.204, 0.058, 1.415, 1.838, 0.097)),
            ..Options::default()
        };
        let a = analyse(&rows, &opts).unwrap();
        let json = serde_json::to_string(&a).unwrap();
        assert!(json.contains("\"prr\":null"), "{json}");
        assert!(json.contains("\"chi2_yates\":null"), "{json}");
        serde_json::from_str::<serde_json::Value>(&json).unwrap();
    }

    #[test]
    fn errors_have_codes() {
        let rows = Rows::new();
        assert_eq!(
            analyse(&rows, &Options::default()).unwrap_err().code,
            "signal_no_rows"
        );
        let mut rows = Rows::new();
        rows.push("1", "a", "x", None).unwrap();
        let opts = Options {
            n_star: 2,
            ..Options::default()
        };
        assert_eq!(analyse(&rows, &opts).unwrap_err().code, "signal_no_pairs");
        let opts = Options {
            hyperparameters: Some(Theta::new(-1.0, 1.0, 1.0, 1.0, 0.5)),
            ..Options::default()
        };
        assert_eq!(
            analyse(&rows, &opts).unwrap_err(),
            SignalError {
                code: "signal_hyperparameters_invalid",
                field: "hyperparameters"
            }
        );
        for code in ERROR_CODES {
            assert!(code.starts_with("signal_"));
        }
    }

    #[test]
    fn whole_analysis_matches_the_numpy_scipy_peer() {
        // Generated rows (20 000 rows, seed 5, 200 products, 100 events,
        // with strata) analysed by bench/signal_peer.py — the same method in
        // NumPy 2.4.6 and SciPy 1.17.1 (gammaincinv, gammainc, gammaln,
        // digamma, ndtri). Expected values are that program's output.
        let rows = crate::generate::rows(&crate::generate::Options {
            rows: 20_000,
            seed: 5,
            products: 200,
            events: 100,
            strata: true,
        });
        let a = analyse(&rows, &Options::default()).unwrap();
        assert_eq!(a.pairs.len(), 5644);
        let h = a.hyperparameters.as_array();
        let want_h = [
            1.8651494221268654,
            0.9444103596585899,
            20.936783866555672,
            21.42091311244449,
            0.0641167740933055,
        ];
        for (g, w) in h.iter().zip(want_h) {
            assert!((g - w).abs() <= 1e-8 * w, "{h:?}");
        }
        let want = [
            (
                "阿基仑赛注射液",
                "Cytokine release syndrome",
                428,
                [
                    457.5699298986037,
                    0.9164108957910865,
                    0.8309843777367687,
                    1.0106193960130598,
                    0.8919234648524041,
                    0.7851661841163533,
                    1.0131962930237823,
                    2.9819371589971944,
                    -0.09627265559292744,
                    -0.23622957897301572,
                    0.9362146751649654,
                    0.865684085303201,
                    1.0112089962237336,
                ],
            ),
            (
                "Praabmab",
                "Arthralgia 1",
                12,
                [
                    0.6008553267207747,
                    29.296874999999996,
                    15.670090748593758,
                    54.773574610131064,
                    34.29044117647059,
                    16.940173573489755,
                    69.4109981208865,
                    219.66442170371388,
                    3.5052313059194304,
                    2.5750401441783373,
                    8.6510087933941,
                    5.409338354627678,
                    13.268733040158319,
                ],
            ),
            (
                "Abcemab",
                "Anaemia 1",
                1,
                [
                    0.5637991537970584,
                    1.9351851851851853,
                    0.27214541458321473,
                    13.7608113173449,
                    1.951035781544256,
                    0.26548064508751507,
                    14.338298069191408,
                    0.0,
                    0.49573670624737,
                    -3.3014905621139774,
                    1.003874199351986,
                    0.6701001937359583,
                    1.5032934511160956,
                ],
            ),
        ];
        let fields = [
            "e",
            "prr",
            "prr_lo",
            "prr_hi",
            "ror",
            "ror_lo",
            "ror_hi",
            "chi2_yates",
            "ic",
            "ic025",
            "ebgm",
            "eb05",
            "eb95",
        ];
        for (product, event, n, values) in want {
            let p = a
                .pairs
                .iter()
                .find(|p| p.product == product && p.event == event)
                .unwrap();
            assert_eq!(p.n, n);
            for (f, w) in fields.iter().zip(values) {
                let g = p.statistic(f).unwrap();
                assert!(
                    (g - w).abs() <= 1e-8 * w.abs().max(1e-6),
                    "{product} {event} {f}: {g} vs {w}"
                );
            }
        }
        // Praabmab–Arthralgia 1 meets all three rules; the CAR-T pair none.
        let hits = |prod: &str, ev: &str| {
            let p = a
                .pairs
                .iter()
                .find(|p| p.product == prod && p.event == ev)
                .unwrap();
            rules().iter().filter(|r| r.holds(p)).count()
        };
        assert_eq!(hits("Praabmab", "Arthralgia 1"), 3);
        assert_eq!(hits("阿基仑赛注射液", "Cytokine release syndrome"), 0);
    }
}
