package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowcast/shadowcast/config"
	"github.com/shadowcast/shadowcast/events"
)

// eventsFile is the file under --storage.path that holds the events added
// through /api/v1/events.
const eventsFile = "events.json"

// newEvents builds the events registry (the engine's EventSource), the
// /api/v1/events handlers and the iCal and PromQL sources of es (the
// config's event_sources). The pollers start with Registry.Run. An iCal
// file that cannot be parsed or a corrupt events file is an error.
func newEvents(cfg *config.Config, es config.EventSources, storageDir string, reg prometheus.Registerer, logger *slog.Logger) (*events.Registry, *events.API, error) {
	retention := longestHistory(cfg)
	r := events.NewRegistry(events.RegistryOptions{MaxEvents: es.MaxEvents, Retention: retention}, reg, logger)
	settings, err := eventsAPISettings(cfg, es)
	if err != nil {
		return nil, nil, err
	}
	api, err := events.NewAPI(events.APIOptions{
		APISettings: settings,
		Path:        filepath.Join(storageDir, eventsFile),
		Retention:   retention,
	}, r, logger)
	if err != nil {
		return nil, nil, err
	}
	srcs, err := eventSources(cfg, es, r, logger)
	if err != nil {
		return nil, nil, err
	}
	r.SetSources(srcs)
	logger.Info("Event sources ready", "ical", len(es.ICal), "promql", len(es.PromQL), "events", len(r.List()))
	return r, api, nil
}

// prepareEventsReload builds the event sources and API settings of a new
// configuration without applying them; the returned function applies them.
// On error nothing changes. event_sources.max_events and the history
// retention are not reloadable.
func prepareEventsReload(cfg *config.Config, es config.EventSources, r *events.Registry, api *events.API, logger *slog.Logger) (apply func(), err error) {
	settings, err := eventsAPISettings(cfg, es)
	if err != nil {
		return nil, err
	}
	srcs, err := eventSources(cfg, es, r, logger)
	if err != nil {
		return nil, err
	}
	return func() {
		api.Update(settings)
		r.SetSources(srcs)
	}, nil
}

// eventsAPISettings reads the API's token file and binds the shadow names.
func eventsAPISettings(cfg *config.Config, es config.EventSources) (events.APISettings, error) {
	names := map[string]bool{}
	for _, s := range cfg.Shadows {
		names[s.Name] = true
	}
	a := es.API
	s := events.APISettings{
		MaxBodyBytes: a.MaxBodyBytes,
		MaxEvents:    a.MaxEvents,
		MaxKinds:     a.MaxKinds,
		ReadOnly:     a.ReadOnly,
		ValidShadow:  func(n string) bool { return names[n] },
	}
	if a.BearerTokenFile != "" {
		path := cfg.ResolvePath(a.BearerTokenFile)
		b, err := os.ReadFile(path)
		if err != nil {
			return s, fmt.Errorf("event_sources.api.bearer_token_file: %w", err)
		}
		s.BearerToken = strings.TrimSpace(string(b))
		if s.BearerToken == "" {
			return s, fmt.Errorf("event_sources.api.bearer_token_file %s is empty", path)
		}
	}
	return s, nil
}

// eventSources builds the iCal (parsed now) and PromQL sources of es.
func eventSources(cfg *config.Config, es config.EventSources, r *events.Registry, logger *slog.Logger) ([]events.Source, error) {
	retention := longestHistory(cfg)
	var out []events.Source
	for i, s := range es.ICal {
		f, err := events.NewICalFile(events.ICalFileOptions{
			Path:      cfg.ICalPath(s),
			Shadows:   s.Shadows,
			Kind:      s.Kind,
			Interval:  time.Duration(s.RefreshInterval),
			Horizon:   time.Duration(s.Horizon),
			Retention: retention,
			MaxEvents: es.MaxEvents,
		}, r, logger)
		if err != nil {
			return nil, fmt.Errorf("event_sources.ical[%d]: %w", i, err)
		}
		out = append(out, f)
	}
	if len(es.PromQL) == 0 {
		return out, nil
	}
	api, err := events.NewPrometheusAPI(cfg.Prometheus.URL, cfg.Prometheus.HTTPConfig, nil)
	if err != nil {
		return nil, fmt.Errorf("event_sources.promql: %w", err)
	}
	for i, s := range es.PromQL {
		step := time.Duration(s.Step)
		if step <= 0 {
			step = events.DefaultPromQLStep
		}
		lookback := time.Duration(s.Lookback)
		if lookback <= 0 {
			lookback = retention
			if lookback <= 0 {
				lookback = events.DefaultPromQLLookback
			}
			lookback = min(lookback, 10000*step)
		}
		p, err := events.NewPromQL(events.PromQLOptions{
			Name:      s.Name,
			API:       api,
			Query:     s.Query,
			Step:      step,
			Lookback:  lookback,
			Interval:  time.Duration(s.Interval),
			Timeout:   time.Duration(cfg.Prometheus.Timeout),
			NameLabel: s.NameLabel,
			KindLabel: s.KindLabel,
			Kind:      s.Kind,
			Shadows:   s.Shadows,
		}, r, logger)
		if err != nil {
			return nil, fmt.Errorf("event_sources.promql[%d]: %w", i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// checkEventFiles parses every iCal file of es, for `shadowcast check`: no
// source is started and nothing is published.
func checkEventFiles(cfg *config.Config, es config.EventSources) error {
	var errs []error
	r := events.NewRegistry(events.RegistryOptions{}, prometheus.NewRegistry(), nil)
	for i, s := range es.ICal {
		if _, err := events.NewICalFile(events.ICalFileOptions{
			Path:      cfg.ICalPath(s),
			Kind:      s.Kind,
			Horizon:   time.Duration(s.Horizon),
			Retention: longestHistory(cfg),
			MaxEvents: es.MaxEvents,
		}, r, nil); err != nil {
			errs = append(errs, fmt.Errorf("event_sources.ical[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}
