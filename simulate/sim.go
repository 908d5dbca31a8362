// Package simulate replays an activity trace through a simple service
// model and compares allocation policies side by side: reactive
// (HPA-like), predictive (forecast upper bound with fixed headroom),
// predictive with the learned policy (package policy), and an oracle with
// perfect foresight (the lower bound on cost).
//
// Service model: the load of step i is served by the replicas that are
// ready during that step, each serving Capacity load units; a replica
// started at step i is paid from step i and serves from step i+d
// (d = ⌈Startup/Step⌉); a removed replica stops immediately. Every
// controller decides at the start of step i from the loads up to step i−1
// (one step of metric lag). A step is under-provisioned when its load
// exceeds the ready capacity; the excess is unserved demand.
//
// The package is pure computation: traces come in through io.Reader, the
// SVG goes out through io.Writer.
package simulate

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"time"

	"github.com/shadowcast/shadowcast/feedback"
	"github.com/shadowcast/shadowcast/forecast"
	"github.com/shadowcast/shadowcast/policy"
)

// Policy names, in report order.
const (
	PolicyReactive   = "reactive"
	PolicyPredictive = "predictive"
	PolicyLearned    = "predictive+learned"
	PolicyOracle     = "oracle"
)

// Options configures Run. Zero values take the defaults.
type Options struct {
	// Capacity is the load one ready replica serves per step, in the
	// trace's unit. Required.
	Capacity float64
	// Startup is the delay before a new replica serves (default 5m).
	Startup time.Duration
	// TargetUtilization of the reactive policy (default 0.8), as the HPA's
	// target average utilisation.
	TargetUtilization float64
	// Tolerance of the reactive policy: no change while the usage ratio
	// is within 1±Tolerance (default 0.1, the HPA default).
	Tolerance float64
	// Stabilization is the scale-down stabilisation window of the reactive
	// and predictive policies (default 5m): the replica count is the
	// maximum recommendation over the window.
	Stabilization time.Duration
	// MinReplicas (default 1) and MaxReplicas (0: unbounded) bound every
	// policy.
	MinReplicas, MaxReplicas int
	// CostPerReplicaHour prices replica-hours (default 1).
	CostPerReplicaHour float64

	// Model forecasts the load for the predictive policies. Required.
	Model forecast.Model
	// Level is the confidence of the forecast bounds (default 0.9).
	Level float64
	// Window is the number of most recent samples the model is fitted on
	// (default 7 days of steps).
	Window int
	// Refit is the interval between refits (default 1h); in between the
	// fitted predictor forecasts incrementally every step.
	Refit time.Duration
	// Smooth, when longer than one step, makes the model forecast the
	// trailing mean of the load over Smooth (a causal moving average: only
	// past values) instead of the raw load; controllers, scores and the
	// service model still see the raw load.
	Smooth time.Duration
	// Headroom scales the forecast's margin above the point in the
	// predictive policy: it provisions point + Headroom·(upper − point)
	// (default 1: the upper bound).
	Headroom float64

	// TrainFraction is the leading share of the trace on which the learned
	// policy trains (default 0.5). Every policy is reported on the rest
	// only, so all numbers are out of sample for the learned policy.
	TrainFraction float64
	// Policy configures the learned policy.
	Policy policy.Options
	// Epoch is how long a learned-policy decision holds (default 15m,
	// at least one step).
	Epoch time.Duration
	// Passes is the number of training passes over the training part
	// (default 3).
	Passes int
	// Arms is the arm set of the learned policy (ArmsDefault, ArmsFine or
	// ArmsQuantile) when Policy.Arms is empty and Tune is not set.
	Arms string
	// Tune, when not empty, chooses λ and the arm set of the learned
	// policy among these candidates on the training part only (inner
	// split: train on its first half, validate on its second half; see
	// TuneRule); Policy.Lambda and Arms are then ignored.
	Tune []Candidate
}

