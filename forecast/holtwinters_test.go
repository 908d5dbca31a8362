package forecast

import (
	"math"
	"testing"
	"time"
)

func TestNelderMeadRosenbrock(t *testing.T) {
	rosen := func(x []float64) float64 {
		a, b := 1-x[0], x[1]-x[0]*x[0]
		return a*a + 100*b*b
	}
	x, v := nelderMead(rosen, []float64{-1.2, 1}, 0.5, 5000, 1e-14)
	if math.Abs(x[0]-1) > 1e-3 || math.Abs(x[1]-1) > 1e-3 || v > 1e-6 {
		t.Errorf("minimum at %v (f=%v), want (1, 1)", x, v)
	}
}

func TestHWParamsInBounds(t *testing.T) {
	for _, x := range [][]float64{{-50, -50, -50, -50}, {50, 50, 50, 50}, {0, 0, 0, 0}} {
		p := hwFromX(x)
		if !(p.alpha > 0 && p.alpha < 1 && p.beta > 0 && p.beta <= p.alpha && p.gamma >= 0 && p.gamma <= 1-p.alpha && p.phi >= 0.8 && p.phi <= 0.98) {
			t.Errorf("x=%v: parameters out of bounds: %+v", x, p)
		}
	}
}

// TestHoltWintersBeatsNaive: on trend + daily sine + noise, Holt-Winters
// must forecast better than the seasonal naive (which carries the noise of
// the last day and misses the trend).
func TestHoltWintersBeatsNaive(t *testing.T) {
	s := synth(42, 24*14, time.Hour, 200, 0.5, 50, 8)
	spec := Spec{Horizon: 24, Level: 0.9}
	best, scores, err := Select([]Model{NewSeasonalNaive(SeasonalNaiveOptions{}), NewHoltWinters(HoltWintersOptions{})}, s, spec, SelectOptions{Origins: 6, Stride: 12})
	if err != nil {
		t.Fatal(err)
	}
	sn, hw := scores[0], scores[1]
	t.Logf("seasonal naive MASE %.3f, Holt-Winters MASE %.3f", sn.MASE, hw.MASE)
	if best.Name() != NameHoltWinters || !(hw.MASE < 0.8*sn.MASE) {
		t.Errorf("Holt-Winters MASE %.3f, seasonal naive %.3f: want HW clearly better", hw.MASE, sn.MASE)
	}
}

func TestHoltWintersFit(t *testing.T) {
	spec := Spec{Horizon: 12, Level: 0.9}
	tests := []struct {
		name       string
		s          Series
		opts       HoltWintersOptions
		wantPeriod int
	}{
		{"hourly daily", synth(1, 24*10, time.Hour, 100, 0, 30, 2), HoltWintersOptions{}, 24},
		{"non-dividing step", synth(1, 200, 7*time.Hour, 100, 0.2, 0, 2), HoltWintersOptions{}, 0},
		{"forced none", synth(1, 24*10, time.Hour, 100, 0, 30, 2), HoltWintersOptions{Seasonality: SeasonNone}, 0},
		{"forced weekly", synth(1, 24*7*3, time.Hour, 100, 0, 30, 2), HoltWintersOptions{Seasonality: SeasonWeekly}, 168},
		{"auto with 3 weeks tries weekly", weeklySynth(24 * 7 * 4), HoltWintersOptions{}, 168},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := holtWinters{opts: tc.opts}.Fit(tc.s, spec)
			if err != nil {
				t.Fatal(err)
			}
			a, b, g, phi, period := p.(*hwPredictor).Params()
			t.Logf("alpha=%.3f beta=%.4f gamma=%.3f phi=%.3f period=%d", a, b, g, phi, period)
			if period != tc.wantPeriod {
				t.Errorf("period %d, want %d", period, tc.wantPeriod)
			}
			full, err := NewHoltWinters(tc.opts).Fit(tc.s, spec)
			if err != nil {
				t.Fatal(err)
			}
			f, err := full.Predict(tc.s)
			if err != nil {
				t.Fatal(err)
			}
			checkForecast(t, f, spec.Horizon)
		})
	}
}

// weeklySynth has a weekday/weekend pattern a daily season cannot hold.
func weeklySynth(n int) Series {
	s := synth(9, n, time.Hour, 100, 0, 30, 2)
	for i := range s.Values {
		if (i/24)%7 >= 5 {
			s.Values[i] *= 0.3
		}
	}
	return s
}

