package rules

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/shadowcast/shadowcast/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	exampleConfig = "testdata/shadowcast.yml"
	goldenRules   = "testdata/generated.rules.yml"
)

func loadExample(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.LoadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestGenerateGolden(t *testing.T) {
	cfg := loadExample(t)
	got, err := Generate(Options{Shadows: cfg.Shadows, Resources: cfg.Resources, Source: exampleConfig})
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(goldenRules, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenRules)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("Generate differs from %s (-want +got); run go test ./rules -update if intended:\n%s", goldenRules, diff)
	}
	again, err := Generate(Options{Shadows: cfg.Shadows, Resources: cfg.Resources, Source: exampleConfig})
	if err != nil || !bytes.Equal(got, again) {
		t.Errorf("Generate is not deterministic (err %v)", err)
	}
}

// TestGenerateShape checks the structure the webhook and Alertmanager
// rely on, independent of the exact text.
func TestGenerateShape(t *testing.T) {
	cfg := loadExample(t)
	out, err := Generate(Options{Shadows: cfg.Shadows, Resources: cfg.Resources})
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.Unmarshal(out, &f); err != nil {
		t.Fatal(err)
	}
	type key struct{ alert, resource, action, horizon string }
	var got []key
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			got = append(got, key{r.Alert, r.Labels[LabelResource], r.Labels[LabelAction], r.Labels["horizon"]})
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			if r.For == "" || r.Labels["severity"] == "" {
				t.Errorf("%s: for %q, severity %q", r.Alert, r.For, r.Labels["severity"])
			}
			if want := DefaultRunbookURL + "#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
		}
	}
	want := []key{
		{AlertActualOutsideInterval, "", "", "5m"},
		{AlertActualOutsideInterval, "", "", "15m"},
		{AlertActualOutsideInterval, "", "", "5m"},
		{AlertActualOutsideInterval, "", "", "10m"},
		{AlertScaleUp, "checkout_api", ActionScaleUp, ""},
		{AlertScaleDown, "checkout_api", ActionScaleDown, ""},
		// workers has no lower threshold: no scale-down alert.
		{AlertScaleUp, "workers", ActionScaleUp, ""},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(key{})); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
}

