package forecast

import (
	"math"
	"math/rand/v2"
	"slices"
)

// lstmData holds the prepared series and the windows drawn from them.
type lstmData struct {
	vals     [][]float64 // model-space values, gaps filled
	train    []uint64    // packed (series << 32 | origin)
	val      []uint64    // for early stopping (at most MaxValWindows)
	valAll   []uint64    // every validation window, for calibration
	trainEnd []int
}

func packWin(i, o int) uint64       { return uint64(i)<<32 | uint64(uint32(o)) }
func unpackWin(x uint64) (int, int) { return int(x >> 32), int(uint32(x)) }

// buildLSTMData transforms the series and lists the training and
// validation windows. Windows whose targets contain a missing sample are
// left out.
func buildLSTMData(series []Series, sh lstmShape, o LSTMOptions) (*lstmData, error) {
	data := &lstmData{vals: make([][]float64, len(series)), trainEnd: make([]int, len(series))}
	for i, s := range series {
		v, ok := sh.transform(make([]float64, 0, len(s.Values)), s.Values)
		if !ok {
			continue
		}
		data.vals[i] = v
		n := len(v)
		// missing[j] = number of missing samples in s.Values[:j].
		missing := make([]int32, n+1)
		for j, x := range s.Values {
			missing[j+1] = missing[j]
			if math.IsNaN(x) || math.IsInf(x, 0) {
				missing[j+1]++
			}
		}
		ho := o.Holdout
		if ho <= 0 {
			ho = max(sh.K, n/10)
		}
		if n-ho < sh.need+sh.K {
			ho = max(0, n-sh.need-sh.K)
		}
		data.trainEnd[i] = n - ho
		for org := sh.need; org+sh.K <= n; org++ {
			if missing[org+sh.K] != missing[org] {
				continue
			}
			switch {
			case org+sh.K <= n-ho:
				data.train = append(data.train, packWin(i, org))
			case org >= n-ho:
				data.val = append(data.val, packWin(i, org))
			}
		}
	}
	data.valAll = data.val
	if len(data.val) > o.MaxValWindows {
		// Keep an evenly strided, deterministic subset.
		keep := make([]uint64, o.MaxValWindows)
		for j := range keep {
			keep[j] = data.val[j*len(data.val)/o.MaxValWindows]
		}
		data.val = keep
	}
	return data, nil
}

// evalLSTM returns the mean loss of net over the windows wins.
func evalLSTM(net *lstmNet, w *lstmWork, data *lstmData, sh lstmShape, wins []uint64, kind int) float64 {
	if len(wins) == 0 {
		return math.NaN()
	}
	var sum float64
	withG := w.withG
	w.withG = false
	for i := 0; i < len(wins); i += w.cap {
		b := min(w.cap, len(wins)-i)
		for r := 0; r < b; r++ {
			si, org := unpackWin(wins[i+r])
			sh.fill(w, net.dims, r, data.vals[si], org, true)
		}
		net.forward(w, b)
		sum += net.loss(w, b, kind) * float64(b)
	}
	w.withG = withG
	return sum / float64(len(wins))
}