func (o *Options) setDefaults(step time.Duration) error {
	if !(o.Capacity > 0) {
		return errors.New("simulate: capacity must be positive")
	}
	if o.Model == nil {
		return errors.New("simulate: no forecasting model")
	}
	if o.Startup < 0 || o.Stabilization < 0 {
		return errors.New("simulate: negative duration")
	}
	if o.Startup == 0 {
		o.Startup = 5 * time.Minute
	}
	if o.TargetUtilization <= 0 || o.TargetUtilization > 1 {
		o.TargetUtilization = 0.8
	}
	if o.Tolerance <= 0 {
		o.Tolerance = 0.1
	}
	if o.Stabilization == 0 {
		o.Stabilization = 5 * time.Minute
	}
	if o.MinReplicas <= 0 {
		o.MinReplicas = 1
	}
	if o.MaxReplicas > 0 && o.MaxReplicas < o.MinReplicas {
		return errors.New("simulate: max replicas below min replicas")
	}
	if o.CostPerReplicaHour <= 0 {
		o.CostPerReplicaHour = 1
	}
	if o.Level <= 0 || o.Level >= 1 {
		o.Level = 0.9
	}
	if o.Window <= 0 {
		o.Window = int(7 * 24 * time.Hour / step)
	}
	if o.Refit <= 0 {
		o.Refit = time.Hour
	}
	if o.Headroom <= 0 {
		o.Headroom = 1
	}
	if o.TrainFraction <= 0 || o.TrainFraction >= 1 {
		o.TrainFraction = 0.5
	}
	if o.Epoch <= 0 {
		o.Epoch = 15 * time.Minute
	}
	if o.Passes <= 0 {
		o.Passes = 3
	}
	return nil
}

// steps converts a duration to whole steps, rounding up.
func steps(d, step time.Duration) int { return int((d + step - 1) / step) }

// PolicyResult is what one policy did over the evaluation part.
type PolicyResult struct {
	Name string
	// UnderProvisionedMinutes: time during which the load exceeded the
	// ready capacity.
	UnderProvisionedMinutes float64
	// UnderProvisionedRatio: the same as a share of the evaluated time.
	UnderProvisionedRatio float64
	// UnservedRatio: unserved load over total load.
	UnservedRatio float64
	// ReplicaHours: replicas paid (starting or ready) × hours.
	ReplicaHours float64
	Cost         float64
	// ScalingActions: steps at which the replica count changed.
	ScalingActions int
	// UnderVsReactive and HoursVsReactive are relative changes against the
	// reactive policy (−0.8 = 80 % fewer; +0.1 = 10 % more).
	UnderVsReactive float64
	HoursVsReactive float64

	capacity []float64 // ready capacity per step (for plots)
}

// ForecastResult describes the forecasts the predictive policies used,
// scored by feedback.Tracker at the lead horizon over the evaluation part.
type ForecastResult struct {
	Model    string
	Lead     time.Duration
	Refits   int
	Missing  int // evaluated steps without a (usable) forecast
	Unusable int // forecasts rejected as not finite or implausible (see MaxForecastRatio)
	MAE      float64
	MASE     float64
	SMAPE    float64
	Coverage float64
	Level    float64
}

// LearnedResult describes the learned policy.
type LearnedResult struct {
	TrainFrom, TrainTo time.Time
	TrainEpochs        int
	ArmsChosen         map[string]int // arm → evaluation epochs
	// Examples holds a few explained evaluation decisions.
	Examples []string
}

// Result is the outcome of Run.
type Result struct {
	Start    time.Time
	Step     time.Duration
	Samples  int
	EvalFrom time.Time
	EvalTo   time.Time
	Options  ResultOptions
	Forecast ForecastResult
	Learned  LearnedResult
	// Tuning is set when the learned policy's setting was chosen on the
	// training part (Options.Tune).
	Tuning *TuneResult
	// SmoothTuning, set by the caller of SelectSmoothing, is the best
	// validation row of each smoothing span tried.
	SmoothTuning []SmoothRow
	Policies     []PolicyResult

	pol        *policy.Policy
	load       []float64 // the trace
	lower      []float64 // forecast band at the lead horizon, by target step
	upper      []float64
	evalOffset int
}

