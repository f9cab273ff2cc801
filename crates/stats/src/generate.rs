//! A deterministic generator of synthetic report-event rows for tests and
//! benchmarks.
//!
//! Reports name one to four products and one to six events; products and
//! events are drawn from long-tailed (Zipf-like, weight 1/(rank+1)^s)
//! catalogues, so a few are everywhere and most are rare, as in spontaneous
//! reporting. Every (product, event) pair has its own reporting-rate
//! multiplier, drawn once from a two-component gamma mixture (90% Gamma(5,
//! rate 5) around 1, 10% Gamma(1, rate 0.25) with a long upper tail), and an
//! event drawn for a report is kept with probability multiplier / 8 for a
//! product of the report — so the pairs' reporting ratios spread out as the
//! model of DuMouchel (1999) supposes, rather than all sitting at 1. A
//! handful of planted (product, event) signals add their event
//! to a share of the reports that name their product. Each report has a
//! stratum `sex|age group|year`. The random numbers come from xoshiro256**
//! seeded through splitmix64 (Blackman & Vigna), so a seed always gives the
//! same rows on every machine.

use crate::counts::Rows;
use std::io::{self, Write};

/// splitmix64, used to seed the main generator.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// xoshiro256** pseudo-random numbers.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut st = seed;
        Rng {
            s: [
                splitmix64(&mut st),
                splitmix64(&mut st),
                splitmix64(&mut st),
                splitmix64(&mut st),
            ],
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Gamma with shape `a` ≥ 1 and rate 1 (Marsaglia & Tsang 2000).
    pub fn gamma(&mut self, a: f64) -> f64 {
        let d = a - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rows to write (the last report is cut to make the count exact).
    pub rows: u64,
    pub seed: u64,
    pub products: usize,
    pub events: usize,
    /// Write the stratum column.
    pub strata: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rows: 10_000_000,
            seed: 20_240_601,
            products: 4000,
            events: 2000,
            strata: true,
        }
    }
}

/// A planted signal: reports naming `product` name `event` too with
/// probability `share`.
#[derive(Debug, Clone, PartialEq)]
pub struct Planted {
    pub product: String,
    pub event: String,
    pub share: f64,
}

const SYLLABLES: [&str; 24] = [
    "ab", "ce", "da", "fi", "lo", "ma", "ne", "pi", "ra", "so", "tu", "vi", "xa", "zo", "cor",
    "lin", "mab", "tin", "vir", "zol", "pra", "mer", "sta", "gli",
];
const SUFFIXES: [&str; 8] = [
    "mab", "cel", "tinib", "vir", "pril", "statin", "olol", "zumab",
];
const CN_PRODUCTS: [&str; 6] = [
    "阿基仑赛注射液",
    "瑞基奥仑赛注射液",
    "伊基奥仑赛注射液",
    "泽沃基奥仑赛注射液",
    "纳基奥仑赛注射液",
    "赛恺泽",
];
const PT: [&str; 40] = [
    "Cytokine release syndrome",
    "Pyrexia",
    "Neutropenia",
    "Anaemia",
    "Thrombocytopenia",
    "Nausea",
    "Fatigue",
    "Headache",
    "Diarrhoea",
    "Hypotension",
    "Immune effector cell-associated neurotoxicity syndrome",
    "Febrile neutropenia",
    "Vomiting",
    "Rash",
    "Dyspnoea",
    "Cough",
    "Dizziness",
    "Pneumonia",
    "Sepsis",
    "Hypokalaemia",
    "Tachycardia",
    "Chills",
    "Arthralgia",
    "Back pain",
    "Insomnia",
    "Confusional state",
    "Encephalopathy",
    "Tremor",
    "Hypogammaglobulinaemia",
    "Infection",
    "Death",
    "Pruritus",
    "Oedema peripheral",
    "Decreased appetite",
    "Constipation",
    "Hypoxia",
    "Aphasia",
    "Seizure",
    "Leukopenia",
    "Lymphopenia",
];

fn product_name(i: usize) -> String {
    if i < CN_PRODUCTS.len() {
        return CN_PRODUCTS[i].to_string();
    }
    let a = SYLLABLES[i % 24];
    let b = SYLLABLES[(i / 24) % 24];
    let c = SUFFIXES[(i / 576) % 8];
    let mut s = format!("{a}{b}{c}");
    if i >= 576 * 8 {
        s.push_str(&format!("-{}", i / 4608));
    }
    let mut ch = s.chars();
    match ch.next() {
        Some(f) => f.to_uppercase().collect::<String>() + ch.as_str(),
        None => s,
    }
}

