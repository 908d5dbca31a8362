package forecast

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// HybridOptions configures the "hybrid" model. Zero values take the
// documented defaults.
type HybridOptions struct {
	// LSTM configures the temporal model. Its Holdout is overridden by
	// ResidualFraction. The zero value means LSTMOptions{Residual: true}
	// (the network learns the correction to seasonal naive), which won on
	// the M4 Hourly validation split (OWA 0.602 against 0.745).
	LSTM LSTMOptions
	// GBM configures the residual trees. Defaults here: 100 rounds,
	// learning rate 0.05, 15 leaves, 20 rows per leaf, subsample 0.8.
	GBM GBMOptions
	// Features overrides DefaultFeatureSpec(step, spec.Events) for the
	// residual model; the LSTM forecast (relative to the base level) is
	// always added as a last column named "lstm".
	Features *FeatureSpec
	// ResidualFraction is the trailing fraction of the history held out
	// of LSTM training; the LSTM's forecasts from origins in it are
	// out-of-sample and their residuals train the GBM (default 0.35).
	ResidualFraction float64
	// CalibrationFraction is the trailing fraction of those origins kept
	// out of GBM training for conformal calibration of the combined model
	// (default 0.35).
	CalibrationFraction float64
	// MaxTrainRows caps the (origin, horizon) residual rows (default
	// 30000), drawn deterministically from Spec.Seed.
	MaxTrainRows int
	// NoLog1p disables the log1p transform of non-negative series.
	NoLog1p bool
	// AllowNegative keeps negative points and bounds; by default they are
	// clamped at 0 when the history is non-negative.
	AllowNegative bool
	// Seeds is the number of LSTMs trained with seeds Spec.Seed,
	// Spec.Seed+1, …; their per-point median is the temporal forecast
	// (default 1).
	Seeds int
	// OutOfSampleTargets trains the GBM only on rows whose target no LSTM
	// training window covered (at or after TrainEnd). Otherwise the rows
	// start at the first origin whose forecast reaches TrainEnd, so their
	// early targets may have been LSTM training targets (in-sample
	// residuals, smaller and differently shaped than out-of-sample ones).
	OutOfSampleTargets bool
	// CalibrationOrigins, when positive, is the number of trailing
	// origins of each series kept for calibration (and the gate) instead
	// of CalibrationFraction; at least Horizon+1. With many series a few
	// origins each give enough errors per horizon step.
	CalibrationOrigins int
	// NoGate keeps the full GBM correction. By default the correction is
	// multiplied, per series, by the factor in {0, ¼, ½, ¾, 1} that
	// minimises the mean absolute error, in local-scale units, of the
	// combined forecast on the series' calibration origins (held out of
	// GBM training), so trees that do not help a series out of sample are
	// shrunk towards its LSTM forecast.
	NoGate bool
	// GateMargin is the relative reduction of the calibration error a
	// factor above 0 must bring over the LSTM alone (factor 0) to be
	// chosen (default 0: the smallest error wins). A margin guards
	// against factors that win on the calibration origins by chance.
	GateMargin float64
	// Combine averages the hybrid's forecast with damped Holt-Winters
	// (NewHoltWinters(HoltWintersOptions{}), fitted per series): the
	// weight of Holt-Winters, in {0, 0.1, …, 0.5} and pooled over the
	// series, minimises the mean absolute scaled error on the calibration
	// origins, where Holt-Winters is fitted on the history before the
	// first of them and run forward without refitting. The conformal
	// errors are those of the combination.
	Combine bool
	// PooledGate chooses one factor for all series of a global fit (on
	// their pooled calibration errors) instead of one per series.
	PooledGate bool
}

func (o HybridOptions) withDefaults() HybridOptions {
	if o.LSTM == (LSTMOptions{}) {
		o.LSTM.Residual = true
	}
	g := &o.GBM
	if g.Rounds <= 0 {
		g.Rounds = 100
	}
	if g.LearningRate <= 0 {
		g.LearningRate = 0.05
	}
	if g.MaxLeaves <= 1 {
		g.MaxLeaves = 15
	}
	if g.Subsample <= 0 {
		g.Subsample = 0.8
	}
	if !(o.ResidualFraction > 0 && o.ResidualFraction < 0.9) {
		o.ResidualFraction = 0.35
	}
	if !(o.CalibrationFraction > 0 && o.CalibrationFraction < 0.9) {
		o.CalibrationFraction = 0.35
	}
	if o.MaxTrainRows <= 0 {
		o.MaxTrainRows = 30000
	}
	o.Seeds = max(o.Seeds, 1)
	return o
}

