package signaling_test

import (
	"context"
	"testing"
	"time"

	"callbox/signaling"
	"callbox/signaling/client"
	"callbox/signaling/usersig"
	"callbox/store"
)

func TestLoginOK(t *testing.T) {
	h := newHarness(t, func(c *signaling.Config) {
		c.ICEServers = func(user string, now time.Time) any {
			return []map[string]any{{"urls": []string{"turn:example:3478"}, "username": user}}
		}
	})
	h.login("bob", false)
	c, rep := h.loginReply("alice", true)
	if rep.Version != 1 || rep.UserID != "alice" || rep.SDKAppID != h.app.SDKAppID {
		t.Fatalf("reply %+v", rep)
	}
	if want := h.clock.Now().Add(24 * time.Hour).Unix(); rep.ExpiresAt != want {
		t.Errorf("expiresAt %d, want %d", rep.ExpiresAt, want)
	}
	if string(rep.ICEServers) != `[{"urls":["turn:example:3478"],"username":"alice"}]` {
		t.Errorf("iceServers %s", rep.ICEServers)
	}
	if len(rep.Online) != 1 || rep.Online[0] != "bob" {
		t.Errorf("online %v, want [bob]", rep.Online)
	}
	if err := c.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// TestLoginFailures covers every 700xx code; after each failure the same
// connection must still be able to log in.
func TestLoginFailures(t *testing.T) {
	h := newHarness(t, nil)
	now := h.clock.Now()
	other, err := h.st.CreateApp("other", now)
	if err != nil {
		t.Fatal(err)
	}
	// An app whose key is empty: usersig reports 70016.
	const keyless = 1234567
	if err := h.st.Update(func(tx *store.Tx) error {
		return tx.PutApp(store.App{SDKAppID: keyless, Name: "keyless", Created: now})
	}); err != nil {
		t.Fatal(err)
	}
	issue := func(app uint32, key, user string, expire time.Duration, at time.Time) string {
		s, err := usersig.Issue(app, key, user, expire, at)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	app := h.app.SDKAppID
	tests := []struct {
		name string
		app  uint32
		user string
		sig  string
		code int
	}{
		{"expired", app, "alice", issue(app, h.app.Key, "alice", time.Hour, now.Add(-2*time.Hour)), 70001},
		{"malformed", app, "alice", "not-a-sig", 70003},
		{"bad signature", app, "alice", issue(app, other.Key, "alice", time.Hour, now), 70009},
		{"user mismatch", app, "alice", issue(app, h.app.Key, "bob", time.Hour, now), 70013},
		{"app mismatch", app, "alice", issue(other.SDKAppID, other.Key, "alice", time.Hour, now), 70014},
		{"no key", keyless, "alice", issue(keyless, "somekey", "alice", time.Hour, now), 70016},
		{"no app", 999, "alice", issue(999, "somekey", "alice", time.Hour, now), 70020},
		{"invalid userID", app, "al ice", "whatever", signaling.CodeInvalidUser},
		{"empty sig", app, "alice", "", 70003},
	}
	c := h.raw()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Login(ctxT(t), client.LoginArgs{SDKAppID: tt.app, UserID: tt.user, UserSig: tt.sig})
			wantCode(t, err, tt.code)
		})
	}
	_, err = c.Login(ctxT(t), client.LoginArgs{Version: 2, SDKAppID: app, UserID: "alice", UserSig: h.sig("alice", time.Hour)})
	wantCode(t, err, signaling.CodeVersion)
	if _, err := c.Login(ctxT(t), client.LoginArgs{SDKAppID: app, UserID: "alice", UserSig: h.sig("alice", time.Hour)}); err != nil {
		t.Fatalf("login after failures: %v", err)
	}
	_, err = c.Login(ctxT(t), client.LoginArgs{SDKAppID: app, UserID: "alice", UserSig: h.sig("alice", time.Hour)})
	wantCode(t, err, signaling.CodeAlreadyLoggedIn)
}

func TestDevLogin(t *testing.T) {
	h := newHarness(t, func(c *signaling.Config) { c.DevLogin = true })
	c := h.raw()
	if _, err := c.Login(ctxT(t), client.LoginArgs{SDKAppID: h.app.SDKAppID, UserID: "dev"}); err != nil {
		t.Fatal(err)
	}
	_, err := h.raw().Login(ctxT(t), client.LoginArgs{SDKAppID: 42, UserID: "dev"})
	wantCode(t, err, 70020)
}

func TestPresence(t *testing.T) {
	h := newHarness(t, nil)
	alice := h.login("alice", true)
	bob := h.login("bob", false)
	ev := expect(t, alice, client.EvUserOnline)
	if field(t, ev, "userID") != "bob" {
		t.Fatalf("online %s", ev.Data)
	}
	online, err := bob.Presence(ctxT(t))
	if err != nil || len(online) != 1 || online[0] != "alice" {
		t.Fatalf("presence %v %v", online, err)
	}
	if got := h.srv.Calls().OnlineUsers(h.app.SDKAppID); len(got) != 2 {
		t.Fatalf("OnlineUsers %v", got)
	}
	bob.Close()
	ev = expect(t, alice, client.EvUserOffline)
	if field(t, ev, "userID") != "bob" {
		t.Fatalf("offline %s", ev.Data)
	}
}

