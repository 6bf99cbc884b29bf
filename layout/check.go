package layout

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/haul-dev/haul/disk"
)

// ErrNotLayout is what a *disk.OutputError from Check matches when dir is a
// directory that holds files but no OCI layout: haul adds images to a
// layout, and mixes them into nothing else.
var ErrNotLayout = errors.New("not an OCI image layout")

// Check tells, before anything is fetched, whether Create can make dir a
// layout, or add to it: dir is absent (its parent exists and takes a new
// file), or an empty directory, or a layout of version 1.0.0 (oci-layout),
// and takes new files. What it refuses is a *disk.OutputError (see
// disk.CheckDir), matching ErrNotLayout for a directory that holds other
// things.
func Check(dir string) error {
	if err := disk.CheckDir(dir); err != nil {
		return err
	}
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return disk.Refuse(dir, err, "%v", err)
	}
	names, _ := f.Readdirnames(1)
	f.Close()
	if len(names) == 0 {
		return nil
	}
	err = newLayout(dir).checkLayoutFile()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return disk.Refuse(dir, ErrNotLayout, "the directory is neither empty nor an OCI image layout (it has no %s): name a new or empty directory, or a layout", LayoutFile)
	case err != nil:
		return disk.Refuse(dir, ErrNotLayout, "%v", err)
	}
	return nil
}

// RemoveStale removes the temporary files that writers of the layout killed
// midway left (index.json's, oci-layout's, blobs'), and no live process
// holds: disk.RemoveStaleIn on its root and on each blobs/<alg>. Best
// effort: it returns how many it removed.
func (l *Layout) RemoveStale() int {
	n := disk.RemoveStaleIn(l.dir)
	algs, _ := os.ReadDir(filepath.Join(l.dir, "blobs"))
	for _, a := range algs {
		if a.IsDir() {
			n += disk.RemoveStaleIn(filepath.Join(l.dir, "blobs", a.Name()))
		}
	}
	return n
}

// linkTries bounds how often LinkBlob makes its link again when it vanished
// before the rename: another process's RemoveStale can take it in that
// instant, since a link, unlike a file Create makes, holds no lock.
const linkTries = 3
