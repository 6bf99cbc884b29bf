#!/usr/bin/env bash
# Unpack benchmark: haul unpack and haul pull --format rootfs against umoci,
# crane export | tar -x, and plain tar -xzf of each layer (the lower bound), on
# the images of tools/rootfsimage in a local Debian docker-registry.
# See bench/README.md for what it measures and its knobs.
#
# Writes bench/results/<date>-unpack.md (and <date>-unpack-raw.tsv beside it)
# and prints the table. Never run in CI. Run it as root (owners, setuid files
# and security.capability are part of the work).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${ROUNDS:-5}
IMAGES=${IMAGES:-toolchain layers3 bigfile}
ALL_TOOLS="haul-unpack haul-pull umoci umoci-raw crane-tar tar-layers pigz-layers"
TOOLS=${TOOLS:-$ALL_TOOLS}
BIGFILE_MIB=${BIGFILE_MIB:-512}
TOOLCHAIN=${TOOLCHAIN:-$(go env GOROOT)}
BENCH_TOOLS=${HAUL_BENCH_TOOLS:-$HOME/.cache/haul-bench/bin}
CRANE_VERSION=v0.22.1
DATE=$(date +%F)
OUT=${OUT:-$ROOT/bench/results/$DATE-unpack.md}
RAW=${OUT%.md}-raw.tsv
RATIO_TARGET=${RATIO_TARGET:-0.75}
RSS_TARGET_MIB=${RSS_TARGET_MIB:-24}
T_START=$SECONDS

