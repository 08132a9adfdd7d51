#!/usr/bin/env bash
# Builds the local images the examples, tests and benchmarks run (no registry is needed):
#   skiff/busybox:latest  busybox-static and its applet links, imported as a tiny image.
#   skiff/nginx:latest    Debian's nginx binary and the libraries ldd lists, with busybox, serving
#                         a fixed "200 ok" on port 8080 with keep-alive: a target whose own cost
#                         does not hide a load balancer's (busybox httpd forks per request).
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# A root file system holding busybox and its applet links, in the directory $1.
busybox_root() {
  local root=$1 busybox
  busybox=$(dpkg -L busybox-static | grep -E '/bin/busybox$' | head -n 1)
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/www"
  chmod 1777 "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
  echo 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >>"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  echo 'nogroup:x:65534:' >>"$root/etc/group"
}

build_busybox() {
  local root
  root=$(mktemp -d)
  busybox_root "$root"
  tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - "$1" >/dev/null
  rm -rf "$root"
  echo "built $1"
}

build_nginx() {
  if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    $SUDO apt-get update -qq
    # policy-rc.d: install the binary only; never start Debian's nginx service on this machine.
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      nginx-light >/dev/null || true
    $SUDO rm -f /usr/sbin/policy-rc.d
  fi
  local root binary lib
  binary=/usr/sbin/nginx
  root=$(mktemp -d)
  busybox_root "$root"
  mkdir -p "$root/usr/sbin" "$root/etc/nginx" "$root/var/log/nginx" "$root/var/lib/nginx"
  cp "$binary" "$root/usr/sbin/nginx"
  for lib in $(ldd "$binary" | grep -oE '/[^ ]+\.so[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  cat >"$root/etc/nginx/nginx.conf" <<'CONF'
user nobody nogroup;
worker_processes 1;
daemon off;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path /tmp/body;
  proxy_temp_path /tmp/proxy;
  fastcgi_temp_path /tmp/fastcgi;
  uwsgi_temp_path /tmp/uwsgi;
  scgi_temp_path /tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  server {
    listen 8080 reuseport;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
}
CONF
  tar -C "$root" -c . | docker import -c 'ENV PATH=/usr/sbin:/bin' \
    -c 'CMD ["nginx", "-c", "/etc/nginx/nginx.conf"]' - "$1" >/dev/null
  rm -rf "$root"
  echo "built $1"
}

docker image inspect skiff/busybox:latest >/dev/null 2>&1 || build_busybox skiff/busybox:latest
docker image inspect skiff/nginx:latest >/dev/null 2>&1 || build_nginx skiff/nginx:latest
