package iox

import (
	"io"
	"strings"
	"testing"
)

func TestCountingReader(t *testing.T) {
	c := &CountingReader{R: strings.NewReader("shadowcast")}
	b, err := io.ReadAll(io.LimitReader(c, 6))
	if err != nil || string(b) != "shadow" || c.N != 6 {
		t.Fatalf("read %q (err %v), counted %d; want \"shadow\", 6", b, err, c.N)
	}
	if _, err := io.ReadAll(c); err != nil || c.N != 10 {
		t.Fatalf("counted %d after the rest (err %v), want 10", c.N, err)
	}
}
