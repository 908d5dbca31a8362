package webhook_test

import (
	"fmt"
	"time"

	"github.com/shadowcast/shadowcast"
	"github.com/shadowcast/shadowcast/webhook"
)

func ExampleDecide() {
	r := webhook.Resource{
		Name: "checkout", ThresholdUpper: 800, ThresholdLower: 300, Stabilization: 5 * time.Minute,
		Pools: []webhook.Pool{{Name: "checkout", CapacityPerUnit: 100, Min: 2, Max: 40}},
	}
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	// The upper bound over the lead time (peak_upper) crosses 800.
	up := webhook.Decide(r, webhook.Input{
		Now:     now,
		Value:   shadowcast.Value{Point: 700, Lower: 600, Upper: 820, PeakUpper: 850, Actual: 500},
		Current: []int{5},
	})
	fmt.Println(up.Rule, up.Target, up.Change)
	// The load falls, but a need of 640 was seen 2 minutes ago: the release
	// stops there.
	down := webhook.Decide(r, webhook.Input{
		Now:     now,
		Value:   shadowcast.Value{Point: 250, Lower: 200, Upper: 300, PeakUpper: 320, Actual: 240},
		Current: []int{9},
		History: []webhook.Sample{{At: now.Add(-2 * time.Minute), Need: 640}},
	})
	fmt.Println(down.Rule, down.Target, down.Change)
	fmt.Println(down.Explanation)
	// Output:
	// scale_up [9] true
	// scale_down [7] true
	// lower bound 200 is below the lower threshold 300: release down to need 320 (upper bound 320, actual 240), held at 640 by the 5m0s stabilisation window
}

func ExampleMix() {
	pools := []webhook.Pool{
		{Name: "on_demand", CapacityPerUnit: 100, Min: 1, Max: 20, CostPerUnitHour: 1.0},
		{Name: "spot", CapacityPerUnit: 100, Min: 0, Max: 5, CostPerUnitHour: 0.3},
	}
	units, capacity, cost := webhook.Mix(pools, 950)
	fmt.Printf("%v capacity %g cost %.2f/h\n", units, capacity, cost)
	// Output:
	// [5 5] capacity 1000 cost 6.50/h
}
