//go:build windows

package transcripts

// ttyPath is the console's input, where delete reads its confirmation when
// stdin carries the SIDs.
const ttyPath = "CONIN$"

// ttyWritable: CONIN$ is input only; the prompt goes to stderr.
const ttyWritable = false
