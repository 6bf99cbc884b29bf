#!/usr/bin/env bash
# Copy benchmark (issue 21): haul copy and haul push against crane, regctl and
# skopeo, each run into a fresh, empty destination registry (one that holds a
# blob lets a client mount it from any repository, and skip the upload).
#
#   copy-*: registry to registry (haul copy, crane copy, regctl image copy,
#           skopeo copy docker:// docker://)
#   push-*: a bundle on disk into a registry (haul push, crane push,
#           regctl image import, skopeo copy docker-archive: docker://);
#           the bundle is `haul pull`'s docker tar of the image.
#   base-copy: HAUL_BASE copy, another haul (the code before a change) in
#           the same run; never counted as a peer.
#   curl-put, curl-get: the floors. curl-put puts each blob of the image into
#           the fresh destination as POST, then PUT with the body (curl -T)
#           from the source registry's warm data file, 8 at a time, and no
#           manifest: what the destination takes to ingest the bytes.
#           curl-get GETs each blob from the source to /dev/null, 8 at a time:
#           what the source takes to serve them.
#
# Both registries are Debian's docker-registry on 127.0.0.1, access logs on;
# the source's blobs are warm in the page cache. DISK=fast (the default): the
# destination's storage on this machine's disk. DISK=slow: on pull.sh's slow
# disk (bench/slowdisk.sh; root), the destination registry and the command in
# its blkio cgroup: the registry's fsync of each blob it commits is throttled
# to SLOW_BPS. Besides each command's wall and CPU, each run records the CPU
# seconds (user+sys) each registry spent during it, and the requests each
# was asked (its access log). Writes bench/results/<date>-copy.md and its
# -raw.tsv (OUT to change). Never run in CI.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-5}
IMAGES=${IMAGES:-big many}
ALL_TOOLS="haul-copy crane-copy regctl-copy skopeo-copy haul-push crane-push regctl-push skopeo-push"
TOOLS=${TOOLS:-$ALL_TOOLS}
BIG_MIB=${BIG_MIB:-1024}
MANY_LAYERS=${MANY_LAYERS:-40}
MANY_MIB=${MANY_MIB:-10}
DISK=${DISK:-fast}
case $DISK in
fast | slow) ;;
*) echo "bench: error: DISK=$DISK: fast or slow" >&2 && exit 2 ;;
esac
SLOW_BPS=${SLOW_BPS:-131072000}
SLOW_GIB=${SLOW_GIB:-6}
OUT=${OUT:-$ROOT/bench/results/$(date +%F)-copy$([[ $DISK == slow ]] && echo -slow).md}
RAW=${OUT%.md}-raw.tsv
T_START=$SECONDS

