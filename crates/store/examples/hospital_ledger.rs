//! Writes the verify benchmark's institution-shaped ledger into a database,
//! for whole-command measurements (`bench/ledger_verify.sh`).
//!
//! `cargo run --release -p celltrail-store --example hospital_ledger -- URL EVENTS`

use celltrail_store::testkit::hospital_ledger;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(events)) = (args.next(), args.next()) else {
        return Err("usage: hospital_ledger DATABASE_URL EVENTS".into());
    };
    let store = celltrail_store::open(&url).await?;
    store.migrate().await?;
    hospital_ledger(store.as_ref(), events.parse()?).await?;
    println!("{} events in {url}", store.event_count().await?);
    Ok(())
}
