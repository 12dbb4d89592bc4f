#!/usr/bin/env bash
# Runs every test: unit tests, and end-to-end tests against the real binaries,
# RabbitMQ, PostgreSQL and an SMTP server (each test with its own database and vhost).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --workspace --bins
cargo test --workspace "$@"
