package actuate

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>" keyed with
// the configured secret. Receivers recompute it over the raw body and
// compare in constant time; the body's time field lets them refuse
// replays.
const SignatureHeader = "X-Shadowcast-Signature"

// HTTPOptions configure an HTTP actuator.
type HTTPOptions struct {
	URL      string
	Resource string // resource name, sent in the body
	Pool     string // pool name, sent in the body
	Timeout  time.Duration
	Retries  int
	Backoff  time.Duration // before the first retry, doubled after each
	Secret   []byte        // HMAC key; no signature when empty
	Headers  map[string]string
	// Client is used when set (tests); otherwise one with Timeout.
	Client *http.Client
	// Now is the clock for the body's time field (time.Now when nil).
	Now func() time.Time
}

// HTTP posts each change as JSON to an endpoint. It cannot read the
// endpoint's state: Read returns the units it last wrote, or -1 before its
// first write, and Write never reports a conflict unless the endpoint
// answers 409.
type HTTP struct {
	opts   HTTPOptions
	client *http.Client

	mu   sync.Mutex // guards last
	last int
}

// HTTPBody is the JSON body of a change.
type HTTPBody struct {
	Resource      string    `json:"resource"`
	Pool          string    `json:"pool"`
	Units         int       `json:"units"`
	PreviousUnits int       `json:"previous_units"` // -1 when unknown
	Time          time.Time `json:"time"`
}

// NewHTTP returns an HTTP actuator.
func NewHTTP(opts HTTPOptions) (*HTTP, error) {
	if opts.URL == "" {
		return nil, errors.New("http actuator needs a url")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := opts.Client
	if c == nil {
		c = &http.Client{Timeout: opts.Timeout}
	}
	return &HTTP{opts: opts, client: c, last: -1}, nil
}

// Read returns the units last written, -1 before the first write.
func (h *HTTP) Read(context.Context) (Observed, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Observed{Units: h.last}, nil
}

// Sign returns the signature header value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// errPermanent marks answers a retry cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Write posts the change, retrying network errors, 429 and 5xx with
// exponential backoff. 409 is a conflict; other 4xx fail at once.
func (h *HTTP) Write(ctx context.Context, prev Observed, units int) error {
	body, err := json.Marshal(HTTPBody{
		Resource: h.opts.Resource, Pool: h.opts.Pool, Units: units,
		PreviousUnits: prev.Units, Time: h.opts.Now().UTC(),
	})
	if err != nil {
		return err
	}
	backoff := h.opts.Backoff
	for attempt := 0; ; attempt++ {
		err = h.post(ctx, body)
		if err == nil {
			h.mu.Lock()
			h.last = units
			h.mu.Unlock()
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) || attempt >= h.opts.Retries {
			return fmt.Errorf("post to %s (attempt %d): %w", h.opts.URL, attempt+1, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("post to %s: %w (after %v)", h.opts.URL, ctx.Err(), err)
		case <-t.C:
		}
		backoff *= 2
	}
}

func (h *HTTP) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.opts.URL, bytes.NewReader(body))
	if err != nil {
		return &permanentError{err}
	}
	for k, v := range h.opts.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "shadowcast")
	if len(h.opts.Secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(h.opts.Secret, body))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusConflict:
		return &permanentError{&ConflictError{Err: fmt.Errorf("endpoint answered 409: %s", bytes.TrimSpace(snippet))}}
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("endpoint answered %d: %s", resp.StatusCode, bytes.TrimSpace(snippet))
	default:
		return &permanentError{fmt.Errorf("endpoint answered %d: %s", resp.StatusCode, bytes.TrimSpace(snippet))}
	}
}
