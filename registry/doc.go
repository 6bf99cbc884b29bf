// Package registry is haul's HTTP client for the distribution API: ping, tags,
// manifests and blobs of one registry, over a stack of RoundTrippers (auth,
// retry, user agent, idle timeout, trace) built once per Client.
//
// It believes no header: a manifest is hashed and compared with a pinned digest
// and with Docker-Content-Digest; a blob is read no further than its descriptor's
// size and checked at EOF, inside Read, so no caller can skip the check. A body
// that stalls is abandoned after an idle timeout and a blob resumes with Range.
// A non-2xx answer becomes an *Error that says what was asked and what to try.
//
// It pushes too: BlobExists (HEAD), MountBlob, PushBlob (POST, one streamed
// PATCH, PUT with the digest; the one place an upload is retried, resumed
// across runs from the session UploadSessions keeps) and PushManifest, whose
// bytes go exactly as given.
package registry
