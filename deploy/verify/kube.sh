# shellcheck shell=bash
# Sourced by deploy/verify.sh: deploy/k8s/ played by `podman kube play` as far as this machine
# allows: the ConfigMap, the Secrets and the three Deployments, with the images just built, in
# pods joined to the compose stack's network (its PostgreSQL, RabbitMQ and SMTP stand in for the
# cluster's). What needs a cluster is named; `deploy/check.sh` keeps checking it against schemas.

kube_play() {
  say "podman kube play deploy/k8s/ (the Deployments on the compose stack's network)"
  local dir="$out/k8s"; mkdir -p "$dir"
  if ! python3 "$root/deploy/verify/kube_render.py" "$root/deploy/k8s" "$dir/play.yaml" > "$dir/not-run.txt"; then
    bad "rendering deploy/k8s"; return
  fi
  echo "RabbitmqCluster/firstweek (rabbitmq-cluster.yaml): the RabbitMQ cluster operator runs in a cluster" >> "$dir/not-run.txt"
  sed 's/^/  not run here: /' "$dir/not-run.txt"
  local secrets; secrets=$(cut -f1 "$dir/play.yaml.secrets")
  forget_kube() {
    podman kube down "$dir/play.yaml" >> "$dir/play.log" 2>&1 || true
    for p in firstweek-scheduler-pod-0 firstweek-worker-pod-0 firstweek-web-pod-0; do
      podman pod rm -f "$p" >/dev/null 2>&1 || true
    done
    for s in $secrets; do podman secret rm "$s" >/dev/null 2>&1 || true; done
  }
  forget_kube
  # The compose services step aside: the pods do the work now.
  compose stop scheduler worker web >> "$out/compose.log" 2>&1
  local name data
  while IFS=$'\t' read -r name data; do
    printf '%s' "$data" | podman secret create "$name" - >/dev/null
  done < "$dir/play.yaml.secrets"
  local start; start=$(now)
  if ! podman kube play --network "${project}_default" "$dir/play.yaml" > "$dir/play.log" 2>&1; then
    bad "podman kube play: $(tail -n 5 "$dir/play.log")"; forget_kube; return
  fi
  local pods; pods=$(podman pod ps --format '{{.Name}}' | grep '^firstweek-' | sort | tr '\n' ' ')
  ok "pods started: $pods"
  local spec ctr port deadline ready=0
  for spec in scheduler:9100 worker:9101 web:9102; do
    ctr=$(podman ps --format '{{.Names}}' | grep "^firstweek-${spec%%:*}-pod" | grep -v infra | head -n1)
    port=${spec##*:}
    deadline=$(( $(date +%s) + 90 ))
    until [ -n "$ctr" ] && podman exec "$ctr" /usr/bin/curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; do
      if [ "$(date +%s)" -ge "$deadline" ]; then break; fi
      sleep 2
      ctr=$(podman ps --format '{{.Names}}' | grep "^firstweek-${spec%%:*}-pod" | grep -v infra | head -n1)
    done
    if [ -n "$ctr" ] && podman exec "$ctr" /usr/bin/curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then
      ok "$ctr ready (/readyz on :$port), running as uid $(podman exec "$ctr" /usr/bin/id -u)"; ready=$((ready + 1))
    else
      bad "firstweek-${spec%%:*} from deploy/k8s not ready: $( [ -n "$ctr" ] && podman logs --tail 5 "$ctr" 2>&1)"
    fi
  done
  [ "$ready" = 3 ] && figure "kube play to all ready (s)" "$(since "$start")"
  local before; before=$(curl -fsS "$mailpit/api/v1/messages" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
  publish_cohort k1 1
  if python3 "$root/deploy/verify/mail.py" wait "$mailpit" $((before + 2)) 60 >/dev/null; then
    ok "a pair published now is welcomed by the pods of deploy/k8s"
  else bad "no welcome from the pods of deploy/k8s"; fi
  forget_kube
}
