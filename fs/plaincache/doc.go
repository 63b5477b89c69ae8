// Package plaincache is the plaintext cache of intelligencefs: decrypted
// transcripts live here, and only here, while the filesystem serves them.
//
// Buffers come from an off-heap arena (one private anonymous mmap per buffer
// on Linux, marked MADV_DONTDUMP and locked with mlock according to
// [MlockMode]) so the Go runtime never copies plaintext and every byte can be
// zeroed before the memory goes back to the kernel. On top of the arena is a
// least-recently-used index (hashicorp/golang-lru/v2 simplelru) bounded in
// bytes ([Options.MaxBytes]) and in age ([Options.MaxAge]).
//
// # Pins and lifetime
//
// Every [Buffer] value is a handle holding one or more pins on the memory
// beneath it. [Cache.Alloc] and a hit of [Cache.Get] each return a new
// handle holding one pin; [Buffer.Pin] adds one to the same handle (for
// example while go-fuse still writes a reply) and [Buffer.Release] removes
// one. The memory is zeroed and unmapped exactly once, when it is no longer
// in the cache (never added, evicted, expired, removed, replaced, or the
// cache closed) and no handle holds a pin. It is never zeroed while pinned,
// so a reader may go on serving a buffer the cache has already dropped.
//
// When an entry leaves the cache for any reason but [Cache.Close],
// [Options.OnDrop] is called with its key from a goroutine owned by the
// cache, never from inside Get/Add/Remove and never under the cache lock, so
// the callback may call back into the cache or into go-fuse
// (NotifyContent) without deadlocking a FUSE handler.
package plaincache