fn event_name(i: usize) -> String {
    if i < PT.len() {
        PT[i].to_string()
    } else {
        format!("{} {}", PT[i % PT.len()], i / PT.len())
    }
}

/// Cumulative weights 1/(k+1)^s.
fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut v: Vec<f64> = (0..n)
        .map(|k| {
            acc += 1.0 / ((k + 1) as f64).powf(s);
            acc
        })
        .collect();
    let total = acc;
    v.iter_mut().for_each(|x| *x /= total);
    v
}

fn draw(cdf: &[f64], rng: &mut Rng) -> usize {
    let u = rng.uniform();
    cdf.partition_point(|&c| c <= u).min(cdf.len() - 1)
}

/// The planted signals for these options (deterministic in the options).
pub fn planted(opts: &Options) -> Vec<Planted> {
    let np = opts.products.max(10);
    let ne = opts.events.max(10);
    // Mid-frequency products with rare events: a real excess that PRR and
    // EB05 should both find.
    (0..6)
        .map(|k| Planted {
            product: product_name((7 + 13 * k) % np),
            event: event_name((ne / 3 + 29 * k) % ne),
            share: 0.08 + 0.02 * k as f64,
        })
        .collect()
}

/// Streams generated rows to `emit(report, product, event, stratum)`.
fn run(
    opts: &Options,
    mut emit: impl FnMut(u64, usize, usize, usize) -> io::Result<()>,
) -> io::Result<()> {
    let np = opts.products.max(10);
    let ne = opts.events.max(10);
    let pcdf = zipf_cdf(np, 1.05);
    let ecdf = zipf_cdf(ne, 0.95);
    let plant: Vec<(usize, usize, f64)> = (0..6)
        .map(|k| {
            (
                (7 + 13 * k) % np,
                (ne / 3 + 29 * k) % ne,
                0.08 + 0.02 * k as f64,
            )
        })
        .collect();
    let mut rng = Rng::new(opts.seed);
    // Each pair's reporting-rate multiplier.
    let mult: Vec<f32> = (0..np * ne)
        .map(|_| {
            if rng.uniform() < 0.9 {
                (rng.gamma(5.0) / 5.0) as f32
            } else {
                (rng.gamma(1.0) / 0.25) as f32
            }
        })
        .collect();
    let mut written = 0u64;
    let mut report = 0u64;
    let mut products: Vec<usize> = Vec::with_capacity(4);
    let mut events: Vec<usize> = Vec::with_capacity(8);
    while written < opts.rows {
        report += 1;
        products.clear();
        events.clear();
        let k = 1
            + (rng.uniform() < 0.4) as usize
            + (rng.uniform() < 0.2) as usize
            + (rng.uniform() < 0.1) as usize;
        while products.len() < k {
            let p = draw(&pcdf, &mut rng);
            if !products.contains(&p) {
                products.push(p);
            }
        }
        let m = 1 + (0..5).take_while(|_| rng.uniform() < 0.45).count();
        while events.len() < m {
            let e = loop {
                let e = draw(&ecdf, &mut rng);
                let p = products[rng.below(products.len())];
                if rng.uniform() * 8.0 < mult[p * ne + e] as f64 {
                    break e;
                }
            };
            if !events.contains(&e) {
                events.push(e);
            }
        }
        for &(pp, pe, share) in &plant {
            if products.contains(&pp) && !events.contains(&pe) && rng.uniform() < share {
                events.push(pe);
            }
        }
        // Stratum: sex × five age groups × five years.
        let stratum = rng.below(2) * 25 + rng.below(5) * 5 + rng.below(5);
        for &p in &products {
            for &e in &events {
                if written == opts.rows {
                    return Ok(());
                }
                emit(report, p, e, stratum)?;
                written += 1;
            }
        }
    }
    Ok(())
}

const AGES: [&str; 5] = ["0-17", "18-44", "45-64", "65-74", "75+"];

fn stratum_name(s: usize) -> String {
    let sex = if s / 25 == 0 { "F" } else { "M" };
    format!("{sex}|{}|{}", AGES[(s / 5) % 5], 2019 + s % 5)
}

