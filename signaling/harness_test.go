package signaling_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"callbox/appliance/callstore"
	"callbox/appliance/userdir"
	"callbox/signaling"
	"callbox/signaling/client"
	"callbox/signaling/usersig"
	"callbox/store"
)

// fakeClock is the call/sig clock of a test server. It is also the
// server's timer (Config.Alarm): Advance fires the alarms it passes, and
// nothing else wakes the server, so a deadline the server failed to arm
// stays unfired however far the clock moves.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	alarms map[*fakeAlarm]struct{}
}

type fakeAlarm struct {
	at time.Time
	c  chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Alarm implements signaling.Config.Alarm.
func (c *fakeClock) Alarm(at time.Time) (<-chan time.Time, func()) {
	a := &fakeAlarm{at: at, c: make(chan time.Time, 1)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !at.After(c.now) {
		a.c <- c.now
		return a.c, func() {}
	}
	if c.alarms == nil {
		c.alarms = make(map[*fakeAlarm]struct{})
	}
	c.alarms[a] = struct{}{}
	return a.c, func() {
		c.mu.Lock()
		delete(c.alarms, a)
		c.mu.Unlock()
	}
}

// Advance moves the clock by d and fires the alarms due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for a := range c.alarms {
		if !a.at.After(c.now) {
			a.c <- c.now
			delete(c.alarms, a)
		}
	}
}

type harness struct {
	t     *testing.T
	srv   *signaling.Server
	st    *store.Store
	url   string
	app   store.App
	clock *fakeClock
}

// newHarness starts a real server (real store file, loopback HTTP, Run
// loop) with a fake clock; mod may change the config.
func newHarness(t *testing.T, mod func(*signaling.Config)) *harness {
	t.Helper()
	return newHarnessBuf(t, mod, 0)
}

// newHarnessBuf is newHarness whose server sockets have a send buffer of
// sndbuf bytes (0 = the system's), so a client that stops reading fills
// them quickly.
func newHarnessBuf(t *testing.T, mod func(*signaling.Config), sndbuf int) *harness {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "callbox.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := &fakeClock{now: time.Now().Truncate(time.Second)}
	app, err := st.CreateApp("test", clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	cs := callstore.New(st, callstore.Options{Now: clock.Now})
	cfg := signaling.Config{Committer: cs, Keys: cs.AppKey, Directory: userdir.New(st), Now: clock.Now, Alarm: clock.Alarm, Logger: testLogger(t)}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := signaling.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv)
	if sndbuf > 0 {
		ts.Listener = smallBufListener{ts.Listener, sndbuf}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return &harness{t: t, srv: srv, st: st, url: "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws", app: app, clock: clock}
}

// sig issues a UserSig valid for d from the fake clock's now.
func (h *harness) sig(user string, d time.Duration) string {
	h.t.Helper()
	s, err := usersig.Issue(h.app.SDKAppID, h.app.Key, user, d, h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// login connects a logged-in client, closed at the end of the test.
func (h *harness) login(user string, presence bool) *client.Client {
	h.t.Helper()
	c, _ := h.loginReply(user, presence)
	return c
}

func (h *harness) loginReply(user string, presence bool) (*client.Client, client.LoginReply) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, rep, err := client.Dial(ctx, h.url, h.app.SDKAppID, user, h.sig(user, 24*time.Hour), &client.Options{Presence: presence})
	if err != nil {
		h.t.Fatalf("login %s: %v", user, err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c, rep
}

// raw connects without logging in.
func (h *harness) raw() *client.Client {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.DialRaw(ctx, h.url, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// expect waits for the named event (skipping others) and returns it.
func expect(t *testing.T, c *client.Client, name string) client.Event {
	t.Helper()
	ev, err := c.WaitFor(ctxT(t), client.Named(name))
	if err != nil {
		t.Fatalf("waiting for %s: %v", name, err)
	}
	return ev
}

// nextEvents reads events until the named one and returns every name
// seen on the way, in order (the named one last).
func eventsUntil(t *testing.T, c *client.Client, name string) []string {
	t.Helper()
	var seen []string
	_, err := c.WaitFor(ctxT(t), func(ev client.Event) bool {
		seen = append(seen, ev.Name)
		return ev.Name == name
	})
	if err != nil {
		t.Fatalf("waiting for %s (saw %v): %v", name, seen, err)
	}
	return seen
}

// wantCode checks that err is a protocol error with code.
func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	ce, ok := err.(*client.Error)
	if !ok {
		t.Fatalf("got error %v, want code %d", err, code)
	}
	if ce.Code != code {
		t.Fatalf("got code %d (%s), want %d", ce.Code, ce.Msg, code)
	}
}

func field(t *testing.T, ev client.Event, name string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		t.Fatalf("%s data: %v", ev.Name, err)
	}
	return m[name]
}

// waitClosed waits for the server to close c and returns the close code.
func waitClosed(t *testing.T, c *client.Client) (int, string) {
	t.Helper()
	ctx := ctxT(t)
	for {
		select {
		case <-c.Done():
			code, reason := c.CloseStatus()
			return int(code), reason
		case <-c.Events():
		case <-ctx.Done():
			t.Fatal("connection not closed in time")
		}
	}
}

// testLogger logs through t.Log when CALLBOX_TEST_LOG is set.
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("CALLBOX_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

type smallBufListener struct {
	net.Listener
	size int
}

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(l.size)
	}
	return c, err
}

// answered has caller call callee (logged in as calleeID) and callee
// accept; it returns the call.
func answered(t *testing.T, caller, callee *client.Client, calleeID string, media int) client.CallReply {
	t.Helper()
	ctx := ctxT(t)
	call, err := caller.Call(ctx, calleeID, media)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, callee, client.EvInvited)
	if _, err := callee.Accept(ctx, ""); err != nil {
		t.Fatal(err)
	}
	return call
}
