package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

func TestLoadValid(t *testing.T) {
	c, err := LoadFile("testdata/valid.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Shadows) != 3 {
		t.Fatalf("%d shadows", len(c.Shadows))
	}
	s := c.Shadows[0]
	want := []model.Duration{model.Duration(5 * time.Minute), model.Duration(15 * time.Minute), model.Duration(30 * time.Minute), model.Duration(time.Hour)}
	if diff := cmp.Diff(want, s.Horizons); diff != "" {
		t.Errorf("horizons (-want +got):\n%s", diff)
	}
	if time.Duration(s.History) != 14*24*time.Hour || s.Confidence != 0.8 || s.Model != ModelHoltWinters {
		t.Errorf("shadow 0: %+v", s)
	}
	// Defaults.
	q := c.Shadows[1]
	if q.Step != DefaultStep || q.History != DefaultHistory || q.Confidence != DefaultConfidence || q.Model != ModelAuto ||
		q.RetrainInterval != DefaultRetrainInterval || len(q.Horizons) != 3 || time.Duration(q.Cleaning.MaxGap) != 5*time.Minute {
		t.Errorf("defaults not applied: %+v", q)
	}
	if q.Source.Scrape.Timeout != model.Duration(10*time.Second) {
		t.Errorf("scrape timeout default %v", q.Source.Scrape.Timeout)
	}
	// Relative paths resolve against the config file's directory.
	abs, _ := filepath.Abs("testdata/traces/requests.csv")
	if got := c.ResolvePath(c.Shadows[2].Source.File.Path); got != abs {
		t.Errorf("resolved path %q, want %q", got, abs)
	}
}

func TestEmbeddedDefaultIsValid(t *testing.T) {
	b, err := os.ReadFile("../cmd/shadowcast/default.yml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(b, ""); err != nil {
		t.Fatal(err)
	}
}

const base = `
prometheus: {url: "http://localhost:9090"}
shadows:
  - name: a
    source: {prometheus: {query: up}}
`

func TestLoadInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []string // every substring must appear in the one error
	}{
		{"malformed yaml", "shadows: [", []string{"parse config"}},
		{"unknown top-level key", base + "sahdows: []\n", []string{"field sahdows not found"}},
		{"unknown shadow key", strings.Replace(base, "name: a", "name: a\n    horizon: 5m", 1), []string{"field horizon not found"}},
		{"invalid duration", strings.Replace(base, "name: a", "name: a\n    step: 5 minutes", 1), []string{`unknown unit " minutes" in duration "5 minutes"`}},
		{"all problems at once", `
prometheus: {url: "ftp://x"}
shadows:
  - name: a
    source: {prometheus: {query: up}}
    step: 1m
    horizons: [5m, 90s, 5m, 30d]
    confidence: 1.5
    model: prophet
  - name: a
    source: {prometheus: {query: up}, file: {path: x.csv}}
  - name: 9bad
    source: {}
  - name: c
    source: {scrape: {url: "http://x/metrics"}}
  - name: d
    source: {file: {embedded: nope}}
events:
  - name: e
    start: 2026-01-02T00:00:00Z
    end: 2026-01-01T00:00:00Z
    shadows: [zzz]
`, []string{
			"prometheus.url: scheme must be http or https",
			"horizon 1m30s is not a multiple of step 1m",
			"duplicate horizon 5m",
			"horizon 30d is longer than history 1w",
			"confidence 1.5 must be in (0, 1)",
			`unknown model "prophet"`,
			`duplicate shadow name "a"`,
			"source needs exactly one of prometheus, scrape, file (got 2)",
			"name must match",
			"source needs exactly one of prometheus, scrape, file (got 0)",
			"source.scrape.metric is required",
			`unknown trace "nope"`,
			"end 2026-01-01T00:00:00Z is not after start",
			`unknown shadow "zzz"`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.yaml), "")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestSecretsNeverMarshal(t *testing.T) {
	c, err := Load([]byte(`
prometheus:
  url: http://localhost:9090
  basic_auth: {username: u, password: hunter2}
shadows:
  - name: a
    source: {prometheus: {query: up}}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "hunter2") {
		t.Errorf("secret in marshalled config:\n%s", b)
	}
}
