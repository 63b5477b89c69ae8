package sentencetext

import "testing"

// TestLabelsFromChannel: the channel's participants name the speakers;
// without them the channel number does.
func TestLabelsFromChannel(t *testing.T) {
	for _, tc := range []struct {
		name, channel string
		want          Labels
	}{
		{"roles", `{"participants":[{"channel_participant":1,"role":"Agent"},{"channel_participant":2,"role":"Customer"}]}`, Labels{1: "agent", 2: "customer"}},
		{"full name when no role", `{"participants":[{"channel_participant":2,"full_name":"Ada Lovelace"}]}`, Labels{2: "Ada-Lovelace"}},
		{"separators dropped", `{"participants":[{"channel_participant":1,"role":"Ag:ent\n[x]"}]}`, Labels{1: "agentx"}},
		{"clash keeps chN", `{"participants":[{"channel_participant":1,"role":"Agent"},{"channel_participant":1,"role":"Customer"}]}`, nil},
		{"no participants", `{"media_properties":{}}`, nil},
		{"null", ``, nil},
		{"not JSON", `{`, nil},
		{"channel not a number", `{"participants":[{"channel_participant":"x","role":"Agent"}]}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := LabelsFromChannel([]byte(tc.channel))
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
	ss, err := Parse([]byte(`[{"transcript":"hi","media_channel":1,"start_time":1},{"transcript":"yo","media_channel":3,"start_time":2}]`))
	if err != nil {
		t.Fatal(err)
	}
	Labels{1: "agent"}.Apply(ss)
	if out := string(Append(nil, ss)); out != "[00:01.0] agent: hi\n[00:02.0] ch3: yo\n" || Len(ss) != len(out) {
		t.Errorf("render: %q (Len %d)", out, Len(ss))
	}
}
