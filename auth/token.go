package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/haul-dev/haul/ref"
)

const (
	// maxTokenResponse bounds what is read from a token realm: a token is a few KiB, and
	// a misconfigured realm may answer with a large HTML page or an endless stream.
	maxTokenResponse = 1 << 20

	// minTokenLifetime is distribution's minimum (internal/client/auth/session.go): the
	// token spec makes expires_in optional with a default of 60 seconds, and a server
	// saying less is not believed, so a token is not refetched for every request.
	minTokenLifetime = 60 * time.Second

	// maxTokenLifetime bounds a server's expires_in, which is otherwise trusted: the
	// arithmetic stays in range, and a token is asked for again at least once a day.
	maxTokenLifetime = 24 * time.Hour

	// maxErrorBody bounds the part of a refusal kept in a TokenError.
	maxErrorBody = 256

	defaultClientID = "haul"
)

// TokenError says that a token realm refused a token or answered garbage.
// A registry.Client's request returns it, wrapped, when the registry's token
// service refused the credential itself (Status 401 or 403: unauthorized, as
// a registry's own 401 is a *registry.Error) or could not be used. Match it
// with errors.As.
type TokenError struct {
	Realm   string   // the realm URL, without query
	Service string   // the service asked for
	Scopes  []string // the scopes asked for
	Status  int      // the realm's HTTP status; 0 if no response was read
	Body    string   // the start of a refusal's body, control characters replaced
	Err     error    // what went wrong, if more than the status says
	// Registry is the registry the token was for ("docker.io"), when known.
	Registry string
	// Sent says which credential went with the request ("anonymous",
	// `password for "alice"`; never a secret), and From where it was
	// found (Credential.From), so a refusal can name what to fix.
	Sent, From string
}

func (e *TokenError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fetch token from %s (service %q, scope %q)", e.Realm, e.Service, strings.Join(e.Scopes, " "))
	if e.Status != 0 {
		fmt.Fprintf(&b, ": %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Body != "" {
		fmt.Fprintf(&b, ": %q", e.Body)
	}
	return b.String()
}

func (e *TokenError) Unwrap() error { return e.Err }

// token is a bearer token and when to stop using it.
type token struct {
	value     string
	refresh   string    // a refresh_token the realm gave (OAuth2 password grant)
	expires   time.Time // issued + lifetime
	refreshAt time.Time // a little before expires, so a token does not expire in flight
}

// tokenResponse is the token realm's answer (distribution's token spec, and OAuth2's).
type tokenResponse struct {
	Token        string          `json:"token"`
	AccessToken  string          `json:"access_token"`
	ExpiresIn    float64         `json:"expires_in"`
	IssuedAt     json.RawMessage `json:"issued_at"` // RFC 3339 string; anything else is ignored
	RefreshToken string          `json:"refresh_token"`
}

var errNotJSON = errors.New("token response is not JSON")

// parseTokenResponse reads a realm's 200 answer, received at now after being asked at
// asked. "token" and "access_token" are synonyms; when both are present the spec leaves
// the choice open, and like distribution we take access_token.
//
// Lifetime follows distribution: expires_in, at least 60 s, from issued_at. But issued_at
// is the server's clock: it is clamped between asked and now, the only times the token
// can have been issued, so a skewed server cannot make a fresh token look expired (and
// refetched on every request) or one from the future live too long.
func parseTokenResponse(body []byte, asked, now time.Time) (token, error) {
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '<' {
				return token{}, fmt.Errorf("%w (an HTML page?)", errNotJSON)
			}
			return token{}, errNotJSON
		}
		return token{}, fmt.Errorf("decode token response: %w", err)
	}
	if tr.AccessToken != "" {
		tr.Token = tr.AccessToken
	}
	if tr.Token == "" {
		return token{}, errors.New("token response holds no token")
	}
	if !validTokenValue(tr.Token) {
		return token{}, errors.New("token response holds a token with characters not allowed in an HTTP header")
	}
	lifetime := minTokenLifetime
	if tr.ExpiresIn > minTokenLifetime.Seconds() {
		lifetime = time.Duration(min(tr.ExpiresIn, maxTokenLifetime.Seconds()) * float64(time.Second))
	}
	issued := now
	var at string
	if json.Unmarshal(tr.IssuedAt, &at) == nil {
		if t, err := time.Parse(time.RFC3339, at); err == nil {
			issued = t
			if issued.Before(asked) {
				issued = asked
			}
			if issued.After(now) {
				issued = now
			}
		}
	}
	// Refresh 10% early, at least 5 s, so a token does not expire between the cache and
	// the registry.
	early := max(lifetime/10, 5*time.Second)
	return token{
		value:     tr.Token,
		refresh:   tr.RefreshToken,
		expires:   issued.Add(lifetime),
		refreshAt: issued.Add(lifetime - early),
	}, nil
}

// validTokenValue reports whether v can be sent as "Bearer v": visible ASCII, no
// spaces. A token with CR or LF would otherwise be refused by net/http at send time, or
// worse, by a proxy.
func validTokenValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] >= 0x7f {
			return false
		}
	}
	return v != ""
}

// tokenFetch asks a token realm for a token.
type tokenFetch struct {
	next     http.RoundTripper
	realm    *url.URL
	service  string
	scopes   []string
	cred     Credential
	clientID string
	now      func() time.Time
	// login asks with the OAuth2 password grant and access_type=offline, to be given a
	// refresh token to store instead of the password.
	login bool
}

