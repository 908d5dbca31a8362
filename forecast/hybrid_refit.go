package forecast

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
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
		lm, err := NewLSTM(lo).FitLSTM(s, sp)
		if err != nil {
			return nil, fmt.Errorf("hybrid: refit lstm: %w", err)
		}
		refit[i] = lm
	}
	lp, err := NewLSTMEnsemble(refit...)
	if err != nil {
		return nil, fmt.Errorf("hybrid: refit: %w", err)
	}
	sc := p.scaler
	if p.gbm == nil {
		// No trees whose inputs depend on the scaler: fit it afresh.
		sc = FitScaler(s.Values[:max(lp.TrainEnd(), 1)], !ho.NoLog1p)
	}
	hs, err := prepareRefit(s, lp, K, sc, ho.CalibrationFraction)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(spec.Seed), 0x4b1e))
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
	cal, gate, err := hs.calibrate(b, p.spec, spec, ho)
	if err != nil {
		return nil, err
	}
	q := &HybridPredictor{lstm: lp, gbm: b, scaler: sc, spec: p.spec, names: p.names, events: spec.Events,
		horizon: K, cal: cal, baseCol: p.baseCol, scaleWindow: stepsPer(24*time.Hour, s.Step), gate: gate,
		nonNeg: !ho.AllowNegative && !slices.ContainsFunc(s.Values, func(v float64) bool { return v < 0 })}
	return q, nil
}

// prepareRefit is Hybrid.prepare with a given scaler: the out-of-sample
// origins of lp in s, its point forecasts from them in sc's space, and the
// first calibration origin.
func prepareRefit(s Series, lp *LSTMEnsemble, K int, sc FeatureScaler, calFraction float64) (*hybridSeries, error) {
	n := s.Len()
	lo := max(lp.TrainEnd()-K+1, lp.MinHistory(), 1)
	if n-1-lo < 2*MinCalibrationErrors {
		return nil, fmt.Errorf("hybrid: refit: %d out-of-sample origins, need %d: %w", max(n-1-lo, 0), 2*MinCalibrationErrors, ErrNotEnoughData)
	}
	hs := &hybridSeries{s: s, lp: lp, sc: sc, z: sc.ApplySeries(s)}
	for or := lo; or <= n-1; or++ {
		hs.origins = append(hs.origins, or)
	}
	pts, err := lp.PointsAt(s, hs.origins)
	if err != nil {
		return nil, fmt.Errorf("hybrid: refit: %w", err)
	}
	for _, row := range pts {
		for k, v := range row {
			row[k] = sc.Apply(v)
		}
	}
	hs.pts = pts
	nc := max(int(math.Round(calFraction*float64(len(hs.origins)))), MinCalibrationErrors+K)
	nc = min(nc, len(hs.origins)-MinCalibrationErrors)
	hs.calFrom = hs.origins[len(hs.origins)-nc]
	return hs, nil
}

// calibrate gates and calibrates b on the calibration origins of hs as
// Hybrid.fit does for one series: unless o.NoGate, the correction of b is
// multiplied (in place) by the factor in {1, ¾, ½, ¼, 0} that minimises the
// mean absolute error of the combined forecast in local-scale units; the
// conformal errors are those of the gated combined forecast, in the raw
// space, in units of the local scale at their origin.
func (hs *hybridSeries) calibrate(b *Booster, fs FeatureSpec, spec Spec, o HybridOptions) (Calibration, float64, error) {
	K := spec.Horizon
	scaleWindow := stepsPer(24*time.Hour, hs.s.Step)
	nonNeg := !o.AllowNegative && !slices.ContainsFunc(hs.s.Values, func(v float64) bool { return v < 0 })
	Xc, yc, steps, origins := hs.rows(fs, spec.Events, K, true, 1, nil)
	scales := make([]float64, Xc.Rows)
	var pos []float64
	for j, or := range origins {
		scales[j] = localScale(hs.s.Values, or-1, scaleWindow)
		if scales[j] > 0 {
			pos = append(pos, scales[j])
		}
	}
	ref := 0.0
	if len(pos) > 0 {
		slices.Sort(pos)
		ref = sortedQuantile(pos, 0.5)
	}
	scaling := Calibration{Scaled: true, RefScale: ref}
	zl := make([]float64, Xc.Rows)   // LSTM point, scaled space
	corr := make([]float64, Xc.Rows) // correction of b, scaled space
	for j := range zl {
		zl[j] = hs.z.Values[origins[j]+steps[j]-1] - yc[j]
		corr[j] = b.Predict(Xc.Row(j))
		scales[j] = scaling.EffectiveScale(scales[j])
	}
	combined := func(j int, a float64) float64 {
		pt := hs.sc.Invert(zl[j] + a*corr[j])
		if nonNeg {
			pt = math.Max(pt, 0)
		}
		return pt
	}
	gate := 1.0
	if !o.NoGate {
		best := math.Inf(1)
		for _, a := range []float64{1, 0.75, 0.5, 0.25, 0} {
			var sum float64
			for j := range zl {
				sum += math.Abs(hs.s.Values[origins[j]+steps[j]-1]-combined(j, a)) / scales[j]
			}
			if sum < best {
				best, gate = sum, a
			}
		}
		b.Base *= gate
		for j := range b.LeafValue {
			b.LeafValue[j] *= gate
		}
		b.pack()
	}
	errs := make([][]float64, K)
	for j := range zl {
		t := origins[j] + steps[j] - 1
		errs[steps[j]-1] = append(errs[steps[j]-1], (hs.s.Values[t]-combined(j, gate))/scales[j])
	}
	cal, err := CalibrateResiduals(errs, spec.Level)
	if err != nil {
		return Calibration{}, 0, fmt.Errorf("hybrid: refit: %w", err)
	}
	cal.Scaled, cal.RefScale = true, ref
	return cal, gate, nil
}
