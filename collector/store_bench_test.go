package collector

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// benchStore fills a store with series × days of 1-minute samples spread
// over 10 shadows, compacts it and closes it. Sizes come from
// SHADOWCAST_BENCH_SERIES (default 1000) and SHADOWCAST_BENCH_DAYS (7);
// SHADOWCAST_BENCH_INT=1 stores integer counts instead of per-second rates
// (which compress worse: count/60 has a full-width mantissa).
func benchStore(b *testing.B) (dir string, samples int) {
	b.Helper()
	series, days := envInt("SHADOWCAST_BENCH_SERIES", 1000), envInt("SHADOWCAST_BENCH_DAYS", 7)
	intValues := os.Getenv("SHADOWCAST_BENCH_INT") != ""
	dir = b.TempDir()
	ctx := context.Background()
	opts := StoreOptions{Dir: dir, Retention: time.Duration(days+1) * 24 * time.Hour}
	s, err := OpenStore(opts, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	n := days * 24 * 60
	end := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	start := end.Add(-time.Duration(n) * time.Minute)
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Now()
	for i := range series {
		// A rate as Prometheus returns it: requests per minute / 60, with a
		// daily cycle and noise.
		base := 50 + rng.Float64()*500
		smp := minuteSamples(start, n, func(j int) float64 {
			day := math.Sin(2 * math.Pi * float64(j) / 1440)
			v := math.Round(base*(1+0.5*day) + rng.NormFloat64()*math.Sqrt(base))
			if intValues {
				return v // a count per minute
			}
			return v / 60 // a per-second rate
		})
		shadow := fmt.Sprintf("shadow_%d", i%10)
		if err := s.Append(ctx, shadow, []Series{{Labels: labels.FromStrings("instance", strconv.Itoa(i)), Samples: smp}}); err != nil {
			b.Fatal(err)
		}
	}
	appendDur := time.Since(t0)
	t0 = time.Now()
	if err := s.Compact(ctx); err != nil {
		b.Fatal(err)
	}
	compactDur := time.Since(t0)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	samples = series * n
	var blocks int64
	entries, _ := os.ReadDir(dir)
	nblocks := 0
	for _, e := range entries {
		if e.IsDir() && e.Name() != "wal" && e.Name() != "wbl" && e.Name() != "chunks_head" {
			blocks += dirSize(filepath.Join(dir, e.Name()))
			nblocks++
		}
	}
	b.Logf("%d blocks", nblocks)
	b.Logf("on disk: blocks %d B (%.2f B/sample), wal %d B, wbl %d B, chunks_head %d B",
		blocks, float64(blocks)/float64(samples), dirSize(filepath.Join(dir, "wal")), dirSize(filepath.Join(dir, "wbl")), dirSize(filepath.Join(dir, "chunks_head")))
	b.Logf("%d series x %d days = %d samples: append %s (%.0f samples/s), compact %s, %d bytes on disk (%.2f B/sample)",
		series, days, samples, appendDur.Round(time.Millisecond), float64(samples)/appendDur.Seconds(),
		compactDur.Round(time.Millisecond), dirSize(dir), float64(dirSize(dir))/float64(samples))
	return dir, samples
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkStoreReopen measures opening a store that holds a week of
// minute samples for 1,000 series (most of it compacted into blocks, the
// last hours in the head, as after a normal run), and loading one shadow's
// whole week.
func BenchmarkStoreReopen(b *testing.B) {
	dir, samples := benchStore(b)
	b.ReportMetric(float64(dirSize(dir))/float64(samples), "disk-B/sample")
	ctx := context.Background()
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			s, err := OpenStore(StoreOptions{Dir: dir, Retention: 8 * 24 * time.Hour}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			s.Close()
			b.StartTimer()
		}
	})
	// After a crash there is no head snapshot: the WAL is replayed.
	b.Run("open-after-crash", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			snaps, _ := filepath.Glob(filepath.Join(dir, "chunk_snapshot.*"))
			for _, d := range snaps {
				os.RemoveAll(d)
			}
			b.StartTimer()
			s, err := OpenStore(StoreOptions{Dir: dir, Retention: 8 * 24 * time.Hour}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if len(snaps) == 0 {
				b.Fatal("no head snapshot found to remove")
			}
			s.Close()
			b.StartTimer()
		}
	})
	b.Run("select-shadow-week", func(b *testing.B) {
		s, err := OpenStore(StoreOptions{Dir: dir, Retention: 8 * 24 * time.Hour}, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		end := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
		for b.Loop() {
			got, err := s.Select(ctx, "shadow_3", end.Add(-8*24*time.Hour), end)
			if err != nil || len(got) == 0 {
				b.Fatal(len(got), err)
			}
			b.ReportMetric(float64(samplesIn(got)), "samples/op")
		}
	})
	b.Run("last-timestamp", func(b *testing.B) {
		s, err := OpenStore(StoreOptions{Dir: dir, Retention: 8 * 24 * time.Hour}, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		for b.Loop() {
			if _, ok, err := s.LastTimestamp(ctx, "shadow_3"); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}
