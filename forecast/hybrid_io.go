package forecast

import (
	"bytes"
	"fmt"
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
	return frameModel(hybridModelMagic, forecasterHeader{Scaler: p.scaler, Features: p.spec, Events: p.events,
		Horizon: p.horizon, Calibration: p.cal, NonNeg: p.nonNeg, ScaleWindow: p.scaleWindow}, gb, lb)
}

// UnmarshalBinary decodes a model written by MarshalBinary; corrupt input
// yields an error wrapping ErrCorruptModel and leaves p unchanged.
func (p *HybridPredictor) UnmarshalBinary(data []byte) error {
	var h forecasterHeader
	blobs, err := unframeModel(data, hybridModelMagic, &h, 2)
	if err != nil {
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
		scaleWindow: h.ScaleWindow, gate: 1}
	return nil
}
