//! Organisation keys, seals and checkpoints.
//!
//! A [`Seal`] records that an appended batch of one stream ends in a given
//! hash. It is either signed on its own (`signature`, the format up to
//! export version 1) or it is an entry of an organisation's numbered
//! [`Checkpoint`] (`checkpoint`), whose one signature covers the SHA-256 of
//! every entry's [`seal_message`] in ledger order ([`CheckpointDigest`]).

use std::fmt::{self, Write as _};

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::canonical::write_string;
use crate::LedgerError;

/// The signature algorithm named in keys and seals.
pub const SIG_ALG: &str = "ed25519";

/// The end of one appended batch of one stream, vouched for by an
/// organisation: signed on its own, or as an entry of a [`Checkpoint`].
/// Exactly one of `signature` and `checkpoint` is present.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Seal {
    pub stream: String,
    /// First sequence number the batch added.
    pub first_seq: u64,
    /// Last sequence number the batch added.
    pub last_seq: u64,
    /// Hash of the event with `seq == last_seq`; through the chain it
    /// commits to every earlier event of the stream.
    pub last_hash: String,
    pub org: String,
    pub key_id: String,
    pub alg: String,
    /// Lowercase hex of the 64-byte Ed25519 signature over [`seal_message`],
    /// for a seal signed on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The number of the organisation's checkpoint that signs this entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<u64>,
}

impl Seal {
    /// The bytes this seal contributes: what a lone seal's signature signs,
    /// and what a checkpoint digests.
    pub fn message(&self) -> Vec<u8> {
        seal_message(
            &self.stream,
            self.first_seq,
            self.last_seq,
            &self.last_hash,
            &self.org,
            &self.key_id,
        )
    }
}

/// An organisation's signature over a run of seal entries: every entry
/// carrying its number `n`, in ledger order. Checkpoints of one
/// organisation are numbered 1, 2, 3, … without gaps, and each stands in
/// the ledger after the last entry it covers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Checkpoint {
    pub org: String,
    pub n: u64,
    pub key_id: String,
    pub alg: String,
    /// How many seal entries it covers (at least one).
    pub seals: u64,
    /// Lowercase hex SHA-256 over the entries' [`seal_message`]s, concatenated in ledger order.
    pub digest: String,
    /// Lowercase hex of the Ed25519 signature over [`checkpoint_message`].
    pub signature: String,
}

/// The exact bytes a checkpoint signs: the canonical JSON (RFC 8785) of
/// `{"alg","digest","key_id","n","org","seals"}`.
pub fn checkpoint_message(org: &str, n: u64, key_id: &str, seals: u64, digest: &str) -> Vec<u8> {
    let mut m = String::with_capacity(192 + org.len());
    m.push_str("{\"alg\":");
    write_string(&mut m, SIG_ALG);
    m.push_str(",\"digest\":");
    write_string(&mut m, digest);
    m.push_str(",\"key_id\":");
    write_string(&mut m, key_id);
    let _ = write!(m, ",\"n\":{n},\"org\":");
    write_string(&mut m, org);
    let _ = write!(m, ",\"seals\":{seals}}}");
    m.into_bytes()
}

/// The running digest of a checkpoint's entries, kept by whoever signs a
/// checkpoint and by whoever verifies one, so both hash the same bytes.
#[derive(Clone, Debug, Default)]
pub struct CheckpointDigest {
    hasher: Sha256,
    seals: u64,
}

impl CheckpointDigest {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next entry, in ledger order.
    pub fn add(&mut self, seal: &Seal) {
        self.hasher.update(seal.message());
        self.seals += 1;
    }

    /// How many entries have been added.
    pub fn seals(&self) -> u64 {
        self.seals
    }

    /// The lowercase hex digest of the entries added.
    pub fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}
/// The exact bytes that are signed: the canonical JSON (RFC 8785) of
/// `{"alg","first_seq","key_id","last_hash","last_seq","org","stream"}`.
pub fn seal_message(
    stream: &str,
    first_seq: u64,
    last_seq: u64,
    last_hash: &str,
    org: &str,
    key_id: &str,
) -> Vec<u8> {
    // Written member by member in RFC 8785 order; the names are ASCII, so
    // UTF-16 order is byte order. The integers are written in full (the
    // chain never produces a seq above 2^53, where JCS would stop).
    let mut m = String::with_capacity(192 + stream.len() + org.len());
    m.push_str("{\"alg\":");
    write_string(&mut m, SIG_ALG);
    let _ = write!(m, ",\"first_seq\":{first_seq},\"key_id\":");
    write_string(&mut m, key_id);
    m.push_str(",\"last_hash\":");
    write_string(&mut m, last_hash);
    let _ = write!(m, ",\"last_seq\":{last_seq},\"org\":");
    write_string(&mut m, org);
    m.push_str(",\"stream\":");
    write_string(&mut m, stream);
    m.push('}');
    m.into_bytes()
}

