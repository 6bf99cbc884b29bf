package config

import (
	"net/netip"
	"strings"
)

// For is what the other tools' files say about the image name
// ("docker.io/library/alpine", a registry and repository): registries.conf's
// entry with the longest prefix covering the name (an exact prefix over a
// wildcard one), with daemon.json's Docker Hub mirrors after its own, and
// insecure when daemon.json's insecure-registries lists the registry or a
// network holding its IP address. The zero SystemRegistry (Prefix "") means
// that nothing applies.
func (s System) For(name string) SystemRegistry {
	var best SystemRegistry
	rank := -1
	var hub []Mirror
	insecure, insecureOrigin := false, ""
	host, _, _ := strings.Cut(name, "/")
	for _, r := range s.Registries {
		if r.daemon {
			switch {
			case len(r.Mirrors) > 0 && host == "docker.io":
				hub = append(hub, r.Mirrors...)
			case r.Insecure && r.Prefix == host:
				insecure, insecureOrigin = true, r.Origin
			}
			continue
		}
		if n := matchLen(r.Prefix, name); n > rank {
			best, rank = r, n
		}
	}
	if rank < 0 {
		best = SystemRegistry{}
	}
	best.Mirrors = append(append([]Mirror(nil), best.Mirrors...), hub...)
	if !insecure {
		insecureOrigin = s.insecureNet(host)
		insecure = insecureOrigin != ""
	}
	if insecure && !best.Insecure {
		best.Insecure = true
		if best.Prefix == "" {
			best.Prefix, best.Origin = host, insecureOrigin
		}
	}
	if best.Prefix == "" && len(best.Mirrors) > 0 {
		best.Prefix, best.Origin = "docker.io", best.Mirrors[0].Origin
	}
	return best
}

// matchLen ranks how well prefix covers name: -1 when it does not; an exact
// prefix at a path boundary ranks by its length, above any wildcard.
func matchLen(prefix, name string) int {
	if d, ok := strings.CutPrefix(prefix, "*."); ok {
		host, _, _ := strings.Cut(name, "/")
		h, _, _ := strings.Cut(host, ":")
		if strings.HasSuffix(h, "."+d) {
			return len(d)
		}
		return -1
	}
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok || rest != "" && rest[0] != '/' {
		return -1
	}
	return 1<<16 + len(prefix)
}

// insecureNet is the origin of the insecure network holding host's IP
// address, if host is one; "" otherwise.
func (s System) insecureNet(host string) string {
	h := host
	if hp, err := netip.ParseAddrPort(host); err == nil {
		h = hp.Addr().String()
	}
	ip, err := netip.ParseAddr(strings.Trim(h, "[]"))
	if err != nil {
		return ""
	}
	for _, n := range s.InsecureNets {
		if n.Net.Contains(ip.Unmap()) {
			return n.Origin
		}
	}
	return ""
}
