package twiliosim

import (
	"encoding/json"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"unicode/utf8"
)

// genSentence is one generated sentence, both texts kept so redacted and
// unredacted views share timing and confidence.
type genSentence struct {
	channel    int
	start, end float64
	confidence float64
	text, red  string
}

// genParty holds the PII of one generated call.
type genParty struct {
	agent, customer, phone, card, email, issue string
}

var (
	firstNames = []string{"Maria", "James", "Aisha", "Chen", "Olivia", "Mateo", "Priya", "Liam", "Sofia", "Noah", "Fatima", "Lucas", "Emma", "Kenji", "Zara", "Diego"}
	lastNames  = []string{"Garcia", "Smith", "Okafor", "Wang", "Johnson", "Rossi", "Patel", "Murphy", "Novak", "Kim", "Haddad", "Silva", "Brown", "Tanaka", "Khan", "Lopez"}
	issues     = []string{"a double charge on my last bill", "my internet dropping every evening", "a package that never arrived", "cancelling my subscription", "upgrading my plan", "a refund for a returned order", "resetting my account password", "a late fee I was charged", "moving my service to a new address", "a broken device under warranty"}
	middle     = []struct {
		channel int
		text    string
	}{
		{1, "Let me pull up the account details for you."},
		{2, "Sure, take your time."},
		{1, "I can see the issue on our side and I apologise for the inconvenience."},
		{2, "This has happened twice already this month."},
		{1, "I understand how frustrating that must be."},
		{1, "I am going to escalate this to our billing team right away."},
		{2, "How long will that take?"},
		{1, "It usually takes three to five business days."},
		{2, "Okay, that works for me."},
		{1, "Is there anything else on the account I can help with today?"},
		{2, "Can you send me a confirmation by email?"},
		{1, "Of course, I will send it to the email we have on file."},
		{2, "I was on hold for quite a while before you picked up."},
		{1, "I am sorry about the wait, we have had a high call volume today."},
		{1, "I have applied a credit of twenty dollars to your next statement."},
		{2, "Thank you, I appreciate that."},
		{1, "Could you please hold for a moment while I check with my supervisor?"},
		{2, "No problem."},
	}
)

// hashSID is FNV-1a of a SID, the per-transcript content seed.
func hashSID(sid string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(sid))
	return h.Sum64()
}

// party generates the people and PII of a transcript's call.
func party(r *rand.Rand) genParty {
	fn := firstNames[r.IntN(len(firstNames))]
	ln := lastNames[r.IntN(len(lastNames))]
	var card strings.Builder
	card.WriteString("4")
	for i := 1; i < 16; i++ {
		if i%4 == 0 {
			card.WriteByte(' ')
		}
		card.WriteByte(byte('0' + r.IntN(10)))
	}
	return genParty{
		agent:    firstNames[r.IntN(len(firstNames))],
		customer: fn + " " + ln,
		phone:    strconv.Itoa(200+r.IntN(800)) + "-555-0" + strconv.Itoa(100+r.IntN(900)),
		card:     card.String(),
		email:    strings.ToLower(fn+"."+ln) + "@example.com",
		issue:    issues[r.IntN(len(issues))],
	}
}

// fill substitutes {AGENT}, {NAME}, {PHONE}, {CARD}, {EMAIL}, {ISSUE} giving
// the unredacted and the redacted text.
func (p genParty) fill(tmpl string) (text, red string) {
	r1 := strings.NewReplacer("{AGENT}", p.agent, "{NAME}", p.customer, "{PHONE}", p.phone, "{CARD}", p.card, "{EMAIL}", p.email, "{ISSUE}", p.issue)
	return r1.Replace(tmpl), redactor.Replace(strings.ReplaceAll(tmpl, "{ISSUE}", p.issue))
}

