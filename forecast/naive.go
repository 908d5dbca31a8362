package forecast

import (
	"fmt"
	"math"
	"time"
)

// Model names of the baselines (the names config accepts where they exist).
const (
	NameSeasonalNaive       = "seasonal_naive"
	NameSeasonalNaiveWeekly = "seasonal_naive_weekly"
	NameHoltWinters         = "holt_winters"
	NameLastValue           = "last_value"
)

const (
	baseDay  = 24 * time.Hour
	baseWeek = 7 * baseDay
	// nonSeasonalPeriod is the season length assumed for scaling purposes
	// when the step does not divide a day.
	nonSeasonalPeriod = 24
)

// StepsPerDay returns the number of steps in a day, or 0 when step does not
// divide 24h (then the baselines are non-seasonal).
func StepsPerDay(step time.Duration) int {
	if step <= 0 || baseDay%step != 0 {
		return 0
	}
	return int(baseDay / step)
}

// StepsPerWeek returns the number of steps in a week, or 0 when step does
// not divide 24h.
func StepsPerWeek(step time.Duration) int { return 7 * StepsPerDay(step) }

// seasonOrDefault returns the daily period, or nonSeasonalPeriod when the
// step does not divide a day; used for window sizes, never as a season.
func seasonOrDefault(step time.Duration) int {
	if m := StepsPerDay(step); m >= 2 {
		return m
	}
	return nonSeasonalPeriod
}

// SeasonalNaiveOptions configures NewSeasonalNaive.
type SeasonalNaiveOptions struct {
	// Weekly repeats the last week instead of the last day.
	Weekly bool
	// Calibration configures the conformal intervals.
	Calibration CalibrationOptions
}

// NewSeasonalNaive returns the seasonal naive model: the forecast for step k
// is the last observed value at the same phase of the season (one day, or
// one week with opts.Weekly), i.e. ŷ_{T+k} = y_{T+k−m⌈k/m⌉}. Missing samples
// keep the previous observation of their phase. When the step does not
// divide a baseDay the season is one step (the naive forecast). Bounds come from
// split-conformal calibration (see Conformal).
func NewSeasonalNaive(opts SeasonalNaiveOptions) Model {
	return Conformal(seasonalNaive{weekly: opts.Weekly}, inSampleByDefault(opts.Calibration))
}

// seasonalNaive is the point-only seasonal naive model.
type seasonalNaive struct{ weekly bool }

func (m seasonalNaive) Name() string {
	if m.weekly {
		return NameSeasonalNaiveWeekly
	}
	return NameSeasonalNaive
}

func (m seasonalNaive) period(step time.Duration) int {
	p := StepsPerDay(step)
	if m.weekly {
		p = StepsPerWeek(step)
	}
	return max(p, 1)
}

// MinHistory is one full season.
func (m seasonalNaive) MinHistory(step time.Duration) int { return m.period(step) }

func (m seasonalNaive) Fit(s Series, spec Spec) (Predictor, error) {
	if spec.Horizon < 1 {
		return nil, fmt.Errorf("%s: horizon %d: %w", m.Name(), spec.Horizon, errBadSpec)
	}
	p := m.period(s.Step)
	if s.Len() < p {
		return nil, fmt.Errorf("%s: %d samples, need %d: %w", m.Name(), s.Len(), p, ErrNotEnoughData)
	}
	sp := &seasonalNaivePredictor{name: m.Name(), horizon: spec.Horizon, ring: make([]float64, p)}
	sp.reset(s)
	if math.IsNaN(sp.last) {
		return nil, fmt.Errorf("%s: no observed sample: %w", m.Name(), ErrNotEnoughData)
	}
	return sp, nil
}

// seasonalNaivePredictor keeps the last observation of every phase.
type seasonalNaivePredictor struct {
	name    string
	horizon int
	ring    []float64 // ring[i]: last value seen at phase i (NaN if none)
	pos     int       // phase of the next sample
	last    float64   // last non-NaN value (fallback for unseen phases)
	cur     cursor
}

func (p *seasonalNaivePredictor) reset(s Series) {
	for i := range p.ring {
		p.ring[i] = math.NaN()
	}
	p.pos, p.last = 0, math.NaN()
	p.cur = cursor{}
	p.consume(s, 0)
}

