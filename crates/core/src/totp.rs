//! Time-based one-time passwords (RFC 6238, HOTP per RFC 4226, HMAC-SHA1,
//! 6 digits, 30-second steps): the second factor administrators use, in the
//! form every authenticator app reads (`otpauth://totp/...`, base32 secret
//! per RFC 4648).

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per step (RFC 6238 default X = 30).
pub const STEP_SECS: i64 = 30;
pub const DIGITS: u32 = 6;
/// Steps accepted either side of the current one, for clock drift.
pub const WINDOW: i64 = 1;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        acc = (acc << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes base32 (case-insensitive; spaces, dashes and `=` padding ignored).
/// Returns None on any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.chars() {
        if matches!(c, ' ' | '-' | '=') {
            continue;
        }
        let up = c.to_ascii_uppercase();
        let v = ALPHABET.iter().position(|&a| a as char == up)? as u32;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// HOTP value (RFC 4226 section 5.3) with `digits` digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret) {
        Ok(m) => m,
        // HMAC takes keys of any length; this branch cannot be reached.
        Err(_) => return 0,
    };
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = (h[19] & 0x0f) as usize;
    let bin = ((h[offset] as u32 & 0x7f) << 24)
        | ((h[offset + 1] as u32) << 16)
        | ((h[offset + 2] as u32) << 8)
        | h[offset + 3] as u32;
    bin % 10u32.pow(digits.min(9))
}

/// The step number of a Unix time.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// TOTP value at a Unix time (RFC 6238 section 4).
pub fn totp(secret: &[u8], unix_secs: i64, digits: u32) -> u32 {
    hotp(secret, step_at(unix_secs).max(0) as u64, digits)
}

/// Checks a 6-digit code within ±[`WINDOW`] steps. Returns the matching
/// step, which must be later than `last_used_step` (a code is good once).
pub fn verify(
    secret: &[u8],
    code: &str,
    unix_secs: i64,
    last_used_step: Option<i64>,
) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let want: u32 = code.parse().ok()?;
    let now = step_at(unix_secs);
    (now - WINDOW..=now + WINDOW)
        .filter(|s| *s >= 0 && last_used_step.is_none_or(|last| *s > last))
        .find(|s| hotp(secret, *s as u64, DIGITS) == want)
}

/// The enrolment URI authenticator apps read (Key Uri Format).
pub fn otpauth_uri(issuer: &str, account: &str, secret_b32: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc4648_base32_vectors() {
        // RFC 4648 section 10 (without the padding).
        for (plain, enc) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), enc);
            assert_eq!(base32_decode(enc).unwrap(), plain.as_bytes());
        }
        assert_eq!(base32_decode("mzxw 6ytb-oi======").unwrap(), b"foobar");
        assert!(base32_decode("MZXW1").is_none());
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        // RFC 4226 Appendix D: secret "12345678901234567890", counters 0..9.
        let want = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (c, w) in want.iter().enumerate() {
            assert_eq!(
                hotp(b"12345678901234567890", c as u64, 6),
                *w,
                "counter {c}"
            );
        }
    }

    #[test]
    fn rfc6238_totp_sha1_vectors() {
        // RFC 6238 Appendix B, SHA1 rows (8 digits).
        let s = b"12345678901234567890";
        for (t, w) in [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(totp(s, t, 8), w, "T={t}");
        }
    }

    #[test]
    fn verify_accepts_drift_and_refuses_reuse() {
        let s = b"12345678901234567890";
        let t = 1_111_111_111;
        let code = format!("{:06}", totp(s, t - 30, 6));
        let step = verify(s, &code, t, None).unwrap();
        assert_eq!(step, step_at(t - 30));
        assert_eq!(
            verify(s, &code, t, Some(step)),
            None,
            "a used code is refused"
        );
        assert_eq!(verify(s, &code, t + 120, None), None, "outside the window");
        assert_eq!(verify(s, "12345", t, None), None);
        assert_eq!(verify(s, "abcdef", t, None), None);
    }

    #[test]
    fn uri_names_issuer_account_and_parameters() {
        let u = otpauth_uri("CellTrail", "sjh.admin@申江", "JBSWY3DPEHPK3PXP");
        assert!(u.starts_with("otpauth://totp/CellTrail:sjh.admin%40%E7%94%B3%E6%B1%9F?secret=JBSWY3DPEHPK3PXP&issuer=CellTrail"), "{u}");
    }

    proptest! {
        #[test]
        fn base32_round_trips_and_decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64), text in "\\PC{0,40}") {
            prop_assert_eq!(base32_decode(&base32_encode(&data)).unwrap(), data);
            let _ = base32_decode(&text);
            let _ = verify(b"k", &text, 0, None);
        }
    }
}
