#!/usr/bin/env bash
# End-to-end test of haul's tars and `haul pull --load` against real engines:
# a Docker Engine (Debian's docker.io: dockerd, which starts its own
# containerd), containerd's ctr against that containerd, and podman's
# docker-compatible service. Every daemon is started here, with its state,
# sockets and pid files under the work directory, so nothing collides with an
# engine the machine runs.
#
# Pushes tools/rootfsimage's layers3 (three layers), bigfile (one 4 MiB layer)
# and baddiff (a config whose second diff_id is wrong) to Debian's
# docker-registry, then checks:
#   - docker load -i of haul's tar, and haul pull -o - A B | docker load of a
#     two-image bundle: docker image inspect gives each name, with the
#     registry's config digest as its ID;
#   - haul pull --load A B (DOCKER_HOST=unix://dockerd's socket): the same;
#     the engine's refusal of baddiff is haul's error, naming the socket, and
#     loads nothing; no engine at a socket, and ssh://, fail with their hints;
#     and engine's TestRealEngine: an upload cut off halfway loads nothing;
#   - ctr images import of haul's tar into dockerd's containerd: ctr lists the
#     name with the registry's manifest digest (haul digest);
#   - a bundle pulled with --referrers (test/referrers.sh pushes an SBOM and a
#     cosign-style signature of layers3): docker load and ctr images import
#     load the image alone, under its name;
#   - haul pull --load into podman system service (rootful, vfs, its own root
#     and socket): podman images lists the name with the config digest as ID;
#     TestRealEngine there too.
#
# Outside CI a dockerd that cannot start (not root, no docker.io, a sandbox
# without the kernel features) is skipped with a message; with CI=true it
# fails the run. podman is skipped likewise when it is missing or cannot run.
# test/e2e.sh's helpers (checks.sh, scripts/registry.sh) are reused. Alone it
# builds haul; HAUL_E2E_HAUL names one to use instead. Prints `ok - ...` /
# `not ok - ...` per check and ends with `N passed, M failed`; exits 1 when a
# check failed. HAUL_E2E_KEEP=1 keeps the work directory; HAUL_E2E_SHOW=1
# prints what haul said to the user in the --load cases.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
START=$SECONDS
CI=${CI:-}

die() { echo "e2e-engine: error: $*" >&2; exit 1; }
note() { echo "# $*"; }
for c in go docker-registry curl jq tar sha256sum; do
	command -v "$c" >/dev/null 2>&1 || die "'$c' is not installed"
done

