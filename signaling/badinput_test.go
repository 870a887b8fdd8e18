package signaling_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"callbox/signaling"
	"callbox/signaling/client"
)

// TestBadInput sends each kind of bad request and checks the documented
// code, then that the connection still works (docs/protocol.md §6).
func TestBadInput(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice, bob := h.login("alice", false), h.login("bob", false)
	other, err := alice.GroupCall(ctx, client.CallArgs{UserIDList: []string{"bob"}, Type: client.Audio}) // someone else's call, for carol
	if err != nil {
		t.Fatal(err)
	}
	carol := h.login("carol", false)
	many := make([]string, 201)
	for i := range many {
		many[i] = fmt.Sprintf("u%d", i)
	}
	manyJSON, _ := json.Marshal(many)
	tests := []struct {
		name  string
		id    uint64 // the id the reply carries
		frame string
		code  int
	}{
		{"malformed JSON", 0, `{"id":1,"type":"ping"`, signaling.CodeBadRequest},
		{"not an object", 0, `[1,2,3]`, signaling.CodeBadRequest},
		{"bad id", 0, `{"id":-1,"type":"ping"}`, signaling.CodeBadRequest},
		{"missing type", 3, `{"id":3}`, signaling.CodeBadRequest},
		{"data not object", 4, `{"id":4,"type":"call","data":[]}`, signaling.CodeBadRequest},
		{"ill-typed field", 5, `{"id":5,"type":"call","data":{"userID":7,"type":1}}`, signaling.CodeBadRequest},
		{"unknown type", 6, `{"id":6,"type":"fly"}`, signaling.CodeUnknownType},
		{"invalid userID", 7, `{"id":7,"type":"call","data":{"userID":"a b","type":1}}`, signaling.CodeInvalidUser},
		{"empty userID", 8, `{"id":8,"type":"call","data":{"type":1}}`, signaling.CodeInvalidUser},
		{"call yourself", 9, `{"id":9,"type":"call","data":{"userID":"carol","type":1}}`, signaling.CodeInvalidUser},
		{"bad media type", 10, `{"id":10,"type":"call","data":{"userID":"dave","type":3}}`, signaling.CodeBadRequest},
		{"bad timeout", 11, `{"id":11,"type":"call","data":{"userID":"dave","type":1,"timeout":-5}}`, signaling.CodeBadRequest},
		{"bad roomID", 12, `{"id":12,"type":"call","data":{"userID":"dave","type":1,"roomID":1.5}}`, signaling.CodeBadRequest},
		{"201 invitees", 13, `{"id":13,"type":"groupCall","data":{"type":1,"userIDList":` + string(manyJSON) + `}}`, signaling.CodeTooManyInvitees},
		{"no invitees", 14, `{"id":14,"type":"groupCall","data":{"type":1,"userIDList":[]}}`, signaling.CodeBadRequest},
		{"hang up someone else's call", 15, `{"id":15,"type":"hangup","data":{"callID":"` + other.CallID + `"}}`, signaling.CodeNoCall},
		{"accept someone else's call", 16, `{"id":16,"type":"accept","data":{"callID":"` + other.CallID + `"}}`, signaling.CodeNoCall},
		{"invite into someone else's call", 17, `{"id":17,"type":"groupCall","data":{"callID":"` + other.CallID + `","userIDList":["dave"]}}`, signaling.CodeNoCall},
		{"unknown call", 18, `{"id":18,"type":"hangup","data":{"callID":"nope"}}`, signaling.CodeNoCall},
		{"accept with nothing ringing", 19, `{"id":19,"type":"accept"}`, signaling.CodeNoCall},
		{"media without room", 20, `{"id":20,"type":"media","data":{"x":1}}`, signaling.CodeNoMedia},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := carol.Exchange(ctx, tt.id, []byte(tt.frame))
			if err != nil {
				t.Fatal(err)
			}
			if r.OK || r.Code != tt.code {
				t.Fatalf("reply %+v, want code %d", r, tt.code)
			}
			if err := carol.Ping(ctx); err != nil {
				t.Fatalf("connection unusable after %s: %v", tt.name, err)
			}
		})
	}
	if live := h.srv.Calls().Live(); len(live) != 1 || live[0].CallID != other.CallID {
		t.Fatalf("bad input changed the calls: %+v", live)
	}
	_ = bob
}

