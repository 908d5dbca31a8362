package webhook

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Notification results, the `result` label of
// shadowcast_webhook_notifications_total.
const (
	notifyAccepted     = "accepted"
	notifyDuplicate    = "duplicate"
	notifyRejected     = "rejected"
	notifyUnauthorized = "unauthorized"
	notifyTooLarge     = "too_large"
	notifyBusy         = "busy"
)

// Alert results, the `result` label of shadowcast_webhook_alerts_total.
const (
	alertQueued     = "queued"
	alertCoalesced  = "coalesced"
	alertDuplicate  = "duplicate"
	alertResolved   = "resolved"
	alertUnlabelled = "unlabelled"
)

// response is the JSON body of every webhook answer.
type response struct {
	Status  string   `json:"status"` // success or error
	Error   string   `json:"error,omitempty"`
	Queued  []string `json:"queued,omitempty"`
	Ignored int      `json:"ignored,omitempty"`
	Dups    int      `json:"duplicates,omitempty"`
}

// ServeHTTP handles POST /webhook/alertmanager:
//
//	202 at least one resource queued for evaluation
//	200 nothing to do (duplicates, resolved alerts, resources already queued)
//	400 bad JSON, wrong version, an alert naming an unknown resource or an
//	    action other than scale_up/scale_down, or no alert naming a resource
//	401 missing or wrong bearer token
//	413 body over the size limit
//	503 queue full or shutting down (Alertmanager retries)
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := e.set.Load()
	// Deadlines guard against slow clients (not supported by every
	// ResponseWriter, e.g. in tests: then the server's timeouts apply).
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.reqTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(s.reqTimeout))
	if s.token != "" && !validBearer(r.Header.Get("Authorization"), s.token) {
		e.metrics.notifications.WithLabelValues("unknown", notifyUnauthorized).Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="shadowcast"`)
		writeJSON(w, http.StatusUnauthorized, response{Status: "error", Error: "unauthorized"})
		return
	}
	msg, err := Decode(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			e.metrics.notifications.WithLabelValues("unknown", notifyTooLarge).Inc()
			writeJSON(w, http.StatusRequestEntityTooLarge, response{Status: "error", Error: fmt.Sprintf("body exceeds %d bytes", mbe.Limit)})
			return
		}
		e.metrics.notifications.WithLabelValues("unknown", notifyRejected).Inc()
		writeJSON(w, http.StatusBadRequest, response{Status: "error", Error: err.Error()})
		return
	}
	status := msg.Status
	if status != StatusFiring && status != StatusResolved {
		status = "unknown"
	}

	// Check every alert first: one naming an unknown resource rejects the
	// whole notification before anything is queued.
	named := 0
	for i, a := range msg.Alerts {
		name, ok := a.Labels[ResourceLabel]
		if !ok {
			continue
		}
		named++
		if act, ok := a.Labels[ActionLabel]; ok && act != RuleScaleUp && act != RuleScaleDown {
			e.metrics.notifications.WithLabelValues(status, notifyRejected).Inc()
			writeJSON(w, http.StatusBadRequest, response{Status: "error", Error: fmt.Sprintf("alerts[%d]: action %q is not allowed", i, act)})
			return
		}
		if s.resources[name] == nil {
			e.metrics.notifications.WithLabelValues(status, notifyRejected).Inc()
			e.logger.Warn("Notification names an unknown resource", "group_key", msg.GroupKey, "alert", i, "resource", name)
			writeJSON(w, http.StatusBadRequest, response{Status: "error", Error: fmt.Sprintf("alerts[%d]: unknown resource %q", i, name)})
			return
		}
	}
	if named == 0 {
		e.metrics.notifications.WithLabelValues(status, notifyRejected).Inc()
		writeJSON(w, http.StatusBadRequest, response{Status: "error", Error: fmt.Sprintf("no alert carries the label %s", ResourceLabel)})
		return
	}

	now := e.now()
	resp := response{Status: "success"}
	for _, a := range msg.Alerts {
		name, ok := a.Labels[ResourceLabel]
		switch {
		case !ok:
			e.metrics.alerts.WithLabelValues(alertUnlabelled).Inc()
			resp.Ignored++
			continue
		case a.Status != StatusFiring:
			e.metrics.alerts.WithLabelValues(alertResolved).Inc()
			resp.Ignored++
			continue
		}
		fp := a.Fingerprint
		if fp == "" {
			fp = labelsHash(a.Labels)
		}
		key := name + "\x00" + fp + "\x00" + strconv.FormatInt(a.StartsAt.UnixNano(), 10)
		if e.dedupe.contains(key, now) {
			e.metrics.alerts.WithLabelValues(alertDuplicate).Inc()
			resp.Dups++
			continue
		}
		coalesced, err := e.Enqueue(name, Cause{Reason: "alert", Alertname: a.Labels["alertname"], Fingerprint: fp, StartsAt: a.StartsAt})
		if errors.Is(err, errUnknownResource) { // removed by a reload since the check above
			e.metrics.notifications.WithLabelValues(status, notifyRejected).Inc()
			writeJSON(w, http.StatusBadRequest, response{Status: "error", Error: err.Error()})
			return
		}
		if err != nil {
			// Keys of this alert stay unseen so Alertmanager's retry is
			// processed; alerts queued before it are deduplicated then.
			e.metrics.notifications.WithLabelValues(status, notifyBusy).Inc()
			e.logger.Warn("Notification not queued", "group_key", msg.GroupKey, "err", err)
			w.Header().Set("Retry-After", "5")
			writeJSON(w, http.StatusServiceUnavailable, response{Status: "error", Error: err.Error()})
			return
		}
		e.dedupe.add(key, now, s.dedupeTTL)
		if coalesced {
			e.metrics.alerts.WithLabelValues(alertCoalesced).Inc()
		} else {
			e.metrics.alerts.WithLabelValues(alertQueued).Inc()
			resp.Queued = append(resp.Queued, name)
		}
	}
	code, result := http.StatusOK, notifyDuplicate
	if len(resp.Queued) > 0 {
		code, result = http.StatusAccepted, notifyAccepted
	} else if resp.Dups == 0 {
		result = notifyAccepted
	}
	e.metrics.notifications.WithLabelValues(status, result).Inc()
	e.logger.Debug("Notification handled", "group_key", msg.GroupKey, "status", msg.Status, "alerts", len(msg.Alerts),
		"queued", len(resp.Queued), "duplicates", resp.Dups, "ignored", resp.Ignored)
	writeJSON(w, code, resp)
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

// labelsHash identifies an alert without a fingerprint by its label set.
func labelsHash(ls map[string]string) string {
	keys := make([]string, 0, len(ls))
	for k := range ls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := fnv.New64a()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(ls[k]))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// DecisionsHandler serves GET /api/v1/decisions: the latest decisions,
// newest first, as {"status":"success","data":[...]}. Query parameters:
// resource (filter) and limit (default 100).
func (e *Engine) DecisionsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := 100
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"status": "error", "error": "limit must be a positive integer"})
				return
			}
			limit = n
		}
		writeJSON(w, http.StatusOK, struct {
			Status string     `json:"status"`
			Data   []Decision `json:"data"`
		}{"success", e.Decisions(r.URL.Query().Get("resource"), limit)})
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
