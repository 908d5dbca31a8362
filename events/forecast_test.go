package events_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowcast/shadowcast/events"
	"github.com/shadowcast/shadowcast/forecast"
)

// TestAnnouncedEventShapesForecast runs the whole path: past campaigns come
// from an iCal file, a future one is announced through the API, and the
// registry's events, handed to the GBM model as forecast.Spec.Events, lift
// the forecast over the announced window before it starts.
func TestAnnouncedEventShapesForecast(t *testing.T) {
	if testing.Short() {
		t.Skip("trains two GBM models; skipped with -short")
	}
	const lift = 1.6
	rng := rand.New(rand.NewPCG(3, 7))
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	n := 40 * 24
	now := start.Add(time.Duration(n) * time.Hour)

	// Campaigns of 10 hours every 3 to 5 days, at irregular hours, so that
	// only the event features can explain them.
	var ics strings.Builder
	ics.WriteString("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
	var past []forecast.Event
	for h := 30; h < n-24; h += 72 + rng.IntN(48) {
		s := start.Add(time.Duration(h) * time.Hour)
		past = append(past, forecast.Event{Start: s, End: s.Add(10 * time.Hour)})
		fmt.Fprintf(&ics, "BEGIN:VEVENT\r\nUID:c%d\r\nDTSTART:%s\r\nDURATION:PT10H\r\nSUMMARY:Campaign %d\r\nCATEGORIES:campaign\r\nEND:VEVENT\r\n",
			h, s.Format("20060102T150405Z"), h)
	}
	ics.WriteString("END:VCALENDAR\r\n")
	path := filepath.Join(t.TempDir(), "campaigns.ics")
	if err := os.WriteFile(path, []byte(ics.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	series := forecast.Series{Start: start, Step: time.Hour, Values: make([]float64, n)}
	for i := range series.Values {
		ts := series.TimeAt(i)
		v := 100 + 40*math.Sin(2*math.Pi*float64(i%24)/24)
		for _, e := range past {
			if e.Active(ts) {
				v *= lift
			}
		}
		series.Values[i] = v + 3*rng.NormFloat64()
	}

	clock := func() time.Time { return now }
	r := events.NewRegistry(events.RegistryOptions{Retention: 60 * 24 * time.Hour, Now: clock}, prometheus.NewRegistry(), nil)
	f, err := events.NewICalFile(events.ICalFileOptions{Path: path, Shadows: []string{"shop"}, Retention: 60 * 24 * time.Hour, Now: clock}, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.SetSources([]events.Source{f})
	api, err := events.NewAPI(events.APIOptions{Now: clock}, r, nil)
	if err != nil {
		t.Fatal(err)
	}

	fc := func() forecast.Forecast {
		t.Helper()
		m := forecast.NewGBM(forecast.GBMForecastOptions{GBM: forecast.GBMOptions{Rounds: 40}, MaxTrainRows: 4000, NoRefit: true})
		p, err := m.Fit(series, forecast.Spec{Horizon: 24, Level: 0.9, Events: r.Events("shop"), Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Predict(series)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := fc()

	// Announce a campaign from 6 to 16 hours ahead.
	router := chi.NewRouter()
	api.Routes(router)
	cs, ce := now.Add(6*time.Hour), now.Add(16*time.Hour)
	body := fmt.Sprintf(`{"name":"Flash sale","kind":"campaign","start":%q,"end":%q,"shadows":["shop"]}`, cs.Format(time.RFC3339), ce.Format(time.RFC3339))
	rec := httptest.NewRecorder()
	router.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/events", strings.NewReader(body)))
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST = %d %s", rec.Code, rec.Body)
	}
	after := fc()

	// Forecast index k is for the last sample's time + (k+1) steps.
	last := series.End()
	var in, inBefore, out, outBefore float64
	for k := range after.Point {
		ts := last.Add(time.Duration(k+1) * time.Hour)
		if !ts.Before(cs) && ts.Before(ce) {
			in += after.Point[k]
			inBefore += before.Point[k]
		} else {
			out += after.Point[k]
			outBefore += before.Point[k]
		}
	}
	ratioIn, ratioOut := in/inBefore, out/outBefore
	t.Logf("announced window: forecast ×%.2f; elsewhere ×%.2f (true lift %.1f)", ratioIn, ratioOut, lift)
	if ratioIn < 1.25 {
		t.Errorf("the announced campaign lifted the forecast by only ×%.2f", ratioIn)
	}
	if math.Abs(ratioOut-1) > 0.1 {
		t.Errorf("the forecast outside the campaign moved by ×%.2f", ratioOut)
	}
}
