package forecast

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Seasonality selects the season of Holt-Winters.
type Seasonality int

// Seasonalities.
const (
	// SeasonAuto uses a daily season, or a weekly one when the history
	// holds at least three weeks and the weekly fit has the lower in-sample
	// multi-step error; non-seasonal when the step does not divide a day.
	SeasonAuto Seasonality = iota
	// SeasonDaily uses a season of one day.
	SeasonDaily
	// SeasonWeekly uses a season of one week (it captures the daily
	// pattern of each weekday too).
	SeasonWeekly
	// SeasonNone is the damped-trend model without season.
	SeasonNone
)

func (s Seasonality) String() string {
	switch s {
	case SeasonAuto:
		return "auto"
	case SeasonDaily:
		return "daily"
	case SeasonWeekly:
		return "weekly"
	case SeasonNone:
		return "none"
	}
	return fmt.Sprintf("Seasonality(%d)", int(s))
}

// Transform is a variance-stabilising transform of Holt-Winters.
type Transform int

// Transforms.
const (
	// TransformAuto fits both y and, when the history is non-negative,
	// log1p(y), and keeps the one with the lower in-sample multi-step
	// error on the original scale.
	TransformAuto Transform = iota
	// TransformNone models y as it is (additive season and noise).
	TransformNone
	// TransformLog models log1p(y) (multiplicative season and noise, for
	// non-negative counts); forecasts are transformed back with expm1,
	// i.e. they are medians. Falls back to none on negative histories.
	TransformLog
)

// HoltWintersOptions configures NewHoltWinters.
type HoltWintersOptions struct {
	// Seasonality of the model; SeasonAuto by default.
	Seasonality Seasonality
	// Transform chooses between modelling y and log1p(y); TransformAuto
	// by default.
	Transform Transform
	// MaxEvals bounds the objective evaluations of the optimiser per fit;
	// 0 means 300.
	MaxEvals int
	// Calibration configures the conformal intervals.
	Calibration CalibrationOptions
}

// NewHoltWinters returns additive Holt-Winters exponential smoothing with a
// damped additive trend, ETS(A,Ad,A), in error-correction form:
//
//	ŷ_t   = ℓ + φb + s_{t−m}          e_t = y_t − ŷ_t
//	ℓ'    = ℓ + φb + αe_t
//	b'    = φb + βe_t
//	s_t   = s_{t−m} + γe_t
//	ŷ_{T+k} = ℓ + (φ+…+φ^k) b + s_{T+k−m⌈k/m⌉}
//
// with 0<β≤α<1, 0<γ<1−α, 0.8≤φ≤0.98. The state is initialised from the
// first two seasons (level: mean of the first season; trend: difference of
// the first two season means / m; season: deviations from the season
// means), and (α, β, γ, φ) minimise the one-step-ahead SSE over the
// training window with a Nelder–Mead search on a logistic
// reparameterisation that keeps them inside those bounds. A missing (NaN)
// sample skips the error correction: the state is carried forward by the
// damped trend. No transform is applied (values are modelled as they are).
// The season is m = steps per day (or per week, see Seasonality); when the
// step does not divide a day the model has no season. Bounds come from
// split-conformal calibration (see Conformal).
func NewHoltWinters(opts HoltWintersOptions) Model {
	return Conformal(holtWinters{opts: opts}, inSampleByDefault(opts.Calibration))
}

type holtWinters struct{ opts HoltWintersOptions }

func (holtWinters) Name() string { return NameHoltWinters }

// MinHistory is two seasons (two weeks for SeasonWeekly, 10 samples without
// season).
func (m holtWinters) MinHistory(step time.Duration) int {
	d := StepsPerDay(step)
	switch {
	case m.opts.Seasonality == SeasonWeekly && 7*d >= 2:
		return 2 * 7 * d
	case m.opts.Seasonality == SeasonNone || d < 2:
		return 10
	}
	return 2 * d
}

// candidates returns the season lengths to try (0 = none).
func (m holtWinters) candidates(step time.Duration, n int) []int {
	d, w := StepsPerDay(step), StepsPerWeek(step)
	switch m.opts.Seasonality {
	case SeasonNone:
		return []int{0}
	case SeasonDaily:
		if d >= 2 {
			return []int{d}
		}
		return []int{0}
	case SeasonWeekly:
		if w >= 2 {
			return []int{w}
		}
		return []int{0}
	}
	var c []int
	if d >= 2 && n >= 2*d {
		c = append(c, d)
	}
	if w >= 2 && n >= 3*w {
		c = append(c, w)
	}
	if len(c) == 0 {
		c = []int{0}
	}
	return c
}

