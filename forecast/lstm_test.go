package forecast

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// tinyBatch fills a workspace with random inputs and targets.
func tinyBatch(d lstmDims, b int, rng *rand.Rand, withGrad bool) *lstmWork {
	w := newLSTMWork(d, b, withGrad)
	zw := d.D + d.H
	for t := 0; t < d.T; t++ {
		for r := 0; r < b; r++ {
			for j := 0; j < d.D; j++ {
				w.Z[(t*b+r)*zw+j] = rng.NormFloat64()
			}
		}
	}
	for r := 0; r < b; r++ {
		for j := d.H; j < d.H+d.S; j++ {
			w.U[r*(d.H+d.S)+j] = rng.NormFloat64()
		}
		for k := 0; k < d.K; k++ {
			w.Y[r*d.K+k] = 3 * rng.NormFloat64()
		}
	}
	return w
}

func TestLSTMGradientCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    lstmDims
		loss int
	}{
		{"dense head, L2", lstmDims{D: 2, H: 3, T: 4, S: 3, F: 4, K: 2}, lossL2},
		{"linear head, L2", lstmDims{D: 2, H: 3, T: 5, S: 2, F: 0, K: 3}, lossL2},
		{"dense head, L1", lstmDims{D: 2, H: 4, T: 3, S: 2, F: 5, K: 2}, lossL1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			net := newLSTMNet(tc.d)
			net.init(rng, false)
			// Non-zero biases everywhere so every path is exercised.
			for i := range net.params {
				net.params[i] += 0.1 * rng.NormFloat64()
			}
			const b = 3
			w := tinyBatch(tc.d, b, rng, true)
			skip := append([]float64(nil), w.U...)
			lossAt := func() float64 {
				copy(w.U, skip)
				net.forward(w, b)
				return net.loss(w, b, tc.loss)
			}
			lossAt()
			net.backward(w, b)
			analytic := append([]float64(nil), w.grad...)
			groups := map[string][2]int{}
			off := 0
			v := tc.d.bind(net.params)
			for _, g := range []struct {
				name string
				s    []float64
			}{{"W", v.W}, {"B", v.B}, {"W1", v.W1}, {"B1", v.B1}, {"W2", v.W2}, {"B2", v.B2}} {
				groups[g.name] = [2]int{off, off + len(g.s)}
				off += len(g.s)
			}
			if off != len(net.params) {
				t.Fatalf("views cover %d of %d params", off, len(net.params))
			}
			const h = 1e-6
			for name, g := range groups {
				var maxRel float64
				for i := g[0]; i < g[1]; i++ {
					orig := net.params[i]
					net.params[i] = orig + h
					lp := lossAt()
					net.params[i] = orig - h
					lm := lossAt()
					net.params[i] = orig
					num := (lp - lm) / (2 * h)
					rel := math.Abs(num-analytic[i]) / math.Max(1e-6, math.Abs(num)+math.Abs(analytic[i]))
					maxRel = math.Max(maxRel, rel)
				}
				if maxRel > 1e-4 {
					t.Errorf("%s: max relative gradient error %.3g", name, maxRel)
				}
			}
		})
	}
}

// synthSeries is a daily-seasonal hourly series with trend and noise.
func synthSeries(n int, level float64, seed uint64) Series {
	rng := rand.New(rand.NewPCG(seed, 7))
	v := make([]float64, n)
	for i := range v {
		h := float64(i % 24)
		v[i] = level * (1 + 0.5*math.Sin(2*math.Pi*h/24) + 0.2*math.Sin(4*math.Pi*h/24) + 0.001*float64(i) + 0.05*rng.NormFloat64())
	}
	return Series{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Step: time.Hour, Values: v}
}

func smallOpts() LSTMOptions {
	return LSTMOptions{Hidden: 8, Seq: 12, Dense: 16, Steps: 150, BatchSize: 16, EvalEvery: 25, Patience: 100}
}

