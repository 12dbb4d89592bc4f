#!/usr/bin/env bash
# Runs schemathesis (property-based tests from docs/openapi.yaml) against a
# live events API: `scripts/schemathesis.sh URL API_KEY`, e.g.
#   scripts/schemathesis.sh http://127.0.0.1:8080 fwk_…
# The e2e test `schemathesis_finds_nothing_wrong_with_the_live_api`
# (tests/tests/api.rs) starts firstweek-web on a test database with a key and
# calls this, so `scripts/test.sh` and CI run it. Installs schemathesis from
# PyPI when it is missing. Kept short: few examples per operation.
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:?usage: scripts/schemathesis.sh URL API_KEY}
key=${2:?usage: scripts/schemathesis.sh URL API_KEY}
examples=${SCHEMATHESIS_MAX_EXAMPLES:-25}

if ! python3 -c 'import schemathesis' 2>/dev/null; then
  echo "==> installing schemathesis" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore schemathesis
fi

# Its cache (.schemathesis/) goes to a directory of its own, not the checkout.
doc="$PWD/docs/openapi.yaml"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
python3 -m schemathesis.cli run "$doc" \
  --url "$url" \
  --header "Authorization: Bearer $key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection \
  --max-examples "$examples" \
  --phases examples,coverage,fuzzing \
  --workers 1 \
  --no-color \
  --seed 1
