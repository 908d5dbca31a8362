package forecast

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"syscall"
	"testing"
)

// cpuSeconds returns the user+system CPU time of the process; benchmarks
// report it next to wall time because the development machine is shared.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

// synthData returns rows×cols uniform features and y = f(x) + noise.
func synthData(rows, cols int, seed uint64, noise float64) (*Matrix, []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	X := NewMatrix(rows, cols)
	y := make([]float64, rows)
	for i := range rows {
		r := X.Row(i)
		for j := range r {
			r[j] = rng.Float64()
		}
		y[i] = 3*r[0] + 2*math.Sin(6*r[1]) + r[2]*r[min(3, cols-1)]*4 + noise*rng.NormFloat64()
	}
	return X, y
}

func mse(b *Booster, X *Matrix, y []float64) float64 {
	s := 0.0
	for i := range y {
		d := b.Predict(X.Row(i)) - y[i]
		s += d * d
	}
	return s / float64(len(y))
}

// exactTree is a brute-force exact greedy regression tree with the same
// gain and leaf formulas as the booster (one round, learning rate 1).
func exactTree(X *Matrix, y, g []float64, rows []int, depth, maxDepth, minData int, lambda float64) func(row []float64) float64 {
	G := 0.0
	for _, r := range rows {
		G += g[r]
	}
	H := float64(len(rows))
	leafVal := -G / (H + lambda)
	leafFn := func([]float64) float64 { return leafVal }
	if depth >= maxDepth || len(rows) < 2*minData {
		return leafFn
	}
	bestGain, bestF, bestT := 1e-12, -1, 0.0
	for f := 0; f < X.Cols; f++ {
		sorted := slices.Clone(rows)
		sort.Slice(sorted, func(a, b int) bool { return X.At(sorted[a], f) < X.At(sorted[b], f) })
		gl := 0.0
		for k := 0; k < len(sorted)-1; k++ {
			gl += g[sorted[k]]
			a, b := X.At(sorted[k], f), X.At(sorted[k+1], f)
			if a == b || k+1 < minData || len(sorted)-k-1 < minData {
				continue
			}
			hl := float64(k + 1)
			gr, hr := G-gl, H-hl
			gain := gl*gl/(hl+lambda) + gr*gr/(hr+lambda) - G*G/(H+lambda)
			if gain > bestGain {
				bestGain, bestF, bestT = gain, f, a+(b-a)/2
			}
		}
	}
	if bestF < 0 {
		return leafFn
	}
	var lr, rr []int
	for _, r := range rows {
		if X.At(r, bestF) <= bestT {
			lr = append(lr, r)
		} else {
			rr = append(rr, r)
		}
	}
	l := exactTree(X, y, g, lr, depth+1, maxDepth, minData, lambda)
	rt := exactTree(X, y, g, rr, depth+1, maxDepth, minData, lambda)
	return func(row []float64) float64 {
		if row[bestF] <= bestT {
			return l(row)
		}
		return rt(row)
	}
}

func TestGBMMatchesExactTree(t *testing.T) {
	for _, depth := range []int{1, 2, 3} {
		rng := rand.New(rand.NewPCG(7, uint64(depth)))
		const n = 300
		X := NewMatrix(n, 4)
		y := make([]float64, n)
		for i := range n {
			r := X.Row(i)
			for j := range r {
				r[j] = float64(rng.IntN(60)) // ≤ 255 distinct values: binning is exact
			}
			y[i] = r[0]*0.1 + math.Sin(r[1]/7)*3 + rng.NormFloat64()
		}
		b, err := TrainGBM(X, y, GBMOptions{Rounds: 1, LearningRate: 1, MaxDepth: depth, MaxLeaves: 1 << depth, MinDataInLeaf: 5, Lambda: 2})
		if err != nil {
			t.Fatal(err)
		}
		mean := 0.0
		for _, v := range y {
			mean += v
		}
		mean /= n
		g := make([]float64, n)
		rows := make([]int, n)
		for i := range g {
			g[i] = mean - y[i]
			rows[i] = i
		}
		tree := exactTree(X, y, g, rows, 0, depth, 5, 2)
		for i := range n {
			want := mean + tree(X.Row(i))
			if got := b.Predict(X.Row(i)); math.Abs(got-want) > 1e-9 {
				t.Fatalf("depth %d row %d: booster %v, exact tree %v", depth, i, got, want)
			}
		}
	}
}

