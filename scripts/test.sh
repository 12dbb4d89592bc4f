#!/usr/bin/env bash
# Runs every test: unit tests, and end-to-end tests against the real binaries,
# RabbitMQ, PostgreSQL and an SMTP server (each test with its own database and
# vhost). The fault suite (tests/tests/faults.rs) restarts the local RabbitMQ
# and PostgreSQL; cargo runs test binaries one at a time, so it runs alone.
# tests/tests/cluster.rs starts three more RabbitMQ nodes (5673-5675) beside
# the system one, stops the leaders of the work queues mid-week, and removes them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --workspace --bins
rm -f target/debug/fault-suite-report.txt target/debug/fault-suite-promises.txt target/debug/fault-suite-cluster.txt
cargo test --workspace "$@"
for report in target/debug/fault-suite-report.txt target/debug/fault-suite-promises.txt target/debug/fault-suite-cluster.txt; do
  if [ -f "$report" ]; then
    echo; echo "== $(basename "$report" .txt)"; cat "$report"; echo
  fi
done
