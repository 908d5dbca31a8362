// Package shadowcast holds the small vocabulary shared by the sidecar's
// components: the published value of a shadow and the sentinel errors that
// transports map to status codes. It performs no I/O and imports nothing
// from this module.
package shadowcast

import (
	"errors"
	"time"
)

// Sentinel errors. Transports classify them at one boundary each
// (HTTP status, gRPC code).
var (
	// ErrUnknownShadow means no shadow of that name is configured.
	ErrUnknownShadow = errors.New("unknown shadow")
	// ErrNoForecast means the shadow exists but has no current forecast
	// (cold start, source failing, stale) or no instance matches.
	ErrNoForecast = errors.New("no current forecast")
	// ErrUnknownHorizon means the shadow does not forecast that horizon.
	ErrUnknownHorizon = errors.New("horizon not configured for shadow")
)

// Value is the published forecast of one shadow instance at one horizon.
type Value struct {
	Shadow  string
	Labels  map[string]string // source labels of the instance
	Horizon time.Duration

	Point     float64 // forecast of the value Horizon after At
	Lower     float64 // lower bound at Confidence
	Upper     float64 // upper bound at Confidence
	Peak      float64 // max of Point over (At, At+Horizon]
	PeakUpper float64 // max of Upper over (At, At+Horizon]
	Actual    float64 // latest observed (cleaned) value

	Confidence float64
	Model      string    // model serving the instance
	Reason     string    // why that model serves
	At         time.Time // time of the last observation the forecast starts from
	Updated    time.Time // wall-clock time the forecast was made
}
