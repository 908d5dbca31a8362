package feedback

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/shadowcast/shadowcast/forecast"
)

// ForecastFunc forecasts from a history whose last sample is the origin.
// The forecast's index k-1 is for origin + k*history.Step.
type ForecastFunc func(history forecast.Series) (forecast.Forecast, error)

// RollingOptions configures RollingForecaster.
type RollingOptions struct {
	// Spec is passed to Fit; Spec.Horizon must cover the longest horizon.
	Spec forecast.Spec
	// Window is the number of most recent samples the model is fitted on
	// (0: all the history).
	Window int
	// RefitEvery is the number of new samples after which the model is
	// refitted (default 60); in between, the fitted Predictor forecasts from
	// the growing history.
	RefitEvery int
}

// RollingForecaster adapts a forecast.Model to a ForecastFunc that refits
// on a sliding window every RefitEvery samples and predicts every call with
// the last Predictor. Histories must be passed in time order (each call
// extends the previous one); it is not safe for concurrent use.
func RollingForecaster(m forecast.Model, opts RollingOptions) ForecastFunc {
	if opts.RefitEvery <= 0 {
		opts.RefitEvery = 60
	}
	var (
		pred     forecast.Predictor
		fitStart time.Time // start of the series the predictor was fitted on
		fitEnd   time.Time
	)
	return func(h forecast.Series) (forecast.Forecast, error) {
		n := h.Len()
		if n == 0 {
			return forecast.Forecast{}, forecast.ErrNotEnoughData
		}
		end := h.End()
		if pred == nil || end.Before(fitEnd) || end.Sub(fitEnd) >= time.Duration(opts.RefitEvery)*h.Step {
			from := 0
			if opts.Window > 0 && n > opts.Window {
				from = n - opts.Window
			}
			win := h.Slice(from, n)
			p, err := m.Fit(win, opts.Spec)
			if err != nil {
				if pred == nil || end.Before(fitEnd) {
					return forecast.Forecast{}, fmt.Errorf("fit %s: %w", m.Name(), err)
				}
				// Keep serving the previous fit; try again next time.
			} else {
				pred, fitStart, fitEnd = p, win.Start, end
			}
		}
		// Give the predictor the history from its fit start on (trimmed
		// further by the window so the work stays bounded).
		from := 0
		if !h.Start.After(fitStart) {
			from = int(fitStart.Sub(h.Start) / h.Step)
		}
		if opts.Window > 0 && n-from > opts.Window+opts.RefitEvery {
			from = n - opts.Window - opts.RefitEvery
		}
		return pred.Predict(h.Slice(from, n))
	}
}

// BackfillOptions configures Backfill.
type BackfillOptions struct {
	// Horizons to score; each must be a positive multiple of the series step.
	Horizons []time.Duration
	// Warmup is the number of samples before the first forecast origin
	// (default: one season of the tracker).
	Warmup int
	// Stride is the number of samples between forecast origins (default 1).
	Stride int
}

// BackfillResult summarises a backfill.
type BackfillResult struct {
	Origins int   // forecasts recorded
	Failed  int   // origins whose forecast failed
	LastErr error // the last forecast error, if any
}

// Backfill scores a forecaster as if it had been running over an already
// collected history: it walks the series in time order, feeds each actual
// to the tracker and, from Warmup on every Stride samples, records the
// forecast made from the history up to that sample. Predictions whose
// target lies beyond the end of the series stay pending and are scored by
// later Observe calls.
func Backfill(t *Tracker, key string, s forecast.Series, f ForecastFunc, opts BackfillOptions) (BackfillResult, error) {
	var res BackfillResult
	if len(opts.Horizons) == 0 {
		return res, errors.New("backfill: no horizons")
	}
	if s.Step <= 0 {
		return res, errors.New("backfill: series step must be positive")
	}
	steps := make([]int, len(opts.Horizons))
	for i, h := range opts.Horizons {
		if h <= 0 || h%s.Step != 0 {
			return res, fmt.Errorf("backfill: horizon %v is not a positive multiple of step %v", h, s.Step)
		}
		steps[i] = int(h / s.Step)
	}
	if opts.Warmup <= 0 {
		opts.Warmup = int(t.opts.Season / s.Step)
	}
	if opts.Stride <= 0 {
		opts.Stride = 1
	}
	for i, v := range s.Values {
		ts := s.TimeAt(i)
		t.Observe(key, ts, v)
		if i+1 < opts.Warmup || (i+1-opts.Warmup)%opts.Stride != 0 {
			continue
		}
		fc, err := f(s.Slice(0, i+1))
		if err != nil {
			res.Failed++
			res.LastErr = err
			continue
		}
		res.Origins++
		for j, k := range steps {
			if k > len(fc.Point) {
				continue
			}
			lo, up := nanAt(fc.Lower, k-1), nanAt(fc.Upper, k-1)
			t.Record(key, opts.Horizons[j], ts, fc.Point[k-1], lo, up)
		}
	}
	return res, nil
}

func nanAt(v []float64, i int) float64 {
	if i < len(v) {
		return v[i]
	}
	return math.NaN()
}
