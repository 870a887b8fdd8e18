package signaling

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// hardFrameLimit is the largest message the reader drains and answers with
// CodeTooLarge; above it the connection is closed with 1009
// (docs/protocol.md §1).
const hardFrameLimit = 1 << 20

// Close codes of docs/protocol.md §3.
const (
	closeKicked     websocket.StatusCode = 4001
	closeSigExpired websocket.StatusCode = 4002
	closeLoginTime  websocket.StatusCode = 4003
	closeDead       websocket.StatusCode = 4004
	closeNoLogin    websocket.StatusCode = 4005
	closeReplaced   websocket.StatusCode = 4007
)

// session is one WebSocket connection. Its run loop handles requests one at
// a time; readLoop and writeLoop only move bytes (STYLE §1.4). Other
// goroutines reach a session only through its sendq and close.
type session struct {
	srv  *Server
	conn *websocket.Conn
	logp atomic.Pointer[slog.Logger] // replaced at login, read anywhere
	q    *sendq
	in   chan inbound
	done chan struct{} // closed by close
	// pingCtx ends with the session, so a ping waiting for its pong never
	// holds the writer past close.
	pingCtx    context.Context
	pingCancel context.CancelFunc

	closeOnce sync.Once
	closeCode websocket.StatusCode
	closeMsg  string
	flush     bool // write what is queued before closing

	lastRead  atomic.Int64 // unix ns of the last frame or pong (real clock)
	connected time.Time

	ip        string      // remote IP, for the per-IP limits
	authed    atomic.Bool // logged in once: the pre-login budget is over
	authOnce  sync.Once
	preLogins int // owned by the run loop: frames handled before login

	// Guarded by srv.mu: the login state.
	app        uint32
	user       string
	loggedIn   bool
	presence   bool
	status     bool   // subscribed to onUserStatus (directory.go)
	name       string // the display name in the directory, for onUserStatus
	sigExpires time.Time
	sig        string // the UserSig it logged in or renewed with ("" in dev)
	sigExpired bool
	sigEntry   *sigEntry

	replied bool // owned by the run loop: the current request's reply is queued
}

// inbound is what the reader hands the run loop: a frame, a frame-level
// error to answer, or the end of the connection.
type inbound struct {
	data []byte
	err  *Error
	eof  error
}

// newSession makes a session; its conn is set once the upgrade succeeds.
func newSession(srv *Server, log *slog.Logger) *session {
	c := &session{
		srv:       srv,
		q:         newSendq(srv.cfg.SendQueue, srv.cfg.PreLoginQueueBytes),
		in:        make(chan inbound),
		done:      make(chan struct{}),
		connected: time.Now(),
	}
	c.logp.Store(log)
	c.pingCtx, c.pingCancel = context.WithCancel(context.Background())
	c.touch()
	return c
}

func (c *session) logger() *slog.Logger { return c.logp.Load() }

// loginDone ends the pre-login state once: the connection no longer counts
// against its IP's cap of connections not logged in. Called at the first
// login and when the connection ends.
func (c *session) loginDone() {
	c.authOnce.Do(func() { c.srv.unauthed.done(c.ip) })
}

// authenticated lifts the pre-login budget after a successful login.
func (c *session) authenticated() {
	c.authed.Store(true)
	c.q.setMaxBytes(c.srv.cfg.SendQueueBytes)
	c.loginDone()
}

func (c *session) touch() { c.lastRead.Store(time.Now().UnixNano()) }

// close ends the session with a close code and reason. With flush the
// writer first sends what is queued (so a kicked session sees onKickedOut).
// Only the first call counts.
func (c *session) close(code websocket.StatusCode, reason string, flush bool) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeMsg, c.flush = code, reason, flush
		close(c.done)
		c.pingCancel()
	})
}

// closing reports whether close has been called.
func (c *session) closing() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// send queues an encoded message; a full queue drops the session.
func (c *session) send(b []byte) {
	if !c.q.push(b) {
		select {
		case <-c.done:
		default:
			c.logger().Warn("session dropped", "reason", "too slow")
			c.close(websocket.StatusPolicyViolation, "too slow", false)
		}
	}
}

// serve runs the session until it ends; it owns the reader and writer.
func (c *session) serve(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.readLoop(ctx) }()
	go func() { defer wg.Done(); c.writeLoop() }()
	c.run()
	c.srv.sessionGone(c)
	wg.Wait()
}

