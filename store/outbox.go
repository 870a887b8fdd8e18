package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
)

// AppendOutbox queues a webhook event and returns its sequence number,
// which is monotonic across the life of the file. An entry without an
// EventID gets a new random one (a sequence number alone would repeat
// after a restore from backup, and receivers drop duplicates by it).
func (t *Tx) AppendOutbox(e OutboxEntry) (uint64, error) {
	seq, err := t.tx.Bucket(bucketOutbox).NextSequence()
	if err != nil {
		return 0, fmt.Errorf("append outbox: %w", err)
	}
	e.Seq = seq
	if e.EventID == "" {
		e.EventID = uuid.NewString()
	}
	if err := t.putOutbox(e); err != nil {
		return 0, fmt.Errorf("append outbox: %w", err)
	}
	return seq, nil
}

// Outbox returns up to limit entries with Seq > after, in order.
func (t *Tx) Outbox(after uint64, limit int) ([]OutboxEntry, error) {
	out := []OutboxEntry{}
	c := t.tx.Bucket(bucketOutbox).Cursor()
	for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, after+1)); k != nil; k, v = c.Next() {
		if limit > 0 && len(out) >= limit {
			break
		}
		var e OutboxEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, fmt.Errorf("outbox %d: decode: %w", binary.BigEndian.Uint64(k), err)
		}
		out = append(out, e)
	}
	return out, nil
}

// DeleteOutbox removes an entry; AckOutbox does the same without reading
// the entry first.
func (t *Tx) DeleteOutbox(seq uint64) error {
	v := t.tx.Bucket(bucketOutbox).Get(binary.BigEndian.AppendUint64(nil, seq))
	if v == nil {
		return nil
	}
	var e struct{ SDKAppID uint32 }
	if err := json.Unmarshal(v, &e); err != nil {
		return fmt.Errorf("outbox %d: decode: %w", seq, err)
	}
	return t.AckOutbox(e.SDKAppID, seq)
}

// Setting returns a named setting, or ErrNotFound.
func (t *Tx) Setting(name string) ([]byte, error) {
	v := t.tx.Bucket(bucketSettings).Get([]byte(name))
	if v == nil {
		return nil, fmt.Errorf("setting %s: %w", name, ErrNotFound)
	}
	return append([]byte(nil), v...), nil
}

// PutSetting stores a named setting.
func (t *Tx) PutSetting(name string, value []byte) error {
	return t.tx.Bucket(bucketSettings).Put([]byte(name), value)
}
