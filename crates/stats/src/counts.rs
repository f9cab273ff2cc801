//! Report-level counts of (product, event) pairs and their expected counts.
//!
//! Input rows are `(report, product, event[, stratum])`, with the names
//! interned to dense `u32` ids ([`Rows`]). A report counts once per product,
//! once per event and once per pair however many rows repeat them, so the
//! margins are numbers of distinct reports (as openEBGM's `processRaw` counts
//! unique ids rather than table totals). With strata, the expected count of a
//! pair is `E = Σ_s n1.(s) · n.1(s) / N(s)` over the strata `s` (DuMouchel
//! 1999, section 4; openEBGM `processRaw(stratify = TRUE)`); without, it is
//! `n1. · n.1 / N`. The 2×2 margins used for PRR, ROR and chi-squared are
//! always the unstratified ones, as in openEBGM.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A small multiplicative hasher (the rotate–xor–multiply scheme of the Fx
/// hash used by compilers); interning is hash-bound, and SipHash's
/// flood resistance buys nothing for names read from a file the user chose.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the low bits depending on the low input bits
        // only, and hash tables index by the low bits: fold the high half
        // in (the splitmix64 finaliser) so keys that differ only in their
        // last bytes, such as "R1000001" and "R1000002", spread out.
        let mut z = self.hash;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

pub type FxBuild = BuildHasherDefault<FxHasher>;

/// Names to dense ids in first-seen order.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    // One allocation per name, shared by the list and the index.
    names: Vec<std::sync::Arc<str>>,
    ids: HashMap<std::sync::Arc<str>, u32, FxBuild>,
}

impl Interner {
    /// The id of `name`, adding it if new.
    #[inline]
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        let shared: std::sync::Arc<str> = name.into();
        self.names.push(shared.clone());
        self.ids.insert(shared, id);
        id
    }

    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|s| &**s)
    }
}

/// Report-event rows with interned names, column by column.
#[derive(Debug, Default, Clone)]
pub struct Rows {
    pub reports: Interner,
    pub products: Interner,
    pub events: Interner,
    pub strata: Interner,
    pub report: Vec<u32>,
    pub product: Vec<u32>,
    pub event: Vec<u32>,
    /// The stratum of each report (indexed by report id); empty when the
    /// rows carry no stratum.
    pub report_stratum: Vec<u32>,
    last_report: Option<(Box<str>, u32)>,
    // The previous row's product and stratum: rows come grouped by report,
    // and a report repeats them, so a comparison saves a hash lookup.
    last_product: Option<(Box<str>, u32)>,
    last_stratum: Option<(Box<str>, u32)>,
}

/// `name`'s id: the cached one when the name repeats, else interned.
fn cached(interner: &mut Interner, last: &mut Option<(Box<str>, u32)>, name: &str) -> u32 {
    match last {
        Some((n, id)) if &**n == name => *id,
        _ => {
            let id = interner.intern(name);
            *last = Some((name.into(), id));
            id
        }
    }
}

/// A report seen again with another stratum than its first row gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StratumConflict;

impl Rows {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.report.len()
    }

    pub fn is_empty(&self) -> bool {
        self.report.is_empty()
    }

    /// Whether the rows carry strata.
    pub fn has_strata(&self) -> bool {
        !self.strata.is_empty()
    }

    /// Appends one row. A stratum belongs to a report: a report that comes
    /// back with a different stratum is refused (and the row not added).
    /// Rows with a stratum and rows without must not be mixed; a row without
    /// a stratum after rows with one falls into a stratum named "".
    pub fn push(
        &mut self,
        report: &str,
        product: &str,
        event: &str,
        stratum: Option<&str>,
    ) -> Result<(), StratumConflict> {
        let r = match &self.last_report {
            Some((name, id)) if &**name == report => *id,
            _ => {
                let id = self.reports.intern(report);
                self.last_report = Some((report.into(), id));
                id
            }
        };
        if stratum.is_some() || self.has_strata() {
            let s = cached(
                &mut self.strata,
                &mut self.last_stratum,
                stratum.unwrap_or(""),
            );
            let r_us = r as usize;
            if r_us < self.report_stratum.len() {
                if self.report_stratum[r_us] != s {
                    return Err(StratumConflict);
                }
            } else {
                if self.report_stratum.len() < r_us {
                    // Reports seen before the first stratum fall into "".
                    let blank = self.strata.intern("");
                    self.report_stratum.resize(r_us, blank);
                }
                self.report_stratum.push(s);
            }
        }
        let p = cached(&mut self.products, &mut self.last_product, product);
        let e = self.events.intern(event);
        self.report.push(r);
        self.product.push(p);
        self.event.push(e);
        Ok(())
    }
}

