package signaling

import (
	"time"

	"callbox/signaling/call"
	"callbox/store"
)

// LiveCalls returns copies of every live call, oldest first.
func (s *Server) LiveCalls() []store.CallRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.engine.Live()
}

// EndCall ends a live call for everyone (admin console, REST end_call).
// Errors are *call.Error (ErrNoCall) or internal.
func (s *Server) EndCall(app uint32, callID string) error {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	tr, err := s.engine.End(now, app, callID)
	if err != nil {
		return err
	}
	if err := s.persist(tr, now); err != nil {
		return err
	}
	s.apply(tr, "")
	return nil
}

// StartCall starts a call on behalf of the server (REST
// start_call_by_robot). The caller is not joined to a media room by
// signaling: a server-side caller brings its own media.
func (s *Server) StartCall(inv call.Invite) (store.CallRecord, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	tr, err := s.engine.Call(now, inv)
	if err != nil {
		return store.CallRecord{}, err
	}
	if err := s.persist(tr, now); err != nil {
		return store.CallRecord{}, err
	}
	s.apply(tr, inv.Caller)
	return tr.Call, nil
}

// OnlineUsers returns the logged-in userIDs of an app, sorted.
func (s *Server) OnlineUsers(app uint32) []string {
	return s.onlineUsers(app, "")
}

// expireLocked fires every deadline due at now: ringing timeouts and
// reconnect graces of the engine, then UserSig expiries.
func (s *Server) expireLocked(now time.Time) {
	for _, tr := range s.engine.Expire(now) {
		if err := s.persist(tr, now); err != nil {
			s.log.Error("expire transition", "call_id", tr.Call.CallID, "err", err)
			continue
		}
		s.apply(tr, "")
	}
	s.expireSigsLocked(now)
}

// nextDeadlineLocked is the earliest engine or sig deadline.
func (s *Server) nextDeadlineLocked() (time.Time, bool) {
	next, ok := s.engine.NextDeadline()
	if len(s.sigs) > 0 && (!ok || s.sigs[0].at.Before(next)) {
		next, ok = s.sigs[0].at, true
	}
	return next, ok
}