/// A public organisation key as published and exported.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OrgKey {
    pub org: String,
    /// First 16 hex digits of SHA-256 over the 32 public key bytes.
    pub key_id: String,
    pub alg: String,
    /// Lowercase hex of the 32-byte Ed25519 public key.
    pub public_key: String,
}

/// The key id of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id_for(public_key: &[u8; 32]) -> String {
    let digest = Sha256::digest(public_key);
    hex::encode(&digest[..8])
}

impl OrgKey {
    /// Parses and checks the key: algorithm, hex, a valid non-weak curve
    /// point, and a key id that matches the key.
    pub fn verifying_key(&self) -> Result<VerifyingKey, LedgerError> {
        if self.alg != SIG_ALG {
            return Err(LedgerError::Key(format!(
                "key {} uses unsupported algorithm {:?}",
                self.key_id, self.alg
            )));
        }
        if self.org.trim().is_empty() {
            return Err(LedgerError::Key(format!(
                "key {} names no org",
                self.key_id
            )));
        }
        let bytes = crate::hexutil::decode_lower::<32>(&self.public_key).ok_or_else(|| {
            LedgerError::Key(format!(
                "key {}: public_key must be 64 lowercase hex digits",
                self.key_id
            ))
        })?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|e| {
            LedgerError::Key(format!("key {}: not an Ed25519 point: {e}", self.key_id))
        })?;
        if key.is_weak() {
            return Err(LedgerError::Key(format!(
                "key {} is a weak (small-order) key",
                self.key_id
            )));
        }
        let expected = key_id_for(&bytes);
        if expected != self.key_id {
            return Err(LedgerError::Key(format!(
                "key id {} does not match the public key (expected {expected})",
                self.key_id
            )));
        }
        Ok(key)
    }
}

/// An organisation's signing key.
pub struct OrgSigner {
    key: SigningKey,
    org: String,
    key_id: String,
}

