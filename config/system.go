package config

import "net/netip"

// Mirror is a mirror of the images under an upstream name prefix, as a file
// configured it.
type Mirror struct {
	// Location is where the mirror is, as written: host[:port][/path], with
	// http:// or https:// when the file gave a scheme.
	Location string
	// Prefix is the upstream names the mirror stands in for: a registry
	// ("docker.io") or a namespace in one ("docker.io/library").
	Prefix string
	// Insecure allows plain HTTP and unverified TLS to the mirror, as docker's
	// and containers' "insecure" do.
	Insecure bool
	// DigestOnly keeps reads by tag away from the mirror: it serves content
	// by digest only (registries.conf's mirror-by-digest-only, pull-from-mirror).
	DigestOnly bool
	// Origin is where it was configured: "config.toml:12",
	// "registries.conf.d/10-mirrors.conf:4", "daemon.json registry-mirrors".
	Origin string
}

// SystemRegistry is what docker's or the containers tools' files say about a
// registry, or about a name prefix in one.
type SystemRegistry struct {
	// Prefix is the names the entry is for: "docker.io", "reg.local:5000",
	// "quay.io/team", or a wildcard "*.example.com".
	Prefix string
	// Location is where registries.conf says the prefix's images really are;
	// "": at Prefix.
	Location string
	// Insecure allows plain HTTP and unverified TLS (docker's
	// insecure-registries, registries.conf's insecure = true).
	Insecure bool
	// Blocked forbids pulls from the prefix (registries.conf's blocked = true).
	Blocked bool
	// Mirrors in the order they are to be tried.
	Mirrors []Mirror
	// Origin is the file and line of the entry.
	Origin string

	daemon bool // from daemon.json: Docker Hub's mirrors, or an insecure host
}

// InsecureNet is a CIDR of daemon.json's insecure-registries: registries at
// an IP address in it are insecure. (Docker also resolves host names to match
// them; haul matches IP literals only.)
type InsecureNet struct {
	Net    netip.Prefix
	Origin string
}

// System is what haul read from other tools' configuration files.
type System struct {
	// Registries are registries.conf's [[registry]] tables after its drop-ins
	// (a later table for the same prefix replaces an earlier one), then
	// daemon.json's registry-mirrors (as a "docker.io" entry) and its
	// insecure-registries hosts.
	Registries []SystemRegistry
	// InsecureNets are daemon.json's insecure-registries CIDRs.
	InsecureNets []InsecureNet
	// Files are the files read, in the order read.
	Files []string
	// Notes say what was read and is not used, for `haul config show`.
	Notes []string
}

// SystemPaths are where the other tools' files are; tests point them at
// fixtures.
type SystemPaths struct {
	DaemonJSON          string // /etc/docker/daemon.json
	RegistriesConf      string // /etc/containers/registries.conf
	RegistriesConfD     string // /etc/containers/registries.conf.d
	UserRegistriesConf  string // $XDG_CONFIG_HOME/containers/registries.conf; replaces RegistriesConf when present
	UserRegistriesConfD string // $XDG_CONFIG_HOME/containers/registries.conf.d; read after RegistriesConfD
	// CertsDirs are the roots of certs.d trees (HOST[:PORT]/ca.crt,
	// NAME.cert, NAME.key), searched in order: haul's own in
	// $XDG_CONFIG_HOME/haul/certs.d, docker's /etc/docker/certs.d, the
	// containers tools' /etc/containers/certs.d.
	CertsDirs []string
}