/// Counts of one (product, event) pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairCount {
    pub product: u32,
    pub event: u32,
    /// Reports naming both the product and the event (n11, the table's `a`).
    pub n: u32,
    /// Expected count from the report-level margins (stratified if asked).
    pub e: f64,
    /// Reports naming the product (n1.).
    pub n_product: u32,
    /// Reports naming the event (n.1).
    pub n_event: u32,
}

/// All pairs with at least one report, and the margins.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Distinct reports (N).
    pub n_reports: u32,
    /// Pairs sorted by product id, then event id.
    pub pairs: Vec<PairCount>,
    /// Distinct reports per product id.
    pub product_margin: Vec<u32>,
    /// Distinct reports per event id.
    pub event_margin: Vec<u32>,
    /// Strata used for the expected counts (1 when unstratified).
    pub n_strata: usize,
}

/// Sorts `v` of u64 keys by an LSD radix sort on the bytes that vary.
fn radix_sort_u64(v: &mut Vec<u64>) {
    if v.len() < 256 {
        v.sort_unstable();
        return;
    }
    let mut or = 0u64;
    let mut and = u64::MAX;
    for &x in v.iter() {
        or |= x;
        and &= x;
    }
    let varying = or ^ and;
    let mut buf = vec![0u64; v.len()];
    for byte in 0..8 {
        let shift = byte * 8;
        if (varying >> shift) & 0xff == 0 {
            continue;
        }
        let mut count = [0usize; 257];
        for &x in v.iter() {
            count[((x >> shift) & 0xff) as usize + 1] += 1;
        }
        for i in 0..256 {
            count[i + 1] += count[i];
        }
        for &x in v.iter() {
            let k = ((x >> shift) & 0xff) as usize;
            buf[count[k]] = x;
            count[k] += 1;
        }
        std::mem::swap(v, &mut buf);
    }
}

