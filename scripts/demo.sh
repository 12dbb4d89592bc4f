#!/usr/bin/env bash
# Runs firstweek on this machine: installs and starts what is missing, builds,
# starts the scheduler and a worker against a real SMTP server, plays a demo
# cohort of 20 pairs with a compressed clock (the week in about a minute),
# then prints what each pair received and why.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --workspace --bins
exec cargo run --quiet -p firstweek-tests --bin firstweek-demo -- "$@"
