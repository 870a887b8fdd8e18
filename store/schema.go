package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Bucket names. The schema version lives in meta under keyVersion, beside
// keyMagic, which marks the file as ours.
var (
	bucketMeta     = []byte("meta")
	bucketApps     = []byte("apps")
	bucketCalls    = []byte("calls")         // app|callID -> record.Call JSON
	bucketByTime   = []byte("calls_by_time") // startNanos|app|callID -> nil
	bucketByUser   = []byte("calls_by_user") // app|userID|0|startNanos|callID -> nil
	bucketLive     = []byte("calls_live")    // app|callID -> nil, while not ended
	bucketOutbox   = []byte("outbox")        // seq -> OutboxEntry JSON
	bucketSettings = []byte("settings")      // name -> value
	bucketUsers    = []byte("users")         // app|userID -> User JSON (the app's directory)
	bucketContacts = []byte("contacts")      // app|owner|0|userID -> Contact JSON

	keyVersion = []byte("schema_version")
	keyMagic   = []byte("magic")
	magicValue = []byte("callbox")
)

// migration brings the schema from version-1 to version. Migrations run in
// order, all in one transaction, so a failure leaves the file as it was.
type migration struct {
	version int
	name    string
	up      func(tx *bolt.Tx) error
}

var migrations = []migration{
	{1, "initial buckets", func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketApps, bucketCalls, bucketByTime, bucketByUser, bucketLive, bucketOutbox, bucketSettings} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}},
	{2, "webhook config, outbox index by app, delivery log, dead letters", migrateWebhooks},
	{3, "user directory and contact lists", migrateDirectory},
	{4, "admin console accounts and sessions", migrateAdmin},
}

// SchemaVersion is the version this build writes.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

func (s *Store) migrate(readOnly bool) error {
	var have int
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		have, err = readVersion(tx)
		return err
	})
	if err != nil {
		return err
	}
	if have > SchemaVersion() {
		return fmt.Errorf("schema version %d, this build knows %d: %w", have, SchemaVersion(), ErrTooNew)
	}
	if have == SchemaVersion() || readOnly {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keyMagic, magicValue); err != nil {
			return err
		}
		for _, m := range migrations {
			if m.version <= have {
				continue
			}
			if err := m.up(tx); err != nil {
				return fmt.Errorf("migration %d %q: %w", m.version, m.name, err)
			}
			if err := meta.Put(keyVersion, binary.BigEndian.AppendUint64(nil, uint64(m.version))); err != nil {
				return err
			}
		}
		return nil
	})
}

// readVersion returns 0 for a new, empty file and refuses a bbolt file
// that holds someone else's buckets.
func readVersion(tx *bolt.Tx) (int, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		if !empty {
			return 0, ErrForeign
		}
		return 0, nil
	}
	if string(meta.Get(keyMagic)) != string(magicValue) {
		return 0, ErrForeign
	}
	v := meta.Get(keyVersion)
	if len(v) != 8 {
		return 0, errors.Join(ErrForeign, fmt.Errorf("bad schema version record"))
	}
	return int(binary.BigEndian.Uint64(v)), nil
}
