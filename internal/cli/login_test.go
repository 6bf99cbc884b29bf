package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haul-dev/haul/config"
	"github.com/haul-dev/haul/internal/registrytest"
)

// terminal is a fake terminal for login: lines typed, and the password
// read without echo.
type terminal struct {
	typed    string // what the user types at the user name prompt
	password string
	asked    int // how often a password was read
}

// runAtTerminal runs haul in-process as if stdin were the terminal t.
func runAtTerminal(tt *testing.T, env map[string]string, t *terminal, args ...string) (stderr string, code int) {
	tt.Helper()
	var out, errb bytes.Buffer
	code = Run(tt.Context(), args, IO{
		Stdin:           strings.NewReader(t.typed),
		Stdout:          &out,
		Stderr:          &errb,
		Getenv:          func(k string) string { return env[k] },
		System:          &config.SystemPaths{},
		StdinIsTerminal: func() bool { return true },
		ReadPassword: func() ([]byte, error) {
			t.asked++
			if t.password == "" {
				return nil, errors.New("EOF")
			}
			return []byte(t.password), nil
		},
	})
	return errb.String(), code
}

// TestLoginAtTerminal: at a terminal, login asks for what the command line
// and environment lack, as docker login does; -u with a typed password
// logs in (it used to refuse: "a user name was given without a password").
func TestLoginAtTerminal(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true, Private: []string{"private/"}})
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		term       terminal
		code       int
		prompts    []string // in stderr, in order
		notPrompts []string
		asked      int
	}{
		{name: "asks user name and password", args: []string{"login", reg.Host()},
			term: terminal{typed: registrytest.Alice + "\n", password: registrytest.AlicePassword}, code: ExitOK,
			prompts: []string{"Username for " + reg.Host() + ": ", "Password for alice at " + reg.Host() + ": ", "Login succeeded"}, asked: 1},
		{name: "-u asks the password only", args: []string{"login", reg.Host(), "-u", registrytest.Alice},
			term: terminal{password: registrytest.AlicePassword}, code: ExitOK,
			prompts: []string{"Password for alice at " + reg.Host() + ": ", "Login succeeded"}, notPrompts: []string{"Username"}, asked: 1},
		{name: "HAUL_USERNAME asks the password only", args: []string{"login", reg.Host()}, env: map[string]string{"HAUL_USERNAME": registrytest.Alice},
			term: terminal{password: registrytest.AlicePassword}, code: ExitOK,
			prompts: []string{"Password for alice", "Login succeeded"}, notPrompts: []string{"Username"}, asked: 1},
		{name: "HAUL_PASSWORD asks nothing", args: []string{"login", reg.Host(), "-u", registrytest.Alice},
			env: map[string]string{"HAUL_PASSWORD": registrytest.AlicePassword}, code: ExitOK,
			prompts: []string{"Login succeeded"}, notPrompts: []string{"Username", "Password"}},
		{name: "wrong password typed", args: []string{"login", reg.Host(), "-u", registrytest.Alice},
			term: terminal{password: "wrong"}, code: ExitError, prompts: []string{"Password for alice"}, asked: 1},
		{name: "empty user name", args: []string{"login", reg.Host()},
			term: terminal{typed: "\n", password: registrytest.AlicePassword}, code: ExitUsage, prompts: []string{"Username", "empty user name"}},
		{name: "no line typed", args: []string{"login", reg.Host()}, code: ExitError, prompts: []string{"Username", "reading the user name"}},
		{name: "password read fails", args: []string{"login", reg.Host(), "-u", registrytest.Alice}, code: ExitError,
			prompts: []string{"Password for alice", "reading the password"}, asked: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := homeEnv(t)
			for k, v := range tt.env {
				env[k] = v
			}
			term := tt.term
			errOut, code := runAtTerminal(t, env, &term, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errOut)
			}
			rest := errOut
			for _, p := range tt.prompts {
				i := strings.Index(rest, p)
				if i < 0 {
					t.Fatalf("stderr lacks %q (in order):\n%s", p, errOut)
				}
				rest = rest[i+len(p):]
			}
			for _, p := range tt.notPrompts {
				if strings.Contains(errOut, p) {
					t.Errorf("stderr has %q:\n%s", p, errOut)
				}
			}
			if term.asked != tt.asked {
				t.Errorf("password read %d times, want %d", term.asked, tt.asked)
			}
			if strings.Contains(errOut, registrytest.AlicePassword) {
				t.Errorf("the password reached stderr:\n%s", errOut)
			}
			cfg, _ := os.ReadFile(filepath.Join(env["DOCKER_CONFIG"], "config.json"))
			if stored := strings.Contains(string(cfg), reg.Host()); stored != (tt.code == ExitOK) {
				t.Errorf("config.json names %s: %v, want %v: %s", reg.Host(), stored, tt.code == ExitOK, cfg)
			}
		})
	}
}

// TestLoginWithoutTerminal: with no terminal to ask at, a login that lacks
// the password is a usage error that names both ways to give it.
func TestLoginWithoutTerminal(t *testing.T) {
	t.Parallel()
	env := homeEnv(t)
	for _, args := range [][]string{
		{"login", "localhost:5000"},
		{"login", "localhost:5000", "-u", "alice"},
	} {
		_, errOut, code := run(t, env, "", args...)
		if code != ExitUsage || !strings.Contains(errOut, "--password-stdin") || !strings.Contains(errOut, "HAUL_PASSWORD") {
			t.Errorf("%v: exit %d, %q; want 2 naming --password-stdin and HAUL_PASSWORD", args, code, errOut)
		}
	}
	_, errOut, code := run(t, env, "pw\n", "login", "localhost:5000", "--password-stdin")
	if code != ExitUsage || !strings.Contains(errOut, "-u USER") {
		t.Errorf("--password-stdin without a user: exit %d, %q; want 2 asking for -u", code, errOut)
	}
}

func TestReadLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, rest string
		err            bool
	}{
		{in: "alice\nsecret", want: "alice", rest: "secret"},
		{in: "alice\r\n", want: "alice"},
		{in: "alice", want: "alice"},
		{in: "", err: true},
		{in: strings.Repeat("a", 2<<10) + "\n", err: true},
	}
	for _, tt := range tests {
		r := strings.NewReader(tt.in)
		got, err := readLine(r)
		rest := tt.in[len(tt.in)-r.Len():]
		if (err != nil) != tt.err || got != tt.want || (!tt.err && rest != tt.rest) {
			t.Errorf("readLine(%.20q) = %q, %v, leaving %q; want %q, error %v, leaving %q", tt.in, got, err, rest, tt.want, tt.err, tt.rest)
		}
	}
}
