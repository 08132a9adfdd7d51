#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs Debian's docker.io and busybox-static (and the
# tools the multi-engine tests use) when missing, and starts dockerd in its own session when
# none runs. Idempotent.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)  # deploy/compose
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)     # load balancers' data plane
command -v ip >/dev/null 2>&1 || missing+=(iproute2)        # a second engine's bridge (tests)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)    # its TLS certificates (tests)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)          # ssh:// hosts (tests)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)              # load on listeners (tests)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)  # promtool, a Prometheus (tests)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)  # verifies deploy/systemd (tests)
command -v zsh >/dev/null 2>&1 || missing+=(zsh)              # checks zsh completion (tests)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  # Debian starts a system Prometheus on :9090 when it installs one; the tests start their
  # own on free ports. A policy-rc.d (unless the machine has one) keeps it from starting.
  policy=/usr/sbin/policy-rc.d
  made_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\ncase "$1" in prometheus*) exit 101 ;; esac\nexit 0\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    made_policy=1
    trap '$SUDO rm -f "$policy"' EXIT  # also when the install fails
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
  [ -z "$made_policy" ] || { $SUDO rm -f "$policy"; trap - EXIT; }
fi
# ... nor at the next boot, nor if an earlier install started it.
if [ -d /run/systemd/system ] && systemctl is-enabled prometheus >/dev/null 2>&1; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi

# An engine that was killed leaves its pid file behind, and the next start refuses to run.
if ! pgrep -x dockerd >/dev/null 2>&1; then
  $SUDO rm -f /var/run/docker.pid
fi
log=/tmp/skiff-dockerd.log
echo "starting dockerd (log: $log)"
$SUDO setsid dockerd >"$log" 2>&1 </dev/null &
for _ in $(seq 1 120); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 0.5
done
echo "dockerd did not start; the end of its log:" >&2
tail -n 40 "$log" >&2
exit 1
