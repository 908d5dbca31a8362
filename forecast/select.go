package forecast

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// SelectOptions configures Select.
type SelectOptions struct {
	// Origins is the number of forecast origins; 0 means 4.
	Origins int
	// Stride is the number of steps between origins; 0 means the horizon.
	Stride int
	// Period is the seasonal period of the MASE scale; 0 means one day of
	// steps (1 when the step does not divide a day).
	Period int
	// MinImprovement is the relative MASE improvement a candidate needs
	// over the best earlier candidate to replace it (0.05 = 5% better).
	// Candidates are listed in order of preference, so with a margin a
	// complex model serves only if it clearly beats the baselines before it.
	MinImprovement float64
}

// Select picks the candidate with the lowest MASE in a rolling-origin
// backtest on the most recent part of s. Every candidate is fitted once, on
// the history before the evaluation window of (Origins−1)·Stride + Horizon
// samples, and forecasts from each origin by Predict on the growing history
// (what serving does between refits), so the cost is one fit and Origins
// predictions per candidate. MASE is scaled by MASEScale of the fitting
// history. Scores are returned in the order of cands; a candidate that fails
// has Score.Err set and is not selected. Select fails only when no
// candidate can be scored.
func Select(cands []Model, s Series, spec Spec, opts SelectOptions) (best Model, scores []Score, err error) {
	i, scores, _, err := selectFits(cands, s, spec, opts)
	if err != nil {
		return nil, scores, err
	}
	return cands[i], scores, nil
}

// selectFits is Select returning the index of the best candidate and the
// predictors fitted for the backtest (nil for candidates that failed).
func selectFits(cands []Model, s Series, spec Spec, opts SelectOptions) (best int, scores []Score, fits []Predictor, err error) {
	if len(cands) == 0 {
		return 0, nil, nil, errors.New("select: no candidate")
	}
	if spec.Horizon < 1 {
		return 0, nil, nil, fmt.Errorf("select: horizon %d: %w", spec.Horizon, errBadSpec)
	}
	origins := opts.Origins
	if origins <= 0 {
		origins = 4
	}
	stride := opts.Stride
	if stride <= 0 {
		stride = spec.Horizon
	}
	period := opts.Period
	if period <= 0 {
		period = max(StepsPerDay(s.Step), 1)
	}
	n := s.Len()
	evalLen := (origins-1)*stride + spec.Horizon
	start := n - evalLen
	if start < 2 {
		return 0, nil, nil, fmt.Errorf("select: %d samples for an evaluation window of %d: %w", n, evalLen, ErrNotEnoughData)
	}
	scale := MASEScale(s.Values[:start], period)
	if !(scale > 0) {
		scale = MASEScale(s.Values[:start], 1)
	}
	if !(scale > 0) {
		scale = 1
	}
	scores = make([]Score, len(cands))
	fits = make([]Predictor, len(cands))
	bestMASE := math.Inf(1)
	best = -1
	for i, m := range cands {
		scores[i], fits[i] = evaluateRolling(m, s, spec, start, origins, stride, scale)
		sc := scores[i]
		if sc.Err != nil || math.IsNaN(sc.MASE) {
			continue
		}
		if best < 0 || sc.MASE < bestMASE*(1-opts.MinImprovement) {
			best, bestMASE = i, sc.MASE
		}
	}
	if best < 0 {
		errs := make([]error, 0, len(scores))
		for _, sc := range scores {
			errs = append(errs, sc.Err)
		}
		return 0, scores, nil, fmt.Errorf("select: no candidate could be scored: %w", errors.Join(errs...))
	}
	return best, scores, fits, nil
}

