package forecast

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
)

// MarshalBinary encodes the fitted model, its LSTM included (implements
// encoding.BinaryMarshaler).
func (p *HybridPredictor) MarshalBinary() ([]byte, error) {
	var gb []byte
	if p.gbm != nil {
		var err error
		if gb, err = p.gbm.MarshalBinary(); err != nil {
			return nil, err
		}
	}
	// The LSTMs of all seeds, back to back.
	var lb []byte
	for _, m := range p.lstm.members {
		b, err := m.MarshalBinary()
		if err != nil {
			return nil, err
		}
		lb = append(lb, b...)
	}
	// The per-series gate travels in a third blob (8 bytes, the shrink
	// as float64 bits); models written before it have two.
	sb := binary.LittleEndian.AppendUint64(nil, math.Float64bits(p.shrink))
	// The Holt-Winters member (Combine) in a fourth: its weight and
	// parameters as JSON, with what the fit chose that a warm start keeps
	// (NoGate, GateMargin, Combine); empty when there is none of them. The
	// member's state is rebuilt from the history at the first Predict.
	var hb []byte
	if p.hw != nil || p.noGate || p.combine || p.gateMargin != 0 {
		x := hybridHW{NoGate: p.noGate, GateMargin: p.gateMargin, Combine: p.combine}
		if p.hw != nil {
			x.W, x.Alpha, x.Beta, x.Gamma, x.Phi = p.hwW, p.hw.par.alpha, p.hw.par.beta, p.hw.par.gamma, p.hw.par.phi
			x.Period, x.Log = p.hw.period, p.hw.log
		}
		var err error
		if hb, err = json.Marshal(x); err != nil {
			return nil, err
		}
	}
	return frameModel(hybridModelMagic, forecasterHeader{Scaler: p.scaler, Features: p.spec, Events: p.events,
		Horizon: p.horizon, Calibration: p.cal, NonNeg: p.nonNeg, ScaleWindow: p.scaleWindow}, gb, lb, sb, hb)
}

// UnmarshalBinary decodes a model written by MarshalBinary; corrupt input
// yields an error wrapping ErrCorruptModel and leaves p unchanged.
func (p *HybridPredictor) UnmarshalBinary(data []byte) error {
	var h forecasterHeader
	shrink := 0.0
	var hw *hwPredictor
	var x hybridHW
	blobs, err := unframeModel(data, hybridModelMagic, &h, 4)
	if err == nil && len(blobs[3]) > 0 {
		if err := json.Unmarshal(blobs[3], &x); err != nil {
			return fmt.Errorf("%w: holt-winters: %v", ErrCorruptModel, err)
		}
		if !(x.GateMargin >= 0 && x.GateMargin < 1) {
			return fmt.Errorf("%w: gate margin %v", ErrCorruptModel, x.GateMargin)
		}
		if x.W != 0 { // 0: no member
			if !(x.W > 0 && x.W < 1) || x.Period < 1 || x.Period > 1<<20 {
				return fmt.Errorf("%w: holt-winters weight %v period %d", ErrCorruptModel, x.W, x.Period)
			}
			hw = newHWPredictor(hwParams{alpha: x.Alpha, beta: x.Beta, gamma: x.Gamma, phi: x.Phi}, x.Period, h.Horizon)
			hw.log = x.Log
		}
	}
	if err != nil {
		blobs, err = unframeModel(data, hybridModelMagic, &h, 3)
	}
	if err == nil {
		if len(blobs[2]) != 8 {
			return fmt.Errorf("%w: gate of %d bytes", ErrCorruptModel, len(blobs[2]))
		}
		shrink = math.Float64frombits(binary.LittleEndian.Uint64(blobs[2]))
		if !(shrink >= 0 && shrink <= 1) {
			return fmt.Errorf("%w: gate shrink %v", ErrCorruptModel, shrink)
		}
	} else if blobs, err = unframeModel(data, hybridModelMagic, &h, 2); err != nil {
		return err
	}
	var b *Booster
	if len(blobs[0]) > 0 {
		b = new(Booster)
		if err := b.UnmarshalBinary(blobs[0]); err != nil {
			return err
		}
	}
	var members []*LSTMPredictor
	for r := bytes.NewReader(blobs[1]); r.Len() > 0 || len(members) == 0; {
		m := new(LSTMPredictor)
		if _, err := m.ReadFrom(r); err != nil {
			return err
		}
		members = append(members, m)
	}
	lp, err := NewLSTMEnsemble(members...)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorruptModel, err)
	}
	if err := h.check(b, 1); err != nil {
		return err
	}
	if lp.Horizon() != h.Horizon {
		return fmt.Errorf("%w: LSTM horizon %d, hybrid %d", ErrCorruptModel, lp.Horizon(), h.Horizon)
	}
	*p = HybridPredictor{lstm: lp, gbm: b, scaler: h.Scaler, spec: h.Features, names: append(h.Features.Names(), "lstm"),
		events: h.Events, horizon: h.Horizon, cal: h.Calibration, nonNeg: h.NonNeg, baseCol: h.Features.baseCol(),
		scaleWindow: h.ScaleWindow, gate: 1, shrink: shrink, hw: hw, hwW: x.W, noGate: x.NoGate, gateMargin: x.GateMargin, combine: x.Combine}
	return nil
}

// hybridHW is the persisted Holt-Winters member of a hybrid (W 0: none)
// and the choices of the fit a warm start keeps.
type hybridHW struct {
	W                       float64
	Alpha, Beta, Gamma, Phi float64
	Period                  int
	Log                     bool
	NoGate                  bool    `json:",omitempty"`
	GateMargin              float64 `json:",omitempty"`
	Combine                 bool    `json:",omitempty"`
}
