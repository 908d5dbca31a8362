package feedback

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// Defaults of TrackerOptions.
const (
	DefaultWindow     = 288
	DefaultMaxPending = 4096
	DefaultMaxKeys    = 10000
	DefaultSeason     = 24 * time.Hour
	DefaultDeviationK = 5
)

// TrackerOptions configures a Tracker. Zero values take the defaults.
type TrackerOptions struct {
	// Step is the sampling interval of the actuals. Required.
	Step time.Duration
	// Tolerance is how far an actual's timestamp may be from a prediction's
	// target time and still score it. Default Step/2.
	Tolerance time.Duration
	// Window is the number of most recent scored points per instance and
	// horizon that Scores aggregates. Default 288.
	Window int
	// MaxAge, when positive, also drops scored points whose target time is
	// older than MaxAge before the newest actual of the instance.
	MaxAge time.Duration
	// MaxPending caps the predictions waiting for their actual per instance
	// and horizon; the oldest are dropped first. Default 4096.
	MaxPending int
	// MaxKeys caps the number of instances; the least recently updated
	// instance is forgotten when a new one arrives. Default 10000.
	MaxKeys int
	// Season is the period of the seasonal naive forecast whose in-sample
	// mean absolute error scales MASE and the drift detector. Default 24h.
	// The tracker keeps one season of actuals per instance to compute it.
	Season time.Duration
	// ScaleMemory is the number of seasonal differences the running scale
	// averages over before it starts to forget (exponentially, with weight
	// 1/ScaleMemory). Default 7 seasons' worth of samples.
	ScaleMemory int
	// DeviationK is the number of consecutive scored points outside the
	// bounds after which Deviating reports true. Default 5.
	DeviationK int
	// Drift configures the Page–Hinkley detector.
	Drift PageHinkleyOptions
	// DriftSpacing is the minimum spacing between the target times of the
	// scaled errors fed to the drift detector. Zero means the horizon:
	// forecasts that do not overlap, whose errors are far less
	// autocorrelated than consecutive multi-step errors (Page–Hinkley
	// assumes independent samples; with AR(1) errors of φ = 0.8 the
	// default detector false-alarms in most 5,000-sample runs). Negative
	// feeds every scored point.
	DriftSpacing time.Duration
}

