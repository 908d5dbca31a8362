package policy

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"

	"github.com/shadowcast/shadowcast/internal/iox"
)

// ErrCorruptState means persisted policy state could not be decoded.
var ErrCorruptState = errors.New("corrupt policy state")

// ErrIncompatibleState means the state was learned with other arms or
// other context buckets.
var ErrIncompatibleState = errors.New("incompatible policy state")

const (
	stateMagic   = "SCPOL"
	stateVersion = 1
	maxStateSize = 64 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type persisted struct {
	Arms             []Arm
	HourBuckets      int
	UncertaintyEdges []float64
	TrendEdge        float64
	RecentEdge       float64
	Cells            [][]stats
	ArmStats         []stats
	All              stats
	// Online counts the outcomes learned online (absent in older files:
	// zero, gob ignores missing fields).
	Online int
}

// WriteTo persists what the policy learned: magic "SCPOL", a version
// byte, the payload length (uint64 big endian), the gob payload and its
// CRC-32C. It implements io.WriterTo.
func (p *Policy) WriteTo(w io.Writer) (int64, error) {
	p.mu.Lock()
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(persisted{
		Arms: p.opts.Arms, HourBuckets: p.opts.HourBuckets, UncertaintyEdges: p.opts.UncertaintyEdges,
		TrendEdge: p.opts.TrendEdge, RecentEdge: p.opts.RecentEdge, Cells: p.cells, ArmStats: p.arms, All: p.all,
		Online: p.online,
	})
	p.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("encode policy state: %w", err)
	}
	payload := buf.Bytes()
	var hdr [len(stateMagic) + 1 + 8]byte
	copy(hdr[:], stateMagic)
	hdr[len(stateMagic)] = stateVersion
	binary.BigEndian.PutUint64(hdr[len(stateMagic)+1:], uint64(len(payload)))
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], crc32.Checksum(payload, crcTable))
	var total int64
	for _, b := range [][]byte{hdr[:], payload, crc[:]} {
		n, err := w.Write(b)
		total += int64(n)
		if err != nil {
			return total, fmt.Errorf("write policy state: %w", err)
		}
	}
	return total, nil
}

// NewFromState returns a policy restored from state written by WriteTo
// whose arms and context buckets are those of the state (a policy trained
// in the simulator, say, with its tuned arms and uncertainty terciles);
// Lambda, PriorWeight and Seed come from opts. The arms of opts, when
// set, must match the state's.
func NewFromState(r io.Reader, opts Options) (*Policy, error) {
	s, err := readState(r)
	if err != nil {
		return nil, err
	}
	if len(opts.Arms) > 0 && !slices.Equal(opts.Arms, s.Arms) {
		return nil, fmt.Errorf("%w: learned with other arms", ErrIncompatibleState)
	}
	opts.Arms, opts.HourBuckets, opts.UncertaintyEdges, opts.TrendEdge, opts.RecentEdge =
		s.Arms, s.HourBuckets, s.UncertaintyEdges, s.TrendEdge, s.RecentEdge
	if len(opts.Arms) == 0 {
		return nil, fmt.Errorf("%w: no arms", ErrCorruptState)
	}
	p, err := New(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptState, err)
	}
	if err := p.restore(s); err != nil {
		return nil, err
	}
	return p, nil
}

// ReadFrom restores state written by WriteTo. The arms and buckets must
// match the policy's options; on error the policy is unchanged. It
// implements io.ReaderFrom.
func (p *Policy) ReadFrom(r io.Reader) (int64, error) {
	cr := &iox.CountingReader{R: r}
	s, err := readState(cr)
	if err != nil {
		return cr.N, err
	}
	if !slices.Equal(s.Arms, p.opts.Arms) || s.HourBuckets != p.opts.HourBuckets ||
		!slices.Equal(s.UncertaintyEdges, p.opts.UncertaintyEdges) || s.TrendEdge != p.opts.TrendEdge ||
		s.RecentEdge != p.opts.RecentEdge {
		return cr.N, fmt.Errorf("%w: learned with other arms or context buckets", ErrIncompatibleState)
	}
	return cr.N, p.restore(s)
}

// restore adopts the learned tables of s, whose options match p's.
func (p *Policy) restore(s *persisted) error {
	if len(s.Cells) != p.numBuckets() || len(s.ArmStats) != len(p.opts.Arms) {
		return fmt.Errorf("%w: table shape", ErrCorruptState)
	}
	for _, row := range s.Cells {
		if len(row) != len(p.opts.Arms) {
			return fmt.Errorf("%w: table shape", ErrCorruptState)
		}
	}
	if s.Online < 0 || float64(s.Online) > s.All.N {
		return fmt.Errorf("%w: %d online epochs of %g", ErrCorruptState, s.Online, s.All.N)
	}
	p.mu.Lock()
	p.cells, p.arms, p.all, p.online = s.Cells, s.ArmStats, s.All, s.Online
	p.mu.Unlock()
	return nil
}

// readState reads and checks one state written by WriteTo.
func readState(r io.Reader) (*persisted, error) {
	var hdr [len(stateMagic) + 1 + 8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrCorruptState, err)
	}
	if string(hdr[:len(stateMagic)]) != stateMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrCorruptState)
	}
	if hdr[len(stateMagic)] != stateVersion {
		return nil, fmt.Errorf("%w: unknown version %d", ErrCorruptState, hdr[len(stateMagic)])
	}
	size := binary.BigEndian.Uint64(hdr[len(stateMagic)+1:])
	if size > maxStateSize {
		return nil, fmt.Errorf("%w: payload of %d bytes exceeds the limit", ErrCorruptState, size)
	}
	body := make([]byte, size+4)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrCorruptState, err)
	}
	if got, want := crc32.Checksum(body[:size], crcTable), binary.BigEndian.Uint32(body[size:]); got != want {
		return nil, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorruptState, got, want)
	}
	var s persisted
	if err := gob.NewDecoder(bytes.NewReader(body[:size])).Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: decode: %v", ErrCorruptState, err)
	}
	return &s, nil
}
