package backtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/shadowcast/shadowcast/forecast"
)

// Method is a named forecasting method. New returns a fresh model; it is
// called once per fit, so models need not be safe for concurrent use.
type Method struct {
	Name string
	New  func() forecast.Model
}

// GlobalFitter is implemented by global models (e.g. an LSTM trained across
// series). The backtest fits them once over all training series instead of
// calling Fit per series; predictors are returned in the order of series.
type GlobalFitter interface {
	FitGlobal(series []forecast.Series, spec forecast.Spec) ([]forecast.Predictor, error)
}

// Result is the accuracy of one method (at one horizon for rolling
// backtests).
type Result struct {
	Method string
	// Horizon is the lead time scored (rolling backtests); zero for M4,
	// where all steps 1..48 are scored.
	Horizon      time.Duration
	HorizonSteps int
	// SMAPE (percent), MASE and OWA follow the official M4 formulas. For
	// M4 they are means over series; OWA is relative to Naive2 (M4 Hourly
	// constants for M4, a Naive2 run on the same origins for CSV).
	SMAPE, MASE, OWA float64
	// Coverage is the share of actuals inside the bounds; Width the mean
	// bound width divided by the MASE scale.
	Coverage, Width float64
	// Series is the number of series (M4) or origins (CSV) scored.
	Series int
	// Fallbacks counts series whose fit failed and were served by the
	// cold-start model instead.
	Fallbacks int
	// Elapsed is the wall-clock time spent fitting and predicting.
	Elapsed time.Duration
}

// Options configures the backtests.
type Options struct {
	// Level is the nominal coverage of the bounds; 0 means 0.9.
	Level float64
	// Workers bounds the parallelism; 0 means GOMAXPROCS.
	Workers int
	// Seed is passed in the Spec.
	Seed int64
}

func (o Options) level() float64 {
	if o.Level > 0 && o.Level < 1 {
		return o.Level
	}
	return 0.9
}

