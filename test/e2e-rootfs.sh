#!/usr/bin/env bash
# End-to-end test of haul's root filesystems: haul unpack, haul pull --format
# rootfs and haul export, against umoci, crane export and GNU tar.
#
# It pushes the images of tools/rootfsimage (OCI media types, gzip
# layers) to a Debian docker-registry, copies each into an OCI layout with
# skopeo (else haul pull --format oci), unpacks it with umoci (as root, keeping
# owners) and with haul, and compares the trees with tools/treedump:
# paths, types, modes, owners, sizes, content hashes, link targets, mtimes to
# the nanosecond (directories too), hardlinks and xattrs. layers3 is also held
# to test/testdata/layers3.tree, the listing umoci 0.4.7 made of it (reviewed
# entry by entry against the comments in rootfsimage's layers3()).
#
# test/e2e.sh runs it with its own haul, registry and crane (HAUL_E2E_HAUL,
# HAUL_E2E_REGISTRY, HAUL_E2E_CRANE); alone it builds haul, installs crane and
# starts a registry itself. Needs root (owners, security.capability), go,
# docker-registry, curl, jq, tar; umoci and skopeo checks are skipped without
# them; haul's checks are skipped while haul lacks the command they test.
#
# HAUL_E2E_TOOLCHAIN=full pushes the whole GOROOT (about 17k entries, ~45 s
# more, and the check that umoci's tree is GOROOT) instead of a subset;
# HAUL_E2E_BIGFILE_MIB sizes bigfile (64).
# Prints `ok - ...` / `not ok - ...` per check and ends with `N passed, M failed`;
# exits 1 when a check failed. HAUL_E2E_KEEP=1 keeps the work directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=${HAUL_E2E_TOOLS:-$HOME/.cache/haul-e2e/bin}
CRANE_VERSION=v0.22.1
BIGFILE_MIB=${HAUL_E2E_BIGFILE_MIB:-64}
# The toolchain image in e2e: these paths of GOROOT (~2,200 entries, ~45 MiB),
# unless HAUL_E2E_TOOLCHAIN=full. bench/unpack.sh always takes all of it.
TOOLCHAIN_PATHS=VERSION,go.env,bin,lib,misc,src/archive,src/compress,src/crypto,src/net,src/os
[[ ${HAUL_E2E_TOOLCHAIN:-} == full ]] && TOOLCHAIN_PATHS=
START=$SECONDS

die() { echo "e2e-rootfs: error: $*" >&2; exit 1; }
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
if ((EUID != 0)); then
	# Owners, setuid files and security.capability need root, for umoci as for haul.
	echo "ok - # SKIP root filesystems: not root (the trees keep owners and security.capability)"
	echo "0 passed, 0 failed"
	exit 0
fi
HAVE_SKOPEO=1
command -v skopeo >/dev/null 2>&1 || HAVE_SKOPEO=0
HAVE_UMOCI=1
command -v umoci >/dev/null 2>&1 || HAVE_UMOCI=0