// Hybrid is the LSTM + GBM model. The LSTM learns the temporal dynamics; a
// gradient-boosted tree model, fitted on the LSTM's out-of-sample residuals
// (scaled space, one model with the horizon step as a feature) with
// calendar, lag and event features, learns what calendar and known events
// add to or take from the LSTM forecast — including events that start
// after the forecast origin. Intervals are split-conformal per horizon step
// on held-out errors of the combined forecast in the raw space, in units
// of the local scale (mean absolute one-step change over the last day).
type Hybrid struct {
	opts HybridOptions
}

// NewHybrid returns the "hybrid" model.
func NewHybrid(opts HybridOptions) *Hybrid { return &Hybrid{opts: opts.withDefaults()} }

// Name implements Model.
func (*Hybrid) Name() string { return "hybrid" }

// MinHistory returns a rough lower bound on the history Fit accepts.
func (h *Hybrid) MinHistory(step time.Duration) int {
	return 4 * max(seasonFor(h.opts.LSTM.Season, step), 24)
}

// HybridPredictor is a fitted hybrid. It implements Predictor.
type HybridPredictor struct {
	lstm    *LSTMEnsemble // the LSTMs of all seeds
	gbm     *Booster
	scaler  FeatureScaler
	spec    FeatureSpec
	names   []string
	events  []Event
	horizon int
	cal     Calibration
	nonNeg  bool
	baseCol int
	gate    float64      // factor baked into the trees of gbm (1: none)
	shrink  float64      // 1 − the per-series factor applied to the correction in Predict
	hw      *hwPredictor // combined with weight hwW (Combine); nil: none
	hwW     float64
	// What the fit chose, kept by Refit: no gate (NoGate), the gate's
	// margin, and whether Holt-Winters was offered (Combine; hw may be nil
	// when its weight came out 0).
	noGate     bool
	gateMargin float64
	combine    bool
	// scaleWindow is the raw local-scale window; 0 for models saved
	// before raw-space calibration (quantiles in the scaled space).
	scaleWindow int
}

// hybridSeries is the per-series state while fitting.
type hybridSeries struct {
	s       Series
	z       Series
	sc      FeatureScaler
	lp      *LSTMEnsemble
	origins []int       // out-of-sample origins (history lengths)
	pts     [][]float64 // LSTM points from each origin, scaled space
	calFrom int         // origins ≥ calFrom are calibration origins
	minTgt  int         // training targets have an index ≥ minTgt
}

// prepareSeries lays out the residual origins of s for the temporal model
// lp: the out-of-sample origins (from the first whose forecast reaches
// lp.TrainEnd()), lp's point forecasts from them in the scaled space, the
// first calibration origin (o.CalibrationOrigins or o.CalibrationFraction)
// and the first training target (o.OutOfSampleTargets). The scaler is sc
// when not nil (a warm start keeps the one its trees were grown on), else
// fitted on the samples before TrainEnd (o.NoLog1p). A fit and a warm
// start (HybridPredictor.Refit) share it.
func prepareSeries(s Series, lp *LSTMEnsemble, K int, sc *FeatureScaler, o HybridOptions) (*hybridSeries, error) {
	n := s.Len()
	te := lp.TrainEnd()
	lo := max(te-K+1, lp.MinHistory(), 1)
	if n-1-lo < 2*MinCalibrationErrors {
		return nil, fmt.Errorf("hybrid: %d out-of-sample origins, need %d: %w", max(n-1-lo, 0), 2*MinCalibrationErrors, ErrNotEnoughData)
	}
	hs := &hybridSeries{s: s, lp: lp}
	if sc != nil {
		hs.sc = *sc
	} else {
		hs.sc = FitScaler(s.Values[:max(te, 1)], !o.NoLog1p)
	}
	hs.z = hs.sc.ApplySeries(s)
	for or := lo; or <= n-1; or++ {
		hs.origins = append(hs.origins, or)
	}
	pts, err := lp.pointsAtFitted(s, hs.origins)
	if err != nil {
		return nil, fmt.Errorf("hybrid: %w", err)
	}
	for _, row := range pts {
		for k, v := range row {
			row[k] = hs.sc.Apply(v)
		}
	}
	hs.pts = pts
	// Calibration origins: the trailing fraction, at least
	// MinCalibrationErrors of them with a full horizon when possible.
	nc := max(int(math.Round(o.CalibrationFraction*float64(len(hs.origins)))), MinCalibrationErrors+K)
	if o.CalibrationOrigins > 0 {
		nc = max(o.CalibrationOrigins, K+1)
	}
	nc = min(nc, len(hs.origins)-MinCalibrationErrors)
	hs.calFrom = hs.origins[len(hs.origins)-nc]
	if o.OutOfSampleTargets {
		hs.minTgt = te
	}
	return hs, nil
}

