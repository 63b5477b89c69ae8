// Package twiliosim is a faithful fake of the parts of Twilio that
// intelligencefs talks to: Conversational Intelligence v2, Accounts v1
// (Credentials/PublicKeys) and the S3-style object store that serves
// encrypted transcripts and operator results through presigned URLs.
//
// It is shaped like net/http/httptest: NewServer starts a real HTTP server on
// 127.0.0.1:0, Server.URL is its base, Close stops it. It does not import
// "testing", so the demo command can run it too.
//
// # URL layout (one listener)
//
//	/v2/Services[/{GA}]                                  Intelligence services
//	/v2/Transcripts[/{GT}]                               transcripts
//	/v2/Transcripts/{GT}/Sentences[/Encrypted]           sentences (plain list, encrypted location)
//	/v2/Transcripts/{GT}/OperatorResults[/Encrypted|/{LY}]
//	/v2/Transcripts/{GT}/Media
//	/v1/Credentials/PublicKeys[/{CR}]                    Accounts public keys
//	/objects/{GT}/sentences/{r|u}?X-Amz-...              presigned object store
//	/objects/{GT}/operator-results/{r|u}/{n}?X-Amz-...   (r = redacted, u = unredacted, n from 1)
//
// A client rewrites https://intelligence.twilio.com and
// https://accounts.twilio.com to Server.URL; every URL the simulator returns
// (meta page URLs, resource url and links, object locations) is absolute and
// points at Server.URL.
//
// # Choices where Twilio's behaviour is undocumented
//
//   - Transcripts are listed newest first (date_created descending, then sid
//     descending). PageToken encodes the last position seen (date_created and
//     sid), so paging is stable when transcripts are added or deleted between
//     pages. Other lists use an offset token.
//   - AfterDateCreated and AfterStartTime are inclusive (>=), BeforeDateCreated
//     and BeforeStartTime exclusive (<). Values are RFC 3339 or YYYY-MM-DD.
//   - The encrypted endpoints of a transcript whose encryption_credential_sid
//     is null, or that is not completed, answer 200 with "location": null /
//     "locations": null (the schema declares both nullable).
//   - The plain Sentences and OperatorResults lists of a transcript that is not
//     completed, or that is encrypted (Twilio holds no plaintext it could
//     serve), are empty (200, no items).
//   - The decrypted sentences document is, by default,
//     {"sentences":[<Sentence resource as the list endpoint returns it with
//     WordTimestamps=true>...]}; SentencesVariant switches to a bare array,
//     camelCase keys, or times and confidence as JSON numbers.
//   - Each encrypted operator-result object holds one OperatorResult resource,
//     byte for byte what the fetch endpoint returns for it.
//   - Redacted defaults to the transcript's "redaction" field (the service's
//     auto_redaction when the transcript was made). PII is replaced by
//     [PERSON], [PHONE_NUMBER], [CREDIT_CARD_NUMBER], [EMAIL_ADDRESS].
//   - Errors: 400 code 20001, 401 code 20003 "Authenticate", 404 code 20404,
//     405 code 20004, 412 code 20412, 429 code 20429, 5xx code 20500. The
//     object store answers in S3's XML: 403 AccessDenied (expired),
//     403 SignatureDoesNotMatch (tampered), 400 InvalidArgument (an
//     Authorization header was sent; also counted as CounterObjectAuthViolations),
//     404 NoSuchKey (deleted transcript).
//   - Service ETag is a quoted hash of sid and version; If-Match "*" matches.
package twiliosim
