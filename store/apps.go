package store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"time"
)

// SDKAppIDs are drawn from this range, as Tencent's console does.
const (
	MinSDKAppID = 1400000000
	MaxSDKAppID = 1499999999
)

func appKey(id uint32) []byte { return binary.BigEndian.AppendUint32(nil, id) }

// App returns the app with the given SDKAppID, or ErrNotFound.
func (t *Tx) App(id uint32) (App, error) {
	v := t.tx.Bucket(bucketApps).Get(appKey(id))
	if v == nil {
		return App{}, fmt.Errorf("app %d: %w", id, ErrNotFound)
	}
	var a App
	if err := json.Unmarshal(v, &a); err != nil {
		return App{}, fmt.Errorf("app %d: decode: %w", id, err)
	}
	return a, nil
}

// Apps lists every app in SDKAppID order.
func (t *Tx) Apps() ([]App, error) {
	apps := []App{}
	err := t.tx.Bucket(bucketApps).ForEach(func(k, v []byte) error {
		var a App
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("app %x: decode: %w", k, err)
		}
		apps = append(apps, a)
		return nil
	})
	return apps, err
}

// PutApp creates or replaces an app.
func (t *Tx) PutApp(a App) error {
	if a.SDKAppID == 0 {
		return fmt.Errorf("put app: SDKAppID is zero")
	}
	v, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("put app %d: %w", a.SDKAppID, err)
	}
	return t.tx.Bucket(bucketApps).Put(appKey(a.SDKAppID), v)
}

// DeleteApp removes an app; its call records stay for the history, as
// they were. Its calls leave the live index, so that nothing (a restart's
// interrupt rule) writes to them again.
func (t *Tx) DeleteApp(id uint32) error {
	b := t.tx.Bucket(bucketApps)
	if b.Get(appKey(id)) == nil {
		return fmt.Errorf("app %d: %w", id, ErrNotFound)
	}
	live := t.tx.Bucket(bucketLive).Cursor()
	prefix := appKey(id)
	for k, _ := live.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = live.Seek(prefix) {
		if err := live.Delete(); err != nil {
			return fmt.Errorf("app %d: unlist live call: %w", id, err)
		}
	}
	// Its webhook goes with it; queued events are dropped by the
	// dispatcher, which finds no webhook for them.
	if err := t.tx.Bucket(bucketWebhooks).Delete(appKey(id)); err != nil {
		return fmt.Errorf("app %d: delete webhook: %w", id, err)
	}
	if err := t.deleteDirectory(id); err != nil {
		return err
	}
	return b.Delete(appKey(id))
}

// CreateApp makes a new app with a fresh unique SDKAppID in
// [MinSDKAppID, MaxSDKAppID] and a random 64-hex-character key.
func (t *Tx) CreateApp(name string, now time.Time) (App, error) {
	b := t.tx.Bucket(bucketApps)
	for range 100 {
		n, err := rand.Int(rand.Reader, big.NewInt(MaxSDKAppID-MinSDKAppID+1))
		if err != nil {
			return App{}, fmt.Errorf("create app: %w", err)
		}
		id := uint32(MinSDKAppID + n.Int64())
		if b.Get(appKey(id)) != nil {
			continue
		}
		a := App{SDKAppID: id, Name: name, Key: NewKey(), Created: now.UTC()}
		return a, t.PutApp(a)
	}
	return App{}, fmt.Errorf("create app: no free SDKAppID found")
}

// CreateApp is Tx.CreateApp in its own transaction.
func (s *Store) CreateApp(name string, now time.Time) (App, error) {
	var a App
	err := s.Update(func(tx *Tx) error {
		var err error
		a, err = tx.CreateApp(name, now)
		return err
	})
	return a, err
}

// AppKey returns the secret key of an app, for UserSig verification.
func (s *Store) AppKey(id uint32) (string, error) {
	var key string
	err := s.View(func(tx *Tx) error {
		a, err := tx.App(id)
		key = a.Key
		return err
	})
	return key, err
}

// NewKey returns 32 random bytes as 64 lowercase hex characters, the form
// Tencent's console shows app keys in.
func NewKey() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on Linux
	}
	return hex.EncodeToString(b[:])
}
