//! ISBT 128 Donation Identification Numbers (DIN, data structure 001) and
//! their ISO 7064 Mod 37-2 check character.
//!
//! A DIN is 13 characters: the Facility Identification Number (5), the
//! year (2 digits) and a sequence number (6 digits). Encoded in a barcode it
//! is `=` + DIN + two flag characters; printed for people it is followed by
//! the check character in a box. The check character is the ISO 7064
//! Mod 37-2 checksum of the 13 characters, written with the alphabet
//! `0–9 A–Z *`; flag values 60–96 carry the same checksum plus 60.
//!
//! Nothing here panics on any input: every parser returns a [`DinError`]
//! with a stable code and the position at fault.

use serde::Serialize;

/// The ISO 7064 Mod 37-2 alphabet: value = index.
const ALPHABET: &[u8; 37] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*";

/// The value of a character in the Mod 37-2 alphabet.
fn value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        b'*' => Some(36),
        _ => None,
    }
}

/// The ISO 7064 Mod 37-2 checksum (0–36) of a string over `0–9 A–Z *`:
/// each character's value weighted by 2 to the power of its position from
/// the right (the rightmost has power 1), summed, then (38 − sum mod 37)
/// mod 37. Computed by Horner's rule, so no power overflows.
pub fn mod37_2(s: &str) -> Result<u32, DinError> {
    let mut acc = 0u32;
    for (i, c) in s.bytes().enumerate() {
        let v = value(c).ok_or(DinError::new("din_char_invalid", i))?;
        acc = ((acc + v) * 2) % 37;
    }
    Ok((38 - acc) % 37)
}

/// Why a DIN, its flags or its check character is not right.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code} at position {position}")]
pub struct DinError {
    /// Stable code; the message is `error.<code>`.
    pub code: &'static str,
    /// The 0-based character position at fault (of the input as given,
    /// after spaces are removed).
    pub position: usize,
    /// For a wrong check character: the right one.
    pub expected: Option<char>,
}

impl DinError {
    fn new(code: &'static str, position: usize) -> DinError {
        DinError {
            code,
            position,
            expected: None,
        }
    }

    /// Named arguments for the catalogue message.
    pub fn args(&self) -> Vec<(&'static str, String)> {
        let mut a = vec![("position", (self.position + 1).to_string())];
        if let Some(e) = self.expected {
            a.push(("expected", e.to_string()));
        }
        a
    }
}

/// Every code a [`DinError`] can carry.
pub const ERROR_CODES: &[&str] = &[
    "din_length",
    "din_char_invalid",
    "din_fin_invalid",
    "din_year_invalid",
    "din_sequence_invalid",
    "din_flags_invalid",
    "din_flag_check_mismatch",
    "din_check_char_mismatch",
    "product_code_invalid",
];

/// A Donation Identification Number, checked for shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Din {
    /// Facility Identification Number: 5 characters (see [`Din::parse`]).
    pub fin: String,
    /// Two-digit year.
    pub year: String,
    /// Six-digit sequence number.
    pub sequence: String,
}

impl Din {
    /// Reads the 13 characters of a DIN.
    pub fn parse(s: &str) -> Result<Din, DinError> {
        let b = s.as_bytes();
        if b.len() != 13 {
            return Err(DinError::new("din_length", b.len().min(13)));
        }
        if let Some(i) = b
            .iter()
            .position(|c| !(c.is_ascii_digit() || c.is_ascii_uppercase()))
        {
            return Err(DinError::new("din_char_invalid", i));
        }
        // The FIN (ISBT 128 ST-001 §2.4.1): position 1 is A–N, P–Z or 1–9
        // (no O, no 0); positions 2–3 are A–N, P–Z or 0–9 (no O);
        // positions 4–5 are digits.
        if b[0] == b'O' || b[0] == b'0' {
            return Err(DinError::new("din_fin_invalid", 0));
        }
        if let Some(i) = (1..3).find(|i| b[*i] == b'O') {
            return Err(DinError::new("din_fin_invalid", i));
        }
        if let Some(i) = (3..5).find(|i| !b[*i].is_ascii_digit()) {
            return Err(DinError::new("din_fin_invalid", i));
        }
        if let Some(i) = (5..7).find(|i| !b[*i].is_ascii_digit()) {
            return Err(DinError::new("din_year_invalid", i));
        }
        if let Some(i) = (7..13).find(|i| !b[*i].is_ascii_digit()) {
            return Err(DinError::new("din_sequence_invalid", i));
        }
        Ok(Din {
            fin: s[..5].to_string(),
            year: s[5..7].to_string(),
            sequence: s[7..].to_string(),
        })
    }

