// Command devregistry runs registrytest's in-process registry on a fixed
// address, seeded with demo images, so haul can be tried with no internet
// (make demo):
//
//	go run ./tools/devregistry -addr 127.0.0.1:5055
//
// It prints one line per seeded image, then "ready http://ADDR", and runs
// until SIGINT or SIGTERM. Repositories under private/ need Alice's
// credentials (registrytest.Alice / registrytest.AlicePassword).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul/internal/registrytest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5055", "registry listen address")
	token := flag.Bool("token", true, "require Bearer tokens from the token server (false: open registry)")
	seed := flag.Bool("seed", true, "push the demo images")
	dir := flag.String("dir", "", "keep the registry's data on disk under this directory (default: in memory, where every chunk written copies the blob so far)")
	flag.Parse()

	if err := run(registrytest.Config{TokenAuth: *token, Private: []string{"private/"}, Addr: *addr, Dir: *dir}, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "devregistry:", err)
		os.Exit(1)
	}
}

func run(c registrytest.Config, seed bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	reg, err := registrytest.Start(c)
	if err != nil {
		return err
	}
	defer reg.Close()

	if seed {
		if err := seedDemo(ctx, reg); err != nil {
			return err
		}
	}
	if reg.Realm() != "" {
		fmt.Printf("token realm %s (user %s, password %s)\n", reg.Realm(), registrytest.Alice, registrytest.AlicePassword)
	}
	fmt.Printf("ready %s\n", reg.URL())
	<-ctx.Done()
	return reg.Close()
}

func seedDemo(ctx context.Context, reg *registrytest.Registry) error {
	platforms := []ocispec.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "arm64"},
		{OS: "linux", Architecture: "arm", Variant: "v7"},
	}
	hello := registrytest.IndexSpec{OCI: true, Attestation: true}
	for _, pl := range platforms {
		hello.Images = append(hello.Images, demoImage("hello", pl))
	}
	for _, tag := range []string{"demo/hello:latest", "demo/hello:1.0"} {
		p, err := reg.PushIndex(ctx, tag, hello)
		if err != nil {
			return err
		}
		fmt.Printf("seeded %s %s %s\n", reg.Ref(tag), p.Digest, p.MediaType)
	}
	singles := []struct {
		tag string
		img registrytest.Image
	}{
		{"demo/tiny:latest", demoImage("tiny", ocispec.Platform{})},
		{"private/secret:1", demoImage("secret", ocispec.Platform{})},
	}
	for _, s := range singles {
		p, err := reg.Push(ctx, s.tag, s.img)
		if err != nil {
			return err
		}
		fmt.Printf("seeded %s %s %s\n", reg.Ref(s.tag), p.Digest, p.MediaType)
	}
	return nil
}

// demoImage is a two-layer image whose files say what they are.
func demoImage(name string, pl ocispec.Platform) registrytest.Image {
	if pl.OS == "" {
		pl = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	}
	plat := pl.OS + "/" + pl.Architecture
	if pl.Variant != "" {
		plat += "/" + pl.Variant
	}
	return registrytest.Image{
		OCI:      true,
		Platform: pl,
		Layers: [][]byte{
			registrytest.Layer(map[string][]byte{
				"etc/":           nil,
				"etc/os-release": []byte("NAME=\"haul demo\"\nID=hauldemo\n"),
			}),
			registrytest.Layer(map[string][]byte{
				"hello.txt": []byte(fmt.Sprintf("Hello from %s (%s), pulled by haul with no Docker daemon.\n", name, plat)),
			}),
		},
	}
}
