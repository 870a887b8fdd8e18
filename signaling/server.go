// Package signaling owns callbox's WebSocket sessions (docs/protocol.md):
// login with a UserSig, presence, kick-out on a second login, UserSig expiry
// and renewal, keep-alive, per-connection send queues, and routing of
// requests to the call engine and of its events to the right sessions.
//
// It persists every engine transition (call record + webhook outbox, one
// store transaction) before anyone hears of it. It knows nothing about RTP:
// media goes through the Rooms interface, which the SFU implements.
package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"callbox/signaling/call"
	"callbox/signaling/usersig"
)

// Defaults applied by New to zero Config fields (docs/protocol.md §1, §3).
const (
	DefaultMaxFrame     = 64 << 10
	DefaultSendQueue    = 1024
	DefaultPingInterval = 20 * time.Second
	DefaultDeadAfter    = 45 * time.Second
	DefaultLoginTimeout = 10 * time.Second
	DefaultWriteTimeout = 5 * time.Second
	DefaultSigGrace     = 5 * time.Minute

	DefaultSendQueueBytes     = 4 << 20
	DefaultPreLoginFrame      = 8 << 10
	DefaultPreLoginRequests   = 20
	DefaultPreLoginQueueBytes = 16 << 10
	DefaultMaxPendingPerIP    = 16
)

// Default rate limits (docs/protocol.md §1): login attempts per IP and per
// user, and call setups per user.
var (
	DefaultLoginRate     = Rate{Burst: 60, Every: time.Second}
	DefaultUserLoginRate = Rate{Burst: 10, Every: 6 * time.Second}
	DefaultCallRate      = Rate{Burst: 10, Every: 3 * time.Second}
)

// Committer stores call engine transitions durably: each one's call record
// and webhook outbox entries, a batch in one transaction, all or nothing.
// Nobody hears of a transition before Commit has returned nil for it.
type Committer interface {
	Commit(ctx context.Context, batch []call.Transition) error
}

// Rooms is the media side as signaling sees it; the SFU implements it.
// room is "<sdkappid>/<roomID>". send delivers an SFU message to the user's
// current session as a "media" event; it never blocks.
type Rooms interface {
	Join(room, userID string, send func(json.RawMessage)) (RoomPeer, error)
}

// RoomPeer is one user's presence in a media room.
type RoomPeer interface {
	// Handle takes the data of a client "media" message (docs/media.md).
	Handle(msg json.RawMessage) error
	Leave()
}

// Config configures a Server. Zero fields get the Default* values.
type Config struct {
	// Committer stores the engine's transitions (required); appliance
	// implements it over the store.
	Committer Committer
	// Keys looks app keys up for UserSig checks (required).
	Keys   usersig.KeyFunc
	Engine call.Config
	Rooms  Rooms // nil = no media; "media" requests get CodeNoMedia
	// ICEServers returns the RTCIceServer list for a user's login reply;
	// nil = none.
	ICEServers func(userID string, now time.Time) any
	Now        func() time.Time // the call/sig clock; default time.Now
	// Alarm returns a channel that receives once the call/sig clock has
	// reached at, and a func that cancels it. It is the clock's timer:
	// a test with a fake Now gives one that fires when the fake clock is
	// moved. Default: a time.Timer for at minus Now().
	Alarm  func(at time.Time) (fired <-chan time.Time, stop func())
	Logger *slog.Logger
	// Directory keeps the user directory, contact lists and call history
	// the web app reads (docs/protocol.md §4.15–4.18); nil: those requests
	// are refused and login records nobody.
	Directory Directory
	// DevLogin accepts a login without a UserSig (callbox serve --dev).
	DevLogin bool
	// OriginPatterns are extra allowed browser origins, as coder/websocket
	// matches them: "host[:port]" or "scheme://host[:port]" patterns (as
	// in path.Match; with a scheme, scheme and port must match too). The
	// request's own host is always allowed.
	OriginPatterns []string

	// OnCommit, when set, is told the size and store time of every batch
	// of transitions committed (for metrics and benchmarks). It is called
	// under the commit lock and must return quickly.
	OnCommit func(transitions int, took time.Duration)
	// Metrics, when set, counts logins, call setups and results and the
	// invite-delivery latency (metrics.go).
	Metrics *Metrics

	MaxFrame       int // largest accepted message, bytes
	SendQueue      int // messages queued per connection before "too slow"
	SendQueueBytes int // bytes queued per logged-in connection before "too slow"

	// A connection that has not logged in gets a small budget: frames of
	// at most PreLoginFrame bytes, PreLoginRequests requests (then it is
	// closed), PreLoginQueueBytes of replies queued.
	PreLoginFrame      int
	PreLoginRequests   int
	PreLoginQueueBytes int
	// MaxPendingPerIP caps the connections per remote IP that have not
	// logged in; more get HTTP 429. Negative: no cap.
	MaxPendingPerIP int
	// LoginRate limits login attempts per remote IP, UserLoginRate per
	// app and userID, CallRate call setups (call, groupCall) per app and
	// userID. Over the limit a request gets CodeRateLimited.
	LoginRate     Rate
	UserLoginRate Rate
	CallRate      Rate

	PingInterval time.Duration // idle time before a ping
	DeadAfter    time.Duration // silence after which a connection is dead
	LoginTimeout time.Duration // time to log in after connecting
	WriteTimeout time.Duration // per message write deadline
	SigGrace     time.Duration // how long an expired sig may keep a session
}

