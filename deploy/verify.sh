#!/usr/bin/env bash
# Builds firstweek's three images from deploy/Dockerfile with podman, starts deploy/compose.yaml,
# plays a short cohort through the composed stack over its published ports and checks what
# operators rely on: healthchecks, a worker killed with SIGKILL, `down` and `up` keeping the data,
# a second worker sharing the work, the least-privilege roles, non-root images without a compiler;
# then `podman kube play` of deploy/k8s/. Prints the figures (build time, image sizes, time to
# all-healthy, memory per container) and writes them to target/deploy-verify/summary.txt.
#
#   bash deploy/verify.sh            the whole run
#   bash deploy/verify.sh --keep     leave the stack running afterwards (ports below)
#   bash deploy/verify.sh --no-kube  skip the Kubernetes part
#
# Where no image registry can be reached (this machine), the base and infrastructure images are
# local stand-ins made by deploy/standin/build.sh from Debian's packages and this machine's Rust
# toolchain; the script says which it uses. Nothing here touches the host's own PostgreSQL,
# RabbitMQ or SMTP: the stack publishes on the ports below.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
keep=false kube=true
for arg in "$@"; do
  case "$arg" in
    --keep) keep=true ;;
    --no-kube) kube=false ;;
    *) echo "unknown option $arg (--keep, --no-kube)" >&2; exit 2 ;;
  esac
done

out="$root/target/deploy-verify"; mkdir -p "$out"; : > "$out/summary.txt"
project=firstweek-verify
# Below the ephemeral range (32768-60999), where an outgoing connection could hold a port.
export FIRSTWEEK_POSTGRES_PORT=17432 FIRSTWEEK_AMQP_PORT=17672 FIRSTWEEK_RABBITMQ_UI_PORT=17673 \
       FIRSTWEEK_SMTP_PORT=17025 FIRSTWEEK_MAILPIT_UI_PORT=17026 FIRSTWEEK_WEB_PORT=17080 \
       FIRSTWEEK_WEB_ADMIN_PORT=17102 FIRSTWEEK_SCHEDULER_ADMIN_PORT=17100
# A program day in about 8.6 s, the week in a minute; no send window, so nothing waits for a morning.
export FIRSTWEEK_TIME_SCALE=10080 FIRSTWEEK_SEND_WINDOW=off FIRSTWEEK_LOG_FORMAT=json
export FIRSTWEEK_PUBLIC_URL="http://localhost:$FIRSTWEEK_WEB_PORT"
mailpit="http://127.0.0.1:$FIRSTWEEK_MAILPIT_UI_PORT"
web="$FIRSTWEEK_PUBLIC_URL"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
failed=0
ok()  { printf '  ok      %s\n' "$*"; }
bad() { printf '  FAILED  %s\n' "$*"; failed=$((failed + 1)); }
figure() { printf '  %-44s %s\n' "$1" "$2" | tee -a "$out/summary.txt"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }

# shellcheck source=deploy/verify/install.sh
source "$root/deploy/verify/install.sh"
# shellcheck source=deploy/verify/stack.sh
source "$root/deploy/verify/stack.sh"

install_podman
images_env=$(choose_base_images)
eval "$images_env"
build_images
trap 'stop_stack' EXIT
start_stack
play_cohort
check_operators
# shellcheck source=deploy/verify/kube.sh
if $kube; then source "$root/deploy/verify/kube.sh"; kube_play; fi
report_images

echo
say "figures (also in target/deploy-verify/summary.txt)"
cat "$out/summary.txt"
if $keep; then
  trap - EXIT
  say "the stack is still up: web $web, Mailpit $mailpit; stop it with: podman-compose -p $project -f deploy/compose.yaml down -v"
fi
if [ "$failed" -gt 0 ]; then say "$failed check(s) FAILED"; exit 1; fi
say "all checks passed"
