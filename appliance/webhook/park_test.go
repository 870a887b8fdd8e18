package webhook_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"callbox/appliance/webhook"
	"callbox/store"
)

// An event that still fails once its retry window has passed is parked
// as dead, and a manual retry sends it again with the same event id.
func TestParksDeadAndRetries(t *testing.T) {
	e := newEnv(t, app1)
	rc, healthy := failing(t, e, http.StatusServiceUnavailable)
	e.setHook(store.Webhook{SDKAppID: app1, URL: rc.url(), EventCallbacks: true})
	e.start(nil)
	e.queue(app1, "c", "caller_start_call")
	ctx := ctxT(t, 5*time.Second)
	first := rc.next(ctx)
	e.drain()
	// Step through the backoff table up to the day's end.
	steps := 0
	for elapsed := time.Duration(0); elapsed < webhook.DefaultRetryFor; steps++ {
		p := e.clock.pending()
		if len(p) != 1 {
			t.Fatalf("after %s: timers %v", elapsed, p)
		}
		wait := p[0].Sub(e.clock.Now())
		if want := webhook.Backoff[min(steps, len(webhook.Backoff)-1)]; wait != want {
			t.Fatalf("backoff %d = %s, want %s", steps, wait, want)
		}
		e.clock.Advance(wait)
		elapsed += wait
		rc.next(ctx)
		e.drain()
	}
	if out := e.outbox(app1); len(out) != 0 {
		t.Fatalf("outbox after the retry window: %+v", out)
	}
	var dead []store.DeadEntry
	must(t, e.st.View(func(tx *store.Tx) error {
		var err error
		dead, err = tx.DeadEntries(app1)
		return err
	}))
	if len(dead) != 1 || dead[0].Attempts != steps+1 || dead[0].EventID != first.eventID || !strings.Contains(dead[0].LastError, "HTTP 503") {
		t.Fatalf("dead letters %+v after %d attempts", dead, steps+1)
	}
	if log := e.log(app1); !log[0].Dead || log[0].Attempt != steps+1 {
		t.Fatalf("last log entry %+v", log[0])
	}
	if p := e.clock.pending(); len(p) != 0 {
		t.Fatalf("timers left %v", p)
	}
	stats, err := e.d.Stats(ctx)
	if err != nil || len(stats) != 1 || stats[0].Dead != 1 || stats[0].Pending != 0 || stats[0].Failures == 0 {
		t.Fatalf("stats %+v, %v", stats, err)
	}

	healthy.Store(true)
	if n, err := e.d.Retry(ctx, app1, ""); n != 1 || err != nil {
		t.Fatalf("Retry = %d, %v", n, err)
	}
	if g := rc.next(ctx); g.eventID != first.eventID || string(g.raw) != string(first.raw) {
		t.Fatalf("retried event %s %s, want %s %s", g.eventID, g.raw, first.eventID, first.raw)
	}
	e.drain()
	if stats, _ := e.d.Stats(ctx); len(stats) != 1 || stats[0].Dead != 0 || stats[0].Failures != 0 {
		t.Fatalf("stats after the retry %+v", stats)
	}
}

// After three failures in a row a receiver gets one probe at a time, on
// the backoff table, instead of everything queued; a success reopens the
// flood gates.
func TestBreaker(t *testing.T) {
	e := newEnv(t, app1)
	rc, healthy := failing(t, e, http.StatusBadGateway)
	e.setHook(store.Webhook{SDKAppID: app1, URL: rc.url(), EventCallbacks: true, Concurrency: 2})
	e.start(nil)
	for i := range 10 {
		e.queue(app1, fmt.Sprint("c", i), "caller_start_call")
	}
	ctx := ctxT(t, 5*time.Second)
	// Two at a time until the third failure.
	for range 3 {
		rc.next(ctx)
	}
	e.drain()
	n := len(e.log(app1))
	if n < 3 || n > 4 {
		t.Fatalf("%d attempts before the breaker", n)
	}
	for range n - 3 {
		rc.next(ctx)
	}
	rc.none()
	// One probe a step, the event tried least first.
	for i := range 3 {
		p := e.clock.pending()
		if len(p) != 1 {
			t.Fatalf("timers %v", p)
		}
		e.clock.Advance(p[0].Sub(e.clock.Now()))
		if g := rc.next(ctx); g.body.CallId != fmt.Sprint("c", n+i) {
			t.Fatalf("probe %d went to %s, want the fresh c%d", i, g.body.CallId, n+i)
		}
		e.drain()
		rc.none()
	}
	healthy.Store(true)
	e.clock.Advance(e.clock.pending()[0].Sub(e.clock.Now()))
	e.drain()
	// The probe and every fresh event went; the failed ones wait out
	// their own backoff.
	e.clock.Advance(time.Hour)
	e.drain()
	if out := e.outbox(app1); len(out) != 0 {
		t.Fatalf("outbox %+v", out)
	}
}