func (c *Config) withDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.SendQueue <= 0 {
		c.SendQueue = DefaultSendQueue
	}
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defInt(&c.SendQueueBytes, DefaultSendQueueBytes)
	defInt(&c.PreLoginFrame, DefaultPreLoginFrame)
	defInt(&c.PreLoginRequests, DefaultPreLoginRequests)
	defInt(&c.PreLoginQueueBytes, DefaultPreLoginQueueBytes)
	defInt(&c.MaxPendingPerIP, DefaultMaxPendingPerIP)
	defRate := func(r *Rate, d Rate) {
		if r.Burst == 0 {
			*r = d
		}
	}
	defRate(&c.LoginRate, DefaultLoginRate)
	defRate(&c.UserLoginRate, DefaultUserLoginRate)
	defRate(&c.CallRate, DefaultCallRate)
	def(&c.PingInterval, DefaultPingInterval)
	def(&c.DeadAfter, DefaultDeadAfter)
	def(&c.LoginTimeout, DefaultLoginTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.SigGrace, DefaultSigGrace)
	if c.Engine.MaxInvitees <= 0 {
		c.Engine.MaxInvitees = call.DefaultMaxInvitees
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Alarm == nil {
		now := c.Now
		c.Alarm = func(at time.Time) (<-chan time.Time, func()) {
			t := time.NewTimer(max(at.Sub(now()), 0))
			return t.C, func() { t.Stop() }
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server is the signaling endpoint. Create it with New, mount it at /ws,
// and run Run for its timers.
type Server struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{} // capacity 1: deadlines changed, look again

	// mu guards the engine, the queue of transitions to commit, the login
	// state of sessions and the sig heap. Held only for in-memory work;
	// never while storing or doing I/O (sends only enqueue).
	mu      sync.Mutex
	engine  *call.Engine
	pending []commitItem
	sigs    sigHeap
	// armed is the deadline Run's alarm is set for (zero: none, an idle
	// hour). Any change that makes an earlier deadline wakes Run
	// (rearmLocked), whether or not it produced events.
	armed time.Time
	// retryAt holds Run back after a failed commit, so that work put back
	// by the failure (an expiry, an offline) is not retried in a hot loop.
	retryAt time.Time

	unauthed   pendingConns // connections per IP not logged in
	ipLogins   *limiter
	userLogins *limiter
	callSetups *limiter

	// commitMu is held by the one goroutine storing and delivering a batch
	// of transitions (commit.go). Taken before mu, never under it.
	commitMu sync.Mutex

	// peersMu guards peers (a leaf lock; Join/Leave run under commitMu).
	peersMu sync.Mutex
	peers   map[peerKey]RoomPeer

	// scMu guards servers, the server-side callers (Calls.Start) by user
	// (a leaf lock: taken under mu and commitMu).
	scMu    sync.Mutex
	servers map[userKey]serverCaller

	// regMu guards the session registry. It is a leaf lock: room send
	// callbacks take it from SFU goroutines, so nothing is called under it.
	regMu    sync.RWMutex
	users    map[userKey]*session             // the current session of a logged-in user
	apps     map[uint32]map[string]*session   // app -> user -> session
	watchers map[uint32]map[*session]struct{} // presence subscribers per app
	conns    map[*session]struct{}            // every open connection
	inCall   map[userKey]bool                 // joined to a live call (directory.go)
	closing  bool                             // Shutdown started
	nconn    int                              // serve calls in flight
	drained  chan struct{}                    // closed once closing and nconn == 0
}

type userKey struct {
	app  uint32
	user string
}

type peerKey struct {
	app    uint32
	user   string
	callID string
}

// New checks cfg and returns a Server. It starts no goroutines.
func New(cfg Config) (*Server, error) {
	if cfg.Committer == nil || cfg.Keys == nil {
		return nil, errors.New("signaling: Config.Committer and Config.Keys are required")
	}
	cfg.withDefaults()
	return &Server{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "signaling"),
		wake:     make(chan struct{}, 1),
		engine:   call.New(cfg.Engine),
		peers:    make(map[peerKey]RoomPeer),
		servers:  make(map[userKey]serverCaller),
		users:    make(map[userKey]*session),
		apps:     make(map[uint32]map[string]*session),
		watchers: make(map[uint32]map[*session]struct{}),
		conns:    make(map[*session]struct{}),
		inCall:   make(map[userKey]bool),
		drained:  make(chan struct{}),

		unauthed:   pendingConns{max: cfg.MaxPendingPerIP, n: make(map[string]int)},
		ipLogins:   newLimiter(cfg.LoginRate),
		userLogins: newLimiter(cfg.UserLoginRate),
		callSetups: newLimiter(cfg.CallRate),
	}, nil
}

// ServeHTTP upgrades to a WebSocket and serves the session until it ends.
// The browser Origin must be the request's host or match
// Config.OriginPatterns (coder/websocket's check).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ip := remoteIP(r)
	if !s.unauthed.add(ip) {
		s.log.Debug("connection refused", "reason", "too many connections not logged in", "remote", r.RemoteAddr)
		http.Error(w, "too many connections that have not logged in", http.StatusTooManyRequests)
		return
	}
	c := newSession(s, s.log.With("remote", r.RemoteAddr))
	c.ip = ip
	defer c.loginDone()
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		OriginPatterns: s.cfg.OriginPatterns,
		OnPongReceived: func(context.Context, []byte) { c.touch() },
	})
	if err != nil {
		c.pingCancel()
		s.log.Debug("websocket accept", "err", err, "remote", r.RemoteAddr)
		return
	}
	conn.SetReadLimit(hardFrameLimit)
	c.conn = conn
	if !s.addConn(c) {
		c.pingCancel()
		conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer s.connDone()
	// The request context ends when the handler returns; the session's
	// own close is what stops it.
	c.serve(context.WithoutCancel(r.Context()))
}

