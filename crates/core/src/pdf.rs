//! A small PDF writer for CellTrail's letters: A4 pages of text lines, in
//! Chinese and English, following ISO 32000-1 (PDF 1.7).
//!
//! Latin text is set in Helvetica (one of the 14 standard fonts, 9.6.2.2);
//! Chinese in STSong-Light with the predefined `UniGB-UCS2-H` CMap (9.7.5.2,
//! Adobe-GB1), one of the standard CJK fonts readers supply, so no font
//! file is embedded. Each line is split into runs of the two scripts.
//! Long lines wrap at the page width; pages break as needed.

use std::fmt::Write as _;

/// A4 in points (ISO 216: 210 × 297 mm).
const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 64.0;

/// One line of a document.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub text: String,
    /// Font size in points.
    pub size: f32,
    /// Extra space above the line, in points.
    pub space_before: f32,
}

impl Line {
    pub fn new(text: impl Into<String>, size: f32) -> Line {
        Line {
            text: text.into(),
            size,
            space_before: 0.0,
        }
    }
    pub fn after(mut self, space: f32) -> Line {
        self.space_before = space;
        self
    }
}

/// Whether a character is set in the Latin font (WinAnsi printable ASCII).
fn latin(c: char) -> bool {
    (' '..='~').contains(&c)
}

/// Approximate advance width in em: CJK full width, Latin about half.
fn width_em(c: char) -> f32 {
    if latin(c) {
        if c.is_ascii_uppercase() || c == 'm' || c == 'w' {
            0.66
        } else {
            0.5
        }
    } else {
        1.0
    }
}

/// Splits a line into pieces that fit the text width.
fn wrap(text: &str, size: f32) -> Vec<String> {
    let max = (PAGE_W - 2.0 * MARGIN) / size;
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut w = 0.0;
    let mut last_space: Option<usize> = None;
    for c in text.chars() {
        let cw = width_em(c);
        if w + cw > max && !cur.is_empty() {
            // Break at the last space in a Latin run, else at the character.
            match last_space.filter(|_| latin(c)) {
                Some(i) => {
                    let rest = cur.split_off(i);
                    out.push(cur.trim_end().to_string());
                    cur = rest.trim_start().to_string();
                }
                None => out.push(std::mem::take(&mut cur)),
            }
            w = cur.chars().map(width_em).sum();
            last_space = None;
        }
        if c == ' ' {
            last_space = Some(cur.len());
        }
        cur.push(c);
        w += cw;
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur);
    }
    out
}

/// Escapes a Latin run as a PDF literal string (7.3.4.2).
fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('(');
    for c in s.chars() {
        if matches!(c, '(' | ')' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push(')');
    out
}

/// A run in the CJK font as a hexadecimal string of UCS-2 big-endian codes;
/// characters outside the Basic Multilingual Plane become U+3013 (〓, the
/// geta mark used for a missing glyph).
fn ucs2_hex(s: &str) -> String {
    let mut out = String::from("<");
    for c in s.chars() {
        let u = u32::from(c);
        let u = if u > 0xFFFF { 0x3013 } else { u };
        let _ = write!(out, "{u:04X}");
    }
    out.push('>');
    out
}

/// The content stream of one page.
fn page_stream(lines: &[(f32, f32, String)]) -> String {
    let mut s = String::new();
    for (y, size, text) in lines {
        let _ = write!(s, "BT {MARGIN} {y:.1} Td ");
        let mut run = String::new();
        let mut run_latin = true;
        let flush = |s: &mut String, run: &mut String, is_latin: bool| {
            if run.is_empty() {
                return;
            }
            if is_latin {
                let _ = write!(s, "/F1 {size} Tf {} Tj ", literal(run));
            } else {
                let _ = write!(s, "/F2 {size} Tf {} Tj ", ucs2_hex(run));
            }
            run.clear();
        };
        for c in text.chars() {
            if latin(c) != run_latin {
                flush(&mut s, &mut run, run_latin);
                run_latin = latin(c);
            }
            run.push(c);
        }
        flush(&mut s, &mut run, run_latin);
        s.push_str("ET\n");
    }
    s
}

/// Metadata of a document (the Info dictionary, 14.3.3).
#[derive(Clone, Debug, Default)]
pub struct Meta {
    pub title: String,
    /// `D:YYYYMMDDHHmmSSZ`
    pub created: String,
    /// Sixteen bytes identifying the document (the trailer's ID, 14.4).
    pub id: [u8; 16],
}

/// Lays out the lines on as many A4 pages as they need and writes the PDF.
pub fn document(lines: &[Line], meta: &Meta) -> Vec<u8> {
    // Lay out: (y, size, text) per page.
    let mut pages: Vec<Vec<(f32, f32, String)>> = vec![Vec::new()];
    let mut y = PAGE_H - MARGIN;
    for l in lines {
        for (i, piece) in wrap(&l.text, l.size).into_iter().enumerate() {
            let lead = l.size * 1.5 + if i == 0 { l.space_before } else { 0.0 };
            if y - lead < MARGIN {
                pages.push(Vec::new());
                y = PAGE_H - MARGIN;
            }
            y -= lead;
            pages
                .last_mut()
                .expect("one page at least")
                .push((y, l.size, piece));
        }
    }
    let streams: Vec<String> = pages.iter().map(|p| page_stream(p)).collect();
    write_pdf(&streams, (PAGE_W, PAGE_H), meta)
}

/// Something drawn on a page: text at a point (its baseline's start), or a
/// filled black rectangle. Coordinates in points from the bottom left.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Text {
        x: f32,
        y: f32,
        size: f32,
        text: String,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
    },
}

