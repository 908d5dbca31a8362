package events

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shadowcast/shadowcast/forecast"
)

func ev(id, name string, start, end time.Time, shadows ...string) Event {
	return Event{ID: id, Name: name, Kind: "k", Start: start, End: end, Shadows: shadows, Source: SourceAPI}
}

func TestRegistryMergeAndShadows(t *testing.T) {
	now := utc("2026-11-27T00:00:00Z")
	reg := prometheus.NewRegistry()
	r := NewRegistry(RegistryOptions{Retention: 24 * time.Hour, Now: func() time.Time { return now }}, reg, nil)
	h := time.Hour
	r.Set(SourceAPI, []Event{
		ev("a", "all", now.Add(2*h), now.Add(3*h)),
		ev("b", "only-x", now.Add(h), now.Add(2*h), "x"),
		ev("old", "expired", now.Add(-48*h), now.Add(-25*h)),
	})
	ic := ev("c", "ical", now.Add(-h), now.Add(h), "x", "y")
	ic.Source = SourceICal
	r.Set("ical:/f.ics", []Event{ic})

	names := func(evs []forecast.Event) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e.Name)
		}
		return out
	}
	if diff := cmp.Diff([]string{"ical", "only-x", "all"}, names(r.Events("x"))); diff != "" {
		t.Errorf("x (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ical", "all"}, names(r.Events("y"))); diff != "" {
		t.Errorf("y (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"all"}, names(r.Events("z"))); diff != "" {
		t.Errorf("z (-want +got):\n%s", diff)
	}
	if _, ok := r.Lookup("old"); ok {
		t.Error("expired event served")
	}
	if got := testutil.ToFloat64(r.metrics.events.WithLabelValues(SourceAPI)); got != 2 {
		t.Errorf("api events gauge = %v, want 2", got)
	}
	// Prune keeps the snapshot until an event ages out.
	gen := r.Generation()
	r.Prune()
	if r.Generation() != gen {
		t.Error("a no-op prune changed the generation")
	}
	now = now.Add(26 * time.Hour) // "b" and "c" end more than a day ago
	r.Prune()
	if r.Generation() == gen || len(r.List()) != 1 {
		t.Errorf("prune: generation %d -> %d, %d events", gen, r.Generation(), len(r.List()))
	}
	now = now.Add(-26 * time.Hour)
	r.Set(SourceAPI, r.bySource[SourceAPI])

	// Removing the iCal source drops its events, the API's stay.
	r.SetSources(nil)
	if diff := cmp.Diff([]string{"only-x", "all"}, names(r.Events("x"))); diff != "" {
		t.Errorf("after SetSources (-want +got):\n%s", diff)
	}
}

func TestRegistryLimitKeepsLatest(t *testing.T) {
	base := utc("2026-01-01T00:00:00Z")
	r := NewRegistry(RegistryOptions{MaxEvents: 3}, prometheus.NewRegistry(), nil)
	var evs []Event
	for i := range 5 {
		evs = append(evs, ev(fmt.Sprint(i), fmt.Sprint(i), base.Add(time.Duration(i)*time.Hour), base.Add(time.Duration(i+1)*time.Hour)))
	}
	r.Set(SourceAPI, evs)
	var got []string
	for _, e := range r.List() {
		got = append(got, e.ID)
	}
	if diff := cmp.Diff([]string{"2", "3", "4"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if v := testutil.ToFloat64(r.metrics.overLimit); v != 2 {
		t.Errorf("over limit = %v, want 2", v)
	}
}

// countingSource counts its runs.
type countingSource struct {
	id      string
	mu      sync.Mutex
	started int
}

func (c *countingSource) ID() string { return c.id }
func (c *countingSource) Run(ctx context.Context) {
	c.mu.Lock()
	c.started++
	c.mu.Unlock()
	<-ctx.Done()
}
func (c *countingSource) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.started }

func TestRegistryRunRestartsSources(t *testing.T) {
	r := NewRegistry(RegistryOptions{}, prometheus.NewRegistry(), nil)
	a := &countingSource{id: "a"}
	r.SetSources([]Source{a})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	waitFor(t, func() bool { return a.count() == 1 })
	b := &countingSource{id: "b"}
	r.SetSources([]Source{a, b})
	waitFor(t, func() bool { return a.count() == 2 && b.count() == 1 })
	cancel()
	<-done
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met after 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func BenchmarkRegistryEvents(b *testing.B) {
	r := NewRegistry(RegistryOptions{}, prometheus.NewRegistry(), nil)
	base := utc("2026-01-01T00:00:00Z")
	var evs []Event
	for i := range 10000 {
		evs = append(evs, ev(fmt.Sprint(i), "e", base.Add(time.Duration(i)*time.Hour), base.Add(time.Duration(i+1)*time.Hour), fmt.Sprint("s", i%50)))
	}
	r.Set(SourceAPI, evs)
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Events("s7")
	}
}

func BenchmarkRegistrySet10k(b *testing.B) {
	r := NewRegistry(RegistryOptions{}, prometheus.NewRegistry(), nil)
	base := utc("2026-01-01T00:00:00Z")
	var evs []Event
	for i := range 10000 {
		e := ev(fmt.Sprint(i), "e", base.Add(time.Duration(i)*time.Hour), base.Add(time.Duration(i+1)*time.Hour))
		if i%2 == 0 {
			e.Shadows = []string{fmt.Sprint("s", i%50)}
		}
		evs = append(evs, e)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Set(SourceAPI, evs)
	}
}
