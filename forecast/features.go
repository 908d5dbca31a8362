package forecast

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"
)

// Matrix is a dense row-major matrix of feature values. NaN marks a missing
// value (a lag before the start of the history, a gap in the series).
type Matrix struct {
	Rows, Cols int
	Data       []float64
}

// NewMatrix returns a zeroed rows×cols matrix.
func NewMatrix(rows, cols int) *Matrix {
	return &Matrix{Rows: rows, Cols: cols, Data: make([]float64, rows*cols)}
}

// Row returns row i; it aliases the matrix storage.
func (m *Matrix) Row(i int) []float64 { return m.Data[i*m.Cols : (i+1)*m.Cols] }

// At returns element (i, j).
func (m *Matrix) At(i, j int) float64 { return m.Data[i*m.Cols+j] }

// AppendRows appends the rows of o, which must have the same column count.
func (m *Matrix) AppendRows(o *Matrix) {
	if m.Cols != o.Cols {
		panic(fmt.Sprintf("forecast: AppendRows: %d columns, want %d", o.Cols, m.Cols))
	}
	m.Data = append(m.Data, o.Data...)
	m.Rows += o.Rows
}

// FeatureSpec says which features BuildFeatures computes. All lags and
// windows are in steps of the series.
//
// A feature row describes one (origin, horizon) pair: origin is the index of
// the last sample the forecaster may see, the target is the sample at
// origin+horizon. Calendar and event features describe the target time (which
// may lie beyond the end of the series); value features use only samples at
// or before the origin, so rows for future targets can be built from the
// history alone. Value features are expressed relative to the base level (the
// mean of the last BaseWindow samples at the origin), which makes the trees
// independent of the series level; the base itself is a feature too.
type FeatureSpec struct {
	// Calendar adds minute of day, hour of day, day of week, month, year and
	// sin/cos encodings of the daily, weekly and yearly phase of the target.
	Calendar bool
	// NoYearly leaves month, year and the yearly phase at 0. Over a
	// history shorter than about two years they only index time, and the
	// trees would carry the last regime of the training window forward.
	NoYearly bool
	// Horizon adds the horizon in steps as a feature (one model for all
	// horizons).
	Horizon bool
	// Lags are recent lags counted back from the origin (0 = the last sample).
	Lags []int
	// SeasonalPeriods are seasonal periods (e.g. one day and one week in
	// steps). For each period P the features are the latest sample in the
	// same phase as the target that is known at the origin (target − kP for
	// the smallest k ≥ 1 with target − kP ≤ origin), and the mean of the
	// SeasonalDepth latest such samples.
	SeasonalPeriods []int
	// SeasonalDepth is the number of same-phase samples averaged; 0 means 3.
	SeasonalDepth int
	// Windows are rolling windows ending at the origin; each yields mean,
	// standard deviation, min and max.
	Windows []int
	// BaseWindow is the length of the base-level window; 0 means 1 (the
	// last sample).
	BaseWindow int
	// EventKinds lists the event kinds that become features: for each kind,
	// whether an event of that kind is active at the target, the steps since
	// the start of the latest such event that started at or before the
	// target, and the steps until the start of the next one after the target.
	// The distances are capped at EventHorizon steps.
	EventKinds []string
	// EventHorizon caps the event distance features; 0 means one week of
	// steps.
	EventHorizon int
}

// DefaultFeatureSpec returns a feature spec for a series with the given step:
// calendar, horizon, a few recent lags, daily and weekly seasonal lags,
// rolling windows of an hour, a quarter and a whole day, and the event kinds
// found in events.
func DefaultFeatureSpec(step time.Duration, events []Event) FeatureSpec {
	day := stepsPer(24*time.Hour, step)
	spec := FeatureSpec{
		Calendar:        true,
		Horizon:         true,
		Lags:            []int{0, 1, 2, 3, 5},
		SeasonalPeriods: []int{day, 7 * day},
		SeasonalDepth:   3,
		BaseWindow:      max(1, min(day/24, 12)),
		EventKinds:      EventKinds(events),
	}
	for _, w := range []int{max(2, day/24), max(4, day/4), day} {
		if !slices.Contains(spec.Windows, w) {
			spec.Windows = append(spec.Windows, w)
		}
	}
	return spec
}