func (o *TrackerOptions) setDefaults() error {
	if o.Step <= 0 {
		return errors.New("feedback: step must be positive")
	}
	if o.Tolerance <= 0 {
		o.Tolerance = o.Step / 2
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.Season <= 0 {
		o.Season = DefaultSeason
	}
	if o.Season < o.Step || o.Season%o.Step != 0 {
		return fmt.Errorf("feedback: season %v is not a multiple of step %v", o.Season, o.Step)
	}
	if o.ScaleMemory <= 0 {
		o.ScaleMemory = 7 * int(o.Season/o.Step)
	}
	if o.DeviationK <= 0 {
		o.DeviationK = DefaultDeviationK
	}
	o.Drift.setDefaults()
	return nil
}

// Scores aggregates the scored predictions of one instance and horizon
// over the window.
type Scores struct {
	// N is the number of scored points in the window.
	N int
	// MAE is the mean absolute error.
	MAE float64
	// MASE is MAE divided by the in-sample mean absolute error of the
	// one-season naive forecast (NaN until the scale is known).
	MASE float64
	// SMAPE is the mean of 2|y−ŷ|/(|y|+|ŷ|), a ratio in [0, 2] (multiply by
	// 100 for the percentage the M4 competition reports); a term whose
	// actual and forecast are both zero counts as 0.
	SMAPE float64
	// Coverage is the share of actuals inside [lower, upper].
	Coverage float64
	// Bias is the mean of actual − point (positive: under-forecasting).
	Bias float64
	// Expired counts predictions dropped because no actual arrived near
	// their target time (since the instance was created).
	Expired uint64
}

// Tracker keeps predictions until their actuals arrive and scores them.
// It is safe for concurrent use.
type Tracker struct {
	opts TrackerOptions

	mu   sync.Mutex // guards keys
	keys map[string]*instance
}

type prediction struct {
	Target              int64 // unix nanoseconds
	Point, Lower, Upper float64
}

type scored struct {
	Target int64
	AbsErr float64
	Err    float64 // actual − point
	SMAPE  float64
	Inside bool
}

type horizonState struct {
	Pending []prediction // sorted by Target
	Scored  []scored     // ring of at most Window points
	Head    int          // index of the oldest point when the ring is full
	Outside int          // consecutive scored points outside the bounds
	Expired uint64
	PH      PageHinkley
	PHLast  int64 // target time of the last error fed to PH (0: none)
}

type instance struct {
	Updated  int64 // unix nanoseconds of the last Observe or Record
	LastObs  int64 // unix nanoseconds of the newest actual (0: none)
	Horizons map[time.Duration]*horizonState

	// Seasonal naive scale.
	FixedScale float64   // set by the caller; > 0 overrides the computed one
	Ring       []float64 // one season of actuals, slot = step index mod len
	RingIdx    []int64   // step index of each slot (-1: empty)
	ScaleSum   float64   // running mean of |y_t − y_{t−season}|
	ScaleN     int
}

// NewTracker returns an empty tracker.
func NewTracker(opts TrackerOptions) (*Tracker, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	return &Tracker{opts: opts, keys: map[string]*instance{}}, nil
}

// Options returns the options with defaults applied.
func (t *Tracker) Options() TrackerOptions { return t.opts }

func (t *Tracker) instance(key string, now int64) *instance {
	in := t.keys[key]
	if in == nil {
		if len(t.keys) >= t.opts.MaxKeys {
			t.evictOldest()
		}
		in = &instance{Horizons: map[time.Duration]*horizonState{}}
		t.keys[key] = in
	}
	if now > in.Updated {
		in.Updated = now
	}
	return in
}

func (t *Tracker) evictOldest() {
	var oldest string
	first := true
	var ts int64
	for k, in := range t.keys {
		if first || in.Updated < ts || (in.Updated == ts && k < oldest) {
			oldest, ts, first = k, in.Updated, false
		}
	}
	delete(t.keys, oldest)
}

func (in *instance) horizon(h time.Duration) *horizonState {
	hs := in.Horizons[h]
	if hs == nil {
		hs = &horizonState{}
		in.Horizons[h] = hs
	}
	return hs
}

// Record keeps a prediction made at origin for origin+horizon. NaN points
// are ignored; NaN bounds count as "no bounds" (the actual is then never
// inside them).
func (t *Tracker) Record(key string, horizon time.Duration, origin time.Time, point, lower, upper float64) {
	if math.IsNaN(point) || math.IsInf(point, 0) || horizon <= 0 {
		return
	}
	target := origin.Add(horizon).UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	in := t.instance(key, origin.UnixNano())
	hs := in.horizon(horizon)
	p := prediction{Target: target, Point: point, Lower: lower, Upper: upper}
	n := len(hs.Pending)
	switch {
	case n == 0 || hs.Pending[n-1].Target < target:
		hs.Pending = append(hs.Pending, p)
	default:
		i := sort.Search(n, func(i int) bool { return hs.Pending[i].Target >= target })
		if i < n && hs.Pending[i].Target == target {
			hs.Pending[i] = p // a newer prediction for the same target replaces the old one
		} else {
			hs.Pending = append(hs.Pending, prediction{})
			copy(hs.Pending[i+1:], hs.Pending[i:])
			hs.Pending[i] = p
		}
	}
	if over := len(hs.Pending) - t.opts.MaxPending; over > 0 {
		hs.Expired += uint64(over)
		hs.Pending = append(hs.Pending[:0], hs.Pending[over:]...)
	}
}

// SetScale fixes the MASE scale of an instance (e.g. computed by the caller
// over a longer history). A non-positive scale reverts to the computed one.
func (t *Tracker) SetScale(key string, scale float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := t.keys[key]
	if in == nil {
		in = t.instance(key, 0)
	}
	if scale > 0 && !math.IsInf(scale, 0) {
		in.FixedScale = scale
	} else {
		in.FixedScale = 0
	}
}

// Scale returns the MASE scale of an instance: the fixed one if set, else
// the running mean absolute one-season difference of the actuals fed to
// Observe, or NaN when no full season has been observed yet.
func (t *Tracker) Scale(key string) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := t.keys[key]
	if in == nil {
		return math.NaN()
	}
	return in.scale()
}

