#!/usr/bin/env bash
# Builds, without any registry, the images deploy/compose/docker-compose.yml runs:
#   skiff/python:bookworm    a Debian bookworm root file system with python3 and venv
#                            (debootstrap, then `docker import`): the daemon image's BASE.
#   skiff/prometheus:bookworm  Debian's prometheus package on that base.
#   skiff/skiff:local        the repository's Dockerfile on that base (docker-compose builds it
#                            too when it is missing; this script builds it ahead, once).
# Each image is built only when its tag is missing (docker image inspect), so a second run
# costs nothing; REBUILD=1 builds them again. Needs root (or sudo) for debootstrap, and the
# Debian mirror and PyPI reachable. Where a TLS-intercepting proxy stands between this machine
# and PyPI, the CA certificates in /usr/local/share/ca-certificates are copied into the base, so
# pip inside the build trusts what the host trusts.
set -euo pipefail
cd "$(dirname "$0")/../.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_IMAGE=${SKIFF_BASE_IMAGE:-skiff/python:bookworm}
PROMETHEUS_IMAGE=${SKIFF_PROMETHEUS_IMAGE:-skiff/prometheus:bookworm}
SKIFF_IMAGE=${SKIFF_IMAGE:-skiff/skiff:local}

missing() {
  [ "${REBUILD:-0}" = 1 ] || ! docker image inspect "$1" >/dev/null 2>&1
}

build_base() {
  if ! command -v debootstrap >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      debootstrap >/dev/null
  fi
  local root
  root=$(mktemp -d)
  trap '$SUDO rm -rf "$root"' RETURN
  echo "debootstrap bookworm into $root (about a minute)"
  $SUDO debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" "$MIRROR" >/dev/null
  # The host's own CAs (e.g. a proxy's), so pip in a build trusts what the host trusts.
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    $SUDO cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    $SUDO chroot "$root" update-ca-certificates >/dev/null
  fi
  $SUDO rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  $SUDO tar -C "$root" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    -c 'ENV LANG=C.UTF-8' \
    -c 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
  echo "built $BASE_IMAGE"
}

build_prometheus() {
  docker build -q -t "$PROMETHEUS_IMAGE" --build-arg BASE="$BASE_IMAGE" \
    -f deploy/compose/prometheus.Dockerfile deploy/compose >/dev/null
  echo "built $PROMETHEUS_IMAGE"
}

build_skiff() {
  docker build -q -t "$SKIFF_IMAGE" --build-arg BASE="$BASE_IMAGE" . >/dev/null
  echo "built $SKIFF_IMAGE"
}

# One build at a time: ./dev.sh test starts this in the background and the compose test's
# fixture runs it again, which waits here, then finds the images built.
exec 9>"${TMPDIR:-/tmp}/skiff-compose-images.lock"
flock 9

if missing "$BASE_IMAGE"; then build_base; fi
if missing "$PROMETHEUS_IMAGE"; then build_prometheus; fi
if missing "$SKIFF_IMAGE"; then build_skiff; fi
