package shadow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/shadowcast/shadowcast"
	"github.com/shadowcast/shadowcast/collector"
	"github.com/shadowcast/shadowcast/forecast"
)

var t0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// fakeSource serves a deterministic daily pattern for each label set; its
// clock is set by the test.
type fakeSource struct {
	mu     sync.Mutex
	now    time.Time
	sets   []labels.Labels
	fail   error
	calls  int
	values func(i int, t time.Time) float64
}

func (f *fakeSource) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeSource) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fakeSource) Fetch(_ context.Context, from, to time.Time, step time.Duration) ([]collector.Series, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return nil, f.fail
	}
	var out []collector.Series
	for i, l := range f.sets {
		s := collector.Series{Labels: l}
		for t := from.Truncate(step).Add(step); !t.After(to); t = t.Add(step) {
			if t.Before(t0) {
				continue // no data before the source existed
			}
			s.Samples = append(s.Samples, collector.Sample{T: t.UnixMilli(), V: f.values(i, t)})
		}
		out = append(out, s)
	}
	return out, nil
}

func daily(i int, t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	// A deterministic wiggle stands in for noise.
	noise := 2 * math.Sin(float64(t.Unix()/300)*1.7)
	return float64(100*(i+1)) + 40*math.Sin(2*math.Pi*h/24) + noise
}

// testModels uses the real baselines of forecast/.
type testModels struct{}

func (testModels) New(name string, step time.Duration) (forecast.Model, error) {
	switch name {
	case "auto":
		return forecast.NewAuto([]forecast.Model{
			forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{}),
			forecast.NewHoltWinters(forecast.HoltWintersOptions{}),
		}, forecast.SelectOptions{}), nil
	case "seasonal_naive":
		return forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{}), nil
	case "broken":
		return brokenModel{}, nil
	case "exploding":
		return explodingModel{}, nil
	case "slow":
		return slowModel{release: slowRelease}, nil
	}
	return nil, fmt.Errorf("unknown model %q", name)
}

func (testModels) Fallback(time.Duration) forecast.Model {
	return forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{})
}

func (testModels) ColdStart(time.Duration) forecast.Model {
	return forecast.NewLastValue(forecast.LastValueOptions{})
}

func (m testModels) MinHistory(step time.Duration) int {
	return forecast.MinHistory(m.Fallback(step), step)
}

