# shellcheck shell=bash
# Sourced by deploy/verify.sh: the composed stack, the cohort and the operators' checks.

compose() { podman-compose -p "$project" -f "$root/deploy/compose.yaml" "$@"; }
containers() { podman ps -a --filter "label=io.podman.compose.project=$project" --format '{{.Names}}' "$@"; }
of_service() { podman ps --filter "label=io.podman.compose.project=$project" \
                 --filter "label=io.podman.compose.service=$1" --format '{{.Names}}'; }
health() { podman inspect --format '{{.State.Health.Status}}' "$1" 2>/dev/null || echo missing; }
# Reads as the read-only role an operator's dashboards would use.
psql_stack() { PGPASSWORD=readonly-dev-password psql -X -q -At -h 127.0.0.1 -p "$FIRSTWEEK_POSTGRES_PORT" \
                 -U firstweek_readonly -d firstweek "$@"; }

# podman runs healthchecks from systemd timers; without systemd (this machine), they run here.
health_ticker() {
  while :; do
    for c in $(podman ps --filter "label=io.podman.compose.project=$project" --format '{{.Names}}'); do
      podman healthcheck run "$c" >/dev/null 2>&1 || true
    done
    sleep 3
  done
}

wait_healthy() { # seconds service...
  local limit=$1; shift
  local deadline=$(( $(date +%s) + limit )) s c all
  while :; do
    all=true
    for s in "$@"; do
      c=$(of_service "$s")
      [ -n "$c" ] || { all=false; continue; }
      for c in $c; do [ "$(health "$c")" = healthy ] || all=false; done
    done
    $all && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      for s in "$@"; do for c in $(of_service "$s"); do echo "  $c: $(health "$c")" >&2; done; done
      return 1
    fi
    sleep 1
  done
}

# podman 4.3 (Debian 12) has no `podman wait --condition=healthy`, so podman-compose ignores the
# `service_healthy` conditions there: the stack is brought up in the order compose.yaml declares.
up_in_order() {
  compose up -d --no-build rabbitmq postgres mailpit >> "$out/compose.log" 2>&1
  wait_healthy 180 rabbitmq postgres mailpit || { bad "infrastructure healthy"; return 1; }
  compose up -d --no-build --no-deps scheduler worker >> "$out/compose.log" 2>&1
  wait_healthy 120 scheduler worker || { bad "scheduler and worker healthy"; return 1; }
  compose up -d --no-build --no-deps db-grants >> "$out/compose.log" 2>&1
  local grants; grants=$(of_grants)
  podman wait "$grants" > "$out/db-grants.rc"
  [ "$(cat "$out/db-grants.rc")" = 0 ] || { bad "db-grants ran roles.sql: $(podman logs "$grants" 2>&1 | tail -n 5)"; return 1; }
  compose up -d --no-build --no-deps web >> "$out/compose.log" 2>&1
  wait_healthy 120 web || { bad "web healthy"; return 1; }
}
of_grants() { podman ps -a --filter "label=io.podman.compose.project=$project" \
                --filter "label=io.podman.compose.service=db-grants" --format '{{.Names}}' | head -n1; }

# Every container of the project, scaled ones too: `down` removes only those compose.yaml names
# (a worker added by `--scale` would be started again by the next `up`).
remove_stack() {
  local c; c=$(containers)
  if [ -n "$c" ]; then podman rm -f $c >/dev/null 2>&1 || true; fi
  compose down -v >> "$out/compose.log" 2>&1 || true
}

start_stack() {
  say "starting the stack ($project): PostgreSQL :$FIRSTWEEK_POSTGRES_PORT, RabbitMQ :$FIRSTWEEK_AMQP_PORT, SMTP :$FIRSTWEEK_SMTP_PORT, web :$FIRSTWEEK_WEB_PORT"
  remove_stack
  health_ticker & ticker=$!
  local start; start=$(now)
  if up_in_order; then
    ok "every service healthy (healthchecks of compose.yaml)"
    figure "start-up to all healthy, empty volumes (s)" "$(since "$start")"
  else
    containers | while read -r c; do echo "--- $c" >&2; podman logs --tail 20 "$c" >&2 2>&1; done
    exit 1
  fi
  memory "idle"
}

stop_stack() {
  [ -n "${ticker:-}" ] && kill "$ticker" 2>/dev/null
  containers | while read -r c; do podman logs "$c" > "$out/log-$c.txt" 2>&1 || true; done
  remove_stack
}

