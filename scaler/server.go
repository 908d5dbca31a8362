package scaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/shadowcast/shadowcast"
)

// ShadowReader returns the published values of the instances of a shadow
// whose source labels include every pair of match (nil matches all), at one
// horizon. It returns shadowcast.ErrUnknownShadow, ErrUnknownHorizon or
// ErrNoForecast (wrapped) when it has nothing to give. The shadow engine
// satisfies it; Lookup must be cheap and must not block on training.
type ShadowReader interface {
	Lookup(shadow string, match map[string]string, horizon time.Duration) ([]shadowcast.Value, error)
}

// Defaults of Options.
const (
	DefaultMaxAge       = 5 * time.Minute
	DefaultPollInterval = 5 * time.Second
)

// ServiceName is the gRPC service name KEDA calls; the health service
// reports it (and the empty name) as SERVING while the server runs.
const ServiceName = "externalscaler.ExternalScaler"

// Options configure a Server.
type Options struct {
	// Reader supplies the shadows' values. Required.
	Reader ShadowReader
	// MaxAge is how old (by Value.Updated) a forecast may be before the
	// scaler answers Unavailable instead of serving it. Default 5m;
	// negative disables the check.
	MaxAge time.Duration
	// PollInterval is how often StreamIsActive re-reads the shadow to see
	// whether activity crossed the activation value. Default 5s.
	PollInterval time.Duration
	// TLS, when any file is set, serves TLS (and mTLS with a client CA).
	TLS TLSFiles
	// Now is the wall clock; tests inject a fake one.
	Now func() time.Time
}

// Server is KEDA's external scaler service backed by a ShadowReader, with
// the health service, reflection and gRPC server metrics. Create it with
// New, run it with Serve and end it with Stop.
type Server struct {
	pb.UnimplementedExternalScalerServer // StreamMetricSpec answers Unimplemented

	reader ShadowReader
	maxAge time.Duration
	poll   time.Duration
	now    func() time.Time
	logger *slog.Logger

	grpc   *grpc.Server
	health *health.Server

	stopOnce sync.Once
	done     chan struct{} // closed by Stop: ends open streams
}

// New builds a Server and registers its gRPC metrics (grpc_server_*) on
// reg, when reg is not nil.
func New(opts Options, reg prometheus.Registerer, logger *slog.Logger) (*Server, error) {
	if opts.Reader == nil {
		return nil, errors.New("scaler: Options.Reader is required")
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets([]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}),
	))
	sopts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(metrics.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(metrics.StreamServerInterceptor()),
	}
	if opts.TLS.Enabled() {
		cfg, err := opts.TLS.Config()
		if err != nil {
			return nil, fmt.Errorf("scaler: %w", err)
		}
		sopts = append(sopts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	s := &Server{
		reader: opts.Reader,
		maxAge: opts.MaxAge,
		poll:   opts.PollInterval,
		now:    opts.Now,
		logger: logger,
		grpc:   grpc.NewServer(sopts...),
		health: health.NewServer(),
		done:   make(chan struct{}),
	}
	pb.RegisterExternalScalerServer(s.grpc, s)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(ServiceName, healthpb.HealthCheckResponse_SERVING)
	metrics.InitializeMetrics(s.grpc)
	if reg != nil {
		if err := reg.Register(metrics); err != nil {
			return nil, fmt.Errorf("scaler: register gRPC metrics: %w", err)
		}
	}
	return s, nil
}

// Serve accepts connections on lis until Stop. It returns nil after Stop.
func (s *Server) Serve(lis net.Listener) error {
	err := s.grpc.Serve(lis)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Stop marks the health service NOT_SERVING, ends open StreamIsActive
// streams and waits for in-flight RPCs until ctx is done, then closes every
// connection. It is safe to call more than once.
func (s *Server) Stop(ctx context.Context) {
	s.stopOnce.Do(func() {
		s.health.Shutdown()
		close(s.done)
		finished := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(finished)
		}()
		select {
		case <-finished:
		case <-ctx.Done():
			s.grpc.Stop()
			<-finished
		}
	})
}

// evaluate parses the metadata, looks the shadow up and resolves the value
// to serve. Its errors are already gRPC status errors.
func (s *Server) evaluate(md map[string]string) (Trigger, float64, error) {
	t, err := ParseTrigger(md)
	if err != nil {
		return t, 0, s.toStatus(err)
	}
	vals, err := s.reader.Lookup(t.Shadow, t.Match, t.Horizon)
	if err != nil {
		return t, 0, s.toStatus(err)
	}
	v, err := Resolve(t, vals, s.now(), s.maxAge)
	if err != nil {
		return t, 0, s.toStatus(err)
	}
	return t, v, nil
}

// toStatus maps domain errors to gRPC codes: the one place where that
// happens. Unknown errors become Internal and their text stays in the log.
func (s *Server) toStatus(err error) error {
	var me *MetadataError
	switch {
	case errors.As(err, &me):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, shadowcast.ErrUnknownShadow):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, shadowcast.ErrUnknownHorizon):
		return status.Error(codes.InvalidArgument, fmt.Sprintf("scaler metadata %q: %v", KeyHorizon, err))
	case errors.Is(err, shadowcast.ErrNoForecast):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	default:
		s.logger.Error("Shadow lookup failed", "err", err)
		return status.Error(codes.Internal, "internal error")
	}
}

