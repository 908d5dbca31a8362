// Package forecast turns a regular activity series into forecasts with
// calibrated bounds for several horizons.
//
// The package is pure computation: it performs no network or file I/O and
// imports no other package of this module. Callers hand it cleaned, regular
// series (collector/) and expose or act on what it returns (cmd/, webhook/,
// scaler/). Persistence goes through io.Reader/io.Writer the caller supplies.
package forecast

import (
	"errors"
	"math"
	"time"
)

// Errors returned by models.
var (
	// ErrNotEnoughData means the history is too short for the model.
	ErrNotEnoughData = errors.New("not enough history")
	// ErrNotFitted means Predict was called before a successful Fit.
	ErrNotFitted = errors.New("model not fitted")
	// ErrCorruptModel means a persisted model could not be decoded: wrong
	// magic, unknown version, bad checksum, truncated or inconsistent data.
	ErrCorruptModel = errors.New("corrupt model")
)

// Series is a regularly spaced series. Values[i] is the observation at
// Start + i*Step; NaN marks a missing sample.
type Series struct {
	Start  time.Time
	Step   time.Duration
	Values []float64
}

// Len returns the number of samples.
func (s Series) Len() int { return len(s.Values) }

// End returns the time of the last sample (Start when empty).
func (s Series) End() time.Time {
	if len(s.Values) == 0 {
		return s.Start
	}
	return s.Start.Add(time.Duration(len(s.Values)-1) * s.Step)
}

// TimeAt returns the timestamp of sample i.
func (s Series) TimeAt(i int) time.Time { return s.Start.Add(time.Duration(i) * s.Step) }

// Slice returns the sub-series [i, j).
func (s Series) Slice(i, j int) Series {
	return Series{Start: s.TimeAt(i), Step: s.Step, Values: s.Values[i:j]}
}

// Event is a known external event (campaign, maintenance, holiday, known
// peak) that may shape activity. End is exclusive. Kind groups events whose
// effect is expected to be alike; it becomes a feature.
type Event struct {
	Name  string
	Kind  string
	Start time.Time
	End   time.Time
}

// Active reports whether the event covers t.
func (e Event) Active(t time.Time) bool { return !t.Before(e.Start) && t.Before(e.End) }

// Spec says what to forecast.
type Spec struct {
	// Horizon is the number of steps to forecast after the last sample.
	Horizon int
	// Level is the nominal coverage of the bounds, in (0, 1), e.g. 0.9.
	Level float64
	// Events known for the training window and the forecast window.
	Events []Event
	// Seed makes stochastic models deterministic.
	Seed int64
}

// Forecast holds point forecasts and bounds for steps 1..Horizon after
// Origin: index k-1 is the forecast for Origin + k*Step.
type Forecast struct {
	Model  string
	Origin time.Time
	Step   time.Duration
	Point  []float64
	Lower  []float64
	Upper  []float64
}

// Horizon returns the number of forecast steps.
func (f Forecast) Horizon() int { return len(f.Point) }

// Peak returns the maximum point forecast and the maximum upper bound over
// steps 1..k (the lead-time decision values). It returns NaNs when k is out
// of range.
func (f Forecast) Peak(k int) (point, upper float64) {
	if k < 1 || k > len(f.Point) {
		return math.NaN(), math.NaN()
	}
	point, upper = math.Inf(-1), math.Inf(-1)
	for i := 0; i < k; i++ {
		point = math.Max(point, f.Point[i])
		upper = math.Max(upper, f.Upper[i])
	}
	return point, upper
}

// Model is a forecasting method. Fit trains it on a history and returns a
// Predictor; Fit must not retain or modify s.Values.
type Model interface {
	Name() string
	Fit(s Series, spec Spec) (Predictor, error)
}

// Predictor forecasts from a fitted model.
//
// Predict forecasts spec.Horizon steps after the last sample of s. s is the
// history the model was fitted on, possibly extended by newer samples (and
// possibly trimmed at its start by a sliding window); implementations may
// cache state so that only samples newer than the previous call cost work.
// Predict must be safe to call from one goroutine at a time.
type Predictor interface {
	Predict(s Series) (Forecast, error)
}

// Predictors returns typed fits as Predictors, or err (a FitGlobal
// adapter: `return Predictors(m.fit(series, spec))`).
func Predictors[P Predictor](ps []P, err error) ([]Predictor, error) {
	if err != nil {
		return nil, err
	}
	out := make([]Predictor, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out, nil
}
