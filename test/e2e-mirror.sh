#!/usr/bin/env bash
# End-to-end test of haul pull --mirror through a pull-through cache: Debian's
# docker-registry (distribution 2.8) in proxy mode (proxy.remoteurl) in front
# of an upstream docker-registry with token auth (tools/tokenserver,
# registrytest's token server alone, on another port, as auth.docker.io is to
# registry-1.docker.io). tools/headerlog, a logging reverse proxy in
# front of the mirror, records the Authorization headers its access log
# leaves out.
#
# Checks: haul pull --mirror M -u alice --password-stdin UPSTREAM/private/...
# succeeds with the digest the pusher uploaded and the upstream serves; the
# upstream's access log shows the cache (Go-http-client, distribution's
# client) fetching the blobs, not haul (haul/); the mirror's log shows haul's
# requests and no Authorization carrying the upstream's credentials; the
# summary names the mirror. With the mirror stopped, a pull into an empty
# cache falls back to the upstream, says so in the trace and the summary.
# The access-log lines are printed as `# upstream log: ...` for the issue note.
# The same mirror configured in config.toml, then in registries.conf, serves a
# pull without --mirror; haul config show names each file and line; a broken
# config.toml stops haul with its line.
#
# test/e2e.sh runs it with its own haul (HAUL_E2E_HAUL); alone it builds
# haul. Needs go, docker-registry, curl, jq, tar, sha256sum. Prints
# `ok - ...` / `not ok - ...` per check and ends with `N passed, M failed`;
# exits 1 when a check failed. HAUL_E2E_KEEP=1 keeps the work directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
START=$SECONDS
USER_UP=alice PASS_UP=alice-s3cret-password # registrytest.Alice, registrytest.AlicePassword

die() { echo "e2e-mirror: error: $*" >&2; exit 1; }
note() { echo "# $*"; }
for c in go docker-registry curl jq tar sha256sum base64; do
	command -v "$c" >/dev/null 2>&1 || die "'$c' is not installed"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/haul-e2e-mirror.XXXXXX")