# shellcheck source=tools.sh
. "$ROOT/bench/tools.sh"
bench_tools
[[ -n $SKOPEO ]] || TOOLS=$(tr ' ' '\n' <<<"$TOOLS" | grep -v '^skopeo' | tr '\n' ' ')
read -r -a tools <<<"$TOOLS"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/haul-copybench.XXXXXX")
# shellcheck source=../scripts/registry.sh
. "$ROOT/scripts/registry.sh"
SRC_PID='' DST_PID=''
# DISK=slow: the loop device, its mount and the blkio cgroup (bench/slowdisk.sh).
SCRATCH=$WORK CGROUP='' LOOP='' SLOW_MNT=''
# shellcheck source=slowdisk.sh
. "$ROOT/bench/slowdisk.sh"
cleanup() {
	local rc=$?
	[[ -n $DST_PID ]] && kill "$DST_PID" 2>/dev/null
	[[ -n $SRC_PID ]] && kill "$SRC_PID" 2>/dev/null
	wait 2>/dev/null
	slow_teardown
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
if [[ $DISK == slow ]]; then
	slow_setup
	SCRATCH=$SLOW_MNT
fi

if [[ -n ${HAUL_BASE:-} ]]; then
	[[ -x $HAUL_BASE ]] || die "HAUL_BASE=$HAUL_BASE is not executable"
else
	read -r -a tools <<<"$(tr ' ' '\n' <<<"${tools[*]}" | grep -v '^base-' | tr '\n' ' ')"
fi
bench_haul
for verb in copy push; do
	if ! "$HAUL" "$verb" --help 2>/dev/null | grep -q "^  haul $verb "; then
		note "$HAUL has no $verb command: its rows are skipped"
		read -r -a tools <<<"$(tr ' ' '\n' <<<"${tools[*]}" | grep -v "^haul-$verb$" | tr '\n' ' ')"
	fi
done
(cd "$ROOT" && go build -o "$WORK/bin/mkimage" ./bench/mkimage) || die "building bench/mkimage failed"

start_registry "$WORK/src" 1 || die "could not start the source registry"
SRC=$REG SRC_PID=$REG_PID REG_PID=
note "source registry $SRC; pushing $IMAGES"
"$WORK/bin/mkimage" -registry "$SRC" -blobs "$WORK/blobs.txt" -only "$(tr ' ' ',' <<<"$IMAGES")" \
	-big-mib "$BIG_MIB" -many-layers "$MANY_LAYERS" -many-mib "$MANY_MIB" || die "mkimage failed"
payload() { awk -v r="bench/$1" '$1 == r { s += $3 } END { printf "%d", s }' "$WORK/blobs.txt"; }
for img in $IMAGES; do
	"$HAUL" pull -q --no-cache -o "$WORK/bundle-$img.tar" "$SRC/bench/$img:1" || die "haul pull of the bundle of $img failed"
done
find "$WORK/src/data" -type f -exec cat {} + >/dev/null

# cpu_ticks PID: the user+sys clock ticks PID has used.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICKS=$(getconf CLK_TCK)
secs() { awk -v t="$1" -v hz="$TICKS" 'BEGIN { printf "%.2f", t / hz }'; }
requests() { grep -c '" [0-9][0-9][0-9] ' "$1" || true; } # access log lines

# curl_floor put|get IMAGE DST: the floors' commands (see the top).
curl_floor() {
	local how=$1 img=$2 dst=$3
	awk -v r="bench/$img" '$1 == r { print $2 }' "$WORK/blobs.txt" |
		xargs -P 8 -I{} bash -c "$(declare -f curl_one); curl_one $how $img {} $dst $SRC '$WORK/src/data'"
}
curl_one() { # put|get IMAGE DIGEST DST SRC SRCDATA
	local how=$1 img=$2 dg=$3 dst=$4 src=$5 data=$6 loc sep
	if [[ $how == get ]]; then
		curl -sSf -o /dev/null "http://$src/v2/bench/$img/blobs/$dg"
		return
	fi
	loc=$(curl -sSf -X POST -D - -o /dev/null "http://$dst/v2/bench/$img/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1) == "location" { print $2 }')
	[[ $loc == http* ]] || loc=http://$dst$loc
	sep='?' && [[ $loc == *\?* ]] && sep='&'
	curl -sSf -H 'Content-Type: application/octet-stream' -H 'Expect:' -T "$data/docker/registry/v2/blobs/sha256/${dg:7:2}/${dg:7}/data" -o /dev/null "$loc${sep}digest=$dg"
}

# One timed run: a fresh destination registry, then the command.
run_one() { # ROUND IMAGE TOOL
	local round=$1 img=$2 tool=$3 rc=0 t0 t1 dst cmd
	rm -rf "$SCRATCH/dst" "$SCRATCH/home"
	start_registry "$SCRATCH/dst" 1 >/dev/null 2>&1 || die "could not start a destination registry"
	dst=$REG DST_PID=$REG_PID REG_PID=
	[[ -z $CGROUP ]] || echo "$DST_PID" >"$CGROUP/cgroup.procs"
	local from=$SRC/bench/$img:1 to=$dst/bench/$img:1 bundle=$WORK/bundle-$img.tar
	mkdir -p "$WORK/home"
	HOME=$WORK/home "$REGCTL" registry set --tls disabled "$SRC" >/dev/null
	HOME=$WORK/home "$REGCTL" registry set --tls disabled "$dst" >/dev/null
	case $tool in
	haul-copy) cmd=("$HAUL" copy -q "$from" "$to") ;;
	base-copy) cmd=("$HAUL_BASE" copy -q "$from" "$to") ;;
	curl-put | curl-get) cmd=(bash -c "$(declare -f curl_floor curl_one); WORK='$WORK' SRC='$SRC'; curl_floor ${tool#curl-} $img $dst") ;;
	haul-push) cmd=("$HAUL" push -q "$bundle" "$to") ;;
	crane-copy) cmd=("$CRANE" copy --insecure "$from" "$to") ;;
	crane-push) cmd=("$CRANE" push --insecure "$bundle" "$to") ;;
	regctl-copy) cmd=("$REGCTL" image copy "$from" "$to") ;;
	regctl-push) cmd=("$REGCTL" image import "$to" "$bundle") ;;
	skopeo-copy) cmd=("$SKOPEO" copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$from" "docker://$to") ;;
	skopeo-push) cmd=("$SKOPEO" copy -q --dest-tls-verify=false "docker-archive:$bundle" "docker://$to") ;;
	*) die "unknown tool $tool" ;;
	esac
	local sreq0 dreq0 scpu0 dcpu0
	sreq0=$(requests "$WORK/src/access.log") dreq0=$(requests "$SCRATCH/dst/access.log")
	scpu0=$(cpu_ticks "$SRC_PID") dcpu0=$(cpu_ticks "$DST_PID")
	t0=$EPOCHREALTIME
	(
		in_cgroup
		exec env HOME="$WORK/home" DOCKER_CONFIG="$WORK/home/.docker" TMPDIR="$SCRATCH" XDG_CACHE_HOME="$SCRATCH/home/cache" \
			/usr/bin/time -f '%e %U %S %M' -o "$WORK/time.txt" "${cmd[@]}" >"$WORK/out.txt" 2>&1
	) || rc=$?
	t1=$EPOCHREALTIME
	sleep 0.2 # the registries' last log lines
	local scpu dcpu sreq dreq
	scpu=$(secs $(($(cpu_ticks "$SRC_PID") - scpu0))) dcpu=$(secs $(($(cpu_ticks "$DST_PID") - dcpu0)))
	sreq=$(($(requests "$WORK/src/access.log") - sreq0)) dreq=$(($(requests "$SCRATCH/dst/access.log") - dreq0))
	kill "$DST_PID" 2>/dev/null; wait "$DST_PID" 2>/dev/null || true
	DST_PID=
	rm -rf "$SCRATCH/home/cache"
	local u s m
	read -r _ u s m < <(grep -v '^Command' "$WORK/time.txt" | tail -n1)
	printf '%s\t%s\t%s\t%s\t%.4f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$img" "$tool" "$round" "$rc" "$(bc <<<"$t1 - $t0")" "$u" "$s" "$m" \
		"$dcpu" "$scpu" "$dreq" "$sreq" >>"$RAW"
	[[ $rc == 0 ]] || { note "FAILED (rc $rc): $img $tool: ${cmd[*]}"; tail -n 3 "$WORK/out.txt" | sed 's/^/#   /' >&2; }
}