func (m holtWinters) Fit(s Series, spec Spec) (Predictor, error) {
	if spec.Horizon < 1 {
		return nil, fmt.Errorf("%s: horizon %d: %w", NameHoltWinters, spec.Horizon, errBadSpec)
	}
	n := s.Len()
	if need := m.MinHistory(s.Step); n < need {
		return nil, fmt.Errorf("%s: %d samples, need %d: %w", NameHoltWinters, n, need, ErrNotEnoughData)
	}
	if countObserved(s.Values) < 2 {
		return nil, fmt.Errorf("%s: fewer than 2 observed samples: %w", NameHoltWinters, ErrNotEnoughData)
	}
	maxEvals := m.opts.MaxEvals
	if maxEvals <= 0 {
		maxEvals = 300
	}
	nonNeg := minValue(s.Values) >= 0
	var logs []bool
	switch {
	case m.opts.Transform == TransformNone || !nonNeg:
		logs = []bool{false}
	case m.opts.Transform == TransformLog:
		logs = []bool{true}
	default:
		logs = []bool{false, true}
	}
	cands := m.candidates(s.Step, n)
	// Candidates are compared on multi-step in-sample errors after the
	// longest initialisation (three weeks of history leave one week for a
	// weekly season; at least the last half of the history).
	from := min(2*slices.Max(cands), n/2)
	var best *hwPredictor
	bestErr := math.Inf(1)
	for _, logT := range logs {
		v := s.Values
		if logT {
			v = make([]float64, n)
			for i, y := range s.Values {
				v[i] = math.Log1p(y)
			}
		}
		for _, period := range cands {
			par := fitHW(v, period, maxEvals)
			e := 0.0
			if len(cands)*len(logs) > 1 {
				e = hwMultiStepMAE(par, period, v, s.Values, logT, from, spec.Horizon)
			}
			if best == nil || e < bestErr {
				best, bestErr = newHWPredictor(par, period, spec.Horizon), e
				best.log = logT
			}
		}
	}
	best.reset(s)
	return best, nil
}

// hwParams are the smoothing parameters.
type hwParams struct{ alpha, beta, gamma, phi float64 }