// redactor replaces the PII slots of a template with Twilio-style tags.
var redactor = strings.NewReplacer("{AGENT}", "[PERSON]", "{NAME}", "[PERSON]", "{PHONE}", "[PHONE_NUMBER]", "{CARD}", "[CREDIT_CARD_NUMBER]", "{EMAIL}", "[EMAIL_ADDRESS]")

// contentRand is the generator of one transcript's content.
func (s *Server) contentRand(t *transcript) (*rand.Rand, uint64) {
	h := mix(uint64(s.corpus.Seed), hashSID(t.sid))
	return rand.New(rand.NewPCG(h, h^0x5bd1e995)), h
}

// sentences generates the transcript's sentences deterministically.
func (s *Server) sentences(t *transcript) []genSentence {
	r, _ := s.contentRand(t)
	p := party(r)
	opening := []struct {
		channel int
		tmpl    string
	}{
		{1, "Thank you for calling, my name is {AGENT}, how can I help you today?"},
		{2, "Hi {AGENT}, this is {NAME} and I am calling about {ISSUE}."},
		{1, "I am sorry to hear that, can I have the phone number on the account?"},
		{2, "Yes, it is {PHONE}."},
		{1, "Thank you {NAME}, and for verification the card number you pay with?"},
		{2, "It is {CARD}."},
	}
	closing := []struct {
		channel int
		tmpl    string
	}{
		{2, "Please send the confirmation to {EMAIL}."},
		{1, "Done, thank you for calling {NAME}, have a great day."},
		{2, "Thanks {AGENT}, bye."},
	}
	target := s.corpus.SentencesBytes
	count := 8 + r.IntN(33)
	out := make([]genSentence, 0, count+len(s.corpus.Markers))
	now := 0.4 + r.Float64()
	add := func(ch int, text, red string) int {
		words := strings.Count(text, " ") + 1
		d := float64(words)*0.32 + r.Float64()*0.6
		g := genSentence{channel: ch, start: now, end: now + d, confidence: 0.8 + r.Float64()*0.19, text: text, red: red}
		now += d + 0.2 + r.Float64()
		out = append(out, g)
		// an estimate of the rendered size (unredacted, word timestamps)
		return 190 + len(text) + words*60
	}
	size := 20
	for i, o := range opening {
		if target == 0 && i >= count-len(closing) {
			break
		}
		text, red := p.fill(o.tmpl)
		size += add(o.channel, text, red)
		if i == 1 {
			for _, m := range s.corpus.Markers {
				line := "For the record my reference is " + m + "."
				size += add(2, line, line)
			}
		}
	}
	for {
		if target > 0 {
			if size >= target {
				break
			}
		} else if len(out) >= count-len(closing) {
			break
		}
		m := middle[r.IntN(len(middle))]
		size += add(m.channel, m.text, m.text)
	}
	for _, c := range closing {
		text, red := p.fill(c.tmpl)
		add(c.channel, text, red)
	}
	return out
}

// renderOpts selects how sentences are rendered.
type renderOpts struct {
	redacted, wordTimestamps bool
	variant                  SentencesVariant
}

