package feedback

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// scaledError returns |e|/scale for e ~ N(shift, 1) and the scale of the
// one-season naive forecast of iid N(0,1) noise, E|e1−e2| = 2/√π.
func scaledError(r *rand.Rand, shift float64) float64 {
	return math.Abs(r.NormFloat64()+shift) / (2 / math.SqrtPi)
}

func defaultPH() PageHinkleyOptions {
	var o PageHinkleyOptions
	o.setDefaults()
	return o
}

// TestPageHinkleyFalseAlarms measures the false-alarm rate on stationary
// scaled errors: 200 runs of 5000 samples each.
func TestPageHinkleyFalseAlarms(t *testing.T) {
	o := defaultPH()
	const runs, n = 200, 5000
	alarms := 0
	for run := range runs {
		r := rand.New(rand.NewPCG(uint64(run), 1))
		var ph PageHinkley
		for range n {
			if ph.Add(scaledError(r, 0), o) {
				alarms++
				break
			}
		}
	}
	rate := float64(alarms) / runs
	t.Logf("false alarms: %d of %d runs of %d stationary samples (%.1f%%)", alarms, runs, n, 100*rate)
	if rate > 0.02 {
		t.Errorf("false-alarm rate %.3f over %d samples, want ≤ 0.02", rate, n)
	}
}

// TestPageHinkleyDetectsShift checks that a shift of the error mean by one
// and by two noise standard deviations is detected within a bounded delay.
func TestPageHinkleyDetectsShift(t *testing.T) {
	o := defaultPH()
	for _, tc := range []struct {
		shift    float64
		maxDelay int // the 95th percentile of the delay must stay below
	}{
		{shift: 2, maxDelay: 60},
		{shift: 1, maxDelay: 250},
	} {
		const runs, before = 100, 500
		var delays []int
		early := 0
		for run := range runs {
			r := rand.New(rand.NewPCG(uint64(run), 2))
			var ph PageHinkley
			delay := -1
			for i := range before + 2000 {
				shift := 0.0
				if i >= before {
					shift = tc.shift
				}
				if ph.Add(scaledError(r, shift), o) {
					if i < before {
						early++
					} else {
						delay = i - before + 1
					}
					break
				}
			}
			if delay < 0 {
				delay = math.MaxInt32
			}
			delays = append(delays, delay)
		}
		p95 := percentile(delays, 0.95)
		t.Logf("shift %.0fσ: median delay %d samples, p95 %d, alarms before the shift %d/%d",
			tc.shift, percentile(delays, 0.5), p95, early, runs)
		if p95 > tc.maxDelay {
			t.Errorf("shift %.0fσ: p95 delay %d, want ≤ %d", tc.shift, p95, tc.maxDelay)
		}
		if early > 2 {
			t.Errorf("shift %.0fσ: %d alarms before the shift", tc.shift, early)
		}
	}
}

func percentile(v []int, q float64) int {
	s := append([]int(nil), v...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[int(q*float64(len(s)-1))]
}

func TestPageHinkleyTwoSided(t *testing.T) {
	o := defaultPH()
	o.TwoSided = true
	var ph PageHinkley
	for range 200 {
		ph.Add(2, o)
	}
	for range 200 {
		ph.Add(0, o)
	}
	if !ph.Alarm || ph.Direction != "decrease" {
		t.Errorf("alarm=%v direction=%q, want a decrease alarm", ph.Alarm, ph.Direction)
	}
	ph.Reset()
	if ph.Alarm || ph.N != 0 {
		t.Error("Reset left state behind")
	}
}

// TestTrackerDrift runs the detector through the tracker: a model that
// predicts the old level of a series whose level jumps.
func TestTrackerDrift(t *testing.T) {
	tr, err := NewTracker(TrackerOptions{Step: time.Minute, Season: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	h := time.Minute
	level := 100.0
	shiftAt, alarmAt := 600, -1
	for i := range 1200 {
		if i == shiftAt {
			level = 106 // six noise standard deviations
		}
		tr.Observe("k", at(i), level+r.NormFloat64())
		tr.Record("k", h, at(i), 100, 98, 102)
		if d, _ := tr.Drift("k"); d && alarmAt < 0 {
			alarmAt = i
		}
	}
	if alarmAt < shiftAt || alarmAt > shiftAt+30 {
		t.Fatalf("drift alarmed at %d, want within 30 samples after %d", alarmAt, shiftAt)
	}
	d, reason := tr.Drift("k")
	if !d || !strings.Contains(reason, "page-hinkley increase at horizon 1m0s") {
		t.Errorf("Drift = %v, %q", d, reason)
	}
	if !tr.Deviating("k", h) {
		t.Error("sustained shift not reported as deviating")
	}
	tr.ResetDrift("k")
	if d, _ := tr.Drift("k"); d {
		t.Error("drift still set after ResetDrift")
	}
}

// TestPageHinkleyAutocorrelation measures why the tracker thins the errors
// it feeds the detector: AR(1) errors with φ = 0.8 (typical of overlapping
// multi-step forecasts) false-alarm often; keeping every fifth error
// (φ⁵ ≈ 0.33) brings the rate back down.
func TestPageHinkleyAutocorrelation(t *testing.T) {
	o := defaultPH()
	rate := func(phi float64, every int) float64 {
		alarms := 0
		const runs, n = 200, 5000
		for run := range runs {
			r := rand.New(rand.NewPCG(uint64(run), 9))
			var ph PageHinkley
			e := 0.0
			for i := range n * every {
				e = phi*e + math.Sqrt(1-phi*phi)*r.NormFloat64()
				if i%every == 0 && ph.Add(math.Abs(e)/(2/math.SqrtPi), o) {
					alarms++
					break
				}
			}
		}
		return float64(alarms) / runs
	}
	raw, thinned := rate(0.8, 1), rate(0.8, 5)
	t.Logf("false alarms in 5000 samples, AR(1) φ=0.8: every error %.0f%%, every fifth %.1f%%", 100*raw, 100*thinned)
	if raw < 0.5 || thinned > 0.02 {
		t.Errorf("false-alarm rates %.3f (raw) and %.3f (thinned), want ≥ 0.5 and ≤ 0.02", raw, thinned)
	}
}

func TestTrackerDriftSpacing(t *testing.T) {
	for _, tc := range []struct {
		spacing time.Duration
		want    int
	}{{0, 20}, {-1, 100}, {10 * time.Minute, 10}} {
		tr, _ := NewTracker(TrackerOptions{Step: time.Minute, Season: 2 * time.Minute, DriftSpacing: tc.spacing})
		tr.SetScale("k", 1)
		for i := range 100 {
			tr.Record("k", 5*time.Minute, at(i), 1, 0, 2)
			tr.Observe("k", at(i+5), 1)
		}
		if got := tr.keys["k"].Horizons[5*time.Minute].PH.N; got != tc.want {
			t.Errorf("spacing %v: %d errors fed to the detector, want %d", tc.spacing, got, tc.want)
		}
	}
}
