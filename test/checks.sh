# Sourced by test/e2e.sh, test/e2e-rootfs.sh and test/e2e-mirror.sh: the checks, each printing
# `ok - DESC` or `not ok - DESC` with what was run (LAST), its exit code (RC)
# and output (OUT, ERR), counted in PASSED and FAILED.

ok() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
# not_ok DESC [DETAIL...]: a failure, with the last command, its exit code and output.
not_ok() {
	FAILED=$((FAILED + 1))
	echo "not ok - $1"
	shift
	local l
	for l in "$@"; do echo "#   $l"; done
	echo "#   command: $LAST"
	echo "#   exit code: $RC"
	if [[ -s $OUT ]] && ! grep -qI . "$OUT"; then
		echo "#   stdout: $(wc -c <"$OUT") bytes, not text"
	elif [[ -s $OUT ]]; then
		echo "#   stdout:"
		head -c 4000 "$OUT" | head -n 30 | sed 's/^/#     /'
	fi
	if [[ -s $ERR ]]; then
		echo "#   stderr:"
		head -c 4000 "$ERR" | head -n 25 | sed 's/^/#     /'
	fi
}
skip() { echo "ok - # SKIP $1"; }

expect_eq() { # expect_eq DESC WANT GOT
	if [[ $2 == "$3" ]]; then ok "$1"; else not_ok "$1" "want: $2" "got:  $3"; fi
}
expect_rc() { # expect_rc DESC WANT: checks $RC
	if [[ $RC == "$2" ]]; then ok "$1"; else not_ok "$1" "want exit code $2, got $RC"; fi
}
# expect_success DESC: exit 0 (a failure here prints stderr)
expect_success() { expect_rc "$1" 0; }
expect_in() { # expect_in DESC FILE FIXED-STRING
	if grep -qF -- "$3" "$2"; then ok "$1"; else not_ok "$1" "$(basename "$2") lacks: $3"; fi
}
expect_not_in() { # expect_not_in DESC FILE FIXED-STRING
	if ! grep -qF -- "$3" "$2"; then ok "$1"; else not_ok "$1" "$(basename "$2") contains: $3"; fi
}

# stop_pid PID: stops a process the script started in the background, if any.
stop_pid() { # stop_pid PID
	if [[ -n ${1:-} ]]; then
		kill "$1" 2>/dev/null || true
		wait "$1" 2>/dev/null || true
	fi
}

# remove_work: at exit, removes $WORK unless HAUL_E2E_KEEP=1.
remove_work() {
	if [[ ${HAUL_E2E_KEEP:-} == 1 ]]; then
		echo "# work directory kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}

# haul_binary DIR: sets HAUL to $HAUL_E2E_HAUL (the caller's haul), else builds haul into DIR.
haul_binary() {
	if [[ -n ${HAUL_E2E_HAUL:-} ]]; then
		HAUL=$HAUL_E2E_HAUL
		return
	fi
	note "building haul"
	(cd "$ROOT" && CGO_ENABLED=0 go build -o "$1/haul" ./cmd/haul) || die "go build ./cmd/haul failed"
	HAUL=$1/haul
}
