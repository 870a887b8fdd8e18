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
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"callbox/appliance/webhook"
	"callbox/signaling/call"
	"callbox/signaling/call/record"
	"callbox/signaling/usersig"
	"callbox/store"
)

// CallStore commits transitions to a store.
type CallStore struct {
	st     *store.Store
	now    func() time.Time
	notify func()

	lastMark atomic.Int64 // unix ns of the last liveness mark written
}

// AliveEvery is how often the liveness mark is refreshed while nothing is
// committed. A restart after a crash ends the calls left live at the last
// mark, so their records are at most this far off (issue: a 3 s call
// killed with -9 was recorded as 24 s, up to the restart).
const AliveEvery = 5 * time.Second

// aliveSetting names the store setting holding the liveness mark.
const aliveSetting = "alive"

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
		if err := putAlive(tx, now); err != nil {
			return err
		}
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
			if tr.Ended() {
				hooks += len(tr.Call.Participants) // status callbacks
			}
			if err := CommitTx(tx, tr, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit %d call transitions: %w", n, err)
	}
	c.lastMark.Store(now.UnixNano())
	if hooks > 0 && c.notify != nil {
		c.notify()
	}
	return nil
}

// MarkAlive writes the liveness mark unless a commit wrote one less than
// AliveEvery/2 ago (marks ride along with commits when there are some).
func (c *CallStore) MarkAlive() error {
	now := c.now()
	if now.Sub(time.Unix(0, c.lastMark.Load())) < AliveEvery/2 {
		return nil
	}
	if err := c.st.Update(func(tx *store.Tx) error { return putAlive(tx, now) }); err != nil {
		return fmt.Errorf("mark alive: %w", err)
	}
	c.lastMark.Store(now.UnixNano())
	return nil
}

// RunAlive refreshes the liveness mark every AliveEvery until ctx ends.
func (c *CallStore) RunAlive(ctx context.Context, log *slog.Logger) error {
	t := time.NewTicker(AliveEvery)
	defer t.Stop()
	for {
		if err := c.MarkAlive(); err != nil {
			log.Warn("liveness mark not written", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func putAlive(tx *store.Tx, now time.Time) error {
	return tx.PutSetting(aliveSetting, []byte(now.UTC().Format(time.RFC3339Nano)))
}

// LastAlive returns the last liveness mark, if there is one.
func LastAlive(tx *store.Tx) (time.Time, bool) {
	v, err := tx.Setting(aliveSetting)
	if err != nil || v == nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(v))
	return t, err == nil
}

// InterruptAt is when a call left live by a stopped process is taken to
// have ended: the last liveness mark, but never before anything the record
// shows happening, and never after now.
func InterruptAt(rec record.Call, lastAlive time.Time, now time.Time) time.Time {
	at := lastAlive
	if at.IsZero() || at.After(now) {
		return now
	}
	for _, t := range []time.Time{rec.StartAt, rec.AcceptAt} {
		if t.After(at) {
			at = t
		}
	}
	for _, p := range rec.Participants {
		for _, t := range []time.Time{p.InvitedAt, p.RingingAt, p.JoinedAt, p.LeftAt} {
			if t.After(at) {
				at = t
			}
		}
	}
	if at.After(now) {
		return now // a record from the future (a clock step) ends now
	}
	return at
}

// CommitTx writes one transition in tx: its record and its webhook outbox
// entries, never one without the other. A transition that ends its call
// also queues the call status callbacks derived from the final record
// (tencent-compat.md §3), after its per-event hooks.
func CommitTx(tx *store.Tx, tr call.Transition, now time.Time) error {
	if err := tx.PutCall(tr.Call); err != nil {
		return err
	}
	hooks := tr.Hooks
	if tr.Ended() {
		hooks = append(slices.Clip(hooks), webhook.StatusCallbacks(tr.Call)...)
	}
	for _, h := range hooks {
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
