package auth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Login checks c against a registry, the way docker login does, and returns what to
// store: c itself, or, when the registry's token realm hands out a refresh token for the
// password, Credential{Username, IdentityToken} (docker stores that instead of the
// password). registry names the registry in errors; origin is "scheme://host[:port]",
// the only place c is sent besides the token realm the registry's challenge names.
//
// GET /v2/ answers 200: c is not needed, and is returned. A Basic challenge: the GET is
// repeated with c. A Bearer challenge: the OAuth2 password grant is POSTed to the realm
// (access_type=offline, so a refresh token may come back), falling back to GET with
// Basic when the realm refuses the POST; the token must then open /v2/. A wrong password
// is a *TokenError with the realm's status, or an error saying 401 for Basic.
func Login(ctx context.Context, next http.RoundTripper, registry, origin string, c Credential) (Credential, error) {
	if next == nil {
		next = http.DefaultTransport
	}
	o, err := url.Parse(origin)
	if _, ok := originKey(o); err != nil || !ok {
		return Credential{}, fmt.Errorf("log in to %s: origin %q is not an http(s) URL", registry, origin)
	}
	ping := &url.URL{Scheme: o.Scheme, Host: o.Host, Path: "/v2/"}
	get := func(authz string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ping.String(), nil)
		if err != nil {
			return nil, err
		}
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := next.RoundTrip(req)
		if err != nil {
			return nil, fmt.Errorf("log in to %s: GET %s: %w", registry, ping, err)
		}
		return resp, nil
	}
	verify := func(authz string) error {
		resp, err := get(authz)
		if err != nil {
			return err
		}
		discard(resp)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("log in to %s: GET %s: %s", registry, ping, resp.Status)
		}
		return nil
	}

	resp, err := get("")
	if err != nil {
		return Credential{}, err
	}
	discard(resp)
	switch resp.StatusCode {
	case http.StatusOK:
		return c, nil
	case http.StatusUnauthorized:
	default:
		return Credential{}, fmt.Errorf("log in to %s: GET %s: %s", registry, ping, resp.Status)
	}
	ch, ok := pickChallenge(ParseChallenges(resp.Header.Values("Www-Authenticate")))
	if !ok {
		return Credential{}, fmt.Errorf("log in to %s: GET %s: 401 with neither a Basic nor a Bearer challenge: %q",
			registry, ping, strings.Join(resp.Header.Values("Www-Authenticate"), ", "))
	}
	if c.IsZero() {
		return Credential{}, fmt.Errorf("log in to %s: the registry asks for credentials and none were given", registry)
	}

	if ch.Scheme == "basic" || c.RegistryToken != "" {
		authz := basicAuth(c)
		if c.RegistryToken != "" {
			authz = "Bearer " + c.RegistryToken
		}
		if err := verify(authz); err != nil {
			return Credential{}, err
		}
		return c, nil
	}

	scopes := strings.Fields(ch.Params["scope"])
	f, err := newTokenFetch(next, o, ch, scopes, c, "", time.Now)
	if err != nil {
		return Credential{}, fmt.Errorf("log in to %s: %w", registry, err)
	}
	f.login = true
	tok, err := f.fetch(ctx)
	if err != nil {
		return Credential{}, fmt.Errorf("log in to %s: %w", registry, err)
	}
	if err := verify("Bearer " + tok.value); err != nil {
		return Credential{}, err
	}
	if tok.refresh != "" && c.Password != "" {
		return Credential{Username: c.Username, IdentityToken: tok.refresh}, nil
	}
	return c, nil
}
