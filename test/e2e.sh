#!/usr/bin/env bash
# End-to-end test of haul against real registries on loopback.
#
# It builds haul, starts two CNCF distribution registries (docker-registry, from
# Debian's package) on free 127.0.0.1 ports - A open, B behind htpasswd Basic
# auth - pushes small random images to them with crane, and checks what haul
# says against crane, skopeo, sha256sum and tar.
#
# Needs: go, docker-registry, jq, curl, tar, gzip, sha256sum, cmp (and skopeo,
# umoci and podman, whose checks are skipped when they are missing). Section 25
# runs test/e2e-rootfs.sh (root filesystems: haul unpack, pull --format rootfs,
# export) against the same registry A, section 26 test/e2e-mirror.sh (a
# pull-through cache, mirrors from config files) and section 27
# test/e2e-tls.sh (TLS and mutual TLS, certs.d), each counted. crane is
# installed with `go install` into ${HAUL_E2E_TOOLS:-$HOME/.cache/haul-e2e/bin}
# when it is not there yet.
#
# Prints `ok - ...` / `not ok - ...` per check and ends with `N passed, M failed`;
# exits 1 when a check failed. HAUL_E2E_KEEP=1 keeps the work directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${HAUL_E2E_TOOLS:-$HOME/.cache/haul-e2e/bin}
CRANE_VERSION=v0.22.1
START=$SECONDS

die() { echo "e2e: error: $*" >&2; exit 1; }
note() { echo "# $*"; }

# ---------------------------------------------------------------- prerequisites
need() { # need CMD WHY
	command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed: $2"
}
need go "install Go (https://go.dev/dl) to build haul"
need docker-registry "apt-get install docker-registry (the CNCF distribution registry)"
need jq "apt-get install jq"
need curl "apt-get install curl"
need tar "apt-get install tar"
need gzip "apt-get install gzip"
need sha256sum "apt-get install coreutils"
need stat "apt-get install coreutils"
need cmp "apt-get install diffutils"
HAVE_SKOPEO=1
command -v skopeo >/dev/null 2>&1 || HAVE_SKOPEO=0
HAVE_UMOCI=1
command -v umoci >/dev/null 2>&1 || HAVE_UMOCI=0
HAVE_PODMAN=1
command -v podman >/dev/null 2>&1 || HAVE_PODMAN=0

