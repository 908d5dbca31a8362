package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"

	"github.com/shadowcast/shadowcast/collector"
	"github.com/shadowcast/shadowcast/config"
	"github.com/shadowcast/shadowcast/forecast"
	"github.com/shadowcast/shadowcast/shadow"
)

// sourceBuilder turns config shadows into engine options with their sources.
type sourceBuilder struct {
	reg    prometheus.Registerer
	logger *slog.Logger
}

func newSourceBuilder(reg prometheus.Registerer, logger *slog.Logger) *sourceBuilder {
	return &sourceBuilder{reg: reg, logger: logger}
}

// shadowOptions builds every shadow's options; nothing is started.
func (b *sourceBuilder) shadowOptions(cfg *config.Config) ([]shadow.ShadowOptions, error) {
	var out []shadow.ShadowOptions
	for _, s := range cfg.Shadows {
		src, interval, err := b.source(cfg, s)
		if err != nil {
			return nil, fmt.Errorf("shadow %q: %w", s.Name, err)
		}
		hs := make([]time.Duration, len(s.Horizons))
		for i, h := range s.Horizons {
			hs[i] = time.Duration(h)
		}
		out = append(out, shadow.ShadowOptions{
			Name:             s.Name,
			Source:           src,
			Persist:          s.Source.File == nil,
			Step:             time.Duration(s.Step),
			History:          time.Duration(s.History),
			Horizons:         hs,
			Confidence:       s.Confidence,
			Model:            s.Model,
			RetrainInterval:  time.Duration(s.RetrainInterval),
			FullRetrainEvery: s.FullRetrainEvery,
			Clean: collector.CleanOptions{
				MaxGap:      time.Duration(s.Cleaning.MaxGap),
				OutlierMADs: s.Cleaning.OutlierMADs,
			},
			Events:      shadowEvents(cfg, s.Name),
			Interval:    interval,
			Fingerprint: fingerprint(cfg, s),
		})
	}
	return out, nil
}

// source builds the shadow's source and the wall-clock interval between reads.
func (b *sourceBuilder) source(cfg *config.Config, s config.Shadow) (shadow.Source, time.Duration, error) {
	step := time.Duration(s.Step)
	switch {
	case s.Source.Prometheus != nil:
		p, err := collector.NewPrometheus(collector.PrometheusOptions{
			Shadow:     s.Name,
			URL:        cfg.Prometheus.URL,
			Query:      s.Source.Prometheus.Query,
			Timeout:    time.Duration(cfg.Prometheus.Timeout),
			HTTPConfig: cfg.Prometheus.HTTPConfig,
			Retries:    2,
		}, b.reg, b.logger)
		return p, step, err
	case s.Source.Scrape != nil:
		sc := s.Source.Scrape
		p, err := collector.NewScrape(collector.ScrapeOptions{
			Shadow:     s.Name,
			URL:        sc.URL,
			Metric:     sc.Metric,
			Matchers:   sc.Matchers,
			Timeout:    time.Duration(sc.Timeout),
			HTTPConfig: sc.HTTPConfig,
		}, b.reg, b.logger)
		return p, step, err
	case s.Source.File != nil:
		fs := s.Source.File
		opts := collector.FileOptions{
			Shadow:     s.Name,
			Path:       cfg.ResolvePath(fs.Path),
			Speedup:    fs.Speedup,
			Loop:       fs.Loop,
			StartAfter: time.Duration(s.History),
		}
		if fs.Embedded != "" {
			rc, err := collector.EmbeddedTrace(fs.Embedded)
			if err != nil {
				return nil, 0, err
			}
			defer rc.Close()
			opts.Path = ""
			opts.Reader = rc
		}
		p, err := collector.NewFile(opts, b.reg, b.logger)
		interval := time.Duration(float64(step) / fs.Speedup)
		return p, max(interval, 50*time.Millisecond), err
	}
	return nil, 0, fmt.Errorf("no source configured")
}

// fingerprint identifies a shadow's configuration (and the connection
// settings it uses), so a reload keeps the state of unchanged shadows.
func fingerprint(cfg *config.Config, s config.Shadow) string {
	h := sha256.New()
	b, _ := yaml.Marshal(s)
	h.Write(b)
	if sc := s.Source.Scrape; sc != nil {
		writeSecrets(h, sc.HTTPConfig)
	}
	if s.Source.Prometheus != nil {
		b, _ = yaml.Marshal(cfg.Prometheus)
		h.Write(b)
		writeSecrets(h, cfg.Prometheus.HTTPConfig)
	}
	b, _ = yaml.Marshal(shadowEvents(cfg, s.Name))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// writeSecrets adds the inline secrets of an HTTP client configuration to
// a fingerprint: they marshal as "<secret>", so a changed password would
// otherwise keep the source built with the old one. Only the hash is kept.
func writeSecrets(h hash.Hash, hc commoncfg.HTTPClientConfig) {
	var secrets []commoncfg.Secret
	if hc.BasicAuth != nil {
		secrets = append(secrets, hc.BasicAuth.Password)
	}
	if hc.Authorization != nil {
		secrets = append(secrets, hc.Authorization.Credentials)
	}
	if hc.OAuth2 != nil {
		secrets = append(secrets, hc.OAuth2.ClientSecret)
	}
	secrets = append(secrets, hc.BearerToken, hc.TLSConfig.Key)
	for _, sec := range secrets {
		h.Write([]byte(sec))
		h.Write([]byte{0})
	}
}

// configEvents returns the events that apply to every shadow.
func configEvents(cfg *config.Config) []forecast.Event {
	var out []forecast.Event
	for _, e := range cfg.Events {
		if len(e.Shadows) == 0 {
			out = append(out, forecast.Event{Name: e.Name, Kind: e.Kind, Start: e.Start, End: e.End})
		}
	}
	return out
}

// shadowEvents returns the events restricted to the named shadow.
func shadowEvents(cfg *config.Config, name string) []forecast.Event {
	var out []forecast.Event
	for _, e := range cfg.Events {
		for _, s := range e.Shadows {
			if s == name {
				out = append(out, forecast.Event{Name: e.Name, Kind: e.Kind, Start: e.Start, End: e.End})
			}
		}
	}
	return out
}
