package auth

import (
	"slices"
	"strings"
)

// Challenge is one challenge of a WWW-Authenticate header (RFC 7235 section 2.1).
type Challenge struct {
	Scheme string            // lower-cased: "bearer", "basic", ...
	Params map[string]string // keys lower-cased; values unquoted/unescaped: realm, service, scope, error
	// Token68 is the challenge's token68 form ("Newauth abc=="), which RFC 7235 allows
	// instead of parameters; it is empty when the challenge has parameters.
	Token68 string
}

// String formats c as a WWW-Authenticate challenge, parameters sorted by name and every
// value quoted, so that ParseChallenges reads it back to an equal Challenge.
func (c Challenge) String() string {
	var b strings.Builder
	b.WriteString(c.Scheme)
	if c.Token68 != "" {
		b.WriteByte(' ')
		b.WriteString(c.Token68)
		return b.String()
	}
	keys := make([]string, 0, len(c.Params))
	for k := range c.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteString(`="`)
		for _, r := range []byte(c.Params[k]) {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(r)
		}
		b.WriteByte('"')
	}
	return b.String()
}

// ParseChallenges parses every WWW-Authenticate header value of a response (RFC 7235):
// several challenges in one header ("Newauth realm=x, Basic realm=\"y\", Bearer
// realm=\"...\",service=\"...\""), case-insensitive schemes and parameter names, quoted
// strings holding commas and \" escapes, and token68. Malformed input never panics; it
// yields what could be parsed.
//
// The grammar is the RFC's, with one leniency that real registries need: an unquoted
// parameter value runs to the next comma or space, so realm=https://host/token works
// although ':' and '/' are not token characters.
func ParseChallenges(values []string) []Challenge {
	var out []Challenge
	for _, v := range values {
		p := challengeParser{s: v}
		out = p.parse(out)
	}
	return out
}

type challengeParser struct {
	s string
	i int
}

func (p *challengeParser) parse(out []Challenge) []Challenge {
	for {
		p.skipSeparators()
		if p.i >= len(p.s) {
			return out
		}
		scheme := p.token()
		if scheme == "" || (p.i < len(p.s) && !isSpace(p.s[p.i]) && p.s[p.i] != ',') {
			// Not a challenge: a stray character, or a parameter with no scheme
			// before it. Resynchronise at the next comma.
			p.skipPast()
			continue
		}
		c := Challenge{Scheme: strings.ToLower(scheme), Params: map[string]string{}}
		p.skipSpaces()
		if t, ok := p.token68(); ok {
			c.Token68 = t
			out = append(out, c)
			continue
		}
		p.params(&c)
		out = append(out, c)
	}
}

// params reads the auth-params of one challenge, stopping before the next challenge's
// scheme. A comma separates both parameters and challenges; what follows it decides:
// "token =" is a parameter, anything else starts a new challenge.
func (p *challengeParser) params(c *Challenge) {
	for {
		p.skipSpaces()
		for p.i < len(p.s) && (p.s[p.i] == ',' || isSpace(p.s[p.i])) {
			p.i++
		}
		if p.i >= len(p.s) || !p.atParam() {
			return
		}
		name := strings.ToLower(p.token())
		p.skipSpaces()
		p.i++ // '=', as atParam checked
		p.skipSpaces()
		var value string
		if p.i < len(p.s) && p.s[p.i] == '"' {
			value = p.quoted()
		} else {
			start := p.i
			for p.i < len(p.s) && p.s[p.i] != ',' && !isSpace(p.s[p.i]) {
				p.i++
			}
			value = p.s[start:p.i]
		}
		if _, dup := c.Params[name]; !dup { // RFC 7235: each name at most once; the first wins
			c.Params[name] = value
		}
		p.skipSpaces()
		if p.i < len(p.s) && p.s[p.i] != ',' {
			p.skipPast() // garbage after a value, e.g. realm="a"b
		}
	}
}

// atParam reports whether the input at p.i is "token BWS =", the start of an auth-param.
func (p *challengeParser) atParam() bool {
	j := p.i
	for j < len(p.s) && isTchar(p.s[j]) {
		j++
	}
	if j == p.i {
		return false
	}
	for j < len(p.s) && isSpace(p.s[j]) {
		j++
	}
	return j < len(p.s) && p.s[j] == '='
}

// token68 reads a token68 if the input at p.i is one standing alone: its characters, any
// '=' padding, then the end of the input or a comma.
func (p *challengeParser) token68() (string, bool) {
	j := p.i
	for j < len(p.s) && isToken68(p.s[j]) {
		j++
	}
	if j == p.i {
		return "", false
	}
	for j < len(p.s) && p.s[j] == '=' {
		j++
	}
	k := j
	for k < len(p.s) && isSpace(p.s[k]) {
		k++
	}
	if k < len(p.s) && p.s[k] != ',' {
		return "", false
	}
	t := p.s[p.i:j]
	p.i = k
	return t, true
}

func (p *challengeParser) token() string {
	start := p.i
	for p.i < len(p.s) && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted-string starting at the opening quote. An unterminated string
// runs to the end of the input.
func (p *challengeParser) quoted() string {
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case '"':
			return b.String()
		case '\\':
			if p.i < len(p.s) {
				b.WriteByte(p.s[p.i])
				p.i++
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (p *challengeParser) skipSpaces() {
	for p.i < len(p.s) && isSpace(p.s[p.i]) {
		p.i++
	}
}

func (p *challengeParser) skipSeparators() {
	for p.i < len(p.s) && (isSpace(p.s[p.i]) || p.s[p.i] == ',') {
		p.i++
	}
}

// skipPast moves past the next comma outside a quoted string, or to the end.
func (p *challengeParser) skipPast() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ',':
			p.i++
			return
		case '"':
			p.quoted()
		default:
			p.i++
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// isTchar reports whether c is an RFC 7230 tchar.
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken68(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/", c) >= 0
}

// pickChallenge returns the challenge the transport answers: Bearer first, then Basic.
func pickChallenge(cs []Challenge) (Challenge, bool) {
	for _, scheme := range []string{"bearer", "basic"} {
		for _, c := range cs {
			if c.Scheme == scheme {
				return c, true
			}
		}
	}
	return Challenge{}, false
}
