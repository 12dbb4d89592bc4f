#!/usr/bin/env bash
# Runs every test: unit tests, and end-to-end tests against the real binaries,
# RabbitMQ, PostgreSQL and an SMTP server (each test with its own database and
# vhost). The fault suite (tests/tests/faults.rs) restarts the local RabbitMQ
# and PostgreSQL; cargo runs test binaries one at a time, so it runs alone.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --workspace --bins
rm -f target/debug/fault-suite-report.txt target/debug/fault-suite-promises.txt
cargo test --workspace "$@"
for report in target/debug/fault-suite-report.txt target/debug/fault-suite-promises.txt; do
  if [ -f "$report" ]; then
    echo; echo "== $(basename "$report" .txt)"; cat "$report"; echo
  fi
done