func (in *instance) scale() float64 {
	if in.FixedScale > 0 {
		return in.FixedScale
	}
	if in.ScaleN == 0 || in.ScaleSum <= 0 {
		return math.NaN()
	}
	return in.ScaleSum
}

// Observe feeds the actual value of an instance at time ts. It scores every
// pending prediction whose target is within the tolerance of ts and drops
// those whose target passed without an actual. NaN actuals are ignored.
func (t *Tracker) Observe(key string, ts time.Time, actual float64) {
	if math.IsNaN(actual) || math.IsInf(actual, 0) {
		return
	}
	now := ts.UnixNano()
	tol := int64(t.opts.Tolerance)
	t.mu.Lock()
	defer t.mu.Unlock()
	in := t.instance(key, now)
	if now > in.LastObs {
		in.LastObs = now
	}
	t.updateScale(in, ts, actual)
	scale := in.scale()
	for h, hs := range in.Horizons {
		i := 0
		for i < len(hs.Pending) && hs.Pending[i].Target <= now+tol {
			p := hs.Pending[i]
			if p.Target <= now-tol {
				hs.Expired++ // target passed without an actual
			} else {
				t.score(hs, h, p, actual, scale)
			}
			i++
		}
		if i > 0 {
			hs.Pending = append(hs.Pending[:0], hs.Pending[i:]...)
		}
	}
}

func (t *Tracker) updateScale(in *instance, ts time.Time, actual float64) {
	n := int(t.opts.Season / t.opts.Step)
	if in.Ring == nil {
		in.Ring = make([]float64, n)
		in.RingIdx = make([]int64, n)
		for i := range in.RingIdx {
			in.RingIdx[i] = -1
		}
	}
	idx := ts.UnixNano() / int64(t.opts.Step)
	slot := int(idx % int64(n))
	if slot < 0 {
		slot += n
	}
	if in.RingIdx[slot] == idx-int64(n) {
		d := math.Abs(actual - in.Ring[slot])
		mem := t.opts.ScaleMemory
		if in.ScaleN < mem {
			in.ScaleN++
			in.ScaleSum += (d - in.ScaleSum) / float64(in.ScaleN)
		} else {
			in.ScaleSum += (d - in.ScaleSum) / float64(mem)
		}
	}
	if idx >= in.RingIdx[slot] {
		in.Ring[slot] = actual
		in.RingIdx[slot] = idx
	}
}

func (t *Tracker) score(hs *horizonState, h time.Duration, p prediction, actual, scale float64) {
	e := actual - p.Point
	s := scored{Target: p.Target, AbsErr: math.Abs(e), Err: e}
	if den := math.Abs(actual) + math.Abs(p.Point); den > 0 {
		s.SMAPE = 2 * math.Abs(e) / den
	}
	s.Inside = actual >= p.Lower && actual <= p.Upper // false for NaN bounds
	if len(hs.Scored) < t.opts.Window {
		hs.Scored = append(hs.Scored, s)
	} else {
		hs.Scored[hs.Head] = s
		hs.Head = (hs.Head + 1) % len(hs.Scored)
	}
	if s.Inside {
		hs.Outside = 0
	} else {
		hs.Outside++
	}
	spacing := t.opts.DriftSpacing
	if spacing == 0 {
		spacing = h
	}
	if !math.IsNaN(scale) && (hs.PHLast == 0 || p.Target-hs.PHLast >= int64(spacing)) {
		hs.PH.Add(s.AbsErr/scale, t.opts.Drift)
		hs.PHLast = p.Target
	}
}

