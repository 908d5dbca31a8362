package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowcast/shadowcast/actuate"
	"github.com/shadowcast/shadowcast/config"
	"github.com/shadowcast/shadowcast/kpi"
	"github.com/shadowcast/shadowcast/policy"
	"github.com/shadowcast/shadowcast/webhook"
)

// scaling is the scaling path: the Alertmanager webhook, the allocation
// engine and the actuators built from config.
type scaling struct {
	engine *webhook.Engine
	reader webhook.ShadowReader
	logger *slog.Logger

	mu         sync.Mutex // guards kube, kubeconfig across reloads
	kube       *actuate.Clients
	kubeconfig string
}

// newScaling builds the scaling path from cfg. Kubernetes clients are only
// built when a resource needs them.
func newScaling(cfg *config.Config, reader webhook.ShadowReader, reg prometheus.Registerer, logger *slog.Logger) (*scaling, error) {
	s := &scaling{reader: reader, logger: logger}
	opts, kube, err := s.options(cfg)
	if err != nil {
		return nil, err
	}
	opts.QueueSize = cfg.Webhook.QueueSize
	opts.Workers = cfg.Webhook.Workers
	opts.SampleInterval = time.Duration(cfg.Webhook.SampleInterval)
	e, err := webhook.New(opts, reg, logger)
	if err != nil {
		return nil, err
	}
	s.engine, s.kube, s.kubeconfig = e, kube, cfg.Webhook.Kubeconfig
	logger.Info("Scaling path ready", "resources", len(cfg.Resources), "mode", cfg.Webhook.Mode,
		"auth", cfg.Webhook.BearerTokenFile != "", "learned_policies", len(opts.Policies))
	return s, nil
}

// SetKPIs wires the KPI collector into the learned policies: a policy
// with SLOs (resources[].policy.slo) reads its KPIs from it. Without it,
// every policy rewards the capacity proxy (and says so at
// /api/v1/decisions).
func (s *scaling) SetKPIs(c *kpi.Collector) {
	if c == nil {
		s.engine.SetKPIReader(nil)
		return
	}
	s.engine.SetKPIReader(kpiValues{c})
}

// kpiValues adapts the KPI collector to webhook.KPIReader.
type kpiValues struct{ c *kpi.Collector }

func (k kpiValues) KPIValues(name string) ([]float64, time.Time, error) {
	vals, at, err := k.c.Latest(name)
	out := make([]float64, len(vals))
	for i, v := range vals {
		out[i] = v.Value
	}
	return out, at, err
}

// Routes mounts POST /webhook/alertmanager and GET /api/v1/decisions.
func (s *scaling) Routes(r chi.Router) {
	r.Method(http.MethodPost, "/webhook/alertmanager", s.engine)
	r.Method(http.MethodGet, "/api/v1/decisions", s.engine.DecisionsHandler())
}

// Run evaluates queued resources until ctx is done.
func (s *scaling) Run(ctx context.Context) { s.engine.Run(ctx) }

// Reload swaps in the resources, actuators and limits of cfg atomically;
// on error the old ones stay. webhook.queue_size, webhook.workers and
// webhook.sample_interval are not reloadable.
func (s *scaling) Reload(cfg *config.Config) error {
	commit, err := s.Prepare(cfg)
	if err != nil {
		return err
	}
	commit()
	return nil
}

// Prepare builds the scaling path of cfg (actuators, clients, validated
// engine options) without touching the running one, and returns the
// function that swaps it in, which cannot fail.
func (s *scaling) Prepare(cfg *config.Config) (commit func(), err error) {
	s.mu.Lock()
	opts, kube, err := s.options(cfg)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	apply, err := s.engine.Prepare(opts)
	if err != nil {
		return nil, err
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		apply()
		s.kube, s.kubeconfig = kube, cfg.Webhook.Kubeconfig
	}, nil
}

