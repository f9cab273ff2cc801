//! Unified Social Credit Code (统一社会信用代码) of legal persons and other
//! organisations, as defined by GB 32100-2015
//! 《法人和其他组织统一社会信用代码编码规则》.
//!
//! Layout of the 18 characters (positions are 1-based, as in the standard):
//!
//! | position | content |
//! |---|---|
//! | 1 | registration authority code (登记管理部门代码), e.g. 1 机构编制, 5 民政, 9 工商/市场监管 |
//! | 2 | organisation category (机构类别代码), e.g. 12 = public institution (事业单位), 91 = enterprise |
//! | 3–8 | administrative division code of the registration authority (GB/T 2260), digits |
//! | 9–17 | subject identifier = organisation code (GB 11714-1997), its own check character at 17 |
//! | 18 | check character over positions 1–17 |
//!
//! The alphabet is the 31 characters `0-9 A-H J-N P-R T U W-Y`; the letters
//! I, O, S, V and Z are never used.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The code's 31-character alphabet; a character's value is its index.
pub const ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights of positions 1–17: 3^(i−1) mod 31 (GB 32100-2015, 4.2).
pub const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Weights of the eight body characters of the organisation code
/// (GB 11714-1997, 5.2).
pub const ORG_CODE_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// Why a string is not a valid Unified Social Credit Code.
///
/// Positions are 1-based character positions in the trimmed input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UsccError {
    /// Not 18 characters (17 for [`check_char`]).
    #[error("a unified social credit code has {expected} characters, found {found}")]
    Length { expected: usize, found: usize },
    /// A character outside the code's alphabet.
    #[error(
        "character {found:?} at position {position} is not allowed in a unified social credit code"
    )]
    InvalidChar { position: usize, found: char },
    /// Positions 3–8 (administrative division) must be digits.
    #[error("position {position} belongs to the administrative division code and must be a digit, found {found:?}")]
    DivisionCode { position: usize, found: char },
    /// The 18th character does not match positions 1–17.
    #[error("check character is {found:?}, expected {expected:?}")]
    CheckChar { expected: char, found: char },
    /// The embedded organisation code's check character (position 17) does
    /// not match positions 9–16 (GB 11714-1997).
    #[error("organisation code check character is {found:?}, expected {expected:?}")]
    OrgCodeCheck { expected: char, found: char },
}

impl UsccError {
    /// Stable machine code; the message is the catalogue entry `error.<code>`.
    pub fn code(&self) -> &'static str {
        match self {
            UsccError::Length { .. } => "uscc_length",
            UsccError::InvalidChar { .. } => "uscc_invalid_char",
            UsccError::DivisionCode { .. } => "uscc_division_code",
            UsccError::CheckChar { .. } => "uscc_check_char",
            UsccError::OrgCodeCheck { .. } => "uscc_org_code_check",
        }
    }

    /// The 1-based position the error points at, where there is one.
    pub fn position(&self) -> Option<usize> {
        match self {
            UsccError::Length { .. } => None,
            UsccError::InvalidChar { position, .. } | UsccError::DivisionCode { position, .. } => {
                Some(*position)
            }
            UsccError::CheckChar { .. } => Some(18),
            UsccError::OrgCodeCheck { .. } => Some(17),
        }
    }

    /// Named arguments for the catalogue message.
    pub fn args(&self) -> Vec<(&'static str, String)> {
        match self {
            UsccError::Length { expected, found } => {
                vec![
                    ("expected", expected.to_string()),
                    ("found", found.to_string()),
                ]
            }
            UsccError::InvalidChar { position, found }
            | UsccError::DivisionCode { position, found } => {
                vec![
                    ("position", position.to_string()),
                    ("found", found.to_string()),
                ]
            }
            UsccError::CheckChar { expected, found }
            | UsccError::OrgCodeCheck { expected, found } => {
                vec![
                    ("expected", expected.to_string()),
                    ("found", found.to_string()),
                ]
            }
        }
    }
}

/// A validated Unified Social Credit Code, held in canonical (upper-case) form.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uscc(String);

/// Value of a character in the 31-character alphabet.
fn value_of(c: char) -> Option<u32> {
    ALPHABET.find(c).map(|i| i as u32)
}

