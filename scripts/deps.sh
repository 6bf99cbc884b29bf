#!/usr/bin/env bash
# The Debian and Ubuntu packages `make test` needs, in one place: `make test`
# and .ci/run both call this. Installed ones pass at once; as root, missing
# ones are installed with apt-get; otherwise it stops, printing the one
# command that installs them. On a system without dpkg it says what to
# install and lets the tests run.
set -euo pipefail

# docker-registry, skopeo, umoci, podman, jq, curl and openssl are the end-to-end
# tests' (test/e2e*.sh); docker.io (dockerd, and containerd with ctr) is the
# engine test/e2e-engine.sh loads into; make is make's; wine, wine64,
# binutils-mingw-w64-x86-64 and qemu-user-static run make cross's Windows and
# arm64 tests; xfsprogs, btrfs-progs and e2fsprogs make the filesystems disk's
# extent-sharing tests mount.
packages=(
  docker-registry skopeo umoci podman docker.io containerd jq curl make openssl
  wine wine64 binutils-mingw-w64-x86-64 qemu-user-static
  xfsprogs btrfs-progs e2fsprogs
)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "deps: no dpkg here: make test expects these Debian packages, or their equivalents: ${packages[*]}" >&2
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: make test needs Debian packages that are not installed: ${missing[*]}" >&2
  echo "deps: install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
