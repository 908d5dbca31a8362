package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
)

// writeTaxiLike writes a NAB-format CSV of 20 days at 15-minute samples.
func writeTaxiLike(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	t0 := time.Date(2014, 7, 1, 0, 0, 0, 0, time.UTC)
	for i := range 20 * 96 {
		ts := t0.Add(time.Duration(i) * 15 * time.Minute)
		v := 1000 + 500*math.Sin(2*math.Pi*float64(i)/96) + float64(i%7)*10
		fmt.Fprintf(&b, "%s,%.0f\n", ts.Format(time.DateTime), v)
	}
	path := filepath.Join(t.TempDir(), "series.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func parseBacktest(t *testing.T, args ...string) *backtestFlags {
	t.Helper()
	app := kingpin.New("shadowcast", "")
	f := addBacktestFlags(app.Command("backtest", ""))
	if _, err := app.Parse(append([]string{"backtest"}, args...)); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestBacktestCSVJSON(t *testing.T) {
	path := writeTaxiLike(t)
	f := parseBacktest(t, "csv", path, "--step", "30m", "--horizons", "30m,2h", "--origins", "96", "--format", "json", "--svg", filepath.Join(t.TempDir(), "plot.svg"))
	var out bytes.Buffer
	if err := f.run(&out); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(rows) != 4 { // 2 methods × 2 horizons
		t.Fatalf("%d rows, want 4:\n%s", len(rows), out.String())
	}
	for _, r := range rows {
		var keys []string
		for k := range r {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if want := []string{"coverage", "horizon", "mase", "method", "owa", "smape", "width"}; !slices.Equal(keys, want) {
			t.Errorf("keys %v, want %v", keys, want)
		}
	}
	if rows[0]["method"] != "seasonal_naive" || rows[0]["horizon"] != "30m" || rows[1]["horizon"] != "2h" {
		t.Errorf("first rows %v %v", rows[0], rows[1])
	}
	if _, err := os.Stat(f.svg); err != nil {
		t.Errorf("svg not written: %v", err)
	}
}

func TestBacktestErrors(t *testing.T) {
	path := writeTaxiLike(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown method", []string{"csv", path, "--methods", "oracle"}, `unknown method "oracle"`},
		{"horizon not a multiple", []string{"csv", path, "--step", "30m", "--horizons", "45m"}, "not a positive multiple"},
		{"missing file", []string{"csv"}, "needs a FILE"},
		{"step finer than data", []string{"csv", path, "--step", "5m"}, "coarser than step"},
		{"no m4 data", []string{"m4", "--data", t.TempDir()}, "Hourly-train.csv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := parseBacktest(t, tc.args...)
			err := f.run(&bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestBacktestM4Table(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "data", "m4")
	if _, err := os.Stat(filepath.Join(dir, "Hourly-train.csv")); err != nil {
		t.Skipf("M4 data not found at %s: %v", dir, err)
	}
	f := parseBacktest(t, "m4", "--data", dir, "--series", "8", "--methods", "seasonal_naive")
	var out bytes.Buffer
	if err := f.run(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "seasonal_naive") || !strings.Contains(out.String(), "sMAPE") {
		t.Errorf("table:\n%s", out.String())
	}
}
