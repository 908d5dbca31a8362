package forecast

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func col(t *testing.T, names []string, name string) int {
	t.Helper()
	j := slices.Index(names, name)
	if j < 0 {
		t.Fatalf("no column %q in %v", name, names)
	}
	return j
}

func TestBuildFeaturesValues(t *testing.T) {
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday
	s := Series{Start: start, Step: time.Hour, Values: make([]float64, 60)}
	for i := range s.Values {
		s.Values[i] = float64(i)
	}
	s.Values[40] = math.NaN()
	ev := []Event{{Name: "promo", Kind: "campaign", Start: start.Add(50 * time.Hour), End: start.Add(55 * time.Hour)}}
	spec := FeatureSpec{Calendar: true, Horizon: true, Lags: []int{0, 2}, SeasonalPeriods: []int{24}, SeasonalDepth: 2,
		Windows: []int{3}, BaseWindow: 2, EventKinds: []string{"campaign"}}
	X, names := BuildFeatures(s, ev, spec, 40, 5, 10) // origins 40..44, targets 50..54 (last ones beyond nothing)
	if X.Rows != 5 || X.Cols != len(names) || !slices.Equal(names, spec.Names()) {
		t.Fatalf("shape %d×%d, names %v", X.Rows, X.Cols, names)
	}
	// Row for origin 42, target 52 (= Wednesday 04:00).
	r := X.Row(2)
	base := (41.0 + 42) / 2
	want := map[string]float64{
		"hour_of_day": 4, "minute_of_day": 240, "day_of_week": 3, "month": 3, "year": 2026, "horizon": 10,
		"base": base, "lag_0": 42 - base, "lag_2": math.NaN(), // sample 40 is missing
		"seasonal_24":      28 - base,          // 52-24 ≤ 42
		"seasonal_mean_24": (28.0+4)/2 - base,  // 28 and 4
		"mean_3":           (41.0+42)/2 - base, // NaN skipped
		"std_3":            0.5,                //
		"min_3":            41 - base, "max_3": 42 - base,
		"event_active_campaign": 1, "event_since_campaign": 2, "event_until_campaign": 168,
	}
	for name, w := range want {
		if got := r[col(t, names, name)]; !cmp.Equal(got, w, cmpopts.EquateNaNs(), cmpopts.EquateApprox(0, 1e-9)) {
			t.Errorf("%s = %v, want %v", name, got, w)
		}
	}
	ny := spec
	ny.NoYearly = true
	Xn, _ := BuildFeatures(s, ev, ny, 42, 1, 10)
	for _, name := range []string{"month", "year", "year_sin", "year_cos"} {
		if got := Xn.At(0, col(t, names, name)); got != 0 {
			t.Errorf("NoYearly: %s = %v", name, got)
		}
	}
	if got := Xn.At(0, col(t, names, "hour_of_day")); got != 4 {
		t.Errorf("NoYearly: hour_of_day = %v", got)
	}
	// Origin 40 targets 50 = start of the event: active, since 0.
	if got := X.At(0, col(t, names, "event_since_campaign")); got != 0 {
		t.Errorf("since at start = %v", got)
	}
	// Before the event starts, the "until" feature counts down.
	Xb, _ := BuildFeatures(s, ev, spec, 30, 1, 10) // target 40
	if got := Xb.At(0, col(t, names, "event_until_campaign")); got != 10 {
		t.Errorf("until = %v, want 10", got)
	}
	if got := Xb.At(0, col(t, names, "event_active_campaign")); got != 0 {
		t.Errorf("active before start = %v", got)
	}
	// Future targets past the end of the series are fine.
	Xf, _ := BuildFeatures(s, ev, spec, 59, 1, 30)
	if got := Xf.At(0, col(t, names, "hour_of_day")); got != float64((59+30)%24) {
		t.Errorf("future hour = %v", got)
	}
	// Seasonal lag with horizon > period goes back two periods: target 89, 89-48=41.
	if got, w := Xf.At(0, col(t, names, "seasonal_24")), 41-Xf.At(0, col(t, names, "base")); got != w {
		t.Errorf("seasonal lag for long horizon = %v, want %v", got, w)
	}
}

