package forecast

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// LSTMOptions configures the LSTM forecaster. Zero values take the
// defaults documented on each field.
//
// The network reads, for each forecast origin, the last Seq samples (each
// time step sees the value and the value one season earlier) through one
// LSTM layer, concatenates the final hidden state with the last Lookback
// samples and the seasonal-lag value of every forecast step, and maps that
// through a dense head to all Horizon steps at once. Every window is
// divided by the mean absolute value of its last season, so one network
// serves series of any level (see FitGlobal).
type LSTMOptions struct {
	// Hidden is the number of LSTM units (default 32).
	Hidden int
	// Seq is the length of the sequence the LSTM reads (default 48).
	Seq int
	// Lookback is the number of most recent samples fed straight into the
	// head (default Seq).
	Lookback int
	// Season is the seasonal period in steps. 0 infers one day from the
	// series step (24 for hourly data, 1440 for minutes); when a day is
	// more than 2880 steps it falls back to one hour.
	Season int
	// Dense is the number of hidden units of the head (default 64); a
	// negative value makes the head linear.
	Dense int
	// Log1p models log(1+y) instead of y (for counts with bursts).
	Log1p bool
	// Residual makes the network learn the correction to the seasonal
	// naive forecast instead of the level itself.
	Residual bool
	// Steps is the maximum number of optimisation steps (default 300).
	Steps int
	// BatchSize is the number of windows per step (default 64).
	BatchSize int
	// LR is Adam's initial learning rate (default 2e-3); it decays along a
	// cosine to LR/20 over Steps.
	LR float64
	// ClipNorm caps the global L2 norm of the gradient (default 1).
	ClipNorm float64
	// EvalEvery is the number of steps between validation passes
	// (default 50).
	EvalEvery int
	// Patience is the number of validation passes without improvement
	// after which training stops (default 4).
	Patience int
	// Holdout is the number of trailing samples of each series whose
	// windows are kept out of training, for early stopping and interval
	// calibration. 0 means max(Horizon, 10% of the series).
	Holdout int
	// MaxValWindows caps the validation windows used for early stopping
	// (default 256); calibration uses all of them.
	MaxValWindows int
	// L2Loss trains on squared error instead of absolute error.
	L2Loss bool
	// Init, when set, warm-starts training from the weights of a fitted
	// predictor with the same architecture.
	Init *LSTMPredictor
}

func (o LSTMOptions) withDefaults() LSTMOptions {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Hidden, 32)
	def(&o.Seq, 48)
	def(&o.Lookback, o.Seq)
	if o.Dense == 0 {
		o.Dense = 64
	}
	def(&o.Steps, 300)
	def(&o.BatchSize, 64)
	if o.LR <= 0 {
		o.LR = 2e-3
	}
	if o.ClipNorm <= 0 {
		o.ClipNorm = 1
	}
	def(&o.EvalEvery, 50)
	def(&o.Patience, 4)
	def(&o.MaxValWindows, 256)
	return o
}

// seasonFor returns the season length for a series step.
func seasonFor(opt int, step time.Duration) int {
	if opt > 0 {
		return opt
	}
	if step <= 0 {
		return 1
	}
	for _, p := range []time.Duration{24 * time.Hour, time.Hour} {
		if p%step == 0 && int(p/step) <= 2880 {
			return int(p / step)
		}
	}
	return 1
}

// LSTM is the LSTM forecaster; it implements Model.
type LSTM struct {
	opts LSTMOptions
}

// NewLSTM returns an LSTM model with the given options.
func NewLSTM(opts LSTMOptions) *LSTM { return &LSTM{opts: opts} }

// Name implements Model.
func (*LSTM) Name() string { return "lstm" }

// Fit implements Model: it trains a network on the windows of s alone.
func (m *LSTM) Fit(s Series, spec Spec) (Predictor, error) {
	ps, err := m.fit([]Series{s}, spec, false)
	if err != nil {
		return nil, err
	}
	return ps[0], nil
}