// trainRows counts the GBM training rows of hs (before NaN targets are
// dropped).
func (hs *hybridSeries) trainRows(K int) int {
	n := 0
	first, last := hs.origins[0], hs.origins[len(hs.origins)-1]
	for h := 1; h <= K; h++ {
		lo, hi := max(first, hs.minTgt-h+1), min(last, hs.calFrom-h)
		n += max(0, hi-lo+1)
	}
	return n
}

// rows returns the residual rows of hs: calibration rows (calib) or
// training rows (targets before the first calibration origin), each kept
// with probability keep. It returns the features, the residual targets, the
// horizon step and the origin (history length) of each row.
func (hs *hybridSeries) rows(fs FeatureSpec, events []Event, K int, calib bool, keep float64, rng *rand.Rand) (X *Matrix, y []float64, steps, origins []int) {
	cols := len(fs.Names()) + 1
	X = &Matrix{Cols: cols}
	baseCol := fs.baseCol()
	first, last := hs.origins[0], hs.origins[len(hs.origins)-1]
	limit := hs.calFrom // training targets stay before calibration origins
	if calib {
		first, limit = hs.calFrom, hs.z.Len()
	}
	fb := newFeatureBuilder(hs.z, events, fs)
	// Room for the expected rows up front (appending would copy them all
	// a few times over).
	total := 0
	for h := 1; h <= K; h++ {
		lo := first
		if !calib {
			lo = max(lo, hs.minTgt-h+1)
		}
		total += max(0, min(last, limit-h)-lo+1)
	}
	if keep < 1 {
		total = int(float64(total)*keep*1.02) + 64
	}
	X.Data = make([]float64, 0, total*cols)
	y = make([]float64, 0, total)
	steps, origins = make([]int, 0, total), make([]int, 0, total)
	for h := 1; h <= K; h++ {
		top := min(last, limit-h) // target index or+h-1 < limit
		first := first
		if !calib {
			first = max(first, hs.minTgt-h+1) // target index or+h-1 ≥ minTgt
		}
		if top < first {
			continue
		}
		// Feature rows use the index of the last observed sample: or−1.
		F := fb.build(first-1, top-first+1, h)
		for i := 0; i < F.Rows; i++ {
			if keep < 1 && rng.Float64() >= keep {
				continue
			}
			or := first + i
			t := hs.z.Values[or+h-1]
			row := F.Row(i)
			zl := hs.pts[or-hs.origins[0]][h-1]
			if math.IsNaN(t) || math.IsNaN(row[baseCol]) || math.IsNaN(zl) {
				continue
			}
			X.Data = append(X.Data, row...)
			X.Data = append(X.Data, zl-row[baseCol])
			X.Rows++
			y = append(y, t-zl)
			steps = append(steps, h)
			origins = append(origins, or)
		}
	}
	return X, y, steps, origins
}

// Fit implements Model.
func (h *Hybrid) Fit(s Series, spec Spec) (Predictor, error) {
	ps, err := h.fit([]Series{s}, spec)
	if err != nil {
		return nil, err
	}
	return ps[0], nil
}

