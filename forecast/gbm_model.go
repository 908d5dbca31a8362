package forecast

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// GBMForecastOptions configures the "gbm" forecaster. Zero values take the
// documented defaults.
type GBMForecastOptions struct {
	// GBM configures the trees. Defaults here: 150 rounds, learning rate
	// 0.08, 31 leaves, 20 rows per leaf, row subsampling 0.8.
	GBM GBMOptions
	// Features overrides DefaultFeatureSpec(step, spec.Events).
	Features *FeatureSpec
	// NoLog1p disables the log1p transform of non-negative series.
	NoLog1p bool
	// MaxTrainRows caps the (origin, horizon) rows used to train (default
	// 20000); rows are drawn uniformly, deterministically from Spec.Seed.
	MaxTrainRows int
	// GlobalMaxTrainRows caps the pooled rows of FitGlobal (default
	// 100000).
	GlobalMaxTrainRows int
	// CalibrationOrigins is the number of trailing forecast origins held
	// out for conformal calibration (default max(2·MinCalibrationErrors,
	// 15 % of the series)).
	CalibrationOrigins int
	// NoRefit keeps the model fitted without the calibration window
	// (half the training cost) instead of refitting on the whole history.
	NoRefit bool
	// AllowNegative keeps negative points and bounds; by default they are
	// clamped at 0 when the history is non-negative.
	AllowNegative bool
	// NoLocalScale calibrates raw scaled-space errors. By default errors
	// are divided by the local scale at their origin (mean absolute
	// one-step change over the last day, see Calibration.Scaled), so the
	// bounds widen when the series turns more volatile.
	NoLocalScale bool
}

func (o GBMForecastOptions) withDefaults() GBMForecastOptions {
	g := &o.GBM
	if g.Rounds <= 0 {
		g.Rounds = 150
	}
	if g.LearningRate <= 0 {
		g.LearningRate = 0.08
	}
	if g.Subsample <= 0 {
		g.Subsample = 0.8
	}
	if o.MaxTrainRows <= 0 {
		o.MaxTrainRows = 20000
	}
	if o.GlobalMaxTrainRows <= 0 {
		o.GlobalMaxTrainRows = 100000
	}
	return o
}

// GBM is a direct multi-horizon forecaster: one gradient-boosted tree model
// for all horizon steps (the step is a feature), trained on (origin,
// horizon) rows of calendar, lag, rolling and event features (see
// FeatureSpec) to predict the scaled value at origin+horizon relative to
// the base level at the origin. Intervals are split-conformal per horizon
// step on a held-out trailing window (CalibrateResiduals).
type GBM struct {
	opts GBMForecastOptions
}

// NewGBM returns the "gbm" model.
func NewGBM(opts GBMForecastOptions) *GBM { return &GBM{opts: opts.withDefaults()} }

// Name implements Model.
func (*GBM) Name() string { return "gbm" }

// MinHistory returns the least history Fit accepts: two days of steps plus
// room for calibration.
func (m *GBM) MinHistory(step time.Duration) int {
	return 2*stepsPer(24*time.Hour, step) + 2*MinCalibrationErrors
}

// GBMPredictor is a fitted "gbm" model. It implements Predictor.
type GBMPredictor struct {
	booster *Booster
	scaler  FeatureScaler
	spec    FeatureSpec
	names   []string
	events  []Event
	horizon int
	cal     Calibration
	nonNeg  bool
	baseCol int
	// scaleWindow is the local-scale window (0 = unscaled calibration).
	scaleWindow int
}

