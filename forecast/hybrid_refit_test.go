package forecast

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// driftingSeries is hourly traffic with a daily cycle, a level that
// drifts upward by half over the series, noise and campaign events (lift
// 1.5, 8 hours every 3–4 days). truth is the noise-free level.
func driftingSeries(days int, seed uint64) (s Series, events []Event, truth []float64) {
	rng := rand.New(rand.NewPCG(seed, 5))
	start := time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)
	n := days * 24
	for t := 20 + rng.IntN(24); t < n+48; t += 72 + rng.IntN(24) {
		events = append(events, Event{Name: "c", Kind: "campaign", Start: start.Add(time.Duration(t) * time.Hour),
			End: start.Add(time.Duration(t+8) * time.Hour)})
	}
	s = Series{Start: start, Step: time.Hour, Values: make([]float64, n)}
	truth = make([]float64, n)
	for i := range n {
		ts := s.TimeAt(i)
		v := (100 + 50*float64(i)/float64(n)) * (1 + 0.4*math.Sin(2*math.Pi*float64(i%24)/24))
		for _, e := range events {
			if e.Active(ts) {
				v *= 1.5
			}
		}
		truth[i] = v
		s.Values[i] = v + 5*rng.NormFloat64()
	}
	return s, events, truth
}

// heldOut scores p on origins [from, to) of s (stride 3, the history a
// sliding window starting at lo): MAE against the observed actuals and the
// coverage of the bounds.
func heldOut(t testing.TB, p Predictor, s Series, lo, from, to, K int) (mae, cov float64) {
	t.Helper()
	var n, in int
	for o := from; o+K <= to; o += 3 {
		f, err := p.Predict(s.Slice(lo, o))
		if err != nil {
			t.Fatal(err)
		}
		for k := range K {
			y := s.Values[o+k]
			if math.IsNaN(y) {
				continue // a gap in a real trace
			}
			mae += math.Abs(f.Point[k] - y)
			if f.Lower[k] <= y && y <= f.Upper[k] {
				in++
			}
			n++
		}
	}
	return mae / float64(n), float64(in) / float64(n)
}

var refitTestOptions = HybridOptions{LSTM: LSTMOptions{Residual: true, Hidden: 8, Seq: 24, Steps: 120}, GBM: GBMOptions{Rounds: 40}}

// A warm start after the window slid by two days is about as accurate as a
// full fit on the same window, with intervals as well calibrated, and it
// leaves the model it started from unchanged.
func TestHybridRefitAccuracyAgainstFullFit(t *testing.T) {
	if testing.Short() {
		t.Skip("fits three hybrids")
	}
	s, events, _ := driftingSeries(52, 7)
	const K, W, slide = 24, 36 * 24, 2 * 24
	spec := Spec{Horizon: K, Level: 0.9, Events: events, Seed: 3}
	h := NewHybrid(refitTestOptions)
	p0, err := h.Fit(s.Slice(0, W), spec)
	if err != nil {
		t.Fatal(err)
	}
	prev := p0.(*HybridPredictor)
	before, err := prev.Predict(s.Slice(0, W))
	if err != nil {
		t.Fatal(err)
	}
	win := s.Slice(slide, W+slide)
	warm, err := prev.Refit(win, spec, HybridRefitOptions{Hybrid: refitTestOptions, LSTMSteps: 30, GBMRounds: 10})
	if err != nil {
		t.Fatal(err)
	}
	full, err := h.Fit(win, spec)
	if err != nil {
		t.Fatal(err)
	}
	after, err := prev.Predict(s.Slice(0, W))
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(before, after) {
		t.Error("Refit changed the model it started from")
	}
	if got, want := warm.Booster().NumTrees(), prev.Booster().NumTrees()+10; got != want {
		t.Errorf("warm start has %d trees, want %d", got, want)
	}
	// Held out: the 14 days after the window.
	from, to := W+slide, s.Len()
	maeW, covW := heldOut(t, warm, s, slide, from, to, K)
	maeF, covF := heldOut(t, full, s, slide, from, to, K)
	maeP, _ := heldOut(t, prev, s, 0, from, to, K)
	t.Logf("held-out MAE warm %.3f full %.3f previous %.3f; coverage warm %.3f full %.3f", maeW, maeF, maeP, covW, covF)
	if maeW > 1.10*maeF {
		t.Errorf("warm start MAE %.3f is more than 10%% worse than the full fit's %.3f", maeW, maeF)
	}
	if covW < 0.82 || covW > 0.97 || math.Abs(covW-covF) > 0.06 {
		t.Errorf("warm start coverage %.3f (full fit %.3f), nominal 0.9", covW, covF)
	}
}

