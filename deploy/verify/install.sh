# shellcheck shell=bash
# Sourced by deploy/verify.sh: podman and podman-compose, the base images, the three images.

install_podman() {
  local need=()
  command -v podman >/dev/null || need+=(podman)
  command -v runc >/dev/null || need+=(runc)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    if ! log=$({ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" uidmap slirp4netns; } 2>&1); then
      printf '%s\n' "$log" >&2; exit 1
    fi
  fi
  # crun (podman's default) fails on this machine's hybrid cgroups, and podman's default ulimits
  # exceed what the kernel allows here (../shared/crate-notes.md, "Containers on this machine").
  local conf=/etc/containers/containers.conf
  if ! grep -qs '^runtime *= *"runc"' "$conf"; then
    say "configuring podman: runc, cgroupfs, ulimits within the machine's ($conf)"
    mkdir -p /etc/containers
    [ -f "$conf" ] && cp "$conf" "$conf.before-firstweek"
    local nofile; nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
    cat > "$conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  fi
  if ! command -v podman-compose >/dev/null; then
    say "installing podman-compose (pip)"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'podman-compose>=1.6,<2'
  fi
  figure "podman" "$(podman --version | awk '{print $3}'), podman-compose $(podman-compose --version 2>/dev/null | awk '/podman-compose/ {print $3}')"
}

# The official images when a registry answers, else the local stand-ins.
choose_base_images() {
  if podman image exists docker.io/library/rust:1.95-bookworm \
     || timeout 30 podman pull -q docker.io/library/debian:bookworm-slim >/dev/null 2>&1; then
    say "a registry answers: the official base images" >&2
    return 0
  fi
  say "no image registry reachable: local stand-ins (deploy/standin/) for rust, debian, postgres, rabbitmq, mailpit" >&2
  bash "$root/deploy/standin/build.sh" | sed 's/^/export /'
}

build_images() {
  local args=(--format docker -f deploy/Dockerfile)
  [ -n "${FIRSTWEEK_RUST_IMAGE:-}" ] && args+=(--build-arg "RUST_IMAGE=$FIRSTWEEK_RUST_IMAGE")
  [ -n "${FIRSTWEEK_RUNTIME_IMAGE:-}" ] && args+=(--build-arg "RUNTIME_IMAGE=$FIRSTWEEK_RUNTIME_IMAGE")
  local service start first=true
  for service in firstweek-scheduler firstweek-worker firstweek-web; do
    say "building $service:dev"
    start=$(now)
    if ! podman build "${args[@]}" --build-arg "SERVICE=$service" -t "$service:dev" . > "$out/build-$service.log" 2>&1; then
      tail -n 40 "$out/build-$service.log" >&2
      bad "podman build $service (log: target/deploy-verify/build-$service.log)"; exit 1
    fi
    if $first; then
      figure "image build, first image (s)" "$(since "$start")"
      first=false
    else
      figure "image build, $service (s)" "$(since "$start")"
    fi
  done
}