// Scores aggregates the window of scored points of an instance at a
// horizon. N is 0 (and the ratios NaN) when nothing has been scored.
func (t *Tracker) Scores(key string, horizon time.Duration) Scores {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := Scores{MAE: math.NaN(), MASE: math.NaN(), SMAPE: math.NaN(), Coverage: math.NaN(), Bias: math.NaN()}
	in := t.keys[key]
	if in == nil {
		return out
	}
	hs := in.Horizons[horizon]
	if hs == nil {
		return out
	}
	out.Expired = hs.Expired
	var minT int64 = math.MinInt64
	if t.opts.MaxAge > 0 {
		minT = in.LastObs - int64(t.opts.MaxAge)
	}
	var sumAbs, sumErr, sumS float64
	inside := 0
	for _, s := range hs.Scored {
		if s.Target < minT {
			continue
		}
		out.N++
		sumAbs += s.AbsErr
		sumErr += s.Err
		sumS += s.SMAPE
		if s.Inside {
			inside++
		}
	}
	if out.N == 0 {
		return out
	}
	n := float64(out.N)
	out.MAE = sumAbs / n
	out.Bias = sumErr / n
	out.SMAPE = sumS / n
	out.Coverage = float64(inside) / n
	if sc := in.scale(); !math.IsNaN(sc) {
		out.MASE = out.MAE / sc
	}
	return out
}

// Keys returns the instance keys, sorted.
func (t *Tracker) Keys() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.keys))
	for k := range t.keys {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Horizons returns the horizons recorded for an instance, ascending.
func (t *Tracker) Horizons(key string) []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := t.keys[key]
	if in == nil {
		return nil
	}
	out := make([]time.Duration, 0, len(in.Horizons))
	for h := range in.Horizons {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Forget drops all state of an instance (e.g. when its series vanished).
func (t *Tracker) Forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.keys, key)
}

// Deviating reports whether the last DeviationK (or more) scored actuals of
// the instance at that horizon all fell outside the bounds: the forecast no
// longer describes the series and the caller should fall back to a
// baseline model and fire the deviation alert.
func (t *Tracker) Deviating(key string, horizon time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := t.keys[key]
	if in == nil {
		return false
	}
	hs := in.Horizons[horizon]
	return hs != nil && hs.Outside >= t.opts.DeviationK
}

// ConsecutiveOutside returns the current run of scored actuals outside the
// bounds of an instance at a horizon.
func (t *Tracker) ConsecutiveOutside(key string, horizon time.Duration) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := t.keys[key]
	if in == nil {
		return 0
	}
	if hs := in.Horizons[horizon]; hs != nil {
		return hs.Outside
	}
	return 0
}

// Drift reports whether the Page–Hinkley detector of any horizon of the
// instance has alarmed since the last ResetDrift, and why (empty when not).
// The alarm latches until ResetDrift.
func (t *Tracker) Drift(key string) (bool, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := t.keys[key]
	if in == nil {
		return false, ""
	}
	hs := make([]time.Duration, 0, len(in.Horizons))
	for h := range in.Horizons {
		hs = append(hs, h)
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i] < hs[j] })
	for _, h := range hs {
		ph := &in.Horizons[h].PH
		if ph.Alarm {
			return true, fmt.Sprintf("page-hinkley %s at horizon %v: statistic %.2f > threshold %.2f after %d scaled errors (mean %.3f)",
				ph.Direction, h, ph.Statistic, t.opts.Drift.Lambda, ph.N, ph.Mean)
		}
	}
	return false, ""
}

// ResetDrift restarts the drift detectors of an instance, e.g. after the
// model was retrained. Scores and the deviation run are kept.
func (t *Tracker) ResetDrift(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := t.keys[key]
	if in == nil {
		return
	}
	for _, hs := range in.Horizons {
		hs.PH.Reset()
		hs.PHLast = 0
	}
}
