package call

import (
	"testing"
	"time"
)

// TestPresence covers S9 (kick-out, §7.7), offline delivery and the
// reconnect grace period (call-semantics §6 B11).
func TestPresence(t *testing.T) {
	for _, sc := range []scenario{
		{
			name:   "S9 kick-out while joined (1:1): the peer sees a hang-up",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks},
				{at: 2 * s, do: accept("B"), ev: acceptB, hooks: acceptHooks},
				{at: 12 * s, do: kicked("B"),
					ev:    []string{"A onUserLeave userID=B", "A onCallEnd userID=A callEnd=10 callRole=1"},
					hooks: []string{"callee_call_interrupted B interrupt", "caller_call_end A interrupt"},
					rec:   "ended/interrupt video A:left B:left!"},
				// The new session of B is idle and free.
				{at: 13 * s, do: online("B")},
				{at: 14 * s, do: call1("B", "A"), ev: []string{
					"A onInvited sponsor=B userIDList=[A] isFromGroup=false",
					"A onCallReceived callerId=B calleeIdList=[A]"},
					hooks: []string{"caller_start_call B", "callee_receive_call A"}},
			},
		},
		{
			name:   "S9 kick-out of the caller while ringing: invitees are cancelled",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks},
				{at: 2 * s, do: kicked("A"),
					ev:    []string{"B onCallingCancel callerId=A", "B onCallCancelled callerId=A"},
					hooks: []string{"caller_call_interrupted A interrupt", "callee_call_canceled B interrupt"},
					rec:   "ended/interrupt video A:left! B:cancelled"},
			},
		},
		{
			name:   "S9 kick-out while ringing: the invitation moves to the new session",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks},
				{at: 2 * s, do: kicked("B")}, // nothing changes
				{at: 3 * s, do: online("B"), ev: ringB, rec: "ringing/ video A:joined B:ringing"},
				{at: 4 * s, do: accept("B"), ev: acceptB, hooks: acceptHooks},
			},
		},
		{
			name:   "S9 kick-out in a group: the call goes on",
			online: []string{"A", "B", "C"},
			steps: []step{
				{at: 0, do: groupCall("A", "B", "C"), ev: cat(ring("B", "A", "[B,C]"), ring("C", "A", "[B,C]")),
					hooks: []string{"caller_start_call A", "callee_receive_call B", "callee_receive_call C"}},
				{at: 1 * s, do: accept("B"), ev: []string{
					"A onUserEnter userID=B", "A onUserJoin userID=B", "B onUserEnter userID=A", "B onUserJoin userID=A",
					"A onUserAccept userID=B", "A onCallBegin callRole=1 callMediaType=2", "B onCallBegin callRole=2 callMediaType=2",
					"A onGroupCallInviteeListUpdate userIDList=[C]", "B onGroupCallInviteeListUpdate userIDList=[C]"},
					hooks: acceptHooks},
				{at: 2 * s, do: kicked("A"),
					ev:    []string{"B onUserLeave userID=A"},
					hooks: []string{"caller_call_interrupted A interrupt"},
					rec:   "ringing/ video A:left! B:joined C:ringing"},
				{at: 3 * s, do: kicked("C")}, // C rings on
			},
		},
		{
			name:   "offline invitee rings on login while the invitation lives",
			online: []string{"A"},
			steps: []step{
				{at: 0, do: call1("A", "B"), hooks: startHooks, rec: "ringing/ video A:joined B:invited"},
				{at: 10 * s, do: online("B"), ev: ringB, rec: "ringing/ video A:joined B:ringing"},
				// Its timer still runs from the invitation, not from the login.
				{at: 30 * s,
					ev: []string{
						"B onCallingTimeout sponsor=A userIDList=[B]", "B onCallCancelled callerId=A",
						"A onNoResp sponsor=A userID=B userIDList=[B]", "A onUserNoResponse sponsor=A userID=B userIDList=[B]",
						"A onCallCancelled callerId=A",
						"A onCallEnd userID=A callEnd=0 callRole=1", "B onCallEnd userID=A callEnd=0 callRole=2",
					},
					hooks: []string{"callee_not_answer_call B not_answer", "caller_call_missed A not_answer"}},
			},
		},
		{
			name:   "offline invitee may accept the undelivered invitation",
			online: []string{"A"},
			steps: []step{
				{at: 0, do: call1("A", "B"), hooks: startHooks},
				{at: 1 * s, do: accept("B"), ev: acceptB, hooks: acceptHooks, rec: "active/ video A:joined B:joined"},
			},
		},
		{
			name:   "ringing invitee reconnecting sees the invitation again",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks},
				{at: 1 * s, do: offline("B")},
				{at: 5 * s, do: online("B"), ev: ringB},
			},
		},
		{
			name:   "grace: resume within grace is silent",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks},
				{at: 1 * s, do: accept("B"), ev: acceptB, hooks: acceptHooks},
				{at: 10 * s, do: offline("B")},
				{at: 24 * s}, // grace runs to 25 s
				{at: 24 * s, do: online("B")},
				{at: 60 * s},
				{at: 61 * s, do: hangup("B"),
					ev:    []string{"A onUserLeave userID=B", "B onCallEnd userID=A callEnd=60 callRole=2", "A onCallEnd userID=A callEnd=60 callRole=1"},
					hooks: []string{"callee_call_end B normal_end", "caller_call_end A normal_end"}},
			},
		},
		{
			name:   "grace: expiry interrupts",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks},
				{at: 1 * s, do: accept("B"), ev: acceptB, hooks: acceptHooks},
				{at: 10 * s, do: offline("B")},
				{at: 12 * s, do: offline("B")}, // a second drop does not extend the grace
				{at: 60 * s,
					ev:    []string{"A onUserLeave userID=B", "A onCallEnd userID=A callEnd=24 callRole=1"},
					hooks: []string{"callee_call_interrupted B interrupt", "caller_call_end A interrupt"},
					rec:   "ended/interrupt video A:left B:left!"},
			},
		},
		{
			name:   "grace: the caller drops while ringing",
			online: []string{"A", "B"},
			cfg:    Config{Grace: 5 * s},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks},
				{at: 1 * s, do: offline("A")},
				{at: 6 * s,
					ev:    []string{"B onCallingCancel callerId=A", "B onCallCancelled callerId=A"},
					hooks: []string{"caller_call_interrupted A interrupt", "callee_call_canceled B interrupt"},
					rec:   "ended/interrupt video A:left! B:cancelled"},
			},
		},
		{
			name:   "grace: accepting into a call whose caller is away",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks},
				{at: 1 * s, do: offline("A")},
				{at: 2 * s, do: accept("B"), ev: acceptB, hooks: acceptHooks},
				{at: 16 * s,
					ev:    []string{"B onUserLeave userID=A", "B onCallEnd userID=A callEnd=14 callRole=2"},
					hooks: []string{"caller_call_interrupted A interrupt", "callee_call_end B interrupt"},
					rec:   "ended/interrupt video A:left! B:left"},
			},
		},
		{
			name:   "a due deadline wins over a late Expire",
			online: []string{"A", "C", "D"},
			steps: []step{
				{at: 0, do: call1("A", "B"), hooks: startHooks},
				{at: 0, do: call1("C", "D"), ev: []string{
					"D onInvited sponsor=C userIDList=[D] isFromGroup=false",
					"D onCallReceived callerId=C calleeIdList=[D]"},
					hooks: []string{"caller_start_call C", "callee_receive_call D"}},
				// At 30 s both invitations are due but Expire has not run.
				{at: 30 * s, do: online("B")},
				{at: 30 * s, do: acceptIn("B", "call-1"), err: ErrNotRinging},
				{at: 31 * s, do: rejectIn("D", "call-2"), err: ErrNotRinging},
				{at: 31 * s,
					ev: []string{
						"A onNoResp sponsor=A userID=B userIDList=[B]", "A onUserNoResponse sponsor=A userID=B userIDList=[B]",
						"A onCallCancelled callerId=A", "A onCallEnd userID=A callEnd=0 callRole=1",
						"D onCallingTimeout sponsor=C userIDList=[D]", "D onCallCancelled callerId=C",
						"C onNoResp sponsor=C userID=D userIDList=[D]", "C onUserNoResponse sponsor=C userID=D userIDList=[D]",
						"C onCallCancelled callerId=C",
						"C onCallEnd userID=C callEnd=0 callRole=1", "D onCallEnd userID=C callEnd=0 callRole=2",
					},
					hooks: []string{"callee_not_answer_call B not_answer", "caller_call_missed A not_answer",
						"callee_not_answer_call D not_answer", "caller_call_missed C not_answer"}},
			},
		},
		{
			name:   "grace: coming back after the grace ran out does not resume",
			online: []string{"A", "B"},
			steps: []step{
				{at: 0, do: call1("A", "B"), ev: ringB, hooks: startHooks},
				{at: 1 * s, do: accept("B"), ev: acceptB, hooks: acceptHooks},
				{at: 10 * s, do: offline("B")},
				{at: 26 * s, do: online("B")},
				{at: 26 * s,
					ev:    []string{"A onUserLeave userID=B", "A onCallEnd userID=A callEnd=24 callRole=1"},
					hooks: []string{"callee_call_interrupted B interrupt", "caller_call_end A interrupt"},
					rec:   "ended/interrupt video A:left B:left!"},
			},
		},
	} {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc) })
	}
}

