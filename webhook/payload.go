package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// PayloadVersion is the Alertmanager webhook payload version understood.
const PayloadVersion = "4"

// ResourceLabel is the alert label that selects a configured resource.
const ResourceLabel = "shadowcast_resource"

// ActionLabel, when an alert carries it, must name an allow-listed action
// (RuleScaleUp or RuleScaleDown). The engine decides the direction itself
// from the current forecast; the label only routes in Alertmanager.
const ActionLabel = "shadowcast_action"

// Message is the JSON body Alertmanager posts to a webhook receiver
// (version 4). It mirrors the documented payload; unknown fields, which
// newer Alertmanagers add (notification_reason, routeLabels), are ignored.
type Message struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	Alerts            []Alert           `json:"alerts"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
}

// Alert is one alert of a notification.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Alert and notification statuses.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// ErrBadPayload wraps every reason a body is not a usable notification.
var ErrBadPayload = errors.New("bad payload")

// Decode reads one notification from r and checks its version and the
// status of each alert. Fields it does not know are ignored.
func Decode(r io.Reader) (*Message, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, fmt.Errorf("read body: %w", err)
	}
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPayload, err)
	}
	if m.Version != PayloadVersion {
		return nil, fmt.Errorf("%w: version %q, want %q", ErrBadPayload, m.Version, PayloadVersion)
	}
	for i, a := range m.Alerts {
		if a.Status != StatusFiring && a.Status != StatusResolved {
			return nil, fmt.Errorf("%w: alerts[%d]: status %q", ErrBadPayload, i, a.Status)
		}
	}
	return &m, nil
}