die() { echo "bench: error: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }
has_tool() { grep -qw -- "$1" <<<"$TOOLS"; }
drop_tools() { # drop_tools PATTERN WHY: removes the matching rows from TOOLS
	note "$2: its rows are skipped"
	TOOLS=$(tr ' ' '\n' <<<"$TOOLS" | grep -v -- "$1" | tr '\n' ' ')
}

# ---------------------------------------------------------------- prerequisites
((EUID == 0)) || die "run as root: the trees keep owners, setuid bits and security.capability"
for c in go docker-registry curl jq tar gzip skopeo; do
	command -v "$c" >/dev/null 2>&1 || die "'$c' is not installed"
done
if [[ ! -x /usr/bin/time ]]; then
	note "installing GNU time (apt-get install -y time)"
	apt-get install -y time >/dev/null || die "GNU time is needed at /usr/bin/time"
fi
if has_tool pigz-layers && ! command -v pigz >/dev/null 2>&1; then
	note "installing pigz (apt-get install -y pigz)"
	apt-get install -y pigz >/dev/null 2>&1 || true
fi
command -v pigz >/dev/null 2>&1 || drop_tools '^pigz' "pigz is not installed (apt-get install pigz)"
command -v umoci >/dev/null 2>&1 || drop_tools '^umoci' "umoci is not installed (apt-get install umoci)"
mkdir -p "$BENCH_TOOLS"
if [[ ! -x $BENCH_TOOLS/crane || ! -f $BENCH_TOOLS/crane.version || $(cat "$BENCH_TOOLS/crane.version") != "$CRANE_VERSION" ]]; then
	note "installing crane $CRANE_VERSION into $BENCH_TOOLS"
	(cd /tmp && GOBIN=$BENCH_TOOLS GOFLAGS=-buildvcs=false go install "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION") ||
		die "go install crane@$CRANE_VERSION failed"
	echo "$CRANE_VERSION" >"$BENCH_TOOLS/crane.version"
fi
CRANE=$BENCH_TOOLS/crane

# ---------------------------------------------------------------- work dir
WORK=$(mktemp -d "${HAUL_BENCH_TMP:-${TMPDIR:-/tmp}}/haul-bench-unpack.XXXXXX")
# shellcheck source=../scripts/registry.sh
. "$ROOT/scripts/registry.sh"
REG_PID=
cleanup() {
	local rc=$?
	stop_registry
	if [[ ${KEEP:-} == 1 ]]; then
		note "work directory kept: $WORK"
	else
		note "deleting the trees"
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT

if [[ -n ${HAUL:-} ]]; then
	[[ -x $HAUL ]] || die "HAUL=$HAUL is not executable"
else
	note "building haul (make build)"
	make -s -C "$ROOT" build BIN="$WORK/bin" >/dev/null || die "make build failed"
	HAUL=$WORK/bin/haul
fi
(cd "$ROOT" && go build -o "$WORK/bin/" ./tools/rootfsimage ./tools/treedump) ||
	die "building tools/rootfsimage and tools/treedump failed"
HAUL_VERSION=$("$HAUL" --version 2>/dev/null | awk '{print $NF}')
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- . ':!bench' 2>/dev/null || echo ', tree dirty')
"$HAUL" unpack --help >/dev/null 2>&1 || { has_tool haul-unpack && drop_tools '^haul-unpack$' "this haul has no 'unpack'"; }

# ---------------------------------------------------------------- registry
start_registry "$WORK/registry" || die "could not start docker-registry"
note "docker-registry (pid $REG_PID) on $REG"

# layers3 is always pushed: every tool's untimed warm-up unpacks it.
PUSHED=$IMAGES
grep -qw layers3 <<<"$PUSHED" || PUSHED="$PUSHED layers3"
note "pushing images ($PUSHED; toolchain: $TOOLCHAIN, bigfile: $BIGFILE_MIB MiB)"
only=$(tr ' ' ',' <<<"$PUSHED")
"$WORK/bin/rootfsimage" -registry "$REG" -repo bench -only "$only" -toolchain "$TOOLCHAIN" \
	-bigfile-mib "$BIGFILE_MIB" >"$WORK/pushed.txt" || die "rootfsimage failed"
ref() { echo "$REG/bench/$1:1"; }
# A haul that does not know --format rootfs calls it a usage error (exit 2).
if has_tool haul-pull; then
	rc=0
	HOME=$WORK "$HAUL" pull -q --format rootfs --cache-dir "$WORK/probe-cache" -o "$WORK/probe" "$(ref layers3)" >/dev/null 2>&1 || rc=$?
	rm -rf "$WORK/probe" "$WORK/probe-cache"
	((rc != 2)) || drop_tools '^haul-pull$' "this haul has no 'pull --format rootfs'"
fi
read -r -a TOOL_ARR <<<"$TOOLS"
NT=${#TOOL_ARR[@]}
((NT > 0)) || die "no tool left to run"

# One OCI layout per image, made once by skopeo, for haul unpack, umoci and tar.
declare -A LAYERS ENTRIES TREE_BYTES COMPRESSED
mkdir -p "$WORK/oci"
for img in $PUSHED; do
	L=$WORK/oci/$img
	skopeo copy -q --src-tls-verify=false "docker://$(ref "$img")" "oci:$L:$img" || die "skopeo copy of $img failed"
	m=$(jq -r '.manifests[0].digest' "$L/index.json")
	LAYERS[$img]=$(jq -r '.layers[].digest' "$L/blobs/sha256/${m#sha256:}" | sed "s#^sha256:#$L/blobs/sha256/#" | tr '\n' ' ')
	COMPRESSED[$img]=$(jq '[.layers[].size] | add' "$L/blobs/sha256/${m#sha256:}")
	e=0 b=0
	for l in ${LAYERS[$img]}; do
		read -r n s < <(tar -tvzf "$l" | awk '{ n++; if ($1 ~ /^-/) s += $3 } END { print n, s + 0 }')
		e=$((e + n)) b=$((b + s))
	done
	ENTRIES[$img]=$e TREE_BYTES[$img]=$b
done

# ---------------------------------------------------------------- disk
# Every tree stays until the end: deleting a large tree and unpacking again at
# once runs 2-4x slower on ext4 for minutes, which would punish whoever runs next.
tree_mib() { # the space one tree of IMAGE takes, generously
	case $1 in
	toolchain) du -sm "$TOOLCHAIN" | awk '{ printf "%d", $1 * 1.3 + 64 }' ;;
	bigfile) echo $((BIGFILE_MIB + 16)) ;;
	*) echo 4 ;;
	esac
}
need_mib=1024 # a margin
for img in $IMAGES; do
	need_mib=$((need_mib + (ROUNDS + 1) * NT * $(tree_mib "$img")))
	# haul-pull's cache holds the compressed layers, kept with the tree
	if has_tool haul-pull; then need_mib=$((need_mib + ROUNDS * COMPRESSED[$img] / 1048576 + 1)); fi
