package registrytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"
)

// StartTokenServer starts the token server alone, for a registry run
// elsewhere: Debian's docker-registry (distribution 2.8) in the end-to-end
// tests. It grants as New's does (c.Private, c.TokenTTL, Alice). Configure the
// registry with
//
//	auth: {token: {realm: r.Realm(), service: r.Service(), issuer: r.Issuer(), rootcertbundle: FILE}}
//
// where FILE holds certPEM, a self-signed certificate of the signing key.
// Distribution 2.x finds that key by the token's kid header, which must be
// the libtrust key ID of a key in the bundle; v3 reads a JWKS instead.
func StartTokenServer(c Config) (_ *Registry, certPEM []byte, err error) {
	if c.TokenTTL < 0 {
		return nil, nil, fmt.Errorf("config: negative TokenTTL")
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = defaultTokenTTL
	}
	c.TokenAuth = true
	r := &Registry{cfg: c, now: time.Now, refresh: map[string]string{}, client: &http.Client{}}
	if r.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, nil, fmt.Errorf("generating token key: %w", err)
	}
	if r.kid, err = libtrustKeyID(&r.key.PublicKey); err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: issuer},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &r.key.PublicKey, r.key)
	if err != nil {
		return nil, nil, fmt.Errorf("making the token certificate: %w", err)
	}
	ln, err := listen(c.Addr)
	if err != nil {
		return nil, nil, err
	}
	r.tokReal = http.HandlerFunc(r.serveToken)
	r.tok = httptest.NewUnstartedServer(http.HandlerFunc(r.serveRealm))
	r.tok.Listener.Close()
	r.tok.Listener = ln
	r.tok.Start()
	return r, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// Issuer is the iss claim of the tokens, for the registry's configuration.
func (r *Registry) Issuer() string { return issuer }

// libtrustKeyID is docker/libtrust's key ID: the SHA-256 of the key's DER
// (PKIX) form, its first 240 bits in base32, in twelve groups of four.
func libtrustKeyID(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	s := strings.TrimRight(base32.StdEncoding.EncodeToString(sum[:30]), "=")
	var groups []string
	for i := 0; i < len(s); i += 4 {
		groups = append(groups, s[i:min(i+4, len(s))])
	}
	return strings.Join(groups, ":"), nil
}
