// Package disk is haul's portable layer over the filesystem: the calls whose
// behaviour differs between Linux, macOS and Windows, each in one small
// build-tagged file with a portable fallback.
//
//   - Free and CheckFree say whether a file fits before the first byte is
//     written; SpaceError is what a program matches with errors.As.
//   - Create (then Commit or Abort) and WriteFile make files appear whole:
//     written under a temporary name beside the final one, then renamed.
//     Rename and Remove wait, on Windows, for other processes to let go of
//     a file, which Windows will not replace or remove while it is open.
//   - CheckFile, CheckDir and CheckParent say before anything is fetched
//     whether an output can be written where it was asked to go;
//     OutputError is what they refuse with, naming the caller's path.
//   - A temporary file of Create's, and a directory of MkdirTemp's, is
//     locked while its process writes it: RemoveStale, RemoveStaleIn and
//     RemoveStaleDirs remove what killed processes left, by its marked
//     name, and never what a live one holds.
//   - CopyRange copies between files in the kernel where it can
//     (copy_file_range on Linux, which shares extents on XFS and Btrfs);
//     CloneRange only shares extents, and says ErrUnsupported where the
//     filesystem cannot.
//   - Lock takes an exclusive lock on an open file, a wait that a context
//     ends; LockPath locks a file by name. On Windows, where locks are
//     mandatory, the lock is on a byte range past any file's end.
//   - BootID names the running boot, so a cache can tell which of its
//     unsynced files may have been lost to a power failure.
//
// Everything here writes through the page cache: no O_DIRECT, no fsync but
// where a caller asks for one.
package disk
