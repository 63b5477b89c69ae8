package record

import (
	"errors"
	"testing"
	"time"
)

// TestPlanContent: the transcript's own credential decides; else the
// service's, sealed for transcripts created at or after the service's last
// update, plain-then-sealed for older completed ones, plain without one.
func TestPlanContent(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	svc := Service{EncryptionCredentialSID: "CRsvc", DateUpdated: at}
	tr := func(cred string, created time.Time, status string) Transcript {
		return Transcript{EncryptionCredentialSID: cred, DateCreated: created, Status: status}
	}
	cases := []struct {
		name string
		t    Transcript
		svc  Service
		want ContentPlan
	}{
		{"own credential", tr("CRown", at.Add(-time.Hour), "completed"), svc, ContentPlan{Encrypted: true, Credential: "CRown"}},
		{"own credential, no service", tr("CRown", at, "completed"), Service{}, ContentPlan{Encrypted: true, Credential: "CRown"}},
		{"created after the credential", tr("", at, "completed"), svc, ContentPlan{Encrypted: true, Credential: "CRsvc"}},
		{"older, completed", tr("", at.Add(-time.Second), "completed"), svc, ContentPlan{Credential: "CRsvc", Fallback: true}},
		{"older, in progress", tr("", at.Add(-time.Second), "in-progress"), svc, ContentPlan{Credential: "CRsvc"}},
		{"no date", tr("", time.Time{}, "completed"), svc, ContentPlan{Credential: "CRsvc", Fallback: true}},
		{"plain service", tr("", at, "completed"), Service{DateUpdated: at}, ContentPlan{}},
	}
	for _, c := range cases {
		if got := PlanContent(c.t, c.svc); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
		if NeedsService(c.t) != (c.t.EncryptionCredentialSID == "") {
			t.Errorf("%s: NeedsService wrong", c.name)
		}
	}
	fb := ContentPlan{Fallback: true}
	boom := errors.New("boom")
	if !fb.PlainMissed(nil, true) || !fb.PlainMissed(boom, false) || fb.PlainMissed(nil, false) || (ContentPlan{}).PlainMissed(boom, true) {
		t.Error("PlainMissed: only a fallback plan, only on an error or an empty answer")
	}
	if MissedErr(boom, ErrNotFound) != boom || MissedErr(nil, ErrNotFound) != nil || MissedErr(nil, boom) != boom {
		t.Error("MissedErr: the plain error first; a not-found after an empty list is no error")
	}
}

// TestIsSID: only two letters of the prefix and 32 hex digits are a SID.
func TestIsSID(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"GT0123456789abcdef0123456789ABCDEF", true},
		{"GA0123456789abcdef0123456789abcdef", false}, // other prefix
		{"GT0123456789abcdef0123456789abcde", false},  // short
		{"GT0123456789abcdef0123456789abcdeg", false}, // not hex
		{"GT/123456789abcdef0123456789abcdef", false},
		{"", false},
		{"..", false},
	} {
		if got := IsSID(tc.name, "GT"); got != tc.want {
			t.Errorf("IsSID(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