// ResultOptions echoes the effective options.
type ResultOptions struct {
	Capacity          float64
	Startup           time.Duration
	TargetUtilization float64
	Stabilization     time.Duration
	MinReplicas       int
	MaxReplicas       int
	Headroom          float64
	Smooth            time.Duration
	Lambda            float64
	Arms              string
	Epoch             time.Duration
	Passes            int
	UncertaintyEdges  []float64
}

// shadows holds, per decision step i, the forecast made from the history
// up to step i−1 for steps i … i+lead (h = lead+1 values each, flattened:
// point[i*h+k−1] is for step i−1+k), and the lower bound at the lead step.
type shadows struct {
	h         int
	ok        []bool
	point     []float64
	upper     []float64
	peakPoint []float64
	leadPoint []float64
	leadUpper []float64
	leadLower []float64
}

// provision returns max over k of point_k + margin·(upper_k − point_k):
// the load to provision for at decision step i.
func (sh *shadows) provision(i int, margin float64) float64 {
	out := math.Inf(-1)
	for k := range sh.h {
		p, u := sh.point[i*sh.h+k], sh.upper[i*sh.h+k]
		out = math.Max(out, p+margin*(u-p))
	}
	return out
}

// Forecasts holds the forecaster's output over a trace. It does not
// depend on the allocation policies, so one Forecasts can be replayed
// with several policy settings (see Replay).
type Forecasts struct {
	s         forecast.Series
	opts      Options // forecasting options it was computed with
	sh        *shadows
	fres      ForecastResult
	d         int
	evalStart int
}

// Run forecasts over s and simulates every policy (Forecast then Replay).
func Run(s forecast.Series, opts Options) (*Result, error) {
	f, err := Forecast(s, opts)
	if err != nil {
		return nil, err
	}
	return Replay(f, opts)
}

// Forecast runs the model over s as the predictive policies see it:
// refitted every opts.Refit on a sliding window, predicting every step.
func Forecast(s forecast.Series, opts Options) (*Forecasts, error) {
	if s.Len() < 10 || s.Step <= 0 {
		return nil, errors.New("simulate: trace too short")
	}
	if err := opts.setDefaults(s.Step); err != nil {
		return nil, err
	}
	n := s.Len()
	d := steps(opts.Startup, s.Step)
	evalStart := int(float64(n) * opts.TrainFraction)
	if evalStart < 1 || evalStart >= n-1 {
		return nil, errors.New("simulate: train fraction leaves nothing to evaluate")
	}
	sh, fres, err := precompute(s, opts, d, evalStart)
	if err != nil {
		return nil, err
	}
	return &Forecasts{s: s, opts: opts, sh: sh, fres: fres, d: d, evalStart: evalStart}, nil
}