/// One page of the given size (points) with the items drawn on it.
pub fn drawing(items: &[Item], size: (f32, f32), meta: &Meta) -> Vec<u8> {
    let mut s = String::new();
    let mut rects = String::new();
    for i in items {
        match i {
            Item::Rect { x, y, w, h } => {
                let _ = writeln!(rects, "{x:.2} {y:.2} {w:.2} {h:.2} re");
            }
            Item::Text { x, y, size, text } => {
                let mut line = page_stream(&[(*y, *size, text.clone())]);
                line = line.replacen(&format!("BT {MARGIN} "), &format!("BT {x:.2} "), 1);
                s.push_str(&line);
            }
        }
    }
    if !rects.is_empty() {
        s.push_str("0 g\n");
        s.push_str(&rects);
        s.push_str("f\n");
    }
    write_pdf(&[s], size, meta)
}

/// The filled rectangles a PDF written by [`drawing`] draws: (x, y, w, h).
/// Used by tests to read printed barcodes back.
pub fn extract_rects(pdf: &[u8]) -> Vec<(f32, f32, f32, f32)> {
    let text = String::from_utf8_lossy(pdf);
    text.lines()
        .filter_map(|l| {
            let l = l.strip_suffix(" re")?;
            let v: Vec<f32> = l
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            (v.len() == 4).then(|| (v[0], v[1], v[2], v[3]))
        })
        .collect()
}

/// Writes the document: catalog, pages, the two fonts, the info
/// dictionary, then each page and its content stream.
fn write_pdf(streams: &[String], (page_w, page_h): (f32, f32), meta: &Meta) -> Vec<u8> {
    let n = streams.len();
    // Objects: 1 catalog, 2 pages, 3 Helvetica, 4 STSong (Type0), 5 CIDFont,
    // 6 descriptor, 7 info, then per page: page, contents.
    let mut objects: Vec<String> = Vec::new();
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 8 + 2 * i)).collect();
    objects.push("<< /Type /Catalog /Pages 2 0 R >>".into());
    objects.push(format!(
        "<< /Type /Pages /Kids [{}] /Count {n} >>",
        kids.join(" ")
    ));
    objects.push(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into(),
    );
    objects.push("<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H /DescendantFonts [5 0 R] >>".into());
    objects.push("<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 4 >> /FontDescriptor 6 0 R /DW 1000 /W [1 95 500] >>".into());
    objects.push("<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 93 >>".into());
    objects.push(format!(
        "<< /Title {} /Producer (CellTrail) /CreationDate ({}) >>",
        ucs2_title(&meta.title),
        meta.created
    ));
    for (i, content) in streams.iter().enumerate() {
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {page_w} {page_h}] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
            9 + 2 * i
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ));
    }
    let mut out: Vec<u8> = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    let mut tail = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for off in offsets {
        let _ = writeln!(tail, "{off:010} 00000 n ");
    }
    let id: String = meta.id.iter().map(|b| format!("{b:02X}")).collect();
    let _ = write!(
        tail,
        "trailer\n<< /Size {} /Root 1 0 R /Info 7 0 R /ID [<{id}> <{id}>] >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.extend_from_slice(tail.as_bytes());
    out
}

/// A text string in UTF-16BE with its byte-order mark (7.9.2.2), as hex.
fn ucs2_title(s: &str) -> String {
    let mut out = String::from("<FEFF");
    for u in s.encode_utf16() {
        let _ = write!(out, "{u:04X}");
    }
    out.push('>');
    out
}

