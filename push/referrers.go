package push

import (
	"context"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// Referrer is a manifest that refers to one a plan puts: a signature, an
// SBOM, an attestation. It travels with its subject, its digest kept.
type Referrer struct {
	// Subject is the digest of what it refers to: a manifest of the plan,
	// or a referrer before it (a signature of an SBOM).
	Subject digest.Digest
	// Tag is the cosign tag it was found under ("sha256-<hex>.sig"): its
	// manifest names no subject, so it goes under the same tag. "" for one
	// that names its subject, which the destination's referrers API lists,
	// or, without one, the index under its fallback tag.
	Tag string
	// Listed is it as a referrers list names it (artifactType and
	// annotations): its entry in a fallback index.
	Listed image.Descriptor
	// Manifests are what to put, its own last (an index's children first).
	Manifests []Manifest
}

// Root is the referrer's own manifest.
func (r Referrer) Root() Manifest { return r.Manifests[len(r.Manifests)-1] }

// ReferrerReader is a Reader that finds referrers (*registry.Client, and
// *mirror.Source, which asks the upstream).
type ReferrerReader interface {
	Referrers(ctx context.Context, r ref.Reference, subject image.Descriptor, opts registry.ReferrersOptions) ([]registry.Referrer, error)
}

// addReferrers adds to p what refers to each of its manifests at the
// source, found as registry.Client.Referrers finds them (the API or the
// fallback tag, and cosign's tags, to its default depth), each once.
func (s RegistryImages) addReferrers(ctx context.Context, p *Plan, r ref.Reference) error {
	rr, ok := s.Reader.(ReferrerReader)
	if !ok {
		return fmt.Errorf("finding referrers in %s: %T does not list them", r.Name(), s.Reader)
	}
	seen := map[digest.Digest]bool{}
	for _, m := range p.Manifests {
		seen[m.Descriptor.Digest] = true
	}
	for _, m := range slices.Clone(p.Manifests) {
		found, err := rr.Referrers(ctx, r, m.Descriptor, registry.ReferrersOptions{})
		if err != nil {
			return err
		}
		for _, rf := range found {
			if seen[rf.Manifest.Descriptor.Digest] {
				continue
			}
			seen[rf.Manifest.Descriptor.Digest] = true
			sub := &Plan{}
			if err := s.add(ctx, sub, r, rf.Manifest, 0, map[digest.Digest]bool{}); err != nil {
				return err
			}
			p.Referrers = append(p.Referrers, Referrer{Subject: rf.Subject, Tag: rf.Tag, Listed: registry.ReferrerDescriptor(rf.Manifest), Manifests: sub.Manifests})
		}
	}
	return nil
}

// putReferrers puts plan's referrers, after its manifests: each one's
// manifests by digest (a cosign tag's under that tag), then, for a
// registry without the referrers API (no OCI-Subject in its answer), each
// subject's fallback index with those it lacks added.
func putReferrers(ctx context.Context, plan *Plan, to ref.Reference, dcl *registry.Client, res *Result) error {
	var subjects []digest.Digest
	unlisted := map[digest.Digest][]image.Descriptor{}
	for _, rf := range plan.Referrers {
		for _, m := range rf.Manifests[:len(rf.Manifests)-1] {
			if _, err := putManifest(ctx, dcl, to.WithDigest(m.Descriptor.Digest), m); err != nil {
				return err
			}
		}
		root := rf.Root()
		if rf.Tag != "" {
			if _, err := putManifest(ctx, dcl, to.WithTag(rf.Tag), root); err != nil {
				return err
			}
			res.Referrers++
			continue
		}
		got, listed, err := dcl.PushReferrer(ctx, to.WithDigest(root.Descriptor.Digest), root.Body, root.Descriptor.MediaType)
		if err != nil {
			return err
		}
		if got != root.Descriptor.Digest {
			return fmt.Errorf("refused: the destination stored referrer %s as %s; a copy must keep every digest", root.Descriptor.Digest, got)
		}
		res.Referrers++
		if !listed {
			if _, ok := unlisted[rf.Subject]; !ok {
				subjects = append(subjects, rf.Subject)
			}
			unlisted[rf.Subject] = append(unlisted[rf.Subject], rf.Listed)
		}
	}
	for _, s := range subjects {
		fi, err := dcl.AddReferrers(ctx, to, s, unlisted[s])
		if err != nil {
			return err
		}
		if fi.Added > 0 {
			res.FallbackIndexes = append(res.FallbackIndexes, fi)
		}
	}
	return nil
}