// appendSentence renders one Sentence resource.
func appendSentence(b []byte, g genSentence, idx int, sid string, o renderOpts) []byte {
	text := g.text
	if o.redacted {
		text = g.red
	}
	k := func(snake, camel string) string {
		if o.variant.CamelCase {
			return camel
		}
		return snake
	}
	num := func(b []byte, v float64, prec int) []byte {
		if o.variant.NumericTimes {
			return strconv.AppendFloat(b, v, 'f', prec, 64)
		}
		b = append(b, '"')
		b = strconv.AppendFloat(b, v, 'f', prec, 64)
		return append(b, '"')
	}
	b = append(b, `{"`...)
	b = append(b, k("media_channel", "mediaChannel")...)
	b = append(b, `":`...)
	b = strconv.AppendInt(b, int64(g.channel), 10)
	b = append(b, `,"`...)
	b = append(b, k("sentence_index", "sentenceIndex")...)
	b = append(b, `":`...)
	b = strconv.AppendInt(b, int64(idx), 10)
	b = append(b, `,"`...)
	b = append(b, k("start_time", "startTime")...)
	b = append(b, `":`...)
	b = num(b, g.start, 2)
	b = append(b, `,"`...)
	b = append(b, k("end_time", "endTime")...)
	b = append(b, `":`...)
	b = num(b, g.end, 2)
	b = append(b, `,"transcript":`...)
	b = appendJSONString(b, text)
	b = append(b, `,"sid":`...)
	b = appendJSONString(b, sid)
	b = append(b, `,"confidence":`...)
	b = num(b, g.confidence, 4)
	b = append(b, `,"words":[`...)
	words := strings.Fields(text)
	span := (g.end - g.start) / float64(max(len(words), 1))
	for i, w := range words {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"word":`...)
		b = appendJSONString(b, w)
		b = append(b, `,"`...)
		b = append(b, k("start_time", "startTime")...)
		b = append(b, `":`...)
		if o.wordTimestamps {
			b = num(b, g.start+float64(i)*span, 2)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"`...)
		b = append(b, k("end_time", "endTime")...)
		b = append(b, `":`...)
		if o.wordTimestamps {
			b = num(b, g.start+float64(i+1)*span, 2)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// sentenceSID is the GX sid of sentence idx of transcript t.
func (s *Server) sentenceSID(t *transcript, idx int) string {
	return makeSID("GX", s.corpus.Seed, sidSentence, hashSID(t.sid), uint64(idx))
}

// sentenceResources renders every sentence of t as the list endpoint does.
func (s *Server) sentenceResources(t *transcript, redacted, wordTimestamps bool) [][]byte {
	gs := s.sentences(t)
	out := make([][]byte, len(gs))
	o := renderOpts{redacted: redacted, wordTimestamps: wordTimestamps}
	for i, g := range gs {
		out[i] = appendSentence(nil, g, i, s.sentenceSID(t, i), o)
	}
	return out
}

// sentencesDocument renders the decrypted sentences document (what is sealed).
func (s *Server) sentencesDocument(t *transcript, redacted bool) []byte {
	gs := s.sentences(t)
	o := renderOpts{redacted: redacted, wordTimestamps: true, variant: s.corpus.Variant}
	b := make([]byte, 0, 64+len(gs)*400)
	if !o.variant.BareArray {
		b = append(b, `{"sentences":`...)
	}
	b = append(b, '[')
	for i, g := range gs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSentence(b, g, i, s.sentenceSID(t, i), o)
	}
	b = append(b, ']')
	if !o.variant.BareArray {
		b = append(b, '}')
	}
	return b
}

// operatorResults renders the transcript's operator results (1 to 3), each
// an OperatorResult resource as the fetch endpoint returns it.
func (s *Server) operatorResults(t *transcript, redacted bool) [][]byte {
	r, h := s.contentRand(t)
	p := party(r)
	ops := operatorSIDs(s.corpus.Seed)
	base := s.URL + "/v2/Transcripts/" + t.sid + "/OperatorResults/"
	name, phone := p.customer, p.phone
	if redacted {
		name, phone = "[PERSON]", "[PHONE_NUMBER]"
	}
	var out [][]byte
	// Summary (text-generation), always present.
	summary := "The customer " + name + " called about " + p.issue + ". The agent verified the account, explained the next steps and promised a confirmation by email."
	for _, m := range s.corpus.Markers {
		summary += " Reference " + m + "."
	}
	out = append(out, appendOperatorResult(nil, operatorResult{
		typ: "text-generation", name: "Call Summary", sid: ops[0],
		textGeneration: `{"result":` + string(appendJSONString(nil, summary)) + `}`,
	}, t.sid, base))
	if h%3 != 0 {
		labels := []string{"positive", "neutral", "negative"}
		pr := []float64{0.05 + r.Float64()*0.9}
		rest := 1 - pr[0]
		pr = append(pr, rest*r.Float64())
		pr = append(pr, 1-pr[0]-pr[1])
		li := int(h>>8) % 3
		lp := `{"` + labels[li] + `":"` + strconv.FormatFloat(pr[0], 'f', 4, 64) + `","` + labels[(li+1)%3] + `":"` + strconv.FormatFloat(pr[1], 'f', 4, 64) + `","` + labels[(li+2)%3] + `":"` + strconv.FormatFloat(pr[2], 'f', 4, 64) + `"}`
		out = append(out, appendOperatorResult(nil, operatorResult{
			typ: "conversation-classify", name: "Sentiment Analysis", sid: ops[1],
			predictedLabel: labels[li], predictedProbability: strconv.FormatFloat(pr[0], 'f', 4, 64),
			labelProbabilities: lp,
		}, t.sid, base))
	}
	if h%2 == 0 || len(out) == 1 && h%5 == 0 {
		ex := `{"PERSON":[` + string(appendJSONString(nil, name)) + `],"PHONE_NUMBER":[` + string(appendJSONString(nil, phone)) + `]}`
		out = append(out, appendOperatorResult(nil, operatorResult{
			typ: "extract", name: "Entity Recognition", sid: ops[2],
			extract: ex, extractMatch: "true", matchProbability: strconv.FormatFloat(0.7+r.Float64()*0.29, 'f', 4, 64),
			normalized: name,
		}, t.sid, base))
	}
	return out
}

// operatorResult holds the fields of one rendered OperatorResult; empty
// strings render as null, the JSON-valued ones are raw JSON.
type operatorResult struct {
	typ, name, sid                     string
	extractMatch                       string // raw JSON bool or ""
	matchProbability                   string // numeric string
	normalized                         string
	predictedLabel                     string
	predictedProbability               string
	labelProbabilities                 string // raw JSON
	extract, textGeneration, jsonValue string // raw JSON
}

// appendOperatorResult renders one OperatorResult resource in the spec's key order.
func appendOperatorResult(b []byte, o operatorResult, transcriptSID, base string) []byte {
	str := func(b []byte, v string) []byte {
		if v == "" {
			return append(b, "null"...)
		}
		return appendJSONString(b, v)
	}
	raw := func(b []byte, v string) []byte {
		if v == "" {
			return append(b, "null"...)
		}
		return append(b, v...)
	}
	b = append(b, `{"operator_type":`...)
	b = str(b, o.typ)
	b = append(b, `,"name":`...)
	b = str(b, o.name)
	b = append(b, `,"operator_sid":`...)
	b = str(b, o.sid)
	b = append(b, `,"extract_match":`...)
	b = raw(b, o.extractMatch)
	b = append(b, `,"match_probability":`...)
	b = str(b, o.matchProbability)
	b = append(b, `,"normalized_result":`...)
	b = str(b, o.normalized)
	b = append(b, `,"utterance_results":null,"utterance_match":null,"predicted_label":`...)
	b = str(b, o.predictedLabel)
	b = append(b, `,"predicted_probability":`...)
	b = str(b, o.predictedProbability)
	b = append(b, `,"label_probabilities":`...)
	b = raw(b, o.labelProbabilities)
	b = append(b, `,"extract_results":`...)
	b = raw(b, o.extract)
	b = append(b, `,"text_generation_results":`...)
	b = raw(b, o.textGeneration)
	b = append(b, `,"json_results":`...)
	b = raw(b, o.jsonValue)
	b = append(b, `,"transcript_sid":`...)
	b = str(b, transcriptSID)
	b = append(b, `,"url":`...)
	b = str(b, base+o.sid)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		j, _ := json.Marshal(s)
		return append(b, j...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, hexdigits[c>>4], hexdigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
