package config

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// Limits of the event sources.
const (
	MaxICalSources   = 50
	MaxPromQLSources = 50
	// MaxPromQLEventPoints bounds lookback/step of a PromQL event source
	// (Prometheus refuses more than 11,000 points per series).
	MaxPromQLEventPoints = 11000
)

// EventSources are the dynamic sources of events, next to the static
// `events` list.
type EventSources struct {
	// ICal lists iCalendar (.ics) files, re-read when they change.
	ICal []ICalSource `yaml:"ical,omitempty"`
	// API configures /api/v1/events.
	API EventsAPI `yaml:"api,omitempty"`
	// PromQL lists queries whose runs of positive values become events.
	PromQL []PromQLEventSource `yaml:"promql,omitempty"`
	// MaxEvents bounds the events served from every dynamic source
	// together (0: 10000); the oldest are ignored beyond it.
	MaxEvents int `yaml:"max_events,omitempty"`
}

// ICalSource is an iCalendar file.
type ICalSource struct {
	// Path of the .ics file; relative paths resolve against the config file.
	Path string `yaml:"path"`
	// Kind of the events without CATEGORIES.
	Kind string `yaml:"kind,omitempty"`
	// Shadows restricts the file's events to these shadows (all when empty).
	Shadows []string `yaml:"shadows,omitempty"`
	// RefreshInterval is how often the file's modification time is checked
	// (0: 30s).
	RefreshInterval model.Duration `yaml:"refresh_interval,omitempty"`
	// Horizon is how far ahead recurring events are expanded (0: 366d).
	Horizon model.Duration `yaml:"horizon,omitempty"`
}

// EventsAPI configures the events HTTP API.
type EventsAPI struct {
	// BearerTokenFile holds a token required on every request to
	// /api/v1/events (none when empty).
	BearerTokenFile string `yaml:"bearer_token_file,omitempty"`
	// ReadOnly refuses POST and DELETE.
	ReadOnly bool `yaml:"read_only,omitempty"`
	// MaxEvents bounds the events stored through the API (0: 1000).
	MaxEvents int `yaml:"max_events,omitempty"`
	// MaxBodyBytes bounds a POST body (0: 65536).
	MaxBodyBytes int64 `yaml:"max_body_bytes,omitempty"`
	// MaxKinds bounds the distinct event kinds a POST may bring the served
	// events to (0: 20); each kind adds three model features.
	MaxKinds int `yaml:"max_kinds,omitempty"`
}

// PromQLEventSource turns the series of a PromQL query into events: each
// run of samples > 0 is one event (e.g. `campaign_active`). It uses the
// `prometheus` connection.
type PromQLEventSource struct {
	// Name identifies the source; default event name and kind.
	Name string `yaml:"name"`
	// Query is a PromQL expression.
	Query string `yaml:"query"`
	// Step is the evaluation resolution (0: 1m).
	Step model.Duration `yaml:"step,omitempty"`
	// Lookback is how far back runs are read (0: the longest shadow
	// history, capped at 11000 steps).
	Lookback model.Duration `yaml:"lookback,omitempty"`
	// Interval between queries (0: 1m).
	Interval model.Duration `yaml:"interval,omitempty"`
	// NameLabel is the label holding the event name.
	NameLabel string `yaml:"name_label,omitempty"`
	// KindLabel is the label holding the event kind.
	KindLabel string `yaml:"kind_label,omitempty"`
	// Kind is the kind when KindLabel is empty or absent (default: Name).
	Kind string `yaml:"kind,omitempty"`
	// Shadows restricts the events to these shadows (all when empty).
	Shadows []string `yaml:"shadows,omitempty"`
}

// ICalPath returns the path of an iCal source resolved against the config
// file's directory.
func (c *Config) ICalPath(s ICalSource) string { return c.ResolvePath(s.Path) }

// validateEvents checks the event sources es (c.EventSources); shadows holds
// the configured shadow names. Validate calls it as
// c.validateEvents(c.EventSources, seen).
func (c *Config) validateEvents(es EventSources, shadows map[string]bool) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	checkShadows := func(at string, names []string) {
		for _, n := range names {
			if !shadows[n] {
				add("%s: unknown shadow %q", at, n)
			}
		}
	}
	if es.MaxEvents < 0 {
		add("event_sources.max_events must not be negative")
	}
	if len(es.ICal) > MaxICalSources {
		add("event_sources.ical: %d files, the limit is %d", len(es.ICal), MaxICalSources)
	}
	paths := map[string]bool{}
	for i, s := range es.ICal {
		at := fmt.Sprintf("event_sources.ical[%d]", i)
		switch p := c.ResolvePath(s.Path); {
		case s.Path == "":
			add("%s: path is required", at)
		case paths[p]:
			add("%s: duplicate path %q", at, s.Path)
		default:
			paths[p] = true
		}
		if s.RefreshInterval < 0 || (s.RefreshInterval > 0 && time.Duration(s.RefreshInterval) < time.Second) {
			add("%s: refresh_interval must be at least 1s", at)
		}
		if s.Horizon < 0 {
			add("%s: horizon must not be negative", at)
		}
		checkShadows(at, s.Shadows)
	}
	if a := es.API; a.MaxEvents < 0 || a.MaxBodyBytes < 0 || a.MaxKinds < 0 {
		add("event_sources.api: max_events, max_body_bytes and max_kinds must not be negative")
	}
	if len(es.PromQL) > MaxPromQLSources {
		add("event_sources.promql: %d sources, the limit is %d", len(es.PromQL), MaxPromQLSources)
	}
	names := map[string]bool{}
	for i, s := range es.PromQL {
		at := fmt.Sprintf("event_sources.promql[%d]", i)
		if s.Name != "" {
			at = fmt.Sprintf("event_sources.promql[%d] (%s)", i, s.Name)
		}
		switch {
		case s.Name == "":
			add("%s: name is required", at)
		case !nameRE.MatchString(s.Name):
			add("%s: name must match %s", at, nameRE)
		case names[s.Name]:
			add("%s: duplicate name %q", at, s.Name)
		}
		names[s.Name] = true
		if s.Query == "" {
			add("%s: query is required", at)
		}
		if s.Step < 0 || s.Lookback < 0 || s.Interval < 0 {
			add("%s: step, lookback and interval must not be negative", at)
		}
		step := time.Duration(s.Step)
		if step == 0 {
			step = time.Minute
		}
		if s.Lookback > 0 && time.Duration(s.Lookback)/step > MaxPromQLEventPoints {
			add("%s: lookback %s at step %s is more than %d points", at, s.Lookback, model.Duration(step), MaxPromQLEventPoints)
		}
		for _, l := range []string{s.NameLabel, s.KindLabel} {
			if l != "" && !model.LabelName(l).IsValidLegacy() {
				add("%s: invalid label name %q", at, l)
			}
		}
		checkShadows(at, s.Shadows)
	}
	if len(es.PromQL) > 0 {
		if err := validURL(c.Prometheus.URL); err != nil {
			add("prometheus.url (needed by event_sources.promql): %v", err)
		}
	}
	return errs
}
