package policy

import (
	"math"
	"testing"
	"time"
)

func TestLearnerCredit(t *testing.T) {
	p, err := New(Options{Arms: []Arm{{Headroom: 1, ScaleDownDelay: time.Minute}}, Lambda: 2})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLearner(p, LearnerOptions{Epoch: 2 * time.Minute, Step: time.Minute, Delay: time.Minute, Explore: true})
	if err != nil {
		t.Fatal(err)
	}
	at := func(i int) time.Time { return noon.Add(time.Duration(i) * time.Minute) }
	steps := []Step{
		{Paid: 9, Needed: 1},                 // 0: before any credit window
		{Paid: 4, Needed: 2, Violated: true}, // 1: decision A (made at 0) credits 1, 2
		{Paid: 4, Needed: 4},                 // 2
		{Paid: 6, Needed: 3},                 // 3: decision B (made at 2) credits 3, 4
		{Paid: 6, Needed: 0, Unserved: 1, Demand: 4, Violated: true}, // 4 (needed floors at 1)
	}
	var fresh []bool
	for i, st := range steps {
		_, f := l.Decide(Context{Time: at(i)})
		fresh = append(fresh, f)
		st.At = at(i)
		l.Observe(st)
		if i == 2 && p.Epochs() != 1 {
			t.Fatalf("after step 2: %d outcomes learned, want 1 (decision A complete)", p.Epochs())
		}
	}
	if want := []bool{true, false, true, false, true}; !equalBools(fresh, want) {
		t.Errorf("fresh decisions %v, want %v", fresh, want)
	}
	// A: cost 8/6, violation 1/2 → −4/3 − 1; B: cost 12/4, violation 1/2 + 1/4 → −3 − 1.5.
	wantMean := ((-4.0/3 - 1) + (-3 - 1.5)) / 2
	if p.Epochs() != 2 || math.Abs(p.arms[0].Mean-wantMean) > 1e-12 {
		t.Errorf("learned %d outcomes with mean %v, want 2 and %v", p.Epochs(), p.arms[0].Mean, wantMean)
	}
	if l.Pending() != 1 {
		t.Errorf("pending = %d, want 1 (the decision made at step 4)", l.Pending())
	}
	// The next decision sees the share of violated steps since the
	// previous decision (step 4 only).
	d, _ := l.Decide(Context{Time: at(6)})
	if d.Context.Recent != 1 {
		t.Errorf("Recent = %v, want 1", d.Context.Recent)
	}
}