func TestRollingMinMaxMatchesNaive(t *testing.T) {
	v := []float64{5, 3, math.NaN(), 8, 1, 1, 9, math.NaN(), math.NaN(), math.NaN(), 2, 7}
	for _, w := range []int{1, 2, 3, 5} {
		lo, hi := rollingMinMax(v, 2, len(v)-2, w)
		for i := range lo {
			o := 2 + i
			wl, wh := math.Inf(1), math.Inf(-1)
			for j := max(0, o-w+1); j <= o; j++ {
				if !math.IsNaN(v[j]) {
					wl, wh = math.Min(wl, v[j]), math.Max(wh, v[j])
				}
			}
			if math.IsInf(wl, 1) {
				wl, wh = math.NaN(), math.NaN()
			}
			if !cmp.Equal(lo[i], wl, cmpopts.EquateNaNs()) || !cmp.Equal(hi[i], wh, cmpopts.EquateNaNs()) {
				t.Errorf("w=%d o=%d: got %v/%v, want %v/%v", w, o, lo[i], hi[i], wl, wh)
			}
		}
	}
}

func TestFeatureScaler(t *testing.T) {
	vals := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, math.NaN(), 100}
	sc := FitScaler(vals, true)
	if !sc.Log1p {
		t.Fatal("log1p not used for non-negative data")
	}
	for _, x := range []float64{0, 3.5, 1000} {
		if got := sc.Invert(sc.Apply(x)); math.Abs(got-x) > 1e-9*math.Max(1, x) {
			t.Errorf("round trip %v → %v", x, got)
		}
	}
	if z := sc.Apply(math.Expm1(sc.Median)); math.Abs(z) > 1e-12 {
		t.Errorf("median maps to %v", z)
	}
	neg := FitScaler([]float64{-1, 0, 1, 2, 3}, true)
	if neg.Log1p || neg.Median != 1 || neg.IQR != 2 {
		t.Errorf("scaler on signed data = %+v", neg)
	}
	flat := FitScaler([]float64{4, 4, 4}, false)
	if flat.IQR != 1 {
		t.Errorf("constant data IQR = %v, want fallback 1", flat.IQR)
	}
}

func TestDefaultFeatureSpec(t *testing.T) {
	spec := DefaultFeatureSpec(5*time.Minute, []Event{{Kind: "b"}, {Kind: "a"}, {Kind: "b"}})
	if !slices.Equal(spec.SeasonalPeriods, []int{288, 2016}) || !slices.Equal(spec.EventKinds, []string{"a", "b"}) {
		t.Errorf("spec = %+v", spec)
	}
	if spec.MaxLookback() != 2016*3 {
		t.Errorf("lookback = %d", spec.MaxLookback())
	}
}

// scanEventFeatures is the reference for the event features: a scan over
// every event (what BuildFeatures did before events were indexed).
func scanEventFeatures(events []Event, kind string, t time.Time, step time.Duration, capSteps int) (active, since, until float64) {
	since, until = float64(capSteps), float64(capSteps)
	for _, e := range events {
		if e.Kind != kind {
			continue
		}
		if e.Active(t) {
			active = 1
		}
		d := t.Sub(e.Start)
		steps := float64(d) / float64(step)
		if d >= 0 {
			since = math.Min(since, steps)
		} else {
			until = math.Min(until, -steps)
		}
	}
	return active, since, until
}

