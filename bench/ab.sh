#!/usr/bin/env bash
# bench/ab.sh IMAGE ROUNDS MODE=BIN...: interleaved cold pulls of
# $REG/bench/IMAGE:1 (a registry bench/pull.sh filled: KEEP=1, then restart
# docker-registry on its storage), each after rm, sync and a pause of SETTLE
# seconds (default 2.5), so that every run starts with its freed memory back
# with the host, as a pull does on this VM after anything else ran. MODE is
# tar (cache on), nocache, oci (haul) or crane (crane pull --format=oci; BIN
# ignored). Prints, per MODE and binary, the wall, sys and peak RSS of each run.
set -euo pipefail
img=$1 rounds=$2
shift 2
: "${REG:?set REG to the registry, e.g. 127.0.0.1:5999}"
CRANE=${CRANE:-$(command -v crane || echo "$HOME/go/bin/crane")}
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
ref=$REG/bench/$img:1
for _ in $(seq "$rounds"); do
	for spec in "$@"; do
		mode=${spec%%=*} b=${spec#*=}
		rm -rf "${run:?}"/*
		sync
		sleep "${SETTLE:-2.5}"
		case $mode in
		tar) cmd=("$b" pull -q --cache-dir "$run/cache" -o "$run/out.tar" "$ref") ;;
		nocache) cmd=("$b" pull -q --no-cache -o "$run/out.tar" "$ref") ;;
		oci) cmd=("$b" pull -q --format oci --cache-dir "$run/cache" -o "$run/out" "$ref") ;;
		crane) cmd=("$CRANE" pull --insecure --format=oci "$ref" "$run/out") b=crane ;;
		*) echo "unknown mode $mode" >&2; exit 2 ;;
		esac
		/usr/bin/time -o "$run/t" -f '%e %S %M' "${cmd[@]}" >/dev/null
		echo "$mode $b $(cat "$run/t")"
	done
done | awk '{k = $1 " " $2; w[k] = w[k] " " $3; s[k] = s[k] " " $4; m[k] = m[k] " " int($5 / 1024)}
	END {for (k in w) print k, "| wall s:" w[k], "| sys s:" s[k], "| RSS MiB:" m[k]}' | sort
