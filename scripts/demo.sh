#!/usr/bin/env bash
# demo.sh HAUL DEVREGISTRY: start the in-process test registry on loopback (token
# auth, a seeded multi-platform image, a private one) and run haul against it, so
# a newcomer sees haul work with no internet and no Docker.
set -euo pipefail
haul=$(realpath "${1:-bin/haul}")
devreg=$(realpath "${2:-bin/haul-devregistry}")
port=${HAUL_DEMO_PORT:-5055}
addr=127.0.0.1:$port
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

"$devreg" -addr "$addr" >"$work/registry.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  grep -q '^ready ' "$work/registry.log" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/registry.log"; exit 1; }
  sleep 0.1
done
grep -q '^ready ' "$work/registry.log" || { echo "the dev registry did not start"; cat "$work/registry.log"; exit 1; }
export DOCKER_CONFIG=$work/docker   # keep the demo's login out of your own config

run() {
  printf '\n\033[1m$ %s\033[0m\n' "$*"
  "$@"
}
run "$haul" tags "$addr/demo/hello"
run "$haul" digest "$addr/demo/hello:latest"
run "$haul" inspect "$addr/demo/hello:latest"
run "$haul" inspect --platform linux/arm/v7 "$addr/demo/hello:latest"
run "$haul" --trace digest "$addr/demo/tiny"
printf '\n# a private repository: anonymous access is refused, with advice\n'
run "$haul" digest "$addr/private/secret:1" || true
password=$(sed -n 's/.*password \([^ )]*\).*/\1/p' "$work/registry.log" | head -1)
printf '%s' "$password" | run "$haul" login "$addr" -u alice --password-stdin
run "$haul" manifest "$addr/private/secret:1"
run "$haul" logout "$addr"

printf '\n# pull: a docker/OCI tar (docker load, podman load, skopeo), then an OCI layout and a root filesystem from the cache, and the tar flattened\n'
cd "$work"
run "$haul" pull --cache-dir "$work/cache" "$addr/demo/hello:latest" -o hello.tar
run "$haul" pull --cache-dir "$work/cache" --format oci "$addr/demo/hello:latest" --platform linux/arm64 -o hello-oci
run tar -tvf hello.tar
run cat hello-oci/index.json
run "$haul" pull --cache-dir "$work/cache" --format rootfs "$addr/demo/hello:latest" -o hello-rootfs
run find hello-rootfs
run "$haul" export hello.tar -o hello-flat.tar
run tar -tvf hello-flat.tar
echo
printf '\nThe demo ran against %s (log: the registry printed above its seeds).\n' "$addr"
