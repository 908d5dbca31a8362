package forecast

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
)

// Defaults of AdaptiveOptions.
const (
	DefaultAdaptiveWindow = 336
	DefaultAdaptiveGamma  = 0.005
)

// AdaptiveOptions configures an AdaptiveCalibrator. Zero values take the
// defaults.
type AdaptiveOptions struct {
	// Level is the nominal coverage in (0, 1); default 0.9.
	Level float64
	// Window is the number of most recent scores kept per horizon step;
	// default DefaultAdaptiveWindow (one week of 30-minute steps).
	Window int
	// Gamma is the step size of adaptive conformal inference (ACI). Zero
	// means DefaultAdaptiveGamma; a negative value disables ACI, leaving a
	// plain conformal quantile over the rolling window.
	Gamma float64
	// MinScores is the number of scores a step needs before its bounds are
	// recalibrated; until then the predictor's own bounds pass unchanged.
	// Default MinCalibrationErrors.
	MinScores int
}

func (o AdaptiveOptions) withDefaults() AdaptiveOptions {
	if !(o.Level > 0 && o.Level < 1) {
		o.Level = 0.9
	}
	if o.Window <= 0 {
		o.Window = DefaultAdaptiveWindow
	}
	if o.Gamma == 0 {
		o.Gamma = DefaultAdaptiveGamma
	}
	if o.Gamma < 0 {
		o.Gamma = 0
	}
	if o.MinScores <= 0 {
		o.MinScores = MinCalibrationErrors
	}
	o.MinScores = min(o.MinScores, o.Window)
	return o
}

// AdaptiveCalibrator re-widens or narrows the bounds of any Predictor
// online, per horizon step, from the realised out-of-sample errors of the
// forecasts it served.
//
// Score. For a forecast k steps ahead with point p and the predictor's own
// bounds [l, u], the realised actual y gives the signed score
// (y − p)/(u − p) when y ≥ p and (y − p)/(p − l) otherwise: the error in
// units of the predictor's half-width on that side. The predictor's bounds
// therefore carry the shape (time of day, level, horizon) and the
// calibrator corrects their size and skew. A half-width below a tenth of
// the running mean half-width (or NaN) is replaced by that floor.
//
// Quantiles. Of the last Window scores of step k, the calibrated bounds
// are p + q_lo·(p − l) and p + q_hi·(u − p), where q_lo and q_hi are the
// finite-sample conformal quantiles at α_k/2 and 1 − α_k/2 (ranks
// ⌊(n+1)α_k/2⌋ and ⌈(n+1)(1−α_k/2)⌉, clamped to the smallest and largest
// score), widened to include 0.
//
// Adaptive conformal inference (Gibbs & Candès, 2021). After each score,
// α_k ← α_k + γ·(α − err), with err = 1 when the score fell outside the
// step's current quantiles and 0 otherwise, α = 1 − Level. Sustained
// misses (a level shift) lower α_k and widen the bounds beyond what the
// window alone gives; sustained over-coverage narrows them. α_k is
// clamped to [−α, min(5α, 0.9)] so that recovery after a long excursion
// takes a bounded number of steps.
//
// Non-negative bounds stay non-negative: when the predictor's lower bound
// is ≥ 0 the calibrated one is clamped at 0.
//
// Memory is O(Window) per step; Observe costs O(Window) (a sorted copy
// of the window is kept up to date) and Apply O(horizon). The calibrator
// is deterministic and not safe for concurrent use; persist it with
// MarshalBinary.
type AdaptiveCalibrator struct {
	opts  AdaptiveOptions
	steps []adaptiveStep
}

type adaptiveStep struct {
	ring  []float64 // scores, oldest at head when full
	head  int
	alpha float64 // current ACI miscoverage
	ref   float64 // running mean half-width (0: unknown)
	seen  uint64  // scores observed in total
	miss  uint64  // of which outside the quantiles at the time

	lo, hi float64   // cached quantiles (−1, 1 until ready)
	sorted []float64 // the ring's scores, ascending
}

// NewAdaptiveCalibrator returns a calibrator for forecasts of horizon
// steps (steps beyond the horizon use the last step's quantiles).
func NewAdaptiveCalibrator(horizon int, opts AdaptiveOptions) *AdaptiveCalibrator {
	opts = opts.withDefaults()
	a := &AdaptiveCalibrator{opts: opts, steps: make([]adaptiveStep, max(horizon, 1))}
	for i := range a.steps {
		a.steps[i].alpha = 1 - opts.Level
		a.steps[i].lo, a.steps[i].hi = -1, 1
	}
	return a
}

// Options returns the options with defaults applied.
func (a *AdaptiveCalibrator) Options() AdaptiveOptions { return a.opts }

