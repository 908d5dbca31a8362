package forecast

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// campaignSeries returns an hourly series of days days: a daily sine
// around 100 plus noise, multiplied by lift while a "campaign" event is
// active. Campaigns last 10 hours and start every 3–5 days; the events
// cover 10 days beyond the series (future events are known). truth is the
// noise-free level, for the series and the 10 extra days.
func campaignSeries(days int, lift, noise float64, seed uint64) (s Series, events []Event, truth []float64) {
	rng := rand.New(rand.NewPCG(seed, 11))
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	n := days * 24
	total := n + 240
	for t := 30 + rng.IntN(24); t < total; t += 72 + rng.IntN(48) {
		events = append(events, Event{Name: "c", Kind: "campaign", Start: start.Add(time.Duration(t) * time.Hour),
			End: start.Add(time.Duration(t+10) * time.Hour)})
	}
	truth = make([]float64, total)
	s = Series{Start: start, Step: time.Hour, Values: make([]float64, n)}
	for i := range truth {
		ts := start.Add(time.Duration(i) * time.Hour)
		v := 100 + 40*math.Sin(2*math.Pi*float64(i%24)/24)
		for _, e := range events {
			if e.Active(ts) {
				v *= lift
			}
		}
		truth[i] = v
		if i < n {
			s.Values[i] = v + noise*rng.NormFloat64()
		}
	}
	return s, events, truth
}

func TestGBMForecasterEventsAndCoverage(t *testing.T) {
	s, events, truth := campaignSeries(60, 1.6, 4, 1)
	spec := Spec{Horizon: 24, Level: 0.9, Events: events, Seed: 1}
	m := NewGBM(GBMForecastOptions{GBM: GBMOptions{Rounds: 80}})
	if m.Name() != "gbm" {
		t.Fatal(m.Name())
	}
	train := s.Slice(0, 40*24)
	p, err := m.FitGBM(train, spec)
	if err != nil {
		t.Fatal(err)
	}
	// Roll origins over the last 20 days without refitting.
	var absErr, naiveErr, inEvent, inEventNaive float64
	covered, count, nEvent := 0, 0, 0
	for o := 40 * 24; o+24 <= s.Len(); o += 7 {
		f, err := p.Predict(s.Slice(0, o))
		if err != nil {
			t.Fatal(err)
		}
		for k := range 24 {
			tgt := o + k
			y := s.Values[tgt]
			if f.Lower[k] <= y && y <= f.Upper[k] {
				covered++
			}
			count++
			e := math.Abs(f.Point[k] - truth[tgt])
			ne := math.Abs(s.Values[tgt-24*(1+k/24)] - truth[tgt])
			absErr += e
			naiveErr += ne
			if truth[tgt] != 100+40*math.Sin(2*math.Pi*float64(tgt%24)/24) {
				inEvent += e
				inEventNaive += ne
				nEvent++
			}
		}
	}
	cov := float64(covered) / float64(count)
	t.Logf("MAE gbm %.2f, seasonal naive %.2f; during events %.2f vs %.2f (%d steps); coverage %.3f",
		absErr/float64(count), naiveErr/float64(count), inEvent/float64(nEvent), inEventNaive/float64(nEvent), nEvent, cov)
	if absErr > 0.6*naiveErr {
		t.Errorf("gbm MAE %.2f not well below seasonal naive %.2f", absErr/float64(count), naiveErr/float64(count))
	}
	if nEvent == 0 || inEvent > 0.5*inEventNaive {
		t.Errorf("gbm does not capture the campaign effect: %.2f vs naive %.2f", inEvent, inEventNaive)
	}
	if math.Abs(cov-0.9) > 0.08 {
		t.Errorf("coverage %.3f, want ≈0.9", cov)
	}
	imp := p.Importance()
	if imp["event_active_campaign"] < 0.01 {
		t.Errorf("event feature unused: %v", imp)
	}
}

