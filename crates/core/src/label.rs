//! Product labels in Chinese and English: the DIN as a Code 128 barcode
//! with its eye-readable form and boxed check character, the product code
//! as a second Code 128 barcode, and a Data Matrix symbol carrying both;
//! drawn as PDF (ISO 32000-1) and as SVG from one layout.

use std::fmt::Write as _;

use crate::code128;
use crate::datamatrix;
use crate::isbt::Din;
use crate::pdf::{self, Item};

/// What a label shows.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelInput {
    pub din: Din,
    /// ISBT 128 product code (data structure 003 content, e.g. `S1295A00`).
    pub product_code: Option<String>,
    pub product_zh: String,
    pub product_en: String,
    /// Lines printed under the product (expiry, storage, patient check…).
    pub notes: Vec<String>,
}

/// Label size in points: 100 × 70 mm.
pub const SIZE: (f32, f32) = (283.5, 198.4);
/// Bar width of the Code 128 barcodes and module size of the Data Matrix.
pub const BAR: f32 = 0.75;
pub const DM_MODULE: f32 = 2.0;
const BAR_HEIGHT: f32 = 34.0;

/// The barcode data the label carries: the DIN's (`=`, DIN, check flags)
/// and the product code's (`=<`, code).
pub fn barcode_data(input: &LabelInput) -> (String, Option<String>) {
    (
        format!("={}{}", input.din.as_string(), input.din.check_flags()),
        input.product_code.as_ref().map(|p| format!("=<{p}")),
    )
}

