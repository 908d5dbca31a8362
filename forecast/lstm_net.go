package forecast

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// This file holds the numerical core of the LSTM forecaster: one LSTM layer
// over a short sequence followed by a dense head that emits every horizon
// step at once, its forward pass, backpropagation through time and Adam.
// Every matrix is a row-major []float64; the GEMMs go through gonum's pure
// Go BLAS. Buffers are allocated once per workspace, so a training step
// allocates nothing.

var blasImpl gonum.Implementation

// lstmDims are the shapes of a network.
type lstmDims struct {
	D int // input features per time step
	H int // LSTM hidden units
	T int // sequence length
	S int // skip features fed straight into the head
	F int // dense hidden units of the head (0: linear head)
	K int // horizon (outputs)
}

// lstmNet holds the parameters in one flat slice plus views into it.
type lstmNet struct {
	dims   lstmDims
	params []float64
	w      lstmViews
}

// lstmViews are named views into a flat parameter (or gradient) slice.
type lstmViews struct {
	W  []float64 // (D+H) x 4H, gate order i, f, g, o
	B  []float64 // 4H
	W1 []float64 // (H+S) x F
	B1 []float64 // F
	W2 []float64 // F x K, or (H+S) x K when F == 0
	B2 []float64 // K
}

// numParams returns the length of the flat parameter slice.
func (d lstmDims) numParams() int {
	g := 4 * d.H
	n := (d.D+d.H)*g + g
	u := d.H + d.S
	if d.F > 0 {
		n += u*d.F + d.F + d.F*d.K + d.K
	} else {
		n += u*d.K + d.K
	}
	return n
}

// bind slices p into views; len(p) must be numParams().
func (d lstmDims) bind(p []float64) lstmViews {
	var v lstmViews
	g := 4 * d.H
	take := func(n int) []float64 {
		s := p[:n:n]
		p = p[n:]
		return s
	}
	v.W = take((d.D + d.H) * g)
	v.B = take(g)
	u := d.H + d.S
	if d.F > 0 {
		v.W1 = take(u * d.F)
		v.B1 = take(d.F)
		v.W2 = take(d.F * d.K)
	} else {
		v.W2 = take(u * d.K)
	}
	v.B2 = take(d.K)
	return v
}

func newLSTMNet(d lstmDims) *lstmNet {
	n := &lstmNet{dims: d, params: make([]float64, d.numParams())}
	n.w = d.bind(n.params)
	return n
}

// init draws Glorot-uniform weights, zero biases and a forget-gate bias of
// 1. With zeroOut the output layer starts at zero (the network then starts
// from its base forecast, the seasonal naive in residual mode).
func (n *lstmNet) init(rng *rand.Rand, zeroOut bool) {
	d := n.dims
	fill := func(w []float64, fanIn, fanOut int) {
		a := math.Sqrt(6 / float64(fanIn+fanOut))
		for i := range w {
			w[i] = (2*rng.Float64() - 1) * a
		}
	}
	clear(n.params)
	fill(n.w.W, d.D+d.H, 4*d.H)
	for j := d.H; j < 2*d.H; j++ {
		n.w.B[j] = 1
	}
	u := d.H + d.S
	if d.F > 0 {
		fill(n.w.W1, u, d.F)
		fill(n.w.W2, d.F, d.K)
	} else {
		fill(n.w.W2, u, d.K)
	}
	if zeroOut {
		clear(n.w.W2)
	}
}

func (n *lstmNet) clone() *lstmNet {
	c := newLSTMNet(n.dims)
	copy(c.params, n.params)
	return c
}

// lstmWork is the scratch space of forward and backward passes for batches
// of up to cap samples.
type lstmWork struct {
	cap int
	// forward
	Z   []float64 // T blocks of cap x (D+H): [x_t | h_{t-1}]
	A   []float64 // T blocks of cap x 4H: gate activations
	C   []float64 // T blocks of cap x H: cell state c_t
	TC  []float64 // T blocks of cap x H: tanh(c_t)
	U   []float64 // cap x (H+S): [h_T | skip]
	P   []float64 // cap x F: relu hidden of the head
	Out []float64 // cap x K
	Y   []float64 // cap x K targets
	// backward
	grad  []float64
	g     lstmViews
	dOut  []float64 // cap x K
	dP    []float64 // cap x F
	dU    []float64 // cap x (H+S)
	dG    []float64 // cap x 4H
	dh    []float64 // cap x H
	dc    []float64 // cap x H
	withG bool
}

