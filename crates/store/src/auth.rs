//! Password hashing (argon2id) and secret helpers.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use celltrail_ledger::sha256_hex;

use crate::error::{StoreError, StoreResult};

/// OWASP ASVS 4.0.3 V2.1.1: passwords of at least 12 characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Checks the password policy and returns an argon2id PHC string
/// (argon2 crate defaults: m=19456 KiB, t=2, p=1, the OWASP minimum).
pub fn hash_password(password: &str) -> StoreResult<String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(StoreError::invalid(
            "password_too_short",
            "password",
            format!("{n} characters"),
        )
        .with_arg("min", MIN_PASSWORD_CHARS.to_string()));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(StoreError::invalid(
            "password_too_long",
            "password",
            format!("{n} characters"),
        )
        .with_arg("max", MAX_PASSWORD_CHARS.to_string()));
    }
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt)
        .map_err(|e| StoreError::internal("random_unavailable", e.to_string()))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| StoreError::internal("password_hash_error", e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::internal("password_hash_error", e.to_string()))
}

/// Constant-time verification against a stored PHC string.
pub fn verify_password(stored: &str, password: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A random secret as lowercase hex (`bytes` random bytes).
pub fn random_hex(bytes: usize) -> StoreResult<String> {
    let mut b = vec![0u8; bytes];
    getrandom::getrandom(&mut b)
        .map_err(|e| StoreError::internal("random_unavailable", e.to_string()))?;
    Ok(hex::encode(b))
}

/// SHA-256 of a secret, for storing session ids and API tokens.
pub fn secret_digest(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip_and_policy() {
        let h = hash_password("correct horse battery").unwrap();
        // PHC string format names the algorithm and version 0x13 (RFC 9106).
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse batterx"));
        assert!(!verify_password("not a phc string", "x"));
        assert_eq!(
            hash_password("short").unwrap_err().code,
            "password_too_short"
        );
    }

    #[test]
    fn argon2id_uses_owasp_minimum_parameters() {
        // OWASP Password Storage Cheat Sheet: argon2id with at least
        // m=19 MiB (19456 KiB), t=2, p=1.
        let h = hash_password("a sufficiently long password").unwrap();
        assert!(h.contains("m=19456,t=2,p=1"), "{h}");
    }
}
