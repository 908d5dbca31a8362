package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

func TestValidateEvents(t *testing.T) {
	shadows := map[string]bool{"queue": true}
	tests := []struct {
		name string
		yml  string
		prom string
		want []string
	}{
		{"empty", ``, "", nil},
		{"good", `
ical:
  - path: holidays.ics
    kind: holiday
    shadows: [queue]
    refresh_interval: 1m
    horizon: 90d
api:
  bearer_token_file: token
  max_events: 10
promql:
  - name: campaigns
    query: campaign_active > 0
    step: 1m
    lookback: 7d
    name_label: campaign
    kind_label: type
    shadows: [queue]
max_events: 5000
`, "http://127.0.0.1:9090", nil},
		{"bad", `
ical:
  - kind: x
  - path: a.ics
    shadows: [nope]
    refresh_interval: 10ms
  - path: a.ics
api:
  max_events: -1
promql:
  - query: up
  - name: bad-name
  - name: c
    query: up
    step: 1s
    lookback: 7d
    name_label: "1x"
  - name: c
    query: up
max_events: -1
`, "", []string{
			"event_sources.max_events must not be negative",
			"event_sources.ical[0]: path is required",
			`event_sources.ical[1]: refresh_interval must be at least 1s`,
			`event_sources.ical[1]: unknown shadow "nope"`,
			`event_sources.ical[2]: duplicate path "a.ics"`,
			"event_sources.api: max_events, max_body_bytes and max_kinds must not be negative",
			"event_sources.promql[0]: name is required",
			"event_sources.promql[1] (bad-name): name must match ^[a-zA-Z_][a-zA-Z0-9_]*$",
			"event_sources.promql[1] (bad-name): query is required",
			"event_sources.promql[2] (c): lookback 1w at step 1s is more than 11000 points",
			`event_sources.promql[2] (c): invalid label name "1x"`,
			`event_sources.promql[3] (c): duplicate name "c"`,
			"prometheus.url (needed by event_sources.promql): is required",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var es EventSources
			dec := yaml.NewDecoder(strings.NewReader(tt.yml))
			dec.KnownFields(true)
			if err := dec.Decode(&es); err != nil && tt.yml != "" {
				t.Fatal(err)
			}
			c := &Config{Prometheus: Prometheus{URL: tt.prom}, dir: "/etc/shadowcast"}
			var got []string
			for _, err := range c.validateEvents(es, shadows) {
				got = append(got, err.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	c := &Config{dir: "/etc/shadowcast"}
	if got := c.ICalPath(ICalSource{Path: "h.ics"}); got != "/etc/shadowcast/h.ics" {
		t.Errorf("ICalPath = %s", got)
	}
}