/// Writes the rows as CSV with a header (`report_id,product,event[,stratum]`).
/// Returns the number of rows written.
pub fn write_csv<W: Write>(opts: &Options, out: W) -> io::Result<u64> {
    let np = opts.products.max(10);
    let ne = opts.events.max(10);
    let pnames: Vec<String> = (0..np).map(product_name).collect();
    let enames: Vec<String> = (0..ne).map(event_name).collect();
    let snames: Vec<String> = (0..50).map(stratum_name).collect();
    let mut w = io::BufWriter::with_capacity(1 << 20, out);
    if opts.strata {
        w.write_all(b"report_id,product,event,stratum\n")?;
    } else {
        w.write_all(b"report_id,product,event\n")?;
    }
    let mut n = 0u64;
    let mut line: Vec<u8> = Vec::with_capacity(160);
    run(opts, |r, p, e, s| {
        line.clear();
        line.extend_from_slice(b"R");
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = r;
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        line.extend_from_slice(&digits[i..]);
        line.push(b',');
        line.extend_from_slice(pnames[p].as_bytes());
        line.push(b',');
        line.extend_from_slice(enames[e].as_bytes());
        if opts.strata {
            line.push(b',');
            line.extend_from_slice(snames[s].as_bytes());
        }
        line.push(b'\n');
        n += 1;
        w.write_all(&line)
    })?;
    w.flush()?;
    Ok(n)
}

/// The same rows, straight into memory.
pub fn rows(opts: &Options) -> Rows {
    let np = opts.products.max(10);
    let ne = opts.events.max(10);
    let pnames: Vec<String> = (0..np).map(product_name).collect();
    let enames: Vec<String> = (0..ne).map(event_name).collect();
    let snames: Vec<String> = (0..50).map(stratum_name).collect();
    let mut out = Rows::new();
    let mut id = String::new();
    let _ = run(opts, |r, p, e, s| {
        id.clear();
        id.push('R');
        id.push_str(&r.to_string());
        let stratum = opts.strata.then(|| snames[s].as_str());
        // Each report has one stratum, so no conflict can arise.
        let _ = out.push(&id, &pnames[p], &enames[e], stratum);
        Ok(())
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoshiro_matches_reference_sequence() {
        // The reference implementation of xoshiro256** (Blackman & Vigna,
        // xoshiro256starstar.c) from the state {1, 2, 3, 4} gives
        // 11520, 0, 1509978240, 1215971899390074240 first.
        let mut r = Rng { s: [1, 2, 3, 4] };
        assert_eq!(r.next_u64(), 11520);
        assert_eq!(r.next_u64(), 0);
        assert_eq!(r.next_u64(), 1509978240);
        assert_eq!(r.next_u64(), 1215971899390074240);
    }

    #[test]
    fn splitmix_matches_reference() {
        // splitmix64.c (Vigna) seeded with 0 first gives 0xe220a8397b1dcdaf.
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn csv_and_memory_agree_and_are_deterministic() {
        let opts = Options {
            rows: 5000,
            seed: 7,
            products: 300,
            events: 200,
            strata: true,
        };
        let mut buf = Vec::new();
        assert_eq!(write_csv(&opts, &mut buf).unwrap(), 5000);
        let parsed = crate::csv::parse(&buf).unwrap();
        let mem = rows(&opts);
        assert_eq!(parsed.len(), 5000);
        assert_eq!(parsed.report, mem.report);
        assert_eq!(parsed.product, mem.product);
        assert_eq!(parsed.report_stratum, mem.report_stratum);
        let mut again = Vec::new();
        write_csv(&opts, &mut again).unwrap();
        assert_eq!(buf, again);
    }

    #[test]
    fn planted_signals_are_detected() {
        let opts = Options {
            rows: 200_000,
            seed: 11,
            products: 500,
            events: 300,
            strata: false,
        };
        let rows = rows(&opts);
        let a = crate::signal::analyse(&rows, &crate::signal::Options::default()).unwrap();
        let eb05 = &crate::signal::rules()[2];
        for pl in planted(&opts) {
            let p = a
                .pairs
                .iter()
                .find(|x| x.product == pl.product && x.event == pl.event)
                .unwrap();
            assert!(eb05.holds(p), "{pl:?}: {p:?}");
        }
    }
}
