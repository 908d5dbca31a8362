package collector

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"path/filepath"
	"time"

	"github.com/shadowcast/shadowcast/internal/promreg"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/compression"
)

// Labels the store sets on every series.
const (
	HistoryMetricName = "shadowcast_history"
	ShadowLabel       = "shadow"
)

// DefaultRetention is the history kept when StoreOptions.Retention is 0.
const DefaultRetention = 30 * 24 * time.Hour

// StoreOptions configures the history store.
type StoreOptions struct {
	// Dir is the data directory; it is created if missing. One process may
	// open it at a time (a lock file guards it).
	Dir string
	// Retention is how much history is kept, measured back from the newest
	// sample. Data older than that is deleted a block (up to a tenth of the
	// retention) at a time. 0 means DefaultRetention.
	Retention time.Duration
	// OutOfOrderWindow is how far behind the newest sample in the store a
	// sample may still be appended. Backfills append old samples after
	// another shadow may have appended recent ones, so it must be at least
	// the longest history window. 0 means Retention.
	OutOfOrderWindow time.Duration
}

// Store keeps the raw history of every shadow in an embedded Prometheus
// TSDB: series named shadowcast_history, labelled shadow=<name> plus the
// source labels. Append commits to the write-ahead log before it returns,
// so what it acknowledged survives a crash of the process (the WAL is not
// fsynced per commit: a power loss can lose the last seconds). The TSDB
// compresses samples to about 1–2 bytes each once compacted into blocks,
// replays only a few hours of WAL on restart, and enforces retention by
// deleting whole blocks.
type Store struct {
	db     *tsdb.DB
	logger *slog.Logger

	appended prometheus.Counter
	rejected *prometheus.CounterVec
	duration prometheus.Observer
}

// OpenStore opens or creates the history store in opts.Dir.
func OpenStore(opts StoreOptions, reg prometheus.Registerer, logger *slog.Logger) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("history store: dir is required")
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.OutOfOrderWindow <= 0 {
		opts.OutOfOrderWindow = opts.Retention
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "collector", "store", opts.Dir)
	o := tsdb.DefaultOptions()
	o.RetentionDuration = opts.Retention.Milliseconds()
	o.OutOfOrderTimeWindow = opts.OutOfOrderWindow.Milliseconds()
	// As Prometheus does: blocks grow up to a tenth of the retention (31d
	// at most), so retention deletes data in steps of that size.
	maxBlock := min(max(opts.Retention/10, 2*time.Hour), 31*24*time.Hour)
	o.MaxBlockDuration = maxBlock.Milliseconds()
	o.WALCompression = compression.Snappy
	o.EnableMemorySnapshotOnShutdown = true
	db, err := tsdb.Open(opts.Dir, logger, nil, o, nil)
	if err != nil {
		return nil, fmt.Errorf("open history store %s: %w", opts.Dir, err)
	}
	s := &Store{db: db, logger: logger}
	s.appended = promreg.Shared(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shadowcast_collector_store_appended_samples_total",
		Help: "Samples committed to the history store.",
	}))
	s.rejected = promreg.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shadowcast_collector_store_rejected_samples_total",
		Help: "Samples the history store refused, by reason (too_old: outside the out-of-order window; duplicate: another value at the same timestamp; invalid: NaN or Inf).",
	}, []string{"reason"}))
	for _, r := range []string{"too_old", "duplicate", "invalid"} {
		s.rejected.WithLabelValues(r)
	}
	s.duration = promreg.Shared(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "shadowcast_collector_store_append_duration_seconds",
		Help:    "Time to append and commit one batch to the history store.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
	}))
	promreg.Shared(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "shadowcast_collector_store_series",
		Help: "Series in the history store's in-memory head.",
	}, func() float64 { return float64(db.Head().NumSeries()) }))
	promreg.Shared(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "shadowcast_collector_store_disk_bytes",
		Help: "Bytes used on disk by the history store (blocks, WAL, head chunks).",
	}, func() float64 { return float64(dirSize(opts.Dir)) }))
	return s, nil
}

// Close flushes and closes the store.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close history store: %w", err)
	}
	return nil
}

// storeLabels returns the stored label set of a shadow instance.
func storeLabels(shadow string, src labels.Labels) (labels.Labels, error) {
	b := labels.NewScratchBuilder(src.Len() + 2)
	var err error
	src.Range(func(l labels.Label) {
		if l.Name == labels.MetricName || l.Name == ShadowLabel {
			err = fmt.Errorf("source label %q: %w", l.Name, ErrReservedLabel)
		}
		b.Add(l.Name, l.Value)
	})
	if err != nil {
		return labels.EmptyLabels(), err
	}
	b.Add(labels.MetricName, HistoryMetricName)
	b.Add(ShadowLabel, shadow)
	b.Sort()
	return b.Labels(), nil
}