/// Counts every pair with report-level margins. With `stratified` and rows
/// that carry strata, expected counts sum over strata; otherwise they use
/// the overall margins.
pub fn count(rows: &Rows, stratified: bool) -> Counts {
    let n_rows = rows.len();
    let n_rep = rows.reports.len();
    let n_prod = rows.products.len();
    let n_ev = rows.events.len();
    let strat = stratified && rows.has_strata();
    let n_strata = if strat { rows.strata.len().max(1) } else { 1 };
    if n_rows == 0 {
        return Counts {
            n_strata,
            product_margin: vec![0; n_prod],
            event_margin: vec![0; n_ev],
            ..Counts::default()
        };
    }

    // Group rows by report with a counting sort (report ids are dense).
    let mut start = vec![0u32; n_rep + 1];
    for &r in &rows.report {
        start[r as usize + 1] += 1;
    }
    for i in 0..n_rep {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut grouped = vec![0u64; n_rows];
    for i in 0..n_rows {
        let r = rows.report[i] as usize;
        let slot = &mut fill[r];
        grouped[*slot as usize] = ((rows.product[i] as u64) << 32) | rows.event[i] as u64;
        *slot += 1;
    }
    drop(fill);

    let mut product_margin = vec![0u32; n_prod];
    let mut event_margin = vec![0u32; n_ev];
    let mut strat_product = if strat {
        vec![0u32; n_strata * n_prod]
    } else {
        Vec::new()
    };
    let mut strat_event = if strat {
        vec![0u32; n_strata * n_ev]
    } else {
        Vec::new()
    };
    let mut strat_total = vec![0u32; n_strata];
    let mut pair_keys: Vec<u64> = Vec::with_capacity(n_rows);
    let mut events_buf: Vec<u32> = Vec::new();
    let mut n_reports = 0u32;

    for r in 0..n_rep {
        let (a, b) = (start[r] as usize, start[r + 1] as usize);
        if a == b {
            continue;
        }
        n_reports += 1;
        let s = if strat {
            rows.report_stratum.get(r).copied().unwrap_or(0) as usize
        } else {
            0
        };
        strat_total[s] += 1;
        let group = &mut grouped[a..b];
        group.sort_unstable();
        events_buf.clear();
        let mut prev_key = u64::MAX;
        let mut prev_product = u32::MAX;
        for &key in group.iter() {
            if key == prev_key {
                continue;
            }
            prev_key = key;
            pair_keys.push(key);
            let p = (key >> 32) as u32;
            let e = key as u32;
            if p != prev_product {
                prev_product = p;
                product_margin[p as usize] += 1;
                if strat {
                    strat_product[s * n_prod + p as usize] += 1;
                }
            }
            events_buf.push(e);
        }
        events_buf.sort_unstable();
        events_buf.dedup();
        for &e in &events_buf {
            event_margin[e as usize] += 1;
            if strat {
                strat_event[s * n_ev + e as usize] += 1;
            }
        }
    }
    drop(grouped);

    radix_sort_u64(&mut pair_keys);
    let total = n_reports as f64;
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < pair_keys.len() {
        let key = pair_keys[i];
        let mut j = i + 1;
        while j < pair_keys.len() && pair_keys[j] == key {
            j += 1;
        }
        let p = (key >> 32) as u32;
        let e = key as u32;
        let np = product_margin[p as usize];
        let ne = event_margin[e as usize];
        let expected = if strat {
            let mut sum = 0.0;
            for (s, &tot) in strat_total.iter().enumerate() {
                if tot == 0 {
                    continue;
                }
                let a = strat_product[s * n_prod + p as usize];
                let b = strat_event[s * n_ev + e as usize];
                if a != 0 && b != 0 {
                    sum += a as f64 * b as f64 / tot as f64;
                }
            }
            sum
        } else {
            np as f64 * ne as f64 / total
        };
        pairs.push(PairCount {
            product: p,
            event: e,
            n: (j - i) as u32,
            e: expected,
            n_product: np,
            n_event: ne,
        });
        i = j;
    }

    Counts {
        n_reports,
        pairs,
        product_margin,
        event_margin,
        n_strata,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-worked example of openEBGM's own tests
    /// (tests/testthat/testA_Counts.R, data `dat2`): ten single-row reports.
    fn open_ebgm_dat2() -> Rows {
        let var1 = [
            "product_A",
            "product_B",
            "product_B",
            "product_B",
            "product_C",
            "product_A",
            "product_A",
            "product_B",
            "product_B",
            "product_C",
        ];
        let var2 = [
            "event_1", "event_2", "event_2", "event_3", "event_3", "event_2", "event_3", "event_3",
            "event_3", "event_1",
        ];
        let strat1 = [
            "Male", "Male", "Male", "Male", "Male", "Female", "Female", "Female", "Male", "Male",
        ];
        let strat2 = [
            "age_cat1", "age_cat1", "age_cat1", "age_cat1", "age_cat1", "age_cat1", "age_cat1",
            "age_cat1", "age_cat2", "age_cat2",
        ];
        let mut rows = Rows::new();
        for i in 0..10 {
            let id = (i + 1).to_string();
            let stratum = format!("{}|{}", strat1[i], strat2[i]);
            rows.push(&id, var1[i], var2[i], Some(&stratum)).unwrap();
        }
        rows
    }

    fn find(c: &Counts, rows: &Rows, p: &str, e: &str) -> PairCount {
        let p = rows.products.get(p).unwrap();
        let e = rows.events.get(e).unwrap();
        *c.pairs
            .iter()
            .find(|x| x.product == p && x.event == e)
            .unwrap()
    }

    #[test]
    fn matches_open_ebgm_hand_calculation_unstratified() {
        // Expected N and E: openEBGM testA_Counts.R, data frame `hand`.
        let rows = open_ebgm_dat2();
        let c = count(&rows, false);
        assert_eq!(c.n_reports, 10);
        let want = [
            ("product_A", "event_1", 1, 0.6),
            ("product_A", "event_2", 1, 0.9),
            ("product_A", "event_3", 1, 1.5),
            ("product_B", "event_2", 2, 1.5),
            ("product_B", "event_3", 3, 2.5),
            ("product_C", "event_1", 1, 0.4),
            ("product_C", "event_3", 1, 1.0),
        ];
        assert_eq!(c.pairs.len(), want.len());
        for (p, e, n, ex) in want {
            let got = find(&c, &rows, p, e);
            assert_eq!(got.n, n, "{p} {e}");
            assert!((got.e - ex).abs() < 1e-12, "{p} {e}: {}", got.e);
        }
    }

    #[test]
    fn matches_open_ebgm_hand_calculation_stratified() {
        // Expected E: openEBGM testA_Counts.R, data frame `hand_s`.
        let rows = open_ebgm_dat2();
        let c = count(&rows, true);
        assert_eq!(c.n_strata, 3);
        let want = [
            ("product_A", "event_1", 0.2),
            ("product_A", "event_2", 0.4 + 2.0 / 3.0),
            ("product_A", "event_3", 0.4 + 4.0 / 3.0),
            ("product_B", "event_2", 1.2 + 1.0 / 3.0),
            ("product_B", "event_3", 1.7 + 2.0 / 3.0),
            ("product_C", "event_1", 0.7),
            ("product_C", "event_3", 0.9),
        ];
        for (p, e, ex) in want {
            let got = find(&c, &rows, p, e);
            assert!((got.e - ex).abs() < 1e-12, "{p} {e}: {}", got.e);
        }
    }

    #[test]
    fn a_report_counts_once_per_product_event_and_pair() {
        let mut rows = Rows::new();
        // Report 1 names aspirin twice against nausea, and two events.
        rows.push("1", "aspirin", "nausea", None).unwrap();
        rows.push("1", "aspirin", "nausea", None).unwrap();
        rows.push("1", "aspirin", "rash", None).unwrap();
        rows.push("1", "ibuprofen", "nausea", None).unwrap();
        rows.push("2", "ibuprofen", "rash", None).unwrap();
        let c = count(&rows, false);
        assert_eq!(c.n_reports, 2);
        let an = find(&c, &rows, "aspirin", "nausea");
        assert_eq!((an.n, an.n_product, an.n_event), (1, 1, 1));
        let ir = find(&c, &rows, "ibuprofen", "rash");
        assert_eq!((ir.n, ir.n_product, ir.n_event), (1, 2, 2));
        // E = 2 · 2 / 2 by the margins worked out above.
        assert_eq!(ir.e, 2.0);
    }

    #[test]
    fn conflicting_strata_are_refused() {
        let mut rows = Rows::new();
        rows.push("1", "a", "x", Some("F")).unwrap();
        assert_eq!(rows.push("1", "a", "y", Some("M")), Err(StratumConflict));
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn radix_sort_sorts() {
        let mut v: Vec<u64> = (0..5000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let mut w = v.clone();
        radix_sort_u64(&mut v);
        w.sort_unstable();
        assert_eq!(v, w);
    }
}
