#!/usr/bin/env bash
# Signal detection on 10,000,000 report-event rows: the release build of
# celltrail-stats against the NumPy/SciPy implementation of the same method
# (bench/signal_peer.py), on one generated file, in one run; then the two
# outputs are compared to 1e-6 relative.
#
#   bench/signal_peer.sh [ROWS]        (default 10000000)
#
# Needs python3 with numpy and scipy; set PYTHON to pick an interpreter, e.g.
#   python3 -m venv /tmp/venv-sig && /tmp/venv-sig/bin/pip install numpy scipy
#   PYTHON=/tmp/venv-sig/bin/python bench/signal_peer.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-10000000}"
PYTHON="${PYTHON:-python3}"
WORK="${SIGNAL_BENCH_DIR:-/tmp/signal-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
mkdir -p "$WORK"
"$PYTHON" -c 'import numpy, scipy; print("numpy", numpy.__version__, "scipy", scipy.__version__)'

cargo build --release -q -p celltrail
CELLTRAIL="$CARGO_TARGET_DIR/release/celltrail"
CSV="$WORK/rows-$ROWS.csv"
if [ ! -s "$CSV" ]; then
  "$CELLTRAIL" --json safety generate --rows "$ROWS" --out "$CSV" > /dev/null
fi
ls -l "$CSV"

run() { # label, output, command...
  local label="$1" out="$2"; shift 2
  echo "== $label"
  if command -v hyperfine >/dev/null 2>&1; then
    hyperfine --runs 1 --export-json "$WORK/$label.hyperfine.json" "$* > $out"
  else
    /usr/bin/time -f "$label: %e s wall, %U s user, %M KiB max RSS" "$@" > "$out"
  fi
}

run rust "$WORK/rust.json" "$CELLTRAIL" signal --input "$CSV" --json
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE slow a current NumPy where they are
# set; the peer uses no BLAS-heavy routine, but clear them for this run only.
run numpy "$WORK/numpy.json" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PYTHON" bench/signal_peer.py "$CSV"
"$PYTHON" bench/signal_compare.py "$WORK/rust.json" "$WORK/numpy.json" 1e-6
