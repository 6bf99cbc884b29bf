package haul_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul"
	"github.com/haul-dev/haul/archive"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/rootfs"
)

// TestPullWithReferrers pulls an image that a signature refers to (by the
// fallback tag), with and without PullOptions.Referrers: only with it does
// the result count the signature, and the layout hold it.
func TestPullWithReferrers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	img, err := open.Push(ctx, "signed/app:1", appImage("amd64"))
	if err != nil {
		t.Fatal(err)
	}
	subject := ocispec.Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: img.Size}
	sig, err := open.PushArtifact(ctx, "signed/app@", registrytest.Artifact{ArtifactType: "application/example.sig", Subject: &subject, Data: []byte("signed")})
	if err != nil {
		t.Fatal(err)
	}
	listed := ocispec.Descriptor{MediaType: sig.MediaType, Digest: sig.Digest, Size: sig.Size, ArtifactType: "application/example.sig"}
	if _, err := open.PushFallbackIndex(ctx, "signed/app", img.Digest, []ocispec.Descriptor{listed}); err != nil {
		t.Fatal(err)
	}
	cl := client(t, haul.Config{})
	for _, want := range []int{-1, 1} { // -1: not asked
		dir := filepath.Join(t.TempDir(), "layout")
		res, err := cl.PullWith(ctx, []string{open.Ref("signed/app:1")}, haul.OCILayout(dir), haul.PullOptions{Referrers: want >= 0})
		if err != nil {
			t.Fatal(err)
		}
		got := -1
		if r := res.Images[0].Referrers; r != nil {
			got = *r
		}
		_, statErr := os.Stat(filepath.Join(dir, "blobs", "sha256", sig.Digest.Encoded()))
		if got != want || (statErr == nil) != (want > 0) {
			t.Errorf("Referrers %v: result says %d, signature in the layout: %v", want >= 0, got, statErr == nil)
		}
	}
}

// TestPullWithOutput streams an oci-archive to a writer (haul.Output with
// "-"), and unpacks a rootfs with a limit PullOptions.Unpack sets.
func TestPullWithOutput(t *testing.T) {
	t.Parallel()
	cl := client(t, haul.Config{})
	var buf bytes.Buffer
	res, err := cl.PullWith(t.Context(), []string{reg.Ref("team/app:1")}, haul.Output(pull.OCIArchive, "-", &buf), haul.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != pull.OCIArchive || res.Output != "-" {
		t.Errorf("result: %s to %s, want oci-archive to -", res.Format, res.Output)
	}
	names := map[string]bool{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = true
	}
	if !names["index.json"] || names["manifest.json"] {
		t.Errorf("an oci-archive has index.json and no manifest.json: %v", names)
	}
	dir := filepath.Join(t.TempDir(), "rootfs")
	_, err = cl.PullWith(t.Context(), []string{reg.Ref("team/app:1")}, haul.RootFS(dir), haul.PullOptions{Unpack: &rootfs.Config{MaxEntries: 1}})
	if err == nil {
		t.Error("a rootfs of 4 entries unpacked under MaxEntries 1")
	}
}

// TestExportWithImage exports one image of a bundle of two: without
// ExportOptions.Image it is ambiguous, with it the tar is that image's.
func TestExportWithImage(t *testing.T) {
	t.Parallel()
	cl := client(t, haul.Config{})
	bundle := filepath.Join(t.TempDir(), "bundle.tar")
	if _, err := cl.Pull(t.Context(), []string{reg.Ref("team/app:1"), reg.Ref("team/app:2")}, haul.DockerArchive(bundle)); err != nil {
		t.Fatal(err)
	}
	var ae *archive.AmbiguousError
	if _, err := cl.Export(t.Context(), bundle, io.Discard); !errors.As(err, &ae) {
		t.Fatalf("export of a bundle of two: %v, want an *archive.AmbiguousError", err)
	}
	var buf bytes.Buffer
	res, err := cl.ExportWith(t.Context(), bundle, &buf, haul.ExportOptions{Image: reg.Ref("team/app:2")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != "sha256:4f26e4fa0604701c49d628c337d28b50f28b556ef9acb1ad155fc657ff85e70d" || !bytes.Contains(buf.Bytes(), []byte("echo arm64")) {
		t.Errorf("exported %s (%s), want team/app:2's arm64 tree", res.Image, res.Digest)
	}
}
