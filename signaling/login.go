package signaling

import (
	"container/heap"
	"fmt"
	"slices"
	"time"

	"github.com/coder/websocket"

	"callbox/signaling/call"
	"callbox/signaling/call/record"
	"callbox/signaling/usersig"
)

type loginReply struct {
	Version    int      `json:"version"`
	UserID     string   `json:"userID"`
	SDKAppID   uint32   `json:"sdkappid"`
	ExpiresAt  int64    `json:"expiresAt,omitempty"`
	ICEServers any      `json:"iceServers,omitempty"`
	Online     []string `json:"online,omitzero"` // non-nil with presence
	Resumed    bool     `json:"resumed"`
}

// keyFor looks an app's key up for usersig.Verify.
func (s *Server) keyFor(app uint32) (string, error) { return s.cfg.Keys(app) }

// login implements docs/protocol.md §4.1 and the kick-out of §3.3.
func (c *session) login(req Request) (any, error) {
	var d loginData
	if err := decodeData(req, &d); err != nil {
		return nil, err
	}
	if d.Version == 0 {
		d.Version = ProtocolVersion
	}
	if d.Version != ProtocolVersion {
		return nil, errorf(CodeVersion, "protocol version %d not supported (this server speaks %d)", d.Version, ProtocolVersion)
	}
	if err := usersig.ValidUserID(d.UserID); err != nil {
		return nil, &Error{Code: CodeInvalidUser, Msg: err.Error()}
	}
	if d.Name != "" {
		if err := validName(d.Name); err != nil {
			return nil, &Error{Code: CodeBadRequest, Msg: err.Error()}
		}
	}
	s := c.srv
	s.mu.Lock()
	already, as := c.loggedIn, c.user
	s.mu.Unlock()
	if already {
		// Before the sig check, so the answer does not depend on it.
		return nil, errorf(CodeAlreadyLoggedIn, "already logged in as %q", as)
	}
	now := s.cfg.Now()
	if !s.ipLogins.allow(c.ip, now) {
		return nil, errorf(CodeRateLimited, "too many login attempts from this address; retry later")
	}
	if !s.userLogins.allow(fmt.Sprintf("%d/%s", d.SDKAppID, d.UserID), now) {
		return nil, errorf(CodeRateLimited, "too many login attempts for this user; retry later")
	}
	var expires time.Time
	if d.UserSig != "" || !s.cfg.DevLogin {
		info, err := usersig.Verify(d.UserSig, d.SDKAppID, d.UserID, s.keyFor, now)
		if err != nil {
			return nil, err
		}
		expires = info.ExpiresAt
	} else if _, err := s.keyFor(d.SDKAppID); err != nil {
		return nil, err // dev login still needs a real app
	}
	var name string
	if s.cfg.Directory != nil {
		// Stored before the reply: the user is in the directory for
		// everyone who lists contacts after this login.
		ctx, cancel := s.dirCtx()
		var err error
		name, err = s.cfg.Directory.SignedIn(ctx, d.SDKAppID, d.UserID, d.Name, now)
		cancel()
		if err != nil {
			return nil, &Error{Code: CodeInternal, Msg: "internal error", Err: err}
		}
	}

	var kicked, replaced bool
	err := s.engineDo(func(now time.Time) error {
		if c.loggedIn {
			return errorf(CodeAlreadyLoggedIn, "already logged in as %q", c.user)
		}
		if c.closing() {
			// Closed (logout, shutdown) while the sig was checked: a
			// dying session must not register, nor kick out a live one.
			return errorf(CodeNotLoggedIn, "connection closing")
		}
		switch old := s.current(userKey{d.SDKAppID, d.UserID}); {
		case old != nil && d.Resume:
			replaced = true
			s.replaceLocked(old, now)
		case old != nil:
			kicked = true
			s.kickLocked(old, now)
		}
		c.app, c.user, c.presence, c.status = d.SDKAppID, d.UserID, d.Presence || d.Status, d.Status
		c.name = name
		c.loggedIn = true
		c.sig = d.UserSig
		c.authenticated()
		c.logp.Store(c.logger().With("app_id", c.app, "user_id", c.user))
		c.setSigLocked(expires)
		s.register(c, !kicked && !replaced)
		wasJoined := false
		for _, id := range s.engine.CallsOf(c.app, c.user) {
			rec, ok := s.engine.Get(c.app, id)
			wasJoined = wasJoined || ok && isJoined(rec, c.user)
		}
		rep := loginReply{Version: ProtocolVersion, UserID: c.user, SDKAppID: c.app, Resumed: wasJoined}
		if !expires.IsZero() {
			rep.ExpiresAt = expires.Unix()
		}
		if s.cfg.ICEServers != nil {
			rep.ICEServers = s.cfg.ICEServers(c.user, now)
		}
		if c.presence {
			rep.Online = s.onlineUsers(c.app, c.user)
		}
		tr, err := s.engine.Online(now, c.app, c.user)
		if err != nil {
			// The login stands; a pending invitation just is not re-sent.
			c.logger().Error("online transition", "err", err)
			tr = call.Transition{}
		}
		// The reply goes out ahead of the events Online causes (an
		// invitation still ringing, §4.1). When the batch cannot be
		// stored, the login is taken back with it.
		s.enqueueLocked(commitItem{tr: tr, now: now, before: func(_ record.Call, err error) {
			s.cfg.Metrics.login(err)
			c.send(encodeReply(req.ID, rep, err))
		}, undo: func(time.Time) {
			if c.loggedIn {
				c.loggedIn = false
				s.removeSigLocked(c)
				s.unregister(c, true)
			}
		}})
		c.replied = true
		return nil
	})
	if err == nil {
		c.logger().Info("logged in", "kicked_previous", kicked, "replaced_previous", replaced)
	}
	return nil, err
}

