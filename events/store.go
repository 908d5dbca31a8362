package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// storeVersion is the version of the persisted events file.
const storeVersion = 1

type storeFile struct {
	Version int     `json:"version"`
	Events  []Event `json:"events"`
}

// loadStore reads the events persisted at path. A missing file is empty; a
// file that cannot be decoded, has another version or holds an invalid
// event is an error (never silently dropped).
func loadStore(path string) ([]Event, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read events file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f storeFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("events file %s is corrupt: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("events file %s is corrupt: data after the JSON document", path)
	}
	if f.Version != storeVersion {
		return nil, fmt.Errorf("events file %s: unknown version %d (want %d)", path, f.Version, storeVersion)
	}
	ids := map[string]bool{}
	for i, e := range f.Events {
		if e.ID == "" || ids[e.ID] {
			return nil, fmt.Errorf("events file %s: events[%d]: missing or duplicate id %q", path, i, e.ID)
		}
		ids[e.ID] = true
		if err := e.Validate(nil); err != nil {
			return nil, fmt.Errorf("events file %s: events[%d] (%s): %w", path, i, e.ID, err)
		}
		f.Events[i].Source = SourceAPI
	}
	return f.Events, nil
}

// saveStore writes the events to path atomically: a temporary file in the
// same directory is written, synced and renamed over path, then the
// directory is synced. A crash leaves either the old or the new file.
func saveStore(path string, evs []Event) (err error) {
	if evs == nil {
		evs = []Event{}
	}
	b, err := json.MarshalIndent(storeFile{Version: storeVersion, Events: evs}, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(append(b, '\n')); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: not every file system syncs directories
		d.Close()
	}
	return nil
}
