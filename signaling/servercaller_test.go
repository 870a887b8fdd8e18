package signaling_test

import (
	"testing"
	"time"

	"callbox/signaling/call"
	"callbox/signaling/call/record"
	"callbox/signaling/client"
	"callbox/store"
)

// recordingCaller is a signaling.ServerCaller that queues what it hears.
type recordingCaller struct {
	events chan call.Event
	ended  chan record.Call
}

func newRecordingCaller() *recordingCaller {
	return &recordingCaller{events: make(chan call.Event, 64), ended: make(chan record.Call, 1)}
}

func (r *recordingCaller) Event(ev call.Event)   { r.events <- ev }
func (r *recordingCaller) Ended(rec record.Call) { r.ended <- rec }

// waitEvent waits for the named event to the server-side caller.
func (r *recordingCaller) waitEvent(t *testing.T, name string) call.Event {
	t.Helper()
	ctx := ctxT(t)
	for {
		select {
		case ev := <-r.events:
			if ev.Name == name {
				return ev
			}
		case <-ctx.Done():
			t.Fatalf("server caller: no %s", name)
		}
	}
}

func (r *recordingCaller) waitEnded(t *testing.T) record.Call {
	t.Helper()
	select {
	case rec := <-r.ended:
		return rec
	case <-ctxT(t).Done():
		t.Fatal("server caller: call never ended")
	}
	return record.Call{}
}

// TestServerCallerHearsItsCall: the robot of start_call_by_robot hears
// onCallBegin when a callee accepts and Ended with the record when the
// call ends; it is never offline, so a WebSocket session of the same
// userID that drops (or a kick-out) does not interrupt its call.
func TestServerCallerHearsItsCall(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	bob := h.login("bob", false)
	carol := h.login("carol", false)
	sc := newRecordingCaller()
	minute := time.Minute
	rec, err := h.srv.Calls().Start(ctx, call.Invite{SDKAppID: h.app.SDKAppID, Caller: "robot",
		Callees: []string{"bob", "carol"}, Group: true, Media: call.MediaAudio, Timeout: &minute}, sc)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvInvited)
	expect(t, carol, client.EvInvited)
	if _, err := bob.Accept(ctx, rec.CallID); err != nil {
		t.Fatal(err)
	}
	if ev := sc.waitEvent(t, call.EvCallBegin); ev.CallID != rec.CallID {
		t.Fatalf("onCallBegin for %s, want %s", ev.CallID, rec.CallID)
	}
	// A session of "robot" logs in and drops; its kick-out and its grace
	// must not touch the robot's participation.
	h.login("robot", false)
	h.login("robot", false).Close() // kicks the first, then drops
	h.clock.Advance(20 * time.Second)
	// carol's invitation times out at one minute: by the time bob hears
	// of it, any (wrong) grace expiry of the robot at 15 s has run.
	h.clock.Advance(41 * time.Second)
	expect(t, bob, client.EvNoResp)
	live, ok := h.srv.Calls().Get(h.app.SDKAppID, rec.CallID)
	if !ok {
		t.Fatal("the robot's call ended when a session of its userID dropped")
	}
	for _, p := range live.Participants {
		if p.UserID == "robot" && p.State != record.PartJoined {
			t.Fatalf("robot is %s, want joined", p.State)
		}
	}
	if err := bob.Hangup(ctx, rec.CallID); err != nil {
		t.Fatal(err)
	}
	end := sc.waitEnded(t)
	if end.CallID != rec.CallID || end.Result != record.ResultNormalEnd || end.Caller != "robot" {
		t.Fatalf("ended %s %q caller %q", end.CallID, end.Result, end.Caller)
	}
	var stored record.Call
	if err := h.st.View(func(tx *store.Tx) (err error) { stored, err = tx.Call(h.app.SDKAppID, rec.CallID); return err }); err != nil {
		t.Fatal(err)
	}
	if stored.State != record.CallEnded || stored.Caller != "robot" {
		t.Fatalf("stored record %s caller %q", stored.State, stored.Caller)
	}
}

// TestServerCallerTimeout: a robot call nobody answers ends not_answer at
// its Timeout, and the robot hears Ended; a busy callee ends it at once.
func TestServerCallerTimeout(t *testing.T) {
	h := newHarness(t, nil)
	ctx := ctxT(t)
	bob := h.login("bob", false)
	sc := newRecordingCaller()
	d := 1500 * time.Millisecond
	rec, err := h.srv.Calls().Start(ctx, call.Invite{SDKAppID: h.app.SDKAppID, Caller: "robot",
		Callees: []string{"bob"}, Media: call.MediaVideo, Timeout: &d}, sc)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, bob, client.EvInvited)
	h.clock.Advance(2 * time.Second)
	if end := sc.waitEnded(t); end.CallID != rec.CallID || end.Result != record.ResultNotAnswer {
		t.Fatalf("ended %s %q, want not_answer", end.CallID, end.Result)
	}

	// bob busy in a call of alice's: the robot's call ends call_busy in
	// Start, and the robot hears Ended once, from Start.
	alice := h.login("alice", false)
	answered(t, alice, bob, "bob", 1)
	sc2 := newRecordingCaller()
	rec2, err := h.srv.Calls().Start(ctx, call.Invite{SDKAppID: h.app.SDKAppID, Caller: "robot2",
		Callees: []string{"bob"}, Media: call.MediaAudio}, sc2)
	if err != nil {
		t.Fatal(err)
	}
	if end := sc2.waitEnded(t); end.CallID != rec2.CallID || end.Result != record.ResultBusy {
		t.Fatalf("ended %s %q, want call_busy", end.CallID, end.Result)
	}
}