// addConn registers a connection unless Shutdown has begun.
func (s *Server) addConn(c *session) bool {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	s.nconn++
	return true
}

// connDone counts a served connection out; the last one after Shutdown
// began releases Shutdown's wait.
func (s *Server) connDone() {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	s.nconn--
	s.drainedLocked()
}

// drainedLocked closes drained once Shutdown has begun and no connection
// is served. Called with regMu held.
func (s *Server) drainedLocked() {
	if s.closing && s.nconn == 0 {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
}

// Kick makes Run look at its deadlines now.
func (s *Server) Kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// rearmLocked wakes Run when the earliest engine or sig deadline is now
// before the one its alarm is set for. Every change to the engine or the
// sig heap ends with it (engineDo, setSigLocked), so a deadline set by a
// transition that carries no events (a dropped connection's reconnect
// grace) is armed as surely as one that does. Called with s.mu held.
func (s *Server) rearmLocked() {
	if next, ok := s.nextDeadlineLocked(); ok && (s.armed.IsZero() || next.Before(s.armed)) {
		s.Kick()
	}
}

// idleWake is how long Run sleeps with no deadline at all.
const idleWake = time.Hour

// Run owns the one timer of the server: engine deadlines (ringing timeouts,
// reconnect grace) and UserSig expiries. It returns when ctx ends.
func (s *Server) Run(ctx context.Context) error {
	for {
		now := s.cfg.Now()
		s.mu.Lock()
		held := now.Before(s.retryAt)
		if !held {
			s.expireLocked(now)
		}
		work := !held && len(s.pending) > 0
		s.mu.Unlock()
		if work {
			s.flush()
		}
		s.mu.Lock()
		next, ok := s.nextDeadlineLocked()
		if ok && now.Before(s.retryAt) {
			next = maxTime(next, s.retryAt)
		}
		if ok {
			s.armed = next
		} else if now.Before(s.retryAt) && len(s.pending) > 0 {
			s.armed, next = s.retryAt, s.retryAt
		} else {
			s.armed, next = time.Time{}, now.Add(idleWake)
		}
		s.mu.Unlock()
		fired, stop := s.cfg.Alarm(next)
		select {
		case <-ctx.Done():
			stop()
			return nil
		case <-fired:
		case <-s.wake:
		}
		stop()
	}
}

// Shutdown closes every session with "server shutting down" and waits for
// them to end, or for ctx. It starts no goroutine, so returning early on
// ctx leaves nothing behind; the sessions still end on their own (each
// closes its connection within the write timeout). It may be called again.
func (s *Server) Shutdown(ctx context.Context) error {
	s.regMu.Lock()
	s.closing = true
	s.drainedLocked()
	conns := make([]*session, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.regMu.Unlock()
	for _, c := range conns {
		c.close(websocket.StatusGoingAway, "server shutting down", true)
	}
	select {
	case <-s.drained:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("signaling shutdown: %w", ctx.Err())
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