func TestLSTMFitPredict(t *testing.T) {
	s := synthSeries(600, 100, 1)
	spec := Spec{Horizon: 12, Level: 0.9, Seed: 3}
	p, err := NewLSTM(smallOpts()).FitLSTM(s, spec)
	if err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if !(st.ValLoss < st.InitValLoss) {
		t.Errorf("validation loss did not decrease: %v -> %v", st.InitValLoss, st.ValLoss)
	}
	f, err := p.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	if f.Horizon() != 12 || len(f.Lower) != 12 || len(f.Upper) != 12 {
		t.Fatalf("lengths %d %d %d", len(f.Point), len(f.Lower), len(f.Upper))
	}
	if f.Model != "lstm" || !f.Origin.Equal(s.End()) || f.Step != time.Hour {
		t.Errorf("metadata %q %v %v", f.Model, f.Origin, f.Step)
	}
	for k := range f.Point {
		if math.IsNaN(f.Point[k]) || math.IsNaN(f.Lower[k]) || math.IsNaN(f.Upper[k]) {
			t.Fatalf("NaN at step %d", k+1)
		}
		if f.Lower[k] > f.Point[k] || f.Point[k] > f.Upper[k] {
			t.Errorf("step %d: %v not in [%v, %v]", k+1, f.Point[k], f.Lower[k], f.Upper[k])
		}
	}
	// A trained net must beat a flat forecast at the series mean by far on
	// the next day of the same process.
	next := synthSeries(612, 100, 1).Values[600:]
	var errNet, errMean float64
	for k := range next {
		errNet += math.Abs(next[k] - f.Point[k])
		errMean += math.Abs(next[k] - 100)
	}
	if errNet > 0.5*errMean {
		t.Errorf("MAE %.2f vs flat %.2f", errNet/12, errMean/12)
	}
}

func TestLSTMTrainingLossDecreases(t *testing.T) {
	s := synthSeries(400, 10, 2)
	sh := newLSTMShape(smallOpts().withDefaults(), 6, 24)
	o := smallOpts().withDefaults()
	d := sh.dims(o)
	data, err := buildLSTMData([]Series{s}, sh, o)
	if err != nil {
		t.Fatal(err)
	}
	net := newLSTMNet(d)
	net.init(rand.New(rand.NewPCG(1, 1)), false)
	w := newLSTMWork(d, 64, true)
	before := evalLSTM(net, w, data, sh, data.train, lossL1)
	o.Patience = 1000
	if _, err := trainLSTM(net, false, data, sh, o, 1); err != nil {
		t.Fatal(err)
	}
	after := evalLSTM(net, w, data, sh, data.train, lossL1)
	if !(after < 0.5*before) {
		t.Errorf("training loss %v -> %v", before, after)
	}
}