// evaluateRolling fits m on s before start and scores its forecasts from
// the origins; it returns the score and the fitted predictor (nil when the
// fit failed).
func evaluateRolling(m Model, s Series, spec Spec, start, origins, stride int, scale float64) (Score, Predictor) {
	sc := Score{Model: m.Name()}
	p, err := m.Fit(s.Slice(0, start), spec)
	if err != nil {
		sc.Err = fmt.Errorf("fit %s: %w", m.Name(), err)
		return sc, nil
	}
	var actual, point, lower, upper []float64
	for i := range origins {
		o := start + i*stride
		f, err := p.Predict(s.Slice(0, o))
		if err != nil {
			sc.Err = fmt.Errorf("predict %s: %w", m.Name(), err)
			return sc, p
		}
		for k := 0; k < spec.Horizon && o+k < s.Len(); k++ {
			actual = append(actual, s.Values[o+k])
			point = append(point, f.Point[k])
			if len(f.Lower) > k && len(f.Upper) > k {
				lower = append(lower, f.Lower[k])
				upper = append(upper, f.Upper[k])
			} else {
				lower = append(lower, math.NaN())
				upper = append(upper, math.NaN())
			}
		}
	}
	sc.SMAPE = SMAPE(actual, point)
	sc.MASE = MASE(actual, point, scale)
	sc.Coverage = Coverage(actual, lower, upper)
	sc.Width = ScaledWidth(lower, upper, scale)
	for _, y := range actual {
		if !math.IsNaN(y) {
			sc.N++
		}
	}
	return sc, p
}

// WarmFitter is implemented by models that can carry a predictor they
// fitted on a history forward onto a longer one (a warm start) at a
// fraction of the cost of a fit.
type WarmFitter interface {
	// FitFrom returns a predictor for s trained from the state of prev,
	// a predictor of the same model fitted on a prefix of s; prev is
	// left unchanged.
	FitFrom(prev Predictor, s Series, spec Spec) (Predictor, error)
}

// NameAuto is the name of the model returned by NewAuto.
const NameAuto = "auto"

// NewAuto returns a model whose Fit selects among cands with Select (on the
// history it is given) and fits the winner on the whole history; the
// forecasts carry the winner's name. A winner that is a WarmFitter is not
// fitted a second time: the predictor the selection fitted on the history
// before the evaluation window is warm-started onto the whole history
// (FitFrom), which is how serving carries a model forward between full fits
// anyway; if that fails, the winner is fitted from scratch. The selection
// stays honest either way: every candidate is scored only on the
// evaluation window, which its fit did not see. Candidates that need more
// history than the series has are skipped; when none is left, Fit fails
// with ErrNotEnoughData (serve NewLastValue then).
func NewAuto(cands []Model, opts SelectOptions) Model { return &auto{cands: cands, opts: opts} }

type auto struct {
	cands []Model
	opts  SelectOptions
}

func (a *auto) Name() string { return NameAuto }

// MinHistory is the smallest need among the candidates.
func (a *auto) MinHistory(step time.Duration) int {
	need := math.MaxInt
	for _, c := range a.cands {
		need = min(need, MinHistory(c, step))
	}
	return need
}

func (a *auto) Fit(s Series, spec Spec) (Predictor, error) {
	n := countObserved(s.Values)
	var fits []Model
	for _, c := range a.cands {
		if MinHistory(c, s.Step) <= n {
			fits = append(fits, c)
		}
	}
	switch len(fits) {
	case 0:
		return nil, fmt.Errorf("auto: %d samples: %w", n, ErrNotEnoughData)
	case 1:
		return fits[0].Fit(s, spec)
	}
	best, _, fitted, err := selectFits(fits, s, spec, a.opts)
	if err != nil {
		// Too short for the selection window: serve the first candidate.
		if errors.Is(err, ErrNotEnoughData) {
			return fits[0].Fit(s, spec)
		}
		return nil, err
	}
	if wf, ok := fits[best].(WarmFitter); ok && fitted[best] != nil {
		if p, err := wf.FitFrom(fitted[best], s, spec); err == nil {
			return p, nil
		}
	}
	return fits[best].Fit(s, spec)
}
