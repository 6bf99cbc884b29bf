package cli

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haul-dev/haul/config"
	"github.com/haul-dev/haul/internal/registrytest"
)

// syncBuffer is a bytes.Buffer that the interrupt watcher and the command
// may write at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// blockedReader is a stdin that gives nothing until it is closed, as a
// terminal nobody types at: reading it heeds no context.
type blockedReader struct {
	reading chan struct{} // closed when the first Read starts
	once    sync.Once
	closed  chan struct{}
}

func (r *blockedReader) Read([]byte) (int, error) {
	r.once.Do(func() { close(r.reading) })
	<-r.closed
	return 0, io.EOF
}

// TestInterrupts sends interrupts through IO.Interrupts: the first cancels
// the command, which says how it ended; the second, or the first while
// haul waits on something no context cancels, exits at once with 130.
func TestInterrupts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string // OUT is a path for -o
		stdin    bool     // the command reads a stdin that blocks
		signals  int
		code     int // Run's, or Exit's
		want     []string
		wantNot  []string
		exitCode int // -1: Exit is never called
	}{
		{name: "pull stops and says the next one continues", args: []string{"pull", "REF", "-o", "OUT"}, signals: 1, code: ExitError, exitCode: -1,
			want: []string{"haul: interrupted: stopping (interrupt again to quit at once)", "context canceled", "hint: interrupted; nothing was left at the output, and the same pull run again continues"}},
		{name: "quiet: no notice, the hint all the same", args: []string{"pull", "-q", "REF", "-o", "OUT"}, signals: 1, code: ExitError, exitCode: -1,
			want: []string{"hint: interrupted"}, wantNot: []string{"stopping"}},
		{name: "json: one line of JSON", args: []string{"pull", "--json", "REF", "-o", "OUT"}, signals: 1, code: ExitError, exitCode: -1,
			want: []string{`"kind":"canceled"`}, wantNot: []string{"stopping", "\n{"}},
		{name: "digest: no promise of a resume", args: []string{"digest", "REF"}, signals: 1, code: ExitError, exitCode: -1,
			want: []string{"haul: interrupted: stopping"}, wantNot: []string{"hint:"}},
		{name: "second interrupt quits at once", args: []string{"digest", "-u", "alice", "--password-stdin", "REF"}, stdin: true, signals: 2,
			code: ExitInterrupted, exitCode: ExitInterrupted, want: []string{"haul: interrupted: stopping", "haul: interrupted again: quitting at once"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, registrytest.Config{})
			pushed := reg.MustPush(t, "team/app:1", registrytest.RandomImage(70, 1, 64<<10))
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			stalled := make(chan struct{}, 8)
			reg.Wrap(stallLayer(pushed.Layers[0].Digest.String(), release, stalled))
			if tt.args[0] == "digest" && !tt.stdin {
				// digest sends a HEAD of the manifest: hold that instead.
				reg.Wrap(stallManifest(release, stalled))
			}
			env := homeEnv(t)
			env["XDG_CACHE_HOME"] = t.TempDir()
			args := slices.Clone(tt.args)
			for i, a := range args {
				switch a {
				case "REF":
					args[i] = reg.Ref("team/app:1")
				case "OUT":
					args[i] = filepath.Join(t.TempDir(), "app.tar")
				}
			}
			interrupts := make(chan os.Signal, 2)
			stdin := &blockedReader{reading: make(chan struct{}), closed: make(chan struct{})}
			exited := make(chan int, 1)
			var stderr syncBuffer
			done := make(chan int, 1)
			go func() {
				done <- Run(t.Context(), args, IO{
					Stdin:  stdin,
					Stdout: io.Discard, Stderr: &stderr,
					Getenv:     func(k string) string { return env[k] },
					System:     &config.SystemPaths{},
					Interrupts: interrupts,
					Exit: func(code int) {
						exited <- code
						close(stdin.closed) // let Run return, as after os.Exit nothing would
					},
				})
			}()
			// Interrupt once the command waits: on stdin, or on the registry.
			if tt.stdin {
				<-stdin.reading
			} else {
				<-stalled
			}
			for i := range tt.signals {
				interrupts <- os.Interrupt
				waitFor(t, func() bool { return strings.Count(stderr.String(), "interrupted") > i || len(done) > 0 })
			}
			var code int
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("Run did not return; stderr:\n%s", stderr.String())
			}
			select {
			case c := <-exited:
				if c != tt.exitCode {
					t.Errorf("Exit(%d), want %d", c, tt.exitCode)
				}
				code = c
			default:
				if tt.exitCode != -1 {
					t.Errorf("Exit was not called")
				}
			}
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(stderr.String(), w) {
					t.Errorf("stderr has %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

// stallLayer sends the first KiB of blob dg, then holds the response until
// the client goes away or release is closed; stalled, if set, hears of each
// stall as it starts.
func stallLayer(dg string, release <-chan struct{}, stalled chan<- struct{}) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !registrytest.IsBlobGET(r) || !strings.HasSuffix(r.URL.Path, dg) {
				next.ServeHTTP(w, r)
				return
			}
			rec := registrytest.Record(next, r)
			registrytest.CopyHeader(w, rec)
			w.Header().Del("Content-Length") // chunked: the length is the descriptor's
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes()[:1<<10])
			w.(http.Flusher).Flush()
			hold(r, release, stalled)
		})
	}
}

// stallManifest holds every manifest request before it answers.
func stallManifest(release <-chan struct{}, stalled chan<- struct{}) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.Contains(r.URL.Path, "/manifests/") {
				next.ServeHTTP(w, r)
				return
			}
			hold(r, release, stalled)
		})
	}
}

func hold(r *http.Request, release <-chan struct{}, stalled chan<- struct{}) {
	if stalled != nil {
		select {
		case stalled <- struct{}{}:
		default:
		}
	}
	select {
	case <-r.Context().Done():
	case <-release:
	}
}

// waitFor polls cond for a generous while: only a failing test waits it out.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
	}
}
