package forecast

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// Loss is the objective a Booster minimises.
type Loss int

// Losses.
const (
	// LossL2 is the squared error; leaves are Newton steps.
	LossL2 Loss = iota
	// LossQuantile is the pinball loss at GBMOptions.Quantile; after each
	// tree the leaf values are renewed to the quantile of the residuals of
	// the rows in the leaf.
	LossQuantile
)

// GBMOptions configures TrainGBM. Zero values take the documented defaults.
type GBMOptions struct {
	// Rounds is the number of trees (default 100).
	Rounds int
	// LearningRate is the shrinkage applied to every leaf (default 0.1).
	LearningRate float64
	// MaxLeaves bounds the leaves of one tree grown leaf-wise (default 31).
	MaxLeaves int
	// MaxDepth bounds the depth of a tree; 0 means unlimited.
	MaxDepth int
	// MinChildWeight is the minimum hessian sum in a child (default 1e-3).
	MinChildWeight float64
	// MinDataInLeaf is the minimum number of rows in a child (default 20).
	MinDataInLeaf int
	// MinGain is the minimum loss reduction to split (default 0).
	MinGain float64
	// Lambda is the L2 regularisation of leaf values (default 1; a negative
	// value means 0).
	Lambda float64
	// MaxBins is the number of value bins per feature, at most 255
	// (default 255). Bin 0 is reserved for missing values.
	MaxBins int
	// Subsample is the fraction of rows drawn for each tree (default 1).
	Subsample float64
	// ColSample is the fraction of features tried for each tree (default 1).
	ColSample float64
	// Loss is the objective (default LossL2).
	Loss Loss
	// Quantile is the target quantile for LossQuantile, in (0, 1).
	Quantile float64
	// ValidX and ValidY, when set, are a validation set evaluated after each
	// tree; training stops after EarlyStoppingRounds trees without
	// improvement and the booster is truncated to the best iteration.
	ValidX              *Matrix
	ValidY              []float64
	EarlyStoppingRounds int
	// Seed drives row and column subsampling.
	Seed uint64
}

func (o GBMOptions) withDefaults() GBMOptions {
	if o.Rounds <= 0 {
		o.Rounds = 100
	}
	if o.LearningRate <= 0 {
		o.LearningRate = 0.1
	}
	if o.MaxLeaves <= 1 {
		o.MaxLeaves = 31
	}
	if o.MinChildWeight <= 0 {
		o.MinChildWeight = 1e-3
	}
	if o.MinDataInLeaf <= 0 {
		o.MinDataInLeaf = 20
	}
	if o.Lambda < 0 {
		o.Lambda = 0
	} else if o.Lambda == 0 {
		o.Lambda = 1
	}
	if o.MaxBins <= 1 || o.MaxBins > 255 {
		o.MaxBins = 255
	}
	if o.Subsample <= 0 || o.Subsample > 1 {
		o.Subsample = 1
	}
	if o.ColSample <= 0 || o.ColSample > 1 {
		o.ColSample = 1
	}
	if o.EarlyStoppingRounds <= 0 {
		o.EarlyStoppingRounds = 10
	}
	return o
}

func (o GBMOptions) validate() error {
	if o.Loss != LossL2 && o.Loss != LossQuantile {
		return fmt.Errorf("gbm: unknown loss %d", o.Loss)
	}
	if o.Loss == LossQuantile && !(o.Quantile > 0 && o.Quantile < 1) {
		return fmt.Errorf("gbm: quantile %v outside (0, 1)", o.Quantile)
	}
	if o.ValidX != nil && o.ValidX.Rows != len(o.ValidY) {
		return fmt.Errorf("gbm: validation set has %d rows and %d targets", o.ValidX.Rows, len(o.ValidY))
	}
	return nil
}

// Booster is a trained gradient-boosted tree ensemble. Trees are stored in
// flat arrays: node i splits on Feature[i] (go left when the value is ≤
// Threshold[i], or when it is NaN and DefaultLeft[i]); a child index c < 0
// is leaf ^c, whose value is LeafValue[^c].
type Booster struct {
	NumFeatures int
	Base        float64
	Loss        Loss
	Quantile    float64
	// Edges[f] are the bin upper edges of feature f (kept for continued
	// training on new data).
	Edges [][]float64
	// Per tree: index of its root node (or ^leaf for a single-leaf tree).
	Roots []int32
	// Nodes.
	Feature     []int32
	Threshold   []float64
	DefaultLeft []bool
	Left, Right []int32
	LeafValue   []float64
	// Gain[f] is the total loss reduction of the splits on feature f.
	Gain []float64

	// Training settings kept for Continue (not serialised).
	opts GBMOptions
	// packed mirrors the node arrays in one cache-friendly array for
	// Predict; rebuilt whenever trees change.
	packed []packedNode
}