func (p *seasonalNaivePredictor) consume(s Series, from int) {
	for _, v := range s.Values[from:] {
		if !math.IsNaN(v) {
			p.ring[p.pos] = v
			p.last = v
		}
		p.pos++
		if p.pos == len(p.ring) {
			p.pos = 0
		}
	}
	p.cur.mark(s)
}

func (p *seasonalNaivePredictor) Predict(s Series) (Forecast, error) {
	if s.Len() == 0 {
		return Forecast{}, fmt.Errorf("%s: empty series: %w", p.name, ErrNotEnoughData)
	}
	if i := p.cur.next(s); i >= 0 {
		p.consume(s, i)
	} else {
		p.reset(s)
	}
	f := Forecast{Model: p.name, Origin: s.End(), Step: s.Step, Point: make([]float64, p.horizon)}
	m := len(p.ring)
	for k := range p.horizon {
		v := p.ring[(p.pos+k)%m]
		if math.IsNaN(v) {
			v = p.last
		}
		f.Point[k] = v
	}
	return f, nil
}

// clone returns an independent copy of the predictor's state.
func (p *seasonalNaivePredictor) clone() Predictor {
	c := *p
	c.ring = append([]float64(nil), p.ring...)
	return &c
}

// cursor remembers the last sample a predictor consumed so that the next
// Predict call processes only newer samples.
type cursor struct {
	valid bool
	step  time.Duration
	end   time.Time // time of the last consumed sample
	last  float64   // its value
}

// mark records s as consumed.
func (c *cursor) mark(s Series) {
	if s.Len() == 0 {
		*c = cursor{}
		return
	}
	*c = cursor{valid: true, step: s.Step, end: s.End(), last: s.Values[s.Len()-1]}
}

// next returns the index of the first sample of s not consumed yet, or -1
// when s does not extend the consumed history (different step, the last
// consumed sample is absent or has changed), which calls for a full
// recompute.
func (c *cursor) next(s Series) int {
	if !c.valid || s.Step != c.step || s.Len() == 0 || s.Step <= 0 {
		return -1
	}
	d := c.end.Sub(s.Start)
	if d < 0 || d%s.Step != 0 {
		return -1
	}
	i := int(d / s.Step)
	if i >= s.Len() {
		return -1
	}
	v := s.Values[i]
	if v != c.last && !(math.IsNaN(v) && math.IsNaN(c.last)) {
		return -1
	}
	return i + 1
}

// NameNaive2 is the name of the M4 Naive2 benchmark.
const NameNaive2 = "naive2"

// Naive2Options configures NewNaive2.
type Naive2Options struct {
	// Calibration configures the conformal intervals.
	Calibration CalibrationOptions
}

// NewNaive2 returns the M4 "Naive2" benchmark: the naive forecast of the
// seasonally adjusted series, reseasonalised. The season (one day of steps)
// is used only when the history holds at least three seasons and the
// autocorrelation at lag m passes the M4 90% test
// |r_m| > 1.645·sqrt((1 + 2·Σ_{i<m} r_i²)/n); the seasonal indices come
// from a classical multiplicative decomposition (centred 2×m moving
// average, mean ratio per phase, normalised to mean 1). It is the
// denominator of OWA. Bounds come from split-conformal calibration
// (CalibrateSplit by default: the m seasonal indices are too many
// parameters for in-sample calibration).
func NewNaive2(opts Naive2Options) Model {
	return Conformal(naive2{}, opts.Calibration)
}

type naive2 struct{}

func (naive2) Name() string { return NameNaive2 }

// MinHistory is two samples.
func (naive2) MinHistory(time.Duration) int { return 2 }

func (naive2) Fit(s Series, spec Spec) (Predictor, error) {
	if spec.Horizon < 1 {
		return nil, fmt.Errorf("%s: horizon %d: %w", NameNaive2, spec.Horizon, errBadSpec)
	}
	if countObserved(s.Values) == 0 {
		return nil, fmt.Errorf("%s: no observed sample: %w", NameNaive2, ErrNotEnoughData)
	}
	m := StepsPerDay(s.Step)
	p := &naive2Predictor{horizon: spec.Horizon, si: []float64{1}, start: s.Start}
	if m >= 2 && seasonalityTest(s.Values, m) {
		if si := seasonalIndices(s.Values, m); si != nil {
			p.si = si
		}
	}
	p.reset(s)
	return p, nil
}

