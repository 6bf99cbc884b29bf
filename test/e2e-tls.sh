#!/usr/bin/env bash
# End-to-end test of haul against registries behind TLS and mutual TLS:
# Debian's docker-registry (distribution 2.8) with a certificate that
# tools/mkcerts signs with a throwaway CA, and a second one on another
# port that requires client certificates (http.tls.clientcas), and two more
# with certificates no client should accept (expired; for another name). All
# serve the storage a plain-HTTP registry was pushed to.
#
# Checks: without the CA haul fails with the unknown-authority message that
# names the host and the certs.d path, and writes nothing; with
# $XDG_CONFIG_HOME/haul/certs.d/HOST:PORT/ca.crt it pulls, and the digest is
# the one curl --cacert and crane (SSL_CERT_FILE) read; --ca-file and
# config.toml's ca-file do as well; an expired certificate and one for
# another name fail with messages that say so, with the dates and the names; the mTLS registry refuses a pull without a client pair with the
# client-certificate message, serves one with client.cert/client.key in
# certs.d, and refuses a pair signed by a CA it does not trust.
#
# test/e2e.sh runs it with its own haul (HAUL_E2E_HAUL) and crane
# (HAUL_E2E_CRANE); alone it builds haul and uses
# ~/.cache/haul-e2e/bin/crane if it is there (the crane check is skipped
# without one). Needs go, docker-registry, curl, jq, tar, sha256sum, openssl. Prints
# `ok - ...` / `not ok - ...` per check and ends with `N passed, M failed`;
# exits 1 when a check failed. HAUL_E2E_KEEP=1 keeps the work directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
START=$SECONDS

die() { echo "e2e-tls: error: $*" >&2; exit 1; }
note() { echo "# $*"; }
for c in go docker-registry curl jq tar sha256sum openssl; do
	command -v "$c" >/dev/null 2>&1 || die "'$c' is not installed"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/haul-e2e-tls.XXXXXX")