impl fmt::Debug for OrgSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.debug_struct("OrgSigner")
            .field("org", &self.org)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl OrgSigner {
    /// A fresh key from 32 bytes of operating-system randomness.
    pub fn generate(org: &str) -> Result<Self, LedgerError> {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret)
            .map_err(|e| LedgerError::Key(format!("no randomness available: {e}")))?;
        let signer = Self::from_secret(org, &secret);
        secret.fill(0);
        signer
    }

    /// Restores a key from the 64 hex digits [`OrgSigner::secret_hex`] gave.
    pub fn from_secret_hex(org: &str, secret_hex: &str) -> Result<Self, LedgerError> {
        let mut secret = [0u8; 32];
        hex::decode_to_slice(secret_hex.trim(), &mut secret)
            .map_err(|_| LedgerError::Key("secret must be 64 hex digits".to_string()))?;
        let signer = Self::from_secret(org, &secret);
        secret.fill(0);
        signer
    }

    fn from_secret(org: &str, secret: &[u8; 32]) -> Result<Self, LedgerError> {
        if org.trim().is_empty() {
            return Err(LedgerError::invalid("org", "must not be empty"));
        }
        let key = SigningKey::from_bytes(secret);
        let key_id = key_id_for(key.verifying_key().as_bytes());
        Ok(OrgSigner {
            key,
            org: org.to_string(),
            key_id,
        })
    }

    /// The 32-byte secret seed as lowercase hex. Handle with care.
    pub fn secret_hex(&self) -> String {
        hex::encode(self.key.to_bytes())
    }

    /// The organisation this key signs for.
    pub fn org(&self) -> &str {
        &self.org
    }

    /// The key id (first 16 hex digits of SHA-256 of the public key).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The public half, as published and exported.
    pub fn public(&self) -> OrgKey {
        OrgKey {
            org: self.org.clone(),
            key_id: self.key_id.clone(),
            alg: SIG_ALG.to_string(),
            public_key: hex::encode(self.key.verifying_key().as_bytes()),
        }
    }

    /// Signs the batch `first_seq..=last_seq` of `stream` ending in `last_hash`.
    pub fn seal(&self, stream: &str, first_seq: u64, last_seq: u64, last_hash: &str) -> Seal {
        let seal = self.unsigned(stream, first_seq, last_seq, last_hash);
        let signature = self.key.sign(&seal.message());
        Seal {
            signature: Some(hex::encode(signature.to_bytes())),
            ..seal
        }
    }

    /// An unsigned entry for the batch `first_seq..=last_seq` of `stream`,
    /// to be signed by this organisation's checkpoint `n`.
    pub fn entry(
        &self,
        stream: &str,
        first_seq: u64,
        last_seq: u64,
        last_hash: &str,
        n: u64,
    ) -> Seal {
        Seal {
            checkpoint: Some(n),
            ..self.unsigned(stream, first_seq, last_seq, last_hash)
        }
    }

    /// The batch's seal as this organisation states it, not yet signed.
    fn unsigned(&self, stream: &str, first_seq: u64, last_seq: u64, last_hash: &str) -> Seal {
        Seal {
            stream: stream.to_string(),
            first_seq,
            last_seq,
            last_hash: last_hash.to_string(),
            org: self.org.clone(),
            key_id: self.key_id.clone(),
            alg: SIG_ALG.to_string(),
            signature: None,
            checkpoint: None,
        }
    }

    /// Signs checkpoint `n` over the entries gathered in `digest`.
    pub fn checkpoint(&self, n: u64, digest: CheckpointDigest) -> Checkpoint {
        let seals = digest.seals();
        let digest = digest.finish();
        let msg = checkpoint_message(&self.org, n, &self.key_id, seals, &digest);
        Checkpoint {
            org: self.org.clone(),
            n,
            key_id: self.key_id.clone(),
            alg: SIG_ALG.to_string(),
            seals,
            digest,
            signature: hex::encode(self.key.sign(&msg).to_bytes()),
        }
    }

    /// Signs arbitrary bytes (tests against published vectors).
    #[cfg(test)]
    pub(crate) fn sign_bytes(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::canonicalize;
    use ed25519_dalek::Signature;

    /// RFC 8032 section 7.1, TEST 1: secret key, public key, and the
    /// signature of the empty message.
    #[test]
    fn rfc8032_test_1() {
        let secret = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
        let public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
        let signature = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065\
                         224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
        let signer = OrgSigner::from_secret_hex("org:test", secret).expect("secret");
        assert_eq!(signer.secret_hex(), secret);
        let key = signer.public();
        assert_eq!(key.public_key, public);
        assert_eq!(key.alg, "ed25519");
        assert_eq!(
            key.key_id,
            &crate::sha256_hex(&hex::decode(public).expect("hex"))[..16]
        );
        assert_eq!(hex::encode(signer.sign_bytes(b"")), signature);
        let vk = key.verifying_key().expect("valid key");
        let sig = Signature::from_bytes(&signer.sign_bytes(b""));
        assert!(vk.verify_strict(b"", &sig).is_ok());
    }

    #[test]
    fn seal_message_is_canonical() {
        let msg = seal_message(
            "study:\"42\"",
            3,
            9,
            &"ab".repeat(32),
            "org:x",
            "0123456789abcdef",
        );
        let text = String::from_utf8(msg).expect("utf8");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(canonicalize(&v).expect("canonical"), text);
        assert_eq!(v["alg"], "ed25519");
        assert_eq!(v["first_seq"], 3);
        assert_eq!(v["last_seq"], 9);
        assert_eq!(v["stream"], "study:\"42\"");
    }

    #[test]
    fn seals_verify_and_keys_check() {
        let signer = OrgSigner::generate("org:a").expect("generate");
        let again = OrgSigner::from_secret_hex("org:a", &signer.secret_hex()).expect("restore");
        assert_eq!(again.public(), signer.public());
        let seal = signer.seal("s", 1, 2, &"0".repeat(64));
        let vk = signer.public().verifying_key().expect("key");
        let sig = Signature::from_bytes(
            &crate::hexutil::decode_lower::<64>(seal.signature.as_deref().expect("signed"))
                .expect("hex"),
        );
        let msg = seal_message("s", 1, 2, &"0".repeat(64), "org:a", signer.key_id());
        assert!(vk.verify_strict(&msg, &sig).is_ok());
        assert!(!format!("{signer:?}").contains(&signer.secret_hex()));

        let mut k = signer.public();
        k.key_id = "0000000000000000".into();
        assert!(matches!(k.verifying_key(), Err(LedgerError::Key(_))));
        let mut k = signer.public();
        k.alg = "rsa".into();
        assert!(k.verifying_key().is_err());
        let mut k = signer.public();
        k.public_key = k.public_key.to_uppercase();
        assert!(k.verifying_key().is_err());
        assert!(OrgSigner::from_secret_hex("org:a", "zz").is_err());
        assert!(OrgSigner::from_secret_hex("", &signer.secret_hex()).is_err());
    }
}
