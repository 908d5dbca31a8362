package events

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestICalFileReload(t *testing.T) {
	now := utc("2026-11-27T00:00:00Z")
	path := filepath.Join(t.TempDir(), "cal.ics")
	write := func(body string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	one := cal("BEGIN:VEVENT\nUID:1\nDTSTART:20261201T000000Z\nDURATION:PT1H\nSUMMARY:First\nEND:VEVENT")
	write(one, now.Add(-time.Hour))

	r := NewRegistry(RegistryOptions{}, prometheus.NewRegistry(), nil)
	f, err := NewICalFile(ICalFileOptions{Path: path, Kind: "default_kind", Shadows: []string{"queue"}, Retention: 24 * time.Hour,
		Now: func() time.Time { return now }}, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.List()) != 0 {
		t.Error("events published before SetSources")
	}
	r.SetSources([]Source{f})
	list := r.List()
	if len(list) != 1 || list[0].Name != "First" || list[0].Kind != "default_kind" || list[0].Origin != path ||
		len(list[0].Shadows) != 1 || f.ID() != "ical:"+path {
		t.Fatalf("listed %+v", list)
	}
	if len(r.Events("other")) != 0 || len(r.Events("queue")) != 1 {
		t.Errorf("shadow restriction not applied")
	}

	// Unchanged: not re-read.
	if reread, err := f.Load(); reread || err != nil {
		t.Errorf("unchanged file: reread=%v err=%v", reread, err)
	}
	// A bad new version keeps the old events and is counted.
	write(cal("BEGIN:VEVENT\nDTSTART:20261201T000000Z\nDURATION:PT1H\nSUMMARY:Bad\nRRULE:FREQ=SECONDLY\nEND:VEVENT"), now)
	if _, err := f.Load(); err == nil || !strings.Contains(err.Error(), "line 7") || !strings.Contains(err.Error(), path) {
		t.Errorf("bad file: err = %v", err)
	}
	if list := r.List(); len(list) != 1 || list[0].Name != "First" {
		t.Errorf("after a bad file: %+v", list)
	}
	// The same bad version is neither parsed nor counted again.
	if reread, err := f.Load(); reread || err == nil {
		t.Errorf("same bad file: reread=%v err=%v", reread, err)
	}
	if v := testutil.ToFloat64(r.metrics.loads.WithLabelValues(SourceICal, resultError)); v != 1 {
		t.Errorf("error loads = %v", v)
	}
	// A good new version replaces them.
	write(cal("BEGIN:VEVENT\nDTSTART:20261201T000000Z\nDURATION:PT1H\nSUMMARY:Second\nCATEGORIES:sale\nEND:VEVENT"), now.Add(time.Minute))
	if reread, err := f.Load(); !reread || err != nil {
		t.Fatalf("good file: reread=%v err=%v", reread, err)
	}
	if list := r.List(); len(list) != 1 || list[0].Name != "Second" || list[0].Kind != "sale" {
		t.Errorf("after a good file: %+v", list)
	}
	// A removed file keeps the events too.
	os.Remove(path)
	if _, err := f.Load(); err == nil {
		t.Error("missing file: no error")
	}
	if len(r.List()) != 1 {
		t.Error("missing file dropped the events")
	}
}

func TestICalFileRefreshMovesWindow(t *testing.T) {
	now := utc("2026-12-30T12:00:00Z")
	path := filepath.Join(t.TempDir(), "cal.ics")
	daily := cal("BEGIN:VEVENT\nUID:d\nDTSTART;VALUE=DATE:20261201\nRRULE:FREQ=DAILY\nSUMMARY:Daily\nEND:VEVENT")
	if err := os.WriteFile(path, []byte(daily), 0o600); err != nil {
		t.Fatal(err)
	}
	r := NewRegistry(RegistryOptions{}, prometheus.NewRegistry(), nil)
	f, err := NewICalFile(ICalFileOptions{Path: path, Retention: 24 * time.Hour, Horizon: 48 * time.Hour, Refresh: time.Hour,
		Now: func() time.Time { return now }}, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.SetSources([]Source{f})
	first := func() time.Time { return r.List()[0].Start }
	if n := len(r.List()); n != 4 || !first().Equal(utc("2026-12-29T00:00:00Z")) {
		t.Errorf("window: %d events from %v", n, first())
	}
	now = now.Add(3 * 24 * time.Hour)
	if reread, err := f.Load(); !reread || err != nil {
		t.Fatalf("refresh: %v %v", reread, err)
	}
	if !first().Equal(utc("2027-01-01T00:00:00Z")) {
		t.Errorf("window did not move: first %v", first())
	}
}

func TestNewICalFileErrors(t *testing.T) {
	r := NewRegistry(RegistryOptions{}, prometheus.NewRegistry(), nil)
	dir := t.TempDir()
	if _, err := NewICalFile(ICalFileOptions{Path: filepath.Join(dir, "missing.ics")}, r, nil); err == nil {
		t.Error("missing file: no error")
	}
	big := filepath.Join(dir, "big.ics")
	os.WriteFile(big, []byte(strings.Repeat("X", 2048)), 0o600)
	if _, err := NewICalFile(ICalFileOptions{Path: big, MaxBytes: 1024}, r, nil); err == nil || !strings.Contains(err.Error(), "larger than 1024") {
		t.Errorf("big file: %v", err)
	}
}