func (o Options) workers() int {
	if o.Workers > 0 {
		return o.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// parallel runs fn(i) for i in [0, n) on up to w goroutines and returns the
// first error (the context error when ctx is cancelled).
func parallel(ctx context.Context, n, w int, fn func(i int) error) error {
	var (
		mu    sync.Mutex
		first error
		next  int
		wg    sync.WaitGroup
	)
	for range min(w, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if stop || i >= n {
					return
				}
				if err := ctx.Err(); err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// M4Forecast is the forecast of one method for one M4 series.
type M4Forecast struct {
	Series   int // index into the data
	Forecast forecast.Forecast
	Fallback bool
}

// m4Epoch is the arbitrary start of the M4 series (they carry no dates).
var m4Epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// M4Train returns the training part of d as a Series with a one-hour step.
func M4Train(d M4Series) forecast.Series {
	return forecast.Series{Start: m4Epoch, Step: time.Hour, Values: d.Train}
}

// RunM4 fits every method on each series' training part, forecasts the 48
// test hours and scores them. Series whose fit fails are forecast by the
// cold-start model (forecast.NewLastValue) and counted in Fallbacks. It
// returns one Result per method and, per method, the forecasts of all
// series (for plots).
func RunM4(ctx context.Context, data []M4Series, methods []Method, opts Options) ([]Result, [][]M4Forecast, error) {
	spec := forecast.Spec{Horizon: M4Horizon, Level: opts.level(), Seed: opts.Seed}
	results := make([]Result, 0, len(methods))
	all := make([][]M4Forecast, 0, len(methods))
	for _, m := range methods {
		began := time.Now()
		fcs, err := m4Forecasts(ctx, data, m, spec, opts.workers())
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		r := Result{Method: m.Name, HorizonSteps: M4Horizon, Elapsed: time.Since(began)}
		var sm, ms, cov, wid float64
		for i, fc := range fcs {
			d := data[i]
			scale := forecast.MASEScale(d.Train, M4Period)
			f := fc.Forecast
			sm += forecast.SMAPE(d.Test, f.Point)
			ms += forecast.MASE(d.Test, f.Point, scale)
			cov += forecast.Coverage(d.Test, f.Lower, f.Upper)
			wid += forecast.ScaledWidth(f.Lower, f.Upper, scale)
			if fc.Fallback {
				r.Fallbacks++
			}
		}
		n := float64(len(fcs))
		r.Series = len(fcs)
		r.SMAPE, r.MASE, r.Coverage, r.Width = sm/n, ms/n, cov/n, wid/n
		r.OWA = forecast.OWA(r.SMAPE, r.MASE, forecast.M4HourlyNaive2SMAPE, forecast.M4HourlyNaive2MASE)
		results = append(results, r)
		all = append(all, fcs)
	}
	return results, all, nil
}

func m4Forecasts(ctx context.Context, data []M4Series, m Method, spec forecast.Spec, workers int) ([]M4Forecast, error) {
	out := make([]M4Forecast, len(data))
	var global []forecast.Predictor
	if g, ok := m.New().(GlobalFitter); ok {
		train := make([]forecast.Series, len(data))
		for i, d := range data {
			train[i] = M4Train(d)
		}
		ps, err := g.FitGlobal(train, spec)
		if err != nil {
			return nil, fmt.Errorf("global fit: %w", err)
		}
		if len(ps) != len(data) {
			return nil, fmt.Errorf("global fit returned %d predictors for %d series", len(ps), len(data))
		}
		global = ps
	}
	err := parallel(ctx, len(data), workers, func(i int) error {
		s := M4Train(data[i])
		var p forecast.Predictor
		if global != nil {
			p = global[i]
		}
		f, fallback, err := fitPredict(m, p, s, spec)
		if err != nil {
			return fmt.Errorf("series %s: %w", data[i].ID, err)
		}
		out[i] = M4Forecast{Series: i, Forecast: f, Fallback: fallback}
		return nil
	})
	return out, err
}

// fitPredict forecasts from the end of s with p, or with a fresh fit of m
// when p is nil, falling back to the cold-start model when the fit fails for
// lack of data.
func fitPredict(m Method, p forecast.Predictor, s forecast.Series, spec forecast.Spec) (forecast.Forecast, bool, error) {
	fallback := false
	if p == nil {
		var err error
		p, err = m.New().Fit(s, spec)
		if err != nil {
			if !errors.Is(err, forecast.ErrNotEnoughData) {
				return forecast.Forecast{}, false, err
			}
			fallback = true
			if p, err = forecast.NewLastValue(forecast.LastValueOptions{}).Fit(s, spec); err != nil {
				return forecast.Forecast{}, false, err
			}
		}
	}
	f, err := p.Predict(s)
	if err != nil {
		return forecast.Forecast{}, false, err
	}
	if len(f.Point) < spec.Horizon || len(f.Lower) < spec.Horizon || len(f.Upper) < spec.Horizon {
		return forecast.Forecast{}, false, fmt.Errorf("forecast has %d/%d/%d steps, want %d", len(f.Point), len(f.Lower), len(f.Upper), spec.Horizon)
	}
	return f, fallback, nil
}

// RollingOptions configures RunRolling.
type RollingOptions struct {
	Options
	// Horizons are the lead times scored, in steps.
	Horizons []int
	// Origins is the number of forecast origins, one per step over the
	// end of the series; 0 means the last fifth of the series.
	Origins int
	// History is the sliding training window in steps; 0 means all the
	// history before each refit.
	History int
	// Refit is the number of steps between refits; 0 means one day of
	// steps (24 when the step does not divide a day). Between refits the
	// predictor is called on the growing (and sliding) history, as serving
	// does.
	Refit int
	// Calibration is how bounds are calibrated: CalibrationStatic (or "")
	// keeps each method's own; CalibrationRolling and CalibrationAdaptive
	// recalibrate every method's bounds online (CalibrateOnline) with
	// Adaptive.
	Calibration string
	// Adaptive configures the online calibrator (its Level is Options.Level).
	Adaptive forecast.AdaptiveOptions
}

// RollingTrace is the forecast at one origin (for plots).
type RollingTrace struct {
	Origin   int // index of the last sample of the history
	Forecast forecast.Forecast
}

// RunRolling backtests methods on one regular series: from each of the
// last Origins origins it forecasts max(Horizons) steps and scores each
// horizon with sMAPE, MASE (scaled by the one-day seasonal naive error of
// the series before the first origin), coverage and width. OWA is relative
// to Naive2 forecasts on the same origins. Refit segments run in parallel.
func RunRolling(ctx context.Context, s forecast.Series, methods []Method, opts RollingOptions) ([]Result, [][]RollingTrace, error) {
	if len(opts.Horizons) == 0 {
		return nil, nil, errors.New("no horizon")
	}
	hmax := 0
	for _, h := range opts.Horizons {
		if h < 1 {
			return nil, nil, fmt.Errorf("horizon %d steps: must be ≥ 1", h)
		}
		hmax = max(hmax, h)
	}
	n := s.Len()
	origins := opts.Origins
	if origins <= 0 {
		origins = n / 5
	}
	first := n - hmax - origins + 1 // origin = length of the history
	if first < 2 {
		return nil, nil, fmt.Errorf("%d samples are too few for %d origins and horizon %d: %w", n, origins, hmax, forecast.ErrNotEnoughData)
	}
	period := max(forecast.StepsPerDay(s.Step), 1)
	scale := forecast.MASEScale(s.Values[:first], period)
	if !(scale > 0) {
		return nil, nil, fmt.Errorf("MASE scale of the history is %v", scale)
	}
	refit := opts.Refit
	if refit <= 0 {
		refit = period
		if period < 2 {
			refit = 24
		}
	}
	spec := forecast.Spec{Horizon: hmax, Level: opts.level(), Seed: opts.Seed}
	adaptive, online, err := adaptiveOptions(opts.Calibration, opts.Adaptive, opts.level())
	if err != nil {
		return nil, nil, err
	}
	naive2 := Method{Name: "naive2", New: func() forecast.Model { return forecast.NewNaive2(forecast.Naive2Options{}) }}
	n2, _, err := rollingForecasts(ctx, s, naive2, spec, first, origins, refit, opts.History, opts.workers())
	if err != nil {
		return nil, nil, fmt.Errorf("naive2: %w", err)
	}
	n2Scores := scoreRolling(s, n2, opts.Horizons, scale)
	var results []Result
	var traces [][]RollingTrace
	for _, m := range methods {
		began := time.Now()
		fcs, fallbacks, err := rollingForecasts(ctx, s, m, spec, first, origins, refit, opts.History, opts.workers())
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		if online {
			fcs = CalibrateOnline(s, fcs, hmax, adaptive)
		}
		el := time.Since(began)
		for j, sc := range scoreRolling(s, fcs, opts.Horizons, scale) {
			r := Result{
				Method: m.Name, Horizon: time.Duration(opts.Horizons[j]) * s.Step, HorizonSteps: opts.Horizons[j],
				SMAPE: sc.SMAPE, MASE: sc.MASE, Coverage: sc.Coverage, Width: sc.Width,
				OWA:    forecast.OWA(sc.SMAPE, sc.MASE, n2Scores[j].SMAPE, n2Scores[j].MASE),
				Series: sc.N, Fallbacks: fallbacks, Elapsed: el,
			}
			results = append(results, r)
		}
		traces = append(traces, fcs)
	}
	return results, traces, nil
}

// rollingForecasts forecasts from origins first..first+origins-1 (history
// lengths), refitting every refit origins on the last history samples.
func rollingForecasts(ctx context.Context, s forecast.Series, m Method, spec forecast.Spec, first, origins, refit, history, workers int) ([]RollingTrace, int, error) {
	out := make([]RollingTrace, origins)
	segs := (origins + refit - 1) / refit
	var mu sync.Mutex
	fallbacks := 0
	window := func(o int) forecast.Series {
		lo := 0
		if history > 0 {
			lo = max(0, o-history)
		}
		return s.Slice(lo, o)
	}
	err := parallel(ctx, segs, workers, func(j int) error {
		o0 := first + j*refit
		train := window(o0)
		var p forecast.Predictor
		var err error
		model := m.New()
		if g, ok := model.(GlobalFitter); ok {
			var ps []forecast.Predictor
			if ps, err = g.FitGlobal([]forecast.Series{train}, spec); err == nil {
				if len(ps) != 1 {
					return fmt.Errorf("global fit returned %d predictors for 1 series", len(ps))
				}
				p = ps[0]
			}
		} else {
			p, err = model.Fit(train, spec)
		}
		if err != nil {
			if !errors.Is(err, forecast.ErrNotEnoughData) {
				return fmt.Errorf("fit at origin %d: %w", o0, err)
			}
			if p, err = forecast.NewLastValue(forecast.LastValueOptions{}).Fit(train, spec); err != nil {
				return fmt.Errorf("fit at origin %d: %w", o0, err)
			}
			mu.Lock()
			fallbacks++
			mu.Unlock()
		}
		for i := j * refit; i < min(origins, (j+1)*refit); i++ {
			o := first + i
			f, err := p.Predict(window(o))
			if err != nil {
				return fmt.Errorf("predict at origin %d: %w", o, err)
			}
			if len(f.Point) < spec.Horizon || len(f.Lower) < spec.Horizon || len(f.Upper) < spec.Horizon {
				return fmt.Errorf("origin %d: forecast has %d steps, want %d", o, len(f.Point), spec.Horizon)
			}
			out[i] = RollingTrace{Origin: o - 1, Forecast: f}
		}
		return nil
	})
	return out, fallbacks, err
}

// scoreRolling scores the forecasts at each horizon (steps).
func scoreRolling(s forecast.Series, fcs []RollingTrace, horizons []int, scale float64) []forecast.Score {
	out := make([]forecast.Score, len(horizons))
	for j, h := range horizons {
		var actual, point, lower, upper []float64
		for _, tr := range fcs {
			t := tr.Origin + h
			if t >= s.Len() {
				continue
			}
			actual = append(actual, s.Values[t])
			point = append(point, tr.Forecast.Point[h-1])
			lower = append(lower, tr.Forecast.Lower[h-1])
			upper = append(upper, tr.Forecast.Upper[h-1])
		}
		sc := forecast.Score{
			SMAPE:    forecast.SMAPE(actual, point),
			MASE:     forecast.MASE(actual, point, scale),
			Coverage: forecast.Coverage(actual, lower, upper),
			Width:    forecast.ScaledWidth(lower, upper, scale),
		}
		for _, y := range actual {
			if !math.IsNaN(y) {
				sc.N++
			}
		}
		out[j] = sc
	}
	return out
}
