package browsertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"callbox/sfu/sfuclient"
	"callbox/signaling/client"
	"callbox/ui/browsertest"
)

// benchEnv turns the call setup benchmark on.
const benchEnv = "CALLBOX_BROWSER_BENCH"

// benchCalls is how many calls each kind of client makes.
const benchCalls = 20

// setupTarget is issue 10's target for the browser's median.
const setupTarget = 500 * time.Millisecond

// TestBenchmarkCallSetup measures call setup (docs/performance.md): from
// the callee's accept to the first remote video frame on both sides,
// median and p95 over 20 calls of Chromium with the SDK (in the network
// namespace; a frame is there when the remote <video> has a size) and,
// alternating with them against the same server, 20 of two pion clients
// (sfuclient through signaling/client, as appliance/e2e_test.go calls;
// they decode nothing, so their mark is the first video packet). A benchmark, not a test of the build: it
// runs only when CALLBOX_BROWSER_BENCH is set, and fails only when a call
// does not come up or the browser's median misses the target.
//
//	CALLBOX_BROWSER_BENCH=1 go test ./ui/browsertest -run TestBenchmarkCallSetup -v
func TestBenchmarkCallSetup(t *testing.T) {
	if os.Getenv(benchEnv) == "" {
		t.Skip("a benchmark: set " + benchEnv + "=1 to run it")
	}
	env := browsertest.Start(t, nil)
	br := [2]*tab{login(t, env, "bench-a", false), login(t, env, "bench-b", false)}
	for _, u := range br {
		u.run(t, firstFrameJS)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pn := [2]*pionUser{dialPion(t, ctx, env, "pion-a"), dialPion(t, ctx, env, "pion-b")}

	var brTimes, pnTimes []time.Duration
	// Each call goes the other way than the last: a user's call setups
	// are rate limited (docs/protocol.md §1), accepts are not.
	for i := range benchCalls {
		caller, callee := i%2, 1-i%2
		brTimes = append(brTimes, browserSetup(t, br[caller], br[callee]))
		pnTimes = append(pnTimes, pionSetup(t, ctx, pn[caller], pn[callee]))
	}
	b, p := summarize(brTimes), summarize(pnTimes)
	t.Logf("call setup over %d calls each, accept to first remote video frame on both sides:", benchCalls)
	t.Logf("  chromium + SDK: median %v, p95 %v, min %v, max %v", b.median, b.p95, b.min, b.max)
	t.Logf("  pion clients:   median %v, p95 %v, min %v, max %v", p.median, p.p95, p.min, p.max)
	t.Logf("  ratio chromium/pion: median %.2f, p95 %.2f", float64(b.median)/float64(p.median), float64(b.p95)/float64(p.p95))
	t.Logf("  chromium, each call: %v", roundMS(brTimes))
	t.Logf("  pion, each call:     %v", roundMS(pnTimes))
	if b.median > setupTarget {
		t.Errorf("chromium's median call setup %v, target %v", b.median, setupTarget)
	}
}

func roundMS(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

type setupStats struct{ median, p95, min, max time.Duration }

func summarize(ds []time.Duration) setupStats {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	// Nearest rank: the smallest value with 95 % of the calls at or below it.
	p95 := s[int(math.Ceil(0.95*float64(n)))-1]
	return setupStats{median: med.Round(time.Millisecond), p95: p95.Round(time.Millisecond),
		min: s[0].Round(time.Millisecond), max: s[n-1].Round(time.Millisecond)}
}

// firstFrameJS defines watchFirstFrame() in the page: it polls until the
// remote view's <video> has a decoded frame (videoWidth > 0, which the
// app's USER_VIDEO_AVAILABLE handler put there) and keeps that instant in
// window.firstFrame, and now(), the wall clock in ms that all tabs share.
const firstFrameJS = `(() => {
	window.now = () => performance.timeOrigin + performance.now();
	window.watchFirstFrame = () => {
		window.firstFrame = 0;
		const poll = () => {
			const v = document.querySelector('#remote video');
			if (v && v.videoWidth > 0) window.firstFrame = now();
			else setTimeout(poll, 2);
		};
		poll();
	};
})()`

// browserSetup makes one SDK call from caller to callee and returns the
// time from the callee's accept() to the first remote frame on both.
func browserSetup(t *testing.T, caller, callee *tab) time.Duration {
	t.Helper()
	for _, u := range []*tab{caller, callee} {
		u.run(t, `window.events = []; watchFirstFrame()`)
	}
	caller.run(t, fmt.Sprintf(`trtcCalling.call({userID: %q, type: 2})`, callee.name))
	callee.waitEvent(t, "onInvited", fmt.Sprintf(`d.sponsor === %q`, caller.name))
	start := browsertest.Eval[float64](t, callee.ctx, `(() => { const t0 = now(); trtcCalling.accept(); return t0; })()`)
	var end float64
	for _, u := range []*tab{caller, callee} {
		browsertest.WaitFor(t, u.ctx, `firstFrame > 0`, 20*time.Second)
		end = max(end, browsertest.Eval[float64](t, u.ctx, `firstFrame`))
	}
	caller.run(t, `trtcCalling.hangup()`)
	callee.waitEvent(t, "onCallEnd", "")
	browsertest.WaitFor(t, caller.ctx, `trtcCalling.getCallStatus() === 'idle'`, 5*time.Second)
	return time.Duration((end - start) * float64(time.Millisecond))
}

// pionUser is a Go client: one signaling connection, and the media client
// of its current call.
type pionUser struct {
	t      *testing.T
	name   string
	sig    *client.Client
	events chan client.Event
	wg     sync.WaitGroup

	mu    sync.Mutex
	media *sfuclient.Client // the current call's; nil between calls
}

func dialPion(t *testing.T, ctx context.Context, env *browsertest.Env, name string) *pionUser {
	t.Helper()
	base, err := url.Parse(env.BaseURL())
	if err != nil {
		t.Fatal(err)
	}
	ws := fmt.Sprintf("ws://%s:%s/ws", env.ServerIP(), base.Port())
	c, _, err := client.Dial(ctx, ws, env.App().SDKAppID, name, env.Sig(name), nil)
	if err != nil {
		t.Fatalf("%s: login: %v", name, err)
	}
	u := &pionUser{t: t, name: name, sig: c, events: make(chan client.Event, 256)}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer close(u.events)
		for ev := range c.Events() {
			if ev.Name == client.EvMedia {
				u.mu.Lock()
				if u.media != nil {
					u.media.Deliver(ev.Data)
				}
				u.mu.Unlock()
				continue
			}
			u.events <- ev
		}
	}()
	t.Cleanup(func() {
		c.Close()
		u.wg.Wait()
		u.endMedia()
	})
	return u
}

// waitEvent waits for the named call event.
func (u *pionUser) waitEvent(ctx context.Context, name string) {
	u.t.Helper()
	for {
		select {
		case ev, ok := <-u.events:
			if !ok {
				u.t.Fatalf("%s: connection closed waiting for %s", u.name, name)
			}
			if ev.Name == name {
				return
			}
		case <-ctx.Done():
			u.t.Fatalf("%s: no %s: %v", u.name, name, ctx.Err())
		}
	}
}

// sigEnvelope sends the media client's messages through signaling. It
// keeps back loopback candidates, which the server (as the browser tests
// run it) refuses: the pion clients reach it on another address.
type sigEnvelope struct {
	ctx context.Context
	c   *client.Client
}

func (e sigEnvelope) Handle(msg json.RawMessage) error {
	var m struct {
		Type      string `json:"type"`
		Candidate struct {
			Candidate string `json:"candidate"`
		} `json:"candidate"`
	}
	if json.Unmarshal(msg, &m) == nil && m.Type == "candidate" {
		if f := strings.Fields(m.Candidate.Candidate); len(f) > 4 {
			if ip, err := netip.ParseAddr(f[4]); err == nil && ip.IsLoopback() {
				return nil
			}
		}
	}
	return e.c.Media(e.ctx, msg)
}

// newMedia gives u a media client for its next call. It must be there
// before the call or accept request: the SFU's first messages may arrive
// before the reply does.
func (u *pionUser) newMedia(ctx context.Context) *sfuclient.Client {
	u.t.Helper()
	m, err := sfuclient.New(sfuclient.Config{})
	if err != nil {
		u.t.Fatal(err)
	}
	u.mu.Lock()
	u.media = m
	u.mu.Unlock()
	// Its messages go out under ctx: a write cut short by a context
	// closes the WebSocket (coder/websocket), so ctx outlives the call.
	m.Start(sigEnvelope{ctx, u.sig})
	return m
}

// publish sends audio and video on m until stop ends, as the SDK does
// once it is in a call.
func (u *pionUser) publish(m *sfuclient.Client, stop context.Context, wg *sync.WaitGroup) {
	u.t.Helper()
	a, v, err := m.PublishAV()
	if err != nil {
		u.t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(1); ; seq++ {
			select {
			case <-stop.Done():
				return
			case <-tick.C:
			}
			a.Write(seq, uint32(seq)*240, []byte("audio"), 30)
			v.Write(seq, uint32(seq)*450, []byte("video frame"), -1)
		}
	}()
}

func (u *pionUser) endMedia() {
	u.mu.Lock()
	m := u.media
	u.media = nil
	u.mu.Unlock()
	if m != nil {
		m.Close()
	}
}

// firstVideo waits for m's first remote video track and its first packet.
func firstVideo(ctx context.Context, m *sfuclient.Client) (time.Time, error) {
	for {
		select {
		case r := <-m.Remotes():
			if r.Kind != "video" {
				continue
			}
			if _, _, err := r.Track.ReadRTP(); err != nil {
				return time.Time{}, err
			}
			return time.Now(), nil
		case err := <-m.Errors():
			return time.Time{}, err
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// pionSetup makes one call between two pion clients and returns the time
// from the accept request to the first remote video packet on both.
func pionSetup(t *testing.T, outer context.Context, caller, callee *pionUser) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(outer, 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	mediaCtx, stopMedia := context.WithCancel(ctx)
	defer func() { stopMedia(); wg.Wait() }()

	cm := caller.newMedia(outer)
	call, err := caller.sig.Call(ctx, callee.name, client.Video)
	if err != nil {
		t.Fatalf("%s: call: %v", caller.name, err)
	}
	caller.publish(cm, mediaCtx, &wg)
	callee.waitEvent(ctx, client.EvInvited)
	em := callee.newMedia(outer)
	start := time.Now()
	if _, err := callee.sig.Accept(ctx, call.CallID); err != nil {
		t.Fatalf("%s: accept: %v", callee.name, err)
	}
	callee.publish(em, mediaCtx, &wg)
	var end time.Time
	for i, m := range []*sfuclient.Client{cm, em} {
		at, err := firstVideo(ctx, m)
		if err != nil {
			t.Fatalf("%s: first remote video: %v (publish PC %s, subscribe PC %s)",
				[]string{caller.name, callee.name}[i], err, m.Pub.ConnectionState(), m.Sub.ConnectionState())
		}
		if at.After(end) {
			end = at
		}
	}
	stopMedia()
	wg.Wait()
	if err := caller.sig.Hangup(ctx, call.CallID); err != nil {
		t.Fatalf("%s: hangup: %v", caller.name, err)
	}
	callee.waitEvent(ctx, client.EvCallEnd)
	caller.endMedia()
	callee.endMedia()
	return end.Sub(start)
}
