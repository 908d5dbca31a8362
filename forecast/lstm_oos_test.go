package forecast

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLSTMPointsAtFittedMatchesPointsAt: the forecasts a hybrid fit takes
// from the LSTM's calibration pass are those PointsAt computes, bit for
// bit, on the fitted series; on another series the cache is not used.
func TestLSTMPointsAtFittedMatchesPointsAt(t *testing.T) {
	series := []Series{synthSeries(300, 100, 1), synthSeries(260, 10, 2)}
	series[0].Values[250] = math.NaN() // a validation window with a gap is computed
	spec := Spec{Horizon: 6, Level: 0.9, Seed: 3}
	o := tinyLSTMOpts()
	o.Holdout = 80
	ps, err := NewLSTM(o).fit(series, spec, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		s := series[i]
		if p.oos == nil || len(p.oos.rows) == 0 {
			t.Fatalf("series %d: no cached forecasts", i)
		}
		var origins []int
		for o := p.MinHistory(); o <= s.Len(); o++ {
			origins = append(origins, o)
		}
		want, err := p.PointsAt(s, origins)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.pointsAtFitted(s, origins)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b float64) bool { return a == b || (a != a && b != b) })); diff != "" {
			t.Errorf("series %d (-PointsAt +pointsAtFitted):\n%s", i, diff)
		}
		// Another series of the same length: computed, not cached.
		other := Series{Start: s.Start, Step: s.Step, Values: append([]float64(nil), s.Values...)}
		other.Values[len(other.Values)-1] *= 3
		w2, _ := p.PointsAt(other, origins[len(origins)-1:])
		g2, _ := p.pointsAtFitted(other, origins[len(origins)-1:])
		if !cmp.Equal(w2, g2) {
			t.Errorf("series %d: pointsAtFitted used the cache on another series", i)
		}
		p.dropOOS()
		if p.oos != nil {
			t.Error("dropOOS kept the cache")
		}
	}
}