// FitGlobal fits one LSTM (LSTM.FitGlobal) and one residual GBM across all
// series, with a calibration pooled over the series in the scaled space,
// and returns one predictor per series.
func (h *Hybrid) FitGlobal(series []Series, spec Spec) ([]Predictor, error) {
	return Predictors(h.fit(series, spec))
}

func (h *Hybrid) fit(series []Series, spec Spec) ([]*HybridPredictor, error) {
	o := h.opts
	K := spec.Horizon
	if K < 1 || !(spec.Level > 0 && spec.Level < 1) {
		return nil, fmt.Errorf("hybrid: horizon %d level %v: %w", K, spec.Level, errBadSpec)
	}
	if len(series) == 0 {
		return nil, fmt.Errorf("hybrid: no series: %w", ErrNotEnoughData)
	}
	shortest := slices.MinFunc(series, func(a, b Series) int { return a.Len() - b.Len() }).Len()
	lo := o.LSTM
	lo.Holdout = max(int(o.ResidualFraction*float64(shortest)), K+2*MinCalibrationErrors)
	lps, err := fitLSTMSeeds(series, spec, lo, o.Seeds, true)
	if err != nil {
		return nil, fmt.Errorf("hybrid: %w", err)
	}
	defer func() {
		for _, e := range lps {
			e.dropOOS()
		}
	}()
	return h.fitOn(series, spec, lps)
}

// FitGlobalOn fits the residual GBM and the calibration on top of temporal
// models already fitted on series (one per series, e.g. from
// FitLSTMSeeds, with any Holdout: the residual origins start where their
// training targets end, TrainEnd). It lets one LSTM fit serve both the
// "lstm" and the "hybrid" methods; HybridOptions.LSTM, ResidualFraction
// and Seeds are not used.
func (h *Hybrid) FitGlobalOn(series []Series, spec Spec, temporal []*LSTMEnsemble) ([]*HybridPredictor, error) {
	K := spec.Horizon
	if K < 1 || !(spec.Level > 0 && spec.Level < 1) {
		return nil, fmt.Errorf("hybrid: horizon %d level %v: %w", K, spec.Level, errBadSpec)
	}
	if len(series) == 0 || len(temporal) != len(series) {
		return nil, fmt.Errorf("hybrid: %d series, %d temporal models: %w", len(series), len(temporal), ErrNotEnoughData)
	}
	for _, e := range temporal {
		if e == nil || e.Horizon() != K {
			return nil, fmt.Errorf("hybrid: temporal model does not forecast %d steps: %w", K, errBadSpec)
		}
	}
	return h.fitOn(series, spec, temporal)
}

func (h *Hybrid) fitOn(series []Series, spec Spec, lps []*LSTMEnsemble) ([]*HybridPredictor, error) {
	o := h.opts
	K := spec.Horizon
	fs := DefaultFeatureSpec(series[0].Step, spec.Events)
	if o.Features != nil {
		fs = *o.Features
	}
	var states []*hybridSeries
	var rowsTotal float64
	for i, s := range series {
		hs, err := prepareSeries(s, lps[i], K, nil, o)
		if err != nil {
			if len(series) == 1 {
				return nil, err
			}
			states = append(states, nil) // too short: LSTM only
			continue
		}
		states = append(states, hs)
		rowsTotal += float64(hs.trainRows(K))
	}
	rng := rand.New(rand.NewPCG(uint64(spec.Seed), 0x4b1d))
	keep := math.Min(1, float64(o.MaxTrainRows)/math.Max(rowsTotal, 1))
	X := &Matrix{Cols: len(fs.Names()) + 1}
	var y []float64
	for _, hs := range states {
		if hs == nil {
			continue
		}
		Xi, yi, _, _ := hs.rows(fs, spec.Events, K, false, keep, rng)
		X.AppendRows(Xi)
		y = append(y, yi...)
	}
	gopts := o.GBM
	gopts.Seed = uint64(spec.Seed)
	b, err := TrainGBM(X, y, gopts)
	if err != nil {
		return nil, fmt.Errorf("hybrid: gbm: %w", err)
	}
	return finishHybrid(series, spec, fs, o, states, lps, b)
}

