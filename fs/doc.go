// Package fs is the intelligencefs FUSE filesystem (go-fuse v2): it shows a
// Twilio account's Conversational Intelligence services and transcripts as a
// read-only tree (DESIGN.md §3) and fetches and decrypts content lazily, on
// stat, open or read, into an off-heap plaintext cache (fs/plaincache).
//
// Where the kernel supports it, folders are read without OPENDIR and files
// without OPEN (dirhandles.go, contentFile.Open): the kernel then caches
// every listing and page and a warm walk asks nothing of the mount; read
// leases (lease.go) hold a file's plaintext while it is being read.
//
// The package depends only on two small interfaces, Source (what it needs
// from fetch.Client) and Decrypter (crypto.Keyring), so tests can run it on an
// in-memory source as well as on the simulator.
//
// Files by kind: mount.go (Mount, Server), dirhandles.go (folders without
// OPENDIR), root.go (shared state), node_service.go, node_transcripts.go
// (streaming listing folders), listing.go (listing model and refresh),
// node_transcript.go, node_file.go (content files, handles and READ
// replies), lease.go (read leases), content.go (single-flight fetch and
// decrypt into the cache), prefetch.go, bydate.go, errno.go,
// sentences_txt.go.
package fs
