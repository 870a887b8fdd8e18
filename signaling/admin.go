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

// ServerCaller is a caller with no WebSocket session (REST
// start_call_by_robot's robot): it hears its call's events through these
// methods instead. They run on signaling's commit path, after the store
// has the change, in engine order, so they must return at once (queue the
// work elsewhere) and must not call back into Calls.
type ServerCaller interface {
	// Event is an engine event addressed to the caller (onCallBegin when
	// the first callee accepts, onUserLeave, ...).
	Event(ev call.Event)
	// Ended is called once, after the last Event, when the call ends
	// (the record carries its result). When Start returns an error, sc
	// hears nothing at all.
	Ended(rec record.Call)
}

// Start starts a call on behalf of the server (REST
// start_call_by_robot). The caller is not joined to a media room by
// signaling: a server-side caller brings its own media. It has no
// session, no heartbeat and is never offline: a WebSocket session of the
// same userID that drops or is kicked out does not touch the call. The
// caller's events go to sc (nil: nowhere). ctx as for End.
func (c *Calls) Start(ctx context.Context, inv call.Invite, sc ServerCaller) (record.Call, error) {
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
		k := userKey{inv.SDKAppID, inv.Caller}
		if sc != nil && !tr.Ended() {
			s.setServerCaller(k, serverCaller{callID: rec.CallID, sc: sc})
		}
		s.enqueueLocked(commitItem{tr: tr, now: now, noJoin: inv.Caller,
			before: func(_ record.Call, err error) { stored = err },
			undo:   func(time.Time) { s.dropServerCaller(k, rec.CallID) },
		})
		return nil
	})
	if err == nil {
		err = stored
	}
	if err != nil {
		return record.Call{}, err
	}
	if rec.State == record.CallEnded && sc != nil {
		sc.Ended(rec) // ended at once (a busy callee); never registered
	}
	return rec, nil
}

// serverCaller is a registered ServerCaller and the call it placed.
type serverCaller struct {
	callID string
	sc     ServerCaller
}

func (s *Server) setServerCaller(k userKey, v serverCaller) {
	s.scMu.Lock()
	s.servers[k] = v
	s.scMu.Unlock()
}

func (s *Server) dropServerCaller(k userKey, callID string) {
	s.scMu.Lock()
	if v, ok := s.servers[k]; ok && v.callID == callID {
		delete(s.servers, k)
	}
	s.scMu.Unlock()
}

// serverCallerOf returns the ServerCaller that placed callID as k, if any.
func (s *Server) serverCallerOf(k userKey, callID string) ServerCaller {
	s.scMu.Lock()
	defer s.scMu.Unlock()
	if v, ok := s.servers[k]; ok && v.callID == callID {
		return v.sc
	}
	return nil
}

// isServerCaller reports whether k is a server-side caller of a live
// call: its presence is not the WebSocket sessions' business.
func (s *Server) isServerCaller(k userKey) bool {
	s.scMu.Lock()
	defer s.scMu.Unlock()
	_, ok := s.servers[k]
	return ok
}

// serverCallEnded tells a call's server-side caller that it ended and
// forgets it. Called under commitMu, after the call's last events.
func (s *Server) serverCallEnded(rec record.Call) {
	k := userKey{rec.SDKAppID, rec.Caller}
	if sc := s.serverCallerOf(k, rec.CallID); sc != nil {
		s.dropServerCaller(k, rec.CallID)
		sc.Ended(rec)
	}
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
