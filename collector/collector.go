// Package collector reads the activity a shadow forecasts and keeps its
// history on disk.
//
// Three sources return raw samples per instance: Prometheus (range queries
// through the HTTP API, with chunked backfill), Scrape (a /metrics target read
// directly; counters become per-second rates) and File (CSV replay at a
// configurable speed, for demos and backtests). Clean turns raw samples into
// a regular grid with bounded gap filling and robust outlier clipping. Store
// keeps raw samples in an embedded Prometheus TSDB so a restart neither loses
// data nor re-queries weeks of history.
//
// The package imports nothing from this module; cmd/ translates the YAML
// configuration into the Options structs defined here.
package collector

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// Sample is one observation. T is in unix milliseconds.
type Sample struct {
	T int64
	V float64
}

// Time returns the sample's timestamp as a time.Time in UTC.
func (s Sample) Time() time.Time { return time.UnixMilli(s.T).UTC() }

// Series holds the samples of one instance of a source, in increasing time
// order. Labels are the source labels, without __name__.
type Series struct {
	Labels  labels.Labels
	Samples []Sample
}

// Source reads one shadow's activity. Prometheus, Scrape and File implement
// it; consumers may declare their own equivalent interface.
type Source interface {
	// Fetch returns every instance's samples with from < T <= to, at the
	// given step resolution where the source allows.
	Fetch(ctx context.Context, from, to time.Time, step time.Duration) ([]Series, error)
	// Now is the source's clock: the wall clock for live sources, the replay
	// cursor for file replay.
	Now() time.Time
}

// ErrReservedLabel is returned when a source label clashes with a label the
// history store sets itself (__name__ or shadow).
var ErrReservedLabel = errors.New("reserved label name")

// Result label values of the request counters.
const (
	resultSuccess = "success"
	resultError   = "error"
)
