package signaling

import (
	"context"
	"time"

	"callbox/signaling/call"
	"callbox/signaling/call/record"
)

// Calls is the call service as the server's own callers see it: the
// control socket and admin console, the REST API and the robot. Signaling
// sessions reach the same engine and commit pipeline from their requests.
// Every method that waits for the store takes a context.
type Calls struct{ s *Server }

// Calls returns the server's call service.
func (s *Server) Calls() *Calls { return &Calls{s} }

// Live returns copies of every live call, oldest first.
func (c *Calls) Live() []record.Call {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.s.engine.Live()
}

// Get returns a copy of a live call's record.
func (c *Calls) Get(app uint32, callID string) (record.Call, bool) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.s.engine.Get(app, callID)
}

// End ends a live call for everyone (admin console, REST end_call).
// Errors are *call.Error (ErrNoCall), ctx's, or internal. Once the engine
// has taken the change, End waits for the store whatever ctx says: a
// change is never half made.
func (c *Calls) End(ctx context.Context, app uint32, callID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := c.s
	var stored error
	err := s.engineDo(func(now time.Time) error {
		tr, err := s.engine.End(now, app, callID)
		if err != nil {
			return err
		}
		s.enqueueLocked(commitItem{tr: tr, now: now, before: func(_ record.Call, err error) { stored = err }})
		return nil
	})
	if err != nil {
		return err
	}
	return stored
}

// EndAll ends every live call for its participants, as an admin's End
// does each (they hear onCallEnd or onCallingCancel), and stores the
// records: the server is shutting down. It reports how many it ended.
func (c *Calls) EndAll(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s := c.s
	n := 0
	var stored error
	err := s.engineDo(func(now time.Time) error {
		for _, rec := range s.engine.Live() {
			tr, err := s.engine.End(now, rec.SDKAppID, rec.CallID)
			if err != nil {
				return err
			}
			n++
			s.enqueueLocked(commitItem{tr: tr, now: now, before: func(_ record.Call, err error) { stored = err }})
		}
		return nil
	})
	if err == nil {
		err = stored
	}
	return n, err
}

// Start starts a call on behalf of the server (REST
// start_call_by_robot). The caller is not joined to a media room by
// signaling: a server-side caller brings its own media. ctx as for End.
func (c *Calls) Start(ctx context.Context, inv call.Invite) (record.Call, error) {
	if err := ctx.Err(); err != nil {
		return record.Call{}, err
	}
	s := c.s
	var rec record.Call
	var stored error
	err := s.engineDo(func(now time.Time) error {
		tr, err := s.engine.Call(now, inv)
		if err != nil {
			return err
		}
		rec = tr.Call
		s.enqueueLocked(commitItem{tr: tr, now: now, noJoin: inv.Caller, before: func(_ record.Call, err error) { stored = err }})
		return nil
	})
	if err == nil {
		err = stored
	}
	if err != nil {
		return record.Call{}, err
	}
	return rec, nil
}

// OnlineUsers returns the logged-in userIDs of an app, sorted.
func (c *Calls) OnlineUsers(app uint32) []string {
	return c.s.onlineUsers(app, "")
}

// expireLocked fires every deadline due at now: ringing timeouts and
// reconnect graces of the engine (queued; Run flushes), then UserSig
// expiries.
func (s *Server) expireLocked(now time.Time) int {
	trs := s.engine.Expire(now)
	for _, tr := range trs {
		s.enqueueLocked(commitItem{tr: tr, now: now})
	}
	s.expireSigsLocked(now)
	return len(trs)
}

// nextDeadlineLocked is the earliest engine or sig deadline.
func (s *Server) nextDeadlineLocked() (time.Time, bool) {
	next, ok := s.engine.NextDeadline()
	if len(s.sigs) > 0 && (!ok || s.sigs[0].at.Before(next)) {
		next, ok = s.sigs[0].at, true
	}
	return next, ok
}
