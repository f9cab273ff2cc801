//! A small in-memory ledger for the integration tests: events chained per
//! stream, each appended batch sealed per stream (signed at once, or as
//! entries of the organisation's next checkpoint), in ledger order.
#![allow(dead_code)]

use std::collections::HashMap;

use celltrail_ledger::export::{write_line, ExportLine};
use celltrail_ledger::{
    Break, Checkpoint, CheckpointDigest, Event, NewEvent, OrgKey, OrgSigner, Seal, Summary,
    Verifier, GENESIS_HASH,
};
use serde_json::json;

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Event(Event),
    Seal(Seal),
    Checkpoint(Checkpoint),
}

#[derive(Clone, Debug, Default)]
pub struct Ledger {
    pub keys: Vec<OrgKey>,
    pub items: Vec<Item>,
    heads: HashMap<String, (u64, String)>,
    /// Per organisation: the number of its last checkpoint.
    checkpoints: HashMap<String, u64>,
}

impl Ledger {
    pub fn new(keys: Vec<OrgKey>) -> Self {
        Ledger {
            keys,
            ..Ledger::default()
        }
    }

    /// Appends a batch (streams may interleave), then seals each stream the
    /// batch touched, right after the batch, each seal signed on its own.
    pub fn append(&mut self, signer: &OrgSigner, batch: Vec<NewEvent>) {
        for (stream, first, last, hash) in self.chain(batch) {
            self.items
                .push(Item::Seal(signer.seal(&stream, first, last, &hash)));
        }
    }

    /// As [`Ledger::append`], but the seals are entries of the signer's
    /// next checkpoint, which [`Ledger::checkpoint`] signs later.
    pub fn append_pending(&mut self, signer: &OrgSigner, batch: Vec<NewEvent>) {
        let n = self.checkpoints.get(signer.org()).copied().unwrap_or(0) + 1;
        for (stream, first, last, hash) in self.chain(batch) {
            self.items
                .push(Item::Seal(signer.entry(&stream, first, last, &hash, n)));
        }
    }

    /// Signs the signer's open checkpoint over its entries so far; returns
    /// its number, or None when no entry waits.
    pub fn checkpoint(&mut self, signer: &OrgSigner) -> Option<u64> {
        let n = self.checkpoints.get(signer.org()).copied().unwrap_or(0) + 1;
        let mut digest = CheckpointDigest::new();
        for it in &self.items {
            if let Item::Seal(s) = it {
                if s.org == signer.org() && s.checkpoint == Some(n) {
                    digest.add(s);
                }
            }
        }
        if digest.seals() == 0 {
            return None;
        }
        self.items
            .push(Item::Checkpoint(signer.checkpoint(n, digest)));
        self.checkpoints.insert(signer.org().to_string(), n);
        Some(n)
    }

    /// Chains a batch; returns (stream, first seq, last seq, last hash) per
    /// stream touched, in order of first touch.
    fn chain(&mut self, batch: Vec<NewEvent>) -> Vec<(String, u64, u64, String)> {
        let mut touched: Vec<(String, u64)> = Vec::new();
        for ne in batch {
            let (prev_seq, prev_hash) = self
                .heads
                .get(&ne.stream)
                .cloned()
                .unwrap_or((0, GENESIS_HASH.to_string()));
            let ev = Event::chain(ne, prev_seq, &prev_hash).expect("valid event");
            self.heads
                .insert(ev.stream.clone(), (ev.seq, ev.hash.clone()));
            if !touched.iter().any(|(s, _)| *s == ev.stream) {
                touched.push((ev.stream.clone(), ev.seq));
            }
            self.items.push(Item::Event(ev));
        }
        touched
            .into_iter()
            .map(|(stream, first)| {
                let (last, hash) = self.heads[&stream].clone();
                (stream, first, last, hash)
            })
            .collect()
    }

    pub fn verify(&self) -> Result<Summary, Break> {
        verify_items(&self.keys, &self.items)
    }

    /// Index of the event (stream, seq) in `items`.
    pub fn pos(&self, stream: &str, seq: u64) -> usize {
        self.items
            .iter()
            .position(|it| matches!(it, Item::Event(e) if e.stream == stream && e.seq == seq))
            .expect("event exists")
    }

    /// Index of the seal of `stream` ending at `last_seq`.
    pub fn seal_pos(&self, stream: &str, last_seq: u64) -> usize {
        self.items
            .iter()
            .position(
                |it| matches!(it, Item::Seal(s) if s.stream == stream && s.last_seq == last_seq),
            )
            .expect("seal exists")
    }

    pub fn event_mut(&mut self, stream: &str, seq: u64) -> &mut Event {
        let i = self.pos(stream, seq);
        match &mut self.items[i] {
            Item::Event(e) => e,
            _ => unreachable!("pos returns events"),
        }
    }

    pub fn seal_mut(&mut self, stream: &str, last_seq: u64) -> &mut Seal {
        let i = self.seal_pos(stream, last_seq);
        match &mut self.items[i] {
            Item::Seal(s) => s,
            _ => unreachable!("seal_pos returns seals"),
        }
    }

    /// The NDJSON export of this ledger, items in order.
    pub fn export(&self) -> Vec<u8> {
        let mut out = Vec::new();
        write_line(&mut out, &ExportLine::header("2026-05-01T08:00:00.000Z")).expect("write");
        for k in &self.keys {
            write_line(&mut out, &ExportLine::Key(k.clone())).expect("write");
        }
        for it in &self.items {
            let line = match it {
                Item::Event(e) => ExportLine::event(e),
                Item::Seal(s) => ExportLine::Seal(s.clone()),
                Item::Checkpoint(c) => ExportLine::Checkpoint(c.clone()),
            };
            write_line(&mut out, &line).expect("write");
        }
        out
    }
}

pub fn verify_items(keys: &[OrgKey], items: &[Item]) -> Result<Summary, Break> {
    feed(keys, items)?.finish()
}

/// A verifier fed every item, not yet finished.
pub fn feed(keys: &[OrgKey], items: &[Item]) -> Result<Verifier, Break> {
    let mut v = Verifier::new();
    for k in keys {
        v.add_key(k).expect("valid key");
    }
    for it in items {
        feed_one(&mut v, it)?;
    }
    Ok(v)
}

pub fn feed_one(v: &mut Verifier, it: &Item) -> Result<(), Break> {
    match it {
        Item::Event(e) => v.event(&e.body, &e.hash),
        Item::Seal(s) => v.seal(s),
        Item::Checkpoint(c) => v.checkpoint(c),
    }
}

/// A clinical-research style event (an adverse-event report).
pub fn filing(stream: &str, org: &str, n: u64) -> NewEvent {
    NewEvent {
        stream: stream.to_string(),
        kind: "ae.reported".to_string(),
        payload: json!({
            "subject": format!("SUBJ-{n:05}"),
            "site": "DE-BER-03",
            "visit": "Day 28",
            "term": "Cytokine release syndrome",
            "grade": n % 5,
            "serious": n & 1 == 0,
            "onset": "2026-04-28",
            "dose_ml": 12.5
        }),
        actor: "user:alice".to_string(),
        org: org.to_string(),
        time: "2026-05-01T08:00:00.000Z".to_string(),
        reason: "reported at visit".to_string(),
    }
}

/// Re-chains `event` at `seq` after `prev_hash`, recomputing its hash, as a
/// forger with no signing key could.
pub fn rechain(event: &Event, seq: u64, prev_hash: &str) -> Event {
    Event::chain(event.to_new(), seq - 1, prev_hash).expect("valid event")
}
