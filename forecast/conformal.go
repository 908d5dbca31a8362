package forecast

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// errBadSpec reports an unusable Spec (horizon < 1, level outside (0, 1)).
var errBadSpec = errors.New("invalid spec")

// MinCalibrationErrors is the least number of out-of-sample errors at a
// horizon step for which Calibrate computes that step's quantiles directly;
// steps with fewer are extrapolated from the last step that has enough.
// With fewer than (1+level)/(1−level) errors the finite-sample conformal
// quantile is infinite (19 at level 0.9), so 20 is the floor at level 0.9.
const MinCalibrationErrors = 20

// Calibration turns point forecasts into intervals by split-conformal
// prediction on a series' own recent out-of-sample errors.
//
// For each horizon step k (index k−1), Lower and Upper are the
// (1−Level)/2 and (1+Level)/2 quantiles of the signed errors
// e = (actual − point) / scale observed at step k, with the finite-sample
// correction: with n errors sorted ascending, Upper is the ⌈(n+1)(1+Level)/2⌉-th
// and Lower the ⌊(n+1)(1−Level)/2⌋-th. When errors were divided by a local
// scale (Scaled), Apply multiplies the quantiles by the local scale at the
// forecast origin, so the width follows level shifts of the noise.
//
// Build one with CalibrateResiduals (from errors you collected) or let
// Conformal collect them by rolling origins. A Calibration is a value; it is
// safe to share between goroutines.
type Calibration struct {
	// Level is the nominal coverage in (0, 1).
	Level float64
	// Lower and Upper are per-step error quantiles, Lower[k] ≤ 0 ≤ Upper[k]
	// (the quantiles are widened to include 0 so that the point forecast
	// is always inside its interval).
	Lower, Upper []float64
	// Count is the number of errors behind each step; a step with fewer
	// than MinCalibrationErrors was extrapolated (× sqrt(k/k0)) from the
	// last step k0 that had enough.
	Count []int
	// Scaled tells whether errors were divided by a local scale.
	Scaled bool
	// RefScale is the median local scale over the calibration origins.
	// Apply never uses a scale below RefScale/10 (see EffectiveScale).
	RefScale float64
}

// CalibrateResiduals builds a Calibration from signed out-of-sample errors:
// errs[k−1] holds actual − point for forecasts k steps ahead (divided by the
// local scale at their origin when the errors are scaled; then set Scaled
// and RefScale on the result). NaN errors are ignored. It fails with
// ErrNotEnoughData when no step has MinCalibrationErrors errors.
func CalibrateResiduals(errs [][]float64, level float64) (Calibration, error) {
	if !(level > 0 && level < 1) {
		return Calibration{}, fmt.Errorf("level %v: %w", level, errBadSpec)
	}
	h := len(errs)
	c := Calibration{Level: level, Lower: make([]float64, h), Upper: make([]float64, h), Count: make([]int, h)}
	lastOK := -1
	var buf []float64
	for k := range h {
		buf = buf[:0]
		for _, e := range errs[k] {
			if !math.IsNaN(e) && !math.IsInf(e, 0) {
				buf = append(buf, e)
			}
		}
		c.Count[k] = len(buf)
		lo, hi, ok := conformalQuantiles(buf, level)
		if !ok || len(buf) < MinCalibrationErrors {
			if lastOK < 0 {
				c.Lower[k], c.Upper[k] = math.NaN(), math.NaN()
				continue
			}
			f := math.Sqrt(float64(k+1) / float64(lastOK+1))
			c.Lower[k], c.Upper[k] = c.Lower[lastOK]*f, c.Upper[lastOK]*f
			continue
		}
		c.Lower[k], c.Upper[k] = min(lo, 0), max(hi, 0)
		lastOK = k
	}
	if lastOK < 0 {
		return Calibration{}, fmt.Errorf("calibration: fewer than %d errors at every step: %w", MinCalibrationErrors, ErrNotEnoughData)
	}
	// Steps before the first calibrated one borrow its quantiles.
	first := slices.IndexFunc(c.Lower, func(v float64) bool { return !math.IsNaN(v) })
	for k := range first {
		c.Lower[k], c.Upper[k] = c.Lower[first], c.Upper[first]
	}
	return c, nil
}