// Horizon returns the number of steps the calibrator keeps scores for.
func (a *AdaptiveCalibrator) Horizon() int { return len(a.steps) }

func (a *AdaptiveCalibrator) step(k int) *adaptiveStep {
	if k < 1 {
		k = 1
	}
	return &a.steps[min(k, len(a.steps))-1]
}

// floorHW returns the half-width used for normalising: hw, or a tenth of
// the running mean when hw is smaller or not a number; NaN when nothing is
// known.
func (st *adaptiveStep) floorHW(hw float64) float64 {
	floor := st.ref / 10
	if !(hw > floor) {
		hw = floor
	}
	if !(hw > 0) {
		return math.NaN()
	}
	return hw
}

// Observe feeds the realised actual y of a forecast made k steps ahead
// whose raw (uncalibrated) point and bounds were point, lower, upper. NaN
// actuals or points are ignored. Steps beyond the horizon are ignored.
func (a *AdaptiveCalibrator) Observe(k int, y, point, lower, upper float64) {
	if k < 1 || k > len(a.steps) || math.IsNaN(y) || math.IsNaN(point) || math.IsInf(y, 0) || math.IsInf(point, 0) {
		return
	}
	st := &a.steps[k-1]
	up, dn := upper-point, point-lower
	if hw := (up + dn) / 2; hw > 0 && !math.IsInf(hw, 0) {
		if st.ref == 0 {
			st.ref = hw
		} else {
			st.ref += 2 / float64(a.opts.Window+1) * (hw - st.ref)
		}
	}
	var score float64
	if y >= point {
		score = (y - point) / st.floorHW(up)
	} else {
		score = (y - point) / st.floorHW(dn)
	}
	if math.IsNaN(score) {
		return
	}
	miss := score < st.lo || score > st.hi
	st.seen++
	if miss {
		st.miss++
	}
	alpha := 1 - a.opts.Level
	errT := 0.0
	if miss {
		errT = 1
	}
	st.alpha += a.opts.Gamma * (alpha - errT)
	st.alpha = min(max(st.alpha, -alpha), min(5*alpha, 0.9))
	if len(st.ring) < a.opts.Window {
		st.ring = append(st.ring, score)
	} else {
		old := st.ring[st.head]
		if i, ok := slices.BinarySearch(st.sorted, old); ok {
			st.sorted = slices.Delete(st.sorted, i, i+1)
		}
		st.ring[st.head] = score
		st.head = (st.head + 1) % len(st.ring)
	}
	i, _ := slices.BinarySearch(st.sorted, score)
	st.sorted = slices.Insert(st.sorted, i, score)
	st.update(a.opts.MinScores)
}

// update recomputes the cached quantiles of a step from sorted (the ring's
// scores in ascending order, maintained by Observe).
func (st *adaptiveStep) update(minScores int) {
	n := len(st.sorted)
	if n < minScores {
		st.lo, st.hi = -1, 1
		return
	}
	half := st.alpha / 2
	rHi := int(math.Ceil(float64(n+1)*(1-half) - 1e-9))
	rLo := int(math.Floor(float64(n+1)*half + 1e-9))
	rHi = min(max(rHi, 1), n)
	rLo = min(max(rLo, 1), n)
	st.lo, st.hi = min(st.sorted[rLo-1], 0), max(st.sorted[rHi-1], 0)
}

// Apply replaces f.Lower and f.Upper (the predictor's raw bounds) by the
// calibrated ones, step k with the quantiles of step k (the last step
// beyond the calibrator's horizon). Steps without enough scores keep their
// bounds.
func (a *AdaptiveCalibrator) Apply(f *Forecast) {
	h := min(len(f.Point), len(f.Lower), len(f.Upper))
	for k := 1; k <= h; k++ {
		f.Lower[k-1], f.Upper[k-1] = a.Interval(min(k, len(a.steps)), f.Point[k-1], f.Lower[k-1], f.Upper[k-1])
	}
}

// Interval returns the calibrated bounds of one forecast with the
// quantiles of step k: the raw bounds unchanged when step k has fewer
// than MinScores scores or k is out of range. Callers that score only
// some horizons (the engine scores its published ones) map each forecast
// step to the calibrator step of the nearest scored horizon.
func (a *AdaptiveCalibrator) Interval(k int, point, lower, upper float64) (lo, hi float64) {
	if k < 1 || k > len(a.steps) || math.IsNaN(point) {
		return lower, upper
	}
	st := &a.steps[k-1]
	if len(st.ring) < a.opts.MinScores {
		return lower, upper
	}
	nl := point + st.lo*st.floorHW(point-lower)
	nu := point + st.hi*st.floorHW(upper-point)
	if math.IsNaN(nl) || math.IsNaN(nu) {
		return lower, upper
	}
	if lower >= 0 {
		nl = max(nl, 0)
	}
	return nl, nu
}

