package shadow

import (
	"bytes"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shadowcast/shadowcast/collector"
	"github.com/shadowcast/shadowcast/forecast"
)

// serveAdaptive runs n steps of a model whose point lags a level shift at
// shiftAt and whose raw bounds are ±1 (too narrow for unit noise), through
// a. It returns the served coverage at both horizons over [from, n).
func serveAdaptive(a *adaptiveBounds, key string, n, shiftAt, from int, seed uint64) [2]float64 {
	rng := rand.New(rand.NewPCG(seed, 3))
	step := a.step
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	level, known := 10.0, 10.0
	type served struct{ lo, hi [2]float64 }
	hist := map[int]served{}
	var inside, total [2]int
	for t := range n {
		if t >= shiftAt {
			level = 16
		}
		y := level + rng.NormFloat64()
		// The actual of step t arrives, then the model forecasts from it.
		a.observe(key, []collector.Sample{{T: start.Add(time.Duration(t) * step).UnixMilli(), V: y}})
		for i, k := range []int{1, 6} {
			if sv, ok := hist[t-k]; ok && t >= from {
				total[i]++
				if y >= sv.lo[i] && y <= sv.hi[i] {
					inside[i]++
				}
			}
		}
		known += 0.005 * (level - known)
		fc := forecast.Forecast{Origin: start.Add(time.Duration(t) * step), Step: step,
			Point: make([]float64, 6), Lower: make([]float64, 6), Upper: make([]float64, 6)}
		for k := range 6 {
			fc.Point[k], fc.Lower[k], fc.Upper[k] = known, known-1, known+1
		}
		a.apply(key, &fc)
		hist[t] = served{lo: [2]float64{fc.Lower[0], fc.Lower[5]}, hi: [2]float64{fc.Upper[0], fc.Upper[5]}}
		delete(hist, t-10)
	}
	return [2]float64{float64(inside[0]) / float64(total[0]), float64(inside[1]) / float64(total[1])}
}

func testAdaptiveBounds() *adaptiveBounds {
	return newAdaptiveBounds(ShadowOptions{Step: 5 * time.Minute, Horizons: []time.Duration{5 * time.Minute, 30 * time.Minute}, Confidence: 0.9})
}

// The served bounds recover their nominal coverage after a level shift the
// model is slow to follow (raw bounds cover ~68 % before and far less after).
func TestAdaptiveBoundsLevelShift(t *testing.T) {
	a := testAdaptiveBounds()
	cov := serveAdaptive(a, "api", 4000, 2500, 2650, 1)
	t.Logf("served coverage after the shift: 5m %.3f, 30m %.3f", cov[0], cov[1])
	for i, c := range cov {
		if math.Abs(c-0.9) > 0.03 {
			t.Errorf("horizon %v: coverage %.3f after the shift, want 0.90 ± 0.03", a.horizons[i], c)
		}
	}
	if st, ok := a.state("api", "", 30*time.Minute); !ok || st.Seen < 3900 {
		t.Errorf("30m calibrator saw %d scores, want ≥ 3900", st.Seen)
	}
}

func TestAdaptiveBoundsPersist(t *testing.T) {
	a := testAdaptiveBounds()
	serveAdaptive(a, "api", 600, 1<<30, 0, 2)
	serveAdaptive(a, "web", 300, 1<<30, 0, 3)
	dir := t.TempDir()
	e := &Engine{opts: Options{StateDir: dir}}
	s := &shadowState{opts: ShadowOptions{Name: "requests"}, logger: slog.New(slog.DiscardHandler)}
	if err := e.saveAdaptive(s, a); err != nil {
		t.Fatal(err)
	}
	b := testAdaptiveBounds()
	e.loadAdaptive(s, b)
	for _, key := range []string{"api", "web"} {
		for _, h := range a.horizons {
			want, _ := a.state(key, "", h)
			got, ok := b.state(key, "", h)
			if !ok {
				t.Fatalf("%s %v: not restored", key, h)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s %v: state after restart (-want +got):\n%s", key, h, diff)
			}
		}
	}
	// Pending forecasts survive too: both continue identically.
	ca := serveAdaptive(a, "api", 200, 1<<30, 0, 9)
	cb := serveAdaptive(b, "api", 200, 1<<30, 0, 9)
	if ca != cb {
		t.Errorf("coverage after restart %v, without restart %v", cb, ca)
	}
	// A snapshot for other horizons or a corrupt one is ignored.
	other := newAdaptiveBounds(ShadowOptions{Step: 5 * time.Minute, Horizons: []time.Duration{time.Hour}, Confidence: 0.9})
	e.loadAdaptive(s, other)
	if len(other.keys) != 0 {
		t.Error("snapshot for other horizons was loaded")
	}
	path := filepath.Join(dir, "bounds-requests.snapshot")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := testAdaptiveBounds()
	if _, err := c.ReadFrom(bytes.NewReader(raw[:len(raw)/2])); err == nil {
		t.Error("truncated snapshot accepted")
	}
	if len(c.keys) != 0 {
		t.Error("truncated snapshot half-applied")
	}
}