func TestGenerateOptions(t *testing.T) {
	res := config.Resource{Name: "api", Shadow: "rps", Horizon: model.Duration(5 * time.Minute), ThresholdUpper: 10, ThresholdLower: 2}
	out, err := Generate(Options{
		Resources:     []config.Resource{res},
		RunbookURL:    "https://runbooks.example/shadowcast.md",
		ScaleUpSeries: SeriesUpper,
		ScaleUpFor:    model.Duration(3 * time.Minute),
		ScaleDownFor:  model.Duration(20 * time.Minute),
		ReplicaLabels: []string{"replica"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{
		`max without (replica) (shadowcast_shadow_upper{horizon="5m", shadow="rps"})`,
		"for: 3m",
		"for: 20m",
		"https://runbooks.example/shadowcast.md#shadowcastscaleup",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, SeriesPeakUpper) {
		t.Errorf("output uses %s although %s was asked for", SeriesPeakUpper, SeriesUpper)
	}
}

// Immediately drops the `for` of the alert it is given; the others keep
// their defaults.
func TestGenerateImmediately(t *testing.T) {
	res := config.Resource{Name: "api", Shadow: "rps", Horizon: model.Duration(5 * time.Minute), ThresholdUpper: 10, ThresholdLower: 2}
	out, err := Generate(Options{Resources: []config.Resource{res}, ScaleUpFor: Immediately})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				For   string `yaml:"for"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			if r.Alert == AlertScaleUp || r.Alert == AlertScaleDown {
				got[r.Alert] = r.For
			}
		}
	}
	want := map[string]string{AlertScaleUp: "", AlertScaleDown: "10m"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("for (-want +got):\n%s", diff)
	}
}

func TestGenerateQuotesLabelValues(t *testing.T) {
	res := config.Resource{Name: "api", Shadow: "rps", Horizon: model.Duration(time.Minute), ThresholdUpper: 10,
		MatchLabels: map[string]string{"path": `/a"b\c`}}
	out, err := Generate(Options{Resources: []config.Resource{res}})
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.Unmarshal(out, &f); err != nil {
		t.Fatal(err)
	}
	if expr := f.Groups[0].Rules[0].Expr; !strings.Contains(expr, `path="/a\"b\\c"`) {
		t.Errorf("label value not escaped in %s", expr)
	}
}

func TestGenerateRejects(t *testing.T) {
	five := model.Duration(5 * time.Minute)
	shadow := config.Shadow{Name: "rps", Horizons: []model.Duration{five}}
	ok := config.Resource{Name: "api", Shadow: "rps", Horizon: five, ThresholdUpper: 10, ThresholdLower: 1}
	with := func(f func(r *config.Resource)) []config.Resource {
		r := ok
		f(&r)
		return []config.Resource{r}
	}
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"template in name", Options{Resources: with(func(r *config.Resource) { r.Name = "{{ .x }}" })}, "name must match"},
		{"duplicate", Options{Resources: append(with(func(*config.Resource) {}), ok)}, "duplicate resource name"},
		{"no shadow", Options{Resources: with(func(r *config.Resource) { r.Shadow = "" })}, "shadow is required"},
		{"no horizon", Options{Resources: with(func(r *config.Resource) { r.Horizon = 0 })}, "horizon is required"},
		{"unknown shadow", Options{Shadows: []config.Shadow{shadow}, Resources: with(func(r *config.Resource) { r.Shadow = "other" })}, `unknown shadow "other"`},
		{"foreign horizon", Options{Shadows: []config.Shadow{shadow}, Resources: with(func(r *config.Resource) { r.Horizon = 2 * five })}, "is not a horizon of shadow"},
		{"bad match label", Options{Resources: with(func(r *config.Resource) { r.MatchLabels = map[string]string{"a-b": "x"} })}, "invalid label name"},
		{"reserved match label", Options{Resources: with(func(r *config.Resource) { r.MatchLabels = map[string]string{"horizon": "x"} })}, "is reserved"},
		{"inverted thresholds", Options{Resources: with(func(r *config.Resource) { r.ThresholdLower = 20 })}, "is not below threshold_upper"},
		{"series", Options{ScaleUpSeries: "shadowcast_shadow"}, "scale-up series"},
		{"negative for", Options{ScaleUpFor: -five}, "must not be negative"},
		{"replica label", Options{ReplicaLabels: []string{"shadow"}}, "replica label"},
		{"no replica label", Options{ReplicaLabels: []string{}}, "at least one"},
		{"keep label is a replica label", Options{KeepLabels: []string{"instance"}}, "keep label"},
		{"shadow without name", Options{Shadows: []config.Shadow{{Horizons: []model.Duration{five}}}}, "name is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Generate error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestGenerateEmpty(t *testing.T) {
	out, err := Generate(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.Unmarshal(out, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Groups) != 0 {
		t.Errorf("groups = %v, want none", f.Groups)
	}
}

// The golden file and the static rules must also satisfy promtool itself;
// scripts/test-rules.sh runs the same checks in CI with a guaranteed
// promtool.
func TestPromtool(t *testing.T) {
	promtool := findPromtool()
	if promtool == "" {
		t.Skip("promtool not found (set PROMTOOL or run scripts/components.sh install_prometheus)")
	}
	files, err := filepath.Glob("*.yml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, goldenRules)
	runPromtool(t, promtool, append([]string{"check", "rules", "--lint-fatal"}, files...)...)
	tests, err := filepath.Glob("tests/*.test.yml")
	if err != nil || len(tests) == 0 {
		t.Fatalf("no rule tests found (%v)", err)
	}
	runPromtool(t, promtool, append([]string{"test", "rules"}, tests...)...)
}
