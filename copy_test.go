package haul_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haul-dev/haul"
	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/registry"
)

// TestCopyWithCredentials gives each side of a copy within reg its own
// credentials: the destination's alone may push there, so a copy whose
// DestCredentials are anonymous fails, and one whose SourceCredentials
// are anonymous (reg lets anyone pull) goes.
func TestCopyWithCredentials(t *testing.T) {
	t.Parallel()
	host := reg.Host()
	asAlice := auth.Static{Registry: host, Cred: alice}
	cases := []struct {
		name     string
		src, dst auth.Source
		ok       bool
	}{
		{"alice writes", auth.Static{}, asAlice, true},
		{"nobody writes", asAlice, auth.Static{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cl, err := haul.New(haul.Config{NoSettings: true, NoCache: true, Credentials: auth.Static{}})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			dst := reg.Ref("creds/" + map[bool]string{true: "ok", false: "refused"}[tc.ok])
			res, err := cl.CopyWith(t.Context(), reg.Ref("team/app:1"), dst, haul.CopyOptions{SourceCredentials: tc.src, DestCredentials: tc.dst})
			var re *registry.Error
			switch {
			case tc.ok && err != nil:
				t.Fatal(err)
			case tc.ok:
				if got := res.Copies[0].Destination; got != dst+":1" {
					t.Errorf("destination %s, want %s:1", got, dst)
				}
			case !errors.As(err, &re) || re.Status != 401 && re.Status != 403:
				t.Fatalf("anonymous push: %v, want a 401 or 403", err)
			}
		})
	}
}

// TestCopyWithPlatform copies one image of an index, then the same again:
// the second is up to date, and the result marshals as haul copy --json.
func TestCopyWithPlatform(t *testing.T) {
	t.Parallel()
	cl := client(t, haul.Config{})
	arm := image.Platform{OS: "linux", Architecture: "arm64"}
	o := haul.CopyOptions{Platforms: []image.Platform{arm}, NoReferrers: true}
	for i, upToDate := range []bool{false, true} {
		res, err := cl.CopyWith(t.Context(), reg.Ref("team/multi:1"), reg.Ref("platform/arm64"), o)
		if err != nil {
			t.Fatal(err)
		}
		c := res.Copies[0]
		if c.Platform != "linux/arm64" || c.UpToDate != upToDate || c.Digest != "sha256:4f26e4fa0604701c49d628c337d28b50f28b556ef9acb1ad155fc657ff85e70d" {
			t.Errorf("copy %d: %+v", i, c)
		}
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Copies []map[string]any `json:"copies"`
		}
		if err := json.Unmarshal(b, &v); err != nil || len(v.Copies) != 1 || v.Copies[0]["upToDate"] != upToDate || v.Copies[0]["pushed"] == nil {
			t.Errorf("copy %d: JSON %s", i, b)
		}
	}
}

// TestCopyStopped copies with Stop closed before it starts: nothing is
// put, and the error says the uploads were stopped.
func TestCopyStopped(t *testing.T) {
	t.Parallel()
	cl := client(t, haul.Config{})
	stop := make(chan struct{})
	close(stop)
	_, err := cl.CopyWith(t.Context(), reg.Ref("team/app:2"), reg.Ref("stopped/app"), haul.CopyOptions{Stop: stop})
	if !errors.Is(err, registry.ErrUploadStopped) {
		t.Fatalf("err = %v, want registry.ErrUploadStopped", err)
	}
	if _, err := cl.Digest(t.Context(), reg.Ref("stopped/app:2")); err == nil {
		t.Error("a stopped copy put the manifest")
	}
}

// TestPushWith pushes a bundle with KeepRegistry, and a missing archive.
func TestPushWith(t *testing.T) {
	t.Parallel()
	cl := client(t, haul.Config{})
	bundle := filepath.Join(t.TempDir(), "bundle.tar")
	if _, err := cl.Pull(t.Context(), []string{reg.Ref("team/app:1")}, haul.DockerArchive(bundle)); err != nil {
		t.Fatal(err)
	}
	res, err := cl.PushWith(t.Context(), bundle, reg.Ref("kept"), haul.CopyOptions{KeepRegistry: true})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Pushes[0]
	want := reg.Ref("kept/" + strings.ReplaceAll(reg.Host(), ":", "_") + "/team/app:1")
	if p.Destination != want || p.Built || p.Config == "" {
		t.Errorf("pushed %+v, want %s, not built, with its config", p, want)
	}
	if _, err := cl.Push(t.Context(), filepath.Join(t.TempDir(), "none.tar"), reg.Ref("kept")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("push of a missing archive: %v", err)
	}
}

// TestCheckCopy checks a copy before and after it is made: due, then up
// to date; and with several platforms, says which images of the index go.
func TestCheckCopy(t *testing.T) {
	t.Parallel()
	cl := client(t, haul.Config{})
	ctx := t.Context()
	src, dst := reg.Ref("team/multi:1"), reg.Ref("checked/multi:1")
	for _, copied := range []bool{false, true} {
		chk, err := cl.CheckCopy(ctx, src, dst, haul.CopyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if chk.UpToDate != copied || chk.Digest != "sha256:62325d8472fca56ee183559b53c834ad82888de0eea9b18dc8d7e670d55ff5bf" || chk.Subset != nil {
			t.Errorf("copied %v: %+v", copied, chk)
		}
		if !copied {
			if _, err := cl.Copy(ctx, src, dst); err != nil {
				t.Fatal(err)
			}
		}
	}
	two := []image.Platform{{OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "amd64"}}
	chk, err := cl.CheckCopy(ctx, src, reg.Ref("checked/two:1"), haul.CopyOptions{Platforms: two})
	if err != nil {
		t.Fatal(err)
	}
	if chk.UpToDate || chk.Subset == nil || !chk.Subset.Whole() || len(chk.Subset.Platforms) != 2 {
		t.Errorf("two platforms of two: %+v", chk)
	}
}
