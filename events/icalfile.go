package events

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"
)

// iCal file defaults.
const (
	DefaultICalInterval = 30 * time.Second
	DefaultICalHorizon  = 366 * 24 * time.Hour
	DefaultICalRefresh  = time.Hour
	DefaultICalMaxBytes = 16 << 20
)

// ICalFileOptions configures an ICalFile.
type ICalFileOptions struct {
	// Path of the .ics file.
	Path string
	// Shadows restricts the file's events to these shadows (all when empty).
	Shadows []string
	// Kind is the kind of events without CATEGORIES.
	Kind string
	// Interval between checks of the file's modification time; 0 means
	// DefaultICalInterval.
	Interval time.Duration
	// Horizon is how far ahead recurrences are expanded; 0 means
	// DefaultICalHorizon.
	Horizon time.Duration
	// Retention is how far back occurrences are kept (the longest shadow
	// history); 0 keeps every past occurrence of bounded rules and expands
	// open rules from their start.
	Retention time.Duration
	// Refresh re-expands an unchanged file this often, as the window moves;
	// 0 means DefaultICalRefresh.
	Refresh time.Duration
	// MaxBytes bounds the file size; 0 means DefaultICalMaxBytes.
	MaxBytes int64
	// MaxEvents bounds the occurrences of the file; 0 means
	// DefaultMaxEvents.
	MaxEvents int
	// Now is the wall clock; nil means time.Now.
	Now func() time.Time
}

// ICalFile serves the events of an iCal file, re-read when it changes. A
// file that fails to parse keeps the previous events; the error is logged
// and counted.
type ICalFile struct {
	opts     ICalFileOptions
	registry *Registry
	logger   *slog.Logger

	mu       sync.Mutex
	initial  []Event // the last parsed events, published by SetSources
	modTime  time.Time
	size     int64
	loadedAt time.Time
	lastErr  string
	// badMod and badSize identify the version of the file that last failed
	// to parse: it is not parsed (nor counted) again until it changes.
	badMod  time.Time
	badSize int64
	badErr  error
}

var _ Source = (*ICalFile)(nil)

// NewICalFile reads and parses the file once; an unreadable or invalid file
// is an error. Its events are published when the source is passed to
// r.SetSources (so that a reload building several sources applies all or
// none of them); later loads publish at once.
func NewICalFile(opts ICalFileOptions, r *Registry, logger *slog.Logger) (*ICalFile, error) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultICalInterval
	}
	if opts.Horizon <= 0 {
		opts.Horizon = DefaultICalHorizon
	}
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultICalRefresh
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultICalMaxBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &ICalFile{opts: opts, registry: r, logger: logger.With("source", SourceICal, "path", opts.Path)}
	now := opts.Now()
	st, err := os.Stat(opts.Path)
	if err != nil {
		return nil, f.failed(fmt.Errorf("ical file: %w", err))
	}
	evs, err := f.parse(now)
	if err != nil {
		return nil, f.failed(err)
	}
	f.initial, f.modTime, f.size, f.loadedAt = evs, st.ModTime(), st.Size(), now
	r.loaded(SourceICal, nil)
	return f, nil
}

// initialEvents returns the last parsed events.
func (f *ICalFile) initialEvents() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.initial
}

// ID returns "ical:" and the path.
func (f *ICalFile) ID() string { return SourceICal + ":" + f.opts.Path }

// Run checks the file every Interval until ctx is done.
func (f *ICalFile) Run(ctx context.Context) {
	tick := time.NewTicker(f.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_, _ = f.Load()
		}
	}
}

// Load re-reads the file if its modification time or size changed, or if
// the last load is older than Refresh. It reports whether it re-read the
// file. On error the previous events stay.
func (f *ICalFile) Load() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.opts.Now()
	st, err := os.Stat(f.opts.Path)
	if err != nil {
		return true, f.failed(fmt.Errorf("ical file: %w", err))
	}
	if !f.loadedAt.IsZero() && st.ModTime().Equal(f.modTime) && st.Size() == f.size && now.Sub(f.loadedAt) < f.opts.Refresh {
		return false, nil
	}
	if f.badErr != nil && st.ModTime().Equal(f.badMod) && st.Size() == f.badSize {
		return false, f.badErr
	}
	evs, err := f.parse(now)
	if err != nil {
		f.badMod, f.badSize, f.badErr = st.ModTime(), st.Size(), err
		return true, f.failed(err)
	}
	f.badErr = nil
	f.initial, f.modTime, f.size, f.loadedAt, f.lastErr = evs, st.ModTime(), st.Size(), now, ""
	f.registry.Set(f.ID(), evs)
	f.registry.loaded(SourceICal, nil)
	f.logger.Debug("iCal file loaded", "events", len(evs))
	return true, nil
}

func (f *ICalFile) parse(now time.Time) ([]Event, error) {
	fh, err := os.Open(f.opts.Path)
	if err != nil {
		return nil, fmt.Errorf("ical file: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, f.opts.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("ical file %s: %w", f.opts.Path, err)
	}
	if int64(len(b)) > f.opts.MaxBytes {
		return nil, fmt.Errorf("ical file %s is larger than %d bytes", f.opts.Path, f.opts.MaxBytes)
	}
	io := ICalOptions{To: now.Add(f.opts.Horizon), MaxEvents: f.opts.MaxEvents}
	if f.opts.Retention > 0 {
		io.From = now.Add(-f.opts.Retention)
	}
	evs, err := ParseICal(bytes.NewReader(b), io)
	if err != nil {
		return nil, fmt.Errorf("ical file %s: %w", f.opts.Path, err)
	}
	for i := range evs {
		evs[i].Origin = f.opts.Path
		evs[i].Shadows = slices.Clone(f.opts.Shadows)
		if evs[i].Kind == "" {
			evs[i].Kind = f.opts.Kind
		}
		if err := evs[i].Validate(nil); err != nil {
			return nil, fmt.Errorf("ical file %s: event %q at %s: %w", f.opts.Path, evs[i].Name, evs[i].Start.Format(time.RFC3339), err)
		}
	}
	return evs, nil
}

// failed counts and logs a failed load (once per distinct error).
func (f *ICalFile) failed(err error) error {
	f.registry.loaded(SourceICal, err)
	if err.Error() != f.lastErr {
		f.logger.Error("Loading the iCal file failed; the previous events stay", "err", err)
		f.lastErr = err.Error()
	}
	return err
}