// finishHybrid gates the correction of b (unless o.NoGate: per series, or
// pooled with o.PooledGate), chooses the Holt-Winters weight (o.Combine)
// and calibrates the intervals on the calibration origins of states (nil:
// too short, served by the temporal model alone), and returns one
// predictor per series. A fit and a warm start share it.
func finishHybrid(series []Series, spec Spec, fs FeatureSpec, o HybridOptions, states []*hybridSeries, lps []*LSTMEnsemble, b *Booster) ([]*HybridPredictor, error) {
	K := spec.Horizon
	// Conformal errors of the combined forecast in the raw space, divided
	// by the local scale of the raw series at their origin (mean absolute
	// one-step change over the last day, floored at a tenth of the series'
	// median, see EffectiveScale), pooled over the series. Errors in the
	// log1p space would be relative: one episode near 0 in the calibration
	// window (an outage, a storm, and the seasonal echo of it a day later)
	// gives errors of several log units that expm1 then turns into
	// intervals thousands of times the point at every later origin.
	scaleWindow := stepsPer(24*time.Hour, series[0].Step)
	refScales := make([]float64, len(series))
	type calRow struct {
		step   int     // horizon step, 1-based
		target float64 // raw actual
		zl     float64 // LSTM point, scaled space
		corr   float64 // GBM correction, scaled space
		scale  float64 // effective local scale
		sc     *FeatureScaler
		nonNeg bool
		series int
		hw     float64 // Holt-Winters point (Combine), NaN when none
	}
	// Holt-Winters from the calibration origins (Combine).
	hwPts := make([][][]float64, len(series)) // [series][origin−calFrom][step−1]
	if o.Combine {
		for i, hs := range states {
			if hs == nil {
				continue
			}
			hp, err := (holtWinters{}).Fit(hs.s.Slice(0, hs.calFrom), spec)
			if err != nil {
				continue // too short: no combination for this series
			}
			for or := hs.calFrom; or < hs.s.Len(); or++ {
				f, err := hp.Predict(hs.s.Slice(0, or))
				if err != nil {
					hwPts[i] = nil
					break
				}
				hwPts[i] = append(hwPts[i], f.Point)
			}
		}
	}
	var crows []calRow
	for i, hs := range states {
		if hs == nil {
			continue
		}
		nonNeg := !o.AllowNegative && !slices.ContainsFunc(hs.s.Values, func(v float64) bool { return v < 0 })
		Xc, yc, steps, origins := hs.rows(fs, spec.Events, K, true, 1, nil)
		scales := make([]float64, Xc.Rows)
		var pos []float64
		byOrigin := map[int]float64{} // the K rows of an origin share its scale
		for j, or := range origins {
			sc, ok := byOrigin[or]
			if !ok {
				sc = localScale(hs.s.Values, or-1, scaleWindow)
				byOrigin[or] = sc
			}
			scales[j] = sc
			if scales[j] > 0 {
				pos = append(pos, scales[j])
			}
		}
		if len(pos) > 0 {
			slices.Sort(pos)
			refScales[i] = sortedQuantile(pos, 0.5)
		}
		scaling := Calibration{Scaled: true, RefScale: refScales[i]}
		for j := 0; j < Xc.Rows; j++ {
			t := origins[j] + steps[j] - 1
			zl := hs.z.Values[t] - yc[j]
			hw := math.NaN()
			if hwPts[i] != nil {
				hw = hwPts[i][origins[j]-hs.calFrom][steps[j]-1]
			}
			crows = append(crows, calRow{step: steps[j], target: hs.s.Values[t], zl: zl, corr: b.Predict(Xc.Row(j)),
				scale: scaling.EffectiveScale(scales[j]), sc: &hs.sc, nonNeg: nonNeg, series: i, hw: hw})
		}
	}
	combined := func(r calRow, a float64) float64 {
		pt := r.sc.Invert(r.zl + a*r.corr)
		if r.nonNeg {
			pt = math.Max(pt, 0)
		}
		return pt
	}
	// The gate: factors in {0, ¼, ½, ¾, 1} on the correction, chosen by
	// the mean absolute scaled error on the calibration rows (per series,
	// or pooled).
	grid := []float64{1, 0.75, 0.5, 0.25, 0}
	gateSum := make([][]float64, len(series)) // [series][grid index]
	for i := range gateSum {
		gateSum[i] = make([]float64, len(grid))
	}
	for _, r := range crows {
		for g, a := range grid {
			gateSum[r.series][g] += math.Abs(r.target-combined(r, a)) / r.scale
		}
	}
	argmin := func(sums []float64) float64 {
		best := 0
		for g := range sums {
			if sums[g] < sums[best] {
				best = g
			}
		}
		if off := len(grid) - 1; sums[best] >= (1-o.GateMargin)*sums[off] {
			return grid[off] // not enough better than the LSTM alone
		}
		return grid[best]
	}
	gates := make([]float64, len(series)) // per-series factor applied in Predict
	baked := 1.0
	for i := range gates {
		gates[i] = 1
	}
	switch {
	case o.NoGate:
	case o.PooledGate:
		pooled := make([]float64, len(grid))
		for _, sums := range gateSum {
			for g, v := range sums {
				pooled[g] += v
			}
		}
		baked = argmin(pooled)
		b.Base *= baked
		for j := range b.LeafValue {
			b.LeafValue[j] *= baked
		}
	default:
		for i, hs := range states {
			if hs != nil {
				gates[i] = argmin(gateSum[i])
			}
		}
	}
	gated := func(r calRow) float64 {
		if o.PooledGate { // already in the trees
			return combined(r, 1)
		}
		return combined(r, gates[r.series])
	}
	// The Holt-Winters weight (Combine), pooled.
	hwW := 0.0
	if o.Combine {
		wgrid := []float64{0, 0.1, 0.2, 0.3, 0.4, 0.5}
		sums := make([]float64, len(wgrid))
		for _, r := range crows {
			if math.IsNaN(r.hw) {
				continue
			}
			g := gated(r)
			for j, w := range wgrid {
				sums[j] += math.Abs(r.target-((1-w)*g+w*r.hw)) / r.scale
			}
		}
		for j := range wgrid {
			if sums[j] < sums[slices.Index(wgrid, hwW)] {
				hwW = wgrid[j]
			}
		}
	}
	errs := make([][]float64, K)
	for _, r := range crows {
		pt := gated(r)
		if hwW > 0 && !math.IsNaN(r.hw) {
			pt = (1-hwW)*pt + hwW*r.hw
		}
		errs[r.step-1] = append(errs[r.step-1], (r.target-pt)/r.scale)
	}
	cal, err := CalibrateResiduals(errs, spec.Level)
	if err != nil {
		return nil, fmt.Errorf("hybrid: %w", err)
	}
	cal.Scaled = true
	names := append(fs.Names(), "lstm")
	out := make([]*HybridPredictor, len(series))
	for i, s := range series {
		p := &HybridPredictor{lstm: lps[i], gbm: b, spec: fs, names: names, events: spec.Events,
			horizon: K, cal: cal, baseCol: fs.baseCol(), nonNeg: !o.AllowNegative, scaleWindow: scaleWindow, gate: baked, shrink: 1 - gates[i],
			noGate: o.NoGate, gateMargin: o.GateMargin, combine: o.Combine}
		p.cal.RefScale = refScales[i]
		if hwW > 0 && hwPts[i] != nil {
			if hp, err := (holtWinters{}).Fit(s, spec); err == nil {
				p.hw, p.hwW = hp.(*hwPredictor), hwW
			}
		}
		if hs := states[i]; hs != nil {
			p.scaler = hs.sc
		} else {
			p.gbm, p.scaler = nil, FeatureScaler{IQR: 1} // too short for residuals: serve the LSTM alone
		}
		for _, v := range s.Values {
			if v < 0 {
				p.nonNeg = false
				break
			}
		}
		out[i] = p
	}
	return out, nil
}