func TestGBMTrainLossDecreases(t *testing.T) {
	X, y := synthData(2000, 6, 1, 0.3)
	b, err := TrainGBM(X, y, GBMOptions{Rounds: 40, MaxLeaves: 15})
	if err != nil {
		t.Fatal(err)
	}
	prev := math.Inf(1)
	for k := 0; k <= b.NumTrees(); k++ {
		c := *b
		c.Roots = b.Roots[:k]
		l := mse(&c, X, y)
		if l > prev+1e-12 {
			t.Fatalf("train MSE rose from %v to %v at tree %d", prev, l, k)
		}
		prev = l
	}
	if prev > 0.2 {
		t.Errorf("train MSE after 40 trees = %v, want < 0.2", prev)
	}
	Xt, yt := synthData(2000, 6, 2, 0.3)
	if l := mse(b, Xt, yt); l > 0.25 {
		t.Errorf("test MSE = %v, want < 0.25 (noise variance 0.09)", l)
	}
	imp := b.Importance()
	if best := slices.Index(imp, slices.Max(imp)); best != 0 && best != 1 {
		t.Errorf("most important feature = %d (%v), want 0 or 1", best, imp)
	}
	if imp[4]+imp[5] > 0.05 {
		t.Errorf("noise features have importance %v", imp[4:])
	}
}

func TestGBMQuantileCoverage(t *testing.T) {
	gen := func(n int, seed uint64) (*Matrix, []float64) {
		rng := rand.New(rand.NewPCG(seed, 3))
		X := NewMatrix(n, 2)
		y := make([]float64, n)
		for i := range n {
			x := rng.Float64()
			X.Row(i)[0], X.Row(i)[1] = x, rng.Float64()
			y[i] = 2*x + (0.2+x)*rng.NormFloat64() // heteroscedastic
		}
		return X, y
	}
	X, y := gen(6000, 1)
	Xt, yt := gen(6000, 2)
	for _, q := range []float64{0.1, 0.5, 0.9} {
		b, err := TrainGBM(X, y, GBMOptions{Rounds: 60, MaxLeaves: 8, Loss: LossQuantile, Quantile: q})
		if err != nil {
			t.Fatal(err)
		}
		below := 0
		for i := range yt {
			if yt[i] <= b.Predict(Xt.Row(i)) {
				below++
			}
		}
		if cov := float64(below) / float64(len(yt)); math.Abs(cov-q) > 0.03 {
			t.Errorf("q=%v: test coverage %v", q, cov)
		}
	}
}

func TestGBMMissingValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	n := 1000
	X := NewMatrix(n, 2)
	y := make([]float64, n)
	for i := range n {
		X.Row(i)[0], X.Row(i)[1] = rng.Float64(), rng.Float64()
		y[i] = X.Row(i)[0]
		if i%4 == 0 {
			X.Row(i)[0] = math.NaN()
			y[i] = 5
		}
	}
	b, err := TrainGBM(X, y, GBMOptions{Rounds: 50, MaxLeaves: 8})
	if err != nil {
		t.Fatal(err)
	}
	if p := b.Predict([]float64{math.NaN(), 0.5}); math.Abs(p-5) > 0.1 {
		t.Errorf("prediction for missing feature = %v, want ≈5", p)
	}
	if p := b.Predict([]float64{0.3, 0.5}); math.Abs(p-0.3) > 0.15 {
		t.Errorf("prediction for x=0.3 = %v", p)
	}
}

func TestGBMDeterministicAndRoundTrip(t *testing.T) {
	X, y := synthData(3000, 5, 9, 0.5)
	opts := GBMOptions{Rounds: 20, Subsample: 0.7, ColSample: 0.8, Seed: 42}
	b1, err := TrainGBM(X, y, opts)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := TrainGBM(X, y, opts)
	blob1, _ := b1.MarshalBinary()
	blob2, _ := b2.MarshalBinary()
	if !slices.Equal(blob1, blob2) {
		t.Fatal("two trainings with the same seed differ")
	}
	var b3 Booster
	if err := b3.UnmarshalBinary(blob1); err != nil {
		t.Fatal(err)
	}
	for i := range X.Rows {
		if b1.Predict(X.Row(i)) != b3.Predict(X.Row(i)) {
			t.Fatalf("row %d: prediction changed after round trip", i)
		}
	}
	if !slices.Equal(b1.Gain, b3.Gain) {
		t.Error("importance lost in round trip")
	}
}

