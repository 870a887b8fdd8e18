package signaling_test

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"callbox/signaling"
	callpkg "callbox/signaling/call"
	"callbox/signaling/client"
)

// junkFrame is a 64 KiB request whose type is junk that JSON-escapes to
// six times its size ("\u0001" for each byte): the worst case for a reply
// that echoes it.
func junkFrame(id int) []byte {
	head := fmt.Sprintf(`{"id":%d,"type":"`, id)
	tail := `"}`
	n := signaling.DefaultMaxFrame - len(head) - len(tail)
	return []byte(head + strings.Repeat(`\u0001`, n/6) + tail)
}

// TestPreLoginBudget: a connection that has not logged in may send
// PreLoginRequests frames of at most PreLoginFrame bytes; then it is
// closed with 4005.
func TestPreLoginBudget(t *testing.T) {
	h := newHarness(t, func(c *signaling.Config) { c.PreLoginRequests = 3 })
	ctx := ctxT(t)
	c := h.raw()
	big := fmt.Sprintf(`{"id":1,"type":"ping","data":{"x":%q}}`, strings.Repeat("a", signaling.DefaultPreLoginFrame))
	r, err := c.Exchange(ctx, 0, []byte(big))
	if err != nil || r.Code != signaling.CodeTooLarge {
		t.Fatalf("large frame before login: %+v, %v", r, err)
	}
	for id := uint64(2); id <= 3; id++ {
		if r, err := c.Exchange(ctx, id, fmt.Appendf(nil, `{"id":%d,"type":"ping"}`, id)); err != nil || !r.OK {
			t.Fatalf("ping %d: %+v, %v", id, r, err)
		}
	}
	if err := c.Send(ctx, websocket.MessageText, []byte(`{"id":4,"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("not closed after the pre-login budget")
	}
	if code, reason := c.CloseStatus(); code != 4005 {
		t.Fatalf("closed with %d %q, want 4005", code, reason)
	}

	// After login the full frame size applies.
	alice := h.login("alice", false)
	mid := fmt.Sprintf(`{"id":5,"type":"ping","data":{"x":%q}}`, strings.Repeat("a", 32<<10))
	if r, err := alice.Exchange(ctx, 5, []byte(mid)); err != nil || !r.OK {
		t.Fatalf("32 KiB ping after login: %+v, %v", r, err)
	}
}

// TestPendingPerIP: at most MaxPendingPerIP connections from one address
// that have not logged in; a login frees a place.
func TestPendingPerIP(t *testing.T) {
	h := newHarness(t, func(c *signaling.Config) { c.MaxPendingPerIP = 3 })
	ctx := ctxT(t)
	var raws []*client.Client
	for range 3 {
		raws = append(raws, h.raw())
	}
	_, resp, err := websocket.Dial(ctx, h.url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th pending connection: %v, %v", resp, err)
	}
	if _, err := raws[0].Login(ctx, client.LoginArgs{SDKAppID: h.app.SDKAppID, UserID: "alice", UserSig: h.sig("alice", time.Hour)}); err != nil {
		t.Fatal(err)
	}
	raws = append(raws, h.raw()) // the logged-in one no longer counts
	raws[1].CloseNow()
	// The server notices the close asynchronously; wait for the place.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _, err := websocket.Dial(ctx, h.url, nil)
		if err == nil {
			c.CloseNow()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("place of a closed pending connection not freed: %v", err)
		}
		runtime.Gosched()
	}
}

// TestLoginRateLimit: login attempts are limited per user and per IP
// (CodeRateLimited), and the limit refills with time.
func TestLoginRateLimit(t *testing.T) {
	h := newHarness(t, func(c *signaling.Config) {
		c.UserLoginRate = signaling.Rate{Burst: 3, Every: 10 * time.Second}
		c.LoginRate = signaling.Rate{Burst: 5, Every: 10 * time.Second}
	})
	ctx := ctxT(t)
	c := h.raw()
	login := func(user, sig string) error {
		_, err := c.Login(ctx, client.LoginArgs{SDKAppID: h.app.SDKAppID, UserID: user, UserSig: sig})
		return err
	}
	for range 3 {
		wantCode(t, login("alice", "bad"), 70003)
	}
	wantCode(t, login("alice", h.sig("alice", time.Hour)), signaling.CodeRateLimited)
	// Another user from the same address: the per-IP bucket (5) has one left.
	wantCode(t, login("bob", "bad"), 70003)
	wantCode(t, login("bob", "bad"), signaling.CodeRateLimited)
	h.clock.Advance(10 * time.Second)
	if err := login("alice", h.sig("alice", time.Hour)); err != nil {
		t.Fatalf("login after the refill: %v", err)
	}
	// A second login on a logged-in connection is 4009 whatever its sig.
	wantCode(t, login("alice", "bad"), signaling.CodeAlreadyLoggedIn)
}

// TestCallRateLimit: call setups per user are limited (a call/hang-up
// loop grew the store by 1.6 MB/s).
func TestCallRateLimit(t *testing.T) {
	h := newHarness(t, func(c *signaling.Config) { c.CallRate = signaling.Rate{Burst: 2, Every: 5 * time.Second} })
	ctx := ctxT(t)
	alice := h.login("alice", false)
	h.login("bob", false)
	for range 2 {
		call, err := alice.Call(ctx, "bob", client.Audio)
		if err != nil {
			t.Fatal(err)
		}
		if err := alice.Hangup(ctx, call.CallID); err != nil {
			t.Fatal(err)
		}
	}
	_, err := alice.Call(ctx, "bob", client.Audio)
	wantCode(t, err, signaling.CodeRateLimited)
	_, err = alice.GroupCall(ctx, client.CallArgs{UserIDList: []string{"bob"}, Type: client.Audio})
	wantCode(t, err, signaling.CodeRateLimited)
	h.clock.Advance(5 * time.Second)
	if _, err := alice.Call(ctx, "bob", client.Audio); err != nil {
		t.Fatalf("call after the refill: %v", err)
	}
}

// TestDuplicateInvitees: a list naming one user many times is one
// invitee, even past the invitee cap.
func TestDuplicateInvitees(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice, bob := h.login("alice", false), h.login("bob", false)
	list := make([]string, callpkg.DefaultMaxInvitees+1)
	for i := range list {
		list[i] = "bob"
	}
	call, err := alice.GroupCall(ctx, client.CallArgs{UserIDList: list, Type: client.Audio})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvInvited)
	if live := h.srv.Calls().Live(); len(live) != 1 || len(live[0].Participants) != 2 || live[0].CallID != call.CallID {
		t.Fatalf("live calls %+v", live)
	}
}