// Replay simulates every policy over the trace of f. The forecasting
// options of opts (Model, Level, Window, Refit, Startup, TrainFraction)
// must be those f was computed with.
func Replay(f *Forecasts, opts Options) (*Result, error) {
	s := f.s
	if err := opts.setDefaults(s.Step); err != nil {
		return nil, err
	}
	if err := f.check(opts); err != nil {
		return nil, err
	}
	n, d, evalStart, sh, fres := s.Len(), f.d, f.evalStart, f.sh, f.fres
	res := &Result{
		Start: s.Start, Step: s.Step, Samples: n, EvalFrom: s.TimeAt(evalStart), EvalTo: s.End(),
		Forecast: fres, load: s.Values, evalOffset: evalStart,
	}
	res.lower = make([]float64, n)
	res.upper = make([]float64, n)
	for i := range res.lower {
		res.lower[i], res.upper[i] = math.NaN(), math.NaN()
	}
	for i := range n {
		if sh.ok[i] && i+d < n {
			res.lower[i+d], res.upper[i+d] = sh.leadLower[i], sh.leadUpper[i]
		}
	}

	env := &env{s: s, opts: opts, d: d, sh: sh, evalStart: evalStart}
	reactive := env.run(&reactiveCtl{env: env}, nil, n)
	predictive := env.run(&predictiveCtl{env: env, headroom: opts.Headroom, window: steps(opts.Stabilization, s.Step)}, nil, n)

	epoch := max(steps(opts.Epoch, s.Step), 1)
	chosen := Candidate{Lambda: opts.Policy.Lambda, Arms: opts.Arms}
	if len(opts.Policy.Arms) > 0 {
		chosen.Arms = armsExplicit
	}
	if len(opts.Tune) > 0 {
		tr, err := tune(env, opts, epoch)
		if err != nil {
			return nil, err
		}
		res.Tuning, chosen = tr, tr.Chosen
	}
	learned, pol, lc, err := trainAndEval(env, opts, chosen, epoch, evalStart, n)
	if err != nil {
		return nil, err
	}
	oracle := env.run(&oracleCtl{env: env}, nil, n)

	reactive.Name, predictive.Name, learned.Name, oracle.Name = PolicyReactive, PolicyPredictive, PolicyLearned, PolicyOracle
	res.Policies = []PolicyResult{reactive, predictive, learned, oracle}
	for i := range res.Policies {
		p := &res.Policies[i]
		p.UnderVsReactive = relChange(p.UnderProvisionedMinutes, reactive.UnderProvisionedMinutes)
		p.HoursVsReactive = relChange(p.ReplicaHours, reactive.ReplicaHours)
	}
	res.Learned = LearnedResult{
		TrainFrom: s.Start, TrainTo: s.TimeAt(evalStart - 1), TrainEpochs: pol.Epochs(),
		ArmsChosen: lc.chosen, Examples: lc.examples,
	}
	res.pol = pol
	res.Options = ResultOptions{
		Capacity: opts.Capacity, Startup: opts.Startup, TargetUtilization: opts.TargetUtilization,
		Stabilization: opts.Stabilization, MinReplicas: opts.MinReplicas, MaxReplicas: opts.MaxReplicas,
		Headroom: opts.Headroom, Smooth: opts.Smooth, Lambda: pol.Options().Lambda, Arms: chosen.Arms,
		Epoch: time.Duration(chosen.epochSteps(s.Step, epoch)) * s.Step, Passes: opts.Passes,
		UncertaintyEdges: pol.Options().UncertaintyEdges,
	}
	return res, nil
}

// check reports whether opts has the forecasting options f was computed
// with.
func (f *Forecasts) check(opts Options) error {
	o := f.opts
	if opts.Level != o.Level || opts.Window != o.Window || opts.Refit != o.Refit || opts.Startup != o.Startup ||
		opts.TrainFraction != o.TrainFraction || opts.Smooth != o.Smooth {
		return errors.New("simulate: replay options differ from the forecasting options")
	}
	return nil
}

