package sentencetext

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Labels names the speaker of each media channel: the line of a sentence on
// channel n reads `[mm:ss.s] <Labels[n]>: <text>`, `ch<n>` where it has no
// label.
type Labels map[int64]string

// maxLabel bounds a speaker label (a line prefix, not a document).
const maxLabel = 64

// LabelsFromChannel reads the participants of a Transcript resource's
// channel object (compact JSON, as the API sends it):
//
//	{"participants":[{"channel_participant":1,"role":"Agent","full_name":"…"}, …]}
//
// A participant's role, lower-cased (`agent`, `customer`), names its
// channel, or else its full name; channels whose participant carries
// neither, and channels two participants claim with different names, keep
// `ch<N>`. Labels are metadata (the Transcript resource is not encrypted),
// made one word of printable characters so a line stays greppable as
// `^\[..:..\..\] agent: `. A channel object that does not parse gives no
// labels: the text view never fails because of it.
func LabelsFromChannel(channel []byte) Labels {
	if len(channel) == 0 {
		return nil
	}
	var ch struct {
		Participants []struct {
			Channel  json.Number `json:"channel_participant"`
			Role     string      `json:"role"`
			FullName string      `json:"full_name"`
		} `json:"participants"`
	}
	if json.Unmarshal(channel, &ch) != nil {
		return nil
	}
	labels := Labels{}
	clash := map[int64]bool{}
	for _, p := range ch.Participants {
		n, err := p.Channel.Int64()
		if err != nil {
			continue
		}
		name := labelWord(strings.ToLower(p.Role))
		if name == "" {
			name = labelWord(p.FullName)
		}
		if name == "" {
			continue
		}
		if old, ok := labels[n]; ok && old != name {
			clash[n] = true
		}
		labels[n] = name
	}
	for n := range clash {
		delete(labels, n)
	}
	if len(labels) == 0 {
		return nil
	}
	return labels
}

// Apply names the speaker of each sentence of ss from its channel.
func (l Labels) Apply(ss []Sentence) {
	for i := range ss {
		ss[i].Speaker = l[ss[i].Channel]
	}
}

// labelWord makes s one short word: spaces become '-', control
// characters, ':' and brackets are dropped, and it is cut at maxLabel
// bytes on a rune boundary.
func labelWord(s string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r == ' ' || r == '\t':
			b.WriteByte('-')
		case r == ':' || r == '[' || r == ']' || !unicode.IsPrint(r):
		default:
			if b.Len()+utf8.RuneLen(r) > maxLabel {
				return b.String()
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}
