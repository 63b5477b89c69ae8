package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/search"
	"github.com/intelligencefs/intelligencefs/fs/sentencetext"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"utc": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"duration": func(secs int) string { return fmt.Sprintf("%d:%02d", secs/60, secs%60) },
}

// render executes a page template, or answers 500 with one log line.
func (s *Server) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.pages.ExecuteTemplate(w, name, data); err != nil {
		s.log.Warn("web: rendering a page failed", "page", name, "err", err)
	}
}

// fail answers a failed API call: 404 for ErrNotFound, 502 otherwise,
// with the redacted error (fetch errors carry no content or URL query).
func (s *Server) fail(w http.ResponseWriter, what string, err error) {
	code := http.StatusBadGateway
	if errors.Is(err, record.ErrNotFound) {
		code = http.StatusNotFound
	}
	s.log.Warn("web: "+what+" failed", "err", err)
	http.Error(w, what+": "+record.Redact(err.Error()), code)
}

func (s *Server) services(w http.ResponseWriter, r *http.Request) {
	svcs, err := s.o.Source.ListServices(r.Context())
	if err != nil {
		s.fail(w, "listing services", err)
		return
	}
	s.render(w, "services.html", svcs)
}

// PageSize is the number of transcripts on one page of a service.
const PageSize = 50

// statuses are the transcript statuses the listing can filter on.
var statuses = []string{"", "completed", "in-progress", "queued", "failed", "canceled", "error", "new"}

// transcriptsPage is the data of a service's page of transcripts.
type transcriptsPage struct {
	Service              record.Service
	Transcripts          []record.Transcript
	Since, Until, Status string
	Statuses             []string
	Page                 int
	More                 bool
	PrevURL, NextURL     string
}

// errPageFull stops a listing once the page asked for is known.
var errPageFull = errors.New("page complete")

