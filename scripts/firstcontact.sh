#!/usr/bin/env bash
# firstcontact.sh HAUL: the first things a new user trips on (issue 20), each
# command as typed and what HAUL prints, with its exit code and wall time.
# Starts its own registries on 127.0.0.1 (tools/devregistry with token auth,
# a stalling one and a web server that is no registry, both in python3);
# needs python3 and script(1). Run it with two binaries to compare them.
set -uo pipefail
HAUL=$(realpath "${1:?usage: firstcontact.sh HAUL}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
export HOME=$WORK/home DOCKER_CONFIG=$WORK/home/.docker XDG_CACHE_HOME=$WORK/cache XDG_CONFIG_HOME=$WORK/config
mkdir -p "$HOME" && cd "$WORK" || exit 1

(cd "$ROOT" && go build -o "$WORK/devregistry" ./tools/devregistry) || exit 1
"$WORK/devregistry" -addr 127.0.0.1:0 >"$WORK/dev.log" 2>&1 &
for _ in $(seq 100); do grep -q '^ready' "$WORK/dev.log" && break; sleep 0.1; done
REG=$(sed -n 's|^ready https\?://||p' "$WORK/dev.log")

# A registry that sends one KiB of its blob and then nothing.
cat >"$WORK/stall.py" <<'PY'
import hashlib, http.server, json, sys, time
blob = bytes(range(256)) * 4096  # 1 MiB
cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
def d(b): return "sha256:" + hashlib.sha256(b).hexdigest()
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d(cfg), "size": len(cfg)},
  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d(blob), "size": len(blob)}]}).encode()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def send(self, body, ctype, stall=False):
        self.send_response(200); self.send_header("Content-Type", ctype); self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Content-Digest", d(body)); self.end_headers()
        if self.command == "HEAD": return
        if stall:
            self.wfile.write(body[:1024]); self.wfile.flush(); time.sleep(3600)
        self.wfile.write(body)
    do_HEAD = lambda self: self.do_GET()
    def do_GET(self):
        p = self.path
        if p == "/v2/": return self.send(b"{}", "application/json")
        if "/manifests/" in p: return self.send(man, "application/vnd.oci.image.manifest.v1+json")
        if p.endswith(d(cfg)): return self.send(cfg, "application/octet-stream")
        if p.endswith(d(blob)): return self.send(blob, "application/octet-stream", stall=True)
        self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers()
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H); print(s.server_address[1], flush=True); s.serve_forever()
PY
python3 "$WORK/stall.py" >"$WORK/stall.port" &
mkdir -p "$WORK/www" && echo '<html>hello</html>' >"$WORK/www/index.html"
(cd "$WORK/www" && exec python3 -m http.server --bind 127.0.0.1 0 >"$WORK/web.log" 2>&1) &
for _ in $(seq 50); do [[ -s $WORK/stall.port ]] && grep -q "port" "$WORK/web.log" && break; sleep 0.1; done
STALL=127.0.0.1:$(cat "$WORK/stall.port")
WEB=127.0.0.1:$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$WORK/web.log" | head -1)
DEAD=127.0.0.1:5099

# show CMD...: prints the command, then what it printed, its exit code and wall time.
show() {
	echo "\$ ${*//$HAUL/haul}"
	local t0=$EPOCHREALTIME rc
	timeout 300 "$@" 2>&1 | sed 's/^/  /' | head -12
	rc=${PIPESTATUS[0]}
	printf '  [exit %s, %.1f s]\n\n' "$rc" "$(bc <<<"$EPOCHREALTIME - $t0")"
}
# at_terminal INPUT CMD...: CMD with a pseudo-terminal for stdin (script(1)), INPUT typed into it.
at_terminal() {
	local input=$1; shift
	echo "\$ ${*//$HAUL/haul}    # at a terminal, typing: ${input//$'\n'/⏎}"
	local t0=$EPOCHREALTIME
	(sleep 1; while IFS= read -r line; do printf '%s\n' "$line"; sleep 0.5; done <<<"${input%$'\n'}") | timeout 20 script -qec "$(printf '%q ' "$@")" /dev/null 2>&1 | tr -d '\r' | sed 's/^/  /' | head -8
	printf '  [exit %s, %.1f s]\n\n' "${PIPESTATUS[1]}" "$(bc <<<"$EPOCHREALTIME - $t0")"
}

echo "# haul $("$HAUL" --version 2>&1 | awk '{print $NF}')"
echo
echo "## Nothing listens, no such name"
show "$HAUL" pull "$DEAD/x:1"
show "$HAUL" digest "$DEAD/x:1"
show "$HAUL" digest nosuch.invalid/x:1
echo "## A registry that sends one KiB of a blob and stops (--idle-timeout 2s)"
show "$HAUL" pull --idle-timeout 2s -o "$WORK/stall.tar" "$STALL/x:1"
echo "## Login"
at_terminal $'alice-s3cret-password\n' "$HAUL" login "$REG" -u alice
show "$HAUL" logout "$REG"
at_terminal $'alice\nalice-s3cret-password\n' "$HAUL" login "$REG"
show "$HAUL" login "$REG" </dev/null
echo "## Hints"
show "$HAUL" digest "$REG/demo/nothere:1"
show "$HAUL" tags "$REG/demo/nothere"
show "$HAUL" digest "$REG/demo/hello:1.1"
show "$HAUL" digest "$WEB/x:1"
source "$ROOT/scripts/registry.sh"
DEV=$REG
if start_registry "$WORK/r2" >/dev/null 2>&1; then
	echo "## Debian's docker-registry (registry:2)"
	show "$HAUL" digest "$REG/nothere/app:1"
	show "$HAUL" pull -o "$WORK/r2.tar" "$REG/nothere/app:1"
	kill "$REG_PID" 2>/dev/null
fi
REG=$DEV
echo "## A stale password in docker's config.json"
mkdir -p "$DOCKER_CONFIG"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$REG" "$(printf 'alice:stale' | base64)" >"$DOCKER_CONFIG/config.json"
show "$HAUL" digest "$REG/demo/tiny:latest"
rm -f "$DOCKER_CONFIG/config.json"
echo "## Outputs"
show "$HAUL" pull -o "$WORK/missing/dir/x.tar" "$REG/demo/tiny:latest"
mkdir -p "$WORK/adir"
show "$HAUL" pull -o "$WORK/adir" "$REG/demo/tiny:latest"
mkdir -p "$WORK/notlayout" && touch "$WORK/notlayout/file"
show "$HAUL" pull --format oci -o "$WORK/notlayout" "$REG/demo/tiny:latest"
at_terminal '' "$HAUL" pull -o - "$REG/demo/tiny:latest"
echo "## Platforms"
show "$HAUL" pull --platform linux/arm64 -o "$WORK/p.tar" "$REG/demo/tiny:latest"
echo "## JSON"
show "$HAUL" pull --json -q -o "$WORK/j.tar" "$REG/demo/hello:1.0"
show "$HAUL" digest --json --platform linux/arm64 "$REG/demo/hello:1.0"
show "$HAUL" digest --json "$REG/demo/nothere:1"
echo "## Small things"
show "$HAUL" version
show "$HAUL" --no-such-flag digest x
