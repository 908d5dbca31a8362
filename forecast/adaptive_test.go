package forecast

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// simulateShift feeds n one-step forecasts whose raw bounds are point ± 1
// (too narrow: about 68 % for unit noise) to cal; after shiftAt the actuals
// jump by shift and their noise is scaled by noiseMul, and the point
// forecast only catches up with the shift at rate catchUp per step (as a
// smoothing model would). It returns the served coverage over [from, n).
func simulateShift(cal *AdaptiveCalibrator, n, shiftAt, from int, shift, noiseMul, catchUp float64, seed uint64) float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	level, known := 10.0, 10.0 // actual level; what the model believes
	inside, total := 0, 0
	for t := range n {
		noise := 1.0
		if t >= shiftAt {
			level = 10 + shift
			noise = noiseMul
		}
		known += catchUp * (level - known)
		f := Forecast{Point: []float64{known}, Lower: []float64{known - 1}, Upper: []float64{known + 1}}
		if cal != nil {
			cal.Apply(&f)
		}
		y := level + noise*rng.NormFloat64()
		if t >= from {
			total++
			if y >= f.Lower[0] && y <= f.Upper[0] {
				inside++
			}
		}
		if cal != nil {
			cal.Observe(1, y, known, known-1, known+1)
		}
	}
	return float64(inside) / float64(total)
}

func TestAdaptiveCoverage(t *testing.T) {
	const n, shiftAt, recovery = 5000, 3000, 150
	for _, tc := range []struct {
		name            string
		shift, noiseMul float64
		catchUp         float64
		gamma           float64
	}{
		{"stationary", 0, 1, 0, 0},
		{"level shift, point catches up slowly", 6, 1, 0.005, 0},
		{"level shift and 3x noise", 6, 3, 0.005, 0},
		{"noise halves", 0, 0.5, 0, 0},
		{"3x noise, rolling window only", 0, 3, 0, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			static := simulateShift(nil, n, shiftAt, shiftAt+recovery, tc.shift, tc.noiseMul, tc.catchUp, 7)
			before := simulateShift(NewAdaptiveCalibrator(1, AdaptiveOptions{Level: 0.9, Gamma: tc.gamma}), n, shiftAt, 500, 0, 1, 0, 7)
			after := simulateShift(NewAdaptiveCalibrator(1, AdaptiveOptions{Level: 0.9, Gamma: tc.gamma}), n, shiftAt, shiftAt+recovery, tc.shift, tc.noiseMul, tc.catchUp, 7)
			t.Logf("raw bounds %.3f, calibrated before %.3f, after the change %.3f", static, before, after)
			if math.Abs(before-0.9) > 0.03 {
				t.Errorf("coverage before the change %.3f, want 0.90 ± 0.03", before)
			}
			if math.Abs(after-0.9) > 0.03 {
				t.Errorf("coverage after the change %.3f, want 0.90 ± 0.03", after)
			}
		})
	}
}

func TestAdaptiveRecoversFasterWithACI(t *testing.T) {
	// Over the first 300 steps after a 3x noise jump, ACI covers more than
	// the rolling window alone (which needs ~10 % of its window to move).
	const shiftAt = 3000
	aci := simulateShift(NewAdaptiveCalibrator(1, AdaptiveOptions{Gamma: 0.02}), shiftAt+300, shiftAt, shiftAt, 0, 3, 0, 3)
	roll := simulateShift(NewAdaptiveCalibrator(1, AdaptiveOptions{Gamma: -1}), shiftAt+300, shiftAt, shiftAt, 0, 3, 0, 3)
	t.Logf("coverage over 300 steps after the jump: ACI %.3f, rolling %.3f", aci, roll)
	if aci <= roll {
		t.Errorf("ACI coverage %.3f not above rolling-only %.3f right after the jump", aci, roll)
	}
}

