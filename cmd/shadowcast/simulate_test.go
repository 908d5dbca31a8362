package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRunSimulate(t *testing.T) {
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("timestamp,value\n")
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 96 * 5 {
		v := 100 + 50*math.Sin(2*math.Pi*float64(i%96)/96) + 7*math.Sin(float64(i)*2.1)
		fmt.Fprintf(&csv, "%s,%.1f\n", start.Add(time.Duration(i)*15*time.Minute).Format("2006-01-02 15:04:05"), v)
	}
	trace := filepath.Join(dir, "trace.csv")
	if err := os.WriteFile(trace, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	f := simulateFlags{
		trace: trace, traceFormat: "csv", capacity: 10, startup: 15 * time.Minute, targetUtil: 0.8, tolerance: 0.1,
		stabilization: 5 * time.Minute, minReplicas: 1, cost: 1, model: "seasonal_naive", level: 0.9,
		window: 72 * time.Hour, refit: time.Hour, headroom: 1, train: 0.5, lambda: 8, epoch: time.Hour, passes: 1,
		format: "json", svg: filepath.Join(dir, "plot.svg"), svgWindow: 24 * time.Hour,
		policyOut: filepath.Join(dir, "policy.state"), season: time.Hour,
	}
	var out bytes.Buffer
	if err := runSimulate(f, &out); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Policies []struct {
			Policy string `json:"policy"`
		} `json:"policies"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if len(res.Policies) != 4 {
		t.Errorf("got %d policies", len(res.Policies))
	}
	for _, name := range []string{"plot.svg", "policy.state"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	f.trace = filepath.Join(dir, "missing.csv")
	if err := runSimulate(f, &out); err == nil {
		t.Error("missing trace accepted")
	}
}
