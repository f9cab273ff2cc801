//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! The canonical form of a JSON value is the byte string that gets hashed and
//! signed, so it must be identical on every machine and in every decade:
//!
//! * no insignificant whitespace;
//! * object members sorted by the UTF-16 code units of their names
//!   (RFC 8785 section 3.2.3), which differs from byte order for characters
//!   outside the Basic Multilingual Plane;
//! * strings escaped exactly as ECMAScript `JSON.stringify` does
//!   (section 3.2.2.2): `\b \t \n \f \r \" \\` as two-character escapes,
//!   the other controls below U+0020 as `\u00xx` with lowercase hex, and
//!   everything else, `/`, U+2028 and U+2029 included, as literal UTF-8;
//! * numbers written as ECMAScript `Number::toString` writes the IEEE-754
//!   double (section 3.2.2.3): the shortest digits that round-trip, plain
//!   decimal notation for `1e-7 <= |x| < 1e21`, exponent notation otherwise,
//!   and `-0` as `0`.
//!
//! Integers held by `serde_json` as `u64`/`i64` whose magnitude exceeds 2^53
//! are refused ([`LedgerError::Canonical`]): as doubles they would silently
//! change value. The one exception is an integer that already *is* the
//! canonical spelling of a double, such as `10000000000000000000` for
//! `1e19`: serde_json reads canonical text like that back as an integer,
//! and refusing it would make canonical output impossible to re-canonicalize.
//!
//! serde_json's default float parser (without its `float_roundtrip`
//! feature) can be one unit in the last place off for long inputs; the
//! canonical text is exact for the double the `Value` holds, and the ledger
//! hashes that text, never a re-parse of it.

use std::fmt::Write as _;

use serde_json::{Number, Value};

use crate::LedgerError;

/// Largest integer magnitude a double represents exactly (2^53).
const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// Most arrays/objects nested in one another that serde_json reads back;
/// deeper values are refused so that canonical text always parses again
/// (and the recursion here stays shallow).
pub(crate) const MAX_NESTING: usize = 127;

/// Returns the RFC 8785 canonical text of `v`.
pub fn canonicalize(v: &Value) -> Result<String, LedgerError> {
    let mut out = String::with_capacity(128);
    write_value(&mut out, v, 0)?;
    Ok(out)
}

/// Appends the canonical text of `v`, which sits inside `depth` arrays or
/// objects, to `out`.
pub(crate) fn write_value(out: &mut String, v: &Value, depth: usize) -> Result<(), LedgerError> {
    if matches!(v, Value::Array(_) | Value::Object(_)) && depth >= MAX_NESTING {
        return Err(LedgerError::Canonical(format!(
            "arrays and objects nested more than {MAX_NESTING} deep"
        )));
    }
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, depth + 1)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (name, value)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, name);
                out.push(':');
                write_value(out, value, depth + 1)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Appends `s` as a JSON string literal escaped the way ECMAScript's
/// `JSON.stringify` escapes it (RFC 8785 section 3.2.2.2).
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            0x08 => Some("\\b"),
            b'\t' => Some("\\t"),
            b'\n' => Some("\\n"),
            0x0c => Some("\\f"),
            b'\r' => Some("\\r"),
            0x00..=0x1f => Some(""),
            _ => None,
        };
        let Some(escape) = escape else { continue };
        // Every byte matched above is ASCII, so `i` is a char boundary.
        out.push_str(s.get(run_start..i).unwrap_or_default());
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        } else {
            out.push_str(escape);
        }
        run_start = i + 1;
    }
    out.push_str(s.get(run_start..).unwrap_or_default());
    out.push('"');
}

fn write_number(out: &mut String, n: &Number) -> Result<(), LedgerError> {
    if let Some(u) = n.as_u64() {
        if u <= MAX_EXACT_INTEGER {
            let _ = write!(out, "{u}");
            return Ok(());
        }
        // Rust's integer-to-float `as` conversion rounds to nearest.
        return write_big_integer(out, &u.to_string(), u as f64);
    }
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= MAX_EXACT_INTEGER {
            let _ = write!(out, "{i}");
            return Ok(());
        }
        return write_big_integer(out, &i.to_string(), i as f64);
    }
    match n.as_f64() {
        Some(f) => write_f64(out, f),
        None => Err(LedgerError::Canonical(format!(
            "number {n} is not an IEEE-754 double"
        ))),
    }
}

