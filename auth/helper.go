package auth

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"
)

// tokenUsername is the username a credential helper stores when the secret is an
// identity token rather than a password (docker/cli credentials/native_store.go).
const tokenUsername = "<token>"

// helperProgram runs docker-credential-<name> through the helper protocol of
// docker-credential-helpers/client. It is client.NewShellProgramFunc with two changes:
// the process ends when ctx does, and its stderr is captured (into the error, by
// exec) rather than written over haul's own output.
func helperProgram(ctx context.Context, name string) client.ProgramFunc {
	return func(args ...string) client.Program {
		cmd := exec.CommandContext(ctx, "docker-credential-"+name, args...)
		cmd.WaitDelay = time.Second // a helper's orphaned children must not hold us
		return helperCmd{cmd}
	}
}

type helperCmd struct{ cmd *exec.Cmd }

func (h helperCmd) Output() ([]byte, error) { return h.cmd.Output() }
func (h helperCmd) Input(r io.Reader)       { h.cmd.Stdin = r }

// checkHelperName refuses a helper name that would make exec run a path: the name comes
// from a file, and "docker-credential-../../x" must not escape PATH lookup.
func checkHelperName(name, registry string) error {
	if strings.ContainsAny(name, `/\`) || strings.TrimSpace(name) == "" {
		return fmt.Errorf("credential helper %q for %s: invalid helper name", name, registry)
	}
	return nil
}

func helperError(ctx context.Context, op, name, serverURL string, err error) error {
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return fmt.Errorf("%s credential for %s with helper docker-credential-%s: %w", op, serverURL, name, err)
}

// helperGet asks helper name for serverURL's credential; "not found" is the zero
// Credential.
func helperGet(ctx context.Context, name, serverURL string) (Credential, error) {
	if err := checkHelperName(name, serverURL); err != nil {
		return Credential{}, err
	}
	c, err := client.Get(helperProgram(ctx, name), serverURL)
	if credentials.IsErrCredentialsNotFound(err) {
		return Credential{}, nil
	}
	if err != nil {
		return Credential{}, helperError(ctx, "get", name, serverURL, err)
	}
	if c.Username == tokenUsername {
		return Credential{IdentityToken: c.Secret}, nil
	}
	return Credential{Username: c.Username, Password: c.Secret}, nil
}

// helperStore stores c with helper name, an identity token under the "<token>" username
// as docker does. Helpers have nowhere for a registry token.
func helperStore(ctx context.Context, name, serverURL string, c Credential) error {
	if err := checkHelperName(name, serverURL); err != nil {
		return err
	}
	creds := &credentials.Credentials{ServerURL: serverURL, Username: c.Username, Secret: c.Password}
	if c.IdentityToken != "" {
		creds.Username, creds.Secret = tokenUsername, c.IdentityToken
	}
	if creds.Secret == "" {
		return fmt.Errorf("store credential for %s with helper docker-credential-%s: a helper stores a password or an identity token, and the credential has neither", serverURL, name)
	}
	if err := client.Store(helperProgram(ctx, name), creds); err != nil {
		return helperError(ctx, "store", name, serverURL, err)
	}
	return nil
}

// helperErase erases serverURL's credential from helper name and reports whether there
// was one. Helpers disagree on what erasing a missing entry is, so it asks first.
func helperErase(ctx context.Context, name, serverURL string) (bool, error) {
	c, err := helperGet(ctx, name, serverURL)
	if err != nil {
		return false, err
	}
	if c.IsZero() {
		return false, nil
	}
	if err := client.Erase(helperProgram(ctx, name), serverURL); err != nil {
		return false, helperError(ctx, "erase", name, serverURL, err)
	}
	return true, nil
}
