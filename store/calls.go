package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"callbox/signaling/call/record"

	bolt "go.etcd.io/bbolt"
)

func callKey(app uint32, callID string) []byte {
	return append(appKey(app), callID...)
}

func timeKey(start time.Time, app uint32, callID string) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(start.UnixNano()))
	return append(binary.BigEndian.AppendUint32(k, app), callID...)
}

func userKey(app uint32, user string, start time.Time, callID string) []byte {
	k := append(appKey(app), user...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, uint64(start.UnixNano()))
	return append(k, callID...)
}

// PutCall writes a call record and keeps its indexes current. The start
// time and the app of a record must not change between versions.
func (t *Tx) PutCall(rec record.Call) error {
	if rec.SDKAppID == 0 || rec.CallID == "" {
		return fmt.Errorf("put call: SDKAppID and CallId are required")
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("put call %s: %w", rec.CallID, err)
	}
	key := callKey(rec.SDKAppID, rec.CallID)
	if err := t.tx.Bucket(bucketCalls).Put(key, v); err != nil {
		return fmt.Errorf("put call %s: %w", rec.CallID, err)
	}
	if err := t.tx.Bucket(bucketByTime).Put(timeKey(rec.StartAt, rec.SDKAppID, rec.CallID), nil); err != nil {
		return fmt.Errorf("put call %s: %w", rec.CallID, err)
	}
	byUser := t.tx.Bucket(bucketByUser)
	for _, p := range rec.Participants {
		if err := byUser.Put(userKey(rec.SDKAppID, p.UserID, rec.StartAt, rec.CallID), nil); err != nil {
			return fmt.Errorf("put call %s: %w", rec.CallID, err)
		}
	}
	live := t.tx.Bucket(bucketLive)
	if rec.State == record.CallEnded {
		err = live.Delete(key)
	} else {
		err = live.Put(key, nil)
	}
	if err != nil {
		return fmt.Errorf("put call %s: %w", rec.CallID, err)
	}
	return nil
}

// Call returns one call record, or ErrNotFound.
func (t *Tx) Call(app uint32, callID string) (record.Call, error) {
	return t.callAt(callKey(app, callID))
}

func (t *Tx) callAt(key []byte) (record.Call, error) {
	v := t.tx.Bucket(bucketCalls).Get(key)
	if v == nil {
		return record.Call{}, fmt.Errorf("call %q: %w", key[min(4, len(key)):], ErrNotFound)
	}
	var rec record.Call
	if err := json.Unmarshal(v, &rec); err != nil {
		return record.Call{}, fmt.Errorf("call %q: decode: %w", key[4:], err)
	}
	return rec, nil
}

// CallFilter selects call records. Zero fields do not filter.
type CallFilter struct {
	SDKAppID uint32
	User     string // requires SDKAppID
	Since    time.Time
	Until    time.Time // exclusive
	Result   string
	Limit    int // newest first; 0 = no limit
}

// Calls returns the records that match f, newest first.
func (t *Tx) Calls(f CallFilter) ([]record.Call, error) {
	if f.User != "" && f.SDKAppID == 0 {
		return nil, fmt.Errorf("list calls: a user filter needs an SDKAppID")
	}
	out := []record.Call{}
	keep := func(key []byte) (bool, error) {
		rec, err := t.callAt(key)
		if err != nil {
			return false, err
		}
		if f.SDKAppID != 0 && rec.SDKAppID != f.SDKAppID || f.Result != "" && rec.Result != f.Result {
			return true, nil
		}
		out = append(out, rec)
		return f.Limit <= 0 || len(out) < f.Limit, nil
	}
	var prefix []byte
	var b *bolt.Bucket
	// Index entries end in startNanos|...|callID after the prefix.
	var split func(k []byte) (time.Time, []byte)
	if f.User != "" {
		b = t.tx.Bucket(bucketByUser)
		prefix = append(append(appKey(f.SDKAppID), f.User...), 0)
		split = func(k []byte) (time.Time, []byte) {
			rest := k[len(prefix):]
			ts := time.Unix(0, int64(binary.BigEndian.Uint64(rest)))
			return ts, callKey(f.SDKAppID, string(rest[8:]))
		}
	} else {
		b = t.tx.Bucket(bucketByTime)
		split = func(k []byte) (time.Time, []byte) {
			return time.Unix(0, int64(binary.BigEndian.Uint64(k))), k[8:]
		}
	}
	c := b.Cursor()
	// Walk backwards from the end of the prefix range.
	var k []byte
	if seek := prefixEnd(prefix); seek == nil {
		k, _ = c.Last()
	} else if k, _ = c.Seek(seek); k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
		ts, key := split(k)
		if !f.Until.IsZero() && !ts.Before(f.Until) {
			continue
		}
		if !f.Since.IsZero() && ts.Before(f.Since) {
			break
		}
		more, err := keep(key)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
	}
	return out, nil
}

// prefixEnd is the smallest key greater than every key with the prefix,
// or nil when there is none (empty or all-0xff prefix).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// LiveCalls returns the records not yet ended.
func (t *Tx) LiveCalls() ([]record.Call, error) {
	out := []record.Call{}
	err := t.tx.Bucket(bucketLive).ForEach(func(k, _ []byte) error {
		rec, err := t.callAt(k)
		if err != nil {
			return err
		}
		out = append(out, rec)
		return nil
	})
	return out, err
}