// TestDeadlines covers the invite timeout (default, per call, none) and
// NextDeadline.
func TestDeadlines(t *testing.T) {
	dur := func(d time.Duration) *time.Duration { return &d }
	e := newTestEngine(Config{})
	for _, u := range []string{"A", "B", "C", "D", "E", "F"} {
		e.Online(t0, app, u)
	}
	if _, ok := e.NextDeadline(); ok {
		t.Fatal("deadline with no call")
	}
	mustCall := func(inv Invite) {
		t.Helper()
		inv.SDKAppID, inv.Media = app, MediaAudio
		if _, err := e.Call(t0, inv); err != nil {
			t.Fatal(err)
		}
	}
	mustCall(Invite{Caller: "A", Callees: []string{"B"}, Timeout: dur(0)})      // call-1: never
	mustCall(Invite{Caller: "C", Callees: []string{"D"}})                       // call-2: 30 s
	mustCall(Invite{Caller: "E", Callees: []string{"F"}, Timeout: dur(10 * s)}) // call-3: 10 s
	if r, _ := e.Get(app, "call-1"); r.Timeout != 0 {
		t.Errorf("call-1 timeout %v", r.Timeout)
	}
	if r, _ := e.Get(app, "call-2"); r.Timeout != 30*s {
		t.Errorf("call-2 timeout %v", r.Timeout)
	}
	for _, want := range []struct {
		next time.Duration
		call string
	}{{10 * s, "call-3"}, {30 * s, "call-2"}} {
		next, ok := e.NextDeadline()
		if !ok || !next.Equal(t0.Add(want.next)) {
			t.Fatalf("NextDeadline = %v, %v; want t0+%v", next, ok, want.next)
		}
		if trs := e.Expire(next.Add(-time.Nanosecond)); len(trs) != 0 {
			t.Fatalf("Expire before the deadline fired %d", len(trs))
		}
		trs := e.Expire(next)
		if len(trs) != 1 || trs[0].Call.CallID != want.call || trs[0].Call.Result != "not_answer" {
			t.Fatalf("Expire(t0+%v) = %+v", want.next, trs)
		}
		if !trs[0].Call.EndAt.Equal(next) {
			t.Errorf("EndAt %v, want the deadline %v", trs[0].Call.EndAt, next)
		}
	}
	if next, ok := e.NextDeadline(); ok {
		t.Fatalf("deadline %v left; call-1 never times out", next)
	}
	if trs := e.Expire(t0.Add(24 * time.Hour)); len(trs) != 0 {
		t.Fatalf("call-1 expired: %+v", trs)
	}
	if live := e.Live(); len(live) != 1 || live[0].CallID != "call-1" {
		t.Fatalf("Live = %v", live)
	}
	// A late Expire fires the deadline at its own time, not at now.
	e.Offline(t0.Add(24*time.Hour), app, "A")
	trs := e.Expire(t0.Add(48 * time.Hour))
	if len(trs) != 1 || !trs[0].Call.EndAt.Equal(t0.Add(24*time.Hour+DefaultGrace)) {
		t.Fatalf("grace expiry: %+v", trs)
	}
}
