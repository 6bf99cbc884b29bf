package image

import (
	"encoding/json"
	"fmt"
	"io"
)

// MaxConfigSize bounds an image config read into memory: configs are a few
// KiB, and one that claims more is refused before a byte is read.
const MaxConfigSize = 32 << 20

// ReadConfig reads and decodes the image config d from what open returns,
// which the caller has made to verify the bytes against d (a registry's
// blob reader, a verified file); one over MaxConfigSize is refused before
// open is called.
func ReadConfig(d Descriptor, open func() (io.ReadCloser, error)) (Config, error) {
	var cfg Config
	if d.Size > MaxConfigSize {
		return cfg, fmt.Errorf("config %s is %d bytes, over the limit of %d", d.Digest, d.Size, MaxConfigSize)
	}
	rc, err := open()
	if err != nil {
		return cfg, err
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, MaxConfigSize+1))
	if err != nil {
		return cfg, fmt.Errorf("reading config %s: %w", d.Digest, err)
	}
	if err := json.Unmarshal(body, &cfg); err != nil {
		return cfg, fmt.Errorf("decoding config %s: %w", d.Digest, err)
	}
	return cfg, nil
}
