#!/usr/bin/env bash
# Pull benchmark: haul against crane, regctl and skopeo, and against curl (the
# limits), on a local Debian docker-registry holding deterministic synthetic
# images. See bench/README.md for what it measures and its knobs.
#
# Writes bench/results/<date>.md (DISK=slow: <date>-slow.md; the raw runs in
# *-raw.tsv beside it) and prints the table. Never run in CI.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-5}
SETTLE=${SETTLE:-0}
DISK=${DISK:-fast}
case $DISK in
fast) IMAGES=${IMAGES:-big mid many tiny multi} ;;
slow) IMAGES=${IMAGES:-big mid s24} ;;
*) echo "bench: error: DISK=$DISK: fast or slow" >&2 && exit 2 ;;
esac
ALL_TOOLS="haul-tar haul-tar-nocache haul-oci haul-oci-nocache haul-oci-repull crane-tar crane-oci regctl-tar skopeo-tar skopeo-oci curl-null curl-file"
TOOLS=${TOOLS:-$ALL_TOOLS}
BIG_MIB=${BIG_MIB:-1024}
MID_MIB=${MID_MIB:-256}
MANY_LAYERS=${MANY_LAYERS:-40}
MANY_MIB=${MANY_MIB:-10}
S24_LAYERS=${S24_LAYERS:-24}
S24_MIB=${S24_MIB:-4}
SLOW_BPS=${SLOW_BPS:-131072000}
SLOW_GIB=${SLOW_GIB:-12}
HAUL_JOBS=${HAUL_JOBS:-}
DATE=$(date +%F)
OUT=${OUT:-$ROOT/bench/results/$DATE$([[ $DISK == slow ]] && echo -slow).md}
RAW=${OUT%.md}-raw.tsv
REPULL_TARGET_MS=${REPULL_TARGET_MS:-25}
RSS_TARGET_MIB=${RSS_TARGET_MIB:-32}
T_START=$SECONDS

