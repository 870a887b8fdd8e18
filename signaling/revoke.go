package signaling

import (
	"github.com/coder/websocket"

	"callbox/signaling/usersig"
)

// Close codes of revocation (docs/protocol.md §3).
const closeAppDeleted websocket.StatusCode = 4006

// AppKeyChanged applies an app's new key to its live sessions: a session
// whose UserSig no longer verifies gets onUserSigExpired and is closed
// (4002, "usersig revoked"); its call part then ends as after any drop.
// Sessions logged in without a sig (--dev) stay. Call it after the new
// key is stored.
func (s *Server) AppKeyChanged(app uint32) int {
	now := s.cfg.Now()
	n := 0
	for _, c := range s.sessionsOf(app) {
		s.mu.Lock()
		sig, user, ok := c.sig, c.user, c.loggedIn
		s.mu.Unlock()
		if !ok || sig == "" {
			continue
		}
		if _, err := usersig.Verify(sig, app, user, s.keyFor, now); err == nil {
			continue
		}
		if b, err := encodeEvent("onUserSigExpired", "", map[string]int64{"expiresAt": now.Unix()}); err == nil {
			c.send(b)
		}
		c.logger().Info("session dropped", "reason", "usersig revoked")
		c.close(closeSigExpired, "usersig revoked", true)
		n++
	}
	return n
}

// AppDeleted ends everything of a deleted app at once: its live calls are
// dropped without records (the app is gone; the Committer writes nothing
// for it either), and every session is closed (4006, "app deleted").
func (s *Server) AppDeleted(app uint32) {
	s.mu.Lock()
	s.engine.DropApp(app)
	s.mu.Unlock()
	s.peersMu.Lock()
	var gone []RoomPeer
	for k, p := range s.peers {
		if k.app == app {
			gone = append(gone, p)
			delete(s.peers, k)
		}
	}
	s.peersMu.Unlock()
	for _, p := range gone {
		p.Leave()
	}
	for _, c := range s.sessionsOf(app) {
		c.logger().Info("session dropped", "reason", "app deleted")
		c.close(closeAppDeleted, "app deleted", true)
	}
}

// sessionsOf returns the logged-in sessions of an app.
func (s *Server) sessionsOf(app uint32) []*session {
	s.regMu.RLock()
	defer s.regMu.RUnlock()
	out := make([]*session, 0, len(s.apps[app]))
	for _, c := range s.apps[app] {
		out = append(out, c)
	}
	return out
}
