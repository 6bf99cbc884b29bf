#!/usr/bin/env bash
# The full pull comparison of issue 19: bench/pull.sh on DISK=fast, then on
# DISK=slow (root: a loop device and a blkio cgroup), the same haul binary and
# ROUNDS for both, then the chart of the two. See bench/README.md.
#
# Writes bench/results/<date>-fast.md, <date>-slow.md (each with its -raw.tsv)
# and <date>.svg. Other knobs of bench/pull.sh (TOOLS, HAUL_BASE, SETTLE, ...)
# pass through. Never run in CI.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ROUNDS=${ROUNDS:-5}
FAST_IMAGES=${FAST_IMAGES:-big mid many tiny multi}
SLOW_IMAGES=${SLOW_IMAGES:-big mid s24}
PREFIX=${PREFIX:-$ROOT/bench/results/$(date +%F)}

BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [[ -z ${HAUL:-} ]]; then
	echo "# building haul (make build)" >&2
	make -s -C "$ROOT" build BIN="$BIN" >/dev/null
	export HAUL=$BIN/haul
fi
mkdir -p "$(dirname "$PREFIX")"
DISK=fast IMAGES=$FAST_IMAGES OUT=$PREFIX-fast.md "$ROOT/bench/pull.sh"
DISK=slow IMAGES=$SLOW_IMAGES OUT=$PREFIX-slow.md "$ROOT/bench/pull.sh"
(cd "$ROOT" && go run ./bench/chart -o "$PREFIX.svg" "$PREFIX-fast-raw.tsv" "$PREFIX-slow-raw.tsv")
echo "# wrote $PREFIX-fast.md, $PREFIX-slow.md (raw runs beside them) and $PREFIX.svg" >&2
