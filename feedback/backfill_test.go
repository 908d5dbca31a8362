package feedback

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/shadowcast/shadowcast/forecast"
)

// lastValue forecasts the last sample with bounds ±width and counts fits.
type lastValue struct {
	width float64
	fits  *int
}

func (m lastValue) Name() string { return "last_value" }

func (m lastValue) Fit(s forecast.Series, spec forecast.Spec) (forecast.Predictor, error) {
	if s.Len() < 2 {
		return nil, forecast.ErrNotEnoughData
	}
	*m.fits++
	return m, nil
}

func (m lastValue) Predict(s forecast.Series) (forecast.Forecast, error) {
	v := s.Values[s.Len()-1]
	f := forecast.Forecast{Model: m.Name(), Origin: s.End(), Step: s.Step}
	for range 3 {
		f.Point = append(f.Point, v)
		f.Lower = append(f.Lower, v-m.width)
		f.Upper = append(f.Upper, v+m.width)
	}
	return f, nil
}

func TestBackfill(t *testing.T) {
	// A ramp 0, 1, …, 9: the last-value forecast misses by k at horizon k.
	s := forecast.Series{Start: t0, Step: time.Minute}
	for i := range 10 {
		s.Values = append(s.Values, float64(i))
	}
	tr, err := NewTracker(TrackerOptions{Step: time.Minute, Season: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	fits := 0
	f := RollingForecaster(lastValue{width: 1, fits: &fits}, RollingOptions{Spec: forecast.Spec{Horizon: 3}, Window: 4, RefitEvery: 3})
	res, err := Backfill(tr, "k", s, f, BackfillOptions{Horizons: []time.Duration{time.Minute, 2 * time.Minute}, Warmup: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Origin 0 fails (one sample), origins 1..9 succeed; fits at 1, 4, 7.
	if diff := cmp.Diff(BackfillResult{Origins: 9, Failed: 1, LastErr: res.LastErr}, res, cmpopts.EquateErrors()); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if fits != 3 {
		t.Errorf("fits = %d, want 3", fits)
	}
	// Seasonal (lag-2) differences of a unit ramp are 2.
	h1 := tr.Scores("k", time.Minute)
	want1 := Scores{N: 8, MAE: 1, MASE: 0.5, Coverage: 1, Bias: 1, SMAPE: h1.SMAPE}
	if diff := cmp.Diff(want1, h1); diff != "" {
		t.Errorf("1m scores (-want +got):\n%s", diff)
	}
	h2 := tr.Scores("k", 2*time.Minute)
	if h2.N != 7 || h2.MAE != 2 || h2.Coverage != 0 {
		t.Errorf("2m scores = %+v, want N 7, MAE 2, coverage 0", h2)
	}
	// sMAPE of origin i at horizon 1: 2/(2i+1), i = 1..8.
	var want float64
	for i := 1; i <= 8; i++ {
		want += 2 / float64(2*i+1)
	}
	if got := h1.SMAPE; math.Abs(got-want/8) > 1e-12 {
		t.Errorf("sMAPE = %v, want %v", got, want/8)
	}
}

func TestBackfillErrors(t *testing.T) {
	tr, _ := NewTracker(TrackerOptions{Step: time.Minute})
	s := forecast.Series{Start: t0, Step: time.Minute, Values: []float64{1, 2}}
	f := func(forecast.Series) (forecast.Forecast, error) { return forecast.Forecast{}, nil }
	for _, o := range []BackfillOptions{{}, {Horizons: []time.Duration{90 * time.Second}}} {
		if _, err := Backfill(tr, "k", s, f, o); err == nil {
			t.Errorf("Backfill(%+v) succeeded, want an error", o)
		}
	}
}
