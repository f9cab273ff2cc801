#!/usr/bin/env bash
# Whole-command ledger verification on one core, with sha256sum over the same
# file as the floor in the same run:
# - the load-test database (10,000 institutions, 100,000 projects; made once,
#   as bench/public_lookup.sh makes it), from the database and from its export;
# - a synthetic export shaped like one large institution's ledger (200,000
#   events, commands of two events, a checkpoint per 1,000 events);
# - the same shape written through the store into SQLite (200,000 events,
#   bench/out/hospital.db, made once), from the database and its export.
#
#   bench/ledger_verify.sh            # uses bench/out/, builds --release
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out; mkdir -p "$out"
cargo build --release -q -p celltrail
bin=target/release/celltrail
db="sqlite://$out/load.db"
if [ ! -f "$out/load.db" ]; then
  /usr/bin/time -f "load: %e s" "$bin" demo --no-serve --database "$db" --scale 10000 > "$out/load.txt"
fi
"$bin" ledger export --database "$db" --out "$out/load.ndjson"
cargo run --release -q -p celltrail-ledger --example synthetic_export -- "$out/hospital.ndjson" 200000
hdb="sqlite://$out/hospital.db"
if [ ! -f "$out/hospital.db" ]; then
  cargo run --release -q -p celltrail-store --example hospital_ledger -- "$hdb" 200000
fi
"$bin" ledger export --database "$hdb" --out "$out/hospital-db.ndjson"
"$bin" --json ledger verify --database "$db" | tee "$out/verify.json"
"$bin" --json ledger verify --database "$hdb" | tee -a "$out/verify.json"
echo
ls -l "$out/load.ndjson" "$out/hospital.ndjson" "$out/hospital-db.ndjson"
# taskset: the whole command, database driver thread included, on one core.
hyperfine -w 1 -r "${RUNS:-5}" -N --export-markdown "$out/verify.md" \
  "taskset -c 0 $bin ledger verify --file $out/load.ndjson" \
  "taskset -c 0 $bin ledger verify --database $db" \
  "taskset -c 0 sha256sum $out/load.ndjson" \
  "taskset -c 0 $bin ledger verify --file $out/hospital.ndjson" \
  "taskset -c 0 sha256sum $out/hospital.ndjson" \
  "taskset -c 0 $bin ledger verify --database $hdb" \
  "taskset -c 0 $bin ledger verify --file $out/hospital-db.ndjson" \
  "taskset -c 0 sha256sum $out/hospital-db.ndjson"
