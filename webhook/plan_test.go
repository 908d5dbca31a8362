package webhook

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shadowcast/shadowcast"
)

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

func onePool(min, max int) []Pool {
	return []Pool{{Name: "app", CapacityPerUnit: 100, Min: min, Max: max, CostPerUnitHour: 0.1}}
}

func TestDecide(t *testing.T) {
	base := Resource{
		Name: "app", ThresholdUpper: 800, ThresholdLower: 300, Stabilization: 5 * time.Minute,
		Pools: onePool(2, 10),
	}
	dynamic := base
	dynamic.Dynamic, dynamic.WidthFactor = true, 1

	tests := []struct {
		name        string
		r           Resource
		v           shadowcast.Value
		current     []int
		history     []Sample
		wantRule    string
		wantTarget  []int
		wantChange  bool
		wantStab    float64
		wantRecheck time.Time
	}{
		{
			name: "upper above threshold provisions ceil(peak_upper/capacity)",
			r:    base, v: shadowcast.Value{Point: 700, Lower: 600, Upper: 820, PeakUpper: 850, Actual: 500},
			current: []int{5}, wantRule: RuleScaleUp, wantTarget: []int{9}, wantChange: true,
		},
		{
			name: "upper uses Upper when PeakUpper is lower",
			r:    base, v: shadowcast.Value{Point: 700, Lower: 600, Upper: 901, PeakUpper: 0, Actual: 500},
			current: []int{5}, wantRule: RuleScaleUp, wantTarget: []int{10}, wantChange: true,
		},
		{
			name: "scale up capped at max",
			r:    base, v: shadowcast.Value{Point: 3000, Lower: 2000, Upper: 4000, PeakUpper: 4000, Actual: 2500},
			current: []int{5}, wantRule: RuleScaleUp, wantTarget: []int{10}, wantChange: true,
		},
		{
			name: "scale up never lowers",
			r:    base, v: shadowcast.Value{Point: 700, Lower: 600, Upper: 820, PeakUpper: 850, Actual: 500},
			current: []int{10}, wantRule: RuleScaleUp, wantTarget: []int{9}, wantChange: false,
		},
		{
			name: "unknown current: scale up writes",
			r:    base, v: shadowcast.Value{Point: 700, Lower: 600, Upper: 820, PeakUpper: 850, Actual: 500},
			current: []int{-1}, wantRule: RuleScaleUp, wantTarget: []int{9}, wantChange: true,
		},
		{
			name: "hold inside the band",
			r:    base, v: shadowcast.Value{Point: 500, Lower: 400, Upper: 600, PeakUpper: 650, Actual: 500},
			current: []int{6}, wantRule: RuleHold, wantTarget: []int{6},
		},
		{
			name: "release down to the need",
			r:    base, v: shadowcast.Value{Point: 250, Lower: 200, Upper: 300, PeakUpper: 320, Actual: 240},
			current: []int{9}, wantRule: RuleScaleDown, wantTarget: []int{4}, wantChange: true, wantStab: 320,
		},
		{
			name: "release never below actual activity",
			r:    base, v: shadowcast.Value{Point: 250, Lower: 200, Upper: 300, PeakUpper: 320, Actual: 610},
			current: []int{9}, wantRule: RuleScaleDown, wantTarget: []int{7}, wantChange: true, wantStab: 610,
		},
		{
			name: "release never below min",
			r:    base, v: shadowcast.Value{Point: 10, Lower: 0, Upper: 20, PeakUpper: 20, Actual: 5},
			current: []int{9}, wantRule: RuleScaleDown, wantTarget: []int{2}, wantChange: true, wantStab: 20,
		},
		{
			name: "stabilisation window holds the release at the highest recent need",
			r:    base, v: shadowcast.Value{Point: 250, Lower: 200, Upper: 300, PeakUpper: 320, Actual: 240},
			current: []int{9},
			history: []Sample{
				{At: t0.Add(-10 * time.Minute), Need: 900}, // outside the window
				{At: t0.Add(-4 * time.Minute), Need: 640},
				{At: t0.Add(-2 * time.Minute), Need: 500},
			},
			wantRule: RuleScaleDown, wantTarget: []int{7}, wantChange: true, wantStab: 640,
			wantRecheck: t0.Add(-2*time.Minute + 5*time.Minute),
		},
		{
			name: "stabilised release already at capacity",
			r:    base, v: shadowcast.Value{Point: 250, Lower: 200, Upper: 300, PeakUpper: 320, Actual: 240},
			current:  []int{7},
			history:  []Sample{{At: t0.Add(-1 * time.Minute), Need: 700}},
			wantRule: RuleScaleDown, wantTarget: []int{7}, wantChange: false, wantStab: 700,
			wantRecheck: t0.Add(4 * time.Minute),
		},
		{
			name: "unknown current: nothing released",
			r:    base, v: shadowcast.Value{Point: 250, Lower: 200, Upper: 300, PeakUpper: 320, Actual: 240},
			current: []int{-1}, wantRule: RuleScaleDown, wantTarget: []int{4}, wantChange: false, wantStab: 320,
		},
		{
			// width 100: upper threshold 800-100=700 < 750.
			name: "dynamic thresholds act earlier on a wide interval",
			r:    dynamic, v: shadowcast.Value{Point: 650, Lower: 550, Upper: 750, PeakUpper: 750, Actual: 600},
			current: []int{6}, wantRule: RuleScaleUp, wantTarget: []int{8}, wantChange: true,
		},
		{
			name: "static thresholds hold the same forecast",
			r:    base, v: shadowcast.Value{Point: 650, Lower: 550, Upper: 750, PeakUpper: 750, Actual: 600},
			current: []int{6}, wantRule: RuleHold, wantTarget: []int{6},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Decide(tc.r, Input{Now: t0, Value: tc.v, Current: tc.current, History: tc.history})
			if p.Rule != tc.wantRule || p.Change != tc.wantChange {
				t.Errorf("rule, change = %s, %v; want %s, %v (%s)", p.Rule, p.Change, tc.wantRule, tc.wantChange, p.Explanation)
			}
			if diff := cmp.Diff(tc.wantTarget, p.Target); diff != "" {
				t.Errorf("target (-want +got):\n%s\n%s", diff, p.Explanation)
			}
			if p.Stabilized != tc.wantStab {
				t.Errorf("stabilized = %g, want %g", p.Stabilized, tc.wantStab)
			}
			if !p.RecheckAt.Equal(tc.wantRecheck) {
				t.Errorf("recheck at %v, want %v", p.RecheckAt, tc.wantRecheck)
			}
			if p.Explanation == "" {
				t.Error("no explanation")
			}
		})
	}
}