mkdir -p "$(dirname "$OUT")"
printf 'image\ttool\tround\trc\twall_s\tuser_s\tsys_s\tmaxrss_kb\tdst_cpu_s\tsrc_cpu_s\tdst_reqs\tsrc_reqs\n' >"$RAW"
for round in $(seq "$ROUNDS"); do
	note "round $round/$ROUNDS"
	for img in $IMAGES; do
		# The order rotates each round, so that no tool always runs first.
		for i in "${!tools[@]}"; do
			run_one "$round" "$img" "${tools[$(((i + round) % ${#tools[@]}))]}"
		done
	done
done

# The report: medians per (image, tool) of the wall, of the command's CPU
# (user+sys), of each registry's CPU during the run and of the requests each
# was asked; haul's ratio to the fastest peer of the same kind (copy or push;
# base and the curl floors are no peers).
{
	echo "# Copy benchmark, $(date +%F)"
	echo
	echo "haul $("$HAUL" --version | awk '{print $NF}')${HAUL_BASE:+ (base: $("$HAUL_BASE" --version | awk '{print $NF}'))}, crane $CRANE_VERSION, regctl $REGCTL_VERSION${SKOPEO:+, $("$SKOPEO" --version)};"
	echo "$ROUNDS rounds, each run into a fresh empty docker-registry; DISK=$DISK${SLOW_CHECK:+ ($SLOW_CHECK)}; images: $IMAGES. Raw runs: \`$(basename "$RAW")\`."
	echo "CPU: user+sys seconds of the command, and of each registry during the run; reqs: access-log lines."
	echo
	echo "| image | MiB | tool | ok | median wall | MiB/s | peak RSS | CPU | dst CPU | src CPU | dst reqs | src reqs | haul / fastest peer |"
	echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	awk -F'\t' -v pay="$(for i in $IMAGES; do printf '%s=%s,' "$i" "$(payload "$i")"; done)" '
		BEGIN { n = split(pay, kv, ","); for (i = 1; i <= n; i++) { split(kv[i], p, "="); bytes[p[1]] = p[2] } }
		NR > 1 { key = $1 SUBSEP $2; runs[key]++; order[key] = NR; img[key] = $1; tool[key] = $2
			if ($4 == 0) { m = ++ok[key]; w[key, m] = $5; c[key, m] = $6 + $7; d[key, m] = $9; s[key, m] = $10; dr[key, m] = $11; sr[key, m] = $12
				if ($8 > rss[key]) rss[key] = $8 } }
		function median(v, k,   m, i, j, a, t) { m = ok[k]; for (i = 1; i <= m; i++) a[i] = v[k, i]
			for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
			return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
		END {
			for (k in runs) if (ok[k]) { med[k] = median(w, k); split(tool[k], tk, "-"); kind = tk[2]
				if (tk[1] != "haul" && tk[1] != "base" && tk[1] != "curl" && (!((img[k], kind) in best) || med[k] < best[img[k], kind])) best[img[k], kind] = med[k] }
			for (k in runs) { split(tool[k], tk, "-"); kind = tk[2]; ratio = "-"
				if ((tk[1] == "haul" || tk[1] == "base") && ok[k] && ((img[k], kind) in best)) ratio = sprintf("%.2f", med[k] / best[img[k], kind])
				if (!ok[k]) { printf "| %s | %.0f | %s | 0/%d | - | - | - | - | - | - | - | - | - |\n", img[k], bytes[img[k]] / 1048576, tool[k], runs[k]; continue }
				printf "| %s | %.0f | %s | %d/%d | %.2f s | %.0f | %.0f MiB | %.2f s | %.2f s | %.2f s | %d | %d | %s |\n", img[k], bytes[img[k]] / 1048576, tool[k], ok[k], runs[k],
					med[k], bytes[img[k]] / 1048576 / med[k], rss[k] / 1024, median(c, k), median(d, k), median(s, k), median(dr, k), median(sr, k), ratio }
		}' "$RAW" | sort -t'|' -k2,2 -k4,4
	echo
	echo "Total time: $((SECONDS - T_START)) s."
} >"$OUT"
cat "$OUT"
note "wrote $OUT and $RAW"
