package forecast

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Serialised booster layout (little endian): the magic "SCGB", a uint16
// format version, the model, and a CRC-32 (IEEE) of everything before it.
const (
	boosterMagic   = "SCGB"
	boosterVersion = 1
)

// ErrCorruptModel is declared in forecast.go (shared by every model).

// MarshalBinary encodes the booster (format version 1).
func (b *Booster) MarshalBinary() ([]byte, error) {
	var buf bytes.Buffer
	w := func(v any) { _ = binary.Write(&buf, binary.LittleEndian, v) }
	buf.WriteString(boosterMagic)
	w(uint16(boosterVersion))
	w(uint32(b.NumFeatures))
	w(uint8(b.Loss))
	w(b.Quantile)
	w(b.Base)
	for f := 0; f < b.NumFeatures; f++ {
		w(uint32(len(b.Edges[f])))
		w(b.Edges[f])
	}
	w(uint32(len(b.Roots)))
	w(b.Roots)
	w(uint32(len(b.Feature)))
	w(b.Feature)
	w(b.Threshold)
	dl := make([]uint8, len(b.DefaultLeft))
	for i, v := range b.DefaultLeft {
		if v {
			dl[i] = 1
		}
	}
	w(dl)
	w(b.Left)
	w(b.Right)
	w(uint32(len(b.LeafValue)))
	w(b.LeafValue)
	w(b.Gain)
	w(crc32.ChecksumIEEE(buf.Bytes()))
	return buf.Bytes(), nil
}

// decoder reads little-endian values with bounds checks.
type decoder struct {
	p   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.p) {
		d.err = fmt.Errorf("%w: truncated", ErrCorruptModel)
		return nil
	}
	b := d.p[:n]
	d.p = d.p[n:]
	return b
}

func (d *decoder) u8() uint8 {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) f64() float64 {
	if b := d.take(8); b != nil {
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	return 0
}

// count reads a length and checks that elem-byte elements can follow.
func (d *decoder) count(elem int) int {
	n := int(d.u32())
	if d.err == nil && n*elem > len(d.p) {
		d.err = fmt.Errorf("%w: length %d exceeds data", ErrCorruptModel, n)
		return 0
	}
	return n
}

func (d *decoder) f64s(n int) []float64 {
	b := d.take(8 * n)
	if b == nil {
		return nil
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out
}

func (d *decoder) i32s(n int) []int32 {
	b := d.take(4 * n)
	if b == nil {
		return nil
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// UnmarshalBinary decodes a booster written by MarshalBinary. Corrupt or
// truncated input yields an error wrapping ErrCorruptModel.
func (b *Booster) UnmarshalBinary(data []byte) error {
	if len(data) < len(boosterMagic)+2+4 || string(data[:len(boosterMagic)]) != boosterMagic {
		return fmt.Errorf("%w: bad magic", ErrCorruptModel)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return fmt.Errorf("%w: checksum mismatch", ErrCorruptModel)
	}
	d := &decoder{p: body[len(boosterMagic):]}
	if v := binary.LittleEndian.Uint16(d.take(2)); v != boosterVersion {
		return fmt.Errorf("%w: unsupported version %d", ErrCorruptModel, v)
	}
	var nb Booster
	nb.NumFeatures = d.count(4)
	nb.Loss = Loss(d.u8())
	nb.Quantile = d.f64()
	nb.Base = d.f64()
	nb.Edges = make([][]float64, nb.NumFeatures)
	for f := range nb.Edges {
		nb.Edges[f] = d.f64s(d.count(8))
	}
	nb.Roots = d.i32s(d.count(4))
	nn := d.count(4 + 8 + 1 + 4 + 4)
	nb.Feature = d.i32s(nn)
	nb.Threshold = d.f64s(nn)
	dl := d.take(nn)
	nb.DefaultLeft = make([]bool, nn)
	for i := range dl {
		nb.DefaultLeft[i] = dl[i] != 0
	}
	nb.Left = d.i32s(nn)
	nb.Right = d.i32s(nn)
	nb.LeafValue = d.f64s(d.count(8))
	nb.Gain = d.f64s(nb.NumFeatures)
	if d.err != nil {
		return d.err
	}
	if len(d.p) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorruptModel, len(d.p))
	}
	if err := nb.check(); err != nil {
		return err
	}
	nb.pack()
	*b = nb
	return nil
}

// check validates the tree structure so that Predict cannot index out of
// range or loop: every child of node i is a later node or a valid leaf.
func (b *Booster) check() error {
	if b.Loss != LossL2 && b.Loss != LossQuantile {
		return fmt.Errorf("%w: unknown loss %d", ErrCorruptModel, b.Loss)
	}
	nn, nl := int32(len(b.Feature)), int32(len(b.LeafValue))
	child := func(parent, c int32) bool {
		if c < 0 {
			return ^c < nl
		}
		return c > parent && c < nn
	}
	for i := int32(0); i < nn; i++ {
		if b.Feature[i] < 0 || int(b.Feature[i]) >= b.NumFeatures || !child(i, b.Left[i]) || !child(i, b.Right[i]) {
			return fmt.Errorf("%w: bad node %d", ErrCorruptModel, i)
		}
	}
	for _, r := range b.Roots {
		if !child(-1, r) {
			return fmt.Errorf("%w: bad root %d", ErrCorruptModel, r)
		}
	}
	return nil
}
