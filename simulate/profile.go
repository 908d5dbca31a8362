package simulate

import (
	"fmt"
	"math"
	"time"

	"github.com/shadowcast/shadowcast/forecast"
)

// NameLevelProfile is the name of the model NewLevelProfile returns.
const NameLevelProfile = "level_profile"

// LevelProfileOptions configures NewLevelProfile.
type LevelProfileOptions struct {
	// Period of the profile (e.g. 1h for timer-triggered work). Required.
	Period time.Duration
	// Alpha smooths the level and Gamma the profile; zero values are
	// chosen at each fit from {0.02, 0.05, 0.1, 0.2} × {0.1, 0.3, 0.5} by
	// the lowest mean absolute one-step error over the second half of the
	// history.
	Alpha, Gamma float64
	// Calibration configures the conformal bounds.
	Calibration forecast.CalibrationOptions
}

// NewLevelProfile returns additive exponential smoothing with a level and
// a periodic profile and fixed smoothing constants (Holt-Winters without
// trend and without parameter search), for seasons the forecast package's
// baselines do not model: a period shorter than a day, on a trace too
// short for a daily season (the one-day Azure Functions sample, whose
// timer-triggered functions fire at the top of every hour). The point
// forecast for step k is ℓ + s[(t+k) mod m]; bounds come from
// forecast.Conformal.
func NewLevelProfile(opts LevelProfileOptions) forecast.Model {
	return forecast.Conformal(levelProfile{opts: opts}, opts.Calibration)
}

type levelProfile struct{ opts LevelProfileOptions }

func (levelProfile) Name() string { return NameLevelProfile }

// MinHistory is two periods.
func (m levelProfile) MinHistory(step time.Duration) int { return 2 * m.period(step) }

func (m levelProfile) period(step time.Duration) int { return max(int(m.opts.Period/step), 1) }

func (m levelProfile) Fit(s forecast.Series, spec forecast.Spec) (forecast.Predictor, error) {
	p := m.period(s.Step)
	if spec.Horizon < 1 {
		return nil, fmt.Errorf("%s: horizon %d", NameLevelProfile, spec.Horizon)
	}
	if s.Len() < 2*p {
		return nil, fmt.Errorf("%s: %d samples, need %d: %w", NameLevelProfile, s.Len(), 2*p, forecast.ErrNotEnoughData)
	}
	alphas, gammas := []float64{0.02, 0.05, 0.1, 0.2}, []float64{0.1, 0.3, 0.5}
	if a := m.opts.Alpha; a > 0 && a < 1 {
		alphas = []float64{a}
	}
	if g := m.opts.Gamma; g > 0 && g < 1 {
		gammas = []float64{g}
	}
	var best *levelProfilePredictor
	bestErr := math.Inf(1)
	for _, a := range alphas {
		for _, g := range gammas {
			lp := &levelProfilePredictor{p: p, horizon: spec.Horizon, alpha: a, gamma: g, from: s.Len() / 2}
			lp.reset(s)
			if e := lp.absErr / math.Max(float64(lp.nErr), 1); best == nil || e < bestErr {
				best, bestErr = lp, e
			}
		}
	}
	best.from = 0
	return best, nil
}

type levelProfilePredictor struct {
	p            int
	horizon      int
	alpha, gamma float64

	// One-step errors are summed for samples at index ≥ from during reset.
	from   int
	absErr float64
	nErr   int

	level   float64
	profile []float64
	phase   int // phase of the next sample
	started bool
	end     time.Time // time of the last consumed sample
	last    float64
	valid   bool
}

func (lp *levelProfilePredictor) reset(s forecast.Series) {
	lp.profile = make([]float64, lp.p)
	lp.level, lp.started, lp.valid = 0, false, false
	// Initialise from the first period: level = its mean, profile = deviations.
	n := min(lp.p, s.Len())
	sum, cnt := 0.0, 0
	for _, v := range s.Values[:n] {
		if !math.IsNaN(v) {
			sum += v
			cnt++
		}
	}
	// Phases are aligned to time, so a trimmed history keeps its phase.
	base := 0
	if s.Step > 0 {
		base = int((s.Start.UnixNano() / int64(s.Step)) % int64(lp.p))
		if base < 0 {
			base += lp.p
		}
	}
	if cnt > 0 {
		lp.level = sum / float64(cnt)
		lp.started = true
		for i, v := range s.Values[:n] {
			if !math.IsNaN(v) {
				lp.profile[(base+i)%lp.p] = v - lp.level
			}
		}
	}
	lp.phase = (base + n) % lp.p
	lp.absErr, lp.nErr = 0, 0
	lp.consume(s, n)
}

func (lp *levelProfilePredictor) consume(s forecast.Series, from int) {
	a, g := lp.alpha, lp.gamma
	for j, v := range s.Values[from:] {
		if !math.IsNaN(v) {
			if !lp.started {
				lp.level, lp.started = v, true
			}
			sp := lp.profile[lp.phase]
			if lp.from > 0 && from+j >= lp.from {
				lp.absErr += math.Abs(v - lp.level - sp)
				lp.nErr++
			}
			lp.level += a * (v - sp - lp.level)
			lp.profile[lp.phase] = sp + g*(v-lp.level-sp)
		}
		lp.phase = (lp.phase + 1) % lp.p
	}
	if s.Len() > 0 {
		lp.end, lp.last, lp.valid = s.End(), s.Values[s.Len()-1], true
	}
}

func (lp *levelProfilePredictor) Predict(s forecast.Series) (forecast.Forecast, error) {
	if s.Len() == 0 {
		return forecast.Forecast{}, forecast.ErrNotEnoughData
	}
	next := -1
	if lp.valid && s.Step > 0 {
		if d := lp.end.Sub(s.Start); d >= 0 && d%s.Step == 0 {
			if i := int(d / s.Step); i < s.Len() {
				v := s.Values[i]
				if v == lp.last || (math.IsNaN(v) && math.IsNaN(lp.last)) {
					next = i + 1
				}
			}
		}
	}
	if next >= 0 {
		lp.consume(s, next)
	} else {
		lp.reset(s)
	}
	f := forecast.Forecast{Model: NameLevelProfile, Origin: s.End(), Step: s.Step, Point: make([]float64, lp.horizon)}
	for k := range lp.horizon {
		f.Point[k] = lp.level + lp.profile[(lp.phase+k)%lp.p]
	}
	return f, nil
}