/// An integer beyond 2^53 is kept only when it already is the canonical
/// spelling of the double it denotes (as `10000000000000000000` is for
/// `1e19`); that keeps canonical text stable when serde_json reads it back
/// as an integer. Any other such integer would silently change value.
fn write_big_integer(out: &mut String, text: &str, nearest: f64) -> Result<(), LedgerError> {
    let mut spelled = String::with_capacity(24);
    write_f64(&mut spelled, nearest)?;
    if spelled != text {
        return Err(LedgerError::Canonical(format!(
            "integer {text} exceeds 2^53 and would change to {spelled} as an IEEE-754 double"
        )));
    }
    out.push_str(&spelled);
    Ok(())
}

/// Appends `f` formatted as ECMAScript `Number::toString` does (ECMA-262
/// section 7.1.12.1, adopted by RFC 8785 section 3.2.2.3).
pub(crate) fn write_f64(out: &mut String, f: f64) -> Result<(), LedgerError> {
    if !f.is_finite() {
        return Err(LedgerError::Canonical(
            "NaN and infinities have no JSON form".to_string(),
        ));
    }
    if f == 0.0 {
        // Both +0 and -0 print as "0".
        out.push('0');
        return Ok(());
    }
    if f < 0.0 {
        out.push('-');
    }
    // Rust's `{:e}` yields the shortest digit string that round-trips, as
    // `d[.ddd]e[-]x`; ECMAScript wants the same digits, laid out differently.
    let sci = format!("{:e}", f.abs());
    let bad = || LedgerError::Canonical(format!("unexpected float layout {sci:?}"));
    let (mantissa, exponent) = sci.split_once('e').ok_or_else(bad)?;
    let exponent: i32 = exponent.parse().map_err(|_| bad())?;
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits = String::with_capacity(20);
    digits.push_str(int_part);
    digits.push_str(frac_part.trim_end_matches('0'));
    if digits.is_empty() || digits.len() > 17 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // In ECMA-262 terms: the value is 0.d1d2...dk * 10^n.
    let mut k = i32::try_from(digits.len()).map_err(|_| bad())?;
    let mut n = exponent + 1;
    if let Some(even) = even_tie_alternative(f.abs(), &digits, n - k) {
        // `even` * 10^(n-k) is the other, even, candidate of an exact tie.
        let text = even.to_string();
        let len = i32::try_from(text.len()).map_err(|_| bad())?;
        n = n - k + len;
        digits = text.trim_end_matches('0').to_string();
        k = i32::try_from(digits.len()).map_err(|_| bad())?;
        if digits.is_empty() {
            return Err(bad());
        }
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        for _ in 0..(n - k) {
            out.push('0');
        }
    } else if 0 < n && n <= 21 {
        let (head, tail) = digits.split_at(usize::try_from(n).map_err(|_| bad())?);
        out.push_str(head);
        out.push('.');
        out.push_str(tail);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        for _ in 0..(-n) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let (head, tail) = digits.split_at(1);
        out.push_str(head);
        if !tail.is_empty() {
            out.push('.');
            out.push_str(tail);
        }
        let e = n - 1;
        let _ = write!(
            out,
            "e{}{}",
            if e < 0 { '-' } else { '+' },
            e.unsigned_abs()
        );
    }
    Ok(())
}

