//go:build !windows

package transcripts

// ttyPath is the process's controlling terminal, where delete asks for
// confirmation when stdin carries the SIDs.
const ttyPath = "/dev/tty"

// ttyWritable: the prompt is written to the terminal itself.
const ttyWritable = true