func TestDecideDynamicThresholdsNeverCross(t *testing.T) {
	r := Resource{ThresholdUpper: 500, ThresholdLower: 400, Dynamic: true, WidthFactor: 2, Pools: onePool(1, 10)}
	p := Decide(r, Input{Now: t0, Value: shadowcast.Value{Point: 450, Lower: 250, Upper: 650, PeakUpper: 650}, Current: []int{5}})
	if p.ThresholdLower > p.ThresholdUpper || p.ThresholdUpper != 450 {
		t.Errorf("thresholds = %g, %g; want both 450", p.ThresholdUpper, p.ThresholdLower)
	}
}

func TestMix(t *testing.T) {
	onDemand := Pool{Name: "on_demand", CapacityPerUnit: 100, Min: 1, Max: 20, CostPerUnitHour: 1.0}
	spot := Pool{Name: "spot", CapacityPerUnit: 100, Min: 0, Max: 5, CostPerUnitHour: 0.3}
	big := Pool{Name: "big", CapacityPerUnit: 450, Min: 0, Max: 4, CostPerUnitHour: 3.0}
	tests := []struct {
		name      string
		pools     []Pool
		need      float64
		wantUnits []int
		wantCost  float64
	}{
		{"one pool", []Pool{onDemand}, 950, []int{10}, 10},
		{"zero need keeps min", []Pool{onDemand, spot}, 0, []int{1, 0}, 1},
		{"cheap spot first, up to its max", []Pool{onDemand, spot}, 950, []int{5, 5}, 6.5},
		{"big units when cheaper per capacity", []Pool{onDemand, big}, 900, []int{1, 2}, 7},
		{"three pools", []Pool{onDemand, spot, big}, 1400, []int{1, 4, 2}, 8.2},
		{"need beyond every max", []Pool{onDemand, spot}, 1e6, []int{20, 5}, 21.5},
		{"NaN need", []Pool{onDemand}, math.NaN(), []int{1}, 1},
		{"equal costs favour the primary pool", []Pool{{Name: "a", CapacityPerUnit: 1, Max: 9}, {Name: "b", CapacityPerUnit: 1, Max: 9}}, 4, []int{4, 0}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			units, capTotal, cost := Mix(tc.pools, tc.need)
			if diff := cmp.Diff(tc.wantUnits, units); diff != "" {
				t.Errorf("units (-want +got):\n%s", diff)
			}
			if math.Abs(cost-tc.wantCost) > 1e-9 {
				t.Errorf("cost = %g, want %g", cost, tc.wantCost)
			}
			if need := tc.need; !math.IsNaN(need) && need < 1e5 && capTotal < need {
				t.Errorf("capacity %g does not cover %g", capTotal, need)
			}
		})
	}
}

// TestMixIsCheapest compares Mix with a brute force over every combination.
func TestMixIsCheapest(t *testing.T) {
	pools := []Pool{
		{Name: "a", CapacityPerUnit: 70, Min: 1, Max: 12, CostPerUnitHour: 0.9},
		{Name: "b", CapacityPerUnit: 160, Min: 0, Max: 6, CostPerUnitHour: 1.7},
		{Name: "c", CapacityPerUnit: 40, Min: 0, Max: 9, CostPerUnitHour: 0.45},
	}
	for need := 0.0; need <= 1500; need += 37 {
		_, _, got := Mix(pools, need)
		best := math.Inf(1)
		for a := 1; a <= 12; a++ {
			for b := 0; b <= 6; b++ {
				for c := 0; c <= 9; c++ {
					if float64(a)*70+float64(b)*160+float64(c)*40 >= need {
						best = math.Min(best, float64(a)*0.9+float64(b)*1.7+float64(c)*0.45)
					}
				}
			}
		}
		if math.Abs(got-best) > 1e-9 {
			t.Errorf("need %g: Mix cost %g, brute force %g", need, got, best)
		}
	}
}

func TestGreedyMixCovers(t *testing.T) {
	pools := []Pool{
		{Name: "a", CapacityPerUnit: 1, Min: 0, Max: 5000, CostPerUnitHour: 1},
		{Name: "b", CapacityPerUnit: 1, Min: 0, Max: 5000, CostPerUnitHour: 0.5},
	}
	units, capTotal, cost := Mix(pools, 7000) // 5001 combinations of a: exhaustive
	if capTotal < 7000 || units[1] != 5000 || cost != 2000+2500 {
		t.Errorf("Mix = %v cap %g cost %g", units, capTotal, cost)
	}
	units, capTotal, _ = greedyMix(pools, 7000)
	if capTotal < 7000 || units[1] != 5000 || units[0] != 2000 {
		t.Errorf("greedyMix = %v cap %g", units, capTotal)
	}
}
