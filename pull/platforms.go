package pull

import (
	"strings"

	"github.com/haul-dev/haul/image"
)

// ParsePlatforms reads a platform setting as `haul pull --platform` takes
// it into c: "" (nothing changes), "all" (AllPlatforms), or a comma list of
// os/arch[/variant] (Platforms).
func (c *Config) ParsePlatforms(s string) error {
	switch strings.TrimSpace(s) {
	case "":
		return nil
	case "all":
		c.AllPlatforms = true
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		p, err := image.ParsePlatform(part)
		if err != nil {
			return err
		}
		c.Platforms = append(c.Platforms, p)
	}
	return nil
}