// FitLSTM is Fit with the concrete predictor type.
func (m *LSTM) FitLSTM(s Series, spec Spec) (*LSTMPredictor, error) {
	ps, err := m.fit([]Series{s}, spec, false)
	if err != nil {
		return nil, err
	}
	return ps[0], nil
}

// FitGlobal trains one network on windows sampled from all series and
// returns one predictor per series (they share the weights; each has its
// own scratch space, so different predictors may be used concurrently).
// Series too short to give a training window still get a predictor.
func (m *LSTM) FitGlobal(series []Series, spec Spec) ([]*LSTMPredictor, error) {
	return m.fit(series, spec, false)
}

// FitGlobal trains one LSTM across many series with the given options; see
// (*LSTM).FitGlobal.
func FitGlobal(series []Series, spec Spec, opts LSTMOptions) ([]Predictor, error) {
	return Predictors(NewLSTM(opts).FitGlobal(series, spec))
}

// lstmShape gathers everything that maps a history to network inputs.
type lstmShape struct {
	T, L, K, m int
	need       int
	log1p      bool
	residual   bool
	nonNeg     bool // no training value was negative: clamp forecasts at 0
}

func newLSTMShape(o LSTMOptions, K, season int) lstmShape {
	sh := lstmShape{T: o.Seq, L: o.Lookback, K: K, m: season, log1p: o.Log1p, residual: o.Residual}
	sh.need = max(sh.T+sh.m, sh.L, sh.m)
	return sh
}

func (sh lstmShape) dims(o LSTMOptions) lstmDims {
	f := o.Dense
	if f < 0 {
		f = 0
	}
	return lstmDims{D: 2, H: o.Hidden, T: sh.T, S: sh.L + sh.K, F: f, K: sh.K}
}

// transform maps raw values into model space and fills missing samples
// (forward fill, leading gaps back-filled). ok is false when no value is
// finite.
func (sh lstmShape) transform(dst, raw []float64) (out []float64, ok bool) {
	dst = dst[:0]
	first := math.NaN()
	for _, v := range raw {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			first = v
			break
		}
	}
	if math.IsNaN(first) {
		return dst, false
	}
	last := first
	for _, v := range raw {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			v = last
		}
		last = v
		dst = append(dst, v)
	}
	if sh.log1p {
		for i, v := range dst {
			dst[i] = math.Log1p(math.Max(v, 0))
		}
	}
	return dst, true
}

func (sh lstmShape) inverse(v float64) float64 {
	if sh.log1p {
		v = math.Expm1(v)
	}
	if sh.nonNeg && v < 0 {
		v = 0
	}
	return v
}

// lagIndex returns the index, relative to origin o, of the seasonal-naive
// source of forecast step k (1-based): the value one (or more) whole
// seasons before the target.
func (sh lstmShape) lagIndex(o, k int) int {
	return o + k - 1 - sh.m*((k+sh.m-1)/sh.m)
}

// fill writes the inputs (and, when y is true, the targets) of the window
// with origin o of v into row r of w, and returns the window scale.
// v[o-need:o] must exist; with y, v[o:o+K] too.
func (sh lstmShape) fill(w *lstmWork, d lstmDims, r int, v []float64, o int, y bool) float64 {
	var s float64
	for _, x := range v[o-sh.m : o] {
		s += math.Abs(x)
	}
	scale := s / float64(sh.m)
	if scale < 1e-9 {
		s = 0
		for _, x := range v[o-sh.need : o] {
			s += math.Abs(x)
		}
		scale = s / float64(sh.need)
		if scale < 1e-9 {
			scale = 1
		}
	}
	inv := 1 / scale
	zw := d.D + d.H
	for t := 0; t < sh.T; t++ {
		i := o - sh.T + t
		z := w.Z[(t*w.cap+r)*zw:]
		z[0] = v[i] * inv
		z[1] = v[i-sh.m] * inv
	}
	u := w.U[r*(d.H+d.S)+d.H : (r+1)*(d.H+d.S)]
	for j := 0; j < sh.L; j++ {
		u[j] = v[o-sh.L+j] * inv
	}
	base := u[sh.L:]
	for k := 1; k <= sh.K; k++ {
		base[k-1] = v[sh.lagIndex(o, k)] * inv
	}
	if y {
		yr := w.Y[r*sh.K : (r+1)*sh.K]
		for k := 0; k < sh.K; k++ {
			yr[k] = v[o+k] * inv
			if sh.residual {
				yr[k] -= base[k]
			}
		}
	}
	return scale
}