// kickLocked replaces old by a new login of the same user (§3.3): old hears
// onKickedOut + onKickedOffline, its call part ends as a hang-up, then it
// is closed. Called with s.mu held.
func (s *Server) kickLocked(old *session, now time.Time) {
	old.loggedIn = false
	s.removeSigLocked(old)
	for _, name := range []string{"onKickedOut", "onKickedOffline"} {
		if b, err := encodeEvent(name, "", struct{}{}); err == nil {
			old.send(b)
		}
	}
	old.close(closeKicked, "kicked out: logged in elsewhere", true)
	s.unregister(old, false)
	s.kickedOutLocked(old, now)
	old.logger().Info("kicked out by a second login")
}

// replaceLocked hands a user's session over to a resuming login of the
// same client (§3.6): the old connection, most likely dead without a close
// the server has seen yet, is closed quietly, and the user goes offline
// for an instant, so that the new session's login resumes its call inside
// the reconnect grace rather than hanging it up. Called with s.mu held.
func (s *Server) replaceLocked(old *session, now time.Time) {
	old.loggedIn = false
	s.removeSigLocked(old)
	old.close(closeReplaced, "replaced by a resumed session", false)
	s.unregister(old, false)
	s.offlineLocked(old, now)
	old.logger().Info("replaced by a resumed session")
}

// kickedOutLocked ends a kicked-out session's call part in the engine.
// The session is closed for good, so when the commit fails the work is
// queued again rather than taken back. Called with s.mu held.
func (s *Server) kickedOutLocked(old *session, now time.Time) {
	if s.isServerCaller(userKey{old.app, old.user}) {
		return // the robot's call is not this session's (Calls.Start)
	}
	tr, err := s.engine.KickedOut(now, old.app, old.user)
	if err != nil {
		old.logger().Error("kick-out transition", "err", err)
		return
	}
	s.enqueueLocked(commitItem{tr: tr, now: now, undo: func(now time.Time) { s.kickedOutLocked(old, now) }})
}

