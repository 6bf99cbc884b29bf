package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/haul-dev/haul/internal/registrytest"
)

// These tests run the haul binary, built from cmd/haul, on a pseudo-terminal
// as a person at a terminal runs it: the terminal's echo, its line
// discipline, and Ctrl-C turned into SIGINT by the kernel are real.

// buildHaul builds cmd/haul into a temporary directory.
func buildHaul(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to build haul with")
	}
	bin := filepath.Join(t.TempDir(), "haul")
	cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/haul")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// pty is a pseudo-terminal with a process on its other side.
type pty struct {
	t      *testing.T
	master *os.File
	slave  *os.File // kept open here to read its settings
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer // everything the terminal showed
	read   chan struct{}
	eof    chan struct{} // closed when the terminal has nothing more to show
}

// startPTY runs bin with args as the session leader of a new terminal.
func startPTY(t *testing.T, env []string, bin string, args ...string) *pty {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 100}); err != nil {
		t.Fatalf("setting the window size: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	p := &pty{t: t, master: master, slave: slave, read: make(chan struct{}, 1), eof: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = slave, slave, slave
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	go p.copyOut()
	return p
}

func (p *pty) copyOut() {
	defer close(p.eof)
	buf := make([]byte, 4096)
	for {
		n, err := p.master.Read(buf)
		p.mu.Lock()
		p.out.Write(buf[:n])
		p.mu.Unlock()
		select {
		case p.read <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

func (p *pty) shown() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until the terminal has shown s (a generous bound: only a
// failing test waits it out).
func (p *pty) waitFor(s string) {
	p.t.Helper()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(p.shown(), s) {
		select {
		case <-p.read:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			p.t.Fatalf("the terminal never showed %q; it showed:\n%s", s, p.shown())
		}
	}
}

// waitNoEcho waits until the program has turned the terminal's echo off,
// so that what is typed next is not shown.
func (p *pty) waitNoEcho() {
	p.t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		tio, err := unix.IoctlGetTermios(int(p.slave.Fd()), unix.TCGETS)
		if err != nil {
			p.t.Fatal(err)
		}
		if tio.Lflag&unix.ECHO == 0 {
			return
		}
	}
	p.t.Fatalf("echo was never turned off; the terminal showed:\n%s", p.shown())
}

func (p *pty) typeIn(s string) {
	p.t.Helper()
	if _, err := io.WriteString(p.master, s); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits for the program to exit and returns its exit code.
func (p *pty) wait() int {
	p.t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("haul did not exit; the terminal showed:\n%s", p.shown())
	}
	return p.cmd.ProcessState.ExitCode()
}

// drain closes this side's handle on the terminal and waits until all the
// program wrote has been read: the terminal then reads as ended.
func (p *pty) drain() {
	p.t.Helper()
	p.slave.Close()
	select {
	case <-p.eof:
	case <-time.After(60 * time.Second):
		p.t.Fatal("the terminal never ended")
	}
}

// ptyEnv is an environment with its own home, docker config and cache.
func ptyEnv(t *testing.T) ([]string, string) {
	home := t.TempDir()
	dockerConfig := filepath.Join(home, "docker")
	return []string{
		"HOME=" + home, "DOCKER_CONFIG=" + dockerConfig, "XDG_RUNTIME_DIR=" + filepath.Join(home, "run"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"), "XDG_CACHE_HOME=" + filepath.Join(home, "cache"),
		"PATH=/usr/bin:/bin", "TERM=dumb",
	}, dockerConfig
}

// TestLoginOnTerminal logs in at a terminal against a registry with token
// auth: login asks for what -u did not give, shows the user name as typed,
// never the password, and stores the credential.
func TestLoginOnTerminal(t *testing.T) {
	t.Parallel()
	bin := buildHaul(t)
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true, Private: []string{"private/"}})
	pushed := reg.MustPush(t, "private/app:1", registrytest.RandomImage(50, 1, 10))
	tests := []struct {
		name     string
		args     []string
		password string
		asksUser bool
		code     int
	}{
		{"user name and password asked", []string{"login", reg.Host()}, registrytest.AlicePassword, true, ExitOK},
		{"-u: password asked", []string{"login", "-u", registrytest.Alice, reg.Host()}, registrytest.AlicePassword, false, ExitOK},
		{"wrong password", []string{"login", "-u", registrytest.Alice, reg.Host()}, "not-" + registrytest.AlicePassword, false, ExitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, dockerConfig := ptyEnv(t)
			p := startPTY(t, env, bin, tt.args...)
			if tt.asksUser {
				p.waitFor("Username for " + reg.Host() + ": ")
				p.typeIn(registrytest.Alice + "\r")
			}
			p.waitFor("Password for alice at " + reg.Host() + ": ")
			p.waitNoEcho()
			p.typeIn(tt.password + "\r")
			code := p.wait()
			p.drain()
			shown := p.shown()
			if code != tt.code {
				t.Fatalf("exit %d, want %d; the terminal showed:\n%s", code, tt.code, shown)
			}
			if strings.Contains(shown, tt.password) {
				t.Errorf("the password was shown:\n%s", shown)
			}
			if tt.asksUser && !strings.Contains(shown, "Username for "+reg.Host()+": alice") {
				t.Errorf("the user name typed was not echoed:\n%s", shown)
			}
			cfg, _ := os.ReadFile(filepath.Join(dockerConfig, "config.json"))
			if strings.Contains(string(cfg), reg.Host()) != (tt.code == ExitOK) {
				t.Fatalf("exit %d, and config.json is %s", code, cfg)
			}
			if tt.code != ExitOK {
				return
			}
			// The stored credential reads the private repository.
			cmd := exec.Command(bin, "digest", reg.Ref("private/app:1"))
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != pushed.Digest.String() {
				t.Fatalf("digest after login: %v: %s", err, out)
			}
		})
	}
}

// TestInterruptOnTerminal presses Ctrl-C during a pull whose layer never
// finishes: haul stops, leaves nothing at the output, and says that the next
// pull continues.
func TestInterruptOnTerminal(t *testing.T) {
	t.Parallel()
	bin := buildHaul(t)
	reg := registrytest.New(t, registrytest.Config{})
	pushed := reg.MustPush(t, "team/app:1", registrytest.RandomImage(51, 1, 256<<10))
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	reg.Wrap(stallLayer(pushed.Layers[0].Digest.String(), release, nil))
	env, _ := ptyEnv(t)
	out := filepath.Join(t.TempDir(), "app.tar")
	p := startPTY(t, env, bin, "pull", reg.Ref("team/app:1"), "-o", out)
	p.waitFor("2 blobs") // the progress bars are drawn: the pull is fetching
	p.typeIn("\x03")
	code := p.wait()
	p.drain()
	shown := p.shown()
	if code != ExitError {
		t.Fatalf("exit %d, want %d; the terminal showed:\n%s", code, ExitError, shown)
	}
	for _, w := range []string{
		"haul: interrupted: stopping (interrupt again to quit at once)",
		"context canceled",
		"hint: interrupted; nothing was left at the output, and the same pull run again continues where this one stopped.",
	} {
		if !strings.Contains(shown, w) {
			t.Errorf("the terminal did not show %q:\n%s", w, shown)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s exists after an interrupted pull", out)
	}
}

// TestInterruptAtPrompt presses Ctrl-C at login's password prompt, which
// no context can cancel: haul quits at once, and the terminal echoes again.
func TestInterruptAtPrompt(t *testing.T) {
	t.Parallel()
	bin := buildHaul(t)
	env, _ := ptyEnv(t)
	p := startPTY(t, env, bin, "login", "-u", "alice", "localhost:5999")
	p.waitFor("Password for alice at localhost:5999: ")
	p.waitNoEcho()
	p.typeIn("\x03")
	code := p.wait()
	tio, err := unix.IoctlGetTermios(int(p.slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	p.drain()
	if code != ExitInterrupted {
		t.Fatalf("exit %d, want %d; the terminal showed:\n%s", code, ExitInterrupted, p.shown())
	}
	if !strings.Contains(p.shown(), "haul: interrupted") {
		t.Errorf("the terminal did not say it was interrupted:\n%s", p.shown())
	}
	if tio.Lflag&unix.ECHO == 0 {
		t.Error("haul left the terminal's echo off")
	}
}
