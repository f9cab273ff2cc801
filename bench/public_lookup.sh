#!/usr/bin/env bash
# Public lookup under load: 10,000 institutions and 100,000 filed projects on
# the embedded SQLite database, wrk on 127.0.0.1. The baseline, /healthz on the
# same server with the same wrk settings, runs in the same session.
#
#   bench/public_lookup.sh            # uses bench/out/, builds --release
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out; mkdir -p "$out"
cargo build --release -q -p celltrail
bin=target/release/celltrail
db="sqlite://$out/load.db"
if [ ! -f "$out/load.db" ]; then
  /usr/bin/time -f "load: %e s" "$bin" demo --no-serve --database "$db" --scale 10000 > "$out/load.txt"
fi
python3 - "$out/load.db" "$out" <<'PY'
import sqlite3, sys, os
con = sqlite3.connect(sys.argv[1])
out = sys.argv[2]
rows = con.execute("SELECT uscc, name_zh, name_en, city_zh, city_en FROM organisations WHERE id LIKE 'org-load-%'").fetchall()
def write(name, lines):
    with open(os.path.join(out, name), "w") as f:
        f.write("".join(l + "\n" for l in lines))
write("codes.txt", [r[0] for r in rows])
write("names_full.txt", [r[2] for r in rows])
# What people type: the name without its city, in either language.
write("names_part.txt", [r[2][len(r[4]) + 1:] for r in rows] + [r[1][len(r[3]):] for r in rows])
PY
port=18080
"$bin" serve --database "$db" --bind 127.0.0.1:$port 2> "$out/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
threads=${THREADS:-1}; conns=${CONNS:-32}; dur=${DUR:-15s}
run() { echo "== $1"; wrk -t"$threads" -c"$conns" -d"$dur" --latency -s bench/random_lookup.lua "http://127.0.0.1:$port$2" | grep -E "Requests/sec|99%|50%|Non-2xx"; }
run "baseline /healthz" "/healthz"
run "filing number lookup (JSON)" "/api/v1/public/projects/"
run "filing number lookup (HTML page)" "/public/project/"
run "institution page (JSON)" "/api/v1/public/institutions/"
run "institution page (HTML)" "/public/org/"
run "institution search by code (JSON)" "/api/v1/public/institutions?q=CODE"
run "institution search by name without the city, zh or en (JSON)" "/api/v1/public/institutions?q=PART"
run "institution search by whole name (JSON)" "/api/v1/public/institutions?q=FULL"
