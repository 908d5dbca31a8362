package webhook

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/shadowcast/shadowcast"
)

// Modes of a resource.
const (
	ModeDryRun  = "dry_run"
	ModeEnforce = "enforce"
)

// Rules a decision can follow.
const (
	RuleScaleUp   = "scale_up"   // the forecast upper bound crossed the upper threshold
	RuleScaleDown = "scale_down" // the forecast lower bound crossed the lower threshold
	RuleHold      = "hold"       // neither threshold crossed
)

// Resource is a configured resource the engine may change.
type Resource struct {
	Name    string
	Shadow  string
	Match   map[string]string
	Horizon time.Duration

	ThresholdUpper float64
	ThresholdLower float64
	// Dynamic narrows the thresholds by WidthFactor times the half-width of
	// the forecast interval.
	Dynamic     bool
	WidthFactor float64

	Mode          string // ModeDryRun or ModeEnforce
	Cooldown      time.Duration
	Stabilization time.Duration // scale-down stabilisation window
	LeadTime      time.Duration

	// Pools serve the resource's activity; Pools[0] is the primary one.
	Pools []Pool
}

// Pool is one kind of unit serving a resource.
type Pool struct {
	Name            string
	Kind            string // informational: kubernetes_scale, http...
	CapacityPerUnit float64
	Min, Max        int
	CostPerUnitHour float64
	Actuator        Actuator
}

// Sample is a need recorded at a time, kept for the stabilisation window.
type Sample struct {
	At   time.Time
	Need float64
}

// Input is everything a decision depends on.
type Input struct {
	Now   time.Time
	Value shadowcast.Value // the forecast (summed over matching instances)
	// Current holds the units allocated per pool, -1 when unknown.
	Current []int
	// History holds earlier needs, oldest first; Plan reads those inside
	// the stabilisation window.
	History []Sample
	// Policy, when set, is the arm of an active learned policy: the need
	// becomes PolicyNeed(Value, Headroom) and the stabilisation window
	// Policy.ScaleDownDelay. Everything else (rules, bounds) is unchanged.
	Policy *PolicyChoice
}

// Plan is the outcome of the allocation logic for one resource.
type Plan struct {
	Rule string `json:"rule"`
	// Effective thresholds (after the dynamic adjustment).
	ThresholdUpper float64 `json:"threshold_upper"`
	ThresholdLower float64 `json:"threshold_lower"`
	// Need is the activity to provision for: the forecast upper bound over
	// the lead time, never below the actual activity.
	Need float64 `json:"need"`
	// Stabilized is the need a scale-down provisions for: the highest need
	// seen in the stabilisation window.
	Stabilized float64 `json:"stabilized,omitempty"`
	// Target holds the units per pool the plan asks for.
	Target []int `json:"target,omitempty"`
	// Capacity and CostPerHour of Target.
	Capacity    float64 `json:"capacity"`
	CostPerHour float64 `json:"cost_per_hour"`
	// Change is whether Target differs from Current in the rule's
	// direction.
	Change bool `json:"change"`
	// RecheckAt, when set, is when a scale-down held by the stabilisation
	// window may go further.
	RecheckAt time.Time `json:"recheck_at,omitzero"`
	// Explanation says which rule fired and why, in one line.
	Explanation string `json:"explanation"`
}

