package signaling_test

import (
	"slices"
	"testing"
	"time"

	"callbox/signaling/call/record"
	"callbox/signaling/client"
	"callbox/store"
)

// names reads events until the last name of want arrives and checks the
// exact sequence.
func wantSeq(t *testing.T, who string, c *client.Client, want ...string) {
	t.Helper()
	got := eventsUntil(t, c, want[len(want)-1])
	if !slices.Equal(got, want) {
		t.Fatalf("%s got %v, want %v", who, got, want)
	}
}

func TestCallAcceptHangup(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice := h.login("alice", false)
	bob := h.login("bob", false)
	call, err := alice.Call(ctx, "bob", client.Video)
	if err != nil {
		t.Fatal(err)
	}
	if call.CallID == "" || call.RoomID == "" {
		t.Fatalf("reply %+v", call)
	}
	ev := expect(t, bob, client.EvInvited)
	if ev.CallID != call.CallID || field(t, ev, "sponsor") != "alice" {
		t.Fatalf("invited %s %s", ev.CallID, ev.Data)
	}
	expect(t, bob, client.EvCallReceived)
	acc, err := bob.Accept(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if acc.CallID != call.CallID || acc.Type != client.Video || acc.RoomID != call.RoomID {
		t.Fatalf("accept reply %+v", acc)
	}
	wantSeq(t, "alice", alice, "onUserEnter", "onUserJoin", "onUserAccept", "onCallBegin")
	wantSeq(t, "bob", bob, "onUserEnter", "onUserJoin", "onCallBegin")
	if live := h.srv.Calls().Live(); len(live) != 1 || live[0].State != record.CallActive {
		t.Fatalf("live calls %+v", live)
	}

	h.clock.Advance(42 * time.Second)
	if err := alice.Hangup(ctx, call.CallID); err != nil {
		t.Fatal(err)
	}
	wantSeq(t, "bob", bob, "onUserLeave", "onCallEnd")
	end := expect(t, alice, client.EvCallEnd)
	if field(t, end, "userID") != "bob" || field(t, end, "callEnd") != float64(42) {
		t.Fatalf("alice's onCallEnd %s", end.Data)
	}
	if len(h.srv.Calls().Live()) != 0 {
		t.Fatal("call still live")
	}

	// Persisted before anyone heard of it: the record and its webhooks.
	var rec record.Call
	var cmds []string
	if err := h.st.View(func(tx *store.Tx) error {
		var err error
		if rec, err = tx.Call(h.app.SDKAppID, call.CallID); err != nil {
			return err
		}
		out, err := tx.Outbox(0, 0)
		for _, e := range out {
			cmds = append(cmds, e.Command)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if rec.State != record.CallEnded || rec.Result != record.ResultNormalEnd {
		t.Fatalf("record %s/%s", rec.State, rec.Result)
	}
	for _, want := range []string{"caller_start_call", "callee_accept_call", "caller_call_accepted", "caller_call_end", "callee_call_end"} {
		if !slices.Contains(cmds, want) {
			t.Errorf("outbox lacks %s: %v", want, cmds)
		}
	}
}

func TestCallReject(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice, bob := h.login("alice", false), h.login("bob", false)
	call, err := alice.Call(ctx, "bob", client.Audio)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvInvited)
	if err := bob.Reject(ctx, call.CallID); err != nil {
		t.Fatal(err)
	}
	ev := expect(t, alice, client.EvReject)
	if field(t, ev, "userID") != "bob" {
		t.Fatalf("reject %s", ev.Data)
	}
	// A second reject of the same call is refused with the documented code.
	wantCode(t, bob.Reject(ctx, call.CallID), 4005)
	checkResult(t, h, call.CallID, record.ResultReject)
}

func checkResult(t *testing.T, h *harness, callID, want string) {
	t.Helper()
	if err := h.st.View(func(tx *store.Tx) error {
		rec, err := tx.Call(h.app.SDKAppID, callID)
		if err == nil && (rec.State != record.CallEnded || rec.Result != want) {
			t.Errorf("record %s/%s, want ended/%s", rec.State, rec.Result, want)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func TestCallBusy(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice, bob, carol := h.login("alice", false), h.login("bob", false), h.login("carol", false)
	if _, err := alice.Call(ctx, "bob", client.Audio); err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvInvited)
	call, err := carol.Call(ctx, "bob", client.Video)
	if err != nil {
		t.Fatal(err)
	}
	ev := expect(t, carol, client.EvLineBusy)
	if field(t, ev, "userID") != "bob" || field(t, ev, "sponsor") != "carol" {
		t.Fatalf("busy %s", ev.Data)
	}
	expect(t, bob, client.EvLineBusy)
	checkResult(t, h, call.CallID, record.ResultBusy)
	// The caller itself is busy while its own call rings.
	_, err = alice.Call(ctx, "carol", client.Audio)
	wantCode(t, err, 4007)
}

func TestCallCancel(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice, bob := h.login("alice", false), h.login("bob", false)
	call, err := alice.Call(ctx, "bob", client.Audio)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvInvited)
	if err := alice.Hangup(ctx, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvCallingCancel)
	checkResult(t, h, call.CallID, record.ResultCancel)
	_, err = bob.Accept(ctx, call.CallID)
	wantCode(t, err, 4005)
}

func TestCallTimeout(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice, bob := h.login("alice", false), h.login("bob", false)
	timeout := 10
	call, err := alice.CallWith(ctx, client.CallArgs{UserID: "bob", Type: client.Audio, Timeout: &timeout})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvInvited)
	h.clock.Advance(9 * time.Second)
	if err := bob.Ping(ctx); err != nil { // nothing fired yet
		t.Fatal(err)
	}
	h.clock.Advance(time.Second)
	ev := expect(t, alice, client.EvNoResp)
	if field(t, ev, "userID") != "bob" {
		t.Fatalf("noResp %s", ev.Data)
	}
	expect(t, alice, client.EvCallEnd)
	expect(t, bob, client.EvCallingTimeout)
	expect(t, bob, client.EvCallEnd)
	checkResult(t, h, call.CallID, record.ResultNotAnswer)
}

// TestOfflineInvitee: an invitation to an offline user rings on login.
func TestOfflineInvitee(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice := h.login("alice", false)
	call, err := alice.Call(ctx, "nobody-yet", client.Audio)
	if err != nil {
		t.Fatal(err)
	}
	late := h.login("nobody-yet", false)
	if ev := expect(t, late, client.EvInvited); ev.CallID != call.CallID {
		t.Fatalf("invited to %s", ev.CallID)
	}
}

func TestGroupCallMidwayInvite(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	a, b, c, d := h.login("a", false), h.login("b", false), h.login("c", false), h.login("d", false)
	call, err := a.GroupCall(ctx, client.CallArgs{UserIDList: []string{"b", "c"}, Type: client.Video})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, b, client.EvInvited)
	expect(t, c, client.EvInvited)
	if _, err := b.Accept(ctx, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, a, client.EvUserAccept)
	if err := c.Reject(ctx, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, a, client.EvReject)
	// b, joined, invites d midway without naming the call.
	mid, err := b.GroupCall(ctx, client.CallArgs{UserIDList: []string{"d"}})
	if err != nil {
		t.Fatal(err)
	}
	if mid.CallID != call.CallID {
		t.Fatalf("midway invite made call %s, want %s", mid.CallID, call.CallID)
	}
	ev := expect(t, d, client.EvInvited)
	if field(t, ev, "sponsor") != "b" {
		t.Fatalf("invited %s", ev.Data)
	}
	// The reject above sent a an empty list; the invite sends [d].
	if _, err := a.WaitFor(ctx, func(ev client.Event) bool {
		l, _ := field(t, ev, "userIDList").([]any)
		return ev.Name == client.EvInviteeListUpdate && len(l) == 1 && l[0] == "d"
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Accept(ctx, call.CallID); err != nil {
		t.Fatal(err)
	}
	expect(t, a, client.EvUserEnter)
	// Explicit callID form too (a invites c again).
	if _, err := a.Invite(ctx, call.CallID, "c"); err != nil {
		t.Fatal(err)
	}
	expect(t, c, client.EvInvited)
	for _, x := range []*client.Client{a, b, d} {
		if err := x.Hangup(ctx, ""); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, c, client.EvCallingCancel)
	checkResult(t, h, call.CallID, record.ResultNormalEnd)
}

func TestSwitchMedia(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice, bob := h.login("alice", false), h.login("bob", false)
	wantCode(t, alice.SwitchToAudio(ctx, ""), 60001)
	if _, err := alice.Call(ctx, "bob", client.Video); err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvInvited)
	if _, err := bob.Accept(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := alice.SwitchToAudio(ctx, ""); err != nil {
		t.Fatal(err)
	}
	ev := expect(t, bob, client.EvMediaTypeChanged)
	if field(t, ev, "newCallMediaType") != float64(client.Audio) {
		t.Fatalf("changed %s", ev.Data)
	}
	expect(t, alice, client.EvMediaTypeChanged)
}

func TestEndCallAdmin(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice, bob := h.login("alice", false), h.login("bob", false)
	call, err := alice.Call(ctx, "bob", client.Audio)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvInvited)
	if err := h.srv.Calls().End(ctx, h.app.SDKAppID, call.CallID); err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvCallingCancel)
	if err := h.srv.Calls().End(ctx, h.app.SDKAppID, call.CallID); err == nil {
		t.Fatal("ending an ended call succeeded")
	}
}

// TestStoreFailure: when the store cannot record a transition the
// requester gets 5000 and the server goes on. The one thing another
// client may have heard is the invitation, which went out while the
// commit was in flight; it is followed at once by its cancel
// (docs/protocol.md §2).
func TestStoreFailure(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice, bob := h.login("alice", true), h.login("bob", false)
	if err := h.st.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := alice.Call(ctx, "bob", client.Audio)
	wantCode(t, err, 5000)
	// alice's loop ran the failed commit before this ping, and bob's ping
	// reply is queued after anything that commit could have sent him.
	if err := alice.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bob.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 4 {
		select {
		case ev := <-bob.Events():
			got = append(got, ev.Name)
		default:
			t.Fatalf("bob heard %v, want the invitation and its cancel", got)
		}
	}
	if want := []string{client.EvInvited, client.EvCallReceived, "onCallingCancel", "onCallCancelled"}; !slices.Equal(got, want) {
		t.Fatalf("bob heard %v, want %v", got, want)
	}
	select {
	case ev := <-bob.Events():
		t.Fatalf("bob got %s for a change that was not stored", ev.Name)
	default:
	}
}

// TestEndAll: on shutdown every live call ends for its participants and
// its record is closed.
func TestEndAll(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	alice, bob := h.login("alice", false), h.login("bob", false)
	carol, dave := h.login("carol", false), h.login("dave", false)
	c1 := answered(t, alice, bob, "bob", client.Audio)
	c2, err := carol.Call(ctx, "dave", client.Video)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, dave, client.EvInvited)
	if n, err := h.srv.Calls().EndAll(ctx); err != nil || n != 2 {
		t.Fatalf("EndAll = %d, %v", n, err)
	}
	expect(t, alice, client.EvCallEnd)
	expect(t, bob, client.EvCallEnd)
	expect(t, dave, client.EvCallingCancel)
	checkResult(t, h, c1.CallID, record.ResultNormalEnd)
	checkResult(t, h, c2.CallID, record.ResultCancel)
	if live := h.srv.Calls().Live(); len(live) != 0 {
		t.Fatalf("still live: %+v", live)
	}
}
