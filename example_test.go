package haul_test

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/haul-dev/haul"
)

// The examples name images on the in-process registries TestMain started,
// whose host:port they leave out of what they print.

func ExampleDigest() {
	d, err := haul.Digest(context.Background(), reg.Ref("team/app:1"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d)
	// Output:
	// sha256:9b0e200758a654535354d5191643e2d4745cea2c52d0a12183d6ee5c04974616
}

func ExampleInspect() {
	img, err := haul.Inspect(context.Background(), reg.Ref("team/multi:1"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.MediaType)
	for _, p := range img.Platforms {
		fmt.Println(p.Platform, p.Digest)
	}
	fmt.Println(len(img.Layers), "layers,", img.TotalSize, "bytes")
	// Output:
	// application/vnd.oci.image.index.v1+json
	// linux/amd64 sha256:9b0e200758a654535354d5191643e2d4745cea2c52d0a12183d6ee5c04974616
	// linux/arm64 sha256:4f26e4fa0604701c49d628c337d28b50f28b556ef9acb1ad155fc657ff85e70d
	// 2 layers, 5120 bytes
}

func ExampleTags() {
	tags, err := haul.Tags(context.Background(), reg.Ref("team/app"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tags)
	// Output:
	// [1 2]
}

func ExampleManifest() {
	m, err := haul.Manifest(context.Background(), reg.Ref("team/app:1"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.MediaType, m.Digest, len(m.Bytes) == int(m.Size))
	// Output:
	// application/vnd.oci.image.manifest.v1+json sha256:9b0e200758a654535354d5191643e2d4745cea2c52d0a12183d6ee5c04974616 true
}

func ExampleImageConfig() {
	c, err := haul.ImageConfig(context.Background(), reg.Ref("team/app:2"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Platform, c.Digest, c.Config.RootFS.DiffIDs[0])
	// Output:
	// linux/arm64 sha256:25589625c73548cdd75ef69d457cb5c1b8288e47e2f5054493c2a4b3eb292d3b sha256:4bac6a8753c9d9cdf5745d1ba25023b96118f12977b7d50abfdd9934915f7b91
}

func ExampleBlob() {
	ctx := context.Background()
	c, err := haul.ImageConfig(ctx, reg.Ref("team/app:1"))
	if err != nil {
		log.Fatal(err)
	}
	rc, err := haul.Blob(ctx, reg.Ref("team/app@"+c.Digest.String()))
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc) // verified at EOF: an error instead of io.EOF if the bytes are wrong
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(b) > 0, string(b) == string(c.Bytes))
	// Output:
	// true true
}

func ExamplePull() {
	dir, err := os.MkdirTemp("", "example-pull-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	res, err := haul.Pull(context.Background(), []string{reg.Ref("team/app:1"), reg.Ref("team/app:2")},
		haul.DockerArchive(filepath.Join(dir, "bundle.tar")))
	if err != nil {
		log.Fatal(err)
	}
	for _, img := range res.Images {
		fmt.Println(img.Platform, img.Manifest, img.Config)
	}
	fmt.Println(res.Format, res.Blobs, "blobs")
	// Output:
	// linux/amd64 sha256:9b0e200758a654535354d5191643e2d4745cea2c52d0a12183d6ee5c04974616 sha256:d9a0b1304ce8c86a717ddfcf3aa3e153bc18cdaf06731bfa2e6bbfd412e2df35
	// linux/arm64 sha256:4f26e4fa0604701c49d628c337d28b50f28b556ef9acb1ad155fc657ff85e70d sha256:25589625c73548cdd75ef69d457cb5c1b8288e47e2f5054493c2a4b3eb292d3b
	// docker 7 blobs
}

func ExampleWriter() {
	var names []string
	pr, pw := io.Pipe()
	go func() {
		_, err := haul.Pull(context.Background(), []string{reg.Ref("team/app:1")}, haul.Writer(pw))
		pw.CloseWithError(err)
	}()
	tr := tar.NewReader(pr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if !strings.HasPrefix(h.Name, "blobs/") {
			names = append(names, h.Name)
		}
	}
	fmt.Println(names)
	// Output:
	// [index.json manifest.json oci-layout repositories]
}

func ExampleExport() {
	var files []string
	pr, pw := io.Pipe()
	go func() {
		_, err := haul.Export(context.Background(), reg.Ref("team/app:1"), pw)
		pw.CloseWithError(err)
	}()
	tr := tar.NewReader(pr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		files = append(files, h.Name)
	}
	fmt.Println(files)
	// Output:
	// [app/ app/run etc/ etc/motd]
}

func ExampleCopy() {
	ctx := context.Background()
	res, err := haul.Copy(ctx, reg.Ref("team/multi:1"), open.Ref("copies/multi"))
	if err != nil {
		log.Fatal(err)
	}
	c := res.Copies[0]
	fmt.Println(c.Digest, c.Manifests, "manifests,", c.Pushed.Blobs, "blobs pushed")
	d, err := haul.Digest(ctx, open.Ref("copies/multi:1")) // the tag came from the source
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d == c.Digest)
	// Output:
	// sha256:62325d8472fca56ee183559b53c834ad82888de0eea9b18dc8d7e670d55ff5bf 3 manifests, 5 blobs pushed
	// true
}

func ExampleClient_CopyWith() {
	ctx := context.Background()
	c, err := haul.New(haul.Config{NoSettings: true, NoCache: true})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	res, err := c.CopyWith(ctx, reg.Ref("team/app"), open.Ref("all-tags/app"), haul.CopyOptions{AllTags: true})
	if err != nil {
		log.Fatal(err)
	}
	for _, cp := range res.Copies {
		fmt.Println(strings.TrimPrefix(cp.Destination, open.Ref("")), cp.Digest)
	}
	// Output:
	// all-tags/app:1 sha256:9b0e200758a654535354d5191643e2d4745cea2c52d0a12183d6ee5c04974616
	// all-tags/app:2 sha256:4f26e4fa0604701c49d628c337d28b50f28b556ef9acb1ad155fc657ff85e70d
}

func ExamplePush() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "example-push-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bundle := filepath.Join(dir, "bundle.tar")
	if _, err := haul.Pull(ctx, []string{reg.Ref("team/app:2")}, haul.DockerArchive(bundle)); err != nil {
		log.Fatal(err)
	}
	res, err := haul.Push(ctx, bundle, open.Ref("air-gap")) // under its own path: air-gap/team/app:2
	if err != nil {
		log.Fatal(err)
	}
	p := res.Pushes[0]
	fmt.Println(strings.TrimPrefix(p.Destination, open.Ref("")), p.Digest)
	d, err := haul.Digest(ctx, open.Ref("air-gap/team/app:2"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d == p.Digest)
	// Output:
	// air-gap/team/app:2 sha256:4f26e4fa0604701c49d628c337d28b50f28b556ef9acb1ad155fc657ff85e70d
	// true
}

func ExampleNew() {
	ctx := context.Background()
	c, err := haul.New(haul.Config{
		Platform:   "linux/arm64",
		Login:      alice, // for the registries the references name, never their mirrors
		NoSettings: true,  // no config.toml, registries.conf or daemon.json
		NoCache:    true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	img, err := c.Inspect(ctx, reg.Ref("team/multi:1"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.Image.Platform, img.Image.Digest)
	if _, err := c.Copy(ctx, reg.Ref("team/multi:1"), reg.Ref("team/arm64:1")); err != nil { // one platform: that image alone
		log.Fatal(err)
	}
	d, err := c.Digest(ctx, reg.Ref("team/arm64:1"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d == img.Image.Digest)
	// Output:
	// linux/arm64 sha256:4f26e4fa0604701c49d628c337d28b50f28b556ef9acb1ad155fc657ff85e70d
	// true
}

func ExampleRootFS() {
	dir, err := os.MkdirTemp("", "example-rootfs-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	root := filepath.Join(dir, "rootfs") // absent or empty
	if _, err := haul.Pull(context.Background(), []string{reg.Ref("team/app:2")}, haul.RootFS(root)); err != nil {
		log.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "app", "run"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(b))
	// Output:
	// #!/bin/sh
	// echo arm64
}

func ExampleOCILayout() {
	dir, err := os.MkdirTemp("", "example-layout-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	layout := filepath.Join(dir, "layout")
	for _, name := range []string{"team/app:1", "team/app:2"} { // a second pull adds to the layout
		if _, err := haul.Pull(context.Background(), []string{reg.Ref(name)}, haul.OCILayout(layout)); err != nil {
			log.Fatal(err)
		}
	}
	blobs, err := os.ReadDir(filepath.Join(layout, "blobs", "sha256"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(blobs), "blobs")
	// Output:
	// 7 blobs
}

func ExampleClient_Resolve() {
	c, err := haul.New(haul.Config{Platform: "linux/arm64", NoSettings: true, NoCache: true})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	res, err := c.Resolve(context.Background(), reg.Ref("team/multi:1"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Platform, res.Digest)
	fmt.Println("from", res.Index)
	// Output:
	// linux/arm64 sha256:4f26e4fa0604701c49d628c337d28b50f28b556ef9acb1ad155fc657ff85e70d
	// from sha256:62325d8472fca56ee183559b53c834ad82888de0eea9b18dc8d7e670d55ff5bf
}