done
free_mib=$(df -Pm "$WORK" | awk 'NR == 2 { print $4 }')
((free_mib > need_mib)) || die "$WORK has $free_mib MiB free; $need_mib MiB are needed to keep every tree until the end (fewer ROUNDS or IMAGES, or HAUL_BENCH_TMP elsewhere)"
note "disk: $free_mib MiB free in $(df -P "$WORK" | awk 'NR == 2 { print $6 }'), up to $need_mib MiB needed"

# Warm the page cache: the registry's blobs, the layouts, every tool's binary.
note "warming the page cache"
find "$WORK/registry/data" "$WORK/oci" -type f -exec cat {} + >/dev/null
cat "$HAUL" "$CRANE" $(command -v umoci pigz tar gzip 2>/dev/null) >/dev/null
mkdir -p "$WORK/crane-docker"

# ---------------------------------------------------------------- one timed run
RUNS=$WORK/runs

# set_cmd TOOL IMAGE DIR: CMD is the command line to time, TREE where its tree lands.
set_cmd() {
	local tool=$1 img=$2 dir=$3 L=$WORK/oci/$2
	TREE=$dir
	case $tool in
	haul-unpack) CMD=("$HAUL" unpack "$L" "$dir") ;;
	haul-pull) CMD=("$HAUL" pull -q --format rootfs --cache-dir "$dir.cache" -o "$dir" "$(ref "$img")") ;;
	umoci) CMD=(umoci unpack --image "$L:$img" "$dir") TREE=$dir/rootfs ;;
	umoci-raw) CMD=(umoci raw unpack --image "$L:$img" "$dir") ;;
	# The peers that write a tree from tar keep what haul keeps: owners and
	# modes (-p, as root), xattrs (all of them).
	crane-tar)
		CMD=(bash -c 'set -o pipefail; mkdir -p "$3" && DOCKER_CONFIG=$4 "$1" export --insecure "$2" - | tar --xattrs --xattrs-include="*" --warning=no-timestamp -xpf - -C "$3"' \
			crane-tar "$CRANE" "$(ref "$img")" "$dir" "$WORK/crane-docker")
		;;
	tar-layers | pigz-layers)
		local z=-z
		[[ $tool == pigz-layers ]] && z="-Ipigz"
		# A bound, not an unpacker: GNU tar refuses a file where a lower layer
		# left a directory (layers3's d2f, f2d), which is no reason to stop.
		CMD=(bash -c 'z=$1 d=$2; shift 2; mkdir -p "$d" || exit; for l; do tar "$z" --xattrs --xattrs-include="*" --warning=no-timestamp -xpf "$l" -C "$d" 2>&1 || :; done' \
			"$tool" "$z" "$dir" ${LAYERS[$img]})
		;;
	*) die "unknown tool $tool" ;;
	esac
}

# run_one ROUND IMAGE TOOL: appends a line to RAW. The tree stays.
run_one() {
	local round=$1 img=$2 tool=$3 dir=$RUNS/$2/$3/$1 t0 t1 rc wall e u s m
	mkdir -p "$(dirname "$dir")"
	set_cmd "$tool" "$img" "$dir"
	t0=$EPOCHREALTIME
	rc=0
	/usr/bin/time -f '%e %U %S %M' -o "$WORK/time.txt" "${CMD[@]}" >"$WORK/stdout.txt" 2>"$WORK/stderr.txt" || rc=$?
	t1=$EPOCHREALTIME
	if [[ $rc == 0 && ! -d $TREE ]]; then
		rc=99
		echo "no tree was written" >>"$WORK/stderr.txt"
	fi
	sync
	wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
	read -r e u s m < <(grep -v '^Command' "$WORK/time.txt" | tail -n1)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$img" "$tool" "$round" "$rc" "$wall" "$u" "$s" "$m" >>"$RAW"
	if [[ $rc != 0 ]]; then
		note "FAILED (rc $rc): round $round $img $tool: ${CMD[*]}"
		sed 's/^/#   /' "$WORK/stderr.txt" | tail -n 5 >&2
	fi
}

