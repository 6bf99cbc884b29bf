package auth

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	const user, pass = "u", "p"
	type realmMode int
	const (
		refreshToken  realmMode = iota // POST answers with a refresh token
		noPOST                         // POST 405: GET with Basic
		postNoRefresh                  // POST answers with an access token only
	)
	tests := []struct {
		name      string
		challenge string // "": /v2/ answers 200
		mode      realmMode
		cred      Credential
		want      Credential
		err       string
		tokenErr  int // status in the *TokenError expected
	}{
		{"open registry", "", 0, Credential{Username: user, Password: pass}, Credential{Username: user, Password: pass}, "", 0},
		{"basic", "basic", 0, Credential{Username: user, Password: pass}, Credential{Username: user, Password: pass}, "", 0},
		{"basic, wrong password", "basic", 0, Credential{Username: user, Password: "x"}, Credential{}, "401", 0},
		{"bearer, refresh token", "bearer", refreshToken, Credential{Username: user, Password: pass}, Credential{Username: user, IdentityToken: "refresh-1"}, "", 0},
		{"bearer, POST refused", "bearer", noPOST, Credential{Username: user, Password: pass}, Credential{Username: user, Password: pass}, "", 0},
		{"bearer, no refresh token", "bearer", postNoRefresh, Credential{Username: user, Password: pass}, Credential{Username: user, Password: pass}, "", 0},
		{"bearer, wrong password", "bearer", noPOST, Credential{Username: user, Password: "x"}, Credential{}, "", 401},
		{"bearer, wrong password, POST", "bearer", refreshToken, Credential{Username: user, Password: "x"}, Credential{}, "", 401},
		{"no credential", "bearer", refreshToken, Credential{}, Credential{}, "none were given", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			realm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.ParseForm()
				switch {
				case r.Method == http.MethodPost && tt.mode == noPOST:
					w.WriteHeader(405)
					return
				case r.Method == http.MethodPost:
					want := fmt.Sprint(map[string][]string{"access_type": {"offline"}, "client_id": {"haul"}, "grant_type": {"password"},
						"password": {r.PostForm.Get("password")}, "service": {"reg"}, "username": {user}})
					if fmt.Sprint(map[string][]string(r.PostForm)) != want {
						t.Errorf("POST form %v, want %v", r.PostForm, want)
					}
					if r.PostForm.Get("password") != pass {
						w.WriteHeader(401)
						return
					}
					if tt.mode == postNoRefresh {
						io.WriteString(w, `{"access_token":"tok"}`)
						return
					}
					io.WriteString(w, `{"access_token":"tok","refresh_token":"refresh-1"}`)
				default:
					if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
						w.WriteHeader(401)
						return
					}
					// Some realms hand out refresh tokens on GET too; after a refused POST
					// the password is what is stored.
					io.WriteString(w, `{"token":"tok","refresh_token":"from-get"}`)
				}
			}))
			t.Cleanup(realm.Close)
			reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				a := r.Header.Get("Authorization")
				switch tt.challenge {
				case "basic":
					if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
						w.Header().Set("WWW-Authenticate", `Basic realm="reg"`)
						w.WriteHeader(401)
					}
				case "bearer":
					if a != "Bearer tok" {
						w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="reg"`, realm.URL))
						w.WriteHeader(401)
					}
				}
			}))
			t.Cleanup(reg.Close)

			got, err := Login(t.Context(), ownTransport(t), "reg", reg.URL, tt.cred)
			var te *TokenError
			switch {
			case tt.tokenErr != 0:
				if !errors.As(err, &te) || te.Status != tt.tokenErr {
					t.Fatalf("err = %v, want a *TokenError with status %d", err, tt.tokenErr)
				}
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one saying %q", err, tt.err)
				}
			case err != nil:
				t.Fatal(err)
			case got != tt.want:
				t.Errorf("Login = %#v, want %#v", got, tt.want)
			}
		})
	}
}