// conformalQuantiles returns the finite-sample corrected two-sided
// quantiles of e (sorted in place); ok is false when a rank falls outside
// 1..n (too few errors for the level).
func conformalQuantiles(e []float64, level float64) (lo, hi float64, ok bool) {
	n := len(e)
	if n == 0 {
		return 0, 0, false
	}
	slices.Sort(e)
	beta := (1 + level) / 2
	rHi := int(math.Ceil(float64(n+1)*beta - 1e-9))
	rLo := int(math.Floor(float64(n+1)*(1-beta) + 1e-9))
	if rHi > n || rLo < 1 {
		return 0, 0, false
	}
	return e[rLo-1], e[rHi-1], true
}

// EffectiveScale returns the scale Apply uses for a local scale: 1 when
// the calibration is not scaled, otherwise local floored at RefScale/10
// (RefScale itself when local is not a positive number), and 1 when both
// are zero.
func (c Calibration) EffectiveScale(local float64) float64 {
	if !c.Scaled {
		return 1
	}
	floor := c.RefScale / 10
	if !(local > floor) { // also catches NaN
		local = floor
	}
	if !(local > 0) {
		local = c.RefScale
	}
	if !(local > 0) {
		return 1
	}
	return local
}

// Apply sets f.Lower and f.Upper from f.Point and the calibrated quantiles,
// with scale the local scale at the forecast origin (ignored when the
// calibration is unscaled; see EffectiveScale). Steps beyond the calibrated
// horizon are extrapolated with sqrt(k) growth from the last step.
func (c Calibration) Apply(f *Forecast, scale float64) {
	h := len(f.Point)
	if cap(f.Lower) < h {
		f.Lower = make([]float64, h)
	}
	if cap(f.Upper) < h {
		f.Upper = make([]float64, h)
	}
	f.Lower, f.Upper = f.Lower[:h], f.Upper[:h]
	s := c.EffectiveScale(scale)
	nc := len(c.Lower)
	for k := range h {
		var lo, hi float64
		switch {
		case nc == 0:
			lo, hi = math.NaN(), math.NaN()
		case k < nc:
			lo, hi = c.Lower[k], c.Upper[k]
		default:
			g := math.Sqrt(float64(k+1) / float64(nc))
			lo, hi = c.Lower[nc-1]*g, c.Upper[nc-1]*g
		}
		f.Lower[k] = f.Point[k] + lo*s
		f.Upper[k] = f.Point[k] + hi*s
	}
}

// LocalScale tracks the local noise scale of a series as an exponentially
// weighted mean of |y_t − y_{t−1}| (NaN samples are skipped). It is O(1) in
// memory and per sample. The zero value is not usable; use NewLocalScale.
type LocalScale struct {
	alpha float64
	value float64 // NaN until the first difference
	prev  float64 // last non-NaN sample, NaN before the first
}

// NewLocalScale returns a tracker whose weights halve roughly every
// window·ln2 samples (alpha = 2/(window+1)).
func NewLocalScale(window int) LocalScale {
	return LocalScale{alpha: 2 / float64(max(window, 1)+1), value: math.NaN(), prev: math.NaN()}
}

// Push adds one sample.
func (l *LocalScale) Push(y float64) {
	if math.IsNaN(y) {
		return
	}
	if !math.IsNaN(l.prev) {
		d := math.Abs(y - l.prev)
		if math.IsNaN(l.value) {
			l.value = d
		} else {
			l.value += l.alpha * (d - l.value)
		}
	}
	l.prev = y
}

// Value returns the current scale (NaN before two samples were seen).
func (l LocalScale) Value() float64 { return l.value }

// CalibrationMode chooses how Conformal obtains out-of-sample errors.
type CalibrationMode int

// Calibration modes.
const (
	// CalibrateDefault lets the model decide.
	CalibrateDefault CalibrationMode = iota
	// CalibrateSplit fits the model on the history before the calibration
	// window and forecasts from each origin in the window (split
	// conformal). Errors are fully out-of-sample; the calibration model saw
	// less data than the served one, so bounds tend to be slightly
	// conservative when the window is a large part of the history.
	CalibrateSplit
	// CalibrateInSample fits the model once, on the whole history, then
	// restarts its predictor at the beginning of the window and rolls it
	// forward: states and forecasts are out-of-sample, parameters were
	// fitted in-sample. One fit instead of two; suits models with few
	// parameters (the baselines), optimistic for flexible ones (LSTM, GBM).
	CalibrateInSample
)