# ---------------------------------------------------------------- prepare
mkdir -p "$(dirname "$OUT")"
printf 'image\ttool\tround\trc\twall_s\tuser_s\tsys_s\tmaxrss_kb\n' >"$RAW"
# One untimed unpack of layers3 by every tool: first-run costs stay out.
# (crane-tar fails on it: crane export v0.22.1 writes hardlinks to a file
# that a whiteout removed.)
note "warm-up (layers3, untimed)"
mkdir -p "$WORK/warmup"
for tool in $TOOLS; do
	set_cmd "$tool" layers3 "$WORK/warmup/$tool"
	"${CMD[@]}" >/dev/null 2>&1 || [[ $tool == crane-tar ]] || note "warm-up of $tool failed"
done

# ---------------------------------------------------------------- the rounds
busy_cpu() { awk '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / 100 }' /proc/stat; }
reg_cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$REG_PID/stat"; }
b0=$(busy_cpu)
sleep 2
IDLE_BEFORE=$(awk -v a="$b0" -v b="$(busy_cpu)" 'BEGIN { printf "%.2f", (b - a) / 2 }')
if awk -v l="$IDLE_BEFORE" 'BEGIN { exit !(l > 0.2) }'; then
	note "warning: $IDLE_BEFORE cores busy before the rounds: something else is running, numbers will be noisy"
fi
BUSY0=$(busy_cpu) REG0=$(reg_cpu) WALL0=$EPOCHREALTIME
for ((round = 1; round <= ROUNDS; round++)); do
	note "round $round/$ROUNDS ($((SECONDS - T_START)) s so far, $(df -Pm "$WORK" | awk 'NR == 2 { print $4 }') MiB free)"
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

# ---------------------------------------------------------------- trees
# Round 1's trees against umoci's (round 1), with treedump: what each tool got right.
declare -A SAME
for img in $IMAGES; do
	ref_tree=
	if has_tool umoci; then
		set_cmd umoci "$img" "$RUNS/$img/umoci/1"
		ref_tree=$TREE
	fi
	for tool in $TOOLS; do
		set_cmd "$tool" "$img" "$RUNS/$img/$tool/1"
		if [[ -z $ref_tree || ! -d $ref_tree || ! -d $TREE ]]; then
			SAME[$img/$tool]=-
		elif "$WORK/bin/treedump" "$ref_tree" "$TREE" >"$WORK/treediff-$img-$tool.txt" 2>&1; then
			SAME[$img/$tool]=yes
		else
			SAME[$img/$tool]="no: $(tail -n1 "$WORK/treediff-$img-$tool.txt" | sed 's/.* differ in //')"
			note "$img $tool: the tree differs from umoci's:"
			head -n 8 "$WORK/treediff-$img-$tool.txt" | sed 's/^/#   /' >&2
		fi
	done
done

# ---------------------------------------------------------------- the report
# shellcheck source=report.sh
. "$ROOT/bench/report.sh"
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
describe() {
	case $1 in
	toolchain) echo "toolchain: $TOOLCHAIN as one gzip layer" ;;
	layers3) echo "layers3: 3 small gzip layers, whiteouts, opaque dirs, type changes, hardlinks, xattrs" ;;
	bigfile) echo "bigfile: 1 gzip layer, one ${BIGFILE_MIB} MiB file of random bytes" ;;
	esac
}