// options translates cfg into engine options, building every actuator.
// It touches no live state: the clients it returns are adopted by the
// caller once the engine accepted the options.
func (s *scaling) options(cfg *config.Config) (webhook.Options, *actuate.Clients, error) {
	w := cfg.Webhook
	opts := webhook.Options{
		Reader:          s.reader,
		MaxBodyBytes:    w.MaxBodyBytes,
		DedupeTTL:       time.Duration(w.DedupeTTL),
		DecisionsKept:   w.DecisionsKept,
		RetryBackoff:    time.Duration(w.RetryBackoff),
		RetryBackoffMax: time.Duration(w.RetryBackoffMax),
		ActionTimeout:   time.Duration(w.ActionTimeout),
		RequestTimeout:  time.Duration(w.RequestTimeout),
	}
	if w.BearerTokenFile != "" {
		b, err := os.ReadFile(w.BearerTokenFile)
		if err != nil {
			return opts, nil, fmt.Errorf("webhook.bearer_token_file: %w", err)
		}
		opts.BearerToken = strings.TrimSpace(string(b))
		if opts.BearerToken == "" {
			return opts, nil, fmt.Errorf("webhook.bearer_token_file %s is empty", w.BearerTokenFile)
		}
	}

	kube := s.kube
	if kube != nil && s.kubeconfig != w.Kubeconfig {
		kube = nil
	}
	needKube := func() (*actuate.Clients, error) {
		if kube != nil {
			return kube, nil
		}
		rc, err := actuate.RESTConfig(w.Kubeconfig)
		if err != nil {
			return nil, err
		}
		c, err := actuate.NewClients(rc, "shadowcast")
		if err != nil {
			return nil, err
		}
		kube = c
		return c, nil
	}

	var errs []error
	for _, rc := range cfg.Resources {
		r := webhook.Resource{
			Name:           rc.Name,
			Shadow:         rc.Shadow,
			Match:          rc.MatchLabels,
			Horizon:        time.Duration(rc.Horizon),
			ThresholdUpper: rc.ThresholdUpper,
			ThresholdLower: rc.ThresholdLower,
			Dynamic:        rc.ThresholdMode == config.ThresholdDynamic,
			WidthFactor:    rc.DynamicWidthFactor,
			Mode:           rc.Mode,
			Cooldown:       time.Duration(rc.Cooldown),
			Stabilization:  time.Duration(rc.ScaleDownStabilization),
			LeadTime:       time.Duration(rc.LeadTime),
		}
		pools := append([]config.Alternative{{Name: rc.Name, Pool: rc.Pool}}, rc.Alternatives...)
		for _, pc := range pools {
			a, err := newActuator(rc.Name, pc.Name, pc.Pool, needKube)
			if err != nil {
				errs = append(errs, fmt.Errorf("resource %s: pool %s: %w", rc.Name, pc.Name, err))
				continue
			}
			r.Pools = append(r.Pools, webhook.Pool{
				Name: pc.Name, Kind: pc.Kind, CapacityPerUnit: pc.CapacityPerUnit,
				Min: pc.Min, Max: pc.Max, CostPerUnitHour: pc.CostPerUnitHour, Actuator: a,
			})
		}
		opts.Resources = append(opts.Resources, r)
		if pc := rc.Policy; pc.Mode == config.PolicyDryRun || pc.Mode == config.PolicyActive {
			if opts.Policies == nil {
				opts.Policies = map[string]webhook.PolicyOptions{}
			}
			mode := policy.ModeDryRun
			if pc.Mode == config.PolicyActive {
				mode = policy.ModeActive
			}
			po := webhook.PolicyOptions{
				Mode: mode, Lambda: pc.Lambda, Epoch: time.Duration(pc.Epoch), MinDryRunEpochs: pc.MinDryRunEpochs,
				StateFile: pc.StateFile, SaveInterval: time.Duration(pc.SaveInterval),
			}
			for _, o := range pc.SLO {
				if o.Max != nil {
					po.SLOs = append(po.SLOs, webhook.SLO{KPI: o.KPI, Max: true, Limit: *o.Max})
				} else if o.Min != nil {
					po.SLOs = append(po.SLOs, webhook.SLO{KPI: o.KPI, Limit: *o.Min})
				}
			}
			opts.Policies[rc.Name] = po
		}
	}
	if err := errors.Join(errs...); err != nil {
		return opts, nil, err
	}
	return opts, kube, nil
}

func newActuator(resource, pool string, p config.Pool, kube func() (*actuate.Clients, error)) (webhook.Actuator, error) {
	if p.Kind == config.KindHTTP {
		h := p.HTTP
		var secret []byte
		if h.SecretFile != "" {
			b, err := os.ReadFile(h.SecretFile)
			if err != nil {
				return nil, fmt.Errorf("http.secret_file: %w", err)
			}
			secret = []byte(strings.TrimSpace(string(b)))
		}
		retries := config.DefaultHTTPRetries
		if h.Retries != nil {
			retries = *h.Retries
		}
		return actuate.NewHTTP(actuate.HTTPOptions{
			URL: h.URL, Resource: resource, Pool: pool, Timeout: time.Duration(h.Timeout),
			Retries: retries, Backoff: time.Duration(h.Backoff), Secret: secret, Headers: h.Headers,
		})
	}
	k := p.Kubernetes
	c, err := kube()
	if err != nil {
		return nil, err
	}
	t := actuate.Target{APIVersion: k.APIVersion, Resource: k.Resource, Namespace: k.Namespace, Name: k.Name}
	switch p.Kind {
	case config.KindKubernetesScale:
		return actuate.NewScale(c, t)
	case config.KindKubernetesRequests:
		return actuate.NewRequests(c, t, k.Container, k.Request, k.Unit)
	case config.KindKubernetesHPAMin:
		return actuate.NewHPAMin(c, t)
	}
	return nil, fmt.Errorf("unknown kind %q", p.Kind)
}