func relChange(v, ref float64) float64 {
	if ref == 0 {
		if v == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return v/ref - 1
}

// precompute runs the forecaster once over the trace (it does not depend
// on the policy) and scores it with a feedback.Tracker at the lead horizon.
func precompute(s forecast.Series, opts Options, d, evalStart int) (*shadows, ForecastResult, error) {
	n := s.Len()
	h := d + 1
	sh := &shadows{
		h: h, ok: make([]bool, n), point: make([]float64, n*h), upper: make([]float64, n*h), peakPoint: make([]float64, n),
		leadPoint: make([]float64, n), leadUpper: make([]float64, n), leadLower: make([]float64, n),
	}
	refit := max(steps(opts.Refit, s.Step), 1)
	refits := 0
	counting := countingModel{Model: opts.Model, fits: &refits}
	f := feedback.RollingForecaster(counting, feedback.RollingOptions{
		Spec: forecast.Spec{Horizon: h, Level: opts.Level}, Window: opts.Window, RefitEvery: refit,
	})
	lead := time.Duration(h) * s.Step
	tr, err := feedback.NewTracker(feedback.TrackerOptions{Step: s.Step, Season: seasonFor(s.Step), Window: n})
	if err != nil {
		return nil, ForecastResult{}, err
	}
	fres := ForecastResult{Model: opts.Model.Name(), Lead: lead, Level: opts.Level}
	var lastFail int = -refit
	maxSeen := 0.0 // largest load observed so far
	fs := s
	if k := steps(opts.Smooth, s.Step); k > 1 {
		fs = trailingMean(s, k)
	}
	for i := 1; i <= n; i++ {
		// Feed the actual of step i−1 (all of them, so that the MASE
		// scale covers the history), then forecast from it.
		tr.Observe("trace", s.TimeAt(i-1), s.Values[i-1])
		if i == n {
			break
		}
		if i-lastFail < refit && !counting.ready() {
			// The model could not be fitted recently: retry at the refit interval.
			continue
		}
		fc, err := f(fs.Slice(0, i))
		if err != nil || len(fc.Point) < h || len(fc.Upper) < h || len(fc.Lower) < h {
			lastFail = i
			continue
		}
		if v := s.Values[i-1]; !math.IsNaN(v) {
			maxSeen = math.Max(maxSeen, v)
		}
		if !usable(fc, h, maxSeen) {
			fres.Unusable++
			continue
		}
		sh.ok[i] = true
		pp, _ := fc.Peak(h)
		sh.peakPoint[i] = pp
		copy(sh.point[i*h:(i+1)*h], fc.Point[:h])
		copy(sh.upper[i*h:(i+1)*h], fc.Upper[:h])
		sh.leadPoint[i], sh.leadUpper[i], sh.leadLower[i] = fc.Point[h-1], fc.Upper[h-1], fc.Lower[h-1]
		if i-1 >= evalStart-h {
			tr.Record("trace", lead, s.TimeAt(i-1), fc.Point[h-1], fc.Lower[h-1], fc.Upper[h-1])
		}
	}
	for i := evalStart; i < n; i++ {
		if !sh.ok[i] {
			fres.Missing++
		}
	}
	sc := tr.Scores("trace", lead)
	fres.Refits, fres.MAE, fres.MASE, fres.SMAPE, fres.Coverage = refits, sc.MAE, sc.MASE, sc.SMAPE, sc.Coverage
	return sh, fres, nil
}

// trailingMean returns the series of the mean of the last k non-missing
// values up to each step (NaN when all k are missing).
func trailingMean(s forecast.Series, k int) forecast.Series {
	out := forecast.Series{Start: s.Start, Step: s.Step, Values: make([]float64, len(s.Values))}
	sum, cnt := 0.0, 0
	for i, v := range s.Values {
		if !math.IsNaN(v) {
			sum += v
			cnt++
		}
		if j := i - k; j >= 0 && !math.IsNaN(s.Values[j]) {
			sum -= s.Values[j]
			cnt--
		}
		out.Values[i] = math.NaN()
		if cnt > 0 {
			out.Values[i] = sum / float64(cnt)
		}
	}
	return out
}

// uncertainty is the relative margin of the forecast above its point at
// the lead step of decision step i.
func (sh *shadows) uncertainty(i int) float64 {
	p := math.Max(sh.leadPoint[i], 1e-9)
	return (sh.leadUpper[i] - sh.leadPoint[i]) / p
}

// uncertaintyTerciles returns the terciles of the forecast uncertainty at
// the epoch starts of the training part, so that each uncertainty bucket
// of the learned policy sees about a third of the epochs (nil when there
// are too few forecasts: the policy's defaults apply).
func uncertaintyTerciles(sh *shadows, epoch, end int) []float64 {
	var u []float64
	for i := 0; i < end; i += epoch {
		if sh.ok[i] {
			if v := sh.uncertainty(i); !math.IsNaN(v) && !math.IsInf(v, 0) {
				u = append(u, v)
			}
		}
	}
	if len(u) < 30 {
		return nil
	}
	sort.Float64s(u)
	a, b := u[len(u)/3], u[2*len(u)/3]
	if !(b > a) {
		return nil
	}
	return []float64{a, b}
}

// replicasFor returns ⌈load / perReplica⌉ clamped to [0, 2^30] (a float
// conversion out of int range is undefined).
func replicasFor(load, perReplica float64) int {
	r := math.Ceil(load/perReplica - 1e-9)
	switch {
	case !(r > 0):
		return 0
	case r > 1<<30:
		return 1 << 30
	}
	return int(r)
}

// MaxForecastRatio bounds a usable forecast: a point or upper bound above
// MaxForecastRatio × the largest load observed so far (or one that is not
// finite) is treated as a failed forecast, and the predictive policies
// fall back to the reactive rule for that step. Conformal bounds scaled by
// a near-zero local scale (after an outage of zeros) can otherwise reach
// 1e27.
const MaxForecastRatio = 10

func usable(fc forecast.Forecast, h int, maxSeen float64) bool {
	limit := MaxForecastRatio * math.Max(maxSeen, 1)
	for k := range h {
		for _, v := range []float64{fc.Point[k], fc.Upper[k]} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v > limit {
				return false
			}
		}
	}
	return true
}

