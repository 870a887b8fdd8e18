package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"callbox/appliance/webhook"
	"callbox/signaling/call"
	"callbox/store"
)

// fakeClock is stepped by the test; armed receives each deadline the
// dispatcher waits for.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	armed  chan time.Time
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newClock(t0 time.Time) *fakeClock {
	return &fakeClock{now: t0, armed: make(chan time.Time, 1000)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) At(at time.Time) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ft := &fakeTimer{at: at, ch: make(chan time.Time, 1)}
	c.timers = append(c.timers, ft)
	c.armed <- at
	return ft.ch, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.Index(c.timers, ft)
		if i >= 0 {
			c.timers = slices.Delete(c.timers, i, i+1)
		}
		return i >= 0
	}
}

// Advance moves time on and fires the timers that came due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, ft := range c.timers {
		if ft.at.After(c.now) {
			kept = append(kept, ft)
			continue
		}
		ft.ch <- c.now
	}
	c.timers = kept
}

// pending returns the deadlines armed and not yet fired or stopped.
func (c *fakeClock) pending() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for _, ft := range c.timers {
		out = append(out, ft.at)
	}
	return out
}

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// env is a store with apps, and a dispatcher over it on a fake clock.
type env struct {
	t     *testing.T
	st    *store.Store
	clock *fakeClock
	d     *webhook.Dispatcher
	stop  func()
}

func newEnv(t *testing.T, apps ...uint32) *env {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, app := range apps {
		must(t, st.Update(func(tx *store.Tx) error {
			return tx.PutApp(store.App{SDKAppID: app, Name: "test", Key: store.NewKey()})
		}))
	}
	return &env{t: t, st: st, clock: newClock(t0)}
}

// start runs a dispatcher until the test ends.
func (e *env) start(mod func(*webhook.Config)) {
	e.t.Helper()
	cfg := webhook.Config{Store: e.st, Clock: e.clock, Jitter: func(d time.Duration) time.Duration { return d }}
	if mod != nil {
		mod(&cfg)
	}
	e.d = webhook.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.d.Run(ctx) }()
	e.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("Run: %v", err)
		}
	})
	e.t.Cleanup(e.stop)
}

func (e *env) setHook(w store.Webhook) {
	e.t.Helper()
	if w.Concurrency == 0 {
		w.Concurrency = 4
	}
	must(e.t, e.st.Update(func(tx *store.Tx) error { return tx.PutWebhook(w) }))
	if e.d != nil {
		if err := e.d.Reload(ctxT(e.t, 5*time.Second), w.SDKAppID); err != nil {
			e.t.Fatal(err)
		}
	}
}

