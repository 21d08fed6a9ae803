package channel

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Store keeps channel snapshots (Channel.MarshalBinary) durably. A channel
// configured with a Store saves itself after every change and before it
// returns any message that acknowledges the change, so a restart loses no
// money: Resume the channel from its last snapshot.
type Store interface {
	// Save replaces the snapshot of channel id. It returns only once the
	// snapshot is durable.
	Save(id ID, snapshot []byte) error
	// Load returns the last snapshot of id, or an error wrapping
	// ErrNotFound.
	Load(id ID) ([]byte, error)
	// Delete forgets id (after the channel's close is deeply confirmed).
	Delete(id ID) error
	// List returns the IDs of the stored channels.
	List() ([]ID, error)
}

// FileStore is the default Store: one file per channel in a directory.
// Save writes a temporary file with a SHA-256 checksum, fsyncs it, renames
// it over the old snapshot and fsyncs the directory, so a crash at any
// point leaves either the old snapshot or the new one, whole.
type FileStore struct {
	dir string
}

const (
	fileSuffix = ".chan"
	tmpSuffix  = ".tmp"
)

// NewFileStore opens (creating it if needed) a store in dir.
func NewFileStore(dir string) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("channel: store: %w", err)
	}
	return &FileStore{dir: dir}, nil
}

func (s *FileStore) path(id ID) string { return filepath.Join(s.dir, id.String()+fileSuffix) }

// Save implements Store.
func (s *FileStore) Save(id ID, snapshot []byte) error {
	sum := sha256.Sum256(snapshot)
	f, err := os.CreateTemp(s.dir, id.String()+"-*"+tmpSuffix)
	if err != nil {
		return fmt.Errorf("channel: store: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(append([]byte{}, snapshot...), sum[:]...))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path(id))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("channel: store: %w", err)
	}
	return s.syncDir()
}

func (s *FileStore) syncDir() error {
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("channel: store: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("channel: store: sync dir: %w", err)
	}
	return nil
}

// Load implements Store.
func (s *FileStore) Load(id ID) ([]byte, error) {
	b, err := os.ReadFile(s.path(id))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%w: %v", ErrNotFound, id)
		}
		return nil, fmt.Errorf("channel: store: %w", err)
	}
	if len(b) < sha256.Size {
		return nil, fmt.Errorf("%w: %v: short file", ErrCorrupt, id)
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if want := sha256.Sum256(body); !bytes.Equal(sum, want[:]) {
		return nil, fmt.Errorf("%w: %v: checksum mismatch", ErrCorrupt, id)
	}
	return body, nil
}

// Delete implements Store.
func (s *FileStore) Delete(id ID) error {
	if err := os.Remove(s.path(id)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("channel: store: %w", err)
	}
	return s.syncDir()
}

// List implements Store. Leftover temporary files of interrupted saves are
// ignored (and removed).
func (s *FileStore) List() ([]ID, error) {
	var ids []ID
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != s.dir {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if strings.HasSuffix(name, tmpSuffix) {
			os.Remove(p)
			return nil
		}
		raw, ok := strings.CutSuffix(name, fileSuffix)
		if !ok {
			return nil
		}
		b, err := hex.DecodeString(raw)
		if err != nil || len(b) != len(ID{}) {
			return nil
		}
		var id ID
		copy(id[:], b)
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("channel: store: %w", err)
	}
	return ids, nil
}