// CalibrationOptions configures Conformal.
type CalibrationOptions struct {
	// Window is the number of most recent samples over which forecast
	// origins roll. Zero means max(4·horizon, one day of steps, 200) in
	// split mode and the whole history in in-sample mode; either way capped
	// so that the model still gets its MinHistory (and a fitted predictor
	// its warm-up) before the window.
	Window int
	// MaxOrigins bounds the number of origins (the cost); origins are
	// spread evenly over Window. Zero means 300.
	MaxOrigins int
	// ScaleWindow is the span, in steps, of the local scale (see
	// LocalScale); zero means one day of steps (24 when the step does not
	// divide a day); negative disables scaling (raw errors).
	ScaleWindow int
	// Mode chooses which fit produces the calibration errors; the zero
	// value lets the model decide (split for Conformal, in-sample for the
	// baselines of this package).
	Mode CalibrationMode
	// AllowNegative keeps negative bounds and points. By default, when all
	// training values are ≥ 0 (counts, rates) forecasts are clamped at 0.
	AllowNegative bool
}

// Conformal wraps a model with split-conformal intervals. Fit (in the
// default CalibrateSplit mode):
//
//  1. fits m on the history without its last Window samples;
//  2. rolls forecast origins through that window, calling Predict on the
//     growing history (no refit), and collects the signed errors per
//     horizon step, divided by the local scale (LocalScale) at the origin;
//  3. builds a Calibration (CalibrateResiduals);
//  4. refits m on the whole history.
//
// The returned predictor forecasts with the refitted model and sets Lower
// and Upper from the calibration and the current local scale. Any Model
// works (it may return bounds of its own; they are replaced). The cost is
// two fits plus at most MaxOrigins incremental predictions (one fit with
// CalibrateInSample).
func Conformal(m Model, opts CalibrationOptions) Model {
	return &conformal{inner: m, opts: opts}
}

type conformal struct {
	inner Model
	opts  CalibrationOptions
}

func (c *conformal) Name() string { return c.inner.Name() }

// MinHistory is the inner model's plus MinCalibrationErrors origins.
func (c *conformal) MinHistory(step time.Duration) int {
	return MinHistory(c.inner, step) + MinCalibrationErrors
}

func (c *conformal) scaleWindow(step time.Duration) int {
	if c.opts.ScaleWindow != 0 {
		return c.opts.ScaleWindow
	}
	return seasonOrDefault(step)
}

func (c *conformal) Fit(s Series, spec Spec) (Predictor, error) {
	if spec.Horizon < 1 || !(spec.Level > 0 && spec.Level < 1) {
		return nil, fmt.Errorf("%s: horizon %d level %v: %w", c.Name(), spec.Horizon, spec.Level, errBadSpec)
	}
	var p Predictor
	if c.opts.Mode == CalibrateInSample {
		var err error
		if p, err = c.inner.Fit(s, spec); err != nil {
			return nil, err
		}
	}
	cal, err := c.calibrate(s, spec, p)
	if err != nil {
		return nil, err
	}
	if p == nil {
		if p, err = c.inner.Fit(s, spec); err != nil {
			return nil, err
		}
	}
	nonNeg := !c.opts.AllowNegative
	for _, v := range s.Values {
		if v < 0 {
			nonNeg = false
			break
		}
	}
	return &conformalPredictor{
		name: c.Name(), inner: p, cal: cal, nonNeg: nonNeg,
		window: c.scaleWindow(s.Step), scale: NewLocalScale(c.scaleWindow(s.Step)),
	}, nil
}

