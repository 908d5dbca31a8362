// Package iox holds small io helpers shared by the packages that persist
// state through io.ReaderFrom.
package iox

import "io"

// CountingReader reads from R and counts the bytes read in N, which a
// ReadFrom implementation returns.
type CountingReader struct {
	R io.Reader
	N int64
}

func (c *CountingReader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.N += int64(n)
	return n, err
}
