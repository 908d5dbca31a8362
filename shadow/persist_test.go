package shadow

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/shadowcast/shadowcast/forecast"
)

// savedPredictor forecasts a constant level and can encode itself, like the
// LSTM, GBM and hybrid predictors.
type savedPredictor struct{ level float64 }

func (p *savedPredictor) Predict(s forecast.Series) (forecast.Forecast, error) {
	fc := forecast.Forecast{Model: "saved", Origin: s.End(), Step: s.Step}
	for range 6 {
		fc.Point = append(fc.Point, p.level)
		fc.Lower = append(fc.Lower, p.level-1)
		fc.Upper = append(fc.Upper, p.level+1)
	}
	return fc, nil
}

func (p *savedPredictor) MarshalBinary() ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, math.Float64bits(p.level)), nil
}

func (p *savedPredictor) UnmarshalBinary(b []byte) error {
	if len(b) != 8 {
		return errors.New("bad length")
	}
	p.level = math.Float64frombits(binary.BigEndian.Uint64(b))
	return nil
}

type savedModel struct{ fits *int }

func (savedModel) Name() string { return "saved" }
func (m savedModel) Fit(s forecast.Series, _ forecast.Spec) (forecast.Predictor, error) {
	*m.fits++
	return &savedPredictor{level: s.Values[len(s.Values)-1] + 1000}, nil
}

type savedModels struct {
	testModels
	fits *int
}

func (m savedModels) New(string, time.Duration) (forecast.Model, error) {
	return savedModel{m.fits}, nil
}

func persistEngine(t *testing.T, src *fakeSource, dir string, fits *int, reg *prometheus.Registry) *Engine {
	t.Helper()
	e, err := New(Options{
		Models: savedModels{fits: fits}, StateDir: dir,
		Shadows: []ShadowOptions{{Name: "requests", Source: src, Step: 5 * time.Minute, History: 3 * 24 * time.Hour,
			Horizons: []time.Duration{5 * time.Minute, 30 * time.Minute}, Confidence: 0.9, Model: "saved",
			RetrainInterval: 24 * time.Hour, Fingerprint: "v1"}},
	}, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestModelPersistence(t *testing.T) {
	src := &fakeSource{now: t0.Add(3 * 24 * time.Hour), sets: []labels.Labels{labels.FromStrings("service", "api")}, values: daily}
	dir := t.TempDir()
	fits := 0
	e := persistEngine(t, src, dir, &fits, prometheus.NewRegistry())
	step(t, e)
	step(t, e)
	if fits == 0 {
		t.Fatal("no fit")
	}
	trained := fits // the first training, plus the refits of scoring the past
	want, err := e.Lookup("requests", nil, 5*time.Minute)
	if err != nil || want[0].Model != "saved" {
		t.Fatalf("lookup %v %v", want, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "models", "requests", "*.model"))
	if len(files) != 1 {
		t.Fatalf("model files %v", files)
	}

	// A restart serves the persisted model at once, without training.
	reg := prometheus.NewRegistry()
	e2 := persistEngine(t, src, dir, &fits, reg)
	step(t, e2)
	got, err := e2.Lookup("requests", nil, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if fits != trained || got[0].Model != "saved" || got[0].Point != want[0].Point || got[0].Reason != ReasonConfigured {
		t.Errorf("after restart: fits %d, %+v", fits, got[0])
	}
	if n := testutil.ToFloat64(e2.metrics.restores.WithLabelValues("success")); n != 1 {
		t.Errorf("restores counted %v", n)
	}

	// A corrupt file is reported, removed, and the instance retrains.
	b, _ := os.ReadFile(files[0])
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(files[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	e3 := persistEngine(t, src, dir, &fits, prometheus.NewRegistry())
	step(t, e3)
	step(t, e3)
	if fits == trained {
		t.Error("no retraining after a corrupt model file")
	}
	if n := testutil.ToFloat64(e3.metrics.restores.WithLabelValues("corrupt")); n != 1 {
		t.Errorf("corrupt restores counted %v", n)
	}
	if got, _ := e3.Lookup("requests", nil, 5*time.Minute); got[0].Point != want[0].Point {
		t.Errorf("retrained forecast %v, want %v", got[0].Point, want[0].Point)
	}
}

func TestDecodeModelFileRejectsGarbage(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("SCMODEL"), []byte("NOTAMODEL0000000000000000"), make([]byte, 64)} {
		if _, _, err := decodeModelFile(data); !errors.Is(err, errCorruptModelFile) {
			t.Errorf("%q: err %v", data, err)
		}
	}
}