fn bars(data: &str, x0: f32, y: f32, items: &mut Vec<Item>) -> Result<(), code128::BarcodeError> {
    let m = code128::modules(&code128::encode(data)?);
    let mut i = 0;
    while i < m.len() {
        if m[i] {
            let run = m[i..].iter().take_while(|b| **b).count();
            items.push(Item::Rect {
                x: x0 + i as f32 * BAR,
                y,
                w: run as f32 * BAR,
                h: BAR_HEIGHT,
            });
            i += run;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// The label as drawing items (points, origin bottom left).
pub fn layout(input: &LabelInput) -> Result<Vec<Item>, code128::BarcodeError> {
    let (din_data, product_data) = barcode_data(input);
    let mut items = Vec::new();
    let (_, h) = SIZE;
    let left = 12.0;
    // The DIN barcode, its eye-readable text and the boxed check character.
    bars(&din_data, left, h - 12.0 - BAR_HEIGHT, &mut items)?;
    let d = &input.din;
    let eye = format!("{} {} {}", d.fin, d.year, d.sequence);
    let text_y = h - 12.0 - BAR_HEIGHT - 14.0;
    items.push(Item::Text {
        x: left,
        y: text_y,
        size: 11.0,
        text: eye.clone(),
    });
    let box_x = left + eye.len() as f32 * 6.4 + 6.0;
    for (x, y, w, hh) in [
        (box_x, text_y - 3.0, 12.0, 0.8),
        (box_x, text_y + 11.0, 12.0, 0.8),
        (box_x, text_y - 3.0, 0.8, 14.8),
        (box_x + 11.2, text_y - 3.0, 0.8, 14.8),
    ] {
        items.push(Item::Rect { x, y, w, h: hh });
    }
    items.push(Item::Text {
        x: box_x + 3.0,
        y: text_y,
        size: 11.0,
        text: d.check_char().to_string(),
    });
    // The product: both languages, its code and barcode.
    let mut y = text_y - 22.0;
    for (text, size) in [(&input.product_zh, 12.0), (&input.product_en, 9.0)] {
        items.push(Item::Text {
            x: left,
            y,
            size,
            text: text.clone(),
        });
        y -= size + 5.0;
    }
    if let (Some(code), Some(data)) = (&input.product_code, &product_data) {
        bars(data, left, y - BAR_HEIGHT + 4.0, &mut items)?;
        y -= BAR_HEIGHT + 8.0;
        items.push(Item::Text {
            x: left,
            y,
            size: 9.0,
            text: code.clone(),
        });
        y -= 13.0;
    }
    for n in &input.notes {
        items.push(Item::Text {
            x: left,
            y,
            size: 8.0,
            text: n.clone(),
        });
        y -= 11.0;
    }
    // The Data Matrix symbol, top right: both data structures.
    let all = format!("{din_data}{}", product_data.unwrap_or_default());
    if let Ok(sym) = datamatrix::encode(&all) {
        let side = sym.size as f32 * DM_MODULE;
        let (x0, y0) = (SIZE.0 - 12.0 - side, h - 12.0 - side);
        for r in 0..sym.size {
            for c in 0..sym.size {
                if sym.dark(r, c) {
                    items.push(Item::Rect {
                        x: x0 + c as f32 * DM_MODULE,
                        y: y0 + (sym.size - 1 - r) as f32 * DM_MODULE,
                        w: DM_MODULE,
                        h: DM_MODULE,
                    });
                }
            }
        }
    }
    Ok(items)
}

/// The label as a one-page PDF.
pub fn pdf(input: &LabelInput) -> Result<Vec<u8>, code128::BarcodeError> {
    let items = layout(input)?;
    Ok(pdf::drawing(
        &items,
        SIZE,
        &pdf::Meta {
            title: format!("{} {}", input.din.eye_readable(), input.product_en),
            created: String::new(),
            id: [0; 16],
        },
    ))
}

/// The label as SVG (1 unit = 1 point, y downwards).
pub fn svg(input: &LabelInput) -> Result<String, code128::BarcodeError> {
    let items = layout(input)?;
    let (w, h) = SIZE;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}pt\" height=\"{h}pt\" viewBox=\"0 0 {w} {h}\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
    );
    for i in &items {
        match i {
            Item::Rect { x, y, w, h: rh } => {
                let _ = write!(
                    s,
                    "<rect x=\"{x:.2}\" y=\"{:.2}\" width=\"{w:.2}\" height=\"{rh:.2}\" fill=\"#000\"/>",
                    h - y - rh
                );
            }
            Item::Text { x, y, size, text } => {
                let esc = code128::xml_escape(text);
                let _ = write!(
                    s,
                    "<text x=\"{x:.2}\" y=\"{:.2}\" font-size=\"{size}\" font-family=\"sans-serif\">{esc}</text>",
                    h - y
                );
            }
        }
    }
    s.push_str("</svg>");
    Ok(s)
}

/// Reads the barcodes printed on a label back from its rectangles: the
/// Code 128 rows (bars of the barcode height), top to bottom, and the Data
/// Matrix symbol (square modules). What a scanner at the bedside does.
pub fn read_back(rects: &[(f32, f32, f32, f32)]) -> (Vec<String>, Option<String>) {
    let mut rows: Vec<(f32, Vec<(f32, f32)>)> = Vec::new();
    let mut dm: Vec<(f32, f32)> = Vec::new();
    for &(x, y, w, h) in rects {
        if (h - BAR_HEIGHT).abs() < 0.01 {
            match rows.iter_mut().find(|(ry, _)| (*ry - y).abs() < 0.01) {
                Some((_, bars)) => bars.push((x, w)),
                None => rows.push((y, vec![(x, w)])),
            }
        } else if (w - DM_MODULE).abs() < 0.01 && (h - DM_MODULE).abs() < 0.01 {
            dm.push((x, y));
        }
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let linear = rows
        .into_iter()
        .filter_map(|(_, mut bars)| {
            bars.sort_by(|a, b| a.0.total_cmp(&b.0));
            let x0 = bars.first()?.0;
            let end = bars.iter().map(|(x, w)| x + w).fold(0.0, f32::max);
            let n = ((end - x0) / BAR).round() as usize;
            let mut m = vec![false; n];
            for (x, w) in bars {
                let (a, k) = (
                    ((x - x0) / BAR).round() as usize,
                    (w / BAR).round() as usize,
                );
                for slot in m.iter_mut().skip(a).take(k) {
                    *slot = true;
                }
            }
            code128::decode(&m).ok()
        })
        .collect();
    let matrix = (|| {
        let x0 = dm.iter().map(|p| p.0).fold(f32::INFINITY, f32::min);
        let y0 = dm.iter().map(|p| p.1).fold(f32::INFINITY, f32::min);
        let x1 = dm.iter().map(|p| p.0).fold(f32::NEG_INFINITY, f32::max);
        let size = ((x1 - x0) / DM_MODULE).round() as usize + 1;
        if dm.is_empty() || size > 144 {
            return None;
        }
        let mut modules = vec![false; size * size];
        for (x, y) in &dm {
            let c = ((x - x0) / DM_MODULE).round() as usize;
            let from_bottom = ((y - y0) / DM_MODULE).round() as usize;
            let r = size.checked_sub(1 + from_bottom)?;
            *modules.get_mut(r * size + c)? = true;
        }
        datamatrix::decode(&datamatrix::Symbol { size, modules }).ok()
    })();
    (linear, matrix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> LabelInput {
        LabelInput {
            din: Din::parse("G123417654321").unwrap(),
            product_code: Some("S1295A00".into()),
            product_zh: "CD19 CAR-T 细胞注射液（自体）".into(),
            product_en: "CD19 CAR-T cells for infusion (autologous)".into(),
            notes: vec!["≤ −150 °C · 有效期 Expires 2027-01-31".into()],
        }
    }

    /// The printed barcodes read back: the DIN with the check flags of
    /// ST-001 Appendix A (G123417654321 → 70), the product code, and the
    /// Data Matrix carrying both.
    #[test]
    fn printed_barcodes_read_back_from_the_pdf() {
        let pdf = pdf(&input()).unwrap();
        let (linear, matrix) = read_back(&pdf::extract_rects(&pdf));
        assert_eq!(
            linear,
            vec!["=G12341765432170".to_string(), "=<S1295A00".to_string()]
        );
        assert_eq!(matrix.as_deref(), Some("=G12341765432170=<S1295A00"));
        let text = pdf::extract_text(&pdf).unwrap().join("\n");
        assert!(
            text.contains("G1234 17 654321")
                && text.contains("CD19 CAR-T 细胞注射液（自体）")
                && text.contains("for infusion"),
            "{text}"
        );
    }

    #[test]
    fn svg_has_the_same_content() {
        let svg = svg(&input()).unwrap();
        assert!(svg.contains("CD19 CAR-T 细胞注射液（自体）") && svg.contains(">A</text>"));
        // The SVG's rectangles, turned back to PDF coordinates, read the same.
        let (_, h) = SIZE;
        let rects: Vec<(f32, f32, f32, f32)> = svg
            .split("<rect x=\"")
            .skip(1)
            .filter_map(|p| {
                let v: Vec<f32> = p
                    .split('"')
                    .step_by(2)
                    .take(4)
                    .filter_map(|n| n.parse().ok())
                    .collect();
                (v.len() == 4).then(|| (v[0], h - v[1] - v[3], v[2], v[3]))
            })
            .collect();
        let (linear, matrix) = read_back(&rects);
        assert_eq!(linear.len(), 2);
        assert_eq!(matrix.as_deref(), Some("=G12341765432170=<S1295A00"));
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            /// The readers of a printed label never panic on any bytes,
            /// rectangles or SVG text.
            #[test]
            fn label_readers_never_panic(
                bytes in proptest::collection::vec(any::<u8>(), 0..600),
                rects in proptest::collection::vec((-50f32..400.0, -50f32..300.0, 0f32..40.0, 0f32..60.0), 0..200),
                svg_text in "\\PC{0,400}",
            ) {
                let _ = pdf::extract_rects(&bytes);
                let _ = pdf::extract_text(&bytes);
                let _ = read_back(&rects);
                let _ = crate::code128::decode_svg(&svg_text, 1);
                let _ = crate::datamatrix::read_svg(&svg_text, 2, 16);
            }

            /// Whatever a label says in words, its barcodes read back as
            /// the DIN with its check flags and the product code.
            #[test]
            fn any_words_keep_the_barcodes(
                seq in 0u32..999_999,
                zh in "\\PC{0,30}",
                en in "[ -~]{0,40}",
                note in "\\PC{0,40}",
            ) {
                let din = Din::parse(&format!("G123426{seq:06}")).unwrap();
                let flags = din.check_flags();
                let input = LabelInput {
                    din: din.clone(),
                    product_code: Some("S1295A00".into()),
                    product_zh: zh,
                    product_en: en,
                    notes: vec![note],
                };
                let bytes = pdf(&input).unwrap();
                let (linear, matrix) = read_back(&pdf::extract_rects(&bytes));
                let want = format!("={}{flags}", din.as_string());
                prop_assert_eq!(linear.first().cloned(), Some(want.clone()));
                prop_assert_eq!(matrix, Some(format!("{want}=<S1295A00")));
            }
        }
    }
}