// seasonFor is one day when the step divides it, else the step.
func seasonFor(step time.Duration) time.Duration {
	if (24*time.Hour)%step == 0 {
		return 24 * time.Hour
	}
	return step
}

// countingModel counts successful fits.
type countingModel struct {
	forecast.Model
	fits *int
}

func (m countingModel) Fit(s forecast.Series, spec forecast.Spec) (forecast.Predictor, error) {
	p, err := m.Model.Fit(s, spec)
	if err == nil {
		*m.fits++
	}
	return p, err
}

func (m countingModel) ready() bool { return *m.fits > 0 }

// env is the shared simulation environment.
type env struct {
	s         forecast.Series
	opts      Options
	d         int
	sh        *shadows
	evalStart int
}

// need is the replicas the load of step i needs at full utilisation.
func (e *env) need(i int) int {
	v := e.s.Values[i]
	if math.IsNaN(v) || v <= 0 {
		return 0
	}
	return replicasFor(v, e.opts.Capacity)
}

// observed returns the latest known load at decision step i (from step
// i−1 back to the last non-missing one) or NaN.
func (e *env) observed(i int) float64 {
	for j := i - 1; j >= 0 && j >= i-60; j-- {
		if v := e.s.Values[j]; !math.IsNaN(v) {
			return v
		}
	}
	return math.NaN()
}

func (e *env) bounds() policy.Bounds {
	return policy.Bounds{Min: e.opts.MinReplicas, Max: e.opts.MaxReplicas}
}

// controller decides the replica count at the start of step i; cur is the
// number of replicas paid for (ready or starting). ok=false keeps cur.
type controller interface {
	target(i, cur int) (n int, ok bool)
}

// observer is told what each step cost (the learned policy learns from it).
type observer interface {
	step(i, paid, need int, load, capacity float64)
}

// fleet tracks replicas: ready ones and the steps at which starting ones
// become ready (ascending).
type fleet struct {
	ready    int
	starting []int
}

func (f *fleet) paid() int { return f.ready + len(f.starting) }

func (f *fleet) set(n, i, d int) bool {
	cur := f.paid()
	switch {
	case n > cur:
		for range n - cur {
			f.starting = append(f.starting, i+d)
		}
	case n < cur:
		drop := cur - n
		// Cancel the replicas that would be ready last first, then ready ones.
		k := min(drop, len(f.starting))
		f.starting = f.starting[:len(f.starting)-k]
		f.ready -= drop - k
	default:
		return false
	}
	return true
}

