package registrytest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TokenRequest is one request the token server received, whatever its outcome.
type TokenRequest struct {
	Method    string    // GET or POST
	Scopes    []string  // requested, as sent: "repository:team/app:pull"
	Granted   []string  // granted, one per resource: "repository:team/app:pull,push"
	Service   string    // the service parameter
	User      string    // authenticated user; "" when anonymous or when authentication failed
	GrantType string    // POST: "password" or "refresh_token"; "" for GET
	ClientID  string    // client_id parameter
	Offline   bool      // a refresh token was asked for (access_type=offline, offline_token=true)
	Status    int       // HTTP status answered
	Time      time.Time // when it arrived
}

// TokenRequests returns a copy of the token server's request log, oldest first.
func (r *Registry) TokenRequests() []TokenRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// MintToken signs a token for user (Alice, or "" for anonymous) granting what
// that user may have of scopes, valid for ttl from now (0: TokenTTL). A
// negative ttl gives a token that has already expired, beyond distribution's
// 60 s leeway. The token server does not log it.
func (r *Registry) MintToken(user string, ttl time.Duration, scopes ...string) (string, error) {
	if r.key == nil {
		return "", fmt.Errorf("MintToken without TokenAuth")
	}
	if ttl == 0 {
		ttl = r.cfg.TokenTTL
	}
	tok, _, err := r.sign(user, r.grant(user, scopes), ttl)
	return tok, err
}

type resourceActions struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

func (a resourceActions) String() string {
	return a.Type + ":" + a.Name + ":" + strings.Join(a.Actions, ",")
}

type claims struct {
	Issuer    string             `json:"iss"`
	Subject   string             `json:"sub"`
	Audience  string             `json:"aud"`
	Expiry    int64              `json:"exp"`
	NotBefore int64              `json:"nbf"`
	IssuedAt  int64              `json:"iat"`
	ID        string             `json:"jti"`
	Access    []*resourceActions `json:"access"`
	// ExpMS is the exact expiry in Unix milliseconds, enforced by authFixups.
	ExpMS int64 `json:"exp_ms"`
}

func (r *Registry) private(repo string) bool {
	for _, p := range r.cfg.Private {
		if strings.HasPrefix(repo, p) {
			return true
		}
	}
	return false
}

// grant decides, as Docker Hub does, by leaving out what may not be had:
// anonymous may pull non-private repositories; Alice may pull, push and delete
// any repository and use the catalog.
func (r *Registry) grant(user string, scopes []string) []*resourceActions {
	var out []*resourceActions
	find := func(typ, name string) *resourceActions {
		for _, a := range out {
			if a.Type == typ && a.Name == name {
				return a
			}
		}
		a := &resourceActions{Type: typ, Name: name}
		out = append(out, a)
		return a
	}
	for _, field := range scopes {
		for _, s := range strings.Fields(field) {
			typ, rest, ok := strings.Cut(s, ":")
			i := strings.LastIndex(rest, ":")
			if !ok || i < 0 {
				continue
			}
			name, actions := rest[:i], strings.Split(rest[i+1:], ",")
			if before, _, ok := strings.Cut(typ, "("); ok { // repository(plugin)
				typ = before
			}
			for _, act := range actions {
				if !r.allowed(user, typ, name, act) {
					continue
				}
				a := find(typ, name)
				if !slices.Contains(a.Actions, act) {
					a.Actions = append(a.Actions, act)
				}
			}
		}
	}
	return slices.DeleteFunc(out, func(a *resourceActions) bool { return len(a.Actions) == 0 })
}

func (r *Registry) allowed(user, typ, name, action string) bool {
	switch {
	case user == Alice && typ == "repository":
		return action == "pull" || action == "push" || action == "delete" || action == "*"
	case user == Alice && typ == "registry":
		return name == "catalog" && action == "*"
	case user == "" && typ == "repository":
		return action == "pull" && !r.private(name)
	}
	return false
}

// sign returns a JWT for user with access, and the granted scopes as strings.
func (r *Registry) sign(user string, access []*resourceActions, ttl time.Duration) (string, []string, error) {
	kid := r.kid
	if kid == "" {
		kid = keyID
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: r.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return "", nil, fmt.Errorf("creating signer: %w", err)
	}
	now := r.now()
	exp := now.Add(ttl)
	if ttl < 0 {
		exp = now.Add(ttl - 2*time.Minute) // past distribution's leeway too
	}
	if access == nil {
		access = []*resourceActions{} // "access": [] as Docker Hub sends
	}
	c := claims{
		Issuer:    issuer,
		Subject:   user,
		Audience:  service,
		Expiry:    int64(math.Ceil(float64(exp.UnixMilli()) / 1000)),
		NotBefore: now.Unix(),
		IssuedAt:  now.Unix(),
		ID:        randomHex(8),
		Access:    access,
		ExpMS:     exp.UnixMilli(),
	}
	tok, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		return "", nil, fmt.Errorf("signing token: %w", err)
	}
	granted := make([]string, len(access))
	for i, a := range access {
		granted[i] = a.String()
	}
	return tok, granted, nil
}

// authenticate accepts Alice with her password or her personal access token.
func authenticate(user, password string) bool {
	return user == Alice && (password == AlicePassword || password == AlicePAT)
}

