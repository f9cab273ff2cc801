//! Allocation-free lowercase hex helpers for the verification hot path.

/// Decodes exactly `2 * N` lowercase hex digits into `N` bytes. Upper-case
/// digits are refused: every hex value the ledger writes is lowercase, so a
/// different spelling is a sign that the text was altered.
pub(crate) fn decode_lower<const N: usize>(s: &str) -> Option<[u8; N]> {
    let bytes = s.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let (hi, lo) = match pair {
            [h, l] => (nibble(*h)?, nibble(*l)?),
            _ => return None,
        };
        *o = (hi << 4) | lo;
    }
    Some(out)
}

/// Lowercase hex of 32 bytes, on the stack.
pub(crate) fn encode_lower_32(bytes: &[u8; 32]) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        if let [hi, lo] = pair {
            *hi = HEX[usize::from(b >> 4)];
            *lo = HEX[usize::from(b & 0x0f)];
        }
    }
    out
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{decode_lower, encode_lower_32};

    #[test]
    fn encodes_like_the_hex_crate() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37));
        assert_eq!(
            encode_lower_32(&bytes).as_slice(),
            hex::encode(bytes).as_bytes()
        );
    }

    #[test]
    fn decodes_and_rejects() {
        assert_eq!(decode_lower::<2>("00ff"), Some([0, 255]));
        assert_eq!(decode_lower::<2>("a1b2"), Some([0xa1, 0xb2]));
        assert_eq!(decode_lower::<2>("00FF"), None);
        assert_eq!(decode_lower::<2>("00f"), None);
        assert_eq!(decode_lower::<2>("00fff"), None);
        assert_eq!(decode_lower::<2>("0g00"), None);
        assert_eq!(decode_lower::<1>("é"), None);
    }
}