{
	echo "# haul unpack benchmark, $DATE"
	echo
	echo "haul $HAUL_VERSION (HEAD $GIT_REV when the run started), $(umoci --version 2>/dev/null || echo 'no umoci'),"
	echo "crane $CRANE_VERSION, $(tar --version | head -n1), $(gzip --version | head -n1)$(command -v pigz >/dev/null && echo ", $(pigz --version 2>&1)"),"
	echo "$(skopeo --version) (made the layouts), $(docker-registry --version 2>/dev/null | awk '{print $1, $3}') on 127.0.0.1 (plain HTTP)."
	echo "$(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r), $(df -PT "$WORK" | awk 'NR == 2 { print $2 }') under $(df -P "$WORK" | awk 'NR == 2 { print $6 }')."
	echo "ROUNDS=$ROUNDS, interleaved round-robin, tool order rotated each round; every run into a fresh directory,"
	echo "kept until the end of all rounds (a large tree deleted just before an unpack slows it 2-4x on ext4), \`sync\` after each run."
	echo "Layouts (skopeo copy, once) and the registry's blobs warm in the page cache. haul-pull starts from an empty --cache-dir."
	echo "Wall: bash EPOCHREALTIME around the command; CPU (user+sys, children included) and peak RSS (the largest process): GNU time."
	echo "Other load: $IDLE_BEFORE cores busy in the 2 s before the rounds; during them, $OTHER (sync's writeback and this script count as other)."
	echo "No tool fsyncs the tree. \"tree\": round 1's tree against umoci's with tools/treedump (paths, types, modes, owners,"
	echo "sizes, sha256, link targets, mtimes to the ns, hardlinks, xattrs); tar-layers and pigz-layers apply no whiteouts."
	echo
	for img in $IMAGES; do
		echo "## $(describe "$img")"
		echo
		echo "$(wc -w <<<"${LAYERS[$img]}") layers, $(mib "${COMPRESSED[$img]}") compressed; ${ENTRIES[$img]} tar entries, $(mib "${TREE_BYTES[$img]}") of file content"
		echo
		echo "| tool | ok | wall min | wall median | MiB/s (median) | CPU median | peak RSS median | tree = umoci's |"
		echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"
		for tool in $TOOLS; do
			mn=$(agg "$img" "$tool" 5 min)
			md=$(agg "$img" "$tool" 5 median)
			cpu=$(cpu_median "$img" "$tool")
			rss=$(agg "$img" "$tool" 8 median)
			tput=-
			[[ -n $md && ${TREE_BYTES[$img]} -ge 1048576 ]] && tput=$(awk -v b="${TREE_BYTES[$img]}" -v s="$md" 'BEGIN { printf "%.0f", b / 1048576 / s }')
			printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$tool" "$(count_ok "$img" "$tool")" \
				"$(fmt_s "$mn")" "$(fmt_s "$md")" "$tput" "$(fmt_s "$cpu")" \
				"$([[ -n $rss ]] && awk -v k="$rss" 'BEGIN { printf "%.1f MiB", k / 1024 }' || echo -)" "${SAME[$img/$tool]:--}"
		done
		echo
	done

	echo "## haul's ratios (median wall; < 1 is faster) and peak RSS"
	echo
	echo "fastest peer: the lowest median wall among umoci, umoci-raw and crane-tar (tools that apply whiteouts);"
	echo "tar bound: the faster of tar-layers and pigz-layers (each layer extracted in order, no whiteouts)."
	echo "Targets: haul / fastest peer <= $RATIO_TARGET, peak RSS <= $RSS_TARGET_MIB MiB."
	echo
	echo "| image | haul mode | haul median | / fastest peer | / tar bound | ratio target | peak RSS (max of runs) | RSS target |"
	echo "| --- | --- | ---: | ---: | ---: | --- | ---: | --- |"
	for img in $IMAGES; do
		read -r best bestname < <(fastest "$img" umoci umoci-raw crane-tar)
		read -r tb tbname < <(fastest "$img" tar-layers pigz-layers)
		for tool in haul-unpack haul-pull; do
			has_tool "$tool" || continue
			md=$(agg "$img" "$tool" 5 median)
			r=$(ratio "$md" "$best")
			rv=-
			[[ $r != - ]] && rv=$(awk -v r="$r" -v t="$RATIO_TARGET" 'BEGIN { print (r <= t) ? "met" : "NOT met" }')
			rss=$(awk -F'\t' -v i="$img" -v t="$tool" '$1 == i && $2 == t && $4 == 0 && $8 > m { m = $8 } END { if (m) print m }' "$RAW")
			sv=-
			[[ -n $rss ]] && sv=$(awk -v k="$rss" -v t="$RSS_TARGET_MIB" 'BEGIN { print (k / 1024 <= t) ? "met" : "NOT met" }')
			printf '| %s | %s | %s | %s (%s) | %s (%s) | %s | %s | %s |\n' "$img" "$tool" "$(fmt_s "$md")" \
				"$r" "${bestname:--}" "$(ratio "$md" "$tb")" "${tbname:--}" "$rv" \
				"$([[ -n $rss ]] && awk -v k="$rss" 'BEGIN { printf "%.1f MiB", k / 1024 }' || echo -)" "$sv"
		done
	done
	echo
	echo "Raw runs: \`$(basename "$RAW")\`. Total time: $((SECONDS - T_START)) s."
} >"$OUT"

cat "$OUT"
note "wrote $OUT and $RAW"
