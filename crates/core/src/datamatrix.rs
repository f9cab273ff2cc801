//! Data Matrix ECC 200 symbols (ISO/IEC 16022), the two-dimensional code
//! ISBT 128 labels carry: ASCII encodation (digit pairs in one codeword),
//! Reed-Solomon error correction over GF(256), the standard module
//! placement, the finder pattern, SVG, and a reader that takes a symbol's
//! modules back to its data (checking the error-correction codewords).
//!
//! Square single-region symbols from 10×10 to 26×26 are made (up to 44
//! data codewords: about 80 digits), enough for a DIN with its product and
//! chain-of-identity codes.

use std::fmt::Write as _;

/// (symbol size, data codewords, error-correction codewords).
const SIZES: &[(usize, usize, usize)] = &[
    (10, 3, 5),
    (12, 5, 7),
    (14, 8, 10),
    (16, 12, 12),
    (18, 18, 14),
    (20, 22, 18),
    (22, 30, 20),
    (24, 36, 24),
    (26, 44, 28),
];

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatrixError {
    #[error("character {0} is not ASCII")]
    NotAscii(usize),
    #[error("the data needs more than 44 codewords")]
    TooLong,
    #[error("the modules do not form a Data Matrix symbol")]
    Malformed,
    #[error("the error-correction codewords do not match")]
    Damaged,
}

impl MatrixError {
    /// Stable code; the message is `error.<code>`.
    pub fn code(&self) -> &'static str {
        match self {
            MatrixError::NotAscii(_) => "barcode_unencodable",
            MatrixError::TooLong => "barcode_too_long",
            MatrixError::Malformed => "barcode_malformed",
            MatrixError::Damaged => "barcode_check_mismatch",
        }
    }
}

/// ASCII encodation: a pair of digits is one codeword (130 + value), any
/// other ASCII character its code + 1.
pub fn encode_ascii(data: &str) -> Result<Vec<u8>, MatrixError> {
    let b = data.as_bytes();
    if let Some(i) = b.iter().position(|c| !c.is_ascii()) {
        return Err(MatrixError::NotAscii(i));
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if i + 1 < b.len() && b[i].is_ascii_digit() && b[i + 1].is_ascii_digit() {
            out.push(130 + (b[i] - b'0') * 10 + (b[i + 1] - b'0'));
            i += 2;
        } else {
            out.push(b[i] + 1);
            i += 1;
        }
    }
    Ok(out)
}

/// Pads data codewords to the symbol's capacity: 129 first, then the
/// 253-state randomised pad (ISO/IEC 16022, 5.2.3).
fn pad(mut cw: Vec<u8>, capacity: usize) -> Vec<u8> {
    if cw.len() < capacity {
        cw.push(129);
    }
    while cw.len() < capacity {
        let pos = cw.len() + 1;
        let r = ((149 * pos) % 253) + 1;
        let v = 129 + r;
        cw.push(if v <= 254 { v as u8 } else { (v - 254) as u8 });
    }
    cw
}

// GF(256) with the Data Matrix polynomial x^8 + x^5 + x^3 + x^2 + 1.
fn gf_tables() -> ([u8; 256], [u8; 255]) {
    let mut log = [0u8; 256];
    let mut exp = [0u8; 255];
    let mut x: u16 = 1;
    for (i, e) in exp.iter_mut().enumerate() {
        *e = x as u8;
        log[x as usize] = i as u8;
        x <<= 1;
        if x & 0x100 != 0 {
            x ^= 0x12D;
        }
    }
    (log, exp)
}

fn gf_mul(a: u8, b: u8, log: &[u8; 256], exp: &[u8; 255]) -> u8 {
    if a == 0 || b == 0 {
        0
    } else {
        exp[(usize::from(log[a as usize]) + usize::from(log[b as usize])) % 255]
    }
}

/// The Reed-Solomon error-correction codewords of `data`: the remainder of
/// data · x^n divided by the generator ∏ (x − α^i), i = 1..n.
pub fn rs_ecc(data: &[u8], n: usize) -> Vec<u8> {
    let (log, exp) = gf_tables();
    // Generator coefficients, highest degree first (monic).
    let mut g = vec![1u8];
    for i in 1..=n {
        let a = exp[i % 255];
        let mut next = vec![0u8; g.len() + 1];
        for (j, c) in g.iter().enumerate() {
            next[j] ^= *c;
            next[j + 1] ^= gf_mul(*c, a, &log, &exp);
        }
        g = next;
    }
    let mut rem = vec![0u8; n];
    for d in data {
        let f = d ^ rem[0];
        rem.remove(0);
        rem.push(0);
        for (j, r) in rem.iter_mut().enumerate() {
            *r ^= gf_mul(g[j + 1], f, &log, &exp);
        }
    }
    rem
}

