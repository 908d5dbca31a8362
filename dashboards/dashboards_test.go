package dashboards

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/prometheus/promql/parser"
)

// fallbackMetrics is used while ../README.md does not exist yet: the metric
// contract of DESIGN.md plus the names other packages already export and
// the dashboards use (webhook/metrics.go, the gRPC server metrics of
// scaler/). Once README.md exists it is the only source.
var fallbackMetrics = []string{
	// DESIGN.md metric contract.
	"shadowcast_shadow", "shadowcast_shadow_lower", "shadowcast_shadow_upper",
	"shadowcast_shadow_peak", "shadowcast_shadow_peak_upper", "shadowcast_actual",
	"shadowcast_forecast_error", "shadowcast_interval_coverage_ratio", "shadowcast_model_info",
	"shadowcast_model_trained_timestamp_seconds", "shadowcast_threshold_upper", "shadowcast_threshold_lower",
	// webhook/metrics.go.
	"shadowcast_actions_total", "shadowcast_resource_current_units", "shadowcast_resource_desired_units",
	// scaler/ (go-grpc-middleware providers/prometheus).
	"grpc_server_handled_total", "grpc_server_handling_seconds",
}

// documentedRE finds metric names in README.md.
var documentedRE = regexp.MustCompile(`\b(?:shadowcast|grpc_server)_[a-z0-9_]+`)

// documentedMetrics returns the metric names the project documents.
func documentedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	switch {
	case err == nil:
		for _, m := range documentedRE.FindAllString(string(b), -1) {
			out[m] = true
		}
	case errors.Is(err, os.ErrNotExist):
		t.Log("../README.md not found; checking against the built-in list of contract metrics")
		for _, m := range fallbackMetrics {
			out[m] = true
		}
	default:
		t.Fatal(err)
	}
	return out
}

// cogErr works around grafana-foundation-sdk v0.0.22 returning a typed-nil
// cog.BuildErrors on success.
func cogErr(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

// varRE matches Grafana template variables: $name, ${name}, ${name:fmt}, [[name]].
var varRE = regexp.MustCompile(`\$\{([a-zA-Z0-9_]+)(?::[a-zA-Z0-9_]+)?\}|\$([a-zA-Z_][a-zA-Z0-9_]*)|\[\[([a-zA-Z0-9_]+)\]\]`)

// substitute replaces template variables by a value that is valid wherever
// a variable can appear in PromQL: as a label value, a regex, a range or an
// offset ("5m"). Unknown variables are left to fail the parse.
func substitute(expr string, known map[string]bool) (string, []string) {
	var unknown []string
	out := varRE.ReplaceAllStringFunc(expr, func(m string) string {
		sub := varRE.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		if strings.HasPrefix(name, "__") || known[name] {
			return "5m"
		}
		unknown = append(unknown, name)
		return m
	})
	return out, unknown
}

// labelValuesRE matches the Prometheus data source's variable query
// label_values(<selector>, <label>).
var labelValuesRE = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

// expression is one PromQL expression found in a dashboard.
type expression struct {
	where string
	expr  string
}

// checkDashboard validates one dashboard file and returns every problem.
func checkDashboard(raw []byte, documented map[string]bool) []error {
	_, errs := inspectDashboard(raw, documented)
	return errs
}

// inspectDashboard validates one dashboard file; it returns the metric
// names its expressions use and every problem found.
func inspectDashboard(raw []byte, documented map[string]bool) (map[string]bool, []error) {
	used := map[string]bool{}
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	// 1. Grafana's schema: strict decoding (unknown fields are errors) and validation.
	var d dashboard.Dashboard
	if err := cogErr(d.UnmarshalJSONStrict(raw)); err != nil {
		add("schema: %v", err)
		return used, errs
	}
	if err := cogErr(d.Validate()); err != nil {
		add("validate: %v", err)
	}

	// 2. Conventions.
	if d.Uid == nil || !regexp.MustCompile(`^shadowcast-[a-z0-9-]+$`).MatchString(*d.Uid) {
		add("uid must be stable and start with shadowcast-, got %v", ptr(d.Uid))
	}
	if d.Title == nil || !strings.HasPrefix(*d.Title, "Shadowcast / ") {
		add("title must start with %q, got %v", "Shadowcast / ", ptr(d.Title))
	}
	if !slices.Contains(d.Tags, "shadowcast") {
		add("tags must include shadowcast, got %v", d.Tags)
	}
	vars := map[string]dashboard.VariableModel{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v, ok := vars["datasource"]; !ok || v.Type != dashboard.VariableTypeDatasource || v.Query == nil || v.Query.String == nil || *v.Query.String != "prometheus" {
		add("needs a datasource variable named datasource of type datasource querying prometheus")
	}
	for _, name := range []string{"shadow", "instance"} {
		if _, ok := vars[name]; !ok {
			add("needs the %s template variable", name)
		}
	}

	// 3. Data sources, expressions: walk the raw JSON so nothing is missed.
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		add("json: %v", err)
		return used, errs
	}
	var exprs []expression
	walk(doc, "$", func(path string, obj map[string]any) {
		if ds, ok := obj["datasource"].(map[string]any); ok {
			uid, _ := ds["uid"].(string)
			typ, _ := ds["type"].(string)
			builtin := typ == "grafana" && uid == "-- Grafana --"
			if !builtin && uid != "${datasource}" && uid != "$datasource" {
				add("%s: datasource uid %q is hard-coded; use ${datasource}", path, uid)
			}
			if !builtin && typ != "prometheus" {
				add("%s: datasource type %q, want prometheus", path, typ)
			}
		}
		if e, ok := obj["expr"].(string); ok {
			exprs = append(exprs, expression{path + ".expr", e})
		}
		// Query variables: label_values(selector, label).
		if obj["type"] == "query" && strings.Contains(path, "templating") {
			q, _ := obj["query"].(map[string]any)
			qs, _ := q["query"].(string)
			if qs == "" {
				qs, _ = obj["query"].(string)
			}
			m := labelValuesRE.FindStringSubmatch(qs)
			if m == nil {
				add("%s: variable query %q is not label_values(<selector>, <label>)", path, qs)
				return
			}
			exprs = append(exprs, expression{path + ".query", m[1]})
		}
	})
	if len(exprs) == 0 {
		add("no PromQL expression found")
	}
	known := map[string]bool{}
	for n := range vars {
		known[n] = true
	}
	p := parser.NewParser(parser.Options{})
	for _, e := range exprs {
		s, unknown := substitute(e.expr, known)
		if len(unknown) > 0 {
			add("%s: unknown template variables %v in %q", e.where, unknown, e.expr)
			continue
		}
		ast, err := p.ParseExpr(s)
		if err != nil {
			add("%s: PromQL %q: %v", e.where, e.expr, err)
			continue
		}
		for _, name := range metricNames(ast) {
			used[name] = true
			if !documented[name] && !documented[trimHistogramSuffix(name)] {
				add("%s: metric %s is not documented", e.where, name)
			}
		}
	}
	return used, errs
}

func ptr(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// walk calls f for every JSON object in v, with a JSONPath-like location.
func walk(v any, path string, f func(string, map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		f(path, x)
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walk(x[k], path+"."+k, f)
		}
	case []any:
		for i, e := range x {
			walk(e, fmt.Sprintf("%s[%d]", path, i), f)
		}
	}
}

// metricNames returns the metric names an expression selects.
func metricNames(e parser.Expr) []string {
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == "__name__" {
				name = m.Value
			}
		}
		if name == "" {
			out = append(out, "<selector without a metric name>")
		} else {
			out = append(out, name)
		}
		return nil
	})
	return out
}

