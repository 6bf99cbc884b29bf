// Package regpush uploads blobs and manifests to a registry over the
// distribution API, for the programs that seed the registries of the end to
// end tests and benchmarks (bench/mkimage, tools/rootfsimage). It is
// not haul's client: it speaks plain HTTP, sends no credentials, and trusts
// the registry it fills, checking status codes only.
package regpush

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
)

// Pusher pushes to one registry.
type Pusher struct {
	Registry string       // host:port, spoken to in plain HTTP
	Client   *http.Client // nil: http.DefaultClient
}

func (p *Pusher) client() *http.Client {
	if p.Client == nil {
		return http.DefaultClient
	}
	return p.Client
}

// Digest is the "sha256:…" form of h's sum.
func Digest(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

// Stream uploads what gen writes as one blob, hashing it as it goes, and
// returns its digest and size. gen runs on its own goroutine.
func (p *Pusher) Stream(repo string, gen func(io.Writer) error) (string, int64, error) {
	loc, err := p.startUpload(repo)
	if err != nil {
		return "", 0, err
	}
	pr, pw := io.Pipe()
	h := sha256.New()
	var n int64
	go func() {
		pw.CloseWithError(gen(&countWriter{w: io.MultiWriter(pw, h), n: &n}))
	}()
	req, _ := http.NewRequest(http.MethodPatch, loc, pr)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := p.client().Do(req)
	if err != nil {
		pr.CloseWithError(err)
		return "", 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return "", 0, fmt.Errorf("PATCH %s: %s", repo, resp.Status)
	}
	if loc, err = resolve(loc, resp.Header.Get("Location")); err != nil {
		return "", 0, err
	}
	dgst := Digest(h)
	return dgst, n, p.finishUpload(loc, dgst, nil)
}

// Bytes uploads b as one blob and returns its digest.
func (p *Pusher) Bytes(repo string, b []byte) (string, error) {
	sum := sha256.Sum256(b)
	dgst := "sha256:" + hex.EncodeToString(sum[:])
	loc, err := p.startUpload(repo)
	if err != nil {
		return "", err
	}
	return dgst, p.finishUpload(loc, dgst, b)
}

// Manifest puts b, of media type mt, as repo:ref and returns its digest.
func (p *Pusher) Manifest(repo, ref, mt string, b []byte) (string, error) {
	u := "http://" + p.Registry + "/v2/" + repo + "/manifests/" + ref
	req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(b))
	req.Header.Set("Content-Type", mt)
	resp, err := p.client().Do(req)
	if err != nil {
		return "", err
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("PUT %s: %s %s", u, resp.Status, msg)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Mount makes blob dgst of repository from part of repo too (a
// cross-repository blob mount), without uploading it again.
func (p *Pusher) Mount(repo, from, dgst string) error {
	u := "http://" + p.Registry + "/v2/" + repo + "/blobs/uploads/?mount=" + url.QueryEscape(dgst) + "&from=" + url.QueryEscape(from)
	resp, err := p.client().Post(u, "", nil)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("mount %s from %s into %s: %s", dgst, from, repo, resp.Status)
	}
	return nil
}

func (p *Pusher) startUpload(repo string) (string, error) {
	base := "http://" + p.Registry + "/v2/" + repo + "/blobs/uploads/"
	resp, err := p.client().Post(base, "", nil)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("POST %s: %s", base, resp.Status)
	}
	return resolve(base, resp.Header.Get("Location"))
}

func (p *Pusher) finishUpload(loc, dgst string, body []byte) error {
	u, err := url.Parse(loc)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("digest", dgst)
	u.RawQuery = q.Encode()
	req, _ := http.NewRequest(http.MethodPut, u.String(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := p.client().Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("PUT blob %s: %s %s", dgst, resp.Status, msg)
	}
	return nil
}

// resolve makes a Location header absolute against the URL it answered.
func resolve(base, loc string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	l, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(l).String(), nil
}

type countWriter struct {
	w io.Writer
	n *int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	*c.n += int64(n)
	return n, err
}
