package events

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowcast/shadowcast/forecast"
)

// DefaultMaxEvents bounds the events a Registry serves.
const DefaultMaxEvents = 10000

// RegistryOptions configures a Registry.
type RegistryOptions struct {
	// MaxEvents bounds the events served; above it the events that ended
	// first are ignored. 0 means DefaultMaxEvents.
	MaxEvents int
	// Retention ignores events that ended more than Retention ago (set it
	// to the longest shadow history). 0 keeps every event.
	Retention time.Duration
	// PruneInterval is how often Run drops events that aged out of
	// Retention. 0 means one minute.
	PruneInterval time.Duration
	// Now is the wall clock; nil means time.Now.
	Now func() time.Time
}

// Source is a poller whose events the Registry serves (ICalFile, PromQL).
type Source interface {
	// ID names the source instance ("ical:/path", "promql:name").
	ID() string
	// Run polls until ctx is done.
	Run(ctx context.Context)
}

// Registry merges the events of every source. It is safe for concurrent
// use; Events does no I/O and no allocation.
type Registry struct {
	opts    RegistryOptions
	logger  *slog.Logger
	metrics *metrics

	mu       sync.Mutex
	bySource map[string][]Event // source ID -> its events
	sources  []Source
	changed  chan struct{} // closed when sources change

	snap atomic.Pointer[snapshot]
}

// snapshot is an immutable view served to readers.
type snapshot struct {
	list       []Event                     // every served event, by start
	all        []forecast.Event            // events for every shadow
	restricted map[string][]forecast.Event // events restricted to a shadow
	byID       map[string]int              // index in list
	gen        uint64
	// merged caches all + restricted[shadow], built at the first call of
	// Events for that shadow.
	merged sync.Map
}

// NewRegistry returns an empty registry.
func NewRegistry(opts RegistryOptions, reg prometheus.Registerer, logger *slog.Logger) *Registry {
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = DefaultMaxEvents
	}
	if opts.PruneInterval <= 0 {
		opts.PruneInterval = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Registry{
		opts:     opts,
		logger:   logger,
		metrics:  newMetrics(reg),
		bySource: map[string][]Event{},
		changed:  make(chan struct{}),
	}
	r.snap.Store(&snapshot{restricted: map[string][]forecast.Event{}, byID: map[string]int{}})
	return r
}

// Events returns the events known for a shadow, past and future, sorted by
// start. The slice is shared: callers must not modify it. It allocates only
// at the first call for a shadow with events of its own after a change.
func (r *Registry) Events(shadow string) []forecast.Event {
	s := r.snap.Load()
	own := s.restricted[shadow]
	if len(own) == 0 {
		return s.all
	}
	if ev, ok := s.merged.Load(shadow); ok {
		return ev.([]forecast.Event)
	}
	ev := make([]forecast.Event, 0, len(s.all)+len(own))
	i, j := 0, 0
	for i < len(s.all) || j < len(own) {
		if j == len(own) || (i < len(s.all) && !own[j].Start.Before(s.all[i].Start)) {
			ev = append(ev, s.all[i])
			i++
		} else {
			ev = append(ev, own[j])
			j++
		}
	}
	actual, _ := s.merged.LoadOrStore(shadow, ev)
	return actual.([]forecast.Event)
}

// Generation changes whenever the served events may have changed (a
// consumer can compare it to skip work when nothing changed).
func (r *Registry) Generation() uint64 { return r.snap.Load().gen }

// List returns every served event, sorted by start. The slice is shared:
// callers must not modify it.
func (r *Registry) List() []Event { return r.snap.Load().list }

// Lookup returns the served event with the given ID.
func (r *Registry) Lookup(id string) (Event, bool) {
	s := r.snap.Load()
	i, ok := s.byID[id]
	if !ok {
		return Event{}, false
	}
	return s.list[i], true
}

// Set replaces the events of a source as a whole.
func (r *Registry) Set(sourceID string, evs []Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bySource[sourceID] = slices.Clone(evs)
	r.rebuildLocked()
}

// initialLoader is a source that loaded its events before SetSources.
type initialLoader interface{ initialEvents() []Event }