// packedNode is one node for inference: left/right as in Booster.Left and
// Booster.Right.
type packedNode struct {
	threshold   float64
	feature     int32
	left, right int32
	defaultLeft bool
}

func (b *Booster) pack() {
	b.packed = make([]packedNode, len(b.Feature))
	for i := range b.packed {
		b.packed[i] = packedNode{threshold: b.Threshold[i], feature: b.Feature[i], left: b.Left[i], right: b.Right[i], defaultLeft: b.DefaultLeft[i]}
	}
}

// clone returns a deep copy (Continue on the copy leaves b unchanged).
func (b *Booster) clone() *Booster {
	c := *b
	c.Edges = make([][]float64, len(b.Edges))
	for i, e := range b.Edges {
		c.Edges[i] = slices.Clone(e)
	}
	c.Roots, c.Feature, c.Threshold = slices.Clone(b.Roots), slices.Clone(b.Feature), slices.Clone(b.Threshold)
	c.DefaultLeft, c.Left, c.Right = slices.Clone(b.DefaultLeft), slices.Clone(b.Left), slices.Clone(b.Right)
	c.LeafValue, c.Gain = slices.Clone(b.LeafValue), slices.Clone(b.Gain)
	c.pack()
	return &c
}

// NumTrees returns the number of trees.
func (b *Booster) NumTrees() int { return len(b.Roots) }

// Predict returns the prediction for one feature row.
func (b *Booster) Predict(row []float64) float64 {
	out := b.Base
	nodes := b.packed
	if len(nodes) != len(b.Feature) {
		for _, n := range b.Roots {
			out += b.LeafValue[^b.walk(n, row)]
		}
		return out
	}
	for _, n := range b.Roots {
		for n >= 0 {
			nd := &nodes[n]
			x := row[nd.feature]
			if x <= nd.threshold || (x != x && nd.defaultLeft) {
				n = nd.left
			} else {
				n = nd.right
			}
		}
		out += b.LeafValue[^n]
	}
	return out
}

// PredictMatrix returns predictions for every row of X.
func (b *Booster) PredictMatrix(X *Matrix) []float64 {
	out := make([]float64, X.Rows)
	for i := range out {
		out[i] = b.Predict(X.Row(i))
	}
	return out
}

// Importance returns the gain importance of each feature, normalised to
// sum 1 (all zeros when no split was made).
func (b *Booster) Importance() []float64 {
	imp := slices.Clone(b.Gain)
	total := 0.0
	for _, g := range imp {
		total += g
	}
	if total > 0 {
		for i := range imp {
			imp[i] /= total
		}
	}
	return imp
}

// binned is a dataset quantised with fixed edges: row-major bins, bin 0 =
// missing. Row-major keeps the bins of one row in one cache line, which
// makes histograms of deep (sparse) leaves cheap.
type binned struct {
	rows, cols int
	rb         []uint8
	nbins      []int // value bins of each feature + 1 (the missing bin)
}

func (d *binned) bin(i, f int) uint8 { return d.rb[i*d.cols+f] }

// quantileEdges returns at most maxBins-1 increasing cut points for the
// non-NaN values of column f of X.
func quantileEdges(X *Matrix, f, maxBins int) []float64 {
	const maxSample = 100000
	stride := max(1, X.Rows/maxSample)
	var xs []float64
	for i := 0; i < X.Rows; i += stride {
		if x := X.At(i, f); !math.IsNaN(x) {
			xs = append(xs, x)
		}
	}
	if len(xs) == 0 {
		return nil
	}
	sort.Float64s(xs)
	distinct := slices.Compact(slices.Clone(xs))
	if len(distinct) <= maxBins {
		// One bin per distinct value: cut half-way between neighbours.
		edges := make([]float64, 0, len(distinct)-1)
		for i := 0; i+1 < len(distinct); i++ {
			edges = append(edges, distinct[i]+(distinct[i+1]-distinct[i])/2)
		}
		return edges
	}
	edges := make([]float64, 0, maxBins-1)
	for k := 1; k < maxBins; k++ {
		pos := k * len(xs) / maxBins
		// Cut between xs[pos-1] and the next larger value.
		v := xs[pos-1]
		j := sort.SearchFloat64s(xs, math.Nextafter(v, math.Inf(1)))
		if j >= len(xs) {
			break
		}
		e := v + (xs[j]-v)/2
		if len(edges) == 0 || e > edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}
	return edges
}

