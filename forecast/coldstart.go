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
// y_{t+k} − y_t seen in the history (the 200 most recent origins). When fewer than
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

// lastValueMaxChanges bounds the k-step changes (the most recent) behind
// the cold-start bounds, which bounds the cost of a recompute.
const lastValueMaxChanges = 200

// lastValuePredictor caches the spread of the bounds; it recomputes it
// (O(h·n log n)) when the history does not extend the previous one or has
// grown by an eighth since, so a step costs O(Recent + h) most of the time.
type lastValuePredictor struct {
	opts LastValueOptions
	spec Spec

	cur      cursor
	lowOff   []float64 // bound offsets from the point, per step
	highOff  []float64
	nonNeg   bool
	calN     int // observed samples when the offsets were computed
	newSince int // samples consumed since
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

	i := p.cur.next(s)
	if i >= 0 {
		p.newSince += len(v) - i
	}
	if i < 0 || p.lowOff == nil || p.newSince >= max(1, p.calN/8) {
		p.spread(v, point)
	}
	p.cur.mark(s)

	f := Forecast{Model: NameLastValue, Origin: s.End(), Step: s.Step,
		Point: make([]float64, h), Lower: make([]float64, h), Upper: make([]float64, h)}
	for k := range f.Point {
		f.Point[k] = point
		f.Lower[k] = point + p.lowOff[k]
		f.Upper[k] = point + p.highOff[k]
		if p.nonNeg {
			f.Lower[k] = max(f.Lower[k], 0)
		}
	}
	return f, nil
}

// spread computes the bound offsets from the k-step changes of v.
func (p *lastValuePredictor) spread(v []float64, point float64) {
	h := p.spec.Horizon
	lo, hi := math.Inf(1), math.Inf(-1)
	p.nonNeg = !p.opts.AllowNegative
	maxChange := 0.0
	n := 0
	for _, x := range v {
		if math.IsNaN(x) {
			continue
		}
		n++
		lo, hi = min(lo, x), max(hi, x)
		if x < 0 {
			p.nonNeg = false
		}
	}
	errs := make([][]float64, h)
	for k := 1; k <= h && k < len(v); k++ {
		e := make([]float64, 0, min(len(v)-k, lastValueMaxChanges))
		for t := max(k, len(v)-lastValueMaxChanges); t < len(v); t++ {
			if d := v[t] - v[t-k]; !math.IsNaN(d) {
				e = append(e, d)
				maxChange = max(maxChange, math.Abs(d))
			}
		}
		errs[k-1] = e
	}
	p.lowOff, p.highOff = make([]float64, h), make([]float64, h)
	if cal, err := CalibrateResiduals(errs, p.spec.Level); err == nil {
		f := Forecast{Point: make([]float64, h)}
		cal.Apply(&f, 1)
		copy(p.lowOff, f.Lower)
		copy(p.highOff, f.Upper)
	} else {
		w := max(2*maxChange, hi-lo, math.Abs(point))
		for k := range p.lowOff {
			p.lowOff[k], p.highOff[k] = -w, w
		}
	}
	p.calN, p.newSince = n, 0
}
