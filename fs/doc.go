// Package fs is the intelligencefs FUSE filesystem (go-fuse v2): it shows a
// Twilio account's Conversational Intelligence services and transcripts as a
// read-only tree (DESIGN.md §3) and serves content fetched and decrypted
// lazily, on stat, open or read, into an off-heap plaintext cache
// (fs/plaincache) that it owns.
//
// Layering: fetch/record (domain types and sentinels, the leaf) ← fetch
// (Twilio) and fs/catalog (the transcript model: services, listings,
// by-date probes, the registry of transcripts, the content loader,
// prefetch, read leases; no go-fuse, no twilio-go) ← fs (this package: the
// FUSE side only) ← cmd. fs turns catalog's answers into nodes and
// attributes, its errors into errno values (errnoOf, errno.go) and its
// events (a deletion upstream, a cache drop, sentences.txt absent, a
// Forget) into kernel notifications (notify.go, which also keeps the
// inodes showing each transcript; the model knows nothing of inodes).
//
// Where the kernel supports it, folders are read without OPENDIR and files
// without OPEN (fs/internal/dirhandles, contentFile.Open): the kernel then caches
// every listing and page and a warm walk asks nothing of the mount; the
// catalog's read leases hold a file's plaintext while it is being read.
//
// Files: mount.go (Mount, Server, serve over fs/internal/dirhandles),
// options.go (Options and defaults), root.go (the root node, attributes,
// statfs), node_folder.go (the folder and file bases), node_service.go
// (services/, a service's folder, links), node_transcripts.go (listing
// folders streamed from catalog.Listing), node_index.go (transcripts.jsonl),
// node_transcript.go (a transcript's folder, operator-results/),
// node_file.go (content and metadata files, READ replies), bydate.go
// (by-date/ folders over the catalog's probes), forget.go, notify.go,
// errno.go, debuglog.go. The model's tests run in fs/catalog without a
// mount; the tests here mount (fs/fusetest) on the simulator.
package fs