func binValue(edges []float64, x float64) uint8 {
	if math.IsNaN(x) {
		return 0
	}
	return uint8(1 + sort.SearchFloat64s(edges, x)) // first edge ≥ x
}

func binMatrix(X *Matrix, edges [][]float64) *binned {
	d := &binned{rows: X.Rows, cols: X.Cols, rb: make([]uint8, len(X.Data)), nbins: make([]int, X.Cols)}
	for f := 0; f < X.Cols; f++ {
		e := edges[f]
		for i := 0; i < X.Rows; i++ {
			d.rb[i*X.Cols+f] = binValue(e, X.Data[i*X.Cols+f])
		}
		d.nbins[f] = len(e) + 2
	}
	return d
}

// TrainGBM trains a booster on X (rows × features, NaN = missing) and y.
func TrainGBM(X *Matrix, y []float64, opts GBMOptions) (*Booster, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if X == nil || X.Rows == 0 || X.Cols == 0 {
		return nil, fmt.Errorf("gbm: empty training set: %w", ErrNotEnoughData)
	}
	if len(y) != X.Rows {
		return nil, fmt.Errorf("gbm: %d rows and %d targets", X.Rows, len(y))
	}
	for _, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("gbm: targets must be finite")
		}
	}
	b := &Booster{NumFeatures: X.Cols, Loss: opts.Loss, Quantile: opts.Quantile,
		Edges: make([][]float64, X.Cols), Gain: make([]float64, X.Cols), opts: opts}
	for f := range X.Cols {
		b.Edges[f] = quantileEdges(X, f, opts.MaxBins)
	}
	switch opts.Loss {
	case LossL2:
		s := 0.0
		for _, v := range y {
			s += v
		}
		b.Base = s / float64(len(y))
	case LossQuantile:
		ys := slices.Clone(y)
		sort.Float64s(ys)
		b.Base = sortedQuantile(ys, opts.Quantile)
	}
	pred := make([]float64, len(y))
	for i := range pred {
		pred[i] = b.Base
	}
	if err := b.boost(binMatrix(X, b.Edges), y, pred, opts); err != nil {
		return nil, err
	}
	b.pack()
	return b, nil
}

// Continue appends opts.Rounds trees fitted on new data (warm start); the
// bin edges of the first training are kept. Options other than Rounds,
// Subsample, ColSample, Seed, the validation set and LearningRate are taken
// from the original training.
func (b *Booster) Continue(X *Matrix, y []float64, opts GBMOptions) error {
	if X == nil || X.Rows == 0 {
		return fmt.Errorf("gbm: empty training set: %w", ErrNotEnoughData)
	}
	if X.Cols != b.NumFeatures || len(y) != X.Rows {
		return fmt.Errorf("gbm: continue with %d×%d and %d targets, booster has %d features", X.Rows, X.Cols, len(y), b.NumFeatures)
	}
	base := b.opts
	if base.Rounds == 0 { // deserialised booster: take the caller's options
		base = opts
	}
	base.Rounds, base.Subsample, base.ColSample, base.Seed = opts.Rounds, opts.Subsample, opts.ColSample, opts.Seed
	base.ValidX, base.ValidY, base.EarlyStoppingRounds = opts.ValidX, opts.ValidY, opts.EarlyStoppingRounds
	if opts.LearningRate > 0 {
		base.LearningRate = opts.LearningRate
	}
	base.Loss, base.Quantile = b.Loss, b.Quantile
	base = base.withDefaults()
	if err := base.validate(); err != nil {
		return err
	}
	pred := b.PredictMatrix(X)
	b.packed = nil // the node arrays grow during boosting
	err := b.boost(binMatrix(X, b.Edges), y, pred, base)
	b.pack()
	return err
}

// histBin accumulates a gradient sum and a row count. Both supported
// losses have a unit hessian, so the count is also the hessian sum.
type histBin struct {
	g, n float64
}