/// Value of an organisation-code body character (GB 11714-1997): digits
/// count as themselves, letters A–Z as 10–35.
fn org_value_of(c: char) -> Option<u32> {
    c.to_digit(36)
}

fn alphabet_char(v: u32) -> char {
    ALPHABET.chars().nth(v as usize).unwrap_or('0')
}

/// Computes the check character (position 18) for the first 17 characters.
///
/// C18 = 31 − (Σ Ci·Wi mod 31), where 31 maps to `0` (GB 32100-2015, 4.2).
/// The input is trimmed and upper-cased like [`Uscc::parse`].
pub fn check_char(first17: &str) -> Result<char, UsccError> {
    let s = first17.trim().to_ascii_uppercase();
    let n = s.chars().count();
    if n != 17 {
        return Err(UsccError::Length {
            expected: 17,
            found: n,
        });
    }
    let mut sum = 0u32;
    for (i, c) in s.chars().enumerate() {
        let v = value_of(c).ok_or(UsccError::InvalidChar {
            position: i + 1,
            found: c,
        })?;
        sum += v * WEIGHTS[i];
    }
    let c = (31 - sum % 31) % 31;
    Ok(alphabet_char(c))
}

/// Computes the check character of an organisation code from its eight body
/// characters: C9 = 11 − (Σ Ci·Wi mod 11), 10 → `X`, 11 → `0`
/// (GB 11714-1997). Returns `None` if a character is not a digit or letter.
pub fn org_code_check_char(body8: &str) -> Option<char> {
    let mut n = 0;
    let mut sum = 0u32;
    for (c, w) in body8.chars().zip(ORG_CODE_WEIGHTS) {
        if !c.is_ascii_alphanumeric() {
            return None;
        }
        sum += org_value_of(c.to_ascii_uppercase())? * w;
        n += 1;
    }
    if n != 8 || body8.chars().count() != 8 {
        return None;
    }
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        d => char::from_digit(d, 10).unwrap_or('0'),
    })
}

impl Uscc {
    /// Parses and validates a code: trims surrounding whitespace, upper-cases
    /// ASCII letters, then checks length, alphabet, the digit-only division
    /// code, the check character and the embedded organisation code's check
    /// character, in that order.
    pub fn parse(s: &str) -> Result<Uscc, UsccError> {
        let s = s.trim().to_ascii_uppercase();
        let chars: Vec<char> = s.chars().collect();
        if chars.len() != 18 {
            return Err(UsccError::Length {
                expected: 18,
                found: chars.len(),
            });
        }
        for (i, &c) in chars.iter().enumerate() {
            if value_of(c).is_none() {
                return Err(UsccError::InvalidChar {
                    position: i + 1,
                    found: c,
                });
            }
        }
        for (i, &c) in chars.iter().enumerate().take(8).skip(2) {
            if !c.is_ascii_digit() {
                return Err(UsccError::DivisionCode {
                    position: i + 1,
                    found: c,
                });
            }
        }
        let expected = check_char(&s[..17])?;
        if chars[17] != expected {
            return Err(UsccError::CheckChar {
                expected,
                found: chars[17],
            });
        }
        let org_expected = org_code_check_char(&s[8..16]).unwrap_or('?');
        if chars[16] != org_expected {
            return Err(UsccError::OrgCodeCheck {
                expected: org_expected,
                found: chars[16],
            });
        }
        Ok(Uscc(s))
    }

    /// The canonical 18-character code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Position 1: registration authority code (登记管理部门代码).
    pub fn registration_authority(&self) -> char {
        self.0.chars().next().unwrap_or('0')
    }

    /// Position 2: organisation category code (机构类别代码).
    pub fn category(&self) -> char {
        self.0.chars().nth(1).unwrap_or('0')
    }

    /// Positions 3–8: administrative division code of the registration
    /// authority (GB/T 2260).
    pub fn division_code(&self) -> &str {
        self.0.get(2..8).unwrap_or("")
    }

    /// The first two digits of the division code: the province-level code.
    pub fn province_code(&self) -> &str {
        self.0.get(2..4).unwrap_or("")
    }

    /// Positions 9–17: the organisation code (组织机构代码), GB 11714-1997.
    pub fn org_code(&self) -> &str {
        self.0.get(8..17).unwrap_or("")
    }
}

impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Uscc {
    type Err = UsccError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uscc::parse(s)
    }
}

impl AsRef<str> for Uscc {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Uscc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Uscc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Uscc::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Codes of real organisations, each taken from a public record and
    /// confirmed against both check characters.
    const REAL: &[(&str, &str)] = &[
        // Huawei Technologies Co., Ltd. (华为技术有限公司), Shenzhen; the
        // organisation code shown in the infobox of the Chinese Wikipedia
        // article 華為.
        ("914403001922038216", "华为技术有限公司"),
        // Shenzhen Tencent Computer Systems Co., Ltd. (深圳市腾讯计算机系统有限公司);
        // business-licence information published on check-china.com.
        ("91440300708461136T", "深圳市腾讯计算机系统有限公司"),
        // China Quanjude (Group) Co., Ltd. (中国全聚德（集团）股份有限公司) and
        // Beijing Changfeng Hospital (北京长峰医院, a private hospital), both
        // quoted as test codes in a public CSDN article on the GB 32100 check
        // (blog.csdn.net/ellasun_web/article/details/130267762).
        ("91110000101623741K", "中国全聚德（集团）股份有限公司"),
        ("911101066976941872", "北京长峰医院"),
        // Longde County Hospital of Traditional Chinese Medicine (隆德县中医院),
        // a public hospital (事业单位, category 12) in Ningxia; listed in a
        // published hospital-directory API example on showdoc.com.cn.
        ("12642224455131111Y", "隆德县中医院"),
    ];

    #[test]
    fn real_codes_are_valid() {
        for (code, name) in REAL {
            let u = Uscc::parse(code).unwrap_or_else(|e| panic!("{name} {code}: {e}"));
            assert_eq!(u.as_str(), *code);
        }
    }

    #[test]
    fn parts_of_a_real_code() {
        let u = Uscc::parse(" 12642224455131111y ").unwrap();
        assert_eq!(u.as_str(), "12642224455131111Y");
        assert_eq!(u.registration_authority(), '1');
        assert_eq!(u.category(), '2');
        assert_eq!(u.division_code(), "642224");
        assert_eq!(u.province_code(), "64");
        assert_eq!(u.org_code(), "455131111");
        assert_eq!(u.to_string(), "12642224455131111Y");
    }

    #[test]
    fn check_char_of_real_codes() {
        for (code, _) in REAL {
            assert_eq!(check_char(&code[..17]), Ok(code.chars().nth(17).unwrap()));
        }
        // A sum divisible by 31 gives '0' (31 → 0).
        assert_eq!(check_char("00000000000000000"), Ok('0'));
        assert_eq!(
            check_char("0000000000000000"),
            Err(UsccError::Length {
                expected: 17,
                found: 16
            })
        );
    }

    #[test]
    fn org_code_check_examples() {
        // Organisation code 19220382-1 of Huawei (see REAL).
        assert_eq!(org_code_check_char("19220382"), Some('1'));
        // Organisation code 71526726-X: remainder 1 gives 10 → 'X'.
        assert_eq!(org_code_check_char("71526726"), Some('X'));
        // 00000000: 11 − 0 = 11 → '0'.
        assert_eq!(org_code_check_char("00000000"), Some('0'));
        assert_eq!(org_code_check_char("0000000"), None);
        assert_eq!(org_code_check_char("0000000-"), None);
    }

    #[test]
    fn errors_name_code_and_position() {
        let e = Uscc::parse("91440300708461136").unwrap_err();
        assert_eq!(e.code(), "uscc_length");
        assert_eq!(e.position(), None);

        let e = Uscc::parse("9144030070846113IT").unwrap_err();
        assert_eq!(e.code(), "uscc_invalid_char");
        assert_eq!(e.position(), Some(17));

        let e = Uscc::parse("9144A300708461136T").unwrap_err();
        assert_eq!(e.code(), "uscc_division_code");
        assert_eq!(e.position(), Some(5));

        let e = Uscc::parse("91440300708461136U").unwrap_err();
        assert_eq!(e.code(), "uscc_check_char");
        assert_eq!(e.position(), Some(18));
        assert_eq!(
            e,
            UsccError::CheckChar {
                expected: 'T',
                found: 'U'
            }
        );

        let e = Uscc::parse("9144030070846113全T").unwrap_err();
        assert_eq!(e.code(), "uscc_invalid_char");
        assert_eq!(e.position(), Some(17));
    }

