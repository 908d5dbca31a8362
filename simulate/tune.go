package simulate

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shadowcast/shadowcast/forecast"
	"github.com/shadowcast/shadowcast/policy"
)

// Arm sets a Candidate can use.
const (
	// ArmsDefault: policy.DefaultArms (headroom 0.25 … 1.25 in steps of
	// 0.25 × scale-down delay 1m, 5m, 15m).
	ArmsDefault = "default"
	// ArmsFine: headroom 0 … 1 in steps of 0.125, then 1.25 and 1.5, ×
	// the same delays.
	ArmsFine = "fine"
	// ArmsLong: the ArmsFine headrooms × scale-down delay 1m, 5m, 15m,
	// 30m, 60m (holding capacity longer after bursts).
	ArmsLong = "long"
	// ArmsQuantile: headroom defined as a quantile level of the forecast
	// error rather than a multiple of the interval: the level-q arm uses
	// the q-quantile of the normalised lead-step residual
	// (actual − point) / (upper − point) observed on the data the policy
	// trains on (QuantileLevels), × the same delays.
	ArmsQuantile = "quantile"
)

// QuantileLevels are the levels of the ArmsQuantile arm set.
var QuantileLevels = []float64{0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99}

// armsExplicit marks a candidate whose arms are Options.Policy.Arms.
const armsExplicit = "explicit"

var armDelays = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}

// Candidate is one setting of the learned policy that the tuning compares.
type Candidate struct {
	// Lambda weighs violations against cost in the reward.
	Lambda float64
	// Arms is ArmsDefault, ArmsFine or ArmsQuantile.
	Arms string
	// Epoch is how long one decision holds; 0: Options.Epoch.
	Epoch time.Duration
}

func (c Candidate) String() string {
	if c.Epoch > 0 {
		return fmt.Sprintf("lambda=%g,arms=%s,epoch=%v", c.Lambda, c.Arms, c.Epoch)
	}
	return fmt.Sprintf("lambda=%g,arms=%s", c.Lambda, c.Arms)
}

// DefaultGrid is the tuning grid of `shadowcast simulate` (ParseCandidates).
const DefaultGrid = "lambdas=2,3,4,6,8,12,16,32 arms=default,fine,long,quantile epochs=5m,15m,30m,1h"

// arms returns the candidate's arms; quantile arms are calibrated on the
// decision steps [0, end).
func (c Candidate) arms(sh *shadows, load []float64, d, end int) ([]policy.Arm, error) {
	var hs []float64
	delays := armDelays
	switch c.Arms {
	case armsExplicit:
		return nil, nil // Options.Policy.Arms
	case "", ArmsDefault:
		return policy.DefaultArms(), nil
	case ArmsFine, ArmsLong:
		for k := 0; k <= 8; k++ {
			hs = append(hs, float64(k)/8)
		}
		hs = append(hs, 1.25, 1.5)
		if c.Arms == ArmsLong {
			delays = append(slices.Clone(armDelays), 30*time.Minute, time.Hour)
		}
	case ArmsQuantile:
		z := normalisedResiduals(sh, load, d, end)
		if len(z) < 100 {
			return nil, fmt.Errorf("simulate: %d forecast residuals in the training part, too few for quantile arms", len(z))
		}
		sort.Float64s(z)
		for _, q := range QuantileLevels {
			h := math.Max(z[min(int(q*float64(len(z))), len(z)-1)], 0)
			// Round to 1/1000 so that the arms are stable and readable;
			// equal headrooms collapse into one arm.
			h = math.Round(h*1000) / 1000
			if len(hs) == 0 || h > hs[len(hs)-1] {
				hs = append(hs, h)
			}
		}
	default:
		return nil, fmt.Errorf("simulate: unknown arm set %q (want %s, %s, %s or %s)", c.Arms, ArmsDefault, ArmsFine, ArmsLong, ArmsQuantile)
	}
	var out []policy.Arm
	for _, h := range hs {
		for _, dl := range delays {
			out = append(out, policy.Arm{Headroom: h, ScaleDownDelay: dl})
		}
	}
	return out, nil
}

// epochSteps is the candidate's epoch in steps (def when unset).
func (c Candidate) epochSteps(step time.Duration, def int) int {
	if c.Epoch <= 0 {
		return def
	}
	return max(steps(c.Epoch, step), 1)
}

// normalisedResiduals returns (load − point) / (upper − point) at the lead
// step of every decision step i < end whose target step i+d is < end too
// (only data before end is used) and whose margin is positive.
func normalisedResiduals(sh *shadows, load []float64, d, end int) []float64 {
	var z []float64
	for i := 0; i+d < end; i++ {
		if !sh.ok[i] {
			continue
		}
		y, p, u := load[i+d], sh.leadPoint[i], sh.leadUpper[i]
		if math.IsNaN(y) || !(u-p > 0) {
			continue
		}
		z = append(z, (y-p)/(u-p))
	}
	return z
}

