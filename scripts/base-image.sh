#!/usr/bin/env bash
# Makes the Dockerfile's base image, debian:trixie-slim, available to the local Docker engine.
# A machine that reaches Docker Hub just pulls it. One that reaches only Debian's package
# mirror builds the same tag from Debian's packages instead: debootstrap a minimal trixie
# root file system and import it. The Dockerfile then builds unchanged on either.
#   scripts/base-image.sh [--mirror URL]      (needs root for debootstrap)
set -euo pipefail

tag=debian:trixie-slim
suite=trixie
mirror=${VNETLAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
while [ $# -gt 0 ]; do
  case "$1" in
    --mirror) mirror=$2; shift 2 ;;
    -h|--help)
      sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
      exit 0 ;;
    *) echo "base-image: unknown argument \"$1\" (try --help)" >&2; exit 2 ;;
  esac
done

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base-image: $tag is already there"
  exit 0
fi
if timeout 120 docker pull "$tag" >/dev/null 2>&1; then
  echo "base-image: pulled $tag"
  exit 0
fi

echo "base-image: cannot pull $tag; building it from $mirror with debootstrap" >&2
[ "$(id -u)" -eq 0 ] || { echo "base-image: debootstrap needs root (run with sudo)" >&2; exit 1; }
if ! command -v debootstrap >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi
root=$(mktemp -d /var/tmp/vnetlab-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase "$suite" "$root" "$mirror" >&2
# what the official slim image also leaves out: package lists and caches
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
tar -C "$root" -c . | docker import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$tag" >/dev/null
echo "base-image: built $tag from Debian's $suite packages"