// SetSources replaces the pollers Run runs, in one step: events of sources
// whose ID is no longer present are dropped (the API's are kept), the
// events an ICalFile parsed when built are published, and sources already
// present keep their events until they next load.
func (r *Registry) SetSources(srcs []Source) {
	// Read the sources' events before taking r.mu: a running source holds
	// its own lock while it calls Set.
	initial := map[string][]Event{}
	for _, s := range srcs {
		if il, ok := s.(initialLoader); ok {
			initial[s.ID()] = slices.Clone(il.initialEvents())
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := map[string]bool{SourceAPI: true}
	for _, s := range srcs {
		keep[s.ID()] = true
		if evs, ok := initial[s.ID()]; ok {
			r.bySource[s.ID()] = evs
		}
	}
	for id := range r.bySource {
		if !keep[id] {
			delete(r.bySource, id)
		}
	}
	r.sources = slices.Clone(srcs)
	close(r.changed)
	r.changed = make(chan struct{})
	r.rebuildLocked()
}

// Run runs the sources' pollers until ctx is done, restarting them when
// SetSources replaces them, and drops events as they age out of Retention.
func (r *Registry) Run(ctx context.Context) {
	tick := time.NewTicker(r.opts.PruneInterval)
	defer tick.Stop()
	for {
		r.mu.Lock()
		srcs, changed := r.sources, r.changed
		r.mu.Unlock()
		sctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, s := range srcs {
			wg.Add(1)
			go func() { defer wg.Done(); s.Run(sctx) }()
		}
		restart := false
		for !restart {
			select {
			case <-ctx.Done():
				cancel()
				wg.Wait()
				return
			case <-changed:
				restart = true
			case <-tick.C:
				r.Prune()
			}
		}
		cancel()
		wg.Wait()
	}
}

// Prune drops events that aged out of Retention from the served snapshot
// (the snapshot and its generation stay when none did).
func (r *Registry) Prune() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.opts.Retention <= 0 {
		return
	}
	cutoff := r.opts.Now().Add(-r.opts.Retention)
	for _, e := range r.snap.Load().list {
		if !e.End.After(cutoff) {
			r.rebuildLocked()
			return
		}
	}
}

func (r *Registry) rebuildLocked() {
	var cutoff time.Time
	if r.opts.Retention > 0 {
		cutoff = r.opts.Now().Add(-r.opts.Retention)
	}
	var list []Event
	seen := map[string]bool{}
	ids := make([]string, 0, len(r.bySource))
	for id := range r.bySource {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		for _, e := range r.bySource[id] {
			if !cutoff.IsZero() && !e.End.After(cutoff) {
				continue
			}
			if seen[e.ID] {
				continue
			}
			seen[e.ID] = true
			list = append(list, e)
		}
	}
	over := 0
	if len(list) > r.opts.MaxEvents {
		// Keep the events that end last: future and current events matter
		// most to forecasts.
		slices.SortFunc(list, func(a, b Event) int {
			return cmp.Or(b.End.Compare(a.End), cmp.Compare(a.ID, b.ID))
		})
		over = len(list) - r.opts.MaxEvents
		list = list[:r.opts.MaxEvents]
	}
	slices.SortFunc(list, func(a, b Event) int {
		return cmp.Or(a.Start.Compare(b.Start), a.End.Compare(b.End), cmp.Compare(a.ID, b.ID))
	})

	s := &snapshot{list: list, restricted: map[string][]forecast.Event{}, byID: make(map[string]int, len(list)), gen: r.snap.Load().gen + 1}
	counts := map[string]int{}
	for i, e := range list {
		s.byID[e.ID] = i
		counts[e.Source]++
		if len(e.Shadows) == 0 {
			s.all = append(s.all, e.Forecast())
		}
		for _, sh := range e.Shadows {
			s.restricted[sh] = append(s.restricted[sh], e.Forecast())
		}
	}
	r.snap.Store(s)
	for _, src := range []string{SourceAPI, SourceICal, SourcePromQL} {
		r.metrics.events.WithLabelValues(src).Set(float64(counts[src]))
	}
	r.metrics.overLimit.Set(float64(over))
	if over > 0 {
		r.logger.Warn("Too many events; the oldest are ignored", "max_events", r.opts.MaxEvents, "ignored", over)
	}
}

// loaded records the outcome of a source load.
func (r *Registry) loaded(kind string, err error) {
	if err != nil {
		r.metrics.loads.WithLabelValues(kind, resultError).Inc()
		return
	}
	r.metrics.loads.WithLabelValues(kind, resultSuccess).Inc()
	r.metrics.lastSuccess.WithLabelValues(kind).Set(float64(r.opts.Now().UnixNano()) / 1e9)
}
