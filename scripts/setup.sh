#!/usr/bin/env bash
# Makes sure what firstweek needs on this machine is installed and running:
# PostgreSQL and RabbitMQ (started if down), aiosmtpd for the SMTP capture server, and Chromium
# with its ChromeDriver for the real-browser test (tests/tests/browser.rs).
set -euo pipefail

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi

if ! rabbitmq-diagnostics -q check_running >/dev/null 2>&1; then
  say "starting RabbitMQ"
  rabbitmq-server -detached || true
  for _ in $(seq 1 60); do rabbitmq-diagnostics -q check_running >/dev/null 2>&1 && break; sleep 1; done
fi
rabbitmq-diagnostics -q check_running >/dev/null

if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  say "installing aiosmtpd (the SMTP capture server)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore aiosmtpd
fi

if ! python3 -c 'import schemathesis' 2>/dev/null; then
  say "installing schemathesis (the events API's property-based tests)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore schemathesis
fi

if ! python3 -c 'import standardwebhooks' 2>/dev/null; then
  say "installing standardwebhooks (the webhook receiver verifies signatures with it)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore standardwebhooks
fi

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  say "installing chromium and chromium-driver (the real-browser test)"
  # Debian's builds: a test tool's own browser download cannot reach its servers here.
  export DEBIAN_FRONTEND=noninteractive
  # Quiet unless it fails (debconf chatters on stderr even with -qq).
  if ! out=$({ apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver; } 2>&1); then
    printf '%s\n' "$out" >&2
    exit 1
  fi
fi

# axe-core, pinned in scripts/axe/package-lock.json, for the reader's check
# (tests/tests/reader.rs injects its axe.min.js into every page and email).
axe_dir="$(dirname "$0")/axe"
want=$(sed -n 's/.*"axe-core": "\([0-9.]*\)".*/\1/p' "$axe_dir/package.json")
have=$(sed -n 's/.*"version": "\([0-9.]*\)".*/\1/p' "$axe_dir/node_modules/axe-core/package.json" 2>/dev/null | head -n1 || true)
if [ "$want" != "$have" ]; then
  if ! command -v npm >/dev/null; then
    say "installing npm (for axe-core)"
    export DEBIAN_FRONTEND=noninteractive
    if ! out=$({ apt-get update -qq && apt-get install -y -qq --no-install-recommends npm; } 2>&1); then
      printf '%s\n' "$out" >&2
      exit 1
    fi
  fi
  say "installing axe-core $want (the reader's accessibility check)"
  (cd "$axe_dir" && npm ci --no-audit --no-fund --silent)
fi

command -v cargo >/dev/null || { echo "cargo is required" >&2; exit 1; }