/// A module of the data region: not yet placed, placed (codeword index and
/// bit 1–8, 1 the most significant), or left for the fixed corner pattern.
type Cell = Option<Option<(usize, u8)>>;

/// The data region while codewords are placed (ISO/IEC 16022 Annex F).
struct Grid {
    nr: isize,
    nc: isize,
    cells: Vec<Cell>,
}

impl Grid {
    fn put(&mut self, mut r: isize, mut c: isize, chr: usize, bit: u8) {
        if r < 0 {
            r += self.nr;
            c += 4 - ((self.nr + 4) % 8);
        }
        if c < 0 {
            c += self.nc;
            r += 4 - ((self.nc + 4) % 8);
        }
        if (0..self.nr).contains(&r) && (0..self.nc).contains(&c) {
            self.cells[(r * self.nc + c) as usize] = Some(Some((chr, bit)));
        }
    }

    fn unset(&self, r: isize, c: isize) -> bool {
        self.cells[(r * self.nc + c) as usize].is_none()
    }

    /// The usual L-shaped placement of one codeword around (r, c).
    fn utah(&mut self, r: isize, c: isize, chr: usize) {
        let cells = [
            (r - 2, c - 2),
            (r - 2, c - 1),
            (r - 1, c - 2),
            (r - 1, c - 1),
            (r - 1, c),
            (r, c - 2),
            (r, c - 1),
            (r, c),
        ];
        self.corner(cells, chr);
    }

    fn corner(&mut self, cells: [(isize, isize); 8], chr: usize) {
        for (k, (r, c)) in cells.iter().enumerate() {
            self.put(*r, *c, chr, k as u8 + 1);
        }
    }
}

/// For each data-region module, (codeword index, bit 1–8 with 1 the most
/// significant), or None for the fixed corner pattern; ISO/IEC 16022 Annex F.
fn placement(nrow: usize, ncol: usize) -> Vec<Option<(usize, u8)>> {
    let (nr, nc) = (nrow as isize, ncol as isize);
    let mut g = Grid {
        nr,
        nc,
        cells: vec![None; nrow * ncol],
    };
    let (mut chr, mut row, mut col) = (0usize, 4isize, 0isize);
    loop {
        if row == nr && col == 0 {
            g.corner(
                [
                    (nr - 1, 0),
                    (nr - 1, 1),
                    (nr - 1, 2),
                    (0, nc - 2),
                    (0, nc - 1),
                    (1, nc - 1),
                    (2, nc - 1),
                    (3, nc - 1),
                ],
                chr,
            );
            chr += 1;
        }
        if row == nr - 2 && col == 0 && nc % 4 != 0 {
            g.corner(
                [
                    (nr - 3, 0),
                    (nr - 2, 0),
                    (nr - 1, 0),
                    (0, nc - 4),
                    (0, nc - 3),
                    (0, nc - 2),
                    (0, nc - 1),
                    (1, nc - 1),
                ],
                chr,
            );
            chr += 1;
        }
        if row == nr - 2 && col == 0 && nc % 8 == 4 {
            g.corner(
                [
                    (nr - 3, 0),
                    (nr - 2, 0),
                    (nr - 1, 0),
                    (0, nc - 2),
                    (0, nc - 1),
                    (1, nc - 1),
                    (2, nc - 1),
                    (3, nc - 1),
                ],
                chr,
            );
            chr += 1;
        }
        if row == nr + 4 && col == 2 && nc % 8 == 0 {
            g.corner(
                [
                    (nr - 1, 0),
                    (nr - 1, nc - 1),
                    (0, nc - 3),
                    (0, nc - 2),
                    (0, nc - 1),
                    (1, nc - 3),
                    (1, nc - 2),
                    (1, nc - 1),
                ],
                chr,
            );
            chr += 1;
        }
        // Up and to the right, then down and to the left.
        loop {
            if row < nr && col >= 0 && g.unset(row, col) {
                g.utah(row, col, chr);
                chr += 1;
            }
            row -= 2;
            col += 2;
            if !(row >= 0 && col < nc) {
                break;
            }
        }
        row += 1;
        col += 3;
        loop {
            if row >= 0 && col < nc && g.unset(row, col) {
                g.utah(row, col, chr);
                chr += 1;
            }
            row += 2;
            col -= 2;
            if !(row < nr && col >= 0) {
                break;
            }
        }
        row += 3;
        col += 1;
        if !(row < nr || col < nc) {
            break;
        }
    }
    g.cells.into_iter().map(|m| m.unwrap_or(None)).collect()
}