// trainLSTM trains net in place with Adam on random minibatches of the
// training windows, keeping the weights with the best validation loss.
func trainLSTM(net *lstmNet, fresh bool, data *lstmData, sh lstmShape, o LSTMOptions, seed int64) (LSTMStats, error) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed15a7))
	if fresh {
		net.init(rng, sh.residual)
	}
	kind := lossL1
	if o.L2Loss {
		kind = lossL2
	}
	B := o.BatchSize
	w := newLSTMWork(net.dims, B, true)
	opt := newAdam(len(net.params), o.LR)
	st := LSTMStats{TrainWindows: len(data.train), ValWindows: len(data.val)}
	best := slices.Clone(net.params)
	bestLoss := evalLSTM(net, w, data, sh, data.val, kind)
	st.InitValLoss = bestLoss
	bad := 0
	for step := 1; step <= o.Steps; step++ {
		for r := 0; r < B; r++ {
			si, org := unpackWin(data.train[rng.IntN(len(data.train))])
			sh.fill(w, net.dims, r, data.vals[si], org, true)
		}
		net.forward(w, B)
		net.loss(w, B, kind)
		net.backward(w, B)
		frac := float64(step-1) / float64(o.Steps)
		lr := o.LR * (0.05 + 0.95*0.5*(1+math.Cos(math.Pi*frac)))
		opt.step(net.params, w.grad, lr, o.ClipNorm)
		st.Steps = step
		if len(data.val) == 0 || (step%o.EvalEvery != 0 && step != o.Steps) {
			continue
		}
		vl := evalLSTM(net, w, data, sh, data.val, kind)
		if vl < bestLoss || math.IsNaN(bestLoss) {
			bestLoss = vl
			copy(best, net.params)
			st.BestStep = step
			bad = 0
		} else {
			bad++
			if bad >= o.Patience {
				break
			}
		}
	}
	if len(data.val) > 0 {
		copy(net.params, best)
	} else {
		st.BestStep = st.Steps
	}
	st.ValLoss = bestLoss
	for _, p := range net.params {
		if math.IsNaN(p) || math.IsInf(p, 0) {
			return st, errLSTMDiverged
		}
	}
	return st, nil
}

// calibrateLSTM returns per-step lower and upper offsets (in scaled model
// space) from the signed out-of-sample residuals on the validation windows,
// by split conformal prediction (CalibrateResiduals). Without validation
// windows it falls back to the training windows; with too few residuals
// for CalibrateResiduals, to the extreme residuals (conformalBounds).
// When oos is not nil (one entry per series, nil entries skipped), the
// point forecasts from the validation windows are kept in it.
func calibrateLSTM(net *lstmNet, data *lstmData, sh lstmShape, level float64, oos []*lstmOOS) (lo, hi []float64) {
	wins := data.valAll
	if len(wins) == 0 {
		oos = nil
		wins = data.train
		if len(wins) > 2048 {
			keep := make([]uint64, 2048)
			for j := range keep {
				keep[j] = wins[j*len(wins)/2048]
			}
			wins = keep
		}
	}
	K := sh.K
	res := make([][]float64, K)
	w := newLSTMWork(net.dims, 64, false)
	scales := make([]float64, w.cap)
	for i := 0; i < len(wins); i += w.cap {
		b := min(w.cap, len(wins)-i)
		for r := 0; r < b; r++ {
			si, org := unpackWin(wins[i+r])
			scales[r] = sh.fill(w, net.dims, r, data.vals[si], org, true)
		}
		net.forward(w, b)
		for r := 0; r < b; r++ {
			for k := 0; k < K; k++ {
				res[k] = append(res[k], w.Y[r*K+k]-w.Out[r*K+k])
			}
			if oos == nil {
				continue
			}
			si, org := unpackWin(wins[i+r])
			c := oos[si]
			if c == nil || org < c.from {
				continue
			}
			// What PointsAt computes from this origin.
			row := make([]float64, K)
			for k := range row {
				row[k] = sh.inverse(sh.point(w, net.dims, r, k) * scales[r])
			}
			for len(c.rows) <= org-c.from {
				c.rows = append(c.rows, nil)
			}
			c.rows[org-c.from] = row
		}
	}
	if cal, err := CalibrateResiduals(res, level); err == nil {
		return cal.Lower, cal.Upper
	}
	lo = make([]float64, K)
	hi = make([]float64, K)
	alpha := (1 - level) / 2
	for k := 0; k < K; k++ {
		lo[k], hi[k] = conformalBounds(res[k], alpha)
		lo[k], hi[k] = min(lo[k], 0), max(hi[k], 0)
	}
	return lo, hi
}

// conformalBounds returns the lower and upper residual quantiles at alpha
// and 1-alpha with the split-conformal rank correction: the upper bound is
// the ceil((n+1)(1-alpha))-th smallest residual, the lower bound mirrors
// it. With too few residuals the extremes are used.
func conformalBounds(res []float64, alpha float64) (lo, hi float64) {
	n := len(res)
	if n == 0 {
		return 0, 0
	}
	slices.Sort(res)
	r := int(math.Ceil(float64(n+1) * (1 - alpha)))
	if r > n {
		r = n
	}
	hi = res[r-1]
	lo = res[n-r]
	return lo, hi
}
