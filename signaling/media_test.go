package signaling_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"callbox/signaling"
	callpkg "callbox/signaling/call"
	"callbox/signaling/call/record"
	"callbox/signaling/client"
)

// echoRooms is a stand-in SFU: each peer answers a media message with
// {"echo": <msg>, "room": room}. It records joins and leaves. (The real SFU
// has its own tests; this checks signaling's side of the seam.)
type echoRooms struct {
	mu     sync.Mutex
	joined map[string]bool // "room|user"
	log    []string
}

type echoPeer struct {
	r          *echoRooms
	room, user string
	send       func(json.RawMessage)
	left       bool
}

func (r *echoRooms) Join(room, user string, send func(json.RawMessage)) (signaling.RoomPeer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.joined[room+"|"+user] = true
	r.log = append(r.log, "join "+user)
	return &echoPeer{r: r, room: room, user: user, send: send}, nil
}

func (p *echoPeer) Handle(msg json.RawMessage) error {
	var m map[string]any
	if err := json.Unmarshal(msg, &m); err != nil || m["bad"] != nil {
		return errors.New("unsupported media message")
	}
	b, _ := json.Marshal(map[string]any{"echo": m, "room": p.room})
	p.send(b)
	return nil
}

func (p *echoPeer) Leave() {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	delete(p.r.joined, p.room+"|"+p.user)
	p.r.log = append(p.r.log, "leave "+p.user)
}

func (r *echoRooms) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.joined)
}

func TestMediaRouting(t *testing.T) {
	rooms := &echoRooms{joined: map[string]bool{}}
	h := newHarness(t, func(c *signaling.Config) { c.Rooms = rooms })
	ctx := ctxT(t)
	watcher := h.login("watcher", true)
	alice, bob := h.login("alice", false), h.login("bob", false)
	call, err := alice.Call(ctx, "bob", client.Video)
	if err != nil {
		t.Fatal(err)
	}
	// The caller is in the room as soon as the call reply arrives.
	if err := alice.Media(ctx, map[string]any{"sdp": "offer-a"}); err != nil {
		t.Fatal(err)
	}
	ev := expect(t, alice, client.EvMedia)
	want := fmt.Sprintf(`{"echo":{"sdp":"offer-a"},"room":"%d/%s"}`, h.app.SDKAppID, call.RoomID)
	if string(ev.Data) != want {
		t.Fatalf("media event %s, want %s", ev.Data, want)
	}
	// A ringing callee is not in the room yet.
	expect(t, bob, client.EvInvited)
	wantCode(t, bob.Media(ctx, map[string]any{"sdp": "x"}), signaling.CodeNoMedia)
	if _, err := bob.Accept(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := bob.Media(ctx, map[string]any{"sdp": "offer-b"}); err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvMedia)
	wantCode(t, bob.Media(ctx, map[string]any{"bad": true}), signaling.CodeBadRequest)
	if rooms.count() != 2 {
		t.Fatalf("%d peers in rooms, want 2", rooms.count())
	}

	// A dropped connection keeps the peer through the grace; the resumed
	// session gets the media messages.
	alice.CloseNow()
	expect(t, watcher, client.EvUserOffline) // the server noticed the drop
	alice2, rep := h.loginReply("alice", false)
	if !rep.Resumed {
		t.Fatal("login within grace did not resume")
	}
	if err := alice2.Media(ctx, map[string]any{"ice": "restart"}); err != nil {
		t.Fatal(err)
	}
	expect(t, alice2, client.EvMedia)
	if rooms.count() != 2 {
		t.Fatalf("%d peers after resume, want 2", rooms.count())
	}

	if err := bob.Hangup(ctx, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, alice2, client.EvCallEnd)
	if rooms.count() != 0 {
		t.Fatalf("%d peers after the call ended, want 0 (%v)", rooms.count(), rooms.log)
	}
}

// TestReconnectGraceExpires: a joined user who does not come back within
// the grace is interrupted; its peer hears the call end and the room peer
// leaves.
func TestReconnectGraceExpires(t *testing.T) {
	rooms := &echoRooms{joined: map[string]bool{}}
	h := newHarness(t, func(c *signaling.Config) { c.Rooms = rooms })
	ctx := ctxT(t)
	alice, bob := h.login("alice", false), h.login("bob", true)
	call, err := alice.Call(ctx, "bob", client.Audio)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvInvited)
	if _, err := bob.Accept(ctx, ""); err != nil {
		t.Fatal(err)
	}
	// Presence events do not wait for call events; take these first.
	expect(t, bob, client.EvCallBegin)
	alice.CloseNow()
	expect(t, bob, client.EvUserOffline) // the server noticed
	h.clock.Advance(callpkg.DefaultGrace - time.Second)
	if err := bob.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if rooms.count() != 2 {
		t.Fatalf("peer left before the grace ran out (%v)", rooms.log)
	}
	h.clock.Advance(time.Second)
	wantSeq(t, "bob", bob, client.EvUserLeave, client.EvCallEnd)
	if rooms.count() != 0 {
		t.Fatalf("%d peers left in rooms (%v)", rooms.count(), rooms.log)
	}
	checkResult(t, h, call.CallID, record.ResultInterrupt)
}

