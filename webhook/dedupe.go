package webhook

import (
	"sync"
	"time"
)

// dedupe remembers keys for a while, bounded in size: the oldest entries go
// first when full.
type dedupe struct {
	mu    sync.Mutex // guards seen, order
	seen  map[string]time.Time
	order []string // insertion order, for eviction
	limit int
}

func newDedupe(limit int) *dedupe {
	return &dedupe{seen: map[string]time.Time{}, limit: limit}
}

// contains reports whether key was added and has not expired at now.
func (d *dedupe) contains(key string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	exp, ok := d.seen[key]
	return ok && now.Before(exp)
}

// add remembers key until now+ttl.
func (d *dedupe) add(key string, now time.Time, ttl time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seen[key]; !ok {
		d.order = append(d.order, key)
	}
	d.seen[key] = now.Add(ttl)
	// Drop expired entries from the front, and the oldest beyond the limit.
	drop := 0
	for drop < len(d.order) {
		k := d.order[drop]
		if exp, ok := d.seen[k]; ok && now.Before(exp) && len(d.order)-drop <= d.limit {
			break
		}
		delete(d.seen, k)
		drop++
	}
	if drop > 0 {
		d.order = append(d.order[:0], d.order[drop:]...)
	}
}
