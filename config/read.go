package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/haul-dev/haul/disk"
)

// DefaultSystemPaths are where docker and the containers tools keep their
// files on Linux. CONTAINERS_REGISTRIES_CONF names the one registries.conf
// to read, without drop-ins, as it does for podman and skopeo.
func DefaultSystemPaths(getenv func(string) string) SystemPaths {
	p := SystemPaths{
		DaemonJSON:      "/etc/docker/daemon.json",
		RegistriesConf:  "/etc/containers/registries.conf",
		RegistriesConfD: "/etc/containers/registries.conf.d",
		CertsDirs:       []string{"/etc/docker/certs.d", "/etc/containers/certs.d"},
	}
	home := userConfigHome(getenv)
	if home != "" {
		p.CertsDirs = append([]string{filepath.Join(home, "haul", "certs.d")}, p.CertsDirs...)
	}
	if f := getenv("CONTAINERS_REGISTRIES_CONF"); f != "" {
		p.RegistriesConf, p.RegistriesConfD = f, ""
		return p
	}
	if home != "" {
		p.UserRegistriesConf = filepath.Join(home, "containers", "registries.conf")
		p.UserRegistriesConfD = filepath.Join(home, "containers", "registries.conf.d")
	}
	return p
}

// userConfigHome is $XDG_CONFIG_HOME, or ~/.config (home's); "" without either.
func userConfigHome(getenv func(string) string) string {
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return d
	}
	if h := disk.Home(getenv); h != "" {
		return filepath.Join(h, ".config")
	}
	return ""
}

// ReadSystem reads the files at p: daemon.json, then registries.conf (the
// user's file instead of the system's when it exists) and the drop-ins of
// both drop-in directories in the lexical order of their names, a user
// drop-in replacing a system one of the same name. Absent files are skipped;
// a file that is present but unreadable or malformed is an error naming it
// and, where the parser knows it, the line.
func ReadSystem(p SystemPaths) (System, error) {
	var s System
	conf := p.RegistriesConf
	if p.UserRegistriesConf != "" && exists(p.UserRegistriesConf) {
		conf = p.UserRegistriesConf
	}
	files := []string{conf}
	dropIns, err := dropIns(p.RegistriesConfD, p.UserRegistriesConfD)
	if err != nil {
		return System{}, err
	}
	files = append(files, dropIns...)
	for _, f := range files {
		if err := s.read(f, s.readRegistriesConf); err != nil {
			return System{}, err
		}
	}
	if err := s.read(p.DaemonJSON, s.readDaemonJSON); err != nil {
		return System{}, err
	}
	return s, nil
}

// read reads path with parse; an absent file (or path "") is skipped.
func (s *System) read(path string, parse func(string, []byte) error) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	s.Files = append(s.Files, path)
	return parse(path, data)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// dropIns are the *.conf files of the drop-in directories, ordered by name; a
// later directory's file replaces an earlier one's of the same name.
func dropIns(dirs ...string) ([]string, error) {
	byName := map[string]string{}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		entries, err := os.ReadDir(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading drop-ins in %s: %w", d, err)
		}
		for _, e := range entries {
			if !e.IsDir() && filepath.Ext(e.Name()) == ".conf" {
				byName[e.Name()] = filepath.Join(d, e.Name())
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	files := make([]string, len(names))
	for i, n := range names {
		files[i] = byName[n]
	}
	return files, nil
}