// TestReconnectGraceRealClock: the same through the server's own timer on
// the real clock, with a short grace and nobody else acting. The grace is
// armed by a transition that carries no events (the drop), so an idle
// server must still wake for it (issue: the peer heard nothing until an
// unrelated login, up to an hour later).
func TestReconnectGraceRealClock(t *testing.T) {
	h := newHarness(t, func(c *signaling.Config) {
		c.Now, c.Alarm = time.Now, nil
		c.Engine.Grace = 200 * time.Millisecond
	})
	alice, bob := h.login("alice", false), h.login("bob", false)
	call := answered(t, alice, bob, "bob", client.Audio)
	expect(t, alice, client.EvCallBegin)
	bob.CloseNow()
	wantSeq(t, "alice", alice, client.EvUserLeave, client.EvCallEnd)
	checkResult(t, h, call.CallID, record.ResultInterrupt)
}

// TestResumeTakesOver: a client whose network changed comes back on a new
// connection while the server still holds the old one (it has not seen it
// close). With resume the new login takes the session over: the call goes
// on (resumed, no onUserLeave for the peer, the room peer stays) and the
// old connection is closed with 4007. Without resume it is a second login
// (kick-out), which ends the call part.
func TestResumeTakesOver(t *testing.T) {
	rooms := &echoRooms{joined: map[string]bool{}}
	h := newHarness(t, func(c *signaling.Config) { c.Rooms = rooms })
	ctx := ctxT(t)
	alice, bob := h.login("alice", false), h.login("bob", false)
	call := answered(t, alice, bob, "bob", client.Audio)
	expect(t, alice, client.EvCallBegin)

	fresh := h.raw()
	rep, err := fresh.Login(ctx, client.LoginArgs{SDKAppID: h.app.SDKAppID, UserID: "bob", UserSig: h.sig("bob", time.Hour), Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Resumed {
		t.Fatalf("login reply %+v, want resumed", rep)
	}
	if code, reason := waitClosed(t, bob); code != 4007 {
		t.Fatalf("old connection closed with %d %q, want 4007", code, reason)
	}
	if err := alice.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-alice.Events():
		t.Fatalf("alice heard %s: the call should go on unnoticed", ev.Name)
	default:
	}
	if rooms.count() != 2 {
		t.Fatalf("%d room peers after the takeover, want 2 (%v)", rooms.count(), rooms.log)
	}
	if live := h.srv.Calls().Live(); len(live) != 1 || live[0].CallID != call.CallID {
		t.Fatalf("live calls %+v", live)
	}
	// The grace the takeover started was cleared: nothing expires later.
	h.clock.Advance(time.Hour)
	if err := fresh.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if live := h.srv.Calls().Live(); len(live) != 1 {
		t.Fatalf("call ended after the takeover: %+v", live)
	}
}

// TestStartCall: a server-initiated call (REST start_call_by_robot) rings
// the callee; signaling does not put the server-side caller in the room.
func TestStartCall(t *testing.T) {
	rooms := &echoRooms{joined: map[string]bool{}}
	h := newHarness(t, func(c *signaling.Config) { c.Rooms = rooms })
	ctx := ctxT(t)
	bob := h.login("bob", false)
	rec, err := h.srv.Calls().Start(ctx, callpkg.Invite{SDKAppID: h.app.SDKAppID, Caller: "robot", Callees: []string{"bob"}, Media: callpkg.MediaVideo}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev := expect(t, bob, client.EvInvited); ev.CallID != rec.CallID || field(t, ev, "sponsor") != "robot" {
		t.Fatalf("invited %s %s", ev.CallID, ev.Data)
	}
	if rooms.count() != 0 {
		t.Fatalf("robot joined to the room: %v", rooms.log)
	}
	if _, err := bob.Accept(ctx, ""); err != nil {
		t.Fatal(err)
	}
	// The accept's reply goes out before bob joins the room (stepItem);
	// a later request of bob's is handled after the join.
	if err := bob.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if rooms.count() != 1 {
		t.Fatalf("%d peers, want bob only (%v)", rooms.count(), rooms.log)
	}
	if _, err := h.srv.Calls().Start(ctx, callpkg.Invite{SDKAppID: h.app.SDKAppID, Caller: "robot", Callees: []string{"bob"}, Media: 7}, nil); err == nil {
		t.Fatal("bad media type accepted")
	}
	if err := h.srv.Calls().End(ctx, h.app.SDKAppID, rec.CallID); err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvCallEnd)
	if rooms.count() != 0 {
		t.Fatalf("%d peers after EndCall (%v)", rooms.count(), rooms.log)
	}
}
