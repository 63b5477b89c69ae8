package twiliosim

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
)

// specDir is where CI puts the shared folder: beside the clone.
const specDir = "../../../shared/twilio-oai"

// loadSpec reads one OpenAPI file, skipping (or failing under
// INTELLIGENCEFS_REQUIRE_TOOLS=1) when the shared folder is absent.
func loadSpec(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(specDir, name))
	if err != nil {
		if os.Getenv("INTELLIGENCEFS_REQUIRE_TOOLS") == "1" {
			t.Fatalf("OpenAPI spec needed: %v", err)
		}
		t.Skipf("OpenAPI spec not found (%v); put the shared folder beside the repository", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// schemaChecker validates JSON values against an OpenAPI 3.0 document.
type schemaChecker struct {
	doc  map[string]any
	base string // the simulator's URL: every uri must point at it
	errs []string
}

func (c *schemaChecker) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

// resolve follows a local $ref.
func (c *schemaChecker) resolve(s map[string]any) map[string]any {
	for {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		var cur any = c.doc
		for _, p := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = cur.(map[string]any)[p]
		}
		s = cur.(map[string]any)
	}
}

// check validates v against schema s at path.
func (c *schemaChecker) check(path string, v any, s map[string]any) {
	s = c.resolve(s)
	if v == nil {
		if s["nullable"] != true {
			c.errorf("%s: null but not nullable", path)
		}
		return
	}
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if e == v {
				found = true
			}
		}
		if !found {
			c.errorf("%s: %v not in enum %v", path, v, enum)
		}
	}
	switch s["type"] {
	case "string":
		str, ok := v.(string)
		if !ok {
			c.errorf("%s: %T, want string", path, v)
			return
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			c.errorf("%s: %q does not match %s", path, str, p)
		}
		switch s["format"] {
		case "date-time":
			if _, err := time.Parse("2006-01-02T15:04:05Z", str); err != nil {
				c.errorf("%s: %q is not an ISO 8601 UTC date-time", path, str)
			}
		case "uri":
			if !strings.HasPrefix(str, c.base+"/") {
				c.errorf("%s: %q is not an absolute URL on the simulator", path, str)
			}
		}
	case "integer":
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) {
			c.errorf("%s: %v, want integer", path, v)
		}
	case "number":
		// The spec examples send probabilities as numeric strings, which
		// twilio-go accepts; allow both.
		switch x := v.(type) {
		case float64:
		case string:
			if _, err := strconv.ParseFloat(x, 64); err != nil {
				c.errorf("%s: %q is not numeric", path, x)
			}
		default:
			c.errorf("%s: %T, want number", path, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			c.errorf("%s: %T, want boolean", path, v)
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			c.errorf("%s: %T, want array", path, v)
			return
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, it := range a {
				c.check(fmt.Sprintf("%s[%d]", path, i), it, items)
			}
		}
	case "object":
		if _, ok := v.(map[string]any); !ok {
			c.errorf("%s: %T, want object", path, v)
			return
		}
	}
	props, ok := s["properties"].(map[string]any)
	if !ok {
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		c.errorf("%s: %T, want object with properties", path, v)
		return
	}
	for name, ps := range props {
		pv, present := obj[name]
		if !present {
			c.errorf("%s.%s: missing", path, name)
			continue
		}
		c.check(path+"."+name, pv, ps.(map[string]any))
	}
	for name := range obj {
		if _, ok := props[name]; !ok {
			c.errorf("%s.%s: not in the schema", path, name)
		}
	}
}

