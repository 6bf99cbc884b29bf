package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeContext stores a docker context as docker's context store does.
func writeContext(t *testing.T, dir, name, meta string, tlsFiles ...string) {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	write(t, filepath.Join(dir, "contexts", "meta", id, "meta.json"), meta)
	for _, f := range tlsFiles {
		write(t, filepath.Join(dir, "contexts", "tls", id, "docker", f), "pem")
	}
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	dc := filepath.Join(home, "dc") // a DOCKER_CONFIG
	certs := filepath.Join(home, "certs")
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		write(t, filepath.Join(certs, f), "pem")
	}
	noKeys := filepath.Join(home, "cacert-only")
	write(t, filepath.Join(noKeys, "ca.pem"), "pem")
	writeContext(t, dc, "remote", `{"Name":"remote","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://10.0.0.5:2376","SkipTLSVerify":false}}}`,
		"ca.pem", "cert.pem", "key.pem")
	writeContext(t, dc, "rootless", `{"Name":"rootless","Endpoints":{"docker":{"Host":"unix:///run/user/1000/docker.sock"}}}`)
	writeContext(t, dc, "empty", `{"Name":"empty","Endpoints":{}}`)
	writeContext(t, dc, "far", `{"Name":"far","Endpoints":{"docker":{"Host":"ssh://me@far:2222"}}}`)
	current := filepath.Join(home, "current") // a DOCKER_CONFIG whose config.json names a context
	write(t, filepath.Join(current, "config.json"), `{"auths":{},"currentContext":"rootless"}`)
	writeContext(t, current, "rootless", `{"Name":"rootless","Endpoints":{"docker":{"Host":"unix:///run/user/1000/docker.sock"}}}`)
	dflt := filepath.Join(home, "dflt")
	write(t, filepath.Join(dflt, "config.json"), `{"currentContext":"default"}`)
	write(t, filepath.Join(home, "gone", "config.json"), `{"currentContext":"gone"}`)
	broken := filepath.Join(home, "broken")
	write(t, filepath.Join(broken, "config.json"), `{"currentContext":`)
	homeCtx := filepath.Join(home, "h") // HOME whose ~/.docker holds the context
	write(t, filepath.Join(homeCtx, ".docker", "config.json"), `{"currentContext":"rootless"}`)
	writeContext(t, filepath.Join(homeCtx, ".docker"), "rootless", `{"Endpoints":{"docker":{"Host":"unix:///home/me/docker.sock"}}}`)

	tests := []struct {
		name    string
		goos    string
		env     map[string]string
		want    Host // URL, and From when set
		tls     *TLSFiles
		wantErr string // part of the error; "" for none
		unsupp  bool   // the error is an *UnsupportedError
	}{
		{name: "nothing set: the default socket", env: map[string]string{"HOME": home},
			want: Host{URL: "unix:///var/run/docker.sock", From: "the default socket"}},
		{name: "nothing set on Windows: the named pipe, refused", goos: "windows", env: map[string]string{},
			want: Host{URL: DefaultWindowsHost}, wantErr: "does not yet speak to an engine over a named pipe", unsupp: true},
		{name: "DOCKER_HOST unix", env: map[string]string{"DOCKER_HOST": "unix:///tmp/d.sock"},
			want: Host{URL: "unix:///tmp/d.sock", From: "DOCKER_HOST"}},
		{name: "DOCKER_HOST tcp, plain", env: map[string]string{"DOCKER_HOST": "tcp://10.0.0.5:2375", "DOCKER_CERT_PATH": certs},
			want: Host{URL: "tcp://10.0.0.5:2375"}},
		{name: "DOCKER_HOST tcp with DOCKER_TLS_VERIFY", env: map[string]string{"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": certs},
			want: Host{URL: "tcp://h:2376"},
			tls:  &TLSFiles{CA: filepath.Join(certs, "ca.pem"), Cert: filepath.Join(certs, "cert.pem"), Key: filepath.Join(certs, "key.pem")}},
		{name: "DOCKER_TLS_VERIFY without client files", env: map[string]string{"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": noKeys},
			want: Host{URL: "tcp://h:2376"}, tls: &TLSFiles{CA: filepath.Join(noKeys, "ca.pem")}},
		{name: "DOCKER_TLS_VERIFY without DOCKER_CERT_PATH: the config directory", env: map[string]string{"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CONFIG": dc},
			want: Host{URL: "tcp://h:2376"}, tls: &TLSFiles{CA: filepath.Join(dc, "ca.pem")}},
		{name: "DOCKER_TLS alone: TLS, unverified", env: map[string]string{"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS": "1", "DOCKER_CERT_PATH": certs},
			want: Host{URL: "tcp://h:2376"},
			tls:  &TLSFiles{CA: filepath.Join(certs, "ca.pem"), Cert: filepath.Join(certs, "cert.pem"), Key: filepath.Join(certs, "key.pem"), SkipVerify: true}},
		{name: "DOCKER_TLS_VERIFY is for tcp only", env: map[string]string{"DOCKER_HOST": "unix:///d.sock", "DOCKER_TLS_VERIFY": "1"},
			want: Host{URL: "unix:///d.sock"}},
		{name: "ssh refused with the pipe to use", env: map[string]string{"DOCKER_HOST": "ssh://me@build.lan"},
			want: Host{URL: "ssh://me@build.lan"}, wantErr: "haul pull -o - REF | ssh me@build.lan docker load", unsupp: true},
		{name: "ssh with a port", env: map[string]string{"DOCKER_HOST": "ssh://me@build.lan:2222"},
			wantErr: "ssh -p 2222 me@build.lan docker load", unsupp: true},
		{name: "npipe off Windows", env: map[string]string{"DOCKER_HOST": "npipe:////./pipe/docker_engine"},
			wantErr: "a named pipe exists only on Windows", unsupp: true},
		{name: "fd:// is the daemon's", env: map[string]string{"DOCKER_HOST": "fd://"},
			wantErr: "haul does not speak fd://", unsupp: true},
		{name: "no scheme", env: map[string]string{"DOCKER_HOST": "/var/run/docker.sock"},
			wantErr: "not an address", unsupp: true},
		{name: "unix without a path", env: map[string]string{"DOCKER_HOST": "unix://"},
			wantErr: "needs a path", unsupp: true},
		{name: "DOCKER_HOST wins over DOCKER_CONTEXT", env: map[string]string{"DOCKER_HOST": "unix:///a.sock", "DOCKER_CONTEXT": "remote", "DOCKER_CONFIG": dc},
			want: Host{URL: "unix:///a.sock", From: "DOCKER_HOST"}},
		{name: "DOCKER_CONTEXT with TLS files", env: map[string]string{"DOCKER_CONTEXT": "remote", "DOCKER_CONFIG": dc},
			want: Host{URL: "tcp://10.0.0.5:2376"},
			tls:  &TLSFiles{CA: filepath.Join(dc, "contexts/tls", ctxID("remote"), "docker/ca.pem"), Cert: filepath.Join(dc, "contexts/tls", ctxID("remote"), "docker/cert.pem"), Key: filepath.Join(dc, "contexts/tls", ctxID("remote"), "docker/key.pem")}},
		{name: "DOCKER_CONTEXT unix", env: map[string]string{"DOCKER_CONTEXT": "rootless", "DOCKER_CONFIG": dc},
			want: Host{URL: "unix:///run/user/1000/docker.sock", From: `docker context "rootless" (` + filepath.Join(dc, "contexts/meta", ctxID("rootless"), "meta.json") + ")"}},
		{name: "DOCKER_CONTEXT=default", env: map[string]string{"DOCKER_CONTEXT": "default", "DOCKER_CONFIG": dc},
			want: Host{URL: "unix:///var/run/docker.sock"}},
		{name: "DOCKER_CONTEXT over currentContext", env: map[string]string{"DOCKER_CONTEXT": "default", "DOCKER_CONFIG": current},
			want: Host{URL: DefaultUnixHost}},
		{name: "DOCKER_CONTEXT unknown", env: map[string]string{"DOCKER_CONTEXT": "nope", "DOCKER_CONFIG": dc},
			wantErr: `docker context "nope" (from DOCKER_CONTEXT) does not exist: there is no ` + filepath.Join(dc, "contexts/meta", ctxID("nope"), "meta.json")},
		{name: "currentContext unknown", env: map[string]string{"DOCKER_CONFIG": filepath.Join(home, "gone")},
			wantErr: `docker context "gone" (from currentContext of ` + filepath.Join(home, "gone", "config.json") + ") does not exist"},
		{name: "a context without a docker endpoint", env: map[string]string{"DOCKER_CONTEXT": "empty", "DOCKER_CONFIG": dc},
			wantErr: "has no docker endpoint"},
		{name: "a context over ssh", env: map[string]string{"DOCKER_CONTEXT": "far", "DOCKER_CONFIG": dc},
			wantErr: "ssh -p 2222 me@far docker load", unsupp: true},
		{name: "currentContext of DOCKER_CONFIG/config.json", env: map[string]string{"DOCKER_CONFIG": current},
			want: Host{URL: "unix:///run/user/1000/docker.sock"}},
		{name: "currentContext of ~/.docker/config.json", env: map[string]string{"HOME": homeCtx},
			want: Host{URL: "unix:///home/me/docker.sock"}},
		{name: "currentContext default", env: map[string]string{"DOCKER_CONFIG": dflt},
			want: Host{URL: DefaultUnixHost}},
		{name: "a malformed config.json names itself", env: map[string]string{"DOCKER_CONFIG": broken},
			wantErr: filepath.Join(broken, "config.json")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			goos := tt.goos
			if goos == "" {
				goos = "linux"
			}
			h, err := resolveFor(goos, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				var ue *UnsupportedError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if errors.As(err, &ue) != tt.unsupp {
					t.Errorf("error %T %v: *UnsupportedError is %v, want %v", err, err, !tt.unsupp, tt.unsupp)
				}
				if tt.unsupp && tt.want.URL != "" && ue.Host.URL != tt.want.URL {
					t.Errorf("the error names %q, want %q", ue.Host.URL, tt.want.URL)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.URL != tt.want.URL || (tt.want.From != "" && h.From != tt.want.From) {
				t.Errorf("got %q from %q, want %q from %q", h.URL, h.From, tt.want.URL, tt.want.From)
			}
			switch {
			case (h.TLS == nil) != (tt.tls == nil):
				t.Errorf("TLS %+v, want %+v", h.TLS, tt.tls)
			case h.TLS != nil && *h.TLS != *tt.tls:
				t.Errorf("TLS %+v, want %+v", *h.TLS, *tt.tls)
			}
		})
	}
}

func ctxID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}