/// A symbol: `size` × `size` modules, dark = true, row by row from the top.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub size: usize,
    pub modules: Vec<bool>,
}

impl Symbol {
    pub fn dark(&self, row: usize, col: usize) -> bool {
        self.modules[row * self.size + col]
    }
}

/// The symbol for `data`: the smallest square size that holds it.
pub fn encode(data: &str) -> Result<Symbol, MatrixError> {
    let cw = encode_ascii(data)?;
    let &(size, capacity, ecc) = SIZES
        .iter()
        .find(|(_, cap, _)| *cap >= cw.len())
        .ok_or(MatrixError::TooLong)?;
    let mut all = pad(cw, capacity);
    all.extend(rs_ecc(&all, ecc));
    let n = size - 2;
    let place = placement(n, n);
    let mut modules = vec![false; size * size];
    for r in 0..size {
        for c in 0..size {
            let finder = if c == 0 || r == size - 1 {
                Some(true)
            } else if r == 0 {
                Some(c % 2 == 0)
            } else if c == size - 1 {
                Some(r % 2 == 1)
            } else {
                None
            };
            modules[r * size + c] = match finder {
                Some(d) => d,
                None => match place[(r - 1) * n + (c - 1)] {
                    Some((chr, bit)) => (all[chr] >> (8 - bit)) & 1 == 1,
                    // The fixed corner pattern: dark on the diagonal.
                    None => (r - 1 + c - 1) % 2 == 0 && (r - 1) >= n - 2,
                },
            };
        }
    }
    Ok(Symbol { size, modules })
}

/// Reads a symbol back to its data, checking the finder pattern and the
/// error-correction codewords.
pub fn decode(s: &Symbol) -> Result<String, MatrixError> {
    let &(size, capacity, ecc) = SIZES
        .iter()
        .find(|(sz, _, _)| *sz == s.size)
        .ok_or(MatrixError::Malformed)?;
    if s.modules.len() != size * size {
        return Err(MatrixError::Malformed);
    }
    for i in 0..size {
        let ok = s.dark(i, 0)
            && s.dark(size - 1, i)
            && s.dark(0, i) == (i % 2 == 0)
            && s.dark(i, size - 1) == (i % 2 == 1);
        if !ok {
            return Err(MatrixError::Malformed);
        }
    }
    let n = size - 2;
    let place = placement(n, n);
    let mut cw = vec![0u8; capacity + ecc];
    for r in 0..n {
        for c in 0..n {
            if let Some((chr, bit)) = place[r * n + c] {
                if s.dark(r + 1, c + 1) {
                    if let Some(v) = cw.get_mut(chr) {
                        *v |= 1 << (8 - bit);
                    }
                }
            }
        }
    }
    let (data, check) = cw.split_at(capacity);
    if rs_ecc(data, ecc) != check {
        return Err(MatrixError::Damaged);
    }
    let mut out = String::new();
    for &c in data {
        match c {
            129 => break,
            1..=128 => out.push(char::from(c - 1)),
            130..=229 => {
                let _ = write!(out, "{:02}", c - 130);
            }
            _ => return Err(MatrixError::Malformed),
        }
    }
    Ok(out)
}

