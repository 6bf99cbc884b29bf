package archive

import (
	"archive/tar"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// paxPadKey is the PAX record that pads a header so the data after it starts on
// an alignSize boundary. "comment" is a POSIX keyword that readers must accept
// and may ignore; GNU tar warns about unknown keywords, so a vendor key would not do.
const paxPadKey = "comment"

// header returns the header blocks of one entry whose header starts at off, as
// archive/tar writes them, so the tar is well formed by construction. Format,
// USTAR or PAX, is archive/tar's choice: USTAR for the short names used here,
// PAX for a blob of 8 GiB or more. With align, the data that follows starts on
// an alignSize boundary.
func header(name string, dir bool, size, off int64, align bool) ([]byte, error) {
	h, err := renderHeader(name, dir, size, nil)
	if err != nil || !align || (off+int64(len(h)))%alignSize == 0 {
		return h, err
	}
	// Measure the PAX data archive/tar writes besides the pad record (a size
	// record, for a large blob), then make the pad record fill the blocks up to
	// the boundary: PAX header block, data blocks, main header block.
	probe, err := renderHeader(name, dir, size, map[string]string{paxPadKey: "0"})
	if err != nil {
		return nil, err
	}
	paxData, err := strconv.ParseInt(strings.Trim(string(probe[124:136]), " \x00"), 8, 64)
	if err != nil {
		return nil, fmt.Errorf("read back PAX header size: %w", err)
	}
	other := paxData - int64(len(paxRecord(paxPadKey, "0")))
	minLen := 2*blockSize + other + int64(len(paxRecord(paxPadKey, ""))) // unpadded
	total := (minLen + blockSize - 1) &^ (blockSize - 1)
	for (off+total)%alignSize != 0 {
		total += blockSize
	}
	recLen := total - 2*blockSize - other // the pad record fills the data blocks exactly
	// The value length that makes a record of recLen bytes; where recLen's digit
	// count changes, archive/tar's record comes out a byte short, which still
	// fills the same blocks.
	n := max(recLen-int64(len(strconv.FormatInt(recLen, 10)))-int64(len(" "+paxPadKey+"=\n")), 0)
	h, err = renderHeader(name, dir, size, map[string]string{paxPadKey: strings.Repeat("0", int(n))})
	if err != nil {
		return nil, err
	}
	if (off+int64(len(h)))%alignSize != 0 {
		return nil, fmt.Errorf("aligning %s at offset %d: header of %d bytes misses the boundary", name, off, len(h))
	}
	return h, nil
}

func renderHeader(name string, dir bool, size int64, pax map[string]string) ([]byte, error) {
	h := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Mode:     0o644,
		Size:     size,
		ModTime:  time.Unix(0, 0),
	}
	if dir {
		h.Typeflag, h.Mode = tar.TypeDir, 0o755
	}
	if pax != nil {
		h.PAXRecords, h.Format = pax, tar.FormatPAX
	}
	var buf bytes.Buffer
	// WriteHeader writes the header blocks at once; the data is never written
	// through this Writer, and it is never closed.
	if err := tar.NewWriter(&buf).WriteHeader(h); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// paxRecord formats a record as "%d %s=%s\n", the length counting itself.
func paxRecord(k, v string) string {
	const padding = 3 // space, '=', '\n'
	size := len(k) + len(v) + padding
	size += len(strconv.Itoa(size))
	rec := strconv.Itoa(size) + " " + k + "=" + v + "\n"
	if len(rec) != size { // the length gained a digit
		size = len(rec)
		rec = strconv.Itoa(size) + " " + k + "=" + v + "\n"
	}
	return rec
}
