#!/usr/bin/env bash
# Runs every test: unit, property, story (SQLite and PostgreSQL), CLI and
# browser tests. Installs the browser it needs from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# fonts-wqy-zenhei: Chinese glyphs in the browser tests' screenshots.
# dmtx-utils and zbar-tools: peer decoders that read CellTrail's barcodes.
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-wqy-zenhei >/dev/null 2>&1 \
  || ! command -v dmtxread >/dev/null 2>&1 || ! command -v zbarimg >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian chromium, chromium-driver, a CJK font and barcode readers for the tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-zenhei dmtx-utils zbar-tools >/dev/null
  else
    echo "the tests need Debian's chromium, chromium-driver, dmtx-utils and zbar-tools (apt-get install chromium chromium-driver dmtx-utils zbar-tools)" >&2
    exit 1
  fi
fi

# PostgreSQL variants of every storage and story test.
export CELLTRAIL_TEST_PG_URL="${CELLTRAIL_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"

# Each PostgreSQL test works in a schema of its own (t_<unix time>_<random>);
# drop those of runs more than a day old (a run in progress keeps its own).
if command -v psql >/dev/null 2>&1; then
  psql -q "$CELLTRAIL_TEST_PG_URL" -v ON_ERROR_STOP=0 -c "DO \$\$ DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace WHERE nspname ~ '^t_[0-9]+_[0-9a-f]+\$' AND split_part(nspname, '_', 2)::bigint < extract(epoch FROM now()) - 86400 LOOP EXECUTE format('DROP SCHEMA %I CASCADE', s); END LOOP; END \$\$;" >/dev/null 2>&1 || true
fi

cargo test --workspace --all-targets
