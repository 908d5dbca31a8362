package events

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shadowcast/shadowcast/forecast"
)

// Source kinds, the `source` field of listed events and the `source` label
// of the metrics.
const (
	SourceAPI    = "api"
	SourceICal   = "ical"
	SourcePromQL = "promql"
)

// Limits on event fields.
const (
	MaxNameBytes = 256
	MaxKindBytes = 64
)

// Event is a known external event. End is exclusive.
type Event struct {
	// ID identifies the event; API events get a random one, others one
	// derived from their source and start.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Kind groups events whose effect is expected to be alike; each kind
	// becomes a model feature.
	Kind  string    `json:"kind"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Shadows restricts the event to these shadows (all when empty).
	Shadows []string `json:"shadows"`
	// Source is the kind of source: api, ical or promql.
	Source string `json:"source"`
	// Origin names the source instance: the iCal file path or the PromQL
	// source name (empty for the API).
	Origin string `json:"origin,omitempty"`
}

// Forecast returns the event as the forecast package sees it.
func (e Event) Forecast() forecast.Event {
	return forecast.Event{Name: e.Name, Kind: e.Kind, Start: e.Start, End: e.End}
}

// AppliesTo reports whether the event applies to the named shadow.
func (e Event) AppliesTo(shadow string) bool {
	return len(e.Shadows) == 0 || slices.Contains(e.Shadows, shadow)
}

// Validate checks the fields every source must get right. validShadow, when
// not nil, reports whether a shadow name exists.
func (e Event) Validate(validShadow func(string) bool) error {
	var errs []error
	switch {
	case e.Name == "":
		errs = append(errs, errors.New("name is required"))
	case len(e.Name) > MaxNameBytes:
		errs = append(errs, fmt.Errorf("name is longer than %d bytes", MaxNameBytes))
	case !printable(e.Name):
		errs = append(errs, errors.New("name must be printable UTF-8"))
	}
	switch {
	case len(e.Kind) > MaxKindBytes:
		errs = append(errs, fmt.Errorf("kind is longer than %d bytes", MaxKindBytes))
	case !printable(e.Kind):
		errs = append(errs, errors.New("kind must be printable UTF-8"))
	}
	switch {
	case e.Start.IsZero() || e.End.IsZero():
		errs = append(errs, errors.New("start and end are required"))
	case !e.End.After(e.Start):
		errs = append(errs, fmt.Errorf("end %s is not after start %s", e.End.Format(time.RFC3339), e.Start.Format(time.RFC3339)))
	}
	for _, s := range e.Shadows {
		if validShadow != nil && !validShadow(s) {
			errs = append(errs, fmt.Errorf("unknown shadow %q", s))
		}
	}
	return errors.Join(errs...)
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// derivedID returns a stable identifier built from parts.
func derivedID(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return prefix + "-" + hex.EncodeToString(h.Sum(nil)[:8])
}
