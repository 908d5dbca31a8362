package forecast

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// Binary format of a fitted LSTM (little endian):
//
//	magic "SCLSTM" | version uint16 | payload length uint32 | payload | CRC-32 (IEEE) of all previous bytes
//
// payload (version 1): the resolved options (Hidden, Seq, Lookback, Season,
// Dense, Horizon, flags, Steps, BatchSize, EvalEvery, Patience, Holdout,
// MaxValWindows as int32; LR, ClipNorm as float64), the interval level and
// the per-step lower and upper offsets, TrainEnd, the training statistics,
// then the parameter count and the parameters.

const (
	lstmMagic   = "SCLSTM"
	lstmVersion = 1
	lstmHeader  = len(lstmMagic) + 2 + 4
	// lstmMaxBlob bounds a blob (and so what ReadFrom will allocate).
	lstmMaxBlob = 1 << 30
)

// ErrCorruptModel is declared in forecast.go (shared by every model).

// Clone returns a predictor that shares p's (read-only) weights but has its
// own scratch space, so the two can predict concurrently. Use it to serve
// many series from one persisted global model.
func (p *LSTMPredictor) Clone() *LSTMPredictor {
	c := *p
	c.work, c.work1, c.buf = nil, nil, nil
	return &c
}

type lstmEnc struct{ b []byte }

func (e *lstmEnc) i32(v int)     { e.b = binary.LittleEndian.AppendUint32(e.b, uint32(int32(v))) }
func (e *lstmEnc) f64(v float64) { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v)) }

// MarshalBinary encodes the fitted model (implements
// encoding.BinaryMarshaler).
func (p *LSTMPredictor) MarshalBinary() ([]byte, error) {
	if p.net == nil {
		return nil, ErrNotFitted
	}
	e := &lstmEnc{b: make([]byte, 0, lstmHeader+512+8*len(p.net.params))}
	e.b = append(e.b, lstmMagic...)
	e.b = binary.LittleEndian.AppendUint16(e.b, lstmVersion)
	e.b = binary.LittleEndian.AppendUint32(e.b, 0) // length, patched below
	o := p.opts
	flags := 0
	if o.Log1p {
		flags |= 1
	}
	if o.Residual {
		flags |= 2
	}
	if o.L2Loss {
		flags |= 4
	}
	if p.sh.nonNeg {
		flags |= 8
	}
	for _, v := range []int{o.Hidden, o.Seq, o.Lookback, p.sh.m, o.Dense, p.sh.K, flags,
		o.Steps, o.BatchSize, o.EvalEvery, o.Patience, o.Holdout, o.MaxValWindows} {
		e.i32(v)
	}
	e.f64(o.LR)
	e.f64(o.ClipNorm)
	e.f64(p.level)
	for k := range p.sh.K {
		e.f64(p.lo[k])
		e.f64(p.hi[k])
	}
	st := p.stats
	for _, v := range []int{p.trainEnd, st.Steps, st.BestStep, st.TrainWindows, st.ValWindows} {
		e.i32(v)
	}
	e.f64(st.ValLoss)
	e.f64(st.InitValLoss)
	e.i32(len(p.net.params))
	for _, v := range p.net.params {
		e.f64(v)
	}
	binary.LittleEndian.PutUint32(e.b[len(lstmMagic)+2:], uint32(len(e.b)-lstmHeader))
	return appendCRC(e.b), nil
}