// keySet returns an object's sorted keys.
func keySet(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Sprintf("<%T>", v)
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

// compareWithExample checks that v has the key sets of the example value
// (top level, list items and meta).
func compareWithExample(t *testing.T, name string, got, example any) {
	t.Helper()
	if a, b := keySet(got), keySet(example); a != b {
		t.Errorf("%s: keys %s, example has %s", name, a, b)
		return
	}
	gm, em := got.(map[string]any), example.(map[string]any)
	for k, ev := range em {
		switch e := ev.(type) {
		case []any:
			g, _ := gm[k].([]any)
			if len(e) > 0 && len(g) > 0 {
				if _, isObj := e[0].(map[string]any); isObj {
					if a, b := keySet(g[0]), keySet(e[0]); a != b {
						t.Errorf("%s.%s[0]: keys %s, example has %s", name, k, a, b)
					}
				}
			}
		case map[string]any:
			if k == "meta" || k == "links" {
				if a, b := keySet(gm[k]), keySet(e); a != b {
					t.Errorf("%s.%s: keys %s, example has %s", name, k, a, b)
				}
			}
		}
	}
}

func TestConformanceWithOpenAPI(t *testing.T) {
	intel := loadSpec(t, "twilio_intelligence_v2.json")
	accounts := loadSpec(t, "twilio_accounts_v1.json")
	s := newTestServer(t, Options{})
	plain := firstWithStatus(t, s, "call-centre-plain", StatusCompleted, nil)
	enc := firstWithStatus(t, s, "call-centre-encrypted", StatusCompleted, nil)
	ly := operatorSIDs(0)[0]
	pem, _ := crypto.MarshalPublicKeyPEM(&testKeys(t)[1].PublicKey)
	encSvc := s.ServiceSID("call-centre-encrypted")
	tests := []struct {
		spec           map[string]any
		template, verb string
		status         string
		path           string
		form           url.Values
		nonEmpty       string // list key that must not be empty
	}{
		{intel, "/v2/Services", "get", "200", "/v2/Services", nil, "services"},
		{intel, "/v2/Services/{Sid}", "get", "200", "/v2/Services/" + encSvc, nil, ""},
		{intel, "/v2/Services/{Sid}", "get", "200", "/v2/Services/" + s.ServiceSID("call-centre-plain"), nil, ""},
		{intel, "/v2/Services/{Sid}", "post", "200", "/v2/Services/" + encSvc, url.Values{"FriendlyName": {"renamed"}}, ""},
		{intel, "/v2/Services", "post", "201", "/v2/Services", url.Values{"UniqueName": {"conformance"}}, ""},
		{intel, "/v2/Transcripts", "get", "200", "/v2/Transcripts?PageSize=1000", nil, "transcripts"},
		{intel, "/v2/Transcripts", "get", "200", "/v2/Transcripts?ServiceSid=" + encSvc + "&PageSize=2&Status=completed", nil, "transcripts"},
		{intel, "/v2/Transcripts/{Sid}", "get", "200", "/v2/Transcripts/" + enc.SID, nil, ""},
		{intel, "/v2/Transcripts/{TranscriptSid}/Sentences", "get", "200", "/v2/Transcripts/" + plain.SID + "/Sentences", nil, "sentences"},
		{intel, "/v2/Transcripts/{TranscriptSid}/Sentences", "get", "200", "/v2/Transcripts/" + plain.SID + "/Sentences?Redacted=true&WordTimestamps=true&PageSize=3", nil, "sentences"},
		{intel, "/v2/Transcripts/{TranscriptSid}/Sentences/Encrypted", "get", "200", "/v2/Transcripts/" + enc.SID + "/Sentences/Encrypted", nil, ""},
		{intel, "/v2/Transcripts/{TranscriptSid}/Sentences/Encrypted", "get", "200", "/v2/Transcripts/" + plain.SID + "/Sentences/Encrypted", nil, ""},
		{intel, "/v2/Transcripts/{TranscriptSid}/OperatorResults", "get", "200", "/v2/Transcripts/" + plain.SID + "/OperatorResults?Redacted=true", nil, "operator_results"},
		{intel, "/v2/Transcripts/{TranscriptSid}/OperatorResults/{OperatorSid}", "get", "200", "/v2/Transcripts/" + plain.SID + "/OperatorResults/" + ly, nil, ""},
		{intel, "/v2/Transcripts/{TranscriptSid}/OperatorResults/Encrypted", "get", "200", "/v2/Transcripts/" + enc.SID + "/OperatorResults/Encrypted", nil, ""},
		{intel, "/v2/Transcripts/{Sid}/Media", "get", "200", "/v2/Transcripts/" + enc.SID + "/Media", nil, ""},
		{accounts, "/v1/Credentials/PublicKeys", "post", "201", "/v1/Credentials/PublicKeys", url.Values{"PublicKey": {string(pem)}, "FriendlyName": {"ci"}}, ""},
		{accounts, "/v1/Credentials/PublicKeys", "get", "200", "/v1/Credentials/PublicKeys", nil, "credentials"},
		{accounts, "/v1/Credentials/PublicKeys/{Sid}", "get", "200", "/v1/Credentials/PublicKeys/" + s.CredentialSIDs()[0], nil, ""},
	}
	// Every operation of every sub-resource this project uses must be covered.
	for _, tc := range tests {
		t.Run(tc.verb+" "+tc.path, func(t *testing.T) {
			op, ok := tc.spec["paths"].(map[string]any)[tc.template].(map[string]any)[tc.verb].(map[string]any)
			if !ok {
				t.Fatalf("spec has no %s %s", tc.verb, tc.template)
			}
			resp := op["responses"].(map[string]any)[tc.status].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)
			method := strings.ToUpper(tc.verb)
			r := do(t, s, method, tc.path, tc.form)
			if strconv.Itoa(r.status) != tc.status {
				t.Fatalf("status %d, want %s: %s", r.status, tc.status, r.body)
			}
			var got any
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			if tc.nonEmpty != "" && len(got.(map[string]any)[tc.nonEmpty].([]any)) == 0 {
				t.Fatalf("%s is empty: nothing to check", tc.nonEmpty)
			}
			c := &schemaChecker{doc: tc.spec, base: s.URL}
			c.check("$", got, resp["schema"].(map[string]any))
			for _, e := range c.errs {
				t.Error(e)
			}
			examples, _ := resp["examples"].(map[string]any)
			for name, ex := range examples {
				compareWithExample(t, name, got, ex.(map[string]any)["value"])
			}
			// Every item of a list passes too (checked above through items).
		})
	}
}

// TestSchemaCheckerCatchesErrors makes sure the conformance check can fail.
func TestSchemaCheckerCatchesErrors(t *testing.T) {
	doc := map[string]any{"components": map[string]any{"schemas": map[string]any{"x": map[string]any{
		"type": "object",
		"properties": map[string]any{
			"a": map[string]any{"type": "integer"},
			"b": map[string]any{"type": "string", "nullable": true, "pattern": "^GT"},
			"d": map[string]any{"type": "string", "format": "date-time"},
		},
	}}}}
	ref := map[string]any{"$ref": "#/components/schemas/x"}
	for _, tc := range []struct {
		json string
		errs int
	}{
		{`{"a":1,"b":null,"d":"2020-01-02T03:04:05Z"}`, 0},
		{`{"a":1.5,"b":"GX","d":"2020-01-02"}`, 3},
		{`{"b":null,"d":"2020-01-02T03:04:05Z","e":1}`, 2},
	} {
		var v any
		_ = json.Unmarshal([]byte(tc.json), &v)
		c := &schemaChecker{doc: doc, base: "http://x"}
		c.check("$", v, ref)
		if len(c.errs) != tc.errs {
			t.Errorf("%s: %d errors %v, want %d", tc.json, len(c.errs), c.errs, tc.errs)
		}
	}
}
