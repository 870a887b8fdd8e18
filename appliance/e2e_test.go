package appliance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"callbox/appliance"
	"callbox/sfu/sfuclient"
	"callbox/signaling"
	"callbox/signaling/call/record"
	"callbox/signaling/client"
	"callbox/signaling/usersig"
	"callbox/store"
	"callbox/turn"
)

// server is a real callbox on loopback with ephemeral ports.
type server struct {
	t     *testing.T
	a     *appliance.Appliance
	url   string
	app   store.App
	ctx   context.Context
	close func()
}

func startServer(t *testing.T, mod func(*appliance.Config)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := appliance.Config{
		DataDir:         filepath.Join(t.TempDir(), "data"),
		HTTPListener:    ln,
		HTTPAddr:        ln.Addr().String(),
		RTCListenIP:     "127.0.0.1",
		IncludeLoopback: true,
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := appliance.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	s := &server{t: t, a: a, url: "ws://" + ln.Addr().String() + "/ws", ctx: ctx}
	s.close = sync.OnceFunc(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		cancel()
	})
	t.Cleanup(s.close)
	// The default app exists once Run has bound its listeners.
	waitReady(t, a, done)
	a.Store().View(func(tx *store.Tx) error {
		apps, err := tx.Apps()
		if err != nil || len(apps) != 1 {
			t.Fatalf("apps: %v %v", apps, err)
		}
		s.app = apps[0]
		return nil
	})
	return s
}

// user is a signaling client plus a pion media client wired together: the
// SFU's "media" events go to the media client, its messages go back in the
// media envelope, and call events land on events.
type user struct {
	t      *testing.T
	name   string
	sig    *client.Client
	media  *sfuclient.Client
	events chan client.Event
	login  client.LoginReply
	wg     sync.WaitGroup
}

func (s *server) login(name string, mcfg sfuclient.Config) *user {
	s.t.Helper()
	sig, err := usersig.Issue(s.app.SDKAppID, s.app.Key, name, time.Hour, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	c, reply, err := client.Dial(s.ctx, s.url, s.app.SDKAppID, name, sig, nil)
	if err != nil {
		s.t.Fatalf("login %s: %v", name, err)
	}
	m, err := sfuclient.New(mcfg)
	if err != nil {
		s.t.Fatal(err)
	}
	u := &user{t: s.t, name: name, sig: c, media: m, events: make(chan client.Event, 256), login: reply}
	m.Start(envelope{s.ctx, c})
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer close(u.events)
		for ev := range c.Events() {
			if ev.Name == "media" {
				m.Deliver(ev.Data)
				continue
			}
			u.events <- ev
		}
	}()
	s.t.Cleanup(u.leave)
	return u
}

func (u *user) leave() {
	u.sig.Close()
	u.wg.Wait()
	u.media.Close()
}

// envelope sends the media client's messages through signaling.
type envelope struct {
	ctx context.Context
	c   *client.Client
}

func (e envelope) Handle(msg json.RawMessage) error { return e.c.Media(e.ctx, msg) }

// waitEvent waits for the named call event and returns its data.
func (u *user) waitEvent(ctx context.Context, name string) json.RawMessage {
	u.t.Helper()
	for {
		select {
		case ev, ok := <-u.events:
			if !ok {
				u.t.Fatalf("%s: connection closed waiting for %s", u.name, name)
			}
			if ev.Name == name {
				return ev.Data
			}
		case <-ctx.Done():
			u.t.Fatalf("%s: no %s before the deadline", u.name, name)
		}
	}
}

// publish adds audio and video and sends packets until ctx ends; each
// payload names sender, kind and sequence number.
func (u *user) publish(ctx context.Context, wg *sync.WaitGroup) {
	u.t.Helper()
	a, v, err := u.media.PublishAV()
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
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			a.Write(seq, uint32(seq)*960, payload(u.name, "audio", seq), 30)
			v.Write(seq, uint32(seq)*3000, payload(u.name, "video", seq), 0)
		}
	}()
}

func payload(who, kind string, seq uint16) []byte {
	return []byte(fmt.Sprintf("%s/%s/%d/%s", who, kind, seq, strings.Repeat("p", int(seq%300))))
}

