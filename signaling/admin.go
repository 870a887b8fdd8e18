package signaling

import (
	"time"

	"callbox/signaling/call"
	"callbox/signaling/call/record"
)

// LiveCalls returns copies of every live call, oldest first.
func (s *Server) LiveCalls() []record.Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.engine.Live()
}

// EndCall ends a live call for everyone (admin console, REST end_call).
// Errors are *call.Error (ErrNoCall) or internal.
func (s *Server) EndCall(app uint32, callID string) error {
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

// StartCall starts a call on behalf of the server (REST
// start_call_by_robot). The caller is not joined to a media room by
// signaling: a server-side caller brings its own media.
func (s *Server) StartCall(inv call.Invite) (record.Call, error) {
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
func (s *Server) OnlineUsers(app uint32) []string {
	return s.onlineUsers(app, "")
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
