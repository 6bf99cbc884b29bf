# Sourced by bench/pull.sh, bench/copy.sh and bench/resume.sh: messages, haul, and the peers pinned
# for reproducible figures (crane, regctl) installed once into BENCH_TOOLS.
# Sets CRANE, REGCTL and SKOPEO ("" when skopeo is not installed).

die() { echo "bench: error: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

CRANE_VERSION=v0.22.1
REGCTL_VERSION=v0.11.7
BENCH_TOOLS=${HAUL_BENCH_TOOLS:-$HOME/.cache/haul-bench/bin}

# install_go_tool NAME MODULE VERSION: go install MODULE@VERSION into BENCH_TOOLS, once.
install_go_tool() {
	local name=$1 mod=$2 ver=$3
	if [[ -x $BENCH_TOOLS/$name && -f $BENCH_TOOLS/$name.version && $(cat "$BENCH_TOOLS/$name.version") == "$ver" ]]; then
		return
	fi
	note "installing $name $ver into $BENCH_TOOLS"
	(cd /tmp && GOBIN=$BENCH_TOOLS GOFLAGS=-buildvcs=false go install "$mod@$ver") || die "go install $mod@$ver failed"
	echo "$ver" >"$BENCH_TOOLS/$name.version"
}

# bench_tools: checks what every benchmark needs and installs the peers.
bench_tools() {
	local c
	for c in go docker-registry curl sha256sum; do
		command -v "$c" >/dev/null 2>&1 || die "'$c' is not installed"
	done
	if [[ ! -x /usr/bin/time ]]; then
		note "installing GNU time (apt-get install -y time)"
		apt-get install -y time >/dev/null || die "GNU time is needed at /usr/bin/time"
	fi
	mkdir -p "$BENCH_TOOLS"
	install_go_tool crane github.com/google/go-containerregistry/cmd/crane "$CRANE_VERSION"
	install_go_tool regctl github.com/regclient/regclient/cmd/regctl "$REGCTL_VERSION"
	CRANE=$BENCH_TOOLS/crane
	REGCTL=$BENCH_TOOLS/regctl
	SKOPEO=$(command -v skopeo || true)
	[[ -n $SKOPEO ]] || note "skopeo is not installed (apt-get install skopeo): its rows are skipped"
}

# bench_haul: sets HAUL to $HAUL if given (it must be executable), else to a
# haul built by make into $WORK/bin.
bench_haul() {
	if [[ -n ${HAUL:-} ]]; then
		[[ -x $HAUL ]] || die "HAUL=$HAUL is not executable"
	else
		make -s -C "$ROOT" build BIN="$WORK/bin" >/dev/null || die "make build failed"
		HAUL=$WORK/bin/haul
	fi
}