func TestAdaptivePassThroughUntilReady(t *testing.T) {
	cal := NewAdaptiveCalibrator(2, AdaptiveOptions{MinScores: 5})
	f := Forecast{Point: []float64{5, 5}, Lower: []float64{4, 3}, Upper: []float64{6, 7}}
	for range 4 {
		cal.Observe(1, 9, 5, 4, 6)
	}
	g := Forecast{Point: f.Point, Lower: []float64{4, 3}, Upper: []float64{6, 7}}
	cal.Apply(&g)
	if diff := cmp.Diff(f, g); diff != "" {
		t.Fatalf("bounds changed before MinScores scores (-want +got):\n%s", diff)
	}
	cal.Observe(1, 9, 5, 4, 6)
	cal.Apply(&g)
	if g.Upper[0] != 9 || g.Lower[0] != 5 {
		t.Errorf("step 1 bounds [%v, %v], want [5, 9] (all scores +4 half-widths; the lower quantile is widened to 0)", g.Lower[0], g.Upper[0])
	}
	if g.Lower[1] != 3 || g.Upper[1] != 7 {
		t.Errorf("step 2 (no scores) bounds changed to [%v, %v]", g.Lower[1], g.Upper[1])
	}
	// A non-negative lower bound stays non-negative.
	for range 30 {
		cal.Observe(2, 0, 5, 4.5, 5.5)
	}
	h := Forecast{Point: []float64{5, 5}, Lower: []float64{4, 4.5}, Upper: []float64{6, 5.5}}
	cal.Apply(&h)
	if h.Lower[1] != 0 {
		t.Errorf("lower bound %v, want clamped at 0", h.Lower[1])
	}
}

func TestAdaptiveMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cal := NewAdaptiveCalibrator(3, AdaptiveOptions{Window: 50})
	feed := func(c *AdaptiveCalibrator, n int, r *rand.Rand) {
		for range n {
			for k := 1; k <= 3; k++ {
				c.Observe(k, 10+2*r.NormFloat64(), 10, 9, 11)
			}
		}
	}
	feed(cal, 80, rng) // wraps the ring
	b, err := cal.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got AdaptiveCalibrator
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= 3; k++ {
		if diff := cmp.Diff(cal.State(k), got.State(k)); diff != "" {
			t.Errorf("step %d state after round trip (-want +got):\n%s", k, diff)
		}
	}
	// Both continue identically.
	r1, r2 := rand.New(rand.NewPCG(5, 5)), rand.New(rand.NewPCG(5, 5))
	feed(cal, 30, r1)
	feed(&got, 30, r2)
	f1 := Forecast{Point: []float64{10, 10, 10}, Lower: []float64{9, 9, 9}, Upper: []float64{11, 11, 11}}
	f2 := Forecast{Point: []float64{10, 10, 10}, Lower: []float64{9, 9, 9}, Upper: []float64{11, 11, 11}}
	cal.Apply(&f1)
	got.Apply(&f2)
	if diff := cmp.Diff(f1, f2); diff != "" {
		t.Errorf("forecasts diverge after round trip (-orig +restored):\n%s", diff)
	}
	for _, bad := range [][]byte{nil, b[:10], b[:len(b)-1], append([]byte("XXXX"), b[4:]...), flip(b, 20)} {
		var c AdaptiveCalibrator
		if err := c.UnmarshalBinary(bad); !errors.Is(err, ErrCorruptModel) {
			t.Errorf("corrupt input (%d bytes): err %v, want ErrCorruptModel", len(bad), err)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0xff
	return c
}

func BenchmarkAdaptiveApply(b *testing.B) {
	const h = 48
	cal := NewAdaptiveCalibrator(h, AdaptiveOptions{})
	rng := rand.New(rand.NewPCG(1, 1))
	for range DefaultAdaptiveWindow {
		for k := 1; k <= h; k++ {
			cal.Observe(k, rng.NormFloat64(), 0, -1, 1)
		}
	}
	f := Forecast{Point: make([]float64, h), Lower: make([]float64, h), Upper: make([]float64, h)}
	b.ResetTimer()
	for range b.N {
		for k := range h {
			f.Lower[k], f.Upper[k] = -1, 1
		}
		cal.Apply(&f)
	}
}

func BenchmarkAdaptiveObserve(b *testing.B) {
	cal := NewAdaptiveCalibrator(1, AdaptiveOptions{})
	rng := rand.New(rand.NewPCG(1, 1))
	for b.Loop() {
		cal.Observe(1, rng.NormFloat64(), 0, -1, 1)
	}
}