// point returns the model-space prediction (scaled) for step k (0-based)
// of row r after a forward pass.
func (sh lstmShape) point(w *lstmWork, d lstmDims, r, k int) float64 {
	p := w.Out[r*sh.K+k]
	if sh.residual {
		p += w.U[r*(d.H+d.S)+d.H+sh.L+k]
	}
	return p
}

// LSTMStats describes a training run.
type LSTMStats struct {
	// Steps is the number of optimisation steps taken.
	Steps int
	// BestStep is the step whose weights were kept (0: the initial ones).
	BestStep int
	// TrainWindows and ValWindows count the windows used.
	TrainWindows, ValWindows int
	// ValLoss is the validation loss (scaled units) of the kept weights;
	// NaN without validation windows.
	ValLoss float64
	// InitValLoss is the validation loss before training.
	InitValLoss float64
}

// LSTMPredictor is a fitted LSTM. It implements Predictor.
type LSTMPredictor struct {
	opts     LSTMOptions // resolved, Init cleared
	sh       lstmShape
	net      *lstmNet // shared read-only between predictors of FitGlobal
	level    float64
	lo, hi   []float64 // per-step quantiles of scaled residuals
	trainEnd int
	stats    LSTMStats
	// oos holds the point forecasts the calibration computed from the
	// validation windows of the fitted series (see pointsAtFitted); only
	// fits for a hybrid keep it, until the hybrid drops it.
	oos *lstmOOS

	work  *lstmWork // batches, for PointsAt
	work1 *lstmWork // one row, for Predict
	buf   []float64
}

// Horizon returns the number of steps the predictor forecasts.
func (p *LSTMPredictor) Horizon() int { return p.sh.K }

// MinHistory returns the number of samples a history needs for Predict.
func (p *LSTMPredictor) MinHistory() int { return p.sh.need }

// TrainEnd returns the index, in the series the predictor was fitted on,
// of the first sample that no training target covered: windows with origin
// o and o+Horizon <= TrainEnd were in-sample, later ones out-of-sample.
func (p *LSTMPredictor) TrainEnd() int { return p.trainEnd }

// Stats returns statistics of the training run.
func (p *LSTMPredictor) Stats() LSTMStats { return p.stats }

// Options returns the resolved options the predictor was trained with.
func (p *LSTMPredictor) Options() LSTMOptions { return p.opts }

// Season returns the seasonal period in steps.
func (p *LSTMPredictor) Season() int { return p.sh.m }

func (p *LSTMPredictor) scratch(batch bool) *lstmWork {
	if !batch {
		if p.work1 == nil {
			p.work1 = newLSTMWork(p.net.dims, 1, false)
		}
		return p.work1
	}
	if p.work == nil {
		p.work = newLSTMWork(p.net.dims, 64, false)
	}
	return p.work
}

// Predict implements Predictor.
func (p *LSTMPredictor) Predict(s Series) (Forecast, error) {
	f := Forecast{Model: "lstm", Origin: s.End(), Step: s.Step}
	if len(s.Values) < p.sh.need {
		return f, fmt.Errorf("lstm: %d samples, need %d: %w", len(s.Values), p.sh.need, ErrNotEnoughData)
	}
	var ok bool
	p.buf, ok = p.sh.transform(p.buf, s.Values[len(s.Values)-p.sh.need:])
	if !ok {
		return f, fmt.Errorf("lstm: no finite sample in the last %d: %w", p.sh.need, ErrNotEnoughData)
	}
	w := p.scratch(false)
	d := p.net.dims
	scale := p.sh.fill(w, d, 0, p.buf, p.sh.need, false)
	p.net.forward(w, 1)
	K := p.sh.K
	f.Point = make([]float64, K)
	f.Lower = make([]float64, K)
	f.Upper = make([]float64, K)
	for k := 0; k < K; k++ {
		y := p.sh.point(w, d, 0, k)
		f.Point[k] = p.sh.inverse(y * scale)
		f.Lower[k] = p.sh.inverse((y + p.lo[k]) * scale)
		f.Upper[k] = p.sh.inverse((y + p.hi[k]) * scale)
	}
	return f, nil
}