// WriteTo writes the encoded model to w (implements io.WriterTo).
func (p *LSTMPredictor) WriteTo(w io.Writer) (int64, error) {
	b, err := p.MarshalBinary()
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

// ReadFrom reads one encoded model from r, consuming exactly its bytes,
// and replaces p with it (implements io.ReaderFrom).
func (p *LSTMPredictor) ReadFrom(r io.Reader) (int64, error) {
	head := make([]byte, lstmHeader)
	n, err := io.ReadFull(r, head)
	if err != nil {
		return int64(n), fmt.Errorf("lstm: reading header: %w: %w", ErrCorruptModel, err)
	}
	if string(head[:len(lstmMagic)]) != lstmMagic {
		return int64(n), fmt.Errorf("lstm: bad magic: %w", ErrCorruptModel)
	}
	size := binary.LittleEndian.Uint32(head[len(lstmMagic)+2:])
	if size > lstmMaxBlob {
		return int64(n), fmt.Errorf("lstm: payload of %d bytes: %w", size, ErrCorruptModel)
	}
	blob := make([]byte, lstmHeader+int(size)+4)
	copy(blob, head)
	m, err := io.ReadFull(r, blob[lstmHeader:])
	if err != nil {
		return int64(n + m), fmt.Errorf("lstm: reading payload: %w: %w", ErrCorruptModel, err)
	}
	return int64(n + m), p.UnmarshalBinary(blob)
}

func appendCRC(b []byte) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

type lstmDec struct {
	b   []byte
	bad bool
}

func (d *lstmDec) i32() int {
	if len(d.b) < 4 {
		d.bad = true
		return 0
	}
	v := int32(binary.LittleEndian.Uint32(d.b))
	d.b = d.b[4:]
	return int(v)
}

func (d *lstmDec) f64() float64 {
	if len(d.b) < 8 {
		d.bad = true
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

// UnmarshalBinary decodes a model written by MarshalBinary (implements
// encoding.BinaryUnmarshaler). Any defect returns an error wrapping
// ErrCorruptModel; p is left unchanged then.
func (p *LSTMPredictor) UnmarshalBinary(data []byte) error {
	corrupt := func(format string, a ...any) error {
		return fmt.Errorf("lstm: "+format+": %w", append(a, ErrCorruptModel)...)
	}
	if len(data) < lstmHeader+4 {
		return corrupt("%d bytes", len(data))
	}
	if string(data[:len(lstmMagic)]) != lstmMagic {
		return corrupt("bad magic")
	}
	if v := binary.LittleEndian.Uint16(data[len(lstmMagic):]); v != lstmVersion {
		return corrupt("unsupported version %d", v)
	}
	size := binary.LittleEndian.Uint32(data[len(lstmMagic)+2:])
	if uint64(size) != uint64(len(data)-lstmHeader-4) {
		return corrupt("payload length %d, blob holds %d", size, len(data)-lstmHeader-4)
	}
	body := data[:len(data)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return corrupt("checksum mismatch")
	}
	d := &lstmDec{b: body[lstmHeader:]}
	var o LSTMOptions
	o.Hidden, o.Seq, o.Lookback, o.Season, o.Dense = d.i32(), d.i32(), d.i32(), d.i32(), d.i32()
	K, flags := d.i32(), d.i32()
	o.Log1p, o.Residual, o.L2Loss = flags&1 != 0, flags&2 != 0, flags&4 != 0
	o.Steps, o.BatchSize, o.EvalEvery, o.Patience, o.Holdout, o.MaxValWindows = d.i32(), d.i32(), d.i32(), d.i32(), d.i32(), d.i32()
	o.LR, o.ClipNorm = d.f64(), d.f64()
	level := d.f64()
	const maxDim = 1 << 20
	for _, v := range []int{o.Hidden, o.Seq, o.Lookback, o.Season, K} {
		if v < 1 || v > maxDim {
			return corrupt("dimension %d out of range", v)
		}
	}
	if o.Dense < -1 || o.Dense > maxDim || flags&^15 != 0 {
		return corrupt("bad dense size %d or flags %#x", o.Dense, flags)
	}
	if !(level > 0 && level < 1) {
		return corrupt("level %v", level)
	}
	if len(d.b) < 16*K {
		return corrupt("truncated calibration")
	}
	lo, hi := make([]float64, K), make([]float64, K)
	for k := range K {
		lo[k], hi[k] = d.f64(), d.f64()
	}
	var st LSTMStats
	trainEnd := d.i32()
	st.Steps, st.BestStep, st.TrainWindows, st.ValWindows = d.i32(), d.i32(), d.i32(), d.i32()
	st.ValLoss, st.InitValLoss = d.f64(), d.f64()
	np := d.i32()
	if d.bad {
		return corrupt("truncated header")
	}
	sh := newLSTMShape(o, K, o.Season)
	sh.nonNeg = flags&8 != 0
	dims := sh.dims(o)
	// Guard the size arithmetic before trusting it.
	if int64(o.Hidden)*int64(o.Hidden+o.Lookback+K) > 1<<28 || int64(max(o.Dense, 0))*int64(o.Hidden+o.Lookback+2*K) > 1<<28 {
		return corrupt("network too large")
	}
	if np != dims.numParams() || len(d.b) != 8*np {
		return corrupt("%d parameters for a network of %d, %d bytes left", np, dims.numParams(), len(d.b))
	}
	net := newLSTMNet(dims)
	for i := range net.params {
		v := d.f64()
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return corrupt("non-finite parameter")
		}
		net.params[i] = v
	}
	for k := range K {
		if math.IsNaN(lo[k]) || math.IsNaN(hi[k]) {
			return corrupt("non-finite calibration")
		}
	}
	*p = LSTMPredictor{opts: o, sh: sh, net: net, level: level, lo: lo, hi: hi, trainEnd: trainEnd, stats: st}
	return nil
}

// UnmarshalLSTM decodes a model written by (*LSTMPredictor).MarshalBinary.
func UnmarshalLSTM(data []byte) (*LSTMPredictor, error) {
	p := new(LSTMPredictor)
	if err := p.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return p, nil
}
