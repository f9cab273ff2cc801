//! Code 128 barcodes (ISO/IEC 15417), as ISBT 128 labels print them: the
//! symbol values with their modulo-103 check, the bars and spaces, an SVG
//! drawing, and a decoder that reads the bars back (what a scanner does).
//!
//! The encoder uses code set B for printable ASCII and switches to code set
//! C for runs of four or more digits (two digits per symbol), as label
//! printers do to keep ISBT 128 barcodes short.

use std::fmt::Write as _;

/// Bar and space widths (in modules) of symbol values 0–105; each symbol
/// starts with a bar and spans 11 modules.
const PATTERNS: [&str; 106] = [
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
    "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
    "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
    "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
    "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
    "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
    "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
    "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
    "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
    "113141", "114131", "311141", "411131", "211412", "211214", "211232",
];
/// The stop pattern: 13 modules, ending in the two-module termination bar.
const STOP: &str = "2331112";

pub const START_A: u8 = 103;
pub const START_B: u8 = 104;
pub const START_C: u8 = 105;
pub const CODE_C: u8 = 99;
pub const CODE_B: u8 = 100;
pub const STOP_VALUE: u8 = 106;

/// Why data cannot be encoded, or bars cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BarcodeError {
    #[error("character {0} cannot be encoded (printable ASCII only)")]
    Unencodable(usize),
    #[error("empty data")]
    Empty,
    #[error("the bars do not form Code 128 symbols")]
    Malformed,
    #[error("the check symbol does not match")]
    CheckMismatch,
}

/// Every code a Code 128 or Data Matrix error carries.
pub const ERROR_CODES: &[&str] = &[
    "barcode_unencodable",
    "barcode_empty",
    "barcode_malformed",
    "barcode_check_mismatch",
    "barcode_too_long",
];

impl BarcodeError {
    /// Stable code; the message is `error.<code>`.
    pub fn code(&self) -> &'static str {
        match self {
            BarcodeError::Unencodable(_) => "barcode_unencodable",
            BarcodeError::Empty => "barcode_empty",
            BarcodeError::Malformed => "barcode_malformed",
            BarcodeError::CheckMismatch => "barcode_check_mismatch",
        }
    }
}

/// The modulo-103 check of a symbol sequence that starts with its start
/// symbol: the start value plus each following value times its position.
pub fn checksum(values: &[u8]) -> u8 {
    let sum: u32 = values
        .iter()
        .enumerate()
        .map(|(i, v)| u32::from(*v) * (i.max(1) as u32))
        .sum();
    (sum % 103) as u8
}

fn digit_run(b: &[u8], from: usize) -> usize {
    b[from..].iter().take_while(|c| c.is_ascii_digit()).count()
}

/// The symbol values for `data`: start, data, check, stop.
pub fn encode(data: &str) -> Result<Vec<u8>, BarcodeError> {
    let b = data.as_bytes();
    if b.is_empty() {
        return Err(BarcodeError::Empty);
    }
    if let Some(i) = b.iter().position(|c| !(32..=126).contains(c)) {
        return Err(BarcodeError::Unencodable(i));
    }
    let mut out = Vec::with_capacity(b.len() + 4);
    let mut i = 0;
    // Start in set C when the data opens with an even run of 4+ digits.
    let lead = digit_run(b, 0);
    let mut in_c = lead >= 4 && lead.is_multiple_of(2);
    out.push(if in_c { START_C } else { START_B });
    while i < b.len() {
        let run = digit_run(b, i);
        if in_c {
            if run >= 2 {
                out.push((b[i] - b'0') * 10 + (b[i + 1] - b'0'));
                i += 2;
                continue;
            }
            out.push(CODE_B);
            in_c = false;
            continue;
        }
        // Switch to C for an even run of 4+ digits, or an odd run of 5+
        // after its first digit (the run then ends the data or a letter).
        if run >= 4 {
            if !run.is_multiple_of(2) {
                out.push(b[i] - 32);
                i += 1;
            }
            out.push(CODE_C);
            in_c = true;
            continue;
        }
        out.push(b[i] - 32);
        i += 1;
    }
    let check = checksum(&out);
    out.push(check);
    out.push(STOP_VALUE);
    Ok(out)
}

/// Bars (true) and spaces (false), one per module, without quiet zones.
pub fn modules(values: &[u8]) -> Vec<bool> {
    let mut out = Vec::with_capacity(values.len() * 11 + 2);
    for v in values {
        let pattern = if *v == STOP_VALUE {
            STOP
        } else {
            PATTERNS[*v as usize]
        };
        for (k, w) in pattern.bytes().enumerate() {
            let bar = k % 2 == 0;
            out.extend(std::iter::repeat_n(bar, usize::from(w - b'0')));
        }
    }
    out
}