# shellcheck source=tools.sh
. "$ROOT/bench/tools.sh"
has_tool() { [[ " $TOOLS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- prerequisites
bench_tools
if [[ -z $SKOPEO ]]; then
	TOOLS=$(tr ' ' '\n' <<<"$TOOLS" | grep -v '^skopeo' | tr '\n' ' ')
fi
read -r -a tool_list <<<"$(tr -s ' \t\n' ' ' <<<"$TOOLS")"
TOOLS="${tool_list[*]}" # one space between names, for has_tool

# ---------------------------------------------------------------- work dir
WORK=$(mktemp -d "${HAUL_BENCH_TMP:-${TMPDIR:-/tmp}}/haul-bench.XXXXXX")
# shellcheck source=../scripts/registry.sh
. "$ROOT/scripts/registry.sh"
REG_PID=
# DISK=slow: the loop device, its mount and the blkio cgroup (bench/slowdisk.sh).
SCRATCH=$WORK CGROUP='' LOOP='' SLOW_MNT=''
# shellcheck source=slowdisk.sh
. "$ROOT/bench/slowdisk.sh"
cleanup() {
	local rc=$?
	stop_registry
	slow_teardown
	if [[ ${KEEP:-} == 1 ]]; then
		note "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [[ $DISK == slow ]]; then
	slow_setup
	SCRATCH=$SLOW_MNT
fi

# ---------------------------------------------------------------- haul, mkimage
if [[ -n ${HAUL:-} ]]; then
	[[ -x $HAUL ]] || die "HAUL=$HAUL is not executable"
else
	note "building haul (make build)"
	make -s -C "$ROOT" build BIN="$WORK/bin" >/dev/null || die "make build failed"
	HAUL=$WORK/bin/haul
fi
(cd "$ROOT" && go build -o "$WORK/bin/mkimage" ./bench/mkimage) || die "building bench/mkimage failed"
HAUL_VERSION=$("$HAUL" --version 2>/dev/null | awk '{print $NF}')
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- . ':!bench' 2>/dev/null || echo ', tree dirty')

# ---------------------------------------------------------------- registry
# The access log counts blob requests per run.
start_registry "$WORK/registry" 1 || die "could not start docker-registry"
note "docker-registry (pid $REG_PID) on $REG"

note "pushing images: $IMAGES"
only=$(tr ' ' ',' <<<"$IMAGES")
"$WORK/bin/mkimage" -registry "$REG" -blobs "$WORK/blobs.txt" -only "$only" \
	-big-mib "$BIG_MIB" -mid-mib "$MID_MIB" -many-layers "$MANY_LAYERS" -many-mib "$MANY_MIB" \
	-s24-layers "$S24_LAYERS" -s24-mib "$S24_MIB" || die "mkimage failed"

# payload IMAGE: bytes of the blobs of the image's linux/amd64 manifest
payload() { awk -v r="bench/$1" '$1 == r { s += $3 } END { printf "%d", s }' "$WORK/blobs.txt"; }

# Warm the page cache with the registry's blobs (and every tool's binary).
note "warming the page cache"
find "$WORK/registry/data" -type f -exec cat {} + >/dev/null
cat "$HAUL" "$CRANE" "$REGCTL" ${SKOPEO:+"$SKOPEO"} >/dev/null

# ---------------------------------------------------------------- peers' config
REGCTL_HOME=$WORK/regctl-home
mkdir -p "$REGCTL_HOME" "$WORK/crane-docker"
HOME=$REGCTL_HOME "$REGCTL" registry set --tls disabled "$REG" >/dev/null || die "regctl registry set failed"

# ---------------------------------------------------------------- one timed run
# Every output and haul's cache go under SCRATCH: the work dir, or the slow
# disk's mount. A command runs as ( in_cgroup; exec CMD ): in the slow disk's
# cgroup for DISK=slow, and a subshell (as cheap as the fork of a plain command)
# that does nothing more for DISK=fast.
RUN=$SCRATCH/run
LOG_LINES=0
log_mark() { LOG_LINES=$(wc -l <"$WORK/registry/access.log"); }
blob_requests() { # since the last log_mark: GET and HEAD of /blobs/
	tail -n "+$((LOG_LINES + 1))" "$WORK/registry/access.log" | grep -c '"\(GET\|HEAD\) /v2/[^ ]*/blobs/sha256:' || true
}

# set_cmd TOOL IMAGE: CMD is the command line to time.
set_cmd() {
	local tool=$1 img=$2 ref=$REG/bench/$2:1 jobs=() plat=() craneplat=() regplat=() skoplat=()
	[[ -n $HAUL_JOBS ]] && jobs=(--jobs "$HAUL_JOBS")
	if [[ $img == multi ]]; then
		plat=(--platform linux/amd64)
		craneplat=(--platform linux/amd64)
		regplat=(--platform linux/amd64)
		skoplat=(--override-os linux --override-arch amd64)
	fi
	case $tool in
	haul-tar) CMD=("$HAUL" pull -q "${jobs[@]}" "${plat[@]}" --cache-dir "$RUN/cache" -o "$RUN/out.tar" "$ref") ;;
	haul-tar-nocache) CMD=("$HAUL" pull -q "${jobs[@]}" "${plat[@]}" --no-cache -o "$RUN/out.tar" "$ref") ;;
	haul-oci) CMD=("$HAUL" pull -q "${jobs[@]}" "${plat[@]}" --format oci --cache-dir "$RUN/cache" -o "$RUN/out" "$ref") ;;
	haul-oci-nocache) CMD=("$HAUL" pull -q "${jobs[@]}" "${plat[@]}" --no-cache --format oci -o "$RUN/out" "$ref") ;;
	haul-oci-repull) CMD=("$HAUL" pull -q "${jobs[@]}" "${plat[@]}" --format oci --cache-dir "$SCRATCH/repull-$img/cache" -o "$SCRATCH/repull-$img/layout" "$ref") ;;
	base-tar | base-tar-nocache | base-oci | base-oci-nocache)
		# Another haul build, for a before/after in one run (HAUL_BASE).
		[[ -x ${HAUL_BASE:-} ]] || die "$tool needs HAUL_BASE, an executable haul to compare with"
		local mine=$HAUL
		HAUL=$HAUL_BASE
		set_cmd "haul-${tool#base-}" "$img"
		HAUL=$mine
		;;
	crane-tar) CMD=(env DOCKER_CONFIG="$WORK/crane-docker" "$CRANE" pull --insecure "${craneplat[@]}" "$ref" "$RUN/out.tar") ;;
	crane-oci) CMD=(env DOCKER_CONFIG="$WORK/crane-docker" "$CRANE" pull --insecure "${craneplat[@]}" --format=oci "$ref" "$RUN/out") ;;
	regctl-tar) CMD=(env HOME="$REGCTL_HOME" "$REGCTL" image export "${regplat[@]}" "$ref" "$RUN/out.tar") ;;
	skopeo-tar) CMD=(env HOME="$RUN/home" TMPDIR="$RUN/tmp" "$SKOPEO" copy -q "${skoplat[@]}" --src-tls-verify=false "docker://$ref" "docker-archive:$RUN/out.tar") ;;
	skopeo-oci) CMD=(env HOME="$RUN/home" TMPDIR="$RUN/tmp" "$SKOPEO" copy -q "${skoplat[@]}" --src-tls-verify=false "docker://$ref" "oci:$RUN/out") ;;
	# The limits: the image's blobs (config and layers, not the manifest),
	# one after another for the one-layer images (big, mid), 8 at once
	# otherwise, all from one curl.
	curl-null | curl-file)
		# One curl process for all the blobs, reusing connections, so the limit
		# holds no process start-ups (41 curls under xargs cost ~0.25 s here).
		local par=(--parallel --parallel-max 8)
		[[ $img == big || $img == mid ]] && par=()
		CMD=(curl -sf "${par[@]}" -K "$WORK/curl-$tool-$img.txt")
		;;
	*) die "unknown tool $tool" ;;
	esac
}