    pub fn as_string(&self) -> String {
        format!("{}{}{}", self.fin, self.year, self.sequence)
    }

    /// The ISO 7064 Mod 37-2 checksum of the 13 characters.
    pub fn checksum(&self) -> u32 {
        // The characters were checked by `parse`.
        mod37_2(&self.as_string()).unwrap_or(0)
    }

    /// The eye-readable check character printed beside the DIN.
    pub fn check_char(&self) -> char {
        char::from(ALPHABET[self.checksum() as usize])
    }

    /// The flag characters that carry the check character in a barcode
    /// (checksum + 60).
    pub fn check_flags(&self) -> String {
        format!("{}", self.checksum() + 60)
    }

    /// The eye-readable form: `G1234 98 654321 H` style, FIN, year and
    /// sequence apart, then the check character.
    pub fn eye_readable(&self) -> String {
        format!(
            "{} {} {} {}",
            self.fin,
            self.year,
            self.sequence,
            self.check_char()
        )
    }
}

/// What a validated input held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Validated {
    pub din: Din,
    pub check_char: char,
    /// The flag characters when the input carried them.
    pub flags: Option<String>,
}

/// Validates a DIN as people and scanners give it:
///
/// * `DIN` + check character (14 characters, the eye-readable form);
/// * `=` (optional) + `DIN` + two flag digits (the barcode's data);
/// * `=` (optional) + `DIN` + flags + check character.
///
/// Spaces are ignored and letters may be lower case. Flags must be two
/// digits; flags 60–96 carry the checksum and must match it. A check
/// character must match the checksum.
pub fn validate(input: &str) -> Result<Validated, DinError> {
    let compact: String = input
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let (offset, body) = match compact.strip_prefix('=') {
        Some(rest) => (1, rest),
        None => (0, compact.as_str()),
    };
    if !body.is_ascii() {
        let i = body.chars().take_while(char::is_ascii).count();
        return Err(DinError::new("din_char_invalid", offset + i));
    }
    let (din, flags, check) = match body.len() {
        14 if offset == 0 => (&body[..13], None, Some(body.as_bytes()[13])),
        15 => (&body[..13], Some(&body[13..15]), None),
        16 => (&body[..13], Some(&body[13..15]), Some(body.as_bytes()[15])),
        n => return Err(DinError::new("din_length", offset + n.min(16))),
    };
    let shift = |mut e: DinError| {
        e.position += offset;
        e
    };
    let d = Din::parse(din).map_err(shift)?;
    let sum = d.checksum();
    if let Some(f) = flags {
        let fb = f.as_bytes();
        if !fb.iter().all(u8::is_ascii_digit) {
            return Err(DinError::new("din_flags_invalid", offset + 13));
        }
        // ST-001 Table 3: 00 unused; 01–19 process control defined by
        // ICCBBA; 20–59 defined locally; 60–96 the checksum + 60; 97–99
        // reserved.
        let n = u32::from(fb[0] - b'0') * 10 + u32::from(fb[1] - b'0');
        if n >= 97 {
            return Err(DinError::new("din_flags_invalid", offset + 13));
        }
        if (60..=96).contains(&n) && n != sum + 60 {
            return Err(DinError {
                code: "din_flag_check_mismatch",
                position: offset + 13,
                expected: Some(char::from(ALPHABET[sum as usize])),
            });
        }
    }
    let right = char::from(ALPHABET[sum as usize]);
    if let Some(c) = check {
        if char::from(c) != right {
            return Err(DinError {
                code: if value(c).is_some() {
                    "din_check_char_mismatch"
                } else {
                    "din_char_invalid"
                },
                position: offset + body.len() - 1,
                expected: Some(right),
            });
        }
    }
    Ok(Validated {
        din: d,
        check_char: right,
        flags: flags.map(str::to_string),
    })
}

