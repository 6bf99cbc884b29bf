package image

import (
	"fmt"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/cpu"
)

// ParsePlatform reads "os/arch[/variant]", as docker's --platform takes it.
// A bare "arch" is not accepted: the OS is never guessed.
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" || (len(parts) == 3 && parts[2] == "") {
		return Platform{}, fmt.Errorf("platform %q: want os/arch or os/arch/variant, as in linux/arm64 or linux/arm/v7", s)
	}
	p := Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return Normalize(p), nil
}

// FormatPlatform writes p as os/arch[/variant].
func FormatPlatform(p Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Normalize spells a platform the way containerd's platforms package does, so that
// equal platforms compare equal: x86_64 is amd64, aarch64 is arm64, and arm64's
// default variant v8 is dropped.
func Normalize(p Platform) Platform {
	p.OS = strings.ToLower(p.OS)
	switch strings.ToLower(p.Architecture) {
	case "x86_64", "x86-64", "amd64":
		p.Architecture = "amd64"
		if p.Variant == "v1" {
			p.Variant = ""
		}
	case "aarch64", "arm64":
		p.Architecture = "arm64"
		if p.Variant == "v8" || p.Variant == "8" {
			p.Variant = ""
		}
	case "armhf":
		p.Architecture, p.Variant = "arm", "v7"
	case "armel":
		p.Architecture, p.Variant = "arm", "v6"
	case "arm":
		if p.Variant == "" {
			p.Variant = "v7"
		} else if len(p.Variant) == 1 {
			p.Variant = "v" + p.Variant
		}
	case "i386", "386":
		p.Architecture = "386"
	default:
		p.Architecture = strings.ToLower(p.Architecture)
	}
	return p
}

// Host is the platform haul pulls by default: always linux (container images are
// linux images even when haul runs on a Mac), with this machine's architecture.
func Host() Platform {
	p := Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm" {
		p.Variant = "v7"
		if !cpu.ARM.HasVFPv3 {
			p.Variant = "v6"
		}
	}
	return Normalize(p)
}

// Matches reports whether an image built for have runs on want: equal OS and
// architecture, and a variant that want can run (arm/v7 runs v6 and v5; an empty
// variant in want accepts any).
func Matches(want, have Platform) bool {
	want, have = Normalize(want), Normalize(have)
	if want.OS != have.OS || want.Architecture != have.Architecture {
		return false
	}
	if want.Variant == "" || want.Variant == have.Variant {
		return true
	}
	if want.Architecture == "arm" {
		return armLevel(have.Variant) > 0 && armLevel(have.Variant) <= armLevel(want.Variant)
	}
	return false
}

func armLevel(v string) int {
	switch v {
	case "v5":
		return 5
	case "v6":
		return 6
	case "v7":
		return 7
	case "v8":
		return 8
	}
	return 0
}

// IsAttestation reports whether an index entry is not an image to run but an
// attestation or signature, as buildx writes them (unknown/unknown platform, or a
// vnd.docker.reference.type annotation).
func IsAttestation(d Descriptor) bool {
	if _, ok := d.Annotations["vnd.docker.reference.type"]; ok {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// NoMatchError says that an index holds no image for the wanted platform, and which it has.
type NoMatchError struct {
	Want      Platform
	Available []Platform
}

func (e *NoMatchError) Error() string {
	names := make([]string, 0, len(e.Available))
	for _, p := range e.Available {
		names = append(names, FormatPlatform(p))
	}
	if len(names) == 0 {
		return fmt.Sprintf("no image for platform %s: the index lists no platforms", FormatPlatform(e.Want))
	}
	return fmt.Sprintf("no image for platform %s; the index has %s (choose one with --platform)", FormatPlatform(e.Want), strings.Join(names, ", "))
}

// PlatformError says that an image manifest (not an index: it has no other
// platform) was asked for a platform its config does not run on.
type PlatformError struct {
	Want, Have Platform
}

func (e *PlatformError) Error() string {
	return fmt.Sprintf("the image is for %s, not %s: it is a single-platform image, with no index to choose from (drop --platform, or name an image built for %s)",
		FormatPlatform(e.Have), FormatPlatform(e.Want), FormatPlatform(e.Want))
}

// CheckPlatform returns a *PlatformError unless an image whose config is cfg
// runs on want (Matches). A config that names no OS or architecture passes:
// there is nothing to compare.
func CheckPlatform(want Platform, cfg Config) error {
	have := cfg.Platform
	if have.OS == "" || have.Architecture == "" {
		return nil
	}
	if !Matches(want, have) {
		return &PlatformError{Want: Normalize(want), Have: Normalize(have)}
	}
	return nil
}

// Select picks the entry of idx that best serves want: an exact variant match
// first, then the highest compatible variant. Attestations are never chosen.
func Select(idx *Index, want Platform) (Descriptor, error) {
	best, bestScore := -1, -1
	var available []Platform
	for i, d := range idx.Manifests {
		if IsAttestation(d) || d.Platform == nil {
			continue
		}
		available = append(available, *d.Platform)
		if !Matches(want, *d.Platform) {
			continue
		}
		score := 1
		have := Normalize(*d.Platform)
		if have.Variant == Normalize(want).Variant {
			score = 100
		} else if have.Architecture == "arm" {
			score = armLevel(have.Variant)
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	if best < 0 {
		slices.SortFunc(available, func(a, b Platform) int { return strings.Compare(FormatPlatform(a), FormatPlatform(b)) })
		return Descriptor{}, &NoMatchError{Want: want, Available: slices.CompactFunc(available, func(a, b Platform) bool { return FormatPlatform(a) == FormatPlatform(b) })}
	}
	return idx.Manifests[best], nil
}