/// ECMA-262 picks, among the shortest digit strings that round-trip, the
/// one closest to `x`, and the even one if two are equally close. Rust's
/// shortest formatting agrees (a property test below checks it against the
/// exact decimal expansion) except in that exact tie, where it may round
/// up: 0x43143ff3c1cb0959 is exactly 1424953923781206.25, which must print
/// as ...206.2 (RFC 8785 Appendix B), not ...206.3.
///
/// Given the digits `d` found for positive `x` and the exponent `q` of their
/// last digit, returns the even alternative when `x` lies exactly halfway
/// between `d` and its neighbour and that neighbour also reads back as `x`.
/// Such ties need the last digit below the units (q < 0): for q >= 0 a
/// halfway point is an odd multiple of 5 * 10^(q-1), with too few factors of
/// two to be a double whose spacing lets both neighbours read back.
fn even_tie_alternative(x: f64, d: &str, q: i32) -> Option<u64> {
    let d: u64 = d.parse().ok()?;
    if q >= 0 || d & 1 == 0 {
        return None;
    }
    let p = u32::try_from(-q).ok()?;
    // 2 * x * 10^p must be an odd integer N; then the tie is between
    // (N - 1) / 2 and (N + 1) / 2. N < 2 * 10^17 + 1 keeps p <= 25.
    if p > 25 {
        return None;
    }
    let bits = x.to_bits();
    let biased = i32::try_from((bits >> 52) & 0x7ff).ok()?;
    let fraction = bits & ((1u64 << 52) - 1);
    let (m, e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    };
    if m == 0 {
        return None;
    }
    // 2 * x * 10^p = m * 5^p * 2^(e + 1 + p); odd only if the power of two
    // cancels exactly against trailing zero bits of m.
    let shift = -(e + 1 + i32::try_from(p).ok()?);
    let shift = u32::try_from(shift).ok()?;
    if m.trailing_zeros() != shift {
        return None;
    }
    let n = u128::from(m >> shift) * 5u128.pow(p);
    if n & 1 == 0 {
        return None;
    }
    let (lower, upper) = (u64::try_from(n / 2).ok()?, u64::try_from(n / 2 + 1).ok()?);
    let alternative = if d == lower {
        upper
    } else if d == upper {
        lower
    } else {
        return None;
    };
    let reads_back: f64 = format!("{alternative}e{q}").parse().ok()?;
    (reads_back == x).then_some(alternative)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn num(bits: u64) -> String {
        let mut s = String::new();
        write_f64(&mut s, f64::from_bits(bits)).expect("finite");
        s
    }

    /// RFC 8785 Appendix B, "Number Serialization Samples": IEEE-754 bit
    /// patterns and the text JCS must produce for them. The two rows for NaN
    /// (7fffffffffffffff) and Infinity (7ff0000000000000) are errors.
    #[test]
    fn rfc8785_appendix_b_numbers() {
        let table: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for &(bits, expected) in table {
            assert_eq!(num(bits), expected, "bits {bits:016x}");
            // The same through the public entry point, as a serde_json number.
            let v = serde_json::Number::from_f64(f64::from_bits(bits)).map(Value::Number);
            let v = v.expect("finite");
            assert_eq!(canonicalize(&v).expect("canonical"), expected);
        }
        for bits in [0x7fffffffffffffff_u64, 0x7ff0000000000000] {
            let mut s = String::new();
            assert!(write_f64(&mut s, f64::from_bits(bits)).is_err());
        }
    }

    /// RFC 8785 section 3.2.3: member names sorted by UTF-16 code units; the
    /// emoji (surrogates D83D DE00) sorts before U+FB33 although its code
    /// point is larger. Input and expected output are the RFC's.
    #[test]
    fn rfc8785_sorting_example() {
        let input = r#"{
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\ud83d\ude00": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let v: Value = serde_json::from_str(input).expect("json");
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
             \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
             \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canonicalize(&v).expect("canonical"), expected);
    }

    /// RFC 8785 section 3.2.2 sample, whose "string" member exercises the
    /// string rules of section 3.2.2.2 and whose numbers those of 3.2.2.3.
    /// The numbers are given as Rust literals (correctly rounded) because
    /// serde_json's default float parser is not guaranteed to round
    /// correctly; the string member is parsed from the RFC's JSON text.
    #[test]
    #[allow(clippy::excessive_precision)] // the RFC's own literal
    fn rfc8785_sample_document() {
        let string: Value =
            serde_json::from_str(r#""\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/""#)
                .expect("json string");
        let v = json!({
            "numbers": [333333333.33333329_f64, 1E30_f64, 4.50_f64, 2e-3_f64, 0.000000000000000000000000001_f64],
            "string": string,
            "literals": [null, true, false]
        });
        let expected = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;
        let got = canonicalize(&v).expect("canonical");
        assert_eq!(got, expected);
        // RFC 8785 section 3.2.4 lists the UTF-8 bytes of the same output.
        let hex_bytes = "7b226c69746572616c73223a5b6e756c6c2c747275652c66616c73655d2c226e756d62657273223a5b3333333333333333332e333333333333332c31652b33302c342e352c302e3030322c31652d32375d2c22737472696e67223a22e282ac245c75303030665c6e4127425c225c5c5c5c5c222f227d";
        assert_eq!(hex::encode(got.as_bytes()), hex_bytes);
    }

    #[test]
    fn string_escapes_follow_json_stringify() {
        let v = Value::String(
            "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f} \"\\/\u{7f}\u{2028}\u{2029}é".into(),
        );
        assert_eq!(
            canonicalize(&v).expect("canonical"),
            "\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f \\\"\\\\/\u{7f}\u{2028}\u{2029}é\""
        );
    }

    #[test]
    fn large_integers_are_refused() {
        let limit = 1u64 << 53;
        assert_eq!(
            canonicalize(&json!(limit)).expect("2^53"),
            "9007199254740992"
        );
        assert_eq!(
            canonicalize(&json!(-(limit as i64))).expect("-2^53"),
            "-9007199254740992"
        );
        assert!(matches!(
            canonicalize(&json!(limit + 1)),
            Err(LedgerError::Canonical(_))
        ));
        assert!(matches!(
            canonicalize(&json!(-(limit as i64) - 1)),
            Err(LedgerError::Canonical(_))
        ));
        assert!(matches!(
            canonicalize(&json!([{"a": u64::MAX}])),
            Err(LedgerError::Canonical(_))
        ));
        assert!(matches!(
            canonicalize(&json!(i64::MIN)),
            Err(LedgerError::Canonical(_))
        ));
        assert!(matches!(
            canonicalize(&json!(12_345_678_901_234_567_890_u64)),
            Err(LedgerError::Canonical(_))
        ));
        // 2^60 is exactly a double, but ECMAScript spells that double
        // 1152921504606847000, so the integer itself would change.
        assert!(matches!(
            canonicalize(&json!(1u64 << 60)),
            Err(LedgerError::Canonical(_))
        ));
    }

    #[test]
    fn big_doubles_stay_canonical_when_read_back_as_integers() {
        for f in [1e19_f64, -4e18, 1.5e17, (1u64 << 60) as f64] {
            let once = canonicalize(&json!(f)).expect("canonical");
            let back: Value = serde_json::from_str(&once).expect("parses");
            assert!(
                back.is_u64() || back.is_i64(),
                "{once} reads back as an integer"
            );
            assert_eq!(canonicalize(&back).expect("canonical again"), once);
        }
        assert_eq!(
            canonicalize(&json!(1e19_f64)).expect("canonical"),
            "10000000000000000000"
        );
    }

    #[test]
    fn exact_ties_round_to_even() {
        // 0x43143ff3c1cb0959 (RFC 8785 Appendix B) is exactly
        // 1424953923781206.25; the two 17-digit candidates are equally close.
        assert_eq!(num(0x43143ff3c1cb0959), "1424953923781206.2");
        let (_, tie) = closest_k_digits(f64::from_bits(0x43143ff3c1cb0959), 17);
        assert!(tie);
        // Its neighbours are not ties.
        assert_eq!(num(0x43143ff3c1cb0958), "1424953923781206");
        assert_eq!(num(0x43143ff3c1cb095a), "1424953923781206.5");
    }

    #[test]
    fn layout_boundaries() {
        let cases: &[(f64, &str)] = &[
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123e18, "123000000000000000000"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (1e-6, "0.000001"),
            (0.5, "0.5"),
            (-1.25, "-1.25"),
            (3.0, "3"),
            (1e300, "1e+300"),
            (2.5e-300, "2.5e-300"),
            (12.5, "12.5"),
        ];
        for &(f, expected) in cases {
            let mut s = String::new();
            write_f64(&mut s, f).expect("finite");
            assert_eq!(s, expected, "{f:e}");
        }
    }

    fn nested(levels: usize) -> Value {
        let mut v = json!(1);
        for _ in 0..levels {
            v = Value::Array(vec![v]);
        }
        v
    }

    #[test]
    fn nesting_is_bounded_by_what_serde_json_reads_back() {
        let deepest = canonicalize(&nested(MAX_NESTING)).expect("127 levels");
        let back: Value = serde_json::from_str(&deepest).expect("reads back");
        assert_eq!(canonicalize(&back).expect("again"), deepest);
        assert!(matches!(
            canonicalize(&nested(MAX_NESTING + 1)),
            Err(LedgerError::Canonical(_))
        ));
        let deeper = format!("[{deepest}]");
        assert!(serde_json::from_str::<Value>(&deeper).is_err());
    }

    /// Doubles that serde_json's default (not always correctly rounded)
    /// parser reads back exactly: at most 15 significant digits and a
    /// decimal exponent within +-22, so that parsing is a single correctly
    /// rounded multiplication or division of exact operands.
    fn exact_double() -> impl Strategy<Value = f64> {
        (-999_999_999_999_999_i64..=999_999_999_999_999, -22_i32..=3).prop_map(|(m, e)| {
            let p = 10f64.powi(e.abs());
            if e < 0 {
                m as f64 / p
            } else {
                m as f64 * p
            }
        })
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-(1i64 << 53)..=(1i64 << 53)).prop_map(|i| json!(i)),
            exact_double().prop_map(|f| json!(f)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Splits ECMAScript number text into (digits, exponent of last digit).
    fn digits_of(text: &str) -> (String, i32) {
        let (mantissa, exp) = match text.split_once('e') {
            Some((m, e)) => (m, e.parse::<i32>().expect("exponent")),
            None => (text, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let frac_len = i32::try_from(frac_part.len()).expect("short");
        let all = format!("{int_part}{frac_part}");
        let trimmed = all.trim_start_matches('0');
        let zeros =
            i32::try_from(trimmed.len() - trimmed.trim_end_matches('0').len()).expect("short");
        (
            trimmed.trim_end_matches('0').to_string(),
            exp - frac_len + zeros,
        )
    }

    /// Oracle for the digit choice: from the exact decimal expansion of `x`
    /// (1100 digits after the point cover any double exactly), the k-digit
    /// decimal closest to `x`, ties to even.
    fn closest_k_digits(x: f64, k: usize) -> (u64, bool) {
        let exact = format!("{:.1100e}", x);
        let (mantissa, _) = exact.split_once('e').expect("e");
        let all: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let (head, rest) = all.split_at(k);
        let t: u64 = head.parse().expect("digits");
        let rest = rest.trim_end_matches('0');
        let tie = rest == "5";
        let up =
            rest.as_bytes().first().is_some_and(|&c| c > b'5') || (rest.starts_with('5') && !tie);
        let choice = if tie {
            if t & 1 == 0 {
                t
            } else {
                t + 1
            }
        } else if up {
            t + 1
        } else {
            t
        };
        (choice, tie)
    }

    proptest! {
        #[test]
        fn numbers_pick_the_closest_digits_ties_to_even(bits in prop_oneof![
            any::<u64>(),
            // n + 0.25 and n + 0.75 in [2^50, 2^51), where the spacing of
            // doubles is 0.25: every one of these is an exact tie.
            ((1u64 << 50)..(1u64 << 51), prop::bool::ANY)
                .prop_map(|(n, hi)| (n as f64 + if hi { 0.75 } else { 0.25 }).to_bits()),
        ]) {
            let x = f64::from_bits(bits).abs();
            prop_assume!(x.is_finite() && x != 0.0);
            let mut s = String::new();
            write_f64(&mut s, x).expect("finite");
            let (digits, q) = digits_of(&s);
            let (oracle, _) = closest_k_digits(x, digits.len());
            let mine: u64 = digits.parse().expect("digits");
            let oracle_text = oracle.to_string();
            let oracle_reads_back = format!("{oracle}e{}", q + i32::try_from(digits.len()).expect("short") - i32::try_from(oracle_text.len()).expect("short"))
                .parse::<f64>().expect("parse") == x;
            if oracle_reads_back && oracle_text.len() == digits.len() {
                prop_assert_eq!(mine, oracle, "{} for {:e}", s, x);
            }
        }

        #[test]
        fn canonical_form_is_a_fixed_point(v in json_value()) {
            let once = canonicalize(&v).expect("canonical");
            let reparsed: Value = serde_json::from_str(&once).expect("canonical text parses");
            prop_assert_eq!(canonicalize(&reparsed).expect("canonical"), once);
        }

        /// Every finite double prints as text that Rust's correctly rounded
        /// parser reads back to the very same bits (sign of zero aside).
        #[test]
        fn numbers_round_trip(bits in any::<u64>()) {
            let f = f64::from_bits(bits);
            let mut s = String::new();
            if f.is_finite() {
                write_f64(&mut s, f).expect("finite");
                let back: f64 = s.parse().expect("number text parses");
                if f == 0.0 {
                    prop_assert_eq!(s, "0");
                } else {
                    prop_assert_eq!(back.to_bits(), bits, "{}", s);
                }
            } else {
                prop_assert!(write_f64(&mut s, f).is_err());
            }
        }
    }
}
