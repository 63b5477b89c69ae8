// Package crypto undoes (and, for tests and the simulator, performs) the
// hybrid encryption Twilio applies to Conversational Intelligence content:
// a random AES-GCM content key (CEK) per object, wrapped with the customer's
// RSA public key using RSAES-OAEP with SHA-256 and MGF1-SHA-256.
//
// The package does no I/O beyond reading key files (and writing them, for
// keygen) and knows nothing of HTTP or FUSE. Callers hand it decoded
// envelopes and get plaintext back only when the GCM tag verifies.
package crypto
