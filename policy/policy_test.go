package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var noon = time.Date(2026, 1, 1, 12, 30, 0, 0, time.UTC)

func TestBoundsApply(t *testing.T) {
	tests := []struct {
		name           string
		b              Bounds
		proposed, need int
		want           int
	}{
		{"proposal inside", Bounds{Min: 1, Max: 10}, 5, 3, 5},
		{"never below need", Bounds{Min: 1, Max: 10}, 2, 4, 4},
		{"never below min", Bounds{Min: 3, Max: 10}, 1, 0, 3},
		{"never above max", Bounds{Min: 1, Max: 10}, 12, 3, 10},
		{"max wins over need", Bounds{Min: 1, Max: 10}, 5, 14, 10},
		{"no max", Bounds{Min: 1}, 50, 3, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.b.Apply(tc.proposed, tc.need); got != tc.want {
				t.Errorf("Apply(%d, %d) = %d, want %d", tc.proposed, tc.need, got, tc.want)
			}
		})
	}
}

func TestBucket(t *testing.T) {
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		c    Context
		want string
	}{
		{Context{Time: noon, Uncertainty: 0.1, Trend: 0}, "hour=12-18,uncertainty=low,trend=flat,recent=calm"},
		{Context{Time: noon.Add(-12 * time.Hour), Uncertainty: 0.3, Trend: 0.2, Recent: 0.1}, "hour=00-06,uncertainty=medium,trend=rising,recent=violated"},
		{Context{Time: noon.Add(11 * time.Hour), Uncertainty: 2, Trend: -0.2}, "hour=18-24,uncertainty=high,trend=falling,recent=calm"},
	}
	seen := map[int]bool{}
	for _, tc := range tests {
		i, name := p.bucket(tc.c)
		if name != tc.want {
			t.Errorf("bucket(%+v) = %q, want %q", tc.c, name, tc.want)
		}
		if i < 0 || i >= p.numBuckets() || seen[i] {
			t.Errorf("bucket index %d out of range or reused", i)
		}
		seen[i] = true
	}
}

// env rewards headroom 1.25 when uncertainty is high and 0.9 when low.
func envReward(r *rand.Rand, c Context, a Arm) Outcome {
	cost := a.Headroom
	viol := 0.0
	if c.Uncertainty > 0.4 && a.Headroom < 1.2 {
		viol = 0.2
	}
	return Outcome{Cost: cost + 0.05*r.NormFloat64(), Violation: viol}
}

func TestLearnsBestArmPerContext(t *testing.T) {
	arms := []Arm{{0.9, time.Minute}, {1.0, time.Minute}, {1.25, time.Minute}}
	p, err := New(Options{Arms: arms, Seed: 1, TrendEdge: -1, RecentEdge: -1})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	low := Context{Time: noon, Uncertainty: 0.1}
	high := Context{Time: noon, Uncertainty: 0.9}
	explored := 0
	for i := range 2000 {
		c := low
		if i%2 == 1 {
			c = high
		}
		d := p.Choose(c)
		if i >= 1000 && d.Explored {
			explored++
		}
		p.Update(d, envReward(r, c, d.Arm))
	}
	if got := p.Best(low).Arm.Headroom; got != 0.9 {
		t.Errorf("best headroom at low uncertainty = %v, want 0.9", got)
	}
	if got := p.Best(high).Arm.Headroom; got != 1.25 {
		t.Errorf("best headroom at high uncertainty = %v, want 1.25", got)
	}
	if explored > 100 {
		t.Errorf("explored %d of the last 1000 choices, want it to settle (≤ 100)", explored)
	}
	if p.Epochs() != 2000 {
		t.Errorf("Epochs = %d", p.Epochs())
	}
	d := p.Best(high)
	if len(d.Alternatives) != 3 || !strings.Contains(d.Explain(), "chose headroom=1.25") {
		t.Errorf("explanation %q with %d alternatives", d.Explain(), len(d.Alternatives))
	}
}

