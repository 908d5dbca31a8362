// Package promreg holds the one registration helper shared by components
// that are built once per configured item (a source per shadow, a writer
// per remote) but share metric vectors labelled by that item.
package promreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Shared registers c on reg and returns it, or returns the collector
// already registered with the same descriptor, so that every instance of
// a component uses one vector. A nil reg registers nothing. A conflicting
// definition of one of our own metrics is a programming error and panics.
func Shared[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
