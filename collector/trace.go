package collector

import (
	"bytes"
	"compress/gzip"
	_ "embed" // the bundled traces
	"fmt"
	"io"
	"slices"
)

//go:embed traces/nasa_requests_per_minute.csv.gz
var nasaHTTP []byte

var embedded = map[string][]byte{
	"nasa-http": nasaHTTP,
}

// EmbeddedTraces lists the names EmbeddedTrace accepts.
func EmbeddedTraces() []string {
	names := make([]string, 0, len(embedded))
	for n := range embedded {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// EmbeddedTrace opens a CSV trace bundled in the binary ("nasa-http": NASA
// Kennedy Space Center web server, HTTP requests per minute, July–August
// 1995). The caller closes it.
func EmbeddedTrace(name string) (io.ReadCloser, error) {
	b, ok := embedded[name]
	if !ok {
		return nil, fmt.Errorf("unknown embedded trace %q (want one of %v)", name, EmbeddedTraces())
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("embedded trace %q: %w", name, err)
	}
	return zr, nil
}