    #[test]
    fn org_code_check_is_enforced() {
        // Take a valid code, change the organisation check character and
        // recompute the outer check character so only the inner one is wrong.
        let body = "91440300708461132";
        let c18 = check_char(body).unwrap();
        let code = format!("{body}{c18}");
        let e = Uscc::parse(&code).unwrap_err();
        assert_eq!(e.code(), "uscc_org_code_check");
        assert_eq!(e.position(), Some(17));
        assert_eq!(
            e,
            UsccError::OrgCodeCheck {
                expected: '6',
                found: '2'
            }
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        let u = Uscc::parse("914403001922038216").unwrap();
        let json = serde_json::to_string(&u).unwrap();
        assert_eq!(json, "\"914403001922038216\"");
        let back: Uscc = serde_json::from_str(&json).unwrap();
        assert_eq!(back, u);
        assert!(serde_json::from_str::<Uscc>("\"914403001922038217\"").is_err());
    }

    /// Exhaustive over the real codes: each of the 18 positions replaced by
    /// each other character of the alphabet.
    #[test]
    fn every_alphabet_substitution_of_real_codes_is_detected() {
        let mut tried = 0;
        for (code, _) in REAL {
            for pos in 0..18 {
                for replacement in ALPHABET.chars() {
                    let mut chars: Vec<char> = code.chars().collect();
                    if chars[pos] == replacement {
                        continue;
                    }
                    chars[pos] = replacement;
                    let s: String = chars.into_iter().collect();
                    assert!(Uscc::parse(&s).is_err(), "{s} accepted");
                    tried += 1;
                }
            }
        }
        assert_eq!(tried, REAL.len() * 18 * 30);
    }

    proptest! {
        #[test]
        fn every_single_substitution_is_detected(
            idx in 0usize..REAL.len(),
            pos in 0usize..18,
            replacement in any::<char>(),
        ) {
            let code = REAL[idx].0;
            let mut chars: Vec<char> = code.chars().collect();
            prop_assume!(chars[pos] != replacement);
            // Upper-casing is part of parsing, so the lower-case copy of the
            // same letter is not a substitution.
            prop_assume!(replacement.to_ascii_uppercase() != chars[pos]);
            chars[pos] = replacement;
            let s: String = chars.into_iter().collect();
            prop_assert!(Uscc::parse(&s).is_err(), "{} accepted", s);
        }

        #[test]
        fn every_alphabet_substitution_is_detected(
            idx in 0usize..REAL.len(),
            pos in 0usize..18,
            v in 0usize..31,
        ) {
            let code = REAL[idx].0;
            let mut chars: Vec<char> = code.chars().collect();
            let replacement = ALPHABET.chars().nth(v).unwrap();
            prop_assume!(chars[pos] != replacement);
            chars[pos] = replacement;
            let s: String = chars.into_iter().collect();
            prop_assert!(Uscc::parse(&s).is_err(), "{} accepted", s);
        }

        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = Uscc::parse(&s);
            let _ = check_char(&s);
            let _ = org_code_check_char(&s);
        }

        #[test]
        fn parse_never_panics_on_code_like_input(s in "[0-9A-Z]{15,20}") {
            if let Ok(u) = Uscc::parse(&s) {
                prop_assert_eq!(u.as_str().len(), 18);
            }
        }

        #[test]
        fn generated_codes_round_trip(
            reg in "[0-9A-HJ-NP-RT-UW-Y]{2}",
            div in "[0-9]{6}",
            body in "[0-9A-HJ-NP-RT-UW-Y]{8}",
        ) {
            let org_check = org_code_check_char(&body).unwrap();
            let first17 = format!("{reg}{div}{body}{org_check}");
            let c18 = check_char(&first17).unwrap();
            let code = format!("{first17}{c18}");
            let u = Uscc::parse(&code.to_lowercase());
            prop_assert_eq!(u.map(|u| u.to_string()), Ok(code));
        }
    }
}
