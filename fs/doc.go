// Package fs is the intelligencefs FUSE filesystem (go-fuse v2): it shows a
// Twilio account's Conversational Intelligence services and transcripts as a
// read-only tree (DESIGN.md §3) and fetches and decrypts content lazily, on
// open or stat, into an off-heap plaintext cache (fs/plaincache).
//
// The package depends only on two small interfaces, Source (what it needs
// from fetch.Client) and Decrypter (crypto.Keyring), so tests can run it on an
// in-memory source as well as on the simulator.
//
// Files by kind: mount.go (Mount, Server), root.go (shared state),
// node_root.go, node_service.go, node_transcripts.go (streaming listing
// folders), listing.go (listing model and refresh), node_transcript.go,
// node_file.go (content files and handles), content.go (single-flight fetch
// and decrypt into the cache), prefetch.go, bydate.go, errno.go,
// sentences_txt.go.
package fs
