package simulate

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/shadowcast/shadowcast/forecast"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestReadCSV(t *testing.T) {
	in := "timestamp,value\n" +
		"2026-01-01 00:00:00,1\n" +
		"2026-01-01 00:01:00,2\n" +
		"2026-01-01 00:03:00,4\n" + // 00:02 missing
		"2026-01-01 00:04:00,5\n"
	s, err := ReadCSV(strings.NewReader(in), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := forecast.Series{Start: t0, Step: time.Minute, Values: []float64{1, 2, math.NaN(), 4, 5}}
	if diff := cmp.Diff(want, s, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("ReadCSV (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "timestamp,value\n2026-01-01 00:00:00,x\n2026-01-01 00:01:00,1\n", "a\n"} {
		if _, err := ReadCSV(strings.NewReader(bad), 0); err == nil {
			t.Errorf("ReadCSV(%q) succeeded", bad)
		}
	}
}

func TestReadWide(t *testing.T) {
	in := "HashFunction,HashApp,minute_1,minute_2,minute_3\n" +
		"a,x,1,0,0\n" +
		"b,x,5,5,5\n" +
		"c,y,0,2,7\n"
	s, err := ReadWide(strings.NewReader(in), t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{6, 7, 12}, s.Values); diff != "" {
		t.Errorf("all rows (-want +got):\n%s", diff)
	}
	s, err = ReadWide(strings.NewReader(in), t0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{5, 7, 12}, s.Values); diff != "" {
		t.Errorf("top 2 rows (-want +got):\n%s", diff)
	}
	if _, err := ReadWide(strings.NewReader("a,minute_2\n1,2\n"), t0, 0); err == nil {
		t.Error("ReadWide accepted columns out of order")
	}
}

// knowsJump forecasts 30 for targets at or after the jump and 10 before,
// with no margin: a perfect forecaster for the step trace below.
type knowsJump struct{ jump time.Time }

func (m knowsJump) Name() string { return "knows_jump" }
func (m knowsJump) Fit(forecast.Series, forecast.Spec) (forecast.Predictor, error) {
	return m, nil
}
func (m knowsJump) Predict(s forecast.Series) (forecast.Forecast, error) {
	f := forecast.Forecast{Model: m.Name(), Origin: s.End(), Step: s.Step}
	for k := 1; k <= 3; k++ {
		v := 10.0
		if !s.End().Add(time.Duration(k) * s.Step).Before(m.jump) {
			v = 30
		}
		f.Point, f.Lower, f.Upper = append(f.Point, v), append(f.Lower, v), append(f.Upper, v)
	}
	return f, nil
}

func stepTrace() forecast.Series {
	s := forecast.Series{Start: t0, Step: time.Minute}
	for i := range 20 {
		v := 10.0
		if i >= 10 {
			v = 30
		}
		s.Values = append(s.Values, v)
	}
	return s
}

func TestRunHandComputed(t *testing.T) {
	s := stepTrace()
	res, err := Run(s, Options{
		Capacity: 10, Startup: 2 * time.Minute, TargetUtilization: 1, Model: knowsJump{jump: s.TimeAt(10)},
		TrainFraction: 0.5, Refit: time.Minute, Epoch: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Reactive: sees 30 at step 11, starts two replicas ready at 13:
	// steps 10–12 under-provisioned by 20 each, 1 + 9×3 replica-minutes.
	// Predictive and oracle: start the replicas at step 8, ready at 10.
	got := map[string][4]float64{}
	for _, p := range res.Policies {
		got[p.Name] = [4]float64{p.UnderProvisionedMinutes, p.UnservedRatio, p.ReplicaHours * 60, float64(p.ScalingActions)}
	}
	want := map[string][4]float64{
		PolicyReactive:   {3, 60.0 / 300, 28, 1},
		PolicyPredictive: {0, 0, 30, 0},
		PolicyLearned:    {0, 0, 30, 0},
		PolicyOracle:     {0, 0, 30, 0},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("per-policy [under-min, unserved, replica-min, actions] (-want +got):\n%s", diff)
	}
	if r := res.Policies[1]; r.UnderVsReactive != -1 || math.Abs(r.HoursVsReactive-(30.0/28-1)) > 1e-9 {
		t.Errorf("predictive vs reactive = %v, %v", r.UnderVsReactive, r.HoursVsReactive)
	}
	if res.Forecast.Coverage != 1 || res.Forecast.MAE != 0 {
		t.Errorf("forecast scored coverage %v MAE %v, want 1 and 0", res.Forecast.Coverage, res.Forecast.MAE)
	}
}

func TestFleet(t *testing.T) {
	f := &fleet{ready: 2}
	f.set(5, 0, 3) // three start, ready at 3
	f.advance(2)
	if f.ready != 2 || f.paid() != 5 {
		t.Fatalf("before ready: %+v", f)
	}
	f.set(3, 2, 3) // cancels two starting replicas first
	f.advance(3)
	if f.ready != 3 || f.paid() != 3 {
		t.Fatalf("after cancel: %+v", f)
	}
	f.set(1, 4, 3) // removes ready ones immediately
	if f.ready != 1 || f.paid() != 1 || f.set(1, 5, 3) {
		t.Fatalf("after scale-down: %+v", f)
	}
}

func TestReactiveStabilization(t *testing.T) {
	s := forecast.Series{Start: t0, Step: time.Minute, Values: []float64{40, 40, 40, 10, 10, 10, 10, 10, 10, 10}}
	e := &env{s: s, opts: Options{Capacity: 10, TargetUtilization: 1, Tolerance: 0.1, Stabilization: 3 * time.Minute}}
	c := &reactiveCtl{env: e}
	var got []int
	cur := 4
	for i := 1; i < len(s.Values); i++ {
		n, _ := c.target(i, cur)
		got = append(got, n)
		cur = n
	}
	// The drop observed at step 4 takes effect after three recommendations.
	want := []int{4, 4, 4, 4, 4, 1, 1, 1, 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
}

// TestRunOutputs runs a seasonal synthetic trace with a real baseline and
// checks the outputs are well formed and the run deterministic.
func TestRunOutputs(t *testing.T) {
	s := forecast.Series{Start: t0, Step: 15 * time.Minute}
	for i := range 96 * 6 {
		h := float64(i%96) / 96
		s.Values = append(s.Values, 100+60*math.Sin(2*math.Pi*h)+10*math.Sin(float64(i)*1.7))
	}
	opts := Options{Capacity: 10, Startup: 15 * time.Minute, Model: forecast.NewSeasonalNaive(forecast.SeasonalNaiveOptions{}), Epoch: time.Hour}
	a, err := Run(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	var ja, jb, table, svg bytes.Buffer
	if err := a.WriteJSON(&ja); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteJSON(&jb); err != nil {
		t.Fatal(err)
	}
	if ja.String() != jb.String() {
		t.Error("two runs differ")
	}
	var parsed struct {
		Policies []struct {
			Policy       string  `json:"policy"`
			ReplicaHours float64 `json:"replica_hours"`
		} `json:"policies"`
	}
	if err := json.Unmarshal(ja.Bytes(), &parsed); err != nil {
		t.Fatal(err)
	}
	if len(parsed.Policies) != 4 || parsed.Policies[3].Policy != PolicyOracle {
		t.Fatalf("policies %+v", parsed.Policies)
	}
	for _, p := range parsed.Policies[:3] {
		if p.ReplicaHours < parsed.Policies[3].ReplicaHours {
			t.Errorf("%s used %.1f replica-hours, below the oracle's %.1f", p.Policy, p.ReplicaHours, parsed.Policies[3].ReplicaHours)
		}
	}
	if err := a.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{PolicyReactive, PolicyPredictive, PolicyLearned, PolicyOracle} {
		if !strings.Contains(table.String(), name) {
			t.Errorf("table lacks %s:\n%s", name, table.String())
		}
	}
	if err := a.WriteSVG(&svg, SVGOptions{Title: "t <&>"}); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&svg)
	paths := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "path" {
			paths++
		}
	}
	if paths != 5 {
		t.Errorf("SVG has %d paths, want load + 4 policies", paths)
	}
	var st bytes.Buffer
	if err := a.PolicyState(&st); err != nil || st.Len() == 0 {
		t.Errorf("PolicyState: %v, %d bytes", err, st.Len())
	}
}

func TestReplayRejectsOtherForecastOptions(t *testing.T) {
	s := stepTrace()
	o := Options{Capacity: 10, Model: knowsJump{jump: s.TimeAt(10)}}
	f, err := Forecast(s, o)
	if err != nil {
		t.Fatal(err)
	}
	o.Startup = 10 * time.Minute
	if _, err := Replay(f, o); err == nil {
		t.Error("Replay accepted a different start-up delay")
	}
	if _, err := Run(s, Options{Model: o.Model}); err == nil {
		t.Error("Run accepted a zero capacity")
	}
}

func TestLevelProfile(t *testing.T) {
	// A flat level of 100 with a spike of +50 at phase 0 of every 10 steps.
	s := forecast.Series{Start: t0, Step: time.Minute}
	for i := range 300 {
		v := 100.0
		if i%10 == 0 {
			v = 150
		}
		s.Values = append(s.Values, v)
	}
	m := NewLevelProfile(LevelProfileOptions{Period: 10 * time.Minute})
	p, err := m.Fit(s, forecast.Spec{Horizon: 10, Level: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.Predict(s)
	if err != nil {
		t.Fatal(err)
	}
	// The next sample is i = 300, phase 0: the spike.
	for k, v := range f.Point {
		want := 100.0
		if k == 0 {
			want = 150
		}
		if math.Abs(v-want) > 1 {
			t.Errorf("step %d: point %.2f, want ≈ %.0f", k+1, v, want)
		}
		if f.Lower[k] > v || f.Upper[k] < v {
			t.Errorf("step %d: point outside its bounds", k+1)
		}
	}
	// Incremental and from-scratch predictions agree.
	s2 := s
	s2.Values = append(append([]float64{}, s.Values...), 100, 100)
	inc, _ := p.Predict(s2)
	p2, _ := m.Fit(s2, forecast.Spec{Horizon: 10, Level: 0.9})
	fresh, _ := p2.Predict(s2)
	if diff := cmp.Diff(fresh.Point, inc.Point, cmpopts.EquateApprox(0, 1e-6)); diff != "" {
		t.Errorf("incremental vs fresh (-fresh +inc):\n%s", diff)
	}
	if _, err := m.Fit(s.Slice(0, 15), forecast.Spec{Horizon: 1, Level: 0.9}); !errors.Is(err, forecast.ErrNotEnoughData) {
		t.Errorf("short history: %v", err)
	}
}