func TestStateRoundTrip(t *testing.T) {
	p, _ := New(Options{Seed: 2})
	r := rand.New(rand.NewPCG(1, 1))
	for i := range 500 {
		c := Context{Time: noon.Add(time.Duration(i) * 15 * time.Minute), Uncertainty: r.Float64(), Trend: r.NormFloat64() * 0.1}
		d := p.Choose(c)
		if i%5 == 0 {
			p.UpdateOnline(d, envReward(r, c, d.Arm))
		} else {
			p.Update(d, envReward(r, c, d.Arm))
		}
	}
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	q, _ := New(Options{Seed: 9})
	if _, err := q.ReadFrom(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if q.OnlineEpochs() != 100 || q.Epochs() != 500 {
		t.Errorf("restored %d online of %d epochs, want 100 of 500", q.OnlineEpochs(), q.Epochs())
	}
	for h := range 24 {
		c := Context{Time: noon.Add(time.Duration(h) * time.Hour), Uncertainty: 0.3}
		if diff := cmp.Diff(p.Best(c), q.Best(c), cmp.Comparer(func(a, b float64) bool { return a == b || (a != a && b != b) })); diff != "" {
			t.Fatalf("restored policy decides differently (-orig +restored):\n%s", diff)
		}
	}

	good := buf.Bytes()
	for i, pos := range []int{0, 5, len(good) / 2, len(good) - 1} {
		b := bytes.Clone(good)
		b[pos] ^= 0x10
		fresh, _ := New(Options{})
		if _, err := fresh.ReadFrom(bytes.NewReader(b)); !errors.Is(err, ErrCorruptState) {
			t.Errorf("case %d: corrupt byte %d: err = %v, want ErrCorruptState", i, pos, err)
		}
		if fresh.Epochs() != 0 {
			t.Errorf("case %d: failed read changed the state", i)
		}
	}
	if _, err := (&Policy{}).ReadFrom(bytes.NewReader(good[:10])); !errors.Is(err, ErrCorruptState) {
		t.Errorf("truncated: err = %v", err)
	}
	other, _ := New(Options{Arms: []Arm{{1, 0}}})
	if _, err := other.ReadFrom(bytes.NewReader(good)); !errors.Is(err, ErrIncompatibleState) {
		t.Errorf("other arms: err = %v, want ErrIncompatibleState", err)
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{ModeOff, ModeDryRun, ModeActive} {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseMode("on"); err == nil {
		t.Error("ParseMode(on) succeeded")
	}
	var zero Options
	if zero.Arms != nil || ModeOff != Mode(0) {
		t.Error("the zero Mode must be off")
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, o := range []Options{
		{Arms: []Arm{{Headroom: -1}}},
		{HourBuckets: 25},
		{UncertaintyEdges: []float64{0.5, 0.2}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

func TestDecisionJSON(t *testing.T) {
	p, _ := New(Options{Arms: []Arm{{0.5, 90 * time.Second}, {1, time.Minute}}, Seed: 3})
	c := Context{Time: noon, Uncertainty: 0.2}
	for _, d := range []Decision{p.Choose(c), p.Best(c)} {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("marshal %+v: %v", d, err)
		}
		var back map[string]any
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		arm := back["arm"].(map[string]any)
		if _, ok := arm["scale_down_delay_seconds"]; !ok || back["explanation"] == "" || len(back["alternatives"].([]any)) != 2 {
			t.Errorf("decision JSON %s", b)
		}
	}
	if !p.Best(c).Greedy || p.Choose(c).Greedy {
		t.Error("Greedy flag wrong")
	}
}

func TestNewFromStateAdoptsArmsAndBuckets(t *testing.T) {
	arms := []Arm{{Headroom: 0.1, ScaleDownDelay: time.Minute}, {Headroom: 0.4, ScaleDownDelay: 5 * time.Minute}}
	p, _ := New(Options{Arms: arms, UncertaintyEdges: []float64{0.6, 1.1}, Seed: 1})
	for i := range 50 {
		c := Context{Time: noon.Add(time.Duration(i) * time.Hour), Uncertainty: float64(i%3) * 0.5}
		p.UpdateOnline(p.Choose(c), Outcome{Cost: 1, Violation: float64(i % 2)})
	}
	var buf bytes.Buffer
	if _, err := p.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	q, err := NewFromState(bytes.NewReader(buf.Bytes()), Options{Lambda: 8, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	got := q.Options()
	if !cmp.Equal(got.Arms, arms) || !cmp.Equal(got.UncertaintyEdges, []float64{0.6, 1.1}) || got.Lambda != 8 {
		t.Errorf("restored options %+v", got)
	}
	if q.Epochs() != 50 || q.OnlineEpochs() != 50 {
		t.Errorf("restored %d epochs (%d online), want 50", q.Epochs(), q.OnlineEpochs())
	}
	if _, err := NewFromState(bytes.NewReader(buf.Bytes()), Options{Arms: DefaultArms()}); !errors.Is(err, ErrIncompatibleState) {
		t.Errorf("other configured arms: %v, want ErrIncompatibleState", err)
	}
	if _, err := NewFromState(bytes.NewReader(buf.Bytes()[:20]), Options{}); !errors.Is(err, ErrCorruptState) {
		t.Errorf("truncated state: %v, want ErrCorruptState", err)
	}
}