// renewSig implements §4.2.
func (c *session) renewSig(req Request) (any, error) {
	var d renewData
	if err := decodeData(req, &d); err != nil {
		return nil, err
	}
	s := c.srv
	now := s.cfg.Now()
	info, err := usersig.Verify(d.UserSig, c.app, c.user, s.keyFor, now)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := c.stillLoggedInLocked(); err != nil {
		return nil, err // kicked out while the sig was checked
	}
	c.setSigLocked(info.ExpiresAt)
	c.sig = d.UserSig
	return map[string]int64{"expiresAt": info.ExpiresAt.Unix()}, nil
}

// logout implements §3.5: the call part ends as a hang-up, then close 1000.
func (c *session) logout(req Request) (any, error) {
	s := c.srv
	return nil, s.engineDo(func(now time.Time) error {
		for _, id := range s.engine.CallsOf(c.app, c.user) {
			rec, ok := s.engine.Get(c.app, id)
			if !ok || !isJoined(rec, c.user) || s.isServerCaller(userKey{c.app, c.user}) {
				continue
			}
			tr, err := s.engine.Hangup(now, c.app, c.user, id)
			if err != nil {
				c.logger().Error("logout hang-up", "err", err)
				continue
			}
			s.enqueueLocked(commitItem{tr: tr, now: now})
		}
		s.goneLocked(c, now)
		s.enqueueLocked(commitItem{now: now, before: func(_ record.Call, err error) {
			c.send(encodeReply(req.ID, nil, err))
			if err == nil {
				c.close(websocket.StatusNormalClosure, "logout", true)
			}
		}})
		c.replied = true
		return nil
	})
}

// sessionGone is called once when a session's loop ends: a user whose
// current session this was goes offline (§3.6).
func (s *Server) sessionGone(c *session) {
	s.engineDo(func(now time.Time) error {
		s.goneLocked(c, now)
		return nil
	})
	s.regMu.Lock()
	delete(s.conns, c)
	s.regMu.Unlock()
}

// goneLocked takes c out of the registry and tells the engine the user
// is offline, unless that already happened (logout, kick-out).
func (s *Server) goneLocked(c *session, now time.Time) {
	s.removeSigLocked(c)
	if !c.loggedIn {
		return
	}
	c.loggedIn = false
	s.unregister(c, true)
	s.offlineLocked(c, now)
	c.logger().Info("logged out")
}

// offlineLocked tells the engine c's user went offline. When the commit
// fails: a logout (c still open) is taken back, the session stays logged
// in and the client may retry; a closed connection's offline is queued
// again, since nobody else will. Called with s.mu held.
func (s *Server) offlineLocked(c *session, now time.Time) {
	if s.isServerCaller(userKey{c.app, c.user}) {
		return // the robot's call is not this session's (Calls.Start)
	}
	tr, err := s.engine.Offline(now, c.app, c.user)
	if err != nil {
		c.logger().Error("offline transition", "err", err)
		return
	}
	s.enqueueLocked(commitItem{tr: tr, now: now, undo: func(now time.Time) {
		if c.closing() {
			s.offlineLocked(c, now)
			return
		}
		if !c.loggedIn && s.current(userKey{c.app, c.user}) == nil {
			c.loggedIn = true
			s.register(c, true)
			c.setSigLocked(c.sigExpires)
		}
	}})
}

func (c *session) presenceReq(Request) (any, error) {
	c.srv.regMu.RLock()
	defer c.srv.regMu.RUnlock()
	return map[string][]string{"online": c.srv.onlineUsersRLocked(c.app, c.user)}, nil
}

// current returns the logged-in session of a user, or nil.
func (s *Server) current(k userKey) *session {
	s.regMu.RLock()
	defer s.regMu.RUnlock()
	return s.users[k]
}

