//! Store errors. Every error carries a stable machine-readable `code`; the web
//! layer maps codes to HTTP statuses and to messages (`error.<code>`) in the
//! request's language.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Input was rejected (400/422).
    Invalid,
    /// The caller may not do this (403).
    Forbidden,
    /// The record does not exist, or is not visible to the caller (404).
    NotFound,
    /// The request conflicts with the current state (409).
    Conflict,
    /// Authentication is missing or wrong (401).
    Unauthenticated,
    /// Infrastructure failure (500/503).
    Internal,
}

#[derive(Debug, Clone)]
pub struct StoreError {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub field: Option<String>,
    pub detail: String,
    /// Named values for the localised message template.
    pub args: Vec<(String, String)>,
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    pub fn new(kind: ErrorKind, code: &'static str, detail: impl Into<String>) -> Self {
        StoreError {
            kind,
            code,
            field: None,
            detail: detail.into(),
            args: Vec::new(),
        }
    }
    pub fn invalid(code: &'static str, field: &str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, code, detail).with_field(field)
    }
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, code, detail)
    }
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, code, detail)
    }
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, code, detail)
    }
    pub fn unauthenticated(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, code, detail)
    }
    pub fn internal(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, code, detail)
    }
    pub fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }
    pub fn with_arg(mut self, name: &str, value: impl Into<String>) -> Self {
        self.args.push((name.to_string(), value.into()));
        self
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)?;
        if let Some(field) = &self.field {
            write!(f, " (field {field})")?;
        }
        Ok(())
    }
}

impl std::error::Error for StoreError {}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return StoreError::conflict("duplicate_record", db.message().to_string());
            }
        }
        StoreError::internal("database_error", e.to_string())
    }
}

impl From<celltrail_ledger::LedgerError> for StoreError {
    fn from(e: celltrail_ledger::LedgerError) -> Self {
        match e {
            celltrail_ledger::LedgerError::Invalid { field, message } => {
                StoreError::invalid("ledger_event_invalid", field, message)
            }
            other => StoreError::internal("ledger_error", other.to_string()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::internal("serialization_error", e.to_string())
    }
}