func TestGBMForecasterRoundTrip(t *testing.T) {
	s, events, _ := campaignSeries(12, 1.5, 3, 2)
	p, err := NewGBM(GBMForecastOptions{GBM: GBMOptions{Rounds: 20}, NoRefit: true}).FitGBM(s, Spec{Horizon: 12, Level: 0.8, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	blob, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var q GBMPredictor
	if err := q.UnmarshalBinary(blob); err != nil {
		t.Fatal(err)
	}
	f1, _ := p.Predict(s)
	f2, err := q.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f1, f2); diff != "" {
		t.Errorf("forecast changed after round trip (-before +after):\n%s", diff)
	}
	for i := 0; i < len(blob); i += 13 {
		c := slices.Clone(blob)
		c[i] ^= 0x21
		if err := q.UnmarshalBinary(c); !errors.Is(err, ErrCorruptModel) {
			t.Fatalf("flipped byte %d: err = %v", i, err)
		}
	}
	if err := q.UnmarshalBinary(blob[:len(blob)/3]); !errors.Is(err, ErrCorruptModel) {
		t.Fatalf("truncated: err = %v", err)
	}
}

func TestGBMForecasterFitGlobal(t *testing.T) {
	var series []Series
	var truths [][]float64
	var events []Event
	for i, level := range []float64{1, 10, 0.1} {
		s, ev, truth := campaignSeries(30, 1.5, 2, uint64(i+1))
		for j := range s.Values {
			s.Values[j] *= level
			truth[j] *= level
		}
		series = append(series, s.Slice(0, 28*24))
		truths = append(truths, truth)
		events = ev // same start and seeds differ: events of the last series (kinds match)
	}
	short := Series{Start: series[0].Start, Step: time.Hour, Values: series[0].Values[:30]}
	series = append(series, short)
	m := NewGBM(GBMForecastOptions{GBM: GBMOptions{Rounds: 60}})
	ps, err := m.FitGlobal(series, Spec{Horizon: 12, Level: 0.9, Events: events, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != len(series) {
		t.Fatalf("%d predictors for %d series", len(ps), len(series))
	}
	for i, s := range series[:3] {
		f, err := ps[i].Predict(s)
		if err != nil {
			t.Fatal(err)
		}
		// Relative error against the noise-free level outside events.
		mape := 0.0
		for k := range 12 {
			mape += math.Abs(f.Point[k]-truths[i][s.Len()+k]) / truths[i][s.Len()+k]
		}
		if mape /= 12; mape > 0.35 {
			t.Errorf("series %d: mean relative error %.3f", i, mape)
		}
		if f.Lower[0] > f.Point[0] || f.Upper[0] < f.Point[0] {
			t.Errorf("series %d: point outside bounds", i)
		}
	}
	if _, err := ps[3].Predict(short); err != nil {
		t.Errorf("short series: %v", err)
	}
}

func TestGBMForecasterRefit(t *testing.T) {
	// Same events and noise; the campaign lift grows from 1.3 to 2.2.
	s1, events, _ := campaignSeries(24, 1.3, 2, 4)
	s2, _, truth2 := campaignSeries(24, 2.2, 2, 4)
	spec := Spec{Horizon: 12, Level: 0.9, Events: events, Seed: 1}
	p, err := NewGBM(GBMForecastOptions{GBM: GBMOptions{Rounds: 60}}).FitGBM(s1.Slice(0, 18*24), spec)
	if err != nil {
		t.Fatal(err)
	}
	before := p.Booster().NumTrees()
	q, err := p.Refit(s2.Slice(0, 18*24), 60, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p.Booster().NumTrees() != before || q.Booster().NumTrees() != before+60 {
		t.Fatalf("trees: original %d (was %d), refit %d", p.Booster().NumTrees(), before, q.Booster().NumTrees())
	}
	var ep, eq float64
	n := 0
	for o := 18 * 24; o+12 <= s2.Len(); o += 3 {
		hist := s2.Slice(0, o)
		fp, _ := p.Predict(hist)
		fq, _ := q.Predict(hist)
		for k := range 12 {
			if eventAt(events, s2.TimeAt(o+k)) {
				ep += math.Abs(fp.Point[k] - truth2[o+k])
				eq += math.Abs(fq.Point[k] - truth2[o+k])
				n++
			}
		}
	}
	t.Logf("MAE during events after the lift grew: original %.2f, warm-started %.2f (%d steps)", ep/float64(n), eq/float64(n), n)
	if n == 0 || eq >= 0.7*ep {
		t.Errorf("refit MAE %.2f not well below the original's %.2f", eq/float64(n), ep/float64(n))
	}
}

func TestGBMForecasterErrors(t *testing.T) {
	m := NewGBM(GBMForecastOptions{})
	s, _, _ := campaignSeries(1, 1, 1, 1)
	if _, err := m.Fit(s, Spec{Horizon: 4, Level: 0.9}); err == nil {
		t.Error("fit on one day: no error")
	}
	if _, err := m.Fit(s, Spec{Horizon: 0, Level: 0.9}); err == nil {
		t.Error("horizon 0: no error")
	}
}

func BenchmarkGBMForecasterFitHourly(b *testing.B) {
	s, events, _ := campaignSeries(30, 1.5, 3, 1)
	spec := Spec{Horizon: 48, Level: 0.9, Events: events}
	m := NewGBM(GBMForecastOptions{})
	c0 := cpuSeconds()
	for range b.N {
		if _, err := m.Fit(s, spec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuSeconds()-c0)/float64(b.N), "cpu-s/op")
}

func BenchmarkGBMForecasterPredict(b *testing.B) {
	s, events, _ := campaignSeries(30, 1.5, 3, 1)
	spec := Spec{Horizon: 48, Level: 0.9, Events: events}
	p, err := NewGBM(GBMForecastOptions{}).Fit(s, spec)
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
