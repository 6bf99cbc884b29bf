package cli

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildVersion(t *testing.T) {
	// Not parallel: it sets Commit, as the linker would.
	info := func(settings ...debug.BuildSetting) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{GoVersion: "go1.99.1", Settings: settings}, true
		}
	}
	rev := debug.BuildSetting{Key: "vcs.revision", Value: "0123abcd"}
	tests := []struct {
		name     string
		read     func() (*debug.BuildInfo, bool)
		commit   string // as -X would set it
		want     string
		modified bool
		goVer    string
	}{
		{"no build info", func() (*debug.BuildInfo, bool) { return nil, false }, "", "unknown", false, runtime.Version()},
		{"no vcs", info(), "", "unknown", false, "go1.99.1"},
		{"vcs", info(rev), "", "0123abcd", false, "go1.99.1"},
		{"vcs modified", info(rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"}), "", "0123abcd", true, "go1.99.1"},
		{"linker", info(), "fedc9876", "fedc9876", false, "go1.99.1"},
		{"linker dirty", info(), "fedc9876-dirty", "fedc9876", true, "go1.99.1"},
		{"linker wins", info(rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"}), "fedc9876", "fedc9876", false, "go1.99.1"},
	}
	defer func(c string) { Commit = c }(Commit)
	for _, tt := range tests {
		Commit = tt.commit
		v := buildVersion(tt.read)
		if v.Commit != tt.want || v.Modified != tt.modified || v.Go != tt.goVer || v.Version != Version || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
			t.Errorf("%s: got %+v, want commit %q modified %v go %q", tt.name, v, tt.want, tt.modified, tt.goVer)
		}
	}
}

func TestVersionCommand(t *testing.T) {
	t.Parallel()
	env := homeEnv(t)
	out, errOut, code := run(t, env, "", "version")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []string{"haul " + Version, "commit:   ", "go:       go", "platform: " + runtime.GOOS + "/" + runtime.GOARCH}
	if len(lines) != len(want) {
		t.Fatalf("got %q", out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d is %q, want it to start %q", i+1, lines[i], w)
		}
	}
	out, _, code = run(t, env, "", "version", "--json")
	var v map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
		t.Fatalf("exit %d: %q", code, out)
	}
	if v["version"] != Version || v["go"] != runtime.Version() || v["jsonVersion"] != float64(JSONVersion) {
		t.Errorf("got %v", v)
	}
	if out, _, code := run(t, env, "", "--version"); code != 0 || out != "haul version "+Version+"\n" {
		t.Errorf("--version: exit %d, %q", code, out)
	}
}
