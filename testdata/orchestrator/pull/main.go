// Command pull writes images to one tar that docker load reads:
// pull bundle.tar alpine:3.20 nginx.
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/haul-dev/haul"
)

func main() {
	res, err := haul.Pull(context.Background(), os.Args[2:], haul.DockerArchive(os.Args[1]))
	if err != nil {
		log.Fatal(err)
	}
	for _, img := range res.Images {
		fmt.Println(img.Reference, img.Digest)
	}
}
