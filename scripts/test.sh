#!/usr/bin/env bash
# Runs every test: unit, property, story (SQLite and PostgreSQL), CLI and
# browser tests. Installs the browser it needs from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# fonts-wqy-zenhei: Chinese glyphs in the browser tests' screenshots.
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-wqy-zenhei >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian chromium, chromium-driver and a CJK font for the browser tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-zenhei >/dev/null
  else
    echo "browser tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)" >&2
    exit 1
  fi
fi

# PostgreSQL variants of every storage and story test.
export CELLTRAIL_TEST_PG_URL="${CELLTRAIL_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"

cargo test --workspace --all-targets
