//! The error type shared by every fallible operation of the crate except
//! verification, which reports a [`crate::Break`] instead.

/// Why a ledger operation could not be carried out.
#[derive(thiserror::Error, Debug)]
pub enum LedgerError {
    /// The value cannot be expressed in RFC 8785 canonical JSON (for example an
    /// integer beyond 2^53, which an IEEE-754 double cannot hold exactly).
    #[error("cannot canonicalize: {0}")]
    Canonical(String),
    /// A field of an event (or of a key) is missing, empty or malformed.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The name of the offending field, e.g. `"reason"`.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A signing or verifying key is malformed, weak or inconsistent.
    #[error("key error: {0}")]
    Key(String),
    /// JSON (de)serialisation failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl LedgerError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        LedgerError::Invalid {
            field,
            message: message.into(),
        }
    }
}
