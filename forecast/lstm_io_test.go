package forecast

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func fittedTinyLSTM(t testing.TB) (*LSTMPredictor, Series) {
	t.Helper()
	s := synthSeries(260, 30, 4)
	o := smallOpts()
	o.Steps = 10
	o.Residual = true
	p, err := NewLSTM(o).FitLSTM(s, Spec{Horizon: 5, Level: 0.8, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return p, s
}

func TestLSTMMarshalRoundTrip(t *testing.T) {
	p, s := fittedTinyLSTM(t)
	blob, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	q, err := UnmarshalLSTM(blob)
	if err != nil {
		t.Fatal(err)
	}
	want, err := p.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := q.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("forecast after round trip (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(p.Options(), q.Options()); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
	if p.Stats() != q.Stats() || p.TrainEnd() != q.TrainEnd() {
		t.Errorf("stats %+v/%d, decoded %+v/%d", p.Stats(), p.TrainEnd(), q.Stats(), q.TrainEnd())
	}
	// Stream form: two models back to back, each read exactly.
	var buf bytes.Buffer
	for range 2 {
		if _, err := p.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		var r LSTMPredictor
		if _, err := r.ReadFrom(&buf); err != nil {
			t.Fatalf("model %d: %v", i, err)
		}
	}
	if buf.Len() != 0 {
		t.Errorf("%d bytes left", buf.Len())
	}
	// A decoded model can warm-start training.
	if _, err := q.Refit(s, Spec{Horizon: 5, Level: 0.8, Seed: 2}, 3); err != nil {
		t.Errorf("refit from decoded model: %v", err)
	}
}

func TestLSTMUnmarshalCorrupt(t *testing.T) {
	p, _ := fittedTinyLSTM(t)
	blob, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, b []byte) {
		t.Helper()
		q := &LSTMPredictor{}
		if err := q.UnmarshalBinary(b); !errors.Is(err, ErrCorruptModel) {
			t.Errorf("%s: error %v", name, err)
		}
		if q.net != nil {
			t.Errorf("%s: predictor modified", name)
		}
	}
	check("empty", nil)
	for _, n := range []int{1, 6, 11, 12, 40, len(blob) / 2, len(blob) - 5, len(blob) - 1} {
		check("truncated", blob[:n])
	}
	check("extended", append(append([]byte(nil), blob...), 0))
	for i := 0; i < len(blob); i += 1 + i/16 {
		b := append([]byte(nil), blob...)
		b[i] ^= 0x20
		check("flipped", b)
	}
	// A consistent blob (valid checksum) with a bad version or sizes.
	reseal := func(b []byte) []byte {
		b = append([]byte(nil), b[:len(b)-4]...)
		return appendCRC(b)
	}
	b := append([]byte(nil), blob...)
	b[6] = 9
	check("version", reseal(b))
	b = append([]byte(nil), blob...)
	b[lstmHeader] = 0xff // Hidden becomes huge
	b[lstmHeader+3] = 0x7f
	check("hidden", reseal(b))
	var r LSTMPredictor
	if _, err := r.ReadFrom(bytes.NewReader(blob[:30])); !errors.Is(err, ErrCorruptModel) {
		t.Errorf("short stream: %v", err)
	}
	if _, err := (&LSTMPredictor{}).MarshalBinary(); !errors.Is(err, ErrNotFitted) {
		t.Errorf("marshal unfitted: %v", err)
	}
}

func FuzzLSTMUnmarshal(f *testing.F) {
	p, _ := fittedTinyLSTM(f)
	blob, err := p.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(blob)
	f.Add(blob[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := UnmarshalLSTM(b)
		if err != nil {
			return
		}
		// Whatever decodes must predict without panicking.
		s := synthSeries(q.MinHistory()+1, 1, 1)
		_, _ = q.Predict(s)
	})
}
