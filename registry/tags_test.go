package registry

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestNextLink(t *testing.T) {
	t.Parallel()
	base, _ := url.Parse("https://r.example/v2/a/tags/list?n=2")
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"none", nil, ""},
		{"relative", []string{`</v2/a/tags/list?n=2&last=b>; rel="next"`}, "https://r.example/v2/a/tags/list?n=2&last=b"},
		{"unquoted rel", []string{`</v2/a/tags/list?last=b>; rel=next`}, "https://r.example/v2/a/tags/list?last=b"},
		{"several links", []string{`</prev>; rel="prev", </next?x=1,2>; rel="next"`}, "https://r.example/next?x=1,2"},
		{"several rels", []string{`</n>; rel="last next"`}, "https://r.example/n"},
		{"only prev", []string{`</prev>; rel="prev"`}, ""},
		{"absolute", []string{`<https://other.example/v2/a/tags/list>; rel="next"`}, "https://other.example/v2/a/tags/list"},
		{"garbage", []string{`next`, `<>`, `;;;`}, ""},
	}
	for _, bad := range []string{`<A:>; rel=next`, `<file:///etc/passwd>; rel="next"`, `<https:///x>; rel=next`} {
		if u, err := nextLink(base, []string{bad}); err == nil {
			t.Errorf("nextLink(%q) = %v, want an error", bad, u)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := nextLink(base, tt.values)
			got := ""
			if u != nil {
				got = u.String()
			}
			if err != nil || got != tt.want {
				t.Fatalf("nextLink = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func FuzzNextLink(f *testing.F) {
	f.Add(`</v2/a/tags/list?n=2&last=b>; rel="next"`)
	f.Add(`</prev>; rel="prev", </next?x=1,2>; rel="next"`)
	f.Add(`<"\>; rel=next`)
	base, _ := url.Parse("https://r.example/v2/a/tags/list")
	f.Fuzz(func(t *testing.T, v string) {
		u, err := nextLink(base, []string{v})
		if err != nil || u == nil {
			return
		}
		if !strings.Contains(strings.ToLower(v), "next") {
			t.Fatalf("%q: a next link from a value that never says next: %s", v, u)
		}
		if u.Scheme == "" || u.Host == "" {
			t.Fatalf("%q: next link %s is not absolute", v, u)
		}
	})
}

func TestParseContentRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/*", 0, -1, true},
		{"bytes 100-99/200", 0, 0, false},
		{"bytes 100-199/150", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"bytes -1-2/3", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		start, total, err := parseContentRange(tt.in)
		if (err == nil) != tt.ok || start != tt.start || total != tt.total {
			t.Errorf("parseContentRange(%q) = %d, %d, %v", tt.in, start, total, err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now, _ := http.ParseTime("Wed, 25 Nov 2026 10:00:00 GMT")
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"120", "2m0s", true},
		{"0", "0s", true},
		{"Wed, 25 Nov 2026 10:00:30 GMT", "30s", true},
		{"Wed, 25 Nov 2026 09:00:00 GMT", "0s", true},
		{"-5", "0s", false},
		{"soon", "0s", false},
	}
	for _, tt := range tests {
		d, ok := parseRetryAfter(tt.in, now)
		if ok != tt.ok || d.String() != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %s, %v", tt.in, d, ok, tt.want, tt.ok)
		}
	}
}