func TestLSTMDeterministic(t *testing.T) {
	s := synthSeries(300, 50, 3)
	spec := Spec{Horizon: 6, Level: 0.8, Seed: 42}
	o := smallOpts()
	o.Steps = 40
	run := func(seed int64) Forecast {
		spec.Seed = seed
		p, err := NewLSTM(o).Fit(s, spec)
		if err != nil {
			t.Fatal(err)
		}
		f, err := p.Predict(s)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	a, b, c := run(42), run(42), run(43)
	for k := range a.Point {
		if a.Point[k] != b.Point[k] || a.Upper[k] != b.Upper[k] {
			t.Fatalf("same seed, different forecast at %d: %v vs %v", k, a.Point[k], b.Point[k])
		}
	}
	same := true
	for k := range a.Point {
		same = same && a.Point[k] == c.Point[k]
	}
	if same {
		t.Error("different seeds gave identical forecasts")
	}
}

func TestLSTMGlobalAndPointsAt(t *testing.T) {
	var ss []Series
	for i := 0; i < 4; i++ {
		ss = append(ss, synthSeries(300+40*i, math.Pow(10, float64(i)), uint64(10+i)))
	}
	o := smallOpts()
	o.Steps = 60
	ps, err := NewLSTM(o).FitGlobal(ss, Spec{Horizon: 8, Level: 0.9, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 4 {
		t.Fatalf("%d predictors", len(ps))
	}
	for i, p := range ps {
		f, err := p.Predict(ss[i])
		if err != nil {
			t.Fatal(err)
		}
		// The window scaling carries the level: forecasts of the series at
		// level 1000 are about 1000.
		lvl := math.Pow(10, float64(i))
		if f.Point[0] < 0.2*lvl || f.Point[0] > 3*lvl {
			t.Errorf("series %d: first point %v for level %v", i, f.Point[0], lvl)
		}
		if p.TrainEnd() <= p.MinHistory() || p.TrainEnd() >= ss[i].Len() {
			t.Errorf("series %d: TrainEnd %d", i, p.TrainEnd())
		}
		n := ss[i].Len()
		pts, err := p.PointsAt(ss[i], []int{p.MinHistory(), n - 8, n})
		if err != nil {
			t.Fatal(err)
		}
		for k := range f.Point {
			if math.Abs(pts[2][k]-f.Point[k]) > 1e-9*math.Abs(f.Point[k]) {
				t.Fatalf("PointsAt(n) differs from Predict at %d: %v vs %v", k, pts[2][k], f.Point[k])
			}
		}
		g, err := p.Predict(ss[i].Slice(0, n-8))
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(g.Point[3]-pts[1][3]) > 1e-9*math.Abs(g.Point[3]) {
			t.Errorf("PointsAt(n-8) %v vs Predict %v", pts[1][3], g.Point[3])
		}
	}
	if _, err := ps[0].PointsAt(ss[0], []int{3}); !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("short origin: %v", err)
	}
}

func TestLSTMErrors(t *testing.T) {
	m := NewLSTM(smallOpts())
	if _, err := m.Fit(synthSeries(30, 1, 1), Spec{Horizon: 6}); !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("short series: %v", err)
	}
	if _, err := m.Fit(synthSeries(300, 1, 1), Spec{Horizon: 0}); err == nil {
		t.Error("horizon 0 accepted")
	}
	if _, err := m.Fit(synthSeries(300, 1, 1), Spec{Horizon: 4, Level: 1.5}); err == nil {
		t.Error("level 1.5 accepted")
	}
	nan := synthSeries(300, 1, 1)
	for i := range nan.Values {
		nan.Values[i] = math.NaN()
	}
	if _, err := m.Fit(nan, Spec{Horizon: 4}); !errors.Is(err, ErrNotEnoughData) {
		t.Errorf("all-NaN series: %v", err)
	}
}

func TestLSTMMissingValuesAndLog(t *testing.T) {
	s := synthSeries(400, 20, 5)
	for i := 50; i < 400; i += 37 {
		s.Values[i] = math.NaN()
	}
	o := smallOpts()
	o.Steps = 30
	o.Log1p = true
	o.Residual = true
	p, err := NewLSTM(o).Fit(s, Spec{Horizon: 6, Level: 0.9, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.Values[len(s.Values)-1] = math.NaN()
	f, err := p.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range f.Point {
		if math.IsNaN(v) || math.IsNaN(f.Lower[k]) || math.IsNaN(f.Upper[k]) {
			t.Fatalf("NaN in forecast at %d", k)
		}
	}
}

func TestLSTMWarmStart(t *testing.T) {
	s := synthSeries(500, 100, 8)
	spec := Spec{Horizon: 6, Level: 0.9, Seed: 1}
	o := smallOpts()
	o.Steps = 100
	p, err := NewLSTM(o).FitLSTM(s.Slice(0, 450), spec)
	if err != nil {
		t.Fatal(err)
	}
	q, err := p.Refit(s, spec, 20)
	if err != nil {
		t.Fatal(err)
	}
	if q.net == p.net || &q.net.params[0] == &p.net.params[0] {
		t.Fatal("refit shares weights with its source")
	}
	if q.Stats().Steps > 20 {
		t.Errorf("refit took %d steps", q.Stats().Steps)
	}
	// Warm start begins where p ended: its initial validation loss is
	// already low compared with a fresh net's.
	fresh, err := NewLSTM(o).FitLSTM(s, Spec{Horizon: 6, Level: 0.9, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !(q.Stats().InitValLoss < 0.5*fresh.Stats().InitValLoss) {
		t.Errorf("warm start initial val loss %v, fresh %v", q.Stats().InitValLoss, fresh.Stats().InitValLoss)
	}
	if _, err := p.Refit(s, Spec{Horizon: 7}, 5); err == nil {
		t.Error("warm start with another horizon accepted")
	}
}

func TestLSTMTrainStepAllocatesNothing(t *testing.T) {
	d := lstmDims{D: 2, H: 8, T: 10, S: 14, F: 16, K: 6}
	rng := rand.New(rand.NewPCG(1, 1))
	net := newLSTMNet(d)
	net.init(rng, false)
	w := tinyBatch(d, 16, rng, true)
	opt := newAdam(len(net.params), 1e-3)
	allocs := testing.AllocsPerRun(10, func() {
		net.forward(w, 16)
		net.loss(w, 16, lossL1)
		net.backward(w, 16)
		opt.step(net.params, w.grad, 1e-3, 1)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per training step", allocs)
	}
}

func TestLSTMIntervalCoverage(t *testing.T) {
	var ss []Series
	for i := range 6 {
		ss = append(ss, synthSeries(520, 50+20*float64(i), uint64(100+i)))
	}
	fit := make([]Series, len(ss))
	for i, s := range ss {
		fit[i] = s.Slice(0, 440)
	}
	o := smallOpts()
	o.Steps = 120
	const K = 6
	ps, err := NewLSTM(o).FitGlobal(fit, Spec{Horizon: K, Level: 0.9, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	in, n := 0, 0
	for i, s := range ss {
		for org := 440; org+K <= s.Len(); org += 3 {
			f, err := ps[i].Predict(s.Slice(0, org))
			if err != nil {
				t.Fatal(err)
			}
			for k := range K {
				y := s.Values[org+k]
				n++
				if y >= f.Lower[k] && y <= f.Upper[k] {
					in++
				}
			}
		}
	}
	cov := float64(in) / float64(n)
	t.Logf("coverage %.3f of %d", cov, n)
	if cov < 0.78 || cov > 0.99 {
		t.Errorf("coverage %.3f of %d for a nominal 0.9", cov, n)
	}
}

func TestLSTMFitKeepsInputAndClonesPredictConcurrently(t *testing.T) {
	s := synthSeries(300, 10, 6)
	s.Values[100] = math.NaN()
	orig := append([]float64(nil), s.Values...)
	o := smallOpts()
	o.Steps = 10
	o.Log1p = true
	p, err := NewLSTM(o).FitLSTM(s, Spec{Horizon: 4, Level: 0.9, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range orig {
		if s.Values[i] != orig[i] && !(math.IsNaN(orig[i]) && math.IsNaN(s.Values[i])) {
			t.Fatalf("Fit modified sample %d: %v -> %v", i, orig[i], s.Values[i])
		}
	}
	want, err := p.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 4)
	for range 4 {
		c := p.Clone()
		go func() {
			for range 20 {
				f, err := c.Predict(s)
				if err == nil && f.Point[3] != want.Point[3] {
					err = errors.New("clone forecast differs")
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestLSTMNonNegativeForecasts(t *testing.T) {
	s := synthSeries(300, 1, 7)
	for i := range s.Values {
		// Sparse bursts over zeros: an unconstrained net may go below 0.
		s.Values[i] = math.Max(0, 3*(s.Values[i]-1.2))
	}
	o := smallOpts()
	o.Steps = 20
	p, err := NewLSTM(o).FitLSTM(s, Spec{Horizon: 8, Level: 0.95, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for org := p.MinHistory(); org <= s.Len(); org += 7 {
		f, err := p.Predict(s.Slice(0, org))
		if err != nil {
			t.Fatal(err)
		}
		for k := range f.Point {
			if f.Point[k] < 0 || f.Lower[k] < 0 {
				t.Fatalf("origin %d step %d: point %v lower %v below 0", org, k+1, f.Point[k], f.Lower[k])
			}
		}
	}
	// A series with negative values is not clamped.
	s.Values[10] = -1
	q, err := NewLSTM(o).FitLSTM(s, Spec{Horizon: 8, Level: 0.95, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if q.sh.nonNeg {
		t.Error("series with a negative value marked non-negative")
	}
}
