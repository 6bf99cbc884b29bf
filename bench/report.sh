# Sourced by bench/pull.sh and bench/unpack.sh: figures from the raw runs in
# $RAW (tab-separated: image, tool, round, rc, wall_s, user_s, sys_s,
# maxrss_kb, ...), over the runs that succeeded, for the tools in $TOOLS.

# agg IMAGE TOOL COLUMN FN: FN is min or median over the successful runs.
agg() {
	awk -F'\t' -v i="$1" -v t="$2" -v c="$3" '$1 == i && $2 == t && $4 == 0 { print $c }' "$RAW" | sort -g |
		awk -v fn="$4" '{ v[NR] = $1 } END {
			if (NR == 0) { print ""; exit }
			if (fn == "min") print v[1]
			else if (NR % 2) print v[(NR + 1) / 2]
			else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
cpu_median() {
	awk -F'\t' -v i="$1" -v t="$2" '$1 == i && $2 == t && $4 == 0 { print $6 + $7 }' "$RAW" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
count_ok() { awk -F'\t' -v i="$1" -v t="$2" '$1 == i && $2 == t { n++; if ($4 == 0) ok++ } END { printf "%d/%d", ok, n }' "$RAW"; }
fmt_s() { [[ -z $1 ]] && { echo "-"; return; }; awk -v v="$1" 'BEGIN { if (v < 1) printf "%.1f ms", v * 1000; else printf "%.2f s", v }'; }
ratio() { [[ -z $1 || -z $2 ]] && { echo "-"; return; }; awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# fastest IMAGE TOOL...: prints the lowest median wall among the TOOLs that ran, and its tool.
fastest() {
	local img=$1 tool md best= name=
	shift
	for tool in "$@"; do
		grep -qw -- "$tool" <<<"$TOOLS" || continue
		md=$(agg "$img" "$tool" 5 median)
		[[ -z $md ]] && continue
		if [[ -z $best ]] || awk -v a="$md" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$md name=$tool; fi
	done
	echo "$best $name"
}
