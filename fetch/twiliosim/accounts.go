package twiliosim

import (
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/intelligencefs/intelligencefs/crypto"
)

// publicKeyJSON is the Accounts PublicKey resource (key material never returned).
type publicKeyJSON struct {
	SID          string  `json:"sid"`
	AccountSID   string  `json:"account_sid"`
	FriendlyName *string `json:"friendly_name"`
	DateCreated  string  `json:"date_created"`
	DateUpdated  string  `json:"date_updated"`
	URL          string  `json:"url"`
}

// credentialBytes renders a PublicKey resource.
func (s *Server) credentialBytes(c *credential) []byte {
	friendly := c.friendly
	if n := s.currentFaults().ForgedServiceNames; n != "" {
		friendly = n
	}
	return marshal(publicKeyJSON{c.sid, s.AccountSID, strOrNil(friendly), isoTime(c.created), isoTime(c.updated), s.URL + "/v1/Credentials/PublicKeys/" + c.sid})
}

func (s *Server) createPublicKey(r *http.Request, h http.Header) (int, []byte, *apiError) {
	form, err := readForm(r)
	if err != nil {
		return 0, nil, errorf(400, "Malformed request body")
	}
	pemText := form.Get("PublicKey")
	if pemText == "" {
		return 0, nil, errorf(400, "Missing required parameter PublicKey in the post body")
	}
	pub, err := crypto.ParsePublicKeyPEM([]byte(pemText))
	if err != nil {
		return 0, nil, errorf(400, "Invalid PublicKey: must be an RSA public key in PEM format")
	}
	fn := form.Get("FriendlyName")
	if utf8.RuneCountInString(fn) > 64 {
		return 0, nil, errorf(400, "FriendlyName must be at most 64 characters")
	}
	if a := form.Get("AccountSid"); a != "" && !reAC.MatchString(a) {
		return 0, nil, errorf(400, "AccountSid must match ^AC[0-9a-fA-F]{32}$")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.credSeq++
	now := s.now().UTC().Truncate(time.Second)
	c := &credential{sid: makeSID("CR", s.corpus.Seed, sidCredential, 1000+s.credSeq), friendly: fn, pub: pub, created: now, updated: now}
	for s.credBySID[c.sid] != nil {
		s.credSeq++
		c.sid = makeSID("CR", s.corpus.Seed, sidCredential, 1000+s.credSeq)
	}
	s.creds = append(s.creds, c)
	s.credBySID[c.sid] = c
	return http.StatusCreated, s.credentialBytes(c), nil
}

func (s *Server) listPublicKeys(r *http.Request, h http.Header) (int, []byte, *apiError) {
	return listAll(s, r, "credentials", "/v1/Credentials/PublicKeys", func() []*credential { return s.creds }, s.credentialBytes)
}

func (s *Server) fetchPublicKey(r *http.Request, sid string) (int, []byte, *apiError) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := s.credBySID[sid]
	if c == nil || !reCR.MatchString(sid) {
		return 0, nil, notFound(r.URL.Path)
	}
	return 200, s.credentialBytes(c), nil
}
