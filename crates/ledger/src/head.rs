//! Reading the four members verification needs (`alg`, `prev_hash`, `seq`,
//! `stream`) out of a stored body without a general JSON parser.
//!
//! Every body CellTrail writes is canonical (RFC 8785): the ten envelope
//! members in one order, no whitespace. [`scan`] reads exactly that shape
//! and checks the JSON grammar of every member it skips, so anything it
//! accepts the general parser accepts too, with the same four values. It
//! gives up (`None`) at the first thing outside that narrow shape (a
//! backslash in any string, whitespace, another member order, a number that
//! is not a plain `seq`, deep nesting), and the caller then asks the general
//! parser, which decides. So a damaged or foreign body is judged exactly as
//! before; only the common case is quicker. A property test below holds the
//! two readers to the same answers.

/// The members verification reads, borrowed from the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadRef<'a> {
    pub alg: &'a str,
    pub prev_hash: &'a str,
    pub seq: u64,
    pub stream: &'a str,
}

/// Nesting the scanner follows inside a skipped value; deeper values go to
/// the general parser (whose own limit is 128).
const MAX_DEPTH: u32 = 64;

/// Reads a canonical envelope; `None` when the body is not plainly one.
pub(crate) fn scan(body: &str) -> Option<HeadRef<'_>> {
    let mut s = Scanner {
        text: body,
        b: body.as_bytes(),
        i: 0,
    };
    s.lit(b"{\"actor\":")?;
    s.value(0)?;
    s.lit(b",\"alg\":")?;
    let alg = s.string()?;
    s.lit(b",\"kind\":")?;
    s.value(0)?;
    s.lit(b",\"org\":")?;
    s.value(0)?;
    s.lit(b",\"payload\":")?;
    s.value(0)?;
    s.lit(b",\"prev_hash\":")?;
    let prev_hash = s.string()?;
    s.lit(b",\"reason\":")?;
    s.value(0)?;
    s.lit(b",\"seq\":")?;
    let seq = s.seq()?;
    s.lit(b",\"stream\":")?;
    let stream = s.string()?;
    s.lit(b",\"time\":")?;
    s.value(0)?;
    s.lit(b"}")?;
    (s.i == s.b.len()).then_some(HeadRef {
        alg,
        prev_hash,
        seq,
        stream,
    })
}

struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn lit(&mut self, want: &[u8]) -> Option<()> {
        let end = self.i.checked_add(want.len())?;
        (self.b.get(self.i..end)? == want).then(|| self.i = end)
    }

    /// A string with no escape and no control character; its contents.
    fn string(&mut self) -> Option<&'a str> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let rest = self.b.get(start..)?;
        let len = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        self.i = start + len + 1;
        // Both ends are ASCII quotes, so they sit on character boundaries.
        self.text.get(start..start + len)
    }

    /// `seq`: a plain non-negative integer that fits in 64 bits.
    fn seq(&mut self) -> Option<u64> {
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.i += 1;
        }
        let digits = self.i - start;
        // No leading zero, and no fraction or exponent (those are not u64).
        if digits == 0 || (digits > 1 && self.b[start] == b'0') {
            return None;
        }
        Some(n)
    }

    /// Any JSON value, checked against the grammar and skipped.
    fn value(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.string()?;
                    self.lit(b":")?;
                    self.value(depth + 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.value(depth + 1)?;
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.lit(b"true"),
            b'f' => self.lit(b"false"),
            b'n' => self.lit(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.digits1()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.digits1()?;
        }
        // A digit right after a lone leading zero ("01") is not JSON.
        match self.peek() {
            Some(b'0'..=b'9') => None,
            _ => Some(()),
        }
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    fn digits1(&mut self) -> Option<()> {
        let start = self.i;
        self.digits();
        (self.i > start).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Head;
    use proptest::prelude::*;

    /// The general parser's reading, as the scanner reports it.
    fn general(body: &str) -> Option<(String, String, u64, String)> {
        let h: Head<'_> = serde_json::from_str(body).ok()?;
        Some((
            h.alg.into_owned(),
            h.prev_hash.into_owned(),
            h.seq,
            h.stream.into_owned(),
        ))
    }

    fn fast(body: &str) -> Option<(String, String, u64, String)> {
        scan(body).map(|h| {
            (
                h.alg.to_string(),
                h.prev_hash.to_string(),
                h.seq,
                h.stream.to_string(),
            )
        })
    }

    /// Whenever the scanner answers, the general parser gives the same.
    fn agrees(body: &str) {
        if let Some(f) = fast(body) {
            assert_eq!(Some(f), general(body), "{body}");
        }
    }

    fn envelope(payload: &str, seq: &str) -> String {
        format!(
            "{{\"actor\":\"user:u1\",\"alg\":\"sha256\",\"kind\":\"filing.submitted\",\"org\":\"org:sjh\",\"payload\":{payload},\"prev_hash\":\"{}\",\"reason\":\"提交备案\",\"seq\":{seq},\"stream\":\"filing:f-1\",\"time\":\"2026-05-01T08:00:00.000Z\"}}",
            "0".repeat(64)
        )
    }

    #[test]
    fn reads_a_canonical_body_and_its_members() {
        // A body as the ledger writes it (RFC 8785: sorted keys, no spaces).
        let ev = crate::Event::chain(
            crate::NewEvent {
                stream: "project:p-9".into(),
                kind: "project.filed".into(),
                payload: serde_json::json!({"n": [1, -2.5e3, true, null, {"细胞": "CAR-T"}], "z": {}}),
                actor: "user:officer".into(),
                org: "org:nhc".into(),
                time: "2026-05-01T08:00:00.000Z".into(),
                reason: "filed".into(),
            },
            0,
            crate::GENESIS_HASH,
        )
        .expect("event");
        let h = scan(&ev.body).expect("canonical body scans");
        assert_eq!(
            (h.alg, h.prev_hash, h.seq, h.stream),
            ("sha256", crate::GENESIS_HASH, 1, "project:p-9")
        );
        agrees(&ev.body);
    }

    #[test]
    fn leaves_everything_else_to_the_general_parser() {
        for (payload, seq) in [
            ("{\"a\":\"x\\ny\"}", "1"), // an escape
            ("{\"a\": 1}", "1"),        // whitespace
            ("{\"a\":01}", "1"),        // not JSON
            ("{\"a\":1.}", "1"),
            ("{\"a\":-}", "1"),
            ("{\"a\":1e}", "1"),
            ("{\"a\":[1,]}", "1"),
            ("{\"a\":1,}", "1"),
            ("{\"a\" :1}", "1"),
            ("{\"a\":tru}", "1"),
            ("{1:1}", "1"),
            ("{}", "01"),
            ("{}", "-1"),
            ("{}", "1.0"),
            ("{}", "1e2"),
            ("{}", "18446744073709551616"),
        ] {
            let body = envelope(payload, seq);
            assert_eq!(scan(&body), None, "{body}");
        }
        // The largest u64 and the JSON numbers the grammar allows are read.
        let body = envelope("[0,-0,1.5,-2E+3,4e-7,1E9]", "18446744073709551615");
        assert_eq!(scan(&body).map(|h| h.seq), Some(u64::MAX));
        agrees(&body);
        let deep = format!("{}1{}", "[".repeat(70), "]".repeat(70));
        assert_eq!(scan(&envelope(&deep, "1")), None);
        let ok = format!("{}1{}", "[".repeat(60), "]".repeat(60));
        assert!(scan(&envelope(&ok, "1")).is_some());
        // Members out of order, missing, extra, or text after the end.
        let body = envelope("{}", "1");
        assert_eq!(scan(&body.replacen("\"actor\"", "\"actor2\"", 1)), None);
        assert_eq!(scan(&format!("{body} ")), None);
        assert_eq!(scan(&body[..body.len() - 1]), None);
        assert_eq!(scan(""), None);
    }

    /// Fragments that JSON values are made of, valid and not.
    fn fragment() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "\"a\"",
            "\"细胞\"",
            "\"\\n\"",
            "\"",
            "\\",
            "0",
            "-0",
            "1",
            "01",
            "1.5",
            "1.",
            ".5",
            "-",
            "1e5",
            "1E+5",
            "1e",
            "-2.5e-3",
            "true",
            "false",
            "null",
            "tru",
            "[",
            "]",
            "{",
            "}",
            ",",
            ":",
            " ",
            "\u{1}",
            "[]",
            "{}",
            "{\"k\":1}",
            "[1,2]",
            "[1,]",
            "{\"k\"}",
        ])
        .prop_map(str::to_string)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Random payloads built from JSON fragments: where the scanner
        /// answers, the general parser answers the same.
        #[test]
        fn scanner_agrees_with_the_general_parser(
            parts in prop::collection::vec(fragment(), 0..12),
            seq in prop::sample::select(vec!["0", "1", "42", "007", "1.0", "-3", "99999999999999999999"]),
        ) {
            let body = envelope(&parts.concat(), seq);
            agrees(&body);
        }

        /// Any text at all: no panic, and agreement where it answers.
        #[test]
        fn scanner_never_panics(body in ".{0,300}") {
            agrees(&body);
        }

        /// A canonical body with any payload is read as the parser reads it.
        #[test]
        fn scanner_reads_canonical_bodies(
            keys in prop::collection::vec("[a-z细胞]{1,6}", 0..6),
            words in prop::collection::vec(".{0,12}", 0..6),
            seq in 1u64..(1u64 << 53),
        ) {
            let payload: serde_json::Map<String, serde_json::Value> = keys
                .into_iter()
                .zip(words)
                .map(|(k, w)| (k, serde_json::Value::String(w)))
                .collect();
            let body = crate::canonical::canonicalize(&serde_json::json!({
                "actor": "user:u", "alg": "sha256", "kind": "k", "org": "org:o",
                "payload": payload, "prev_hash": crate::GENESIS_HASH, "reason": "r",
                "seq": seq, "stream": "s:1", "time": "2026-05-01T08:00:00.000Z",
            })).expect("canonical");
            agrees(&body);
            // Plain text (no character that must be escaped) always scans.
            if !body.contains('\\') {
                prop_assert!(scan(&body).is_some(), "{}", body);
            }
        }
    }
}