func newLSTMWork(d lstmDims, capacity int, withGrad bool) *lstmWork {
	w := &lstmWork{cap: capacity, withG: withGrad}
	g := 4 * d.H
	w.Z = make([]float64, d.T*capacity*(d.D+d.H))
	w.A = make([]float64, d.T*capacity*g)
	w.C = make([]float64, d.T*capacity*d.H)
	w.TC = make([]float64, d.T*capacity*d.H)
	w.U = make([]float64, capacity*(d.H+d.S))
	w.P = make([]float64, capacity*d.F)
	w.Out = make([]float64, capacity*d.K)
	w.Y = make([]float64, capacity*d.K)
	if withGrad {
		w.grad = make([]float64, d.numParams())
		w.g = d.bind(w.grad)
		w.dOut = make([]float64, capacity*d.K)
		w.dP = make([]float64, capacity*d.F)
		w.dU = make([]float64, capacity*(d.H+d.S))
		w.dG = make([]float64, capacity*g)
		w.dh = make([]float64, capacity*d.H)
		w.dc = make([]float64, capacity*d.H)
	}
	return w
}

// zAt returns the input row block of time step t (cap rows).
func (w *lstmWork) zAt(d lstmDims, t int) []float64 {
	n := w.cap * (d.D + d.H)
	return w.Z[t*n : (t+1)*n]
}

// sigmoidBias sets v[j] to the logistic function of v[j]+bias[j].
func sigmoidBias(v, bias []float64) {
	bias = bias[:len(v)]
	for j, x := range v {
		v[j] = 1 / (1 + math.Exp(-(x + bias[j])))
	}
}

// forward runs the network on the first b samples whose inputs are already
// in w (x_t in the first D columns of each Z block, skip features in the
// last S columns of U). It leaves the outputs in w.Out.
func (n *lstmNet) forward(w *lstmWork, b int) {
	d := n.dims
	H, D, g := d.H, d.D, 4*d.H
	zw := D + H
	cb := w.cap
	for t := 0; t < d.T; t++ {
		z := w.Z[t*cb*zw:]
		if t == 0 {
			for r := 0; r < b; r++ {
				clear(z[r*zw+D : r*zw+zw])
			}
		}
		a := w.A[t*cb*g:]
		blasImpl.Dgemm(blas.NoTrans, blas.NoTrans, b, g, zw, 1, z, zw, n.w.W, g, 0, a, g)
		c := w.C[t*cb*H:]
		tc := w.TC[t*cb*H:]
		var cPrev []float64
		if t > 0 {
			cPrev = w.C[(t-1)*cb*H:]
		}
		// h_t goes into the next Z block, or into U after the last step.
		var hDst []float64
		hStride := 0
		if t+1 < d.T {
			hDst = w.Z[(t+1)*cb*zw+D:]
			hStride = zw
		} else {
			hDst = w.U
			hStride = H + d.S
		}
		for r := 0; r < b; r++ {
			ar := a[r*g : r*g+g]
			bias := n.w.B[:len(ar)]
			sigmoidBias(ar[:2*H], bias[:2*H])
			tg, tb := ar[2*H:3*H], bias[2*H:3*H]
			for j, v := range tg {
				tg[j] = math.Tanh(v + tb[j])
			}
			sigmoidBias(ar[3*H:], bias[3*H:])
			cr := c[r*H : r*H+H]
			tcr := tc[r*H : r*H+H]
			hr := hDst[r*hStride : r*hStride+H]
			ig, fg, gg, og := ar[:H], ar[H:2*H], ar[2*H:3*H], ar[3*H:g]
			if cPrev != nil {
				cp := cPrev[r*H : r*H+H]
				for j := 0; j < H; j++ {
					cr[j] = fg[j]*cp[j] + ig[j]*gg[j]
				}
			} else {
				for j := 0; j < H; j++ {
					cr[j] = ig[j] * gg[j]
				}
			}
			for j, v := range cr {
				tcr[j] = math.Tanh(v)
			}
			for j, v := range tcr {
				hr[j] = og[j] * v
			}
		}
	}
	n.head(w, b)
}