// randomEvents returns n events of 3 kinds over the days after start, in
// random order, overlapping, some with an End before their Start, some
// sharing a start.
func randomEvents(n int, start time.Time, days int, seed uint64) []Event {
	rng := rand.New(rand.NewPCG(seed, seed))
	kinds := []string{"campaign", "maintenance", ""}
	ev := make([]Event, n)
	for i := range ev {
		s := start.Add(time.Duration(rng.IntN(days*1440)) * time.Minute).Add(time.Duration(rng.IntN(60)) * time.Second)
		if i > 0 && rng.IntN(10) == 0 {
			s = ev[i-1].Start
		}
		d := time.Duration(rng.IntN(600)-30) * time.Minute
		ev[i] = Event{Name: fmt.Sprint("e", i), Kind: kinds[rng.IntN(len(kinds))], Start: s, End: s.Add(d)}
	}
	return ev
}

func TestEventFeaturesMatchScan(t *testing.T) {
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	s := Series{Start: start, Step: 5 * time.Minute, Values: make([]float64, 3*288)}
	for _, n := range []int{0, 1, 7, 300} {
		ev := randomEvents(n, start.Add(-24*time.Hour), 5, uint64(n)+1)
		spec := FeatureSpec{EventKinds: []string{"", "campaign", "maintenance", "unseen"}, EventHorizon: 500}
		for _, h := range []int{1, 12, 300} {
			X, names := BuildFeatures(s, ev, spec, 0, s.Len(), h)
			for i := 0; i < X.Rows; i++ {
				tt := s.TimeAt(i + h)
				for _, kind := range spec.EventKinds {
					a, sn, u := scanEventFeatures(ev, kind, tt, s.Step, 500)
					got := []float64{X.At(i, col(t, names, "event_active_"+kind)), X.At(i, col(t, names, "event_since_"+kind)), X.At(i, col(t, names, "event_until_"+kind))}
					if want := []float64{a, sn, u}; !slices.Equal(got, want) {
						t.Fatalf("%d events, h=%d, row %d, kind %q: got %v, want %v", n, h, i, kind, got, want)
					}
				}
			}
		}
	}
}

// BenchmarkBuildFeaturesEvents builds the rows of one day of 1-minute
// origins at one horizon with 5,000 known events of 3 kinds.
func BenchmarkBuildFeaturesEvents(b *testing.B) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Series{Start: start, Step: time.Minute, Values: make([]float64, 2*1440)}
	for i := range s.Values {
		s.Values[i] = float64(i % 1440)
	}
	ev := randomEvents(5000, start.Add(-30*24*time.Hour), 60, 3)
	spec := DefaultFeatureSpec(time.Minute, ev)
	b.ReportAllocs()
	for b.Loop() {
		BuildFeatures(s, ev, spec, 1440, 1440, 30)
	}
}

// A prediction scales only what its features read; the features of the
// last origin must equal those built from the fully scaled series, for
// every horizon step, with seasonal lags reaching a week back.
func TestApplyForPredictionMatchesApplySeries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		step    time.Duration
		days    int
		horizon int
	}{
		{"1m", time.Minute, 9, 60},
		{"5m", 5 * time.Minute, 15, 48},
		{"1h", time.Hour, 30, 48},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.days * int(24*time.Hour/tc.step)
			s := Series{Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Step: tc.step, Values: make([]float64, n)}
			for i := range s.Values {
				s.Values[i] = 100 + 50*math.Sin(float64(i)*0.01) + float64(i%7)
				if i%97 == 0 {
					s.Values[i] = math.NaN()
				}
			}
			spec := DefaultFeatureSpec(tc.step, nil)
			sc := FitScaler(s.Values, true)
			full := newFeatureBuilder(sc.ApplySeries(s), nil, spec)
			sparse := newFeatureBuilder(sc.ApplyForPrediction(s, spec, tc.horizon, 0), nil, spec)
			for h := 1; h <= tc.horizon; h++ {
				want, got := full.build(n-1, 1, h).Row(0), sparse.build(n-1, 1, h).Row(0)
				for j := range want {
					if !(want[j] == got[j] || math.IsNaN(want[j]) && math.IsNaN(got[j])) {
						t.Fatalf("h=%d: feature %s = %v, want %v", h, spec.Names()[j], got[j], want[j])
					}
				}
			}
		})
	}
}
