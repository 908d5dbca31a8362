package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowcast/shadowcast/config"
)

func icsOf(summary string, start time.Time) string {
	return "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:" + summary + "\r\nDTSTART:" + start.UTC().Format("20060102T150405Z") +
		"\r\nDURATION:PT2H\r\nSUMMARY:" + summary + "\r\nCATEGORIES:campaign\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
}

func TestEventsWiring(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load([]byte(`
shadows:
  - name: queue
    source:
      file: {embedded: nasa-http}
    history: 1d
    horizons: [5m]
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(time.Hour)
	ics := filepath.Join(dir, "cal.ics")
	if err := os.WriteFile(ics, []byte(icsOf("Launch", soon)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	es := config.EventSources{
		ICal: []config.ICalSource{{Path: "cal.ics", Shadows: []string{"queue"}}},
		API:  config.EventsAPI{BearerTokenFile: "token"},
	}
	storage := filepath.Join(dir, "data")
	r, api, err := newEvents(cfg, es, storage, prometheus.NewRegistry(), discardLogger)
	if err != nil {
		t.Fatal(err)
	}
	if ev := r.Events("queue"); len(ev) != 1 || ev[0].Name != "Launch" || ev[0].Kind != "campaign" {
		t.Fatalf("queue events: %+v", ev)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	router := chi.NewRouter()
	api.Routes(router)
	post := func(token, body string) int {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/events", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, req)
		return rec.Code
	}
	body := fmt.Sprintf(`{"name":"Sale","kind":"campaign","start":%q,"end":%q,"shadows":["queue"]}`,
		soon.Format(time.RFC3339), soon.Add(time.Hour).Format(time.RFC3339))
	if code := post("wrong", body); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", code)
	}
	if code := post("s3cret", strings.Replace(body, `"queue"`, `"nope"`, 1)); code != http.StatusBadRequest {
		t.Errorf("unknown shadow: %d", code)
	}
	if code := post("s3cret", body); code != http.StatusCreated {
		t.Errorf("POST: %d", code)
	}
	if _, err := os.Stat(filepath.Join(storage, eventsFile)); err != nil {
		t.Errorf("events not persisted: %v", err)
	}
	if n := len(r.Events("queue")); n != 2 {
		t.Errorf("queue has %d events, want 2", n)
	}

	// A reload with a broken iCal file changes nothing.
	bad := filepath.Join(dir, "bad.ics")
	os.WriteFile(bad, []byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n"), 0o600)
	es2 := es
	es2.ICal = []config.ICalSource{{Path: "bad.ics"}}
	if _, err := prepareEventsReload(cfg, es2, r, api, discardLogger); err == nil || !strings.Contains(err.Error(), "event_sources.ical[0]") {
		t.Errorf("bad reload: %v", err)
	}
	if err := checkEventFiles(cfg, es2); err == nil || !strings.Contains(err.Error(), "never closed") {
		t.Errorf("check of a bad file: %v", err)
	}
	if err := checkEventFiles(cfg, es); err != nil {
		t.Errorf("check of a good file: %v", err)
	}
	if n := len(r.Events("queue")); n != 2 {
		t.Errorf("after a failed reload queue has %d events", n)
	}
	// A good reload drops the iCal file and the token.
	es3 := config.EventSources{}
	apply, err := prepareEventsReload(cfg, es3, r, api, discardLogger)
	if err != nil {
		t.Fatal(err)
	}
	apply()
	if ev := r.Events("queue"); len(ev) != 1 || ev[0].Name != "Sale" {
		t.Errorf("after reload: %+v", ev)
	}
	if code := post("", body); code != http.StatusCreated {
		t.Errorf("POST without token after reload: %d", code)
	}

	// A restart finds the API events again; a corrupt file fails the start.
	r2, _, err := newEvents(cfg, es3, storage, prometheus.NewRegistry(), discardLogger)
	if err != nil || len(r2.List()) != 2 {
		t.Fatalf("restart: %v, %d events", err, len(r2.List()))
	}
	os.WriteFile(filepath.Join(storage, eventsFile), []byte("{"), 0o600)
	if _, _, err := newEvents(cfg, es3, storage, prometheus.NewRegistry(), discardLogger); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt file: %v", err)
	}
}
