// Package web serves shadowcast's HTTP endpoints: /metrics, the lifecycle
// endpoints (/-/healthy, /-/ready, /-/reload) and the status page. Other
// components mount their routes (webhook, events API) on the same router.
// Every route is instrumented under its chi pattern, never the raw path.
package web

import (
	"bufio"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/shadowcast/shadowcast/shadow"
)

// Engine is what the status page and readiness read.
type Engine interface {
	Snapshot(history int) []shadow.ShadowStatus
	Ready() (bool, []string)
}

// Options configures the web handler.
type Options struct {
	Engine   Engine
	Gatherer prometheus.Gatherer
	// Reload re-reads the configuration; nil disables /-/reload.
	Reload func() error
	// Version is shown on the status page.
	Version string
	// Extra writers append samples to /metrics after the Gatherer's, in
	// the text format (the shadow exposition at scale).
	Extra []TextWriter
	// KPIs, when set, are listed on the status page.
	KPIs func() []KPIRow
}

// KPIRow is one KPI series on the status page.
type KPIRow struct {
	Name   string
	Labels string
	Value  float64
	At     time.Time
	Err    string
}

// TextWriter writes metric families in the Prometheus text format.
type TextWriter interface {
	WriteText(w io.Writer) error
}

// Handler is the HTTP router.
type Handler struct {
	opts     Options
	logger   *slog.Logger
	router   chi.Router
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New builds the router with the built-in routes.
func New(opts Options, reg prometheus.Registerer, logger *slog.Logger) *Handler {
	f := promauto.With(reg)
	h := &Handler{
		opts:   opts,
		logger: logger,
		router: chi.NewRouter(),
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shadowcast_http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"handler", "method", "code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shadowcast_http_request_duration_seconds",
			Help:    "Latency of HTTP requests, by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
		}, []string{"handler"}),
	}
	h.router.Use(h.instrument)
	if len(opts.Extra) == 0 {
		h.Route(http.MethodGet, "/metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError)}))
	} else {
		h.Route(http.MethodGet, "/metrics", http.HandlerFunc(h.metrics))
	}
	h.Route(http.MethodGet, "/-/healthy", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("Healthy.\n"))
	}))
	h.Route(http.MethodGet, "/-/ready", http.HandlerFunc(h.ready))
	h.Route(http.MethodPost, "/-/reload", http.HandlerFunc(h.reload))
	h.Route(http.MethodPut, "/-/reload", http.HandlerFunc(h.reload))
	h.Route(http.MethodGet, "/", http.HandlerFunc(h.status))
	h.Route(http.MethodGet, "/plot.svg", http.HandlerFunc(h.plot))
	return h
}

// Route mounts handler at pattern for method.
func (h *Handler) Route(method, pattern string, handler http.Handler) {
	h.router.Method(method, pattern, handler)
}

// Router returns the router for components that mount their own routes;
// every route is instrumented by its pattern.
func (h *Handler) Router() chi.Router { return h.router }

// instrument counts and times requests by the matched route pattern (never
// the raw path: bounded cardinality).
func (h *Handler) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		pattern := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			pattern = rc.RoutePattern()
		}
		h.requests.WithLabelValues(pattern, methodLabel(r.Method), strconv.Itoa(sw.code)).Inc()
		h.duration.WithLabelValues(pattern).Observe(time.Since(start).Seconds())
	})
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.router.ServeHTTP(w, r) }

// metrics serves the Gatherer's families and then the Extra writers' in
// the text format, gzipped (fastest level) when the client accepts it.
func (h *Handler) metrics(w http.ResponseWriter, r *http.Request) {
	mfs, err := h.opts.Gatherer.Gather()
	if err != nil {
		h.logger.Error("Gathering metrics failed", "err", err)
		if len(mfs) == 0 {
			http.Error(w, "gathering metrics failed: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	w.Header().Set("Content-Type", string(format))
	var out io.Writer = w
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		defer gz.Close()
		out = gz
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	defer bw.Flush()
	enc := expfmt.NewEncoder(bw, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			h.logger.Debug("Writing metrics failed", "err", err)
			return
		}
	}
	for _, x := range h.opts.Extra {
		if err := x.WriteText(bw); err != nil {
			h.logger.Debug("Writing metrics failed", "err", err)
			return
		}
	}
}

func (h *Handler) ready(w http.ResponseWriter, _ *http.Request) {
	ok, waiting := h.opts.Engine.Ready()
	if !ok {
		http.Error(w, "Not ready: waiting for the first forecast of "+strings.Join(waiting, ", ")+".", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("Ready.\n"))
}

func (h *Handler) reload(w http.ResponseWriter, _ *http.Request) {
	if h.opts.Reload == nil {
		http.Error(w, "reload is not available", http.StatusNotFound)
		return
	}
	if err := h.opts.Reload(); err != nil {
		http.Error(w, "Reload failed; the previous configuration stays in effect: "+err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte("Configuration reloaded.\n"))
}