# shellcheck source=checks.sh
. "$ROOT/test/checks.sh"
# shellcheck source=../scripts/registry.sh
. "$ROOT/scripts/registry.sh"
REG_PID= UP_PID= M_PID= TS_PID= HL_PID=
cleanup() {
	local rc=$?
	stop_pid "$HL_PID"; stop_pid "$M_PID"; stop_pid "$UP_PID"; stop_pid "$TS_PID"
	remove_work
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- tools
mkdir -p "$WORK/bin"
haul_binary "$WORK/bin"
(cd "$ROOT" && go build -o "$WORK/bin/" ./tools/tokenserver ./tools/headerlog ./tools/rootfsimage) ||
	die "building tools/tokenserver, headerlog and rootfsimage failed"

# wait_line FILE PATTERN: waits (10 s at most) for a line of FILE to match.
wait_line() {
	local deadline=$((SECONDS + 10))
	until grep -q "$2" "$1" 2>/dev/null; do
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

# ---------------------------------------------------------------- the upstream, with token auth
"$WORK/bin/tokenserver" -cert "$WORK/token.pem" -private private/ >"$WORK/token.out" 2>"$WORK/token.log" &
TS_PID=$!
wait_line "$WORK/token.out" '^ready$' || die "the token server did not start: $(cat "$WORK/token.log")"
field() { awk -v k="$1" '$1 == k { print $2 }' "$WORK/token.out"; }
REALM=$(field realm) SERVICE=$(field service) ISSUER=$(field issuer)
start_registry "$WORK/up" 1 "auth:
  token:
    realm: $REALM
    service: $SERVICE
    issuer: $ISSUER
    rootcertbundle: $WORK/token.pem" || die "could not start the upstream docker-registry"
UP=$REG UP_PID=$REG_PID REG_PID=
note "upstream docker-registry (pid $UP_PID) on $UP, token realm $REALM"

# A push token for alice, asked of the realm with her password, as docker login would.
scopes="scope=repository:private/layers3:pull,push&scope=repository:private/bigfile:pull,push"
PUSH_TOKEN=$(curl -sS -u "$USER_UP:$PASS_UP" "$REALM?service=$SERVICE&$scopes" | jq -r .token)
[[ -n $PUSH_TOKEN && $PUSH_TOKEN != null ]] || die "the token server gave alice no push token"
"$WORK/bin/rootfsimage" -registry "$UP" -repo private -only layers3,bigfile -bigfile-mib 8 -token "$PUSH_TOKEN" \
	>"$WORK/pushed.txt" 2>"$WORK/rootfsimage.log" || die "pushing to the upstream failed: $(cat "$WORK/rootfsimage.log")"
IMG=$UP/private/bigfile:1
PUSHED=$(awk '$1 == "private/bigfile:1" { print $2 }' "$WORK/pushed.txt")
note "pushed $IMG $PUSHED with alice's token"

# ---------------------------------------------------------------- the mirror: docker-registry in proxy mode
start_registry "$WORK/mirror" 1 "proxy:
  remoteurl: http://$UP
  username: $USER_UP
  password: $PASS_UP" || die "could not start the mirror docker-registry"
M_REAL=$REG M_PID=$REG_PID REG_PID=
"$WORK/bin/headerlog" -to "http://$M_REAL" -log "$WORK/headers.log" >"$WORK/headerlog.out" 2>"$WORK/headerlog.err" &
HL_PID=$!
wait_line "$WORK/headerlog.out" '^listening ' || die "headerlog did not start: $(cat "$WORK/headerlog.err")"
M=$(awk '{ print $2 }' "$WORK/headerlog.out")
note "mirror docker-registry (pid $M_PID) on $M_REAL, proxy.remoteurl http://$UP; haul talks to it through headerlog on $M"

# ---------------------------------------------------------------- checks
PASSED=0 FAILED=0 RC=0 LAST=""
OUT=$WORK/stdout ERR=$WORK/stderr
HHOME=$WORK/home
mkdir -p "$HHOME"

# haul_pw ARGS...: runs haul with the upstream's password on stdin, in a home
# of its own (no credentials but the flags).
haul_pw() {
	LAST="haul $(printf '%q ' "$@")"
	LAST=${LAST//"$WORK/"/}
	RC=0
	env -u HAUL_USERNAME -u HAUL_PASSWORD -u REGISTRY_AUTH_FILE \
		HOME="$HHOME" DOCKER_CONFIG="$HHOME/.docker" XDG_CACHE_HOME="$HHOME/.cache" XDG_CONFIG_HOME="$HHOME/.config" \
		"$HAUL" "$@" <<<"$PASS_UP" >"$OUT" 2>"$ERR" || RC=$?
}

# The upstream's own manifest and its blobs, asked with a pull token by curl.
PULL_TOKEN=$(curl -sS -u "$USER_UP:$PASS_UP" "$REALM?service=$SERVICE&scope=repository:private/bigfile:pull" | jq -r .token)
curl -sS -H "Authorization: Bearer $PULL_TOKEN" \
	-H "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" \
	"http://$UP/v2/private/bigfile/manifests/1" >"$WORK/upstream-manifest.json"
UP_DIGEST=sha256:$(sha256sum <"$WORK/upstream-manifest.json" | cut -d' ' -f1)
WANT_BLOBS=$(jq -r '.config.digest, .layers[].digest' "$WORK/upstream-manifest.json" | LC_ALL=C sort)
expect_eq "the upstream serves the manifest the pusher uploaded" "$PUSHED" "$UP_DIGEST"

# tar_check DESC TAR: TAR holds the manifest's config and layers, each hashing to its name.
tar_check() {
	local dir=$WORK/untar.$RANDOM bad="" f
	mkdir -p "$dir"
	tar -xf "$2" -C "$dir" blobs 2>/dev/null || true
	for f in "$dir"/blobs/sha256/*; do
		[[ -f $f ]] || continue
		[[ $(sha256sum <"$f" | cut -d' ' -f1) == "$(basename "$f")" ]] || bad+=" $(basename "$f")"
	done
	local missing
	missing=$(comm -23 <(echo "$WANT_BLOBS") <(ls "$dir/blobs/sha256" | sed 's/^/sha256:/' | LC_ALL=C sort))
	if [[ -z $bad && -z $missing ]]; then ok "$1"; else not_ok "$1" "bad:$bad" "missing: $missing"; fi
	rm -rf "$dir"
}

up_lines_before=$(wc -l <"$WORK/up/access.log")
haul_pw pull --mirror "$M" -u "$USER_UP" --password-stdin --cache-dir "$WORK/cache1" -o "$WORK/via-mirror.tar" "$IMG"
expect_success "pull --mirror -u --password-stdin through the pull-through cache"
expect_in "the pull resolved the upstream's digest" "$ERR" "private/bigfile:1: $UP_DIGEST"
tar_check "the archive holds the image's blobs, each hashing to its name" "$WORK/via-mirror.tar"
expect_in "the summary says every blob came from the mirror" "$ERR" "2 blobs, 8.0 MiB: 2 from mirror $M, 0 from cache"
cp "$ERR" "$WORK/pull1.err"

tail -n +"$((up_lines_before + 1))" "$WORK/up/access.log" >"$WORK/up-during-pull1.log"
LAST="the upstream's access log during the pull" RC=- OUT=/dev/null ERR=$WORK/up-during-pull1.log
n=$(grep -c 'GET /v2/private/bigfile/blobs/' "$WORK/up-during-pull1.log" || true)
if ((n > 0)) && ! grep -q '"haul/' "$WORK/up-during-pull1.log"; then
	ok "the upstream served the blobs to the cache ($n blob GETs), never to haul"
else
	not_ok "the upstream served the blobs to the cache, never to haul" "blob GETs: $n"
fi
expect_in "the cache fetched them with distribution's HTTP client" "$WORK/up-during-pull1.log" '"Go-http-client/1.1"'
ERR=$WORK/mirror/access.log
expect_in "the mirror's access log shows haul's requests" "$WORK/mirror/access.log" '"haul/'
ERR=$WORK/headers.log
basic=$(printf '%s:%s' "$USER_UP" "$PASS_UP" | base64)
if grep -q 'user-agent="haul/' "$WORK/headers.log" && ! grep -qF -e "$basic" -e "$PASS_UP" "$WORK/headers.log" &&
	! grep 'user-agent="haul/' "$WORK/headers.log" | grep -qv 'authorization="none"'; then
	ok "haul sent the mirror no Authorization at all, and never the upstream's credentials"
else
	not_ok "haul sent the mirror no Authorization at all, and never the upstream's credentials"
fi
OUT=$WORK/stdout ERR=$WORK/stderr
sed -n 's/^/# upstream log: /p' <(grep '"GET /v2/.*/\(blobs\|manifests\)/' "$WORK/up-during-pull1.log" | head -n 6)
sed -n 's/^/# mirror log: /p' <(grep '"haul/' "$WORK/mirror/access.log" | head -n 4)
sed -n 's/^/# headers at the mirror: /p' <(grep 'user-agent="haul/' "$WORK/headers.log" | head -n 4)
sed -n 's/^/# haul: /p' <(grep 'from mirror\|blobs, ' "$WORK/pull1.err")

haul_pw --mirror "$M" -u "$USER_UP" --password-stdin digest "$IMG"
expect_eq "digest --mirror gives the upstream's digest" "$UP_DIGEST" "$(cat "$OUT")"

# ---------------------------------------------------------------- mirrors from the config files, no --mirror
# config.toml's [registries."UP"] mirrors, then registries.conf's
# [[registry.mirror]] for the private/ namespace (as podman reads it); the
# settings come with their file and line in haul config show.
CONF=$HHOME/.config/haul/config.toml
mkdir -p "$(dirname "$CONF")"
printf '# written by test/e2e-mirror.sh\ncache-dir = "%s"\n\n[registries."%s"]\nmirrors = ["%s"]\n' "$WORK/cache3" "$UP" "$M" >"$CONF"
haul_pw pull -u "$USER_UP" --password-stdin -o "$WORK/via-config.tar" "$IMG"
expect_success "pull with the mirror of config.toml, no --mirror"
expect_in "the summary says every blob came from config.toml's mirror" "$ERR" "2 blobs, 8.0 MiB: 2 from mirror $M, 0 from cache"
tar_check "the archive holds the image's blobs, each hashing to its name" "$WORK/via-config.tar"
if [[ -n $(ls "$WORK/cache3/blobs/sha256" 2>/dev/null) ]]; then ok "the blobs went to config.toml's cache-dir"; else not_ok "the blobs went to config.toml's cache-dir"; fi
haul_pw config show
expect_success "config show"
expect_in "config show names config.toml's mirror and its line" "$OUT" "$M  # $CONF:5"
expect_in "config show names config.toml's cache-dir and its line" "$OUT" "$WORK/cache3  # $CONF:2"
sed -n 's/^/# haul config show: /p' "$OUT"
haul_pw --json config show
expect_eq "config show --json: the mirror's origin" "$CONF:5" "$(jq -r --arg up "$UP" '.registries[] | select(.name == $up) | .mirrors[0].origin' "$OUT")"

printf '[[registry]]\nprefix = "%s/private"\n\n[[registry.mirror]]\nlocation = "%s/private"\n' "$UP" "$M" >"$WORK/registries.conf"
printf 'cache-dir = "%s"\n' "$WORK/cache4" >"$CONF"
CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf haul_pw pull -u "$USER_UP" --password-stdin -o "$WORK/via-registries-conf.tar" "$IMG"
expect_success "pull with the mirror of registries.conf (CONTAINERS_REGISTRIES_CONF), no --mirror"
expect_in "the summary says every blob came from registries.conf's mirror" "$ERR" "2 blobs, 8.0 MiB: 2 from mirror $M, 0 from cache"
CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf haul_pw config show
expect_in "config show names registries.conf's mirror, its namespace and its line" "$OUT" "$M/private (for $UP/private)  # $WORK/registries.conf:4"

printf 'jobs = 4\njbos = 5\n' >"$CONF"
haul_pw digest "$IMG"
expect_rc "a misspelt key in config.toml stops the command" 1
expect_in "the error names the file, the line and the key meant" "$ERR" "$CONF:2:1: unknown key \"jbos\" (did you mean \"jobs\"?)"
sed -n 's/^/# haul: /p' "$ERR"
rm -f "$CONF"

# ---------------------------------------------------------------- the mirror stopped
stop_pid "$M_PID"; M_PID=
up_lines_before=$(wc -l <"$WORK/up/access.log")
haul_pw --trace pull --mirror "$M_REAL" -u "$USER_UP" --password-stdin --cache-dir "$WORK/cache2" -o "$WORK/fallback.tar" "$IMG"
expect_success "with the mirror stopped, the pull falls back to the upstream"
expect_in "the pull resolved the upstream's digest" "$ERR" "private/bigfile:1: $UP_DIGEST"
tar_check "the archive holds the image's blobs, each hashing to its name" "$WORK/fallback.tar"
expect_in "the trace says the mirror failed and the upstream was tried" "$ERR" "# mirror $M_REAL failed ("
expect_in "the trace says the mirror is skipped for the rest of the run" "$ERR" "# mirror $M_REAL is skipped for the rest of this run"
expect_in "the summary names the upstream" "$ERR" "2 blobs, 8.0 MiB: 2 from upstream $UP, 0 from cache"
grep -m1 "# mirror $M_REAL failed" "$ERR" | sed 's/^/# haul --trace: /' | cut -c1-300 || true
grep 'blobs, ' "$ERR" | sed 's/^/# haul: /' || true
tail -n +"$((up_lines_before + 1))" "$WORK/up/access.log" >"$WORK/up-during-pull2.log"
ERR=$WORK/up-during-pull2.log
expect_in "now the upstream's access log shows haul fetching the blobs" "$WORK/up-during-pull2.log" '"haul/'
sed -n 's/^/# upstream log: /p' <(grep '/blobs/' "$WORK/up-during-pull2.log" | head -n 3)

# ---------------------------------------------------------------- summary
note "took $((SECONDS - START))s"
echo "$PASSED passed, $FAILED failed"
((FAILED == 0)) || exit 1