# ---------------------------------------------------------------- work dirs, cleanup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/haul-e2e-rootfs.XXXXXX")
# shellcheck source=checks.sh
. "$ROOT/test/checks.sh"
# shellcheck source=../scripts/registry.sh
. "$ROOT/scripts/registry.sh"
REG_PID=
cleanup() {
	local rc=$?
	stop_registry
	remove_work
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- tools
mkdir -p "$WORK/bin"
haul_binary "$WORK/bin"
(cd "$ROOT" && go build -o "$WORK/bin/" ./tools/rootfsimage ./tools/treedump) ||
	die "building tools/rootfsimage and tools/treedump failed"
TREEDUMP=$WORK/bin/treedump

crane_ok() { [[ -x $1 ]] && [[ $("$1" version 2>/dev/null) == "$CRANE_VERSION" ]]; }
if [[ -n ${HAUL_E2E_CRANE:-} ]]; then
	CRANE=$HAUL_E2E_CRANE
else
	CRANE=$TOOLS/crane
	if ! crane_ok "$CRANE"; then
		note "installing crane $CRANE_VERSION into $TOOLS"
		mkdir -p "$TOOLS"
		(cd "$WORK" && GOBIN=$TOOLS GOFLAGS=-buildvcs=false \
			go install "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION") ||
			die "could not install crane $CRANE_VERSION with go install"
		crane_ok "$CRANE" || die "$CRANE is not crane $CRANE_VERSION"
	fi
fi
mkdir -p "$WORK/crane-docker"
crane() { DOCKER_CONFIG=$WORK/crane-docker "$CRANE" --insecure "$@"; }

# has_cmd WORDS...: whether this haul has the command (cobra lists it in help).
has_cmd() { "$HAUL" "$@" --help >/dev/null 2>&1; }
HAVE_UNPACK=0 HAVE_PULL_ROOTFS=0 HAVE_EXPORT=0
has_cmd unpack && HAVE_UNPACK=1
has_cmd export && HAVE_EXPORT=1

# ---------------------------------------------------------------- registry
if [[ -n ${HAUL_E2E_REGISTRY:-} ]]; then
	REG=$HAUL_E2E_REGISTRY
else
	start_registry "$WORK/registry" || die "could not start docker-registry"
	note "registry (pid $REG_PID) on $REG"
fi

# ---------------------------------------------------------------- test images
IMAGES="toolchain layers3 bigfile"
note "pushing the rootfs images (toolchain: ${TOOLCHAIN_PATHS:+a subset of }$(go env GOROOT); bigfile: $BIGFILE_MIB MiB)"
"$WORK/bin/rootfsimage" -registry "$REG" -repo e2e-rootfs -bigfile-mib "$BIGFILE_MIB" \
	-toolchain "$(go env GOROOT)" -toolchain-paths "$TOOLCHAIN_PATHS" >"$WORK/pushed.txt" 2>"$WORK/rootfsimage.log" || {
	sed 's/^/#   /' "$WORK/rootfsimage.log" >&2
	die "pushing the rootfs images failed"
}
ref() { echo "$REG/e2e-rootfs/$1:1"; }
# A haul that does not know --format rootfs calls it a usage error (exit 2).
rc=0
HOME=$WORK "$HAUL" pull -q --format rootfs --cache-dir "$WORK/probe-cache" -o "$WORK/probe" "$(ref layers3)" \
	>/dev/null 2>&1 </dev/null || rc=$?
((rc == 2)) || HAVE_PULL_ROOTFS=1
rm -rf "$WORK/probe" "$WORK/probe-cache"

# ---------------------------------------------------------------- harness
PASSED=0
FAILED=0
OUT=$WORK/stdout
ERR=$WORK/stderr
HHOME=$WORK/home # haul's HOME: no stray credentials or cache from the machine
mkdir -p "$HHOME"
RC=0
LAST=""

# run CMD ARG...: stdout in $OUT, stderr in $ERR, exit code in $RC.
run() {
	LAST=$(printf '%q ' "$@")
	LAST=${LAST//"$WORK/"/}
	RC=0
	env -u HAUL_USERNAME -u HAUL_PASSWORD -u REGISTRY_AUTH_FILE \
		HOME="$HHOME" DOCKER_CONFIG="$HHOME/.docker" XDG_CACHE_HOME="$HHOME/.cache" XDG_CONFIG_HOME="$HHOME/.config" \
		"$@" </dev/null >"$OUT" 2>"$ERR" || RC=$?
}

# same_tree DESC A B [TREEDUMP-FLAG...]: A and B (directories, or A a listing)
# list the same; else the first differences.
same_tree() {
	local desc=$1 a=$2 b=$3
	shift 3
	if [[ ! -d $b ]]; then
		not_ok "$desc" "$b is not there"
		return
	fi
	run "$TREEDUMP" "$@" "$a" "$b"
	if ((RC == 0)); then ok "$desc"; else not_ok "$desc" "trees differ (- ${a#"$WORK/"}, + ${b#"$WORK/"}):"; fi
}
# nothing_left DESC DIR: DIR does not exist, and no temporary sibling of it either.
nothing_left() {
	local left
	left=$(cd "$(dirname "$2")" && ls -A | grep -F -- "$(basename "$2")" || true)
	if [[ -z $left ]]; then ok "$1"; else not_ok "$1" "left in $(dirname "${2#"$WORK/"}"): $(tr '\n' ' ' <<<"$left")"; fi
}
# tar_paths: a tar listing on stdin as sorted paths, without ./ and trailing /.
tar_paths() { sed -e 's#^\./##' -e 's#/$##' | grep -v '^\.\?$' | LC_ALL=C sort; }
# tree_paths DIR: the paths under DIR, as tar_paths prints them.
tree_paths() { (cd "$1" && find . -mindepth 1 | sed 's#^\./##' | LC_ALL=C sort); }

skip_haul() { # skip_haul WHAT COMMAND
	skip "$1 (haul has no '$2' yet)"
}

# ---------------------------------------------------------------- references
# One OCI layout per image (haul unpack takes a layout holding one image).
T=$WORK/trees
mkdir -p "$T" "$WORK/oci"
for img in $IMAGES baddiff; do
	if ((HAVE_SKOPEO)); then
		run skopeo copy -q --src-tls-verify=false "docker://$(ref "$img")" "oci:$WORK/oci/$img:$img"
	else
		run "$HAUL" pull -q --format oci -o "$WORK/oci/$img" "$(ref "$img")"
	fi
	((RC == 0)) || die "copying $(ref "$img") into an OCI layout failed: $(cat "$ERR")"
done
note "setup took $((SECONDS - START))s"

# ---------------------------------------------------------------- 1. umoci, the reference
for img in $IMAGES; do
	if ((HAVE_UMOCI)); then
		run umoci unpack --image "$WORK/oci/$img:$img" "$T/umoci-$img"
		expect_success "umoci unpack of $img exits 0"
	fi
done
if ((HAVE_UMOCI)); then
	same_tree "umoci's layers3 is test/testdata/layers3.tree" "$ROOT/test/testdata/layers3.tree" "$T/umoci-layers3/rootfs"
	if [[ -z $TOOLCHAIN_PATHS ]]; then
		same_tree "umoci's toolchain is GOROOT as it is on disk" "$(go env GOROOT)" "$T/umoci-toolchain/rootfs/go"
	fi
else
	skip "umoci unpack of the rootfs images (umoci is not installed: apt-get install umoci)"
fi
# ref_tree IMG: the tree haul's are held to: umoci's, else for layers3 the listing.
ref_tree() {
	if ((HAVE_UMOCI)); then
		echo "$T/umoci-$1/rootfs"
	elif [[ $1 == layers3 ]]; then
		echo "$ROOT/test/testdata/layers3.tree"
	fi
}

# ---------------------------------------------------------------- 2. haul unpack LAYOUT DIR
for img in $IMAGES; do
	if ((!HAVE_UNPACK)); then
		skip_haul "haul unpack of $img" unpack
		continue
	fi
	run "$HAUL" unpack "$WORK/oci/$img" "$T/unpack-$img"
	expect_success "haul unpack of the $img layout exits 0"
	r=$(ref_tree "$img")
	if [[ -n $r ]]; then
		same_tree "haul unpack of $img: the tree is umoci's" "$r" "$T/unpack-$img"
	else
		skip "haul unpack of $img: the tree is umoci's (umoci is not installed)"
	fi
done

# ---------------------------------------------------------------- 3. haul pull --format rootfs
for img in $IMAGES; do
	if ((!HAVE_PULL_ROOTFS)); then
		skip_haul "haul pull --format rootfs of $img" "pull --format rootfs"
		continue
	fi
	# Cold (every layer streamed from the registry), then warm (from the cache).
	for c in cold warm; do
		run "$HAUL" pull -q --format rootfs --cache-dir "$WORK/cache-$img" -o "$T/pull-$c-$img" "$(ref "$img")"
		expect_success "haul pull --format rootfs of $img, $c cache, exits 0"
		r=$(ref_tree "$img")
		if [[ -n $r ]]; then
			same_tree "haul pull --format rootfs of $img, $c cache: the tree is umoci's" "$r" "$T/pull-$c-$img"
		else
			skip "haul pull --format rootfs of $img, $c cache: the tree is umoci's (umoci is not installed)"
		fi
	done
	rm -rf "$WORK/cache-$img"
done

# ---------------------------------------------------------------- 4. haul unpack of archives
if ((HAVE_UNPACK)); then
	run "$HAUL" pull -q --cache-dir "$WORK/cache" -o "$WORK/layers3.tar" "$(ref layers3)"
	expect_success "haul pull of layers3 to a docker tar exits 0"
	run "$HAUL" unpack "$WORK/layers3.tar" "$T/unpack-tar-layers3"
	expect_success "haul unpack of a docker tar exits 0"
	same_tree "haul unpack of a docker tar: the tree is layers3's" "$ROOT/test/testdata/layers3.tree" "$T/unpack-tar-layers3"
	if ((HAVE_SKOPEO)); then
		run skopeo copy -q "oci:$WORK/oci/layers3:layers3" "oci-archive:$WORK/layers3-oci.tar"
		run "$HAUL" unpack "$WORK/layers3-oci.tar" "$T/unpack-ociarchive-layers3"
		expect_success "haul unpack of skopeo's oci-archive exits 0"
		same_tree "haul unpack of skopeo's oci-archive: the tree is layers3's" "$ROOT/test/testdata/layers3.tree" "$T/unpack-ociarchive-layers3"
		# skopeo's docker-archive: docker media types, manifest.json, no index.json.
		run skopeo copy -q "oci:$WORK/oci/layers3:layers3" "docker-archive:$WORK/layers3-docker.tar:e2e/layers3:1"
		run "$HAUL" unpack "$WORK/layers3-docker.tar" "$T/unpack-dockerarchive-layers3"
		expect_success "haul unpack of skopeo's docker-archive exits 0"
		same_tree "haul unpack of skopeo's docker-archive: the tree is layers3's" "$ROOT/test/testdata/layers3.tree" "$T/unpack-dockerarchive-layers3"
	else
		skip "haul unpack of skopeo's oci-archive and docker-archive (skopeo is not installed)"
	fi
	run "$HAUL" pull -q --format oci --cache-dir "$WORK/cache" -o "$WORK/haul-oci" "$(ref layers3)"
	run "$HAUL" unpack "$WORK/haul-oci" "$T/unpack-hauloci-layers3"
	expect_success "haul unpack of haul's own OCI layout exits 0"
	same_tree "haul unpack of haul's own OCI layout: the tree is layers3's" "$ROOT/test/testdata/layers3.tree" "$T/unpack-hauloci-layers3"
	# A layout holding two images: --image picks one by its ref.name.
	if ((HAVE_SKOPEO)); then
		run skopeo copy -q "oci:$WORK/oci/baddiff:baddiff" "oci:$WORK/two:baddiff"
		run skopeo copy -q "oci:$WORK/oci/layers3:layers3" "oci:$WORK/two:layers3"
		run "$HAUL" unpack "$WORK/two" "$T/two-noimage"
		expect_rc "haul unpack of a layout holding two images, no --image, exits 2" 2
		nothing_left "haul unpack of a layout holding two images, no --image: DIR does not exist" "$T/two-noimage"
		run "$HAUL" unpack --image layers3 "$WORK/two" "$T/two-layers3"
		expect_success "haul unpack --image layers3 of a layout holding two images exits 0"
		same_tree "haul unpack --image layers3: the tree is layers3's" "$ROOT/test/testdata/layers3.tree" "$T/two-layers3"
	else
		skip "haul unpack --image of a layout holding two images (skopeo is not installed)"
	fi
	run "$HAUL" unpack --json "$WORK/oci/layers3" "$T/unpack-json"
	expect_success "haul unpack --json exits 0"
	# Every entry of every layer is counted, whiteouts included.
	entries=0
	for d in $(jq -r '.manifests[0].digest' "$WORK/oci/layers3/index.json" | sed 's#sha256:#blobs/sha256/#' |
		xargs -I{} jq -r '.layers[].digest' "$WORK/oci/layers3/{}"); do
		entries=$((entries + $(tar -tzf "$WORK/oci/layers3/blobs/sha256/${d#sha256:}" | wc -l)))
	done
	expect_eq "haul unpack --json: .stats.layers and .stats.entries" "3 $entries" "$(jq -r '"\(.stats.layers) \(.stats.entries)"' "$OUT" 2>&1)"
else
	skip_haul "haul unpack of docker and OCI archives" unpack
fi

# ---------------------------------------------------------------- 5. refusals: nothing left behind
# baddiff's blobs are layers3's; its config's second diff_id is wrong.
BAD_LAYER=$(jq -r '.layers[1].digest' "$WORK/oci/baddiff/blobs/sha256/$(jq -r '.manifests[0].digest' "$WORK/oci/baddiff/index.json" | cut -d: -f2)")
if ((HAVE_UNPACK)); then
	run "$HAUL" unpack "$WORK/oci/baddiff" "$T/bad"
	expect_rc "haul unpack of a layer with a wrong diff_id exits 1" 1
	expect_in "haul unpack of a layer with a wrong diff_id: the message names the layer" "$ERR" "$BAD_LAYER"
	nothing_left "haul unpack of a layer with a wrong diff_id: DIR does not exist, nor a temporary" "$T/bad"

	mkdir -p "$T/full"
	echo keep >"$T/full/mine"
	run "$HAUL" unpack "$WORK/oci/layers3" "$T/full"
	expect_rc "haul unpack into a non-empty DIR without --force exits 1" 1
	expect_eq "haul unpack into a non-empty DIR without --force leaves it as it was" "mine" "$(ls -A "$T/full")"
	run "$HAUL" unpack --force "$WORK/oci/layers3" "$T/full"
	expect_success "haul unpack --force into a non-empty DIR exits 0"
	same_tree "haul unpack --force: layers3 over what DIR held" "$ROOT/test/testdata/layers3.tree" "$T/full" -exclude mine

	run "$HAUL" unpack --max-entries 100 "$WORK/oci/toolchain" "$T/limited"
	expect_rc "haul unpack --max-entries 100 of toolchain exits 1" 1
	expect_in "haul unpack --max-entries: the message names the flag" "$ERR" "--max-entries"
	nothing_left "haul unpack --max-entries: DIR does not exist, nor a temporary" "$T/limited"
	run "$HAUL" unpack --max-size 1M "$WORK/oci/bigfile" "$T/limited"
	expect_rc "haul unpack --max-size 1MiB of bigfile exits 1" 1
	expect_in "haul unpack --max-size: the message names the flag" "$ERR" "--max-size"
	nothing_left "haul unpack --max-size: DIR does not exist, nor a temporary" "$T/limited"
else
	skip_haul "haul unpack's refusals (wrong diff_id, non-empty DIR, limits)" unpack
fi
if ((HAVE_PULL_ROOTFS)); then
	run "$HAUL" pull -q --format rootfs --cache-dir "$WORK/cache-bad" -o "$T/bad-pull" "$(ref baddiff)"
	expect_rc "haul pull --format rootfs of a layer with a wrong diff_id exits 1" 1
	expect_in "haul pull --format rootfs of a layer with a wrong diff_id: the message names the layer" "$ERR" "$BAD_LAYER"
	nothing_left "haul pull --format rootfs of a wrong diff_id: DIR does not exist, nor a temporary" "$T/bad-pull"
	mkdir -p "$T/full-pull"
	echo keep >"$T/full-pull/mine"
	run "$HAUL" pull -q --format rootfs --cache-dir "$WORK/cache-bad" -o "$T/full-pull" "$(ref layers3)"
	expect_rc "haul pull --format rootfs into a non-empty DIR exits 1" 1
	expect_eq "haul pull --format rootfs into a non-empty DIR leaves it as it was" "mine" "$(ls -A "$T/full-pull")"
else
	skip_haul "haul pull --format rootfs of a layer with a wrong diff_id" "pull --format rootfs"
fi

# ---------------------------------------------------------------- 6. haul export
# crane export v0.22.1 keeps a lower layer's file under a directory that an
# upper layer replaced by a file and then by a directory again (layers3's
# d2f/child): for layers3 the paths must be umoci's tree's, and crane's but that.
CRANE_EXTRA_layers3="d2f/child"
for img in $IMAGES; do
	if ((!HAVE_EXPORT)); then
		skip_haul "haul export of $img" export
		continue
	fi
	run "$HAUL" export "$(ref "$img")" -o "$WORK/export-$img.tar"
	expect_success "haul export REF -o FILE of $img exits 0"
	crane export "$(ref "$img")" - 2>"$WORK/crane.err" | tar -t | tar_paths >"$WORK/crane-$img.paths" ||
		die "crane export of $img failed: $(cat "$WORK/crane.err")"
	run "$HAUL" export "$(ref "$img")" -o -
	tar -t <"$OUT" | tar_paths >"$WORK/haul-$img.paths"
	extra=CRANE_EXTRA_$img
	if [[ -n ${!extra:-} ]]; then
		want=$(grep -vxF "${!extra}" "$WORK/crane-$img.paths" || true)
	else
		want=$(cat "$WORK/crane-$img.paths")
	fi
	expect_eq "haul export -o - | tar -t of $img lists crane export's paths${!extra:+ (but ${!extra})}" \
		"$want" "$(cat "$WORK/haul-$img.paths")"
	if cmp -s "$OUT" "$WORK/export-$img.tar"; then ok "haul export of $img: -o - and -o FILE write the same bytes"; else
		not_ok "haul export of $img: -o - and -o FILE write the same bytes" "$(cmp "$OUT" "$WORK/export-$img.tar" 2>&1)"; fi
	if ((HAVE_UNPACK)); then
		run "$HAUL" export "$WORK/oci/$img" -o "$WORK/export-layout-$img.tar"
		if cmp -s "$WORK/export-layout-$img.tar" "$WORK/export-$img.tar"; then ok "haul export of $img: the layout and the REF give the same bytes"; else
			not_ok "haul export of $img: the layout and the REF give the same bytes" "$(cmp "$WORK/export-layout-$img.tar" "$WORK/export-$img.tar" 2>&1)"; fi
		rm -f "$WORK/export-layout-$img.tar"
	fi
	r=$(ref_tree "$img")
	if [[ -d $r ]]; then
		expect_eq "haul export of $img lists the paths of umoci's tree" "$(tree_paths "$r")" "$(cat "$WORK/haul-$img.paths")"
	fi
	# The tar itself holds the tree: GNU tar extracts it (owners, modes,
	# nanosecond mtimes, every xattr) to the same tree as umoci's. Not the
	# directories' mtimes: the export goes layer by layer, top first, as crane
	# export's does, so a directory's entries are not contiguous and GNU tar
	# sets its times before the last of them lands (haul unpack keeps them).
	mkdir -p "$T/export-$img"
	run tar --xattrs --xattrs-include='*' --warning=no-timestamp -xpf "$WORK/export-$img.tar" -C "$T/export-$img"
	expect_success "GNU tar -x of haul export of $img exits 0"
	if [[ -n $r ]]; then
		same_tree "GNU tar -x of haul export of $img: the tree is umoci's (but directories' mtimes)" "$r" "$T/export-$img" -dir-mtime=false
	fi
done

# ---------------------------------------------------------------- summary
note "took $((SECONDS - START))s"
echo "$PASSED passed, $FAILED failed"
((FAILED == 0)) || exit 1
