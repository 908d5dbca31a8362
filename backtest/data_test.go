package backtest

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestReadCSV(t *testing.T) {
	t0 := time.Date(2014, 7, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		in      string
		want    []Point
		wantErr string
	}{
		{"nab", "timestamp,value\n2014-07-01 00:00:00,10844\n2014-07-01 00:30:00,8127\n",
			[]Point{{t0, 10844}, {t0.Add(30 * time.Minute), 8127}}, ""},
		{"rfc3339 without header, unsorted", "2014-07-01T02:00:00+02:00,2\n2014-06-30T23:00:00Z,1\n",
			[]Point{{t0.Add(-time.Hour), 1}, {t0, 2}}, ""},
		{"unix seconds and empty value", "timestamp,value\n1404172800,1.5\n1404172860,\n",
			[]Point{{t0, 1.5}, {t0.Add(time.Minute), math.NaN()}}, ""},
		{"bad timestamp names the line", "timestamp,value\n2014-07-01 00:00:00,1\nyesterday,2\n", nil, "line 3: timestamp \"yesterday\""},
		{"bad value names the line", "timestamp,value\n2014-07-01 00:00:00,abc\n", nil, "line 2: value \"abc\""},
		{"missing field names the line", "timestamp,value\n2014-07-01 00:00:00\n", nil, "line 2: want 2 fields"},
		{"no rows", "timestamp,value\n", nil, "no data rows"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadCSV(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateNaNs()); diff != "" {
				t.Errorf("points (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResample(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 1, 0, 0, time.UTC)
	var pts []Point
	for i, v := range []float64{1, 3, 5, math.NaN(), 7} {
		pts = append(pts, Point{t0.Add(time.Duration(i) * time.Minute), v})
	}
	pts = append(pts, Point{t0.Add(10 * time.Minute), 9}) // after a gap
	s, err := Resample(pts, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Buckets from 00:00: [1], [3,5], [NaN,7], [], [], [9].
	want := []float64{1, 4, 7, math.NaN(), math.NaN(), 9}
	if diff := cmp.Diff(want, s.Values, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if !s.Start.Equal(t0.Add(-time.Minute)) || s.Step != 2*time.Minute {
		t.Errorf("start %v step %v", s.Start, s.Step)
	}
	if _, err := Resample(pts, 30*time.Second); err == nil || !strings.Contains(err.Error(), "coarser") {
		t.Errorf("finer step: err = %v, want a coarser-data error", err)
	}
}

func TestParseM4(t *testing.T) {
	in := `"V1","V2","V3","V4"
"H1","1","2","3"
"H2","4","5",
`
	rows, err := parseM4(strings.NewReader(in), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []m4Row{{"H1", []float64{1, 2, 3}}, {"H2", []float64{4, 5}}}
	if diff := cmp.Diff(want, rows, cmp.AllowUnexported(m4Row{})); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if _, err := parseM4(strings.NewReader("\"V1\",\"V2\"\n\"H1\",\"x\"\n"), 0); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad value: err = %v, want it to name line 2", err)
	}
}