# run_one ROUND IMAGE TOOL: appends a line to RAW.
run_one() {
	local round=$1 img=$2 tool=$3 t0 t1 rc wall u s m reqs
	rm -rf "$RUN"
	mkdir -p "$RUN/home" "$RUN/tmp" "$RUN/blobs"
	set_cmd "$tool" "$img"
	log_mark
	t0=$EPOCHREALTIME
	rc=0
	(
		in_cgroup
		exec /usr/bin/time -f '%e %U %S %M' -o "$WORK/time.txt" "${CMD[@]}"
	) >"$WORK/stdout.txt" 2>"$WORK/stderr.txt" || rc=$?
	t1=$EPOCHREALTIME
	if [[ $rc == 0 && $tool != curl-* && $tool != haul-oci-repull && ! -e $RUN/out.tar && ! -e $RUN/out ]]; then
		rc=99
		echo "no output was written" >>"$WORK/stderr.txt"
	fi
	rm -rf "$RUN"
	sync
	sleep "$SETTLE"
	reqs=$(blob_requests)
	wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
	read -r _ u s m < <(grep -v '^Command' "$WORK/time.txt" | tail -n1)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$img" "$tool" "$round" "$rc" "$wall" "$u" "$s" "$m" "$reqs" "$DISK" >>"$RAW"
	if [[ $rc != 0 ]]; then
		note "FAILED (rc $rc): round $round $img $tool: ${CMD[*]}"
		sed 's/^/#   /' "$WORK/stderr.txt" | tail -n 5 >&2
	fi
}

