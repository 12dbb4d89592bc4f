#!/usr/bin/env bash
# The CPU an idle scheduler costs: runs a firstweek-scheduler binary against a
# fresh database and vhost of the local PostgreSQL and RabbitMQ (as the tests
# do), waits 10 s, then prints the CPU time the process used over WINDOW
# seconds, per second of wall time. CPU time, not wall time, so that other work
# on the machine changes the figure little. Two readings: utime+stime from
# /proc/PID/stat (what the bench's `idle` phase reads; 10 ms steps) and the sum
# of its threads' run time in /proc/PID/task/*/schedstat (nanoseconds; a
# thread that exits during the window is missed).
#
#   scripts/idle-scheduler.sh LABEL BINARY [WINDOW_SECONDS, default 60]
#
# The scheduler runs with its defaults (the digest job every minute, retention
# off, the backlog gauges every 10 s) and FIRSTWEEK_SEND_WINDOW=off.
set -euo pipefail
label=$1
bin=$2
window=${3:-60}
pg=postgres://postgres@127.0.0.1:5432
name="idle_$$_$(date +%s)"
psql -q "$pg/postgres" -c "CREATE DATABASE $name" >/dev/null
rabbitmqctl -q add_vhost "$name" >/dev/null
rabbitmqctl -q set_permissions -p "$name" guest '.*' '.*' '.*' >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null || true
  rabbitmqctl -q delete_vhost "$name" >/dev/null || true
}
trap cleanup EXIT
env -i PATH="$PATH" \
  DATABASE_URL="$pg/$name" \
  AMQP_URL="amqp://guest:guest@127.0.0.1:5672/$name" \
  FIRSTWEEK_PSEUDONYM_KEY="idle-scheduler pseudonym key, not a secret" \
  SMTP_URL="smtp://127.0.0.1:2525" \
  FIRSTWEEK_FROM="firstweek <firstweek@example.org>" \
  FIRSTWEEK_SEND_WINDOW=off \
  FIRSTWEEK_ADMIN_ADDR="127.0.0.1:$port" \
  FIRSTWEEK_LOG_FORMAT=json RUST_LOG=info \
  "$bin" 2>"${TMPDIR:-/tmp}/idle-scheduler-$label-$name.log" &
pid=$!
sleep 10
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
run_ns() { cat /proc/"$pid"/task/*/schedstat | awk '{ s += $1 } END { print s }'; }
c0=$(ticks); r0=$(run_ns); t0=$(date +%s.%N)
sleep "$window"
c1=$(ticks); r1=$(run_ns); t1=$(date +%s.%N)
kill -0 "$pid" # still running: the window was idle, not a crash
hz=$(getconf CLK_TCK)
awk -v l="$label" -v c0="$c0" -v c1="$c1" -v r0="$r0" -v r1="$r1" -v t0="$t0" -v t1="$t1" -v hz="$hz" 'BEGIN {
  w = t1 - t0
  printf "%s: %.1f s, utime+stime %.3f ms/s, threads schedstat %.3f ms/s\n", l, w, (c1 - c0) * 1000 / hz / w, (r1 - r0) / 1e6 / w
}'
