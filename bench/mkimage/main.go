// Command mkimage pushes the pull benchmark's deterministic synthetic images to
// a plain-HTTP registry, with nothing but net/http: layers are generated from a
// seeded ChaCha8 stream and uploaded as they are made (a streamed PATCH, then a
// PUT with the digest), so no layer ever touches this machine's disk.
//
//	go run ./bench/mkimage -registry 127.0.0.1:5000 -blobs blobs.txt
//
// Images (every byte a function of the seed):
//
//	bench/big:1     docker schema2, one uncompressed layer
//	                (application/vnd.docker.image.rootfs.diff.tar): a tar
//	                holding one 1 GiB file of random bytes (-big-mib)
//	bench/mid:1     the same shape as big, one 256 MiB file (-mid-mib)
//	bench/many:1    docker schema2, 40 uncompressed layers (-many-layers), each
//	                a tar holding one 10 MiB random file (-many-mib)
//	bench/s24:1     the same shape as many, 24 layers (-s24-layers) of one
//	                4 MiB file (-s24-mib)
//	bench/tiny:1    docker schema2, one gzip layer holding a 4 KiB file
//	bench/multi:1   OCI index: linux/amd64 + linux/arm64, each an OCI manifest
//	                with one small gzip layer
//
// -blobs FILE gets one line per blob of each image's linux/amd64 manifest
// ("REPO DIGEST SIZE", config first), for the curl limits in pull.sh.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/haul-dev/haul/internal/regpush"
)

const (
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerConfig   = "application/vnd.docker.container.image.v1+json"
	mtDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar"
	mtDockerLayerGz  = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mtOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mtOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mtOCIConfig      = "application/vnd.oci.image.config.v1+json"
	mtOCILayerGz     = "application/vnd.oci.image.layer.v1.tar+gzip"
)

var (
	registry = flag.String("registry", "", "registry host:port (plain HTTP)")
	blobsOut = flag.String("blobs", "", "write REPO DIGEST SIZE lines here")
	bigMiB   = flag.Int("big-mib", 1024, "size of bench/big's one file, MiB")
	manyN    = flag.Int("many-layers", 40, "layers of bench/many")
	manyMiB  = flag.Int("many-mib", 10, "size of each bench/many layer's file, MiB")
	midMiB   = flag.Int("mid-mib", 256, "size of bench/mid's one file, MiB")
	s24N     = flag.Int("s24-layers", 24, "layers of bench/s24")
	s24MiB   = flag.Int("s24-mib", 4, "size of each bench/s24 layer's file, MiB")
	only     = flag.String("only", "big,many,tiny,multi", "comma list of images to push (also mid, s24)")
	push     *regpush.Pusher // set by main, once -registry is known
	blobList strings.Builder
)