// receive waits for want remote tracks and judges the first n packets of
// each by sequence number (sfuclient.StreamCheck): the payloads publish
// sent, in order but for the repairs this client NACKed, no gap left in
// video (NACKed), under 1 % lost or repaired. It runs on its own goroutine
// in the tests, so it reports instead of failing.
func (u *user) receive(ctx context.Context, want map[string]bool, n int) error {
	type result struct {
		key string
		err error
	}
	results := make(chan result, len(want))
	var wg sync.WaitGroup
	defer wg.Wait()
	for range want {
		var r *sfuclient.Remote
		select {
		case r = <-u.media.Remotes():
		case err := <-u.media.Errors():
			return fmt.Errorf("%s media: %w", u.name, err)
		case <-ctx.Done():
			return fmt.Errorf("%s: remote tracks missing before the deadline", u.name)
		}
		key := r.Participant + "/" + r.Kind
		if !want[key] {
			return fmt.Errorf("%s: unexpected remote track %s", u.name, key)
		}
		chk := u.media.Check(r, sfuclient.Payloads(func(seq uint16) []byte { return payload(r.Participant, r.Kind, seq) }))
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Read stops at ctx's deadline too, so wg.Wait cannot hang.
			results <- result{key, chk.Read(ctx, r.Track, n)}
		}()
	}
	for range want {
		if r := <-results; r.err != nil {
			return fmt.Errorf("%s receiving %s: %w", u.name, r.key, r.err)
		}
	}
	return nil
}

// receiveAll runs receive for several users at once and fails the test on
// the first error.
func receiveAll(t *testing.T, ctx context.Context, n int, wants map[*user]map[string]bool) {
	t.Helper()
	errs := make(chan error, len(wants))
	for u, want := range wants {
		go func() { errs <- u.receive(ctx, want, n) }()
	}
	for range wants {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestOneToOneCallWithMedia runs a whole 1:1 video call through a real
// server: ringing, accept, audio and video both ways through the SFU,
// hang-up, then the record and its webhooks in the store, and no
// goroutine left behind.
func TestOneToOneCallWithMedia(t *testing.T) {
	before := runtime.NumGoroutine()
	s := startServer(t, nil)
	ctx := s.ctx
	alice := s.login("alice", sfuclient.Config{})
	bob := s.login("bob", sfuclient.Config{})
	if !bytes.Contains(alice.login.ICEServers, []byte(`"turn:127.0.0.1:`)) {
		t.Fatalf("login reply has no TURN server: %s", alice.login.ICEServers)
	}

	// The app's backend hears of the call through its webhook.
	hooks := make(chan string, 64)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hooks <- r.URL.Query().Get("command")
		io.WriteString(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
	}))
	adm, err := appliance.OpenAdmin(ctx, s.a.DataDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.SetWebhook(ctx, store.Webhook{SDKAppID: s.app.SDKAppID, URL: backend.URL, EventCallbacks: true, StatusCallback: true}); err != nil {
		t.Fatal(err)
	}
	adm.Close()

	began := time.Now() // before the call, so before its accept
	callID := videoCall(t, ctx, alice, bob)
	if err := alice.sig.Hangup(ctx, callID); err != nil {
		t.Fatal(err)
	}
	// totalTime and callEnd are the call's seconds from the accept to the
	// hang-up, rounded (docs/protocol.md onCallEnd), on the server's real
	// clock: at most the time from before the call to the hang-up's reply,
	// rounded. (The call is too short for a useful lower bound; the engine
	// tests check the value on a fake clock.)
	longest := time.Since(began)
	for _, u := range []*user{bob, alice} {
		var end struct {
			TotalTime *int `json:"totalTime"`
			CallEnd   *int `json:"callEnd"`
		}
		if err := json.Unmarshal(u.waitEvent(ctx, "onCallEnd"), &end); err != nil || end.TotalTime == nil || end.CallEnd == nil {
			t.Fatalf("%s: onCallEnd %+v: %v", u.name, end, err)
		}
		if tt := *end.TotalTime; tt < 0 || tt > int(math.Round(longest.Seconds())) || *end.CallEnd != tt {
			t.Errorf("%s: onCallEnd totalTime %d, callEnd %d; the call lasted at most %v", u.name, tt, *end.CallEnd, longest)
		}
	}

	s.a.Store().View(func(tx *store.Tx) error {
		rec, err := tx.Call(s.app.SDKAppID, callID)
		if err != nil || rec.State != record.CallEnded || rec.Result != record.ResultNormalEnd {
			t.Errorf("record = %+v, %v", rec, err)
		}
		return nil
	})
	var cmds []string
	for _, want := range []string{"caller_start_call", "callee_receive_call", "callee_accept_call", "caller_call_accepted",
		"caller_call_end", "callee_call_end", "call_end", "call_end"} {
		for !slices.Contains(cmds, want) {
			select {
			case c := <-hooks:
				cmds = append(cmds, c)
			case <-ctx.Done():
				t.Fatalf("the backend got %v, not %s", cmds, want)
			}
		}
		cmds[slices.Index(cmds, want)] = "" // counted
	}
	backend.Close()

	alice.leave()
	bob.leave()
	s.close()
	waitGoroutines(t, before)
}

// waitGoroutines waits until the goroutine count is back to n (pion and
// net/http wind down asynchronously), failing with a dump after 10 s.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left over %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond) // polling a count, not waiting for state we could observe
	}
}