// AdaptiveStepState is the observable state of one horizon step.
type AdaptiveStepState struct {
	// Alpha is the current ACI miscoverage target (nominal 1 − Level).
	Alpha float64
	// Lower and Upper are the current score quantiles (multipliers of the
	// predictor's half-widths; −1 and 1 leave the bounds unchanged).
	Lower, Upper float64
	// Scores is the number of scores in the window.
	Scores int
	// Seen and Missed count all scores observed and those that fell
	// outside the quantiles current at the time.
	Seen, Missed uint64
}

// State returns the state of step k (1-based).
func (a *AdaptiveCalibrator) State(k int) AdaptiveStepState {
	st := a.step(k)
	return AdaptiveStepState{Alpha: st.alpha, Lower: st.lo, Upper: st.hi, Scores: len(st.ring), Seen: st.seen, Missed: st.miss}
}

// Clone returns an independent copy.
func (a *AdaptiveCalibrator) Clone() *AdaptiveCalibrator {
	c := &AdaptiveCalibrator{opts: a.opts, steps: make([]adaptiveStep, len(a.steps))}
	for i, st := range a.steps {
		st.ring = slices.Clone(st.ring)
		st.sorted = slices.Clone(st.sorted)
		c.steps[i] = st
	}
	return c
}

const adaptiveMagic = "SCAC"

// MarshalBinary encodes the calibrator: "SCAC", version 1, the options,
// per step its ACI state and scores (oldest first), and a CRC-32 (IEEE) of
// everything before it.
func (a *AdaptiveCalibrator) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(adaptiveMagic)
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	w(uint8(1))
	w(a.opts.Level)
	w(uint32(a.opts.Window))
	w(a.opts.Gamma)
	w(uint32(a.opts.MinScores))
	w(uint32(len(a.steps)))
	for _, st := range a.steps {
		w(st.alpha)
		w(st.ref)
		w(st.seen)
		w(st.miss)
		w(uint32(len(st.ring)))
		for i := range st.ring {
			w(st.ring[(st.head+i)%len(st.ring)])
		}
	}
	w(crc32.ChecksumIEEE(b.Bytes()))
	return b.Bytes(), nil
}

// UnmarshalBinary decodes what MarshalBinary wrote; malformed input
// returns an error wrapping ErrCorruptModel.
func (a *AdaptiveCalibrator) UnmarshalBinary(data []byte) error {
	corrupt := func(what string) error { return fmt.Errorf("adaptive calibrator: %s: %w", what, ErrCorruptModel) }
	if len(data) < len(adaptiveMagic)+5 || string(data[:len(adaptiveMagic)]) != adaptiveMagic {
		return corrupt("bad magic")
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return corrupt("checksum mismatch")
	}
	r := bytes.NewReader(body[len(adaptiveMagic):])
	var err error
	rd := func(v any) {
		if err == nil {
			err = binary.Read(r, binary.LittleEndian, v)
		}
	}
	var (
		version                   uint8
		window, minScores, nsteps uint32
		opts                      AdaptiveOptions
	)
	rd(&version)
	if err == nil && version != 1 {
		return corrupt(fmt.Sprintf("version %d", version))
	}
	rd(&opts.Level)
	rd(&window)
	rd(&opts.Gamma)
	rd(&minScores)
	rd(&nsteps)
	if err != nil {
		return corrupt("truncated header")
	}
	if !(opts.Level > 0 && opts.Level < 1) || window == 0 || window > 1<<20 || nsteps == 0 || nsteps > 1<<16 ||
		minScores == 0 || minScores > window || !(opts.Gamma >= 0 && opts.Gamma < 1) {
		return corrupt("bad options")
	}
	opts.Window, opts.MinScores = int(window), int(minScores)
	steps := make([]adaptiveStep, nsteps)
	for i := range steps {
		st := &steps[i]
		var n uint32
		rd(&st.alpha)
		rd(&st.ref)
		rd(&st.seen)
		rd(&st.miss)
		rd(&n)
		if err != nil || n > window || int64(n)*8 > int64(r.Len()) {
			return corrupt("truncated step")
		}
		st.ring = make([]float64, n)
		rd(st.ring)
		if err != nil {
			return corrupt("truncated scores")
		}
		if math.IsNaN(st.alpha) || math.IsNaN(st.ref) || st.ref < 0 {
			return corrupt("bad step state")
		}
		st.sorted = slices.Clone(st.ring)
		slices.Sort(st.sorted)
		st.update(opts.MinScores)
	}
	if r.Len() != 0 {
		return corrupt("trailing bytes")
	}
	a.opts, a.steps = opts, steps
	return nil
}