// head computes Out from U.
func (n *lstmNet) head(w *lstmWork, b int) {
	d := n.dims
	u := d.H + d.S
	if d.F > 0 {
		blasImpl.Dgemm(blas.NoTrans, blas.NoTrans, b, d.F, u, 1, w.U, u, n.w.W1, d.F, 0, w.P, d.F)
		for r := 0; r < b; r++ {
			pr := w.P[r*d.F : r*d.F+d.F]
			for j := range pr {
				v := pr[j] + n.w.B1[j]
				if v < 0 {
					v = 0
				}
				pr[j] = v
			}
		}
		blasImpl.Dgemm(blas.NoTrans, blas.NoTrans, b, d.K, d.F, 1, w.P, d.F, n.w.W2, d.K, 0, w.Out, d.K)
	} else {
		blasImpl.Dgemm(blas.NoTrans, blas.NoTrans, b, d.K, u, 1, w.U, u, n.w.W2, d.K, 0, w.Out, d.K)
	}
	for r := 0; r < b; r++ {
		or := w.Out[r*d.K : r*d.K+d.K]
		for j := range or {
			or[j] += n.w.B2[j]
		}
	}
}

// Loss kinds.
const (
	lossL1 = iota
	lossL2
)

// loss returns the mean loss of the first b samples against w.Y and, when
// the workspace has gradients, writes dLoss/dOut into w.dOut.
func (n *lstmNet) loss(w *lstmWork, b, kind int) float64 {
	k := n.dims.K
	m := b * k
	inv := 1 / float64(m)
	var s float64
	for i := 0; i < m; i++ {
		e := w.Out[i] - w.Y[i]
		switch kind {
		case lossL2:
			s += 0.5 * e * e
			if w.withG {
				w.dOut[i] = e * inv
			}
		default:
			s += math.Abs(e)
			if w.withG {
				switch {
				case e > 0:
					w.dOut[i] = inv
				case e < 0:
					w.dOut[i] = -inv
				default:
					w.dOut[i] = 0
				}
			}
		}
	}
	return s * inv
}