// Decide applies the allocation logic of r to in. It is pure.
//
//   - If the forecast upper bound (the peak of point+CI within the horizon,
//     which covers the lead time) is above the upper threshold, provision
//     what that bound needs: ceil(need / capacity_per_unit) in [min, max],
//     or the cheapest mix of pools covering it. Never scale down here.
//   - If the forecast lower bound (point−CI) is below the lower threshold,
//     release, but only down to the highest need recommended within the
//     stabilisation window, and never below the actual activity.
//   - Otherwise hold.
func Decide(r Resource, in Input) Plan {
	v := in.Value
	up, actual := upperOf(v), actualOf(v)
	p := Plan{ThresholdUpper: r.ThresholdUpper, ThresholdLower: r.ThresholdLower}
	if r.Dynamic {
		w := (v.Upper - v.Lower) / 2
		if w < 0 || math.IsNaN(w) {
			w = 0
		}
		p.ThresholdUpper -= r.WidthFactor * w
		p.ThresholdLower += r.WidthFactor * w
		if p.ThresholdLower > p.ThresholdUpper {
			mid := (p.ThresholdUpper + p.ThresholdLower) / 2
			p.ThresholdUpper, p.ThresholdLower = mid, mid
		}
	}
	p.Need = Need(v)
	window, by := r.Stabilization, "stabilisation window"
	if in.Policy != nil {
		p.Need = PolicyNeed(v, in.Policy.Headroom)
		window, by = in.Policy.ScaleDownDelay, "learned policy's scale-down delay"
	}
	cur, curKnown := capacity(r.Pools, in.Current)

	switch {
	case up > p.ThresholdUpper:
		p.Rule = RuleScaleUp
		p.Target, p.Capacity, p.CostPerHour = Mix(r.Pools, p.Need)
		p.Change = !curKnown || p.Capacity > cur
		p.Explanation = fmt.Sprintf("upper bound %.4g over the lead time is above the upper threshold %.4g: provision for %.4g (actual %.4g)",
			up, p.ThresholdUpper, p.Need, actual)
		if !p.Change {
			p.Explanation += fmt.Sprintf("; capacity %.4g already covers it", cur)
		}
	case v.Lower < p.ThresholdLower:
		p.Rule = RuleScaleDown
		p.Stabilized = p.Need
		var holder time.Time
		for _, s := range in.History {
			if in.Now.Sub(s.At) >= window || s.At.After(in.Now) {
				continue
			}
			if s.Need > p.Need && !s.At.Before(holder) {
				holder = s.At
			}
			if s.Need > p.Stabilized {
				p.Stabilized = s.Need
			}
		}
		p.Target, p.Capacity, p.CostPerHour = Mix(r.Pools, p.Stabilized)
		p.Change = curKnown && p.Capacity < cur
		p.Explanation = fmt.Sprintf("lower bound %.4g is below the lower threshold %.4g: release down to need %.4g (upper bound %.4g, actual %.4g)",
			v.Lower, p.ThresholdLower, p.Need, up, actual)
		if p.Stabilized > p.Need {
			p.Explanation += fmt.Sprintf(", held at %.4g by the %s %s", p.Stabilized, window, by)
			p.RecheckAt = holder.Add(window)
		}
		switch {
		case !curKnown:
			p.Explanation += "; current allocation unknown, nothing released"
		case !p.Change:
			p.Explanation += fmt.Sprintf("; capacity %.4g is already at or below it", cur)
		}
	default:
		p.Rule = RuleHold
		p.Target = append([]int(nil), in.Current...)
		p.Capacity, _ = capacity(r.Pools, in.Current)
		p.CostPerHour = cost(r.Pools, in.Current)
		p.Explanation = fmt.Sprintf("upper bound %.4g within upper threshold %.4g and lower bound %.4g within lower threshold %.4g: hold",
			up, p.ThresholdUpper, v.Lower, p.ThresholdLower)
	}
	if in.Policy != nil {
		p.Explanation += fmt.Sprintf("; need from the learned policy (active): point + %.3g·(upper − point) = %.4g, scale-down delay %s",
			in.Policy.Headroom, p.Need, in.Policy.ScaleDownDelay)
	}
	return p
}

// Need is the activity a forecast asks to provision for: its upper bound
// over the horizon (PeakUpper, or Upper when higher), never below the
// actual activity.
func Need(v shadowcast.Value) float64 { return math.Max(upperOf(v), actualOf(v)) }

func upperOf(v shadowcast.Value) float64 {
	if math.IsNaN(v.PeakUpper) || v.PeakUpper < v.Upper {
		return v.Upper
	}
	return v.PeakUpper
}

func actualOf(v shadowcast.Value) float64 {
	if math.IsNaN(v.Actual) || v.Actual < 0 {
		return 0
	}
	return v.Actual
}

// capacity sums units times capacity; ok is false when a count is unknown.
func capacity(pools []Pool, units []int) (c float64, ok bool) {
	if len(units) != len(pools) {
		return 0, false
	}
	for i, p := range pools {
		if units[i] < 0 {
			return 0, false
		}
		c += float64(units[i]) * p.CapacityPerUnit
	}
	return c, true
}