func hwLogistic(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
func hwLogit(p float64) float64    { return math.Log(p / (1 - p)) }

// hwFromX maps the unconstrained optimiser point to bounded parameters.
func hwFromX(x []float64) hwParams {
	a := 1e-4 + (1-2e-4)*hwLogistic(x[0])
	p := hwParams{alpha: a, beta: a * hwLogistic(x[1]), phi: 0.8 + 0.18*hwLogistic(x[2])}
	if len(x) > 3 {
		p.gamma = (1 - a) * hwLogistic(x[3])
	}
	return p
}

// hwState is the filter state.
type hwState struct {
	level, trend float64
	season       []float64 // by phase; nil without season
	pos          int       // phase of the next sample
}

// init sets the state from the first seasons of v (NaNs skipped).
func (st *hwState) init(v []float64, m int) {
	st.pos = 0
	if m < 2 || len(v) < m {
		first, next := math.NaN(), math.NaN()
		fi := 0
		for i, x := range v {
			if math.IsNaN(x) {
				continue
			}
			if math.IsNaN(first) {
				first, fi = x, i
				continue
			}
			if i-fi >= 1 {
				next = (x - first) / float64(i-fi)
				break
			}
		}
		st.level, st.trend = first, 0
		if !math.IsNaN(next) {
			st.trend = next
		}
		st.level -= st.trend // state before sample 0
		for i := range st.season {
			st.season[i] = 0
		}
		return
	}
	mean1, n1 := hwNanMean(v[:m])
	var mean2 float64
	seasons := 1
	if len(v) >= 2*m {
		if mu, n2 := hwNanMean(v[m : 2*m]); n2 > 0 {
			mean2, seasons = mu, 2
		}
	}
	if n1 == 0 { // first season empty: use the second alone
		mean1 = mean2
	}
	st.trend = 0
	if seasons == 2 && n1 > 0 {
		st.trend = (mean2 - mean1) / float64(m)
	}
	st.level = mean1 - float64(m+1)/2*st.trend
	for i := range m {
		var sum float64
		c := 0
		for j := range seasons {
			x := v[j*m+i]
			if math.IsNaN(x) {
				continue
			}
			mu := mean1
			if j == 1 {
				mu = mean2
			}
			sum += x - mu
			c++
		}
		st.season[i] = 0
		if c > 0 {
			st.season[i] = sum / float64(c)
		}
	}
}

func hwNanMean(v []float64) (float64, int) {
	var s float64
	n := 0
	for _, x := range v {
		if !math.IsNaN(x) {
			s += x
			n++
		}
	}
	if n == 0 {
		return math.NaN(), 0
	}
	return s / float64(n), n
}

// update consumes one sample and returns the one-step error (NaN for a
// missing sample).
func (st *hwState) update(p hwParams, y float64) float64 {
	var s float64
	if st.season != nil {
		s = st.season[st.pos]
	}
	pt := p.phi * st.trend
	e := math.NaN()
	if math.IsNaN(y) {
		st.level += pt
		st.trend = pt
	} else {
		e = y - (st.level + pt + s)
		st.level += pt + p.alpha*e
		st.trend = pt + p.beta*e
		if st.season != nil {
			st.season[st.pos] = s + p.gamma*e
		}
	}
	if st.season != nil {
		st.pos++
		if st.pos == len(st.season) {
			st.pos = 0
		}
	}
	return e
}

// forecast writes the point forecasts for steps 1..len(out).
func (st *hwState) forecast(p hwParams, out []float64) {
	damp, pk := 0.0, 1.0
	for k := range out {
		pk *= p.phi
		damp += pk
		v := st.level + damp*st.trend
		if st.season != nil {
			v += st.season[(st.pos+k)%len(st.season)]
		}
		out[k] = v
	}
}

// hwSSE runs the filter over v and returns the one-step SSE.
func hwSSE(p hwParams, v []float64, st *hwState, m int) float64 {
	st.init(v, m)
	var sse float64
	for _, y := range v {
		if e := st.update(p, y); !math.IsNaN(e) {
			sse += e * e
		}
	}
	if math.IsNaN(sse) || math.IsInf(sse, 0) {
		return math.Inf(1)
	}
	return sse
}

// fitHW estimates the parameters by minimising the one-step SSE.
func fitHW(v []float64, m, maxEvals int) hwParams {
	st := &hwState{}
	if m >= 2 {
		st.season = make([]float64, m)
	}
	x0 := []float64{hwLogit(0.3), hwLogit(0.1), hwLogit((0.95 - 0.8) / 0.18)}
	if m >= 2 {
		x0 = append(x0, hwLogit(0.1))
	}
	x, _ := nelderMead(func(x []float64) float64 { return hwSSE(hwFromX(x), v, st, m) }, x0, 1, maxEvals, 1e-7)
	return hwFromX(x)
}

// hwMultiStepMAE is the mean absolute error, on the original scale raw,
// of the 1..h step forecasts made from in-sample origins from index `from`
// on (about 50 origins), with parameters p on the (possibly log1p) values
// v. It returns +Inf when nothing could be scored.
func hwMultiStepMAE(p hwParams, m int, v, raw []float64, logT bool, from, h int) float64 {
	st := &hwState{}
	if m >= 2 {
		st.season = make([]float64, m)
	}
	st.init(v, m)
	stride := max(1, (len(v)-from)/50)
	out := make([]float64, h)
	var sum float64
	n := 0
	for t, y := range v {
		if t >= from && (t-from)%stride == 0 {
			st.forecast(p, out)
			for k := 0; k < h && t+k < len(v); k++ {
				f := out[k]
				if logT {
					f = math.Expm1(f)
				}
				if a := raw[t+k]; !math.IsNaN(a) {
					sum += math.Abs(a - f)
					n++
				}
			}
		}
		st.update(p, y)
	}
	if n == 0 || math.IsNaN(sum) {
		return math.Inf(1)
	}
	return sum / float64(n)
}

// hwPredictor is a fitted Holt-Winters point predictor.
type hwPredictor struct {
	par     hwParams
	log     bool // state is on log1p(y)
	period  int
	horizon int
	st      hwState
	cur     cursor
}

func newHWPredictor(par hwParams, period, horizon int) *hwPredictor {
	p := &hwPredictor{par: par, period: period, horizon: horizon}
	if period >= 2 {
		p.st.season = make([]float64, period)
	}
	return p
}

func (p *hwPredictor) reset(s Series) {
	v := s.Values
	if p.log {
		v = make([]float64, len(v))
		for i, y := range s.Values {
			v[i] = math.Log1p(y)
		}
	}
	p.st.init(v, p.period)
	p.consume(s, 0)
}

func (p *hwPredictor) consume(s Series, from int) {
	for _, y := range s.Values[from:] {
		if p.log {
			y = math.Log1p(max(y, 0))
		}
		p.st.update(p.par, y)
	}
	p.cur.mark(s)
}

func (p *hwPredictor) Predict(s Series) (Forecast, error) {
	if s.Len() == 0 {
		return Forecast{}, fmt.Errorf("%s: empty series: %w", NameHoltWinters, ErrNotEnoughData)
	}
	if i := p.cur.next(s); i >= 0 {
		p.consume(s, i)
	} else {
		p.reset(s)
	}
	f := Forecast{Model: NameHoltWinters, Origin: s.End(), Step: s.Step, Point: make([]float64, p.horizon)}
	p.st.forecast(p.par, f.Point)
	if p.log {
		for k, x := range f.Point {
			f.Point[k] = math.Expm1(x)
		}
	}
	return f, nil
}

func (p *hwPredictor) clone() Predictor {
	c := *p
	c.st.season = append([]float64(nil), p.st.season...)
	return &c
}

// warmup is the history a restart needs to initialise the state from two
// seasons.
func (p *hwPredictor) warmup() int { return 2 * max(p.period, 1) }

// Params reports the fitted smoothing parameters and season length (for
// logs and tests).
func (p *hwPredictor) Params() (alpha, beta, gamma, phi float64, period int) {
	return p.par.alpha, p.par.beta, p.par.gamma, p.par.phi, p.period
}

// nelderMead minimises f from x0 with an initial simplex of the given step
// along each axis. It stops after maxEvals evaluations or when the spread of
// the simplex values falls below tol relative to the best value. It returns
// the best point and value.
func nelderMead(f func([]float64) float64, x0 []float64, step float64, maxEvals int, tol float64) ([]float64, float64) {
	d := len(x0)
	pts := make([][]float64, d+1)
	vals := make([]float64, d+1)
	for i := range pts {
		pts[i] = append([]float64(nil), x0...)
		if i > 0 {
			pts[i][i-1] += step
		}
		vals[i] = f(pts[i])
	}
	evals := d + 1
	centroid := make([]float64, d)
	xr := make([]float64, d)
	xe := make([]float64, d)
	xc := make([]float64, d)
	at := func(dst []float64, t float64, worst []float64) {
		for j := range dst {
			dst[j] = centroid[j] + t*(worst[j]-centroid[j])
		}
	}
	for evals < maxEvals {
		// Order: best first.
		for i := 1; i <= d; i++ {
			for j := i; j > 0 && vals[j] < vals[j-1]; j-- {
				vals[j], vals[j-1] = vals[j-1], vals[j]
				pts[j], pts[j-1] = pts[j-1], pts[j]
			}
		}
		if math.Abs(vals[d]-vals[0]) <= tol*(math.Abs(vals[0])+1e-300) {
			break
		}
		for j := range centroid {
			centroid[j] = 0
			for i := range d {
				centroid[j] += pts[i][j]
			}
			centroid[j] /= float64(d)
		}
		worst := pts[d]
		at(xr, -1, worst)
		fr := f(xr)
		evals++
		switch {
		case fr < vals[0]:
			at(xe, -2, worst)
			fe := f(xe)
			evals++
			if fe < fr {
				copy(worst, xe)
				vals[d] = fe
			} else {
				copy(worst, xr)
				vals[d] = fr
			}
		case fr < vals[d-1]:
			copy(worst, xr)
			vals[d] = fr
		default:
			t := 0.5 // inside contraction
			if fr < vals[d] {
				t = -0.5 // outside contraction
			}
			at(xc, t, worst)
			fc := f(xc)
			evals++
			if fc < min(fr, vals[d]) {
				copy(worst, xc)
				vals[d] = fc
				continue
			}
			// Shrink towards the best point.
			for i := 1; i <= d; i++ {
				for j := range pts[i] {
					pts[i][j] = pts[0][j] + 0.5*(pts[i][j]-pts[0][j])
				}
				vals[i] = f(pts[i])
				evals++
			}
		}
	}
	bi := 0
	for i := range vals {
		if vals[i] < vals[bi] {
			bi = i
		}
	}
	return pts[bi], vals[bi]
}

// minValue returns the smallest non-NaN value (+Inf when none).
func minValue(v []float64) float64 {
	m := math.Inf(1)
	for _, x := range v {
		if x < m {
			m = x
		}
	}
	return m
}