# ---------------------------------------------------------------- prepare
mkdir -p "$(dirname "$OUT")"
printf 'image\ttool\tround\trc\twall_s\tuser_s\tsys_s\tmaxrss_kb\tblob_reqs\tdisk\n' >"$RAW"
for img in $IMAGES; do
	awk -v r="bench/$img" '$1 == r' "$WORK/blobs.txt" >"$WORK/blobs-$img.txt"
	awk -v reg="$REG" '{ print "url = \"http://" reg "/v2/" $1 "/blobs/" $2 "\"\noutput = \"/dev/null\"" }' "$WORK/blobs-$img.txt" >"$WORK/curl-curl-null-$img.txt"
	awk -v reg="$REG" -v run="$RUN" '{ d = $2; sub(/^sha256:/, "", d); print "url = \"http://" reg "/v2/" $1 "/blobs/" $2 "\"\noutput = \"" run "/blobs/" d "\"" }' "$WORK/blobs-$img.txt" >"$WORK/curl-curl-file-$img.txt"
	if has_tool haul-oci-repull; then
		# The re-pull's starting point: a warm cache and a layout holding the image.
		mkdir -p "$SCRATCH/repull-$img"
		set_cmd haul-oci-repull "$img"
		(
			in_cgroup
			exec "${CMD[@]}"
		) >/dev/null 2>"$WORK/stderr.txt" || die "preparing the re-pull of $img: $(cat "$WORK/stderr.txt")"
	fi
done
# One untimed pull of tiny by every tool: first-run costs (config files,
# binaries into memory) stay out of the numbers.
if grep -qw tiny <<<"$IMAGES"; then
	note "warm-up round (tiny, untimed)"
	for tool in $TOOLS; do
		set_cmd "$tool" tiny
		rm -rf "$RUN"
		mkdir -p "$RUN/home" "$RUN/tmp" "$RUN/blobs"
		(
			in_cgroup
			exec "${CMD[@]}"
		) >/dev/null 2>&1 || note "warm-up of $tool failed"
		rm -rf "$RUN"
	done
fi

# ---------------------------------------------------------------- the rounds
# Other load on the machine skews every number: measure it. busy_cpu prints the
# machine's busy CPU seconds so far, reg_cpu the registry's.
busy_cpu() { awk '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / 100 }' /proc/stat; }
reg_cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$REG_PID/stat"; }
b0=$(busy_cpu)
sleep 2
IDLE_BEFORE=$(awk -v a="$b0" -v b="$(busy_cpu)" 'BEGIN { printf "%.2f", (b - a) / 2 }')
if awk -v l="$IDLE_BEFORE" 'BEGIN { exit !(l > 0.2) }'; then
	note "warning: $IDLE_BEFORE cores busy before the rounds: something else is running, numbers will be noisy"
fi
BUSY0=$(busy_cpu) REG0=$(reg_cpu) WALL0=$EPOCHREALTIME
read -r -a TOOL_ARR <<<"$TOOLS"
NT=${#TOOL_ARR[@]}
for ((round = 1; round <= ROUNDS; round++)); do
	note "round $round/$ROUNDS ($((SECONDS - T_START)) s so far)"
	for img in $IMAGES; do
		for ((k = 0; k < NT; k++)); do
			run_one "$round" "$img" "${TOOL_ARR[$(((k + round - 1) % NT))]}"
		done
	done
done
BUSY1=$(busy_cpu) REG1=$(reg_cpu) WALL1=$EPOCHREALTIME
RUNS_CPU=$(awk -F'\t' 'NR > 1 { s += $6 + $7 } END { printf "%.2f", s }' "$RAW")
OTHER=$(awk -v b0="$BUSY0" -v b1="$BUSY1" -v r0="$REG0" -v r1="$REG1" -v c="$RUNS_CPU" -v w0="$WALL0" -v w1="$WALL1" \
	'BEGIN { o = (b1 - b0) - (r1 - r0) - c; if (o < 0) o = 0; printf "%.1f s of CPU besides the runs and the registry over %.0f s of rounds (%.2f cores on average)", o, w1 - w0, o / (w1 - w0) }')

# The re-pull's blob requests, as haul --trace tells them (one more run each).
# A cold pull with --trace is the control: it shows the count is not 0 by mistake.
declare -A TRACE_BLOBS TRACE_COLD
if has_tool haul-oci-repull; then
	for img in $IMAGES; do
		set_cmd haul-oci-repull "$img"
		"${CMD[0]}" --trace "${CMD[@]:1}" >/dev/null 2>"$WORK/trace.txt" || true
		TRACE_BLOBS[$img]=$(grep -c '/blobs/' "$WORK/trace.txt" || true)
		rm -rf "$RUN" && mkdir -p "$RUN"
		set_cmd haul-oci "$img"
		"${CMD[0]}" --trace "${CMD[@]:1}" >/dev/null 2>"$WORK/trace.txt" || true
		TRACE_COLD[$img]=$(grep -c '/blobs/' "$WORK/trace.txt" || true)
		rm -rf "$RUN"
	done
fi

# ---------------------------------------------------------------- the report
# shellcheck source=report.sh
. "$ROOT/bench/report.sh"
HAUL_MODES="haul-tar haul-tar-nocache haul-oci haul-oci-nocache"

# target_limit IMAGE: issue 19's bound on haul / fastest peer for IMAGE on this DISK (empty: none).
target_limit() {
	case $DISK:$1 in
	fast:big | fast:mid | fast:many | slow:big | slow:mid) echo 0.9 ;;
	slow:s24) echo 1.0 ;;
	esac
}
# verdict A B LIMIT: met when A / B <= LIMIT; - when A or B is missing.
verdict() {
	if [[ -z $1 || -z $2 ]]; then echo -; return; fi
	awk -v a="$1" -v b="$2" -v l="$3" 'BEGIN { print (a / b <= l ? "met" : "NOT met") }'
}
ratio3() { if [[ -z $1 || -z $2 ]]; then echo -; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; fi; }
tally() { # VERDICT: counts it in met and all
	all=$((all + 1))
	if [[ $1 == met ]]; then met=$((met + 1)); fi
}