// stepsPer returns how many steps make up d, at least 1.
func stepsPer(d, step time.Duration) int {
	if step <= 0 {
		return 1
	}
	return max(1, int(d/step))
}

// EventKinds returns the sorted distinct kinds of events ("" is kept as a
// kind of its own).
func EventKinds(events []Event) []string {
	var kinds []string
	for _, e := range events {
		if !slices.Contains(kinds, e.Kind) {
			kinds = append(kinds, e.Kind)
		}
	}
	sort.Strings(kinds)
	return kinds
}

// Names returns the column names BuildFeatures produces, in order.
func (spec FeatureSpec) Names() []string {
	var names []string
	if spec.Calendar {
		names = append(names, "minute_of_day", "hour_of_day", "day_of_week", "month", "year",
			"day_sin", "day_cos", "week_sin", "week_cos", "year_sin", "year_cos")
	}
	if spec.Horizon {
		names = append(names, "horizon")
	}
	names = append(names, "base")
	for _, l := range spec.Lags {
		names = append(names, "lag_"+strconv.Itoa(l))
	}
	for _, p := range spec.SeasonalPeriods {
		p := strconv.Itoa(p)
		names = append(names, "seasonal_"+p, "seasonal_mean_"+p)
	}
	for _, w := range spec.Windows {
		w := strconv.Itoa(w)
		names = append(names, "mean_"+w, "std_"+w, "min_"+w, "max_"+w)
	}
	for _, k := range spec.EventKinds {
		names = append(names, "event_active_"+k, "event_since_"+k, "event_until_"+k)
	}
	return names
}

// MaxLookback returns how many samples before the origin the value features
// read; origins earlier than that get NaN features.
func (spec FeatureSpec) MaxLookback() int {
	lb := max(1, spec.BaseWindow)
	for _, l := range spec.Lags {
		lb = max(lb, l+1)
	}
	for _, w := range spec.Windows {
		lb = max(lb, w)
	}
	for _, p := range spec.SeasonalPeriods {
		lb = max(lb, p*max(1, spec.depth()))
	}
	return lb
}

func (spec FeatureSpec) depth() int {
	if spec.SeasonalDepth <= 0 {
		return 3
	}
	return spec.SeasonalDepth
}

// BuildFeatures builds n feature rows for the origins t0, t0+1, …, t0+n−1 of
// s and the given horizon (the target of the row for origin o is sample
// o+horizon, possibly beyond the end of s). Origins must lie in
// [0, s.Len()). s is usually already scaled by a FeatureScaler. It returns
// the matrix and the column names.
func BuildFeatures(s Series, events []Event, spec FeatureSpec, t0, n, horizon int) (*Matrix, []string) {
	return newFeatureBuilder(s, events, spec).build(t0, n, horizon), spec.Names()
}

// featureBuilder builds rows for several horizons from one series with
// the prefix sums computed once.
type featureBuilder struct {
	s      Series
	events []Event
	spec   FeatureSpec
	names  []string
	pre    prefix                 // built on first use over the tail the origins need
	preOff int                    // first sample pre covers; -1 before the first build
	kinds  map[string]*eventIndex // by kind, built on first use
	// minmax caches the rolling minima and maxima of the origins, which do
	// not depend on the horizon: callers build one matrix per horizon
	// step over the same origins (60 steps of a 1-day window made a
	// hybrid prediction five times slower).
	minmax map[minMaxKey][2][]float64
}

type minMaxKey struct{ t0, n, w int }

// rollingMinMax is the package function, memoised per (t0, n, w).
func (fb *featureBuilder) rollingMinMax(t0, n, w int) (lo, hi []float64) {
	k := minMaxKey{t0, n, w}
	if r, ok := fb.minmax[k]; ok {
		return r[0], r[1]
	}
	lo, hi = rollingMinMax(fb.s.Values, t0, n, w)
	if fb.minmax == nil {
		fb.minmax = map[minMaxKey][2][]float64{}
	}
	fb.minmax[k] = [2][]float64{lo, hi}
	return lo, hi
}

