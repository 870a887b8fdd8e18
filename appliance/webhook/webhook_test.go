package webhook_test

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"callbox/appliance/webhook"
	"callbox/store"
)

const app1, app2 = 1400000001, 1400000002

// The test vector of tencent-compat.md §3.
func TestSign(t *testing.T) {
	if got, want := webhook.Sign("xxxxyyyy", 1669872112), "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestRequestURL(t *testing.T) {
	now := time.Unix(1669872112, 0)
	for _, tc := range []struct{ name, base, token, want string }{
		{"unsigned", "http://b.example/cb", "",
			"http://b.example/cb?sdkappid=1400000001&command=caller_start_call&contenttype=json&clientip=&optplatform=Web"},
		{"signed, own query kept first", "https://b.example/cb?k=v#frag", "xxxxyyyy",
			"https://b.example/cb?k=v&sdkappid=1400000001&command=caller_start_call&contenttype=json&clientip=&optplatform=Web" +
				"&RequestTime=1669872112&Sign=17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := webhook.RequestURL(tc.base, tc.token, app1, "caller_start_call", now)
			if err != nil || got != tc.want {
				t.Fatalf("RequestURL = %s, %v\nwant %s", got, err, tc.want)
			}
		})
	}
}

// Queued events reach the receiver signed, in order, with their event
// ids; delivered entries leave the outbox, every attempt is logged, and
// an idle dispatcher arms no timer (it never polls).
func TestDelivers(t *testing.T) {
	e := newEnv(t, app1)
	rc := newReceiver(t, "s3cret-token", e.clock.Now)
	e.setHook(store.Webhook{SDKAppID: app1, URL: rc.url(), Token: "s3cret-token", EventCallbacks: true, StatusCallback: true})
	e.start(nil)
	seqs := e.queue(app1, "call-1", "caller_start_call", "callee_receive_call", "call_end")
	queued := map[string]bool{}
	ctx := ctxT(t, 5*time.Second)
	for i, cmd := range []string{"caller_start_call", "callee_receive_call", "call_end"} {
		g := rc.next(ctx)
		if g.command != cmd || g.app != app1 || g.body.CallId != "call-1" {
			t.Fatalf("request %d: %s for %d %+v, want %s", i, g.command, g.app, g.body, cmd)
		}
		queued[g.eventID] = true
	}
	e.drain()
	rc.none()
	if out := e.outbox(app1); len(out) != 0 {
		t.Fatalf("outbox after delivery: %+v", out)
	}
	log := e.log(app1)
	if len(log) != 3 {
		t.Fatalf("log %+v", log)
	}
	for _, d := range log {
		if d.Error != "" || d.Status != 200 || d.Attempt != 1 || !queued[d.EventID] || !slices.Contains(seqs, d.Seq) {
			t.Errorf("log entry %+v", d)
		}
	}
	if p := e.clock.pending(); len(p) != 0 {
		t.Errorf("idle dispatcher waits for %v", p)
	}
}

