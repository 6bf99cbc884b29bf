package cli

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/store"
)

const configShowLong = `Print the settings haul runs with and where each one came from: haul's own
config.toml ($XDG_CONFIG_HOME/haul/config.toml, or --config FILE), docker's
/etc/docker/daemon.json (registry-mirrors, insecure-registries), the containers
tools' registries.conf and its drop-ins (/etc/containers/registries.conf,
registries.conf.d/, $XDG_CONFIG_HOME/containers/; CONTAINERS_REGISTRIES_CONF
names one file instead), the command line, or the default; and the certs.d
directories searched for each registry's CA certificates and client pairs.

A registry's mirrors are tried in the order shown: --mirror's, config.toml's,
registries.conf's (a namespace's before the whole registry's), daemon.json's.

config.toml:

  platform = "linux/arm64"        # default --platform
  jobs = 8                        # default --jobs
  cache-dir = "~/cache/haul"      # default --cache-dir
  idle-timeout = "1m"             # default --idle-timeout
  cache-all = true                # default --cache-all

  [limits]                        # defaults of --max-size, --max-entries
  max-size = "10G"
  max-entries = 1000000

  [registries."docker.io"]
  mirrors = ["mirror.corp:5000", "http://10.0.0.5:5000/hub"]

  [registries."reg.lan:5000"]
  ca-file = "/etc/haul/reg-lan-ca.pem"
  insecure = false                # true: unverified TLS, and plain HTTP if it answers so
  plain-http = false              # true: http only

Flags win over the file. A file that is present but malformed is an error that
names its line; nothing is silently skipped.`

// shownValue is one setting and its origin, as config show prints it.
type shownValue struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Origin string `json:"origin"`
}

type shownMirror struct {
	Location   string `json:"location"`
	Names      string `json:"names"`
	DigestOnly bool   `json:"digestOnly,omitempty"`
	Insecure   bool   `json:"insecure,omitempty"`
	Origin     string `json:"origin"`
}

type shownRegistry struct {
	Name     string        `json:"name"`
	Settings []shownValue  `json:"settings,omitempty"`
	Mirrors  []shownMirror `json:"mirrors,omitempty"`
}

// shownConfig is what `haul config show` prints, and its --json shape.
type shownConfig struct {
	Files      []string        `json:"files"`
	Settings   []shownValue    `json:"settings"`
	Registries []shownRegistry `json:"registries"`
	Prefixes   []shownValue    `json:"prefixes,omitempty"`
	CertsDirs  []string        `json:"certsDirs"`
	Notes      []string        `json:"notes,omitempty"`
}

func newConfigShowCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "show",
		Short:   "Print the merged configuration and where each line came from",
		Long:    configShowLong,
		Example: "  haul config show\n  haul config show --json | jq '.registries[] | select(.name == \"docker.io\")'",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc := e.shownConfig(cmd)
			if e.g.json {
				return e.printJSON(sc)
			}
			return e.printConfig(sc)
		},
	}
}

