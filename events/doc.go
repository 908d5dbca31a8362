// Package events supplies known external events (campaigns, maintenance,
// holidays, known peaks) to the forecasting engine from dynamic sources: iCal
// (.ics) files polled for changes, an HTTP API whose events are persisted,
// and PromQL series whose runs of positive values become events.
//
// A Registry merges the sources and serves the engine's EventSource hook
// (Events) from a cached snapshot, so the call does no I/O and allocates
// nothing. Each source replaces its own events as a whole: a source that
// fails to load keeps its previous events, so nothing is half-applied.
package events
