#!/usr/bin/env bash
# bench/small.sh IMAGE ROUNDS: cold pulls of a small image ($REG/bench/IMAGE:1,
# tiny or multi, from a registry bench/pull.sh filled: KEEP=1, then restart
# docker-registry on its storage), interleaved, timed with bash's
# EPOCHREALTIME (GNU time's 10 ms steps are too coarse here). Every tool is
# told linux/amd64. MODES picks the rows: crane-oci crane-tar haul-oci haul-tar
# haul-nocache, and base-oci base-tar base-nocache for $HAUL_BASE. Prints the
# median and minimum wall of each.
set -euo pipefail
img=$1 rounds=$2
: "${REG:?set REG to the registry, e.g. 127.0.0.1:5999}"
HAUL=${HAUL:-$(command -v haul || echo bin/haul)}
CRANE=${CRANE:-$(command -v crane || echo "$HOME/go/bin/crane")}
MODES=${MODES:-crane-oci crane-tar haul-oci haul-tar haul-nocache}
ref=$REG/bench/$img:1
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
for _ in $(seq "$rounds"); do
	for m in $MODES; do
		rm -rf "${run:?}"/*
		sync
		h=$HAUL
		[[ $m == base-* ]] && h=${HAUL_BASE:?set HAUL_BASE for the base-* modes}
		case ${m#*-} in
		oci) [[ $m == crane-* ]] && cmd=("$CRANE" pull --insecure --format=oci --platform linux/amd64 "$ref" "$run/out") ||
			cmd=("$h" pull -q --format oci --platform linux/amd64 --cache-dir "$run/cache" -o "$run/out" "$ref") ;;
		tar) [[ $m == crane-* ]] && cmd=("$CRANE" pull --insecure --platform linux/amd64 "$ref" "$run/out.tar") ||
			cmd=("$h" pull -q --platform linux/amd64 --cache-dir "$run/cache" -o "$run/out.tar" "$ref") ;;
		nocache) cmd=("$h" pull -q --platform linux/amd64 --no-cache -o "$run/out.tar" "$ref") ;;
		*) echo "unknown mode $m" >&2; exit 2 ;;
		esac
		t0=$EPOCHREALTIME
		"${cmd[@]}" >/dev/null
		t1=$EPOCHREALTIME
		echo "$m $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) * 1000 }')"
	done
done | awk '
	{ w[$1] = w[$1] " " $2; n[$1]++ }
	function sorted(list, a,   c, i, j, x) {
		c = split(list, a, " ")
		for (i = 2; i <= c; i++) { x = a[i]; for (j = i - 1; j > 0 && a[j] + 0 > x + 0; j--) a[j + 1] = a[j]; a[j + 1] = x }
		return c
	}
	END {
		for (k in w) {
			c = sorted(w[k], a)
			printf "%-13s median %6.1f ms  min %6.1f ms  (%d runs)\n", k, c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2, a[1], n[k]
		}
	}' | sort