type desc struct {
	MediaType string    `json:"mediaType"`
	Digest    string    `json:"digest"`
	Size      int64     `json:"size"`
	Platform  *platform `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type manifest struct {
	SchemaVersion int    `json:"schemaVersion"`
	MediaType     string `json:"mediaType"`
	Config        desc   `json:"config"`
	Layers        []desc `json:"layers"`
}

type index struct {
	SchemaVersion int    `json:"schemaVersion"`
	MediaType     string `json:"mediaType"`
	Manifests     []desc `json:"manifests"`
}

var epoch = time.Unix(1700000000, 0).UTC()

// tarOneFile writes a tar with one regular file of size bytes read from src.
func tarOneFile(w io.Writer, name string, size int64, src io.Reader) error {
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644,
		ModTime: epoch, Format: tar.FormatPAX,
	}); err != nil {
		return err
	}
	if _, err := io.CopyN(tw, src, size); err != nil {
		return err
	}
	return tw.Close()
}

func seeded(seed uint64) io.Reader {
	var s [32]byte
	copy(s[:], fmt.Sprintf("haul-bench-%020d", seed))
	return rand.NewChaCha8(s)
}

func putManifest(repo, tag, mt string, v any) (desc, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return desc{}, err
	}
	d, err := push.Manifest(repo, tag, mt, b)
	return desc{MediaType: mt, Digest: d, Size: int64(len(b))}, err
}

func configJSON(arch string, diffIDs []string) []byte {
	b, _ := json.Marshal(map[string]any{
		"architecture": arch,
		"os":           "linux",
		"created":      epoch.Format(time.RFC3339),
		"config":       map[string]any{"Cmd": []string{"/bin/true"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	return b
}

// rawImage pushes a docker schema2 image of uncompressed single-file layers.
func rawImage(repo string, seeds []uint64, size int64) error {
	var layers []desc
	var diffs []string
	for i, seed := range seeds {
		name := fmt.Sprintf("data/layer-%02d.bin", i)
		d, n, err := push.Stream(repo, func(w io.Writer) error { return tarOneFile(w, name, size, seeded(seed)) })
		if err != nil {
			return err
		}
		layers = append(layers, desc{MediaType: mtDockerLayer, Digest: d, Size: n})
		diffs = append(diffs, d)
	}
	return finishImage(repo, "amd64", mtDockerManifest, mtDockerConfig, layers, diffs, true)
}

func finishImage(repo, arch, mt, cmt string, layers []desc, diffs []string, tag bool) error {
	_, err := finishImageDesc(repo, arch, mt, cmt, layers, diffs, tag)
	return err
}

func finishImageDesc(repo, arch, mt, cmt string, layers []desc, diffs []string, tag bool) (desc, error) {
	cfg := configJSON(arch, diffs)
	cd, err := push.Bytes(repo, cfg)
	if err != nil {
		return desc{}, err
	}
	m := manifest{SchemaVersion: 2, MediaType: mt, Config: desc{MediaType: cmt, Digest: cd, Size: int64(len(cfg))}, Layers: layers}
	ref := "1"
	if !tag {
		b, _ := json.Marshal(m)
		sum := sha256.Sum256(b)
		ref = "sha256:" + hex.EncodeToString(sum[:])
	}
	md, err := putManifest(repo, ref, mt, m)
	if err != nil {
		return desc{}, err
	}
	if arch == "amd64" {
		fmt.Fprintf(&blobList, "%s %s %d\n", repo, cd, len(cfg))
		for _, l := range layers {
			fmt.Fprintf(&blobList, "%s %s %d\n", repo, l.Digest, l.Size)
		}
	}
	return md, nil
}

// gzLayer pushes a small gzip layer and returns it with its diff ID.
func gzLayer(repo, mt string, seed uint64, size int64) (desc, string, error) {
	var tb bytes.Buffer
	if err := tarOneFile(&tb, "data/small.bin", size, seeded(seed)); err != nil {
		return desc{}, "", err
	}
	diff := sha256.Sum256(tb.Bytes())
	var gb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gb, gzip.BestSpeed)
	zw.Write(tb.Bytes())
	zw.Close()
	d, err := push.Bytes(repo, gb.Bytes())
	if err != nil {
		return desc{}, "", err
	}
	return desc{MediaType: mt, Digest: d, Size: int64(gb.Len())}, "sha256:" + hex.EncodeToString(diff[:]), nil
}

func run() error {
	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		want[s] = true
	}
	t0 := time.Now()
	// Each image's layers have seeds of their own, so no two images share a blob.
	for _, im := range []struct {
		name      string
		firstSeed uint64
		layers    int
		mib       int
	}{
		{"big", 1, 1, *bigMiB},
		{"mid", 2, 1, *midMiB},
		{"many", 100, *manyN, *manyMiB},
		{"s24", 300, *s24N, *s24MiB},
	} {
		if !want[im.name] {
			continue
		}
		var seeds []uint64
		for i := 0; i < im.layers; i++ {
			seeds = append(seeds, im.firstSeed+uint64(i))
		}
		if err := rawImage("bench/"+im.name, seeds, int64(im.mib)<<20); err != nil {
			return fmt.Errorf("bench/%s: %w", im.name, err)
		}
		fmt.Fprintf(os.Stderr, "mkimage: bench/%s:1 pushed (%s)\n", im.name, time.Since(t0).Round(time.Millisecond))
	}
	if want["tiny"] {
		l, diff, err := gzLayer("bench/tiny", mtDockerLayerGz, 7, 4096)
		if err == nil {
			err = finishImage("bench/tiny", "amd64", mtDockerManifest, mtDockerConfig, []desc{l}, []string{diff}, true)
		}
		if err != nil {
			return fmt.Errorf("bench/tiny: %w", err)
		}
	}
	if want["multi"] {
		idx := index{SchemaVersion: 2, MediaType: mtOCIIndex}
		for i, arch := range []string{"amd64", "arm64"} {
			l, diff, err := gzLayer("bench/multi", mtOCILayerGz, uint64(50+i), 64<<10)
			if err != nil {
				return fmt.Errorf("bench/multi: %w", err)
			}
			md, err := finishImageDesc("bench/multi", arch, mtOCIManifest, mtOCIConfig, []desc{l}, []string{diff}, false)
			if err != nil {
				return fmt.Errorf("bench/multi: %w", err)
			}
			md.Platform = &platform{Architecture: arch, OS: "linux"}
			idx.Manifests = append(idx.Manifests, md)
		}
		if _, err := putManifest("bench/multi", "1", mtOCIIndex, idx); err != nil {
			return fmt.Errorf("bench/multi: %w", err)
		}
	}
	fmt.Fprintf(os.Stderr, "mkimage: all pushed (%s)\n", time.Since(t0).Round(time.Millisecond))
	if *blobsOut != "" {
		return os.WriteFile(*blobsOut, []byte(blobList.String()), 0o644)
	}
	return nil
}

func main() {
	flag.Parse()
	if *registry == "" {
		fmt.Fprintln(os.Stderr, "mkimage: -registry is required")
		os.Exit(2)
	}
	push = &regpush.Pusher{Registry: *registry, Client: &http.Client{Timeout: 10 * time.Minute}}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}