/// Checks the shape of a product code (data structure 003 content,
/// ISBT 128 ST-001): a letter for the product group (S for cellular
/// therapy), four digits of the product description code, then the type
/// of collection and a two-character division, letters or digits — e.g.
/// `S1295A00`. What the description code means is in ICCBBA's licensed
/// product database, which this does not need.
pub fn product_code(code: &str) -> Result<String, DinError> {
    let c: String = code.trim().to_ascii_uppercase();
    let b = c.as_bytes();
    if b.len() != 8 {
        return Err(DinError::new("product_code_invalid", b.len().min(8)));
    }
    let ok = |i: usize| match i {
        0 => b[0].is_ascii_uppercase(),
        1..=4 => b[i].is_ascii_digit(),
        _ => b[i].is_ascii_uppercase() || b[i].is_ascii_digit(),
    };
    match (0..8).find(|i| !ok(*i)) {
        Some(i) => Err(DinError::new("product_code_invalid", i)),
        None => Ok(c),
    }
}

/// The check character of a 13-character DIN.
pub fn check_char(din: &str) -> Result<char, DinError> {
    let compact: String = din
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    Ok(Din::parse(&compact)?.check_char())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The worked example of the UK Blood Transfusion Services guidelines
    /// (Red Book, Annex 2): donation number G123 498 654 321 has weighted
    /// sum 148354, 148354 mod 37 = 21, (38 − 21) mod 37 = 17: eye-readable
    /// check character "H", barcode check flags "77".
    #[test]
    fn red_book_worked_example() {
        assert_eq!(mod37_2("G123498654321").unwrap(), 17);
        let d = Din::parse("G123498654321").unwrap();
        assert_eq!(d.check_char(), 'H');
        assert_eq!(d.check_flags(), "77");
        assert_eq!(check_char("G123 498 654 321").unwrap(), 'H');
        // The weighted sum as the annex spells it out.
        let weighted: u64 = "G123498654321"
            .bytes()
            .rev()
            .enumerate()
            .map(|(i, c)| u64::from(value(c).unwrap()) << (i + 1))
            .sum();
        assert_eq!(weighted, 148_354);
        assert_eq!(weighted % 37, 21);
    }

    /// Examples printed in the ISBT 128 Standard Technical Specification
    /// (ICCBBA ST-001): the Appendix A worked example G123417654321 has
    /// checksum 10, check character A and flags 70; the others are from its
    /// figures and example labels.
    #[test]
    fn iccbba_examples() {
        assert_eq!(mod37_2("G123417654321").unwrap(), 10);
        let d = Din::parse("G123417654321").unwrap();
        assert_eq!((d.check_char(), d.check_flags()), ('A', "70".to_string()));
        assert!(validate("=G12341765432170").is_ok());
        for (din, k) in [
            ("A999921123456", '3'),
            ("A999818123456", 'N'),
            ("A999820123456", 'E'),
            ("A999917123456", '9'),
            ("A999917123654", 'Y'),
            ("A999917345628", '*'),
            ("A999917345658", 'O'),
            ("A999915000001", 'M'),
            ("A999918000001", '8'),
        ] {
            assert_eq!(check_char(din).unwrap(), k, "{din}");
            assert!(validate(&format!("{din}{k}")).is_ok(), "{din}{k}");
        }
    }

    #[test]
    fn every_form_of_input() {
        assert_eq!(validate("G123498654321H").unwrap().check_char, 'H');
        assert_eq!(validate("g1234 98 654321 h").unwrap().din.fin, "G1234");
        assert_eq!(
            validate("=G12349865432177").unwrap().flags.as_deref(),
            Some("77")
        );
        assert_eq!(
            validate("=G12349865432100").unwrap().flags.as_deref(),
            Some("00")
        );
        assert!(validate("G12349865432100H").is_ok());
        let e = validate("G123498654321K").unwrap_err();
        assert_eq!(
            (e.code, e.position, e.expected),
            ("din_check_char_mismatch", 13, Some('H'))
        );
        let e = validate("=G12349865432178").unwrap_err();
        assert_eq!((e.code, e.position), ("din_flag_check_mismatch", 14));
        let e = validate("=G1234986543217A").unwrap_err();
        assert_eq!(e.code, "din_flags_invalid");
        let e = validate("G12349865432H").unwrap_err();
        assert_eq!(e.code, "din_length");
        // The FIN never starts with O or 0, has no O, ends in digits.
        let e = validate("0123498654321H").unwrap_err();
        assert_eq!((e.code, e.position), ("din_fin_invalid", 0));
        let e = validate("GO23498654321H").unwrap_err();
        assert_eq!((e.code, e.position), ("din_fin_invalid", 1));
        let e = validate("G12A498654321H").unwrap_err();
        assert_eq!((e.code, e.position), ("din_fin_invalid", 3));
        // A FIN may start with a digit 1–9 (ST-001 §2.4.1).
        let k = check_char("1123498654321").unwrap();
        assert!(validate(&format!("1123498654321{k}")).is_ok());
        // Reserved flag values 97–99.
        let e = validate("=G12349865432198").unwrap_err();
        assert_eq!(e.code, "din_flags_invalid");
        let e = validate("G1234X8654321H").unwrap_err();
        assert_eq!((e.code, e.position), ("din_year_invalid", 5));
        let e = validate("G12349865432XH").unwrap_err();
        assert_eq!((e.code, e.position), ("din_sequence_invalid", 12));
        let e = validate("G123-98654321H").unwrap_err();
        assert_eq!((e.code, e.position), ("din_char_invalid", 4));
        let e = validate("G12349865432１H").unwrap_err();
        assert_eq!(e.code, "din_char_invalid");
        let e = validate("G123498654321#").unwrap_err();
        assert_eq!(e.code, "din_char_invalid");
    }

    #[test]
    fn product_codes() {
        assert_eq!(product_code(" s1295a00 ").unwrap(), "S1295A00");
        assert_eq!(product_code("E0001V00").unwrap(), "E0001V00");
        assert_eq!(product_code("S12A5A00").unwrap_err().position, 3);
        assert_eq!(
            product_code("S1295A0").unwrap_err().code,
            "product_code_invalid"
        );
        assert_eq!(product_code("S1295A0-").unwrap_err().position, 7);
    }

    fn din_strategy() -> impl Strategy<Value = String> {
        (
            "[A-NP-Z1-9]",
            "[A-NP-Z0-9]{2}",
            "[0-9]{2}",
            "[0-9]{2}",
            "[0-9]{6}",
        )
            .prop_map(|(a, b, c, y, d)| format!("{a}{b}{c}{y}{d}"))
    }

    proptest! {
        /// ISO 7064 Mod 37-2 detects every single-character substitution:
        /// the changed DIN (still a well-formed DIN) no longer matches the
        /// check character of the original.
        #[test]
        fn every_substitution_is_detected(din in din_strategy(), pos in 0usize..13, pick in 0usize..36) {
            let original = Din::parse(&din).unwrap().check_char();
            let b = din.as_bytes();
            // A substitute the DIN's shape allows at that position, so the
            // check character alone must catch it.
            let allowed: Vec<u8> = ALPHABET[..36]
                .iter()
                .copied()
                .filter(|c| match pos {
                    0 => *c != b'O' && *c != b'0',
                    1 | 2 => *c != b'O',
                    _ => c.is_ascii_digit(),
                })
                .collect();
            let c = allowed[pick % allowed.len()];
            prop_assume!(c != b[pos]);
            let mut changed = b.to_vec();
            changed[pos] = c;
            let changed = String::from_utf8(changed).unwrap();
            let input = format!("{changed}{original}");
            prop_assert!(validate(&input).is_err(), "{input} passed");
        }

        /// It detects every transposition of two adjacent, different
        /// characters.
        #[test]
        fn every_adjacent_transposition_is_detected(din in din_strategy(), pos in 0usize..12) {
            let original = Din::parse(&din).unwrap().check_char();
            let mut b = din.into_bytes();
            prop_assume!(b[pos] != b[pos + 1]);
            b.swap(pos, pos + 1);
            let input = format!("{}{original}", String::from_utf8(b).unwrap());
            prop_assert!(validate(&input).is_err(), "{input} passed");
        }

        /// Any string at all: an answer, never a panic; and a DIN with its
        /// own check character always validates.
        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = validate(&s);
            let _ = check_char(&s);
            let _ = mod37_2(&s);
        }

        #[test]
        fn own_check_character_validates(din in din_strategy()) {
            let d = Din::parse(&din).unwrap();
            let input = format!("{din}{}", d.check_char());
            prop_assert_eq!(validate(&input).unwrap().check_char, d.check_char());
            let barcode = format!("={din}{}", d.check_flags());
            prop_assert!(validate(&barcode).is_ok());
        }
    }
}
