#!/usr/bin/env bash
# cross.sh runs tests built for other systems on this Linux amd64 machine
# (make cross):
#
#   windows/amd64 under Wine: ./disk/... (locks past EOF, free space for the
#     caller, renames and removals retried while a file is open) and
#     ./rootfs/... (the unpack's refusal, Export); then test/e2e-windows.sh,
#     haul.exe against tools/devregistry (reads, login, pulls, the cache,
#     export, the refusal);
#   linux/arm64 under qemu-aarch64-static, run explicitly (binfmt may not be
#     registered): $ARM64_PKGS.
#
# Needs Debian's wine64, binutils-mingw-w64-x86-64 and qemu-user-static
# (.ci/run installs them). Debian 12's Wine 8 needs two shims, both made
# here and used by these tests only:
#   - bcryptprimitives.dll: Go programs since Go 1.22 load ProcessPrng from it
#     at start, and Wine 8 has no such DLL. A forwarder to advapi32's
#     SystemFunction036 (RtlGenRandom), linked by mingw's ld, goes into the
#     prefix's system32.
#   - os.RemoveAll (t.TempDir's cleanup) deletes through
#     FileDispositionInformationEx, which Wine 8 answers with
#     STATUS_NOT_IMPLEMENTED rather than the statuses Go falls back on: the
#     Windows tests are built with an -overlay of GOROOT's
#     internal/syscall/windows/at_windows.go that falls back on it too.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
GO=${GO:-go}
# The packages, and extra go test flags (-v, -run), of each part.
ARM64_PKGS=${ARM64_PKGS:-./ref/... ./image/... ./disk/... ./archive/... ./auth/...}
WINDOWS_PKGS=${WINDOWS_PKGS:-./disk/... ./rootfs/...}
ARM64_FLAGS=${ARM64_FLAGS:-}
WINDOWS_FLAGS=${WINDOWS_FLAGS:-}

die() { echo "cross: $*" >&2; exit 1; }

WINE=
for w in wine64 /usr/lib/wine/wine64; do
	if command -v "$w" >/dev/null 2>&1; then WINE=$w; break; fi
done
[ -n "$WINE" ] || die "no wine64: apt-get install wine64"
command -v x86_64-w64-mingw32-ld >/dev/null || die "no x86_64-w64-mingw32-ld: apt-get install binutils-mingw-w64-x86-64"
command -v qemu-aarch64-static >/dev/null || die "no qemu-aarch64-static: apt-get install qemu-user-static"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/haul-cross.XXXXXX")
export WINEPREFIX=$WORK/wine WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
cleanup() {
	# The prefix's wineserver outlives the last program by seconds: stop it.
	for s in wineserver /usr/lib/wine/wineserver64 /usr/lib/wine/wineserver; do
		if command -v "$s" >/dev/null 2>&1; then "$s" -k >/dev/null 2>&1 || true; break; fi
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

# windows/amd64 -----------------------------------------------------------
start=$SECONDS
"$WINE" wineboot --init >"$WORK/wineboot.log" 2>&1 || { cat "$WORK/wineboot.log"; die "wineboot failed"; }
printf 'LIBRARY bcryptprimitives.dll\nEXPORTS\n  ProcessPrng = advapi32.SystemFunction036\n' >"$WORK/bcryptprimitives.def"
x86_64-w64-mingw32-ld --shared -e 0 --no-insert-timestamp \
	-o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" "$WORK/bcryptprimitives.def"

at=$($GO env GOROOT)/src/internal/syscall/windows/at_windows.go
old='		STATUS_NOT_SUPPORTED:     // the file system'
new='		STATUS_NOT_SUPPORTED, NTStatus(0xC0000002): // STATUS_NOT_IMPLEMENTED (Wine 8); the file system'
grep -qF "$old" "$at" || die "$at changed: update the Wine 8 overlay in scripts/cross.sh"
sed "s|$old|$new|" "$at" >"$WORK/at_windows.go"
printf '{"Replace":{"%s":"%s"}}\n' "$at" "$WORK/at_windows.go" >"$WORK/overlay.json"
echo "cross: windows/amd64 under $("$WINE" --version) (prefix ready in $((SECONDS - start)) s): $WINDOWS_PKGS"
# shellcheck disable=SC2086 # the package lists are word lists
GOOS=windows GOARCH=amd64 $GO test -count=1 $WINDOWS_FLAGS -overlay "$WORK/overlay.json" -exec "$ROOT/scripts/wine-exec" $WINDOWS_PKGS
./test/e2e-windows.sh # haul.exe itself: pulls, the cache, export, login, the refusal
echo "cross: windows/amd64 took $((SECONDS - start)) s"

# linux/arm64 -------------------------------------------------------------
start=$SECONDS
echo "cross: linux/arm64 under $(qemu-aarch64-static --version | head -1): $ARM64_PKGS"
# shellcheck disable=SC2086
GOOS=linux GOARCH=arm64 $GO test -count=1 $ARM64_FLAGS -exec qemu-aarch64-static $ARM64_PKGS
echo "cross: linux/arm64 took $((SECONDS - start)) s"