if [[ $DISK == slow ]]; then
	DISK_DESC="ext4 on $LOOP ($SLOW_DEV; a ${SLOW_GIB} GiB sparse file under the work dir, the loop's direct-io off) holds every output and haul's --cache-dir,
and every timed command runs in the blkio cgroup v1 \`$CGROUP\`, its writes to $SLOW_DEV held to $SLOW_BPS B/s ($((SLOW_BPS / 1048576)) MiB/s).
Self-check: $SLOW_CHECK.
cgroup v1 throttles only the I/O a process submits itself (O_DIRECT writes, what its fsync flushes), not the page cache's writeback:
this is a slow disk (a cloud volume's baseline, an HDD) on a machine with RAM to spare."
else
	DISK_DESC="this machine's disk: outputs and haul's --cache-dir under $SCRATCH ($(df --output=source,fstype "$SCRATCH" | tail -n1 | tr -s ' ')), no throttle."
fi

describe() {
	case $1 in
	big) echo "big: 1 layer, ${BIG_MIB} MiB random, uncompressed tar" ;;
	mid) echo "mid: 1 layer, ${MID_MIB} MiB random, uncompressed tar" ;;
	many) echo "many: ${MANY_LAYERS} layers x ${MANY_MIB} MiB random, uncompressed tars" ;;
	s24) echo "s24: ${S24_LAYERS} layers x ${S24_MIB} MiB random, uncompressed tars" ;;
	tiny) echo "tiny: 1 gzip layer, 4 KiB file" ;;
	multi) echo "multi: OCI index amd64+arm64, 64 KiB gzip layer each (amd64 pulled)" ;;
	esac
}

{
	echo "# haul pull benchmark, $DATE"
	echo
	echo "haul $HAUL_VERSION (HEAD $GIT_REV when the run started),"
	if [[ -n ${HAUL_BASE:-} ]]; then
		echo "base-* rows: $HAUL_BASE, $("$HAUL_BASE" --version 2>/dev/null | head -n1) (sha256 $(sha256sum "$HAUL_BASE" | cut -c1-12)),"
	fi
	echo "crane $CRANE_VERSION, regctl $REGCTL_VERSION, $("${SKOPEO:-false}" --version 2>/dev/null || echo 'no skopeo'),"
	echo "$(curl --version | head -n1 | cut -d' ' -f1-2), $(docker-registry --version 2>/dev/null | awk '{print $1, $3}') on 127.0.0.1 (plain HTTP, filesystem storage)."
	echo "$(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)."
	echo "ROUNDS=$ROUNDS, interleaved round-robin, tool order rotated each round; every run cold"
	echo "(fresh empty output, and for haul a fresh empty --cache-dir), outputs deleted and \`sync\` after each run,"
	echo "the registry's blobs warm in the page cache. Wall: bash EPOCHREALTIME around the command;"
	echo "CPU (user+sys) and peak RSS: GNU time."
	echo "blob reqs: GET+HEAD of /blobs/ in the registry's access log during the run (median)."
	echo "Other load: $IDLE_BEFORE cores busy in the 2 s before the rounds; during them, $OTHER"
	echo "(sync's writeback and this script count as other)."
	echo "The timing ends when the tool exits: what it leaves in the page cache for the kernel to write back is not timed;"
	echo "outputs are deleted and synced after each run, outside the timing$([[ $SETTLE != 0 ]] && echo ", then a pause of SETTLE=$SETTLE s")."
	echo
	echo "**DISK=$DISK**: $DISK_DESC"
	echo
	for img in $IMAGES; do
		echo "## $(describe "$img")"
		echo
		echo "payload: $(awk -v b="$(payload "$img")" 'BEGIN { printf "%.1f MiB", b / 1048576 }') in $(wc -l <"$WORK/blobs-$img.txt") blobs (config + layers)"
		echo
		echo "| tool | ok | wall min | wall median | MiB/s (median) | CPU median | peak RSS median | blob reqs |"
		echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
		for tool in $TOOLS; do
			mn=$(agg "$img" "$tool" 5 min)
			md=$(agg "$img" "$tool" 5 median)
			cpu=$(cpu_median "$img" "$tool")
			rss=$(agg "$img" "$tool" 8 median)
			reqs=$(agg "$img" "$tool" 9 median)
			tput=-
			[[ -n $md && $tool != haul-oci-repull ]] && tput=$(awk -v b="$(payload "$img")" -v s="$md" 'BEGIN { printf "%.0f", b / 1048576 / s }')
			printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$tool" "$(count_ok "$img" "$tool")" \
				"$(fmt_s "$mn")" "$(fmt_s "$md")" "$tput" "$(fmt_s "$cpu")" \
				"$([[ -n $rss ]] && awk -v k="$rss" 'BEGIN { printf "%.0f MiB", k / 1024 }' || echo -)" "$([[ -n $reqs ]] && awk -v r="$reqs" 'BEGIN { printf "%g", r }' || echo -)"
		done
		echo
	done

	echo "## haul's ratios (median wall; < 1 is faster)"
	echo
	echo "fastest peer: the lowest median wall among crane, regctl and skopeo in any format;"
	echo "same-format peer: the fastest of crane-tar, regctl-tar, skopeo-tar for haul's tar, of crane-oci, skopeo-oci for haul's oci."
	echo
	echo "| image | haul mode | haul median | / fastest peer | / fastest same-format peer | / curl -o FILE | / curl -o /dev/null |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
	for img in $IMAGES; do
		cf=$(agg "$img" curl-file 5 median)
		cn=$(agg "$img" curl-null 5 median)
		for tool in $HAUL_MODES; do
			has_tool "$tool" || continue
			case $tool in
			haul-oci*) same="crane-oci skopeo-oci" ;;
			*) same="crane-tar regctl-tar skopeo-tar" ;;
			esac
			read -r best bestname < <(fastest "$img" crane-tar crane-oci regctl-tar skopeo-tar skopeo-oci)
			# shellcheck disable=SC2086 # same is a list of tools
			read -r sbest sbestname < <(fastest "$img" $same)
			md=$(agg "$img" "$tool" 5 median)
			printf '| %s | %s | %s | %s (%s) | %s (%s) | %s | %s |\n' "$img" "$tool" "$(fmt_s "$md")" \
				"$(ratio "$md" "$best")" "${bestname:--}" "$(ratio "$md" "$sbest")" "${sbestname:--}" \
				"$(ratio "$md" "$cf")" "$(ratio "$md" "$cn")"
		done
	done
	echo

	echo "## Targets of issue 19 (DISK=$DISK)"
	echo
	echo "haul / fastest peer (median wall) <= 0.9 for big, mid and many on DISK=fast and for big and mid on DISK=slow, <= 1.0 for s24 on DISK=slow,"
	echo "for every haul mode; haul-tar-nocache and haul-oci <= 1.15 x curl -o FILE on those images; every haul row's peak RSS (max of its runs) <= $RSS_TARGET_MIB MiB."
	echo
	echo "| target | image | haul row | measured | verdict |"
	echo "| --- | --- | --- | ---: | --- |"
	met=0 all=0
	for img in $IMAGES; do
		lim=$(target_limit "$img")
		[[ -n $lim ]] || continue
		read -r best bestname < <(fastest "$img" crane-tar crane-oci regctl-tar skopeo-tar skopeo-oci)
		cf=$(agg "$img" curl-file 5 median)
		for tool in $HAUL_MODES; do
			has_tool "$tool" || continue
			md=$(agg "$img" "$tool" 5 median)
			v=$(verdict "$md" "$best" "$lim")
			printf '| <= %s x fastest peer | %s | %s | %s (%s) | %s |\n' "$lim" "$img" "$tool" "$(ratio3 "$md" "$best")" "${bestname:--}" "$v"
			tally "$v"
		done
		for tool in haul-tar-nocache haul-oci; do
			has_tool "$tool" || continue
			md=$(agg "$img" "$tool" 5 median)
			v=$(verdict "$md" "$cf" 1.15)
			printf '| <= 1.15 x curl -o FILE | %s | %s | %s | %s |\n' "$img" "$tool" "$(ratio3 "$md" "$cf")" "$v"
			tally "$v"
		done
	done
	for tool in $TOOLS; do
		[[ $tool == haul-* ]] || continue
		rss=$(awk -F'\t' -v t="$tool" '$2 == t && $4 == 0 && $8 > m { m = $8 } END { if (m) printf "%.1f", m / 1024 }' "$RAW")
		v=$(verdict "$rss" 1 "$RSS_TARGET_MIB")
		printf '| peak RSS <= %s MiB | all | %s | %s MiB | %s |\n' "$RSS_TARGET_MIB" "$tool" "${rss:--}" "$v"
		tally "$v"
	done
	echo
	echo "Met: $met of $all."
	echo

	if has_tool haul-oci-repull; then
		echo "## Re-pull into a layout that already holds the image, warm cache"
		echo
		echo "\`haul pull --format oci --cache-dir WARM -o EXISTING REF\`; target: no blob request and <= ${REPULL_TARGET_MS} ms for many."
		echo
		echo "| image | wall min | wall median | blob reqs (access log, max per run) | /blobs/ lines in --trace | same, cold haul-oci (control) | target |"
		echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
		for img in $IMAGES; do
			mn=$(agg "$img" haul-oci-repull 5 min)
			md=$(agg "$img" haul-oci-repull 5 median)
			mx=$(awk -F'\t' -v i="$img" '$1 == i && $2 == "haul-oci-repull" && $9 > m { m = $9 } END { print m + 0 }' "$RAW")
			verdict=-
			if [[ $img == many && -n $md ]]; then
				if [[ $mx == 0 ]] && awk -v s="$md" -v t="$REPULL_TARGET_MS" 'BEGIN { exit !(s * 1000 <= t) }'; then verdict=met; else verdict="NOT met"; fi
			fi
			printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$img" "$(fmt_s "$mn")" "$(fmt_s "$md")" "$mx" "${TRACE_BLOBS[$img]:--}" "${TRACE_COLD[$img]:--}" "$verdict"
		done
		echo
	fi
	echo "Raw runs: \`$(basename "$RAW")\`. Total time: $((SECONDS - T_START)) s."
} >"$OUT"

cat "$OUT"
note "wrote $OUT and $RAW"