// LSTM returns the temporal model (the first seed's when it is an
// ensemble; see Temporal).
func (p *HybridPredictor) LSTM() *LSTMPredictor { return p.lstm.members[0] }

// Temporal returns the temporal model: the per-point median of the LSTMs
// of all seeds.
func (p *HybridPredictor) Temporal() *LSTMEnsemble { return p.lstm }

// Gate returns the factor the GBM correction is multiplied by (see
// HybridOptions.NoGate); 1 when not gated.
func (p *HybridPredictor) Gate() float64 { return p.gate * (1 - p.shrink) }

// HoltWintersWeight returns the weight of Holt-Winters in the forecast
// (HybridOptions.Combine); 0 when not combined.
func (p *HybridPredictor) HoltWintersWeight() float64 {
	if p.hw == nil {
		return 0
	}
	return p.hwW
}

// Booster returns the residual trees (nil when the series was too short
// for them and the predictor serves the LSTM alone).
func (p *HybridPredictor) Booster() *Booster { return p.gbm }

// Calibration returns the conformal calibration: quantiles in units of the
// raw local scale (Scaled), or of the scaled space for models saved before
// raw-space calibration.
func (p *HybridPredictor) Calibration() Calibration { return p.cal }

// Importance returns the gain importance of each residual feature by name.
func (p *HybridPredictor) Importance() map[string]float64 {
	if p.gbm == nil {
		return nil
	}
	return namedImportance(p.names, p.gbm.Importance())
}