func TestKickOut(t *testing.T) {
	h := newHarness(t, nil)
	watcher := h.login("watcher", true)
	old := h.login("alice", false)
	expect(t, watcher, client.EvUserOnline)
	fresh := h.login("alice", false)
	if got := eventsUntil(t, old, client.EvKickedOffline); got[0] != client.EvKickedOut {
		t.Fatalf("old session events %v", got)
	}
	if code, reason := waitClosed(t, old); code != 4001 || reason != "kicked out: logged in elsewhere" {
		t.Fatalf("close %d %q", code, reason)
	}
	if err := fresh.Ping(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// The user never went offline: no presence event for the swap.
	h.login("zed", false)
	if ev := expect(t, watcher, client.EvUserOnline); field(t, ev, "userID") != "zed" {
		t.Fatalf("watcher saw %s %s before zed", ev.Name, ev.Data)
	}
}

// TestKickOutDuringCall: the kicked session's call part ends as a hang-up
// (§7.7); a ringing invitation moves to the new session.
func TestKickOutDuringCall(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice := h.login("alice", false)
	bob := h.login("bob", false)
	carol := h.login("carol", false)
	if _, err := alice.Call(ctx, "bob", client.Video); err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvInvited)
	if _, err := bob.Accept(ctx, ""); err != nil {
		t.Fatal(err)
	}
	h.login("alice", false) // kicks alice, who was joined
	expect(t, bob, client.EvUserLeave)
	expect(t, bob, client.EvCallEnd)

	// carol rings; her second login gets the invitation.
	call, err := bob.Call(ctx, "carol", client.Audio)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, carol, client.EvInvited)
	carol2 := h.login("carol", false)
	ev := expect(t, carol2, client.EvInvited)
	if ev.CallID != call.CallID {
		t.Fatalf("invitation for %s, want %s", ev.CallID, call.CallID)
	}
	if _, err := carol2.Accept(ctx, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvUserAccept)
}

// TestSigExpiry: onUserSigExpired, restricted mode, renewal, and the close
// after the grace (docs/protocol.md §3.4).
func TestSigExpiry(t *testing.T) {
	h := newHarness(t, func(c *signaling.Config) { c.SigGrace = time.Minute })
	ctx := ctxT(t)
	bob := h.login("bob", false)
	c, err := client.DialRaw(ctx, h.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Login(ctx, client.LoginArgs{SDKAppID: h.app.SDKAppID, UserID: "alice", UserSig: h.sig("alice", time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call(ctx, "bob", client.Audio); err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvInvited)
	if _, err := bob.Accept(ctx, ""); err != nil {
		t.Fatal(err)
	}

	h.clock.Advance(time.Hour) // valid through this second
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Second)
	ev := expect(t, c, client.EvUserSigExpired)
	if field(t, ev, "expiresAt") != float64(h.clock.Now().Add(-time.Second).Unix()) {
		t.Fatalf("expiresAt %s", ev.Data)
	}
	_, err = c.Presence(ctx)
	wantCode(t, err, 70001)
	_, err = c.RenewSig(ctx, "garbage")
	wantCode(t, err, 70003)
	exp, err := c.RenewSig(ctx, h.sig("alice", time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := h.clock.Now().Add(time.Hour); !exp.Equal(want) {
		t.Fatalf("renewed until %v, want %v", exp, want)
	}
	if _, err := c.Presence(ctx); err != nil {
		t.Fatalf("after renew: %v", err)
	}
	// The call survived; let the new sig expire and the grace run out.
	h.clock.Advance(time.Hour + time.Second)
	expect(t, c, client.EvUserSigExpired)
	if err := c.Hangup(ctx, ""); err != nil {
		t.Fatalf("hangup while expired: %v", err)
	}
	expect(t, bob, client.EvCallEnd)
	h.clock.Advance(time.Minute)
	if code, reason := waitClosed(t, c); code != 4002 || reason != "usersig expired" {
		t.Fatalf("close %d %q", code, reason)
	}
}

func TestLogout(t *testing.T) {
	h := newHarness(t, nil)
	watcher := h.login("watcher", true)
	c := h.login("alice", false)
	expect(t, watcher, client.EvUserOnline)
	if err := c.Logout(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if code, reason := waitClosed(t, c); code != 1000 || reason != "logout" {
		t.Fatalf("close %d %q", code, reason)
	}
	expect(t, watcher, client.EvUserOffline)
}

func TestLoginTimeout(t *testing.T) {
	// A real-clock transport timer: long enough that the presence reply
	// below always comes first on a loaded machine.
	h := newHarness(t, func(c *signaling.Config) { c.LoginTimeout = time.Second })
	c := h.raw()
	_, err := c.Presence(ctxT(t))
	wantCode(t, err, signaling.CodeNotLoggedIn)
	if code, reason := waitClosed(t, c); code != 4003 || reason != "login timeout" {
		t.Fatalf("close %d %q", code, reason)
	}
}

func TestShutdown(t *testing.T) {
	h := newHarness(t, nil)
	c := h.login("alice", false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if code, reason := waitClosed(t, c); code != 1001 || reason != "server shutting down" {
		t.Fatalf("close %d %q", code, reason)
	}
	if _, err := client.DialRaw(ctx, h.url, nil); err == nil {
		// The upgrade may succeed before the close frame; what matters is
		// that no session is served.
		t.Log("dial after shutdown upgraded; closed at once")
	}
}