func cost(pools []Pool, units []int) float64 {
	var c float64
	for i, p := range pools {
		if i < len(units) && units[i] > 0 {
			c += float64(units[i]) * p.CostPerUnitHour
		}
	}
	return c
}

// maxMixCombinations bounds the exhaustive search of Mix; above it Mix
// fills pools greedily by cost per capacity.
const maxMixCombinations = 1 << 20

// Mix returns the units per pool that cover need at the least cost per
// hour, each pool within its [Min, Max]. Ties go to the least capacity,
// then to the earlier pools. When even every pool at Max cannot cover the
// need, it returns every pool at Max.
func Mix(pools []Pool, need float64) (units []int, total, costPerHour float64) {
	if need < 0 || math.IsNaN(need) {
		need = 0
	}
	n := len(pools)
	units = make([]int, n)
	if n == 0 {
		return units, 0, 0
	}
	// Per pool, counts beyond covering the need alone are never useful.
	hi := make([]int, n)
	combos := 1.0
	for i, p := range pools {
		h := p.Max
		if alone := math.Ceil(need / p.CapacityPerUnit); alone < float64(h) {
			h = max(int(alone), p.Min)
		}
		hi[i] = h
		if i < n-1 {
			combos *= float64(h - p.Min + 1)
		}
	}
	if combos > maxMixCombinations {
		return greedyMix(pools, need)
	}
	best := make([]int, n)
	bestCost, bestCap := math.Inf(1), math.Inf(1)
	found := false
	cur := make([]int, n)
	var walk func(i int, covered, c float64)
	walk = func(i int, covered, c float64) {
		p := pools[i]
		if i == n-1 {
			k := p.Min
			if rest := need - covered; rest > 0 {
				kf := math.Ceil(rest/p.CapacityPerUnit - 1e-9)
				if kf > float64(p.Max) {
					return
				}
				k = max(k, int(kf))
			}
			cur[i] = k
			tc := c + float64(k)*p.CostPerUnitHour
			tcap := covered + float64(k)*p.CapacityPerUnit
			if tc < bestCost-1e-9 || (math.Abs(tc-bestCost) <= 1e-9 && tcap < bestCap-1e-9) {
				bestCost, bestCap, found = tc, tcap, true
				copy(best, cur)
			}
			return
		}
		for k := hi[i]; k >= p.Min; k-- { // most units first: ties favour earlier pools
			cur[i] = k
			walk(i+1, covered+float64(k)*p.CapacityPerUnit, c+float64(k)*p.CostPerUnitHour)
		}
	}
	walk(0, 0, 0)
	if !found {
		for i, p := range pools {
			best[i] = p.Max
		}
	}
	total, _ = capacity(pools, best)
	return best, total, cost(pools, best)
}

// greedyMix starts every pool at Min and adds units to the pools with the
// lowest cost per capacity until the need is covered.
func greedyMix(pools []Pool, need float64) ([]int, float64, float64) {
	units := make([]int, len(pools))
	order := make([]int, len(pools))
	covered := 0.0
	for i, p := range pools {
		units[i] = p.Min
		order[i] = i
		covered += float64(p.Min) * p.CapacityPerUnit
	}
	ratio := func(i int) float64 { return pools[i].CostPerUnitHour / pools[i].CapacityPerUnit }
	for a := 1; a < len(order); a++ { // insertion sort: at most a handful of pools
		for b := a; b > 0 && ratio(order[b]) < ratio(order[b-1]); b-- {
			order[b], order[b-1] = order[b-1], order[b]
		}
	}
	for _, i := range order {
		p := pools[i]
		if covered >= need {
			break
		}
		add := min(int(math.Ceil((need-covered)/p.CapacityPerUnit-1e-9)), p.Max-units[i])
		units[i] += add
		covered += float64(add) * p.CapacityPerUnit
	}
	return units, covered, cost(pools, units)
}

// formatUnits renders units per pool as "pool=n pool2=m".
func formatUnits(pools []Pool, units []int) string {
	var b strings.Builder
	for i, p := range pools {
		if i > 0 {
			b.WriteByte(' ')
		}
		u := "?"
		if i < len(units) && units[i] >= 0 {
			u = fmt.Sprint(units[i])
		}
		fmt.Fprintf(&b, "%s=%s", p.Name, u)
	}
	return b.String()
}