func newFeatureBuilder(s Series, events []Event, spec FeatureSpec) *featureBuilder {
	return &featureBuilder{s: s, events: events, spec: spec, names: spec.Names(), preOff: -1}
}

// window returns the longest span of samples before and at an origin that
// the window and base features read.
func (spec FeatureSpec) window() int {
	w := max(1, spec.BaseWindow)
	for _, x := range spec.Windows {
		w = max(w, x)
	}
	return w
}

// prefixFor returns prefix sums covering every window that ends at an
// origin ≥ t0, built over the shortest tail that does (a prediction reads
// only the last day of a week-long lookback).
func (fb *featureBuilder) prefixFor(t0 int) prefix {
	from := max(0, t0-fb.spec.window()+1)
	if fb.preOff < 0 || fb.preOff > from {
		fb.pre, fb.preOff = newPrefixFrom(fb.s.Values, from), from
	}
	return fb.pre
}

func (fb *featureBuilder) build(t0, n, horizon int) *Matrix {
	s, events, spec, names := fb.s, fb.events, fb.spec, fb.names
	m := NewMatrix(max(n, 0), len(names))
	if n <= 0 {
		return m
	}
	if t0 < 0 || t0+n > s.Len() {
		panic(fmt.Sprintf("forecast: BuildFeatures: origins [%d,%d) outside series of %d", t0, t0+n, s.Len()))
	}
	pre := fb.prefixFor(t0)
	v := s.Values
	col := 0
	setc := func(i, c int, x float64) { m.Data[i*m.Cols+c] = x }
	set := func(i int, x float64) { setc(i, col, x) }

	if spec.Calendar {
		for i := 0; i < n; i++ {
			t := s.TimeAt(t0 + i + horizon)
			cal := calendarFeatures(t)
			if spec.NoYearly {
				cal[3], cal[4], cal[9], cal[10] = 0, 0, 0, 0
			}
			for j, x := range cal {
				m.Data[i*m.Cols+col+j] = x
			}
		}
		col += 11
	}
	if spec.Horizon {
		for i := 0; i < n; i++ {
			set(i, float64(horizon))
		}
		col++
	}
	bw := max(1, spec.BaseWindow)
	base := make([]float64, n)
	for i := range n {
		base[i] = pre.mean(t0+i-bw+1, t0+i+1)
		set(i, base[i])
	}
	col++
	for _, l := range spec.Lags {
		for i := range n {
			set(i, at(v, t0+i-l)-base[i])
		}
		col++
	}
	depth := spec.depth()
	for _, p := range spec.SeasonalPeriods {
		if p <= 0 {
			col += 2
			continue
		}
		k0, k1 := seasonalKs(horizon, p, depth)
		for i := range n {
			o := t0 + i
			tgt := o + horizon
			setc(i, col, at(v, tgt-k0*p)-base[i])
			sum, cnt := 0.0, 0
			for k := k0; k < k1; k++ {
				if x := at(v, tgt-k*p); !math.IsNaN(x) {
					sum += x
					cnt++
				}
			}
			mean := math.NaN()
			if cnt > 0 {
				mean = sum/float64(cnt) - base[i]
			}
			setc(i, col+1, mean)
		}
		col += 2
	}
	for _, w := range spec.Windows {
		lo, hi := fb.rollingMinMax(t0, n, w)
		for i := range n {
			o := t0 + i
			setc(i, col, pre.mean(o-w+1, o+1)-base[i])
			setc(i, col+1, pre.std(o-w+1, o+1))
			setc(i, col+2, lo[i]-base[i])
			setc(i, col+3, hi[i]-base[i])
		}
		col += 4
	}
	capSteps := spec.EventHorizon
	if capSteps <= 0 {
		capSteps = stepsPer(7*24*time.Hour, s.Step)
	}
	if len(spec.EventKinds) > 0 && fb.kinds == nil {
		fb.kinds = indexEvents(events, spec.EventKinds)
	}
	for _, kind := range spec.EventKinds {
		ix := fb.kinds[kind]
		for i := range n {
			t := s.TimeAt(t0 + i + horizon)
			active, since, until := ix.features(t, s.Step, capSteps)
			setc(i, col, active)
			setc(i, col+1, since)
			setc(i, col+2, until)
		}
		col += 3
	}
	return m
}

