// Package haul is the front door to the library: one call per job (a
// digest, an inspection, a pull to a tar, a copy between registries, a push
// of an archive), with the defaults of the haul command exactly: docker's
// and podman's stored credentials, the mirrors and insecure registries of
// config.toml, registries.conf and daemon.json, certs.d, the blob cache,
// the idle timeout, this machine's platform.
//
//	d, err := haul.Digest(ctx, "alpine:3.20")                        // HEAD, as `haul digest`
//	img, err := haul.Inspect(ctx, "alpine")                          // platforms, layers, entrypoint
//	res, err := haul.Pull(ctx, []string{"alpine", "nginx"}, haul.DockerArchive("bundle.tar"))
//	cp, err := haul.Copy(ctx, "alpine:3.20", "reg.lan/mirror/library/alpine:3.20")
//	ps, err := haul.Push(ctx, "bundle.tar", "reg.lan/mirror")
//	tags, err := haul.Tags(ctx, "ghcr.io/org/app")
//
// Each of these functions opens a Client and closes it. A program that does
// more than one job, or wants other settings, holds one Client, safe for
// concurrent use, whose Config's zero values are the same defaults:
//
//	c, err := haul.New(haul.Config{Platform: "linux/arm64"})
//	defer c.Close()
//	img, err = c.Inspect(ctx, "alpine")
//	cp, err = c.CopyWith(ctx, "ghcr.io/org/app", "reg.lan/app", haul.CopyOptions{AllTags: true})
//
// Copy and Push return what they put, image by image (digests; blobs
// pushed, mounted, skipped), in the shape of haul copy --json and haul
// push --json; CopyWith and PushWith take CopyOptions: every tag, some
// platforms, each side's own credentials, a channel that stops the uploads
// where a later run resumes them. PullWith takes PullOptions (referrers,
// the cache, a root filesystem's limits), ExportWith the image of a local
// archive to export.
//
// References are normalized as docker does ("alpine" is
// docker.io/library/alpine:latest). Every manifest and blob is verified
// against its digest; every call honours its context, and one cancelled
// leaves nothing half-written. The packages under this one (registry,
// pull, push, mirror, config, rootfs…) do each step alone, for a program
// that needs more control than a Config gives.
package haul