/// Reads bars back into the data they encode, checking the check symbol.
pub fn decode(modules: &[bool]) -> Result<String, BarcodeError> {
    // Trim quiet zones.
    let start = modules
        .iter()
        .position(|m| *m)
        .ok_or(BarcodeError::Malformed)?;
    let end = modules
        .iter()
        .rposition(|m| *m)
        .ok_or(BarcodeError::Malformed)?
        + 1;
    let m = &modules[start..end];
    if m.len() < 11 * 3 + 13 || !(m.len() - 13).is_multiple_of(11) {
        return Err(BarcodeError::Malformed);
    }
    let widths = |chunk: &[bool]| -> String {
        let mut s = String::new();
        let mut run = 1;
        for w in chunk.windows(2) {
            if w[0] == w[1] {
                run += 1;
            } else {
                s.push(char::from(b'0' + run));
                run = 1;
            }
        }
        s.push(char::from(b'0' + run));
        s
    };
    if widths(&m[m.len() - 13..]) != STOP {
        return Err(BarcodeError::Malformed);
    }
    let mut values = Vec::new();
    for chunk in m[..m.len() - 13].chunks(11) {
        let w = widths(chunk);
        let v = PATTERNS
            .iter()
            .position(|p| *p == w)
            .ok_or(BarcodeError::Malformed)?;
        values.push(v as u8);
    }
    let (check, body) = values.split_last().ok_or(BarcodeError::Malformed)?;
    if checksum(body) != *check {
        return Err(BarcodeError::CheckMismatch);
    }
    let mut out = String::new();
    let mut set = match body.first() {
        Some(&START_B) => 'B',
        Some(&START_C) => 'C',
        Some(&START_A) => 'A',
        _ => return Err(BarcodeError::Malformed),
    };
    for v in &body[1..] {
        match (set, *v) {
            (_, CODE_C) if set != 'C' => set = 'C',
            ('C', CODE_B) => set = 'B',
            ('C', n) if n < 100 => {
                let _ = write!(out, "{n:02}");
            }
            ('B', n) if n < 95 => out.push(char::from(n + 32)),
            ('A', n) if n < 64 => out.push(char::from(n + 32)),
            _ => return Err(BarcodeError::Malformed),
        }
    }
    Ok(out)
}

/// The barcode as SVG: bars as rectangles of `module` px width and
/// `height` px, a quiet zone of ten modules each side, and the
/// human-readable text below.
pub fn svg(data: &str, module: u32, height: u32, text: &str) -> Result<String, BarcodeError> {
    let m = modules(&encode(data)?);
    let quiet = 10 * module;
    let width = quiet * 2 + m.len() as u32 * module;
    let text_h = if text.is_empty() { 0 } else { 14 };
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" viewBox=\"0 0 {width} {}\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>",
        height + text_h,
        height + text_h
    );
    let mut x = 0usize;
    while x < m.len() {
        if m[x] {
            let run = m[x..].iter().take_while(|b| **b).count();
            let _ = write!(
                s,
                "<rect x=\"{}\" y=\"0\" width=\"{}\" height=\"{height}\" fill=\"#000\"/>",
                quiet + x as u32 * module,
                run as u32 * module
            );
            x += run;
        } else {
            x += 1;
        }
    }
    if !text.is_empty() {
        let esc = xml_escape(text);
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-family=\"monospace\" font-size=\"12\" text-anchor=\"middle\">{esc}</text>",
            width / 2,
            height + 12
        );
    }
    s.push_str("</svg>");
    Ok(s)
}

/// The barcode as a portable bitmap (netpbm P1): `scale` pixels per
/// module, `height` pixels tall, ten modules of quiet zone each side.
pub fn pbm(data: &str, scale: usize, height: usize) -> Result<String, BarcodeError> {
    let m = modules(&encode(data)?);
    let width = (m.len() + 20) * scale;
    let row: Vec<&str> = (0..width)
        .map(|px| {
            let k = px / scale;
            if (10..10 + m.len()).contains(&k) && m[k - 10] {
                "1"
            } else {
                "0"
            }
        })
        .collect();
    let row = row.join(" ");
    let mut out = format!("P1\n{width} {height}\n");
    for _ in 0..height {
        out.push_str(&row);
        out.push('\n');
    }
    Ok(out)
}