// calibrate collects the errors; fitted, when not nil, is the predictor
// fitted on all of s (InSample), otherwise the model is fitted on the
// history before the window.
func (c *conformal) calibrate(s Series, spec Spec, fitted Predictor) (Calibration, error) {
	n := s.Len()
	need := MinHistory(c.inner, s.Step)
	w := c.opts.Window
	if w <= 0 {
		w = max(4*spec.Horizon, seasonOrDefault(s.Step), 200)
		if c.opts.Mode == CalibrateInSample {
			w = n
		}
	}
	if wp, ok := fitted.(interface{ warmup() int }); ok {
		need = max(need, wp.warmup())
	}
	w = min(w, n-need)
	if w < MinCalibrationErrors {
		return Calibration{}, fmt.Errorf("%s: %d samples leave %d for calibration, need %d: %w",
			c.Name(), n, max(w, 0), MinCalibrationErrors, ErrNotEnoughData)
	}
	start := n - w
	p := fitted
	if cl, ok := p.(interface{ clone() Predictor }); ok {
		// Roll a copy so that the served predictor keeps the state of its
		// fit (a restart at the window would initialise from less data).
		p = cl.clone()
	} else if p != nil {
		var err error
		if p, err = c.inner.Fit(s, spec); err != nil {
			return Calibration{}, fmt.Errorf("calibrate: %w", err)
		}
	}
	if p == nil {
		var err error
		if p, err = c.inner.Fit(s.Slice(0, start), spec); err != nil {
			return Calibration{}, fmt.Errorf("calibrate: %w", err)
		}
	}
	maxOrigins := c.opts.MaxOrigins
	if maxOrigins <= 0 {
		maxOrigins = 300
	}
	stride := max(1, (w+maxOrigins-1)/maxOrigins)
	scaled := c.scaleWindow(s.Step) > 0
	ls := NewLocalScale(c.scaleWindow(s.Step))
	for _, v := range s.Values[:start] {
		ls.Push(v)
	}
	type origin struct {
		o     int
		scale float64
		point []float64
	}
	var origins []origin
	var scales []float64
	pushed := start
	for o := start; o < n; o += stride {
		for ; pushed < o; pushed++ {
			ls.Push(s.Values[pushed])
		}
		f, err := p.Predict(s.Slice(0, o))
		if err != nil {
			return Calibration{}, fmt.Errorf("calibrate: %w", err)
		}
		sc := ls.Value()
		origins = append(origins, origin{o: o, scale: sc, point: f.Point})
		if sc > 0 {
			scales = append(scales, sc)
		}
	}
	cal := Calibration{Scaled: scaled}
	if scaled && len(scales) > 0 {
		slices.Sort(scales)
		cal.RefScale = scales[len(scales)/2]
	}
	errs := make([][]float64, spec.Horizon)
	for _, or := range origins {
		sc := cal.EffectiveScale(or.scale)
		for k := range min(spec.Horizon, len(or.point)) {
			t := or.o + k // index of the sample forecast k+1 steps ahead
			if t >= n {
				break
			}
			y := s.Values[t]
			if math.IsNaN(y) || math.IsNaN(or.point[k]) {
				continue
			}
			errs[k] = append(errs[k], (y-or.point[k])/sc)
		}
	}
	out, err := CalibrateResiduals(errs, spec.Level)
	if err != nil {
		return Calibration{}, fmt.Errorf("%s: %w", c.Name(), err)
	}
	out.Scaled, out.RefScale = cal.Scaled, cal.RefScale
	return out, nil
}

// conformalPredictor applies a Calibration to an inner predictor.
type conformalPredictor struct {
	name   string
	inner  Predictor
	cal    Calibration
	nonNeg bool
	window int
	scale  LocalScale
	cur    cursor
}

func (p *conformalPredictor) Predict(s Series) (Forecast, error) {
	f, err := p.inner.Predict(s)
	if err != nil {
		return Forecast{}, err
	}
	if i := p.cur.next(s); i >= 0 {
		for _, v := range s.Values[i:] {
			p.scale.Push(v)
		}
	} else {
		p.scale = NewLocalScale(p.window)
		for _, v := range s.Values {
			p.scale.Push(v)
		}
	}
	p.cur.mark(s)
	f.Model = p.name
	if p.nonNeg {
		for k, v := range f.Point {
			f.Point[k] = max(v, 0)
		}
	}
	p.cal.Apply(&f, p.scale.Value())
	if p.nonNeg {
		for k, v := range f.Lower {
			f.Lower[k] = max(v, 0)
		}
	}
	return f, nil
}

// Calibration returns the calibration the predictor applies.
func (p *conformalPredictor) Calibration() Calibration { return p.cal }

// clone returns an independent copy when the inner predictor supports it.
func (p *conformalPredictor) clone() Predictor {
	c := *p
	c.cal.Lower = slices.Clone(p.cal.Lower)
	c.cal.Upper = slices.Clone(p.cal.Upper)
	c.cal.Count = slices.Clone(p.cal.Count)
	if cl, ok := p.inner.(interface{ clone() Predictor }); ok {
		c.inner = cl.clone()
	}
	return &c
}

// inSampleByDefault selects CalibrateInSample unless a mode was chosen: the
// baselines have at most four parameters.
func inSampleByDefault(o CalibrationOptions) CalibrationOptions {
	if o.Mode == CalibrateDefault {
		o.Mode = CalibrateInSample
	}
	return o
}
