package forecast

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// ErrNewEventKinds is returned by HybridPredictor.Refit when the events
// have kinds the fitted features do not know: a full fit adds them.
var ErrNewEventKinds = errors.New("event kinds unknown to the fitted model")

// HybridRefitOptions bounds a warm start of a fitted hybrid (see
// HybridPredictor.Refit). Zero values take the documented defaults.
type HybridRefitOptions struct {
	// Hybrid are the options of the model the predictor was fitted with:
	// ResidualFraction, CalibrationFraction, MaxTrainRows, NoLog1p,
	// AllowNegative and the GBM settings (for boosters read back from a
	// file, which do not keep them) apply. The architecture of the LSTM
	// comes from the predictor.
	Hybrid HybridOptions
	// LSTMSteps is the number of optimisation steps taken from the
	// previous weights (default 60; a fit takes 300).
	LSTMSteps int
	// GBMRounds is the number of residual trees appended (default 20; a
	// fit grows 100).
	GBMRounds int
}

func (o HybridRefitOptions) withDefaults() HybridRefitOptions {
	o.Hybrid = o.Hybrid.withDefaults()
	if o.LSTMSteps <= 0 {
		o.LSTMSteps = 60
	}
	if o.GBMRounds <= 0 {
		o.GBMRounds = 20
	}
	return o
}

// Refit warm-starts a new hybrid from p on the history s (usually the
// sliding window p was fitted on, moved forward) and returns it; p is
// unchanged and may keep serving meanwhile.
//
// The split of s is the one Fit makes: the LSTM continues training from
// p's weights for LSTMSteps steps on the windows before the trailing
// ResidualFraction of s (early stopping on that tail can only keep weights
// at least as good there as the previous ones); its out-of-sample
// forecasts from the tail give the residual rows; GBMRounds trees fitted on
// the rows whose targets precede the calibration origins are appended to a
// copy of p's booster (which keeps p's feature scaler, so the old trees
// keep their meaning); and the intervals are recalibrated from scratch on
// the errors of the combined forecast at the calibration origins, the
// trailing CalibrationFraction of the tail. As long as s ends later than
// the history p was fitted on, every cut point lies later in time than the
// one of p's own fit, so the calibration origins are out-of-sample for the
// old and the new weights alike and the coverage is estimated as honestly
// as by Fit.
//
// It keeps what the fit chose (also on a decoded copy, which is what the
// engine warm-starts): a NoGate fit stays ungated; otherwise the gate is
// chosen again per series with the fit's GateMargin (a PooledGate factor
// stays in the old trees); a Combine fit's Holt-Winters member is refitted
// on s and its weight chosen again on the calibration origins, as Fit does
// (opts.Hybrid.Combine adds one to a fit without). The residual origins,
// gate, weight and calibration go through the same code as Fit
// (prepareSeries, finishHybrid).
//
// The feature set is p's. With the default features (Hybrid.Features nil),
// events of a kind p does not know make Refit fail with ErrNewEventKinds,
// so that a full fit adds the kind. spec.Horizon must equal p's.
func (p *HybridPredictor) Refit(s Series, spec Spec, opts HybridRefitOptions) (*HybridPredictor, error) {
	o := opts.withDefaults()
	ho := o.Hybrid
	K := spec.Horizon
	if K != p.horizon || !(spec.Level > 0 && spec.Level < 1) {
		return nil, fmt.Errorf("hybrid: refit with horizon %d level %v of a model with horizon %d: %w", K, spec.Level, p.horizon, errBadSpec)
	}
	if p.lstm == nil {
		return nil, fmt.Errorf("hybrid: refit: %w", ErrNotFitted)
	}
	if ho.Features == nil {
		for _, k := range EventKinds(spec.Events) {
			if !slices.Contains(p.spec.EventKinds, k) {
				return nil, fmt.Errorf("hybrid: refit: kind %q: %w", k, ErrNewEventKinds)
			}
		}
	}
	// Every LSTM of the ensemble continues from its own weights, with its
	// own seed as in Fit.
	n := s.Len()
	members := p.lstm.Members()
	refit := make([]*LSTMPredictor, len(members))
	for i, m := range members {
		lo := m.Options()
		lo.Init = m
		lo.Steps = o.LSTMSteps
		lo.EvalEvery = max(1, min(lo.EvalEvery, o.LSTMSteps/4))
		lo.Holdout = max(int(ho.ResidualFraction*float64(n)), K+2*MinCalibrationErrors)
		sp := spec
		sp.Seed = spec.Seed + int64(i)
		lm, err := NewLSTM(lo).fit([]Series{s}, sp, true)
		if err != nil {
			return nil, fmt.Errorf("hybrid: refit lstm: %w", err)
		}
		refit[i] = lm[0]
	}
	lp, err := NewLSTMEnsemble(refit...)
	if err != nil {
		return nil, fmt.Errorf("hybrid: refit: %w", err)
	}
	defer lp.dropOOS()
	// What the full fit chose: the gate mode and margin, and the
	// Holt-Winters member (refitted on s, its weight chosen again).
	ho.NoGate, ho.GateMargin, ho.PooledGate = p.noGate, p.gateMargin, false
	ho.Combine = ho.Combine || p.combine || p.hw != nil
	var sc *FeatureScaler // nil: fitted afresh (no trees depend on it)
	if p.gbm != nil {
		sc = &p.scaler // the old trees keep their meaning
	}
	hs, err := prepareSeries(s, lp, K, sc, ho)
	if err != nil {
		return nil, fmt.Errorf("hybrid: refit: %w", err)
	}
	rng := rand.New(rand.NewPCG(uint64(spec.Seed), 0x4b1e))
	// The rows drawn as before the refactoring (an upper bound of
	// trainRows), so that warm starts stay as they were measured.
	rowsTotal := float64(K) * float64(hs.calFrom-hs.origins[0])
	keep := math.Min(1, float64(ho.MaxTrainRows)/math.Max(rowsTotal, 1))
	X, y, _, _ := hs.rows(p.spec, spec.Events, K, false, keep, rng)
	if X.Rows == 0 {
		return nil, fmt.Errorf("hybrid: refit: no residual rows: %w", ErrNotEnoughData)
	}
	gopts := ho.GBM
	gopts.Seed = uint64(spec.Seed)
	var b *Booster
	if p.gbm != nil {
		b = p.gbm.clone()
		gopts.Rounds = o.GBMRounds
		if err := b.Continue(X, y, gopts); err != nil {
			return nil, fmt.Errorf("hybrid: refit gbm: %w", err)
		}
	} else if b, err = TrainGBM(X, y, gopts); err != nil {
		return nil, fmt.Errorf("hybrid: refit gbm: %w", err)
	}
	qs, err := finishHybrid([]Series{s}, spec, p.spec, ho, []*hybridSeries{hs}, []*LSTMEnsemble{lp}, b)
	if err != nil {
		return nil, fmt.Errorf("hybrid: refit: %w", err)
	}
	q := qs[0]
	q.gate = p.gate // factor baked into p's trees (PooledGate); the new ones carry none
	return q, nil
}

var _ WarmFitter = (*Hybrid)(nil)

// FitFrom implements WarmFitter: prev.Refit with the model's options and
// the default budget (HybridRefitOptions).
func (h *Hybrid) FitFrom(prev Predictor, s Series, spec Spec) (Predictor, error) {
	p, ok := prev.(*HybridPredictor)
	if !ok {
		return nil, fmt.Errorf("hybrid: warm start from %T: %w", prev, errBadSpec)
	}
	return p.Refit(s, spec, HybridRefitOptions{Hybrid: h.opts})
}