// PointsAt returns, for each origin o in origins, the point forecasts of
// steps 1..Horizon made from the history s.Values[:o] (what Predict would
// return on s.Slice(0, o)). Origins must lie in [MinHistory(), len(s)].
// Combined with TrainEnd it gives the in-sample and out-of-sample
// forecasts a residual model (the hybrid's GBM) learns from.
func (p *LSTMPredictor) PointsAt(s Series, origins []int) ([][]float64, error) {
	v, ok := p.sh.transform(nil, s.Values)
	if !ok {
		return nil, fmt.Errorf("lstm: no finite sample: %w", ErrNotEnoughData)
	}
	for _, o := range origins {
		if o < p.sh.need || o > len(v) {
			return nil, fmt.Errorf("lstm: origin %d outside [%d, %d]: %w", o, p.sh.need, len(v), ErrNotEnoughData)
		}
	}
	w := p.scratch(true)
	d := p.net.dims
	K := p.sh.K
	out := make([][]float64, len(origins))
	flat := make([]float64, len(origins)*K)
	scales := make([]float64, w.cap)
	for i := 0; i < len(origins); i += w.cap {
		b := min(w.cap, len(origins)-i)
		for r := 0; r < b; r++ {
			scales[r] = p.sh.fill(w, d, r, v, origins[i+r], false)
		}
		p.net.forward(w, b)
		for r := 0; r < b; r++ {
			row := flat[(i+r)*K : (i+r+1)*K : (i+r+1)*K]
			for k := range row {
				row[k] = p.sh.inverse(p.sh.point(w, d, r, k) * scales[r])
			}
			out[i+r] = row
		}
	}
	return out, nil
}

// lstmOOS caches the point forecasts (raw space, as PointsAt returns them)
// from the validation windows of one fitted series, computed by the forward
// passes of the interval calibration.
type lstmOOS struct {
	first *float64    // &Values[0] of the fitted series: identifies it
	n     int         // its length
	from  int         // origin of rows[0] (the series' TrainEnd)
	rows  [][]float64 // by origin − from; nil: not a validation window
}

// matches reports whether s is the series the cache was computed on (the
// same backing array and length).
func (c *lstmOOS) matches(s Series) bool {
	return c != nil && len(s.Values) == c.n && c.n > 0 && &s.Values[0] == c.first
}

// pointsAtFitted is PointsAt on the series p was fitted on: the forecasts
// from validation windows come from the calibration pass (identical
// values, no forward pass), the others are computed. On any other series
// it is PointsAt.
func (p *LSTMPredictor) pointsAtFitted(s Series, origins []int) ([][]float64, error) {
	c := p.oos
	if !c.matches(s) {
		return p.PointsAt(s, origins)
	}
	cached := func(o int) []float64 {
		if i := o - c.from; i >= 0 && i < len(c.rows) {
			return c.rows[i]
		}
		return nil
	}
	var rest []int
	for _, o := range origins {
		if cached(o) == nil {
			rest = append(rest, o)
		}
	}
	pts, err := p.PointsAt(s, rest)
	if err != nil {
		return nil, err
	}
	out := make([][]float64, len(origins))
	j := 0
	for i, o := range origins {
		if row := cached(o); row != nil {
			out[i] = slices.Clone(row)
			continue
		}
		out[i] = pts[j]
		j++
	}
	return out, nil
}

// dropOOS releases the cached forecasts of pointsAtFitted.
func (p *LSTMPredictor) dropOOS() { p.oos = nil }

// Refit warm-starts a new predictor from p's weights and trains it for at
// most steps steps on s (windows of s only), recalibrating the intervals
// on the end of s.
func (p *LSTMPredictor) Refit(s Series, spec Spec, steps int) (*LSTMPredictor, error) {
	o := p.opts
	o.Init = p
	o.Steps = steps
	return NewLSTM(o).FitLSTM(s, spec)
}