func (f *fleet) advance(i int) {
	k := 0
	for k < len(f.starting) && f.starting[k] <= i {
		k++
	}
	f.ready += k
	f.starting = f.starting[k:]
}

// run simulates one controller over the whole trace and accounts the
// evaluation part.
func (e *env) run(c controller, obs observer, end int) PolicyResult {
	n := e.s.Len()
	var res PolicyResult
	res.capacity = make([]float64, n)
	f := &fleet{ready: e.bounds().Apply(e.need(0), e.need(0))}
	var under, evalSteps int
	var unserved, demand, paidSteps float64
	stepMin := e.s.Step.Minutes()
	for i := range end {
		if i > 0 {
			if t, ok := c.target(i, f.paid()); ok {
				t = e.bounds().Apply(t, 0)
				if f.set(t, i, e.d) && i >= e.evalStart {
					res.ScalingActions++
				}
			}
		}
		f.advance(i)
		capacity := float64(f.ready) * e.opts.Capacity
		res.capacity[i] = capacity
		load := e.s.Values[i]
		if obs != nil {
			obs.step(i, f.paid(), e.need(i), load, capacity)
		}
		if i < e.evalStart || math.IsNaN(load) {
			continue
		}
		evalSteps++
		paidSteps += float64(f.paid())
		demand += load
		if load > capacity {
			under++
			unserved += load - capacity
		}
	}
	res.UnderProvisionedMinutes = float64(under) * stepMin
	if evalSteps > 0 {
		res.UnderProvisionedRatio = float64(under) / float64(evalSteps)
	}
	if demand > 0 {
		res.UnservedRatio = unserved / demand
	}
	res.ReplicaHours = paidSteps * e.s.Step.Hours()
	res.Cost = res.ReplicaHours * e.opts.CostPerReplicaHour
	return res
}

// stabilizer returns the maximum recommendation over the last w steps.
type stabilizer struct {
	recs []int // recommendation at step i is recs[i % len]
	at   []int
}

func (s *stabilizer) push(i, rec, w int) int {
	if w < 1 {
		w = 1
	}
	if len(s.recs) < 4096 {
		s.recs, s.at = make([]int, 4096), make([]int, 4096)
		for k := range s.at {
			s.at[k] = -1
		}
	}
	size := len(s.recs)
	s.recs[i%size], s.at[i%size] = rec, i
	out := rec
	for j := i - 1; j > i-w && j >= 0 && i-j < size; j-- {
		if s.at[j%size] == j {
			out = max(out, s.recs[j%size])
		}
	}
	return out
}

// reactiveCtl is the HPA algorithm on the observed load.
type reactiveCtl struct {
	env  *env
	stab stabilizer
}

func (c *reactiveCtl) target(i, cur int) (int, bool) {
	e := c.env
	load := e.observed(i)
	if math.IsNaN(load) {
		return 0, false
	}
	per := e.opts.Capacity * e.opts.TargetUtilization
	rec := replicasFor(load, per)
	if cur > 0 {
		if ratio := load / (float64(cur) * per); math.Abs(ratio-1) <= e.opts.Tolerance {
			rec = cur
		}
	}
	return c.stab.push(i, rec, steps(e.opts.Stabilization, e.s.Step)), true
}

// predictiveCtl provisions, over the steps until a replica started now is
// ready, the maximum of point + headroom·(upper − point) of the forecast
// (headroom 1: the upper bound), never below what the observed load
// needs; it falls back to the reactive rule while no forecast is
// available.
type predictiveCtl struct {
	env      *env
	headroom float64
	window   int
	stab     stabilizer
	fallback reactiveCtl
}

