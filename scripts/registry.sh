# Sourced by test/e2e.sh, test/e2e-rootfs.sh, bench/pull.sh and
# bench/unpack.sh: Debian's docker-registry (the CNCF distribution registry)
# on a free loopback port, for the built CLI to talk to.

# port_in_use PORT: something listens on 127.0.0.1:PORT.
port_in_use() {
	if command -v ss >/dev/null 2>&1 && [[ -n $(ss -Htln "sport = :$1" 2>/dev/null) ]]; then
		return 0
	fi
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start_registry DIR [ACCESS_LOG] [EXTRA_YAML] [TLS_CURL_ARGS]: starts
# docker-registry on a free 127.0.0.1 port, its storage in DIR/data and its
# config in DIR/config.yml (EXTRA_YAML appended at the top level); with
# ACCESS_LOG=1 its access log goes to DIR/access.log (else it is off), the
# rest of what it says to DIR/log. Sets REG_PID and REG (127.0.0.1:PORT) once
# /v2/ answers 200 or 401 from that process; after 5 ports, prints the log and
# returns 1. With TLS_CURL_ARGS (a registry that EXTRA_YAML puts behind TLS),
# /v2/ is asked over https with those curl arguments ("--cacert ca.crt").
start_registry() {
	local dir=$1 access=${2:-0} extra=${3:-} tlsargs=${4:-} try port code deadline disabled=true scheme=http
	[[ -n $tlsargs ]] && scheme=https
	[[ $access == 1 ]] && disabled=false
	mkdir -p "$dir/data"
	for try in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 20001))
		port_in_use "$port" && continue
		cat >"$dir/config.yml" <<-EOF
			version: 0.1
			log:
			  level: error
			  accesslog:
			    disabled: $disabled
			storage:
			  filesystem:
			    rootdirectory: $dir/data
			  delete:
			    enabled: true
			http:
			  addr: 127.0.0.1:$port
			  secret: haul-$RANDOM$RANDOM
			$extra
		EOF
		docker-registry serve "$dir/config.yml" >"$dir/access.log" 2>"$dir/log" &
		REG_PID=$!
		deadline=$((SECONDS + 10))
		while ((SECONDS < deadline)); do
			kill -0 "$REG_PID" 2>/dev/null || break
			# shellcheck disable=SC2086 # tlsargs are words
			code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 $tlsargs "$scheme://127.0.0.1:$port/v2/" || true)
			if [[ $code == 200 || $code == 401 ]]; then
				# The answer must come from this registry, not another listener.
				sleep 0.1
				kill -0 "$REG_PID" 2>/dev/null || break
				REG=127.0.0.1:$port
				return 0
			fi
			sleep 0.1
		done
		kill "$REG_PID" 2>/dev/null || true
		wait "$REG_PID" 2>/dev/null || true
		REG_PID=
	done
	echo "# docker-registry would not start; its log:" >&2
	sed 's/^/#   /' "$dir/log" >&2
	return 1
}

# stop_registry: stops the registry start_registry started, if it runs.
stop_registry() {
	if [[ -n ${REG_PID:-} ]]; then
		kill "$REG_PID" 2>/dev/null || true
		wait "$REG_PID" 2>/dev/null || true
		REG_PID=
	fi
}
