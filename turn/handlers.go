package turn

import (
	"net"

	pionturn "github.com/pion/turn/v4"
)

// authHandler checks the spec §5 username and returns the long-term key
// derived from the password we expect. pion then checks the request's
// MESSAGE-INTEGRITY against that key (with hmac.Equal, constant time); a
// mismatch, i.e. a bad password, is reported through OnAuth.
func (s *Server) authHandler(username, realm string, src net.Addr) ([]byte, bool) {
	user, err := checkUsername(username, s.cfg.Now())
	if err != nil {
		s.refuseAuth(src, username, user, err.Error())
		return nil, false
	}
	if realm != s.cfg.Realm {
		s.refuseAuth(src, username, user, "wrong realm")
		return nil, false
	}
	return pionturn.GenerateAuthKey(username, realm, password64(s.cfg.Secret, username)), true
}

func (s *Server) refuseAuth(src net.Addr, username, user, reason string) {
	s.authRefused.Add(1)
	if user == "" && len(username) > 64 {
		username = username[:64] + "..."
	}
	s.log.Info("turn auth refused", "reason", reason, "user_id", user, "username", username, "client", addrString(src))
}

// quotaHandler runs before pion creates an allocation (RFC 5766 §6.2 step 7:
// the quota is by username, not by client address).
func (s *Server) quotaHandler(username, _ string, src net.Addr) bool {
	user := userOf(username)
	if s.quota.reserve(user, src) {
		return true
	}
	s.quotaRefused.Add(1)
	s.log.Info("turn allocation refused", "reason", "user quota reached", "user_id", user,
		"quota", s.cfg.UserQuota, "client", addrString(src))
	return false
}

// events keeps the quota and the allocation count in step with pion.
func (s *Server) events() pionturn.EventHandler {
	return pionturn.EventHandler{
		OnAuth: func(src, _ net.Addr, _, username, _, method string, verdict bool) {
			if !verdict {
				s.refuseAuth(src, username, userOf(username), "bad password for "+method)
			}
		},
		OnAllocationCreated: func(src, _ net.Addr, proto, username, _ string, relay net.Addr, _ int) {
			user := userOf(username)
			if s.path != nil {
				s.path.Claim(src, relay)
			}
			s.quota.created(user, src)
			s.addLive(1)
			s.log.Debug("turn allocation created", "user_id", user, "client", addrString(src),
				"transport", proto, "relay", addrString(relay))
		},
		OnAllocationDeleted: func(src, _ net.Addr, _, username, _ string) {
			user := userOf(username)
			s.quota.deleted(user)
			s.addLive(-1)
			s.log.Debug("turn allocation deleted", "user_id", user, "client", addrString(src))
		},
		OnAllocationError: func(src, _ net.Addr, _, _ string) {
			// Any failed request releases a pending quota slot of its source;
			// pion logs the error itself (at Debug).
			s.quota.failed(src)
		},
	}
}

// addLive tracks live allocations so Close can wait for them to go.
func (s *Server) addLive(d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live += d
	if s.changed != nil {
		close(s.changed)
	}
	s.changed = make(chan struct{})
	if s.live == 0 && s.drained != nil {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
}

// allocChange returns the live allocation count and a channel closed at the
// next change, so tests and health checks can wait without polling.
func (s *Server) allocChange() (int, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.live, s.changed
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
