package feedback_test

import (
	"fmt"
	"time"

	"github.com/shadowcast/shadowcast/feedback"
)

// The engine records every published forecast and feeds every actual; the
// scores, drift and deviation states are then read for export.
func ExampleTracker() {
	tr, err := feedback.NewTracker(feedback.TrackerOptions{Step: time.Minute, Season: 2 * time.Minute})
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	actuals := []float64{10, 12, 14, 10}
	for i, v := range actuals {
		ts := start.Add(time.Duration(i) * time.Minute)
		tr.Observe("checkout", ts, v)
		// Forecast the next minute: 13 with bounds [11, 15].
		tr.Record("checkout", time.Minute, ts, 13, 11, 15)
	}
	s := tr.Scores("checkout", time.Minute)
	fmt.Printf("N=%d MAE=%.2f MASE=%.2f coverage=%.2f\n", s.N, s.MAE, s.MASE, s.Coverage)
	drift, _ := tr.Drift("checkout")
	fmt.Println("drift:", drift, "deviating:", tr.Deviating("checkout", time.Minute))
	// Output:
	// N=3 MAE=1.67 MASE=0.56 coverage=0.67
	// drift: false deviating: false
}
