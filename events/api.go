package events

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
)

// API defaults.
const (
	DefaultMaxBodyBytes = 64 << 10
	DefaultMaxAPIEvents = 1000
	// DefaultMaxKinds bounds the distinct event kinds; each kind adds three
	// model features.
	DefaultMaxKinds = 20
)

// APISettings are the reloadable settings of the events API.
type APISettings struct {
	// BearerToken, when not empty, is required on every request
	// (Authorization: Bearer <token>).
	BearerToken string
	// MaxBodyBytes bounds a POST body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxEvents bounds the events stored through the API; 0 means
	// DefaultMaxAPIEvents.
	MaxEvents int
	// MaxKinds refuses a POST that would bring the distinct kinds of all
	// served events above it (each kind adds three model features); 0
	// means DefaultMaxKinds.
	MaxKinds int
	// ReadOnly refuses POST and DELETE (405).
	ReadOnly bool
	// ValidShadow reports whether a shadow exists; nil accepts any name.
	ValidShadow func(string) bool
}

// APIOptions configures an API.
type APIOptions struct {
	APISettings
	// Path is the JSON file events are persisted to; "" keeps them in
	// memory only.
	Path string
	// Retention drops stored events that ended more than Retention ago
	// when the store is next written; 0 keeps them.
	Retention time.Duration
	// Now is the wall clock; nil means time.Now.
	Now func() time.Time
}

// API serves /api/v1/events: list, add and delete events. Added events are
// persisted before they are served.
type API struct {
	opts     APIOptions
	settings atomic.Pointer[APISettings]
	registry *Registry
	logger   *slog.Logger

	mu     sync.Mutex // serializes writes
	stored []Event    // events added through the API, as persisted
}

// NewAPI loads the persisted events (a corrupt file is an error) and
// publishes them in r.
func NewAPI(opts APIOptions, r *Registry, logger *slog.Logger) (*API, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &API{opts: opts, registry: r, logger: logger}
	a.Update(opts.APISettings)
	if opts.Path != "" {
		if err := os.MkdirAll(filepath.Dir(opts.Path), 0o755); err != nil {
			return nil, fmt.Errorf("events API: %w", err)
		}
		evs, err := loadStore(opts.Path)
		if err != nil {
			return nil, fmt.Errorf("events API: %w", err)
		}
		a.stored = evs
	}
	r.Set(SourceAPI, a.stored)
	logger.Info("Events API ready", "stored", len(a.stored), "path", opts.Path, "auth", opts.BearerToken != "")
	return a, nil
}

