package backtest

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shadowcast/shadowcast/forecast"
)

// m4Dir locates the shared data beside the repository: <repo>/../shared/data/m4.
func m4Dir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("repository root not found")
		}
		dir = parent
	}
	d := filepath.Join(dir, "..", "shared", "data", "m4")
	if _, err := os.Stat(filepath.Join(d, "Hourly-train.csv")); err != nil {
		t.Skipf("M4 data not found at %s (expected ../shared/data/m4 beside the repository): %v", d, err)
	}
	return d
}

var baselines = []Method{
	{Name: "seasonal_naive", New: func() forecast.Model { return forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{}) }},
	{Name: "naive2", New: func() forecast.Model { return forecast.NewNaive2(forecast.Naive2Options{}) }},
}

// TestM4ReproducesOfficialBenchmarks checks the scoring and the baselines
// against the published M4 Hourly table: seasonal naive 13.912 / 1.193,
// Naive2 18.383 / 2.395.
func TestM4ReproducesOfficialBenchmarks(t *testing.T) {
	data, err := LoadM4(m4Dir(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 414 {
		t.Fatalf("%d series, want 414", len(data))
	}
	res, fcs, err := RunM4(context.Background(), data, baselines, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]float64{"seasonal_naive": {13.912, 1.193}, "naive2": {18.383, 2.395}}
	for _, r := range res {
		w := want[r.Method]
		if round3(r.SMAPE) != w[0] || round3(r.MASE) != w[1] {
			t.Errorf("%s: sMAPE %.4f MASE %.4f, want %.3f / %.3f", r.Method, r.SMAPE, r.MASE, w[0], w[1])
		}
		if r.Fallbacks != 0 || r.Series != 414 {
			t.Errorf("%s: %d series, %d fallbacks", r.Method, r.Series, r.Fallbacks)
		}
		if r.Coverage < 0.85 || r.Coverage > 0.95 {
			t.Errorf("%s: 90%% coverage %.3f", r.Method, r.Coverage)
		}
		t.Logf("%s: sMAPE %.3f MASE %.3f OWA %.3f coverage %.3f width %.2f", r.Method, r.SMAPE, r.MASE, r.OWA, r.Coverage, r.Width)
	}
	if got := len(M4Panels(data, baselines, fcs, 3)); got != 3 {
		t.Errorf("%d panels, want 3", got)
	}
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// TestRunRolling backtests on a synthetic daily pattern at 30-minute steps.
func TestRunRolling(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	v := make([]float64, 48*30)
	for i := range v {
		v[i] = 100 + 40*math.Sin(2*math.Pi*float64(i)/48) + 4*rng.NormFloat64()
	}
	s := forecast.Series{Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Step: 30 * time.Minute, Values: v}
	methods := []Method{
		baselines[0],
		{Name: "holt_winters", New: func() forecast.Model { return forecast.NewHoltWinters(forecast.HoltWintersOptions{}) }},
	}
	res, traces, err := RunRolling(context.Background(), s, methods, RollingOptions{Horizons: []int{1, 4}, Origins: 300, History: 48 * 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 || len(traces) != 2 || len(traces[0]) != 300 {
		t.Fatalf("%d results, %d traces", len(res), len(traces))
	}
	for _, r := range res {
		t.Logf("%s %s: sMAPE %.2f MASE %.3f OWA %.3f coverage %.3f width %.2f", r.Method, r.Horizon, r.SMAPE, r.MASE, r.OWA, r.Coverage, r.Width)
		if r.Series != 300 || math.IsNaN(r.MASE) || math.IsNaN(r.OWA) || r.Coverage < 0.8 {
			t.Errorf("%+v", r)
		}
	}
	// Holt-Winters smooths the noise the seasonal naive copies.
	if !(res[2].MASE < res[0].MASE) {
		t.Errorf("one step: HW MASE %.3f, seasonal naive %.3f", res[2].MASE, res[0].MASE)
	}
	if p := RollingPanels(s, methods, traces, 4); len(p) != 1 || len(p[0].Lines) != 2 {
		t.Errorf("panels %+v", p)
	}
	var sb strings.Builder
	if err := WriteSVG(&sb, RollingPanels(s, methods, traces, 4)); err != nil || !strings.Contains(sb.String(), "<polyline") {
		t.Errorf("svg: %v", err)
	}

	if _, _, err := RunRolling(context.Background(), s.Slice(0, 50), methods, RollingOptions{Horizons: []int{4}, Origins: 100}); !errors.Is(err, forecast.ErrNotEnoughData) {
		t.Errorf("too short: err = %v", err)
	}
}

// TestRunRollingColdStart: with a history shorter than the models need, the
// backtest falls back to the cold-start model and counts it.
func TestRunRollingColdStart(t *testing.T) {
	v := make([]float64, 200)
	for i := range v {
		v[i] = float64(10 + i%7)
	}
	s := forecast.Series{Start: time.Unix(0, 0).UTC(), Step: time.Hour, Values: v}
	res, _, err := RunRolling(context.Background(), s, baselines[:1], RollingOptions{Horizons: []int{1}, Origins: 48, History: 10, Refit: 24})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Fallbacks != 2 {
		t.Errorf("fallbacks %d, want 2 (one per refit)", res[0].Fallbacks)
	}
}
