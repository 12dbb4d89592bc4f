#!/usr/bin/env bash
# Makes local stand-ins for the images deploy/ names, for a machine that reaches no image registry
# (podman cannot pull `debian`, `rust`, `postgres`, `rabbitmq` or `axllent/mailpit` there):
#   localhost/firstweek-standin/debian:bookworm-slim  debootstrap --variant=minbase bookworm
#   localhost/firstweek-standin/rust:1.95-bookworm    that + gcc + this machine's Rust toolchain
#   localhost/firstweek-standin/postgres:16           that + Debian's PostgreSQL (15)
#   localhost/firstweek-standin/rabbitmq:3.13-management  that + Debian's RabbitMQ (3.10)
#   localhost/firstweek-standin/mailpit:latest        that + Debian's aiosmtpd (mailpit.py)
# Each is made once and kept in podman's storage (`--rebuild` makes them again). Prints the
# variables deploy/compose.yaml and deploy/Dockerfile take to use them.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix=localhost/firstweek-standin
rebuild=false; [ "${1:-}" = --rebuild ] && rebuild=true
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
have() { ! $rebuild && podman image exists "$1"; }
mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
mirror=${mirror:-$(sed -n 's/^deb \(http[^ ]*\) bookworm .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n1)}
mirror=${mirror:-http://deb.debian.org/debian}

if ! have "$prefix/debian:bookworm-slim"; then
  say "stand-in debian:bookworm-slim: debootstrap from $mirror"
  root=$(mktemp -d /var/tmp/firstweek-debian.XXXX)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
  # What the official slim image leaves out too.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
         "$root"/usr/share/man/* "$root"/usr/share/doc/* "$root"/usr/share/locale/*
  tar -C "$root" -c . | podman import --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$prefix/debian:bookworm-slim" >/dev/null
  rm -rf "$root"; trap - EXIT
fi

base="--build-arg=BASE=$prefix/debian:bookworm-slim"
if ! have "$prefix/rust:1.95-bookworm"; then
  toolchain=$(rustc --print sysroot)
  say "stand-in rust:1.95-bookworm: this machine's toolchain ($(rustc --version))"
  context=$(mktemp -d /var/tmp/firstweek-rust.XXXX)
  # Hard links where the toolchain is on the same file system (no 1.4 GB copy), else a copy.
  cp -al "$toolchain" "$context/toolchain" 2>/dev/null || cp -a "$toolchain" "$context/toolchain"
  mkdir "$context/ca"
  cp /usr/local/share/ca-certificates/*.crt "$context/ca/" 2>/dev/null || true
  podman build -q --format docker $base -f "$here/rust.Containerfile" -t "$prefix/rust:1.95-bookworm" "$context" >/dev/null
  rm -rf "$context"
fi
for spec in postgres:16:postgres rabbitmq:3.13-management:rabbitmq mailpit:latest:mailpit; do
  image=${spec%:*}; file=${spec##*:}
  if ! have "$prefix/$image"; then
    say "stand-in $image: Debian's packages"
    podman build -q --format docker $base -f "$here/$file.Containerfile" -t "$prefix/$image" "$here" >/dev/null
  fi
done

cat <<VARS
FIRSTWEEK_RUST_IMAGE=$prefix/rust:1.95-bookworm
FIRSTWEEK_RUNTIME_IMAGE=$prefix/debian:bookworm-slim
FIRSTWEEK_POSTGRES_IMAGE=$prefix/postgres:16
FIRSTWEEK_RABBITMQ_IMAGE=$prefix/rabbitmq:3.13-management
FIRSTWEEK_MAILPIT_IMAGE=$prefix/mailpit:latest
VARS