// Targets returns the n targets v[o+horizon] for origins o = t0…t0+n−1
// (NaN beyond the end of the series).
func Targets(s Series, t0, n, horizon int) []float64 {
	y := make([]float64, n)
	for i := range y {
		y[i] = at(s.Values, t0+i+horizon)
	}
	return y
}

// at returns v[i] or NaN when i is out of range.
func at(v []float64, i int) float64 {
	if i < 0 || i >= len(v) {
		return math.NaN()
	}
	return v[i]
}

func calendarFeatures(t time.Time) [11]float64 {
	minute := float64(t.Hour()*60 + t.Minute())
	dow := float64(t.Weekday())
	yday := float64(t.YearDay() - 1)
	dayPhase := 2 * math.Pi * minute / 1440
	weekPhase := 2 * math.Pi * (dow*1440 + minute) / (7 * 1440)
	yearPhase := 2 * math.Pi * yday / 365.25
	return [11]float64{
		minute, float64(t.Hour()), dow, float64(t.Month()), float64(t.Year()),
		math.Sin(dayPhase), math.Cos(dayPhase),
		math.Sin(weekPhase), math.Cos(weekPhase),
		math.Sin(yearPhase), math.Cos(yearPhase),
	}
}

// eventIndex holds the events of one kind sorted by start, with the latest
// end among each prefix, so that the event features of a row cost a
// binary search instead of a scan over every event.
type eventIndex struct {
	starts []time.Time // sorted
	maxEnd []time.Time // maxEnd[i]: the latest End among the events of starts[:i+1]
}

// indexEvents indexes the events of each of kinds.
func indexEvents(events []Event, kinds []string) map[string]*eventIndex {
	out := make(map[string]*eventIndex, len(kinds))
	for _, k := range kinds {
		out[k] = &eventIndex{}
	}
	byKind := map[string][]Event{}
	for _, e := range events {
		if _, ok := out[e.Kind]; ok {
			byKind[e.Kind] = append(byKind[e.Kind], e)
		}
	}
	for k, evs := range byKind {
		slices.SortFunc(evs, func(a, b Event) int { return a.Start.Compare(b.Start) })
		ix := out[k]
		ix.starts = make([]time.Time, len(evs))
		ix.maxEnd = make([]time.Time, len(evs))
		for i, e := range evs {
			ix.starts[i] = e.Start
			ix.maxEnd[i] = e.End
			if i > 0 && ix.maxEnd[i-1].After(e.End) {
				ix.maxEnd[i] = ix.maxEnd[i-1]
			}
		}
	}
	return out
}

// features returns, for the indexed events at time t: 1 if one is active
// (else 0), the steps since the start of the latest one started at or before
// t, and the steps until the start of the next one after t; distances are
// capped at capSteps (also when there is no such event). A nil index has no
// events.
func (ix *eventIndex) features(t time.Time, step time.Duration, capSteps int) (active, since, until float64) {
	since, until = float64(capSteps), float64(capSteps)
	if ix == nil || len(ix.starts) == 0 {
		return active, since, until
	}
	// j is the number of events started at or before t.
	j := sort.Search(len(ix.starts), func(i int) bool { return ix.starts[i].After(t) })
	if j > 0 {
		if ix.maxEnd[j-1].After(t) {
			active = 1
		}
		since = math.Min(since, float64(t.Sub(ix.starts[j-1]))/float64(step))
	}
	if j < len(ix.starts) {
		until = math.Min(until, -(float64(t.Sub(ix.starts[j])) / float64(step)))
	}
	return active, since, until
}

