package forecast

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

func TestHybridBeatsLSTMOnEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two LSTMs")
	}
	s, events, truth := campaignSeries(44, 1.6, 4, 3)
	const K = 24
	spec := Spec{Horizon: K, Level: 0.9, Events: events, Seed: 1}
	lopts := LSTMOptions{Hidden: 16, Seq: 48, Steps: 150}
	trainN := 34 * 24
	train := s.Slice(0, trainN)
	hm := NewHybrid(HybridOptions{LSTM: lopts, GBM: GBMOptions{Rounds: 80}})
	if hm.Name() != "hybrid" {
		t.Fatal(hm.Name())
	}
	hp, err := hm.Fit(train, spec)
	if err != nil {
		t.Fatal(err)
	}
	lp, err := NewLSTM(lopts).Fit(train, spec)
	if err != nil {
		t.Fatal(err)
	}
	inner := hp.(*HybridPredictor).LSTM()
	if g := hp.(*HybridPredictor).Gate(); g < 1 {
		t.Errorf("gate %v: the GBM correction that models the events was shrunk", g)
	}
	var eh, el, ei, ehEv, elEv float64
	covered, count, nEv := 0, 0, 0
	for o := trainN; o+K <= s.Len(); o += 5 {
		hist := s.Slice(0, o)
		fh, err := hp.Predict(hist)
		if err != nil {
			t.Fatal(err)
		}
		fl, err := lp.Predict(hist)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := inner.Predict(hist)
		if err != nil {
			t.Fatal(err)
		}
		for k := range K {
			tgt := o + k
			y := s.Values[tgt]
			if fh.Lower[k] <= y && y <= fh.Upper[k] {
				covered++
			}
			count++
			a, b := math.Abs(fh.Point[k]-truth[tgt]), math.Abs(fl.Point[k]-truth[tgt])
			eh += a
			el += b
			ei += math.Abs(fi.Point[k] - truth[tgt])
			if eventAt(events, s.TimeAt(tgt)) {
				ehEv += a
				elEv += b
				nEv++
			}
		}
	}
	c := float64(count)
	cov := float64(covered) / c
	t.Logf("MAE hybrid %.2f, lstm %.2f (lstm inside the hybrid %.2f); during events %.2f vs %.2f (%d steps); hybrid 90%% coverage %.3f",
		eh/c, el/c, ei/c, ehEv/float64(nEv), elEv/float64(nEv), nEv, cov)
	if eh > 0.7*el || eh > 0.7*ei {
		t.Errorf("hybrid MAE %.2f not well below the LSTM's %.2f / %.2f", eh/c, el/c, ei/c)
	}
	if nEv == 0 || ehEv > 0.5*elEv {
		t.Errorf("hybrid during events %.2f, LSTM %.2f", ehEv/float64(nEv), elEv/float64(nEv))
	}
	if math.Abs(cov-0.9) > 0.1 {
		t.Errorf("coverage %.3f, want ≈0.9", cov)
	}

	// The GBM raises the forecast for an event that starts after the
	// origin: take the first event starting at least 4 h after trainN.
	var ev Event
	for _, e := range events {
		if e.Start.After(s.TimeAt(trainN+4)) && e.End.Before(s.TimeAt(s.Len()-1)) {
			ev = e
			break
		}
	}
	o := int(ev.Start.Sub(s.Start)/time.Hour) - 3 // history ends 3 h before the start
	hist := s.Slice(0, o)
	fh, _ := hp.Predict(hist)
	fi, _ := inner.Predict(hist)
	for k := 3; k < 13; k++ { // steps inside the event
		tgt := o + k
		if !ev.Active(s.TimeAt(tgt)) {
			t.Fatalf("step %d not inside the event", k+1)
		}
		lift := fh.Point[k] - fi.Point[k]
		want := truth[tgt] - truth[tgt]/1.6
		if lift < 0.6*want {
			t.Errorf("step %d: hybrid adds %.1f to the LSTM forecast, the event adds %.1f", k+1, lift, want)
		}
	}
	blob, err := hp.(*HybridPredictor).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var restored HybridPredictor
	if err := restored.UnmarshalBinary(blob); err != nil {
		t.Fatal(err)
	}
	if fr, _ := restored.Predict(hist); !slices.Equal(fr.Point, fh.Point) || !slices.Equal(fr.Upper, fh.Upper) {
		t.Errorf("restored hybrid forecasts %v, want %v", fr.Point, fh.Point)
	}
	blob[len(blob)/2] ^= 1
	if err := restored.UnmarshalBinary(blob); !errors.Is(err, ErrCorruptModel) {
		t.Errorf("corrupt hybrid blob: err = %v", err)
	}
	for k := 0; k < 3; k++ { // before the start: no lift
		if d := math.Abs(fh.Point[k] - truth[o+k]); d > 15 {
			t.Errorf("step %d before the event: hybrid off by %.1f", k+1, d)
		}
	}
}

func eventAt(events []Event, t time.Time) bool {
	for _, e := range events {
		if e.Active(t) {
			return true
		}
	}
	return false
}

func BenchmarkHybridFitHourly(b *testing.B) {
	s, events, _ := campaignSeries(30, 1.5, 3, 1)
	spec := Spec{Horizon: 24, Level: 0.9, Events: events}
	m := NewHybrid(HybridOptions{LSTM: LSTMOptions{Hidden: 16, Steps: 250}})
	c0 := cpuSeconds()
	for range b.N {
		if _, err := m.Fit(s, spec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuSeconds()-c0)/float64(b.N), "cpu-s/op")
}

func BenchmarkHybridPredict(b *testing.B) {
	s, events, _ := campaignSeries(30, 1.5, 3, 1)
	spec := Spec{Horizon: 24, Level: 0.9, Events: events}
	p, err := NewHybrid(HybridOptions{LSTM: LSTMOptions{Hidden: 16, Steps: 100}}).Fit(s, spec)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := p.Predict(s); err != nil {
			b.Fatal(err)
		}
	}
}

// With the gate closed (factor 0) the hybrid serves its LSTM's points and
// skips the residual trees and their features altogether.
func TestHybridClosedGateServesTheLSTM(t *testing.T) {
	s, events, _ := campaignSeries(30, 1.5, 3, 1)
	spec := Spec{Horizon: 24, Level: 0.9, Events: events}
	p, err := NewHybrid(HybridOptions{LSTM: LSTMOptions{Hidden: 8, Steps: 30}}).Fit(s, spec)
	if err != nil {
		t.Fatal(err)
	}
	hp := p.(*HybridPredictor)
	if hp.gbm == nil {
		t.Skip("no residual model was fitted")
	}
	closed := *hp
	closed.shrink, closed.hw = 1, nil
	lf, err := hp.lstm.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	f, err := closed.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	for k := range f.Point {
		want := math.Max(lf.Point[k], 0)
		if math.Abs(f.Point[k]-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("step %d: closed gate served %v, want the LSTM's %v", k+1, f.Point[k], want)
		}
	}
}
