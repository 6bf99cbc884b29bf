package registry_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/registry"
)

const (
	sbomType = "application/spdx+json"
	sigType  = "application/vnd.dev.cosign.artifact.sig.v1+json"
)

// list is every request logged, in order.
func (l *requestLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reqs)
}

// referrerFixture is an image in team/app, and the artifacts pushed to refer to it.
type referrerFixture struct {
	reg  *registrytest.Registry
	img  registrytest.Pushed
	api  *registrytest.ReferrersAPI
	cl   *registry.Client
	log  *requestLog
	repo string
}

func newReferrerFixture(t *testing.T) *referrerFixture {
	t.Helper()
	f := &referrerFixture{reg: registrytest.New(t, registrytest.Config{TokenAuth: true}), api: &registrytest.ReferrersAPI{}, log: &requestLog{}, repo: "team/app"}
	f.img = f.reg.MustPush(t, f.repo+":1", registrytest.RandomImage(1, 1, 64))
	f.cl = newClient(t, f.reg, auth.Credential{})
	return f
}

// withAPI puts the referrers API in front of the registry, and the request log around both.
func (f *referrerFixture) withAPI() {
	f.reg.Wrap(func(next http.Handler) http.Handler { return f.log.wrap(f.api.Wrap(next)) })
}

func (f *referrerFixture) withoutAPI() {
	f.reg.Wrap(f.log.wrap)
}

