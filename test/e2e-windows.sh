#!/usr/bin/env bash
# End-to-end test of haul built for windows/amd64, run under Wine, against
# tools/devregistry (registrytest's registry with token auth and seeded
# images) on a free loopback port: the read commands, login and logout (the
# credential in %USERPROFILE%\.docker\config.json, HOME unset as on
# Windows), pulls through the cache in every format, a second pull served by
# the cache, export from a reference and from a tar, cache ls and prune, and
# the refusal to unpack a root filesystem with its hint. The tars and the
# export must be byte for byte what haul built for Linux writes.
#
# scripts/cross.sh runs it with WINEPREFIX set to a prefix it prepared (see
# there); scripts/wine-exec runs haul.exe. Prints `ok - ...` / `not ok - ...`
# per check and ends with `N passed, M failed`; exits 1 when a check failed.
# HAUL_E2E_KEEP=1 keeps the work directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
START=$SECONDS

die() { echo "e2e-windows: error: $*" >&2; exit 1; }
note() { echo "# $*"; }
[[ -n ${WINEPREFIX:-} ]] || die "WINEPREFIX is not set: scripts/cross.sh prepares one"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/haul-e2e-windows.XXXXXX")
# shellcheck source=checks.sh
. "$ROOT/test/checks.sh"
REG_PID=
cleanup() {
	stop_pid "$REG_PID"
	remove_work
}
trap cleanup EXIT

note "building haul.exe, haul and devregistry"
(cd "$ROOT" && GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go build -o "$WORK/haul.exe" ./cmd/haul) || die "go build haul.exe failed"
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$WORK/haul" ./cmd/haul && go build -o "$WORK/devregistry" ./tools/devregistry) ||
	die "go build haul and devregistry failed"

"$WORK/devregistry" -addr 127.0.0.1:0 >"$WORK/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do
	grep -q '^ready ' "$WORK/registry.log" && break
	kill -0 "$REG_PID" 2>/dev/null || { cat "$WORK/registry.log"; die "devregistry exited"; }
	sleep 0.1
done
REG=$(sed -n 's|^ready http://||p' "$WORK/registry.log")
[[ -n $REG ]] || { cat "$WORK/registry.log"; die "devregistry never said ready"; }
PASSWORD=$(sed -n 's/.*password \([^ )]*\).*/\1/p' "$WORK/registry.log" | head -1)
note "registry on $REG"

PASSED=0 FAILED=0 RC=0 LAST=""
OUT=$WORK/stdout ERR=$WORK/stderr
cd "$WORK" # haul.exe gets relative paths: Z:\… for Wine, never a Unix path
shopt -s nullglob

# win ARGS...: runs haul.exe under Wine, as on Windows: no HOME, no XDG_*.
win() {
	LAST="haul.exe $(printf '%q ' "$@")"
	RC=0
	env -u HOME -u XDG_CACHE_HOME -u XDG_CONFIG_HOME -u DOCKER_CONFIG -u HAUL_USERNAME -u HAUL_PASSWORD \
		"$ROOT/scripts/wine-exec" ./haul.exe "$@" <"${STDIN:-/dev/null}" >"$OUT" 2>"$ERR" || RC=$?
}
# lin ARGS...: runs haul built for Linux, in a home of its own.
# shellcheck disable=SC2034 # LAST and RC are checks.sh's
lin() {
	LAST="haul $(printf '%q ' "$@")"
	RC=0
	HOME=$WORK/linux-home XDG_CACHE_HOME=$WORK/linux-home/.cache "./haul" "$@" >"$OUT" 2>"$ERR" || RC=$?
}
same_file() { # same_file DESC A B
	if cmp -s "$2" "$3"; then ok "$1"; else not_ok "$1" "$2 and $3 differ"; fi
}

IMG=$REG/demo/hello:latest