// SetEvents replaces the known events used by later Predict calls (event
// kinds unknown at Fit time are ignored).
func (p *HybridPredictor) SetEvents(events []Event) { p.events = events }

// Predict implements Predictor.
func (p *HybridPredictor) Predict(s Series) (Forecast, error) {
	lf, err := p.lstm.Predict(s)
	if err != nil {
		return Forecast{}, fmt.Errorf("hybrid: %w", err)
	}
	if p.gbm == nil {
		lf.Model = "hybrid"
		return lf, nil
	}
	f := Forecast{Model: "hybrid", Origin: s.End(), Step: s.Step}
	n := s.Len()
	zf := Forecast{Point: make([]float64, p.horizon)}
	if p.shrink >= 1 {
		// The gate turned the trees off for this series: no features.
		for h := range zf.Point {
			zf.Point[h] = p.scaler.Apply(lf.Point[h])
		}
	} else {
		w := s.Slice(max(0, n-p.spec.MaxLookback()-1), n)
		z := p.scaler.ApplyForPrediction(w, p.spec, p.horizon, 0)
		row := make([]float64, 0, len(p.names))
		fb := newFeatureBuilder(z, p.events, p.spec)
		for h := 1; h <= p.horizon; h++ {
			X := fb.build(z.Len()-1, 1, h)
			zl := p.scaler.Apply(lf.Point[h-1])
			row = append(append(row[:0], X.Row(0)...), zl-X.Row(0)[p.baseCol])
			zf.Point[h-1] = zl + (1-p.shrink)*p.gbm.Predict(row)
		}
	}
	if p.scaleWindow > 0 {
		// Calibrated in the raw space (see fit).
		f.Point = make([]float64, p.horizon)
		var hf Forecast
		if p.hw != nil {
			if hf, err = p.hw.Predict(s); err != nil {
				return Forecast{}, fmt.Errorf("hybrid: %w", err)
			}
		}
		for k, v := range zf.Point {
			f.Point[k] = p.scaler.Invert(v)
			if p.hw != nil {
				f.Point[k] = (1-p.hwW)*f.Point[k] + p.hwW*hf.Point[k]
			}
			if p.nonNeg {
				f.Point[k] = math.Max(f.Point[k], 0)
			}
		}
		p.cal.Apply(&f, localScale(s.Values, n-1, p.scaleWindow))
		if p.nonNeg {
			for k := range f.Lower {
				f.Lower[k] = math.Max(f.Lower[k], 0)
			}
		}
		return f, nil
	}
	// Models saved before raw-space calibration: scaled-space quantiles.
	p.cal.Apply(&zf, 1)
	f.Point, f.Lower, f.Upper = zf.Point, zf.Lower, zf.Upper
	invertForecast(p.scaler, p.nonNeg, &f)
	return f, nil
}
