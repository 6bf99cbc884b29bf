// Package config owns haul's settings as files give them: haul's own
// config.toml ($XDG_CONFIG_HOME/haul/config.toml, or a file named on the
// command line), and the mirrors and insecure registries people already
// configured for docker (/etc/docker/daemon.json) and for podman, skopeo and
// buildah (containers-registries.conf(5): registries.conf and its drop-ins).
//
// Load merges them into one Settings in which every value says where it came
// from (a file and line, a flag, the default), so that `haul config show` can
// tell a person why haul does what it does. A file that is present but
// malformed is an error naming its path and line; it is never skipped.
package config
