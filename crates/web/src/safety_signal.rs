//! Signal detection for the signals page and API: the national database's
//! report-event rows through `celltrail_stats::signal`, the table's lines
//! with the rules each pair meets, and a forest plot of the strongest
//! pairs (EBGM with its EB05–EB95 interval) drawn as SVG.

use celltrail_core::code128::xml_escape;
use celltrail_core::Lang;
use celltrail_stats::counts::Rows;
use celltrail_stats::signal::{self, Analysis, Options, PairStats};
use celltrail_store::StoreError;

use crate::safety_pages::SignalLine;

/// Runs the analysis over (report, product, event, stratum) rows.
pub fn analyse(
    rows: &[(String, String, String, String)],
    stratified: bool,
) -> Result<Analysis, StoreError> {
    let mut data = Rows::new();
    for (report, product, event, stratum) in rows {
        let s = stratified.then_some(stratum.as_str());
        data.push(report, product, event, s)
            .map_err(|_| StoreError::internal("signal_stratum_conflict", report.clone()))?;
    }
    let opts = Options {
        stratified,
        ..Options::default()
    };
    signal::analyse(&data, &opts).map_err(|e| StoreError::invalid(e.code, e.field, e.to_string()))
}

fn fixed(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        Some(x) if x > 0.0 => "∞".into(),
        _ => "–".into(),
    }
}

/// Rules a pair meets, by their short names.
fn flags(p: &PairStats) -> Vec<&'static str> {
    signal::rules()
        .iter()
        .filter(|r| r.holds(p))
        .map(|r| match r.code {
            "evans_2001" => "PRR",
            "ic025_positive" => "IC",
            "eb05_2" => "EB05",
            other => other,
        })
        .collect()
}

/// The table's lines, strongest first (by EB05).
pub fn lines(a: &Analysis) -> Vec<SignalLine> {
    let mut pairs: Vec<&PairStats> = a.pairs.iter().collect();
    pairs.sort_by(|x, y| {
        y.eb05
            .unwrap_or(0.0)
            .total_cmp(&x.eb05.unwrap_or(0.0))
            .then(y.n.cmp(&x.n))
    });
    pairs
        .into_iter()
        .map(|p| SignalLine {
            product: p.product.clone(),
            event: p.event.clone(),
            n: p.n as u64,
            e: fixed(Some(p.e), 2),
            prr: fixed(p.prr, 2),
            prr_ci: format!("{}–{}", fixed(p.prr_lo, 2), fixed(p.prr_hi, 2)),
            ror: fixed(p.ror, 2),
            ror_ci: format!("{}–{}", fixed(p.ror_lo, 2), fixed(p.ror_hi, 2)),
            chi2: fixed(p.chi2_yates, 1),
            ic: fixed(p.ic, 2),
            ic025: fixed(p.ic025, 2),
            ebgm: fixed(p.ebgm, 2),
            eb05: fixed(p.eb05, 2),
            eb95: fixed(p.eb95, 2),
            flags: flags(p),
        })
        .collect()
}

/// At most `n` characters, with an ellipsis when cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(n - 1).collect();
        out.push('…');
        out
    }
}

/// How many pairs the plot shows.
pub const PLOT_PAIRS: usize = 20;

/// A forest plot of the pairs with the highest EB05: each a dot at EBGM
/// and a bar from EB05 to EB95 on a log scale, with the EB05 = 2 line.
pub fn plot_svg(a: &Analysis, lang: Lang) -> String {
    let mut pairs: Vec<&PairStats> = a
        .pairs
        .iter()
        .filter(|p| p.ebgm.is_some_and(f64::is_finite) && p.eb05.is_some() && p.eb95.is_some())
        .collect();
    pairs.sort_by(|x, y| y.eb05.unwrap_or(0.0).total_cmp(&x.eb05.unwrap_or(0.0)));
    pairs.truncate(PLOT_PAIRS);
    let row = 22.0;
    let (left, right, top) = (420.0, 30.0, 30.0);
    let width = 860.0;
    let height = top + row * pairs.len().max(1) as f64 + 40.0;
    let lo = pairs
        .iter()
        .filter_map(|p| p.eb05)
        .fold(0.5f64, f64::min)
        .max(1e-3);
    let hi = pairs
        .iter()
        .filter_map(|p| p.eb95)
        .filter(|v| v.is_finite())
        .fold(4.0f64, f64::max);
    let (l0, l1) = (lo.log10().floor(), hi.log10().ceil());
    let x = |v: f64| left + (v.max(lo).log10() - l0) / (l1 - l0).max(1e-9) * (width - left - right);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" aria-label=\"EBGM\" class=\"forest\">"
    );
    let axis_y = top + row * pairs.len().max(1) as f64;
    let mut decade = l0;
    while decade <= l1 {
        let v = 10f64.powf(decade);
        let px = x(v);
        s.push_str(&format!(
            "<line x1=\"{px:.1}\" y1=\"{top}\" x2=\"{px:.1}\" y2=\"{axis_y}\" stroke=\"#ddd\"/><text x=\"{px:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            axis_y + 14.0,
            if v >= 1.0 { format!("{v:.0}") } else { format!("{v}") }
        ));
        decade += 1.0;
    }
    let two = x(2.0);
    s.push_str(&format!(
        "<line x1=\"{two:.1}\" y1=\"{top}\" x2=\"{two:.1}\" y2=\"{axis_y}\" stroke=\"#b00\" stroke-dasharray=\"4 3\"/>"
    ));
    for (i, p) in pairs.iter().enumerate() {
        let y = top + row * i as f64 + row / 2.0;
        let (e05, e95, gm) = (
            p.eb05.unwrap_or(lo),
            p.eb95.unwrap_or(hi).min(10f64.powf(l1)),
            p.ebgm.unwrap_or(1.0),
        );
        let colour = if e05 >= 2.0 { "#b00" } else { "#345" };
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\">{} · {} (N={})</text>",
            left - 8.0,
            y + 4.0,
            xml_escape(&clip(&p.product, 22)),
            xml_escape(&clip(&p.event, 30)),
            p.n
        ));
        s.push_str(&format!(
            "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{colour}\" stroke-width=\"2\"/><circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{colour}\"/>",
            x(e05),
            x(e95),
            x(gm)
        ));
    }
    let label = match lang {
        Lang::Zh => "EBGM 及 EB05–EB95（对数刻度）；虚线：EB05 = 2",
        Lang::En => "EBGM with EB05–EB95 (log scale); dashed line: EB05 = 2",
    };
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\">{label}</text></svg>",
        (left + width - right) / 2.0,
        axis_y + 32.0
    ));
    s
}
