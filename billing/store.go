package billing

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/btcsuite/btcd/btcec/v2"
	"golang.org/x/crypto/hkdf"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/channel"
)

// chanCfg is the channel configuration: the engine's store, and the
// height the loop last learned (channels are only called on the loop).
func (e *Engine) chanCfg() channel.Config {
	c := e.cfg.Channel
	c.Store = e.store
	c.Height = func() uint32 { return e.height }
	return c
}

// channelKey derives this node's channel key for a peer from its
// identity, so a restarted node finds its channels' keys again.
func (e *Engine) channelKey(peer addr.NodeID) *btcec.PrivateKey {
	var k [32]byte
	r := hkdf.New(sha256.New, e.key.Serialize(), []byte("foxtrot/channel-key"), peer[:])
	if _, err := io.ReadFull(r, k[:]); err != nil {
		panic("billing: unreachable: hkdf: " + err.Error())
	}
	key, _ := btcec.PrivKeyFromBytes(k[:])
	return key
}

// index is the peer -> channel map kept beside the channel store
// (channels.json in Config.Dir), both hex.
type index map[string]string

// saveIndex writes the peer -> channel index durably (fsynced).
func (e *Engine) saveIndex() error {
	if e.cfg.Dir == "" {
		return nil
	}
	ix := index{}
	for id, a := range e.accts {
		if a.ch != nil {
			cid := a.ch.ID()
			ix[hex.EncodeToString(id[:])] = hex.EncodeToString(cid[:])
		}
	}
	data, err := json.Marshal(ix)
	if err != nil {
		return err
	}
	path := filepath.Join(e.cfg.Dir, "channels.json")
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		var d *os.File
		if d, err = os.Open(e.cfg.Dir); err == nil {
			err = d.Sync()
			d.Close()
		}
	}
	return err
}

// restore reloads the channels of a restarted node (before the loop runs).
func (e *Engine) restore() error {
	data, err := os.ReadFile(filepath.Join(e.cfg.Dir, "channels.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var ix index
	if err := json.Unmarshal(data, &ix); err != nil {
		return fmt.Errorf("%w: %w", ErrIndex, err)
	}
	for p, c := range ix {
		var peer addr.NodeID
		var cid channel.ID
		pb, err1 := hex.DecodeString(p)
		cb, err2 := hex.DecodeString(c)
		if err1 != nil || err2 != nil || len(pb) != len(peer) || len(cb) != len(cid) {
			return fmt.Errorf("%w: entry %q: %q", ErrIndex, p, c)
		}
		copy(peer[:], pb)
		copy(cid[:], cb)
		ch, err := channel.Load(e.chanCfg(), e.channelKey(peer), cid)
		if err != nil {
			return fmt.Errorf("billing: restoring the channel with %s: %w", peer.String(), err)
		}
		a := e.acct(peer)
		a.ch = ch
		a.ready = ch.Phase() == channel.PhaseOpen
	}
	return nil
}
