package twiliosim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// pageReq is a parsed PageSize/Page/PageToken.
type pageReq struct {
	size, page int
	token      string
}

// parsePage validates the paging parameters (PageSize 1..max, default 50).
func parsePage(q url.Values, max int) (pageReq, *apiError) {
	p := pageReq{size: 50}
	if v, ok := q["PageSize"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > max {
			return p, errorf(400, "PageSize must be an integer between 1 and %d", max)
		}
		p.size = n
	}
	if v, ok := q["Page"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 {
			return p, errorf(400, "Page must be a non-negative integer")
		}
		p.page = n
	}
	p.token = q.Get("PageToken")
	return p, nil
}

// param is one ordered query parameter.
type param struct{ k, v string }

// pageURL builds an absolute list URL: filters first, then PageSize, Page
// and PageToken (if any), values escaped as Twilio does (":" -> %3A).
func (s *Server) pageURL(path string, filters []param, size, page int, token string) string {
	var b strings.Builder
	b.WriteString(s.URL)
	b.WriteString(path)
	b.WriteByte('?')
	for _, f := range filters {
		b.WriteString(url.QueryEscape(f.k))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(f.v))
		b.WriteByte('&')
	}
	b.WriteString("PageSize=")
	b.WriteString(strconv.Itoa(size))
	b.WriteString("&Page=")
	b.WriteString(strconv.Itoa(page))
	if token != "" {
		b.WriteString("&PageToken=")
		b.WriteString(url.QueryEscape(token))
	}
	return b.String()
}

// listMeta is the meta envelope of a list response, in Twilio's key order.
type listMeta struct {
	Page            int     `json:"page"`
	PageSize        int     `json:"page_size"`
	FirstPageURL    string  `json:"first_page_url"`
	PreviousPageURL *string `json:"previous_page_url"`
	URL             string  `json:"url"`
	NextPageURL     *string `json:"next_page_url"`
	Key             string  `json:"key"`
}

// listBody renders {"<key>":[items...],"meta":{...}}. prevToken/nextToken
// empty mean no previous/next page.
func (s *Server) listBody(key, path string, filters []param, p pageReq, items [][]byte, hasPrev bool, prevToken string, hasNext bool, nextToken string) []byte {
	m := listMeta{
		Page:         p.page,
		PageSize:     p.size,
		FirstPageURL: s.pageURL(path, filters, p.size, 0, ""),
		URL:          s.pageURL(path, filters, p.size, p.page, p.token),
		Key:          key,
	}
	if hasPrev && p.page > 0 {
		u := s.pageURL(path, filters, p.size, p.page-1, prevToken)
		m.PreviousPageURL = &u
	}
	if hasNext {
		u := s.pageURL(path, filters, p.size, p.page+1, nextToken)
		m.NextPageURL = &u
	}
	sid := transcriptOfPath(path)
	if s.fire("EmptyPages", false, sid) {
		items = nil
		u := s.pageURL(path, filters, p.size, p.page+1, p.token)
		m.NextPageURL = &u
	}
	if s.fire("PageLoop", false, sid) {
		u := m.URL
		m.NextPageURL = &u
	}
	size := 64
	for _, it := range items {
		size += len(it) + 1
	}
	b := make([]byte, 0, size+1024)
	b = append(b, `{"`...)
	b = append(b, key...)
	b = append(b, `":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	b = append(b, `],"meta":`...)
	b = append(b, marshal(m)...)
	return append(b, '}')
}

// offsetToken encodes an offset as an opaque page token.
func offsetToken(off int) string {
	return "PT" + base64.RawURLEncoding.EncodeToString([]byte("o|"+strconv.Itoa(off)))
}

// decodeToken returns the decoded payload of a page token.
func decodeToken(tok string) (string, bool) {
	if !strings.HasPrefix(tok, "PT") {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(tok[2:])
	if err != nil {
		return "", false
	}
	return string(b), true
}

// offsetOf resolves the start offset of an offset-paged list.
func offsetOf(p pageReq) (int, *apiError) {
	if p.token == "" {
		return p.page * p.size, nil
	}
	d, ok := decodeToken(p.token)
	if !ok || !strings.HasPrefix(d, "o|") {
		return 0, errorf(400, "Invalid PageToken")
	}
	n, err := strconv.Atoi(d[2:])
	if err != nil || n < 0 {
		return 0, errorf(400, "Invalid PageToken")
	}
	return n, nil
}

// offsetPage renders one page of an immutable list.
func (s *Server) offsetPage(key, path string, filters []param, p pageReq, all [][]byte) ([]byte, *apiError) {
	off, e := offsetOf(p)
	if e != nil {
		return nil, e
	}
	start := min(off, len(all))
	end := min(start+p.size, len(all))
	prev := max(start-p.size, 0)
	return s.listBody(key, path, filters, p, all[start:end], start > 0, offsetToken(prev), end < len(all), offsetToken(end)), nil
}

// marshal encodes v as JSON without HTML escaping and without a newline.
func marshal(v any) []byte {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return []byte(strings.TrimSuffix(b.String(), "\n"))
}

// listAll serves a list endpoint without filters: every item, rendered
// under the read lock, paged by offset (Page/PageToken, PageSize up to 1000).
func listAll[T any](s *Server, r *http.Request, key, path string, items func() []T, render func(T) []byte) (int, []byte, *apiError) {
	return listAllPlus(s, r, key, path, items, render, nil)
}

// listAllPlus is listAll with extra items appended to every page: more(the
// page's first item, or nil) returns them (HostileServices); nil adds none.
func listAllPlus[T any](s *Server, r *http.Request, key, path string, items func() []T, render func(T) []byte, more func(first []byte) [][]byte) (int, []byte, *apiError) {
	p, e := parsePage(r.URL.Query(), 1000)
	if e != nil {
		return 0, nil, e
	}
	s.mu.RLock()
	all := items()
	rendered := make([][]byte, len(all))
	for i, it := range all {
		rendered[i] = render(it)
	}
	s.mu.RUnlock()
	off, e := offsetOf(p)
	if e != nil {
		return 0, nil, e
	}
	start := min(off, len(rendered))
	end := min(start+p.size, len(rendered))
	page := append([][]byte(nil), rendered[start:end]...)
	var first []byte
	if len(page) > 0 {
		first = page[0]
	}
	if more != nil {
		page = append(page, more(first)...)
	}
	prev := max(start-p.size, 0)
	return 200, s.listBody(key, path, nil, p, page, start > 0, offsetToken(prev), end < len(rendered), offsetToken(end)), nil
}