/// Text for an SVG element: `&`, `<` and `>` escaped.
pub fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Reads the bars of an SVG written by [`svg`] back into modules (the
/// rectangles' x and width over the module size) and decodes them.
pub fn decode_svg(svg: &str, module: u32) -> Result<String, BarcodeError> {
    if module == 0 {
        return Err(BarcodeError::Malformed);
    }
    let mut bars: Vec<(u32, u32)> = Vec::new();
    for part in svg.split("<rect x=\"").skip(1) {
        let num = |key: &str| -> Option<u32> {
            let i = part.find(key)? + key.len();
            part[i..].split('"').next()?.parse().ok()
        };
        let x: u32 = part
            .split('"')
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or(BarcodeError::Malformed)?;
        let w = num("width=\"").ok_or(BarcodeError::Malformed)?;
        bars.push((x, w));
    }
    let end = bars
        .iter()
        .map(|(x, w)| x + w)
        .max()
        .ok_or(BarcodeError::Malformed)?;
    if end / module > 100_000 {
        return Err(BarcodeError::Malformed);
    }
    let mut m = vec![false; (end / module) as usize];
    for (x, w) in bars {
        for k in x / module..(x + w) / module {
            if let Some(slot) = m.get_mut(k as usize) {
                *slot = true;
            }
        }
    }
    decode(&m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn patterns_are_well_formed() {
        // ISO/IEC 15417: every symbol is 11 modules of 3 bars and 3
        // spaces, each 1–4 modules; the stop is 13; no two alike.
        for p in PATTERNS {
            assert_eq!(p.len(), 6);
            assert_eq!(
                p.bytes().map(|b| u32::from(b - b'0')).sum::<u32>(),
                11,
                "{p}"
            );
            // An even number of bar modules (the code's parity rule).
            let bars: u32 = p.bytes().step_by(2).map(|b| u32::from(b - b'0')).sum();
            assert_eq!(bars % 2, 0, "{p}");
        }
        assert_eq!(STOP.bytes().map(|b| u32::from(b - b'0')).sum::<u32>(), 13);
        let mut sorted = PATTERNS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 106);
    }

    /// Published check computations: "PJJ123C" in code set A gives 54
    /// (the Code 128 article's worked example); "HI345678" as Start A, H, I,
    /// Code C, 34, 56, 78 gives 67; "ABCDEF" in set A 42, "abcdef" in set B
    /// 97, "345678" in set C 73 (worked examples of barcode font vendors).
    #[test]
    fn published_check_symbols() {
        assert_eq!(checksum(&[103, 48, 42, 42, 17, 18, 19, 35]), 54);
        assert_eq!(checksum(&[103, 40, 41, 99, 34, 56, 78]), 67);
        assert_eq!(checksum(&[103, 33, 34, 35, 36, 37, 38]), 42);
        assert_eq!(checksum(&[104, 65, 66, 67, 68, 69, 70]), 97);
        assert_eq!(checksum(&[105, 34, 56, 78]), 73);
        // The encoder picks set C for an all-digit even run.
        assert_eq!(encode("345678").unwrap(), vec![105, 34, 56, 78, 73, 106]);
        assert_eq!(
            encode("abcdef").unwrap(),
            vec![104, 65, 66, 67, 68, 69, 70, 97, 106]
        );
    }

    #[test]
    fn isbt_din_barcode_reads_back() {
        // A DIN as its barcode carries it: "=", the 13 characters, the flags.
        let data = "=G12341765432170";
        let values = encode(data).unwrap();
        // "=G1234" in set B, then the digits in set C.
        assert_eq!(&values[..3], &[START_B, b'=' - 32, b'G' - 32]);
        assert!(values.contains(&CODE_C));
        assert_eq!(decode(&modules(&values)).unwrap(), data);
        let svg = svg(data, 2, 60, "G1234 17 654321").unwrap();
        assert_eq!(decode_svg(&svg, 2).unwrap(), data);
    }

    #[test]
    fn bad_bars_are_refused() {
        let mut m = modules(&encode("ABC123").unwrap());
        assert_eq!(decode(&m).unwrap(), "ABC123");
        // Flip one module inside the data: a wrong symbol or check.
        m[16] = !m[16];
        assert!(decode(&m).is_err());
        assert!(decode(&[]).is_err());
        assert_eq!(encode("").unwrap_err(), BarcodeError::Empty);
        assert_eq!(encode("中").unwrap_err().code(), "barcode_unencodable");
    }

    proptest! {
        #[test]
        fn round_trip(data in "[ -~]{1,40}") {
            let v = encode(&data).unwrap();
            prop_assert_eq!(decode(&modules(&v)).unwrap(), data.clone());
            let s = svg(&data, 1, 30, "").unwrap();
            prop_assert_eq!(decode_svg(&s, 1).unwrap(), data);
        }

        #[test]
        fn decoder_never_panics(m in proptest::collection::vec(proptest::bool::ANY, 0..400)) {
            let _ = decode(&m);
        }

        #[test]
        fn svg_reader_never_panics(s in "\\PC{0,200}", x in 0u32..5000, w in 0u32..5000) {
            let _ = decode_svg(&s, 1);
            let _ = decode_svg(&s, 0);
            let rect = format!("<svg><rect x=\"{x}\" y=\"0\" width=\"{w}\"/>{s}</svg>");
            let _ = decode_svg(&rect, 0);
            let _ = decode_svg(&rect, 3);
        }
    }
}