# ---------------------------------------------------------------- work dirs, cleanup
BUILD=$(mktemp -d "${TMPDIR:-/tmp}/haul-e2e-build.XXXXXX")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/haul-e2e-work.XXXXXX")
# shellcheck source=checks.sh
. "$ROOT/test/checks.sh"
# shellcheck source=referrers.sh
. "$ROOT/test/referrers.sh"
REG_PIDS=()
cleanup() {
	local rc=$?
	local pid
	for pid in "${REG_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${REG_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$BUILD"
	# Rootless podman leaves files owned by subordinate ids that only its user
	# namespace can remove.
	if [[ -d $WORK/pod ]] && ((EUID != 0)); then
		podman unshare rm -rf "$WORK/pod" >/dev/null 2>&1 || true
	fi
	remove_work
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- tools
crane_ok() { [[ -x $1 ]] && [[ $("$1" version 2>/dev/null) == "$CRANE_VERSION" ]]; }
CRANE=$TOOLS/crane
if ! crane_ok "$CRANE"; then
	if command -v crane >/dev/null 2>&1 && crane_ok "$(command -v crane)"; then
		CRANE=$(command -v crane)
	else
		note "installing crane $CRANE_VERSION into $TOOLS"
		mkdir -p "$TOOLS"
		(cd "$WORK" && GOBIN=$TOOLS GOFLAGS=-buildvcs=false \
			go install "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION") ||
			die "could not install crane $CRANE_VERSION with go install"
		crane_ok "$CRANE" || die "$CRANE is not crane $CRANE_VERSION"
	fi
fi

# bcrypt_hash PASSWORD prints a bcrypt hash for an htpasswd file.
bcrypt_hash() {
	if command -v htpasswd >/dev/null 2>&1; then
		htpasswd -nbB -C 5 x "$1" | head -n1 | cut -d: -f2-
		return
	fi
	local tool=$TOOLS/haul-e2e-bcrypt
	if [[ ! -x $tool ]]; then
		note "building a bcrypt helper into $TOOLS (htpasswd is not installed)" >&2
		local src=$WORK/bcrypt-src ver
		ver=$(cd "$ROOT" && go list -m -f '{{.Version}}' golang.org/x/crypto 2>/dev/null) || ver=latest
		mkdir -p "$src" "$TOOLS"
		cat >"$src/main.go" <<-'EOF'
			package main

			import (
				"bufio"
				"fmt"
				"os"
				"strings"

				"golang.org/x/crypto/bcrypt"
			)

			func main() {
				pw, _ := bufio.NewReader(os.Stdin).ReadString('\n')
				h, err := bcrypt.GenerateFromPassword([]byte(strings.TrimRight(pw, "\n")), bcrypt.MinCost)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				fmt.Println(string(h))
			}
		EOF
		(
			cd "$src" && export GOFLAGS=-buildvcs=false &&
				go mod init haul-e2e-bcrypt >/dev/null 2>&1 &&
				go get "golang.org/x/crypto@$ver" >/dev/null 2>&1 &&
				go build -o "$tool.tmp" . && mv "$tool.tmp" "$tool"
		) || die "could not build the bcrypt helper (golang.org/x/crypto@$ver)"
	fi
	printf '%s\n' "$1" | "$tool"
}

# ---------------------------------------------------------------- build haul
note "building haul"
(cd "$ROOT" && go build -o "$BUILD/haul" ./cmd/haul) || die "go build ./cmd/haul failed"
HAUL=$BUILD/haul

# ---------------------------------------------------------------- registries
# shellcheck source=../scripts/registry.sh
. "$ROOT/scripts/registry.sh"
# registry NAME EXTRA_YAML: starts registry NAME (in $WORK/NAME), sets PORT.
registry() {
	start_registry "$WORK/$1" 0 "$2" || die "could not start registry $1"
	REG_PIDS+=("$REG_PID")
	PORT=${REG##*:}
	note "registry $1 (pid $REG_PID) on $REG"
}

USER_B=alice
PASS_B=e2e-pw-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')
printf '%s:%s\n' "$USER_B" "$(bcrypt_hash "$PASS_B")" >"$WORK/htpasswd"
[[ $(cut -d: -f2 "$WORK/htpasswd") == '$2'* ]] || die "bad htpasswd line: $(cat "$WORK/htpasswd")"

registry a ""
A=127.0.0.1:$PORT
registry b "auth:
  htpasswd:
    realm: e2e
    path: $WORK/htpasswd"
B=127.0.0.1:$PORT
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://$B/v2/") == 401 ]] || die "registry B does not require auth"

# ---------------------------------------------------------------- test images
note "pushing test images with crane"
CRANE_DC=$WORK/crane-docker # crane's own DOCKER_CONFIG, never haul's
mkdir -p "$CRANE_DC"
crane() { DOCKER_CONFIG=$CRANE_DC "$CRANE" --insecure "$@"; }

mk_layer() { # mk_layer NAME FILE...: a gzipped tarball of FILEs with random content
	local name=$1 f
	shift
	mkdir -p "$WORK/$name"
	for f in "$@"; do
		mkdir -p "$(dirname "$WORK/$name/$f")"
		{ echo "$name $f"; od -An -tx1 -N64 /dev/urandom; } >"$WORK/$name/$f"
	done
	tar -czf "$WORK/$name.tar.gz" -C "$WORK/$name" "$@"
}
mk_layer layer1 hello.txt etc/e2e.conf
mk_layer layer2 bin/run.sh
mk_layer layer3 gone.bin # pushed, then deleted from the registry
LAYER1_FILES=$(printf '%s\n' hello.txt etc/e2e.conf | sort)
# A ~20 MiB layer of random bytes, for two pulls at once.
mkdir -p "$WORK/big"
head -c 20M /dev/urandom >"$WORK/big/big.bin"
tar -cf - -C "$WORK/big" big.bin | gzip -1 >"$WORK/big.tar.gz"

APP=$A/e2e/app       # Docker schema 2 media types
OCI=$A/e2e/oci       # OCI media types, the same layers as $APP:1
MULTI=$A/e2e/multi   # a 2-platform index
BIG=$A/e2e/big       # one ~20 MiB layer
BROKEN=$A/e2e/broken # its manifest names a blob the registry no longer has
PRIV=$B/e2e/private
{
	crane append -f "$WORK/layer1.tar.gz" -f "$WORK/layer2.tar.gz" -t "$APP:1"
	crane tag "$APP:1" 2
	crane tag "$APP:1" 3
	crane mutate --set-platform linux/amd64 -t "$MULTI:amd64" "$APP:1"
	crane mutate --set-platform linux/arm64 -l e2e.arch=arm64 -t "$MULTI:arm64" "$APP:1"
	crane index append -m "$MULTI:amd64" -m "$MULTI:arm64" -t "$MULTI:index"
	# crane's empty OCI base has no os, which umoci refuses: set a platform.
	crane append --oci-empty-base -f "$WORK/layer1.tar.gz" -f "$WORK/layer2.tar.gz" -t "$OCI:base"
	crane mutate --set-platform linux/amd64 -t "$OCI:1" "$OCI:base"
	crane append -f "$WORK/big.tar.gz" -t "$BIG:1"
	crane append -f "$WORK/layer1.tar.gz" -f "$WORK/layer3.tar.gz" -t "$BROKEN:1"
	crane auth login "$B" -u "$USER_B" -p "$PASS_B"
	crane copy "$APP:1" "$PRIV:1"
} >"$WORK/crane.log" 2>&1 || {
	sed 's/^/#   /' "$WORK/crane.log" >&2
	die "pushing the test images with crane failed"
}

# ---------------------------------------------------------------- harness
PASSED=0
FAILED=0
OUT=$WORK/stdout
ERR=$WORK/stderr
HHOME=$WORK/home   # haul's HOME: no stray credentials from the machine
DC=$WORK/docker    # haul's DOCKER_CONFIG
mkdir -p "$HHOME" "$DC"
RC=0
LAST=""

# run [VAR=value]... CMD ARG...: runs with a clean credential environment;
# stdout in $OUT, stderr in $ERR, exit code in $RC. Stdin is $STDIN (default empty).
run() {
	LAST=$(printf '%q ' "$@")
	LAST=${LAST//"$BUILD/"/}
	RC=0
	printf '%s' "${STDIN:-}" | env -u HAUL_USERNAME -u HAUL_PASSWORD -u REGISTRY_AUTH_FILE \
		HOME="$HHOME" DOCKER_CONFIG="$DC" XDG_RUNTIME_DIR="$HHOME/run" XDG_CONFIG_HOME="$HHOME/.config" \
		"$@" >"$OUT" 2>"$ERR" || RC=$?
}

sha() { sha256sum "$1" | cut -d' ' -f1 | sed 's/^/sha256:/'; }
out() { tr -d '\n' <"$OUT"; } # stdout of the last run, on one line

# crane's view, as the reference answers.
crane_q() { crane "$@" 2>"$WORK/crane.err" || die "crane $* failed: $(cat "$WORK/crane.err")"; }
APP_DIGEST=$(crane_q digest "$APP:1")
INDEX_DIGEST=$(crane_q digest "$MULTI:index")
ARM_DIGEST=$(crane_q digest --platform linux/arm64 "$MULTI:index")
AMD_DIGEST=$(crane_q digest --platform linux/amd64 "$MULTI:index")
APP_MANIFEST=$(crane_q manifest "$APP:1")
CONFIG_DIGEST=$(jq -r .config.digest <<<"$APP_MANIFEST")
LAYER1_DIGEST=$(jq -r '.layers[0].digest' <<<"$APP_MANIFEST")
LAYER_DIGESTS=$(jq -r '.layers[].digest' <<<"$APP_MANIFEST")
APP_TAGS=$(crane_q ls "$APP" | sort)
[[ $INDEX_DIGEST != "$ARM_DIGEST" && $ARM_DIGEST != "$AMD_DIGEST" ]] || die "the index was not built as expected"
OCI_DIGEST=$(crane_q digest "$OCI:1")
OCI_MANIFEST=$(crane_q manifest "$OCI:1")
[[ $(jq -r '.mediaType + " " + .config.mediaType' <<<"$OCI_MANIFEST") == \
	"application/vnd.oci.image.manifest.v1+json application/vnd.oci.image.config.v1+json" ]] ||
	die "$OCI:1 does not have OCI media types: $OCI_MANIFEST"
[[ $(jq -r .mediaType <<<"$APP_MANIFEST") == application/vnd.docker.distribution.manifest.v2+json ]] ||
	die "$APP:1 does not have Docker media types: $APP_MANIFEST"
BIG_DIGEST=$(crane_q digest "$BIG:1")
GONE_DIGEST=$(sha "$WORK/layer3.tar.gz")
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "http://$A/v2/e2e/broken/blobs/$GONE_DIGEST")
[[ $code == 202 ]] || die "deleting blob $GONE_DIGEST of $BROKEN from registry A answered $code, not 202"
note "setup took $((SECONDS - START))s; image $APP:1 = $APP_DIGEST, index $MULTI:index = $INDEX_DIGEST"

# ---------------------------------------------------------------- 1. digest
run "$HAUL" digest "$APP:1"
expect_eq "digest of a tag equals crane digest" "$APP_DIGEST" "$(out)"
run "$HAUL" digest "$MULTI:index"
expect_eq "digest of an index equals crane digest" "$INDEX_DIGEST" "$(out)"
run "$HAUL" --json digest "$APP:2"
expect_eq "digest --json .digest of another tag of the same image" "$APP_DIGEST" "$(jq -r .digest "$OUT" 2>&1)"
run "$HAUL" digest "$APP@$APP_DIGEST"
expect_eq "digest of a digest reference is that digest" "$APP_DIGEST" "$(out)"
run "$HAUL" digest --platform linux/arm64 "$MULTI:index"
expect_eq "digest --platform linux/arm64 of the index equals crane's" "$ARM_DIGEST" "$(out)"

# ---------------------------------------------------------------- 2. tags
run "$HAUL" tags "$APP"
expect_eq "tags equals crane ls (sorted)" "$APP_TAGS" "$(sort "$OUT")"
run "$HAUL" tags --json "$APP"
expect_eq "tags --json .tags equals crane ls (sorted)" "$APP_TAGS" "$(jq -r '.tags[]' "$OUT" 2>&1 | sort)"
run "$HAUL" ls "$MULTI"
expect_eq "ls (alias) of the index repository" "$(printf '%s\n' amd64 arm64 index)" "$(sort "$OUT")"

# ---------------------------------------------------------------- 3. manifest --raw
run "$HAUL" manifest --raw "$APP:1"
expect_eq "manifest --raw of a tag hashes to its digest" "$APP_DIGEST" "$(sha "$OUT")"
run "$HAUL" manifest --raw "$MULTI:index"
expect_eq "manifest --raw of an index hashes to its digest" "$INDEX_DIGEST" "$(sha "$OUT")"
run "$HAUL" manifest "$APP:1"
expect_eq "manifest (indented) has the same content as crane manifest" \
	"$(jq -cS . <<<"$APP_MANIFEST")" "$(jq -cS . "$OUT" 2>&1)"

# ---------------------------------------------------------------- 4. manifest --platform
run "$HAUL" manifest --raw --platform linux/arm64 "$MULTI:index"
expect_eq "manifest --raw --platform linux/arm64 hashes to crane's arm64 digest" "$ARM_DIGEST" "$(sha "$OUT")"
run "$HAUL" --json manifest --platform linux/arm64 "$MULTI:index"
expect_eq "manifest --json --platform linux/arm64 .digest equals crane's" "$ARM_DIGEST" "$(jq -r .digest "$OUT" 2>&1)"
run "$HAUL" manifest --raw --platform linux/amd64 "$MULTI:index"
expect_eq "manifest --raw --platform linux/amd64 hashes to crane's amd64 digest" "$AMD_DIGEST" "$(sha "$OUT")"

# ---------------------------------------------------------------- 5. config
run "$HAUL" config --raw "$APP:1"
expect_eq "config --raw hashes to the manifest's config digest" "$CONFIG_DIGEST" "$(sha "$OUT")"
run "$HAUL" config "$APP:1"
expect_eq "config (indented) has the same content as crane config" \
	"$(crane_q config "$APP:1" | jq -cS .)" "$(jq -cS . "$OUT" 2>&1)"
run "$HAUL" config --platform linux/arm64 "$MULTI:index"
expect_eq "config --platform linux/arm64 of the index is the arm64 config" \
	"arm64 arm64" "$(jq -r '.architecture + " " + .config.Labels["e2e.arch"]' "$OUT" 2>&1)"

# ---------------------------------------------------------------- 6. blob
run "$HAUL" blob "$APP@$LAYER1_DIGEST" -o "$WORK/layer.out"
expect_success "blob -o FILE exits 0"
expect_eq "blob -o FILE: the file hashes to the layer digest" "$LAYER1_DIGEST" "$(sha "$WORK/layer.out" 2>&1)"
expect_eq "blob -o FILE: the file is the layer pushed" "$(sha "$WORK/layer1.tar.gz")" "$(sha "$WORK/layer.out" 2>&1)"
run "$HAUL" blob "$APP@$LAYER1_DIGEST"
expect_eq "blob to stdout | tar -tzf lists the files put in" "$LAYER1_FILES" "$(tar -tzf - <"$OUT" 2>&1 | sort)"
run "$HAUL" blob "$APP@$CONFIG_DIGEST"
expect_eq "blob of the config digest hashes to it" "$CONFIG_DIGEST" "$(sha "$OUT")"
BOGUS=sha256:$(printf 'no such blob %s' "$RANDOM" | sha256sum | cut -d' ' -f1)
run "$HAUL" blob "$APP@$BOGUS" -o "$WORK/bogus.out"
expect_rc "blob of an unknown digest exits 1" 1
if [[ ! -e $WORK/bogus.out ]]; then ok "blob of an unknown digest leaves no file"; else not_ok "blob of an unknown digest leaves no file"; fi

# ---------------------------------------------------------------- 7. inspect
run "$HAUL" inspect --json "$APP:1"
expect_eq "inspect --json: digest" "$APP_DIGEST" "$(jq -r .digest "$OUT" 2>&1)"
expect_eq "inspect --json: layer count" "2" "$(jq -r '.layers | length' "$OUT" 2>&1)"
expect_eq "inspect --json: layer digests" "$LAYER_DIGESTS" "$(jq -r '.layers[].digest' "$OUT" 2>&1)"
expect_eq "inspect --json: config digest" "$CONFIG_DIGEST" "$(jq -r .image.config "$OUT" 2>&1)"
run "$HAUL" inspect --json --platform linux/arm64 "$MULTI:index"
expect_eq "inspect --json of the index: digest, platforms and selected image" \
	"$INDEX_DIGEST linux/amd64,linux/arm64 $ARM_DIGEST" \
	"$(jq -r '[.digest, ([.platforms[].platform] | sort | join(",")), .image.digest] | join(" ")' "$OUT" 2>&1)"
run "$HAUL" inspect "$APP:1"
expect_in "inspect (text) names the digest" "$OUT" "$APP_DIGEST"

# ---------------------------------------------------------------- 8. Basic auth registry
run "$HAUL" digest "$PRIV:1"
expect_rc "auth registry, no credentials: exit 1" 1
expect_in "auth registry, no credentials: stderr mentions 401" "$ERR" "401"
expect_in "auth registry, no credentials: hint mentions haul login" "$ERR" "haul login"

run HAUL_USERNAME="$USER_B" HAUL_PASSWORD="$PASS_B" "$HAUL" digest "$PRIV:1"
expect_eq "auth registry, HAUL_USERNAME/HAUL_PASSWORD: digest works" "$APP_DIGEST" "$(out)"
STDIN=$PASS_B run "$HAUL" digest -u "$USER_B" --password-stdin "$PRIV:1"
expect_eq "auth registry, -u --password-stdin: digest works" "$APP_DIGEST" "$(out)"
run HAUL_USERNAME="$USER_B" HAUL_PASSWORD="wrong-$PASS_B" "$HAUL" digest "$PRIV:1"
expect_rc "auth registry, wrong password in env: exit 1" 1

printf '{"psFormat":"x"}\n' >"$DC/config.json"
chmod 644 "$DC/config.json"
STDIN=$PASS_B run "$HAUL" login "$B" -u "$USER_B" --password-stdin
expect_success "login with the right password exits 0"
expect_eq "login: config.json has mode 600" "600" "$(stat -c %a "$DC/config.json" 2>&1)"
expect_eq "login: config.json has an auths entry for $B" "true" \
	"$(jq --arg r "$B" '.auths[$r].auth != null' "$DC/config.json" 2>&1)"
expect_eq "login: the auths entry decodes to user:password" "$USER_B:$PASS_B" \
	"$(jq -r --arg r "$B" '.auths[$r].auth' "$DC/config.json" 2>/dev/null | base64 -d 2>&1)"
expect_eq "login: the unrelated key psFormat is kept" "x" "$(jq -r .psFormat "$DC/config.json" 2>&1)"

run "$HAUL" digest "$PRIV:1"
expect_eq "after login, digest works with no env credentials" "$APP_DIGEST" "$(out)"
run "$HAUL" tags "$B/e2e/private"
expect_eq "after login, tags works" "1" "$(out)"

run "$HAUL" logout "$B"
expect_success "logout exits 0"
expect_eq "logout: the auths entry is gone" "false" \
	"$(jq --arg r "$B" '(.auths // {}) | has($r)' "$DC/config.json" 2>&1)"
expect_eq "logout: the unrelated key psFormat is kept" "x" "$(jq -r .psFormat "$DC/config.json" 2>&1)"
run "$HAUL" digest "$PRIV:1"
expect_rc "after logout, digest exits 1 again" 1

cp "$DC/config.json" "$WORK/config.before"
STDIN=wrong-$PASS_B run "$HAUL" login "$B" -u "$USER_B" --password-stdin
expect_rc "login with a wrong password exits 1" 1
if cmp -s "$DC/config.json" "$WORK/config.before"; then
	ok "login with a wrong password leaves config.json unchanged"
else
	not_ok "login with a wrong password leaves config.json unchanged" "config.json: $(cat "$DC/config.json")"
fi

# ---------------------------------------------------------------- 9. --trace
run "$HAUL" --trace digest "$APP:1"
expect_in "--trace prints curl commands" "$ERR" "curl"
expect_eq "--trace keeps stdout to the result" "$APP_DIGEST" "$(out)"
run HAUL_USERNAME="$USER_B" HAUL_PASSWORD="$PASS_B" "$HAUL" --trace manifest --raw "$PRIV:1"
expect_in "--trace with credentials prints curl" "$ERR" "curl"
expect_in "--trace with credentials prints REDACTED" "$ERR" "REDACTED"
expect_not_in "--trace with credentials never prints the password" "$ERR" "$PASS_B"
expect_not_in "--trace with credentials never prints the Basic credential" "$ERR" \
	"$(printf '%s:%s' "$USER_B" "$PASS_B" | base64 -w0)"
STDIN=$PASS_B run "$HAUL" --trace login "$B" -u "$USER_B" --password-stdin
expect_not_in "--trace login never prints the password" "$ERR" "$PASS_B"
run "$HAUL" logout "$B"

# ---------------------------------------------------------------- 10. usage errors
# Every malformed reference names the loopback registry, so that a haul that
# wrongly accepted one would still send nothing off this machine. (Docker's
# grammar reads 'UPPER/case' as repository "case" on a registry host "UPPER", a
# valid reference, so it is no usage error.)
run "$HAUL" digest "$A/e2e/UPPER:1"
expect_rc "usage error: digest of an upper-case repository exits 2" 2
expect_in "usage error: the message says repository names are lower case" "$ERR" "lowercase"
run "$HAUL" digest "$A/e2e/app:-bad"
expect_rc "usage error: digest of a malformed tag exits 2" 2
run "$HAUL" blob "$A/e2e/app@sha256:1234"
expect_rc "usage error: blob of a malformed digest exits 2" 2
run "$HAUL" blob "$A/e2e/app:1"
expect_rc "usage error: blob without a digest exits 2" 2
run "$HAUL" tags "$A/e2e/app:1"
expect_rc "usage error: tags of a reference with a tag exits 2" 2
run "$HAUL" digest
expect_rc "usage error: digest with no argument exits 2" 2
run "$HAUL" --nonsense
expect_rc "usage error: unknown flag exits 2" 2
run "$HAUL" manifest --platform 'not a platform' "$MULTI:index"
expect_rc "usage error: a malformed --platform exits 2" 2

# ---------------------------------------------------------------- 11. missing tag
run "$HAUL" digest "$APP:no-such-tag"
expect_rc "missing tag: digest exits 1" 1
expect_in "missing tag: digest's hint mentions haul tags" "$ERR" "haul tags"
run "$HAUL" manifest "$APP:no-such-tag"
expect_rc "missing tag: manifest exits 1" 1
expect_in "missing tag: manifest's hint mentions haul tags" "$ERR" "haul tags"

# ---------------------------------------------------------------- 12. skopeo
if ((HAVE_SKOPEO)); then
	run "$HAUL" digest "$APP:1"
	HAUL_DIGEST=$(out)
	run skopeo inspect --tls-verify=false "docker://$APP:1"
	expect_eq "skopeo inspect .Digest equals haul digest" "$HAUL_DIGEST" "$(jq -r .Digest "$OUT" 2>&1)"
else
	skip "skopeo inspect .Digest equals haul digest (skopeo is not installed)"
fi

# ---------------------------------------------------------------- 13. pull: helpers
PULL=$WORK/pull   # outputs of haul pull
CACHE=$WORK/cache # haul's blob cache, unless a check says otherwise
mkdir -p "$PULL"
pull() { run "$HAUL" pull --cache-dir "$CACHE" "$@"; } # pull ARG...: haul pull with $CACHE

# blobs_of REF...: every blob a tagged image names (for an index, its children's
# too), per crane, sorted, once each.
blobs_of() {
	local r m d
	for r in "$@"; do
		m=$(crane_q manifest "$r")
		crane_q digest "$r"
		jq -r '(.config.digest // empty), (.layers[]?.digest)' <<<"$m"
		for d in $(jq -r '.manifests[]?.digest' <<<"$m"); do
			blobs_of "${r%:*}@$d"
		done
	done | sort -u
}
# tar_blobs TAR: the digests of the blobs/sha256/ entries of TAR, sorted.
tar_blobs() { tar -tf "$1" 2>&1 | sed -n 's#^blobs/sha256/\(.\{1,\}\)$#sha256:\1#p' | sort; }
# bad_blobs TAR: prints each blob of TAR whose content does not hash to its name.
bad_blobs() {
	local dir f
	dir=$(mktemp -d "$WORK/unpack.XXXXXX")
	if ! tar -xf "$1" -C "$dir" blobs 2>"$dir.err"; then
		echo "cannot extract blobs/ of $1: $(cat "$dir.err")"
	else
		for f in "$dir"/blobs/sha256/*; do
			[[ $(sha256sum "$f" | cut -d' ' -f1) == "$(basename "$f")" ]] || echo "$(basename "$f")"
		done
	fi
	rm -rf "$dir" "$dir.err"
}
tar_json() { tar -xOf "$1" "$2" 2>&1; } # tar_json TAR MEMBER: a member's content
# no_file DESC FILE: FILE, and any .FILE.haul-* beside it, must not exist.
no_file() {
	local left=() f
	for f in "$2" "$(dirname "$2")/.$(basename "$2").haul-"*; do
		[[ -e $f ]] && left+=("$(basename "$f")")
	done
	if ((${#left[@]} == 0)); then ok "$1"; else not_ok "$1" "left behind in $(dirname "$2"): ${left[*]}"; fi
}

APP_BLOBS=$(blobs_of "$APP:1")
OCI_BLOBS=$(blobs_of "$OCI:1")
OCIBASE_BLOBS=$(blobs_of "$OCI:base")
OCIBASE_DIGEST=$(crane_q digest "$OCI:base")
INDEX_BLOBS=$(blobs_of "$MULTI:index")

# ---------------------------------------------------------------- 14. pull --format docker
pull "$APP:1" -o "$PULL/x.tar"
expect_success "pull (docker format) exits 0"
expect_eq "pull: the tar holds the image's blobs (per crane), once each" "$APP_BLOBS" "$(tar_blobs "$PULL/x.tar")"
expect_eq "pull: every blob in the tar hashes to its name" "" "$(bad_blobs "$PULL/x.tar")"
expect_eq "pull: manifest.json has one entry with RepoTags [\"$APP:1\"]" "[[\"$APP:1\"]]" \
	"$(tar_json "$PULL/x.tar" manifest.json | jq -c '[.[].RepoTags]' 2>&1)"
expect_eq "pull: manifest.json's Config is the config blob" "blobs/sha256/${CONFIG_DIGEST#sha256:}" \
	"$(tar_json "$PULL/x.tar" manifest.json | jq -r '.[0].Config' 2>&1)"
expect_eq "pull: index.json names the manifest and io.containerd.image.name $APP:1" "$APP_DIGEST $APP:1" \
	"$(tar_json "$PULL/x.tar" index.json | jq -r '.manifests[] | .digest + " " + .annotations["io.containerd.image.name"]' 2>&1)"
if ((HAVE_SKOPEO)); then
	run skopeo inspect --raw "docker-archive:$PULL/x.tar"
	expect_eq "skopeo docker-archive: the config digest equals crane's" "$CONFIG_DIGEST" "$(jq -r .config.digest "$OUT" 2>&1)"
	run skopeo inspect --config "docker-archive:$PULL/x.tar"
	expect_eq "skopeo docker-archive: rootfs.diff_ids equal crane config's" \
		"$(crane_q config "$APP:1" | jq -c .rootfs.diff_ids)" "$(jq -c .rootfs.diff_ids "$OUT" 2>&1)"
	run skopeo inspect "oci-archive:$PULL/x.tar"
	expect_eq "skopeo reads the docker tar as an oci-archive too, with crane's digest" "$APP_DIGEST" "$(jq -r .Digest "$OUT" 2>&1)"
else
	skip "skopeo checks of the docker tar (skopeo is not installed)"
fi

# ---------------------------------------------------------------- 15. pull --format oci-archive
pull "$APP:1" --format oci-archive -o "$PULL/y.tar"
expect_success "pull --format oci-archive exits 0"
expect_eq "oci-archive: no manifest.json, index.json names crane's digest" "absent $APP_DIGEST" \
	"$(tar -tf "$PULL/y.tar" | grep -qx manifest.json && echo present || echo absent) $(tar_json "$PULL/y.tar" index.json | jq -r '.manifests[].digest' 2>&1)"
pull "$MULTI:index" --platform linux/arm64 --format oci-archive -o "$PULL/ya.tar"
expect_success "pull --platform linux/arm64 --format oci-archive of the index exits 0"
expect_eq "oci-archive of the index for linux/arm64: index.json names crane's arm64 digest" "$ARM_DIGEST" \
	"$(tar_json "$PULL/ya.tar" index.json | jq -r '.manifests[].digest' 2>&1)"
if ((HAVE_SKOPEO)); then
	run skopeo inspect "oci-archive:$PULL/y.tar"
	expect_eq "skopeo inspect oci-archive: .Digest equals crane digest" "$APP_DIGEST" "$(jq -r .Digest "$OUT" 2>&1)"
	run skopeo inspect "oci-archive:$PULL/ya.tar"
	expect_eq "skopeo inspect oci-archive (index, linux/arm64): .Digest equals crane's arm64 digest" "$ARM_DIGEST" "$(jq -r .Digest "$OUT" 2>&1)"
else
	skip "skopeo checks of the oci-archives (skopeo is not installed)"
fi

# ---------------------------------------------------------------- 16. pull --format oci
# skopeo (containers/image) picks an entry of a layout by its ref.name among
# OCI-media-type manifests only, so the checks by name use $OCI:1 and $OCI:base;
# the Docker-media-type $APP:1 is checked through index.json.
LAYOUT=$PULL/layout
pull "$OCI:1" --format oci -o "$LAYOUT"
expect_success "pull --format oci (OCI media types) exits 0"
expect_eq "oci layout: index.json has the image, ref.name $OCI:1" "$OCI_DIGEST $OCI:1" \
	"$(jq -r '.manifests[] | .digest + " " + .annotations["org.opencontainers.image.ref.name"]' "$LAYOUT/index.json" 2>&1)"
if ((HAVE_SKOPEO)); then
	run skopeo inspect "oci:$LAYOUT"
	expect_eq "skopeo inspect oci:DIR (one image): .Digest equals crane digest" "$OCI_DIGEST" "$(jq -r .Digest "$OUT" 2>&1)"
fi
pull "$OCI:base" --format oci -o "$LAYOUT"
expect_success "pull --format oci of a second image into the same layout exits 0"
expect_eq "oci layout: index.json keeps both images" "2" "$(jq '.manifests | length' "$LAYOUT/index.json" 2>&1)"
if ((HAVE_SKOPEO)); then
	run skopeo inspect "oci:$LAYOUT:$OCI:1"
	expect_eq "skopeo inspect oci:DIR:FULL-REF of the first image equals crane digest" "$OCI_DIGEST" "$(jq -r .Digest "$OUT" 2>&1)"
	run skopeo inspect "oci:$LAYOUT:$OCI:base"
	expect_eq "skopeo inspect oci:DIR:FULL-REF of the second image equals crane digest" "$OCIBASE_DIGEST" "$(jq -r .Digest "$OUT" 2>&1)"
else
	skip "skopeo checks of the oci layout (skopeo is not installed)"
fi
pull "$APP:1" --format oci -o "$LAYOUT"
expect_success "pull --format oci of a Docker-media-type image into the same layout exits 0"
pull "$APP:1" --format oci -o "$LAYOUT"
expect_eq "oci layout: three images, and pulling one already there adds no entry" \
	"$(printf '%s\n' "$APP:1 $APP_DIGEST" "$OCI:1 $OCI_DIGEST" "$OCI:base $OCIBASE_DIGEST" | sort)" \
	"$(jq -r '.manifests[] | .annotations["org.opencontainers.image.ref.name"] + " " + .digest' "$LAYOUT/index.json" 2>&1 | sort)"
expect_eq "oci layout: the blobs are those of the three images" \
	"$(sort -u <<<"$APP_BLOBS"$'\n'"$OCI_BLOBS"$'\n'"$OCIBASE_BLOBS")" \
	"$(cd "$LAYOUT/blobs/sha256" && ls | sed 's/^/sha256:/' | sort)"

# ---------------------------------------------------------------- 17. umoci
# umoci reads only OCI media types, so it unpacks $OCI:1, named by its ref.name.
if ((HAVE_UMOCI)); then
	run umoci ls --layout "$LAYOUT"
	expect_eq "umoci ls lists the three full references" "$(printf '%s\n' "$APP:1" "$OCI:1" "$OCI:base" | sort)" "$(sort "$OUT")"
	run umoci unpack --rootless --image "$LAYOUT:$OCI:1" "$PULL/bundle"
	expect_success "umoci unpack --rootless of the OCI image exits 0"
	if cmp -s "$WORK/layer1/hello.txt" "$PULL/bundle/rootfs/hello.txt" &&
		cmp -s "$WORK/layer2/bin/run.sh" "$PULL/bundle/rootfs/bin/run.sh"; then
		ok "umoci unpack: the rootfs has the files of both layers"
	else
		not_ok "umoci unpack: the rootfs has the files of both layers" \
			"rootfs: $(cd "$PULL/bundle/rootfs" 2>&1 && find . -type f | sort | tr '\n' ' ')"
	fi
else
	skip "umoci unpack of the OCI layout (umoci is not installed: apt-get install umoci)"
fi

# ---------------------------------------------------------------- 18. podman
# podman_can_load: whether podman can load skopeo's own docker-archive of $APP:1
# here, in a store of its own; tells a sandbox that cannot from a bad tar.
podman_can_load() {
	((HAVE_SKOPEO)) || return 0
	local probe=(podman --root "$WORK/pod/probe-root" --runroot "$WORK/pod/probe-run" --tmpdir "$WORK/pod/probe-tmp"
		--storage-driver vfs --cgroup-manager cgroupfs --events-backend file)
	run skopeo copy --src-tls-verify=false "docker://$APP:1" "docker-archive:$WORK/pod/probe.tar:probe/app:1" &&
		((RC == 0)) && run "${probe[@]}" load -i "$WORK/pod/probe.tar" && ((RC == 0))
}
if ((HAVE_PODMAN)); then
	POD=(podman --root "$WORK/pod/root" --runroot "$WORK/pod/run" --tmpdir "$WORK/pod/tmp"
		--storage-driver vfs --cgroup-manager cgroupfs --events-backend file)
	mkdir -p "$WORK/pod" "$HHOME/run"
	run "${POD[@]}" info
	if ((RC != 0)); then
		skip "podman load of the docker tar (podman cannot run here: $(grep -m1 . "$ERR"))"
	else
		run "${POD[@]}" load -i "$PULL/x.tar"
		if ((RC != 0)) && ! podman_can_load; then
			skip "podman load of the docker tar (podman cannot load even skopeo's docker-archive here: $(grep -m1 . "$ERR"))"
		else
			# After a probe, load again for the failure's own output.
			((RC == 0)) || run "${POD[@]}" load -i "$PULL/x.tar"
			expect_success "podman load of the docker tar exits 0"
			run "${POD[@]}" images --format '{{.Repository}}:{{.Tag}}'
			expect_eq "podman images lists the image under its full reference" "$APP:1" "$(out)"
			run "${POD[@]}" images --no-trunc --format '{{.ID}}'
			expect_eq "podman's image ID is the config digest" "$CONFIG_DIGEST" "$(out)"
		fi
	fi
else
	skip "podman load of the docker tar (podman is not installed: apt-get install podman)"
fi

# ---------------------------------------------------------------- 19. -o - (stdout)
pull "$APP:1" -o -
expect_success "pull -o - exits 0"
cp "$OUT" "$PULL/s.tar"
pull "$APP:1" -o "$PULL/f.tar"
if cmp -s "$PULL/s.tar" "$PULL/f.tar"; then ok "pull -o - streams the same bytes as pull -o FILE"; else
	not_ok "pull -o - streams the same bytes as pull -o FILE" "$(cmp "$PULL/s.tar" "$PULL/f.tar" 2>&1)"; fi
run "$HAUL" pull --no-cache "$APP:1" -o -
if cmp -s "$OUT" "$PULL/f.tar"; then ok "pull --no-cache -o - streams the same bytes too"; else
	not_ok "pull --no-cache -o - streams the same bytes too" "$(cmp "$OUT" "$PULL/f.tar" 2>&1)"; fi

# ---------------------------------------------------------------- 20. cache
pull "$APP:1" -o "$PULL/c1.tar"
expect_in "a second pull of an image says 'fetched 0 B'" "$ERR" "fetched 0 B"
pull --json "$APP:1" -o "$PULL/c2.tar"
expect_eq "a second pull --json: .fetched is 0 and .cached > 0" "0 true" "$(jq -r '"\(.fetched) \(.cached > 0)"' "$OUT" 2>&1)"
run "$HAUL" cache ls --cache-dir "$CACHE"
expect_success "cache ls exits 0"
missing=$(for d in $APP_BLOBS $OCI_BLOBS; do [[ $d == "$APP_DIGEST" || $d == "$OCI_DIGEST" ]] || grep -qF "$d" "$OUT" || echo "$d"; done)
expect_eq "cache ls lists every config and layer pulled" "" "$missing"
run "$HAUL" cache prune --all --cache-dir "$CACHE"
expect_success "cache prune --all exits 0"
run "$HAUL" --json cache ls --cache-dir "$CACHE"
expect_eq "after cache prune --all, cache ls --json lists nothing" "0" "$(jq '.blobs | length' "$OUT" 2>&1)"
pull --json "$APP:1" -o "$PULL/c3.tar"
expect_eq "after cache prune --all, a pull fetches again (.fetched > 0)" "true" "$(jq '.fetched > 0' "$OUT" 2>&1)"

# ---------------------------------------------------------------- 21. bundle
pull "$APP:1" "$OCI:1" -o "$PULL/bundle.tar"
expect_success "pull of two images into one bundle exits 0"
expect_eq "bundle: manifest.json has both images with their RepoTags" "$(printf '%s\n' "[\"$APP:1\"]" "[\"$OCI:1\"]" | sort)" \
	"$(tar_json "$PULL/bundle.tar" manifest.json | jq -c '.[].RepoTags' 2>&1 | sort)"
expect_eq "bundle: no tar entry appears twice" "" "$(tar -tf "$PULL/bundle.tar" 2>&1 | sort | uniq -d)"
expect_eq "bundle: the blobs are those of both images, shared layers once" \
	"$(sort -u <<<"$APP_BLOBS"$'\n'"$OCI_BLOBS")" "$(tar_blobs "$PULL/bundle.tar")"
expect_eq "bundle: every blob hashes to its name" "" "$(bad_blobs "$PULL/bundle.tar")"

# ---------------------------------------------------------------- 22. a failed pull leaves nothing
mkdir -p "$PULL/fail"
pull "$APP:nope" -o "$PULL/fail/z.tar"
expect_rc "pull of a missing tag exits 1" 1
no_file "pull of a missing tag leaves no z.tar and no temp file" "$PULL/fail/z.tar"
pull "$BROKEN:1" -o "$PULL/fail/z.tar"
expect_rc "pull of an image missing a blob exits 1" 1
expect_in "pull of an image missing a blob names the blob" "$ERR" "$GONE_DIGEST"
no_file "pull of an image missing a blob leaves no z.tar and no temp file" "$PULL/fail/z.tar"
run "$HAUL" pull --no-cache "$BROKEN:1" -o "$PULL/fail/z.tar"
expect_rc "pull --no-cache of an image missing a blob exits 1" 1
no_file "pull --no-cache of an image missing a blob leaves no z.tar and no temp file" "$PULL/fail/z.tar"
expect_eq "the failed pulls left nothing in the output directory but the hidden tar that pulling again resumes" "" "$(ls -A "$PULL/fail" | grep -v '^\.z\.tar\.[0-9a-f]*\.haul-partial$')"
expect_in "the failed pull says where it kept what it fetched" "$ERR" ".haul-partial for the next pull to the same path"
cp "$LAYOUT/index.json" "$WORK/index.before"
pull "$BROKEN:1" --format oci -o "$LAYOUT"
expect_rc "pull --format oci of an image missing a blob into a layout exits 1" 1
if cmp -s "$LAYOUT/index.json" "$WORK/index.before"; then ok "a failed pull into a layout leaves its index.json unchanged"; else
	not_ok "a failed pull into a layout leaves its index.json unchanged" "index.json: $(cat "$LAYOUT/index.json")"; fi

# ---------------------------------------------------------------- 23. two pulls at once, one cache
RACE=$WORK/cache-race
mkdir -p "$RACE"
RACE_PIDS=()
for i in 1 2; do
	(
		OUT=$PULL/race$i.out ERR=$PULL/race$i.err
		run "$HAUL" pull --cache-dir "$RACE" "$BIG:1" -o "$PULL/race$i.tar"
		echo "$RC" >"$PULL/race$i.rc"
	) &
	RACE_PIDS+=($!)
done
wait "${RACE_PIDS[@]}" || true
for i in 1 2; do
	OUT=$PULL/race$i.out ERR=$PULL/race$i.err RC=$(cat "$PULL/race$i.rc" 2>/dev/null || echo none)
	LAST="haul pull --cache-dir $RACE $BIG:1 -o $PULL/race$i.tar (one of two at once)"
	expect_success "two pulls at once into one empty cache: pull $i exits 0"
done
OUT=$WORK/stdout ERR=$WORK/stderr
if cmp -s "$PULL/race1.tar" "$PULL/race2.tar"; then ok "two pulls at once wrote identical tars"; else
	not_ok "two pulls at once wrote identical tars" "$(cmp "$PULL/race1.tar" "$PULL/race2.tar" 2>&1)"; fi
expect_eq "two pulls at once: the tar holds the big image's blobs" "$(blobs_of "$BIG:1")" "$(tar_blobs "$PULL/race1.tar")"
expect_eq "two pulls at once: every blob hashes to its name" "" "$(bad_blobs "$PULL/race1.tar")"
run "$HAUL" --json cache ls --cache-dir "$RACE"
expect_eq "two pulls at once: the cache holds no partial download" "0" "$(jq '[.blobs[]? | select(.partial)] | length' "$OUT" 2>&1)"

# ---------------------------------------------------------------- 24. --platform all
pull "$MULTI:index" --platform all --format oci-archive -o "$PULL/all.tar"
expect_success "pull --platform all --format oci-archive of the index exits 0"
expect_eq "--platform all: index.json has one entry, the index, with crane's digest" "$INDEX_DIGEST" \
	"$(tar_json "$PULL/all.tar" index.json | jq -r '.manifests[].digest' 2>&1)"
expect_eq "--platform all: the archive holds every child's blobs" "$INDEX_BLOBS" "$(tar_blobs "$PULL/all.tar")"
if ((HAVE_SKOPEO)); then
	run skopeo inspect --raw "oci-archive:$PULL/all.tar"
	expect_eq "--platform all: skopeo inspect --raw of the archive is the index" "$INDEX_DIGEST" "$(sha "$OUT")"
else
	skip "--platform all: skopeo inspect --raw (skopeo is not installed)"
fi

# ---------------------------------------------------------------- 24b. --referrers
# A copy of $OCI:1 with an SBOM (fallback tag) and a cosign-style signature
# (.sig tag), pushed by test/referrers.sh; registry A (distribution 2.8) has no
# referrers API. The bundle carries them, and loads and reads as before.
SIGNED=$A/e2e/signed
crane copy "$OCI:1" "$SIGNED:1" >"$WORK/crane.log" 2>&1 || die "crane copy $OCI:1 $SIGNED:1 failed: $(cat "$WORK/crane.log")"
push_referrers "$SIGNED:1" "$WORK/referrers" || die "pushing referrers of $SIGNED:1 failed"
SIGNED_DIGEST=$(crane_q digest "$SIGNED:1")
pull --json --referrers "$SIGNED:1" -o "$PULL/signed.tar"
expect_success "pull --referrers exits 0"
expect_eq "pull --referrers --json: .images[0].referrers is 2" "2" "$(jq '.images[0].referrers' "$OUT" 2>&1)"
expect_eq "--referrers: the tar holds the image's blobs and the referrers', once each" \
	"$(sort -u <<<"$OCI_BLOBS"$'\n'"$REFERRER_BLOBS")" "$(tar_blobs "$PULL/signed.tar")"
expect_eq "--referrers: every blob hashes to its name" "" "$(bad_blobs "$PULL/signed.tar")"
expect_eq "--referrers: manifest.json lists the image alone" "[[\"$SIGNED:1\"]]" \
	"$(tar_json "$PULL/signed.tar" manifest.json | jq -c '[.[].RepoTags]' 2>&1)"
expect_eq "--referrers: index.json lists them without a name, each with the image as subject" \
	"$(sed "s/\$/ $SIGNED_DIGEST/" <<<"$REFERRERS")" \
	"$(tar_json "$PULL/signed.tar" index.json | jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == null)
		| .digest + " " + .annotations["io.github.haul-dev.referrer.subject"]' 2>&1 | sort)"
pull "$SIGNED:1" -o "$PULL/unsigned.tar"
expect_eq "without --referrers: index.json lists the image alone" "$SIGNED_DIGEST" \
	"$(tar_json "$PULL/unsigned.tar" index.json | jq -r '.manifests[].digest' 2>&1)"
pull --referrers --format oci "$SIGNED:1" -o "$PULL/signed-layout"
expect_success "pull --referrers --format oci exits 0"
if ((HAVE_SKOPEO)); then
	run skopeo inspect --config "docker-archive:$PULL/signed.tar"
	expect_eq "--referrers: skopeo docker-archive: reads the image's config" \
		"$(crane_q config "$SIGNED:1" | jq -c .rootfs.diff_ids)" "$(jq -c .rootfs.diff_ids "$OUT" 2>&1)"
	run skopeo inspect "oci-archive:$PULL/signed.tar:$SIGNED:1"
	expect_eq "--referrers: skopeo oci-archive:FILE:NAME gives the image's digest" "$SIGNED_DIGEST" "$(jq -r .Digest "$OUT" 2>&1)"
	run skopeo inspect "oci:$PULL/signed-layout:$SIGNED:1"
	expect_eq "--referrers: skopeo oci:DIR:NAME gives the image's digest" "$SIGNED_DIGEST" "$(jq -r .Digest "$OUT" 2>&1)"
else
	skip "--referrers: skopeo checks (skopeo is not installed)"
fi
if ((HAVE_UMOCI)); then
	run umoci ls --layout "$PULL/signed-layout"
	expect_eq "--referrers: umoci ls lists the image's name alone" "$SIGNED:1" "$(out)"
	run umoci unpack --rootless --image "$PULL/signed-layout:$SIGNED:1" "$PULL/signed-bundle"
	expect_success "--referrers: umoci unpack of the image exits 0"
else
	skip "--referrers: umoci checks (umoci is not installed)"
fi
if ((HAVE_PODMAN)) && [[ -n ${POD[*]:-} ]]; then
	PODR=("${POD[@]/"$WORK/pod/"/"$WORK/pod/referrers-"}") # a store of its own
	run "${PODR[@]}" load -i "$PULL/signed.tar"
	if ((RC != 0)) && ! podman_can_load; then
		skip "--referrers: podman load (podman cannot load even skopeo's docker-archive here: $(grep -m1 . "$ERR"))"
	else
		((RC == 0)) || run "${PODR[@]}" load -i "$PULL/signed.tar"
		expect_success "--referrers: podman load of the bundle exits 0"
		run "${PODR[@]}" images --no-trunc --format '{{.Repository}}:{{.Tag}} {{.ID}}'
		expect_eq "--referrers: podman images lists the image alone, its ID the config digest" \
			"$SIGNED:1 $(crane_q manifest "$SIGNED:1" | jq -r .config.digest)" "$(out)"
	fi
else
	skip "--referrers: podman load (podman is not installed or cannot run)"
fi

# ---------------------------------------------------------------- 25. root filesystems
# test/e2e-rootfs.sh, with this haul, registry A and crane: its checks count here.
note "test/e2e-rootfs.sh"
HAUL_E2E_HAUL=$HAUL HAUL_E2E_REGISTRY=$A HAUL_E2E_CRANE=$CRANE "$ROOT/test/e2e-rootfs.sh" 2>&1 |
	tee "$WORK/rootfs.log" | sed -e 's/^\([0-9]* passed, [0-9]* failed\)$/# rootfs: \1/' || true
read -r rp rf < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$WORK/rootfs.log" | tail -n1) || true
if [[ -n ${rp:-} ]]; then
	PASSED=$((PASSED + rp)) FAILED=$((FAILED + rf))
else
	LAST="test/e2e-rootfs.sh" RC=none OUT=/dev/null ERR=$WORK/rootfs.log
	not_ok "test/e2e-rootfs.sh ran to its end" "it stopped before its summary line"
	OUT=$WORK/stdout ERR=$WORK/stderr
fi

# ---------------------------------------------------------------- 26. mirrors
# test/e2e-mirror.sh, with this haul: a pull-through cache (docker-registry in
# proxy mode) in front of an upstream with token auth; its checks count here.
note "test/e2e-mirror.sh"
HAUL_E2E_HAUL=$HAUL "$ROOT/test/e2e-mirror.sh" 2>&1 |
	tee "$WORK/mirror.log" | sed -e 's/^\([0-9]* passed, [0-9]* failed\)$/# mirror: \1/' || true
read -r mp mf < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$WORK/mirror.log" | tail -n1) || true
if [[ -n ${mp:-} ]]; then
	PASSED=$((PASSED + mp)) FAILED=$((FAILED + mf))
else
	LAST="test/e2e-mirror.sh" RC=none OUT=/dev/null ERR=$WORK/mirror.log
	not_ok "test/e2e-mirror.sh ran to its end" "it stopped before its summary line"
	OUT=$WORK/stdout ERR=$WORK/stderr
fi

# ---------------------------------------------------------------- 27. TLS and mutual TLS
# test/e2e-tls.sh, with this haul: docker-registry behind TLS with a CA the
# script makes, one that requires client certificates, and two whose
# certificates are expired or for another name; certs.d, --ca-file
# and config.toml's ca-file; its checks count here.
note "test/e2e-tls.sh"
HAUL_E2E_HAUL=$HAUL HAUL_E2E_CRANE=$CRANE "$ROOT/test/e2e-tls.sh" 2>&1 |
	tee "$WORK/tls.log" | sed -e 's/^\([0-9]* passed, [0-9]* failed\)$/# tls: \1/' || true
read -r tp tf < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$WORK/tls.log" | tail -n1) || true
if [[ -n ${tp:-} ]]; then
	PASSED=$((PASSED + tp)) FAILED=$((FAILED + tf))
else
	LAST="test/e2e-tls.sh" RC=none OUT=/dev/null ERR=$WORK/tls.log
	not_ok "test/e2e-tls.sh ran to its end" "it stopped before its summary line"
	OUT=$WORK/stdout ERR=$WORK/stderr
fi

# ---------------------------------------------------------------- 28. copy
# haul copy from registry A into B (htpasswd, credentials from
# --dest-authfile): an index and an image keep every digest, byte for byte,
# as crane and skopeo read them at B; a second copy is up to date; a copy
# within A mounts every blob.
note "copy"
COPY_AUTH=$WORK/copy-auth.json
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$B" "$(printf '%s:%s' "$USER_B" "$PASS_B" | base64 -w0)" >"$COPY_AUTH"
run "$HAUL" copy --dest-authfile "$COPY_AUTH" "$MULTI:index" "$B/e2e/copied-multi"
expect_success "copy of an index from A to B"
expect_in "copy's summary names the index's digest" "$ERR" "($INDEX_DIGEST)"
expect_eq "copy: crane digest at B equals the source index's" "$INDEX_DIGEST" "$(crane_q digest "$B/e2e/copied-multi:index")"
expect_eq "copy: crane digest --platform linux/arm64 at B equals the source's" "$ARM_DIGEST" \
	"$(crane_q digest --platform linux/arm64 "$B/e2e/copied-multi:index")"
run "$HAUL" copy --json --dest-authfile "$COPY_AUTH" "$APP:1" "$B/e2e/copied-app:v1"
expect_success "copy of an image from A to B, to another tag"
expect_eq "copy --json .copies[0].digest is the source's" "$APP_DIGEST" "$(jq -r '.copies[0].digest' "$OUT" 2>&1)"
expect_eq "copy --json .copies[0].pushed.blobs: config and 2 layers" 3 "$(jq -r '.copies[0].pushed.blobs' "$OUT" 2>&1)"
expect_eq "copy: crane digest at B equals the source image's" "$APP_DIGEST" "$(crane_q digest "$B/e2e/copied-app:v1")"
if ((HAVE_SKOPEO)); then
	for pair in "$MULTI:index $B/e2e/copied-multi:index" "$APP:1 $B/e2e/copied-app:v1"; do
		read -r from to <<<"$pair"
		run skopeo inspect --raw --tls-verify=false "docker://$from"
		cp "$OUT" "$WORK/copy-src.raw"
		run skopeo inspect --raw --tls-verify=false --creds "$USER_B:$PASS_B" "docker://$to"
		if cmp -s "$WORK/copy-src.raw" "$OUT"; then
			ok "copy: skopeo inspect --raw of ${to#"$B/"} at B is the source's bytes"
		else
			not_ok "copy: skopeo inspect --raw of ${to#"$B/"} at B is the source's bytes" "they differ"
		fi
	done
else
	skip "copy: skopeo inspect --raw at B (skopeo is not installed)"
fi
run "$HAUL" copy --json --dest-authfile "$COPY_AUTH" "$APP:1" "$B/e2e/copied-app:v1"
expect_eq "a second copy is up to date" true "$(jq -r '.copies[0].upToDate' "$OUT" 2>&1)"

# expect_referrers_at WHAT REPO: REPO at B holds the SBOM and the signature
# of $SIGNED:1 as A does: the SBOM listed in the index under the image's
# fallback tag (B, distribution 2.8, has no referrers API), the signature
# under the .sig tag, each with A's digest.
expect_referrers_at() {
	local tag=sha256-${SIGNED_DIGEST#sha256:}
	expect_eq "$1: the fallback index at B lists A's SBOM" "$(crane_q manifest "$SIGNED:$tag" | jq -r '.manifests[].digest')" \
		"$(crane_q manifest "$B/$2:$tag" | jq -r '.manifests[].digest' 2>&1)"
	expect_eq "$1: the .sig tag at B is A's signature" "$(crane_q digest "$SIGNED:$tag.sig")" "$(crane_q digest "$B/$2:$tag.sig" 2>&1)"
}
run "$HAUL" copy --dest-authfile "$COPY_AUTH" "$SIGNED:1" "$B/e2e/copied-signed"
expect_success "copy of a signed image from A to B"
expect_in "copy: the referrers go with the image" "$ERR" "2 referrers"
expect_in "copy: haul says the fallback index is new" "$ERR" "is a new index of referrers"
expect_referrers_at "copy" e2e/copied-signed
run "$HAUL" copy --json --no-referrers --dest-authfile "$COPY_AUTH" "$SIGNED:1" "$B/e2e/copied-unsigned"
expect_eq "copy --no-referrers puts none" 0 "$(jq -r '.copies[0].referrers' "$OUT" 2>&1)"
expect_eq "copy --no-referrers: no .sig tag at B" "" \
	"$(crane_q ls "$B/e2e/copied-unsigned" 2>/dev/null | grep -F .sig)"
run "$HAUL" copy --json "$APP:1" "$A/e2e/copied-app"
expect_success "copy within registry A"
expect_eq "a copy within one registry mounts every blob" "0 3" "$(jq -r '.copies[0] | "\(.pushed.blobs) \(.mounted.blobs)"' "$OUT" 2>&1)"
expect_eq "copy within A: crane digest of the tag kept" "$APP_DIGEST" "$(crane_q digest "$A/e2e/copied-app:1")"

# ---------------------------------------------------------------- 28b. sync with several platforms
# haul sync of an entry listing two of an index's three platforms into B:
# --dry-run says that only 2 of 3 images go; Debian's docker-registry
# (distribution 2.8) requires every image an index lists, so the entry fails
# and haul says that and what to do, after the two images went by digest.
note "sync"
crane_q mutate --set-platform linux/s390x -t "$MULTI:s390x" "$APP:1" >/dev/null
crane_q index append -m "$MULTI:amd64" -m "$MULTI:arm64" -m "$MULTI:s390x" -t "$MULTI:three" >/dev/null
THREE_DIGEST=$(crane_q digest "$MULTI:three")
printf 'images:\n  - ref: %s\n    platforms: [linux/amd64, linux/arm64]\n' "$MULTI:three" >"$WORK/sync.yaml"
run "$HAUL" sync --dry-run --dest-authfile "$COPY_AUTH" "$WORK/sync.yaml" "$B/e2e/sync"
expect_success "sync --dry-run of two platforms of a three-platform index"
expect_in "sync --dry-run says that only 2 of the index's 3 images go" "$ERR" "only 2 of the index's 3 images (linux/amd64, linux/arm64) go"
run "$HAUL" sync --dest-authfile "$COPY_AUTH" "$WORK/sync.yaml" "$B/e2e/sync"
expect_rc "sync of two platforms into distribution 2.8 fails" 1
expect_in "sync says distribution 2.8 requires every image of the index, and which it refused" "$ERR" \
	"$B requires every image an index lists, and refused index $THREE_DIGEST"
expect_in "sync says which images went by digest" "$ERR" "linux/amd64 $AMD_DIGEST, linux/arm64 $ARM_DIGEST"
expect_in "sync says what to do" "$ERR" "list one platform"
expect_eq "sync: the arm64 image is at B by digest" "$ARM_DIGEST" "$(crane_q digest "$B/e2e/sync/e2e/multi@$ARM_DIGEST")"

# ---------------------------------------------------------------- 29. an interrupted copy
# A copy killed (SIGKILL) mid-upload of a 256 MiB layer, then run again: into
# Debian's docker-registry (distribution 2.8, which keeps nothing of a cut
# request) the blob starts again from byte 0, once, and haul says so; into
# distribution 3 (tools/devregistry on disk) only the rest is sent.
note "interrupted copy"
head -c $((256 << 20)) /dev/urandom >"$WORK/big.bin"
tar -C "$WORK" -cf "$WORK/big.tar" big.bin
rm -f "$WORK/big.bin"
crane_q append -f "$WORK/big.tar" -t "$A/e2e/big:1" >/dev/null
BIG_DIGEST=$(crane_q digest "$A/e2e/big:1")
(cd "$ROOT" && go build -o "$BUILD/devregistry" ./tools/devregistry) || die "go build ./tools/devregistry failed"
mkdir -p "$WORK/d3"
"$BUILD/devregistry" -addr 127.0.0.1:0 -token=false -seed=false -dir "$WORK/d3" >"$WORK/d3.log" 2>&1 &
REG_PIDS+=("$!")
for _ in $(seq 100); do grep -q '^ready' "$WORK/d3.log" && break; sleep 0.1; done
D3=$(sed -n 's|^ready https\?://||p' "$WORK/d3.log")
[[ -n $D3 ]] || die "tools/devregistry did not start: $(cat "$WORK/d3.log")"

# copy_killed DST STORAGE: starts a copy of e2e/big:1 to DST and kills it
# (SIGKILL) once the registry holds 64 MiB of the upload under STORAGE.
copy_killed() {
	local dst=$1 storage=$2 pid held=0
	env HOME="$HHOME" DOCKER_CONFIG="$DC" XDG_CACHE_HOME="$WORK/copy-cache" "$HAUL" copy -q -j 1 --dest-authfile "$COPY_AUTH" \
		"$A/e2e/big:1" "$dst" >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 600); do
		held=$(find "$storage" -path '*/_uploads/*' -name data -printf '%s\n' 2>/dev/null | sort -n | tail -n1)
		((${held:-0} >= 64 << 20)) && break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	echo "${held:-0}"
}
for target in "2.8 $B/e2e/big:1 $WORK/b/data" "3 $D3/e2e/big:1 $WORK/d3"; do
	read -r version dst storage <<<"$target"
	held=$(copy_killed "$dst" "$storage")
	if ((held < 64 << 20)); then
		not_ok "copy into distribution $version killed mid-upload" "the registry held $held bytes when the copy was killed"
		continue
	fi
	json=(--json)
	[[ $version == 2.8 ]] && json=() # its notice is for a person, not in --json
	run env XDG_CACHE_HOME="$WORK/copy-cache" "$HAUL" "${json[@]}" copy -j 1 --dest-authfile "$COPY_AUTH" "$A/e2e/big:1" "$dst"
	expect_success "copy into distribution $version, killed mid-upload, run again"
	if [[ $version == 2.8 ]]; then
		expect_in "distribution 2.8 refused the saved session: haul says the blob starts again" "$ERR" "sending it again from byte 0"
		expect_in "the copy into distribution 2.8 keeps the digest" "$ERR" "($BIG_DIGEST)"
	else
		expect_eq "the copy into distribution $version keeps the digest" "$BIG_DIGEST" "$(jq -r '.copies[0].digest' "$OUT" 2>&1)"
		sent=$(jq -r '.copies[0].sent' "$OUT" 2>&1)
		resumed=$(jq -r '.copies[0].resumed' "$OUT" 2>&1)
		if ((resumed >= 64 << 20 && sent <= (256 << 20) + (1 << 20) - resumed)); then
			ok "distribution 3 resumed the upload: $resumed bytes held, $sent sent"
		else
			not_ok "distribution 3 resumed the upload" "held $resumed, sent $sent"
		fi
	fi
done

# ---------------------------------------------------------------- 30. push
# haul push of a bundle haul pulled from A into B under a prefix: each image
# at the path a mirror of A uses, with A's digests as crane and skopeo read
# them at B; and an archive written by skopeo's docker-archive: (no
# manifest): haul builds one, and the image pulled back from B has A's
# config digest and diff_ids.
note "push"
run "$HAUL" pull -q "$APP:1" "$MULTI:index" -o "$WORK/push-bundle.tar"
expect_success "push: pull a bundle of two images from A"
run "$HAUL" push --dest-authfile "$COPY_AUTH" "$WORK/push-bundle.tar" "$B/e2e/pushed"
expect_success "push of the bundle into B under e2e/pushed"
expect_in "push's summary names where the image went" "$ERR" "to $B/e2e/pushed/e2e/app:1 ($APP_DIGEST)"
expect_eq "push: crane digest at B equals A's" "$APP_DIGEST" "$(crane_q digest "$B/e2e/pushed/e2e/app:1")"
expect_eq "push: the index's image for this machine at B is A's" \
	"$(crane_q digest --platform "linux/$(go env GOARCH)" "$MULTI:index")" "$(crane_q digest "$B/e2e/pushed/e2e/multi:index")"
run "$HAUL" push --json --dest-authfile "$COPY_AUTH" "$WORK/push-bundle.tar" "$B/e2e/pushed"
expect_eq "a second push is up to date" "true true" "$(jq -r '[.pushes[].upToDate] | join(" ")' "$OUT" 2>&1)"
run "$HAUL" push --json --dest-authfile "$COPY_AUTH" "$PULL/signed.tar" "$B/e2e/pushed"
expect_eq "push of a bundle pulled with --referrers: its 2 referrers go with the image" 2 "$(jq -r '.pushes[0].referrers' "$OUT" 2>&1)"
expect_referrers_at "push" e2e/pushed/e2e/signed
if ((HAVE_SKOPEO)); then
	run skopeo inspect --raw --tls-verify=false --creds "$USER_B:$PASS_B" "docker://$B/e2e/pushed/e2e/app:1"
	expect_eq "push: skopeo inspect --raw at B is A's manifest" "$APP_DIGEST" "$(sha "$OUT")"
	run skopeo copy -q --src-tls-verify=false "docker://$APP:1" "docker-archive:$WORK/push-skopeo.tar:e2e/skopeo:1"
	expect_success "skopeo copy docker://… docker-archive:"
	run "$HAUL" push --json --dest-authfile "$COPY_AUTH" "$WORK/push-skopeo.tar" "$B"
	expect_success "push of skopeo's docker-archive into B"
	expect_eq "push --json says the manifest was built, to B/e2e/skopeo:1" "true $B/e2e/skopeo:1" \
		"$(jq -r '.pushes[0] | "\(.built) \(.destination)"' "$OUT" 2>&1)"
	expect_eq "push of docker-archive: the config digest at B is A's" "$CONFIG_DIGEST" \
		"$(crane_q manifest "$B/e2e/skopeo:1" | jq -r .config.digest)"
	expect_eq "push of docker-archive: the diff_ids at B are A's" "$(crane_q config "$APP:1" | jq -c .rootfs.diff_ids)" \
		"$(crane_q config "$B/e2e/skopeo:1" | jq -c .rootfs.diff_ids)"
	run "$HAUL" push --json --compress --dest-authfile "$COPY_AUTH" "$WORK/push-skopeo.tar" "$B/gz"
	expect_success "push --compress of skopeo's docker-archive into B"
	GZ1=$(jq -r '.pushes[0].digest' "$OUT" 2>&1)
	run "$HAUL" push --json --compress --dest-authfile "$COPY_AUTH" "$WORK/push-skopeo.tar" "$B/gz2"
	expect_eq "push --compress builds the same manifest twice" "$GZ1" "$(jq -r '.pushes[0].digest' "$OUT" 2>&1)"
	expect_eq "push --compress: gzip layers" "application/vnd.docker.image.rootfs.diff.tar.gzip" \
		"$(crane_q manifest "$B/gz/e2e/skopeo:1" | jq -r '[.layers[].mediaType] | unique | join(" ")')"
	GZ_LAYER=$(crane_q manifest "$B/gz/e2e/skopeo:1" | jq -r '.layers[0].digest')
	expect_eq "push --compress: the first layer ungzipped is A's first diff_id" \
		"$(crane_q config "$APP:1" | jq -r '.rootfs.diff_ids[0]')" \
		"sha256:$(crane_q blob "$B/gz/e2e/skopeo@$GZ_LAYER" | gzip -dc | sha256sum | cut -d' ' -f1)"
else
	skip "push: skopeo's docker-archive (skopeo is not installed)"
fi

# ---------------------------------------------------------------- summary
note "took $((SECONDS - START))s"
echo "$PASSED passed, $FAILED failed"
((FAILED == 0)) || exit 1