func TestHybridRefitMechanics(t *testing.T) {
	s, events, _ := driftingSeries(20, 1)
	o := HybridOptions{LSTM: LSTMOptions{Residual: true, Hidden: 4, Seq: 12, Steps: 10}, GBM: GBMOptions{Rounds: 5}}
	spec := Spec{Horizon: 12, Level: 0.9, Events: events, Seed: 1}
	p0, err := NewHybrid(o).Fit(s.Slice(0, 400), spec)
	if err != nil {
		t.Fatal(err)
	}
	prev := p0.(*HybridPredictor)
	before, _ := prev.Predict(s.Slice(0, 400))
	warm, err := prev.Refit(s.Slice(24, 424), spec, HybridRefitOptions{Hybrid: o, LSTMSteps: 4, GBMRounds: 3})
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := prev.Predict(s.Slice(0, 400)); !cmp.Equal(before, after) {
		t.Error("Refit changed the model it started from")
	}
	if got, want := warm.Booster().NumTrees(), prev.Booster().NumTrees()+3; got != want {
		t.Errorf("warm start has %d trees, want %d", got, want)
	}
	if st := warm.LSTM().Stats(); st.Steps > 4 || st.Steps == 0 {
		t.Errorf("warm start took %d LSTM steps, budget 4", st.Steps)
	}
	if c := warm.Calibration(); len(c.Upper) != 12 || !c.Scaled {
		t.Errorf("calibration %+v", c)
	}
	// The warm-started model persists like a fitted one.
	b, err := warm.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back HybridPredictor
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	f1, _ := warm.Predict(s.Slice(24, 430))
	f2, _ := back.Predict(s.Slice(24, 430))
	if !cmp.Equal(f1, f2) {
		t.Error("the decoded warm-started model forecasts differently")
	}

	_, err = prev.Refit(s, Spec{Horizon: 6, Level: 0.9, Seed: 1}, HybridRefitOptions{Hybrid: o})
	if !errors.Is(err, errBadSpec) {
		t.Errorf("refit with another horizon: err %v", err)
	}
	more := append(append([]Event(nil), events...), Event{Name: "x", Kind: "maintenance", Start: s.End(), End: s.End().Add(time.Hour)})
	_, err = prev.Refit(s.Slice(24, 424), Spec{Horizon: 12, Level: 0.9, Events: more, Seed: 1}, HybridRefitOptions{Hybrid: o})
	if !errors.Is(err, ErrNewEventKinds) {
		t.Errorf("refit with a new event kind: err %v", err)
	}
	_, err = prev.Refit(s.Slice(0, 60), spec, HybridRefitOptions{Hybrid: o})
	if !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("refit on 60 samples: err %v", err)
	}
}