func TestBeforeLogin(t *testing.T) {
	h := newHarness(t, nil)
	c := h.raw()
	ctx := ctxT(t)
	for _, typ := range []string{"call", "groupCall", "accept", "hangup", "presence", "renewSig", "logout", "media"} {
		_, err := c.Request(ctx, typ, map[string]any{"userID": "x", "type": 1})
		wantCode(t, err, signaling.CodeNotLoggedIn)
	}
	if err := c.Ping(ctx); err != nil { // allowed before login
		t.Fatal(err)
	}
	if _, err := c.Login(ctx, client.LoginArgs{SDKAppID: h.app.SDKAppID, UserID: "late", UserSig: h.sig("late", time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

func TestFrameLimits(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	c := h.login("alice", false)
	// Over 64 KiB: answered 4003 without id, connection stays.
	big := `{"id":1,"type":"ping","data":{"pad":"` + strings.Repeat("x", signaling.DefaultMaxFrame) + `"}}`
	if err := c.Send(ctx, websocket.MessageText, []byte(big)); err != nil {
		t.Fatal(err)
	}
	ev, err := c.WaitFor(ctx, client.Named("reply"))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Reply.Code != signaling.CodeTooLarge || ev.Reply.ID != 0 {
		t.Fatalf("reply %+v", ev.Reply)
	}
	// Binary frames are refused the same way.
	if err := c.Send(ctx, websocket.MessageBinary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if ev, err = c.WaitFor(ctx, client.Named("reply")); err != nil || ev.Reply.Code != signaling.CodeBadRequest {
		t.Fatalf("binary: %+v %v", ev.Reply, err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// Exactly the limit is fine.
	pad := signaling.DefaultMaxFrame - len(`{"id":2,"type":"ping","data":{"pad":""}}`)
	ok := `{"id":2,"type":"ping","data":{"pad":"` + strings.Repeat("x", pad) + `"}}`
	if r, err := c.Exchange(ctx, 2, []byte(ok)); err != nil || !r.OK {
		t.Fatalf("frame of exactly 64 KiB: %+v %v", r, err)
	}
	// Over 1 MiB: closed with 1009.
	huge := make([]byte, 1<<20+10)
	_ = c.Send(ctx, websocket.MessageText, huge)
	if code, _ := waitClosed(t, c); code != int(websocket.StatusMessageTooBig) {
		t.Fatalf("close %d, want 1009", code)
	}
}

func TestOrigin(t *testing.T) {
	h := newHarness(t, func(c *signaling.Config) { c.OriginPatterns = []string{"app.example.com"} })
	ctx := ctxT(t)
	for _, tt := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"https://app.example.com", true},
		{"https://evil.example.com", false},
	} {
		hdr := http.Header{}
		if tt.origin != "" {
			hdr.Set("Origin", tt.origin)
		}
		c, err := client.DialRaw(ctx, h.url, &client.Options{Header: hdr})
		if (err == nil) != tt.ok {
			t.Errorf("origin %q: err %v, want ok=%v", tt.origin, err, tt.ok)
		}
		if c != nil {
			c.Close()
		}
	}
	// Same host as the request is always allowed.
	hdr := http.Header{"Origin": {"http://" + strings.TrimPrefix(strings.TrimSuffix(h.url, "/ws"), "ws://")}}
	c, err := client.DialRaw(ctx, h.url, &client.Options{Header: hdr})
	if err != nil {
		t.Fatalf("same-origin refused: %v", err)
	}
	c.Close()
}

// TestSlowClient: a client that stops reading is dropped with "too slow"
// once its queue fills, while the others go on undisturbed.
func TestSlowClient(t *testing.T) {
	h := newHarnessBuf(t, func(c *signaling.Config) {
		c.SendQueue = 8
		c.WriteTimeout = 500 * time.Millisecond
	}, 4096)
	ctx := ctxT(t)
	watcher := h.login("watcher", true)
	alice := h.login("alice", false)
	// The slow client: small socket buffers, logs in, then never reads.
	dialer := &net.Dialer{Control: nil}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dialer.DialContext(ctx, network, addr)
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetReadBuffer(4096)
		}
		return conn, err
	}}}
	slow, _, err := websocket.Dial(ctx, h.url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	login := fmt.Sprintf(`{"id":1,"type":"login","data":{"sdkappid":%d,"userID":"slow","userSig":%q}}`, h.app.SDKAppID, h.sig("slow", time.Hour))
	if err := slow.Write(ctx, websocket.MessageText, []byte(login)); err != nil {
		t.Fatal(err)
	}
	expect(t, watcher, client.EvUserOnline)
	// Ring and cancel until the server gives up on slow. Every round trip
	// of alice must complete: nobody waits for slow.
	dropped := false
	for i := 0; i < 5000 && !dropped; i++ {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if _, err := alice.CallWith(rctx, client.CallArgs{UserID: "slow", Type: client.Video, UserData: strings.Repeat("u", 2000)}); err != nil {
			t.Fatalf("round %d: call: %v", i, err)
		}
		if err := alice.Hangup(rctx, ""); err != nil {
			t.Fatalf("round %d: hangup: %v", i, err)
		}
		cancel()
		drain(alice)
		select {
		case ev := <-watcher.Events():
			dropped = ev.Name == client.EvUserOffline && field(t, ev, "userID") == "slow"
		default:
		}
	}
	if !dropped {
		t.Fatal("slow client never dropped")
	}
	if err := watcher.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestDeadConnection: a peer that answers no pings is dropped after
// DeadAfter; one that does stays.
func TestDeadConnection(t *testing.T) {
	h := newHarness(t, func(c *signaling.Config) {
		// Transport timers run on the real clock. The reading client
		// must answer a ping within DeadAfter even on a loaded 2-core
		// machine: a 10x margin over the ping interval.
		c.PingInterval = 150 * time.Millisecond
		c.DeadAfter = 1500 * time.Millisecond
	})
	ctx := ctxT(t)
	watcher := h.login("watcher", true) // reads, so it answers pings
	dead, _, err := websocket.Dial(ctx, h.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.CloseNow()
	login := fmt.Sprintf(`{"id":1,"type":"login","data":{"sdkappid":%d,"userID":"dead","userSig":%q}}`, h.app.SDKAppID, h.sig("dead", time.Hour))
	if err := dead.Write(ctx, websocket.MessageText, []byte(login)); err != nil {
		t.Fatal(err)
	}
	expect(t, watcher, client.EvUserOnline)
	ev := expect(t, watcher, client.EvUserOffline)
	if field(t, ev, "userID") != "dead" {
		t.Fatalf("offline %s", ev.Data)
	}
	if got := h.srv.Calls().OnlineUsers(h.app.SDKAppID); len(got) != 1 || got[0] != "watcher" {
		t.Fatalf("online %v: the reading client should have survived", got)
	}
}

// drain discards the events c has received so far.
func drain(c *client.Client) {
	for {
		select {
		case <-c.Events():
		default:
			return
		}
	}
}

// TestMaxInvitees: 200 invitees are fine; a midway invite past 200 in
// total is refused with 4006 and changes nothing.
func TestMaxInvitees(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	a := h.login("a", false)
	users := make([]string, 200)
	for i := range users {
		users[i] = fmt.Sprintf("offline%d", i)
	}
	call, err := a.GroupCall(ctx, client.CallArgs{UserIDList: users, Type: client.Audio})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Invite(ctx, call.CallID, "one-more")
	wantCode(t, err, signaling.CodeTooManyInvitees)
	if live := h.srv.Calls().Live(); len(live) != 1 || len(live[0].Participants) != 201 {
		t.Fatalf("live %d calls, %d participants", len(live), len(live[0].Participants))
	}
}
