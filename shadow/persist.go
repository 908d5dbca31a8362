package shadow

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"os"
	"path/filepath"
	"time"

	"github.com/shadowcast/shadowcast/forecast"
)

// Persisted models. A trained predictor that can encode itself (the LSTM,
// GBM and hybrid predictors; baselines refit in milliseconds and are not
// stored) is written after each training to
// StateDir/models/<shadow>/<hash of the instance labels>.model, so that a
// restart serves the learned model at once. The file is
//
//	"SCMODEL" version(1 byte) headerLen(uint32) header(JSON) payloadLen(uint64) payload crc32c(uint32)
//
// written atomically (temporary file, fsync, rename). A file that fails any
// check is reported, counted, removed and the instance retrains: a corrupt
// model never crashes the process nor serves.

const (
	modelMagic   = "SCMODEL"
	modelVersion = 1
	maxModelSize = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// modelHeader describes a persisted model.
type modelHeader struct {
	Shadow      string    `json:"shadow"`
	Instance    string    `json:"instance"`
	Model       string    `json:"model"`
	Kind        string    `json:"kind"` // Go type of the predictor, for Models.Restore
	Reason      string    `json:"reason"`
	Fingerprint string    `json:"fingerprint"`
	TrainedAt   time.Time `json:"trained_at"`
	TrainedData time.Time `json:"trained_data"`
	// WarmStarts counts the warm starts since the last full fit.
	WarmStarts int `json:"warm_starts,omitempty"`
}

func (e *Engine) modelPath(shadow, key string) string {
	if e.opts.StateDir == "" {
		return ""
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return filepath.Join(e.opts.StateDir, "models", shadow, fmt.Sprintf("%016x.model", h.Sum64()))
}

// saveModel persists pred if it can encode itself.
func (e *Engine) saveModel(s *shadowState, inst *instance, pred forecast.Predictor, hdr modelHeader) error {
	m, ok := pred.(encoding.BinaryMarshaler)
	path := e.modelPath(s.opts.Name, inst.key)
	if !ok || path == "" {
		return nil
	}
	hdr.Kind = fmt.Sprintf("%T", pred)
	payload, err := m.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encode model: %w", err)
	}
	head, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString(modelMagic)
	b.WriteByte(modelVersion)
	_ = binary.Write(&b, binary.BigEndian, uint32(len(head)))
	b.Write(head)
	_ = binary.Write(&b, binary.BigEndian, uint64(len(payload)))
	b.Write(payload)
	_ = binary.Write(&b, binary.BigEndian, crc32.Checksum(b.Bytes(), castagnoli))
	return writeAtomic(path, b.Bytes())
}

// errCorruptModelFile marks a model file that failed its checks.
var errCorruptModelFile = errors.New("corrupt model file")

// decodeModelFile checks and splits a model file.
func decodeModelFile(data []byte) (modelHeader, []byte, error) {
	var hdr modelHeader
	bad := func(why string) (modelHeader, []byte, error) {
		return hdr, nil, fmt.Errorf("%w: %s", errCorruptModelFile, why)
	}
	if len(data) < len(modelMagic)+1+4+8+4 || string(data[:len(modelMagic)]) != modelMagic {
		return bad("bad magic or truncated")
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return bad("checksum mismatch")
	}
	p := body[len(modelMagic):]
	if p[0] != modelVersion {
		return bad(fmt.Sprintf("unsupported version %d", p[0]))
	}
	p = p[1:]
	hl := binary.BigEndian.Uint32(p)
	p = p[4:]
	if uint64(hl) > uint64(len(p)) {
		return bad("header length")
	}
	if err := json.Unmarshal(p[:hl], &hdr); err != nil {
		return bad("header: " + err.Error())
	}
	p = p[hl:]
	if len(p) < 8 {
		return bad("truncated")
	}
	pl := binary.BigEndian.Uint64(p)
	p = p[8:]
	if pl != uint64(len(p)) {
		return bad("payload length")
	}
	return hdr, p, nil
}

// restoreModel loads the persisted model of inst, if any, into it. It
// reports whether a model now serves.
func (e *Engine) restoreModel(s *shadowState, inst *instance) bool {
	path := e.modelPath(s.opts.Name, inst.key)
	if path == "" {
		return false
	}
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	fail := func(result string, err error) bool {
		e.metrics.restores.WithLabelValues(result).Inc()
		s.logger.Warn("Discarding a persisted model; the instance retrains", "instance", inst.key, "path", path, "err", err)
		_ = os.Remove(path)
		return false
	}
	if err != nil {
		return fail("error", err)
	}
	if fi.Size() > maxModelSize {
		return fail("corrupt", fmt.Errorf("%w: %d bytes", errCorruptModelFile, fi.Size()))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fail("error", err)
	}
	hdr, payload, err := decodeModelFile(data)
	if err != nil {
		return fail("corrupt", err)
	}
	if hdr.Instance != inst.key || hdr.Shadow != s.opts.Name {
		return fail("corrupt", fmt.Errorf("%w: written for %s %s", errCorruptModelFile, hdr.Shadow, hdr.Instance))
	}
	if hdr.Fingerprint != s.opts.Fingerprint {
		e.metrics.restores.WithLabelValues("stale").Inc()
		s.logger.Info("Not restoring a model trained under another configuration", "instance", inst.key)
		_ = os.Remove(path)
		return false
	}
	pred, err := e.opts.Models.Restore(hdr.Kind, payload)
	if err != nil {
		return fail("corrupt", err)
	}
	inst.mu.Lock()
	inst.pred, inst.model, inst.reason = pred, hdr.Model, hdr.Reason
	inst.trainedAt, inst.trainedData = hdr.TrainedAt, hdr.TrainedData
	inst.warmStarts, inst.needFull = hdr.WarmStarts, false
	inst.gen++
	inst.mu.Unlock()
	e.metrics.restores.WithLabelValues("success").Inc()
	s.logger.Info("Restored a persisted model", "instance", inst.key, "model", hdr.Model, "trained_at", hdr.TrainedAt)
	return true
}

// writeAtomic writes data to path through a temporary file, fsync and
// rename, so a crash leaves the old file or the new one.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
