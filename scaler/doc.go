// Package scaler serves shadows to KEDA as an external scaler: it
// implements the externalscaler.ExternalScaler gRPC service from KEDA's own
// proto (IsActive, StreamIsActive, GetMetricSpec, GetMetrics), together
// with the gRPC health service, server reflection and gRPC server metrics.
//
// A ScaledObject trigger selects a shadow instance, a horizon and which
// value to serve through its metadata (see ParseTrigger and docs/keda.md).
// Values are read through ShadowReader, which the shadow engine satisfies;
// this package never forecasts, never touches Kubernetes and imports no
// other package of the module except the root vocabulary.
//
// Errors are classified once, at the gRPC boundary: bad metadata answers
// InvalidArgument naming the key, an unknown shadow NotFound, and a missing
// or stale forecast Unavailable, so that the ScaledObject's fallback takes
// over instead of KEDA scaling on an old number.
package scaler
