#!/usr/bin/env bash
# Builds the local images the examples and tests run (no registry is needed):
#   skiff/busybox:latest  busybox-static and its applet links, imported as a tiny image.
set -euo pipefail

image=skiff/busybox:latest
if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
busybox=$(dpkg -L busybox-static | grep -E '/bin/busybox$' | head -n 1)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/www"
cp "$busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - "$image" >/dev/null
echo "built $image"
