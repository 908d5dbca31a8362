package events

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type apiEnv struct {
	reg  *Registry
	api  *API
	srv  http.Handler
	path string
}

func newAPIEnv(t *testing.T, path string, s APISettings) *apiEnv {
	t.Helper()
	r := NewRegistry(RegistryOptions{}, prometheus.NewRegistry(), nil)
	if s.ValidShadow == nil {
		s.ValidShadow = func(n string) bool { return n == "api_requests" || n == "queue" }
	}
	a, err := NewAPI(APIOptions{APISettings: s, Path: path}, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	router := chi.NewRouter()
	a.Routes(router)
	return &apiEnv{reg: r, api: a, srv: router, path: path}
}

func (e *apiEnv) do(method, target, body, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec
}

const goodBody = `{"name":"Black Friday","kind":"campaign","start":"2026-11-27T08:00:00+01:00","end":"2026-11-28T00:00:00Z","shadows":["queue","api_requests","queue"]}`

func decodeEvent(t *testing.T, rec *httptest.ResponseRecorder) Event {
	t.Helper()
	var resp struct {
		Status string
		Data   Event
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	return resp.Data
}

func TestAPICreateListDelete(t *testing.T) {
	e := newAPIEnv(t, filepath.Join(t.TempDir(), "sub", "events.json"), APISettings{})
	rec := e.do(http.MethodPost, "/api/v1/events", goodBody, "")
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST = %d %s", rec.Code, rec.Body)
	}
	got := decodeEvent(t, rec)
	if !strings.HasPrefix(got.ID, "api-") || rec.Header().Get("Location") != "/api/v1/events/"+got.ID {
		t.Errorf("id %q, location %q", got.ID, rec.Header().Get("Location"))
	}
	want := Event{ID: got.ID, Name: "Black Friday", Kind: "campaign", Start: utc("2026-11-27T07:00:00Z"), End: utc("2026-11-28T00:00:00Z"),
		Shadows: []string{"api_requests", "queue"}, Source: SourceAPI}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("created (-want +got):\n%s", diff)
	}
	if evs := e.reg.Events("queue"); len(evs) != 1 || evs[0].Kind != "campaign" {
		t.Errorf("registry serves %v", evs)
	}
	if evs := e.reg.Events("other"); len(evs) != 0 {
		t.Errorf("other shadow gets %v", evs)
	}

	rec = e.do(http.MethodGet, "/api/v1/events", "", "")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"id":"`+got.ID+`"`) || !strings.Contains(rec.Body.String(), `"source":"api"`) {
		t.Errorf("GET = %d %s", rec.Code, rec.Body)
	}
	rec = e.do(http.MethodGet, "/api/v1/events?source=ical", "", "")
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"status":"success","data":[]}` {
		t.Errorf("GET ?source=ical = %d %s", rec.Code, rec.Body)
	}

	if rec = e.do(http.MethodDelete, "/api/v1/events/"+got.ID, "", ""); rec.Code != http.StatusNoContent {
		t.Errorf("DELETE = %d %s", rec.Code, rec.Body)
	}
	if rec = e.do(http.MethodDelete, "/api/v1/events/"+got.ID, "", ""); rec.Code != http.StatusNotFound {
		t.Errorf("second DELETE = %d %s", rec.Code, rec.Body)
	}
	if len(e.reg.List()) != 0 {
		t.Errorf("registry still lists %v", e.reg.List())
	}
	if v := testutil.ToFloat64(e.reg.metrics.api.WithLabelValues("POST", apiCreated)); v != 1 {
		t.Errorf("created counter = %v", v)
	}
}

