//! CellTrail's ledger: the source of truth for regulated data.
//!
//! # Envelope
//! Every change is an [`Event`]. Its `body` is the RFC 8785 canonical JSON
//! ([`canonical::canonicalize`]) of the envelope
//! `{"actor","alg":"sha256","kind","org","payload","prev_hash","reason","seq","stream","time"}`,
//! and its `hash` is the lowercase hex SHA-256 of the body's UTF-8 bytes.
//! The body text is what is stored and what is verified; the other fields of
//! [`Event`] are a parsed convenience copy. A reason for every change is
//! mandatory, and the caller supplies the RFC 3339 time.
//!
//! # Chain
//! Events form one hash chain per stream: the first has `seq` 1 and
//! `prev_hash` [`GENESIS_HASH`]; each later one has the next `seq` and the
//! previous event's hash as `prev_hash` ([`Event::chain`]). Altering,
//! removing, reordering or inserting an event breaks the chain after it.
//!
//! # Seals and checkpoints
//! Each organisation holds an Ed25519 key ([`OrgSigner`]; public half
//! [`OrgKey`], whose `key_id` is the first 16 hex digits of the SHA-256 of
//! the public key). Every appended batch of a stream gets a [`Seal`]: the
//! stream, the batch's first and last seq, the last event's hash, the org
//! and the key id ([`seal_message`]). As the last hash commits to the whole
//! chain before it, a seal also covers every earlier event, and it catches a
//! removed or rewritten tail.
//!
//! A seal is signed in one of two ways. Since export version 2 it is an
//! entry of its organisation's numbered [`Checkpoint`]: one signature over
//! the SHA-256 of all the entries' messages in ledger order
//! ([`CheckpointDigest`], [`checkpoint_message`]), as a transparency log
//! signs a tree head instead of every leaf. Verification then costs one
//! signature check per checkpoint rather than per append. Seals of version 1
//! carry a signature each and stay valid.
//!
//! # Verification
//! [`Verifier`] checks a ledger in one pass with constant memory per stream
//! (and per organisation with an open checkpoint). Keys are added first;
//! then, per stream, events in `seq` order, each seal right after the event
//! with `seq == seal.last_seq` (streams may interleave), each checkpoint
//! after the last entry it signs. [`Verifier::finish`] then requires every
//! stream to be sealed up to its last event and every entry signed
//! ([`Verifier::finish_pending`] counts unsigned newest entries instead, for
//! a live database). The first problem is reported as a [`Break`] naming
//! stream, seq and [`BreakKind`]. [`export`] writes the same sequence as
//! NDJSON that [`export::verify_reader`] verifies with no database.
//!
//! Dropping whole sealed batches from the end of a stream leaves a shorter
//! but consistent ledger; that is only visible against stream heads or
//! seals kept elsewhere (for instance, seals handed to each organisation).

pub mod canonical;
mod error;
pub mod event;
pub mod export;
mod head;
mod hexutil;
pub mod seal;
pub mod verify;

pub use error::LedgerError;
pub use event::{sha256_hex, Event, NewEvent, GENESIS_HASH, HASH_ALG};
pub use seal::{
    checkpoint_message, key_id_for, seal_message, Checkpoint, CheckpointDigest, OrgKey, OrgSigner,
    Seal, SIG_ALG,
};
pub use verify::{Break, BreakKind, Summary, Verifier};
