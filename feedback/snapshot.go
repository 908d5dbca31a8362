package feedback

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"
)

// ErrCorruptSnapshot means a snapshot could not be decoded: wrong magic,
// unknown version, truncated, or checksum mismatch.
var ErrCorruptSnapshot = errors.New("corrupt feedback snapshot")

// ErrIncompatibleSnapshot means the snapshot was written with a different
// step or season than the tracker reading it.
var ErrIncompatibleSnapshot = errors.New("incompatible feedback snapshot")

const (
	snapshotMagic   = "SCFBK"
	snapshotVersion = 1
	maxSnapshotSize = 1 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type trackerSnapshot struct {
	Step   time.Duration
	Season time.Duration
	Keys   map[string]*instance
}

// WriteTo writes a snapshot of the tracker: magic "SCFBK", a version
// byte, the payload length (uint64 big endian), the gob-encoded payload and
// its CRC-32C. It implements io.WriterTo.
func (t *Tracker) WriteTo(w io.Writer) (int64, error) {
	t.mu.Lock()
	var payload bytes.Buffer
	err := gob.NewEncoder(&payload).Encode(trackerSnapshot{Step: t.opts.Step, Season: t.opts.Season, Keys: t.keys})
	t.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("encode feedback snapshot: %w", err)
	}
	return writeFramed(w, payload.Bytes())
}

// ReadFrom replaces the tracker's state by a snapshot written by WriteTo.
// On error the state is left unchanged. It implements io.ReaderFrom.
func (t *Tracker) ReadFrom(r io.Reader) (int64, error) {
	payload, n, err := readFramed(r)
	if err != nil {
		return n, err
	}
	var s trackerSnapshot
	if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(&s); err != nil {
		return n, fmt.Errorf("%w: decode: %v", ErrCorruptSnapshot, err)
	}
	if s.Step != t.opts.Step || s.Season != t.opts.Season {
		return n, fmt.Errorf("%w: written with step %v season %v, tracker has step %v season %v",
			ErrIncompatibleSnapshot, s.Step, s.Season, t.opts.Step, t.opts.Season)
	}
	season := int(t.opts.Season / t.opts.Step)
	for k, in := range s.Keys {
		if in == nil {
			delete(s.Keys, k)
			continue
		}
		if in.Horizons == nil {
			in.Horizons = map[time.Duration]*horizonState{}
		}
		if len(in.Ring) != len(in.RingIdx) || (in.Ring != nil && len(in.Ring) != season) {
			return n, fmt.Errorf("%w: instance %q has a malformed season ring", ErrCorruptSnapshot, k)
		}
		for h, hs := range in.Horizons {
			if hs == nil {
				delete(in.Horizons, h)
				continue
			}
			if len(hs.Scored) > t.opts.Window {
				// The window shrank: keep the newest points in order.
				ordered := append(append([]scored{}, hs.Scored[hs.Head:]...), hs.Scored[:hs.Head]...)
				hs.Scored = ordered[len(ordered)-t.opts.Window:]
				hs.Head = 0
			}
			if hs.Head < 0 || (len(hs.Scored) > 0 && hs.Head >= len(hs.Scored)) {
				return n, fmt.Errorf("%w: instance %q has a malformed score ring", ErrCorruptSnapshot, k)
			}
		}
	}
	if s.Keys == nil {
		s.Keys = map[string]*instance{}
	}
	t.mu.Lock()
	t.keys = s.Keys
	t.mu.Unlock()
	return n, nil
}

// writeFramed writes magic, version, length, payload and CRC-32C.
func writeFramed(w io.Writer, payload []byte) (int64, error) {
	var hdr bytes.Buffer
	hdr.WriteString(snapshotMagic)
	hdr.WriteByte(snapshotVersion)
	var lenBuf [8]byte
	binary.BigEndian.PutUint64(lenBuf[:], uint64(len(payload)))
	hdr.Write(lenBuf[:])
	var crcBuf [4]byte
	binary.BigEndian.PutUint32(crcBuf[:], crc32.Checksum(payload, crcTable))
	var total int64
	for _, b := range [][]byte{hdr.Bytes(), payload, crcBuf[:]} {
		n, err := w.Write(b)
		total += int64(n)
		if err != nil {
			return total, fmt.Errorf("write feedback snapshot: %w", err)
		}
	}
	return total, nil
}

// readFramed reads and verifies what writeFramed wrote.
func readFramed(r io.Reader) ([]byte, int64, error) {
	var total int64
	hdr := make([]byte, len(snapshotMagic)+1+8)
	n, err := io.ReadFull(r, hdr)
	total += int64(n)
	if err != nil {
		return nil, total, fmt.Errorf("%w: header: %v", ErrCorruptSnapshot, err)
	}
	if string(hdr[:len(snapshotMagic)]) != snapshotMagic {
		return nil, total, fmt.Errorf("%w: bad magic", ErrCorruptSnapshot)
	}
	if v := hdr[len(snapshotMagic)]; v != snapshotVersion {
		return nil, total, fmt.Errorf("%w: unknown version %d", ErrCorruptSnapshot, v)
	}
	size := binary.BigEndian.Uint64(hdr[len(snapshotMagic)+1:])
	if size > maxSnapshotSize {
		return nil, total, fmt.Errorf("%w: payload of %d bytes exceeds the limit", ErrCorruptSnapshot, size)
	}
	payload := make([]byte, size+4)
	n, err = io.ReadFull(r, payload)
	total += int64(n)
	if err != nil {
		return nil, total, fmt.Errorf("%w: payload: %v", ErrCorruptSnapshot, err)
	}
	want := binary.BigEndian.Uint32(payload[size:])
	payload = payload[:size]
	if got := crc32.Checksum(payload, crcTable); got != want {
		return nil, total, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorruptSnapshot, got, want)
	}
	return payload, total, nil
}
