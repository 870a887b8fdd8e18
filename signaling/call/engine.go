package call

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"callbox/signaling/call/record"

	"github.com/google/uuid"
)

// Engine holds the live calls of every app. It is not safe for concurrent
// use: the signaling server calls it under its own mutex.
type Engine struct {
	cfg   Config
	calls map[callKey]*call
	// users maps a user to the one live call it takes part in (invited,
	// ringing or joined). The busy rule makes that call unique.
	users  map[userKey]string
	online map[userKey]bool
	// ended remembers recently ended calls (FIFO, tombstoneTTL) so that a
	// late Accept/Reject gets ErrNotRinging rather than ErrNoCall.
	ended     map[callKey]tombstone
	endedFIFO []endedEntry
	// j journals changes since the last Checkpoint (nil until the first).
	j *Journal
	// Indexes over calls (deadlines.go): caches, checked when read.
	deadlines deadlineHeap
	dirty     map[callKey]struct{}
	rooms     map[roomKey]map[string]struct{}
}

type callKey struct {
	app uint32
	id  string
}

type userKey struct {
	app  uint32
	user string
}

type tombstone struct {
	users map[string]bool // every participant of the ended call
}

type endedEntry struct {
	key callKey
	at  time.Time
}

// tombstoneTTL is how long an ended call is remembered for error reporting.
const tombstoneTTL = 10 * time.Minute

// New returns an Engine with cfg's zero fields set to the defaults.
func New(cfg Config) *Engine {
	if cfg.DefaultTimeout <= 0 {
		cfg.DefaultTimeout = DefaultTimeout
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.MaxInvitees <= 0 {
		cfg.MaxInvitees = DefaultMaxInvitees
	}
	if cfg.NewCallID == nil {
		cfg.NewCallID = uuid.NewString
	}
	if cfg.NewRoomID == nil {
		cfg.NewRoomID = func() string {
			return strconv.FormatUint(uint64(rand.Uint32N(4294967295))+1, 10)
		}
	}
	return &Engine{
		cfg:    cfg,
		calls:  make(map[callKey]*call),
		users:  make(map[userKey]string),
		online: make(map[userKey]bool),
		ended:  make(map[callKey]tombstone),
		dirty:  make(map[callKey]struct{}),
		rooms:  make(map[roomKey]map[string]struct{}),
	}
}

// Get returns a copy of the live call's record.
func (e *Engine) Get(app uint32, callID string) (record.Call, bool) {
	c := e.calls[callKey{app, callID}]
	if c == nil {
		return record.Call{}, false
	}
	return c.snapshot(), true
}

// Live returns copies of all live calls, oldest first.
func (e *Engine) Live() []record.Call {
	out := make([]record.Call, 0, len(e.calls))
	for _, c := range e.calls {
		out = append(out, c.snapshot())
	}
	slices.SortFunc(out, func(a, b record.Call) int {
		if c := a.StartAt.Compare(b.StartAt); c != 0 {
			return c
		}
		if a.SDKAppID != b.SDKAppID {
			return int(int64(a.SDKAppID) - int64(b.SDKAppID))
		}
		return compareStrings(a.CallID, b.CallID)
	})
	return out
}

// CallsOf returns the ids of the live calls the user takes part in (joined,
// ringing or invited). The busy rule keeps it to at most one.
func (e *Engine) CallsOf(app uint32, user string) []string {
	if id, ok := e.users[userKey{app, user}]; ok {
		return []string{id}
	}
	return nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// lookup finds a live call, or explains why there is none.
func (e *Engine) lookup(app uint32, callID string) (*call, error) {
	k := callKey{app, callID}
	if c := e.touch(k); c != nil {
		return c, nil
	}
	return nil, errf(ErrNoCall, "%q", callID)
}

// forget drops an ended call and frees its users; it keeps a tombstone.
func (e *Engine) forget(c *call, now time.Time) {
	k := callKey{c.rec.SDKAppID, c.rec.CallID}
	e.touch(k)
	delete(e.calls, k)
	e.delRoom(k, c.rec.RoomID)
	ts := tombstone{users: make(map[string]bool, len(c.rec.Participants))}
	for _, p := range c.rec.Participants {
		ts.users[p.UserID] = true
		uk := userKey{c.rec.SDKAppID, p.UserID}
		if e.users[uk] == c.rec.CallID {
			e.delUser(uk)
		}
	}
	e.ended[k] = ts
	e.endedFIFO = append(e.endedFIFO, endedEntry{k, now})
}

// prune drops tombstones older than tombstoneTTL.
func (e *Engine) prune(now time.Time) {
	n := 0
	for n < len(e.endedFIFO) && now.Sub(e.endedFIFO[n].at) > tombstoneTTL {
		delete(e.ended, e.endedFIFO[n].key)
		n++
	}
	if n > 0 {
		e.endedFIFO = slices.Delete(e.endedFIFO, 0, n)
	}
}

// DropApp forgets every live call of an app without a transition: the app
// was deleted, and no record may be written for it. Its users are free.
func (e *Engine) DropApp(app uint32) {
	for k, c := range e.calls {
		if k.app != app {
			continue
		}
		e.touch(k)
		for _, p := range c.rec.Participants {
			if uk := (userKey{app, p.UserID}); e.users[uk] == k.id {
				e.delUser(uk)
			}
		}
		delete(e.calls, k)
		e.delRoom(k, c.rec.RoomID)
	}
}
