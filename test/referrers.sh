# shellcheck shell=bash
# Sourced by test/e2e.sh and test/e2e-engine.sh: referrers pushed with curl
# to an open registry (Debian's docker-registry, distribution 2.8, which has
# no referrers API), as clients without that API keep them: an SBOM (an OCI
# 1.1 artifact whose subject is the image) listed in the index under the
# image's fallback tag sha256-<hex>, and a cosign-style signature (no
# subject) under the tag sha256-<hex>.sig. Needs curl, jq and sha256sum.

# referrer_blob HOST/REPO FILE: uploads FILE as a blob of REPO (POST, then
# PUT with the digest); prints its digest.
referrer_blob() {
	local host=${1%%/*} repo=${1#*/} d loc
	d=sha256:$(sha256sum "$2" | cut -d' ' -f1)
	loc=$(curl -sf -X POST -D - -o /dev/null "http://$host/v2/$repo/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p') || return 1
	[[ $loc == http* ]] || loc=http://$host$loc
	case $loc in *\?*) loc=$loc\&digest=$d ;; *) loc=$loc\?digest=$d ;; esac
	curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$2" "$loc" -o /dev/null && echo "$d"
}

# referrer_manifest HOST/REPO REF FILE: puts FILE, an OCI manifest or index
# (its mediaType field says which), at REF; prints its digest.
referrer_manifest() {
	local host=${1%%/*} repo=${1#*/}
	curl -sf -X PUT -H "Content-Type: $(jq -r .mediaType "$3")" --data-binary "@$3" \
		"http://$host/v2/$repo/manifests/$2" -o /dev/null && echo "sha256:$(sha256sum "$3" | cut -d' ' -f1)"
}

# push_referrers HOST/REPO:TAG DIR: pushes an SBOM of the image (by its
# fallback tag) and a cosign-style signature of it (by its .sig tag), with
# their files in DIR. Sets REFERRERS to the two manifests' digests, sorted,
# one a line, and REFERRER_BLOBS to every blob they bring, sorted.
push_referrers() {
	local repo=${1%:*} tag=${1##*:} dir=$2 accept subject mt size empty sbom sig sbom_m sig_m
	accept='application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json'
	mkdir -p "$dir"
	curl -sf -H "Accept: $accept" "http://${repo%%/*}/v2/${repo#*/}/manifests/$tag" -o "$dir/subject.json" || return 1
	subject=sha256:$(sha256sum "$dir/subject.json" | cut -d' ' -f1)
	mt=$(jq -r .mediaType "$dir/subject.json") size=$(wc -c <"$dir/subject.json")
	printf '{}' >"$dir/empty.json"
	printf '{"spdxVersion":"SPDX-2.3","name":"%s"}' "$1" >"$dir/sbom.json"
	printf '{"critical":{"image":{"docker-manifest-digest":"%s"},"type":"cosign container image signature"}}' "$subject" >"$dir/sig.json"
	empty=$(referrer_blob "$repo" "$dir/empty.json") && sbom=$(referrer_blob "$repo" "$dir/sbom.json") &&
		sig=$(referrer_blob "$repo" "$dir/sig.json") || return 1
	jq -n --arg e "$empty" --arg s "$sbom" --argjson ss "$(wc -c <"$dir/sbom.json")" --arg sd "$subject" --arg smt "$mt" --argjson sz "$size" \
		'{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", artifactType: "application/spdx+json",
		  config: {mediaType: "application/vnd.oci.empty.v1+json", digest: $e, size: 2},
		  layers: [{mediaType: "application/spdx+json", digest: $s, size: $ss}],
		  subject: {mediaType: $smt, digest: $sd, size: $sz}}' >"$dir/sbom-manifest.json"
	sbom_m=$(referrer_manifest "$repo" "sha256:$(sha256sum "$dir/sbom-manifest.json" | cut -d' ' -f1)" "$dir/sbom-manifest.json") || return 1
	jq -n --arg d "$sbom_m" --argjson sz "$(wc -c <"$dir/sbom-manifest.json")" \
		'{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
		  manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $sz, artifactType: "application/spdx+json"}]}' \
		>"$dir/fallback.json"
	referrer_manifest "$repo" "sha256-${subject#sha256:}" "$dir/fallback.json" >/dev/null || return 1
	jq -n --arg g "$sig" --argjson gs "$(wc -c <"$dir/sig.json")" \
		'{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
		  config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $g, size: $gs},
		  layers: [{mediaType: "application/vnd.dev.cosign.simplesigning.v1+json", digest: $g, size: $gs,
		            annotations: {"dev.cosignproject.cosign/signature": "MEUCIQ"}}]}' >"$dir/sig-manifest.json"
	sig_m=$(referrer_manifest "$repo" "sha256-${subject#sha256:}.sig" "$dir/sig-manifest.json") || return 1
	# shellcheck disable=SC2034 # for the caller
	REFERRERS=$(printf '%s\n' "$sbom_m" "$sig_m" | sort)
	# shellcheck disable=SC2034 # for the caller
	REFERRER_BLOBS=$(printf '%s\n' "$sbom_m" "$sig_m" "$empty" "$sbom" "$sig" | sort -u)
}