func TestHoltWintersMissingSamples(t *testing.T) {
	s := synth(5, 24*10, time.Hour, 100, 0.2, 30, 3)
	for i := 10; i < s.Len(); i += 13 {
		s.Values[i] = math.NaN()
	}
	for i := 24*10 - 6; i < s.Len(); i++ { // a gap at the end
		s.Values[i] = math.NaN()
	}
	spec := Spec{Horizon: 24, Level: 0.9}
	p, err := NewHoltWinters(HoltWintersOptions{}).Fit(s, spec)
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	checkForecast(t, f, 24)
	// The forecast still follows the sine: peak near phase 6, trough near 18.
	phase := func(k int) int { return (s.Len() + k) % 24 }
	var peak, trough float64
	for k, v := range f.Point {
		switch phase(k) {
		case 6:
			peak = v
		case 18:
			trough = v
		}
	}
	if peak-trough < 40 {
		t.Errorf("peak %v trough %v: the season was lost", peak, trough)
	}
}

func TestHoltWintersNotEnoughData(t *testing.T) {
	s := synth(1, 30, time.Hour, 100, 0, 30, 2)
	if _, err := NewHoltWinters(HoltWintersOptions{}).Fit(s, Spec{Horizon: 3, Level: 0.9}); err == nil {
		t.Error("fit on 30 hourly samples succeeded, want ErrNotEnoughData")
	}
}

func TestHoltWintersDeterministic(t *testing.T) {
	s := synth(11, 24*9, time.Hour, 50, 0.1, 10, 2)
	spec := Spec{Horizon: 8, Level: 0.8}
	var fs []Forecast
	for range 2 {
		p, err := NewHoltWinters(HoltWintersOptions{}).Fit(s, spec)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := p.Predict(s)
		fs = append(fs, f)
	}
	for k := range fs[0].Point {
		if fs[0].Point[k] != fs[1].Point[k] || fs[0].Upper[k] != fs[1].Upper[k] {
			t.Fatalf("step %d differs between two fits", k+1)
		}
	}
}

func TestHoltWintersTransform(t *testing.T) {
	// Multiplicative: the daily swing is proportional to a level that
	// grows fivefold; log1p makes it additive.
	mult := synth(4, 24*12, time.Hour, 0, 0, 0, 0)
	for i := range mult.Values {
		level := 20 * math.Exp(float64(i)/float64(24*12)*math.Log(5))
		mult.Values[i] = level * (1 + 0.8*math.Sin(2*math.Pi*float64(i)/24)) * (1 + 0.02*math.Sin(float64(i)*1.7))
	}
	additive := synth(4, 24*12, time.Hour, 100, 0, 30, 3)
	negative := synth(4, 24*12, time.Hour, -10, 0, 30, 3)
	spec := Spec{Horizon: 24, Level: 0.9}
	tests := []struct {
		name    string
		s       Series
		opts    HoltWintersOptions
		wantLog bool
	}{
		{"auto picks log on multiplicative", mult, HoltWintersOptions{}, true},
		{"auto keeps raw on additive", additive, HoltWintersOptions{}, false},
		{"forced log", additive, HoltWintersOptions{Transform: TransformLog}, true},
		{"forced log with negatives falls back", negative, HoltWintersOptions{Transform: TransformLog}, false},
		{"forced none", mult, HoltWintersOptions{Transform: TransformNone}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := holtWinters{opts: tc.opts}.Fit(tc.s, spec)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.(*hwPredictor).log; got != tc.wantLog {
				t.Errorf("log = %v, want %v", got, tc.wantLog)
			}
			f, err := NewHoltWinters(tc.opts).Fit(tc.s, spec)
			if err != nil {
				t.Fatal(err)
			}
			fc, _ := f.Predict(tc.s)
			checkForecast(t, fc, spec.Horizon)
		})
	}
}

// TestInSampleCalibrationKeepsFit: calibrating on a rolled copy must leave
// the served predictor exactly as fitted.
func TestInSampleCalibrationKeepsFit(t *testing.T) {
	s := weeklySynth(24 * 7 * 4) // weekly season: a restart inside the window would re-initialise
	spec := Spec{Horizon: 48, Level: 0.9}
	inner, err := holtWinters{}.Fit(s, spec)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := inner.Predict(s)
	p, err := NewHoltWinters(HoltWintersOptions{}).Fit(s, spec)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := p.Predict(s)
	for k := range want.Point {
		if want.Point[k] != got.Point[k] {
			t.Fatalf("step %d: served %v, fitted %v", k+1, got.Point[k], want.Point[k])
		}
	}
	if c := p.(*conformalPredictor).Calibration(); c.Count[0] < 150 { // 336 origins (n/2), stride 2
		t.Errorf("%d calibration errors at step 1, want about half the history", c.Count[0])
	}
}
