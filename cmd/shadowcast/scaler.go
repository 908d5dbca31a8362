package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowcast/shadowcast/scaler"
)

// scalerStopTimeout bounds how long stop waits for in-flight RPCs.
const scalerStopTimeout = 5 * time.Second

// scalerFlags are the process settings of the KEDA external scaler.
type scalerFlags struct {
	listen       string
	certFile     string
	keyFile      string
	clientCAFile string
	maxAge       time.Duration
	pollInterval time.Duration
}

// addScalerFlags declares the --grpc.* and --scaler.* flags on c.
func addScalerFlags(c *kingpin.CmdClause) *scalerFlags {
	f := &scalerFlags{}
	c.Flag("grpc.listen-address", "Address of the KEDA external scaler gRPC server (e.g. :9095). Empty disables it.").
		Default("").StringVar(&f.listen)
	c.Flag("grpc.tls-cert-file", "PEM certificate of the gRPC server; enables TLS (needs --grpc.tls-key-file). Re-read when the file changes.").
		Default("").StringVar(&f.certFile)
	c.Flag("grpc.tls-key-file", "PEM private key of the gRPC server certificate.").
		Default("").StringVar(&f.keyFile)
	c.Flag("grpc.tls-client-ca-file", "PEM CA bundle; when set, clients (KEDA) must present a certificate it signed (mTLS).").
		Default("").StringVar(&f.clientCAFile)
	c.Flag("scaler.max-forecast-age", "Forecasts made longer ago than this answer Unavailable, so the ScaledObject's fallback applies.").
		Default(scaler.DefaultMaxAge.String()).DurationVar(&f.maxAge)
	c.Flag("scaler.stream-poll-interval", "How often StreamIsActive (external-push) re-reads a shadow to detect activation changes.").
		Default(scaler.DefaultPollInterval.String()).DurationVar(&f.pollInterval)
	return f
}

// start listens and serves the KEDA external scaler until stop is called
// or ctx is done. With an empty listen address it does nothing and returns
// a no-op stop. stop is idempotent and waits for the server to finish.
func (f *scalerFlags) start(ctx context.Context, reader scaler.ShadowReader, reg prometheus.Registerer, logger *slog.Logger) (stop func(), err error) {
	if f.listen == "" {
		return func() {}, nil
	}
	tlsFiles := scaler.TLSFiles{CertFile: f.certFile, KeyFile: f.keyFile, ClientCAFile: f.clientCAFile}
	switch {
	case (f.certFile == "") != (f.keyFile == ""):
		return nil, errors.New("--grpc.tls-cert-file and --grpc.tls-key-file must be set together")
	case f.clientCAFile != "" && f.certFile == "":
		return nil, errors.New("--grpc.tls-client-ca-file needs --grpc.tls-cert-file and --grpc.tls-key-file")
	case f.maxAge <= 0:
		return nil, errors.New("--scaler.max-forecast-age must be positive")
	case f.pollInterval <= 0:
		return nil, errors.New("--scaler.stream-poll-interval must be positive")
	}
	logger = logger.With("component", "scaler")
	srv, err := scaler.New(scaler.Options{
		Reader:       reader,
		MaxAge:       f.maxAge,
		PollInterval: f.pollInterval,
		TLS:          tlsFiles,
	}, reg, logger)
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", f.listen)
	if err != nil {
		return nil, fmt.Errorf("KEDA scaler listen: %w", err)
	}
	logger.Info("KEDA external scaler listening", "address", lis.Addr().String(), "tls", tlsFiles.Enabled(), "mtls", f.clientCAFile != "")

	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(lis); err != nil {
			logger.Error("KEDA scaler server failed", "err", err)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			sctx, cancel := context.WithTimeout(context.Background(), scalerStopTimeout)
			defer cancel()
			srv.Stop(sctx)
			<-served
			logger.Info("KEDA external scaler stopped")
		})
	}
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-served:
		}
	}()
	return stop, nil
}