func trimHistogramSuffix(name string) string {
	for _, s := range []string{"_bucket", "_count", "_sum"} {
		if n, ok := strings.CutSuffix(name, s); ok {
			return n
		}
	}
	return name
}

// required lists what a dashboard must show (issue 5).
var required = map[string][]string{
	"shadowcast-overview.json": {
		"shadowcast_actual", "shadowcast_shadow", "shadowcast_shadow_upper", "shadowcast_shadow_lower",
		"shadowcast_shadow_peak_upper", "shadowcast_forecast_error", "shadowcast_interval_coverage_ratio",
		"shadowcast_model_info", "shadowcast_threshold_upper", "shadowcast_threshold_lower", "shadowcast_actions_total",
	},
}

func TestDashboards(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	documented := documentedMetrics(t)
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no dashboards found")
	}
	uids := map[string]string{}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			used, errs := inspectDashboard(raw, documented)
			for _, err := range errs {
				t.Error(err)
			}
			for _, m := range required[f] {
				if !used[m] {
					t.Errorf("%s does not show %s", f, m)
				}
			}
			var d struct{ UID string }
			if err := json.Unmarshal(raw, &d); err == nil {
				if other, dup := uids[d.UID]; dup {
					t.Errorf("uid %q also used by %s", d.UID, other)
				}
				uids[d.UID] = f
			}
		})
	}
}

// TestBrokenDashboardsAreRejected proves the checks bite: each file in
// testdata/ breaks one rule and must be reported for it.
func TestBrokenDashboardsAreRejected(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	documented := map[string]bool{}
	for _, m := range fallbackMetrics {
		documented[m] = true
	}
	// The base every broken file derives from passes, so each failure below
	// is caused by the one thing its file breaks.
	raw, err := os.ReadFile(filepath.Join("testdata", "minimal-valid.json"))
	if err != nil {
		t.Fatal(err)
	}
	if errs := checkDashboard(raw, documented); len(errs) > 0 {
		t.Fatalf("testdata/minimal-valid.json: %v", errors.Join(errs...))
	}

	tests := []struct {
		file string
		want string
	}{
		{"broken-unknown-field.json", "tooltipp"},
		{"broken-wrong-type.json", "gridPos"},
		{"broken-promql.json", "PromQL"},
		{"broken-undocumented-metric.json", "metric shadowcast_made_up_total is not documented"},
		{"broken-hardcoded-datasource.json", `datasource uid "P1809F7CD0C75ACF3" is hard-coded`},
		{"broken-missing-variables.json", "needs the instance template variable"},
		{"broken-unknown-variable.json", "unknown template variables [region]"},
		{"broken-conventions.json", "title must start with"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			errs := checkDashboard(raw, documented)
			if len(errs) == 0 {
				t.Fatalf("%s passed the checks; want an error containing %q", tc.file, tc.want)
			}
			joined := errors.Join(errs...).Error()
			if !strings.Contains(joined, tc.want) {
				t.Errorf("errors for %s:\n%s\nwant one containing %q", tc.file, joined, tc.want)
			}
		})
	}
}

func TestSubstitute(t *testing.T) {
	known := map[string]bool{"shadow": true, "horizon": true}
	got, unknown := substitute(`rate(x{shadow=~"$shadow"}[$__rate_interval]) offset ${horizon} + y{a="[[shadow]]", b="${shadow:regex}"} + $other`, known)
	want := `rate(x{shadow=~"5m"}[5m]) offset 5m + y{a="5m", b="5m"} + $other`
	if got != want || !slices.Equal(unknown, []string{"other"}) {
		t.Errorf("substitute() = %q, %v; want %q, [other]", got, unknown, want)
	}
}