// TuneRow is one candidate's score on the validation part.
type TuneRow struct {
	Candidate       Candidate
	UnderVsReactive float64
	HoursVsReactive float64
	// Err is set when the candidate could not be built (too few data).
	Err string
}

// TuneResult says what the tuning chose, on which data.
type TuneResult struct {
	// TrainFrom/TrainTo is the inner training part, ValidFrom/ValidTo the
	// validation part; both lie inside the outer training part.
	TrainFrom, TrainTo, ValidFrom, ValidTo time.Time
	// Rule is the selection rule, in words.
	Rule   string
	Rows   []TuneRow
	Chosen Candidate
}

// TuneRule is the selection rule of the tuning.
const TuneRule = "the largest reduction of under-provisioned minutes vs reactive among the candidates within +10% replica-hours vs reactive " +
	"on the validation part (ties: fewer replica-hours); when none is within +10%, the fewest replica-hours"

// tune chooses the learned policy's setting on the training part only:
// each candidate trains on its first half and is scored greedily on its
// second half against the reactive policy over the same steps. The
// evaluation part is never looked at.
func tune(e *env, opts Options, epoch int) (*TuneResult, error) {
	outer := e.evalStart
	inner := outer / 2
	longest := epoch
	for _, c := range opts.Tune {
		longest = max(longest, c.epochSteps(e.s.Step, epoch))
	}
	if inner < 2*longest || outer-inner < 2*longest {
		return nil, errors.New("simulate: the training part is too short to tune the learned policy (less than four epochs)")
	}
	ve := *e
	ve.evalStart = inner
	s := e.s
	res := &TuneResult{
		TrainFrom: s.Start, TrainTo: s.TimeAt(inner - 1), ValidFrom: s.TimeAt(inner), ValidTo: s.TimeAt(outer - 1), Rule: TuneRule,
	}
	reactive := ve.run(&reactiveCtl{env: &ve}, nil, outer)
	best := -1
	seen := map[Candidate]bool{}
	for _, c := range opts.Tune {
		if c.Epoch > 0 {
			// Epochs are whole steps: candidates that round to the same
			// epoch are one candidate.
			c.Epoch = time.Duration(c.epochSteps(s.Step, epoch)) * s.Step
		}
		if seen[c] {
			continue
		}
		seen[c] = true
		row := TuneRow{Candidate: c}
		r, _, _, err := trainAndEval(&ve, opts, c, epoch, inner, outer)
		if err != nil {
			row.Err = err.Error()
			res.Rows = append(res.Rows, row)
			continue
		}
		row.UnderVsReactive = relChange(r.UnderProvisionedMinutes, reactive.UnderProvisionedMinutes)
		row.HoursVsReactive = relChange(r.ReplicaHours, reactive.ReplicaHours)
		res.Rows = append(res.Rows, row)
		if best < 0 || better(row, res.Rows[best]) {
			best = len(res.Rows) - 1
		}
	}
	if best < 0 {
		return nil, errors.New("simulate: no tuning candidate could be evaluated: " + res.Rows[0].Err)
	}
	res.Chosen = res.Rows[best].Candidate
	return res, nil
}

// better reports whether a beats b under TuneRule.
func better(a, b TuneRow) bool {
	const budget = 0.10 + 1e-12
	ain, bin := a.HoursVsReactive <= budget, b.HoursVsReactive <= budget
	switch {
	case ain && !bin:
		return true
	case !ain && bin:
		return false
	case !ain:
		return a.HoursVsReactive < b.HoursVsReactive
	case a.UnderVsReactive != b.UnderVsReactive:
		return a.UnderVsReactive < b.UnderVsReactive
	}
	return a.HoursVsReactive < b.HoursVsReactive
}

// trainAndEval trains a fresh policy of candidate c on the decision steps
// [0, trainEnd) and runs it greedily (frozen) up to end, accounting from
// e.evalStart.
func trainAndEval(e *env, opts Options, c Candidate, epoch, trainEnd, end int) (PolicyResult, *policy.Policy, *learnedCtl, error) {
	epoch = c.epochSteps(e.s.Step, epoch)
	popts := opts.Policy
	popts.Lambda = c.Lambda
	arms, err := c.arms(e.sh, e.s.Values, e.d, trainEnd)
	if err != nil {
		return PolicyResult{}, nil, nil, err
	}
	if arms != nil {
		popts.Arms = arms
	}
	if popts.UncertaintyEdges == nil {
		popts.UncertaintyEdges = uncertaintyTerciles(e.sh, epoch, trainEnd)
	}
	pol, err := policy.New(popts)
	if err != nil {
		return PolicyResult{}, nil, nil, err
	}
	for range opts.Passes {
		lc, err := newLearnedCtl(e, pol, epoch, true)
		if err != nil {
			return PolicyResult{}, nil, nil, err
		}
		e.run(lc, lc, trainEnd) // no outcome from trainEnd on is learned
	}
	lc, err := newLearnedCtl(e, pol, epoch, false)
	if err != nil {
		return PolicyResult{}, nil, nil, err
	}
	lc.chosen = map[string]int{}
	return e.run(lc, lc, end), pol, lc, nil
}

