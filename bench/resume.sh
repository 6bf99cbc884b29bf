#!/usr/bin/env bash
# Resume benchmark (issue 21): what a resumed 1 GiB upload into distribution
# 3 costs, counted by the registry's side of the wire, not by the client.
#
# For each tool: a fresh distribution 3 (tools/devregistry on disk, no token)
# behind tools/countproxy; the tool copies a one-layer image of BIG_MIB
# random bytes into it and is killed (SIGKILL) once the registry's upload
# file holds about half the layer; then the same command runs again to the
# end, through a new countproxy on the same address (haul keeps its upload
# sessions per registry address). The report gives, for that second run, the
# bytes the proxy carried to the registry against the part of the layer the
# registry still lacked: haul should send that part plus one request's
# headers per request (the status GET, the one PATCH of the rest, the PUT, the
# manifest); a client that does not resume sends the whole layer again.
#
#   haul-copy    haul copy, registry to registry
#   haul-push    haul push of the docker tar haul pull wrote
#   crane-copy   crane copy
#   regctl-copy  regctl image copy
#
# The source is Debian's docker-registry with bench/mkimage's bench/big:1.
# Writes bench/results/<date>-resume.md (OUT to change). Never run in CI.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${TOOLS:-haul-copy haul-push crane-copy regctl-copy}
BIG_MIB=${BIG_MIB:-1024}
KILL_AT=${KILL_AT:-50} # percent of the layer the registry holds when the client is killed
OUT=${OUT:-$ROOT/bench/results/$(date +%F)-resume.md}
T_START=$SECONDS

# shellcheck source=tools.sh
. "$ROOT/bench/tools.sh"
bench_tools
read -r -a tools <<<"$TOOLS"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/haul-resumebench.XXXXXX")
# shellcheck source=../scripts/registry.sh
. "$ROOT/scripts/registry.sh"
SRC_PID='' D3_PID='' PROXY_PID='' CLIENT_PID=''
cleanup() {
	local rc=$? p
	for p in $CLIENT_PID $PROXY_PID $D3_PID $SRC_PID; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT

bench_haul
for t in mkimage:bench/mkimage devregistry:tools/devregistry countproxy:tools/countproxy; do
	(cd "$ROOT" && go build -o "$WORK/bin/${t%%:*}" "./${t#*:}") || die "building ${t#*:} failed"
done

start_registry "$WORK/src" || die "could not start the source registry"
SRC=$REG SRC_PID=$REG_PID REG_PID=
note "source registry $SRC; pushing bench/big:1 ($BIG_MIB MiB)"
"$WORK/bin/mkimage" -registry "$SRC" -blobs "$WORK/blobs.txt" -only big -big-mib "$BIG_MIB" || die "mkimage failed"
SRC_DIGEST=$("$CRANE" digest --insecure "$SRC/bench/big:1")
LAYER=$(awk '$1 == "bench/big" && $3 > m { m = $3 } END { printf "%d", m }' "$WORK/blobs.txt")
[[ $LAYER -gt 0 ]] || die "no layer size in $WORK/blobs.txt"
if [[ " $TOOLS " == *" haul-push "* ]]; then
	"$HAUL" pull -q --no-cache -o "$WORK/bundle.tar" "$SRC/bench/big:1" || die "haul pull of the bundle failed"
fi

# start_d3 DIR: a fresh distribution 3 on disk under DIR; sets D3 and D3_PID.
start_d3() {
	rm -rf "$1"
	mkdir -p "$1"
	"$WORK/bin/devregistry" -addr 127.0.0.1:0 -token=false -seed=false -dir "$1" >"$1.log" 2>&1 &
	D3_PID=$!
	for _ in $(seq 100); do grep -q '^ready' "$1.log" && break; sleep 0.1; done
	D3=$(sed -n 's|^ready https\?://||p' "$1.log")
	[[ -n $D3 ]] || die "tools/devregistry did not start: $(cat "$1.log")"
}

# start_proxy LISTEN COUNTFILE: countproxy in front of D3; sets PROXY and PROXY_PID.
start_proxy() {
	local log=$WORK/proxy.log
	: >"$log"
	"$WORK/bin/countproxy" -listen "$1" -to "$D3" -out "$2" >"$log" 2>&1 &
	PROXY_PID=$!
	for _ in $(seq 100); do grep -q '^listening' "$log" && break; sleep 0.05; done
	PROXY=$(sed -n 's|^listening ||p' "$log")
	[[ -n $PROXY ]] || die "countproxy did not start on $1: $(cat "$log")"
}

# stop_proxy: SIGTERM, and wait until it has written its count.
stop_proxy() {
	kill -TERM "$PROXY_PID" 2>/dev/null || true
	wait "$PROXY_PID" 2>/dev/null || true
	PROXY_PID=
}

# held DIR: the bytes of the largest upload in progress under DIR.
held() {
	find "$1" -path '*/_uploads/*' -name data -printf '%s\n' 2>/dev/null | sort -n | tail -n1 | sed 's/^$/0/'
}

# client TOOL DST: the command line that puts bench/big:1 at DST.
client() {
	local to=$2/bench/big:1
	case $1 in
	haul-copy) echo "$HAUL" --json copy "$SRC/bench/big:1" "$to" ;;
	haul-push) echo "$HAUL" --json push "$WORK/bundle.tar" "$to" ;;
	crane-copy) echo "$CRANE" copy --insecure "$SRC/bench/big:1" "$to" ;;
	regctl-copy) echo "$REGCTL" image copy "$SRC/bench/big:1" "$to" ;;
	*) die "unknown tool $1" ;;
	esac
}