func (c *predictiveCtl) recommend(i, cur int, headroom float64) (int, bool) {
	e := c.env
	load := e.observed(i)
	if math.IsNaN(load) {
		return 0, false
	}
	if !e.sh.ok[i] {
		c.fallback.env = e
		return c.fallback.target(i, cur)
	}
	rec := replicasFor(e.sh.provision(i, headroom), e.opts.Capacity)
	needNow := replicasFor(load, e.opts.Capacity)
	return max(rec, needNow), true
}

func (c *predictiveCtl) target(i, cur int) (int, bool) {
	rec, ok := c.recommend(i, cur, c.headroom)
	if !ok {
		return 0, false
	}
	return c.stab.push(i, rec, c.window), true
}

// oracleCtl knows the future: it pays for exactly the replicas the load of
// steps i … i+d needs at full utilisation (a replica serving step j must
// have been started at j−d).
type oracleCtl struct{ env *env }

func (c *oracleCtl) target(i, _ int) (int, bool) {
	e := c.env
	n := 0
	for j := i; j <= i+e.d && j < e.s.Len(); j++ {
		n = max(n, e.need(j))
	}
	return n, true
}

// learnedCtl is the predictive controller whose headroom and scale-down
// delay come from the learned policy, one decision per epoch, run by a
// policy.Learner (the same code the engine runs online).
type learnedCtl struct {
	env     *env
	learner *policy.Learner
	pred    predictiveCtl

	chosen   map[string]int
	examples []string
}

func newLearnedCtl(e *env, pol *policy.Policy, epoch int, explore bool) (*learnedCtl, error) {
	l, err := policy.NewLearner(pol, policy.LearnerOptions{
		Epoch: time.Duration(epoch) * e.s.Step, Step: e.s.Step, Delay: time.Duration(e.d) * e.s.Step, Explore: explore,
	})
	if err != nil {
		return nil, err
	}
	return &learnedCtl{env: e, learner: l, pred: predictiveCtl{env: e}}, nil
}

func (c *learnedCtl) target(i, cur int) (int, bool) {
	e := c.env
	ctx := policy.Context{Time: e.s.TimeAt(i)}
	if e.sh.ok[i] {
		ctx.Uncertainty = e.sh.uncertainty(i)
		if obs := e.observed(i); obs > 0 {
			ctx.Trend = (e.sh.peakPoint[i] - obs) / obs
		}
	}
	d, fresh := c.learner.Decide(ctx)
	if fresh && i >= e.evalStart && c.chosen != nil {
		c.chosen[d.Arm.String()]++
		if len(c.examples) < 5 && len(c.chosen) > 0 && sumCounts(c.chosen)%97 == 1 {
			c.examples = append(c.examples, e.s.TimeAt(i).Format(time.RFC3339)+" "+d.Explain())
		}
	}
	rec, ok := c.pred.recommend(i, cur, d.Arm.Headroom)
	if !ok {
		return 0, false
	}
	return c.pred.stab.push(i, rec, max(steps(d.Arm.ScaleDownDelay, e.s.Step), 1)), true
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func (c *learnedCtl) step(i, paid, need int, load, capacity float64) {
	if math.IsNaN(load) {
		return
	}
	st := policy.Step{At: c.env.s.TimeAt(i), Paid: float64(paid), Needed: float64(need), Demand: load}
	if load > capacity {
		st.Violated = true
		st.Unserved = load - capacity
	}
	c.learner.Observe(st)
}

// PolicyState writes the trained policy's state (see policy.Policy.WriteTo).
func (r *Result) PolicyState(w io.Writer) error {
	_, err := r.pol.WriteTo(w)
	return err
}

// String renders the options for logs.
func (o ResultOptions) String() string {
	return fmt.Sprintf("capacity=%g startup=%v target_utilization=%g stabilization=%v headroom=%g",
		o.Capacity, o.Startup, o.TargetUtilization, o.Stabilization, o.Headroom)
}

// Coverage returns the interval coverage of the forecasts at the lead
// horizon over the evaluation part.
func (f *Forecasts) Coverage() float64 { return f.fres.Coverage }