# A short work directory: unix socket paths must fit in 108 bytes.
WORK=$(mktemp -d /tmp/haul-engine.XXXXXX)
# shellcheck source=checks.sh
. "$ROOT/test/checks.sh"
# shellcheck source=referrers.sh
. "$ROOT/test/referrers.sh"
# shellcheck source=../scripts/registry.sh
. "$ROOT/scripts/registry.sh"
PASSED=0 FAILED=0 RC=0 LAST="" OUT=$WORK/stdout ERR=$WORK/stderr
DOCKERD_PID='' PODMAN_PID=''
cleanup() {
	local rc=$?
	# dockerd stops the containerd it started; wait so that nothing of
	# theirs is left running, or holding files under $WORK.
	stop_pid "$PODMAN_PID"
	stop_pid "$DOCKERD_PID"
	stop_registry
	remove_work
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# unavailable WHAT WHY: a daemon that cannot run here fails the run in CI, and is skipped elsewhere.
unavailable() {
	if [[ $CI == true ]]; then
		local LAST="start $1" RC=none OUT=/dev/null ERR=/dev/null # for not_ok only
		not_ok "$1 starts (CI=true: it must)" "$2"
	else
		skip "$1 checks: $2"
	fi
}

# wait_ping SOCKET PID: true once an engine answers /_ping on SOCKET (within 30 s), while PID lives.
wait_ping() {
	local deadline=$((SECONDS + 30))
	while ((SECONDS < deadline)); do
		kill -0 "$2" 2>/dev/null || return 1
		[[ $(curl -s --max-time 2 --unix-socket "$1" http://engine/_ping 2>/dev/null) == OK ]] && return 0
		sleep 0.2
	done
	return 1
}

# real_engine SOCKET WHAT: the engine package's TestRealEngine against the engine at SOCKET.
real_engine() {
	LAST="HAUL_TEST_ENGINE=unix://$1 go test -run TestRealEngine ./engine" RC=0
	(cd "$ROOT" && HAUL_TEST_ENGINE=unix://$1 go test -count=1 -run '^TestRealEngine$' -v ./engine) >"$OUT" 2>"$ERR" || RC=$?
	if ((RC == 0)) && grep -q -- '--- PASS: TestRealEngine' "$OUT"; then
		ok "$2: a load cut off halfway leaves no image; a whole one leaves its name (engine's TestRealEngine)"
	else
		not_ok "$2: a load cut off halfway leaves no image; a whole one leaves its name (engine's TestRealEngine)"
	fi
}

# ---------------------------------------------------------------- haul, registry, images
mkdir -p "$WORK/bin" "$WORK/home" "$WORK/dc"
haul_binary "$WORK/bin"
(cd "$ROOT" && go build -o "$WORK/bin/" ./tools/rootfsimage) || die "building tools/rootfsimage failed"
start_registry "$WORK/reg" 0 || die "could not start docker-registry"
note "registry on $REG"
"$WORK/bin/rootfsimage" -registry "$REG" -repo e2e -only layers3,bigfile,baddiff -bigfile-mib 4 \
	>"$WORK/pushed.txt" 2>"$WORK/rootfsimage.log" || die "pushing the images failed: $(cat "$WORK/rootfsimage.log")"
A=$REG/e2e/layers3:1
B=$REG/e2e/bigfile:1
BAD=$REG/e2e/baddiff:1

# hl ARG...: haul with a clean home and docker config (no credentials, no
# context), with DOCKER_HOST as the caller sets it; output in $OUT, $ERR, $RC.
hl() {
	LAST="haul $*" RC=0
	env -u DOCKER_CONTEXT -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH HOME="$WORK/home" DOCKER_CONFIG="$WORK/dc" \
		XDG_CACHE_HOME="$WORK/home/cache" XDG_CONFIG_HOME="$WORK/home/.config" "$HAUL" "$@" >"$OUT" 2>"$ERR" </dev/null || RC=$?
}
hl manifest "$A" && CONFIG_A=$(jq -r .config.digest "$OUT")
hl manifest "$B" && CONFIG_B=$(jq -r .config.digest "$OUT")
hl digest "$A" && DIGEST_A=$(cat "$OUT")
[[ $CONFIG_A == sha256:* && $CONFIG_B == sha256:* && $DIGEST_A == sha256:* ]] ||
	die "haul manifest/digest of the pushed images failed: $(cat "$ERR")"
hl pull -q "$A" -o "$WORK/a.tar"
((RC == 0)) || die "haul pull $A failed: $(cat "$ERR")"
# A bundle with referrers of A (an SBOM by the fallback tag, a cosign-style
# signature by the .sig tag, pushed by test/referrers.sh).
push_referrers "$A" "$WORK/referrers" || die "pushing referrers of $A failed"
hl pull -q --referrers "$A" -o "$WORK/a-referrers.tar"
((RC == 0)) || die "haul pull --referrers $A failed: $(cat "$ERR")"
[[ $(tar -xOf "$WORK/a-referrers.tar" index.json | jq '.manifests | length') == 3 ]] ||
	die "haul pull --referrers $A: index.json does not list the image and its 2 referrers"

# ---------------------------------------------------------------- dockerd
DSOCK=$WORK/docker.sock
CSOCK=$WORK/exec/containerd/containerd.sock # the containerd dockerd starts, under its exec root
dockerd_start() {
	command -v dockerd >/dev/null 2>&1 || { echo "dockerd is not installed (apt-get install docker.io)"; return 1; }
	((EUID == 0)) || { echo "dockerd needs root"; return 1; }
	echo '{}' >"$WORK/daemon.json" # not /etc/docker/daemon.json
	dockerd --config-file "$WORK/daemon.json" --storage-driver vfs --iptables=false --ip-masq=false \
		--bridge=none --userland-proxy=false --data-root "$WORK/docker" --exec-root "$WORK/exec" \
		--pidfile "$WORK/docker.pid" -H "unix://$DSOCK" >"$WORK/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	wait_ping "$DSOCK" "$DOCKERD_PID" && return 0
	echo "dockerd did not answer /_ping within 30 s; its log ends:"
	tail -n 5 "$WORK/dockerd.log"
	return 1
}
# dk ARG...: the docker CLI against our dockerd; output in $OUT, $ERR, $RC.
dk() {
	LAST="docker $*" RC=0
	DOCKER_CONFIG=$WORK/dockercli docker -H "unix://$DSOCK" "$@" >"$OUT" 2>"$ERR" </dev/null || RC=$?
}
# image_id NAME: what docker image inspect gives as NAME's ID, or "missing".
image_id() {
	dk image inspect --format '{{.Id}}' "$1"
	if ((RC == 0)); then out_line; else echo missing; fi
}
out_line() { tr -d '\n' <"$OUT"; }
rmi() { dk rmi -f "$@" >/dev/null 2>&1 || true; }

# Not in $(…): DOCKERD_PID must reach cleanup.
if ! dockerd_start >"$WORK/why" 2>&1; then
	stop_pid "$DOCKERD_PID"
	DOCKERD_PID=
	unavailable dockerd "$(tr '\n' ' ' <"$WORK/why")"
else
	dk version --format '{{.Server.Version}} (API {{.Server.APIVersion}})'
	note "dockerd $(out_line) on $DSOCK"

	dk load -i "$WORK/a.tar"
	expect_success "docker load -i of haul's tar exits 0"
	expect_in "docker load names the image" "$OUT" "Loaded image: $A"
	expect_eq "docker image inspect: the ID is the registry's config digest" "$CONFIG_A" "$(image_id "$A")"
	rmi "$A"

	LAST="haul pull -o - $A $B | docker load" RC=0
	env HOME="$WORK/home" DOCKER_CONFIG="$WORK/dc" XDG_CACHE_HOME="$WORK/home/cache" "$HAUL" pull -q -o - "$A" "$B" |
		DOCKER_CONFIG=$WORK/dockercli docker -H "unix://$DSOCK" load >"$OUT" 2>"$ERR" || RC=$?
	expect_success "haul pull -o - A B | docker load exits 0"
	expect_eq "the bundle: A's ID is its config digest" "$CONFIG_A" "$(image_id "$A")"
	expect_eq "the bundle: B's ID is its config digest" "$CONFIG_B" "$(image_id "$B")"
	rmi "$A" "$B"

	dk load -i "$WORK/a-referrers.tar"
	expect_success "docker load -i of a --referrers bundle exits 0"
	expect_eq "it loads the image, its ID the config digest" "$CONFIG_A" "$(image_id "$A")"
	dk images --format '{{.Repository}}:{{.Tag}}'
	expect_eq "and nothing else: docker images lists A alone" "$A" "$(out_line)"
	rmi "$A"

	DOCKER_HOST=unix://$DSOCK hl pull --load "$A" "$B"
	cp "$ERR" "$WORK/load.stderr"
	expect_success "haul pull --load A B exits 0"
	expect_in "it prints the engine's line for A" "$ERR" "Loaded image: $A"
	expect_in "it prints the engine's line for B" "$ERR" "Loaded image: $B"
	expect_in "its summary names the socket" "$ERR" "wrote unix://$DSOCK (docker)"
	expect_eq "pull --load: A's ID is its config digest" "$CONFIG_A" "$(image_id "$A")"
	expect_eq "pull --load: B's ID is its config digest" "$CONFIG_B" "$(image_id "$B")"

	DOCKER_HOST=unix://$DSOCK hl pull --load "$BAD"
	cp "$ERR" "$WORK/refused.stderr"
	expect_rc "pull --load of an image whose diff_id is wrong: the engine refuses, exit 1" 1
	expect_in "the error names the socket and the engine's request" "$ERR" "haul: engine unix://$DSOCK (from DOCKER_HOST): POST /v"
	expect_eq "the refused image is not in the engine" missing "$(image_id "$BAD")"

	rmi "$A"
	DOCKER_HOST=unix://$DSOCK hl pull --load "$A" "$REG/e2e/layers3:nope"
	expect_rc "pull --load of A and a missing tag exits 1" 1
	expect_eq "a pull that failed loads nothing, not even A" missing "$(image_id "$A")"

	DOCKER_HOST=unix://$WORK/none.sock hl pull --load "$A"
	cp "$ERR" "$WORK/nodaemon.stderr"
	expect_rc "pull --load with no engine at the socket exits 1" 1
	expect_in "the error names the socket" "$ERR" "haul: engine unix://$WORK/none.sock (from DOCKER_HOST): GET /_ping: dial unix $WORK/none.sock"
	expect_in "with a hint" "$ERR" "hint: is dockerd (or podman system service) running"
	expect_not_in "it fails before pulling" "$ERR" "resolved"

	DOCKER_HOST=ssh://me@build.lan hl pull --load "$A"
	cp "$ERR" "$WORK/ssh.stderr"
	expect_rc "pull --load with DOCKER_HOST=ssh:// exits 1" 1
	expect_in "it says what to run instead" "$ERR" "haul pull -o - REF | ssh me@build.lan docker load"

	hl pull --load -o x.tar "$A"
	expect_rc "pull --load -o FILE is a usage error" 2
	real_engine "$DSOCK" dockerd

	# docker save of the real engine, pushed by haul into the registry and
	# read back: the config digest (the image ID) and the diff_ids are the
	# engine's. Docker 25+ saves its manifests (an OCI layout): they go byte
	# for byte; an older one's archive gets a manifest built by haul.
	# (B: dockerd 20.10 on vfs cannot save layers3, whose hardlink it
	# fails to find again.)
	[[ $(image_id "$B") != missing ]] || DOCKER_HOST=unix://$DSOCK hl pull --load "$B"
	dk save -o "$WORK/saved.tar" "$B"
	expect_success "docker save of B exits 0"
	hl push --json "$WORK/saved.tar" "$REG/pushed"
	cp "$OUT" "$WORK/push.json"
	expect_success "haul push --json of docker save's archive exits 0"
	expect_eq "it goes where a mirror of the registry keeps it" "$REG/pushed/e2e/bigfile:1" "$(jq -r '.pushes[0].destination' "$OUT")"
	hl push "$WORK/saved.tar" "$REG/pushed2"
	cp "$ERR" "$WORK/push.stderr"
	expect_success "haul push of docker save's archive exits 0"
	hl manifest "$REG/pushed/e2e/bigfile:1"
	cp "$OUT" "$WORK/pushed-manifest.json"
	PUSHED_CONFIG=$(jq -r .config.digest "$WORK/pushed-manifest.json")
	expect_eq "pushed back: the config digest is docker's image ID" "$(image_id "$B")" "$PUSHED_CONFIG"
	hl blob "$REG/pushed/e2e/bigfile@$PUSHED_CONFIG"
	PUSHED_DIFFS=$(jq -c .rootfs.diff_ids "$OUT")
	hl blob "$REG/e2e/bigfile@$CONFIG_B"
	expect_eq "pushed back: the diff_ids are the source's" "$(jq -c .rootfs.diff_ids "$OUT")" "$PUSHED_DIFFS"
	if jq -e '.pushes[0].built' "$WORK/push.json" >/dev/null 2>&1; then # docker save before Docker 25
		expect_in "haul says the manifest is new" "$WORK/push.stderr" "built a manifest"
		expect_eq "pushed back: the layers, as docker saved them, are their diff_ids (checked by the registry)" "$PUSHED_DIFFS" \
			"$(jq -c '[.layers[].digest]' "$WORK/pushed-manifest.json")"
	fi

	# ------------------------------------------------------------ ctr against dockerd's containerd
	if ! command -v ctr >/dev/null 2>&1; then
		unavailable ctr "ctr is not installed (apt-get install containerd)"
	elif [[ ! -S $CSOCK ]]; then
		unavailable ctr "dockerd's containerd socket is not at $CSOCK"
	else
		ctr_() { LAST="ctr $*" RC=0; ctr -a "$CSOCK" -n haul-e2e "$@" >"$OUT" 2>"$ERR" </dev/null || RC=$?; }
		ctr_ images import --no-unpack "$WORK/a.tar"
		expect_success "ctr images import of haul's tar exits 0"
		ctr_ images ls
		expect_eq "ctr images ls lists the name with the registry's manifest digest" "$A $DIGEST_A" \
			"$(awk -v n="$A" '$1 == n { print $1, $3 }' "$OUT")"
		ctr_ images rm "$A"
		ctr_ images import --no-unpack "$WORK/a-referrers.tar"
		expect_success "ctr images import of a --referrers bundle exits 0"
		ctr_ images ls -q
		expect_eq "ctr images ls lists A alone (the referrers have no name)" "$A" "$(out_line)"
	fi
fi

# ---------------------------------------------------------------- podman system service
PSOCK=$WORK/podman.sock
POD=(podman --root "$WORK/pod/root" --runroot "$WORK/pod/run" --tmpdir "$WORK/pod/tmp"
	--storage-driver vfs --cgroup-manager cgroupfs --events-backend file)
podman_start() {
	command -v podman >/dev/null 2>&1 || { echo "podman is not installed (apt-get install podman)"; return 1; }
	((EUID == 0)) || { echo "rootful podman needs root"; return 1; }
	mkdir -p "$WORK/pod"
	"${POD[@]}" system service --time=0 "unix://$PSOCK" >"$WORK/podman.log" 2>&1 &
	PODMAN_PID=$!
	wait_ping "$PSOCK" "$PODMAN_PID" && return 0
	echo "podman system service did not answer /_ping within 30 s; its log ends:"
	tail -n 5 "$WORK/podman.log"
	return 1
}
if ! podman_start >"$WORK/why" 2>&1; then
	stop_pid "$PODMAN_PID"
	PODMAN_PID=
	unavailable "podman system service" "$(tr '\n' ' ' <"$WORK/why")"
else
	note "podman $("${POD[@]}" version --format '{{.Server.Version}}' 2>/dev/null) on $PSOCK"
	DOCKER_HOST=unix://$PSOCK hl pull --load "$A"
	cp "$ERR" "$WORK/podman.stderr"
	expect_success "haul pull --load into podman system service exits 0"
	expect_in "it prints podman's line" "$ERR" "Loaded image: $A"
	LAST="podman images" RC=0
	"${POD[@]}" images --no-trunc --format '{{.Repository}}:{{.Tag}} {{.ID}}' >"$OUT" 2>"$ERR" || RC=$?
	expect_eq "podman images lists the name, with the config digest as ID" "$A $CONFIG_A" \
		"$(awk -v n="$A" '$1 == n { print $1, ($2 ~ /^sha256:/ ? $2 : "sha256:" $2) }' "$OUT")"
	real_engine "$PSOCK" "podman system service"
fi

# ---------------------------------------------------------------- summary
if [[ ${HAUL_E2E_SHOW:-} == 1 ]]; then
	for f in load refused nodaemon ssh podman; do
		[[ -f $WORK/$f.stderr ]] && { note "$f:"; sed 's/^/#   /' "$WORK/$f.stderr"; }
	done
fi
note "took $((SECONDS - START))s"
echo "$PASSED passed, $FAILED failed"
((FAILED == 0)) || exit 1