// Append stores the samples of a shadow's instances and commits them before
// it returns. Samples older than the out-of-order window, or a second value
// for a timestamp already stored, are skipped and counted, not errors;
// appending the same sample twice is harmless. Source labels must not be
// named __name__ or shadow (ErrReservedLabel).
func (s *Store) Append(ctx context.Context, shadow string, series []Series) error {
	if shadow == "" {
		return errors.New("history store: append: empty shadow name")
	}
	start := time.Now()
	app := s.db.Appender(ctx)
	var n int
	rejected := map[string]int{}
	for _, ser := range series {
		ls, err := storeLabels(shadow, ser.Labels)
		if err != nil {
			_ = app.Rollback()
			return fmt.Errorf("history store: append %q: %w", shadow, err)
		}
		var ref storage.SeriesRef
		for _, smp := range ser.Samples {
			if math.IsNaN(smp.V) || math.IsInf(smp.V, 0) {
				rejected["invalid"]++
				continue
			}
			r, err := app.Append(ref, ls, smp.T, smp.V)
			switch {
			case err == nil:
				ref = r
				n++
			case errors.Is(err, storage.ErrOutOfBounds), errors.Is(err, storage.ErrTooOldSample), errors.Is(err, storage.ErrOutOfOrderSample):
				rejected["too_old"]++
			case errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
				rejected["duplicate"]++
			default:
				_ = app.Rollback()
				return fmt.Errorf("history store: append %q %s: %w", shadow, ser.Labels, err)
			}
		}
	}
	if err := app.Commit(); err != nil {
		return fmt.Errorf("history store: commit %q: %w", shadow, err)
	}
	s.duration.Observe(time.Since(start).Seconds())
	s.appended.Add(float64(n))
	for r, c := range rejected {
		s.rejected.WithLabelValues(r).Add(float64(c))
	}
	if len(rejected) > 0 {
		s.logger.Debug("Samples rejected", "shadow", shadow, "too_old", rejected["too_old"], "duplicate", rejected["duplicate"], "invalid", rejected["invalid"])
	}
	return nil
}

func shadowMatchers(shadow string) []*labels.Matcher {
	return []*labels.Matcher{
		labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, HistoryMetricName),
		labels.MustNewMatcher(labels.MatchEqual, ShadowLabel, shadow),
	}
}

// Select returns the stored samples of every instance of shadow with
// from < T <= to, sorted by labels, with the source labels only.
func (s *Store) Select(ctx context.Context, shadow string, from, to time.Time) ([]Series, error) {
	mint, maxt := from.UnixMilli()+1, to.UnixMilli()
	if maxt < mint {
		return nil, nil
	}
	q, err := s.db.Querier(mint, maxt)
	if err != nil {
		return nil, fmt.Errorf("history store: select %q: %w", shadow, err)
	}
	defer q.Close()
	set := q.Select(ctx, true, nil, shadowMatchers(shadow)...)
	var out []Series
	var it chunkenc.Iterator
	for set.Next() {
		st := set.At()
		ser := Series{Labels: sourceLabels(st.Labels())}
		it = st.Iterator(it)
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			if vt != chunkenc.ValFloat {
				continue
			}
			t, v := it.At()
			ser.Samples = append(ser.Samples, Sample{T: t, V: v})
		}
		if err := it.Err(); err != nil {
			return nil, fmt.Errorf("history store: select %q: %w", shadow, err)
		}
		if len(ser.Samples) > 0 {
			out = append(out, ser)
		}
	}
	if err := set.Err(); err != nil {
		return nil, fmt.Errorf("history store: select %q: %w", shadow, err)
	}
	return out, nil
}

func sourceLabels(ls labels.Labels) labels.Labels {
	b := labels.NewBuilder(ls)
	b.Del(labels.MetricName, ShadowLabel)
	return b.Labels()
}

// LastTimestamp returns the time of the newest stored sample of shadow, and
// false when the store holds none.
func (s *Store) LastTimestamp(ctx context.Context, shadow string) (time.Time, bool, error) {
	q, err := s.db.ChunkQuerier(math.MinInt64, math.MaxInt64)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("history store: last timestamp %q: %w", shadow, err)
	}
	defer q.Close()
	set := q.Select(ctx, false, nil, shadowMatchers(shadow)...)
	last, found := int64(math.MinInt64), false
	for set.Next() {
		it := set.At().Iterator(nil)
		for it.Next() {
			if m := it.At(); m.MaxTime > last {
				last, found = m.MaxTime, true
			}
		}
		if err := it.Err(); err != nil {
			return time.Time{}, false, fmt.Errorf("history store: last timestamp %q: %w", shadow, err)
		}
	}
	if err := set.Err(); err != nil {
		return time.Time{}, false, fmt.Errorf("history store: last timestamp %q: %w", shadow, err)
	}
	if !found {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(last).UTC(), true, nil
}

// Compact persists what is ready in the in-memory head to blocks, including
// out-of-order samples, and merges blocks. The TSDB does this by itself
// (in-order data about every hour; out-of-order data along with it); call
// Compact after a large backfill to free the memory its out-of-order
// samples hold and speed up reads of them.
func (s *Store) Compact(ctx context.Context) error {
	if err := s.db.Compact(ctx); err != nil {
		return fmt.Errorf("history store: compact: %w", err)
	}
	if err := s.db.CompactOOOHead(ctx); err != nil {
		return fmt.Errorf("history store: compact out-of-order head: %w", err)
	}
	// Merge the blocks the out-of-order compaction wrote.
	if err := s.db.Compact(ctx); err != nil {
		return fmt.Errorf("history store: compact: %w", err)
	}
	return nil
}

// Delete removes every stored sample of shadow (e.g. when it is removed
// from the configuration). Space is reclaimed at the next compaction.
func (s *Store) Delete(ctx context.Context, shadow string) error {
	if err := s.db.Delete(ctx, math.MinInt64, math.MaxInt64, shadowMatchers(shadow)...); err != nil {
		return fmt.Errorf("history store: delete %q: %w", shadow, err)
	}
	return nil
}

// dirSize returns the bytes used by the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