// TestGroupCallFourParties: a group call where three invitees accept and
// everyone receives everyone else's audio and video through the SFU; then
// participants leave one by one and the last two get onCallEnd.
func TestGroupCallFourParties(t *testing.T) {
	s := startServer(t, nil)
	ctx := s.ctx
	names := []string{"alice", "bob", "carol", "dave"}
	users := map[string]*user{}
	for _, n := range names {
		users[n] = s.login(n, sfuclient.Config{})
	}
	call, err := users["alice"].sig.GroupCall(ctx, client.CallArgs{UserIDList: names[1:], Type: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names[1:] {
		users[n].waitEvent(ctx, "onInvited")
		if _, err := users[n].sig.Accept(ctx, call.CallID); err != nil {
			t.Fatalf("%s accept: %v", n, err)
		}
	}
	var wg sync.WaitGroup
	mediaCtx, stopMedia := context.WithCancel(ctx)
	for _, n := range names {
		users[n].publish(mediaCtx, &wg)
	}
	wants := map[*user]map[string]bool{}
	for _, n := range names {
		want := map[string]bool{}
		for _, o := range names {
			if o != n {
				want[o+"/audio"], want[o+"/video"] = true, true
			}
		}
		wants[users[n]] = want
	}
	receiveAll(t, ctx, 100, wants)
	stopMedia()
	wg.Wait()

	// bob and carol leave: the call goes on; dave leaving ends it.
	for _, n := range []string{"bob", "carol"} {
		if err := users[n].sig.Hangup(ctx, call.CallID); err != nil {
			t.Fatalf("%s hangup: %v", n, err)
		}
		users["alice"].waitEvent(ctx, "onUserLeave")
	}
	if err := users["dave"].sig.Hangup(ctx, call.CallID); err != nil {
		t.Fatal(err)
	}
	users["alice"].waitEvent(ctx, "onCallEnd")
	users["dave"].waitEvent(ctx, "onCallEnd")
	s.a.Store().View(func(tx *store.Tx) error {
		rec, err := tx.Call(s.app.SDKAppID, call.CallID)
		if err != nil || rec.State != record.CallEnded || rec.Result != record.ResultNormalEnd || rec.CallType != "group" {
			t.Errorf("record = %+v, %v", rec, err)
		}
		return nil
	})
}

// ringing logs caller and callee in, has caller call callee (audio) and
// waits for the invitation; it returns the call and an admin client over
// the control socket.
func ringing(t *testing.T, s *server, callerID, calleeID string) (caller, callee *user, call client.CallReply, adm appliance.Admin) {
	t.Helper()
	ctx := s.ctx
	caller = s.login(callerID, sfuclient.Config{})
	callee = s.login(calleeID, sfuclient.Config{})
	call, err := caller.sig.Call(ctx, calleeID, 1)
	if err != nil {
		t.Fatal(err)
	}
	callee.waitEvent(ctx, "onInvited")
	adm, err = appliance.OpenAdmin(ctx, s.a.DataDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { adm.Close() })
	return caller, callee, call, adm
}

// TestAdminSeesAndEndsLiveCall: the CLI's view (the control socket) lists a
// ringing call and ends it; the invitee's ringing stops.
func TestAdminSeesAndEndsLiveCall(t *testing.T) {
	s := startServer(t, nil)
	ctx := s.ctx
	_, bob, call, adm := ringing(t, s, "alice", "bob")
	live, err := adm.LiveCalls(ctx)
	if err != nil || len(live) != 1 || live[0].CallID != call.CallID || live[0].State != record.CallRinging {
		t.Fatalf("live calls = %+v, %v", live, err)
	}
	if err := adm.EndCall(ctx, s.app.SDKAppID, "no-such-call"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ending an unknown call: %v, want ErrNotFound", err)
	}
	if err := adm.EndCall(ctx, s.app.SDKAppID, call.CallID); err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(ctx, "onCallingCancel")
	if live, _ := adm.LiveCalls(ctx); len(live) != 0 {
		t.Fatalf("still live after end: %+v", live)
	}
	recs, err := adm.Records(ctx, store.CallFilter{SDKAppID: s.app.SDKAppID, User: "bob"})
	if err != nil || len(recs) != 1 || recs[0].State != record.CallEnded {
		t.Fatalf("records = %+v, %v", recs, err)
	}
}

// TestRelayOnlyCallThroughTURN: both clients may use TURN relay candidates
// only (a strict firewall), with the credentials from their login replies,
// and media still flows both ways through the embedded TURN to the SFU.
func TestRelayOnlyCallThroughTURN(t *testing.T) {
	s := startServer(t, nil)
	ctx := s.ctx
	relayed := func(name string) *user {
		// Log in once to learn the ICE servers, then again with them: a
		// browser does the same (login first, then build its PCs).
		probe := s.login(name+"-probe", sfuclient.Config{})
		var servers []webrtc.ICEServer
		if err := json.Unmarshal(probe.login.ICEServers, &servers); err != nil || len(servers) < 2 {
			t.Fatalf("iceServers %s: %v", probe.login.ICEServers, err)
		}
		probe.leave()
		return s.login(name, sfuclient.Config{ICEServers: servers, RelayOnly: true})
	}
	alice, bob := relayed("alice"), relayed("bob")
	videoCall(t, ctx, alice, bob)
	checkPairs(t, "a relay candidate", func(p *webrtc.ICECandidatePair) bool { return p.Local.Typ == webrtc.ICECandidateTypeRelay }, alice, bob)
}

// TestTURNExternalAndOff: with --turn-external the login reply sends
// clients to that server with spec §5 credentials made from the given
// secret; with --turn=false it carries no TURN server at all.
func TestTURNExternalAndOff(t *testing.T) {
	ext := startServer(t, func(c *appliance.Config) {
		c.TURNExternal = "turn:turn.example.com:3478?transport=udp"
		c.TURNSecret = "north"
	})
	u := ext.login("alice", sfuclient.Config{})
	var servers []turn.ICEServer
	if err := json.Unmarshal(u.login.ICEServers, &servers); err != nil || len(servers) != 2 {
		t.Fatalf("iceServers = %s, %v", u.login.ICEServers, err)
	}
	relay := servers[1]
	if relay.URLs[0] != "turn:turn.example.com:3478?transport=udp" || servers[0].URLs[0] != "stun:turn.example.com:3478" {
		t.Fatalf("iceServers = %+v", servers)
	}
	expiry, user, ok := strings.Cut(relay.Username, ":")
	if !ok || user != "alice" {
		t.Fatalf("username %q", relay.Username)
	}
	var exp int64
	fmt.Sscan(expiry, &exp)
	if _, pass := turn.Credentials("north", "alice", time.Unix(exp, 0)); pass != relay.Credential {
		t.Fatalf("credential %q is not HMAC-SHA1(secret, username)", relay.Credential)
	}

	off := startServer(t, func(c *appliance.Config) { c.TURNDisabled = true })
	u = off.login("bob", sfuclient.Config{})
	if s := strings.TrimSpace(string(u.login.ICEServers)); s != "" && s != "null" && s != "[]" {
		t.Fatalf("--turn=false still hands out ICE servers: %s", s)
	}
}

// TestICEServersAgree: the login reply and the control socket (`callbox
// turn creds`) hand out the same RTCIceServer list at the same instant,
// for the embedded TURN server and for --turn-external: one builder.
func TestICEServersAgree(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	for _, tc := range []struct {
		name string
		mod  func(*appliance.Config)
	}{
		{"embedded", func(*appliance.Config) {}},
		{"external", func(c *appliance.Config) {
			c.TURNExternal = "turns:turn.example.com:5349?transport=tcp"
			c.TURNSecret = "north"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, func(c *appliance.Config) {
				c.Now = func() time.Time { return now }
				tc.mod(c)
			})
			u := s.login("alice", sfuclient.Config{})
			var viaLogin []turn.ICEServer
			if err := json.Unmarshal(u.login.ICEServers, &viaLogin); err != nil || len(viaLogin) != 2 {
				t.Fatalf("login iceServers = %s, %v", u.login.ICEServers, err)
			}
			adm, err := appliance.OpenAdmin(s.ctx, s.a.DataDir(), false)
			if err != nil {
				t.Fatal(err)
			}
			defer adm.Close()
			viaControl, err := adm.ICEServers(s.ctx, "alice", 0)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(viaLogin, viaControl) {
				t.Fatalf("login reply %+v\ncontrol socket %+v", viaLogin, viaControl)
			}
		})
	}
}

// TestCallRateReachesSignaling: Config.CallRate (serve --call-rate) is the
// limit signaling applies: with one setup an hour, a second call gets 4011.
func TestCallRateReachesSignaling(t *testing.T) {
	s := startServer(t, func(c *appliance.Config) {
		c.TURNDisabled = true
		c.CallRate = signaling.Rate{Burst: 1, Every: time.Hour}
	})
	alice := s.login("alice", sfuclient.Config{})
	s.login("bob", sfuclient.Config{})
	first, err := alice.sig.Call(s.ctx, "bob", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.sig.Hangup(s.ctx, first.CallID); err != nil {
		t.Fatal(err)
	}
	var cerr *client.Error
	if _, err := alice.sig.Call(s.ctx, "bob", 1); !errors.As(err, &cerr) || cerr.Code != signaling.CodeRateLimited {
		t.Fatalf("second call within the hour: %v, want code %d", err, signaling.CodeRateLimited)
	}
}

// TestICETCPCall: clients whose network blocks UDP reach the SFU over
// ICE-TCP (--rtc-tcp) and media flows both ways.
func TestICETCPCall(t *testing.T) {
	s := startServer(t, func(c *appliance.Config) { c.TURNDisabled = true })
	ctx := s.ctx
	alice := s.login("alice", sfuclient.Config{TCPOnly: true})
	bob := s.login("bob", sfuclient.Config{TCPOnly: true})
	videoCall(t, ctx, alice, bob)
	checkPairs(t, "ICE-TCP", func(p *webrtc.ICECandidatePair) bool { return p.Local.Protocol == webrtc.ICEProtocolTCP }, alice, bob)
}

// videoCall has caller ring callee, the callee accept, and both send
// audio and video until each has received the first 100 packets of every
// track from the other as receive judges them. It returns the call's id.
func videoCall(t *testing.T, ctx context.Context, caller, callee *user) string {
	t.Helper()
	call, err := caller.sig.Call(ctx, callee.name, 2)
	if err != nil {
		t.Fatal(err)
	}
	callee.waitEvent(ctx, "onInvited")
	if _, err := callee.sig.Accept(ctx, call.CallID); err != nil {
		t.Fatal(err)
	}
	caller.waitEvent(ctx, "onUserAccept")
	var wg sync.WaitGroup
	mediaCtx, stopMedia := context.WithCancel(ctx)
	defer func() { stopMedia(); wg.Wait() }()
	caller.publish(mediaCtx, &wg)
	callee.publish(mediaCtx, &wg)
	receiveAll(t, ctx, 100, map[*user]map[string]bool{
		caller: {callee.name + "/audio": true, callee.name + "/video": true},
		callee: {caller.name + "/audio": true, caller.name + "/video": true},
	})
	return call.CallID
}

// checkPairs asserts that every PC of the users selected a candidate pair
// that satisfies ok.
func checkPairs(t *testing.T, want string, ok func(*webrtc.ICECandidatePair) bool, users ...*user) {
	t.Helper()
	for _, u := range users {
		for _, pc := range []*webrtc.PeerConnection{u.media.Pub, u.media.Sub} {
			pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
			if err != nil || pair == nil || !ok(pair) {
				t.Errorf("%s: selected pair %v, %v; want %s", u.name, pair, err, want)
			}
		}
	}
}

// TestAdminRevokes: `app rotate-key` and `app delete` through the control
// socket end the sessions of the app at once (issue: they kept working for
// the sig's lifetime); a deletion ends the call without a record.
func TestAdminRevokes(t *testing.T) {
	s := startServer(t, nil)
	ctx := s.ctx
	alice, bob, call, adm := ringing(t, s, "alice", "bob")
	if _, err := adm.RotateKey(ctx, s.app.SDKAppID); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*user{alice, bob} {
		u.waitEvent(ctx, "onUserSigExpired")
		select {
		case <-u.sig.Done():
		case <-ctx.Done():
			t.Fatalf("%s still connected after rotate-key", u.name)
		}
		if code, reason := u.sig.CloseStatus(); code != 4002 || reason != "usersig revoked" {
			t.Fatalf("%s closed with %d %q", u.name, code, reason)
		}
	}

	// A second app: delete it under a live call.
	app, err := adm.CreateApp(ctx, "doomed")
	if err != nil {
		t.Fatal(err)
	}
	s.app = app
	carol, dave := s.login("carol", sfuclient.Config{}), s.login("dave", sfuclient.Config{})
	call2, err := carol.sig.Call(ctx, "dave", 1)
	if err != nil {
		t.Fatal(err)
	}
	dave.waitEvent(ctx, "onInvited")
	if err := adm.DeleteApp(ctx, app.SDKAppID); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*user{carol, dave} {
		select {
		case <-u.sig.Done():
		case <-ctx.Done():
			t.Fatalf("%s still connected after app delete", u.name)
		}
		if code, reason := u.sig.CloseStatus(); code != 4006 || reason != "app deleted" {
			t.Fatalf("%s closed with %d %q", u.name, code, reason)
		}
	}
	if live, _ := adm.LiveCalls(ctx); len(live) != 1 || live[0].CallID != call.CallID {
		t.Fatalf("live calls after delete = %+v, want only the first app's", live)
	}
	recs, err := adm.Records(ctx, store.CallFilter{SDKAppID: app.SDKAppID})
	if err != nil || len(recs) != 1 || recs[0].CallID != call2.CallID || recs[0].State != record.CallRinging {
		t.Fatalf("deleted app's records = %+v, %v (want the ringing record untouched)", recs, err)
	}
}

// TestShutdownEndsLiveCalls: on SIGTERM (Run's ctx ends) live calls end
// for their participants, who hear onCallEnd, and the records close as
// ended calls rather than as interrupted at the next start.
func TestShutdownEndsLiveCalls(t *testing.T) {
	s := startServer(t, nil)
	ctx := s.ctx
	alice := s.login("alice", sfuclient.Config{})
	bob := s.login("bob", sfuclient.Config{})
	call, err := alice.sig.Call(ctx, "bob", 1)
	if err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(ctx, "onInvited")
	if _, err := bob.sig.Accept(ctx, call.CallID); err != nil {
		t.Fatal(err)
	}
	alice.waitEvent(ctx, "onUserAccept")
	s.close() // ends s.ctx too
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	alice.waitEvent(wctx, "onCallEnd")
	bob.waitEvent(wctx, "onCallEnd")
	st, err := appliance.OpenStore(s.a.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.View(func(tx *store.Tx) error {
		rec, err := tx.Call(s.app.SDKAppID, call.CallID)
		if err != nil || rec.State != record.CallEnded || rec.Result != record.ResultNormalEnd {
			t.Errorf("record after shutdown = %+v, %v", rec, err)
		}
		return nil
	})
}