// BenchmarkHybridWarmVsFullNASA compares, on the NASA HTTP trace (requests
// per minute, and summed to 5 minutes; horizon 1 h), a full fit of the default
// hybrid on a 7-day window with a warm start (default budget, nothing tuned
// here) of the model fitted on the window one day earlier; both are scored
// on the 3 days after the window, which neither saw. Five windows starting
// 4 days apart (all before the trace's gap of Jul 28). Reported: mean MAE
// and 90 % coverage of each, and the CPU seconds of each training (per warm
// start). The chain variant follows the full fit with 7 warm starts 6 h
// apart, the engine's default between two full fits.
func BenchmarkHybridWarmVsFullNASA(b *testing.B) {
	path := filepath.Join("..", "..", "shared", "data", "nasa-http", "nasa_requests_per_minute.csv")
	if _, err := os.Stat(path); err != nil {
		b.Skip("no NASA trace:", err)
	}
	raw, err := loadNASAMinutes(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, agg := range []int{5, 1} {
		b.Run(fmt.Sprintf("step=%dm", agg), func(b *testing.B) { benchWarmVsFull(b, sumSteps(raw, agg), 1, 24*time.Hour) })
	}
	// What the engine does by default: 7 warm starts 6 h apart after a
	// full fit (full_retrain_every 8, retrain_interval 6h).
	b.Run("step=5m/chain=7x6h", func(b *testing.B) { benchWarmVsFull(b, sumSteps(raw, 5), 7, 6*time.Hour) })
}

// benchWarmVsFull runs BenchmarkHybridWarmVsFullNASA on s (horizon 1 h):
// after the full fit, chain warm starts, each on the window moved by
// slide; the full fit it is compared with is on the last window.
func benchWarmVsFull(b *testing.B, s Series, chain int, slide time.Duration) {
	K := int(time.Hour / s.Step)
	day := int(24 * time.Hour / s.Step)
	W := 7 * day
	spec := Spec{Horizon: K, Level: 0.9, Seed: 1}
	h := NewHybrid(HybridOptions{})
	move := int(slide / s.Step)
	for b.Loop() {
		var maeW, maeF, covW, covF, cpuW, cpuF float64
		const windows = 5
		for w := range windows {
			start := w * 4 * day
			c0 := cpuTime()
			p0, err := h.Fit(s.Slice(start, start+W), spec)
			if err != nil {
				b.Fatal(err)
			}
			c1 := cpuTime()
			warm := p0.(*HybridPredictor)
			for i := 1; i <= chain; i++ {
				if warm, err = warm.Refit(s.Slice(start+i*move, start+i*move+W), spec, HybridRefitOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			last := start + chain*move
			c2 := cpuTime()
			full, err := h.Fit(s.Slice(last, last+W), spec)
			if err != nil {
				b.Fatal(err)
			}
			c3 := cpuTime()
			from, to := last+W, last+W+3*day
			mw, cw := heldOut(b, warm, s, last, from, to, K)
			mf, cf := heldOut(b, full, s, last, from, to, K)
			b.Logf("window %d (%s): MAE warm %.2f full %.2f; coverage warm %.3f full %.3f; gate warm %.2f full %.2f",
				w, s.TimeAt(last).Format("Jan 2 15:04"), mw, mf, cw, cf, warm.Gate(), full.(*HybridPredictor).Gate())
			maeW, maeF, covW, covF = maeW+mw/windows, maeF+mf/windows, covW+cw/windows, covF+cf/windows
			cpuW += (c2 - c1).Seconds() / windows / float64(chain)
			cpuF += ((c1 - c0) + (c3 - c2)).Seconds() / 2 / windows
		}
		b.ReportMetric(maeW, "mae-warm")
		b.ReportMetric(maeF, "mae-full")
		b.ReportMetric(covW, "cov-warm")
		b.ReportMetric(covF, "cov-full")
		b.ReportMetric(cpuW, "cpu-s-warm")
		b.ReportMetric(cpuF, "cpu-s-full")
	}
}

// loadNASAMinutes reads the NASA trace (timestamp,value; RFC 3339 or
// "2006-01-02 15:04:05" timestamps) into a 1-minute series with NaN for
// minutes without a row.
func loadNASAMinutes(path string) (Series, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Series{}, err
	}
	var s Series
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, ln := range lines[1:] {
		var ts, val string
		for i := 0; i < len(ln); i++ {
			if ln[i] == ',' {
				ts, val = ln[:i], ln[i+1:]
				break
			}
		}
		t, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			if t, err = time.Parse("2006-01-02 15:04:05", ts); err != nil {
				return Series{}, err
			}
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return Series{}, err
		}
		if s.Step == 0 {
			s = Series{Start: t, Step: time.Minute}
		}
		i := int(t.Sub(s.Start) / time.Minute)
		for len(s.Values) < i {
			s.Values = append(s.Values, math.NaN())
		}
		if i == len(s.Values) {
			s.Values = append(s.Values, v)
		}
	}
	return s, nil
}

// sumSteps sums groups of k samples (NaN when a group has no value).
func sumSteps(s Series, k int) Series {
	out := Series{Start: s.Start, Step: s.Step * time.Duration(k)}
	for i := 0; i+k <= s.Len(); i += k {
		sum, n := 0.0, 0
		for _, v := range s.Values[i : i+k] {
			if !math.IsNaN(v) {
				sum += v
				n++
			}
		}
		if n == 0 {
			out.Values = append(out.Values, math.NaN())
			continue
		}
		out.Values = append(out.Values, sum*float64(k)/float64(n))
	}
	return out
}

// TestHybridRefitKeepsFitChoices: a warm start with the engine's options
// (zero HybridRefitOptions, on a decoded copy) keeps what the full fit
// chose: the Holt-Winters member (refitted, its weight chosen again) and
// the gate mode.
func TestHybridRefitKeepsFitChoices(t *testing.T) {
	s := synth(4, 760, time.Hour, 100, 0.01, 30, 6)
	spec := Spec{Horizon: 12, Level: 0.9, Seed: 1}
	lstm := LSTMOptions{Residual: true, Hidden: 4, Seq: 12, Dense: 8, Steps: 10, BatchSize: 16}
	decoded := func(p *HybridPredictor) *HybridPredictor {
		t.Helper()
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var q HybridPredictor
		if err := q.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		return &q
	}
	tests := []struct {
		name   string
		opts   HybridOptions
		check  func(t *testing.T, fit, warm *HybridPredictor)
		refits int
	}{
		{"combine", HybridOptions{LSTM: lstm, GBM: GBMOptions{Rounds: 10}, Combine: true}, func(t *testing.T, fit, warm *HybridPredictor) {
			// A barely trained LSTM against a clean sine: Holt-Winters
			// keeps a weight.
			if w := warm.HoltWintersWeight(); !(w > 0 && w <= 0.5) || fit.HoltWintersWeight() == 0 {
				t.Errorf("Holt-Winters weight %v after the warm start (fit: %v), want in (0, 0.5]", w, fit.HoltWintersWeight())
			}
			if !warm.combine {
				t.Error("the warm start forgot Combine")
			}
		}, 2},
		{"no gate", HybridOptions{LSTM: lstm, GBM: GBMOptions{Rounds: 10}, NoGate: true}, func(t *testing.T, fit, warm *HybridPredictor) {
			if g := warm.Gate(); g != 1 || !warm.noGate {
				t.Errorf("gate %v (no gate %v) after the warm start of a NoGate fit, want 1", g, warm.noGate)
			}
		}, 2},
		{"gated", HybridOptions{LSTM: lstm, GBM: GBMOptions{Rounds: 10}}, func(t *testing.T, fit, warm *HybridPredictor) {
			if g := warm.Gate(); !slices.Contains([]float64{0, 0.25, 0.5, 0.75, 1}, g) || warm.noGate {
				t.Errorf("gate %v (no gate %v), want a factor of the grid", g, warm.noGate)
			}
			if warm.HoltWintersWeight() != 0 || warm.combine {
				t.Error("the warm start added Holt-Winters to a fit without it")
			}
		}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewHybrid(tc.opts).Fit(s.Slice(0, 700), spec)
			if err != nil {
				t.Fatal(err)
			}
			fit := p.(*HybridPredictor)
			prev := fit
			for i := range tc.refits {
				// What the engine does: decode a copy, refit with zero options.
				warm, err := decoded(prev).Refit(s.Slice(24*(i+1), 700+24*(i+1)), spec, HybridRefitOptions{LSTMSteps: 3, GBMRounds: 3})
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, fit, warm)
				f, err := warm.Predict(s.Slice(0, 700+24*(i+1)))
				if err != nil {
					t.Fatal(err)
				}
				checkForecast(t, f, 12)
				prev = warm
			}
		})
	}
}