func (c *session) run() {
	timer := time.NewTimer(min(c.srv.cfg.LoginTimeout, c.srv.cfg.PingInterval))
	defer timer.Stop()
	for {
		select {
		case m := <-c.in:
			switch {
			case c.closing():
				// Frames read before a close (logout, kick-out, shutdown)
				// are dropped: a closing session must not act, above all
				// not log in and kick out someone else.
				return
			case m.eof != nil:
				c.close(websocket.StatusNormalClosure, "", false)
				return
			case !c.authed.Load() && c.preLogins >= c.srv.cfg.PreLoginRequests:
				c.logger().Info("session dropped", "reason", "too many requests before login")
				c.close(closeNoLogin, "too many requests before login", true)
				return
			case m.err != nil:
				c.preLogins++
				c.send(encodeReply(0, nil, m.err))
			default:
				c.preLogins++
				c.handle(m.data)
			}
		case <-timer.C:
			timer.Reset(c.keepalive(time.Now()))
		case <-c.done:
			return
		}
	}
}

// keepalive enforces the login deadline and the dead-connection rule, asks
// for a ping when the line has been idle, and returns when to look again.
// It uses the real clock: these are transport timers.
func (c *session) keepalive(now time.Time) time.Duration {
	cfg := &c.srv.cfg
	c.srv.mu.Lock()
	loggedIn := c.loggedIn
	c.srv.mu.Unlock()
	if !loggedIn && now.Sub(c.connected) >= cfg.LoginTimeout {
		c.close(closeLoginTime, "login timeout", true)
		return time.Hour
	}
	idle := now.Sub(time.Unix(0, c.lastRead.Load()))
	if idle >= cfg.DeadAfter {
		c.logger().Info("session dropped", "reason", "keep-alive timeout", "idle", idle)
		c.close(closeDead, "keep-alive timeout", false)
		return time.Hour
	}
	next := cfg.PingInterval
	if idle >= cfg.PingInterval {
		c.q.wantPing()
		next = min(cfg.PingInterval, cfg.DeadAfter-idle)
	} else {
		next = cfg.PingInterval - idle
	}
	if !loggedIn {
		next = min(next, cfg.LoginTimeout-now.Sub(c.connected))
	}
	return max(next, time.Millisecond)
}

// post hands m to the run loop unless the session is closing.
func (c *session) post(m inbound) bool {
	select {
	case c.in <- m:
		return true
	case <-c.done:
		return false
	}
}

func (c *session) readLoop(ctx context.Context) {
	for {
		typ, r, err := c.conn.Reader(ctx)
		if err != nil {
			c.post(inbound{eof: err})
			return
		}
		max := int64(c.srv.cfg.MaxFrame)
		if !c.authed.Load() {
			max = int64(c.srv.cfg.PreLoginFrame)
		}
		c.touch()
		if typ != websocket.MessageText {
			if _, err := io.Copy(io.Discard, r); err != nil {
				c.post(inbound{eof: err})
				return
			}
			c.post(inbound{err: errorf(CodeBadRequest, "binary frames are not accepted")})
			continue
		}
		b, err := io.ReadAll(io.LimitReader(r, max+1))
		if err == nil && int64(len(b)) > max {
			// Drain the rest (the hard limit closes with 1009 past 1 MiB)
			// so the connection stays usable after a too-large message.
			if _, err = io.Copy(io.Discard, r); err == nil {
				c.post(inbound{err: errorf(CodeTooLarge, "message larger than %d bytes", max)})
				continue
			}
		}
		if err != nil {
			c.post(inbound{eof: err})
			return
		}
		if !c.post(inbound{data: b}) {
			return
		}
	}
}

func (c *session) writeLoop() {
	for {
		select {
		case <-c.q.notify:
		case <-c.done:
			c.finish()
			return
		}
		items, ping := c.q.take()
		for _, b := range items {
			if err := c.write(b); err != nil {
				c.logger().Debug("write failed", "err", err)
				c.close(websocket.StatusAbnormalClosure, "write failed", false)
				c.finish()
				return
			}
		}
		clear(items) // drop references to written messages while idle
		if ping {
			c.ping()
		}
	}
}

func (c *session) write(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.WriteTimeout)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, b)
}

// ping sends a ping frame and waits for the pong (coder/websocket has no
// send-only ping), at most WriteTimeout and never past close. A pong that
// comes later still counts: OnPongReceived touches the session.
func (c *session) ping() {
	ctx, cancel := context.WithTimeout(c.pingCtx, c.srv.cfg.WriteTimeout)
	defer cancel()
	if err := c.conn.Ping(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		c.logger().Debug("ping failed", "err", err)
	}
}

// finish flushes (when asked) and closes the WebSocket. Called only by the
// writer, so nothing else writes concurrently with the close frame.
func (c *session) finish() {
	items := c.q.close()
	if c.flush {
		for _, b := range items {
			if c.write(b) != nil {
				break
			}
		}
	}
	if c.closeCode == websocket.StatusAbnormalClosure || c.closeCode == closeDead {
		// The line is broken or the peer silent: a close handshake would
		// only wait for its timeout.
		c.conn.CloseNow()
		return
	}
	if err := c.conn.Close(c.closeCode, c.closeMsg); err != nil {
		c.conn.CloseNow()
	}
}