// splitInfo is the best split of a leaf.
type splitInfo struct {
	gain        float64
	feature     int
	bin         uint8 // go left when bin ≤ this value bin (and missing per defaultLeft)
	defaultLeft bool
	gl, hl      float64
	nl          int
}

// leaf is a leaf under construction.
type leaf struct {
	lo, hi int // range into the row index buffer
	depth  int
	g, h   float64
	hist   []histBin // features × 256
	best   splitInfo
	node   int // the node whose child this leaf is (-1 for the root)
	isLeft bool
}

type trainer struct {
	d      *binned
	o      GBMOptions
	grad   []float64
	idx    []int32
	feats  []int // features tried in this tree
	free   [][]histBin
	nodes  int
	b      *Booster
	leaves []*leaf
}

func (b *Booster) boost(d *binned, y, pred []float64, o GBMOptions) error {
	n := d.rows
	t := &trainer{d: d, o: o, grad: make([]float64, n), b: b}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	var validPred []float64
	bestLoss, bestTrees, sinceBest := math.Inf(1), len(b.Roots), 0
	if o.ValidX != nil {
		if o.ValidX.Cols != b.NumFeatures {
			return fmt.Errorf("gbm: validation set has %d features, want %d", o.ValidX.Cols, b.NumFeatures)
		}
		validPred = b.PredictMatrix(o.ValidX)
		bestLoss = 0
		for i, p := range validPred {
			bestLoss += pointLoss(o.Loss, o.Quantile, o.ValidY[i], p)
		}
	}
	nodesAt := func() [3]int { return [3]int{len(b.Feature), len(b.LeafValue), len(b.Roots)} }
	var best [3]int = nodesAt()
	var bestGain []float64 = slices.Clone(b.Gain)
	allFeats := make([]int, d.cols)
	for i := range allFeats {
		allFeats[i] = i
	}
	for round := 0; round < o.Rounds; round++ {
		// Gradients.
		for i := range n {
			r := pred[i] - y[i]
			switch o.Loss {
			case LossL2:
				t.grad[i] = r
			case LossQuantile:
				if r > 0 {
					t.grad[i] = 1 - o.Quantile
				} else if r < 0 {
					t.grad[i] = -o.Quantile
				} else {
					t.grad[i] = 0
				}
			}
		}
		// Rows of this tree.
		t.idx = t.idx[:0]
		for i := range n {
			if o.Subsample >= 1 || rng.Float64() < o.Subsample {
				t.idx = append(t.idx, int32(i))
			}
		}
		if len(t.idx) == 0 {
			t.idx = append(t.idx, int32(rng.IntN(n)))
		}
		t.feats = allFeats
		if o.ColSample < 1 {
			k := max(1, int(math.Round(o.ColSample*float64(d.cols))))
			perm := rng.Perm(d.cols)[:k]
			sort.Ints(perm)
			t.feats = perm
		}
		leafRows := t.growTree()
		firstLeaf := len(b.LeafValue) - len(leafRows)
		if o.Loss == LossQuantile {
			// Leaf renewal: the q-quantile of the residuals in each leaf.
			for li, rows := range leafRows {
				res := make([]float64, len(rows))
				for j, r := range rows {
					res[j] = y[r] - pred[r]
				}
				sort.Float64s(res)
				b.LeafValue[firstLeaf+li] = o.LearningRate * sortedQuantile(res, o.Quantile)
			}
		}
		// Update predictions: binned traversal covers rows outside the
		// subsample too.
		root := b.Roots[len(b.Roots)-1]
		if len(t.idx) == n {
			for li, rows := range leafRows {
				v := b.LeafValue[firstLeaf+li]
				for _, r := range rows {
					pred[r] += v
				}
			}
		} else {
			for i := range n {
				pred[i] += b.LeafValue[^t.walkBinned(root, i)]
			}
		}
		if o.ValidX != nil {
			loss := 0.0
			for i := range validPred {
				validPred[i] += b.LeafValue[^b.walk(root, o.ValidX.Row(i))]
				loss += pointLoss(o.Loss, o.Quantile, o.ValidY[i], validPred[i])
			}
			if loss < bestLoss-1e-12*math.Abs(bestLoss) {
				bestLoss, sinceBest, best, bestGain = loss, 0, nodesAt(), slices.Clone(b.Gain)
				bestTrees = len(b.Roots)
			} else if sinceBest++; sinceBest >= o.EarlyStoppingRounds {
				break
			}
		}
	}
	if o.ValidX != nil && bestTrees < len(b.Roots) {
		b.Feature, b.Threshold, b.DefaultLeft = b.Feature[:best[0]], b.Threshold[:best[0]], b.DefaultLeft[:best[0]]
		b.Left, b.Right = b.Left[:best[0]], b.Right[:best[0]]
		b.LeafValue, b.Roots, b.Gain = b.LeafValue[:best[1]], b.Roots[:best[2]], bestGain
	}
	return nil
}

