package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowcast/shadowcast/config"
	"github.com/shadowcast/shadowcast/remotewrite"
)

// remoteWriters builds one remotewrite.Writer per remote_write entry. The
// returned run blocks until ctx is done; with no entries it returns at
// once. external are the global external labels, added to series that
// lack them.
func remoteWriters(rws []config.RemoteWrite, external map[string]string, src remotewrite.Source, reg prometheus.Registerer, logger *slog.Logger) (run func(ctx context.Context), err error) {
	var writers []*remotewrite.Writer
	for i, rw := range rws {
		w, err := remotewrite.New(remoteWriteOptions(rw, external), src, reg, logger.With("component", "remote_write"))
		if err != nil {
			return nil, fmt.Errorf("remote_write[%d]: %w", i, err)
		}
		writers = append(writers, w)
		logger.Info("Remote write enabled", "remote", rw.Name, "interval", rw.Interval, "metrics", len(rw.Metrics))
	}
	return func(ctx context.Context) {
		var wg sync.WaitGroup
		for _, w := range writers {
			wg.Add(1)
			go func() { defer wg.Done(); w.Run(ctx) }()
		}
		wg.Wait()
	}, nil
}

// remoteWriteOptions translates one config entry.
func remoteWriteOptions(rw config.RemoteWrite, external map[string]string) remotewrite.Options {
	return remotewrite.Options{
		Name:                 rw.Name,
		URL:                  rw.URL,
		Interval:             time.Duration(rw.Interval),
		Timeout:              time.Duration(rw.Timeout),
		Metrics:              rw.Metrics,
		ExternalLabels:       external,
		HTTPConfig:           rw.HTTPConfig,
		QueueCapacity:        rw.QueueCapacity,
		MaxSamplesPerRequest: rw.MaxSamplesPerRequest,
		MaxRetries:           rw.MaxRetries,
	}
}

// newRemoteWriters builds the configured remote writers of the shadows.
func newRemoteWriters(cfg *config.Config, src remotewrite.Source, reg prometheus.Registerer, logger *slog.Logger) (func(ctx context.Context), error) {
	return remoteWriters(cfg.RemoteWrite, cfg.Global.ExternalLabels, src, reg, logger)
}