func (r *Registry) serveToken(w http.ResponseWriter, req *http.Request) {
	tr := TokenRequest{Method: req.Method, Time: r.now()}
	defer func() {
		r.mu.Lock()
		r.requests = append(r.requests, tr)
		r.mu.Unlock()
	}()
	if req.URL.Path != "/token" {
		tr.Status = http.StatusNotFound
		tokenError(w, tr.Status, "not_found", "no such endpoint")
		return
	}
	switch req.Method {
	case http.MethodGet:
		r.tokenGET(w, req, &tr)
	case http.MethodPost:
		if r.cfg.RefusePOST {
			w.Header().Set("Allow", "GET")
			tr.Status = http.StatusMethodNotAllowed
			tokenError(w, tr.Status, "unsupported", "POST is not supported")
			return
		}
		r.tokenPOST(w, req, &tr)
	default:
		w.Header().Set("Allow", "GET, POST")
		tr.Status = http.StatusMethodNotAllowed
		tokenError(w, tr.Status, "unsupported", "method not allowed")
	}
}

// tokenGET is the classic Docker token flow: Basic credentials or none.
func (r *Registry) tokenGET(w http.ResponseWriter, req *http.Request, tr *TokenRequest) {
	q := req.URL.Query()
	tr.Scopes = q["scope"]
	tr.Service = q.Get("service")
	tr.ClientID = q.Get("client_id")
	tr.Offline = q.Get("offline_token") == "true"
	if tr.Service != "" && tr.Service != service {
		tr.Status = http.StatusBadRequest
		tokenError(w, tr.Status, "invalid_request", "unknown service "+tr.Service)
		return
	}
	user := ""
	if req.Header.Get("Authorization") != "" {
		u, p, ok := req.BasicAuth()
		if !ok || !authenticate(u, p) {
			tr.Status = http.StatusUnauthorized
			w.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
			tokenError(w, tr.Status, "unauthorized", "incorrect username or password")
			return
		}
		user = u
	}
	resp, ok := r.issue(w, tr, user)
	if !ok {
		return
	}
	resp["token"] = resp["access_token"]
	r.answer(w, tr, user, resp)
}

// tokenPOST is the OAuth2 flow: grant_type password or refresh_token.
func (r *Registry) tokenPOST(w http.ResponseWriter, req *http.Request, tr *TokenRequest) {
	if err := req.ParseForm(); err != nil {
		tr.Status = http.StatusBadRequest
		tokenError(w, tr.Status, "invalid_request", "bad form: "+err.Error())
		return
	}
	f := req.PostForm
	tr.GrantType = f.Get("grant_type")
	tr.Service = f.Get("service")
	tr.ClientID = f.Get("client_id")
	tr.Scopes = f["scope"]
	tr.Offline = f.Get("access_type") == "offline"
	if tr.Service != "" && tr.Service != service {
		tr.Status = http.StatusBadRequest
		tokenError(w, tr.Status, "invalid_request", "unknown service "+tr.Service)
		return
	}
	if tr.ClientID == "" {
		tr.Status = http.StatusBadRequest
		tokenError(w, tr.Status, "invalid_request", "missing client_id")
		return
	}
	var user string
	switch tr.GrantType {
	case "password":
		u, p := f.Get("username"), f.Get("password")
		if !authenticate(u, p) {
			tr.Status = http.StatusUnauthorized
			tokenError(w, tr.Status, "invalid_grant", "incorrect username or password")
			return
		}
		user = u
	case "refresh_token":
		r.mu.Lock()
		u, ok := r.refresh[f.Get("refresh_token")]
		r.mu.Unlock()
		if !ok {
			tr.Status = http.StatusUnauthorized
			tokenError(w, tr.Status, "invalid_grant", "invalid refresh token")
			return
		}
		user = u
	default:
		tr.Status = http.StatusBadRequest
		tokenError(w, tr.Status, "unsupported_grant_type", "unsupported grant_type "+tr.GrantType)
		return
	}
	resp, ok := r.issue(w, tr, user)
	if !ok {
		return
	}
	resp["scope"] = strings.Join(tr.Granted, " ")
	r.answer(w, tr, user, resp)
}

// issue signs a token granting user what it may have of tr.Scopes, and
// returns the body common to both flows; on failure it has answered already.
func (r *Registry) issue(w http.ResponseWriter, tr *TokenRequest, user string) (map[string]any, bool) {
	tr.User = user
	tok, granted, err := r.sign(user, r.grant(user, tr.Scopes), r.cfg.TokenTTL)
	if err != nil {
		tr.Status = http.StatusInternalServerError
		tokenError(w, tr.Status, "server_error", err.Error())
		return nil, false
	}
	tr.Granted = granted
	return map[string]any{
		"access_token": tok,
		"expires_in":   expiresIn(r.cfg.TokenTTL),
		"issued_at":    tr.Time.UTC().Format(time.RFC3339Nano),
	}, true
}

// answer adds a refresh token when one was asked for, and sends resp.
func (r *Registry) answer(w http.ResponseWriter, tr *TokenRequest, user string, resp map[string]any) {
	if tr.Offline && user != "" {
		resp["refresh_token"] = r.newRefreshToken(user)
	}
	tr.Status = http.StatusOK
	writeJSON(w, tr.Status, resp)
}

func (r *Registry) newRefreshToken(user string) string {
	t := "rt_" + randomHex(16)
	r.mu.Lock()
	r.refresh[t] = user
	r.mu.Unlock()
	return t
}

// expiresIn rounds up, so a sub-second TokenTTL still reports 1 rather than 0,
// which clients would read as "absent" (60 s).
func expiresIn(ttl time.Duration) int64 {
	return int64(math.Ceil(ttl.Seconds()))
}

func tokenError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": msg,
		"details":           msg, // Docker Hub's field
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