func pointLoss(l Loss, q, y, p float64) float64 {
	if l == LossQuantile {
		if y >= p {
			return q * (y - p)
		}
		return (1 - q) * (p - y)
	}
	return (y - p) * (y - p)
}

func (b *Booster) walk(n int32, row []float64) int32 {
	for n >= 0 {
		x := row[b.Feature[n]]
		if x <= b.Threshold[n] || (x != x && b.DefaultLeft[n]) {
			n = b.Left[n]
		} else {
			n = b.Right[n]
		}
	}
	return n
}

// walkBinned walks the tree rooted at n for training row i using bins.
func (t *trainer) walkBinned(n int32, i int) int32 {
	b := t.b
	for n >= 0 {
		f := b.Feature[n]
		bin := t.d.bin(i, int(f))
		var left bool
		if bin == 0 {
			left = b.DefaultLeft[n]
		} else {
			left = b.Threshold[n] >= binUpper(b.Edges[f], bin)
		}
		if left {
			n = b.Left[n]
		} else {
			n = b.Right[n]
		}
	}
	return n
}

// binUpper returns a value inside value bin bin (≥1): its upper edge, or
// +Inf for the last bin.
func binUpper(edges []float64, bin uint8) float64 {
	if int(bin)-1 < len(edges) {
		return edges[bin-1]
	}
	return math.Inf(1)
}

func (t *trainer) newHist() []histBin {
	if k := len(t.free); k > 0 {
		h := t.free[k-1]
		t.free = t.free[:k-1]
		clear(h)
		return h
	}
	return make([]histBin, t.d.cols*256)
}

// buildHist fills the histogram of a leaf from its rows.
func (t *trainer) buildHist(l *leaf) {
	rows := t.idx[l.lo:l.hi]
	cols := t.d.cols
	hist := l.hist
	if len(t.feats) == cols {
		for _, r := range rows {
			g := t.grad[r]
			rb := t.d.rb[int(r)*cols : int(r)*cols+cols]
			for f, b := range rb {
				hb := &hist[f<<8|int(b)]
				hb.g += g
				hb.n++
			}
		}
		return
	}
	for _, r := range rows {
		g := t.grad[r]
		rb := t.d.rb[int(r)*cols : int(r)*cols+cols]
		for _, f := range t.feats {
			hb := &hist[f<<8|int(rb[f])]
			hb.g += g
			hb.n++
		}
	}
}

// findSplit sets l.best.
func (t *trainer) findSplit(l *leaf) {
	o := t.o
	l.best = splitInfo{gain: math.Inf(-1), feature: -1}
	if l.hi-l.lo < 2*o.MinDataInLeaf || (o.MaxDepth > 0 && l.depth >= o.MaxDepth) {
		return
	}
	parent := l.g * l.g / (l.h + o.Lambda)
	total := float64(l.hi - l.lo)
	minData := float64(o.MinDataInLeaf)
	for _, f := range t.feats {
		hist := l.hist[f*256 : f*256+t.d.nbins[f]]
		miss := hist[0]
		for _, missLeft := range []bool{false, true} {
			if missLeft && miss.n == 0 {
				break // same as missing right
			}
			gl, nl := 0.0, 0.0
			if missLeft {
				gl, nl = miss.g, miss.n
			}
			for bin := 1; bin < len(hist)-1; bin++ {
				gl += hist[bin].g
				nl += hist[bin].n
				hl := nl
				if nl < minData || hl < o.MinChildWeight {
					continue
				}
				nr := total - nl
				hr := nr
				if nr < minData || hr < o.MinChildWeight {
					break
				}
				gr := l.g - gl
				gain := gl*gl/(hl+o.Lambda) + gr*gr/(hr+o.Lambda) - parent
				if gain > l.best.gain {
					l.best = splitInfo{gain: gain, feature: f, bin: uint8(bin), defaultLeft: missLeft, gl: gl, hl: hl, nl: int(nl)}
				}
			}
		}
	}
	if l.best.feature >= 0 && !(l.best.gain > o.MinGain && l.best.gain > 1e-12) {
		l.best.feature = -1
	}
}