// Update swaps the reloadable settings.
func (a *API) Update(s APISettings) {
	if s.MaxBodyBytes <= 0 {
		s.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.MaxEvents <= 0 {
		s.MaxEvents = DefaultMaxAPIEvents
	}
	if s.MaxKinds <= 0 {
		s.MaxKinds = DefaultMaxKinds
	}
	a.settings.Store(&s)
}

// Routes mounts GET and POST /api/v1/events and DELETE /api/v1/events/{id}.
func (a *API) Routes(r chi.Router) {
	r.Get("/api/v1/events", a.list)
	r.Post("/api/v1/events", a.create)
	r.Delete("/api/v1/events/{id}", a.remove)
}

type apiResponse struct {
	Status string `json:"status"`
	Data   any    `json:"data,omitempty"`
	Error  string `json:"error,omitempty"`
}

func (a *API) fail(w http.ResponseWriter, method, result string, code int, format string, args ...any) {
	a.registry.metrics.api.WithLabelValues(method, result).Inc()
	writeJSON(w, code, apiResponse{Status: "error", Error: fmt.Sprintf(format, args...)})
}

// authorized checks the bearer token, answering 401 when it is wrong.
func (a *API) authorized(w http.ResponseWriter, r *http.Request, s *APISettings) bool {
	if s.BearerToken == "" || validBearer(r.Header.Get("Authorization"), s.BearerToken) {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="shadowcast"`)
	a.fail(w, r.Method, apiUnauthorized, http.StatusUnauthorized, "unauthorized")
	return false
}

// list serves GET /api/v1/events[?source=api|ical|promql][&shadow=name].
func (a *API) list(w http.ResponseWriter, r *http.Request) {
	if !a.authorized(w, r, a.settings.Load()) {
		return
	}
	source, shadow := r.URL.Query().Get("source"), r.URL.Query().Get("shadow")
	out := []Event{}
	for _, e := range a.registry.List() {
		if (source == "" || e.Source == source) && (shadow == "" || e.AppliesTo(shadow)) {
			out = append(out, withShadows(e))
		}
	}
	a.registry.metrics.api.WithLabelValues(http.MethodGet, apiListed).Inc()
	writeJSON(w, http.StatusOK, apiResponse{Status: "success", Data: out})
}

// withShadows makes an empty shadow list encode as [] rather than null.
func withShadows(e Event) Event {
	if e.Shadows == nil {
		e.Shadows = []string{}
	}
	return e
}

// eventInput is the body of POST /api/v1/events.
type eventInput struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Start   string   `json:"start"`
	End     string   `json:"end"`
	Shadows []string `json:"shadows"`
}

// create serves POST /api/v1/events:
//
//	201 the stored event, with its generated id
//	400 malformed JSON, unknown fields, missing or invalid fields, a new
//	    kind beyond MaxKinds
//	401 missing or wrong bearer token
//	405 the API is read-only
//	409 the API already stores its maximum number of events
//	413 body over the size limit
//	500 the events file could not be written (nothing was added)
func (a *API) create(w http.ResponseWriter, r *http.Request) {
	const m = http.MethodPost
	s := a.settings.Load()
	if !a.authorized(w, r, s) {
		return
	}
	if s.ReadOnly {
		a.fail(w, m, apiReadOnly, http.StatusMethodNotAllowed, "the events API is read-only")
		return
	}
	in, err := decodeInput(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a.fail(w, m, apiTooLarge, http.StatusRequestEntityTooLarge, "body exceeds %d bytes", mbe.Limit)
			return
		}
		a.fail(w, m, apiInvalid, http.StatusBadRequest, "%v", err)
		return
	}
	e, err := in.event(s.ValidShadow)
	if err != nil {
		a.fail(w, m, apiInvalid, http.StatusBadRequest, "%v", err)
		return
	}
	e.ID, err = newID()
	if err != nil {
		a.fail(w, m, apiError, http.StatusInternalServerError, "generating an id: %v", err)
		return
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	next := a.pruned()
	if len(next) >= s.MaxEvents {
		a.fail(w, m, apiConflict, http.StatusConflict, "the API already stores %d events, the limit; delete some first", len(next))
		return
	}
	kinds := map[string]bool{}
	for _, ev := range a.registry.List() {
		kinds[ev.Kind] = true
	}
	if !kinds[e.Kind] && len(kinds) >= s.MaxKinds {
		a.fail(w, m, apiInvalid, http.StatusBadRequest, "kind %q would be a new kind beyond the limit of %d distinct kinds (each kind adds model features); reuse one of the existing kinds", e.Kind, s.MaxKinds)
		return
	}
	next = append(next, e)
	if err := a.commit(next); err != nil {
		a.logger.Error("Persisting events failed", "path", a.opts.Path, "err", err)
		a.fail(w, m, apiError, http.StatusInternalServerError, "persisting events: %v", err)
		return
	}
	a.logger.Info("Event added", "id", e.ID, "name", e.Name, "kind", e.Kind, "start", e.Start, "end", e.End, "shadows", e.Shadows)
	a.registry.metrics.api.WithLabelValues(m, apiCreated).Inc()
	w.Header().Set("Location", "/api/v1/events/"+e.ID)
	writeJSON(w, http.StatusCreated, apiResponse{Status: "success", Data: withShadows(e)})
}

// remove serves DELETE /api/v1/events/{id}: 204 deleted, 404 unknown id,
// 409 the event comes from another source (edit the iCal file or the
// series instead), 401, 405 and 500 as for POST.
func (a *API) remove(w http.ResponseWriter, r *http.Request) {
	const m = http.MethodDelete
	s := a.settings.Load()
	if !a.authorized(w, r, s) {
		return
	}
	if s.ReadOnly {
		a.fail(w, m, apiReadOnly, http.StatusMethodNotAllowed, "the events API is read-only")
		return
	}
	id := chi.URLParam(r, "id")
	a.mu.Lock()
	defer a.mu.Unlock()
	i := slices.IndexFunc(a.stored, func(e Event) bool { return e.ID == id })
	if i < 0 {
		if e, ok := a.registry.Lookup(id); ok {
			a.fail(w, m, apiConflict, http.StatusConflict, "event %q comes from %s source %q and cannot be deleted through the API", id, e.Source, e.Origin)
			return
		}
		a.fail(w, m, apiNotFound, http.StatusNotFound, "no event with id %q", id)
		return
	}
	next := slices.Delete(slices.Clone(a.stored), i, i+1)
	if err := a.commit(next); err != nil {
		a.logger.Error("Persisting events failed", "path", a.opts.Path, "err", err)
		a.fail(w, m, apiError, http.StatusInternalServerError, "persisting events: %v", err)
		return
	}
	a.logger.Info("Event deleted", "id", id)
	a.registry.metrics.api.WithLabelValues(m, apiDeleted).Inc()
	w.WriteHeader(http.StatusNoContent)
}

// pruned returns a copy of the stored events without those that aged out.
func (a *API) pruned() []Event {
	if a.opts.Retention <= 0 {
		return slices.Clone(a.stored)
	}
	cutoff := a.opts.Now().Add(-a.opts.Retention)
	var out []Event
	for _, e := range a.stored {
		if e.End.After(cutoff) {
			out = append(out, e)
		}
	}
	return out
}

// commit persists next, then serves it. On error nothing changes.
func (a *API) commit(next []Event) error {
	if a.opts.Path != "" {
		if err := saveStore(a.opts.Path, next); err != nil {
			return err
		}
	}
	a.stored = next
	a.registry.Set(SourceAPI, next)
	return nil
}

// Stored returns the events added through the API.
func (a *API) Stored() []Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.stored)
}

func decodeInput(r io.Reader) (eventInput, error) {
	var in eventInput
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return in, err
		}
		if errors.Is(err, io.EOF) {
			return in, errors.New("empty body: want a JSON object with name, kind, start, end, shadows")
		}
		return in, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return in, err
		}
		return in, errors.New("invalid JSON: data after the object")
	}
	return in, nil
}

// event validates the input and returns the event it describes.
func (in eventInput) event(validShadow func(string) bool) (Event, error) {
	e := Event{Name: strings.TrimSpace(in.Name), Kind: strings.TrimSpace(in.Kind), Source: SourceAPI}
	var errs []error
	parse := func(field, v string) time.Time {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required (RFC 3339, e.g. 2026-11-27T08:00:00Z)", field))
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not RFC 3339 (e.g. 2026-11-27T08:00:00Z)", field, v))
		}
		return t.UTC()
	}
	e.Start, e.End = parse("start", in.Start), parse("end", in.End)
	if len(in.Shadows) > 0 {
		e.Shadows = slices.Compact(slices.Sorted(slices.Values(in.Shadows)))
	}
	if len(errs) > 0 {
		if e.Name == "" {
			errs = append([]error{errors.New("name is required")}, errs...)
		}
		return e, joinSemi(errs)
	}
	if err := e.Validate(validShadow); err != nil {
		return e, joinSemi([]error{err})
	}
	return e, nil
}

// joinSemi joins errors on one line.
func joinSemi(errs []error) error {
	var parts []string
	for _, err := range errs {
		parts = append(parts, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return errors.New(strings.Join(parts, "; "))
}

func newID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "api-" + hex.EncodeToString(b), nil
}

// validBearer compares the presented token with want in constant time
// (over SHA-256 digests, so the length of want does not leak either).
func validBearer(header, want string) bool {
	const prefix = "Bearer "
	if len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(header[len(prefix):])))
	exp := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(got[:], exp[:]) == 1
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
