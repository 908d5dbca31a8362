package forecast

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
)

// Persisted forecasters (GBMPredictor, HybridPredictor) are framed as: a
// 4-byte magic, a uint16 format version, a JSON header and the binary
// blobs of their parts (booster, LSTM), each preceded by a uint32 length,
// then a CRC-32 (IEEE) of everything before it. All integers little endian.
const (
	gbmModelMagic    = "SCGF"
	hybridModelMagic = "SCHY"
	modelFrameV1     = 1
	maxFrameBlob     = 1 << 30
)

func frameModel(magic string, header any, blobs ...[]byte) ([]byte, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return nil, fmt.Errorf("encode header: %w", err)
	}
	b := append([]byte(magic), 0, 0)
	binary.LittleEndian.PutUint16(b[len(magic):], modelFrameV1)
	for _, part := range append([][]byte{h}, blobs...) {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(part)))
		b = append(b, part...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b)), nil
}

// unframeModel checks magic, version and checksum, decodes the header into
// header and returns nblobs blobs.
func unframeModel(data []byte, magic string, header any, nblobs int) ([][]byte, error) {
	if len(data) < len(magic)+2+4 || string(data[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: bad magic", ErrCorruptModel)
	}
	body := data[:len(data)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorruptModel)
	}
	if v := binary.LittleEndian.Uint16(body[len(magic):]); v != modelFrameV1 {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrCorruptModel, v)
	}
	p := body[len(magic)+2:]
	parts := make([][]byte, 0, nblobs+1)
	for range nblobs + 1 {
		if len(p) < 4 {
			return nil, fmt.Errorf("%w: truncated", ErrCorruptModel)
		}
		n := binary.LittleEndian.Uint32(p)
		p = p[4:]
		if n > maxFrameBlob || int(n) > len(p) {
			return nil, fmt.Errorf("%w: part of %d bytes exceeds data", ErrCorruptModel, n)
		}
		parts = append(parts, p[:n])
		p = p[n:]
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorruptModel, len(p))
	}
	if err := json.Unmarshal(parts[0], header); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrCorruptModel, err)
	}
	return parts[1:], nil
}

// forecasterHeader is the JSON header shared by the GBM and hybrid frames.
type forecasterHeader struct {
	Scaler      FeatureScaler
	Features    FeatureSpec
	Events      []Event
	Horizon     int
	Calibration Calibration
	NonNeg      bool
	ScaleWindow int `json:",omitempty"`
}

func (h forecasterHeader) check(b *Booster, extraCols int) error {
	if h.Horizon < 1 || len(h.Calibration.Lower) != len(h.Calibration.Upper) || len(h.Calibration.Lower) == 0 {
		return fmt.Errorf("%w: horizon %d with %d calibrated steps", ErrCorruptModel, h.Horizon, len(h.Calibration.Lower))
	}
	if h.ScaleWindow < 0 || h.ScaleWindow > 1<<20 {
		return fmt.Errorf("%w: scale window %d", ErrCorruptModel, h.ScaleWindow)
	}
	if !(h.Scaler.IQR > 0) {
		return fmt.Errorf("%w: scaler IQR %v", ErrCorruptModel, h.Scaler.IQR)
	}
	if b != nil && b.NumFeatures != len(h.Features.Names())+extraCols {
		return fmt.Errorf("%w: booster has %d features, feature spec %d", ErrCorruptModel, b.NumFeatures, len(h.Features.Names())+extraCols)
	}
	return nil
}

// MarshalBinary encodes the fitted model (implements
// encoding.BinaryMarshaler).
func (p *GBMPredictor) MarshalBinary() ([]byte, error) {
	blob, err := p.booster.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return frameModel(gbmModelMagic, forecasterHeader{Scaler: p.scaler, Features: p.spec, Events: p.events,
		Horizon: p.horizon, Calibration: p.cal, NonNeg: p.nonNeg, ScaleWindow: p.scaleWindow}, blob)
}

// UnmarshalBinary decodes a model written by MarshalBinary; corrupt input
// yields an error wrapping ErrCorruptModel and leaves p unchanged.
func (p *GBMPredictor) UnmarshalBinary(data []byte) error {
	var h forecasterHeader
	blobs, err := unframeModel(data, gbmModelMagic, &h, 1)
	if err != nil {
		return err
	}
	b := new(Booster)
	if err := b.UnmarshalBinary(blobs[0]); err != nil {
		return err
	}
	if err := h.check(b, 0); err != nil {
		return err
	}
	*p = GBMPredictor{booster: b, scaler: h.Scaler, spec: h.Features, names: h.Features.Names(), events: h.Events,
		horizon: h.Horizon, cal: h.Calibration, nonNeg: h.NonNeg, baseCol: h.Features.baseCol(), scaleWindow: h.ScaleWindow}
	return nil
}