memory() { # label
  podman stats --no-stream --format '{{.Name}} {{.MemUsage}}' $(containers --filter status=running) 2>/dev/null \
    | awk -v l="$1" '{ printf "  memory %-8s %-34s %s\n", l, $1, $2 }' | tee -a "$out/summary.txt"
}

# The operator CLI shipped in the worker image, on the host's network: over the published ports.
cli() {
  podman run --rm --no-healthcheck --network host \
    -e AMQP_URL="amqp://firstweek-publisher:publisher-dev-password@127.0.0.1:$FIRSTWEEK_AMQP_PORT/firstweek" \
    --entrypoint firstweek firstweek-worker:dev "$@"
}

publish_cohort() { # prefix pairs
  local prefix=$1 n=$2 i
  for i in $(seq 1 "$n"); do
    local m="$prefix-$i"
    cli publish started --mentorship "$m" --program verify \
      --mentor-email "mentor.$m@example.org" --mentee-email "mentee.$m@example.org" \
      --coordinator-email "coordinator@example.org" >/dev/null
    # Every other pair talks at once; the others stay silent and are escalated.
    if [ $((i % 2)) = 0 ]; then
      cli publish interaction --mentorship "$m" --actor mentor --kind message >/dev/null
      cli publish interaction --mentorship "$m" --actor mentee --kind message >/dev/null
      cli publish interaction --mentorship "$m" --actor mentee --kind plan_shared >/dev/null
    fi
  done
}

ledger_csv() { # the pairs' id prefix
  psql_stack -F, -c "SELECT 'message_id,step_id,mentorship_id'" -c \
    "SELECT message_id, step_id, mentorship_id FROM deliveries WHERE status = 'sent' AND mentorship_id LIKE '$1%'" \
    > "$out/ledger.csv"
}

open_rows() { psql_stack -c "SELECT count(*) FROM timeline WHERE status IN ('scheduled', 'published')"; }

wait_week_done() { # seconds
  local deadline=$(( $(date +%s) + $1 ))
  while [ "$(open_rows)" != 0 ]; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 2
  done
}

play_cohort() {
  say "cohort 1: 6 pairs published over AMQP (:$FIRSTWEEK_AMQP_PORT) as firstweek-publisher; a worker SIGKILLed mid-week"
  local start; start=$(now)
  publish_cohort v1 6
  python3 "$root/deploy/verify/mail.py" wait "$mailpit" 12 60 && ok "welcomes captured by the compose SMTP service" \
    || bad "welcomes captured"
  memory "cohort"
  local w; w=$(of_service worker | head -n1)
  # SIGKILL from outside, as the kernel's OOM killer would (`podman kill` counts as stopped by the
  # operator, which `restart: unless-stopped` rightly leaves stopped).
  kill -KILL "$(podman inspect --format '{{.State.Pid}}' "$w")"
  ok "worker $w killed with SIGKILL"
  sleep 2
  local deadline=$(( $(date +%s) + 60 ))
  until [ "$(podman inspect --format '{{.State.Running}}' "$w")" = true ] && [ "$(health "$w")" = healthy ]; do
    [ "$(date +%s)" -ge "$deadline" ] && break
    sleep 1
  done
  if [ "$(podman inspect --format '{{.State.Running}}' "$w")" = true ]; then
    ok "the worker was restarted by its restart policy (restarts: $(podman inspect --format '{{.RestartCount}}' "$w"))"
  else
    bad "the worker was not restarted"; compose up -d --no-build --no-deps worker >/dev/null 2>&1
  fi
  if wait_week_done 240; then ok "the week played out: no timeline row left open"; else bad "timeline rows still open: $(open_rows)"; fi
  figure "cohort 1 (6 pairs, the week at scale 10080) (s)" "$(since "$start")"
  sleep 3
  ledger_csv v1-
  if python3 "$root/deploy/verify/mail.py" ledger "$mailpit" "$out/ledger.csv" v1-; then
    ok "nothing lost, nothing sent twice (the ledger against the captured emails)"
  else bad "ledger and captured emails disagree"; fi
  if python3 "$root/deploy/verify/mail.py" links "$mailpit" "$web"; then
    ok "links from captured emails work on firstweek-web (:$FIRSTWEEK_WEB_PORT)"
  else bad "links from captured emails"; fi
}