// queue appends events (one per command, all of call callID) and wakes
// the dispatcher; it returns their seqs.
func (e *env) queue(app uint32, callID string, commands ...string) []uint64 {
	e.t.Helper()
	var seqs []uint64
	must(e.t, e.st.Update(func(tx *store.Tx) error {
		for _, cmd := range commands {
			body, _ := json.Marshal(sampleBody(cmd, callID))
			seq, err := tx.AppendOutbox(store.OutboxEntry{SDKAppID: app, Command: cmd, Body: body, Created: e.clock.Now()})
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		return nil
	}))
	if e.d != nil {
		e.d.Notify()
	}
	return seqs
}

func sampleBody(cmd, callID string) call.HookBody {
	var b call.HookBody
	json.Unmarshal(webhook.SampleBody(cmd, callID, t0), &b)
	if role, event, ok := cutRole(cmd); ok {
		b.Role, b.Event = role, event
	}
	return b
}

func cutRole(cmd string) (string, string, bool) {
	for _, r := range []string{"caller", "callee"} {
		if len(cmd) > len(r)+1 && cmd[:len(r)+1] == r+"_" {
			return r, cmd[len(r)+1:], true
		}
	}
	return "", "", false
}

// drain waits until the dispatcher has nothing due and everything stored.
func (e *env) drain() {
	e.t.Helper()
	if err := e.d.Drain(ctxT(e.t, 10*time.Second)); err != nil {
		e.t.Fatalf("drain: %v", err)
	}
}

func (e *env) outbox(app uint32) []store.OutboxEntry {
	e.t.Helper()
	var out []store.OutboxEntry
	must(e.t, e.st.View(func(tx *store.Tx) error {
		var err error
		out, err = tx.AppOutbox(app, 0, 0)
		return err
	}))
	return out
}

func (e *env) log(app uint32) []store.Delivery {
	e.t.Helper()
	var out []store.Delivery
	must(e.t, e.st.View(func(tx *store.Tx) error {
		var err error
		out, err = tx.Deliveries(app, 0, false)
		return err
	}))
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// got is one request as the receiver saw it.
type got struct {
	app     uint32
	command string
	eventID string
	query   url.Values
	body    call.HookBody
	raw     []byte
}

// receiver is a real HTTP receiver that checks every request the way a
// Tencent-compatible backend does (§3): the query fields, Sign and
// RequestTime freshness when it has a token, the body with every field.
// answer picks the reply of the n-th request (0-based); nil = OK.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	token  string
	now    func() time.Time
	got    chan got
	mu     sync.Mutex
	n      int
	answer func(n int, g got, w http.ResponseWriter, r *http.Request) bool // true = answered
}

const okReply = `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`

func newReceiver(t *testing.T, token string, now func() time.Time) *receiver {
	rc := &receiver{t: t, token: token, now: now, got: make(chan got, 4096)}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url() string { return rc.srv.URL + "/callback" }

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	t := rc.t
	raw, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	g := got{command: q.Get("command"), eventID: r.Header.Get(webhook.EventIDHeader), query: q, raw: raw}
	app, _ := strconv.ParseUint(q.Get("sdkappid"), 10, 32)
	g.app = uint32(app)
	if err := rc.check(r, q, raw, &g); err != nil {
		t.Errorf("receiver: %s %s: %v", r.URL, raw, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	n := rc.n
	rc.n++
	answer := rc.answer
	rc.mu.Unlock()
	rc.got <- g
	if answer != nil && answer(n, g, w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, okReply)
}

func (rc *receiver) check(r *http.Request, q url.Values, raw []byte, g *got) error {
	if r.Method != http.MethodPost || r.URL.Path != "/callback" {
		return errors.New("not POST /callback")
	}
	if r.Header.Get("Content-Type") != "application/json" {
		return errors.New("content type " + r.Header.Get("Content-Type"))
	}
	if g.eventID == "" {
		return errors.New("no " + webhook.EventIDHeader)
	}
	for _, k := range []string{"sdkappid", "command", "contenttype", "clientip", "optplatform"} {
		if !q.Has(k) {
			return errors.New("query lacks " + k)
		}
	}
	if q.Get("contenttype") != "json" || q.Get("optplatform") != "Web" || g.app == 0 {
		return errors.New("bad query")
	}
	if rc.token != "" {
		rt, err := strconv.ParseInt(q.Get("RequestTime"), 10, 64)
		if err != nil {
			return errors.New("no RequestTime")
		}
		if age := rc.now().Unix() - rt; age > 60 || age < -60 {
			return errors.New("stale RequestTime")
		}
		if q.Get("Sign") != webhook.Sign(rc.token, rt) {
			return errors.New("bad Sign")
		}
	} else if q.Has("Sign") || q.Has("RequestTime") {
		return errors.New("signed without a token")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return err
	}
	for _, k := range []string{"UserId", "RoomId", "TotalNum", "MediaType", "CallType", "CallId", "Role", "Event",
		"CallResult", "EventTime", "StartCallTs", "AcceptTs", "EndTs"} {
		if _, ok := fields[k]; !ok {
			return errors.New("body lacks " + k)
		}
	}
	if len(fields) != 13 {
		return errors.New("body has extra fields")
	}
	if err := json.Unmarshal(raw, &g.body); err != nil {
		return err
	}
	if g.command != webhook.StatusCommand && g.command != g.body.Role+"_"+g.body.Event {
		return errors.New("command does not match Role and Event")
	}
	if g.command == webhook.StatusCommand && (g.body.Event != "call_end" || g.body.CallResult == "") {
		return errors.New("status callback without call_end and CallResult")
	}
	return nil
}

// next waits for the next request.
func (rc *receiver) next(ctx context.Context) got {
	rc.t.Helper()
	select {
	case g := <-rc.got:
		return g
	case <-ctx.Done():
		rc.t.Fatalf("no request arrived: %v", ctx.Err())
		return got{}
	}
}

// none checks that no request is waiting.
func (rc *receiver) none() {
	rc.t.Helper()
	select {
	case g := <-rc.got:
		rc.t.Fatalf("unexpected request %s %s", g.command, g.raw)
	default:
	}
}
