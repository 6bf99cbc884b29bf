package cli

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/internal/registrytest"
)

// oldDockerSave writes a tar as docker save wrote it before Docker 25: no
// manifest, the config as <id>.json and one uncompressed layer.tar.
func oldDockerSave(t *testing.T, repoTag string) (path string, config digest.Digest) {
	t.Helper()
	layer := registrytest.Tar(map[string][]byte{"etc/os-release": []byte("ID=old")})
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{digest.FromBytes(layer)}}})
	id := digest.FromBytes(cfg)
	mj, _ := json.Marshal([]map[string]any{{"Config": id.Encoded() + ".json", "RepoTags": []string{repoTag}, "Layers": []string{"l1/layer.tar"}}})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		body []byte
	}{{id.Encoded() + ".json", cfg}, {"l1/layer.tar", layer}, {"manifest.json", mj}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg})
		tw.Write(f.body)
	}
	tw.Close()
	path = filepath.Join(t.TempDir(), "old.tar")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, id
}

func TestPushCommand(t *testing.T) {
	t.Parallel()
	src := registrytest.New(t, registrytest.Config{TokenAuth: true})
	dst := registrytest.New(t, registrytest.Config{TokenAuth: true})
	img := src.MustPush(t, "team/app:1", registrytest.RandomImage(96, 2, 2000))
	creds := authFile(t, dst.Host())
	env := homeEnv(t)
	env["XDG_CACHE_HOME"] = t.TempDir()
	dir := t.TempDir()
	bundle := filepath.Join(dir, "app.tar")
	if _, errOut, code := run(t, env, "", "pull", "-q", src.Ref("team/app:1"), "-o", bundle); code != 0 {
		t.Fatalf("pull: %s", errOut)
	}
	old, cfg := oldDockerSave(t, "example.com/team/old:1")
	q := regexp.QuoteMeta

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout *regexp.Regexp
		stderr *regexp.Regexp
	}{
		{name: "a haul tar under a prefix",
			args:   []string{"push", "--dest-authfile", creds, bundle, dst.Host() + "/mirror"},
			stderr: regexp.MustCompile(fmt.Sprintf(`(?m)^pushed %s to %s \(%s\): 3 blobs pushed \([0-9.]+ KiB\), 0 mounted, 0 skipped, in `, q(src.Ref("team/app:1")), q(dst.Ref("mirror/team/app:1")), img.Digest))},
		{name: "again: up to date",
			args:   []string{"push", "--dest-authfile", creds, bundle, dst.Host() + "/mirror"},
			stderr: regexp.MustCompile(`already there, nothing sent`)},
		{name: "to a full reference, --json",
			args:   []string{"--json", "push", "--dest-authfile", creds, bundle, dst.Ref("x/app:v2")},
			stdout: regexp.MustCompile(fmt.Sprintf(`"source": "%s",\s*"destination": "%s",\s*"digest": "%s",\s*"mediaType": "[^"]+",\s*"built": false`, q(src.Ref("team/app:1")), q(dst.Ref("x/app:v2")), img.Digest))},
		{name: "docker save before 25: a built manifest, said so",
			args:   []string{"push", "--dest-authfile", creds, old, dst.Host()},
			stderr: regexp.MustCompile(fmt.Sprintf(`example.com/team/old:1: built a manifest: sha256:[0-9a-f]{64} \(the archive held none; the config, %s, is the archive's\)\npushed example.com/team/old:1 to %s `, cfg, q(dst.Ref("team/old:1"))))},
		{name: "no credentials: the scope and haul login", code: 1,
			args:   []string{"push", bundle, dst.Host() + "/nologin"},
			stderr: regexp.MustCompile(`repository:nologin/team/app:(push,pull|pull,push)(.|\n)*haul login ` + q(dst.Host()))},
		{name: "a scheme in DST", code: 2,
			args:   []string{"push", bundle, "https://" + dst.Host()},
			stderr: regexp.MustCompile(`without a scheme`)},
		{name: "not an archive", code: 1,
			args:   []string{"push", creds, dst.Host()},
			stderr: regexp.MustCompile(`open archive .*auth.json`)},
		{name: "one argument", code: 2,
			args:   []string{"push", bundle},
			stderr: regexp.MustCompile(`push takes SRC and DST`)},
	}
	for _, tt := range tests { // in order: each builds on the one before
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(t, env, "", tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			if tt.stdout != nil && !tt.stdout.MatchString(out) {
				t.Errorf("stdout %q does not match %s", out, tt.stdout)
			}
			if tt.stderr != nil && !tt.stderr.MatchString(errOut) {
				t.Errorf("stderr %q does not match %s", errOut, tt.stderr)
			}
		})
	}
	out, _, code := run(t, env, "", "digest", dst.Ref("mirror/team/app:1"))
	if code != 0 || strings.TrimSpace(out) != img.Digest.String() {
		t.Errorf("the pushed image's digest is %q, want %s", out, img.Digest)
	}
}
