package haul

import (
	"context"
	"io"

	"github.com/opencontainers/go-digest"
)

// with runs job with a Client of the zero Config (the CLI's defaults),
// closed afterwards.
func with[T any](job func(*Client) (T, error)) (T, error) {
	cl, err := New(Config{})
	if err != nil {
		var zero T
		return zero, err
	}
	defer cl.Close()
	return job(cl)
}

// Digest is Client.Digest with the CLI's defaults: the digest ref points to,
// asked with HEAD.
func Digest(ctx context.Context, ref string) (digest.Digest, error) {
	return with(func(cl *Client) (digest.Digest, error) { return cl.Digest(ctx, ref) })
}

// Inspect is Client.Inspect with the CLI's defaults.
func Inspect(ctx context.Context, ref string) (*Image, error) {
	return with(func(cl *Client) (*Image, error) { return cl.Inspect(ctx, ref) })
}

// Manifest is Client.Manifest with the CLI's defaults.
func Manifest(ctx context.Context, ref string) (*RawManifest, error) {
	return with(func(cl *Client) (*RawManifest, error) { return cl.Manifest(ctx, ref) })
}

// ImageConfig is Client.ImageConfig with the CLI's defaults.
func ImageConfig(ctx context.Context, ref string) (*ConfigBlob, error) {
	return with(func(cl *Client) (*ConfigBlob, error) { return cl.ImageConfig(ctx, ref) })
}

// Tags is Client.Tags with the CLI's defaults.
func Tags(ctx context.Context, repo string) ([]string, error) {
	return with(func(cl *Client) ([]string, error) { return cl.Tags(ctx, repo) })
}

// Blob is Client.Blob with the CLI's defaults; closing the reader closes
// the Client's connections.
func Blob(ctx context.Context, ref string) (io.ReadCloser, error) {
	cl, err := New(Config{})
	if err != nil {
		return nil, err
	}
	rc, err := cl.Blob(ctx, ref)
	if err != nil {
		cl.Close()
		return nil, err
	}
	return closeBoth{rc, cl}, nil
}

// closeBoth closes a blob's reader, then its Client.
type closeBoth struct {
	io.ReadCloser
	cl *Client
}

func (c closeBoth) Close() error {
	err := c.ReadCloser.Close()
	c.cl.Close()
	return err
}

// Pull is Client.Pull with the CLI's defaults.
func Pull(ctx context.Context, refs []string, dest Destination) (*PullResult, error) {
	return with(func(cl *Client) (*PullResult, error) { return cl.Pull(ctx, refs, dest) })
}

// Export is Client.Export with the CLI's defaults.
func Export(ctx context.Context, src string, w io.Writer) (*Exported, error) {
	return with(func(cl *Client) (*Exported, error) { return cl.Export(ctx, src, w) })
}

// Copy is Client.Copy with the CLI's defaults.
func Copy(ctx context.Context, src, dst string) (*CopyResult, error) {
	return with(func(cl *Client) (*CopyResult, error) { return cl.Copy(ctx, src, dst) })
}

// Push is Client.Push with the CLI's defaults.
func Push(ctx context.Context, src, dst string) (*PushResult, error) {
	return with(func(cl *Client) (*PushResult, error) { return cl.Push(ctx, src, dst) })
}