// prefix holds prefix sums of values, squares and counts that skip NaN,
// over v[off:]; indices are absolute (positions in v).
type prefix struct {
	off     int
	sum, sq []float64
	cnt     []int
}

func newPrefix(v []float64) prefix { return newPrefixFrom(v, 0) }

// newPrefixFrom covers v[off:] only: samples before off count as absent.
func newPrefixFrom(v []float64, off int) prefix {
	off = min(max(off, 0), len(v))
	v = v[off:]
	p := prefix{off: off, sum: make([]float64, len(v)+1), sq: make([]float64, len(v)+1), cnt: make([]int, len(v)+1)}
	for i, x := range v {
		p.sum[i+1], p.sq[i+1], p.cnt[i+1] = p.sum[i], p.sq[i], p.cnt[i]
		if !math.IsNaN(x) {
			p.sum[i+1] += x
			p.sq[i+1] += x * x
			p.cnt[i+1]++
		}
	}
	return p
}

// clip maps the absolute range [lo, hi) to indices of the sums.
func (p prefix) clip(lo, hi int) (int, int) {
	return max(lo-p.off, 0), min(max(hi-p.off, 0), len(p.cnt)-1)
}

// mean of the non-NaN samples in [lo, hi); NaN when there are none.
func (p prefix) mean(lo, hi int) float64 {
	lo, hi = p.clip(lo, hi)
	if hi <= lo {
		return math.NaN()
	}
	c := p.cnt[hi] - p.cnt[lo]
	if c == 0 {
		return math.NaN()
	}
	return (p.sum[hi] - p.sum[lo]) / float64(c)
}

// std is the population standard deviation of the non-NaN samples in
// [lo, hi).
func (p prefix) std(lo, hi int) float64 {
	lo, hi = p.clip(lo, hi)
	if hi <= lo {
		return math.NaN()
	}
	c := float64(p.cnt[hi] - p.cnt[lo])
	if c == 0 {
		return math.NaN()
	}
	m := (p.sum[hi] - p.sum[lo]) / c
	return math.Sqrt(math.Max(0, (p.sq[hi]-p.sq[lo])/c-m*m))
}

// rollingMinMax returns min and max of the non-NaN samples in the window of
// w samples ending at each origin t0…t0+n−1, with monotone deques.
func rollingMinMax(v []float64, t0, n, w int) (lo, hi []float64) {
	lo, hi = make([]float64, n), make([]float64, n)
	var qmin, qmax []int
	start := max(0, t0-w+1)
	next := start
	for i := range n {
		o := t0 + i
		for ; next <= o; next++ {
			x := v[next]
			if math.IsNaN(x) {
				continue
			}
			for len(qmin) > 0 && v[qmin[len(qmin)-1]] >= x {
				qmin = qmin[:len(qmin)-1]
			}
			qmin = append(qmin, next)
			for len(qmax) > 0 && v[qmax[len(qmax)-1]] <= x {
				qmax = qmax[:len(qmax)-1]
			}
			qmax = append(qmax, next)
		}
		for len(qmin) > 0 && qmin[0] <= o-w {
			qmin = qmin[1:]
		}
		for len(qmax) > 0 && qmax[0] <= o-w {
			qmax = qmax[1:]
		}
		lo[i], hi[i] = math.NaN(), math.NaN()
		if len(qmin) > 0 {
			lo[i] = v[qmin[0]]
		}
		if len(qmax) > 0 {
			hi[i] = v[qmax[0]]
		}
	}
	return lo, hi
}

// FeatureScaler maps values to a robust scale: optionally log1p (for
// non-negative counts), then centred on the median and divided by the
// interquartile range of the window it was fitted on. It is fitted on the
// training window only and applied unchanged later.
type FeatureScaler struct {
	Log1p  bool
	Median float64
	IQR    float64
}