# shellcheck source=checks.sh
. "$ROOT/test/checks.sh"
# shellcheck source=../scripts/registry.sh
. "$ROOT/scripts/registry.sh"
REG_PID= PLAIN_PID= TLS_PID= MTLS_PID= EXP_PID= WRONG_PID=
CRANE=${HAUL_E2E_CRANE:-$HOME/.cache/haul-e2e/bin/crane}
cleanup() {
	local rc=$?
	stop_pid "$PLAIN_PID"; stop_pid "$TLS_PID"; stop_pid "$MTLS_PID"; stop_pid "$EXP_PID"; stop_pid "$WRONG_PID"
	remove_work
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- tools, certificates, registries
mkdir -p "$WORK/bin"
haul_binary "$WORK/bin"
(cd "$ROOT" && go build -o "$WORK/bin/" ./tools/mkcerts ./tools/rootfsimage) ||
	die "building tools/mkcerts and rootfsimage failed"
CERTS=$WORK/certs
"$WORK/bin/mkcerts" -dir "$CERTS" -names 127.0.0.1,localhost || die "mkcerts failed"

start_registry "$WORK/plain" 0 || die "could not start the plain docker-registry"
PLAIN=$REG PLAIN_PID=$REG_PID REG_PID=
"$WORK/bin/rootfsimage" -registry "$PLAIN" -repo tls -only layers3 >"$WORK/pushed.txt" 2>"$WORK/rootfsimage.log" ||
	die "pushing to the plain registry failed: $(cat "$WORK/rootfsimage.log")"
NAME=$(awk 'NR == 1 { print $1 }' "$WORK/pushed.txt")
note "pushed $PLAIN/$NAME"

tls_yaml="  tls:
    certificate: $CERTS/server.crt
    key: $CERTS/server.key"
for which in tls mtls expired wrongname; do
	mkdir -p "$WORK/$which"
	ln -s "$WORK/plain/data" "$WORK/$which/data"
done
# start_registry writes http: last; TLS settings go under it, indented.
start_registry "$WORK/tls" 1 "$tls_yaml" "--cacert $CERTS/ca.crt" || die "could not start the TLS docker-registry"
TLS=$REG TLS_PID=$REG_PID REG_PID=
start_registry "$WORK/mtls" 1 "$tls_yaml
    clientcas:
      - $CERTS/ca.crt" "--cacert $CERTS/ca.crt --cert $CERTS/client.cert --key $CERTS/client.key" ||
	die "could not start the mutual-TLS docker-registry"
MTLS=$REG MTLS_PID=$REG_PID REG_PID=
# curl -k: these certificates are the ones nothing should accept.
start_registry "$WORK/expired" 0 "  tls:
    certificate: $CERTS/expired.crt
    key: $CERTS/expired.key" "-k" || die "could not start the docker-registry with an expired certificate"
EXP=$REG EXP_PID=$REG_PID REG_PID=
start_registry "$WORK/wrongname" 0 "  tls:
    certificate: $CERTS/wrongname.crt
    key: $CERTS/wrongname.key" "-k" || die "could not start the docker-registry with a certificate for other.example"
WRONG=$REG WRONG_PID=$REG_PID REG_PID=
note "docker-registry over TLS on $TLS, requiring client certificates on $MTLS, with an expired certificate on $EXP, with one for other.example on $WRONG, serving the storage of $PLAIN"

# ---------------------------------------------------------------- checks
PASSED=0 FAILED=0 RC=0 LAST=""
OUT=$WORK/stdout ERR=$WORK/stderr
HHOME=$WORK/home XDG=$WORK/home/.config
mkdir -p "$XDG"

# hl ARGS...: runs haul in a home of its own.
hl() {
	LAST="haul $(printf '%q ' "$@")"
	LAST=${LAST//"$WORK/"/}
	RC=0
	env -u HAUL_USERNAME -u HAUL_PASSWORD -u REGISTRY_AUTH_FILE -u SSL_CERT_FILE -u SSL_CERT_DIR \
		HOME="$HHOME" DOCKER_CONFIG="$HHOME/.docker" XDG_CACHE_HOME="$HHOME/.cache" XDG_CONFIG_HOME="$XDG" \
		"$HAUL" "$@" >"$OUT" 2>"$ERR" || RC=$?
}
# curl_digest HOST CURL_ARGS...: the manifest's digest as curl reads it over TLS.
curl_digest() {
	local host=$1
	shift
	curl -sS "$@" -H "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" \
		"https://$host/v2/${NAME%:*}/manifests/${NAME#*:}" | sha256sum | sed 's/^/sha256:/; s/ .*//'
}
# pulled_digest TAR: the manifest digest haul's summary gave for the pull.
pulled_digest() { grep -o 'sha256:[0-9a-f]\{64\}' "$ERR" | head -n1; }

CERTSD=$XDG/haul/certs.d
hl pull -o "$WORK/none.tar" "$TLS/$NAME"
expect_rc "pull from a TLS registry whose CA haul does not know fails" 1
expect_in "the error names the host and what failed" "$ERR" "TLS with $TLS: certificate signed by unknown authority (issuer CN=haul e2e CA"
expect_in "the error says where the CA file goes" "$ERR" "put the registry's CA certificate in $CERTSD/$TLS/ca.crt (or /etc/docker/certs.d/$TLS/ca.crt"
if [[ ! -e $WORK/none.tar ]]; then ok "nothing was written"; else not_ok "nothing was written"; fi
sed -n 's/^/# haul: /p' "$ERR"

WANT=$(curl_digest "$TLS" --cacert "$CERTS/ca.crt")
mkdir -p "$CERTSD/$TLS"
cp "$CERTS/ca.crt" "$CERTSD/$TLS/ca.crt"
hl pull -o "$WORK/tls.tar" "$TLS/$NAME"
expect_success "with certs.d/$TLS/ca.crt the pull succeeds"
expect_eq "the pulled manifest is the one curl --cacert reads" "$WANT" "$(pulled_digest)"
expect_in "the archive is a docker archive" <(tar -xOf "$WORK/tls.tar" manifest.json) '"RepoTags"'
rm -rf "$CERTSD/$TLS"

hl --ca-file "$CERTS/ca.crt" digest "$TLS/$NAME"
expect_success "--ca-file trusts the CA too"
expect_eq "digest --ca-file is curl's" "$WANT" "$(cat "$OUT")"
mkdir -p "$XDG/haul"
printf '[registries."%s"]\nca-file = "%s"\n' "$TLS" "$CERTS/ca.crt" >"$XDG/haul/config.toml"
hl digest "$TLS/$NAME"
expect_success "config.toml's ca-file for the registry trusts the CA too"
expect_eq "digest with config.toml's ca-file is curl's" "$WANT" "$(cat "$OUT")"
rm "$XDG/haul/config.toml"
if [[ -x $CRANE ]]; then
	expect_eq "crane, trusting the CA by SSL_CERT_FILE, reads the digest haul pulled" "$WANT" \
		"$(SSL_CERT_FILE=$CERTS/ca.crt DOCKER_CONFIG=$WORK/crane-docker "$CRANE" digest "$TLS/$NAME" 2>"$WORK/crane.err" || cat "$WORK/crane.err")"
else
	note "skipped the crane check: no crane at $CRANE"
fi

hl --ca-file "$CERTS/ca.crt" digest "$EXP/$NAME"
expect_rc "a registry whose certificate expired is refused" 1
expect_in "the error says when it expired, and when it is now" "$ERR" \
	"TLS with $EXP: the certificate of CN=127.0.0.1 expired on $(openssl x509 -in "$CERTS/expired.crt" -noout -enddate -dateopt iso_8601 | sed 's/^notAfter=//; s/Z$//') (now "
sed -n 's/^/# haul: /p' "$ERR"
hl --ca-file "$CERTS/ca.crt" digest "$WRONG/$NAME"
expect_rc "a registry whose certificate is for another name is refused" 1
expect_in "the error lists the names the certificate holds" "$ERR" "TLS with $WRONG: the certificate is valid for other.example, not 127.0.0.1"

mkdir -p "$CERTSD/$MTLS"
cp "$CERTS/ca.crt" "$CERTSD/$MTLS/ca.crt"
hl pull -o "$WORK/m-none.tar" "$MTLS/$NAME"
expect_rc "pull from the mTLS registry without a client pair fails" 1
expect_in "the error says the registry asks for a client certificate" "$ERR" "TLS with $MTLS: the registry asks for a client certificate ("
expect_in "the error says where the pair goes" "$ERR" "put NAME.cert and NAME.key in $CERTSD/$MTLS/"
sed -n 's/^/# haul: /p' "$ERR"
cp "$CERTS/stranger.cert" "$CERTSD/$MTLS/client.cert"
cp "$CERTS/stranger.key" "$CERTSD/$MTLS/client.key"
hl pull -o "$WORK/m-stranger.tar" "$MTLS/$NAME"
expect_rc "a client pair signed by a CA the registry does not trust is refused" 1
expect_in "the error says the registry refused the client certificate" "$ERR" "TLS with $MTLS: the registry refused haul's client certificate ("
cp "$CERTS/client.cert" "$CERTSD/$MTLS/client.cert"
cp "$CERTS/client.key" "$CERTSD/$MTLS/client.key"
WANT_M=$(curl_digest "$MTLS" --cacert "$CERTS/ca.crt" --cert "$CERTS/client.cert" --key "$CERTS/client.key")
hl pull -o "$WORK/mtls.tar" "$MTLS/$NAME"
expect_success "with client.cert and client.key in certs.d/$MTLS the pull succeeds"
expect_eq "the pulled manifest is the one curl --cert reads" "$WANT_M" "$(pulled_digest)"
expect_eq "both registries serve the same image" "$WANT" "$WANT_M"
rm -f "$CERTSD/$MTLS/client.key"
hl digest "$MTLS/$NAME"
expect_rc "a client certificate without its key is an error" 1
expect_in "the error names both files" "$ERR" "client certificate $CERTSD/$MTLS/client.cert has no key $CERTSD/$MTLS/client.key"

# ---------------------------------------------------------------- summary
note "took $((SECONDS - START))s"
echo "$PASSED passed, $FAILED failed"
((FAILED == 0)) || exit 1
