package forecast

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
)

// LSTMEnsemble is a per-point median of LSTM predictors trained on the same
// series with different seeds. It implements Predictor; its point, lower
// and upper bounds are each the median over the members (the mean of the
// two middle values for an even number of members).
type LSTMEnsemble struct {
	members []*LSTMPredictor
	buf     []float64
}

// NewLSTMEnsemble returns the median of members (at least one, all with
// the same horizon).
func NewLSTMEnsemble(members ...*LSTMPredictor) (*LSTMEnsemble, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("lstm ensemble: no member: %w", ErrNotFitted)
	}
	for _, m := range members[1:] {
		if m.Horizon() != members[0].Horizon() {
			return nil, fmt.Errorf("lstm ensemble: horizons %d and %d: %w", members[0].Horizon(), m.Horizon(), errLSTMSpec)
		}
	}
	return &LSTMEnsemble{members: slices.Clone(members)}, nil
}

// Members returns the member predictors.
func (e *LSTMEnsemble) Members() []*LSTMPredictor { return e.members }

// Horizon returns the number of steps forecast.
func (e *LSTMEnsemble) Horizon() int { return e.members[0].Horizon() }

// MinHistory returns the largest MinHistory of the members.
func (e *LSTMEnsemble) MinHistory() int {
	n := 0
	for _, m := range e.members {
		n = max(n, m.MinHistory())
	}
	return n
}

// TrainEnd returns the largest TrainEnd of the members: origins o with
// o+Horizon > TrainEnd are out of sample for all of them.
func (e *LSTMEnsemble) TrainEnd() int {
	n := 0
	for _, m := range e.members {
		n = max(n, m.TrainEnd())
	}
	return n
}

// median writes the median of vals into *dst (vals is reordered).
func median(vals []float64) float64 {
	slices.Sort(vals)
	n := len(vals)
	if n%2 == 1 {
		return vals[n/2]
	}
	return (vals[n/2-1] + vals[n/2]) / 2
}

// Predict implements Predictor.
func (e *LSTMEnsemble) Predict(s Series) (Forecast, error) {
	if len(e.members) == 1 {
		return e.members[0].Predict(s)
	}
	fs := make([]Forecast, len(e.members))
	for i, m := range e.members {
		f, err := m.Predict(s)
		if err != nil {
			return Forecast{}, err
		}
		fs[i] = f
	}
	K := e.Horizon()
	out := Forecast{Model: "lstm", Origin: fs[0].Origin, Step: fs[0].Step,
		Point: make([]float64, K), Lower: make([]float64, K), Upper: make([]float64, K)}
	e.buf = slices.Grow(e.buf[:0], len(fs))[:len(fs)]
	for k := range K {
		for i := range fs {
			e.buf[i] = fs[i].Point[k]
		}
		out.Point[k] = median(e.buf)
		for i := range fs {
			e.buf[i] = fs[i].Lower[k]
		}
		out.Lower[k] = median(e.buf)
		for i := range fs {
			e.buf[i] = fs[i].Upper[k]
		}
		out.Upper[k] = median(e.buf)
	}
	return out, nil
}

// PointsAt is (*LSTMPredictor).PointsAt with the per-point median over the
// members.
func (e *LSTMEnsemble) PointsAt(s Series, origins []int) ([][]float64, error) {
	return e.pointsAt(s, origins, false)
}

// pointsAtFitted is PointsAt with the members' pointsAtFitted.
func (e *LSTMEnsemble) pointsAtFitted(s Series, origins []int) ([][]float64, error) {
	return e.pointsAt(s, origins, true)
}

// dropOOS releases the members' cached forecasts (pointsAtFitted).
func (e *LSTMEnsemble) dropOOS() {
	for _, m := range e.members {
		m.dropOOS()
	}
}

func (e *LSTMEnsemble) pointsAt(s Series, origins []int, fitted bool) ([][]float64, error) {
	at := func(m *LSTMPredictor) ([][]float64, error) {
		if fitted {
			return m.pointsAtFitted(s, origins)
		}
		return m.PointsAt(s, origins)
	}
	if len(e.members) == 1 {
		return at(e.members[0])
	}
	all := make([][][]float64, len(e.members))
	for i, m := range e.members {
		pts, err := at(m)
		if err != nil {
			return nil, err
		}
		all[i] = pts
	}
	vals := make([]float64, len(all))
	out := all[0]
	for r := range out {
		for k := range out[r] {
			for i := range all {
				vals[i] = all[i][r][k]
			}
			out[r][k] = median(vals)
		}
	}
	return out, nil
}

// FitLSTMSeeds trains one global LSTM (FitGlobal) per seed Spec.Seed,
// Spec.Seed+1, …, Spec.Seed+seeds−1, up to GOMAXPROCS at a time, and
// returns per series the ensemble of its predictors.
func FitLSTMSeeds(series []Series, spec Spec, opts LSTMOptions, seeds int) ([]*LSTMEnsemble, error) {
	return fitLSTMSeeds(series, spec, opts, seeds, false)
}

// fitLSTMSeeds is FitLSTMSeeds; with keepOOS the predictors keep the
// forecasts of their calibration pass for pointsAtFitted.
func fitLSTMSeeds(series []Series, spec Spec, opts LSTMOptions, seeds int, keepOOS bool) ([]*LSTMEnsemble, error) {
	seeds = max(seeds, 1)
	fits := make([][]*LSTMPredictor, seeds)
	errs := make([]error, seeds)
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	for i := range seeds {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			sp := spec
			sp.Seed = spec.Seed + int64(i)
			fits[i], errs[i] = NewLSTM(opts).fit(series, sp, keepOOS)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("lstm seed %d: %w", spec.Seed+int64(i), err)
		}
	}
	return EnsembleOf(fits...), nil
}

// EnsembleOf turns per-seed FitGlobal results (fits[seed][series]) into
// one ensemble per series.
func EnsembleOf(fits ...[]*LSTMPredictor) []*LSTMEnsemble {
	if len(fits) == 0 {
		return nil
	}
	out := make([]*LSTMEnsemble, len(fits[0]))
	for j := range out {
		ms := make([]*LSTMPredictor, len(fits))
		for i := range fits {
			ms[i] = fits[i][j]
		}
		out[j] = &LSTMEnsemble{members: ms}
	}
	return out
}