// A backfill's past forecasts warm the calibrator: each is scored with the
// actuals of the history, never with samples the history does not hold yet.
func TestAdaptiveWarmFrom(t *testing.T) {
	a := testAdaptiveBounds()
	rng := rand.New(rand.NewPCG(8, 8))
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	s := forecast.Series{Start: start, Step: 5 * time.Minute, Values: make([]float64, 600)}
	for i := range s.Values {
		s.Values[i] = 50 + 3*rng.NormFloat64()
	}
	ff := a.warmFrom("api", func(h forecast.Series) (forecast.Forecast, error) {
		f := forecast.Forecast{Origin: h.End(), Step: h.Step, Point: make([]float64, 6), Lower: make([]float64, 6), Upper: make([]float64, 6)}
		for k := range 6 {
			f.Point[k], f.Lower[k], f.Upper[k] = 50, 49, 51
		}
		return f, nil
	})
	const upTo = 500
	for o := 100; o <= upTo; o += 2 { // stride 2, as Backfill may use
		f, err := ff(s.Slice(0, o))
		if err != nil {
			t.Fatal(err)
		}
		if f.Upper[0] != 51 {
			t.Fatalf("warmFrom changed the forecast it returns: upper %v", f.Upper[0])
		}
	}
	st5, _ := a.state("api", "", 5*time.Minute)
	st30, _ := a.state("api", "", 30*time.Minute)
	// 201 calls (history lengths 100, 102, …, 500): every 1-step forecast
	// but the last one's has its target in the next call's history.
	if want := uint64((upTo-100)/2 + 1 - 1); st5.Seen != want {
		t.Errorf("5m scores %d, want %d", st5.Seen, want)
	}
	if st30.Seen == 0 || st30.Seen >= st5.Seen {
		t.Errorf("30m scores %d (5m %d)", st30.Seen, st5.Seen)
	}
	// Warmed up, the served bounds cover ~90 % from the first live forecast.
	inside := 0
	for o := upTo; o < 590; o++ {
		a.observe("api", []collector.Sample{{T: s.TimeAt(o - 1).UnixMilli(), V: s.Values[o-1]}})
		f := forecast.Forecast{Origin: s.TimeAt(o - 1), Step: s.Step, Point: []float64{50}, Lower: []float64{49}, Upper: []float64{51}}
		a.apply("api", &f)
		if y := s.Values[o]; y >= f.Lower[0] && y <= f.Upper[0] {
			inside++
		}
	}
	if cov := float64(inside) / 90; cov < 0.8 {
		t.Errorf("coverage %.2f of the first 90 live forecasts after warming (raw bounds ±1 cover ~26 %%)", cov)
	}
}

// Each model keeps its own calibration: the cold start's wide bounds must
// not shrink the next model's (the bug: a calibrator fed with last_value's
// small errors-per-width cut Holt-Winters' bounds to a fraction, and
// coverage fell to about 0.2), and a model that serves again later finds
// its calibration where it left it.
func TestAdaptiveBoundsPerModel(t *testing.T) {
	a := testAdaptiveBounds()
	rng := rand.New(rand.NewPCG(7, 7))
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const sigma = 10.0
	half := map[string]float64{"last_value": 100, "holt_winters": 1.645 * sigma}
	served := map[int][2]float64{}
	run := func(model string, from, to int) float64 {
		inside, total := 0, 0
		for t := from; t < to; t++ {
			y := 500 + sigma*rng.NormFloat64()
			a.observe("api", []collector.Sample{{T: start.Add(time.Duration(t) * a.step).UnixMilli(), V: y}})
			if b, ok := served[t-1]; ok {
				total++
				if y >= b[0] && y <= b[1] {
					inside++
				}
			}
			fc := forecast.Forecast{Origin: start.Add(time.Duration(t) * a.step), Step: a.step, Model: model,
				Point: make([]float64, 6), Lower: make([]float64, 6), Upper: make([]float64, 6)}
			for k := range 6 {
				fc.Point[k], fc.Lower[k], fc.Upper[k] = 500, 500-half[model], 500+half[model]
			}
			a.apply("api", &fc)
			served[t] = [2]float64{fc.Lower[0], fc.Upper[0]}
		}
		return float64(inside) / float64(total)
	}
	run("last_value", 0, 400)
	cov := run("holt_winters", 400, 700)
	t.Logf("holt_winters served coverage after 400 cold-start steps: %.3f", cov)
	if math.Abs(cov-0.9) > 0.04 {
		t.Errorf("holt_winters coverage %.3f after the cold start, want 0.90 ± 0.04", cov)
	}
	if st, ok := a.state("api", "last_value", 5*time.Minute); !ok || st.Seen < 390 || st.Seen > 400 {
		t.Errorf("last_value's calibrator: %+v (ok %v), want its ~400 scores kept apart", st, ok)
	}
}
