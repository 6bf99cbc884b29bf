package haul

import (
	"context"
	"fmt"

	"github.com/haul-dev/haul/archive"
	"github.com/haul-dev/haul/push"
	"github.com/haul-dev/haul/ref"
)

// pushConfig is the push.Config of every copy and push: reads through
// mirrors, writes to each registry's own client, upload sessions in the
// cache for the next run to resume.
func (cl *Client) pushConfig() (push.Config, error) {
	c := push.Config{
		Jobs: cl.c.Jobs, Progress: cl.c.CopyProgress,
		Source: func(name string) (push.Reader, error) { return cl.reader(name) },
		Dest:   cl.client,
	}
	if len(cl.platforms) == 1 {
		p := cl.platforms[0]
		c.Platform = &p
	}
	st, err := cl.cache()
	if st != nil {
		c.Sessions = st.Uploads()
	}
	return c, err
}

// Copy copies the image or index src names to dst, keeping every digest
// (blobs mounted or skipped where dst's registry has them), with its
// signatures, SBOMs and attestations, as `haul copy` does. dst may leave out
// the tag, which src's fills. With one Config.Platform, only that image of
// an index goes, under its own digest. An interrupted copy resumes its
// uploads the next time.
func (cl *Client) Copy(ctx context.Context, src, dst string) error {
	s, err := cl.parse(src)
	if err != nil {
		return err
	}
	d, err := ref.ParseRepository(dst)
	if err != nil {
		if d, err = ref.Parse(dst); err != nil {
			return err
		}
	}
	c, err := cl.pushConfig()
	if err != nil {
		return err
	}
	_, err = push.Copy(ctx, s, d, c)
	return err
}

// Push puts the images of the archive or OCI layout at src (what Pull
// wrote, docker save, podman, skopeo) into dst, as `haul push` does: dst is
// REGISTRY[/PREFIX], under which each image keeps its path
// (docker.io/library/alpine:3.20 to reg.lan/mirror/library/alpine:3.20, as a
// mirror of docker.io would name it), or a full reference for an archive of
// one image.
func (cl *Client) Push(ctx context.Context, src, dst string) error {
	to, err := push.ParseDest(dst)
	if err != nil {
		return err
	}
	c, err := cl.pushConfig()
	if err != nil {
		return err
	}
	rd, err := archive.Open(ctx, src)
	if err != nil {
		return err
	}
	defer rd.Close()
	a, err := push.ReadArchive(ctx, rd, push.ArchiveConfig{Platform: cl.prefer})
	if err != nil {
		return fmt.Errorf("push %s: %w", src, err)
	}
	defer a.Close()
	refs, err := to.Map(a.Images, false)
	if err != nil {
		return fmt.Errorf("push %s: %w", src, err)
	}
	_, err = push.PushArchive(ctx, a, refs, c)
	return err
}