# client_cmd TOOL DST: sets CMD to the tool's command line, run by env with
# the tool's own HOME and cache (env execs it: $! of CMD & is the tool).
client_cmd() {
	local -a cmd
	read -r -a cmd <<<"$(client "$1" "$2")"
	CMD=(env HOME="$WORK/home-$1" DOCKER_CONFIG="$WORK/home-$1/.docker" XDG_CACHE_HOME="$WORK/home-$1/cache" TMPDIR="$WORK" "${cmd[@]}")
}

# one TOOL: the killed run and the resumed one; appends a row to ROWS.
ROWS=()
one() {
	local tool=$1 dir=$WORK/d3-$1 killed_at=0 held_after run2 conns rc=0 digest sent=- resumed=- t0 t1
	mkdir -p "$WORK/home-$tool"
	start_d3 "$dir"
	start_proxy 127.0.0.1:0 "$WORK/count1"
	local addr=$PROXY
	HOME="$WORK/home-$tool" "$REGCTL" registry set --tls disabled "$SRC" >/dev/null
	HOME="$WORK/home-$tool" "$REGCTL" registry set --tls disabled "$addr" >/dev/null
	note "$tool: into distribution 3 at $D3 through $addr; killed at $KILL_AT% of $LAYER bytes"
	client_cmd "$tool" "$addr"
	"${CMD[@]}" >"$WORK/run1.out" 2>&1 &
	CLIENT_PID=$!
	for _ in $(seq 6000); do
		killed_at=$(held "$dir")
		((killed_at * 100 >= LAYER * KILL_AT)) && break
		kill -0 "$CLIENT_PID" 2>/dev/null || break
		sleep 0.02
	done
	kill -KILL "$CLIENT_PID" 2>/dev/null || true
	wait "$CLIENT_PID" 2>/dev/null || true
	CLIENT_PID=
	sleep 1 # what was in flight reaches the registry
	stop_proxy
	held_after=$(held "$dir")
	if ((held_after == 0 || held_after >= LAYER)); then
		note "$tool: the registry held $held_after bytes after the kill: no row"
		sed 's/^/#   /' "$WORK/run1.out" >&2
		kill "$D3_PID" 2>/dev/null; wait "$D3_PID" 2>/dev/null || true
		return
	fi

	start_proxy "$addr" "$WORK/count2"
	t0=$EPOCHREALTIME
	"${CMD[@]}" >"$WORK/run2.out" 2>&1 || rc=$?
	t1=$EPOCHREALTIME
	stop_proxy
	read -r run2 conns <"$WORK/count2"
	digest=$("$CRANE" digest --insecure "$D3/bench/big:1" 2>/dev/null || echo none)
	if [[ $tool == haul-* ]]; then
		sent=$(jq -r '(.copies // .pushes)[0].sent' "$WORK/run2.out" 2>/dev/null || echo -)
		resumed=$(jq -r '(.copies // .pushes)[0].resumed' "$WORK/run2.out" 2>/dev/null || echo -)
	fi
	[[ $rc == 0 && $digest == "$SRC_DIGEST" ]] || {
		note "$tool: run 2 exit $rc, digest $digest (want $SRC_DIGEST)"
		tail -n 5 "$WORK/run2.out" | sed 's/^/#   /' >&2
	}
	local missing=$((LAYER - held_after))
	ROWS+=("$(printf '| %s | %d | %d | %d | %d | %+d | %d | %s | %s | %.1f s | %s |' \
		"$tool" "$killed_at" "$held_after" "$missing" "$run2" "$((run2 - missing))" "$conns" "$sent" "$resumed" \
		"$(bc <<<"$t1 - $t0")" "$([[ $rc == 0 && $digest == "$SRC_DIGEST" ]] && echo yes || echo "NO (exit $rc)")")")
	note "$tool: held $held_after, missing $missing, run 2 sent $run2 bytes ($((run2 - missing)) over the missing part)"
	kill "$D3_PID" 2>/dev/null; wait "$D3_PID" 2>/dev/null || true
	D3_PID=
	rm -rf "$dir" "$WORK/home-$tool"
}

for tool in "${tools[@]}"; do
	one "$tool"
done

mkdir -p "$(dirname "$OUT")"
{
	echo "# Resume benchmark, $(date +%F)"
	echo
	echo "haul $("$HAUL" --version | awk '{print $NF}'), crane $CRANE_VERSION, regctl $REGCTL_VERSION; distribution 3"
	echo "(tools/devregistry, filesystem storage, no auth) behind tools/countproxy. Image: one uncompressed"
	echo "layer of $LAYER bytes ($BIG_MIB MiB of random bytes in a tar). Each client was killed (SIGKILL) once"
	echo "the registry's upload file held $KILL_AT% of the layer, then run again to the end."
	echo
	echo "- killed at: the upload file's size when the kill was sent; held: its size before run 2"
	echo "  (what was in flight at the kill has landed); missing = layer - held."
	echo "- run 2: bytes the proxy wrote to the registry in the second run (every request, headers and"
	echo "  bodies, the manifest and the config included), over conns TCP connections."
	echo "- over: run 2 - missing. A resumed upload sends the missing part plus the requests' headers"
	echo "  and the manifest; one that starts again sends the held part a second time."
	echo "- haul's own counters from --json: sent (bytes read into upload requests), resumed (bytes"
	echo "  the registry said it held when asked)."
	echo
	echo "| tool | killed at | held | missing | run 2 | over | conns | haul sent | haul resumed | run 2 wall | digest kept |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
	printf '%s\n' "${ROWS[@]}"
	echo
	echo "Reproduce: \`TOOLS=\"$TOOLS\" BIG_MIB=$BIG_MIB KILL_AT=$KILL_AT bench/resume.sh\`. Total time: $((SECONDS - T_START)) s."
} >"$OUT"
cat "$OUT"
note "wrote $OUT"