// failing returns a receiver that answers status until healthy is set.
func failing(t *testing.T, e *env, status int) (*receiver, *atomic.Bool) {
	rc := newReceiver(t, "", e.clock.Now)
	healthy := new(atomic.Bool)
	rc.answer = func(_ int, _ got, w http.ResponseWriter, _ *http.Request) bool {
		if healthy.Load() {
			return false
		}
		w.WriteHeader(status)
		return true
	}
	return rc, healthy
}

// Events an app does not want are dropped from the outbox unsent: no
// webhook at all, an event list, the status callback switched off.
func TestDropsUnwanted(t *testing.T) {
	e := newEnv(t, app1, app2)
	rc := newReceiver(t, "", e.clock.Now)
	e.setHook(store.Webhook{SDKAppID: app1, URL: rc.url(), EventCallbacks: true, Events: []string{"start_call", "callee_call_end"}})
	e.start(nil)
	e.queue(app2, "c", "caller_start_call", "call_end")
	e.queue(app1, "c", "caller_start_call", "callee_receive_call", "caller_call_end", "callee_call_end", "call_end")
	ctx := ctxT(t, 5*time.Second)
	if g := rc.next(ctx); g.command != "caller_start_call" {
		t.Fatalf("got %s", g.command)
	}
	if g := rc.next(ctx); g.command != "callee_call_end" {
		t.Fatalf("got %s", g.command)
	}
	e.drain()
	rc.none()
	if len(e.outbox(app1)) != 0 || len(e.outbox(app2)) != 0 {
		t.Fatalf("outbox %+v %+v", e.outbox(app1), e.outbox(app2))
	}
	// Switching the per-event kind off and the status callback on.
	e.setHook(store.Webhook{SDKAppID: app1, URL: rc.url(), StatusCallback: true})
	e.queue(app1, "d", "caller_start_call", "call_end")
	if g := rc.next(ctx); g.command != "call_end" || g.body.CallId != "d" {
		t.Fatalf("got %s for %s", g.command, g.body.CallId)
	}
	e.drain()
	rc.none()
}

// A deleted app's webhook goes with it, and its queued events, retrying
// or not, are dropped.
func TestDeletedAppDropsQueue(t *testing.T) {
	e := newEnv(t, app1)
	rc, _ := failing(t, e, http.StatusInternalServerError)
	e.setHook(store.Webhook{SDKAppID: app1, URL: rc.url(), EventCallbacks: true, Concurrency: 1})
	e.start(nil)
	e.queue(app1, "c", "caller_start_call", "caller_call_end")
	rc.next(ctxT(t, 5*time.Second))
	e.drain()
	must(t, e.st.Update(func(tx *store.Tx) error { return tx.DeleteApp(app1) }))
	must(t, e.d.Reload(ctxT(t, 5*time.Second), app1))
	e.drain()
	if out := e.outbox(app1); len(out) != 0 {
		t.Fatalf("outbox of a deleted app: %+v", out)
	}
	e.clock.Advance(time.Hour)
	e.drain()
	rc.none()
}

// A backlog larger than the in-memory window is read as the window
// empties.
func TestWindow(t *testing.T) {
	e := newEnv(t, app1)
	rc := newReceiver(t, "", e.clock.Now)
	e.setHook(store.Webhook{SDKAppID: app1, URL: rc.url(), EventCallbacks: true})
	for i := range 50 {
		e.queue(app1, fmt.Sprint("c", i), "caller_start_call", "caller_call_end")
	}
	e.start(func(c *webhook.Config) { c.Window = 4 })
	ctx := ctxT(t, 5*time.Second)
	seen := map[string]int{}
	for range 100 {
		g := rc.next(ctx)
		seen[g.body.CallId]++
		if g.command == "caller_call_end" && seen[g.body.CallId] != 2 {
			t.Fatalf("%s's call_end before its start_call", g.body.CallId)
		}
	}
	e.drain()
	if len(e.outbox(app1)) != 0 {
		t.Fatal("outbox not empty")
	}
}

// The default client will not connect to the server's own listener,
// however the URL names it.
func TestRefusesSelf(t *testing.T) {
	e := newEnv(t, app1)
	rc := newReceiver(t, "", e.clock.Now)
	self := netip.MustParseAddrPort(rc.srv.Listener.Addr().String())
	e.setHook(store.Webhook{SDKAppID: app1, URL: strings.Replace(rc.url(), "127.0.0.1", "localhost", 1), EventCallbacks: true})
	e.start(func(c *webhook.Config) {
		c.Self = func(ap netip.AddrPort) bool { return ap.Port() == self.Port() && ap.Addr().IsLoopback() }
	})
	e.queue(app1, "c", "caller_start_call")
	e.drain()
	rc.none()
	if log := e.log(app1); len(log) != 1 || log[0].Error != webhook.ErrSelf.Error() {
		t.Fatalf("log %+v", log)
	}
}