// backward accumulates into w.grad (which it zeroes first) the gradient of
// the loss whose dOut was set by loss, for the first b samples of the last
// forward pass.
func (n *lstmNet) backward(w *lstmWork, b int) {
	d := n.dims
	H, D, g := d.H, d.D, 4*d.H
	zw := D + H
	u := H + d.S
	cb := w.cap
	clear(w.grad)
	gr := w.g
	// Head.
	if d.F > 0 {
		blasImpl.Dgemm(blas.Trans, blas.NoTrans, d.F, d.K, b, 1, w.P, d.F, w.dOut, d.K, 0, gr.W2, d.K)
		colSum(gr.B2, w.dOut, b, d.K)
		blasImpl.Dgemm(blas.NoTrans, blas.Trans, b, d.F, d.K, 1, w.dOut, d.K, n.w.W2, d.K, 0, w.dP, d.F)
		for i := 0; i < b*d.F; i++ {
			if w.P[i] <= 0 {
				w.dP[i] = 0
			}
		}
		blasImpl.Dgemm(blas.Trans, blas.NoTrans, u, d.F, b, 1, w.U, u, w.dP, d.F, 0, gr.W1, d.F)
		colSum(gr.B1, w.dP, b, d.F)
		blasImpl.Dgemm(blas.NoTrans, blas.Trans, b, u, d.F, 1, w.dP, d.F, n.w.W1, d.F, 0, w.dU, u)
	} else {
		blasImpl.Dgemm(blas.Trans, blas.NoTrans, u, d.K, b, 1, w.U, u, w.dOut, d.K, 0, gr.W2, d.K)
		colSum(gr.B2, w.dOut, b, d.K)
		blasImpl.Dgemm(blas.NoTrans, blas.Trans, b, u, d.K, 1, w.dOut, d.K, n.w.W2, d.K, 0, w.dU, u)
	}
	for r := 0; r < b; r++ {
		copy(w.dh[r*H:r*H+H], w.dU[r*u:r*u+H])
		clear(w.dc[r*H : r*H+H])
	}
	// Backpropagation through time.
	for t := d.T - 1; t >= 0; t-- {
		a := w.A[t*cb*g:]
		tc := w.TC[t*cb*H:]
		var cPrev []float64
		if t > 0 {
			cPrev = w.C[(t-1)*cb*H:]
		}
		for r := 0; r < b; r++ {
			ar := a[r*g : r*g+g]
			ig, fg, gg, og := ar[:H], ar[H:2*H], ar[2*H:3*H], ar[3*H:g]
			dgr := w.dG[r*g : r*g+g]
			dI, dF, dGg, dO := dgr[:H], dgr[H:2*H], dgr[2*H:3*H], dgr[3*H:g]
			tcr := tc[r*H : r*H+H]
			dhr := w.dh[r*H : r*H+H]
			dcr := w.dc[r*H : r*H+H]
			for j := 0; j < H; j++ {
				tcj := tcr[j]
				o := og[j]
				dc := dcr[j] + dhr[j]*o*(1-tcj*tcj)
				dO[j] = dhr[j] * tcj * o * (1 - o)
				i, gv, f := ig[j], gg[j], fg[j]
				dI[j] = dc * gv * i * (1 - i)
				dGg[j] = dc * i * (1 - gv*gv)
				if cPrev != nil {
					dF[j] = dc * cPrev[r*H+j] * f * (1 - f)
				} else {
					dF[j] = 0
				}
				dcr[j] = dc * f
			}
		}
		z := w.Z[t*cb*zw:]
		blasImpl.Dgemm(blas.Trans, blas.NoTrans, zw, g, b, 1, z, zw, w.dG, g, 1, gr.W, g)
		colSumAdd(gr.B, w.dG, b, g)
		if t > 0 {
			// dh_{t-1} = dG · W_h^T: only the rows of W that multiply
			// h_{t-1} (the inputs x_t need no gradient).
			blasImpl.Dgemm(blas.NoTrans, blas.Trans, b, H, g, 1, w.dG, g, n.w.W[D*g:], g, 0, w.dh, H)
		}
	}
}

// colSum writes into dst the column sums of the b x k matrix m.
func colSum(dst, m []float64, b, k int) {
	clear(dst)
	colSumAdd(dst, m, b, k)
}

func colSumAdd(dst, m []float64, b, k int) {
	for r := 0; r < b; r++ {
		row := m[r*k : r*k+k]
		for j, v := range row {
			dst[j] += v
		}
	}
}

// adam is the Adam optimiser state over a flat parameter slice.
type adam struct {
	lr, beta1, beta2, eps float64
	m, v                  []float64
	t                     int
}

func newAdam(n int, lr float64) *adam {
	return &adam{lr: lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, m: make([]float64, n), v: make([]float64, n)}
}

// step clips grad to a global L2 norm of at most clip (when clip > 0),
// then applies one Adam update with learning rate lr. It returns the norm
// before clipping.
func (o *adam) step(params, grad []float64, lr, clip float64) float64 {
	var ss float64
	for _, g := range grad {
		ss += g * g
	}
	norm := math.Sqrt(ss)
	scale := 1.0
	if clip > 0 && norm > clip {
		scale = clip / norm
	}
	o.t++
	b1, b2 := o.beta1, o.beta2
	c1 := 1 - math.Pow(b1, float64(o.t))
	c2 := 1 - math.Pow(b2, float64(o.t))
	a := lr * math.Sqrt(c2) / c1
	for i, g := range grad {
		g *= scale
		m := b1*o.m[i] + (1-b1)*g
		v := b2*o.v[i] + (1-b2)*g*g
		o.m[i], o.v[i] = m, v
		params[i] -= a * m / (math.Sqrt(v) + o.eps)
	}
	return norm
}
