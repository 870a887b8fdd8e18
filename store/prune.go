package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"callbox/signaling/call/record"
)

// PruneCursor is where a PruneCalls batch stopped. The zero value starts
// at the oldest record.
type PruneCursor struct {
	next []byte // the first calls_by_time key not yet visited
}

// PruneResult is what one PruneCalls batch did.
type PruneResult struct {
	Deleted int  // records removed, with their index entries
	More    bool // the batch hit its bound: call again with Next
	Next    PruneCursor
}

// PruneCalls deletes the call records that ended before cutoff, with
// their by-time and by-user index entries. Live records (those in the live
// index) and records that ended at or after cutoff stay; a record that
// left the live index without ending (its app was deleted during the
// call) counts as ended at its start. It visits at most max records that
// started before cutoff, oldest first, from where the previous batch
// stopped, so that a large prune is a series of short write transactions
// rather than one that holds the write lock for long: run each batch in
// its own Update, passing the last result's Next, while More is set.
func (t *Tx) PruneCalls(cutoff time.Time, max int, from PruneCursor) (PruneResult, error) {
	if max <= 0 {
		return PruneResult{}, fmt.Errorf("prune calls: batch size %d", max)
	}
	// A record's EndAt is never before its StartAt, so every record that
	// ended before cutoff started before it: the by-time index bounds the
	// scan.
	end := binary.BigEndian.AppendUint64(nil, uint64(cutoff.UnixNano()))
	var old []record.Call
	var oldKeys [][]byte
	var res PruneResult
	live := t.tx.Bucket(bucketLive)
	c := t.tx.Bucket(bucketByTime).Cursor()
	k, _ := c.First()
	if from.next != nil {
		k, _ = c.Seek(from.next)
	}
	visited := 0
	for ; k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
		if visited == max {
			res.More, res.Next = true, PruneCursor{next: bytes.Clone(k)}
			break
		}
		visited++
		if live.Get(k[8:]) != nil {
			continue
		}
		rec, err := t.callAt(k[8:])
		if err != nil {
			return PruneResult{}, fmt.Errorf("prune calls: %w", err)
		}
		// A zero EndAt (never ended) is before any cutoff, and the
		// record started before it.
		if rec.EndAt.Before(cutoff) {
			old = append(old, rec)
			oldKeys = append(oldKeys, bytes.Clone(k))
		}
	}
	// Deleting under an open cursor skips keys, so delete after the scan.
	calls, byTime, byUser := t.tx.Bucket(bucketCalls), t.tx.Bucket(bucketByTime), t.tx.Bucket(bucketByUser)
	for i, rec := range old {
		if err := calls.Delete(callKey(rec.SDKAppID, rec.CallID)); err != nil {
			return PruneResult{}, fmt.Errorf("prune call %s: %w", rec.CallID, err)
		}
		if err := byTime.Delete(oldKeys[i]); err != nil {
			return PruneResult{}, fmt.Errorf("prune call %s: %w", rec.CallID, err)
		}
		// PutCall indexed every participant any version had; versions
		// only ever add participants, so the last one names them all.
		for _, p := range rec.Participants {
			if err := byUser.Delete(userKey(rec.SDKAppID, p.UserID, rec.StartAt, rec.CallID)); err != nil {
				return PruneResult{}, fmt.Errorf("prune call %s: %w", rec.CallID, err)
			}
		}
	}
	res.Deleted = len(old)
	return res, nil
}