func (testModels) Restore(kind string, data []byte) (forecast.Predictor, error) {
	if kind != "*shadow.savedPredictor" {
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	p := &savedPredictor{}
	return p, p.UnmarshalBinary(data)
}

// slowRelease holds slowModel's Fit until it is closed.
var slowRelease chan struct{}

// slowModel is a long first training: Holt-Winters once released.
type slowModel struct{ release chan struct{} }

func (slowModel) Name() string { return "slow" }

func (m slowModel) Fit(s forecast.Series, spec forecast.Spec) (forecast.Predictor, error) {
	<-m.release
	return forecast.NewHoltWinters(forecast.HoltWintersOptions{}).Fit(s, spec)
}

// While the first training runs on a history long enough for a baseline,
// the fallback baseline serves, not the cold start; the trained model
// replaces it when it is ready.
func TestEngineServesBaselineWhileFirstTrainingRuns(t *testing.T) {
	slowRelease = make(chan struct{})
	release := sync.OnceFunc(func() { close(slowRelease) })
	t.Cleanup(release) // a failed check must not leave the training blocked
	src := &fakeSource{now: t0.Add(3 * 24 * time.Hour), sets: []labels.Labels{labels.FromStrings("service", "api")}, values: daily}
	e := newTestEngine(t, src, "slow", prometheus.NewRegistry())
	for range 2 {
		if err := e.Step(context.Background(), "requests"); err != nil {
			t.Fatal(err)
		}
		vals, err := e.Lookup("requests", nil, 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if vals[0].Model != forecast.NameSeasonalNaive || vals[0].Reason != ReasonFallback {
			t.Fatalf("while training: %q (%q), want the seasonal naive fallback", vals[0].Model, vals[0].Reason)
		}
		src.advance(5 * time.Minute)
	}
	release()
	step(t, e)
	step(t, e)
	vals, err := e.Lookup("requests", nil, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if vals[0].Model != forecast.NameHoltWinters || vals[0].Reason == ReasonFallback || vals[0].Reason == ReasonColdStart {
		t.Errorf("after training: %q (%q), want the trained model", vals[0].Model, vals[0].Reason)
	}
}

// explodingModel fits, but its bounds blow up (a numerical failure).
type explodingModel struct{}

func (explodingModel) Name() string { return "exploding" }
func (explodingModel) Fit(forecast.Series, forecast.Spec) (forecast.Predictor, error) {
	return explodingPredictor{}, nil
}

type explodingPredictor struct{}

func (explodingPredictor) Predict(s forecast.Series) (forecast.Forecast, error) {
	fc := forecast.Forecast{Model: "exploding", Origin: s.End(), Step: s.Step}
	for range 6 {
		fc.Point = append(fc.Point, 100)
		fc.Lower = append(fc.Lower, 0)
		fc.Upper = append(fc.Upper, 3e27)
	}
	return fc, nil
}

type brokenModel struct{}

func (brokenModel) Name() string { return "broken" }
func (brokenModel) Fit(forecast.Series, forecast.Spec) (forecast.Predictor, error) {
	return nil, errors.New("always fails")
}

func newTestEngine(t *testing.T, src *fakeSource, model string, reg prometheus.Registerer) *Engine {
	t.Helper()
	e, err := New(Options{
		Models: testModels{},
		Shadows: []ShadowOptions{{
			Name:            "requests",
			Source:          src,
			Step:            5 * time.Minute,
			History:         3 * 24 * time.Hour,
			Horizons:        []time.Duration{15 * time.Minute, 5 * time.Minute, 30 * time.Minute},
			Confidence:      0.9,
			Model:           model,
			RetrainInterval: 6 * time.Hour,
			Clean:           collector.CleanOptions{MaxGap: 15 * time.Minute},
		}},
	}, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func step(t *testing.T, e *Engine) {
	t.Helper()
	if err := e.Step(context.Background(), "requests"); err != nil {
		t.Fatal(err)
	}
	e.WaitTraining()
}

func TestEngineColdStartThenTrained(t *testing.T) {
	src := &fakeSource{now: t0.Add(2 * time.Hour), sets: []labels.Labels{labels.FromStrings("service", "api")}, values: daily}
	e := newTestEngine(t, src, "auto", prometheus.NewRegistry())

	step(t, e)
	vals, err := e.Lookup("requests", nil, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got := vals[0].Reason; got != ReasonColdStart {
		t.Fatalf("reason with 2h of history = %q, want %q", got, ReasonColdStart)
	}
	if vals[0].Model != forecast.NameLastValue {
		t.Errorf("cold-start model = %q", vals[0].Model)
	}

	// Three days later the backfill holds enough history for a real model.
	src.advance(3 * 24 * time.Hour)
	step(t, e)
	step(t, e) // publishes with the trained model
	vals, err = e.Lookup("requests", map[string]string{"service": "api"}, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v := vals[0]
	if v.Reason != ReasonSelected {
		t.Fatalf("reason = %q (model %q), want %q", v.Reason, v.Model, ReasonSelected)
	}
	if !(v.Lower <= v.Point && v.Point <= v.Upper) || v.Peak < v.Point || v.PeakUpper < v.Upper {
		t.Errorf("inconsistent value %+v", v)
	}
	want := daily(0, v.At.Add(30*time.Minute))
	if math.Abs(v.Point-want) > 5 {
		t.Errorf("30m forecast %.2f, the pattern says %.2f", v.Point, want)
	}
	if v.Horizon != 30*time.Minute || v.Labels["service"] != "api" {
		t.Errorf("value identity %+v", v)
	}
}

func TestEngineLookupErrors(t *testing.T) {
	src := &fakeSource{now: t0.Add(time.Hour), sets: []labels.Labels{labels.FromStrings("service", "api")}, values: daily}
	e := newTestEngine(t, src, "auto", prometheus.NewRegistry())
	for _, tc := range []struct {
		name    string
		shadow  string
		match   map[string]string
		horizon time.Duration
		want    error
	}{
		{"unknown shadow", "nope", nil, 5 * time.Minute, shadowcast.ErrUnknownShadow},
		{"unknown horizon", "requests", nil, 10 * time.Minute, shadowcast.ErrUnknownHorizon},
		{"no forecast yet", "requests", nil, 5 * time.Minute, shadowcast.ErrNoForecast},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.Lookup(tc.shadow, tc.match, tc.horizon); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	step(t, e)
	if _, err := e.Lookup("requests", map[string]string{"service": "other"}, 5*time.Minute); !errors.Is(err, shadowcast.ErrNoForecast) {
		t.Fatalf("unmatched labels: err = %v", err)
	}
}

func TestEngineSourceErrorKeepsLastForecast(t *testing.T) {
	src := &fakeSource{now: t0.Add(3 * 24 * time.Hour), sets: []labels.Labels{labels.FromStrings("service", "api")}, values: daily}
	reg := prometheus.NewRegistry()
	e := newTestEngine(t, src, "seasonal_naive", reg)
	step(t, e)
	step(t, e)
	before, err := e.Lookup("requests", nil, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	src.fail = errors.New("connection refused")
	src.advance(5 * time.Minute)
	if err := e.Step(context.Background(), "requests"); err == nil {
		t.Fatal("Step with a failing source returned no error")
	}
	after, err := e.Lookup("requests", nil, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if after[0].Point != before[0].Point || after[0].Point == 0 {
		t.Errorf("forecast changed or zeroed on source error: %v -> %v", before[0].Point, after[0].Point)
	}
	if after[0].Reason != ReasonSourceError {
		t.Errorf("reason = %q, want %q", after[0].Reason, ReasonSourceError)
	}
	if ok, _ := e.Ready(); !ok {
		t.Error("not ready although the source error is a stated reason")
	}
	if got := testutil.ToFloat64(e.metrics.sourceErrors.WithLabelValues("requests")); got != 1 {
		t.Errorf("source errors counted %v, want 1", got)
	}
	// Recovery clears the reason.
	src.fail = nil
	step(t, e)
	after, _ = e.Lookup("requests", nil, 5*time.Minute)
	if after[0].Reason != ReasonConfigured {
		t.Errorf("after recovery reason = %q, want %q", after[0].Reason, ReasonConfigured)
	}
}

func TestEngineFallbackWhenTrainingFails(t *testing.T) {
	src := &fakeSource{now: t0.Add(3 * 24 * time.Hour), sets: []labels.Labels{labels.FromStrings("service", "api")}, values: daily}
	e := newTestEngine(t, src, "broken", prometheus.NewRegistry())
	step(t, e)
	step(t, e)
	vals, err := e.Lookup("requests", nil, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if vals[0].Reason != ReasonFallback || vals[0].Model != forecast.NameSeasonalNaive {
		t.Errorf("got model %q reason %q, want seasonal naive fallback", vals[0].Model, vals[0].Reason)
	}
}

// A model whose bounds blow up is never published: a baseline serves.
func TestEngineRejectsImplausibleForecasts(t *testing.T) {
	src := &fakeSource{now: t0.Add(3 * 24 * time.Hour), sets: []labels.Labels{labels.FromStrings("service", "api")}, values: daily}
	e := newTestEngine(t, src, "exploding", prometheus.NewRegistry())
	step(t, e)
	step(t, e)
	vals, err := e.Lookup("requests", nil, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if vals[0].Model != forecast.NameSeasonalNaive || vals[0].Reason != ReasonFallback || vals[0].Upper > 1000 {
		t.Errorf("published %q (%q) with upper %g; want the seasonal naive fallback", vals[0].Model, vals[0].Reason, vals[0].Upper)
	}
}

func TestExposition(t *testing.T) {
	src := &fakeSource{
		now:    t0.Add(3 * 24 * time.Hour),
		sets:   []labels.Labels{labels.FromStrings("service", "api"), labels.FromStrings("service", "web", "horizon", "clash")},
		values: daily,
	}
	reg := prometheus.NewRegistry()
	e := newTestEngine(t, src, "seasonal_naive", reg)
	reg.MustRegister(NewCollector(e, map[string]string{"replica": "a"}))
	step(t, e)
	step(t, e)

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, mf := range mfs {
		counts[mf.GetName()] = len(mf.GetMetric())
		if mf.GetName() == MetricShadow {
			for _, m := range mf.GetMetric() {
				lbls := map[string]string{}
				for _, lp := range m.GetLabel() {
					lbls[lp.GetName()] = lp.GetValue()
				}
				if lbls["replica"] != "a" || lbls["shadow"] != "requests" || lbls["horizon"] == "" {
					t.Errorf("shadow series labels %v", lbls)
				}
				if lbls["service"] == "web" && lbls["source_horizon"] != "clash" {
					t.Errorf("clashing source label not renamed: %v", lbls)
				}
				if v := m.GetGauge().GetValue(); v == 0 || math.IsNaN(v) {
					t.Errorf("exported %v", v)
				}
			}
		}
	}
	for name, want := range map[string]int{
		MetricShadow: 6, MetricShadowLower: 6, MetricShadowUpper: 6, MetricShadowPeak: 6, MetricShadowPeakUpper: 6,
		MetricActual: 2, MetricModelInfo: 2, MetricModelTrained: 2, MetricLastForecast: 2, MetricConfidence: 1, MetricInstances: 1,
	} {
		if counts[name] != want {
			t.Errorf("%s: %d series, want %d", name, counts[name], want)
		}
	}
	// The text fast path writes exactly what the registry path exposes.
	var text bytes.Buffer
	if err := NewCollector(e, map[string]string{"replica": "a"}).WriteText(&text); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fast, err := parser.TextToMetricFamilies(bytes.NewReader(text.Bytes()))
	if err != nil {
		t.Fatalf("fast path output does not parse: %v\n%s", err, text.String())
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "shadowcast_") || counts[mf.GetName()] == 0 {
			continue
		}
		if _, isShadow := metricHelp[mf.GetName()]; !isShadow {
			continue
		}
		got := fast[mf.GetName()]
		if got == nil {
			t.Errorf("fast path lacks %s", mf.GetName())
			continue
		}
		sortMetrics(got.Metric)
		want := proto.Clone(mf).(*dto.MetricFamily)
		sortMetrics(want.Metric)
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("%s differs between the registry and the fast path (-registry +fast):\n%s", mf.GetName(), diff)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP shadowcast_shadow_instances Number of instances (source series) a shadow serves.
# TYPE shadowcast_shadow_instances gauge
shadowcast_shadow_instances{replica="a",shadow="requests"} 2
`), MetricInstances); err != nil {
		t.Error(err)
	}
}

func sortMetrics(ms []*dto.Metric) {
	key := func(m *dto.Metric) string {
		var b strings.Builder
		for _, l := range m.GetLabel() {
			b.WriteString(l.GetName() + "=" + l.GetValue() + ",")
		}
		return b.String()
	}
	for _, m := range ms {
		sort.Slice(m.Label, func(i, j int) bool { return m.Label[i].GetName() < m.Label[j].GetName() })
	}
	sort.Slice(ms, func(i, j int) bool { return key(ms[i]) < key(ms[j]) })
}

func TestEngineSharding(t *testing.T) {
	var sets []labels.Labels
	for i := range 40 {
		sets = append(sets, labels.FromStrings("service", fmt.Sprintf("s%02d", i)))
	}
	total := 0
	for idx := range 3 {
		src := &fakeSource{now: t0.Add(time.Hour), sets: sets, values: daily}
		e, err := New(Options{
			Models: testModels{}, ShardIndex: idx, ShardTotal: 3,
			Shadows: []ShadowOptions{{Name: "requests", Source: src, Step: 5 * time.Minute, History: 24 * time.Hour,
				Horizons: []time.Duration{5 * time.Minute}, Confidence: 0.9, Model: "auto"}},
		}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		step(t, e)
		n := len(e.Snapshot(0)[0].Instances)
		if n == 0 || n == len(sets) {
			t.Errorf("shard %d serves %d of %d instances", idx, n, len(sets))
		}
		total += n
	}
	if total != len(sets) {
		t.Errorf("shards serve %d instances in all, want %d (each exactly once)", total, len(sets))
	}
}

func TestEngineUpdateKeepsUnchangedShadows(t *testing.T) {
	src := &fakeSource{now: t0.Add(3 * 24 * time.Hour), sets: []labels.Labels{labels.FromStrings("service", "api")}, values: daily}
	e := newTestEngine(t, src, "seasonal_naive", prometheus.NewRegistry())
	e.mu.Lock()
	e.shadows["requests"].opts.Fingerprint = "v1"
	e.mu.Unlock()
	step(t, e)
	keep := e.shadows["requests"]

	so := keep.opts
	if err := e.Update([]ShadowOptions{so}); err != nil {
		t.Fatal(err)
	}
	if e.get("requests") != keep {
		t.Error("unchanged shadow was rebuilt")
	}
	bad := so
	bad.Horizons = []time.Duration{7 * time.Minute}
	if err := e.Update([]ShadowOptions{bad}); err == nil {
		t.Error("invalid update accepted")
	}
	if e.get("requests") != keep {
		t.Error("failed update changed the engine")
	}
	so.Fingerprint = "v2"
	so2 := so
	so2.Name = "other"
	commit, err := e.Prepare([]ShadowOptions{so, so2})
	if err != nil {
		t.Fatal(err)
	}
	if e.get("requests") != keep || len(e.Names()) != 1 {
		t.Errorf("Prepare changed the engine before the commit: %v", e.Names())
	}
	commit()
	if e.get("requests") == keep || len(e.Names()) != 2 {
		t.Errorf("changed shadow kept or new shadow missing: %v", e.Names())
	}
}