/// The symbol as SVG, `module` px per module, with a quiet zone of one
/// module (ISO/IEC 16022 asks for at least one).
pub fn svg(s: &Symbol, module: u32) -> String {
    let side = (s.size as u32 + 2) * module;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{side}\" height=\"{side}\" viewBox=\"0 0 {side} {side}\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>"
    );
    for r in 0..s.size {
        for c in 0..s.size {
            if s.dark(r, c) {
                let _ = write!(
                    out,
                    "<rect x=\"{}\" y=\"{}\" width=\"{module}\" height=\"{module}\" fill=\"#000\"/>",
                    (c as u32 + 1) * module,
                    (r as u32 + 1) * module
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

/// Reads an SVG written by [`svg`] back into a symbol of the given size.
pub fn read_svg(svg: &str, module: u32, size: usize) -> Result<Symbol, MatrixError> {
    if module == 0 || size > 144 {
        return Err(MatrixError::Malformed);
    }
    let mut modules = vec![false; size * size];
    for part in svg.split("<rect x=\"").skip(1) {
        let mut it = part.split('"');
        let x: u32 = it
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or(MatrixError::Malformed)?;
        let y: u32 = it
            .nth(1)
            .and_then(|v| v.parse().ok())
            .ok_or(MatrixError::Malformed)?;
        let (c, r) = ((x / module) as usize, (y / module) as usize);
        if c == 0 || r == 0 || c > size || r > size {
            return Err(MatrixError::Malformed);
        }
        modules[(r - 1) * size + (c - 1)] = true;
    }
    Ok(Symbol { size, modules })
}

/// The symbol as a portable bitmap (netpbm P1): `scale` pixels per module
/// and a quiet zone of `quiet` modules, for printers and image tools.
pub fn pbm(s: &Symbol, scale: usize, quiet: usize) -> String {
    let side = (s.size + 2 * quiet) * scale;
    let mut out = format!("P1\n{side} {side}\n");
    for py in 0..side {
        let row: Vec<&str> = (0..side)
            .map(|px| {
                let (r, c) = (py / scale, px / scale);
                let dark = r >= quiet
                    && c >= quiet
                    && r - quiet < s.size
                    && c - quiet < s.size
                    && s.dark(r - quiet, c - quiet);
                if dark {
                    "1"
                } else {
                    "0"
                }
            })
            .collect();
        out.push_str(&row.join(" "));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// ISO/IEC 16022's encodation example: "123456" in a 10×10 symbol is
    /// the data codewords 142 164 186 and the error-correction codewords
    /// 114 25 5 88 102.
    #[test]
    fn standard_example_123456() {
        let cw = encode_ascii("123456").unwrap();
        assert_eq!(cw, vec![142, 164, 186]);
        assert_eq!(rs_ecc(&cw, 5), vec![114, 25, 5, 88, 102]);
        let s = encode("123456").unwrap();
        assert_eq!(s.size, 10);
        assert_eq!(decode(&s).unwrap(), "123456");
    }

    #[test]
    fn every_codeword_bit_has_one_place() {
        for &(size, cap, ecc) in SIZES {
            let n = size - 2;
            let place = placement(n, n);
            let mut seen = vec![[false; 8]; cap + ecc];
            for (chr, bit) in place.iter().flatten() {
                assert!(
                    !seen[*chr][usize::from(*bit - 1)],
                    "{size}: {chr}.{bit} twice"
                );
                seen[*chr][usize::from(*bit - 1)] = true;
            }
            assert!(
                seen.iter().all(|b| b.iter().all(|x| *x)),
                "{size}: a bit has no place"
            );
        }
    }

    #[test]
    fn isbt_din_symbol_reads_back() {
        let data = "=G12341765432170";
        let s = encode(data).unwrap();
        assert_eq!(s.size, 16);
        assert_eq!(decode(&s).unwrap(), data);
        let drawn = svg(&s, 3);
        assert_eq!(decode(&read_svg(&drawn, 3, s.size).unwrap()).unwrap(), data);
        // A damaged module is noticed.
        let mut bad = s.clone();
        let i = 5 * bad.size + 5;
        bad.modules[i] = !bad.modules[i];
        assert!(decode(&bad).is_err());
        assert_eq!(encode(&"9".repeat(200)).unwrap_err(), MatrixError::TooLong);
        assert_eq!(encode("中").unwrap_err(), MatrixError::NotAscii(0));
    }

    proptest! {
        #[test]
        fn round_trip(data in "[ -~]{0,40}") {
            let s = encode(&data).unwrap();
            prop_assert_eq!(decode(&s).unwrap(), data);
        }

        #[test]
        fn reader_never_panics(bits in proptest::collection::vec(proptest::bool::ANY, 0..700), size in 0usize..30) {
            let _ = decode(&Symbol { size, modules: bits });
        }

        #[test]
        fn svg_reader_never_panics(s in "\\PC{0,200}", x in 0u32..500, y in 0u32..500, size in 0usize..200) {
            let svg = format!("<rect x=\"{x}\" y=\"{y}\" width=\"1\"/>{s}");
            let _ = read_svg(&svg, 3, size);
            let _ = read_svg(&s, 0, size);
        }
    }
}
