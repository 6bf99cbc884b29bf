// Command digest prints the digest an image reference points to.
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/haul-dev/haul"
)

func main() {
	d, err := haul.Digest(context.Background(), os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d)
}