func TestGBMCorruptBlob(t *testing.T) {
	X, y := synthData(500, 3, 1, 0.1)
	b, _ := TrainGBM(X, y, GBMOptions{Rounds: 3, MaxLeaves: 4})
	blob, _ := b.MarshalBinary()
	var nb Booster
	for i := 0; i < len(blob); i += 7 {
		c := slices.Clone(blob)
		c[i] ^= 0x5a
		if err := nb.UnmarshalBinary(c); !errors.Is(err, ErrCorruptModel) {
			t.Fatalf("flipped byte %d: err = %v", i, err)
		}
	}
	for _, n := range []int{0, 3, 10, len(blob) / 2, len(blob) - 1} {
		if err := nb.UnmarshalBinary(blob[:n]); !errors.Is(err, ErrCorruptModel) {
			t.Fatalf("truncated to %d: err = %v", n, err)
		}
	}
	// A structurally invalid model with a valid checksum: a cycle.
	bad := *b
	bad.Left = slices.Clone(b.Left)
	bad.Left[len(bad.Left)-1] = 0
	blob, _ = bad.MarshalBinary()
	if err := nb.UnmarshalBinary(blob); !errors.Is(err, ErrCorruptModel) {
		t.Fatalf("cyclic tree: err = %v", err)
	}
}

func TestGBMEarlyStoppingAndContinue(t *testing.T) {
	X, y := synthData(2000, 4, 3, 0.5)
	Xv, yv := synthData(1000, 4, 4, 0.5)
	b, err := TrainGBM(X, y, GBMOptions{Rounds: 500, LearningRate: 0.3, ValidX: Xv, ValidY: yv, EarlyStoppingRounds: 5})
	if err != nil {
		t.Fatal(err)
	}
	if b.NumTrees() >= 500 || b.NumTrees() < 5 {
		t.Errorf("early stopping kept %d trees", b.NumTrees())
	}
	// The kept prefix is the best on the validation set.
	best := mse(b, Xv, yv)
	for k := 1; k < b.NumTrees(); k++ {
		c := *b
		c.Roots = b.Roots[:k]
		if l := mse(&c, Xv, yv); l < best-1e-12 {
			t.Errorf("prefix of %d trees has validation MSE %v < kept %v", k, l, best)
		}
	}
	// Warm start on shifted data lowers the loss there.
	for i := range yv {
		yv[i] += 2
	}
	before, n := mse(b, Xv, yv), b.NumTrees()
	if err := b.Continue(Xv, yv, GBMOptions{Rounds: 20}); err != nil {
		t.Fatal(err)
	}
	if b.NumTrees() != n+20 {
		t.Errorf("trees after continue = %d, want %d", b.NumTrees(), n+20)
	}
	if after := mse(b, Xv, yv); after > before/2 {
		t.Errorf("continue: MSE %v → %v", before, after)
	}
}

func TestGBMErrors(t *testing.T) {
	X, y := synthData(10, 4, 1, 0)
	for name, tc := range map[string]struct {
		X    *Matrix
		y    []float64
		opts GBMOptions
	}{
		"empty":      {NewMatrix(0, 4), nil, GBMOptions{}},
		"len":        {X, y[:5], GBMOptions{}},
		"nan target": {X, append(slices.Clone(y[:9]), math.NaN()), GBMOptions{}},
		"quantile":   {X, y, GBMOptions{Loss: LossQuantile, Quantile: 1.5}},
	} {
		if _, err := TrainGBM(tc.X, tc.y, tc.opts); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func BenchmarkGBMTrain50k(b *testing.B) {
	X, y := synthData(50000, 30, 1, 0.5)
	b.ResetTimer()
	c0 := cpuSeconds()
	for range b.N {
		if _, err := TrainGBM(X, y, GBMOptions{Rounds: 100, MaxLeaves: 31, LearningRate: 0.1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuSeconds()-c0)/float64(b.N), "cpu-s/op")
}

func BenchmarkGBMPredict(b *testing.B) {
	X, y := synthData(50000, 30, 1, 0.5)
	m, _ := TrainGBM(X, y, GBMOptions{Rounds: 100, MaxLeaves: 31})
	b.ResetTimer()
	c0 := cpuSeconds()
	s := 0.0
	for i := range b.N {
		s += m.Predict(X.Row(i % X.Rows))
	}
	_ = s
	b.ReportMetric((cpuSeconds()-c0)*1e9/float64(b.N), "cpu-ns/op")
}