// transcripts lists one page of a service's transcripts, newest first,
// from the listing alone: no content is fetched.
func (s *Server) transcripts(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	svc, err := s.o.Source.FetchService(ctx, r.PathValue("sid"))
	if err != nil {
		s.fail(w, "fetching the service", err)
		return
	}
	q := r.URL.Query()
	p := transcriptsPage{Service: svc, Since: q.Get("since"), Until: q.Get("until"), Status: q.Get("status"), Statuses: statuses, Page: 1}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 1 && n < 10000 {
		p.Page = n
	}
	tq := record.TranscriptQuery{ServiceSID: svc.SID, PageSize: PageSize}
	if !contains(statuses, p.Status) {
		http.Error(w, "unknown status", http.StatusBadRequest)
		return
	}
	tq.Status = p.Status
	for _, d := range []struct {
		v   string
		dst *time.Time
	}{{p.Since, &tq.AfterDateCreated}, {p.Until, &tq.BeforeDateCreated}} {
		if d.v == "" {
			continue
		}
		t, err := time.Parse("2006-01-02", d.v)
		if err != nil {
			http.Error(w, "dates are YYYY-MM-DD", http.StatusBadRequest)
			return
		}
		*d.dst = t
	}
	// The listing has no page token: walk its pages up to this one, and
	// one transcript further to know whether there is a next page.
	skip, want := (p.Page-1)*PageSize, PageSize+1
	var got []record.Transcript
	err = s.o.Source.ListTranscripts(ctx, tq, func(page []record.Transcript) error {
		for _, t := range page {
			if skip > 0 {
				skip--
				continue
			}
			got = append(got, t)
			if len(got) == want {
				return errPageFull
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		s.fail(w, "listing transcripts", err)
		return
	}
	if len(got) > PageSize {
		p.More, got = true, got[:PageSize]
	}
	sort.SliceStable(got, func(i, j int) bool { return got[i].DateCreated.After(got[j].DateCreated) })
	p.Transcripts = got
	s.content.listed(got)
	page := func(n int) string {
		v := url.Values{}
		for _, k := range []string{"since", "until", "status"} {
			if x := q.Get(k); x != "" {
				v.Set(k, x)
			}
		}
		v.Set("page", strconv.Itoa(n))
		return "/services/" + svc.SID + "?" + v.Encode()
	}
	p.PrevURL, p.NextURL = page(p.Page-1), page(p.Page+1)
	s.render(w, "transcripts.html", p)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sentenceView is one line of the conversation.
type sentenceView struct {
	Index   int64
	Channel int64
	Time    string
	Who     string
	Text    string
}

// opView is one operator result rendered by type.
type opView struct {
	Name, Type, Text, Label, Probability, JSON string
}

// transcriptPage is the data of a transcript's page.
type transcriptPage struct {
	T         record.Transcript
	Completed bool
	Sentences []sentenceView
	Ops       []opView
	Metadata  string
	Error     string
}

// transcript shows one transcript: conversation, operator results,
// metadata. A cold page costs one fetch and decrypt of its documents (and
// the record, unless a listing showed it); a warm one is served from the
// page rendered before, kept off-heap in the plaintext cache like the
// documents (parsing a long conversation is most of a page's time). The
// next transcripts of its listing are then warmed in the background.
func (s *Server) transcript(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	t, err := s.content.transcript(ctx, r.PathValue("sid"))
	if err != nil {
		s.fail(w, "fetching the transcript", err)
		return
	}
	defer s.content.prefetch(t.SID, s.o.Prefetch)
	key := t.SID + "/page"
	if b, ok := s.cache.Get(key); ok {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(b.Bytes())
		b.Release()
		return
	}
	p := transcriptPage{T: t, Completed: t.Completed(), Metadata: indent(t.JSON())}
	if t.Completed() {
		d, err := s.content.load(ctx, t)
		if err != nil {
			// The page says why; the log says it too, for whoever runs the
			// viewer (an authentication failure is worth knowing).
			s.log.Warn("web: loading the transcript's content failed", "transcript", t.SID, "err", err)
			p.Error = "The transcript cannot be shown: " + record.Redact(err.Error())
		} else {
			p.Sentences, err = sentenceViews(t, d.sentences)
			if err != nil {
				p.Error = "The sentences document is not in a shape this viewer knows: " + err.Error()
			}
			for _, o := range d.ops {
				p.Ops = append(p.Ops, opViewOf(o))
			}
			d.release()
		}
	}
	var page bytes.Buffer
	if err := s.pages.ExecuteTemplate(&page, "transcript.html", p); err != nil {
		s.log.Warn("web: rendering a page failed", "page", "transcript", "err", err)
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(page.Bytes())
	if t.Completed() && p.Error == "" {
		s.content.put(key, page.Bytes()) // wipes the heap copy
	} else {
		clear(page.Bytes())
	}
}

// sentenceViews parses doc into the conversation's lines, naming each
// channel by its participant's role where the transcript says it.
func sentenceViews(t record.Transcript, doc []byte) ([]sentenceView, error) {
	ss, err := sentencetext.Parse(doc)
	if err != nil {
		return nil, err
	}
	roles := channelRoles(t)
	out := make([]sentenceView, 0, len(ss))
	for _, x := range ss {
		who := roles[x.Channel]
		if who == "" {
			who = "ch" + strconv.FormatInt(x.Channel, 10)
		}
		out = append(out, sentenceView{Index: x.Index, Channel: x.Channel, Time: clock(x.Start), Who: who, Text: string(x.AppendText(nil))})
	}
	return out, nil
}

// clock formats seconds as sentences.txt does: mm:ss.s.
func clock(secs float64) string {
	tenths := int64(math.Round(secs * 10))
	if tenths < 0 || secs != secs {
		tenths = 0
	}
	return fmt.Sprintf("%02d:%02d.%d", tenths/600, (tenths%600)/10, tenths%10)
}

// channelRoles maps media channels to participant roles from the
// transcript's channel object.
func channelRoles(t record.Transcript) map[int64]string {
	var ch struct {
		Participants []struct {
			ChannelParticipant int64  `json:"channel_participant"`
			Role               string `json:"role"`
			FullName           string `json:"full_name"`
		} `json:"participants"`
	}
	out := map[int64]string{}
	if json.Unmarshal(t.Channel(), &ch) != nil {
		return out
	}
	for _, p := range ch.Participants {
		name := p.Role
		if p.FullName != "" {
			name = p.FullName + " (" + p.Role + ")"
		}
		out[p.ChannelParticipant] = name
	}
	return out
}

// opViewOf renders one operator result by its type: the text of a
// text generation, the label and probability of a classification, and JSON
// for the rest (extracted entities included).
func opViewOf(doc []byte) opView {
	var m map[string]json.RawMessage
	if json.Unmarshal(doc, &m) != nil {
		return opView{Name: "operator result", JSON: string(doc)}
	}
	str := func(k string) string {
		var v string
		json.Unmarshal(m[k], &v)
		return v
	}
	v := opView{Name: str("name"), Type: str("operator_type")}
	switch v.Type {
	case "text-generation":
		var tg struct {
			Result string `json:"result"`
		}
		if json.Unmarshal(m["text_generation_results"], &tg) == nil && tg.Result != "" {
			v.Text = tg.Result
			return v
		}
	case "conversation-classify":
		v.Label = str("predicted_label")
		var p json.Number
		if json.Unmarshal(m["predicted_probability"], &p) == nil {
			v.Probability = p.String()
		} else {
			v.Probability = str("predicted_probability")
		}
		if v.Label != "" {
			return v
		}
	case "extract":
		if x, ok := m["extract_results"]; ok {
			v.JSON = indent(x)
			return v
		}
	}
	v.JSON = indent(doc)
	return v
}

// indent pretty-prints JSON (the input as is when it is not JSON).
func indent(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

// download serves one transcript file as an attachment: the user's
// explicit choice to put plaintext on disk.
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	t, err := s.content.transcript(ctx, r.PathValue("sid"))
	if err != nil {
		s.fail(w, "fetching the transcript", err)
		return
	}
	if !t.Completed() {
		http.Error(w, "the transcript is not completed: it has no content yet", http.StatusNotFound)
		return
	}
	d, err := s.content.load(ctx, t)
	if err != nil {
		s.fail(w, "fetching the transcript's content", err)
		return
	}
	defer d.release()
	var body []byte
	ctype := "application/json"
	file := r.PathValue("file")
	switch file {
	case "sentences.json":
		body = append([]byte(nil), d.sentences...)
	case "sentences.txt":
		ctype = "text/plain; charset=utf-8"
		body, err = sentencetext.RenderLabeled(d.sentences, sentencetext.LabelsFromChannel(t.Channel()))
		if err != nil {
			http.Error(w, "sentences.txt cannot be derived from this document", http.StatusNotFound)
			return
		}
	case "operator-results.jsonl":
		var b bytes.Buffer
		for _, o := range d.ops {
			if json.Compact(&b, o) != nil {
				b.Write(o)
			}
			b.WriteByte('\n')
		}
		body = b.Bytes()
		ctype = "application/jsonl"
	default:
		http.NotFound(w, r)
		return
	}
	defer clear(body)
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", attachment(t.SID+"-"+file))
	w.Write(body)
}

// searchPage is the data of the search page's head.
type searchPage struct {
	Q                 string
	Fixed, IgnoreCase bool
	Services          []string
	Error             string
}

// hitView is one transcript of search results.
type hitView struct {
	SID     string
	Created time.Time
	Lines   []hitLine
}

type hitLine struct {
	Index   int64
	Channel int64
	Time    string
	Parts   []part
}

// part is a run of a sentence's text, matched (highlighted) or not.
type part struct {
	Text string
	Hit  bool
}

// search runs the search engine and streams its results as they come, so
// the page shows progress while it runs, without JavaScript.
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := searchPage{Q: q.Get("q"), Fixed: q.Get("fixed") == "1", IgnoreCase: q.Get("icase") == "1", Services: q["service"]}
	query := search.Query{Pattern: p.Q, Fixed: p.Fixed, IgnoreCase: p.IgnoreCase, Services: p.Services}
	re, err := search.Compile(query)
	if p.Q == "" {
		s.render(w, "searchHead", p)
		s.render(w, "searchFoot", nil)
		return
	}
	if err != nil {
		p.Error = err.Error()
		s.render(w, "searchHead", p)
		s.render(w, "searchFoot", nil)
		return
	}
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	s.render(w, "searchHead", p)
	flush()
	last := time.Now()
	sum, err := s.eng.Run(r.Context(), query, search.Handler{
		Match: func(res *search.Result) error {
			s.render(w, "searchHit", hitViewOf(re, res))
			flush()
			return nil
		},
		Progress: func(pr search.Progress) {
			if time.Since(last) > time.Second {
				last = time.Now()
				s.render(w, "searchProgress", pr)
				flush()
			}
		},
	})
	if err != nil {
		fmt.Fprintf(w, `<p class="warn">%s</p>`, template.HTMLEscapeString(record.Redact(err.Error())))
	}
	s.render(w, "searchProgress", sum)
	s.render(w, "searchFoot", nil)
}

// hitViewOf renders a matching transcript's sentence matches with the
// matched runs marked.
func hitViewOf(re *regexp.Regexp, res *search.Result) hitView {
	h := hitView{SID: res.Transcript.SID, Created: res.Transcript.DateCreated}
	for _, m := range res.Matches {
		if m.Kind != search.InSentence {
			continue
		}
		l := hitLine{Index: m.Sentence.Index, Channel: m.Sentence.Channel, Time: clock(m.Sentence.Start)}
		at := 0
		for _, loc := range re.FindAllIndex(m.Text, -1) {
			if loc[0] > at {
				l.Parts = append(l.Parts, part{Text: string(m.Text[at:loc[0]])})
			}
			if loc[1] > loc[0] {
				l.Parts = append(l.Parts, part{Text: string(m.Text[loc[0]:loc[1]]), Hit: true})
			}
			at = loc[1]
		}
		if at < len(m.Text) {
			l.Parts = append(l.Parts, part{Text: string(m.Text[at:])})
		}
		h.Lines = append(h.Lines, l)
	}
	return h
}
