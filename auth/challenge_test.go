package auth

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseChallenges(t *testing.T) {
	t.Parallel()
	type P = map[string]string
	tests := []struct {
		name   string
		values []string
		want   []Challenge
	}{
		{"docker hub", []string{`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"`},
			[]Challenge{{Scheme: "bearer", Params: P{"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/alpine:pull"}}}},
		{"basic", []string{`Basic realm="Registry Realm"`}, []Challenge{{Scheme: "basic", Params: P{"realm": "Registry Realm"}}}},
		{"case-insensitive scheme and names", []string{`BEARER Realm="r", SERVICE="s"`}, []Challenge{{Scheme: "bearer", Params: P{"realm": "r", "service": "s"}}}},
		{"several in one header", []string{`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`},
			[]Challenge{{Scheme: "newauth", Params: P{"realm": "apps", "type": "1", "title": `Login to "apps"`}}, {Scheme: "basic", Params: P{"realm": "simple"}}}},
		{"issue example", []string{`Newauth realm=x, Basic realm="y", Bearer realm="https://a/t",service="s"`},
			[]Challenge{{Scheme: "newauth", Params: P{"realm": "x"}}, {Scheme: "basic", Params: P{"realm": "y"}}, {Scheme: "bearer", Params: P{"realm": "https://a/t", "service": "s"}}}},
		{"comma inside quotes", []string{`Bearer realm="https://a/t",scope="repository:a:pull,push"`},
			[]Challenge{{Scheme: "bearer", Params: P{"realm": "https://a/t", "scope": "repository:a:pull,push"}}}},
		{"error param", []string{`Bearer realm="r",error="insufficient_scope",scope="a b"`},
			[]Challenge{{Scheme: "bearer", Params: P{"realm": "r", "error": "insufficient_scope", "scope": "a b"}}}},
		{"unquoted url value", []string{`Bearer realm=https://auth.example.com/token,service=reg`},
			[]Challenge{{Scheme: "bearer", Params: P{"realm": "https://auth.example.com/token", "service": "reg"}}}},
		{"spaces around =", []string{`Bearer realm = "r" , service= s`}, []Challenge{{Scheme: "bearer", Params: P{"realm": "r", "service": "s"}}}},
		{"token68", []string{`Negotiate abc+/DEF==, Basic realm=x`},
			[]Challenge{{Scheme: "negotiate", Params: P{}, Token68: "abc+/DEF=="}, {Scheme: "basic", Params: P{"realm": "x"}}}},
		{"scheme only, then another", []string{`Negotiate, Bearer realm="r"`},
			[]Challenge{{Scheme: "negotiate", Params: P{}}, {Scheme: "bearer", Params: P{"realm": "r"}}}},
		{"several headers", []string{`Basic realm="a"`, `Bearer realm="b"`},
			[]Challenge{{Scheme: "basic", Params: P{"realm": "a"}}, {Scheme: "bearer", Params: P{"realm": "b"}}}},
		{"duplicate param: first wins", []string{`Bearer realm="a", Realm="b"`}, []Challenge{{Scheme: "bearer", Params: P{"realm": "a"}}}},
		{"unterminated quote", []string{`Bearer realm="https://a/t`}, []Challenge{{Scheme: "bearer", Params: P{"realm": "https://a/t"}}}},
		{"empty", []string{"", " , ,"}, nil},
		{"param without scheme is dropped", []string{`realm="x", Basic realm="y"`}, []Challenge{{Scheme: "basic", Params: P{"realm": "y"}}}},
		{"garbage after value", []string{`Bearer realm="a"xyz, service="s"`}, []Challenge{{Scheme: "bearer", Params: P{"realm": "a", "service": "s"}}}},
		{"empty value", []string{`Basic realm=`}, []Challenge{{Scheme: "basic", Params: P{}, Token68: "realm="}}},
		{"empty quoted value", []string{`Basic realm=""`}, []Challenge{{Scheme: "basic", Params: P{"realm": ""}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ParseChallenges(tt.values)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseChallenges(%q)\n got %#v\nwant %#v", tt.values, got, tt.want)
			}
		})
	}
}

func TestPickChallenge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string
		want   string
	}{
		{"bearer over basic", `Basic realm="a", Bearer realm="b"`, "bearer"},
		{"basic", `Newauth realm="a", Basic realm="b"`, "basic"},
		{"neither", `Negotiate abc`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, ok := pickChallenge(ParseChallenges([]string{tt.header}))
			if c.Scheme != tt.want || ok != (tt.want != "") {
				t.Errorf("pickChallenge(%q) = %q, %v; want %q", tt.header, c.Scheme, ok, tt.want)
			}
		})
	}
}

func FuzzParseChallenges(f *testing.F) {
	for _, s := range []string{
		`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"`,
		`Basic realm="Registry Realm"`,
		`Newauth realm=x, Basic realm="y", Bearer realm="https://a/t",service="s"`,
		`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`,
		`Bearer realm="r",scope="repository:a:pull,push repository:b:pull",error="insufficient_scope"`,
		`Negotiate abc+/DEF==, Basic realm=x`,
		`Negotiate, Bearer realm="r"`,
		`BEARER Realm = "r" , SERVICE= s`,
		`Bearer realm="unterminated`,
		`realm="x", Basic`,
		"Basic realm=\"a\\\\b\\\"c\"",
		",,, ,",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs := ParseChallenges([]string{s})
		for _, c := range cs {
			if c.Scheme == "" || c.Scheme != strings.ToLower(c.Scheme) || strings.ContainsFunc(c.Scheme, func(r rune) bool { return r > 0x7f || !isTchar(byte(r)) }) {
				t.Fatalf("%q: bad scheme %q", s, c.Scheme)
			}
			if c.Params == nil {
				t.Fatalf("%q: nil Params", s)
			}
			if c.Token68 != "" && len(c.Params) > 0 {
				t.Fatalf("%q: both token68 and params: %#v", s, c)
			}
			for k := range c.Params {
				if k == "" || k != strings.ToLower(k) || strings.ContainsAny(k, " \t,=\"") {
					t.Fatalf("%q: bad param name %q", s, k)
				}
			}
		}
		// Formatting every challenge back, all values quoted, and reparsing gives the same.
		var parts []string
		for _, c := range cs {
			parts = append(parts, c.String())
		}
		again := ParseChallenges([]string{strings.Join(parts, ", ")})
		if len(cs) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(cs, again) {
			t.Fatalf("%q: parsed %#v\nformatted %q\nreparsed %#v", s, cs, strings.Join(parts, ", "), again)
		}
	})
}