// Every kind of failure is retried after the backoff, and the attempt's
// error is in the log. The receiver misbehaves on the first request only.
func TestRetriesFailures(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	var bigWritten atomic.Int64
	bigDone := make(chan struct{})
	tests := []struct {
		name    string
		answer  func(w http.ResponseWriter, r *http.Request)
		wantErr string
		check   func(t *testing.T)
	}{
		{"HTTP 500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, "HTTP 500", nil},
		{"ActionStatus FAIL", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"ActionStatus":"FAIL","ErrorInfo":"busy","ErrorCode":1}`)
		}, `ActionStatus "FAIL", ErrorCode 1`, nil},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") }, "answer is not", nil},
		{"redirect loop", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.String(), http.StatusFound)
		}, "redirect to", nil},
		{"100 MB body", func(w http.ResponseWriter, r *http.Request) {
			defer close(bigDone)
			w.Header().Set("Content-Length", fmt.Sprint(100<<20))
			for range 100 {
				n, err := w.Write([]byte(big))
				bigWritten.Add(int64(n))
				if err != nil {
					return
				}
			}
		}, "answer longer than 64 KiB", func(t *testing.T) {
			<-bigDone
			if n := bigWritten.Load(); n > 20<<20 {
				t.Errorf("the dispatcher read %d MB of the answer", n>>20)
			}
		}},
		{"slowloris", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			for {
				w.Write([]byte(" "))
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}, "no complete answer within 300ms", nil},
		{"no answer", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, "no complete answer within 300ms", nil},
		{"connection dropped", func(w http.ResponseWriter, r *http.Request) {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
		}, "EOF", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, app1)
			rc := newReceiver(t, "", e.clock.Now)
			rc.answer = func(n int, _ got, w http.ResponseWriter, r *http.Request) bool {
				if n == 0 {
					tc.answer(w, r)
					return true
				}
				return false
			}
			e.setHook(store.Webhook{SDKAppID: app1, URL: rc.url(), EventCallbacks: true, Timeout: 300 * time.Millisecond})
			e.start(nil)
			e.queue(app1, "c", "caller_start_call")
			ctx := ctxT(t, 10*time.Second)
			first := rc.next(ctx)
			e.drain()
			log := e.log(app1)
			if len(log) != 1 || !strings.Contains(log[0].Error, tc.wantErr) || log[0].Dead {
				t.Fatalf("log %+v, want an error with %q", log, tc.wantErr)
			}
			if out := e.outbox(app1); len(out) != 1 {
				t.Fatalf("failed event left the outbox: %+v", out)
			}
			rc.none()
			if p := e.clock.pending(); len(p) != 1 || !p[0].Equal(t0.Add(time.Second)) {
				t.Fatalf("retry armed at %v, want %v", p, t0.Add(time.Second))
			}
			e.clock.Advance(time.Second)
			again := rc.next(ctx)
			if again.eventID != first.eventID || string(again.raw) != string(first.raw) {
				t.Fatalf("retry differs: %s %s, first %s %s", again.eventID, again.raw, first.eventID, first.raw)
			}
			e.drain()
			if out := e.outbox(app1); len(out) != 0 {
				t.Fatalf("outbox after the retry: %+v", out)
			}
			if log := e.log(app1); len(log) != 2 || log[0].Error != "" || log[0].Attempt != 2 {
				t.Fatalf("log %+v", log)
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
}

// A refused connection is a failed attempt; a corrected URL is tried at
// once, without waiting out the backoff.
func TestRefusedThenFixedURL(t *testing.T) {
	e := newEnv(t, app1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/callback"
	ln.Close()
	e.setHook(store.Webhook{SDKAppID: app1, URL: dead, EventCallbacks: true})
	e.start(nil)
	e.queue(app1, "c", "caller_start_call")
	e.drain()
	if log := e.log(app1); len(log) != 1 || !strings.Contains(log[0].Error, "connection refused") {
		t.Fatalf("log %+v", log)
	}
	rc := newReceiver(t, "", e.clock.Now)
	e.setHook(store.Webhook{SDKAppID: app1, URL: rc.url(), EventCallbacks: true})
	rc.next(ctxT(t, 5*time.Second))
	e.drain()
	if out := e.outbox(app1); len(out) != 0 {
		t.Fatalf("outbox %+v", out)
	}
}

// With concurrency 1 an app's events arrive in outbox order: a failing
// one holds up the rest. With more, only its own call's later events
// wait for it.
func TestOrder(t *testing.T) {
	cmds := []string{"caller_start_call", "callee_receive_call", "callee_accept_call", "caller_call_accepted", "caller_call_end"}
	// Calls x and y, each with cmds; x's event failCmd fails once.
	setup := func(t *testing.T, concurrency int, failCmd string) (*env, *receiver) {
		e := newEnv(t, app1)
		rc := newReceiver(t, "", e.clock.Now)
		rc.answer = failFirst("x", failCmd)
		e.setHook(store.Webhook{SDKAppID: app1, URL: rc.url(), EventCallbacks: true, Concurrency: concurrency})
		e.start(nil)
		e.queue(app1, "x", cmds...)
		e.queue(app1, "y", cmds...)
		return e, rc
	}
	t.Run("concurrency 1: app order", func(t *testing.T) {
		e, rc := setup(t, 1, "callee_receive_call")
		ctx := ctxT(t, 5*time.Second)
		var seen []string
		for range 2 {
			g := rc.next(ctx)
			seen = append(seen, g.body.CallId+":"+g.command)
		}
		e.drain()
		rc.none() // y waits behind x's failed event
		e.clock.Advance(time.Second)
		for range 9 {
			g := rc.next(ctx)
			seen = append(seen, g.body.CallId+":"+g.command)
		}
		var want []string
		for _, c := range []string{"x", "y"} {
			for _, cmd := range cmds {
				want = append(want, c+":"+cmd)
			}
		}
		want = slices.Insert(want, 1, "x:callee_receive_call")
		if !slices.Equal(seen, want) {
			t.Fatalf("arrival order\n%v\nwant\n%v", seen, want)
		}
	})
	t.Run("concurrency 4: call order", func(t *testing.T) {
		e, rc := setup(t, 4, "caller_start_call")
		ctx := ctxT(t, 5*time.Second)
		var y []string
		for range 6 { // x's failed first event and all of y
			g := rc.next(ctx)
			if g.body.CallId == "y" {
				y = append(y, g.command)
			} else if g.command != "caller_start_call" {
				t.Fatalf("x's %s went before its failed start_call", g.command)
			}
		}
		if !slices.Equal(y, cmds) {
			t.Fatalf("y arrived as %v", y)
		}
		e.drain()
		rc.none()
		e.clock.Advance(time.Second)
		var x []string
		for range 5 {
			x = append(x, rc.next(ctx).command)
		}
		if !slices.Equal(x, cmds) {
			t.Fatalf("x arrived as %v", x)
		}
	})
}

// failFirst answers 500 to the first request for one call's command.
func failFirst(callID, cmd string) func(int, got, http.ResponseWriter, *http.Request) bool {
	failed := false
	return func(_ int, g got, w http.ResponseWriter, r *http.Request) bool {
		if failed || g.body.CallId != callID || g.command != cmd {
			return false
		}
		failed = true
		w.WriteHeader(http.StatusInternalServerError)
		return true
	}
}

// One app whose receiver never answers, or refuses, does not delay
// another app's events.
func TestDeadReceiverDoesNotDelayOtherApp(t *testing.T) {
	for _, mode := range []string{"hangs", "refuses"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, app1, app2)
			bad := newReceiver(t, "", e.clock.Now)
			bad.answer = func(n int, _ got, w http.ResponseWriter, r *http.Request) bool { <-r.Context().Done(); return true }
			url := bad.url()
			if mode == "refuses" {
				ln, _ := net.Listen("tcp", "127.0.0.1:0")
				url = "http://" + ln.Addr().String() + "/callback"
				ln.Close()
			}
			good := newReceiver(t, "", e.clock.Now)
			e.setHook(store.Webhook{SDKAppID: app1, URL: url, EventCallbacks: true, Timeout: 30 * time.Second})
			e.setHook(store.Webhook{SDKAppID: app2, URL: good.url(), EventCallbacks: true})
			e.start(nil)
			for i := range 20 {
				e.queue(app1, fmt.Sprint("a", i), "caller_start_call", "caller_call_end")
			}
			for i := range 20 {
				e.queue(app2, fmt.Sprint("b", i), "caller_start_call", "caller_call_end")
			}
			// Well under the dead receiver's 30 s timeout, even on a loaded
			// machine.
			ctx := ctxT(t, 10*time.Second)
			for range 40 {
				if g := good.next(ctx); g.app != app2 {
					t.Fatalf("app %d at app 2's receiver", g.app)
				}
			}
		})
	}
}
