package forecast

import (
	"fmt"
	"math"
	"time"
)

// MinHistory returns the number of samples m needs before Fit can succeed
// for a series with the given step. Models report it by implementing
//
//	interface{ MinHistory(step time.Duration) int }
//
// (all models of this package do); for other models it is two days of
// steps (48 steps when the step does not divide a day). With less history
// the engine serves NewLastValue.
func MinHistory(m Model, step time.Duration) int {
	if h, ok := m.(interface{ MinHistory(time.Duration) int }); ok {
		return h.MinHistory(step)
	}
	return 2 * seasonOrDefault(step)
}

// LastValueOptions configures NewLastValue.
type LastValueOptions struct {
	// Recent is the number of most recent observed samples averaged for
	// the point forecast; 0 or 1 means the last value.
	Recent int
	// AllowNegative keeps negative bounds; by default, when every sample is
	// ≥ 0, the lower bound is clamped at 0.
	AllowNegative bool
}

// NewLastValue returns the cold-start model, fit for any history with at
// least one observed sample. The point forecast is the last observed value
// (or the mean of the Recent last ones). The bounds for step k are
// point + the finite-sample conformal quantiles of the k-step changes
// y_{t+k} − y_t seen in the history (all origins). When fewer than
// MinCalibrationErrors changes exist at step k, the step borrows the
// quantiles of the last step that has enough (× sqrt(k/k0)); with none at
// all the bound is point ± the widest of: twice the largest absolute change
// seen, the range of the history, and the magnitude of the point (so a
// single sample gives [0, 2·y] for counts). Forecast.Model is "last_value".
func NewLastValue(opts LastValueOptions) Model { return lastValue(opts) }

type lastValue LastValueOptions

func (lastValue) Name() string { return NameLastValue }

// MinHistory is one sample.
func (lastValue) MinHistory(time.Duration) int { return 1 }

func (m lastValue) Fit(s Series, spec Spec) (Predictor, error) {
	if spec.Horizon < 1 || !(spec.Level > 0 && spec.Level < 1) {
		return nil, fmt.Errorf("%s: horizon %d level %v: %w", NameLastValue, spec.Horizon, spec.Level, errBadSpec)
	}
	if countObserved(s.Values) == 0 {
		return nil, fmt.Errorf("%s: no observed sample: %w", NameLastValue, ErrNotEnoughData)
	}
	return &lastValuePredictor{opts: LastValueOptions(m), spec: spec}, nil
}

func countObserved(v []float64) int {
	n := 0
	for _, x := range v {
		if !math.IsNaN(x) {
			n++
		}
	}
	return n
}

// lastValuePredictor recomputes from the history at each call: it only
// serves short histories, so the cost is small.
type lastValuePredictor struct {
	opts LastValueOptions
	spec Spec
}

func (p *lastValuePredictor) Predict(s Series) (Forecast, error) {
	h := p.spec.Horizon
	v := s.Values
	// Point: mean of the last Recent observed values.
	want := max(p.opts.Recent, 1)
	var sum float64
	got := 0
	for i := len(v) - 1; i >= 0 && got < want; i-- {
		if !math.IsNaN(v[i]) {
			sum += v[i]
			got++
		}
	}
	if got == 0 {
		return Forecast{}, fmt.Errorf("%s: no observed sample: %w", NameLastValue, ErrNotEnoughData)
	}
	point := sum / float64(got)

	lo, hi := math.Inf(1), math.Inf(-1)
	nonNeg := !p.opts.AllowNegative
	maxChange := 0.0
	for _, x := range v {
		if math.IsNaN(x) {
			continue
		}
		lo, hi = min(lo, x), max(hi, x)
		if x < 0 {
			nonNeg = false
		}
	}
	errs := make([][]float64, h)
	for k := 1; k <= h && k < len(v); k++ {
		e := make([]float64, 0, len(v)-k)
		for t := k; t < len(v); t++ {
			if d := v[t] - v[t-k]; !math.IsNaN(d) {
				e = append(e, d)
				maxChange = max(maxChange, math.Abs(d))
			}
		}
		errs[k-1] = e
	}
	f := Forecast{Model: NameLastValue, Origin: s.End(), Step: s.Step, Point: make([]float64, h)}
	for k := range f.Point {
		f.Point[k] = point
	}
	if cal, err := CalibrateResiduals(errs, p.spec.Level); err == nil {
		cal.Apply(&f, 1)
	} else {
		w := max(2*maxChange, hi-lo, math.Abs(point))
		f.Lower, f.Upper = make([]float64, h), make([]float64, h)
		for k := range f.Point {
			f.Lower[k], f.Upper[k] = point-w, point+w
		}
	}
	if nonNeg {
		for k := range f.Lower {
			f.Lower[k] = max(f.Lower[k], 0)
		}
	}
	return f, nil
}