# ---------------------------------------------------------------- read commands
lin digest "$IMG"
WANT=$(cat "$OUT")
win digest "$IMG"
expect_success "haul.exe digest"
expect_eq "haul.exe digest is Linux haul's" "$WANT" "$(cat "$OUT")"
win tags "$REG/demo/hello"
expect_success "haul.exe tags"
expect_eq "haul.exe tags lists both tags" "1.0 latest" "$(sort "$OUT" | tr '\n' ' ' | sed 's/ $//')"
win manifest --raw "$IMG"
expect_success "haul.exe manifest --raw"
expect_eq "the raw manifest's sha256 is the digest" "$WANT" "sha256:$(sha256sum <"$OUT" | cut -d' ' -f1)"
win inspect --platform linux/arm64 "$IMG"
expect_success "haul.exe inspect --platform linux/arm64"
expect_in "inspect lists the layers" "$OUT" "Layers:"

# ---------------------------------------------------------------- login
win manifest "$REG/private/secret:1"
expect_rc "a private image needs a login" 1
printf '%s' "$PASSWORD" >"$WORK/password"
STDIN=$WORK/password win login "$REG" -u alice --password-stdin
expect_success "haul.exe login stores the credential"
CONFIG=$WINEPREFIX/drive_c/users/$(id -un)/.docker/config.json
if [[ -f $CONFIG ]] && grep -qF "$REG" "$CONFIG"; then ok "it is in %USERPROFILE%\\.docker\\config.json"; else
	not_ok "it is in %USERPROFILE%\\.docker\\config.json" "$CONFIG is missing or lacks $REG"; fi
win manifest "$REG/private/secret:1"
expect_success "haul.exe reads the private image with it"
win logout "$REG"
expect_success "haul.exe logout"
win manifest "$REG/private/secret:1"
expect_rc "and the private image needs a login again" 1

# ---------------------------------------------------------------- pulls and the cache
lin pull --cache-dir lcache "$IMG" -o linux.tar
lin export --cache-dir lcache "$IMG" -o linux-flat.tar
win pull --cache-dir cache "$IMG" -o win.tar
expect_success "haul.exe pull (docker tar, through the cache)"
same_file "its tar is Linux haul's, byte for byte" linux.tar win.tar
win pull --cache-dir cache "$IMG" -o win2.tar
expect_in "a second pull is served by the cache" "$ERR" "fetched 0 B"
same_file "and writes the same tar" linux.tar win2.tar
win pull --cache-dir cache --format oci --platform linux/arm64 "$IMG" -o layout
expect_success "haul.exe pull --format oci"
if [[ -f layout/index.json && -f layout/oci-layout ]]; then ok "the layout has index.json and oci-layout"; else not_ok "the layout has index.json and oci-layout"; fi
win pull --cache-dir cache --format oci-archive "$IMG" -o win-oci.tar
expect_success "haul.exe pull --format oci-archive"
win pull --no-cache "$IMG" -o win-nocache.tar
expect_success "haul.exe pull --no-cache"
same_file "its tar is the same" linux.tar win-nocache.tar

# ---------------------------------------------------------------- export
win export --cache-dir cache "$IMG" -o win-flat.tar
expect_success "haul.exe export REF"
same_file "its tar is Linux haul's export" linux-flat.tar win-flat.tar
win export win.tar -o win-flat2.tar
expect_success "haul.exe export of a local tar"
same_file "the same tree as from the registry" win-flat.tar win-flat2.tar

# ---------------------------------------------------------------- root filesystems: refused
win pull --cache-dir cache --format rootfs "$IMG" -o rootfs
expect_rc "haul.exe pull --format rootfs is refused" 1
expect_in "the refusal points to haul export" "$ERR" "haul export REF -o fs.tar"
left=(.*rootfs* *rootfs*)
if [[ ${#left[@]} == 0 ]]; then ok "and leaves nothing behind"; else not_ok "and leaves nothing behind" "${left[*]}"; fi
win unpack win.tar rootfs
expect_rc "haul.exe unpack is refused" 1
expect_in "with the same hint" "$ERR" "haul export REF -o fs.tar"

# ---------------------------------------------------------------- cache ls, prune
win cache ls --cache-dir cache
expect_success "haul.exe cache ls"
expect_not_in "the cache is not empty" "$OUT" "0 entries"
win cache prune --all --cache-dir cache
expect_success "haul.exe cache prune --all"
win cache ls --cache-dir cache
expect_in "it empties the cache" "$OUT" "0 entries"

# ---------------------------------------------------------------- summary
note "took $((SECONDS - START))s"
echo "$PASSED passed, $FAILED failed"
((FAILED == 0)) || exit 1
