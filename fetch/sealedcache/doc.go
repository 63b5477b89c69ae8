// Package sealedcache keeps Twilio's sealed objects of encrypted transcripts
// on disk across mounts: the object bytes exactly as the object store served
// them, with the wrapped content key and the IV of their headers, so that a
// later mount, cat or search opens them without a location request or a
// download.
//
// It never decrypts and never sees plaintext: an entry is what Twilio itself
// stores, which only the private key opens. It holds no presigned URL (an
// operator result's object is named by a hash of its path only), no
// credential, and no transcript metadata beyond the SID, the credential SID
// the content was sealed for and the transcript's date_updated (what makes
// an entry current), plus the account SID and a hash of the API origin it
// was fetched for and from (what binds it: an entry another account or
// another API left is never served).
//
// Layout and invariants (DIR is --sealed-cache):
//
//	DIR/                      0700, owned by the user, refused otherwise
//	  v1/<xx>/                0700; xx = the last two hex digits of the SID
//	    GT….<r|u>.s           the sentences object (r redacted, u unredacted)
//	    GT….<r|u>.o<i>        operator result i (0-based position in the
//	                          first answer of the locations request)
//	    GT….<r|u>.n           the operator results' count and object hashes
//	    .tmp-…                a write in progress (or left by a crash)
//
// Every file is 0600 and self-describing: a magic line, one JSON header line
// (SID, object, redaction, credential SID, date_updated, account SID, API
// origin hash, wrapped key, IV, an operator result's object hash, body
// length, and an HMAC-SHA256 of it all under a secret derived from the
// private keys) and the body. An operator result is served only when its
// object hash is the one the count lists at its position. A file is written to a temporary name in its
// folder, fsynced, then hard-linked to the entry's name, which fails if the
// entry exists: the first complete copy wins and is never overwritten (one
// writer per entry, across processes too; rename where there are no hard
// links). Readers (in this process or another sharing DIR) see a complete
// entry or none, and a crash leaves at most a temporary file that a later
// eviction pass removes. Anything that does not parse, whose length or MAC
// is wrong, that names another transcript or object, that is not a regular
// 0600 file of the user, is removed and read as a miss: a damaged or planted
// file costs a download, never an error.
// The caller (fetch) also removes an entry whose envelope fails to open.
//
// Size is bounded (least recently used out first): a read touches the
// entry's mtime, and a process whose own count of the bytes it added goes
// past the bound scans DIR and removes the oldest entries down to 90% of it,
// whoever wrote them. A write that fails (full disk, read-only DIR) turns
// writing off for the rest of the process with one warning; reads go on.
package sealedcache