// IsActive reports whether the served value is above activationValue.
func (s *Server) IsActive(_ context.Context, ref *pb.ScaledObjectRef) (*pb.IsActiveResponse, error) {
	t, v, err := s.evaluate(ref.GetScalerMetadata())
	if err != nil {
		return nil, err
	}
	return &pb.IsActiveResponse{Result: v > t.Activation}, nil
}

// GetMetricSpec returns the metric name and the target (targetValue). It
// checks the shadow and horizon exist but not that a forecast is current:
// KEDA calls it once when it reconciles the ScaledObject, possibly before
// the first forecast, and the spec does not depend on the value.
func (s *Server) GetMetricSpec(_ context.Context, ref *pb.ScaledObjectRef) (*pb.GetMetricSpecResponse, error) {
	t, err := ParseTrigger(ref.GetScalerMetadata())
	if err != nil {
		return nil, s.toStatus(err)
	}
	if _, err := s.reader.Lookup(t.Shadow, t.Match, t.Horizon); err != nil && !errors.Is(err, shadowcast.ErrNoForecast) {
		return nil, s.toStatus(err)
	}
	return &pb.GetMetricSpecResponse{MetricSpecs: []*pb.MetricSpec{{
		MetricName:      t.MetricName(),
		TargetSizeFloat: t.Target,
		TargetSize:      int64(math.Ceil(t.Target)),
	}}}, nil
}

// GetMetrics returns the served value under the metric name of
// GetMetricSpec. The request's metric name is not checked: KEDA names the
// value itself from the request it sent.
func (s *Server) GetMetrics(_ context.Context, req *pb.GetMetricsRequest) (*pb.GetMetricsResponse, error) {
	t, v, err := s.evaluate(req.GetScaledObjectRef().GetScalerMetadata())
	if err != nil {
		return nil, err
	}
	return &pb.GetMetricsResponse{MetricValues: []*pb.MetricValue{{
		MetricName:       t.MetricName(),
		MetricValueFloat: v,
		MetricValue:      int64(math.Ceil(v)),
	}}}, nil
}

// StreamIsActive (KEDA trigger type external-push) re-reads the shadow every
// PollInterval and sends the activity state when it changes, starting with
// the first state known. Metadata errors and unknown shadows end the
// stream with their code; while the forecast is missing or stale nothing is
// sent (KEDA keeps the last state, and the polled GetMetrics answers
// Unavailable so fallback applies). The stream ends when the client goes
// away or the server stops.
func (s *Server) StreamIsActive(ref *pb.ScaledObjectRef, stream grpc.ServerStreamingServer[pb.IsActiveResponse]) error {
	md := ref.GetScalerMetadata()
	if _, err := ParseTrigger(md); err != nil {
		return s.toStatus(err)
	}
	ctx := stream.Context()
	tick := time.NewTicker(s.poll)
	defer tick.Stop()
	var sent, last bool
	for {
		t, v, err := s.evaluate(md)
		switch status.Code(err) {
		case codes.OK:
			active := v > t.Activation
			if !sent || active != last {
				if err := stream.Send(&pb.IsActiveResponse{Result: active}); err != nil {
					return err
				}
				sent, last = true, active
			}
		case codes.Unavailable:
			s.logger.Debug("Stream waiting for a current forecast", "shadow", t.Shadow, "err", err)
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.done:
			return nil
		case <-tick.C:
		}
	}
}