// newTokenFetch checks a challenge's realm before anything is sent to it.
func newTokenFetch(next http.RoundTripper, origin *url.URL, ch Challenge, scopes []string, cred Credential, clientID string, now func() time.Time) (*tokenFetch, error) {
	realm, err := url.Parse(ch.Params["realm"])
	if err != nil || (realm.Scheme != "https" && realm.Scheme != "http") || realm.Host == "" {
		return nil, &TokenError{Realm: ch.Params["realm"], Service: ch.Params["service"], Scopes: scopes,
			Err: errors.New("the registry's bearer challenge names no http(s) realm")}
	}
	realm.Fragment = ""
	// Credentials go to the realm over TLS, unless the registry itself is plain HTTP or
	// the realm is on this machine (a local registry, which docker lets speak plain
	// HTTP): a challenge must not downgrade the password to cleartext on a network.
	if realm.Scheme == "http" && origin.Scheme == "https" && !ref.IsLoopback(realm.Host) && (cred.Password != "" || cred.IdentityToken != "") {
		r := *realm
		r.RawQuery = ""
		return nil, &TokenError{Realm: r.String(), Service: ch.Params["service"], Scopes: scopes,
			Err: errors.New("the registry is HTTPS but names a plain-HTTP token realm: credentials not sent")}
	}
	if clientID == "" {
		clientID = defaultClientID
	}
	return &tokenFetch{next: next, realm: realm, service: ch.Params["service"], scopes: scopes,
		cred: cred, clientID: clientID, now: now}, nil
}

func (f *tokenFetch) fail(status int, body []byte, err error) *TokenError {
	r := *f.realm
	r.RawQuery = ""
	return &TokenError{Realm: r.String(), Service: f.service, Scopes: f.scopes, Status: status,
		Body: sanitizeBody(body), Err: err, Sent: f.cred.String(), From: f.cred.From}
}

// refused reports whether the realm refused the OAuth2 POST in a way that means "use
// GET instead". containerd lists who: GCR answers 404, Artifactory 401, ACR 400, and 405
// is the honest answer.
func refused(err error) bool {
	var te *TokenError
	if !errors.As(err, &te) {
		return false
	}
	switch te.Status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusMethodNotAllowed:
		return true
	}
	return false
}

// fetch asks for a token: the OAuth2 form by POST when an identity token is held (or at
// login), falling back to GET with Basic when the realm refuses the POST; GET with Basic
// when a password is held; anonymous GET otherwise.
func (f *tokenFetch) fetch(ctx context.Context) (token, error) {
	c := f.cred
	switch {
	case f.login && c.Password != "":
		form := url.Values{"grant_type": {"password"}, "username": {c.Username}, "password": {c.Password}, "access_type": {"offline"}}
		t, err := f.post(ctx, form)
		if refused(err) {
			// What to store is then the password: a refresh token comes only from the
			// OAuth2 grant, and the GET is not asked for one.
			t, err = f.get(ctx, c.Username, c.Password)
			t.refresh = ""
		}
		return t, err
	case c.IdentityToken != "":
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.IdentityToken}}
		t, err := f.post(ctx, form)
		if refused(err) {
			// As containerd does: Basic with the identity token as the password, which
			// ACR and others accept.
			return f.get(ctx, c.Username, c.IdentityToken)
		}
		return t, err
	case c.Password != "":
		return f.get(ctx, c.Username, c.Password)
	default:
		return f.get(ctx, "", "")
	}
}

func (f *tokenFetch) post(ctx context.Context, form url.Values) (token, error) {
	form.Set("client_id", f.clientID)
	if f.service != "" {
		form.Set("service", f.service)
	}
	if len(f.scopes) > 0 {
		form.Set("scope", strings.Join(f.scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.realm.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return token{}, f.fail(0, nil, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return f.do(req)
}

func (f *tokenFetch) get(ctx context.Context, user, pass string) (token, error) {
	u := *f.realm
	q := u.Query()
	if f.service != "" {
		q.Set("service", f.service)
	}
	for _, s := range f.scopes {
		q.Add("scope", s)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return token{}, f.fail(0, nil, err)
	}
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	return f.do(req)
}

func (f *tokenFetch) do(req *http.Request) (token, error) {
	asked := f.now()
	resp, err := f.next.RoundTrip(req)
	if err != nil {
		return token{}, f.fail(0, nil, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	if err != nil {
		return token{}, f.fail(resp.StatusCode, nil, fmt.Errorf("read token response: %w", err))
	}
	if resp.StatusCode != http.StatusOK {
		return token{}, f.fail(resp.StatusCode, body, nil)
	}
	if len(body) > maxTokenResponse {
		return token{}, f.fail(resp.StatusCode, nil, fmt.Errorf("token response is larger than %d bytes", maxTokenResponse))
	}
	t, err := parseTokenResponse(body, asked, f.now())
	if err != nil {
		if errors.Is(err, errNotJSON) {
			return token{}, f.fail(resp.StatusCode, body, err) // a captive portal or a proxy page: show it
		}
		return token{}, f.fail(resp.StatusCode, nil, err) // JSON from the realm may hold secrets: keep it out
	}
	return t, nil
}

// sanitizeBody keeps the start of a body for an error message: at most maxErrorBody
// bytes, control and non-ASCII bytes as '.', spaces collapsed.
func sanitizeBody(b []byte) string {
	if len(b) > maxErrorBody {
		b = b[:maxErrorBody]
	}
	out := make([]byte, 0, len(b))
	space := false
	for _, c := range b {
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if !space {
				out = append(out, ' ')
			}
			space = true
			continue
		case c < ' ' || c >= 0x7f:
			c = '.'
		}
		out = append(out, c)
		space = false
	}
	return strings.TrimSpace(string(out))
}
