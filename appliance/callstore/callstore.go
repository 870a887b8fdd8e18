// Package callstore is the call service's persistence over the store: it
// commits call engine transitions (each one's record and webhook outbox
// entries, a batch in one bbolt transaction, DESIGN "Store") and looks
// app keys up for UserSig checks. It implements signaling.Committer and
// usersig.KeyFunc; appliance wires it. It holds no call rules.
package callstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"callbox/signaling/call"
	"callbox/signaling/usersig"
	"callbox/store"
)

// CallStore commits transitions to a store.
type CallStore struct {
	st     *store.Store
	now    func() time.Time
	notify func()
}

// Options configures a CallStore.
type Options struct {
	// Now stamps outbox entries; default time.Now.
	Now func() time.Time
	// Notify, when set, is called after every successful commit that
	// queued webhook events (it wakes the webhook dispatcher). It must not
	// block.
	Notify func()
}

// New returns a CallStore over st.
func New(st *store.Store, opts Options) *CallStore {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &CallStore{st: st, now: opts.Now, notify: opts.Notify}
}

// Commit stores every transition of batch in one transaction: all of them
// or none. Transitions that touch no call (IsZero) are skipped, and so are
// those of an app that no longer exists: no record is written for a
// deleted app, whatever was in flight when it went. The store cannot stop
// a write half-way, so ctx is only checked before it starts.
func (c *CallStore) Commit(ctx context.Context, batch []call.Transition) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now, hooks, n := c.now(), 0, 0
	err := c.st.Update(func(tx *store.Tx) error {
		apps := map[uint32]bool{}
		for _, tr := range batch {
			if tr.IsZero() {
				continue
			}
			app := tr.Call.SDKAppID
			exists, seen := apps[app]
			if !seen {
				_, err := tx.App(app)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				exists = err == nil
				apps[app] = exists
			}
			if !exists {
				continue
			}
			n++
			hooks += len(tr.Hooks)
			if err := CommitTx(tx, tr, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit %d call transitions: %w", n, err)
	}
	if hooks > 0 && c.notify != nil {
		c.notify()
	}
	return nil
}

// CommitTx writes one transition in tx: its record and its webhook outbox
// entries, never one without the other.
func CommitTx(tx *store.Tx, tr call.Transition, now time.Time) error {
	if err := tx.PutCall(tr.Call); err != nil {
		return err
	}
	for _, h := range tr.Hooks {
		body, err := json.Marshal(h.Body)
		if err != nil {
			return fmt.Errorf("encode hook %s: %w", h.Command, err)
		}
		if _, err := tx.AppendOutbox(store.OutboxEntry{
			SDKAppID: tr.Call.SDKAppID, Command: h.Command, Body: body, Created: now,
		}); err != nil {
			return err
		}
	}
	return nil
}

// AppKey is a usersig.KeyFunc: an app's key, or usersig.ErrNoApp.
func (c *CallStore) AppKey(app uint32) (string, error) {
	key, err := c.st.AppKey(app)
	if errors.Is(err, store.ErrNotFound) {
		return "", usersig.ErrNoApp
	}
	return key, err
}

var _ usersig.KeyFunc = (*CallStore)(nil).AppKey