// acf returns the sample autocorrelations r_1..r_maxLag of v (NaNs are
// treated as the mean, i.e. contribute nothing).
func acf(v []float64, maxLag int) []float64 {
	mu, _ := hwNanMean(v)
	var den float64
	for _, x := range v {
		if !math.IsNaN(x) {
			den += (x - mu) * (x - mu)
		}
	}
	r := make([]float64, maxLag+1)
	if den == 0 {
		return r
	}
	for k := 1; k <= maxLag; k++ {
		var num float64
		for t := k; t < len(v); t++ {
			a, b := v[t], v[t-k]
			if math.IsNaN(a) || math.IsNaN(b) {
				continue
			}
			num += (a - mu) * (b - mu)
		}
		r[k] = num / den
	}
	return r
}

// seasonalityTest is the M4 benchmarks' 90% autocorrelation test at lag m.
func seasonalityTest(v []float64, m int) bool {
	n := len(v)
	if n < 3*m {
		return false
	}
	r := acf(v, m)
	sum := 1.0
	for i := 1; i < m; i++ {
		sum += 2 * r[i] * r[i]
	}
	return math.Abs(r[m]) > 1.645*math.Sqrt(sum/float64(n))
}

// seasonalIndices returns multiplicative seasonal indices by phase (phase 0
// = sample 0), or nil when they cannot be computed (non-positive trend).
func seasonalIndices(v []float64, m int) []float64 {
	n := len(v)
	sum := make([]float64, m)
	cnt := make([]int, m)
	// Centred moving average of order m (2×m when m is even).
	for t := range v {
		var lo, hi int
		var w0 float64
		if m%2 == 0 {
			lo, hi, w0 = t-m/2, t+m/2, 0.5
		} else {
			lo, hi, w0 = t-m/2, t+m/2, 1
		}
		if lo < 0 || hi >= n || math.IsNaN(v[t]) {
			continue
		}
		var ma float64
		ok := true
		for i := lo; i <= hi; i++ {
			x := v[i]
			if math.IsNaN(x) {
				ok = false
				break
			}
			w := 1.0
			if i == lo || i == hi {
				w = w0
			}
			ma += w * x
		}
		if !ok {
			continue
		}
		ma /= float64(m)
		if ma <= 0 {
			return nil
		}
		sum[t%m] += v[t] / ma
		cnt[t%m]++
	}
	si := make([]float64, m)
	var mean float64
	for i := range si {
		if cnt[i] == 0 {
			return nil
		}
		si[i] = sum[i] / float64(cnt[i])
		mean += si[i]
	}
	mean /= float64(m)
	if !(mean > 0) {
		return nil
	}
	for i := range si {
		si[i] /= mean
		if !(si[i] > 0) {
			return nil
		}
	}
	return si
}

// naive2Predictor keeps the last seasonally adjusted value.
type naive2Predictor struct {
	horizon int
	si      []float64 // seasonal indices by phase; {1} without season
	start   time.Time // time of phase 0
	pos     int       // phase of the next sample
	last    float64   // last seasonally adjusted observation
	cur     cursor
}

func (p *naive2Predictor) reset(s Series) {
	m := len(p.si)
	p.pos, p.last = 0, math.NaN()
	if s.Step > 0 {
		p.pos = int((int64(s.Start.Sub(p.start)/s.Step)%int64(m) + int64(m)) % int64(m))
	}
	p.consume(s, 0)
}

func (p *naive2Predictor) consume(s Series, from int) {
	m := len(p.si)
	for _, v := range s.Values[from:] {
		if !math.IsNaN(v) {
			p.last = v / p.si[p.pos]
		}
		p.pos = (p.pos + 1) % m
	}
	p.cur.mark(s)
}

func (p *naive2Predictor) Predict(s Series) (Forecast, error) {
	if s.Len() == 0 {
		return Forecast{}, fmt.Errorf("%s: empty series: %w", NameNaive2, ErrNotEnoughData)
	}
	if i := p.cur.next(s); i >= 0 {
		p.consume(s, i)
	} else {
		p.reset(s)
	}
	if math.IsNaN(p.last) {
		return Forecast{}, fmt.Errorf("%s: no observed sample: %w", NameNaive2, ErrNotEnoughData)
	}
	f := Forecast{Model: NameNaive2, Origin: s.End(), Step: s.Step, Point: make([]float64, p.horizon)}
	m := len(p.si)
	for k := range f.Point {
		f.Point[k] = p.last * p.si[(p.pos+k)%m]
	}
	return f, nil
}

func (p *naive2Predictor) clone() Predictor {
	c := *p
	return &c // si is read-only after Fit
}