// ParseCandidates parses a grid "lambdas=2,4,8 arms=default,fine
// epochs=5m,15m" (space separated; epochs optional) into every
// combination.
func ParseCandidates(s string) ([]Candidate, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var lambdas []float64
	var sets []string
	epochs := []time.Duration{0}
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("simulate: tuning grid %q: want lambdas=a,b,... arms=x,y", s)
		}
		switch k {
		case "lambdas":
			for _, x := range strings.Split(v, ",") {
				var l float64
				if _, err := fmt.Sscanf(x, "%g", &l); err != nil || !(l > 0) || math.IsInf(l, 0) {
					return nil, fmt.Errorf("simulate: tuning grid: bad lambda %q", x)
				}
				lambdas = append(lambdas, l)
			}
		case "epochs":
			epochs = nil
			for _, x := range strings.Split(v, ",") {
				d, err := time.ParseDuration(x)
				if err != nil || d <= 0 {
					return nil, fmt.Errorf("simulate: tuning grid: bad epoch %q", x)
				}
				epochs = append(epochs, d)
			}
		case "arms":
			for _, x := range strings.Split(v, ",") {
				if x != ArmsDefault && x != ArmsFine && x != ArmsLong && x != ArmsQuantile {
					return nil, fmt.Errorf("simulate: tuning grid: unknown arm set %q", x)
				}
				sets = append(sets, x)
			}
		default:
			return nil, fmt.Errorf("simulate: tuning grid: unknown key %q", k)
		}
	}
	if len(lambdas) == 0 || len(sets) == 0 {
		return nil, errors.New("simulate: tuning grid needs lambdas= and arms=")
	}
	var out []Candidate
	for _, ep := range epochs {
		for _, a := range sets {
			for _, l := range lambdas {
				out = append(out, Candidate{Lambda: l, Arms: a, Epoch: ep})
			}
		}
	}
	return out, nil
}

// Tune runs the tuning of opts.Tune on the training part of f only (see
// TuneRule); nothing of the evaluation part is simulated.
func Tune(f *Forecasts, opts Options) (*TuneResult, error) {
	if len(opts.Tune) == 0 {
		return nil, errors.New("simulate: no tuning candidates")
	}
	if err := opts.setDefaults(f.s.Step); err != nil {
		return nil, err
	}
	if err := f.check(opts); err != nil {
		return nil, err
	}
	e := &env{s: f.s, opts: opts, d: f.d, sh: f.sh, evalStart: f.evalStart}
	return tune(e, opts, max(steps(opts.Epoch, f.s.Step), 1))
}

// Best returns the validation row TuneRule prefers (the chosen one).
func (t *TuneResult) Best() TuneRow {
	for _, r := range t.Rows {
		if r.Candidate == t.Chosen {
			return r
		}
	}
	return TuneRow{}
}

// SmoothRow is the best tuning candidate of one --smooth value, on the
// validation part.
type SmoothRow struct {
	Smooth time.Duration
	Best   TuneRow
}

// SelectSmoothing forecasts s once per smoothing span and tunes the
// learned policy on each (training part only), and returns the forecasts
// whose best candidate TuneRule prefers, the options with that Smooth, and
// every span's best row. The evaluation part is never scored here.
func SelectSmoothing(s forecast.Series, opts Options, smooths []time.Duration) (*Forecasts, Options, []SmoothRow, error) {
	if len(smooths) == 0 {
		return nil, opts, nil, errors.New("simulate: no smoothing spans")
	}
	var (
		best     *Forecasts
		bestOpts Options
		bestRow  TuneRow
		rows     []SmoothRow
	)
	for _, sm := range smooths {
		o := opts
		o.Smooth = sm
		f, err := Forecast(s, o)
		if err != nil {
			return nil, opts, nil, err
		}
		tr, err := Tune(f, o)
		if err != nil {
			return nil, opts, nil, err
		}
		row := tr.Best()
		rows = append(rows, SmoothRow{Smooth: sm, Best: row})
		if best == nil || better(row, bestRow) {
			best, bestOpts, bestRow = f, o, row
		}
	}
	return best, bestOpts, rows, nil
}