check_operators() {
  say "down, then up: the volumes keep the data"
  local pairs_before; pairs_before=$(psql_stack -c "SELECT count(*) FROM mentorships")
  local start; start=$(now)
  compose down >> "$out/compose.log" 2>&1
  up_in_order || exit 1
  figure "start-up to all healthy, kept volumes (s)" "$(since "$start")"
  local pairs_after; pairs_after=$(psql_stack -c "SELECT count(*) FROM mentorships")
  [ "$pairs_before" = "$pairs_after" ] && [ "$pairs_after" -gt 0 ] \
    && ok "the pairs are still there after down and up ($pairs_after)" \
    || bad "pairs before down $pairs_before, after up $pairs_after"

  say "cohort 2 with two workers (--scale worker=2)"
  compose up -d --no-build --no-deps --scale worker=2 worker >> "$out/compose.log" 2>&1 \
    || bad "compose up --scale worker=2: $(grep -v systemd "$out/compose.log" | tail -n 2)"
  wait_healthy 120 worker || bad "two workers healthy"
  local workers; workers=$(of_service worker | wc -l)
  [ "$workers" = 2 ] && ok "two worker containers" || bad "$workers worker containers"
  local sent_before; sent_before=$(psql_stack -c "SELECT count(*) FROM deliveries WHERE status = 'sent'")
  publish_cohort v2 6
  wait_week_done 240 || bad "cohort 2: timeline rows still open: $(open_rows)"
  local w n shared=0
  for w in $(of_service worker); do
    n=$(podman exec "$w" curl -fsS http://127.0.0.1:9101/metrics 2>/dev/null \
          | awk '/^firstweek_emails_sent_total/ { s += $2 } END { print s + 0 }')
    echo "  $w: $n emails sent"
    [ "$n" -gt 0 ] && shared=$((shared + 1))
  done
  [ "$shared" = 2 ] && ok "both workers sent emails of cohort 2" || bad "only $shared worker(s) sent emails"
  # Mailpit keeps its emails in memory: since `down` and `up`, it holds cohort 2's only.
  ledger_csv v2-
  python3 "$root/deploy/verify/mail.py" ledger "$mailpit" "$out/ledger.csv" v2- \
    && ok "cohort 2: nothing lost, nothing sent twice" || bad "cohort 2: ledger and captured emails disagree"
  echo "  sent before cohort 2: $sent_before"

  say "least privilege"
  local users; users=$(psql_stack -c "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'firstweek' AND pid <> pg_backend_pid() ORDER BY 1" | tr '\n' ' ')
  [ "$users" = "firstweek_scheduler firstweek_web firstweek_worker " ] \
    && ok "PostgreSQL sessions run as: $users" || bad "PostgreSQL sessions run as: $users"
  local rabbit; rabbit=$(of_service rabbitmq)
  local amqp_users; amqp_users=$(podman exec "$rabbit" rabbitmqctl -q list_connections --no-table-headers user 2>/dev/null | sort -u | tr '\n' ' ')
  [[ "$amqp_users" == *firstweek-scheduler* && "$amqp_users" == *firstweek-worker* && "$amqp_users" != *guest* ]] \
    && ok "RabbitMQ connections run as: $amqp_users" || bad "RabbitMQ connections run as: $amqp_users"
  local refused; refused=$(PGPASSWORD=web-dev-password psql -X -q -h 127.0.0.1 -p "$FIRSTWEEK_POSTGRES_PORT" \
    -U firstweek_web -d firstweek -c "DELETE FROM escalations WHERE false" 2>&1 || true)
  [[ "$refused" == *"permission denied"* ]] \
    && ok "firstweek_web cannot write a table itself (DELETE FROM escalations: permission denied)" \
    || bad "firstweek_web and DELETE FROM escalations: $refused"
  local image
  for image in firstweek-scheduler firstweek-worker firstweek-web; do
    local user tools
    user=$(podman run --rm --entrypoint id "$image:dev" -u)
    tools=$(podman run --rm --entrypoint sh "$image:dev" -c 'for t in cc gcc rustc cargo ld; do command -v $t; done' || true)
    [ "$user" = 10001 ] && ok "$image runs as uid $user" || bad "$image runs as uid $user"
    [ -z "$tools" ] && ok "$image carries no compiler" || bad "$image carries: $tools"
  done
  memory "scaled"
}

report_images() {
  say "image sizes"
  local image
  for image in firstweek-scheduler firstweek-worker firstweek-web; do
    figure "image $image:dev" "$(podman image inspect --format '{{.Size}}' "$image:dev" | awk '{ printf "%.1f MB", $1 / 1e6 }')"
  done
}