/// The text a PDF written by [`document`] shows, line by line: decodes the
/// literal and UCS-2 hexadecimal strings of its content streams. Used by
/// tests to read letters back; returns `None` for anything else.
pub fn extract_text(pdf: &[u8]) -> Option<Vec<String>> {
    let text = std::str::from_utf8(pdf.get(15..)?).ok()?;
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("stream\n") {
        let body = &rest[i + 7..];
        let end = body.find("endstream")?;
        for bt in body[..end].split("ET\n") {
            let mut line = String::new();
            let mut s = bt;
            while let Some(j) = s.find(['(', '<']) {
                let (open, after) = (s.as_bytes()[j], &s[j + 1..]);
                if open == b'(' {
                    let mut k = 0;
                    let b = after.as_bytes();
                    while k < b.len() && b[k] != b')' {
                        if b[k] == b'\\' {
                            k += 1;
                        }
                        if let Some(c) = b.get(k) {
                            line.push(*c as char);
                        }
                        k += 1;
                    }
                    s = after.get(k + 1..).unwrap_or("");
                } else {
                    let close = after.find('>')?;
                    let hex = &after[..close];
                    for chunk in hex.as_bytes().chunks(4) {
                        let code =
                            u32::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
                        line.push(char::from_u32(code)?);
                    }
                    s = &after[close + 1..];
                }
            }
            if !line.is_empty() {
                lines.push(line);
            }
        }
        rest = &body[end + 9..];
    }
    Some(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        document(
            &[
                Line::new("伦理审查批件 Ethics approval", 16.0),
                Line::new("项目：CD19 CAR-T (phase I) 研究", 11.0).after(6.0),
                Line::new("a (b) \\ c", 11.0),
            ],
            &Meta {
                title: "批件".into(),
                created: "D:20261123090000Z".into(),
                id: [7; 16],
            },
        )
    }

    /// ISO 32000-1 7.5.4: each cross-reference entry is 20 bytes and gives
    /// the byte offset of `n 0 obj`; `startxref` gives the offset of `xref`.
    #[test]
    fn cross_reference_offsets_point_at_their_objects() {
        let pdf = sample();
        assert!(pdf.starts_with(b"%PDF-1.7\n"));
        // After the 15-byte header (with its binary comment) all is ASCII.
        let text = format!(
            "{}{}",
            " ".repeat(15),
            std::str::from_utf8(&pdf[15..]).unwrap()
        );
        let start: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(&pdf[start..start + 4], b"xref");
        let table = &text[start..];
        let count: usize = table.lines().nth(1).unwrap()[2..].parse().unwrap();
        for (n, entry) in table.lines().skip(3).take(count - 1).enumerate() {
            assert_eq!(entry.len(), 19, "{entry:?}"); // plus the newline: 20
            let off: usize = entry[..10].parse().unwrap();
            let head = format!("{} 0 obj", n + 1);
            assert_eq!(&pdf[off..off + head.len()], head.as_bytes());
        }
        assert!(text.ends_with("%%EOF\n"));
    }

    #[test]
    fn stream_lengths_are_exact() {
        let pdf = sample();
        let text = std::str::from_utf8(&pdf[15..]).unwrap();
        for part in text.split("/Length ").skip(1) {
            let len: usize = part.split_whitespace().next().unwrap().parse().unwrap();
            let body = &part[part.find("stream\n").unwrap() + 7..];
            assert_eq!(&body[len..len + 9], "endstream");
        }
    }

    #[test]
    fn text_reads_back_in_both_scripts() {
        let lines = extract_text(&sample()).unwrap();
        assert_eq!(
            lines,
            vec![
                "伦理审查批件 Ethics approval",
                "项目：CD19 CAR-T (phase I) 研究",
                "a (b) \\ c"
            ]
        );
    }

    #[test]
    fn long_lines_wrap_and_pages_break() {
        let long = "这是一段很长的中文说明。".repeat(20);
        let words = "The committee approved the protocol version 2.0 ".repeat(12);
        let mut lines = vec![
            Line::new(long.clone(), 11.0),
            Line::new(words.clone(), 11.0),
        ];
        for i in 0..80 {
            lines.push(Line::new(format!("line {i}"), 11.0));
        }
        let pdf = document(&lines, &Meta::default());
        let text = std::str::from_utf8(&pdf[15..]).unwrap();
        // 82 lines and the wrapped pieces at 16.5 pt each: three A4 pages.
        assert!(text.contains("/Count 3"), "three pages");
        let back = extract_text(&pdf).unwrap();
        assert_eq!(
            back[..back.len() - 80].concat().replace(' ', ""),
            format!("{long}{words}").replace(' ', "")
        );
    }
}