// localScale returns the mean absolute one-step change of v over the w
// steps ending at index o (NaN when none is observed).
func localScale(v []float64, o, w int) float64 {
	sum, n := 0.0, 0
	for i := max(1, o-w+1); i <= o && i < len(v); i++ {
		if d := math.Abs(v[i] - v[i-1]); !math.IsNaN(d) {
			sum += d
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// calibrationScales returns the local scales at origins [lo, lo+n) and
// their median (NaN scales are replaced by the median).
func calibrationScales(v []float64, lo, n, w int) ([]float64, float64) {
	sc := make([]float64, n)
	var ok []float64
	for i := range sc {
		sc[i] = localScale(v, lo+i, w)
		if sc[i] > 0 {
			ok = append(ok, sc[i])
		}
	}
	if len(ok) == 0 {
		return nil, 0
	}
	slices.Sort(ok)
	med := sortedQuantile(ok, 0.5)
	for i, x := range sc {
		if !(x > med/10) {
			sc[i] = max(med/10, 0)
			if !(x > 0) {
				sc[i] = med
			}
		}
	}
	return sc, med
}

// gbmRows builds training rows for origins [lo, hi] and horizons 1..K whose
// targets lie at or before last; rows with a missing target or base are
// dropped, and the rest are kept with probability keep.
func gbmRows(z Series, events []Event, fs FeatureSpec, lo, hi, K, last int, keep float64, rng *rand.Rand) (*Matrix, []float64, []int) {
	baseCol := fs.baseCol()
	var X *Matrix
	var y []float64
	var hs []int
	fb := newFeatureBuilder(z, events, fs)
	for h := 1; h <= K; h++ {
		top := min(hi, last-h)
		if top < lo {
			break
		}
		Xh := fb.build(lo, top-lo+1, h)
		if X == nil {
			X = &Matrix{Cols: Xh.Cols}
		}
		for i := 0; i < Xh.Rows; i++ {
			if keep < 1 && rng.Float64() >= keep {
				continue
			}
			row := Xh.Row(i)
			t := z.Values[lo+i+h]
			if math.IsNaN(t) || math.IsNaN(row[baseCol]) {
				continue
			}
			X.Data = append(X.Data, row...)
			X.Rows++
			y = append(y, t-row[baseCol])
			hs = append(hs, h)
		}
	}
	if X == nil {
		X = &Matrix{Cols: len(fs.Names())}
	}
	return X, y, hs
}

// baseCol is the index of the "base" column.
func (spec FeatureSpec) baseCol() int {
	c := 0
	if spec.Calendar {
		c += 11
	}
	if spec.Horizon {
		c++
	}
	return c
}

// Fit implements Model.
func (m *GBM) Fit(s Series, spec Spec) (Predictor, error) {
	return m.FitGBM(s, spec)
}

// FitGBM is Fit with the concrete predictor type.
func (m *GBM) FitGBM(s Series, spec Spec) (*GBMPredictor, error) {
	ps, err := m.fit([]Series{s}, spec, m.opts.MaxTrainRows)
	if err != nil {
		return nil, err
	}
	return ps[0], nil
}

// FitGlobal fits one booster on the pooled rows of all series (each in
// its own scaled space; at most GlobalMaxTrainRows rows) with one
// calibration pooled over the series, and returns one predictor per
// series. Series too short to give training rows still get a predictor.
func (m *GBM) FitGlobal(series []Series, spec Spec) ([]Predictor, error) {
	return Predictors(m.fit(series, spec, m.opts.GlobalMaxTrainRows))
}

// gbmSeries is the per-series state of a fit.
type gbmSeries struct {
	z                  Series
	sc                 FeatureScaler
	first, calLo, nCal int // nCal = 0: no rows from this series
	scales             []float64
	nonNeg             bool
}

func (m *GBM) fit(series []Series, spec Spec, maxRows int) ([]*GBMPredictor, error) {
	o := m.opts
	K := spec.Horizon
	if K < 1 || !(spec.Level > 0 && spec.Level < 1) {
		return nil, fmt.Errorf("gbm: horizon %d level %v: %w", K, spec.Level, errBadSpec)
	}
	if len(series) == 0 {
		return nil, fmt.Errorf("gbm: no series: %w", ErrNotEnoughData)
	}
	step := series[0].Step
	fs := DefaultFeatureSpec(step, spec.Events)
	if o.Features != nil {
		fs = *o.Features
	}
	day := stepsPer(24*time.Hour, step)
	scaleWindow := 0
	if !o.NoLocalScale {
		scaleWindow = day
	}
	states := make([]*gbmSeries, len(series))
	total := 0.0
	var allScales []float64
	for i, s := range series {
		n := s.Len()
		st := &gbmSeries{nonNeg: !o.AllowNegative}
		states[i] = st
		for _, v := range s.Values {
			if v < 0 {
				st.nonNeg = false
				break
			}
		}
		C := o.CalibrationOrigins
		if C <= 0 {
			C = max(2*MinCalibrationErrors, n*15/100)
		}
		st.first = min(fs.MaxLookback()-1, max(day-1, fs.BaseWindow))
		// Calibration origins: the last C origins whose whole horizon is
		// observed; training targets stop before the first calibration
		// target.
		st.calLo = n - 1 - K - C + 1
		if n < m.MinHistory(s.Step) || st.calLo-st.first < MinCalibrationErrors {
			if len(series) == 1 {
				return nil, fmt.Errorf("gbm: %d samples, need %d plus %d calibration origins: %w",
					n, m.MinHistory(s.Step), C, ErrNotEnoughData)
			}
			st.sc = FitScaler(s.Values, !o.NoLog1p) // predictor only
			continue
		}
		st.nCal = C
		st.sc = FitScaler(s.Values[:st.calLo+1], !o.NoLog1p)
		st.z = st.sc.ApplySeries(s)
		total += float64(K) * float64(st.calLo-st.first)
		if scaleWindow > 0 {
			st.scales, _ = calibrationScales(st.z.Values, st.calLo, C, scaleWindow)
			for _, x := range st.scales {
				allScales = append(allScales, x)
			}
		}
	}
	if total == 0 {
		return nil, fmt.Errorf("gbm: no series long enough: %w", ErrNotEnoughData)
	}
	refScale := 0.0
	if len(allScales) > 0 {
		slices.Sort(allScales)
		refScale = sortedQuantile(allScales, 0.5)
	}
	if !(refScale > 0) {
		scaleWindow = 0 // flat series: unscaled calibration
	}
	rng := rand.New(rand.NewPCG(uint64(spec.Seed), 0x9b3))
	gopts := o.GBM
	gopts.Seed = uint64(spec.Seed)
	// train fits a booster on rows with targets up to each series' limit.
	train := func(full bool) (*Booster, error) {
		X := &Matrix{Cols: len(fs.Names())}
		var y []float64
		tot := total
		if full {
			tot = 0
			for _, st := range states {
				if st.nCal > 0 {
					tot += float64(K) * float64(st.z.Len()-1-st.first)
				}
			}
		}
		keep := math.Min(1, float64(maxRows)/math.Max(tot, 1))
		for _, st := range states {
			if st.nCal == 0 {
				continue
			}
			hi, last := st.calLo, st.calLo
			if full {
				hi, last = st.z.Len()-2, st.z.Len()-1
			}
			Xi, yi, _ := gbmRows(st.z, spec.Events, fs, st.first, hi, K, last, keep, rng)
			X.AppendRows(Xi)
			y = append(y, yi...)
		}
		return TrainGBM(X, y, gopts)
	}
	b, err := train(false)
	if err != nil {
		return nil, fmt.Errorf("gbm: %w", err)
	}
	// Signed out-of-sample errors per step, in the scaled space, divided
	// by the local scale at their origin, pooled over the series.
	baseCol := fs.baseCol()
	errs := make([][]float64, K)
	for _, st := range states {
		if st.nCal == 0 {
			continue
		}
		fb := newFeatureBuilder(st.z, spec.Events, fs)
		for h := 1; h <= K; h++ {
			Xh := fb.build(st.calLo, st.nCal, h)
			for i := 0; i < Xh.Rows; i++ {
				row := Xh.Row(i)
				e := st.z.Values[st.calLo+i+h] - (row[baseCol] + b.Predict(row))
				if scaleWindow > 0 {
					sc := refScale
					if st.scales != nil {
						sc = st.scales[i]
					}
					e /= sc
				}
				errs[h-1] = append(errs[h-1], e)
			}
		}
	}
	cal, err := CalibrateResiduals(errs, spec.Level)
	if err != nil {
		return nil, fmt.Errorf("gbm: %w", err)
	}
	if scaleWindow > 0 {
		cal.Scaled, cal.RefScale = true, refScale
	}
	if !o.NoRefit {
		// Refit on the whole histories with the same scalers, so that the
		// calibration quantiles keep their units.
		if b, err = train(true); err != nil {
			return nil, fmt.Errorf("gbm: refit: %w", err)
		}
	}
	out := make([]*GBMPredictor, len(series))
	for i, st := range states {
		out[i] = &GBMPredictor{booster: b, scaler: st.sc, spec: fs, names: fs.Names(), events: spec.Events,
			horizon: K, cal: cal, nonNeg: st.nonNeg, baseCol: baseCol, scaleWindow: scaleWindow}
	}
	return out, nil
}

// Booster returns the fitted trees.
func (p *GBMPredictor) Booster() *Booster { return p.booster }

// Calibration returns the conformal calibration (scaled space).
func (p *GBMPredictor) Calibration() Calibration { return p.cal }

// Importance returns the gain importance of each feature by name.
func (p *GBMPredictor) Importance() map[string]float64 {
	return namedImportance(p.names, p.booster.Importance())
}

// namedImportance keys a booster's gain importance by feature name.
func namedImportance(names []string, imp []float64) map[string]float64 {
	out := make(map[string]float64, len(imp))
	for i, v := range imp {
		out[names[i]] = v
	}
	return out
}

// SetEvents replaces the known events used by later Predict calls (event
// kinds unknown at Fit time are ignored).
func (p *GBMPredictor) SetEvents(events []Event) { p.events = events }

// Predict implements Predictor.
func (p *GBMPredictor) Predict(s Series) (Forecast, error) {
	f := Forecast{Model: "gbm", Origin: s.End(), Step: s.Step}
	n := s.Len()
	if n == 0 {
		return f, fmt.Errorf("gbm: empty history: %w", ErrNotEnoughData)
	}
	lb := max(p.spec.MaxLookback(), p.scaleWindow+1)
	w := s.Slice(max(0, n-lb-1), n)
	z := p.scaler.ApplyForPrediction(w, p.spec, p.horizon, p.scaleWindow+1)
	zf := Forecast{Point: make([]float64, p.horizon)}
	fb := newFeatureBuilder(z, p.events, p.spec)
	for h := 1; h <= p.horizon; h++ {
		X := fb.build(z.Len()-1, 1, h)
		row := X.Row(0)
		if math.IsNaN(row[p.baseCol]) {
			return f, fmt.Errorf("gbm: no observed sample in the base window: %w", ErrNotEnoughData)
		}
		zf.Point[h-1] = row[p.baseCol] + p.booster.Predict(row)
	}
	scale := 1.0
	if p.scaleWindow > 0 {
		scale = localScale(z.Values, z.Len()-1, p.scaleWindow)
	}
	p.cal.Apply(&zf, scale)
	f.Point, f.Lower, f.Upper = zf.Point, zf.Lower, zf.Upper
	invertForecast(p.scaler, p.nonNeg, &f)
	return f, nil
}

// invertForecast maps a scaled forecast back to raw units in place,
// clamped at 0 for non-negative series.
func invertForecast(sc FeatureScaler, nonNeg bool, f *Forecast) {
	for k := range f.Point {
		f.Point[k] = sc.Invert(f.Point[k])
		f.Lower[k] = sc.Invert(f.Lower[k])
		f.Upper[k] = sc.Invert(f.Upper[k])
		if nonNeg {
			f.Point[k] = math.Max(f.Point[k], 0)
			f.Lower[k] = math.Max(f.Lower[k], 0)
			f.Upper[k] = math.Max(f.Upper[k], 0)
		}
	}
}

// Refit warm-starts from p: it appends rounds trees (default 20) fitted on
// the rows of s (the same scaler and features; rows drawn as in Fit) to a
// copy of p's booster and returns a new predictor; p is unchanged. The
// calibration is kept: recalibrate with a full Fit from time to time.
func (p *GBMPredictor) Refit(s Series, rounds int, seed int64) (*GBMPredictor, error) {
	if rounds <= 0 {
		rounds = 20
	}
	z := p.scaler.ApplySeries(s)
	n := z.Len()
	day := stepsPer(24*time.Hour, s.Step)
	first := min(p.spec.MaxLookback()-1, max(day-1, p.spec.BaseWindow))
	if n-2 < first {
		return nil, fmt.Errorf("gbm: refit on %d samples: %w", n, ErrNotEnoughData)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7e5))
	const maxRows = 20000
	keep := math.Min(1, float64(maxRows)/math.Max(float64(p.horizon)*float64(n-1-first), 1))
	X, y, _ := gbmRows(z, p.events, p.spec, first, n-2, p.horizon, n-1, keep, rng)
	if X.Rows == 0 {
		return nil, fmt.Errorf("gbm: refit: no rows: %w", ErrNotEnoughData)
	}
	b := p.booster.clone()
	if err := b.Continue(X, y, GBMOptions{Rounds: rounds, Seed: uint64(seed), Subsample: b.opts.Subsample}); err != nil {
		return nil, fmt.Errorf("gbm: refit: %w", err)
	}
	q := *p
	q.booster = b
	return &q, nil
}
