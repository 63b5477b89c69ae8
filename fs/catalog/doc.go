// Package catalog is the transcript model behind the filesystem, testable
// without a mount: what the account holds and what has been fetched of it.
// It owns the services snapshot (published atomically, refreshed by one
// shared call), the transcripts listings (Listing: streamed first load,
// incremental refresh, full relist to find deletions) and the by-date
// probes, the registry of transcripts entered (Entry: metadata, content
// sizes, operator-result counts and presigned locations, deletion), the
// pin-aware content loader (one shared fetch per file, detached from its
// requesters, deciding the one log line per failure), prefetch along a
// walk of a listing, and read leases; every memory budget derives from the
// plaintext cache's size in one place (Budgets).
//
// It depends on fetch/record, crypto and fs/plaincache only, never on
// go-fuse, twilio-go or fetch: the Source and Decrypter interfaces are
// expressed in record types and plain Go (fetch.Client and crypto.Keyring
// satisfy them). Its errors are record and crypto sentinels plus
// ErrInterrupted and ErrAbsent; the filesystem maps them to errno values.
// It publishes invalidations (Gone, Dropped, TxtAbsent, Forgotten) in
// order on one queue (Options.Events), which the filesystem turns into
// kernel notifications.
//
// Files: catalog.go (Catalog, Options, errors, the log line), events.go,
// source.go, services.go, listing.go, probe.go (by-date probes, Forget),
// registry.go (Entry), content.go (loader, flights, locations), txt.go,
// prefetch.go, lease.go, denied.go, sidcheck.go.
package catalog
