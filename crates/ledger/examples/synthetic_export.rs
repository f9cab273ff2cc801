//! Writes the synthetic institution-shaped ledger of the verification
//! benchmark as an export, for whole-command benchmarks of
//! `celltrail ledger verify --file` (see `bench/ledger_verify.sh`).
//!
//!   cargo run --release -p celltrail-ledger --example synthetic_export -- OUT [EVENTS]

#[path = "../benches/support/mod.rs"]
mod support;

use std::io::{BufWriter, Write};

use celltrail_ledger::export::{write_line, ExportLine};
use support::Item;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = args.next().expect("usage: synthetic_export OUT [EVENTS]");
    let events: u64 = args.next().map_or(200_000, |n| n.parse().expect("EVENTS"));
    let signer = support::signer();
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&out)?);
    write_line(&mut w, &ExportLine::header("2026-11-23T00:00:00.000Z"))?;
    write_line(&mut w, &ExportLine::Key(signer.public()))?;
    let mut result = Ok(());
    support::ledger(&signer, events, true, |item| {
        let line = match item {
            Item::Event(ev) => ExportLine::event(&ev),
            Item::Seal(s) => ExportLine::Seal(s),
            Item::Checkpoint(c) => ExportLine::Checkpoint(c),
        };
        if result.is_ok() {
            result = write_line(&mut w, &line);
        }
    });
    result?;
    w.flush()
}