// FitScaler fits a scaler on the non-NaN values. log1p is used when
// useLog1p is set and every value is non-negative.
func FitScaler(values []float64, useLog1p bool) FeatureScaler {
	var xs []float64
	nonNeg := true
	for _, x := range values {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		if x < 0 {
			nonNeg = false
		}
		xs = append(xs, x)
	}
	sc := FeatureScaler{Log1p: useLog1p && nonNeg, IQR: 1}
	if len(xs) == 0 {
		return sc
	}
	if sc.Log1p {
		for i, x := range xs {
			xs[i] = math.Log1p(x)
		}
	}
	sort.Float64s(xs)
	sc.Median = sortedQuantile(xs, 0.5)
	iqr := sortedQuantile(xs, 0.75) - sortedQuantile(xs, 0.25)
	if !(iqr > 1e-12) {
		// Fall back to the mean absolute deviation, then to 1.
		mad := 0.0
		for _, x := range xs {
			mad += math.Abs(x - sc.Median)
		}
		iqr = mad / float64(len(xs))
	}
	if iqr > 1e-12 {
		sc.IQR = iqr
	}
	return sc
}

// Apply maps a raw value to the scaled space.
func (sc FeatureScaler) Apply(x float64) float64 {
	if sc.Log1p {
		x = math.Log1p(math.Max(x, 0))
	}
	return (x - sc.Median) / sc.IQR
}

// Invert maps a scaled value back to the raw space.
func (sc FeatureScaler) Invert(z float64) float64 {
	x := z*sc.IQR + sc.Median
	if sc.Log1p {
		x = math.Expm1(x)
	}
	return x
}

// seasonalKs returns the period multiples [k0, k1) whose same-phase
// samples the seasonal features of horizon h read: target − k·p for the
// smallest k with target − k·p at or before the origin, and the depth−1
// periods before it.
func seasonalKs(h, p, depth int) (k0, k1 int) {
	k0 = (h + p - 1) / p
	return k0, k0 + depth
}

// ApplyForPrediction returns s scaled where the features of a forecast
// from its last sample up to horizon steps ahead read it — the last
// max(spec.window(), lags, tail) samples and the same-phase samples of the
// seasonal features — and NaN elsewhere, so that a week of lookback costs
// what the last day does. tail is what the caller reads itself (e.g. a
// local-scale window). Features built from it equal those built from
// ApplySeries(s) for that origin.
func (sc FeatureScaler) ApplyForPrediction(s Series, spec FeatureSpec, horizon, tail int) Series {
	n := len(s.Values)
	out := Series{Start: s.Start, Step: s.Step, Values: make([]float64, n)}
	dense := max(spec.window(), tail)
	for _, l := range spec.Lags {
		dense = max(dense, l+1)
	}
	from := max(0, n-dense)
	for i := range out.Values[:from] {
		out.Values[i] = math.NaN()
	}
	for i := from; i < n; i++ {
		out.Values[i] = sc.Apply(s.Values[i])
	}
	o := n - 1
	depth := spec.depth()
	for _, p := range spec.SeasonalPeriods {
		if p <= 0 {
			continue
		}
		for h := 1; h <= horizon; h++ {
			k0, k1 := seasonalKs(h, p, depth)
			for k := k0; k < k1; k++ {
				if i := o + h - k*p; i >= 0 && i < from {
					out.Values[i] = sc.Apply(s.Values[i])
				}
			}
		}
	}
	return out
}

// ApplySeries returns a copy of s with every value scaled.
func (sc FeatureScaler) ApplySeries(s Series) Series {
	out := Series{Start: s.Start, Step: s.Step, Values: make([]float64, len(s.Values))}
	for i, x := range s.Values {
		out.Values[i] = sc.Apply(x)
	}
	return out
}

// sortedQuantile returns the q-quantile of sorted xs by linear
// interpolation (xs non-empty).
func sortedQuantile(xs []float64, q float64) float64 {
	if len(xs) == 1 {
		return xs[0]
	}
	pos := q * float64(len(xs)-1)
	i := int(math.Floor(pos))
	if i >= len(xs)-1 {
		return xs[len(xs)-1]
	}
	f := pos - float64(i)
	return xs[i]*(1-f) + xs[i+1]*f
}
