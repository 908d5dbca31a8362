// Package feedback closes the loop between forecasts and what happened: it
// keeps every prediction until its target time arrives, scores it against
// the actual value (rolling MAE, MASE, sMAPE and interval coverage per
// instance and horizon), detects drift of the scaled errors with a
// Page–Hinkley test, flags sustained deviations (actuals outside the bounds
// for K consecutive points), and can backfill scores over already-collected
// history so accuracy is visible on the first start.
//
// The package is pure computation: it performs no network or file I/O and
// registers no metrics. Snapshots are written to and read from an
// io.Writer/io.Reader supplied by the caller. It imports only forecast/
// (for the backfill helper).
package feedback