// shownConfig gathers the settings of e and the command line of cmd.
func (e *env) shownConfig(cmd *cobra.Command) shownConfig {
	s := e.settings
	sc := shownConfig{Files: []string{}, Registries: []shownRegistry{}}
	if s.File.Path != "" {
		sc.Files = append(sc.Files, s.File.Path)
	}
	sc.Files = append(sc.Files, s.System.Files...)
	defaults := s.Defaults()
	cacheDir := store.DefaultDir(e.Getenv)
	for _, d := range []struct{ name, dflt string }{
		{"platform", image.FormatPlatform(image.Host())},
		{"jobs", fmt.Sprint(pull.DefaultJobs)},
		{"cache-dir", cacheDir},
		{"idle-timeout", cmd.Flags().Lookup("idle-timeout").DefValue},
		{"cache-all", "false"},
		{"max-size", "0"},
		{"max-entries", "0"},
	} {
		v := shownValue{Name: d.name, Value: d.dflt, Origin: "default"}
		if f, ok := defaults[d.name]; ok {
			v.Value, v.Origin = f.V, f.Origin
		}
		if fl := cmd.Flags().Lookup(d.name); fl != nil && fl.Changed {
			v.Value, v.Origin = fl.Value.String(), "flag --"+d.name
		}
		switch n, err := strconv.ParseInt(v.Value, 10, 64); {
		case (d.name == "max-size" || d.name == "max-entries") && v.Value == "0":
			v.Value = "no limit"
		case d.name == "max-size" && err == nil:
			v.Value += " (" + human(n) + ")"
		}
		sc.Settings = append(sc.Settings, v)
	}
	for _, name := range []string{"insecure", "plain-http", "ca-file"} {
		if fl := cmd.Flags().Lookup(name); fl != nil && fl.Changed {
			sc.Settings = append(sc.Settings, shownValue{Name: name, Value: fl.Value.String() + " (every registry)", Origin: "flag --" + name})
		}
	}
	for _, m := range e.g.mirrors {
		sc.Settings = append(sc.Settings, shownValue{Name: "mirror", Value: m + " (every registry of the references)", Origin: "flag --mirror"})
	}
	for _, name := range s.Registries() {
		r := s.Registry(name)
		sr := shownRegistry{Name: r.Name}
		if r.Insecure.Set() {
			sr.Settings = append(sr.Settings, shownValue{"insecure", fmt.Sprint(r.Insecure.V), r.Insecure.Origin})
		}
		if r.PlainHTTP.Set() {
			sr.Settings = append(sr.Settings, shownValue{"plain-http", fmt.Sprint(r.PlainHTTP.V), r.PlainHTTP.Origin})
		}
		if r.CAFile.Set() {
			sr.Settings = append(sr.Settings, shownValue{"ca-file", r.CAFile.V, r.CAFile.Origin})
		}
		if o := s.Blocked(r.Name); o != "" {
			sr.Settings = append(sr.Settings, shownValue{"blocked", "true", o})
		}
		for _, m := range r.Mirrors {
			sr.Mirrors = append(sr.Mirrors, shownMirror{Location: m.Location, Names: m.Prefix, DigestOnly: m.DigestOnly, Insecure: m.Insecure, Origin: m.Origin})
		}
		if len(sr.Settings) > 0 || len(sr.Mirrors) > 0 {
			sc.Registries = append(sc.Registries, sr)
		}
	}
	// What applies to names rather than to a whole registry.
	for _, sr := range s.System.Registries {
		host, _, _ := strings.Cut(sr.Prefix, "/")
		whole := host == sr.Prefix && !strings.HasPrefix(host, "*.")
		if sr.Blocked && !whole {
			sc.Prefixes = append(sc.Prefixes, shownValue{"blocked", sr.Prefix, sr.Origin})
		}
		if sr.Insecure && strings.HasPrefix(host, "*.") {
			sc.Prefixes = append(sc.Prefixes, shownValue{"insecure", sr.Prefix, sr.Origin})
		}
	}
	for _, n := range s.System.InsecureNets {
		sc.Prefixes = append(sc.Prefixes, shownValue{"insecure", n.Net.String(), n.Origin})
	}
	sc.Notes = s.System.Notes
	sc.CertsDirs = append([]string{}, s.CertsDirs...)
	return sc
}

// printConfig writes sc as a person reads it: a value, then where it came from.
func (e *env) printConfig(sc shownConfig) error {
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "files read:")
	if len(sc.Files) == 0 {
		fmt.Fprintln(tw, "  (none)")
	}
	for _, f := range sc.Files {
		fmt.Fprintf(tw, "  %s\n", f)
	}
	fmt.Fprintln(tw, "\nsettings:")
	for _, v := range sc.Settings {
		fmt.Fprintf(tw, "  %s\t%s\t# %s\n", v.Name, v.Value, v.Origin)
	}
	fmt.Fprintln(tw, "\nregistries:")
	if len(sc.Registries) == 0 {
		fmt.Fprintln(tw, "  (none configured)")
	}
	for _, r := range sc.Registries {
		fmt.Fprintf(tw, "  %s\n", r.Name)
		for _, v := range r.Settings {
			fmt.Fprintf(tw, "    %s\t%s\t# %s\n", v.Name, v.Value, v.Origin)
		}
		for _, m := range r.Mirrors {
			what := m.Location
			var how []string
			if m.Names != r.Name {
				how = append(how, "for "+m.Names)
			}
			if m.DigestOnly {
				how = append(how, "by digest only")
			}
			if m.Insecure {
				how = append(how, "insecure")
			}
			if len(how) > 0 {
				what += " (" + strings.Join(how, ", ") + ")"
			}
			fmt.Fprintf(tw, "    mirror\t%s\t# %s\n", what, m.Origin)
		}
	}
	if len(sc.Prefixes) > 0 {
		fmt.Fprintln(tw, "\nnames:")
		for _, v := range sc.Prefixes {
			fmt.Fprintf(tw, "  %s\t%s\t# %s\n", v.Name, v.Value, v.Origin)
		}
	}
	fmt.Fprintln(tw, "\ncerts.d (HOST[:PORT]/ca.crt, NAME.cert + NAME.key; searched in order):")
	for _, d := range sc.CertsDirs {
		fmt.Fprintf(tw, "  %s\n", d)
	}
	if len(sc.Notes) > 0 {
		fmt.Fprintln(tw, "\nnotes:")
		for _, n := range sc.Notes {
			fmt.Fprintf(tw, "  %s\n", n)
		}
	}
	return tw.Flush()
}