// register makes c the user's current session; announce publishes
// onUserOnline to the app's presence subscribers.
func (s *Server) register(c *session, announce bool) {
	k := userKey{c.app, c.user}
	var ev []byte
	if announce {
		ev, _ = encodeEvent("onUserOnline", "", map[string]string{"userID": c.user})
	}
	s.regMu.Lock()
	defer s.regMu.Unlock()
	s.users[k] = c
	if s.apps[c.app] == nil {
		s.apps[c.app] = make(map[string]*session)
	}
	s.apps[c.app][c.user] = c
	if ev != nil {
		s.notifyWatchersRLocked(c.app, c, ev)
		s.notifyStatusRLocked(c.app, c.user, c.name)
	}
	if c.presence {
		if s.watchers[c.app] == nil {
			s.watchers[c.app] = make(map[*session]struct{})
		}
		s.watchers[c.app][c] = struct{}{}
	}
}

// unregister removes c (if it is still current); announce publishes
// onUserOffline.
func (s *Server) unregister(c *session, announce bool) {
	k := userKey{c.app, c.user}
	s.regMu.Lock()
	defer s.regMu.Unlock()
	delete(s.watchers[c.app], c)
	if s.users[k] != c {
		return
	}
	delete(s.users, k)
	delete(s.apps[c.app], c.user)
	if len(s.apps[c.app]) == 0 {
		delete(s.apps, c.app)
	}
	if announce {
		if ev, err := encodeEvent("onUserOffline", "", map[string]string{"userID": c.user}); err == nil {
			s.notifyWatchersRLocked(c.app, c, ev)
		}
		s.notifyStatusRLocked(c.app, c.user, "")
	}
}

func (s *Server) notifyWatchersRLocked(app uint32, except *session, ev []byte) {
	for w := range s.watchers[app] {
		if w != except {
			w.send(ev)
		}
	}
}

func (s *Server) onlineUsers(app uint32, except string) []string {
	s.regMu.RLock()
	defer s.regMu.RUnlock()
	return s.onlineUsersRLocked(app, except)
}

func (s *Server) onlineUsersRLocked(app uint32, except string) []string {
	out := make([]string, 0, len(s.apps[app]))
	for u := range s.apps[app] {
		if u != except {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

// UserSig expiry (§3.4): one heap entry per logged-in session with a sig.

type sigEntry struct {
	at    time.Time
	c     *session
	grace bool // at is the end of the grace, not the expiry
	idx   int
}

type sigHeap []*sigEntry

func (h sigHeap) Len() int           { return len(h) }
func (h sigHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h sigHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *sigHeap) Push(x any) { e := x.(*sigEntry); e.idx = len(*h); *h = append(*h, e) }
func (h *sigHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.idx = -1
	return e
}

// setSigLocked records a (new) sig expiry for c; zero means none. A sig
// is valid through the second of its expiry (tencent-compat.md §1), so
// the session expires one second later.
func (c *session) setSigLocked(expires time.Time) {
	s := c.srv
	s.removeSigLocked(c)
	c.sigExpires, c.sigExpired = expires, false
	if expires.IsZero() {
		return
	}
	c.sigEntry = &sigEntry{at: expires.Add(time.Second), c: c}
	heap.Push(&s.sigs, c.sigEntry)
	s.rearmLocked()
}

func (s *Server) removeSigLocked(c *session) {
	if c.sigEntry != nil && c.sigEntry.idx >= 0 {
		heap.Remove(&s.sigs, c.sigEntry.idx)
	}
	c.sigEntry = nil
}

// expireSigsLocked fires the sig deadlines due at now.
func (s *Server) expireSigsLocked(now time.Time) {
	for len(s.sigs) > 0 && !s.sigs[0].at.After(now) {
		e := heap.Pop(&s.sigs).(*sigEntry)
		c := e.c
		c.sigEntry = nil
		if !e.grace {
			c.sigExpired = true
			if b, err := encodeEvent("onUserSigExpired", "", map[string]int64{"expiresAt": c.sigExpires.Unix()}); err == nil {
				c.send(b)
			}
			c.sigEntry = &sigEntry{at: e.at.Add(s.cfg.SigGrace), c: c, grace: true}
			heap.Push(&s.sigs, c.sigEntry)
			c.logger().Info("usersig expired")
			continue
		}
		c.logger().Info("session dropped", "reason", "usersig expired")
		c.close(closeSigExpired, "usersig expired", true)
	}
}