// growTree grows one tree leaf-wise on t.idx and appends it to the booster.
// It returns the training rows of each new leaf, in leaf order.
func (t *trainer) growTree() [][]int32 {
	b, o := t.b, t.o
	root := &leaf{lo: 0, hi: len(t.idx), h: float64(len(t.idx)), hist: t.newHist(), node: -1}
	for _, r := range t.idx {
		root.g += t.grad[r]
	}
	t.buildHist(root)
	t.findSplit(root)
	t.leaves = append(t.leaves[:0], root)
	rootNode := int32(-1)
	for len(t.leaves) < o.MaxLeaves {
		// The leaf with the largest gain (lowest index on ties).
		bi := -1
		for i, l := range t.leaves {
			if l.best.feature >= 0 && (bi < 0 || l.best.gain > t.leaves[bi].best.gain) {
				bi = i
			}
		}
		if bi < 0 {
			break
		}
		l := t.leaves[bi]
		s := l.best
		// New internal node.
		node := int32(len(b.Feature))
		b.Feature = append(b.Feature, int32(s.feature))
		b.Threshold = append(b.Threshold, binUpper(b.Edges[s.feature], s.bin))
		b.DefaultLeft = append(b.DefaultLeft, s.defaultLeft)
		b.Left = append(b.Left, 0)
		b.Right = append(b.Right, 0)
		b.Gain[s.feature] += s.gain
		t.link(l, node)
		// Partition rows in place: left rows first, order kept.
		cols, rb := t.d.cols, t.d.rb
		rows := t.idx[l.lo:l.hi]
		tmp := make([]int32, 0, len(rows)-s.nl)
		k := 0
		for _, r := range rows {
			bin := rb[int(r)*cols+s.feature]
			if (bin == 0 && s.defaultLeft) || (bin != 0 && bin <= s.bin) {
				rows[k] = r
				k++
			} else {
				tmp = append(tmp, r)
			}
		}
		copy(rows[k:], tmp)
		left := &leaf{lo: l.lo, hi: l.lo + k, depth: l.depth + 1, g: s.gl, h: s.hl, node: int(node), isLeft: true}
		right := &leaf{lo: l.lo + k, hi: l.hi, depth: l.depth + 1, g: l.g - s.gl, h: l.h - s.hl, node: int(node)}
		// Histogram subtraction: build the smaller child, derive the other.
		small, large := left, right
		if small.hi-small.lo > large.hi-large.lo {
			small, large = large, small
		}
		small.hist = t.newHist()
		t.buildHist(small)
		large.hist = l.hist
		for _, f := range t.feats {
			lh, sh := large.hist[f*256:f*256+256], small.hist[f*256:f*256+256]
			for j := range t.d.nbins[f] {
				lh[j].g -= sh[j].g
				lh[j].n -= sh[j].n
			}
		}
		t.findSplit(left)
		t.findSplit(right)
		if rootNode < 0 {
			rootNode = node
		}
		t.leaves[bi] = left
		t.leaves = slices.Insert(t.leaves, bi+1, right)
	}
	// Emit leaves.
	rowsOf := make([][]int32, len(t.leaves))
	for i, l := range t.leaves {
		li := int32(len(b.LeafValue))
		b.LeafValue = append(b.LeafValue, -o.LearningRate*l.g/(l.h+o.Lambda))
		t.link(l, ^li)
		rowsOf[i] = t.idx[l.lo:l.hi]
		t.free = append(t.free, l.hist)
		l.hist = nil
	}
	if rootNode < 0 {
		rootNode = ^int32(len(b.LeafValue) - 1)
	}
	b.Roots = append(b.Roots, rootNode)
	return rowsOf
}

// link points the parent's child slot of l at n.
func (t *trainer) link(l *leaf, n int32) {
	if l.node < 0 {
		return
	}
	if l.isLeft {
		t.b.Left[l.node] = n
	} else {
		t.b.Right[l.node] = n
	}
}