func TestLearnerExploitDoesNotLearn(t *testing.T) {
	p, _ := New(Options{})
	l, _ := NewLearner(p, LearnerOptions{Epoch: time.Minute, Step: time.Minute})
	for i := range 10 {
		ts := noon.Add(time.Duration(i) * time.Minute)
		d, _ := l.Decide(Context{Time: ts})
		if !d.Greedy {
			t.Fatal("exploit learner drew by sampling")
		}
		l.Observe(Step{At: ts, Paid: 1, Needed: 1})
	}
	if p.Epochs() != 0 {
		t.Errorf("exploit learner learned %d outcomes", p.Epochs())
	}
	if _, err := NewLearner(p, LearnerOptions{Epoch: time.Minute}); err == nil {
		t.Error("NewLearner without a step succeeded")
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLearnerSLOViolation(t *testing.T) {
	tests := []struct {
		name       string
		steps      []Step
		wantViol   float64
		wantSource string
	}{
		{
			name: "KPI samples replace the capacity proxy",
			steps: []Step{
				{Paid: 2, Needed: 2, Violated: true, Unserved: 1, Demand: 2, SLOChecked: 1, SLOViolated: 0},
				{Paid: 2, Needed: 2, SLOChecked: 2, SLOViolated: 1},
				{Paid: 2, Needed: 2, SLOChecked: 1, SLOViolated: 1},
				{Paid: 2, Needed: 2},
			},
			wantViol: 2.0 / 4, wantSource: ViolationSLO,
		},
		{
			name: "no KPI sample in the epoch: capacity proxy",
			steps: []Step{
				{Paid: 2, Needed: 2, Violated: true, Unserved: 1, Demand: 4},
				{Paid: 2, Needed: 2, Demand: 4},
				{Paid: 2, Needed: 2, Demand: 4},
				{Paid: 2, Needed: 2, Demand: 4},
			},
			wantViol: 1.0/4 + 1.0/16, wantSource: ViolationCapacity,
		},
		{
			name: "KPI samples all within objectives: no violation although capacity was short",
			steps: []Step{
				{Paid: 1, Needed: 2, Violated: true, Unserved: 3, Demand: 4, SLOChecked: 1},
				{Paid: 1, Needed: 2, Violated: true, Unserved: 3, Demand: 4},
				{Paid: 1, Needed: 2, Violated: true, Unserved: 3, Demand: 4},
				{Paid: 1, Needed: 2, Violated: true, Unserved: 3, Demand: 4},
			},
			wantViol: 0, wantSource: ViolationSLO,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(Options{Arms: []Arm{{Headroom: 1}}, Lambda: 1})
			if err != nil {
				t.Fatal(err)
			}
			l, err := NewLearner(p, LearnerOptions{Epoch: 4 * time.Minute, Step: time.Minute, Explore: true, Online: true})
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range tt.steps {
				st.At = noon.Add(time.Duration(i) * time.Minute)
				l.Decide(Context{Time: st.At})
				l.Observe(st)
			}
			o, at := l.LastOutcome()
			if at.IsZero() || o.Source != tt.wantSource || math.Abs(o.Violation-tt.wantViol) > 1e-12 {
				t.Errorf("outcome %+v at %v, want violation %v from %s", o, at, tt.wantViol, tt.wantSource)
			}
			if p.OnlineEpochs() != 1 || p.Epochs() != 1 {
				t.Errorf("online epochs %d of %d, want 1 of 1", p.OnlineEpochs(), p.Epochs())
			}
		})
	}
}

func TestLearnerSetExploitStillLearns(t *testing.T) {
	p, _ := New(Options{Seed: 3})
	l, _ := NewLearner(p, LearnerOptions{Epoch: time.Minute, Step: time.Minute, Explore: true})
	l.SetExploit(true)
	for i := range 5 {
		ts := noon.Add(time.Duration(i) * time.Minute)
		d, _ := l.Decide(Context{Time: ts})
		if !d.Greedy {
			t.Fatal("exploiting learner drew by sampling")
		}
		l.Observe(Step{At: ts, Paid: 1, Needed: 1})
	}
	if p.Epochs() != 5 || p.OnlineEpochs() != 0 {
		t.Errorf("learned %d outcomes (%d online), want 5 (0 online)", p.Epochs(), p.OnlineEpochs())
	}
}

// When exploitation starts mid-epoch, an explored arm is not kept to the
// end of its epoch: the next Decide chooses again, greedily.
func TestLearnerSetExploitDropsExploredArm(t *testing.T) {
	for seed := range uint64(40) {
		p, _ := New(Options{Seed: seed})
		l, _ := NewLearner(p, LearnerOptions{Epoch: time.Hour, Step: time.Minute, Explore: true})
		d, _ := l.Decide(Context{Time: noon})
		l.SetExploit(true)
		next, _ := l.Decide(Context{Time: noon.Add(time.Minute)})
		if d.Explored && (next.Explored || !next.Greedy) {
			t.Fatalf("seed %d: explored arm %v kept after exploitation started: %+v", seed, d.Arm, next)
		}
		if !d.Explored && next.Arm != d.Arm {
			t.Errorf("seed %d: a greedy arm changed within its epoch: %v -> %v", seed, d.Arm, next.Arm)
		}
	}
}