func TestAPIRejects(t *testing.T) {
	tests := []struct {
		name   string
		method string
		target string
		body   string
		token  string
		code   int
		msg    string
	}{
		{"empty body", "POST", "/api/v1/events", "", "secret", 400, "empty body"},
		{"bad json", "POST", "/api/v1/events", `{"name":`, "secret", 400, "invalid JSON"},
		{"trailing data", "POST", "/api/v1/events", goodBody + `{}`, "secret", 400, "data after the object"},
		{"unknown field", "POST", "/api/v1/events", `{"name":"x","begin":"2026"}`, "secret", 400, `unknown field "begin"`},
		{"no name", "POST", "/api/v1/events", `{"start":"2026-11-27T08:00:00Z","end":"2026-11-28T00:00:00Z"}`, "secret", 400, "name is required"},
		{"no start", "POST", "/api/v1/events", `{"name":"x","end":"2026-11-28T00:00:00Z"}`, "secret", 400, "start is required"},
		{"bad start", "POST", "/api/v1/events", `{"name":"x","start":"2026-11-27 08:00","end":"2026-11-28T00:00:00Z"}`, "secret", 400, `start "2026-11-27 08:00" is not RFC 3339`},
		{"end before start", "POST", "/api/v1/events", `{"name":"x","start":"2026-11-28T00:00:00Z","end":"2026-11-27T00:00:00Z"}`, "secret", 400, "is not after start"},
		{"unknown shadow", "POST", "/api/v1/events", `{"name":"x","start":"2026-11-27T00:00:00Z","end":"2026-11-28T00:00:00Z","shadows":["nope"]}`, "secret", 400, `unknown shadow "nope"`},
		{"long name", "POST", "/api/v1/events", `{"name":"` + strings.Repeat("x", 300) + `","start":"2026-11-27T00:00:00Z","end":"2026-11-28T00:00:00Z"}`, "secret", 400, "longer than 256"},
		{"too large", "POST", "/api/v1/events", `{"name":"` + strings.Repeat("x", 2000) + `"}`, "secret", 413, "exceeds 1024 bytes"},
		{"no token", "POST", "/api/v1/events", goodBody, "", 401, "unauthorized"},
		{"wrong token", "GET", "/api/v1/events", "", "guess", 401, "unauthorized"},
		{"unknown id", "DELETE", "/api/v1/events/api-0000", "", "secret", 404, `no event with id "api-0000"`},
	}
	e := newAPIEnv(t, "", APISettings{BearerToken: "secret", MaxBodyBytes: 1024})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(tt.method, tt.target, tt.body, tt.token)
			var resp apiResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.Status != "error" {
				t.Errorf("body %s: %v", rec.Body, err)
			}
			if rec.Code != tt.code || !strings.Contains(resp.Error, tt.msg) {
				t.Errorf("%s %s = %d %s; want %d containing %q", tt.method, tt.target, rec.Code, rec.Body, tt.code, tt.msg)
			}
		})
	}
	if n := len(e.reg.List()); n != 0 {
		t.Errorf("%d events stored after rejections", n)
	}
	if rec := e.do("GET", "/api/v1/events", "", "secret"); rec.Code != 200 {
		t.Errorf("GET with token = %d", rec.Code)
	}
}

func TestAPIReadOnlyLimitAndForeignDelete(t *testing.T) {
	e := newAPIEnv(t, "", APISettings{MaxEvents: 1})
	if rec := e.do("POST", "/api/v1/events", goodBody, ""); rec.Code != 201 {
		t.Fatalf("POST = %d %s", rec.Code, rec.Body)
	}
	if rec := e.do("POST", "/api/v1/events", goodBody, ""); rec.Code != 409 || !strings.Contains(rec.Body.String(), "limit") {
		t.Errorf("POST over limit = %d %s", rec.Code, rec.Body)
	}
	ic := Event{ID: "ical-1", Name: "x", Start: utc("2026-01-01T00:00:00Z"), End: utc("2026-01-02T00:00:00Z"), Source: SourceICal, Origin: "/etc/x.ics"}
	e.reg.Set("ical:/etc/x.ics", []Event{ic})
	if rec := e.do("DELETE", "/api/v1/events/ical-1", "", ""); rec.Code != 409 || !strings.Contains(rec.Body.String(), "/etc/x.ics") {
		t.Errorf("DELETE ical event = %d %s", rec.Code, rec.Body)
	}
	e.api.Update(APISettings{MaxEvents: 10, MaxKinds: 2}) // kinds: campaign, ""
	if rec := e.do("POST", "/api/v1/events", strings.Replace(goodBody, `"campaign"`, `"promo"`, 1), ""); rec.Code != 400 || !strings.Contains(rec.Body.String(), "limit of 2 distinct kinds") {
		t.Errorf("POST of a third kind = %d %s", rec.Code, rec.Body)
	}
	if rec := e.do("POST", "/api/v1/events", goodBody, ""); rec.Code != 201 {
		t.Errorf("POST of a known kind = %d %s", rec.Code, rec.Body)
	}
	e.api.Update(APISettings{ReadOnly: true})
	if rec := e.do("POST", "/api/v1/events", goodBody, ""); rec.Code != 405 {
		t.Errorf("read-only POST = %d", rec.Code)
	}
	if rec := e.do("DELETE", "/api/v1/events/x", "", ""); rec.Code != 405 {
		t.Errorf("read-only DELETE = %d", rec.Code)
	}
}

func TestAPIPersistsAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.json")
	e := newAPIEnv(t, path, APISettings{})
	var ids []string
	for i := range 3 {
		body := fmt.Sprintf(`{"name":"e%d","start":"2026-11-2%dT00:00:00Z","end":"2026-11-2%dT12:00:00Z"}`, i, i, i)
		rec := e.do("POST", "/api/v1/events", body, "")
		if rec.Code != 201 {
			t.Fatalf("POST = %d %s", rec.Code, rec.Body)
		}
		ids = append(ids, decodeEvent(t, rec).ID)
	}
	if rec := e.do("DELETE", "/api/v1/events/"+ids[1], "", ""); rec.Code != 204 {
		t.Fatalf("DELETE = %d", rec.Code)
	}
	again := newAPIEnv(t, path, APISettings{})
	if diff := cmp.Diff(e.api.Stored(), again.api.Stored()); diff != "" {
		t.Errorf("after restart (-before +after):\n%s", diff)
	}
	if len(again.reg.List()) != 2 {
		t.Errorf("restarted registry lists %d events", len(again.reg.List()))
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %v", entries)
	}
}

func TestAPICorruptFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"truncated":   `{"version":1,"events":[{"id":"a"`,
		"version":     `{"version":9,"events":[]}`,
		"invalid":     `{"version":1,"events":[{"id":"a","name":"","start":"2026-01-01T00:00:00Z","end":"2026-01-02T00:00:00Z"}]}`,
		"duplicate":   `{"version":1,"events":[{"id":"a","name":"x","start":"2026-01-01T00:00:00Z","end":"2026-01-02T00:00:00Z"},{"id":"a","name":"x","start":"2026-01-01T00:00:00Z","end":"2026-01-02T00:00:00Z"}]}`,
		"trailing":    `{"version":1,"events":[]} x`,
		"not-object":  `[]`,
		"extra-field": `{"version":1,"events":[],"x":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := NewAPI(APIOptions{Path: path}, NewRegistry(RegistryOptions{}, prometheus.NewRegistry(), nil), nil)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %v, want one naming %s", err, path)
			}
		})
	}
}

func TestAPIWriteFailureChangesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.json")
	e := newAPIEnv(t, path, APISettings{})
	if rec := e.do("POST", "/api/v1/events", goodBody, ""); rec.Code != 201 {
		t.Fatal(rec.Code)
	}
	// Replace the file by a non-empty directory: the rename fails, even as
	// root.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	rec := e.do("POST", "/api/v1/events", goodBody, "")
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "persisting events") {
		t.Errorf("POST with an unwritable file = %d %s", rec.Code, rec.Body)
	}
	id := e.api.Stored()[0].ID
	if rec := e.do("DELETE", "/api/v1/events/"+id, "", ""); rec.Code != 500 {
		t.Errorf("DELETE with an unwritable file = %d %s", rec.Code, rec.Body)
	}
	if len(e.reg.List()) != 1 || len(e.api.Stored()) != 1 {
		t.Errorf("a failed write changed state: %d listed, %d stored", len(e.reg.List()), len(e.api.Stored()))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestAPIConcurrentAdds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.json")
	e := newAPIEnv(t, path, APISettings{})
	const n = 40
	var wg sync.WaitGroup
	codes := make(chan int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"name":"e%d","start":"2026-11-27T00:00:00Z","end":"2026-11-28T00:00:00Z"}`, i)
			codes <- e.do("POST", "/api/v1/events", body, "").Code
		}()
		wg.Add(1)
		go func() { defer wg.Done(); e.do("GET", "/api/v1/events", "", ""); _ = e.reg.Events("queue") }()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 201 {
			t.Errorf("code %d", c)
		}
	}
	evs, err := loadStore(path)
	if err != nil || len(evs) != n || len(e.reg.List()) != n {
		t.Errorf("stored %d (err %v), listed %d; want %d", len(evs), err, len(e.reg.List()), n)
	}
}

func TestAPIRetentionPrunesOnWrite(t *testing.T) {
	now := utc("2026-11-27T00:00:00Z")
	r := NewRegistry(RegistryOptions{}, prometheus.NewRegistry(), nil)
	a, err := NewAPI(APIOptions{Retention: time.Hour, Now: func() time.Time { return now }}, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	router := chi.NewRouter()
	a.Routes(router)
	e := &apiEnv{reg: r, api: a, srv: router}
	e.do("POST", "/api/v1/events", `{"name":"old","start":"2026-11-20T00:00:00Z","end":"2026-11-21T00:00:00Z"}`, "")
	e.do("POST", "/api/v1/events", `{"name":"new","start":"2026-11-27T00:00:00Z","end":"2026-11-28T00:00:00Z"}`, "")
	if s := a.Stored(); len(s) != 1 || s[0].Name != "new" {
		t.Errorf("stored %v", s)
	}
}
