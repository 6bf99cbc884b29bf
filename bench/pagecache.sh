#!/usr/bin/env bash
# bench/pagecache.sh: what writing a file costs on this machine, by write size.
# For each round and each write size in SIZES, dd writes MIB MiB of zeros to a
# file in DIR in each way of HOWS (buffered; direct, with O_DIRECT; reserved,
# buffered into blocks fallocate --keep-size reserved first, as haul's store
# does), each after rm, sync and a pause of SETTLE seconds (on a VM that hands freed memory back to its host,
# about 2 s after it is freed, the pause makes the write land in fresh
# memory). Prints the wall and kernel CPU of every write (on stderr), then
# their medians.
set -euo pipefail
: "${MIB:=1024}" "${SIZES:=64K 256K 512K 1M 4M}" "${ROUNDS:=3}" "${SETTLE:=3}" "${HOWS:=buffered direct}"
DIR=${DIR:-${TMPDIR:-/tmp}}
f=$(mktemp "$DIR/pagecache.XXXXXX")
t=$(mktemp)
trap 'rm -f "$f" "$t"' EXIT
bytes=$((MIB << 20))
for _ in $(seq "$ROUNDS"); do
	for bs in $SIZES; do
		n=$((bytes / $(numfmt --from=iec "$bs")))
		for how in $HOWS; do
			flag=()
			[[ $how == direct ]] && flag=(oflag=direct)
			rm -f "$f"
			sync
			sleep "$SETTLE"
			if [[ $how == reserved ]]; then
				: >"$f"
				fallocate --keep-size -l "$bytes" "$f"
				flag=(conv=notrunc)
			fi
			/usr/bin/time -o "$t" -f '%e %S' dd if=/dev/zero of="$f" bs="$bs" count="$n" "${flag[@]}" status=none
			echo "$how $bs $(cat "$t")"
		done
	done
done | tee /dev/stderr | awk '
	{ k = $1 " " $2; w[k] = w[k] " " $3; s[k] = s[k] " " $4; n[k]++ }
	function median(list,   a, c, i, j, x) {
		c = split(list, a, " ")
		for (i = 2; i <= c; i++) { x = a[i]; for (j = i - 1; j > 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
		return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
	}
	END { for (k in w) printf "%-16s median wall %.2f s  sys %.2f s  (%d runs)\n", k, median(w[k]), median(s[k]), n[k] }' 2>&1 |
	sort -k1,1 -k2,2h