// push pushes an artifact by digest (or under tag, when not "") and returns it.
func (f *referrerFixture) push(t *testing.T, tag string, a registrytest.Artifact) registrytest.Pushed {
	t.Helper()
	rt := f.repo + "@"
	if tag != "" {
		rt = f.repo + ":" + tag
	}
	p, err := f.reg.PushArtifact(t.Context(), rt, a)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func subjectOf(p registrytest.Pushed) *ocispec.Descriptor {
	return &ocispec.Descriptor{MediaType: p.MediaType, Digest: p.Digest, Size: p.Size}
}

func fallbackTag(d digest.Digest) string { return "sha256-" + d.Encoded() }

// found is what Referrers returned, one line per referrer: "depth subject-prefix digest-prefix tag".
func found(refs []registry.Referrer) []string {
	var out []string
	for _, r := range refs {
		out = append(out, fmt.Sprintf("%d %s %s %s", r.Depth, r.Subject.Encoded()[:8], r.Descriptor.Digest.Encoded()[:8], r.Tag))
	}
	return out
}

func line(depth int, subject, d digest.Digest, tag string) string {
	return fmt.Sprintf("%d %s %s %s", depth, subject.Encoded()[:8], d.Encoded()[:8], tag)
}

func TestReferrersAPIPaginated(t *testing.T) {
	t.Parallel()
	f := newReferrerFixture(t)
	f.api.PageSize = 2
	f.withAPI()
	var want []string
	for i := range 5 {
		typ := sbomType
		if i%2 == 1 {
			typ = sigType
		}
		a := registrytest.Artifact{ArtifactType: typ, Subject: subjectOf(f.img), Data: []byte(fmt.Sprint("artifact ", i)),
			Annotations: map[string]string{"n": fmt.Sprint(i)}}
		p := f.push(t, "", a)
		f.api.Add(f.repo, f.img.Digest, registrytest.ReferrerDescriptor(p, a))
		want = append(want, line(1, f.img.Digest, p.Digest, ""))
	}
	r := mustRef(t, f.reg.Ref(f.repo+":1"))
	got, err := f.cl.Referrers(t.Context(), r, f.img.Descriptor(), registry.ReferrersOptions{NoCosignTags: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(found(got), want) {
		t.Fatalf("Referrers = %q, want %q", found(got), want)
	}
	for i, rf := range got {
		if rf.Descriptor.Annotations["n"] != fmt.Sprint(i) || rf.Manifest == nil || rf.Manifest.Descriptor.Digest != rf.Descriptor.Digest {
			t.Errorf("referrer %d: descriptor %+v, manifest %v: want the listed descriptor and its manifest", i, rf.Descriptor, rf.Manifest)
		}
	}
	// 5 referrers at 2 a page: 3 pages; then each referrer's own (none), 1 each.
	if n := f.log.count("GET", "/referrers/"); n != 3+5 {
		t.Errorf("the referrers API was asked %d times, want 8 (3 pages, then 1 per referrer)", n)
	}

	t.Run("artifactType", func(t *testing.T) {
		got, err := f.cl.Referrers(t.Context(), r, f.img.Descriptor(), registry.ReferrersOptions{NoCosignTags: true, ArtifactType: sigType})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(found(got), []string{want[1], want[3]}) {
			t.Fatalf("Referrers(sig) = %q, want %q", found(got), []string{want[1], want[3]})
		}
	})
}

// TestReferrersFallbackTag: distribution has no referrers API; referrers
// are read from the index a client keeps under sha256-<hex>. A listed
// manifest whose subject is another, or that the registry lost, is left out.
func TestReferrersFallbackTag(t *testing.T) {
	t.Parallel()
	f := newReferrerFixture(t)
	other := f.reg.MustPush(t, f.repo+":2", registrytest.RandomImage(2, 1, 64))
	a := registrytest.Artifact{ArtifactType: sbomType, Subject: subjectOf(f.img), Data: []byte("sbom")}
	sbom := f.push(t, "", a)
	wrong := registrytest.Artifact{ArtifactType: sbomType, Subject: subjectOf(other), Data: []byte("other's sbom")}
	wp := f.push(t, "", wrong)
	lostA := registrytest.Artifact{ArtifactType: sbomType, Subject: subjectOf(f.img), Data: []byte("deleted sbom")}
	lost := f.push(t, "", lostA)
	refs := []ocispec.Descriptor{registrytest.ReferrerDescriptor(sbom, a), registrytest.ReferrerDescriptor(wp, wrong), registrytest.ReferrerDescriptor(lost, lostA)}
	// The registry lost one listed (deleted since, the index not updated).
	f.reg.Wrap(func(next http.Handler) http.Handler {
		return f.log.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/manifests/"+lost.Digest.String()) {
				http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`, http.StatusNotFound)
				return
			}
			next.ServeHTTP(w, r)
		}))
	})
	if _, err := f.reg.PushFallbackIndex(t.Context(), f.repo, f.img.Digest, refs); err != nil {
		t.Fatal(err)
	}
	got, err := f.cl.Referrers(t.Context(), mustRef(t, f.reg.Ref(f.repo+":1")), f.img.Descriptor(), registry.ReferrersOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{line(1, f.img.Digest, sbom.Digest, "")}; !slices.Equal(found(got), want) {
		t.Fatalf("Referrers = %q, want %q", found(got), want)
	}
	if got[0].Descriptor.ArtifactType != sbomType {
		t.Errorf("descriptor %+v: want the fallback index's, with its artifactType", got[0].Descriptor)
	}
}

// TestReferrersCosignTags: cosign's sha256-<hex>.sig, .att and .sbom tags
// carry no subject; they are found by tag and say which.
func TestReferrersCosignTags(t *testing.T) {
	t.Parallel()
	f := newReferrerFixture(t)
	f.withoutAPI()
	tag := fallbackTag(f.img.Digest)
	cosign := func(data string) registrytest.Artifact {
		return registrytest.Artifact{ConfigMediaType: ocispec.MediaTypeImageConfig, LayerMediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
			Data: []byte(data), Annotations: map[string]string{"dev.cosignproject.cosign/signature": "MEUC"}}
	}
	sig := f.push(t, tag+".sig", cosign(`{"critical":{}}`))
	sbom := f.push(t, tag+".sbom", cosign(`{"spdxVersion":"SPDX-2.3"}`))
	got, err := f.cl.Referrers(t.Context(), mustRef(t, f.reg.Ref(f.repo+":1")), f.img.Descriptor(), registry.ReferrersOptions{Depth: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{line(1, f.img.Digest, sig.Digest, tag+".sig"), line(1, f.img.Digest, sbom.Digest, tag+".sbom")}
	if !slices.Equal(found(got), want) {
		t.Fatalf("Referrers = %q, want %q", found(got), want)
	}
	if d := got[0].Descriptor; d.Digest != sig.Digest || d.Size != sig.Size || d.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("descriptor %+v: want the manifest's own", d)
	}
}

// TestReferrersRecursive: an SBOM of the image (by the API), a signature of
// the SBOM (by the API) and a cosign signature of that signature (by tag):
// three levels, each cut by Depth; cosign tags that point back (to the
// image, to a referrer already found) end the walk instead of looping.
func TestReferrersRecursive(t *testing.T) {
	t.Parallel()
	f := newReferrerFixture(t)
	f.withAPI()
	sbomA := registrytest.Artifact{ArtifactType: sbomType, Subject: subjectOf(f.img), Data: []byte("sbom")}
	sbom := f.push(t, "", sbomA)
	f.api.Add(f.repo, f.img.Digest, registrytest.ReferrerDescriptor(sbom, sbomA))
	sigA := registrytest.Artifact{ArtifactType: sigType, Subject: subjectOf(sbom), Data: []byte("sig of sbom")}
	sig := f.push(t, "", sigA)
	f.api.Add(f.repo, sbom.Digest, registrytest.ReferrerDescriptor(sig, sigA))
	cosign := registrytest.Artifact{ConfigMediaType: ocispec.MediaTypeImageConfig, Data: []byte("cosign sig of sig")}
	csig := f.push(t, fallbackTag(sig.Digest)+".sig", cosign)
	// Loops: the cosign signature's own .sig tag names the SBOM, the
	// image's .att tag names the image itself.
	if _, err := f.reg.PushManifest(t.Context(), f.repo, fallbackTag(csig.Digest)+".sig", sbom.MediaType, sbom.Manifest); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.PushManifest(t.Context(), f.repo, fallbackTag(f.img.Digest)+".att", f.img.MediaType, f.img.Manifest); err != nil {
		t.Fatal(err)
	}
	all := []string{
		line(1, f.img.Digest, sbom.Digest, ""),
		line(2, sbom.Digest, sig.Digest, ""),
		line(3, sig.Digest, csig.Digest, fallbackTag(sig.Digest)+".sig"),
	}
	r := mustRef(t, f.reg.Ref(f.repo+":1"))
	for _, tt := range []struct {
		depth int
		want  []string
	}{{1, all[:1]}, {2, all[:2]}, {0, all}, {10, all}} {
		t.Run(fmt.Sprint("depth ", tt.depth), func(t *testing.T) {
			got, err := f.cl.Referrers(t.Context(), r, f.img.Descriptor(), registry.ReferrersOptions{Depth: tt.depth})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(found(got), tt.want) {
				t.Fatalf("Referrers = %q, want %q", found(got), tt.want)
			}
		})
	}
	t.Run("max", func(t *testing.T) {
		_, err := f.cl.Referrers(t.Context(), r, f.img.Descriptor(), registry.ReferrersOptions{Max: 2})
		if err == nil || !strings.Contains(err.Error(), "more than 2 referrers") {
			t.Fatalf("Referrers(Max 2) = %v, want an error saying more than 2", err)
		}
	})
}

// TestReferrersNone: a registry without the API and without any referrer
// costs the API's 404, one HEAD of the fallback tag and one per cosign tag;
// the client's next call skips the API.
func TestReferrersNone(t *testing.T) {
	t.Parallel()
	f := newReferrerFixture(t)
	f.withoutAPI()
	r := mustRef(t, f.reg.Ref(f.repo+":1"))
	got, err := f.cl.Referrers(t.Context(), r, f.img.Descriptor(), registry.ReferrersOptions{})
	if err != nil || len(got) != 0 {
		t.Fatalf("Referrers = %v, %v; want none", found(got), err)
	}
	m := "/v2/" + f.repo + "/manifests/" + fallbackTag(f.img.Digest)
	want := []string{"GET /v2/" + f.repo + "/referrers/" + f.img.Digest.String(), "HEAD " + m, "HEAD " + m + ".sig", "HEAD " + m + ".att", "HEAD " + m + ".sbom"}
	if got := f.log.list(); !slices.Equal(got, want) {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The client remembers that the registry has no API.
	got, err = f.cl.Referrers(t.Context(), r, f.img.Descriptor(), registry.ReferrersOptions{})
	if err != nil || len(got) != 0 {
		t.Fatalf("Referrers again = %v, %v; want none", found(got), err)
	}
	if got := f.log.list()[len(want):]; !slices.Equal(got, want[1:]) {
		t.Fatalf("requests the second time:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want[1:], "\n"))
	}
}

// TestReferrersAPILinks: a Link to another origin, or back to a page
// already read, ends the listing with an error instead of following it.
func TestReferrersAPILinks(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, link, want string }{
		{"another origin", `<http://elsewhere.example/v2/team/app/referrers/x?page=2>; rel="next"`, "another origin"},
		{"a loop", `<%s>; rel="next"`, "loops back"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newReferrerFixture(t)
			f.reg.Wrap(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if !strings.Contains(r.URL.Path, "/referrers/") {
						next.ServeHTTP(w, r)
						return
					}
					link := tt.link
					if strings.Contains(link, "%s") {
						link = fmt.Sprintf(link, r.URL.Path)
					}
					w.Header().Set("Link", link)
					w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
					w.Write([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
				})
			})
			_, err := f.cl.Referrers(t.Context(), mustRef(t, f.reg.Ref(f.repo+":1")), f.img.Descriptor(), registry.ReferrersOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Referrers = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}
