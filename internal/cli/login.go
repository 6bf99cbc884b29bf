package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// registryArg reads a registry name as docker login takes it: "docker.io",
// "ghcr.io", "localhost:5000", or a URL such as https://index.docker.io/v1/.
func registryArg(args []string) (string, error) {
	if len(args) == 0 {
		return ref.DockerHub, nil
	}
	s := strings.TrimSpace(args[0])
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	if s == "" || strings.ContainsAny(s, " @") {
		return "", usagef("%q is not a registry name (e.g. docker.io, ghcr.io, localhost:5000)", args[0])
	}
	switch s {
	case "index.docker.io", "registry-1.docker.io":
		s = ref.DockerHub
	}
	return s, nil
}

func newLoginCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "login [REGISTRY]",
		Short: "Log in to a registry and store the credential as docker does",
		Long: `Check a user name and password (or access token) against REGISTRY (default
docker.io) and store them where docker keeps them: the credential helper named in
~/.docker/config.json (credHelpers or credsStore), else its "auths", written
atomically with mode 0600. Where the registry's token service grants a refresh
token, that is stored instead of the password.

At a terminal, login asks for the user name (unless -u or HAUL_USERNAME gives
it) and then the password, which is not echoed. Elsewhere, the password comes
from stdin with --password-stdin, or from HAUL_PASSWORD; it is never taken from
the command line.`,
		Example: "  haul login ghcr.io\n  haul login -u alice localhost:5000\n  echo \"$TOKEN\" | haul login -u alice --password-stdin ghcr.io",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("login takes at most one REGISTRY")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := registryArg(args)
			if err != nil {
				return err
			}
			cred, err := e.loginCredential(name)
			if err != nil {
				return err
			}
			// Login tries cred alone: not the explicit credential of
			// clientConfig, which would refuse a -u whose password was typed.
			store, err := registry.Login(cmd.Context(), e.baseConfig(name), cred)
			if err != nil {
				return err
			}
			dc := auth.DockerConfig{Env: e.Getenv}
			if err := dc.Store(cmd.Context(), name, store); err != nil {
				return fmt.Errorf("storing credential for %s: %w", name, err)
			}
			if !e.g.quiet {
				fmt.Fprintf(e.Stderr, "Login succeeded for %s.\n", name)
			}
			return nil
		},
	}
}

// loginCredential gathers user and password for login, as docker login does:
// flags and environment, else a prompt at a terminal for what they lack.
func (e *env) loginCredential(name string) (auth.Credential, error) {
	user := e.g.username
	if user == "" {
		user = e.Getenv("HAUL_USERNAME")
	}
	if e.g.passwordStdin || e.Getenv("HAUL_PASSWORD") != "" {
		if user == "" {
			return auth.Credential{}, usagef("login needs a user name with the password: -u USER (or HAUL_USERNAME)")
		}
		s, err := e.explicitCredential(name)
		if err != nil {
			return auth.Credential{}, err
		}
		s.Cred.Username = user
		return s.Cred, nil
	}
	if e.StdinIsTerminal == nil || !e.StdinIsTerminal() || e.ReadPassword == nil {
		return auth.Credential{}, usagef("login needs a password, and stdin is no terminal to ask at: " +
			"pipe it in with -u USER --password-stdin, or set HAUL_USERNAME and HAUL_PASSWORD (never on the command line)")
	}
	e.prompting.Store(true)
	defer e.prompting.Store(false)
	if user == "" {
		fmt.Fprintf(e.Stderr, "Username for %s: ", name)
		line, err := readLine(e.Stdin)
		if err != nil {
			return auth.Credential{}, fmt.Errorf("reading the user name: %w", err)
		}
		if user = strings.TrimSpace(line); user == "" {
			return auth.Credential{}, usagef("empty user name")
		}
	}
	fmt.Fprintf(e.Stderr, "Password for %s at %s: ", user, name)
	pw, err := e.ReadPassword()
	fmt.Fprintln(e.Stderr)
	if err != nil {
		return auth.Credential{}, fmt.Errorf("reading the password: %w", err)
	}
	if len(pw) == 0 {
		return auth.Credential{}, usagef("empty password")
	}
	return auth.Credential{Username: user, Password: string(pw)}, nil
}

// readLine reads one line from r a byte at a time, so nothing after it is
// taken from the terminal that the password is read from next.
func readLine(r io.Reader) (string, error) {
	var b []byte
	var c [1]byte
	for len(b) < 1<<10 {
		n, err := r.Read(c[:])
		if n == 1 {
			if c[0] == '\n' {
				return strings.TrimSuffix(string(b), "\r"), nil
			}
			b = append(b, c[0])
		}
		if err == io.EOF && len(b) > 0 {
			return string(b), nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", errors.New("line too long")
}

func newLogoutCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "logout [REGISTRY]",
		Short:   "Remove the stored credential of a registry",
		Long:    "Remove what `haul login` (or `docker login`) stored for REGISTRY (default docker.io).",
		Example: "  haul logout ghcr.io",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("logout takes at most one REGISTRY")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := registryArg(args)
			if err != nil {
				return err
			}
			dc := auth.DockerConfig{Env: e.Getenv}
			if err := dc.Erase(cmd.Context(), name); err != nil {
				return fmt.Errorf("logging out of %s: %w", name, err)
			}
			if !e.g.quiet {
				fmt.Fprintf(e.Stderr, "Removed the credential for %s.\n", name)
			}
			return nil
		},
	}
}