var (
	errLSTMSpec     = errors.New("lstm: invalid spec")
	errLSTMDiverged = errors.New("lstm: training diverged (non-finite weights)")
)

// fit trains the network. With keepOOS every predictor keeps the point
// forecasts of the calibration pass from its series' validation windows
// (lstmOOS), which pointsAtFitted reuses instead of running the same
// forward passes again.
func (m *LSTM) fit(series []Series, spec Spec, keepOOS bool) ([]*LSTMPredictor, error) {
	if spec.Horizon <= 0 {
		return nil, fmt.Errorf("%w: horizon %d", errLSTMSpec, spec.Horizon)
	}
	level := spec.Level
	if level == 0 {
		level = 0.9
	}
	if !(level > 0 && level < 1) {
		return nil, fmt.Errorf("%w: level %v", errLSTMSpec, spec.Level)
	}
	if len(series) == 0 {
		return nil, fmt.Errorf("lstm: no series: %w", ErrNotEnoughData)
	}
	o := m.opts.withDefaults()
	init := o.Init
	o.Init = nil
	season := seasonFor(o.Season, series[0].Step)
	if init != nil {
		// The architecture comes from the initial weights.
		io := init.opts
		o.Hidden, o.Seq, o.Lookback, o.Dense, o.Log1p, o.Residual = io.Hidden, io.Seq, io.Lookback, io.Dense, io.Log1p, io.Residual
		season = init.sh.m
		if init.sh.K != spec.Horizon {
			return nil, fmt.Errorf("%w: warm start from horizon %d, spec has %d", errLSTMSpec, init.sh.K, spec.Horizon)
		}
	}
	o.Season = season
	sh := newLSTMShape(o, spec.Horizon, season)
	sh.nonNeg = true
	for _, s := range series {
		for _, v := range s.Values {
			if v < 0 {
				sh.nonNeg = false
			}
		}
	}
	if init != nil {
		sh.nonNeg = sh.nonNeg && init.sh.nonNeg
	}
	d := sh.dims(o)
	data, err := buildLSTMData(series, sh, o)
	if err != nil {
		return nil, err
	}
	if len(data.train) == 0 {
		need := sh.need + sh.K + 1
		return nil, fmt.Errorf("lstm: no training window (a series needs at least %d finite samples plus the holdout): %w", need, ErrNotEnoughData)
	}
	var net *lstmNet
	if init != nil {
		net = init.net.clone()
	} else {
		net = newLSTMNet(d)
	}
	stats, err := trainLSTM(net, init == nil, data, sh, o, spec.Seed)
	if err != nil {
		return nil, err
	}
	var oos []*lstmOOS
	if keepOOS {
		oos = make([]*lstmOOS, len(series))
		for i, s := range series {
			if len(s.Values) > 0 {
				oos[i] = &lstmOOS{first: &s.Values[0], n: len(s.Values), from: data.trainEnd[i]}
			}
		}
	}
	lo, hi := calibrateLSTM(net, data, sh, level, oos)
	ps := make([]*LSTMPredictor, len(series))
	for i := range series {
		ps[i] = &LSTMPredictor{opts: o, sh: sh, net: net, level: level, lo: lo, hi: hi, trainEnd: data.trainEnd[i], stats: stats}
		if oos != nil {
			ps[i].oos = oos[i]
		}
	}
	return ps, nil
}

// lstmWarmSteps is the optimisation budget of FitFrom (a fit takes up to
// 300 steps).
const lstmWarmSteps = 60

var _ WarmFitter = (*LSTM)(nil)

// FitFrom implements WarmFitter: prev.Refit for 60 steps.
func (m *LSTM) FitFrom(prev Predictor, s Series, spec Spec) (Predictor, error) {
	p, ok := prev.(*LSTMPredictor)
	if !ok {
		return nil, fmt.Errorf("lstm: warm start from %T: %w", prev, errLSTMSpec)
	}
	return p.Refit(s, spec, lstmWarmSteps)
}
