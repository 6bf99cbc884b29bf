package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Commit is the git commit built, with "-dirty" when the work tree had
// changes, set by make with -ldflags "-X
// github.com/haul-dev/haul/internal/cli.Commit=…", since a build may not
// record it itself (GOFLAGS=-buildvcs=false); "": what the build recorded.
var Commit = ""

// versionInfo is what `haul version` prints, and its --json shape.
type versionInfo struct {
	Version  string `json:"version"`  // the release, or git describe's name for a build between them; "dev" without make
	Commit   string `json:"commit"`   // the git commit built; "unknown" when the build recorded none
	Modified bool   `json:"modified"` // the work tree had changes the commit lacks
	Go       string `json:"go"`       // the Go release that built haul
	Platform string `json:"platform"` // os/arch haul was built for
}

// buildVersion gathers versionInfo from Version and what the Go toolchain
// recorded in the binary (read is debug.ReadBuildInfo; tests give others).
func buildVersion(read func() (*debug.BuildInfo, bool)) versionInfo {
	v := versionInfo{Version: Version, Commit: "unknown", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := read()
	if !ok {
		bi = &debug.BuildInfo{}
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	if Commit != "" {
		v.Commit, v.Modified = strings.CutSuffix(Commit, "-dirty")
	}
	return v
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print haul's version, commit, Go version and platform",
		Long: `Print the version of haul, the git commit it was built from (with
"(modified)" when the work tree had changes), the Go release that built it,
and the platform it was built for. haul --version prints the version alone.`,
		Example: "  haul version\n  haul version --json | jq -r .commit",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildVersion(debug.ReadBuildInfo)
			if e.g.json {
				return e.printJSON(v)
			}
			commit := v.Commit
			if v.Modified {
				commit += " (modified)"
			}
			_, err := fmt.Fprintf(e.Stdout, "haul %s\ncommit:   %s\ngo:       %s\nplatform: %s\n", v.Version, commit, v.Go, v.Platform)
			return err
		},
	}
}
